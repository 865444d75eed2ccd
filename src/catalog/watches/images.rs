//! Photos of a watch by side (`main|left|right|bottom`), kept at
//! `watches/{folder}/{side}.{ext}` as public files. A new photo of a side replaces the
//! old one: its row goes, its file is marked deleted and its blob and thumbnails removed.
//!
//! A photo is written while the watch row is locked (the first statement of the
//! transaction updates it), so two uploads of one watch never interleave. When the old
//! photo has the same key (same extension), the new bytes overwrite it in place; the old
//! bytes are copied aside first and put back if the transaction fails, so a failed upload
//! leaves the previous photo as it was.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::BytesMut;
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::ImageLinks;
use super::repo::{lock_for_write, photos_of, retire_photo_file, watch_not_found};
use crate::catalog::entity::{watch, watch_image};
use crate::catalog::model::SIDES;
use crate::catalog::references_handlers::Moderator;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path};
use crate::files::entity as files;
use crate::files::handlers::{check_declared_length, remove_blobs};
use crate::files::ingest::{Rules, StoredObject, ingest};
use crate::files::model::Visibility;
use crate::files::repo as files_repo;
use crate::files::sniff::{AllowedTypes, extension, sniff_mime};
use crate::files::thumbs;
use crate::state::AppState;

/// Added to a photo's key for the copy of its old bytes kept while a new photo replaces
/// it in place; the janitor knows it too.
pub const SET_ASIDE_SUFFIX: &str = ".previous";

/// The types a photo may have.
pub const PHOTO_TYPES: &str = "image/jpeg,image/png,image/gif,image/webp";
/// The largest photo accepted (lower when the upload limit is lower).
pub const MAX_PHOTO_BYTES: u64 = 25 * 1024 * 1024;

/// A watch's photo of one side.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhotoResponse {
    pub watch_id: i64,
    pub side: String,
    pub uid: String,
    pub url: String,
    pub thumb_url: String,
    pub mime_type: String,
    pub size: i64,
}

pub(crate) fn check_side(side: &str) -> AppResult<&'static str> {
    SIDES
        .into_iter()
        .find(|known| *known == side)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_side",
                format!("the side must be one of {}", SIDES.join(", ")),
            )
        })
}

fn photo_not_found(side: &str) -> AppError {
    AppError::not_found("image_not_found", format!("the watch has no {side} photo"))
}

/// Where the photo of a side of the watch in `folder` lives.
pub fn photo_key(folder: &str, side: &str, mime: &str) -> String {
    format!("watches/{folder}/{side}.{}", extension(mime))
}

pub(crate) fn max_photo_bytes(state: &AppState) -> u64 {
    state.config.max_upload_bytes.min(MAX_PHOTO_BYTES)
}

/// The photo of one side of a watch, with its file row.
async fn photo_of(
    conn: &impl ConnectionTrait,
    watch_id: i64,
    side: &str,
) -> AppResult<Option<(watch_image::Model, files::Model)>> {
    let Some(image) = watch_image::Entity::find()
        .filter(watch_image::Column::WatchId.eq(watch_id))
        .filter(watch_image::Column::Side.eq(side))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let file = files_repo::find_by_id(conn, image.file_id).await?;
    Ok(file.map(|file| (image, file)))
}

/// Whether a live file other than `except` is stored at `key`.
async fn key_in_use(
    conn: &impl ConnectionTrait,
    key: &str,
    except: Option<i64>,
) -> AppResult<bool> {
    let mut query = files::Entity::find()
        .filter(files::Column::FileKey.eq(key))
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE));
    if let Some(except) = except {
        query = query.filter(files::Column::FileId.ne(except));
    }
    Ok(query.one(conn).await?.is_some())
}

