//! THE mapping from a filesystem error to a status, and every error page the
//! server sends: built in, or from `--error-pages DIR` (`DIR/404.html`, ...).
//! Pages never echo the request or reveal a path.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::files;
use crate::handler::look;

/// Every status the server can send with a page.
pub const PAGE_STATUSES: [u16; 19] = [
    400, 401, 403, 404, 405, 406, 408, 412, 413, 414, 416, 417, 421, 429, 431, 500, 501, 503, 505,
];

/// A custom page larger than this is refused at start-up: error pages are held in
/// memory.
pub const MAX_PAGE_BYTES: u64 = 1024 * 1024;

/// The status for a filesystem error.
pub fn status_for(error: &files::Error) -> StatusCode {
    match error {
        files::Error::NotFound | files::Error::Outside => StatusCode::NOT_FOUND,
        files::Error::Forbidden => StatusCode::FORBIDDEN,
        files::Error::BadPath(_) => StatusCode::BAD_REQUEST,
        files::Error::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        files::Error::RootGone => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A custom error page that could not be loaded.
#[derive(Debug)]
pub struct PageError {
    /// The file or folder at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub error: io::Error,
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for PageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Rendered error pages, all in memory.
#[derive(Debug, Clone)]
pub struct ErrorPages {
    pages: HashMap<u16, Bytes>,
    /// Statuses whose page comes from the folder of custom pages: those get
    /// no Content-Security-Policy of ours.
    custom: Vec<u16>,
    /// The fields every error page carries, built once and cloned per response.
    headers: HeaderMap,
    /// [`ErrorPages::headers`] and the built-in pages' policy.
    builtin_headers: HeaderMap,
}

impl ErrorPages {
    /// Built-in pages, overridden by `DIR/<status>.html` where such a file exists.
    pub fn load(dir: Option<&Path>) -> Result<ErrorPages, PageError> {
        let mut pages: HashMap<u16, Bytes> = PAGE_STATUSES
            .iter()
            .filter_map(|&code| StatusCode::from_u16(code).ok())
            .map(|s| (s.as_u16(), Bytes::from(builtin_page(s))))
            .collect();
        let mut custom = Vec::new();
        if let Some(dir) = dir {
            let fail = |path: &Path, error| PageError {
                path: path.to_path_buf(),
                error,
            };
            if !dir.is_dir() {
                return Err(fail(
                    dir,
                    io::Error::new(io::ErrorKind::NotFound, "not a directory"),
                ));
            }
            for code in PAGE_STATUSES {
                let path = dir.join(format!("{code}.html"));
                match std::fs::metadata(&path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(fail(&path, e)),
                    Ok(meta) if meta.len() > MAX_PAGE_BYTES => {
                        return Err(fail(&path, io::Error::other("larger than 1 MiB")));
                    }
                    Ok(_) => {}
                }
                let page = std::fs::read(&path).map_err(|e| fail(&path, e))?;
                pages.insert(code, Bytes::from(page));
                custom.push(code);
            }
        }
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        let mut builtin_headers = headers.clone();
        if let Ok(csp) = HeaderValue::from_str(&look::ERROR_PAGE_CSP) {
            builtin_headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        Ok(ErrorPages {
            pages,
            custom,
            headers,
            builtin_headers,
        })
    }

    /// The built-in pages alone.
    pub fn builtin() -> ErrorPages {
        // Without a folder nothing is read, so nothing can fail; an empty set
        // still renders every page on demand.
        ErrorPages::load(None).unwrap_or_else(|_| ErrorPages {
            pages: HashMap::new(),
            custom: Vec::new(),
            headers: HeaderMap::new(),
            builtin_headers: HeaderMap::new(),
        })
    }

    /// The response for `status`, with its page.
    pub fn response(&self, status: StatusCode) -> Response<Body> {
        let page = match self.pages.get(&status.as_u16()) {
            Some(page) => page.clone(),
            None => Bytes::from(builtin_page(status)),
        };
        let mut response = Response::new(Body::Bytes(page));
        *response.status_mut() = status;
        *response.headers_mut() = if self.custom.contains(&status.as_u16()) {
            self.headers.clone()
        } else {
            self.builtin_headers.clone()
        };
        response
    }

    /// The response for `status` with a hint more precise than the built-in
    /// page's (static HTML, never request bytes); a custom page for the
    /// status wins over it.
    pub fn response_with_hint(&self, status: StatusCode, hint: &'static str) -> Response<Body> {
        let mut response = self.response(status);
        if !self.custom.contains(&status.as_u16()) {
            *response.body_mut() = Body::from(page(status, hint));
        }
        response
    }
}

fn builtin_page(status: StatusCode) -> String {
    page(status, builtin_hint(status))
}

fn builtin_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request could not be understood.",
        401 => "This page needs a user name and password.",
        403 => "You do not have permission to view this page.",
        404 => "The page you asked for does not exist.",
        405 => "This method is not allowed here.",
        406 => "No acceptable representation of this page exists.",
        408 => "The request took too long to arrive.",
        412 => "A precondition of the request failed.",
        413 => "The request body is too large.",
        414 => "The request address is too long.",
        416 => "The requested range cannot be served.",
        417 => "The expectation in the request cannot be met.",
        421 => "This server does not serve that host name on this connection.",
        429 => "Too many attempts: try again later.",
        431 => "The request headers are too large.",
        500 => "The server failed to answer this request.",
        501 => "The server does not support this request.",
        503 => "The server cannot answer right now.",
        505 => "This HTTP version is not supported.",
        _ => "",
    }
}

/// A built-in page: the status, the hint, a way home, in the shared look.
fn page(status: StatusCode, hint: &str) -> String {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} {reason}</title><link rel=\"icon\" href=\"{favicon}\">\
         <style>{css}</style></head>\n\
         <body><main class=\"err\"><h1>{code} {reason}</h1><p>{hint}</p>\
         <p><a href=\"/\">Go to the site's home page</a></p></main></body></html>\n",
        favicon = look::FAVICON,
        css = look::CSS,
    )
}
