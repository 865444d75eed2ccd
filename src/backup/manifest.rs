//! The manifest of a backup, and what it records read from a database snapshot.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};

use crate::files::entity as files;

/// Written last: a backup without it is unfinished.
pub const MANIFEST: &str = "manifest.json";
/// Copied blobs live under this folder of a backup, by storage key.
pub const FILES_FOLDER: &str = "files";
pub const FORMAT: u32 = 1;

/// Rows counted into the manifest, by the name shown and the table counted.
const COUNTED: &[(&str, &str)] = &[
    ("users", "users"),
    ("sessions", "sessions"),
    ("watches", "watch"),
    ("mechanisms", "mechanism"),
    ("drafts", "draft_watch"),
    ("collection_entries", "collection"),
    ("avatars", "avatars"),
    ("chats", "chats"),
    ("messages", "messages"),
];
/// The count of file rows with a blob, beside the tables of `COUNTED`.
pub const ACTIVE_FILES: &str = "files";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub vitrine_version: String,
    /// When the database snapshot of this backup was taken.
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub database: DatabasePart,
    pub schema: Schema,
    pub counts: BTreeMap<String, i64>,
    pub storage: StoragePart,
    /// The blob of every active file row of the snapshot.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    /// The name of the database part inside a backup.
    pub fn object_name(self) -> &'static str {
        match self {
            Self::Sqlite => "database.sqlite",
            Self::Postgres => "database.pgdump",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabasePart {
    pub kind: DatabaseKind,
    /// `database.sqlite` (a SQLite file) or `database.pgdump` (`pg_dump --format=custom`).
    pub object: String,
    #[serde(flatten)]
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schema {
    /// The last applied migration.
    pub version: String,
    pub migrations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoragePart {
    /// `local` or `s3`, as in `files.storage`.
    pub kind: String,
    pub bucket: Option<String>,
    /// Whether the blobs were copied into the backup (`files/{key}`); S3 blobs stay in
    /// their bucket and are only listed.
    pub copied: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub key: String,
    #[serde(flatten)]
    pub digest: Digest,
}

/// What a database snapshot holds, as far as the manifest is concerned.
pub struct Contents {
    pub schema: Schema,
    pub counts: BTreeMap<String, i64>,
    /// By key: rows sharing a blob (a photo replaced in place) appear once.
    pub files: Vec<FileEntry>,
}

pub async fn read_contents(conn: &impl ConnectionTrait) -> anyhow::Result<Contents> {
    let backend = conn.get_database_backend();
    let migrations: Vec<String> = conn
        .query_all(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .context("reading the applied migrations")?
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<_, _>>()?;
    let schema = Schema {
        version: migrations.last().cloned().unwrap_or_default(),
        migrations,
    };
    let mut counts = BTreeMap::new();
    for (name, table) in COUNTED {
        counts.insert((*name).to_owned(), count(conn, table).await?);
    }
    let files = active_files(conn).await?;
    counts.insert(ACTIVE_FILES.to_owned(), files.len() as i64);
    Ok(Contents {
        schema,
        counts,
        files,
    })
}

pub async fn count(conn: &impl ConnectionTrait, table: &str) -> anyhow::Result<i64> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .with_context(|| format!("counting {table}"))?
        .context("COUNT(*) answered no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// The blobs the active file rows point to, read a page at a time.
pub async fn active_files(conn: &impl ConnectionTrait) -> anyhow::Result<Vec<FileEntry>> {
    const PAGE: u64 = 5_000;
    let mut entries: BTreeMap<String, Digest> = BTreeMap::new();
    let mut after_id = 0;
    loop {
        let page: Vec<(i64, String, i64, String)> = files::Entity::find()
            .select_only()
            .column(files::Column::FileId)
            .column(files::Column::FileKey)
            .column(files::Column::Size)
            .column(files::Column::Sha256)
            .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
            .filter(files::Column::FileId.gt(after_id))
            .order_by_asc(files::Column::FileId)
            .limit(PAGE)
            .into_tuple()
            .all(conn)
            .await
            .context("reading the file rows")?;
        let Some(last) = page.last() else { break };
        after_id = last.0;
        for (_, key, size, sha256) in page {
            let size = u64::try_from(size).unwrap_or_default();
            entries.insert(key, Digest { size, sha256 });
        }
    }
    Ok(entries
        .into_iter()
        .map(|(key, digest)| FileEntry { key, digest })
        .collect())
}
