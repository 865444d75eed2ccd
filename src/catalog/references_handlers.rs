//! One set of handlers for the six reference tables: `GET|POST /{reference}` and
//! `GET|PATCH|DELETE /{reference}/{id}`, where `{reference}` is `brands`, `factories`,
//! `case-materials`, `genders`, `mechanism-types` or `functions`. Anyone may read them;
//! moderators and admins edit them. Names are unique in any case, and a row still used
//! by a watch, a mechanism or a draft cannot be deleted.

use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Alias, Expr, Query as SqlQuery};
use sea_orm::{ConnectionTrait, SqlErr, TransactionTrait};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::references::{Reference, ReferenceItem, all_items, name_of};
use super::search;
use crate::auth::{CurrentUser, Role};
use crate::db::is_unique_violation;
use crate::error::{AppError, AppResult, Problem, problem_response};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

/// Longest name of a reference row, in characters.
pub const REFERENCE_NAME_MAX: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    // unknown tables answer like unknown routes, whatever the method
    let (schemas, paths, list_routes) = routes!(list_references, create_reference);
    let list_routes = list_routes.fallback(wrong_method);
    let (item_schemas, item_paths, item_routes) =
        routes!(get_reference, update_reference, delete_reference);
    let item_routes = item_routes.fallback(wrong_method);
    OpenApiRouter::new()
        .routes((schemas, paths, list_routes))
        .routes((item_schemas, item_paths, item_routes))
}

/// The reference table named by the `{reference}` path segment. Any other segment is an
/// unknown route: 404 `route_not_found`, before authentication is looked at.
#[derive(Debug, Clone, Copy)]
pub struct ReferenceKind(pub Reference);

impl<S: Send + Sync> FromRequestParts<S> for ReferenceKind {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| route_not_found())?;
        params
            .iter()
            .find(|(key, _)| *key == "reference")
            .and_then(|(_, value)| Reference::from_path(value))
            .map(ReferenceKind)
            .ok_or_else(route_not_found)
    }
}

fn route_not_found() -> Response {
    problem_response(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

/// A known table asked with a method it does not serve is a 405; an unknown one a 404.
async fn wrong_method(kind: Result<ReferenceKind, Response>) -> Response {
    match kind {
        Ok(_) => problem_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method",
        ),
        Err(not_found) => not_found,
    }
}

/// A signed-in moderator or admin; members get 403, anonymous callers 401. Checked before
/// the body is read, so members learn nothing about what the catalog would accept.
#[derive(Debug, Clone, Copy)]
pub struct Moderator(pub CurrentUser);

impl FromRequestParts<AppState> for Moderator {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        user.require(Role::Moderator)?;
        Ok(Moderator(user))
    }
}

/// `{name}`: trimmed, 1–100 characters, unique in any case within its table.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRequest {
    pub name: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferenceListQuery {
    /// Part of the name, any case (`ё` and `е` are the same letter).
    pub q: Option<String>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `/{reference}/{id}`; the table is read by `ReferenceKind`.
#[derive(Debug, Deserialize)]
pub struct ItemPath {
    pub id: i64,
}

/// The problem code of a missing row of each table.
fn not_found(kind: Reference, id: i64) -> AppError {
    let code = match kind {
        Reference::Brand => "brand_not_found",
        Reference::Factory => "factory_not_found",
        Reference::CaseMaterial => "case_material_not_found",
        Reference::Gender => "gender_not_found",
        Reference::MechanismType => "mechanism_type_not_found",
        Reference::Function => "function_not_found",
    };
    AppError::not_found(code, format!("no {} with id {id}", label(kind)))
}

/// The table's name as a reader says it: `case material`.
fn label(kind: Reference) -> String {
    kind.table().replace('_', " ")
}

/// Trims the name and checks its length.
fn checked_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "must not be blank"));
    }
    if name.chars().count() > REFERENCE_NAME_MAX {
        return Err(AppError::invalid(
            "name",
            format!("must be at most {REFERENCE_NAME_MAX} characters long"),
        ));
    }
    Ok(name.to_owned())
}

