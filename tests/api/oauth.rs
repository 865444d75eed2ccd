//! OAuth sign-in through the public API: start → provider → callback, against a fake
//! provider served by the test on 127.0.0.1. This file covers the flow itself (redirect,
//! state, flow cookie); `linking` covers which account a sign-in lands in and `refusals`
//! what the provider can get wrong.

mod fake_provider;
mod linking;
mod refusals;
mod web_sign_in;

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, count_rows, spawn_app, spawn_app_with};
use fake_provider::{FakeProvider, GOOGLE_CLIENT, YANDEX_CLIENT};

/// Where vitrine believes it is reachable; the browser below maps it to the test address.
pub const PUBLIC_URL: &str = "http://vitrine.test";

pub struct OAuthTest {
    pub app: TestApp,
    pub fake: FakeProvider,
}

/// vitrine with both providers pointed at a fresh fake.
pub async fn spawn() -> OAuthTest {
    let fake = FakeProvider::start().await;
    let (google, yandex) = (fake.google_config(), fake.yandex_config());
    let app = spawn_app_with(|config| {
        config.public_url = Some(PUBLIC_URL.into());
        config.google = google;
        config.yandex = yandex;
    })
    .await;
    OAuthTest { app, fake }
}

/// A browser: keeps cookies, shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &Response) -> String {
    assert_eq!(response.status(), StatusCode::FOUND, "{}", response.url());
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The `vitrine_oauth` cookie a response sets, if any.
fn flow_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("vitrine_oauth="))
}

