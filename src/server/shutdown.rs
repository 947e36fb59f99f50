//! The shutdown handle: one trigger that every accept loop and idle connection
//! watches.

use crate::proto::Signal;

/// Starts a graceful shutdown when triggered. Clones share one trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    signal: Signal,
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

/// Triggers `shutdown` on the first SIGINT or SIGTERM, and calls `on_hangup`
/// on every SIGHUP (reload). Must be called inside a tokio runtime.
pub fn on_signals(
    shutdown: Shutdown,
    on_hangup: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    on_hangup();
                    continue;
                }
            }
            shutdown.trigger();
            return;
        }
    });
    Ok(())
}
