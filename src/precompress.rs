//! `ferrox precompress ROOT`: writes `FILE.br`, `FILE.zst` and `FILE.gz` beside
//! every compressible file of a folder, at the highest sensible levels, once,
//! so the server sends them with no CPU spent and an exact Content-Length.
//!
//! In order:
//!
//! 1. walk ROOT: dotfiles and dot-folders are skipped (the server does not
//!    serve them), so are symlinks to folders (loops, and the real folder is
//!    walked anyway) and symlinks to files outside ROOT;
//! 2. keep the files whose type is compressible ([`is_compressible`] of
//!    [`content_type`]) and whose size is at least `min_size`; a file whose name
//!    says it is compressed already (sidecars included) is never compressed;
//! 3. for each kept file and coding, largest files first, on every core: skip a
//!    sidecar that exists and is not older than its file; else compress into a
//!    hidden temporary file in the same folder, and rename it over the sidecar
//!    only if it is smaller than the file (a stale sidecar that is not is
//!    removed). The sidecar gets the file's mtime and permissions, and is
//!    synced before the rename: readers (a running server) see the old sidecar
//!    or the new one, never a partial one, even after a crash;
//! 4. report what was done ([`Report`], whose `Display` is a human summary).
//!
//! A failure on one file is recorded in the report and the run goes on.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::codec::{
    is_compressible, is_encoded_name, Encoder, Encoding, Levels, CODINGS, MIN_SIZE, PRECOMPRESS,
};
use crate::files::mime::content_type;

/// Write buffer of a sidecar.
const WRITE_BUFFER: usize = 64 * 1024;

/// How a precompress run works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecompressOptions {
    /// Smallest file compressed.
    pub min_size: u64,
    /// Codings to write (identity is ignored).
    pub encodings: Vec<Encoding>,
    /// Encoder levels.
    pub levels: Levels,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Whether to draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

impl Default for PrecompressOptions {
    fn default() -> Self {
        PrecompressOptions {
            min_size: MIN_SIZE,
            encodings: CODINGS.to_vec(),
            levels: PRECOMPRESS,
            threads: 0,
            progress: true,
        }
    }
}

/// One file that could not be handled.
#[derive(Debug)]
pub struct FileError {
    /// The file (or the sidecar being made).
    pub path: PathBuf,
    /// What went wrong.
    pub error: io::Error,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Regular files seen (dotfiles excluded).
    pub files_scanned: u64,
    /// Files compressible and big enough.
    pub files_eligible: u64,
    /// Files that got at least one new sidecar.
    pub files_compressed: u64,
    /// Sidecars written.
    pub sidecars_written: u64,
    /// Sidecars left as they were: present and not older than their file.
    pub sidecars_skipped_up_to_date: u64,
    /// Sidecars not kept because they were not smaller than their file.
    pub sidecars_not_smaller: u64,
    /// Stale sidecars removed because the new one was not smaller.
    pub stale_sidecars_removed: u64,
    /// Total size of the eligible files.
    pub bytes_before: u64,
    /// Total, over the eligible files, of the smallest of each file and its
    /// sidecars: what the best-compressing client downloads.
    pub bytes_after_best: u64,
    /// Files that failed; the rest were still done.
    pub errors: Vec<FileError>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Scanned {} files, {} of them compressible and at least the minimum size; \
             compressed {} ({} sidecars written, {} already up to date, {} not smaller \
             than their file and not kept",
            self.files_scanned,
            self.files_eligible,
            self.files_compressed,
            self.sidecars_written,
            self.sidecars_skipped_up_to_date,
            self.sidecars_not_smaller,
        )?;
        if self.stale_sidecars_removed > 0 {
            write!(f, ", {} stale ones removed", self.stale_sidecars_removed)?;
        }
        f.write_str(").")?;
        if self.bytes_before > 0 {
            let saved = self.bytes_before.saturating_sub(self.bytes_after_best);
            write!(
                f,
                " The eligible files take {}; with their best sidecars {}: {} saved ({:.1}%).",
                human(self.bytes_before),
                human(self.bytes_after_best),
                human(saved),
                saved as f64 * 100.0 / self.bytes_before as f64
            )?;
        }
        match self.errors.len() {
            0 => Ok(()),
            1 => f.write_str(" 1 file failed."),
            n => write!(f, " {n} files failed."),
        }
    }
}

