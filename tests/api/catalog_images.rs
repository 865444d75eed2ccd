//! Photos of a watch by side: storage under the watch's folder, replacement, deletion,
//! refused uploads and a folder change.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog_watches::{create_watch, get_json, local, moderator, put_photo};
use crate::helpers::{TestApp, assert_problem, count_rows, png, spawn_app, spawn_app_with};
use vitrine::files::entity as files;

fn encoded(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 5) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A PNG of noise, which does not compress.
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state: u32 = 0x9E37_79B9;
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encoded(width, height, image::ImageFormat::Jpeg)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn download(app: &TestApp, url: &Value) -> reqwest::Response {
    app.client.get(local(app, url)).send().await.unwrap()
}

async fn photo(app: &TestApp, token: &str, watch: i64, side: &str, bytes: Vec<u8>) -> Value {
    let response = put_photo(app, Some(token), watch, side, bytes).await;
    assert!(
        response.status() == StatusCode::CREATED || response.status() == StatusCode::OK,
        "PUT {side}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn active_files(app: &TestApp) -> Vec<files::Model> {
    files::Entity::find()
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
        .all(&app.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn photos_are_kept_by_side_in_the_watch_folder() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "vostok_amphibia"})).await["id"]
        .as_i64()
        .unwrap();

    let main_bytes = png(64, 48);
    let response = put_photo(&app, Some(token), watch, "main", main_bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let main: Value = response.json().await.unwrap();
    assert_eq!(main["watch_id"], watch);
    assert_eq!(main["side"], "main");
    assert_eq!(main["mime_type"], "image/png");
    assert_eq!(main["size"], main_bytes.len());
    let uid = main["uid"].as_str().unwrap();
    assert_eq!(
        main["url"],
        format!("{}/api/v1/files/{uid}", app.state.config.public_url())
    );
    assert_eq!(
        main["thumb_url"],
        format!("{}?thumb=256x256", main["url"].as_str().unwrap())
    );

    let left_bytes = jpeg(40, 30);
    let left = photo(&app, token, watch, "left", left_bytes.clone()).await;
    assert_eq!(left["mime_type"], "image/jpeg");
    let bottom = photo(
        &app,
        token,
        watch,
        "bottom",
        encoded(9, 9, image::ImageFormat::Gif),
    )
    .await;
    assert_eq!(bottom["mime_type"], "image/gif");
    assert_eq!(
        app.stored_objects().await,
        [
            "watches/vostok_amphibia/bottom.gif",
            "watches/vostok_amphibia/left.jpg",
            "watches/vostok_amphibia/main.png",
        ]
    );

    let detail = get_json(&app, &format!("/api/v1/watches/{watch}")).await;
    assert_eq!(
        detail["images"]["main"],
        json!({"uid": main["uid"], "url": main["url"], "thumb_url": main["thumb_url"]})
    );
    assert_eq!(detail["images"]["left"]["uid"], left["uid"]);
    assert_eq!(detail["images"]["bottom"]["uid"], bottom["uid"]);
    assert_eq!(detail["images"]["right"], Value::Null);

    // public files anyone may read, thumbnails included
    let response = download(&app, &main["url"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().to_vec(), main_bytes);
    let response = download(&app, &left["url"]).await;
    assert_eq!(response.bytes().await.unwrap().to_vec(), left_bytes);
    let response = download(&app, &main["thumb_url"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let thumb = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert!(thumb.width() <= 256 && thumb.height() <= 256);
    let meta = get_json(&app, &format!("/api/v1/files/{uid}/meta")).await;
    assert_eq!(meta["visibility"], "public");
    assert_eq!(meta["sha256"], sha256(&main_bytes));

    // photos are not held to the JSON body limit (1 MiB)
    let large = noisy_png(700, 700);
    assert!(large.len() > 1024 * 1024);
    let right = photo(&app, token, watch, "right", large.clone()).await;
    let response = download(&app, &right["url"]).await;
    assert_eq!(response.bytes().await.unwrap().len(), large.len());
    let response = app
        .delete(
            &format!("/api/v1/watches/{watch}/images/right"),
            Some(token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // the watch moved on
    assert!(detail["updated_at"].as_str().unwrap() > detail["created_at"].as_str().unwrap());
    assert_eq!(count_rows(&app, "watch_image").await, 3);
}

#[tokio::test]
async fn a_new_photo_of_a_side_replaces_the_old_one_and_its_blob() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "poljot"})).await["id"]
        .as_i64()
        .unwrap();

    let first = photo(&app, token, watch, "main", png(20, 20)).await;
    // a thumbnail made of it must go with it
    assert_eq!(
        download(&app, &first["thumb_url"]).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.stored_objects().await.len(), 2);

    // another type: another key; the old blob and thumbnail are removed
    let response = put_photo(&app, Some(token), watch, "main", jpeg(30, 30)).await;
    assert_eq!(response.status(), StatusCode::OK, "a replacement is 200");
    let second: Value = response.json().await.unwrap();
    assert_eq!(app.stored_objects().await, ["watches/poljot/main.jpg"]);
    assert_eq!(
        download(&app, &first["url"]).await.status(),
        StatusCode::NOT_FOUND
    );
    let old = files::Entity::find()
        .filter(files::Column::Uid.eq(first["uid"].as_str().unwrap()))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.status, files::STATUS_DELETED);

    // the same type: the same key, overwritten in place and not deleted afterwards
    let third_bytes = png(33, 17);
    let third = photo(&app, token, watch, "main", third_bytes.clone()).await;
    assert_eq!(
        download(&app, &third["thumb_url"]).await.status(),
        StatusCode::OK
    );
    let fourth_bytes = png(17, 33);
    let fourth = photo(&app, token, watch, "main", fourth_bytes.clone()).await;
    assert_ne!(third["uid"], fourth["uid"]);
    assert_eq!(app.stored_objects().await, ["watches/poljot/main.png"]);
    let response = download(&app, &fourth["url"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().to_vec(), fourth_bytes);
    for gone in [&second, &third] {
        assert_eq!(
            download(&app, &gone["url"]).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let thumb = download(&app, &fourth["thumb_url"]).await;
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    // the third photo was landscape, the fourth is portrait
    assert!(thumb.width() < thumb.height(), "made of the new photo");

    let live = active_files(&app).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].sha256, sha256(&fourth_bytes));
    assert_eq!(count_rows(&app, "watch_image").await, 1);
    assert_eq!(count_rows(&app, "files").await, 4);
    let detail = get_json(&app, &format!("/api/v1/watches/{watch}")).await;
    assert_eq!(detail["images"]["main"]["uid"], fourth["uid"]);
}

#[tokio::test]
async fn concurrent_photos_of_one_side_leave_one_consistent_photo() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "race"})).await["id"]
        .as_i64()
        .unwrap();
    photo(&app, token, watch, "main", png(5, 5)).await;
    let uploads = (0..4).map(|n| {
        let app = &app;
        async move { put_photo(app, Some(token), watch, "main", png(10 + n, 10)).await }
    });
    for response in futures_util::future::join_all(uploads).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let live = active_files(&app).await;
    assert_eq!(live.len(), 1);
    assert_eq!(count_rows(&app, "watch_image").await, 1);
    assert_eq!(app.stored_objects().await, ["watches/race/main.png"]);
    let detail = get_json(&app, &format!("/api/v1/watches/{watch}")).await;
    let response = download(&app, &detail["images"]["main"]["url"]).await;
    assert_eq!(sha256(&response.bytes().await.unwrap()), live[0].sha256);
}

