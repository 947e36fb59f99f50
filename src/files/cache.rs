//! The open-file cache: for a path asked for again, the open descriptor, its
//! metadata, the bytes of a small file, and a payload the caller derives from
//! them (the handler's pre-built response headers), so a repeat request costs no
//! `open`, `fstat` or `close`, and a small file no read at all.
//!
//! An entry is trusted for [`CacheOptions::revalidate`] (a file served from its
//! descriptor is also `fstat`ed on every use); after that one `stat`
//! compares device, inode, size, mtime and ctime, and anything different (or an
//! error) drops the entry and opens the path again through the confined open.
//! The revalidating `stat` follows the path as the kernel resolves it, but its
//! result is only compared, never served: what is served always came from a
//! confined open.
//!
//! "Nothing there" is remembered for the same interval, so 404s and probes for
//! optional files (precompressed sidecars) cost no failed open.
//!
//! One cache may serve several roots (the sites of a server): entries are
//! keyed by the root's [`Root::id`] and the path, so two roots never collide.
//!
//! Bounded: at most `max_entries` entries and `max_bytes` of file contents;
//! past either, arbitrary entries are evicted (a hash map's iteration order is
//! as good as random here, and costs no bookkeeping per hit).

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Error, FileIdentity, Opened, Root};
use crate::metrics::{CacheCounters, CacheFigures};

/// Limits of the cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheOptions {
    /// Entries held at most (each may hold a descriptor).
    pub max_entries: usize,
    /// File contents held at most, in bytes.
    pub max_bytes: usize,
    /// Files up to this size are held in memory.
    pub max_file_bytes: u64,
    /// How long an entry is trusted before it is checked again.
    pub revalidate: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            max_entries: 10_000,
            max_bytes: 64 << 20,
            // A 64 KiB file leaves in one writev with its head. Measured against
            // sendfile for it (a 16 KiB limit): 1.11x nginx and 32.7 us of CPU per
            // request held in memory, 1.04x and 37.4 us through sendfile.
            max_file_bytes: 64 << 10,
            // A deploy is seen within a second, as with nginx's open_file_cache_valid 1s.
            revalidate: Duration::from_secs(1),
        }
    }
}

/// One cached regular file.
#[derive(Debug)]
pub struct Cached<T> {
    /// The open file (kept also when `contents` holds it all: compression and
    /// content hashing read from it).
    pub file: Arc<File>,
    /// Its metadata when opened.
    pub meta: Metadata,
    /// The whole file, for small files.
    pub contents: Option<Bytes>,
    /// What the caller derived from the file when it was opened.
    pub payload: T,
    /// When the entry was last found valid, in nanoseconds since the cache's
    /// epoch: an atomic rather than a lock, because every hit reads it, on
    /// every core, and a lock would move its cache line between them each time.
    checked: AtomicU64,
}

/// What a path turned out to be.
#[derive(Debug)]
pub enum Lookup<T> {
    /// A regular file, from the cache or freshly opened into it.
    File(Arc<Cached<T>>),
    /// A directory: not cached; the caller lists it or looks for an index.
    Dir(Opened),
}

/// The cache. `T` is the caller's payload.
#[derive(Debug)]
pub struct FileCache<T> {
    /// Read-locked by hits, which run in parallel; write-locked only to insert
    /// and remove.
    entries: RwLock<Entries<T>>,
    options: CacheOptions,
    /// What entries' check times count from.
    epoch: Instant,
    /// Hits and misses, for the metrics.
    counters: CacheCounters,
}

/// Keyed by the root's id and the path's bytes, with a fast seeded hash:
/// std's `Path` hash walks components and SipHash was most of a hit's cost.
/// The paths are normalised already, so byte equality is path equality.
#[derive(Debug)]
struct Entries<T> {
    map: HashMap<Box<[u8]>, Slot<T>, foldhash::fast::RandomState>,
    bytes: usize,
}

/// Paths up to this long are keyed in a buffer on the stack; longer ones (rare)
/// take one allocation per lookup.
const STACK_KEY: usize = 248;

