//! Drafts of watches and mechanisms: a member's own drafts, their submission, and their
//! moderation into the live catalog.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use serde_json::{Value, json};

use crate::catalog_watches::ids;
use crate::helpers::{TestApp, TestUser, assert_problem, count_rows, png, spawn_app};
use vitrine::auth::Role;

/// A row of a reference table, written directly.
async fn reference(app: &TestApp, table: &str, name: &str) -> i64 {
    let db = &app.state.db;
    db.execute_unprepared(&format!("INSERT INTO \"{table}\" (name) VALUES ('{name}')"))
        .await
        .unwrap();
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT id FROM \"{table}\" WHERE name = '{name}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "id").unwrap()
}

/// The rows a query finds, each column as text, to check what was published.
async fn rows(app: &TestApp, sql: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let db = &app.state.db;
    let found = db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    found
        .iter()
        .map(|row| columns.iter().map(|column| text(row, column)).collect())
        .collect()
}

fn text(row: &QueryResult, column: &str) -> String {
    let shown = |value: Option<String>| value.unwrap_or_else(|| "null".to_owned());
    if let Ok(value) = row.try_get::<Option<i64>>("", column) {
        return shown(value.map(|v| v.to_string()));
    }
    if let Ok(value) = row.try_get::<Option<i32>>("", column) {
        return shown(value.map(|v| v.to_string()));
    }
    shown(row.try_get::<Option<String>>("", column).unwrap())
}

async fn rating(app: &TestApp, user: &TestUser) -> i64 {
    let me: Value = app
        .get("/api/v1/users/me", Some(&user.access_token))
        .await
        .json()
        .await
        .unwrap();
    me["rating"].as_i64().unwrap()
}

async fn create(app: &TestApp, user: &TestUser, kind: &str, body: Value) -> Value {
    let response = app
        .post_json(
            &format!("/api/v1/drafts/{kind}"),
            Some(&user.access_token),
            &body,
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "creating a {kind} draft"
    );
    response.json().await.unwrap()
}

async fn call(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let request = app.request(method, &format!("/api/v1{path}"), Some(&user.access_token));
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn submit(app: &TestApp, user: &TestUser, kind: &str, id: i64) -> Value {
    ok(call(
        app,
        user,
        Method::POST,
        &format!("/drafts/{kind}/{id}/submit"),
        None,
    )
    .await)
    .await
}

async fn approve(app: &TestApp, moderator: &TestUser, kind: &str, id: i64) -> Value {
    ok(call(
        app,
        moderator,
        Method::POST,
        &format!("/moderation/drafts/{kind}/{id}/approve"),
        None,
    )
    .await)
    .await
}

/// Publishes a watch the way members do: draft, submit, approve. Returns its id.
async fn published_watch(
    app: &TestApp,
    author: &TestUser,
    moderator: &TestUser,
    body: Value,
) -> i64 {
    let draft = create(app, author, "watches", body).await;
    let id = draft["id"].as_i64().unwrap();
    submit(app, author, "watches", id).await;
    approve(app, moderator, "watches", id).await["record_id"]
        .as_i64()
        .unwrap()
}

/// `GET /drafts` followed page by page to the end: each draft's kind and id.
async fn every_page(app: &TestApp, user: &TestUser, limit: usize) -> Vec<(String, i64)> {
    let mut listed = Vec::new();
    let mut path = format!("/drafts?limit={limit}");
    loop {
        let page = ok(call(app, user, Method::GET, &path, None).await).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        listed.extend(items.iter().map(|item| {
            (
                item["kind"].as_str().unwrap().to_owned(),
                item["id"].as_i64().unwrap(),
            )
        }));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/drafts?limit={limit}&cursor={cursor}"),
            None => return listed,
        }
    }
}

