//! Caching and partial content, end to end: validators, conditional requests
//! (RFC 9110 §13), byte ranges (§14), Cache-Control and content ETags. Real
//! sockets, exact bytes: bodies are compared with the file, byte for byte, and
//! most checks run on one kept-alive connection, so a response with one byte too
//! many or too few breaks the next one.

use std::fs::{File, FileTimes};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrox::files::cache::CacheOptions;
use ferrox::handler::cache_control::{CachePolicy, Rule};
use ferrox::handler::{self, EtagMode};
use ferrox::server::ServerOptions;
use http::HeaderValue;

use crate::support;
use crate::support::{Raw, Resp, TempRoot, TestServer};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// 2001-02-03T04:05:06Z: fixture files get this second, plus some nanoseconds.
const MTIME: u64 = 981_173_106;
const MTIME_HTTP: &str = "Sat, 03 Feb 2001 04:05:06 GMT";
/// The size of the noise file: 100 KiB.
const LEN: usize = 100 * 1024;

const OCTET: &str = "application/octet-stream";
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn at(secs: u64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn date(secs: u64) -> String {
    httpdate::fmt_http_date(at(secs, 0))
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .set_times(FileTimes::new().set_modified(time).set_accessed(time))
        .unwrap();
}

/// Gives every regular file under `dir` the fixture mtime plus `nanos`.
fn pin_mtimes(dir: &Path, nanos: u32) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            pin_mtimes(&path, nanos);
        } else if meta.is_file() {
            set_mtime(&path, at(MTIME, nanos));
        }
    }
}

/// The metadata ETag the server must send for the file at `path`:
/// `"ino-size-mtime.nsec"`, in hex.
fn metadata_tag(path: &Path) -> String {
    let m = std::fs::metadata(path).unwrap();
    format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    )
}

/// The content ETag for `bytes`: xxh3-128, computed here independently.
fn content_tag(bytes: &[u8]) -> String {
    format!("\"c-{:032x}\"", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// These tests are about validators, not cache freshness: every request sees
/// the file as it is now (the open-file cache's one-second window is tested in
/// files::cache and below).
fn options() -> handler::Options {
    handler::Options {
        file_cache: CacheOptions {
            revalidate: Duration::ZERO,
            ..CacheOptions::default()
        },
        ..handler::Options::default()
    }
}

fn serve(root: &Path, options: handler::Options) -> TestServer {
    TestServer::files_with(root, options, ServerOptions::default())
}

/// Options with this Cache-Control policy.
fn cache_options(
    rules: &[&str],
    default: Option<&'static str>,
    fingerprints: bool,
) -> handler::Options {
    handler::Options {
        cache: CachePolicy {
            rules: rules.iter().map(|r| Rule::parse(r).unwrap()).collect(),
            default: default.map(HeaderValue::from_static),
            fingerprint_defaults: fingerprints,
        },
        ..options()
    }
}

/// Ends a kept-alive connection with a GET of `target`, whose body must be
/// `body`: had an earlier response sent a byte too many or too few, this
/// response's head would not parse or its body would differ.
#[track_caller]
fn finish(mut c: Raw, target: &str, body: &[u8]) {
    let resp = c.exchange("GET", target, "Connection: close\r\n");
    resp.expect(200);
    same_bytes(&resp.body, body, &format!("closing GET {target}"));
    c.expect_closed();
}

/// Compares bodies without printing 100 KiB when they differ.
#[track_caller]
fn same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: {} bytes, want {}; first difference at byte {first}",
            got.len(),
            want.len()
        );
    }
}

/// A 200 with the whole file.
#[track_caller]
fn expect_whole(resp: &Resp, data: &[u8], content_type: &str) {
    resp.expect(200);
    assert_eq!(resp.header("content-type"), content_type, "{resp:?}");
    assert_eq!(
        resp.header("content-length"),
        data.len().to_string(),
        "{resp:?}"
    );
    assert_eq!(resp.header("accept-ranges"), "bytes", "{resp:?}");
    assert!(resp.try_header("content-range").is_none(), "{resp:?}");
    same_bytes(&resp.body, data, "whole file");
}

/// A single-part 206 with bytes `start..=end` of `data`.
#[track_caller]
fn expect_partial(resp: &Resp, data: &[u8], start: usize, end: usize, content_type: &str) {
    resp.expect(206);
    assert_eq!(
        resp.header("content-range"),
        format!("bytes {start}-{end}/{}", data.len()),
        "{resp:?}"
    );
    assert_eq!(
        resp.header("content-length"),
        (end - start + 1).to_string(),
        "{resp:?}"
    );
    assert_eq!(resp.header("content-type"), content_type, "{resp:?}");
    assert_eq!(resp.header("accept-ranges"), "bytes", "{resp:?}");
    assert!(resp.try_header("etag").is_some(), "{resp:?}");
    same_bytes(
        &resp.body,
        &data[start..=end],
        &format!("bytes {start}-{end}"),
    );
}

/// A 206 answering `If-Range`: the range, its validator, and none of the
/// representation metadata the client already holds (RFC 9110 §15.3.7).
#[track_caller]
fn expect_partial_if_range(resp: &Resp, data: &[u8], start: usize, end: usize) {
    resp.expect(206);
    assert_eq!(
        resp.header("content-range"),
        format!("bytes {start}-{end}/{}", data.len()),
        "{resp:?}"
    );
    assert_eq!(
        resp.header("content-length"),
        (end - start + 1).to_string(),
        "{resp:?}"
    );
    for omitted in ["content-type", "last-modified", "content-encoding"] {
        assert_eq!(resp.try_header(omitted), None, "{omitted}: {resp:?}");
    }
    assert!(resp.try_header("etag").is_some(), "{resp:?}");
    same_bytes(
        &resp.body,
        &data[start..=end],
        &format!("bytes {start}-{end}"),
    );
}

/// A 416 for a representation of `len` bytes.
#[track_caller]
fn expect_unsatisfiable(resp: &Resp, len: usize) {
    resp.expect(416);
    assert_eq!(
        resp.header("content-range"),
        format!("bytes */{len}"),
        "{resp:?}"
    );
    assert_eq!(resp.header("content-type"), HTML, "{resp:?}");
    assert_eq!(resp.header("cache-control"), "no-cache", "{resp:?}");
    assert_eq!(resp.body, support::builtin_page(416), "{resp:?}");
}

/// A 304: the validators and Cache-Control of the 200, no framing, no body.
#[track_caller]
fn expect_not_modified(resp: &Resp, etag: &str, last_modified: &str, cache_control: Option<&str>) {
    resp.expect(304);
    assert_eq!(resp.header("etag"), etag, "{resp:?}");
    assert_eq!(resp.header("last-modified"), last_modified, "{resp:?}");
    assert_eq!(resp.try_header("cache-control"), cache_control, "{resp:?}");
    for absent in ["content-length", "transfer-encoding", "content-range"] {
        assert!(resp.try_header(absent).is_none(), "{absent} on {resp:?}");
    }
    assert!(resp.body.is_empty());
}

/// A 412: the error page, which is never cached.
#[track_caller]
fn expect_failed(resp: &Resp, head_only: bool) {
    resp.expect(412);
    let page = support::builtin_page(412);
    assert_eq!(resp.header("content-type"), HTML, "{resp:?}");
    assert_eq!(resp.header("cache-control"), "no-cache", "{resp:?}");
    assert_eq!(
        resp.header("content-length"),
        page.len().to_string(),
        "{resp:?}"
    );
    assert!(resp.try_header("content-range").is_none(), "{resp:?}");
    if !head_only {
        assert_eq!(resp.body, page, "{resp:?}");
    }
}

