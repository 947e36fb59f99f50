//! The configuration file (TOML): one `[server]` table for the process and any
//! number of `[[site]]` tables (virtual hosts), each with any number of
//! `[[site.route]]` tables. This module only reads the file: it checks syntax,
//! keys, types and values that can be judged from the text alone, and reports
//! *every* problem with its line and column. What needs the filesystem or the
//! other sources (command line > environment > file > defaults) is the
//! caller's; it can report at the right line through [`ServerKeys::location`],
//! [`SiteKeys::location`] and [`Problem::at`]. One exception: `auth.users_file`
//! is read here, because its users are part of the `auth` value and are
//! checked with it.
//!
//! Every key is optional. Values use exactly the syntax of the command line
//! (the parsers of [`super::raw`]): durations as `"10s"`, `"500ms"`, `"365d"` or
//! a number of seconds; sizes as `"32KiB"`, `"8MiB"` or a number of bytes.
//! Relative paths are resolved against the folder of the file. Lists of one
//! item may be written as that item (`listen = "0.0.0.0:80"`). Enum values
//! accept `-` and `_` alike (`per-core`, `per_core`).
//!
//! ```toml
//! [server]
//! listen = ["0.0.0.0:80", "[::]:80"]       # plain HTTP listeners
//! listen_tls = ["0.0.0.0:443"]             # TLS listeners (HTTP/1.1 and h2 by ALPN)
//! max_connections = 10000
//! shutdown_timeout = "10s"
//! admin = "127.0.0.1:9090"                 # health and metrics; loopback or private
//! drain_delay = "5s"                       # serving, unready, before the listeners close
//! header_timeout = "10s"
//! idle_timeout = "60s"
//! send_timeout = "30s"
//! tls_handshake_timeout = "10s"
//! max_header_size = "32KiB"                # 1KiB to 1MiB
//! max_headers = 100                        # 1 to 256
//! max_body_size = "1MiB"
//! max_requests_per_connection = 1000       # 0: no cap
//! h2_max_streams = 128                     # 1 to 10000
//! server_header = true
//! log_format = "combined"                  # combined | common | json | vhost_combined
//! access_log = true                        # false: none; "/var/log/ferrox/access.log": a file
//! error_log = "/var/log/ferrox/error.log"  # diagnostics (default: stderr)
//! log_level = "info"                       # or a tracing filter
//! runtime = "work-stealing"                # or "per-core"
//! workers = 2                              # serving threads, 1 to 1024 (default: one per core)
//! compress_cache_size = "64MiB"
//! file_cache_valid = "1s"                 # how long the open-file cache trusts an entry; 0: always check
//! dev = false                              # development: no-cache, live reload (as --dev)
//!
//! [server.acme]                            # for sites with tls = "acme"
//! email = "ops@example.com"                # the CA's contact for this account
//! directory = "https://acme-v02.api.letsencrypt.org/directory"   # the default
//! staging = false                          # true: Let's Encrypt's staging CA
//! ca_root = "pebble.pem"                   # trust this root for the directory (test CAs)
//! first_retry = "1m"                       # after a failure; doubles, up to a day
//!
//! [[site]]
//! hosts = ["example.com", "*.example.com"] # exact names or one leading "*." label; IPs too
//! root = "/srv/example"
//! default = true                           # for requests whose Host names no site
//! listen = ["0.0.0.0:8080"]                # listeners of its own (plain)
//! listen_tls = ["0.0.0.0:8443"]            # listeners of its own (TLS)
//! index = ["index.html"]
//! listing = false
//! hidden = false
//! archive = true                           # DIR/?download=zip|tar.gz (as --archive)
//! upload = false                           # PUT /dir/name, POST /dir/ multipart (needs auth
//!                                          # unless every listener is loopback)
//! overwrite = false                        # an upload may replace a file (else 409)
//! mkdir = false                            # MKCOL /dir/new/ (needs auth)
//! delete = false                           # DELETE a file or an empty folder (needs auth)
//! upload_max_size = "1GiB"                 # largest uploaded file
//! error_pages = "/srv/errors"
//! cache_control = "public, max-age=60"
//! cache_rules = { "/assets/**" = "public, max-age=31536000, immutable" }   # in order
//! cache_defaults = true
//! etag = "metadata"                        # or "content"
//! max_ranges = 16                          # 1 to 1000
//! precompressed = true
//! compress = true
//! compress_min_size = "1KiB"
//! compress_max_size = "8MiB"
//! tls = { cert = "certs/example.pem", key = "certs/example.key" }  # or { self_signed = true }
//!                                          # or "acme", { acme = true, challenge = "http-01" }
//! hsts = "365d"                            # a duration or a number of seconds
//! https_redirect = true                    # plain requests to a tls site get 308 to https
//! # Modifiers: for every request, unless a route sets the same key.
//! headers = { set = { "X-Frame-Options" = "DENY" }, add = { Link = "</app.css>; rel=preload" }, remove = ["X-Powered-By"] }
//! security_headers = true                  # the preset, under `headers` (HSTS only with tls)
//! cors = { origins = ["https://app.example.com"], methods = ["PUT"], headers = ["X-Token"],
//!          expose = ["ETag"], credentials = false, max_age = "1h" }   # origins = "*" for any
//! auth = { realm = "staff", users = { alice = "$argon2id$v=19$..." }, users_file = "htpasswd",
//!          max_failures = 10, window = "1m" }
//! allow = ["10.0.0.0/8", "::1"]            # addresses and CIDR blocks
//! deny = ["10.9.0.0/16"]
//!
//! [[site.route]]                           # tried in file order; the first match wins
//! path = "/old/**"                         # a glob of the normalised path
//! methods = ["GET"]                        # GET brings HEAD; none: every method
//! redirect = { to = "https://example.com/new/{1}", status = 308 }   # 301 302 303 307 308
//!
//! [[site.route]]
//! path = "/app/**"
//! spa = true                               # or rewrite = "/index.html",
//!                                          # try_files = ["{path}", "{path}.html", "=404"],
//!                                          # respond = { status = 410, body = "Gone" }
//! security_headers = false                 # any modifier key: replaces the site's
//! ```
//!
//! Command-line flag → key: `ROOT` → `site.root`; `--listen` → `server.listen`
//! (`server.listen_tls` for HTTPS); `--port P` → `server.listen =
//! ["127.0.0.1:P"]`; `--no-server-header` → `server.server_header = false`;
//! `--quiet` → `server.access_log = false`; `--no-listing` → `site.listing =
//! false`; `--no-cache-defaults` → `site.cache_defaults = false`; `--cache-rule
//! P=V` → `site.cache_rules = { "P" = "V" }`; `--tls-cert`/`--tls-key` →
//! `site.tls.cert`/`site.tls.key` (one pair a site, SNI picks the site);
//! `--tls-self-signed` → `site.tls.self_signed = true`; `--redirect-http A` →
//! `server.listen = ["A"]` with a tls site (`https_redirect` defaults to true);
//! `--hsts SECONDS` → `site.hsts`; `--no-precompressed`, `--no-compress` →
//! `site.precompressed`, `site.compress = false`; `--auth-file PATH` →
//! `site.auth = { users_file = "PATH" }` for each site without an `auth` of
//! its own; every other flag `--a-b` →
//! `a_b`, in `[server]` for process-wide ones and in `[[site]]` for how files
//! are served.
//!
//! Checks beyond one value: at most one site with `default = true`; a host in
//! one site only; a listener address once in the whole file; a site with `tls`
//! needs a `root`, and with several sites every site does; `hsts`,
//! `https_redirect = true` and `listen_tls` on a site need its `tls`;
//! `compress_min_size` not above `compress_max_size`. After the file is read
//! (the listeners are known then): a site with `upload = true` needs `auth`
//! unless every listener that serves it is a loopback address, and one with
//! `mkdir` or `delete` needs `auth` always; otherwise the file is refused, at
//! start and on reload, naming the key.
//!
//! Routes and modifiers: a route has a `path` (a glob starting with `/`) and
//! at most one action (`spa = false` is none); methods are tokens, case
//! included (`get` is refused with a suggestion); globs compile; a redirect's
//! status is a redirect's; templates use known placeholders, and `{N}` no
//! more than the glob has captures (`*` and `**`); rewritten and tried paths
//! start with `/` or `{path}`; nothing follows a `=CODE` in `try_files`; a
//! 204, 205 or 304 answer has no body; at most
//! [`MAX_ROUTES`](crate::site::route::MAX_ROUTES) routes a site. Every header
//! rule, CORS entry, address block and user hash is checked by the library's
//! constructor alone, so each bad one is reported at its own key; then the
//! whole value (a wildcard with `credentials = true` is refused at
//! `credentials`); `auth` needs users, each once across `users` and
//! `users_file`.

