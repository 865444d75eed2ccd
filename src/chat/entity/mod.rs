//! The messenger's tables.

pub mod chat_events;
pub mod chat_participants;
pub mod chats;
pub mod message_attachments;
pub mod message_search_token;
pub mod messages;
pub mod presence_leases;
