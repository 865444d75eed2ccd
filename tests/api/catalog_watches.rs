//! Watches: writing, reading, permissions, uniqueness, validation, cascade deletion and
//! the functions drafts publish through.

use reqwest::{Method, StatusCode};
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, count_rows, png, spawn_app};
use vitrine::auth::Role;
use vitrine::catalog::model::WatchValues;
use vitrine::catalog::watches;

/// Creates a reference row through the references API and returns its id.
pub async fn reference(app: &TestApp, token: &str, path: &str, name: &str) -> i64 {
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
    body["id"].as_i64().unwrap()
}

/// Reference rows and a mechanism a watch can point at.
pub struct Refs {
    pub vostok: i64,
    pub poljot: i64,
    pub chistopol: i64,
    pub first_moscow: i64,
    pub men: i64,
    pub women: i64,
    pub steel: i64,
    pub gold: i64,
    pub mechanical: i64,
    pub quartz: i64,
    pub calendar: i64,
    pub shockproof: i64,
    /// 2416Б, mechanical, Чистополь, calendar and shockproof.
    pub automatic: i64,
    /// 2356, quartz.
    pub quartz_movement: i64,
}

pub async fn references(app: &TestApp, token: &str) -> Refs {
    let mechanical = reference(app, token, "mechanism-types", "Механический").await;
    let quartz = reference(app, token, "mechanism-types", "Кварцевый").await;
    let chistopol = reference(app, token, "factories", "Чистопольский часовой завод").await;
    let calendar = reference(app, token, "functions", "Календарь").await;
    let shockproof = reference(app, token, "functions", "Противоударный").await;
    let automatic = mechanism(
        app,
        token,
        json!({"name": "2416Б", "stones": 31, "mechanism_type_id": mechanical,
               "factory_id": chistopol, "function_ids": [shockproof, calendar]}),
    )
    .await;
    let quartz_movement = mechanism(
        app,
        token,
        json!({"name": "2356", "mechanism_type_id": quartz}),
    )
    .await;
    Refs {
        vostok: reference(app, token, "brands", "Восток").await,
        poljot: reference(app, token, "brands", "Полёт").await,
        chistopol,
        first_moscow: reference(app, token, "factories", "Первый московский часовой завод").await,
        men: reference(app, token, "genders", "мужские").await,
        women: reference(app, token, "genders", "женские").await,
        steel: reference(app, token, "case-materials", "сталь").await,
        gold: reference(app, token, "case-materials", "золото").await,
        mechanical,
        quartz,
        calendar,
        shockproof,
        automatic,
        quartz_movement,
    }
}

