//! The producer of an archive, run on a thread of the blocking pool: walks
//! the folder through the root's confined opens and writes zip or tar.gz into
//! the body's channel, a chunk at a time.
//!
//! The serving rules hold for every entry: each is opened beneath the root
//! (`files::Root::open_file`, so symlinks only as serving follows them, and
//! never out of the root), dotfiles only with hidden files on, precompressed
//! sidecars left out when they are served as their file's encodings, and
//! anything but regular files and folders skipped. An entry that cannot be
//! opened is left out and logged. Names in the archive are `NAME/` and the
//! path below the folder; files get mode 0644 and folders 0755 (not the
//! server's modes), with their modification times.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use flate2::write::GzEncoder;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use zip::write::{FullFileOptions, StreamWriter, ZipWriter};
use zip::CompressionMethod;

use super::{Entries, Format, CHUNK, MAX_DEPTH};
use crate::files::{self, Opened, Root};

/// Deflate and gzip level: 1, the fastest. An archive is made once per
/// download and sent at network speed, so CPU spent for a few per cent of
/// size would only slow the download and the other clients.
const LEVEL: u32 = 1;

/// Files from this size get zip64 sizes in their entry (needed from 4 GiB;
/// this leaves room for deflate's worst-case growth of an incompressible file).
const ZIP64_FROM: u64 = 0xF000_0000;

/// Mode of files and folders in the archive.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// One archive to build: what the request resolved, and its slot.
pub(in crate::handler) struct Job {
    pub root: Root,
    /// The folder beneath the root.
    pub rel: PathBuf,
    /// The folder, opened when the request resolved.
    pub dir: Opened,
    /// The archive's top folder (and file) name.
    pub name: String,
    /// The folder's URL path, for the log.
    pub url: String,
    pub format: Format,
    pub hidden: bool,
    /// Entries read at most (files and folders, skipped ones too).
    pub max_entries: usize,
    pub precompressed: bool,
    /// Which entries the rules around the handler let in.
    pub entries: Option<Entries>,
    /// One of [`super::MAX_ARCHIVES`], freed when the producer returns.
    pub _slot: OwnedSemaphorePermit,
}

impl Job {
    /// Builds the archive into `tx`. An error means the archive is not whole
    /// (the client went away, a file shrank, a limit was reached).
    pub fn run(self: Box<Self>, tx: mpsc::Sender<Bytes>) -> io::Result<()> {
        let tally = Arc::new(Tally::default());
        let out = Out {
            tx: tx.clone(),
            buf: BytesMut::with_capacity(CHUNK),
            tally: tally.clone(),
        };
        let result = match self.format {
            Format::Zip => self.build(ZipSink(ZipWriter::new_stream(out)), &tx, &tally),
            Format::TarGz => {
                let gzip = GzEncoder::new(out, flate2::Compression::new(LEVEL));
                self.build(TarSink(tar::Builder::new(gzip)), &tx, &tally)
            }
        };
        let (format, bytes) = (self.format.token(), tally.bytes.load(Ordering::Relaxed));
        match &result {
            Ok(entries) => tracing::info!(
                folder = %self.url,
                format,
                entries,
                bytes,
                "archive sent"
            ),
            Err(e) if tx.is_closed() => tracing::info!(
                folder = %self.url,
                format,
                bytes,
                error = %e,
                "archive stopped: the client went away"
            ),
            Err(e) => tracing::warn!(
                folder = %self.url,
                format,
                bytes,
                error = %e,
                "archive cut off"
            ),
        }
        result.map(drop)
    }

    fn build<S: Sink>(&self, sink: S, tx: &mpsc::Sender<Bytes>, tally: &Tally) -> io::Result<u64> {
        Walk {
            job: self,
            sink,
            tx,
            tally,
            entries: 0,
            read: 0,
            url: self.url.clone(),
            ancestors: Vec::new(),
        }
        .archive()
    }
}

/// What the producer and its output share.
#[derive(Debug, Default)]
struct Tally {
    /// Bytes handed to the connection.
    bytes: AtomicU64,
    /// Set when the archive will not be finished: from then on output is
    /// dropped, so that the zip writer's drop (which finishes the archive)
    /// writes nothing and reports nothing.
    abandoned: AtomicBool,
}