/// Case-insensitive form of a name, for comparing and sorting the same way on every
/// database (Cyrillic included; `ё` counts as `е`).
fn fold(name: &str) -> String {
    name.to_lowercase().replace('ё', "е")
}

/// Refuses a name another row already has in any case; exact duplicates that slip past
/// this check in a race are caught by the unique index.
async fn ensure_name_free(
    conn: &impl ConnectionTrait,
    kind: Reference,
    name: &str,
    except: Option<i64>,
) -> AppResult<()> {
    let wanted = name.to_lowercase();
    let taken = all_items(conn, kind)
        .await?
        .into_iter()
        .any(|row| Some(row.id) != except && row.name.to_lowercase() == wanted);
    if taken {
        return Err(name_taken(kind, name));
    }
    Ok(())
}

fn name_taken(kind: Reference, name: &str) -> AppError {
    AppError::conflict(
        "name_taken",
        format!("a {} named “{name}” already exists", label(kind)),
    )
}

fn encode_name_cursor(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("name:{name}"))
}

fn decode_name_cursor(cursor: &str) -> AppResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("name:").map(str::to_owned))
        .ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this API"))
}

/// The order of a list: by name in any case, then by exact spelling (names are unique,
/// so the order is total and a cursor keeps its place when rows come and go).
fn sort_key(name: &str) -> (String, &str) {
    (fold(name), name)
}

/// A table's rows by name, optionally only those whose name contains `q`.
#[utoipa::path(
    get,
    path = "/api/v1/{reference}",
    tag = "catalog",
    params(
        ("reference" = inline(Reference), Path, description = "the reference table"),
        ReferenceListQuery,
    ),
    responses(
        (status = 200, body = Page<ReferenceItem>),
        (status = 404, description = "unknown table", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn list_references(
    ReferenceKind(kind): ReferenceKind,
    State(state): State<AppState>,
    Query(query): Query<ReferenceListQuery>,
) -> AppResult<Json<Page<ReferenceItem>>> {
    let limit = PageParams {
        limit: query.limit,
        cursor: None,
    }
    .limit()?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_name_cursor)
        .transpose()?;
    let needle = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(fold);
    let mut rows: Vec<ReferenceItem> = all_items(&state.db, kind)
        .await?
        .into_iter()
        .filter(|row| {
            needle
                .as_deref()
                .is_none_or(|needle| fold(&row.name).contains(needle))
        })
        .filter(|row| {
            after
                .as_deref()
                .is_none_or(|after| sort_key(&row.name) > sort_key(after))
        })
        .collect();
    rows.sort_by(|a, b| sort_key(&a.name).cmp(&sort_key(&b.name)));
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = has_more
        .then(|| rows.last().map(|last| encode_name_cursor(&last.name)))
        .flatten();
    Ok(Json(Page {
        items: rows,
        next_cursor,
    }))
}

/// Adds a row (moderators and admins).
#[utoipa::path(
    post,
    path = "/api/v1/{reference}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("reference" = inline(Reference), Path, description = "the reference table")),
    request_body = ReferenceRequest,
    responses(
        (status = 201, body = ReferenceItem),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, description = "unknown table", body = Problem),
        (status = 409, description = "`name_taken`: the name exists in some case", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn create_reference(
    ReferenceKind(kind): ReferenceKind,
    State(state): State<AppState>,
    _moderator: Moderator,
    Json(request): Json<ReferenceRequest>,
) -> AppResult<(StatusCode, Json<ReferenceItem>)> {
    let name = checked_name(&request.name)?;
    ensure_name_free(&state.db, kind, &name, None).await?;
    let insert = SqlQuery::insert()
        .into_table(Alias::new(kind.table()))
        .columns([Alias::new("name")])
        .values_panic([name.clone().into()])
        .returning_col(Alias::new("id"))
        .to_owned();
    let row = state
        .db
        .query_one(state.db.get_database_backend().build(&insert))
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => name_taken(kind, &name),
            false => err.into(),
        })?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the insert returned no id")))?;
    let id: i64 = row.try_get("", "id")?;
    Ok((StatusCode::CREATED, Json(ReferenceItem { id, name })))
}

