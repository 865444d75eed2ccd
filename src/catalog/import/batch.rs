//! Records written a batch per transaction, in a few statements per batch whatever its
//! size (plus one per updated watch and per new reference or mechanism).
//!
//! Reference names and mechanisms are held in memory for the whole import, loaded once
//! from the database. A batch is first checked record by record, in file order, with
//! the same rules and reasons as the API (`check_watch_fields`, `check_mechanism_fields`,
//! folder and code uniqueness) and without writing anything: a record that fails is
//! rejected and creates nothing, not even the references it names. Then the records that
//! passed are written together: new references and mechanisms, watches updated one by
//! one and added in a few multi-row inserts, their aliases and search words rewritten.
//!
//! While a batch is checked, references and mechanisms it creates have placeholder ids
//! (negative, never a row's) that are swapped for real ones once they are inserted.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryOrder, QuerySelect,
};

use super::single::find_mechanism;
use super::store::{Stored, code_owners, insert_watches, stored_watches, update_watches};
use super::{CatalogRecord, Resolve, in_transaction, mechanism_values, reason, watch_values};
use crate::catalog::entity::{mechanism, watch};
use crate::catalog::mechanisms::repo as mechanisms_repo;
use crate::catalog::model::{
    MechanismValues, WatchValues, check_mechanism_fields, check_watch_fields,
};
use crate::catalog::references::{Reference, all_items, checked_name, find_or_create, name_of};
use crate::catalog::search;
use crate::catalog::watches::repo::{
    Upserted, begin_write, code_taken, delete_aliases, insert_aliases, values_of,
};
use crate::error::AppError;