/// One part of a multipart/byteranges body.
#[derive(Debug)]
struct Part {
    content_type: String,
    content_range: String,
    body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a multipart/byteranges 206 back, strictly: the body starts with the
/// first delimiter, each part is a head and exactly the bytes its Content-Range
/// names, and nothing follows the close delimiter. Returns the boundary.
#[track_caller]
fn parse_multipart(resp: &Resp) -> (String, Vec<Part>) {
    resp.expect(206);
    let boundary = resp
        .header("content-type")
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {resp:?}"))
        .to_string();
    assert!(!boundary.is_empty() && boundary.len() <= 70, "{resp:?}");
    assert!(resp.try_header("content-range").is_none(), "{resp:?}");
    assert_eq!(
        resp.header("content-length"),
        resp.body.len().to_string(),
        "{resp:?}"
    );
    let delimiter = format!("--{boundary}");
    let mut rest = resp
        .body
        .strip_prefix(delimiter.as_bytes())
        .expect("the body starts with the first delimiter");
    let mut parts = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(b"--\r\n") {
            assert!(after.is_empty(), "{} bytes after the close", after.len());
            return (boundary, parts);
        }
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let end = find(rest, b"\r\n\r\n").expect("a part head");
        let head = std::str::from_utf8(&rest[..end]).unwrap().to_string();
        rest = &rest[end + 4..];
        let (mut content_type, mut content_range) = (None, None);
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').expect("a field line");
            match name.to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(value.trim().to_string()),
                "content-range" => content_range = Some(value.trim().to_string()),
                other => panic!("unexpected part field {other}"),
            }
        }
        let content_range = content_range.expect("a part without Content-Range");
        let (first, last) = content_range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .expect("Content-Range: bytes S-E/LEN");
        let len = last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1;
        assert!(rest.len() >= len, "part {content_range} cut short");
        parts.push(Part {
            content_type: content_type.expect("a part without Content-Type"),
            content_range,
            body: rest[..len].to_vec(),
        });
        rest = rest[len..]
            .strip_prefix(b"\r\n")
            .and_then(|r| r.strip_prefix(delimiter.as_bytes()))
            .expect("CRLF and a delimiter after a part");
    }
}

/// A multipart 206 whose parts are exactly `ranges` of `data`, in this order.
/// Returns the boundary.
#[track_caller]
fn expect_parts(resp: &Resp, data: &[u8], content_type: &str, ranges: &[(usize, usize)]) -> String {
    let (boundary, parts) = parse_multipart(resp);
    assert_eq!(resp.header("accept-ranges"), "bytes", "{resp:?}");
    assert!(resp.try_header("etag").is_some(), "{resp:?}");
    let got: Vec<&str> = parts.iter().map(|p| p.content_range.as_str()).collect();
    let want: Vec<String> = ranges
        .iter()
        .map(|(s, e)| format!("bytes {s}-{e}/{}", data.len()))
        .collect();
    assert_eq!(got, want, "part ranges");
    for (part, &(start, end)) in parts.iter().zip(ranges) {
        assert_eq!(part.content_type, content_type, "{part:?}");
        same_bytes(&part.body, &data[start..=end], &part.content_range);
    }
    boundary
}

/// A folder with `data.bin`: 100 KiB of noise, mtime pinned half a second past
/// [`MTIME`].
fn noise_root() -> (TempRoot, Vec<u8>) {
    let data = support::noise(LEN, 0x5eed);
    let t = TempRoot::new().file("data.bin", &data);
    pin_mtimes(t.path(), 500_000_000);
    (t, data)
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

enum Want {
    Part(usize, usize),
    Whole,
    Unsatisfiable,
}

#[test]
fn single_ranges_have_exact_bytes() {
    let (t, data) = noise_root();
    let server = serve(t.path(), options());
    let last = LEN - 1;
    let cases: Vec<(String, Want)> = vec![
        ("bytes=0-99".into(), Want::Part(0, 99)),
        ("bytes=100-".into(), Want::Part(100, last)),
        ("bytes=-100".into(), Want::Part(LEN - 100, last)),
        ("bytes=0-0".into(), Want::Part(0, 0)),
        (format!("bytes={last}-{last}"), Want::Part(last, last)),
        (format!("bytes={last}-"), Want::Part(last, last)),
        ("bytes=-1".into(), Want::Part(last, last)),
        ("bytes=4096-8191".into(), Want::Part(4096, 8191)),
        // Past the end: clamped to the last byte.
        ("bytes=102000-999999".into(), Want::Part(102_000, last)),
        // A suffix longer than the file is the whole file, as a 206.
        ("bytes=-999999".into(), Want::Part(0, last)),
        ("bytes=0-".into(), Want::Part(0, last)),
        // The unit is case-insensitive; whitespace around a range is tolerated.
        ("Bytes=10-19".into(), Want::Part(10, 19)),
        ("bytes= 10-19 ".into(), Want::Part(10, 19)),
        // Unsatisfiable: nothing of it overlaps the file.
        ("bytes=-0".into(), Want::Unsatisfiable),
        (format!("bytes={LEN}-"), Want::Unsatisfiable),
        (format!("bytes={LEN}-{}", LEN + 10), Want::Unsatisfiable),
        ("bytes=999999-".into(), Want::Unsatisfiable),
        // Invalid, or not about bytes: ignored, the whole file.
        ("bytes=5-1".into(), Want::Whole),
        ("items=0-9".into(), Want::Whole),
        ("garbage".into(), Want::Whole),
        ("bytes=".into(), Want::Whole),
        ("bytes=a-b".into(), Want::Whole),
        ("bytes=-".into(), Want::Whole),
        ("bytes=+1-2".into(), Want::Whole),
        ("bytes=1-2-3".into(), Want::Whole),
        ("bytes=0-99999999999999999999".into(), Want::Whole),
        ("bytes=0-9,x".into(), Want::Whole),
    ];
    let mut c = server.raw();
    for (range, want) in &cases {
        let resp = c.exchange("GET", "/data.bin", &format!("Range: {range}\r\n"));
        match *want {
            Want::Part(start, end) => expect_partial(&resp, &data, start, end, OCTET),
            Want::Whole => expect_whole(&resp, &data, OCTET),
            Want::Unsatisfiable => expect_unsatisfiable(&resp, LEN),
        }
        if !matches!(want, Want::Unsatisfiable) {
            assert_eq!(resp.header("last-modified"), MTIME_HTTP, "{range}");
            assert_eq!(
                resp.header("etag"),
                metadata_tag(&t.join("data.bin")),
                "{range}"
            );
        }
    }
    finish(c, "/data.bin", &data);
}

#[test]
fn several_ranges_are_multipart_byteranges() {
    let (t, data) = noise_root();
    let t = t.file("notes.txt", support::noise(3000, 7));
    let text = std::fs::read(t.join("notes.txt")).unwrap();
    let server = serve(t.path(), options());
    let mut c = server.raw();

    let first = c.exchange("GET", "/data.bin", "Range: bytes=0-9,20-29,50-\r\n");
    let b1 = expect_parts(&first, &data, OCTET, &[(0, 9), (20, 29), (50, LEN - 1)]);
    assert_eq!(first.header("last-modified"), MTIME_HTTP);
    let second = c.exchange("GET", "/data.bin", "Range: bytes=0-9,20-29,50-\r\n");
    let b2 = expect_parts(&second, &data, OCTET, &[(0, 9), (20, 29), (50, LEN - 1)]);
    assert_ne!(b1, b2, "two responses share a boundary");

    // A suffix among them; parts carry the file's own type (charset included).
    let resp = c.exchange("GET", "/notes.txt", "Range: bytes=-5,100-199,0-0\r\n");
    expect_parts(
        &resp,
        &text,
        "text/plain; charset=utf-8",
        &[(0, 0), (100, 199), (2995, 2999)],
    );
    // Unsatisfiable members are dropped; one left is a plain 206.
    let resp = c.exchange("GET", "/data.bin", "Range: bytes=999999-,10-19\r\n");
    expect_partial(&resp, &data, 10, 19, OCTET);
    // All unsatisfiable: 416.
    let resp = c.exchange("GET", "/data.bin", "Range: bytes=999999-,-0\r\n");
    expect_unsatisfiable(&resp, LEN);
    finish(c, "/data.bin", &data);
}

#[test]
fn overlapping_and_adjacent_ranges_coalesce() {
    let (t, data) = noise_root();
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let single = [
        ("bytes=0-9,10-19", (0, 19)),
        ("bytes=0-50,40-60", (0, 60)),
        ("bytes=40-60,0-50", (0, 60)),
        ("bytes=10-19,0-9", (0, 19)),
        ("bytes=0-99,10-19", (0, 99)),
        ("bytes=100-199,-102300", (100, LEN - 1)),
    ];
    for (range, (start, end)) in single {
        let resp = c.exchange("GET", "/data.bin", &format!("Range: {range}\r\n"));
        expect_partial(&resp, &data, start, end, OCTET);
    }
    let multi: [(&str, &[(usize, usize)]); 4] = [
        ("bytes=20-29,0-9", &[(0, 9), (20, 29)]),
        ("bytes=0-9,5-14,100-109", &[(0, 14), (100, 109)]),
        (
            "bytes=-10,0-9,11-20",
            &[(0, 9), (11, 20), (LEN - 10, LEN - 1)],
        ),
        ("bytes=500-599,0-9,590-700,9-10", &[(0, 10), (500, 700)]),
    ];
    for (range, ranges) in multi {
        let resp = c.exchange("GET", "/data.bin", &format!("Range: {range}\r\n"));
        expect_parts(&resp, &data, OCTET, ranges);
    }
    finish(c, "/data.bin", &data);
}

/// `count` ranges of two bytes, ten bytes apart.
fn spaced_ranges(count: usize) -> String {
    let specs: Vec<String> = (0..count)
        .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
        .collect();
    format!("bytes={}", specs.join(","))
}

#[test]
fn range_count_and_amplification_are_capped() {
    let (t, data) = noise_root();
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: {}\r\n", spaced_ranges(17)),
    );
    expect_whole(&resp, &data, OCTET);
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: {}\r\n", spaced_ranges(16)),
    );
    let sixteen: Vec<(usize, usize)> = (0..16).map(|i| (i * 10, i * 10 + 1)).collect();
    expect_parts(&resp, &data, OCTET, &sixteen);
    // Overlaps that add up to more than the file: the whole file, once.
    for range in [
        "bytes=0-,0-,0-",
        "bytes=0-,0-",
        "bytes=-60000,0-60000",
        "bytes=0-,-1",
    ] {
        let resp = c.exchange("GET", "/data.bin", &format!("Range: {range}\r\n"));
        expect_whole(&resp, &data, OCTET);
    }
    // Overlaps within the file's size are coalesced instead.
    let resp = c.exchange("GET", "/data.bin", "Range: bytes=0-40000,30000-60000\r\n");
    expect_partial(&resp, &data, 0, 60_000, OCTET);
    finish(c, "/data.bin", &data);

    let server = serve(
        t.path(),
        handler::Options {
            max_ranges: 2,
            ..options()
        },
    );
    let mut c = server.raw();
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: {}\r\n", spaced_ranges(3)),
    );
    expect_whole(&resp, &data, OCTET);
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: {}\r\n", spaced_ranges(2)),
    );
    expect_parts(&resp, &data, OCTET, &[(0, 1), (10, 11)]);
    finish(c, "/data.bin", &data);
}