#[tokio::test]
async fn bad_sides_and_non_images_are_refused() {
    let app = spawn_app_with(|config| config.max_upload_bytes = 4000).await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "vostok"})).await["id"]
        .as_i64()
        .unwrap();

    for side in ["top", "MAIN", "main.png", "front"] {
        let response = put_photo(&app, Some(token), watch, side, png(4, 4)).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_side").await;
        let response = app
            .delete(
                &format!("/api/v1/watches/{watch}/images/{side}"),
                Some(token),
            )
            .await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_side").await;
    }
    let response = put_photo(&app, Some(token), watch + 100, "main", png(4, 4)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "watch_not_found").await;
    let response = app
        .delete(
            &format!("/api/v1/watches/{}/images/main", watch + 100),
            Some(token),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "watch_not_found").await;

    let not_images: [(&[u8], StatusCode, &str); 5] = [
        (
            "Часы «Восток»".as_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            b"\x00\x01\x02\x03binary",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDRbroken",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (b"", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    ];
    for (bytes, status, code) in not_images {
        let response = put_photo(&app, Some(token), watch, "main", bytes.to_vec()).await;
        assert_problem(response, status, code).await;
    }
    let large = noisy_png(60, 60);
    assert!(large.len() > 4000);
    let response = put_photo(&app, Some(token), watch, "main", large).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // sent without a declared length, it is cut off while read
    let response = app
        .request(
            Method::PUT,
            &format!("/api/v1/watches/{watch}/images/left"),
            Some(token),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter([
            Ok::<_, std::io::Error>(noisy_png(60, 60)),
        ])))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let response = app
        .delete(&format!("/api/v1/watches/{watch}/images/main"), Some(token))
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "image_not_found").await;
    assert_eq!(app.stored_objects().await, Vec::<String>::new());
    assert_eq!(count_rows(&app, "files").await, 0);
    assert_eq!(count_rows(&app, "watch_image").await, 0);
}

