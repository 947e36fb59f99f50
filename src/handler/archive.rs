//! Folder archives: `GET /dir/?download=zip` or `?download=tar.gz` answers the
//! folder as one archive, built while it is sent (`--archive`, off by default).
//!
//! The request side lives here: reading the query, the bound on archives at
//! once ([`MAX_ARCHIVES`], over it 503 with `Retry-After`), the response's
//! fields (`Content-Disposition` from the folder's name, never a raw request
//! byte), and the body. The producer (the walk and the two formats) is
//! [`build`].
//!
//! Limits: entries read for one archive (files and folders, skipped ones
//! included) at most as many as a listing shows (`max_listing_entries`,
//! [`super::MAX_LISTING_ENTRIES`] by default), since a zip's central directory
//! stays in memory until its end; folders at most [`MAX_DEPTH`] deep. Past
//! either the download fails.
//!
//! The body is streamed as it is built: on the first poll a thread of the
//! blocking pool walks the folder and writes the archive into a channel of at
//! most [`CHANNEL_CHUNKS`] chunks of [`CHUNK`] bytes, which the connection
//! drains. Memory is bounded whatever the folder's size, and nothing is
//! written to disk. A client that reads slowly blocks the producer (the
//! channel is full); a client that goes away drops the body, which closes the
//! channel: the producer's next write fails and it stops, releasing its slot.
//! A failure after the head was sent (a file that shrinks, a limit reached)
//! ends the body with an error, so the engine cuts the response off (no last
//! chunk on HTTP/1.1, a reset stream on HTTP/2) and the client sees an
//! incomplete download, never a short archive that looks whole.

mod build;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::Handler;
use crate::body::{Body, ChunkStream};
use crate::files::{Opened, SafePath};
use crate::response::Reply;
use build::Job;

/// Archives built at once per server, at most. Each holds a thread of the
/// blocking pool while it has output room, one compressor (deflate at level 1:
/// about 300 KiB) and its channel; a zip also keeps its central directory
/// (about 150 bytes an entry) until the end. Four keep a burst of downloads
/// from taking both cores of a small machine or the blocking pool.
pub const MAX_ARCHIVES: usize = 4;

/// Seconds a client refused for [`MAX_ARCHIVES`] is asked to wait.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Bytes of archive sent at once: the size of one chunk of the body.
pub const CHUNK: usize = 64 * 1024;

/// Chunks waiting to be sent, at most: with [`CHUNK`], 256 KiB of an archive
/// in memory between the producer and the connection.
pub const CHANNEL_CHUNKS: usize = 4;

/// Folders deep below the archived one, at most; past it the download fails.
/// (A symlink to a folder that is already being archived is left out, so a
/// loop of links never reaches it.)
pub const MAX_DEPTH: usize = 32;

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `download=zip`: deflate (level 1) for compressible types, stored for
    /// the rest; data descriptors and zip64 as needed.
    Zip,
    /// `download=tar.gz`: a tar (GNU long names) through gzip level 1.
    TarGz,
}

impl Format {
    /// The `download=` value.
    pub fn token(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::TarGz => "tar.gz",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Zip => "application/zip",
            Format::TarGz => "application/gzip",
        }
    }
}

/// What the query asks for: `None` without a `download` key, `Some(None)` for
/// a value that is not a format (400), the format otherwise. The first
/// `download` key counts.
pub fn asked(query: Option<&str>) -> Option<Option<Format>> {
    let value = query?
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some(("download", value)) => Some(value),
            None if pair == "download" => Some(""),
            _ => None,
        })?;
    Some(match value {
        "zip" => Some(Format::Zip),
        "tar.gz" => Some(Format::TarGz),
        _ => None,
    })
}

/// Which entries an archive may hold, decided by whoever put the handler
/// behind rules of its own (a site's routes): called with each entry's URL
/// path (percent-encoded; folders with their `/`), `false` leaves it out, and
/// a folder with all it holds. A request extension; without it every entry
/// the serving rules allow is in.
#[derive(Clone)]
pub struct Entries(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl Entries {
    /// Entries for which `allows` says `true`.
    pub fn new(allows: impl Fn(&str) -> bool + Send + Sync + 'static) -> Entries {
        Entries(Arc::new(allows))
    }

    fn allows(&self, url: &str) -> bool {
        (self.0)(url)
    }
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entries(..)")
    }
}

