//! Serving many sites: the live configuration and what one connection sees of
//! it.
//!
//! A [`Generation`] is everything a configuration serves: the sites (their
//! roots open, their caches shared), their certificates, and which listener
//! belongs to which site. [`Live`] holds the current one; a reload builds a
//! whole new generation and swaps it in at once, so a request sees one
//! generation from start to end: requests in flight finish on the one they
//! started with, and the next request, even on a kept-alive connection, gets
//! the new one. Certificates are chosen per handshake from the live
//! generation ([`SiteCerts`]).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use http::{header, Request, Response, StatusCode};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::acme::{self, Acme, Challenge, Managed};
use super::conn::{ConnFacts, Connect};
use super::redirect::RedirectToHttps;
use super::self_signed;
use super::tls::{self, CertFiles, TlsError};
use crate::body::{Body, RequestBody};
use crate::handler::upload::Change;
use crate::handler::{Handler, Shared};
use crate::metrics::{self, Metrics, Requests};
use crate::proto::{self, BodyPolicy, Exchange, Service};
use crate::response::Reply;
use crate::site::pipeline::Answer;
use crate::site::{Arrival, Refusal, Route, Site, SiteError, SiteSpec, Sites};

/// Where a site's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteTls {
    /// Certificate chains and keys (several: SNI picks among them).
    Files(Vec<CertFiles>),
    /// One generated for `localhost` at start-up, for development.
    SelfSigned,
    /// From the ACME CA, for the site's hosts, proved by this challenge.
    Acme(Challenge),
}

/// One site as the server is to serve it.
#[derive(Debug, Clone)]
pub struct SitePlan {
    /// Names, root, file options, redirect.
    pub spec: SiteSpec,
    /// Its certificate, if it serves TLS.
    pub tls: Option<SiteTls>,
    /// Plain listeners of its own.
    pub listen: Vec<SocketAddr>,
    /// TLS listeners of its own.
    pub listen_tls: Vec<SocketAddr>,
}

/// Every site and listener of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The sites, in configuration order.
    pub sites: Vec<SitePlan>,
    /// Plain listeners serving every site.
    pub listen: Vec<SocketAddr>,
    /// TLS listeners serving every site with a certificate.
    pub listen_tls: Vec<SocketAddr>,
}

/// A listener as the configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenKey {
    /// The address as configured.
    pub addr: SocketAddr,
    /// Whether it speaks TLS.
    pub tls: bool,
}

impl fmt::Display for ListenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}/", self.addr)
    }
}

impl Plan {
    /// Points each redirect at the port its TLS listener is really bound to,
    /// where the configuration asked for port 0 (`real` gives it by listener).
    pub fn fix_redirect_ports(&mut self, real: impl Fn(&ListenKey) -> Option<u16>) {
        let shared_tls = self.listen_tls.first().copied();
        for site in &mut self.sites {
            if site.spec.https_redirect != Some(0) {
                continue;
            }
            let from = site.listen_tls.first().copied().or(shared_tls);
            if let Some(port) = from.and_then(|addr| real(&ListenKey { addr, tls: true })) {
                site.spec.https_redirect = Some(port);
            }
        }
    }

    /// Every listener, each once, with the site it belongs to (`None`: all).
    pub fn listeners(&self) -> Vec<(ListenKey, Option<usize>)> {
        let mut out = Vec::new();
        let mut add = |addr: SocketAddr, tls: bool, site: Option<usize>| {
            let key = ListenKey { addr, tls };
            if !out.iter().any(|(k, _): &(ListenKey, _)| *k == key) {
                out.push((key, site));
            }
        };
        for &addr in &self.listen {
            add(addr, false, None);
        }
        for &addr in &self.listen_tls {
            add(addr, true, None);
        }
        for (i, site) in self.sites.iter().enumerate() {
            for &addr in &site.listen {
                add(addr, false, Some(i));
            }
            for &addr in &site.listen_tls {
                add(addr, true, Some(i));
            }
        }
        out
    }
}

/// Why a generation could not be built: every problem found.
#[derive(Debug)]
pub struct BuildError(pub Vec<String>);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for BuildError {}

