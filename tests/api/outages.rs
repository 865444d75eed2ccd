//! Redis and PostgreSQL failing under a running server: revocations survive the loss of
//! Redis's data, an outage is answered 503 `unavailable` with `Retry-After` at once (the
//! request time limit is set to 2 s, so a hang would show as 408), `/readyz` reports it,
//! and the server recovers by itself when the service comes back.
//!
//! These tests start their own servers (see `outage_servers`); `.ci/run` runs them with
//! `--run-ignored only`.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, TestUser, assert_problem, spawn_app_with};
use crate::outage_servers::{PgCluster, RedisServer, require_outage_setup};

/// The request time limit of these apps: any answer slower than this is a 408.
const REQUEST_TIMEOUT_SECS: u64 = 2;

/// Most 503s tolerated while a service comes back, 100 ms apart.
const RECOVERY_ATTEMPTS: u32 = 50;

async fn spawn_on(redis: Option<&RedisServer>, postgres: Option<&PgCluster>) -> TestApp {
    let redis_url = redis.map(RedisServer::url);
    let database_url = postgres.map(PgCluster::url);
    spawn_app_with(move |config| {
        config.request_timeout_secs = REQUEST_TIMEOUT_SECS;
        // every request checks its session in Redis or the database, which is what these
        // tests take away (`cache_instances` covers the cache through outages)
        config.session_cache = false;
        if let Some(url) = redis_url {
            config.redis_url = Some(url);
            config.redis_key_prefix = "outage".into();
        }
        if let Some(url) = database_url {
            config.database_url = Some(url);
        }
    })
    .await
}

/// Asserts a 503 `unavailable` with `Retry-After`, and reports how long it took.
async fn assert_unavailable(what: &str, started: Instant, response: Response) {
    let elapsed = started.elapsed();
    println!("{what}: {} after {elapsed:?}", response.status());
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|secs| secs >= 1),
        "{what}: Retry-After"
    );
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

async fn me(app: &TestApp, user: &TestUser) -> Response {
    app.get("/api/v1/users/me", Some(&user.access_token)).await
}

async fn login(app: &TestApp, user: &TestUser) -> Response {
    app.post_json(
        "/api/v1/auth/login",
        None,
        &json!({"login": user.username, "password": PASSWORD}),
    )
    .await
}

