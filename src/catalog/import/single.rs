//! One record in a transaction of its own, everything looked up in the database: how a
//! batch the database refused is written again, so that only the failing record is lost.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::{CatalogRecord, Resolve, in_transaction, mechanism_values, watch_values};
use crate::catalog::entity::mechanism;
use crate::catalog::mechanisms::repo as mechanisms_repo;
use crate::catalog::model::{MechanismValues, check_mechanism};
use crate::catalog::references::{Reference, find_or_create};
use crate::catalog::watches::repo::{Upserted, upsert_by_folder};
use crate::error::AppError;

/// Reference ids by name, found or created in the database, remembered across records.
#[derive(Default)]
pub(super) struct ReferenceCache(HashMap<(&'static str, String), i64>);

/// The cache while one record is written: names it creates are remembered only if the
/// record is committed, as a rejected record leaves no reference behind.
struct Attempt<'a, C> {
    conn: &'a C,
    cache: ReferenceCache,
}

impl<C: ConnectionTrait> Resolve for Attempt<'_, C> {
    async fn id(&mut self, kind: Reference, name: Option<&str>) -> Result<Option<i64>, AppError> {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let key = (kind.table(), name.to_lowercase());
        if let Some(id) = self.cache.0.get(&key) {
            return Ok(Some(*id));
        }
        let id = find_or_create(self.conn, kind, name).await?;
        self.cache.0.insert(key, id);
        Ok(Some(id))
    }
}

/// Writes one record in a transaction of its own.
pub(super) async fn import_record(
    db: &DatabaseConnection,
    cache: &mut ReferenceCache,
    record: &CatalogRecord,
) -> Result<Upserted, AppError> {
    let mut names = None;
    let outcome = in_transaction(db, async |tx| {
        let mut attempt = Attempt {
            conn: tx,
            cache: ReferenceCache(cache.0.clone()),
        };
        let written = write_record(&mut attempt, record).await;
        names = Some(attempt.cache);
        written
    })
    .await;
    // names created by a record that was not committed were rolled back with it
    if let (Ok(_), Some(names)) = (&outcome, names) {
        *cache = names;
    }
    outcome
}

async fn write_record<C: ConnectionTrait>(
    attempt: &mut Attempt<'_, C>,
    record: &CatalogRecord,
) -> Result<Upserted, AppError> {
    let factory_id = attempt
        .id(Reference::Factory, record.factory.as_deref())
        .await?;
    let mechanism_id = match &record.mechanism {
        Some(mechanism) => {
            let values = mechanism_values(attempt, mechanism, factory_id).await?;
            Some(mechanism_id(attempt.conn, &values).await?)
        }
        None => None,
    };
    let values = watch_values(attempt, record, factory_id, mechanism_id).await?;
    upsert_by_folder(attempt.conn, &values).await
}

/// The mechanism of that calibre and factory (any case), created when missing.
async fn mechanism_id(
    conn: &impl ConnectionTrait,
    values: &MechanismValues,
) -> Result<i64, AppError> {
    check_mechanism(conn, values).await?;
    if let Some(id) = find_mechanism(conn, values.factory_id, &values.name).await? {
        return Ok(id);
    }
    mechanisms_repo::insert(conn, values, None).await
}

/// The first mechanism (by id) named `name` in any case with that factory, or with none.
pub(super) async fn find_mechanism(
    conn: &impl ConnectionTrait,
    factory_id: Option<i64>,
    name: &str,
) -> Result<Option<i64>, AppError> {
    let of_factory = match factory_id {
        Some(id) => mechanism::Column::FactoryId.eq(id),
        None => mechanism::Column::FactoryId.is_null(),
    };
    let candidates: Vec<(i64, String)> = mechanism::Entity::find()
        .select_only()
        .columns([mechanism::Column::Id, mechanism::Column::Name])
        .filter(of_factory)
        .order_by_asc(mechanism::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    let wanted = name.to_lowercase();
    Ok(candidates
        .into_iter()
        .find(|(_, name)| name.to_lowercase() == wanted)
        .map(|(id, _)| id))
}
