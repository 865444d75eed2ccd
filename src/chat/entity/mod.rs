//! The messenger's tables.

pub mod chat_events;
pub mod chat_participants;
pub mod chats;
pub mod messages;
