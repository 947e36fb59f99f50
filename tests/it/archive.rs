//! Folder archives (`--archive`): `DIR/?download=zip` and `?download=tar.gz`
//! over real sockets (HTTP/1.1 and h2c), unpacked with the zip, tar and flate2
//! crates and, where installed, checked by `unzip -t` and `tar tzf`; the
//! serving rules inside the archive (dotfiles, links out of the root,
//! sidecars); streaming in bounded memory; the bound on archives at once and a
//! client that goes away; the limits; the query without `--archive`.

use std::fs::File;
use std::io::{Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrox::handler::{self, archive::MAX_ARCHIVES, archive::MAX_DEPTH};
use ferrox::server::ServerOptions;
use http::Request;

use crate::support::h2::{h2_request, h2c};
use crate::support::{noise, read_head, Binary, Served, TempRoot, TestServer};

/// Every file and folder of the fixtures: 2023-11-14 22:13:20 UTC (an even
/// second, so the DOS time of a zip holds it exactly).
const MTIME: u64 = 1_700_000_000;

fn mtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MTIME)
}

fn archiving() -> handler::Options {
    handler::Options {
        archive: true,
        ..handler::Options::default()
    }
}

/// A folder with something of every kind: text (deflated in a zip), an
/// image (stored), a file larger than one chunk, an empty folder, an index
/// file (which does not win), dotfiles, precompressed sidecars, a FIFO, a
/// link inside the root, a link to the folder itself, and links out of the
/// root.
fn fixture(outside: &Path) -> TempRoot {
    std::fs::write(outside.join("leak.txt"), "secret outside the root").unwrap();
    let root = TempRoot::new().dir("docs");
    // A FIFO: opening it would block the walk; it is skipped, like a device.
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("docs/pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    root.file("docs/a.txt", "alpha\n".repeat(100))
        .file("docs/index.html", "<h1>docs</h1>")
        .file("docs/pic.png", noise(3000, 1))
        .file("docs/sub/deep/b.bin", noise(150_000, 2))
        .dir("docs/empty")
        .file("docs/.secret", "hidden")
        .file("docs/.git/config", "[core]")
        .file("docs/app.js", "let x = 1;\n".repeat(50))
        .file("docs/app.js.gz", "gz")
        .file("docs/app.js.br", "br")
        .file("docs/lonely.gz", "no file beside it")
        .file("docs/été.txt", "accent")
        .symlink("docs/link.txt", "a.txt")
        .symlink("docs/again", ".")
        .symlink("docs/out", outside)
        .symlink("docs/leak.txt", outside.join("leak.txt"))
        .symlink("docs/up", "../../..")
        .pin_mtimes(mtime())
}

/// What the archive of `docs/` in [`fixture`] holds, in order: folders end
/// in `/`; files with their bytes (a link as the file it names).
fn expected(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let file = |rel: &str| Some(std::fs::read(root.join(rel)).unwrap());
    vec![
        ("docs/".into(), None),
        ("docs/a.txt".into(), file("docs/a.txt")),
        ("docs/app.js".into(), file("docs/app.js")),
        ("docs/empty/".into(), None),
        ("docs/index.html".into(), file("docs/index.html")),
        ("docs/link.txt".into(), file("docs/a.txt")),
        ("docs/lonely.gz".into(), file("docs/lonely.gz")),
        ("docs/pic.png".into(), file("docs/pic.png")),
        ("docs/sub/".into(), None),
        ("docs/sub/deep/".into(), None),
        ("docs/sub/deep/b.bin".into(), file("docs/sub/deep/b.bin")),
        ("docs/été.txt".into(), file("docs/été.txt")),
    ]
}

type Entries = Vec<(String, Option<Vec<u8>>)>;

/// The entries of a zip, checking each one's time and mode.
fn unzip(bytes: &[u8]) -> Entries {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable zip");
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let t = entry.last_modified().expect("a time");
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2023, 11, 14, 22, 13, 20),
            "{name}"
        );
        let mode = entry.unix_mode().expect("a unix mode") & 0o777;
        if entry.is_dir() {
            assert_eq!(mode, 0o755, "{name}");
            out.push((name, None));
        } else {
            assert_eq!(mode, 0o644, "{name}");
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .expect("entry bytes (CRC checked)");
            out.push((name, Some(data)));
        }
    }
    out
}

