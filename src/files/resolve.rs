//! Opening files beneath the root, race-free.
//!
//! Nothing outside the root is opened, symlinks and `..` included: links are
//! followed only while they stay beneath it, and never an absolute one. Two
//! ways, with the same rules (`sys::fs` does both): `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` where the kernel has it (Linux
//! 5.6+: one call, no window for a swap), else one `openat(O_NOFOLLOW)` per
//! component from the root's descriptor, links read and walked by hand (any
//! Unix: macOS, the BSDs, older Linux).

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Error;
use crate::sys::fs::{self as sys, Beneath, Kind};

/// How paths are confined to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// `openat2` with `RESOLVE_BENEATH`: enforced by the kernel.
    Openat2,
    /// One `openat` per component with `O_NOFOLLOW`, links followed by hand
    /// while they stay inside: for systems and kernels without `openat2`.
    Walk,
}

impl Confinement {
    fn beneath(self) -> Beneath {
        match self {
            Confinement::Openat2 => Beneath::Kernel,
            Confinement::Walk => Beneath::Walk,
        }
    }
}

/// The served folder, held open.
#[derive(Debug, Clone)]
pub struct Root {
    dir: Arc<OwnedFd>,
    canonical: PathBuf,
    confinement: Confinement,
    id: u64,
}

/// Numbers each opened root, so that caches shared by several roots key their
/// entries apart (two sites may serve one folder with different options).
static NEXT_ROOT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// An open regular file or directory with its metadata.
#[derive(Debug)]
pub struct Opened {
    /// The open file (a directory when `meta.is_dir()`).
    pub file: File,
    /// Its metadata, from the open descriptor (no second lookup by name).
    pub meta: Metadata,
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name as stored (any bytes).
    pub name: Vec<u8>,
    /// Whether it is a directory (after following a symlink that stays inside).
    pub is_dir: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time.
    pub modified: std::time::SystemTime,
}

impl Root {
    /// Opens `path` as the root, using `openat2` when the kernel has it.
    pub fn open(path: &Path) -> io::Result<Root> {
        let root = Self::open_with(path, Confinement::Walk)?;
        if sys::kernel_confines(&*root.dir)? {
            return Ok(Root {
                confinement: Confinement::Openat2,
                ..root
            });
        }
        if sys::OPENAT2 {
            // A Linux kernel older than 5.6, or a seccomp filter: worth a line.
            // Elsewhere the walk is simply the way.
            tracing::info!("openat2 unavailable: confining paths by walking them");
        }
        Ok(root)
    }

    /// Opens `path` as the root with a given confinement strategy;
    /// `Unsupported` for `Openat2` where the kernel lacks it.
    pub fn open_with(path: &Path, confinement: Confinement) -> io::Result<Root> {
        let canonical = path.canonicalize()?;
        let dir = sys::open_root(&canonical)?;
        if confinement == Confinement::Openat2 && !sys::kernel_confines(&dir)? {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "openat2 is not available here",
            ));
        }
        Ok(Root {
            dir: Arc::new(dir),
            canonical,
            confinement,
            id: NEXT_ROOT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// A number no other root opened by this process has (clones share it).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How many names the root folder has: 0 once it has been removed.
    pub fn dir_links(&self) -> io::Result<u64> {
        Ok(sys::stat(&*self.dir)?.nlink)
    }

    /// The identity of the root folder itself (device and inode above all): a
    /// folder replaced at the same path has another.
    pub fn dir_identity(&self) -> io::Result<FileIdentity> {
        Ok(FileIdentity::from_stat(&sys::stat(&*self.dir)?))
    }

    /// The root's canonical path (for the start-up line and logs only).
    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// The root folder's descriptor, for lookups beneath it.
    pub(super) fn handle(&self) -> std::os::fd::BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// How lookups beneath it are confined.
    pub(super) fn beneath(&self) -> Beneath {
        self.confinement.beneath()
    }

    /// The strategy in use.
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// Opens `rel` (from `path::sanitize`) for reading. Only regular files and
    /// directories are returned; anything else is `NotFound`.
    pub fn open_file(&self, rel: &Path) -> Result<Opened, Error> {
        let fd = sys::open_beneath(self.dir.as_fd(), rel, self.confinement.beneath())
            .map_err(Error::from_io)?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(Error::from_io)?;
        if meta.is_file() || meta.is_dir() {
            Ok(Opened { file, meta })
        } else {
            Err(Error::NotFound)
        }
    }

    /// Lists the directory `rel`: every entry but dotfiles (unless `hidden`), with
    /// symlinks followed only when they stay beneath the root (others are left out).
    ///
    /// Reading stops after `limit` entries, so a folder of millions of files costs
    /// no more memory than `limit` entries; the flag says whether some were left
    /// unread (which ones are shown is then the directory's own order).
    pub fn read_dir(
        &self,
        rel: &Path,
        dir: &File,
        hidden: bool,
        limit: usize,
    ) -> Result<(Vec<Entry>, bool), Error> {
        let mut entries = Vec::new();
        for item in sys::read_dir(dir).map_err(Error::from_io)? {
            let item = item.map_err(Error::from_io)?;
            let name = item.name();
            if name == b"." || name == b".." || (!hidden && name.first() == Some(&b'.')) {
                continue;
            }
            let stat = match item.kind() {
                // Follow the link only within the root; a link out is not listed.
                Kind::Symlink | Kind::Unknown => {
                    let path = rel.join(std::ffi::OsStr::from_bytes(name));
                    sys::stat_beneath(self.dir.as_fd(), &path, self.confinement.beneath())
                }
                _ => item.stat(dir),
            };
            let Ok(stat) = stat else { continue };
            if stat.kind != Kind::File && stat.kind != Kind::Dir {
                continue;
            }
            if entries.len() == limit {
                return Ok((entries, true));
            }
            let (secs, nanos) = stat.mtime;
            let modified = std::time::UNIX_EPOCH
                + std::time::Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32);
            entries.push(Entry {
                name: name.to_vec(),
                is_dir: stat.kind == Kind::Dir,
                size: if stat.kind == Kind::Dir { 0 } else { stat.size },
                modified,
            });
        }
        Ok((entries, false))
    }
}

/// What identifies one version of a file: device, inode, size and both
/// times to the nanosecond. THE key of every cache of per-version data (the
/// open-file cache's revalidation, content tags, compressed responses,
/// listings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of an opened file.
    pub fn of(meta: &Metadata) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn from_stat(stat: &sys::Stat) -> FileIdentity {
        FileIdentity {
            dev: stat.dev,
            ino: stat.ino,
            size: stat.size,
            mtime: stat.mtime,
            ctime: stat.ctime,
        }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The device it is on.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// Its inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }
}

impl Root {
    /// The identity of whatever `rel` names now, for revalidating a cached open.
    /// One `statat` relative to the root: its answer is compared, never served.
    pub fn identity(&self, rel: &Path) -> Result<FileIdentity, Error> {
        let stat = sys::stat_at(&*self.dir, rel).map_err(Error::from_io)?;
        Ok(FileIdentity::from_stat(&stat))
    }
}
