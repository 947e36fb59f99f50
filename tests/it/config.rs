//! The configuration file through the real binary, as a user meets it:
//! `ferrox check`, serving with a bad file, precedence (command line >
//! environment > file > defaults), the examples, several sites by Host, and
//! SIGHUP reloads (content, broken files, listeners, under traffic).
//!
//! Every child is killed when its handle drops; every wait is bounded.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::{run_in, TempRoot};

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