#[tokio::test]
async fn a_watch_draft_is_written_submitted_and_published_to_its_author() {
    let app = spawn_app().await;
    let member = app.register("collector").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let brand = reference(&app, "brand", "Восток").await;

    // Arrange: a draft started with a few fields, completed later
    let draft = create(
        &app,
        &member,
        "watches",
        json!({"code": "2414-A", "start_release": 1967}),
    )
    .await;
    let id = draft["id"].as_i64().unwrap();
    assert_eq!(draft["kind"], "watch");
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["author_id"], member.user_id);
    assert!(draft["target_id"].is_null() && draft["submitted_at"].is_null());
    assert!(
        draft["values"]["folder"].is_null(),
        "a draft may lack its folder"
    );
    assert_eq!(draft["values"]["code"], "2414-A");

    let edited = ok(call(
        &app,
        &member,
        Method::PATCH,
        &format!("/drafts/watches/{id}"),
        Some(json!({
            "folder": "vostok_amphibia",
            "brand_id": brand,
            "integrated_bracelet": true,
            "aliases": [" Амфибия ", "амфибия", "Amphibian"]
        })),
    )
    .await)
    .await;
    assert_eq!(edited["values"]["code"], "2414-A", "left out stays");
    assert_eq!(edited["values"]["aliases"], json!(["Амфибия", "Amphibian"]));

    // Act
    let submitted = submit(&app, &member, "watches", id).await;
    assert_eq!(submitted["status"], "submitted");
    assert!(submitted["submitted_at"].is_string());
    let approval = approve(&app, &moderator, "watches", id).await;

    // Assert: the live watch, credited to the author, with its aliases and search words
    let watch_id = approval["record_id"].as_i64().unwrap();
    assert_eq!(approval["draft"]["status"], "approved");
    assert_eq!(approval["draft"]["reviewed_by"], moderator.user_id);
    assert!(approval["draft"]["reviewed_at"].is_string());
    assert_eq!(
        rows(
            &app,
            &format!("SELECT folder, code, user_id, brand_id FROM watch WHERE id = {watch_id}"),
            &["folder", "code", "user_id", "brand_id"],
        )
        .await,
        vec![vec![
            "vostok_amphibia".to_owned(),
            "2414-A".to_owned(),
            member.user_id.to_string(),
            brand.to_string(),
        ]]
    );
    assert_eq!(
        rows(
            &app,
            &format!("SELECT key FROM alias WHERE watch_id = {watch_id} ORDER BY id"),
            &["key"],
        )
        .await,
        vec![vec!["Амфибия".to_owned()], vec!["Amphibian".to_owned()]]
    );
    for query in ["амфиб", "Восток", "2414a"] {
        let found: Value = app
            .client
            .get(app.url("/api/v1/watches"))
            .query(&[("q", query)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            found["items"][0]["id"], watch_id,
            "searching {query}: {found}"
        );
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
    }
    assert_eq!(
        rating(&app, &member).await,
        1,
        "approval credits the author"
    );
    assert_eq!(rating(&app, &moderator).await, 0);
    let seen = ok(call(
        &app,
        &member,
        Method::GET,
        &format!("/drafts/watches/{id}"),
        None,
    )
    .await)
    .await;
    assert_eq!(seen["status"], "approved");
}

