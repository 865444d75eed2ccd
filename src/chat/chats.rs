//! Creating chats and listing mine.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::{chat_participants, chats, messages};
use super::live::announce;
use super::model::{ChatRole, ChatType, ChatView, CreateChatRequest, MessagePreview, group_name};
use super::repo;
use crate::auth::CurrentUser;
use crate::db::write::is_conflict;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

fn user_not_found(user_id: i64) -> AppError {
    AppError::not_found(
        "user_not_found",
        format!("no active user with id {user_id}"),
    )
}

/// Starts a chat. A private chat with someone I already have one with returns that one
/// (200), whoever started it; a new chat answers 201.
#[utoipa::path(
    post,
    path = "/api/v1/chats",
    tag = "chat",
    security(("bearer" = [])),
    request_body = CreateChatRequest,
    responses(
        (status = 201, description = "a new chat", body = ChatView),
        (status = 200, description = "the private chat the pair already has", body = ChatView),
        (status = 404, description = "`user_not_found`: the other person of a private chat", body = Problem),
        (status = 422, description = "a missing name, unknown or inactive members, oneself as the other person", body = Problem),
    )
)]
pub async fn create_chat(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(request): Json<CreateChatRequest>,
) -> AppResult<(StatusCode, Json<ChatView>)> {
    let (status, chat) = match request.chat_type {
        ChatType::Private => {
            let other = request.user_id.ok_or_else(|| {
                AppError::invalid("user_id", "a private chat needs the other person's id")
            })?;
            if other == user.user_id {
                return Err(AppError::invalid("user_id", "is yourself"));
            }
            create_private(&state, user.user_id, other).await?
        }
        ChatType::Group => create_group(&state, user.user_id, &request).await?,
    };
    let view = chat_views(&state, user.user_id, vec![chat]).await?;
    let view = view
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("chat view missing")))?;
    Ok((status, Json(view)))
}

async fn create_private(
    state: &AppState,
    me: i64,
    other: i64,
) -> AppResult<(StatusCode, (chats::Model, ChatRole))> {
    let key = repo::private_key(me, other);
    if let Some(chat) = repo::find_private_chat(&state.reader, &key).await? {
        return Ok((StatusCode::OK, (chat, ChatRole::Member)));
    }
    if repo::active_users(&state.reader, &[other])
        .await?
        .is_empty()
    {
        return Err(user_not_found(other));
    }
    let tx = state.writer.begin().await?;
    let participants = [(me, ChatRole::Member), (other, ChatRole::Member)];
    let new = repo::new_chat(ChatType::Private, None, Some(key.clone()), me);
    match repo::insert_chat(&tx, new, &participants, me).await {
        Ok(chat) => {
            tx.commit().await?;
            announce(state, chat.id, None).await;
            Ok((StatusCode::CREATED, (chat, ChatRole::Member)))
        }
        // the other person started it at the same moment
        Err(err) if is_conflict(&err) => {
            let view = tx.after_conflict(&state.reader);
            let chat = repo::find_private_chat(&view, &key).await?;
            view.done().await?;
            let chat = chat.ok_or(err)?;
            Ok((StatusCode::OK, (chat, ChatRole::Member)))
        }
        Err(err) => Err(err),
    }
}

