//! Running under a service manager: the sockets it passes (systemd's socket
//! activation, or an old ferrox's in a handover, see `handover`), and what we
//! tell it (`sd_notify`).
//!
//! The notify client is ours, over std's `UnixDatagram` (the abstract names
//! in `sys`): one datagram a message is the whole protocol, and owning it
//! lets the tests speak it. Messages: `READY=1` once serving; `RELOADING=1`
//! with `MONOTONIC_USEC=` before a reload and `READY=1` after it, whatever its
//! outcome; `STOPPING=1` when a graceful stop begins; `WATCHDOG=1` every half
//! of `WATCHDOG_USEC`; `MAINPID=` when a handover made another process the
//! server.
//!
//! [`ServiceEnv::take`] reads and removes every variable of these protocols
//! at start-up, so nothing we spawn (the browser opener) inherits them.

use std::ffi::OsString;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::reload::Bound;
use super::sites::ListenKey;
use super::Shutdown;
use crate::sys::service as sys;

/// The variable naming the socket an old ferrox hands its listeners over on.
pub(crate) const HANDOVER_VAR: &str = "FERROX_HANDOVER";

/// What the service manager (or an old ferrox) gave this process at start.
#[derive(Debug, Default)]
pub struct ServiceEnv {
    /// Listening sockets passed in, not yet matched to the configuration.
    pub listeners: Vec<TcpListener>,
    /// Where they came from, for messages: "systemd" or "the old process".
    pub from: &'static str,
    /// The notify socket and the watchdog.
    pub notifier: Notifier,
    /// To the old process in a handover: told "ready" once we serve.
    handover: Option<UnixStream>,
}

impl ServiceEnv {
    /// Reads the sockets and the notify settings from the environment and
    /// removes their variables. Call before any other thread starts (it
    /// changes the environment).
    pub fn take() -> io::Result<ServiceEnv> {
        let var = |name: &str| {
            let value = std::env::var_os(name).filter(|v| !v.is_empty());
            std::env::remove_var(name);
            value
        };
        let notify_socket = var("NOTIFY_SOCKET");
        let watchdog_usec = var("WATCHDOG_USEC");
        let watchdog_pid = var("WATCHDOG_PID");
        let handover_path = var(HANDOVER_VAR);
        let activated = sys::activated_listeners()
            .map_err(|e| io::Error::new(e.kind(), format!("the sockets systemd passed: {e}")))?;
        let watchdog = watchdog_interval(
            watchdog_usec.as_deref().and_then(|v| v.to_str()),
            watchdog_pid.as_deref().and_then(|v| v.to_str()),
            std::process::id(),
        );
        let notifier = Notifier(Arc::new(NotifierInner {
            socket: notify_socket,
            watchdog,
            silenced: AtomicBool::new(false),
        }));
        let Some(path) = handover_path else {
            return Ok(ServiceEnv {
                listeners: activated,
                from: "systemd",
                notifier,
                handover: None,
            });
        };
        let stream = UnixStream::connect(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot reach the old process at {path:?}: {e}"),
            )
        })?;
        stream.set_read_timeout(Some(super::handover::STEP_TIMEOUT))?;
        let mut listeners = sys::recv_listeners(&stream).map_err(|e| {
            io::Error::new(e.kind(), format!("the sockets of the old process: {e}"))
        })?;
        listeners.extend(activated);
        Ok(ServiceEnv {
            listeners,
            from: "the old process",
            notifier,
            handover: Some(stream),
        })
    }

    /// Says the server is serving: `READY=1` to the service manager, or
    /// "ready" to the old process in a handover (which then tells systemd
    /// who the server is now).
    pub fn ready(&mut self) {
        match self.handover.take() {
            Some(stream) => {
                use std::io::Write as _;
                if let Err(e) = (&stream).write_all(b"ready\n") {
                    tracing::error!(error = %e, "cannot tell the old process we serve");
                }
            }
            None => self.notifier.send("READY=1"),
        }
    }
}

/// The watchdog period, half of `WATCHDOG_USEC`, when the watchdog is meant
/// for this process (`WATCHDOG_PID` unset or ours).
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own) {
            return None;
        }
    }
    let usec = usec?.trim().parse::<u64>().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// The sd_notify client; a no-op without `NOTIFY_SOCKET`. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Notifier(Arc<NotifierInner>);

#[derive(Debug, Default)]
struct NotifierInner {
    socket: Option<OsString>,
    watchdog: Option<Duration>,
    /// Set once another process became the service's main process: systemd
    /// would reject (and log) what we send after that.
    silenced: AtomicBool,
}

impl Notifier {
    /// Sends one message; a failure is logged, never fatal (the service
    /// manager's watchdog or start timeout reports it better than we can).
    pub fn send(&self, message: &str) {
        let Some(socket) = &self.0.socket else {
            return;
        };
        if self.0.silenced.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = sys::notify(socket, message) {
            tracing::warn!(error = %e, "sd_notify {message:?} to {socket:?} failed");
        }
    }

