//! Registration and sign-in.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_problem, count_rows, in_own_process, spawn_app, spawn_app_with,
};

#[tokio::test]
async fn register_returns_the_user_and_a_token_pair() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "ann", "email": " Ann@Example.COM ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let user = &body["user"];
    assert_eq!(user["username"], "ann");
    assert_eq!(
        user["email"], "ann@example.com",
        "emails are stored lower-case"
    );
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["rating"], 0);
    for field in [
        "user_id",
        "phone_number",
        "description",
        "avito_url",
        "meshok_url",
        "created_at",
        "last_login_at",
    ] {
        assert!(user.get(field).is_some(), "user JSON lacks {field}");
    }
    assert!(user.get("password_hash").is_none());

    let me = app
        .get("/api/v1/users/me", body["access_token"].as_str())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(
        me.json::<Value>().await.unwrap()["user_id"],
        user["user_id"]
    );
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    let user = app.register("hashcheck").await;
    let credentials = vitrine::accounts::repo::credentials(&app.state.db, user.user_id)
        .await
        .unwrap()
        .unwrap();
    let hash = credentials.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    assert_eq!(credentials.password_encryption, "argon2id");
}

#[tokio::test]
async fn duplicate_username_or_email_is_a_conflict() {
    let app = spawn_app().await;
    app.register("bob").await;
    let same_name = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "BOB", "email": "other@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(same_name, StatusCode::CONFLICT, "username_taken").await;
    let same_email = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "bobby", "email": "BOB@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(same_email, StatusCode::CONFLICT, "email_taken").await;
    assert_eq!(count_rows(&app, "users").await, 1);
}

#[tokio::test]
async fn invalid_registrations_are_422_and_store_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "ok_name", "email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "ok_name", "email": "a@example.com", "password": "x".repeat(200)}),
            "password",
        ),
        (
            json!({"username": "ok_name", "email": "a@example.com", "password": "password1"}),
            "password",
        ),
        (
            json!({"username": "ok_name", "email": "a@example.com", "password": "ok_name"}),
            "password",
        ),
        (
            json!({"username": "ok_name", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"username": "ab", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "имя", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "has space", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "x".repeat(51), "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json("/api/v1/auth/register", None, &body).await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body} → {problem}");
    }
    // every invalid field is reported at once
    let response = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "a", "email": "b", "password": "c"}),
        )
        .await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3);
    assert_eq!(count_rows(&app, "users").await, 0);
    assert_eq!(count_rows(&app, "sessions").await, 0);
}

