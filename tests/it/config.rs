//! The configuration file through the real binary, as a user meets it:
//! `ferrox check`, serving with a bad file, precedence (command line >
//! environment > file > defaults), the examples, several sites by Host, and
//! SIGHUP reloads (content, broken files, listeners, under traffic).
//!
//! Every child is killed when its handle drops; every wait is bounded.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{run_in, Raw, Resp, Served, TempRoot};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// The lines of a captured stream.
fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts `actual` is exactly `expected`, line by line; an expected line
/// ending in `…` only has to start with what comes before it.
#[track_caller]
fn same_lines(actual: &[String], expected: &[&str]) {
    let fits = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| match e.strip_suffix('…') {
                Some(prefix) => a.starts_with(prefix),
                None => a == e,
            });
    assert!(
        fits,
        "lines differ\n--- got:\n{}\n--- expected:\n{}",
        actual.join("\n"),
        expected.join("\n")
    );
}

/// The exit status, printing stdout and stderr otherwise.
#[track_caller]
fn exits(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `N` loopback addresses, all different, with ports that were free a
/// moment ago: the sockets are held until all are picked, then dropped just
/// before the addresses are written into a file (a small race, accepted).
fn free_addrs<const N: usize>() -> [SocketAddr; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap())
}

fn free_addr() -> SocketAddr {
    let [addr] = free_addrs();
    addr
}

/// Whether a connection to `addr` is refused (nothing listens).
fn refused(addr: SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// ferrox check
// ---------------------------------------------------------------------------

/// A valid file: `FILE: ok` on stdout, nothing on stderr, exit 0. Checking
/// binds nothing: the file's listener is an address this test holds.
#[test]
fn check_a_valid_file_prints_ok_and_exits_0() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = TempRoot::new().dir("www").file(
        "site.toml",
        format!("[server]\nlisten = [\"{addr}\"]\n\n[[site]]\nroot = \"www\"\nlisting = false\n"),
    );
    let out = run_in(dir.path(), &["check", "site.toml"], &[]);
    exits(&out, 0);
    same_lines(&lines(&out.stdout), &["site.toml: ok"]);
    same_lines(&lines(&out.stderr), &[]);
}

/// Problems in the text (keys, types, values): one line each, as
/// `file:line:col: key: message`, in file order (not grouped by kind or
/// table), on stdout; exit 1.
#[test]
fn check_lists_every_text_problem_one_line_each_in_file_order() {
    let dir = TempRoot::new().dir("www").file(
        "text.toml",
        r#"[server]
listen = ["127.0.0.1:1"]
max-connections = 10
idle_timeout = "soon"

[[site]]
root = "www"
lisitng = false
index = ["a/b.html"]
"#,
    );
    let out = run_in(dir.path(), &["check", "text.toml"], &[]);
    exits(&out, 1);
    same_lines(
        &lines(&out.stdout),
        &[
            "text.toml:3:1: server.max-connections: unknown key; did you mean 'max_connections'?",
            "text.toml:4:16: server.idle_timeout: invalid duration 'soon': expected number at 0 (use e.g. 10s, 500ms, 2m)",
            "text.toml:8:1: site[0].lisitng: unknown key; did you mean 'listing'?",
            "text.toml:9:10: site[0].index[0]: 'a/b.html' must be a plain file name",
        ],
    );
    same_lines(&lines(&out.stderr), &[]);
}

/// Problems only the filesystem shows (a root that does not exist, error
/// pages that are a file, a certificate that does not exist) and a TLS site
/// without a TLS listener: each at the value that names it, in file order.
#[test]
fn check_lists_filesystem_problems_at_the_values_that_name_them() {
    let dir = TempRoot::new().file("notes.txt", "not a folder");
    std::fs::write(
        dir.join("fs.toml"),
        r#"[server]
listen = ["127.0.0.1:1"]

[[site]]
root = "nowhere"
error_pages = "notes.txt"
tls = { cert = "missing.pem", key = "missing.key" }
"#,
    )
    .unwrap();
    let out = run_in(dir.path(), &["check", "fs.toml"], &[]);
    exits(&out, 1);
    same_lines(
        &lines(&out.stdout),
        &[
            "fs.toml:5:8: site[0].root: 'nowhere': no such folder",
            "fs.toml:6:15: site[0].error_pages: 'notes.txt' is not a folder",
            "fs.toml:7:7: site[0].tls: no TLS listener serves this site: add server.listen_tls or the site's listen_tls",
            "fs.toml:7:16: site[0].tls.cert: no such file 'missing.pem'",
            "fs.toml:7:37: site[0].tls.key: no such file 'missing.key'",
        ],
    );
    // Relative paths are resolved against the folder of the file, not the
    // working directory: the same file checked from elsewhere finds the
    // same problems, named with the path it was given.
    let path = dir.join("fs.toml");
    let out = run_in(Path::new("/"), &["check", s(&path)], &[]);
    exits(&out, 1);
    let root = dir.join("nowhere");
    same_lines(
        &lines(&out.stdout)[..1],
        &[&format!(
            "{}:5:8: site[0].root: '{}': no such folder",
            path.display(),
            root.display()
        )],
    );
}

