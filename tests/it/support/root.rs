//! A fixture folder built by the test, removed when dropped.

use std::path::{Path, PathBuf};

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
}
