//! Files: the root folder's handle, opens and stats confined beneath it,
//! directory reading, which failures mean what, and the changes uploads make:
//! every one relative to an open folder's descriptor, never a joined path
//! (create a new file, rename without replacing, remove, make a folder).
//!
//! Confinement is one of two [`Beneath`] ways with the same rules (those of
//! `RESOLVE_BENEATH`): the kernel's `openat2` where there is one, else the
//! walk of `beneath.rs`. Nothing here follows a link out of the root.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{beneath, native};

/// How lookups beneath the root are kept there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beneath {
    /// `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: by the kernel, in
    /// one call (Linux 5.6+).
    Kernel,
    /// One `openat(O_NOFOLLOW)` per component, links followed by hand while
    /// they stay inside: any Unix, any kernel.
    Walk,
}

/// The flags of an open for serving: close-on-exec, never a controlling
/// terminal, and non-blocking so that opening a FIFO cannot hang the server.
fn read_flags() -> OFlags {
    OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK
}

/// Opens the folder at `path` as a root: a handle for lookups beneath it
/// (`O_PATH` where there is one).
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let flags = native::LOOKUP | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

/// Whether this build calls `openat2` (Linux, not the `portable` feature);
/// the kernel may still lack it: see [`kernel_confines`].
pub(crate) const OPENAT2: bool = native::OPENAT2;

/// Whether the kernel confines lookups beneath `root` itself: `openat2` is
/// built in and answers (not `ENOSYS`, nor `EPERM` from a seccomp filter).
pub(crate) fn kernel_confines(root: impl AsFd) -> io::Result<bool> {
    if !native::OPENAT2 {
        return Ok(false);
    }
    match native::openat2(root, Path::new("."), native::LOOKUP | OFlags::CLOEXEC) {
        Ok(_) => Ok(true),
        Err(Errno::NOSYS | Errno::PERM) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Opens `rel` beneath `root` for reading (a file or a folder).
pub(crate) fn open_beneath(root: BorrowedFd<'_>, rel: &Path, how: Beneath) -> io::Result<OwnedFd> {
    let opened = match how {
        Beneath::Kernel => native::openat2(root, rel, read_flags()),
        Beneath::Walk => beneath::walk(root, rel.as_os_str().as_bytes(), |folder, name| {
            rustix::fs::openat(folder, name, read_flags() | OFlags::NOFOLLOW, Mode::empty())
        }),
    };
    Ok(opened?)
}

/// The metadata of what `rel` names beneath `root`, links followed while they
/// stay inside.
pub(crate) fn stat_beneath(root: BorrowedFd<'_>, rel: &Path, how: Beneath) -> io::Result<Stat> {
    let stat = match how {
        Beneath::Kernel => native::openat2(root, rel, native::LOOKUP | OFlags::CLOEXEC)
            .and_then(|fd| rustix::fs::fstat(&fd)),
        Beneath::Walk => beneath::walk(root, rel.as_os_str().as_bytes(), |folder, name| {
            let stat = rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW)?;
            match FileType::from_raw_mode(stat.st_mode) {
                // A link: the walk reads it and goes on.
                FileType::Symlink => Err(Errno::LOOP),
                _ => Ok(stat),
            }
        }),
    };
    Ok(Stat::from(stat?))
}

/// The metadata of an open file or folder.
pub(crate) fn stat(fd: impl AsFd) -> io::Result<Stat> {
    Ok(Stat::from(rustix::fs::fstat(fd)?))
}

/// The metadata of what `rel` names from `dir`, following links wherever
/// they lead: only for comparing with what was opened, never for serving.
pub(crate) fn stat_at(dir: impl AsFd, rel: &Path) -> io::Result<Stat> {
    Ok(Stat::from(rustix::fs::statat(dir, rel, AtFlags::empty())?))
}

/// What kind of thing a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket, device.
    Other,
    /// Not said (a directory entry on a filesystem that does not say).
    Unknown,
}

impl Kind {
    fn of(kind: FileType) -> Kind {
        match kind {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Unknown => Kind::Unknown,
            _ => Kind::Other,
        }
    }
}

/// The metadata Ferrox uses, in the same types on every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// What it is.
    pub kind: Kind,
    /// The device it is on.
    pub dev: u64,
    /// Its inode number.
    pub ino: u64,
    /// How many names it has (0: removed).
    pub nlink: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// Status change time: seconds and nanoseconds since the epoch.
    pub ctime: (i64, i64),
}

