//! The values of a watch and of a mechanism, and the rules they follow wherever they
//! are written: direct edits, drafts, approvals and imports.

use chrono::{Datelike, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::entity::mechanism;
use super::references::{Reference, ensure_exist};
use crate::error::{AppError, AppResult, FieldError};

pub const FOLDER_MAX: usize = 100;
pub const CODE_MAX: usize = 100;
pub const ALIAS_MAX: usize = 100;
pub const MAX_ALIASES: usize = 50;
pub const NAME_MAX: usize = 100;
pub const FIRST_YEAR: i32 = 1700;
pub const MAX_STONES: i32 = 200;

/// The sides a watch is photographed from.
pub const SIDES: [&str; 4] = ["main", "left", "right", "bottom"];

/// Everything a watch row holds besides ids and timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WatchValues {
    /// Unique; also the folder of its photos: Latin letters, digits, `_`, `-`, `.`.
    pub folder: String,
    /// Unique when present.
    pub code: Option<String>,
    pub integrated_bracelet: bool,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub gender_id: Option<i64>,
    pub case_material_id: Option<i64>,
    pub mechanism_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub aliases: Vec<String>,
}

/// Everything a mechanism row holds besides ids and timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MechanismValues {
    /// The calibre, e.g. `2609.HA`.
    pub name: String,
    /// Number of jewels.
    pub stones: Option<i32>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub mechanism_type_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub function_ids: Vec<i64>,
}

fn check_years(errors: &mut Vec<FieldError>, start: Option<i32>, end: Option<i32>) {
    let last_year = Utc::now().year() + 1;
    for (field, year) in [("start_release", start), ("end_release", end)] {
        if let Some(year) = year
            && !(FIRST_YEAR..=last_year).contains(&year)
        {
            errors.push(FieldError::new(
                field,
                format!("must be a year between {FIRST_YEAR} and {last_year}"),
            ));
        }
    }
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        errors.push(FieldError::new(
            "end_release",
            "must not be before start_release",
        ));
    }
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    let length = value.chars().count();
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be blank"));
    } else if length > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters long"),
        ));
    } else if value.trim() != value {
        errors.push(FieldError::new(field, "must not start or end with spaces"));
    }
}

/// A folder name that is safe as a storage key segment.
pub fn check_folder(errors: &mut Vec<FieldError>, folder: &str) {
    check_text(errors, "folder", folder, FOLDER_MAX);
    if !folder
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || folder.starts_with('.')
    {
        errors.push(FieldError::new(
            "folder",
            "may contain only Latin letters, digits, `_`, `-` and `.`, and not start with `.`",
        ));
    }
}

/// Checks a watch's values, references included; all problems are reported at once.
pub async fn check_watch(conn: &impl ConnectionTrait, values: &WatchValues) -> AppResult<()> {
    check_watch_fields(values)?;
    for (kind, id) in [
        (Reference::Gender, values.gender_id),
        (Reference::CaseMaterial, values.case_material_id),
        (Reference::Factory, values.factory_id),
        (Reference::Brand, values.brand_id),
    ] {
        if let Some(id) = id {
            ensure_exist(conn, kind, &[id]).await?;
        }
    }
    if let Some(id) = values.mechanism_id
        && mechanism::Entity::find_by_id(id).one(conn).await?.is_none()
    {
        return Err(AppError::invalid(
            "mechanism_id",
            format!("no mechanism with id {id}"),
        ));
    }
    Ok(())
}

/// The checks of `check_watch` that need no database: everything but the references.
pub fn check_watch_fields(values: &WatchValues) -> AppResult<()> {
    let mut errors = Vec::new();
    check_folder(&mut errors, &values.folder);
    if let Some(code) = &values.code {
        check_text(&mut errors, "code", code, CODE_MAX);
    }
    check_years(&mut errors, values.start_release, values.end_release);
    if values.aliases.len() > MAX_ALIASES {
        errors.push(FieldError::new(
            "aliases",
            format!("at most {MAX_ALIASES} aliases"),
        ));
    }
    for alias in &values.aliases {
        check_text(&mut errors, "aliases", alias, ALIAS_MAX);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Checks a mechanism's values, references included.
pub async fn check_mechanism(
    conn: &impl ConnectionTrait,
    values: &MechanismValues,
) -> AppResult<()> {
    check_mechanism_fields(values)?;
    if let Some(id) = values.mechanism_type_id {
        ensure_exist(conn, Reference::MechanismType, &[id]).await?;
    }
    if let Some(id) = values.factory_id {
        ensure_exist(conn, Reference::Factory, &[id]).await?;
    }
    ensure_exist(conn, Reference::Function, &values.function_ids).await?;
    Ok(())
}

/// The checks of `check_mechanism` that need no database: everything but the references.
pub fn check_mechanism_fields(values: &MechanismValues) -> AppResult<()> {
    let mut errors = Vec::new();
    check_text(&mut errors, "name", &values.name, NAME_MAX);
    if let Some(stones) = values.stones
        && !(0..=MAX_STONES).contains(&stones)
    {
        errors.push(FieldError::new(
            "stones",
            format!("must be between 0 and {MAX_STONES}"),
        ));
    }
    check_years(&mut errors, values.start_release, values.end_release);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Trims, drops empty and repeated aliases (any case), keeping the first spelling.
pub fn normalize_aliases(aliases: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    aliases
        .into_iter()
        .map(|alias| alias.trim().to_owned())
        .filter(|alias| !alias.is_empty() && seen.insert(alias.to_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(check: impl FnOnce(&mut Vec<FieldError>)) -> Vec<String> {
        let mut errors = Vec::new();
        check(&mut errors);
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn years() {
        assert!(errors_of(|e| check_years(e, Some(1970), Some(1980))).is_empty());
        assert!(errors_of(|e| check_years(e, Some(1970), None)).is_empty());
        assert_eq!(
            errors_of(|e| check_years(e, Some(1980), Some(1970))),
            ["end_release"]
        );
        assert_eq!(
            errors_of(|e| check_years(e, Some(1200), None)),
            ["start_release"]
        );
        assert_eq!(
            errors_of(|e| check_years(e, None, Some(3000))),
            ["end_release"]
        );
    }

    #[test]
    fn folders_are_safe_key_segments() {
        assert!(errors_of(|e| check_folder(e, "vostok_amphibia-420.1")).is_empty());
        for bad in ["../x", "a/b", ".hidden", "", "полёт", "a b"] {
            assert!(!errors_of(|e| check_folder(e, bad)).is_empty(), "{bad}");
        }
    }

    #[test]
    fn aliases_are_deduplicated() {
        let aliases = normalize_aliases(vec![
            " Амфибия ".into(),
            "амфибия".into(),
            "".into(),
            "Amphibia".into(),
        ]);
        assert_eq!(aliases, vec!["Амфибия", "Amphibia"]);
    }
}
