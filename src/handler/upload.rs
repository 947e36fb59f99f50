//! Sharing: uploads, new folders and deletes in one root, each off unless
//! its option is on ([`ShareOptions`]). Who may ask (auth, the CSRF and
//! rebinding checks) is the site's decision (`site::share`), made before any
//! of this runs. In order, for each request:
//!
//! 1. the path: every segment percent-decoded on its own and checked as a
//!    name ([`check_name`]: no `/`, `\`, `..`, `.`, control characters, no
//!    dotfile unless hidden files are on, at most 255 bytes): a bad one is
//!    400 with a message saying why;
//! 2. the folder it names is opened beneath the root with the confinement of
//!    serving (a link out of the root is refused: 403), and every change is
//!    made relative to that folder's descriptor (`files::folder`);
//! 3. `PUT /dir/name`: the body goes to a temporary dotfile, renamed into
//!    place when complete (201, or 204 over an existing file with
//!    `overwrite`; 409 without it). `POST /dir/` with `multipart/form-data`:
//!    each `file` field the same way, then 303 to the folder, or 201 with a
//!    JSON list on `Accept: application/json`;
//! 4. `MKCOL /dir/new/`: 201; 405 when the name exists, 409 when its parent
//!    does not (RFC 4918 §9.3.1). `DELETE /dir/file` or `/dir/sub/`: 204; a
//!    folder must be empty (409); the root never goes (403);
//! 5. any failure removes the temporary file and answers cleanly: 413 over
//!    the size limit, 507 for a full disk, 403 when not permitted; a body
//!    that broke off is answered by the engine (408, 400).
//!
//! Every change and every refusal is logged with the client, user, path and
//! size ([`Change`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use percent_encoding::percent_decode;

use super::Handler;
use crate::body::{Body, BodyError, RequestBody};
use crate::files::folder::{ChangeError, EntryKind, Folder, TEMP_PREFIX};
use crate::files::path::encode_segment;

/// The default of `--upload-max-size`: large enough for most files people
/// share, small enough that one request cannot fill a disk unnoticed.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// The longest name a file may get: the limit of nearly every filesystem.
pub const MAX_NAME: usize = 255;

/// What a multipart request may carry beyond its files' bytes (boundaries,
/// part headers, small fields): the request limit is the file limit plus
/// this, so a form with one file of the largest size still fits.
pub const FORM_OVERHEAD: u64 = 64 * 1024;

/// Which changes a site allows. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareOptions {
    /// `PUT` and multipart `POST` write files.
    pub upload: bool,
    /// An upload may replace an existing file.
    pub overwrite: bool,
    /// `MKCOL` makes folders.
    pub mkdir: bool,
    /// `DELETE` removes files and empty folders.
    pub delete: bool,
    /// Largest file, in bytes (and, plus [`FORM_OVERHEAD`], largest request).
    pub max_size: u64,
}

