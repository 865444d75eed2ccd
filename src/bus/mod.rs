//! The bus between the server processes that share one database. It carries small
//! notices (ids, sequence numbers, watermarks) published after the change they announce
//! has committed; whoever acts on one reads the data itself from the database. With
//! SQLite there is one process and the bus stays inside it; otherwise notices travel
//! through Redis pub/sub when `REDIS_URL` is set, else PostgreSQL LISTEN/NOTIFY.
//!
//! A notice is delivered to this process at once, and to the others through the link.
//! Notices can be lost (the link drops, Redis restarts, a queue overflows); the loss is
//! always noticed, and answered with `Notice::Resync` — "re-read everything from the
//! database" — once the link works again: by a process whose subscription came back,
//! for itself, and by a process that could not publish, for every process.
//!
//! Caches follow the bus ([`Follower`]): they hear other processes' notices as the link
//! brings them, and answer from memory only while the subscription is up.

mod followers;
pub mod notice;
mod pg_notify;
mod redis_pubsub;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use tokio::sync::mpsc;

pub use followers::{Follower, Followers};
pub use notice::{CatalogChange, Notice};
use notice::{Envelope, sessions_revoked};

use crate::auth::redis_link::RedisLink;
use crate::config::Config;

/// Notices waiting to be acted on in this process, or to be published.
const QUEUE_LEN: usize = 4096;
/// The longest a connection or a publish attempt may take.
const LINK_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection and republishing wait this long at first, doubling up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct Bus {
    /// This process, so that it skips its own notices when the link brings them back.
    origin: u64,
    local: Local,
    remote: Option<Remote>,
}

struct Remote {
    link: Arc<Link>,
    outgoing: mpsc::Sender<Notice>,
    /// A notice could not be queued for publishing.
    outgoing_lost: Arc<AtomicBool>,
    listening: AtomicBool,
}

/// How notices travel to the other processes.
// one per process, behind an Arc: the size of the larger variant does not matter
#[allow(clippy::large_enum_variant)]
enum Link {
    Redis {
        client: redis::Client,
        channel: String,
        publisher: RedisLink,
    },
    Postgres {
        url: String,
        db: DatabaseConnection,
    },
}

/// The notices this process acts on, in the order they came.
pub struct Deliveries {
    receiver: mpsc::Receiver<Notice>,
    lost: Arc<AtomicBool>,
}

impl Deliveries {
    /// The next notice; a `Resync` stands for any that overflowed the queue.
    pub async fn next(&mut self) -> Option<Notice> {
        if self.lost.swap(false, Ordering::AcqRel) {
            return Some(Notice::Resync);
        }
        self.receiver.recv().await
    }
}

/// The sending end of this process's deliveries; it never waits.
#[derive(Clone)]
struct Local {
    sender: mpsc::Sender<Notice>,
    lost: Arc<AtomicBool>,
    followers: Followers,
}

impl Local {
    fn deliver(&self, notice: Notice) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.sender.try_send(notice) {
            self.lost.store(true, Ordering::Release);
        }
    }

    /// A payload from the link, unless it is this process's own.
    fn deliver_payload(&self, origin: u64, payload: &str) {
        match Envelope::decode(payload) {
            Some(envelope) if envelope.origin != origin => {
                self.followers.heard(&envelope.notice);
                self.deliver(envelope.notice);
            }
            Some(_) => {}
            None => tracing::debug!(payload, "bus: ignored a notice this version does not know"),
        }
    }
}

