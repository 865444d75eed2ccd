//! Forgotten, reset and changed passwords.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

/// The reset token from the last mail in the outbox.
async fn reset_token_from_mail(app: &TestApp, count: usize) -> String {
    let mail = app.wait_for_mail(count).await;
    let last = mail.last().unwrap();
    let after = last
        .split("token=")
        .nth(1)
        .expect("mail has a link with a token");
    after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn forgot_answers_202_whether_or_not_the_account_exists() {
    let app = spawn_app().await;
    let quinn = app.register("quinn").await;
    for email in [quinn.email.as_str(), "nobody@example.com"] {
        let response = app
            .post_json(
                "/api/v1/auth/password/forgot",
                None,
                &json!({"email": email}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string());
    }
    let mail = app.wait_for_mail(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.outbox().len(), 1, "only the existing account gets mail");
    assert!(mail[0].contains("To: quinn@example.com"));
    let invalid = app
        .post_json(
            "/api/v1/auth/password/forgot",
            None,
            &json!({"email": "nope"}),
        )
        .await;
    assert_problem(
        invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn reset_sets_the_password_once_and_signs_out_everywhere() {
    let app = spawn_app().await;
    let user = app.register("rita").await;
    app.post_json(
        "/api/v1/auth/password/forgot",
        None,
        &json!({"email": "RITA@example.com"}),
    )
    .await;
    let token = reset_token_from_mail(&app, 1).await;
    let stored = vitrine::auth::tokens::hash_opaque_token(&token);
    assert_ne!(stored, token, "only a digest is stored");

    let weak = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "short"}),
        )
        .await;
    assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let response = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "brand new secret"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/users/me", Some(&user.access_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    let old = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "rita", "password": PASSWORD}),
        )
        .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.login("rita", "brand new secret").await;

    let reused = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "another secret 2"}),
        )
        .await;
    assert_problem(reused, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

#[tokio::test]
async fn garbled_and_expired_reset_tokens_are_refused() {
    let app = spawn_app_with(|config| config.password_reset_ttl_secs = 1).await;
    let garbled = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": "made-up", "new_password": "brand new secret"}),
        )
        .await;
    assert_problem(garbled, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    app.register("sam").await;
    app.post_json(
        "/api/v1/auth/password/forgot",
        None,
        &json!({"email": "sam@example.com"}),
    )
    .await;
    let token = reset_token_from_mail(&app, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "brand new secret"}),
        )
        .await;
    assert_problem(expired, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    app.login("sam", PASSWORD).await;
}

#[tokio::test]
async fn a_newer_reset_uses_up_older_links() {
    let app = spawn_app().await;
    app.register("tina").await;
    app.post_json(
        "/api/v1/auth/password/forgot",
        None,
        &json!({"email": "tina@example.com"}),
    )
    .await;
    let first = reset_token_from_mail(&app, 1).await;
    app.post_json(
        "/api/v1/auth/password/forgot",
        None,
        &json!({"email": "tina@example.com"}),
    )
    .await;
    let second = reset_token_from_mail(&app, 2).await;
    assert_ne!(first, second);
    let response = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": second, "new_password": "brand new secret"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .post_json(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": first, "new_password": "other new secret"}),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_signs_out_other_sessions() {
    let app = spawn_app().await;
    let user = app.register("uma").await;
    let other = app.login("uma", PASSWORD).await;
    let wrong = app
        .send_json(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&user.access_token),
            &json!({"current_password": "not it at all", "new_password": "brand new secret"}),
        )
        .await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let weak = app
        .send_json(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&user.access_token),
            &json!({"current_password": PASSWORD, "new_password": "x".repeat(200)}),
        )
        .await;
    assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let anonymous = app
        .send_json(
            Method::PUT,
            "/api/v1/users/me/password",
            None,
            &json!({"current_password": PASSWORD, "new_password": "brand new secret"}),
        )
        .await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;

    let response = app
        .send_json(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(&user.access_token),
            &json!({"current_password": PASSWORD, "new_password": "brand new secret"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&user.access_token))
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        app.get("/api/v1/users/me", other["access_token"].as_str())
            .await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    app.login("uma", "brand new secret").await;
}