/// `1536` → `1.5 KiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A file to compress.
#[derive(Debug)]
struct Candidate {
    path: PathBuf,
    len: u64,
}

/// What became of one sidecar.
#[derive(Debug)]
enum Outcome {
    Written(u64),
    UpToDate(u64),
    NotSmaller { removed_stale: bool },
}

/// Precompresses every eligible file under `root`. Fails only when `root`
/// itself cannot be read; per-file failures are in [`Report::errors`].
pub fn run(root: &Path, options: &PrecompressOptions) -> io::Result<Report> {
    let root = fs::canonicalize(root)?;
    if !fs::metadata(&root)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a folder", root.display()),
        ));
    }
    let mut report = Report::default();
    let mut candidates = Vec::new();
    walk(&root, options, &mut report, &mut candidates)?;
    report.files_eligible = candidates.len() as u64;

    let mut encodings: Vec<Encoding> = Vec::new();
    for e in &options.encodings {
        if *e != Encoding::Identity && !encodings.contains(e) {
            encodings.push(*e);
        }
    }
    // Largest files first: the longest jobs start early and the last ones to
    // finish are short, so the cores stay busy to the end.
    candidates.sort_by(|a, b| b.len.cmp(&a.len).then_with(|| a.path.cmp(&b.path)));
    let jobs: Vec<(usize, Encoding)> = (0..candidates.len())
        .flat_map(|i| encodings.iter().map(move |e| (i, *e)))
        .collect();

    let progress = progress_bar(options.progress, jobs.len() as u64);
    let results = work(
        &candidates,
        &jobs,
        &options.levels,
        options.threads,
        &progress,
    )?;
    progress.finish_and_clear();

    let mut best: Vec<u64> = candidates.iter().map(|c| c.len).collect();
    let mut compressed = vec![false; candidates.len()];
    for ((file, encoding), result) in jobs.iter().zip(results) {
        match result {
            Ok(Outcome::Written(len)) => {
                report.sidecars_written += 1;
                compressed[*file] = true;
                best[*file] = best[*file].min(len);
            }
            Ok(Outcome::UpToDate(len)) => {
                report.sidecars_skipped_up_to_date += 1;
                best[*file] = best[*file].min(len);
            }
            Ok(Outcome::NotSmaller { removed_stale }) => {
                report.sidecars_not_smaller += 1;
                report.stale_sidecars_removed += u64::from(removed_stale);
            }
            Err(error) => report.errors.push(FileError {
                path: sidecar_path(&candidates[*file].path, *encoding),
                error,
            }),
        }
    }
    report.files_compressed = compressed.iter().filter(|c| **c).count() as u64;
    report.bytes_before = candidates.iter().map(|c| c.len).sum();
    report.bytes_after_best = best.iter().sum();
    Ok(report)
}

