//! Photos of watch drafts: proposed by side with a new watch or an edit, reviewed beside
//! the live photos, published on approval, and never left behind by a draft that goes.

use object_store::PutPayload;
use object_store::path::Path as ObjectPath;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};
use serde_json::{Value, json};

use crate::catalog_watches::{get_json, local, put_photo};
use crate::helpers::{TestApp, TestUser, assert_problem, count_rows, png, spawn_app_with};
use vitrine::auth::Role;
use vitrine::files::entity as files;
use vitrine::janitor::Janitor;

async fn app() -> TestApp {
    // the janitor runs by hand in these tests
    spawn_app_with(|config| config.janitor_interval_secs = 0).await
}

async fn call(app: &TestApp, user: &TestUser, method: Method, path: &str) -> reqwest::Response {
    app.request(method, &format!("/api/v1{path}"), Some(&user.access_token))
        .send()
        .await
        .unwrap()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn new_draft(app: &TestApp, author: &TestUser, body: Value) -> i64 {
    let response = app
        .post_json("/api/v1/drafts/watches", Some(&author.access_token), &body)
        .await;
    ok(response).await["id"].as_i64().unwrap()
}

async fn put_draft_photo(
    app: &TestApp,
    user: &TestUser,
    draft: i64,
    side: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/drafts/watches/{draft}/images/{side}"),
        Some(&user.access_token),
    )
    .body(bytes)
    .send()
    .await
    .unwrap()
}

async fn submit_and_approve(app: &TestApp, author: &TestUser, moderator: &TestUser, draft: i64) {
    ok(call(
        app,
        author,
        Method::POST,
        &format!("/drafts/watches/{draft}/submit"),
    )
    .await)
    .await;
    let path = format!("/moderation/drafts/watches/{draft}/approve");
    ok(call(app, moderator, Method::POST, &path).await).await;
}

