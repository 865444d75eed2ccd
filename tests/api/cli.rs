//! The command line (`migrate`, `user create`) and the production start-up rules.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fresh_database, run_vitrine, spawn_app_with, stdout};
use vitrine::config::{Config, Environment, Secret};
use vitrine::startup::Application;

fn production_config(dir: &Path, database_url: Option<String>) -> Config {
    Config {
        env: Environment::Production,
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        log_dir: dir.join("logs"),
        database_url,
        jwt_secret: Some(Secret::new("production-secret-production-secret-0123")),
        ..Config::default()
    }
}

#[tokio::test]
async fn production_refuses_pending_migrations_until_migrate_up() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let refused = Application::build(production_config(dir.path(), database_url.clone())).await;
    let message = format!("{:#}", refused.err().expect("production must not start"));
    assert!(message.contains("pending migration"), "{message}");

    // nothing was created behind the operator's back
    let status = run_vitrine(dir.path(), database_url.as_deref(), &["migrate", "status"]);
    assert!(status.status.success(), "{status:?}");
    assert!(stdout(&status).contains("0 applied"), "{}", stdout(&status));

    let up = run_vitrine(dir.path(), database_url.as_deref(), &["migrate", "up"]);
    assert!(up.status.success(), "{up:?}");
    let status = run_vitrine(dir.path(), database_url.as_deref(), &["migrate"]);
    assert!(status.status.success());
    let status = run_vitrine(dir.path(), database_url.as_deref(), &["migrate", "status"]);
    assert!(stdout(&status).contains("0 pending"), "{}", stdout(&status));
    assert!(stdout(&status).contains("applied  m20261123_000001_accounts"));
    Application::build(production_config(dir.path(), database_url.clone()))
        .await
        .expect("production starts once migrated");

    let down = run_vitrine(dir.path(), database_url.as_deref(), &["migrate", "down"]);
    assert!(down.status.success(), "{down:?}");
    let status = run_vitrine(dir.path(), database_url.as_deref(), &["migrate", "status"]);
    assert!(
        stdout(&status).contains("pending  m20261203_000010_search_joined_words"),
        "{}",
        stdout(&status)
    );
    assert!(
        stdout(&status).contains("applied  m20261202_000009_watch_list_title"),
        "only the last migration is reverted"
    );
}

#[tokio::test]
async fn production_refuses_a_missing_or_default_secret() {
    let dir = tempfile::tempdir().unwrap();
    for secret in [None, Some(vitrine::config::DEVELOPMENT_JWT_SECRET)] {
        let config = Config {
            jwt_secret: secret.map(Secret::new),
            ..production_config(dir.path(), None)
        };
        let message = format!(
            "{:#}",
            Application::build(config).await.err().expect("refused")
        );
        assert!(message.contains("JWT_SECRET"), "{message}");
    }
}

#[tokio::test]
async fn user_create_makes_an_account_that_signs_in_with_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database().await;
    let created = run_vitrine(
        dir.path(),
        database_url.as_deref(),
        &[
            "user",
            "create",
            "--username",
            "keeper",
            "--email",
            "Keeper@Example.com",
            "--password",
            "a long admin password",
            "--role",
            "admin",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    assert!(
        stdout(&created).contains("role admin"),
        "{}",
        stdout(&created)
    );

    let duplicate = run_vitrine(
        dir.path(),
        database_url.as_deref(),
        &[
            "user",
            "create",
            "--username",
            "KEEPER",
            "--email",
            "other@example.com",
            "--password",
            "a long admin password",
        ],
    );
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("taken"));
    for args in [
        [
            "--username",
            "weak",
            "--email",
            "weak@example.com",
            "--password",
            "short",
            "--role",
            "user",
        ],
        [
            "--username",
            "bad",
            "--email",
            "nope",
            "--password",
            "a long password",
            "--role",
            "user",
        ],
        [
            "--username",
            "rooted",
            "--email",
            "r@example.com",
            "--password",
            "a long password",
            "--role",
            "root",
        ],
    ] {
        let mut full = vec!["user", "create"];
        full.extend(args);
        let output = run_vitrine(dir.path(), database_url.as_deref(), &full);
        assert!(!output.status.success(), "{args:?} must be refused");
    }

    let data_dir = dir.path().join("data");
    let app = spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.database_url = database_url;
    })
    .await;
    let session = app
        .login("keeper@example.com", "a long admin password")
        .await;
    assert_eq!(session["user"]["role"], "admin");
    let users = app
        .get("/api/v1/admin/users", session["access_token"].as_str())
        .await;
    assert_eq!(users.status(), StatusCode::OK);
    let users: Value = users.json().await.unwrap();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "refused commands created nothing"
    );
}