/// The entries of a tar.gz, checking each one's time and mode; folders get
/// their `/` back.
fn untar(bytes: &[u8]) -> Entries {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(Cursor::new(bytes)));
    let mut out = Vec::new();
    for entry in tar.entries().expect("a readable tar.gz") {
        let mut entry = entry.expect("an entry");
        let header = entry.header().clone();
        let mut name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        assert_eq!(header.mtime().unwrap(), MTIME, "{name}");
        if header.entry_type() == tar::EntryType::Directory {
            assert_eq!(header.mode().unwrap(), 0o755, "{name}");
            if !name.ends_with('/') {
                name.push('/');
            }
            out.push((name, None));
        } else {
            assert_eq!(header.entry_type(), tar::EntryType::Regular, "{name}");
            assert_eq!(header.mode().unwrap(), 0o644, "{name}");
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.push((name, Some(data)));
        }
    }
    out
}

fn names(entries: &Entries) -> Vec<&str> {
    entries.iter().map(|(n, _)| n.as_str()).collect()
}

/// `cmd ARGS FILE` when `cmd` is installed: its stdout, or `None` without it.
fn real_client(cmd: &str, args: &[&str], bytes: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("download");
    std::fs::write(&path, bytes).unwrap();
    let out = match std::process::Command::new(cmd)
        .args(args)
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{cmd} is not installed: not checked with it");
            return None;
        }
        Err(e) => panic!("{cmd}: {e}"),
    };
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `GET /docs/?download=FORMAT` on HTTP/1.1, its fields checked: the body.
fn download_docs(server: &TestServer, format: &str, content_type: &str) -> Vec<u8> {
    let r = server.get(&format!("/docs/?download={format}"));
    r.expect(200);
    assert_eq!(r.header("content-type"), content_type);
    assert_eq!(
        r.header("content-disposition"),
        format!("attachment; filename=\"docs.{format}\"")
    );
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("transfer-encoding"), "chunked");
    assert_eq!(r.try_header("content-length"), None, "{:?}", r.head);
    r.body
}

