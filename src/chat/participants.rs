//! Managing a group: members, roles, its name, and the group itself. Owners and admins
//! add and remove members; only the owner renames, changes roles and deletes the group;
//! anyone may leave. When the owner leaves, the longest-standing admin (else member)
//! becomes owner; the last one out deletes the chat.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::entity::{chat_participants, chats};
use super::live::announce;
use super::model::{ChatRole, ChatType, group_name};
use super::repo::{self, Event, event};
use crate::auth::CurrentUser;
use crate::db::read::{Queries, find_all, find_one};
use crate::db::write::{WriteTx, is_conflict};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// A participant of a chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    pub user_id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    pub role: ChatRole,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddParticipantRequest {
    pub user_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    /// `admin` or `member`.
    pub role: ChatRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameChatRequest {
    /// 1–100 characters.
    pub name: String,
}

fn not_a_group() -> AppError {
    AppError::conflict(
        "not_a_group",
        "a private chat has its two people and no name",
    )
}

fn participant_not_found(user_id: i64) -> AppError {
    AppError::not_found(
        "participant_not_found",
        format!("user {user_id} is not in this chat"),
    )
}

/// The group and my role in it, refusing anyone below `at_least`.
async fn group_for(
    queries: &impl Queries,
    chat_id: i64,
    user_id: i64,
    at_least: ChatRole,
) -> AppResult<(chats::Model, ChatRole)> {
    let (chat, participant) = repo::chat_for(queries, chat_id, user_id).await?;
    if ChatType::parse(&chat.chat_type) != ChatType::Group {
        return Err(not_a_group());
    }
    let role = ChatRole::parse(&participant.role);
    if role < at_least {
        return Err(AppError::forbidden(format!(
            "only the group's {} may do that",
            if at_least == ChatRole::Owner {
                "owner"
            } else {
                "owner and admins"
            }
        )));
    }
    Ok((chat, role))
}

/// The people in a chat.
#[utoipa::path(
    get,
    path = "/api/v1/chats/{id}/participants",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    responses(
        (status = 200, body = Vec<ParticipantView>),
        (status = 404, description = "`chat_not_found`", body = Problem),
    )
)]
pub async fn list_participants(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
) -> AppResult<Json<Vec<ParticipantView>>> {
    repo::chat_for(&state.reader, chat_id, user.user_id).await?;
    let rows = chat_participants::Entity::find()
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .order_by_asc(chat_participants::Column::JoinedAt)
        .order_by_asc(chat_participants::Column::UserId)
        .all(&state.db)
        .await?;
    let members = repo::members(
        &state.reader,
        rows.iter().map(|row| row.user_id),
        &state.config.public_url(),
    )
    .await?;
    Ok(Json(
        rows.into_iter()
            .filter_map(|row| {
                let member = members.get(&row.user_id)?;
                Some(ParticipantView {
                    user_id: row.user_id,
                    username: member.username.clone(),
                    avatar_url: member.avatar_url.clone(),
                    role: ChatRole::parse(&row.role),
                    joined_at: row.joined_at,
                })
            })
            .collect(),
    ))
}

