//! Blobs that no live file row points to. A crash can leave one between writing a blob
//! and committing its row, between committing a deletion and removing the blob, or in the
//! middle of moving or replacing a watch photo. Rows are written after their blobs and
//! blobs are removed after their rows, so a row never points at nothing; what is left is
//! always a blob without a row, and that is what this sweep removes.
//!
//! A blob is removed only when two runs, at least the grace period apart, both found it
//! older than the grace period, unchanged and without a row: an upload or a move whose row is
//! being committed right now is never raced, even where the store reports an old time for
//! a fresh copy (local copies are hard links; S3 dates a multipart object by its start).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};

use crate::catalog::watches::images::SET_ASIDE_SUFFIX;
use crate::error::AppResult;
use crate::files::entity::{self, STATUS_ACTIVE};
use crate::files::sniff::CATEGORIES;
use crate::storage::Storage;

/// The top-level folders vitrine writes blobs to; nothing else in a bucket is touched.
const THUMBS: &str = "thumbs";
const WATCH_PHOTOS: &str = "watches";
const DRAFT_PHOTOS: &str = "drafts";
/// Objects judged per batch of database lookups.
const BATCH: usize = 500;

/// Blobs found without a row by the last run, with what they looked like then.
#[derive(Debug, Default)]
pub struct Suspects(HashMap<ObjectPath, (u64, DateTime<Utc>)>);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swept {
    pub removed: u64,
    pub removed_bytes: u64,
    pub photos_restored: u64,
    pub suspected: u64,
}

/// Judges every blob older than `stale_before`: those suspected last time and still
/// without a row are removed (or, for a set-aside photo, put back); the others become
/// this run's suspects.
pub async fn sweep(
    db: &DatabaseConnection,
    storage: &Storage,
    suspects: &mut Suspects,
    stale_before: DateTime<Utc>,
) -> AppResult<Swept> {
    let store = storage.store();
    let mut swept = Swept::default();
    let mut next_suspects = Suspects::default();
    let prefixes = CATEGORIES
        .iter()
        .chain([&THUMBS, &WATCH_PHOTOS, &DRAFT_PHOTOS]);
    for prefix in prefixes {
        let mut listing = store
            .list(Some(&ObjectPath::from(*prefix)))
            .try_filter(|meta| std::future::ready(meta.last_modified < stale_before))
            .chunks(BATCH);
        while let Some(batch) = listing.next().await {
            let batch: Vec<ObjectMeta> = batch
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(crate::error::AppError::internal)?;
            for meta in unreferenced(db, batch).await? {
                let seen = (meta.size, meta.last_modified);
                if suspects.0.get(&meta.location) != Some(&seen) {
                    next_suspects.0.insert(meta.location, seen);
                    continue;
                }
                if let Some(photo_key) = set_aside_photo(&meta.location) {
                    if put_back_if_current(db, store, &meta.location, photo_key).await? {
                        swept.photos_restored += 1;
                        continue;
                    }
                }
                match store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                        swept.removed += 1;
                        swept.removed_bytes += meta.size;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, key = %meta.location, "could not remove an orphaned blob");
                    }
                }
            }
        }
    }
    swept.suspected = next_suspects.0.len() as u64;
    *suspects = next_suspects;
    Ok(swept)
}

/// The blobs of `batch` that no active file row needs: neither as its bytes nor, for a
/// thumbnail, as the file it was made of.
async fn unreferenced(
    db: &DatabaseConnection,
    batch: Vec<ObjectMeta>,
) -> AppResult<Vec<ObjectMeta>> {
    let keys: Vec<String> = batch.iter().map(|meta| meta.location.to_string()).collect();
    let uids: Vec<String> = batch
        .iter()
        .filter_map(|meta| thumbnail_of(&meta.location))
        .map(str::to_owned)
        .collect();
    let live_keys: Vec<String> = entity::Entity::find()
        .select_only()
        .column(entity::Column::FileKey)
        .filter(entity::Column::Status.eq(STATUS_ACTIVE))
        .filter(entity::Column::FileKey.is_in(keys))
        .into_tuple()
        .all(db)
        .await?;
    let live_uids: Vec<String> = if uids.is_empty() {
        Vec::new()
    } else {
        entity::Entity::find()
            .select_only()
            .column(entity::Column::Uid)
            .filter(entity::Column::Status.eq(STATUS_ACTIVE))
            .filter(entity::Column::Uid.is_in(uids))
            .into_tuple()
            .all(db)
            .await?
    };
    Ok(batch
        .into_iter()
        .filter(|meta| match thumbnail_of(&meta.location) {
            Some(uid) => !live_uids.iter().any(|live| live == uid),
            None => !live_keys.iter().any(|live| *live == meta.location.as_ref()),
        })
        .collect())
}

