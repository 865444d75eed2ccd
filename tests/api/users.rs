//! Profiles and user management.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, count_rows, spawn_app};
use vitrine::auth::Role;

#[tokio::test]
async fn patch_me_updates_only_the_fields_sent() {
    let app = spawn_app().await;
    let user = app.register("victor").await;
    let response = app
        .patch_json(
            "/api/v1/users/me",
            Some(&user.access_token),
            &json!({
                "phone_number": "+79161234567",
                "description": "Собираю «Полёт» и «Ракету»",
                "avito_url": "https://www.avito.ru/user/victor",
                "meshok_url": "https://meshok.net/user/42"
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["phone_number"], "+79161234567");
    assert_eq!(me["description"], "Собираю «Полёт» и «Ракету»");
    assert_eq!(me["username"], "victor");

    let response = app
        .patch_json(
            "/api/v1/users/me",
            Some(&user.access_token),
            &json!({"username": "victor_k", "phone_number": null}),
        )
        .await;
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], "victor_k");
    assert!(me["phone_number"].is_null(), "null clears");
    assert_eq!(
        me["description"], "Собираю «Полёт» и «Ракету»",
        "left out stays"
    );
    assert_eq!(me["avito_url"], "https://www.avito.ru/user/victor");
    app.login("victor_k", PASSWORD).await;
}

