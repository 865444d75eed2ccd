//! Request and response bodies of the drafts API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use super::photos::DraftImage;
pub use super::values::{
    DraftValues, FieldChange, MechanismDraftInput, MechanismDraftValues, WatchDraftInput,
    WatchDraftValues, changes,
};
use crate::error::AppError;

/// Longest moderator's message, in characters.
pub const MESSAGE_MAX: usize = 2000;

/// What a draft proposes: a watch or a mechanism. In paths it is `watches` or
/// `mechanisms`; in bodies and queries `watch` or `mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DraftKind {
    #[serde(alias = "watches")]
    Watch,
    #[serde(alias = "mechanisms")]
    Mechanism,
}

impl DraftKind {
    pub const ALL: [DraftKind; 2] = [DraftKind::Watch, DraftKind::Mechanism];

    /// The kind named by a path segment; anything else is an unknown route.
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "watches" => Some(DraftKind::Watch),
            "mechanisms" => Some(DraftKind::Mechanism),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DraftKind::Watch => "watch",
            DraftKind::Mechanism => "mechanism",
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            DraftKind::Watch => "draft_watch",
            DraftKind::Mechanism => "draft_mechanism",
        }
    }
}

/// Where a draft is in its life: `draft` → `submitted` → `approved`, or `rejected` and
/// back to `draft` when edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DraftStatus {
    Draft,
    Submitted,
    Approved,
    Rejected,
}

impl DraftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftStatus::Draft => "draft",
            DraftStatus::Submitted => "submitted",
            DraftStatus::Approved => "approved",
            DraftStatus::Rejected => "rejected",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            DraftStatus::Draft,
            DraftStatus::Submitted,
            DraftStatus::Approved,
            DraftStatus::Rejected,
        ]
        .into_iter()
        .find(|status| status.as_str() == value)
    }

    /// Whether the author may still change the draft (and submit it).
    pub fn editable(self) -> bool {
        matches!(self, DraftStatus::Draft | DraftStatus::Rejected)
    }
}

/// A draft as its author and the moderators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DraftResponse {
    pub id: i64,
    pub kind: DraftKind,
    pub status: DraftStatus,
    /// The record an edit proposal changes; `null` for a new record.
    pub target_id: Option<i64>,
    /// The moderator's message of the last rejection.
    pub message: Option<String>,
    pub values: DraftValues,
    /// The photos proposed with a watch draft, by side (always empty for mechanisms).
    pub images: Vec<DraftImage>,
    pub author_id: i64,
    pub reviewed_by: Option<i64>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::optional_rfc3339")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::optional_rfc3339")]
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// A draft under review: for an edit proposal, also the live record and what changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftReview {
    #[serde(flatten)]
    pub draft: DraftResponse,
    /// The live record's values now; `null` for a new record.
    pub live: Option<DraftValues>,
    /// Empty for a new record.
    pub changes: Vec<FieldChange>,
    /// The photos of the live watch an edit proposal changes, to compare with `images`;
    /// empty for a new record. A side in `images` replaces the live one on approval.
    pub live_images: Vec<DraftImage>,
}

/// An approved draft and the live record it wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalResponse {
    /// The id of the watch or mechanism created or updated.
    pub record_id: i64,
    pub draft: DraftResponse,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// What the author should change, 1–2000 characters; the author sees it.
    pub message: String,
}

impl RejectRequest {
    pub fn checked_message(&self) -> Result<String, AppError> {
        let message = self.message.trim();
        if message.is_empty() {
            return Err(AppError::invalid("message", "must not be blank"));
        }
        if message.chars().count() > MESSAGE_MAX {
            return Err(AppError::invalid(
                "message",
                format!("must be at most {MESSAGE_MAX} characters long"),
            ));
        }
        Ok(message.to_owned())
    }
}

/// `GET /drafts`: my drafts, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyDraftsQuery {
    pub status: Option<DraftStatus>,
    pub kind: Option<DraftKind>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /moderation/drafts`: submitted drafts, oldest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModerationQuery {
    pub kind: Option<DraftKind>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_round_trip() {
        assert_eq!(DraftKind::from_path("watches"), Some(DraftKind::Watch));
        assert_eq!(DraftKind::from_path("watch"), None);
        for status in ["draft", "submitted", "approved", "rejected"] {
            assert_eq!(
                DraftStatus::parse(status).map(DraftStatus::as_str),
                Some(status)
            );
        }
        assert_eq!(DraftStatus::parse("gone"), None);
    }
}
