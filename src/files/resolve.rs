//! Opening files beneath the root, race-free.
//!
//! With `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (Linux 5.6+) the kernel
//! refuses any resolution that leaves the root, symlinks and `..` included, in one
//! call with no window for a swap. Where the kernel lacks it, the path is
//! canonicalized and checked against the root's canonical path before opening.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Dir, FileType, Mode, OFlags, ResolveFlags};

use super::Error;

/// How paths are confined to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// `openat2` with `RESOLVE_BENEATH`: enforced by the kernel.
    Openat2,
    /// Canonicalize and compare prefixes: for kernels without `openat2`.
    Canonicalize,
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
        let root = Self::open_with(path, Confinement::Openat2)?;
        match rustix::fs::openat2(
            &*root.dir,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            beneath(),
        ) {
            Ok(_) => Ok(root),
            Err(rustix::io::Errno::NOSYS) | Err(rustix::io::Errno::PERM) => {
                tracing::info!("openat2 unavailable: confining paths by canonicalization");
                Self::open_with(path, Confinement::Canonicalize)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Opens `path` as the root with a given confinement strategy.
    pub fn open_with(path: &Path, confinement: Confinement) -> io::Result<Root> {
        let canonical = path.canonicalize()?;
        let dir = rustix::fs::open(
            &canonical,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
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
        Ok(rustix::fs::fstat(&*self.dir)?.st_nlink as u64)
    }

    /// The identity of the root folder itself (device and inode above all): a
    /// folder replaced at the same path has another.
    pub fn dir_identity(&self) -> io::Result<FileIdentity> {
        let st = rustix::fs::fstat(&*self.dir)?;
        Ok(FileIdentity {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size.max(0) as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        })
    }

    /// The root's canonical path (for the start-up line and logs only).
    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// The strategy in use.
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// Opens `rel` (from `path::sanitize`) for reading. Only regular files and
    /// directories are returned; anything else is `NotFound`.
    pub fn open_file(&self, rel: &Path) -> Result<Opened, Error> {
        // O_NONBLOCK: opening a FIFO must not hang the server.
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        let fd = self.open_beneath(rel, flags)?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(Error::from_io)?;
        if meta.is_file() || meta.is_dir() {
            Ok(Opened { file, meta })
        } else {
            Err(Error::NotFound)
        }
    }

    fn open_beneath(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, Error> {
        match self.confinement {
            Confinement::Openat2 => loop {
                match rustix::fs::openat2(&*self.dir, rel, flags, Mode::empty(), beneath()) {
                    // The kernel asks for a retry when a rename raced the lookup.
                    Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => continue,
                    other => return other.map_err(errno_to_error),
                }
            },
            Confinement::Canonicalize => {
                let full = self
                    .canonical
                    .join(rel)
                    .canonicalize()
                    .map_err(Error::from_io)?;
                if !full.starts_with(&self.canonical) {
                    return Err(Error::Outside);
                }
                rustix::fs::open(&full, flags | OFlags::NOFOLLOW, Mode::empty())
                    .map_err(errno_to_error)
            }
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
        let reader = Dir::read_from(dir).map_err(errno_to_error)?;
        for item in reader {
            let item = item.map_err(errno_to_error)?;
            let name = item.file_name().to_bytes();
            if name == b"." || name == b".." || (!hidden && name.first() == Some(&b'.')) {
                continue;
            }
            let name = name.to_vec();
            let path = rel.join(std::ffi::OsStr::from_bytes(&name));
            let stat =
                if item.file_type() == FileType::Symlink || item.file_type() == FileType::Unknown {
                    // Follow the link only within the root; a link out is not listed.
                    match self.open_beneath(&path, OFlags::PATH | OFlags::CLOEXEC) {
                        Ok(fd) => rustix::fs::fstat(&fd),
                        Err(_) => continue,
                    }
                } else {
                    rustix::fs::statat(dir, item.file_name(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                };
            let Ok(stat) = stat else { continue };
            let kind = FileType::from_raw_mode(stat.st_mode);
            if kind != FileType::RegularFile && kind != FileType::Directory {
                continue;
            }
            if entries.len() == limit {
                return Ok((entries, true));
            }
            let modified = std::time::UNIX_EPOCH
                + std::time::Duration::new(
                    stat.st_mtime.max(0) as u64,
                    stat.st_mtime_nsec.clamp(0, 999_999_999) as u32,
                );
            entries.push(Entry {
                name,
                is_dir: kind == FileType::Directory,
                size: if kind == FileType::Directory {
                    0
                } else {
                    stat.st_size.max(0) as u64
                },
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
        let st = rustix::fs::statat(&*self.dir, rel, rustix::fs::AtFlags::empty())
            .map_err(errno_to_error)?;
        Ok(FileIdentity {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size.max(0) as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        })
    }
}

fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS
}

fn errno_to_error(e: rustix::io::Errno) -> Error {
    Error::from_io(e.into())
}