/// `ferrox check` promises every problem, one line each. A file with text
/// problems and filesystem problems must list all four.
#[test]
fn check_lists_text_and_filesystem_problems_together() {
    let dir = TempRoot::new();
    std::fs::write(
        dir.join("every.toml"),
        r#"[server]
listen = ["127.0.0.1:1"]
listen_tls = ["127.0.0.1:2"]
idle_timeout = "soon"

[[site]]
root = "nowhere"
lisitng = false
tls = { cert = "missing.pem", key = "missing.key" }
"#,
    )
    .unwrap();
    let out = run_in(dir.path(), &["check", "every.toml"], &[]);
    exits(&out, 1);
    same_lines(
        &lines(&out.stdout),
        &[
            "every.toml:4:16: server.idle_timeout: invalid duration 'soon': expected number at 0 (use e.g. 10s, 500ms, 2m)",
            "every.toml:7:8: site[0].root: 'nowhere': no such folder",
            "every.toml:8:1: site[0].lisitng: unknown key; did you mean 'listing'?",
            "every.toml:9:16: site[0].tls.cert: no such file 'missing.pem'",
            "every.toml:9:37: site[0].tls.key: no such file 'missing.key'",
        ],
    );
}

/// A missing root names its path (`'nowhere': no such folder`); a missing
/// certificate must too, as `Problem`'s own documentation shows
/// (`site[1].tls.cert: no such file 'certs/a.pem'`).
#[test]
fn the_missing_certificate_file_is_named() {
    let dir = TempRoot::new().dir("www");
    std::fs::write(
        dir.join("cert.toml"),
        r#"[server]
listen_tls = ["127.0.0.1:1"]

[[site]]
root = "www"
tls = { cert = "missing.pem", key = "missing.key" }
"#,
    )
    .unwrap();
    let out = run_in(dir.path(), &["check", "cert.toml"], &[]);
    exits(&out, 1);
    same_lines(
        &lines(&out.stdout),
        &[
            "cert.toml:6:16: site[0].tls.cert: no such file 'missing.pem'",
            "cert.toml:6:37: site[0].tls.key: no such file 'missing.key'",
        ],
    );
}

/// Without an argument `check` checks `$FERROX_CONFIG`, else `./ferrox.toml`
/// (in the working directory); an argument beats both.
#[test]
fn check_without_a_file_uses_ferrox_config_then_ferrox_toml() {
    let dir = TempRoot::new()
        .dir("www")
        .file("ferrox.toml", "[[site]]\nroot = \"www\"\n")
        .file("other.toml", "[[site]]\nroot = \"gone\"\n");
    let out = run_in(dir.path(), &["check"], &[]);
    exits(&out, 0);
    same_lines(&lines(&out.stdout), &["ferrox.toml: ok"]);

    let env = [("FERROX_CONFIG", "other.toml")];
    let out = run_in(dir.path(), &["check"], &env);
    exits(&out, 1);
    same_lines(
        &lines(&out.stdout),
        &["other.toml:2:8: site[0].root: 'gone': no such folder"],
    );

    let out = run_in(dir.path(), &["check", "ferrox.toml"], &env);
    exits(&out, 0);
    same_lines(&lines(&out.stdout), &["ferrox.toml: ok"]);

    // Neither: the default file is named, and that it cannot be read.
    let empty = TempRoot::new();
    let out = run_in(empty.path(), &["check"], &[]);
    exits(&out, 1);
    same_lines(
        &lines(&out.stdout),
        &["ferrox.toml:1:1: cannot read the file: No such file or directory (os error 2)"],
    );
}

// ---------------------------------------------------------------------------
// serving with a bad file
// ---------------------------------------------------------------------------

/// `ferrox --config BAD` (or `FERROX_CONFIG=BAD ferrox`) prints on stderr
/// exactly the lines `ferrox check BAD` prints on stdout, exits 1 without a
/// start-up line, and listens nowhere.
#[test]
fn serving_a_bad_file_prints_the_check_lines_on_stderr_and_exits_1() {
    let addr = free_addr();
    let dir = TempRoot::new().file(
        "bad.toml",
        format!(
            "[server]\nlisten = [\"{addr}\"]\nshutdown_timeout = \"later\"\n\n[[site]]\nroot = \"nowhere\"\n"
        ),
    );
    let check = run_in(dir.path(), &["check", "bad.toml"], &[]);
    exits(&check, 1);
    let problems = lines(&check.stdout);
    same_lines(
        &problems,
        &[
            "bad.toml:3:20: server.shutdown_timeout: invalid duration 'later': expected number at 0 (use e.g. 10s, 500ms, 2m)",
            "bad.toml:6:8: site[0].root: 'nowhere': no such folder",
        ],
    );

    for (args, env) in [
        (&["--config", "bad.toml"][..], &[][..]),
        (&[][..], &[("FERROX_CONFIG", "bad.toml")][..]),
    ] {
        let out = run_in(dir.path(), args, env);
        exits(&out, 1);
        assert_eq!(lines(&out.stderr), problems, "{args:?} {env:?}");
        assert!(out.stdout.is_empty(), "stdout: {:?}", lines(&out.stdout));
        assert!(refused(addr), "{addr} accepts after a failed start");
    }

    // A problem only the filesystem shows fails the start the same way.
    let dir = TempRoot::new().file(
        "fs.toml",
        format!("[server]\nlisten = [\"{addr}\"]\n\n[[site]]\nroot = \"nowhere\"\n"),
    );
    let out = run_in(dir.path(), &["--config", "fs.toml"], &[]);
    exits(&out, 1);
    same_lines(
        &lines(&out.stderr),
        &["fs.toml:5:8: site[0].root: 'nowhere': no such folder"],
    );
    assert!(refused(addr));
}

// ---------------------------------------------------------------------------
// precedence: command line > environment > file > defaults
// ---------------------------------------------------------------------------

/// Flags and environment variables of one case.
type Flags<'a> = &'a [&'a str];
type Env<'a> = &'a [(&'a str, &'a str)];

/// One GET with `Host: host` on a fresh connection that closes after it.
#[track_caller]
fn get(addr: SocketAddr, host: &str, path: &str) -> Resp {
    let mut c = Raw::connect(addr);
    c.send(format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ));
    c.response()
}