/// The key of `rel` beneath the root numbered `root`: its id's eight bytes,
/// then the path's. Built on the stack, so a hit allocates nothing.
struct Key {
    stack: [u8; STACK_KEY + 8],
    heap: Vec<u8>,
    len: usize,
}

impl Key {
    fn new(root: u64, rel: &Path) -> Key {
        let path = rel.as_os_str().as_bytes();
        let mut key = Key {
            stack: [0; STACK_KEY + 8],
            heap: Vec::new(),
            len: path.len() + 8,
        };
        match key.stack.get_mut(8..8 + path.len()) {
            Some(tail) => {
                tail.copy_from_slice(path);
                key.stack[..8].copy_from_slice(&root.to_le_bytes());
            }
            None => {
                key.heap.extend_from_slice(&root.to_le_bytes());
                key.heap.extend_from_slice(path);
            }
        }
        key
    }

    fn bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            self.stack.get(..self.len).unwrap_or_default()
        } else {
            &self.heap
        }
    }
}

/// A path's cached outcome: a file, or nothing there (so that 404s and probes
/// for optional files, such as precompressed sidecars, cost no failed open).
#[derive(Debug)]
enum Slot<T> {
    Found(Arc<Cached<T>>),
    /// Since when, on the cache's clock ([`FileCache::now`]).
    Missing(u64),
}

impl<T> Slot<T> {
    fn bytes(&self) -> usize {
        match self {
            Slot::Found(entry) => entry.contents.as_ref().map_or(0, Bytes::len),
            Slot::Missing(_) => 0,
        }
    }
}

impl<T: Send + Sync> FileCache<T> {
    /// An empty cache.
    pub fn new(options: CacheOptions) -> FileCache<T> {
        FileCache {
            entries: RwLock::new(Entries {
                map: HashMap::default(),
                bytes: 0,
            }),
            options,
            epoch: Instant::now(),
            counters: CacheCounters::default(),
        }
    }

    /// Hits, misses and bytes held, for the metrics.
    pub fn figures(&self) -> CacheFigures {
        self.counters.figures(self.bytes_held())
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.map.len())
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of file contents held.
    pub fn bytes_held(&self) -> usize {
        self.entries.read().map_or(0, |e| e.bytes)
    }

    /// The file at `rel` beneath `root`: from the cache when still valid, else
    /// opened (confined), with `prepare` deriving the payload.
    pub fn lookup(
        &self,
        root: &Root,
        rel: &Path,
        prepare: impl FnOnce(&Metadata, Option<&Bytes>) -> T,
    ) -> Result<Lookup<T>, Error> {
        let hit = self.entries.read().ok().and_then(|e| {
            match e.map.get(Key::new(root.id(), rel).bytes()) {
                Some(Slot::Found(entry)) => Some(Ok(entry.clone())),
                Some(Slot::Missing(since)) => Some(Err(*since)),
                None => None,
            }
        });
        match hit {
            Some(Ok(entry)) if self.still_valid(root, rel, &entry) => {
                self.counters.hits.inc();
                return Ok(Lookup::File(entry));
            }
            Some(Err(since)) if self.trusted_since(since) => {
                self.counters.hits.inc();
                return Err(Error::NotFound);
            }
            Some(_) => self.remove(root, rel),
            None => {}
        }
        self.counters.misses.inc();
        let opened = match root.open_file(rel) {
            Err(Error::NotFound) => {
                self.insert(root, rel, Slot::Missing(self.now()));
                return Err(Error::NotFound);
            }
            other => other?,
        };
        if opened.meta.is_dir() {
            return Ok(Lookup::Dir(opened));
        }
        let Opened { file, meta } = opened;
        let contents = self.read_small(&file, &meta);
        let payload = prepare(&meta, contents.as_ref());
        let entry = Arc::new(Cached {
            file: Arc::new(file),
            meta,
            contents,
            payload,
            checked: AtomicU64::new(self.now()),
        });
        self.insert(root, rel, Slot::Found(entry.clone()));
        Ok(Lookup::File(entry))
    }

