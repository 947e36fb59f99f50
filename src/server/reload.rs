//! Serving the sites across reloads: the listeners of the live generation,
//! each with its own accept loop, and the loop that applies a reload.
//!
//! A reload ([`Reloader`]) loads the configuration again and builds a whole
//! new [`Generation`] off the runtime's threads. Any problem keeps the current
//! generation serving, and each problem is logged. Otherwise listeners that
//! appear are bound first (a port that cannot be bound fails the reload), the
//! new generation is swapped in, and listeners that disappear stop accepting
//! (their connections drain). A listener that stays keeps its socket, so no
//! connection is refused during a reload. Every second the sites' roots are
//! followed to where their paths lead ([`crate::site::root`]). In development
//! mode the roots are also watched for changes (`watch`), and the live-reload
//! streams are ended at shutdown before draining, so none holds it up.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio_util::task::TaskTracker;

use super::accept;
use super::conn::{ConnContext, Endpoint};
use super::sites::{Generation, ListenKey, Live, Plan, SiteCerts};
use super::{Protocol, ServerOptions, Shutdown, Tls};
use crate::log::AccessLog;
use crate::proto::Signal;

/// How often each site's root path is resolved again.
pub const ROOT_REFRESH: Duration = Duration::from_secs(1);

/// Loads the configuration again: the plan, or every problem in it.
pub type Load = Box<dyn Fn() -> Result<Plan, Vec<String>> + Send + Sync>;

/// Reload requests (one message each, e.g. from SIGHUP) and how to load.
pub struct Reloader {
    /// One message per reload asked for.
    pub requests: mpsc::UnboundedReceiver<()>,
    /// Loads the configuration.
    pub load: Load,
    /// Told `RELOADING=1` before each reload and `READY=1` after it.
    pub notify: super::systemd::Notifier,
    /// Kept up to date with the listeners, for a handover (SIGUSR2).
    pub listening: super::handover::Listening,
}

/// A bound socket for a listener of the plan.
#[derive(Debug)]
pub struct Bound {
    /// The listener as configured.
    pub key: ListenKey,
    /// Its socket.
    pub socket: std::net::TcpListener,
}

/// Binds every listener of `plan` that `have` does not already hold; the
/// first address that cannot be bound fails it all.
pub fn bind_new(
    plan: &Plan,
    have: &dyn Fn(&ListenKey) -> bool,
    reuse_port: bool,
) -> Result<Vec<Bound>, (ListenKey, io::Error)> {
    let mut bound = Vec::new();
    for (key, _) in plan.listeners() {
        if have(&key) {
            continue;
        }
        let socket = accept::bind_with(key.addr, reuse_port).map_err(|e| (key, e))?;
        bound.push(Bound { key, socket });
    }
    Ok(bound)
}

/// The TLS set-up of a TLS listener: certificates come from the live
/// generation's sites (the listener's own site, or by SNI).
pub fn site_tls(live: &Arc<Live>, listener: ListenKey) -> io::Result<Tls> {
    Tls::with_resolver(Arc::new(SiteCerts {
        live: live.clone(),
        listener,
    }))
    .map_err(|e| io::Error::other(format!("rustls: {e}")))
}

/// The running accept loops, by listener.
struct Accepting {
    loops: HashMap<ListenKey, Signal>,
    /// The port each listener is bound to.
    ports: HashMap<ListenKey, u16>,
    tracker: TaskTracker,
    permits: Arc<Semaphore>,
    connections: TaskTracker,
    ctx: Arc<ConnContext<Live>>,
    live: Arc<Live>,
    /// Copies of the sockets for a handover, when this runtime offers one.
    listening: Option<super::handover::Listening>,
}

