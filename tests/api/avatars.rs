//! Avatars: uploaded and generated pictures, the active one on the profile, and the
//! files behind them.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, count_rows, png, spawn_app, spawn_app_with};
use vitrine::files::entity as files;

const AVATARS: &str = "/api/v1/users/me/avatars";

fn file_form(bytes: Vec<u8>, name: &str, mime: &str) -> Form {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("mime type");
    Form::new().part("file", part)
}

async fn post_form(app: &TestApp, token: Option<&str>, form: Form) -> Response {
    app.request(Method::POST, AVATARS, token)
        .multipart(form)
        .send()
        .await
        .expect("request sent")
}

/// Uploads `bytes` as a PNG avatar and returns the 201 body.
async fn upload_png(app: &TestApp, token: &str, bytes: Vec<u8>) -> Value {
    let response = post_form(app, Some(token), file_form(bytes, "me.png", "image/png")).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "uploading an avatar"
    );
    response.json().await.expect("json")
}

async fn random(app: &TestApp, token: &str) -> Value {
    let response = app
        .request(Method::POST, &format!("{AVATARS}/random"), Some(token))
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "generating an avatar"
    );
    response.json().await.expect("json")
}

async fn activate(app: &TestApp, token: &str, avatar_id: i64) -> Response {
    app.request(
        Method::PUT,
        &format!("{AVATARS}/{avatar_id}/active"),
        Some(token),
    )
    .send()
    .await
    .expect("request sent")
}

