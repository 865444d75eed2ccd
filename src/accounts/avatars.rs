//! Avatars (seed 001): uploaded or generated pictures of a member, at most one active;
//! `user_details.profile_image_id` follows the active one.

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::entity::{avatars, user_details};
use super::{identicon, repo as accounts_repo};
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path};
use crate::file_grants::FileReferences;
use crate::files::handlers::{check_declared_length, remove_blobs};
use crate::files::ingest::{Rules, ingest};
use crate::files::model::Visibility;
use crate::files::sniff::{AllowedTypes, sniff_mime};
use crate::files::{entity as files, repo as files_repo, thumbs};
use crate::state::AppState;

const AVATAR_TYPES: &str = "image/jpeg,image/png,image/gif,image/webp";

#[derive(Debug, Serialize, ToSchema)]
pub struct AvatarResponse {
    pub avatar_id: i64,
    pub url: String,
    pub is_active: bool,
    /// A generated identicon rather than an upload.
    pub is_random: bool,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub uploaded_at: DateTime<Utc>,
}

impl AvatarResponse {
    fn new(avatar: avatars::Model, file_uid: &str, public_url: &str) -> Self {
        Self {
            avatar_id: avatar.avatar_id,
            url: file_url(public_url, file_uid),
            is_active: avatar.is_active,
            is_random: avatar.is_random,
            uploaded_at: avatar.uploaded_at,
        }
    }
}

pub fn file_url(public_url: &str, uid: &str) -> String {
    format!("{public_url}/api/v1/files/{uid}")
}

/// Uploads an image (field `file`) and makes it my active avatar.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/avatars",
    tag = "users",
    security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "field `file`: a JPEG, PNG, GIF or WebP image"),
    responses(
        (status = 201, body = AvatarResponse),
        (status = 413, body = Problem),
        (status = 415, body = Problem),
        (status = 422, description = "not a decodable image", body = Problem),
    )
)]
pub async fn upload_avatar(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> AppResult<(StatusCode, Json<AvatarResponse>)> {
    let max = state.config.max_avatar_bytes;
    check_declared_length(&headers, max + 64 * 1024)?;
    let bad_form = |err: axum::extract::multipart::MultipartError| {
        AppError::bad_request("malformed_multipart", err.body_text())
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad_form)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("avatar").to_owned();
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(AppError::PayloadTooLarge {
                    detail: format!("avatars may be at most {max} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let bytes = bytes.freeze();
        let allowed = AllowedTypes::parse(AVATAR_TYPES);
        if !sniff_mime(&bytes).is_some_and(|mime| allowed.allows(mime)) {
            return Err(AppError::UnsupportedMediaType {
                detail: "an avatar must be a JPEG, PNG, GIF or WebP image".to_owned(),
            });
        }
        let sample = bytes.clone();
        if !tokio::task::spawn_blocking(move || thumbs::decodes_as_image(&sample))
            .await
            .map_err(AppError::internal)?
        {
            return Err(AppError::invalid("file", "is not a decodable image"));
        }
        let avatar = store_avatar(&state, user.user_id, bytes, &name, false).await?;
        return Ok((StatusCode::CREATED, Json(avatar)));
    }
    Err(AppError::invalid("file", "is missing"))
}

/// Generates an identicon and makes it my active avatar.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/avatars/random",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 201, body = AvatarResponse), (status = 401, body = Problem))
)]
pub async fn random_avatar(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<(StatusCode, Json<AvatarResponse>)> {
    let mut seed = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut seed);
    let png = tokio::task::spawn_blocking(move || identicon::render(&seed))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let avatar = store_avatar(
        &state,
        user.user_id,
        Bytes::from(png),
        "identicon.png",
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(avatar)))
}

