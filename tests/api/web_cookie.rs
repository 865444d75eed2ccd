//! The cookie mode of sign-in, refresh and sign-out (header `X-Refresh-Cookie: 1`): the
//! refresh token lives in an HttpOnly, SameSite=Strict cookie on the refresh path, and a
//! request that could come from another site cannot spend it.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const MODE: (&str, &str) = ("x-refresh-cookie", "1");

struct CookieAnswer {
    status: StatusCode,
    set_cookie: Option<String>,
    body: Value,
}

impl CookieAnswer {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status();
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .map(|value| value.to_str().unwrap().to_owned());
        let body = response.json().await.unwrap_or(Value::Null);
        Self {
            status,
            set_cookie,
            body,
        }
    }

    /// `name=value` of the cookie set, for a `Cookie` header.
    fn cookie_pair(&self) -> String {
        let header = self.set_cookie.as_deref().expect("a Set-Cookie header");
        header.split(';').next().unwrap().to_owned()
    }
}

async fn sign_in_with_cookie(app: &TestApp, username: &str) -> CookieAnswer {
    app.register(username).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(MODE.0, MODE.1)
        .json(&json!({"login": username, "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    CookieAnswer::from(response).await
}

async fn refresh(app: &TestApp, cookie: &str, headers: &[(&str, &str)]) -> CookieAnswer {
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header(COOKIE, cookie)
        .json(&json!({}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    CookieAnswer::from(request.send().await.unwrap()).await
}

#[tokio::test]
async fn sign_in_in_cookie_mode_sets_a_strict_http_only_cookie_and_no_token_in_the_body() {
    let app = spawn_app().await;

    let answer = sign_in_with_cookie(&app, "cookie_user").await;

    assert_eq!(answer.status, StatusCode::OK);
    let cookie = answer.set_cookie.clone().unwrap();
    assert!(cookie.starts_with("vitrine_refresh="), "{cookie}");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/v1/auth/refresh",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(answer.body["access_token"].is_string());
    assert!(
        answer.body.get("refresh_token").is_none(),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn the_json_mode_is_unchanged_for_other_clients() {
    let app = spawn_app().await;
    app.register("json_user").await;

    let response = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "json_user", "password": crate::helpers::PASSWORD}),
        )
        .await;

    assert!(response.headers().get(SET_COOKIE).is_none());
    let body: Value = response.json().await.unwrap();
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );
}

#[tokio::test]
async fn a_refresh_by_cookie_rotates_the_cookie() {
    let app = spawn_app().await;
    let signed_in = sign_in_with_cookie(&app, "rotating").await;
    let first = signed_in.cookie_pair();

    let refreshed = refresh(&app, &first, &[MODE]).await;

    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    assert!(refreshed.body["access_token"].is_string());
    assert!(refreshed.body.get("refresh_token").is_none());
    let second = refreshed.cookie_pair();
    assert_ne!(first, second);
    let me = app
        .get("/api/v1/users/me", refreshed.body["access_token"].as_str())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cookie_without_the_mode_header_is_refused_as_cross_site() {
    let app = spawn_app().await;
    let cookie = sign_in_with_cookie(&app, "csrf_target").await.cookie_pair();

    let response = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header(COOKIE, &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_problem(
        response,
        StatusCode::FORBIDDEN,
        "refresh_cookie_header_missing",
    )
    .await;
    // the cookie is still good for the page that owns it
    assert_eq!(refresh(&app, &cookie, &[MODE]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_cookie_mode_request_from_another_origin_is_refused() {
    let app = spawn_app().await;
    let cookie = sign_in_with_cookie(&app, "origin_target")
        .await
        .cookie_pair();

    let response = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header(COOKIE, &cookie)
        .header(MODE.0, MODE.1)
        .header(ORIGIN, "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_problem(response, StatusCode::FORBIDDEN, "cross_origin_request").await;
    let own_origin = app.address.clone();
    let same_site = refresh(&app, &cookie, &[MODE, ("origin", own_origin.as_str())]).await;
    assert_eq!(same_site.status, StatusCode::OK, "{}", same_site.body);
}

#[tokio::test]
async fn the_other_site_cannot_read_the_mode_header_through_cors() {
    let app = spawn_app().await;

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/refresh"))
        .header(ORIGIN, "https://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-refresh-cookie")
        .send()
        .await
        .unwrap();

    let allowed = preflight
        .headers()
        .get("access-control-allow-headers")
        .map(|value| value.to_str().unwrap().to_lowercase())
        .unwrap_or_default();
    assert!(!allowed.contains("x-refresh-cookie"), "{allowed}");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn sign_out_in_cookie_mode_deletes_the_cookie() {
    let app = spawn_app().await;
    let signed_in = sign_in_with_cookie(&app, "leaving").await;
    let token = signed_in.body["access_token"].as_str().unwrap();

    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(token)
        .header(MODE.0, MODE.1)
        .send()
        .await
        .unwrap();
    let answer = CookieAnswer::from(response).await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    let removal = answer.set_cookie.unwrap();
    assert!(removal.starts_with("vitrine_refresh=;"), "{removal}");
    assert!(removal.contains("Max-Age=0") && removal.contains("Path=/api/v1/auth/refresh"));
    let after = refresh(&app, &signed_in.cookie_pair(), &[MODE]).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_site_is_served_over_https() {
    let app = spawn_app_with(|config| {
        config.public_url = Some("https://vitrine.example".to_owned());
    })
    .await;

    let answer = sign_in_with_cookie(&app, "secure_user").await;

    assert!(answer.set_cookie.unwrap().contains("; Secure"));
}

#[tokio::test]
async fn a_configured_origin_may_call_the_api_and_others_may_not() {
    let app = spawn_app_with(|config| {
        config.cors_origins = "https://app.example, https://other.example".into();
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };

    let allowed = preflight("https://app.example").await.unwrap();
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let read = app
        .client
        .get(app.url("/healthz"))
        .header(ORIGIN, "https://other.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(
        read.headers()["access-control-allow-origin"],
        "https://other.example"
    );
}
