//! `--etag content`: strong ETags from a hash of the file's bytes, so identical
//! files on two hosts get identical tags and builds that zero mtimes still
//! revalidate. The hash (xxh3-128, memory speed: about 10 ms for 100 MiB) is
//! computed once per (device, inode, size, mtime, ctime) in the blocking
//! pool. The first request for a file version waits for it, and every
//! request that arrives meanwhile waits for the same computation, so no
//! response carries anything but the content tag: instances behind one
//! balancer agree from the first response. The change time is in the key
//! because it is the one time a writer cannot set: a file rewritten in place
//! with its size and mtime kept (as reproducible builds do) still gets hashed
//! again.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use tokio::sync::{Notify, Semaphore};
use xxhash_rust::xxh3::Xxh3Default;

use crate::files::FileIdentity;

/// Tags remembered at most; past it the table starts afresh. About 100 bytes
/// each, so the table stays under 10 MiB.
pub const MAX_TAGS: usize = 65_536;

/// Files hashed at once: hashing is disk- and CPU-bound work in the blocking
/// pool, and must not crowd out listings or starve the disk. Requests for
/// other files wait their turn.
pub const MAX_HASHING: usize = 2;

/// Read size while hashing.
const HASH_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
enum Slot {
    /// Being computed; waiters are woken when it is done (or failed).
    Hashing(Arc<Notify>),
    Ready(HeaderValue),
}

/// The table of content tags.
#[derive(Debug)]
pub struct ContentTags {
    slots: Mutex<HashMap<FileIdentity, Slot>>,
    hashing: Arc<Semaphore>,
    max_tags: usize,
    /// Hashes computed so far (for tests and metrics).
    computed: AtomicU64,
}

impl ContentTags {
    /// A table holding at most `max_tags` tags.
    pub fn new(max_tags: usize) -> Arc<ContentTags> {
        Arc::new(ContentTags {
            slots: Mutex::new(HashMap::new()),
            hashing: Arc::new(Semaphore::new(MAX_HASHING)),
            max_tags: max_tags.max(1),
            computed: AtomicU64::new(0),
        })
    }

    /// Tags currently known (ready or being computed).
    pub fn len(&self) -> usize {
        self.slots.lock().map_or(0, |s| s.len())
    }

    /// True when no tag is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Files hashed so far.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// The content tag of this file version, if it is known.
    pub fn ready(&self, meta: &Metadata) -> Option<HeaderValue> {
        let slots = self.slots.lock().ok()?;
        match slots.get(&FileIdentity::of(meta)) {
            Some(Slot::Ready(tag)) => Some(tag.clone()),
            _ => None,
        }
    }

    /// The content tag of this file version: computed if no one is computing
    /// it yet, else waited for. `None` when hashing failed (the file changed
    /// while it was read, or an I/O error). Must be called inside a tokio
    /// runtime.
    pub async fn tag(self: &Arc<Self>, file: &Arc<File>, meta: &Metadata) -> Option<HeaderValue> {
        let key = FileIdentity::of(meta);
        let notify = {
            let mut slots = self.slots.lock().ok()?;
            match slots.get(&key) {
                Some(Slot::Ready(tag)) => return Some(tag.clone()),
                Some(Slot::Hashing(notify)) => notify.clone(),
                None => {
                    if slots.len() >= self.max_tags {
                        slots.clear();
                    }
                    let notify = Arc::new(Notify::new());
                    slots.insert(key, Slot::Hashing(notify.clone()));
                    self.start(key, file.clone(), notify.clone());
                    notify
                }
            }
        };
        // Listen first, then look: a hash that finished in between is seen
        // by the look, one that finishes after it wakes the listener.
        let done = notify.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        let still_hashing = matches!(self.slots.lock().ok()?.get(&key), Some(Slot::Hashing(_)));
        if still_hashing {
            done.await;
        }
        self.ready(meta)
    }

    /// Hashes the file in the blocking pool, at most [`MAX_HASHING`] at once.
    fn start(self: &Arc<Self>, key: FileIdentity, file: Arc<File>, notify: Arc<Notify>) {
        let table = self.clone();
        tokio::spawn(async move {
            let permit = table.hashing.clone().acquire_owned().await;
            let hashed = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                hash_file(&file, key.size())
                    .ok()
                    .filter(|_| unchanged(&file, key))
            })
            .await
            .ok()
            .flatten();
            table.computed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut slots) = table.slots.lock() {
                match hashed {
                    Some(tag) => slots.insert(key, Slot::Ready(tag)),
                    None => slots.remove(&key),
                };
            }
            notify.notify_waiters();
        });
    }
}

