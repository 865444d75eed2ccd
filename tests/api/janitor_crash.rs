//! The real server killed with SIGKILL in the middle of an upload, then restarted: the
//! janitor removes every byte the upload had written, on local disk and on S3.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{PASSWORD, fresh_database, s3_storage_env};
use vitrine::config::{Config, S3Config, Secret, StorageBackend};
use vitrine::storage::{MARKER_PREFIX, Storage, UploadMarker};

/// How long anything here may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);
const DECLARED_BYTES: u64 = 300 * 1024 * 1024;
const SENT_BYTES: usize = 12 * 1024 * 1024;

/// `vitrine serve` as a child process; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_server(dir: &Path, env: &[(String, String)], log_name: &str) -> Server {
    let port = free_port();
    let log = std::fs::File::create(dir.join(log_name)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VITRINE_ADDR", format!("127.0.0.1:{port}"))
        .env("VITRINE_DATA_DIR", dir.join("data"))
        .env("VITRINE_LOG_DIR", dir.join("logs"))
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("vitrine serve starts");
    let mut server = Server { child, port };
    let started = Instant::now();
    let health = format!("http://127.0.0.1:{port}/healthz");
    loop {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.join(log_name)).unwrap_or_default();
            panic!("vitrine serve exited with {status}:\n{log}");
        }
        assert!(started.elapsed() < PATIENCE, "vitrine serve did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers a member on the running server and returns an access token.
async fn access_token(server: &Server) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/v1/auth/register",
            server.port
        ))
        .json(&json!({"username": "crasher", "email": "crasher@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

/// Starts a 300 MiB raw upload and sends 12 MiB of it, slowly; the connection stays open.
async fn upload_part_of_a_large_file(server: &Server, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = format!(
        "PUT /api/v1/files/stream?name=big.zip HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {DECLARED_BYTES}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut body = b"PK\x03\x04".to_vec();
    body.resize(SENT_BYTES, 0x5a);
    for chunk in body.chunks(256 * 1024) {
        stream.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stream
}

/// Waits until `done` holds, polling; returns how long it took.
async fn within_patience<F: AsyncFnMut() -> bool>(what: &str, mut done: F) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: still not so after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// Every file under a directory, with its size.
fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut directories = vec![dir.to_path_buf()];
    while let Some(directory) = directories.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => directories.push(path),
                Ok(meta) => found.push((path, meta.len())),
                Err(_) => {}
            }
        }
    }
    found
}

#[tokio::test]
async fn an_upload_cut_by_a_crash_is_removed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    if let Some(url) = fresh_database().await {
        env.push(("DATABASE_URL".into(), url));
    }
    let s3 = s3_storage_env();
    if let Some((_, s3_env)) = &s3 {
        env.extend(s3_env.iter().cloned());
    }
    let bytes_left = BytesLeft::new(dir.path(), s3.as_ref().map(|(bucket, _)| bucket)).await;

    let server = start_server(dir.path(), &env, "first.log").await;
    let token = access_token(&server).await;
    let _client = upload_part_of_a_large_file(&server, &token).await;
    within_patience("the upload has bytes in storage", async || {
        bytes_left
            .count()
            .await
            .is_some_and(|bytes| bytes >= 5 * 1024 * 1024)
    })
    .await;
    let killed_at = Instant::now();
    drop(server); // SIGKILL
    let mut left = None;
    within_patience("storage can be read", async || {
        left = bytes_left.count().await;
        left.is_some()
    })
    .await;
    let left = left.unwrap_or_default();
    assert!(left >= 5 * 1024 * 1024, "the crash left {left} bytes");

    env.push(("VITRINE_JANITOR_INTERVAL_SECS".into(), "1".into()));
    env.push(("VITRINE_JANITOR_GRACE_SECS".into(), "1".into()));
    let restarted = start_server(dir.path(), &env, "second.log").await;
    let after_restart = within_patience("no byte of the upload is left", async || {
        bytes_left.count().await == Some(0)
    })
    .await;
    eprintln!(
        "janitor: {left} bytes of a crashed upload removed {after_restart:?} after the restart \
         ({:?} after the crash; grace 1 s, interval 1 s)",
        killed_at.elapsed()
    );
    let files: Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/api/v1/files", restarted.port))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(files["items"], json!([]), "{files}");
}