/// `thumbs/{uid}/…` → the uid.
fn thumbnail_of(location: &ObjectPath) -> Option<&str> {
    let mut parts = location.as_ref().split('/');
    (parts.next() == Some(THUMBS))
        .then(|| parts.next())
        .flatten()
}

/// `watches/…/{side}.{ext}.previous` → the photo's key.
fn set_aside_photo(location: &ObjectPath) -> Option<&str> {
    location
        .as_ref()
        .strip_prefix(WATCH_PHOTOS)
        .filter(|rest| rest.starts_with('/'))
        .and(location.as_ref().strip_suffix(SET_ASIDE_SUFFIX))
}

/// A photo replaced in place keeps its old bytes aside until the new row commits. When
/// the process died in between, the row still describes the old bytes while the key holds
/// the new ones: then the old bytes go back. True when they did.
async fn put_back_if_current(
    db: &DatabaseConnection,
    store: &Arc<dyn ObjectStore>,
    aside: &ObjectPath,
    photo_key: &str,
) -> AppResult<bool> {
    let Some(row) = entity::Entity::find()
        .filter(entity::Column::FileKey.eq(photo_key))
        .filter(entity::Column::Status.eq(STATUS_ACTIVE))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let photo = ObjectPath::from(photo_key);
    if sha256_of(store, aside).await?.as_deref() != Some(row.sha256.as_str())
        || sha256_of(store, &photo).await?.as_deref() == Some(row.sha256.as_str())
    {
        return Ok(false);
    }
    store
        .rename(aside, &photo)
        .await
        .map_err(crate::error::AppError::internal)?;
    // thumbnails made meanwhile show the bytes that were not kept
    let thumbs: Vec<ObjectPath> = store
        .list(Some(&ObjectPath::from(format!("{THUMBS}/{}", row.uid))))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .map_err(crate::error::AppError::internal)?;
    for thumb in thumbs {
        if let Err(err) = store.delete(&thumb).await {
            tracing::warn!(error = %err, key = %thumb, "could not delete a stale thumbnail");
        }
    }
    tracing::warn!(
        key = photo_key,
        "put back a photo whose replacement never committed"
    );
    Ok(true)
}

/// The SHA-256 of a blob, or `None` when there is no such blob.
async fn sha256_of(store: &Arc<dyn ObjectStore>, path: &ObjectPath) -> AppResult<Option<String>> {
    let found = match store.get(path).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(crate::error::AppError::internal(err)),
    };
    let mut hasher = Sha256::new();
    let mut chunks = found.into_stream();
    while let Some(chunk) = chunks.next().await {
        hasher.update(chunk.map_err(crate::error::AppError::internal)?);
    }
    Ok(Some(hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_objects_name_what_they_belong_to() {
        let thumb = ObjectPath::from("thumbs/0190-uid/64x64.png");
        assert_eq!(thumbnail_of(&thumb), Some("0190-uid"));
        assert_eq!(
            thumbnail_of(&ObjectPath::from("images/2026/01/u/a.png")),
            None
        );
        let aside = ObjectPath::from("watches/f-1/main.jpg.previous");
        assert_eq!(set_aside_photo(&aside), Some("watches/f-1/main.jpg"));
        assert_eq!(
            set_aside_photo(&ObjectPath::from("watches/f-1/main.jpg")),
            None
        );
        assert_eq!(
            set_aside_photo(&ObjectPath::from("images/2026/01/u/x.previous")),
            None
        );
    }
}
