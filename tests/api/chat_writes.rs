//! The messenger's write transactions: they wait their turn behind another writer without
//! holding up the server, and they work the same through the pool when SQLite's direct
//! connections are turned off.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, spawn_app, spawn_app_with};

async fn group(app: &TestApp, owner: &TestUser, members: &[&TestUser]) -> i64 {
    let ids: Vec<i64> = members.iter().map(|member| member.user_id).collect();
    let response = app
        .post_json(
            "/api/v1/chats",
            Some(&owner.access_token),
            &json!({"type": "group", "name": "writers", "member_ids": ids}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn send(app: &TestApp, user: &TestUser, chat: i64, text: &str) -> (StatusCode, Value) {
    let response = app
        .post_json(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&user.access_token),
            &json!({"text": text}),
        )
        .await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_send_waits_for_another_writer_without_holding_up_other_requests() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = group(&app, &ann, &[&bob]).await;

    // another connection of the pool takes the write lock (SQLite) or the chat's row
    // (PostgreSQL) and keeps it until told
    let holder = app.state.db.begin().await.unwrap();
    let backend = holder.get_database_backend();
    holder
        .execute(Statement::from_string(
            backend,
            format!("UPDATE chats SET name = name WHERE id = {chat}"),
        ))
        .await
        .unwrap();

    let sending = {
        let (address, client, token) = (
            app.address.clone(),
            app.client.clone(),
            ann.access_token.clone(),
        );
        tokio::spawn(async move {
            client
                .post(format!("{address}/api/v1/chats/{chat}/messages"))
                .bearer_auth(token)
                .json(&json!({"text": "after the other writer"}))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // the server answers meanwhile, reads of the chat included
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    let history = app
        .get(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(history.status(), StatusCode::OK);
    assert!(!sending.is_finished(), "the send waits for the lock");

    holder.commit().await.unwrap();
    let response = sending.await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["seq"], 2, "the creation is event 1");
    assert_eq!(message["text"], "after the other writer");
}

#[tokio::test]
async fn messages_are_written_through_the_pool_when_direct_connections_are_off() {
    let app = spawn_app_with(|config| config.sqlite_direct_reads = false).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = group(&app, &ann, &[&bob]).await;

    let (status, first) = send(&app, &ann, chat, "first").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second) = send(&app, &bob, chat, "second").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let edited = app
        .patch_json(
            &format!("/api/v1/chats/{chat}/messages/2"),
            Some(&ann.access_token),
            &json!({"text": "first, edited"}),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let read = app
        .post_json(
            &format!("/api/v1/chats/{chat}/read"),
            Some(&ann.access_token),
            &json!({"seq": 3}),
        )
        .await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    let deleted = app
        .delete(
            &format!("/api/v1/chats/{chat}/messages/3"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let history: Value = app
        .get(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&bob.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    let seqs: Vec<i64> = items.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 2]);
    assert_eq!(items[0]["deleted"], true);
    assert_eq!(items[1]["text"], "first, edited");
    assert_eq!(
        items[1]["status"], "read",
        "bob, its one recipient, sent after it"
    );
    let chat_view: Value = app
        .get(&format!("/api/v1/chats/{chat}"), Some(&ann.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        chat_view["last_seq"], 5,
        "created, 2 sent, 1 edited, 1 deleted"
    );
    assert_eq!(chat_view["unread_count"], 0);
}

#[tokio::test]
async fn what_the_writer_commits_reaches_the_database_file_without_a_commit_waiting_for_it() {
    let app = spawn_app().await;
    // the log and its checkpoints are SQLite's; PostgreSQL has nothing like them here
    let Some(file) = vitrine::db::sqlite_file(&app.state.config) else {
        assert_ne!(
            app.state.db.get_database_backend(),
            sea_orm::DbBackend::Sqlite
        );
        return;
    };
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = group(&app, &ann, &[&bob]).await;
    let before = std::fs::metadata(&file).unwrap().len();
    // ~1.2 MB of messages: fewer pages than SQLite's own checkpoint threshold, so only
    // the server's checkpoints copy them into the file
    let text = "ч".repeat(2000);
    for _ in 0..300 {
        assert_eq!(send(&app, &ann, chat, &text).await.0, StatusCode::CREATED);
    }
    let mut size = before;
    for _ in 0..100 {
        size = std::fs::metadata(&file).unwrap().len();
        if size > before + 1_000_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        size > before + 1_000_000,
        "the database file stayed at {size} bytes (from {before})"
    );
}

/// Bytes of SQLite's log file after 1,280 sends of 4 KB from 32 senders at once, with a
/// log limit of 1 MB; `None` on PostgreSQL, which has nothing like it here. A reader
/// keeps its view of the database for `reading` meanwhile: no checkpoint can copy
/// what was written since, nor start the log over, until it is done.
async fn log_after_sends(checkpoint_ms: u64, reading: Duration) -> Option<u64> {
    let app = spawn_app_with(|config| {
        config.sqlite_log_limit_mb = 1;
        config.sqlite_checkpoint_ms = checkpoint_ms;
    })
    .await;
    let Some(file) = vitrine::db::sqlite_file(&app.state.config) else {
        assert_ne!(
            app.state.db.get_database_backend(),
            sea_orm::DbBackend::Sqlite
        );
        return None;
    };
    let wal = file.with_extension("db-wal");
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = group(&app, &ann, &[&bob]).await;
    let reader = {
        let file = file.clone();
        let (viewing, viewed) = tokio::sync::oneshot::channel();
        let reader = tokio::task::spawn_blocking(move || {
            let connection = rusqlite::Connection::open(file).expect("opened");
            connection.execute_batch("BEGIN").expect("begun");
            let _: i64 = connection
                .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))
                .expect("read");
            let _ = viewing.send(());
            std::thread::sleep(reading);
            connection.execute_batch("COMMIT").expect("ended");
        });
        viewed.await.expect("the reader has its view");
        reader
    };
    // senders enough that some always wait for their turn: a group of writes is open
    // whenever the checkpoint takes the turn
    let text = "ч".repeat(2000);
    let senders = (0..32).map(|_| {
        let (app, ann, text) = (&app, &ann, &text);
        async move {
            for _ in 0..40 {
                let (status, answer) = send(app, ann, chat, text).await;
                assert_eq!(status, StatusCode::CREATED, "{answer}");
            }
        }
    });
    futures_util::future::join_all(senders).await;
    reader.await.expect("the reader is done");
    Some(std::fs::metadata(&wal).map(|meta| meta.len()).unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_starts_over_while_messages_keep_coming() {
    // without the limit the log ends at ~14 MB
    if let Some(size) = log_after_sends(100, Duration::ZERO).await {
        assert!(size < 3_000_000, "the log grew to {size} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_bounded_while_a_reader_holds_it_and_checkpoints_fall_behind() {
    // no checkpoint beside the writes within the test, as when the disk is slow to sync,
    // and a long read: past twice the limit the writes wait for the log to start over,
    // and one group of writes (32 sends of 4 KB and their index) is all it can grow
    // beyond that
    if let Some(size) = log_after_sends(3_600_000, Duration::from_millis(800)).await {
        assert!(size < 3_000_000, "the log grew to {size} bytes");
    }
}
