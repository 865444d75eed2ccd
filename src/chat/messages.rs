//! Sending messages, reading history, and the read watermark.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::attachments;
use super::entity::{chats, messages};
use super::live::{announce, announce_receipt};
use super::model::{
    AttachmentView, ChatRole, ChatType, HistoryPage, HistoryQuery, MessagePreview, MessageStatus,
    MessageView, ReadRequest, Receipt, SendMessageRequest, client_id, message_content,
    message_text,
};
use super::repo::{self, Event, event};
use super::search::{self, Before};
use crate::auth::CurrentUser;
use crate::db::read::Queries;
use crate::db::write::is_conflict;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::checked_limit;
use crate::state::AppState;

const SEND_BURST_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);
const SEND_RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Messages per history page unless asked otherwise.
const DEFAULT_HISTORY: u64 = 50;

/// Sends a message: text, up to 10 files (mine or public; the chat's participants may
/// then read them), or both. Sending again with the same `client_id` returns the first
/// message (200) instead of a second one.
#[utoipa::path(
    post,
    path = "/api/v1/chats/{id}/messages",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "sent", body = MessageView),
        (status = 200, description = "sent before with this `client_id`", body = MessageView),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 422, description = "empty or too long text, more than 10 or repeated `attachments`, a file I may not attach, a bad `client_id` or `reply_to`", body = Problem),
        (status = 429, description = "`rate_limited`: too many messages; see `Retry-After`", body = Problem),
    )
)]
pub async fn send_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
    Json(request): Json<SendMessageRequest>,
) -> AppResult<(StatusCode, Json<MessageView>)> {
    let text = message_content(&request.text, &request.attachments)?;
    let nonce = client_id(request.client_id)?;
    // a burst, then a steady rate
    let limits = [
        ("burst", state.config.chat_send_burst, SEND_BURST_WINDOW),
        (
            "minute",
            state.config.chat_send_per_minute,
            SEND_RATE_WINDOW,
        ),
    ];
    for (name, limit, window) in limits {
        let key = format!("chat-send:{name}:{}", user.user_id);
        state.rate_limiter.hit(&key, limit, window).await?;
    }
    // A send naming files or a message is checked against them here, so it first looks
    // for an earlier try: they may have changed since. A plain send learns that it is a
    // retry from its insert, and that the chat is mine from its sequence number.
    if !request.attachments.is_empty() || request.reply_to.is_some() {
        repo::chat_for(&state.reader, chat_id, user.user_id).await?;
        if let Some(nonce) = &nonce
            && let Some(sent) =
                repo::find_by_client_id(&state.reader, chat_id, user.user_id, nonce).await?
        {
            return Ok((StatusCode::OK, Json(view_of(&state, sent).await?)));
        }
    }
    let files = attachments::attachable(&state.reader, user.user_id, &request.attachments).await?;
    let answered = match request.reply_to {
        Some(seq) => Some(
            repo::find_message_by_seq(&state.reader, chat_id, seq)
                .await?
                .ok_or_else(|| AppError::invalid("reply_to", "is not a message of this chat"))?,
        ),
        None => None,
    };
    let reply_to_id = answered.as_ref().map(|message| message.id);
    let tx = state.writer.begin().await?;
    let seq = match repo::next_seq_as_member(&tx, chat_id, user.user_id).await {
        Ok(seq) => seq,
        Err(err) => {
            tx.roll_back().await?;
            return Err(err);
        }
    };
    let mut insert = messages::Entity::insert(messages::ActiveModel {
        id: NotSet,
        chat_id: Set(chat_id),
        seq: Set(seq),
        sender_id: Set(Some(user.user_id)),
        client_id: Set(nonce.clone()),
        text: Set(text),
        reply_to_id: Set(reply_to_id),
        sent_at: Set(Utc::now()),
        edited_at: Set(None),
        deleted_at: Set(None),
    })
    .into_query();
    insert.returning_all();
    let message = match tx.one(&insert).await {
        Ok(Some(row)) => row.model::<messages::Entity>("")?,
        Ok(None) => {
            return Err(AppError::internal(anyhow::anyhow!(
                "the new message was not returned"
            )));
        }
        // the same send, retried while the first was being written
        Err(err) if is_conflict(&err) && nonce.is_some() => {
            let view = tx.after_conflict(&state.reader);
            let sent = repo::find_by_client_id(
                &view,
                chat_id,
                user.user_id,
                nonce.as_deref().unwrap_or_default(),
            )
            .await?;
            view.done().await?;
            let sent = sent.ok_or(err)?;
            return Ok((StatusCode::OK, Json(view_of(&state, sent).await?)));
        }
        Err(err) => return Err(err),
    };
    let created = Event {
        kind: event::MESSAGE_CREATED,
        actor_id: user.user_id,
        message_id: Some(message.id),
        subject_id: None,
    };
    repo::insert_event(&tx, chat_id, seq, created).await?;
    attachments::attach(&tx, chat_id, message.id, &files).await?;
    search::index(&tx, &message).await?;
    let last = chats::Entity::update_many()
        .col_expr(chats::Column::LastMessageId, Expr::value(message.id))
        .filter(chats::Column::Id.eq(chat_id))
        .into_query();
    tx.execute(&last).await?;
    // sending means having seen the chat up to here
    repo::advance_watermarks(&tx, chat_id, user.user_id, Some(seq), seq).await?;
    tx.commit().await?;
    announce(&state, chat_id, None).await;
    let files = if files.is_empty() {
        HashMap::new()
    } else {
        attachments::views_of(&state.reader, vec![message.id], &state.config.public_url()).await?
    };
    let replies = answered.map(|m| (m.id, m)).into_iter().collect();
    // its recipients cannot have had it before this answer: it is `sent`, receipts follow
    // as events
    let view = assemble(vec![message], &[], &replies, files)
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("message view missing")))?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn view_of(state: &AppState, message: messages::Model) -> AppResult<MessageView> {
    let chat_id = message.chat_id;
    let mut views = views(state, chat_id, vec![message]).await?;
    views
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("message view missing")))
}

