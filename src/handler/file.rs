//! The response for a regular file, in order: validators (ETag, Last-Modified),
//! preconditions (304 or 412), then Range (206, multipart 206, or 416) on GET,
//! else the whole file. Representation headers (Content-Type, Cache-Control,
//! validators) are the same on 200 and 206, and 304 repeats the validators and
//! Cache-Control; 412 and 416 are error pages.
//!
//! Everything that depends only on the file version ([`Prepared`]) is built once
//! when the open-file cache opens it, not per request.

use std::fs::Metadata;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use super::conditional::{self, Precondition, Validators};
use super::range::{self, Ranges};
use super::{content_tag, headers, EtagMode, Handler};
use crate::body::{Body, FileSlice, Part};
use crate::files::{self, cache::Cached};

/// Response headers of one file version, built when it is opened.
#[derive(Debug)]
pub(crate) struct Prepared {
    content_type_text: String,
    /// The metadata tag, or for a file held in memory with `--etag content`,
    /// its content tag.
    etag: HeaderValue,
    modified: Option<SystemTime>,
    last_modified: Option<HeaderValue>,
    cache_control: Option<HeaderValue>,
    /// Every field of a 200 for this version, in wire order: cloned per
    /// response instead of hashing six inserts.
    headers: HeaderMap,
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
        let cache_control = self
            .options
            .cache
            .for_file(rel_url.trim_start_matches("./"), &content_type_text);
        let mut map = validator_headers(&etag, last_modified.as_ref(), cache_control.as_ref());
        map.insert(header::CONTENT_TYPE, content_type);
        map.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        map.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        Prepared {
            cache_control,
            content_type_text,
            etag,
            last_modified,
            modified,
            headers: map,
        }
    }

    /// Answers GET or HEAD for a cached regular file.
    pub(super) fn file_response(
        &self,
        req: &Request<()>,
        entry: &Cached<Prepared>,
    ) -> Response<Body> {
        let prepared = &entry.payload;
        let len = entry.meta.len();
        // A large file's content tag is computed in the background; until it is
        // ready, the prepared (metadata) tag stands.
        let content_tag = match (&entry.file, self.options.etag) {
            (Some(file), EtagMode::Content) => self.content_tags.lookup(file, &entry.meta),
            _ => None,
        };
        let etag = content_tag.as_ref().unwrap_or(&prepared.etag);
        let current = Validators {
            etag: etag.to_str().unwrap_or_default(),
            modified: prepared.modified,
        };
        match conditional::evaluate(req.headers(), req.method(), current) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                let head = validator_headers(
                    etag,
                    prepared.last_modified.as_ref(),
                    prepared.cache_control.as_ref(),
                );
                return with_headers(Response::new(Body::Empty), StatusCode::NOT_MODIFIED, head);
            }
            // An error page like any other: never the file's Cache-Control,
            // which could let a cache keep the 412 for a year.
            Precondition::Failed => return self.error_response(StatusCode::PRECONDITION_FAILED),
        }
        let mut head = prepared.headers.clone();
        if let Some(tag) = &content_tag {
            head.insert(header::ETAG, tag.clone());
        }

        // RFC 9110 §14.2: GET is the only method with range semantics.
        let range = req
            .headers()
            .get(header::RANGE)
            .filter(|_| *req.method() == Method::GET)
            .and_then(|v| v.to_str().ok())
            .filter(|_| conditional::if_range_allows(req.headers(), current));
        let Some(range) = range else {
            return with_headers(Response::new(body(entry, 0, len)), StatusCode::OK, head);
        };
        match range::parse(range, len, self.options.max_ranges) {
            Ranges::Full => with_headers(Response::new(body(entry, 0, len)), StatusCode::OK, head),
            Ranges::Unsatisfiable => {
                let mut r = self.error_response(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                r
            }
            Ranges::Partial(ranges) => match ranges.as_slice() {
                [one] => {
                    if let Ok(value) = HeaderValue::from_str(&one.content_range(len)) {
                        head.insert(header::CONTENT_RANGE, value);
                    }
                    let body = body(entry, one.start, one.len());
                    with_headers(Response::new(body), StatusCode::PARTIAL_CONTENT, head)
                }
                many => {
                    let boundary = range::boundary();
                    let parts = range::multipart(
                        many,
                        len,
                        &prepared.content_type_text,
                        &boundary,
                        |start, n| match body(entry, start, n) {
                            Body::Bytes(bytes) => Part::Bytes(bytes),
                            Body::File(slice) => Part::File(slice),
                            _ => Part::Bytes(Bytes::new()),
                        },
                    );
                    let multipart = format!("multipart/byteranges; boundary={boundary}");
                    if let Ok(value) = HeaderValue::from_str(&multipart) {
                        head.insert(header::CONTENT_TYPE, value);
                    }
                    with_headers(
                        Response::new(Body::Parts(parts)),
                        StatusCode::PARTIAL_CONTENT,
                        head,
                    )
                }
            },
        }
    }
}

/// `len` bytes from `start`: a slice of the cached contents, or of the file.
fn body(entry: &Cached<Prepared>, start: u64, len: u64) -> Body {
    match (&entry.contents, &entry.file) {
        (Some(bytes), _) => {
            let (start, end) = (start as usize, start.saturating_add(len) as usize);
            Body::Bytes(bytes.slice(start.min(bytes.len())..end.min(bytes.len())))
        }
        (None, Some(file)) => Body::File(FileSlice {
            file: file.clone(),
            offset: start,
            len,
        }),
        // The cache keeps one or the other; an empty body is the safe answer.
        (None, None) => Body::Empty,
    }
}

/// The fields a 304 repeats (RFC 9110 §15.4.5), which also open a 200.
fn validator_headers(
    etag: &HeaderValue,
    last_modified: Option<&HeaderValue>,
    cache_control: Option<&HeaderValue>,
) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(8);
    map.insert(header::ETAG, etag.clone());
    if let Some(value) = last_modified {
        map.insert(header::LAST_MODIFIED, value.clone());
    }
    if let Some(value) = cache_control {
        map.insert(header::CACHE_CONTROL, value.clone());
    }
    map
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
