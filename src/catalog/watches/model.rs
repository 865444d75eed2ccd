//! Request and response bodies of the watches API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::catalog::changes::watch_changes;
use crate::catalog::drafts::model::WatchDraftValues;
use crate::catalog::mechanisms::MechanismDetail;
use crate::catalog::model::WatchValues;
use crate::catalog::references::ReferenceItem;
use crate::error::{AppError, FieldError};

/// A new watch; only `folder` is required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWatchRequest {
    /// Unique; Latin letters, digits, `_`, `-`, `.`; also the folder of the photos.
    pub folder: String,
    /// The dial/design number; unique when present.
    pub code: Option<String>,
    #[serde(default)]
    pub integrated_bracelet: bool,
    pub start_release: Option<i32>,
    /// Not before `start_release`.
    pub end_release: Option<i32>,
    pub gender_id: Option<i64>,
    pub case_material_id: Option<i64>,
    pub mechanism_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub brand_id: Option<i64>,
    /// Other names the watch is known by (trimmed; repeats in any case are dropped).
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl From<CreateWatchRequest> for WatchValues {
    fn from(request: CreateWatchRequest) -> Self {
        WatchValues {
            folder: request.folder,
            code: request.code,
            integrated_bracelet: request.integrated_bracelet,
            start_release: request.start_release,
            end_release: request.end_release,
            gender_id: request.gender_id,
            case_material_id: request.case_material_id,
            mechanism_id: request.mechanism_id,
            factory_id: request.factory_id,
            brand_id: request.brand_id,
            aliases: request.aliases,
        }
    }
}

watch_changes! {
    /// Fields left out stay as they are; `null` clears a nullable field; `aliases` replaces
    /// the whole list (`null` or `[]` empties it). `folder` and `integrated_bracelet` cannot
    /// be `null`.
    pub struct UpdateWatchRequest {}
}

impl UpdateWatchRequest {
    /// The current values with the sent fields applied.
    pub fn merge(self, values: WatchValues) -> Result<WatchValues, AppError> {
        let mut errors = Vec::new();
        if self.folder == Some(None) {
            errors.push(FieldError::new("folder", "must not be null"));
        }
        if self.integrated_bracelet == Some(None) {
            errors.push(FieldError::new("integrated_bracelet", "must not be null"));
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        // the folder cannot have been cleared, so the values are complete
        let mut merged = WatchDraftValues::from(values);
        self.apply(&mut merged);
        merged.complete()
    }
}

/// Where a photo is downloaded, and a 256×256 thumbnail of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ImageLinks {
    /// The file's public id.
    pub uid: String,
    pub url: String,
    pub thumb_url: String,
}

impl ImageLinks {
    pub fn new(public_url: &str, uid: &str) -> Self {
        let url = format!("{public_url}/api/v1/files/{uid}");
        Self {
            uid: uid.to_owned(),
            thumb_url: format!("{url}?thumb=256x256"),
            url,
        }
    }
}

/// The photos of a watch by side; a side without a photo is `null`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct WatchImages {
    pub main: Option<ImageLinks>,
    pub left: Option<ImageLinks>,
    pub right: Option<ImageLinks>,
    pub bottom: Option<ImageLinks>,
}

impl WatchImages {
    pub fn set(&mut self, side: &str, links: ImageLinks) {
        match side {
            "main" => self.main = Some(links),
            "left" => self.left = Some(links),
            "right" => self.right = Some(links),
            "bottom" => self.bottom = Some(links),
            _ => {}
        }
    }
}

/// A watch with everything it refers to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WatchDetail {
    pub id: i64,
    pub folder: String,
    pub code: Option<String>,
    pub integrated_bracelet: bool,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub brand: Option<ReferenceItem>,
    pub factory: Option<ReferenceItem>,
    pub gender: Option<ReferenceItem>,
    pub case_material: Option<ReferenceItem>,
    /// With its type, factory and functions.
    pub mechanism: Option<MechanismDetail>,
    pub aliases: Vec<String>,
    pub images: WatchImages,
    /// The member who last wrote it (or whose draft was published).
    pub user_id: Option<i64>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// A watch in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WatchSummary {
    pub id: i64,
    /// The first alias: what the watch is called in lists.
    pub title: Option<String>,
    pub folder: String,
    pub code: Option<String>,
    pub brand: Option<ReferenceItem>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub integrated_bracelet: bool,
    /// The main photo, if there is one.
    pub main_image_url: Option<String>,
}

/// `GET /watches` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchListQuery {
    /// Words matched against aliases, code, folder and brand name: every word must start
    /// a word of the watch; any case, `ё` = `е`.
    pub q: Option<String>,
    pub brand_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub gender_id: Option<i64>,
    pub case_material_id: Option<i64>,
    /// Watches whose mechanism is of this type.
    pub mechanism_type_id: Option<i64>,
    /// Watches released in or after this year (their release years overlap the range;
    /// a missing end counts as the start year and vice versa; no years, no match).
    pub year_from: Option<i32>,
    /// Watches released in or before this year.
    pub year_to: Option<i32>,
    pub integrated_bracelet: Option<bool>,
    /// `id` (default), `start_release`, `folder`; `-` in front for descending. Watches
    /// without a start year come last either way.
    pub sort: Option<String>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page (of the same sort).
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_absent_differ() {
        let request: UpdateWatchRequest =
            serde_json::from_str(r#"{"brand_id": null, "start_release": 1970}"#)
                .unwrap_or_default();
        let current = WatchValues {
            folder: "vostok".into(),
            brand_id: Some(3),
            factory_id: Some(4),
            aliases: vec!["Амфибия".into()],
            ..Default::default()
        };
        let merged = request.merge(current).unwrap_or_default();
        assert_eq!(merged.brand_id, None);
        assert_eq!(merged.factory_id, Some(4));
        assert_eq!(merged.start_release, Some(1970));
        assert_eq!(merged.folder, "vostok");
        assert_eq!(merged.aliases, vec!["Амфибия"]);
    }

    #[test]
    fn required_fields_cannot_be_cleared() {
        let request: UpdateWatchRequest =
            serde_json::from_str(r#"{"folder": null, "integrated_bracelet": null}"#)
                .unwrap_or_default();
        match request.merge(WatchValues::default()) {
            Err(AppError::Validation(errors)) => assert_eq!(errors.len(), 2),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn links_point_at_the_files_api() {
        let links = ImageLinks::new("http://x", "u1");
        assert_eq!(links.url, "http://x/api/v1/files/u1");
        assert_eq!(links.thumb_url, "http://x/api/v1/files/u1?thumb=256x256");
    }
}
