//! A chat's media: the files its live messages carry, newest first (the seed's Media
//! collection).

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::attachments::{AttachmentRow, with_files};
use super::entity::{message_attachments, messages};
use super::model::{AttachmentKind, AttachmentView};
use super::repo;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::checked_limit;
use crate::state::AppState;

/// Attachments per media page unless asked otherwise.
const DEFAULT_MEDIA: u64 = 30;

/// `?type=image|video|file&before=…&limit=…`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// `image`, `video` or `file`; all kinds when absent.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// `next` of the previous page.
    pub before: Option<i64>,
    /// 1–100 (default 30).
    pub limit: Option<u64>,
}

/// A file of a chat's media and the message that carries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaItem {
    /// The attachment's id: what `next` pages by.
    pub id: i64,
    /// The sequence number of the message that carries it.
    pub seq: i64,
    pub sender_id: Option<i64>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub sent_at: DateTime<Utc>,
    pub attachment: AttachmentView,
}

/// A page of media, newest first, and where the next one starts (absent at the end).
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaPage {
    pub items: Vec<MediaItem>,
    /// Pass as `before` for the next page.
    pub next: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct MediaRow {
    seq: i64,
    sender_id: Option<i64>,
    sent_at: DateTime<Utc>,
    #[sea_orm(nested)]
    attachment: AttachmentRow,
}

/// The files sent in a chat, newest first, of one kind or all (participants only).
#[utoipa::path(
    get,
    path = "/api/v1/chats/{id}/media",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id"), MediaQuery),
    responses(
        (status = 200, body = MediaPage),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 422, description = "a bad `type` or `limit`", body = Problem),
    )
)]
pub async fn list_media(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
    Query(query): Query<MediaQuery>,
) -> AppResult<Json<MediaPage>> {
    let limit = checked_limit(query.limit, DEFAULT_MEDIA)?;
    let kind = query
        .kind
        .as_deref()
        .map(|kind| {
            AttachmentKind::parse(kind)
                .ok_or_else(|| AppError::invalid("type", "must be image, video or file"))
        })
        .transpose()?;
    repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let mut select = with_files()
        .columns([
            messages::Column::Seq,
            messages::Column::SenderId,
            messages::Column::SentAt,
        ])
        .join(
            JoinType::InnerJoin,
            message_attachments::Entity::belongs_to(messages::Entity)
                .from(message_attachments::Column::MessageId)
                .to(messages::Column::Id)
                .into(),
        )
        .filter(message_attachments::Column::ChatId.eq(chat_id));
    if let Some(kind) = kind {
        select = select.filter(message_attachments::Column::Kind.eq(kind.as_str()));
    }
    if let Some(before) = query.before {
        select = select.filter(message_attachments::Column::Id.lt(before));
    }
    // attachment ids grow with the chat's sequence: a chat's sends are written one
    // after the other, each holding the chat's row
    let rows = select
        .order_by_desc(message_attachments::Column::Id)
        .limit(limit + 1)
        .into_model::<MediaRow>()
        .all(&state.db)
        .await?;
    let has_more = rows.len() as u64 > limit;
    let public_url = state.config.public_url();
    let items: Vec<MediaItem> = rows
        .into_iter()
        .take(limit as usize)
        .map(|row| MediaItem {
            id: row.attachment.id,
            seq: row.seq,
            sender_id: row.sender_id,
            sent_at: row.sent_at,
            attachment: row.attachment.view(&public_url),
        })
        .collect();
    let next = has_more.then(|| items.last().map(|item| item.id)).flatten();
    Ok(Json(MediaPage { items, next }))
}
