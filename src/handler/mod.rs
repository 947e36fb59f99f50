//! The application: a GET or HEAD request becomes a response. It knows no sockets
//! and no protocol version. The pipeline, in order:
//!
//! 1. sanitise the path: control characters and escapes above the root are 400,
//!    dotfiles 404 unless hidden files are enabled (`files::path`);
//! 2. open it beneath the root: missing or outside is 404, unreadable 403, any
//!    other failure 500 (`files::resolve`, `status`);
//! 3. a directory: without a trailing slash, 301 to the slash form (query kept);
//!    with `--archive` and `?download=`, the folder as a zip or tar.gz built
//!    while it is sent (`archive`); else the first index file that exists; else
//!    the listing (HTML, or JSON on `Accept: application/json`), built off the
//!    runtime's threads;
//! 4. a file (`file`): validators, then preconditions (304, 412), then Range on
//!    GET (206, multipart 206, 416), else the whole file, streamed by the
//!    protocol engine; Content-Type, `nosniff`, Cache-Control throughout.
//!
//! In development mode ([`dev`]) responses say `no-cache`, HTML pages get the
//! live-reload script, and [`dev::LIVE_PATH`] is the stream that triggers it.

pub mod archive;
pub mod cache_control;
pub mod compress;
pub mod compress_cache;
pub mod conditional;
pub mod content_tag;
pub mod dev;
mod file;
pub mod headers;
pub mod listing;
pub mod listing_cache;
pub mod look;
pub mod negotiate;
pub mod range;
pub mod status;
pub mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};

use crate::body::Body;
use crate::files::cache::{CacheOptions, FileCache, Lookup};
use crate::files::{self, Opened, Root, SafePath};
use crate::metrics::CacheFigures;
use crate::response::Reply;
use cache_control::CachePolicy;
use compress::{CompressOptions, Compressor};
use content_tag::ContentTags;
use file::Prepared;
use listing::Sort;
use listing_cache::{Listed, ListingCache, PageKey};
pub use status::{status_for, ErrorPages, PageError};

/// Entries read for one listing at most: the page and the entry list are built
/// in memory, so a folder of millions of files must not become a gigabyte.
pub const MAX_LISTING_ENTRIES: usize = 100_000;

/// How files are served.
#[derive(Debug, Clone)]
pub struct Options {
    /// Index file names, tried in order in a directory.
    pub index: Vec<String>,
    /// Whether directories without an index are listed (else 404).
    pub listing: bool,
    /// Whether dotfiles are served and listed.
    pub hidden: bool,
    /// Whether folders answer `?download=zip|tar.gz` with an archive
    /// ([`archive`]).
    pub archive: bool,
    /// Folder of custom error pages.
    pub error_pages: Option<PathBuf>,
    /// Entries shown in one listing at most.
    pub max_listing_entries: usize,
    /// Which Cache-Control files get.
    pub cache: CachePolicy,
    /// How ETags are made.
    pub etag: EtagMode,
    /// Ranges honoured in one request; more get the whole file.
    pub max_ranges: usize,
    /// Limits of the open-file cache.
    pub file_cache: CacheOptions,
    /// Whether `FILE.br`, `FILE.zst`, `FILE.gz` beside a file are served as its
    /// compressed representations.
    pub precompressed: bool,
    /// On-the-fly compression.
    pub compress: CompressOptions,
    /// Development mode: `no-cache` on every response, the live-reload script
    /// in HTML pages, and the event stream at [`dev::LIVE_PATH`].
    pub dev: bool,
    /// Uploads, new folders and deletes ([`upload`]); all off by default.
    pub share: upload::ShareOptions,
}

/// How ETags are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EtagMode {
    /// From inode, size and modification time: free, and changes with the file.
    #[default]
    Metadata,
    /// From a hash of the bytes, computed in the background: identical files get
    /// identical tags on every host.
    Content,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            index: vec!["index.html".to_string()],
            listing: true,
            hidden: false,
            archive: false,
            error_pages: None,
            max_listing_entries: MAX_LISTING_ENTRIES,
            cache: CachePolicy {
                fingerprint_defaults: true,
                ..CachePolicy::default()
            },
            etag: EtagMode::Metadata,
            max_ranges: range::MAX_RANGES,
            file_cache: CacheOptions::default(),
            precompressed: true,
            compress: CompressOptions::default(),
            dev: false,
            share: upload::ShareOptions::default(),
        }
    }
}