impl Bus {
    /// The bus the configuration calls for, and the notices this process must act on.
    /// `redis` is the application's Redis connection, used for publishing; `followers`
    /// hear the other processes' notices (see [`Bus::listen`]).
    pub fn new(
        config: &Config,
        db: &DatabaseConnection,
        redis: Option<RedisLink>,
        followers: Followers,
    ) -> anyhow::Result<(Self, Deliveries)> {
        let (sender, receiver) = mpsc::channel(QUEUE_LEN);
        let lost = Arc::new(AtomicBool::new(false));
        let local = Local {
            sender,
            lost: lost.clone(),
            followers,
        };
        let link = match (&config.redis_url, redis) {
            (Some(url), Some(publisher)) => Some(Link::Redis {
                client: redis::Client::open(url.as_str())?,
                channel: format!("{}:bus", config.redis_key_prefix),
                publisher,
            }),
            _ if db.get_database_backend() == DbBackend::Postgres => Some(Link::Postgres {
                url: config.database_url(),
                db: db.clone(),
            }),
            _ => None,
        };
        if link.is_none() {
            // one process: nothing can be missed
            local.followers.heard(&Notice::Resync);
        }
        let origin = rand::random();
        let remote = link.map(|link| {
            let link = Arc::new(link);
            let (outgoing, queued) = mpsc::channel(QUEUE_LEN);
            let outgoing_lost = Arc::new(AtomicBool::new(false));
            tokio::spawn(publish_queued(
                link.clone(),
                origin,
                queued,
                outgoing_lost.clone(),
            ));
            Remote {
                link,
                outgoing,
                outgoing_lost,
                listening: AtomicBool::new(false),
            }
        });
        let bus = Self {
            origin,
            local,
            remote,
        };
        Ok((bus, Deliveries { receiver, lost }))
    }

    /// This process among those sharing the database.
    pub fn instance_id(&self) -> i64 {
        i64::from_ne_bytes(self.origin.to_ne_bytes())
    }

    /// `redis`, `postgres` or `in-process`, for the logs.
    pub fn kind(&self) -> &'static str {
        match self.remote.as_ref().map(|remote| remote.link.as_ref()) {
            Some(Link::Redis { .. }) => "redis",
            Some(Link::Postgres { .. }) => "postgres",
            None => "in-process",
        }
    }

    /// Acts on `notice` here and sends it to the other processes. Call it only after the
    /// change it announces has committed. Never waits.
    pub fn publish(&self, notice: Notice) {
        self.local.deliver(notice.clone());
        if let Some(remote) = &self.remote {
            if remote.outgoing.try_send(notice).is_err() {
                remote.outgoing_lost.store(true, Ordering::Release);
            }
        }
    }

    pub fn publish_sessions_revoked(&self, session_ids: &[i64]) {
        for notice in sessions_revoked(session_ids) {
            self.publish(notice);
        }
    }

    /// Starts hearing the other processes' notices, once; a `Resync` is delivered each
    /// time the subscription is (re)established. Called at start, since the caches
    /// follow the bus; until the first subscription they answer nothing from memory.
    pub fn listen(&self) {
        let Some(remote) = &self.remote else { return };
        if remote.listening.swap(true, Ordering::AcqRel) {
            return;
        }
        let (origin, local) = (self.origin, self.local.clone());
        match remote.link.as_ref() {
            Link::Redis {
                client, channel, ..
            } => {
                tokio::spawn(redis_pubsub::subscribe(
                    client.clone(),
                    channel.clone(),
                    origin,
                    local,
                ));
            }
            Link::Postgres { url, .. } => {
                tokio::spawn(pg_notify::listen(url.clone(), origin, local));
            }
        }
    }
}

impl Link {
    async fn publish(&self, payload: String) -> anyhow::Result<()> {
        match self {
            Self::Redis {
                channel, publisher, ..
            } => redis_pubsub::publish(publisher, channel, payload).await,
            Self::Postgres { db, .. } => pg_notify::notify(db, payload).await,
        }
    }
}

