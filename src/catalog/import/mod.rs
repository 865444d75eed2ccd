//! `vitrine import catalog FILE` (JSON or CSV) and `vitrine import images DIR`.
//! References are created on the fly; watches are matched on `folder`, so running an
//! import twice changes nothing the second time.
//!
//! A catalog file is read as a stream and written a batch of records per transaction
//! (`batch`): every record is checked before anything is written, so a bad record is
//! rejected with its reason and the rest of its batch is kept. Should the database
//! still refuse a batch, it is written again record by record (`single`), each in a
//! transaction of its own, and only the failing record is lost.

mod batch;
mod conflicts;
mod images;
mod records;
mod single;
mod store;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::mpsc;

pub use images::import_images;
pub use records::{
    CatalogRecord, Format, MechanismRecord, ParsedRecord, count_records, csv_records, json_records,
    parse_csv, parse_json, read_records,
};

use super::model::{MechanismValues, WatchValues, normalize_aliases};
use super::references::Reference;
use super::watches::repo::Upserted;
use crate::error::AppError;
use batch::Known;
use conflicts::MechanismDefinitions;
use records::non_empty;

/// Records written per transaction unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<(String, String)>,
    /// Records written, but not as they say (a mechanism defined differently before).
    pub warnings: Vec<String>,
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
        if !self.warnings.is_empty() {
            println!("warnings {}", self.warnings.len());
        }
        for warning in &self.warnings {
            println!("  warning: {warning}");
        }
    }

    fn count(&mut self, label: String, outcome: Result<Upserted, String>) {
        match outcome {
            Ok(Upserted::Created) => self.created += 1,
            Ok(Upserted::Updated) => self.updated += 1,
            Ok(Upserted::Unchanged) => self.unchanged += 1,
            Err(reason) => self.rejected.push((label, reason)),
        }
    }
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
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

/// Turns reference names into ids: from the database record by record (`single`), or
/// from what a batch already knows (`batch`).
trait Resolve {
    /// The id of the `kind` row named `name` (any case); `None` for no or a blank name.
    async fn id(&mut self, kind: Reference, name: Option<&str>) -> Result<Option<i64>, AppError>;
}

/// The mechanism's values from a record, with reference names resolved.
async fn mechanism_values(
    resolve: &mut impl Resolve,
    record: &MechanismRecord,
    factory_id: Option<i64>,
) -> Result<MechanismValues, AppError> {
    let mut function_ids = Vec::new();
    for function in &record.functions {
        if let Some(id) = resolve.id(Reference::Function, Some(function)).await? {
            function_ids.push(id);
        }
    }
    Ok(MechanismValues {
        name: record.name.trim().to_owned(),
        stones: record.stones,
        start_release: None,
        end_release: None,
        mechanism_type_id: resolve
            .id(Reference::MechanismType, record.kind.as_deref())
            .await?,
        factory_id,
        function_ids,
    })
}

/// The watch's values from a record; the mechanism id is resolved by the caller.
async fn watch_values(
    resolve: &mut impl Resolve,
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
        gender_id: resolve
            .id(Reference::Gender, record.gender.as_deref())
            .await?,
        case_material_id: resolve
            .id(Reference::CaseMaterial, record.case_material.as_deref())
            .await?,
        mechanism_id,
        factory_id,
        brand_id: resolve
            .id(Reference::Brand, record.brand.as_deref())
            .await?,
        aliases: normalize_aliases(record.aliases.clone()),
    })
}

/// The tables an import fills.
const IMPORTED_TABLES: &[&str] = &[
    "watch",
    "alias",
    "watch_search_token",
    "mechanism",
    "mechanism_function",
];

/// Records read ahead of the writer.
const READ_AHEAD: usize = 1_000;

/// Imports every record of `path`, `batch_size` records per transaction, and tells what
/// happened. A file that cannot be read as a whole (not a JSON array, say) fails before
/// anything is written.
pub async fn import_catalog(
    db: &DatabaseConnection,
    path: &Path,
    batch_size: usize,
) -> anyhow::Result<Summary> {
    let format = Format::of(path)?;
    let total = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || count_records(&path, format)).await??
    };
    let bar = progress(total, "importing");
    let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
    let reader = {
        let path: PathBuf = path.to_owned();
        tokio::task::spawn_blocking(move || {
            read_records(&path, format, |record| sender.blocking_send(record).is_ok())
        })
    };
    let batch_size = batch_size.max(1);
    let mut known = Known::load(db).await?;
    let mut summary = Summary::default();
    let mut batch: Vec<ParsedRecord> = Vec::with_capacity(batch_size);
    let mut folders = HashSet::new();
    let mut mechanisms = MechanismDefinitions::default();
    while let Some(record) = receiver.recv().await {
        if let (label, Ok(next)) = &record {
            summary.warnings.extend(mechanisms.check(label, next));
        }
        // a folder seen twice is written in order: the second time in the next batch
        if let (_, Ok(next)) = &record
            && !folders.insert(next.folder.trim().to_owned())
        {
            write_batch(db, &mut known, &mut batch, &mut summary, &bar).await?;
            folders.clear();
            folders.insert(next.folder.trim().to_owned());
        }
        batch.push(record);
        if batch.len() >= batch_size {
            write_batch(db, &mut known, &mut batch, &mut summary, &bar).await?;
            folders.clear();
        }
    }
    write_batch(db, &mut known, &mut batch, &mut summary, &bar).await?;
    reader.await??;
    crate::db::after_bulk_load(db, IMPORTED_TABLES).await?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Writes and empties `batch`: in one transaction, or record by record when the
/// database refuses the batch as a whole.
async fn write_batch(
    db: &DatabaseConnection,
    known: &mut Known,
    batch: &mut Vec<ParsedRecord>,
    summary: &mut Summary,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let len = batch.len() as u64;
    let records: Vec<&CatalogRecord> = batch
        .iter()
        .filter_map(|(_, record)| record.as_ref().ok())
        .collect();
    match known.write(db, &records).await {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (label, record) in batch.drain(..) {
                let outcome = match record {
                    Ok(_) => outcomes.next().unwrap_or(Err("not written".to_owned())),
                    Err(reason) => Err(reason),
                };
                summary.count(label, outcome);
            }
        }
        Err(_) => {
            // the database refused something no check foresaw (a concurrent write, say):
            // the same records again, each on its own
            let mut cache = single::ReferenceCache::default();
            for (label, record) in batch.drain(..) {
                let outcome = match record {
                    Ok(record) => match single::import_record(db, &mut cache, &record).await {
                        Err(AppError::Internal(err)) => {
                            return Err(anyhow::anyhow!("{label}: {err:#}"));
                        }
                        outcome => outcome.map_err(|err| reason(&err)),
                    },
                    Err(reason) => Err(reason),
                };
                summary.count(label, outcome);
            }
            // what the database holds now, written by the records above or by others
            *known = Known::load(db).await?;
        }
    }
    bar.inc(len);
    Ok(())
}

/// Runs `write` in a transaction committed when it succeeds and rolled back (before
/// returning) when it fails.
async fn in_transaction<T>(
    db: &DatabaseConnection,
    write: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let tx = db.begin().await?;
    match write(&tx).await {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(err) => {
            tx.rollback().await?;
            Err(err)
        }
    }
}
