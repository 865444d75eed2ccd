//! The values a draft holds, how members' input changes them, and how an edit proposal
//! differs from the live record.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::model::DraftKind;
use crate::catalog::changes::{mechanism_changes, watch_changes};
use crate::catalog::model::{MechanismValues, WatchValues};
use crate::error::{AppError, FieldError};

/// A watch as a draft holds it: any field may be missing until the draft is submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WatchDraftValues {
    pub folder: Option<String>,
    pub code: Option<String>,
    pub integrated_bracelet: Option<bool>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub gender_id: Option<i64>,
    pub case_material_id: Option<i64>,
    pub mechanism_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub aliases: Vec<String>,
}

/// A mechanism as a draft holds it: any field may be missing until the draft is submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MechanismDraftValues {
    pub name: Option<String>,
    pub stones: Option<i32>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub mechanism_type_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub function_ids: Vec<i64>,
}

/// The values of a watch draft or of a mechanism draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum DraftValues {
    Watch(WatchDraftValues),
    Mechanism(MechanismDraftValues),
}

/// The error of a field a submitted draft must have.
fn required(field: &str) -> FieldError {
    FieldError::new(field, "is required to submit the draft")
}

impl WatchDraftValues {
    /// The watch this draft would publish; a missing folder is a 422.
    pub fn complete(&self) -> Result<WatchValues, AppError> {
        let Some(folder) = self.folder.clone() else {
            return Err(AppError::Validation(vec![required("folder")]));
        };
        Ok(WatchValues {
            folder,
            ..self.checkable()
        })
    }

    /// The values checked while still a draft: a missing folder stands in as a valid one,
    /// so only the fields present are judged.
    pub fn checkable(&self) -> WatchValues {
        WatchValues {
            folder: self.folder.clone().unwrap_or_else(|| "draft".to_owned()),
            code: self.code.clone(),
            integrated_bracelet: self.integrated_bracelet.unwrap_or(false),
            start_release: self.start_release,
            end_release: self.end_release,
            gender_id: self.gender_id,
            case_material_id: self.case_material_id,
            mechanism_id: self.mechanism_id,
            factory_id: self.factory_id,
            brand_id: self.brand_id,
            aliases: self.aliases.clone(),
        }
    }

    /// Each field with its value, in the order of the schema.
    fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("folder", self.folder.clone().into()),
            ("code", self.code.clone().into()),
            ("integrated_bracelet", self.integrated_bracelet.into()),
            ("start_release", self.start_release.into()),
            ("end_release", self.end_release.into()),
            ("gender_id", self.gender_id.into()),
            ("case_material_id", self.case_material_id.into()),
            ("mechanism_id", self.mechanism_id.into()),
            ("factory_id", self.factory_id.into()),
            ("brand_id", self.brand_id.into()),
            ("aliases", self.aliases.clone().into()),
        ]
    }
}

impl From<WatchValues> for WatchDraftValues {
    fn from(values: WatchValues) -> Self {
        Self {
            folder: Some(values.folder),
            code: values.code,
            integrated_bracelet: Some(values.integrated_bracelet),
            start_release: values.start_release,
            end_release: values.end_release,
            gender_id: values.gender_id,
            case_material_id: values.case_material_id,
            mechanism_id: values.mechanism_id,
            factory_id: values.factory_id,
            brand_id: values.brand_id,
            aliases: values.aliases,
        }
    }
}

impl MechanismDraftValues {
    /// The mechanism this draft would publish; a missing name is a 422.
    pub fn complete(&self) -> Result<MechanismValues, AppError> {
        let Some(name) = self.name.clone() else {
            return Err(AppError::Validation(vec![required("name")]));
        };
        Ok(MechanismValues {
            name,
            ..self.checkable()
        })
    }

    /// The values checked while still a draft: a missing name stands in as a valid one.
    pub fn checkable(&self) -> MechanismValues {
        MechanismValues {
            name: self.name.clone().unwrap_or_else(|| "draft".to_owned()),
            stones: self.stones,
            start_release: self.start_release,
            end_release: self.end_release,
            mechanism_type_id: self.mechanism_type_id,
            factory_id: self.factory_id,
            function_ids: self.function_ids.clone(),
        }
    }

    fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("name", self.name.clone().into()),
            ("stones", self.stones.into()),
            ("start_release", self.start_release.into()),
            ("end_release", self.end_release.into()),
            ("mechanism_type_id", self.mechanism_type_id.into()),
            ("factory_id", self.factory_id.into()),
            ("function_ids", self.function_ids.clone().into()),
        ]
    }
}