    /// `RELOADING=1` with the monotonic time, as `Type=notify-reload` wants.
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            sys::monotonic_usec()
        ));
    }

    /// `READY=1`.
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// Tells the service manager that `pid` is the server now, and sends
    /// nothing more.
    pub fn hand_to(&self, pid: u32) {
        self.send(&format!("MAINPID={pid}"));
        self.0.silenced.store(true, Ordering::Relaxed);
    }

    /// The notify socket and the watchdog's `WATCHDOG_USEC`, for the
    /// environment of the process we hand over to (systemd set them for us,
    /// and we removed them from ours).
    pub(crate) fn environment(&self) -> Vec<(&'static str, OsString)> {
        let mut vars = Vec::new();
        if let Some(socket) = &self.0.socket {
            vars.push(("NOTIFY_SOCKET", socket.clone()));
        }
        if let Some(period) = self.0.watchdog {
            let usec = period.as_micros().saturating_mul(2);
            vars.push(("WATCHDOG_USEC", OsString::from(usec.to_string())));
        }
        vars
    }

    /// Spawns what runs for the server's life: `STOPPING=1` once `shutdown`
    /// is triggered, and the watchdog's `WATCHDOG=1`, which goes on through
    /// the drain (the process is alive and working). Inside a runtime.
    pub fn spawn(&self, shutdown: &Shutdown) {
        if self.0.socket.is_none() {
            return;
        }
        let (notifier, stop) = (self.clone(), shutdown.clone());
        tokio::spawn(async move {
            stop.triggered().await;
            notifier.send("STOPPING=1");
        });
        if let Some(period) = self.0.watchdog {
            let notifier = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    notifier.send("WATCHDOG=1");
                }
            });
        }
    }
}

/// Matches the sockets passed in to the configured listeners by their local
/// address (so one `ferrox.socket` can carry :80 and :443); a listener on
/// port 0 (any port) takes a socket on its address that no other listener
/// names, as it took one in the process that handed it over. A socket no
/// listener names is an error: serving it with some default would surprise.
pub fn adopt(
    keys: &[ListenKey],
    passed: Vec<TcpListener>,
    from: &str,
) -> Result<Vec<Bound>, String> {
    let mut sockets = Vec::with_capacity(passed.len());
    for socket in passed {
        let addr = socket
            .local_addr()
            .map_err(|e| format!("a socket from {from}: {e}"))?;
        sockets.push((addr, socket));
    }
    let mut bound: Vec<Bound> = Vec::with_capacity(sockets.len());
    let mut left = Vec::new();
    for (addr, socket) in sockets {
        match keys.iter().find(|k| same_address(k.addr, addr)) {
            Some(key) if bound.iter().any(|b| b.key == *key) => {
                return Err(format!("{from} passed two sockets on {addr}"));
            }
            Some(key) => bound.push(Bound { key: *key, socket }),
            None => left.push((addr, socket)),
        }
    }
    for (addr, socket) in left {
        let any_port = keys.iter().find(|k| {
            k.addr.port() == 0
                && same_address(k.addr, SocketAddr::new(addr.ip(), 0))
                && !bound.iter().any(|b| b.key == **k)
        });
        let Some(key) = any_port else {
            return Err(format!(
                "{from} passed a socket on {addr} that no listen address names \
                 (add --listen {addr}, or listen = [\"{addr}\"] in [server])"
            ));
        };
        bound.push(Bound { key: *key, socket });
    }
    Ok(bound)
}

/// One address: an IPv4-mapped IPv6 socket address counts as its IPv4 one.
fn same_address(configured: SocketAddr, actual: SocketAddr) -> bool {
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    canonical(configured) == canonical(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_period_is_half_of_watchdog_usec_for_this_process() {
        let ms = Duration::from_millis;
        assert_eq!(watchdog_interval(Some("2000000"), None, 7), Some(ms(1000)));
        assert_eq!(
            watchdog_interval(Some("2000000"), Some("7"), 7),
            Some(ms(1000))
        );
        assert_eq!(watchdog_interval(Some("2000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
    }

    #[test]
    fn sockets_match_listeners_by_local_address() {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let keys = [
            ListenKey {
                addr: addr_a,
                tls: false,
            },
            ListenKey {
                addr: addr_b,
                tls: true,
            },
        ];
        let bound = adopt(&keys, vec![b, a], "systemd").unwrap();
        assert_eq!(bound.len(), 2);
        assert_eq!(bound[0].key, keys[1]);
        assert_eq!(bound[1].key, keys[0]);

        // A listener on port 0 takes a socket on its address, any port.
        let any: ListenKey = ListenKey {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: false,
        };
        let c = TcpListener::bind("127.0.0.1:0").unwrap();
        let bound = adopt(&[keys[0], any], vec![c], "the old process").unwrap();
        assert_eq!(bound[0].key, any);

        let stray = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = stray.local_addr().unwrap();
        let e = adopt(&keys[..1], vec![stray], "systemd").unwrap_err();
        assert!(
            e.contains(&format!(
                "passed a socket on {addr} that no listen address names"
            )),
            "{e}"
        );
    }
}