#[test]
fn ranges_past_4_gib_in_a_sparse_file() {
    use std::os::unix::fs::FileExt;
    // 6 GiB, sparse: offsets and lengths past u32::MAX, sent a few bytes at a time.
    const HUGE: u64 = (6 << 30) + 7;
    const AT: u64 = (5 << 30) + 11;
    let t = TempRoot::new();
    let path = t.join("huge.bin");
    let f = File::create(&path).unwrap();
    f.set_len(HUGE).unwrap();
    f.write_all_at(b"FIVE GIB", AT).unwrap();
    f.write_all_at(b"TAIL", HUGE - 4).unwrap();
    drop(f);
    set_mtime(&path, at(MTIME, 0));
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let resp = c.exchange(
        "GET",
        "/huge.bin",
        &format!("Range: bytes={AT}-{}\r\n", AT + 7),
    );
    resp.expect(206);
    assert_eq!(
        resp.header("content-range"),
        format!("bytes {AT}-{}/{HUGE}", AT + 7)
    );
    assert_eq!(resp.body, b"FIVE GIB");
    let resp = c.exchange("GET", "/huge.bin", "Range: bytes=-4\r\n");
    assert_eq!(
        resp.header("content-range"),
        format!("bytes {}-{}/{HUGE}", HUGE - 4, HUGE - 1)
    );
    assert_eq!(resp.body, b"TAIL");
    let resp = c.exchange(
        "GET",
        "/huge.bin",
        &format!("Range: bytes=0-1,{AT}-{},-2\r\n", AT + 3),
    );
    let (_, parts) = parse_multipart(&resp);
    let got: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|p| (p.content_range.as_str(), p.body.as_slice()))
        .collect();
    let want_ranges = [
        "bytes 0-1/".to_string() + &HUGE.to_string(),
        format!("bytes {AT}-{}/{HUGE}", AT + 3),
        format!("bytes {}-{}/{HUGE}", HUGE - 2, HUGE - 1),
    ];
    let want: Vec<(&str, &[u8])> = want_ranges
        .iter()
        .map(String::as_str)
        .zip([&b"\0\0"[..], b"FIVE", b"IL"])
        .collect();
    assert_eq!(got, want);
    // HEAD of it: the whole length, past u32::MAX.
    let resp = c.exchange("HEAD", "/huge.bin", "Range: bytes=0-,0-\r\n");
    resp.expect(200);
    assert_eq!(resp.header("content-length"), HUGE.to_string());
    let resp = c.exchange("GET", "/huge.bin", &format!("Range: bytes={HUGE}-\r\n"));
    expect_unsatisfiable(&resp, HUGE as usize);
    drop(c);
}