/// Adds a member to a group (owner and admins).
#[utoipa::path(
    post,
    path = "/api/v1/chats/{id}/participants",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    request_body = AddParticipantRequest,
    responses(
        (status = 204, description = "added"),
        (status = 403, body = Problem),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 409, description = "`already_participant` or `not_a_group`", body = Problem),
        (status = 422, description = "no active user with that id", body = Problem),
    )
)]
pub async fn add_participant(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
    Json(request): Json<AddParticipantRequest>,
) -> AppResult<StatusCode> {
    group_for(&state.reader, chat_id, user.user_id, ChatRole::Admin).await?;
    if repo::active_users(&state.reader, &[request.user_id])
        .await?
        .is_empty()
    {
        return Err(AppError::invalid("user_id", "is not an active user"));
    }
    let tx = state.writer.begin().await?;
    // the chat's row first: it orders this change among the chat's others
    let seq = repo::next_seq(&tx, chat_id).await?;
    let inserted = chat_participants::Entity::insert(chat_participants::ActiveModel {
        chat_id: Set(chat_id),
        user_id: Set(request.user_id),
        role: Set(ChatRole::Member.as_str().to_owned()),
        joined_at: Set(Utc::now()),
        joined_seq: Set(seq),
        // what was said before they came is history, not unread
        read_seq: Set(seq),
        delivered_seq: Set(seq),
    })
    .into_query();
    match tx.execute(&inserted).await {
        Ok(_) => {}
        Err(err) if is_conflict(&err) => {
            return Err(AppError::conflict(
                "already_participant",
                format!("user {} is in this chat already", request.user_id),
            ));
        }
        Err(err) => return Err(err),
    }
    let added = Event {
        kind: event::PARTICIPANT_ADDED,
        actor_id: user.user_id,
        message_id: None,
        subject_id: Some(request.user_id),
    };
    repo::insert_event(&tx, chat_id, seq, added).await?;
    tx.commit().await?;
    announce(&state, chat_id, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a member an admin or an admin a member (the owner only).
#[utoipa::path(
    patch,
    path = "/api/v1/chats/{id}/participants/{user_id}",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "chat id"),
        ("user_id" = i64, Path, description = "the participant's user id"),
    ),
    request_body = ChangeRoleRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 403, body = Problem),
        (status = 404, description = "`chat_not_found` or `participant_not_found`", body = Problem),
        (status = 409, description = "`not_a_group`", body = Problem),
        (status = 422, description = "`owner` as the new role, or the owner's own role", body = Problem),
    )
)]
pub async fn change_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((chat_id, user_id)): Path<(i64, i64)>,
    Json(request): Json<ChangeRoleRequest>,
) -> AppResult<StatusCode> {
    group_for(&state.reader, chat_id, user.user_id, ChatRole::Owner).await?;
    if request.role == ChatRole::Owner {
        return Err(AppError::invalid("role", "must be admin or member"));
    }
    if user_id == user.user_id {
        return Err(AppError::invalid("user_id", "is the owner"));
    }
    let tx = state.writer.begin().await?;
    let seq = repo::next_seq(&tx, chat_id).await?;
    let changed = chat_participants::Entity::update_many()
        .col_expr(
            chat_participants::Column::Role,
            Expr::value(request.role.as_str()),
        )
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .filter(chat_participants::Column::UserId.eq(user_id))
        .into_query();
    if tx.execute(&changed).await? == 0 {
        return Err(participant_not_found(user_id));
    }
    let role_changed = Event {
        kind: event::PARTICIPANT_ROLE_CHANGED,
        actor_id: user.user_id,
        message_id: None,
        subject_id: Some(user_id),
    };
    repo::insert_event(&tx, chat_id, seq, role_changed).await?;
    tx.commit().await?;
    announce(&state, chat_id, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes someone from a group, or leaves any chat (my own user id). Owners remove
/// anyone, admins remove members.
#[utoipa::path(
    delete,
    path = "/api/v1/chats/{id}/participants/{user_id}",
    tag = "chat",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "chat id"),
        ("user_id" = i64, Path, description = "the participant's user id, mine to leave"),
    ),
    responses(
        (status = 204, description = "removed, or left"),
        (status = 403, body = Problem),
        (status = 404, description = "`chat_not_found` or `participant_not_found`", body = Problem),
        (status = 409, description = "`not_a_group`: a private chat is not left", body = Problem),
    )
)]
pub async fn remove_participant(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((chat_id, user_id)): Path<(i64, i64)>,
) -> AppResult<StatusCode> {
    let (_, my_role) = group_for(&state.reader, chat_id, user.user_id, ChatRole::Member).await?;
    let tx = state.writer.begin().await?;
    let seq = repo::next_seq(&tx, chat_id).await?;
    let leaving = find_one(
        &tx,
        chat_participants::Entity::find_by_id((chat_id, user_id)),
    )
    .await?
    .ok_or_else(|| participant_not_found(user_id))?;
    let their_role = ChatRole::parse(&leaving.role);
    let allowed = user_id == user.user_id
        || my_role == ChatRole::Owner
        || (my_role == ChatRole::Admin && their_role == ChatRole::Member);
    if !allowed {
        return Err(AppError::forbidden(
            "admins remove members; only the owner removes admins",
        ));
    }
    tx.execute(&chat_participants::Entity::delete_by_id((chat_id, user_id)).into_query())
        .await?;
    let removed = Event {
        kind: event::PARTICIPANT_REMOVED,
        actor_id: user.user_id,
        message_id: None,
        subject_id: Some(user_id),
    };
    repo::insert_event(&tx, chat_id, seq, removed).await?;
    if their_role == ChatRole::Owner {
        pass_ownership(&tx, chat_id, user.user_id).await?;
    }
    tx.commit().await?;
    announce(&state, chat_id, Some(user_id)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// After the owner left: the longest-standing admin, else member, owns the group; with
/// nobody left the chat is deleted.
async fn pass_ownership(tx: &WriteTx<'_>, chat_id: i64, actor_id: i64) -> AppResult<()> {
    let remaining = chat_participants::Entity::find()
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .order_by_asc(chat_participants::Column::JoinedAt)
        .order_by_asc(chat_participants::Column::UserId);
    let remaining = find_all(tx, remaining).await?;
    let heir = remaining
        .iter()
        .find(|row| ChatRole::parse(&row.role) == ChatRole::Admin)
        .or(remaining.first());
    let Some(heir) = heir else {
        tx.execute(&chats::Entity::delete_by_id(chat_id).into_query())
            .await?;
        return Ok(());
    };
    let promote = chat_participants::Entity::update_many()
        .col_expr(
            chat_participants::Column::Role,
            Expr::value(ChatRole::Owner.as_str()),
        )
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .filter(chat_participants::Column::UserId.eq(heir.user_id))
        .into_query();
    tx.execute(&promote).await?;
    let promoted = Event {
        kind: event::PARTICIPANT_ROLE_CHANGED,
        actor_id,
        message_id: None,
        subject_id: Some(heir.user_id),
    };
    repo::log_event(tx, chat_id, promoted).await?;
    Ok(())
}

/// Renames a group (the owner only).
#[utoipa::path(
    patch,
    path = "/api/v1/chats/{id}",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    request_body = RenameChatRequest,
    responses(
        (status = 204, description = "renamed"),
        (status = 403, body = Problem),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 409, description = "`not_a_group`", body = Problem),
        (status = 422, description = "an empty or too long name", body = Problem),
    )
)]
pub async fn rename_chat(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
    Json(request): Json<RenameChatRequest>,
) -> AppResult<StatusCode> {
    let name = group_name(Some(&request.name)).map_err(|err| AppError::Validation(vec![err]))?;
    group_for(&state.reader, chat_id, user.user_id, ChatRole::Owner).await?;
    let tx = state.writer.begin().await?;
    let renamed = Event {
        kind: event::CHAT_UPDATED,
        actor_id: user.user_id,
        message_id: None,
        subject_id: None,
    };
    repo::log_event(&tx, chat_id, renamed).await?;
    let rename = chats::Entity::update_many()
        .col_expr(chats::Column::Name, Expr::value(name))
        .filter(chats::Column::Id.eq(chat_id))
        .into_query();
    tx.execute(&rename).await?;
    tx.commit().await?;
    announce(&state, chat_id, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a group with its messages (the owner only).
#[utoipa::path(
    delete,
    path = "/api/v1/chats/{id}",
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "chat id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, body = Problem),
        (status = 404, description = "`chat_not_found`", body = Problem),
        (status = 409, description = "`not_a_group`", body = Problem),
    )
)]
pub async fn delete_chat(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(chat_id): Path<i64>,
) -> AppResult<StatusCode> {
    group_for(&state.reader, chat_id, user.user_id, ChatRole::Owner).await?;
    let tx = state.writer.begin().await?;
    tx.execute(&chats::Entity::delete_by_id(chat_id).into_query())
        .await?;
    tx.commit().await?;
    // the sockets that have it find the chat gone and say so
    super::live::announce_deleted(&state, chat_id);
    Ok(StatusCode::NO_CONTENT)
}
