//! Access tokens, refresh rotation, sign-out and the list of sessions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app, spawn_app_with};
use crate::refresh_reuse::push_rotation_into_the_past;
use vitrine::auth::Role;
use vitrine::auth::tokens::AccessClaims;
use vitrine::config::DEVELOPMENT_JWT_SECRET;

fn forge(claims: &AccessClaims, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn missing_garbled_forged_and_expired_access_tokens_are_401() {
    let app = spawn_app().await;
    let user = app.register("ivy").await;
    assert_problem(
        app.get("/api/v1/users/me", None).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    let response = app.get("/api/v1/users/me", Some("garbage")).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let basic = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", format!("Basic {}", user.access_token))
        .send()
        .await
        .unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let now = chrono::Utc::now().timestamp();
    let claims = AccessClaims {
        sub: user.user_id.to_string(),
        role: Role::Admin,
        sid: 1,
        iat: now,
        exp: now + 600,
        jti: "forged".into(),
    };
    let forged = forge(&claims, "some-other-secret-some-other-secret");
    assert_problem(
        app.get("/api/v1/users/me", Some(&forged)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let expired = forge(
        &AccessClaims {
            iat: now - 1000,
            exp: now - 10,
            ..claims
        },
        DEVELOPMENT_JWT_SECRET,
    );
    assert_problem(
        app.get("/api/v1/users/me", Some(&expired)).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    // a tampered payload breaks the signature
    let mut parts: Vec<&str> = user.access_token.split('.').collect();
    let tampered_payload = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        payload["role"] = json!("admin");
        engine.encode(payload.to_string())
    };
    parts[1] = &tampered_payload;
    let tampered = parts.join(".");
    assert_problem(
        app.get("/api/v1/users/me", Some(&tampered)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    let app = spawn_app().await;
    let user = app.register("jack").await;
    let response = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let new_refresh = pair["refresh_token"].as_str().unwrap();
    let new_access = pair["access_token"].as_str().unwrap();
    assert_ne!(new_refresh, user.refresh_token);
    assert_eq!(
        app.get("/api/v1/users/me", Some(new_access)).await.status(),
        StatusCode::OK
    );

    // the first token is used up; showing it again after the reuse interval means it leaked
    push_rotation_into_the_past(&app, &user.refresh_token).await;
    let reuse = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await;
    assert_problem(reuse, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    // the whole session is gone: its newest tokens too
    assert_problem(
        app.get("/api/v1/users/me", Some(new_access)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    let after = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": new_refresh}),
        )
        .await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn garbled_and_expired_refresh_tokens_are_401() {
    let app = spawn_app_with(|config| config.refresh_token_ttl_secs = 1).await;
    let garbled = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": "not-a-token"}),
        )
        .await;
    assert_problem(garbled, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let wrong_type = app
        .post_json("/api/v1/auth/refresh", None, &json!({"refresh_token": 12}))
        .await;
    assert_problem(
        wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let user = app.register("kate").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await;
    assert_problem(expired, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = spawn_app().await;
    let user = app.register("leo").await;
    let other = app.login("leo", PASSWORD).await;
    let response = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&user.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // the access token stops working before it expires, and so does the refresh token
    assert_problem(
        app.get("/api/v1/users/me", Some(&user.access_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    let refresh = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // the other session lives on
    assert_eq!(
        app.get("/api/v1/users/me", other["access_token"].as_str())
            .await
            .status(),
        StatusCode::OK
    );
    let again = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&user.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_revoked_one_by_one() {
    let app = spawn_app().await;
    let user = app.register("mia").await;
    let phone = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", "mia-phone/1.0")
        .json(&json!({"login": "mia", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let phone_token = phone["access_token"].as_str().unwrap();

    let list: Value = app
        .get("/api/v1/auth/sessions", Some(&user.access_token))
        .await
        .json()
        .await
        .unwrap();
    let sessions = list.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_session = sessions
        .iter()
        .find(|s| s["user_agent"] == "mia-phone/1.0")
        .unwrap();
    assert_eq!(phone_session["current"], false);
    assert_eq!(phone_session["ip"], "127.0.0.1");

    let id = phone_session["id"].as_i64().unwrap();
    let response = app
        .delete(
            &format!("/api/v1/auth/sessions/{id}"),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/users/me", Some(phone_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    let list: Value = app
        .get("/api/v1/auth/sessions", Some(&user.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // revoking it twice is a 404
    let again = app
        .delete(
            &format!("/api/v1/auth/sessions/{id}"),
            Some(&user.access_token),
        )
        .await;
    assert_problem(again, StatusCode::NOT_FOUND, "session_not_found").await;
}

#[tokio::test]
async fn another_members_session_cannot_be_seen_or_revoked() {
    let app = spawn_app().await;
    let nina = app.register("nina").await;
    let oscar = app.register("oscar").await;
    let oscar_sessions: Value = app
        .get("/api/v1/auth/sessions", Some(&oscar.access_token))
        .await
        .json()
        .await
        .unwrap();
    let oscar_session = oscar_sessions[0]["id"].as_i64().unwrap();
    let response = app
        .delete(
            &format!("/api/v1/auth/sessions/{oscar_session}"),
            Some(&nina.access_token),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "session_not_found").await;
    assert_eq!(
        app.get("/api/v1/users/me", Some(&oscar.access_token))
            .await
            .status(),
        StatusCode::OK
    );
    let nina_sessions: Value = app
        .get("/api/v1/auth/sessions", Some(&nina.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        nina_sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != oscar_session)
    );
    let bad_id = app
        .delete("/api/v1/auth/sessions/abc", Some(&nina.access_token))
        .await;
    assert_problem(bad_id, StatusCode::BAD_REQUEST, "invalid_path").await;
}

#[tokio::test]
async fn deactivation_stops_access_tokens_at_once() {
    let app = spawn_app().await;
    let admin = app.register_with_role("boss", Role::Admin).await;
    let user = app.register("pete").await;
    assert_eq!(
        app.get("/api/v1/users/me", Some(&user.access_token))
            .await
            .status(),
        StatusCode::OK
    );
    app.patch_json(
        &format!("/api/v1/admin/users/{}", user.user_id),
        Some(&admin.access_token),
        &json!({"is_active": false}),
    )
    .await;
    assert_problem(
        app.get("/api/v1/users/me", Some(&user.access_token)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
    let refresh = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_rights_at_once() {
    let app = spawn_app().await;
    let root = app.register_with_role("root", Role::Admin).await;
    let second = app.register_with_role("second", Role::Admin).await;
    assert_eq!(
        app.get("/api/v1/admin/users", Some(&second.access_token))
            .await
            .status(),
        StatusCode::OK
    );
    let response = app
        .patch_json(
            &format!("/api/v1/admin/users/{}", second.user_id),
            Some(&root.access_token),
            &json!({"role": "user"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .get("/api/v1/admin/users", Some(&second.access_token))
        .await;
    if app.state.config.redis_url.is_some() {
        // with Redis the token's role is checked against the published change
        assert_problem(response, StatusCode::UNAUTHORIZED, "token_stale").await;
        let fresh: Value = app
            .post_json(
                "/api/v1/auth/refresh",
                None,
                &json!({"refresh_token": second.refresh_token}),
            )
            .await
            .json()
            .await
            .unwrap();
        let response = app
            .get("/api/v1/admin/users", fresh["access_token"].as_str())
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    } else {
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
}