/// One row.
#[utoipa::path(
    get,
    path = "/api/v1/{reference}/{id}",
    tag = "catalog",
    params(
        ("reference" = inline(Reference), Path, description = "the reference table"),
        ("id" = i64, Path, description = "row id"),
    ),
    responses(
        (status = 200, body = ReferenceItem),
        (status = 404, description = "unknown table or row, e.g. `brand_not_found`", body = Problem),
    )
)]
pub async fn get_reference(
    ReferenceKind(kind): ReferenceKind,
    State(state): State<AppState>,
    Path(ItemPath { id }): Path<ItemPath>,
) -> AppResult<Json<ReferenceItem>> {
    let name = name_of(&state.db, kind, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    Ok(Json(ReferenceItem { id, name }))
}

/// Renames a row (moderators and admins). Watches of a renamed brand are found by the
/// new name at once.
#[utoipa::path(
    patch,
    path = "/api/v1/{reference}/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("reference" = inline(Reference), Path, description = "the reference table"),
        ("id" = i64, Path, description = "row id"),
    ),
    request_body = ReferenceRequest,
    responses(
        (status = 200, body = ReferenceItem),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`name_taken`", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn update_reference(
    ReferenceKind(kind): ReferenceKind,
    State(state): State<AppState>,
    _moderator: Moderator,
    Path(ItemPath { id }): Path<ItemPath>,
    Json(request): Json<ReferenceRequest>,
) -> AppResult<Json<ReferenceItem>> {
    let name = checked_name(&request.name)?;
    if name_of(&state.db, kind, id).await?.is_none() {
        return Err(not_found(kind, id));
    }
    ensure_name_free(&state.db, kind, &name, Some(id)).await?;
    let update = SqlQuery::update()
        .table(Alias::new(kind.table()))
        .value(Alias::new("name"), name.clone())
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    // the first statement writes, so a SQLite transaction takes the write lock at once
    let tx = state.db.begin().await?;
    let updated = tx
        .execute(tx.get_database_backend().build(&update))
        .await
        .map_err(|err| match is_unique_violation(&err) {
            true => name_taken(kind, &name),
            false => err.into(),
        })?;
    if updated.rows_affected() == 0 {
        return Err(not_found(kind, id));
    }
    if kind == Reference::Brand {
        // brand names are searchable: the new name replaces the old in the same commit
        search::reindex_brand(&tx, id).await?;
    }
    tx.commit().await?;
    Ok(Json(ReferenceItem { id, name }))
}

/// Rows of `table` whose `column` names a reference row, and what one and many of them
/// are called in a conflict's detail.
struct Usage {
    table: &'static str,
    column: &'static str,
    one: &'static str,
    many: &'static str,
}

/// Where rows of each table are used.
fn usages(kind: Reference) -> Vec<Usage> {
    let watches = |column: &'static str| Usage {
        table: "watch",
        column,
        one: "watch",
        many: "watches",
    };
    let draft_watches = |column: &'static str| Usage {
        table: "draft_watch",
        column,
        one: "draft watch",
        many: "draft watches",
    };
    let mechanisms = |table: &'static str, column: &'static str| Usage {
        table,
        column,
        one: "mechanism",
        many: "mechanisms",
    };
    let draft_mechanisms = |table: &'static str, column: &'static str| Usage {
        table,
        column,
        one: "draft mechanism",
        many: "draft mechanisms",
    };
    match kind {
        Reference::Brand => vec![watches("brand_id"), draft_watches("brand_id")],
        Reference::Factory => vec![
            watches("factory_id"),
            mechanisms("mechanism", "factory_id"),
            draft_watches("factory_id"),
            draft_mechanisms("draft_mechanism", "factory_id"),
        ],
        Reference::CaseMaterial => vec![
            watches("case_material_id"),
            draft_watches("case_material_id"),
        ],
        Reference::Gender => vec![watches("gender_id"), draft_watches("gender_id")],
        Reference::MechanismType => vec![
            mechanisms("mechanism", "mechanism_type_id"),
            draft_mechanisms("draft_mechanism", "mechanism_type_id"),
        ],
        // one link row per mechanism and function (unique pair): links count mechanisms
        Reference::Function => vec![
            mechanisms("mechanism_function", "function_id"),
            draft_mechanisms("draft_mechanism_function", "function_id"),
        ],
    }
}

