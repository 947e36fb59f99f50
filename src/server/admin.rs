//! The admin listener (`--admin ADDR`): health checks and metrics, in plain
//! HTTP/1.1 on an address of its own, never reachable through a site (and no
//! site path reaches it). Bind it to loopback or a private address: it tells
//! anyone who asks how busy the server is.
//!
//! - `GET /health/live`: 200 while the process runs.
//! - `GET /health/ready`: 200 while serving (through reloads), 503 before the
//!   listeners accept and from the moment a stop begins (the drain).
//! - `GET /metrics`: the Prometheus text format (0.0.4), made at scrape time
//!   from the server's atomic counters ([`crate::metrics`]) and the caches'
//!   own, by a `prometheus-client` collector: nothing on the request path
//!   takes a lock or looks up a label set.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{header, HeaderValue, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::sites::Live;
use super::{Listener, ServerOptions, Shutdown};
use crate::body::Body;
use crate::handler::Stats;
use crate::log::AccessLog;
use crate::metrics::{
    CacheFigures, Metrics, RequestsSnapshot, DURATION_BUCKETS, METHODS, PROTOCOLS, STATUS_CLASSES,
};
use crate::proto::{self, Service};
use crate::response::Reply;

/// How long a scrape in flight may finish once the server has stopped.
const ADMIN_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// The admin service: health and metrics of one server.
#[derive(Debug)]
pub struct Admin {
    shutdown: Shutdown,
    registry: Registry,
}

impl Admin {
    /// Reports on the server that serves `live` and stops with `shutdown`.
    pub fn new(live: Arc<Live>, shutdown: Shutdown) -> Admin {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Exporter { live }));
        Admin { shutdown, registry }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(8 << 10);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn answer(&self, req: &Request<()>) -> Response<Body> {
        match req.uri().path() {
            "/health/live" => text(StatusCode::OK, "live\n"),
            "/health/ready" if self.shutdown.is_ready() => text(StatusCode::OK, "ready\n"),
            "/health/ready" if self.shutdown.is_stopping() => {
                text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
            }
            "/health/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
            "/metrics" => match self.render() {
                Ok(body) => {
                    let mut r = text(StatusCode::OK, body);
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(
                            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                        ),
                    );
                    r
                }
                Err(_) => proto::plain_error(StatusCode::INTERNAL_SERVER_ERROR),
            },
            _ => proto::plain_error(StatusCode::NOT_FOUND),
        }
    }
}

/// A plain-text answer that no cache keeps.
fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

impl Service for Admin {
    async fn call<'a>(&'a self, req: &'a Request<()>) -> Response<Body> {
        self.answer(req)
    }

    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        Some(self.answer(req).into())
    }
}

/// The admin listener, running.
#[derive(Debug)]
pub struct Running {
    stop: Shutdown,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl Running {
    /// Stops it: scrapes in flight get a moment to finish.
    pub async fn stop(self) {
        self.stop.trigger();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "admin listener"),
            Err(error) => tracing::warn!(%error, "admin listener"),
        }
    }
}

/// Serves the admin listener on `socket` for the server of `live` and
/// `shutdown`, until [`Running::stop`]: past the server's own stop, so that
/// readiness reads 503 to the end. Must be called inside a tokio runtime.
pub fn spawn(socket: std::net::TcpListener, live: Arc<Live>, shutdown: Shutdown) -> Running {
    let stop = Shutdown::new();
    let options = ServerOptions {
        shutdown_timeout: ADMIN_SHUTDOWN_TIMEOUT,
        ..ServerOptions::default()
    };
    let service = Arc::new(Admin::new(live, shutdown));
    let task = tokio::spawn(super::run(
        vec![Listener::from(socket)],
        service,
        options,
        AccessLog::disabled(),
        stop.clone(),
    ));
    Running { stop, task }
}

/// Reads every figure at scrape time.
#[derive(Debug)]
struct Exporter {
    live: Arc<Live>,
}

/// Writes a counter without labels (the encoder adds `_total`).
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// Writes a gauge without labels.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

