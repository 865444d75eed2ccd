//! Chats in real time over a WebSocket (`GET /api/v1/ws`). A change of a chat is
//! announced to the sockets of its participants only as "chat N changed"; each socket
//! then reads, from the database, the chat's events after the last one it sent. So what
//! a socket sends is the log itself, in order, without gaps or repeats, however the
//! announcements are delayed, merged or lost, and a client that reconnects resumes by
//! saying which sequence number it has seen in each chat.

pub mod events;
pub mod hub;
pub mod socket;

pub use hub::Hub;

use crate::state::AppState;

/// Tells the other participants that `user_id`'s watermarks in a chat moved.
pub async fn announce_receipt(state: &AppState, chat_id: i64, user_id: i64) {
    let found = super::repo::watermarks(&state.db, chat_id).await;
    match found {
        Ok(watermarks) => {
            let Some((_, read_seq, delivered_seq)) =
                watermarks.iter().find(|(id, _, _)| *id == user_id).copied()
            else {
                return;
            };
            let others: Vec<i64> = watermarks
                .iter()
                .map(|(id, _, _)| *id)
                .filter(|id| *id != user_id)
                .collect();
            let receipt = hub::Signal::Receipt {
                chat_id,
                user_id,
                read_seq,
                delivered_seq,
            };
            state.chat_hub.notify(&others, receipt);
        }
        Err(err) => tracing::warn!(chat_id, error = %err, "could not announce a receipt"),
    }
}

/// Announces, after its transaction committed, that a chat changed: to its participants
/// and to `also` (someone who just left or was removed).
pub async fn announce(state: &AppState, chat_id: i64, also: Option<i64>) {
    match super::repo::participant_ids(&state.db, chat_id).await {
        Ok(mut users) => {
            users.extend(also);
            state
                .chat_hub
                .notify(&users, hub::Signal::Changed { chat_id });
        }
        // the change is stored; sockets find it at their next announcement or resume
        Err(err) => tracing::warn!(chat_id, error = %err, "could not announce a chat change"),
    }
}
