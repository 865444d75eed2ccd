//! The watch routes: list and detail for anyone, writes for moderators and admins.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, JoinType, PostgresQueryBuilder, Query as SqlQuery, SqliteQueryBuilder,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, Statement, TransactionTrait,
};
use serde::Serialize;

use super::images::relocate_photos;
use super::list::{ListRequest, list};
use super::model::{
    CreateWatchRequest, ImageLinks, UpdateWatchRequest, WatchDetail, WatchImages, WatchListQuery,
    WatchSummary,
};
use super::repo::{self, watch_not_found};
use crate::catalog::entity::{watch, watch_image};
use crate::catalog::mechanisms::load_detail as load_mechanism;
use crate::catalog::model::WatchValues;
use crate::catalog::references::{Reference, ReferenceItem};
use crate::catalog::references_handlers::Moderator;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::files::entity as files;
use crate::files::handlers::remove_blobs;
use crate::pagination::Page;
use crate::state::AppState;

/// An answer served from the catalog cache, or rendered (once for all concurrent
/// requests) and kept there.
async fn cached<T, F>(state: &AppState, key: String, render: F) -> AppResult<Response>
where
    T: Serialize,
    F: Future<Output = AppResult<T>>,
{
    let body = state
        .catalog_cache
        .get_or_render(&key, async {
            let value = render.await?;
            Ok(Bytes::from(
                serde_json::to_vec(&value).map_err(AppError::internal)?,
            ))
        })
        .await?;
    Ok(json_response(body))
}

fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The watch row with the names of its brand, factory, gender and case material, in one
/// query.
async fn watch_with_references(
    conn: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<(watch::Model, [Option<ReferenceItem>; 4])>> {
    let kinds = [
        (Reference::Brand, watch::Column::BrandId),
        (Reference::Factory, watch::Column::FactoryId),
        (Reference::Gender, watch::Column::GenderId),
        (Reference::CaseMaterial, watch::Column::CaseMaterialId),
    ];
    let mut select = SqlQuery::select();
    select
        .column((watch::Entity, Asterisk))
        .from(watch::Entity)
        .and_where(Expr::col((watch::Entity, watch::Column::Id)).eq(id));
    for (kind, column) in kinds {
        let table = Alias::new(format!("ref_{}", kind.table()));
        select
            .expr_as(
                Expr::col((table.clone(), Alias::new("name"))),
                Alias::new(format!("{}_name", kind.table())),
            )
            .join_as(
                JoinType::LeftJoin,
                Alias::new(kind.table()),
                table.clone(),
                Expr::col((table, Alias::new("id"))).equals((watch::Entity, column)),
            );
    }
    let backend = conn.get_database_backend();
    let (sql, values) = match backend {
        DbBackend::Postgres => select.build(PostgresQueryBuilder),
        _ => select.build(SqliteQueryBuilder),
    };
    let Some(row) = conn
        .query_one(Statement::from_sql_and_values(backend, sql, values))
        .await?
    else {
        return Ok(None);
    };
    let model = watch::Model::from_query_result(&row, "")?;
    let ids = [
        model.brand_id,
        model.factory_id,
        model.gender_id,
        model.case_material_id,
    ];
    let mut references: [Option<ReferenceItem>; 4] = Default::default();
    for (slot, ((kind, _), id)) in references.iter_mut().zip(kinds.into_iter().zip(ids)) {
        let name: Option<String> = row.try_get("", &format!("{}_name", kind.table()))?;
        *slot = id.zip(name).map(|(id, name)| ReferenceItem { id, name });
    }
    Ok(Some((model, references)))
}

/// The photos of a watch that are still live files, by side.
pub async fn images_of(
    conn: &impl ConnectionTrait,
    watch_id: i64,
    public_url: &str,
) -> AppResult<WatchImages> {
    let rows: Vec<(String, String)> = watch_image::Entity::find()
        .select_only()
        .column(watch_image::Column::Side)
        .column_as(files::Column::Uid, "uid")
        .join(
            sea_orm::JoinType::InnerJoin,
            watch_image::Entity::belongs_to(files::Entity)
                .from(watch_image::Column::FileId)
                .to(files::Column::FileId)
                .into(),
        )
        .filter(watch_image::Column::WatchId.eq(watch_id))
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
        .into_tuple()
        .all(conn)
        .await?;
    let mut images = WatchImages::default();
    for (side, uid) in rows {
        images.set(&side, ImageLinks::new(public_url, &uid));
    }
    Ok(images)
}

/// A watch with its references, mechanism, aliases and photos.
pub async fn load_detail(
    conn: &impl ConnectionTrait,
    id: i64,
    public_url: &str,
) -> AppResult<Option<WatchDetail>> {
    let Some((row, [brand, factory, gender, case_material])) =
        watch_with_references(conn, id).await?
    else {
        return Ok(None);
    };
    let mechanism = match row.mechanism_id {
        Some(mechanism_id) => load_mechanism(conn, mechanism_id).await?,
        None => None,
    };
    Ok(Some(WatchDetail {
        brand,
        factory,
        gender,
        case_material,
        mechanism,
        aliases: repo::aliases_of(conn, id).await?,
        images: images_of(conn, id, public_url).await?,
        id: row.id,
        folder: row.folder,
        code: row.code,
        integrated_bracelet: row.integrated_bracelet,
        start_release: row.start_release,
        end_release: row.end_release,
        user_id: row.user_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }))
}

async fn detail_after_write(state: &AppState, id: i64) -> AppResult<WatchDetail> {
    load_detail(&state.db, id, &state.config.public_url())
        .await?
        .ok_or_else(|| watch_not_found(id))
}

/// Watches, filtered, searched and sorted, a page at a time.
#[utoipa::path(
    get,
    path = "/watches",
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
    uri: Uri,
    Query(query): Query<WatchListQuery>,
) -> AppResult<Response> {
    let request = ListRequest::parse(&query)?;
    let key = format!("watches?{}", uri.query().unwrap_or_default());
    cached(&state, key, async {
        list(&state.db, &request, &state.config.public_url()).await
    })
    .await
}

/// One watch with its brand, factory, gender, case material, mechanism (with type and
/// functions), aliases and photos.
#[utoipa::path(
    get,
    path = "/watches/{id}",
    tag = "catalog",
    params(("id" = i64, Path, description = "watch id")),
    responses(
        (status = 200, body = WatchDetail),
        (status = 404, description = "`watch_not_found`", body = Problem),
    )
)]
pub async fn get_watch(State(state): State<AppState>, Path(id): Path<i64>) -> AppResult<Response> {
    cached(&state, format!("watch:{id}"), async {
        load_detail(&state.db, id, &state.config.public_url())
            .await?
            .ok_or_else(|| watch_not_found(id))
    })
    .await
}

/// Adds a watch (moderators and admins).
#[utoipa::path(
    post,
    path = "/watches",
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
    path = "/watches/{id}",
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
    path = "/watches/{id}",
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
