//! Operating the binary: systemd's socket activation and notify socket, the
//! environment of what it spawns, `--user` and the root refusal (run as root
//! only: CI's container is root), and the SIGUSR2 handover under load.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crate::support::{TempRoot, BIN};

const WAIT: Duration = Duration::from_secs(10);

/// A ferrox whose stderr lines arrive on a channel; killed when dropped.
struct Proc {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FERROX_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now) that contains `what`; panics with stderr.
    #[track_caller]
    fn line(&mut self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {what:?}; stderr:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, sig: &str) {
        signal(self.child.id(), sig);
    }

    /// The exit code within [`WAIT`].
    fn exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "ferrox did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// One GET on a new connection: the status code and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `ferrox ARGS` started by `bash` with `sockets` at fds 3, 4, ... and
/// `LISTEN_FDS`/`LISTEN_PID` naming them, as systemd starts a service.
fn activated(root: &TempRoot, sockets: &[&TcpListener], args: &[String]) -> Proc {
    let mut script = format!("LISTEN_PID=$$ LISTEN_FDS={} ", sockets.len());
    script.push_str("LISTEN_FDNAMES=web exec \"$0\" \"$@\"");
    // Each socket inheritable, then moved to its place by bash (dash takes one digit only) (above
    // 9 first, so that no move overwrites another socket).
    for (i, s) in sockets.iter().enumerate() {
        rustix::io::fcntl_setfd(s, rustix::io::FdFlags::empty()).unwrap();
        let fd = s.as_raw_fd();
        script.push_str(&format!(" {}<&{fd}", 20 + i));
    }
    for i in 0..sockets.len() {
        script.push_str(&format!(" {}<&{} {}<&-", 3 + i, 20 + i, 20 + i));
    }
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .arg(BIN)
        .arg(root.path())
        .args(["--quiet", "--state-dir"])
        .arg(root.path().join(".state"))
        .args(args);
    let proc = Proc::spawn(cmd);
    for s in sockets {
        rustix::io::fcntl_setfd(s, rustix::io::FdFlags::CLOEXEC).unwrap();
    }
    proc
}

#[test]
fn systemd_sockets_are_used_and_matched_by_address() {
    let root = TempRoot::new().file("a.txt", "hello");
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // Given in the other order than the sockets: matched by address. The
    // test keeps its copies open, so binding either again would fail.
    let args = ["-l".to_string(), format!("{addr_b},{addr_a}")];
    let mut server = activated(&root, &[&a, &b], &args);
    let lines = [
        server.line("ferrox: serving"),
        server.line("ferrox: serving"),
    ];
    for addr in [addr_a, addr_b] {
        let url = format!("on http://{addr}/");
        assert!(
            lines.iter().any(|l| l.ends_with(&url)),
            "{url} in {lines:?}"
        );
    }
    assert_eq!(get(addr_a, "/a.txt").unwrap(), (200, "hello".into()));
    assert_eq!(get(addr_b, "/a.txt").unwrap(), (200, "hello".into()));
    server.signal("-TERM");
    assert_eq!(server.exit(), Some(0));
}

#[test]
fn a_systemd_socket_no_listener_names_is_refused() {
    let root = TempRoot::new().file("a.txt", "hello");
    let stray = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = stray.local_addr().unwrap();
    let other = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut server = activated(&root, &[&stray], &["-l".into(), other.to_string()]);
    server.line(&format!(
        "ferrox: systemd passed a socket on {addr} that no listen address names"
    ));
    assert_eq!(server.exit(), Some(1));
}

/// The next notify message other than `WATCHDOG=1`, counting those.
fn next_message(socket: &UnixDatagram, watchdogs: &mut usize) -> String {
    let mut buf = [0u8; 512];
    loop {
        let n = socket.recv(&mut buf).expect("no notify message in time");
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message == "WATCHDOG=1" {
            *watchdogs += 1;
            continue;
        }
        return message;
    }
}