/// Where a site's handshakes find their certificate.
#[derive(Debug)]
enum SiteKeys {
    /// Loaded when the generation was built; SNI picks among them.
    Fixed(Vec<Arc<CertifiedKey>>),
    /// Whatever the ACME renewal task installed last.
    Acme(Arc<Managed>),
}

/// Everything one configuration serves.
#[derive(Debug)]
pub struct Generation {
    number: u64,
    sites: Sites,
    /// Each site's certificates, by site index.
    certs: Vec<SiteKeys>,
    /// The listeners that belong to one site.
    own: HashMap<ListenKey, usize>,
    listeners: Vec<(ListenKey, Option<usize>)>,
    /// Each site's request counters, by site index (kept across reloads by
    /// label in [`Metrics`]).
    counters: Vec<Arc<Requests>>,
    /// Responses no site answered.
    unrouted: Arc<Requests>,
    /// Each site's label (for a certificate that names nothing).
    labels: Vec<String>,
}

impl Generation {
    /// Opens every root and loads every certificate of `plan`; any problem
    /// (all of them are reported) leaves nothing built.
    pub fn build(plan: &Plan, number: u64, live: &LiveParts) -> Result<Generation, BuildError> {
        let mut problems = Vec::new();
        let mut certs = Vec::with_capacity(plan.sites.len());
        for (i, site) in plan.sites.iter().enumerate() {
            let loaded = match &site.tls {
                None => Ok(Vec::new()),
                Some(SiteTls::Files(files)) => files
                    .iter()
                    .map(tls::load_pair)
                    .collect::<Result<Vec<_>, TlsError>>(),
                Some(SiteTls::SelfSigned) => live.self_signed().map(|k| vec![k]),
                Some(SiteTls::Acme(challenge)) => {
                    match live.acme_site(&site.spec.hosts, *challenge) {
                        Ok(managed) => {
                            certs.push(SiteKeys::Acme(managed));
                            continue;
                        }
                        Err(e) => {
                            problems.push(format!("site[{i}].tls: {e}"));
                            certs.push(SiteKeys::Fixed(Vec::new()));
                            continue;
                        }
                    }
                }
            };
            match loaded {
                Ok(keys) => certs.push(SiteKeys::Fixed(keys)),
                Err(e) => {
                    problems.push(format!("site[{i}].tls: {e}"));
                    certs.push(SiteKeys::Fixed(Vec::new()));
                }
            }
        }
        let specs = plan.sites.iter().map(|s| s.spec.clone()).collect();
        let sites = match Sites::new(specs, &live.shared) {
            Ok(sites) => Some(sites),
            Err(e) => {
                problems.push(site_problem(&e));
                None
            }
        };
        let (Some(sites), true) = (sites, problems.is_empty()) else {
            return Err(BuildError(problems));
        };
        let listeners = plan.listeners();
        let own = listeners
            .iter()
            .filter_map(|(key, site)| site.map(|s| (*key, s)))
            .collect();
        let labels = site_labels(&sites);
        let counters = labels.iter().map(|l| live.metrics.site(l)).collect();
        Ok(Generation {
            number,
            sites,
            certs,
            own,
            listeners,
            counters,
            unrouted: live.metrics.unrouted.clone(),
            labels,
        })
    }

    /// Each certificate's name (its first DNS name, else its common name, else
    /// its site's label) and expiry time in Unix seconds, each name once. Read
    /// when asked (a scrape): ACME certificates change under a generation.
    pub fn certificate_expiry(&self) -> Vec<(String, i64)> {
        let keys: Vec<Vec<Arc<CertifiedKey>>> = self
            .certs
            .iter()
            .map(|site| match site {
                SiteKeys::Fixed(keys) => keys.clone(),
                SiteKeys::Acme(managed) => managed.installed().into_iter().collect(),
            })
            .collect();
        cert_expiry(&keys, &self.labels)
    }

    /// Its number: 1 for the configuration the server started with, one more
    /// for each reload that took.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The sites.
    pub fn sites(&self) -> &Sites {
        &self.sites
    }

    /// The listeners it needs.
    pub fn listeners(&self) -> &[(ListenKey, Option<usize>)] {
        &self.listeners
    }

    /// The certificates of its ACME sites.
    pub fn acme_certificates(&self) -> Vec<Arc<Managed>> {
        self.certs
            .iter()
            .filter_map(|keys| match keys {
                SiteKeys::Acme(managed) => Some(managed.clone()),
                SiteKeys::Fixed(_) => None,
            })
            .collect()
    }