impl From<MechanismValues> for MechanismDraftValues {
    fn from(values: MechanismValues) -> Self {
        Self {
            name: Some(values.name),
            stones: values.stones,
            start_release: values.start_release,
            end_release: values.end_release,
            mechanism_type_id: values.mechanism_type_id,
            factory_id: values.factory_id,
            function_ids: values.function_ids,
        }
    }
}

impl DraftValues {
    pub fn kind(&self) -> DraftKind {
        match self {
            DraftValues::Watch(_) => DraftKind::Watch,
            DraftValues::Mechanism(_) => DraftKind::Mechanism,
        }
    }

    /// As it would be published: missing flags take their defaults.
    fn as_published(&self) -> DraftValues {
        match self {
            DraftValues::Watch(values) => match values.complete() {
                Ok(complete) => DraftValues::Watch(complete.into()),
                Err(_) => self.clone(),
            },
            DraftValues::Mechanism(_) => self.clone(),
        }
    }

    fn fields(&self) -> Vec<(&'static str, Value)> {
        match self {
            DraftValues::Watch(values) => values.fields(),
            DraftValues::Mechanism(values) => values.fields(),
        }
    }
}

/// The fields `proposed` changes against the `live` record, in the order of the schema.
pub fn changes(live: &DraftValues, proposed: &DraftValues) -> Vec<FieldChange> {
    live.fields()
        .into_iter()
        .zip(proposed.as_published().fields())
        .filter(|((_, from), (_, to))| from != to)
        .map(|((field, from), (_, to))| FieldChange {
            field: field.to_owned(),
            from,
            to,
        })
        .collect()
}

watch_changes! {
    /// The fields of a new watch draft, or the changes to one. Fields left out stay as they
    /// are (in a new edit proposal: as on the live watch); `null` clears one, `folder`
    /// included: it is required only to submit.
    pub struct WatchDraftInput {
        /// Only when creating: the watch the draft proposes changes to; its current values
        /// are the draft's starting point.
        pub target_id: Option<i64>,
    }
}

mechanism_changes! {
    /// The fields of a new mechanism draft, or the changes to one. Fields left out stay as
    /// they are (in a new edit proposal: as on the live mechanism); `null` clears one,
    /// `name` included: it is required only to submit.
    pub struct MechanismDraftInput {
        /// Only when creating: the mechanism the draft proposes changes to; its current
        /// values are the draft's starting point.
        pub target_id: Option<i64>,
    }
}

/// One field an edit proposal changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    /// The live record's value.
    #[schema(value_type = Object)]
    pub from: Value,
    /// The proposed value.
    #[schema(value_type = Object)]
    pub to: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_tells_left_out_from_null() {
        let mut values = WatchDraftValues {
            folder: Some("poljot".into()),
            code: Some("2614".into()),
            aliases: vec!["Полёт".into()],
            ..WatchDraftValues::default()
        };
        let input: WatchDraftInput =
            serde_json::from_str(r#"{"code": null, "start_release": 1970}"#).unwrap();
        input.apply(&mut values);
        assert_eq!(values.folder.as_deref(), Some("poljot"));
        assert_eq!(values.code, None);
        assert_eq!(values.start_release, Some(1970));
        assert_eq!(values.aliases, vec!["Полёт"]);
    }

    #[test]
    fn changes_list_only_what_differs() {
        let live = WatchValues {
            folder: "amphibia".into(),
            aliases: vec!["Амфибия".into()],
            ..WatchValues::default()
        };
        let proposed = WatchDraftValues {
            folder: Some("amphibia".into()),
            start_release: Some(1967),
            aliases: vec!["Амфибия".into(), "Amphibia".into()],
            ..WatchDraftValues::default()
        };
        let changes = changes(
            &DraftValues::Watch(live.into()),
            &DraftValues::Watch(proposed),
        );
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        // a missing bracelet flag is published as `false`, as the live one is
        assert_eq!(fields, ["start_release", "aliases"]);
        assert_eq!(changes[0].from, Value::Null);
        assert_eq!(changes[0].to, 1967);
    }

    #[test]
    fn required_fields_are_named() {
        let Err(AppError::Validation(errors)) = WatchDraftValues::default().complete() else {
            panic!("a draft without a folder is incomplete");
        };
        assert_eq!(errors[0].field, "folder");
        assert!(MechanismDraftValues::default().complete().is_err());
    }
}
