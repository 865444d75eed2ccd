//! Two server processes on one PostgreSQL database, each remembering live sessions and
//! catalog answers: whatever ends a session or changes the catalog through one reaches
//! the other's memory through the bus, and neither answers from memory while its bus
//! link is down.
//!
//! Where a check was answered is read from `session_checks_total{source}` at `/metrics`
//! (one recorder for the whole test process: both apps count into it, and the tests make
//! one request at a time). Like `chat_instances`, they start their own PostgreSQL and
//! Redis and fail (never skip) without them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use vitrine::auth::Role;

use crate::catalog_watches::{create_watch, get_json, moderator};
use crate::helpers::{TestApp, TestUser, WithName, execute_sql, spawn_app_with};
use crate::outage_servers::{PgCluster, RedisServer, require_outage_setup};

const ME: &str = "/api/v1/users/me";
/// Waiting for a notice or a lost link: this many tries, `TRY_EVERY` apart.
const TRIES: u32 = 100;
const TRY_EVERY: Duration = Duration::from_millis(20);

async fn instance(database_url: &str, redis_url: Option<String>) -> TestApp {
    let database_url = database_url.to_owned();
    spawn_app_with(move |config| {
        config.database_url = Some(database_url);
        config.redis_url = redis_url;
        config.redis_key_prefix = "caches".into();
        // long enough that only a notice can make an answer go
        config.catalog_cache_ttl_secs = 600;
    })
    .await
}

async fn session_checks(app: &TestApp, source: &str) -> u64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let prefix = format!("session_checks_total{{source=\"{source}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().unwrap())
}

async fn status(app: &TestApp, path: &str, token: &str) -> StatusCode {
    app.get(path, Some(token)).await.status()
}

