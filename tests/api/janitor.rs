//! The janitor, run by hand on a live app: blobs without a row, photos whose replacement
//! never committed, staging files, expired tokens and sessions.

use std::time::Duration;

use chrono::Utc;
use object_store::PutPayload;
use object_store::path::Path as ObjectPath;
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::catalog_watches::{create_watch, local, moderator, put_photo};
use crate::helpers::{TestApp, assert_problem, count_rows, png, spawn_app_with};
use vitrine::accounts::entity::{sessions, tokens};
use vitrine::janitor::{Janitor, Report};

const GRACE_SECS: u64 = 1;

async fn app_with_a_short_grace() -> TestApp {
    spawn_app_with(|config| {
        // run by hand here, never in the background
        config.janitor_interval_secs = 0;
        config.janitor_grace_secs = Some(GRACE_SECS);
    })
    .await
}

/// Lets what was just written grow older than the grace period.
async fn outlast_the_grace() {
    tokio::time::sleep(Duration::from_millis(GRACE_SECS * 1000 + 1100)).await;
}

async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let response = app
        .request(Method::PUT, "/api/v1/files/stream", Some(token))
        .query(&[("name", name)])
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn put_object(app: &TestApp, key: &str, bytes: Vec<u8>) {
    app.state
        .storage
        .store()
        .put(&ObjectPath::from(key), PutPayload::from(bytes))
        .await
        .unwrap();
}

