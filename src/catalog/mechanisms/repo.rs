//! Mechanism rows and their functions: reading them as `MechanismDetail`, writing them.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::model::MechanismDetail;
use crate::catalog::entity::{mechanism, mechanism_function};
use crate::catalog::model::MechanismValues;
use crate::catalog::references::{Reference, ReferenceItem, items};
use crate::error::AppResult;

/// The mechanism with its type, factory and functions, if it exists.
pub async fn load_detail(
    conn: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<MechanismDetail>> {
    let Some(row) = mechanism::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    Ok(load_details(conn, vec![row]).await?.pop())
}

/// Details of many mechanisms in their given order, with a fixed number of queries.
pub async fn load_details(
    conn: &impl ConnectionTrait,
    rows: Vec<mechanism::Model>,
) -> AppResult<Vec<MechanismDetail>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let links = mechanism_function::Entity::find()
        .filter(mechanism_function::Column::MechanismId.is_in(ids))
        .all(conn)
        .await?;
    let by_id = |found: Vec<ReferenceItem>| -> HashMap<i64, ReferenceItem> {
        found.into_iter().map(|item| (item.id, item)).collect()
    };
    let functions = by_id(
        items(
            conn,
            Reference::Function,
            &distinct_ids(links.iter().map(|link| link.function_id)),
        )
        .await?,
    );
    let types = by_id(
        items(
            conn,
            Reference::MechanismType,
            &distinct_ids(rows.iter().filter_map(|row| row.mechanism_type_id)),
        )
        .await?,
    );
    let factories = by_id(
        items(
            conn,
            Reference::Factory,
            &distinct_ids(rows.iter().filter_map(|row| row.factory_id)),
        )
        .await?,
    );
    let mut functions_of: HashMap<i64, Vec<ReferenceItem>> = HashMap::new();
    for link in &links {
        if let Some(function) = functions.get(&link.function_id) {
            functions_of
                .entry(link.mechanism_id)
                .or_default()
                .push(function.clone());
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut functions = functions_of.remove(&row.id).unwrap_or_default();
            sort_functions(&mut functions);
            MechanismDetail {
                id: row.id,
                name: row.name,
                stones: row.stones,
                start_release: row.start_release,
                end_release: row.end_release,
                mechanism_type: row.mechanism_type_id.and_then(|id| types.get(&id).cloned()),
                factory: row.factory_id.and_then(|id| factories.get(&id).cloned()),
                functions,
                user_id: row.user_id,
                created_at: row.created_at,
                updated_at: row.updated_at,
            }
        })
        .collect())
}

/// A mechanism's functions in the order answers show them: by name, in any case.
pub fn sort_functions(functions: &mut [ReferenceItem]) {
    functions.sort_by_key(|function| (function.name.to_lowercase(), function.id));
}

fn distinct_ids(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A page of mechanisms by id, with optional filters.
pub async fn list(
    conn: &impl ConnectionTrait,
    mechanism_type_id: Option<i64>,
    factory_id: Option<i64>,
    after: Option<i64>,
    limit: u64,
) -> AppResult<Vec<mechanism::Model>> {
    let mut query = mechanism::Entity::find();
    if let Some(id) = mechanism_type_id {
        query = query.filter(mechanism::Column::MechanismTypeId.eq(id));
    }
    if let Some(id) = factory_id {
        query = query.filter(mechanism::Column::FactoryId.eq(id));
    }
    if let Some(after) = after {
        query = query.filter(mechanism::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(mechanism::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// The ids of a mechanism's functions.
pub async fn function_ids(conn: &impl ConnectionTrait, mechanism_id: i64) -> AppResult<Vec<i64>> {
    Ok(mechanism_function::Entity::find()
        .select_only()
        .column(mechanism_function::Column::FunctionId)
        .filter(mechanism_function::Column::MechanismId.eq(mechanism_id))
        .order_by_asc(mechanism_function::Column::FunctionId)
        .into_tuple()
        .all(conn)
        .await?)
}

/// Writes a new mechanism and its functions; call inside a transaction.
pub async fn insert(
    conn: &impl ConnectionTrait,
    values: &MechanismValues,
    author: impl Into<Option<i64>>,
) -> AppResult<i64> {
    let now = Utc::now();
    let row = mechanism::ActiveModel {
        id: NotSet,
        name: Set(values.name.clone()),
        stones: Set(values.stones),
        start_release: Set(values.start_release),
        end_release: Set(values.end_release),
        mechanism_type_id: Set(values.mechanism_type_id),
        factory_id: Set(values.factory_id),
        user_id: Set(author.into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await?;
    set_functions(conn, row.id, &values.function_ids).await?;
    Ok(row.id)
}

/// Overwrites a mechanism's values and bumps `updated_at`; the functions are replaced
/// only when `functions_changed`. Call inside a transaction.
pub async fn update(
    conn: &impl ConnectionTrait,
    row: mechanism::Model,
    values: &MechanismValues,
    functions_changed: bool,
) -> AppResult<()> {
    let id = row.id;
    let mut changes: mechanism::ActiveModel = row.into();
    changes.name = Set(values.name.clone());
    changes.stones = Set(values.stones);
    changes.start_release = Set(values.start_release);
    changes.end_release = Set(values.end_release);
    changes.mechanism_type_id = Set(values.mechanism_type_id);
    changes.factory_id = Set(values.factory_id);
    changes.updated_at = Set(Utc::now());
    changes.update(conn).await?;
    if functions_changed {
        set_functions(conn, id, &values.function_ids).await?;
    }
    Ok(())
}

/// Replaces the functions of a mechanism.
async fn set_functions(
    conn: &impl ConnectionTrait,
    mechanism_id: i64,
    function_ids: &[i64],
) -> AppResult<()> {
    mechanism_function::Entity::delete_many()
        .filter(mechanism_function::Column::MechanismId.eq(mechanism_id))
        .exec(conn)
        .await?;
    if function_ids.is_empty() {
        return Ok(());
    }
    let rows = function_ids
        .iter()
        .map(|function_id| mechanism_function::ActiveModel {
            id: NotSet,
            mechanism_id: Set(mechanism_id),
            function_id: Set(*function_id),
        });
    mechanism_function::Entity::insert_many(rows)
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes a mechanism with its function links; call inside a transaction.
pub async fn delete(conn: &impl ConnectionTrait, mechanism_id: i64) -> AppResult<()> {
    mechanism_function::Entity::delete_many()
        .filter(mechanism_function::Column::MechanismId.eq(mechanism_id))
        .exec(conn)
        .await?;
    mechanism::Entity::delete_by_id(mechanism_id)
        .exec(conn)
        .await?;
    Ok(())
}
