//! Request and response bodies of the mechanisms API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::catalog::changes::mechanism_changes;
use crate::catalog::drafts::model::MechanismDraftValues;
use crate::catalog::model::MechanismValues;
use crate::catalog::references::ReferenceItem;
use crate::error::AppError;

/// A mechanism with its type, factory and functions by name: the answer of the
/// mechanisms API and the `mechanism` of a watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MechanismDetail {
    pub id: i64,
    /// The calibre, e.g. `2609.HA`.
    pub name: String,
    /// Number of jewels.
    pub stones: Option<i32>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub mechanism_type: Option<ReferenceItem>,
    pub factory: Option<ReferenceItem>,
    /// Ordered by name.
    pub functions: Vec<ReferenceItem>,
    /// The member who added it.
    pub user_id: Option<i64>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// A new mechanism; only `name` is required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMechanismRequest {
    /// 1–100 characters, no spaces at either end.
    pub name: String,
    /// Number of jewels, 0–200.
    pub stones: Option<i32>,
    pub start_release: Option<i32>,
    /// Not before `start_release`.
    pub end_release: Option<i32>,
    pub mechanism_type_id: Option<i64>,
    pub factory_id: Option<i64>,
    #[serde(default)]
    pub function_ids: Vec<i64>,
}

impl From<CreateMechanismRequest> for MechanismValues {
    fn from(request: CreateMechanismRequest) -> Self {
        MechanismValues {
            name: request.name,
            stones: request.stones,
            start_release: request.start_release,
            end_release: request.end_release,
            mechanism_type_id: request.mechanism_type_id,
            factory_id: request.factory_id,
            function_ids: distinct(request.function_ids),
        }
    }
}

mechanism_changes! {
    /// Fields left out stay as they are; `null` clears a nullable field, and
    /// `function_ids` replaces the whole set (`null` or `[]` empties it). `name` cannot be
    /// `null`.
    pub struct UpdateMechanismRequest {}
}

impl UpdateMechanismRequest {
    /// The current values with the sent fields applied, each function once.
    pub fn merge(self, values: MechanismValues) -> Result<MechanismValues, AppError> {
        if self.name == Some(None) {
            return Err(AppError::invalid("name", "must not be null"));
        }
        // the name cannot have been cleared, so the values are complete
        let mut merged = MechanismDraftValues::from(values);
        self.apply(&mut merged);
        let mut merged = merged.complete()?;
        merged.function_ids = distinct(merged.function_ids);
        Ok(merged)
    }
}

/// `?mechanism_type_id=&factory_id=&limit=&cursor=`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MechanismListQuery {
    /// Only mechanisms of this type.
    pub mechanism_type_id: Option<i64>,
    /// Only mechanisms made by this factory.
    pub factory_id: Option<i64>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Ids in their first order, each once.
pub fn distinct(ids: Vec<i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_absent_differ() {
        let request: UpdateMechanismRequest =
            serde_json::from_str(r#"{"factory_id": null, "stones": 17}"#).unwrap_or_default();
        assert_eq!(request.factory_id, Some(None));
        assert_eq!(request.stones, Some(Some(17)));
        assert_eq!(request.mechanism_type_id, None);
        assert_eq!(request.name, None);
    }

    #[test]
    fn merge_keeps_what_is_left_out_and_refuses_a_null_name() {
        let current = MechanismValues {
            name: "2609.HA".into(),
            stones: Some(17),
            factory_id: Some(4),
            function_ids: vec![1, 2],
            ..Default::default()
        };
        let request: UpdateMechanismRequest =
            serde_json::from_str(r#"{"factory_id": null, "function_ids": [3, 1, 3]}"#)
                .unwrap_or_default();
        let merged = request.merge(current.clone()).unwrap_or_default();
        assert_eq!(merged.name, "2609.HA");
        assert_eq!(merged.stones, Some(17));
        assert_eq!(merged.factory_id, None);
        assert_eq!(merged.function_ids, vec![3, 1]);

        let request: UpdateMechanismRequest =
            serde_json::from_str(r#"{"name": null}"#).unwrap_or_default();
        match request.merge(current) {
            Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "name"),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn function_ids_are_kept_once() {
        assert_eq!(distinct(vec![3, 1, 3, 2, 1]), vec![3, 1, 2]);
    }
}
