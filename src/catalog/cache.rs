//! Rendered catalog answers kept in memory. Catalog reads far outnumber writes, so every
//! successful write through the API moves what it changed to a new version, and answers
//! rendered under an older version are not served again: a watch's change renews its own
//! answer and every list and search (any of them may show it), a brand's or a
//! mechanism's renews everything, and sign-ins, collections, uploads and messages renew
//! nothing. The write is announced on the bus (`catalog_changed`), and other processes
//! move the same answers to a new version when they hear of it; they serve answers from
//! memory only while the bus's subscription is up (see `crate::bus::Follower`). Writes
//! nobody announces (an import run apart from the server) are bounded by a short
//! lifetime.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;
use tokio::sync::Mutex;

use crate::bus::{CatalogChange, Follower, Notice};
use crate::error::AppResult;
use crate::state::AppState;

/// What an entry costs besides its key and body (the cache's own bookkeeping), so that
/// many tiny answers are bounded too.
const ENTRY_OVERHEAD_BYTES: usize = 256;

/// Watches share this many versions of their answers, by id: a watch's change renews the
/// answers of one watch in this many, with a fixed amount of memory however many change.
const WATCH_VERSIONS: usize = 1024;

/// A cached answer: one watch, or a list or search (keyed on its normalized query).
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    Watch(i64),
    List(&'a str),
}

impl Answer<'_> {
    fn key(&self) -> Cow<'_, str> {
        match self {
            Self::Watch(id) => Cow::Owned(format!("watch:{id}")),
            Self::List(key) => Cow::Borrowed(key),
        }
    }
}

/// The versions an answer was rendered under: the whole catalog's, and its own part's
/// (the lists', or its watch's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    catalog: u64,
    part: u64,
}

pub struct CatalogCache {
    catalog: AtomicU64,
    lists: AtomicU64,
    watches: Box<[AtomicU64]>,
    /// Whether every write elsewhere reaches this cache: false while the bus's link is
    /// down, and until its first subscription.
    trusted: AtomicBool,
    /// Bounded in bytes; the least used answers are dropped first, expired ones at the
    /// next maintenance.
    entries: moka::sync::Cache<String, Entry>,
    /// One render per missing answer: concurrent requests for it wait and reuse it.
    /// Holds only the renders in progress.
    renders: DashMap<String, Arc<Mutex<()>>>,
    ttl: Duration,
}

#[derive(Clone)]
struct Entry {
    versions: Versions,
    body: Bytes,
}

impl CatalogCache {
    pub fn new(ttl: Duration, max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                let bytes = key.len() + entry.body.len() + ENTRY_OVERHEAD_BYTES;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .build();
        Self {
            catalog: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            watches: (0..WATCH_VERSIONS).map(|_| AtomicU64::new(0)).collect(),
            trusted: AtomicBool::new(false),
            entries,
            renders: DashMap::new(),
            ttl,
        }
    }

    fn part(&self, answer: Answer<'_>) -> &AtomicU64 {
        match answer {
            Answer::List(_) => &self.lists,
            Answer::Watch(id) => {
                let slot = id.rem_euclid(WATCH_VERSIONS as i64) as usize;
                &self.watches[slot]
            }
        }
    }

    /// Read before rendering; pass to `put`, so that an answer rendered while a write
    /// changed it is never kept under the new version.
    pub fn versions(&self, answer: Answer<'_>) -> Versions {
        Versions {
            catalog: self.catalog.load(Ordering::Acquire),
            part: self.part(answer).load(Ordering::Acquire),
        }
    }

    pub fn get(&self, answer: Answer<'_>) -> Option<Bytes> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries.get(answer.key().as_ref())?;
        (entry.versions == self.versions(answer)).then_some(entry.body)
    }

    pub fn put(&self, answer: Answer<'_>, versions: Versions, body: Bytes) {
        if self.ttl.is_zero()
            || versions != self.versions(answer)
            || !self.trusted.load(Ordering::Acquire)
        {
            return;
        }
        // a copy of exactly its length: a rendered answer's buffer grew by doubling, and
        // its spare room (up to as much again) would be held without being weighed
        let body = Bytes::copy_from_slice(&body);
        let key = answer.key().into_owned();
        self.entries.insert(key, Entry { versions, body });
    }

