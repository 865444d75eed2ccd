//! The messenger over HTTP: chats, messages, idempotent sends, history, read state and
//! unread counts, and what non-participants see (nothing).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app};

async fn create_chat(app: &TestApp, user: &TestUser, body: &Value) -> (StatusCode, Value) {
    let response = app
        .post_json("/api/v1/chats", Some(&user.access_token), body)
        .await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn private_chat(app: &TestApp, from: &TestUser, to: &TestUser) -> i64 {
    let (status, chat) = create_chat(
        app,
        from,
        &json!({"type": "private", "user_id": to.user_id}),
    )
    .await;
    assert!(status.is_success(), "{status} {chat}");
    chat["id"].as_i64().unwrap()
}

async fn send(app: &TestApp, user: &TestUser, chat_id: i64, body: &Value) -> (StatusCode, Value) {
    let response = app
        .post_json(
            &format!("/api/v1/chats/{chat_id}/messages"),
            Some(&user.access_token),
            body,
        )
        .await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn send_text(app: &TestApp, user: &TestUser, chat_id: i64, text: &str) -> i64 {
    let (status, message) = send(app, user, chat_id, &json!({"text": text})).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message["seq"].as_i64().unwrap()
}

async fn get(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let response = app.get(path, Some(&user.access_token)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

async fn chat_of(app: &TestApp, user: &TestUser, chat_id: i64) -> Value {
    get(app, user, &format!("/api/v1/chats/{chat_id}")).await
}

async fn read_up_to(app: &TestApp, user: &TestUser, chat_id: i64, seq: i64) -> StatusCode {
    app.post_json(
        &format!("/api/v1/chats/{chat_id}/read"),
        Some(&user.access_token),
        &json!({"seq": seq}),
    )
    .await
    .status()
}

#[tokio::test]
async fn a_pair_has_one_private_chat_whoever_starts_it() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let response = app
        .request(
            Method::POST,
            "/api/v1/users/me/avatars/random",
            Some(&bob.access_token),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let (status, first) = create_chat(
        &app,
        &ann,
        &json!({"type": "private", "user_id": bob.user_id}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["peer"]["username"], "bob");
    let avatar = first["peer"]["avatar_url"].as_str().unwrap();
    assert!(avatar.contains("/api/v1/files/"), "{avatar}");
    assert_eq!(first["type"], "private");
    let (status, again) = create_chat(
        &app,
        &bob,
        &json!({"type": "private", "user_id": ann.user_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["peer"]["username"], "ann");
}

#[tokio::test]
async fn concurrent_starts_of_a_private_chat_make_one() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let mut requests = Vec::new();
    for n in 0..8 {
        let (from, to) = if n % 2 == 0 {
            (&ann, &bob)
        } else {
            (&bob, &ann)
        };
        let body = json!({"type": "private", "user_id": to.user_id});
        let app = &app;
        requests.push(async move { create_chat(app, from, &body).await });
    }
    let answers = futures_util::future::join_all(requests).await;
    let ids: std::collections::HashSet<i64> = answers
        .iter()
        .map(|(_, chat)| chat["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    assert_eq!(crate::helpers::count_rows(&app, "chats").await, 1);
}

#[tokio::test]
async fn bad_chats_are_refused_and_nothing_is_made() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let cases = [
        (
            json!({"type": "private"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"type": "private", "user_id": ann.user_id}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"type": "private", "user_id": 9999}),
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (
            json!({"type": "group"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"type": "group", "name": "   "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"type": "group", "name": "x".repeat(101)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"type": "group", "name": "Клуб", "member_ids": [9999]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"type": "channel", "name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .post_json("/api/v1/chats", Some(&ann.access_token), &body)
            .await;
        let problem = assert_problem(response, status, code).await;
        assert!(problem["detail"].is_string(), "{body}: {problem}");
    }
    let response = app
        .post_json(
            "/api/v1/chats",
            None,
            &json!({"type": "group", "name": "x"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for table in ["chats", "chat_participants", "chat_events"] {
        assert_eq!(crate::helpers::count_rows(&app, table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn messages_are_numbered_without_gaps_and_retries_are_not_repeated() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;

    let (status, first) = send(
        &app,
        &ann,
        chat,
        &json!({"text": "  Привет  ", "client_id": "n-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["text"], "Привет");
    assert_eq!(first["seq"], 2, "the chat's creation is event 1");
    let (status, retry) = send(
        &app,
        &ann,
        chat,
        &json!({"text": "Привет", "client_id": "n-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retry["id"], first["id"]);
    // the same nonce from someone else is their own message
    let (status, _) = send(
        &app,
        &bob,
        chat,
        &json!({"text": "Привет!", "client_id": "n-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // concurrent sends, some of them retries of one nonce
    let mut sends = Vec::new();
    for n in 0..12 {
        let body = if n % 3 == 0 {
            json!({"text": "once", "client_id": "same"})
        } else {
            json!({"text": format!("message {n}")})
        };
        let (app, ann) = (&app, &ann);
        sends.push(async move { send(app, ann, chat, &body).await });
    }
    let answers = futures_util::future::join_all(sends).await;
    assert!(
        answers.iter().all(|(status, _)| status.is_success()),
        "{answers:?}"
    );
    let history = get(
        &app,
        &ann,
        &format!("/api/v1/chats/{chat}/messages?limit=100"),
    )
    .await;
    let seqs: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    // 1 + 1 + 8 distinct + 1 for the shared nonce = 11 messages, seq 2..=12, newest first
    assert_eq!(seqs, (2..=12).rev().collect::<Vec<i64>>());
    let once = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"] == "once")
        .count();
    assert_eq!(once, 1);
    assert_eq!(chat_of(&app, &ann, chat).await["last_seq"], 12);
}

#[tokio::test]
async fn bad_messages_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    for body in [
        json!({"text": ""}),
        json!({"text": " \n\t "}),
        json!({"text": "я".repeat(4001)}),
        json!({"text": "hi", "client_id": ""}),
        json!({"text": "hi", "client_id": "x".repeat(65)}),
        json!({"text": "hi", "reply_to": 999}),
    ] {
        let (status, problem) = send(&app, &ann, chat, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
    }
    let (status, _) = send(&app, &ann, chat, &json!({"text": "я".repeat(4000)})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(crate::helpers::count_rows(&app, "messages").await, 1);
    assert_eq!(chat_of(&app, &ann, chat).await["last_seq"], 2);
}

#[tokio::test]
async fn people_outside_a_chat_never_learn_it_exists() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let chat = private_chat(&app, &ann, &bob).await;
    send_text(&app, &ann, chat, "secret").await;
    let missing = 9999;
    for id in [chat, missing] {
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/chats/{id}"), None),
            (Method::GET, format!("/api/v1/chats/{id}/messages"), None),
            (
                Method::POST,
                format!("/api/v1/chats/{id}/messages"),
                Some(json!({"text": "hi"})),
            ),
            (
                Method::POST,
                format!("/api/v1/chats/{id}/read"),
                Some(json!({"seq": 1})),
            ),
        ] {
            let mut request = app.request(method.clone(), &path, Some(&eve.access_token));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let problem = assert_problem(response, StatusCode::NOT_FOUND, "chat_not_found").await;
            assert_eq!(
                problem["detail"],
                format!("no chat with id {id}"),
                "{method} {path}"
            );
        }
    }
    assert_eq!(get(&app, &eve, "/api/v1/chats").await["items"], json!([]));
}

#[tokio::test]
async fn unread_counts_follow_messages_and_the_read_watermark() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let (status, group) = create_chat(
        &app,
        &ann,
        &json!({"type": "group", "name": "Командирские", "member_ids": [bob.user_id, carl.user_id, bob.user_id]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(group["role"], "owner");
    let chat = group["id"].as_i64().unwrap();
    for n in 0..3 {
        send_text(&app, &ann, chat, &format!("ann {n}")).await;
    }
    let last = send_text(&app, &bob, chat, "bob").await;

    assert_eq!(
        chat_of(&app, &ann, chat).await["unread_count"],
        1,
        "bob's one"
    );
    assert_eq!(
        chat_of(&app, &bob, chat).await["unread_count"],
        0,
        "sending reads"
    );
    assert_eq!(chat_of(&app, &carl, chat).await["unread_count"], 4);
    let list = get(&app, &carl, "/api/v1/chats").await;
    assert_eq!(list["items"][0]["unread_count"], 4);
    assert_eq!(list["items"][0]["role"], "member");
    assert_eq!(list["items"][0]["last_message"]["text"], "bob");
    assert_eq!(list["items"][0]["last_message"]["seq"], last);

    assert_eq!(
        read_up_to(&app, &carl, chat, 3).await,
        StatusCode::NO_CONTENT
    );
    // seq 1 is the chat's creation, 2 and 3 ann's first messages
    assert_eq!(chat_of(&app, &carl, chat).await["unread_count"], 2);
    // an older watermark changes nothing
    assert_eq!(
        read_up_to(&app, &carl, chat, 1).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(chat_of(&app, &carl, chat).await["unread_count"], 2);
    assert_eq!(
        read_up_to(&app, &carl, chat, last).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(chat_of(&app, &carl, chat).await["unread_count"], 0);
    for seq in [-1, last + 1] {
        assert_eq!(
            read_up_to(&app, &carl, chat, seq).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    // statuses as the sender sees them: carl has read it, ann has not fetched it yet
    let status_of_last = async || {
        let history = get(&app, &bob, &format!("/api/v1/chats/{chat}/messages")).await;
        let last_message = &history["items"][0];
        assert_eq!(last_message["seq"], last);
        (
            last_message["status"].clone(),
            last_message["delivered_to"].as_i64().unwrap(),
            last_message["read_by"].as_i64().unwrap(),
        )
    };
    assert_eq!(status_of_last().await, (json!("sent"), 1, 1));
    let receipts = get(
        &app,
        &ann,
        &format!("/api/v1/chats/{chat}/messages/{last}/receipts"),
    )
    .await;
    assert_eq!(
        receipts,
        json!([
            {"user_id": ann.user_id, "username": "ann", "avatar_url": null, "delivered": false, "read": false},
            {"user_id": carl.user_id, "username": "carl", "avatar_url": null, "delivered": true, "read": true},
        ])
    );
    get(&app, &ann, &format!("/api/v1/chats/{chat}/messages")).await;
    assert_eq!(status_of_last().await, (json!("delivered"), 2, 1));
    assert_eq!(
        read_up_to(&app, &ann, chat, last).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(status_of_last().await, (json!("read"), 2, 2));
    let outsider = app.register("dora").await;
    let response = app
        .get(
            &format!("/api/v1/chats/{chat}/messages/{last}/receipts"),
            Some(&outsider.access_token),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "chat_not_found").await;
    let response = app
        .get(
            &format!("/api/v1/chats/{chat}/messages/999/receipts"),
            Some(&ann.access_token),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "message_not_found").await;
}

#[tokio::test]
async fn history_pages_both_ways_without_gaps() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    for n in 0..25 {
        send_text(&app, &ann, chat, &format!("m{n}")).await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/chats/{chat}/messages?limit=10");
    loop {
        let page = get(&app, &bob, &path).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_i64().unwrap()),
        );
        match page["next"].as_i64() {
            Some(before) => {
                path = format!("/api/v1/chats/{chat}/messages?limit=10&before={before}")
            }
            None => break,
        }
    }
    assert_eq!(seen, (2..=26).rev().collect::<Vec<i64>>());
    let newer = get(
        &app,
        &bob,
        &format!("/api/v1/chats/{chat}/messages?after=20&limit=3"),
    )
    .await;
    let seqs: Vec<i64> = newer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![21, 22, 23]);
    assert_eq!(newer["next"], 23);
    for query in ["limit=0", "limit=101", "before=3&after=1", "before=x"] {
        let response = app
            .get(
                &format!("/api/v1/chats/{chat}/messages?{query}"),
                Some(&bob.access_token),
            )
            .await;
        assert!(
            response.status().is_client_error(),
            "{query}: {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn sending_is_rate_limited_per_member() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.chat_send_burst = 3;
        config.chat_send_per_minute = 5;
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    for n in 0..3 {
        send_text(&app, &ann, chat, &format!("m{n}")).await;
    }
    let response = app
        .post_json(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&ann.access_token),
            &json!({"text": "one too many"}),
        )
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // the limit is each member's own
    send_text(&app, &bob, chat, "bob's turn").await;
    assert_eq!(crate::helpers::count_rows(&app, "messages").await, 4);
}
