//! Messages with files: what may be attached, kinds from the sniffed type, who may then
//! download the files (the chat's participants, for as long as they are in it), the
//! chat's media list, and previews of what a reply answers.

use std::collections::HashMap;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat_live::{connect, next};
use crate::helpers::{TestApp, TestUser, assert_problem, count_rows, png, spawn_app};

const TEXT: &str = "Паспорт часов «Полёт», механизм 2614.2Н\n";

/// The start of an MP4 file: an `ftyp` box (brand isom) and an empty `mdat` box.
fn mp4() -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&24u32.to_be_bytes());
    bytes.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    bytes.extend_from_slice(&8u32.to_be_bytes());
    bytes.extend_from_slice(b"mdat");
    bytes
}

/// Uploads a file (`public` or private) and answers its uid. The name and the claimed
/// type say nothing: the bytes decide.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    bytes: Vec<u8>,
    public: bool,
) -> String {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")
        .unwrap();
    let visibility = if public { "public" } else { "private" };
    let form = Form::new()
        .part("file", part)
        .text("visibility", visibility);
    let response = app
        .request(Method::POST, "/api/v1/files", Some(&user.access_token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn chat(app: &TestApp, owner: &TestUser, members: &[&TestUser]) -> i64 {
    let ids: Vec<i64> = members.iter().map(|m| m.user_id).collect();
    let body = json!({"type": "group", "name": "Клуб", "member_ids": ids});
    let response = app
        .post_json("/api/v1/chats", Some(&owner.access_token), &body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn send(app: &TestApp, user: &TestUser, chat: i64, body: Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/chats/{chat}/messages");
    let response = app.post_json(&path, Some(&user.access_token), &body).await;
    (response.status(), response.json().await.unwrap())
}

async fn sent(app: &TestApp, user: &TestUser, chat: i64, body: Value) -> Value {
    let (status, message) = send(app, user, chat, body).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

async fn get_json(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let response = app.get(path, Some(&user.access_token)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// The status of downloading a file (or a part of its API path) as `user`.
async fn download(app: &TestApp, user: Option<&TestUser>, path: &str) -> StatusCode {
    let token = user.map(|user| user.access_token.as_str());
    app.get(path, token).await.status()
}

fn file_path(uid: &str) -> String {
    format!("/api/v1/files/{uid}")
}

/// The path of one of the API's absolute URLs.
fn api_path(url: &Value) -> &str {
    let url = url.as_str().unwrap();
    &url[url.find("/api/v1/").unwrap()..]
}

#[tokio::test]
async fn attachments_are_sent_with_kinds_from_their_sniffed_types() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let image = upload(&app, &ann, "photo.bin", png(40, 30), false).await;
    let video = upload(&app, &ann, "clip", mp4(), false).await;
    // named like a video, but it is text
    let text = upload(&app, &ann, "passport.mp4", TEXT.into(), false).await;
    let mut socket = connect(&app, &bob, &HashMap::new()).await;

    let body = json!({"text": " Мои часы ", "attachments": [image, video, text]});
    let message = sent(&app, &ann, chat, body).await;

    assert_eq!(message["text"], "Мои часы");
    let attachments = message["attachments"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = attachments
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap(),
                a["mime_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("image", "image/png"),
            ("video", "video/mp4"),
            ("file", "text/plain")
        ]
    );
    let photo = &attachments[0];
    assert_eq!(photo["uid"], image.as_str());
    assert_eq!(photo["name"], "photo.bin");
    assert_eq!(photo["size"], png(40, 30).len());
    let url = file_path(&image);
    assert_eq!(api_path(&photo["url"]), url);
    assert_eq!(
        api_path(&photo["thumbnail_url"]),
        format!("{url}?thumb=256x256")
    );
    assert!(attachments[1]["thumbnail_url"].is_null());
    assert!(attachments[2]["thumbnail_url"].is_null());
    assert_eq!(attachments[2]["size"], TEXT.len());

    // the same in the history and in the live event
    let history = get_json(&app, &bob, &format!("/api/v1/chats/{chat}/messages")).await;
    assert_eq!(history["items"][0]["attachments"], message["attachments"]);
    let event = next(&mut socket).await.unwrap();
    assert_eq!(event["kind"], "message.created", "{event}");
    assert_eq!(event["message"]["attachments"], message["attachments"]);

    // files alone, no text: the chat list says "attachment"
    let only_files = sent(&app, &ann, chat, json!({"attachments": [image]})).await;
    assert_eq!(only_files["text"], "");
    let mine = get_json(&app, &bob, &format!("/api/v1/chats/{chat}")).await;
    assert_eq!(mine["last_message"]["kind"], "attachment", "{mine}");
    assert_eq!(mine["last_message"]["text"], "");
}

#[tokio::test]
async fn participants_read_attached_files_and_their_thumbnails_and_nobody_else() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let image = upload(&app, &ann, "watch.png", png(64, 48), false).await;
    let path = file_path(&image);
    assert_eq!(
        download(&app, Some(&bob), &path).await,
        StatusCode::NOT_FOUND
    );

    let message = sent(&app, &ann, chat, json!({"attachments": [image]})).await;

    let response = app.get(&path, Some(&bob.access_token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // readable through a chat, still nobody's to cache publicly
    assert_eq!(response.headers()["cache-control"], "private, no-cache");
    assert_eq!(response.bytes().await.unwrap(), png(64, 48));
    let thumbnail = api_path(&message["attachments"][0]["thumbnail_url"]);
    let response = app.get(thumbnail, Some(&bob.access_token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["cache-control"], "private, no-cache");
    let meta = format!("{path}/meta");
    assert_eq!(download(&app, Some(&bob), &meta).await, StatusCode::OK);

    let thumb = format!("{path}?thumb=256x256");
    for user in [Some(&carl), None] {
        for path in [&path, &thumb, &meta] {
            let token = user.map(|user| user.access_token.as_str());
            let response = app.get(path, token).await;
            assert_problem(response, StatusCode::NOT_FOUND, "file_not_found").await;
        }
    }
    // reading is all a participant may do with it
    let response = app.delete(&path, Some(&bob.access_token)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "file_not_found").await;
}

#[tokio::test]
async fn a_member_removed_from_the_chat_loses_its_files_at_once() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let chat = chat(&app, &ann, &[&bob, &carl]).await;
    let file = upload(&app, &ann, "notes.txt", TEXT.into(), false).await;
    sent(
        &app,
        &ann,
        chat,
        json!({"text": "читайте", "attachments": [file]}),
    )
    .await;
    let path = file_path(&file);
    assert_eq!(download(&app, Some(&carl), &path).await, StatusCode::OK);

    let removal = format!("/api/v1/chats/{chat}/participants/{}", carl.user_id);
    let response = app.delete(&removal, Some(&ann.access_token)).await;
    assert!(response.status().is_success(), "{}", response.status());

    let response = app.get(&path, Some(&carl.access_token)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "file_not_found").await;
    assert_eq!(download(&app, Some(&bob), &path).await, StatusCode::OK);
}

#[tokio::test]
async fn a_deleted_message_takes_its_files_with_it() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let once = upload(&app, &ann, "once.png", png(8, 8), false).await;
    let twice = upload(&app, &ann, "twice.txt", TEXT.into(), false).await;
    let gone = sent(&app, &ann, chat, json!({"attachments": [once, twice]})).await;
    sent(
        &app,
        &ann,
        chat,
        json!({"text": "ещё раз", "attachments": [twice]}),
    )
    .await;
    assert_eq!(
        download(&app, Some(&bob), &file_path(&once)).await,
        StatusCode::OK
    );

    let path = format!("/api/v1/chats/{chat}/messages/{}", gone["seq"]);
    let response = app.delete(&path, Some(&ann.access_token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = app.get(&file_path(&once), Some(&bob.access_token)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "file_not_found").await;
    // still sent in a live message
    assert_eq!(
        download(&app, Some(&bob), &file_path(&twice)).await,
        StatusCode::OK
    );
    // still its owner's
    assert_eq!(
        download(&app, Some(&ann), &file_path(&once)).await,
        StatusCode::OK
    );
    let history = get_json(&app, &bob, &format!("/api/v1/chats/{chat}/messages")).await;
    let tombstone = &history["items"][1];
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["attachments"], json!([]));
    let media = get_json(&app, &bob, &format!("/api/v1/chats/{chat}/media")).await;
    let uids: Vec<&str> = media["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["attachment"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, [twice.as_str()]);
}

#[tokio::test]
async fn only_my_files_and_public_ones_are_attached_and_a_refusal_writes_nothing() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let bobs_private = upload(&app, &bob, "private.txt", TEXT.into(), false).await;
    let bobs_public = upload(&app, &bob, "public.png", png(4, 4), true).await;
    let mut mine = Vec::new();
    for n in 0..11 {
        mine.push(
            upload(
                &app,
                &ann,
                &format!("{n}.txt"),
                format!("{n}").into(),
                false,
            )
            .await,
        );
    }
    let messages_before = count_rows(&app, "messages").await;
    let seq_before =
        get_json(&app, &ann, &format!("/api/v1/chats/{chat}")).await["last_seq"].clone();

    let refused = [
        (
            json!({"text": "hi", "attachments": [mine[0], bobs_private]}),
            "attachments",
        ),
        (
            json!({"text": "hi", "attachments": ["no-such-file"]}),
            "attachments",
        ),
        (json!({"text": "hi", "attachments": mine}), "attachments"),
        (
            json!({"text": "hi", "attachments": [mine[0], mine[0]]}),
            "attachments",
        ),
        (json!({"text": " ", "attachments": []}), "text"),
        (json!({}), "text"),
    ];
    for (body, field) in refused {
        let path = format!("/api/v1/chats/{chat}/messages");
        let response = app.post_json(&path, Some(&ann.access_token), &body).await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    assert_eq!(count_rows(&app, "messages").await, messages_before);
    assert_eq!(count_rows(&app, "message_attachments").await, 0);
    let chat_now = get_json(&app, &ann, &format!("/api/v1/chats/{chat}")).await;
    assert_eq!(chat_now["last_seq"], seq_before);
    // the private file stays bob's alone
    assert_eq!(
        download(&app, Some(&ann), &file_path(&bobs_private)).await,
        StatusCode::NOT_FOUND
    );

    let ten = &mine[..10];
    let message = sent(&app, &ann, chat, json!({"attachments": ten})).await;
    assert_eq!(message["attachments"].as_array().unwrap().len(), 10);
    let public = sent(&app, &ann, chat, json!({"attachments": [bobs_public]})).await;
    assert_eq!(public["attachments"][0]["uid"], bobs_public.as_str());
}

#[tokio::test]
async fn a_retried_send_with_attachments_returns_the_first_message() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let image = upload(&app, &ann, "a.png", png(8, 8), false).await;
    let file = upload(&app, &ann, "b.txt", TEXT.into(), false).await;
    let body = json!({"client_id": "nonce-1", "attachments": [image, file]});
    let first = sent(&app, &ann, chat, body.clone()).await;

    let (status, again) = send(&app, &ann, chat, body).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["attachments"], first["attachments"]);
    assert_eq!(count_rows(&app, "messages").await, 1);
    assert_eq!(count_rows(&app, "message_attachments").await, 2);
}

#[tokio::test]
async fn the_media_list_pages_newest_first_by_type_for_participants_only() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let mut sent_order = Vec::new();
    for n in 0..3 {
        let image = upload(&app, &ann, &format!("{n}.png"), png(8 + n, 8), false).await;
        let file = upload(
            &app,
            &bob,
            &format!("{n}.txt"),
            format!("{n}").into(),
            false,
        )
        .await;
        sent(&app, &ann, chat, json!({"attachments": [image]})).await;
        sent(
            &app,
            &bob,
            chat,
            json!({"text": "файл", "attachments": [file]}),
        )
        .await;
        sent_order.extend([image, file]);
    }
    let video = upload(&app, &bob, "clip", mp4(), false).await;
    sent(&app, &bob, chat, json!({"attachments": [video]})).await;
    sent_order.push(video.clone());
    sent(&app, &ann, chat, json!({"text": "без файлов"})).await;

    let media = format!("/api/v1/chats/{chat}/media");
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(before) => format!("{media}?limit=3&before={before}"),
            None => format!("{media}?limit=3"),
        };
        let page = get_json(&app, &bob, &path).await;
        for item in page["items"].as_array().unwrap() {
            assert!(item["seq"].as_i64().unwrap() > 1);
            seen.push(item["attachment"]["uid"].as_str().unwrap().to_owned());
        }
        match page["next"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<String> = sent_order.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let images = get_json(&app, &ann, &format!("{media}?type=image")).await;
    let kinds: Vec<&str> = images["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["attachment"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["image"; 3]);
    assert_eq!(images["items"][0]["sender_id"], ann.user_id);
    assert!(images["items"][0]["attachment"]["thumbnail_url"].is_string());
    let videos = get_json(&app, &ann, &format!("{media}?type=video")).await;
    assert_eq!(videos["items"][0]["attachment"]["uid"], video.as_str());
    assert_eq!(videos["items"].as_array().unwrap().len(), 1);
    let files = get_json(&app, &ann, &format!("{media}?type=file&limit=2")).await;
    assert_eq!(files["items"].as_array().unwrap().len(), 2);
    assert!(files["next"].is_i64());

    for bad in ["?type=audio", "?limit=0", "?limit=101"] {
        let response = app
            .get(&format!("{media}{bad}"), Some(&ann.access_token))
            .await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let response = app.get(&media, Some(&carl.access_token)).await;
    assert_problem(response, StatusCode::NOT_FOUND, "chat_not_found").await;
}

#[tokio::test]
async fn replies_carry_a_preview_of_what_they_answer() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = chat(&app, &ann, &[&bob]).await;
    let long = "Полёт ".repeat(30);
    let question = sent(&app, &ann, chat, json!({"text": long})).await;
    let image = upload(&app, &ann, "a.png", png(8, 8), false).await;
    let picture = sent(&app, &ann, chat, json!({"attachments": [image]})).await;
    let mut socket = connect(&app, &ann, &HashMap::new()).await;

    let body = json!({"text": "Красивые", "reply_to": question["seq"]});
    let answer = sent(&app, &bob, chat, body).await;
    let body = json!({"text": "И эти", "reply_to": picture["seq"]});
    let on_picture = sent(&app, &bob, chat, body).await;

    let preview = &answer["reply_preview"];
    assert_eq!(answer["reply_to"], question["seq"]);
    assert_eq!(preview["seq"], question["seq"]);
    assert_eq!(preview["sender_id"], ann.user_id);
    assert_eq!(preview["kind"], "text");
    let first_100: String = long.trim().chars().take(100).collect();
    assert_eq!(preview["text"], first_100.as_str());
    assert_eq!(on_picture["reply_preview"]["kind"], "attachment");
    assert_eq!(on_picture["reply_preview"]["text"], "");
    let event = next(&mut socket).await.unwrap();
    assert_eq!(event["message"]["reply_preview"], answer["reply_preview"]);

    let path = format!("/api/v1/chats/{chat}/messages/{}", question["seq"]);
    let response = app.delete(&path, Some(&ann.access_token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let history = get_json(&app, &bob, &format!("/api/v1/chats/{chat}/messages")).await;
    let answer_now = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == answer["id"])
        .unwrap();
    assert_eq!(answer_now["reply_preview"]["kind"], "deleted");
    assert_eq!(answer_now["reply_preview"]["text"], "");
    assert!(history["items"][0]["reply_preview"].is_object());
}

#[tokio::test]
async fn the_openapi_document_describes_attachments_media_and_reply_previews() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let media = &doc["paths"]["/api/v1/chats/{id}/media"]["get"];
    let params: Vec<&str> = media["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["id", "type", "before", "limit"]);
    for status in ["200", "404", "422"] {
        assert!(media["responses"][status].is_object(), "media {status}");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SendMessageRequest"]["properties"]["attachments"].is_object());
    for field in ["attachments", "reply_preview"] {
        assert!(
            schemas["MessageView"]["properties"][field].is_object(),
            "MessageView.{field}"
        );
    }
    assert!(schemas["AttachmentView"]["properties"]["thumbnail_url"].is_object());
    assert!(schemas["MediaPage"].is_object());
}
