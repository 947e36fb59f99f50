//! A fixture folder built by the test, removed when dropped.

use std::fs::{File, FileTimes};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct TempRoot {
    dir: tempfile::TempDir,
}

impl TempRoot {
    pub fn new() -> TempRoot {
        TempRoot {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file, creating parent folders.
    pub fn file(self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Self {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn dir(self, rel: impl AsRef<Path>) -> Self {
        std::fs::create_dir_all(self.join(rel)).unwrap();
        self
    }

    pub fn symlink(self, rel: impl AsRef<Path>, target: impl AsRef<Path>) -> Self {
        std::os::unix::fs::symlink(target, self.join(rel)).unwrap();
        self
    }

    /// Gives every regular file and folder in the tree, the root included, the
    /// modification time `time` (symlinks and special files are left alone).
    pub fn pin_mtimes(self, time: SystemTime) -> Self {
        set_mtimes(self.path(), time);
        self
    }

    /// Gives the file or folder at `rel` the modification time `time`.
    pub fn mtime(self, rel: impl AsRef<Path>, time: SystemTime) -> Self {
        set_mtime(&self.join(rel), time);
        self
    }

    /// The metadata ETag the server must send for the file at `rel`:
    /// `"ino-size-mtime.nsec"`, in hex.
    pub fn metadata_tag(&self, rel: impl AsRef<Path>) -> String {
        let m = std::fs::metadata(self.join(rel)).unwrap();
        format!(
            "\"{:x}-{:x}-{:x}.{:x}\"",
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        )
    }
}

fn set_mtimes(dir: &Path, time: SystemTime) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            set_mtimes(&path, time);
        } else if meta.is_file() {
            set_mtime(&path, time);
        }
    }
    set_mtime(dir, time);
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .set_times(FileTimes::new().set_modified(time).set_accessed(time))
        .unwrap();
}