impl Default for ShareOptions {
    fn default() -> Self {
        ShareOptions {
            upload: false,
            overwrite: false,
            mkdir: false,
            delete: false,
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

impl ShareOptions {
    /// Whether any change is allowed.
    pub fn any(&self) -> bool {
        self.upload || self.mkdir || self.delete
    }

    /// Whether `method` is one of the changes allowed.
    pub fn handles(&self, method: &Method) -> bool {
        (self.upload && (*method == Method::PUT || *method == Method::POST))
            || (self.mkdir && method.as_str() == "MKCOL")
            || (self.delete && *method == Method::DELETE)
    }

    /// The body limit of a request with `method`, when it has one to read.
    pub fn body_limit(&self, method: &Method) -> Option<u64> {
        match self.upload {
            true if *method == Method::PUT => Some(self.max_size),
            true if *method == Method::POST => Some(self.max_size.saturating_add(FORM_OVERHEAD)),
            _ => None,
        }
    }

    /// The `Allow` value of a site with these options.
    pub fn allow(&self) -> HeaderValue {
        let mut allow = String::from("GET, HEAD, OPTIONS");
        if self.upload {
            allow.push_str(", PUT, POST");
        }
        if self.mkdir {
            allow.push_str(", MKCOL");
        }
        if self.delete {
            allow.push_str(", DELETE");
        }
        HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static("GET, HEAD, OPTIONS"))
    }
}

/// Who asked, for the log line of a change.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The client's address.
    pub client: std::net::IpAddr,
    /// The user who authenticated, if any.
    pub user: Option<&'a str>,
}

/// Why a change was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refused {
    /// A name in the path (or a form's file name) is not acceptable.
    BadName(&'static str),
    /// The request is not of the form this method takes.
    BadRequest(&'static str),
    /// A change of the root itself.
    Root,
    /// What the change needs is missing (the folder, the file).
    Missing,
    /// The name exists and may not be replaced.
    Exists,
    /// MKCOL of a name that exists.
    MkcolExists,
    /// MKCOL whose parent folder is missing.
    NoParent,
    /// DELETE of a folder that is not empty.
    NotEmpty,
    /// A file over the size limit.
    TooLarge,
    /// Not the server's to change, or out of the root.
    Denied,
    /// The disk is full.
    NoSpace,
    /// The body broke off: the engine answers it.
    Body(BodyError),
    /// Anything else.
    Failed,
}

/// THE status of each refusal.
fn status(refused: &Refused) -> StatusCode {
    match refused {
        Refused::BadName(_) | Refused::BadRequest(_) => StatusCode::BAD_REQUEST,
        Refused::Root | Refused::Denied => StatusCode::FORBIDDEN,
        Refused::Missing => StatusCode::NOT_FOUND,
        Refused::Exists | Refused::NoParent | Refused::NotEmpty => StatusCode::CONFLICT,
        Refused::MkcolExists => StatusCode::METHOD_NOT_ALLOWED,
        Refused::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Refused::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        // Replaced by the engine's status for the body's failure.
        Refused::Body(_) => StatusCode::BAD_REQUEST,
        Refused::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Refused {
    fn of(e: ChangeError) -> Refused {
        match e {
            ChangeError::Exists => Refused::Exists,
            ChangeError::Missing => Refused::Missing,
            ChangeError::Denied | ChangeError::Outside => Refused::Denied,
            ChangeError::NoSpace => Refused::NoSpace,
            ChangeError::NotEmpty => Refused::NotEmpty,
            ChangeError::Other => Refused::Failed,
        }
    }

    /// What the answer says, beyond its status.
    fn message(&self) -> &'static str {
        match self {
            Refused::BadName(why) | Refused::BadRequest(why) => why,
            Refused::Root => "the root folder cannot be changed",
            Refused::Missing => "no such file or folder",
            Refused::Exists => "a file of that name exists (and overwriting is off)",
            Refused::MkcolExists => "that name exists already",
            Refused::NoParent => "the parent folder does not exist",
            Refused::NotEmpty => "the folder is not empty (only empty folders are deleted)",
            Refused::TooLarge => "the file is over the upload size limit",
            Refused::Denied => "not permitted",
            Refused::NoSpace => "no space left on the disk",
            Refused::Body(_) => "the request body broke off",
            Refused::Failed => "the change failed",
        }
    }
}

/// Whether `name` may be a file's or folder's name here; why not, if not.
pub fn check_name(name: &[u8], hidden: bool) -> Result<&str, &'static str> {
    if name.is_empty() || name == b"." {
        return Err("an empty name or '.' is not a name");
    }
    if name == b".." {
        return Err("'..' is not a name");
    }
    if name.len() > MAX_NAME {
        return Err("a name is longer than 255 bytes");
    }
    if name.iter().any(|&b| b == b'/' || b == b'\\') {
        return Err("a name may not contain '/' or '\\'");
    }
    if name.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err("a name may not contain control characters");
    }
    if name.starts_with(TEMP_PREFIX.as_bytes()) || (!hidden && name.first() == Some(&b'.')) {
        return Err("names starting with '.' are not allowed");
    }
    std::str::from_utf8(name).map_err(|_| "a name must be UTF-8")
}

/// A request path taken apart: its folder, and the last name (`None` for a
/// path ending in `/`).
#[derive(Debug, PartialEq, Eq)]
struct Target {
    folder: Vec<String>,
    name: Option<String>,
}

impl Target {
    /// Each segment decoded on its own (so `%2F` cannot join two) and checked.
    fn parse(raw: &str, hidden: bool) -> Result<Target, Refused> {
        let rest = raw
            .strip_prefix('/')
            .ok_or(Refused::BadName("the path must start with '/'"))?;
        let mut segments: Vec<String> = Vec::new();
        let mut parts = rest.split('/').peekable();
        let mut name = None;
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            if last && part.is_empty() {
                break;
            }
            let decoded: Vec<u8> = percent_decode(part.as_bytes()).collect();
            let checked = check_name(&decoded, hidden).map_err(Refused::BadName)?;
            match last {
                true => name = Some(checked.to_string()),
                false => segments.push(checked.to_string()),
            }
        }
        Ok(Target {
            folder: segments,
            name,
        })
    }

