//! The sockets connected to this process, by member, each with a bounded queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::sync::{Notify, mpsc};

use super::feed::Feeds;
use super::presence_fanout::PendingPresence;
use super::protocol::PresenceChange;

/// Announcements a socket's queue holds; a socket that falls this far behind is closed
/// as too slow (it resumes when it reconnects).
pub const QUEUE_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Chat `chat_id` has new events.
    Changed { chat_id: i64 },
    /// Chat `chat_id` may have changed: a socket that has it re-reads it (sent to every
    /// socket, e.g. when a chat is deleted).
    Check { chat_id: i64 },
    /// Announcements may have been lost: re-read every chat.
    Recheck,
    /// The socket's session ended.
    Revoked,
    /// Someone is typing in a chat; never stored.
    Typing { chat_id: i64, user_id: i64 },
    /// People one shares a chat with came online or went offline.
    Presence(Arc<[PresenceChange]>),
    /// Someone's read or delivered watermark moved.
    Receipt {
        chat_id: i64,
        user_id: i64,
        read_seq: i64,
        delivered_seq: i64,
    },
}

struct Socket {
    session_id: i64,
    sender: mpsc::Sender<Signal>,
    /// Woken when the hub drops the socket, so that it closes even while a send to its
    /// client is stuck.
    dropped: Arc<Notify>,
}

impl Socket {
    /// Queues `signal`; false (and the socket told) when its queue is full.
    fn offer(&self, signal: &Signal) -> bool {
        let queued = self.sender.try_send(signal.clone()).is_ok();
        if !queued {
            self.dropped.notify_one();
        }
        queued
    }
}

#[derive(Default)]
pub struct Hub {
    sockets: DashMap<i64, HashMap<u64, Socket>>,
    next_id: AtomicU64,
    /// The chats' recent events, shared by the sockets that send them.
    pub feeds: Feeds,
    /// Presence changes waiting to be told to the partners connected here.
    pub presence: PendingPresence,
}

impl Hub {
    /// A new socket of `user_id` signed in with `session_id`, woken through `dropped`
    /// when the hub drops it: its id, the receiving end of its queue, and whether it is
    /// the member's only socket here.
    pub fn register(
        &self,
        user_id: i64,
        session_id: i64,
        dropped: Arc<Notify>,
    ) -> (u64, mpsc::Receiver<Signal>, bool) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(QUEUE_LEN);
        let mut sockets = self.sockets.entry(user_id).or_default();
        let socket = Socket {
            session_id,
            sender,
            dropped,
        };
        sockets.insert(id, socket);
        let first = sockets.len() == 1;
        (id, receiver, first)
    }

    /// Forgets a socket; true when it was the member's last one here.
    pub fn unregister(&self, user_id: i64, id: u64) -> bool {
        let removed = self.sockets.remove_if_mut(&user_id, |_, sockets| {
            sockets.remove(&id);
            sockets.is_empty()
        });
        removed.is_some()
    }

    /// Whether `user_id` has a socket here.
    pub fn is_connected(&self, user_id: i64) -> bool {
        self.sockets.contains_key(&user_id)
    }

    /// The members with a socket here.
    pub fn connected_users(&self) -> Vec<i64> {
        self.sockets.iter().map(|entry| *entry.key()).collect()
    }

    /// Queues `signal` for every socket of `users`, never waiting: a socket whose queue
    /// is full is dropped from the hub, which closes it as too slow.
    pub fn notify(&self, users: &[i64], signal: Signal) {
        for user_id in users {
            if let Some(mut sockets) = self.sockets.get_mut(user_id) {
                sockets.retain(|_, socket| socket.offer(&signal));
            }
        }
        for user_id in users {
            self.sockets
                .remove_if(user_id, |_, sockets| sockets.is_empty());
        }
    }

    /// Queues `signal` for every socket of this process.
    pub fn broadcast(&self, signal: Signal) {
        self.sockets.retain(|_, sockets| {
            sockets.retain(|_, socket| socket.offer(&signal));
            !sockets.is_empty()
        });
    }

    /// Tells the sockets signed in with these sessions that they ended.
    pub fn end_sessions(&self, session_ids: &[i64]) {
        for mut entry in self.sockets.iter_mut() {
            for socket in entry.values_mut() {
                if session_ids.contains(&socket.session_id) {
                    // a full queue closes the socket anyway
                    let _ = socket.sender.try_send(Signal::Revoked);
                }
            }
        }
    }

    /// Sockets connected now.
    pub fn len(&self) -> usize {
        self.sockets.iter().map(|entry| entry.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn a_socket_that_stops_reading_is_dropped_and_others_are_not() {
        let hub = Hub::default();
        let reader_dropped = Arc::new(Notify::new());
        let stalled_dropped = Arc::new(Notify::new());
        let (_, mut reader, first) = hub.register(1, 10, reader_dropped.clone());
        let (_, _stalled, second_first) = hub.register(1, 11, stalled_dropped.clone());
        assert!(first && !second_first);
        for n in 0..QUEUE_LEN as i64 {
            hub.notify(&[1], Signal::Changed { chat_id: n });
            assert!(reader.try_recv().is_ok());
        }
        assert_eq!(hub.len(), 2);
        hub.notify(&[1], Signal::Changed { chat_id: 0 });
        assert_eq!(hub.len(), 1, "the stalled socket is gone");
        assert!(reader.try_recv().is_ok());
        assert!(
            stalled_dropped.notified().now_or_never().is_some(),
            "and told at once"
        );
        assert!(reader_dropped.notified().now_or_never().is_none());
    }

    #[test]
    fn unregistering_leaves_no_entry_behind() {
        let hub = Hub::default();
        let (id, _receiver, _) = hub.register(7, 70, Default::default());
        let (other, _receiver, _) = hub.register(7, 71, Default::default());
        assert!(!hub.unregister(7, id), "another socket is left");
        assert!(hub.is_connected(7));
        assert!(hub.unregister(7, other), "the last one");
        assert!(hub.sockets.is_empty());
        assert!(hub.is_empty());
    }

    #[test]
    fn broadcasts_reach_everyone_and_revocations_only_their_sessions() {
        let hub = Hub::default();
        let (_, mut ann, _) = hub.register(1, 10, Default::default());
        let (_, mut anns_other_device, _) = hub.register(1, 11, Default::default());
        let (_, mut bob, _) = hub.register(2, 20, Default::default());
        hub.broadcast(Signal::Recheck);
        for receiver in [&mut ann, &mut anns_other_device, &mut bob] {
            assert_eq!(receiver.try_recv().ok(), Some(Signal::Recheck));
        }
        hub.end_sessions(&[11, 99]);
        assert_eq!(anns_other_device.try_recv().ok(), Some(Signal::Revoked));
        assert!(ann.try_recv().is_err());
        assert!(bob.try_recv().is_err());
    }
}
