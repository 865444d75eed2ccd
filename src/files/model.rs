//! Request and response bodies of the files API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::entity;

/// Who may read a file without a link: anyone, or only its owner and admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    #[default]
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileResponse {
    /// The public id used in every URL.
    pub uid: String,
    pub original_name: String,
    /// Sniffed from the content.
    pub mime_type: String,
    pub size: i64,
    /// Hex SHA-256 of the bytes; also the `ETag`.
    pub sha256: String,
    pub visibility: String,
    /// `local` or `s3`.
    pub storage: String,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub uploaded_at: DateTime<Utc>,
    /// Where the bytes are downloaded.
    pub url: String,
}

impl FileResponse {
    pub fn new(file: entity::Model, public_url: &str) -> Self {
        Self {
            url: format!("{public_url}/api/v1/files/{}", file.uid),
            uid: file.uid,
            original_name: file.original_name,
            mime_type: file.mime_type,
            size: file.size,
            sha256: file.sha256,
            visibility: file.visibility,
            storage: file.storage,
            uploaded_at: file.uploaded_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamUploadQuery {
    /// The file's name, kept as metadata only.
    pub name: String,
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `WxH` thumbnail of an image, e.g. `256x256`.
    pub thumb: Option<String>,
    /// Expiry (Unix seconds) of a signed link.
    pub expires: Option<i64>,
    /// Signature of a signed link.
    pub signature: Option<String>,
    /// `true` asks the browser to save rather than show the file.
    pub download: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Seconds the link stays valid: 1 to 604800 (7 days).
    pub expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    pub url: String,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

pub const MAX_LINK_SECS: u64 = 7 * 24 * 3600;
