//! Who is online, for the people one shares a chat with.
//!
//! A member is online while they have a socket on some server process. Each process
//! holds a lease per member connected to it (`presence_leases`), renewed every
//! `RENEW_EVERY` to `LEASE` ahead, with `last_seen_at` in the same batch; so a process
//! that crashes leaves nobody online for longer than `LEASE`, and the next sweep (by any
//! process) tells their partners they went offline. When a member's last socket on a
//! process closes, that process ends its lease and tells the partners they went offline,
//! unless another process still holds a live lease for them. Members who hide their
//! presence have no `last_seen` and send no presence events.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set};

use crate::accounts::entity::presence;
use crate::bus::Notice;
use crate::chat::entity::presence_leases;
use crate::db::read::{Queries, find_all, find_one};
use crate::db::write::WriteTx;
use crate::error::AppResult;
use crate::online::OnlineStatus;
use crate::state::AppState;

/// How long a lease lasts: a member is offline at most this long after their process
/// stopped.
pub const LEASE: Duration = Duration::from_secs(90);
/// How often a process renews its leases and sweeps expired ones.
pub const RENEW_EVERY: Duration = Duration::from_secs(60);
/// Rows per batched statement.
const BATCH: usize = 500;

fn lease_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::seconds(90))
}

fn instance(state: &AppState) -> i64 {
    state.bus.instance_id()
}

/// Whether someone holds a lease for `user_id` that is live at `now`, leaving out this
/// process's own.
async fn leased_elsewhere(state: &AppState, user_id: i64, now: DateTime<Utc>) -> AppResult<bool> {
    let live = presence_leases::Entity::find()
        .filter(presence_leases::Column::UserId.eq(user_id))
        .filter(presence_leases::Column::Instance.ne(instance(state)))
        .filter(presence_leases::Column::ExpiresAt.gt(now));
    Ok(find_one(&state.reader, live).await?.is_some())
}

async fn is_hidden(queries: &impl Queries, user_id: i64) -> AppResult<bool> {
    Ok(find_one(queries, presence::Entity::find_by_id(user_id))
        .await?
        .is_some_and(|row| row.hidden))
}

/// Renews this process's leases of `users` and their `last_seen_at`, in batches.
async fn renew(state: &AppState, users: &[i64], now: DateTime<Utc>) -> AppResult<()> {
    for chunk in users.chunks(BATCH) {
        let tx = state.writer.begin().await?;
        let leases = chunk.iter().map(|user_id| presence_leases::ActiveModel {
            user_id: Set(*user_id),
            instance: Set(instance(state)),
            expires_at: Set(lease_end(now)),
        });
        let renewal = presence_leases::Entity::insert_many(leases)
            .on_conflict(
                OnConflict::columns([
                    presence_leases::Column::UserId,
                    presence_leases::Column::Instance,
                ])
                .update_column(presence_leases::Column::ExpiresAt)
                .to_owned(),
            )
            .into_query();
        tx.execute(&renewal).await?;
        touch(&tx, chunk, now).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Sets `last_seen_at` of `users` to `now`.
async fn touch(tx: &WriteTx<'_>, users: &[i64], now: DateTime<Utc>) -> AppResult<()> {
    let rows = users.iter().map(|user_id| presence::ActiveModel {
        user_id: Set(*user_id),
        hidden: Set(false),
        last_seen_at: Set(Some(now)),
    });
    let seen = presence::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(presence::Column::UserId)
                .update_column(presence::Column::LastSeenAt)
                .to_owned(),
        )
        .into_query();
    tx.execute(&seen).await?;
    Ok(())
}

fn tell(state: &AppState, user_id: i64, online: bool) {
    state.bus.publish(Notice::Presence { user_id, online });
}

/// `user_id`'s first socket on this process opened.
pub async fn connected(state: &AppState, user_id: i64) -> AppResult<()> {
    let now = Utc::now();
    let was_online = leased_elsewhere(state, user_id, now).await?;
    renew(state, &[user_id], now).await?;
    if !was_online && !is_hidden(&state.reader, user_id).await? {
        tell(state, user_id, true);
    }
    Ok(())
}

/// `user_id`'s last socket on this process closed.
pub async fn disconnected(state: &AppState, user_id: i64) -> AppResult<()> {
    if state.chat_hub.is_connected(user_id) {
        return Ok(());
    }
    let now = Utc::now();
    let tx = state.writer.begin().await?;
    let release = presence_leases::Entity::delete_many()
        .filter(presence_leases::Column::UserId.eq(user_id))
        .filter(presence_leases::Column::Instance.eq(instance(state)))
        .into_query();
    tx.execute(&release).await?;
    touch(&tx, &[user_id], now).await?;
    tx.commit().await?;
    let gone = !leased_elsewhere(state, user_id, now).await?
        && !is_hidden(&state.reader, user_id).await?
        // a socket that opened meanwhile keeps them online
        && !state.chat_hub.is_connected(user_id);
    if gone {
        tell(state, user_id, false);
    }
    Ok(())
}

/// Renews this process's leases every `RENEW_EVERY` and sweeps expired ones.
pub async fn keep_leases(state: AppState) {
    let mut ticks = tokio::time::interval(RENEW_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let users = state.chat_hub.connected_users();
        let now = Utc::now();
        if let Err(err) = renew(&state, &users, now).await {
            tracing::warn!(error = %err, "could not renew presence leases");
        }
        if let Err(err) = sweep(&state).await {
            tracing::warn!(error = %err, "could not sweep presence leases");
        }
    }
}

/// Removes the leases that were not renewed in time (their process stopped) and tells
/// the partners of whoever is thereby offline. Of several processes sweeping at once,
/// the one that removes a lease tells.
pub async fn sweep(state: &AppState) -> AppResult<()> {
    let now = Utc::now();
    let expired = presence_leases::Entity::find()
        .filter(presence_leases::Column::ExpiresAt.lte(now))
        .limit(BATCH as u64);
    let expired = find_all(&state.reader, expired).await?;
    let mut maybe_offline = HashSet::new();
    if !expired.is_empty() {
        let tx = state.writer.begin().await?;
        for lease in expired {
            let remove = presence_leases::Entity::delete_many()
                .filter(presence_leases::Column::UserId.eq(lease.user_id))
                .filter(presence_leases::Column::Instance.eq(lease.instance))
                .filter(presence_leases::Column::ExpiresAt.lte(now))
                .into_query();
            if tx.execute(&remove).await? == 1 {
                maybe_offline.insert(lease.user_id);
            }
        }
        tx.commit().await?;
    }
    for user_id in maybe_offline {
        let gone = !state.chat_hub.is_connected(user_id)
            && !leased_elsewhere(state, user_id, now).await?
            && !is_hidden(&state.reader, user_id).await?;
        if gone {
            tell(state, user_id, false);
        }
    }
    Ok(())
}

/// The messenger's answer to who is online, for profiles.
pub struct Presence;

#[async_trait::async_trait]
impl OnlineStatus for Presence {
    async fn is_online(&self, state: &AppState, user_id: i64) -> AppResult<bool> {
        is_online(state, user_id).await
    }

    async fn visibility_changed(
        &self,
        state: &AppState,
        user_id: i64,
        shown: bool,
    ) -> AppResult<()> {
        if is_online(state, user_id).await? {
            tell(state, user_id, shown);
        }
        Ok(())
    }
}

/// Whether `user_id` is connected to some process now.
async fn is_online(state: &AppState, user_id: i64) -> AppResult<bool> {
    Ok(
        state.chat_hub.is_connected(user_id)
            || leased_elsewhere(state, user_id, Utc::now()).await?,
    )
}