    fn folder_path(&self) -> PathBuf {
        self.folder.iter().collect()
    }

    /// The URL of the folder (with its slash), percent-encoded.
    fn folder_url(&self) -> String {
        let mut url = String::from("/");
        for segment in &self.folder {
            url.push_str(&encode_segment(segment.as_bytes()));
            url.push('/');
        }
        url
    }
}

/// A text answer: the status line's words and why.
fn answer(status: StatusCode, message: &str) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    let body = format!("{} {reason}: {message}\n", status.as_u16());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn created(location: &str) -> Response<Body> {
    let mut response = answer(StatusCode::CREATED, "created");
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// One file written: its name, size and URL.
#[derive(Debug)]
struct Written {
    name: String,
    size: u64,
    url: String,
}

impl Handler {
    /// Answers a change (`PUT`, `POST`, `MKCOL`, `DELETE`) allowed by the
    /// site's options; `body` for PUT and POST.
    pub async fn change(
        &self,
        req: &Request<()>,
        body: Option<RequestBody<'_>>,
        who: Change<'_>,
    ) -> Response<Body> {
        let share = self.options.share;
        let method = req.method();
        let path = req.uri().path();
        let result = match Target::parse(path, self.options.hidden) {
            Err(refused) => Err(refused),
            Ok(target) if share.upload && *method == Method::PUT => match body {
                Some(body) => self.put(&target, body, share.overwrite, who, path).await,
                None => Err(Refused::BadRequest("no body")),
            },
            Ok(target) if share.upload && *method == Method::POST => match body {
                Some(body) => self.post(req, &target, body, who).await,
                None => Err(Refused::BadRequest("no body")),
            },
            Ok(target) if share.mkdir && method.as_str() == "MKCOL" => {
                self.mkcol(&target, who, path)
            }
            Ok(target) if share.delete && *method == Method::DELETE => {
                self.delete(&target, who, path)
            }
            Ok(_) => Err(Refused::BadRequest("method not allowed here")),
        };
        match result {
            Ok(response) => response,
            Err(refused) => {
                let status = status(&refused);
                tracing::warn!(client = %who.client, user = who.user.unwrap_or("-"), %method, path,
                    status = status.as_u16(), why = refused.message(), "change refused");
                answer(status, refused.message())
            }
        }
    }

    fn open(&self, target: &Target) -> Result<Folder, Refused> {
        self.root
            .open_folder(&target.folder_path())
            .map_err(|e| match e {
                // A folder the path names that is not one, or not there.
                ChangeError::Missing => Refused::Missing,
                other => Refused::of(other),
            })
    }

    async fn put(
        &self,
        target: &Target,
        body: RequestBody<'_>,
        overwrite: bool,
        who: Change<'_>,
        path: &str,
    ) -> Result<Response<Body>, Refused> {
        let name = target
            .name
            .as_deref()
            .ok_or(Refused::BadRequest("PUT needs a file name, not a folder"))?;
        let folder = self.open(target)?;
        // Refused before the body is asked for (no 100 Continue), when it can
        // be told now; the rename below decides for sure.
        let existed = match folder.kind(OsStr::new(name)).map_err(Refused::of)? {
            Some(EntryKind::Dir) => return Err(Refused::Exists),
            Some(EntryKind::Other) if !overwrite => return Err(Refused::Exists),
            Some(EntryKind::Other) => true,
            None => false,
        };
        let size = write_file(&folder, name, body, self.options.share.max_size, overwrite).await?;
        tracing::info!(client = %who.client, user = who.user.unwrap_or("-"), path, size, "uploaded");
        let location = format!("{}{}", target.folder_url(), encode_segment(name.as_bytes()));
        Ok(match existed {
            true => {
                let mut response = Response::new(Body::Empty);
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
            false => created(&location),
        })
    }

    async fn post(
        &self,
        req: &Request<()>,
        target: &Target,
        body: RequestBody<'_>,
        who: Change<'_>,
    ) -> Result<Response<Body>, Refused> {
        if target.name.is_some() {
            return Err(Refused::BadRequest(
                "POST goes to a folder (a path ending in '/')",
            ));
        }
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or(Refused::BadRequest("POST takes multipart/form-data"))?;
        let folder = self.open(target)?;
        let share = self.options.share;
        let limits = multer::SizeLimit::new().per_field(share.max_size);
        let constraints = multer::Constraints::new().size_limit(limits);
        let mut form = multer::Multipart::with_constraints(body, boundary, constraints);
        let mut written = Vec::new();
        loop {
            let field = match form.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => return Err(form_error(e)),
            };
            let file_name = match (field.name(), field.file_name()) {
                (Some("file"), Some(name)) => name.to_string(),
                // Other fields (and a file input left empty) are skipped.
                _ => {
                    drain(field).await?;
                    continue;
                }
            };
            if file_name.is_empty() {
                drain(field).await?;
                continue;
            }
            let name = check_name(file_name.as_bytes(), self.options.hidden)
                .map_err(Refused::BadName)?
                .to_string();
            if !share.overwrite
                && folder
                    .kind(OsStr::new(&name))
                    .map_err(Refused::of)?
                    .is_some()
            {
                return Err(Refused::Exists);
            }
            let size = write_file(
                &folder,
                &name,
                FieldChunks(field),
                share.max_size,
                share.overwrite,
            )
            .await?;
            let url = format!("{}{}", target.folder_url(), encode_segment(name.as_bytes()));
            tracing::info!(client = %who.client, user = who.user.unwrap_or("-"), path = %url, size, "uploaded");
            written.push(Written { name, size, url });
        }
        let wants_json = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        if wants_json {
            let list: Vec<serde_json::Value> = written
                .iter()
                .map(|w| serde_json::json!({"name": w.name, "size": w.size, "url": w.url}))
                .collect();
            let text = serde_json::Value::Array(list).to_string();
            let mut response = Response::new(Body::from(text));
            *response.status_mut() = StatusCode::CREATED;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(value) = HeaderValue::from_str(&target.folder_url()) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Ok(response)
    }

    fn mkcol(
        &self,
        target: &Target,
        who: Change<'_>,
        path: &str,
    ) -> Result<Response<Body>, Refused> {
        let (parent, name) = split_last(target)?;
        let folder = self.open(&parent).map_err(|e| match e {
            Refused::Missing => Refused::NoParent,
            other => other,
        })?;
        folder.make_dir(OsStr::new(&name)).map_err(|e| match e {
            ChangeError::Exists => Refused::MkcolExists,
            ChangeError::Missing => Refused::NoParent,
            other => Refused::of(other),
        })?;
        tracing::info!(client = %who.client, user = who.user.unwrap_or("-"), path, "folder made");
        let location = format!(
            "{}{}/",
            parent.folder_url(),
            encode_segment(name.as_bytes())
        );
        Ok(created(&location))
    }

    fn delete(
        &self,
        target: &Target,
        who: Change<'_>,
        path: &str,
    ) -> Result<Response<Body>, Refused> {
        let (parent, name) = split_last(target)?;
        let folder = self.open(&parent)?;
        let name = OsStr::new(&name);
        match folder.kind(name).map_err(Refused::of)? {
            None => return Err(Refused::Missing),
            Some(EntryKind::Dir) => folder.remove_dir(name),
            // A file named with a slash is not one.
            Some(EntryKind::Other) if target.name.is_none() => return Err(Refused::Missing),
            Some(EntryKind::Other) => folder.remove_file(name),
        }
        .map_err(Refused::of)?;
        tracing::info!(client = %who.client, user = who.user.unwrap_or("-"), path, "deleted");
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}

/// The parent folder of what `target` names and its last name (a folder's
/// or a file's); the root itself has none.
fn split_last(target: &Target) -> Result<(Target, String), Refused> {
    let mut folder = target.folder.clone();
    let name = match &target.name {
        Some(name) => name.clone(),
        None => folder.pop().ok_or(Refused::Root)?,
    };
    Ok((Target { folder, name: None }, name))
}

/// Chunks of an upload, from a PUT body or a form's field.
trait Chunks {
    async fn chunk(&mut self) -> Result<Option<Bytes>, Refused>;
}

impl Chunks for RequestBody<'_> {
    async fn chunk(&mut self) -> Result<Option<Bytes>, Refused> {
        match self.next().await {
            Some(Ok(bytes)) => Ok(Some(bytes)),
            Some(Err(error)) => Err(body_refusal(error)),
            None => Ok(None),
        }
    }
}

struct FieldChunks<'r>(multer::Field<'r>);

impl Chunks for FieldChunks<'_> {
    async fn chunk(&mut self) -> Result<Option<Bytes>, Refused> {
        self.0.chunk().await.map_err(form_error)
    }
}

