//! The database part of a backup, taken while the server keeps writing: SQLite through
//! `VACUUM INTO` (a consistent copy made inside one read transaction, never a copy of
//! the live file), PostgreSQL through `pg_dump` on a snapshot exported from a
//! transaction that the manifest's counts and file rows are read in too.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, IsolationLevel, SqlxSqliteConnector,
    Statement, TransactionTrait,
};
use tokio::io::AsyncReadExt;

use super::location::{Location, copy_hashing, open_file};
use super::manifest::{Contents, DatabaseKind, DatabasePart, read_contents};
use crate::config::Config;

/// The database part as written, and what the manifest says of it.
pub struct Snapshot {
    pub part: DatabasePart,
    pub contents: Contents,
}

pub fn kind_of(db: &DatabaseConnection) -> DatabaseKind {
    if crate::db::is_postgres(db) {
        DatabaseKind::Postgres
    } else {
        DatabaseKind::Sqlite
    }
}

pub async fn take(
    db: &DatabaseConnection,
    config: &Config,
    dest: &Location,
) -> anyhow::Result<Snapshot> {
    match kind_of(db) {
        DatabaseKind::Sqlite => take_sqlite(db, config, dest).await,
        DatabaseKind::Postgres => take_postgres(db, config, dest).await,
    }
}

async fn take_sqlite(
    db: &DatabaseConnection,
    config: &Config,
    dest: &Location,
) -> anyhow::Result<Snapshot> {
    let object = DatabaseKind::Sqlite.object_name();
    // straight into a backup directory; for a bucket, next to the data and uploaded
    let (path, staged) = match dest {
        Location::Dir(dir) => (dir.join(object), false),
        Location::Bucket { .. } => (
            config
                .data_dir
                .join(format!(".backup-{}.sqlite", uuid::Uuid::new_v4().simple())),
            true,
        ),
    };
    let _staging = staged.then(|| RemoveOnDrop(path.clone()));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // VACUUM INTO writes only into a file that does not exist (an earlier attempt's goes)
    match tokio::fs::remove_file(&path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
        _ => {}
    }
    let target = path.to_string_lossy().replace('\'', "''");
    db.execute_unprepared(&format!("VACUUM INTO '{target}'"))
        .await
        .context("VACUUM INTO: copying the SQLite database")?;

    let contents = read_sqlite_contents(&path).await?;
    let mut reader = open_file(&path)
        .await?
        .context("the SQLite snapshot vanished")?;
    let digest = if staged {
        let mut sink = dest.create(object).await?;
        let digest = copy_hashing(&mut reader, Some(&mut sink)).await?;
        sink.finish().await?;
        digest
    } else {
        copy_hashing(&mut reader, None).await?
    };
    Ok(Snapshot {
        part: DatabasePart {
            kind: DatabaseKind::Sqlite,
            object: object.to_owned(),
            digest,
        },
        contents,
    })
}

pub async fn read_sqlite_contents(path: &Path) -> anyhow::Result<Contents> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let conn = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    let contents = read_contents(&conn).await;
    conn.close().await.ok();
    contents
}

async fn take_postgres(
    db: &DatabaseConnection,
    config: &Config,
    dest: &Location,
) -> anyhow::Result<Snapshot> {
    let object = DatabaseKind::Postgres.object_name();
    let tx = db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    let snapshot_id: String = tx
        .query_one(Statement::from_string(
            tx.get_database_backend(),
            "SELECT pg_export_snapshot() AS id",
        ))
        .await?
        .context("pg_export_snapshot answered no row")?
        .try_get("", "id")?;
    let mut child = spawn_pg_tool(
        "pg_dump",
        &[
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--snapshot",
            &snapshot_id,
            "--dbname",
            &config.database_url(),
        ],
        Stdio::null(),
    )?;
    let mut stdout = child.stdout.take().context("pg_dump's output")?;
    let mut stderr = child.stderr.take().context("pg_dump's errors")?;
    let mut sink = dest.create(object).await?;
    let mut errors = String::new();
    let (copied, _) = tokio::join!(
        copy_hashing(&mut stdout, Some(&mut sink)),
        stderr.read_to_string(&mut errors)
    );
    let status = child.wait().await?;
    if !status.success() {
        bail!("pg_dump failed ({status}): {}", errors.trim());
    }
    let digest = copied.context("writing the pg_dump output")?;
    sink.finish().await?;
    // the same snapshot as the dump's
    let contents = read_contents(&tx).await?;
    tx.rollback().await.ok();
    Ok(Snapshot {
        part: DatabasePart {
            kind: DatabaseKind::Postgres,
            object: object.to_owned(),
            digest,
        },
        contents,
    })
}

/// Starts `pg_dump`, `pg_restore` or `psql` from the PATH, or says plainly it is missing.
pub fn spawn_pg_tool(
    program: &str,
    args: &[&str],
    stdin: Stdio,
) -> anyhow::Result<tokio::process::Child> {
    match tokio::process::Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => Ok(child),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "{program} is not on the PATH: backups and restores of a PostgreSQL database need \
             PostgreSQL's client tools (pg_dump and pg_restore of the server's major version \
             or newer, e.g. from the postgresql-client package)"
        ),
        Err(err) => Err(err).with_context(|| format!("starting {program}")),
    }
}

/// Removes a staging file however the step ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.0)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, path = %self.0.display(), "could not remove a staging file");
        }
    }
}
