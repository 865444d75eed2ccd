//! Where file bytes live: a local directory or an S3-compatible bucket, behind one type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ClientOptions, MultipartUpload, ObjectStore};
use url::Url;

use crate::config::{Config, S3Config, StorageBackend};

mod small_blobs;
mod uploads;

pub use small_blobs::{SMALL_BLOB_MAX, SmallBlobs};
pub use uploads::{LiveUpload, MARKER_PREFIX, UploadMarker};

/// Parts of an upload to S3: the smallest part size S3 accepts (the last excepted).
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of an upload to local disk: large enough for few system calls, small enough
/// to stay in the CPU's cache between being filled and being written (1 MiB parts
/// made a 1 GiB upload 40% slower than the 400 KiB receive chunks written as they came).
const LOCAL_PART_BYTES: usize = 256 * 1024;

pub struct Storage {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
    live_uploads: uploads::LiveUploads,
    /// How often the marker of a running S3 upload is rewritten.
    marker_heartbeat: Duration,
}

enum Backend {
    Local {
        root: PathBuf,
        small_blobs: SmallBlobs,
    },
    S3 {
        client: Arc<AmazonS3>,
        bucket: String,
        presigned_downloads: bool,
    },
}

impl Storage {
    /// Opens the configured storage; for S3 the bucket is checked, and created when
    /// `create_bucket` allows.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        // well within the janitor's grace, so a live upload never looks abandoned
        let marker_heartbeat = (config.janitor_grace() / 4).max(Duration::from_millis(250));
        let (store, backend) = Self::open(config).await?;
        Ok(Self {
            store,
            backend,
            live_uploads: uploads::LiveUploads::default(),
            marker_heartbeat,
        })
    }

    async fn open(config: &Config) -> anyhow::Result<(Arc<dyn ObjectStore>, Backend)> {
        match config.storage {
            StorageBackend::Local => {
                let root = config.files_dir();
                tokio::fs::create_dir_all(&root)
                    .await
                    .with_context(|| format!("creating {}", root.display()))?;
                let root = root
                    .canonicalize()
                    .with_context(|| format!("resolving {}", root.display()))?;
                let store = LocalFileSystem::new_with_prefix(&root)
                    .context("opening the local file store")?
                    .with_automatic_cleanup(true);
                let backend = Backend::Local {
                    root,
                    small_blobs: SmallBlobs::default(),
                };
                Ok((Arc::new(store), backend))
            }
            StorageBackend::S3 => {
                let s3 = &config.s3;
                let bucket = s3
                    .bucket_name
                    .clone()
                    .context("S3_BUCKET_NAME is not set")?;
                ensure_bucket(s3, &bucket).await?;
                let client = Arc::new(s3_client(s3, &bucket)?);
                Ok((
                    client.clone(),
                    Backend::S3 {
                        client,
                        bucket,
                        presigned_downloads: s3.presigned_downloads,
                    },
                ))
            }
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// `local` or `s3`, as recorded in `files.storage`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Local { .. } => "local",
            Backend::S3 { .. } => "s3",
        }
    }

    pub fn bucket(&self) -> Option<&str> {
        match &self.backend {
            Backend::Local { .. } => None,
            Backend::S3 { bucket, .. } => Some(bucket),
        }
    }

    /// The directory of local storage.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Local { root, .. } => Some(root),
            Backend::S3 { .. } => None,
        }
    }

    /// The file behind a key on local storage, for reads that skip the object store.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local { root, .. } => Some(root.join(key)),
            Backend::S3 { .. } => None,
        }
    }

    /// Small local blobs kept in memory (local storage only).
    pub fn small_blobs(&self) -> Option<&SmallBlobs> {
        match &self.backend {
            Backend::Local { small_blobs, .. } => Some(small_blobs),
            Backend::S3 { .. } => None,
        }
    }

    /// The size of an upload's parts; objects up to this size are written in one piece.
    pub fn part_bytes(&self) -> usize {
        match self.backend {
            Backend::Local { .. } => LOCAL_PART_BYTES,
            Backend::S3 { .. } => S3_PART_BYTES,
        }
    }

    pub fn redirects_downloads(&self) -> bool {
        matches!(
            self.backend,
            Backend::S3 {
                presigned_downloads: true,
                ..
            }
        )
    }

    /// A presigned GET URL (S3 only).
    pub async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> anyhow::Result<Option<Url>> {
        match &self.backend {
            Backend::Local { .. } => Ok(None),
            Backend::S3 { client, .. } => Ok(Some(
                client
                    .signed_url(reqwest::Method::GET, &ObjectPath::from(key), expires_in)
                    .await
                    .context("presigning a URL")?,
            )),
        }
    }

    /// Starts a multipart upload to `location`; on S3 it is tracked by a marker, so that
    /// the janitor can abort it if this process dies before it ends.
    pub async fn start_upload(
        &self,
        location: &ObjectPath,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        match &self.backend {
            Backend::Local { .. } => self.store.put_multipart(location).await,
            Backend::S3 { client, .. } => {
                uploads::start_tracked(
                    client.clone(),
                    location.clone(),
                    self.marker_heartbeat,
                    self.register_upload(location.as_ref()),
                )
                .await
            }
        }
    }

    /// Marks `key` as being written by this process until the guard is dropped.
    pub fn register_upload(&self, key: &str) -> LiveUpload {
        self.live_uploads.register(key)
    }

    /// How many uploads this process is writing (or starting, or aborting) right now.
    pub fn uploads_in_progress(&self) -> usize {
        self.live_uploads.count()
    }

    /// Whether this process is writing `key` right now.
    pub fn is_uploading(&self, key: &str) -> bool {
        self.live_uploads.contains(key)
    }

    /// S3 uploads whose marker has not been refreshed since `stale_before`: their writer
    /// is gone. Empty on local storage.
    pub async fn abandoned_uploads(
        &self,
        stale_before: DateTime<Utc>,
    ) -> object_store::Result<Vec<(ObjectPath, UploadMarker)>> {
        if !matches!(self.backend, Backend::S3 { .. }) {
            return Ok(Vec::new());
        }
        let stale: Vec<ObjectPath> = self
            .store
            .list(Some(&ObjectPath::from(MARKER_PREFIX)))
            .try_filter(|meta| std::future::ready(meta.last_modified < stale_before))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        let mut abandoned = Vec::with_capacity(stale.len());
        for path in stale {
            let bytes = match self.store.get(&path).await {
                Ok(found) => found.bytes().await?,
                // ended meanwhile
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(err) => return Err(err),
            };
            match serde_json::from_slice::<UploadMarker>(&bytes) {
                Ok(marker) if self.is_uploading(&marker.key) => {}
                Ok(marker) => abandoned.push((path, marker)),
                Err(err) => {
                    tracing::warn!(error = %err, marker = %path, "an unreadable upload marker");
                }
            }
        }
        Ok(abandoned)
    }

    /// Aborts an abandoned S3 upload (freeing its parts) and deletes its marker.
    pub async fn abort_abandoned(
        &self,
        marker_path: &ObjectPath,
        marker: &UploadMarker,
    ) -> object_store::Result<()> {
        if let Backend::S3 { client, .. } = &self.backend {
            match client
                .abort_multipart(&ObjectPath::from(marker.key.as_str()), &marker.upload_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        self.store.delete(marker_path).await
    }

    /// Reachable when asking for an object that does not exist answers "not found"
    /// (and, on local storage, when the root is still a directory).
    pub async fn ping(&self) -> Result<(), object_store::Error> {
        if let Backend::Local { root, .. } = &self.backend {
            let is_dir = tokio::fs::metadata(root)
                .await
                .map(|meta| meta.is_dir())
                .unwrap_or(false);
            if !is_dir {
                return Err(object_store::Error::Generic {
                    store: "local",
                    source: format!("{} is not a directory", root.display()).into(),
                });
            }
        }
        match self
            .store
            .head(&ObjectPath::from(".vitrine-readiness-probe"))
            .await
        {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

pub(crate) fn s3_client(s3: &S3Config, bucket: &str) -> anyhow::Result<AmazonS3> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&s3.region)
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(10))
                .with_timeout(Duration::from_secs(300))
                .with_allow_http(true),
        );
    if let Some(endpoint) = &s3.endpoint_url {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    if let (Some(access_key), Some(secret_key)) = (&s3.access_key, &s3.secret_key) {
        builder = builder
            .with_access_key_id(access_key)
            .with_secret_access_key(secret_key.expose());
    }
    builder.build().context("configuring the S3 client")
}

/// Checks the bucket with a signed HEAD, and creates it when allowed.
async fn ensure_bucket(s3: &S3Config, bucket: &str) -> anyhow::Result<()> {
    let endpoint = s3
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", s3.region));
    let endpoint: Url = endpoint.parse().context("S3_ENDPOINT_URL is not a URL")?;
    let bucket_ref = rusty_s3::Bucket::new(
        endpoint,
        rusty_s3::UrlStyle::Path,
        bucket.to_owned(),
        s3.region.clone(),
    )
    .context("S3 bucket name")?;
    let credentials = match (&s3.access_key, &s3.secret_key) {
        (Some(key), Some(secret)) => Some(rusty_s3::Credentials::new(
            key.clone(),
            secret.expose().to_owned(),
        )),
        _ => None,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let expires = Duration::from_secs(60);
    use rusty_s3::S3Action;
    let head = rusty_s3::actions::HeadBucket::new(&bucket_ref, credentials.as_ref()).sign(expires);
    let status = http
        .head(head)
        .send()
        .await
        .with_context(|| format!("reaching S3 bucket {bucket}"))?
        .status();
    if status.is_success() {
        return Ok(());
    }
    if status != reqwest::StatusCode::NOT_FOUND {
        bail!("S3 bucket {bucket} answered {status}");
    }
    if !s3.create_bucket {
        bail!(
            "S3 bucket {bucket} does not exist (set VITRINE_S3__CREATE_BUCKET=true to create it)"
        );
    }
    let Some(credentials) = credentials.as_ref() else {
        bail!("creating S3 bucket {bucket} needs S3_ACCESS_KEY and S3_SECRET_KEY");
    };
    let create = rusty_s3::actions::CreateBucket::new(&bucket_ref, credentials).sign(expires);
    let response = http
        .put(create)
        .send()
        .await
        .with_context(|| format!("creating S3 bucket {bucket}"))?;
    if !response.status().is_success() {
        bail!("creating S3 bucket {bucket} answered {}", response.status());
    }
    tracing::info!(bucket, "created the S3 bucket");
    Ok(())
}
