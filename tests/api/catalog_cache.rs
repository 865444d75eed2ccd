//! The catalog answer cache: keyed on the request's meaning, bounded in memory whatever
//! clients send, and giving its memory back when answers expire.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::catalog_watches::{create_watch, get_json, ids, moderator};
use crate::helpers::{TestApp, in_own_process, spawn_app_with};

/// The resident memory of this process, which serves the app under test.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

const MIB: u64 = 1024 * 1024;

async fn seed_watches(app: &TestApp, count: usize) {
    let moder = moderator(app).await;
    for n in 0..count {
        create_watch(
            app,
            &moder.access_token,
            &json!({"folder": format!("watch_{n:04}"), "code": format!("{n}-A"),
                    "start_release": 1970, "end_release": 1985,
                    "aliases": [format!("Командирские Амфибия {n}"),
                                format!("Восток Альбатрос автоподзавод {n}"),
                                format!("Ночной патруль {n}")]}),
        )
        .await;
    }
}

#[tokio::test]
async fn equivalent_queries_share_one_cached_answer() {
    let app = spawn_app_with(|config| config.catalog_cache_ttl_secs = 600).await;
    seed_watches(&app, 1).await;
    let first = get_json(&app, "/api/v1/watches?q=Амфибия").await;
    assert_eq!(first["items"][0]["folder"], "watch_0000");

    // changed behind the server's back: only a new answer shows it
    app.state
        .db
        .execute_unprepared("UPDATE watch SET folder = 'renamed'")
        .await
        .unwrap();
    for same in [
        "/api/v1/watches?q=Амфибия",
        "/api/v1/watches?q=%20АМФИБИЯ!!&sort=id",
        "/api/v1/watches?limit=20&q=амфибия",
        "/api/v1/watches?unknown=1&q=амфибия",
    ] {
        assert_eq!(get_json(&app, same).await, first, "{same}");
    }
    let other = get_json(&app, "/api/v1/watches?q=амфибия&limit=21").await;
    assert_eq!(other["items"][0]["folder"], "renamed");
}

#[tokio::test]
async fn sign_ins_collections_and_uploads_keep_cached_answers_catalog_writes_renew_them() {
    let app = spawn_app_with(|config| config.catalog_cache_ttl_secs = 600).await;
    seed_watches(&app, 1).await;
    let member = app.register("collector").await;
    let cached = get_json(&app, "/api/v1/watches").await;
    let id = cached["items"][0]["id"].as_i64().unwrap();
    app.state
        .db
        .execute_unprepared("UPDATE watch SET folder = 'renamed'")
        .await
        .unwrap();

    app.login(&member.username, &member.password).await;
    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/users/me/collection/{id}"),
            Some(&member.access_token),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let upload = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/files/stream",
            Some(&member.access_token),
        )
        .query(&[("name", "notes.zip")])
        .body(b"PK\x03\x04 not a photo of any watch".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::CREATED);
    assert_eq!(get_json(&app, "/api/v1/watches").await, cached);

    let moder = app.login("moder", crate::helpers::PASSWORD).await;
    let token = moder["access_token"].as_str().unwrap();
    let response = app
        .post_json("/api/v1/brands", Some(token), &json!({"name": "Слава"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let renewed = get_json(&app, "/api/v1/watches").await;
    assert_eq!(renewed["items"][0]["folder"], "renamed");
}

#[tokio::test]
async fn a_watch_edit_renews_that_watch_and_every_list_and_no_other_watch() {
    let app = spawn_app_with(|config| config.catalog_cache_ttl_secs = 600).await;
    seed_watches(&app, 2).await;
    let list = get_json(&app, "/api/v1/watches?sort=id").await;
    let [edited, other] = ids(&list)[..] else {
        panic!("two watches expected: {list}")
    };
    let detail = |id: i64| format!("/api/v1/watches/{id}");
    let other_before = get_json(&app, &detail(other)).await;
    get_json(&app, &detail(edited)).await;
    // changed behind the server's back: only a renewed answer shows it
    app.state
        .db
        .execute_unprepared("UPDATE watch SET code = 'behind-' || id")
        .await
        .unwrap();
    assert_eq!(get_json(&app, "/api/v1/watches?sort=id").await, list);

    let moder = app.login("moder", crate::helpers::PASSWORD).await;
    let response = app
        .patch_json(
            &detail(edited),
            moder["access_token"].as_str(),
            &json!({"end_release": 1991}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let renewed = get_json(&app, &detail(edited)).await;
    assert_eq!(
        (renewed["end_release"].clone(), renewed["code"].clone()),
        (json!(1991), json!(format!("behind-{edited}")))
    );
    assert_eq!(get_json(&app, &detail(other)).await, other_before, "kept");
    let renewed_list = get_json(&app, "/api/v1/watches?sort=id").await;
    assert_eq!(
        renewed_list["items"][1]["code"],
        format!("behind-{other}"),
        "{renewed_list}"
    );
    assert_eq!(renewed_list["items"][0]["end_release"], 1991);
}

/// The way it was found: tens of thousands of distinct queries from one client.
#[tokio::test]
async fn distinct_queries_keep_memory_bounded_and_give_it_back() {
    // it measures this process's memory, which must serve this test alone
    if !in_own_process("catalog_cache::distinct_queries_keep_memory_bounded_and_give_it_back") {
        return;
    }
    const QUERIES: usize = 50_000;
    let app = spawn_app_with(|config| config.catalog_cache_ttl_secs = 2).await;
    seed_watches(&app, 100).await;
    let page = get_json(&app, "/api/v1/watches?limit=100&sort=id&year_from=-1").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(100));
    let page_bytes = page.to_string().len() as u64;

    let flood = |range: std::ops::Range<usize>| {
        let app = &app;
        futures_util::stream::iter(range)
            .map(move |n| async move {
                let path = format!("/api/v1/watches?limit=100&sort=id&year_from=-{n}");
                let response = app.get(&path, None).await;
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                response.bytes().await.unwrap().len()
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
    };
    // the heaps of every worker thread in use before measuring what is idle
    flood(1..500).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let idle = resident_bytes();

    let mut peak = idle;
    for start in (500..QUERIES).step_by(2_500) {
        flood(start..(start + 2_500).min(QUERIES)).await;
        peak = peak.max(resident_bytes());
    }
    let cached = app.state.catalog_cache.weighed_bytes();
    println!(
        "{QUERIES} queries of {page_bytes} B answers: idle {} MiB, peak {} MiB, cache {} MiB",
        idle / MIB,
        peak / MIB,
        cached / MIB
    );
    assert!(peak < 150 * MIB, "peak resident memory {} MiB", peak / MIB);
    assert!(
        cached <= app.state.config.catalog_cache_max_mb * MIB,
        "{cached} bytes cached"
    );

    // expired answers are dropped and their memory handed back within a bounded time
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = resident_bytes();
        if app.state.catalog_cache.weighed_bytes() == 0 && now <= idle + 16 * MIB {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "resident memory stayed at {} MiB (idle {} MiB), {} bytes cached",
            now / MIB,
            idle / MIB,
            app.state.catalog_cache.weighed_bytes()
        );
    };
    println!("after expiry: {} MiB", settled / MIB);
}