/// Counts the rows of `table` whose `column` is `id`.
pub async fn count_where(
    conn: &impl ConnectionTrait,
    table: &str,
    column: &str,
    id: i64,
) -> AppResult<i64> {
    let query = SqlQuery::select()
        .expr_as(Expr::col(Alias::new("id")).count(), Alias::new("n"))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).eq(id))
        .to_owned();
    let row = conn
        .query_one(conn.get_database_backend().build(&query))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    })
}

/// `3 watches and 1 mechanism`, from counts with their singular and plural names.
pub fn describe_uses(uses: &[(i64, &str, &str)]) -> String {
    let parts: Vec<String> = uses
        .iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, one, many)| format!("{count} {}", if *count == 1 { one } else { many }))
        .collect();
    match parts.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Deletes a row nothing uses (moderators and admins).
#[utoipa::path(
    delete,
    path = "/api/v1/{reference}/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("reference" = inline(Reference), Path, description = "the reference table"),
        ("id" = i64, Path, description = "row id"),
    ),
    responses(
        (status = 204),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`reference_in_use`: the detail says what uses it", body = Problem),
    )
)]
pub async fn delete_reference(
    ReferenceKind(kind): ReferenceKind,
    State(state): State<AppState>,
    _moderator: Moderator,
    Path(ItemPath { id }): Path<ItemPath>,
) -> AppResult<StatusCode> {
    if name_of(&state.db, kind, id).await?.is_none() {
        return Err(not_found(kind, id));
    }
    let mut uses = Vec::new();
    for usage in usages(kind) {
        let count = count_where(&state.db, usage.table, usage.column, id).await?;
        uses.push((count, usage.one, usage.many));
    }
    let in_use = || {
        let detail = match describe_uses(&uses) {
            used_by if used_by.is_empty() => "still used by other records".to_owned(),
            used_by => format!("used by {used_by}"),
        };
        AppError::conflict(
            "reference_in_use",
            format!("this {} is {detail}", label(kind)),
        )
    };
    if uses.iter().any(|(count, _, _)| *count > 0) {
        return Err(in_use());
    }
    let delete = SqlQuery::delete()
        .from_table(Alias::new(kind.table()))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    state
        .db
        .execute(state.db.get_database_backend().build(&delete))
        .await
        .map_err(|err| match err.sql_err() {
            // something started using it after the count: the foreign key refuses
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => in_use(),
            _ => err.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(checked_name("  Полёт ").ok().as_deref(), Some("Полёт"));
        assert!(checked_name("   ").is_err());
        assert!(checked_name(&"я".repeat(100)).is_ok());
        assert!(checked_name(&"я".repeat(101)).is_err());
    }

    #[test]
    fn uses_read_like_a_sentence() {
        assert_eq!(
            describe_uses(&[(3, "watch", "watches"), (1, "mechanism", "mechanisms")]),
            "3 watches and 1 mechanism"
        );
        assert_eq!(
            describe_uses(&[
                (1, "watch", "watches"),
                (0, "mechanism", "mechanisms"),
                (2, "draft watch", "draft watches"),
                (1, "draft mechanism", "draft mechanisms"),
            ]),
            "1 watch, 2 draft watches and 1 draft mechanism"
        );
        assert_eq!(describe_uses(&[(0, "watch", "watches")]), "");
    }

    #[test]
    fn cursors_round_trip_and_order_ignores_case() {
        let cursor = encode_name_cursor("Восток");
        assert_eq!(decode_name_cursor(&cursor).ok().as_deref(), Some("Восток"));
        assert!(decode_name_cursor("garbage!").is_err());
        assert!(sort_key("восток") > sort_key("Восток"));
        assert!(sort_key("Восток") < sort_key("Заря"));
        assert!(sort_key("ёлка") < sort_key("Ж"));
        assert!(sort_key("apple") < sort_key("Banana"));
    }
}
