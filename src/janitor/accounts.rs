//! Expired sign-in state. OAuth sign-ins keep their in-flight state in a short-lived
//! signed cookie, never on the server, so they leave nothing here to clean.

use chrono::{Duration, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::accounts::entity::{sessions, tokens};
use crate::error::AppResult;

/// Deletes tokens past their expiry: refresh, password-reset and e-mail tokens. A used
/// refresh token stays until then, so presenting it again is still caught as reuse.
pub async fn delete_expired_tokens(db: &DatabaseConnection) -> AppResult<u64> {
    Ok(tokens::Entity::delete_many()
        .filter(tokens::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes sessions without any token left: nothing can renew them, and the access tokens
/// they issued expired long ago (a session gets its first token in the transaction that
/// opens it; `recent` spares sessions seen more lately than that anyway).
pub async fn delete_dead_sessions(db: &DatabaseConnection, recent: Duration) -> AppResult<u64> {
    let with_tokens = Query::select()
        .column(tokens::Column::SessionId)
        .from(tokens::Entity)
        .and_where(Expr::col(tokens::Column::SessionId).is_not_null())
        .to_owned();
    Ok(sessions::Entity::delete_many()
        .filter(sessions::Column::Id.not_in_subquery(with_tokens))
        .filter(sessions::Column::LastSeenAt.lt(Utc::now() - recent))
        .exec(db)
        .await?
        .rows_affected)
}
