//! The watch routes: list and detail for anyone, writes for moderators and admins.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sea_orm::TransactionTrait;
use serde::Serialize;

use super::detail::load_detail;
use super::images::relocate_photos;
use super::list::{ListRequest, list};
use super::model::{
    CreateWatchRequest, UpdateWatchRequest, WatchDetail, WatchListQuery, WatchSummary,
};
use super::repo::{self, watch_not_found};
use crate::catalog::cache::Answer;
use crate::catalog::model::WatchValues;
use crate::catalog::references_handlers::Moderator;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query, json_response};
use crate::files::handlers::remove_blobs;
use crate::pagination::Page;
use crate::state::AppState;

/// An answer served from the catalog cache, or rendered (once for all concurrent
/// requests) and kept there.
async fn cached<T, F>(state: &AppState, answer: Answer<'_>, render: F) -> AppResult<Response>
where
    T: Serialize,
    F: Future<Output = AppResult<T>>,
{
    let body = state
        .catalog_cache
        .get_or_render(answer, async {
            let value = render.await?;
            Ok(Bytes::from(
                serde_json::to_vec(&value).map_err(AppError::internal)?,
            ))
        })
        .await?;
    Ok(json_response(body))
}

async fn detail_after_write(state: &AppState, id: i64) -> AppResult<WatchDetail> {
    load_detail(&state.reader, id, &state.config.public_url())
        .await?
        .ok_or_else(|| watch_not_found(id))
}

/// Watches, filtered, searched and sorted, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/watches",
    tag = "catalog",
    params(WatchListQuery),
    responses(
        (status = 200, body = Page<WatchSummary>),
        (status = 400, description = "`invalid_query`: a parameter of the wrong type", body = Problem),
        (status = 422, description = "bad `sort`, `limit`, `cursor`, `q` or years", body = Problem),
    )
)]
pub async fn list_watches(
    State(state): State<AppState>,
    Query(query): Query<WatchListQuery>,
) -> AppResult<Response> {
    let request = ListRequest::parse(&query)?;
    cached(&state, Answer::List(request.key()), async {
        list(&state.reader, &request, &state.config.public_url()).await
    })
    .await
}

/// One watch with its brand, factory, gender, case material, mechanism (with type and
/// functions), aliases and photos.
#[utoipa::path(
    get,
    path = "/api/v1/watches/{id}",
    tag = "catalog",
    params(("id" = i64, Path, description = "watch id")),
    responses(
        (status = 200, body = WatchDetail),
        (status = 404, description = "`watch_not_found`", body = Problem),
    )
)]
pub async fn get_watch(State(state): State<AppState>, Path(id): Path<i64>) -> AppResult<Response> {
    cached(&state, Answer::Watch(id), async {
        load_detail(&state.reader, id, &state.config.public_url())
            .await?
            .ok_or_else(|| watch_not_found(id))
    })
    .await
}

/// Adds a watch (moderators and admins).
#[utoipa::path(
    post,
    path = "/api/v1/watches",
    tag = "catalog",
    security(("bearer" = [])),
    request_body = CreateWatchRequest,
    responses(
        (status = 201, body = WatchDetail),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 409, description = "`folder_taken` or `code_taken`", body = Problem),
        (status = 422, description = "invalid values or unknown reference ids", body = Problem),
    )
)]
pub async fn create_watch(
    State(state): State<AppState>,
    Moderator(user): Moderator,
    Json(request): Json<CreateWatchRequest>,
) -> AppResult<(StatusCode, Json<WatchDetail>)> {
    let values = WatchValues::from(request);
    let tx = state.db.begin().await?;
    let row = repo::insert_watch(&tx, &values, user.user_id).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(detail_after_write(&state, row.id).await?),
    ))
}

/// Changes the fields sent (moderators and admins). A new folder moves the photos.
#[utoipa::path(
    patch,
    path = "/api/v1/watches/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "watch id")),
    request_body = UpdateWatchRequest,
    responses(
        (status = 200, body = WatchDetail),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, description = "`watch_not_found`", body = Problem),
        (status = 409, description = "`folder_taken` or `code_taken`", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn update_watch(
    State(state): State<AppState>,
    Moderator(user): Moderator,
    Path(id): Path<i64>,
    Json(request): Json<UpdateWatchRequest>,
) -> AppResult<Json<WatchDetail>> {
    let tx = state.db.begin().await?;
    // serialises edits of one watch, so that none is merged into stale values
    let current = repo::lock_for_write(&tx, id).await?;
    let aliases = repo::aliases_of(&tx, id).await?;
    let values = request.merge(repo::values_of(&current, aliases))?;
    let row = repo::update_watch_by(&tx, id, &values, user.user_id).await?;
    tx.commit().await?;
    if row.folder != current.folder
        && let Err(err) = relocate_photos(&state, id).await
    {
        tracing::warn!(error = %err, watch_id = id, "could not move the photos to the new folder");
    }
    Ok(Json(detail_after_write(&state, id).await?))
}

/// Deletes a watch with its aliases, photos (and their files) and collection entries
/// (moderators and admins).
#[utoipa::path(
    delete,
    path = "/api/v1/watches/{id}",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "watch id")),
    responses(
        (status = 204),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, description = "`watch_not_found`", body = Problem),
    )
)]
pub async fn delete_watch(
    State(state): State<AppState>,
    _moderator: Moderator,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    let tx = state.db.begin().await?;
    let photos = repo::delete_watch(&tx, id)
        .await?
        .ok_or_else(|| watch_not_found(id))?;
    tx.commit().await?;
    for file in &photos {
        remove_blobs(&state, file).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
