//! Log files that logrotate can rotate: opened for appending, reopened by
//! path on SIGUSR1 ([`reopen_all`]) so that writing moves to the new file
//! once the old one was renamed. A write that fails (disk full, the folder
//! removed) is counted and reported once on stderr, never a crash and never
//! a stall: the line is lost, the next one is tried.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Failed writes and reopens of every log file, for the metrics.
static ERRORS: AtomicU64 = AtomicU64::new(0);

/// Log lines lost to failed writes (and failed reopens) so far, all files.
pub fn write_errors() -> u64 {
    ERRORS.load(Ordering::Relaxed)
}

/// Every log file open, for [`reopen_all`].
static OPEN: OnceLock<Mutex<Vec<Weak<Shared>>>> = OnceLock::new();

/// A log file; clones write to the same file.
#[derive(Debug, Clone)]
pub struct LogFile {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    file: Mutex<File>,
    /// Failed writes and reopens so far.
    errors: AtomicU64,
    /// Whether a failure was reported since the last success.
    reported: AtomicBool,
}

impl LogFile {
    /// Opens `path` for appending (created 0640 if missing).
    pub fn open(path: &Path) -> io::Result<LogFile> {
        let file = open(path)?;
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            errors: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        });
        if let Ok(mut open) = OPEN.get_or_init(Default::default).lock() {
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(&shared));
        }
        Ok(LogFile { shared })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Writes and reopens that failed so far.
    pub fn errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Opens the path again and writes there from now on; the old file is
    /// closed. On failure the old file stays (and the failure is counted).
    pub fn reopen(&self) {
        match open(&self.shared.path) {
            Ok(file) => {
                if let Ok(mut slot) = self.shared.file.lock() {
                    *slot = file;
                }
                self.shared.reported.store(false, Ordering::Relaxed);
            }
            Err(e) => self.failed("cannot reopen", &e),
        }
    }

    fn failed(&self, what: &str, e: &io::Error) {
        ERRORS.fetch_add(1, Ordering::Relaxed);
        let errors = self.shared.errors.fetch_add(1, Ordering::Relaxed) + 1;
        // Once until it works again: stderr, not tracing, which may be
        // writing to this very file.
        if !self.shared.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "ferrox: log file {}: {what}: {e} (lines are dropped and counted: {errors} so far)",
                self.shared.path.display()
            );
        }
    }
}

/// Whole lines: each `write_all` is one `write(2)` on an `O_APPEND` file.
impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = match self.shared.file.lock() {
            Ok(mut file) => file.write_all(buf),
            Err(_) => Err(io::Error::other("poisoned")),
        };
        if let Err(e) = result {
            self.failed("cannot write", &e);
        }
        // The line is written or counted as lost: never an error upstream,
        // which would stop the writer.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn open(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// Reopens every log file (SIGUSR1, after logrotate renamed them).
pub fn reopen_all() {
    let files: Vec<Arc<Shared>> = match OPEN.get_or_init(Default::default).lock() {
        Ok(open) => open.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    for shared in files {
        LogFile { shared }.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ferrox-logfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn rotated_by_rename_then_reopen() {
        let dir = scratch("rotate");
        let path = dir.join("access.log");
        let mut log = LogFile::open(&path).unwrap();
        log.write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.join("access.log.1")).unwrap();
        log.write_all(b"two\n").unwrap();
        reopen_all();
        log.write_all(b"three\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("access.log.1")).unwrap(),
            "one\ntwo\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        assert_eq!(log.errors(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_write_is_counted_not_raised() {
        // /dev/full: every write fails with ENOSPC.
        let mut log = LogFile::open(Path::new("/dev/full")).unwrap();
        for _ in 0..3 {
            assert_eq!(log.write(b"line\n").unwrap(), 5);
        }
        assert_eq!(log.errors(), 3);
    }

    #[test]
    fn a_failed_reopen_keeps_the_old_file() {
        let dir = scratch("keep");
        let path = dir.join("error.log");
        let mut log = LogFile::open(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        log.reopen();
        assert_eq!(log.errors(), 1);
        // Still writes to the (unlinked) old file without an error.
        log.write_all(b"x\n").unwrap();
        assert_eq!(log.errors(), 1);
    }
}