/// Messages of several chats as shown to a participant, in the order given.
pub(super) async fn views_across(
    state: &AppState,
    rows: Vec<messages::Model>,
) -> AppResult<Vec<MessageView>> {
    let order: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let mut by_chat: std::collections::BTreeMap<i64, Vec<messages::Model>> = Default::default();
    for row in rows {
        by_chat.entry(row.chat_id).or_default().push(row);
    }
    let mut found = std::collections::HashMap::new();
    for (chat_id, rows) in by_chat {
        for view in views(state, chat_id, rows).await? {
            found.insert(view.id, view);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| found.remove(&id))
        .collect())
}

/// How far a message has gone among the participants other than its sender.
fn progress(
    watermarks: &[(i64, i64, i64)],
    message: &messages::Model,
) -> (MessageStatus, usize, usize) {
    let recipients: Vec<&(i64, i64, i64)> = watermarks
        .iter()
        .filter(|(user_id, _, _)| Some(*user_id) != message.sender_id)
        .collect();
    let read_by = recipients
        .iter()
        .filter(|(_, read, _)| *read >= message.seq)
        .count();
    let delivered_to = recipients
        .iter()
        .filter(|(_, _, delivered)| *delivered >= message.seq)
        .count();
    let status = if recipients.is_empty() {
        MessageStatus::Sent
    } else if read_by == recipients.len() {
        MessageStatus::Read
    } else if delivered_to == recipients.len() {
        MessageStatus::Delivered
    } else {
        MessageStatus::Sent
    };
    (status, delivered_to, read_by)
}

/// Messages as shown to a participant, with their files, what they answer, and how far
/// each has gone among the people it was sent to.
pub(super) async fn views(
    state: &AppState,
    chat_id: i64,
    rows: Vec<messages::Model>,
) -> AppResult<Vec<MessageView>> {
    let watermarks = repo::watermarks(&state.reader, chat_id).await?;
    let replies = repo::messages_by_id(
        &state.reader,
        rows.iter().filter_map(|m| m.reply_to_id).collect(),
    )
    .await?;
    let files = attachments::views_of(
        &state.reader,
        rows.iter().map(|m| m.id).collect(),
        &state.config.public_url(),
    )
    .await?;
    Ok(assemble(rows, &watermarks, &replies, files))
}

/// The views of `rows` from what was read about them.
fn assemble(
    rows: Vec<messages::Model>,
    watermarks: &[(i64, i64, i64)],
    replies: &HashMap<i64, messages::Model>,
    mut files: HashMap<i64, Vec<AttachmentView>>,
) -> Vec<MessageView> {
    rows.into_iter()
        .map(|message| {
            let (status, delivered_to, read_by) = progress(watermarks, &message);
            let deleted = message.deleted_at.is_some();
            let reply = message.reply_to_id.and_then(|id| replies.get(&id));
            MessageView {
                id: message.id,
                chat_id: message.chat_id,
                seq: message.seq,
                sender_id: message.sender_id,
                client_id: message.client_id,
                text: if deleted { String::new() } else { message.text },
                reply_to: reply.map(|answered| answered.seq),
                reply_preview: reply.map(MessagePreview::of),
                attachments: files.remove(&message.id).unwrap_or_default(),
                sent_at: message.sent_at,
                edited_at: message.edited_at,
                deleted,
                status,
                delivered_to,
                read_by,
            }
        })
        .collect()
}