/// A reference: its table and its name in lower case.
type ReferenceKey = (&'static str, String);
/// A mechanism: its factory and its name in lower case.
type MechanismKey = (Option<i64>, String);

/// What the database holds, as far as an import needs it.
pub(super) struct Known {
    references: HashMap<ReferenceKey, i64>,
    brand_names: HashMap<i64, String>,
    mechanisms: HashMap<MechanismKey, i64>,
}

impl Known {
    /// Reads every reference and mechanism; the first row (by id) of a name wins, as
    /// lookups one at a time would find it.
    pub(super) async fn load(conn: &impl ConnectionTrait) -> Result<Self, AppError> {
        let mut references = HashMap::new();
        let mut brand_names = HashMap::new();
        for kind in Reference::ALL {
            for item in all_items(conn, kind).await? {
                references
                    .entry((kind.table(), item.name.to_lowercase()))
                    .or_insert(item.id);
                if kind == Reference::Brand {
                    brand_names.insert(item.id, item.name);
                }
            }
        }
        let rows: Vec<(i64, Option<i64>, String)> = mechanism::Entity::find()
            .select_only()
            .columns([
                mechanism::Column::Id,
                mechanism::Column::FactoryId,
                mechanism::Column::Name,
            ])
            .order_by_asc(mechanism::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        let mut mechanisms = HashMap::new();
        for (id, factory_id, name) in rows {
            mechanisms
                .entry((factory_id, name.to_lowercase()))
                .or_insert(id);
        }
        Ok(Self {
            references,
            brand_names,
            mechanisms,
        })
    }

    /// Checks and writes `records` in one transaction. Each record's outcome, in order:
    /// what was done, or why it was rejected. An error means the database refused the
    /// batch: nothing of it was written and what is held in memory is unchanged.
    pub(super) async fn write(
        &mut self,
        db: &DatabaseConnection,
        records: &[&CatalogRecord],
    ) -> Result<Vec<Result<Upserted, String>>, AppError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (outcomes, learned) =
            in_transaction(db, async |tx| check_and_write(tx, self, records).await).await?;
        self.learn(learned);
        Ok(outcomes)
    }

    fn learn(&mut self, learned: Learned) {
        self.references.extend(learned.references);
        self.brand_names.extend(learned.brand_names);
        self.mechanisms.extend(learned.mechanisms);
    }
}

/// Rows a batch created, remembered once it is committed.
#[derive(Default)]
struct Learned {
    references: Vec<(ReferenceKey, i64)>,
    brand_names: Vec<(i64, String)>,
    mechanisms: Vec<(MechanismKey, i64)>,
}

/// What a record that passed every check changes.
enum Change {
    Create(WatchValues),
    Update(i64, WatchValues),
    Unchanged,
}

async fn check_and_write(
    tx: &DatabaseTransaction,
    known: &Known,
    records: &[&CatalogRecord],
) -> Result<(Vec<Result<Upserted, String>>, Learned), AppError> {
    begin_write(tx).await?;
    let folders: Vec<String> = records.iter().map(|r| r.folder.trim().to_owned()).collect();
    let mut stored = stored_watches(tx, &folders).await?;
    let codes: Vec<String> = records
        .iter()
        .filter_map(|r| r.code.as_deref().map(str::trim))
        .filter(|code| !code.is_empty())
        .map(str::to_owned)
        .collect();
    let mut plan = Plan {
        known,
        new_rows: Vec::new(),
        new_ids: HashMap::new(),
        code_owners: code_owners(tx, &codes).await?,
    };
    let mut changes = Vec::with_capacity(records.len());
    for (record, folder) in records.iter().zip(&folders) {
        let mark = plan.new_rows.len();
        let change = plan.check(record, stored.remove(folder)).await;
        if change.is_err() {
            plan.forget_since(mark);
        }
        changes.push(change);
    }
    let learned = plan.write(tx, &mut changes).await?;
    let outcomes = changes
        .into_iter()
        .map(|change| match change {
            Ok(Change::Create(_)) => Ok(Upserted::Created),
            Ok(Change::Update(..)) => Ok(Upserted::Updated),
            Ok(Change::Unchanged) => Ok(Upserted::Unchanged),
            Err(err) => Err(reason(&err)),
        })
        .collect();
    Ok((outcomes, learned))
}

/// A reference or mechanism the batch creates.
enum NewRow {
    Reference {
        kind: Reference,
        name: String,
        key: ReferenceKey,
    },
    Mechanism {
        key: MechanismKey,
        values: MechanismValues,
    },
}

/// A batch being checked: the rows it will create and who holds each code it uses.
struct Plan<'k> {
    known: &'k Known,
    /// The row with placeholder id `-(i + 1)` is `new_rows[i]`.
    new_rows: Vec<NewRow>,
    new_ids: HashMap<NewKey, i64>,
    /// Codes wanted in the batch: the watch holding each (`None`: one the batch adds).
    code_owners: HashMap<String, Option<i64>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum NewKey {
    Reference(ReferenceKey),
    Mechanism(MechanismKey),
}

impl Plan<'_> {
    fn add(&mut self, key: NewKey, row: NewRow) -> i64 {
        self.new_rows.push(row);
        let id = -(self.new_rows.len() as i64);
        self.new_ids.insert(key, id);
        id
    }

    /// Forgets the rows a rejected record would have created.
    fn forget_since(&mut self, mark: usize) {
        for row in self.new_rows.drain(mark..) {
            let key = match row {
                NewRow::Reference { key, .. } => NewKey::Reference(key),
                NewRow::Mechanism { key, .. } => NewKey::Mechanism(key),
            };
            self.new_ids.remove(&key);
        }
    }

    /// What the record changes, or why it is rejected; checked in the order, and with
    /// the reasons, of writing it on its own.
    async fn check(
        &mut self,
        record: &CatalogRecord,
        stored: Option<Stored>,
    ) -> Result<Change, AppError> {
        let factory_id = self
            .id(Reference::Factory, record.factory.as_deref())
            .await?;
        let mechanism_id = match &record.mechanism {
            Some(mechanism) => {
                let values = mechanism_values(self, mechanism, factory_id).await?;
                Some(self.mechanism_id(values)?)
            }
            None => None,
        };
        let values = watch_values(self, record, factory_id, mechanism_id).await?;
        if let Some(stored) = &stored
            && values_of(&stored.row, stored.aliases.clone()) == values
        {
            return Ok(Change::Unchanged);
        }
        check_watch_fields(&values)?;
        self.claim_code(&values, stored.as_ref().map(|s| &s.row))?;
        Ok(match stored {
            Some(stored) => Change::Update(stored.row.id, values),
            None => Change::Create(values),
        })
    }

    fn mechanism_id(&mut self, values: MechanismValues) -> Result<i64, AppError> {
        check_mechanism_fields(&values)?;
        let key = (values.factory_id, values.name.to_lowercase());
        if let Some(id) = self.known.mechanisms.get(&key) {
            return Ok(*id);
        }
        let new_key = NewKey::Mechanism(key.clone());
        if let Some(id) = self.new_ids.get(&new_key) {
            return Ok(*id);
        }
        Ok(self.add(new_key, NewRow::Mechanism { key, values }))
    }

    /// Takes the watch's code for it, refusing one another watch holds at this point
    /// of the batch; a watch that changes its code frees the old one.
    fn claim_code(
        &mut self,
        values: &WatchValues,
        stored: Option<&watch::Model>,
    ) -> Result<(), AppError> {
        let id = stored.map(|row| row.id);
        if let Some(code) = &values.code
            && let Some(owner) = self.code_owners.get(code)
            && (id.is_none() || *owner != id)
        {
            return Err(code_taken(code));
        }
        if let Some(old) = stored.and_then(|row| row.code.as_ref())
            && values.code.as_ref() != Some(old)
            && self.code_owners.get(old) == Some(&id)
        {
            self.code_owners.remove(old);
        }
        if let Some(code) = &values.code {
            self.code_owners.insert(code.clone(), id);
        }
        Ok(())
    }

    /// Writes what was planned: new rows, then the watches that passed.
    async fn write(
        self,
        tx: &DatabaseTransaction,
        changes: &mut [Result<Change, AppError>],
    ) -> Result<Learned, AppError> {
        let mut learned = Learned::default();
        let mut real = HashMap::new();
        for (index, row) in self.new_rows.into_iter().enumerate() {
            let placeholder = -(index as i64 + 1);
            let id = match row {
                NewRow::Reference { kind, name, key } => {
                    let id = find_or_create(tx, kind, &name).await?;
                    if kind == Reference::Brand {
                        let stored = name_of(tx, kind, id).await?.unwrap_or(name);
                        learned.brand_names.push((id, stored));
                    }
                    learned.references.push((key, id));
                    id
                }
                NewRow::Mechanism { key, mut values } => {
                    values.factory_id = real_id(values.factory_id, &real);
                    values.mechanism_type_id = real_id(values.mechanism_type_id, &real);
                    for function_id in &mut values.function_ids {
                        *function_id = real_id(Some(*function_id), &real).unwrap_or_default();
                    }
                    let id = match find_mechanism(tx, values.factory_id, &values.name).await? {
                        Some(id) => id,
                        None => mechanisms_repo::insert(tx, &values, None).await?,
                    };
                    learned.mechanisms.push(((values.factory_id, key.1), id));
                    id
                }
            };
            real.insert(placeholder, id);
        }
        let mut created = Vec::new();
        let mut updated = Vec::new();
        for change in changes.iter_mut() {
            match change {
                Ok(Change::Create(values)) => {
                    resolve_placeholders(values, &real);
                    created.push(&*values);
                }
                Ok(Change::Update(id, values)) => {
                    resolve_placeholders(values, &real);
                    updated.push((*id, &*values));
                }
                _ => {}
            }
        }
        let brand_name = |id: Option<i64>| {
            id.and_then(|id| {
                self.known
                    .brand_names
                    .get(&id)
                    .or_else(|| {
                        learned
                            .brand_names
                            .iter()
                            .find(|(new, _)| *new == id)
                            .map(|(_, name)| name)
                    })
                    .cloned()
            })
        };
        let mut written = Vec::with_capacity(created.len() + updated.len());
        update_watches(tx, &updated).await?;
        written.extend(updated.iter().copied());
        written.extend(insert_watches(tx, &created).await?);
        let updated_ids: Vec<i64> = updated.iter().map(|(id, _)| *id).collect();
        delete_aliases(tx, &updated_ids).await?;
        insert_aliases(
            tx,
            written
                .iter()
                .map(|(id, values)| (*id, values.aliases.as_slice())),
        )
        .await?;
        search::delete_entries(tx, &updated_ids).await?;
        let mut documents = Vec::with_capacity(written.len());
        for (id, values) in &written {
            documents.push((*id, document(values, brand_name(values.brand_id))));
        }
        search::insert_entries(tx, documents).await?;
        Ok(learned)
    }
}