#[tokio::test]
async fn malformed_bodies_are_clear_problems() {
    let app = spawn_app().await;
    assert_problem(
        app.post_raw("/api/v1/auth/register", "{\"username\": ")
            .await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    let wrong_type = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": 5, "email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    let problem = assert_problem(
        wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "username");
    let missing = app
        .post_json("/api/v1/auth/register", None, &json!({"username": "ann"}))
        .await;
    assert_problem(
        missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let unknown_field = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "ann", "email": "a@example.com", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_problem(
        unknown_field,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let no_content_type = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(
        no_content_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"username\": \"{}\"}}",
            "a".repeat(2 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_problem(huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(count_rows(&app, "users").await, 0);
}

#[tokio::test]
async fn login_by_email_or_username_in_any_case() {
    let app = spawn_app().await;
    let user = app.register("Carol").await;
    for login in ["Carol", "carol", "CAROL@example.com", "carol@example.com"] {
        let body = app.login(login, PASSWORD).await;
        assert_eq!(body["user"]["user_id"], user.user_id);
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["user"]["last_login_at"].is_string());
    }
}

#[tokio::test]
async fn unknown_login_and_wrong_password_answer_alike() {
    let app = spawn_app().await;
    app.register("dave").await;
    let wrong = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "dave", "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "nobody", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status(), unknown.status());
    let wrong = assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn unknown_login_runs_a_full_password_check() {
    // An unknown account is checked against a dummy argon2id hash, so it costs what a
    // wrong password costs; the verification counter shows the check really ran.
    // (Timings are compared in bench/accounts.sh, not here.) The counter is the
    // process's: no other test may verify passwords in it meanwhile.
    if !in_own_process("accounts::unknown_login_runs_a_full_password_check") {
        return;
    }
    let app = spawn_app().await;
    app.register("erin").await;
    let verifications = |metrics: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with("password_verifications_total{scheme=\"argon2id\"}"))
            .and_then(|line| line.rsplit(' ').next())
            .map_or(0, |count| count.parse::<u64>().unwrap())
    };
    let before = verifications(&app.get("/metrics", None).await.text().await.unwrap());
    for login in ["nobody-here", "nobody@example.com", "erin"] {
        let response = app
            .post_json(
                "/api/v1/auth/login",
                None,
                &json!({"login": login, "password": "nope nope nope"}),
            )
            .await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let after = verifications(&app.get("/metrics", None).await.text().await.unwrap());
    assert_eq!(after - before, 3, "one argon2id verification per attempt");
}

/// Stores `hash` as the member's password, as an import or an earlier version would have.
async fn store_password_hash(app: &TestApp, user_id: i64, hash: String, encryption: &str) {
    use sea_orm::{ActiveModelTrait, Set};
    vitrine::accounts::entity::user_credentials::ActiveModel {
        user_id: Set(user_id),
        password_hash: Set(Some(hash)),
        password_encryption: Set(encryption.into()),
    }
    .update(&app.state.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn imported_bcrypt_hashes_verify_and_are_upgraded() {
    let app = spawn_app().await;
    let user = app.register("legacy").await;
    let bcrypt_hash = bcrypt::hash("old-bcrypt-password", 4).unwrap();
    store_password_hash(&app, user.user_id, bcrypt_hash, "bcrypt").await;
    app.login("legacy", "old-bcrypt-password").await;
    let credentials = vitrine::accounts::repo::credentials(&app.state.db, user.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_encryption, "argon2id");
    assert!(credentials.password_hash.unwrap().starts_with("$argon2id$"));
    app.login("legacy", "old-bcrypt-password").await;
}

#[tokio::test]
async fn argon2id_hashes_with_earlier_settings_are_replaced_at_sign_in() {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    use rand::rngs::OsRng;
    let app = spawn_app().await;
    let user = app.register("earlier").await;
    // the settings of hashes stored before the 7 MiB ones
    let earlier = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(19 * 1024, 2, 1, None).unwrap(),
    )
    .hash_password(b"earlier-password-9", &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    store_password_hash(&app, user.user_id, earlier.clone(), "argon2id").await;
    let stored = || async {
        vitrine::accounts::repo::credentials(&app.state.db, user.user_id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap()
    };

    let wrong = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "earlier", "password": "not-the-password"}),
        )
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(stored().await, earlier, "a wrong password changes nothing");

    app.login("earlier", "earlier-password-9").await;
    let replaced = stored().await;
    assert!(
        replaced.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
        "{replaced}"
    );
    app.login("earlier", "earlier-password-9").await;
    assert_eq!(stored().await, replaced, "a current hash is kept");
}

#[tokio::test]
async fn login_is_rate_limited_per_account() {
    let app = spawn_app_with(|config| {
        config.login_limit_per_account = 3;
        config.login_limit_window_secs = 60;
    })
    .await;
    app.register("frank").await;
    for _ in 0..3 {
        let response = app
            .post_json(
                "/api/v1/auth/login",
                None,
                &json!({"login": "frank", "password": "wrong password"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // the email names the same account, and even the right password is refused now
    let response = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "frank@example.com", "password": PASSWORD}),
        )
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // other accounts are unaffected
    app.register("grace").await;
    app.login("grace", PASSWORD).await;
}

#[tokio::test]
async fn login_is_rate_limited_per_address() {
    let app = spawn_app_with(|config| {
        config.login_limit_per_ip = 4;
        config.login_limit_window_secs = 60;
    })
    .await;
    for n in 0..4 {
        let response = app
            .post_json(
                "/api/v1/auth/login",
                None,
                &json!({"login": format!("user{n}"), "password": "whatever1"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "user9", "password": "whatever1"}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let app = spawn_app_with(|config| {
        config.register_limit_per_ip = 3;
        config.login_limit_window_secs = 60;
    })
    .await;
    app.register("first").await;
    // failed attempts count too: a 409 tells that an account exists
    let taken = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "first", "email": "other@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(taken, StatusCode::CONFLICT, "username_taken").await;
    app.register("second").await;
    let response = app
        .post_json(
            "/api/v1/auth/register",
            None,
            &json!({"username": "third", "email": "third@example.com", "password": PASSWORD}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(
        count_rows(&app, "users").await,
        2,
        "nothing created past the limit"
    );
    // signing in is not affected
    app.login("second", PASSWORD).await;
}

#[tokio::test]
async fn forwarded_addresses_count_only_when_trusted() {
    let app = spawn_app_with(|config| {
        config.login_limit_per_ip = 1;
        config.trust_forwarded_for = true;
    })
    .await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"login": "nobody", "password": "whatever1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{ip} has its own budget"
        );
    }
}

#[tokio::test]
async fn deactivated_accounts_cannot_sign_in() {
    let app = spawn_app().await;
    let admin = app
        .register_with_role("root", vitrine::auth::Role::Admin)
        .await;
    let user = app.register("henry").await;
    let response = app
        .patch_json(
            &format!("/api/v1/admin/users/{}", user.user_id),
            Some(&admin.access_token),
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"login": "henry", "password": PASSWORD}),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN, "account_disabled").await;
}