/// Frees `key` from the rows of deleted files that still name it, so that a new file can
/// take it (keys are unique in the files table).
async fn free_key(conn: &impl ConnectionTrait, key: &str) -> AppResult<()> {
    let stale = files::Entity::find()
        .filter(files::Column::FileKey.eq(key))
        .filter(files::Column::Status.ne(files::STATUS_ACTIVE))
        .all(conn)
        .await?;
    for file in &stale {
        retire_photo_file(conn, file).await?;
    }
    Ok(())
}

/// Removes the thumbnails made of a file (its bytes stay).
async fn remove_thumbnails(store: &Arc<dyn ObjectStore>, uid: &str) {
    let prefix = ObjectPath::from(format!("thumbs/{uid}"));
    let paths: Vec<ObjectPath> = match store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
    {
        Ok(paths) => paths,
        Err(err) => {
            tracing::warn!(error = %err, uid, "could not list thumbnails");
            return;
        }
    };
    for path in paths {
        if let Err(err) = store.delete(&path).await {
            tracing::warn!(error = %err, key = %path, "could not delete a thumbnail");
        }
    }
}

/// Checks that `bytes` are a JPEG, PNG, GIF or WebP image that decodes (415, 422).
pub async fn check_photo(bytes: &Bytes) -> AppResult<&'static str> {
    if bytes.is_empty() {
        return Err(AppError::invalid("file", "is empty"));
    }
    let allowed = AllowedTypes::parse(PHOTO_TYPES);
    let mime = sniff_mime(bytes)
        .filter(|mime| allowed.allows(mime))
        .ok_or_else(|| AppError::UnsupportedMediaType {
            detail: "a photo must be a JPEG, PNG, GIF or WebP image".to_owned(),
        })?;
    let sample = bytes.clone();
    if !tokio::task::spawn_blocking(move || thumbs::decodes_as_image(&sample))
        .await
        .map_err(AppError::internal)?
    {
        return Err(AppError::invalid("file", "is not a decodable image"));
    }
    Ok(mime)
}

/// Stores `bytes` (already checked with `check_photo`) as the photo of `side` of a watch,
/// replacing the previous one, all rows in one transaction. Returns the file and whether
/// the side had no photo before.
pub async fn store_photo(
    state: &AppState,
    watch_id: i64,
    side: &str,
    bytes: Bytes,
    owner: Option<i64>,
) -> AppResult<(files::Model, bool)> {
    let side = check_side(side)?;
    let mime = check_photo(&bytes).await?;
    let store = state.storage.store();
    let tx = state.db.begin().await?;
    let watch = lock_for_write(&tx, watch_id).await?;
    let key = photo_key(&watch.folder, side, mime);
    let previous = photo_of(&tx, watch_id, side).await?;
    // the previous photo's file may be gone already (deleted through the files API)
    let live = previous
        .as_ref()
        .map(|(_, file)| file)
        .filter(|file| file.status == files::STATUS_ACTIVE);
    if key_in_use(&tx, &key, live.map(|file| file.file_id)).await? {
        return Err(AppError::conflict(
            "photo_key_in_use",
            format!("another file is stored at `{key}`"),
        ));
    }
    free_key(&tx, &key).await?;
    // the old bytes, kept aside while the new ones take their place
    let backup = match live {
        Some(file) if file.file_key == key => {
            let aside = ObjectPath::from(format!("{key}{SET_ASIDE_SUFFIX}"));
            store
                .copy(&ObjectPath::from(key.as_str()), &aside)
                .await
                .map_err(AppError::internal)?;
            Some(aside)
        }
        _ => None,
    };
    let rules = Rules {
        max_bytes: bytes.len() as u64,
        allowed: &AllowedTypes::parse(PHOTO_TYPES),
        key: Some(key.clone()),
        idle_timeout: state.config.upload_idle_timeout(),
    };
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
    let written = async {
        let object = ingest(
            &state.storage,
            body,
            &format!("{side}.{}", extension(mime)),
            rules,
        )
        .await?;
        let file = record_photo(tx, &object, watch_id, side, previous.as_ref(), owner, state).await;
        Ok::<_, AppError>((object, file))
    }
    .await;
    let (object, file) = match written {
        Ok((object, Ok(file))) => (object, file),
        Ok((object, Err(err))) => {
            restore(store, backup, &key, Some(object)).await;
            return Err(err);
        }
        Err(err) => {
            restore(store, backup, &key, None).await;
            return Err(err);
        }
    };
    object.keep();
    if let Some(aside) = backup {
        if let Err(err) = store.delete(&aside).await {
            tracing::warn!(error = %err, key = %aside, "could not delete a replaced photo");
        }
    }
    if let Some((_, old)) = &previous {
        if old.file_key == key {
            remove_thumbnails(store, &old.uid).await;
        } else {
            remove_blobs(state, old).await;
        }
    }
    Ok((file, previous.is_none()))
}

