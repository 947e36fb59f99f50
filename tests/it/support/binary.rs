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
