//! Two server processes on one PostgreSQL database: what a member sends through one
//! reaches the sockets on the other, in order and exactly once, through PostgreSQL
//! LISTEN/NOTIFY or Redis pub/sub, also when the bus's connection is killed or Redis
//! restarts in the middle; and a session ended through one closes its socket on the
//! other at once.
//!
//! They start their own PostgreSQL and Redis (see `outage_servers`); `.ci/run` runs them
//! in a step of their own with `--run-ignored only`, and they fail (never skip) without
//! the servers' binaries.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::SinkExt;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use vitrine::auth::Role;

use crate::chat_live::{Socket, close_code, connect, next, next_message, private_chat};
use crate::helpers::{TestApp, TestUser, WithName, spawn_app_with};
use crate::outage_servers::{PgCluster, RedisServer, require_outage_setup};

/// Messages each of the two members sends.
const PER_MEMBER: i64 = 20;
/// The Redis channel of both processes.
const REDIS_PREFIX: &str = "instances";

async fn instance(database_url: &str, redis_url: Option<String>) -> TestApp {
    let database_url = database_url.to_owned();
    spawn_app_with(move |config| {
        config.database_url = Some(database_url);
        config.redis_url = redis_url;
        config.redis_key_prefix = REDIS_PREFIX.into();
    })
    .await
}

/// Sends a message, asking again while the server answers 503 (Redis is down).
async fn send(app: &TestApp, user: &TestUser, chat: i64, text: &str) {
    for _ in 0..200 {
        let response = app
            .post_json(
                &format!("/api/v1/chats/{chat}/messages"),
                Some(&user.access_token),
                &json!({"text": text, "client_id": text}),
            )
            .await;
        match response.status() {
            StatusCode::CREATED | StatusCode::OK => return,
            StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            status => panic!("sending {text}: {status}"),
        }
    }
    panic!("sending {text}: still 503 after 200 attempts");
}

/// Ann on the first process and Bob on the second each send half of their messages.
async fn send_half(
    (one, ann): (&TestApp, &TestUser),
    (two, bob): (&TestApp, &TestUser),
    chat: i64,
    half: i64,
) {
    for n in half * PER_MEMBER / 2..(half + 1) * PER_MEMBER / 2 {
        send(one, ann, chat, &format!("ann-{n}")).await;
        send(two, bob, chat, &format!("bob-{n}")).await;
    }
}

/// The next `count` events, as (chat, seq), skipping receipts and typing.
async fn events(socket: &mut Socket, count: usize) -> Vec<(i64, i64)> {
    let mut events = Vec::new();
    while events.len() < count {
        let message = next(socket).await.expect("the socket stays open");
        match message["type"].as_str() {
            Some("receipt" | "typing") => {}
            Some("event") => events.push((
                message["chat_id"].as_i64().unwrap(),
                message["seq"].as_i64().unwrap(),
            )),
            _ => panic!("unexpected {message}"),
        }
    }
    events
}

struct Members {
    ann: TestUser,
    bob: TestUser,
    /// Their private chat, where messages flow throughout.
    chat: i64,
    /// A group of theirs that hears only the messages sent just after a disruption.
    group: i64,
    /// The group's last sequence number when the sockets connected.
    group_seq: i64,
    anns: Socket,
    bobs: Socket,
}

