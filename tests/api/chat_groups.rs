//! Groups: who may add, remove, promote, rename and delete; ownership passing on when
//! the owner leaves; edits and deletions of messages; the log numbering all of it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, count_rows, spawn_app};

async fn call(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.request(method, path, Some(&user.access_token));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn group(app: &TestApp, owner: &TestUser, members: &[&TestUser]) -> i64 {
    let ids: Vec<i64> = members.iter().map(|m| m.user_id).collect();
    let response = app
        .post_json(
            "/api/v1/chats",
            Some(&owner.access_token),
            &json!({"type": "group", "name": "Клуб", "member_ids": ids}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn roles(app: &TestApp, user: &TestUser, chat: i64) -> Vec<(String, String)> {
    let response = call(
        app,
        user,
        Method::GET,
        &format!("/api/v1/chats/{chat}/participants"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["username"].as_str().unwrap().to_owned(),
                p["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn last_seq(app: &TestApp, user: &TestUser, chat: i64) -> i64 {
    let response = call(
        app,
        user,
        Method::GET,
        &format!("/api/v1/chats/{chat}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["last_seq"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn owners_and_admins_manage_members_as_their_roles_allow() {
    let app = spawn_app().await;
    let [ann, bob, carl, dora] = [
        app.register("ann").await,
        app.register("bob").await,
        app.register("carl").await,
        app.register("dora").await,
    ];
    let chat = group(&app, &ann, &[&bob, &carl]).await;
    let participants = format!("/api/v1/chats/{chat}/participants");
    let add = |user: &TestUser| Some(json!({"user_id": user.user_id}));

    // a member may not add, promote or remove
    let response = call(&app, &bob, Method::POST, &participants, add(&dora)).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = call(
        &app,
        &bob,
        Method::PATCH,
        &format!("{participants}/{}", carl.user_id),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("{participants}/{}", carl.user_id),
        None,
    )
    .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;

    // the owner promotes bob; an admin adds and removes members, not admins or the owner
    let response = call(
        &app,
        &ann,
        Method::PATCH,
        &format!("{participants}/{}", bob.user_id),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = call(&app, &bob, Method::POST, &participants, add(&dora)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = call(&app, &bob, Method::POST, &participants, add(&dora)).await;
    assert_problem(response, StatusCode::CONFLICT, "already_participant").await;
    let response = call(
        &app,
        &bob,
        Method::POST,
        &participants,
        Some(json!({"user_id": 9999})),
    )
    .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let response = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("{participants}/{}", ann.user_id),
        None,
    )
    .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("{participants}/{}", dora.user_id),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // bad roles and targets
    for body in [json!({"role": "owner"}), json!({"role": "king"})] {
        let response = call(
            &app,
            &ann,
            Method::PATCH,
            &format!("{participants}/{}", carl.user_id),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    let response = call(
        &app,
        &ann,
        Method::PATCH,
        &format!("{participants}/{}", dora.user_id),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_problem(response, StatusCode::NOT_FOUND, "participant_not_found").await;

    // dora, removed, sees nothing of the chat any more
    let response = call(
        &app,
        &dora,
        Method::GET,
        &format!("/api/v1/chats/{chat}/messages"),
        None,
    )
    .await;
    assert_problem(response, StatusCode::NOT_FOUND, "chat_not_found").await;
    assert_eq!(
        roles(&app, &ann, chat).await,
        vec![
            ("ann".into(), "owner".into()),
            ("bob".into(), "admin".into()),
            ("carl".into(), "member".into())
        ]
    );
    // created, promoted, added, removed: every change is one event, numbered in order
    assert_eq!(last_seq(&app, &ann, chat).await, 4);
    assert_eq!(count_rows(&app, "chat_events").await, 4);
}

#[tokio::test]
async fn ownership_passes_to_the_oldest_admin_and_the_last_one_out_deletes_the_chat() {
    let app = spawn_app().await;
    let [ann, bob, carl] = [
        app.register("ann").await,
        app.register("bob").await,
        app.register("carl").await,
    ];
    let chat = group(&app, &ann, &[&bob, &carl]).await;
    let participants = format!("/api/v1/chats/{chat}/participants");
    let response = call(
        &app,
        &ann,
        Method::PATCH,
        &format!("{participants}/{}", carl.user_id),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // the owner leaves: carl, the only admin, owns the group, though bob joined as early
    let response = call(
        &app,
        &ann,
        Method::DELETE,
        &format!("{participants}/{}", ann.user_id),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        roles(&app, &bob, chat).await,
        vec![
            ("bob".into(), "member".into()),
            ("carl".into(), "owner".into())
        ]
    );
    // carl leaves: bob, the oldest member, owns it
    let response = call(
        &app,
        &carl,
        Method::DELETE,
        &format!("{participants}/{}", carl.user_id),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        roles(&app, &bob, chat).await,
        vec![("bob".into(), "owner".into())]
    );
    let response = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("{participants}/{}", bob.user_id),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for table in ["chats", "chat_participants", "chat_events"] {
        assert_eq!(count_rows(&app, table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn only_the_owner_renames_or_deletes_a_group_and_private_chats_are_neither() {
    let app = spawn_app().await;
    let [ann, bob] = [app.register("ann").await, app.register("bob").await];
    let chat = group(&app, &ann, &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}");
    let response = call(
        &app,
        &bob,
        Method::PATCH,
        &path,
        Some(json!({"name": "Моё"})),
    )
    .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    for name in ["", "   ", &"x".repeat(101)] {
        let response = call(
            &app,
            &ann,
            Method::PATCH,
            &path,
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response = call(
        &app,
        &ann,
        Method::PATCH,
        &path,
        Some(json!({"name": " Амфибии "})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = call(&app, &bob, Method::GET, &path, None).await;
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Амфибии");
    let response = call(&app, &bob, Method::DELETE, &path, None).await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;

    let private = app
        .post_json(
            "/api/v1/chats",
            Some(&ann.access_token),
            &json!({"type": "private", "user_id": bob.user_id}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/api/v1/chats/{private}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/chats/{private}"), None),
        (
            Method::POST,
            format!("/api/v1/chats/{private}/participants"),
            Some(json!({"user_id": bob.user_id})),
        ),
    ] {
        let response = call(&app, &ann, method, &path, body).await;
        assert_problem(response, StatusCode::CONFLICT, "not_a_group").await;
    }

    let response = call(&app, &ann, Method::DELETE, &path, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = call(&app, &bob, Method::GET, &path, None).await;
    assert_problem(response, StatusCode::NOT_FOUND, "chat_not_found").await;
}

#[tokio::test]
async fn messages_are_edited_by_their_sender_and_deleted_as_tombstones() {
    let app = spawn_app().await;
    let [ann, bob, carl] = [
        app.register("ann").await,
        app.register("bob").await,
        app.register("carl").await,
    ];
    let chat = group(&app, &ann, &[&bob, &carl]).await;
    let messages = format!("/api/v1/chats/{chat}/messages");
    let mut seqs = Vec::new();
    for (user, text) in [(&bob, "первое"), (&carl, "второе")] {
        let response = call(
            &app,
            user,
            Method::POST,
            &messages,
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        seqs.push(
            response.json::<Value>().await.unwrap()["seq"]
                .as_i64()
                .unwrap(),
        );
    }
    let (bobs, carls) = (seqs[0], seqs[1]);

    let response = call(
        &app,
        &carl,
        Method::PATCH,
        &format!("{messages}/{bobs}"),
        Some(json!({"text": "чужое"})),
    )
    .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = call(
        &app,
        &bob,
        Method::PATCH,
        &format!("{messages}/{bobs}"),
        Some(json!({"text": " "})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = call(
        &app,
        &bob,
        Method::PATCH,
        &format!("{messages}/{bobs}"),
        Some(json!({"text": "исправлено"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["text"], "исправлено");
    assert_eq!(edited["seq"], bobs, "a message keeps its place");
    assert!(edited["edited_at"].is_string());

    // a member may not delete another's message; the owner may
    let response = call(
        &app,
        &bob,
        Method::DELETE,
        &format!("{messages}/{carls}"),
        None,
    )
    .await;
    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let before = last_seq(&app, &ann, chat).await;
    let response = call(
        &app,
        &ann,
        Method::DELETE,
        &format!("{messages}/{carls}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = call(
        &app,
        &ann,
        Method::DELETE,
        &format!("{messages}/{carls}"),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        last_seq(&app, &ann, chat).await,
        before + 1,
        "one event for one deletion"
    );
    let response = call(
        &app,
        &carl,
        Method::PATCH,
        &format!("{messages}/{carls}"),
        Some(json!({"text": "back"})),
    )
    .await;
    assert_problem(response, StatusCode::NOT_FOUND, "message_not_found").await;
    let response = call(&app, &ann, Method::DELETE, &format!("{messages}/999"), None).await;
    assert_problem(response, StatusCode::NOT_FOUND, "message_not_found").await;

    let history: Value = call(&app, &ann, Method::GET, &messages, None)
        .await
        .json()
        .await
        .unwrap();
    let newest = &history["items"][0];
    assert_eq!(newest["seq"], carls);
    assert_eq!(newest["deleted"], true);
    assert_eq!(newest["text"], "");
    let list: Value = call(&app, &ann, Method::GET, "/api/v1/chats", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["last_message"]["kind"], "deleted");
    // ann has read nothing: bob's message counts, carl's deleted one does not
    assert_eq!(list["items"][0]["unread_count"], 1);
    // created, two sends, an edit, a deletion
    assert_eq!(count_rows(&app, "chat_events").await, 5);
}