/// Puts the previous photo's bytes back after a failed replacement (or lets the new
/// object be removed when there was nothing to put back).
async fn restore(
    store: &Arc<dyn ObjectStore>,
    backup: Option<ObjectPath>,
    key: &str,
    object: Option<StoredObject>,
) {
    let Some(aside) = backup else {
        drop(object);
        return;
    };
    if let Some(object) = object {
        // its key is the previous photo's: deleting it would lose that one
        object.keep();
    }
    if let Err(err) = store.rename(&aside, &ObjectPath::from(key)).await {
        tracing::warn!(error = %err, key, "could not put a photo back");
    }
}

async fn record_photo(
    tx: DatabaseTransaction,
    object: &StoredObject,
    watch_id: i64,
    side: &str,
    previous: Option<&(watch_image::Model, files::Model)>,
    owner: Option<i64>,
    state: &AppState,
) -> AppResult<files::Model> {
    if let Some((image, file)) = previous {
        watch_image::Entity::delete_by_id(image.id)
            .exec(&tx)
            .await?;
        retire_photo_file(&tx, file).await?;
    }
    let file = files_repo::insert(
        &tx,
        object,
        state.storage.kind(),
        state.storage.bucket(),
        Visibility::Public,
        owner,
    )
    .await?;
    watch_image::ActiveModel {
        id: NotSet,
        watch_id: Set(watch_id),
        side: Set(side.to_owned()),
        file_id: Set(file.file_id),
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    Ok(file)
}

/// Reads a request body of at most `max` bytes.
pub(crate) async fn read_body(body: Body, max: u64) -> AppResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut bytes = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            tracing::info!(error = %err, "upload interrupted");
            AppError::bad_request(
                "upload_interrupted",
                "the upload was interrupted before it ended",
            )
        })?;
        if (bytes.len() + chunk.len()) as u64 > max {
            return Err(AppError::PayloadTooLarge {
                detail: format!("a photo may be at most {max} bytes"),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// Sets the photo of one side of a watch (moderators and admins). The body is the image
/// itself (any `Content-Type`; the bytes decide): a JPEG, PNG, GIF or WebP that decodes.
/// The previous photo of the side is replaced. 201 when the side had no photo, else 200.
#[utoipa::path(
    put,
    path = "/api/v1/watches/{id}/images/{side}",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "watch id"),
        ("side" = String, Path, description = "`main`, `left`, `right` or `bottom`", pattern = "^(main|left|right|bottom)$"),
    ),
    request_body(content_type = "application/octet-stream", description = "the image's bytes"),
    responses(
        (status = 200, description = "the photo replaced the previous one", body = PhotoResponse),
        (status = 201, description = "the side's first photo", body = PhotoResponse),
        (status = 400, description = "`invalid_side`", body = Problem),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, description = "`watch_not_found`", body = Problem),
        (status = 409, description = "`photo_key_in_use`: another file holds the photo's place", body = Problem),
        (status = 413, body = Problem),
        (status = 415, description = "not a JPEG, PNG, GIF or WebP image", body = Problem),
        (status = 422, description = "empty, or not a decodable image", body = Problem),
    )
)]
pub async fn put_photo(
    State(state): State<AppState>,
    Moderator(user): Moderator,
    Path((watch_id, side)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<(StatusCode, Json<PhotoResponse>)> {
    let side = check_side(&side)?;
    let max = max_photo_bytes(&state);
    check_declared_length(&headers, max)?;
    if watch::Entity::find_by_id(watch_id)
        .one(&state.db)
        .await?
        .is_none()
    {
        return Err(watch_not_found(watch_id));
    }
    let bytes = read_body(body, max).await?;
    let (file, created) = store_photo(&state, watch_id, side, bytes, Some(user.user_id)).await?;
    let links = ImageLinks::new(&state.config.public_url(), &file.uid);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(PhotoResponse {
            watch_id,
            side: side.to_owned(),
            uid: links.uid,
            url: links.url,
            thumb_url: links.thumb_url,
            mime_type: file.mime_type,
            size: file.size,
        }),
    ))
}

