//! The messenger (seed 001): private and group chats between members, messages with
//! attachments, and read state. Every change of a chat is an event of the chat's log,
//! numbered 1, 2, 3… without gaps in the transaction that makes it; unread counts are
//! computed from the messages and each participant's read watermark, so they cannot
//! drift.

pub mod attachments;
pub mod chats;
pub mod entity;
pub mod live;
pub mod media;
pub mod messages;
pub mod model;
pub mod participants;
pub mod repo;
pub mod search;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Members a group may be created with at once.
pub const MAX_GROUP_MEMBERS: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chats::create_chat, chats::list_chats))
        .routes(routes!(
            chats::get_chat,
            participants::rename_chat,
            participants::delete_chat
        ))
        .routes(routes!(
            participants::list_participants,
            participants::add_participant
        ))
        .routes(routes!(
            participants::change_role,
            participants::remove_participant
        ))
        .routes(routes!(messages::send_message, messages::list_messages))
        .routes(routes!(messages::edit_message, messages::delete_message))
        .routes(routes!(messages::mark_read))
        .routes(routes!(messages::receipts))
        .routes(routes!(media::list_media))
        .routes(routes!(live::socket::connect))
        .routes(routes!(search::search_messages))
}
