//! Micro-benchmarks for the code every request runs: head parsing, response-head
//! encoding, path sanitising (adversarial inputs included), Range parsing, and
//! sorting and rendering a 1,000-entry folder listing.
//! Speed targets live here and in bench/, never in tests.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use ferrox::files::sanitize;
use ferrox::handler::range;
use ferrox::proto::h1::encode::{encode_head, BodyFraming, ConnectionField};
use ferrox::proto::h1::parse::{parse_head, HeadLimits};

const WRK: &[u8] = b"GET /1k.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER: &[u8] = b"GET /assets/app.3f9c1a2b.js HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nReferer: https://example.com/\r\nConnection: keep-alive\r\nSec-Fetch-Dest: script\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-origin\r\nIf-None-Match: \"98c142-3e8-6b01ae59.317a0fe1\"\r\nIf-Modified-Since: Sat, 21 Nov 2026 14:44:41 GMT\r\n\r\n";

fn parsing(c: &mut Criterion) {
    let limits = HeadLimits::default();
    for (name, raw) in [("wrk", WRK), ("browser", BROWSER)] {
        c.bench_function(&format!("h1 parse {name}"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(black_box(raw));
                parse_head(&mut buf, &limits).unwrap()
            })
        });
    }
}

fn encoding(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_static("\"98c142-3e8-6b01ae59.317a0fe1\""),
    );
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_static("Sat, 21 Nov 2026 14:44:41 GMT"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let mut out = Vec::with_capacity(512);
    c.bench_function("h1 encode head", |b| {
        b.iter(|| {
            out.clear();
            encode_head(
                &mut out,
                StatusCode::OK,
                black_box(&headers),
                None,
                BodyFraming::Length(1024),
                ConnectionField::Omit,
                true,
            );
            out.len()
        })
    });
}

fn paths(c: &mut Criterion) {
    let deep = "/a".repeat(500);
    let dots = "/..%2f".repeat(300);
    let encoded = "%2e".repeat(2000);
    let cases: [(&str, &str); 5] = [
        ("plain", "/assets/app.3f9c1a2b.js"),
        ("encoded utf-8", "/caf%C3%A9/na%C3%AFve%20file.txt"),
        ("adversarial deep", &deep),
        ("adversarial dot-dot", &dots),
        ("adversarial encoded dots", &encoded),
    ];
    for (name, path) in cases {
        c.bench_function(&format!("path sanitize {name}"), |b| {
            b.iter(|| sanitize(black_box(path), false))
        });
    }
}

fn ranges(c: &mut Criterion) {
    let many = format!(
        "bytes={}",
        (0..16)
            .map(|i| format!("{}-{}", i * 100, i * 100 + 50))
            .collect::<Vec<_>>()
            .join(",")
    );
    let too_many = format!(
        "bytes={}",
        (0..5000)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (name, value) in [
        ("single", "bytes=0-99"),
        ("suffix", "bytes=-500"),
        ("16 ranges", many.as_str()),
        ("5000 ranges (capped)", too_many.as_str()),
    ] {
        c.bench_function(&format!("range parse {name}"), |b| {
            b.iter(|| range::parse(black_box(value), 1 << 20, range::MAX_RANGES))
        });
    }
}

/// 1,000 entries as a folder of downloads holds them: a few folders, numbered
/// and dated names, mixed kinds.
fn entries() -> Vec<ferrox::files::Entry> {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
    (0..1000u64)
        .map(|i| ferrox::files::Entry {
            name: match i % 5 {
                0 => format!("photo-{i}.jpg"),
                1 => format!("Report {i} (final).pdf"),
                2 => format!("release-1.{i}.0-x86_64-linux.tar.gz"),
                3 => format!("notes_{i}.md"),
                _ => format!("folder {i}"),
            }
            .into_bytes(),
            is_dir: i % 5 == 4,
            size: i * 7919,
            modified: at + std::time::Duration::from_secs(i * 3600),
        })
        .collect()
}

fn listing(c: &mut Criterion) {
    use ferrox::handler::listing::{self, Context, Offers, Sort};
    let path = sanitize("/downloads/", false).unwrap();
    let entries = entries();
    c.bench_function("listing sort+render 1000", |b| {
        b.iter(|| {
            let mut entries = entries.clone();
            let sort = Sort::from_query(None);
            sort.apply(&mut entries);
            let cx = Context {
                path: &path,
                sort,
                truncated: false,
                offers: Offers::default(),
                readme: None,
                extra_script: None,
            };
            listing::html(&cx, black_box(&entries))
        })
    });
}

criterion_group!(benches, parsing, encoding, paths, ranges, listing);
criterion_main!(benches);
