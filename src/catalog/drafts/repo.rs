//! Draft rows of both kinds: reading them as `DraftResponse`, writing their values and
//! moving them between statuses.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::sea_query::{Alias, Expr, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::model::{
    DraftKind, DraftResponse, DraftStatus, DraftValues, MechanismDraftValues, WatchDraftValues,
};
use super::photos;
use crate::catalog::entity::{draft_alias, draft_mechanism, draft_mechanism_function, draft_watch};
use crate::error::{AppError, AppResult};

/// The time drafts are stamped with, in microseconds as both databases keep it, so that
/// a time read back and put into a cursor compares equal to the stored one.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(super) fn column(name: &'static str) -> Expr {
    Expr::col(Alias::new(name))
}

fn status_of(value: &str) -> AppResult<DraftStatus> {
    DraftStatus::parse(value)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("unknown draft status `{value}`")))
}

/// One draft, if it exists.
pub async fn find(
    conn: &impl ConnectionTrait,
    public_url: &str,
    kind: DraftKind,
    id: i64,
) -> AppResult<Option<DraftResponse>> {
    Ok(match kind {
        DraftKind::Watch => {
            let rows = draft_watch::Entity::find_by_id(id).all(conn).await?;
            watch_responses(conn, public_url, rows).await?.pop()
        }
        DraftKind::Mechanism => {
            let rows = draft_mechanism::Entity::find_by_id(id).all(conn).await?;
            mechanism_responses(conn, rows).await?.pop()
        }
    })
}

pub(super) async fn watch_responses(
    conn: &impl ConnectionTrait,
    public_url: &str,
    rows: Vec<draft_watch::Model>,
) -> AppResult<Vec<DraftResponse>> {
    let mut images =
        photos::images_by_draft(conn, public_url, rows.iter().map(|row| row.id).collect()).await?;
    let mut aliases: HashMap<i64, Vec<String>> = HashMap::new();
    if !rows.is_empty() {
        let links = draft_alias::Entity::find()
            .filter(draft_alias::Column::DraftWatchId.is_in(rows.iter().map(|row| row.id)))
            .order_by_asc(draft_alias::Column::Id)
            .all(conn)
            .await?;
        for link in links {
            aliases
                .entry(link.draft_watch_id)
                .or_default()
                .push(link.key);
        }
    }
    rows.into_iter()
        .map(|row| {
            let values = WatchDraftValues {
                folder: row.folder,
                code: row.code,
                integrated_bracelet: row.integrated_bracelet,
                start_release: row.start_release,
                end_release: row.end_release,
                gender_id: row.gender_id,
                case_material_id: row.case_material_id,
                mechanism_id: row.mechanism_id,
                factory_id: row.factory_id,
                brand_id: row.brand_id,
                aliases: aliases.remove(&row.id).unwrap_or_default(),
            };
            Ok(DraftResponse {
                id: row.id,
                kind: DraftKind::Watch,
                status: status_of(&row.status)?,
                target_id: row.target_id,
                message: row.message,
                values: DraftValues::Watch(values),
                images: images.remove(&row.id).unwrap_or_default(),
                author_id: row.user_id,
                reviewed_by: row.reviewed_by,
                created_at: row.created_at,
                updated_at: row.updated_at,
                submitted_at: row.submitted_at,
                reviewed_at: row.reviewed_at,
            })
        })
        .collect()
}

pub(super) async fn mechanism_responses(
    conn: &impl ConnectionTrait,
    rows: Vec<draft_mechanism::Model>,
) -> AppResult<Vec<DraftResponse>> {
    let mut functions: HashMap<i64, Vec<i64>> = HashMap::new();
    if !rows.is_empty() {
        let links = draft_mechanism_function::Entity::find()
            .filter(
                draft_mechanism_function::Column::DraftMechanismId
                    .is_in(rows.iter().map(|row| row.id)),
            )
            .order_by_asc(draft_mechanism_function::Column::FunctionId)
            .all(conn)
            .await?;
        for link in links {
            functions
                .entry(link.draft_mechanism_id)
                .or_default()
                .push(link.function_id);
        }
    }
    rows.into_iter()
        .map(|row| {
            let values = MechanismDraftValues {
                name: row.name,
                stones: row.stones,
                start_release: row.start_release,
                end_release: row.end_release,
                mechanism_type_id: row.mechanism_type_id,
                factory_id: row.factory_id,
                function_ids: functions.remove(&row.id).unwrap_or_default(),
            };
            Ok(DraftResponse {
                id: row.id,
                kind: DraftKind::Mechanism,
                status: status_of(&row.status)?,
                target_id: row.target_id,
                message: row.message,
                values: DraftValues::Mechanism(values),
                images: Vec::new(),
                author_id: row.user_id,
                reviewed_by: row.reviewed_by,
                created_at: row.created_at,
                updated_at: row.updated_at,
                submitted_at: row.submitted_at,
                reviewed_at: row.reviewed_at,
            })
        })
        .collect()
}

