//! Members' collections: adding and removing idempotently, reading anyone's, pages.

use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, Set};
use serde_json::{Value, json};

use crate::catalog_references::{create_reference, insert_watch};
use crate::helpers::{TestApp, assert_problem, count_rows, spawn_app};
use vitrine::auth::Role;
use vitrine::catalog::entity::watch;

async fn put(app: &TestApp, token: Option<&str>, watch_id: i64) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/users/me/collection/{watch_id}"),
        token,
    )
    .send()
    .await
    .unwrap()
}

async fn collection(app: &TestApp, user_id: i64) -> Value {
    let response = app
        .get(&format!("/api/v1/users/{user_id}/collection"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn adding_and_removing_are_idempotent() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_yana", Role::Moderator).await;
    let member = app.register("collector_ivan").await;
    let token = Some(member.access_token.as_str());
    let brand = create_reference(&app, &moderator.access_token, "brands", "Восток").await;
    let watch_id = insert_watch(&app, "amphibia_420", |row| {
        row.brand_id = Set(Some(brand));
        row.code = Set(Some("420059".to_owned()));
        row.start_release = Set(Some(1980));
    })
    .await;
    let plain = insert_watch(&app, "no_brand", |_| {}).await;

    for _ in 0..2 {
        let response = put(&app, token, watch_id).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(count_rows(&app, "collection").await, 1);
    put(&app, token, plain).await;

    let page = collection(&app, member.user_id).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["watch_id"], plain, "newest first");
    assert!(items[0]["brand"].is_null());
    assert!(items[0]["code"].is_null());
    let item = &items[1];
    assert_eq!(item["watch_id"], watch_id);
    assert_eq!(item["folder"], "amphibia_420");
    assert_eq!(item["code"], "420059");
    assert_eq!(item["brand"], json!({"id": brand, "name": "Восток"}));
    assert_eq!(item["start_release"], 1980);
    assert!(item["added_at"].is_string());
    assert!(page["next_cursor"].is_null());

    for _ in 0..2 {
        let response = app
            .delete(&format!("/api/v1/users/me/collection/{watch_id}"), token)
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    // removing a watch that never was there, or does not exist, changes nothing
    let response = app.delete("/api/v1/users/me/collection/9999", token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let page = collection(&app, member.user_id).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["watch_id"], plain);
}

#[tokio::test]
async fn collections_are_per_member_and_need_sign_in() {
    let app = spawn_app().await;
    let first = app.register("collector_kolya").await;
    let second = app.register("collector_lena").await;
    let moderator = app.register_with_role("mod_mark", Role::Moderator).await;
    let admin = app.register_with_role("admin_nina", Role::Admin).await;
    let watch_id = insert_watch(&app, "slava_2414", |_| {}).await;

    assert_problem(
        put(&app, None, watch_id).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    assert_problem(
        app.delete(&format!("/api/v1/users/me/collection/{watch_id}"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    assert_problem(
        put(&app, Some(&first.access_token), 9999).await,
        StatusCode::NOT_FOUND,
        "watch_not_found",
    )
    .await;
    let response = app
        .request(
            Method::PUT,
            "/api/v1/users/me/collection/abc",
            Some(&first.access_token),
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_path").await;
    assert_eq!(count_rows(&app, "collection").await, 0);

    // every role keeps a collection of its own
    for user in [&first, &second, &moderator, &admin] {
        let response = put(&app, Some(&user.access_token), watch_id).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(count_rows(&app, "collection").await, 4);
    let response = app
        .delete(
            &format!("/api/v1/users/me/collection/{watch_id}"),
            Some(&first.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        collection(&app, first.user_id).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for user in [&second, &moderator, &admin] {
        let page = collection(&app, user.user_id).await;
        assert_eq!(page["items"][0]["watch_id"], watch_id, "{}", user.username);
    }
}

#[tokio::test]
async fn collections_of_unknown_or_deactivated_members_are_404() {
    let app = spawn_app().await;
    let admin = app.register_with_role("admin_olga", Role::Admin).await;
    let member = app.register("collector_petr").await;
    let watch_id = insert_watch(&app, "raketa_2609", |_| {}).await;
    put(&app, Some(&member.access_token), watch_id).await;
    assert_eq!(
        collection(&app, member.user_id).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    assert_problem(
        app.get("/api/v1/users/9999/collection", None).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    let response = app
        .patch_json(
            &format!("/api/v1/admin/users/{}", member.user_id),
            Some(&admin.access_token),
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_problem(
        app.get(
            &format!("/api/v1/users/{}/collection", member.user_id),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/users/abc/collection", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
}

#[tokio::test]
async fn collection_pages_run_newest_first_without_gaps() {
    let app = spawn_app().await;
    let member = app.register("collector_roma").await;
    let token = Some(member.access_token.as_str());
    let mut added = Vec::new();
    for n in 0..12 {
        let id = insert_watch(&app, &format!("watch_{n:02}"), |_| {}).await;
        put(&app, token, id).await;
        added.push(id);
    }
    // re-adding one does not move it to the front
    put(&app, token, added[3]).await;
    let expected: Vec<i64> = added.iter().rev().copied().collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!(
                "/api/v1/users/{}/collection?limit=5&cursor={cursor}",
                member.user_id
            ),
            None => format!("/api/v1/users/{}/collection?limit=5", member.user_id),
        };
        let page: Value = app.get(&path, None).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["watch_id"].as_i64().unwrap()),
        );
        pages += 1;
        if pages == 1 {
            // an addition while paging shows up on the first page only
            let late = insert_watch(&app, "late_addition", |_| {}).await;
            put(&app, token, late).await;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    assert_problem(
        app.get(
            &format!("/api/v1/users/{}/collection?cursor=zzz", member.user_id),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn deleting_a_watch_removes_it_from_collections() {
    let app = spawn_app().await;
    let first = app.register("collector_sasha").await;
    let second = app.register("collector_tanya").await;
    let gone = insert_watch(&app, "to_be_deleted", |_| {}).await;
    let kept = insert_watch(&app, "to_be_kept", |_| {}).await;
    for user in [&first, &second] {
        put(&app, Some(&user.access_token), gone).await;
        put(&app, Some(&user.access_token), kept).await;
    }
    assert_eq!(count_rows(&app, "collection").await, 4);

    watch::Entity::delete_by_id(gone)
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(count_rows(&app, "collection").await, 2);
    for user in [&first, &second] {
        let page = collection(&app, user.user_id).await;
        assert_eq!(page["items"], json!([page["items"][0].clone()]));
        assert_eq!(page["items"][0]["watch_id"], kept);
    }
    assert_problem(
        put(&app, Some(&first.access_token), gone).await,
        StatusCode::NOT_FOUND,
        "watch_not_found",
    )
    .await;
}
