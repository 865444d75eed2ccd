//! What a member shows of their presence: the `show_presence` setting and when they were
//! last seen. Whether they are online now is the messenger's to say
//! ([`crate::online::OnlineStatus`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set,
};

use super::entity::presence;
use crate::db::read::{Reader, find_one};
use crate::error::AppResult;
use crate::state::AppState;

/// What a member's profile shows of their presence.
pub struct PublicPresence {
    pub last_seen: Option<DateTime<Utc>>,
    pub online: bool,
}

/// Stores `show_presence`; true when it changed.
pub async fn set_shown(conn: &impl ConnectionTrait, user_id: i64, shown: bool) -> AppResult<bool> {
    let was_hidden = presence::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .is_some_and(|row| row.hidden);
    presence::Entity::insert(presence::ActiveModel {
        user_id: Set(user_id),
        hidden: Set(!shown),
        last_seen_at: Set(None),
    })
    .on_conflict(
        OnConflict::column(presence::Column::UserId)
            .update_column(presence::Column::Hidden)
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(was_hidden == shown)
}

/// What `user_id`'s public profile shows.
pub async fn public(state: &AppState, user_id: i64) -> AppResult<PublicPresence> {
    let row = find_one(&state.reader, presence::Entity::find_by_id(user_id)).await?;
    if row.as_ref().is_some_and(|row| row.hidden) {
        return Ok(PublicPresence {
            last_seen: None,
            online: false,
        });
    }
    let online = state.online.is_online(state, user_id).await?;
    Ok(PublicPresence {
        last_seen: if online {
            Some(Utc::now())
        } else {
            row.and_then(|row| row.last_seen_at)
        },
        online,
    })
}

/// Whether each of `users` shows their presence (everyone does unless they hid it).
pub async fn shown(reader: &Reader, users: &[i64]) -> AppResult<HashMap<i64, bool>> {
    let query = presence::Entity::find()
        .select_only()
        .column(presence::Column::UserId)
        .filter(presence::Column::UserId.is_in(users.to_vec()))
        .filter(presence::Column::Hidden.eq(true))
        .into_query();
    let hidden: Vec<i64> = reader.column(&query, "user_id").await?;
    Ok(users
        .iter()
        .map(|user_id| (*user_id, !hidden.contains(user_id)))
        .collect())
}