#[test]
fn a_folder_downloads_as_zip_and_tar_gz() {
    let outside = tempfile::tempdir().unwrap();
    let root = fixture(outside.path());
    let server = TestServer::files_with(root.path(), archiving(), ServerOptions::default());
    let want = expected(root.path());

    let body = download_docs(&server, "zip", "application/zip");
    let got = unzip(&body);
    assert_eq!(names(&got), names(&want));
    assert_eq!(got, want);
    // Compressible types are deflated, the rest stored.
    let mut zip = zip::ZipArchive::new(Cursor::new(&body)).unwrap();
    let method =
        |zip: &mut zip::ZipArchive<_>, name: &str| zip.by_name(name).unwrap().compression();
    assert_eq!(
        method(&mut zip, "docs/a.txt"),
        zip::CompressionMethod::Deflated
    );
    assert_eq!(
        method(&mut zip, "docs/pic.png"),
        zip::CompressionMethod::Stored
    );
    assert_eq!(
        method(&mut zip, "docs/sub/deep/b.bin"),
        zip::CompressionMethod::Stored
    );
    if let Some(report) = real_client("unzip", &["-t"], &body) {
        assert!(report.contains("No errors detected"), "{report}");
    }
    if let Some(list) = real_client("zipinfo", &["-1"], &body) {
        assert_eq!(list.lines().collect::<Vec<_>>(), names(&want));
    }

    let body = download_docs(&server, "tar.gz", "application/gzip");
    assert_eq!(untar(&body), want);
    if let Some(list) = real_client("tar", &["tzf"], &body) {
        assert_eq!(list.lines().collect::<Vec<_>>(), names(&want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_over_h2_are_plain_data_frames() {
    let outside = tempfile::tempdir().unwrap();
    let root = fixture(outside.path());
    let server = TestServer::files_with(root.path(), archiving(), ServerOptions::default());
    let want = expected(root.path());
    let (send, _conn) = h2c(server.addr).await;
    for (query, unpack) in [("zip", unzip as fn(&[u8]) -> Entries), ("tar.gz", untar)] {
        let uri = format!("http://test/docs/?download={query}");
        let r = h2_request(&send, Request::get(uri).body(()).unwrap()).await;
        assert_eq!(r.status, 200);
        assert!(r.headers.get("content-length").is_none(), "{:?}", r.headers);
        assert!(r.headers.get("transfer-encoding").is_none());
        assert_eq!(
            r.headers["content-disposition"],
            format!("attachment; filename=\"docs.{query}\"").as_str()
        );
        assert_eq!(unpack(&r.body), want, "{query}");
    }
}

#[test]
fn names_come_from_the_folder_or_the_host() {
    let root = TempRoot::new()
        .file("été/x.txt", "x")
        .file("top.txt", "t")
        .pin_mtimes(mtime());
    let server = TestServer::files_with(root.path(), archiving(), ServerOptions::default());
    let r = server.get("/%C3%A9t%C3%A9/?download=tar.gz");
    r.expect(200);
    assert_eq!(
        r.header("content-disposition"),
        "attachment; filename=\"_t_.tar.gz\"; filename*=UTF-8''%C3%A9t%C3%A9.tar.gz"
    );
    assert_eq!(names(&untar(&r.body)), ["été/", "été/x.txt"]);

    // The root: named after a plain host, else "root".
    let with_host = |host: &str| {
        let mut c = server.raw();
        c.send(format!(
            "GET /?download=zip HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ));
        c.response()
    };
    let r = with_host("Files.Example:8080");
    r.expect(200);
    assert_eq!(
        r.header("content-disposition"),
        "attachment; filename=\"files.example.zip\""
    );
    assert_eq!(
        names(&unzip(&r.body)),
        [
            "files.example/",
            "files.example/top.txt",
            "files.example/été/",
            "files.example/été/x.txt"
        ]
    );
    let r = with_host("[::1]:80");
    assert_eq!(
        r.header("content-disposition"),
        "attachment; filename=\"root.zip\""
    );
}

#[test]
fn the_serving_options_apply_inside() {
    let outside = tempfile::tempdir().unwrap();
    let root = fixture(outside.path());
    // Hidden files on, precompressed serving off: dotfiles and sidecars are
    // there; links out of the root still are not.
    let options = handler::Options {
        hidden: true,
        precompressed: false,
        ..archiving()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());
    let r = server.get("/docs/?download=zip");
    r.expect(200);
    let got = unzip(&r.body);
    let got = names(&got);
    for name in [
        "docs/.secret",
        "docs/.git/",
        "docs/.git/config",
        "docs/app.js.gz",
        "docs/app.js.br",
    ] {
        assert!(got.contains(&name), "{name} missing from {got:?}");
    }
    for name in ["docs/out/", "docs/leak.txt", "docs/up/", "docs/again/"] {
        assert!(!got.contains(&name), "{name} in {got:?}");
    }
    assert!(!String::from_utf8_lossy(&r.body).contains("secret outside the root"));

    // Listing off: the archive is still offered (it is its own switch), and
    // index files do not answer for it.
    let options = handler::Options {
        listing: false,
        ..archiving()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());
    server.get("/docs/sub/").expect(404);
    let r = server.get("/docs/sub/?download=tar.gz");
    r.expect(200);
    assert_eq!(
        names(&untar(&r.body)),
        ["sub/", "sub/deep/", "sub/deep/b.bin"]
    );
}

#[test]
fn without_archive_the_query_is_ignored() {
    let outside = tempfile::tempdir().unwrap();
    let root = fixture(outside.path());
    let server = TestServer::files(root.path());
    let r = server.get("/docs/?download=zip");
    r.expect(200);
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(r.body, b"<h1>docs</h1>");
    let r = server.get("/docs/sub/?download=tar.gz");
    r.expect(200);
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    assert!(r.text().contains("deep/"), "{}", r.text());
    assert_eq!(r.try_header("content-disposition"), None);
}

#[test]
fn an_unknown_format_is_400_and_head_builds_nothing() {
    let outside = tempfile::tempdir().unwrap();
    let root = fixture(outside.path());
    let server = TestServer::files_with(root.path(), archiving(), ServerOptions::default());
    for query in [
        "download=rar",
        "download=",
        "download",
        "download=ZIP",
        "x=1&download=%3Cb%3Ebogus",
    ] {
        let r = server.get(&format!("/docs/?{query}"));
        r.expect(400);
        assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
        assert!(r.text().contains("?download=zip"), "{}", r.text());
        assert!(r.text().contains("?download=tar.gz"));
        assert!(!r.text().contains("bogus") && !r.text().contains("rar"));
        // The built-in pages' look, and their way home.
        assert!(r
            .text()
            .contains("<a href=\"/\">Go to the site's home page</a>"));
    }
    // A file with the query is still the file.
    let r = server.get("/docs/a.txt?download=zip");
    r.expect(200);
    assert_eq!(r.body, "alpha\n".repeat(100).as_bytes());

    // HEAD: GET's head, no body, and no slot taken: more HEADs than slots.
    for _ in 0..MAX_ARCHIVES + 2 {
        let mut c = server.raw();
        c.send("HEAD /docs/?download=zip HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        let r = c.head_response();
        r.expect(200);
        assert_eq!(r.header("content-type"), "application/zip");
        assert_eq!(
            r.header("content-disposition"),
            "attachment; filename=\"docs.zip\""
        );
        assert_eq!(r.try_header("content-length"), None);
        c.expect_closed();
    }
    server.get("/docs/?download=zip").expect(200);
}

/// The body of a chunked transfer, and whether it ended with its last chunk.
fn dechunk(mut wire: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line) = wire.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&wire[..line]).unwrap(), 16).unwrap();
        wire = &wire[line + 2..];
        if size == 0 {
            return (body, wire == b"\r\n");
        }
        if wire.len() < size + 2 {
            body.extend_from_slice(&wire[..wire.len().min(size)]);
            return (body, false);
        }
        body.extend_from_slice(&wire[..size]);
        assert_eq!(&wire[size..size + 2], b"\r\n");
        wire = &wire[size + 2..];
    }
}

/// Sends `GET target` and returns the connection after its head, which is
/// asserted to have `status`, the head and the body bytes read with it.
fn start_download(addr: SocketAddr, target: &str, status: u16) -> (TcpStream, String, Vec<u8>) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (head, first) = read_head(&mut c);
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
    (c, head, first)
}

fn sparse(path: &Path, len: u64) {
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn archives_at_once_are_bounded_and_a_client_that_leaves_frees_its_slot() {
    // Each archive is larger than every buffer on its way, so a producer whose
    // client does not read blocks, holding its slot.
    let root = TempRoot::new();
    sparse(&root.join("big.bin"), 64 << 20);
    let server = TestServer::files_with(root.path(), archiving(), ServerOptions::default());
    let mut holders: Vec<TcpStream> = (0..MAX_ARCHIVES)
        .map(|_| start_download(server.addr, "/?download=zip", 200).0)
        .collect();

    let (_, head, _) = start_download(server.addr, "/?download=zip", 503);
    assert!(
        head.to_ascii_lowercase().contains("\r\nretry-after: 5\r\n"),
        "{head}"
    );
    // Other requests are not held up.
    server.get("/").expect(200);

    // One client goes away mid-download (unread bytes: the server sees a
    // reset): its producer stops at its next write and frees the slot.
    drop(holders.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut next, first) = loop {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /?download=zip HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let (head, first) = read_head(&mut c);
        if head.starts_with("HTTP/1.1 200 ") {
            break (c, first);
        }
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(Instant::now() < deadline, "the slot was not freed");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The new download is whole.
    let mut wire = first;
    next.read_to_end(&mut wire).unwrap();
    drop(holders);
    let (body, whole) = dechunk(&wire);
    assert!(whole, "no last chunk");
    let mut zip = zip::ZipArchive::new(Cursor::new(body)).unwrap();
    assert_eq!(zip.by_name("test/big.bin").unwrap().size(), 64 << 20);
}

#[test]
fn an_archive_streams_in_bounded_memory() {
    const LEN: u64 = 96 << 20;
    let root = TempRoot::new().file("note.txt", "hello");
    sparse(&root.join("big.bin"), LEN);
    // Its own process, so that its memory is measured apart from other tests.
    let server = Binary::start(
        root.path(),
        &["-l", "127.0.0.1:0", "--quiet", "--archive"],
        &[],
    );
    let addr = server.addr().parse().unwrap();
    let baseline = server.rss();

    let (mut c, head, mut wire) = start_download(addr, "/?download=zip", 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    // The first bytes come while the archive is being built: the client
    // reads nothing more, and the server holds far less than the archive.
    let mut first = [0u8; 4096];
    c.read_exact(&mut first).unwrap();
    wire.extend_from_slice(&first);
    std::thread::sleep(Duration::from_millis(300));
    let paused = server.rss();

    let mut buf = vec![0u8; 1 << 20];
    let mut peak = paused;
    let mut next_sample = 0;
    loop {
        let n = c.read(&mut buf).expect("read body");
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&buf[..n]);
        if wire.len() >= next_sample {
            peak = peak.max(server.rss());
            next_sample = wire.len() + (8 << 20);
        }
    }
    peak = peak.max(server.rss());
    let (body, whole) = dechunk(&wire);
    assert!(whole, "no last chunk");
    assert!(body.len() as u64 > LEN, "{} bytes", body.len());
    let mut zip = zip::ZipArchive::new(Cursor::new(body)).unwrap();
    assert_eq!(zip.by_name("test/big.bin").unwrap().size(), LEN);
    let mut note = String::new();
    zip.by_name("test/note.txt")
        .unwrap()
        .read_to_string(&mut note)
        .unwrap();
    assert_eq!(note, "hello");

    let (at_pause, growth) = (
        paused.saturating_sub(baseline),
        peak.saturating_sub(baseline),
    );
    eprintln!("archive of {LEN} bytes: RSS {baseline} → {paused} paused, peak {peak} (+{growth})");
    assert!(
        at_pause < 16 << 20,
        "RSS grew by {at_pause} bytes before the client read"
    );
    assert!(
        growth < 24 << 20,
        "RSS grew by {growth} bytes for a {LEN}-byte archive"
    );
}

/// `depth` folders one in another below `top`, with a file at the bottom.
fn nest(root: TempRoot, top: &str, depth: usize) -> TempRoot {
    let deep = vec!["d"; depth].join("/");
    root.file(format!("{top}/{deep}/f.txt"), "bottom")
}

#[test]
fn past_a_limit_the_download_fails_rather_than_look_whole() {
    let mut root = TempRoot::new();
    for i in 0..41 {
        root = root.file(format!("many/{i}.txt"), "x");
    }
    let root = nest(nest(root, "deep", MAX_DEPTH), "deeper", MAX_DEPTH + 1).pin_mtimes(mtime());
    // Entries count for the whole archive: 41 in one folder are too many,
    // MAX_DEPTH + 2 in a chain are not.
    let options = handler::Options {
        max_listing_entries: 40,
        ..archiving()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());

    // Too many entries; folders MAX_DEPTH + 1 deep: the head is sent,
    // then the body ends without its last chunk.
    for target in ["/many/?download=zip", "/deeper/?download=tar.gz"] {
        let (mut c, _, mut wire) = start_download(server.addr, target, 200);
        let _ = c.read_to_end(&mut wire);
        let (_, whole) = dechunk(&wire);
        assert!(!whole, "{target}: a cut-off archive ended like a whole one");
    }
    // MAX_DEPTH deep is whole.
    let (mut c, _, mut wire) = start_download(server.addr, "/deep/?download=tar.gz", 200);
    c.read_to_end(&mut wire).unwrap();
    let (body, whole) = dechunk(&wire);
    assert!(whole);
    let entries = untar(&body);
    assert_eq!(entries.len(), MAX_DEPTH + 2);
    assert_eq!(
        entries.last().unwrap().1.as_deref(),
        Some(b"bottom".as_slice())
    );
}

/// `archive = true` in the file, `FERROX_ARCHIVE` and `--archive` (which beat
/// the file) turn archives on; each one served is logged at info.
#[test]
fn the_site_key_the_variable_and_the_flag() {
    let dir = TempRoot::new().file("www/sub/x.txt", "x");
    let config = |on: Option<bool>| {
        let key = on.map_or(String::new(), |on| format!("archive = {on}\n"));
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[site]]\nroot = \"www\"\n{key}")
    };
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Option<bool>, &[&str], Env, bool); 5] = [
        (None, &[], &[], false),
        (Some(true), &[], &[], true),
        (Some(false), &[], &[("FERROX_ARCHIVE", "true")], true),
        (Some(false), &["--archive"], &[], true),
        (Some(true), &[], &[("FERROX_ARCHIVE", "false")], false),
    ];
    for (key, flags, env, on) in cases {
        std::fs::write(dir.join("p.toml"), config(key)).unwrap();
        let mut args = vec!["--config", "p.toml", "-q"];
        args.extend_from_slice(flags);
        let mut served = Served::start(dir.path(), &args, env, 1);
        let (mut c, head, mut wire) = start_download(served.addr(0), "/sub/?download=zip", 200);
        c.read_to_end(&mut wire).unwrap();
        let what = format!("{key:?} {flags:?} {env:?}");
        if on {
            assert!(head.contains("application/zip"), "{what}: {head}");
            let (body, whole) = dechunk(&wire);
            assert!(whole, "{what}");
            assert_eq!(names(&unzip_names(&body)), ["sub/", "sub/x.txt"], "{what}");
            let line = served.wait_for("the archive's log line", |l| l.contains("archive sent"));
            for part in ["folder=/sub/", "format=\"zip\"", "entries=2", "bytes="] {
                assert!(line.contains(part), "{part} not in {line}");
            }
        } else {
            assert!(head.contains("text/html"), "{what}: {head}");
        }
    }
}

