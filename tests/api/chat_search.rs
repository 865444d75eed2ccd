//! Message search: words in any case and alphabet, `ё` = `е`, by prefix, only in chats
//! the searcher is in now, following edits and deletions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, spawn_app};

async fn texts(app: &TestApp, user: &TestUser, path: &str) -> Vec<String> {
    let response = app.get(path, Some(&user.access_token)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let page: Value = response.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn chat(app: &TestApp, owner: &TestUser, body: Value) -> i64 {
    let response = app
        .post_json("/api/v1/chats", Some(&owner.access_token), &body)
        .await;
    assert!(response.status().is_success());
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn send(app: &TestApp, user: &TestUser, chat: i64, text: &str) -> i64 {
    let response = app
        .post_json(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&user.access_token),
            &json!({"text": text}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["seq"]
        .as_i64()
        .unwrap()
}

fn q(words: &str) -> String {
    url::form_urlencoded::byte_serialize(words.as_bytes()).collect()
}

#[tokio::test]
async fn search_finds_words_only_in_my_chats() {
    let app = spawn_app().await;
    let [ann, bob, carl] = [
        app.register("ann").await,
        app.register("bob").await,
        app.register("carl").await,
    ];
    let private = chat(
        &app,
        &ann,
        json!({"type": "private", "user_id": bob.user_id}),
    )
    .await;
    let group = chat(
        &app,
        &ann,
        json!({"type": "group", "name": "Клуб", "member_ids": [carl.user_id]}),
    )
    .await;
    send(&app, &ann, private, "Привет, Ёлка!").await;
    send(&app, &bob, private, "Купил Восток Амфибия").await;
    send(&app, &ann, private, "amphibia export").await;
    send(&app, &carl, group, "Амфибия в группе").await;

    let everywhere = |user: &TestUser, words: &str| {
        let path = format!("/api/v1/messages/search?q={}", q(words));
        let user = user.clone();
        let app = &app;
        async move { texts(app, &user, &path).await }
    };
    assert_eq!(
        everywhere(&bob, "амфиб").await,
        vec!["Купил Восток Амфибия"]
    );
    assert_eq!(
        everywhere(&ann, "АМФИБ").await,
        vec!["Амфибия в группе", "Купил Восток Амфибия"]
    );
    assert_eq!(everywhere(&carl, "амфибия").await, vec!["Амфибия в группе"]);
    assert_eq!(everywhere(&bob, "елка").await, vec!["Привет, Ёлка!"]);
    assert_eq!(everywhere(&bob, "прив ёлк").await, vec!["Привет, Ёлка!"]);
    assert_eq!(everywhere(&bob, "amphibia").await, vec!["amphibia export"]);
    assert_eq!(
        everywhere(&bob, "фибия").await,
        Vec::<String>::new(),
        "not a prefix"
    );
    for wordless in ["%", "*", "🐱", "   "] {
        assert_eq!(
            everywhere(&bob, wordless).await,
            Vec::<String>::new(),
            "{wordless:?}"
        );
    }
    let in_chat = texts(
        &app,
        &ann,
        &format!("/api/v1/chats/{private}/messages?q={}", q("амфиб")),
    )
    .await;
    assert_eq!(in_chat, vec!["Купил Восток Амфибия"]);

    // carl leaves the group: its messages are no longer his to find
    let response = app
        .delete(
            &format!("/api/v1/chats/{group}/participants/{}", carl.user_id),
            Some(&carl.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(everywhere(&carl, "амфибия").await, Vec::<String>::new());
    let response = app
        .get(
            &format!("/api/v1/messages/search?q={}", "x".repeat(201)),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn search_follows_edits_and_deletions_and_pages() {
    let app = spawn_app().await;
    let [ann, bob] = [app.register("ann").await, app.register("bob").await];
    let private = chat(
        &app,
        &ann,
        json!({"type": "private", "user_id": bob.user_id}),
    )
    .await;
    let edited = send(&app, &ann, private, "старые слова").await;
    let deleted = send(&app, &ann, private, "слова удалить").await;
    let messages = format!("/api/v1/chats/{private}/messages");
    let response = app
        .request(
            Method::PATCH,
            &format!("{messages}/{edited}"),
            Some(&ann.access_token),
        )
        .json(&json!({"text": "новые слова"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .delete(&format!("{messages}/{deleted}"), Some(&ann.access_token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let search = |words: &str| format!("/api/v1/messages/search?q={}", q(words));
    assert_eq!(
        texts(&app, &bob, &search("стар")).await,
        Vec::<String>::new()
    );
    assert_eq!(texts(&app, &bob, &search("нов")).await, vec!["новые слова"]);
    assert_eq!(
        texts(&app, &bob, &search("удал")).await,
        Vec::<String>::new()
    );

    for n in 0..5 {
        send(&app, &bob, private, &format!("часы номер {n}")).await;
    }
    let mut found = Vec::new();
    let mut path = format!("{}&limit=2", search("часы"));
    loop {
        let page: Value = app
            .get(&path, Some(&ann.access_token))
            .await
            .json()
            .await
            .unwrap();
        found.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["text"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_i64() {
            Some(before) => path = format!("{}&limit=2&before={before}", search("часы")),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).rev().map(|n| format!("часы номер {n}")).collect();
    assert_eq!(found, expected);
}

/// Every page of a search, following `next` as `before`, newest first.
async fn all_pages(app: &TestApp, user: &TestUser, path: &str, limit: u64) -> Vec<String> {
    let mut found = Vec::new();
    let mut page_path = format!("{path}&limit={limit}");
    loop {
        let response = app.get(&page_path, Some(&user.access_token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{page_path}");
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() as u64 <= limit);
        found.extend(items.iter().map(|m| m["text"].as_str().unwrap().to_owned()));
        match page["next"].as_i64() {
            Some(before) => page_path = format!("{path}&limit={limit}&before={before}"),
            None => return found,
        }
    }
}

#[tokio::test]
async fn search_walks_many_messages_newest_first_in_pages_and_only_for_members() {
    let app = spawn_app().await;
    let [ann, bob, carl] = [
        app.register("ann").await,
        app.register("bob").await,
        app.register("carl").await,
    ];
    let group = chat(
        &app,
        &ann,
        json!({"type": "group", "name": "Часовщики", "member_ids": [bob.user_id, carl.user_id]}),
    )
    .await;
    let other = chat(
        &app,
        &bob,
        json!({"type": "private", "user_id": carl.user_id}),
    )
    .await;
    // a common word in 90 messages, a rarer one in every 15th, and 20 distinct words
    // starting with one prefix (more than are walked word by word)
    let letters: Vec<char> = "абвгдежзийклмнопрсту".chars().collect();
    let text = |n: usize| {
        let rare = if n % 15 == 0 { " редкий" } else { "" };
        let prefixed = match letters.get(n / 4) {
            Some(letter) if n % 4 == 0 => format!(" ключ{letter}"),
            _ => String::new(),
        };
        format!("часы {n}{rare}{prefixed}")
    };
    for n in 0..90 {
        send(&app, &ann, group, &text(n)).await;
    }
    send(&app, &bob, other, "часы не отсюда редкий").await;
    let in_group = |words: &str| format!("/api/v1/chats/{group}/messages?q={}", q(words));
    let everywhere = |words: &str| format!("/api/v1/messages/search?q={}", q(words));

    let newest: Vec<String> = texts(&app, &ann, &format!("{}&limit=3", everywhere("часы"))).await;
    assert_eq!(newest, vec![text(89), text(88), text(87)]);

    let rare: Vec<String> = (0..90).rev().filter(|n| n % 15 == 0).map(text).collect();
    assert_eq!(all_pages(&app, &ann, &in_group("редк час"), 2).await, rare);
    assert_eq!(all_pages(&app, &ann, &in_group("час редк"), 4).await, rare);
    let mut with_other = vec!["часы не отсюда редкий".to_owned()];
    with_other.extend(rare.iter().cloned());
    assert_eq!(
        all_pages(&app, &bob, &everywhere("часы редкий"), 3).await,
        with_other
    );

    let all_group: Vec<String> = all_pages(&app, &carl, &in_group("час"), 7).await;
    assert_eq!(all_group.len(), 90);
    assert_eq!(all_group, (0..90).rev().map(text).collect::<Vec<_>>());

    let prefixed: Vec<String> = all_pages(&app, &bob, &everywhere("ключ"), 6).await;
    let expected: Vec<String> = (0..80).rev().filter(|n| n % 4 == 0).map(text).collect();
    assert_eq!(prefixed, expected);

    // carl leaves: the group's messages are no longer his to find, even the common word
    let response = app
        .delete(
            &format!("/api/v1/chats/{group}/participants/{}", carl.user_id),
            Some(&carl.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        texts(&app, &carl, &everywhere("часы")).await,
        vec!["часы не отсюда редкий"]
    );
    let response = app.get(&in_group("часы"), Some(&carl.access_token)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