    /// The cached answer, or the one `render` makes, rendered once however many requests
    /// ask for it at the same moment (no stampede when an answer expires).
    pub async fn get_or_render<F>(&self, answer: Answer<'_>, render: F) -> AppResult<Bytes>
    where
        F: Future<Output = AppResult<Bytes>>,
    {
        if self.ttl.is_zero() {
            return render.await;
        }
        if let Some(body) = self.get(answer) {
            return Ok(body);
        }
        let key = answer.key();
        let gate = self
            .renders
            .entry(key.clone().into_owned())
            .or_default()
            .clone();
        let rendered = {
            let _turn = gate.lock().await;
            match self.get(answer) {
                Some(body) => Ok(body),
                None => {
                    let versions = self.versions(answer);
                    let result = render.await;
                    if let Ok(body) = &result {
                        self.put(answer, versions, body.clone());
                    }
                    result
                }
            }
        };
        // the map's reference and ours: nobody else is waiting for this render
        self.renders
            .remove_if(key.as_ref(), |_, gate| Arc::strong_count(gate) <= 2);
        rendered
    }

    /// Moves what `change` made stale to a new version; its answers are not served again.
    pub fn changed(&self, change: CatalogChange) {
        match change {
            CatalogChange::Everything => self.invalidate(),
            CatalogChange::Lists => {
                self.lists.fetch_add(1, Ordering::AcqRel);
            }
            CatalogChange::Watch(id) => {
                self.lists.fetch_add(1, Ordering::AcqRel);
                self.part(Answer::Watch(id)).fetch_add(1, Ordering::AcqRel);
                // its memory now rather than at expiry; the version keeps it unserved
                self.entries.invalidate(Answer::Watch(id).key().as_ref());
            }
        }
    }

    pub fn invalidate(&self) {
        self.catalog.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Writes elsewhere can be missed from now on: serve nothing from memory until
    /// [`CatalogCache::resync`].
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::Release);
        self.invalidate();
    }

    /// Every write reaches the cache from now on, and any may have been missed before:
    /// start from a new version and serve again.
    pub fn resync(&self) {
        self.invalidate();
        self.trusted.store(true, Ordering::Release);
    }

    /// Drops expired and invalidated answers now rather than on a later access.
    pub fn run_maintenance(&self) {
        self.entries.run_pending_tasks();
    }

    /// The bytes the answers take, as weighed against the bound.
    pub fn weighed_bytes(&self) -> u64 {
        self.entries.weighted_size()
    }
}

impl Follower for CatalogCache {
    fn heard(&self, notice: &Notice) {
        match notice {
            Notice::CatalogChanged { of } => self.changed(*of),
            Notice::Resync => self.resync(),
            _ => {}
        }
    }

    fn link_lost(&self) {
        self.distrust();
    }
}

/// How often expired answers are dropped and freed memory handed back.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);

/// Drops expired answers every few seconds and hands the memory they took back to the
/// system, so that a burst of distinct requests leaves nothing behind. Ends with the app.
pub fn spawn_maintenance(state: &AppState) {
    let app = Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(MAINTENANCE_EVERY);
        loop {
            ticks.tick().await;
            let Some(app) = app.upgrade() else { break };
            app.catalog_cache.run_maintenance();
            drop(app);
            crate::allocator::release_free_memory();
        }
    });
}

/// What a successful write on `route` (the matched pattern; `path` is the request's own)
/// changes in the catalog's answers, if anything. Sign-ins, collections, uploads,
/// drafts before approval, messages and every other write leave them alone.
fn catalog_change(method: &Method, route: &str, path: &str) -> Option<CatalogChange> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let under = |prefix: &str| {
        route
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if route == "/api/v1/watches" {
        return Some(CatalogChange::Lists);
    }
    if under("/api/v1/watches/{id}") {
        // /api/v1/watches/{id}/…: the id is the fourth segment
        let id = path.split('/').nth(4).and_then(|id| id.parse().ok());
        return Some(id.map_or(CatalogChange::Everything, CatalogChange::Watch));
    }
    let everything = match route {
        // brands, factories, case materials, genders, mechanism types, functions; and
        // mechanisms: what many watches show
        _ if under("/api/v1/{reference}") || under("/api/v1/mechanisms") => true,
        // an approved draft adds or changes a watch or a mechanism
        _ if under("/api/v1/moderation") => route.ends_with("/approve"),
        // a deleted file may be a watch's photo
        "/api/v1/files/{uid}" => *method == Method::DELETE,
        // a watch names the member who added it
        _ if under("/api/v1/admin/users") => true,
        "/api/v1/users/me" => *method == Method::DELETE,
        _ => false,
    };
    everything.then_some(CatalogChange::Everything)
}

