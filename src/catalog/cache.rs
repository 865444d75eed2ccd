//! Rendered catalog answers kept in memory. Catalog reads far outnumber writes, so every
//! successful write through the API moves the catalog to a new version and answers
//! rendered under an older version are not served again. Writes this process does not
//! see (another instance, an import) are bounded by a short lifetime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;

use crate::state::AppState;

/// Beyond this many answers the cache starts over, bounding its memory.
const MAX_ENTRIES: usize = 50_000;

pub struct CatalogCache {
    version: AtomicU64,
    entries: DashMap<String, Entry>,
    ttl: Duration,
}

struct Entry {
    version: u64,
    stored: Instant,
    body: Bytes,
}

impl CatalogCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            version: AtomicU64::new(0),
            entries: DashMap::new(),
            ttl,
        }
    }

    /// Read before rendering; pass to `put`, so that an answer rendered while a write
    /// happened is never kept under the new version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let entry = self.entries.get(key)?;
        (entry.version == self.version() && entry.stored.elapsed() < self.ttl)
            .then(|| entry.body.clone())
    }

    pub fn put(&self, key: String, version: u64, body: Bytes) {
        if self.ttl.is_zero() || version != self.version() {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(
            key,
            Entry {
                version,
                stored: Instant::now(),
                body,
            },
        );
    }

    pub fn invalidate(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

/// Invalidates the cache after every successful write.
pub async fn invalidate_on_write(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        state.catalog_cache.invalidate();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_with_a_newer_version() {
        let cache = CatalogCache::new(Duration::from_secs(60));
        let version = cache.version();
        cache.put("a".into(), version, Bytes::from_static(b"old"));
        assert_eq!(cache.get("a").as_deref(), Some(&b"old"[..]));
        cache.invalidate();
        assert_eq!(cache.get("a"), None);
        // rendered before the write, stored after it: not kept
        cache.put("a".into(), version, Bytes::from_static(b"stale"));
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn answers_expire_with_time() {
        let cache = CatalogCache::new(Duration::from_millis(20));
        cache.put("a".into(), cache.version(), Bytes::from_static(b"x"));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get("a"), None);
        let off = CatalogCache::new(Duration::ZERO);
        off.put("a".into(), off.version(), Bytes::from_static(b"x"));
        assert_eq!(off.get("a"), None);
    }
}