/// The slots of archives in progress, shared by every handler of a server.
#[derive(Debug, Clone)]
pub struct Slots(Arc<Semaphore>);

impl Default for Slots {
    fn default() -> Self {
        Slots(Arc::new(Semaphore::new(MAX_ARCHIVES)))
    }
}

/// The hint of the 400 page for a `download=` value that names no format.
/// Fixed text: the value itself is never echoed.
const BAD_FORMAT_HINT: &str = "This folder can be downloaded with <code>?download=zip</code> or \
<code>?download=tar.gz</code>; no other format is offered.";

/// Characters kept as they are in `filename*` (RFC 8187 `attr-char`).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

impl Handler {
    /// Whether `req` asks this handler for an archive (a folder URL with
    /// `download=` while archives are on): such a request is not its folder's
    /// index file, and its entries may be chosen ([`Entries`]).
    pub fn asks_archive(&self, req: &Request<()>) -> bool {
        self.options.archive
            && req.uri().path().ends_with('/')
            && asked(req.uri().query()).is_some()
    }

    /// The answer to `?download=` on the folder `dir` (the request path
    /// `path`, `rel` beneath the root): the archive, 400 for an unknown
    /// format, 503 when [`MAX_ARCHIVES`] are being built.
    pub(super) fn archive(
        &self,
        req: &Request<()>,
        path: &SafePath<'_>,
        dir: Opened,
        format: Option<Format>,
    ) -> Reply {
        let Some(format) = format else {
            return self
                .pages
                .response_with_hint(StatusCode::BAD_REQUEST, BAD_FORMAT_HINT)
                .into();
        };
        let name = folder_name(req, path);
        let body = if *req.method() == Method::HEAD {
            // GET's head without building anything (and without a slot).
            ArchiveStream { state: State::Done }
        } else {
            let Ok(permit) = self.archives.0.clone().try_acquire_owned() else {
                tracing::info!(
                    path = %path.to_url(true),
                    "archive refused: {MAX_ARCHIVES} being built"
                );
                let mut response = self.error_response(StatusCode::SERVICE_UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                return response.into();
            };
            ArchiveStream {
                state: State::Ready(Box::new(Job {
                    root: self.root.clone(),
                    rel: path.relative().to_path_buf(),
                    dir,
                    name: name.clone(),
                    url: path.to_url(true),
                    format,
                    hidden: self.options.hidden,
                    max_entries: self.options.max_listing_entries,
                    precompressed: self.options.precompressed,
                    entries: req.extensions().get::<Entries>().cloned(),
                    _slot: permit,
                })),
            }
        };
        let mut response = Response::new(Body::Stream(Box::pin(body)));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        let file_name = format!("{name}.{}", format.token());
        if let Ok(value) = HeaderValue::from_str(&disposition(&file_name)) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        // Built anew for each request: no cache may keep or reuse it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        response.into()
    }
}

/// The archive's name, which is also its top folder: the folder's last
/// segment, or for the root the request's host (when it is a plain name or
/// address), else `root`. Characters that archive tools or terminals could
/// read as more than a name (`\`, controls) become `_`.
fn folder_name(req: &Request<()>, path: &SafePath<'_>) -> String {
    let name = match path.segments().last() {
        Some(segment) => String::from_utf8_lossy(segment).into_owned(),
        None => host_name(req).unwrap_or_else(|| "root".to_string()),
    };
    name.chars()
        .map(|c| if c == '\\' || c.is_control() { '_' } else { c })
        .collect()
}

/// The request's host without its port, lower-cased, when it is made of
/// letters, digits, `-` and `.` only (so nothing else of the request reaches
/// a header or a name).
fn host_name(req: &Request<()>) -> Option<String> {
    let host = match req.uri().host() {
        Some(host) => host,
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let plain = !host.is_empty()
        && !host.starts_with('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    plain.then(|| host.trim_end_matches('.').to_ascii_lowercase())
}

/// `Content-Disposition` for `file_name` (RFC 6266): `filename` alone when
/// the name is plain ASCII, else an ASCII stand-in and `filename*` with the
/// UTF-8 name percent-encoded.
fn disposition(file_name: &str) -> String {
    let plain = |c: char| (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%')) || c == ' ';
    let fallback: String = file_name
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .collect();
    if fallback == file_name {
        format!("attachment; filename=\"{file_name}\"")
    } else {
        format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            utf8_percent_encode(file_name, ATTR_CHAR)
        )
    }
}

/// The archive as a body: starts the producer when first polled, then hands
/// on its chunks, and at their end whether it finished or failed.
struct ArchiveStream {
    state: State,
}

enum State {
    /// Not started: the job, holding its slot.
    Ready(Box<Job>),
    /// The producer runs; its chunks arrive on `chunks`.
    Running {
        chunks: mpsc::Receiver<Bytes>,
        done: JoinHandle<io::Result<()>>,
    },
    Done,
}

impl ChunkStream for ArchiveStream {
    fn poll_chunk(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Ready(job) => {
                    let handle = tokio::runtime::Handle::try_current()
                        .map_err(|_| io::Error::other("archives need a tokio runtime"));
                    let handle = match handle {
                        Ok(handle) => handle,
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    };
                    let (tx, chunks) = mpsc::channel(CHANNEL_CHUNKS);
                    let done = handle.spawn_blocking(move || job.run(tx));
                    this.state = State::Running { chunks, done };
                }
                State::Running {
                    mut chunks,
                    mut done,
                } => match chunks.poll_recv(cx) {
                    Poll::Ready(Some(chunk)) => {
                        this.state = State::Running { chunks, done };
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    Poll::Pending => {
                        this.state = State::Running { chunks, done };
                        return Poll::Pending;
                    }
                    // The producer has dropped its end: it returned (or
                    // panicked); its result says whether the archive is whole.
                    Poll::Ready(None) => match Pin::new(&mut done).poll(cx) {
                        Poll::Pending => {
                            this.state = State::Running { chunks, done };
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(Ok(()))) => return Poll::Ready(None),
                        Poll::Ready(Ok(Err(e))) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(io::Error::other(e)))),
                    },
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_the_format() {
        assert_eq!(asked(None), None);
        assert_eq!(asked(Some("sort=name")), None);
        assert_eq!(asked(Some("download=zip")), Some(Some(Format::Zip)));
        assert_eq!(
            asked(Some("sort=size&download=tar.gz")),
            Some(Some(Format::TarGz))
        );
        assert_eq!(
            asked(Some("download=zip&download=rar")),
            Some(Some(Format::Zip))
        );
        for bad in [
            "download=rar",
            "download=",
            "download",
            "download=ZIP",
            "download=tar%2Egz",
        ] {
            assert_eq!(asked(Some(bad)), Some(None), "{bad}");
        }
        assert_eq!(asked(Some("downloads=zip")), None);
    }

    #[test]
    fn dispositions_are_plain_or_encoded() {
        assert_eq!(
            disposition("photos.zip"),
            "attachment; filename=\"photos.zip\""
        );
        assert_eq!(
            disposition("été 2026.zip"),
            "attachment; filename=\"_t_ 2026.zip\"; filename*=UTF-8''%C3%A9t%C3%A9%202026.zip"
        );
        assert_eq!(
            disposition("a\"b%c.tar.gz"),
            "attachment; filename=\"a_b_c.tar.gz\"; filename*=UTF-8''a%22b%25c.tar.gz"
        );
    }

    #[test]
    fn the_root_is_named_by_a_plain_host_only() {
        let root = crate::files::sanitize("/", false).unwrap();
        let named = |host: &str| {
            let req = Request::get("/").header("host", host).body(()).unwrap();
            folder_name(&req, &root)
        };
        assert_eq!(named("Files.Example.com:8080"), "files.example.com");
        assert_eq!(named("127.0.0.1"), "127.0.0.1");
        assert_eq!(named("[::1]:80"), "root");
        assert_eq!(named("a\"b"), "root");
        assert_eq!(named(".."), "root");
        let dir = crate::files::sanitize("/a/b%5Cc%01/", false);
        // Control characters are refused by the path rules before this.
        assert!(dir.is_err());
        let dir = crate::files::sanitize("/a/b%5Cc/", false).unwrap();
        let req = Request::get("/").body(()).unwrap();
        assert_eq!(folder_name(&req, &dir), "b_c");
    }
}