/// Renews the answers a successful write changed, here and on every other process.
pub async fn invalidate_on_write(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let change = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| catalog_change(request.method(), route.as_str(), request.uri().path()));
    let response = next.run(request).await;
    if let Some(change) = change
        && response.status().is_success()
    {
        state.catalog_cache.changed(change);
        state.bus.publish(Notice::CatalogChanged { of: change });
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Answer<'static> = Answer::List("watches?q=a");

    /// A cache that hears every write, as with a working bus.
    fn following(ttl: Duration) -> CatalogCache {
        let cache = CatalogCache::new(ttl, 1 << 20);
        cache.resync();
        cache
    }

    #[test]
    fn answers_expire_with_a_newer_version() {
        let cache = following(Duration::from_secs(60));
        let versions = cache.versions(A);
        cache.put(A, versions, Bytes::from_static(b"old"));
        assert_eq!(cache.get(A).as_deref(), Some(&b"old"[..]));
        cache.invalidate();
        assert_eq!(cache.get(A), None);
        // rendered before the write, stored after it: not kept
        cache.put(A, versions, Bytes::from_static(b"stale"));
        assert_eq!(cache.get(A), None);
    }

    #[tokio::test]
    async fn concurrent_misses_render_once() {
        let cache = Arc::new(following(Duration::from_secs(60)));
        let renders = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = cache.clone();
            let renders = renders.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_render(Answer::List("k"), async {
                        renders.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(Bytes::from_static(b"answer"))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), Bytes::from_static(b"answer"));
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(cache.renders.is_empty());
    }

    #[test]
    fn answers_expire_with_time() {
        let cache = following(Duration::from_millis(20));
        cache.put(A, cache.versions(A), Bytes::from_static(b"x"));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get(A), None);
        let off = following(Duration::ZERO);
        off.put(A, off.versions(A), Bytes::from_static(b"x"));
        assert_eq!(off.get(A), None);
    }

    #[test]
    fn memory_is_bounded_in_bytes() {
        let cache = following(Duration::from_secs(60));
        let body = Bytes::from(vec![b'x'; 1024]);
        for n in 0..10_000 {
            let key = format!("watches?year_from=-{n}");
            let answer = Answer::List(&key);
            cache.put(answer, cache.versions(answer), body.clone());
        }
        cache.run_maintenance();
        assert!(
            cache.weighed_bytes() <= 1 << 20,
            "{}",
            cache.weighed_bytes()
        );
        assert!(cache.entries.entry_count() > 100);
    }

    #[test]
    fn maintenance_drops_expired_answers() {
        let cache = following(Duration::from_millis(20));
        for n in 0..100 {
            let answer = Answer::Watch(n);
            cache.put(answer, cache.versions(answer), Bytes::from_static(b"x"));
        }
        cache.run_maintenance();
        assert_eq!(cache.entries.entry_count(), 100);
        std::thread::sleep(Duration::from_millis(30));
        cache.run_maintenance();
        assert_eq!(cache.entries.entry_count(), 0);
        assert_eq!(cache.weighed_bytes(), 0);
    }

    #[test]
    fn nothing_is_served_while_writes_elsewhere_can_be_missed() {
        let cache = CatalogCache::new(Duration::from_secs(60), 1 << 20);
        cache.put(A, cache.versions(A), Bytes::from_static(b"x"));
        assert_eq!(cache.get(A), None, "before the first subscription");
        cache.heard(&Notice::Resync);
        cache.put(A, cache.versions(A), Bytes::from_static(b"x"));
        assert_eq!(cache.get(A).as_deref(), Some(&b"x"[..]));
        cache.heard(&Notice::CatalogChanged {
            of: CatalogChange::Everything,
        });
        assert_eq!(cache.get(A), None, "another process wrote");
        cache.put(A, cache.versions(A), Bytes::from_static(b"y"));
        cache.link_lost();
        assert_eq!(cache.get(A), None, "the link is down");
        cache.put(A, cache.versions(A), Bytes::from_static(b"z"));
        cache.heard(&Notice::Resync);
        assert_eq!(cache.get(A), None, "emptied when the link came back");
    }

    #[test]
    fn a_watch_change_renews_its_answer_and_every_list_and_no_other_watch() {
        let cache = following(Duration::from_secs(60));
        let answers = [
            A,
            Answer::List("watches?q=b"),
            Answer::Watch(7),
            Answer::Watch(8),
            Answer::Watch(7 + WATCH_VERSIONS as i64 - 1),
        ];
        let mut rendered = Vec::new();
        for answer in answers {
            rendered.push(cache.versions(answer));
            cache.put(answer, cache.versions(answer), Bytes::from_static(b"x"));
        }
        cache.changed(CatalogChange::Watch(7));
        let kept: Vec<bool> = answers.map(|answer| cache.get(answer).is_some()).into();
        assert_eq!(kept, [false, false, false, true, true]);
        // rendered before the change, stored after it: not kept
        cache.put(answers[2], rendered[2], Bytes::from_static(b"stale"));
        assert_eq!(cache.get(answers[2]), None);

        cache.put(
            answers[2],
            cache.versions(answers[2]),
            Bytes::from_static(b"y"),
        );
        cache.put(A, cache.versions(A), Bytes::from_static(b"y"));
        cache.changed(CatalogChange::Lists);
        assert_eq!(cache.get(A), None, "a new watch may be on any list");
        assert_eq!(cache.get(answers[2]).as_deref(), Some(&b"y"[..]));
        cache.heard(&Notice::CatalogChanged {
            of: CatalogChange::Watch(-(WATCH_VERSIONS as i64) + 7),
        });
        assert_eq!(
            cache.get(answers[2]),
            None,
            "a negative id shares a version"
        );
        assert!(cache.get(answers[3]).is_some());
    }

    #[test]
    fn only_writes_that_can_change_an_answer_renew_answers() {
        let everything = Some(CatalogChange::Everything);
        for (method, route, path, change) in [
            (
                Method::POST,
                "/api/v1/watches",
                "/api/v1/watches",
                Some(CatalogChange::Lists),
            ),
            (
                Method::PUT,
                "/api/v1/watches/{id}/images/{side}",
                "/api/v1/watches/12/images/front",
                Some(CatalogChange::Watch(12)),
            ),
            (
                Method::PATCH,
                "/api/v1/watches/{id}",
                "/api/v1/watches/-3",
                Some(CatalogChange::Watch(-3)),
            ),
            (
                Method::DELETE,
                "/api/v1/watches/{id}",
                "/api/v1/watches/x",
                everything,
            ),
            (
                Method::PATCH,
                "/api/v1/{reference}/{id}",
                "/api/v1/brands/1",
                everything,
            ),
            (
                Method::POST,
                "/api/v1/mechanisms",
                "/api/v1/mechanisms",
                everything,
            ),
            (
                Method::POST,
                "/api/v1/moderation/drafts/{kind}/{id}/approve",
                "/api/v1/moderation/drafts/watch/4/approve",
                everything,
            ),
            (
                Method::DELETE,
                "/api/v1/files/{uid}",
                "/api/v1/files/u",
                everything,
            ),
            (
                Method::PATCH,
                "/api/v1/admin/users/{id}",
                "/api/v1/admin/users/2",
                everything,
            ),
            (
                Method::DELETE,
                "/api/v1/users/me",
                "/api/v1/users/me",
                everything,
            ),
            (Method::GET, "/api/v1/watches", "/api/v1/watches", None),
            (
                Method::GET,
                "/api/v1/watches/{id}",
                "/api/v1/watches/1",
                None,
            ),
            (
                Method::POST,
                "/api/v1/auth/login",
                "/api/v1/auth/login",
                None,
            ),
            (
                Method::PUT,
                "/api/v1/users/me/collection/{watch_id}",
                "/api/v1/users/me/collection/1",
                None,
            ),
            (
                Method::POST,
                "/api/v1/drafts/watches",
                "/api/v1/drafts/watches",
                None,
            ),
            (
                Method::POST,
                "/api/v1/moderation/drafts/{kind}/{id}/reject",
                "/api/v1/moderation/drafts/watch/4/reject",
                None,
            ),
            (
                Method::PUT,
                "/api/v1/files/stream",
                "/api/v1/files/stream",
                None,
            ),
            (Method::POST, "/api/v1/files", "/api/v1/files", None),
            (
                Method::POST,
                "/api/v1/files/{uid}/link",
                "/api/v1/files/u/link",
                None,
            ),
            (Method::PATCH, "/api/v1/users/me", "/api/v1/users/me", None),
            (
                Method::POST,
                "/api/v1/watchesque",
                "/api/v1/watchesque",
                None,
            ),
            (
                Method::POST,
                "/api/v1/chats/{id}/messages",
                "/api/v1/chats/1/messages",
                None,
            ),
        ] {
            assert_eq!(
                catalog_change(&method, route, path),
                change,
                "{method} {path}"
            );
        }
    }
}
