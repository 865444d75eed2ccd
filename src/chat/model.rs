//! What the messenger's routes take and answer, and the rules of their values.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use utoipa::{IntoParams, ToSchema};

use super::entity::messages;
use crate::error::{AppError, FieldError};

/// Longest message text, in characters after trimming.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest group name, in characters after trimming.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest client nonce of a send.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Characters of a message shown in previews.
pub const PREVIEW_CHARS: usize = 100;
/// Most files one message carries.
pub const MAX_ATTACHMENTS: usize = 10;

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

/// What a chat list shows of a chat's latest message, and a message of the one it
/// answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePreview {
    pub seq: i64,
    pub sender_id: Option<i64>,
    /// `text`; `deleted` for a deleted message; `attachment` for files without text.
    pub kind: PreviewKind,
    /// The first 100 characters of the text.
    pub text: String,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreviewKind {
    Text,
    Deleted,
    Attachment,
}

impl MessagePreview {
    pub fn of(message: &messages::Model) -> Self {
        // only a message with attachments is sent without text
        let kind = if message.deleted_at.is_some() {
            PreviewKind::Deleted
        } else if message.text.is_empty() {
            PreviewKind::Attachment
        } else {
            PreviewKind::Text
        };
        Self {
            seq: message.seq,
            sender_id: message.sender_id,
            kind,
            text: if kind == PreviewKind::Text {
                preview(&message.text)
            } else {
                String::new()
            },
            sent_at: message.sent_at,
        }
    }
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
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// A message to send: text and files, a client nonce that makes retries safe, and what
/// it answers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// 1–4,000 characters after trimming; may be empty (or absent) when files are
    /// attached.
    #[serde(default)]
    pub text: String,
    /// Up to 10 uids of files, each mine or public; the chat's participants may read
    /// them once sent.
    #[serde(default)]
    pub attachments: Vec<String>,
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
    /// The message this one answers, as previews show it.
    pub reply_preview: Option<MessagePreview>,
    /// The files it carries, in the order sent; none once deleted.
    pub attachments: Vec<AttachmentView>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub sent_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::optional_rfc3339")]
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// Among the participants other than the sender.
    pub status: MessageStatus,
    /// How many of the others have it on a device.
    pub delivered_to: usize,
    /// How many of the others have read it.
    pub read_by: usize,
}

/// What a file attached to a message is, judged from its sniffed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    Image,
    Video,
    File,
}

impl AttachmentKind {
    pub fn of_mime(mime: &str) -> Self {
        match mime.split('/').next() {
            Some("image") => Self::Image,
            Some("video") => Self::Video,
            _ => Self::File,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::File => "file",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "image" => Some(Self::Image),
            "video" => Some(Self::Video),
            "file" => Some(Self::File),
            _ => None,
        }
    }
}

/// A file attached to a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    pub uid: String,
    pub kind: AttachmentKind,
    /// Sniffed from the content.
    pub mime_type: String,
    pub size: i64,
    /// The file's name as uploaded.
    pub name: String,
    /// Where the chat's participants download it.
    pub url: String,
    /// A 256×256 thumbnail, for images.
    pub thumbnail_url: Option<String>,
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
    message_content(text, &[])
}

/// The text of a message with these attachments as stored: NFC, trimmed, up to 4,000
/// characters, empty only beside attachments; at most 10 attachments, none twice.
pub fn message_content(text: &str, attachments: &[String]) -> Result<String, AppError> {
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(AppError::invalid(
            "attachments",
            format!("a message carries at most {MAX_ATTACHMENTS} files"),
        ));
    }
    let distinct: std::collections::HashSet<&String> = attachments.iter().collect();
    if distinct.len() < attachments.len() {
        return Err(AppError::invalid("attachments", "lists a file twice"));
    }
    let text: String = text.trim().nfc().collect();
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS || (chars == 0 && attachments.is_empty()) {
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
    fn attachments_allow_empty_text_up_to_ten_distinct_files() {
        let files: Vec<String> = (0..MAX_ATTACHMENTS).map(|n| format!("f{n}")).collect();
        assert_eq!(message_content("  ", &files).unwrap(), "");
        assert!(message_content("", &[]).is_err());
        let mut eleven = files.clone();
        eleven.push("f10".into());
        assert!(message_content("hi", &eleven).is_err());
        assert!(message_content("hi", &["a".into(), "a".into()]).is_err());
        assert!(message_content(&"я".repeat(MAX_TEXT_CHARS + 1), &files).is_err());
    }

    #[test]
    fn kinds_follow_the_sniffed_type() {
        assert_eq!(AttachmentKind::of_mime("image/png"), AttachmentKind::Image);
        assert_eq!(AttachmentKind::of_mime("video/mp4"), AttachmentKind::Video);
        assert_eq!(
            AttachmentKind::of_mime("application/pdf"),
            AttachmentKind::File
        );
        assert_eq!(AttachmentKind::of_mime("audio/mpeg"), AttachmentKind::File);
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
