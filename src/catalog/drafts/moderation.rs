//! The moderators' side of drafts: the queue of submitted drafts, the review of one
//! against the live record, approval and rejection.

use axum::extract::State;
use sea_orm::TransactionTrait;

use super::handlers::kind_of;
use super::list::{self, ListFilter, ListOrder};
use super::model::{
    ApprovalResponse, DraftKind, DraftResponse, DraftReview, DraftStatus, ModerationQuery,
    RejectRequest, changes,
};
use super::repo;
use super::{not_found, photos, publish};
use crate::catalog::references_handlers::Moderator;
use crate::catalog::watches::relocate_photos;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::files::handlers::remove_blobs;
use crate::pagination::Page;
use crate::state::AppState;

/// The answer when a draft exists but is not waiting for review.
fn not_submitted(draft: &DraftResponse) -> AppError {
    AppError::conflict(
        "draft_not_submitted",
        format!(
            "the draft is {}; only submitted drafts are reviewed",
            draft.status.as_str()
        ),
    )
}

/// Drafts waiting for review, the longest waiting first (moderators and admins).
#[utoipa::path(
    get,
    path = "/api/v1/moderation/drafts",
    tag = "drafts",
    security(("bearer" = [])),
    params(ModerationQuery),
    responses(
        (status = 200, body = Page<DraftResponse>),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 422, description = "bad limit or cursor", body = Problem),
    )
)]
pub async fn list_submitted(
    State(state): State<AppState>,
    _moderator: Moderator,
    Query(query): Query<ModerationQuery>,
) -> AppResult<Json<Page<DraftResponse>>> {
    let filter = ListFilter {
        status: Some(DraftStatus::Submitted),
        ..ListFilter::new(
            ListOrder::OldestSubmitted,
            query.kind,
            query.limit,
            query.cursor.as_deref(),
        )?
    };
    Ok(Json(
        list::list(&state.db, &state.config.public_url(), &filter).await?,
    ))
}

/// A draft of any status with, for an edit proposal, the live record's values and photos
/// and the fields the draft changes (moderators and admins).
#[utoipa::path(
    get,
    path = "/api/v1/moderation/drafts/{kind}/{id}",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    responses(
        (status = 200, body = DraftReview),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn review_draft(
    State(state): State<AppState>,
    _moderator: Moderator,
    Path((kind, id)): Path<(String, i64)>,
) -> AppResult<Json<DraftReview>> {
    let kind = kind_of(&kind)?;
    let draft = repo::find(&state.db, &state.config.public_url(), kind, id)
        .await?
        .ok_or_else(not_found)?;
    let live = match draft.target_id {
        Some(target) => publish::live_values(&state.db, kind, target).await?,
        None => None,
    };
    let changes = live
        .as_ref()
        .map(|live| changes(live, &draft.values))
        .unwrap_or_default();
    let live_images = match (kind, draft.target_id) {
        (DraftKind::Watch, Some(target)) => {
            photos::live_images(&state.db, &state.config.public_url(), target).await?
        }
        _ => Vec::new(),
    };
    Ok(Json(DraftReview {
        draft,
        live,
        changes,
        live_images,
    }))
}

/// Publishes a submitted draft into the live catalog in one transaction: a new record
/// with the draft's author as its author, or the changes to the target, with a watch
/// draft's photos (each side it has replaces the live one; the others stay). The draft must
/// still be valid against the catalog as it is now; the author gains a point of rating.
#[utoipa::path(
    post,
    path = "/api/v1/moderation/drafts/{kind}/{id}/approve",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    responses(
        (status = 200, body = ApprovalResponse),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`draft_not_submitted`, `folder_taken`, `code_taken` or `target_gone`", body = Problem),
        (status = 422, description = "the draft's values are no longer valid", body = Problem),
    )
)]
pub async fn approve_draft(
    State(state): State<AppState>,
    Moderator(moderator): Moderator,
    Path((kind, id)): Path<(String, i64)>,
) -> AppResult<Json<ApprovalResponse>> {
    let kind = kind_of(&kind)?;
    let tx = state.db.begin().await?;
    // claiming the draft first makes a second approval wait for this one, then fail
    let claimed = repo::mark_reviewed(
        &tx,
        kind,
        id,
        moderator.user_id,
        DraftStatus::Approved,
        None,
    )
    .await?;
    let draft = repo::find(&tx, &state.config.public_url(), kind, id)
        .await?
        .ok_or_else(not_found)?;
    if !claimed {
        return Err(not_submitted(&draft));
    }
    let published = publish::publish(&tx, &draft).await?;
    let (replaced, photos_published) = match kind {
        DraftKind::Watch => {
            photos::publish(&tx, id, published.record_id, moderator.user_id).await?
        }
        DraftKind::Mechanism => (Vec::new(), false),
    };
    tx.commit().await?;
    // the replaced photos' blobs go before the new ones take their keys
    for file in &replaced {
        remove_blobs(&state, file).await;
    }
    if (published.folder_changed || photos_published)
        && let Err(err) = relocate_photos(&state, published.record_id).await
    {
        tracing::warn!(error = %err, watch_id = published.record_id, "could not move the photos to the watch's folder");
    }
    Ok(Json(ApprovalResponse {
        record_id: published.record_id,
        draft,
    }))
}

/// Sends a submitted draft back to its author with a message saying what to change
/// (moderators and admins).
#[utoipa::path(
    post,
    path = "/api/v1/moderation/drafts/{kind}/{id}/reject",
    tag = "drafts",
    security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "`watches` or `mechanisms`", pattern = "^(watches|mechanisms)$"),
        ("id" = i64, Path, description = "draft id"),
    ),
    request_body = RejectRequest,
    responses(
        (status = 200, body = DraftResponse),
        (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`draft_not_submitted`", body = Problem),
        (status = 422, description = "missing, blank or too long message", body = Problem),
    )
)]
pub async fn reject_draft(
    State(state): State<AppState>,
    Moderator(moderator): Moderator,
    Path((kind, id)): Path<(String, i64)>,
    Json(request): Json<RejectRequest>,
) -> AppResult<Json<DraftResponse>> {
    let kind = kind_of(&kind)?;
    let message = request.checked_message()?;
    let rejected = repo::mark_reviewed(
        &state.db,
        kind,
        id,
        moderator.user_id,
        DraftStatus::Rejected,
        Some(message),
    )
    .await?;
    let draft = repo::find(&state.db, &state.config.public_url(), kind, id)
        .await?
        .ok_or_else(not_found)?;
    if !rejected {
        return Err(not_submitted(&draft));
    }
    Ok(Json(draft))
}
