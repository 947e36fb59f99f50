//! Many sites in one server: which site a request is for, and what the site
//! answers before its files. The server asks [`Sites::route`] for every
//! request, with what it knows of the connection ([`Arrival`]):
//!
//! 1. the site: a site's own listener serves that site alone; otherwise the
//!    request's host picks it ([`hosts`]: exact names, then `*.` wildcards,
//!    then the default site). A malformed host is 400; a host that names no
//!    site, with no default, is 421 (RFC 9110 §15.5.20);
//! 2. on TLS, the site must have a certificate and be the site the handshake
//!    chose by SNI ([`Sites::tls_site`]): otherwise 421, so that one site's
//!    certificate can never front for another site;
//! 3. on a plain connection, a site with TLS answers 308 to its https URL
//!    (unless told not to);
//! 4. the site's routes and modifiers ([`pipeline`]), then its files
//!    ([`root::FollowedRoot`]: 503 while its folder is gone).
//!
//! Each status a site decides is chosen in one place, [`Refusal::status`].
//!
//! What a site or a route may add to that, each a value checked and built
//! once from the configuration and asked per request: [`access`] (allow and
//! deny lists of client addresses), [`cors`] (preflights and the CORS fields
//! of responses) and [`headers`] (fields to remove, set and add, and the
//! security preset).

pub mod access;
pub mod auth;
pub mod cors;
pub mod forwarded;
pub mod headers;
pub mod hosts;
pub mod pipeline;
pub mod root;
pub mod route;
pub mod share;

use std::path::PathBuf;

use http::{HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::handler::{self, ErrorPages, Shared, StartError};
use hosts::{HostError, HostTable, Pick};
use pipeline::Modifiers;
use root::{FollowedRoot, Refresh};
use route::{Route as SiteRoute, RouteError, Routes};

/// What the configuration says of one site.
#[derive(Debug, Clone)]
pub struct SiteSpec {
    /// Exact names and `*.` wildcards, as configured.
    pub hosts: Vec<String>,
    /// Whether requests naming no site come here.
    pub default: bool,
    /// The folder, as configured (followed as it changes).
    pub root: PathBuf,
    /// How its files are served.
    pub handler: handler::Options,
    /// Whether it has a certificate (is served on TLS listeners).
    pub tls: bool,
    /// `Strict-Transport-Security: max-age=N` on its TLS responses.
    pub hsts: Option<u64>,
    /// The https port to redirect plain requests to; `None` serves them.
    pub https_redirect: Option<u16>,
    /// Its routes, in the order they are tried.
    pub routes: Vec<SiteRoute<Modifiers>>,
    /// The modifiers of every request the routes do not override.
    pub modifiers: Modifiers,
    /// Whether every listener that serves it is a loopback address (an
    /// upload site without auth must be, and then checks `Host`).
    pub loopback_only: bool,
}

/// A site being served.
#[derive(Debug)]
pub struct Site {
    name: String,
    /// The folder and its handler.
    pub root: FollowedRoot,
    tls: bool,
    hsts: Option<HeaderValue>,
    https_redirect: Option<u16>,
    /// Shared with the archives of its folders, which consult them per entry.
    routes: std::sync::Arc<Routes<Modifiers>>,
    modifiers: Modifiers,
    /// Changes without auth, on loopback listeners only: `Host` is checked.
    open_share: bool,
}

impl Site {
    /// Its first name, or `default` for a site without names (for logs).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it has a certificate.
    pub fn has_tls(&self) -> bool {
        self.tls
    }

    /// Whether it takes changes without auth (on loopback listeners only).
    pub fn open_share(&self) -> bool {
        self.open_share
    }

    /// Its HSTS field, for TLS responses.
    pub fn hsts(&self) -> Option<&HeaderValue> {
        self.hsts.as_ref()
    }
}

/// How a request reached the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival<'a> {
    /// Over TLS.
    pub tls: bool,
    /// The SNI name of the TLS handshake.
    pub sni: Option<&'a str>,
    /// The site whose own listener took the connection.
    pub own: Option<usize>,
}

/// What to do with a request.
#[derive(Debug)]
pub enum Route<'a> {
    /// Serve it from this site's files.
    Serve(&'a Site),
    /// 308 to the same URL over https on this port.
    Redirect(u16),
    /// Refuse it.
    Refuse(Refusal),
}

/// A request a site will not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The host is not a host name.
    BadHost,
    /// No site here serves that host on this connection.
    Misdirected,
    /// The site's folder is gone.
    Gone,
    /// The client's address is refused by the access rules.
    Denied,
    /// Credentials are missing or wrong.
    Unauthenticated,
    /// Too many failed attempts from this address lately.
    TooManyFailures,
    /// A change (upload, new folder, delete) from another site, or by a
    /// host name that is not loopback on an open server.
    CrossSite,
}