#[tokio::test]
async fn a_mechanism_draft_is_published_with_its_functions() {
    let app = spawn_app().await;
    let member = app.register("calibre_fan").await;
    let moderator = app.register_with_role("moder", Role::Admin).await;
    let chronograph = reference(&app, "function", "Хронограф").await;
    let date = reference(&app, "function", "Дата").await;
    let factory = reference(&app, "factory", "Первый МЧЗ").await;

    let draft = create(
        &app,
        &member,
        "mechanisms",
        json!({"stones": 23, "function_ids": [chronograph, date, chronograph]}),
    )
    .await;
    let id = draft["id"].as_i64().unwrap();
    assert_eq!(draft["kind"], "mechanism");
    assert_eq!(draft["values"]["function_ids"].as_array().unwrap().len(), 2);
    ok(call(
        &app,
        &member,
        Method::PATCH,
        &format!("/drafts/mechanisms/{id}"),
        Some(json!({"name": "3133", "factory_id": factory})),
    )
    .await)
    .await;
    submit(&app, &member, "mechanisms", id).await;
    let approval = approve(&app, &moderator, "mechanisms", id).await;

    let mechanism_id = approval["record_id"].as_i64().unwrap();
    assert_eq!(
        rows(
            &app,
            &format!(
                "SELECT name, stones, user_id, factory_id FROM mechanism WHERE id = {mechanism_id}"
            ),
            &["name", "stones", "user_id", "factory_id"],
        )
        .await,
        vec![vec![
            "3133".to_owned(),
            "23".to_owned(),
            member.user_id.to_string(),
            factory.to_string(),
        ]]
    );
    let mut functions = rows(
        &app,
        &format!("SELECT function_id FROM mechanism_function WHERE mechanism_id = {mechanism_id}"),
        &["function_id"],
    )
    .await;
    functions.sort();
    let mut expected = vec![vec![chronograph.to_string()], vec![date.to_string()]];
    expected.sort();
    assert_eq!(functions, expected);
    assert_eq!(rating(&app, &member).await, 1);
}

#[tokio::test]
async fn a_rejected_draft_shows_the_message_and_is_published_after_changes() {
    let app = spawn_app().await;
    let member = app.register("novice").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let draft = create(
        &app,
        &member,
        "watches",
        json!({"folder": "raketa-copernicus"}),
    )
    .await;
    let id = draft["id"].as_i64().unwrap();
    submit(&app, &member, "watches", id).await;

    let rejected = ok(call(
        &app,
        &moderator,
        Method::POST,
        &format!("/moderation/drafts/watches/{id}/reject"),
        Some(json!({"message": "  Укажите годы выпуска  "})),
    )
    .await)
    .await;
    assert_eq!(rejected["status"], "rejected");

    let seen = ok(call(
        &app,
        &member,
        Method::GET,
        &format!("/drafts/watches/{id}"),
        None,
    )
    .await)
    .await;
    assert_eq!(seen["status"], "rejected");
    assert_eq!(seen["message"], "Укажите годы выпуска");
    assert_eq!(seen["reviewed_by"], moderator.user_id);
    assert_eq!(
        rating(&app, &member).await,
        0,
        "a rejection credits nothing"
    );

    let edited = ok(call(
        &app,
        &member,
        Method::PATCH,
        &format!("/drafts/watches/{id}"),
        Some(json!({"start_release": 1976, "end_release": 1986})),
    )
    .await)
    .await;
    assert_eq!(
        edited["status"], "draft",
        "editing reopens a rejected draft"
    );
    assert_eq!(
        edited["message"], "Укажите годы выпуска",
        "the message stays to be read"
    );

    submit(&app, &member, "watches", id).await;
    let approval = approve(&app, &moderator, "watches", id).await;
    assert_eq!(approval["draft"]["status"], "approved");
    assert!(
        approval["draft"]["message"].is_null(),
        "approval clears the old message"
    );
    assert_eq!(count_rows(&app, "watch").await, 1);
    assert_eq!(rating(&app, &member).await, 1);
}

