//! `vitrine backup` and `vitrine restore`, run as the real binary beside a serving app, and
//! the server's scheduled backups. On every CI leg: SQLite or PostgreSQL (`pg_dump`), local
//! disk or S3 (blobs stay in the bucket; the backup goes to `s3://bucket/prefix`).

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use object_store::PutPayload;
use object_store::path::Path as ObjectPath;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    TestApp, TestUser, fresh_database, run_vitrine_with, spawn_app, spawn_app_with, stdout,
};
use vitrine::auth::Role;
use vitrine::backup::{Location, read_manifest, schedule};
use vitrine::config::{Config, StorageBackend};
use vitrine::files::entity as files;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The settings the command line needs to reach the app's database and storage.
fn cli_env(config: &Config) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(url) = &config.database_url {
        env.push(("DATABASE_URL".to_owned(), url.clone()));
    }
    if config.storage == StorageBackend::S3 {
        let s3 = &config.s3;
        env.push(("STORAGE".to_owned(), "s3".to_owned()));
        for (name, value) in [
            ("S3_ENDPOINT_URL", s3.endpoint_url.clone()),
            ("S3_BUCKET_NAME", s3.bucket_name.clone()),
            ("S3_ACCESS_KEY", s3.access_key.clone()),
            (
                "S3_SECRET_KEY",
                s3.secret_key.as_ref().map(|key| key.expose().to_owned()),
            ),
        ] {
            if let Some(value) = value {
                env.push((name.to_owned(), value));
            }
        }
    }
    env
}

/// Where a test's backup goes: `s3://{the app's bucket}/backups/{name}` on S3, a
/// directory otherwise.
fn backup_location(app: &TestApp, dir: &Path, name: &str) -> String {
    match &app.state.config.s3.bucket_name {
        Some(bucket) if app.is_s3() => format!("s3://{bucket}/backups/{name}"),
        _ => dir.join(name).display().to_string(),
    }
}

/// Runs the binary with the app's data dir, database and storage.
async fn vitrine_cli(app: &TestApp, args: &[&str]) -> Output {
    let dir = app.data_dir.path().to_path_buf();
    let env = cli_env(&app.state.config);
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_vitrine_with(&dir, None, &env, &args)
    })
    .await
    .unwrap()
}

/// A fresh place to restore into: an empty data dir, a fresh database on PostgreSQL,
/// the original bucket on S3 (where the files stayed).
struct Target {
    dir: tempfile::TempDir,
    database_url: Option<String>,
    env: Vec<(String, String)>,
}

async fn restore_target(app: &TestApp) -> Target {
    let database_url = fresh_database().await;
    let mut env = cli_env(&app.state.config);
    env.retain(|(name, _)| name != "DATABASE_URL");
    if let Some(url) = &database_url {
        env.push(("DATABASE_URL".to_owned(), url.clone()));
    }
    Target {
        dir: tempfile::tempdir().unwrap(),
        database_url,
        env,
    }
}

async fn run_in(target: &Target, args: &[&str]) -> Output {
    let dir = target.dir.path().to_path_buf();
    let env = target.env.clone();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_vitrine_with(&dir, None, &env, &args)
    })
    .await
    .unwrap()
}

async fn spawn_restored(app: &TestApp, target: &Target) -> TestApp {
    let data_dir = target.dir.path().join("data");
    let database_url = target.database_url.clone();
    let s3 = app.state.config.s3.clone();
    let storage = app.state.config.storage;
    spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.database_url = database_url;
        config.storage = storage;
        config.s3 = s3;
    })
    .await
}

async fn upload(app: &TestApp, user: &TestUser, name: &str, body: String) -> Value {
    let response = app
        .request(
            Method::PUT,
            &format!("/api/v1/files/stream?name={name}"),
            Some(&user.access_token),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "uploading {name}");
    response.json().await.unwrap()
}

fn text(seed: usize, lines: usize) -> String {
    (0..lines)
        .map(|line| format!("file {seed}, line {line}: the quick brown fox\n"))
        .collect()
}

/// Registers members, uploads files, creates watches and (on local disk, where the
/// backup holds the blobs) deletes files, until told to stop.
fn spawn_writer(app: Arc<TestApp>, curator: TestUser, stop: Arc<AtomicBool>) -> Arc<AtomicUsize> {
    let rounds = Arc::new(AtomicUsize::new(0));
    let done = rounds.clone();
    tokio::spawn(async move {
        let mut round = 0;
        while !stop.load(Ordering::SeqCst) {
            let member = app.register(&format!("writer{round}")).await;
            let file = upload(&app, &member, "w.txt", text(1000 + round, 200)).await;
            let watch = app
                .post_json(
                    "/api/v1/watches",
                    Some(&curator.access_token),
                    &json!({"folder": format!("written_{round}")}),
                )
                .await;
            assert_eq!(watch.status(), StatusCode::CREATED);
            if !app.is_s3() && round % 2 == 1 {
                let uid = file["uid"].as_str().unwrap();
                let deleted = app
                    .delete(&format!("/api/v1/files/{uid}"), Some(&member.access_token))
                    .await;
                assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
            }
            round += 1;
            done.store(round, Ordering::SeqCst);
        }
    });
    rounds
}