/// Removes the photo of one side of a watch and its file (moderators and admins).
#[utoipa::path(
    delete,
    path = "/api/v1/watches/{id}/images/{side}",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "watch id"),
        ("side" = String, Path, description = "`main`, `left`, `right` or `bottom`", pattern = "^(main|left|right|bottom)$"),
    ),
    responses(
        (status = 204),
        (status = 400, description = "`invalid_side`", body = Problem),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, description = "`watch_not_found` or `image_not_found`", body = Problem),
    )
)]
pub async fn delete_photo(
    State(state): State<AppState>,
    _moderator: Moderator,
    Path((watch_id, side)): Path<(i64, String)>,
) -> AppResult<StatusCode> {
    let side = check_side(&side)?;
    let tx = state.db.begin().await?;
    lock_for_write(&tx, watch_id).await?;
    let (image, file) = photo_of(&tx, watch_id, side)
        .await?
        .ok_or_else(|| photo_not_found(side))?;
    watch_image::Entity::delete_by_id(image.id)
        .exec(&tx)
        .await?;
    retire_photo_file(&tx, &file).await?;
    tx.commit().await?;
    remove_blobs(&state, &file).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the photos of a watch whose folder changed to the new folder: each is copied to
/// its new key, its row repointed, and the old blob removed. Rows always point at bytes
/// that exist, so an interrupted move can simply be run again. Run after the commit that
/// changed the folder.
pub async fn relocate_photos(state: &AppState, watch_id: i64) -> AppResult<()> {
    let Some(watch) = watch::Entity::find_by_id(watch_id).one(&state.db).await? else {
        return Ok(());
    };
    let store = state.storage.store();
    for (image, file) in photos_of(&state.db, watch_id).await? {
        let key = photo_key(&watch.folder, &image.side, &file.mime_type);
        if file.file_key == key || file.status != files::STATUS_ACTIVE {
            continue;
        }
        if key_in_use(&state.db, &key, Some(file.file_id)).await? {
            tracing::warn!(
                key,
                watch_id,
                "a photo's new place is taken; it stays where it is"
            );
            continue;
        }
        let (from, to) = (
            ObjectPath::from(file.file_key.as_str()),
            ObjectPath::from(key.as_str()),
        );
        store.copy(&from, &to).await.map_err(AppError::internal)?;
        let moved = files::Entity::update_many()
            .col_expr(files::Column::FileKey, Expr::value(key.clone()))
            .filter(files::Column::FileId.eq(file.file_id))
            .filter(files::Column::FileKey.eq(file.file_key.as_str()))
            .exec(&state.db)
            .await;
        match moved {
            Ok(result) if result.rows_affected == 1 => {
                if let Err(err) = store.delete(&from).await {
                    tracing::warn!(error = %err, key = %from, "could not delete a moved photo");
                }
            }
            other => {
                // the row changed meanwhile (or could not be written): the copy goes
                if let Err(err) = store.delete(&to).await {
                    tracing::warn!(error = %err, key = %to, "could not delete a photo copy");
                }
                if let Err(err) = other {
                    return Err(err.into());
                }
            }
        }
    }
    Ok(())
}