/// Why a handler could not be built.
#[derive(Debug)]
pub enum StartError {
    /// The root folder cannot be opened.
    Root(PathBuf, std::io::Error),
    /// A custom error page cannot be loaded.
    ErrorPage(PageError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Root(path, e) => write!(f, "root {}: {e}", path.display()),
            StartError::ErrorPage(e) => write!(f, "error page {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Root(_, e) => Some(e),
            StartError::ErrorPage(e) => Some(e),
        }
    }
}

/// The caches and work limits that every handler of a server shares, so that
/// their bounds hold for the process however many sites it serves: the
/// open-file cache, content tags, the compressed-response cache with the
/// limits on compression in progress, rendered listings, and the live-reload
/// hub of development mode. Entries are keyed
/// by root ([`files::Root::id`]) or by file identity, so two roots never
/// collide. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Shared {
    content_tags: Arc<ContentTags>,
    files: Arc<FileCache<Prepared>>,
    compressor: Compressor,
    listings: Arc<ListingCache>,
    live: dev::LiveHub,
    archives: archive::Slots,
}

impl Shared {
    /// Empty caches with these bounds. `compress` supplies the process-wide
    /// parts: the cache's size and the limits on compression in progress.
    pub fn new(file_cache: CacheOptions, compress: CompressOptions) -> Shared {
        Shared {
            content_tags: ContentTags::new(content_tag::MAX_TAGS),
            files: Arc::new(FileCache::new(file_cache)),
            compressor: Compressor::new(compress),
            listings: Arc::new(ListingCache::new(
                file_cache.revalidate,
                listing_cache::MAX_BYTES,
            )),
            live: dev::LiveHub::new(),
            archives: archive::Slots::default(),
        }
    }

    /// The live-reload hub of development mode: the server's watcher tells
    /// it of changes, and closes it at shutdown.
    pub fn live(&self) -> &dev::LiveHub {
        &self.live
    }

    /// Drops what is cached for the root numbered `root` (a folder that was
    /// replaced): its descriptors close once no response holds them.
    pub fn forget_root(&self, root: u64) {
        self.files.forget_root(root);
        self.listings.forget_root(root);
    }

    /// The caches' and the compressor's figures, for the metrics.
    pub fn stats(&self) -> Stats {
        let cache = self.compressor.cache();
        Stats {
            files: self.files.figures(),
            listings: self.listings.figures(),
            compressed: cache.figures(),
            compressing: u64::try_from(self.compressor.active_streams()).unwrap_or(u64::MAX),
            compress_fallbacks: self.compressor.fallbacks(),
        }
    }
}

/// What [`Shared::stats`] reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// The open-file cache.
    pub files: CacheFigures,
    /// Rendered listings.
    pub listings: CacheFigures,
    /// Compressed responses.
    pub compressed: CacheFigures,
    /// Compressed responses in progress (streams alive).
    pub compressing: u64,
    /// Responses sent uncompressed because every compression slot was taken.
    pub compress_fallbacks: u64,
}

/// Serves a folder.
#[derive(Debug, Clone)]
pub struct Handler {
    root: Root,
    options: Arc<Options>,
    pages: Arc<ErrorPages>,
    content_tags: Arc<ContentTags>,
    files: Arc<FileCache<Prepared>>,
    compressor: Compressor,
    listings: Arc<ListingCache>,
    live: dev::LiveHub,
    archives: archive::Slots,
}

impl Handler {
    /// Opens the root and loads the error pages, with caches of its own.
    pub fn new(root: &Path, options: Options) -> Result<Handler, StartError> {
        let root = Root::open(root).map_err(|e| StartError::Root(root.to_path_buf(), e))?;
        Self::with_root(root, options)
    }

    /// A handler over an already opened root (to choose its confinement), with
    /// caches of its own.
    pub fn with_root(root: Root, options: Options) -> Result<Handler, StartError> {
        let shared = Shared::new(options.file_cache, options.compress.clone());
        Self::with_shared(root, options, &shared)
    }