#[test]
fn head_ignores_range() {
    let (t, data) = noise_root();
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let get = c.exchange("GET", "/data.bin", "");
    for range in [
        "bytes=0-99",
        "bytes=0-9,20-29",
        "bytes=999999-",
        "bytes=5-1",
    ] {
        let head = c.exchange("HEAD", "/data.bin", &format!("Range: {range}\r\n"));
        head.expect(200);
        assert_eq!(head.header("content-length"), LEN.to_string(), "{head:?}");
        assert_eq!(head.header("content-type"), OCTET, "{head:?}");
        assert_eq!(head.header("accept-ranges"), "bytes", "{head:?}");
        assert_eq!(head.header("etag"), get.header("etag"), "{head:?}");
        assert!(head.try_header("content-range").is_none(), "{head:?}");
    }
    // Preconditions still apply to HEAD.
    let etag = get.header("etag");
    let head = c.exchange(
        "HEAD",
        "/data.bin",
        &format!("If-None-Match: {etag}\r\nRange: bytes=0-9\r\n"),
    );
    head.expect(304);
    assert!(head.try_header("cache-control").is_none(), "{head:?}");
    assert_eq!(head.header("etag"), etag);
    assert_eq!(head.header("last-modified"), MTIME_HTTP);
    let head = c.exchange(
        "HEAD",
        "/data.bin",
        &format!("If-Modified-Since: {MTIME_HTTP}\r\n"),
    );
    head.expect(304);
    let head = c.exchange("HEAD", "/data.bin", "If-Match: \"other\"\r\n");
    expect_failed(&head, true);
    // Any body byte a HEAD leaked would be read as this response's head.
    finish(c, "/data.bin", &data);
}

#[test]
fn empty_file_ranges() {
    let t = TempRoot::new().file("empty.bin", "");
    pin_mtimes(t.path(), 0);
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let resp = c.exchange("GET", "/empty.bin", "");
    expect_whole(&resp, b"", OCTET);
    for range in ["bytes=0-", "bytes=0-0", "bytes=0-9,20-"] {
        let resp = c.exchange("GET", "/empty.bin", &format!("Range: {range}\r\n"));
        expect_unsatisfiable(&resp, 0);
    }
    // RFC 9110 §14.1.1: on an empty representation a suffix range with a
    // non-zero length is the one satisfiable form; no 206 can express it, so
    // the (empty) whole.
    let resp = c.exchange("GET", "/empty.bin", "Range: bytes=-5\r\n");
    expect_whole(&resp, b"", OCTET);
    finish(c, "/empty.bin", b"");
}

// ---------------------------------------------------------------------------
// Conditional requests
// ---------------------------------------------------------------------------

/// What a conditional GET must get.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Whole,
    Partial(usize, usize),
    NotModified,
    Failed,
}

#[test]
fn preconditions_alone_and_combined_in_rfc_order() {
    // A fingerprinted name, so the file has a Cache-Control of its own that the
    // 304 must repeat and the 412 page must not take.
    let data = support::noise(LEN, 42);
    let t = TempRoot::new().file("app.0123abcd.js", &data);
    pin_mtimes(t.path(), 500_000_000);
    let server = serve(t.path(), options());
    let target = "/app.0123abcd.js";
    let etag = server.get(target).header("etag").to_string();
    assert_eq!(etag, metadata_tag(&t.join("app.0123abcd.js")));
    let weak = format!("W/{etag}");
    let list = format!("\"x\", {etag}, \"y\"");
    let (older, newer) = (date(MTIME - 1), date(MTIME + 10));
    let (etag, weak, list) = (etag.as_str(), weak.as_str(), list.as_str());
    let (older, newer) = (older.as_str(), newer.as_str());

    use Outcome::*;
    let cases: Vec<(Vec<(&str, &str)>, Outcome)> = vec![
        (vec![], Whole),
        // If-Match: strong comparison.
        (vec![("If-Match", etag)], Whole),
        (vec![("If-Match", "*")], Whole),
        (vec![("If-Match", list)], Whole),
        (vec![("If-Match", weak)], Failed),
        (vec![("If-Match", "\"x\"")], Failed),
        (vec![("If-Match", "\"x\", \"y\"")], Failed),
        // If-Unmodified-Since, at one-second precision.
        (vec![("If-Unmodified-Since", older)], Failed),
        (vec![("If-Unmodified-Since", MTIME_HTTP)], Whole),
        (vec![("If-Unmodified-Since", newer)], Whole),
        (vec![("If-Unmodified-Since", "yesterday")], Whole),
        // If-None-Match: weak comparison.
        (vec![("If-None-Match", etag)], NotModified),
        (vec![("If-None-Match", weak)], NotModified),
        (vec![("If-None-Match", "*")], NotModified),
        (vec![("If-None-Match", list)], NotModified),
        (vec![("If-None-Match", "\"x\"")], Whole),
        (vec![("If-None-Match", "\"x\", W/\"y\"")], Whole),
        // If-Modified-Since.
        (vec![("If-Modified-Since", MTIME_HTTP)], NotModified),
        (vec![("If-Modified-Since", newer)], NotModified),
        (vec![("If-Modified-Since", older)], Whole),
        (vec![("If-Modified-Since", "not a date")], Whole),
        // The older forms of HTTP-date are still dates (RFC 9110 §5.6.7).
        (
            vec![("If-Modified-Since", "Saturday, 03-Feb-01 04:05:06 GMT")],
            NotModified,
        ),
        (
            vec![("If-Modified-Since", "Sat Feb  3 04:05:06 2001")],
            NotModified,
        ),
        // Two dates are no date: ignored.
        (
            vec![
                ("If-Modified-Since", MTIME_HTTP),
                ("If-Modified-Since", MTIME_HTTP),
            ],
            Whole,
        ),
        // Step 1 before 2: If-Match decides, If-Unmodified-Since is not looked at.
        (
            vec![("If-Match", etag), ("If-Unmodified-Since", older)],
            Whole,
        ),
        (
            vec![("If-Match", "\"x\""), ("If-Unmodified-Since", newer)],
            Failed,
        ),
        // Steps 1-2 before 3-4: a failed precondition beats a match.
        (vec![("If-Match", "\"x\""), ("If-None-Match", etag)], Failed),
        (
            vec![("If-Unmodified-Since", older), ("If-None-Match", etag)],
            Failed,
        ),
        (
            vec![
                ("If-Unmodified-Since", older),
                ("If-Modified-Since", MTIME_HTTP),
            ],
            Failed,
        ),
        (
            vec![("If-Match", etag), ("If-None-Match", etag)],
            NotModified,
        ),
        (
            vec![
                ("If-Unmodified-Since", MTIME_HTTP),
                ("If-Modified-Since", MTIME_HTTP),
            ],
            NotModified,
        ),
        // Step 3 before 4: If-None-Match decides, If-Modified-Since is ignored.
        (
            vec![
                ("If-None-Match", "\"x\""),
                ("If-Modified-Since", MTIME_HTTP),
            ],
            Whole,
        ),
        (
            vec![("If-None-Match", etag), ("If-Modified-Since", older)],
            NotModified,
        ),
        // Steps 1-4 before Range (step 5).
        (
            vec![("If-None-Match", etag), ("Range", "bytes=0-9")],
            NotModified,
        ),
        (vec![("If-Match", "\"x\""), ("Range", "bytes=0-9")], Failed),
        (
            vec![("If-Match", etag), ("Range", "bytes=0-9")],
            Partial(0, 9),
        ),
        (
            vec![("If-Modified-Since", older), ("Range", "bytes=10-19")],
            Partial(10, 19),
        ),
        (
            vec![("If-None-Match", "\"x\""), ("Range", "bytes=-10")],
            Partial(LEN - 10, LEN - 1),
        ),
        (
            vec![("If-Unmodified-Since", MTIME_HTTP), ("Range", "bytes=0-0")],
            Partial(0, 0),
        ),
        (
            vec![("If-None-Match", etag), ("Range", "bytes=999999-")],
            NotModified,
        ),
    ];
    let cases_with_lists: Vec<(Vec<(&str, &str)>, Outcome)> = vec![
        // A list may come as several lines (RFC 9110 §5.3): every line counts.
        (vec![("If-Match", "\"x\""), ("If-Match", etag)], Whole),
        (vec![("If-Match", "\"x\""), ("If-Match", "\"y\"")], Failed),
        (
            vec![("If-None-Match", "\"x\""), ("If-None-Match", etag)],
            NotModified,
        ),
        (
            vec![
                ("If-None-Match", "\"x\""),
                ("If-None-Match", "\"y\""),
                ("If-Modified-Since", MTIME_HTTP),
            ],
            Whole,
        ),
    ];
    let cases: Vec<_> = cases.into_iter().chain(cases_with_lists).collect();
    let mut c = server.raw();
    for (fields, want) in &cases {
        let headers: String = fields
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let resp = c.exchange("GET", target, &headers);
        let expected = match want {
            Whole => 200,
            Partial(..) => 206,
            NotModified => 304,
            Failed => 412,
        };
        assert_eq!(
            resp.status, expected,
            "{fields:?}: want {want:?}, got:\n{resp:?}"
        );
        match *want {
            Whole => {
                expect_whole(&resp, &data, JS);
                assert_eq!(resp.header("cache-control"), IMMUTABLE);
            }
            Partial(start, end) => {
                expect_partial(&resp, &data, start, end, JS);
                assert_eq!(resp.header("cache-control"), IMMUTABLE);
            }
            NotModified => expect_not_modified(&resp, etag, MTIME_HTTP, Some(IMMUTABLE)),
            Failed => expect_failed(&resp, false),
        }
    }
    // A tag with bytes past ASCII (obs-text) is a tag like any other: it matches
    // nothing here, but it is there.
    for (field, want) in [
        ("If-Match: \"\u{e9}\"", 412),
        (
            "If-None-Match: \"\u{e9}\"\r\nIf-Modified-Since: Sat, 03 Feb 2001 04:05:06 GMT",
            200,
        ),
        ("If-None-Match: \"\u{e9}\", ETAG", 304),
        ("Range: bytes=0-9\r\nIf-Range: \"\u{e9}\"", 200),
    ] {
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n").into_bytes();
        let field = field.replace("ETAG", etag);
        // `é` is U+00E9: sent as the one raw byte 0xE9, not as UTF-8.
        request.extend(field.chars().map(|ch| ch as u32 as u8));
        request.extend_from_slice(b"\r\n\r\n");
        c.send(&request);
        let resp = c.response();
        assert_eq!(resp.status, want, "{field:?}: {resp:?}");
        if want == 200 {
            expect_whole(&resp, &data, JS);
        }
    }
    finish(c, target, &data);
}

