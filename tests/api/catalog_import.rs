//! `vitrine import catalog` and `vitrine import images`, then what the API serves.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    fresh_database, png, run_vitrine, run_vitrine_with, s3_storage_env, spawn_app_with, stdout,
};

fn sample(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_sample_catalog_imports_once_and_is_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let db = database_url.as_deref();
    let first = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", &sample("catalog.json")],
    );
    assert!(first.status.success(), "{first:?}");
    assert!(
        stdout(&first).contains("created 36, updated 0, unchanged 0, rejected 0"),
        "{}",
        stdout(&first)
    );
    let again = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", &sample("catalog.json")],
    );
    assert!(
        stdout(&again).contains("created 0, updated 0, unchanged 36, rejected 0"),
        "{}",
        stdout(&again)
    );
    let csv = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", &sample("catalog.csv")],
    );
    assert!(
        stdout(&csv).contains("unchanged 6, rejected 0"),
        "{}",
        stdout(&csv)
    );

    // a changed record is updated in place
    let changed = dir.path().join("changed.json");
    std::fs::write(
        &changed,
        r#"[{"folder": "vostok_amphibia_420059", "code": "420059", "brand": "Восток", "aliases": ["Амфибия", "Скуба Дуд"]}]"#,
    )
    .unwrap();
    let update = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", changed.to_str().unwrap()],
    );
    assert!(
        stdout(&update).contains("created 0, updated 1"),
        "{}",
        stdout(&update)
    );

    let data_dir = dir.path().join("data");
    let app = spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.database_url = database_url;
    })
    .await;
    let found: Value = app
        .get("/api/v1/watches?q=скуба", None)
        .await
        .json()
        .await
        .unwrap();
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["folder"], "vostok_amphibia_420059");
    let amphibias: Value = app
        .get("/api/v1/watches?q=амфиб&limit=100", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        amphibias["items"].as_array().unwrap().len(),
        3,
        "{amphibias}"
    );
    let by_brand: Value = app
        .get("/api/v1/watches?q=ВОСТОК&limit=100", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_brand["items"].as_array().unwrap().len(), 8, "{by_brand}");
    let poljot: Value = app
        .get("/api/v1/watches?q=полет&limit=100", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        poljot["items"].as_array().unwrap().len() >= 5,
        "ё and е match: {poljot}"
    );
}

#[tokio::test]
async fn rejected_records_are_listed_with_reasons_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let db = database_url.as_deref();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"[{"folder": "../escape"}, {"folder": "years", "start_release": 1990, "end_release": 1980, "brand": "Новый бренд"},
            {"folder": "typo", "colour": "red"}, {"folder": "fine", "brand": "Заря"}]"#,
    )
    .unwrap();
    let output = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", file.to_str().unwrap()],
    );
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    for bad in ["missing.json", "catalog.txt"] {
        let output = run_vitrine(dir.path(), db, &["import", "catalog", bad]);
        assert!(!output.status.success());
    }
    assert!(
        text.contains("created 1, updated 0, unchanged 0, rejected 3"),
        "{text}"
    );
    assert!(text.contains("rejected ../escape: folder"), "{text}");
    assert!(
        text.contains("rejected years: end_release must not be before start_release"),
        "{text}"
    );
    assert!(
        text.contains("rejected typo: unknown field `colour`"),
        "{text}"
    );

    let data_dir = dir.path().join("data");
    let app = spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.database_url = database_url;
    })
    .await;
    let brands: Value = app.get("/api/v1/brands", None).await.json().await.unwrap();
    let names = brands.to_string();
    assert!(names.contains("Заря"), "{names}");
    assert!(
        !names.contains("Новый бренд"),
        "a rejected record leaves no reference behind: {names}"
    );
}

#[tokio::test]
async fn photos_are_imported_by_folder_and_side() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let db = database_url.as_deref();
    let imported = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", &sample("catalog.json")],
    );
    assert!(imported.status.success(), "{imported:?}");
    let photos = dir.path().join("photos");
    let folder = photos.join("raketa_big_zero");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("main.png"), png(64, 48)).unwrap();
    std::fs::write(folder.join("left.png"), png(32, 32)).unwrap();
    std::fs::write(folder.join("right.jpg"), b"not an image at all").unwrap();
    std::fs::write(folder.join("top.png"), png(8, 8)).unwrap();
    std::fs::create_dir_all(photos.join("no_such_watch")).unwrap();
    std::fs::write(photos.join("no_such_watch").join("main.png"), png(8, 8)).unwrap();

    // the command line stores photos where the app will read them
    let storage = s3_storage_env();
    let env = storage
        .as_ref()
        .map(|(_, env)| env.clone())
        .unwrap_or_default();
    let bucket = storage.map(|(bucket, _)| bucket);
    let output = run_vitrine_with(
        dir.path(),
        db,
        &env,
        &["import", "images", photos.to_str().unwrap()],
    );
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("created 2, updated 0, unchanged 0, rejected 3"),
        "{text} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("no watch with folder no_such_watch"),
        "{text}"
    );
    let again = run_vitrine_with(
        dir.path(),
        db,
        &env,
        &["import", "images", photos.to_str().unwrap()],
    );
    assert!(
        stdout(&again).contains("created 0, updated 2"),
        "{}",
        stdout(&again)
    );

    let data_dir = dir.path().join("data");
    let app = spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.database_url = database_url;
        if let Some(bucket) = bucket {
            config.s3.bucket_name = Some(bucket);
        }
    })
    .await;
    let list: Value = app
        .get("/api/v1/watches?q=raketa_big_zero", None)
        .await
        .json()
        .await
        .unwrap();
    let id = list["items"][0]["id"].as_i64().unwrap();
    let watch: Value = app
        .get(&format!("/api/v1/watches/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    let main = watch["images"]["main"]["url"]
        .as_str()
        .expect("a main photo");
    let path = main
        .split_once("/api/v1/")
        .map(|(_, rest)| format!("/api/v1/{rest}"))
        .unwrap();
    let response = app.get(&path, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert!(watch["images"]["left"].is_object());
    assert!(watch["images"]["right"].is_null());
}