    /// A handler over an opened root that uses `shared`'s caches (one of the
    /// sites of a server). `options.file_cache` and the process-wide parts of
    /// `options.compress` are those of `shared`, not these.
    pub fn with_shared(
        root: Root,
        options: Options,
        shared: &Shared,
    ) -> Result<Handler, StartError> {
        let pages =
            ErrorPages::load(options.error_pages.as_deref()).map_err(StartError::ErrorPage)?;
        Ok(Handler {
            root,
            options: Arc::new(options),
            pages: Arc::new(pages),
            content_tags: shared.content_tags.clone(),
            files: shared.files.clone(),
            compressor: shared.compressor.clone(),
            listings: shared.listings.clone(),
            live: shared.live.clone(),
            archives: shared.archives.clone(),
        })
    }

    /// Opens the folder at `path` and serves it with `shared`'s caches.
    pub fn open_shared(
        path: &Path,
        options: Options,
        shared: &Shared,
    ) -> Result<Handler, StartError> {
        let root = Root::open(path).map_err(|e| StartError::Root(path.to_path_buf(), e))?;
        Self::with_shared(root, options, shared)
    }

    /// Which changes (uploads, new folders, deletes) this root allows.
    pub fn share(&self) -> &upload::ShareOptions {
        &self.options.share
    }

    /// The number of the opened root (see [`files::Root::id`]).
    pub fn root_id(&self) -> u64 {
        self.root.id()
    }

    /// Whether the folder this handler holds open is the one `now` (the
    /// metadata of its configured path) describes: the same device and inode,
    /// and not removed meanwhile (a removed folder's inode number may be
    /// reused by the next one made at the same path).
    pub fn serves_folder(&self, now: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        let removed = self.root.dir_links().map_or(true, |links| links == 0);
        match self.root.dir_identity() {
            Ok(held) => held.dev() == now.dev() && held.ino() == now.ino() && !removed,
            Err(_) => false,
        }
    }

    /// The served folder's canonical path.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Answers a GET or HEAD request.
    pub async fn respond(&self, req: &Request<()>) -> Response<Body> {
        let mut tags = Tags::Wait;
        loop {
            return match self.resolve(req, tags) {
                Ok(Resolved::Response(reply)) => reply.into_response(),
                Ok(Resolved::Listing(listing)) => match self.listing(req, listing).await {
                    Ok(response) => response,
                    Err(error) => self.refusal(req, error),
                },
                // The first request for a file version waits for its content
                // tag (one hash, shared by every request that waits), then
                // resolves again; once only.
                Ok(Resolved::Hashing(pending)) => {
                    self.content_tags.tag(&pending.file, &pending.meta).await;
                    tags = Tags::Settle;
                    continue;
                }
                Err(error) => self.refusal(req, error),
            };
        }
    }

    /// The answer when it needs no waiting, which is every answer but a folder
    /// listing to render: an engine can then skip the future of
    /// [`Handler::respond`]. `None` for a listing not in the listing cache (ask
    /// `respond`, which resolves the request again: once per folder and second).
    pub fn respond_now(&self, req: &Request<()>) -> Option<Reply> {
        match self.resolve(req, Tags::Wait) {
            Ok(Resolved::Response(reply)) => Some(reply),
            Ok(Resolved::Listing(listing)) => self.cached_listing(req, &listing).map(Reply::from),
            Ok(Resolved::Hashing(_)) => None,
            Err(error) => Some(self.refusal(req, error).into()),
        }
    }

    /// The error page for `error`, logged by how much it deserves notice.
    fn refusal(&self, req: &Request<()>, error: files::Error) -> Response<Body> {
        match &error {
            files::Error::Forbidden => {
                tracing::warn!(path = req.uri().path(), "permission denied")
            }
            files::Error::Outside => tracing::info!(
                path = req.uri().path(),
                "refused: resolves outside the root"
            ),
            files::Error::Io(e) => {
                tracing::error!(path = req.uri().path(), error = %e, "cannot serve")
            }
            files::Error::RootGone => tracing::warn!(
                root = %self.root.path().display(),
                "the root folder was removed: 503 until it is back"
            ),
            files::Error::NotFound | files::Error::BadPath(_) => {}
        }
        self.error_response(status_for(&error))
    }

    /// The page for an error status.
    pub fn error_response(&self, status: StatusCode) -> Response<Body> {
        let mut response = self.pages.response(status);
        if self.options.dev {
            // The built-in page's policy allows no script: the live-reload
            // one would be blocked (development mode serves a laptop).
            response
                .headers_mut()
                .remove(header::CONTENT_SECURITY_POLICY);
            dev::inject_response(&mut response);
        }
        response
    }

