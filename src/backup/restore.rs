//! Restoring a backup into an empty data directory (and an empty PostgreSQL database),
//! then checking the result: every active file row's blob present with its checksum.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use migration::{Migrator, MigratorTrait};
use object_store::path::Path as ObjectPath;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::io::AsyncReadExt;

use super::location::{Location, Sink, check_key, copy_hashing, open_file, open_object};
use super::manifest::{
    DatabaseKind, FILES_FOLDER, FORMAT, FileEntry, MANIFEST, Manifest, read_contents,
};
use super::snapshot::spawn_pg_tool;
use crate::config::{Config, StorageBackend};
use crate::storage::Storage;

/// Blobs checked at once.
const PARALLEL: usize = 4;
/// A manifest larger than this is not a manifest of ours.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// What the check after a restore found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub files_checked: u64,
    pub bytes_checked: u64,
    /// One line per problem: a missing blob, a checksum that differs, a count that differs.
    pub problems: Vec<String>,
}

pub async fn read_manifest(src: &Location) -> anyhow::Result<Manifest> {
    let mut reader = src.open(MANIFEST).await?.with_context(|| {
        format!("{src} holds no {MANIFEST}: not a vitrine backup, or an unfinished one")
    })?;
    let mut text = Vec::new();
    (&mut reader)
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .await?;
    let manifest: Manifest =
        serde_json::from_slice(&text).with_context(|| format!("reading {src}/{MANIFEST}"))?;
    if manifest.format != FORMAT {
        bail!(
            "{src}: backup format {} (this vitrine reads {FORMAT})",
            manifest.format
        );
    }
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    if let Some(unknown) = manifest
        .schema
        .migrations
        .iter()
        .find(|name| !known.contains(name))
    {
        bail!(
            "the backup's schema has migration {unknown}, which this vitrine does not know: \
             restore it with the version that made it ({})",
            manifest.vitrine_version
        );
    }
    Ok(manifest)
}

/// Restores `src` into the configured data directory, database and storage, then
/// checks it. Refuses a data directory or database that is not empty unless `force`.
pub async fn restore(
    config: &Config,
    src: &Location,
    force: bool,
) -> anyhow::Result<(Manifest, CheckReport)> {
    let manifest = read_manifest(src).await?;
    let url = config.database_url();
    let kind = if url.starts_with("sqlite:") {
        DatabaseKind::Sqlite
    } else {
        DatabaseKind::Postgres
    };
    if kind != manifest.database.kind {
        bail!(
            "this backup holds a {:?} database and DATABASE_URL names a {kind:?} one; \
             restore it into the same kind",
            manifest.database.kind
        );
    }
    match (manifest.storage.copied, config.storage) {
        (true, StorageBackend::Local) | (false, StorageBackend::S3) => {}
        (true, StorageBackend::S3) => {
            bail!("this backup holds its files: restore it with STORAGE=local")
        }
        (false, StorageBackend::Local) => bail!(
            "the files of this backup stay in S3 bucket {}: restore it with STORAGE=s3",
            manifest.storage.bucket.as_deref().unwrap_or("?")
        ),
    }
    if !force && !is_empty_dir(&config.data_dir).await? {
        bail!(
            "{} is not empty: restore into an empty data directory (or pass --force to \
             restore over what is there)",
            config.data_dir.display()
        );
    }
    tokio::fs::create_dir_all(&config.data_dir).await?;
    match kind {
        DatabaseKind::Sqlite => restore_sqlite(&url, src, &manifest, force).await?,
        DatabaseKind::Postgres => restore_postgres(config, src, &manifest, force).await?,
    }
    let mut early_problems = Vec::new();
    if manifest.storage.copied {
        early_problems = restore_files(&config.files_dir(), src, &manifest.files).await?;
    }
    let db = crate::db::connect(config).await?;
    let storage = Storage::from_config(config).await?;
    let mut report = check(&db, &storage, &manifest).await?;
    db.close().await.ok();
    early_problems.append(&mut report.problems);
    report.problems = early_problems;
    Ok((manifest, report))
}

async fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    match tokio::fs::read_dir(dir).await {
        Ok(mut entries) => Ok(entries.next_entry().await?.is_none()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(err) => Err(err).with_context(|| format!("reading {}", dir.display())),
    }
}

async fn restore_sqlite(
    url: &str,
    src: &Location,
    manifest: &Manifest,
    force: bool,
) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::from_str(url).context("parsing the SQLite URL")?;
    let path = options.get_filename().to_path_buf();
    if tokio::fs::try_exists(&path).await? {
        if !force {
            bail!("{} exists (pass --force to replace it)", path.display());
        }
        for suffix in ["", "-wal", "-shm"] {
            remove_if_there(&PathBuf::from(format!("{}{suffix}", path.display()))).await?;
        }
    }
    let part = &manifest.database;
    let mut reader = src
        .open(&part.object)
        .await?
        .with_context(|| format!("{src} has no {}", part.object))?;
    let digest = write_verified(&mut reader, &path).await?;
    if digest != part.digest {
        remove_if_there(&path).await?;
        bail!(
            "the database part of the backup is damaged: sha256 {} and {} bytes, the manifest \
             says {} and {} bytes",
            digest.sha256,
            digest.size,
            part.digest.sha256,
            part.digest.size
        );
    }
    Ok(())
}