    fn arrival<'a>(&self, facts: &'a ConnFacts) -> Arrival<'a> {
        let own = if self.own.is_empty() {
            None
        } else {
            self.own
                .get(&ListenKey {
                    addr: facts.endpoint.key,
                    tls: facts.tls,
                })
                .copied()
        };
        Arrival {
            tls: facts.tls,
            sni: facts.sni.as_deref(),
            own,
        }
    }
}

fn site_problem(e: &SiteError) -> String {
    e.to_string()
}

/// The `site` label of each site: its first host name, or `default`; a
/// label taken already gets the site's index (`site2`).
fn site_labels(sites: &Sites) -> Vec<String> {
    let mut labels: Vec<String> = Vec::with_capacity(sites.sites().len());
    for (i, site) in sites.sites().iter().enumerate() {
        let name = site.name();
        let label = if labels.iter().any(|l| l == name) {
            format!("site{i}")
        } else {
            name.to_string()
        };
        labels.push(label);
    }
    labels
}

/// See [`Generation::certificate_expiry`].
fn cert_expiry(certs: &[Vec<Arc<CertifiedKey>>], labels: &[String]) -> Vec<(String, i64)> {
    use x509_parser::extensions::GeneralName;
    let mut out: Vec<(String, i64)> = Vec::new();
    for (keys, label) in certs.iter().zip(labels) {
        for key in keys {
            let Some(leaf) = key.cert.first() else {
                continue;
            };
            let Ok((_, parsed)) = x509_parser::parse_x509_certificate(leaf) else {
                continue;
            };
            let dns = parsed
                .subject_alternative_name()
                .ok()
                .flatten()
                .and_then(|san| {
                    san.value.general_names.iter().find_map(|n| match n {
                        GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                });
            let cn = || {
                parsed
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(str::to_string)
            };
            let name = dns.or_else(cn).unwrap_or_else(|| label.clone());
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, parsed.validity().not_after.timestamp()));
            }
        }
    }
    out
}

/// What the generations of one server share: the caches, and the self-signed
/// certificate (made once, so a reload does not change it under a browser's
/// exception).
#[derive(Debug)]
pub struct LiveParts {
    /// The caches every site's handler uses.
    pub shared: Shared,
    /// Requests, connections and reloads counted (the caches count their own).
    pub metrics: Arc<Metrics>,
    self_signed: Mutex<Option<Arc<CertifiedKey>>>,
    state_dir: Option<PathBuf>,
    acme: Option<Arc<Acme>>,
}

impl LiveParts {
    /// Parts with these caches.
    pub fn new(shared: Shared) -> LiveParts {
        LiveParts {
            shared,
            metrics: Arc::default(),
            self_signed: Mutex::new(None),
            state_dir: None,
            acme: None,
        }
    }

    /// Gets the certificates of sites with `tls = "acme"` from `acme`.
    pub fn with_acme(self, acme: Arc<Acme>) -> LiveParts {
        LiveParts {
            acme: Some(acme),
            ..self
        }
    }

    /// The ACME side, when the server has one.
    pub fn acme(&self) -> Option<&Arc<Acme>> {
        self.acme.as_ref()
    }

    /// The managed certificate of an ACME site with `hosts`.
    fn acme_site(&self, hosts: &[String], challenge: Challenge) -> Result<Arc<Managed>, String> {
        let acme = self
            .acme
            .as_ref()
            .ok_or_else(|| "ACME is not available in this server".to_string())?;
        acme.managed(hosts, challenge)
    }

    /// Keeps the self-signed certificate under `dir` across restarts.
    pub fn with_state_dir(self, dir: Option<PathBuf>) -> LiveParts {
        LiveParts {
            state_dir: dir,
            ..self
        }
    }

