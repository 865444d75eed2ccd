//! Where a backup is written to and read from: a local directory or `s3://bucket/prefix`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio_util::io::StreamReader;

use crate::config::S3Config;

pub type Reader = Box<dyn AsyncRead + Unpin + Send>;

#[derive(Clone)]
pub enum Location {
    Dir(PathBuf),
    Bucket {
        store: Arc<dyn ObjectStore>,
        bucket: String,
        /// Empty, or ends without a slash.
        prefix: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "{}", dir.display()),
            Self::Bucket { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl Location {
    /// A directory path, or `s3://bucket/prefix` reached with the configured S3 endpoint,
    /// region and credentials.
    pub fn parse(spec: &str, s3: &S3Config) -> anyhow::Result<Self> {
        let Some(rest) = spec.strip_prefix("s3://") else {
            if spec.trim().is_empty() {
                bail!("no backup location given");
            }
            return Ok(Self::Dir(PathBuf::from(spec)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("{spec}: no bucket named (s3://bucket/prefix)");
        }
        let store = crate::storage::s3_client(s3, bucket)?;
        Ok(Self::Bucket {
            store: Arc::new(store),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The location `name` inside this one.
    pub fn child(&self, name: &str) -> Self {
        match self {
            Self::Dir(dir) => Self::Dir(dir.join(name)),
            Self::Bucket {
                store,
                bucket,
                prefix,
            } => Self::Bucket {
                store: store.clone(),
                bucket: bucket.clone(),
                prefix: join(prefix, name),
            },
        }
    }

    fn object(prefix: &str, name: &str) -> ObjectPath {
        ObjectPath::from(join(prefix, name))
    }

    /// Opens `name` for writing; what is written counts once [`Sink::finish`] returns.
    pub async fn create(&self, name: &str) -> anyhow::Result<Sink> {
        match self {
            Self::Dir(dir) => {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let file = tokio::fs::File::create(&path)
                    .await
                    .with_context(|| format!("creating {}", path.display()))?;
                Ok(Sink::File(file))
            }
            Self::Bucket { store, prefix, .. } => Ok(Sink::Object(Box::new(BufWriter::new(
                store.clone(),
                Self::object(prefix, name),
            )))),
        }
    }

    /// Opens `name` for reading; `None` when it does not exist.
    pub async fn open(&self, name: &str) -> anyhow::Result<Option<Reader>> {
        match self {
            Self::Dir(dir) => open_file(&dir.join(name)).await,
            Self::Bucket { store, prefix, .. } => {
                open_object(store.as_ref(), &Self::object(prefix, name)).await
            }
        }
    }

    pub async fn exists(&self, name: &str) -> anyhow::Result<bool> {
        match self {
            Self::Dir(dir) => Ok(tokio::fs::try_exists(dir.join(name)).await?),
            Self::Bucket { store, prefix, .. } => {
                match store.head(&Self::object(prefix, name)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    pub async fn remove(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Self::Dir(dir) => match tokio::fs::remove_file(dir.join(name)).await {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
                _ => Ok(()),
            },
            Self::Bucket { store, prefix, .. } => {
                match store.delete(&Self::object(prefix, name)).await {
                    Err(err) if !matches!(err, object_store::Error::NotFound { .. }) => {
                        Err(err.into())
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// The names of the folders directly inside this location.
    pub async fn folders(&self) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        match self {
            Self::Dir(dir) => {
                let mut entries = match tokio::fs::read_dir(dir).await {
                    Ok(entries) => entries,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(names),
                    Err(err) => return Err(err.into()),
                };
                while let Some(entry) = entries.next_entry().await? {
                    if entry.file_type().await?.is_dir() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Self::Bucket { store, prefix, .. } => {
                let base = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                let listing = store.list_with_delimiter(base.as_ref()).await?;
                for folder in listing.common_prefixes {
                    if let Some(name) = folder.filename() {
                        names.push(name.to_owned());
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Deletes this location and everything in it.
    pub async fn remove_all(&self) -> anyhow::Result<()> {
        match self {
            Self::Dir(dir) => match tokio::fs::remove_dir_all(dir).await {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
                _ => Ok(()),
            },
            Self::Bucket { store, prefix, .. } => {
                // the prefix ends at a folder boundary, so `a/b` never takes `a/bc`
                let base = ObjectPath::from(prefix.as_str());
                let listed = store.list(Some(&base)).map_ok(|meta| meta.location).boxed();
                store
                    .delete_stream(listed)
                    .try_collect::<Vec<_>>()
                    .await
                    .context("deleting an old backup")?;
                Ok(())
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

pub async fn open_file(path: &Path) -> anyhow::Result<Option<Reader>> {
    match tokio::fs::File::open(path).await {
        Ok(file) => Ok(Some(Box::new(file))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("opening {}", path.display())),
    }
}

pub async fn open_object(
    store: &dyn ObjectStore,
    path: &ObjectPath,
) -> anyhow::Result<Option<Reader>> {
    match store.get(path).await {
        Ok(found) => {
            let stream = found.into_stream().map_err(std::io::Error::other);
            Ok(Some(Box::new(StreamReader::new(stream))))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {path}")),
    }
}

/// A file or an S3 object being written.
pub enum Sink {
    File(tokio::fs::File),
    Object(Box<BufWriter>),
}

impl Sink {
    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::File(file) => file.write_all(bytes).await,
            Self::Object(writer) => writer.write_all(bytes).await,
        }
    }

    /// Makes what was written durable: synced to disk, or the upload completed.
    pub async fn finish(self) -> std::io::Result<()> {
        match self {
            Self::File(mut file) => {
                file.flush().await?;
                file.sync_all().await
            }
            Self::Object(mut writer) => writer.shutdown().await,
        }
    }
}

/// Streams what `reader` gives into `sink`, in bounded pieces, hashing on the way.
pub async fn copy_hashing(
    reader: &mut (impl AsyncRead + Unpin + ?Sized),
    mut sink: Option<&mut Sink>,
) -> std::io::Result<super::manifest::Digest> {
    use sha2::{Digest as _, Sha256};
    use tokio::io::AsyncReadExt;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut size: u64 = 0;
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        let piece = &buffer[..read];
        hasher.update(piece);
        size += read as u64;
        if let Some(sink) = sink.as_deref_mut() {
            sink.write_all(piece).await?;
        }
    }
    Ok(super::manifest::Digest {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

const COPY_BUFFER_BYTES: usize = 256 * 1024;

/// Rejects keys that could leave the folder they are written under.
pub fn check_key(key: &str) -> anyhow::Result<()> {
    let safe = !key.is_empty()
        && !key.starts_with('/')
        && !key.contains('\\')
        && key
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !safe {
        bail!("a file key that is not a plain relative path: {key:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_climb_out_are_refused() {
        assert!(check_key("images/2026/12/abc/photo.png").is_ok());
        for bad in ["", "/etc/passwd", "a/../b", "../x", "a//b", "a\\b", "./a"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn s3_locations_name_bucket_and_prefix() {
        let s3 = S3Config {
            endpoint_url: Some("http://127.0.0.1:9".into()),
            ..S3Config::default()
        };
        let location = Location::parse("s3://backups/vitrine/daily/", &s3).unwrap();
        assert_eq!(location.to_string(), "s3://backups/vitrine/daily");
        assert_eq!(
            location.child("one").to_string(),
            "s3://backups/vitrine/daily/one"
        );
        assert!(Location::parse("s3:///x", &s3).is_err());
        assert!(matches!(
            Location::parse("/srv/backups", &s3),
            Ok(Location::Dir(_))
        ));
    }
}
