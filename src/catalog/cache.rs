//! Rendered catalog answers kept in memory. Catalog reads far outnumber writes, so every
//! successful write through the API moves the catalog to a new version and answers
//! rendered under an older version are not served again. The write is announced on the
//! bus (`catalog_changed`), and other processes move their catalog to a new version when
//! they hear of it; they serve answers from memory only while the bus's subscription is
//! up (see `crate::bus::Follower`). Writes nobody announces (an import run apart from the
//! server) are bounded by a short lifetime.

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

use crate::bus::{Follower, Notice};
use crate::error::AppResult;
use crate::state::AppState;

/// What an entry costs besides its key and body (the cache's own bookkeeping), so that
/// many tiny answers are bounded too.
const ENTRY_OVERHEAD_BYTES: usize = 256;

pub struct CatalogCache {
    version: AtomicU64,
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
    version: u64,
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
            version: AtomicU64::new(0),
            trusted: AtomicBool::new(false),
            entries,
            renders: DashMap::new(),
            ttl,
        }
    }

    /// Read before rendering; pass to `put`, so that an answer rendered while a write
    /// happened is never kept under the new version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries.get(key)?;
        (entry.version == self.version()).then_some(entry.body)
    }

    pub fn put(&self, key: String, version: u64, body: Bytes) {
        if self.ttl.is_zero() || version != self.version() || !self.trusted.load(Ordering::Acquire)
        {
            return;
        }
        // a copy of exactly its length: a rendered answer's buffer grew by doubling, and
        // its spare room (up to as much again) would be held without being weighed
        let body = Bytes::copy_from_slice(&body);
        self.entries.insert(key, Entry { version, body });
    }

    /// The cached answer for `key`, or the one `render` makes, rendered once however many
    /// requests ask for it at the same moment (no stampede when an answer expires).
    pub async fn get_or_render<F>(&self, key: &str, render: F) -> AppResult<Bytes>
    where
        F: Future<Output = AppResult<Bytes>>,
    {
        if self.ttl.is_zero() {
            return render.await;
        }
        if let Some(body) = self.get(key) {
            return Ok(body);
        }
        let gate = self.renders.entry(key.to_owned()).or_default().clone();
        let rendered = {
            let _turn = gate.lock().await;
            match self.get(key) {
                Some(body) => Ok(body),
                None => {
                    let version = self.version();
                    let result = render.await;
                    if let Ok(body) = &result {
                        self.put(key.to_owned(), version, body.clone());
                    }
                    result
                }
            }
        };
        // the map's reference and ours: nobody else is waiting for this render
        self.renders
            .remove_if(key, |_, gate| Arc::strong_count(gate) <= 2);
        rendered
    }

    pub fn invalidate(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
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
            Notice::CatalogChanged => self.invalidate(),
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

/// Routes whose writes can change a cached answer: the catalog's own, files (a watch's
/// photo), and account deletion (a watch names the member who added it). Sign-ins,
/// collections, drafts before approval and every other write leave the answers alone.
const CATALOG_WRITE_ROUTES: [&str; 6] = [
    // brands, factories, case materials, genders, mechanism types, functions
    "/api/v1/{reference}",
    "/api/v1/mechanisms",
    "/api/v1/watches",
    "/api/v1/moderation",
    "/api/v1/files",
    "/api/v1/admin/users",
];

fn changes_catalog(method: &Method, route: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let under = |prefix: &str| {
        route
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    CATALOG_WRITE_ROUTES.into_iter().any(under)
        || (*method == Method::DELETE && route == "/api/v1/users/me")
}

/// Invalidates the cache after every successful write that can change an answer.
pub async fn invalidate_on_write(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let writes = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| changes_catalog(request.method(), route.as_str()));
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        state.catalog_cache.invalidate();
        state.bus.publish(Notice::CatalogChanged);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache that hears every write, as with a working bus.
    fn following(ttl: Duration) -> CatalogCache {
        let cache = CatalogCache::new(ttl, 1 << 20);
        cache.resync();
        cache
    }

    #[test]
    fn answers_expire_with_a_newer_version() {
        let cache = following(Duration::from_secs(60));
        let version = cache.version();
        cache.put("a".into(), version, Bytes::from_static(b"old"));
        assert_eq!(cache.get("a").as_deref(), Some(&b"old"[..]));
        cache.invalidate();
        assert_eq!(cache.get("a"), None);
        // rendered before the write, stored after it: not kept
        cache.put("a".into(), version, Bytes::from_static(b"stale"));
        assert_eq!(cache.get("a"), None);
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
                    .get_or_render("k", async {
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
        cache.put("a".into(), cache.version(), Bytes::from_static(b"x"));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get("a"), None);
        let off = following(Duration::ZERO);
        off.put("a".into(), off.version(), Bytes::from_static(b"x"));
        assert_eq!(off.get("a"), None);
    }

    #[test]
    fn memory_is_bounded_in_bytes() {
        let cache = following(Duration::from_secs(60));
        let body = Bytes::from(vec![b'x'; 1024]);
        for n in 0..10_000 {
            cache.put(
                format!("watches?year_from=-{n}"),
                cache.version(),
                body.clone(),
            );
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
            cache.put(
                format!("watch:{n}"),
                cache.version(),
                Bytes::from_static(b"x"),
            );
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
        cache.put("a".into(), cache.version(), Bytes::from_static(b"x"));
        assert_eq!(cache.get("a"), None, "before the first subscription");
        cache.heard(&Notice::Resync);
        let version = cache.version();
        cache.put("a".into(), version, Bytes::from_static(b"x"));
        assert_eq!(cache.get("a").as_deref(), Some(&b"x"[..]));
        cache.heard(&Notice::CatalogChanged);
        assert_eq!(cache.get("a"), None, "another process wrote");
        cache.put("a".into(), cache.version(), Bytes::from_static(b"y"));
        cache.link_lost();
        assert_eq!(cache.get("a"), None, "the link is down");
        cache.put("a".into(), cache.version(), Bytes::from_static(b"z"));
        cache.heard(&Notice::Resync);
        assert_eq!(cache.get("a"), None, "emptied when the link came back");
    }

    #[test]
    fn only_writes_that_can_change_an_answer_invalidate() {
        for (method, route) in [
            (Method::POST, "/api/v1/watches"),
            (Method::PUT, "/api/v1/watches/{id}/images/{side}"),
            (Method::PATCH, "/api/v1/{reference}/{id}"),
            (Method::POST, "/api/v1/mechanisms"),
            (
                Method::POST,
                "/api/v1/moderation/drafts/{kind}/{id}/approve",
            ),
            (Method::DELETE, "/api/v1/files/{uid}"),
            (Method::DELETE, "/api/v1/users/me"),
        ] {
            assert!(changes_catalog(&method, route), "{method} {route}");
        }
        for (method, route) in [
            (Method::GET, "/api/v1/watches"),
            (Method::POST, "/api/v1/auth/login"),
            (Method::PUT, "/api/v1/users/me/collection/{watch_id}"),
            (Method::POST, "/api/v1/drafts/watches"),
            (Method::PATCH, "/api/v1/users/me"),
            (Method::POST, "/api/v1/watchesque"),
        ] {
            assert!(!changes_catalog(&method, route), "{method} {route}");
        }
    }
}
