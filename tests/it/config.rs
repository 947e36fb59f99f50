//! The configuration file through the real binary, as a user meets it:
//! `ferrox check`, serving with a bad file, precedence (command line >
//! environment > file > defaults), the examples, several sites by Host, and
//! SIGHUP reloads (content, broken files, listeners, under traffic).
//!
//! Every child is killed when its handle drops; every wait is bounded.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

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
            // The message itself: see the_missing_certificate_file_is_named.
            "fs.toml:7:16: site[0].tls.cert: …",
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
#[ignore = "bug: src/config/resolve.rs load(): `file::load(path).map_err(LoadError::File)?` \
            returns the text problems alone, so with any of them the filesystem checks of \
            file_plan (root, error_pages, tls files, TLS listener) never run: this file shows \
            2 of its 4 problems, and fixing those reveals the other 2 only on the next run"]
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
            "every.toml:9:16: site[0].tls.cert: …",
        ],
    );
}

/// A missing root names its path (`'nowhere': no such folder`); a missing
/// certificate must too, as `Problem`'s own documentation shows
/// (`site[1].tls.cert: no such file 'certs/a.pem'`).
#[test]
#[ignore = "bug: src/config/resolve.rs file_plan() reports a tls::load_pair error with \
            `e.message` alone, dropping `e.path`: a missing certificate reads \
            `site[0].tls.cert: No such file or directory (os error 2)` without naming the \
            file (and in the OS's capitalised words, unlike every other problem)"]
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
    let out = lines(&out.stdout);
    same_lines(&out, &["cert.toml:6:16: site[0].tls.cert: …"]);
    assert!(out[0].contains("missing.pem"), "file not named: {}", out[0]);
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
        &["bad.toml:3:20: server.shutdown_timeout: invalid duration 'later': expected number at 0 (use e.g. 10s, 500ms, 2m)"],
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
/// own listener, the redirect of a TLS site's plain requests, SNI.
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