impl Accepting {
    fn start(&mut self, bound: Bound) -> io::Result<()> {
        let Bound { key, socket } = bound;
        if let Some(listening) = &self.listening {
            listening.add(key, &socket)?;
        }
        socket.set_nonblocking(true)?;
        let port = socket.local_addr()?.port();
        let socket = tokio::net::TcpListener::from_std(socket)?;
        let protocol = match key.tls {
            true => Protocol::Tls(site_tls(&self.live, key)?),
            false => Protocol::Plain,
        };
        let stop = Signal::new();
        self.tracker.spawn(accept::accept_loop(
            socket,
            Arc::new(Endpoint {
                protocol,
                key: key.addr,
                port,
            }),
            self.permits.clone(),
            self.connections.clone(),
            self.ctx.clone(),
            stop.clone(),
        ));
        self.loops.insert(key, stop);
        self.ports.insert(key, port);
        Ok(())
    }

    fn stop(&mut self, key: &ListenKey) {
        self.ports.remove(key);
        if let Some(listening) = &self.listening {
            listening.remove(key);
        }
        if let Some(stop) = self.loops.remove(key) {
            stop.fire();
        }
    }

    fn stop_all(&mut self) {
        for (_, stop) in self.loops.drain() {
            stop.fire();
        }
    }
}