    fn self_signed(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let mut slot = self.self_signed.lock().map_err(|_| TlsError {
            flag: "--tls-self-signed",
            path: Default::default(),
            message: "poisoned".into(),
        })?;
        if let Some(key) = &*slot {
            return Ok(key.clone());
        }
        let now = std::time::SystemTime::now();
        let cert =
            self_signed::obtain(self.state_dir.as_deref(), now).map_err(|message| TlsError {
                flag: "--tls-self-signed",
                path: self.state_dir.clone().unwrap_or_default(),
                message,
            })?;
        let kept = match (&cert.file, cert.made) {
            (Some(file), true) => format!("made and kept in {}", file.display()),
            (Some(file), false) => format!("kept in {}", file.display()),
            (None, _) => "in memory only: it changes at every start".to_string(),
        };
        eprintln!(
            "ferrox: self-signed certificate for localhost, 127.0.0.1 and ::1, valid until {}, \
             {kept}\nferrox:   SHA-256 {} (to trust it: README, \"Trusting the development certificate\")",
            self_signed::date(cert.not_after),
            cert.fingerprint
        );
        *slot = Some(cert.key.clone());
        Ok(cert.key)
    }
}

/// The current generation, swapped whole on reload.
#[derive(Debug)]
pub struct Live {
    current: ArcSwap<Generation>,
    parts: LiveParts,
}

impl Live {
    /// Serving `first`.
    pub fn new(first: Generation, parts: LiveParts) -> Live {
        Live {
            current: ArcSwap::from_pointee(first),
            parts,
        }
    }

    /// The generation new requests get.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// What generations share.
    pub fn parts(&self) -> &LiveParts {
        &self.parts
    }

    /// Makes `next` the generation of every new request.
    pub fn swap(&self, next: Generation) {
        self.current.store(Arc::new(next));
    }
}

impl Connect for Live {
    type Conn<'a> = SiteService<'a>;

    fn connect<'a>(&'a self, facts: ConnFacts) -> SiteService<'a> {
        SiteService { live: self, facts }
    }
}

/// The sites as one connection sees them.
pub struct SiteService<'a> {
    live: &'a Live,
    facts: ConnFacts,
}

impl SiteService<'_> {
    /// The answer for `req` from generation `generation`, when it needs no
    /// waiting; `Err` with the site's root to ask `respond`.
    fn answer_now(&self, generation: &Generation, req: &Request<()>) -> Option<Reply> {
        let arrival = generation.arrival(&self.facts);
        match generation
            .sites
            .route(|| proto::request_host(req), &arrival)
        {
            Route::Serve(site) => site.root.with(|handler| match handler {
                None => Some(refusal(generation, Refusal::Gone).into()),
                // Development: the live-reload stream before the site's
                // routes (a catch-all route must not take it), and no-cache
                // on whatever the site answers.
                Some(handler) if handler.dev() => {
                    let mut reply = match handler.live_events(req) {
                        Some(events) => events.into(),
                        None => self.serve_now(site, handler, req)?,
                    };
                    handler.dev_finish(&mut reply);
                    Some(reply)
                }
                Some(handler) => self.serve_now(site, handler, req),
            }),
            Route::Redirect(port) => Some(redirect(port, req).into()),
            Route::Refuse(why) => Some(refusal(generation, why).into()),
        }
    }

    /// What `site` answers with `handler`, when that needs no waiting.
    fn serve_now(&self, site: &Site, handler: &Handler, req: &Request<()>) -> Option<Reply> {
        if handler.share().handles(req.method()) {
            return None;
        }
        if !site.has_pipeline() {
            if let Some(early) = method_policy(handler, req) {
                return Some(early.into());
            }
            return handler.respond_now(req);
        }
        let host = || proto::request_host(req);
        let (answer, taken) = site.answer_now(handler, req, &host, self.facts.client(req))?;
        let mut reply = match answer {
            Answer::Reply(reply) => reply,
            Answer::Files(request) => match method_policy(handler, &request) {
                Some(early) => early.into(),
                None => handler.respond_now(&request)?,
            },
        };
        site.finish(taken, req, &mut reply, self.facts.tls);
        Some(reply)
    }

    async fn answer(&self, req: &Request<()>) -> Response<Body> {
        let generation = self.live.current();
        let arrival = generation.arrival(&self.facts);
        match generation
            .sites
            .route(|| proto::request_host(req), &arrival)
        {
            Route::Serve(site) => match site.root.handler() {
                None => refusal(&generation, Refusal::Gone),
                Some(handler) if handler.dev() => {
                    let mut reply: Reply = match handler.live_events(req) {
                        Some(events) => events.into(),
                        None => self.serve(site, &handler, req).await.into(),
                    };
                    handler.dev_finish(&mut reply);
                    reply.into_response()
                }
                Some(handler) => self.serve(site, &handler, req).await,
            },
            Route::Redirect(port) => redirect(port, req),
            Route::Refuse(why) => refusal(&generation, why),
        }
    }

    /// What `site` answers with `handler`.
    async fn serve(&self, site: &Site, handler: &Handler, req: &Request<()>) -> Response<Body> {
        if handler.share().handles(req.method()) {
            return self.change(site, handler, req, None).await;
        }
        if !site.has_pipeline() {
            return match method_policy(handler, req) {
                Some(early) => early,
                None => handler.respond(req).await,
            };
        }
        let host = || proto::request_host(req);
        let (answer, taken) = site
            .answer(handler, req, &host, self.facts.client(req))
            .await;
        let mut reply = match answer {
            Answer::Reply(reply) => reply,
            Answer::Files(request) => match method_policy(handler, &request) {
                Some(early) => early.into(),
                None => handler.respond(&request).await.into(),
            },
        };
        site.finish(taken, req, &mut reply, self.facts.tls);
        reply.into_response()
    }
}

