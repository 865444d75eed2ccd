//! `vitrine import catalog` and `vitrine import images`, then what the API serves.

use std::path::Path;

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, fresh_database, png, run_vitrine, run_vitrine_with, s3_storage_env, spawn_app_with,
    stdout,
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
    // the sample agrees with itself
    assert!(!stdout(&first).contains("warning"), "{}", stdout(&first));
    if let Some(url) = db {
        // PostgreSQL plans the next reads from statistics of the imported rows, and its
        // index-only scans need not read the table
        let postgres = sea_orm::Database::connect(url).await.unwrap();
        let analysed = postgres
            .query_one(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_user_tables \
                 WHERE relname IN ('watch', 'alias', 'watch_search_token') \
                 AND last_analyze IS NOT NULL AND last_vacuum IS NOT NULL",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(analysed.try_get::<i64>("", "n").unwrap(), 3);
        postgres.close().await.unwrap();
    }
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

/// Writes `records` to `dir/name` and imports them `batch_size` records per transaction.
fn import_json(
    dir: &Path,
    db: Option<&str>,
    name: &str,
    records: &Value,
    batch_size: usize,
) -> String {
    let file = dir.join(name);
    std::fs::write(&file, records.to_string()).unwrap();
    let output = run_vitrine(
        dir,
        db,
        &[
            "import",
            "catalog",
            "--batch-size",
            &batch_size.to_string(),
            file.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    stdout(&output)
}

/// The app over the database an import wrote.
async fn app_over(dir: &Path, database_url: Option<String>) -> TestApp {
    let data_dir = dir.join("data");
    spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.database_url = database_url;
    })
    .await
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// The watch with this folder, as the API shows it.
async fn watch_by_folder(app: &TestApp, folder: &str) -> Value {
    let found = get_json(app, &format!("/api/v1/watches?q={folder}&limit=100")).await;
    let item = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["folder"] == folder)
        .unwrap_or_else(|| panic!("no watch {folder}: {found}"))
        .clone();
    get_json(app, &format!("/api/v1/watches/{}", item["id"])).await
}

async fn folders_found(app: &TestApp, q: &str) -> Vec<String> {
    let found = get_json(app, &format!("/api/v1/watches?q={q}&limit=100")).await;
    let mut folders: Vec<String> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["folder"].as_str().unwrap().to_owned())
        .collect();
    folders.sort();
    folders
}

#[tokio::test]
async fn a_bad_record_inside_a_batch_is_rejected_and_the_rest_of_its_batch_kept() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let db = database_url.as_deref();
    let records = json!([
        {"folder": "w01", "code": "C1", "brand": "Заря"},
        {"folder": "w02", "brand": "заря"},
        {"folder": "bad folder", "brand": "Заря"},
        {"folder": "w04", "aliases": ["Четвёртые"]},
        {"folder": "w05", "mechanism": {"name": "Бесфабричный", "functions": ["будильник"]}},
        {"folder": "w06", "start_release": 1990, "end_release": 1980, "brand": "Бренд отвергнутой записи"},
        {"folder": "w07", "code": "C1", "factory": "Фабрика отвергнутой записи"},
        {"folder": "w08", "colour": "red"},
        {"folder": "w09", "mechanism": {"name": "бесфабричный", "stones": 500}},
        {"folder": "w10", "mechanism": {"name": "БЕСФАБРИЧНЫЙ"}}
    ]);

    let text = import_json(dir.path(), db, "mixed.json", &records, 4);

    assert!(
        text.contains("created 5, updated 0, unchanged 0, rejected 5"),
        "{text}"
    );
    let reasons = [
        "rejected bad folder: folder",
        "rejected w06: end_release must not be before start_release",
        "rejected w07: another watch already has the code `C1`",
        "rejected w08: unknown field `colour`",
        "rejected w09: stones must be between 0 and 200",
    ];
    let mut last = 0;
    for reason in reasons {
        let at = text
            .find(reason)
            .unwrap_or_else(|| panic!("{reason} missing: {text}"));
        assert!(at > last, "rejections are listed in file order: {text}");
        last = at;
    }
    let again = import_json(dir.path(), db, "mixed.json", &records, 4);
    assert!(
        again.contains("created 0, updated 0, unchanged 5, rejected 5"),
        "{again}"
    );

    let app = app_over(dir.path(), database_url).await;
    let brands = get_json(&app, "/api/v1/brands").await.to_string();
    assert!(brands.contains("Заря"), "{brands}");
    assert!(!brands.contains("отвергнутой"), "{brands}");
    let factories = get_json(&app, "/api/v1/factories").await.to_string();
    assert!(!factories.contains("отвергнутой"), "{factories}");
    let mechanisms = get_json(&app, "/api/v1/mechanisms").await;
    assert_eq!(
        mechanisms["items"].as_array().unwrap().len(),
        1,
        "one mechanism without factory, found in any case: {mechanisms}"
    );
    assert_eq!(
        folders_found(&app, "w").await,
        ["w01", "w02", "w04", "w05", "w10"]
    );
    assert_eq!(folders_found(&app, "четвертые").await, ["w04"]);
    assert_eq!(folders_found(&app, "заря").await, ["w01", "w02"]);
    let w10 = watch_by_folder(&app, "w10").await;
    assert_eq!(w10["mechanism"]["name"], "Бесфабричный");
}

