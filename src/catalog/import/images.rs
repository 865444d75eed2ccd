//! `vitrine import images DIR`: photos matched to watches by folder and side.

use std::path::Path;

use anyhow::Context;
use axum::body::Bytes;

use super::{Summary, progress, reason};
use crate::catalog::model::SIDES;
use crate::catalog::watches::images::store_photo;
use crate::catalog::watches::repo::find_by_folder;
use crate::error::AppError;
use crate::state::AppState;

/// Stores photos laid out as `DIR/{folder}/{main,left,right,bottom}.{jpg,jpeg,png,webp}`.
pub async fn import_images(state: &AppState, dir: &Path) -> anyhow::Result<Summary> {
    let mut photos = Vec::new();
    let mut summary = Summary::default();
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .collect();
    folders.sort_by_key(|entry| entry.file_name());
    for folder in folders {
        let folder_name = folder.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(folder.path())?
            .filter_map(Result::ok)
            .collect();
        files.sort_by_key(|entry| entry.file_name());
        for file in files {
            let path = file.path();
            let label = format!("{folder_name}/{}", file.file_name().to_string_lossy());
            let side = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let extension = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !SIDES.contains(&side.as_str()) || !PHOTO_EXTENSIONS.contains(&extension.as_str()) {
                summary.rejected.push((
                    label,
                    format!(
                        "expected {{{}}}.{{{}}}",
                        SIDES.join(","),
                        PHOTO_EXTENSIONS.join(",")
                    ),
                ));
                continue;
            }
            photos.push((label, folder_name.clone(), side, path));
        }
    }
    let bar = progress(photos.len() as u64, "photos");
    for (label, folder, side, path) in photos {
        bar.inc(1);
        let Some(watch) = find_by_folder(&state.db, &folder).await? else {
            summary
                .rejected
                .push((label, format!("no watch with folder {folder}")));
            continue;
        };
        let bytes = Bytes::from(
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        );
        match store_photo(state, watch.id, &side, bytes, None).await {
            Ok((_, true)) => summary.created += 1,
            Ok((_, false)) => summary.updated += 1,
            Err(AppError::Internal(err)) => return Err(anyhow::anyhow!("{label}: {err:#}")),
            Err(err) => summary.rejected.push((label, reason(&err))),
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

const PHOTO_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];
