//! The `ferrox` binary: exit statuses, one-line errors, environment variables,
//! the start-up line, signals.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Binary, TempRoot, BIN};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ferrox {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[track_caller]
fn one_line_error(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
}

#[test]
fn a_taken_port_exits_1_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = TempRoot::new();
    let out = run(&[root.path().to_str().unwrap(), "-l", &addr], &[]);
    one_line_error(&out, 1, &[&addr, "in use"]);
}

/// Exit status `code`, and stderr names each of `needles` (clap's messages
/// run over several lines: usage, valid values, a tip).
#[track_caller]
fn error_naming(out: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
}

#[test]
fn bad_values_exit_2_naming_the_flag() {
    let root = TempRoot::new();
    let r = root.path().to_str().unwrap();
    error_naming(&run(&[r, "--port", "abc"], &[]), 2, &["--port"]);
    error_naming(
        &run(&[r, "--listen", "nowhere"], &[]),
        2,
        &["--listen", "ADDR:PORT"],
    );
    error_naming(&run(&[r, "--max-headers", "0"], &[]), 2, &["--max-headers"]);
    error_naming(
        &run(&[r, "--header-timeout", "soon"], &[]),
        2,
        &["--header-timeout"],
    );
    error_naming(
        &run(&[r, "--max-body-size", "1.5MiB"], &[]),
        2,
        &["--max-body-size"],
    );
    error_naming(&run(&[r, "--log-format", "xml"], &[]), 2, &["--log-format"]);
    error_naming(&run(&[r, "--no-such-flag"], &[]), 2, &["--no-such-flag"]);
    one_line_error(
        &run(&[r], &[("FERROX_PORT", "abc")]),
        2,
        &["FERROX_PORT=abc"],
    );
    one_line_error(
        &run(&["/definitely/not/here"], &[]),
        2,
        &["ROOT", "/definitely/not/here"],
    );
    one_line_error(
        &run(&[r, "--error-pages", "/nope"], &[]),
        2,
        &["--error-pages"],
    );
}

#[test]
fn help_and_version_exit_0() {
    let out = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--listen") && help.contains("FERROX_LISTEN"),
        "{help}"
    );
    let out = run(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ferrox "));
}

#[test]
fn serves_logs_and_exits_0_on_sigterm() {
    let root = TempRoot::new().file("a.txt", "hello\n");
    let mut running = Binary::start(root.path(), &["-l", "127.0.0.1:0"], &[]);
    let url = running.url.clone();
    let body = ureq::get(&format!("{url}/a.txt"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(body, "hello\n");
    running.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let stdout = running.stdout_after_exit();
    assert!(
        stdout.contains("\"GET /a.txt HTTP/1.1\" 200 6 \"-\" \"ureq/"),
        "access log: {stdout:?}"
    );
}

#[test]
fn flags_can_come_from_the_environment() {
    let root = TempRoot::new().file("a.txt", "x");
    let mut running = Binary::start(
        root.path(),
        &[],
        &[
            ("FERROX_LISTEN", "127.0.0.1:0"),
            ("FERROX_NO_SERVER_HEADER", "true"),
            ("FERROX_QUIET", "1"),
        ],
    );
    let resp = ureq::get(&format!("{}/a.txt", running.url)).call().unwrap();
    assert_eq!(resp.header("server"), None);
    running.signal("-INT");
    let status = running.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let stdout = running.stdout_after_exit();
    assert_eq!(stdout, "", "quiet still logged");
}

/// A child process killed if the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server's own CPU time (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_descriptors_is_logged_and_retried_without_spinning() {
    let root = TempRoot::new().file("a.txt", "x");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 24 && exec {BIN} {} -l 127.0.0.1:0 --quiet",
            root.path().display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Killed(child);
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('/')
        .to_string();

    // Far more clients than descriptors: the kernel queues them, accept fails.
    let clients: Vec<_> = (0..40)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let pid = running.0.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    // A busy loop would burn ~100 ticks a second; a 100 ms back-off burns ~0.
    assert!(spent < 20, "server spun at EMFILE: {spent} ticks in 1 s");

    drop(clients);
    let url = format!("http://{addr}/a.txt");
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        match ureq::get(&url).timeout(Duration::from_secs(2)).call() {
            Ok(resp) => break resp.into_string().unwrap(),
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body, "x");
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("accept failed"), "EMFILE not logged: {rest}");
}