/// GET and HEAD go to the files; the rest is the engines' usual policy
/// (applied here, because a plain request for a TLS site is redirected
/// whatever its method), with the changes a sharing site allows in `Allow`.
fn method_policy(handler: &Handler, req: &Request<()>) -> Option<Response<Body>> {
    let mut response = proto::answer_method(&Pages(handler), req.method())?;
    if handler.share().any() && response.headers().contains_key(header::ALLOW) {
        response
            .headers_mut()
            .insert(header::ALLOW, handler.share().allow());
    }
    Some(response)
}

/// A handler's error pages as a protocol service, for the method policy.
struct Pages<'a>(&'a Handler);

impl Service for Pages<'_> {
    async fn call<'a>(&'a self, _: &'a Request<()>) -> Response<Body> {
        self.0.error_response(StatusCode::NOT_FOUND)
    }

    fn error_response(&self, status: StatusCode) -> Response<Body> {
        self.0.error_response(status)
    }
}

fn redirect(port: u16, req: &Request<()>) -> Response<Body> {
    RedirectToHttps { https_port: port }.redirect(req)
}

fn refusal(generation: &Generation, why: Refusal) -> Response<Body> {
    if why != Refusal::Gone {
        tracing::debug!(?why, "request refused");
    }
    generation.sites.refusal_response(why)
}

impl SiteService<'_> {
    /// A change (upload, new folder, delete): the site's gate, then the
    /// handler makes it.
    async fn change(
        &self,
        site: &Site,
        handler: &Handler,
        req: &Request<()>,
        body: Option<RequestBody<'_>>,
    ) -> Response<Body> {
        let client = self.facts.client(req);
        match site.gate_change(handler, req, client, self.facts.tls).await {
            Err(reply) => reply.into_response(),
            Ok(user) => {
                let who = Change {
                    client,
                    user: user.as_deref(),
                };
                handler.change(req, body, who).await
            }
        }
    }

    /// The answer to a request whose body the site reads.
    async fn answer_with_body(&self, req: &Request<()>, body: RequestBody<'_>) -> Response<Body> {
        let generation = self.live.current();
        let arrival = generation.arrival(&self.facts);
        match generation
            .sites
            .route(|| proto::request_host(req), &arrival)
        {
            Route::Serve(site) => match site.root.handler() {
                None => refusal(&generation, Refusal::Gone),
                Some(handler) => self.change(site, &handler, req, Some(body)).await,
            },
            Route::Redirect(port) => redirect(port, req),
            Route::Refuse(why) => refusal(&generation, why),
        }
    }
}

impl SiteService<'_> {
    /// The answer to an ACME HTTP-01 challenge in flight: before any site,
    /// route, auth, access or dotfile rule is asked.
    fn acme_answer(&self, req: &Request<()>) -> Option<Response<Body>> {
        self.live
            .parts
            .acme
            .as_ref()?
            .http01_answer(req.uri().path())
    }
}