impl Resolve for Plan<'_> {
    async fn id(&mut self, kind: Reference, name: Option<&str>) -> Result<Option<i64>, AppError> {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let name = checked_name(kind, name)?;
        let key = (kind.table(), name.to_lowercase());
        if let Some(id) = self.known.references.get(&key) {
            return Ok(Some(*id));
        }
        let new_key = NewKey::Reference(key.clone());
        if let Some(id) = self.new_ids.get(&new_key) {
            return Ok(Some(*id));
        }
        let row = NewRow::Reference {
            kind,
            name: name.to_owned(),
            key,
        };
        Ok(Some(self.add(new_key, row)))
    }
}

fn real_id(id: Option<i64>, real: &HashMap<i64, i64>) -> Option<i64> {
    id.map(|id| if id < 0 { real[&id] } else { id })
}

fn resolve_placeholders(values: &mut WatchValues, real: &HashMap<i64, i64>) {
    for id in [
        &mut values.gender_id,
        &mut values.case_material_id,
        &mut values.mechanism_id,
        &mut values.factory_id,
        &mut values.brand_id,
    ] {
        *id = real_id(*id, real);
    }
}

/// The search words of a watch, as `search::reindex` would read them back.
fn document(values: &WatchValues, brand: Option<String>) -> BTreeSet<String> {
    search::document_tokens(
        &values.folder,
        values.code.as_deref(),
        brand.as_deref(),
        values.aliases.iter().map(String::as_str),
    )
}