    /// Everything up to a response, or up to the folder listing that is one.
    /// A miss or a listing first checks that the root folder still exists:
    /// a removed root must answer 503, never 404s and empty listings (one
    /// `fstat`, only on those answers).
    fn resolve(&self, req: &Request<()>, tags: Tags) -> Result<Resolved, files::Error> {
        let resolved = self.resolve_path(req, tags);
        match &resolved {
            Ok(Resolved::Listing(_)) | Err(files::Error::NotFound) if self.root_removed() => {
                Err(files::Error::RootGone)
            }
            _ => resolved,
        }
    }

    fn root_removed(&self) -> bool {
        self.root.dir_links().map_or(true, |links| links == 0)
    }

    fn resolve_path(&self, req: &Request<()>, tags: Tags) -> Result<Resolved, files::Error> {
        let path = files::sanitize(req.uri().path(), self.options.hidden)?;
        let rel = path.relative();
        let dir = match self.lookup(rel)? {
            Lookup::File(entry) if path.has_trailing_slash() => {
                drop(entry);
                return Err(files::Error::NotFound);
            }
            Lookup::File(entry) => return Ok(self.file_or_wait(req, rel, &entry, tags)),
            Lookup::Dir(dir) => dir,
        };
        if !path.has_trailing_slash() && !path.is_root() {
            let redirect = redirect_to_slash(&path, req.uri().query());
            return Ok(Resolved::Response(redirect.into()));
        }
        // The archive is of the folder: index files and `listing` do not matter.
        let query = req.uri().query();
        if let Some(format) = self
            .options
            .archive
            .then(|| archive::asked(query))
            .flatten()
        {
            return Ok(Resolved::Response(self.archive(req, &path, dir, format)));
        }
        for index in &self.options.index {
            match self.lookup(&rel.join(index)) {
                Ok(Lookup::File(entry)) => {
                    return Ok(self.file_or_wait(req, &rel.join(index), &entry, tags));
                }
                Ok(Lookup::Dir(_)) | Err(files::Error::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        if !self.options.listing {
            return Err(files::Error::NotFound);
        }
        let rel = rel.to_path_buf();
        let path = path.into_owned();
        Ok(Resolved::Listing(Listing {
            root: self.root.id(),
            path,
            rel,
            dir,
        }))
    }

    /// Whether `path` (a URL path, percent-encoded) names something this
    /// handler serves: a regular file, or a folder with one of the index files.
    /// For `try_files` and single-page fallbacks; goes through the open-file
    /// cache like a request.
    pub fn serves(&self, path: &str) -> bool {
        let Ok(path) = files::sanitize(path, self.options.hidden) else {
            return false;
        };
        let rel = path.relative();
        match self.lookup(rel) {
            Ok(Lookup::File(_)) => !path.has_trailing_slash(),
            // A folder only as `dir/` (try_files' `{path}/`), and only with an
            // index file: `{path}` alone names files, as in nginx.
            Ok(Lookup::Dir(_)) => path.has_trailing_slash() && self.index_of(rel).is_some(),
            Err(_) => false,
        }
    }

    /// The index file that answers for the folder `rel`, if any.
    fn index_of(&self, rel: &Path) -> Option<&str> {
        self.options
            .index
            .iter()
            .find(|index| matches!(self.lookup(&rel.join(index)), Ok(Lookup::File(_))))
            .map(String::as_str)
    }

    /// For a request path naming a folder (with its slash) that an index
    /// file answers: that file's URL path, so that routes see the path that
    /// is served (an index behind a protected route stays protected).
    pub fn index_path(&self, path: &str) -> Option<String> {
        // Most requests name a file: answered before any work.
        if !path.ends_with('/') {
            return None;
        }
        let safe = files::sanitize(path, self.options.hidden).ok()?;
        if !safe.has_trailing_slash() && !safe.is_root() {
            return None;
        }
        let rel = safe.relative();
        match self.lookup(rel) {
            Ok(Lookup::Dir(_)) => {
                let index = self.index_of(rel)?;
                Some(format!(
                    "{}{}",
                    safe.to_url(true),
                    files::path::encode_segment(index.as_bytes())
                ))
            }
            _ => None,
        }
    }

    /// The file's answer, or [`Resolved::Hashing`] when `--etag content`
    /// needs a tag that is not known yet: no response carries a metadata tag
    /// where a content tag is promised (instances behind one balancer must
    /// agree from the first response).
    fn file_or_wait(
        &self,
        req: &Request<()>,
        rel: &Path,
        entry: &files::cache::Cached<Prepared>,
        tags: Tags,
    ) -> Resolved {
        let hashed_here = entry.contents.is_some()
            || (self.options.dev && dev::is_html(&entry.payload.content_type_text));
        if tags == Tags::Wait
            && self.options.etag == EtagMode::Content
            && !hashed_here
            && self.content_tags.ready(&entry.meta).is_none()
        {
            return Resolved::Hashing(Pending {
                file: entry.file.clone(),
                meta: entry.meta.clone(),
            });
        }
        Resolved::Response(self.file_response(req, rel, entry))
    }

    /// Opens `rel` through the open-file cache.
    fn lookup(&self, rel: &Path) -> Result<Lookup<Prepared>, files::Error> {
        self.files.lookup(&self.root, rel, |meta, contents| {
            self.prepare(rel, meta, contents)
        })
    }

    async fn listing(
        &self,
        req: &Request<()>,
        listing: Listing,
    ) -> Result<Response<Body>, files::Error> {
        let ask = PageAsk::of(req, &listing);
        let json = ask.key.json;
        let page = match self.listings.get(&ask.key, ask.identity) {
            Some(page) => page,
            None => {
                let Listing { path, rel, dir, .. } = listing;
                let page = self.render_listing(path, rel, dir, ask.sort, json).await?;
                self.listings.insert(ask.key, ask.identity, page.clone());
                page
            }
        };
        let coding = self.listing_coding(req, page.body.len());
        let mut response = self.listing_response(req, &page, json, coding.is_some());
        if let Some(coding) = coding.filter(|_| response.status() == StatusCode::OK) {
            compress_listing(&mut response, coding).await;
        }
        Ok(response)
    }

    /// The page from the listing cache, when it holds this version of it and
    /// the answer needs no compressing (which runs off the runtime's threads).
    fn cached_listing(&self, req: &Request<()>, listing: &Listing) -> Option<Response<Body>> {
        // Whatever the page's size: a page worth compressing goes async.
        if self.listing_coding(req, usize::MAX).is_some() {
            return None;
        }
        let ask = PageAsk::of(req, listing);
        let page = self.listings.peek(&ask.key, ask.identity)?;
        Some(self.listing_response(req, &page, ask.key.json, false))
    }

    /// The answer for a rendered listing, before compression: 304 when the
    /// client's copy is current, else the page with a fresh nonce and the
    /// policy naming it. A 304 carries no policy, so a cached page keeps the
    /// one that names its nonce (RFC 9111 §4.3.4 updates stored fields).
    ///
    /// `whole` asks for the body in one piece (to compress it); else a large
    /// page goes as its stamped head and the cached rest, uncopied.
    fn listing_response(
        &self,
        req: &Request<()>,
        page: &Listed,
        json: bool,
        whole: bool,
    ) -> Response<Body> {
        let etag = page.etag.to_str().unwrap_or_default();
        let validators = conditional::Validators {
            etag,
            modified: None,
        };
        let mut response = match conditional::evaluate(req.headers(), req.method(), validators) {
            conditional::Precondition::Proceed => {
                let mut response = if json {
                    Response::new(Body::Bytes(page.body.clone()))
                } else {
                    let nonce = look::nonce();
                    let mut response = Response::new(stamped(page, &nonce, whole));
                    let csp = look::listing_csp(std::str::from_utf8(&nonce).unwrap_or_default());
                    if let Ok(csp) = HeaderValue::from_str(&csp) {
                        response
                            .headers_mut()
                            .insert(header::CONTENT_SECURITY_POLICY, csp);
                    }
                    response
                };
                let content_type = if json {
                    // JSON defines no charset parameter (RFC 8259 §11): it is UTF-8.
                    "application/json"
                } else {
                    "text/html; charset=utf-8"
                };
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                headers.insert(
                    "x-content-type-options",
                    HeaderValue::from_static("nosniff"),
                );
                if json {
                    let summary = page.summary;
                    for (name, value) in [
                        ("ferrox-folders", summary.folders),
                        ("ferrox-files", summary.files),
                        ("ferrox-bytes", summary.bytes),
                    ] {
                        headers.insert(name, HeaderValue::from(value));
                    }
                }
                response
            }
            conditional::Precondition::NotModified => {
                let mut response = Response::new(Body::Empty);
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                response
            }
            conditional::Precondition::Failed => {
                return self.error_response(StatusCode::PRECONDITION_FAILED)
            }
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, page.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        );
        response
    }

    /// The coding a listing answer is compressed with, if any: only a page
    /// (not a 304), worth compressing, and a coding the client prefers.
    fn listing_coding(&self, req: &Request<()>, len: usize) -> Option<crate::codec::Encoding> {
        if !self.options.compress.enabled || (len as u64) < crate::codec::MIN_SIZE {
            return None;
        }
        let accepted = negotiate::Accepted::parse(
            req.headers()
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        );
        accepted
            .choose(&crate::codec::CODINGS)
            .filter(|coding| *coding != crate::codec::Encoding::Identity)
    }

    /// Reads and renders a listing on the blocking pool: a large folder takes
    /// milliseconds.
    async fn render_listing(
        &self,
        path: SafePath<'static>,
        rel: PathBuf,
        dir: Opened,
        sort: Sort,
        wants_json: bool,
    ) -> Result<Arc<Listed>, files::Error> {
        let root = self.root.clone();
        let options = self.options.clone();
        let page = tokio::task::spawn_blocking(move || -> Result<Listed, files::Error> {
            // Reading stops at the cap: the memory bound holds however big the folder.
            let (mut entries, truncated) =
                root.read_dir(&rel, &dir.file, options.hidden, options.max_listing_entries)?;
            if options.precompressed {
                listing::hide_sidecars(&mut entries);
            }
            sort.apply(&mut entries);
            let summary = listing::Summary::of(&entries);
            if wants_json {
                let body = Bytes::from(listing::json(&entries));
                return Ok(Listed::new(body, Vec::new(), summary));
            }
            let readme = read_readme(&root, &rel, &entries).map(|md| listing::readme::render(&md));
            let cx = listing::Context {
                path: &path,
                sort,
                truncated,
                offers: listing::Offers {
                    archive: options.archive,
                    upload: options.share.upload,
                    mkdir: options.share.mkdir,
                    delete: options.share.delete,
                },
                readme: readme.as_deref(),
                extra_script: options.dev.then_some(dev::LIVE_JS),
            };
            let page = listing::html(&cx, &entries);
            Ok(Listed::new(Bytes::from(page.text), page.nonce_at, summary))
        })
        .await
        .map_err(|e| files::Error::Io(std::io::Error::other(e)))??;
        Ok(Arc::new(page))
    }
}

/// The folder's README (the first of [`listing::readme::NAMES`] listed as a
/// file), read through the root's confined opens; `None` when there is none,
/// it is too big, or it cannot be read.
fn read_readme(root: &Root, rel: &Path, entries: &[files::Entry]) -> Option<String> {
    use std::io::Read as _;
    let name = listing::readme::NAMES.iter().find(|name| {
        entries
            .iter()
            .any(|e| !e.is_dir && e.name.as_slice() == **name)
    })?;
    let name = std::str::from_utf8(name).ok()?;
    let opened = root.open_file(&rel.join(name)).ok()?;
    if !opened.meta.is_file() || opened.meta.len() > listing::readme::MAX_BYTES {
        return None;
    }
    let mut text = Vec::new();
    (&opened.file)
        .take(listing::readme::MAX_BYTES)
        .read_to_end(&mut text)
        .ok()?;
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// Pages up to this size are stamped as one copy; larger ones as a copied
/// head (where the nonces are) and the cached rest, shared.
const STAMP_COPY_MAX: usize = 32 * 1024;

/// The page with `nonce` in its slots. The slots are in the head (the style
/// and script tags), so a large page (thousands of entries) costs a copy of
/// its head, not of its rows.
fn stamped(page: &Listed, nonce: &[u8; listing::NONCE_LEN], whole: bool) -> Body {
    let split = page
        .nonce_at
        .iter()
        .max()
        .map_or(0, |at| at + listing::NONCE_LEN)
        .min(page.body.len());
    if whole || page.body.len() <= STAMP_COPY_MAX {
        let body = listing::stamp(&page.body, &page.nonce_at, nonce);
        return Body::Bytes(Bytes::from(body));
    }
    let head = listing::stamp(
        page.body.get(..split).unwrap_or_default(),
        &page.nonce_at,
        nonce,
    );
    Body::Parts(vec![
        crate::body::Part::Bytes(Bytes::from(head)),
        crate::body::Part::Bytes(page.body.slice(split..)),
    ])
}

/// Compresses a listing page on the blocking pool (a page of thousands of
/// entries takes milliseconds); on failure the page goes as it is.
async fn compress_listing(response: &mut Response<Body>, coding: crate::codec::Encoding) {
    let Body::Bytes(page) = response.body() else {
        return;
    };
    let page = page.clone();
    let compressed = tokio::task::spawn_blocking(move || {
        crate::codec::compress_to_vec(&page, coding, &crate::codec::ON_THE_FLY)
    })
    .await;
    if let Ok(Ok(compressed)) = compressed {
        *response.body_mut() = Body::Bytes(Bytes::from(compressed));
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.token()),
        );
    }
}

/// A request path as routes match it: the path that would be served,
/// percent-decoded once, with dot-segments resolved and empty segments
/// dropped, never the raw target (so `/%61dmin/x`, `//admin/x`, `/./admin/x`
/// and `/x/../admin/x` are all `admin/x`). Dotfiles are allowed here; the
/// file rules apply when serving.
#[derive(Debug)]
pub struct RoutePath<'a>(SafePath<'a>);

impl RoutePath<'_> {
    /// The path of `raw` (the target's path), or the status that refuses it
    /// (a control character, a path above the root).
    pub fn of(raw: &str) -> Result<RoutePath<'_>, StatusCode> {
        files::sanitize(raw, true)
            .map(RoutePath)
            .map_err(|e| status_for(&e))
    }

    /// Decoded, without its leading or trailing `/` (`admin/x`).
    pub fn bytes(&self) -> &[u8] {
        self.0.bytes()
    }

    /// Whether the request path ended in `/`.
    pub fn has_trailing_slash(&self) -> bool {
        self.0.has_trailing_slash()
    }

    /// As a percent-encoded URL path, with its trailing slash if it had one.
    pub fn to_url(&self) -> String {
        self.0.to_url(self.0.has_trailing_slash())
    }

    /// The last segment, decoded (empty for the root).
    pub fn last_segment(&self) -> &[u8] {
        self.0.segments().last().unwrap_or_default()
    }
}

