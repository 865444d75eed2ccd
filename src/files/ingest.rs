//! Streams an upload into storage: sniffs the type from the first bytes, hashes and
//! counts while writing, and leaves nothing behind when anything goes wrong, even when
//! the client disconnects and the request future is dropped. What a crash of the whole
//! process leaves (staging files, unfinished S3 uploads, blobs without a row) is for the
//! janitor.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::sniff::{AllowedTypes, SNIFF_BYTES, display_name, file_key, sniff_mime};
use crate::error::{AppError, AppResult};
use crate::storage::Storage;

/// Parts in flight at once; with the storage's part size this bounds an upload's memory.
const PARTS_IN_FLIGHT: usize = 2;

/// What an upload must satisfy.
pub struct Rules<'a> {
    pub max_bytes: u64,
    pub allowed: &'a AllowedTypes,
    /// Overrides the storage key (catalog photos live at fixed places).
    pub key: Option<String>,
    /// How long the body may send nothing before the upload is ended.
    pub idle_timeout: Duration,
}

/// A stored object that is deleted again unless `keep` is called, e.g. when the row
/// describing it could not be written.
pub struct StoredObject {
    pub uid: String,
    pub key: String,
    pub original_name: String,
    pub mime_type: &'static str,
    pub size: u64,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
    store: Arc<dyn ObjectStore>,
    kept: bool,
}

impl StoredObject {
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for StoredObject {
    fn drop(&mut self) {
        if !self.kept {
            let store = self.store.clone();
            let path = ObjectPath::from(self.key.as_str());
            tokio::spawn(async move {
                if let Err(err) = store.delete(&path).await {
                    tracing::warn!(error = %err, key = %path, "could not remove an abandoned object");
                }
            });
        }
    }
}

/// Aborts a multipart upload that did not complete, whatever the reason.
struct UploadGuard(Option<WriteMultipart>);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if let Some(upload) = self.0.take() {
            tokio::spawn(async move {
                if let Err(err) = upload.abort().await {
                    tracing::warn!(error = %err, "could not abort an unfinished upload");
                }
            });
        }
    }
}

fn too_large(max_bytes: u64) -> AppError {
    AppError::PayloadTooLarge {
        detail: format!("the file is larger than the limit of {max_bytes} bytes"),
    }
}

fn interrupted(err: impl std::fmt::Display) -> AppError {
    tracing::info!(error = %err, "upload interrupted");
    AppError::bad_request(
        "upload_interrupted",
        "the upload was interrupted before it ended",
    )
}

/// The body's next chunk; a client that stalls longer than `idle` is answered 408.
async fn next_chunk<S, E>(body: &mut S, idle: Duration) -> AppResult<Option<Bytes>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    match tokio::time::timeout(idle, body.next()).await {
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(Some(Err(err))) => Err(interrupted(err)),
        Ok(None) => Ok(None),
        Err(_) => Err(AppError::Status {
            status: axum::http::StatusCode::REQUEST_TIMEOUT,
            code: "upload_stalled",
            detail: format!("the upload sent nothing for {} seconds", idle.as_secs_f64()),
        }),
    }
}

/// Writes `body` to storage under a new uid.
pub async fn ingest<S, E>(
    storage: &Storage,
    body: S,
    original_name: &str,
    rules: Rules<'_>,
) -> AppResult<StoredObject>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = body;
    let mut hasher = PartHasher::default();
    let mut size: u64 = 0;
    let mut head = BytesMut::new();
    let mut ended = false;

    let part_bytes = storage.part_bytes();
    // Buffer up to one part: enough to judge the type, and small files go in one PUT.
    while head.len() < part_bytes {
        match next_chunk(&mut body, rules.idle_timeout).await? {
            Some(chunk) => {
                size += chunk.len() as u64;
                if size > rules.max_bytes {
                    return Err(too_large(rules.max_bytes));
                }
                head.extend_from_slice(&chunk);
            }
            None => {
                ended = true;
                break;
            }
        }
        if head.len() >= SNIFF_BYTES {
            check_type(&head, rules.allowed)?;
        }
    }
    if head.is_empty() {
        return Err(AppError::invalid("file", "is empty"));
    }
    let mime_type = check_type(&head, rules.allowed)?;

    let uid = Uuid::now_v7().to_string();
    let uploaded_at = Utc::now();
    let key = rules
        .key
        .unwrap_or_else(|| file_key(mime_type, uploaded_at, &uid, original_name));
    let path = ObjectPath::from(key.as_str());
    let store = storage.store();
    // the janitor leaves the staging files of uploads in progress alone
    let _in_progress = storage.register_upload(&key);

    if ended {
        let head = head.freeze();
        hasher.add(head.clone()).await?;
        store
            .put(&path, PutPayload::from(head))
            .await
            .map_err(AppError::internal)?;
    } else {
        let upload = storage
            .start_upload(&path)
            .await
            .map_err(AppError::internal)?;
        let mut guard = UploadGuard(Some(WriteMultipart::new_with_chunk_size(
            upload, part_bytes,
        )));
        let writer = guard
            .0
            .as_mut()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("upload gone")))?;
        let mut parts = PartBuffer::new(part_bytes);
        let mut rest: &[u8] = &head;
        while let Some(part) = parts.fill(&mut rest) {
            hasher.add(part.clone()).await?;
            writer.put(part);
        }
        while let Some(chunk) = next_chunk(&mut body, rules.idle_timeout).await? {
            size += chunk.len() as u64;
            if size > rules.max_bytes {
                return Err(too_large(rules.max_bytes));
            }
            let mut rest: &[u8] = &chunk;
            while let Some(part) = parts.fill(&mut rest) {
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(AppError::internal)?;
                hasher.add(part.clone()).await?;
                writer.put(part);
            }
        }
        let last = parts.finish();
        hasher.add(last.clone()).await?;
        writer.put(last);
        let writer = guard
            .0
            .take()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("upload gone")))?;
        writer.finish().await.map_err(AppError::internal)?;
    }

    Ok(StoredObject {
        uid,
        key,
        original_name: display_name(original_name),
        mime_type,
        size,
        sha256: hasher.finish().await?,
        uploaded_at,
        store: store.clone(),
        kept: false,
    })
}