#[tokio::test]
async fn blobs_without_a_row_go_on_their_second_sighting_and_nothing_else_does() {
    let app = app_with_a_short_grace().await;
    let user = app.register("sweeper").await;
    let token = user.access_token.as_str();
    let kept = upload(&app, token, "kept.png", png(40, 30)).await;
    // a deletion committed, then a crash before its blobs were removed
    let deleted = upload(&app, token, "deleted.png", png(50, 50)).await;
    let uid = deleted["uid"].as_str().unwrap();
    let thumb = app
        .get(&format!("/api/v1/files/{uid}?thumb=64x64"), Some(token))
        .await;
    assert_eq!(thumb.status(), StatusCode::OK);
    let row = vitrine::files::repo::find_active(&app.state.db, uid)
        .await
        .unwrap()
        .unwrap();
    vitrine::files::repo::mark_deleted(&app.state.db, row.file_id)
        .await
        .unwrap();
    // a blob written, then a crash before its row was committed
    put_object(&app, "images/2026/01/0190-lost/lost.png", png(10, 10)).await;
    // not ours: outside vitrine's folders
    put_object(&app, "elsewhere/keep.me", b"other tool".to_vec()).await;
    let before = app.stored_objects().await;
    assert_eq!(before.len(), 5, "{before:?}");

    outlast_the_grace().await;
    let mut janitor = Janitor::new(app.state.clone());
    let first = janitor.run_once().await;
    assert_eq!((first.orphans_suspected, first.orphans_removed), (3, 0));
    assert_eq!(
        app.stored_objects().await,
        before,
        "the first sighting removes nothing"
    );
    let second = janitor.run_once().await;
    assert_eq!(
        (second.orphans_removed, second.failures),
        (3, 0),
        "{second:?}"
    );

    let kept_row = vitrine::files::repo::find_active(&app.state.db, kept["uid"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut expected = vec!["elsewhere/keep.me".to_owned(), kept_row.file_key];
    expected.sort();
    assert_eq!(app.stored_objects().await, expected);
    let kept_bytes = app
        .get(
            &format!("/api/v1/files/{}", kept["uid"].as_str().unwrap()),
            Some(token),
        )
        .await;
    assert_eq!(kept_bytes.bytes().await.unwrap().to_vec(), png(40, 30));
}

#[tokio::test]
async fn a_blob_that_gains_a_row_between_runs_stays() {
    let app = app_with_a_short_grace().await;
    let user = app.register("late").await;
    let file = upload(&app, &user.access_token, "late.png", png(20, 20)).await;
    let uid = file["uid"].as_str().unwrap();
    let row = vitrine::files::repo::find_active(&app.state.db, uid)
        .await
        .unwrap()
        .unwrap();
    // as if its row were still being committed at the first run
    vitrine::files::repo::mark_deleted(&app.state.db, row.file_id)
        .await
        .unwrap();
    outlast_the_grace().await;
    let mut janitor = Janitor::new(app.state.clone());
    assert_eq!(janitor.run_once().await.orphans_suspected, 1);
    vitrine::files::entity::Entity::update_many()
        .col_expr(
            vitrine::files::entity::Column::Status,
            Expr::value(vitrine::files::entity::STATUS_ACTIVE),
        )
        .exec(&app.state.db)
        .await
        .unwrap();
    let second = janitor.run_once().await;
    assert_eq!((second.orphans_removed, second.orphans_suspected), (0, 0));
    assert_eq!(app.stored_objects().await, vec![row.file_key]);
}

#[tokio::test]
async fn a_photo_whose_replacement_never_committed_is_put_back() {
    let app = app_with_a_short_grace().await;
    let moderator = moderator(&app).await;
    let token = moderator.access_token.as_str();
    let watch = create_watch(&app, token, &json!({"folder": "amphibia"})).await["id"]
        .as_i64()
        .unwrap();
    let original = png(30, 20);
    let response = put_photo(&app, Some(token), watch, "main", original.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let photo: Value = response.json().await.unwrap();
    // the crash: old bytes set aside, new bytes in place, the new row never committed
    let key = "watches/amphibia/main.png";
    let store = app.state.storage.store();
    store
        .copy(
            &ObjectPath::from(key),
            &ObjectPath::from(format!("{key}.previous")),
        )
        .await
        .unwrap();
    put_object(&app, key, png(99, 99)).await;

    outlast_the_grace().await;
    let mut janitor = Janitor::new(app.state.clone());
    janitor.run_once().await;
    let second = janitor.run_once().await;
    assert_eq!(second.photos_restored, 1, "{second:?}");
    assert_eq!(app.stored_objects().await, vec![key.to_owned()]);
    let served = app
        .client
        .get(local(&app, &photo["url"]))
        .send()
        .await
        .unwrap();
    assert_eq!(served.bytes().await.unwrap().to_vec(), original);
}

#[tokio::test]
async fn unfinished_uploads_of_a_dead_writer_go_and_running_ones_stay() {
    let app = app_with_a_short_grace().await;
    let storage = &app.state.storage;
    let crashed_key = "media/2026/01/0190-crashed/film.mp4";
    let running_key = "media/2026/01/0190-running/film.mp4";
    let _in_progress = storage.register_upload(running_key);
    let _running = storage
        .start_upload(&ObjectPath::from(running_key))
        .await
        .unwrap();
    let Some(root) = storage.local_root().map(|root| root.to_path_buf()) else {
        // S3: an upload with a part, whose writer vanished without aborting it
        let mut crashed = storage
            .start_upload(&ObjectPath::from(crashed_key))
            .await
            .unwrap();
        crashed
            .put_part(PutPayload::from(vec![7u8; 5 * 1024 * 1024]))
            .await
            .unwrap();
        drop(crashed);
        assert_eq!(markers(&app).await, 2);
        outlast_the_grace().await;
        let report = Janitor::new(app.state.clone()).run_once().await;
        assert_eq!(
            (report.uploads_aborted, report.failures),
            (1, 0),
            "{report:?}"
        );
        assert_eq!(
            markers(&app).await,
            1,
            "the running upload keeps its marker"
        );
        return;
    };
    // local disk: the staging file of an upload the crash cut short
    let crashed = root.join(format!("{crashed_key}#1"));
    std::fs::create_dir_all(crashed.parent().unwrap()).unwrap();
    std::fs::write(&crashed, vec![7u8; 4096]).unwrap();
    outlast_the_grace().await;
    let report = Janitor::new(app.state.clone()).run_once().await;
    assert_eq!((report.staging_files, report.staging_bytes), (1, 4096));
    assert!(!crashed.exists());
    assert!(
        !root.join("media/2026/01/0190-crashed").exists(),
        "empty folders go too"
    );
    let running = app.stored_objects().await;
    assert_eq!(
        running.len(),
        1,
        "the running upload's staging file stays: {running:?}"
    );
    assert!(running[0].starts_with(running_key), "{running:?}");
}

async fn markers(app: &TestApp) -> usize {
    use futures_util::TryStreamExt;
    let markers: Vec<_> = app
        .state
        .storage
        .store()
        .list(Some(&ObjectPath::from(vitrine::storage::MARKER_PREFIX)))
        .try_collect()
        .await
        .unwrap();
    markers.len()
}

#[tokio::test]
async fn expired_tokens_and_sessions_without_tokens_are_deleted() {
    let app = app_with_a_short_grace().await;
    let user = app.register("expiring").await;
    // rotating leaves the used token behind, still needed to catch its reuse
    let rotated: Value = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await
        .json()
        .await
        .unwrap();
    // a second session whose last token expired long ago
    app.login(&user.username, &user.password).await;
    let old_session = sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user.user_id))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|session| session.id)
        .max()
        .unwrap();
    let long_ago = Utc::now() - chrono::Duration::days(40);
    tokens::Entity::update_many()
        .col_expr(tokens::Column::ExpiresAt, Expr::value(long_ago))
        .filter(tokens::Column::SessionId.eq(old_session))
        .exec(&app.state.db)
        .await
        .unwrap();
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastSeenAt, Expr::value(long_ago))
        .filter(sessions::Column::Id.eq(old_session))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(count_rows(&app, "tokens").await, 3);

    let report: Report = Janitor::new(app.state.clone()).run_once().await;
    assert_eq!((report.tokens_deleted, report.sessions_deleted), (1, 1));
    assert_eq!(count_rows(&app, "sessions").await, 1);
    assert_eq!(count_rows(&app, "tokens").await, 2);
    let current = rotated["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/users/me", Some(current)).await.status(),
        StatusCode::OK
    );
    // replayed after the reuse interval (its use moved an hour back)
    tokens::Entity::update_many()
        .col_expr(
            tokens::Column::UsedAt,
            Expr::value(Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(tokens::Column::UsedAt.is_not_null())
        .exec(&app.state.db)
        .await
        .unwrap();
    let reuse = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": user.refresh_token}),
        )
        .await;
    assert_problem(reuse, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("janitor_runs_total"), "{metrics}");
    assert!(metrics.contains("janitor_removed_total{kind=\"dead_session\"}"));
}
