//! The messenger's queries. Every change of a chat takes the chat's next sequence number
//! in the transaction that makes the change, so the log has no gap and no repeat.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, RelationDef,
};

use super::entity::{chat_events, chat_participants, chats, messages};
use super::model::{ChatMember, ChatRole};
use crate::accounts::avatars::file_url;
use crate::accounts::entity::{user_details, users};
use crate::db::read::{Queries, find_all, find_one};
use crate::db::write::WriteTx;
use crate::error::{AppError, AppResult};
use crate::files::entity as files;

/// Kinds of chat log events.
pub mod event {
    pub const CHAT_CREATED: &str = "chat.created";
    pub const CHAT_UPDATED: &str = "chat.updated";
    pub const MESSAGE_CREATED: &str = "message.created";
    pub const MESSAGE_UPDATED: &str = "message.updated";
    pub const MESSAGE_DELETED: &str = "message.deleted";
    pub const PARTICIPANT_ADDED: &str = "participant.added";
    pub const PARTICIPANT_REMOVED: &str = "participant.removed";
    pub const PARTICIPANT_ROLE_CHANGED: &str = "participant.role_changed";
}

pub fn chat_not_found(chat_id: i64) -> AppError {
    AppError::not_found("chat_not_found", format!("no chat with id {chat_id}"))
}

/// The chat and my place in it; a chat I am not in does not exist for me.
pub async fn chat_for(
    queries: &impl Queries,
    chat_id: i64,
    user_id: i64,
) -> AppResult<(chats::Model, chat_participants::Model)> {
    let found = chats::Entity::find_by_id(chat_id)
        .select_also(chat_participants::Entity)
        .join(JoinType::InnerJoin, participation())
        .filter(chat_participants::Column::UserId.eq(user_id))
        .into_query();
    let row = queries
        .one(&found)
        .await?
        .ok_or_else(|| chat_not_found(chat_id))?;
    let chat = row.model::<chats::Entity>("A_")?;
    let participant = row
        .model_optional::<chat_participants::Entity>("B_")?
        .ok_or_else(|| chat_not_found(chat_id))?;
    Ok((chat, participant))
}

/// Takes the chat's next sequence number (and marks the chat active now). Within a
/// transaction this locks the chat's row until commit, so concurrent changes of one chat
/// are numbered one after the other.
pub async fn next_seq(tx: &WriteTx<'_>, chat_id: i64) -> AppResult<i64> {
    take_seq(tx, chat_id, None).await
}

/// `next_seq` for a change that `user_id` may make only while in the chat: checked in
/// the same statement, so a member removed a moment ago cannot slip one in.
pub async fn next_seq_as_member(tx: &WriteTx<'_>, chat_id: i64, user_id: i64) -> AppResult<i64> {
    take_seq(tx, chat_id, Some(user_id)).await
}

async fn take_seq(tx: &WriteTx<'_>, chat_id: i64, member: Option<i64>) -> AppResult<i64> {
    let mut statement = Query::update()
        .table(chats::Entity)
        .value(
            chats::Column::LastSeq,
            Expr::col(chats::Column::LastSeq).add(1),
        )
        .value(chats::Column::UpdatedAt, Utc::now())
        .and_where(Expr::col(chats::Column::Id).eq(chat_id))
        .returning_col(chats::Column::LastSeq)
        .to_owned();
    if let Some(user_id) = member {
        let participant = Query::select()
            .expr(Expr::cust("1"))
            .from(chat_participants::Entity)
            .and_where(chat_participants::Column::ChatId.eq(chat_id))
            .and_where(chat_participants::Column::UserId.eq(user_id))
            .to_owned();
        statement.and_where(Expr::exists(participant));
    }
    let row = tx
        .one(&statement)
        .await?
        .ok_or_else(|| chat_not_found(chat_id))?;
    row.get("last_seq")
}

/// An event of a chat's log: what happened, who did it, to which message or member.
pub struct Event<'a> {
    pub kind: &'a str,
    pub actor_id: i64,
    pub message_id: Option<i64>,
    pub subject_id: Option<i64>,
}