#[test]
fn not_modified_and_precondition_failed_heads() {
    let page = b"<!DOCTYPE html><title>p</title><p>hello</p>\n".repeat(50);
    let t = TempRoot::new().file("page.html", &page);
    pin_mtimes(t.path(), 0);
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let get = c.exchange("GET", "/page.html", "");
    expect_whole(&get, &page, HTML);
    assert_eq!(get.header("cache-control"), "no-cache");
    let etag = get.header("etag").to_string();

    // 304 on GET and HEAD: validators and Cache-Control, nothing else of the body.
    for method in ["GET", "HEAD"] {
        for cond in [
            format!("If-None-Match: {etag}\r\n"),
            format!("If-Modified-Since: {MTIME_HTTP}\r\n"),
        ] {
            let resp = c.exchange(method, "/page.html", &cond);
            expect_not_modified(&resp, &etag, MTIME_HTTP, Some("no-cache"));
            assert!(resp.try_header("content-type").is_none(), "{resp:?}");
            assert!(resp.try_header("date").is_some(), "{resp:?}");
        }
    }
    // The raw reader stops at a 304's head: prove no body followed it.
    let mut raw = server.raw();
    raw.send(format!(
        "GET /page.html HTTP/1.1\r\nHost: test\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ));
    let bytes = raw.read_to_close();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "bytes after a 304 head: {text:?}"
    );
    assert_eq!(text.matches("\r\n\r\n").count(), 1, "{text:?}");

    // 412 on GET and HEAD: the error page (its head alone for HEAD).
    let resp = c.exchange("GET", "/page.html", "If-Match: \"nope\"\r\n");
    expect_failed(&resp, false);
    let resp = c.exchange("HEAD", "/page.html", "If-Match: \"nope\"\r\n");
    expect_failed(&resp, true);
    let resp = c.exchange(
        "GET",
        "/page.html",
        &format!("If-Unmodified-Since: {}\r\n", date(MTIME - 3600)),
    );
    expect_failed(&resp, false);
    finish(c, "/page.html", &page);
}

#[test]
fn if_range_both_ways() {
    let (t, data) = noise_root();
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let etag = c
        .exchange("GET", "/data.bin", "")
        .header("etag")
        .to_string();
    let cases: Vec<(String, Outcome)> = vec![
        (etag.clone(), Outcome::Partial(0, 99)),
        (MTIME_HTTP.to_string(), Outcome::Partial(0, 99)),
        ("\"old\"".into(), Outcome::Whole),
        (format!("W/{etag}"), Outcome::Whole),
        (date(MTIME + 1), Outcome::Whole),
        (date(MTIME - 1), Outcome::Whole),
        ("garbage".into(), Outcome::Whole),
    ];
    for (if_range, want) in &cases {
        for range in ["bytes=0-99", "bytes=0-49,50-99"] {
            let resp = c.exchange(
                "GET",
                "/data.bin",
                &format!("Range: {range}\r\nIf-Range: {if_range}\r\n"),
            );
            match *want {
                Outcome::Partial(start, end) => expect_partial_if_range(&resp, &data, start, end),
                _ => expect_whole(&resp, &data, OCTET),
            }
        }
    }
    // A failed If-Range ignores even an unsatisfiable Range.
    let resp = c.exchange(
        "GET",
        "/data.bin",
        "Range: bytes=999999-\r\nIf-Range: \"old\"\r\n",
    );
    expect_whole(&resp, &data, OCTET);
    // A matching one lets it through: 416 and multipart as usual.
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: bytes=999999-\r\nIf-Range: {etag}\r\n"),
    );
    expect_unsatisfiable(&resp, LEN);
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: bytes=0-9,20-29\r\nIf-Range: {etag}\r\n"),
    );
    expect_parts(&resp, &data, OCTET, &[(0, 9), (20, 29)]);
    // If-Range holds one validator: two lines (even agreeing) are no validator.
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\nIf-Range: {etag}\r\n"),
    );
    expect_whole(&resp, &data, OCTET);
    let resp = c.exchange(
        "GET",
        "/data.bin",
        &format!("Range: bytes=0-9\r\nIf-Range: \"old\", {etag}\r\n"),
    );
    expect_whole(&resp, &data, OCTET);
    // If-Range without Range is ignored.
    let resp = c.exchange("GET", "/data.bin", "If-Range: \"old\"\r\n");
    expect_whole(&resp, &data, OCTET);

    // The file changes under a client resuming a download: its tag and date are
    // now old, so it gets the new file whole instead of a splice of two versions.
    let old_date = MTIME_HTTP;
    let new = support::noise(LEN, 99);
    std::fs::write(t.join("data.bin"), &new).unwrap();
    set_mtime(&t.join("data.bin"), at(MTIME + 60, 0));
    for if_range in [etag.as_str(), old_date] {
        let resp = c.exchange(
            "GET",
            "/data.bin",
            &format!("Range: bytes=100-\r\nIf-Range: {if_range}\r\n"),
        );
        expect_whole(&resp, &new, OCTET);
        assert_ne!(resp.header("etag"), etag);
    }
    finish(c, "/data.bin", &new);
}

