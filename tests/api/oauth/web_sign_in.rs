//! The web app's OAuth sign-in (`start?web=1`): the callback sends the browser back to
//! the app with the refresh cookie set, or to the sign-in page with the problem's code.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use super::{PUBLIC_URL, browser, location, spawn};
use crate::helpers::spawn_app;

async fn web_callback(test: &super::OAuthTest, client: &reqwest::Client) -> reqwest::Response {
    let start = client
        .get(test.app.url("/api/v1/auth/oauth/google/start?web=1"))
        .send()
        .await
        .unwrap();
    let at_provider = client.get(location(&start)).send().await.unwrap();
    let callback = location(&at_provider).replacen(PUBLIC_URL, &test.app.address, 1);
    client.get(callback).send().await.unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_web_sign_in_lands_in_the_app_with_the_refresh_cookie() {
    let test = spawn().await;

    let response = web_callback(&test, &browser()).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/");
    let cookies = set_cookies(&response);
    let refresh = cookies
        .iter()
        .find(|cookie| cookie.starts_with("vitrine_refresh="))
        .expect("the refresh cookie is set");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth/refresh"] {
        assert!(refresh.contains(attribute), "{refresh} lacks {attribute}");
    }
    assert!(
        cookies
            .iter()
            .any(|cookie| cookie.starts_with("vitrine_oauth=;"))
    );
    // the app's first refresh signs it in
    let pair = refresh.split(';').next().unwrap();
    let refreshed = test
        .app
        .client
        .post(test.app.url("/api/v1/auth/refresh"))
        .header(COOKIE, pair)
        .header("x-refresh-cookie", "1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let token: Value = refreshed.json().await.unwrap();
    let me = test
        .app
        .get("/api/v1/users/me", token["access_token"].as_str())
        .await;
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "new.member@example.com");
}

#[tokio::test]
async fn a_failed_web_sign_in_returns_to_the_sign_in_page_with_the_code() {
    let test = spawn().await;
    test.fake.state().deny = Some("access_denied".into());

    let response = web_callback(&test, &browser()).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/signin?oauth_error=oauth_denied"
    );
    assert!(
        !set_cookies(&response)
            .iter()
            .any(|cookie| cookie.starts_with("vitrine_refresh="))
    );
}

#[tokio::test]
async fn the_enabled_providers_are_listed_for_the_sign_in_page() {
    let test = spawn().await;
    let both: Value = test
        .app
        .get("/api/v1/auth/oauth/providers", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(both, json!({"providers": ["google", "yandex"]}));

    let none: Value = spawn_app()
        .await
        .get("/api/v1/auth/oauth/providers", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!({"providers": []}));
}
