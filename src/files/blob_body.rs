//! A blob's bytes as an answer body: small local blobs from memory, mid-sized ones from a
//! memory map, large ones streamed from the file, S3 objects streamed from the bucket.

use std::io::SeekFrom;

use axum::body::Body;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::download::Blob;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::storage::SMALL_BLOB_MAX;

/// Read size for local files: large reads keep system calls few.
const READ_CHUNK: usize = 256 * 1024;
/// Answers up to this size are sent from a memory map of the blob: no copy through a
/// buffer of ours and one trip to the blocking pool instead of one per chunk.
const MAP_LIMIT: u64 = 4 * 1024 * 1024;

/// A local blob ready to send: mid-sized ones mapped whole, larger ones streamed from the file.
enum LocalBlob {
    Mapped(bytes::Bytes),
    Open(std::fs::File),
}

pub async fn read_body(
    state: &AppState,
    blob: &Blob<'_>,
    start: u64,
    length: u64,
) -> AppResult<Body> {
    if length == 0 {
        return Ok(Body::empty());
    }
    let key = blob.key.as_str();
    if let Some(path) = state.storage.local_path(key) {
        if let Some(small_blobs) = state.storage.small_blobs()
            && blob.size <= SMALL_BLOB_MAX
        {
            let whole = match small_blobs.get(key, &blob.etag) {
                Some(bytes) => Some(bytes),
                None => {
                    let read =
                        read_whole(path.clone(), key.to_owned(), blob.size, blob.etag.clone())
                            .await?;
                    if let Some((bytes, true)) = &read {
                        small_blobs.insert(key, &blob.etag, bytes.clone());
                    }
                    read.map(|(bytes, _)| bytes)
                }
            };
            if let Some(whole) = whole {
                // start + length <= size <= SMALL_BLOB_MAX: the range fits in usize
                return Ok(Body::from(
                    whole.slice(start as usize..(start + length) as usize),
                ));
            }
        }
        let key = key.to_owned();
        let opened = tokio::task::spawn_blocking(move || -> AppResult<LocalBlob> {
            let file = open_blob(&path, &key, start + length)?;
            if length > MAP_LIMIT {
                return Ok(LocalBlob::Open(file));
            }
            // SAFETY: blobs are written once under a fresh key (a staged file renamed into
            // place) and only ever unlinked, never truncated or rewritten, and the file was
            // just checked to be long enough, so the mapping stays valid while it lives.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(start)
                    .len(length as usize)
                    .populate()
                    .map(&file)
            }
            .map_err(AppError::internal)?;
            Ok(LocalBlob::Mapped(bytes::Bytes::from_owner(map)))
        })
        .await
        .map_err(AppError::internal)?;
        let file = match opened? {
            LocalBlob::Mapped(bytes) => return Ok(Body::from(bytes)),
            LocalBlob::Open(file) => file,
        };
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(AppError::internal)?;
        }
        let reader = file.take(length);
        return Ok(Body::from_stream(ReaderStream::with_capacity(
            reader, READ_CHUNK,
        )));
    }
    let options = GetOptions {
        range: Some(GetRange::Bounded(start..start + length)),
        ..GetOptions::default()
    };
    let result = state
        .storage
        .store()
        .get_opts(&ObjectPath::from(key), options)
        .await
        .map_err(AppError::internal)?;
    Ok(Body::from_stream(
        result.into_stream().map_err(std::io::Error::other),
    ))
}

/// The first `size` bytes of a local blob, read in one trip to the blocking pool, and
/// whether they hash to `sha256`. Only such bytes are kept in memory: a blob that is
/// not its file's content (a thumbnail, or a watch photo caught while being replaced in
/// place) is sent but never answered again from memory. `None` when the blob is
/// shorter than `size`: the ranges it still holds are served the ordinary way.
async fn read_whole(
    path: std::path::PathBuf,
    key: String,
    size: u64,
    sha256: String,
) -> AppResult<Option<(bytes::Bytes, bool)>> {
    tokio::task::spawn_blocking(move || -> AppResult<Option<(bytes::Bytes, bool)>> {
        let file = open_blob(&path, &key, 0)?;
        if file.metadata().map_err(AppError::internal)?.len() < size {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(file, size), &mut bytes)
            .map_err(AppError::internal)?;
        let is_the_file = hex::encode(Sha256::digest(&bytes)) == sha256;
        Ok(Some((bytes.into(), is_the_file)))
    })
    .await
    .map_err(AppError::internal)?
}

/// Opens a local blob that must hold at least `needed` bytes.
fn open_blob(path: &std::path::Path, key: &str, needed: u64) -> AppResult<std::fs::File> {
    let file = std::fs::File::open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            tracing::error!(key, "a file row points at a missing blob");
        }
        AppError::internal(err)
    })?;
    let size = file.metadata().map_err(AppError::internal)?.len();
    if size < needed {
        tracing::error!(
            key,
            size,
            needed,
            "a blob is shorter than its file row says"
        );
        return Err(AppError::internal(anyhow::anyhow!(
            "blob {key} is truncated"
        )));
    }
    Ok(file)
}
