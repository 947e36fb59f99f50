//! Operations: the admin listener (`--admin`): health and readiness through a
//! drain, the metrics and what moves them, `promtool check metrics` on the
//! output. The binary runs as a process of its own, so its counters count
//! only what each test sends.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::sites::{block_on, get_once};
use crate::support::{Raw, Resp, Served, TempRoot};

/// The admin address from its start-up line.
fn admin_addr(served: &mut Served) -> SocketAddr {
    let line = served.wait_for("naming the admin listener", |l| {
        l.starts_with("ferrox: admin")
    });
    let url = line.rsplit(' ').next().unwrap_or_default();
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no address in {line:?}"))
}

/// A fresh `ferrox ROOT -l 127.0.0.1:0 --admin 127.0.0.1:0 -q ARGS`, its
/// listener and its admin address.
fn start(root: &TempRoot, args: &[&str]) -> (Served, SocketAddr, SocketAddr) {
    let root = root.path().to_str().unwrap().to_string();
    let mut all = vec![
        root.as_str(),
        "-l",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "-q",
    ];
    all.extend_from_slice(args);
    let mut served = Served::start(std::path::Path::new("/"), &all, &[], 1);
    let admin = admin_addr(&mut served);
    let addr = served.addr(0);
    wait_ready(admin);
    (served, addr, admin)
}

