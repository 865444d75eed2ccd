//! Whether an access token's session and user are still live. Without Redis every
//! request reads the session row; with Redis, revocations are published there and shared
//! by every instance, so a request costs one Redis round trip instead.
//!
//! The database stays the truth. Redis holds markers (this session is revoked, this
//! user's role is now X) and a generation marker, set only once the markers have been
//! rebuilt from the database. An instance trusts Redis's markers only while the
//! generation it has seen is still there: when Redis loses its data (restarted without
//! persistence, flushed, evicted), the generation is gone, and the instance checks
//! sessions against the database until it has rebuilt the markers. So a revocation
//! never comes back to life with the loss of Redis's data.
//!
//! In front of either store, live sessions are remembered ([`SessionCache`]), so that a
//! request costs no round trip while nothing changed. `session_checks_total{source}`
//! counts where each check was answered: `cache`, `redis` or `database`.

use std::sync::Arc;

use chrono::Utc;
use redis::AsyncCommands;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, Query},
};

use super::Role;
use super::redis_link::RedisLink;
use super::session_cache::{Revoking, SessionCache};
use super::tokens::{AccessClaims, new_opaque_token};
use crate::accounts::entity::{sessions, users};
use crate::db::read::Reader;
use crate::error::{AppError, AppResult};

pub struct SessionRegistry {
    store: SessionStore,
    cache: Arc<SessionCache>,
}

// one per process: the size of the larger variant does not matter
#[allow(clippy::large_enum_variant)]
enum SessionStore {
    Database,
    Redis(RedisSessions),
}

pub struct RedisSessions {
    link: RedisLink,
    prefix: String,
    /// Markers outlive every access token issued before them.
    marker_ttl_secs: u64,
    /// The generation of Redis's data whose markers this instance trusts.
    trusted_generation: std::sync::Mutex<Option<String>>,
    /// One rebuild at a time; requests meanwhile read the database.
    rebuilding: tokio::sync::Mutex<()>,
}

fn revoked() -> AppError {
    AppError::unauthorized("session_revoked", "the session has ended; sign in again")
}

impl SessionRegistry {
    /// Sessions checked in the database, remembered by `cache` between changes.
    pub fn database(cache: Arc<SessionCache>) -> Self {
        Self {
            store: SessionStore::Database,
            cache,
        }
    }

    pub fn redis(
        link: RedisLink,
        prefix: &str,
        access_token_ttl_secs: u64,
        cache: Arc<SessionCache>,
    ) -> Self {
        let redis = RedisSessions {
            link,
            prefix: format!("{prefix}:auth:"),
            marker_ttl_secs: access_token_ttl_secs + 60,
            trusted_generation: std::sync::Mutex::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
        };
        Self {
            store: SessionStore::Redis(redis),
            cache,
        }
    }

    /// Returns the role the request acts with, or 401 when the token must stop working.
    pub async fn check(
        &self,
        db: &DatabaseConnection,
        reader: &Reader,
        claims: &AccessClaims,
    ) -> AppResult<Role> {
        let user_id = claims.user_id()?;
        if let Some(role) = self.cache.get(claims.sid, user_id) {
            count_check("cache");
            return Ok(role);
        }
        let epoch = self.cache.epoch();
        let role = match &self.store {
            SessionStore::Database => check_in_database(reader, claims).await?,
            SessionStore::Redis(redis) => redis.check(db, reader, claims).await?,
        };
        self.cache.remember(epoch, claims.sid, user_id, role);
        Ok(role)
    }

    /// Publishes revocations. Callers publish before they commit the revocation to the
    /// database, so that a revocation acknowledged to a client is known to both, and hold
    /// the answer until it has committed.
    pub async fn sessions_revoked(&self, session_ids: &[i64]) -> AppResult<Revoking<'_>> {
        let revoking = Revoking::begin(&self.cache);
        match &self.store {
            SessionStore::Redis(redis) if !session_ids.is_empty() => {
                let mut pipe = redis::pipe();
                for id in session_ids {
                    pipe.set_ex(redis.session_key(*id), 1, redis.marker_ttl_secs)
                        .ignore();
                }
                redis
                    .link
                    .call(|mut connection| async move {
                        pipe.query_async::<()>(&mut connection).await
                    })
                    .await?
            }
            _ => {}
        }
        Ok(revoking)
    }

    /// Publishes a role change: tokens that carry another role stop working. Held, as
    /// [`SessionRegistry::sessions_revoked`], until the change has committed.
    pub async fn role_changed(&self, user_id: i64, role: Role) -> AppResult<Revoking<'_>> {
        let revoking = Revoking::begin(&self.cache);
        if let SessionStore::Redis(redis) = &self.store {
            let key = redis.role_key(user_id);
            let ttl = redis.marker_ttl_secs;
            redis
                .link
                .call(|mut connection| async move {
                    connection.set_ex::<_, _, ()>(key, role.as_str(), ttl).await
                })
                .await?;
        }
        Ok(revoking)
    }

    /// A round trip to Redis when sessions live there, for `/readyz`.
    pub async fn ping(&self) -> AppResult<()> {
        match &self.store {
            SessionStore::Database => Ok(()),
            SessionStore::Redis(redis) => redis.link.ping().await,
        }
    }
}