fn assert_cookie_cleared(response: &Response) {
    let cookie = flow_cookie(response).expect("the answer clears the flow cookie");
    assert!(cookie.starts_with("vitrine_oauth=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
}

impl OAuthTest {
    pub async fn start(&self, browser: &reqwest::Client, provider: &str) -> Response {
        browser
            .get(
                self.app
                    .url(&format!("/api/v1/auth/oauth/{provider}/start")),
            )
            .send()
            .await
            .unwrap()
    }

    /// Starts a sign-in and lets the provider authorize it; returns the callback URL the
    /// provider sent the browser to, on vitrine's real address.
    pub async fn authorize(&self, browser: &reqwest::Client, provider: &str) -> String {
        let start = self.start(browser, provider).await;
        let at_provider = browser.get(location(&start)).send().await.unwrap();
        location(&at_provider).replacen(PUBLIC_URL, &self.app.address, 1)
    }

    pub async fn sign_in(&self, browser: &reqwest::Client, provider: &str) -> Response {
        let callback = self.authorize(browser, provider).await;
        browser.get(callback).send().await.unwrap()
    }

    /// A whole sign-in in a fresh browser that must succeed; returns the answer's body.
    pub async fn sign_in_ok(&self, provider: &str) -> Value {
        let response = self.sign_in(&browser(), provider).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "signing in with {provider}"
        );
        assert_cookie_cleared(&response);
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn start_redirects_to_the_provider_with_state_pkce_and_nonce() {
    let test = spawn().await;
    let browser = browser();
    let start = test.start(&browser, "google").await;
    assert_eq!(start.headers()["cache-control"], "no-store");
    let target = location(&start);
    assert!(target.starts_with(&format!("{}/authorize?", test.fake.base)));
    let query = query_of(&target);
    assert_eq!(query["client_id"], GOOGLE_CLIENT);
    assert_eq!(
        query["redirect_uri"],
        format!("{PUBLIC_URL}/api/v1/auth/oauth/google/callback")
    );
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["scope"], "openid email profile");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(&query["code_challenge"])
            .unwrap()
            .len(),
        32
    );
    assert!(query["state"].len() >= 16);
    assert!(query["nonce"].len() >= 16);

    let again = query_of(&location(&test.start(&browser, "google").await));
    assert_ne!(
        again["state"], query["state"],
        "every attempt has its own state"
    );
    assert_ne!(again["code_challenge"], query["code_challenge"]);
    assert_ne!(again["nonce"], query["nonce"]);

    let yandex = query_of(&location(&test.start(&browser, "yandex").await));
    assert_eq!(yandex["client_id"], YANDEX_CLIENT);
    assert_eq!(yandex["scope"], "login:email login:info");
    assert_eq!(yandex["code_challenge_method"], "S256");
    assert!(!yandex.contains_key("nonce"), "nonces are OpenID Connect's");
}

#[tokio::test]
async fn the_flow_cookie_is_http_only_lax_short_lived_and_secure_over_https() {
    let test = spawn().await;
    let cookie = flow_cookie(&test.start(&browser(), "google").await).unwrap();
    for attribute in [
        "Path=/api/v1/auth/oauth",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: {cookie}");

    let fake = FakeProvider::start().await;
    let google = fake.google_config();
    let app = spawn_app_with(|config| {
        config.public_url = Some("https://vitrine.example".into());
        config.google = google;
    })
    .await;
    let start = app.get("/api/v1/auth/oauth/google/start", None).await;
    let cookie = flow_cookie(&start).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(location(&start).contains("redirect_uri=https%3A%2F%2Fvitrine.example%2F"));
}

#[tokio::test]
async fn a_callback_without_the_flow_cookie_is_refused() {
    let test = spawn().await;
    let callback = test.authorize(&browser(), "google").await;
    // another browser, which never started this sign-in
    let response = browser().get(callback).send().await.unwrap();
    assert_cookie_cleared(&response);
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
    assert_eq!(count_rows(&test.app, "users").await, 0);
}

#[tokio::test]
async fn a_wrong_or_missing_state_is_refused() {
    let test = spawn().await;
    for change in ["wrong", "missing", "empty"] {
        let browser = browser();
        let mut callback = url::Url::parse(&test.authorize(&browser, "google").await).unwrap();
        let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
        {
            let mut query = callback.query_pairs_mut();
            query.clear();
            for (name, value) in pairs {
                match (name.as_str(), change) {
                    ("state", "wrong") => {
                        query.append_pair("state", "not-the-state");
                    }
                    ("state", "missing") => {}
                    ("state", _) => {
                        query.append_pair("state", "");
                    }
                    _ => {
                        query.append_pair(&name, &value);
                    }
                }
            }
        }
        let response = browser.get(callback).send().await.unwrap();
        assert_cookie_cleared(&response);
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
    }
    assert_eq!(count_rows(&test.app, "users").await, 0);
}

#[tokio::test]
async fn a_tampered_or_forged_flow_cookie_is_refused() {
    let test = spawn().await;
    // a client without a cookie store, to send any cookie by hand
    let client = &test.app.client;
    let start = test.start(client, "google").await;
    let cookie = flow_cookie(&start).unwrap();
    let token = cookie["vitrine_oauth=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let at_provider = client.get(location(&start)).send().await.unwrap();
    let callback = location(&at_provider).replacen(PUBLIC_URL, &test.app.address, 1);

    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["verifier"] = Value::from("a-verifier-of-my-choosing");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    // signed with the JWT secret itself rather than the cookie's own key
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(test.app.state.config.jwt_secret().as_bytes()),
    )
    .unwrap();
    for bad in [tampered.as_str(), forged.as_str(), "garbage", ""] {
        let response = client
            .get(&callback)
            .header(COOKIE, format!("vitrine_oauth={bad}"))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
    }
    // the genuine cookie still works: the refusals above were about the cookie alone
    let response = client
        .get(&callback)
        .header(COOKIE, format!("vitrine_oauth={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_flow_cookie_from_another_provider_is_refused() {
    let test = spawn().await;
    let browser = browser();
    let google_callback = test.authorize(&browser, "google").await;
    let wrong_provider = google_callback.replace("/oauth/google/", "/oauth/yandex/");
    let response = browser.get(wrong_provider).send().await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
}

#[tokio::test]
async fn a_callback_works_once() {
    let test = spawn().await;
    let browser = browser();
    let callback = test.authorize(&browser, "google").await;
    let first = browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_cookie_cleared(&first);
    let replay = browser.get(&callback).send().await.unwrap();
    assert_problem(replay, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
    assert_eq!(count_rows(&test.app, "sessions").await, 1);
}

#[tokio::test]
async fn a_refusal_at_the_provider_is_oauth_denied() {
    let test = spawn().await;
    test.fake.state().deny = Some("access_denied".into());
    let response = test.sign_in(&browser(), "yandex").await;
    assert_cookie_cleared(&response);
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "oauth_denied").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("access_denied")
    );

    // arbitrary text from the query string is not echoed
    let response = test
        .app
        .get(
            "/api/v1/auth/oauth/google/callback?error=%3Cscript%3E&state=x",
            None,
        )
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "oauth_denied").await;
    assert!(!problem["detail"].as_str().unwrap().contains("script"));
    assert_eq!(count_rows(&test.app, "users").await, 0);
}

#[tokio::test]
async fn unknown_and_disabled_providers_are_404() {
    let test = spawn().await;
    for path in [
        "/api/v1/auth/oauth/github/start",
        "/api/v1/auth/oauth/github/callback?code=x&state=y",
    ] {
        let response = test.app.get(path, None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "unknown_provider").await;
    }

    // a provider needs both a client id and a secret
    let app = spawn_app_with(|config| config.google.client_id = Some("id-only".into())).await;
    for path in [
        "/api/v1/auth/oauth/google/start",
        "/api/v1/auth/oauth/google/callback?code=x&state=y",
        "/api/v1/auth/oauth/yandex/start",
    ] {
        let response = app.get(path, None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "provider_disabled").await;
    }
    let response = spawn_app()
        .await
        .get("/api/v1/auth/oauth/yandex/start", None)
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "provider_disabled").await;
}
