//! Whether an access token's session and user are still live. Without Redis every
//! request reads the session row; with Redis, revocations are published there and shared
//! by every instance, so a request costs one Redis round trip instead.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Role;
use super::tokens::AccessClaims;
use crate::accounts::entity::{sessions, users};
use crate::error::{AppError, AppResult};

// one per process: the size of the larger variant does not matter
#[allow(clippy::large_enum_variant)]
pub enum SessionRegistry {
    Database,
    Redis {
        connection: ConnectionManager,
        prefix: String,
        /// Markers outlive every access token issued before them.
        marker_ttl_secs: u64,
    },
}

fn revoked() -> AppError {
    AppError::unauthorized("session_revoked", "the session has ended; sign in again")
}

impl SessionRegistry {
    pub fn redis(connection: ConnectionManager, prefix: &str, access_token_ttl_secs: u64) -> Self {
        Self::Redis {
            connection,
            prefix: format!("{prefix}:auth:"),
            marker_ttl_secs: access_token_ttl_secs + 60,
        }
    }

    /// Returns the role the request acts with, or 401 when the token must stop working.
    pub async fn check(&self, db: &DatabaseConnection, claims: &AccessClaims) -> AppResult<Role> {
        let user_id = claims.user_id()?;
        match self {
            Self::Database => {
                let (session, user) = sessions::Entity::find_by_id(claims.sid)
                    .find_also_related(users::Entity)
                    .one(db)
                    .await?
                    .ok_or_else(revoked)?;
                let user = user.ok_or_else(revoked)?;
                if session.user_id != user_id || session.revoked_at.is_some() || !user.is_active {
                    return Err(revoked());
                }
                user.role.parse().map_err(|_| revoked())
            }
            Self::Redis {
                connection, prefix, ..
            } => {
                let mut connection = connection.clone();
                let (session_revoked, current_role): (Option<String>, Option<String>) = connection
                    .mget(&[
                        format!("{prefix}session:{}", claims.sid),
                        format!("{prefix}role:{user_id}"),
                    ])
                    .await
                    .map_err(AppError::internal)?;
                if session_revoked.is_some() {
                    return Err(revoked());
                }
                if let Some(role) = current_role
                    && role != claims.role.as_str()
                {
                    return Err(AppError::unauthorized(
                        "token_stale",
                        "the account's role changed; refresh the access token",
                    ));
                }
                Ok(claims.role)
            }
        }
    }

    /// Publishes revocations already written to the database.
    pub async fn sessions_revoked(&self, session_ids: &[i64]) -> AppResult<()> {
        if let Self::Redis {
            connection,
            prefix,
            marker_ttl_secs,
        } = self
        {
            let mut connection = connection.clone();
            let mut pipe = redis::pipe();
            for id in session_ids {
                pipe.set_ex(format!("{prefix}session:{id}"), 1, *marker_ttl_secs)
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection)
                .await
                .map_err(AppError::internal)?;
        }
        Ok(())
    }

    /// Publishes a role change: tokens that carry another role stop working.
    pub async fn role_changed(&self, user_id: i64, role: Role) -> AppResult<()> {
        if let Self::Redis {
            connection,
            prefix,
            marker_ttl_secs,
        } = self
        {
            let mut connection = connection.clone();
            connection
                .set_ex::<_, _, ()>(
                    format!("{prefix}role:{user_id}"),
                    role.as_str(),
                    *marker_ttl_secs,
                )
                .await
                .map_err(AppError::internal)?;
        }
        Ok(())
    }
}
