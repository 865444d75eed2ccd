//! Photos proposed with a watch draft, by side (`main|left|right|bottom`). Each is a
//! private file of the author's under `drafts/{draft}/`, readable by the author and the
//! moderators. An approval publishes them into the watch's photos in its transaction
//! (a side the draft has replaces the live one, the others stay), and the blobs move to
//! `watches/{folder}/{side}.{ext}` after the commit, as a folder change moves them.
//!
//! A draft's photos go with it: withdrawing a draft retires them at once, and photos
//! whose draft went another way (its target watch or its author deleted) are found by
//! the janitor through their key prefix.

use std::collections::HashMap;

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::DraftStatus;
use super::repo::now;
use crate::accounts::entity::users;
use crate::auth::Role;
use crate::catalog::entity::{draft_watch, draft_watch_image, watch_image};
use crate::catalog::model::SIDES;
use crate::catalog::watches::model::ImageLinks;
use crate::catalog::watches::repo::retire_photo_file;
use crate::error::AppResult;
use crate::file_grants::FileReadGrants;
use crate::files::entity as files;
use crate::files::handlers::remove_blobs;
use crate::files::model::Visibility;
use crate::state::AppState;

/// Where draft photos are stored; the janitor looks here for photos without a draft
/// (and, as under its other folders, for blobs without a row).
pub const DRAFT_PHOTO_PREFIX: &str = "drafts/";

/// The storage key of a new photo of `side` of draft `draft_id` (each upload its own).
pub fn draft_photo_key(draft_id: i64, side: &str, extension: &str) -> String {
    format!(
        "{DRAFT_PHOTO_PREFIX}{draft_id}/{side}-{}.{extension}",
        uuid::Uuid::now_v7()
    )
}

/// A photo of one side, of a draft or of the live watch a draft changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DraftImage {
    /// `main`, `left`, `right` or `bottom`.
    pub side: String,
    /// The file's public id.
    pub uid: String,
    pub url: String,
    pub thumb_url: String,
    pub mime_type: String,
    pub size: i64,
}

impl DraftImage {
    pub fn new(public_url: &str, side: &str, file: &files::Model) -> Self {
        let links = ImageLinks::new(public_url, &file.uid);
        Self {
            side: side.to_owned(),
            uid: links.uid,
            url: links.url,
            thumb_url: links.thumb_url,
            mime_type: file.mime_type.clone(),
            size: file.size,
        }
    }
}

fn side_order(side: &str) -> usize {
    SIDES
        .iter()
        .position(|known| *known == side)
        .unwrap_or(SIDES.len())
}

/// The active files of `file_ids`, by id.
async fn active_files(
    conn: &impl ConnectionTrait,
    file_ids: Vec<i64>,
) -> AppResult<HashMap<i64, files::Model>> {
    if file_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(files::Entity::find()
        .filter(files::Column::FileId.is_in(file_ids))
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
        .all(conn)
        .await?
        .into_iter()
        .map(|file| (file.file_id, file))
        .collect())
}

/// The photos of each of `draft_ids`, main, left, right, bottom.
pub(super) async fn images_by_draft(
    conn: &impl ConnectionTrait,
    public_url: &str,
    draft_ids: Vec<i64>,
) -> AppResult<HashMap<i64, Vec<DraftImage>>> {
    if draft_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = draft_watch_image::Entity::find()
        .filter(draft_watch_image::Column::DraftWatchId.is_in(draft_ids))
        .all(conn)
        .await?;
    let files = active_files(conn, rows.iter().map(|row| row.file_id).collect()).await?;
    let mut images: HashMap<i64, Vec<DraftImage>> = HashMap::new();
    for row in &rows {
        if let Some(file) = files.get(&row.file_id) {
            images
                .entry(row.draft_watch_id)
                .or_default()
                .push(DraftImage::new(public_url, &row.side, file));
        }
    }
    for list in images.values_mut() {
        list.sort_by_key(|image| side_order(&image.side));
    }
    Ok(images)
}