/// Writes one event of the log under a sequence number taken by `next_seq`.
pub async fn insert_event(
    tx: &WriteTx<'_>,
    chat_id: i64,
    seq: i64,
    event: Event<'_>,
) -> AppResult<()> {
    let insert = chat_events::Entity::insert(chat_events::ActiveModel {
        chat_id: Set(chat_id),
        seq: Set(seq),
        kind: Set(event.kind.to_owned()),
        message_id: Set(event.message_id),
        actor_id: Set(Some(event.actor_id)),
        subject_id: Set(event.subject_id),
        at: Set(Utc::now()),
    })
    .into_query();
    tx.execute(&insert).await?;
    Ok(())
}

/// Takes the next sequence number and logs `event` under it.
pub async fn log_event(tx: &WriteTx<'_>, chat_id: i64, event: Event<'_>) -> AppResult<i64> {
    let seq = next_seq(tx, chat_id).await?;
    insert_event(tx, chat_id, seq, event).await?;
    Ok(seq)
}

/// Creates a chat with its participants and its first event.
pub async fn insert_chat(
    tx: &WriteTx<'_>,
    chat: chats::ActiveModel,
    participants: &[(i64, ChatRole)],
    creator: i64,
) -> AppResult<chats::Model> {
    let mut insert = chats::Entity::insert(chat).into_query();
    insert.returning_all();
    let chat = tx
        .one(&insert)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the new chat was not returned")))?
        .model::<chats::Entity>("")?;
    let now = Utc::now();
    let rows = participants
        .iter()
        .map(|(user_id, role)| chat_participants::ActiveModel {
            chat_id: Set(chat.id),
            user_id: Set(*user_id),
            role: Set(role.as_str().to_owned()),
            joined_at: Set(now),
            joined_seq: Set(1),
            read_seq: Set(0),
            delivered_seq: Set(0),
        });
    tx.execute(&chat_participants::Entity::insert_many(rows).into_query())
        .await?;
    let first_seq = chats::Entity::update_many()
        .col_expr(chats::Column::LastSeq, Expr::value(1))
        .filter(chats::Column::Id.eq(chat.id))
        .into_query();
    tx.execute(&first_seq).await?;
    let created = Event {
        kind: event::CHAT_CREATED,
        actor_id: creator,
        message_id: None,
        subject_id: None,
    };
    insert_event(tx, chat.id, 1, created).await?;
    Ok(chats::Model {
        last_seq: 1,
        ..chat
    })
}

pub fn new_chat(
    chat_type: super::model::ChatType,
    name: Option<String>,
    private_key: Option<String>,
    creator: i64,
) -> chats::ActiveModel {
    let now = Utc::now();
    chats::ActiveModel {
        id: NotSet,
        chat_type: Set(chat_type.as_str().to_owned()),
        name: Set(name),
        private_key: Set(private_key),
        created_by: Set(Some(creator)),
        created_at: Set(now),
        updated_at: Set(now),
        last_seq: Set(0),
        last_message_id: Set(None),
    }
}

/// The key that makes a pair's private chat unique, whoever started it.
pub fn private_key(a: i64, b: i64) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

pub async fn find_private_chat(
    queries: &impl Queries,
    key: &str,
) -> AppResult<Option<chats::Model>> {
    find_one(
        queries,
        chats::Entity::find().filter(chats::Column::PrivateKey.eq(key)),
    )
    .await
}

/// The ids among `user_ids` of active members.
pub async fn active_users(queries: &impl Queries, user_ids: &[i64]) -> AppResult<Vec<i64>> {
    let active = users::Entity::find()
        .select_only()
        .column(users::Column::UserId)
        .filter(users::Column::UserId.is_in(user_ids.iter().copied()))
        .filter(users::Column::IsActive.eq(true))
        .into_query();
    user_ids_of(queries.all(&active).await?)
}

fn user_ids_of(rows: Vec<crate::db::read::Row>) -> AppResult<Vec<i64>> {
    rows.iter().map(|row| row.get("user_id")).collect()
}

