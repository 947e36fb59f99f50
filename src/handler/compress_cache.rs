//! The compressed-response cache: the complete on-the-fly output for a file, kept
//! in memory so the next request for it is a plain `Body::Bytes` with an exact
//! Content-Length and no CPU spent. Entries are keyed by what identifies one
//! version of one file in one coding, evicted least recently used first, and
//! held under a byte bound that is never exceeded, not even for a moment:
//! room is made before an entry goes in, and an entry that could not fit is
//! refused.

use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::codec::Encoding;
use crate::files::FileIdentity;
use crate::metrics::{CacheCounters, CacheFigures};

/// Default bound on the bytes the cache holds (`--compress-cache-size`):
/// enough for the compressed text assets of a large site (a 2 MiB JavaScript
/// bundle is about 500 KiB in brotli), small beside a server's memory.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// An entry may take at most this fraction of the bound (1/8): one huge file
/// must not flush everything else, and the compressing stream, which collects
/// its output to hand it over here, never collects more than this.
pub const ENTRY_FRACTION: usize = 8;

/// Bytes charged per entry on top of its body and path: the map slot, the key,
/// the recency index. Charging it keeps the bound honest when entries are many
/// and tiny.
pub const ENTRY_OVERHEAD: usize = 160;

/// One version of one file in one coding. Besides the path it holds the
/// metadata a change of content changes: size, modification time to the
/// nanosecond, inode and device (a replacement by rename), and the change time,
/// the one time a writer cannot set, so a file rewritten in place with its size
/// and mtime kept (`cp -p`, reproducible builds) is not served from old bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    path: PathBuf,
    encoding: Encoding,
    file: FileIdentity,
}

impl CacheKey {
    /// The key for `path` (as the handler names it, relative to the root) with
    /// the metadata of its open file, in `encoding`.
    pub fn new(path: impl Into<PathBuf>, meta: &Metadata, encoding: Encoding) -> CacheKey {
        CacheKey {
            path: path.into(),
            encoding,
            file: FileIdentity::of(meta),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The coding of the cached bytes.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The uncompressed size of the file.
    pub fn size(&self) -> u64 {
        self.file.size()
    }

    /// Whether `meta` still describes the version this key names: checked after
    /// compressing, so output read from a file that changed meanwhile is not
    /// cached.
    pub fn matches(&self, meta: &Metadata) -> bool {
        self.file == FileIdentity::of(meta)
    }

    /// What an entry under this key is charged, besides its body.
    fn overhead(&self) -> usize {
        ENTRY_OVERHEAD + self.path.as_os_str().len()
    }
}

/// A bounded, thread-safe LRU cache of compressed bodies.
#[derive(Debug)]
pub struct CompressCache {
    bound: usize,
    max_entry: usize,
    inner: Mutex<Inner>,
    counters: CacheCounters,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Arc<CacheKey>, Slot>,
    /// Recency: the smallest tick is the least recently used entry.
    order: BTreeMap<u64, Arc<CacheKey>>,
    held: usize,
    tick: u64,
}

#[derive(Debug)]
struct Slot {
    bytes: Bytes,
    tick: u64,
    charge: usize,
}

impl CompressCache {
    /// A cache holding at most `bound` bytes (bodies plus per-entry overhead);
    /// 0 disables it.
    pub fn new(bound: usize) -> CompressCache {
        CompressCache {
            bound,
            max_entry: bound / ENTRY_FRACTION,
            inner: Mutex::new(Inner::default()),
            counters: CacheCounters::default(),
        }
    }

    /// The bound on [`bytes_held`](Self::bytes_held).
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// The largest body accepted (overhead included): 1/[`ENTRY_FRACTION`] of
    /// the bound. A producer can stop collecting output once past it.
    pub fn max_entry(&self) -> usize {
        self.max_entry
    }

    /// Whether a body of `len` bytes under `key` would be accepted.
    pub fn admits(&self, key: &CacheKey, len: usize) -> bool {
        len.saturating_add(key.overhead()) <= self.max_entry
    }

    /// The body under `key`, marked as the most recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Bytes> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(slot) = inner.map.get_mut(key) else {
            self.counters.misses.inc();
            return None;
        };
        self.counters.hits.inc();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(k) = inner.order.remove(&slot.tick) {
            inner.order.insert(tick, k);
        }
        slot.tick = tick;
        Some(slot.bytes.clone())
    }

