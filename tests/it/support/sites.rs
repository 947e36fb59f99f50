//! Many sites in one process, over real sockets: a [`SiteServer`] serves a
//! [`Plan`] the way the binary does (`bind_new`, `Generation::build`, `Live`,
//! `run_sites` with a reloader) on a runtime thread of its own, and lets the
//! test reload it with another plan. Every listener of a test plan is on port
//! 0 of its own loopback address ([`local`]), so that no two `ListenKey`s are
//! equal; [`SiteServer::at`] gives the address each one really got.
//!
//! Also here: building plans ([`site`], [`SitePlanExt`]: TLS, listeners,
//! routes, modifiers, error pages), a test CA and certificates it signs, a
//! blocking TLS client for HTTP/1.1 through [`Raw`], and requests that name
//! their host.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrox::files::cache::CacheOptions;
use ferrox::handler::Shared;
use ferrox::log::{AccessLog, LogFormat};
use ferrox::server::reload::{self, Load, Reloader};
use ferrox::server::sites::{Generation, ListenKey, Live, LiveParts, Plan, SitePlan, SiteTls};
use ferrox::server::tls::CertFiles;
use ferrox::server::{ServerOptions, Shutdown};
use ferrox::site::pipeline::Modifiers;
use ferrox::site::route::Route;
use ferrox::site::SiteSpec;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tokio::sync::mpsc;

use super::tls::{provider, Cert};
use super::{Captured, Raw, Resp};

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

/// `127.0.0.N:0`: a listener of its own address, bound to a free port.
pub fn local(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 0))
}