fn watch_row(values: &WatchDraftValues) -> draft_watch::ActiveModel {
    draft_watch::ActiveModel {
        folder: Set(values.folder.clone()),
        code: Set(values.code.clone()),
        integrated_bracelet: Set(values.integrated_bracelet),
        start_release: Set(values.start_release),
        end_release: Set(values.end_release),
        gender_id: Set(values.gender_id),
        case_material_id: Set(values.case_material_id),
        mechanism_id: Set(values.mechanism_id),
        factory_id: Set(values.factory_id),
        brand_id: Set(values.brand_id),
        ..Default::default()
    }
}

fn mechanism_row(values: &MechanismDraftValues) -> draft_mechanism::ActiveModel {
    draft_mechanism::ActiveModel {
        name: Set(values.name.clone()),
        stones: Set(values.stones),
        start_release: Set(values.start_release),
        end_release: Set(values.end_release),
        mechanism_type_id: Set(values.mechanism_type_id),
        factory_id: Set(values.factory_id),
        ..Default::default()
    }
}

/// Writes a new draft in `draft` status; call inside a transaction.
pub async fn insert(
    conn: &impl ConnectionTrait,
    author: i64,
    target_id: Option<i64>,
    values: &DraftValues,
) -> AppResult<i64> {
    let now = now();
    let status = Set(DraftStatus::Draft.as_str().to_owned());
    match values {
        DraftValues::Watch(values) => {
            let row = draft_watch::ActiveModel {
                id: NotSet,
                status,
                target_id: Set(target_id),
                user_id: Set(author),
                created_at: Set(now),
                updated_at: Set(now),
                ..watch_row(values)
            }
            .insert(conn)
            .await?;
            set_aliases(conn, row.id, &values.aliases).await?;
            Ok(row.id)
        }
        DraftValues::Mechanism(values) => {
            let row = draft_mechanism::ActiveModel {
                id: NotSet,
                status,
                target_id: Set(target_id),
                user_id: Set(author),
                created_at: Set(now),
                updated_at: Set(now),
                ..mechanism_row(values)
            }
            .insert(conn)
            .await?;
            set_functions(conn, row.id, &values.function_ids).await?;
            Ok(row.id)
        }
    }
}

/// Overwrites the values of a draft its author may still change and puts it (back) in
/// `draft` status; false when it was submitted or approved meanwhile. Call inside a
/// transaction.
pub async fn save_values(
    conn: &impl ConnectionTrait,
    id: i64,
    values: &DraftValues,
) -> AppResult<bool> {
    let status = Set(DraftStatus::Draft.as_str().to_owned());
    let editable = [DraftStatus::Draft, DraftStatus::Rejected].map(DraftStatus::as_str);
    let saved = match values {
        DraftValues::Watch(values) => draft_watch::Entity::update(draft_watch::ActiveModel {
            id: Unchanged(id),
            status,
            updated_at: Set(now()),
            ..watch_row(values)
        })
        .filter(draft_watch::Column::Status.is_in(editable))
        .exec(conn)
        .await
        .map(drop),
        DraftValues::Mechanism(values) => {
            draft_mechanism::Entity::update(draft_mechanism::ActiveModel {
                id: Unchanged(id),
                status,
                updated_at: Set(now()),
                ..mechanism_row(values)
            })
            .filter(draft_mechanism::Column::Status.is_in(editable))
            .exec(conn)
            .await
            .map(drop)
        }
    };
    match saved {
        Ok(()) => {}
        Err(DbErr::RecordNotUpdated) => return Ok(false),
        Err(err) => return Err(err.into()),
    }
    match values {
        DraftValues::Watch(values) => set_aliases(conn, id, &values.aliases).await?,
        DraftValues::Mechanism(values) => set_functions(conn, id, &values.function_ids).await?,
    }
    Ok(true)
}

