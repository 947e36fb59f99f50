//! Development mode (`--dev`): `no-cache` everywhere, the live-reload script
//! in HTML and only there (with its length, validators, ranges and codings
//! right), the event stream and its bounds, edits served at once; and the
//! open-file cache's trust interval (`--file-cache-valid`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use clap::{CommandFactory as _, FromArgMatches as _};
use ferrox::config::{self, Args, Explicit};
use ferrox::files::cache::CacheOptions;
use ferrox::handler::cache_control::CachePolicy;
use ferrox::handler::dev::{LIVE_PATH, MAX_LIVE_STREAMS, SCRIPT};
use ferrox::handler::{self, Handler};
use ferrox::log::LogFormat;
use ferrox::server::sites::Plan;
use ferrox::server::ServerOptions;

use crate::support::sites::{local, site, SitePlanExt, SiteServer};
use crate::support::{Binary, Raw, Resp, TempRoot, TestServer};

const PAGE: &str = "<!doctype html><html><body><h1>hi</h1></body></html>\n";
const CSS: &str = "body { color: rebeccapurple; }\n";

/// `html` as development mode serves it.
fn injected(html: &str) -> String {
    match html.rfind("</body") {
        Some(at) => format!("{}{SCRIPT}{}", &html[..at], &html[at..]),
        None => format!("{html}{SCRIPT}"),
    }
}