/// Ann signs up through the first process and Bob through the second; they share a
/// private chat and a group, and each has a socket on their own process.
async fn members_on_both(one: &TestApp, two: &TestApp) -> Members {
    let ann = one.register("ann").await;
    let bob = two.register("bob").await;
    let chat = private_chat(one, &ann, &bob).await;
    let response = one
        .post_json(
            "/api/v1/chats",
            Some(&ann.access_token),
            &json!({"type": "group", "name": "pair", "member_ids": [bob.user_id]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let group = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let group_seq = count_events(one, group).await;
    let resume = HashMap::from([(chat, 1), (group, group_seq)]);
    let anns = connect(one, &ann, &resume).await;
    let bobs = connect(two, &bob, &resume).await;
    Members {
        ann,
        bob,
        chat,
        group,
        group_seq,
        anns,
        bobs,
    }
}

async fn count_events(app: &TestApp, chat: i64) -> i64 {
    let backend = app.state.db.get_database_backend();
    let row = app
        .state
        .db
        .query_one(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM chat_events WHERE chat_id = {chat}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

impl Members {
    /// Right after a disruption, each sends one message to the group, which hears
    /// nothing more after: only a resync can bring them to the other process.
    async fn send_to_group_now(&self, one: &TestApp, two: &TestApp) {
        send(one, &self.ann, self.group, "ann-after").await;
        send(two, &self.bob, self.group, "bob-after").await;
    }

    /// Both sockets end with every message of both chats, in order, once; and nothing
    /// more.
    async fn assert_everything_arrived(&mut self) {
        let expected_chat: Vec<i64> = (2..=2 * PER_MEMBER + 1).collect();
        let expected_group = vec![self.group_seq + 1, self.group_seq + 2];
        for socket in [&mut self.anns, &mut self.bobs] {
            let received = events(socket, expected_chat.len() + 2).await;
            let of = |chat: i64| -> Vec<i64> {
                received
                    .iter()
                    .filter(|(id, _)| *id == chat)
                    .map(|(_, seq)| *seq)
                    .collect()
            };
            assert_eq!(of(self.chat), expected_chat);
            assert_eq!(of(self.group), expected_group);
            socket
                .send(Message::text(json!({"type": "ping"}).to_string()))
                .await
                .unwrap();
            assert_eq!(next(socket).await.unwrap()["type"], "pong", "no repeats");
        }
    }
}

async fn listening_backends(app: &TestApp, end_them: bool) -> usize {
    let query = if end_them {
        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
    } else {
        "SELECT TRUE AS done FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
    };
    let backend = app.state.db.get_database_backend();
    let rows = app
        .state
        .db
        .query_all(Statement::from_string(backend, query))
        .await
        .unwrap();
    rows.iter()
        .filter(|row| row.try_get::<bool>("", "done").unwrap_or(false))
        .count()
}

/// Waits until `count` connections LISTEN.
async fn wait_for_listeners(app: &TestApp, count: usize) {
    for _ in 0..200 {
        if listening_backends(app, false).await == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{count} LISTEN connections expected");
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn instances_deliver_each_others_messages_through_postgres_also_after_losing_listen() {
    let postgres = PgCluster::start(require_outage_setup());
    let one = instance(&postgres.url(), None).await;
    let two = instance(&postgres.url(), None).await;
    assert_eq!(one.state.bus.kind(), "postgres");
    let mut members = members_on_both(&one, &two).await;
    let (ann, bob) = ((&one, &members.ann), (&two, &members.bob));

    send_half(ann, bob, members.chat, 0).await;
    wait_for_listeners(&one, 2).await;
    assert_eq!(
        listening_backends(&one, true).await,
        2,
        "both connections ended"
    );
    members.send_to_group_now(&one, &two).await;
    send_half(ann, bob, members.chat, 1).await;

    members.assert_everything_arrived().await;
    wait_for_listeners(&one, 2).await;
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL and Redis: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn instances_deliver_each_others_messages_through_redis_across_a_restart() {
    let postgres = PgCluster::start(require_outage_setup());
    let mut redis = RedisServer::start().await;
    let one = instance(&postgres.url(), Some(redis.url())).await;
    let two = instance(&postgres.url(), Some(redis.url())).await;
    assert_eq!(two.state.bus.kind(), "redis");
    let mut members = members_on_both(&one, &two).await;
    let (ann, bob) = ((&one, &members.ann), (&two, &members.bob));

    send_half(ann, bob, members.chat, 0).await;
    redis.stop();
    // nothing can be sent meanwhile (sessions are checked in Redis): the sends below
    // wait for it, and the first go out while the processes are still subscribing again
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart_without_data().await;
    members.send_to_group_now(&one, &two).await;
    send_half(ann, bob, members.chat, 1).await;

    members.assert_everything_arrived().await;
    let channel = format!("{REDIS_PREFIX}:bus");
    for _ in 0..200 {
        let mut numsub = redis::cmd("PUBSUB");
        numsub.arg("NUMSUB").arg(&channel);
        let numsub: (String, i64) = redis.command(numsub).await.unwrap();
        if numsub.1 == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("both processes subscribe again");
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn a_session_ended_through_one_instance_closes_its_socket_on_the_other() {
    let postgres = PgCluster::start(require_outage_setup());
    let one = instance(&postgres.url(), None).await;
    let two = instance(&postgres.url(), None).await;
    let admin = one.register_with_role("root", Role::Admin).await;
    let bob = one.register("bob").await;
    let phone = one.login("bob", &bob.password).await.with_name(bob.clone());
    let mut laptop_socket = connect(&two, &bob, &HashMap::new()).await;
    let mut phone_socket = connect(&two, &phone, &HashMap::new()).await;

    let response = one
        .post_json("/api/v1/auth/logout", Some(&bob.access_token), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // well before the periodic session check (30 s)
    assert_eq!(
        close_code(&mut laptop_socket).await,
        Some(CloseCode::from(4403))
    );
    phone_socket
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut phone_socket).await.unwrap()["type"], "pong");

    let response = one
        .patch_json(
            &format!("/api/v1/admin/users/{}", bob.user_id),
            Some(&admin.access_token),
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let _: Value = response.json().await.unwrap();
    assert_eq!(
        close_code(&mut phone_socket).await,
        Some(CloseCode::from(4403))
    );
}

#[tokio::test]
#[ignore = "starts two instances on its own PostgreSQL: run with TEST_OUTAGE=1 (.ci/run does)"]
async fn presence_crosses_instances_and_a_second_device_elsewhere_keeps_one_online() {
    let postgres = PgCluster::start(require_outage_setup());
    let one = instance(&postgres.url(), None).await;
    let two = instance(&postgres.url(), None).await;
    let ann = one.register("ann").await;
    let bob = one.register("bob").await;
    let phone = one.login("bob", &bob.password).await.with_name(bob.clone());
    let chat = private_chat(&one, &ann, &bob).await;
    let mut anns = connect(&one, &ann, &HashMap::new()).await;
    let presence = |online: bool| json!({"type": "presence", "changes": [{"user_id": bob.user_id, "online": online}]});

    let laptop = connect(&two, &bob, &HashMap::new()).await;
    assert_eq!(next_message(&mut anns).await.unwrap(), presence(true));
    let online: Value = one
        .get(&format!("/api/v1/users/{}", bob.user_id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        online["online"], true,
        "instance one knows of the socket on two"
    );
    // bob on both: leaving two keeps him online through his lease on one
    let phone_socket = connect(&one, &phone, &HashMap::new()).await;
    leave(laptop).await;
    // anything instance two said about it would come before this message sent through it
    send(&two, &bob, chat, "still here").await;
    let message = next_message(&mut anns).await.unwrap();
    assert_eq!(message["message"]["text"], "still here", "{message}");
    leave(phone_socket).await;
    assert_eq!(next_message(&mut anns).await.unwrap(), presence(false));
}

/// Closes a socket and waits until the server has let it go.
async fn leave(mut socket: Socket) {
    socket.close(None).await.unwrap();
    while let Some(Ok(_)) = futures_util::StreamExt::next(&mut socket).await {}
}