/// A count as a gauge's value.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for Exporter {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let parts = self.live.parts();
        let metrics = &parts.metrics;
        // The outcome before the generation: a reload swaps the generation
        // before it records success, so a scrape that sees the success sees
        // the generation it made.
        let reload_ok = metrics.last_reload_ok();
        let generation = self.live.current();
        let mut sites: Vec<(Arc<str>, RequestsSnapshot)> = metrics
            .sites()
            .into_iter()
            .map(|(label, counters)| (label, counters.snapshot()))
            .collect();
        sites.push((Arc::from("none"), metrics.unrouted.snapshot()));
        requests(&mut enc, &sites)?;
        durations(&mut enc, &sites)?;
        response_bytes(&mut enc, &sites)?;
        connections(&mut enc, metrics)?;
        counter(
            &mut enc,
            "ferrox_log_write_errors",
            "Failed writes to the access or error log file (each loses the lines it carried).",
            crate::log::file::write_errors(),
        )?;
        counter(
            &mut enc,
            "ferrox_tls_handshake_failures",
            "TLS handshakes that failed or timed out.",
            metrics.tls_handshake_failures.get(),
        )?;
        let stats = parts.shared.stats();
        caches(&mut enc, &stats)?;
        gauge(
            &mut enc,
            "ferrox_compressions_in_progress",
            "Responses being compressed on the fly right now.",
            signed(stats.compressing),
        )?;
        counter(
            &mut enc,
            "ferrox_compression_fallbacks",
            "Responses sent uncompressed because every compression slot was taken.",
            stats.compress_fallbacks,
        )?;
        gauge(
            &mut enc,
            "ferrox_config_generation",
            "The configuration generation serving: 1 at start, one more per reload that took.",
            signed(generation.number()),
        )?;
        gauge(
            &mut enc,
            "ferrox_config_last_reload_success",
            "1 when the last reload succeeded (or none was asked for), 0 when it failed.",
            i64::from(reload_ok),
        )?;
        let mut m = enc.encode_descriptor(
            "ferrox_certificate_expiry_timestamp_seconds",
            "When each loaded certificate expires (Unix time), by its first name.",
            None,
            MetricType::Gauge,
        )?;
        for (name, expiry) in generation.certificate_expiry() {
            m.encode_family(&[("name", name.as_str())])?
                .encode_gauge(&expiry)?;
        }
        Ok(())
    }
}

