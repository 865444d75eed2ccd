//! Staging files of local uploads that never finished: the object store writes a file
//! to `{key}#{n}` and renames it into place when complete, so a crash mid-upload leaves
//! the staging file, which the store itself never lists.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::storage::Storage;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Removed {
    pub files: u64,
    pub bytes: u64,
}

/// Removes the staging files under the local root that no upload of this process is
/// writing and that were last written more than `grace` ago, and the directories they
/// leave empty.
pub async fn remove_stale_staging_files(
    storage: &Storage,
    grace: Duration,
) -> std::io::Result<Removed> {
    let Some(root) = storage.local_root().map(Path::to_path_buf) else {
        return Ok(Removed::default());
    };
    let staged = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || staging_files(&root))
            .await
            .map_err(std::io::Error::other)??
    };
    let stale_before = SystemTime::now() - grace;
    let mut removed = Removed::default();
    for (path, key) in staged {
        if storage.is_uploading(&key) {
            continue;
        }
        let Ok(meta) = tokio::fs::metadata(&path).await else {
            continue;
        };
        if meta.modified()? >= stale_before {
            continue;
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                removed.files += 1;
                removed.bytes += meta.len();
                remove_empty_parents(&root, &path).await;
            }
            // finished or removed meanwhile
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}

/// The staging file name's destination: `name#12` stages `name`.
fn staged_destination(file_name: &str) -> Option<&str> {
    let (destination, suffix) = file_name.rsplit_once('#')?;
    let is_counter = !suffix.is_empty() && suffix.bytes().all(|byte| byte.is_ascii_digit());
    is_counter.then_some(destination)
}

/// Every staging file under `root`, with the key it stages.
fn staging_files(root: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        let entries = match std::fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                directories.push(path);
                continue;
            }
            let Some(destination) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(staged_destination)
            else {
                continue;
            };
            let key = path
                .with_file_name(destination)
                .strip_prefix(root)
                .map(|relative| relative.to_string_lossy().replace('\\', "/"));
            if let Ok(key) = key {
                found.push((path, key));
            }
        }
    }
    Ok(found)
}

/// Removes the directories between `path` and `root` that are now empty.
async fn remove_empty_parents(root: &Path, path: &Path) {
    let mut directory = path.parent();
    while let Some(current) = directory {
        if current == root || !current.starts_with(root) {
            break;
        }
        // fails, and stops the climb, when the directory still holds something
        if tokio::fs::remove_dir(current).await.is_err() {
            break;
        }
        directory = current.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::staged_destination;

    #[test]
    fn staging_names_end_in_a_counter() {
        assert_eq!(staged_destination("movie.mp4#1"), Some("movie.mp4"));
        assert_eq!(staged_destination("a#b#23"), Some("a#b"));
        assert_eq!(staged_destination("movie.mp4"), None);
        assert_eq!(staged_destination("movie#"), None);
        assert_eq!(staged_destination("movie#1a"), None);
    }
}
