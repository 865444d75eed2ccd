//! Presence changes, from this process or another, told to the partners connected here.
//!
//! Changes are gathered for `GATHER` and told together, apart from the relay's queue of
//! chat announcements: when a thousand members of one chat connect at once (a server
//! restart), their partners' lists are read once per batch, not once per member, each
//! partner's socket gets one message per batch, and no message of any chat waits
//! behind the presence storm.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::sea_query::{Expr, Query};

use super::hub::Signal;
use super::protocol::PresenceChange;
use crate::chat::entity::chat_participants;
use crate::db::read::Reader;
use crate::error::AppResult;
use crate::state::AppState;

/// How long changes are gathered before they are told.
const GATHER: Duration = Duration::from_millis(100);
/// Ids per `IN (…)` list.
const IDS_PER_QUERY: usize = 500;

/// Presence changes not yet told: the latest per member, so however many arrive while a
/// batch is told, what waits is at most one entry per member.
#[derive(Default)]
pub struct PendingPresence {
    changes: Mutex<HashMap<i64, bool>>,
    arrived: tokio::sync::Notify,
}

impl PendingPresence {
    pub fn record(&self, user_id: i64, online: bool) {
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user_id, online);
        self.arrived.notify_one();
    }

    fn take(&self) -> HashMap<i64, bool> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Tells the gathered changes, batch after batch, for as long as the process runs.
pub async fn run(state: AppState) {
    let pending = &state.chat_hub.presence;
    loop {
        pending.arrived.notified().await;
        tokio::time::sleep(GATHER).await;
        let changes = pending.take();
        if changes.is_empty() || state.chat_hub.is_empty() {
            continue;
        }
        if let Err(err) = tell_partners(&state, &changes).await {
            tracing::warn!(error = %err, changes = changes.len(), "could not tell presence changes");
        }
    }
}

async fn tell_partners(state: &AppState, changes: &HashMap<i64, bool>) -> AppResult<()> {
    let hub = &state.chat_hub;
    let changed: Vec<i64> = changes.keys().copied().collect();
    let chats_of_changed =
        participants(&state.reader, chat_participants::Column::UserId, &changed).await?;
    let mut changed_in_chat: HashMap<i64, Vec<i64>> = HashMap::new();
    for (chat_id, user_id) in chats_of_changed {
        changed_in_chat.entry(chat_id).or_default().push(user_id);
    }
    let chats: Vec<i64> = changed_in_chat.keys().copied().collect();
    let members = participants(&state.reader, chat_participants::Column::ChatId, &chats).await?;
    let mut told: HashMap<i64, BTreeMap<i64, bool>> = HashMap::new();
    let mut connected: HashMap<i64, bool> = HashMap::new();
    for (chat_id, member) in members {
        let here = *connected
            .entry(member)
            .or_insert_with(|| hub.is_connected(member));
        if !here {
            continue;
        }
        for &user_id in changed_in_chat.get(&chat_id).into_iter().flatten() {
            if let Some(&online) = changes.get(&user_id)
                && user_id != member
            {
                told.entry(member).or_default().insert(user_id, online);
            }
        }
    }
    for (partner, their_changes) in told {
        let changes: Arc<[PresenceChange]> = their_changes
            .into_iter()
            .map(|(user_id, online)| PresenceChange { user_id, online })
            .collect();
        hub.notify(&[partner], Signal::Presence(changes));
    }
    Ok(())
}

/// `(chat_id, user_id)` of the participations whose `column` is one of `ids`.
async fn participants(
    reader: &Reader,
    column: chat_participants::Column,
    ids: &[i64],
) -> AppResult<HashSet<(i64, i64)>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let query = Query::select()
            .columns([
                chat_participants::Column::ChatId,
                chat_participants::Column::UserId,
            ])
            .from(chat_participants::Entity)
            .and_where(Expr::col(column).is_in(chunk.iter().copied()))
            .to_owned();
        for row in reader.all(&query).await? {
            found.insert((row.get("chat_id")?, row.get("user_id")?));
        }
    }
    Ok(found)
}
