//! Uploads, downloads, links, thumbnails and deletion of files, on local storage or S3.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    TestApp, TestUser, assert_problem, count_rows, png, spawn_app, spawn_app_with,
};
use vitrine::auth::Role;

const TEXT: &str = "Часы «Полёт», механизм 2614.2Н\n";

async fn upload_multipart(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    bytes: Vec<u8>,
    visibility: Option<&str>,
) -> reqwest::Response {
    let mut form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            // what the client claims is ignored; the bytes decide
            .mime_str("application/octet-stream")
            .unwrap(),
    );
    if let Some(visibility) = visibility {
        form = form.text("visibility", visibility.to_owned());
    }
    app.request(Method::POST, "/api/v1/files", Some(&user.access_token))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn upload_stream(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.request(
        Method::PUT,
        "/api/v1/files/stream",
        Some(&user.access_token),
    )
    .query(&[("name", name)])
    .body(bytes)
    .send()
    .await
    .unwrap()
}

async fn uploaded(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A body sent without Content-Length, chunk by chunk.
fn chunked(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

fn pseudo_random(len: usize) -> Vec<u8> {
    // a ZIP header keeps the type acceptable; the rest is incompressible noise
    let mut bytes = b"PK\x03\x04".to_vec();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

#[tokio::test]
async fn multipart_upload_stores_metadata_and_bytes() {
    let app = spawn_app().await;
    let user = app.register("uploader").await;
    let image = png(40, 30);
    let file =
        uploaded(upload_multipart(&app, &user, "Полёт.png", image.clone(), Some("public")).await)
            .await;
    assert_eq!(file["original_name"], "Полёт.png");
    assert_eq!(file["mime_type"], "image/png", "sniffed from the bytes");
    assert_eq!(file["size"], image.len());
    assert_eq!(file["sha256"], sha256(&image));
    assert_eq!(file["visibility"], "public");
    assert_eq!(file["storage"], if app.is_s3() { "s3" } else { "local" });
    let uid = file["uid"].as_str().unwrap();
    assert_eq!(file["url"], app.url(&format!("/api/v1/files/{uid}")));
    assert!(file["uploaded_at"].is_string());

    let response = app.get(&format!("/api/v1/files/{uid}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(
        response.headers()["etag"],
        format!("\"{}\"", sha256(&image))
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers().contains_key("last-modified"));
    assert_eq!(
        response.headers()["content-disposition"],
        "inline; filename=\"_____.png\"; filename*=UTF-8''%D0%9F%D0%BE%D0%BB%D1%91%D1%82.png"
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), image);

    // the key follows {category}/{yyyy}/{mm}/{uid}/{safe_name}
    let objects = app.stored_objects().await;
    assert_eq!(objects.len(), 1);
    assert!(objects[0].starts_with("images/20"), "{objects:?}");
    assert!(
        objects[0].ends_with(&format!("/{uid}/_____.png")),
        "{objects:?}"
    );
}

#[tokio::test]
async fn streamed_upload_of_several_parts_round_trips() {
    let app = spawn_app().await;
    let user = app.register("streamer").await;
    // larger than one part, so it goes through a multipart upload
    let bytes = pseudo_random(11 * 1024 * 1024 + 123);
    let file = uploaded(upload_stream(&app, &user, "archive.zip", bytes.clone()).await).await;
    assert_eq!(file["mime_type"], "application/zip");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["sha256"], sha256(&bytes));
    assert_eq!(
        file["visibility"], "private",
        "private unless asked otherwise"
    );
    let uid = file["uid"].as_str().unwrap();
    let body = app
        .get(&format!("/api/v1/files/{uid}"), Some(&user.access_token))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&body), sha256(&bytes));

    // without Content-Length too
    let response = app
        .request(
            Method::PUT,
            "/api/v1/files/stream?name=chunks.txt",
            Some(&user.access_token),
        )
        .body(chunked(vec![
            Ok(TEXT.as_bytes().to_vec()),
            Ok(TEXT.as_bytes().to_vec()),
        ]))
        .send()
        .await
        .unwrap();
    let file = uploaded(response).await;
    assert_eq!(file["mime_type"], "text/plain");
    assert_eq!(file["size"], TEXT.len() * 2);
}

