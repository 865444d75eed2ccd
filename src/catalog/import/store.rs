//! The queries of batched writes: a batch's stored watches and codes read in a few
//! statements, its watches written in a few more.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::catalog::entity::{alias, watch};
use crate::catalog::model::WatchValues;
use crate::catalog::watches::repo::apply;
use crate::db::{in_lists, rows};
use crate::error::AppError;

/// Watch rows per insert statement (13 values each).
const WATCH_ROWS: usize = 512;
/// Values per `IN (…)` list.
const IN_LIST: usize = 1024;

/// A stored watch whose folder is in the batch, with its aliases in order.
pub(super) struct Stored {
    pub row: watch::Model,
    pub aliases: Vec<String>,
}

/// The stored watches with these folders, with their aliases, by folder.
pub(super) async fn stored_watches(
    conn: &impl ConnectionTrait,
    folders: &[String],
) -> Result<HashMap<String, Stored>, AppError> {
    let mut stored = HashMap::new();
    for folders in in_lists(folders, IN_LIST) {
        let rows = watch::Entity::find()
            .filter(watch::Column::Folder.is_in(folders))
            .all(conn)
            .await?;
        if rows.is_empty() {
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let mut aliases: HashMap<i64, Vec<String>> = HashMap::new();
        let links: Vec<(i64, String)> = alias::Entity::find()
            .select_only()
            .columns([alias::Column::WatchId, alias::Column::Key])
            .filter(alias::Column::WatchId.is_in(in_lists(&ids, ids.len()).flatten()))
            .order_by_asc(alias::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        for (watch_id, key) in links {
            aliases.entry(watch_id).or_default().push(key);
        }
        for row in rows {
            let aliases = aliases.remove(&row.id).unwrap_or_default();
            stored.insert(row.folder.clone(), Stored { row, aliases });
        }
    }
    Ok(stored)
}

/// The watches holding these codes.
pub(super) async fn code_owners(
    conn: &impl ConnectionTrait,
    codes: &[String],
) -> Result<HashMap<String, Option<i64>>, AppError> {
    let mut owners = HashMap::new();
    for codes in in_lists(codes, IN_LIST) {
        let rows: Vec<(i64, Option<String>)> = watch::Entity::find()
            .select_only()
            .columns([watch::Column::Id, watch::Column::Code])
            .filter(watch::Column::Code.is_in(codes))
            .into_tuple()
            .all(conn)
            .await?;
        for (id, code) in rows {
            if let Some(code) = code {
                owners.insert(code, Some(id));
            }
        }
    }
    Ok(owners)
}

/// Brings stored watches to their new values, in order (a code one frees may be taken
/// by the next).
pub(super) async fn update_watches(
    conn: &impl ConnectionTrait,
    updates: &[(i64, &WatchValues)],
) -> Result<(), AppError> {
    let now = Utc::now();
    for (id, values) in updates {
        let mut active = watch::ActiveModel {
            updated_at: Set(now),
            ..Default::default()
        };
        apply(&mut active, values);
        watch::Entity::update_many()
            .set(active)
            .filter(watch::Column::Id.eq(*id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Adds watches, without author, and returns each with its new id.
pub(super) async fn insert_watches<'v>(
    conn: &impl ConnectionTrait,
    watches: &[&'v WatchValues],
) -> Result<Vec<(i64, &'v WatchValues)>, AppError> {
    let now = Utc::now();
    let mut with_ids = Vec::with_capacity(watches.len());
    for chunk in rows(watches, WATCH_ROWS) {
        let new_rows = chunk.iter().map(|values| {
            let mut active = watch::ActiveModel {
                user_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            apply(&mut active, values);
            active
        });
        watch::Entity::insert_many(new_rows).exec(conn).await?;
        let folders: Vec<&str> = chunk.iter().map(|v| v.folder.as_str()).collect();
        let ids: HashMap<String, i64> = watch::Entity::find()
            .select_only()
            .columns([watch::Column::Folder, watch::Column::Id])
            .filter(watch::Column::Folder.is_in(in_lists(&folders, folders.len()).flatten()))
            .into_tuple::<(String, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        for values in chunk {
            let id = ids.get(&values.folder).copied().ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("watch {} vanished", values.folder))
            })?;
            with_ids.push((id, *values));
        }
    }
    Ok(with_ids)
}