/// Writes to a staging name beside `path`, then renames it into place.
async fn write_verified(
    reader: &mut (impl tokio::io::AsyncRead + Unpin + ?Sized),
    path: &Path,
) -> anyhow::Result<super::manifest::Digest> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let staging = PathBuf::from(format!("{}.restoring", path.display()));
    let file = tokio::fs::File::create(&staging)
        .await
        .with_context(|| format!("creating {}", staging.display()))?;
    let mut sink = Sink::File(file);
    let digest = copy_hashing(reader, Some(&mut sink)).await?;
    sink.finish().await?;
    tokio::fs::rename(&staging, path).await?;
    Ok(digest)
}

async fn remove_if_there(path: &Path) -> anyhow::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

async fn restore_postgres(
    config: &Config,
    src: &Location,
    manifest: &Manifest,
    force: bool,
) -> anyhow::Result<()> {
    let part = &manifest.database;
    let open = || async {
        src.open(&part.object)
            .await?
            .with_context(|| format!("{src} has no {}", part.object))
    };
    // a damaged dump is refused before the database is touched
    let digest = copy_hashing(&mut open().await?, None).await?;
    if digest != part.digest {
        bail!(
            "the database part of the backup is damaged: sha256 {}, the manifest says {}",
            digest.sha256,
            part.digest.sha256
        );
    }
    let db = crate::db::connect(config).await?;
    let tables = public_tables(&db).await?;
    db.close().await.ok();
    if tables > 0 && !force {
        bail!(
            "the database of DATABASE_URL has {tables} tables: restore into an empty database \
             (or pass --force to replace them)"
        );
    }
    let url = config.database_url();
    let mut args = vec![
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--dbname",
        &url,
    ];
    if force {
        args.extend(["--clean", "--if-exists"]);
    }
    let mut child = spawn_pg_tool("pg_restore", &args, Stdio::piped())?;
    let mut stdin = child.stdin.take().context("pg_restore's input")?;
    let mut stderr = child.stderr.take().context("pg_restore's errors")?;
    let mut errors = String::new();
    let mut reader = open().await?;
    let feed = async {
        let copied = tokio::io::copy(&mut reader, &mut stdin).await;
        drop(stdin);
        copied
    };
    let (fed, _) = tokio::join!(feed, stderr.read_to_string(&mut errors));
    let status = child.wait().await?;
    if !status.success() {
        bail!("pg_restore failed ({status}): {}", errors.trim());
    }
    fed.context("feeding pg_restore")?;
    Ok(())
}

async fn public_tables(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await?
        .context("no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// Copies the backup's blobs into local storage; returns the ones it could not find.
async fn restore_files(
    files_dir: &Path,
    src: &Location,
    files: &[FileEntry],
) -> anyhow::Result<Vec<String>> {
    let missing: Vec<Option<String>> = futures_util::stream::iter(files.to_vec())
        .map(|file| async move {
            check_key(&file.key)?;
            let Some(mut reader) = src.open(&format!("{FILES_FOLDER}/{}", file.key)).await? else {
                return anyhow::Ok(Some(format!("{}: not in the backup", file.key)));
            };
            write_verified(&mut reader, &files_dir.join(&file.key)).await?;
            Ok(None)
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    Ok(missing.into_iter().flatten().collect())
}

/// Checks a database and its storage against a manifest: the counts, and every active
/// file row's blob present with the row's size and SHA-256.
pub async fn check(
    db: &DatabaseConnection,
    storage: &Storage,
    manifest: &Manifest,
) -> anyhow::Result<CheckReport> {
    let contents = read_contents(db).await?;
    let mut report = CheckReport::default();
    for (name, expected) in &manifest.counts {
        let found = contents.counts.get(name).copied().unwrap_or_default();
        if found != *expected {
            report.problems.push(format!(
                "{name}: the backup has {expected}, the restored database {found}"
            ));
        }
    }
    let results: Vec<(u64, Option<String>)> = futures_util::stream::iter(contents.files)
        .map(|file| async move { check_blob(storage, &file).await })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    for (bytes, problem) in results {
        report.files_checked += 1;
        report.bytes_checked += bytes;
        report.problems.extend(problem);
    }
    Ok(report)
}

async fn check_blob(storage: &Storage, file: &FileEntry) -> anyhow::Result<(u64, Option<String>)> {
    let reader = match storage.local_path(&file.key) {
        Some(path) => open_file(&path).await?,
        None => {
            open_object(
                storage.store().as_ref(),
                &ObjectPath::from(file.key.as_str()),
            )
            .await?
        }
    };
    let Some(mut reader) = reader else {
        return Ok((0, Some(format!("{}: blob missing", file.key))));
    };
    let found = copy_hashing(&mut reader, None)
        .await
        .with_context(|| format!("reading {}", file.key))?;
    let problem = (found != file.digest).then(|| {
        format!(
            "{}: checksum mismatch (the row says sha256 {} and {} bytes, the blob has {} and {} bytes)",
            file.key, file.digest.sha256, file.digest.size, found.sha256, found.size
        )
    });
    Ok((found.size, problem))
}