/// Writes `contents` to `path` and moves its mtime `secs` seconds on, so
/// that an edit of the same size is a new version even within one tick of
/// the file system's clock.
fn edit(path: &Path, contents: &[u8], secs: u64) {
    std::fs::write(path, contents).unwrap();
    let time = SystemTime::now() + Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// One site on its own loopback address, in development mode or not, with a
/// default Cache-Control that development mode must override.
fn serve(root: &TempRoot, dev: bool) -> (SiteServer, SocketAddr) {
    let mut plan_site = site(&[], root.path()).default_site();
    plan_site.spec.handler.dev = dev;
    plan_site.spec.handler.cache = CachePolicy {
        default: Some(CachePolicy::default_value("public, max-age=3600").unwrap()),
        fingerprint_defaults: true,
        ..CachePolicy::default()
    };
    let plan = Plan {
        sites: vec![plan_site],
        listen: vec![local(1)],
        listen_tls: Vec::new(),
    };
    // As `--dev` sets it: every request checks the file.
    let cache = CacheOptions {
        revalidate: if dev {
            Duration::ZERO
        } else {
            CacheOptions::default().revalidate
        },
        ..CacheOptions::default()
    };
    let server = SiteServer::start_with(plan, LogFormat::Common, cache);
    let addr = server.at(local(1));
    (server, addr)
}

fn dev_root() -> TempRoot {
    TempRoot::new()
        .file("index.html", PAGE)
        .file("style.css", CSS)
        .file("app.3f9a8c2e.js", "console.log(1);\n")
        .file("docs/readme.txt", "read me\n")
        .file(
            "big.html",
            format!("<html><body>{}</body></html>", "x".repeat(100_000)),
        )
}

fn get(addr: SocketAddr, target: &str, headers: &str) -> Resp {
    Raw::connect(addr).exchange("GET", target, headers)
}

#[test]
fn dev_mode_sends_no_cache_on_every_response_and_the_script_in_html_only() {
    let root = dev_root();
    // A precompressed sidecar without the script must never be served.
    std::fs::write(root.join("index.html.br"), b"not the page").unwrap();
    let (_server, addr) = serve(&root, true);

    let css = get(addr, "/style.css", "");
    css.expect(200);
    assert_eq!(css.header("cache-control"), "no-cache");
    assert_eq!(css.text(), CSS, "a CSS file is served as it is");
    let js = get(addr, "/app.3f9a8c2e.js", "");
    assert_eq!(js.header("cache-control"), "no-cache", "over immutable");
    assert!(!js.text().contains("<script"));

    let page = get(addr, "/", "");
    page.expect(200);
    assert_eq!(page.header("cache-control"), "no-cache");
    assert_eq!(page.text(), injected(PAGE));
    assert_eq!(
        page.header("content-length"),
        page.body.len().to_string(),
        "Content-Length is the injected body's"
    );
    let etag = page.header("etag").to_string();
    assert!(etag.starts_with("W/\""), "a weak validator: {etag}");
    assert_ne!(etag, format!("W/{}", root.metadata_tag("index.html")));

    // No coding carries the script: identity, whatever is accepted.
    let coded = get(addr, "/index.html", "Accept-Encoding: br, gzip, zstd\r\n");
    coded.expect(200);
    assert_eq!(coded.try_header("content-encoding"), None);
    assert_eq!(coded.text(), injected(PAGE));
    assert_eq!(coded.header("etag"), etag);

    let head = Raw::connect(addr).exchange("HEAD", "/index.html", "");
    assert_eq!(head.header("content-length"), page.body.len().to_string());

    let again = get(addr, "/", &format!("If-None-Match: {etag}\r\n"));
    again.expect(304);
    assert_eq!(again.header("cache-control"), "no-cache");

    // Ranges are of the injected body.
    let part = get(addr, "/", "Range: bytes=0-9\r\n");
    part.expect(206);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 0-9/{}", page.body.len())
    );
    assert_eq!(part.body, page.body[..10]);
    let tail = get(addr, "/", "Range: bytes=-20\r\n");
    assert_eq!(tail.body, page.body[page.body.len() - 20..]);

    // A file served from its descriptor (past the in-memory size).
    let big = get(addr, "/big.html", "");
    big.expect(200);
    assert!(big.text().ends_with(&format!("x{SCRIPT}</body></html>")));
    assert_eq!(big.header("content-length"), big.body.len().to_string());

    // Error pages and listings are HTML too.
    let missing = get(addr, "/nothing-here", "");
    missing.expect(404);
    assert!(missing.text().contains(SCRIPT));
    assert_eq!(
        missing.header("content-length"),
        missing.body.len().to_string()
    );
    assert!(missing.try_header("content-security-policy").is_none());
    // A listing runs the live reload inside its own script, which its
    // policy allows by nonce: an injected script of its own would be blocked.
    let listing = get(addr, "/docs/", "");
    listing.expect(200);
    let page = listing.text();
    assert!(!page.contains(SCRIPT), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    let script = page.split("<script nonce=\"").nth(1).unwrap();
    assert!(script.contains(ferrox::handler::dev::LIVE_JS), "{page}");
    let csp = listing.header("content-security-policy");
    let nonce = script.split('"').next().unwrap();
    assert!(
        csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(listing.header("cache-control"), "no-cache");
    let json = get(addr, "/docs/", "Accept: application/json\r\n");
    assert!(!json.text().contains("<script"));
}

#[test]
fn outside_dev_mode_nothing_is_injected_and_there_is_no_event_stream() {
    let root = dev_root();
    let (_server, addr) = serve(&root, false);
    let page = get(addr, "/", "");
    assert_eq!(page.text(), PAGE);
    assert_eq!(page.header("cache-control"), "no-cache", "the HTML default");
    assert_eq!(page.header("etag"), root.metadata_tag("index.html"));
    let css = get(addr, "/style.css", "");
    assert_eq!(css.header("cache-control"), "public, max-age=3600");
    assert!(!get(addr, "/nothing", "").text().contains("<script"));
    get(addr, LIVE_PATH, "").expect(404);
}

#[test]
fn in_dev_mode_an_edit_is_served_on_the_next_request() {
    let root = dev_root();
    let (_server, addr) = serve(&root, true);
    let mut c = Raw::connect(addr);
    assert_eq!(c.exchange("GET", "/style.css", "").text(), CSS);
    let same_size = CSS.replace("rebeccapurple", "darkgoldenrod");
    assert_eq!(same_size.len(), CSS.len());
    edit(&root.join("style.css"), same_size.as_bytes(), 5);
    assert_eq!(c.exchange("GET", "/style.css", "").text(), same_size);
    let page = "<html><body>second</body></html>";
    edit(&root.join("index.html"), page.as_bytes(), 5);
    assert_eq!(c.exchange("GET", "/", "").text(), injected(page));
}

/// A GET of the event stream on a new connection, with its head and first
/// bytes read: the connection, and everything read so far.
fn open_stream(addr: SocketAddr) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(format!("GET {LIVE_PATH} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .unwrap();
    let seen = read_until(&mut stream, String::new(), "ferrox live reload", WAIT);
    (stream, seen)
}

const WAIT: Duration = Duration::from_secs(5);

/// Reads from `stream` onto `seen` until it holds `what` (after what it
/// held already), failing after `wait`.
#[track_caller]
fn read_until(stream: &mut TcpStream, mut seen: String, what: &str, wait: Duration) -> String {
    let from = seen.len();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while !seen[from..].contains(what) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {what:?} within {wait:?}; got:\n{seen}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed before {what:?}; got:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read: {e}; got:\n{seen}"),
        }
    }
    seen
}

#[test]
fn the_event_stream_says_reload_soon_after_a_file_under_the_root_changes() {
    let root = dev_root();
    let (server, addr) = serve(&root, true);
    server.wait_log("live reload: watching 1 folder");
    let (mut stream, seen) = open_stream(addr);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    let head = seen.to_ascii_lowercase();
    assert!(head.contains("content-type: text/event-stream"), "{seen}");
    assert!(head.contains("cache-control: no-cache"), "{seen}");

    // Serving files is no change: only an edit is.
    get(addr, "/", "").expect(200);
    edit(&root.join("docs/readme.txt"), b"changed\n", 5);
    let seen = read_until(&mut stream, seen, "event: reload", WAIT);

    // A burst of writes is one event (or a few on a slow machine), never
    // one per write.
    for i in 0..200 {
        std::fs::write(root.join(format!("gen-{}.css", i % 20)), format!("{i}")).unwrap();
    }
    let seen = read_until(&mut stream, seen, "event: reload", WAIT);
    let before = seen.matches("event: reload").count();
    std::thread::sleep(Duration::from_millis(1500));
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&buf[..n]);
    }
    let more = String::from_utf8_lossy(&rest)
        .matches("event: reload")
        .count();
    assert!(
        before + more <= 4,
        "{} events for 200 writes and one edit:\n{seen}{}",
        before + more,
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn the_event_stream_is_answered_before_the_routes() {
    use ferrox::site::route::{Action, Route};
    let root = dev_root();
    let mut plan_site = site(&[], root.path()).default_site();
    plan_site.spec.handler.dev = true;
    plan_site.spec.routes = vec![Route::new(
        "/**",
        Vec::new(),
        Action::Respond {
            status: http::StatusCode::GONE,
            body: "gone".into(),
        },
        Default::default(),
    )
    .unwrap()];
    let plan = Plan {
        sites: vec![plan_site],
        listen: vec![local(1)],
        listen_tls: Vec::new(),
    };
    let server = SiteServer::start(plan);
    let addr = server.at(local(1));
    let gone = get(addr, "/index.html", "");
    gone.expect(410);
    assert_eq!(
        gone.header("cache-control"),
        "no-cache",
        "a route's answer too"
    );
    let (_stream, seen) = open_stream(addr);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
}

#[test]
fn shutdown_ends_open_event_streams_instead_of_waiting_on_them() {
    let root = dev_root();
    let (mut server, addr) = serve(&root, true);
    let (mut stream, seen) = open_stream(addr);
    // The drain allows in-flight responses 10 s: a stream that held it up
    // would take that long.
    let took = server.stop_within(Duration::from_secs(5));
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The stream ended properly: the last chunk, then the close.
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let all = seen + &String::from_utf8_lossy(&rest);
    assert!(all.ends_with("0\r\n\r\n"), "{all:?}");
}

#[test]
fn event_streams_are_bounded_in_number() {
    let root = dev_root();
    let (_server, addr) = serve(&root, true);
    let open: Vec<(TcpStream, String)> = (0..MAX_LIVE_STREAMS).map(|_| open_stream(addr)).collect();
    assert_eq!(open.len(), MAX_LIVE_STREAMS);
    let refused = get(addr, LIVE_PATH, "");
    refused.expect(503);
    // Files are still served.
    get(addr, "/style.css", "").expect(200);
}

#[test]
fn with_a_trust_interval_of_zero_every_edit_is_served_on_the_next_request() {
    let root = TempRoot::new()
        .file("a.txt", "aaaa")
        .file("big.bin", vec![b'1'; 100_000]);
    let options = handler::Options {
        file_cache: CacheOptions {
            revalidate: Duration::ZERO,
            ..CacheOptions::default()
        },
        ..handler::Options::default()
    };
    let server = TestServer::files_with(root.path(), options, ServerOptions::default());
    let mut c = server.raw();
    assert_eq!(c.exchange("GET", "/a.txt", "").text(), "aaaa");
    // The same size, a new mtime.
    edit(&root.join("a.txt"), b"bbbb", 5);
    assert_eq!(c.exchange("GET", "/a.txt", "").text(), "bbbb");
    // A new size.
    edit(&root.join("a.txt"), b"cc", 10);
    assert_eq!(c.exchange("GET", "/a.txt", "").text(), "cc");
    assert_eq!(c.exchange("GET", "/big.bin", "").body.len(), 100_000);
    edit(&root.join("big.bin"), &vec![b'2'; 100_000], 5);
    let big = c.exchange("GET", "/big.bin", "");
    assert!(big.body.iter().all(|b| *b == b'2'));
    // Not dev mode: nothing injected anywhere.
    assert!(!Handler::new(root.path(), handler::Options::default())
        .unwrap()
        .dev());
}

/// The configuration `argv` (after `ferrox`) loads.
fn load(argv: &[&str]) -> Result<config::Config, String> {
    let argv = std::iter::once("ferrox").chain(argv.iter().copied());
    let matches = Args::command()
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    let args = Args::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    config::load(&args, &Explicit::from_matches(&matches)).map_err(|e| e.to_string())
}

#[test]
fn the_flags_and_keys_of_dev_mode_and_the_trust_interval() {
    let root = TempRoot::new().file("index.html", PAGE);
    let dir = root.path().to_str().unwrap();
    let cases: &[(&[&str], bool, Duration)] = &[
        (&[], false, Duration::from_secs(1)),
        (&["--file-cache-valid", "0"], false, Duration::ZERO),
        (
            &["--file-cache-valid", "500ms"],
            false,
            Duration::from_millis(500),
        ),
        (&["--dev"], true, Duration::ZERO),
        (
            &["--dev", "--file-cache-valid", "2s"],
            true,
            Duration::from_secs(2),
        ),
    ];
    for (args, dev, valid) in cases {
        let mut argv = args.to_vec();
        argv.push(dir);
        let config = load(&argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(config.dev, *dev, "{args:?}");
        assert_eq!(config.file_cache.revalidate, *valid, "{args:?}");
        assert!(config.plan.sites.iter().all(|s| s.spec.handler.dev == *dev));
    }
    let bad = load(&["--file-cache-valid", "soon", dir]).unwrap_err();
    assert!(bad.contains("--file-cache-valid"), "{bad}");

    let file = root.join("ferrox.toml");
    let with = |text: &str, more: &[&str]| {
        std::fs::write(&file, format!("{text}\n[[site]]\nroot = {dir:?}\n")).unwrap();
        let mut argv = vec!["-c", file.to_str().unwrap()];
        argv.extend_from_slice(more);
        load(&argv).unwrap()
    };
    let c = with("[server]\ndev = true", &[]);
    assert!(c.dev && c.plan.sites[0].spec.handler.dev);
    assert_eq!(c.file_cache.revalidate, Duration::ZERO);
    let c = with("[server]\ndev = true\nfile_cache_valid = \"250ms\"", &[]);
    assert_eq!(c.file_cache.revalidate, Duration::from_millis(250));
    let c = with(
        "[server]\nfile_cache_valid = \"250ms\"",
        &["--file-cache-valid", "3s"],
    );
    assert_eq!(
        (c.dev, c.file_cache.revalidate),
        (false, Duration::from_secs(3))
    );
    let c = with("[server]\ndev = false", &["--dev"]);
    assert!(c.dev);
}

#[test]
fn the_binary_in_dev_mode_says_so_injects_and_serves_edits_at_once() {
    let root = TempRoot::new()
        .file("index.html", PAGE)
        .file("style.css", CSS);
    let mut running = Binary::start(root.path(), &["--dev", "-l", "127.0.0.1:0", "-q"], &[]);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut running.stderr, &mut line).unwrap();
    assert!(
        line.contains("dev mode") && line.contains(LIVE_PATH),
        "{line}"
    );
    let addr: SocketAddr = running.addr().parse().unwrap();
    let page = get(addr, "/", "");
    assert_eq!(page.text(), injected(PAGE));
    assert_eq!(page.header("cache-control"), "no-cache");
    assert_eq!(get(addr, "/style.css", "").text(), CSS);
    let same_size = CSS.replace("rebeccapurple", "darkgoldenrod");
    edit(&root.join("style.css"), same_size.as_bytes(), 5);
    assert_eq!(get(addr, "/style.css", "").text(), same_size);
}