/// The SHA-256 of an upload, one part at a time on a blocking thread: hashing (about 0.6
/// CPU-seconds per GiB) runs beside the receiving and writing of the next part instead of
/// after it, and no thread is held while the client sends nothing.
#[derive(Default)]
struct PartHasher {
    hashing: Option<tokio::task::JoinHandle<Sha256>>,
}

impl PartHasher {
    async fn state(&mut self) -> AppResult<Sha256> {
        match self.hashing.take() {
            Some(hashing) => hashing.await.map_err(AppError::internal),
            None => Ok(Sha256::new()),
        }
    }

    /// Hashes `part` after the parts added before it.
    async fn add(&mut self, part: Bytes) -> AppResult<()> {
        let mut state = self.state().await?;
        self.hashing = Some(tokio::task::spawn_blocking(move || {
            state.update(&part);
            state
        }));
        Ok(())
    }

    async fn finish(mut self) -> AppResult<String> {
        Ok(hex::encode(self.state().await?.finalize()))
    }
}

/// Gathers the body's chunks into whole parts of its own. The chunks are slices of the
/// server's receive buffers, which a part holding them would keep alive whole: copying
/// bounds an upload's memory by the parts in flight, and each part is written with one
/// system call instead of one per chunk.
struct PartBuffer {
    part_bytes: usize,
    filling: BytesMut,
}

impl PartBuffer {
    fn new(part_bytes: usize) -> Self {
        Self {
            part_bytes,
            filling: BytesMut::new(),
        }
    }

    /// Takes bytes from the front of `data` until a part is full, and returns that part;
    /// `None` once `data` is used up without filling one.
    fn fill(&mut self, data: &mut &[u8]) -> Option<Bytes> {
        if self.filling.capacity() == 0 {
            self.filling.reserve(self.part_bytes);
        }
        let taken = data.len().min(self.part_bytes - self.filling.len());
        self.filling.extend_from_slice(&data[..taken]);
        *data = &data[taken..];
        (self.filling.len() == self.part_bytes).then(|| self.filling.split().freeze())
    }

    /// The bytes of the last, partial part.
    fn finish(self) -> Bytes {
        self.filling.freeze()
    }
}

fn check_type(head: &[u8], allowed: &AllowedTypes) -> AppResult<&'static str> {
    let sample = &head[..head.len().min(SNIFF_BYTES)];
    match sniff_mime(sample) {
        Some(mime) if allowed.allows(mime) => Ok(mime),
        Some(mime) => Err(AppError::UnsupportedMediaType {
            detail: format!("files of type {mime} are not accepted"),
        }),
        None => Err(AppError::UnsupportedMediaType {
            detail: "the file type could not be recognised".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_whole_and_keep_every_byte_in_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut parts = PartBuffer::new(64);
        let mut out = Vec::new();
        for chunk in data.chunks(100) {
            let mut rest = chunk;
            while let Some(part) = parts.fill(&mut rest) {
                assert_eq!(part.len(), 64);
                out.extend_from_slice(&part);
            }
            assert!(rest.is_empty());
        }
        let last = parts.finish();
        assert_eq!(last.len(), 1000 % 64);
        out.extend_from_slice(&last);
        assert_eq!(out, data);
    }

    #[tokio::test]
    async fn parts_hashed_apart_give_the_digest_of_the_whole() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let mut hasher = PartHasher::default();
        for part in data.chunks(7_000) {
            hasher
                .add(Bytes::copy_from_slice(part))
                .await
                .expect("hashed");
        }
        let digest = hasher.finish().await.expect("finished");
        assert_eq!(digest, hex::encode(Sha256::digest(&data)));
        let empty = PartHasher::default().finish().await.expect("finished");
        assert_eq!(empty, hex::encode(Sha256::digest(b"")));
    }

    #[test]
    fn a_part_does_not_share_memory_with_the_chunks() {
        let chunk = Bytes::from(vec![7u8; 48]);
        let mut parts = PartBuffer::new(16);
        let mut rest: &[u8] = &chunk;
        let part = parts.fill(&mut rest).expect("a full part");
        let chunk_memory = chunk.as_ptr_range();
        assert!(!chunk_memory.contains(&part.as_ptr()));
    }
}
