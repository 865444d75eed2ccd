//! Sessions known to be live, so that a request with a valid access token costs no round
//! trip to the database (or Redis). Every change made here that can end a session (a
//! revocation, a role change, a deactivation) forgets everything the cache holds, once
//! before it commits and once after, and a check that read the database while such a
//! change was under way does not store what it read; so a revocation acknowledged to a
//! client holds for the next request.
//!
//! Changes made by other processes arrive as bus notices (see `crate::bus::Follower`,
//! implemented in `crate::accounts::session_notices`), which forget what they concern.
//! The cache answers only while those notices can arrive: from the `Resync` of a
//! subscription until the link is lost; meanwhile every check reads the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::Role;

/// Sessions remembered at most; past it the least used are read again.
const MAX_SESSIONS: u64 = 100_000;

pub struct SessionCache {
    /// session id → (user id, role); `None` when the cache is off.
    entries: Option<moka::sync::Cache<i64, (i64, Role)>>,
    /// Moves on every change that may end sessions.
    epoch: AtomicU64,
    /// Whether every change that may end sessions reaches this cache (see the module).
    trusted: AtomicBool,
}

impl SessionCache {
    /// A cache whose entries live at most `ttl`; it answers nothing until it hears
    /// that changes reach it ([`SessionCache::resync`]).
    pub fn new(enabled: bool, ttl: Duration) -> Self {
        let entries = enabled.then(|| {
            moka::sync::Cache::builder()
                .max_capacity(MAX_SESSIONS)
                .time_to_live(ttl)
                .build()
        });
        Self {
            entries,
            epoch: AtomicU64::new(0),
            trusted: AtomicBool::new(false),
        }
    }

    pub fn get(&self, session_id: i64, user_id: i64) -> Option<Role> {
        if !self.trusted.load(Ordering::SeqCst) {
            return None;
        }
        let (owner, role) = self.entries.as_ref()?.get(&session_id)?;
        (owner == user_id).then_some(role)
    }

    /// Taken before reading the database, handed back to [`SessionCache::remember`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Stores what a check read, unless a change began since `epoch` was taken.
    pub fn remember(&self, epoch: u64, session_id: i64, user_id: i64, role: Role) {
        let Some(entries) = &self.entries else {
            return;
        };
        if self.epoch() != epoch || !self.trusted.load(Ordering::SeqCst) {
            return;
        }
        entries.insert(session_id, (user_id, role));
        // a change (or a lost link) that began between the test above and the insert
        // must not miss it
        if self.epoch() != epoch {
            entries.invalidate(&session_id);
        }
    }

    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }

    /// Another process ended these sessions.
    pub fn forget_sessions(&self, session_ids: &[i64]) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(entries) = &self.entries {
            for id in session_ids {
                entries.invalidate(id);
            }
        }
    }

    /// Changes can be missed from now on: answer nothing until [`SessionCache::resync`].
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::SeqCst);
        self.forget_all();
    }

    /// Every change reaches the cache from now on, and any may have been missed before:
    /// start empty and answer again.
    pub fn resync(&self) {
        self.forget_all();
        self.trusted.store(true, Ordering::SeqCst);
    }
}

/// Held while a change that ends sessions commits; forgets the cache again when dropped.
#[must_use = "hold it until the change has committed"]
pub struct Revoking<'a>(&'a SessionCache);

impl<'a> Revoking<'a> {
    pub fn begin(cache: &'a SessionCache) -> Self {
        cache.forget_all();
        Self(cache)
    }
}

impl Drop for Revoking<'_> {
    fn drop(&mut self) {
        self.0.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> SessionCache {
        let cache = SessionCache::new(true, Duration::from_secs(60));
        cache.resync();
        cache
    }

    #[test]
    fn a_remembered_session_is_answered_for_its_owner_only() {
        let cache = cache();
        cache.remember(cache.epoch(), 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), Some(Role::User));
        assert_eq!(cache.get(1, 11), None);
    }

    #[test]
    fn a_read_made_while_a_change_was_under_way_is_not_stored() {
        let cache = cache();
        let before = cache.epoch();
        let revoking = Revoking::begin(&cache);
        cache.remember(before, 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), None);
        let during = cache.epoch();
        drop(revoking);
        cache.remember(during, 1, 10, Role::User);
        assert_eq!(
            cache.get(1, 10),
            None,
            "read before the commit, stored after it"
        );
    }

    #[test]
    fn a_change_forgets_what_was_stored() {
        let cache = cache();
        cache.remember(cache.epoch(), 1, 10, Role::Admin);
        drop(Revoking::begin(&cache));
        assert_eq!(cache.get(1, 10), None);
    }

    #[test]
    fn a_disabled_cache_remembers_nothing() {
        let cache = SessionCache::new(false, Duration::from_secs(60));
        cache.resync();
        cache.remember(cache.epoch(), 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), None);
    }

    #[test]
    fn nothing_is_answered_before_the_first_resync() {
        let cache = SessionCache::new(true, Duration::from_secs(60));
        cache.remember(cache.epoch(), 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), None, "not stored while untrusted");
        cache.resync();
        cache.remember(cache.epoch(), 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), Some(Role::User));
    }

    #[test]
    fn a_lost_link_empties_the_cache_until_the_next_resync() {
        let cache = cache();
        cache.remember(cache.epoch(), 1, 10, Role::User);
        let before = cache.epoch();
        cache.distrust();
        cache.remember(cache.epoch(), 2, 10, Role::User);
        assert_eq!(cache.get(1, 10), None);
        assert_eq!(cache.get(2, 10), None);
        cache.resync();
        assert_eq!(cache.get(1, 10), None, "emptied, not just hidden");
        cache.remember(before, 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), None, "read before the link was lost");
    }

    #[test]
    fn forgetting_sessions_leaves_the_others() {
        let cache = cache();
        cache.remember(cache.epoch(), 1, 10, Role::User);
        cache.remember(cache.epoch(), 2, 10, Role::User);
        let before = cache.epoch();
        cache.forget_sessions(&[1]);
        assert_eq!(cache.get(1, 10), None);
        assert_eq!(cache.get(2, 10), Some(Role::User));
        cache.remember(before, 1, 10, Role::User);
        assert_eq!(cache.get(1, 10), None, "read while the notice arrived");
    }
}