mod acme;
mod host;
mod problem;
mod route;
mod site;
mod walk;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderValue;

use super::raw::{EtagArg, ForwardedHeaderArg, RuntimeArg};
use super::TlsChoice;
use crate::handler::cache_control::Rule;
use crate::site::access::AccessRules;
use crate::site::auth::Auth;
use crate::site::cors::Cors;
use crate::site::headers::HeaderRules;
use crate::site::pipeline::Modifiers;
use crate::site::route::Route;

pub use acme::AcmeKeys;
pub(crate) use problem::closest;
pub use problem::{Location, Problem};

/// A configuration file, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// The file, as given.
    pub path: PathBuf,
    /// `[server]`: process-wide keys.
    pub server: ServerKeys,
    /// Every `[[site]]`, in file order.
    pub sites: Vec<SiteKeys>,
}

/// Where each key was set, by its path inside its table: `root`, `tls.cert`,
/// `listen[2]`, `hosts[0]`, `cache_rules."/assets/**"`.
type Locations = BTreeMap<String, Location>;

/// The `[server]` table. `None`: not in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerKeys {
    /// Plain HTTP listeners.
    pub listen: Option<Vec<SocketAddr>>,
    /// TLS listeners (HTTP/1.1 and h2 by ALPN).
    pub listen_tls: Option<Vec<SocketAddr>>,
    /// Connections open at once (1 or more).
    pub max_connections: Option<u32>,
    /// Time in-flight responses get after SIGINT or SIGTERM.
    pub shutdown_timeout: Option<Duration>,
    /// Deadline for a whole request head (more than zero).
    pub header_timeout: Option<Duration>,
    /// Time a kept-alive connection may wait for its next request (more than zero).
    pub idle_timeout: Option<Duration>,
    /// Time one write may wait for a client (more than zero).
    pub send_timeout: Option<Duration>,
    /// Deadline for a TLS handshake (more than zero).
    pub tls_handshake_timeout: Option<Duration>,
    /// Largest request head, 1KiB to 1MiB.
    pub max_header_size: Option<usize>,
    /// Most header fields in a request, 1 to 256.
    pub max_headers: Option<u16>,
    /// Largest request body read and discarded.
    pub max_body_size: Option<u64>,
    /// Requests on one connection before it is closed (0: no cap).
    pub max_requests_per_connection: Option<u32>,
    /// HTTP/2 streams open at once on one connection, 1 to 10000.
    pub h2_max_streams: Option<u32>,
    /// Send `Server: ferrox`.
    pub server_header: Option<bool>,
    /// Access-log format.
    pub log_format: Option<LogFormatKey>,
    /// Write the access log (false: `--quiet`).
    pub access_log: Option<bool>,
    /// `access_log = "PATH"`: the access log's file.
    pub access_log_file: Option<PathBuf>,
    /// Diagnostics' file.
    pub error_log: Option<PathBuf>,
    /// Diagnostics filter for stderr (checked as a tracing filter).
    pub log_level: Option<String>,
    /// Concurrency model.
    pub runtime: Option<RuntimeArg>,
    /// Threads that serve connections (default: one per core).
    pub workers: Option<u16>,
    /// Memory for compressed responses kept for repeat requests (0: none).
    pub compress_cache_size: Option<u64>,
    /// The folder kept across restarts (relative to the file's folder).
    pub state_dir: Option<PathBuf>,
    /// Every connection starts with a PROXY protocol header.
    pub proxy_protocol: Option<bool>,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Option<Vec<String>>,
    /// The header trusted proxies write the client into.
    pub forwarded_header: Option<ForwardedHeaderArg>,
    /// How long the open-file cache trusts an entry (0: checked every request).
    pub file_cache_valid: Option<Duration>,
    /// Development mode: `no-cache` everywhere, live reload of HTML pages.
    pub dev: Option<bool>,
    /// The admin listener (health and metrics).
    pub admin: Option<SocketAddr>,
    /// Time a stop keeps serving, unready, before the listeners close.
    pub drain_delay: Option<Duration>,
    /// `[server.acme]`: the ACME CA and account.
    pub acme: Option<AcmeKeys>,
    /// The user to become once the ports are bound, when started as root.
    pub user: Option<String>,
    /// Serve as root on a network address.
    pub run_as_root: Option<bool>,
    locations: Locations,
}

