//! Small local blobs kept in memory. A popular small file is then answered without a trip
//! to the blocking pool and without mapping and unmapping it for every request, and all
//! the answers in flight share one copy of its bytes.
//!
//! Entries are keyed by the storage key and the content's hash, so a key written again
//! with other bytes is never answered from an older copy.

use bytes::Bytes;

/// Blobs up to this size are kept.
pub const SMALL_BLOB_MAX: u64 = 1024 * 1024;
/// Bytes all kept blobs may hold together.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// What an entry costs besides its bytes, so that many tiny blobs are bounded too.
const ENTRY_OVERHEAD_BYTES: usize = 256;

pub struct SmallBlobs {
    entries: moka::sync::Cache<String, Bytes>,
}

impl Default for SmallBlobs {
    fn default() -> Self {
        Self::with_capacity(CACHE_BYTES)
    }
}

impl SmallBlobs {
    fn with_capacity(max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, bytes: &Bytes| {
                let weight = key.len() + bytes.len() + ENTRY_OVERHEAD_BYTES;
                u32::try_from(weight).unwrap_or(u32::MAX)
            })
            .build();
        Self { entries }
    }

    pub fn get(&self, key: &str, sha256: &str) -> Option<Bytes> {
        self.entries.get(&entry_key(key, sha256))
    }

    /// Keeps `bytes` unless they are over `SMALL_BLOB_MAX`.
    pub fn insert(&self, key: &str, sha256: &str, bytes: Bytes) {
        if bytes.len() as u64 <= SMALL_BLOB_MAX {
            self.entries.insert(entry_key(key, sha256), bytes);
        }
    }

    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

fn entry_key(key: &str, sha256: &str) -> String {
    format!("{sha256}/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_found_by_its_key_and_hash_only() {
        let blobs = SmallBlobs::default();
        blobs.insert("a/b.png", "hash1", Bytes::from_static(b"first"));
        assert_eq!(
            blobs.get("a/b.png", "hash1"),
            Some(Bytes::from_static(b"first"))
        );
        assert_eq!(blobs.get("a/b.png", "hash2"), None);
        assert_eq!(blobs.get("a/c.png", "hash1"), None);
    }

    #[test]
    fn large_blobs_are_not_kept() {
        let blobs = SmallBlobs::default();
        let large = Bytes::from(vec![0u8; SMALL_BLOB_MAX as usize + 1]);
        blobs.insert("large", "hash", large);
        assert_eq!(blobs.get("large", "hash"), None);
        let largest = Bytes::from(vec![0u8; SMALL_BLOB_MAX as usize]);
        blobs.insert("largest", "hash", largest.clone());
        assert_eq!(blobs.get("largest", "hash"), Some(largest));
    }

    #[test]
    fn the_kept_bytes_stay_within_the_capacity() {
        let capacity = 3 * SMALL_BLOB_MAX;
        let blobs = SmallBlobs::with_capacity(capacity);
        for index in 0..10 {
            let bytes = Bytes::from(vec![index as u8; SMALL_BLOB_MAX as usize]);
            blobs.insert(&format!("blob{index}"), "hash", bytes);
            assert!(blobs.weight() <= capacity, "over capacity after {index}");
        }
    }
}