async fn mechanism(app: &TestApp, token: &str, body: Value) -> i64 {
    let response = app
        .post_json("/api/v1/mechanisms", Some(token), &body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating {body}");
    let body: Value = response.json().await.unwrap();
    body["id"].as_i64().unwrap()
}

/// Creates a watch through the API and returns its detail.
pub async fn create_watch(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post_json("/api/v1/watches", Some(token), body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "creating {body}");
    response.json().await.unwrap()
}

pub async fn moderator(app: &TestApp) -> TestUser {
    app.register_with_role("moder", Role::Moderator).await
}

pub async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// The ids of a list answer's items.
pub fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// A URL of the API's answers on the test server's address.
pub fn local(app: &TestApp, url: &Value) -> String {
    let url = url.as_str().unwrap_or_else(|| panic!("{url} is not a URL"));
    let prefix = app.state.config.public_url();
    let path = url
        .strip_prefix(prefix.as_str())
        .unwrap_or_else(|| panic!("{url} is not under {prefix}"));
    app.url(path)
}

/// Sets a photo of a watch, as raw bytes.
pub async fn put_photo(
    app: &TestApp,
    token: Option<&str>,
    watch_id: i64,
    side: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/watches/{watch_id}/images/{side}"),
        token,
    )
    .body(bytes)
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn watches_are_written_and_read_with_everything_they_refer_to() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let admin = app.register_with_role("admin", Role::Admin).await;
    let token = moder.access_token.as_str();
    let refs = references(&app, token).await;

    let created = create_watch(
        &app,
        token,
        &json!({
            "folder": "vostok_amphibia_420",
            "code": "420059",
            "integrated_bracelet": true,
            "start_release": 1975,
            "end_release": 1991,
            "gender_id": refs.men,
            "case_material_id": refs.steel,
            "mechanism_id": refs.automatic,
            "factory_id": refs.chistopol,
            "brand_id": refs.vostok,
            "aliases": [" Амфибия ", "амфибия", "Amphibia", "Командирские"],
        }),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["folder"], "vostok_amphibia_420");
    assert_eq!(created["code"], "420059");
    assert_eq!(created["integrated_bracelet"], true);
    assert_eq!(created["start_release"], 1975);
    assert_eq!(created["end_release"], 1991);
    assert_eq!(
        created["brand"],
        json!({"id": refs.vostok, "name": "Восток"})
    );
    assert_eq!(
        created["factory"],
        json!({"id": refs.chistopol, "name": "Чистопольский часовой завод"})
    );
    assert_eq!(
        created["gender"],
        json!({"id": refs.men, "name": "мужские"})
    );
    assert_eq!(
        created["case_material"],
        json!({"id": refs.steel, "name": "сталь"})
    );
    let mechanism = &created["mechanism"];
    assert_eq!(mechanism["id"], refs.automatic);
    assert_eq!(mechanism["name"], "2416Б");
    assert_eq!(mechanism["stones"], 31);
    assert_eq!(mechanism["mechanism_type"]["name"], "Механический");
    let functions: Vec<&str> = mechanism["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["Календарь", "Противоударный"]);
    assert_eq!(mechanism["functions"][0]["id"], refs.calendar);
    assert_eq!(mechanism["functions"][1]["id"], refs.shockproof);
    // trimmed, repeats in any case dropped, first spelling kept, order kept
    assert_eq!(
        created["aliases"],
        json!(["Амфибия", "Amphibia", "Командирские"])
    );
    assert_eq!(
        created["images"],
        json!({"main": null, "left": null, "right": null, "bottom": null})
    );
    assert_eq!(created["user_id"], moder.user_id);
    assert!(created["created_at"].is_string());
    assert_eq!(created["created_at"], created["updated_at"]);

    // anyone may read it
    let read = get_json(&app, &format!("/api/v1/watches/{id}")).await;
    assert_eq!(read, created);

    // only what is sent changes; null clears, absent keeps
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let response = app
        .patch_json(
            &format!("/api/v1/watches/{id}"),
            Some(&admin.access_token),
            &json!({"code": null, "factory_id": null, "end_release": 1995,
                    "aliases": ["Амфибия", "Нева"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["code"], Value::Null);
    assert_eq!(patched["factory"], Value::Null);
    assert_eq!(patched["end_release"], 1995);
    assert_eq!(patched["start_release"], 1975);
    assert_eq!(patched["brand"]["id"], refs.vostok);
    assert_eq!(patched["mechanism"]["id"], refs.automatic);
    assert_eq!(patched["integrated_bracelet"], true);
    assert_eq!(patched["aliases"], json!(["Амфибия", "Нева"]));
    assert_eq!(patched["user_id"], admin.user_id, "the last writer");
    assert_eq!(patched["created_at"], created["created_at"]);
    assert!(
        patched["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap(),
        "updated_at moves: {patched}"
    );
    assert_eq!(count_rows(&app, "alias").await, 2);

    // an empty patch keeps everything; aliases null empties them
    let response = app
        .patch_json(&format!("/api/v1/watches/{id}"), Some(token), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let same: Value = response.json().await.unwrap();
    assert_eq!(same["aliases"], patched["aliases"]);
    let response = app
        .patch_json(
            &format!("/api/v1/watches/{id}"),
            Some(token),
            &json!({"aliases": null, "mechanism_id": refs.quartz_movement,
                    "integrated_bracelet": false}),
        )
        .await;
    let cleared: Value = response.json().await.unwrap();
    assert_eq!(cleared["aliases"], json!([]));
    assert_eq!(cleared["mechanism"]["name"], "2356");
    assert_eq!(cleared["mechanism"]["mechanism_type"]["name"], "Кварцевый");
    assert_eq!(cleared["integrated_bracelet"], false);
    assert_eq!(count_rows(&app, "alias").await, 0);

    // a watch with nothing but a folder
    let bare = create_watch(&app, token, &json!({"folder": "bare"})).await;
    for field in [
        "code",
        "brand",
        "factory",
        "gender",
        "case_material",
        "mechanism",
    ] {
        assert_eq!(bare[field], Value::Null, "{field}");
    }
    assert_eq!(bare["integrated_bracelet"], false);
    assert_eq!(bare["aliases"], json!([]));

    let response = app
        .delete(&format!("/api/v1/watches/{id}"), Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for response in [
        app.get(&format!("/api/v1/watches/{id}"), None).await,
        app.delete(&format!("/api/v1/watches/{id}"), Some(token))
            .await,
        app.patch_json(
            &format!("/api/v1/watches/{id}"),
            Some(token),
            &json!({"code": "x"}),
        )
        .await,
    ] {
        assert_problem(response, StatusCode::NOT_FOUND, "watch_not_found").await;
    }
    assert_problem(
        app.get("/api/v1/watches/abc", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_path",
    )
    .await;
}

#[tokio::test]
async fn watch_writes_need_a_moderator_or_admin() {
    let app = spawn_app().await;
    let member = app.register("member").await;
    let moder = moderator(&app).await;
    let admin = app.register_with_role("admin", Role::Admin).await;
    let brand = reference(&app, &moder.access_token, "brands", "Восток").await;

    for (who, token, allowed) in [
        ("anonymous", None, None),
        ("member", Some(member.access_token.as_str()), None),
        ("moderator", Some(moder.access_token.as_str()), Some(())),
        ("admin", Some(admin.access_token.as_str()), Some(())),
    ] {
        let refused = |response: reqwest::Response| async move {
            match token {
                None => {
                    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
                }
                Some(_) => {
                    assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
                }
            }
        };
        // a watch of the right people's making to try the other writes on
        let target = create_watch(
            &app,
            &moder.access_token,
            &json!({"folder": format!("target_{who}"), "brand_id": brand}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let watch_path = format!("/api/v1/watches/{target}");
        let photo_path = format!("{watch_path}/images/main");

        let create = app
            .request(Method::POST, "/api/v1/watches", token)
            .json(&json!({"folder": format!("new_{who}")}))
            .send()
            .await
            .unwrap();
        let patch = app
            .request(Method::PATCH, &watch_path, token)
            .json(&json!({"code": format!("code_{who}")}))
            .send()
            .await
            .unwrap();
        let photo = put_photo(&app, token, target, "main", png(8, 8)).await;
        match allowed {
            None => {
                refused(create).await;
                refused(patch).await;
                refused(photo).await;
                refused(
                    app.request(Method::DELETE, &photo_path, token)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                refused(
                    app.request(Method::DELETE, &watch_path, token)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                // nothing changed
                let watch = get_json(&app, &watch_path).await;
                assert_eq!(watch["code"], Value::Null);
                assert_eq!(watch["images"]["main"], Value::Null);
            }
            Some(()) => {
                assert_eq!(create.status(), StatusCode::CREATED, "{who} creates");
                assert_eq!(patch.status(), StatusCode::OK, "{who} edits");
                assert_eq!(photo.status(), StatusCode::CREATED, "{who} sets a photo");
                let response = app.request(Method::DELETE, &photo_path, token).send().await;
                assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
                let response = app.request(Method::DELETE, &watch_path, token).send().await;
                assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
            }
        }
    }
    // reading needs no one
    let list = get_json(&app, "/api/v1/watches").await;
    let folders: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["folder"].as_str().unwrap())
        .collect();
    assert_eq!(
        folders,
        [
            "target_anonymous",
            "target_member",
            "new_moderator",
            "new_admin"
        ]
    );
    assert_eq!(app.stored_objects().await, Vec::<String>::new());
}

#[tokio::test]
async fn folders_and_codes_are_unique() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let first = create_watch(
        &app,
        token,
        &json!({"folder": "poljot_shturmanskie", "code": "2614-A"}),
    )
    .await;
    let second = create_watch(&app, token, &json!({"folder": "poljot_2"})).await;
    // several watches may have no code
    create_watch(&app, token, &json!({"folder": "poljot_3", "code": null})).await;

    let response = app
        .post_json(
            "/api/v1/watches",
            Some(token),
            &json!({"folder": "poljot_shturmanskie"}),
        )
        .await;
    assert_problem(response, StatusCode::CONFLICT, "folder_taken").await;
    let response = app
        .post_json(
            "/api/v1/watches",
            Some(token),
            &json!({"folder": "poljot_4", "code": "2614-A"}),
        )
        .await;
    assert_problem(response, StatusCode::CONFLICT, "code_taken").await;

    let second_path = format!("/api/v1/watches/{}", second["id"]);
    let response = app
        .patch_json(
            &second_path,
            Some(token),
            &json!({"folder": "poljot_shturmanskie"}),
        )
        .await;
    assert_problem(response, StatusCode::CONFLICT, "folder_taken").await;
    let response = app
        .patch_json(&second_path, Some(token), &json!({"code": "2614-A"}))
        .await;
    assert_problem(response, StatusCode::CONFLICT, "code_taken").await;
    // a watch keeps its own folder and code
    let response = app
        .patch_json(
            &format!("/api/v1/watches/{}", first["id"]),
            Some(token),
            &json!({"folder": "poljot_shturmanskie", "code": "2614-A"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count_rows(&app, "watch").await, 3);

    // the repository function refuses it too
    let db = &app.state.db;
    let tx = db.begin().await.unwrap();
    let values = WatchValues {
        folder: "poljot_5".into(),
        code: Some("2614-A".into()),
        ..Default::default()
    };
    let err = watches::insert_watch(&tx, &values, None).await.unwrap_err();
    assert_eq!(err.code(), "code_taken");
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn watch_values_are_validated() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let refs = references(&app, token).await;
    let watch = create_watch(
        &app,
        token,
        &json!({"folder": "vostok", "start_release": 1970, "end_release": 1980,
                "brand_id": refs.vostok}),
    )
    .await;
    let path = format!("/api/v1/watches/{}", watch["id"]);

    let invalid = [
        (
            json!({"folder": "a", "start_release": 1980, "end_release": 1970}),
            "end_release",
        ),
        (
            json!({"folder": "a", "start_release": 1200}),
            "start_release",
        ),
        (json!({"folder": "a", "end_release": 3000}), "end_release"),
        (json!({"folder": "../etc"}), "folder"),
        (json!({"folder": "Полёт"}), "folder"),
        (json!({"folder": " "}), "folder"),
        (json!({"folder": "a", "code": " "}), "code"),
        (
            json!({"folder": "a", "aliases": (0..51).map(|n| n.to_string()).collect::<Vec<_>>()}),
            "aliases",
        ),
        (
            json!({"folder": "a", "aliases": ["x".repeat(101)]}),
            "aliases",
        ),
        (json!({"folder": "a", "brand_id": 999}), "brand_id"),
        (json!({"folder": "a", "factory_id": 999}), "factory_id"),
        (json!({"folder": "a", "gender_id": 999}), "gender_id"),
        (
            json!({"folder": "a", "case_material_id": 999}),
            "case_material_id",
        ),
        (json!({"folder": "a", "mechanism_id": 999}), "mechanism_id"),
        (
            json!({"folder": "a", "start_release": "1970"}),
            "start_release",
        ),
        (json!({"folder": "a", "colour": "red"}), "colour"),
        (json!({"code": "x"}), "body"),
    ];
    for (body, field) in invalid {
        let response = app.post_json("/api/v1/watches", Some(token), &body).await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body} should blame {field}: {problem}"
        );
    }

    // end before start is judged on the merged values
    let patches = [
        (json!({"start_release": 1985}), "end_release"),
        (json!({"end_release": 1960}), "end_release"),
        (json!({"folder": null}), "folder"),
        (json!({"integrated_bracelet": null}), "integrated_bracelet"),
        (json!({"gender_id": 999}), "gender_id"),
        (json!({"mechanism_id": 999}), "mechanism_id"),
    ];
    for (body, field) in patches {
        let response = app.patch_json(&path, Some(token), &body).await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    // clearing the end makes any start fine
    let response = app
        .patch_json(
            &path,
            Some(token),
            &json!({"end_release": null, "start_release": 1990}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app
        .request(Method::POST, "/api/v1/watches", Some(token))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    assert_eq!(count_rows(&app, "watch").await, 1);
    let unchanged = get_json(&app, &path).await;
    assert_eq!(unchanged["brand"]["id"], refs.vostok);
    assert_eq!(unchanged["start_release"], 1990);
}

#[tokio::test]
async fn deleting_a_watch_removes_everything_linked_to_it() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let member = app.register("collector").await;
    let token = moder.access_token.as_str();
    let brand = reference(&app, token, "brands", "Восток").await;
    let doomed = create_watch(
        &app,
        token,
        &json!({"folder": "doomed", "code": "1", "brand_id": brand,
                "aliases": ["Амфибия", "Командирские"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let kept = create_watch(
        &app,
        token,
        &json!({"folder": "kept", "brand_id": brand, "aliases": ["Нева"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    for side in ["main", "left", "bottom"] {
        let response = put_photo(&app, Some(token), doomed, side, png(10, 10)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = put_photo(&app, Some(token), kept, "main", png(12, 12)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // a thumbnail is a derived object that must go too
    let detail = get_json(&app, &format!("/api/v1/watches/{doomed}")).await;
    let thumb = local(&app, &detail["images"]["main"]["thumb_url"]);
    let response = app.client.get(&thumb).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for (user, watch) in [(&member, doomed), (&member, kept), (&moder, doomed)] {
        let response = app
            .request(
                Method::PUT,
                &format!("/api/v1/users/me/collection/{watch}"),
                Some(&user.access_token),
            )
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    assert_eq!(app.stored_objects().await.len(), 5);

    let response = app
        .delete(&format!("/api/v1/watches/{doomed}"), Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for (table, left) in [
        ("watch", 1),
        ("alias", 1),
        ("watch_image", 1),
        ("collection", 1),
    ] {
        assert_eq!(count_rows(&app, table).await, left, "{table}");
    }
    let db = &app.state.db;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use vitrine::catalog::entity::watch_search_token;
    let tokens = watch_search_token::Entity::find()
        .filter(watch_search_token::Column::WatchId.eq(doomed))
        .all(db)
        .await
        .unwrap();
    assert!(tokens.is_empty());
    let files = vitrine::files::entity::Entity::find()
        .all(db)
        .await
        .unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(
        files.iter().filter(|f| f.status == "deleted").count(),
        3,
        "the photos' files are marked deleted"
    );
    let objects = app.stored_objects().await;
    assert_eq!(objects, vec!["watches/kept/main.png".to_owned()]);
    let response = app.client.get(&thumb).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // the other watch is whole and still found by its words
    let found = get_json(&app, "/api/v1/watches?q=нева").await;
    assert_eq!(found["items"][0]["id"], kept);
    let found = get_json(&app, "/api/v1/watches?q=амфибия").await;
    assert_eq!(found["items"], json!([]));
    let collection = get_json(
        &app,
        &format!("/api/v1/users/{}/collection", member.user_id),
    )
    .await;
    assert_eq!(collection["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn drafts_publish_through_the_repository_functions() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let member = app.register("author").await;
    let token = moder.access_token.as_str();
    let brand = reference(&app, token, "brands", "Полёт").await;
    let db = &app.state.db;

    let values = WatchValues {
        folder: "poljot_shturmanskie".into(),
        code: Some("2614.2Н".into()),
        start_release: Some(1949),
        end_release: Some(1960),
        brand_id: Some(brand),
        aliases: vec![
            "Штурманские".into(),
            " штурманские ".into(),
            "Гагарин".into(),
        ],
        ..Default::default()
    };
    let tx = db.begin().await.unwrap();
    let row = watches::repo::insert_watch(&tx, &values, member.user_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(row.user_id, Some(member.user_id));

    let stored = watches::load_values(db, row.id).await.unwrap().unwrap();
    assert_eq!(stored.aliases, ["Штурманские", "Гагарин"]);
    assert_eq!(
        WatchValues {
            aliases: values.aliases.clone(),
            ..stored.clone()
        },
        values
    );
    assert!(
        watches::load_values(db, row.id + 100)
            .await
            .unwrap()
            .is_none()
    );

    let detail = get_json(&app, &format!("/api/v1/watches/{}", row.id)).await;
    assert_eq!(detail["user_id"], member.user_id);
    let found = get_json(&app, "/api/v1/watches?q=гагар").await;
    assert_eq!(found["items"][0]["id"], row.id);

    // an edit proposal replaces every value; the author stays unless given
    let changed = WatchValues {
        aliases: vec!["Полёт".into()],
        code: None,
        ..stored
    };
    let tx = db.begin().await.unwrap();
    let updated = watches::repo::update_watch(&tx, row.id, &changed)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(updated.user_id, Some(member.user_id));
    assert_eq!(updated.code, None);
    assert_eq!(
        get_json(&app, "/api/v1/watches?q=гагар").await["items"],
        json!([])
    );
    let tx = db.begin().await.unwrap();
    let credited = watches::update_watch_by(&tx, row.id, &changed, moder.user_id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(credited.user_id, Some(moder.user_id));

    // the same rules as the API
    let tx = db.begin().await.unwrap();
    let err = watches::repo::update_watch(&tx, row.id + 100, &changed)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "watch_not_found");
    let bad = WatchValues {
        end_release: Some(1900),
        ..changed.clone()
    };
    let err = watches::repo::update_watch(&tx, row.id, &bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    let err = watches::insert_watch(&tx, &changed, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "folder_taken");
    tx.rollback().await.unwrap();

    // an import matches on folder and writes only what changed
    let tx = db.begin().await.unwrap();
    assert_eq!(
        watches::upsert_by_folder(&tx, &changed).await.unwrap(),
        watches::Upserted::Unchanged
    );
    let renamed = WatchValues {
        start_release: Some(1950),
        ..changed.clone()
    };
    assert_eq!(
        watches::upsert_by_folder(&tx, &renamed).await.unwrap(),
        watches::Upserted::Updated
    );
    let fresh = WatchValues {
        folder: "poljot_2".into(),
        ..Default::default()
    };
    assert_eq!(
        watches::upsert_by_folder(&tx, &fresh).await.unwrap(),
        watches::Upserted::Created
    );
    tx.commit().await.unwrap();
    assert_eq!(count_rows(&app, "watch").await, 2);
}

#[tokio::test]
async fn concurrent_writes_all_succeed() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let brand = reference(&app, token, "brands", "Восток").await;
    let creates = (0..8).map(|n| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/watches",
                Some(token),
                &json!({"folder": format!("w{n}"), "brand_id": brand, "aliases": [format!("a{n}")]}),
            )
            .await
        }
    });
    let mut ids = Vec::new();
    for response in futures_util::future::join_all(creates).await {
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let edits = ids.iter().enumerate().map(|(n, id)| {
        let app = &app;
        async move {
            app.patch_json(
                &format!("/api/v1/watches/{id}"),
                Some(token),
                &json!({"code": format!("c{n}"), "aliases": ["x"]}),
            )
            .await
        }
    });
    for response in futures_util::future::join_all(edits).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let deletes = ids.iter().map(|id| {
        let app = &app;
        async move {
            app.delete(&format!("/api/v1/watches/{id}"), Some(token))
                .await
        }
    });
    for response in futures_util::future::join_all(deletes).await {
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(count_rows(&app, "watch").await, 0);
    assert_eq!(count_rows(&app, "alias").await, 0);
    assert_eq!(count_rows(&app, "watch_search_token").await, 0);
}
