//! Request heads: httparse does the tokenising; this module enforces the limits and
//! decides the framing (RFC 9112 §6). Framing is strict, because request smuggling
//! lives in the gaps between lenient parsers.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

/// The most header fields any configuration may allow. The parser keeps this many
/// slots on the stack (not in the connection's future), so the bound stays modest.
pub const MAX_HEADERS_CAP: usize = 256;

/// Header fields whose positions are kept on the stack; more go to the heap.
const SMALL_HEAD: usize = 24;

/// Longest chunk-extension or trailer section accepted while discarding a body.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;

/// Limits on a request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Bytes in the request line plus header fields.
    pub max_head_bytes: usize,
    /// Number of header fields (at most [`MAX_HEADERS_CAP`]).
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

/// Why a request could not be accepted. `proto::status` maps each to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Syntax or framing the server will not guess about; the reason is for logs.
    Malformed(&'static str),
    /// The head is larger than the limit.
    HeadTooLarge,
    /// The request line alone does not fit in the head limit.
    UriTooLong,
    /// More header fields than the limit.
    TooManyHeaders,
    /// An HTTP major version other than 1.
    VersionNotSupported,
    /// A transfer coding the server does not implement.
    UnknownTransferCoding,
    /// The request body is larger than the limit.
    BodyTooLarge,
    /// An `Expect` other than `100-continue`.
    UnknownExpectation,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head and what the connection needs to know about it.
#[derive(Debug)]
pub struct Head {
    /// The request, with an empty body.
    pub request: Request<()>,
    /// How the body that follows is delimited.
    pub framing: Framing,
    /// Whether the client asked to keep the connection open.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request.
    pub expect_continue: bool,
}

/// Byte ranges into the head, collected while httparse borrows the buffer so that
/// the frozen head can be sliced without copying afterwards.
#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
}

/// Parses one request head from the front of `buf`. `Ok(None)` means more bytes
/// are needed; on success the head's bytes are taken out of `buf`, and whatever
/// follows (a body, a pipelined request) stays in it.
pub fn parse_head(buf: &mut BytesMut, limits: &HeadLimits) -> Result<Option<Head>, ParseError> {
    let max_headers = limits.max_headers.clamp(1, MAX_HEADERS_CAP);
    let mut slots: [MaybeUninit<httparse::Header<'_>>; MAX_HEADERS_CAP] =
        [const { MaybeUninit::uninit() }; MAX_HEADERS_CAP];
    // Most requests carry few fields: a small array on the stack (zeroing a
    // MAX_HEADERS_CAP one cost more than the parse itself), a Vec beyond it.
    let mut small = [(Span::default(), Span::default()); SMALL_HEAD];
    let mut large = Vec::new();
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| Span {
        start: s.as_ptr() as usize - base,
        end: s.as_ptr() as usize - base + s.len(),
    };

    // Only the bytes within the limit are parsed: what lies past it must not
    // decide the answer, or the status would depend on how much one read brought.
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let len = match req.parse_with_uninit_headers(window, &mut slots[..max_headers]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(_) if buf.len() < limits.max_head_bytes => return Ok(None),
        Ok(_) => return Err(too_large(buf, limits.max_head_bytes)),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            // The version is judged on the whole request line: until its end
            // has arrived, `HTTP/3` may yet go on as `HTTP/3.0` (505) or as
            // `HTTP/3.x` (400), and `HTTP/1.2` as `HTTP/1.23`.
            if !window.iter().any(|&b| b == b'\r' || b == b'\n') {
                return match buf.len() < limits.max_head_bytes {
                    true => Ok(None),
                    false => Err(too_large(buf, limits.max_head_bytes)),
                };
            }
            // RFC 9112 §2.3: a higher minor version of HTTP/1 is answered as the
            // highest we speak. The digit is rewritten in place and the head
            // parsed again, so that every later step sees an HTTP/1.1 request.
            if let Some(at) = newer_minor(buf) {
                if let Some(digit) = buf.get_mut(at) {
                    *digit = b'1';
                }
                return parse_head(buf, limits);
            }
            return Err(version_error(buf));
        }
        Err(e) => return Err(ParseError::Malformed(httparse_reason(e))),
    };
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::Malformed("incomplete request line"));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| ParseError::Malformed("invalid method"))?;
    let path_span = span(path.as_bytes());
    let count = req.headers.len();
    let spans: &mut [(Span, Span)] = if count <= SMALL_HEAD {
        &mut small[..count]
    } else {
        large.resize(count, (Span::default(), Span::default()));
        &mut large
    };
    for (slot, h) in spans.iter_mut().zip(req.headers.iter()) {
        *slot = (span(h.name.as_bytes()), span(h.value));
    }

    let head = buf.split_to(len).freeze();
    build(head, method, minor, path_span, spans)
}

