//! What a process keeps in memory that other processes' changes make stale (the session
//! cache, the catalog's answers). Such a cache follows the bus: it hears every notice the
//! link brings, in order, before anything else acts on it, and it hears when the link is
//! lost. It may answer from memory only between the `Resync` of a subscription and the
//! loss of that subscription: notices missed while the link is down cannot reach it.
//!
//! The trait lives here and the caches' owners implement it, so the bus needs to know
//! nothing of them.

use std::sync::Arc;

use super::Notice;

pub trait Follower: Send + Sync {
    /// A notice from another process, or the `Resync` of a (re)established subscription
    /// (or of the in-process bus, once, at start): after a `Resync` the cache is emptied
    /// and may be trusted.
    fn heard(&self, notice: &Notice);

    /// The link is down, or could not be established: notices may be missed from now
    /// on, so nothing remembered may be trusted until the next `Resync`.
    fn link_lost(&self);
}

/// Every follower of this process, told in turn.
#[derive(Clone, Default)]
pub struct Followers(Arc<[Arc<dyn Follower>]>);

impl Followers {
    pub fn new(followers: Vec<Arc<dyn Follower>>) -> Self {
        Self(followers.into())
    }

    pub(super) fn heard(&self, notice: &Notice) {
        for follower in self.0.iter() {
            follower.heard(notice);
        }
    }

    pub(super) fn link_lost(&self) {
        for follower in self.0.iter() {
            follower.link_lost();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    use tokio::sync::mpsc;

    use super::super::notice::Envelope;
    use super::super::{Local, link_lost, subscribed};
    use super::*;

    /// What a follower was told, in order; `None` for a lost link.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Option<Notice>>>);

    impl Follower for Recorder {
        fn heard(&self, notice: &Notice) {
            self.0.lock().unwrap().push(Some(notice.clone()));
        }

        fn link_lost(&self) {
            self.0.lock().unwrap().push(None);
        }
    }

    #[test]
    fn followers_hear_other_processes_and_the_state_of_the_link() {
        let recorder = Arc::new(Recorder::default());
        let (sender, _receiver) = mpsc::channel(8);
        let local = Local {
            sender,
            lost: Arc::new(AtomicBool::new(false)),
            followers: Followers::new(vec![recorder.clone()]),
        };
        let revoked = Notice::SessionsRevoked {
            session_ids: vec![1],
        };
        let payload = |origin| {
            Envelope {
                origin,
                notice: revoked.clone(),
            }
            .encode()
        };
        let mut subscribed_before = false;
        subscribed("redis", &local, &mut subscribed_before);
        local.deliver_payload(7, &payload(7));
        local.deliver_payload(7, &payload(8));
        link_lost(&local);
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [Some(Notice::Resync), Some(revoked.clone()), None],
            "its own notice is not heard again"
        );
    }
}