impl ServerKeys {
    /// Where `key` (`"listen"`, `"listen[1]"`, `"max_connections"`) was set.
    pub fn location(&self, key: &str) -> Option<Location> {
        self.locations.get(key).copied()
    }

    /// Every key set, with where, in key order.
    pub fn locations(&self) -> impl Iterator<Item = (&str, Location)> {
        self.locations.iter().map(|(k, l)| (k.as_str(), *l))
    }
}

/// One `[[site]]` table. `None`: not in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteKeys {
    /// Where the `[[site]]` header (or the inline table) starts.
    pub header: Location,
    /// Host names, lower-cased: `example.com`, `*.example.com` (one label),
    /// `192.0.2.1`, `[2001:db8::1]` (IPv6 always in brackets, as in `Host`).
    pub hosts: Option<Vec<String>>,
    /// The folder served, resolved against the folder of the file.
    pub root: Option<PathBuf>,
    /// Gets requests whose Host names no site.
    pub default: Option<bool>,
    /// Plain listeners of its own.
    pub listen: Option<Vec<SocketAddr>>,
    /// TLS listeners of its own.
    pub listen_tls: Option<Vec<SocketAddr>>,
    /// Index file names, each a plain file name.
    pub index: Option<Vec<String>>,
    /// List folders without an index file.
    pub listing: Option<bool>,
    /// Serve and list dotfiles.
    pub hidden: Option<bool>,
    /// Folders downloadable as zip or tar.gz archives.
    pub archive: Option<bool>,
    /// Accept uploads (PUT, multipart POST).
    pub upload: Option<bool>,
    /// Let an upload replace an existing file.
    pub overwrite: Option<bool>,
    /// Accept MKCOL (new folders).
    pub mkdir: Option<bool>,
    /// Accept DELETE of files and empty folders.
    pub delete: Option<bool>,
    /// Largest uploaded file, in bytes.
    pub upload_max_size: Option<u64>,
    /// Folder of error pages named by status, resolved.
    pub error_pages: Option<PathBuf>,
    /// Cache-Control for files no rule or default covers.
    pub cache_control: Option<HeaderValue>,
    /// Cache-Control by pattern, in file order (the first match wins).
    pub cache_rules: Option<Vec<CacheRuleKey>>,
    /// Immutable for fingerprinted names, no-cache for HTML.
    pub cache_defaults: Option<bool>,
    /// How ETags are made.
    pub etag: Option<EtagArg>,
    /// Ranges honoured in one request, 1 to 1000.
    pub max_ranges: Option<u16>,
    /// Serve FILE.br, FILE.zst, FILE.gz in place of FILE.
    pub precompressed: Option<bool>,
    /// Compress responses on the fly.
    pub compress: Option<bool>,
    /// Smallest file compressed on the fly.
    pub compress_min_size: Option<u64>,
    /// Largest file compressed on the fly.
    pub compress_max_size: Option<u64>,
    /// Certificate and key files (resolved; one pair), or self-signed.
    pub tls: Option<TlsChoice>,
    /// Strict-Transport-Security max-age, in seconds.
    pub hsts: Option<u64>,
    /// Answer plain requests with 308 to https (for a site with tls).
    pub https_redirect: Option<bool>,
    /// `headers`, `security_headers`, `cors`, `auth`, `allow`, `deny`: for
    /// every request no route overrides them for.
    pub modifiers: ModifierKeys,
    /// `[[site.route]]`, in file order (the first match wins); each with the
    /// modifier keys it sets itself ([`ModifierKeys::route_modifiers`]).
    pub routes: Option<Vec<Route<ModifierKeys>>>,
    locations: Locations,
}

