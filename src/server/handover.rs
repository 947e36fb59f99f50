//! Restart without a refused connection, as nginx's binary upgrade does: on
//! SIGUSR2 the running server starts its binary again (the file on disk now,
//! so a new build takes over) with the same arguments, hands it its
//! listening sockets, waits until it serves, then stops accepting and drains.
//! Both accept on the same sockets meanwhile, and a socket's queue outlives
//! the old process's copy of it, so no connection is refused.
//!
//! The steps, each bounded:
//! 1. A private folder (mode 0700) with a Unix socket in it; the new process
//!    gets its path in `FERROX_HANDOVER` (and the notify socket, if systemd
//!    gave us one).
//! 2. It connects (on Linux we check it is our child); we send the sockets in
//!    one message (`SCM_RIGHTS`). It matches them to its configuration by
//!    address, as with systemd's (`systemd::adopt`), and binds the rest.
//! 3. Once serving it writes `ready`; we tell systemd it is the main process
//!    now (`MAINPID=`), and stop as on SIGTERM.
//!
//! Any failure (the new binary does not start, its configuration is wrong, a
//! step times out) kills it, logs why, and leaves the old process serving.

use std::io::{self, BufRead as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::sites::ListenKey;
use super::systemd::{Notifier, HANDOVER_VAR};
use super::Shutdown;
use crate::sys::service as sys;

/// How long each step may take: the new process connecting (it has only
/// parsed its command line by then) and receiving.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the new process may take from receiving the sockets to serving:
/// it reads its configuration and opens its roots and certificates.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The listening sockets of the running server, as a handover sends them:
/// a copy of each, kept by the accept loops as they start and stop (a reload
/// adds and removes listeners). Clones share one set.
#[derive(Debug, Clone, Default)]
pub struct Listening(Arc<Mutex<Vec<(ListenKey, TcpListener)>>>);

impl Listening {
    /// Keeps a copy of `socket`, the listener `key`.
    pub(crate) fn add(&self, key: ListenKey, socket: &TcpListener) -> io::Result<()> {
        let copy = socket.try_clone()?;
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.retain(|(k, _)| *k != key);
        set.push((key, copy));
        Ok(())
    }

    /// Closes the copy of the listener `key`: a socket the server stopped
    /// listening on must close.
    pub(crate) fn remove(&self, key: &ListenKey) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.retain(|(k, _)| k != key);
    }

    /// Copies of the sockets, for one handover.
    fn copies(&self) -> io::Result<Vec<TcpListener>> {
        let set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.iter().map(|(_, s)| s.try_clone()).collect()
    }
}

/// Hands the `listening` sockets to a new process on each SIGUSR2 (one at a
/// time), then triggers `shutdown`. Must be called inside a tokio runtime.
pub fn on_upgrade_signal(
    shutdown: Shutdown,
    listening: Listening,
    notifier: Notifier,
) -> io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr2 = signal(SignalKind::user_defined2())?;
    tokio::spawn(async move {
        while usr2.recv().await.is_some() {
            if shutdown.is_triggered() {
                continue;
            }
            eprintln!("ferrox: SIGUSR2: starting a new process to hand the listeners to");
            let listeners = match listening.copies() {
                Ok(listeners) => listeners,
                Err(e) => {
                    tracing::error!("handover failed, still serving: cannot copy a listener: {e}");
                    continue;
                }
            };
            match hand_over(&listeners, &notifier).await {
                Ok(pid) => {
                    eprintln!(
                        "ferrox: process {pid} serves now; this one stops accepting and drains"
                    );
                    notifier.hand_to(pid);
                    shutdown.trigger();
                    return;
                }
                Err(e) => {
                    tracing::error!("handover failed, still serving: {e}");
                }
            }
        }
    });
    Ok(())
}

/// The steps of the module doc; the new process's id once it serves.
async fn hand_over(listeners: &[TcpListener], notifier: &Notifier) -> Result<u32, String> {
    let dir = private_dir().map_err(|e| format!("cannot make a folder for the handover: {e}"))?;
    let path = dir.join("handover.sock");
    let result = async {
        let socket = tokio::net::UnixListener::bind(&path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        let mut child = spawn(&path, notifier)?;
        match connect_and_wait(&socket, &mut child, listeners).await {
            Ok(()) => Ok(child.id()),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Steps 2 and 3, with the child started.
async fn connect_and_wait(
    socket: &tokio::net::UnixListener,
    child: &mut Child,
    listeners: &[TcpListener],
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let stream = loop {
        tokio::select! {
            accepted = socket.accept() => {
                break accepted.map_err(|e| format!("accept: {e}"))?.0;
            }
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                exited(child)?;
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("the new process did not connect within {STEP_TIMEOUT:?}"));
                }
            }
        }
    };
    let stream = stream
        .into_std()
        .map_err(|e| format!("the handover socket: {e}"))?;
    if let Some(peer) = sys::peer_pid(&stream) {
        if peer != child.id() {
            return Err(format!(
                "process {peer} connected instead of the new process {}",
                child.id()
            ));
        }
    }
    let owned: Vec<TcpListener> = listeners
        .iter()
        .map(TcpListener::try_clone)
        .collect::<io::Result<_>>()
        .map_err(|e| format!("cannot copy a listener: {e}"))?;
    let pid = child.id();
    let waited = tokio::task::spawn_blocking(move || -> Result<(), String> {
        stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_write_timeout(Some(STEP_TIMEOUT)))
            .and_then(|()| stream.set_read_timeout(Some(READY_TIMEOUT)))
            .map_err(|e| format!("the handover socket: {e}"))?;
        sys::send_listeners(&stream, &owned)
            .map_err(|e| format!("cannot send the listeners: {e}"))?;
        drop(owned);
        let mut line = String::new();
        // "ready\n", or nothing: a longer line is no answer of ours.
        io::BufReader::new(io::Read::take(&stream, 64))
            .read_line(&mut line)
            .map_err(|e| format!("waiting for process {pid} to serve: {e}"))?;
        match line.trim_end() {
            "ready" => Ok(()),
            _ => Err(format!("process {pid} stopped before it served")),
        }
    })
    .await
    .map_err(|e| format!("the handover thread: {e}"))?;
    if let Err(e) = waited {
        // Say how it ended, when it did.
        exited(child)?;
        return Err(e);
    }
    Ok(())
}

/// An error when the child has exited.
fn exited(child: &mut Child) -> Result<(), String> {
    match child.try_wait() {
        Ok(Some(status)) => Err(format!("the new process exited ({status})")),
        Ok(None) => Ok(()),
        Err(e) => Err(format!("the new process: {e}")),
    }
}

/// The binary again, with our arguments.
fn spawn(path: &Path, notifier: &Notifier) -> Result<Child, String> {
    let exe = binary().map_err(|e| format!("cannot find the binary: {e}"))?;
    let mut cmd = Command::new(&exe);
    cmd.args(std::env::args_os().skip(1))
        .env(HANDOVER_VAR, path)
        .stdin(Stdio::null());
    for (name, value) in notifier.environment() {
        cmd.env(name, value);
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))
}

/// The running binary's path; once the file was replaced (an upgrade), the
/// path now holds the new binary, which is the point.
fn binary() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let Some(name) = exe.to_str() else {
        return Ok(exe);
    };
    // Linux names a replaced file "PATH (deleted)".
    Ok(match name.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

/// A fresh folder only we can enter, for the handover socket.
fn private_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("ferrox-handover-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