impl Service for SiteService<'_> {
    async fn call<'a>(&'a self, req: &'a Request<()>) -> Response<Body> {
        if let Some(answer) = self.acme_answer(req) {
            return answer;
        }
        self.answer(req).await
    }

    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        if let Some(answer) = self.acme_answer(req) {
            return Some(answer.into());
        }
        let generation = self.live.current.load();
        self.answer_now(&generation, req)
    }

    fn error_response(&self, status: StatusCode) -> Response<Body> {
        // Before a request names its site: the default site's pages.
        let generation = self.live.current.load();
        let sites = generation.sites.sites();
        let default = generation.sites.default_site().and_then(|i| sites.get(i));
        match default.and_then(|site| site.root.handler()) {
            Some(handler) => handler.error_response(status),
            None => generation.sites.status_response(status),
        }
    }

    fn decorate(&self, reply: &mut Reply) {
        if !self.facts.tls {
            return;
        }
        // Every request on this connection is for the site its handshake
        // chose (others are 421), so that site's HSTS is every response's.
        let generation = self.live.current.load();
        let arrival = generation.arrival(&self.facts);
        let chosen = arrival
            .own
            .or_else(|| generation.sites.tls_site(arrival.sni));
        if let Some(hsts) = chosen
            .and_then(|i| generation.sites.sites().get(i))
            .and_then(|site| site.hsts())
        {
            reply.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }

    fn accepts_any_method(&self) -> bool {
        true
    }

    fn body_policy(&self, req: &Request<()>) -> BodyPolicy {
        let generation = self.live.current.load();
        let arrival = generation.arrival(&self.facts);
        match generation
            .sites
            .route(|| proto::request_host(req), &arrival)
        {
            Route::Serve(site) => site.root.with(|handler| {
                handler
                    .and_then(|h| h.share().body_limit(req.method()))
                    .map_or(BodyPolicy::Discard, |limit| BodyPolicy::Read { limit })
            }),
            Route::Redirect(_) | Route::Refuse(_) => BodyPolicy::Discard,
        }
    }

    async fn call_with_body<'a>(
        &'a self,
        req: &'a Request<()>,
        body: RequestBody<'a>,
    ) -> Response<Body> {
        self.answer_with_body(req, body).await
    }

    fn on_response(&self, exchange: &Exchange<'_>) {
        let generation = self.live.current.load();
        let (method, protocol, site) = match exchange.request {
            Some(req) => {
                let protocol = usize::from(req.version() == http::Version::HTTP_2);
                let arrival = generation.arrival(&self.facts);
                let site = generation
                    .sites
                    .site_of(|| proto::request_host(req), &arrival)
                    .and_then(|i| generation.counters.get(i));
                (metrics::method_index(req.method()), protocol, site)
            }
            // No request head: counted as HTTP/1 (h2 has one for every
            // response it sends) and method "other".
            None => (metrics::METHODS.len() - 1, 0, None),
        };
        site.unwrap_or(&generation.unrouted)
            .record(metrics::Response {
                method,
                class: metrics::class_index(exchange.status.as_u16()),
                protocol,
                bytes: exchange.body_bytes,
                duration: exchange.duration,
            });
    }
}

/// Picks a handshake's certificate from the live generation: on a site's own
/// listener that site's, else the site [`Sites::tls_site`] names; then among
/// that site's certificates the first valid for the SNI name (else its first).
#[derive(Debug)]
pub struct SiteCerts {
    /// The live generation.
    pub live: Arc<Live>,
    /// The listener this resolver serves.
    pub listener: ListenKey,
}

impl ResolvesServerCert for SiteCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name();
        if let Some(acme) = &self.live.parts.acme {
            // Only a CA's TLS-ALPN-01 validation offers acme-tls/1 (alone).
            if hello
                .alpn()
                .is_some_and(|mut alpn| alpn.any(|p| p == acme::ACME_TLS_ALPN))
            {
                return acme.alpn_certificate(sni);
            }
        }
        let generation = self.live.current.load();
        let site = match generation.own.get(&self.listener) {
            Some(&own) => own,
            None => generation.sites.tls_site(sni)?,
        };
        match generation.certs.get(site)? {
            SiteKeys::Fixed(keys) => tls::pick_for_name(keys, sni),
            SiteKeys::Acme(managed) => managed.certificate(),
        }
    }
}
