//! Compression: negotiation, precompressed sidecars, on-the-fly streams decoded
//! back to the original, the compressed-response cache, Vary, HEAD, 304, ranges
//! on a cached representation, and `ferrox precompress`.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use ferrox::codec::{compress_to_vec, Encoding, PRECOMPRESS};
use ferrox::handler::compress::CompressOptions;
use ferrox::handler::{self};
use ferrox::server::ServerOptions;

use crate::support;
use crate::support::{TempRoot, TestServer, BIN};

/// Text that compresses well but not trivially: 200 KiB of varied lines.
fn text(kib: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(kib * 1024);
    let mut i = 0u64;
    while out.len() < kib * 1024 {
        out.extend_from_slice(
            format!(
                "function f{i}(a, b) {{ return a * {} + b; }} // line {i}\n",
                i % 97
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(kib * 1024);
    out
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(body).unwrap(),
        other => panic!("unknown coding {other}"),
    }
    out
}

#[test]
fn each_coding_on_the_fly_decodes_to_the_original_and_is_then_cached() {
    let original = text(300);
    let root = TempRoot::new().file("app.js", &original);
    let server = TestServer::files(root.path());
    let mut c = server.raw();
    for coding in ["br", "zstd", "gzip"] {
        let first = c.exchange("GET", "/app.js", &format!("Accept-Encoding: {coding}\r\n"));
        first.expect(200);
        assert_eq!(first.header("content-encoding"), coding);
        assert_eq!(first.header("vary"), "Accept-Encoding");
        assert_eq!(
            first.header("content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(first.header("transfer-encoding"), "chunked", "{first:?}");
        assert!(
            first.body.len() < original.len() / 2,
            "{coding}: {} bytes",
            first.body.len()
        );
        assert_eq!(decode(coding, &first.body), original, "{coding}");
        // The whole result was cached: the next answer has an exact length.
        let deadline = Instant::now() + Duration::from_secs(5);
        let second = loop {
            let r = c.exchange("GET", "/app.js", &format!("Accept-Encoding: {coding}\r\n"));
            if r.try_header("content-length").is_some() || Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            second.header("content-length"),
            second.body.len().to_string()
        );
        assert_eq!(
            second.body, first.body,
            "{coding}: cached bytes differ from the stream"
        );
        assert_eq!(second.header("etag"), first.header("etag"));
    }
}

#[test]
fn negotiation_follows_weights_and_server_preference() {
    let root = TempRoot::new().file("a.css", text(4));
    let server = TestServer::files(root.path());
    let mut c = server.raw();
    for (accept, want) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip, zstd", Some("zstd")),
        ("br;q=0.5, gzip;q=0.9", Some("gzip")),
        ("br;q=0", None),
        ("identity", None),
        ("*", Some("br")),
        ("x-gzip", Some("gzip")),
    ] {
        let r = c.exchange("GET", "/a.css", &format!("Accept-Encoding: {accept}\r\n"));
        r.expect(200);
        assert_eq!(r.try_header("content-encoding"), want, "{accept}");
        assert_eq!(r.header("vary"), "Accept-Encoding", "{accept}");
    }
    // No Accept-Encoding: identity, and still Vary.
    let r = c.exchange("GET", "/a.css", "");
    assert!(r.try_header("content-encoding").is_none());
    assert_eq!(r.header("vary"), "Accept-Encoding");
    assert_eq!(r.body, text(4));
}

#[test]
fn identity_refused_with_nothing_else_is_406() {
    let root = TempRoot::new().file("a.txt", text(4));
    let options = handler::Options {
        compress: CompressOptions {
            enabled: false,
            ..CompressOptions::default()
        },
        ..handler::Options::default()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());
    let mut c = server.raw();
    let r = c.exchange("GET", "/a.txt", "Accept-Encoding: br, identity;q=0\r\n");
    r.expect(406);
    assert_eq!(r.header("vary"), "Accept-Encoding");
    // With identity acceptable the file goes out as it is.
    let r = c.exchange("GET", "/a.txt", "Accept-Encoding: br\r\n");
    r.expect(200);
    assert!(r.try_header("content-encoding").is_none());
}

#[test]
fn images_and_small_files_are_not_compressed() {
    let root = TempRoot::new()
        .file("pic.png", vec![7u8; 50_000])
        .file("tiny.js", "let a = 1;\n")
        .file("pack.js.gz", vec![1u8; 5000]);
    let server = TestServer::files(root.path());
    let mut c = server.raw();
    for target in ["/pic.png", "/pack.js.gz"] {
        let r = c.exchange("GET", target, "Accept-Encoding: br, gzip\r\n");
        r.expect(200);
        assert!(r.try_header("content-encoding").is_none(), "{target}");
        assert!(
            r.try_header("vary").is_none(),
            "{target}: an image cannot differ by coding"
        );
    }
    let r = c.exchange("GET", "/tiny.js", "Accept-Encoding: br, gzip\r\n");
    assert!(r.try_header("content-encoding").is_none());
    assert_eq!(r.body, b"let a = 1;\n");
}

fn write_sidecar(root: &TempRoot, name: &str, original: &[u8], coding: Encoding) -> Vec<u8> {
    let bytes = compress_to_vec(original, coding, &PRECOMPRESS).unwrap();
    let suffix = coding.suffix().unwrap();
    std::fs::write(root.join(format!("{name}{suffix}")), &bytes).unwrap();
    bytes
}

#[test]
fn precompressed_sidecars_are_served_as_the_file() {
    let original = text(64);
    let root = TempRoot::new().file("site.js", &original);
    let br = write_sidecar(&root, "site.js", &original, Encoding::Br);
    let gz = write_sidecar(&root, "site.js", &original, Encoding::Gzip);
    let zst = write_sidecar(&root, "site.js", &original, Encoding::Zstd);
    let server = TestServer::files(root.path());
    let mut c = server.raw();
    let identity = c.exchange("GET", "/site.js", "");
    for (accept, coding, bytes) in [
        ("br", "br", &br),
        ("gzip", "gzip", &gz),
        ("zstd", "zstd", &zst),
    ] {
        let r = c.exchange("GET", "/site.js", &format!("Accept-Encoding: {accept}\r\n"));
        r.expect(200);
        assert_eq!(r.header("content-encoding"), coding);
        assert_eq!(r.header("content-type"), "text/javascript; charset=utf-8");
        assert_eq!(r.header("content-length"), bytes.len().to_string());
        assert_eq!(&r.body, bytes, "{coding}: not the sidecar's bytes");
        assert_eq!(decode(coding, &r.body), original);
        assert_ne!(r.header("etag"), identity.header("etag"));
        // A range applies to the sidecar's bytes.
        let part = c.exchange(
            "GET",
            "/site.js",
            &format!("Accept-Encoding: {accept}\r\nRange: bytes=0-9\r\n"),
        );
        part.expect(206);
        assert_eq!(part.body, bytes[..10]);
        assert_eq!(
            part.header("content-range"),
            format!("bytes 0-9/{}", bytes.len())
        );
    }
}

#[test]
fn a_sidecar_older_than_its_file_is_ignored() {
    let original = text(8);
    let root = TempRoot::new().file("old.css", &original);
    write_sidecar(&root, "old.css", &original, Encoding::Br);
    let past = SystemTime::now() - Duration::from_secs(3600);
    let f = std::fs::File::options()
        .write(true)
        .open(root.join("old.css.br"))
        .unwrap();
    f.set_modified(past).unwrap();
    let options = handler::Options {
        compress: CompressOptions {
            enabled: false,
            ..CompressOptions::default()
        },
        ..handler::Options::default()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());
    let r = server
        .raw()
        .exchange("GET", "/old.css", "Accept-Encoding: br\r\n");
    r.expect(200);
    assert!(
        r.try_header("content-encoding").is_none(),
        "a stale sidecar was served"
    );
    assert_eq!(r.body, original);
}

#[test]
fn sidecars_can_be_turned_off() {
    let original = text(8);
    let root = TempRoot::new().file("x.js", &original);
    write_sidecar(&root, "x.js", &original, Encoding::Br);
    let options = handler::Options {
        precompressed: false,
        compress: CompressOptions {
            enabled: false,
            ..CompressOptions::default()
        },
        ..handler::Options::default()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());
    let r = server
        .raw()
        .exchange("GET", "/x.js", "Accept-Encoding: br\r\n");
    assert!(r.try_header("content-encoding").is_none());
    assert_eq!(r.body, original);
}

#[test]
fn head_and_304_for_compressed_representations() {
    let original = text(40);
    let root = TempRoot::new().file("h.js", &original);
    let server = TestServer::files(root.path());
    let mut c = server.raw();
    // HEAD before anything is cached: GET's head, with no length to state.
    let h = c.exchange("HEAD", "/h.js", "Accept-Encoding: gzip\r\n");
    h.expect(200);
    assert_eq!(h.header("content-encoding"), "gzip");
    assert!(h.try_header("content-length").is_none(), "{h:?}");
    let full = c.exchange("GET", "/h.js", "Accept-Encoding: gzip\r\n");
    let etag = full.header("etag").to_string();
    assert!(etag.ends_with("-gzip\""), "{etag}");
    let nm = c.exchange(
        "GET",
        "/h.js",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"),
    );
    nm.expect(304);
    assert_eq!(nm.header("vary"), "Accept-Encoding");
    assert_eq!(nm.header("etag"), etag);
    // The identity tag does not match the gzip representation, and vice versa.
    let identity_tag = c.exchange("GET", "/h.js", "").header("etag").to_string();
    c.exchange(
        "GET",
        "/h.js",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {identity_tag}\r\n"),
    )
    .expect(200);
    c.exchange("GET", "/h.js", &format!("If-None-Match: {etag}\r\n"))
        .expect(200);
    // The connection is still in step: no stray body bytes anywhere above.
    assert_eq!(c.exchange("GET", "/h.js", "").body, original);
}

#[test]
fn a_cached_compressed_result_serves_ranges() {
    let original = text(100);
    let root = TempRoot::new().file("r.js", &original);
    let server = TestServer::files(root.path());
    let mut c = server.raw();
    let first = c.exchange(
        "GET",
        "/r.js",
        "Accept-Encoding: zstd\r\nRange: bytes=0-9\r\n",
    );
    // Not cached yet: the stream is sent whole.
    first.expect(200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let whole = loop {
        let r = c.exchange("GET", "/r.js", "Accept-Encoding: zstd\r\n");
        if r.try_header("content-length").is_some() || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let part = c.exchange(
        "GET",
        "/r.js",
        "Accept-Encoding: zstd\r\nRange: bytes=5-14\r\n",
    );
    part.expect(206);
    assert_eq!(part.body, whole.body[5..15]);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 5-14/{}", whole.body.len())
    );
}

#[test]
fn compression_over_h2c_matches_h1() {
    // The same handler answers both protocols; a quick h1 check of the coding
    // suffices here (h2 parity is tested in h2.rs), so this checks the length
    // of a cached coding is the same whatever the connection.
    let original = text(20);
    let root = TempRoot::new().file("p.js", &original);
    let server = TestServer::files(root.path());
    let a = server
        .raw()
        .exchange("GET", "/p.js", "Accept-Encoding: br\r\n");
    assert_eq!(decode("br", &a.body), original);
}

#[test]
fn precompress_command_writes_smaller_sidecars() {
    let original = text(50);
    let root = TempRoot::new()
        .file("app.js", &original)
        .file("img.png", vec![0u8; 10_000])
        .file("small.css", "a{}")
        .file("noise.txt", support::noise(20_000, 7));
    let out = Command::new(BIN)
        .args(["precompress", root.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for suffix in [".br", ".zst", ".gz"] {
        let side = root.join(format!("app.js{suffix}"));
        assert!(side.exists(), "{suffix} missing");
        assert!(std::fs::metadata(&side).unwrap().len() < original.len() as u64);
        assert!(!Path::new(&root.join(format!("img.png{suffix}"))).exists());
        assert!(!Path::new(&root.join(format!("small.css{suffix}"))).exists());
        assert!(
            !Path::new(&root.join(format!("noise.txt{suffix}"))).exists(),
            "kept a sidecar that is not smaller"
        );
    }
    assert_eq!(
        decode("br", &std::fs::read(root.join("app.js.br")).unwrap()),
        original
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(!summary.trim().is_empty(), "no summary printed");
    // The server then serves them.
    let server = TestServer::files(root.path());
    let r = server
        .raw()
        .exchange("GET", "/app.js", "Accept-Encoding: br\r\n");
    assert_eq!(
        r.header("content-length"),
        std::fs::metadata(root.join("app.js.br"))
            .unwrap()
            .len()
            .to_string()
    );
}