/// Members as chat lists show them, by id.
pub async fn members(
    queries: &impl Queries,
    user_ids: impl IntoIterator<Item = i64>,
    public_url: &str,
) -> AppResult<HashMap<i64, ChatMember>> {
    let ids: Vec<i64> = user_ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let statement = Query::select()
        .column((users::Entity, users::Column::UserId))
        .column((users::Entity, users::Column::Username))
        .expr_as(
            Expr::col((files::Entity, files::Column::Uid)),
            sea_orm::sea_query::Alias::new("avatar_uid"),
        )
        .from(users::Entity)
        .left_join(
            user_details::Entity,
            Expr::col((user_details::Entity, user_details::Column::UserId))
                .equals((users::Entity, users::Column::UserId)),
        )
        .left_join(
            files::Entity,
            Expr::col((files::Entity, files::Column::FileId))
                .equals((user_details::Entity, user_details::Column::ProfileImageId)),
        )
        .and_where(Expr::col((users::Entity, users::Column::UserId)).is_in(ids))
        .to_owned();
    queries
        .all(&statement)
        .await?
        .iter()
        .map(|row| {
            let user_id: i64 = row.get("user_id")?;
            let avatar_uid: Option<String> = row.get("avatar_uid")?;
            let member = ChatMember {
                user_id,
                username: row.get("username")?,
                avatar_url: avatar_uid.map(|uid| file_url(public_url, &uid)),
            };
            Ok((user_id, member))
        })
        .collect()
}

/// Unread counts of `user_id` in these chats: live messages after their watermark that
/// they did not send. Computed from the messages each time, so it cannot drift.
pub async fn unread_counts(
    queries: &impl Queries,
    user_id: i64,
    chat_ids: &[i64],
) -> AppResult<HashMap<i64, i64>> {
    if chat_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let statement = Query::select()
        .column((messages::Entity, messages::Column::ChatId))
        .expr_as(
            Expr::col((messages::Entity, messages::Column::Id)).count(),
            sea_orm::sea_query::Alias::new("unread"),
        )
        .from(messages::Entity)
        .inner_join(
            chat_participants::Entity,
            Expr::col((chat_participants::Entity, chat_participants::Column::ChatId))
                .equals((messages::Entity, messages::Column::ChatId))
                .and(
                    Expr::col((chat_participants::Entity, chat_participants::Column::UserId))
                        .eq(user_id),
                ),
        )
        .and_where(
            Expr::col((messages::Entity, messages::Column::ChatId)).is_in(chat_ids.iter().copied()),
        )
        .and_where(
            Expr::col((messages::Entity, messages::Column::Seq)).gt(Expr::col((
                chat_participants::Entity,
                chat_participants::Column::ReadSeq,
            ))),
        )
        .and_where(Expr::col((messages::Entity, messages::Column::DeletedAt)).is_null())
        .and_where(
            Expr::col((messages::Entity, messages::Column::SenderId))
                .is_null()
                .or(Expr::col((messages::Entity, messages::Column::SenderId)).ne(user_id)),
        )
        .group_by_col((messages::Entity, messages::Column::ChatId))
        .to_owned();
    queries
        .all(&statement)
        .await?
        .iter()
        .map(|row| Ok((row.get("chat_id")?, row.get("unread")?)))
        .collect()
}

/// Every participant's read and delivered watermarks.
pub async fn watermarks(queries: &impl Queries, chat_id: i64) -> AppResult<Vec<(i64, i64, i64)>> {
    let statement = chat_participants::Entity::find()
        .select_only()
        .columns([
            chat_participants::Column::UserId,
            chat_participants::Column::ReadSeq,
            chat_participants::Column::DeliveredSeq,
        ])
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .into_query();
    queries
        .all(&statement)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.get("user_id")?,
                row.get("read_seq")?,
                row.get("delivered_seq")?,
            ))
        })
        .collect()
}

/// Moves a participant's watermarks forward, never back; whether either moved.
pub async fn advance_watermarks(
    tx: &WriteTx<'_>,
    chat_id: i64,
    user_id: i64,
    read_seq: Option<i64>,
    delivered_seq: i64,
) -> AppResult<bool> {
    use chat_participants::Column::{DeliveredSeq, ReadSeq};
    let forward = |column: chat_participants::Column, seq: i64| {
        Expr::case(Expr::col(column).lt(seq), seq).finally(Expr::col(column))
    };
    let mut update = chat_participants::Entity::update_many()
        .col_expr(DeliveredSeq, forward(DeliveredSeq, delivered_seq).into())
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .filter(chat_participants::Column::UserId.eq(user_id));
    let mut behind = Condition::any().add(DeliveredSeq.lt(delivered_seq));
    if let Some(read_seq) = read_seq {
        update = update.col_expr(ReadSeq, forward(ReadSeq, read_seq).into());
        behind = behind.add(ReadSeq.lt(read_seq));
    }
    Ok(tx.execute(&update.filter(behind).into_query()).await? > 0)
}

