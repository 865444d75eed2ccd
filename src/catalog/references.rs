//! The six reference tables, all `id, name unique`, served by one set of handlers:
//! `/brands`, `/factories`, `/case-materials`, `/genders`, `/mechanism-types`,
//! `/functions`.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    #[serde(rename = "brands")]
    Brand,
    #[serde(rename = "factories")]
    Factory,
    #[serde(rename = "case-materials")]
    CaseMaterial,
    #[serde(rename = "genders")]
    Gender,
    #[serde(rename = "mechanism-types")]
    MechanismType,
    #[serde(rename = "functions")]
    Function,
}

impl Reference {
    pub const ALL: [Reference; 6] = [
        Reference::Brand,
        Reference::Factory,
        Reference::CaseMaterial,
        Reference::Gender,
        Reference::MechanismType,
        Reference::Function,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Reference::Brand => "brand",
            Reference::Factory => "factory",
            Reference::CaseMaterial => "case_material",
            Reference::Gender => "gender",
            Reference::MechanismType => "mechanism_type",
            Reference::Function => "function",
        }
    }

    /// The path segment under `/api/v1`.
    pub fn path(self) -> &'static str {
        match self {
            Reference::Brand => "brands",
            Reference::Factory => "factories",
            Reference::CaseMaterial => "case-materials",
            Reference::Gender => "genders",
            Reference::MechanismType => "mechanism-types",
            Reference::Function => "functions",
        }
    }

    /// The field naming a row of this table in watches, mechanisms and drafts.
    pub fn field(self) -> &'static str {
        match self {
            Reference::Brand => "brand_id",
            Reference::Factory => "factory_id",
            Reference::CaseMaterial => "case_material_id",
            Reference::Gender => "gender_id",
            Reference::MechanismType => "mechanism_type_id",
            Reference::Function => "function_ids",
        }
    }

    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.path() == path)
    }
}

/// A row of a reference table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ReferenceItem {
    pub id: i64,
    pub name: String,
}

/// The name of one row, if it exists.
pub async fn name_of(
    conn: &impl ConnectionTrait,
    kind: Reference,
    id: i64,
) -> AppResult<Option<String>> {
    let query = Query::select()
        .column(Alias::new("name"))
        .from(Alias::new(kind.table()))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let row = conn
        .query_one(conn.get_database_backend().build(&query))
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get::<String>("", "name")?),
        None => None,
    })
}

/// Rows of a reference table by id: those in `ids`, or all of them.
async fn read_items(
    conn: &impl ConnectionTrait,
    kind: Reference,
    ids: Option<&[i64]>,
) -> AppResult<Vec<ReferenceItem>> {
    let mut query = Query::select()
        .columns([Alias::new("id"), Alias::new("name")])
        .from(Alias::new(kind.table()))
        .order_by(Alias::new("id"), sea_orm::Order::Asc)
        .to_owned();
    if let Some(ids) = ids {
        query.and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()));
    }
    let rows = conn
        .query_all(conn.get_database_backend().build(&query))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(ReferenceItem {
                id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
            })
        })
        .collect()
}

/// Rows by id, for embedding in watch and mechanism JSON.
pub async fn items(
    conn: &impl ConnectionTrait,
    kind: Reference,
    ids: &[i64],
) -> AppResult<Vec<ReferenceItem>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    read_items(conn, kind, Some(ids)).await
}

/// Checks that referenced rows exist; an unknown id is a 422 naming the field.
pub async fn ensure_exist(
    conn: &impl ConnectionTrait,
    kind: Reference,
    ids: &[i64],
) -> AppResult<()> {
    let mut wanted: Vec<i64> = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let found = items(conn, kind, &wanted).await?;
    if let Some(missing) = wanted
        .iter()
        .find(|id| !found.iter().any(|item| item.id == **id))
    {
        return Err(AppError::invalid(
            kind.field(),
            format!("no {} with id {missing}", kind.table().replace('_', " ")),
        ));
    }
    Ok(())
}

/// Every row of a table, by id. Reference tables hold tens to hundreds of rows.
pub async fn all_items(
    conn: &impl ConnectionTrait,
    kind: Reference,
) -> AppResult<Vec<ReferenceItem>> {
    read_items(conn, kind, None).await
}

/// A name as `find_or_create` stores it (trimmed), or the 422 it answers for it.
pub fn checked_name(kind: Reference, name: &str) -> AppResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            kind.field(),
            "names are 1–100 characters long",
        ));
    }
    Ok(name)
}

/// The id of the row named `name` (any case), created when missing.
pub async fn find_or_create(
    conn: &impl ConnectionTrait,
    kind: Reference,
    name: &str,
) -> AppResult<i64> {
    let name = checked_name(kind, name)?;
    if let Some(id) = find_by_name(conn, kind, name).await? {
        return Ok(id);
    }
    let insert = Query::insert()
        .into_table(Alias::new(kind.table()))
        .columns([Alias::new("name")])
        .values_panic([name.into()])
        .to_owned();
    conn.execute(conn.get_database_backend().build(&insert))
        .await?;
    find_by_name(conn, kind, name).await?.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "{} row vanished after insert",
            kind.table()
        ))
    })
}

/// The row whose name equals `name` in any case (Cyrillic included: compared after
/// lower-casing in Rust, as databases differ in how they lower-case).
pub async fn find_by_name(
    conn: &impl ConnectionTrait,
    kind: Reference,
    name: &str,
) -> AppResult<Option<i64>> {
    let wanted = name.trim().to_lowercase();
    let query = Query::select()
        .columns([Alias::new("id"), Alias::new("name")])
        .from(Alias::new(kind.table()))
        .to_owned();
    let rows = conn
        .query_all(conn.get_database_backend().build(&query))
        .await?;
    for row in rows {
        let row_name: String = row.try_get("", "name")?;
        if row_name.to_lowercase() == wanted {
            return Ok(Some(row.try_get("", "id")?));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for kind in Reference::ALL {
            assert_eq!(Reference::from_path(kind.path()), Some(kind));
        }
        assert_eq!(Reference::from_path("watches"), None);
        assert_eq!(Reference::CaseMaterial.table(), "case_material");
    }
}