fn notify_exchange(socket: UnixDatagram, notify_socket: &str) {
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let root = TempRoot::new().file("a.txt", "hello");
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path())
        .args(["-l", "127.0.0.1:0", "--quiet"])
        .env("NOTIFY_SOCKET", notify_socket)
        .env("WATCHDOG_USEC", "100000");
    let mut server = Proc::spawn(cmd);
    server.line("ferrox: serving");
    let mut watchdogs = 0;
    assert_eq!(next_message(&socket, &mut watchdogs), "READY=1");

    let before = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    server.signal("-HUP");
    let reloading = next_message(&socket, &mut watchdogs);
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("{reloading:?}"))
        .parse()
        .unwrap();
    let before_usec = before.tv_sec as u64 * 1_000_000 + before.tv_nsec as u64 / 1000;
    assert!(
        usec >= before_usec && usec < before_usec + 5_000_000,
        "{usec} vs {before_usec}"
    );
    assert_eq!(next_message(&socket, &mut watchdogs), "READY=1");

    // Half of WATCHDOG_USEC: several within half a second.
    std::thread::sleep(Duration::from_millis(500));
    server.signal("-TERM");
    assert_eq!(next_message(&socket, &mut watchdogs), "STOPPING=1");
    assert!(watchdogs >= 3, "{watchdogs} watchdog pings");
    assert_eq!(server.exit(), Some(0));
}

#[test]
fn sd_notify_ready_reloading_watchdog_stopping() {
    let dir = TempRoot::new();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    notify_exchange(socket, path.to_str().unwrap());
}

#[cfg(target_os = "linux")]
#[test]
fn sd_notify_to_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ferrox-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    notify_exchange(socket, &format!("@{name}"));
}

#[test]
fn what_ferrox_spawns_inherits_no_service_manager_variables() {
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new().file("a.txt", "x");
    let bin = TempRoot::new();
    let seen = bin.path().join("env");
    let opener = bin.path().join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nenv > {0}.tmp && mv {0}.tmp {0}\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let notify = bin.path().join("notify");
    let _socket = UnixDatagram::bind(&notify).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path())
        .args(["-l", "127.0.0.1:0", "--quiet", "--open"])
        .env("PATH", &path)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "10000000")
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDNAMES", "web");
    let mut server = Proc::spawn(cmd);
    server.line("ferrox: serving");
    let deadline = Instant::now() + WAIT;
    let env = loop {
        if let Ok(text) = std::fs::read_to_string(&seen) {
            break text;
        }
        assert!(Instant::now() < deadline, "the opener did not run");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(env.contains("PATH="), "{env}");
    for var in [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    ] {
        assert!(!env.contains(&format!("{var}=")), "{var} in\n{env}");
    }
}

/// The `Uid:`/`Gid:`/`Groups:` lines of a process.
fn ids(pid: u32) -> (String, String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (field("Uid:"), field("Gid:"), field("Groups:"))
}

fn id_of(flag: &str, user: &str) -> String {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A root that `nobody` can read (a temporary folder is the owner's alone).
fn world_readable_root() -> TempRoot {
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new().file("a.txt", "hello");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    root
}

#[test]
fn user_drops_root_after_binding() {
    if !is_root() {
        eprintln!("skipped: --user needs a test run as root");
        return;
    }
    let root = world_readable_root();
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path())
        .args(["-l", "0.0.0.0:0", "--quiet", "--user", "nobody"])
        .args(["--state-dir", "/nonexistent"]);
    let mut server = Proc::spawn(cmd);
    let line = server.line(" on http://");
    let port: u16 = line
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let (uid, gid) = (id_of("-u", "nobody"), id_of("-g", "nobody"));
    let (uids, gids, groups) = ids(server.child.id());
    assert_eq!(uids, format!("{uid} {uid} {uid} {uid}"));
    assert_eq!(gids, format!("{gid} {gid} {gid} {gid}"));
    assert_eq!(groups, gid);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(get(addr, "/a.txt").unwrap(), (200, "hello".into()));
}

#[test]
fn user_opens_the_roots_as_that_user() {
    if !is_root() {
        eprintln!("skipped: --user needs a test run as root");
        return;
    }
    // A folder root alone may enter: nobody cannot, and the sites are
    // built after the switch.
    let root = TempRoot::new().file("a.txt", "hello");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path())
        .args(["-l", "127.0.0.1:0", "--quiet", "--user", "nobody"]);
    let mut server = Proc::spawn(cmd);
    server.line("Permission denied");
    assert_eq!(server.exit(), Some(1));
}

