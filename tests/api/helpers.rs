//! `spawn_app` and typed request helpers shared by every test file.

use std::path::Path;
use std::process::{Command, Output};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, EntityTrait, Set};
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use vitrine::accounts::entity::users;
use vitrine::auth::Role;
use vitrine::config::{Config, S3Config, Secret, StorageBackend};
use vitrine::startup::Application;
use vitrine::state::AppState;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: TempDir,
}

/// A member registered through the API.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with a fresh database and data directory; `configure` adjusts the
/// settings before start.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.path().join("data"),
        log_dir: data_dir.path().join("logs"),
        login_limit_per_ip: 1000,
        login_limit_per_account: 1000,
        register_limit_per_ip: 1000,
        chat_send_burst: 10_000,
        chat_send_per_minute: 10_000,
        // tests that write rows directly would otherwise read cached answers
        catalog_cache_ttl_secs: 0,
        // tests of the janitor run it themselves; in the background it would race the
        // rows other tests write directly
        janitor_interval_secs: 0,
        ..Config::default()
    };
    config.database_url = fresh_database().await;
    if let Ok(endpoint) = std::env::var("TEST_S3_ENDPOINT") {
        // a bucket of its own per test, created by the app at start
        config.storage = StorageBackend::S3;
        config.s3 = S3Config {
            endpoint_url: Some(endpoint),
            bucket_name: Some(format!("vt-{}", Uuid::new_v4().simple())),
            access_key: std::env::var("TEST_S3_ACCESS_KEY").ok(),
            secret_key: std::env::var("TEST_S3_SECRET_KEY").ok().map(Secret::new),
            create_bucket: true,
            ..S3Config::default()
        };
    }
    if let Ok(redis_url) = std::env::var("TEST_REDIS_URL") {
        config.redis_url = Some(redis_url);
        config.redis_key_prefix = format!("test-{}", Uuid::new_v4().simple());
    }
    configure(&mut config);
    let application = Application::build(config).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let state = application.state();
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        state,
        data_dir,
    }
}

/// `None` (SQLite in the data dir) unless `TEST_DATABASE_URL` names a PostgreSQL server,
/// in which case every test gets a database of its own.
pub async fn fresh_database() -> Option<String> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
    let name = format!("vitrine_test_{}", Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    Some(url.to_string())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Response {
        self.request(method, path, token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send_json(Method::POST, path, token, body).await
    }

    pub async fn patch_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, token, body).await
    }

    /// Sends a raw body with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: &'static str) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let response = self
            .post_json(
                "/api/v1/auth/register",
                None,
                &json!({"username": username, "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {username}"
        );
        let body: Value = response.json().await.expect("json");
        TestUser {
            user_id: body["user"]["user_id"].as_i64().expect("user_id"),
            username: username.to_owned(),
            email,
            password: PASSWORD.to_owned(),
            access_token: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh_token: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }

    /// Registers a member, gives them `role` in the database and signs them in again so
    /// their token carries it.
    pub async fn register_with_role(&self, username: &str, role: Role) -> TestUser {
        let user = self.register(username).await;
        let model = users::Entity::find_by_id(user.user_id)
            .one(&self.state.db)
            .await
            .expect("query")
            .expect("user row");
        let mut active: users::ActiveModel = model.into();
        active.role = Set(role.as_str().to_owned());
        active.update(&self.state.db).await.expect("role saved");
        self.login(&user.username, &user.password)
            .await
            .with_name(user)
    }

    pub async fn login(&self, login: &str, password: &str) -> Value {
        let response = self
            .post_json(
                "/api/v1/auth/login",
                None,
                &json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "signing in as {login}");
        response.json().await.expect("json")
    }

    pub fn is_s3(&self) -> bool {
        self.state.config.storage == StorageBackend::S3
    }

    /// Every object in storage, whichever backend the test runs on.
    pub async fn stored_objects(&self) -> Vec<String> {
        use futures_util::TryStreamExt;
        let mut keys: Vec<String> = self
            .state
            .storage
            .store()
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("listing storage");
        if let Some(root) = self.state.storage.local_path("") {
            // unfinished local uploads are staging files the object store does not list
            for entry in walk(&root) {
                let relative = entry
                    .strip_prefix(&root)
                    .unwrap_or(&entry)
                    .to_string_lossy()
                    .into_owned();
                if !keys.contains(&relative) {
                    keys.push(relative);
                }
            }
        }
        keys.sort();
        keys
    }

    /// Mail written to the outbox, oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.data_dir.path().join("data").join("outbox");
        let mut entries: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect(),
            Err(_) => return Vec::new(),
        };
        entries.sort();
        entries
            .into_iter()
            .map(|path| std::fs::read_to_string(path).expect("mail readable"))
            .collect()
    }

    /// Waits for the outbox to hold `count` messages (mail is sent after the answer).
    pub async fn wait_for_mail(&self, count: usize) -> Vec<String> {
        for _ in 0..100 {
            let mail = self.outbox();
            if mail.len() >= count {
                return mail;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "expected {count} mail(s) in the outbox, found {}",
            self.outbox().len()
        );
    }
}