/// A page of a chat's messages: newest first (`before`, the default) or oldest first
/// (`after`). Fetching them counts as their delivery to me.
#[utoipa::path(
    get,
    path = "/api/v1/chats/{id}/messages",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id"), HistoryQuery),
    responses(
        (status = 200, body = HistoryPage),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 422, description = "bad `limit`, or both `before` and `after`", body = Problem),
    )
)]
pub async fn list_messages(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
    Query(query): Query<HistoryQuery>,
) -> AppResult<Json<HistoryPage>> {
    let limit = checked_limit(query.limit, DEFAULT_HISTORY)?;
    if query.before.is_some() && query.after.is_some() {
        return Err(AppError::invalid("after", "cannot be given with before"));
    }
    let (_, me) = repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let rows = match query.q.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(q) => {
            if query.after.is_some() {
                return Err(AppError::invalid("after", "cannot be given with q"));
            }
            let words = search::search_words(q)?;
            let before = query.before.map_or(Before::Nothing, Before::Seq);
            search::find(
                &state.reader,
                user.user_id,
                Some(chat_id),
                &words,
                before,
                limit + 1,
            )
            .await?
        }
        None => repo::history(&state.reader, chat_id, query.before, query.after, limit + 1).await?,
    };
    let has_more = rows.len() as u64 > limit;
    let rows: Vec<messages::Model> = rows.into_iter().take(limit as usize).collect();
    let next = has_more.then(|| rows.last().map(|m| m.seq)).flatten();
    // written only when it moves: a write waits for SQLite's one writer
    if let Some(newest) = rows.iter().map(|m| m.seq).max()
        && newest > me.delivered_seq
        && advance(&state, chat_id, user.user_id, None, newest).await?
    {
        announce_receipt(&state, chat_id, user.user_id).await;
    }
    Ok(Json(HistoryPage {
        items: views(&state, chat_id, rows).await?,
        next,
    }))
}

/// Moves a participant's watermarks forward in a transaction of its own; whether either
/// moved.
pub(super) async fn advance(
    state: &AppState,
    chat_id: i64,
    user_id: i64,
    read_seq: Option<i64>,
    delivered_seq: i64,
) -> AppResult<bool> {
    let tx = state.writer.begin().await?;
    let moved = repo::advance_watermarks(&tx, chat_id, user_id, read_seq, delivered_seq).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Moves my read watermark to `seq`; an older one than I have changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/chats/{id}/read",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    request_body = ReadRequest,
    responses(
        (status = 204, description = "read up to `seq`"),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 422, description = "`seq` below 0 or beyond the chat's last event", body = Problem),
    )
)]
pub async fn mark_read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
    Json(request): Json<ReadRequest>,
) -> AppResult<StatusCode> {
    let (chat, _) = repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    if !(0..=chat.last_seq).contains(&request.seq) {
        return Err(AppError::invalid(
            "seq",
            format!("must be between 0 and {}", chat.last_seq),
        ));
    }
    let moved = advance(
        &state,
        chat_id,
        user.user_id,
        Some(request.seq),
        request.seq,
    )
    .await?;
    if moved {
        announce_receipt(&state, chat_id, user.user_id).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    /// 1–4,000 characters after trimming.
    pub text: String,
}

fn message_not_found(seq: i64) -> AppError {
    AppError::not_found(
        "message_not_found",
        format!("no message with seq {seq} here"),
    )
}

/// Changes the text of one of my messages.
#[utoipa::path(
    patch,
    path = "/api/v1/chats/{id}/messages/{seq}",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "chat id"),
        ("seq" = i64, Path, description = "the message's sequence number"),
    ),
    request_body = EditMessageRequest,
    responses(
        (status = 200, body = MessageView),
        (status = 403, description = "not my message", body = Problem),
        (status = 404, description = "`chat_not_found` or `message_not_found` (deleted ones too)", body = Problem),
        (status = 422, description = "empty or too long text", body = Problem),
    )
)]
pub async fn edit_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((chat_id, seq)): Path<(i64, i64)>,
    Json(request): Json<EditMessageRequest>,
) -> AppResult<Json<MessageView>> {
    let text = message_text(&request.text)?;
    repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let tx = state.writer.begin().await?;
    let event_seq = repo::next_seq(&tx, chat_id).await?;
    let message = repo::find_message_by_seq(&tx, chat_id, seq)
        .await?
        .filter(|message| message.deleted_at.is_none())
        .ok_or_else(|| message_not_found(seq))?;
    if message.sender_id != Some(user.user_id) {
        return Err(AppError::forbidden("only its sender edits a message"));
    }
    let mut edit = messages::Entity::update_many()
        .col_expr(messages::Column::Text, Expr::value(text))
        .col_expr(messages::Column::EditedAt, Expr::value(Utc::now()))
        .filter(messages::Column::Id.eq(message.id))
        .into_query();
    edit.returning_all();
    let message = tx
        .one(&edit)
        .await?
        .ok_or_else(|| message_not_found(seq))?
        .model::<messages::Entity>("")?;
    search::unindex(&tx, message.id).await?;
    search::index(&tx, &message).await?;
    let updated = Event {
        kind: event::MESSAGE_UPDATED,
        actor_id: user.user_id,
        message_id: Some(message.id),
        subject_id: None,
    };
    repo::insert_event(&tx, chat_id, event_seq, updated).await?;
    tx.commit().await?;
    announce(&state, chat_id, None).await;
    Ok(Json(view_of(&state, message).await?))
}

