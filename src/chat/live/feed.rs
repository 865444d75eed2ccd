//! The recent events of each chat, read and rendered once per change and shared by the
//! sockets that send them: a change of a chat with a thousand sockets costs one read of
//! its log, not a thousand.
//!
//! A feed holds every event after `complete_after` up to `known`, contiguous, as read
//! from the log. Each announcement of a change is counted before the sockets hear of it;
//! a socket takes events from the feed only when the feed was read after the latest
//! announcement it could have heard, so what the feed holds is everything committed
//! before that. A socket further behind than the feed reads the log itself.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;

use super::events::{self, LiveEvent};
use super::protocol::ServerMessage;
use crate::error::AppResult;
use crate::state::AppState;

/// Events kept per chat.
const KEPT: usize = 32;
/// Chats with a feed; past this many they are all dropped and read afresh on demand.
const MAX_FEEDS: usize = 4096;

#[derive(Default)]
pub struct Feeds {
    chats: DashMap<i64, Arc<Feed>>,
}

#[derive(Default)]
struct Feed {
    /// Announcements of changes counted so far.
    announced: AtomicU64,
    /// What the latest read of the log found. Sockets that need nothing newer take it
    /// without waiting for one another: a chat's thousand sockets wake at once.
    latest: Mutex<Arc<Recent>>,
    /// Held by the one socket that reads the log for the others.
    reading: tokio::sync::Mutex<()>,
}

impl Feed {
    fn latest(&self) -> Arc<Recent> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Default, Clone)]
struct Recent {
    /// Every event after this sequence number, up to `known`, is in `events`; `None`
    /// before the first read.
    complete_after: Option<i64>,
    known: i64,
    /// Announcements counted before the latest read of the log.
    announced_before_read: u64,
    events: VecDeque<Arc<SharedEvent>>,
}

/// An event with its frame, serialized once for every socket that sends it.
pub struct SharedEvent {
    pub event: LiveEvent,
    pub frame: Utf8Bytes,
}

impl Feeds {
    /// Counts an announcement that `chat_id` changed; call before the sockets hear of it.
    pub fn changed(&self, chat_id: i64) {
        if let Some(feed) = self.chats.get(&chat_id) {
            feed.announced.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Drops a deleted chat's feed.
    pub fn forget(&self, chat_id: i64) {
        self.chats.remove(&chat_id);
    }

    fn feed(&self, chat_id: i64) -> Arc<Feed> {
        if let Some(feed) = self.chats.get(&chat_id) {
            return feed.clone();
        }
        if self.chats.len() >= MAX_FEEDS {
            self.chats.clear();
        }
        self.chats.entry(chat_id).or_default().clone()
    }

    /// The chat's events after `position`, in order, as far as they were committed when
    /// the latest announcement was counted; `None` when the feed cannot tell (the socket
    /// is behind what it keeps, or far behind the log) and the caller reads the log.
    pub async fn after(
        &self,
        state: &AppState,
        chat_id: i64,
        position: i64,
    ) -> AppResult<Option<Vec<Arc<SharedEvent>>>> {
        // fetched afresh each time: a feed dropped meanwhile counts nothing more
        let feed = self.feed(chat_id);
        let announced = feed.announced.load(Ordering::SeqCst);
        let latest = feed.latest();
        if latest.answers(position, announced) {
            return Ok(Some(latest.events_after(position)));
        }
        let _reading = feed.reading.lock().await;
        let latest = feed.latest();
        // read by another socket while this one waited
        if latest.answers(position, announced) {
            return Ok(Some(latest.events_after(position)));
        }
        let mut recent = Recent::clone(&latest);
        let announced_before_read = feed.announced.load(Ordering::SeqCst);
        let replace = !recent.covers(position);
        let from = if replace { position } else { recent.known };
        let rows = events::after(&state.reader, chat_id, from).await?;
        if rows.len() as u64 >= events::BATCH {
            return Ok(None);
        }
        let rendered = events::render(state, chat_id, rows).await?;
        if replace {
            recent.events.clear();
            recent.complete_after = Some(from);
            recent.known = from;
        }
        recent.extend(rendered)?;
        recent.announced_before_read = announced_before_read;
        let recent = Arc::new(recent);
        *feed.latest.lock().unwrap_or_else(PoisonError::into_inner) = recent.clone();
        if !recent.covers(position) {
            return Ok(None);
        }
        Ok(Some(recent.events_after(position)))
    }
}

impl Recent {
    fn covers(&self, position: i64) -> bool {
        self.complete_after
            .is_some_and(|after| after <= position && position <= self.known)
    }

    /// Whether this read holds what follows `position` and came after `announced`.
    fn answers(&self, position: i64, announced: u64) -> bool {
        self.covers(position) && self.announced_before_read >= announced
    }

    fn events_after(&self, position: i64) -> Vec<Arc<SharedEvent>> {
        self.events
            .iter()
            .filter(|shared| shared.event.seq > position)
            .cloned()
            .collect()
    }

    fn extend(&mut self, rendered: Vec<LiveEvent>) -> AppResult<()> {
        for event in rendered {
            let frame = serde_json::to_string(&ServerMessage::Event(&event))
                .map_err(crate::error::AppError::internal)?;
            self.known = event.seq;
            self.events.push_back(Arc::new(SharedEvent {
                event,
                frame: frame.into(),
            }));
        }
        while self.events.len() > KEPT {
            if let Some(dropped) = self.events.pop_front() {
                self.complete_after = Some(dropped.event.seq);
            }
        }
        Ok(())
    }
}