fn body_refusal(error: BodyError) -> Refused {
    match error {
        BodyError::TooLarge => Refused::TooLarge,
        other => Refused::Body(other),
    }
}

/// What a form's parse error refuses.
fn form_error(e: multer::Error) -> Refused {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            Refused::TooLarge
        }
        multer::Error::StreamReadFailed(inner) => match inner.downcast_ref::<BodyError>() {
            Some(error) => body_refusal(*error),
            None => Refused::BadRequest("the form could not be read"),
        },
        _ => Refused::BadRequest("malformed multipart/form-data"),
    }
}

/// Reads a field nobody wants to its end.
async fn drain(mut field: multer::Field<'_>) -> Result<(), Refused> {
    while field.chunk().await.map_err(form_error)?.is_some() {}
    Ok(())
}

/// Writes `chunks` to a temporary file in `folder`, then names it `name`:
/// its size, or the refusal (the temporary file removed).
async fn write_file(
    folder: &Folder,
    name: &str,
    mut chunks: impl Chunks,
    max: u64,
    overwrite: bool,
) -> Result<u64, Refused> {
    let (file, temp) = folder.create_temp().map_err(Refused::of)?;
    let written = copy(file, &mut chunks, max).await;
    let published = written.and_then(|size| {
        folder
            .publish(&temp, OsStr::new(name), overwrite)
            .map(|()| size)
            .map_err(Refused::of)
    });
    if published.is_err() {
        folder.discard(&temp);
    }
    published
}