/// Collects the eligible files under `root` (canonical).
fn walk(
    root: &Path,
    options: &PrecompressOptions,
    report: &mut Report,
    out: &mut Vec<Candidate>,
) -> io::Result<()> {
    let mut folders = vec![root.to_path_buf()];
    let mut first = true;
    while let Some(folder) = folders.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(entries) => entries,
            // The root unreadable is the run failing; a subfolder is one error.
            Err(e) if first => return Err(e),
            Err(error) => {
                report.errors.push(FileError {
                    path: folder,
                    error,
                });
                continue;
            }
        };
        first = false;
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    report.errors.push(FileError {
                        path: folder.clone(),
                        error,
                    });
                    continue;
                }
            };
            // Dotfiles, dot-folders, and our own temporary files.
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let meta = match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    folders.push(path);
                    continue;
                }
                Ok(t) if t.is_symlink() => match followed_inside(root, &path) {
                    Some(meta) => meta,
                    None => continue,
                },
                Ok(_) => match entry.metadata() {
                    Ok(meta) => meta,
                    Err(error) => {
                        report.errors.push(FileError { path, error });
                        continue;
                    }
                },
                Err(error) => {
                    report.errors.push(FileError { path, error });
                    continue;
                }
            };
            if !meta.is_file() {
                continue;
            }
            report.files_scanned += 1;
            if meta.len() < options.min_size
                || is_encoded_name(&path)
                || !is_compressible(&content_type(&path))
            {
                continue;
            }
            out.push(Candidate {
                path,
                len: meta.len(),
            });
        }
    }
    Ok(())
}

/// The metadata of a symlink's target when it is a regular file inside `root`;
/// `None` for links to folders (loops; the real folder is walked anyway),
/// links that leave the root, and dangling links.
fn followed_inside(root: &Path, link: &Path) -> Option<fs::Metadata> {
    let target = fs::canonicalize(link).ok()?;
    if !target.starts_with(root) {
        return None;
    }
    let meta = fs::metadata(&target).ok()?;
    meta.is_file().then_some(meta)
}

/// `app.js` → `app.js.br`.
fn sidecar_path(path: &Path, encoding: Encoding) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(encoding.suffix().unwrap_or(""));
    PathBuf::from(name)
}

fn progress_bar(wanted: bool, len: u64) -> ProgressBar {
    use std::io::IsTerminal;
    if !wanted || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} sidecars  {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Runs the jobs on `threads` workers (0: one per core) pulling from a shared
/// index; the results come back in job order.
fn work(
    candidates: &[Candidate],
    jobs: &[(usize, Encoding)],
    levels: &Levels,
    threads: usize,
    progress: &ProgressBar,
) -> io::Result<Vec<io::Result<Outcome>>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(jobs.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<Outcome>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let temp_seq = AtomicU64::new(0);
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(file, encoding)) = jobs.get(i) else {
            return;
        };
        let candidate = &candidates[file];
        progress.set_message(candidate.path.display().to_string());
        let seq = temp_seq.fetch_add(1, Ordering::Relaxed);
        let result = compress_file(&candidate.path, encoding, levels, seq);
        if let Ok(mut slots) = results.lock() {
            slots[i] = Some(result);
        }
        progress.inc(1);
    };
    let panicked = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .filter(Result::is_err)
            .count()
    });
    if panicked > 0 {
        return Err(io::Error::other("a precompress worker panicked"));
    }
    let slots = results
        .into_inner()
        .map_err(|_| io::Error::other("a precompress worker panicked"))?;
    Ok(slots
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err(io::Error::other("job not run"))))
        .collect())
}

/// Removes a temporary file unless it was renamed into place.
struct TempGuard<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(self.path);
        }
    }
}

