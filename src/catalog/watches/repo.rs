//! Watch rows with their aliases: the writes every path into the live catalog goes
//! through (direct edits, approved drafts, imports), each checking the values, keeping
//! `folder` and `code` unique and rewriting the search index in the caller's transaction.

use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Order, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, Statement,
};

use crate::catalog::entity::{alias, collection, watch, watch_image, watch_search_token};
use crate::catalog::model::{WatchValues, check_watch, normalize_aliases};
use crate::catalog::search;
use crate::error::{AppError, AppResult};
use crate::files::entity as files;
use crate::files::repo as files_repo;

pub fn watch_not_found(id: i64) -> AppError {
    AppError::not_found("watch_not_found", format!("no watch with id {id}"))
}

fn folder_taken(folder: &str) -> AppError {
    AppError::conflict(
        "folder_taken",
        format!("another watch already uses the folder `{folder}`"),
    )
}

pub(crate) fn code_taken(code: &str) -> AppError {
    AppError::conflict(
        "code_taken",
        format!("another watch already has the code `{code}`"),
    )
}

/// The values as they are stored: aliases trimmed and each kept once.
fn normalized(values: &WatchValues) -> WatchValues {
    WatchValues {
        aliases: normalize_aliases(values.aliases.clone()),
        ..values.clone()
    }
}

/// Refuses a folder or code another watch (not `except`) already has. The unique indexes
/// stay the last word when two writes race; `unique_violation` names them the same way.
async fn ensure_unique(
    conn: &impl ConnectionTrait,
    values: &WatchValues,
    except: Option<i64>,
) -> AppResult<()> {
    let others = |query: sea_orm::Select<watch::Entity>| match except {
        Some(id) => query.filter(watch::Column::Id.ne(id)),
        None => query,
    };
    let taken = others(watch::Entity::find().filter(watch::Column::Folder.eq(&values.folder)))
        .select_only()
        .column(watch::Column::Id)
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    if taken.is_some() {
        return Err(folder_taken(&values.folder));
    }
    if let Some(code) = &values.code {
        let taken = others(watch::Entity::find().filter(watch::Column::Code.eq(code)))
            .select_only()
            .column(watch::Column::Id)
            .into_tuple::<i64>()
            .one(conn)
            .await?;
        if taken.is_some() {
            return Err(code_taken(code));
        }
    }
    Ok(())
}

/// A unique violation of the watch table as the API names it.
fn unique_violation(err: DbErr, values: &WatchValues) -> AppError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        if message.contains("folder") {
            return folder_taken(&values.folder);
        }
        if message.contains("code") {
            return code_taken(values.code.as_deref().unwrap_or_default());
        }
    }
    err.into()
}

async fn write_aliases(
    conn: &impl ConnectionTrait,
    watch_id: i64,
    aliases: &[String],
) -> AppResult<()> {
    delete_aliases(conn, &[watch_id]).await?;
    insert_aliases(conn, [(watch_id, aliases)]).await
}

/// Rows per insert statement, and ids per delete.
const CHUNK: usize = 1024;