#[tokio::test]
async fn a_batch_the_database_refuses_is_written_again_record_by_record() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let db = database_url.as_deref();
    // the same function twice: the database refuses the second link of the new mechanism,
    // which no check foresees
    let records = json!([
        {"folder": "a", "factory": "ЧЧЗ", "mechanism": {"name": "2414"}},
        {"folder": "b", "factory": "ЧЧЗ", "mechanism": {"name": "2416", "functions": ["календарь", "Календарь"]}},
        {"folder": "c", "factory": "ччз", "mechanism": {"name": "2414"}, "brand": "Восток"},
        {"folder": "d", "factory": "ЧЧЗ", "mechanism": {"name": "2414"}, "brand": "ВОСТОК"},
        {"folder": "e", "factory": "ЧЧЗ", "brand": "Восток"}
    ]);

    let text = import_json(dir.path(), db, "refused.json", &records, 3);

    assert!(
        text.contains("created 4, updated 0, unchanged 0, rejected 1"),
        "{text}"
    );
    assert!(
        text.contains("rejected b: a record with these values already exists"),
        "{text}"
    );
    let again = import_json(dir.path(), db, "refused.json", &records, 3);
    assert!(
        again.contains("created 0, updated 0, unchanged 4, rejected 1"),
        "{again}"
    );
    let app = app_over(dir.path(), database_url).await;
    let mechanisms = get_json(&app, "/api/v1/mechanisms").await;
    let names: Vec<&str> = mechanisms["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2414"], "{mechanisms}");
    let functions = get_json(&app, "/api/v1/functions").await.to_string();
    assert!(!functions.contains("алендарь"), "{functions}");
    let brands = get_json(&app, "/api/v1/brands").await;
    assert_eq!(
        brands["items"].as_array().map(Vec::len),
        Some(1),
        "{brands}"
    );
    assert_eq!(folders_found(&app, "восток").await, ["c", "d", "e"]);
}

