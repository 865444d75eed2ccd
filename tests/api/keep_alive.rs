//! A request answered before its body was read must not break the connection for the
//! next request: the server drains a small rest of the body or says `Connection: close`.
//! Spoken over raw sockets, as a keep-alive client does.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

const TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp) -> TcpStream {
    let port = app.address.rsplit(':').next().unwrap();
    TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap()
}

/// Reads one answer with a Content-Length; returns its head, lower-cased.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = tokio::time::timeout(TIMEOUT, stream.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("the connection delivers the answer");
        assert!(read > 0, "connection closed without an answer");
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().unwrap())
        .expect("answers here have a Content-Length");
    while received.len() < head_end + length {
        let read = tokio::time::timeout(TIMEOUT, stream.read(&mut buffer))
            .await
            .expect("the body in time")
            .unwrap();
        assert!(read > 0, "connection closed inside an answer");
        received.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(
        received.len(),
        head_end + length,
        "nothing after the answer"
    );
    head
}

/// Sends `head` and, before or after reading the answer, `body`; expects `status`,
/// then checks that the connection either serves the next request or was announced
/// closed (and is). Returns whether it was kept.
async fn refused_then_next_request(
    app: &TestApp,
    head: &str,
    body: &[u8],
    body_after_answer: bool,
    status: u16,
) -> bool {
    let mut stream = connect(app).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    if !body_after_answer {
        stream.write_all(body).await.unwrap();
    }
    let answer = read_answer(&mut stream).await;
    assert!(
        answer.starts_with(&format!("http/1.1 {status}")),
        "{answer}"
    );
    if answer.contains("\r\nconnection: close\r\n") {
        let mut buffer = [0u8; 64];
        let read = tokio::time::timeout(TIMEOUT, stream.read(&mut buffer))
            .await
            .expect("the announced close happens")
            .unwrap_or(0);
        assert_eq!(read, 0, "a connection announced closed sends nothing more");
        return false;
    }
    if body_after_answer {
        stream.write_all(body).await.unwrap();
    }
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("the kept connection takes the next request");
    let next = read_answer(&mut stream).await;
    assert!(next.starts_with("http/1.1 200"), "{next}");
    true
}

#[tokio::test]
async fn a_refused_upload_keeps_the_connection_or_says_close() {
    let app = spawn_app_with(|config| config.max_upload_bytes = 1024 * 1024).await;
    let user = app.register("keeper").await;

    // 401 before a byte of the body is read
    let body = vec![0x42u8; 60 * 1024];
    let anonymous = format!(
        "PUT /api/v1/watches/1/images/left HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // a small body sent along is drained: the connection stays
    for _ in 0..5 {
        assert!(refused_then_next_request(&app, &anonymous, &body, false, 401).await);
    }
    // a client that waits for the answer before sending the body is told to close
    assert!(!refused_then_next_request(&app, &anonymous, &body, true, 401).await);

    // 413 from the declared length alone: the body is never wanted, so the answer says close
    let too_large = format!(
        "PUT /api/v1/files/stream?name=a.zip HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        user.access_token,
        10u64 * 1024 * 1024 * 1024
    );
    assert!(!refused_then_next_request(&app, &too_large, b"", false, 413).await);

    // 415 once the first bytes were judged; the small rest is drained
    let mut executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    executable.resize(40 * 1024, 0);
    let refused_type = format!(
        "PUT /api/v1/files/stream?name=a.exe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        user.access_token,
        executable.len()
    );
    assert!(refused_then_next_request(&app, &refused_type, &executable, false, 415).await);
}

#[tokio::test]
async fn a_refused_json_request_keeps_the_connection_or_says_close() {
    let app = spawn_app_with(|_| {}).await;
    let json = format!("{{\"description\":\"{}\"}}", "x".repeat(30 * 1024));
    let anonymous = format!(
        "PATCH /api/v1/users/me HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    );
    for _ in 0..5 {
        assert!(refused_then_next_request(&app, &anonymous, json.as_bytes(), false, 401).await);
    }
    // a client that waits for the answer before sending the body is told to close
    assert!(!refused_then_next_request(&app, &anonymous, json.as_bytes(), true, 401).await);
}