/// Serves `live`'s sites on `listeners` until `shutdown` is triggered,
/// applying reloads as they are asked for; then drains as [`super::run`] does.
/// With `manage_listeners` off (one runtime per core, each with its own
/// copies of the sockets), a reload swaps the sites and certificates but
/// leaves the listeners as they were.
pub async fn run_sites(
    live: Arc<Live>,
    listeners: Vec<Bound>,
    options: ServerOptions,
    log: AccessLog,
    shutdown: Shutdown,
    reloader: Option<Reloader>,
    manage_listeners: bool,
) -> io::Result<()> {
    let abort = Signal::new();
    let ctx = Arc::new(ConnContext {
        service: live.clone(),
        h1: options.h1.clone(),
        h2: options.h2.clone(),
        tls_handshake_timeout: options.tls_handshake_timeout,
        hsts: None,
        log,
        shutdown: shutdown.signal().clone(),
        abort: abort.clone(),
        proxy: super::conn::Proxying::of(&options),
        metrics: live.parts().metrics.clone(),
    });
    let mut accepting = Accepting {
        loops: HashMap::new(),
        ports: HashMap::new(),
        tracker: TaskTracker::new(),
        permits: Arc::new(Semaphore::new(options.max_connections.max(1))),
        connections: TaskTracker::new(),
        ctx,
        live: live.clone(),
        listening: reloader.as_ref().map(|r| r.listening.clone()),
    };
    for bound in listeners {
        accepting.start(bound)?;
    }
    // Said by the runtime that manages the listeners, after the start-up
    // lines; with one runtime per core the start-up lines say it.
    let first = live.current().number();
    if manage_listeners {
        tracing::info!(
            generation = first,
            "configuration generation {first} active"
        );
    }
    shutdown.mark_serving();
    manage_certificates(&live, &shutdown);
    let refresher = tokio::spawn(follow_roots(live.clone(), shutdown.clone()));
    let hub = live.parts().shared.live().clone();
    // One watcher per process, however many runtimes serve.
    let watcher = hub
        .claim_watcher()
        .then(|| tokio::spawn(super::watch::live_reload(live.clone(), shutdown.clone())));
    let mut reloader = reloader;
    loop {
        let asked = async {
            match reloader.as_mut() {
                Some(r) => r.requests.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.triggered() => break,
            asked = asked => {
                let Some(()) = asked else {
                    reloader = None;
                    continue;
                };
                if let Some(r) = &reloader {
                    r.notify.reloading();
                    reload(&live, &r.load, &mut accepting, manage_listeners).await;
                    manage_certificates(&live, &shutdown);
                    r.notify.ready();
                }
            }
        }
    }
    refresher.abort();
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    hub.close();
    accepting.stop_all();
    accepting.tracker.close();
    accepting.tracker.wait().await;
    super::drain(
        &accepting.connections,
        options.shutdown_timeout,
        &abort,
        &shutdown,
    )
    .await;
    Ok(())
}

/// Keeps the live generation's ACME certificates renewed, and only those: a
/// reload that removed a site stops its renewal. Idempotent, so every
/// runtime of `--runtime per-core` may call it.
fn manage_certificates(live: &Arc<Live>, shutdown: &Shutdown) {
    if let Some(acme) = live.parts().acme() {
        acme.reconcile(&live.current().acme_certificates(), shutdown);
    }
}

/// One reload; a failure is kept for the metrics.
async fn reload(live: &Arc<Live>, load: &Load, accepting: &mut Accepting, manage_listeners: bool) {
    if !try_reload(live, load, accepting, manage_listeners).await {
        live.parts().metrics.set_last_reload_ok(false);
    }
}

/// One reload: load, build, bind, swap, stop (see the module doc). False when
/// the current generation was kept.
async fn try_reload(
    live: &Arc<Live>,
    load: &Load,
    accepting: &mut Accepting,
    manage_listeners: bool,
) -> bool {
    let current = live.current().number();
    let next = current + 1;
    let plan = match load() {
        Ok(plan) => plan,
        Err(problems) => {
            for problem in &problems {
                tracing::error!("{problem}");
            }
            tracing::error!(
                generation = current,
                "reload failed: keeping configuration generation {current}"
            );
            return false;
        }
    };
    // Bind the listeners that appear first: a redirect to one bound to port 0
    // must name its real port, and a port that cannot be bound fails the
    // reload before anything changes.
    let mut plan = plan;
    let bound = if manage_listeners {
        let have = |key: &ListenKey| accepting.loops.contains_key(key);
        match bind_new(&plan, &have, false) {
            Ok(bound) => bound,
            Err((key, e)) => {
                tracing::error!(
                    "cannot listen on {}: {e}; keeping configuration generation {current}",
                    key.addr
                );
                return false;
            }
        }
    } else {
        Vec::new()
    };
    let ports = accepting.ports.clone();
    plan.fix_redirect_ports(|key| {
        ports.get(key).copied().or_else(|| {
            bound
                .iter()
                .find(|b| b.key == *key)
                .and_then(|b| b.socket.local_addr().ok())
                .map(|a| a.port())
        })
    });
    let building = live.clone();
    let built = tokio::task::spawn_blocking(move || {
        let generation = Generation::build(&plan, next, building.parts());
        (plan, generation)
    })
    .await;
    let (plan, generation) = match built {
        Ok((plan, Ok(generation))) => (plan, generation),
        Ok((_, Err(problems))) => {
            for problem in &problems.0 {
                tracing::error!("{problem}");
            }
            tracing::error!("reload failed: keeping configuration generation {current}");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed: keeping configuration generation {current}");
            return false;
        }
    };
    let wanted: Vec<ListenKey> = plan.listeners().into_iter().map(|(k, _)| k).collect();
    if manage_listeners {
        live.swap(generation);
        for b in bound {
            let key = b.key;
            match accepting.start(b) {
                Ok(()) => tracing::info!("listening on {key}"),
                Err(e) => tracing::error!("cannot listen on {key}: {e}"),
            }
        }
        let gone: Vec<ListenKey> = accepting
            .loops
            .keys()
            .filter(|k| !wanted.contains(k))
            .copied()
            .collect();
        for key in gone {
            accepting.stop(&key);
            tracing::info!("stopped listening on {key}");
        }
    } else {
        let same = wanted.len() == accepting.loops.len()
            && wanted.iter().all(|k| accepting.loops.contains_key(k));
        live.swap(generation);
        if !same {
            tracing::warn!("listeners changed: with one runtime per core they change on restart");
        }
    }
    // Before the line that says so, so a scrape after it sees the outcome.
    live.parts().metrics.set_last_reload_ok(true);
    tracing::info!(
        generation = next,
        "configuration reloaded: generation {next} active"
    );
    let following = live.clone();
    let _ = tokio::task::spawn_blocking(move || following.current().sites().refresh_roots()).await;
    true
}

/// Follows every site's root to where its path leads, every [`ROOT_REFRESH`].
async fn follow_roots(live: Arc<Live>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(ROOT_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = tick.tick() => {}
        }
        let live = live.clone();
        let _ = tokio::task::spawn_blocking(move || live.current().sites().refresh_roots()).await;
    }
}
