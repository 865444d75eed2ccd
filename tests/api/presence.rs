//! Presence: the people I share a chat with see me come online and go offline, my
//! profile says when I was last connected, I can hide both, and a server process that
//! stops leaves nobody online.

use std::collections::HashMap;

use chrono::Utc;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::chat_live::{Socket, connect, next_message as next, private_chat, send_text};
use crate::helpers::{TestApp, TestUser, WithName, spawn_app};

/// Closes a socket and waits until the server has let it go (and so has acted on it).
async fn leave(mut socket: Socket) {
    socket.close(None).await.unwrap();
    while let Some(Ok(_)) = socket.next().await {}
}

/// `from` sends a message in `chat`: its event reaches `socket` after any presence
/// announced before it (notices are relayed in order), so it must come next.
async fn assert_nothing_before_a_message(
    app: &TestApp,
    socket: &mut Socket,
    from: &TestUser,
    chat: i64,
) {
    send_text(app, from, chat, "marker").await;
    let message = next(socket).await.unwrap();
    assert_eq!(message["type"], "event", "{message}");
    assert_eq!(message["message"]["text"], "marker");
}

async fn profile(app: &TestApp, of: &TestUser) -> Value {
    let response = app
        .get(&format!("/api/v1/users/{}", of.user_id), None)
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.json().await.unwrap()
}

fn presence(user: &TestUser, online: bool) -> Value {
    json!({"type": "presence", "changes": [{"user_id": user.user_id, "online": online}]})
}

#[tokio::test]
async fn partners_see_me_come_and_go_and_my_profile_says_when() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let with_bob = private_chat(&app, &ann, &bob).await;
    let with_carl = private_chat(&app, &ann, &carl).await;
    let never_seen = profile(&app, &bob).await;
    assert_eq!(never_seen["last_seen"], Value::Null);
    assert_eq!(never_seen["online"], false);
    let mut carls = connect(&app, &carl, &HashMap::new()).await;
    assert_nothing_before_a_message(&app, &mut carls, &ann, with_carl).await;
    let mut anns = connect(&app, &ann, &HashMap::new()).await;
    assert_eq!(next(&mut carls).await.unwrap(), presence(&ann, true));

    let phone = app.login("bob", &bob.password).await.with_name(bob.clone());
    let bobs = connect(&app, &bob, &HashMap::new()).await;
    // carl's coming online reaches ann too when it was told after her socket opened
    let mut heard = next(&mut anns).await.unwrap();
    if heard == presence(&carl, true) {
        heard = next(&mut anns).await.unwrap();
    }
    assert_eq!(heard, presence(&bob, true));
    let bobs_phone = connect(&app, &phone, &HashMap::new()).await;
    let online = profile(&app, &bob).await;
    assert_eq!(online["online"], true);
    assert!(online["last_seen"].is_string(), "{online}");

    leave(bobs).await;
    // still connected from the phone: nobody is told anything
    assert_nothing_before_a_message(&app, &mut anns, &ann, with_bob).await;
    leave(bobs_phone).await;
    assert_eq!(next(&mut anns).await.unwrap(), presence(&bob, false));
    let offline = profile(&app, &bob).await;
    assert_eq!(offline["online"], false);
    let last_seen: chrono::DateTime<Utc> =
        serde_json::from_value(offline["last_seen"].clone()).unwrap();
    assert!(last_seen <= Utc::now());
    // carl shares no chat with bob: all he hears of is ann's message
    assert_nothing_before_a_message(&app, &mut carls, &ann, with_carl).await;
}

