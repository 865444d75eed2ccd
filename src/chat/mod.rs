//! The messenger (seed 001): private and group chats between members, messages, and read
//! state. Every change of a chat is an event of the chat's log, numbered 1, 2, 3… without
//! gaps in the transaction that makes it; unread counts are computed from the messages
//! and each participant's read watermark, so they cannot drift.

pub mod chats;
pub mod entity;
pub mod messages;
pub mod model;
pub mod repo;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Members a group may be created with at once.
pub const MAX_GROUP_MEMBERS: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chats::create_chat, chats::list_chats))
        .routes(routes!(chats::get_chat))
        .routes(routes!(messages::send_message, messages::list_messages))
        .routes(routes!(messages::mark_read))
}