/// The message a sender sent with this nonce in this chat, if any.
pub async fn find_by_client_id(
    queries: &impl Queries,
    chat_id: i64,
    sender_id: i64,
    client_id: &str,
) -> AppResult<Option<messages::Model>> {
    let sent = messages::Entity::find()
        .filter(messages::Column::ChatId.eq(chat_id))
        .filter(messages::Column::SenderId.eq(sender_id))
        .filter(messages::Column::ClientId.eq(client_id));
    find_one(queries, sent).await
}

pub async fn find_message_by_seq(
    queries: &impl Queries,
    chat_id: i64,
    seq: i64,
) -> AppResult<Option<messages::Model>> {
    let found = messages::Entity::find()
        .filter(messages::Column::ChatId.eq(chat_id))
        .filter(messages::Column::Seq.eq(seq));
    find_one(queries, found).await
}

/// Messages by id (the ones replies answer).
pub async fn messages_by_id(
    queries: &impl Queries,
    message_ids: Vec<i64>,
) -> AppResult<HashMap<i64, messages::Model>> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = find_all(
        queries,
        messages::Entity::find().filter(messages::Column::Id.is_in(message_ids)),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|message| (message.id, message))
        .collect())
}

/// A page of a chat's messages: before `before` newest first, or after `after` oldest
/// first.
pub async fn history(
    queries: &impl Queries,
    chat_id: i64,
    before: Option<i64>,
    after: Option<i64>,
    limit: u64,
) -> AppResult<Vec<messages::Model>> {
    let mut query = messages::Entity::find().filter(messages::Column::ChatId.eq(chat_id));
    query = match (after, before) {
        (Some(after), _) => query
            .filter(messages::Column::Seq.gt(after))
            .order_by_asc(messages::Column::Seq),
        (None, Some(before)) => query
            .filter(messages::Column::Seq.lt(before))
            .order_by_desc(messages::Column::Seq),
        (None, None) => query.order_by_desc(messages::Column::Seq),
    };
    find_all(queries, query.limit(limit)).await
}

/// Everyone in a chat.
pub async fn participant_ids(queries: &impl Queries, chat_id: i64) -> AppResult<Vec<i64>> {
    let statement = chat_participants::Entity::find()
        .select_only()
        .column(chat_participants::Column::UserId)
        .filter(chat_participants::Column::ChatId.eq(chat_id))
        .into_query();
    user_ids_of(queries.all(&statement).await?)
}

/// My place in a chat as a socket needs it: where I joined, and where the log is now.
pub async fn membership(
    queries: &impl Queries,
    chat_id: i64,
    user_id: i64,
) -> AppResult<Option<(i64, i64)>> {
    match chat_for(queries, chat_id, user_id).await {
        Ok((chat, participant)) => Ok(Some((participant.joined_seq, chat.last_seq))),
        Err(AppError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The latest sequence number of each of my chats.
pub async fn my_chat_seqs(queries: &impl Queries, user_id: i64) -> AppResult<HashMap<i64, i64>> {
    let statement = chats::Entity::find()
        .select_only()
        .columns([chats::Column::Id, chats::Column::LastSeq])
        .join(JoinType::InnerJoin, participation())
        .filter(chat_participants::Column::UserId.eq(user_id))
        .into_query();
    queries
        .all(&statement)
        .await?
        .iter()
        .map(|row| Ok((row.get("id")?, row.get("last_seq")?)))
        .collect()
}

/// Chats joined with their participants' rows.
pub fn participation() -> RelationDef {
    chats::Entity::belongs_to(chat_participants::Entity)
        .from(chats::Column::Id)
        .to(chat_participants::Column::ChatId)
        .into()
}