#[tokio::test]
async fn a_member_who_hides_presence_shows_no_last_seen_and_sends_no_events() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let chat = private_chat(&app, &ann, &bob).await;
    let mut anns = connect(&app, &ann, &HashMap::new()).await;
    let bobs = connect(&app, &bob, &HashMap::new()).await;
    assert_eq!(next(&mut anns).await.unwrap(), presence(&bob, true));

    let response = app
        .patch_json(
            "/api/v1/users/me",
            Some(&bob.access_token),
            &json!({"show_presence": false}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["show_presence"],
        false
    );
    // hiding while online looks like leaving
    assert_eq!(next(&mut anns).await.unwrap(), presence(&bob, false));
    let hidden = profile(&app, &bob).await;
    assert_eq!(hidden["last_seen"], Value::Null);
    assert_eq!(hidden["online"], false);
    leave(bobs).await;
    let again = connect(&app, &bob, &HashMap::new()).await;
    leave(again).await;
    assert_nothing_before_a_message(&app, &mut anns, &ann, chat).await;

    let response = app
        .patch_json(
            "/api/v1/users/me",
            Some(&bob.access_token),
            &json!({"show_presence": true}),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["show_presence"],
        true
    );
    assert!(profile(&app, &bob).await["last_seen"].is_string());
}

#[tokio::test]
async fn a_process_that_stopped_leaves_nobody_online() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    private_chat(&app, &ann, &bob).await;
    let mut anns = connect(&app, &ann, &HashMap::new()).await;
    // bob was connected to a process that died without a word: its lease runs out
    let backend = app.state.db.get_database_backend();
    let expired = (Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    let soon = (Utc::now() + chrono::Duration::seconds(90)).to_rfc3339();
    for (instance, until) in [(-1, &expired), (-2, &soon)] {
        app.state
            .db
            .execute(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        "INSERT INTO presence_leases (user_id, instance, expires_at) \
                         VALUES ($1, $2, $3::timestamptz)"
                    }
                    _ => "INSERT INTO presence_leases (user_id, instance, expires_at) VALUES (?, ?, ?)",
                },
                [bob.user_id.into(), instance.into(), until.clone().into()],
            ))
            .await
            .unwrap();
        if instance == -1 {
            assert_eq!(
                profile(&app, &bob).await["online"],
                false,
                "an expired lease"
            );
        }
    }
    assert_eq!(
        profile(&app, &bob).await["online"],
        true,
        "a live lease elsewhere"
    );
    // the live lease's process stops renewing it: once it has expired, a sweep ends it
    app.state
        .db
        .execute(Statement::from_string(
            backend,
            format!(
                "UPDATE presence_leases SET expires_at = \
                 (SELECT expires_at FROM presence_leases WHERE instance = -1) \
                 WHERE user_id = {}",
                bob.user_id
            ),
        ))
        .await
        .unwrap();
    vitrine::chat::live::presence::sweep(&app.state)
        .await
        .unwrap();
    assert_eq!(next(&mut anns).await.unwrap(), presence(&bob, false));
    assert_eq!(profile(&app, &bob).await["online"], false);
    assert_eq!(
        crate::helpers::count_rows(&app, "presence_leases").await,
        1,
        "only ann's own lease is left"
    );
}

#[tokio::test]
async fn partners_who_connect_together_arrive_in_few_presence_messages() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let mut partners = Vec::new();
    for name in ["bob", "carl", "dora", "emil", "fay", "gus"] {
        let partner = app.register(name).await;
        private_chat(&app, &ann, &partner).await;
        partners.push(partner);
    }
    let mut anns = connect(&app, &ann, &HashMap::new()).await;
    let no_resume = HashMap::new();
    let sockets = futures_util::future::join_all(
        partners
            .iter()
            .map(|partner| connect(&app, partner, &no_resume)),
    )
    .await;

    let mut online = std::collections::BTreeSet::new();
    let mut messages = 0;
    while online.len() < partners.len() {
        let message = next(&mut anns).await.expect("presence of every partner");
        assert_eq!(message["type"], "presence", "{message}");
        messages += 1;
        let changes = message["changes"].as_array().expect("a list of changes");
        let ids: Vec<i64> = changes
            .iter()
            .map(|change| {
                assert_eq!(change["online"], true, "{message}");
                change["user_id"].as_i64().unwrap()
            })
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            ids, sorted,
            "each person once per message, in order: {message}"
        );
        for id in ids {
            assert!(online.insert(id), "{id} announced twice");
        }
    }
    let expected: std::collections::BTreeSet<i64> =
        partners.iter().map(|partner| partner.user_id).collect();
    assert_eq!(online, expected);
    assert!(messages <= partners.len());
    drop(sockets);
}