// ---------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------

#[test]
fn etag_changes_within_one_second_and_with_the_inode() {
    let t = TempRoot::new().file("v.txt", "version 1");
    let path = t.join("v.txt");
    set_mtime(&path, at(MTIME, 100_000_000));
    let server = serve(t.path(), options());
    let mut c = server.raw();

    let first = c.exchange("GET", "/v.txt", "");
    first.expect(200);
    assert_eq!(first.body, b"version 1");
    let tag1 = first.header("etag").to_string();
    assert_eq!(tag1, metadata_tag(&path));
    assert!(tag1.ends_with(&format!(".{:x}\"", 100_000_000)), "{tag1}");
    assert_eq!(first.header("last-modified"), MTIME_HTTP);

    // Same size, same inode, same second: only the nanoseconds differ.
    let ino = std::fs::metadata(&path).unwrap().ino();
    std::fs::write(&path, "version 2").unwrap();
    set_mtime(&path, at(MTIME, 200_000_000));
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
    let second = c.exchange("GET", "/v.txt", &format!("If-None-Match: {tag1}\r\n"));
    second.expect(200);
    assert_eq!(second.body, b"version 2");
    let tag2 = second.header("etag").to_string();
    assert_ne!(tag1, tag2);
    assert_eq!(tag2, metadata_tag(&path));
    assert_eq!(second.header("last-modified"), MTIME_HTTP);
    let resp = c.exchange("GET", "/v.txt", &format!("If-None-Match: {tag2}\r\n"));
    expect_not_modified(&resp, &tag2, MTIME_HTTP, None);
    // A precondition on the old tag fails; on the new one it holds.
    let resp = c.exchange("GET", "/v.txt", &format!("If-Match: {tag1}\r\n"));
    expect_failed(&resp, false);
    let resp = c.exchange("GET", "/v.txt", &format!("If-Match: {tag2}\r\n"));
    resp.expect(200);

    // Replaced by a rename: same size, same mtime to the nanosecond, new inode.
    let tmp = t.join("v.txt.new");
    std::fs::write(&tmp, "version 3").unwrap();
    set_mtime(&tmp, at(MTIME, 200_000_000));
    std::fs::rename(&tmp, &path).unwrap();
    let third = c.exchange("GET", "/v.txt", &format!("If-None-Match: {tag2}\r\n"));
    third.expect(200);
    assert_eq!(third.body, b"version 3");
    assert_ne!(third.header("etag"), tag2);
    assert_eq!(third.header("etag"), metadata_tag(&path));
    finish(c, "/v.txt", b"version 3");
}