/// Whether the file is still the version that was hashed.
fn unchanged(file: &File, key: FileIdentity) -> bool {
    file.metadata().is_ok_and(|m| FileIdentity::of(&m) == key)
}

/// The content tag of bytes already in memory (a small cached file): the same
/// tag [`hash_file`] gives for a file with these bytes.
pub fn tag_of_bytes(bytes: &[u8]) -> HeaderValue {
    tag(xxhash_rust::xxh3::xxh3_128(bytes))
}

fn tag(digest: u128) -> HeaderValue {
    // 32 hex digits between quotes: always a valid header value.
    HeaderValue::from_str(&format!("\"c-{digest:032x}\""))
        .unwrap_or(HeaderValue::from_static("\"c-\""))
}

/// `"c-<32 hex digits>"` from the first `size` bytes of the file.
pub fn hash_file(file: &File, size: u64) -> std::io::Result<HeaderValue> {
    let mut hasher = Xxh3Default::new();
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut offset = 0u64;
    while offset < size {
        let want = (size - offset).min(HASH_CHUNK as u64) as usize;
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = file.read_at(chunk, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(chunk.get(..n).unwrap_or_default());
        offset += n as u64;
    }
    Ok(tag(hasher.digest128()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn temp(contents: &[u8]) -> (tempfile::NamedTempFile, Arc<File>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents).unwrap();
        let file = Arc::new(File::open(f.path()).unwrap());
        (f, file)
    }

    async fn tag_of(tags: &Arc<ContentTags>, file: &Arc<File>) -> HeaderValue {
        let meta = file.metadata().unwrap();
        tokio::time::timeout(Duration::from_secs(10), tags.tag(file, &meta))
            .await
            .expect("no tag within 10 s")
            .expect("hashing failed")
    }

    #[tokio::test]
    async fn identical_contents_get_identical_tags() {
        let tags = ContentTags::new(16);
        let (_a, a) = temp(b"same bytes");
        let (_b, b) = temp(b"same bytes");
        let (_c, c) = temp(b"other bytes");
        let (ta, tb, tc) = (
            tag_of(&tags, &a).await,
            tag_of(&tags, &b).await,
            tag_of(&tags, &c).await,
        );
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
        assert!(ta.to_str().unwrap().starts_with("\"c-"));
        assert_eq!(ta.len(), 36);
        assert_eq!(ta, tag_of_bytes(b"same bytes"));
    }

    #[tokio::test]
    async fn an_in_place_rewrite_keeping_size_and_mtime_is_hashed_again() {
        let tags = ContentTags::new(16);
        let (f, file) = temp(b"version 1");
        let mtime = file.metadata().unwrap().modified().unwrap();
        let first = tag_of(&tags, &file).await;
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(f.path(), b"version 2").unwrap();
        let times = std::fs::FileTimes::new().set_modified(mtime);
        File::open(f.path()).unwrap().set_times(times).unwrap();
        let second = tag_of(&tags, &Arc::new(File::open(f.path()).unwrap())).await;
        assert_ne!(first, second, "the first version's tag for the second");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_hash() {
        let tags = ContentTags::new(16);
        let (_f, file) = temp(&vec![7u8; 8 << 20]);
        let meta = file.metadata().unwrap();
        assert!(tags.ready(&meta).is_none());
        let waiters: Vec<_> = (0..32)
            .map(|_| {
                let (tags, file, meta) = (tags.clone(), file.clone(), meta.clone());
                tokio::spawn(async move { tags.tag(&file, &meta).await })
            })
            .collect();
        let mut seen = Vec::new();
        for waiter in waiters {
            seen.push(waiter.await.unwrap().unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(tags.computed(), 1, "one computation for 32 requests");
        assert_eq!(tags.ready(&meta), seen.first().cloned());
    }

    #[tokio::test]
    async fn the_table_is_bounded() {
        let tags = ContentTags::new(2);
        let files: Vec<_> = (0..5)
            .map(|i| temp(format!("file {i}").as_bytes()))
            .collect();
        for (_, f) in &files {
            tag_of(&tags, f).await;
            assert!(tags.len() <= 2, "table over its bound: {}", tags.len());
        }
    }
}