/// Asks `path` with `token` until `app` answers it from its session cache (once its bus
/// has subscribed and it has remembered the session).
async fn cached_on(app: &TestApp, token: &str, path: &str) {
    for _ in 0..TRIES {
        let before = session_checks(app, "cache").await;
        assert_eq!(status(app, path, token).await, StatusCode::OK, "{path}");
        if session_checks(app, "cache").await > before {
            return;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
    panic!("{path} was never answered from the session cache");
}

/// `app` refuses `token` with `expected` as soon as the notice has arrived; until then
/// only what its cache lets through is allowed: an OK, or a 404 once the member's row is
/// gone or deactivated while the session is still remembered.
async fn refused_on(app: &TestApp, token: &str, path: &str, expected: StatusCode) {
    for _ in 0..TRIES {
        match status(app, path, token).await {
            status if status == expected => return,
            StatusCode::OK | StatusCode::NOT_FOUND => tokio::time::sleep(TRY_EVERY).await,
            status => panic!("{path}: {status}, {expected} expected"),
        }
    }
    panic!("{path} is still accepted: the notice never arrived");
}

fn session_id(app: &TestApp, user: &TestUser) -> i64 {
    app.state
        .access_tokens
        .decode(&user.access_token)
        .unwrap()
        .sid
}

async fn second_device(app: &TestApp, user: &TestUser) -> TestUser {
    app.login(&user.username, &user.password)
        .await
        .with_name(user.clone())
}

async fn admin_patch(one: &TestApp, admin: &TestUser, user: &TestUser, change: Value) {
    let response = one
        .patch_json(
            &format!("/api/v1/admin/users/{}", user.user_id),
            Some(&admin.access_token),
            &change,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{change}");
}

/// Every way to end a session or change what it may do, each taken through `one` while
/// `two` has the session in memory.
async fn ended_through_one_refused_by_two(one: &TestApp, two: &TestApp) {
    let admin = one.register_with_role("root", Role::Admin).await;

    let ann = one.register("ann").await;
    cached_on(two, &ann.access_token, ME).await;
    let response = one
        .post_json("/api/v1/auth/logout", Some(&ann.access_token), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    refused_on(two, &ann.access_token, ME, StatusCode::UNAUTHORIZED).await;

    let bob = one.register("bob").await;
    let phone = second_device(one, &bob).await;
    cached_on(two, &phone.access_token, ME).await;
    cached_on(two, &bob.access_token, ME).await;
    let path = format!("/api/v1/auth/sessions/{}", session_id(one, &phone));
    let response = one.delete(&path, Some(&bob.access_token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    refused_on(two, &phone.access_token, ME, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status(two, ME, &bob.access_token).await, StatusCode::OK);

    let cara = one.register("cara").await;
    let phone = second_device(one, &cara).await;
    cached_on(two, &phone.access_token, ME).await;
    let response = one
        .send_json(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&cara.access_token),
            &json!({"current_password": cara.password, "new_password": "quartz calibre 2609"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    refused_on(two, &phone.access_token, ME, StatusCode::UNAUTHORIZED).await;

    let dan = one.register("dan").await;
    cached_on(two, &dan.access_token, ME).await;
    admin_patch(one, &admin, &dan, json!({"is_active": false})).await;
    refused_on(two, &dan.access_token, ME, StatusCode::UNAUTHORIZED).await;

    let eve = one.register_with_role("eve", Role::Admin).await;
    cached_on(two, &eve.access_token, "/api/v1/admin/users").await;
    admin_patch(one, &admin, &eve, json!({"role": "user"})).await;
    // the database reads the new role; Redis holds it against the token's
    let expected = match one.state.config.redis_url {
        Some(_) => StatusCode::UNAUTHORIZED,
        None => StatusCode::FORBIDDEN,
    };
    refused_on(two, &eve.access_token, "/api/v1/admin/users", expected).await;

    let fay = one.register("fay").await;
    cached_on(two, &fay.access_token, ME).await;
    let response = one.delete(ME, Some(&fay.access_token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    refused_on(two, &fay.access_token, ME, StatusCode::UNAUTHORIZED).await;
}

/// A watch edited through `one` is seen changed on `two`, which had it in memory; another
/// watch `two` remembers is kept.
async fn watch_edited_through_one_seen_on_two(one: &TestApp, two: &TestApp) {
    let moder = moderator(one).await;
    let other = create_watch(
        one,
        &moder.access_token,
        &json!({"folder": "amphibia_kept", "code": "2416-C", "start_release": 1970}),
    )
    .await;
    let other_path = format!("/api/v1/watches/{}", other["id"]);
    let watch = create_watch(
        one,
        &moder.access_token,
        &json!({"folder": "amphibia_cache", "code": "2416-B", "start_release": 1970}),
    )
    .await;
    let path = format!("/api/v1/watches/{}", watch["id"]);
    // two answers from memory: a change written behind the servers' backs is not seen
    let mut remembered = false;
    for year in 1971..1971 + TRIES as i32 {
        let before = get_json(two, &path).await;
        execute_sql(one, &format!("UPDATE watch SET start_release = {year}")).await;
        if get_json(two, &path).await == before {
            remembered = true;
            break;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
    assert!(remembered, "two never kept the watch's answer");
    let other_before = get_json(two, &other_path).await;
    execute_sql(one, "UPDATE watch SET code = code || '-behind'").await;

    let response = one
        .patch_json(
            &path,
            Some(&moder.access_token),
            &json!({"end_release": 1991}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..TRIES {
        if get_json(two, &path).await["end_release"] == 1991 {
            let other_now = get_json(two, &other_path).await;
            assert_eq!(other_now, other_before, "two renewed a watch nobody edited");
            return;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
    panic!("two still answers the watch as it was before the edit");
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn sessions_ended_and_watches_edited_through_one_instance_reach_the_other_through_postgres() {
    let postgres = PgCluster::start(require_outage_setup());
    let one = instance(&postgres.url(), None).await;
    let two = instance(&postgres.url(), None).await;
    assert_eq!(two.state.bus.kind(), "postgres");
    ended_through_one_refused_by_two(&one, &two).await;
    watch_edited_through_one_seen_on_two(&one, &two).await;
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL and Redis: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn sessions_ended_and_watches_edited_through_one_instance_reach_the_other_through_redis() {
    let postgres = PgCluster::start(require_outage_setup());
    let redis = RedisServer::start().await;
    let one = instance(&postgres.url(), Some(redis.url())).await;
    let two = instance(&postgres.url(), Some(redis.url())).await;
    assert_eq!(two.state.bus.kind(), "redis");
    ended_through_one_refused_by_two(&one, &two).await;
    watch_edited_through_one_seen_on_two(&one, &two).await;
}

/// Lets connections to the `postgres` database in, or keeps new ones out (those open
/// stay), from a connection to another database.
async fn allow_connections(postgres: &PgCluster, allowed: bool) {
    let url = format!(
        "{}/template1",
        postgres.url().strip_suffix("/postgres").unwrap()
    );
    let admin = Database::connect(url).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE postgres WITH ALLOW_CONNECTIONS {allowed}"
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
}

/// Opens `count` connections in `app`'s pool (each held by a query at the same moment),
/// which stay open for the app's requests while new ones are refused.
async fn open_connections(app: &TestApp, count: usize) {
    let sleeps = (0..count).map(|_| execute_sql(app, "SELECT pg_sleep(0.1)"));
    futures_util::future::join_all(sleeps).await;
}

async fn listeners(app: &TestApp) -> usize {
    let rows = app
        .state
        .db
        .query_all(Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
        ))
        .await
        .unwrap();
    rows.len()
}

async fn wait_for_listeners(app: &TestApp, count: usize) {
    for _ in 0..TRIES * 5 {
        if listeners(app).await == count {
            return;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
    panic!("{count} LISTEN connections expected");
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn without_its_listen_connection_an_instance_answers_nothing_from_memory() {
    let postgres = PgCluster::start(require_outage_setup());
    let one = instance(&postgres.url(), None).await;
    let two = instance(&postgres.url(), None).await;
    let ann = one.register("ann").await;
    let bob = one.register("bob").await;
    cached_on(&two, &ann.access_token, ME).await;
    cached_on(&two, &bob.access_token, ME).await;
    wait_for_listeners(&one, 2).await;
    for app in [&one, &two] {
        open_connections(app, 4).await;
    }

    allow_connections(&postgres, false).await;
    execute_sql(
        &one,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'",
    )
    .await;
    // ended behind the servers' backs: no notice will ever tell of it
    let sid = session_id(&one, &bob);
    execute_sql(
        &one,
        &format!("UPDATE sessions SET revoked_at = NOW() WHERE id = {sid}"),
    )
    .await;
    refused_on(&two, &bob.access_token, ME, StatusCode::UNAUTHORIZED).await;
    let (cache, database) = (
        session_checks(&two, "cache").await,
        session_checks(&two, "database").await,
    );
    for _ in 0..3 {
        assert_eq!(status(&two, ME, &ann.access_token).await, StatusCode::OK);
    }
    assert_eq!(
        session_checks(&two, "cache").await,
        cache,
        "nothing from memory"
    );
    assert_eq!(session_checks(&two, "database").await, database + 3);

    allow_connections(&postgres, true).await;
    wait_for_listeners(&one, 2).await;
    cached_on(&two, &ann.access_token, ME).await;
    assert_eq!(
        status(&two, ME, &bob.access_token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL and Redis: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn without_its_redis_subscription_an_instance_answers_nothing_from_memory() {
    let postgres = PgCluster::start(require_outage_setup());
    let mut redis = RedisServer::start().await;
    let one = instance(&postgres.url(), Some(redis.url())).await;
    let two = instance(&postgres.url(), Some(redis.url())).await;
    let ann = one.register("ann").await;
    cached_on(&two, &ann.access_token, ME).await;

    redis.stop();
    // remembered, the session would still be accepted; checked, Redis is needed (503)
    refused_on(&two, &ann.access_token, ME, StatusCode::SERVICE_UNAVAILABLE).await;

    redis.restart_without_data().await;
    for _ in 0..TRIES * 5 {
        if status(&two, ME, &ann.access_token).await == StatusCode::OK {
            cached_on(&two, &ann.access_token, ME).await;
            return;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
    panic!("two never accepted the session again after Redis came back");
}
