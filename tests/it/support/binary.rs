//! The `ferrox` binary as a separate process, for what only a process shows:
//! exit statuses, signals, and its own memory.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ferrox");

/// A running `ferrox`, killed when dropped.
pub struct Binary {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from the start-up line (no trailing slash).
    pub url: String,
    /// The rest of stderr after the start-up line.
    pub stderr: BufReader<ChildStderr>,
}

impl Binary {
    /// Starts `ferrox ROOT ARGS...` with extra environment, waits for the start-up
    /// line and checks it names the root.
    pub fn start(root: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut cmd = Command::new(BIN);
        cmd.arg(root).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::start_command(cmd, root)
    }

    /// Starts a prepared command that runs the binary (under `setpriv`, say).
    pub fn start_command(mut cmd: Command, root: &std::path::Path) -> Binary {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in start-up line {line:?}"))
            .trim_end_matches('/')
            .to_string();
        let canonical = root.canonicalize().unwrap();
        assert!(
            line.contains(canonical.to_str().unwrap()),
            "root not named: {line}"
        );
        Binary { child, url, stderr }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Everything the process wrote to stdout (the access log); call after it exited.
    pub fn stdout_after_exit(&mut self) -> String {
        use std::io::Read;
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).unwrap();
        }
        out
    }

    /// Resident memory of the server process, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS");
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a [`Served`] waits for its start-up lines, or for one log line.
pub const LINE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A `ferrox` started with any arguments (a configuration file, several
/// listeners, several sites): its start-up lines, then the rest of stderr
/// line by line, every wait bounded by [`LINE_WAIT`]. stdout (the access log)
/// is discarded. Killed when dropped.
pub struct Served {
    pub child: Child,
    /// The start-up lines, `ferrox: serving ROOT|N sites on URL`, in order.
    pub startup: Vec<String>,
    /// Every stderr line after the start-up lines received so far.
    pub log: Vec<String>,
    /// Lines of `log` before this one were matched by a wait already.
    cursor: usize,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Served {
    /// Runs `ferrox ARGS` in `dir` with `env` and no inherited `FERROX_*`
    /// variable, and waits for `listeners` start-up lines.
    pub fn start(
        dir: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
        listeners: usize,
    ) -> Served {
        let mut cmd = command(dir, args, env);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut served = Served {
            child,
            startup: Vec::new(),
            log: Vec::new(),
            cursor: 0,
            lines,
        };
        let deadline = std::time::Instant::now() + LINE_WAIT;
        while served.startup.len() < listeners {
            match served.next_line(deadline) {
                Some(line) if line.starts_with("ferrox: serving ") => served.startup.push(line),
                Some(line) => served.log.push(line),
                None => {
                    let status = served.exit_status();
                    panic!(
                        "{} of {listeners} start-up lines from ferrox {args:?} (exit: {status}); stderr:\n{}\n{}",
                        served.startup.len(),
                        served.startup.join("\n"),
                        served.log.join("\n")
                    );
                }
            }
        }
        served
    }

    /// How the process ended, if it ends within a second (for messages).
    fn exit_status(&mut self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(None) => return "still running".into(),
                Err(e) => return e.to_string(),
            }
        }
    }

    fn next_line(&self, deadline: std::time::Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.lines.recv_timeout(left).ok()
    }

    /// The address of the `i`th start-up line.
    pub fn addr(&self, i: usize) -> std::net::SocketAddr {
        let line = &self.startup[i];
        let url = line
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        url.parse()
            .unwrap_or_else(|_| panic!("no address in start-up line {line:?}"))
    }

    /// Waits for the first line after the last one waited for that `matches`,
    /// and returns it; panics with all of stderr after [`LINE_WAIT`].
    #[track_caller]
    pub fn wait_for(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, LINE_WAIT, matches)
    }

    /// [`Served::wait_for`], waiting up to `wait` (for what takes longer,
    /// such as a certificate's renewal).
    #[track_caller]
    pub fn wait_for_within(
        &mut self,
        what: &str,
        wait: std::time::Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        match self.poll_for(wait, matches) {
            Some(line) => line,
            None => {
                let status = self.exit_status();
                panic!(
                    "no stderr line {what} (stderr ended, or {wait:?} passed; exit: {status}); stderr after start-up:\n{}",
                    self.log.join("\n")
                )
            }
        }
    }

    /// The first line after the last one waited for that `matches`, if one
    /// comes within `wait`.
    pub fn poll_for(
        &mut self,
        wait: std::time::Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(i) = (self.cursor..self.log.len()).find(|&i| matches(&self.log[i])) {
                self.cursor = i + 1;
                return Some(self.log[i].clone());
            }
            self.log.push(self.next_line(deadline)?);
        }
    }

    /// Where the next wait starts looking in `log`: lines from here on were
    /// logged after the last line waited for.
    pub fn mark(&self) -> usize {
        self.cursor
    }

    /// Sends `sig` (`-HUP`, `-TERM`) with `kill`, as a user would.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {sig} failed");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferrox ARGS` in `dir` with `env`, stdin closed, and none of the test's own
/// `FERROX_*` variables (they would change what is tested).
pub fn command(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FERROX_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `ferrox ARGS` to its end (killed after [`LINE_WAIT`]), output captured.
pub fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut child = command(dir, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + LINE_WAIT;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "ferrox {args:?} did not exit within {LINE_WAIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}