    /// Keeps `bytes` under `key`, evicting the least recently used entries to
    /// make room. Returns false when the entry is refused: bigger than
    /// [`max_entry`](Self::max_entry). The bytes are charged at their length:
    /// pass a buffer of its own, not a slice of a larger one, or the memory
    /// really held is more than counted.
    pub fn insert(&self, key: CacheKey, bytes: Bytes) -> bool {
        if !self.admits(&key, bytes.len()) {
            return false;
        }
        let charge = bytes.len() + key.overhead();
        let mut inner = self.lock();
        let inner = &mut *inner;
        // A newer body for the same key replaces the old one.
        if let Some(old) = inner.map.remove(&key) {
            inner.order.remove(&old.tick);
            inner.held -= old.charge;
        }
        while inner.held + charge > self.bound {
            let Some((_, victim)) = inner.order.pop_first() else {
                // Nothing left to evict and still no room: cannot happen while
                // max_entry <= bound, but refuse rather than overshoot.
                return false;
            };
            if let Some(old) = inner.map.remove(&victim) {
                inner.held -= old.charge;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        let key = Arc::new(key);
        inner.order.insert(tick, key.clone());
        inner.map.insert(
            key,
            Slot {
                bytes,
                tick,
                charge,
            },
        );
        inner.held += charge;
        true
    }

    /// Bytes charged for the entries held: never more than the bound.
    pub fn bytes_held(&self) -> usize {
        self.lock().held
    }

    /// Hits, misses and bytes held, for the metrics.
    pub fn figures(&self) -> CacheFigures {
        self.counters.figures(self.bytes_held())
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code panics while holding the lock, and every update leaves the
        // map, the order and the count consistent: a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary's own metadata: a file nobody changes while it runs.
    fn meta() -> Metadata {
        std::fs::metadata(std::env::current_exe().unwrap()).unwrap()
    }

    fn key(name: &str) -> CacheKey {
        CacheKey::new(name, &meta(), Encoding::Br)
    }

    fn body(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn hit_and_miss() {
        let cache = CompressCache::new(1 << 20);
        assert!(cache.get(&key("a.js")).is_none());
        assert!(cache.insert(key("a.js"), Bytes::from_static(b"compressed")));
        assert_eq!(cache.get(&key("a.js")).unwrap(), &b"compressed"[..]);
        // Another coding, another path, another version: all misses.
        assert!(cache
            .get(&CacheKey::new("a.js", &meta(), Encoding::Gzip))
            .is_none());
        assert!(cache.get(&key("b.js")).is_none());
        let changed = CacheKey::new(
            "a.js",
            &std::fs::metadata("/").unwrap(),
            key("a.js").encoding(),
        );
        assert!(cache.get(&changed).is_none());
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes_held(), 10 + key("a.js").overhead());
    }

    #[test]
    fn key_matches_its_own_metadata_only() {
        let k = key("a.js");
        assert!(k.matches(&meta()));
        let other = std::fs::metadata("/").unwrap();
        assert!(!k.matches(&other));
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let entry = 1000;
        let charge = entry + key("a").overhead();
        // Room for exactly three entries; max_entry = bound / 8 must admit one.
        let cache = CompressCache::new(charge * 3 + charge / 2);
        assert!(cache.max_entry() < charge, "test set-up: adjust sizes");
        let cache = CompressCache {
            max_entry: charge,
            ..cache
        };
        for name in ["a", "b", "c"] {
            assert!(cache.insert(key(name), body(entry)));
        }
        // Touch "a": "b" is now the least recently used.
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.insert(key("d"), body(entry)));
        assert!(cache.get(&key("b")).is_none(), "b was least recently used");
        for name in ["a", "c", "d"] {
            assert!(cache.get(&key(name)).is_some(), "{name} kept");
        }
        // Now "a" is oldest again (c, d were touched after it).
        assert!(cache.insert(key("e"), body(entry)));
        assert!(cache.get(&key("a")).is_none());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn bound_never_exceeded() {
        let bound = 64 * 1024;
        let cache = CompressCache::new(bound);
        let mut seed = 12345u64;
        for i in 0..2000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let len = (seed >> 33) as usize % (cache.max_entry() + 500);
            let name = format!("file-{}.js", i % 300);
            cache.insert(key(&name), body(len));
            assert!(
                cache.bytes_held() <= bound,
                "held {} > bound {bound} after insert {i}",
                cache.bytes_held()
            );
            if i % 3 == 0 {
                cache.get(&key(&format!("file-{}.js", (i * 7) % 300)));
            }
        }
        assert!(!cache.is_empty());
        // The count matches what is really there.
        let inner = cache.lock();
        let sum: usize = inner.map.values().map(|s| s.charge).sum();
        assert_eq!(sum, inner.held);
        assert_eq!(inner.map.len(), inner.order.len());
    }

    #[test]
    fn oversize_entries_refused() {
        let cache = CompressCache::new(8000);
        let k = key("big.js");
        let limit = cache.max_entry() - k.overhead();
        assert!(!cache.insert(k.clone(), body(limit + 1)));
        assert!(cache.is_empty());
        assert!(cache.insert(k.clone(), body(limit)));
        assert_eq!(cache.bytes_held(), cache.max_entry());
        // Disabled cache: nothing fits.
        let off = CompressCache::new(0);
        assert!(!off.insert(key("a"), body(1)));
        assert!(!off.insert(key("a"), Bytes::new()));
        assert_eq!(off.bytes_held(), 0);
    }

    #[test]
    fn replacing_a_key_recounts() {
        let cache = CompressCache::new(1 << 20);
        cache.insert(key("a"), body(100));
        cache.insert(key("a"), body(300));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes_held(), 300 + key("a").overhead());
        assert_eq!(cache.get(&key("a")).unwrap().len(), 300);
    }
}