impl Refusal {
    /// THE status of each refusal.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::BadHost => StatusCode::BAD_REQUEST,
            Refusal::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            Refusal::Gone => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Denied => StatusCode::FORBIDDEN,
            Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refusal::TooManyFailures => StatusCode::TOO_MANY_REQUESTS,
            Refusal::CrossSite => StatusCode::FORBIDDEN,
        }
    }
}

/// Why the sites could not be built.
#[derive(Debug)]
pub enum SiteError {
    /// A host name problem, in the site at this index.
    Hosts(usize, HostError),
    /// A root or error page that cannot be used, in the site at this index.
    Start(usize, StartError),
    /// Routes that cannot be compiled, in the site at this index.
    Routes(usize, RouteError),
}

impl std::fmt::Display for SiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteError::Hosts(i, e) => write!(f, "site[{i}].hosts: {e}"),
            SiteError::Start(i, e) => write!(f, "site[{i}]: {e}"),
            SiteError::Routes(i, e) => write!(f, "site[{i}].route: {e}"),
        }
    }
}

impl std::error::Error for SiteError {}

/// Every site of a configuration, with the host table.
#[derive(Debug)]
pub struct Sites {
    table: HostTable,
    sites: Vec<Site>,
    /// The certificate for a handshake whose SNI names no TLS site.
    tls_fallback: Option<usize>,
    pages: ErrorPages,
}