#[tokio::test]
async fn unaccepted_types_are_415_and_store_nothing() {
    let app = spawn_app().await;
    let user = app.register("typist").await;
    let executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".repeat(100);
    assert_problem(
        upload_multipart(&app, &user, "photo.png", executable.clone(), None).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        upload_stream(&app, &user, "photo.jpg", executable).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let noise = [0u8, 1, 2, 3, 255, 254, 0, 7].repeat(2000);
    assert_problem(
        upload_stream(&app, &user, "data.bin", noise).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let empty = upload_stream(&app, &user, "empty.txt", Vec::new()).await;
    assert_problem(empty, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(count_rows(&app, "files").await, 0);
    assert!(app.stored_objects().await.is_empty());

    // the allow-list is configurable
    let strict = spawn_app_with(|config| config.allowed_types = "image/*".into()).await;
    let user = strict.register("strict").await;
    assert_problem(
        upload_stream(&strict, &user, "note.txt", TEXT.into()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    uploaded(upload_stream(&strict, &user, "pic.png", png(2, 2)).await).await;
}

#[tokio::test]
async fn the_size_limit_holds_with_and_without_content_length() {
    let app = spawn_app_with(|config| config.max_upload_bytes = 64 * 1024).await;
    let user = app.register("bigfiles").await;
    let too_big = pseudo_random(64 * 1024 + 1);
    assert_problem(
        upload_stream(&app, &user, "big.zip", too_big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert_problem(
        upload_multipart(&app, &user, "big.zip", too_big.clone(), None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let chunks = too_big
        .chunks(8 * 1024)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let response = app
        .request(
            Method::PUT,
            "/api/v1/files/stream?name=big.zip",
            Some(&user.access_token),
        )
        .body(chunked(chunks))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    uploaded(upload_stream(&app, &user, "fits.zip", pseudo_random(64 * 1024)).await).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_rows(&app, "files").await, 1);
    assert_eq!(
        app.stored_objects().await.len(),
        1,
        "{:?}",
        app.stored_objects().await
    );
}

#[tokio::test]
async fn slow_uploads_are_not_cut_off_by_the_request_timeout() {
    let app = spawn_app_with(|config| config.request_timeout_secs = 1).await;
    let user = app.register("slowpoke").await;
    let pieces: Vec<Vec<u8>> = TEXT
        .repeat(8)
        .into_bytes()
        .chunks(40)
        .map(<[u8]>::to_vec)
        .collect();
    let slow =
        futures_util::StreamExt::then(futures_util::stream::iter(pieces), |piece| async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            Ok::<_, std::io::Error>(piece)
        });
    let started = std::time::Instant::now();
    let response = app
        .request(
            Method::PUT,
            "/api/v1/files/stream?name=slow.txt",
            Some(&user.access_token),
        )
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the upload outlasted the limit"
    );
    let file = uploaded(response).await;
    assert_eq!(file["size"], TEXT.len() * 8);
}

/// Sends request headers over a raw connection and reads the answer without ever
/// sending the body: the server must answer from the headers alone.
async fn answer_to_headers(app: &TestApp, head: String) -> String {
    let port = app.address.rsplit(':').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("answered before any body byte was sent")
        .unwrap();
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

#[tokio::test]
async fn uploads_are_refused_before_the_body_is_read() {
    let app = spawn_app_with(|config| config.max_upload_bytes = 1024 * 1024).await;
    let user = app.register("early").await;
    let huge = 10u64 * 1024 * 1024 * 1024;
    let anonymous = answer_to_headers(
        &app,
        format!("PUT /api/v1/files/stream?name=a.zip HTTP/1.1\r\nHost: x\r\nContent-Length: {huge}\r\n\r\n"),
    )
    .await;
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let expired_token = answer_to_headers(
        &app,
        format!("PUT /api/v1/files/stream?name=a.zip HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer expired.token.here\r\nContent-Length: {huge}\r\n\r\n"),
    )
    .await;
    assert!(expired_token.starts_with("HTTP/1.1 401"), "{expired_token}");
    let declared_too_large = answer_to_headers(
        &app,
        format!(
            "PUT /api/v1/files/stream?name=a.zip HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {huge}\r\n\r\n",
            user.access_token
        ),
    )
    .await;
    assert!(
        declared_too_large.starts_with("HTTP/1.1 413"),
        "{declared_too_large}"
    );
    assert!(declared_too_large.contains("application/problem+json"));
    let multipart_too_large = answer_to_headers(
        &app,
        format!(
            "POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: {huge}\r\n\r\n",
            user.access_token
        ),
    )
    .await;
    assert!(
        multipart_too_large.starts_with("HTTP/1.1 413"),
        "{multipart_too_large}"
    );
}

/// No object and no row are left, once the server has cleaned up after the client (the
/// clean-up of a dropped upload runs in the background). Storage is judged only once no
/// upload is in progress: one still starting has not written its marker yet.
async fn assert_nothing_kept(app: &TestApp) {
    for _ in 0..50 {
        if app.state.storage.uploads_in_progress() == 0 && app.stored_objects().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.stored_objects().await.is_empty(),
        "{:?}",
        app.stored_objects().await
    );
    assert_eq!(count_rows(app, "files").await, 0);
}

/// Starts a raw upload announcing 20 MB and sends 6 MiB, past one part, so a multipart
/// upload is under way; the caller decides what the client does next.
async fn upload_past_one_part(app: &TestApp, user: &TestUser, name: &str) -> tokio::net::TcpStream {
    let port = app.address.rsplit(':').next().unwrap();
    let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let head = format!(
        "PUT /api/v1/files/stream?name={name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 20000000\r\n\r\n",
        user.access_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&pseudo_random(6 * 1024 * 1024))
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn an_aborted_upload_leaves_no_blob_and_no_row() {
    let app = spawn_app().await;
    let user = app.register("quitter").await;
    // enough to start a multipart upload, then the client gives up
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = pseudo_random(7 * 1024 * 1024)
        .chunks(256 * 1024)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    chunks.push(Err(std::io::Error::other("client gave up")));
    let result = app
        .request(
            Method::PUT,
            "/api/v1/files/stream?name=partial.zip",
            Some(&user.access_token),
        )
        .body(chunked(chunks))
        .send()
        .await;
    assert!(result.is_err() || result.unwrap().status().is_client_error());

    // a client that just disappears mid-body
    drop(upload_past_one_part(&app, &user, "gone.zip").await);

    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn a_stalled_upload_is_ended_and_leaves_nothing() {
    let app = spawn_app_with(|config| config.upload_idle_timeout_secs = 1).await;
    let user = app.register("staller").await;
    let mut stream = upload_past_one_part(&app, &user, "stalled.zip").await;
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("the server ends a stalled upload")
        .unwrap();
    let answer = String::from_utf8_lossy(&buffer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("upload_stalled"), "{answer}");
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn ranges_and_conditional_requests() {
    let app = spawn_app().await;
    let user = app.register("ranger").await;
    let bytes = pseudo_random(1000);
    let file = uploaded(upload_stream(&app, &user, "r.zip", bytes.clone()).await).await;
    let path = format!("/api/v1/files/{}", file["uid"].as_str().unwrap());
    let token = Some(user.access_token.as_str());
    let ranged = |range: &'static str| {
        app.request(Method::GET, &path, token)
            .header("range", range)
            .send()
    };

    let response = ranged("bytes=0-9").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 0-9/1000");
    assert_eq!(response.headers()["content-length"], "10");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[0..10]);
    let response = ranged("bytes=990-").await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[990..]);
    let response = ranged("bytes=-5").await.unwrap();
    assert_eq!(response.headers()["content-range"], "bytes 995-999/1000");
    assert_eq!(response.bytes().await.unwrap().to_vec(), bytes[995..]);
    let response = ranged("bytes=1000-").await.unwrap();
    assert_eq!(response.headers()["content-range"], "bytes */1000");
    assert_problem(
        response,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
    )
    .await;
    let response = ranged("bytes=0-1,5-6").await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "several ranges get the whole file"
    );
    assert_eq!(response.bytes().await.unwrap().len(), 1000);

    let etag = format!("\"{}\"", sha256(&bytes));
    let response = app
        .request(Method::GET, &path, token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());
    let response = app
        .request(Method::GET, &path, token)
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let head = app
        .request(Method::HEAD, &path, token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "1000");
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    let download = app
        .request(Method::GET, &format!("{path}?download=true"), token)
        .send()
        .await
        .unwrap();
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
}

#[tokio::test]
async fn ranges_of_a_large_file_are_exact() {
    // small answers are sent from a memory map, large ones streamed: both must cut the
    // same bytes, at offsets that are not page-aligned too
    let app = spawn_app().await;
    let user = app.register("slicer").await;
    let bytes = pseudo_random(9 * 1024 * 1024 + 77);
    let file = uploaded(upload_stream(&app, &user, "big.zip", bytes.clone()).await).await;
    let path = format!("/api/v1/files/{}", file["uid"].as_str().unwrap());
    let total = bytes.len();
    for (first, last) in [
        (0, total - 1),
        (4097, 4097 + 5 * 1024 * 1024),
        (1_234_567, 1_234_999),
        (total - 4 * 1024 * 1024, total - 1),
        (total - 1, total - 1),
    ] {
        let response = app
            .request(Method::GET, &path, Some(&user.access_token))
            .header("range", format!("bytes={first}-{last}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {first}-{last}/{total}").as_str()
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.len(), last - first + 1, "bytes={first}-{last}");
        assert!(body[..] == bytes[first..=last], "bytes={first}-{last}");
    }
}

#[tokio::test]
async fn a_blob_shorter_than_its_row_is_a_server_error_not_a_crash() {
    let app = spawn_app().await;
    if app.is_s3() {
        return; // the blob is cut on the local disk
    }
    let user = app.register("cutter").await;
    let bytes = pseudo_random(300_000);
    let file = uploaded(upload_stream(&app, &user, "cut.zip", bytes).await).await;
    let path = format!("/api/v1/files/{}", file["uid"].as_str().unwrap());
    let root = app.state.storage.local_path("").unwrap();
    let key = app
        .stored_objects()
        .await
        .into_iter()
        .find(|key| key.ends_with("cut.zip"))
        .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(root.join(key))
        .unwrap()
        .set_len(1000)
        .unwrap();
    for range in ["bytes=0-", "bytes=0-999", "bytes=5000-5999"] {
        let response = app
            .request(Method::GET, &path, Some(&user.access_token))
            .header("range", range)
            .send()
            .await
            .unwrap();
        if range == "bytes=0-999" {
            assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
            continue;
        }
        assert_problem(
            response,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
        )
        .await;
    }
    let alive = app.get("/healthz", None).await;
    assert_eq!(alive.status(), StatusCode::OK);
}

#[tokio::test]
async fn small_files_are_answered_from_memory_only_with_their_own_bytes() {
    let app = spawn_app().await;
    if app.is_s3() {
        return; // small blobs are kept in memory on local storage only
    }
    let user = app.register("keeper").await;
    let bytes = pseudo_random(300_000);
    let file = uploaded(upload_stream(&app, &user, "kept.zip", bytes.clone()).await).await;
    let path = format!("/api/v1/files/{}", file["uid"].as_str().unwrap());
    let key = app
        .stored_objects()
        .await
        .into_iter()
        .find(|key| key.ends_with("kept.zip"))
        .unwrap();
    let blob = app.state.storage.local_path(&key).unwrap();
    let get = |range: Option<&str>| {
        let mut request = app.request(Method::GET, &path, Some(&user.access_token));
        if let Some(range) = range {
            request = request.header("range", range);
        }
        async move { request.send().await.unwrap().bytes().await.unwrap() }
    };

    // bytes that are not the file's (as while a watch photo is replaced in place) are
    // sent as they are, but not kept
    let mut other = bytes.clone();
    other[150_000] ^= 0xff;
    std::fs::write(&blob, &other).unwrap();
    assert!(get(None).await[..] == other[..]);
    std::fs::write(&blob, &bytes).unwrap();
    assert!(get(None).await[..] == bytes[..]);
    // the file's own bytes are kept: ranges are cut from them exactly
    std::fs::write(&blob, &other).unwrap();
    assert!(get(None).await[..] == bytes[..]);
    assert!(get(Some("bytes=149990-150009")).await[..] == bytes[149_990..150_010]);
    assert!(get(Some("bytes=-7")).await[..] == bytes[bytes.len() - 7..]);
}

#[tokio::test]
async fn private_files_are_for_their_owner_admins_and_link_holders() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let other = app.register("other").await;
    let admin = app.register_with_role("admin", Role::Admin).await;
    let file = uploaded(upload_stream(&app, &owner, "secret.txt", TEXT.into()).await).await;
    let uid = file["uid"].as_str().unwrap();
    let path = format!("/api/v1/files/{uid}");

    assert_eq!(
        app.get(&path, Some(&owner.access_token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&path, Some(&admin.access_token)).await.status(),
        StatusCode::OK
    );
    for token in [Some(other.access_token.as_str()), None] {
        assert_problem(
            app.get(&path, token).await,
            StatusCode::NOT_FOUND,
            "file_not_found",
        )
        .await;
        assert_problem(
            app.get(&format!("{path}/meta"), token).await,
            StatusCode::NOT_FOUND,
            "file_not_found",
        )
        .await;
    }
    assert_problem(
        app.delete(&path, Some(&other.access_token)).await,
        StatusCode::NOT_FOUND,
        "file_not_found",
    )
    .await;
    let link = app
        .post_json(
            &format!("{path}/link"),
            Some(&other.access_token),
            &json!({"expires_in": 60}),
        )
        .await;
    assert_problem(link, StatusCode::NOT_FOUND, "file_not_found").await;
    assert_problem(
        app.get(&path, Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    let meta: Value = app
        .get(&format!("{path}/meta"), Some(&owner.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["uid"], uid);
    assert_eq!(meta["sha256"], sha256(TEXT.as_bytes()));
}

#[tokio::test]
async fn public_files_are_readable_by_anyone_but_only_owners_delete_them() {
    let app = spawn_app().await;
    let owner = app.register("sharer").await;
    let other = app.register("viewer").await;
    let file =
        uploaded(upload_multipart(&app, &owner, "open.txt", TEXT.into(), Some("public")).await)
            .await;
    let path = format!("/api/v1/files/{}", file["uid"].as_str().unwrap());
    assert_eq!(app.get(&path, None).await.text().await.unwrap(), TEXT);
    assert_problem(
        app.delete(&path, Some(&other.access_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn expiring_links_work_until_they_expire_or_are_changed() {
    let app = spawn_app().await;
    let owner = app.register("linker").await;
    let file = uploaded(upload_stream(&app, &owner, "shared.txt", TEXT.into()).await).await;
    let uid = file["uid"].as_str().unwrap();
    let path = format!("/api/v1/files/{uid}/link");

    for bad in [
        json!({"expires_in": 0}),
        json!({"expires_in": 604801}),
        json!({"expires_in": "soon"}),
        json!({}),
    ] {
        let response = app.post_json(&path, Some(&owner.access_token), &bad).await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }

    let response = app
        .post_json(
            &path,
            Some(&owner.access_token),
            &json!({"expires_in": 300}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let link: Value = response.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_owned();
    let expires_at: chrono::DateTime<chrono::Utc> =
        link["expires_at"].as_str().unwrap().parse().unwrap();
    assert!((expires_at - chrono::Utc::now()).num_seconds() > 290);
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert_eq!(anonymous.text().await.unwrap(), TEXT);

    // the last link and its expiry are kept on the row
    let row = vitrine::files::repo::find_active(&app.state.db, uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.s3_url.as_deref(), Some(url.as_str()));
    assert_eq!(
        row.expires_at.map(|at| at.timestamp()),
        Some(expires_at.timestamp())
    );

    if app.is_s3() {
        assert!(
            url.contains("X-Amz-Signature="),
            "a presigned S3 URL: {url}"
        );
        let tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=999");
        assert!(!reqwest::get(&tampered).await.unwrap().status().is_success());
    } else {
        assert!(
            url.starts_with(&app.url(&format!("/api/v1/files/{uid}?expires="))),
            "{url}"
        );
        let tampered = url.replace("signature=", "signature=00");
        assert_problem(
            reqwest::get(&tampered).await.unwrap(),
            StatusCode::NOT_FOUND,
            "file_not_found",
        )
        .await;
        let later = format!("{}", expires_at.timestamp() + 1000);
        let extended = url.replace(
            &format!("expires={}", expires_at.timestamp()),
            &format!("expires={later}"),
        );
        assert_problem(
            reqwest::get(&extended).await.unwrap(),
            StatusCode::NOT_FOUND,
            "file_not_found",
        )
        .await;

        let short: Value = app
            .post_json(&path, Some(&owner.access_token), &json!({"expires_in": 1}))
            .await
            .json()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let expired = reqwest::get(short["url"].as_str().unwrap()).await.unwrap();
        assert_problem(expired, StatusCode::FORBIDDEN, "link_expired").await;
    }
}

#[tokio::test]
async fn client_file_names_never_become_paths() {
    let app = spawn_app().await;
    let user = app.register("sneaky").await;
    for name in [
        "../../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/absolute/path.txt",
        "a/../../b.txt",
        "..",
        "%2e%2e%2fescape.txt",
    ] {
        let file = uploaded(upload_stream(&app, &user, name, TEXT.into()).await).await;
        let original = file["original_name"].as_str().unwrap();
        assert!(
            !original.contains('/') && !original.contains('\\'),
            "{original}"
        );
    }
    let objects = app.stored_objects().await;
    assert_eq!(objects.len(), 6);
    for key in &objects {
        assert!(key.starts_with("text/"), "{key}");
        assert!(
            !key.split('/').any(|part| part == ".." || part.is_empty()),
            "{key}"
        );
    }
    if let Some(root) = app.state.storage.local_path("") {
        assert!(!root.join("../etc/passwd").exists());
        assert!(!root.parent().unwrap().join("passwd").exists());
    }
    let empty_name = app
        .request(
            Method::PUT,
            "/api/v1/files/stream?name=",
            Some(&user.access_token),
        )
        .body(TEXT)
        .send()
        .await
        .unwrap();
    assert_problem(
        empty_name,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let no_name = app
        .request(
            Method::PUT,
            "/api/v1/files/stream",
            Some(&user.access_token),
        )
        .body(TEXT)
        .send()
        .await
        .unwrap();
    assert_problem(no_name, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn malformed_multipart_requests_are_clear_problems() {
    let app = spawn_app().await;
    let user = app.register("former").await;
    let no_file = app
        .request(Method::POST, "/api/v1/files", Some(&user.access_token))
        .multipart(Form::new().text("visibility", "public"))
        .send()
        .await
        .unwrap();
    assert_problem(
        no_file,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let two_files = app
        .request(Method::POST, "/api/v1/files", Some(&user.access_token))
        .multipart(
            Form::new()
                .part(
                    "file",
                    Part::bytes(TEXT.as_bytes().to_vec()).file_name("a.txt"),
                )
                .part(
                    "file",
                    Part::bytes(TEXT.as_bytes().to_vec()).file_name("b.txt"),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_problem(
        two_files,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let bad_visibility =
        upload_multipart(&app, &user, "a.txt", TEXT.into(), Some("everyone")).await;
    assert_problem(
        bad_visibility,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let garbage = app
        .request(Method::POST, "/api/v1/files", Some(&user.access_token))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("this is not multipart at all")
        .send()
        .await
        .unwrap();
    assert_problem(garbage, StatusCode::BAD_REQUEST, "malformed_multipart").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_rows(&app, "files").await, 0);
    assert!(
        app.stored_objects().await.is_empty(),
        "{:?}",
        app.stored_objects().await
    );
}

#[tokio::test]
async fn thumbnails_are_made_once_and_bounded() {
    let app = spawn_app().await;
    let user = app.register("thumber").await;
    let file =
        uploaded(upload_multipart(&app, &user, "wide.png", png(400, 200), Some("public")).await)
            .await;
    let uid = file["uid"].as_str().unwrap();
    let response = app
        .get(&format!("/api/v1/files/{uid}?thumb=128x128"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let thumb = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (128, 64));
    let derived = format!("thumbs/{uid}/128x128.png");
    assert!(app.stored_objects().await.contains(&derived));
    let again = app
        .get(&format!("/api/v1/files/{uid}?thumb=128x128"), None)
        .await;
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    let cached = app
        .request(
            Method::GET,
            &format!("/api/v1/files/{uid}?thumb=128x128"),
            None,
        )
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    for bad in ["100x100", "99999x99999", "big", "0x0"] {
        let response = app
            .get(&format!("/api/v1/files/{uid}?thumb={bad}"), None)
            .await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_thumbnail_size").await;
    }
    let text =
        uploaded(upload_multipart(&app, &user, "t.txt", TEXT.into(), Some("public")).await).await;
    let response = app
        .get(
            &format!(
                "/api/v1/files/{}?thumb=128x128",
                text["uid"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "not_an_image").await;

    // deleting the file removes its thumbnails too
    let response = app
        .delete(&format!("/api/v1/files/{uid}"), Some(&user.access_token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let objects = app.stored_objects().await;
    assert!(objects.iter().all(|key| !key.contains(uid)), "{objects:?}");
}

#[tokio::test]
async fn deleted_files_are_gone_and_lists_show_only_mine() {
    let app = spawn_app().await;
    let user = app.register("lister").await;
    let other = app.register("neighbour").await;
    let mut uids = Vec::new();
    for n in 0..5 {
        let file =
            uploaded(upload_stream(&app, &user, &format!("{n}.txt"), TEXT.into()).await).await;
        uids.push(file["uid"].as_str().unwrap().to_owned());
    }
    uploaded(upload_stream(&app, &other, "theirs.txt", TEXT.into()).await).await;

    let mut seen = Vec::new();
    let mut path = "/api/v1/files?limit=2".to_owned();
    loop {
        let page: Value = app
            .get(&path, Some(&user.access_token))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["uid"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/files?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut newest_first = uids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let gone = &uids[0];
    let response = app
        .delete(&format!("/api/v1/files/{gone}"), Some(&user.access_token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/api/v1/files/{gone}"), Some(&user.access_token))
            .await,
        StatusCode::NOT_FOUND,
        "file_not_found",
    )
    .await;
    assert_problem(
        app.delete(&format!("/api/v1/files/{gone}"), Some(&user.access_token))
            .await,
        StatusCode::NOT_FOUND,
        "file_not_found",
    )
    .await;
    assert!(
        app.stored_objects()
            .await
            .iter()
            .all(|key| !key.contains(gone.as_str()))
    );
    let page: Value = app
        .get("/api/v1/files", Some(&user.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert_problem(
        app.get("/api/v1/files", None).await,
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    assert_problem(
        app.get("/api/v1/files/not-a-uid", None).await,
        StatusCode::NOT_FOUND,
        "file_not_found",
    )
    .await;
}

#[tokio::test]
async fn readiness_covers_storage() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    if let Some(root) = app.state.storage.local_path("") {
        let root = std::path::PathBuf::from(root.to_string_lossy().trim_end_matches('/'));
        // a storage directory that has become a file cannot hold objects
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::write(&root, b"not a directory").unwrap();
        assert_problem(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        )
        .await;
    }
}