/// Publishes queued notices in order. When one cannot be published, a `Resync` is
/// published in its place as soon as the link works again, and everything queued
/// meanwhile is dropped: it committed before the `Resync`, which covers it.
async fn publish_queued(
    link: Arc<Link>,
    origin: u64,
    mut queued: mpsc::Receiver<Notice>,
    lost: Arc<AtomicBool>,
) {
    while let Some(notice) = queued.recv().await {
        let notice = if lost.swap(false, Ordering::AcqRel) {
            Notice::Resync
        } else {
            notice
        };
        let envelope = Envelope { origin, notice };
        if publish_once(&link, envelope.encode()).await {
            continue;
        }
        let resync = Envelope {
            origin,
            notice: Notice::Resync,
        }
        .encode();
        let mut backoff = Backoff::default();
        loop {
            tokio::time::sleep(backoff.next_wait()).await;
            if publish_once(&link, resync.clone()).await {
                break;
            }
        }
        tracing::info!("bus: publishing works again; every process was told to resync");
        while queued.try_recv().is_ok() {}
    }
}

async fn publish_once(link: &Link, payload: String) -> bool {
    match tokio::time::timeout(LINK_TIMEOUT, link.publish(payload)).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            metrics::counter!("bus_publish_failures_total").increment(1);
            tracing::warn!(error = %err, "bus: could not publish a notice");
            false
        }
        Err(_) => {
            metrics::counter!("bus_publish_failures_total").increment(1);
            tracing::warn!("bus: publishing a notice timed out");
            false
        }
    }
}

/// A subscription was established: after a loss, that is a reconnection, logged and
/// counted. Either way this process re-reads what it may have missed.
fn subscribed(link: &'static str, local: &Local, before: &mut bool) {
    if *before {
        metrics::counter!("bus_reconnects_total", "link" => link).increment(1);
        tracing::info!(
            link,
            "bus: subscribed again; resyncing the sockets of this process"
        );
    }
    *before = true;
    local.followers.heard(&Notice::Resync);
    local.deliver(Notice::Resync);
}

/// The subscription is gone: the caches stop answering from memory until the next one.
fn link_lost(local: &Local) {
    local.followers.link_lost();
}

/// Waits that double from `MIN_BACKOFF` up to `MAX_BACKOFF`.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(MIN_BACKOFF)
    }
}

impl Backoff {
    fn next_wait(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let mut backoff = Backoff::default();
        let waits: Vec<u128> = (0..7).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[tokio::test]
    async fn an_overflowing_queue_turns_into_one_resync() {
        let (sender, receiver) = mpsc::channel(2);
        let lost = Arc::new(AtomicBool::new(false));
        let local = Local {
            sender,
            lost: lost.clone(),
            followers: Followers::default(),
        };
        let mut deliveries = Deliveries { receiver, lost };
        for chat_id in 0..5 {
            local.deliver(Notice::ChatDeleted { chat_id });
        }
        assert_eq!(deliveries.next().await, Some(Notice::Resync));
        assert_eq!(
            deliveries.next().await,
            Some(Notice::ChatDeleted { chat_id: 0 })
        );
        assert_eq!(
            deliveries.next().await,
            Some(Notice::ChatDeleted { chat_id: 1 })
        );
    }

    #[tokio::test]
    async fn a_process_skips_its_own_notices() {
        let (sender, receiver) = mpsc::channel(4);
        let lost = Arc::new(AtomicBool::new(false));
        let local = Local {
            sender,
            lost: lost.clone(),
            followers: Followers::default(),
        };
        let mut deliveries = Deliveries { receiver, lost };
        let typing = Notice::Typing {
            chat_id: 1,
            user_id: 2,
        };
        let mine = Envelope {
            origin: 7,
            notice: typing.clone(),
        };
        let theirs = Envelope {
            origin: 8,
            notice: typing.clone(),
        };
        local.deliver_payload(7, &mine.encode());
        local.deliver_payload(7, &theirs.encode());
        local.deliver_payload(7, "garbage");
        drop(local);
        assert_eq!(deliveries.next().await, Some(typing));
        assert_eq!(deliveries.next().await, None);
    }
}
