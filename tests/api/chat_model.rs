//! Unread counts and previews against a simple model, under a long random mix of sends,
//! edits, deletions, reads, joins and leaves by several members.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, spawn_app};

#[derive(Debug, Clone)]
struct Sent {
    seq: i64,
    sender: usize,
    deleted: bool,
}

/// What the chat should look like: its messages, members and their read watermarks.
#[derive(Debug, Default)]
struct Model {
    last_seq: i64,
    messages: Vec<Sent>,
    read: BTreeMap<usize, i64>,
}

impl Model {
    fn unread(&self, member: usize) -> i64 {
        let read = self.read[&member];
        self.messages
            .iter()
            .filter(|m| m.seq > read && !m.deleted && m.sender != member)
            .count() as i64
    }
}

/// A small deterministic generator, so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

async fn call(app: &TestApp, user: &TestUser, method: Method, path: &str, body: Value) -> Value {
    let response = app
        .request(method.clone(), path, Some(&user.access_token))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.is_success(), "{method} {path} {body}: {status}");
    if status == StatusCode::NO_CONTENT {
        Value::Null
    } else {
        response.json().await.unwrap()
    }
}

#[tokio::test]
async fn unread_counts_and_previews_match_a_model_under_random_operations() {
    let app = spawn_app().await;
    let names = ["ann", "bob", "carl", "dora"];
    let mut users = Vec::new();
    for name in names {
        users.push(app.register(name).await);
    }
    let chat = call(
        &app,
        &users[0],
        Method::POST,
        "/api/v1/chats",
        json!({"type": "group", "name": "Клуб", "member_ids": [users[1].user_id, users[2].user_id]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut model = Model {
        last_seq: 1,
        read: BTreeMap::from([(0, 0), (1, 0), (2, 0)]),
        ..Default::default()
    };
    let mut random = Lcg(0x5eed);
    let messages = format!("/api/v1/chats/{chat}/messages");
    for step in 0..120 {
        let members: Vec<usize> = model.read.keys().copied().collect();
        let actor = members[random.below(members.len())];
        let user = &users[actor];
        match random.below(10) {
            0..=3 => {
                let sent = call(
                    &app,
                    user,
                    Method::POST,
                    &messages,
                    json!({"text": format!("шаг {step}")}),
                )
                .await;
                model.last_seq += 1;
                assert_eq!(sent["seq"], model.last_seq);
                model.messages.push(Sent {
                    seq: model.last_seq,
                    sender: actor,
                    deleted: false,
                });
                model.read.insert(actor, model.last_seq);
            }
            4 => {
                let own: Vec<i64> = model
                    .messages
                    .iter()
                    .filter(|m| m.sender == actor && !m.deleted)
                    .map(|m| m.seq)
                    .collect();
                if let Some(seq) = own.get(random.below(own.len().max(1))) {
                    call(
                        &app,
                        user,
                        Method::PATCH,
                        &format!("{messages}/{seq}"),
                        json!({"text": "правка"}),
                    )
                    .await;
                    model.last_seq += 1;
                }
            }
            5 => {
                let own: Vec<usize> = (0..model.messages.len())
                    .filter(|i| model.messages[*i].sender == actor && !model.messages[*i].deleted)
                    .collect();
                if let Some(index) = own.get(random.below(own.len().max(1))) {
                    let seq = model.messages[*index].seq;
                    call(
                        &app,
                        user,
                        Method::DELETE,
                        &format!("{messages}/{seq}"),
                        Value::Null,
                    )
                    .await;
                    model.messages[*index].deleted = true;
                    model.last_seq += 1;
                }
            }
            6..=7 => {
                let seq = random.below(model.last_seq as usize + 1) as i64;
                call(
                    &app,
                    user,
                    Method::POST,
                    &format!("/api/v1/chats/{chat}/read"),
                    json!({"seq": seq}),
                )
                .await;
                let read = model.read.get_mut(&actor).unwrap();
                *read = (*read).max(seq);
            }
            _ => {
                // dora comes and goes, by the owner's hand
                let participants = format!("/api/v1/chats/{chat}/participants");
                if model.read.contains_key(&3) {
                    call(
                        &app,
                        &users[0],
                        Method::DELETE,
                        &format!("{participants}/{}", users[3].user_id),
                        Value::Null,
                    )
                    .await;
                    model.read.remove(&3);
                    model.last_seq += 1;
                } else {
                    call(
                        &app,
                        &users[0],
                        Method::POST,
                        &participants,
                        json!({"user_id": users[3].user_id}),
                    )
                    .await;
                    model.last_seq += 1;
                    model.read.insert(3, model.last_seq);
                }
            }
        }
        let members: BTreeSet<usize> = model.read.keys().copied().collect();
        for member in members {
            let view = call(
                &app,
                &users[member],
                Method::GET,
                &format!("/api/v1/chats/{chat}"),
                Value::Null,
            )
            .await;
            assert_eq!(view["last_seq"], model.last_seq, "step {step}");
            assert_eq!(
                view["unread_count"],
                model.unread(member),
                "step {step}, {}",
                names[member]
            );
            match model.messages.last() {
                None => assert!(view["last_message"].is_null()),
                Some(last) => {
                    assert_eq!(view["last_message"]["seq"], last.seq, "step {step}");
                    let kind = if last.deleted { "deleted" } else { "text" };
                    assert_eq!(view["last_message"]["kind"], kind, "step {step}");
                }
            }
        }
    }
}