/// The live photos of watch `watch_id`, main, left, right, bottom.
pub(super) async fn live_images(
    conn: &impl ConnectionTrait,
    public_url: &str,
    watch_id: i64,
) -> AppResult<Vec<DraftImage>> {
    let rows = watch_image::Entity::find()
        .filter(watch_image::Column::WatchId.eq(watch_id))
        .all(conn)
        .await?;
    let files = active_files(conn, rows.iter().map(|row| row.file_id).collect()).await?;
    let mut images: Vec<DraftImage> = rows
        .iter()
        .filter_map(|row| {
            let file = files.get(&row.file_id)?;
            Some(DraftImage::new(public_url, &row.side, file))
        })
        .collect();
    images.sort_by_key(|image| side_order(&image.side));
    Ok(images)
}

/// The photo of `side` of a draft, with its file row.
pub(super) async fn photo_of(
    conn: &impl ConnectionTrait,
    draft_id: i64,
    side: &str,
) -> AppResult<Option<(draft_watch_image::Model, files::Model)>> {
    let Some(row) = draft_watch_image::Entity::find()
        .filter(draft_watch_image::Column::DraftWatchId.eq(draft_id))
        .filter(draft_watch_image::Column::Side.eq(side))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let file = files::Entity::find_by_id(row.file_id).one(conn).await?;
    Ok(file.map(|file| (row, file)))
}

async fn photos_of(
    conn: &impl ConnectionTrait,
    draft_id: i64,
) -> AppResult<Vec<(draft_watch_image::Model, files::Model)>> {
    let rows = draft_watch_image::Entity::find()
        .filter(draft_watch_image::Column::DraftWatchId.eq(draft_id))
        .order_by_asc(draft_watch_image::Column::Id)
        .all(conn)
        .await?;
    let files = active_files(conn, rows.iter().map(|row| row.file_id).collect()).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let file = files.get(&row.file_id)?.clone();
            Some((row, file))
        })
        .collect())
}