#[tokio::test]
async fn deleting_a_photo_removes_its_file() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "komandirskie"})).await["id"]
        .as_i64()
        .unwrap();
    let main = photo(&app, token, watch, "main", png(8, 8)).await;
    let right = photo(&app, token, watch, "right", jpeg(8, 8)).await;
    assert_eq!(
        download(&app, &main["thumb_url"]).await.status(),
        StatusCode::OK
    );

    let path = format!("/api/v1/watches/{watch}/images/main");
    let response = app.delete(&path, Some(token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.stored_objects().await,
        ["watches/komandirskie/right.jpg"]
    );
    assert_eq!(
        download(&app, &main["url"]).await.status(),
        StatusCode::NOT_FOUND
    );
    let detail = get_json(&app, &format!("/api/v1/watches/{watch}")).await;
    assert_eq!(detail["images"]["main"], Value::Null);
    assert_eq!(detail["images"]["right"]["uid"], right["uid"]);
    let response = app.delete(&path, Some(token)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "image_not_found").await;
    let list = get_json(&app, "/api/v1/watches").await;
    assert_eq!(list["items"][0]["main_image_url"], Value::Null);
}

#[tokio::test]
async fn a_new_folder_takes_the_photos_along() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "old_name"})).await["id"]
        .as_i64()
        .unwrap();
    let main_bytes = png(12, 12);
    let main = photo(&app, token, watch, "main", main_bytes.clone()).await;
    let left = photo(&app, token, watch, "left", jpeg(12, 12)).await;

    let response = app
        .patch_json(
            &format!("/api/v1/watches/{watch}"),
            Some(token),
            &json!({"folder": "new_name"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let detail: Value = response.json().await.unwrap();
    assert_eq!(detail["images"]["main"]["uid"], main["uid"]);
    assert_eq!(
        app.stored_objects().await,
        ["watches/new_name/left.jpg", "watches/new_name/main.png"]
    );
    let response = download(&app, &main["url"]).await;
    assert_eq!(response.bytes().await.unwrap().to_vec(), main_bytes);
    assert_eq!(download(&app, &left["url"]).await.status(), StatusCode::OK);

    // the old folder is free for another watch and its photos
    let other = create_watch(&app, token, &json!({"folder": "old_name"})).await["id"]
        .as_i64()
        .unwrap();
    photo(&app, token, other, "main", png(7, 7)).await;
    let response = download(&app, &main["url"]).await;
    assert_eq!(response.bytes().await.unwrap().to_vec(), main_bytes);
    assert_eq!(app.stored_objects().await.len(), 3);
}

#[tokio::test]
async fn a_photo_deleted_through_the_files_api_can_be_replaced() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "slava"})).await["id"]
        .as_i64()
        .unwrap();
    let first = photo(&app, token, watch, "main", png(9, 9)).await;
    let uid = first["uid"].as_str().unwrap();
    let response = app
        .delete(&format!("/api/v1/files/{uid}"), Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let detail = get_json(&app, &format!("/api/v1/watches/{watch}")).await;
    assert_eq!(detail["images"]["main"], Value::Null);
    let list = get_json(&app, "/api/v1/watches").await;
    assert_eq!(list["items"][0]["main_image_url"], Value::Null);

    let bytes = png(11, 11);
    let second = photo(&app, token, watch, "main", bytes.clone()).await;
    let response = download(&app, &second["url"]).await;
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(app.stored_objects().await, ["watches/slava/main.png"]);
    assert_eq!(count_rows(&app, "watch_image").await, 1);
    assert_eq!(active_files(&app).await.len(), 1);
}
