//! The response for a regular file, in order:
//!
//! 1. the representation: for a compressible type, `Accept-Encoding` chooses
//!    among identity, precompressed sidecars (`FILE.br`, `.zst`, `.gz`, not older
//!    than FILE) and on-the-fly compression (from the compressed-response cache,
//!    or streamed); each coding has its own ETag and all of them carry
//!    `Vary: Accept-Encoding`; nothing acceptable is 406;
//! 2. preconditions against that representation's validators (304 or 412);
//! 3. Range on GET, applied to that representation (206, multipart 206, 416),
//!    except on a compressed stream of unknown length, which is sent whole;
//! 4. else the whole representation.
//!
//! In development mode an HTML file is one representation only, the file with
//! the live-reload script ([`super::dev`]): no other coding carries it.
//!
//! Everything that depends only on the file version ([`Prepared`]) is built once
//! when the open-file cache opens it, not per request.

use std::borrow::Cow;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use super::compress_cache::CacheKey;
use super::conditional::{self, Precondition, Validators};
use super::negotiate::Accepted;
use super::range::{self, Ranges};
use super::{content_tag, headers, EtagMode, Handler};
use crate::body::{Body, FileSlice, Part};
use crate::codec::{is_compressible, is_encoded_name, Encoding, CODINGS};
use crate::files::{
    self,
    cache::{Cached, Lookup},
};
use crate::response::{FieldBlock, Reply};

/// Response headers of one file version, built when it is opened.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(super) content_type_text: String,
    /// The metadata tag, or for a file held in memory with `--etag content`,
    /// its content tag.
    etag: HeaderValue,
    modified: Option<SystemTime>,
    /// Whether other codings of this file may exist (`Vary` on every response).
    negotiable: bool,
    /// Every field of a 200 for this version, in wire order, built once and
    /// shared by every such response (each engine encodes the block once).
    fields: FieldBlock,
}

/// One representation of a file, ready for preconditions and ranges.
struct Representation<'a> {
    /// The fields of a 200; borrowed until a response needs them changed.
    head: Cow<'a, HeaderMap>,
    /// The shared block `head` borrows from, while it is unchanged.
    block: Option<&'a FieldBlock>,
    etag: HeaderValue,
    modified: Option<SystemTime>,
    content_type: &'a str,
    source: Source<'a>,
}

/// Where a representation's bytes come from.
enum Source<'a> {
    /// A cached file (or sidecar): its length is known, ranges apply.
    File(&'a Cached<Prepared>),
    /// Compressed bytes held in memory.
    Bytes(Bytes),
    /// Compressed on the fly: no length yet, so no ranges.
    Stream(Body),
}

impl Source<'_> {
    fn len(&self) -> Option<u64> {
        match self {
            Source::File(entry) => Some(entry.meta.len()),
            Source::Bytes(bytes) => Some(bytes.len() as u64),
            Source::Stream(_) => None,
        }
    }

    /// `len` bytes from `start`.
    fn slice(&self, start: u64, len: u64) -> Body {
        let bytes = match self {
            Source::File(entry) => match &entry.contents {
                Some(bytes) => bytes,
                None => {
                    return Body::File(FileSlice {
                        file: entry.file.clone(),
                        offset: start,
                        len,
                    })
                }
            },
            Source::Bytes(bytes) => bytes,
            Source::Stream(_) => return Body::Empty,
        };
        let (start, end) = (start as usize, start.saturating_add(len) as usize);
        Body::Bytes(bytes.slice(start.min(bytes.len())..end.min(bytes.len())))
    }
}