impl SiteKeys {
    /// Where `key` was set: `"root"`, `"tls"`, `"tls.cert"`, `"hosts[0]"`,
    /// `"cache_rules.\"/assets/**\""`. The `[[site]]` header is [`SiteKeys::header`].
    pub fn location(&self, key: &str) -> Option<Location> {
        self.locations.get(key).copied()
    }

    /// Every key set, with where, in key order.
    pub fn locations(&self) -> impl Iterator<Item = (&str, Location)> {
        self.locations.iter().map(|(k, l)| (k.as_str(), *l))
    }
}

/// The modifier keys of a site or of one route, each checked and built as
/// far as the text allows: `security_headers` stays a flag, because the
/// preset depends on whether the site has tls, which the command line may
/// decide; `allow` and `deny` stay lists (each entry checked), because a
/// route may set one and keep the site's other. `None`: not set.
#[derive(Debug, Clone, Default)]
pub struct ModifierKeys {
    /// `headers`: fields to set, add and remove.
    pub headers: Option<HeaderRules>,
    /// `security_headers`: the preset, under `headers`.
    pub security_headers: Option<bool>,
    /// `cors`: the CORS policy.
    pub cors: Option<Cors>,
    /// `auth`: basic authentication, with the users of `users_file`.
    pub auth: Option<Auth>,
    /// `allow`: addresses and CIDR blocks, as written.
    pub allow: Option<Vec<String>>,
    /// `deny`: addresses and CIDR blocks, as written.
    pub deny: Option<Vec<String>>,
}

