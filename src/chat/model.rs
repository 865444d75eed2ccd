//! What the messenger's routes take and answer, and the rules of their values.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use utoipa::{IntoParams, ToSchema};

use crate::error::{AppError, FieldError};

/// Longest message text, in characters after trimming.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest group name, in characters after trimming.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest client nonce of a send.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Characters of a message shown in previews.
pub const PREVIEW_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    Private,
    Group,
}

impl ChatType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Group => "group",
        }
    }

    pub fn parse(value: &str) -> Self {
        if value == "group" {
            Self::Group
        } else {
            Self::Private
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    Member,
    Admin,
    Owner,
}

impl ChatRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "owner" => Self::Owner,
            "admin" => Self::Admin,
            _ => Self::Member,
        }
    }
}

/// A new chat: `private` with `user_id`, or `group` with `name` and optional members.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChatRequest {
    #[serde(rename = "type")]
    pub chat_type: ChatType,
    /// The other member of a private chat.
    pub user_id: Option<i64>,
    /// A group's name, 1–100 characters.
    pub name: Option<String>,
    /// A group's first members besides its creator.
    #[serde(default)]
    pub member_ids: Vec<i64>,
}

/// A member as the people they chat with see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatMember {
    pub user_id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
}

/// What a chat list shows of a chat's latest message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePreview {
    pub seq: i64,
    pub sender_id: Option<i64>,
    /// `text`, or `deleted` for a deleted message.
    pub kind: PreviewKind,
    /// The first 100 characters of the text.
    pub text: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreviewKind {
    Text,
    Deleted,
}

/// A chat as one of its participants sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatView {
    pub id: i64,
    #[serde(rename = "type")]
    pub chat_type: ChatType,
    /// A group's name.
    pub name: Option<String>,
    /// The other person of a private chat.
    pub peer: Option<ChatMember>,
    /// My role in the chat.
    pub role: ChatRole,
    /// The sequence number of the chat's latest event.
    pub last_seq: i64,
    pub last_message: Option<MessagePreview>,
    /// Live messages after my read watermark that I did not send.
    pub unread_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A message to send: text, a client nonce that makes retries safe, and what it answers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// 1–4,000 characters after trimming.
    pub text: String,
    /// Any string up to 64 characters, unique per sender and chat: sending again with
    /// it returns the message first sent.
    pub client_id: Option<String>,
    /// The sequence number of the message this one answers, in the same chat.
    pub reply_to: Option<i64>,
}

/// Where a message stands for the people it was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Sent,
    /// Every other participant has it on a device.
    Delivered,
    /// Every other participant has read it.
    Read,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub chat_id: i64,
    pub seq: i64,
    pub sender_id: Option<i64>,
    pub client_id: Option<String>,
    /// Empty once deleted.
    pub text: String,
    /// The sequence number of the message this one answers.
    pub reply_to: Option<i64>,
    pub sent_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// Among the participants other than the sender.
    pub status: MessageStatus,
    /// How many of the others have it on a device.
    pub delivered_to: usize,
    /// How many of the others have read it.
    pub read_by: usize,
}

/// Where one participant is with a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    pub user_id: i64,
    pub username: String,
    pub avatar_url: Option<String>,
    pub delivered: bool,
    pub read: bool,
}

/// `?before=SEQ` (newest first, the default) or `?after=SEQ` (oldest first).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages with a smaller sequence number, newest first.
    pub before: Option<i64>,
    /// Messages with a greater sequence number, oldest first.
    pub after: Option<i64>,
    /// 1–100 (default 50).
    pub limit: Option<u64>,
    /// Only messages with words starting with each of these (newest first; `before`
    /// pages).
    pub q: Option<String>,
}

/// A page of history and the sequence number to continue from, absent at the end.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub items: Vec<MessageView>,
    /// Pass as `before` (or `after`) for the next page.
    pub next: Option<i64>,
}

/// Moves my read watermark forward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    pub seq: i64,
}

/// Text as stored: Unicode NFC, trimmed, 1–4,000 characters.
pub fn message_text(text: &str) -> Result<String, AppError> {
    let text: String = text.trim().nfc().collect();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(AppError::invalid(
            "text",
            format!("must be 1 to {MAX_TEXT_CHARS} characters long"),
        ));
    }
    Ok(text)
}

/// A group name as stored: NFC, trimmed, 1–100 characters.
pub fn group_name(name: Option<&str>) -> Result<String, FieldError> {
    let name: String = name.unwrap_or_default().trim().nfc().collect();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            format!("a group needs a name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name)
}

pub fn client_id(value: Option<String>) -> Result<Option<String>, AppError> {
    match value {
        Some(id) if id.is_empty() || id.chars().count() > MAX_CLIENT_ID_CHARS => {
            Err(AppError::invalid(
                "client_id",
                format!("must be 1 to {MAX_CLIENT_ID_CHARS} characters long"),
            ))
        }
        other => Ok(other),
    }
}

/// The first characters of a text, for previews.
pub fn preview(text: &str) -> String {
    text.chars().take(PREVIEW_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_normalised_trimmed_and_bounded() {
        // "й" written as и + combining breve becomes one character
        assert_eq!(message_text("  и\u{306}  ").unwrap(), "й");
        assert!(message_text("   ").is_err());
        assert!(message_text(&"я".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(message_text(&"я".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }

    #[test]
    fn group_names_are_required_and_bounded() {
        assert_eq!(
            group_name(Some(" Коллекционеры ")).unwrap(),
            "Коллекционеры"
        );
        assert!(group_name(None).is_err());
        assert!(group_name(Some(&"x".repeat(101))).is_err());
    }
}