/// Sends `request` until it is answered otherwise than 503; every answer meanwhile must
/// be a 503 (never a 408 or a 500), and it must come within `RECOVERY_ATTEMPTS`.
async fn after_recovery<F, Fut>(what: &str, request: F) -> Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    for attempt in 1..=RECOVERY_ATTEMPTS {
        let response = request().await;
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            println!(
                "{what}: {} after {attempt} attempt(s), {:?}",
                response.status(),
                started.elapsed()
            );
            return response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: still 503 after {RECOVERY_ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts its own Redis: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn outage_revocations_survive_redis_losing_its_data() {
    require_outage_setup();
    let mut redis = RedisServer::start().await;
    let app = spawn_on(Some(&redis), None).await;
    let user = app.register("gone").await;
    let session_id = app
        .state
        .access_tokens
        .decode(&user.access_token)
        .unwrap()
        .sid;
    let kept = app.register("kept").await;
    let logout = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&user.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_problem(
        me(&app, &user).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;

    redis.restart_without_data().await;
    let marker = format!("outage:auth:session:{session_id}");
    let exists: bool = redis.command(redis::Cmd::exists(&marker)).await.unwrap();
    assert!(!exists, "Redis came back empty");
    // the database decides until the markers are rebuilt, then the markers do
    for _ in 0..2 {
        let response = after_recovery("revoked token after a reset", || me(&app, &user)).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "session_revoked").await;
    }
    let exists: bool = redis.command(redis::Cmd::exists(&marker)).await.unwrap();
    assert!(
        exists,
        "the revocation marker was rebuilt from the database"
    );
    assert_eq!(me(&app, &kept).await.status(), StatusCode::OK);

    // a restart that keeps the data changes nothing
    redis.restart_with_data().await;
    let response = after_recovery("revoked token after a restart", || me(&app, &user)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "session_revoked").await;
    assert_eq!(me(&app, &kept).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts its own Redis: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn outage_redis_down_is_503_at_once_and_recovers_within_seconds() {
    require_outage_setup();
    let mut redis = RedisServer::start().await;
    let app = spawn_on(Some(&redis), None).await;
    let user = app.register("patient").await;
    assert_eq!(me(&app, &user).await.status(), StatusCode::OK);

    // a Redis that accepts connections but never answers: every call is time-bound
    redis.signal(libc::SIGSTOP);
    let started = Instant::now();
    assert_unavailable("frozen Redis, /users/me", started, me(&app, &user).await).await;
    let started = Instant::now();
    assert_unavailable("frozen Redis, login", started, login(&app, &user).await).await;
    let started = Instant::now();
    assert_unavailable(
        "frozen Redis, /readyz",
        started,
        app.get("/readyz", None).await,
    )
    .await;
    redis.signal(libc::SIGCONT);
    let response = after_recovery("after the freeze", || me(&app, &user)).await;
    assert_eq!(response.status(), StatusCode::OK);

    // a Redis that is gone: connections are refused
    redis.stop();
    let started = Instant::now();
    assert_unavailable("Redis down, /users/me", started, me(&app, &user).await).await;
    let started = Instant::now();
    assert_unavailable("Redis down, login", started, login(&app, &user).await).await;
    let started = Instant::now();
    assert_unavailable(
        "Redis down, /readyz",
        started,
        app.get("/readyz", None).await,
    )
    .await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);

    redis.restart_without_data().await;
    let response = after_recovery("Redis back, /users/me", || me(&app, &user)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(login(&app, &user).await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts its own PostgreSQL and Redis: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn outage_postgres_down_is_503_quickly_and_recovers_by_itself() {
    let pg_bin = require_outage_setup();
    let mut postgres = PgCluster::start(pg_bin);
    let redis = RedisServer::start().await;
    // sessions checked in Redis (the request reaches the handler) and in the database
    let with_redis = spawn_on(Some(&redis), Some(&postgres)).await;
    let database_only = spawn_on(None, Some(&postgres)).await;
    let mut users = Vec::new();
    for (app, name) in [(&with_redis, "redis"), (&database_only, "db")] {
        let user = app.register(&format!("pg-{name}")).await;
        assert_eq!(me(app, &user).await.status(), StatusCode::OK);
        users.push(user);
    }

    postgres.stop();
    for (app, user) in [(&with_redis, &users[0]), (&database_only, &users[1])] {
        let started = Instant::now();
        assert_unavailable("PostgreSQL down, /users/me", started, me(app, user).await).await;
        let started = Instant::now();
        assert_unavailable("PostgreSQL down, login", started, login(app, user).await).await;
        let started = Instant::now();
        let readyz = app.get("/readyz", None).await;
        assert_unavailable("PostgreSQL down, /readyz", started, readyz).await;
    }

    postgres.start_again();
    for (app, user) in [(&with_redis, &users[0]), (&database_only, &users[1])] {
        let response = after_recovery("PostgreSQL back, /users/me", || me(app, user)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(login(app, user).await.status(), StatusCode::OK);
        assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts its own PostgreSQL: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn outage_a_postgres_restart_between_requests_fails_none() {
    let pg_bin = require_outage_setup();
    let mut postgres = PgCluster::start(pg_bin);
    let app = spawn_on(None, Some(&postgres)).await;
    let user = app.register("pg-restart").await;
    // reads at once, so that several connections are open, then idle
    let reads = || {
        futures_util::future::join_all(
            (0..8).map(|_| app.get("/api/v1/watches?limit=5", Some(&user.access_token))),
        )
    };
    for response in reads().await {
        assert_eq!(response.status(), StatusCode::OK);
    }

    // every connection the server held is closed by the restart
    postgres.stop();
    postgres.start_again();
    for response in reads().await {
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "a read after the restart"
        );
    }
    assert_eq!(me(&app, &user).await.status(), StatusCode::OK);
    assert_eq!(login(&app, &user).await.status(), StatusCode::OK);
}
