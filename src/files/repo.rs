//! Queries of the `files` table.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use super::entity::{self, STATUS_ACTIVE, STATUS_DELETED};
use super::ingest::StoredObject;
use super::model::Visibility;
use crate::db::read::{Reader, find_one};
use crate::error::AppResult;

pub async fn insert(
    conn: &impl ConnectionTrait,
    object: &StoredObject,
    storage: &str,
    bucket: Option<&str>,
    visibility: Visibility,
    owner: Option<i64>,
) -> AppResult<entity::Model> {
    Ok(entity::ActiveModel {
        uid: Set(object.uid.clone()),
        file_key: Set(object.key.clone()),
        original_name: Set(object.original_name.clone()),
        mime_type: Set(object.mime_type.to_owned()),
        size: Set(object.size as i64),
        sha256: Set(object.sha256.clone()),
        storage: Set(storage.to_owned()),
        bucket_name: Set(bucket.map(str::to_owned)),
        status: Set(STATUS_ACTIVE.to_owned()),
        visibility: Set(visibility.as_str().to_owned()),
        s3_url: Set(None),
        expires_at: Set(None),
        uploaded_at: Set(object.uploaded_at),
        added_user: Set(owner),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

fn active_by_uid(uid: &str) -> sea_orm::Select<entity::Entity> {
    entity::Entity::find()
        .filter(entity::Column::Uid.eq(uid))
        .filter(entity::Column::Status.eq(STATUS_ACTIVE))
}

pub async fn find_active(
    conn: &impl ConnectionTrait,
    uid: &str,
) -> AppResult<Option<entity::Model>> {
    Ok(active_by_uid(uid).one(conn).await?)
}

/// `find_active` for reads on the request path (downloads, metadata): on SQLite it skips
/// the hand-offs to sqlx's worker thread.
pub async fn read_active(reader: &Reader, uid: &str) -> AppResult<Option<entity::Model>> {
    find_one(reader, active_by_uid(uid)).await
}

pub async fn find_by_id(
    conn: &impl ConnectionTrait,
    file_id: i64,
) -> AppResult<Option<entity::Model>> {
    Ok(entity::Entity::find_by_id(file_id).one(conn).await?)
}

/// Marks every active file of a member deleted and returns them, for their blobs to go.
pub async fn mark_all_deleted(
    conn: &impl ConnectionTrait,
    owner: i64,
) -> AppResult<Vec<entity::Model>> {
    let files = entity::Entity::find()
        .filter(entity::Column::AddedUser.eq(owner))
        .filter(entity::Column::Status.eq(STATUS_ACTIVE))
        .all(conn)
        .await?;
    entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(STATUS_DELETED))
        .filter(entity::Column::AddedUser.eq(owner))
        .exec(conn)
        .await?;
    Ok(files)
}

/// The uids of active files by id, for embedding URLs.
pub async fn uids(reader: &Reader, file_ids: Vec<i64>) -> AppResult<Vec<(i64, String)>> {
    if file_ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = entity::Entity::find()
        .select_only()
        .column(entity::Column::FileId)
        .column(entity::Column::Uid)
        .filter(entity::Column::FileId.is_in(file_ids))
        .filter(entity::Column::Status.eq(STATUS_ACTIVE))
        .into_query();
    reader
        .all(&query)
        .await?
        .iter()
        .map(|row| Ok((row.get("file_id")?, row.get("uid")?)))
        .collect()
}

pub async fn mark_deleted(conn: &impl ConnectionTrait, file_id: i64) -> AppResult<()> {
    entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(STATUS_DELETED))
        .filter(entity::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn save_link(
    conn: &impl ConnectionTrait,
    file_id: i64,
    url: &str,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    entity::Entity::update_many()
        .col_expr(entity::Column::S3Url, Expr::value(url))
        .col_expr(entity::Column::ExpiresAt, Expr::value(expires_at))
        .filter(entity::Column::FileId.eq(file_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A member's active files, newest first, before the cursor's id.
pub async fn list_owned(
    conn: &impl ConnectionTrait,
    owner: i64,
    before_id: Option<i64>,
    limit: u64,
) -> AppResult<Vec<entity::Model>> {
    let mut query = entity::Entity::find()
        .filter(entity::Column::AddedUser.eq(owner))
        .filter(entity::Column::Status.eq(STATUS_ACTIVE));
    if let Some(before_id) = before_id {
        query = query.filter(entity::Column::FileId.lt(before_id));
    }
    Ok(query
        .order_by_desc(entity::Column::FileId)
        .limit(limit + 1)
        .all(conn)
        .await?)
}