impl From<rustix::fs::Stat> for Stat {
    // The fields' types differ between platforms (`st_dev` is i32 on macOS,
    // `st_nlink` u16): on Linux some of these casts are to the same type.
    #[allow(clippy::unnecessary_cast)]
    fn from(st: rustix::fs::Stat) -> Stat {
        Stat {
            kind: Kind::of(FileType::from_raw_mode(st.st_mode)),
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
            size: (st.st_size as i64).max(0) as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
        }
    }
}

/// The entries of an open folder, `.` and `..` included, in its own order.
pub(crate) struct ReadDir(rustix::fs::Dir);

/// Reads the folder open as `dir`.
pub(crate) fn read_dir(dir: &File) -> io::Result<ReadDir> {
    Ok(ReadDir(rustix::fs::Dir::read_from(dir)?))
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|entry| entry.map(DirEntry).map_err(io::Error::from))
    }
}

/// One entry of a folder.
pub(crate) struct DirEntry(rustix::fs::DirEntry);

impl DirEntry {
    /// Its name, any bytes but `/` and NUL.
    pub fn name(&self) -> &[u8] {
        self.0.file_name().to_bytes()
    }

    /// Its kind as the folder says, links not followed.
    pub fn kind(&self) -> Kind {
        Kind::of(self.0.file_type())
    }

    /// Its metadata, a link's own (not followed); `dir` is the folder read.
    pub fn stat(&self, dir: &File) -> io::Result<Stat> {
        let stat = rustix::fs::statat(dir, self.0.file_name(), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(Stat::from(stat))
    }
}

/// Opens the folder `rel` beneath `root` for changes made relative to it;
/// `ENOTDIR` when it is not a folder. Links are followed only while they
/// stay beneath the root, as for serving.
pub(crate) fn open_dir_beneath(
    root: BorrowedFd<'_>,
    rel: &Path,
    how: Beneath,
) -> io::Result<OwnedFd> {
    let rel = match rel.as_os_str().is_empty() {
        true => Path::new("."),
        false => rel,
    };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let opened = match how {
        Beneath::Kernel => native::openat2(root, rel, flags),
        Beneath::Walk => beneath::walk(root, rel.as_os_str().as_bytes(), |folder, name| {
            rustix::fs::openat(folder, name, flags | OFlags::NOFOLLOW, Mode::empty())
        }),
    };
    Ok(opened?)
}

/// Creates the file `name` in `dir`, which must not exist (`O_EXCL`, a link
/// not followed), for writing, readable by all (0644 less the umask).
pub(crate) fn create_new_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o644))?;
    Ok(File::from(fd))
}

/// Renames `from` to `to` in `dir`; with `replace` false, fails with
/// `EEXIST` when `to` exists (atomically where the kernel can).
pub(crate) fn rename_in(
    dir: BorrowedFd<'_>,
    from: &OsStr,
    to: &OsStr,
    replace: bool,
) -> io::Result<()> {
    match replace {
        true => Ok(rustix::fs::renameat(dir, from, dir, to)?),
        false => Ok(native::rename_noreplace(dir, from, to)?),
    }
}

/// The portable rename that replaces nothing: a second name (`link` fails
/// on an existing one), then the first removed.
pub(super) fn link_then_unlink(dir: impl AsFd, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
    rustix::fs::linkat(&dir, from, &dir, to, AtFlags::empty())?;
    rustix::fs::unlinkat(&dir, from, AtFlags::empty())
}

/// Removes the file (or link) `name` from `dir`.
pub(crate) fn remove_file_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// Removes the empty folder `name` from `dir`.
pub(crate) fn remove_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// Makes the folder `name` in `dir` (0755 less the umask).
pub(crate) fn make_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755))?)
}

/// The metadata of `name` in `dir` itself (a link is not followed).
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Stat> {
    Ok(Stat::from(rustix::fs::statat(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
    )?))
}

/// What a failed change means to a web server, beyond [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeFailure {
    /// The name exists already.
    Exists,
    /// The disk (or quota) is full.
    NoSpace,
    /// A folder that is not empty.
    NotEmpty,
    /// Any other: as [`classify`] says.
    Other(Failure),
}