#[tokio::test]
async fn an_edit_proposal_shows_its_changes_and_updates_the_target() {
    let app = spawn_app().await;
    let author = app.register("first_author").await;
    let editor = app.register("second_author").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let watch_id = published_watch(
        &app,
        &author,
        &moderator,
        json!({"folder": "poljot_shturmanskie", "code": "2614", "aliases": ["Штурманские"]}),
    )
    .await;

    // the proposal starts from the live values; only the fields sent change
    let draft = create(
        &app,
        &editor,
        "watches",
        json!({"target_id": watch_id, "code": "2614.2H", "aliases": ["Штурманские", "Гагаринские"]}),
    )
    .await;
    let id = draft["id"].as_i64().unwrap();
    assert_eq!(draft["target_id"], watch_id);
    assert_eq!(draft["values"]["folder"], "poljot_shturmanskie");
    submit(&app, &editor, "watches", id).await;

    let review = ok(call(
        &app,
        &moderator,
        Method::GET,
        &format!("/moderation/drafts/watches/{id}"),
        None,
    )
    .await)
    .await;
    assert_eq!(review["status"], "submitted");
    assert_eq!(review["live"]["code"], "2614");
    assert_eq!(
        review["changes"],
        json!([
            {"field": "code", "from": "2614", "to": "2614.2H"},
            {"field": "aliases", "from": ["Штурманские"], "to": ["Штурманские", "Гагаринские"]},
        ])
    );

    let approval = approve(&app, &moderator, "watches", id).await;
    assert_eq!(approval["record_id"], watch_id);
    assert_eq!(count_rows(&app, "watch").await, 1, "no new watch");
    assert_eq!(
        rows(
            &app,
            &format!("SELECT code, user_id FROM watch WHERE id = {watch_id}"),
            &["code", "user_id"],
        )
        .await,
        vec![vec!["2614.2H".to_owned(), author.user_id.to_string()]],
        "the watch keeps its author"
    );
    assert_eq!(count_rows(&app, "alias").await, 2);
    assert_eq!(rating(&app, &editor).await, 1, "the editor is credited");

    // a mechanism proposal likewise
    let mechanism = create(
        &app,
        &author,
        "mechanisms",
        json!({"name": "2609", "stones": 17}),
    )
    .await;
    let mechanism_draft = mechanism["id"].as_i64().unwrap();
    submit(&app, &author, "mechanisms", mechanism_draft).await;
    let mechanism_id = approve(&app, &moderator, "mechanisms", mechanism_draft).await["record_id"]
        .as_i64()
        .unwrap();
    let proposal = create(
        &app,
        &editor,
        "mechanisms",
        json!({"target_id": mechanism_id, "name": "2609.HA"}),
    )
    .await;
    let proposal_id = proposal["id"].as_i64().unwrap();
    submit(&app, &editor, "mechanisms", proposal_id).await;
    let review = ok(call(
        &app,
        &moderator,
        Method::GET,
        &format!("/moderation/drafts/mechanisms/{proposal_id}"),
        None,
    )
    .await)
    .await;
    assert_eq!(
        review["changes"],
        json!([{"field": "name", "from": "2609", "to": "2609.HA"}])
    );
    approve(&app, &moderator, "mechanisms", proposal_id).await;
    assert_eq!(
        rows(
            &app,
            &format!("SELECT name, stones FROM mechanism WHERE id = {mechanism_id}"),
            &["name", "stones"],
        )
        .await,
        vec![vec!["2609.HA".to_owned(), "17".to_owned()]]
    );
}