    fn still_valid(&self, root: &Root, rel: &Path, entry: &Cached<T>) -> bool {
        // A file served from its descriptor is checked on every request (one
        // fstat, amortised over a large body): one truncated or rewritten in
        // place must never go out under its old length. Held contents are a
        // consistent snapshot and need only the periodic path check.
        if entry.contents.is_none() {
            match entry.file.metadata() {
                Ok(meta) if FileIdentity::of(&meta) == FileIdentity::of(&entry.meta) => {}
                _ => return false,
            }
        }
        if self.trusted_since(entry.checked.load(Ordering::Relaxed)) {
            return true;
        }
        // Two threads may both check at the end of an interval: one more stat.
        match root.identity(rel) {
            Ok(now_there) if now_there == FileIdentity::of(&entry.meta) => {
                entry.checked.store(self.now(), Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Whether something checked at `since` (on the cache's clock) is still
    /// within the revalidation interval.
    fn trusted_since(&self, since: u64) -> bool {
        let age = self.now().saturating_sub(since);
        u128::from(age) < self.options.revalidate.as_nanos()
    }

    /// The cache's clock: nanoseconds since its epoch (about 584 years before
    /// it wraps).
    fn now(&self) -> u64 {
        let since = Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    fn read_small(&self, file: &File, meta: &Metadata) -> Option<Bytes> {
        let size = meta.len();
        if size > self.options.max_file_bytes || size as usize > self.options.max_bytes {
            return None;
        }
        let mut buf = vec![0u8; size as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(buf.get_mut(filled..)?, filled as u64) {
                Ok(0) | Err(_) => return None,
                Ok(n) => filled += n,
            }
        }
        Some(Bytes::from(buf))
    }

    fn insert(&self, root: &Root, rel: &Path, entry: Slot<T>) {
        let key = Key::new(root.id(), rel);
        let key = key.bytes();
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        let size = entry.bytes();
        if let Some(old) = entries.map.remove(key) {
            entries.bytes -= old.bytes();
        }
        while !entries.map.is_empty()
            && (entries.map.len() >= self.options.max_entries
                || entries.bytes + size > self.options.max_bytes)
        {
            let Some(victim) = entries.map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = entries.map.remove(&victim) {
                entries.bytes -= old.bytes();
            }
        }
        if self.options.max_entries > 0 && entries.bytes + size <= self.options.max_bytes {
            entries.bytes += size;
            entries.map.insert(key.into(), entry);
        }
    }

    fn remove(&self, root: &Root, rel: &Path) {
        let key = Key::new(root.id(), rel);
        if let Ok(mut entries) = self.entries.write() {
            if let Some(old) = entries.map.remove(key.bytes()) {
                entries.bytes -= old.bytes();
            }
        }
    }

    /// Drops every entry of the root numbered `root` (a site whose folder was
    /// replaced): its descriptors are closed as soon as no response holds them.
    pub fn forget_root(&self, root: u64) {
        let prefix = root.to_le_bytes();
        if let Ok(mut entries) = self.entries.write() {
            let mut freed = 0;
            entries.map.retain(|key, slot| {
                let keep = !key.starts_with(&prefix);
                if !keep {
                    freed += slot.bytes();
                }
                keep
            });
            entries.bytes -= freed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[(&str, usize)]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        for (name, size) in files {
            std::fs::write(dir.path().join(name), vec![b'x'; *size]).unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    fn file(lookup: Lookup<u32>) -> Arc<Cached<u32>> {
        match lookup {
            Lookup::File(f) => f,
            Lookup::Dir(_) => panic!("a directory"),
        }
    }

    #[test]
    fn hits_skip_the_open_and_small_files_are_held_in_memory() {
        let (_dir, root) = root_with(&[("a.txt", 10), ("big.bin", 100_000)]);
        let cache = FileCache::new(CacheOptions::default());
        let mut prepared = 0;
        let first = file(
            cache
                .lookup(&root, Path::new("a.txt"), |_, _| {
                    prepared += 1;
                    7
                })
                .unwrap(),
        );
        let again = file(
            cache
                .lookup(&root, Path::new("a.txt"), |_, _| {
                    prepared += 1;
                    8
                })
                .unwrap(),
        );
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!((prepared, again.payload), (1, 7));
        assert_eq!(again.contents.as_deref(), Some(&[b'x'; 10][..]));
        let big = file(cache.lookup(&root, Path::new("big.bin"), |_, _| 0).unwrap());
        assert!(big.contents.is_none());
        assert!(matches!(
            cache.lookup(&root, Path::new("."), |_, _| 0).unwrap(),
            Lookup::Dir(_)
        ));
    }

    #[test]
    fn a_changed_file_is_seen_after_the_revalidation_interval() {
        let (dir, root) = root_with(&[("a.txt", 10)]);
        let options = CacheOptions {
            revalidate: Duration::ZERO,
            ..CacheOptions::default()
        };
        let cache = FileCache::new(options);
        let first = file(cache.lookup(&root, Path::new("a.txt"), |_, _| 1).unwrap());
        std::fs::write(dir.path().join("a.txt"), b"changed!").unwrap();
        let second = file(cache.lookup(&root, Path::new("a.txt"), |_, _| 2).unwrap());
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.contents.as_deref(), Some(&b"changed!"[..]));
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        assert!(matches!(
            cache.lookup(&root, Path::new("a.txt"), |_, _| 3),
            Err(Error::NotFound)
        ));
    }

    #[test]
    fn an_entry_is_trusted_until_its_interval_ends() {
        let (dir, root) = root_with(&[("a.txt", 10)]);
        let options = CacheOptions {
            revalidate: Duration::from_secs(1),
            ..CacheOptions::default()
        };
        let cache = FileCache::new(options);
        let first = file(cache.lookup(&root, Path::new("a.txt"), |_, _| 1).unwrap());
        std::fs::write(dir.path().join("a.txt"), b"changed!").unwrap();
        let trusted = file(cache.lookup(&root, Path::new("a.txt"), |_, _| 2).unwrap());
        assert!(
            Arc::ptr_eq(&first, &trusted),
            "checked again within the interval"
        );
        std::thread::sleep(Duration::from_millis(1100));
        let checked = file(cache.lookup(&root, Path::new("a.txt"), |_, _| 3).unwrap());
        assert_eq!(checked.contents.as_deref(), Some(&b"changed!"[..]));
    }

    #[test]
    fn entries_and_bytes_stay_within_their_bounds() {
        let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, usize)> = names.iter().map(|n| (n.as_str(), 1000)).collect();
        let (_dir, root) = root_with(&files);
        let options = CacheOptions {
            max_entries: 5,
            max_bytes: 3500,
            ..CacheOptions::default()
        };
        let cache = FileCache::new(options);
        for name in &names {
            file(cache.lookup(&root, Path::new(name), |_, _| 0).unwrap());
            assert!(cache.len() <= 5, "{} entries", cache.len());
            assert!(cache.bytes_held() <= 3500, "{} bytes", cache.bytes_held());
        }
        assert_eq!(cache.bytes_held(), 3000);
    }

    #[test]
    fn roots_sharing_a_cache_never_collide() {
        let (_a, root_a) = root_with(&[("same.txt", 3)]);
        let (_b, root_b) = root_with(&[("same.txt", 5)]);
        let cache = FileCache::new(CacheOptions::default());
        let rel = Path::new("same.txt");
        let a = file(cache.lookup(&root_a, rel, |_, _| 1).unwrap());
        let b = file(cache.lookup(&root_b, rel, |_, _| 2).unwrap());
        assert_eq!((a.payload, a.meta.len()), (1, 3));
        assert_eq!((b.payload, b.meta.len()), (2, 5));
        assert_eq!(cache.len(), 2);
        // A long path is keyed off the stack, the same way.
        let long = "d/".repeat(STACK_KEY) + "x";
        assert!(cache.lookup(&root_a, Path::new(&long), |_, _| 3).is_err());
        assert_eq!(cache.len(), 3);
        cache.forget_root(root_a.id());
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes_held(), 5);
        let again = file(cache.lookup(&root_b, rel, |_, _| 9).unwrap());
        assert_eq!(again.payload, 2, "root b's entry should have stayed");
    }
}