async fn set_aliases(
    conn: &impl ConnectionTrait,
    draft_id: i64,
    aliases: &[String],
) -> AppResult<()> {
    draft_alias::Entity::delete_many()
        .filter(draft_alias::Column::DraftWatchId.eq(draft_id))
        .exec(conn)
        .await?;
    if aliases.is_empty() {
        return Ok(());
    }
    let rows = aliases.iter().map(|key| draft_alias::ActiveModel {
        id: NotSet,
        draft_watch_id: Set(draft_id),
        key: Set(key.clone()),
    });
    draft_alias::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

async fn set_functions(
    conn: &impl ConnectionTrait,
    draft_id: i64,
    function_ids: &[i64],
) -> AppResult<()> {
    draft_mechanism_function::Entity::delete_many()
        .filter(draft_mechanism_function::Column::DraftMechanismId.eq(draft_id))
        .exec(conn)
        .await?;
    if function_ids.is_empty() {
        return Ok(());
    }
    let rows = function_ids
        .iter()
        .map(|function_id| draft_mechanism_function::ActiveModel {
            id: NotSet,
            draft_mechanism_id: Set(draft_id),
            function_id: Set(*function_id),
        });
    draft_mechanism_function::Entity::insert_many(rows)
        .exec(conn)
        .await?;
    Ok(())
}

/// Moves a draft that is in one of the `from` statuses, writing `changes` with the new
/// status; false when it was not in one of them (any more). The check and the write are
/// one statement, so two moderators cannot both review one draft.
async fn transition(
    conn: &impl ConnectionTrait,
    kind: DraftKind,
    id: i64,
    from: &[DraftStatus],
    to: DraftStatus,
    changes: Vec<(&'static str, SimpleExpr)>,
) -> AppResult<bool> {
    let mut update = Query::update();
    update
        .table(Alias::new(kind.table()))
        .value(Alias::new("status"), to.as_str())
        .values(
            changes
                .into_iter()
                .map(|(name, value)| (Alias::new(name), value)),
        )
        .and_where(column("id").eq(id))
        .and_where(column("status").is_in(from.iter().map(|status| status.as_str())));
    let result = conn
        .execute(conn.get_database_backend().build(&update))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// `draft|rejected` → `submitted`.
pub async fn mark_submitted(
    conn: &impl ConnectionTrait,
    kind: DraftKind,
    id: i64,
) -> AppResult<bool> {
    let now = now();
    transition(
        conn,
        kind,
        id,
        &[DraftStatus::Draft, DraftStatus::Rejected],
        DraftStatus::Submitted,
        vec![
            ("submitted_at", Expr::value(now)),
            ("updated_at", Expr::value(now)),
        ],
    )
    .await
}

/// `submitted` → `approved`, or `rejected` with the moderator's message (which an
/// approval clears).
pub async fn mark_reviewed(
    conn: &impl ConnectionTrait,
    kind: DraftKind,
    id: i64,
    moderator: i64,
    outcome: DraftStatus,
    message: Option<String>,
) -> AppResult<bool> {
    let now = now();
    transition(
        conn,
        kind,
        id,
        &[DraftStatus::Submitted],
        outcome,
        vec![
            ("message", Expr::value(message)),
            ("reviewed_by", Expr::value(moderator)),
            ("reviewed_at", Expr::value(now)),
            ("updated_at", Expr::value(now)),
        ],
    )
    .await
}

/// Deletes a draft, its aliases or functions with it, unless it was approved.
pub async fn delete_unless_approved(
    conn: &impl ConnectionTrait,
    kind: DraftKind,
    id: i64,
) -> AppResult<bool> {
    let mut delete = Query::delete();
    delete
        .from_table(Alias::new(kind.table()))
        .and_where(column("id").eq(id))
        .and_where(column("status").ne(DraftStatus::Approved.as_str()));
    let result = conn
        .execute(conn.get_database_backend().build(&delete))
        .await?;
    Ok(result.rows_affected() == 1)
}
