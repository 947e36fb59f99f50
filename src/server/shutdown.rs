//! The shutdown handle: one trigger that every accept loop and idle connection
//! watches; and the server's readiness, which the admin listener reports.
//!
//! A stop asked for by a signal ([`Shutdown::begin_stop`]) first drains: the
//! server turns unready at once while its listeners keep accepting and
//! serving for the drain delay (long enough for a load balancer's health
//! checks to take the instance out), then the listeners close and in-flight
//! requests get the shutdown timeout.

use std::time::Duration;

use crate::proto::Signal;

/// Starts a graceful shutdown when triggered. Clones share one trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    signal: Signal,
    /// Fired by a second stop signal: in-flight responses are not waited for.
    now: Signal,
    /// Fired when a stop begins, before the drain delay: readiness is lost.
    stopping: Signal,
    /// Fired once the listeners accept.
    serving: Signal,
    drain: Duration,
}

impl Shutdown {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long [`Shutdown::begin_stop`] keeps serving before it triggers
    /// the stop (set before cloning: clones keep the delay they were made
    /// with).
    pub fn with_drain_delay(self, drain: Duration) -> Self {
        Shutdown { drain, ..self }
    }

    /// The drain delay.
    pub fn drain_delay(&self) -> Duration {
        self.drain
    }

    /// Begins a stop: unready at once; then, after the drain delay (or at
    /// once when it is zero, or when [`Shutdown::force`] is called meanwhile),
    /// [`Shutdown::trigger`]. The delay is timed on the current tokio runtime;
    /// outside one the stop is triggered at once.
    pub fn begin_stop(&self) {
        self.stopping.fire();
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            Ok(runtime) if !self.drain.is_zero() => {
                let this = self.clone();
                runtime.spawn(async move {
                    tokio::select! {
                        () = tokio::time::sleep(this.drain) => {}
                        () = this.forced() => {}
                    }
                    this.trigger();
                });
            }
            _ => self.trigger(),
        }
    }

    /// Whether a stop has begun (draining or triggered).
    pub fn is_stopping(&self) -> bool {
        self.stopping.has_fired() || self.signal.has_fired()
    }

    /// Ready to take traffic: the listeners accept and no stop has begun.
    pub fn is_ready(&self) -> bool {
        self.serving.has_fired() && !self.is_stopping()
    }

    /// Said by the server once its listeners accept.
    pub fn mark_serving(&self) {
        self.serving.fire();
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

/// Begins a stop ([`Shutdown::begin_stop`]: the drain, then the trigger) on
/// the first SIGINT or SIGTERM, forces it on the second (a second Ctrl-C
/// during a long download ends at once), calls `on_hangup` on every SIGHUP
/// (reload), and reopens the log files on SIGUSR1 (after logrotate renamed
/// them). Must be called inside a tokio
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
            if shutdown.is_stopping() {
                eprintln!("ferrox: {name} again: stopping now");
                shutdown.force();
                return;
            }
            let drain = shutdown.drain_delay();
            if drain.is_zero() {
                eprintln!("ferrox: stopping (in-flight requests get the shutdown timeout; {name} again stops now)");
            } else {
                eprintln!(
                    "ferrox: stopping: draining for {} (not ready, still serving), then in-flight \
                     requests get the shutdown timeout; {name} again stops now",
                    humantime::format_duration(drain)
                );
            }
            shutdown.begin_stop();
        }
    });
    Ok(())
}