/// `ferrox_requests_total`: only the series that counted something (7
/// methods × 5 classes × 2 protocols per site would be mostly zeros).
fn requests(enc: &mut DescriptorEncoder, sites: &[(Arc<str>, RequestsSnapshot)]) -> fmt::Result {
    let mut m = enc.encode_descriptor(
        "ferrox_requests",
        "Responses sent, by site, method, status class and protocol.",
        None,
        MetricType::Counter,
    )?;
    for (site, snap) in sites {
        for (mi, method) in METHODS.iter().enumerate() {
            for (ci, class) in STATUS_CLASSES.iter().enumerate() {
                for (pi, protocol) in PROTOCOLS.iter().enumerate() {
                    let n = snap.requests(mi, ci, pi);
                    if n == 0 {
                        continue;
                    }
                    let labels = [
                        ("site", &**site),
                        ("method", method),
                        ("status_class", class),
                        ("protocol", protocol),
                    ];
                    m.encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
    }
    Ok(())
}

/// `ferrox_request_duration_seconds`, per site that answered anything.
fn durations(enc: &mut DescriptorEncoder, sites: &[(Arc<str>, RequestsSnapshot)]) -> fmt::Result {
    let mut m = enc.encode_descriptor(
        "ferrox_request_duration_seconds",
        "From the first byte of a request to the last byte of its response.",
        None,
        MetricType::Histogram,
    )?;
    for (site, snap) in sites {
        if snap.count() == 0 {
            continue;
        }
        // Per bucket, not cumulative: the encoder adds them up.
        let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .copied()
            .zip(snap.buckets.iter().copied())
            .collect();
        let seconds = Duration::from_nanos(snap.nanos).as_secs_f64();
        m.encode_family(&[("site", &**site)])?
            .encode_histogram::<NoLabelSet>(seconds, snap.count(), &buckets, None)?;
    }
    Ok(())
}

/// `ferrox_response_bytes_total`, per site that answered anything.
fn response_bytes(
    enc: &mut DescriptorEncoder,
    sites: &[(Arc<str>, RequestsSnapshot)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(
        "ferrox_response_bytes",
        "Response body bytes sent, by site.",
        None,
        MetricType::Counter,
    )?;
    for (site, snap) in sites {
        if snap.count() > 0 {
            m.encode_family(&[("site", &**site)])?
                .encode_counter::<NoLabelSet, _, u64>(&snap.bytes, None)?;
        }
    }
    Ok(())
}

/// `ferrox_connections_open{protocol}`.
fn connections(enc: &mut DescriptorEncoder, metrics: &Metrics) -> fmt::Result {
    let mut m = enc.encode_descriptor(
        "ferrox_connections_open",
        "Client connections open, by protocol.",
        None,
        MetricType::Gauge,
    )?;
    for (protocol, gauge) in PROTOCOLS.iter().zip(&metrics.connections) {
        m.encode_family(&[("protocol", *protocol)])?
            .encode_gauge(&gauge.get())?;
    }
    Ok(())
}

/// A family of the caches: name, help, type, and its figure.
type CacheFamily = (
    &'static str,
    &'static str,
    MetricType,
    fn(&CacheFigures) -> u64,
);

/// Hits, misses and bytes of the open-file, listing and compressed caches.
fn caches(enc: &mut DescriptorEncoder, stats: &Stats) -> fmt::Result {
    let caches: [(&str, CacheFigures); 3] = [
        ("files", stats.files),
        ("listings", stats.listings),
        ("compressed", stats.compressed),
    ];
    let families: [CacheFamily; 3] = [
        (
            "ferrox_cache_hits",
            "Lookups answered from a cache (files: the open-file cache).",
            MetricType::Counter,
            |f| f.hits,
        ),
        (
            "ferrox_cache_misses",
            "Lookups a cache could not answer.",
            MetricType::Counter,
            |f| f.misses,
        ),
        (
            "ferrox_cache_bytes",
            "Bytes a cache holds.",
            MetricType::Gauge,
            |f| f.bytes,
        ),
    ];
    for (name, help, kind, pick) in families {
        let mut m = enc.encode_descriptor(name, help, None, kind)?;
        for (cache, figures) in &caches {
            let labels = [("cache", *cache)];
            let mut family = m.encode_family(&labels)?;
            let value = pick(figures);
            match kind {
                MetricType::Counter => family.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
                _ => family.encode_gauge(&signed(value))?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sites::{Generation, LiveParts, Plan, SitePlan};

    fn live(root: &std::path::Path) -> Arc<Live> {
        let plan = Plan {
            sites: vec![SitePlan {
                spec: crate::site::SiteSpec {
                    hosts: Vec::new(),
                    default: true,
                    root: root.to_path_buf(),
                    handler: Default::default(),
                    tls: false,
                    hsts: None,
                    https_redirect: None,
                    routes: Vec::new(),
                    modifiers: Default::default(),
                    loopback_only: false,
                },
                tls: None,
                listen: Vec::new(),
                listen_tls: Vec::new(),
            }],
            listen: Vec::new(),
            listen_tls: Vec::new(),
        };
        let parts = LiveParts::new(crate::handler::Shared::new(
            Default::default(),
            Default::default(),
        ));
        let first = Generation::build(&plan, 1, &parts).unwrap();
        Arc::new(Live::new(first, parts))
    }

    fn status(admin: &Admin, path: &str) -> (u16, String) {
        let req = Request::get(path).body(()).unwrap();
        let r = admin.answer(&req);
        let body = match r.body() {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        (r.status().as_u16(), body)
    }

    /// Unready until the listeners accept, ready while serving, unready from
    /// the moment a stop begins; live throughout.
    #[test]
    fn readiness_follows_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let shutdown = Shutdown::new().with_drain_delay(Duration::from_secs(60));
        let admin = Admin::new(live(dir.path()), shutdown.clone());
        assert_eq!(status(&admin, "/health/ready"), (503, "starting\n".into()));
        assert_eq!(status(&admin, "/health/live").0, 200);
        shutdown.mark_serving();
        assert_eq!(status(&admin, "/health/ready"), (200, "ready\n".into()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            shutdown.begin_stop();
            assert!(!shutdown.is_triggered(), "the drain delay was skipped");
            assert_eq!(status(&admin, "/health/ready"), (503, "stopping\n".into()));
            assert_eq!(status(&admin, "/health/live").0, 200);
            // A second signal ends the drain at once.
            shutdown.force();
            tokio::time::timeout(Duration::from_secs(5), shutdown.triggered())
                .await
                .unwrap();
        });
        assert_eq!(status(&admin, "/nothing").0, 404);
    }
}
