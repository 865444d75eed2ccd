//! Turns bus notices, from this process or another, into signals for the sockets
//! connected here.

use super::hub::Signal;
use crate::bus::{Deliveries, Notice};
use crate::chat::repo;
use crate::error::AppResult;
use crate::state::AppState;

/// Acts on every notice, in order, for as long as the process runs.
pub async fn run(state: AppState, mut deliveries: Deliveries) {
    while let Some(notice) = deliveries.next().await {
        if let Err(err) = act(&state, &notice).await {
            tracing::warn!(?notice, error = %err, "could not relay a notice to the sockets");
            // the sockets that have the chat re-read it without the participants list
            if let Notice::ChatChanged { chat_id, .. } = notice {
                state.chat_hub.broadcast(Signal::Check { chat_id });
            }
        }
    }
}

async fn act(state: &AppState, notice: &Notice) -> AppResult<()> {
    let hub = &state.chat_hub;
    if hub.is_empty() {
        return Ok(());
    }
    match *notice {
        Notice::ChatChanged { chat_id, also } => {
            let mut users = repo::participant_ids(&state.reader, chat_id).await?;
            users.extend(also);
            hub.feeds.changed(chat_id);
            hub.notify(&users, Signal::Changed { chat_id });
        }
        Notice::ChatDeleted { chat_id } => {
            hub.feeds.forget(chat_id);
            hub.broadcast(Signal::Check { chat_id });
        }
        Notice::Receipt {
            chat_id,
            user_id,
            read_seq,
            delivered_seq,
        } => {
            let mut others = repo::participant_ids(&state.reader, chat_id).await?;
            others.retain(|id| *id != user_id);
            let receipt = Signal::Receipt {
                chat_id,
                user_id,
                read_seq,
                delivered_seq,
            };
            hub.notify(&others, receipt);
        }
        Notice::Typing { chat_id, user_id } => {
            let users = repo::participant_ids(&state.reader, chat_id).await?;
            hub.notify(&users, Signal::Typing { chat_id, user_id });
        }
        Notice::SessionsRevoked { ref session_ids } => hub.end_sessions(session_ids),
        Notice::Presence { user_id, online } => hub.presence.record(user_id, online),
        Notice::Resync => hub.broadcast(Signal::Recheck),
        // for the caches, which hear them from the bus directly
        Notice::RoleChanged { .. } | Notice::CatalogChanged { .. } => {}
    }
    Ok(())
}
