//! The live catalog as drafts see it: the values an edit proposal starts from and is
//! compared with, and the writes of an approval, through the watches' and mechanisms'
//! own writes so that a draft is held to the rules of a direct edit.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::model::{DraftKind, DraftResponse, DraftValues};
use crate::accounts::entity::users;
use crate::catalog::entity::mechanism;
use crate::catalog::mechanisms::repo as mechanisms_repo;
use crate::catalog::model::{MechanismValues, check_mechanism};
use crate::catalog::watches;
use crate::error::{AppError, AppResult};

/// The current values of a live watch or mechanism, if it exists.
pub async fn live_values(
    conn: &impl ConnectionTrait,
    kind: DraftKind,
    id: i64,
) -> AppResult<Option<DraftValues>> {
    Ok(match kind {
        DraftKind::Watch => watches::load_values(conn, id)
            .await?
            .map(|values| DraftValues::Watch(values.into())),
        DraftKind::Mechanism => load_mechanism_values(conn, id)
            .await?
            .map(|values| DraftValues::Mechanism(values.into())),
    })
}

/// What an approval wrote.
pub struct Published {
    /// The watch or mechanism created or updated.
    pub record_id: i64,
    /// Whether a watch's folder changed, so its photos move after the commit.
    pub folder_changed: bool,
}

/// Writes a draft into the live catalog, its author credited with a point of rating.
/// The values are checked as a direct edit's are, against the catalog as it is now: 422
/// for invalid values, 409 `folder_taken`, `code_taken`, or `target_gone` when the
/// record it changes was deleted. Call inside a transaction: the approval's, or a trial
/// one rolled back at submission.
pub async fn publish(conn: &impl ConnectionTrait, draft: &DraftResponse) -> AppResult<Published> {
    let target_gone = || {
        AppError::conflict(
            "target_gone",
            format!(
                "the {} this draft changes no longer exists",
                draft.kind.as_str()
            ),
        )
    };
    let mut folder_changed = false;
    let record_id = match &draft.values {
        DraftValues::Watch(values) => {
            let values = values.complete()?;
            match draft.target_id {
                Some(id) => {
                    let current = watches::repo::lock_for_write(conn, id)
                        .await
                        .map_err(|err| match err {
                            AppError::NotFound {
                                code: "watch_not_found",
                                ..
                            } => target_gone(),
                            other => other,
                        })?;
                    folder_changed = current.folder != values.folder;
                    watches::update_watch(conn, id, &values).await?;
                    id
                }
                None => {
                    watches::insert_watch(conn, &values, draft.author_id)
                        .await?
                        .id
                }
            }
        }
        DraftValues::Mechanism(values) => {
            let values = values.complete()?;
            check_mechanism(conn, &values).await?;
            match draft.target_id {
                Some(id) => {
                    let row = mechanism::Entity::find_by_id(id)
                        .one(conn)
                        .await?
                        .ok_or_else(target_gone)?;
                    mechanisms_repo::update(conn, row, &values, true).await?;
                    id
                }
                None => mechanisms_repo::insert(conn, &values, draft.author_id).await?,
            }
        }
    };
    users::Entity::update_many()
        .col_expr(
            users::Column::Rating,
            Expr::col(users::Column::Rating).add(1),
        )
        .filter(users::Column::UserId.eq(draft.author_id))
        .exec(conn)
        .await?;
    Ok(Published {
        record_id,
        folder_changed,
    })
}

/// A live mechanism as values, with its functions.
pub async fn load_mechanism_values(
    conn: &impl ConnectionTrait,
    id: i64,
) -> AppResult<Option<MechanismValues>> {
    let Some(row) = mechanism::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    Ok(Some(MechanismValues {
        name: row.name,
        stones: row.stones,
        start_release: row.start_release,
        end_release: row.end_release,
        mechanism_type_id: row.mechanism_type_id,
        factory_id: row.factory_id,
        function_ids: mechanisms_repo::function_ids(conn, id).await?,
    }))
}
