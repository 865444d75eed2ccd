//! The watch list: search in Cyrillic and Latin, filters, sorts with keyset pagination,
//! and its parameters' problems.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::catalog_watches::{Refs, create_watch, get_json, ids, moderator, put_photo, references};
use crate::helpers::{TestApp, assert_problem, execute_sql, png, spawn_app};

async fn search(app: &TestApp, query: &str) -> Vec<i64> {
    let page = get_json(app, &format!("/api/v1/watches?limit=100&{query}")).await;
    assert_eq!(page["next_cursor"], Value::Null, "one page: {query}");
    ids(&page)
}

/// Three watches: a Восток Амфибия, a Полёт Штурманские and a Latin-only Vostok.
async fn small_catalog(app: &TestApp, token: &str, refs: &Refs) -> [i64; 3] {
    let amphibia = create_watch(
        app,
        token,
        &json!({"folder": "vostok_amphibia", "code": "2416-Б/420", "brand_id": refs.vostok,
                "factory_id": refs.chistopol, "gender_id": refs.men,
                "case_material_id": refs.steel, "mechanism_id": refs.automatic,
                "integrated_bracelet": true, "start_release": 1975, "end_release": 1991,
                "aliases": ["Амфибия", "Командирские"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let shturmanskie = create_watch(
        app,
        token,
        &json!({"folder": "poljot-shturmanskie", "code": "2614.2Н", "brand_id": refs.poljot,
                "factory_id": refs.first_moscow, "gender_id": refs.women,
                "case_material_id": refs.gold, "mechanism_id": refs.quartz_movement,
                "start_release": 1949, "end_release": 1960,
                "aliases": ["Штурманские", "Ёлочка"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let latin = create_watch(
        app,
        token,
        &json!({"folder": "amphibia.export", "code": "420 ABC",
                "start_release": 1990, "aliases": ["Vostok Amphibia Export"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    [amphibia, shturmanskie, latin]
}

#[tokio::test]
async fn search_finds_words_in_any_case_and_alphabet() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let refs = references(&app, token).await;
    let [amphibia, shturmanskie, latin] = small_catalog(&app, token, &refs).await;

    let cases: &[(&str, &[i64])] = &[
        // aliases, by word prefix, any case
        ("амф", &[amphibia]),
        ("АМФИБИЯ", &[amphibia]),
        ("коман", &[amphibia]),
        // brand names
        ("ВОСТОК", &[amphibia]),
        ("восток", &[amphibia]),
        // ё and е are one letter, both ways
        ("полет", &[shturmanskie]),
        ("Полёт", &[shturmanskie]),
        ("елочка", &[shturmanskie]),
        ("ёлоч", &[shturmanskie]),
        // Latin words of folders, codes and aliases
        ("vostok", &[amphibia, latin]),
        ("amph", &[amphibia, latin]),
        ("AMPHIBIA", &[amphibia, latin]),
        ("shturm", &[shturmanskie]),
        ("export", &[latin]),
        // codes by their parts and written together
        ("2614", &[shturmanskie]),
        ("2614.2н", &[shturmanskie]),
        ("26142н", &[shturmanskie]),
        ("420", &[amphibia, latin]),
        ("420abc", &[latin]),
        // every word must match
        ("восток амф", &[amphibia]),
        ("amphibia export", &[latin]),
        ("восток штурманские", &[]),
        // a word inside another word is not a prefix
        ("фибия", &[]),
        ("nothing", &[]),
    ];
    search_cases(&app, cases, "words").await;
    // a blank query does not filter; one with no word in it matches nothing
    assert_eq!(search(&app, "q=").await.len(), 3);
    assert_eq!(search(&app, "q=%20%20").await.len(), 3);
    for wordless in [
        "%25",
        "_",
        "*",
        "%F0%9F%90%B1",
        "%20%E2%80%94%20",
        "%25%25%25",
    ] {
        assert_eq!(
            search(&app, &format!("q={wordless}")).await,
            Vec::<i64>::new(),
            "q={wordless}"
        );
    }

    // the index follows edits: new aliases, a new brand, a new folder
    let response = app
        .patch_json(
            &format!("/api/v1/watches/{latin}"),
            Some(token),
            &json!({"aliases": ["Нева"], "brand_id": refs.poljot, "folder": "neva"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(search(&app, "q=export").await, Vec::<i64>::new());
    assert_eq!(search(&app, "q=нева").await, vec![latin]);
    assert_eq!(search(&app, "q=полет").await, vec![shturmanskie, latin]);
    // and combines with filters
    assert_eq!(
        search(&app, &format!("q=полет&gender_id={}", refs.women)).await,
        vec![shturmanskie]
    );
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let refs = references(&app, token).await;
    let [amphibia, shturmanskie, latin] = small_catalog(&app, token, &refs).await;
    // one without any years, one with only an end
    let undated = create_watch(&app, token, &json!({"folder": "undated"})).await["id"]
        .as_i64()
        .unwrap();
    let end_only = create_watch(
        &app,
        token,
        &json!({"folder": "end_only", "end_release": 1965}),
    )
    .await["id"]
        .as_i64()
        .unwrap();

    let cases: Vec<(String, Vec<i64>)> = vec![
        (format!("brand_id={}", refs.vostok), vec![amphibia]),
        (format!("brand_id={}", refs.poljot), vec![shturmanskie]),
        (
            format!("factory_id={}", refs.first_moscow),
            vec![shturmanskie],
        ),
        (format!("gender_id={}", refs.men), vec![amphibia]),
        (
            format!("case_material_id={}", refs.gold),
            vec![shturmanskie],
        ),
        (
            format!("mechanism_type_id={}", refs.mechanical),
            vec![amphibia],
        ),
        (
            format!("mechanism_type_id={}", refs.quartz),
            vec![shturmanskie],
        ),
        ("brand_id=999999".into(), vec![]),
        ("integrated_bracelet=true".into(), vec![amphibia]),
        (
            "integrated_bracelet=false".into(),
            vec![shturmanskie, latin, undated, end_only],
        ),
        // release years overlapping the range
        ("year_from=1991".into(), vec![amphibia]),
        ("year_from=1990".into(), vec![amphibia, latin]),
        ("year_from=1992".into(), vec![]),
        ("year_to=1949".into(), vec![shturmanskie]),
        ("year_from=1961&year_to=1974".into(), vec![end_only]),
        ("year_from=1955&year_to=1955".into(), vec![shturmanskie]),
        ("year_from=1980&year_to=1980".into(), vec![amphibia]),
        (
            "year_from=1900&year_to=2000".into(),
            vec![amphibia, shturmanskie, latin, end_only],
        ),
        // filters combine
        (
            format!("brand_id={}&integrated_bracelet=false", refs.vostok),
            vec![],
        ),
        (
            format!(
                "brand_id={}&year_from=1970&integrated_bracelet=true",
                refs.vostok
            ),
            vec![amphibia],
        ),
        (
            format!("q=amph&year_to=1980&brand_id={}", refs.vostok),
            vec![amphibia],
        ),
        ("q=amph&year_from=1990".into(), vec![amphibia, latin]),
        // filters under every sort
        ("q=amph&sort=-folder".into(), vec![amphibia, latin]),
        ("q=amph&sort=folder".into(), vec![latin, amphibia]),
        ("q=amph&sort=-start_release".into(), vec![latin, amphibia]),
        ("q=восток%20амф&sort=start_release".into(), vec![amphibia]),
        (
            format!("mechanism_type_id={}&sort=-folder", refs.quartz),
            vec![shturmanskie],
        ),
        (
            format!("gender_id={}&sort=start_release", refs.women),
            vec![shturmanskie],
        ),
        (
            "integrated_bracelet=false&sort=-start_release".into(),
            vec![latin, shturmanskie, end_only, undated],
        ),
        (
            "year_from=1950&sort=folder".into(),
            vec![latin, end_only, shturmanskie, amphibia],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(search(&app, &query).await, expected, "{query}");
    }
}

#[tokio::test]
async fn list_items_are_compact() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let refs = references(&app, token).await;
    let [amphibia, shturmanskie, _] = small_catalog(&app, token, &refs).await;
    let response = put_photo(&app, Some(token), amphibia, "main", png(16, 16)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let photo: Value = response.json().await.unwrap();
    // a photo of another side is not the list's picture
    let response = put_photo(&app, Some(token), shturmanskie, "left", png(16, 16)).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let page = get_json(&app, "/api/v1/watches").await;
    assert_eq!(page["next_cursor"], Value::Null);
    let first = &page["items"][0];
    assert_eq!(
        *first,
        json!({
            "id": amphibia,
            "title": "Амфибия",
            "folder": "vostok_amphibia",
            "code": "2416-Б/420",
            "brand": {"id": refs.vostok, "name": "Восток"},
            "start_release": 1975,
            "end_release": 1991,
            "integrated_bracelet": true,
            "main_image_url": photo["url"],
        })
    );
    assert_eq!(page["items"][1]["main_image_url"], Value::Null);
    assert_eq!(page["items"][2]["brand"], Value::Null);

    // the title follows the aliases as they change
    let title_of = |page: &Value, id: i64| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == id)
            .map(|item| item["title"].clone())
            .unwrap_or_else(|| panic!("{id} not in {page}"))
    };
    for (aliases, title) in [
        (json!(["Командирские", "Амфибия"]), json!("Командирские")),
        (json!(null), Value::Null),
        (json!(["Нева"]), json!("Нева")),
    ] {
        let response = app
            .patch_json(
                &format!("/api/v1/watches/{amphibia}"),
                Some(token),
                &json!({ "aliases": aliases }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let page = get_json(&app, "/api/v1/watches").await;
        assert_eq!(title_of(&page, amphibia), title, "aliases {aliases}");
        let page = get_json(&app, "/api/v1/watches?q=2416").await;
        assert_eq!(
            title_of(&page, amphibia),
            title,
            "searched, aliases {aliases}"
        );
    }
}

/// Walks every page of `query` with `limit` and returns the ids in order.
async fn walk(app: &TestApp, query: &str, limit: u64) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let mut path = format!("/api/v1/watches?{query}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = get_json(app, &path).await;
        let items = ids(&page);
        assert!(items.len() as u64 <= limit);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert!(!page["items"].as_array().unwrap().is_empty());
                cursor = Some(next.to_owned());
            }
            None => return seen,
        }
    }
    panic!("the pages of {query} never end");
}

#[tokio::test]
async fn pages_are_stable_under_every_sort() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let brand = crate::catalog_watches::reference(&app, token, "brands", "Восток").await;
    // many equal start years, some watches without one; folders out of id order
    let mut watches: Vec<(i64, Option<i32>, String)> = Vec::new();
    for n in 0..23_i32 {
        let year = match n % 4 {
            0 => None,
            1 => Some(1970),
            2 => Some(1980 + n % 3),
            _ => Some(1970),
        };
        let folder = format!("w{:02}", (n * 7) % 23);
        let mut body = json!({"folder": folder, "brand_id": brand});
        if let Some(year) = year {
            body["start_release"] = json!(year);
        }
        let id = create_watch(&app, token, &body).await["id"]
            .as_i64()
            .unwrap();
        watches.push((id, year, folder));
    }

    let by_id: Vec<i64> = watches.iter().map(|w| w.0).collect();
    let mut by_year = watches.clone();
    // dated first by year then id; undated last by id
    by_year.sort_by_key(|(id, year, _)| (year.is_none(), *year, *id));
    let by_year: Vec<i64> = by_year.iter().map(|w| w.0).collect();
    let mut by_year_desc = watches.clone();
    by_year_desc.sort_by_key(|(id, year, _)| {
        (
            year.is_none(),
            std::cmp::Reverse(*year),
            std::cmp::Reverse(*id),
        )
    });
    let by_year_desc: Vec<i64> = by_year_desc.iter().map(|w| w.0).collect();
    let mut by_folder = watches.clone();
    by_folder.sort_by(|a, b| a.2.cmp(&b.2));
    let by_folder: Vec<i64> = by_folder.iter().map(|w| w.0).collect();

    let expected: [(&str, Vec<i64>); 6] = [
        ("id", by_id.clone()),
        ("-id", by_id.iter().rev().copied().collect()),
        ("start_release", by_year),
        ("-start_release", by_year_desc),
        ("folder", by_folder.clone()),
        ("-folder", by_folder.iter().rev().copied().collect()),
    ];
    for (sort, expected) in &expected {
        for limit in [1, 4, 5, 23, 100] {
            let walked = walk(&app, &format!("sort={sort}"), limit).await;
            assert_eq!(walked, *expected, "sort={sort} limit={limit}");
            let unique: HashSet<i64> = walked.iter().copied().collect();
            assert_eq!(unique.len(), 23);
        }
        // with a filter that keeps them all, the same order
        let walked = walk(&app, &format!("sort={sort}&brand_id={brand}"), 3).await;
        assert_eq!(walked, *expected, "sort={sort} filtered");
        // and with searches that match them all: one word (a prefix), two words, and
        // a word with a filter
        for search in ["q=w", "q=w%20восток", &format!("q=восток&brand_id={brand}")] {
            let walked = walk(&app, &format!("sort={sort}&{search}"), 4).await;
            assert_eq!(walked, *expected, "sort={sort} {search}");
        }
    }
    // the default sort is by id
    assert_eq!(walk(&app, "", 6).await, by_id);

    // a page boundary survives a write before it: nothing is repeated or skipped
    let first = get_json(&app, "/api/v1/watches?sort=start_release&limit=10").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    create_watch(
        &app,
        token,
        &json!({"folder": "aaa", "start_release": 1900}),
    )
    .await;
    let rest = get_json(
        &app,
        &format!("/api/v1/watches?sort=start_release&limit=100&cursor={cursor}"),
    )
    .await;
    let mut seen = ids(&first);
    seen.extend(ids(&rest));
    assert_eq!(seen, expected[2].1);
}

#[tokio::test]
async fn bad_list_parameters_are_problems() {
    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    for n in 0..3 {
        create_watch(
            &app,
            token,
            &json!({"folder": format!("w{n}"), "start_release": 1970}),
        )
        .await;
    }
    let page = get_json(&app, "/api/v1/watches?limit=1").await;
    let id_cursor = page["next_cursor"].as_str().unwrap().to_owned();

    for (query, field) in [
        ("sort=name", "sort"),
        ("sort=", "sort"),
        ("sort=--id", "sort"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=eyJ4IjoxfQ", "cursor"),
        ("year_from=1990&year_to=1980", "year_to"),
    ] {
        let response = app.get(&format!("/api/v1/watches?{query}"), None).await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    // a cursor belongs to its sort
    let response = app
        .get(
            &format!("/api/v1/watches?sort=-start_release&cursor={id_cursor}"),
            None,
        )
        .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let response = app
        .get(&format!("/api/v1/watches?q={}", "а".repeat(201)), None)
        .await;
    assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    for query in [
        "brand_id=abc",
        "limit=-1",
        "year_from=soon",
        "integrated_bracelet=maybe",
    ] {
        let response = app.get(&format!("/api/v1/watches?{query}"), None).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    // the cursor of a good page still works
    let response = app
        .get(&format!("/api/v1/watches?limit=1&cursor={id_cursor}"), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Adds `count` watches straight to the database: folders `bulk-00001`…, start years
/// 1950–1999, every third with an integrated bracelet, no brand and no search words.
async fn bulk_watches(app: &TestApp, count: u32) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let backend = app.state.db.get_database_backend();
    let folder = match backend {
        DbBackend::Postgres => "'bulk-' || lpad(i::text, 5, '0')",
        _ => "printf('bulk-%05d', i)",
    };
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO watch (folder, integrated_bracelet, start_release, created_at, updated_at) \
         SELECT {folder}, (i % 3 = 0), 1950 + i % 50, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n"
    );
    execute_sql(app, &sql).await;
}

#[tokio::test]
async fn sparse_and_dense_filters_page_alike_in_a_large_catalog() {
    use sea_orm::EntityTrait;
    use vitrine::catalog::entity::watch;

    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let women = crate::catalog_watches::reference(&app, token, "genders", "женские").await;
    bulk_watches(&app, 2600).await;
    // a few watches that sort after every bulk one, by folder and by descending year
    let mut rare = Vec::new();
    for (n, year) in [(1, 1902), (2, 1900), (3, 1901)] {
        let body = json!({"folder": format!("zz-{n}"), "gender_id": women, "start_release": year});
        rare.push(
            create_watch(&app, token, &body).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let undated_rare = create_watch(&app, token, &json!({"folder": "zz-4", "gender_id": women}))
        .await["id"]
        .as_i64()
        .unwrap();

    let by_gender = format!("gender_id={women}");
    assert_eq!(
        walk(&app, &format!("{by_gender}&sort=folder"), 2).await,
        [rare[0], rare[1], rare[2], undated_rare]
    );
    assert_eq!(
        walk(&app, &format!("{by_gender}&sort=-folder"), 3).await,
        [undated_rare, rare[2], rare[1], rare[0]]
    );
    assert_eq!(
        walk(&app, &format!("{by_gender}&sort=-start_release"), 2).await,
        [rare[0], rare[2], rare[1], undated_rare]
    );
    assert_eq!(
        walk(&app, &format!("{by_gender}&sort=start_release"), 1).await,
        [rare[1], rare[2], rare[0], undated_rare]
    );

    // a third of the catalog, to its last page
    let all = watch::Entity::find().all(&app.state.db).await.unwrap();
    let mut bracelets: Vec<&watch::Model> = all.iter().filter(|w| w.integrated_bracelet).collect();
    assert_eq!(bracelets.len(), 866);
    bracelets.sort_by(|a, b| a.folder.cmp(&b.folder));
    let expected: Vec<i64> = bracelets.iter().map(|w| w.id).collect();
    assert_eq!(
        walk(&app, "integrated_bracelet=true&sort=folder", 100).await,
        expected
    );
    bracelets.sort_by_key(|w| (std::cmp::Reverse(w.start_release), std::cmp::Reverse(w.id)));
    let expected: Vec<i64> = bracelets.iter().map(|w| w.id).collect();
    assert_eq!(
        walk(&app, "integrated_bracelet=true&sort=-start_release", 100).await,
        expected
    );
    // and the whole catalog by year, dated then undated
    let mut everything: Vec<&watch::Model> = all.iter().collect();
    everything.sort_by_key(|w| (w.start_release.is_none(), w.start_release, w.id));
    let expected: Vec<i64> = everything.iter().map(|w| w.id).collect();
    assert_eq!(walk(&app, "sort=start_release", 100).await, expected);
}

/// Adds search words straight to the index of the bulk watches: `common` for all,
/// `commonplus` for every fourth id, `sparse` for every 97th, and twelve words
/// `wide0`…`wide11` (more than a search walks one by one) spread over all of them.
async fn bulk_search_words(app: &TestApp) {
    for select in [
        "SELECT 'common', id FROM watch",
        "SELECT 'commonplus', id FROM watch WHERE id % 4 = 0",
        "SELECT 'sparse', id FROM watch WHERE id % 97 = 0",
        "SELECT 'wide' || (id % 12), id FROM watch",
    ] {
        let sql = format!("INSERT INTO watch_search_token (token, watch_id) {select}");
        execute_sql(app, &sql).await;
    }
}

#[tokio::test]
async fn searches_in_id_order_page_through_many_matches_with_filters_and_words() {
    use sea_orm::EntityTrait;
    use vitrine::catalog::entity::watch;

    let app = spawn_app().await;
    bulk_watches(&app, 2600).await;
    bulk_search_words(&app).await;
    let all = watch::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(all.len(), 2600);

    type Keep = fn(&watch::Model) -> bool;
    let cases: &[(&str, Keep)] = &[
        // one word: every batch size, to the end
        ("q=common", |_| true),
        // a word that starts another indexed word finds both, each watch once
        ("q=commonp", |w| w.id % 4 == 0),
        // a sparse filter: most batches hold nothing for the page
        ("q=common&integrated_bracelet=true&year_from=1990", |w| {
            w.integrated_bracelet && w.start_release.unwrap_or(0) >= 1990
        }),
        // the other words are checked on each batch's watches
        ("q=common+sparse", |w| w.id % 97 == 0),
        ("q=sparse+commonplus", |w| w.id % 97 == 0 && w.id % 4 == 0),
        // a start of more words than are walked: read as one range, the same answers
        ("q=wide", |_| true),
        ("q=wide+sparse&integrated_bracelet=false", |w| {
            w.id % 97 == 0 && !w.integrated_bracelet
        }),
        ("q=nothing", |_| false),
    ];
    for (query, keep) in cases {
        let mut expected: Vec<i64> = all.iter().filter(|w| keep(w)).map(|w| w.id).collect();
        expected.sort_unstable();
        for limit in [29, 100] {
            assert_eq!(
                walk(&app, query, limit).await,
                expected,
                "{query}, {limit} a page"
            );
        }
        expected.reverse();
        assert_eq!(
            walk(&app, &format!("{query}&sort=-id"), 30).await,
            expected,
            "{query}, newest first"
        );
    }
}

/// Each query finds its watches, in every sort.
async fn search_cases(app: &TestApp, cases: &[(&str, &[i64])], stage: &str) {
    for (query, expected) in cases {
        let q = url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>();
        for sort in ["", "&sort=folder", "&sort=-start_release"] {
            let mut found = search(app, &format!("q={q}{sort}")).await;
            found.sort_unstable();
            assert_eq!(found, *expected, "{stage}: q={query}{sort}");
        }
    }
}

/// The index entries of one watch, as stored.
async fn entries_of_watch(app: &TestApp, id: i64) -> HashSet<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use vitrine::catalog::entity::watch_search_token;
    watch_search_token::Entity::find()
        .filter(watch_search_token::Column::WatchId.eq(id))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.token)
        .collect()
}

#[tokio::test]
async fn joined_words_are_found_across_the_migration_that_sets_them_apart() {
    use migration::{Migrator, MigratorTrait};

    let app = spawn_app().await;
    let moder = moderator(&app).await;
    let token = moder.access_token.as_str();
    let refs = references(&app, token).await;
    let [amphibia, shturmanskie, latin] = small_catalog(&app, token, &refs).await;
    let cases: &[(&str, &[i64])] = &[
        ("2416б420", &[amphibia]),
        ("2416б4", &[amphibia]),
        ("2416", &[amphibia]),
        ("26142н", &[shturmanskie]),
        ("420abc", &[latin]),
        ("vostokamph", &[amphibia, latin]),
        ("vostokamphibiaexport", &[latin]),
        ("vost", &[amphibia, latin]),
        ("amphibiaexport", &[latin]),
        ("б420", &[]),
    ];
    let check = |stage: &'static str| search_cases(&app, cases, stage);
    check("written apart").await;
    let entries = entries_of_watch(&app, amphibia).await;
    assert!(entries.contains("\u{1}2416\u{1}б420"), "{entries:?}");
    assert!(!entries.contains("2416б420"), "{entries:?}");

    // the index as the version before wrote it, then migrated again
    Migrator::down(&app.state.db, Some(1)).await.unwrap();
    let entries = entries_of_watch(&app, amphibia).await;
    assert!(entries.contains("2416б420"), "{entries:?}");
    assert!(entries.iter().all(|entry| !entry.contains('\u{1}')));
    check("joined as words").await;
    Migrator::up(&app.state.db, None).await.unwrap();
    let migrated = entries_of_watch(&app, amphibia).await;
    assert!(migrated.contains("\u{1}2416\u{1}б420"), "{migrated:?}");
    assert!(migrated.contains("амфибия") && migrated.contains("восток"));
    assert!(!migrated.contains("2416б420"), "{migrated:?}");
    check("migrated").await;
}