impl ModifierKeys {
    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        *self == ModifierKeys::default()
    }

    /// The site's modifiers, for a site with tls or without.
    pub fn site_modifiers(&self, tls: bool) -> Result<Modifiers, String> {
        self.over(&ModifierKeys::default(), tls)
    }

    /// A route's modifiers (these keys are the route's), key by key over the
    /// site's: `headers` and `security_headers` make the route's headers
    /// with the site's value of the key the route does not set, and so do
    /// `allow` and `deny` for its access rules. Each field is `Some` only
    /// when the route sets one of its keys, so that it replaces the site's.
    pub fn route_modifiers(&self, site: &ModifierKeys, tls: bool) -> Result<Modifiers, String> {
        let all = self.over(site, tls)?;
        let sets_headers = self.headers.is_some() || self.security_headers.is_some();
        let sets_access = self.allow.is_some() || self.deny.is_some();
        Ok(Modifiers {
            headers: sets_headers.then(|| all.headers.unwrap_or_default()),
            cors: self.cors.clone(),
            auth: self.auth.clone(),
            access: sets_access.then(|| all.access.unwrap_or_default()),
        })
    }

    /// These keys, and `under`'s where these are not set.
    fn over(&self, under: &ModifierKeys, tls: bool) -> Result<Modifiers, String> {
        let own = self.headers.as_ref().or(under.headers.as_ref());
        let security = self.security_headers.or(under.security_headers) == Some(true);
        let headers = match (security, own) {
            (true, Some(own)) => Some(HeaderRules::security(tls).merged(own)),
            (true, None) => Some(HeaderRules::security(tls)),
            (false, own) => own.cloned(),
        };
        let allow = self.allow.as_ref().or(under.allow.as_ref());
        let deny = self.deny.as_ref().or(under.deny.as_ref());
        let access = match (allow, deny) {
            (None, None) => None,
            (allow, deny) => Some(AccessRules::new(
                allow.map_or(&[], Vec::as_slice),
                deny.map_or(&[], Vec::as_slice),
            )?),
        };
        Ok(Modifiers {
            headers,
            cors: self.cors.clone().or_else(|| under.cors.clone()),
            auth: self.auth.clone().or_else(|| under.auth.clone()),
            access,
        })
    }
}

/// Compared as configured: the built values have no equality of their own,
/// and print what they were built from (an auth its realm, user names and
/// limits, never a hash).
impl PartialEq for ModifierKeys {
    fn eq(&self, other: &Self) -> bool {
        fn printed<T: std::fmt::Debug>(value: &Option<T>) -> Option<String> {
            value.as_ref().map(|v| format!("{v:?}"))
        }
        printed(&self.headers) == printed(&other.headers)
            && self.security_headers == other.security_headers
            && printed(&self.cors) == printed(&other.cors)
            && printed(&self.auth) == printed(&other.auth)
            && self.allow == other.allow
            && self.deny == other.deny
    }
}

impl Eq for ModifierKeys {}

/// `log_format` values: the command line's, plus `vhost_combined`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormatKey {
    /// NCSA combined.
    Combined,
    /// NCSA common.
    Common,
    /// One JSON object a line.
    Json,
    /// Combined with the site's host name first (Apache's `vhost_combined`).
    VhostCombined,
}

/// One `cache_rules` entry: `"PATTERN" = "VALUE"`.
#[derive(Debug, Clone)]
pub struct CacheRuleKey {
    /// The pattern, as written.
    pub pattern: String,
    /// The Cache-Control value, as written.
    pub value: String,
    /// The rule, built by [`Rule::parse`] exactly as `--cache-rule PATTERN=VALUE`.
    pub rule: Rule,
}

impl PartialEq for CacheRuleKey {
    fn eq(&self, other: &Self) -> bool {
        // The rule is a function of the two strings.
        self.pattern == other.pattern && self.value == other.value
    }
}

impl Eq for CacheRuleKey {}

/// Reads and checks `text` as the file at `path` (used in messages, and to
/// resolve relative paths against its folder). Every problem found, in file
/// order; after a syntax error, only that one.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, Vec<Problem>> {
    walk::document(path, text)
}

/// Like [`parse`], but also returns what could be read when there are
/// problems (nothing after a syntax error; values with a problem left out),
/// so that checks needing the filesystem can still run on the rest.
pub fn parse_partial(path: &Path, text: &str) -> (Option<FileConfig>, Vec<Problem>) {
    walk::document_partial(path, text)
}

/// Reads the file at `path`, then [`parse`]s it. An unreadable file is one
/// problem at 1:1.
pub fn load(path: &Path) -> Result<FileConfig, Vec<Problem>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(vec![Problem::at(
            path,
            Location { line: 1, column: 1 },
            "",
            format!("cannot read the file: {e}"),
        )]),
    }
}