/// Rebuilds a `TestUser` from a fresh sign-in answer.
pub trait WithName {
    fn with_name(self, user: TestUser) -> TestUser;
}

impl WithName for Value {
    fn with_name(self, user: TestUser) -> TestUser {
        TestUser {
            access_token: self["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh_token: self["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
            ..user
        }
    }
}

/// Asserts a problem+json answer with `status` and `code`, and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], format!("urn:vitrine:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "problem: {body}"
    );
    body
}

/// Runs SQL straight on the test server's database (set-up the API has no route for).
pub async fn execute_sql(app: &TestApp, sql: &str) {
    let backend = app.state.db.get_database_backend();
    app.state
        .db
        .execute(sea_orm::Statement::from_string(backend, sql))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// Counts the rows of a table, to prove that a refused request wrote nothing.
pub async fn count_rows(app: &TestApp, table: &str) -> i64 {
    let backend = app.state.db.get_database_backend();
    let row = app
        .state
        .db
        .query_one(sea_orm::Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("count")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// A small PNG of the given size.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// Runs the `vitrine` binary in `dir`, on `database_url` or the SQLite file in `dir/data`.
pub fn run_vitrine(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    run_vitrine_with(dir, database_url, &[], args)
}

/// `run_vitrine` with more environment, e.g. the storage of `s3_storage_env`.
pub fn run_vitrine_with(
    dir: &Path,
    database_url: Option<&str>,
    env: &[(String, String)],
    args: &[&str],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vitrine"));
    command
        .args(args)
        .current_dir(dir)
        .env("VITRINE_DATA_DIR", dir.join("data"))
        .env("VITRINE_LOG_DIR", dir.join("logs"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("VITRINE_ENV")
        .env_remove("VITRINE_CONFIG")
        .env_remove("STORAGE");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.envs(
        env.iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    );
    command.output().expect("vitrine runs")
}

/// When the suite runs on S3: a fresh bucket name and the environment that points the
/// command line at it (the app under test is then given the same bucket).
pub fn s3_storage_env() -> Option<(String, Vec<(String, String)>)> {
    let endpoint = std::env::var("TEST_S3_ENDPOINT").ok()?;
    let bucket = format!("vt-{}", Uuid::new_v4().simple());
    let mut env = vec![
        ("STORAGE".to_owned(), "s3".to_owned()),
        ("S3_ENDPOINT_URL".to_owned(), endpoint),
        ("S3_BUCKET_NAME".to_owned(), bucket.clone()),
        ("VITRINE_S3__CREATE_BUCKET".to_owned(), "true".to_owned()),
    ];
    for (from, to) in [
        ("TEST_S3_ACCESS_KEY", "S3_ACCESS_KEY"),
        ("TEST_S3_SECRET_KEY", "S3_SECRET_KEY"),
    ] {
        if let Ok(value) = std::env::var(from) {
            env.push((to.to_owned(), value));
        }
    }
    Some((bucket, env))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// For tests that measure the whole process (resident memory, metrics counters), which
/// `cargo test` shares with the tests running beside it on other threads: runs the test
/// `name` again in a process of its own and returns `true` there. In the calling process
/// it waits for that run, fails when it failed or ran no test, and returns `false`; the
/// caller then returns at once. (nextest runs each test alone already; the second
/// process costs it little.)
pub fn in_own_process(name: &str) -> bool {
    const ALONE: &str = "VITRINE_TEST_ALONE";
    if std::env::var(ALONE).as_deref() == Ok(name) {
        return true;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, name)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name}, run alone, failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{name}, run alone, ran no test (renamed?):\n{stdout}"
    );
    print!("{stdout}");
    false
}
