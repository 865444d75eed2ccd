//! Taking a backup while the server keeps serving.
//!
//! The database snapshot comes first; then the blob of every active file row in it is
//! copied (local storage) or looked up (S3, where blobs stay). A blob that was deleted
//! or replaced in place after the snapshot no longer matches its row: a new snapshot is
//! taken and only what changed is copied again, until snapshot and blobs agree.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use sea_orm::DatabaseConnection;

use super::location::{Location, check_key, copy_hashing, open_file};
use super::manifest::{Digest, FILES_FOLDER, FORMAT, FileEntry, MANIFEST, Manifest, StoragePart};
use super::snapshot;
use crate::config::Config;
use crate::storage::Storage;

/// Snapshots taken at most before the blobs that still disagree are reported.
const ATTEMPTS: usize = 4;
/// Blobs copied or looked up at once.
const PARALLEL: usize = 4;

/// A backup as written, with the blobs that never matched their rows.
pub struct Written {
    pub manifest: Manifest,
    /// Keys of blobs missing or differing from their row in every snapshot taken: on
    /// local storage the backup holds what was there, and a restore reports them.
    pub damaged: Vec<String>,
    /// Bytes written: the database part and the copied blobs.
    pub bytes: u64,
}

pub async fn backup(
    db: &DatabaseConnection,
    storage: &Storage,
    config: &Config,
    dest: &Location,
) -> anyhow::Result<Written> {
    if dest.exists(MANIFEST).await? {
        bail!("{dest} already holds a backup ({MANIFEST}); give an empty location");
    }
    let copies = storage.local_root().is_some();
    let mut copied: HashMap<String, Digest> = HashMap::new();
    let mut attempt = 0;
    let (snapshot, created_at, damaged) = loop {
        attempt += 1;
        let created_at = Utc::now();
        let snapshot = snapshot::take(db, config, dest).await?;
        let files = &snapshot.contents.files;
        let disagreeing = if copies {
            copy_blobs(storage, dest, files, &mut copied).await?
        } else {
            look_up_blobs(storage, files).await?
        };
        if disagreeing.is_empty() || attempt == ATTEMPTS {
            break (snapshot, created_at, disagreeing);
        }
        tracing::info!(
            attempt,
            files = disagreeing.len(),
            "files changed while the backup ran; taking a new snapshot"
        );
    };
    let wanted: HashSet<&str> = snapshot
        .contents
        .files
        .iter()
        .map(|file| file.key.as_str())
        .collect();
    // copied for an earlier snapshot, gone from the last one
    for key in copied.keys().filter(|key| !wanted.contains(key.as_str())) {
        dest.remove(&format!("{FILES_FOLDER}/{key}")).await?;
    }
    let bytes = snapshot.part.digest.size
        + copied
            .iter()
            .filter(|(key, _)| wanted.contains(key.as_str()))
            .map(|(_, digest)| digest.size)
            .sum::<u64>();
    let manifest = Manifest {
        format: FORMAT,
        vitrine_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        finished_at: Utc::now(),
        database: snapshot.part,
        schema: snapshot.contents.schema,
        counts: snapshot.contents.counts,
        storage: StoragePart {
            kind: storage.kind().to_owned(),
            bucket: storage.bucket().map(str::to_owned),
            copied: copies,
        },
        files: snapshot.contents.files,
    };
    let mut sink = dest.create(MANIFEST).await?;
    sink.write_all(&serde_json::to_vec_pretty(&manifest)?)
        .await?;
    sink.finish().await.context("writing the manifest")?;
    Ok(Written {
        manifest,
        damaged,
        bytes,
    })
}

/// Copies the blobs not copied yet (or changed since), hashing them; returns the keys
/// whose blob is missing or differs from its row.
async fn copy_blobs(
    storage: &Storage,
    dest: &Location,
    files: &[FileEntry],
    copied: &mut HashMap<String, Digest>,
) -> anyhow::Result<Vec<String>> {
    let pending: Vec<FileEntry> = files
        .iter()
        .filter(|file| copied.get(&file.key) != Some(&file.digest))
        .cloned()
        .collect();
    let results: Vec<(FileEntry, Option<Digest>)> = futures_util::stream::iter(pending)
        .map(|file| async move {
            let digest = copy_blob(storage, dest, &file.key).await?;
            anyhow::Ok((file, digest))
        })
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut disagreeing = Vec::new();
    for (file, digest) in results {
        match digest {
            Some(digest) => {
                if digest != file.digest {
                    disagreeing.push(file.key.clone());
                }
                copied.insert(file.key, digest);
            }
            None => disagreeing.push(file.key),
        }
    }
    Ok(disagreeing)
}

async fn copy_blob(
    storage: &Storage,
    dest: &Location,
    key: &str,
) -> anyhow::Result<Option<Digest>> {
    check_key(key)?;
    let Some(path) = storage.local_path(key) else {
        bail!("copying blobs needs local storage");
    };
    let Some(mut reader) = open_file(&path).await? else {
        return Ok(None);
    };
    let mut sink = dest.create(&format!("{FILES_FOLDER}/{key}")).await?;
    let digest = copy_hashing(&mut reader, Some(&mut sink))
        .await
        .with_context(|| format!("copying {key}"))?;
    sink.finish()
        .await
        .with_context(|| format!("writing {key}"))?;
    Ok(Some(digest))
}

/// S3 blobs stay where they are: each must be there with its row's size.
async fn look_up_blobs(storage: &Storage, files: &[FileEntry]) -> anyhow::Result<Vec<String>> {
    let store = storage.store();
    let results: Vec<Option<String>> = futures_util::stream::iter(files.to_vec())
        .map(|file| async move {
            match store.head(&ObjectPath::from(file.key.as_str())).await {
                Ok(meta) if meta.size == file.digest.size => Ok(None),
                Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(Some(file.key.clone())),
                Err(err) => {
                    Err(anyhow::Error::new(err).context(format!("looking up {}", file.key)))
                }
            }
        })
        .buffer_unordered(PARALLEL * 4)
        .try_collect()
        .await?;
    Ok(results.into_iter().flatten().collect())
}
