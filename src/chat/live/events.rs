//! A chat's log as a socket sends it: events after a sequence number, in order, with the
//! messages they concern.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use crate::chat::entity::{chat_events, chats, messages};
use crate::chat::messages::views;
use crate::chat::model::MessageView;
use crate::db::read::{Queries, find_all, find_one};
use crate::error::AppResult;
use crate::state::AppState;

/// Events read per query while catching up.
pub const BATCH: u64 = 100;

/// One event of a chat's log, as sent on a socket (`"type": "event"`).
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveEvent {
    pub chat_id: i64,
    pub seq: i64,
    /// `chat.created`, `chat.updated`, `message.created`, `message.updated`,
    /// `message.deleted`, `participant.added`, `participant.removed`,
    /// `participant.role_changed`.
    pub kind: String,
    pub actor_id: Option<i64>,
    /// The member a participant event is about.
    pub subject_id: Option<i64>,
    /// The message, as it is now, of a message event.
    pub message: Option<MessageView>,
    /// The chat's name now, on `chat.updated`.
    pub name: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub async fn after(
    queries: &impl Queries,
    chat_id: i64,
    seq: i64,
) -> AppResult<Vec<chat_events::Model>> {
    let next = chat_events::Entity::find()
        .filter(chat_events::Column::ChatId.eq(chat_id))
        .filter(chat_events::Column::Seq.gt(seq))
        .order_by_asc(chat_events::Column::Seq)
        .limit(BATCH);
    find_all(queries, next).await
}

/// Events as participants receive them.
pub async fn render(
    state: &AppState,
    chat_id: i64,
    rows: Vec<chat_events::Model>,
) -> AppResult<Vec<LiveEvent>> {
    let message_ids: Vec<i64> = rows.iter().filter_map(|row| row.message_id).collect();
    let messages: HashMap<i64, MessageView> = if message_ids.is_empty() {
        HashMap::new()
    } else {
        let found = find_all(
            &state.reader,
            messages::Entity::find().filter(messages::Column::Id.is_in(message_ids)),
        )
        .await?;
        views(state, chat_id, found)
            .await?
            .into_iter()
            .map(|view| (view.id, view))
            .collect()
    };
    let renamed = rows
        .iter()
        .any(|row| row.kind == crate::chat::repo::event::CHAT_UPDATED);
    let name = if renamed {
        find_one(&state.reader, chats::Entity::find_by_id(chat_id))
            .await?
            .and_then(|chat| chat.name)
    } else {
        None
    };
    Ok(rows
        .into_iter()
        .map(|row| LiveEvent {
            chat_id,
            seq: row.seq,
            message: row.message_id.and_then(|id| messages.get(&id).cloned()),
            name: (row.kind == crate::chat::repo::event::CHAT_UPDATED)
                .then(|| name.clone())
                .flatten(),
            kind: row.kind,
            actor_id: row.actor_id,
            subject_id: row.subject_id,
            at: row.at,
        })
        .collect())
}