#[test]
fn listens_on_ipv4_and_ipv6_at_once() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let root = TempRoot::new().file("a.txt", "v6");
    let mut running = Binary::start(root.path(), &["-l", "127.0.0.1:0", "-l", "[::1]:0"], &[]);
    let url4 = running.url.clone();
    let mut line = String::new();
    running.stderr.read_line(&mut line).unwrap();
    let url6 = line
        .split_whitespace()
        .find(|w| w.starts_with("http://[::1]:"))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(url4.starts_with("http://127.0.0.1:"), "{url4}");
    for url in [format!("{url4}/a.txt"), format!("{}a.txt", url6)] {
        assert_eq!(ureq::get(&url).call().unwrap().into_string().unwrap(), "v6");
    }
    drop(running);
}

#[test]
fn the_per_core_runtime_serves_and_stops() {
    let root = TempRoot::new().file("a.txt", "per core");
    let mut running = Binary::start(
        root.path(),
        &["-l", "127.0.0.1:0", "--runtime", "per-core", "-q"],
        &[],
    );
    for _ in 0..20 {
        let body = ureq::get(&format!("{}/a.txt", running.url))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        assert_eq!(body, "per core");
    }
    let pid = running.child.id();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    assert!(
        threads > std::thread::available_parallelism().map_or(1, |n| n.get()),
        "{threads} threads"
    );
    running.signal("-TERM");
    assert_eq!(running.child.wait().unwrap().code(), Some(0));
}

/// The threads of `pid` whose names start with `prefix`.
fn threads_named(pid: u32, prefix: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter(|task| {
            let comm = task.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm)
                .unwrap_or_default()
                .starts_with(prefix)
        })
        .count()
}

/// `--workers` sets how many threads serve, in both runtimes; three is more
/// than CI's two cores, so the default could not pass for it.
#[test]
fn workers_sets_the_serving_threads() {
    let root = TempRoot::new().file("a.txt", "workers");
    for (runtime, prefix) in [
        ("work-stealing", "ferrox-worker"),
        ("per-core", "ferrox-core-"),
    ] {
        let mut running = Binary::start(
            root.path(),
            &[
                "-l",
                "127.0.0.1:0",
                "--runtime",
                runtime,
                "--workers",
                "3",
                "-q",
            ],
            &[],
        );
        for _ in 0..6 {
            let body = ureq::get(&format!("{}/a.txt", running.url))
                .call()
                .unwrap()
                .into_string()
                .unwrap();
            assert_eq!(body, "workers");
        }
        assert_eq!(threads_named(running.child.id(), prefix), 3, "{runtime}");
        running.signal("-TERM");
        assert_eq!(running.child.wait().unwrap().code(), Some(0));
    }
    let root = TempRoot::new().file("a.txt", "one");
    let mut running = Binary::start(
        root.path(),
        &["-l", "127.0.0.1:0", "-q"],
        &[("FERROX_WORKERS", "1")],
    );
    // A thread names itself once it runs: a request served means they all have.
    ureq::get(&format!("{}/a.txt", running.url)).call().unwrap();
    assert_eq!(threads_named(running.child.id(), "ferrox-worker"), 1);
    running.signal("-TERM");
    assert_eq!(running.child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_second_sigint_stops_at_once_during_a_download() {
    use std::io::{BufRead, Read, Write};
    let root = TempRoot::new();
    let big = std::fs::File::create(root.path().join("big.bin")).unwrap();
    big.set_len(256 << 20).unwrap();
    let mut running = Binary::start(
        root.path(),
        &[
            "-l",
            "127.0.0.1:0",
            "-q",
            "--shutdown-timeout",
            "60s",
            "--log-level",
            "error",
        ],
        &[],
    );
    // A download that stalls: the client reads a little, then nothing.
    let mut client = std::net::TcpStream::connect(running.addr()).unwrap();
    client
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 4096];
    client.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));

    running.signal("-INT");
    let line = loop {
        let mut line = String::new();
        assert!(
            running.stderr.read_line(&mut line).unwrap() > 0,
            "stderr ended"
        );
        if line.starts_with("ferrox: ") {
            break line;
        }
    };
    assert_eq!(
        line,
        "ferrox: stopping (in-flight requests get the shutdown timeout; SIGINT again stops now)\n"
    );
    // The download holds the graceful stop.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        running.child.try_wait().unwrap().is_none(),
        "exited before the second SIGINT"
    );

    running.signal("-INT");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running 5 s after the second SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    running.stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(
        rest,
        "ferrox: SIGINT again: stopping now\nferrox: stopped\n"
    );
    drop(client);
}