async fn list(app: &TestApp, user_id: i64) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/users/{user_id}/avatars"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn profile(app: &TestApp, user_id: i64) -> Value {
    let response = app.get(&format!("/api/v1/users/{user_id}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

/// The path of an avatar URL on this server; the URL must point at the files API.
fn path_of(app: &TestApp, url: &Value) -> String {
    let url = url.as_str().expect("url is a string");
    let prefix = format!("{}/api/v1/files/", app.state.config.public_url());
    let uid = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} is not under {prefix}"));
    assert!(!uid.is_empty() && !uid.contains('/'), "uid of {url}");
    format!("/api/v1/files/{uid}")
}

async fn file_row(app: &TestApp, url: &Value) -> files::Model {
    let path = path_of(app, url);
    let uid = path.trim_start_matches("/api/v1/files/");
    files::Entity::find()
        .filter(files::Column::Uid.eq(uid))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("a files row for the avatar")
}

fn active_ids(avatars: &[Value]) -> Vec<i64> {
    avatars
        .iter()
        .filter(|avatar| avatar["is_active"] == true)
        .map(|avatar| avatar["avatar_id"].as_i64().expect("avatar_id"))
        .collect()
}

/// What a refused request must leave alone.
async fn stored(app: &TestApp) -> (i64, i64, Vec<String>) {
    (
        count_rows(app, "avatars").await,
        count_rows(app, "files").await,
        app.stored_objects().await,
    )
}

#[tokio::test]
async fn an_uploaded_avatar_is_served_publicly_and_shown_on_profiles() {
    let app = spawn_app().await;
    let user = app.register("anna").await;
    assert!(me(&app, &user.access_token).await["avatar_url"].is_null());

    let picture = png(40, 30);
    let avatar = upload_png(&app, &user.access_token, picture.clone()).await;
    assert!(avatar["avatar_id"].as_i64().is_some(), "{avatar}");
    assert_eq!(avatar["is_active"], true);
    assert_eq!(avatar["is_random"], false);
    let uploaded_at = avatar["uploaded_at"].as_str().expect("uploaded_at");
    chrono::DateTime::parse_from_rfc3339(uploaded_at).expect("an RFC 3339 time");

    // anyone may fetch the picture
    let response = app.get(&path_of(&app, &avatar["url"]), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.expect("body").as_ref(), picture);

    let file = file_row(&app, &avatar["url"]).await;
    assert_eq!(file.visibility, "public");
    assert_eq!(file.added_user, Some(user.user_id));
    assert_eq!(app.stored_objects().await, vec![file.file_key]);

    assert_eq!(
        me(&app, &user.access_token).await["avatar_url"],
        avatar["url"]
    );
    assert_eq!(
        profile(&app, user.user_id).await["avatar_url"],
        avatar["url"]
    );
    let avatars = list(&app, user.user_id).await;
    assert_eq!(avatars, vec![avatar]);
}

#[tokio::test]
async fn concurrent_avatar_changes_all_succeed_and_leave_one_active() {
    let app = spawn_app().await;
    let user = app.register("concurrent").await;

    // on SQLite these used to fail with "database is locked" (500)
    let generated =
        futures_util::future::join_all((0..12).map(|_| random(&app, &user.access_token))).await;

    let avatars = list(&app, user.user_id).await;
    assert_eq!(avatars.len(), generated.len());
    assert_eq!(active_ids(&avatars).len(), 1, "{avatars:?}");
}

#[tokio::test]
async fn a_random_avatar_is_a_png_and_becomes_the_only_active_one() {
    let app = spawn_app().await;
    let user = app.register("boris").await;
    let uploaded = upload_png(&app, &user.access_token, png(16, 16)).await;

    let generated = random(&app, &user.access_token).await;
    assert_eq!(generated["is_random"], true);
    assert_eq!(generated["is_active"], true);
    assert_ne!(generated["url"], uploaded["url"]);
    let response = app.get(&path_of(&app, &generated["url"]), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.expect("body");
    let image = image::load_from_memory(&bytes).expect("a decodable picture");
    assert_eq!(image.width(), image.height(), "identicons are square");

    let avatars = list(&app, user.user_id).await;
    let ids: Vec<i64> = avatars
        .iter()
        .map(|avatar| avatar["avatar_id"].as_i64().expect("avatar_id"))
        .collect();
    assert_eq!(
        ids,
        vec![
            generated["avatar_id"].as_i64().expect("avatar_id"),
            uploaded["avatar_id"].as_i64().expect("avatar_id"),
        ],
        "newest first"
    );
    assert_eq!(active_ids(&avatars), vec![ids[0]]);
    assert_eq!(avatars[0]["is_random"], true);
    assert_eq!(avatars[1]["is_random"], false);
    assert_eq!(avatars[1]["is_active"], false);
    assert_eq!(
        me(&app, &user.access_token).await["avatar_url"],
        generated["url"]
    );
    assert_eq!(count_rows(&app, "avatars").await, 2);
    assert_eq!(app.stored_objects().await.len(), 2);
}

#[tokio::test]
async fn activating_an_older_avatar_switches_the_profile_picture() {
    let app = spawn_app().await;
    let user = app.register("clara").await;
    let uploaded = upload_png(&app, &user.access_token, png(20, 20)).await;
    let generated = random(&app, &user.access_token).await;
    let uploaded_id = uploaded["avatar_id"].as_i64().expect("avatar_id");

    let response = activate(&app, &user.access_token, uploaded_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let active: Value = response.json().await.expect("json");
    assert_eq!(active["avatar_id"], uploaded_id);
    assert_eq!(active["is_active"], true);
    assert_eq!(active["url"], uploaded["url"]);
    assert_eq!(
        active_ids(&list(&app, user.user_id).await),
        vec![uploaded_id]
    );
    assert_eq!(
        me(&app, &user.access_token).await["avatar_url"],
        uploaded["url"]
    );
    assert_eq!(
        profile(&app, user.user_id).await["avatar_url"],
        uploaded["url"]
    );

    // activating the active one again changes nothing
    let response = activate(&app, &user.access_token, uploaded_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        active_ids(&list(&app, user.user_id).await),
        vec![uploaded_id]
    );

    // and back to the generated one
    let generated_id = generated["avatar_id"].as_i64().expect("avatar_id");
    let response = activate(&app, &user.access_token, generated_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        active_ids(&list(&app, user.user_id).await),
        vec![generated_id]
    );
    assert_eq!(
        me(&app, &user.access_token).await["avatar_url"],
        generated["url"]
    );
}

#[tokio::test]
async fn deleting_the_active_avatar_clears_the_profile_and_removes_the_file() {
    let app = spawn_app().await;
    let user = app.register("dmitri").await;
    let kept = random(&app, &user.access_token).await;
    let avatar = upload_png(&app, &user.access_token, png(24, 24)).await;
    let file = file_row(&app, &avatar["url"]).await;
    assert!(app.stored_objects().await.contains(&file.file_key));

    let response = app
        .delete(
            &format!("{AVATARS}/{}", avatar["avatar_id"]),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert!(me(&app, &user.access_token).await["avatar_url"].is_null());
    assert!(profile(&app, user.user_id).await["avatar_url"].is_null());
    assert_problem(
        app.get(&path_of(&app, &avatar["url"]), None).await,
        StatusCode::NOT_FOUND,
        "file_not_found",
    )
    .await;
    let objects = app.stored_objects().await;
    assert!(!objects.contains(&file.file_key), "blob left: {objects:?}");
    assert_eq!(objects, vec![file_row(&app, &kept["url"]).await.file_key]);
    assert_eq!(
        files::Entity::find_by_id(file.file_id)
            .one(&app.state.db)
            .await
            .expect("query")
            .expect("the row stays")
            .status,
        "deleted"
    );

    // the other avatar stays, inactive: deleting the active one leaves none active
    let avatars = list(&app, user.user_id).await;
    assert_eq!(avatars.len(), 1);
    assert_eq!(avatars[0]["avatar_id"], kept["avatar_id"]);
    assert!(active_ids(&avatars).is_empty());

    // a deleted avatar is gone for good
    assert_problem(
        app.delete(
            &format!("{AVATARS}/{}", avatar["avatar_id"]),
            Some(&user.access_token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "avatar_not_found",
    )
    .await;
    assert_problem(
        activate(
            &app,
            &user.access_token,
            avatar["avatar_id"].as_i64().expect("avatar_id"),
        )
        .await,
        StatusCode::NOT_FOUND,
        "avatar_not_found",
    )
    .await;
}

#[tokio::test]
async fn uploads_that_are_not_avatar_pictures_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let user = app.register("elena").await;
    let token = Some(user.access_token.as_str());
    let before = stored(&app).await;

    // the type is judged from the content, not from the declared one
    for mime in ["text/plain", "image/png"] {
        let form = file_form(b"just some notes\n".to_vec(), "notes.png", mime);
        assert_problem(
            post_form(&app, token, form).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }

    let mut broken = b"\x89PNG\r\n\x1a\n".to_vec();
    broken.extend(b"this is not really a picture".repeat(8));
    let problem = assert_problem(
        post_form(&app, token, file_form(broken, "broken.png", "image/png")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "file", "{problem}");

    // a truncated picture does not decode either
    let mut truncated = png(32, 32);
    truncated.truncate(truncated.len() / 2);
    assert_problem(
        post_form(&app, token, file_form(truncated, "cut.png", "image/png")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let without_file = Form::new().text("note", "no picture here");
    let problem = assert_problem(
        post_form(&app, token, without_file).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "file", "{problem}");

    let wrong_name = Form::new().part(
        "avatar",
        Part::bytes(png(8, 8))
            .file_name("me.png")
            .mime_str("image/png")
            .expect("mime type"),
    );
    assert_problem(
        post_form(&app, token, wrong_name).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    assert_problem(
        post_form(&app, None, file_form(png(8, 8), "me.png", "image/png")).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    assert_problem(
        app.request(Method::POST, &format!("{AVATARS}/random"), None)
            .send()
            .await
            .expect("request sent"),
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;

    assert_eq!(stored(&app).await, before);
    assert!(me(&app, &user.access_token).await["avatar_url"].is_null());
    assert!(list(&app, user.user_id).await.is_empty());
}

#[tokio::test]
async fn avatars_over_the_size_limit_are_refused() {
    let app = spawn_app_with(|config| config.max_avatar_bytes = 1024).await;
    let user = app.register("fedor").await;
    let big = png(256, 256);
    assert!(big.len() > 1024, "the picture must exceed the limit");
    let before = stored(&app).await;

    let problem = assert_problem(
        post_form(
            &app,
            Some(&user.access_token),
            file_form(big, "big.png", "image/png"),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("1024")),
        "{problem}"
    );
    assert_eq!(stored(&app).await, before);
    assert!(me(&app, &user.access_token).await["avatar_url"].is_null());

    // a picture under the limit still goes through
    let small = png(4, 4);
    assert!(small.len() <= 1024);
    let avatar = upload_png(&app, &user.access_token, small).await;
    assert_eq!(
        me(&app, &user.access_token).await["avatar_url"],
        avatar["url"]
    );
}

#[tokio::test]
async fn other_members_cannot_activate_or_delete_my_avatar() {
    let app = spawn_app().await;
    let owner = app.register("galina").await;
    let intruder = app.register("hugo").await;
    let older = upload_png(&app, &owner.access_token, png(10, 10)).await;
    let active = random(&app, &owner.access_token).await;
    let intruders_own = random(&app, &intruder.access_token).await;
    let before = stored(&app).await;

    for target in [&older, &active] {
        let avatar_id = target["avatar_id"].as_i64().expect("avatar_id");
        assert_problem(
            activate(&app, &intruder.access_token, avatar_id).await,
            StatusCode::NOT_FOUND,
            "avatar_not_found",
        )
        .await;
        assert_problem(
            app.delete(
                &format!("{AVATARS}/{avatar_id}"),
                Some(&intruder.access_token),
            )
            .await,
            StatusCode::NOT_FOUND,
            "avatar_not_found",
        )
        .await;
    }
    assert_problem(
        activate(&app, &intruder.access_token, 999_999).await,
        StatusCode::NOT_FOUND,
        "avatar_not_found",
    )
    .await;

    assert_eq!(stored(&app).await, before);
    let avatars = list(&app, owner.user_id).await;
    assert_eq!(avatars.len(), 2);
    assert_eq!(
        active_ids(&avatars),
        vec![active["avatar_id"].as_i64().expect("avatar_id")]
    );
    assert_eq!(
        me(&app, &owner.access_token).await["avatar_url"],
        active["url"]
    );
    for avatar in [&older, &active] {
        let response = app.get(&path_of(&app, &avatar["url"]), None).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // the intruder's own avatar is untouched too
    assert_eq!(
        me(&app, &intruder.access_token).await["avatar_url"],
        intruders_own["url"]
    );

    for (method, path) in [
        (
            Method::PUT,
            format!("{AVATARS}/{}/active", older["avatar_id"]),
        ),
        (Method::DELETE, format!("{AVATARS}/{}", older["avatar_id"])),
    ] {
        assert_problem(
            app.request(method, &path, None)
                .send()
                .await
                .expect("request sent"),
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_users_and_malformed_ids_are_refused() {
    let app = spawn_app().await;
    let user = app.register("irina").await;
    let token = Some(user.access_token.as_str());
    assert!(list(&app, user.user_id).await.is_empty());

    assert_problem(
        app.get("/api/v1/users/999999/avatars", None).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/users/abc/avatars", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
    for (method, path) in [
        (Method::PUT, format!("{AVATARS}/abc/active")),
        (Method::DELETE, format!("{AVATARS}/abc")),
        (Method::PUT, format!("{AVATARS}/1.5/active")),
    ] {
        assert_problem(
            app.request(method, &path, token)
                .send()
                .await
                .expect("request sent"),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        )
        .await;
    }
}

#[tokio::test]
async fn deleting_the_account_removes_its_avatars() {
    let app = spawn_app().await;
    let user = app.register("jakob").await;
    let other = app.register("katya").await;
    upload_png(&app, &user.access_token, png(12, 12)).await;
    random(&app, &user.access_token).await;
    assert_eq!(count_rows(&app, "avatars").await, 2);

    let response = app
        .delete("/api/v1/users/me", Some(&user.access_token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(count_rows(&app, "avatars").await, 0);
    assert_problem(
        app.get(&format!("/api/v1/users/{}/avatars", user.user_id), None)
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;
    // other members are unaffected
    let theirs = random(&app, &other.access_token).await;
    assert_eq!(list(&app, other.user_id).await, vec![theirs]);
}
