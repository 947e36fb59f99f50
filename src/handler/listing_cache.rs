//! Rendered listings, kept for the open-file cache's revalidation interval: a
//! busy folder is read and rendered at most once a second per sort order and
//! format, and a folder whose identity (inode, mtime, ctime) changed is read
//! again at once. Bounded by the bytes of the pages held.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;

use super::listing::Summary;
use crate::files::FileIdentity;
use crate::metrics::{CacheCounters, CacheFigures};

/// Bytes of rendered pages held at most.
pub const MAX_BYTES: usize = 16 << 20;

/// What a page depends on besides the folder: sort order and format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The root's [`Root::id`](crate::files::Root::id): sites sharing the
    /// cache may list one folder with different options.
    pub root: u64,
    /// The folder, relative to the root.
    pub dir: PathBuf,
    /// Sort column and order, as the query gave them.
    pub sort: (u8, bool),
    /// JSON rather than HTML.
    pub json: bool,
}

/// A rendered listing: the page (HTML with its nonce placeholders, or JSON),
/// its validator, and its counts.
#[derive(Debug)]
pub struct Listed {
    /// The page as rendered.
    pub body: Bytes,
    /// Where the nonce goes in `body` (empty for JSON).
    pub nonce_at: Vec<usize>,
    /// A weak ETag of the rendered page: the bytes sent differ in their nonce,
    /// the content does not (RFC 9110 §8.8.1).
    pub etag: HeaderValue,
    /// Folders, files and bytes listed.
    pub summary: Summary,
}

impl Listed {
    /// `body` with its validator, computed from its bytes.
    pub fn new(body: Bytes, nonce_at: Vec<usize>, summary: Summary) -> Listed {
        let hash = xxhash_rust::xxh3::xxh3_64(&body);
        let etag = HeaderValue::from_str(&format!("W/\"l{hash:016x}\""))
            .unwrap_or(HeaderValue::from_static("W/\"l\""));
        Listed {
            body,
            nonce_at,
            etag,
            summary,
        }
    }
}

#[derive(Debug)]
struct Page {
    at: Instant,
    identity: FileIdentity,
    listed: Arc<Listed>,
}

/// The cache of rendered listings.
#[derive(Debug)]
pub struct ListingCache {
    pages: Mutex<(HashMap<PageKey, Page>, usize)>,
    max_age: Duration,
    max_bytes: usize,
    counters: CacheCounters,
}

impl ListingCache {
    /// A cache trusting a page for `max_age`, holding at most `max_bytes`.
    pub fn new(max_age: Duration, max_bytes: usize) -> ListingCache {
        ListingCache {
            pages: Mutex::new((HashMap::new(), 0)),
            max_age,
            max_bytes,
            counters: CacheCounters::default(),
        }
    }

    /// The page for `key` if it is young enough and the folder is unchanged.
    pub fn get(&self, key: &PageKey, identity: FileIdentity) -> Option<Arc<Listed>> {
        let found = self.peek(key, identity);
        if found.is_none() {
            self.counters.misses.inc();
        }
        found
    }

    /// [`ListingCache::get`] for a first try that a `get` follows when it
    /// fails: a miss here is not counted, so one request counts one.
    pub fn peek(&self, key: &PageKey, identity: FileIdentity) -> Option<Arc<Listed>> {
        let pages = self.pages.lock().ok()?;
        let found = pages
            .0
            .get(key)
            .filter(|page| page.identity == identity && page.at.elapsed() < self.max_age)
            .map(|page| page.listed.clone());
        if found.is_some() {
            self.counters.hits.inc();
        }
        found
    }

    /// Keeps a page, evicting others to stay within the byte bound.
    pub fn insert(&self, key: PageKey, identity: FileIdentity, listed: Arc<Listed>) {
        let len = listed.body.len();
        if len > self.max_bytes / 4 {
            return;
        }
        let Ok(mut pages) = self.pages.lock() else {
            return;
        };
        let (map, held) = &mut *pages;
        if let Some(old) = map.remove(&key) {
            *held -= old.listed.body.len();
        }
        while *held + len > self.max_bytes {
            let Some(victim) = map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = map.remove(&victim) {
                *held -= old.listed.body.len();
            }
        }
        *held += len;
        map.insert(
            key,
            Page {
                at: Instant::now(),
                identity,
                listed,
            },
        );
    }

    /// Drops every page of the root numbered `root`.
    pub fn forget_root(&self, root: u64) {
        if let Ok(mut pages) = self.pages.lock() {
            let (map, held) = &mut *pages;
            map.retain(|key, page| {
                let keep = key.root != root;
                if !keep {
                    *held -= page.listed.body.len();
                }
                keep
            });
        }
    }

    /// Bytes held.
    pub fn bytes_held(&self) -> usize {
        self.pages.lock().map_or(0, |p| p.1)
    }

    /// Hits, misses and bytes held, for the metrics.
    pub fn figures(&self) -> CacheFigures {
        self.counters.figures(self.bytes_held())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> FileIdentity {
        FileIdentity::of(&std::fs::metadata(".").unwrap())
    }

    fn page(len: usize) -> Arc<Listed> {
        Arc::new(Listed::new(
            Bytes::from(vec![0; len]),
            Vec::new(),
            Summary::default(),
        ))
    }

    fn key(n: u8) -> PageKey {
        PageKey {
            root: 1,
            dir: PathBuf::from(format!("d{n}")),
            sort: (0, false),
            json: false,
        }
    }

    #[test]
    fn pages_expire_and_the_bound_holds() {
        let cache = ListingCache::new(Duration::from_millis(50), 1000);
        cache.insert(key(0), identity(), page(200));
        assert!(cache.get(&key(0), identity()).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            cache.get(&key(0), identity()).is_none(),
            "expired page served"
        );
        for n in 0..20 {
            cache.insert(key(n), identity(), page(200));
            assert!(cache.bytes_held() <= 1000);
        }
        cache.insert(key(99), identity(), page(600));
        assert!(
            cache.get(&key(99), identity()).is_none(),
            "a page over a quarter of the bound was kept"
        );
    }
}