#[test]
fn every_interface_is_listed_and_open_and_qr_use_them() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new().file("a.txt", "x");
    // A stand-in browser opener that writes down what it was asked to open.
    let bin = TempRoot::new();
    let opened = bin.path().join("opened");
    let opener = bin.path().join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\necho \"$1\" > {}.tmp && mv {0}.tmp {0}\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let mut running = Binary::start(
        root.path(),
        &[
            "-l",
            "0.0.0.0:0",
            "-q",
            "--log-level",
            "error",
            "--open",
            "--qr",
        ],
        // Root on a network address must be told (CI runs as root).
        &[("PATH", &path), ("FERROX_RUN_AS_ROOT", "1")],
    );
    // The first line names loopback, never the unspecified address.
    let port = running.url.rsplit(':').next().unwrap().to_string();
    assert_eq!(running.url, format!("http://127.0.0.1:{port}"));
    let mut next = || {
        let mut line = String::new();
        running.stderr.read_line(&mut line).unwrap();
        line
    };
    let mut line = next();
    let mut network = Vec::new();
    while let Some(url) = line.strip_prefix("ferrox:   also on ") {
        let url = url.trim_end().to_string();
        assert!(
            url.starts_with("http://") && url.ends_with(&format!(":{port}/")),
            "{url}"
        );
        assert!(!url.contains("0.0.0.0") && !url.contains('['), "{url}");
        network.push(url);
        line = next();
    }
    if network.is_empty() {
        assert_eq!(
            line,
            "ferrox: --qr: no network address to show (listen on one, such as -l 0.0.0.0:8080)\n"
        );
    } else {
        // A QR code: lines of the same width, of blocks and spaces only.
        let width = line.trim_end_matches('\n').chars().count();
        assert!(width >= 29, "{line:?}");
        for _ in 0..10 {
            let row = next();
            assert_eq!(row.trim_end_matches('\n').chars().count(), width, "{row:?}");
            assert!(
                row.trim_end_matches('\n')
                    .chars()
                    .all(|c| " ▀▄█".contains(c)),
                "{row:?}"
            );
        }
        // Each network address answers.
        for url in &network {
            let body = ureq::get(&format!("{url}a.txt"))
                .call()
                .unwrap()
                .into_string()
                .unwrap();
            assert_eq!(body, "x");
        }
    }
    // --open asked the system's opener for the first address.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !opened.exists() {
        assert!(Instant::now() < deadline, "the opener was not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap(),
        format!("http://127.0.0.1:{port}/\n")
    );
    running.signal("-TERM");
    assert_eq!(running.child.wait().unwrap().code(), Some(0));
}

#[test]
fn log_files_are_reopened_on_sigusr1_for_logrotate() {
    let root = TempRoot::new().file("a.txt", "x");
    let logs = TempRoot::new();
    let access = logs.path().join("access.log");
    let errors = logs.path().join("error.log");
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path())
        .args(["-l", "127.0.0.1:0", "--log-format", "common"])
        .arg("--access-log")
        .arg(&access)
        .arg("--error-log")
        .arg(&errors);
    let running = Binary::start_command(cmd, root.path());
    // The status, or 0 for an error status or a failed request.
    let get = |path: &str| {
        ureq::get(&format!("{}{path}", running.url))
            .call()
            .map_or(0, |r| r.status())
    };
    assert_eq!(get("/a.txt"), 200);
    // Lines reach the file, not stdout.
    let wait_for = |path: &std::path::Path, lines: usize| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= lines {
                return text;
            }
            assert!(Instant::now() < deadline, "{}: {text:?}", path.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let first = wait_for(&access, 1);
    assert!(first.contains("\"GET /a.txt HTTP/1.1\" 200 1"), "{first}");
    // Diagnostics go to the error log.
    let diagnostics = wait_for(&errors, 1);
    assert!(
        diagnostics.contains("configuration generation 1 active"),
        "{diagnostics}"
    );

    // logrotate: rename, then SIGUSR1.
    std::fs::rename(&access, logs.path().join("access.log.1")).unwrap();
    std::fs::rename(&errors, logs.path().join("error.log.1")).unwrap();
    running.signal("-USR1");
    let reopened = wait_for(&errors, 1);
    assert!(
        reopened.contains("SIGUSR1: log files reopened"),
        "{reopened}"
    );
    assert_eq!(get("/missing"), 0);
    let second = wait_for(&access, 1);
    assert!(second.contains("\"GET /missing HTTP/1.1\" 404"), "{second}");
    assert_eq!(
        std::fs::read_to_string(logs.path().join("access.log.1")).unwrap(),
        first
    );
    running.signal("-TERM");
}

#[test]
fn an_unwritable_log_file_is_a_start_up_error_naming_the_flag() {
    let root = TempRoot::new().file("a.txt", "x");
    let out = run(
        &[
            root.path().to_str().unwrap(),
            "-l",
            "127.0.0.1:0",
            "--access-log",
            "/nonexistent-folder/access.log",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "ferrox: --access-log /nonexistent-folder/access.log: No such file or directory"
        ),
        "{stderr}"
    );
}