/// The body of a 200 for `path` on `addr`.
#[track_caller]
fn body(addr: SocketAddr, path: &str) -> String {
    get(addr, "localhost", path).expect(200).text()
}

/// The canonical path, as start-up lines name roots.
fn canonical(path: &Path) -> String {
    path.canonicalize().unwrap().display().to_string()
}

/// How many requests one keep-alive connection serves: the number of the
/// response that says `Connection: close`, after which the server closes.
#[track_caller]
fn requests_per_connection(addr: SocketAddr) -> usize {
    let mut c = Raw::connect(addr);
    for n in 1..=20 {
        c.send("GET /x.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let resp = c.response();
        resp.expect(200);
        if resp
            .try_header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            c.expect_closed();
            return n;
        }
    }
    panic!("20 requests on one connection and no Connection: close");
}

/// A server key with a different value at each level: the file says 2, the
/// environment 3, the command line 4, and the highest level present wins.
#[test]
fn a_server_key_file_then_environment_then_command_line() {
    let addr = free_addr();
    let dir = TempRoot::new().file("www/x.txt", "x").file(
        "p.toml",
        format!(
            "[server]\nlisten = [\"{addr}\"]\nmax_requests_per_connection = 2\n\n[[site]]\nroot = \"www\"\n"
        ),
    );
    let cases: [(&str, Flags, Env, usize); 3] = [
        // The file's value replaces the default (1000).
        ("file", &[], &[], 2),
        // FERROX_... beats the file.
        (
            "environment",
            &[],
            &[("FERROX_MAX_REQUESTS_PER_CONNECTION", "3")],
            3,
        ),
        // The flag beats the environment (and so the file).
        (
            "command line",
            &["--max-requests-per-connection", "4"],
            &[("FERROX_MAX_REQUESTS_PER_CONNECTION", "3")],
            4,
        ),
    ];
    for (level, flags, env, want) in cases {
        let mut args = vec!["--config", "p.toml", "-q"];
        args.extend_from_slice(flags);
        let served = Served::start(dir.path(), &args, env, 1);
        assert_eq!(served.addr(0), addr);
        assert_eq!(requests_per_connection(addr), want, "{level}");
        drop(served);
    }
}

/// A site key with a different value at each level: `index` names a
/// different file in the file, the environment and on the command line;
/// `GET /` shows which one won.
#[test]
fn a_site_key_file_then_environment_then_command_line() {
    let addr = free_addr();
    let dir = TempRoot::new()
        .file("www/index.html", "default index")
        .file("www/main.html", "file's index")
        .file("www/env.html", "environment's index")
        .file("www/flag.html", "flag's index")
        .file(
            "p.toml",
            format!(
                "[server]\nlisten = [\"{addr}\"]\n\n[[site]]\nroot = \"www\"\nindex = [\"main.html\"]\n"
            ),
        );
    let env = [("FERROX_INDEX", "env.html")];
    let cases: [(Flags, Env, &str); 3] = [
        (&[], &[], "file's index"),
        (&[], &env, "environment's index"),
        (&["--index", "flag.html"], &env, "flag's index"),
    ];
    for (flags, env, want) in cases {
        let mut args = vec!["--config", "p.toml", "-q"];
        args.extend_from_slice(flags);
        let served = Served::start(dir.path(), &args, env, 1);
        assert_eq!(
            served.startup,
            [format!(
                "ferrox: serving {} on http://{addr}/",
                canonical(&dir.join("www"))
            )]
        );
        assert_eq!(body(addr, "/"), want, "{flags:?} {env:?}");
        drop(served);
    }
}

/// Booleans: the file turns `server_header` (server) and `listing` (site)
/// off; `FERROX_NO_SERVER_HEADER=false` and `FERROX_NO_LISTING=false` turn
/// them back on, although `false` is the flags' default: an environment
/// variable that is set counts as given. The flags turn them off again.
#[test]
fn booleans_set_in_the_environment_beat_the_file_even_at_their_default() {
    let addr = free_addr();
    let dir = TempRoot::new().file("www/sub/x.txt", "x").file(
        "p.toml",
        format!(
            "[server]\nlisten = [\"{addr}\"]\nserver_header = false\n\n[[site]]\nroot = \"www\"\nlisting = false\n"
        ),
    );
    let env = [
        ("FERROX_NO_SERVER_HEADER", "false"),
        ("FERROX_NO_LISTING", "false"),
    ];
    let cases: [(Flags, Env, Option<&str>, u16); 3] = [
        (&[], &[], None, 404),
        (&[], &env, Some("ferrox"), 200),
        (&["--no-server-header", "--no-listing"], &env, None, 404),
    ];
    for (flags, env, server, status) in cases {
        let mut args = vec!["--config", "p.toml", "-q"];
        args.extend_from_slice(flags);
        let served = Served::start(dir.path(), &args, env, 1);
        let resp = get(addr, "localhost", "/sub/");
        assert_eq!(resp.status, status, "{flags:?} {env:?}:\n{resp:?}");
        assert_eq!(resp.try_header("server"), server, "{flags:?} {env:?}");
        drop(served);
    }
}

