//! The six reference tables: reading, writing, permissions, names and deletion rules.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, count_rows, spawn_app};
use vitrine::auth::Role;
use vitrine::catalog::entity::{watch, watch_search_token};

pub const REFERENCE_PATHS: [&str; 6] = [
    "brands",
    "factories",
    "case-materials",
    "genders",
    "mechanism-types",
    "functions",
];

/// The table behind a path segment.
fn table_of(path: &str) -> &'static str {
    match path {
        "brands" => "brand",
        "factories" => "factory",
        "case-materials" => "case_material",
        "genders" => "gender",
        "mechanism-types" => "mechanism_type",
        "functions" => "function",
        other => panic!("no table for {other}"),
    }
}

/// Creates a reference row as `token` and returns its id.
pub async fn create_reference(app: &TestApp, token: &str, path: &str, name: &str) -> i64 {
    let response = app
        .post_json(
            &format!("/api/v1/{path}"),
            Some(token),
            &json!({"name": name}),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "creating {path} {name}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], name.trim());
    body["id"].as_i64().unwrap()
}

/// A watch row written directly, for catalogs tested before or apart from the watches API.
pub async fn insert_watch(
    app: &TestApp,
    folder: &str,
    configure: impl FnOnce(&mut watch::ActiveModel),
) -> i64 {
    let now = Utc::now();
    let mut row = watch::ActiveModel {
        folder: Set(folder.to_owned()),
        code: Set(None),
        integrated_bracelet: Set(false),
        start_release: Set(None),
        end_release: Set(None),
        gender_id: Set(None),
        case_material_id: Set(None),
        mechanism_id: Set(None),
        factory_id: Set(None),
        brand_id: Set(None),
        user_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    configure(&mut row);
    row.insert(&app.state.db).await.expect("watch row").id
}

#[tokio::test]
async fn every_reference_table_has_the_same_crud() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_anna", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    for path in REFERENCE_PATHS {
        let id = create_reference(&app, token, path, "  Первый  ").await;
        let base = format!("/api/v1/{path}");

        let response = app.get(&format!("{base}/{id}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"id": id, "name": "Первый"}));

        let list: Value = app.get(&base, None).await.json().await.unwrap();
        assert_eq!(
            list["items"],
            json!([{"id": id, "name": "Первый"}]),
            "{path}"
        );
        assert!(list["next_cursor"].is_null());

        let response = app
            .patch_json(
                &format!("{base}/{id}"),
                Some(token),
                &json!({"name": "Второй"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"id": id, "name": "Второй"}));
        let body: Value = app
            .get(&format!("{base}/{id}"), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["name"], "Второй");

        let response = app.delete(&format!("{base}/{id}"), Some(token)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        let code = format!("{}_not_found", table_of(path));
        assert_problem(
            app.get(&format!("{base}/{id}"), None).await,
            StatusCode::NOT_FOUND,
            &code,
        )
        .await;
        assert_problem(
            app.delete(&format!("{base}/{id}"), Some(token)).await,
            StatusCode::NOT_FOUND,
            &code,
        )
        .await;
        assert_problem(
            app.patch_json(&format!("{base}/{id}"), Some(token), &json!({"name": "x"}))
                .await,
            StatusCode::NOT_FOUND,
            &code,
        )
        .await;
    }
}

#[tokio::test]
async fn reference_writes_need_a_moderator_or_admin() {
    let app = spawn_app().await;
    let member = app.register("member_boris").await;
    let moderator = app.register_with_role("mod_vera", Role::Moderator).await;
    let admin = app.register_with_role("admin_gleb", Role::Admin).await;
    for path in REFERENCE_PATHS {
        let base = format!("/api/v1/{path}");
        let existing = create_reference(&app, &moderator.access_token, path, "Существующий").await;
        let item = format!("{base}/{existing}");

        // anonymous: 401 on every write
        assert_problem(
            app.post_json(&base, None, &json!({"name": "Аноним"})).await,
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;
        assert_problem(
            app.patch_json(&item, None, &json!({"name": "Аноним"}))
                .await,
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;
        assert_problem(
            app.delete(&item, None).await,
            StatusCode::UNAUTHORIZED,
            "missing_token",
        )
        .await;

        // member: 403 on every write, even with a body the catalog would refuse
        let member_token = Some(member.access_token.as_str());
        for body in [json!({"name": "Участник"}), json!({"nope": 1})] {
            assert_problem(
                app.post_json(&base, member_token, &body).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
            assert_problem(
                app.patch_json(&item, member_token, &body).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        assert_problem(
            app.delete(&item, member_token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let list: Value = app.get(&base, None).await.json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{path}");

        // moderator and admin: allowed
        for (who, token) in [
            ("модератор", &moderator.access_token),
            ("админ", &admin.access_token),
        ] {
            let id = create_reference(&app, token, path, who).await;
            let response = app
                .patch_json(
                    &format!("{base}/{id}"),
                    Some(token),
                    &json!({"name": format!("{who} 2")}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{path} {who}");
            let response = app.delete(&format!("{base}/{id}"), Some(token)).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path} {who}");
        }
        assert_eq!(count_rows(&app, table_of(path)).await, 1, "{path}");
    }
}

#[tokio::test]
async fn duplicate_names_conflict_in_any_case() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_dina", Role::Moderator).await;
    let token = Some(moderator.access_token.as_str());
    let vostok = create_reference(&app, &moderator.access_token, "brands", "Восток").await;
    let poljot = create_reference(&app, &moderator.access_token, "brands", "Полёт").await;
    create_reference(&app, &moderator.access_token, "brands", "Raketa").await;

    for name in [
        "Восток",
        "восток",
        "ВОСТОК",
        " восток ",
        "RAKETA",
        "raketa",
        "ПОЛЁТ",
    ] {
        let problem = assert_problem(
            app.post_json("/api/v1/brands", token, &json!({"name": name}))
                .await,
            StatusCode::CONFLICT,
            "name_taken",
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("brand"),
            "{problem}"
        );
    }
    assert_eq!(count_rows(&app, "brand").await, 3);

    // renaming into another row's name, in any case, is refused too
    assert_problem(
        app.patch_json(
            &format!("/api/v1/brands/{poljot}"),
            token,
            &json!({"name": "восток"}),
        )
        .await,
        StatusCode::CONFLICT,
        "name_taken",
    )
    .await;
    // while a row may change the case of its own name
    let response = app
        .patch_json(
            &format!("/api/v1/brands/{vostok}"),
            token,
            &json!({"name": "ВОСТОК"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // the same name in another table is no conflict
    create_reference(&app, &moderator.access_token, "factories", "Восток").await;
}

#[tokio::test]
async fn names_are_trimmed_and_checked() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_egor", Role::Moderator).await;
    let token = Some(moderator.access_token.as_str());
    let id = create_reference(&app, &moderator.access_token, "genders", "  Мужские\t").await;
    let body: Value = app
        .get(&format!("/api/v1/genders/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["name"], "Мужские");
    create_reference(&app, &moderator.access_token, "genders", &"ж".repeat(100)).await;

    let invalid = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "ж".repeat(101)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": null}), "name"),
        (json!({}), "body"),
        (json!({"name": "Женские", "extra": true}), "extra"),
    ];
    for (body, field) in &invalid {
        let problem = assert_problem(
            app.post_json("/api/v1/genders", token, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], *field, "{body}");
        let problem = assert_problem(
            app.patch_json(&format!("/api/v1/genders/{id}"), token, body)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], *field, "{body}");
    }
    let response = app
        .request(Method::POST, "/api/v1/genders", token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert_eq!(count_rows(&app, "gender").await, 2);
    let body: Value = app
        .get(&format!("/api/v1/genders/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["name"], "Мужские");
}

#[tokio::test]
async fn unknown_tables_are_unknown_routes_and_unknown_rows_are_404() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_zoya", Role::Moderator).await;
    let token = Some(moderator.access_token.as_str());
    for (method, path) in [
        (Method::GET, "/api/v1/nothing-here"),
        (Method::POST, "/api/v1/nothing-here"),
        (Method::DELETE, "/api/v1/nothing-here"),
        (Method::GET, "/api/v1/nothing-here/1"),
        (Method::PATCH, "/api/v1/brand/1"),
        (Method::DELETE, "/api/v1/Brands/1"),
        (Method::PUT, "/api/v1/nothing-here/1"),
    ] {
        for token in [None, token] {
            let response = app
                .request(method.clone(), path, token)
                .json(&json!({"name": "x"}))
                .send()
                .await
                .unwrap();
            assert_problem(response, StatusCode::NOT_FOUND, "route_not_found").await;
        }
    }
    // a known table asked with a method it does not serve
    assert_problem(
        app.delete("/api/v1/brands", token).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert_problem(
        app.get("/api/v1/factories/999", None).await,
        StatusCode::NOT_FOUND,
        "factory_not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/case-materials/abc", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
    // other routes are still theirs
    let response = app.get("/api/v1/users/me", token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn lists_are_sorted_by_name_filtered_and_paged_without_gaps() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_ilya", Role::Moderator).await;
    let names = [
        "Заря",
        "Восток",
        "Полёт",
        "Слава",
        "Чайка",
        "Луч",
        "Ракета",
        "Победа",
        "Молния",
        "Амфибия",
        "Командирские",
        "Штурманские",
        "Секонда",
        "Маяк",
        "Урал",
        "Стрела",
        "Спутник",
        "Москва",
        "Кама",
        "Звезда",
        "aurora",
        "Bravo",
        "cosmos",
        "Delta",
    ];
    for name in names {
        create_reference(&app, &moderator.access_token, "functions", name).await;
    }
    let mut expected: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    expected.sort_by_key(|name| name.to_lowercase().replace('ё', "е"));

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/functions?limit=5&cursor={cursor}"),
            None => "/api/v1/functions?limit=5".to_owned(),
        };
        let page: Value = app.get(&path, None).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        seen.extend(
            items
                .iter()
                .map(|item| item["name"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        if pages == 2 {
            // rows added before the cursor do not shift the pages that follow
            create_reference(&app, &moderator.access_token, "functions", "Аа").await;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected, "every row once, in order");

    let found: Value = app
        .get("/api/v1/functions?q=%D0%A1%D0%9A", None)
        .await
        .json()
        .await
        .unwrap();
    let found: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        ["Командирские", "Москва", "Штурманские"],
        "q «СК» in any case"
    );
    let found: Value = app
        .get("/api/v1/functions?q=%D0%BF%D0%BE%D0%BB%D0%B5%D1%82", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        found["items"][0]["name"], "Полёт",
        "q «полет» finds «Полёт»"
    );

    assert_problem(
        app.get("/api/v1/functions?cursor=garbage!", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    for limit in ["0", "101"] {
        assert_problem(
            app.get(&format!("/api/v1/functions?limit={limit}"), None)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    assert_problem(
        app.get("/api/v1/functions?limit=many", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn references_in_use_cannot_be_deleted() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_kira", Role::Moderator).await;
    let token = moderator.access_token.as_str();
    let factory = create_reference(&app, token, "factories", "Чистопольский часовой завод").await;
    let brand = create_reference(&app, token, "brands", "Восток").await;
    let kind = create_reference(&app, token, "mechanism-types", "Механический").await;
    let function = create_reference(&app, token, "functions", "Дата").await;
    let response = app
        .post_json(
            "/api/v1/mechanisms",
            Some(token),
            &json!({
                "name": "2416Б",
                "factory_id": factory,
                "mechanism_type_id": kind,
                "function_ids": [function],
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let mechanism: Value = response.json().await.unwrap();
    let mut watches = Vec::new();
    for folder in ["amphibia_1", "amphibia_2", "komandirskie_1"] {
        watches.push(
            insert_watch(&app, folder, |row| {
                row.factory_id = Set(Some(factory));
                row.brand_id = Set(Some(brand));
            })
            .await,
        );
    }

    let problem = assert_problem(
        app.delete(&format!("/api/v1/factories/{factory}"), Some(token))
            .await,
        StatusCode::CONFLICT,
        "reference_in_use",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("used by 3 watches and 1 mechanism"),
        "{problem}"
    );
    let problem = assert_problem(
        app.delete(&format!("/api/v1/brands/{brand}"), Some(token))
            .await,
        StatusCode::CONFLICT,
        "reference_in_use",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("3 watches"),
        "{problem}"
    );
    for (path, id) in [("mechanism-types", kind), ("functions", function)] {
        let problem = assert_problem(
            app.delete(&format!("/api/v1/{path}/{id}"), Some(token))
                .await,
            StatusCode::CONFLICT,
            "reference_in_use",
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("1 mechanism"),
            "{problem}"
        );
    }
    assert_eq!(count_rows(&app, "factory").await, 1);

    // once nothing uses them they go
    for id in watches {
        watch::Entity::delete_by_id(id)
            .exec(&app.state.db)
            .await
            .unwrap();
    }
    let response = app
        .delete(
            &format!("/api/v1/mechanisms/{}", mechanism["id"]),
            Some(token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for (path, id) in [
        ("factories", factory),
        ("brands", brand),
        ("mechanism-types", kind),
        ("functions", function),
    ] {
        let response = app
            .delete(&format!("/api/v1/{path}/{id}"), Some(token))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
    }
}

#[tokio::test]
async fn renaming_a_brand_renames_it_in_search() {
    let app = spawn_app().await;
    let moderator = app.register_with_role("mod_lev", Role::Moderator).await;
    let brand = create_reference(&app, &moderator.access_token, "brands", "Восток").await;
    let other = create_reference(&app, &moderator.access_token, "brands", "Слава").await;
    let watch_id = insert_watch(&app, "amphibia_420", |row| row.brand_id = Set(Some(brand))).await;
    let other_watch = insert_watch(&app, "slava_2414", |row| row.brand_id = Set(Some(other))).await;
    for id in [watch_id, other_watch] {
        vitrine::catalog::search::reindex(&app.state.db, id)
            .await
            .unwrap();
    }
    let tokens = |id: i64| {
        let db = app.state.db.clone();
        async move {
            watch_search_token::Entity::find()
                .filter(watch_search_token::Column::WatchId.eq(id))
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.token)
                .collect::<Vec<_>>()
        }
    };
    assert!(tokens(watch_id).await.contains(&"восток".to_owned()));

    let response = app
        .patch_json(
            &format!("/api/v1/brands/{brand}"),
            Some(&moderator.access_token),
            &json!({"name": "Восток-Европа"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let renamed = tokens(watch_id).await;
    assert!(renamed.contains(&"европа".to_owned()), "{renamed:?}");
    assert!(renamed.contains(&"amphibia".to_owned()), "{renamed:?}");
    assert!(tokens(other_watch).await.contains(&"слава".to_owned()));
}

#[tokio::test]
async fn the_api_document_lists_the_reference_tables() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let list = &doc["paths"]["/api/v1/{reference}"];
    assert!(
        list["get"].is_object() && list["post"].is_object(),
        "{list}"
    );
    let item = &doc["paths"]["/api/v1/{reference}/{id}"];
    for method in ["get", "patch", "delete"] {
        assert!(item[method].is_object(), "{method}");
    }
    for operation in [
        &list["get"],
        &list["post"],
        &item["get"],
        &item["patch"],
        &item["delete"],
    ] {
        let parameter = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == "reference")
            .unwrap_or_else(|| panic!("no `reference` parameter: {operation}"));
        assert_eq!(parameter["in"], "path");
        let values: Vec<&str> = parameter["schema"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("`reference` lists its values: {parameter}"))
            .iter()
            .map(|value| value.as_str().unwrap())
            .collect();
        assert_eq!(values, REFERENCE_PATHS);
    }
    // every schema and response these routes name is in the document
    for path in [
        "/api/v1/{reference}",
        "/api/v1/{reference}/{id}",
        "/api/v1/mechanisms",
        "/api/v1/mechanisms/{id}",
        "/api/v1/users/{id}/collection",
        "/api/v1/users/me/collection/{watch_id}",
    ] {
        let operations = &doc["paths"][path];
        assert!(operations.is_object(), "{path} is documented");
        let mut refs = Vec::new();
        collect_refs(operations, &mut refs);
        for reference in refs {
            let pointer = reference.trim_start_matches('#');
            assert!(
                doc.pointer(pointer).is_some_and(Value::is_object),
                "{path} names {reference}, which the document lacks"
            );
        }
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(value, refs),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|value| collect_refs(value, refs)),
        _ => {}
    }
}