async fn create_group(
    state: &AppState,
    me: i64,
    request: &CreateChatRequest,
) -> AppResult<(StatusCode, (chats::Model, ChatRole))> {
    let mut errors = Vec::new();
    let name = group_name(request.name.as_deref())
        .map_err(|err| errors.push(err))
        .ok();
    let mut members: Vec<i64> = request
        .member_ids
        .iter()
        .copied()
        .filter(|id| *id != me)
        .collect();
    members.sort_unstable();
    members.dedup();
    if members.len() > super::MAX_GROUP_MEMBERS {
        errors.push(FieldError::new(
            "member_ids",
            format!("at most {} members at once", super::MAX_GROUP_MEMBERS),
        ));
    } else {
        let active = repo::active_users(&state.reader, &members).await?;
        let missing: Vec<String> = members
            .iter()
            .filter(|id| !active.contains(id))
            .map(i64::to_string)
            .collect();
        if !missing.is_empty() {
            errors.push(FieldError::new(
                "member_ids",
                format!("no active users with ids {}", missing.join(", ")),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut participants = vec![(me, ChatRole::Owner)];
    participants.extend(members.into_iter().map(|id| (id, ChatRole::Member)));
    let tx = state.writer.begin().await?;
    let chat = repo::insert_chat(
        &tx,
        repo::new_chat(ChatType::Group, name, None, me),
        &participants,
        me,
    )
    .await
    .map_err(|err| match err {
        // a member deleted meanwhile
        AppError::Conflict {
            code: "still_referenced",
            ..
        } => AppError::invalid("member_ids", "a member no longer exists"),
        err => err,
    })?;
    tx.commit().await?;
    announce(state, chat.id, None).await;
    Ok((StatusCode::CREATED, (chat, ChatRole::Owner)))
}

/// A place in my chat list: the last chat's activity time and id.
fn encode_cursor(chat: &chats::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", chat.updated_at.to_rfc3339(), chat.id))
}

fn decode_cursor(cursor: &str) -> AppResult<(DateTime<Utc>, i64)> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (at, id) = text.split_once('|')?;
            Some((
                DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
                id.parse().ok()?,
            ))
        })
        .ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this API"))
}

/// My chats, most recently active first.
#[utoipa::path(
    get,
    path = "/api/v1/chats",
    tag = "chat",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<ChatView>))
)]
pub async fn list_chats(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(page): Query<PageParams>,
) -> AppResult<Json<Page<ChatView>>> {
    let limit = page.limit()?;
    let mut query = chats::Entity::find()
        .join(JoinType::InnerJoin, repo::participation())
        .filter(chat_participants::Column::UserId.eq(user.user_id));
    if let Some(cursor) = page.cursor.as_deref() {
        let (at, id) = decode_cursor(cursor)?;
        query = query.filter(
            Condition::any().add(chats::Column::UpdatedAt.lt(at)).add(
                chats::Column::UpdatedAt
                    .eq(at)
                    .and(chats::Column::Id.lt(id)),
            ),
        );
    }
    let rows = query
        .order_by_desc(chats::Column::UpdatedAt)
        .order_by_desc(chats::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let has_more = rows.len() as u64 > limit;
    let rows: Vec<chats::Model> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = has_more.then(|| rows.last().map(encode_cursor)).flatten();
    let roles = roles_of(
        &state.db,
        user.user_id,
        rows.iter().map(|chat| chat.id).collect(),
    )
    .await?;
    let with_roles = rows
        .into_iter()
        .map(|chat| {
            let role = roles.get(&chat.id).copied().unwrap_or(ChatRole::Member);
            (chat, role)
        })
        .collect();
    Ok(Json(Page {
        items: chat_views(&state, user.user_id, with_roles).await?,
        next_cursor,
    }))
}

/// One of my chats.
#[utoipa::path(
    get,
    path = "/api/v1/chats/{id}",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    responses(
        (status = 200, body = ChatView),
        (status = 404, description = "`chat_not_found`: no such chat, or not one of mine", body = Problem),
    )
)]
pub async fn get_chat(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
) -> AppResult<Json<ChatView>> {
    let (chat, participant) = repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let role = ChatRole::parse(&participant.role);
    let views = chat_views(&state, user.user_id, vec![(chat, role)]).await?;
    views
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| repo::chat_not_found(chat_id))
}

async fn roles_of(
    conn: &impl ConnectionTrait,
    user_id: i64,
    chat_ids: Vec<i64>,
) -> AppResult<HashMap<i64, ChatRole>> {
    let rows: Vec<(i64, String)> = chat_participants::Entity::find()
        .select_only()
        .columns([
            chat_participants::Column::ChatId,
            chat_participants::Column::Role,
        ])
        .filter(chat_participants::Column::UserId.eq(user_id))
        .filter(chat_participants::Column::ChatId.is_in(chat_ids))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(chat_id, role)| (chat_id, ChatRole::parse(&role)))
        .collect())
}

/// Chats as `me` sees them: the other person of private chats, last messages, unread
/// counts; a few queries for the whole page.
async fn chat_views(
    state: &AppState,
    me: i64,
    chats: Vec<(chats::Model, ChatRole)>,
) -> AppResult<Vec<ChatView>> {
    let chat_ids: Vec<i64> = chats.iter().map(|(chat, _)| chat.id).collect();
    let private_ids: Vec<i64> = chats
        .iter()
        .filter(|(chat, _)| chat.chat_type == ChatType::Private.as_str())
        .map(|(chat, _)| chat.id)
        .collect();
    let peers_by_chat: HashMap<i64, i64> = if private_ids.is_empty() {
        HashMap::new()
    } else {
        chat_participants::Entity::find()
            .select_only()
            .columns([
                chat_participants::Column::ChatId,
                chat_participants::Column::UserId,
            ])
            .filter(chat_participants::Column::ChatId.is_in(private_ids))
            .filter(chat_participants::Column::UserId.ne(me))
            .into_tuple::<(i64, i64)>()
            .all(&state.db)
            .await?
            .into_iter()
            .collect()
    };
    let members = repo::members(
        &state.reader,
        peers_by_chat.values().copied(),
        &state.config.public_url(),
    )
    .await?;
    let last_ids: Vec<i64> = chats
        .iter()
        .filter_map(|(chat, _)| chat.last_message_id)
        .collect();
    let last_messages: HashMap<i64, messages::Model> = if last_ids.is_empty() {
        HashMap::new()
    } else {
        messages::Entity::find()
            .filter(messages::Column::Id.is_in(last_ids))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|message| (message.id, message))
            .collect()
    };
    let unread = repo::unread_counts(&state.reader, me, &chat_ids).await?;
    Ok(chats
        .into_iter()
        .map(|(chat, role)| ChatView {
            id: chat.id,
            chat_type: ChatType::parse(&chat.chat_type),
            name: chat.name,
            peer: peers_by_chat
                .get(&chat.id)
                .and_then(|user_id| members.get(user_id))
                .cloned(),
            role,
            last_seq: chat.last_seq,
            last_message: chat
                .last_message_id
                .and_then(|id| last_messages.get(&id))
                .map(MessagePreview::of),
            unread_count: unread.get(&chat.id).copied().unwrap_or(0),
            created_at: chat.created_at,
            updated_at: chat.updated_at,
        })
        .collect())
}
