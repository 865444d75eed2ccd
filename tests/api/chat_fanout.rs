//! One group, many sockets: every socket hears every event once, in order, while the
//! sockets share what the server reads, and a member removed midway hears nothing after
//! the removal.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::chat_live::{Socket, connect, next, send_text};
use crate::helpers::{TestApp, TestUser, spawn_app};

const BEFORE: i64 = 15;
const AFTER: i64 = 10;

async fn send_many(app: &TestApp, sender: &TestUser, chat: i64, from: i64, count: i64) {
    let sends = (from..from + count).map(|n| async move {
        send_text(app, sender, chat, &format!("m{n}")).await;
    });
    futures_util::future::join_all(sends).await;
}

/// The sequence numbers a socket receives until `until` or `chat.removed`, and whether
/// it ended with `chat.removed`.
async fn receive(socket: &mut Socket, chat: i64, until: i64) -> (Vec<i64>, bool) {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&until) {
        let message = next(socket).await.expect("a message");
        if message == json!({"type": "chat.removed", "chat_id": chat}) {
            return (seqs, true);
        }
        assert_eq!(message["type"], "event", "{message}");
        seqs.push(message["seq"].as_i64().unwrap());
    }
    (seqs, false)
}

#[tokio::test]
async fn every_socket_of_a_busy_group_hears_each_event_once_and_a_removed_member_stops() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let mut members = Vec::new();
    for n in 0..6 {
        members.push(app.register(&format!("member{n}")).await);
    }
    let member_ids: Vec<i64> = members.iter().map(|member| member.user_id).collect();
    let response = app
        .post_json(
            "/api/v1/chats",
            Some(&ann.access_token),
            &json!({"type": "group", "name": "Клуб", "member_ids": member_ids}),
        )
        .await;
    let chat = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    // two devices each: sockets of one member share nothing but the chat
    let mut sockets = Vec::new();
    for member in &members {
        for _ in 0..2 {
            sockets.push((member.user_id, connect(&app, member, &HashMap::new()).await));
        }
    }
    send_many(&app, &ann, chat, 0, BEFORE).await;
    let removed = &members[0];
    let response = app
        .delete(
            &format!("/api/v1/chats/{chat}/participants/{}", removed.user_id),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    send_many(&app, &ann, chat, BEFORE, AFTER).await;

    let removal_seq = 2 + BEFORE;
    let last_seq = removal_seq + AFTER;
    let receivers = sockets
        .iter_mut()
        .map(|(user_id, socket)| async move { (*user_id, receive(socket, chat, last_seq).await) });
    for (user_id, (seqs, told_removed)) in futures_util::future::join_all(receivers).await {
        if user_id == removed.user_id {
            assert!(told_removed, "{seqs:?}");
            assert_eq!(seqs, (2..2 + seqs.len() as i64).collect::<Vec<i64>>());
            assert!(seqs.iter().all(|seq| *seq < removal_seq), "{seqs:?}");
        } else {
            assert!(!told_removed);
            assert_eq!(seqs, (2..=last_seq).collect::<Vec<i64>>());
        }
    }
}