/// Deletes a message: its text and files go (nobody reads them through the chat any
/// more), its place in the history stays. Senders delete
/// their own; a group's owner and admins delete anyone's. Deleting it again changes
/// nothing.
#[utoipa::path(
    delete,
    path = "/api/v1/chats/{id}/messages/{seq}",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "chat id"),
        ("seq" = i64, Path, description = "the message's sequence number"),
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "not my message, and I do not run the group", body = Problem),
        (status = 404, description = "`chat_not_found` or `message_not_found`", body = Problem),
    )
)]
pub async fn delete_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((chat_id, seq)): Path<(i64, i64)>,
) -> AppResult<StatusCode> {
    let (chat, me) = repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let message = repo::find_message_by_seq(&state.reader, chat_id, seq)
        .await?
        .ok_or_else(|| message_not_found(seq))?;
    let runs_group = ChatType::parse(&chat.chat_type) == ChatType::Group
        && ChatRole::parse(&me.role) >= ChatRole::Admin;
    if message.sender_id != Some(user.user_id) && !runs_group {
        return Err(AppError::forbidden(
            "only its sender or the group's owner and admins delete a message",
        ));
    }
    let tx = state.writer.begin().await?;
    let event_seq = repo::next_seq(&tx, chat_id).await?;
    let delete = messages::Entity::update_many()
        .col_expr(messages::Column::Text, Expr::value(""))
        .col_expr(messages::Column::DeletedAt, Expr::value(Utc::now()))
        .filter(messages::Column::Id.eq(message.id))
        .filter(messages::Column::DeletedAt.is_null())
        .into_query();
    if tx.execute(&delete).await? == 0 {
        // deleted already: no new event (dropping the transaction rolls it back)
        return Ok(StatusCode::NO_CONTENT);
    }
    let gone = Event {
        kind: event::MESSAGE_DELETED,
        actor_id: user.user_id,
        message_id: Some(message.id),
        subject_id: None,
    };
    repo::insert_event(&tx, chat_id, event_seq, gone).await?;
    search::unindex(&tx, message.id).await?;
    attachments::detach(&tx, message.id).await?;
    tx.commit().await?;
    announce(&state, chat_id, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Who among the others has received and read a message (participants only).
#[utoipa::path(
    get,
    path = "/api/v1/chats/{id}/messages/{seq}/receipts",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "chat id"),
        ("seq" = i64, Path, description = "the message's sequence number"),
    ),
    responses(
        (status = 200, body = Vec<Receipt>),
        (status = 404, description = "`chat_not_found` or `message_not_found`", body = Problem),
    )
)]
pub async fn receipts(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((chat_id, seq)): Path<(i64, i64)>,
) -> AppResult<Json<Vec<Receipt>>> {
    repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let message = repo::find_message_by_seq(&state.reader, chat_id, seq)
        .await?
        .ok_or_else(|| message_not_found(seq))?;
    let others: Vec<(i64, i64, i64)> = repo::watermarks(&state.reader, chat_id)
        .await?
        .into_iter()
        .filter(|(user_id, _, _)| Some(*user_id) != message.sender_id)
        .collect();
    let members = repo::members(
        &state.reader,
        others.iter().map(|(user_id, _, _)| *user_id),
        &state.config.public_url(),
    )
    .await?;
    Ok(Json(
        others
            .into_iter()
            .filter_map(|(user_id, read_seq, delivered_seq)| {
                let member = members.get(&user_id)?;
                Some(Receipt {
                    user_id,
                    username: member.username.clone(),
                    avatar_url: member.avatar_url.clone(),
                    delivered: delivered_seq >= seq,
                    read: read_seq >= seq,
                })
            })
            .collect(),
    ))
}
