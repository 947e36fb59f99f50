//! The shutdown handle: one trigger that every accept loop and idle connection
//! watches.

use crate::proto::Signal;

/// Starts a graceful shutdown when triggered. Clones share one trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    signal: Signal,
    /// Fired by a second stop signal: in-flight responses are not waited for.
    now: Signal,
}

impl Shutdown {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops accepting, closes idle connections, and lets in-flight responses
    /// finish within the shutdown timeout.
    pub fn trigger(&self) {
        self.signal.fire();
    }

    /// Ends the stop at once: connections still open are closed without
    /// waiting for the shutdown timeout (a second Ctrl-C). Triggers the stop
    /// too, if it had not begun.
    pub fn force(&self) {
        self.signal.fire();
        self.now.fire();
    }

    /// Resolves once [`Shutdown::force`] is called.
    pub(crate) async fn forced(&self) {
        self.now.fired().await;
    }

    /// Whether [`Shutdown::trigger`] has been called.
    pub fn is_triggered(&self) -> bool {
        self.signal.has_fired()
    }

    /// Resolves once triggered.
    pub async fn triggered(&self) {
        self.signal.fired().await;
    }

    pub(crate) fn signal(&self) -> &Signal {
        &self.signal
    }
}

/// Triggers `shutdown` on the first SIGINT or SIGTERM, forces it on the
/// second (a second Ctrl-C during a long download ends at once), calls
/// `on_hangup` on every SIGHUP (reload), and reopens the log files on
/// SIGUSR1 (after logrotate renamed them). Must be called inside a tokio
/// runtime.
pub fn on_signals(
    shutdown: Shutdown,
    on_hangup: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    on_hangup();
                    continue;
                }
                _ = usr1.recv() => {
                    crate::log::file::reopen_all();
                    tracing::info!("SIGUSR1: log files reopened");
                    continue;
                }
            };
            if shutdown.is_triggered() {
                eprintln!("ferrox: {name} again: stopping now");
                shutdown.force();
                return;
            }
            eprintln!("ferrox: stopping (in-flight requests get the shutdown timeout; {name} again stops now)");
            shutdown.trigger();
        }
    });
    Ok(())
}
