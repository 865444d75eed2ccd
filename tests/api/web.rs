//! The web app: served from the binary with strict headers, its API client checked
//! against the OpenAPI document, its texts in both languages, and the cookie mode of
//! sign-in and refresh that keeps the refresh token away from scripts and other sites.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::catalog_watches::{create_watch, get_json, local, moderator, put_photo};
use crate::helpers::{TestApp, assert_problem, png, spawn_app};

const WEB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web");

async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap()
}

/// The hashed asset paths the shell links to.
fn asset_paths(shell: &str) -> Vec<String> {
    shell
        .split("\"/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|path| format!("/assets/{path}"))
        .collect()
}

#[tokio::test]
async fn the_app_is_served_at_the_root_with_a_strict_content_security_policy() {
    let app = spawn_app().await;

    let response = page(&app, "/").await;

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{policy} lacks {directive}");
    }
    assert!(!policy.contains("unsafe-inline"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let shell = response.text().await.unwrap();
    assert!(shell.contains("<script type=\"module\" src=\"/assets/"));
    assert!(
        !shell.contains("http://") && !shell.contains("https://"),
        "nothing from another host"
    );
}

#[tokio::test]
async fn assets_have_hashed_names_long_cache_lives_and_are_compressed() {
    let app = spawn_app().await;
    let shell = page(&app, "/").await.text().await.unwrap();
    let paths = asset_paths(&shell);
    assert!(paths.iter().any(|path| path.ends_with("/app/main.js")));
    assert!(paths.iter().any(|path| path.ends_with("/style.css")));

    for path in &paths {
        let response = app
            .client
            .get(app.url(path))
            .header(ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{path}"
        );
        if path.ends_with(".js") || path.ends_with(".css") {
            assert_eq!(response.headers()[CONTENT_ENCODING], "gzip", "{path}");
        }
    }

    // a module imports its neighbours relatively: they sit under the same hash
    let main_js = paths
        .iter()
        .find(|path| path.ends_with("/app/main.js"))
        .unwrap();
    let neighbour = main_js.replace("/app/main.js", "/app/api.js");
    assert_eq!(app.get(&neighbour, None).await.status(), StatusCode::OK);
    let translations = main_js.replace("/app/main.js", "/i18n/ru.json");
    assert_eq!(app.get(&translations, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_hash_or_file_is_a_problem_not_a_stale_asset() {
    let app = spawn_app().await;
    let shell = page(&app, "/").await.text().await.unwrap();
    let main_js = asset_paths(&shell)
        .into_iter()
        .find(|path| path.ends_with("/app/main.js"))
        .unwrap();
    let hash = main_js.split('/').nth(2).unwrap();

    let old_hash = app.get("/assets/0000000000000000/app/main.js", None).await;
    assert_problem(old_hash, StatusCode::NOT_FOUND, "asset_not_found").await;
    let missing = app
        .get(&format!("/assets/{hash}/app/nothing.js"), None)
        .await;
    assert_problem(missing, StatusCode::NOT_FOUND, "asset_not_found").await;
    // the shell template is not served as an asset
    let template = app.get(&format!("/assets/{hash}/index.html"), None).await;
    assert_problem(template, StatusCode::NOT_FOUND, "asset_not_found").await;
}

#[tokio::test]
async fn app_paths_get_the_shell_and_api_paths_stay_problems() {
    let app = spawn_app().await;

    let watch_page = page(&app, "/watches/3").await;
    assert_eq!(watch_page.status(), StatusCode::OK);
    assert!(watch_page.headers().contains_key("content-security-policy"));

    let unknown_api = page(&app, "/api/v1/no-such-thing").await;
    assert_problem(unknown_api, StatusCode::NOT_FOUND, "route_not_found").await;
    let not_a_browser = app.get("/watches/3", None).await;
    assert_problem(not_a_browser, StatusCode::NOT_FOUND, "route_not_found").await;
    // an API route still wins over the app
    let brands = page(&app, "/api/v1/brands").await;
    assert_eq!(brands.status(), StatusCode::OK);
    assert!(
        brands.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

/// Every `name: ['METHOD', '/path']` entry of the app's endpoint table.
fn client_endpoints() -> Vec<(String, String)> {
    let source = std::fs::read_to_string(Path::new(WEB_DIR).join("app/api.js")).unwrap();
    let table = source
        .split("export const ENDPOINTS = {")
        .nth(1)
        .and_then(|rest| rest.split("\n};").next())
        .expect("api.js has the ENDPOINTS table");
    table
        .lines()
        .filter_map(|line| {
            let entry = line.split_once(": ['")?.1;
            let (method, rest) = entry.split_once("', '")?;
            let path = rest.split_once("']")?.0;
            Some((method.to_lowercase(), path.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn every_call_of_the_web_client_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let endpoints = client_endpoints();
    assert!(endpoints.len() > 20, "the table was read: {endpoints:?}");

    let missing: Vec<String> = endpoints
        .iter()
        .filter(|(method, path)| {
            document["paths"][format!("/api/v1{path}")][method.as_str()].is_null()
        })
        .map(|(method, path)| format!("{method} {path}"))
        .collect();

    assert!(missing.is_empty(), "not in /openapi.json: {missing:?}");
}

fn catalogue(language: &str) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(Path::new(WEB_DIR).join(format!("i18n/{language}.json"))).unwrap();
    let entries: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    for (key, value) in &entries {
        assert!(
            value.as_str().is_some_and(|text| !text.trim().is_empty()),
            "{language}: {key} is empty"
        );
    }
    entries.keys().cloned().collect()
}

/// Keys the scripts use: `t('key'` calls and `'error.…'` names of problem texts.
fn keys_used(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            keys_used(&path, found);
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // `t(` itself, not the end of `get(` or `.t(`
        let is_call = |at: usize| {
            let before = source[..at].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        };
        let computed = source.match_indices("t(`").any(|(at, _)| is_call(at));
        assert!(
            !computed,
            "{}: texts are looked up by literal keys",
            path.display()
        );
        for (at, _) in source.match_indices("t('").filter(|(at, _)| is_call(*at)) {
            let key = source[at + 3..].split('\'').next().unwrap();
            found.insert(key.to_owned());
        }
        for rest in source.split("'error.").skip(1) {
            found.insert(format!("error.{}", rest.split('\'').next().unwrap()));
        }
    }
}

#[test]
fn both_languages_have_every_text_the_app_uses() {
    let russian = catalogue("ru");
    let english = catalogue("en");
    let mut used = BTreeSet::new();
    keys_used(&Path::new(WEB_DIR).join("app"), &mut used);

    assert_eq!(
        russian.symmetric_difference(&english).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "the catalogues differ"
    );
    let missing: Vec<&String> = used.difference(&russian).collect();
    assert!(missing.is_empty(), "used but not translated: {missing:?}");
    assert!(used.len() > 50, "the scripts were read");
}

#[tokio::test]
async fn list_items_are_titled_by_their_first_alias() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let created = create_watch(
        &app,
        &moder.access_token,
        &json!({"folder": "komandirskie_1", "aliases": ["Командирские", "Komandirskie"]}),
    )
    .await;
    create_watch(&app, &moder.access_token, &json!({"folder": "nameless_1"})).await;

    let page = get_json(&app, "/api/v1/watches?sort=folder").await;

    let titles: Vec<(&Value, &Value)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (&item["folder"], &item["title"]))
        .collect();
    assert_eq!(
        titles,
        vec![
            (&json!("komandirskie_1"), &json!("Командирские")),
            (&json!("nameless_1"), &Value::Null),
        ]
    );
    assert_eq!(created["aliases"][0], "Командирские");
}

#[tokio::test]
async fn collection_items_carry_the_title_and_main_photo_of_a_card() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let watch = create_watch(
        &app,
        &moder.access_token,
        &json!({"folder": "shturmanskie_1", "aliases": ["Штурманские", "Sturmanskie"]}),
    )
    .await;
    let watch_id = watch["id"].as_i64().unwrap();
    let photo = put_photo(
        &app,
        Some(&moder.access_token),
        watch_id,
        "main",
        png(32, 32),
    )
    .await;
    assert!(photo.status().is_success(), "{}", photo.status());
    let collector = app.register("card_collector").await;
    let added = app
        .send_json(
            reqwest::Method::PUT,
            &format!("/api/v1/users/me/collection/{watch_id}"),
            Some(&collector.access_token),
            &json!({}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::NO_CONTENT);

    let page = get_json(
        &app,
        &format!("/api/v1/users/{}/collection", collector.user_id),
    )
    .await;

    let item = &page["items"][0];
    assert_eq!(item["title"], "Штурманские");
    let photo = local(&app, &item["main_image_url"]);
    assert_eq!(
        app.client.get(photo).send().await.unwrap().status(),
        StatusCode::OK
    );
}