impl Handler {
    /// Builds the per-version headers of the file at `rel`.
    pub(super) fn prepare(
        &self,
        rel: &Path,
        meta: &Metadata,
        contents: Option<&Bytes>,
    ) -> Prepared {
        let content_type_text = files::mime::content_type(rel);
        let content_type = HeaderValue::from_str(&content_type_text)
            .unwrap_or(HeaderValue::from_static(files::mime::UNKNOWN));
        let etag = match (self.options.etag, contents) {
            (EtagMode::Content, Some(bytes)) => content_tag::tag_of_bytes(bytes),
            _ => headers::etag(meta),
        };
        let modified = headers::modified(meta);
        let last_modified = modified.and_then(headers::last_modified);
        let rel_url = rel.to_string_lossy();
        let cache_control = match self.options.dev {
            // Development: asked again every time, whatever the rules say.
            true => Some(HeaderValue::from_static("no-cache")),
            false => self
                .options
                .cache
                .for_file(rel_url.trim_start_matches("./"), &content_type_text),
        };
        let negotiable = is_compressible(&content_type_text) && !is_encoded_name(rel);
        let mut map = HeaderMap::with_capacity(8);
        map.insert(header::ETAG, etag.clone());
        if let Some(value) = last_modified {
            map.insert(header::LAST_MODIFIED, value);
        }
        if let Some(value) = cache_control {
            map.insert(header::CACHE_CONTROL, value);
        }
        if negotiable {
            map.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        map.insert(header::CONTENT_TYPE, content_type);
        map.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        map.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        Prepared {
            content_type_text,
            etag,
            modified,
            negotiable,
            fields: FieldBlock::new(map),
        }
    }

    /// Answers GET or HEAD for the cached regular file at `rel`.
    pub(super) fn file_response(
        &self,
        req: &Request<()>,
        rel: &Path,
        entry: &Cached<Prepared>,
    ) -> Reply {
        let prepared = &entry.payload;
        if self.options.dev && super::dev::is_html(&prepared.content_type_text) {
            if let Some(injected) = injected(entry) {
                return self.represent(req, injected);
            }
        }
        let mut identity = Representation {
            head: Cow::Borrowed(prepared.fields.map()),
            block: Some(&prepared.fields),
            etag: prepared.etag.clone(),
            modified: prepared.modified,
            content_type: &prepared.content_type_text,
            source: Source::File(entry),
        };
        // A large file's content tag is computed once per version; the
        // request waited for it (see `Handler::file_or_wait`). Only when
        // hashing failed does the prepared (metadata) tag stand.
        if entry.contents.is_none() && self.options.etag == EtagMode::Content {
            if let Some(tag) = self.content_tags.ready(&entry.meta) {
                identity.head.to_mut().insert(header::ETAG, tag.clone());
                identity.block = None;
                identity.etag = tag;
            }
        }
        if !prepared.negotiable {
            return self.represent(req, identity);
        }

        let accepted = Accepted::parse(
            req.headers()
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        );
        // If identity wins even with every coding on offer, it wins over any
        // subset: skip the sidecar probes (most clients without Accept-Encoding,
        // and every benchmark client, land here).
        if accepted.choose(&CODINGS) == Some(Encoding::Identity) {
            return self.represent(req, identity);
        }
        let sidecars = self.sidecars(rel, entry);
        let on_the_fly = self
            .options
            .compress
            .wants(&prepared.content_type_text, entry.meta.len());
        let available: Vec<Encoding> = CODINGS
            .iter()
            .enumerate()
            .filter(|(i, _)| on_the_fly || sidecars[*i].is_some())
            .map(|(_, e)| *e)
            .collect();
        let Some(chosen) = accepted.choose(&available) else {
            let mut response = self.error_response(StatusCode::NOT_ACCEPTABLE);
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            return response.into();
        };
        let Some(slot) = CODINGS.iter().position(|e| *e == chosen) else {
            return self.represent(req, identity);
        };
        if let Some(sidecar) = &sidecars[slot] {
            // Its own inode, so its own metadata tag: distinct per coding.
            return self.represent(
                req,
                coded(
                    prepared,
                    chosen,
                    sidecar.payload.etag.clone(),
                    Source::File(sidecar),
                ),
            );
        }
        let etag = coded_tag(&identity.etag, chosen);
        let key = CacheKey::new(rel.to_path_buf(), &entry.meta, chosen);
        if let Some(bytes) = self.compressor.cached(&key) {
            return self.represent(req, coded(prepared, chosen, etag, Source::Bytes(bytes)));
        }
        // Preconditions first: a 304 or 412 must not start a compression.
        let current = Validators {
            etag: etag.to_str().unwrap_or_default(),
            modified: prepared.modified,
        };
        if conditional::evaluate(req.headers(), req.method(), current) != Precondition::Proceed
            || *req.method() == Method::HEAD
        {
            // HEAD gets GET's head: a body of unknown length, so no Content-Length.
            let unknown = Body::Stream(Box::pin(NothingYet));
            return self.represent(req, coded(prepared, chosen, etag, Source::Stream(unknown)));
        }
        let len = entry.meta.len();
        match self
            .compressor
            .compress_stream(entry.file.clone(), 0, len, chosen, Some(key))
        {
            Some(stream) => {
                self.represent(req, coded(prepared, chosen, etag, Source::Stream(stream)))
            }
            // At the limit of compressions in progress: identity is always valid.
            None => self.represent(req, identity),
        }
    }

    /// The precompressed sidecars of `rel` that are not older than it, in
    /// [`CODINGS`] order. Probes go through the open-file cache, which also
    /// remembers absent sidecars.
    fn sidecars(&self, rel: &Path, entry: &Cached<Prepared>) -> [Option<Arc<Cached<Prepared>>>; 3] {
        let mut found: [Option<Arc<Cached<Prepared>>>; 3] = [None, None, None];
        if !self.options.precompressed {
            return found;
        }
        let Ok(file_time) = entry.meta.modified() else {
            return found;
        };
        for (slot, coding) in found.iter_mut().zip(CODINGS) {
            let Some(suffix) = coding.suffix() else {
                continue;
            };
            let mut name = rel.as_os_str().to_owned();
            name.push(suffix);
            if let Ok(Lookup::File(side)) = self.lookup(&PathBuf::from(name)) {
                if side.meta.modified().is_ok_and(|t| t >= file_time) {
                    *slot = Some(side);
                }
            }
        }
        found
    }

    /// Preconditions, then ranges, then the body of one representation.
    fn represent(&self, req: &Request<()>, rep: Representation<'_>) -> Reply {
        let Representation {
            mut head,
            block,
            etag,
            modified,
            content_type,
            source,
        } = rep;
        let current = Validators {
            etag: etag.to_str().unwrap_or_default(),
            modified,
        };
        match conditional::evaluate(req.headers(), req.method(), current) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                // RFC 9110 §15.4.5: the validators, Cache-Control and Vary.
                let mut not_modified = HeaderMap::with_capacity(4);
                for name in [
                    header::ETAG,
                    header::LAST_MODIFIED,
                    header::CACHE_CONTROL,
                    header::VARY,
                ] {
                    if let Some(value) = head.get(&name) {
                        not_modified.insert(name, value.clone());
                    }
                }
                let response = Response::new(Body::Empty);
                return with_headers(response, StatusCode::NOT_MODIFIED, not_modified).into();
            }
            // An error page like any other: never the file's Cache-Control,
            // which could let a cache keep the 412 for a year.
            Precondition::Failed => {
                return self.error_response(StatusCode::PRECONDITION_FAILED).into()
            }
        }
        let Some(len) = source.len() else {
            // A stream of unknown length: whole, without ranges.
            head.to_mut().remove(header::ACCEPT_RANGES);
            let body = match source {
                Source::Stream(body) => body,
                _ => Body::Empty,
            };
            return with_headers(Response::new(body), StatusCode::OK, head.into_owned()).into();
        };
        // RFC 9110 §14.2: GET is the only method with range semantics.
        let range = req
            .headers()
            .get(header::RANGE)
            .filter(|_| *req.method() == Method::GET)
            .and_then(|v| v.to_str().ok())
            .filter(|_| conditional::if_range_allows(req.headers(), current));
        let ranges = match range {
            Some(value) => range::parse(value, len, self.options.max_ranges),
            None => Ranges::Full,
        };
        match ranges {
            Ranges::Full => {
                let response = Response::new(source.slice(0, len));
                match (head, block) {
                    (Cow::Borrowed(_), Some(block)) => Reply::with_fields(response, block.clone()),
                    (head, _) => with_headers(response, StatusCode::OK, head.into_owned()).into(),
                }
            }
            Ranges::Unsatisfiable => {
                let mut r = self.error_response(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                r.into()
            }
            Ranges::Partial(ranges) => {
                let mut head = head.into_owned();
                if req.headers().contains_key(header::IF_RANGE) {
                    // RFC 9110 §15.3.7: the client holds a response with this
                    // representation's metadata already (it sent its validator),
                    // so a 206 to If-Range repeats none of it; ETag, Cache-Control
                    // and Vary stay, as that section requires.
                    for name in [
                        header::CONTENT_TYPE,
                        header::CONTENT_ENCODING,
                        header::CONTENT_LANGUAGE,
                        header::LAST_MODIFIED,
                    ] {
                        head.remove(name);
                    }
                }
                match ranges.as_slice() {
                    [one] => {
                        if let Ok(value) = HeaderValue::from_str(&one.content_range(len)) {
                            head.insert(header::CONTENT_RANGE, value);
                        }
                        let body = source.slice(one.start, one.len());
                        with_headers(Response::new(body), StatusCode::PARTIAL_CONTENT, head).into()
                    }
                    many => {
                        let boundary = range::boundary();
                        let parts =
                            range::multipart(many, len, content_type, &boundary, |start, n| {
                                match source.slice(start, n) {
                                    Body::File(slice) => Part::File(slice),
                                    Body::Bytes(bytes) => Part::Bytes(bytes),
                                    _ => Part::Bytes(Bytes::new()),
                                }
                            });
                        let multipart = format!("multipart/byteranges; boundary={boundary}");
                        if let Ok(value) = HeaderValue::from_str(&multipart) {
                            head.insert(header::CONTENT_TYPE, value);
                        }
                        let body = Body::Parts(parts);
                        with_headers(Response::new(body), StatusCode::PARTIAL_CONTENT, head).into()
                    }
                }
            }
        }
    }
}