/// Stores the picture, then in one transaction records it, makes it the only active
/// avatar and points the profile at it. The blob is removed if the transaction fails.
async fn store_avatar(
    state: &AppState,
    user_id: i64,
    bytes: Bytes,
    name: &str,
    is_random: bool,
) -> AppResult<AvatarResponse> {
    let allowed = AllowedTypes::parse(AVATAR_TYPES);
    let rules = Rules {
        max_bytes: state.config.max_avatar_bytes.max(bytes.len() as u64),
        allowed: &allowed,
        key: None,
        idle_timeout: state.config.upload_idle_timeout(),
    };
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
    let object = ingest(&state.storage, body, name, rules).await?;
    let tx = state.db.begin().await?;
    lock_member(&tx, user_id).await?;
    let file = files_repo::insert(
        &tx,
        &object,
        state.storage.kind(),
        state.storage.bucket(),
        Visibility::Public,
        Some(user_id),
    )
    .await?;
    deactivate_all(&tx, user_id).await?;
    let avatar = avatars::ActiveModel {
        user_id: Set(user_id),
        file_id: Set(file.file_id),
        is_active: Set(true),
        is_random: Set(is_random),
        uploaded_at: Set(object.uploaded_at),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    set_profile_image(&tx, user_id, Some(file.file_id)).await?;
    tx.commit().await?;
    object.keep();
    Ok(AvatarResponse::new(
        avatar,
        &file.uid,
        &state.config.public_url(),
    ))
}

/// Removes the avatar made of a file that is being deleted, and unsets it as the
/// profile picture if it was the active one.
/// Avatars let go of deleted files.
pub struct AvatarFiles;

#[async_trait::async_trait]
impl FileReferences for AvatarFiles {
    async fn release(&self, tx: &DatabaseTransaction, file_id: i64) -> AppResult<()> {
        forget_file(tx, file_id).await
    }
}

pub async fn forget_file(conn: &impl ConnectionTrait, file_id: i64) -> AppResult<()> {
    avatars::Entity::delete_many()
        .filter(avatars::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    user_details::Entity::update_many()
        .col_expr(
            user_details::Column::ProfileImageId,
            Expr::value(Option::<i64>::None),
        )
        .filter(user_details::Column::ProfileImageId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Serialises avatar changes of one member, so two concurrent changes cannot both leave
/// an active avatar. A write (that changes nothing) rather than `SELECT … FOR UPDATE`: on
/// SQLite a transaction that reads first cannot wait for the write lock, and fails with
/// "database is locked" when another write commits before its own first write.
async fn lock_member(conn: &impl ConnectionTrait, user_id: i64) -> AppResult<()> {
    user_details::Entity::update_many()
        .col_expr(
            user_details::Column::ProfileImageId,
            Expr::col(user_details::Column::ProfileImageId).into(),
        )
        .filter(user_details::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

async fn deactivate_all(conn: &impl ConnectionTrait, user_id: i64) -> AppResult<()> {
    avatars::Entity::update_many()
        .col_expr(avatars::Column::IsActive, Expr::value(false))
        .filter(avatars::Column::UserId.eq(user_id))
        .filter(avatars::Column::IsActive.eq(true))
        .exec(conn)
        .await?;
    Ok(())
}

async fn set_profile_image(
    conn: &impl ConnectionTrait,
    user_id: i64,
    file_id: Option<i64>,
) -> AppResult<()> {
    user_details::Entity::update_many()
        .col_expr(user_details::Column::ProfileImageId, Expr::value(file_id))
        .filter(user_details::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A member's avatars, newest first (anyone may look).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/avatars",
    tag = "users",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = Vec<AvatarResponse>), (status = 404, body = Problem))
)]
pub async fn list_avatars(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
) -> AppResult<Json<Vec<AvatarResponse>>> {
    accounts_repo::find_user(&state.db, user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(|| AppError::not_found("user_not_found", "no such user"))?;
    let rows = avatars::Entity::find()
        .find_also_related(files::Entity)
        .filter(avatars::Column::UserId.eq(user_id))
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
        .order_by_desc(avatars::Column::AvatarId)
        .all(&state.db)
        .await?;
    let public_url = state.config.public_url();
    Ok(Json(
        rows.into_iter()
            .filter_map(|(avatar, file)| {
                file.map(|file| AvatarResponse::new(avatar, &file.uid, &public_url))
            })
            .collect(),
    ))
}

async fn my_avatar(
    state: &AppState,
    user_id: i64,
    avatar_id: i64,
) -> AppResult<(avatars::Model, files::Model)> {
    let (avatar, file) = avatars::Entity::find_by_id(avatar_id)
        .find_also_related(files::Entity)
        .one(&state.db)
        .await?
        .filter(|(avatar, _)| avatar.user_id == user_id)
        .ok_or_else(|| AppError::not_found("avatar_not_found", "no such avatar of yours"))?;
    let file =
        file.ok_or_else(|| AppError::not_found("avatar_not_found", "no such avatar of yours"))?;
    Ok((avatar, file))
}

/// Makes one of my avatars the active one.
#[utoipa::path(
    put,
    path = "/api/v1/users/me/avatars/{id}/active",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "avatar id")),
    responses((status = 200, body = AvatarResponse), (status = 404, body = Problem))
)]
pub async fn activate_avatar(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(avatar_id): Path<i64>,
) -> AppResult<Json<AvatarResponse>> {
    let (avatar, file) = my_avatar(&state, user.user_id, avatar_id).await?;
    let tx = state.db.begin().await?;
    lock_member(&tx, user.user_id).await?;
    deactivate_all(&tx, user.user_id).await?;
    let mut active: avatars::ActiveModel = avatar.into();
    active.is_active = Set(true);
    let avatar = active.update(&tx).await?;
    set_profile_image(&tx, user.user_id, Some(file.file_id)).await?;
    tx.commit().await?;
    Ok(Json(AvatarResponse::new(
        avatar,
        &file.uid,
        &state.config.public_url(),
    )))
}

/// Deletes one of my avatars and its picture; deleting the active one leaves none active.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/avatars/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "avatar id")),
    responses((status = 204), (status = 404, body = Problem))
)]
pub async fn delete_avatar(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(avatar_id): Path<i64>,
) -> AppResult<StatusCode> {
    let (avatar, file) = my_avatar(&state, user.user_id, avatar_id).await?;
    let tx = state.db.begin().await?;
    if avatar.is_active {
        set_profile_image(&tx, user.user_id, None).await?;
    }
    avatars::Entity::delete_by_id(avatar.avatar_id)
        .exec(&tx)
        .await?;
    files_repo::mark_deleted(&tx, file.file_id).await?;
    tx.commit().await?;
    remove_blobs(&state, &file).await;
    Ok(StatusCode::NO_CONTENT)
}