/// The archive's bytes on their way to the body: collected into chunks of
/// [`CHUNK`] bytes, each sent into the channel (waiting while it is full).
struct Out {
    tx: mpsc::Sender<Bytes>,
    buf: BytesMut,
    tally: Arc<Tally>,
}

impl Out {
    fn send(&mut self) -> io::Result<()> {
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        let len = chunk.len() as u64;
        if self.tx.blocking_send(chunk).is_err() {
            self.tally.abandoned.store(true, Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            ));
        }
        self.tally.bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Write for Out {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.tally.abandoned.load(Ordering::Relaxed) {
            return Ok(data.len());
        }
        let room = CHUNK.saturating_sub(self.buf.len()).max(1);
        let taken = data.get(..room).unwrap_or(data);
        self.buf.extend_from_slice(taken);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(taken.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.tally.abandoned.load(Ordering::Relaxed) || self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// One archive format, written entry by entry.
trait Sink {
    /// Whether a name (one path segment) can be stored as it is.
    fn accepts(&self, name: &[u8]) -> bool;
    /// A folder entry; `path` ends in `/`.
    fn folder(&mut self, path: &[u8], modified: SystemTime) -> io::Result<()>;
    /// A file entry with `meta.len()` bytes read from `data`.
    fn file(&mut self, path: &[u8], meta: &Metadata, data: &mut dyn Read) -> io::Result<()>;
    /// Ends the archive and hands its output back.
    fn finish(self) -> io::Result<Out>;
}

struct ZipSink(ZipWriter<StreamWriter<Out>>);

impl ZipSink {
    fn options(modified: SystemTime, mode: u32) -> io::Result<FullFileOptions<'static, 'static>> {
        let mut options = FullFileOptions::default()
            .last_modified_time(dos_time(modified))
            .unix_permissions(mode);
        // The extended timestamp (Info-ZIP "UT"): the exact time in UTC, where
        // the DOS time above is local, to two seconds, and 1980 to 2107.
        if let Ok(secs) = i32::try_from(unix_secs(modified)) {
            let mut field = [1u8; 5];
            field[1..].copy_from_slice(&secs.to_le_bytes());
            options
                .add_extra_field(0x5455, field, false)
                .map_err(zip_io)?;
        }
        Ok(options)
    }
}

impl Sink for ZipSink {
    /// UTF-8 names only (zip's flag 11); none with `\`, which Windows tools
    /// read as a folder separator (so `..\x` could step out of the folder).
    fn accepts(&self, name: &[u8]) -> bool {
        std::str::from_utf8(name).is_ok() && !name.contains(&b'\\')
    }

    fn folder(&mut self, path: &[u8], modified: SystemTime) -> io::Result<()> {
        let options = Self::options(modified, DIR_MODE)?;
        self.0.add_directory(utf8(path)?, options).map_err(zip_io)
    }

    fn file(&mut self, path: &[u8], meta: &Metadata, data: &mut dyn Read) -> io::Result<()> {
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let content_type = files::mime::content_type(Path::new(OsStr::from_bytes(path)));
        // Images, video, archives: deflate would cost CPU and save nothing.
        let (method, level) = if crate::codec::is_compressible(&content_type) {
            (CompressionMethod::Deflated, Some(i64::from(LEVEL)))
        } else {
            (CompressionMethod::Stored, None)
        };
        let options = Self::options(modified, FILE_MODE)?
            .compression_method(method)
            .compression_level(level)
            .large_file(meta.len() >= ZIP64_FROM);
        self.0.start_file(utf8(path)?, options).map_err(zip_io)?;
        io::copy(data, &mut self.0)?;
        Ok(())
    }

    fn finish(self) -> io::Result<Out> {
        Ok(self.0.finish().map_err(zip_io)?.into_inner())
    }
}

struct TarSink(tar::Builder<GzEncoder<Out>>);

impl TarSink {
    fn append(
        &mut self,
        path: &[u8],
        kind: tar::EntryType,
        mode: u32,
        size: u64,
        modified: SystemTime,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(u64::try_from(unix_secs(modified)).unwrap_or(0));
        // Names longer than the header's field go in GNU long-name entries.
        self.0
            .append_data(&mut header, Path::new(OsStr::from_bytes(path)), data)
    }
}

impl Sink for TarSink {
    /// Any bytes: tar stores names as they are.
    fn accepts(&self, _: &[u8]) -> bool {
        true
    }

    fn folder(&mut self, path: &[u8], modified: SystemTime) -> io::Result<()> {
        let kind = tar::EntryType::Directory;
        self.append(path, kind, DIR_MODE, 0, modified, &mut io::empty())
    }

    fn file(&mut self, path: &[u8], meta: &Metadata, data: &mut dyn Read) -> io::Result<()> {
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let kind = tar::EntryType::Regular;
        self.append(path, kind, FILE_MODE, meta.len(), modified, data)
    }

    fn finish(self) -> io::Result<Out> {
        self.0.into_inner()?.finish()
    }
}

/// The walk of one archive's folder tree, depth first, names in byte order.
struct Walk<'a, S: Sink> {
    job: &'a Job,
    sink: S,
    tx: &'a mpsc::Sender<Bytes>,
    tally: &'a Tally,
    /// Entries written.
    entries: u64,
    /// Entries read from folders (skipped ones too): the `max_entries` bound.
    read: usize,
    /// The folders being archived, outermost first (device, inode): a link
    /// back to one of them would loop.
    ancestors: Vec<(u64, u64)>,
    /// The URL path of the entry at hand (for [`Job::entries`]).
    url: String,
}

impl<S: Sink> Walk<'_, S> {
    /// The whole archive; the number of entries in it.
    fn archive(mut self) -> io::Result<u64> {
        let job = self.job;
        let mut path = job.name.as_bytes().to_vec();
        path.push(b'/');
        let meta = &job.dir.meta;
        self.ancestors.push((meta.dev(), meta.ino()));
        let result = self
            .sink
            .folder(&path, meta.modified().unwrap_or(UNIX_EPOCH))
            .and_then(|()| self.folder(&job.rel, &mut path, &job.dir.file, 0));
        if let Err(e) = result {
            // Before the sink is dropped: see `Tally::abandoned`.
            self.tally.abandoned.store(true, Ordering::Relaxed);
            return Err(e);
        }
        let entries = self.entries + 1;
        let mut out = self.sink.finish()?;
        out.flush()?;
        Ok(entries)
    }

    /// The entries of the folder `rel` (open as `dir`, named `path` in the
    /// archive, `depth` below the archived one), recursively.
    fn folder(
        &mut self,
        rel: &Path,
        path: &mut Vec<u8>,
        dir: &File,
        depth: usize,
    ) -> io::Result<()> {
        let job = self.job;
        let limit = job.max_entries.saturating_sub(self.read);
        let (mut entries, cut) = match job.root.read_dir(rel, dir, job.hidden, limit) {
            Ok(read) => read,
            Err(e) if depth > 0 => {
                self.left_out(path, &e);
                return Ok(());
            }
            Err(e) => return Err(io::Error::other(e)),
        };
        if cut {
            return Err(io::Error::other(format!(
                "more than {} entries: not archived",
                job.max_entries
            )));
        }
        self.read += entries.len();
        if job.precompressed {
            super::super::listing::hide_sidecars(&mut entries);
        }
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for entry in entries {
            // A client gone while nothing is written (skipped entries) stops
            // the walk too.
            if self.tx.is_closed() {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the client went away",
                ));
            }
            let (parent, parent_url) = (path.len(), self.url.len());
            path.extend_from_slice(&entry.name);
            self.url.push_str(&files::path::encode_segment(&entry.name));
            let result = self.entry(rel, path, &entry.name, depth);
            path.truncate(parent);
            self.url.truncate(parent_url);
            result?;
        }
        Ok(())
    }

    /// One entry named `name` in the folder `rel`; `path` is its name in the
    /// archive.
    fn entry(
        &mut self,
        rel: &Path,
        path: &mut Vec<u8>,
        name: &[u8],
        depth: usize,
    ) -> io::Result<()> {
        if !self.sink.accepts(name) {
            tracing::info!(
                folder = %self.job.url,
                entry = %String::from_utf8_lossy(path),
                "left out of a {} archive: its name cannot be stored",
                self.job.format.token()
            );
            return Ok(());
        }
        let rel = rel.join(OsStr::from_bytes(name));
        let opened = match self.job.root.open_file(&rel) {
            Ok(opened) => opened,
            Err(e) => {
                self.left_out(path, &e);
                return Ok(());
            }
        };
        let meta = &opened.meta;
        if meta.is_dir() {
            self.url.push('/');
        }
        if let Some(entries) = &self.job.entries {
            if !entries.allows(&self.url) {
                tracing::debug!(
                    folder = %self.job.url,
                    entry = %self.url,
                    "left out of an archive: the site's routes take it"
                );
                return Ok(());
            }
        }
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if self.ancestors.contains(&id) {
                tracing::info!(
                    folder = %self.job.url,
                    entry = %String::from_utf8_lossy(path),
                    "left out of an archive: a link to a folder it is in"
                );
                return Ok(());
            }
            if depth + 1 > MAX_DEPTH {
                return Err(io::Error::other(format!(
                    "folders more than {MAX_DEPTH} deep: not archived"
                )));
            }
            path.push(b'/');
            self.sink
                .folder(path, meta.modified().unwrap_or(UNIX_EPOCH))?;
            self.entries += 1;
            self.ancestors.push(id);
            let result = self.folder(&rel, path, &opened.file, depth + 1);
            self.ancestors.pop();
            return result;
        }
        let mut data = Exact {
            file: &opened.file,
            left: meta.len(),
        };
        self.sink.file(path, meta, &mut data)?;
        self.entries += 1;
        Ok(())
    }

    fn left_out(&self, path: &[u8], error: &files::Error) {
        let entry = String::from_utf8_lossy(path);
        match error {
            // Removed meanwhile, or a link that leads nowhere it may.
            files::Error::NotFound | files::Error::Outside => tracing::debug!(
                folder = %self.job.url,
                entry = %entry,
                %error,
                "left out of an archive"
            ),
            _ => tracing::warn!(
                folder = %self.job.url,
                entry = %entry,
                %error,
                "left out of an archive"
            ),
        }
    }
}

