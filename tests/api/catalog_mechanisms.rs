//! Mechanisms with their type, factory and functions: writing, validation, permissions,
//! deletion rules, lists.

use reqwest::StatusCode;
use sea_orm::Set;
use serde_json::{Value, json};

use crate::catalog_references::{create_reference, insert_watch};
use crate::helpers::{TestApp, assert_problem, count_rows, spawn_app};
use vitrine::auth::Role;

/// Reference rows a mechanism can point at.
struct Refs {
    mechanical: i64,
    quartz: i64,
    chistopol: i64,
    petrodvorets: i64,
    date: i64,
    auto: i64,
    shock: i64,
}

async fn references(app: &TestApp, token: &str) -> Refs {
    Refs {
        mechanical: create_reference(app, token, "mechanism-types", "Механический").await,
        quartz: create_reference(app, token, "mechanism-types", "Кварцевый").await,
        chistopol: create_reference(app, token, "factories", "ЧЧЗ").await,
        petrodvorets: create_reference(app, token, "factories", "ПЧЗ").await,
        date: create_reference(app, token, "functions", "Дата").await,
        auto: create_reference(app, token, "functions", "Автоподзавод").await,
        shock: create_reference(app, token, "functions", "Противоударный").await,
    }
}

async fn create_mechanism(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app
        .post_json("/api/v1/mechanisms", Some(token), &body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating {body}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn mechanisms_are_written_with_their_functions() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_oleg", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let refs = references(&app, token).await;

    let created = create_mechanism(
        &app,
        token,
        json!({
            "name": "2416Б",
            "stones": 31,
            "start_release": 1978,
            "end_release": 1995,
            "mechanism_type_id": refs.mechanical,
            "factory_id": refs.chistopol,
            "function_ids": [refs.date, refs.auto, refs.date],
        }),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "2416Б");
    assert_eq!(created["stones"], 31);
    assert_eq!(created["start_release"], 1978);
    assert_eq!(created["end_release"], 1995);
    assert_eq!(
        created["mechanism_type"],
        json!({"id": refs.mechanical, "name": "Механический"})
    );
    assert_eq!(
        created["factory"],
        json!({"id": refs.chistopol, "name": "ЧЧЗ"})
    );
    assert_eq!(
        created["functions"],
        json!([
            {"id": refs.auto, "name": "Автоподзавод"},
            {"id": refs.date, "name": "Дата"},
        ]),
        "by name, each once"
    );
    assert_eq!(created["user_id"], moderator.user_id, "the author");
    assert_eq!(count_rows(&app, "mechanism_function").await, 2);

    let fetched: Value = app
        .get(&format!("/api/v1/mechanisms/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, created);

    // only the fields sent change; null clears; function_ids replaces the set
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let response = app
        .patch_json(
            &format!("/api/v1/mechanisms/{id}"),
            Some(token),
            &json!({"factory_id": null, "stones": 17, "function_ids": [refs.shock]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["name"], "2416Б");
    assert_eq!(updated["stones"], 17);
    assert!(updated["factory"].is_null());
    assert_eq!(updated["mechanism_type"]["id"], refs.mechanical);
    assert_eq!(updated["start_release"], 1978);
    assert_eq!(
        updated["functions"],
        json!([{"id": refs.shock, "name": "Противоударный"}])
    );
    assert_eq!(updated["created_at"], created["created_at"]);
    let at = |value: &Value| chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap();
    assert!(
        at(&updated["updated_at"]) > at(&created["updated_at"]),
        "updated_at moves: {} → {}",
        created["updated_at"],
        updated["updated_at"]
    );

    let response = app
        .patch_json(
            &format!("/api/v1/mechanisms/{id}"),
            Some(token),
            &json!({"name": "2409", "mechanism_type_id": refs.quartz}),
        )
        .await;
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["name"], "2409");
    assert_eq!(updated["mechanism_type"]["name"], "Кварцевый");
    assert_eq!(updated["functions"][0]["id"], refs.shock, "left out stays");

    let response = app
        .patch_json(
            &format!("/api/v1/mechanisms/{id}"),
            Some(token),
            &json!({"function_ids": null, "end_release": null}),
        )
        .await;
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["functions"], json!([]));
    assert!(updated["end_release"].is_null());
    assert_eq!(count_rows(&app, "mechanism_function").await, 0);

    let response = app
        .delete(&format!("/api/v1/mechanisms/{id}"), Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/api/v1/mechanisms/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "mechanism_not_found",
    )
    .await;
    assert_eq!(count_rows(&app, "mechanism").await, 0);
}

#[tokio::test]
async fn mechanism_writes_need_a_moderator_or_admin() {
    let app = spawn_app().await;
    let member = app.register("member_pavel").await;
    let moderator = app.register_with_role("mod_rita", Role::Moderator).await;
    let admin = app.register_with_role("admin_semen", Role::Admin).await;
    let existing =
        create_mechanism(&app, &moderator.access_token, json!({"name": "2609.HA"})).await;
    let item = format!("/api/v1/mechanisms/{}", existing["id"]);

    for (token, status, code) in [
        (None, StatusCode::UNAUTHORIZED, "missing_token"),
        (
            Some(member.access_token.as_str()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ] {
        assert_problem(
            app.post_json("/api/v1/mechanisms", token, &json!({"name": "2414"}))
                .await,
            status,
            code,
        )
        .await;
        assert_problem(
            app.patch_json(&item, token, &json!({"name": "2414"})).await,
            status,
            code,
        )
        .await;
        assert_problem(app.delete(&item, token).await, status, code).await;
    }
    assert_eq!(count_rows(&app, "mechanism").await, 1);
    // reading is public
    let response = app.get(&item, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get("/api/v1/mechanisms", None).await;
    assert_eq!(response.status(), StatusCode::OK);

    for user in [&moderator, &admin] {
        let token = user.access_token.as_str();
        let created = create_mechanism(&app, token, json!({"name": "2414"})).await;
        assert_eq!(created["user_id"], user.user_id);
        let path = format!("/api/v1/mechanisms/{}", created["id"]);
        let response = app
            .patch_json(&path, Some(token), &json!({"stones": 17}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = app.delete(&path, Some(token)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn mechanism_values_are_validated() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_taras", Role::Moderator).await;
    let token = Some(moderator.access_token.as_str());
    let refs = references(&app, &moderator.access_token).await;

    let invalid = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (
            json!({"name": "2414", "start_release": 1990, "end_release": 1980}),
            "end_release",
        ),
        (
            json!({"name": "2414", "start_release": 1200}),
            "start_release",
        ),
        (json!({"name": "2414", "stones": 500}), "stones"),
        (json!({"name": "2414", "stones": -1}), "stones"),
        (
            json!({"name": "2414", "function_ids": [refs.date, 9999]}),
            "function_ids",
        ),
        (
            json!({"name": "2414", "mechanism_type_id": 9999}),
            "mechanism_type_id",
        ),
        (json!({"name": "2414", "factory_id": 9999}), "factory_id"),
        (json!({"name": "2414", "stones": "many"}), "stones"),
        (
            json!({"name": "2414", "function_ids": "date"}),
            "function_ids",
        ),
        (
            json!({"name": "2414", "function_ids": ["date"]}),
            "function_ids[0]",
        ),
        (json!({"name": 2414}), "name"),
        (json!({"name": "2414", "brand_id": 1}), "brand_id"),
        (json!({"stones": 17}), "body"),
    ];
    for (body, field) in &invalid {
        let problem = assert_problem(
            app.post_json("/api/v1/mechanisms", token, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], *field, "{body}: {problem}");
    }
    assert_eq!(count_rows(&app, "mechanism").await, 0);
    assert_eq!(count_rows(&app, "mechanism_function").await, 0);

    let created = create_mechanism(
        &app,
        &moderator.access_token,
        json!({"name": "2414", "start_release": 1980, "function_ids": [refs.date]}),
    )
    .await;
    let path = format!("/api/v1/mechanisms/{}", created["id"]);
    let invalid = [
        // checked against the values it keeps
        (json!({"end_release": 1970}), "end_release"),
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"function_ids": [9999]}), "function_ids"),
        (json!({"mechanism_type_id": 9999}), "mechanism_type_id"),
        (json!({"factory_id": "ЧЧЗ"}), "factory_id"),
        (json!({"user_id": 1}), "user_id"),
    ];
    for (body, field) in &invalid {
        let problem = assert_problem(
            app.patch_json(&path, token, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], *field, "{body}: {problem}");
    }
    let unchanged: Value = app.get(&path, None).await.json().await.unwrap();
    assert_eq!(unchanged, created);

    assert_problem(
        app.patch_json("/api/v1/mechanisms/9999", token, &json!({"stones": 1}))
            .await,
        StatusCode::NOT_FOUND,
        "mechanism_not_found",
    )
    .await;
    assert_problem(
        app.delete("/api/v1/mechanisms/9999", token).await,
        StatusCode::NOT_FOUND,
        "mechanism_not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/mechanisms/abc", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
    let _ = refs.petrodvorets;
}

#[tokio::test]
async fn mechanisms_in_use_cannot_be_deleted() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_ulyana", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let mechanism = create_mechanism(&app, token, json!({"name": "2414А"})).await;
    let id = mechanism["id"].as_i64().unwrap();
    for folder in ["komandirskie_a", "komandirskie_b"] {
        insert_watch(&app, folder, |row| row.mechanism_id = Set(Some(id))).await;
    }
    let problem = assert_problem(
        app.delete(&format!("/api/v1/mechanisms/{id}"), Some(token))
            .await,
        StatusCode::CONFLICT,
        "mechanism_in_use",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("2 watches"),
        "{problem}"
    );
    let response = app.get(&format!("/api/v1/mechanisms/{id}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn mechanism_lists_filter_and_page_without_gaps() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_fedor", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let refs = references(&app, token).await;
    let mut all = Vec::new();
    for n in 0..13 {
        let (kind, factory) = match n % 3 {
            0 => (refs.mechanical, refs.chistopol),
            1 => (refs.mechanical, refs.petrodvorets),
            _ => (refs.quartz, refs.chistopol),
        };
        let created = create_mechanism(
            &app,
            token,
            json!({
                "name": format!("{}", 2400 + n),
                "mechanism_type_id": kind,
                "factory_id": factory,
                "function_ids": [refs.date],
            }),
        )
        .await;
        all.push((created["id"].as_i64().unwrap(), kind, factory));
    }

    let walk = |query: String| {
        let app = &app;
        async move {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(cursor) => format!("/api/v1/mechanisms?limit=4&{query}&cursor={cursor}"),
                    None => format!("/api/v1/mechanisms?limit=4&{query}"),
                };
                let page: Value = app.get(&path, None).await.json().await.unwrap();
                let items = page["items"].as_array().unwrap();
                assert!(items.len() <= 4);
                for item in items {
                    assert_eq!(item["functions"][0]["name"], "Дата", "items are detailed");
                    ids.push(item["id"].as_i64().unwrap());
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            ids
        }
    };
    let expected: Vec<i64> = all.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(walk(String::new()).await, expected);
    let mechanical: Vec<i64> = all
        .iter()
        .filter(|(_, kind, _)| *kind == refs.mechanical)
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(
        walk(format!("mechanism_type_id={}", refs.mechanical)).await,
        mechanical
    );
    let both: Vec<i64> = all
        .iter()
        .filter(|(_, kind, factory)| *kind == refs.mechanical && *factory == refs.chistopol)
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(
        walk(format!(
            "mechanism_type_id={}&factory_id={}",
            refs.mechanical, refs.chistopol
        ))
        .await,
        both
    );
    assert!(walk("factory_id=9999".to_owned()).await.is_empty());
    let _ = (refs.auto, refs.shock);

    assert_problem(
        app.get("/api/v1/mechanisms?cursor=nope", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/api/v1/mechanisms?limit=1000", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn mechanism_details_load_for_embedding() {
    let app = spawn_app().await;
    let moderator = app
        .register_with_role("mod_khariton", Role::Moderator)
        .await;
    let token = moderator.access_token.as_str();
    let refs = references(&app, token).await;
    let created = create_mechanism(
        &app,
        token,
        json!({"name": "2209", "factory_id": refs.petrodvorets, "function_ids": [refs.shock]}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let detail = vitrine::catalog::mechanisms::load_detail(&app.state.db, id)
        .await
        .unwrap()
        .expect("the mechanism");
    assert_eq!(serde_json::to_value(&detail).unwrap(), created);
    assert!(detail.mechanism_type.is_none());
    assert_eq!(detail.factory.unwrap().name, "ПЧЗ");
    assert!(
        vitrine::catalog::mechanisms::load_detail(&app.state.db, id + 1)
            .await
            .unwrap()
            .is_none()
    );
}