#[tokio::test]
async fn an_unknown_target_or_kind_is_refused() {
    let app = spawn_app().await;
    let member = app.register("member").await;
    for kind in ["watches", "mechanisms"] {
        let response = app
            .post_json(
                &format!("/api/v1/drafts/{kind}"),
                Some(&member.access_token),
                &json!({"target_id": 4242}),
            )
            .await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "target_id");
    }
    let draft = create(&app, &member, "watches", json!({})).await;
    let id = draft["id"].as_i64().unwrap();
    for path in [
        format!("/drafts/gadgets/{id}"),
        format!("/drafts/mechanisms/{id}"),
    ] {
        assert_problem(
            call(&app, &member, Method::GET, &path, None).await,
            StatusCode::NOT_FOUND,
            "draft_not_found",
        )
        .await;
    }
    let response = call(
        &app,
        &member,
        Method::PATCH,
        &format!("/drafts/watches/{id}"),
        Some(json!({"target_id": 1})),
    )
    .await;
    let problem = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "target_id");
    let response = call(
        &app,
        &member,
        Method::PATCH,
        &format!("/drafts/watches/{id}"),
        Some(json!({"stones": 5})),
    )
    .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn members_see_and_change_only_their_own_drafts() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let other = app.register("stranger").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let watch = create(&app, &owner, "watches", json!({"folder": "mine"})).await;
    let mechanism = create(&app, &owner, "mechanisms", json!({"name": "mine"})).await;

    for (kind, draft) in [("watches", &watch), ("mechanisms", &mechanism)] {
        let path = format!("/drafts/{kind}/{}", draft["id"]);
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(json!({}))),
            (Method::POST, format!("{path}/submit"), None),
            (Method::DELETE, path.clone(), None),
        ] {
            assert_problem(
                call(&app, &other, method, &path, body).await,
                StatusCode::NOT_FOUND,
                "draft_not_found",
            )
            .await;
        }
        // moderators read anyone's draft, but do not edit it for them
        ok(call(&app, &moderator, Method::GET, &path, None).await).await;
        assert_problem(
            call(&app, &moderator, Method::PATCH, &path, Some(json!({}))).await,
            StatusCode::NOT_FOUND,
            "draft_not_found",
        )
        .await;
    }
    let theirs = ok(call(&app, &other, Method::GET, "/drafts", None).await).await;
    assert_eq!(theirs["items"], json!([]));
    let mine = ok(call(&app, &owner, Method::GET, "/drafts", None).await).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
    assert_problem(
        app.get("/api/v1/drafts", None).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    let response = app
        .post_json("/api/v1/drafts/watches", None, &json!({"folder": "anon"}))
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn moderation_is_for_moderators() {
    let app = spawn_app().await;
    let member = app.register("member").await;
    let draft = create(&app, &member, "watches", json!({"folder": "pending"})).await;
    let id = draft["id"].as_i64().unwrap();
    submit(&app, &member, "watches", id).await;

    let routes = [
        (Method::GET, "/moderation/drafts".to_owned(), None),
        (
            Method::GET,
            format!("/moderation/drafts/watches/{id}"),
            None,
        ),
        (
            Method::POST,
            format!("/moderation/drafts/watches/{id}/approve"),
            None,
        ),
        (
            Method::POST,
            format!("/moderation/drafts/watches/{id}/reject"),
            Some(json!({"message": "no"})),
        ),
    ];
    for (method, path, body) in routes {
        assert_problem(
            call(&app, &member, method.clone(), &path, body.clone()).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let mut anonymous = app.request(method, &format!("/api/v1{path}"), None);
        if let Some(body) = body {
            anonymous = anonymous.json(&body);
        }
        assert_problem(
            anonymous.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;
    }
    let seen = ok(call(
        &app,
        &member,
        Method::GET,
        &format!("/drafts/watches/{id}"),
        None,
    )
    .await)
    .await;
    assert_eq!(seen["status"], "submitted", "nothing changed");
    assert_eq!(count_rows(&app, "watch").await, 0);
}

#[tokio::test]
async fn invalid_values_are_refused_and_incomplete_drafts_stay_drafts() {
    let app = spawn_app().await;
    let member = app.register("hasty").await;
    for (kind, body, field) in [
        ("watches", json!({"start_release": 1500}), "start_release"),
        ("watches", json!({"folder": "../etc"}), "folder"),
        ("watches", json!({"brand_id": 999}), "brand_id"),
        ("mechanisms", json!({"stones": 1000}), "stones"),
        ("mechanisms", json!({"function_ids": [999]}), "function_ids"),
    ] {
        let response = app
            .post_json(
                &format!("/api/v1/drafts/{kind}"),
                Some(&member.access_token),
                &body,
            )
            .await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(count_rows(&app, "draft_watch").await, 0);

    for (kind, body, field) in [
        ("watches", json!({"code": "no-folder"}), "folder"),
        ("mechanisms", json!({"stones": 17}), "name"),
    ] {
        let draft = create(&app, &member, kind, body).await;
        let path = format!("/drafts/{kind}/{}", draft["id"]);
        let problem = assert_problem(
            call(&app, &member, Method::POST, &format!("{path}/submit"), None).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field);
        let seen = ok(call(&app, &member, Method::GET, &path, None).await).await;
        assert_eq!(seen["status"], "draft");
        assert!(seen["submitted_at"].is_null());

        // an invalid change is refused and the draft keeps its values
        let response = call(
            &app,
            &member,
            Method::PATCH,
            &path,
            Some(json!({"start_release": 1990, "end_release": 1980})),
        )
        .await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let seen = ok(call(&app, &member, Method::GET, &path, None).await).await;
        assert!(seen["values"]["start_release"].is_null());
    }
}

#[tokio::test]
async fn submitted_and_approved_drafts_are_locked() {
    let app = spawn_app().await;
    let member = app.register("member").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let draft = create(&app, &member, "watches", json!({"folder": "locked"})).await;
    let id = draft["id"].as_i64().unwrap();
    let path = format!("/drafts/watches/{id}");
    submit(&app, &member, "watches", id).await;

    let patch = call(
        &app,
        &member,
        Method::PATCH,
        &path,
        Some(json!({"code": "x"})),
    )
    .await;
    assert_problem(patch, StatusCode::CONFLICT, "draft_locked").await;
    let again = call(&app, &member, Method::POST, &format!("{path}/submit"), None).await;
    assert_problem(again, StatusCode::CONFLICT, "draft_locked").await;

    approve(&app, &moderator, "watches", id).await;
    let patch = call(
        &app,
        &member,
        Method::PATCH,
        &path,
        Some(json!({"code": "x"})),
    )
    .await;
    assert_problem(patch, StatusCode::CONFLICT, "draft_locked").await;
    let delete = call(&app, &member, Method::DELETE, &path, None).await;
    assert_problem(delete, StatusCode::CONFLICT, "draft_locked").await;

    // a submitted draft may be withdrawn
    let withdrawn = create(
        &app,
        &member,
        "mechanisms",
        json!({"name": "2416", "function_ids": []}),
    )
    .await;
    let withdrawn_path = format!("/drafts/mechanisms/{}", withdrawn["id"]);
    submit(
        &app,
        &member,
        "mechanisms",
        withdrawn["id"].as_i64().unwrap(),
    )
    .await;
    let response = call(&app, &member, Method::DELETE, &withdrawn_path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        call(&app, &member, Method::GET, &withdrawn_path, None).await,
        StatusCode::NOT_FOUND,
        "draft_not_found",
    )
    .await;
}

#[tokio::test]
async fn only_submitted_drafts_are_approved_or_rejected() {
    let app = spawn_app().await;
    let member = app.register("member").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let draft = create(&app, &member, "watches", json!({"folder": "unsent"})).await;
    let id = draft["id"].as_i64().unwrap();
    let approve_path = format!("/moderation/drafts/watches/{id}/approve");
    let reject_path = format!("/moderation/drafts/watches/{id}/reject");

    let response = call(&app, &moderator, Method::POST, &approve_path, None).await;
    assert_problem(response, StatusCode::CONFLICT, "draft_not_submitted").await;
    let response = call(
        &app,
        &moderator,
        Method::POST,
        &reject_path,
        Some(json!({"message": "no"})),
    )
    .await;
    assert_problem(response, StatusCode::CONFLICT, "draft_not_submitted").await;

    submit(&app, &member, "watches", id).await;
    for message in [json!(""), json!("   "), json!("x".repeat(2001))] {
        let response = call(
            &app,
            &moderator,
            Method::POST,
            &reject_path,
            Some(json!({"message": message})),
        )
        .await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let response = call(
        &app,
        &moderator,
        Method::POST,
        &reject_path,
        Some(json!({})),
    )
    .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    approve(&app, &moderator, "watches", id).await;
    let response = call(&app, &moderator, Method::POST, &approve_path, None).await;
    assert_problem(response, StatusCode::CONFLICT, "draft_not_submitted").await;
    let response = call(
        &app,
        &moderator,
        Method::POST,
        &reject_path,
        Some(json!({"message": "late"})),
    )
    .await;
    assert_problem(response, StatusCode::CONFLICT, "draft_not_submitted").await;
    assert_eq!(count_rows(&app, "watch").await, 1, "published once");
    assert_eq!(rating(&app, &member).await, 1, "credited once");
    let response = call(
        &app,
        &moderator,
        Method::POST,
        "/moderation/drafts/watches/9999/approve",
        None,
    )
    .await;
    assert_problem(response, StatusCode::NOT_FOUND, "draft_not_found").await;
}

#[tokio::test]
async fn a_folder_taken_before_approval_leaves_everything_as_it_was() {
    let app = spawn_app().await;
    let first = app.register("first").await;
    let second = app.register("second").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    // two members propose the same folder; both drafts pass submission
    let mut ids = Vec::new();
    for (member, alias) in [(&first, "Первые"), (&second, "Вторые")] {
        let draft = create(
            &app,
            member,
            "watches",
            json!({"folder": "slava_2427", "aliases": [alias]}),
        )
        .await;
        let id = draft["id"].as_i64().unwrap();
        submit(&app, member, "watches", id).await;
        ids.push(id);
    }
    approve(&app, &moderator, "watches", ids[0]).await;
    let before: Vec<i64> = futures_util::future::join_all(
        ["watch", "alias", "watch_search_token"].map(|table| count_rows(&app, table)),
    )
    .await;

    let response = call(
        &app,
        &moderator,
        Method::POST,
        &format!("/moderation/drafts/watches/{}/approve", ids[1]),
        None,
    )
    .await;
    assert_problem(response, StatusCode::CONFLICT, "folder_taken").await;

    let after: Vec<i64> = futures_util::future::join_all(
        ["watch", "alias", "watch_search_token"].map(|table| count_rows(&app, table)),
    )
    .await;
    assert_eq!(before, after, "nothing half-written");
    let seen = ok(call(
        &app,
        &second,
        Method::GET,
        &format!("/drafts/watches/{}", ids[1]),
        None,
    )
    .await)
    .await;
    assert_eq!(
        seen["status"], "submitted",
        "the draft waits to be rejected or fixed"
    );
    assert!(seen["reviewed_by"].is_null());
    assert_eq!(rating(&app, &second).await, 0);

    // a third member's draft with that folder is stopped at submission already
    let draft = create(&app, &first, "watches", json!({"folder": "slava_2427"})).await;
    let response = call(
        &app,
        &first,
        Method::POST,
        &format!("/drafts/watches/{}/submit", draft["id"]),
        None,
    )
    .await;
    assert_problem(response, StatusCode::CONFLICT, "folder_taken").await;
    assert_eq!(
        count_rows(&app, "watch").await,
        1,
        "the trial publication left nothing"
    );
}

#[tokio::test]
async fn drafts_are_listed_in_pages_newest_first_and_queued_oldest_first() {
    let app = spawn_app().await;
    let member = app.register("prolific").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let mut created = Vec::new();
    for n in 0..5 {
        let (kind, body) = if n % 2 == 0 {
            ("watches", json!({"folder": format!("watch_{n}")}))
        } else {
            ("mechanisms", json!({"name": format!("calibre {n}")}))
        };
        let draft = create(&app, &member, kind, body).await;
        created.push((kind, draft["id"].as_i64().unwrap()));
    }

    let listed = every_page(&app, &member, 2).await;
    let expected: Vec<(String, i64)> = created
        .iter()
        .rev()
        .map(|(kind, id)| {
            (
                kind.replace("watches", "watch")
                    .replace("mechanisms", "mechanism"),
                *id,
            )
        })
        .collect();
    assert_eq!(listed, expected, "newest first, each once");

    // submitted in the order mechanism 3, watch 0, mechanism 1
    for index in [3, 0, 1] {
        let (kind, id) = created[index];
        submit(&app, &member, kind, id).await;
    }
    let submitted =
        ok(call(&app, &member, Method::GET, "/drafts?status=submitted", None).await).await;
    assert_eq!(submitted["items"].as_array().unwrap().len(), 3);

    let queue = ok(call(
        &app,
        &moderator,
        Method::GET,
        "/moderation/drafts?limit=2",
        None,
    )
    .await)
    .await;
    let first_page = ids(&queue);
    assert_eq!(
        first_page,
        vec![created[3].1, created[0].1],
        "oldest submission first"
    );
    let cursor = queue["next_cursor"].as_str().unwrap();
    let rest = ok(call(
        &app,
        &moderator,
        Method::GET,
        &format!("/moderation/drafts?limit=2&cursor={cursor}"),
        None,
    )
    .await)
    .await;
    assert_eq!(rest["items"][0]["id"], created[1].1);
    assert!(rest["next_cursor"].is_null());

    let mechanisms = ok(call(
        &app,
        &moderator,
        Method::GET,
        "/moderation/drafts?kind=mechanism",
        None,
    )
    .await)
    .await;
    let kinds: Vec<&str> = mechanisms["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["mechanism", "mechanism"]);

    assert_problem(
        call(&app, &member, Method::GET, "/drafts?cursor=bm9wZQ", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        call(&app, &member, Method::GET, "/drafts?status=lost", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn an_approved_folder_change_takes_the_photos_along() {
    let app = spawn_app().await;
    let member = app.register("photographer").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let watch_id =
        published_watch(&app, &member, &moderator, json!({"folder": "chaika_old"})).await;
    let response = app
        .request(
            Method::PUT,
            &format!("/api/v1/watches/{watch_id}/images/main"),
            Some(&moderator.access_token),
        )
        .body(png(10, 10))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(app.stored_objects().await, ["watches/chaika_old/main.png"]);

    let draft = create(
        &app,
        &member,
        "watches",
        json!({"target_id": watch_id, "folder": "chaika_new"}),
    )
    .await;
    let id = draft["id"].as_i64().unwrap();
    submit(&app, &member, "watches", id).await;
    approve(&app, &moderator, "watches", id).await;

    assert_eq!(app.stored_objects().await, ["watches/chaika_new/main.png"]);
}

#[tokio::test]
async fn drafts_of_one_moment_are_paged_each_once_in_a_stable_order() {
    let app = spawn_app().await;
    let member = app.register("quick").await;
    let mut watches = Vec::new();
    let mut mechanisms = Vec::new();
    for n in 0..3 {
        let watch = create(&app, &member, "watches", json!({"folder": format!("w{n}")})).await;
        watches.push(watch["id"].as_i64().unwrap());
        let mechanism = create(
            &app,
            &member,
            "mechanisms",
            json!({"name": format!("m{n}")}),
        )
        .await;
        mechanisms.push(mechanism["id"].as_i64().unwrap());
    }
    // every draft stamped with one and the same time, as stored
    let db = &app.state.db;
    for sql in [
        "UPDATE draft_watch SET created_at = (SELECT MIN(created_at) FROM draft_watch)",
        "UPDATE draft_mechanism SET created_at = (SELECT MIN(created_at) FROM draft_watch)",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }

    let listed = every_page(&app, &member, 1).await;
    let expected: Vec<(String, i64)> = mechanisms
        .iter()
        .rev()
        .map(|id| ("mechanism".to_owned(), *id))
        .chain(watches.iter().rev().map(|id| ("watch".to_owned(), *id)))
        .collect();
    assert_eq!(listed, expected);
}