fn build(
    head: Bytes,
    method: Method,
    minor: u8,
    path: Span,
    fields: &[(Span, Span)],
) -> Result<Option<Head>, ParseError> {
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let target = head.slice(path.start..path.end);
    let uri = parse_target(&method, target)?;

    let mut headers = super::pool::take_headers();
    headers.reserve(fields.len());
    let mut content_length: Option<u64> = None;
    let mut codings = Codings::default();
    let mut hosts = 0;
    let mut empty_host = false;
    let (mut close, mut keep_alive_token, mut expect_continue) = (false, false, false);

    for (name, value) in fields {
        let name = HeaderName::from_bytes(&head[name.start..name.end])
            .map_err(|_| ParseError::Malformed("invalid header name"))?;
        let raw = &head[value.start..value.end];
        if name == header::CONTENT_LENGTH {
            let n = parse_content_length(raw)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(ParseError::Malformed("conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            codings.add(raw)?;
        } else if name == header::HOST {
            hosts += 1;
            empty_host = raw.is_empty();
            if !valid_host(raw) {
                return Err(ParseError::Malformed("invalid Host"));
            }
        } else if name == header::CONNECTION {
            for token in list(raw) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name == header::EXPECT && version == Version::HTTP_11 {
            // RFC 9110 §10.1.1; an HTTP/1.0 client cannot mean it, so it is ignored.
            if raw.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(ParseError::UnknownExpectation);
            }
        }
        let value = HeaderValue::from_maybe_shared(head.slice(value.start..value.end))
            .map_err(|_| ParseError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }

    match hosts {
        0 if version == Version::HTTP_11 => return Err(ParseError::Malformed("missing Host")),
        0 | 1 => {}
        _ => return Err(ParseError::Malformed("repeated Host")),
    }
    if empty_host && uri.authority().is_none() {
        // RFC 9110 §7.2: an http(s) target always has an authority, so an empty
        // Host names nothing (nginx and lighttpd agree).
        return Err(ParseError::Malformed("empty Host"));
    }
    if let Some(authority) = uri.authority() {
        // RFC 9112 §3.2.2: the target's authority replaces Host.
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| ParseError::Malformed("invalid authority"))?;
        headers.insert(header::HOST, host);
    }

    let framing = match (codings.seen, content_length) {
        (true, Some(_)) => {
            return Err(ParseError::Malformed(
                "Content-Length with Transfer-Encoding",
            ))
        }
        (true, None) if version == Version::HTTP_10 => {
            return Err(ParseError::Malformed("Transfer-Encoding in HTTP/1.0"))
        }
        (true, None) => codings.framing()?,
        (false, Some(0) | None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };

    let keep_alive = !close && (version == Version::HTTP_11 || keep_alive_token);
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(Head {
        request,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// Origin-form and absolute-form for every method; asterisk-form only for OPTIONS,
/// authority-form only for CONNECT (RFC 9112 §3.2).
fn parse_target(method: &Method, target: Bytes) -> Result<Uri, ParseError> {
    // The request-target grammar is ASCII: raw UTF-8 or Latin-1 must come
    // percent-encoded, or two servers could look up two different paths.
    if !target.is_ascii() {
        return Err(ParseError::Malformed("non-ASCII byte in target"));
    }
    let origin_form = target.first() == Some(&b'/');
    let asterisk = &target[..] == b"*";
    let uri =
        Uri::from_maybe_shared(target).map_err(|_| ParseError::Malformed("invalid target"))?;
    let absolute = uri.scheme().is_some();
    // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(ParseError::Malformed("userinfo in target"));
    }
    let ok = origin_form
        || absolute && uri.authority().is_some()
        || asterisk && *method == Method::OPTIONS
        || *method == Method::CONNECT && uri.authority().is_some();
    if ok {
        Ok(uri)
    } else {
        Err(ParseError::Malformed("invalid request-target form"))
    }
}

/// `Content-Length` is 1*DIGIT; a list of identical values is tolerated as RFC
/// 9110 §8.6 allows. Signs, spaces inside and overflow are refused.
fn parse_content_length(raw: &[u8]) -> Result<u64, ParseError> {
    let mut value = None;
    for item in raw.split(|&b| b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::Malformed("invalid Content-Length"));
        }
        let n = item.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if value.is_some_and(|v| v != n) {
            return Err(ParseError::Malformed("conflicting Content-Length"));
        }
        value = Some(n);
    }
    value.ok_or(ParseError::Malformed("invalid Content-Length"))
}

/// The transfer codings of every `Transfer-Encoding` line, in order.
#[derive(Default)]
struct Codings {
    seen: bool,
    chunked_last: bool,
    chunked_before: bool,
    unknown: bool,
    empty: bool,
}

impl Codings {
    fn add(&mut self, raw: &[u8]) -> Result<(), ParseError> {
        self.seen = true;
        let mut any = false;
        for coding in list(raw) {
            any = true;
            // Parameters (`;q=...`) are not allowed on chunked and irrelevant otherwise.
            let name = coding
                .split(|&b| b == b';')
                .next()
                .unwrap_or(coding)
                .trim_ascii();
            self.chunked_before |= self.chunked_last;
            self.chunked_last = name.eq_ignore_ascii_case(b"chunked") && name.len() == coding.len();
            let known = [
                &b"gzip"[..],
                b"x-gzip",
                b"deflate",
                b"compress",
                b"x-compress",
            ]
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k));
            self.unknown |= !self.chunked_last && !known;
        }
        self.empty |= !any;
        Ok(())
    }

    /// RFC 9112 §6.3: chunked must be last, and applied once; unknown codings are
    /// 501 (§6.1) once the framing itself is sound.
    fn framing(&self) -> Result<Framing, ParseError> {
        if self.empty || !self.chunked_last {
            Err(ParseError::Malformed(
                "Transfer-Encoding does not end in chunked",
            ))
        } else if self.chunked_before {
            Err(ParseError::Malformed("chunked applied twice"))
        } else if self.unknown {
            Err(ParseError::UnknownTransferCoding)
        } else {
            Ok(Framing::Chunked)
        }
    }
}

/// The non-empty, trimmed elements of a comma-separated field value.
fn list(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|s| !s.is_empty())
}