#[tokio::test]
async fn re_imports_update_in_place_whatever_the_batch_size() {
    let first = json!([
        {"folder": "p1", "code": "X", "brand": "Полёт"},
        {"folder": "p2", "code": "Y", "brand": "Полёт"},
        {"folder": "p3", "aliases": ["Старое имя"]},
        {"folder": "p4", "gender": "мужские"},
        {"folder": "p5", "brand": "Ракета"}
    ]);
    // p1 gives up X, which p2 takes, giving up Y, which the new p6 takes; p5 is there
    // twice, the second time changed
    let second = json!([
        {"folder": "p1", "code": "Z", "brand": "Полёт"},
        {"folder": "p2", "code": "X", "brand": "Полёт"},
        {"folder": "p6", "code": "Y"},
        {"folder": "p3", "aliases": ["Новое имя", "новое ИМЯ"]},
        {"folder": "p4", "gender": "Мужские"},
        {"folder": "p5", "brand": "Ракета"},
        {"folder": "p5", "brand": "Слава"}
    ]);
    for batch_size in [1, 2, 3, 500] {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database().await;
        let db = database_url.as_deref();
        let text = import_json(dir.path(), db, "first.json", &first, batch_size);
        assert!(
            text.contains("created 5, updated 0"),
            "{batch_size}: {text}"
        );

        let text = import_json(dir.path(), db, "second.json", &second, batch_size);

        assert!(
            text.contains("created 1, updated 4, unchanged 2, rejected 0"),
            "{batch_size}: {text}"
        );
        let app = app_over(dir.path(), database_url).await;
        for (folder, code) in [("p1", "Z"), ("p2", "X"), ("p6", "Y")] {
            assert_eq!(watch_by_folder(&app, folder).await["code"], code);
        }
        let p3 = watch_by_folder(&app, "p3").await;
        assert_eq!(p3["aliases"], json!(["Новое имя"]), "{batch_size}");
        assert_eq!(folders_found(&app, "новое").await, ["p3"]);
        assert!(folders_found(&app, "старое").await.is_empty());
        assert_eq!(watch_by_folder(&app, "p5").await["brand"]["name"], "Слава");
        assert_eq!(folders_found(&app, "ракета").await, Vec::<String>::new());
        assert_eq!(folders_found(&app, "полет").await, ["p1", "p2"]);
        let watches = get_json(&app, "/api/v1/watches?limit=100").await;
        assert_eq!(
            watches["items"].as_array().unwrap().len(),
            6,
            "{batch_size}"
        );
    }
}

#[tokio::test]
async fn files_that_cannot_be_read_whole_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let db = database_url.as_deref();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, r#"[{"folder": "first"}, {"folder": "sec"#).unwrap();
    let output = run_vitrine(
        dir.path(),
        db,
        &["import", "catalog", cut.to_str().unwrap()],
    );
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a JSON array"),
        "{output:?}"
    );
    let zero = run_vitrine(
        dir.path(),
        db,
        &[
            "import",
            "catalog",
            "--batch-size",
            "0",
            &sample("catalog.json"),
        ],
    );
    assert!(!zero.status.success(), "{zero:?}");

    let app = app_over(dir.path(), database_url).await;
    let watches = get_json(&app, "/api/v1/watches").await;
    assert_eq!(watches["items"], json!([]), "{watches}");
}

#[tokio::test]
async fn a_mechanism_defined_twice_differently_is_reported_with_both_records() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let mechanism = |functions: Value| json!({"name": "2623.Н", "type": "механические", "stones": 19, "functions": functions});
    let records = json!([
        {"folder": "raketa_polar", "factory": "ПЧЗ", "mechanism": mechanism(json!(["24-часовая индикация"]))},
        {"folder": "raketa_same", "factory": "ПЧЗ", "mechanism": mechanism(json!(["24-ЧАСОВАЯ ИНДИКАЦИЯ"]))},
        {"folder": "raketa_world", "factory": "ПЧЗ",
         "mechanism": mechanism(json!(["24-часовая индикация", "мировое время"]))},
        // another factory's calibre of the same name is another mechanism
        {"folder": "other_factory", "factory": "Слава", "mechanism": mechanism(json!([]))},
    ]);
    let text = import_json(
        dir.path(),
        database_url.as_deref(),
        "twice.json",
        &records,
        500,
    );
    assert!(
        text.contains("created 4, updated 0, unchanged 0, rejected 0"),
        "{text}"
    );
    let warnings: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("2623.Н"), "{text}");
    assert!(warnings[0].contains("raketa_polar"), "{text}");
    assert!(warnings[0].contains("raketa_world"), "{text}");
    assert!(warnings[0].contains("мировое время"), "{text}");
}