async fn wait_for_rounds(rounds: &AtomicUsize, at_least: usize) {
    for _ in 0..600 {
        if rounds.load(Ordering::SeqCst) >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the writer did not get through {at_least} rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_writes_restores_with_every_blob_and_is_served() {
    let app = Arc::new(spawn_app().await);
    let keeper = app.register_with_role("keeper", Role::Admin).await;
    let curator = app.register_with_role("curator", Role::Moderator).await;
    let member = app.register("collector").await;
    let kept_body = text(1, 300);
    let kept = upload(&app, &member, "kept.txt", kept_body.clone()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = spawn_writer(app.clone(), curator, stop.clone());
    wait_for_rounds(&rounds, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = backup_location(&app, dir.path(), "under-writes");
    let backup = vitrine_cli(&app, &["backup", &dest]).await;
    wait_for_rounds(&rounds, rounds.load(Ordering::SeqCst) + 2).await;
    stop.store(true, Ordering::SeqCst);
    assert!(backup.status.success(), "{}", stderr(&backup));
    assert!(
        stdout(&backup).contains("backup written"),
        "{}",
        stdout(&backup)
    );

    // the destination is taken: a second backup there is refused
    let again = vitrine_cli(&app, &["backup", &dest]).await;
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already holds a backup"),
        "{}",
        stderr(&again)
    );

    let target = restore_target(&app).await;
    let restored = run_in(&target, &["restore", &dest]).await;
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("restore check passed"),
        "{}",
        stdout(&restored)
    );

    let manifest = read_manifest(&Location::parse(&dest, &app.state.config.s3).unwrap())
        .await
        .unwrap();
    let restored_app = spawn_restored(&app, &target).await;
    let report = vitrine::backup::check(
        &restored_app.state.db,
        &restored_app.state.storage,
        &manifest,
    )
    .await
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(manifest.counts["users"] >= 5, "{:?}", manifest.counts);
    assert_eq!(manifest.counts["files"], manifest.files.len() as i64);

    // the restored server serves every file, byte for byte, and its members sign in
    let admin = restored_app.login("keeper", &keeper.password).await;
    let token = admin["access_token"].as_str().unwrap();
    let rows = files::Entity::find()
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
        .all(&restored_app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), manifest.files.len());
    for row in &rows {
        let response = restored_app
            .get(&format!("/api/v1/files/{}", row.uid), Some(token))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{}", row.file_key);
        let body = response.bytes().await.unwrap();
        assert_eq!(sha256_hex(&body), row.sha256, "{}", row.file_key);
    }
    let kept_uid = kept["uid"].as_str().unwrap();
    let body = restored_app
        .get(&format!("/api/v1/files/{kept_uid}"), Some(token))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(body, kept_body);
    restored_app.login("collector", &member.password).await;
    let watches: Value = restored_app
        .get("/api/v1/watches?limit=100", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        watches["items"].as_array().unwrap().len() as i64,
        manifest.counts["watches"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_blob_is_reported_by_the_restore_check() {
    let app = spawn_app().await;
    let member = app.register("collector").await;
    let sound = upload(&app, &member, "sound.txt", text(1, 50)).await;
    let damaged = upload(&app, &member, "damaged.txt", text(2, 50)).await;
    let key_of = |file: &Value| {
        let uid = file["uid"].as_str().unwrap().to_owned();
        let db = app.state.db.clone();
        async move {
            files::Entity::find()
                .filter(files::Column::Uid.eq(uid))
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .file_key
        }
    };
    let damaged_key = key_of(&damaged).await;
    let sound_key = key_of(&sound).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = backup_location(&app, dir.path(), "to-damage");
    let backup = vitrine_cli(&app, &["backup", &dest]).await;
    assert!(backup.status.success(), "{}", stderr(&backup));

    let spoiled = PutPayload::from(text(3, 50).into_bytes());
    if app.is_s3() {
        // the blobs stayed in the bucket: spoil it there
        app.state
            .storage
            .store()
            .put(&ObjectPath::from(damaged_key.as_str()), spoiled)
            .await
            .unwrap();
    } else {
        let copy = dir.path().join("to-damage/files").join(&damaged_key);
        assert!(copy.is_file(), "the backup holds {damaged_key}");
        std::fs::write(copy, text(3, 50)).unwrap();
    }

    let target = restore_target(&app).await;
    let restored = run_in(&target, &["restore", &dest]).await;
    assert!(!restored.status.success(), "{}", stdout(&restored));
    let errors = stderr(&restored);
    assert!(
        errors.contains(&format!("{damaged_key}: checksum mismatch")),
        "{errors}"
    );
    assert!(!errors.contains(&sound_key), "{errors}");
    assert!(errors.contains("found 1 problem"), "{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_blob_that_differs_from_its_row_is_named_by_the_backup() {
    let app = spawn_app().await;
    let member = app.register("collector").await;
    let file = upload(&app, &member, "spoiled.txt", text(1, 50)).await;
    let uid = file["uid"].as_str().unwrap();
    let key = files::Entity::find()
        .filter(files::Column::Uid.eq(uid))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .file_key;
    // another length, so that S3, where only the size is looked up, sees it too
    app.state
        .storage
        .store()
        .put(
            &ObjectPath::from(key.as_str()),
            PutPayload::from(text(2, 60).into_bytes()),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let dest = backup_location(&app, dir.path(), "spoiled");
    let backup = vitrine_cli(&app, &["backup", &dest]).await;
    assert!(!backup.status.success(), "{}", stdout(&backup));
    assert!(
        stderr(&backup).contains(&format!("damaged: {key}")),
        "{}",
        stderr(&backup)
    );
    // the rest is written, and the restore check names the file again
    let manifest = read_manifest(&Location::parse(&dest, &app.state.config.s3).unwrap())
        .await
        .unwrap();
    assert_eq!(manifest.files.len(), 1);
    let target = restore_target(&app).await;
    let restored = run_in(&target, &["restore", &dest]).await;
    assert!(!restored.status.success());
    assert!(stderr(&restored).contains(&key), "{}", stderr(&restored));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_data_directory_in_use_unless_forced() {
    let app = spawn_app().await;
    let member = app.register("collector").await;
    upload(&app, &member, "one.txt", text(1, 20)).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = backup_location(&app, dir.path(), "forced");
    let backup = vitrine_cli(&app, &["backup", &dest]).await;
    assert!(backup.status.success(), "{}", stderr(&backup));

    let target = restore_target(&app).await;
    // a database with the schema in it, and its data directory
    let migrated = run_in(&target, &["migrate", "up"]).await;
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    std::fs::create_dir_all(target.dir.path().join("data")).unwrap();
    std::fs::write(target.dir.path().join("data/notes.txt"), "mine").unwrap();

    let refused = run_in(&target, &["restore", &dest]).await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not empty"),
        "{}",
        stderr(&refused)
    );

    let forced = run_in(&target, &["restore", "--force", &dest]).await;
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stdout(&forced).contains("restore check passed"));
    let restored_app = spawn_restored(&app, &target).await;
    restored_app.login("collector", &member.password).await;
}

fn scheduled_root(config: &Config, local_root: &Path) -> String {
    match (&config.storage, &config.s3.bucket_name) {
        (StorageBackend::S3, Some(bucket)) => format!("s3://{bucket}/scheduled"),
        _ => local_root.display().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_takes_backups_on_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let local_root = dir.path().join("scheduled");
    let app = spawn_app_with(|config| {
        config.backup_every = "1s".into();
        config.backup_to = scheduled_root(config, &local_root);
    })
    .await;

    // this app's own folder, not the metrics: other apps in the process count there too
    let root = Location::parse(&app.state.config.backup_to, &app.state.config.s3).unwrap();
    let (mut finished, mut runs, mut metrics) = (0, 0, String::new());
    for _ in 0..600 {
        finished = 0;
        for name in root.folders().await.unwrap_or_default() {
            if read_manifest(&root.child(&name)).await.is_ok() {
                finished += 1;
            }
        }
        // the run is counted once its manifest is written, a moment later
        metrics = app.get("/metrics", None).await.text().await.unwrap();
        runs = metrics
            .lines()
            .find(|line| line.starts_with("backup_runs_total{outcome=\"ok\"}"))
            .and_then(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if finished >= 1 && runs >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(finished >= 1, "no scheduled backup finished under {root}");
    assert!(runs >= 1, "the run is counted: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_only_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let local_root = dir.path().join("scheduled");
    let app = spawn_app_with(|config| {
        config.backup_keep = 2;
        config.backup_to = scheduled_root(config, &local_root);
    })
    .await;
    let member = app.register("collector").await;
    upload(&app, &member, "one.txt", text(1, 20)).await;
    let root = Location::parse(&app.state.config.backup_to, &app.state.config.s3).unwrap();

    let mut taken = Vec::new();
    for _ in 0..3 {
        let written = schedule::run_once(&app.state, &root).await.unwrap();
        assert_eq!(written.manifest.files.len(), 1);
        taken.push(root.folders().await.unwrap().last().unwrap().clone());
    }
    assert_eq!(root.folders().await.unwrap(), taken[1..].to_vec());
}