#[tokio::test]
async fn patch_me_rejects_bad_values_and_privileged_fields() {
    let app = spawn_app().await;
    let user = app.register("wendy").await;
    app.register("xavier").await;
    let cases = [
        (json!({"phone_number": "8-916-123"}), "phone_number"),
        (
            json!({"avito_url": "https://avito.ru.example.com/u"}),
            "avito_url",
        ),
        (json!({"meshok_url": "javascript:alert(1)"}), "meshok_url"),
        (json!({"description": "x".repeat(2001)}), "description"),
        (json!({"username": "no spaces please"}), "username"),
    ];
    for (body, field) in cases {
        let response = app
            .patch_json("/api/v1/users/me", Some(&user.access_token), &body)
            .await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    for body in [
        json!({"role": "admin"}),
        json!({"is_active": false}),
        json!({"rating": 100}),
        json!({"email": "x@example.com"}),
    ] {
        let response = app
            .patch_json("/api/v1/users/me", Some(&user.access_token), &body)
            .await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let taken = app
        .patch_json(
            "/api/v1/users/me",
            Some(&user.access_token),
            &json!({"username": "XAVIER"}),
        )
        .await;
    assert_problem(taken, StatusCode::CONFLICT, "username_taken").await;
    let me: Value = app
        .get("/api/v1/users/me", Some(&user.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "user");
    assert_eq!(me["username"], "wendy");
    assert!(me["phone_number"].is_null());
}

#[tokio::test]
async fn public_profiles_hide_email_and_phone() {
    let app = spawn_app().await;
    let user = app.register("yuri").await;
    app.patch_json(
        "/api/v1/users/me",
        Some(&user.access_token),
        &json!({"phone_number": "+79990001122", "description": "hi"}),
    )
    .await;
    // anonymous visitors may read public profiles
    let response = app
        .get(&format!("/api/v1/users/{}", user.user_id), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["username"], "yuri");
    assert_eq!(profile["description"], "hi");
    assert!(profile.get("email").is_none());
    assert!(profile.get("phone_number").is_none());
    assert_problem(
        app.get("/api/v1/users/999999", None).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/users/abc", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
}

#[tokio::test]
async fn delete_me_removes_the_account_and_its_sessions() {
    let app = spawn_app().await;
    let user = app.register("zoe").await;
    let response = app
        .delete("/api/v1/users/me", Some(&user.access_token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&user.access_token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.get(&format!("/api/v1/users/{}", user.user_id), None)
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    for table in [
        "users",
        "user_details",
        "user_credentials",
        "sessions",
        "tokens",
    ] {
        assert_eq!(
            count_rows(&app, table).await,
            0,
            "{table} keeps rows of a deleted user"
        );
    }
    // the username is free again
    app.register("zoe").await;
}

#[tokio::test]
async fn admin_endpoints_are_for_admins_only() {
    let app = spawn_app().await;
    let member = app.register("member").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    for token in [&member.access_token, &moderator.access_token] {
        assert_problem(
            app.get("/api/v1/admin/users", Some(token)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let response = app
            .patch_json(
                &format!("/api/v1/admin/users/{}", member.user_id),
                Some(token),
                &json!({"role": "admin"}),
            )
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_problem(
        app.get("/api/v1/admin/users", None).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    let me: Value = app
        .get("/api/v1/users/me", Some(&member.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn admins_list_filter_and_page_through_users() {
    let app = spawn_app().await;
    let admin = app.register_with_role("admin1", Role::Admin).await;
    app.register_with_role("mod1", Role::Moderator).await;
    for name in ["alpha", "bravo", "charlie", "delta"] {
        app.register(name).await;
    }
    let token = Some(admin.access_token.as_str());
    let all: Value = app
        .get("/api/v1/admin/users", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert!(all["next_cursor"].is_null());
    assert!(all["items"][0]["email"].is_string(), "admins see emails");

    let moderators: Value = app
        .get("/api/v1/admin/users?role=moderator", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moderators["items"].as_array().unwrap().len(), 1);
    assert_eq!(moderators["items"][0]["username"], "mod1");
    let found: Value = app
        .get("/api/v1/admin/users?q=RAV", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["username"], "bravo");
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let like_chars: Value = app
        .get("/api/v1/admin/users?q=%25", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        like_chars["items"].as_array().unwrap().len(),
        0,
        "% is matched literally"
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/admin/users?limit=4&cursor={cursor}"),
            None => "/api/v1/admin/users?limit=4".to_owned(),
        };
        let page: Value = app.get(&path, token).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are in order without repeats");
    assert_eq!(seen.len(), 6);

    assert_problem(
        app.get("/api/v1/admin/users?limit=0", token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/api/v1/admin/users?cursor=@@@", token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/api/v1/admin/users?role=root", token).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn admins_change_roles_but_not_their_own() {
    let app = spawn_app().await;
    let admin = app.register_with_role("chief", Role::Admin).await;
    let user = app.register("promoted").await;
    let token = Some(admin.access_token.as_str());
    let response = app
        .patch_json(
            &format!("/api/v1/admin/users/{}", user.user_id),
            token,
            &json!({"role": "moderator"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "moderator");
    let relogged = app.login("promoted", PASSWORD).await;
    assert_eq!(relogged["user"]["role"], "moderator");

    let myself = app
        .patch_json(
            &format!("/api/v1/admin/users/{}", admin.user_id),
            token,
            &json!({"role": "user"}),
        )
        .await;
    assert_problem(myself, StatusCode::CONFLICT, "cannot_modify_self").await;
    let bad_role = app
        .patch_json(
            &format!("/api/v1/admin/users/{}", user.user_id),
            token,
            &json!({"role": "superuser"}),
        )
        .await;
    assert_problem(
        bad_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let missing = app
        .patch_json(
            "/api/v1/admin/users/424242",
            token,
            &json!({"is_active": false}),
        )
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND, "user_not_found").await;
}

/// `GET /users/me` reads its answer's columns straight from one row; the admin list builds
/// the same answer from the entities. A member with every field set, an avatar, a login
/// and presence hidden is the same through both.
#[tokio::test]
async fn my_profile_is_the_same_as_an_admin_sees_it() {
    let app = spawn_app().await;
    let admin = app.register_with_role("keeper", Role::Admin).await;
    let user = app.register("filled").await;
    let response = app
        .patch_json(
            "/api/v1/users/me",
            Some(&user.access_token),
            &json!({
                "phone_number": "+79161234567",
                "description": "«Восток» с 1967-го",
                "avito_url": "https://www.avito.ru/user/filled",
                "meshok_url": "https://meshok.net/user/7",
                "show_presence": false
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .post_json(
            "/api/v1/users/me/avatars/random",
            Some(&user.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session = app.login("filled", PASSWORD).await;
    let token = session["access_token"].as_str();

    let me: Value = app
        .get("/api/v1/users/me", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["description"], "«Восток» с 1967-го");
    assert_eq!(me["show_presence"], false);
    assert!(me["avatar_url"].is_string(), "{me}");
    let last_login = me["last_login_at"].as_str().expect("a login time");
    chrono::DateTime::parse_from_rfc3339(last_login).expect("an RFC 3339 time");
    assert!(me["created_at"].as_str().expect("a time").ends_with('Z'));

    let listed: Value = app
        .get("/api/v1/admin/users?q=filled", Some(&admin.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([me]));
}
