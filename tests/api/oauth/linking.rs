//! Which account an OAuth sign-in lands in: a new one, one linked earlier, or an
//! existing one with the same verified email.

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

use super::{browser, spawn};
use crate::helpers::{PASSWORD, assert_problem, count_rows};
use vitrine::accounts::entity::{oauth_identities, users};

async fn identities(test: &super::OAuthTest) -> Vec<oauth_identities::Model> {
    oauth_identities::Entity::find()
        .all(&test.app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn google_sign_in_creates_an_account_whose_token_works() {
    let test = spawn().await;
    let body = test.sign_in_ok("google").await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
    let user = &body["user"];
    assert_eq!(user["email"], "new.member@example.com");
    assert_eq!(user["username"], "new.member");
    assert_eq!(user["role"], "user");
    assert!(user["last_login_at"].is_string());

    let me = test
        .app
        .get("/api/v1/users/me", body["access_token"].as_str())
        .await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user_id"], user["user_id"]);

    let user_id = user["user_id"].as_i64().unwrap();
    let credentials = vitrine::accounts::repo::credentials(&test.app.state.db, user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_hash, None);
    assert_eq!(credentials.password_encryption, "none");
    let linked = identities(&test).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(
        (linked[0].provider.as_str(), linked[0].subject.as_str()),
        ("google", "google-sub-1")
    );
    assert_eq!(linked[0].user_id, user_id);

    // the refresh token works like one from a password sign-in
    let refreshed = test
        .app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": body["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

#[tokio::test]
async fn google_sign_in_links_an_existing_account_by_verified_email() {
    let test = spawn().await;
    let member = test.app.register("collector").await;
    test.fake.state().google_user["email"] = json!("Collector@Example.com");
    let body = test.sign_in_ok("google").await;
    assert_eq!(body["user"]["user_id"], member.user_id);
    assert_eq!(body["user"]["username"], "collector");
    assert_eq!(count_rows(&test.app, "users").await, 1);
    let linked = identities(&test).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].user_id, member.user_id);
    assert_eq!(linked[0].email.as_deref(), Some("collector@example.com"));
    // the password still signs in
    test.app.login("collector", PASSWORD).await;
}

#[tokio::test]
async fn an_unverified_email_of_an_existing_account_is_a_conflict() {
    let test = spawn().await;
    test.app.register("collector").await;
    test.fake.state().google_user = json!({
        "sub": "someone-else",
        "email": "collector@example.com",
        "email_verified": false,
    });
    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
    assert!(identities(&test).await.is_empty());
    assert_eq!(count_rows(&test.app, "users").await, 1);
    assert_eq!(
        count_rows(&test.app, "sessions").await,
        1,
        "only the registration's"
    );

    // the string form some tokens carry counts the same
    test.fake.state().google_user["email_verified"] = json!("false");
    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
    test.fake.state().google_user["email_verified"] = json!("true");
    let response = test.sign_in(&browser(), "google").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_second_sign_in_reuses_the_identity() {
    let test = spawn().await;
    let first = test.sign_in_ok("google").await;
    // the email at the provider changed since: the identity decides, not the email
    test.fake.state().google_user["email"] = json!("renamed@example.com");
    let second = test.sign_in_ok("google").await;
    assert_eq!(second["user"]["user_id"], first["user"]["user_id"]);
    assert_eq!(second["user"]["email"], "new.member@example.com");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(count_rows(&test.app, "users").await, 1);
    assert_eq!(identities(&test).await.len(), 1);
    assert_eq!(count_rows(&test.app, "sessions").await, 2);
}

#[tokio::test]
async fn yandex_sign_in_creates_an_account_from_user_info() {
    let test = spawn().await;
    let body = test.sign_in_ok("yandex").await;
    assert_eq!(body["user"]["username"], "ivan.petrov");
    assert_eq!(body["user"]["email"], "ivan.petrov@yandex.ru");
    let linked = identities(&test).await;
    assert_eq!(
        (linked[0].provider.as_str(), linked[0].subject.as_str()),
        ("yandex", "1000034426")
    );
    let me = test
        .app
        .get("/api/v1/users/me", body["access_token"].as_str())
        .await;
    assert_eq!(me.status(), StatusCode::OK);

    // Yandex lists confirmed addresses only, so a matching account is linked
    let test = spawn().await;
    let member = test.app.register("ivan").await;
    test.fake.state().yandex_user = json!({
        "id": 42,
        "login": "ivan-p",
        "emails": ["IVAN@example.com"],
    });
    let body = test.sign_in_ok("yandex").await;
    assert_eq!(body["user"]["user_id"], member.user_id);
    assert_eq!(identities(&test).await[0].subject, "42");
}

#[tokio::test]
async fn new_usernames_are_made_unique() {
    let test = spawn().await;
    test.app.register("ann").await;
    test.app.register("ann2").await;
    let cases = [("ann@mail.example", "ann3"), ("a@mail.example", "a_user")];
    for (number, (email, username)) in cases.into_iter().enumerate() {
        test.fake.state().google_user = json!({
            "sub": format!("sub-{number}"),
            "email": email,
            "email_verified": true,
        });
        let body = test.sign_in_ok("google").await;
        assert_eq!(body["user"]["username"], username);
    }
}

#[tokio::test]
async fn a_deactivated_account_cannot_sign_in_with_oauth() {
    let test = spawn().await;
    let body = test.sign_in_ok("google").await;
    let user = users::Entity::find_by_id(body["user"]["user_id"].as_i64().unwrap())
        .one(&test.app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut active: users::ActiveModel = user.into();
    active.is_active = Set(false);
    active.update(&test.app.state.db).await.unwrap();

    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::FORBIDDEN, "account_disabled").await;
    assert_eq!(count_rows(&test.app, "sessions").await, 1);
}

#[tokio::test]
async fn a_sign_in_without_an_email_is_refused() {
    let test = spawn().await;
    test.fake.state().yandex_user = json!({"id": "77", "login": "no-mail", "emails": []});
    let response = test.sign_in(&browser(), "yandex").await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "email_required").await;
    test.fake.state().google_user = json!({"sub": "no-mail"});
    let response = test.sign_in(&browser(), "google").await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "email_required").await;
    assert_eq!(count_rows(&test.app, "users").await, 0);
    assert!(identities(&test).await.is_empty());
}
