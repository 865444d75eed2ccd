//! The OpenAPI document tells the truth about error answers: each is
//! `application/problem+json`, the errors an operation gives are listed for it, and every
//! reference resolves.

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("the document is JSON")
}

/// `#/a/b` → the value at `/a/b`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn collect_references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                found.push(reference);
            }
            map.values()
                .for_each(|child| collect_references(child, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|child| collect_references(child, found)),
        _ => {}
    }
}

/// The responses an operation documents, by status.
fn documented<'a>(doc: &'a Value, path: &str, method: &str) -> &'a serde_json::Map<String, Value> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
}

async fn assert_documented(doc: &Value, path: &str, method: &str, response: Response) {
    let status = response.status();
    assert!(status.is_client_error(), "{method} {path}: {status}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{method} {path}");
    let responses = documented(doc, path, method);
    assert!(
        responses.contains_key(status.as_str()),
        "{method} {path} answers {status}, which it does not document: {:?}",
        responses.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn every_error_answer_is_documented_as_problem_json() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(responses) = item[method]["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let response = match response["$ref"].as_str() {
                    Some(reference) => resolve(&doc, reference).unwrap_or_else(|| {
                        panic!("{method} {path} {status}: {reference} is missing")
                    }),
                    None => response,
                };
                let content = response["content"].as_object().unwrap_or_else(|| {
                    panic!("{method} {path} {status} has no content: {response}")
                });
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} error answers in the document"
    );
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let mut references = Vec::new();
    collect_references(&doc, &mut references);
    assert!(
        references.len() > 100,
        "only {} references",
        references.len()
    );
    let dangling: Vec<_> = references
        .into_iter()
        .filter(|reference| resolve(&doc, reference).is_none())
        .collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
}

#[tokio::test]
async fn errors_of_framework_checks_are_documented_for_their_operations() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let member = app.register("documented").await;

    let delete_without_token = app.delete("/api/v1/files/nothing", None).await;
    assert_documented(&doc, "/api/v1/files/{uid}", "delete", delete_without_token).await;

    let list_with_zero_limit = app
        .get("/api/v1/files?limit=0", Some(&member.access_token))
        .await;
    assert_eq!(
        list_with_zero_limit.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_documented(&doc, "/api/v1/files", "get", list_with_zero_limit).await;

    let blank_login = app.post_raw("/api/v1/auth/login", "").await;
    assert_documented(&doc, "/api/v1/auth/login", "post", blank_login).await;

    let login_as_text = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(login_as_text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_documented(&doc, "/api/v1/auth/login", "post", login_as_text).await;
}

#[tokio::test]
async fn operations_list_only_the_errors_they_can_give() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    // no token, no parameters, no body
    let health = documented(&doc, "/healthz", "get");
    for status in ["400", "401", "404", "413", "415", "422"] {
        assert!(!health.contains_key(status), "/healthz documents {status}");
    }
    // a token but no body
    let me = documented(&doc, "/api/v1/users/me", "get");
    assert!(me.contains_key("401"));
    assert!(!me.contains_key("415"));
}