#[test]
fn root_on_a_network_address_is_refused_unless_allowed() {
    if !is_root() {
        eprintln!("skipped: the refusal applies to root only");
        return;
    }
    let root = TempRoot::new().file("a.txt", "hello");
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path()).args(["-l", "0.0.0.0:0", "--quiet"]);
    let mut refused = Proc::spawn(cmd);
    let line = refused.line("refusing to serve as root");
    assert!(
        line.contains("0.0.0.0:") && line.contains("--user NAME") && line.contains("--run-as-root"),
        "{line}"
    );
    assert_eq!(refused.exit(), Some(1));

    for (flag, var) in [
        (Some("--run-as-root"), None),
        (None, Some("FERROX_RUN_AS_ROOT")),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.arg(root.path()).args(["-l", "0.0.0.0:0", "--quiet"]);
        cmd.args(flag);
        if let Some(var) = var {
            cmd.env(var, "1");
        }
        let mut allowed = Proc::spawn(cmd);
        allowed.line("ferrox: serving");
    }

    // Loopback alone: root serves without being told.
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path()).args(["-l", "127.0.0.1:0", "--quiet"]);
    let mut local = Proc::spawn(cmd);
    local.line("ferrox: serving");
}

/// Kills a process that is not our child (the new server after a handover).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

#[test]
fn sigusr2_hands_the_listeners_over_without_a_refused_connection() {
    let root = TempRoot::new().file("a.txt", "hello");
    // A fixed admin port: the new process binds it while the old one holds it.
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(root.path())
        .args([
            "-l",
            "127.0.0.1:0",
            "--quiet",
            "--drain-delay",
            "0s",
            "--admin",
        ])
        .arg(admin.to_string())
        .arg("--state-dir")
        .arg(root.path().join(".state"));
    let mut old = Proc::spawn(cmd);
    let line = old.line("ferrox: serving");
    let addr: SocketAddr = line
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();

    // Bounded load: two clients, a new connection per request, until told.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, Vec::new());
                let end = Instant::now() + Duration::from_secs(30);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < end {
                    match get(addr, "/a.txt") {
                        Ok((200, body)) if body == "hello" => ok += 1,
                        other => failed.push(format!("{other:?}")),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    old.signal("-USR2");
    let handed = old.line("serves now");
    let pid: u32 = handed
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{handed}"));
    let _new = KillOnDrop(pid);
    assert_ne!(pid, old.child.id());
    assert_eq!(old.exit(), Some(0), "stderr: {:?}", old.seen);
    // The new process alone serves now.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        let (ok, failed) = client.join().unwrap();
        assert!(
            failed.is_empty(),
            "{} failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(5)]
        );
        total += ok;
    }
    assert!(total > 50, "{total} requests");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(get(addr, "/a.txt").unwrap(), (200, "hello".into()));
    signal(pid, "-TERM");
}

#[test]
fn a_failed_handover_leaves_the_old_process_serving() {
    let root = TempRoot::new().file("a.txt", "hello");
    let config = root.path().join("ferrox.toml");
    let site = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\naccess_log = false\n\n[[site]]\nroot = {:?}\n",
        root.path().display().to_string()
    );
    std::fs::write(&config, site).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&config);
    let mut old = Proc::spawn(cmd);
    let line = old.line("ferrox: serving");
    let addr: SocketAddr = line
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    // The new process reads the configuration again: broken, it cannot start.
    std::fs::write(&config, "[server]\nlisten = 5\n").unwrap();
    old.signal("-USR2");
    old.line("handover failed, still serving");
    assert_eq!(get(addr, "/a.txt").unwrap(), (200, "hello".into()));
    old.signal("-TERM");
    assert_eq!(old.exit(), Some(0));
}