/// A list is replaced, not merged: the file listens on A and B;
/// `FERROX_LISTEN=C` listens on C alone; `--listen D` (with the variable
/// still set) on D alone; `--port` on 127.0.0.1:PORT alone. The start-up
/// lines say so, and the addresses left out refuse connections.
#[test]
fn a_listen_list_from_the_environment_or_command_line_replaces_the_files() {
    let [a, b, c, d, p] = free_addrs();
    let dir = TempRoot::new().file("www/x.txt", "x").file(
        "p.toml",
        format!("[server]\nlisten = [\"{a}\", \"{b}\"]\n\n[[site]]\nroot = \"www\"\n"),
    );
    let root = canonical(&dir.join("www"));
    let port = p.port().to_string();
    let (c_text, d_text) = (c.to_string(), d.to_string());
    let cases: [(Flags, Env, &[SocketAddr]); 4] = [
        (&[], &[], &[a, b]),
        (&[], &[("FERROX_LISTEN", &c_text)], &[c]),
        (&["--listen", &d_text], &[("FERROX_LISTEN", &c_text)], &[d]),
        (&["--port", &port], &[], &[p]),
    ];
    for (flags, env, serving) in cases {
        let mut args = vec!["--config", "p.toml", "-q"];
        args.extend_from_slice(flags);
        let served = Served::start(dir.path(), &args, env, serving.len());
        let expected: Vec<String> = serving
            .iter()
            .map(|addr| format!("ferrox: serving {root} on http://{addr}/"))
            .collect();
        assert_eq!(served.startup, expected, "{flags:?} {env:?}");
        for addr in [a, b, c, d, p] {
            if serving.contains(&addr) {
                assert_eq!(body(addr, "/x.txt"), "x");
            } else {
                assert!(refused(addr), "{addr} accepts with {flags:?} {env:?}");
            }
        }
        drop(served);
    }
}

// ---------------------------------------------------------------------------
// the examples
// ---------------------------------------------------------------------------

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config")
}

/// Every example loads: `ferrox check examples/config/NAME.toml`, run from
/// the repository's root (relative paths in the files resolve against their
/// folder, not this one), prints `…: ok` and exits 0.
#[test]
fn every_example_config_passes_check() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "examples: {names:?}");
    for name in names {
        let rel = format!("examples/config/{name}");
        let out = run_in(repo, &["check", &rel], &[]);
        exits(&out, 0);
        same_lines(&lines(&out.stdout), &[&format!("{rel}: ok")]);
        same_lines(&lines(&out.stderr), &[]);
    }
}

