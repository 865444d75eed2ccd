//! What a provider can get wrong: ID tokens that fail verification, a failing token
//! endpoint or user-info endpoint. Each ends in a clear problem and writes nothing.

use reqwest::StatusCode;
use serde_json::json;

use super::fake_provider::{FakeProvider, GOOGLE_CLIENT, IdTokenTweak};
use super::{browser, spawn};
use crate::helpers::{assert_problem, count_rows, spawn_app_with};

#[tokio::test]
async fn id_tokens_that_fail_verification_are_refused() {
    let test = spawn().await;
    let tweaks = [
        IdTokenTweak {
            audience: Some("another-client".into()),
            ..IdTokenTweak::default()
        },
        IdTokenTweak {
            azp: Some("another-client".into()),
            ..IdTokenTweak::default()
        },
        IdTokenTweak {
            nonce: Some("a-nonce-from-another-attempt".into()),
            ..IdTokenTweak::default()
        },
        IdTokenTweak {
            other_key: true,
            ..IdTokenTweak::default()
        },
        IdTokenTweak {
            issuer: Some("https://accounts.evil.example".into()),
            ..IdTokenTweak::default()
        },
        IdTokenTweak {
            expired: true,
            ..IdTokenTweak::default()
        },
    ];
    for tweak in tweaks {
        test.fake.state().tweak = tweak.clone();
        let response = test.sign_in(&browser(), "google").await;
        let problem = assert_problem(response, StatusCode::UNAUTHORIZED, "oauth_failed").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("ID token"),
            "{tweak:?}: {problem}"
        );
    }
    assert_eq!(count_rows(&test.app, "users").await, 0);
    assert_eq!(count_rows(&test.app, "oauth_identities").await, 0);
    assert_eq!(count_rows(&test.app, "sessions").await, 0);

    // the issuer without its scheme, as Google also writes it, is fine
    test.fake.state().tweak = IdTokenTweak {
        issuer: Some("accounts.google.com".into()),
        azp: Some(GOOGLE_CLIENT.into()),
        ..IdTokenTweak::default()
    };
    let response = test.sign_in(&browser(), "google").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn keys_are_cached_and_refetched_once_for_an_unknown_key_id() {
    let test = spawn().await;
    test.sign_in_ok("google").await;
    test.sign_in_ok("google").await;
    assert_eq!(test.fake.state().jwks_fetches, 1, "the keys are cached");

    test.fake.state().tweak = IdTokenTweak {
        other_key: true,
        kid: Some("a-rotated-key".into()),
        ..IdTokenTweak::default()
    };
    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "oauth_failed").await;
    assert_eq!(
        test.fake.state().jwks_fetches,
        2,
        "one fetch for the unknown kid"
    );

    test.fake.state().tweak = IdTokenTweak::default();
    test.sign_in_ok("google").await;
    assert_eq!(test.fake.state().jwks_fetches, 2);
}

#[tokio::test]
async fn token_endpoint_failures_are_clear_problems() {
    let test = spawn().await;
    test.fake.state().token_failure = Some((
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_grant", "error_description": "Bad Request"}),
    ));
    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "oauth_failed").await;

    test.fake.state().token_failure = Some((StatusCode::SERVICE_UNAVAILABLE, json!("down")));
    let response = test.sign_in(&browser(), "yandex").await;
    let problem = assert_problem(response, StatusCode::BAD_GATEWAY, "oauth_provider_error").await;
    assert!(!problem["detail"].as_str().unwrap().contains("down"));

    test.fake.state().token_failure = Some((
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": "server_error"}),
    ));
    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::BAD_GATEWAY, "oauth_provider_error").await;
    assert_eq!(count_rows(&test.app, "users").await, 0);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_bad_gateway() {
    let fake = FakeProvider::start().await;
    // a port nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut google = fake.google_config();
    google.token_url = format!("{closed_url}/token");
    let mut yandex = fake.yandex_config();
    yandex.userinfo_url = format!("{closed_url}/userinfo");
    let app = spawn_app_with(|config| {
        config.public_url = Some(super::PUBLIC_URL.into());
        config.google = google;
        config.yandex = yandex;
    })
    .await;
    let test = super::OAuthTest { app, fake };
    for provider in ["google", "yandex"] {
        let response = test.sign_in(&browser(), provider).await;
        assert_problem(response, StatusCode::BAD_GATEWAY, "oauth_provider_error").await;
    }
}

#[tokio::test]
async fn user_info_failures_are_clear_problems() {
    let test = spawn().await;
    test.fake.state().userinfo_status = Some(StatusCode::UNAUTHORIZED);
    let response = test.sign_in(&browser(), "yandex").await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "oauth_failed").await;

    test.fake.state().userinfo_status = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let response = test.sign_in(&browser(), "yandex").await;
    assert_problem(response, StatusCode::BAD_GATEWAY, "oauth_provider_error").await;
    assert_eq!(count_rows(&test.app, "users").await, 0);
}