/// Makes (or keeps) the `encoding` sidecar of `path`.
fn compress_file(
    path: &Path,
    encoding: Encoding,
    levels: &Levels,
    seq: u64,
) -> io::Result<Outcome> {
    let sidecar = sidecar_path(path, encoding);
    let mut source = File::open(path)?;
    let meta = source.metadata()?;
    let modified = meta.modified()?;
    let existing = match fs::symlink_metadata(&sidecar) {
        Ok(m) if m.is_file() => Some(m),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the sidecar's name is taken by something that is not a regular file",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(existing) = &existing {
        if existing.modified()? >= modified {
            return Ok(Outcome::UpToDate(existing.len()));
        }
    }

    let folder = path.parent().unwrap_or(Path::new("."));
    let mut temp_name = OsString::from(".");
    temp_name.push(sidecar.file_name().unwrap_or_default());
    temp_name.push(format!(".{}-{seq}.tmp", std::process::id()));
    let temp = folder.join(temp_name);
    let file = File::options().write(true).create_new(true).open(&temp)?;
    let mut guard = TempGuard {
        path: &temp,
        armed: true,
    };

    let writer = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut encoder = Encoder::new(encoding, levels, Some(meta.len()), writer)?;
    let copied = io::copy(&mut (&mut source).take(meta.len()), &mut encoder)?;
    let writer = encoder.finish()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    let compressed = file.metadata()?.len();

    // Compare with the file as it is now: output read from a file that changed
    // meanwhile belongs to no version of it.
    let now = fs::metadata(path)?;
    if copied != meta.len() || now.len() != meta.len() || now.modified()? != modified {
        return Err(io::Error::other(
            "changed while being compressed; run again",
        ));
    }
    if compressed >= meta.len() {
        drop(guard);
        // A stale sidecar would now be served for a newer file: remove it.
        let removed_stale = existing.is_some() && fs::remove_file(&sidecar).is_ok();
        return Ok(Outcome::NotSmaller { removed_stale });
    }
    // The file's mtime, not now: a file modified while it was read stays newer
    // than its sidecar, so the next run redoes it.
    file.set_modified(modified)?;
    file.set_permissions(meta.permissions())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, &sidecar)?;
    guard.armed = false;
    Ok(Outcome::Written(compressed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encoder::tests::{decode, text};
    use std::time::{Duration, SystemTime};

    fn options() -> PrecompressOptions {
        PrecompressOptions {
            progress: false,
            threads: 2,
            ..PrecompressOptions::default()
        }
    }

    fn put(root: &Path, rel: &str, data: &[u8]) -> PathBuf {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, data).unwrap();
        path
    }

    fn random(len: usize) -> Vec<u8> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    fn all_files(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let t = entry.file_type().unwrap();
                if t.is_dir() {
                    stack.push(entry.path());
                } else {
                    let rel = entry.path().strip_prefix(root).unwrap().to_owned();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn writes_decodable_sidecars_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let js = text(20_000);
        let css = text(6_000);
        let html = text(3_000);
        put(root, "app.js", &js);
        put(root, "style.css", &css);
        put(root, "sub/page.html", &html);
        put(root, "img.png", &text(20_000));
        put(root, "font.woff2", &text(20_000));
        put(root, "small.txt", b"tiny");
        put(root, ".hidden/x.js", &text(20_000));
        put(root, ".dot.js", &text(20_000));
        put(root, "archive.gz", &text(20_000));
        put(root, "drawing.svgz", &text(20_000));

        let report = run(root, &options()).unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.files_scanned, 8, "{report:?}");
        assert_eq!(report.files_eligible, 3);
        assert_eq!(report.files_compressed, 3);
        assert_eq!(report.sidecars_written, 9);
        assert_eq!(report.sidecars_skipped_up_to_date, 0);
        assert_eq!(report.sidecars_not_smaller, 0);
        assert_eq!(report.bytes_before, 29_000);
        assert!(report.bytes_after_best < report.bytes_before / 2);

        for (rel, data) in [
            ("app.js", &js),
            ("style.css", &css),
            ("sub/page.html", &html),
        ] {
            let source = root.join(rel);
            let mtime = fs::metadata(&source).unwrap().modified().unwrap();
            for encoding in CODINGS {
                let sidecar = sidecar_path(&source, encoding);
                let packed = fs::read(&sidecar).unwrap();
                assert_eq!(&decode(encoding, &packed), data, "{}", sidecar.display());
                assert_eq!(fs::metadata(&sidecar).unwrap().modified().unwrap(), mtime);
            }
        }
        let files = all_files(root);
        let expected = [
            ".dot.js",
            ".hidden/x.js",
            "app.js",
            "app.js.br",
            "app.js.gz",
            "app.js.zst",
            "archive.gz",
            "drawing.svgz",
            "font.woff2",
            "img.png",
            "small.txt",
            "style.css",
            "style.css.br",
            "style.css.gz",
            "style.css.zst",
            "sub/page.html",
            "sub/page.html.br",
            "sub/page.html.gz",
            "sub/page.html.zst",
        ];
        assert_eq!(files, expected, "no temporary file left, nothing else made");
        let summary = report.to_string();
        assert!(summary.contains("Scanned 8 files"), "{summary}");
        assert!(summary.contains("saved ("), "{summary}");
    }

    #[test]
    fn a_second_run_skips_up_to_date_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(root, "a.js", &text(8_000));
        let b = put(root, "b.css", &text(8_000));
        let first = run(root, &options()).unwrap();
        assert_eq!(first.sidecars_written, 6);
        let before = all_files(root);

        let second = run(root, &options()).unwrap();
        assert!(second.errors.is_empty(), "{:?}", second.errors);
        assert_eq!(second.sidecars_written, 0);
        assert_eq!(second.files_compressed, 0);
        assert_eq!(second.sidecars_skipped_up_to_date, 6);
        // Sidecars of sidecars are never made.
        assert_eq!(all_files(root), before);
        assert_eq!(second.bytes_after_best, first.bytes_after_best);

        // A newer file gets new sidecars; the other stays as it was.
        let newer = text(9_000);
        fs::write(&b, &newer).unwrap();
        File::options()
            .write(true)
            .open(&b)
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(5))
            .unwrap();
        let third = run(root, &options()).unwrap();
        assert_eq!(third.sidecars_written, 3);
        assert_eq!(third.sidecars_skipped_up_to_date, 3);
        for encoding in CODINGS {
            let packed = fs::read(sidecar_path(&b, encoding)).unwrap();
            assert_eq!(decode(encoding, &packed), newer);
        }
    }

    #[test]
    fn sidecars_not_smaller_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let noise = put(root, "noise.txt", &random(8_000));
        // A stale sidecar from an older version of the file.
        let stale = sidecar_path(&noise, Encoding::Gzip);
        fs::write(&stale, b"old").unwrap();
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();

        let report = run(root, &options()).unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.files_eligible, 1);
        assert_eq!(report.sidecars_written, 0);
        assert_eq!(report.files_compressed, 0);
        assert_eq!(report.sidecars_not_smaller, 3);
        assert_eq!(report.stale_sidecars_removed, 1);
        assert_eq!(report.bytes_after_best, report.bytes_before);
        assert_eq!(all_files(root), ["noise.txt"]);
        assert!(report.to_string().contains("(0.0%)"), "{report}");
    }

    #[test]
    fn symlinks_out_of_the_root_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let secret = put(outside.path(), "secret.js", &text(8_000));
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let inside = put(root, "real/app.js", &text(8_000));
        std::os::unix::fs::symlink(&secret, root.join("leak.js")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        // A loop: a folder linking to its parent.
        std::os::unix::fs::symlink(root, root.join("real/loop")).unwrap();
        std::os::unix::fs::symlink(&inside, root.join("alias.js")).unwrap();

        let report = run(root, &options()).unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            all_files(outside.path()),
            ["secret.js"],
            "nothing written outside"
        );
        assert!(!root.join("leak.js.br").exists());
        assert!(root.join("real/app.js.br").exists());
        // A link to a file inside the root is served, so it gets sidecars.
        assert!(root.join("alias.js.br").exists());
        assert_eq!(report.files_eligible, 2);
    }

    #[test]
    fn a_missing_root_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert!(run(&dir.path().join("nope"), &options()).is_err());
        let file = put(dir.path(), "f.txt", b"x");
        assert!(run(&file, &options()).is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 bytes");
        assert_eq!(human(1023), "1023 bytes");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 * 1024 * 1024), "3.0 MiB");
    }
}
