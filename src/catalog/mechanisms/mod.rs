//! Mechanisms (calibres) with their functions: anyone may read them, moderators and
//! admins write them directly. A mechanism used by a watch cannot be deleted.

pub mod model;
pub mod repo;

use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::{EntityTrait, TransactionTrait};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use model::MechanismDetail;
pub use repo::{load_detail, load_details, sort_functions};

use self::model::{CreateMechanismRequest, MechanismListQuery, UpdateMechanismRequest};
use super::entity::mechanism;
use super::model::{MechanismValues, check_mechanism};
use super::references_handlers::{Moderator, count_where, describe_uses};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mechanisms, create_mechanism))
        .routes(routes!(get_mechanism, update_mechanism, delete_mechanism))
}

fn not_found(id: i64) -> AppError {
    AppError::not_found("mechanism_not_found", format!("no mechanism with id {id}"))
}

/// Mechanisms by id, optionally of one type or factory.
#[utoipa::path(
    get,
    path = "/api/v1/mechanisms",
    tag = "catalog",
    params(MechanismListQuery),
    responses((status = 200, body = Page<MechanismDetail>), (status = 422, body = Problem))
)]
pub async fn list_mechanisms(
    State(state): State<AppState>,
    Query(query): Query<MechanismListQuery>,
) -> AppResult<Json<Page<MechanismDetail>>> {
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit()?;
    let rows = repo::list(
        &state.db,
        query.mechanism_type_id,
        query.factory_id,
        page.cursor_id()?,
        limit + 1,
    )
    .await?;
    let page = Page::from_rows(rows, limit, |row| row.id);
    Ok(Json(Page {
        items: load_details(&state.db, page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

/// One mechanism with its type, factory and functions.
#[utoipa::path(
    get,
    path = "/api/v1/mechanisms/{id}",
    tag = "catalog",
    params(("id" = i64, Path, description = "mechanism id")),
    responses((status = 200, body = MechanismDetail), (status = 404, body = Problem))
)]
pub async fn get_mechanism(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Json<MechanismDetail>> {
    load_detail(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

/// Adds a mechanism (moderators and admins); the caller is recorded as its author.
#[utoipa::path(
    post,
    path = "/api/v1/mechanisms",
    tag = "catalog",
    security(("bearer" = [])),
    request_body = CreateMechanismRequest,
    responses(
        (status = 201, body = MechanismDetail),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 422, description = "invalid values or unknown type, factory or function ids", body = Problem),
    )
)]
pub async fn create_mechanism(
    State(state): State<AppState>,
    Moderator(user): Moderator,
    Json(request): Json<CreateMechanismRequest>,
) -> AppResult<(StatusCode, Json<MechanismDetail>)> {
    let values = MechanismValues::from(request);
    check_mechanism(&state.db, &values).await?;
    let tx = state.db.begin().await?;
    let id = repo::insert(&tx, &values, user.user_id)
        .await
        .map_err(references_vanished)?;
    tx.commit().await?;
    let detail = load_detail(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// A type, factory or function deleted between the check and the write.
fn references_vanished(err: AppError) -> AppError {
    match err {
        AppError::Conflict {
            code: "still_referenced",
            ..
        } => AppError::invalid(
            "body",
            "a referenced type, factory or function no longer exists",
        ),
        other => other,
    }
}

/// Updates the fields sent (moderators and admins); `null` clears a nullable field and
/// `function_ids` replaces the whole set.
#[utoipa::path(
    patch,
    path = "/api/v1/mechanisms/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "mechanism id")),
    request_body = UpdateMechanismRequest,
    responses(
        (status = 200, body = MechanismDetail),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn update_mechanism(
    State(state): State<AppState>,
    _moderator: Moderator,
    Path(id): Path<i64>,
    Json(request): Json<UpdateMechanismRequest>,
) -> AppResult<Json<MechanismDetail>> {
    let row = mechanism::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| not_found(id))?;
    let functions_changed = request.function_ids.is_some();
    // functions sent replace the current ones, which then need not be read
    let function_ids = if functions_changed {
        Vec::new()
    } else {
        repo::function_ids(&state.db, id).await?
    };
    let current = MechanismValues {
        name: row.name.clone(),
        stones: row.stones,
        start_release: row.start_release,
        end_release: row.end_release,
        mechanism_type_id: row.mechanism_type_id,
        factory_id: row.factory_id,
        function_ids,
    };
    let values = request.merge(current)?;
    check_mechanism(&state.db, &values).await?;
    let tx = state.db.begin().await?;
    repo::update(&tx, row, &values, functions_changed)
        .await
        .map_err(references_vanished)?;
    tx.commit().await?;
    let detail = load_detail(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(detail))
}

/// Deletes a mechanism no watch uses (moderators and admins).
#[utoipa::path(
    delete,
    path = "/api/v1/mechanisms/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "mechanism id")),
    responses(
        (status = 204),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`mechanism_in_use`: watches or draft watches use it", body = Problem),
    )
)]
pub async fn delete_mechanism(
    State(state): State<AppState>,
    _moderator: Moderator,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    if mechanism::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .is_none()
    {
        return Err(not_found(id));
    }
    let uses = [
        (
            count_where(&state.db, "watch", "mechanism_id", id).await?,
            "watch",
            "watches",
        ),
        (
            count_where(&state.db, "draft_watch", "mechanism_id", id).await?,
            "draft watch",
            "draft watches",
        ),
    ];
    let in_use = || {
        let used_by = match describe_uses(&uses) {
            used_by if used_by.is_empty() => "other records".to_owned(),
            used_by => used_by,
        };
        AppError::conflict(
            "mechanism_in_use",
            format!("this mechanism is used by {used_by}"),
        )
    };
    if uses.iter().any(|(count, _, _)| *count > 0) {
        return Err(in_use());
    }
    let tx = state.db.begin().await?;
    let deleted = repo::delete(&tx, id).await;
    match deleted {
        Ok(()) => tx.commit().await?,
        Err(AppError::Conflict {
            code: "still_referenced",
            ..
        }) => return Err(in_use()),
        Err(other) => return Err(other),
    }
    Ok(StatusCode::NO_CONTENT)
}