/// Counts what an unfinished upload holds in storage: staging files on local disk;
/// marked uploads and their parts on S3. `None` when the storage could not say.
enum BytesLeft {
    Local(PathBuf),
    S3 {
        storage: Box<Storage>,
        bucket: rusty_s3::Bucket,
        credentials: Option<rusty_s3::Credentials>,
    },
}

impl BytesLeft {
    async fn new(dir: &Path, bucket: Option<&String>) -> Self {
        let Some(bucket) = bucket else {
            return Self::Local(dir.join("data").join("files"));
        };
        let endpoint = std::env::var("TEST_S3_ENDPOINT").unwrap();
        let access_key = std::env::var("TEST_S3_ACCESS_KEY").ok();
        let secret_key = std::env::var("TEST_S3_SECRET_KEY").ok();
        let config = Config {
            storage: StorageBackend::S3,
            s3: S3Config {
                endpoint_url: Some(endpoint.clone()),
                bucket_name: Some(bucket.clone()),
                access_key: access_key.clone(),
                secret_key: secret_key.clone().map(Secret::new),
                create_bucket: true,
                ..S3Config::default()
            },
            ..Config::default()
        };
        Self::S3 {
            storage: Box::new(Storage::from_config(&config).await.unwrap()),
            bucket: rusty_s3::Bucket::new(
                endpoint.parse().unwrap(),
                rusty_s3::UrlStyle::Path,
                bucket.clone(),
                "us-east-1",
            )
            .unwrap(),
            credentials: access_key
                .zip(secret_key)
                .map(|(key, secret)| rusty_s3::Credentials::new(key, secret)),
        }
    }

    async fn count(&self) -> Option<u64> {
        match self {
            Self::Local(root) => Some(
                files_under(root)
                    .into_iter()
                    .filter(|(path, _)| path.to_string_lossy().contains('#'))
                    .map(|(_, size)| size)
                    .sum(),
            ),
            Self::S3 {
                storage,
                bucket,
                credentials,
            } => {
                use futures_util::TryStreamExt;
                let store = storage.store();
                let markers: Vec<_> = store
                    .list(Some(&MARKER_PREFIX.into()))
                    .try_collect()
                    .await
                    .unwrap();
                let mut total = 0;
                for meta in markers {
                    let Ok(found) = store.get(&meta.location).await else {
                        continue;
                    };
                    let marker: UploadMarker =
                        serde_json::from_slice(&found.bytes().await.unwrap()).unwrap();
                    // a marker alone counts: it is left behind too
                    total += 1 + part_bytes(bucket, credentials.as_ref(), &marker).await?;
                }
                Some(total)
            }
        }
    }
}

/// The bytes of the parts an S3 upload holds (none once it is aborted); `None` when the
/// server failed to answer (s3s-fs does at times while other tests change its files).
async fn part_bytes(
    bucket: &rusty_s3::Bucket,
    credentials: Option<&rusty_s3::Credentials>,
    marker: &UploadMarker,
) -> Option<u64> {
    use rusty_s3::S3Action;
    let url =
        rusty_s3::actions::ListParts::new(bucket, credentials, &marker.key, &marker.upload_id)
            .sign(Duration::from_secs(60));
    let response = reqwest::get(url).await.unwrap();
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Some(0);
    }
    if response.status().is_server_error() {
        return None;
    }
    assert!(response.status().is_success(), "ListParts: {response:?}");
    // read by hand: some servers leave out fields rusty-s3's parser requires
    let listing = response.text().await.unwrap();
    Some(
        listing
            .split("<Size>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Size>"))
            .map(|(size, _)| size.trim().parse::<u64>().unwrap())
            .sum(),
    )
}
