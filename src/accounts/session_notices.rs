//! Other processes' changes to sessions reach this process's session cache: the bus hands
//! it their notices (`crate::bus::Follower`). Implemented here, where sessions are ended
//! and roles changed, so that `auth` never depends on the bus.

use crate::auth::session_cache::SessionCache;
use crate::bus::{Follower, Notice};

impl Follower for SessionCache {
    fn heard(&self, notice: &Notice) {
        match notice {
            Notice::SessionsRevoked { session_ids } => self.forget_sessions(session_ids),
            // rare: forgetting everyone is simpler than finding the member's sessions
            Notice::RoleChanged { .. } => self.forget_all(),
            Notice::Resync => self.resync(),
            Notice::ChatChanged { .. }
            | Notice::ChatDeleted { .. }
            | Notice::Receipt { .. }
            | Notice::Typing { .. }
            | Notice::Presence { .. }
            | Notice::CatalogChanged { .. } => {}
        }
    }

    fn link_lost(&self) {
        self.distrust();
    }
}
