//! The photo routes of watch drafts: the author puts or removes the photo of a side
//! while the draft may still be changed, as a moderator does for a live watch.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use sea_orm::{EntityTrait, TransactionTrait};

use super::handlers::{editable_draft, no_longer_editable};
use super::model::{DraftImage, DraftKind};
use super::photos::{self, draft_photo_key};
use crate::auth::CurrentUser;
use crate::catalog::entity::draft_watch_image;
use crate::catalog::watches::images::{
    PHOTO_TYPES, check_photo, check_side, max_photo_bytes, read_body,
};
use crate::catalog::watches::repo::retire_photo_file;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path};
use crate::files::handlers::{check_declared_length, remove_blobs};
use crate::files::ingest::{Rules, ingest};
use crate::files::model::Visibility;
use crate::files::repo as files_repo;
use crate::files::sniff::{AllowedTypes, extension};
use crate::state::AppState;

fn photo_not_found(side: &str) -> AppError {
    AppError::not_found("image_not_found", format!("the draft has no {side} photo"))
}

/// Sets the photo of one side of my watch draft while it is `draft` or `rejected` (a
/// rejected draft returns to `draft`, as with any edit). The body is the image itself
/// (any `Content-Type`; the bytes decide): a JPEG, PNG, GIF or WebP that decodes. The
/// photo is private to me and the moderators until the draft is approved, when it
/// becomes the watch's photo of that side. 201 when the side had no photo, else 200.
#[utoipa::path(
    put,
    path = "/api/v1/drafts/watches/{id}/images/{side}",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "draft id"),
        ("side" = String, Path, description = "`main`, `left`, `right` or `bottom`", pattern = "^(main|left|right|bottom)$"),
    ),
    request_body(content_type = "application/octet-stream", description = "the image's bytes"),
    responses(
        (status = 200, description = "the photo replaced the previous one", body = DraftImage),
        (status = 201, description = "the side's first photo", body = DraftImage),
        (status = 400, description = "`invalid_side`", body = Problem),
        (status = 401, body = Problem),
        (status = 404, description = "`draft_not_found`: no such draft of mine", body = Problem),
        (status = 409, description = "`draft_locked`: submitted or approved", body = Problem),
        (status = 413, body = Problem),
        (status = 415, description = "not a JPEG, PNG, GIF or WebP image", body = Problem),
        (status = 422, description = "empty, or not a decodable image", body = Problem),
    )
)]
pub async fn put_draft_photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, side)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<(StatusCode, Json<DraftImage>)> {
    let side = check_side(&side)?;
    editable_draft(&state, &user, DraftKind::Watch, id).await?;
    let max = max_photo_bytes(&state);
    check_declared_length(&headers, max)?;
    let bytes = read_body(body, max).await?;
    let mime = check_photo(&bytes).await?;
    let rules = Rules {
        max_bytes: bytes.len() as u64,
        allowed: &AllowedTypes::parse(PHOTO_TYPES),
        key: Some(draft_photo_key(id, side, extension(mime))),
        idle_timeout: state.config.upload_idle_timeout(),
    };
    let name = format!("{side}.{}", extension(mime));
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
    // removed again on any failure below, when dropped without `keep`
    let object = ingest(&state.storage, body, &name, rules).await?;
    let tx = state.db.begin().await?;
    if !photos::touch_editable(&tx, id).await? {
        return Err(no_longer_editable());
    }
    let file = files_repo::insert(
        &tx,
        &object,
        state.storage.kind(),
        state.storage.bucket(),
        Visibility::Private,
        Some(user.user_id),
    )
    .await?;
    let previous = photos::set_photo(&tx, id, side, file.file_id).await?;
    tx.commit().await?;
    object.keep();
    let status = match &previous {
        Some(old) => {
            remove_blobs(&state, old).await;
            StatusCode::OK
        }
        None => StatusCode::CREATED,
    };
    Ok((
        status,
        Json(DraftImage::new(&state.config.public_url(), side, &file)),
    ))
}

/// Removes the photo of one side of my watch draft while it is `draft` or `rejected`.
#[utoipa::path(
    delete,
    path = "/api/v1/drafts/watches/{id}/images/{side}",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "draft id"),
        ("side" = String, Path, description = "`main`, `left`, `right` or `bottom`", pattern = "^(main|left|right|bottom)$"),
    ),
    responses(
        (status = 204),
        (status = 400, description = "`invalid_side`", body = Problem),
        (status = 401, body = Problem),
        (status = 404, description = "`draft_not_found` or `image_not_found`", body = Problem),
        (status = 409, description = "`draft_locked`: submitted or approved", body = Problem),
    )
)]
pub async fn delete_draft_photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, side)): Path<(i64, String)>,
) -> AppResult<StatusCode> {
    let side = check_side(&side)?;
    editable_draft(&state, &user, DraftKind::Watch, id).await?;
    let tx = state.db.begin().await?;
    if !photos::touch_editable(&tx, id).await? {
        return Err(no_longer_editable());
    }
    let (row, file) = photos::photo_of(&tx, id, side)
        .await?
        .ok_or_else(|| photo_not_found(side))?;
    draft_watch_image::Entity::delete_by_id(row.id)
        .exec(&tx)
        .await?;
    retire_photo_file(&tx, &file).await?;
    tx.commit().await?;
    remove_blobs(&state, &file).await;
    Ok(StatusCode::NO_CONTENT)
}
