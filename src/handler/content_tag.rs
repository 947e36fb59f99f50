//! `--etag content`: strong ETags from a hash of the file's bytes, so identical
//! files on two hosts get identical tags and builds that zero mtimes still
//! revalidate. The hash (xxh3-128) is computed once per (device, inode, size,
//! mtime, ctime), in the background: never on the request path. Until it is
//! ready the metadata ETag is served. The change time is in the key because it
//! is the one time a writer cannot set: a file rewritten in place with its size
//! and mtime kept (as reproducible builds do) still gets hashed again.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use xxhash_rust::xxh3::Xxh3Default;

use crate::files::FileIdentity;

/// Tags remembered at most; past it the table starts afresh. About 100 bytes
/// each, so the table stays under 10 MiB.
pub const MAX_TAGS: usize = 65_536;

/// Files hashed at once: hashing is disk- and CPU-bound work in the blocking
/// pool, and must not crowd out listings or starve the disk.
pub const MAX_HASHING: usize = 2;

/// Read size while hashing.
const HASH_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
enum Slot {
    Hashing,
    Ready(HeaderValue),
}

/// The table of content tags.
#[derive(Debug)]
pub struct ContentTags {
    slots: Mutex<HashMap<FileIdentity, Slot>>,
    hashing: AtomicUsize,
    max_tags: usize,
}

impl ContentTags {
    /// A table holding at most `max_tags` tags.
    pub fn new(max_tags: usize) -> Arc<ContentTags> {
        Arc::new(ContentTags {
            slots: Mutex::new(HashMap::new()),
            hashing: AtomicUsize::new(0),
            max_tags: max_tags.max(1),
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

    /// The content tag of this file version, or `None` while it is unknown, in
    /// which case hashing starts in the background (if a slot is free). Must be
    /// called inside a tokio runtime.
    pub fn lookup(self: &Arc<Self>, file: &Arc<File>, meta: &Metadata) -> Option<HeaderValue> {
        let key = FileIdentity::of(meta);
        let Ok(mut slots) = self.slots.lock() else {
            return None;
        };
        match slots.get(&key) {
            Some(Slot::Ready(tag)) => return Some(tag.clone()),
            Some(Slot::Hashing) => return None,
            None => {}
        }
        if self.hashing.fetch_add(1, Ordering::AcqRel) >= MAX_HASHING {
            self.hashing.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        if slots.len() >= self.max_tags {
            slots.clear();
        }
        slots.insert(key, Slot::Hashing);
        drop(slots);
        let table = self.clone();
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            let tag = hash_file(&file, key.size())
                .ok()
                .filter(|_| unchanged(&file, key));
            if let Ok(mut slots) = table.slots.lock() {
                match tag {
                    Some(tag) => slots.insert(key, Slot::Ready(tag)),
                    None => slots.remove(&key),
                };
            }
            table.hashing.fetch_sub(1, Ordering::AcqRel);
        });
        None
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

    async fn wait_for(tags: &Arc<ContentTags>, file: &Arc<File>) -> HeaderValue {
        let meta = file.metadata().unwrap();
        for _ in 0..200 {
            if let Some(tag) = tags.lookup(file, &meta) {
                return tag;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("tag never ready");
    }

    #[tokio::test]
    async fn identical_contents_get_identical_tags() {
        let tags = ContentTags::new(16);
        let (_a, a) = temp(b"same bytes");
        let (_b, b) = temp(b"same bytes");
        let (_c, c) = temp(b"other bytes");
        let (ta, tb, tc) = (
            wait_for(&tags, &a).await,
            wait_for(&tags, &b).await,
            wait_for(&tags, &c).await,
        );
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
        assert!(ta.to_str().unwrap().starts_with("\"c-"));
        assert_eq!(ta.len(), 36);
    }

    #[tokio::test]
    async fn an_in_place_rewrite_keeping_size_and_mtime_is_hashed_again() {
        let tags = ContentTags::new(16);
        let (f, file) = temp(b"version 1");
        let mtime = file.metadata().unwrap().modified().unwrap();
        let first = wait_for(&tags, &file).await;
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(f.path(), b"version 2").unwrap();
        let times = std::fs::FileTimes::new().set_modified(mtime);
        File::open(f.path()).unwrap().set_times(times).unwrap();
        let second = wait_for(&tags, &Arc::new(File::open(f.path()).unwrap())).await;
        assert_ne!(first, second, "the first version's tag for the second");
    }

    #[tokio::test]
    async fn first_lookup_does_not_wait_and_the_table_is_bounded() {
        let tags = ContentTags::new(2);
        let files: Vec<_> = (0..3)
            .map(|i| temp(format!("file {i}").as_bytes()))
            .collect();
        let meta = files[0].1.metadata().unwrap();
        assert!(
            tags.lookup(&files[0].1, &meta).is_none(),
            "hashed on the request path"
        );
        for (_, f) in &files {
            wait_for(&tags, f).await;
        }
        assert!(tags.len() <= 2, "table over its bound: {}", tags.len());
    }
}