/// A plain site named `hosts` serving `root`: not the default, no TLS, no
/// listener of its own.
pub fn site(hosts: &[&str], root: &Path) -> SitePlan {
    SitePlan {
        spec: SiteSpec {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            default: false,
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
    }
}

/// Readable changes to a [`site`].
pub trait SitePlanExt {
    /// The site for hosts that name no site.
    fn default_site(self) -> Self;
    /// Served on TLS listeners with this certificate (no redirect yet).
    fn with_tls(self, files: CertFiles) -> Self;
    /// Plain requests get 308 to the TLS listener of the plan (its real port:
    /// the harness fills it in, as the binary does for port 0).
    fn redirecting(self) -> Self;
    /// `Strict-Transport-Security: max-age=SECS` on its TLS responses.
    fn with_hsts(self, secs: u64) -> Self;
    /// A plain listener of its own.
    fn listening(self, addr: SocketAddr) -> Self;
    /// A TLS listener of its own.
    fn listening_tls(self, addr: SocketAddr) -> Self;
    /// These routes, tried in order (after any it has).
    fn with_routes(self, routes: Vec<Route<Modifiers>>) -> Self;
    /// These site-wide modifiers (replacing any it has).
    fn with_modifiers(self, modifiers: Modifiers) -> Self;
    /// Error pages from `DIR/<status>.html`.
    fn with_error_pages(self, dir: &Path) -> Self;
}

impl SitePlanExt for SitePlan {
    fn default_site(mut self) -> Self {
        self.spec.default = true;
        self
    }

    fn with_tls(mut self, files: CertFiles) -> Self {
        self.spec.tls = true;
        self.tls = Some(SiteTls::Files(vec![files]));
        self
    }

    fn redirecting(mut self) -> Self {
        self.spec.https_redirect = Some(0);
        self
    }

    fn with_hsts(mut self, secs: u64) -> Self {
        self.spec.hsts = Some(secs);
        self
    }

    fn listening(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    fn listening_tls(mut self, addr: SocketAddr) -> Self {
        self.listen_tls.push(addr);
        self
    }

    fn with_routes(mut self, routes: Vec<Route<Modifiers>>) -> Self {
        self.spec.routes.extend(routes);
        self
    }

    fn with_modifiers(mut self, modifiers: Modifiers) -> Self {
        self.spec.modifiers = modifiers;
        self
    }

    fn with_error_pages(mut self, dir: &Path) -> Self {
        self.spec.handler.error_pages = Some(dir.to_path_buf());
        self
    }
}

/// A site redirected to port 0 learns the real port of its own TLS listener,
/// else of the plan's first: what the binary's `fix_redirect_ports` does.
fn fix_redirect_ports(plan: &mut Plan, bound: &[(ListenKey, SocketAddr)]) {
    let real = |addr: SocketAddr| {
        bound
            .iter()
            .find(|(key, _)| key.tls && key.addr == addr)
            .map(|(_, real)| real.port())
    };
    let shared_tls = plan.listen_tls.first().copied();
    for site in &mut plan.sites {
        if site.spec.https_redirect == Some(0) {
            let from = site.listen_tls.first().copied().or(shared_tls);
            site.spec.https_redirect = from.and_then(real).or(site.spec.https_redirect);
        }
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

/// The line `run_sites` logs when a reload took.
const RELOADED: &str = "configuration reloaded: generation ";
/// In every line that ends a reload that failed.
const KEPT: &str = "keeping configuration generation";

/// A site server on its own runtime thread. Dropping it shuts it down, and
/// fails the test if the server logged an ERROR it was not told to expect.
pub struct SiteServer {
    /// Each listener as planned, and the address it got.
    listeners: Vec<(ListenKey, SocketAddr)>,
    /// What the next reload loads.
    plan: Arc<Mutex<Plan>>,
    reloads: mpsc::UnboundedSender<()>,
    shutdown: Shutdown,
    thread: Option<JoinHandle<()>>,
    /// Tracing at INFO and above, one event a line.
    logs: Captured,
    access: Captured,
    allow_errors: bool,
}

impl SiteServer {
    /// Serves `plan`, access log in common format.
    pub fn start(plan: Plan) -> SiteServer {
        Self::start_logging(plan, LogFormat::Common)
    }

    /// Serves `plan`, access log in `format`.
    pub fn start_logging(plan: Plan, format: LogFormat) -> SiteServer {
        Self::start_with(plan, format, CacheOptions::default())
    }

    /// Serves `plan` with an open-file cache of these options.
    pub fn start_with(plan: Plan, format: LogFormat, file_cache: CacheOptions) -> SiteServer {
        Self::start_with_all(plan, format, file_cache, ServerOptions::default())
    }

    /// Serves `plan` with these server options, access log in `format`.
    pub fn start_with_options(plan: Plan, format: LogFormat, options: ServerOptions) -> SiteServer {
        Self::start_with_all(plan, format, CacheOptions::default(), options)
    }

    /// Serves `plan` with these caches and server options.
    pub fn start_with_all(
        mut plan: Plan,
        format: LogFormat,
        file_cache: CacheOptions,
        options: ServerOptions,
    ) -> SiteServer {
        let bound = reload::bind_new(&plan, &|_| false, false)
            .unwrap_or_else(|(key, e)| panic!("cannot bind {key}: {e}"));
        let listeners: Vec<(ListenKey, SocketAddr)> = bound
            .iter()
            .map(|b| (b.key, b.socket.local_addr().unwrap()))
            .collect();
        fix_redirect_ports(&mut plan, &listeners);
        let parts = LiveParts::new(Shared::new(file_cache, Default::default()));
        let first = Generation::build(&plan, 1, &parts)
            .unwrap_or_else(|e| panic!("the first generation does not build:\n{e}"));
        let live = Arc::new(Live::new(first, parts));

        let plan = Arc::new(Mutex::new(plan));
        let load: Load = {
            let plan = plan.clone();
            Box::new(move || Ok(plan.lock().unwrap().clone()))
        };
        let (reloads, requests) = mpsc::unbounded_channel();
        let shutdown = Shutdown::new();
        let logs = Captured::default();
        let access = Captured::default();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::INFO)
                .with_ansi(false)
                .without_time()
                .with_writer({
                    let logs = logs.clone();
                    move || logs.clone()
                })
                .finish(),
        );
        let log = AccessLog::to_writer(access.clone(), format, 1024).unwrap();
        let thread = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || {
                let _guard = tracing::dispatcher::set_default(&dispatch);
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .on_thread_start(move || {
                        // Every runtime thread, blocking ones too, reports here.
                        std::mem::forget(tracing::dispatcher::set_default(&dispatch));
                    })
                    .build()
                    .unwrap();
                runtime
                    .block_on(reload::run_sites(
                        live,
                        bound,
                        options,
                        log,
                        shutdown,
                        Some(Reloader {
                            requests,
                            load,
                            notify: Default::default(),
                            listening: Default::default(),
                        }),
                        true,
                    ))
                    .expect("run_sites failed");
            })
        };
        SiteServer {
            listeners,
            plan,
            reloads,
            shutdown,
            thread: Some(thread),
            logs,
            access,
            allow_errors: false,
        }
    }

    /// The address the listener planned at `planned` got.
    #[track_caller]
    pub fn at(&self, planned: SocketAddr) -> SocketAddr {
        let found: Vec<SocketAddr> = self
            .listeners
            .iter()
            .filter(|(key, _)| key.addr == planned)
            .map(|(_, real)| *real)
            .collect();
        match found[..] {
            [real] => real,
            _ => panic!("{planned} is not one listener of the plan: {found:?}"),
        }
    }

    /// Reloads with `plan` (its redirect ports filled in as at start) and
    /// waits for the outcome: the new generation's number, or the ERROR lines
    /// the failure logged. Listeners the reload adds are not reachable through
    /// [`SiteServer::at`].
    pub fn reload(&self, mut plan: Plan) -> Result<u64, String> {
        fix_redirect_ports(&mut plan, &self.listeners);
        let before = self.logs.text().lines().count();
        *self.plan.lock().unwrap() = plan;
        self.reloads.send(()).expect("the server is gone");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.logs.text();
            let new: Vec<&str> = text.lines().skip(before).collect();
            if let Some(line) = new.iter().find(|l| l.contains(RELOADED)) {
                let (_, rest) = line.split_once(RELOADED).unwrap();
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                return Ok(digits.parse().unwrap());
            }
            if new.iter().any(|l| l.contains(KEPT)) {
                let errors: Vec<&str> = new.into_iter().filter(|l| is_error(l)).collect();
                return Err(errors.join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "no outcome of the reload within 10 s; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The first log line (INFO and above) containing `what`, waiting up to
    /// 10 s for it.
    #[track_caller]
    pub fn wait_log(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.logs.text();
            if let Some(line) = text.lines().find(|l| l.contains(what)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {what:?} within 10 s; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Triggers the shutdown and waits for the server to stop, failing the
    /// test if that takes longer than `bound`; how long it took.
    #[track_caller]
    pub fn stop_within(&mut self, bound: Duration) -> Duration {
        let started = Instant::now();
        self.shutdown.trigger();
        while !self.thread.as_ref().is_none_or(JoinHandle::is_finished) {
            assert!(
                started.elapsed() < bound,
                "the server did not stop within {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        started.elapsed()
    }

    /// ERROR lines logged are part of this test: not a failure at drop.
    pub fn allow_errors(&mut self) {
        self.allow_errors = true;
    }

    /// Every ERROR line logged so far.
    pub fn errors(&self) -> String {
        let text = self.logs.text();
        let errors: Vec<&str> = text.lines().filter(|l| is_error(l)).collect();
        errors.join("\n")
    }

    /// The access log, once it has `lines` lines (or after 5 s).
    pub fn access_log(&self, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.access.text();
            if text.lines().count() >= lines || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn is_error(line: &str) -> bool {
    line.trim_start().starts_with("ERROR")
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        let joined = self.thread.take().map(JoinHandle::join);
        if std::thread::panicking() {
            return;
        }
        if let Some(Err(e)) = joined {
            std::panic::resume_unwind(e);
        }
        let errors = self.errors();
        if !self.allow_errors && !errors.is_empty() {
            panic!("the server logged unexpected errors:\n{errors}");
        }
    }
}

// ---------------------------------------------------------------------------
// Certificates signed by a test CA, and a client that verifies them
// ---------------------------------------------------------------------------

/// A certificate authority for the tests.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ferrox test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    /// A leaf certificate for `names`, signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Cert {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0].clone());
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Cert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client trusting this CA alone, checking names, offering `alpn`.
    pub fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert.der().to_vec()))
            .unwrap();
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// HTTP/1.1 over a blocking TLS connection.
pub type TlsRaw = Raw<StreamOwned<ClientConnection, TcpStream>>;

/// A finished TLS handshake with `addr` as `name` (an IP address: no SNI),
/// ready for HTTP/1.1; and the leaf certificate the server presented.
#[track_caller]
pub fn tls_raw(addr: SocketAddr, name: &str, config: Arc<ClientConfig>) -> (TlsRaw, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let mut conn = ClientConnection::new(config, server_name).unwrap();
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            panic!("TLS handshake with {addr} as {name:?}: {e}");
        }
    }
    let leaf = conn.peer_certificates().expect("no certificate")[0].to_vec();
    (Raw::over(StreamOwned::new(conn, tcp)), leaf)
}

// ---------------------------------------------------------------------------
// Requests that name their host
// ---------------------------------------------------------------------------

/// `GET target` with `Host: host` on a kept-alive connection.
#[track_caller]
pub fn get<S: Read + Write>(c: &mut Raw<S>, host: &str, target: &str) -> Resp {
    c.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    c.response()
}

/// `GET target` with `Host: host` on a new plain connection.
#[track_caller]
pub fn get_once(addr: SocketAddr, host: &str, target: &str) -> Resp {
    get(&mut Raw::connect(addr), host, target)
}

/// A response as (status, body), for tables of cases.
pub fn outcome(r: &Resp) -> (u16, Vec<u8>) {
    (r.status, r.body.clone())
}

/// Runs a future on a runtime of its own (the HTTP/2 clients are async).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
