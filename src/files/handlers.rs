//! Upload, download, metadata, expiring links, deletion and the list of my files.

use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use chrono::{Duration, Utc};
use futures_util::TryStreamExt;
use sea_orm::TransactionTrait;

use super::download::{self, Blob, check_read_access, not_found};
use super::ingest::{Rules, StoredObject, ingest};
use super::model::{
    DownloadQuery, FileResponse, LinkRequest, LinkResponse, MAX_LINK_SECS, StreamUploadQuery,
    Visibility,
};
use super::{entity, links, repo, thumbs};
use crate::auth::{CurrentUser, OptionalUser, Role};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

/// Room for multipart boundaries and headers on top of the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Refuses a declared body over the limit before a byte of it is read.
pub fn check_declared_length(headers: &HeaderMap, max_bytes: u64) -> AppResult<()> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_bytes => Err(AppError::PayloadTooLarge {
            detail: format!("the upload is larger than the limit of {max_bytes} bytes"),
        }),
        _ => Ok(()),
    }
}

/// Records a stored object; the object is removed again if the row cannot be written.
pub async fn record(
    state: &AppState,
    object: StoredObject,
    visibility: Visibility,
    owner: i64,
) -> AppResult<entity::Model> {
    let file = repo::insert(
        &state.db,
        &object,
        state.storage.kind(),
        state.storage.bucket(),
        visibility,
        Some(owner),
    )
    .await?;
    object.keep();
    Ok(file)
}

/// Uploads one file as `multipart/form-data` (field `file`, optional field `visibility`).
/// The type is judged from the content; the body is streamed to storage.
#[utoipa::path(
    post,
    path = "/api/v1/files",
    tag = "files",
    security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "field `file`; optional field `visibility` (`public`|`private`, default private)"),
    responses(
        (status = 201, body = FileResponse),
        (status = 401, body = Problem),
        (status = 413, body = Problem),
        (status = 415, body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn upload_multipart(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> AppResult<(StatusCode, Json<FileResponse>)> {
    check_declared_length(&headers, state.config.max_upload_bytes + MULTIPART_OVERHEAD)?;
    let bad_form = |err: axum::extract::multipart::MultipartError| {
        AppError::bad_request("malformed_multipart", err.body_text())
    };
    let mut stored: Option<StoredObject> = None;
    let mut visibility = Visibility::default();
    while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("file") => {
                if stored.is_some() {
                    return Err(AppError::invalid("file", "send one file per request"));
                }
                let name = field.file_name().unwrap_or("file").to_owned();
                let rules = Rules {
                    max_bytes: state.config.max_upload_bytes,
                    allowed: &state.allowed_types,
                    key: None,
                    idle_timeout: state.config.upload_idle_timeout(),
                };
                stored = Some(ingest(&state.storage, field, &name, rules).await?);
            }
            Some("visibility") => {
                let value = field.text().await.map_err(bad_form)?;
                visibility = Visibility::parse(value.trim()).ok_or_else(|| {
                    AppError::invalid("visibility", "must be `public` or `private`")
                })?;
            }
            _ => {}
        }
    }
    let object = stored.ok_or_else(|| AppError::invalid("file", "is missing"))?;
    let file = record(&state, object, visibility, user.user_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(FileResponse::new(file, &state.config.public_url())),
    ))
}

/// Uploads the raw request body as one file; `name` is kept as metadata only.
#[utoipa::path(
    put,
    path = "/api/v1/files/stream",
    tag = "files",
    security(("bearer" = [])),
    params(StreamUploadQuery),
    request_body(content_type = "application/octet-stream", description = "the file's bytes"),
    responses(
        (status = 201, body = FileResponse),
        (status = 401, body = Problem),
        (status = 413, body = Problem),
        (status = 415, body = Problem),
    )
)]
pub async fn upload_stream(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(query): Query<StreamUploadQuery>,
    body: Body,
) -> AppResult<(StatusCode, Json<FileResponse>)> {
    check_declared_length(&headers, state.config.max_upload_bytes)?;
    if query.name.trim().is_empty() || query.name.chars().count() > 255 {
        return Err(AppError::invalid("name", "must be 1–255 characters long"));
    }
    let rules = Rules {
        max_bytes: state.config.max_upload_bytes,
        allowed: &state.allowed_types,
        key: None,
        idle_timeout: state.config.upload_idle_timeout(),
    };
    let object = ingest(&state.storage, body.into_data_stream(), &query.name, rules).await?;
    let file = record(
        &state,
        object,
        query.visibility.unwrap_or_default(),
        user.user_id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(FileResponse::new(file, &state.config.public_url())),
    ))
}

/// The file's bytes, with `Range`, `ETag`/`If-None-Match` and `Last-Modified` support;
/// `?thumb=WxH` serves a thumbnail of an image. `HEAD` answers the same headers.
#[utoipa::path(
    get,
    path = "/api/v1/files/{uid}",
    tag = "files",
    // a token is optional: it lets owners and admins read private files
    security((), ("bearer" = [])),
    params(("uid" = String, Path), DownloadQuery),
    responses(
        (status = 200, description = "the bytes"),
        (status = 206, description = "the requested range"),
        (status = 304, description = "not modified"),
        (status = 400, body = Problem),
        (status = 403, description = "`link_expired`: a genuine link past its expiry", body = Problem),
        (status = 404, description = "no such file, or not yours, or a link with a wrong signature", body = Problem),
        (status = 416, body = Problem),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    OptionalUser(user): OptionalUser,
    Path(uid): Path<String>,
    Query(query): Query<DownloadQuery>,
    method: Method,
    headers: HeaderMap,
) -> AppResult<Response> {
    let file = repo::read_active(&state.reader, &uid)
        .await?
        .ok_or_else(not_found)?;
    check_read_access(&state, &file, user.as_ref(), &query).await?;
    let blob = match query.thumb.as_deref() {
        Some(spec) => {
            thumbs::thumbnail(state.storage.store(), &file, thumbs::parse_size(spec)?).await?
        }
        None => Blob {
            key: file.file_key.clone(),
            size: file.size as u64,
            mime_type: &file.mime_type,
            etag: file.sha256.clone(),
        },
    };
    download::respond(
        &state,
        &method,
        &headers,
        &file,
        blob,
        query.download.unwrap_or(false),
    )
    .await
}