/// The names in a zip, without checking times (the files of a test that
/// does not pin them).
fn unzip_names(bytes: &[u8]) -> Entries {
    let zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable zip");
    zip.file_names()
        .map(|n| (n.unwrap().into_owned(), None))
        .collect()
}

/// A site's routes hold inside its archives: an entry another route takes
/// (deny rules, a fixed answer, other modifiers) is left out, and a folder so
/// taken with all it holds; the route that let the folder's request in
/// covers what it matches; the folder's index file, behind a route of its
/// own, neither answers for the archive nor is in it.
#[test]
fn a_sites_routes_hold_inside_its_archives() {
    use crate::support::sites::{get_once, local, site, SitePlanExt};
    use ferrox::server::sites::Plan;
    use ferrox::site::access::AccessRules;
    use ferrox::site::pipeline::Modifiers;
    use ferrox::site::route::{Action, Route};

    let root = TempRoot::new()
        .file("docs/open.txt", "open")
        .file("docs/index.html", "<h1>index</h1>")
        .file("docs/private/secret.txt", "secret")
        .file("docs/private/deeper/also.txt", "also secret")
        .file("docs/gone.txt", "old")
        .file("docs/styled/a.css", "a{}")
        .file("docs/%41.txt", "percent")
        .file("pub/x.txt", "x")
        .file("pub/y/z.txt", "z")
        .pin_mtimes(mtime());
    let deny = || Modifiers {
        access: Some(AccessRules::new(&[], &["127.0.0.0/8".to_string()]).unwrap()),
        ..Modifiers::default()
    };
    let route = |glob: &str, action: Action, modifiers: Modifiers| {
        Route::new(glob, Vec::new(), action, modifiers).unwrap()
    };
    let respond = Action::Respond {
        status: http::StatusCode::GONE,
        body: "Gone".into(),
    };
    let mut plan = site(&["test"], root.path())
        .default_site()
        .with_routes(vec![
            route("/docs/private/**", Action::Files, deny()),
            route("/docs/index.html", Action::Files, deny()),
            route("/docs/gone.txt", respond, Modifiers::default()),
            route("/docs/styled/**", Action::Files, Modifiers::default()),
            route("/docs/%41.txt", Action::Files, deny()),
            route("/pub/**", Action::Files, Modifiers::default()),
        ]);
    plan.spec.handler.archive = true;
    let server = crate::support::SiteServer::start(Plan {
        sites: vec![plan],
        listen: vec![local(1)],
        listen_tls: Vec::new(),
    });
    let addr = server.at(local(1));
    // What the archive leaves out is refused when asked for itself.
    for (target, status) in [
        ("/docs/private/secret.txt", 403),
        ("/docs/index.html", 403),
        ("/docs/gone.txt", 410),
        ("/docs/%2541.txt", 403),
        ("/docs/A.txt", 404),
        ("/docs/open.txt", 200),
    ] {
        assert_eq!(get_once(addr, "test", target).status, status, "{target}");
    }

    let r = get_once(addr, "test", "/docs/?download=zip");
    r.expect(200);
    assert_eq!(r.header("content-type"), "application/zip");
    let got = unzip(&r.body);
    // `styled/` is another route's, though that route only serves the
    // files: left out too. `%41.txt` is matched as the name it is, not `A.txt`.
    assert_eq!(names(&got), ["docs/", "docs/open.txt"]);
    for secret in ["secret", "also secret", "<h1>index</h1>", "old", "percent"] {
        assert!(!got
            .iter()
            .any(|(_, b)| b.as_deref() == Some(secret.as_bytes())));
    }

    // Under the route that took the folder, what that route matches is in.
    let r = get_once(addr, "test", "/pub/?download=tar.gz");
    r.expect(200);
    assert_eq!(
        names(&untar(&r.body)),
        ["pub/", "pub/x.txt", "pub/y/", "pub/y/z.txt"]
    );
    // A folder the deny route takes: refused before any archive.
    get_once(addr, "test", "/docs/private/?download=zip").expect(403);
}

/// The same over HTTP/2: streams whose client reads nothing hold their
/// slots (flow control stops the producers), the next one is 503, and a
/// stream the client cancels frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_h2_a_cancelled_stream_frees_its_slot() {
    use crate::support::within;
    let root = TempRoot::new();
    sparse(&root.join("big.bin"), 64 << 20);
    let server = TestServer::files_with(root.path(), archiving(), ServerOptions::default());
    let (send, _conn) = h2c(server.addr).await;
    let ask = || {
        let send = send.clone();
        async move {
            let mut send = within("h2 ready", send.ready()).await.unwrap();
            let req = Request::get("http://test/?download=zip").body(()).unwrap();
            let (response, _) = send.send_request(req, true).unwrap();
            within("h2 response head", response).await.unwrap()
        }
    };
    let mut holders = Vec::new();
    for _ in 0..MAX_ARCHIVES {
        let response = ask().await;
        assert_eq!(response.status(), 200);
        holders.push(response);
    }
    let refused = ask().await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");

    // Dropping a body the client has not read cancels its stream.
    drop(holders.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = ask().await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < deadline, "the slot was not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