/// A representation in `coding`: the file's headers with its own ETag and the
/// Content-Encoding.
fn coded<'a>(
    prepared: &'a Prepared,
    coding: Encoding,
    etag: HeaderValue,
    source: Source<'a>,
) -> Representation<'a> {
    let mut head = prepared.fields.map().clone();
    head.insert(header::ETAG, etag.clone());
    head.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    Representation {
        head: Cow::Owned(head),
        block: None,
        etag,
        modified: prepared.modified,
        content_type: &prepared.content_type_text,
        source,
    }
}

/// In development mode, an HTML file with the live-reload script: its own
/// representation, with a weak tag and no `Vary` (no other coding is
/// offered). `None` for a file too large to inject into, or one that cannot
/// be read whole (it is then served as it is).
fn injected(entry: &Cached<Prepared>) -> Option<Representation<'_>> {
    use std::os::unix::fs::FileExt;
    let len = entry.meta.len();
    if len > super::dev::MAX_INJECT_BYTES {
        return None;
    }
    let html = match &entry.contents {
        Some(bytes) => super::dev::inject(bytes),
        None => {
            let mut buf = vec![0u8; usize::try_from(len).ok()?];
            entry.file.read_exact_at(&mut buf, 0).ok()?;
            super::dev::inject(&buf)
        }
    };
    let prepared = &entry.payload;
    let etag = super::dev::injected_tag(&prepared.etag);
    let mut head = prepared.fields.map().clone();
    head.insert(header::ETAG, etag.clone());
    head.remove(header::VARY);
    Some(Representation {
        head: Cow::Owned(head),
        block: None,
        etag,
        modified: prepared.modified,
        content_type: &prepared.content_type_text,
        source: Source::Bytes(html),
    })
}

/// The tag of a coding compressed on the fly: the identity tag with the coding
/// inside the quotes (`"abc"` → `"abc-br"`), strong since the output of a given
/// encoder and level is the same for the same input.
fn coded_tag(identity: &HeaderValue, coding: Encoding) -> HeaderValue {
    let text = identity.to_str().unwrap_or("\"\"");
    let inner = text.trim_end_matches('"');
    HeaderValue::from_str(&format!("{inner}-{}\"", coding.token()))
        .unwrap_or_else(|_| identity.clone())
}

/// A body of unknown length with nothing in it: what HEAD of a compressed
/// stream carries, so the engine states no length.
struct NothingYet;

impl crate::body::ChunkStream for NothingYet {
    fn poll_chunk(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::io::Result<Bytes>>> {
        std::task::Poll::Ready(None)
    }
}

fn with_headers(
    mut response: Response<Body>,
    status: StatusCode,
    headers: HeaderMap,
) -> Response<Body> {
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
