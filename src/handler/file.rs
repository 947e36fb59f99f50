//! The response for a regular file, in order: validators (ETag, Last-Modified),
//! preconditions (304 or 412), then Range (206, multipart 206, or 416) on GET,
//! else the whole file. Representation headers (Content-Type, Cache-Control,
//! validators) are the same on 200 and 206, and 304 repeats the validators and
//! Cache-Control; 412 and 416 are error pages.

use std::path::Path;
use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};

use super::conditional::{self, Precondition, Validators};
use super::range::{self, Ranges};
use super::{headers, EtagMode, Handler};
use crate::body::{Body, FileSlice};
use crate::files::{self, Opened};

impl Handler {
    /// Answers GET or HEAD for the regular file at `rel` (relative to the root).
    pub(super) fn file_response(
        &self,
        req: &Request<()>,
        rel: &Path,
        opened: Opened,
    ) -> Response<Body> {
        let Opened { file, meta } = opened;
        let file = Arc::new(file);
        let len = meta.len();
        let content_type = files::mime::content_type(rel);

        let etag = match self.options.etag {
            EtagMode::Content => self.content_tags.lookup(&file, &meta),
            EtagMode::Metadata => None,
        }
        .unwrap_or_else(|| headers::etag(&meta));
        let modified = headers::modified(&meta);
        let mut head = HeaderMap::with_capacity(8);
        head.insert(header::ETAG, etag.clone());
        if let Some(value) = modified.and_then(headers::last_modified) {
            head.insert(header::LAST_MODIFIED, value);
        }
        let rel_url = rel.to_string_lossy();
        if let Some(value) = self
            .options
            .cache
            .for_file(rel_url.trim_start_matches("./"), &content_type)
        {
            head.insert(header::CACHE_CONTROL, value);
        }

        let current = Validators {
            etag: etag.to_str().unwrap_or_default(),
            modified,
        };
        match conditional::evaluate(req.headers(), req.method(), current) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                return with_headers(Response::new(Body::Empty), StatusCode::NOT_MODIFIED, head)
            }
            // An error page like any other: never the file's Cache-Control,
            // which could let a cache keep the 412 for a year.
            Precondition::Failed => return self.error_response(StatusCode::PRECONDITION_FAILED),
        }

        if let Ok(value) = HeaderValue::from_str(&content_type) {
            head.insert(header::CONTENT_TYPE, value);
        }
        head.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        head.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

        let whole = FileSlice {
            file,
            offset: 0,
            len,
        };
        // RFC 9110 §14.2: GET is the only method with range semantics.
        let range = req
            .headers()
            .get(header::RANGE)
            .filter(|_| *req.method() == Method::GET)
            .and_then(|v| v.to_str().ok())
            .filter(|_| conditional::if_range_allows(req.headers(), current));
        let Some(range) = range else {
            return with_headers(Response::new(Body::File(whole)), StatusCode::OK, head);
        };
        match range::parse(range, len, self.options.max_ranges) {
            Ranges::Full => with_headers(Response::new(Body::File(whole)), StatusCode::OK, head),
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
                    let body = Body::File(FileSlice {
                        offset: one.start,
                        len: one.len(),
                        ..whole
                    });
                    with_headers(Response::new(body), StatusCode::PARTIAL_CONTENT, head)
                }
                many => {
                    let boundary = range::boundary();
                    let parts = range::multipart(many, len, &content_type, &boundary, &whole.file);
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

fn with_headers(
    mut response: Response<Body>,
    status: StatusCode,
    headers: HeaderMap,
) -> Response<Body> {
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
