//! A member's own drafts: create, read, edit, submit, withdraw.

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use sea_orm::{ConnectionTrait, TransactionTrait};

use super::list::{self, ListFilter, ListOrder};
use super::model::{
    DraftKind, DraftResponse, DraftValues, MechanismDraftInput, MechanismDraftValues,
    MyDraftsQuery, WatchDraftInput, WatchDraftValues,
};
use super::repo;
use super::{not_found, photos, publish};
use crate::auth::{CurrentUser, Role};
use crate::catalog::mechanisms::model::distinct;
use crate::catalog::model::{check_mechanism, check_watch, normalize_aliases};
use crate::catalog::watches;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::files::handlers::remove_blobs;
use crate::pagination::Page;
use crate::state::AppState;

/// The kind named in the path; an unknown one is an unknown route.
pub(super) fn kind_of(segment: &str) -> AppResult<DraftKind> {
    DraftKind::from_path(segment).ok_or_else(not_found)
}

/// A draft the caller may see: their own, or any for moderators.
async fn visible_draft(
    state: &AppState,
    user: &CurrentUser,
    kind: DraftKind,
    id: i64,
) -> AppResult<DraftResponse> {
    repo::find(&state.db, &state.config.public_url(), kind, id)
        .await?
        .filter(|draft| draft.author_id == user.user_id || user.role >= Role::Moderator)
        .ok_or_else(not_found)
}

/// One of the caller's own drafts that they may still change.
pub(super) async fn editable_draft(
    state: &AppState,
    user: &CurrentUser,
    kind: DraftKind,
    id: i64,
) -> AppResult<DraftResponse> {
    let draft = repo::find(&state.db, &state.config.public_url(), kind, id)
        .await?
        .filter(|draft| draft.author_id == user.user_id)
        .ok_or_else(not_found)?;
    if !draft.status.editable() {
        return Err(locked(&draft));
    }
    Ok(draft)
}

fn locked(draft: &DraftResponse) -> AppError {
    AppError::conflict(
        "draft_locked",
        format!(
            "the draft is {}; it can no longer be changed",
            draft.status.as_str()
        ),
    )
}

/// A draft submitted by another request of its author's while this one ran.
pub(super) fn no_longer_editable() -> AppError {
    AppError::conflict("draft_locked", "the draft was submitted meanwhile")
}

/// Puts values in their stored form and checks the fields present; a draft may lack
/// fields, but what it has must be valid.
async fn checked(conn: &impl ConnectionTrait, values: DraftValues) -> AppResult<DraftValues> {
    Ok(match values {
        DraftValues::Watch(mut values) => {
            values.aliases = normalize_aliases(values.aliases);
            check_watch(conn, &values.checkable()).await?;
            DraftValues::Watch(values)
        }
        DraftValues::Mechanism(mut values) => {
            values.function_ids = distinct(values.function_ids);
            check_mechanism(conn, &values.checkable()).await?;
            DraftValues::Mechanism(values)
        }
    })
}

fn unknown_target(kind: DraftKind, id: i64) -> AppError {
    AppError::invalid("target_id", format!("no {} with id {id}", kind.as_str()))
}

async fn create(
    state: &AppState,
    user: &CurrentUser,
    target_id: Option<i64>,
    values: DraftValues,
) -> AppResult<(StatusCode, Json<DraftResponse>)> {
    let kind = values.kind();
    let values = checked(&state.db, values).await?;
    let tx = state.db.begin().await?;
    let id = repo::insert(&tx, user.user_id, target_id, &values).await?;
    tx.commit().await?;
    let draft = repo::find(&state.db, &state.config.public_url(), kind, id)
        .await?
        .ok_or_else(not_found)?;
    Ok((StatusCode::CREATED, Json(draft)))
}

/// Starts a watch draft: a new watch, or with `target_id` changes to an existing one.
/// Any field may be left out until the draft is submitted.
#[utoipa::path(
    post,
    path = "/api/v1/drafts/watches",
    tag = "drafts",
    security(("bearer" = [])),
    request_body = WatchDraftInput,
    responses(
        (status = 201, body = DraftResponse),
        (status = 401, body = Problem),
        (status = 422, description = "invalid values, unknown references or target", body = Problem),
    )
)]
pub async fn create_watch_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<WatchDraftInput>,
) -> AppResult<(StatusCode, Json<DraftResponse>)> {
    let target_id = input.target_id;
    let mut values = match target_id {
        Some(id) => watches::load_values(&state.db, id)
            .await?
            .ok_or_else(|| unknown_target(DraftKind::Watch, id))?
            .into(),
        None => WatchDraftValues::default(),
    };
    input.apply(&mut values);
    create(&state, &user, target_id, DraftValues::Watch(values)).await
}

/// Starts a mechanism draft: a new mechanism, or with `target_id` changes to an existing
/// one. Any field may be left out until the draft is submitted.
#[utoipa::path(
    post,
    path = "/api/v1/drafts/mechanisms",
    tag = "drafts",
    security(("bearer" = [])),
    request_body = MechanismDraftInput,
    responses(
        (status = 201, body = DraftResponse),
        (status = 401, body = Problem),
        (status = 422, description = "invalid values, unknown references or target", body = Problem),
    )
)]
pub async fn create_mechanism_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<MechanismDraftInput>,
) -> AppResult<(StatusCode, Json<DraftResponse>)> {
    let target_id = input.target_id;
    let mut values = match target_id {
        Some(id) => publish::load_mechanism_values(&state.db, id)
            .await?
            .ok_or_else(|| unknown_target(DraftKind::Mechanism, id))?
            .into(),
        None => MechanismDraftValues::default(),
    };
    input.apply(&mut values);
    create(&state, &user, target_id, DraftValues::Mechanism(values)).await
}