/// Marks a change of a watch draft that its author may still change: back to `draft`
/// (as any edit of a rejected draft), newly updated. False when it was submitted or
/// approved meanwhile. The update also holds the draft's row for the transaction, so a
/// submission waits for the photo being written.
pub(super) async fn touch_editable(conn: &impl ConnectionTrait, draft_id: i64) -> AppResult<bool> {
    let editable = [DraftStatus::Draft, DraftStatus::Rejected].map(DraftStatus::as_str);
    let result = draft_watch::Entity::update_many()
        .col_expr(
            draft_watch::Column::Status,
            Expr::value(DraftStatus::Draft.as_str()),
        )
        .col_expr(draft_watch::Column::UpdatedAt, Expr::value(now()))
        .filter(draft_watch::Column::Id.eq(draft_id))
        .filter(draft_watch::Column::Status.is_in(editable))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records `file` as the photo of `side` of a draft, replacing the previous one, whose
/// file is retired and returned for its blob to go after the commit.
pub(super) async fn set_photo(
    conn: &impl ConnectionTrait,
    draft_id: i64,
    side: &str,
    file_id: i64,
) -> AppResult<Option<files::Model>> {
    let previous = photo_of(conn, draft_id, side).await?;
    if let Some((row, file)) = &previous {
        draft_watch_image::Entity::delete_by_id(row.id)
            .exec(conn)
            .await?;
        retire_photo_file(conn, file).await?;
    }
    draft_watch_image::ActiveModel {
        id: NotSet,
        draft_watch_id: Set(draft_id),
        side: Set(side.to_owned()),
        file_id: Set(file_id),
    }
    .insert(conn)
    .await?;
    Ok(previous.map(|(_, file)| file))
}

/// Retires every photo of a draft that is about to be deleted; the files are returned
/// for their blobs to go after the commit.
pub(super) async fn retire_all(
    conn: &impl ConnectionTrait,
    draft_id: i64,
) -> AppResult<Vec<files::Model>> {
    let photos = photos_of(conn, draft_id).await?;
    for (_, file) in &photos {
        retire_photo_file(conn, file).await?;
    }
    Ok(photos.into_iter().map(|(_, file)| file).collect())
}

/// Publishes the photos of an approved draft as the photos of watch `watch_id`, inside
/// the approval's transaction: each side the draft has replaces the live photo of that
/// side, whose file is retired and returned for its blob to go after the commit. The
/// files become public and the approving moderator's, as a photo a moderator puts is.
/// Returns the replaced files and whether any photo was published.
pub(super) async fn publish(
    conn: &impl ConnectionTrait,
    draft_id: i64,
    watch_id: i64,
    moderator: i64,
) -> AppResult<(Vec<files::Model>, bool)> {
    let photos = photos_of(conn, draft_id).await?;
    let mut replaced = Vec::new();
    for (row, file) in &photos {
        let live = watch_image::Entity::find()
            .filter(watch_image::Column::WatchId.eq(watch_id))
            .filter(watch_image::Column::Side.eq(row.side.as_str()))
            .one(conn)
            .await?;
        if let Some(live) = live {
            watch_image::Entity::delete_by_id(live.id)
                .exec(conn)
                .await?;
            if let Some(old) = files::Entity::find_by_id(live.file_id).one(conn).await? {
                retire_photo_file(conn, &old).await?;
                if old.status == files::STATUS_ACTIVE {
                    replaced.push(old);
                }
            }
        }
        files::Entity::update_many()
            .col_expr(
                files::Column::Visibility,
                Expr::value(Visibility::Public.as_str()),
            )
            .col_expr(files::Column::AddedUser, Expr::value(moderator))
            .filter(files::Column::FileId.eq(file.file_id))
            .exec(conn)
            .await?;
        watch_image::ActiveModel {
            id: NotSet,
            watch_id: Set(watch_id),
            side: Set(row.side.clone()),
            file_id: Set(file.file_id),
        }
        .insert(conn)
        .await?;
    }
    Ok((replaced, !photos.is_empty()))
}

/// The moderators' grant: a photo of a draft is readable by moderators and admins (its
/// author owns it and reads it anyway).
pub struct DraftPhotoGrants {
    db: DatabaseConnection,
}

impl DraftPhotoGrants {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl FileReadGrants for DraftPhotoGrants {
    async fn may_read(&self, file_id: i64, user_id: i64) -> AppResult<bool> {
        let in_a_draft = draft_watch_image::Entity::find()
            .filter(draft_watch_image::Column::FileId.eq(file_id))
            .one(&self.db)
            .await?
            .is_some();
        if !in_a_draft {
            return Ok(false);
        }
        let staff = [Role::Moderator, Role::Admin].map(Role::as_str);
        Ok(users::Entity::find_by_id(user_id)
            .filter(users::Column::Role.is_in(staff))
            .filter(users::Column::IsActive.eq(true))
            .one(&self.db)
            .await?
            .is_some())
    }
}

/// Retires the draft photos that neither a draft nor a watch refers to any more (their
/// draft was deleted with its target watch or its author) and removes their blobs; the
/// janitor's step. Returns how many went.
pub async fn remove_orphans(state: &AppState) -> AppResult<u64> {
    let tx = state.db.begin().await?;
    let retired = retire_orphans(&tx).await?;
    tx.commit().await?;
    for file in &retired {
        remove_blobs(state, file).await;
    }
    Ok(retired.len() as u64)
}

async fn retire_orphans(conn: &impl ConnectionTrait) -> AppResult<Vec<files::Model>> {
    let referenced = |table: &str| {
        Query::select()
            .column(sea_orm::sea_query::Alias::new("file_id"))
            .from(sea_orm::sea_query::Alias::new(table))
            .to_owned()
    };
    let orphans = files::Entity::find()
        .filter(files::Column::Status.eq(files::STATUS_ACTIVE))
        .filter(files::Column::FileKey.starts_with(DRAFT_PHOTO_PREFIX))
        .filter(
            Condition::all()
                .add(files::Column::FileId.not_in_subquery(referenced("draft_watch_image")))
                .add(files::Column::FileId.not_in_subquery(referenced("watch_image"))),
        )
        .all(conn)
        .await?;
    for file in &orphans {
        retire_photo_file(conn, file).await?;
    }
    Ok(orphans)
}