/// Removes the aliases of these watches.
pub(crate) async fn delete_aliases(
    conn: &impl ConnectionTrait,
    watch_ids: &[i64],
) -> AppResult<()> {
    for ids in crate::db::in_lists(watch_ids, CHUNK) {
        alias::Entity::delete_many()
            .filter(alias::Column::WatchId.is_in(ids))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Adds each watch's aliases in the order given, which is the order `aliases_of` reads
/// them back in (by id).
pub(crate) async fn insert_aliases<'a>(
    conn: &impl ConnectionTrait,
    aliases_by_watch: impl IntoIterator<Item = (i64, &'a [String])>,
) -> AppResult<()> {
    let mut watch_ids = Vec::new();
    let mut entries: Vec<(i64, &String)> = Vec::new();
    for (watch_id, aliases) in aliases_by_watch {
        watch_ids.push(watch_id);
        entries.extend(aliases.iter().map(|key| (watch_id, key)));
    }
    for run in crate::db::rows(&entries, CHUNK) {
        let rows = run.iter().map(|(watch_id, key)| alias::ActiveModel {
            id: NotSet,
            watch_id: Set(*watch_id),
            key: Set((*key).clone()),
        });
        alias::Entity::insert_many(rows).exec(conn).await?;
    }
    set_titles(conn, &watch_ids).await
}

/// Copies each watch's first alias into its `title`, which lists read.
async fn set_titles(conn: &impl ConnectionTrait, watch_ids: &[i64]) -> AppResult<()> {
    let first_alias = Query::select()
        .column((alias::Entity, alias::Column::Key))
        .from(alias::Entity)
        .and_where(
            Expr::col((alias::Entity, alias::Column::WatchId))
                .equals((watch::Entity, watch::Column::Id)),
        )
        .order_by((alias::Entity, alias::Column::Id), Order::Asc)
        .limit(1)
        .to_owned();
    let title = SimpleExpr::SubQuery(None, Box::new(first_alias.into_sub_query_statement()));
    for ids in crate::db::in_lists(watch_ids, CHUNK) {
        let update = Query::update()
            .table(watch::Entity)
            .value(watch::Title, title.clone())
            .and_where(Expr::col((watch::Entity, watch::Column::Id)).is_in(ids))
            .to_owned();
        conn.execute(conn.get_database_backend().build(&update))
            .await?;
    }
    Ok(())
}

/// Sets every column `WatchValues` holds (not the aliases).
pub(crate) fn apply(active: &mut watch::ActiveModel, values: &WatchValues) {
    active.folder = Set(values.folder.clone());
    active.code = Set(values.code.clone());
    active.integrated_bracelet = Set(values.integrated_bracelet);
    active.start_release = Set(values.start_release);
    active.end_release = Set(values.end_release);
    active.gender_id = Set(values.gender_id);
    active.case_material_id = Set(values.case_material_id);
    active.mechanism_id = Set(values.mechanism_id);
    active.factory_id = Set(values.factory_id);
    active.brand_id = Set(values.brand_id);
}

/// Makes the caller's transaction a writer before it reads anything. SQLite lets a
/// transaction that has read wait for the write lock, but not write once another writer
/// has committed meanwhile (`SQLITE_BUSY`), so catalog writes take the lock first, with an
/// update that changes nothing. On PostgreSQL nothing is done: row locks and the unique
/// indexes settle concurrent writes there.
pub async fn begin_write(conn: &impl ConnectionTrait) -> AppResult<()> {
    if conn.get_database_backend() == DbBackend::Sqlite {
        conn.execute(Statement::from_string(
            DbBackend::Sqlite,
            "UPDATE watch SET id = id WHERE id = -1",
        ))
        .await?;
    }
    Ok(())
}

/// Adds a watch with its aliases, credited to `author` (a user id, or `None`), and
/// indexes it for search. Checks the values (422), the folder (409 `folder_taken`) and the
/// code (409 `code_taken`). Run it inside the caller's transaction.
pub async fn insert_watch(
    conn: &impl ConnectionTrait,
    values: &WatchValues,
    author: impl Into<Option<i64>>,
) -> AppResult<watch::Model> {
    begin_write(conn).await?;
    let values = normalized(values);
    check_watch(conn, &values).await?;
    ensure_unique(conn, &values, None).await?;
    let now = Utc::now();
    let mut active = watch::ActiveModel {
        id: NotSet,
        user_id: Set(author.into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply(&mut active, &values);
    let row = active
        .insert(conn)
        .await
        .map_err(|err| unique_violation(err, &values))?;
    write_aliases(conn, row.id, &values.aliases).await?;
    search::reindex(conn, row.id).await?;
    Ok(row)
}

/// Replaces every value of watch `id` (aliases included) and reindexes it; the author
/// stays as it was. 404 `watch_not_found`, 422 and 409 as `insert_watch`.
pub async fn update_watch(
    conn: &impl ConnectionTrait,
    id: i64,
    values: &WatchValues,
) -> AppResult<watch::Model> {
    write_update(conn, id, values, None).await
}

/// `update_watch` that also credits the change to `author`.
pub async fn update_watch_by(
    conn: &impl ConnectionTrait,
    id: i64,
    values: &WatchValues,
    author: impl Into<Option<i64>>,
) -> AppResult<watch::Model> {
    write_update(conn, id, values, Some(author.into())).await
}

async fn write_update(
    conn: &impl ConnectionTrait,
    id: i64,
    values: &WatchValues,
    author: Option<Option<i64>>,
) -> AppResult<watch::Model> {
    let current = lock_for_write(conn, id).await?;
    let values = normalized(values);
    check_watch(conn, &values).await?;
    ensure_unique(conn, &values, Some(id)).await?;
    let mut active: watch::ActiveModel = current.into();
    apply(&mut active, &values);
    if let Some(author) = author {
        active.user_id = Set(author);
    }
    active.updated_at = Set(Utc::now());
    let row = active
        .update(conn)
        .await
        .map_err(|err| unique_violation(err, &values))?;
    write_aliases(conn, id, &values.aliases).await?;
    search::reindex(conn, id).await?;
    Ok(row)
}

/// Starts a change of watch `id` in the caller's transaction: marks it changed now (a
/// write, so the transaction holds the row, or SQLite's write lock, from here on and
/// concurrent changes of the watch wait for each other) and returns the row as it is.
pub async fn lock_for_write(conn: &impl ConnectionTrait, id: i64) -> AppResult<watch::Model> {
    let updated = watch::Entity::update_many()
        .col_expr(watch::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(watch::Column::Id.eq(id))
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(watch_not_found(id));
    }
    watch::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| watch_not_found(id))
}

/// The aliases of a watch in the order they were written.
pub async fn aliases_of(conn: &impl ConnectionTrait, watch_id: i64) -> AppResult<Vec<String>> {
    Ok(alias::Entity::find()
        .select_only()
        .column(alias::Column::Key)
        .filter(alias::Column::WatchId.eq(watch_id))
        .order_by_asc(alias::Column::Id)
        .into_tuple()
        .all(conn)
        .await?)
}

/// A stored row as values.
pub fn values_of(row: &watch::Model, aliases: Vec<String>) -> WatchValues {
    WatchValues {
        folder: row.folder.clone(),
        code: row.code.clone(),
        integrated_bracelet: row.integrated_bracelet,
        start_release: row.start_release,
        end_release: row.end_release,
        gender_id: row.gender_id,
        case_material_id: row.case_material_id,
        mechanism_id: row.mechanism_id,
        factory_id: row.factory_id,
        brand_id: row.brand_id,
        aliases,
    }
}

/// The live watch as values (e.g. to show what an edit proposal changes).
pub async fn load_values(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<WatchValues>> {
    let Some(row) = watch::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let aliases = aliases_of(conn, id).await?;
    Ok(Some(values_of(&row, aliases)))
}

pub async fn find_by_folder(
    conn: &impl ConnectionTrait,
    folder: &str,
) -> AppResult<Option<watch::Model>> {
    Ok(watch::Entity::find()
        .filter(watch::Column::Folder.eq(folder))
        .one(conn)
        .await?)
}

/// What `upsert_by_folder` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
    Unchanged,
}

/// Adds the watch, or brings the watch with the same folder to these values; nothing is
/// written when it already has them. For imports, which have no author.
pub async fn upsert_by_folder(
    conn: &impl ConnectionTrait,
    values: &WatchValues,
) -> AppResult<Upserted> {
    begin_write(conn).await?;
    let Some(current) = find_by_folder(conn, &values.folder).await? else {
        insert_watch(conn, values, None).await?;
        return Ok(Upserted::Created);
    };
    let wanted = normalized(values);
    let aliases = aliases_of(conn, current.id).await?;
    if values_of(&current, aliases) == wanted {
        return Ok(Upserted::Unchanged);
    }
    update_watch(conn, current.id, &wanted).await?;
    Ok(Upserted::Updated)
}

/// The photos of a watch (side and file row), in side order.
pub async fn photos_of(
    conn: &impl ConnectionTrait,
    watch_id: i64,
) -> AppResult<Vec<(watch_image::Model, files::Model)>> {
    let images = watch_image::Entity::find()
        .filter(watch_image::Column::WatchId.eq(watch_id))
        .order_by_asc(watch_image::Column::Id)
        .all(conn)
        .await?;
    let mut photos = Vec::with_capacity(images.len());
    for image in images {
        if let Some(file) = files_repo::find_by_id(conn, image.file_id).await? {
            photos.push((image, file));
        }
    }
    Ok(photos)
}

/// Marks a photo's file deleted and frees its key for the next photo of the side (photos
/// live at fixed keys and the files table keeps keys unique): the row is left with
/// `deleted/{uid}/{key}`. `file` keeps the real key, for removing the blob after commit.
pub async fn retire_photo_file(conn: &impl ConnectionTrait, file: &files::Model) -> AppResult<()> {
    files::Entity::update_many()
        .col_expr(files::Column::Status, Expr::value(files::STATUS_DELETED))
        .col_expr(
            files::Column::FileKey,
            Expr::value(format!("deleted/{}/{}", file.uid, file.file_key)),
        )
        .filter(files::Column::FileId.eq(file.file_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes a watch with its aliases, photos (rows; the files marked deleted), collection
/// entries and search words. Returns the photo files, whose blobs the caller removes after
/// committing, or `None` when there is no such watch.
pub async fn delete_watch(
    conn: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<Vec<files::Model>>> {
    match lock_for_write(conn, id).await {
        Ok(_) => {}
        Err(AppError::NotFound { .. }) => return Ok(None),
        Err(err) => return Err(err),
    }
    let photos = photos_of(conn, id).await?;
    alias::Entity::delete_many()
        .filter(alias::Column::WatchId.eq(id))
        .exec(conn)
        .await?;
    watch_image::Entity::delete_many()
        .filter(watch_image::Column::WatchId.eq(id))
        .exec(conn)
        .await?;
    collection::Entity::delete_many()
        .filter(collection::Column::WatchId.eq(id))
        .exec(conn)
        .await?;
    watch_search_token::Entity::delete_many()
        .filter(watch_search_token::Column::WatchId.eq(id))
        .exec(conn)
        .await?;
    for (_, file) in &photos {
        retire_photo_file(conn, file).await?;
    }
    watch::Entity::delete_by_id(id).exec(conn).await?;
    Ok(Some(photos.into_iter().map(|(_, file)| file).collect()))
}