/// My drafts of both kinds, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/drafts",
    tag = "drafts",
    security(("bearer" = [])),
    params(MyDraftsQuery),
    responses(
        (status = 200, body = Page<DraftResponse>),
        (status = 401, body = Problem),
        (status = 422, description = "bad limit or cursor", body = Problem),
    )
)]
pub async fn list_my_drafts(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<MyDraftsQuery>,
) -> AppResult<Json<Page<DraftResponse>>> {
    let filter = ListFilter {
        author: Some(user.user_id),
        status: query.status,
        ..ListFilter::new(
            ListOrder::NewestCreated,
            query.kind,
            query.limit,
            query.cursor.as_deref(),
        )?
    };
    Ok(Json(
        list::list(&state.db, &state.config.public_url(), &filter).await?,
    ))
}

/// One draft: my own, or anyone's for moderators. The moderator's message of a
/// rejection is in `message`.
#[utoipa::path(
    get,
    path = "/api/v1/drafts/{kind}/{id}",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    responses(
        (status = 200, body = DraftResponse),
        (status = 401, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, i64)>,
) -> AppResult<Json<DraftResponse>> {
    let kind = kind_of(&kind)?;
    Ok(Json(visible_draft(&state, &user, kind, id).await?))
}

/// Changes the fields sent (the body of the draft's kind, without `target_id`); `null`
/// clears one. Editing a rejected draft returns it to `draft`.
#[utoipa::path(
    patch,
    path = "/api/v1/drafts/{kind}/{id}",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    request_body(content = WatchDraftInput, description = "for mechanisms, a `MechanismDraftInput`"),
    responses(
        (status = 200, body = DraftResponse),
        (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`draft_locked`: submitted or approved", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn update_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, i64)>,
    request: Request,
) -> AppResult<Json<DraftResponse>> {
    let kind = kind_of(&kind)?;
    let draft = editable_draft(&state, &user, kind, id).await?;
    let fixed_target = || AppError::invalid("target_id", "is fixed when the draft is created");
    let values = match draft.values {
        DraftValues::Watch(mut values) => {
            let Json(input) = Json::<WatchDraftInput>::from_request(request, &state).await?;
            if input.target_id.is_some() {
                return Err(fixed_target());
            }
            input.apply(&mut values);
            DraftValues::Watch(values)
        }
        DraftValues::Mechanism(mut values) => {
            let Json(input) = Json::<MechanismDraftInput>::from_request(request, &state).await?;
            if input.target_id.is_some() {
                return Err(fixed_target());
            }
            input.apply(&mut values);
            DraftValues::Mechanism(values)
        }
    };
    let values = checked(&state.db, values).await?;
    let tx = state.db.begin().await?;
    if !repo::save_values(&tx, id, &values).await? {
        return Err(no_longer_editable());
    }
    tx.commit().await?;
    Ok(Json(
        repo::find(&state.db, &state.config.public_url(), kind, id)
            .await?
            .ok_or_else(not_found)?,
    ))
}

/// Hands the draft to the moderators. It must now be complete and valid, and its folder
/// and code free; it is locked until reviewed.
#[utoipa::path(
    post,
    path = "/api/v1/drafts/{kind}/{id}/submit",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    responses(
        (status = 200, body = DraftResponse),
        (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`draft_locked`, `folder_taken`, `code_taken` or `target_gone`", body = Problem),
        (status = 422, description = "missing or invalid values", body = Problem),
    )
)]
pub async fn submit_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, i64)>,
) -> AppResult<Json<DraftResponse>> {
    let kind = kind_of(&kind)?;
    let draft = editable_draft(&state, &user, kind, id).await?;
    // a trial publication, rolled back, holds the draft to exactly what its approval
    // will check: complete and valid values, a free folder and code, a live target
    let trial = state.db.begin().await?;
    publish::publish(&trial, &draft).await?;
    trial.rollback().await?;
    if !repo::mark_submitted(&state.db, kind, id).await? {
        return Err(no_longer_editable());
    }
    Ok(Json(
        repo::find(&state.db, &state.config.public_url(), kind, id)
            .await?
            .ok_or_else(not_found)?,
    ))
}

/// Withdraws and deletes a draft of mine that was not approved, with its photos.
#[utoipa::path(
    delete,
    path = "/api/v1/drafts/{kind}/{id}",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    responses(
        (status = 204),
        (status = 401, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`draft_locked`: approved", body = Problem),
    )
)]
pub async fn delete_draft(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, i64)>,
) -> AppResult<StatusCode> {
    let kind = kind_of(&kind)?;
    let draft = repo::find(&state.db, &state.config.public_url(), kind, id)
        .await?
        .filter(|draft| draft.author_id == user.user_id)
        .ok_or_else(not_found)?;
    let tx = state.db.begin().await?;
    // its photos go with it (and stay if the deletion is refused: the rollback)
    let retired = match kind {
        DraftKind::Watch => photos::retire_all(&tx, id).await?,
        DraftKind::Mechanism => Vec::new(),
    };
    if !repo::delete_unless_approved(&tx, kind, id).await? {
        return Err(locked(&draft));
    }
    tx.commit().await?;
    for file in &retired {
        remove_blobs(&state, file).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
