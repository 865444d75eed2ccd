//! The live chat socket: authentication first, events in order exactly once, resume
//! after a reconnect without gaps or repeats, and members removed on the spot.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{TestApp, TestUser, WithName, spawn_app};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn open(app: &TestApp) -> Socket {
    let url = format!("{}/api/v1/ws", app.address.replacen("http", "ws", 1));
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
}

/// A socket signed in as `user`, resuming from `resume`, past its `ready`.
pub async fn connect(app: &TestApp, user: &TestUser, resume: &HashMap<i64, i64>) -> Socket {
    let mut socket = open(app).await;
    let resume: HashMap<String, i64> = resume.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let auth = json!({"type": "auth", "token": user.access_token, "resume": resume});
    socket.send(Message::text(auth.to_string())).await.unwrap();
    let ready = next(&mut socket).await.expect("ready");
    assert_eq!(ready["type"], "ready", "{ready}");
    socket
}

/// The next JSON message other than presence (the subject of `presence.rs`), or `None`
/// when the socket closed.
pub async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = next_message(socket).await?;
        if message["type"] != "presence" {
            return Some(message);
        }
    }
}

/// The next JSON message, or `None` when the socket closed.
pub async fn next_message(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")?
            .ok()?;
        match message {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

pub async fn close_code(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed within 10 s");
        match message {
            Some(Ok(Message::Close(frame))) => return frame.map(|frame| frame.code),
            Some(Ok(_)) => {}
            _ => return None,
        }
    }
}

pub async fn private_chat(app: &TestApp, from: &TestUser, to: &TestUser) -> i64 {
    let response = app
        .post_json(
            "/api/v1/chats",
            Some(&from.access_token),
            &json!({"type": "private", "user_id": to.user_id}),
        )
        .await;
    assert!(response.status().is_success());
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

pub async fn send_text(app: &TestApp, user: &TestUser, chat: i64, text: &str) {
    let response = app
        .post_json(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&user.access_token),
            &json!({"text": text}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
}

#[tokio::test]
async fn a_socket_that_does_not_authenticate_is_closed() {
    let app = spawn_app().await;
    let mut silent = open(&app).await;
    assert_eq!(close_code(&mut silent).await, Some(CloseCode::from(4401)));
    let mut forged = open(&app).await;
    forged
        .send(Message::text(
            json!({"type": "auth", "token": "not.a.token"}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(close_code(&mut forged).await, Some(CloseCode::from(4401)));
}

#[tokio::test]
async fn events_arrive_in_order_exactly_once() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    let mut socket = connect(&app, &bob, &HashMap::new()).await;
    let sends = (0..20).map(|n| {
        let (app, ann) = (&app, &ann);
        async move { send_text(app, ann, chat, &format!("m{n}")).await }
    });
    futures_util::future::join_all(sends).await;
    let mut seqs = Vec::new();
    while seqs.len() < 20 {
        let event = next(&mut socket).await.expect("an event");
        assert_eq!(event["type"], "event", "{event}");
        assert_eq!(event["kind"], "message.created");
        assert_eq!(event["chat_id"], chat);
        assert_eq!(event["message"]["seq"], event["seq"]);
        seqs.push(event["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (2..=21).collect::<Vec<i64>>());
    // nothing more: a ping is answered, and it is the next message
    socket
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut socket).await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn sockets_dropped_at_random_moments_resume_without_gaps_or_repeats() {
    const MESSAGES: i64 = 60;
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    let sender = {
        let (app, ann) = (&app, &ann);
        async move {
            for n in 0..MESSAGES {
                send_text(app, ann, chat, &format!("m{n}")).await;
                if n % 7 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    };
    let receiver = async {
        let mut seen: Vec<i64> = Vec::new();
        let mut random = 0x2545_f491_u64;
        // the chat's creation (seq 1) was seen before the first connection
        let mut resume = HashMap::from([(chat, 1)]);
        while seen.len() < MESSAGES as usize {
            let mut socket = connect(&app, &bob, &resume).await;
            random = random
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let take = 1 + (random >> 33) % 9;
            for _ in 0..take {
                let Some(event) = next(&mut socket).await else {
                    break;
                };
                assert_eq!(event["type"], "event", "{event}");
                let seq = event["seq"].as_i64().unwrap();
                seen.push(seq);
                resume.insert(chat, seq);
                if seen.len() == MESSAGES as usize {
                    break;
                }
            }
            drop(socket);
        }
        seen
    };
    let ((), seen) = tokio::join!(sender, receiver);
    assert_eq!(seen, (2..=MESSAGES + 1).collect::<Vec<i64>>());
}

#[tokio::test]
async fn a_member_removed_from_a_group_is_told_and_hears_no_more() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let carl = app.register("carl").await;
    let response = app
        .post_json(
            "/api/v1/chats",
            Some(&ann.access_token),
            &json!({"type": "group", "name": "Клуб", "member_ids": [carl.user_id]}),
        )
        .await;
    let chat = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let mut socket = connect(&app, &carl, &HashMap::new()).await;
    send_text(&app, &ann, chat, "hello").await;
    assert_eq!(next(&mut socket).await.unwrap()["message"]["text"], "hello");
    let response = app
        .delete(
            &format!("/api/v1/chats/{chat}/participants/{}", carl.user_id),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    let removed = next(&mut socket).await.unwrap();
    assert_eq!(removed, json!({"type": "chat.removed", "chat_id": chat}));
    send_text(&app, &ann, chat, "secret").await;
    socket
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut socket).await.unwrap()["type"],
        "pong",
        "nothing of the chat came first"
    );
}

#[tokio::test]
async fn reads_and_deliveries_reach_the_sender_as_receipts() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    let mut anns = connect(&app, &ann, &HashMap::new()).await;
    let mut bobs = connect(&app, &bob, &HashMap::new()).await;
    send_text(&app, &ann, chat, "привет").await;
    let created = next(&mut anns).await.unwrap();
    assert_eq!(created["kind"], "message.created");
    let event = next(&mut bobs).await.unwrap();
    let seq = event["seq"].as_i64().unwrap();
    bobs.send(Message::text(
        json!({"type": "ack", "chat_id": chat, "seq": seq}).to_string(),
    ))
    .await
    .unwrap();
    let delivered = next(&mut anns).await.unwrap();
    assert_eq!(
        delivered,
        json!({"type": "receipt", "chat_id": chat, "user_id": bob.user_id,
               "read_seq": 0, "delivered_seq": seq})
    );
    bobs.send(Message::text(
        json!({"type": "read", "chat_id": chat, "seq": seq}).to_string(),
    ))
    .await
    .unwrap();
    let read = next(&mut anns).await.unwrap();
    assert_eq!(read["read_seq"], seq);
    // a seq this socket was never sent is refused, and moves nothing
    bobs.send(Message::text(
        json!({"type": "read", "chat_id": chat, "seq": seq + 5}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut bobs).await.unwrap()["code"], "bad_seq");
    let history: Value = app
        .get(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&ann.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"][0]["status"], "read");
}

#[tokio::test]
async fn a_socket_closes_as_soon_as_its_session_ends_and_only_that_one() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;
    let other_device = app.login("bob", &bob.password).await.with_name(bob.clone());
    let mut signed_out = connect(&app, &bob, &HashMap::new()).await;
    let mut staying = connect(&app, &other_device, &HashMap::new()).await;
    let response = app
        .post_json("/api/v1/auth/logout", Some(&bob.access_token), &json!({}))
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    // well before the periodic session check (30 s)
    assert_eq!(
        close_code(&mut signed_out).await,
        Some(CloseCode::from(4403))
    );
    staying
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut staying).await.unwrap()["type"], "pong");
}

/// A socket signed in as `user` whose kernel receive buffer is a few KiB, so that a
/// client that stops reading soon stops the server's writes to it.
async fn connect_with_small_buffer(app: &TestApp, user: &TestUser) -> Socket {
    let address = app.address.trim_start_matches("http://");
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(address.parse().unwrap()).await.unwrap();
    let url = format!("ws://{address}/api/v1/ws");
    let (mut socket, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    let auth = json!({"type": "auth", "token": user.access_token, "resume": {}});
    socket.send(Message::text(auth.to_string())).await.unwrap();
    let ready = next(&mut socket).await.expect("ready");
    assert_eq!(ready["type"], "ready", "{ready}");
    socket
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_holds_nobody_back() {
    let app = spawn_app().await;
    let sender = app.register("sender").await;
    let reader = app.register("reader").await;
    let stalled = app.register("stalled").await;
    let response = app
        .post_json(
            "/api/v1/chats",
            Some(&sender.access_token),
            &json!({"type": "group", "name": "busy", "member_ids": [reader.user_id, stalled.user_id]}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let chat = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let mut stalled_socket = connect_with_small_buffer(&app, &stalled).await;
    let mut reader_socket = connect(&app, &reader, &HashMap::new()).await;

    // 400 messages of 16 KB outgrow what the kernel buffers for one connection (4 MiB
    // on the sender's side here, a few KiB on the stalled receiver's)
    const SENT: usize = 400;
    let filler = "😀".repeat(3990);
    let receiving = tokio::spawn(async move {
        let mut texts = Vec::new();
        while texts.len() < SENT {
            let event = next(&mut reader_socket)
                .await
                .expect("the reader's socket stays open");
            if event["kind"] == "message.created" {
                texts.push(event["message"]["text"].as_str().unwrap().to_owned());
            }
        }
        texts
    });
    for n in 0..SENT {
        send_text(&app, &sender, chat, &format!("{n} {filler}")).await;
    }
    let texts = tokio::time::timeout(Duration::from_secs(60), receiving)
        .await
        .expect("the reader got every message while the other client stalled")
        .unwrap();
    let order: Vec<usize> = texts
        .iter()
        .map(|text| text.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(order, (0..SENT).collect::<Vec<_>>());

    // the stalled client finds, once it reads again, that the server gave up on it
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let ending = loop {
        let Ok(message) = tokio::time::timeout_at(deadline, stalled_socket.next()).await else {
            panic!("the server did not end the stalled socket; it received {received}");
        };
        match message {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| frame.code),
            Some(Ok(_)) => {}
            _ => break None,
        }
    };
    assert!(
        received < SENT,
        "the stalled socket was cut off, not served in full"
    );
    if let Some(code) = ending {
        assert_eq!(code, CloseCode::from(4008), "closed as too slow");
    }
}
