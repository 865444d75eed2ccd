//! Byte ranges at their edges (RFC 9110 §14), and links that must not tell whether a
//! private file exists.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// A 1,000-byte private file of `user`; returns its path and bytes.
async fn thousand_bytes(app: &TestApp, token: &str) -> (String, Vec<u8>) {
    let bytes: Vec<u8> = b"PK\x03\x04"
        .iter()
        .copied()
        .chain((0..996u32).map(|n| (n * 7 % 251) as u8))
        .collect();
    let response = app
        .request(Method::PUT, "/api/v1/files/stream", Some(token))
        .query(&[("name", "k.zip")])
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let file: Value = response.json().await.unwrap();
    (
        format!("/api/v1/files/{}", file["uid"].as_str().unwrap()),
        bytes,
    )
}

#[tokio::test]
async fn range_edges_follow_rfc_9110() {
    let app = spawn_app().await;
    let user = app.register("edges").await;
    let (path, bytes) = thousand_bytes(&app, &user.access_token).await;
    let ranged = async |range: &str| {
        app.request(Method::GET, &path, Some(&user.access_token))
            .header("range", range)
            .send()
            .await
            .unwrap()
    };

    // a suffix longer than the file selects all of it, as a range
    for range in [
        "bytes=-1001",
        "bytes=-1000",
        "bytes=0-",
        "bytes=0-99999999999999999999999",
        "bytes=-99999999999999999999999",
    ] {
        let response = ranged(range).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            "bytes 0-999/1000",
            "{range}"
        );
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes, "{range}");
    }
    // list whitespace and empty elements are allowed; one satisfiable range is served
    let response = ranged("bytes=2000-3000, 10-19 ,").await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[10..20]);

    // malformed ranges are ignored: the whole file, 200
    for range in [
        "bytes=-",
        "bytes=5-3",
        "bytes=a-",
        "bytes=0 - 9",
        "bytes=0-1,9-2",
    ] {
        let response = ranged(range).await;
        assert_eq!(response.status(), StatusCode::OK, "{range}");
        assert!(response.headers().get("content-range").is_none(), "{range}");
        assert_eq!(response.bytes().await.unwrap().len(), 1000, "{range}");
    }

    // If-Range: a range of the current copy only, else the whole file
    let etag = app.get(&path, Some(&user.access_token)).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    for (if_range, status) in [(etag.as_str(), 206), ("\"stale\"", 200)] {
        let response = app
            .request(Method::GET, &path, Some(&user.access_token))
            .header("range", "bytes=0-9")
            .header("if-range", if_range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "If-Range: {if_range}");
    }

    // nothing to serve: 416 with the size
    for range in [
        "bytes=1000-",
        "bytes=-0",
        "bytes=99999999999999999999999-",
        "bytes=1000-1001, 2000-",
    ] {
        let response = ranged(range).await;
        assert_eq!(
            response.headers()["content-range"],
            "bytes */1000",
            "{range}"
        );
        assert_problem(
            response,
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
        )
        .await;
    }
}

#[tokio::test]
async fn a_forged_link_is_answered_as_a_missing_file() {
    let app = spawn_app().await;
    let owner = app.register("keeper").await;
    let (path, _) = thousand_bytes(&app, &owner.access_token).await;
    let expires = chrono::Utc::now().timestamp() + 600;
    let forged = format!("?expires={expires}&signature={}", "ab".repeat(32));
    let missing_path = "/api/v1/files/0190f3a0-0000-7000-8000-000000000000";

    let existing = app.get(&format!("{path}{forged}"), None).await;
    let missing = app.get(&format!("{missing_path}{forged}"), None).await;
    assert_eq!(existing.status(), missing.status());
    let existing = assert_problem(existing, StatusCode::NOT_FOUND, "file_not_found").await;
    let missing = assert_problem(missing, StatusCode::NOT_FOUND, "file_not_found").await;
    assert_eq!(existing, missing, "the answers must not differ");

    let not_hex = app
        .get(&format!("{path}?expires={expires}&signature=zz"), None)
        .await;
    assert_problem(not_hex, StatusCode::NOT_FOUND, "file_not_found").await;
}