/// The file's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/files/{uid}/meta",
    tag = "files",
    // a token is optional: it lets owners and admins read private files
    security((), ("bearer" = [])),
    params(("uid" = String, Path), DownloadQuery),
    responses((status = 200, body = FileResponse), (status = 404, body = Problem))
)]
pub async fn meta(
    State(state): State<AppState>,
    OptionalUser(user): OptionalUser,
    Path(uid): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> AppResult<Json<FileResponse>> {
    let file = repo::read_active(&state.reader, &uid)
        .await?
        .ok_or_else(not_found)?;
    check_read_access(&state, &file, user.as_ref(), &query).await?;
    Ok(Json(FileResponse::new(file, &state.config.public_url())))
}

/// A file that `user` may change: theirs, or any for admins.
async fn owned_file(state: &AppState, user: &CurrentUser, uid: &str) -> AppResult<entity::Model> {
    let file = repo::find_active(&state.db, uid)
        .await?
        .ok_or_else(not_found)?;
    if file.added_user == Some(user.user_id) || user.role == Role::Admin {
        return Ok(file);
    }
    if file.visibility == Visibility::Public.as_str() {
        Err(AppError::forbidden(
            "only the owner or an admin may do this",
        ))
    } else {
        Err(not_found())
    }
}

/// An expiring link that lets anyone holding it read the file: a presigned URL on S3,
/// a signed URL of this server on local storage.
#[utoipa::path(
    post,
    path = "/api/v1/files/{uid}/link",
    tag = "files",
    security(("bearer" = [])),
    params(("uid" = String, Path)),
    request_body = LinkRequest,
    responses((status = 200, body = LinkResponse), (status = 404, body = Problem), (status = 422, body = Problem))
)]
pub async fn create_link(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(uid): Path<String>,
    Json(request): Json<LinkRequest>,
) -> AppResult<Json<LinkResponse>> {
    if !(1..=MAX_LINK_SECS).contains(&request.expires_in) {
        return Err(AppError::invalid(
            "expires_in",
            format!("must be between 1 and {MAX_LINK_SECS} seconds"),
        ));
    }
    let file = owned_file(&state, &user, &uid).await?;
    let expires_at = Utc::now() + Duration::seconds(request.expires_in as i64);
    let presigned = state
        .storage
        .presigned_get(
            &file.file_key,
            std::time::Duration::from_secs(request.expires_in),
        )
        .await
        .map_err(AppError::internal)?;
    let url = match presigned {
        Some(url) => url.to_string(),
        None => {
            let expires = expires_at.timestamp();
            let signature = links::sign(state.config.jwt_secret(), &file.uid, expires);
            format!(
                "{}/api/v1/files/{}?expires={expires}&signature={signature}",
                state.config.public_url(),
                file.uid
            )
        }
    };
    repo::save_link(&state.db, file.file_id, &url, expires_at).await?;
    Ok(Json(LinkResponse { url, expires_at }))
}

/// Deletes a file: the row is marked deleted and the bytes and thumbnails removed.
#[utoipa::path(
    delete,
    path = "/api/v1/files/{uid}",
    tag = "files",
    security(("bearer" = [])),
    params(("uid" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem))
)]
pub async fn delete_file(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(uid): Path<String>,
) -> AppResult<StatusCode> {
    let file = owned_file(&state, &user, &uid).await?;
    let tx = state.db.begin().await?;
    // a picture in use as an avatar stops being one
    state.file_references.release(&tx, file.file_id).await?;
    repo::mark_deleted(&tx, file.file_id).await?;
    tx.commit().await?;
    remove_blobs(&state, &file).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a file's bytes and derived objects; failures are logged, the row already says
/// the file is gone.
pub async fn remove_blobs(state: &AppState, file: &entity::Model) {
    use object_store::path::Path as ObjectPath;
    let store = state.storage.store();
    if let Err(err) = store
        .delete(&ObjectPath::from(file.file_key.as_str()))
        .await
    {
        tracing::warn!(error = %err, key = %file.file_key, "could not delete a blob");
    }
    let derived = ObjectPath::from(format!("thumbs/{}", file.uid));
    let thumbs: Vec<_> = match store
        .list(Some(&derived))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
    {
        Ok(paths) => paths,
        Err(err) => {
            tracing::warn!(error = %err, uid = %file.uid, "could not list thumbnails");
            return;
        }
    };
    for path in thumbs {
        if let Err(err) = store.delete(&path).await {
            tracing::warn!(error = %err, key = %path, "could not delete a thumbnail");
        }
    }
}

/// My files, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/files",
    tag = "files",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<FileResponse>), (status = 401, body = Problem))
)]
pub async fn list_files(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<FileResponse>>> {
    let limit = page.limit()?;
    let rows = repo::list_owned(&state.db, user.user_id, page.cursor_id()?, limit).await?;
    let public_url = state.config.public_url();
    Ok(Json(
        Page::from_rows(rows, limit, |file| file.file_id)
            .map(|file| FileResponse::new(file, &public_url)),
    ))
}