/// `Host = uri-host [ ":" port ]`, empty allowed; no whitespace, slashes or `@`;
/// brackets only around a whole IP literal, followed by nothing or a port.
fn valid_host(raw: &[u8]) -> bool {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%".contains(b);
    let Some(rest) = raw.strip_prefix(b"[") else {
        return raw.iter().all(allowed);
    };
    let Some(close) = rest.iter().position(|&b| b == b']') else {
        return false;
    };
    let (literal, after) = rest.split_at(close);
    let port = after.get(1..).unwrap_or_default();
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok
        && literal
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b":.".contains(b))
}

/// Over the head limit: 414 if the request line never ended, else 431.
fn too_large(buf: &[u8], max: usize) -> ParseError {
    let window = &buf[..buf.len().min(max)];
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    if window[start..].contains(&b'\n') {
        ParseError::HeadTooLarge
    } else {
        ParseError::UriTooLong
    }
}

/// The position of the minor digit when the request line ends in `HTTP/1.D`
/// with D above 1.
fn newer_minor(buf: &[u8]) -> Option<usize> {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(..line_end)?;
    match line.rsplit(|&b| b == b' ').next()? {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => Some(line_end - 1),
        _ => None,
    }
}

/// httparse knows only 1.0 and 1.1: a well-formed `HTTP/2.0` is a version we do
/// not speak (505); anything else is a malformed request line (400).
fn version_error(buf: &[u8]) -> ParseError {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = &buf[..line_end];
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit()
                && minor.is_ascii_digit()
                && *major != b'1'
                && *major != b'0' =>
        {
            ParseError::VersionNotSupported
        }
        [b'H', b'T', b'T', b'P', b'/', major]
            if major.is_ascii_digit() && *major != b'1' && *major != b'0' =>
        {
            ParseError::VersionNotSupported
        }
        _ => ParseError::Malformed("invalid HTTP version"),
    }
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or target",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<Head>, ParseError> {
        let mut buf = BytesMut::from(raw);
        parse_head(&mut buf, &HeadLimits::default())
    }

    fn framing(raw: &str) -> Result<Framing, ParseError> {
        parse(raw).map(|h| h.expect("complete head").framing)
    }

    #[test]
    fn framing_table() {
        use Framing::*;
        use ParseError::*;
        let cases: &[(&str, Result<Framing, ParseError>)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(None)),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Ok(Length(5))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Ok(Length(5))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Ok(Length(5))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Err(Malformed("conflicting Content-Length"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", Err(Malformed("conflicting Content-Length"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Err(Malformed("invalid Content-Length"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Err(Malformed("invalid Content-Length"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Err(Malformed("invalid Content-Length"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Err(Malformed("invalid Content-Length"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(Chunked)),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", Ok(Chunked)),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Ok(Chunked)),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(Chunked)),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Err(Malformed("Content-Length with Transfer-Encoding"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(Malformed("Transfer-Encoding does not end in chunked"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Err(Malformed("chunked applied twice"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Err(Malformed("Transfer-Encoding does not end in chunked"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", Err(Malformed("Transfer-Encoding does not end in chunked"))),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", Err(UnknownTransferCoding)),
            ("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(Malformed("Transfer-Encoding in HTTP/1.0"))),
        ];
        for (raw, want) in cases {
            assert_eq!(&framing(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn host_rules() {
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            ParseError::Malformed("missing Host")
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
            ParseError::Malformed("repeated Host")
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").unwrap_err(),
            ParseError::Malformed("invalid Host")
        );
        for bad in ["[::1", "[::1]x", "[::1]:8a", "a]b", "[zz]", "a@b"] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(
                parse(&raw).unwrap_err(),
                ParseError::Malformed("invalid Host"),
                "{bad}"
            );
        }
        for good in ["[::1]", "[::1]:8080", "a.b:80"] {
            assert!(
                parse(&format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n")).is_ok(),
                "{good}"
            );
        }
        for empty in [
            "GET / HTTP/1.1\r\nHost: \r\n\r\n",
            "GET / HTTP/1.0\r\nHost:\r\n\r\n",
        ] {
            assert_eq!(
                parse(empty).unwrap_err(),
                ParseError::Malformed("empty Host"),
                "{empty:?}"
            );
        }
        // An absolute-form target's authority replaces an empty Host.
        let head = parse("GET http://example.com/ HTTP/1.1\r\nHost: \r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.request.headers()["host"], "example.com");
        assert_eq!(
            parse("GET http://u:p@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            ParseError::Malformed("userinfo in target")
        );
        let head = parse("GET http://example.com:81/x?y HTTP/1.1\r\nHost: other\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.request.headers()["host"], "example.com:81");
        assert_eq!(head.request.uri().path(), "/x");
    }

    #[test]
    fn request_line_table() {
        use ParseError::*;
        let cases: &[(&str, Result<(), ParseError>)] = &[
            ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Ok(())),
            (
                "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
                Err(Malformed("invalid request-target form")),
            ),
            (
                "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n",
                Err(Malformed("invalid request-target form")),
            ),
            (
                "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                Err(VersionNotSupported),
            ),
            (
                "GET / HTTP/3.0\r\nHost: a\r\n\r\n",
                Err(VersionNotSupported),
            ),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", Ok(())),
            ("GET / HTTP/1.9\r\nHost: a\r\n\r\n", Ok(())),
            (
                "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
                Err(Malformed("invalid line ending")),
            ),
            (
                "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
                Err(Malformed("non-ASCII byte in target")),
            ),
            (
                "GET / HTTP/1.x\r\nHost: a\r\n\r\n",
                Err(Malformed("invalid HTTP version")),
            ),
            (
                "GET / FOO/1.1\r\nHost: a\r\n\r\n",
                Err(Malformed("invalid HTTP version")),
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
                Err(Malformed("invalid header name")),
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
                Ok(()),
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n",
                Err(UnknownExpectation),
            ),
            ("GET / HTTP/1.0\r\nExpect: teapot\r\n\r\n", Ok(())),
        ];
        for (raw, want) in cases {
            assert_eq!(&parse(raw).map(|_| ()), want, "{raw:?}");
        }
    }

    #[test]
    fn a_newer_http_1_minor_is_served_as_1_1() {
        let head = parse("GET /x HTTP/1.2\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.request.version(), Version::HTTP_11);
        assert!(head.keep_alive);
        // Split across reads: the partial line is rewritten once, then completed.
        let mut buf = BytesMut::from("GET /x HTTP/1.3");
        assert!(parse_head(&mut buf, &HeadLimits::default())
            .unwrap()
            .is_none());
        buf.extend_from_slice(b"\r\nHost: a\r\n\r\n");
        let head = parse_head(&mut buf, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.request.version(), Version::HTTP_11);
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        let ka = |raw: &str| parse(raw).unwrap().unwrap().keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"
        ));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn partial_and_limits() {
        let limits = HeadLimits {
            max_head_bytes: 64,
            max_headers: 2,
        };
        let mut buf = BytesMut::from("GET / HTTP/1.1\r\nHost: a\r\n");
        assert!(parse_head(&mut buf, &limits).unwrap().is_none());
        let mut buf = BytesMut::from(format!("GET /{} HTTP/1.1\r\n", "a".repeat(80)).as_str());
        assert_eq!(
            parse_head(&mut buf, &limits).unwrap_err(),
            ParseError::UriTooLong
        );
        let mut buf =
            BytesMut::from(format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(80)).as_str());
        assert_eq!(
            parse_head(&mut buf, &limits).unwrap_err(),
            ParseError::HeadTooLarge
        );
        let mut buf = BytesMut::from("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        assert_eq!(
            parse_head(&mut buf, &limits).unwrap_err(),
            ParseError::TooManyHeaders
        );
    }

    #[test]
    fn bytes_past_the_limit_do_not_decide_the_answer() {
        // Found by fuzz/h1_head: a head over the limit was 431 when a read ended
        // at the limit, but 400 (or TooManyHeaders) when one read brought a bad
        // byte (or one field too many) from past it.
        let limits = HeadLimits {
            max_head_bytes: 64,
            max_headers: 3,
        };
        let long = "a".repeat(60);
        for head in [
            format!("GET / HTTP/1.1\r\nHost: a\r\nX: {long}\x01\r\n\r\n"),
            format!("GET / HTTP/1.1\r\nHost: a\r\nX: {long}\r\nY: 1\r\nZ: 2\r\n\r\n"),
        ] {
            for cut in [64, 70, head.len()] {
                let mut buf = BytesMut::from(&head.as_bytes()[..cut]);
                assert_eq!(
                    parse_head(&mut buf, &limits).unwrap_err(),
                    ParseError::HeadTooLarge,
                    "{head:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn the_version_is_judged_on_the_whole_request_line() {
        // Found by fuzz/h1_head: a read ending in `HTTP/3` was answered 505
        // although the line went on as `HTTP/3.x` (400 in one read); a read
        // ending in `HTTP/1.2` was served as 1.1 although `3` followed.
        use ParseError::*;
        let cases = [
            (
                "PRI * HTTP/3.\x18\r\n\r\n",
                Err(Malformed("invalid HTTP version")),
            ),
            (
                "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                Err(VersionNotSupported),
            ),
            (
                "GET / HTTP/1.23\r\nHost: a\r\n\r\n",
                Err(Malformed("invalid HTTP version")),
            ),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", Ok(())),
        ];
        for (raw, want) in cases {
            for cut in 0..=raw.len() {
                let mut buf = BytesMut::from(&raw.as_bytes()[..cut]);
                let mut got = parse_head(&mut buf, &HeadLimits::default());
                if matches!(got, Ok(None)) {
                    buf.extend_from_slice(&raw.as_bytes()[cut..]);
                    got = parse_head(&mut buf, &HeadLimits::default());
                }
                assert_eq!(
                    got.map(|h| assert!(h.is_some())),
                    want,
                    "{raw:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn many_fields_keep_their_values() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..40 {
            raw.push_str(&format!("X-{i}: value-{i}\r\n"));
        }
        raw.push_str("\r\n");
        let head = parse(&raw).unwrap().unwrap();
        assert_eq!(head.request.headers().len(), 41);
        for i in 0..40 {
            assert_eq!(
                head.request.headers()[format!("x-{i}")],
                format!("value-{i}").as_str()
            );
        }
    }

    #[test]
    fn leaves_pipelined_bytes_in_the_buffer() {
        let mut buf = BytesMut::from("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n");
        let head = parse_head(&mut buf, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.request.uri().path(), "/a");
        assert_eq!(&buf[..], b"GET /b HTTP/1.1\r\n");
    }
}
