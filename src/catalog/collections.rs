//! Members' collections: each member keeps the watches they own; anyone may look at an
//! active member's collection. Adding and removing are idempotent.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::entity::{alias, collection, watch, watch_image};
use super::references::{Reference, ReferenceItem, items};
use crate::accounts::repo as accounts_repo;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::files::repo as files_repo;
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_to_collection, remove_from_collection))
        .routes(routes!(list_collection))
}

/// A watch in a member's collection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CollectionItem {
    pub watch_id: i64,
    /// The first alias: what the watch is called in lists.
    pub title: Option<String>,
    pub folder: String,
    pub code: Option<String>,
    pub brand: Option<ReferenceItem>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    /// The main photo, if there is one.
    pub main_image_url: Option<String>,
    /// When the member added it.
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub added_at: DateTime<Utc>,
}

fn watch_not_found(id: i64) -> AppError {
    AppError::not_found("watch_not_found", format!("no watch with id {id}"))
}

/// Adds a watch to my collection; adding one already there changes nothing.
#[utoipa::path(
    put,
    path = "/api/v1/users/me/collection/{watch_id}",
    tag = "collections",
    security(("bearer" = [])),
    params(("watch_id" = i64, Path, description = "watch id")),
    responses(
        (status = 204, description = "the watch is in the collection"),
        (status = 401, body = Problem),
        (status = 404, description = "`watch_not_found`", body = Problem),
    )
)]
pub async fn add_to_collection(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(watch_id): Path<i64>,
) -> AppResult<StatusCode> {
    if watch::Entity::find_by_id(watch_id)
        .one(&state.db)
        .await?
        .is_none()
    {
        return Err(watch_not_found(watch_id));
    }
    let entry = collection::ActiveModel {
        id: NotSet,
        user_id: Set(user.user_id),
        watch_id: Set(watch_id),
        created_at: Set(Utc::now()),
    };
    collection::Entity::insert(entry)
        .on_conflict(
            OnConflict::columns([collection::Column::UserId, collection::Column::WatchId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await
        .map_err(|err| match err.sql_err() {
            // the watch was deleted after the check
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => watch_not_found(watch_id),
            _ => err.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a watch from my collection; removing one not there changes nothing.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/collection/{watch_id}",
    tag = "collections",
    security(("bearer" = [])),
    params(("watch_id" = i64, Path, description = "watch id")),
    responses(
        (status = 204, description = "the watch is not in the collection"),
        (status = 401, body = Problem),
    )
)]
pub async fn remove_from_collection(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(watch_id): Path<i64>,
) -> AppResult<StatusCode> {
    collection::Entity::delete_many()
        .filter(collection::Column::UserId.eq(user.user_id))
        .filter(collection::Column::WatchId.eq(watch_id))
        .exec(&state.db)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member's collection, most recently added first.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/collection",
    tag = "collections",
    params(("id" = i64, Path, description = "user id"), PageParams),
    responses(
        (status = 200, body = Page<CollectionItem>),
        (status = 404, description = "`user_not_found`: unknown or deactivated", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn list_collection(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<CollectionItem>>> {
    let limit = page.limit()?;
    let before = page.cursor_id()?;
    match accounts_repo::find_user(&state.db, user_id).await? {
        Some(user) if user.is_active => {}
        _ => return Err(AppError::not_found("user_not_found", "no such user")),
    }
    let mut query = collection::Entity::find().filter(collection::Column::UserId.eq(user_id));
    if let Some(before) = before {
        query = query.filter(collection::Column::Id.lt(before));
    }
    let entries = query
        .order_by_desc(collection::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let page = Page::from_rows(entries, limit, |entry| entry.id);

    let watch_ids: Vec<i64> = page.items.iter().map(|entry| entry.watch_id).collect();
    let watches: HashMap<i64, watch::Model> = if watch_ids.is_empty() {
        HashMap::new()
    } else {
        watch::Entity::find()
            .filter(watch::Column::Id.is_in(watch_ids.iter().copied()))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|watch| (watch.id, watch))
            .collect()
    };
    let mut brand_ids: Vec<i64> = watches.values().filter_map(|w| w.brand_id).collect();
    brand_ids.sort_unstable();
    brand_ids.dedup();
    let brands: HashMap<i64, ReferenceItem> = items(&state.db, Reference::Brand, &brand_ids)
        .await?
        .into_iter()
        .map(|brand| (brand.id, brand))
        .collect();

    let titles = first_aliases(&state, &watch_ids).await?;
    let main_images = main_image_urls(&state, &watch_ids).await?;
    let items = page
        .items
        .into_iter()
        // a watch deleted since the entries were read has taken its entries with it
        .filter_map(|entry| {
            let watch = watches.get(&entry.watch_id)?;
            Some(CollectionItem {
                watch_id: watch.id,
                title: titles.get(&watch.id).cloned(),
                folder: watch.folder.clone(),
                code: watch.code.clone(),
                brand: watch.brand_id.and_then(|id| brands.get(&id).cloned()),
                start_release: watch.start_release,
                end_release: watch.end_release,
                main_image_url: main_images.get(&watch.id).cloned(),
                added_at: entry.created_at,
            })
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Each watch's first alias, its title in lists.
async fn first_aliases(state: &AppState, watch_ids: &[i64]) -> AppResult<HashMap<i64, String>> {
    if watch_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let aliases = alias::Entity::find()
        .filter(alias::Column::WatchId.is_in(watch_ids.iter().copied()))
        .order_by_asc(alias::Column::Id)
        .all(&state.db)
        .await?;
    let mut titles = HashMap::new();
    for alias in aliases {
        titles.entry(alias.watch_id).or_insert(alias.key);
    }
    Ok(titles)
}

/// Each watch's main photo, for the cards of a collection.
async fn main_image_urls(state: &AppState, watch_ids: &[i64]) -> AppResult<HashMap<i64, String>> {
    if watch_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let images = watch_image::Entity::find()
        .filter(watch_image::Column::WatchId.is_in(watch_ids.iter().copied()))
        .filter(watch_image::Column::Side.eq("main"))
        .all(&state.db)
        .await?;
    let uids: HashMap<i64, String> = files_repo::uids(
        &state.reader,
        images.iter().map(|image| image.file_id).collect(),
    )
    .await?
    .into_iter()
    .collect();
    let public_url = state.config.public_url();
    Ok(images
        .into_iter()
        .filter_map(|image| {
            let uid = uids.get(&image.file_id)?;
            Some((image.watch_id, format!("{public_url}/api/v1/files/{uid}")))
        })
        .collect())
}