/// Waits (bounded) until `/health/ready` says the listeners accept: a moment
/// after the admin line on a busy machine. A signal sent before that would
/// test a start, not a stop.
fn wait_ready(admin: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = get(admin, "/health/ready");
        if ready.status == 200 {
            return;
        }
        assert!(
            ready.status == 503 && ready.text() == "starting\n" && Instant::now() < deadline,
            "not ready: {ready:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    get_once(addr, "localhost", target)
}

/// The metrics, as text.
fn scrape(admin: SocketAddr) -> String {
    let r = get(admin, "/metrics");
    r.expect(200);
    assert_eq!(
        r.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text()
}

/// The value of the sample `series` (name and labels exactly as printed),
/// or `None` when the scrape has no such line.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let value = l.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[track_caller]
fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Scrapes until `series` has `want` (the counters of a response are added
/// once it is written, a moment after the client has it).
#[track_caller]
fn wait_value(admin: SocketAddr, series: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(admin);
        if sample(&text, series) == Some(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} is not {want} after 10 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the process to exit; how long it took.
fn exit_within(served: &mut Served, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still running {limit:?} after the stop; stderr:\n{}",
            served.log.join("\n")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ready_turns_503_at_sigterm_while_the_listener_still_serves_the_drain() {
    let root = TempRoot::new().file("a.txt", "hello\n");
    let (mut served, addr, admin) = start(&root, &["--drain-delay", "2s"]);
    get(admin, "/health/live").expect(200);
    let ready = get(admin, "/health/ready");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    assert_eq!(ready.header("cache-control"), "no-store");

    served.signal("-TERM");
    let stopped = Instant::now();
    served.wait_for("saying it drains", |l| l.contains("draining for 2s"));
    let ready = get(admin, "/health/ready");
    assert_eq!((ready.status, ready.text().as_str()), (503, "stopping\n"));
    // The drain: new connections are still accepted and served, and the
    // process is still alive.
    for _ in 0..3 {
        assert_eq!(get(addr, "/a.txt").expect(200).text(), "hello\n");
        get(admin, "/health/live").expect(200);
        get(admin, "/health/ready").expect(503);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "the test is too slow"
    );
    exit_within(&mut served, Duration::from_secs(10));
    assert!(
        stopped.elapsed() >= Duration::from_secs(2),
        "stopped after {:?}, before the drain delay",
        stopped.elapsed()
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening"
    );
}

#[test]
fn a_second_sigterm_skips_the_drain() {
    let root = TempRoot::new().file("a.txt", "hello\n");
    let (mut served, addr, admin) = start(&root, &["--drain-delay", "60s"]);
    served.signal("-TERM");
    served.wait_for("saying it drains", |l| l.contains("draining for 1m"));
    get(admin, "/health/ready").expect(503);
    get(addr, "/a.txt").expect(200);
    served.signal("-TERM");
    served.wait_for("saying it stops now", |l| {
        l == "ferrox: SIGTERM again: stopping now"
    });
    exit_within(&mut served, Duration::from_secs(5));
}

#[test]
fn without_admin_there_is_no_drain() {
    let root = TempRoot::new();
    let mut served = Served::start(root.path(), &["-l", "127.0.0.1:0", "-q"], &[], 1);
    served.signal("-TERM");
    served.wait_for("the usual stop line", |l| {
        l.starts_with("ferrox: stopping (in-flight")
    });
    exit_within(&mut served, Duration::from_secs(2));
}

#[test]
fn the_admin_port_serves_no_site_and_no_site_serves_metrics() {
    let root = TempRoot::new()
        .file("a.txt", "hello\n")
        .file("health/ready", "a file\n");
    let (_served, addr, admin) = start(&root, &[]);
    for target in ["/a.txt", "/", "/health/", "/metrics/", "/health/ready/x"] {
        get(admin, target).expect(404);
    }
    // The site's own paths are its files: /metrics is not ours there.
    get(addr, "/metrics").expect(404);
    get(addr, "/health/live").expect(404);
    assert_eq!(get(addr, "/health/ready").expect(200).text(), "a file\n");
    // The admin listener answers only GET and HEAD.
    let mut c = Raw::connect(admin);
    c.exchange("POST", "/health/live", "Content-Length: 0\r\n")
        .expect(405);
    c.exchange("HEAD", "/metrics", "").expect(200);
}

#[test]
fn requests_are_counted_by_site_method_status_class_and_protocol() {
    let root = TempRoot::new().file("a.txt", "hello\n");
    let (_served, addr, admin) = start(&root, &[]);
    let mut c = Raw::connect(addr);
    for _ in 0..3 {
        c.exchange("GET", "/a.txt", "").expect(200);
    }
    c.exchange("HEAD", "/a.txt", "").expect(200);
    c.exchange("GET", "/missing", "").expect(404);
    c.exchange("DELETE", "/a.txt", "").expect(405);
    c.exchange("OPTIONS", "/a.txt", "").expect(204);
    // A connection stays open: one HTTP/1 connection.
    let text = wait_value(
        admin,
        r#"ferrox_requests_total{site="default",method="OPTIONS",status_class="2xx",protocol="h1"}"#,
        1.0,
    );
    assert_eq!(
        value(&text, r#"ferrox_connections_open{protocol="h1"}"#),
        1.0
    );
    drop(c);
    let mut c = Raw::connect(addr);
    c.send("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
    c.response().expect(501);
    drop(c);
    // A malformed request names no site.
    let mut c = Raw::connect(addr);
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n");
    c.response().expect(400);
    drop(c);
    // HTTP/2 with prior knowledge.
    block_on(async {
        use crate::support::h2::{h2_request, h2c};
        let (send, _conn) = h2c(addr).await;
        for _ in 0..2 {
            let r = h2_request(
                &send,
                http::Request::get("http://localhost/a.txt")
                    .body(())
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, 200);
        }
    });

    let text = wait_value(
        admin,
        r#"ferrox_requests_total{site="default",method="GET",status_class="2xx",protocol="h2"}"#,
        2.0,
    );
    let text = if sample(&text, r#"ferrox_connections_open{protocol="h2"}"#) == Some(0.0) {
        text
    } else {
        wait_value(admin, r#"ferrox_connections_open{protocol="h2"}"#, 0.0)
    };
    let series = |site: &str, method: &str, class: &str, protocol: &str| {
        format!(
            "ferrox_requests_total{{site=\"{site}\",method=\"{method}\",status_class=\"{class}\",protocol=\"{protocol}\"}}"
        )
    };
    let want = [
        (series("default", "GET", "2xx", "h1"), 3.0),
        (series("default", "HEAD", "2xx", "h1"), 1.0),
        (series("default", "GET", "4xx", "h1"), 1.0),
        (series("default", "DELETE", "4xx", "h1"), 1.0),
        (series("default", "OPTIONS", "2xx", "h1"), 1.0),
        (series("default", "other", "5xx", "h1"), 1.0),
        (series("none", "other", "4xx", "h1"), 1.0),
        (series("default", "GET", "2xx", "h2"), 2.0),
    ];
    for (series, n) in &want {
        assert_eq!(value(&text, series), *n, "{series} in:\n{text}");
    }
    let all: f64 = text
        .lines()
        .filter(|l| l.starts_with("ferrox_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(all, 11.0, "no other request was counted:\n{text}");
    assert_eq!(
        value(
            &text,
            r#"ferrox_request_duration_seconds_count{site="default"}"#
        ),
        10.0
    );
    assert_eq!(
        value(
            &text,
            r#"ferrox_request_duration_seconds_bucket{site="default",le="+Inf"}"#
        ),
        10.0
    );
    // Five bodies of "hello\n" (3 GET over HTTP/1, 2 over HTTP/2) and the
    // error pages.
    assert!(value(&text, r#"ferrox_response_bytes_total{site="default"}"#) > 30.0);
    assert_eq!(
        value(&text, r#"ferrox_connections_open{protocol="h1"}"#),
        0.0
    );
}

#[test]
fn cache_metrics_move() {
    let root = TempRoot::new()
        .file("a.txt", "hello\n")
        .file("dir/x.txt", "x\n")
        .file("app.js", "function f() { return 1; }\n".repeat(400));
    let (_served, addr, admin) = start(&root, &[]);
    let before = scrape(admin);
    for cache in ["files", "listings", "compressed"] {
        for name in ["hits", "misses"] {
            let series = format!("ferrox_cache_{name}_total{{cache=\"{cache}\"}}");
            assert_eq!(value(&before, &series), 0.0, "{series}");
        }
    }
    get(addr, "/a.txt").expect(200);
    get(addr, "/a.txt").expect(200);
    get(addr, "/dir/").expect(200);
    get(addr, "/dir/").expect(200);
    let gz = |c: &mut Raw| {
        let r = c.exchange("GET", "/app.js", "Accept-Encoding: gzip\r\n");
        r.expect(200);
        assert_eq!(r.header("content-encoding"), "gzip");
    };
    let mut c = Raw::connect(addr);
    gz(&mut c);
    // The compressed body is kept once the whole stream went out.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        gz(&mut c);
        let text = scrape(admin);
        if value(&text, r#"ferrox_cache_hits_total{cache="compressed"}"#) >= 1.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "no compressed hit:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(value(&text, r#"ferrox_cache_hits_total{cache="files"}"#) >= 1.0);
    assert!(value(&text, r#"ferrox_cache_misses_total{cache="files"}"#) >= 1.0);
    assert!(value(&text, r#"ferrox_cache_bytes{cache="files"}"#) >= 6.0);
    assert_eq!(
        value(&text, r#"ferrox_cache_hits_total{cache="listings"}"#),
        1.0
    );
    assert_eq!(
        value(&text, r#"ferrox_cache_misses_total{cache="listings"}"#),
        1.0
    );
    assert!(value(&text, r#"ferrox_cache_bytes{cache="listings"}"#) > 0.0);
    assert!(value(&text, r#"ferrox_cache_misses_total{cache="compressed"}"#) >= 1.0);
    assert!(value(&text, r#"ferrox_cache_bytes{cache="compressed"}"#) > 0.0);
    assert_eq!(value(&text, "ferrox_compressions_in_progress"), 0.0);
    assert_eq!(value(&text, "ferrox_compression_fallbacks_total"), 0.0);
}

#[test]
fn a_reload_bumps_the_generation_and_a_bad_one_sets_success_to_0() {
    let root = TempRoot::new().file("site/a.txt", "hello\n");
    let good =
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\naccess_log = false\n\n\
                [[site]]\nroot = \"site\"\n";
    let config = root.join("ferrox.toml");
    std::fs::write(&config, good).unwrap();
    let mut served = Served::start(root.path(), &["-c", "ferrox.toml"], &[], 1);
    let admin = admin_addr(&mut served);
    let text = scrape(admin);
    assert_eq!(value(&text, "ferrox_config_generation"), 1.0);
    assert_eq!(value(&text, "ferrox_config_last_reload_success"), 1.0);

    served.signal("-HUP");
    wait_value(admin, "ferrox_config_generation", 2.0);
    std::fs::write(&config, "[server]\nlisten = 5\n").unwrap();
    served.signal("-HUP");
    let text = wait_value(admin, "ferrox_config_last_reload_success", 0.0);
    assert_eq!(value(&text, "ferrox_config_generation"), 2.0);
    // A failed reload keeps serving, and ready.
    get(admin, "/health/ready").expect(200);
    std::fs::write(&config, good).unwrap();
    served.signal("-HUP");
    let text = wait_value(admin, "ferrox_config_last_reload_success", 1.0);
    assert_eq!(value(&text, "ferrox_config_generation"), 3.0);
}

#[test]
fn tls_metrics_certificate_expiry_and_handshake_failures() {
    use std::io::Write;
    let root = TempRoot::new().file("a.txt", "hello\n");
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let (_served, tls, admin) = start(&root, &["--tls-self-signed", "--state-dir", state_dir]);
    let text = scrape(admin);
    let expiry = value(
        &text,
        r#"ferrox_certificate_expiry_timestamp_seconds{name="localhost"}"#,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        expiry > now + 86_400.0 * 30.0 && expiry < now + 86_400.0 * 400.0,
        "{expiry}"
    );
    // A TLS record that is no ClientHello: the handshake fails.
    let mut s = std::net::TcpStream::connect(tls).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff])
        .unwrap();
    let text = wait_value(admin, "ferrox_tls_handshake_failures_total", 1.0);
    promtool_check(&text);
}

/// Runs `promtool check metrics` (Debian's `prometheus` package) on `text`.
/// Skipped, with a message, where promtool is missing, except on CI
/// (`CI=true`), where `.ci/run` installs it.
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "promtool is missing on CI: .ci/run installs Debian's prometheus package"
        );
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\non:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The scrape of a server that served files, a listing and a 404 passes
/// `promtool check metrics`.
#[test]
fn promtool_checks_the_metrics() {
    let root = TempRoot::new()
        .file("a.txt", "hello\n")
        .file("dir/x.txt", "x\n");
    let (_served, addr, admin) = start(&root, &[]);
    get(addr, "/a.txt").expect(200);
    get(addr, "/dir/").expect(200);
    get(addr, "/nothing").expect(404);
    let text = wait_value(
        admin,
        r#"ferrox_requests_total{site="default",method="GET",status_class="4xx",protocol="h1"}"#,
        1.0,
    );
    promtool_check(&text);
}

#[test]
fn failed_log_writes_are_counted_not_fatal() {
    // /dev/full: every write fails (ENOSPC), as on a full disk.
    let root = TempRoot::new().file("a.txt", "still served");
    let (_served, addr, admin) = start(&root, &["--error-log", "/dev/full"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(admin);
        if sample(&text, "ferrox_log_write_errors_total").is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log write error counted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = get(addr, "/a.txt");
    r.expect(200);
    assert_eq!(r.body, b"still served");
}