fn count_check(source: &'static str) {
    metrics::counter!("session_checks_total", "source" => source).increment(1);
}

/// The session row and the user decide.
async fn check_in_database(reader: &Reader, claims: &AccessClaims) -> AppResult<Role> {
    count_check("database");
    let user_id = claims.user_id()?;
    let query = Query::select()
        .column((sessions::Entity, sessions::Column::UserId))
        .column((sessions::Entity, sessions::Column::RevokedAt))
        .column((users::Entity, users::Column::IsActive))
        .column((users::Entity, users::Column::Role))
        .from(sessions::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::UserId))
                .equals((sessions::Entity, sessions::Column::UserId)),
        )
        .and_where(Expr::col((sessions::Entity, sessions::Column::Id)).eq(claims.sid))
        .to_owned();
    let row = reader.one(&query).await?.ok_or_else(revoked)?;
    let revoked_at: Option<chrono::DateTime<Utc>> = row.get("revoked_at")?;
    if row.get::<i64>("user_id")? != user_id
        || revoked_at.is_some()
        || !row.get::<bool>("is_active")?
    {
        return Err(revoked());
    }
    row.get::<String>("role")?.parse().map_err(|_| revoked())
}

impl RedisSessions {
    fn session_key(&self, session_id: i64) -> String {
        format!("{}session:{session_id}", self.prefix)
    }

    fn role_key(&self, user_id: i64) -> String {
        format!("{}role:{user_id}", self.prefix)
    }

    fn generation_key(&self) -> String {
        format!("{}generation", self.prefix)
    }

    async fn check(
        &self,
        db: &DatabaseConnection,
        reader: &Reader,
        claims: &AccessClaims,
    ) -> AppResult<Role> {
        let user_id = claims.user_id()?;
        // one read, so the markers and the generation come from the same data
        let keys = [
            self.session_key(claims.sid),
            self.role_key(user_id),
            self.generation_key(),
        ];
        let (session_revoked, current_role, generation): (
            Option<String>,
            Option<String>,
            Option<String>,
        ) = self
            .link
            .call(|mut connection| async move { connection.mget(&keys).await })
            .await?;
        if !self.trusts(generation.as_deref()) {
            self.rebuild_markers(db).await?;
            return check_in_database(reader, claims).await;
        }
        count_check("redis");
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

    fn trusts(&self, generation: Option<&str>) -> bool {
        let trusted = self
            .trusted_generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        generation.is_some() && trusted.as_deref() == generation
    }

    /// Writes the markers every access token still alive needs, from the database, then
    /// the generation marker (unless another instance has just written one), in one
    /// MULTI so that no loss of data can fall between them; then trusts the generation.
    async fn rebuild_markers(&self, db: &DatabaseConnection) -> AppResult<()> {
        let Ok(_rebuilding) = self.rebuilding.try_lock() else {
            return Ok(());
        };
        let since = Utc::now() - chrono::Duration::seconds(self.marker_ttl_secs as i64);
        // a session revoked longer ago has no access token left
        let revoked_ids: Vec<i64> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::RevokedAt.gt(since))
            .into_tuple()
            .all(db)
            .await?;
        // access tokens are issued at sign-in and refresh, which set `last_seen_at`
        let active_roles: Vec<(i64, String)> = users::Entity::find()
            .select_only()
            .column(users::Column::UserId)
            .column(users::Column::Role)
            .filter(
                users::Column::UserId.in_subquery(
                    Query::select()
                        .column(sessions::Column::UserId)
                        .from(sessions::Entity)
                        .and_where(sessions::Column::RevokedAt.is_null())
                        .and_where(sessions::Column::LastSeenAt.gt(since))
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(db)
            .await?;

        let fresh_generation = new_opaque_token();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in &revoked_ids {
            pipe.set_ex(self.session_key(*id), 1, self.marker_ttl_secs)
                .ignore();
        }
        for (user_id, role) in &active_roles {
            // NX: a role change published since the read above is newer than it
            pipe.cmd("SET")
                .arg(self.role_key(*user_id))
                .arg(role)
                .arg("EX")
                .arg(self.marker_ttl_secs)
                .arg("NX")
                .ignore();
        }
        pipe.cmd("SET")
            .arg(self.generation_key())
            .arg(&fresh_generation)
            .arg("NX")
            .ignore();
        pipe.get(self.generation_key());
        let (generation,): (Option<String>,) = self
            .link
            .call(|mut connection| async move { pipe.query_async(&mut connection).await })
            .await?;
        tracing::info!(
            revoked_sessions = revoked_ids.len(),
            active_users = active_roles.len(),
            "session markers rebuilt in Redis from the database"
        );
        *self
            .trusted_generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = generation;
        Ok(())
    }
}