#[test]
fn last_modified_is_the_mtime_as_imf_fixdate() {
    let t = TempRoot::new()
        .file("a.txt", "a")
        .file("b.txt", "b")
        .file("c.txt", "c");
    set_mtime(&t.join("a.txt"), at(MTIME, 999_999_999));
    set_mtime(&t.join("b.txt"), at(0, 0));
    set_mtime(&t.join("c.txt"), at(1_700_000_000, 1));
    let server = serve(t.path(), options());
    let mut c = server.raw();
    for (target, want) in [
        ("/a.txt", MTIME_HTTP),
        ("/b.txt", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ("/c.txt", "Tue, 14 Nov 2023 22:13:20 GMT"),
    ] {
        let resp = c.exchange("GET", target, "");
        resp.expect(200);
        assert_eq!(resp.header("last-modified"), want, "{resp:?}");
        assert_eq!(resp.count("last-modified"), 1);
        let resp = c.exchange("GET", target, &format!("If-Modified-Since: {want}\r\n"));
        resp.expect(304);
    }
    finish(c, "/a.txt", b"a");
}

#[test]
fn last_modified_is_never_in_the_future() {
    // RFC 9110 §8.8.2.1: an mtime ahead of the server's clock is replaced by
    // the time of the response.
    let t = TempRoot::new().file("future.txt", "from the future");
    let path = t.join("future.txt");
    set_mtime(&path, at(7_258_118_400, 0)); // 2200-01-01
    let server = serve(t.path(), options());
    let before = SystemTime::now() - Duration::from_secs(1);
    let resp = server.get("/future.txt");
    resp.expect(200);
    assert_eq!(resp.body, b"from the future");
    let last_modified = httpdate::parse_http_date(resp.header("last-modified")).unwrap();
    let sent = httpdate::parse_http_date(resp.header("date")).unwrap();
    assert!(last_modified <= sent, "Last-Modified after Date: {resp:?}");
    assert!(last_modified >= before, "{resp:?}");
    // The ETag is still the file's, and still validates.
    let etag = resp.header("etag").to_string();
    assert_eq!(etag, metadata_tag(&path));
    let resp = server.request("GET", "/future.txt", &format!("If-None-Match: {etag}\r\n"));
    resp.expect(304);
}

#[test]
fn an_mtime_before_1970_is_served_without_last_modified() {
    let t = TempRoot::new().file("old.txt", "very old");
    let path = t.join("old.txt");
    set_mtime(&path, UNIX_EPOCH - Duration::from_secs(315_619_200)); // 1960
    if std::fs::metadata(&path).unwrap().mtime() >= 0 {
        eprintln!("this filesystem cannot store an mtime before 1970: skipped");
        return;
    }
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let resp = c.exchange("GET", "/old.txt", "");
    resp.expect(200);
    assert_eq!(resp.body, b"very old");
    assert!(resp.try_header("last-modified").is_none(), "{resp:?}");
    let etag = resp.header("etag").to_string();
    assert_eq!(etag, metadata_tag(&path));
    // Without a modification date, date preconditions are ignored.
    for cond in [
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
        "If-Modified-Since: Sat, 03 Feb 2001 04:05:06 GMT",
        "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let resp = c.exchange("GET", "/old.txt", &format!("{cond}\r\n"));
        resp.expect(200);
        assert_eq!(resp.body, b"very old", "{cond}");
    }
    let resp = c.exchange(
        "GET",
        "/old.txt",
        "Range: bytes=0-3\r\nIf-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
    );
    expect_whole(&resp, b"very old", "text/plain; charset=utf-8");
    // The tag still works.
    let resp = c.exchange("GET", "/old.txt", &format!("If-None-Match: {etag}\r\n"));
    resp.expect(304);
    let resp = c.exchange(
        "GET",
        "/old.txt",
        &format!("Range: bytes=0-3\r\nIf-Range: {etag}\r\n"),
    );
    expect_partial_if_range(&resp, b"very old", 0, 3);
    finish(c, "/old.txt", b"very old");
}

// ---------------------------------------------------------------------------
// Cache-Control
// ---------------------------------------------------------------------------

/// The Cache-Control of a GET, or `None`.
#[track_caller]
fn cache_control_of(c: &mut Raw, target: &str, status: u16) -> Option<String> {
    let resp = c.exchange("GET", target, "");
    resp.expect(status);
    assert!(resp.count("cache-control") <= 1, "{resp:?}");
    resp.try_header("cache-control").map(str::to_string)
}

/// A fixture with one of every kind of name.
fn cache_root() -> TempRoot {
    let t = TempRoot::new()
        .file("fonts/a.woff2", "font")
        .file("img/logo-big.png", "png")
        .file("img/photo.png", "png")
        .file("assets/css/site.css", "css")
        .file("assets/logo-x.png", "png")
        .file("assets/app.3f9c1a2b.js", "js")
        .file("assets/index.html", "<p>assets</p>")
        .file("docs/assets/a.css", "css")
        .file("docs/guide.pdf", "pdf")
        .file("docs/old/guide.pdf", "pdf")
        .file("app.3f9c1a2b.js", "js")
        .file("main-DyG3k9Qa.css", "css")
        .file("index.B_x9-k2A.js", "js")
        .file("app.js", "js")
        .file("user-settings.js", "js")
        .file("photo-20240101.jpg", "jpg")
        .file("page.html", "<p>page</p>")
        .file("index.html", "<p>home</p>")
        .dir("listed");
    pin_mtimes(t.path(), 0);
    t
}

#[test]
fn cache_rules_first_match_wins_then_fingerprints_then_the_default() {
    let t = cache_root();
    let server = serve(
        t.path(),
        cache_options(
            &[
                ".woff2=public, max-age=604800",
                "logo-*.png=max-age=3600",
                "/assets/**=max-age=86400",
                "*.png=max-age=1",
                "/docs/*.pdf=private",
            ],
            Some("max-age=60"),
            true,
        ),
    );
    let mut c = server.raw();
    for (target, want) in [
        ("/fonts/a.woff2", "public, max-age=604800"),
        ("/img/logo-big.png", "max-age=3600"),
        ("/img/photo.png", "max-age=1"),
        ("/assets/css/site.css", "max-age=86400"),
        // The earlier name rule beats the later path rule.
        ("/assets/logo-x.png", "max-age=3600"),
        // Rules beat the fingerprint and HTML defaults.
        ("/assets/app.3f9c1a2b.js", "max-age=86400"),
        ("/assets/index.html", "max-age=86400"),
        ("/assets/", "max-age=86400"),
        // A path pattern is anchored at the root.
        ("/docs/assets/a.css", "max-age=60"),
        // `*` stays within one segment; `**` crosses them.
        ("/docs/guide.pdf", "private"),
        ("/docs/old/guide.pdf", "max-age=60"),
        ("/app.3f9c1a2b.js", IMMUTABLE),
        ("/main-DyG3k9Qa.css", IMMUTABLE),
        ("/app.js", "max-age=60"),
        ("/photo-20240101.jpg", "max-age=60"),
        ("/page.html", "no-cache"),
        ("/", "no-cache"),
    ] {
        assert_eq!(
            cache_control_of(&mut c, target, 200).as_deref(),
            Some(want),
            "{target}"
        );
    }
    // Listings and error pages are never cached, whatever the rules say.
    assert_eq!(
        cache_control_of(&mut c, "/listed/", 200).as_deref(),
        Some("no-cache")
    );
    assert_eq!(
        cache_control_of(&mut c, "/missing.png", 404).as_deref(),
        Some("no-cache")
    );
    assert_eq!(
        cache_control_of(&mut c, "/fonts/x.woff2", 404).as_deref(),
        Some("no-cache")
    );

    // The same header on 206, multipart 206, 304 and HEAD; error pages keep theirs.
    let etag = c
        .exchange("GET", "/fonts/a.woff2", "")
        .header("etag")
        .to_string();
    let want = "public, max-age=604800";
    for (method, headers, status) in [
        ("GET", "Range: bytes=0-1\r\n".to_string(), 206),
        ("GET", "Range: bytes=0-0,2-3\r\n".to_string(), 206),
        ("GET", format!("If-None-Match: {etag}\r\n"), 304),
        ("HEAD", String::new(), 200),
        ("HEAD", format!("If-None-Match: {etag}\r\n"), 304),
    ] {
        let resp = c.exchange(method, "/fonts/a.woff2", &headers);
        resp.expect(status);
        assert_eq!(
            resp.header("cache-control"),
            want,
            "{method} {headers}: {resp:?}"
        );
    }
    let resp = c.exchange("GET", "/fonts/a.woff2", "If-Match: \"x\"\r\n");
    expect_failed(&resp, false);
    let resp = c.exchange("GET", "/fonts/a.woff2", "Range: bytes=100-\r\n");
    expect_unsatisfiable(&resp, 4);
    finish(c, "/app.js", b"js");
}

#[test]
fn fingerprinted_names_are_immutable_and_html_is_revalidated() {
    let t = cache_root();
    let server = serve(t.path(), options());
    let mut c = server.raw();
    for (target, want) in [
        ("/app.3f9c1a2b.js", Some(IMMUTABLE)),
        ("/assets/app.3f9c1a2b.js", Some(IMMUTABLE)),
        ("/main-DyG3k9Qa.css", Some(IMMUTABLE)),
        ("/index.B_x9-k2A.js", Some(IMMUTABLE)),
        ("/app.js", None),
        ("/user-settings.js", None),
        ("/photo-20240101.jpg", None),
        ("/img/logo-big.png", None),
        ("/page.html", Some("no-cache")),
        ("/", Some("no-cache")),
        ("/assets/", Some("no-cache")),
        ("/listed/", Some("no-cache")),
    ] {
        assert_eq!(
            cache_control_of(&mut c, target, 200).as_deref(),
            want,
            "{target}"
        );
    }
    assert_eq!(
        cache_control_of(&mut c, "/nope.3f9c1a2b.js", 404).as_deref(),
        Some("no-cache")
    );
    finish(c, "/app.js", b"js");
}

#[test]
fn without_fingerprint_defaults_html_gets_the_default() {
    let t = cache_root();
    let server = serve(t.path(), cache_options(&[], Some("max-age=60"), false));
    let mut c = server.raw();
    for target in ["/page.html", "/", "/app.3f9c1a2b.js", "/app.js"] {
        assert_eq!(
            cache_control_of(&mut c, target, 200).as_deref(),
            Some("max-age=60"),
            "{target}"
        );
    }
    assert_eq!(
        cache_control_of(&mut c, "/listed/", 200).as_deref(),
        Some("no-cache")
    );
    assert_eq!(
        cache_control_of(&mut c, "/missing", 404).as_deref(),
        Some("no-cache")
    );
    finish(c, "/app.js", b"js");

    let server = serve(t.path(), cache_options(&[], None, false));
    let mut c = server.raw();
    for target in ["/page.html", "/app.3f9c1a2b.js", "/app.js"] {
        assert_eq!(cache_control_of(&mut c, target, 200), None, "{target}");
    }
    finish(c, "/app.js", b"js");
}

// ---------------------------------------------------------------------------
// Content ETags
// ---------------------------------------------------------------------------

/// GETs `target` until its ETag is a content tag; panics after 5 s.
#[track_caller]
fn wait_for_content_tag(server: &TestServer, target: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = server.get(target);
        resp.expect(200);
        let tag = resp.header("etag");
        if tag.starts_with("\"c-") {
            return tag.to_string();
        }
        assert!(Instant::now() < deadline, "{target}: still {tag} after 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn content_options() -> handler::Options {
    handler::Options {
        etag: EtagMode::Content,
        ..options()
    }
}

#[test]
fn content_etags_are_in_every_response_from_the_first() {
    let big = support::noise(1024 * 1024 + 3, 5);
    let t = TempRoot::new()
        .file("a/same.bin", &big)
        .file("b/same.bin", &big)
        .file("other.bin", support::noise(1024 * 1024 + 3, 6))
        .file("small.txt", "small");
    pin_mtimes(t.path(), 0);
    // Same bytes, other metadata: the content tag must not care.
    set_mtime(&t.join("b/same.bin"), at(MTIME + 3600, 7));
    let server = serve(t.path(), content_options());

    // The first answer waits for the hash: instances behind one balancer
    // agree from the first response, never a metadata tag.
    let first = server.get("/a/same.bin");
    first.expect(200);
    assert_eq!(first.header("etag"), content_tag(&big));
    assert_ne!(first.header("etag"), metadata_tag(&t.join("a/same.bin")));
    same_bytes(&first.body, &big, "first response");
    // A HEAD and a conditional request for a file never seen carry it too.
    let head = server.raw().exchange("HEAD", "/other.bin", "");
    assert_eq!(
        head.header("etag"),
        content_tag(&support::noise(1024 * 1024 + 3, 6))
    );

    let a = wait_for_content_tag(&server, "/a/same.bin");
    let b = wait_for_content_tag(&server, "/b/same.bin");
    let other = wait_for_content_tag(&server, "/other.bin");
    let small = wait_for_content_tag(&server, "/small.txt");
    assert_eq!(a, content_tag(&big));
    assert_eq!(a, b, "identical files, different tags");
    assert_ne!(a, other);
    assert_eq!(other, content_tag(&support::noise(1024 * 1024 + 3, 6)));
    assert_eq!(small, content_tag(b"small"));

    // The content tag validates like any strong tag.
    let mut c = server.raw();
    let resp = c.exchange("GET", "/a/same.bin", &format!("If-None-Match: {a}\r\n"));
    expect_not_modified(&resp, &a, MTIME_HTTP, None);
    // The same tag for a copy elsewhere: identical content is not modified.
    let resp = c.exchange("GET", "/b/same.bin", &format!("If-None-Match: {a}\r\n"));
    resp.expect(304);
    let resp = c.exchange("GET", "/a/same.bin", &format!("If-Match: {a}\r\n"));
    resp.expect(200);
    let resp = c.exchange(
        "GET",
        "/a/same.bin",
        &format!("Range: bytes=10-19\r\nIf-Range: {a}\r\n"),
    );
    expect_partial_if_range(&resp, &big, 10, 19);
    assert_eq!(resp.header("etag"), a);
    let resp = c.exchange("GET", "/other.bin", &format!("If-None-Match: {a}\r\n"));
    resp.expect(200);
    finish(c, "/small.txt", b"small");
}

#[test]
fn content_etag_follows_a_rewrite() {
    let t = TempRoot::new().file("f.txt", "first contents");
    let path = t.join("f.txt");
    set_mtime(&path, at(MTIME, 0));
    let server = serve(t.path(), content_options());
    let old = wait_for_content_tag(&server, "/f.txt");
    assert_eq!(old, content_tag(b"first contents"));

    std::fs::write(&path, "other contents").unwrap();
    set_mtime(&path, at(MTIME + 1, 0));
    // Never the old content tag for the new bytes: the metadata tag until the
    // new hash is ready.
    let resp = server.request("GET", "/f.txt", &format!("If-None-Match: {old}\r\n"));
    resp.expect(200);
    assert_eq!(resp.body, b"other contents");
    assert_ne!(resp.header("etag"), old);
    let new = wait_for_content_tag(&server, "/f.txt");
    assert_eq!(new, content_tag(b"other contents"));
    let resp = server.request("GET", "/f.txt", &format!("If-None-Match: {old}\r\n"));
    resp.expect(200);
    let resp = server.request("GET", "/f.txt", &format!("If-None-Match: {new}\r\n"));
    resp.expect(304);
    assert_eq!(resp.header("last-modified"), date(MTIME + 1));
}

#[test]
fn content_etag_follows_an_in_place_rewrite_that_keeps_size_and_mtime() {
    // What reproducible builds do: same size, mtime reset to a fixed value,
    // same inode. Only the change time tells the versions apart.
    let t = TempRoot::new().file("build.js", "let a = 1;");
    let path = t.join("build.js");
    set_mtime(&path, at(MTIME, 0));
    let server = serve(t.path(), content_options());
    let old = wait_for_content_tag(&server, "/build.js");
    assert_eq!(old, content_tag(b"let a = 1;"));

    let ino = std::fs::metadata(&path).unwrap().ino();
    // Past the coarsest kernel timestamp granularity.
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(&path, "let a = 2;").unwrap();
    set_mtime(&path, at(MTIME, 0));
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
    let resp = server.request("GET", "/build.js", &format!("If-None-Match: {old}\r\n"));
    resp.expect(200);
    assert_eq!(resp.body, b"let a = 2;");
    assert_ne!(resp.header("etag"), old, "the old bytes' tag for new bytes");
    assert_eq!(
        wait_for_content_tag(&server, "/build.js"),
        content_tag(b"let a = 2;")
    );
}

// ---------------------------------------------------------------------------
// Index files
// ---------------------------------------------------------------------------

#[test]
fn an_index_file_has_the_same_ranges_and_preconditions() {
    let page: Vec<u8> = (0..200)
        .flat_map(|i| format!("<p>line {i}</p>\n").into_bytes())
        .collect();
    let t = TempRoot::new()
        .file("sub/index.html", &page)
        .file("index.html", &page);
    pin_mtimes(t.path(), 250_000_000);
    let server = serve(t.path(), options());
    let mut c = server.raw();
    let direct = c.exchange("GET", "/sub/index.html", "");
    for target in ["/sub/", "/"] {
        let get = c.exchange("GET", target, "");
        expect_whole(&get, &page, HTML);
        assert_eq!(get.header("cache-control"), "no-cache");
        assert_eq!(get.header("last-modified"), MTIME_HTTP);
        let etag = get.header("etag").to_string();
        let file = if target == "/" {
            "index.html"
        } else {
            "sub/index.html"
        };
        assert_eq!(etag, metadata_tag(&t.join(file)));
        if target == "/sub/" {
            assert_eq!(etag, direct.header("etag"));
        }

        let resp = c.exchange("GET", target, "Range: bytes=10-19\r\n");
        expect_partial(&resp, &page, 10, 19, HTML);
        assert_eq!(resp.header("cache-control"), "no-cache");
        let resp = c.exchange("GET", target, "Range: bytes=0-4,-5\r\n");
        let n = page.len();
        expect_parts(&resp, &page, HTML, &[(0, 4), (n - 5, n - 1)]);
        let resp = c.exchange("GET", target, "Range: bytes=999999-\r\n");
        expect_unsatisfiable(&resp, n);
        let resp = c.exchange("GET", target, &format!("If-None-Match: {etag}\r\n"));
        expect_not_modified(&resp, &etag, MTIME_HTTP, Some("no-cache"));
        let resp = c.exchange(
            "GET",
            target,
            &format!("If-Modified-Since: {MTIME_HTTP}\r\n"),
        );
        expect_not_modified(&resp, &etag, MTIME_HTTP, Some("no-cache"));
        let resp = c.exchange("GET", target, "If-Match: \"x\"\r\n");
        expect_failed(&resp, false);
        let resp = c.exchange(
            "GET",
            target,
            &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
        );
        expect_partial_if_range(&resp, &page, 0, 9);
        let resp = c.exchange(
            "GET",
            target,
            &format!("Range: bytes=0-9\r\nIf-Range: {}\r\n", date(MTIME - 1)),
        );
        expect_whole(&resp, &page, HTML);
        let resp = c.exchange("HEAD", target, "Range: bytes=0-9\r\n");
        resp.expect(200);
        assert_eq!(resp.header("content-length"), page.len().to_string());
        assert!(resp.try_header("content-range").is_none());
    }
    finish(c, "/sub/", &page);
}
