//! `vitrine import catalog FILE` (JSON or CSV) and `vitrine import images DIR`.
//! References are created on the fly; watches are matched on `folder`, so running an
//! import twice changes nothing the second time.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::Deserialize;

use axum::body::Bytes;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::entity::mechanism;
use super::mechanisms::repo as mechanisms_repo;
use super::model::{MechanismValues, SIDES, WatchValues, check_mechanism, normalize_aliases};
use super::references::{Reference, find_or_create};
use super::watches::images::store_photo;
use super::watches::repo::{Upserted, find_by_folder, upsert_by_folder};
use crate::error::AppError;
use crate::state::AppState;

/// One watch as written in an import file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CatalogRecord {
    pub folder: String,
    pub code: Option<String>,
    pub brand: Option<String>,
    pub factory: Option<String>,
    pub gender: Option<String>,
    pub case_material: Option<String>,
    pub mechanism: Option<MechanismRecord>,
    #[serde(default)]
    pub integrated_bracelet: bool,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MechanismRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub stones: Option<i32>,
    #[serde(default)]
    pub functions: Vec<String>,
}

/// A CSV row: lists (`functions`, `aliases`) are separated by `;`.
#[derive(Debug, Deserialize)]
struct CsvRow {
    folder: String,
    code: Option<String>,
    brand: Option<String>,
    factory: Option<String>,
    gender: Option<String>,
    case_material: Option<String>,
    mechanism: Option<String>,
    mechanism_type: Option<String>,
    stones: Option<i32>,
    functions: Option<String>,
    integrated_bracelet: Option<bool>,
    start_release: Option<i32>,
    end_release: Option<i32>,
    aliases: Option<String>,
}

fn split_list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl From<CsvRow> for CatalogRecord {
    fn from(row: CsvRow) -> Self {
        let mechanism = non_empty(row.mechanism).map(|name| MechanismRecord {
            name,
            kind: non_empty(row.mechanism_type),
            stones: row.stones,
            functions: split_list(row.functions),
        });
        CatalogRecord {
            folder: row.folder.trim().to_owned(),
            code: non_empty(row.code),
            brand: non_empty(row.brand),
            factory: non_empty(row.factory),
            gender: non_empty(row.gender),
            case_material: non_empty(row.case_material),
            mechanism,
            integrated_bracelet: row.integrated_bracelet.unwrap_or(false),
            start_release: row.start_release,
            end_release: row.end_release,
            aliases: split_list(row.aliases),
        }
    }
}

/// A record, or why it could not be read, labelled for the summary.
pub type ParsedRecord = (String, Result<CatalogRecord, String>);

/// Reads a JSON array or a CSV file (chosen by extension; `.json` or `.csv`).
pub fn read_records(path: &Path) -> anyhow::Result<Vec<ParsedRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "json" => parse_json(&text),
        "csv" => Ok(parse_csv(&text)),
        _ => anyhow::bail!("expected a .json or .csv file"),
    }
}

pub fn parse_json(text: &str) -> anyhow::Result<Vec<ParsedRecord>> {
    let values: Vec<serde_json::Value> =
        serde_json::from_str(text).context("the file is not a JSON array")?;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let label = value
                .get("folder")
                .and_then(|f| f.as_str())
                .map_or_else(|| format!("record {}", index + 1), str::to_owned);
            (
                label,
                serde_json::from_value(value).map_err(|err| err.to_string()),
            )
        })
        .collect())
}

pub fn parse_csv(text: &str) -> Vec<ParsedRecord> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    reader
        .deserialize::<CsvRow>()
        .enumerate()
        .map(|(index, row)| {
            // line 1 is the header
            let label = format!("line {}", index + 2);
            match row {
                Ok(row) => (label, Ok(CatalogRecord::from(row))),
                Err(err) => (label, Err(err.to_string())),
            }
        })
        .collect()
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<(String, String)>,
}

impl Summary {
    pub fn print(&self) {
        println!(
            "created {}, updated {}, unchanged {}, rejected {}",
            self.created,
            self.updated,
            self.unchanged,
            self.rejected.len()
        );
        for (label, reason) in &self.rejected {
            println!("  rejected {label}: {reason}");
        }
    }
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style);
    }
    bar
}