/// One request over TLS with `sni` in the handshake (any certificate trusted).
#[track_caller]
fn tls_get(addr: SocketAddr, sni: &str, host: &str, path: &str) -> Resp {
    let config = crate::support::tls::client_config(&[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = Raw::over(rustls::StreamOwned::new(conn, tcp));
    c.send(format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ));
    c.response()
}

/// `examples/config/many-sites.toml` served for real. Its listeners are
/// 0.0.0.0 and [::] on ports 80 and 443 plus 127.0.0.1:8081: not loopback
/// or not surely free, so the test serves a copy in which only each listen
/// address is replaced by a free loopback port (the copy sits beside links
/// to the example's folders, so every relative path resolves as in the
/// original). Then every routing rule the example's comments promise is
/// checked: exact names, the one-label wildcard, the default site, a site's
/// own listener, the redirect of a TLS site's plain requests, SNI, and the
/// static site's security headers and routes.
#[test]
fn the_many_sites_example_answers_by_host() {
    let example = examples();
    let original = example.join("many-sites.toml");
    let keys = ferrox::config::file::load(&original).unwrap();
    let server = &keys.server;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    addrs.extend(server.listen.iter().flatten());
    addrs.extend(server.listen_tls.iter().flatten());
    for site in &keys.sites {
        addrs.extend(site.listen.iter().flatten());
        addrs.extend(site.listen_tls.iter().flatten());
    }
    let mut text = std::fs::read_to_string(&original).unwrap();
    let mut moved = std::collections::HashMap::new();
    let held: Vec<TcpListener> = addrs
        .iter()
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    for (addr, socket) in addrs.iter().zip(held) {
        let quoted = format!("\"{addr}\"");
        assert_eq!(text.matches(&quoted).count(), 1, "{quoted} in the example");
        let new = socket.local_addr().unwrap();
        text = text.replace(&quoted, &format!("\"{new}\""));
        moved.insert(*addr, new);
    }
    let dir = TempRoot::new();
    for entry in std::fs::read_dir(&example).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            std::os::unix::fs::symlink(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(dir.join("many-sites.toml"), &text).unwrap();
    let out = run_in(dir.path(), &["check", "many-sites.toml"], &[]);
    exits(&out, 0);

    let served = Served::start(
        dir.path(),
        &["--config", "many-sites.toml"],
        &[],
        addrs.len(),
    );
    let plain: Vec<SocketAddr> = server.listen.iter().flatten().map(|a| moved[a]).collect();
    let tls: Vec<SocketAddr> = server
        .listen_tls
        .iter()
        .flatten()
        .map(|a| moved[a])
        .collect();
    // The one site with a listener of its own: the internal docs.
    let docs_listen = keys.sites.iter().find_map(|s| s.listen.as_ref()).unwrap()[0];
    let docs = moved[&docs_listen];
    let mut expected: Vec<String> = plain
        .iter()
        .map(|a| format!("ferrox: serving 5 sites on http://{a}/"))
        .chain(
            tls.iter()
                .map(|a| format!("ferrox: serving 5 sites on https://{a}/")),
        )
        .collect();
    expected.push(format!(
        "ferrox: serving {} on http://{docs}/",
        canonical(&example.join("sites/docs"))
    ));
    assert_eq!(served.startup, expected);

    let page =
        |site: &str| std::fs::read(example.join("sites").join(site).join("index.html")).unwrap();
    let https_port = tls[0].port();
    for &addr in &plain {
        let resp = get(addr, "static.example.net", "/");
        assert_eq!(resp.expect(200).body, page("static"));
        // Its security preset under its own headers, and its routes.
        assert_eq!(resp.header("x-robots-tag"), "noindex");
        assert_eq!(
            resp.header("content-security-policy"),
            "frame-ancestors 'self'"
        );
        let resp = get(addr, "static.example.net", "/v1/assets/app.css");
        resp.expect(301);
        assert_eq!(resp.header("location"), "/assets/app.css");
        let resp = get(addr, "static.example.net", "/healthz");
        assert_eq!(resp.expect(200).text(), "ok");
        assert_eq!(resp.try_header("x-robots-tag"), None);
        assert_eq!(resp.header("x-content-type-options"), "nosniff");
        // No site for it, and a.b.example.com is two labels under example.com:
        // both land on the default site.
        for host in ["nobody.test", "a.b.example.com"] {
            assert_eq!(
                get(addr, host, "/").expect(200).body,
                page("default"),
                "{host}"
            );
        }
        // The TLS sites answer plain requests with their https URL.
        for host in ["example.com", "www.example.com", "blog.example.com"] {
            let resp = get(addr, host, "/assets/style.css?v=1");
            resp.expect(308);
            assert_eq!(
                resp.header("location"),
                format!("https://{host}:{https_port}/assets/style.css?v=1")
            );
        }
    }
    // A site's own listener serves it alone, whatever the host.
    assert_eq!(get(docs, "example.com", "/").expect(200).body, page("docs"));

    let resp = tls_get(tls[0], "example.com", "example.com", "/");
    assert_eq!(resp.expect(200).body, page("example"));
    assert_eq!(resp.header("strict-transport-security"), "max-age=31536000");
    let resp = tls_get(tls[1], "blog.example.com", "blog.example.com", "/");
    assert_eq!(resp.expect(200).body, page("wildcard"));
    // One site's certificate never fronts for another site.
    tls_get(tls[0], "example.com", "static.example.net", "/").expect(421);
    drop(served);
}

// ---------------------------------------------------------------------------
// several sites by Host
// ---------------------------------------------------------------------------

/// Two sites on one listener, chosen by the Host header (case and port
/// ignored, `*.` for one label); with no default site, a host that names
/// neither gets 421 Misdirected Request. Made a default, a site takes them.
#[test]
fn two_sites_by_host_and_421_for_an_unknown_host_without_a_default() {
    let addr = free_addr();
    let dir = TempRoot::new()
        .file("a/x.txt", "site a")
        .file("b/x.txt", "site b");
    let file = |default: &str| {
        format!(
            "[server]\nlisten = [\"{addr}\"]\n\n[[site]]\nhosts = [\"a.test\"]\nroot = \"a\"\n{default}\n\
             [[site]]\nhosts = [\"b.test\", \"*.b.test\"]\nroot = \"b\"\n"
        )
    };
    std::fs::write(dir.join("two.toml"), file("")).unwrap();
    let served = Served::start(dir.path(), &["--config", "two.toml", "-q"], &[], 1);
    assert_eq!(
        served.startup,
        [format!("ferrox: serving 2 sites on http://{addr}/")]
    );
    for (host, want) in [
        ("a.test", "site a"),
        ("A.TEST", "site a"),
        ("b.test", "site b"),
        (&format!("b.test:{}", addr.port()), "site b"),
        ("www.b.test", "site b"),
    ] {
        let resp = get(addr, host, "/x.txt");
        assert_eq!(resp.expect(200).text(), want, "Host: {host}");
    }
    for host in ["c.test", "x.www.b.test", &addr.to_string()] {
        get(addr, host, "/x.txt").expect(421);
    }
    drop(served);

    std::fs::write(dir.join("two.toml"), file("default = true")).unwrap();
    let served = Served::start(dir.path(), &["--config", "two.toml", "-q"], &[], 1);
    assert_eq!(get(addr, "c.test", "/x.txt").expect(200).text(), "site a");
    assert_eq!(get(addr, "b.test", "/x.txt").expect(200).text(), "site b");
    drop(served);
}

// ---------------------------------------------------------------------------
// routes and modifiers
// ---------------------------------------------------------------------------

/// One GET with `Host: localhost` and `Authorization: Basic` of `user:password`.
#[track_caller]
fn get_as(addr: SocketAddr, path: &str, user_password: &str) -> Resp {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(user_password);
    let mut c = Raw::connect(addr);
    c.send(format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {token}\r\n\
         Connection: close\r\n\r\n"
    ));
    c.response()
}

/// Routes from the file, served by the binary: a redirect answers 308 with
/// its template filled in, a fixed answer its body, and a route behind auth
/// (its users in a `users_file` beside the configuration file) 401 with the
/// challenge without credentials or with a wrong password, 200 with them.
/// A path no route matches gets the files.
#[test]
fn routes_from_the_file_redirect_respond_and_ask_for_credentials() {
    let addr = free_addr();
    let hash = ferrox::site::auth::hash_password(b"s3cret").unwrap();
    let dir = TempRoot::new()
        .file("www/index.html", "home")
        .file("www/staff/index.html", "staff only")
        .file("conf/htpasswd", format!("alice:{hash}\n"))
        .file(
            "conf/routes.toml",
            format!(
                r#"[server]
listen = ["{addr}"]

[[site]]
root = "../www"

[[site.route]]
path = "/old/**"
redirect = {{ to = "https://example.com/new/{{1}}?{{query}}" }}

[[site.route]]
path = "/gone"
respond = {{ status = 410, body = "Gone for good" }}

[[site.route]]
path = "/staff/**"
auth = {{ realm = "staff", users_file = "htpasswd" }}
"#
            ),
        );
    let out = run_in(dir.path(), &["check", "conf/routes.toml"], &[]);
    exits(&out, 0);
    let served = Served::start(dir.path(), &["--config", "conf/routes.toml", "-q"], &[], 1);

    let resp = get(addr, "localhost", "/old/a/b.html?x=1");
    resp.expect(308);
    assert_eq!(
        resp.header("location"),
        "https://example.com/new/a/b.html?x=1"
    );

    let resp = get(addr, "localhost", "/gone");
    assert_eq!(resp.expect(410).text(), "Gone for good");
    assert_eq!(resp.header("content-type"), "text/plain; charset=utf-8");

    let resp = get(addr, "localhost", "/staff/");
    resp.expect(401);
    assert_eq!(
        resp.header("www-authenticate"),
        "Basic realm=\"staff\", charset=\"UTF-8\""
    );
    get_as(addr, "/staff/", "alice:wrong").expect(401);
    let resp = get_as(addr, "/staff/", "alice:s3cret");
    assert_eq!(resp.expect(200).text(), "staff only");

    assert_eq!(get(addr, "localhost", "/").expect(200).text(), "home");
    drop(served);
}

// ---------------------------------------------------------------------------
// SIGHUP
// ---------------------------------------------------------------------------

/// Replaces `path` at once (write beside it, then rename), so a reload never
/// reads half a file.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits up to 5 s for `addr` to refuse connections.
#[track_caller]
fn becomes_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !refused(addr) {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The message of a log line from the reload module, without its time and
/// level: `configuration reloaded: generation 2 active generation=2`.
fn reload_message(line: &str) -> Option<&str> {
    line.split_once(" ferrox::server::reload: ").map(|(_, m)| m)
}

/// Waits for the reload module's line that is exactly `message`.
#[track_caller]
fn wait_reload(served: &mut Served, message: &str) -> String {
    served.wait_for(&format!("{message:?}"), |l| {
        reload_message(l) == Some(message)
    })
}

/// The reload module's lines logged at ERROR from `mark` up to (without) the
/// last line waited for.
fn reload_errors(served: &Served, mark: usize) -> Vec<String> {
    served.log[mark..served.mark() - 1]
        .iter()
        .filter(|l| l.contains(" ERROR "))
        .filter_map(|l| reload_message(l).map(str::to_string))
        .collect()
}

/// A new root takes effect on SIGHUP (generation 2). A file with a syntax
/// error, then one whose root is gone, each fail the reload: the server logs
/// exactly what `ferrox check` prints for that file, then `reload failed:
/// keeping configuration generation 2`, and goes on serving generation 2. A
/// failed reload takes no number: the next good one is generation 3.
#[test]
fn sighup_reloads_a_new_root_and_a_broken_file_keeps_the_running_one() {
    let addr = free_addr();
    let dir = TempRoot::new()
        .file("one/x.txt", "one")
        .file("two/x.txt", "two");
    let path = dir.join("ferrox.toml");
    let file =
        |root: &str| format!("[server]\nlisten = [\"{addr}\"]\n\n[[site]]\nroot = \"{root}\"\n");
    write_atomically(&path, &file("one"));
    let mut served = Served::start(dir.path(), &["--config", s(&path), "-q"], &[], 1);
    wait_reload(
        &mut served,
        "configuration generation 1 active generation=1",
    );
    assert_eq!(body(addr, "/x.txt"), "one");

    write_atomically(&path, &file("two"));
    served.signal("-HUP");
    wait_reload(
        &mut served,
        "configuration reloaded: generation 2 active generation=2",
    );
    assert_eq!(body(addr, "/x.txt"), "two");

    let broken = [
        // A syntax error: the listen array is never closed, so `[[site]]`
        // reads as its next item.
        (
            format!("[server]\nlisten = [\"{addr}\"\n\n[[site]]\nroot = \"one\"\n"),
            format!(
                "{}:4:1: TOML syntax: missing comma between array elements, expected `,`",
                path.display()
            ),
        ),
        // Good TOML, but the root is gone.
        (
            file("gone"),
            format!(
                "{}:5:8: site[0].root: '{}': no such folder",
                path.display(),
                dir.join("gone").display()
            ),
        ),
    ];
    for (text, problem) in broken {
        write_atomically(&path, &text);
        let check = run_in(dir.path(), &["check", s(&path)], &[]);
        exits(&check, 1);
        let problems = lines(&check.stdout);
        same_lines(&problems, &[&problem]);
        let mark = served.mark();
        served.signal("-HUP");
        let failed = wait_reload(
            &mut served,
            "reload failed: keeping configuration generation 2 generation=2",
        );
        assert!(failed.contains(" ERROR "), "{failed}");
        assert_eq!(reload_errors(&served, mark), problems);
        assert_eq!(body(addr, "/x.txt"), "two");
    }

    write_atomically(&path, &file("one"));
    served.signal("-HUP");
    wait_reload(
        &mut served,
        "configuration reloaded: generation 3 active generation=3",
    );
    assert_eq!(body(addr, "/x.txt"), "one");
}

/// A listener added by a reload accepts; one removed stops accepting
/// (connection refused) while the other goes on serving; one that cannot be
/// bound fails the whole reload and changes nothing.
#[test]
fn sighup_adds_and_removes_listeners() {
    let [a, b] = free_addrs();
    let dir = TempRoot::new().file("www/x.txt", "x");
    let path = dir.join("ferrox.toml");
    let file = |listen: &[SocketAddr]| {
        let list: Vec<String> = listen.iter().map(|a| format!("\"{a}\"")).collect();
        format!(
            "[server]\nlisten = [{}]\n\n[[site]]\nroot = \"www\"\n",
            list.join(", ")
        )
    };
    write_atomically(&path, &file(&[a]));
    let mut served = Served::start(dir.path(), &["--config", s(&path), "-q"], &[], 1);
    assert_eq!(served.addr(0), a);
    wait_reload(
        &mut served,
        "configuration generation 1 active generation=1",
    );
    assert!(refused(b));

    write_atomically(&path, &file(&[a, b]));
    served.signal("-HUP");
    wait_reload(&mut served, &format!("listening on http://{b}/"));
    wait_reload(
        &mut served,
        "configuration reloaded: generation 2 active generation=2",
    );
    assert_eq!(body(b, "/x.txt"), "x");
    assert_eq!(body(a, "/x.txt"), "x");

    write_atomically(&path, &file(&[b]));
    served.signal("-HUP");
    wait_reload(&mut served, &format!("stopped listening on http://{a}/"));
    wait_reload(
        &mut served,
        "configuration reloaded: generation 3 active generation=3",
    );
    becomes_refused(a);
    assert_eq!(body(b, "/x.txt"), "x");

    // An address someone else holds: the reload fails, b still serves and a
    // stays closed.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let t = taken.local_addr().unwrap();
    write_atomically(&path, &file(&[a, t]));
    served.signal("-HUP");
    let line = served.wait_for("cannot listen on the taken address", |l| {
        reload_message(l).is_some_and(|m| {
            m.starts_with(&format!("cannot listen on {t}: "))
                && m.ends_with("; keeping configuration generation 3")
        })
    });
    assert!(line.contains(" ERROR "), "{line}");
    assert_eq!(body(b, "/x.txt"), "x");
    assert!(refused(a), "{a} was bound by a failed reload");
}

/// A reload reads the file again under the same command line and
/// environment: what they set still beats the file. Here `--listen` and
/// `--index` hold while the file's `listen`, `root` and `index` change; only
/// the root, which the command line leaves to the file, follows it.
#[test]
fn sighup_keeps_the_command_lines_values_over_the_reloaded_file() {
    let [x, y, z] = free_addrs();
    let mut dir = TempRoot::new();
    for root in ["one", "two"] {
        for page in ["main", "other", "flag"] {
            dir = dir.file(format!("{root}/{page}.html"), format!("{root} {page}"));
        }
    }
    let path = dir.join("ferrox.toml");
    let file = |listen: SocketAddr, root: &str, index: &str| {
        format!(
            "[server]\nlisten = [\"{listen}\"]\n\n[[site]]\nroot = \"{root}\"\nindex = [\"{index}.html\"]\n"
        )
    };
    write_atomically(&path, &file(y, "one", "main"));
    let x_text = x.to_string();
    let args = ["--config", s(&path), "-q", "--listen", &x_text];
    let mut served = Served::start(dir.path(), &args, &[("FERROX_INDEX", "flag.html")], 1);
    assert_eq!(served.addr(0), x);
    wait_reload(
        &mut served,
        "configuration generation 1 active generation=1",
    );
    assert_eq!(body(x, "/"), "one flag");

    write_atomically(&path, &file(z, "two", "other"));
    served.signal("-HUP");
    wait_reload(
        &mut served,
        "configuration reloaded: generation 2 active generation=2",
    );
    assert_eq!(body(x, "/"), "two flag");
    assert!(refused(y) && refused(z), "a listener of the file was bound");
}

/// The start-up line says the server is up, so a SIGHUP sent as soon as it
/// is read must reload the file, not end the process. Ten tries, as the
/// window is short.
#[test]
fn a_sighup_right_after_the_start_up_line_reloads() {
    let addr = free_addr();
    let dir = TempRoot::new().file("www/x.txt", "x").file(
        "ferrox.toml",
        format!("[server]\nlisten = [\"{addr}\"]\n\n[[site]]\nroot = \"www\"\n"),
    );
    for _ in 0..10 {
        let mut served = Served::start(dir.path(), &["--config", "ferrox.toml", "-q"], &[], 1);
        served.signal("-HUP");
        wait_reload(
            &mut served,
            "configuration reloaded: generation 2 active generation=2",
        );
        drop(served);
    }
}

const BODY_A: &str = "version a\n";
const BODY_B: &str = "version b, a little longer\n";

#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    connections: usize,
    a: usize,
    b: usize,
}

/// Keep-alive GETs on `addr` until `stop` (at most 8 s, 5000 requests), a
/// millisecond apart; a new connection after each `Connection: close`. Any
/// connection error, reset, short or unexpected response is an error.
fn keep_alive_client(addr: SocketAddr, stop: &AtomicBool) -> Result<Tally, String> {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut tally = Tally::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && tally.requests < 5000 {
        let n = tally.requests;
        let stream = match &mut conn {
            Some(stream) => stream,
            None => {
                let tcp = TcpStream::connect(addr)
                    .map_err(|e| format!("connect after {n} requests: {e}"))?;
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                tcp.set_nodelay(true).unwrap();
                tally.connections += 1;
                conn.insert(BufReader::new(tcp))
            }
        };
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("request {n}: {what}: {e}");
        stream
            .get_mut()
            .write_all(b"GET /x.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .map_err(|e| fail("send", &e))?;
        let mut status = String::new();
        stream
            .read_line(&mut status)
            .map_err(|e| fail("status line", &e))?;
        if status != "HTTP/1.1 200 OK\r\n" {
            return Err(fail("status line", &format!("{status:?}")));
        }
        let (mut length, mut close) = (None, false);
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).map_err(|e| fail("head", &e))?;
            if line.is_empty() {
                return Err(fail("head", &"connection closed"));
            }
            if line == "\r\n" {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
        let length = length.ok_or_else(|| fail("head", &"no Content-Length"))?;
        let mut got = vec![0; length];
        stream.read_exact(&mut got).map_err(|e| fail("body", &e))?;
        match std::str::from_utf8(&got) {
            Ok(BODY_A) => tally.a += 1,
            Ok(BODY_B) => tally.b += 1,
            _ => return Err(fail("body", &String::from_utf8_lossy(&got))),
        }
        tally.requests += 1;
        if close {
            let mut rest = Vec::new();
            stream
                .read_to_end(&mut rest)
                .map_err(|e| fail("close after Connection: close", &e))?;
            if !rest.is_empty() {
                return Err(fail("bytes after the last response", &rest.len()));
            }
            conn = None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(tally)
}

/// 15 reloads, alternating the site's root between two folders, while two
/// clients send keep-alive GETs (reconnecting every 20 requests, the
/// file's `max_requests_per_connection`): every response is a whole 200 with
/// one of the two bodies, no connection fails, both bodies are seen, and
/// every reload takes (generations 2 to 16, no error logged).
#[test]
fn sighup_reloads_under_keep_alive_traffic_fail_no_request() {
    let addr = free_addr();
    let dir = TempRoot::new()
        .file("a/x.txt", BODY_A)
        .file("b/x.txt", BODY_B);
    let path = dir.join("ferrox.toml");
    let file = |root: &str| {
        format!(
            "[server]\nlisten = [\"{addr}\"]\nmax_requests_per_connection = 20\n\n[[site]]\nroot = \"{root}\"\n"
        )
    };
    write_atomically(&path, &file("a"));
    let mut served = Served::start(dir.path(), &["--config", s(&path), "-q"], &[], 1);
    wait_reload(
        &mut served,
        "configuration generation 1 active generation=1",
    );

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || keep_alive_client(addr, &stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..15u64 {
        let root = if i % 2 == 0 { "b" } else { "a" };
        write_atomically(&path, &file(root));
        served.signal("-HUP");
        let g = i + 2;
        wait_reload(
            &mut served,
            &format!("configuration reloaded: generation {g} active generation={g}"),
        );
        std::thread::sleep(Duration::from_millis(120));
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for (i, client) in clients.into_iter().enumerate() {
        let tally = client
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert!(tally.requests > 20, "client {i} barely ran: {tally:?}");
        total.requests += tally.requests;
        total.connections += tally.connections;
        total.a += tally.a;
        total.b += tally.b;
    }
    assert!(total.a > 0 && total.b > 0, "one body only: {total:?}");
    assert!(total.connections > 2, "never reconnected: {total:?}");
    let errors: Vec<&String> = served
        .log
        .iter()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    eprintln!("{total:?}");
}

/// One PUT of `body` to `path` with `Host: localhost` on a fresh connection.
#[track_caller]
fn put(addr: SocketAddr, path: &str, body: &str) -> Resp {
    let mut c = Raw::connect(addr);
    c.send(format!(
        "PUT {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    c.response()
}

/// `upload = true` in a file: allowed on loopback listeners without auth
/// (a PUT lands), refused at start and on SIGHUP once a listener is not
/// loopback, at the key's line and column and naming the site; the refused
/// reload keeps the running configuration (uploads still work). `mkdir`
/// without auth is refused even on loopback.
#[test]
fn upload_without_auth_off_loopback_is_refused_at_start_and_on_reload() {
    let addr = free_addr();
    // Never bound: the file is refused before any listener is.
    let wide = format!("0.0.0.0:{}", free_addr().port());
    let dir = TempRoot::new().file("www/x.txt", "x");
    let path = dir.join("ferrox.toml");
    let file = |listen: &str, extra: &str| {
        format!(
            "[server]\nlisten = [{listen}]\n\n[[site]]\nhosts = [\"files.test\"]\nroot = \"www\"\nupload = true\n{extra}"
        )
    };
    let good = file(&format!("\"{addr}\""), "");
    let bad = file(&format!("\"{addr}\", \"{wide}\""), "");
    let upload_refused = format!(
        "{}:7:10: site[0].upload: site 'files.test': upload on a listener that is not loopback needs \
         authentication: add basic auth (--auth-file PATH, or the site's auth = {{ users_file = ... }}), \
         or listen on 127.0.0.1 / [::1] only",
        path.display()
    );

    // At start: the same line as `ferrox check`, exit 1, nothing listening.
    write_atomically(&path, &bad);
    let check = run_in(dir.path(), &["check", s(&path)], &[]);
    exits(&check, 1);
    same_lines(&lines(&check.stdout), &[&upload_refused]);
    let out = run_in(dir.path(), &["--config", s(&path)], &[]);
    exits(&out, 1);
    same_lines(&lines(&out.stderr), &[&upload_refused]);
    assert!(refused(addr), "{addr} accepts after a refused start");

    // mkdir needs auth even on loopback.
    write_atomically(&path, &file(&format!("\"{addr}\""), "mkdir = true\n"));
    let check = run_in(dir.path(), &["check", s(&path)], &[]);
    exits(&check, 1);
    same_lines(
        &lines(&check.stdout),
        &[&format!(
            "{}:8:9: site[0].mkdir: site 'files.test': mkdir needs authentication: …",
            path.display()
        )],
    );

    // Loopback only: serves, and takes uploads.
    write_atomically(&path, &good);
    let mut served = Served::start(dir.path(), &["--config", s(&path), "-q"], &[], 1);
    wait_reload(
        &mut served,
        "configuration generation 1 active generation=1",
    );
    put(addr, "/one.txt", "1").expect(201);
    assert_eq!(
        std::fs::read_to_string(dir.join("www/one.txt")).unwrap(),
        "1"
    );

    // On reload: refused with the same line; generation 1 serves on.
    write_atomically(&path, &bad);
    let mark = served.mark();
    served.signal("-HUP");
    wait_reload(
        &mut served,
        "reload failed: keeping configuration generation 1 generation=1",
    );
    same_lines(&reload_errors(&served, mark), &[&upload_refused]);
    put(addr, "/two.txt", "2").expect(201);
    assert_eq!(
        std::fs::read_to_string(dir.join("www/two.txt")).unwrap(),
        "2"
    );
    assert_eq!(body(addr, "/x.txt"), "x");
}