/// Where resolving a request ends.
enum Resolved {
    Response(Reply),
    /// A folder to list: rendering it waits on the blocking pool.
    Listing(Listing),
    /// A file whose content tag is not known yet (`--etag content`).
    Hashing(Pending),
}

/// A file version to hash before it is answered.
struct Pending {
    file: Arc<std::fs::File>,
    meta: std::fs::Metadata,
}

/// Whether resolving a file may stop to wait for its content tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tags {
    /// Stop at a file whose content tag is unknown ([`Resolved::Hashing`]).
    Wait,
    /// After waiting: answer with whatever tag there is (the content tag, or
    /// the metadata one when hashing failed because the file changed).
    Settle,
}

/// A folder whose listing was asked for.
struct Listing {
    root: u64,
    path: SafePath<'static>,
    rel: PathBuf,
    dir: Opened,
}

/// Which page of a folder a request asks for, and which version of the folder.
struct PageAsk {
    key: PageKey,
    identity: files::FileIdentity,
    sort: Sort,
}

impl PageAsk {
    fn of(req: &Request<()>, listing: &Listing) -> PageAsk {
        let json = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        let sort = Sort::from_query(req.uri().query());
        PageAsk {
            key: PageKey {
                root: listing.root,
                dir: listing.rel.clone(),
                sort: (sort.key as u8, sort.descending),
                json,
            },
            identity: files::FileIdentity::of(&listing.dir.meta),
            sort,
        }
    }
}

/// 301 to the slash form. The location is rebuilt from the normalised path and
/// percent-encoded, so no byte of the request reaches the header raw.
fn redirect_to_slash(path: &SafePath<'_>, query: Option<&str>) -> Response<Body> {
    let mut location = path.to_url(true);
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    // A query that is not a valid field value (it cannot be: the URI parser
    // refuses such bytes) would be dropped rather than sent raw.
    let value =
        HeaderValue::from_str(&location).or_else(|_| HeaderValue::from_str(&path.to_url(true)));
    if let Ok(value) = value {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