/// A file's bytes up to the length it had when opened: more is not read, and
/// less (the file shrank) is an error rather than a short entry (a tar
/// header has already promised the length).
struct Exact<'a> {
    file: &'a File,
    left: u64,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = (&mut self.file).take(self.left).read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file shrank while it was archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn utf8(path: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn zip_io(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// Seconds since the epoch, negative before it.
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The DOS date and time of `t` in UTC (zip's own field), clamped to what it
/// can hold (1980 to 2107).
fn dos_time(t: SystemTime) -> zip::DateTime {
    let at = time::OffsetDateTime::from(t);
    zip::DateTime::from_date_and_time(
        u16::try_from(at.year()).unwrap_or(0),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
    )
    .unwrap_or_else(|_| {
        if at.year() < 1980 {
            zip::DateTime::default()
        } else {
            zip::DateTime::from_date_and_time(2107, 12, 31, 23, 59, 58).unwrap_or_default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dos_times_are_utc_and_clamped() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_001); // 2023-11-14 22:13:21
        let dos = dos_time(t);
        assert_eq!(
            (
                dos.year(),
                dos.month(),
                dos.day(),
                dos.hour(),
                dos.minute(),
                dos.second()
            ),
            (2023, 11, 14, 22, 13, 20)
        );
        assert_eq!(dos_time(UNIX_EPOCH).year(), 1980);
        let far = UNIX_EPOCH + Duration::from_secs(5_000_000_000); // 2128
        assert_eq!(dos_time(far).year(), 2107);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }

    #[test]
    fn a_shrunk_file_is_an_error() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"abc").unwrap();
        let f2 = f.try_clone().unwrap();
        use std::io::Seek;
        f.seek(io::SeekFrom::Start(0)).unwrap();
        let mut out = Vec::new();
        let e = Exact { file: &f2, left: 5 }
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        f.seek(io::SeekFrom::Start(0)).unwrap();
        let mut out = Vec::new();
        Exact { file: &f2, left: 2 }.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
    }
}