/// Classifies the error of a change.
pub(crate) fn classify_change(e: &io::Error) -> ChangeFailure {
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::EXIST) => ChangeFailure::Exists,
        Some(Errno::NOSPC | Errno::DQUOT | Errno::FBIG) => ChangeFailure::NoSpace,
        Some(Errno::NOTEMPTY) => ChangeFailure::NotEmpty,
        _ => ChangeFailure::Other(classify(e)),
    }
}

/// What a failed lookup means to a web server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Nothing there: no such name, a file where a folder was needed, too
    /// many links, a name too long.
    Missing,
    /// There, but not ours to read.
    Denied,
    /// The path leads out of the root.
    Outside,
    /// Anything else.
    Other,
}

/// Classifies an I/O error by its errno.
pub(crate) fn classify(e: &io::Error) -> Failure {
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::NAMETOOLONG) => Failure::Missing,
        Some(Errno::ACCESS | Errno::PERM) => Failure::Denied,
        Some(Errno::XDEV) => Failure::Outside,
        _ => Failure::Other,
    }
}

/// Takes the exclusive advisory lock of `file` (`flock`) if no other process
/// holds it: `Ok(false)` when another does. Released when the file closes.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    use rustix::fs::FlockOperation;
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    //! Both ways of confinement over one tree of links, compared with what
    //! each path must give: the walk is tested on every build, the kernel's
    //! way where it is available (not in a `portable` build).

    use std::io::Read;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use super::*;

    /// What a lookup gave: a file's text, a folder (by inode), or a failure.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Text(String),
        Folder(u64),
        /// A FIFO, opened without waiting for a writer.
        Special,
        Failed(Failure),
    }

    struct Tree {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        fd: OwnedFd,
    }

    impl Tree {
        fn ino(&self, rel: &str) -> u64 {
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(self.root.join(rel)).unwrap())
        }
    }

    fn tree() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().canonicalize().unwrap();
        let root = top.join("root");
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        std::fs::write(top.join("secret.txt"), "SECRET").unwrap();
        std::fs::write(root.join("a.txt"), "A").unwrap();
        std::fs::write(root.join("sub/b.txt"), "B").unwrap();
        std::fs::write(root.join("sub/deep/c.txt"), "C").unwrap();
        let links: &[(&str, PathBuf)] = &[
            ("out-rel", "../secret.txt".into()),
            ("out-abs", top.join("secret.txt")),
            ("in-abs", root.join("a.txt")),
            ("out-dir", "..".into()),
            ("in-file", "a.txt".into()),
            ("in-dir", "sub".into()),
            ("in-dot", "./sub/./b.txt".into()),
            ("sub/up", "../a.txt".into()),
            ("sub/out-up", "../../secret.txt".into()),
            ("deep-link", "sub/deep".into()),
            ("loop", "loop".into()),
            ("loop-a", "loop-b".into()),
            ("loop-b", "loop-a".into()),
            ("dangling", "nowhere".into()),
        ];
        for (name, target) in links {
            symlink(target, root.join(name)).unwrap();
        }
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("fifo"))
            .status()
            .unwrap();
        assert!(fifo.success(), "mkfifo: {fifo}");
        // chain-0 → a.txt, chain-N → chain-(N-1): chain-N needs N+1 links.
        symlink("a.txt", root.join("chain-0")).unwrap();
        for n in 1..=MAX_CHAIN {
            symlink(format!("chain-{}", n - 1), root.join(format!("chain-{n}"))).unwrap();
        }
        let fd = open_root(&root).unwrap();
        Tree {
            _tmp: tmp,
            root,
            fd,
        }
    }

    /// The longest chain built: one link more than a lookup may follow.
    const MAX_CHAIN: usize = beneath::MAX_LINKS;

    fn ways(tree: &Tree) -> Vec<Beneath> {
        match kernel_confines(&tree.fd).unwrap() {
            true => vec![Beneath::Kernel, Beneath::Walk],
            false => {
                eprintln!("no openat2 here: only the walk is tested");
                vec![Beneath::Walk]
            }
        }
    }

    fn open(tree: &Tree, rel: &str, how: Beneath) -> Got {
        match open_beneath(tree.fd.as_fd(), Path::new(rel), how) {
            Ok(fd) => {
                let stat = stat(&fd).unwrap();
                match stat.kind {
                    Kind::Dir => return Got::Folder(stat.ino),
                    Kind::File => {}
                    _ => return Got::Special,
                }
                let mut text = String::new();
                File::from(fd).read_to_string(&mut text).unwrap();
                Got::Text(text)
            }
            Err(e) => Got::Failed(classify(&e)),
        }
    }

    fn look(tree: &Tree, rel: &str, how: Beneath) -> Got {
        match stat_beneath(tree.fd.as_fd(), Path::new(rel), how) {
            Ok(stat) if stat.kind == Kind::Dir => Got::Folder(stat.ino),
            Ok(stat) if stat.kind == Kind::File => Got::Text(format!("{} bytes", stat.size)),
            Ok(_) => Got::Special,
            Err(e) => Got::Failed(classify(&e)),
        }
    }

    #[test]
    fn lookups_stay_beneath_the_root_both_ways() {
        let tree = tree();
        let text = |s: &str| Got::Text(s.to_string());
        let folder = |rel: &str| Got::Folder(tree.ino(rel));
        let outside = || Got::Failed(Failure::Outside);
        let missing = || Got::Failed(Failure::Missing);
        let last_chain = format!("chain-{}", MAX_CHAIN - 1);
        let too_long = format!("chain-{MAX_CHAIN}");
        let cases: Vec<(&str, Got)> = vec![
            // Plain names, folders, dots.
            ("a.txt", text("A")),
            ("sub/b.txt", text("B")),
            ("sub/deep/c.txt", text("C")),
            (".", folder(".")),
            ("sub", folder("sub")),
            ("sub/", folder("sub")),
            ("sub/..", folder(".")),
            ("./sub/./b.txt", text("B")),
            ("sub/../a.txt", text("A")),
            ("a.txt/", missing()),
            ("a.txt/x", missing()),
            ("nope", missing()),
            ("nope/x", missing()),
            ("", missing()),
            // `..` above the root, and absolute paths.
            ("..", outside()),
            ("../secret.txt", outside()),
            ("sub/../../secret.txt", outside()),
            ("/a.txt", outside()),
            // Links that stay inside are followed, `..` in them included.
            ("in-file", text("A")),
            ("in-dir", folder("sub")),
            ("in-dir/", folder("sub")),
            ("in-dir/b.txt", text("B")),
            ("in-dot", text("B")),
            ("sub/up", text("A")),
            ("in-dir/up", text("A")),
            // `..` after a link is the target's parent, not the link's.
            ("deep-link/c.txt", text("C")),
            ("deep-link/../b.txt", text("B")),
            ("deep-link/..", folder("sub")),
            // Links out, absolute links (even into the root), `..` out.
            ("out-rel", outside()),
            ("out-abs", outside()),
            ("in-abs", outside()),
            ("out-dir", outside()),
            ("out-dir/secret.txt", outside()),
            ("sub/out-up", outside()),
            ("in-dir/out-up", outside()),
            // A FIFO: opened without waiting; never a folder on the way.
            ("fifo", Got::Special),
            ("fifo/x", missing()),
            ("fifo/", missing()),
            // Loops, dangling links, chains at and over the limit.
            ("loop", missing()),
            ("loop-a", missing()),
            ("loop/x", missing()),
            ("dangling", missing()),
            (last_chain.as_str(), text("A")),
            (too_long.as_str(), missing()),
        ];
        for how in ways(&tree) {
            for (rel, want) in &cases {
                assert_eq!(&open(&tree, rel, how), want, "{how:?} open {rel:?}");
                let want = match want {
                    Got::Text(t) => Got::Text(format!("{} bytes", t.len())),
                    Got::Folder(ino) => Got::Folder(*ino),
                    Got::Special => Got::Special,
                    Got::Failed(f) => Got::Failed(*f),
                };
                assert_eq!(look(&tree, rel, how), want, "{how:?} stat {rel:?}");
            }
        }
    }

    #[test]
    fn without_openat2_the_kernel_way_fails_and_is_not_chosen() {
        let tree = tree();
        if !native::OPENAT2 {
            assert!(!kernel_confines(&tree.fd).unwrap());
            let got = open_beneath(tree.fd.as_fd(), Path::new("a.txt"), Beneath::Kernel);
            assert!(got.is_err());
        }
    }
}
