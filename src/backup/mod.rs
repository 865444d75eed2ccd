//! Online backups and checked restores.
//!
//! A backup is a folder (a directory, or `s3://bucket/prefix`) holding
//! - `database.sqlite` (made by `VACUUM INTO`) or `database.pgdump` (`pg_dump -Fc`),
//! - `files/{key}`: the blob of every active file row, when files are on local disk
//!   (on S3 they stay in their bucket and are only listed),
//! - `manifest.json`, written last: time, schema version, row counts, and the size and
//!   SHA-256 of the database part and of every blob.
//!
//! Taken while the server serves (`take`), restored into an empty data directory and
//! checked (`restore`), and optionally scheduled by the server itself (`schedule`).

mod location;
mod manifest;
mod restore;
pub mod schedule;
mod snapshot;
mod take;

pub use location::Location;
pub use manifest::{DatabaseKind, Digest, FileEntry, MANIFEST, Manifest};
pub use restore::{CheckReport, check, read_manifest, restore};
pub use take::{Written, backup};

use anyhow::bail;

use crate::config::Config;
use crate::storage::Storage;

/// `vitrine backup DEST`: prints what was written.
pub async fn backup_command(config: &Config, dest: &str) -> anyhow::Result<()> {
    let dest = Location::parse(dest, &config.s3)?;
    let db = crate::db::connect(config).await?;
    let storage = Storage::from_config(config).await?;
    let started = std::time::Instant::now();
    let written = backup(&db, &storage, config, &dest).await?;
    db.close().await.ok();
    let manifest = &written.manifest;
    println!(
        "backup written to {dest} in {:.1}s: {} database ({} bytes), schema {}, {} files{}",
        started.elapsed().as_secs_f64(),
        match manifest.database.kind {
            DatabaseKind::Sqlite => "SQLite",
            DatabaseKind::Postgres => "PostgreSQL",
        },
        manifest.database.digest.size,
        manifest.schema.version,
        manifest.files.len(),
        if manifest.storage.copied {
            format!(" copied ({} bytes in all)", written.bytes)
        } else {
            format!(
                " listed in place in S3 bucket {}",
                manifest.storage.bucket.as_deref().unwrap_or("?")
            )
        }
    );
    print_counts(manifest);
    if !written.damaged.is_empty() {
        for key in &written.damaged {
            eprintln!("damaged: {key}: its blob is missing or differs from its row");
        }
        bail!(
            "{} file(s) did not match their rows in any snapshot; the backup holds what was there",
            written.damaged.len()
        );
    }
    Ok(())
}

/// `vitrine restore SRC [--force]`: restores, checks, and fails when the check finds
/// anything wrong.
pub async fn restore_command(config: &Config, src: &str, force: bool) -> anyhow::Result<()> {
    let src = Location::parse(src, &config.s3)?;
    let started = std::time::Instant::now();
    let (manifest, report) = restore(config, &src, force).await?;
    println!(
        "restored the backup of {} (schema {}) from {src} into {} in {:.1}s; checked {} files ({} bytes)",
        manifest.created_at.to_rfc3339(),
        manifest.schema.version,
        config.data_dir.display(),
        started.elapsed().as_secs_f64(),
        report.files_checked,
        report.bytes_checked
    );
    print_counts(&manifest);
    if !report.problems.is_empty() {
        for problem in &report.problems {
            eprintln!("problem: {problem}");
        }
        bail!(
            "the restore check found {} problem(s)",
            report.problems.len()
        );
    }
    println!("restore check passed");
    Ok(())
}

fn print_counts(manifest: &Manifest) {
    let counts: Vec<String> = manifest
        .counts
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    println!("counts: {}", counts.join(", "));
}