/// Copies every chunk into `file`, off the runtime's threads (a disk write
/// may block); fails over `max` bytes.
async fn copy(file: File, chunks: &mut impl Chunks, max: u64) -> Result<u64, Refused> {
    let mut file = Some(file);
    let mut size: u64 = 0;
    while let Some(bytes) = chunks.chunk().await? {
        size += bytes.len() as u64;
        if size > max {
            return Err(Refused::TooLarge);
        }
        let Some(mut open) = file.take() else {
            return Err(Refused::Failed);
        };
        let (open, result) = tokio::task::spawn_blocking(move || {
            let result = open.write_all(&bytes);
            (open, result)
        })
        .await
        .map_err(|_| Refused::Failed)?;
        result.map_err(|e| match ChangeError::of(&e) {
            ChangeError::NoSpace => Refused::NoSpace,
            other => Refused::of(other),
        })?;
        file = Some(open);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, ok) in [
            (&b"a.txt"[..], true),
            (b"caf\xc3\xa9 1.txt", true),
            (b"", false),
            (b".", false),
            (b"..", false),
            (b".hidden", false),
            (b".ferrox-upload-1", false),
            (b"a/b", false),
            (b"a\\b", false),
            (b"a\x00b", false),
            (b"a\nb", false),
            (b"a\x7fb", false),
            (b"\xff", false),
        ] {
            assert_eq!(check_name(name, false).is_ok(), ok, "{name:?}");
        }
        assert!(check_name(b".hidden", true).is_ok());
        assert!(check_name(b".ferrox-upload-1", true).is_err());
        assert!(check_name(&[b'a'; 255], false).is_ok());
        assert!(check_name(&[b'a'; 256], false).is_err());
    }

    #[test]
    fn targets() {
        let t = Target::parse("/a/b%20c/d.txt", false).unwrap();
        assert_eq!(t.folder, ["a", "b c"]);
        assert_eq!(t.name.as_deref(), Some("d.txt"));
        assert_eq!(t.folder_url(), "/a/b%20c/");
        let t = Target::parse("/a/", false).unwrap();
        assert_eq!((t.folder.len(), t.name), (1, None));
        let t = Target::parse("/", false).unwrap();
        assert_eq!((t.folder.len(), t.name), (0, None));
        for bad in [
            "/../x",
            "/a/../x",
            "/%2e%2e/x",
            "/a%2Fb",
            "/a%5Cb",
            "/a//b",
            "/.h/x",
            "/a%00",
            "x",
        ] {
            assert!(Target::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_lists_what_is_on() {
        let mut o = ShareOptions::default();
        assert_eq!(o.allow(), "GET, HEAD, OPTIONS");
        o.upload = true;
        o.delete = true;
        assert_eq!(o.allow(), "GET, HEAD, OPTIONS, PUT, POST, DELETE");
        assert!(o.handles(&Method::PUT) && !o.handles(&Method::from_bytes(b"MKCOL").unwrap()));
    }
}