async fn bytes_at(app: &TestApp, url: &Value, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = app.client.get(local(app, url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

async fn file_row(app: &TestApp, uid: &Value) -> files::Model {
    let uid = uid.as_str().unwrap().to_owned();
    files::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|file| file.uid == uid)
        .unwrap()
}

#[tokio::test]
async fn a_proposed_watch_is_published_with_its_photo() {
    let app = app().await;
    let member = app.register("photographer").await;
    let stranger = app.register("stranger").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let draft = new_draft(&app, &member, json!({"folder": "raketa_polar"})).await;
    let photo = png(40, 30);

    let response = put_draft_photo(&app, &member, draft, "main", photo.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let image: Value = response.json().await.unwrap();
    assert_eq!(image["side"], "main");
    assert_eq!(image["mime_type"], "image/png");
    let shown = ok(call(
        &app,
        &member,
        Method::GET,
        &format!("/drafts/watches/{draft}"),
    )
    .await)
    .await;
    assert_eq!(shown["images"], json!([image]));
    // private: the author and the moderators see it, nobody else does
    assert_eq!(
        bytes_at(&app, &image["url"], Some(&member.access_token)).await,
        (StatusCode::OK, photo.clone())
    );
    assert_eq!(
        bytes_at(&app, &image["url"], Some(&moderator.access_token))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        bytes_at(&app, &image["url"], Some(&stranger.access_token))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bytes_at(&app, &image["url"], None).await.0,
        StatusCode::NOT_FOUND
    );

    ok(call(
        &app,
        &member,
        Method::POST,
        &format!("/drafts/watches/{draft}/submit"),
    )
    .await)
    .await;
    let queue = ok(call(&app, &moderator, Method::GET, "/moderation/drafts").await).await;
    assert_eq!(queue["items"][0]["images"], json!([image]));
    let path = format!("/moderation/drafts/watches/{draft}");
    let review = ok(call(&app, &moderator, Method::GET, &path).await).await;
    assert_eq!(review["images"], json!([image]));
    assert_eq!(review["live_images"], json!([]));
    let approved = ok(call(&app, &moderator, Method::POST, &format!("{path}/approve")).await).await;

    let watch = get_json(&app, &format!("/api/v1/watches/{}", approved["record_id"])).await;
    assert_eq!(watch["images"]["main"]["uid"], image["uid"]);
    assert_eq!(
        bytes_at(&app, &watch["images"]["main"]["url"], None).await,
        (StatusCode::OK, photo)
    );
    assert_eq!(
        app.stored_objects().await,
        ["watches/raketa_polar/main.png"]
    );
    assert_eq!(
        file_row(&app, &image["uid"]).await.added_user,
        Some(moderator.user_id)
    );
}

#[tokio::test]
async fn an_edit_proposal_replaces_the_sides_it_has_and_keeps_the_others() {
    let app = app().await;
    let member = app.register("photographer").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let created = app
        .post_json("/api/v1/watches", Some(token), &json!({"folder": "chaika"}))
        .await;
    let watch_id = ok(created).await["id"].as_i64().unwrap();
    for side in ["main", "left"] {
        let response = put_photo(&app, Some(token), watch_id, side, png(10, 10)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let live = get_json(&app, &format!("/api/v1/watches/{watch_id}")).await["images"].clone();

    let draft = new_draft(&app, &member, json!({"target_id": watch_id})).await;
    let first = put_draft_photo(&app, &member, draft, "main", png(20, 20)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let newer = png(30, 20);
    let second = put_draft_photo(&app, &member, draft, "main", newer.clone()).await;
    assert_eq!(
        second.status(),
        StatusCode::OK,
        "a second photo of a side replaces the first"
    );
    let image: Value = second.json().await.unwrap();
    ok(call(
        &app,
        &member,
        Method::POST,
        &format!("/drafts/watches/{draft}/submit"),
    )
    .await)
    .await;
    let path = format!("/moderation/drafts/watches/{draft}");
    let review = ok(call(&app, &moderator, Method::GET, &path).await).await;
    assert_eq!(review["images"], json!([image]));
    let live_sides: Vec<&Value> = review["live_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["uid"])
        .collect();
    assert_eq!(live_sides, [&live["main"]["uid"], &live["left"]["uid"]]);
    ok(call(&app, &moderator, Method::POST, &format!("{path}/approve")).await).await;

    let watch = get_json(&app, &format!("/api/v1/watches/{watch_id}")).await;
    assert_eq!(watch["images"]["main"]["uid"], image["uid"]);
    assert_eq!(watch["images"]["left"], live["left"]);
    assert_eq!(
        bytes_at(&app, &watch["images"]["main"]["url"], None).await,
        (StatusCode::OK, newer)
    );
    // the replaced live photo and the draft's first photo are gone, bytes and all
    assert_eq!(
        app.stored_objects().await,
        ["watches/chaika/left.png", "watches/chaika/main.png"]
    );
    assert_eq!(
        file_row(&app, &live["main"]["uid"]).await.status,
        files::STATUS_DELETED
    );
}

#[tokio::test]
async fn photos_are_refused_where_a_draft_may_not_change() {
    let app = app().await;
    let member = app.register("photographer").await;
    let other = app.register("other").await;
    let draft = new_draft(&app, &member, json!({"folder": "poljot"})).await;

    let wrong_side = put_draft_photo(&app, &member, draft, "top", png(8, 8)).await;
    assert_problem(wrong_side, StatusCode::BAD_REQUEST, "invalid_side").await;
    let not_mine = put_draft_photo(&app, &other, draft, "main", png(8, 8)).await;
    assert_problem(not_mine, StatusCode::NOT_FOUND, "draft_not_found").await;
    let missing = put_draft_photo(&app, &member, draft + 1000, "main", png(8, 8)).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "draft_not_found").await;
    let text = put_draft_photo(&app, &member, draft, "main", b"just some words".to_vec()).await;
    assert_problem(
        text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let mut broken = png(8, 8);
    broken.truncate(40);
    let undecodable = put_draft_photo(&app, &member, draft, "main", broken).await;
    assert_problem(
        undecodable,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let anonymous = app
        .request(
            Method::PUT,
            &format!("/api/v1/drafts/watches/{draft}/images/main"),
            None,
        )
        .body(png(8, 8))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let no_photo = call(
        &app,
        &member,
        Method::DELETE,
        &format!("/drafts/watches/{draft}/images/left"),
    )
    .await;
    assert_problem(no_photo, StatusCode::NOT_FOUND, "image_not_found").await;
    assert_eq!(app.stored_objects().await, Vec::<String>::new());
    assert_eq!(count_rows(&app, "files").await, 0);

    let accepted = put_draft_photo(&app, &member, draft, "main", png(8, 8)).await;
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let others = call(
        &app,
        &other,
        Method::DELETE,
        &format!("/drafts/watches/{draft}/images/main"),
    )
    .await;
    assert_problem(others, StatusCode::NOT_FOUND, "draft_not_found").await;
    ok(call(
        &app,
        &member,
        Method::POST,
        &format!("/drafts/watches/{draft}/submit"),
    )
    .await)
    .await;
    let locked = put_draft_photo(&app, &member, draft, "left", png(8, 8)).await;
    assert_problem(locked, StatusCode::CONFLICT, "draft_locked").await;
    let locked = call(
        &app,
        &member,
        Method::DELETE,
        &format!("/drafts/watches/{draft}/images/main"),
    )
    .await;
    assert_problem(locked, StatusCode::CONFLICT, "draft_locked").await;
    assert_eq!(app.stored_objects().await.len(), 1);
}

#[tokio::test]
async fn a_removed_photo_and_a_withdrawn_draft_leave_no_blob() {
    let app = app().await;
    let member = app.register("photographer").await;
    let draft = new_draft(&app, &member, json!({"folder": "slava"})).await;
    for side in ["main", "bottom"] {
        let response = put_draft_photo(&app, &member, draft, side, png(12, 12)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(app.stored_objects().await.len(), 2);

    let path = format!("/drafts/watches/{draft}/images/bottom");
    assert_eq!(
        call(&app, &member, Method::DELETE, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown = ok(call(
        &app,
        &member,
        Method::GET,
        &format!("/drafts/watches/{draft}"),
    )
    .await)
    .await;
    let sides: Vec<&Value> = shown["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["side"])
        .collect();
    assert_eq!(sides, ["main"]);
    assert_eq!(app.stored_objects().await.len(), 1);

    let withdraw = call(
        &app,
        &member,
        Method::DELETE,
        &format!("/drafts/watches/{draft}"),
    )
    .await;
    assert_eq!(withdraw.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_objects().await, Vec::<String>::new());
    assert_eq!(count_rows(&app, "draft_watch_image").await, 0);
}

#[tokio::test]
async fn photos_of_a_draft_gone_with_its_target_watch_are_removed_by_the_janitor() {
    let app = app().await;
    let member = app.register("photographer").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let created = app
        .post_json("/api/v1/watches", Some(token), &json!({"folder": "zarya"}))
        .await;
    let watch_id = ok(created).await["id"].as_i64().unwrap();
    let draft = new_draft(&app, &member, json!({"target_id": watch_id})).await;
    let response = put_draft_photo(&app, &member, draft, "main", png(12, 12)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let kept = new_draft(&app, &member, json!({"folder": "zarya_2"})).await;
    let response = put_draft_photo(&app, &member, kept, "main", png(12, 12)).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // deleting the watch deletes the proposals to change it
    let deleted = app
        .delete(&format!("/api/v1/watches/{watch_id}"), Some(token))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let report = Janitor::new(app.state.clone()).run_once().await;

    assert_eq!(report.draft_photos_removed, 1);
    let stored = app.stored_objects().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        stored[0].starts_with(&format!("drafts/{kept}/main-")),
        "{stored:?}"
    );
}

#[tokio::test]
async fn a_draft_photo_blob_whose_row_never_committed_is_swept() {
    let app = spawn_app_with(|config| {
        config.janitor_interval_secs = 0;
        config.janitor_grace_secs = Some(1);
    })
    .await;
    let member = app.register("photographer").await;
    let draft = new_draft(&app, &member, json!({"folder": "luch"})).await;
    let response = put_draft_photo(&app, &member, draft, "main", png(12, 12)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let kept = app.stored_objects().await;
    // what a crash between storing an upload and committing its row leaves
    let stray = format!("drafts/{draft}/left-crashed.png");
    app.state
        .storage
        .store()
        .put(
            &ObjectPath::from(stray.as_str()),
            PutPayload::from(png(12, 12)),
        )
        .await
        .unwrap();
    // older than the grace period
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let mut janitor = Janitor::new(app.state.clone());
    janitor.run_once().await;
    let report = janitor.run_once().await;

    assert_eq!(report.orphans_removed, 1);
    assert_eq!(app.stored_objects().await, kept);
}

/// Makes inserting a live photo fail, so that an approval fails after the draft's photos
/// were half published.
async fn refuse_live_photos(app: &TestApp, refuse: bool) {
    let db = &app.state.db;
    let statements: &[&str] = match (db.get_database_backend(), refuse) {
        (DbBackend::Sqlite, true) => &[
            "CREATE TRIGGER refuse_photo BEFORE INSERT ON watch_image BEGIN SELECT RAISE(ABORT, 'refused'); END",
        ],
        (DbBackend::Sqlite, false) => &["DROP TRIGGER refuse_photo"],
        (_, true) => &[
            "CREATE FUNCTION refuse_photo() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_photo BEFORE INSERT ON watch_image FOR EACH ROW EXECUTE FUNCTION refuse_photo()",
        ],
        (_, false) => &[
            "DROP TRIGGER refuse_photo ON watch_image",
            "DROP FUNCTION refuse_photo()",
        ],
    };
    for statement in statements {
        db.execute_unprepared(statement).await.unwrap();
    }
}

#[tokio::test]
async fn a_failed_approval_leaves_the_photos_and_the_watch_as_they_were() {
    let app = app().await;
    let member = app.register("photographer").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let body = json!({"folder": "vostok", "start_release": 1970});
    let watch_id = ok(app.post_json("/api/v1/watches", Some(token), &body).await).await["id"]
        .as_i64()
        .unwrap();
    let live_photo = png(10, 10);
    assert_eq!(
        put_photo(&app, Some(token), watch_id, "main", live_photo.clone())
            .await
            .status(),
        StatusCode::CREATED
    );
    let before = get_json(&app, &format!("/api/v1/watches/{watch_id}")).await;
    let draft = new_draft(
        &app,
        &member,
        json!({"target_id": watch_id, "start_release": 1971}),
    )
    .await;
    let proposed: Value = put_draft_photo(&app, &member, draft, "main", png(20, 20))
        .await
        .json()
        .await
        .unwrap();
    ok(call(
        &app,
        &member,
        Method::POST,
        &format!("/drafts/watches/{draft}/submit"),
    )
    .await)
    .await;
    let stored = app.stored_objects().await;

    refuse_live_photos(&app, true).await;
    let path = format!("/moderation/drafts/watches/{draft}/approve");
    let failed = call(&app, &moderator, Method::POST, &path).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    refuse_live_photos(&app, false).await;

    let after = get_json(&app, &format!("/api/v1/watches/{watch_id}")).await;
    assert_eq!(after["start_release"], before["start_release"]);
    assert_eq!(after["images"], before["images"]);
    assert_eq!(
        bytes_at(&app, &after["images"]["main"]["url"], None).await,
        (StatusCode::OK, live_photo)
    );
    assert_eq!(app.stored_objects().await, stored);
    let draft_file = file_row(&app, &proposed["uid"]).await;
    assert_eq!(
        (draft_file.visibility.as_str(), draft_file.added_user),
        ("private", Some(member.user_id))
    );
    let review = ok(call(
        &app,
        &moderator,
        Method::GET,
        &format!("/moderation/drafts/watches/{draft}"),
    )
    .await)
    .await;
    assert_eq!(review["status"], "submitted");

    // and once nothing stands in the way, the same approval goes through
    ok(call(&app, &moderator, Method::POST, &path).await).await;
    let published = get_json(&app, &format!("/api/v1/watches/{watch_id}")).await;
    assert_eq!(published["images"]["main"]["uid"], proposed["uid"]);
    assert_eq!(published["start_release"], 1971);
}

#[tokio::test]
async fn drafts_without_photos_publish_none_and_mechanism_drafts_have_none() {
    let app = app().await;
    let member = app.register("photographer").await;
    let moderator = app.register_with_role("moder", Role::Moderator).await;
    let response = app
        .post_json(
            "/api/v1/drafts/mechanisms",
            Some(&member.access_token),
            &json!({"name": "2414"}),
        )
        .await;
    let mechanism = ok(response).await;
    assert_eq!(mechanism["images"], json!([]));
    // the id of a mechanism draft names no watch draft
    let id = mechanism["id"].as_i64().unwrap();
    let refused = put_draft_photo(&app, &member, id, "main", png(8, 8)).await;
    assert_problem(refused, StatusCode::NOT_FOUND, "draft_not_found").await;

    let draft = new_draft(&app, &member, json!({"folder": "no_photos"})).await;
    submit_and_approve(&app, &member, &moderator, draft).await;
    assert_eq!(count_rows(&app, "watch_image").await, 0);
    assert_eq!(app.stored_objects().await, Vec::<String>::new());
}
