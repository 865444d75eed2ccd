//! Whether a member is connected now. The messenger knows (its sockets and the leases of
//! every server process); profiles, in accounts, ask. It plugs in here, below both, so
//! that accounts never depends on the messenger.

use crate::error::AppResult;
use crate::state::AppState;

/// The live side of presence, as the messenger keeps it.
#[async_trait::async_trait]
pub trait OnlineStatus: Send + Sync {
    /// Whether `user_id` has a socket open on some server process.
    async fn is_online(&self, state: &AppState, user_id: i64) -> AppResult<bool>;

    /// `user_id` just showed or hid their presence (committed): the people they share a
    /// chat with see them come online or go offline, if they are connected.
    async fn visibility_changed(
        &self,
        state: &AppState,
        user_id: i64,
        shown: bool,
    ) -> AppResult<()>;
}