/// Explains an error of the API's kind in one line.
pub fn reason(err: &AppError) -> String {
    match err {
        AppError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Resolves reference names to ids, creating missing rows, with a cache per import.
#[derive(Default)]
pub struct ReferenceCache(HashMap<(&'static str, String), i64>);

impl ReferenceCache {
    pub async fn id(
        &mut self,
        conn: &impl ConnectionTrait,
        kind: Reference,
        name: Option<&str>,
    ) -> Result<Option<i64>, AppError> {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let key = (kind.table(), name.to_lowercase());
        if let Some(id) = self.0.get(&key) {
            return Ok(Some(*id));
        }
        let id = find_or_create(conn, kind, name).await?;
        self.0.insert(key, id);
        Ok(Some(id))
    }
}

/// The mechanism's values from a record, with reference names resolved.
pub async fn mechanism_values(
    conn: &impl ConnectionTrait,
    cache: &mut ReferenceCache,
    record: &MechanismRecord,
    factory_id: Option<i64>,
) -> Result<MechanismValues, AppError> {
    let mut function_ids = Vec::new();
    for function in &record.functions {
        if let Some(id) = cache.id(conn, Reference::Function, Some(function)).await? {
            function_ids.push(id);
        }
    }
    Ok(MechanismValues {
        name: record.name.trim().to_owned(),
        stones: record.stones,
        start_release: None,
        end_release: None,
        mechanism_type_id: cache
            .id(conn, Reference::MechanismType, record.kind.as_deref())
            .await?,
        factory_id,
        function_ids,
    })
}

/// The watch's values from a record; the mechanism id is resolved by the caller.
pub async fn watch_values(
    conn: &impl ConnectionTrait,
    cache: &mut ReferenceCache,
    record: &CatalogRecord,
    factory_id: Option<i64>,
    mechanism_id: Option<i64>,
) -> Result<WatchValues, AppError> {
    Ok(WatchValues {
        folder: record.folder.trim().to_owned(),
        code: non_empty(record.code.clone()),
        integrated_bracelet: record.integrated_bracelet,
        start_release: record.start_release,
        end_release: record.end_release,
        gender_id: cache
            .id(conn, Reference::Gender, record.gender.as_deref())
            .await?,
        case_material_id: cache
            .id(
                conn,
                Reference::CaseMaterial,
                record.case_material.as_deref(),
            )
            .await?,
        mechanism_id,
        factory_id,
        brand_id: cache
            .id(conn, Reference::Brand, record.brand.as_deref())
            .await?,
        aliases: normalize_aliases(record.aliases.clone()),
    })
}

/// Imports every record, each in a transaction of its own, and tells what happened.
pub async fn import_catalog(
    db: &DatabaseConnection,
    records: Vec<ParsedRecord>,
) -> anyhow::Result<Summary> {
    let bar = progress(records.len(), "importing");
    let mut summary = Summary::default();
    let mut cache = ReferenceCache::default();
    for (label, record) in records {
        bar.inc(1);
        let record = match record {
            Ok(record) => record,
            Err(reason) => {
                summary.rejected.push((label, reason));
                continue;
            }
        };
        let tx = db.begin().await?;
        // references created for a rejected record stay cached only if committed
        let mut attempt_cache = std::mem::take(&mut cache);
        match import_record(&tx, &mut attempt_cache, &record).await {
            Ok(outcome) => {
                tx.commit().await?;
                cache = attempt_cache;
                match outcome {
                    Upserted::Created => summary.created += 1,
                    Upserted::Updated => summary.updated += 1,
                    Upserted::Unchanged => summary.unchanged += 1,
                }
            }
            Err(err) => {
                tx.rollback().await?;
                if let AppError::Internal(err) = &err {
                    return Err(anyhow::anyhow!("{label}: {err:#}"));
                }
                summary.rejected.push((label, reason(&err)));
            }
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

async fn import_record(
    tx: &sea_orm::DatabaseTransaction,
    cache: &mut ReferenceCache,
    record: &CatalogRecord,
) -> Result<Upserted, AppError> {
    let factory_id = cache
        .id(tx, Reference::Factory, record.factory.as_deref())
        .await?;
    let mechanism_id = match &record.mechanism {
        Some(mechanism) => {
            let values = mechanism_values(tx, cache, mechanism, factory_id).await?;
            Some(mechanism_id(tx, &values).await?)
        }
        None => None,
    };
    let values = watch_values(tx, cache, record, factory_id, mechanism_id).await?;
    upsert_by_folder(tx, &values).await
}

/// The mechanism of that calibre and factory (any case), created when missing.
async fn mechanism_id(
    tx: &sea_orm::DatabaseTransaction,
    values: &MechanismValues,
) -> Result<i64, AppError> {
    check_mechanism(tx, values).await?;
    let candidates = mechanism::Entity::find()
        .filter(mechanism::Column::FactoryId.eq(values.factory_id))
        .all(tx)
        .await?;
    let wanted = values.name.to_lowercase();
    if let Some(found) = candidates
        .into_iter()
        .find(|m| m.name.to_lowercase() == wanted)
    {
        return Ok(found.id);
    }
    mechanisms_repo::insert(tx, values, None).await
}

/// Stores photos laid out as `DIR/{folder}/{main,left,right,bottom}.{jpg,jpeg,png,webp}`.
pub async fn import_images(state: &AppState, dir: &Path) -> anyhow::Result<Summary> {
    let mut photos = Vec::new();
    let mut summary = Summary::default();
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .collect();
    folders.sort_by_key(|entry| entry.file_name());
    for folder in folders {
        let folder_name = folder.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(folder.path())?
            .filter_map(Result::ok)
            .collect();
        files.sort_by_key(|entry| entry.file_name());
        for file in files {
            let path = file.path();
            let label = format!("{folder_name}/{}", file.file_name().to_string_lossy());
            let side = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let extension = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !SIDES.contains(&side.as_str()) || !PHOTO_EXTENSIONS.contains(&extension.as_str()) {
                summary.rejected.push((
                    label,
                    format!(
                        "expected {{{}}}.{{{}}}",
                        SIDES.join(","),
                        PHOTO_EXTENSIONS.join(",")
                    ),
                ));
                continue;
            }
            photos.push((label, folder_name.clone(), side, path));
        }
    }
    let bar = progress(photos.len(), "photos");
    for (label, folder, side, path) in photos {
        bar.inc(1);
        let Some(watch) = find_by_folder(&state.db, &folder).await? else {
            summary
                .rejected
                .push((label, format!("no watch with folder {folder}")));
            continue;
        };
        let bytes = Bytes::from(
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        );
        match store_photo(state, watch.id, &side, bytes, None).await {
            Ok((_, true)) => summary.created += 1,
            Ok((_, false)) => summary.updated += 1,
            Err(AppError::Internal(err)) => return Err(anyhow::anyhow!("{label}: {err:#}")),
            Err(err) => summary.rejected.push((label, reason(&err))),
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

const PHOTO_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_records() {
        let text = "folder,code,brand,factory,gender,case_material,mechanism,mechanism_type,stones,functions,integrated_bracelet,start_release,end_release,aliases\n\
                    vostok_1,420059,Восток,ЧЧЗ,мужские,сталь,2416Б,автоподзавод,31,календарь;будильник,false,1985,1991,Амфибия; Amphibia\n\
                    bad,,,,,,,,many,,,,,\n";
        let records = parse_csv(text);
        assert_eq!(records.len(), 2);
        let (label, record) = &records[0];
        assert_eq!(label, "line 2");
        let record = record.as_ref().unwrap();
        assert_eq!(record.brand.as_deref(), Some("Восток"));
        assert_eq!(record.aliases, vec!["Амфибия", "Amphibia"]);
        let mechanism = record.mechanism.as_ref().unwrap();
        assert_eq!(mechanism.functions, vec!["календарь", "будильник"]);
        assert_eq!(mechanism.stones, Some(31));
        assert_eq!(record.code.as_deref(), Some("420059"));
        assert!(records[1].1.is_err(), "stones must be a number");
    }

    #[test]
    fn json_records_are_labelled_by_folder() {
        let records = parse_json(
            r#"[{"folder": "a", "aliases": ["x"]}, {"folder": "b", "colour": "red"}, {"code": 5}]"#,
        )
        .unwrap();
        assert_eq!(records[0].0, "a");
        assert!(records[0].1.is_ok());
        assert_eq!(records[1].0, "b");
        assert!(records[1].1.as_ref().unwrap_err().contains("colour"));
        assert_eq!(records[2].0, "record 3");
        assert!(parse_json("{}").is_err());
    }

    #[test]
    fn the_sample_catalog_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/catalog.json");
        let records = read_records(&path).unwrap();
        assert!(records.len() >= 30);
        assert!(records.iter().all(|(_, record)| record.is_ok()));
        let csv = read_records(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/catalog.csv"))
            .unwrap();
        assert!(csv.iter().all(|(_, record)| record.is_ok()));
    }
}