impl Sites {
    /// Opens every site's root (sharing `shared`'s caches).
    pub fn new(specs: Vec<SiteSpec>, shared: &Shared) -> Result<Sites, SiteError> {
        let mut table = HostTable::new();
        let mut sites = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            table
                .add(i, &spec.hosts, spec.default)
                .map_err(|e| SiteError::Hosts(i, e))?;
            let root = FollowedRoot::open(&spec.root, spec.handler, shared)
                .map_err(|e| SiteError::Start(i, e))?;
            let hsts = spec
                .hsts
                .and_then(|s| HeaderValue::from_str(&format!("max-age={s}")).ok());
            let routes = Routes::new(spec.routes).map_err(|e| SiteError::Routes(i, e))?;
            sites.push(Site {
                name: spec
                    .hosts
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "default".into()),
                root,
                tls: spec.tls,
                hsts,
                https_redirect: spec.https_redirect,
                routes: routes.into(),
                open_share: spec.loopback_only && spec.modifiers.auth.is_none(),
                modifiers: spec.modifiers,
            });
        }
        let tls_fallback = table
            .default_site()
            .filter(|&d| sites.get(d).is_some_and(|s| s.tls))
            .or_else(|| sites.iter().position(|s| s.tls));
        Ok(Sites {
            table,
            sites,
            tls_fallback,
            pages: ErrorPages::builtin(),
        })
    }

    /// The sites, in configuration order.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The site whose certificate a TLS handshake with this SNI name gets:
    /// the site of that name when it has TLS, else the default site when it
    /// has, else the first site with TLS.
    pub fn tls_site(&self, sni: Option<&str>) -> Option<usize> {
        match self.table.pick(sni) {
            Pick::Site(i) if self.sites.get(i).is_some_and(|s| s.tls) => Some(i),
            _ => self.tls_fallback,
        }
    }

    /// The index of the site a request for `host` (asked only when the table
    /// has names) that arrived as `arrival` says is for, without the checks of
    /// [`Sites::route`]: for counting its response under that site.
    pub fn site_of<'h>(
        &self,
        host: impl FnOnce() -> Option<&'h str>,
        arrival: &Arrival<'_>,
    ) -> Option<usize> {
        match arrival.own {
            Some(own) => Some(own),
            None if !self.table.has_names() => self.table.default_site(),
            None => match self.table.pick(host()) {
                Pick::Site(i) => Some(i),
                Pick::Unknown | Pick::Malformed => None,
            },
        }
    }

    /// What to do with a request for `host` (asked only when the table has
    /// names) that arrived as `arrival` says (the steps of the module doc).
    pub fn route<'h>(
        &self,
        host: impl FnOnce() -> Option<&'h str>,
        arrival: &Arrival<'_>,
    ) -> Route<'_> {
        let index = match arrival.own {
            Some(own) => own,
            // Without names the host decides nothing: not even looked up.
            None if !self.table.has_names() => match self.table.default_site() {
                Some(default) => default,
                None => return Route::Refuse(Refusal::Misdirected),
            },
            None => match self.table.pick(host()) {
                Pick::Site(i) => i,
                Pick::Unknown => return Route::Refuse(Refusal::Misdirected),
                Pick::Malformed => return Route::Refuse(Refusal::BadHost),
            },
        };
        let Some(site) = self.sites.get(index) else {
            return Route::Refuse(Refusal::Misdirected);
        };
        if arrival.tls {
            let chosen = match arrival.own {
                Some(own) => Some(own),
                None => self.tls_site(arrival.sni),
            };
            if !site.tls || chosen != Some(index) {
                return Route::Refuse(Refusal::Misdirected);
            }
        } else if let (true, Some(port)) = (site.tls, site.https_redirect) {
            return Route::Redirect(port);
        }
        Route::Serve(site)
    }

    /// The roots (as configured) of the sites served in development mode:
    /// the folders whose changes reload open pages.
    pub fn dev_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self
            .sites
            .iter()
            .filter(|s| s.root.dev())
            .map(|s| s.root.path().to_path_buf())
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// The default site, if any.
    pub fn default_site(&self) -> Option<usize> {
        self.table.default_site()
    }

    /// A built-in page for `status` (an error no site's pages answer).
    pub fn status_response(&self, status: StatusCode) -> Response<Body> {
        self.pages.response(status)
    }

    /// The page for a refusal (the built-in pages: a refused request belongs
    /// to no site).
    pub fn refusal_response(&self, refusal: Refusal) -> Response<Body> {
        self.pages.response(refusal.status())
    }

    /// Follows every site's root to where its path leads now, logging what
    /// changed. Blocking: call it off the runtime's threads.
    pub fn refresh_roots(&self) {
        for site in &self.sites {
            match site.root.refresh() {
                Refresh::Unchanged | Refresh::StillGone => {}
                Refresh::Followed => tracing::info!(
                    site = site.name(),
                    root = %site.root.path().display(),
                    "root now leads to another folder: serving it"
                ),
                Refresh::Vanished(why) => tracing::error!(
                    site = site.name(),
                    root = %site.root.path().display(),
                    %why,
                    "root is gone: answering 503 until it is back"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &std::path::Path, hosts: &[&str], default: bool, tls: bool) -> SiteSpec {
        SiteSpec {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            default,
            root: dir.to_path_buf(),
            handler: handler::Options::default(),
            tls,
            hsts: None,
            https_redirect: tls.then_some(443),
            routes: Vec::new(),
            modifiers: Modifiers::default(),
            loopback_only: false,
        }
    }

    fn index(route: Route<'_>, sites: &Sites) -> Result<usize, String> {
        match route {
            Route::Serve(site) => Ok(sites
                .sites()
                .iter()
                .position(|s| std::ptr::eq(s, site))
                .unwrap_or(99)),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn routes_by_host_connection_and_sni() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new(Default::default(), Default::default());
        let sites = Sites::new(
            vec![
                spec(dir.path(), &["a.test"], true, false),
                spec(dir.path(), &["b.test", "*.b.test"], false, true),
                spec(dir.path(), &["c.test"], false, true),
            ],
            &shared,
        )
        .unwrap();
        let plain = Arrival::default();
        assert_eq!(index(sites.route(|| Some("a.test"), &plain), &sites), Ok(0));
        assert_eq!(
            index(sites.route(|| Some("zzz.test"), &plain), &sites),
            Ok(0)
        );
        assert!(matches!(
            sites.route(|| Some("x.b.test"), &plain),
            Route::Redirect(443)
        ));
        assert!(matches!(
            sites.route(|| Some("bad host"), &plain),
            Route::Refuse(Refusal::BadHost)
        ));
        let tls_b = Arrival {
            tls: true,
            sni: Some("b.test"),
            own: None,
        };
        assert_eq!(index(sites.route(|| Some("B.TEST"), &tls_b), &sites), Ok(1));
        assert_eq!(
            index(sites.route(|| Some("x.b.test"), &tls_b), &sites),
            Ok(1)
        );
        // Another site's host on this handshake, or a site without TLS: 421.
        for host in ["c.test", "a.test", "zzz.test"] {
            assert!(
                matches!(
                    sites.route(|| Some(host), &tls_b),
                    Route::Refuse(Refusal::Misdirected)
                ),
                "{host}"
            );
        }
        // Without SNI the handshake got the first TLS site's certificate.
        assert_eq!(sites.tls_site(None), Some(1));
        assert_eq!(sites.tls_site(Some("c.test")), Some(2));
        assert_eq!(sites.tls_site(Some("a.test")), Some(1));
        // A site's own listener serves it whatever the host.
        let own = Arrival {
            tls: false,
            sni: None,
            own: Some(0),
        };
        assert_eq!(index(sites.route(|| Some("c.test"), &own), &sites), Ok(0));
        assert_eq!(
            Refusal::Misdirected.status(),
            StatusCode::MISDIRECTED_REQUEST
        );
    }

    #[test]
    fn without_a_default_an_unknown_host_is_misdirected() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new(Default::default(), Default::default());
        let sites = Sites::new(vec![spec(dir.path(), &["a.test"], false, false)], &shared).unwrap();
        assert!(matches!(
            sites.route(|| Some("b.test"), &Arrival::default()),
            Route::Refuse(Refusal::Misdirected)
        ));
        assert!(matches!(
            sites.route(|| None, &Arrival::default()),
            Route::Refuse(Refusal::Misdirected)
        ));
    }
}
