//! Refreshes that race (two tabs, a retry after a lost answer) share one rotation; a
//! refresh token replayed after the reuse interval still revokes its session.

use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use vitrine::auth::tokens::hash_opaque_token;

/// Refreshes fired at the same moment with one refresh token.
const CONCURRENT_REFRESHES: usize = 8;

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

async fn refreshed_pair(app: &TestApp, refresh_token: &str) -> (String, String) {
    let response = refresh(app, refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    pair_of(response.json().await.unwrap())
}

fn pair_of(body: Value) -> (String, String) {
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Moves the rotation of `refresh_token` an hour back, past any reuse interval.
pub async fn push_rotation_into_the_past(app: &TestApp, refresh_token: &str) {
    let db = &app.state.db;
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let result = db
        .execute(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "UPDATE tokens SET used_at = $1 WHERE token_hash = $2"
                }
                _ => "UPDATE tokens SET used_at = ? WHERE token_hash = ?",
            },
            [an_hour_ago.into(), hash_opaque_token(refresh_token).into()],
        ))
        .await
        .unwrap();
    assert_eq!(result.rows_affected(), 1);
}

// several worker threads: the refreshes run in parallel in the server, not in turns
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_one_token_all_get_the_same_pair() {
    let app = spawn_app().await;
    let user = app.register("tabs").await;
    let mut refresh_token = user.refresh_token.clone();
    // several rounds, each a fresh race on the newest token
    for _ in 0..3 {
        let responses =
            join_all((0..CONCURRENT_REFRESHES).map(|_| refresh(&app, &refresh_token))).await;
        let mut pairs = Vec::new();
        for response in responses {
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "every tab keeps its session"
            );
            pairs.push(pair_of(response.json().await.unwrap()));
        }
        assert!(
            pairs.iter().all(|pair| *pair == pairs[0]),
            "all refreshes answered with one pair: {pairs:?}"
        );
        let (access_token, next_refresh_token) = pairs.swap_remove(0);
        assert_ne!(next_refresh_token, refresh_token);
        assert_eq!(
            app.get("/api/v1/users/me", Some(&access_token))
                .await
                .status(),
            StatusCode::OK
        );
        refresh_token = next_refresh_token;
    }
    let sessions: Value = app
        .get(
            "/api/v1/auth/sessions",
            Some(&refreshed_pair(&app, &refresh_token).await.0),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions.as_array().unwrap().len(),
        1,
        "no session was revoked or added"
    );
}

#[tokio::test]
async fn a_refresh_repeated_within_the_interval_gets_the_same_pair() {
    let app = spawn_app().await;
    let user = app.register("retry").await;
    let first = refreshed_pair(&app, &user.refresh_token).await;
    // the answer was lost: the client tries again with the token it still has
    let again = refreshed_pair(&app, &user.refresh_token).await;
    assert_eq!(first, again);
    // the new token rotates as usual and the session lives on
    let next = refreshed_pair(&app, &first.1).await;
    assert_ne!(next.1, first.1);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&next.0)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_refresh_token_replayed_after_the_interval_revokes_the_session() {
    let app = spawn_app().await;
    let user = app.register("replay").await;
    let (access_token, new_refresh_token) = refreshed_pair(&app, &user.refresh_token).await;
    push_rotation_into_the_past(&app, &user.refresh_token).await;

    let replay = refresh(&app, &user.refresh_token).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_problem(
        app.get("/api/v1/users/me", Some(&access_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    assert_problem(
        refresh(&app, &new_refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn without_a_reuse_interval_any_replay_revokes_the_session() {
    let app = spawn_app_with(|config| config.refresh_reuse_interval_secs = 0).await;
    let user = app.register("strict").await;
    let (access_token, _) = refreshed_pair(&app, &user.refresh_token).await;
    let replay = refresh(&app, &user.refresh_token).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_problem(
        app.get("/api/v1/users/me", Some(&access_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
}

#[tokio::test]
async fn a_repeat_within_the_interval_does_not_revive_a_session_that_ended() {
    let app = spawn_app().await;
    let user = app.register("ended").await;
    let (access_token, _) = refreshed_pair(&app, &user.refresh_token).await;
    let logout = app
        .post_json("/api/v1/auth/logout", Some(&access_token), &json!({}))
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_problem(
        refresh(&app, &user.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
}
