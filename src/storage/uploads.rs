//! Multipart uploads that a crash cannot leave behind unnoticed.
//!
//! On S3 each upload of ours has a marker object under `.vitrine/uploads/` naming its key
//! and upload id. While the upload runs, the marker is rewritten every few seconds, so
//! its age tells any instance whether the writer is still alive; completing or aborting
//! the upload deletes it. A marker that stops being rewritten belongs to an upload whose
//! writer died: the janitor aborts that upload and deletes the marker. (Listing the
//! bucket's multipart uploads instead would also find other tools' uploads, and some
//! S3-compatible servers do not offer that listing at all.)
//!
//! Locally, unfinished uploads are staging files next to their destination; uploads in
//! progress in this process are registered so the janitor leaves their files alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStore, PutPayload, PutResult, UploadPart};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

/// Where the markers of S3 uploads live.
pub const MARKER_PREFIX: &str = ".vitrine/uploads";

/// What a marker holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMarker {
    pub key: String,
    pub upload_id: String,
}

impl UploadMarker {
    fn payload(&self) -> object_store::Result<PutPayload> {
        serde_json::to_vec(self)
            .map(PutPayload::from)
            .map_err(|err| object_store::Error::Generic {
                store: "S3",
                source: Box::new(err),
            })
    }
}

/// Keys being written by this process, with how many writers each has.
#[derive(Debug, Clone, Default)]
pub struct LiveUploads(Arc<Mutex<HashMap<String, usize>>>);

impl LiveUploads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a key until the returned guard is dropped.
    pub fn register(&self, key: &str) -> LiveUpload {
        *self.lock().entry(key.to_owned()).or_default() += 1;
        LiveUpload {
            uploads: self.clone(),
            key: key.to_owned(),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    pub fn count(&self) -> usize {
        self.lock().values().sum()
    }
}

/// A key registered as being written.
pub struct LiveUpload {
    uploads: LiveUploads,
    key: String,
}

impl Drop for LiveUpload {
    fn drop(&mut self) {
        let mut live = self.uploads.lock();
        if let Some(count) = live.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.key);
            }
        }
    }
}

/// Starts an S3 multipart upload with its marker; the marker is kept fresh every
/// `heartbeat` until the upload completes, is aborted or is dropped.
///
/// The start runs in a task of its own: a caller dropped half-way (its client went
/// away) would otherwise leave an upload and a marker that nobody aborts; the task
/// aborts them itself when nobody is left to take the upload, and the upload counts as
/// in progress (`in_progress`) until then.
pub async fn start_tracked(
    client: Arc<AmazonS3>,
    location: ObjectPath,
    heartbeat: Duration,
    in_progress: LiveUpload,
) -> object_store::Result<Box<dyn MultipartUpload>> {
    let (hand_over, taken) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _in_progress = in_progress;
        let started = start(client, location, heartbeat).await;
        if let Err(Ok(mut orphan)) = hand_over.send(started) {
            if let Err(err) = orphan.abort().await {
                tracing::warn!(error = %err, key = %orphan.location, "could not abort an unwanted upload");
            }
        }
    });
    match taken.await {
        Ok(started) => started.map(|upload| Box::new(upload) as Box<dyn MultipartUpload>),
        Err(_) => Err(object_store::Error::Generic {
            store: "S3",
            source: "the upload could not be started".into(),
        }),
    }
}

async fn start(
    client: Arc<AmazonS3>,
    location: ObjectPath,
    heartbeat: Duration,
) -> object_store::Result<TrackedUpload> {
    let upload_id = client.create_multipart(&location).await?;
    let marker = UploadMarker {
        key: location.to_string(),
        upload_id: upload_id.clone(),
    };
    let marker_path = ObjectPath::from(format!("{MARKER_PREFIX}/{}", uuid::Uuid::now_v7()));
    let written = async { client.put(&marker_path, marker.payload()?).await }.await;
    if let Err(err) = written {
        // without a marker nobody could find the upload again
        if let Err(abort_err) = client.abort_multipart(&location, &upload_id).await {
            tracing::warn!(error = %abort_err, key = %location, "could not abort an unmarked upload");
        }
        return Err(err);
    }
    let keep_fresh = tokio::spawn(refresh_marker(
        client.clone(),
        marker_path.clone(),
        marker,
        heartbeat,
    ));
    Ok(TrackedUpload {
        client,
        location,
        upload_id,
        marker_path,
        keep_fresh,
        next_part: 0,
        parts: Arc::default(),
    })
}

async fn refresh_marker(
    client: Arc<AmazonS3>,
    path: ObjectPath,
    marker: UploadMarker,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let written = async { client.put(&path, marker.payload()?).await }.await;
        if let Err(err) = written {
            tracing::warn!(error = %err, key = %marker.key, "could not refresh an upload marker");
        }
    }
}

/// An S3 multipart upload whose marker goes when it ends.
#[derive(Debug)]
struct TrackedUpload {
    client: Arc<AmazonS3>,
    location: ObjectPath,
    upload_id: String,
    marker_path: ObjectPath,
    keep_fresh: JoinHandle<()>,
    next_part: usize,
    parts: Arc<Mutex<Vec<Option<PartId>>>>,
}

impl TrackedUpload {
    /// Stops refreshing the marker and deletes it: the upload is over, one way or another.
    async fn forget_marker(&self) {
        self.keep_fresh.abort();
        if let Err(err) = self.client.delete(&self.marker_path).await {
            tracing::warn!(error = %err, key = %self.location, "could not delete an upload marker");
        }
    }
}

impl Drop for TrackedUpload {
    fn drop(&mut self) {
        // a dropped upload is aborted by its owner; the marker stays for the janitor if not
        self.keep_fresh.abort();
    }
}

#[async_trait]
impl MultipartUpload for TrackedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let index = self.next_part;
        self.next_part += 1;
        let (client, location, upload_id, parts) = (
            self.client.clone(),
            self.location.clone(),
            self.upload_id.clone(),
            self.parts.clone(),
        );
        Box::pin(async move {
            let part = client.put_part(&location, &upload_id, index, data).await?;
            let mut parts = parts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if parts.len() <= index {
                parts.resize(index + 1, None);
            }
            parts[index] = Some(part);
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let parts: Option<Vec<PartId>> = self
            .parts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .cloned()
            .collect();
        let parts = parts
            .filter(|parts| parts.len() == self.next_part)
            .ok_or_else(|| object_store::Error::Generic {
                store: "S3",
                source: "a part of the upload is missing".into(),
            })?;
        let result = self
            .client
            .complete_multipart(&self.location, &self.upload_id, parts)
            .await;
        if result.is_ok() {
            self.forget_marker().await;
        }
        result
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.client
            .abort_multipart(&self.location, &self.upload_id)
            .await?;
        self.forget_marker().await;
        Ok(())
    }
}
