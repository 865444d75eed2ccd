//! Chats in real time over a WebSocket (`GET /api/v1/ws`). A change of a chat is
//! announced to the sockets of its participants only as "chat N changed"; each socket
//! then reads, from the database, the chat's events after the last one it sent. So what
//! a socket sends is the log itself, in order, without gaps or repeats, however the
//! announcements are delayed, merged or lost, and a client that reconnects resumes by
//! saying which sequence number it has seen in each chat.
//!
//! Announcements travel as bus notices (`crate::bus`), so a change made through one
//! server process reaches the sockets of every process; `relay` turns the notices into
//! signals for this process's sockets.

pub mod events;
mod feed;
pub mod hub;
pub mod presence;
pub mod presence_fanout;
mod protocol;
pub mod relay;
pub mod socket;

pub use hub::Hub;

use sea_orm::EntityTrait;

use crate::bus::Notice;
use crate::state::AppState;

/// Tells the other participants that `user_id`'s watermarks in a chat moved.
pub async fn announce_receipt(state: &AppState, chat_id: i64, user_id: i64) {
    // my row only: reading every participant's made each receipt cost the chat's size
    let mine = crate::db::read::find_one(
        &state.reader,
        super::entity::chat_participants::Entity::find_by_id((chat_id, user_id)),
    )
    .await;
    match mine {
        Ok(Some(participant)) => state.bus.publish(Notice::Receipt {
            chat_id,
            user_id,
            read_seq: participant.read_seq,
            delivered_seq: participant.delivered_seq,
        }),
        Ok(None) => {}
        Err(err) => tracing::warn!(chat_id, error = %err, "could not announce a receipt"),
    }
}

/// Announces, after its transaction committed, that a chat changed: to its participants
/// and to `also` (someone who just left or was removed).
pub async fn announce(state: &AppState, chat_id: i64, also: Option<i64>) {
    state.bus.publish(Notice::ChatChanged { chat_id, also });
}

/// Announces, after it was deleted, that a chat is gone.
pub fn announce_deleted(state: &AppState, chat_id: i64) {
    state.bus.publish(Notice::ChatDeleted { chat_id });
}
