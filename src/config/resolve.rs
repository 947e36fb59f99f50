//! The command line (and environment) and the configuration file → a
//! validated [`Config`].
//!
//! Without a file the command line describes one site that answers every host.
//! With one (`--config FILE`, `FERROX_CONFIG`), the file describes the sites and
//! the command line overrides it key by key: a flag given on the command line
//! or in the environment beats the file's key of the same name, for the server
//! and for every site; a flag left at its default does not. Errors on the
//! command line name the flag (exit status 2); problems in the file name the
//! file, line, column and key, all of them at once (exit status 1).

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::site::forwarded::{ForwardedHeader, TrustedProxies};

use clap::parser::ValueSource;
use clap::ArgMatches;

use super::file::{self, FileConfig, Location, LogFormatKey, Problem, ServerKeys, SiteKeys};
use super::raw::{is_plain_file_name, Args, EtagArg, ForwardedHeaderArg, LogFormatArg, RuntimeArg};
use super::{Config, TlsChoice};
use crate::files::cache::CacheOptions;
use crate::handler::compress::CompressOptions;
use crate::handler::{
    self,
    cache_control::{CachePolicy, Rule},
    EtagMode,
};
use crate::log::LogFormat;
use crate::proto::h1::{self, HeadLimits};
use crate::server::privileges::RunAs;
use crate::server::sites::{Plan, SitePlan, SiteTls};
use crate::server::tls::{self, CertFiles};
use crate::server::ServerOptions;
use crate::site::pipeline::Modifiers;
use crate::site::route::Route as SiteRoute;
use crate::site::SiteSpec;

/// The default address: loopback only, so a laptop never serves its folder to
/// the network by surprise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// The default address when serving HTTPS.
pub const DEFAULT_LISTEN_TLS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);

/// A command-line value that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The flag, e.g. `--error-pages`.
    pub key: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        message: message.into(),
    }
}

/// Why no configuration could be made.
#[derive(Debug)]
pub enum LoadError {
    /// A command-line value (exit status 2).
    Cli(ConfigError),
    /// Every problem in the configuration file (exit status 1).
    File(Vec<Problem>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Cli(e) => e.fmt(f),
            LoadError::File(problems) => {
                let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ConfigError> for LoadError {
    fn from(e: ConfigError) -> Self {
        LoadError::Cli(e)
    }
}

/// Which arguments were given (on the command line or in the environment),
/// rather than left at their defaults: those beat the file.
#[derive(Debug, Clone, Default)]
pub struct Explicit {
    all: bool,
    given: HashSet<String>,
}

impl Explicit {
    /// Every argument counts as given (no file to override).
    pub fn all() -> Explicit {
        Explicit {
            all: true,
            given: HashSet::new(),
        }
    }

    /// The arguments clap says came from the command line or the environment.
    pub fn from_matches(matches: &ArgMatches) -> Explicit {
        let given = matches
            .ids()
            .filter(|id| {
                matches!(
                    matches.value_source(id.as_str()),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })
            .map(|id| id.as_str().to_string())
            .collect();
        Explicit { all: false, given }
    }

    /// Whether the argument `id` (the field name in [`Args`]) was given.
    pub fn has(&self, id: &str) -> bool {
        self.all || self.given.contains(id)
    }
}

/// Checks the command line alone (every argument counts as given).
pub fn resolve(args: Args) -> Result<Config, ConfigError> {
    match load(&args, &Explicit::all()) {
        Ok(config) => Ok(config),
        Err(LoadError::Cli(e)) => Err(e),
        Err(LoadError::File(problems)) => Err(err(
            "--config",
            problems.first().map(Problem::to_string).unwrap_or_default(),
        )),
    }
}

/// The configuration the arguments and, with `--config`, the file describe.
pub fn load(args: &Args, explicit: &Explicit) -> Result<Config, LoadError> {
    let cli = CliSite::from_args(args)?;
    let mut server = server_options(args);
    let mut shared = SharedLimits::from_args(args);
    let mut access_log = (!args.quiet).then_some(log_format(args.log_format));
    let mut access_log_file = args.access_log.clone();
    let mut error_log = args.error_log.clone();
    let mut log_level = args.log_level.clone();
    let mut per_core = args.runtime == RuntimeArg::PerCore;
    let mut workers = args.workers;
    let env_state = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut state_dir = args
        .state_dir
        .clone()
        .or_else(|| default_state_dir(env_state("XDG_STATE_HOME"), env_state("HOME")));
    let drain = |admin: Option<std::net::SocketAddr>, delay: Option<std::time::Duration>| {
        delay.unwrap_or(match admin {
            Some(_) => DEFAULT_DRAIN_DELAY,
            None => std::time::Duration::ZERO,
        })
    };
    let mut acme = acme_plan::options(args, None);
    let Some(path) = &args.config else {
        let mut plan = cli_plan(args, &cli)?;
        check_share(&mut plan)?;
        let dev = DevChoice::of(args.dev, args.file_cache_valid);
        dev.apply(&mut plan, &mut shared.file_cache);
        return Ok(Config {
            admin: args.admin,
            drain_delay: drain(args.admin, args.drain_delay),
            plan,
            server,
            dev: dev.on,
            file_cache: shared.file_cache,
            compress: shared.compress,
            access_log,
            access_log_file,
            error_log,
            log_level,
            per_core,
            workers,
            file: None,
            state_dir,
            acme,
            run_as: RunAs {
                user: args.user.clone(),
                run_as_root: args.run_as_root,
            },
        });
    };
    // Every problem at once: those of the text, and those the filesystem shows
    // in what could be read.
    let text = std::fs::read_to_string(path).map_err(|e| {
        LoadError::File(vec![Problem::at(
            path,
            Location { line: 1, column: 1 },
            "",
            format!("cannot read the file: {e}"),
        )])
    })?;
    let (file, mut problems) = file::parse_partial(path, &text);
    let Some(file) = file else {
        return Err(LoadError::File(problems));
    };
    let plan = file_plan(args, explicit, &cli, &file);
    if let Err(more) = &plan {
        problems.extend(more.iter().cloned());
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.column));
        problems.dedup_by(|a, b| a.to_string() == b.to_string());
        return Err(LoadError::File(problems));
    }
    let mut plan = plan.map_err(LoadError::File)?;
    check_file_share(&mut plan, &file)?;
    let keys = &file.server;
    let given = |id: &str| explicit.has(id);
    let dev = DevChoice::of(
        match given("dev") {
            true => args.dev,
            false => keys.dev.unwrap_or(args.dev),
        },
        match given("file_cache_valid") {
            true => args.file_cache_valid,
            false => keys.file_cache_valid.or(args.file_cache_valid),
        },
    );
    dev.apply(&mut plan, &mut shared.file_cache);
    overlay_server(&mut server, keys, &given);
    if !given("compress_cache_size") {
        if let Some(size) = keys.compress_cache_size {
            shared.compress.cache_bytes = usize::try_from(size).unwrap_or(usize::MAX);
        }
    }
    let quiet = match (given("quiet"), keys.access_log) {
        (false, Some(on)) => !on,
        _ => args.quiet,
    };
    let format = match (given("log_format"), keys.log_format) {
        (false, Some(format)) => file_log_format(format),
        _ => log_format(args.log_format),
    };
    access_log = (!quiet).then_some(format);
    if let (false, Some(path)) = (given("access_log"), &keys.access_log_file) {
        access_log_file = Some(path.clone());
    }
    if let (false, Some(path)) = (given("error_log"), &keys.error_log) {
        error_log = Some(path.clone());
    }
    if !given("log_level") {
        if let Some(level) = &keys.log_level {
            log_level = level.clone();
        }
    }
    if !given("runtime") {
        if let Some(runtime) = keys.runtime {
            per_core = runtime == RuntimeArg::PerCore;
        }
    }
    if !given("workers") {
        workers = keys.workers.or(workers);
    }
    if let (false, Some(dir)) = (given("state_dir"), &keys.state_dir) {
        state_dir = Some(dir.clone());
    }
    let admin = match given("admin") {
        true => args.admin,
        false => keys.admin.or(args.admin),
    };
    let drain_delay = match given("drain_delay") {
        true => args.drain_delay,
        false => keys.drain_delay.or(args.drain_delay),
    };
    acme = acme_plan::options(args, keys.acme.as_ref());
    let run_as = RunAs {
        user: match given("user") {
            true => args.user.clone(),
            false => keys.user.clone().or_else(|| args.user.clone()),
        },
        run_as_root: match (given("run_as_root"), keys.run_as_root) {
            (false, Some(on)) => on,
            _ => args.run_as_root,
        },
    };
    Ok(Config {
        admin,
        drain_delay: drain(admin, drain_delay),
        plan,
        server,
        dev: dev.on,
        file_cache: shared.file_cache,
        compress: shared.compress,
        access_log,
        access_log_file,
        error_log,
        log_level,
        per_core,
        workers,
        file: Some(path.clone()),
        state_dir,
        acme,
        run_as,
    })
}

/// The drain delay with an admin listener, when none is given: a few of a
/// load balancer's health checks (HAProxy's default interval is 2 s) to see
/// the instance unready before its listeners close.
pub const DEFAULT_DRAIN_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// Where state goes when no `--state-dir` says: `$XDG_STATE_HOME/ferrox`,
/// else `~/.local/state/ferrox` (the XDG default, used on every system so
/// that one rule holds everywhere).
fn default_state_dir(
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    match (xdg_state_home, home) {
        (Some(state), _) if Path::new(&state).is_absolute() => {
            Some(Path::new(&state).join("ferrox"))
        }
        (_, Some(home)) if Path::new(&home).is_absolute() => {
            Some(Path::new(&home).join(".local/state/ferrox"))
        }
        _ => None,
    }
}

/// What the command line says of a site's files and certificates.
struct CliSite {
    handler: handler::Options,
    tls: Option<TlsChoice>,
    /// Basic auth from `--auth-file`.
    auth: Option<crate::site::auth::Auth>,
}

impl CliSite {
    fn from_args(args: &Args) -> Result<CliSite, ConfigError> {
        if args.compress_min_size > args.compress_max_size {
            return Err(err(
                "--compress-min-size",
                "is larger than --compress-max-size",
            ));
        }
        if let Some(bad) = args.index.iter().find(|i| !is_plain_file_name(i)) {
            return Err(err("--index", format!("'{bad}' must be a plain file name")));
        }
        let mut rules = Vec::with_capacity(args.cache_rules.len());
        for text in &args.cache_rules {
            rules.push(Rule::parse(text).map_err(|e| err("--cache-rule", e.to_string()))?);
        }
        let default_cache = match &args.cache_control {
            Some(value) => Some(
                CachePolicy::default_value(value)
                    .map_err(|e| err("--cache-control", e.to_string()))?,
            ),
            None => None,
        };
        if args.tls_cert.len() != args.tls_key.len() {
            let key = if args.tls_cert.len() > args.tls_key.len() {
                "--tls-key"
            } else {
                "--tls-cert"
            };
            return Err(err(
                key,
                format!(
                    "{} --tls-cert and {} --tls-key given: each certificate needs its key",
                    args.tls_cert.len(),
                    args.tls_key.len()
                ),
            ));
        }
        let tls = if args.tls_self_signed {
            Some(TlsChoice::SelfSigned)
        } else if !args.domain.is_empty() {
            Some(TlsChoice::Acme(Default::default()))
        } else if args.tls_cert.is_empty() {
            None
        } else {
            let pairs = args.tls_cert.iter().zip(&args.tls_key);
            Some(TlsChoice::Files(
                pairs
                    .map(|(cert, key)| CertFiles {
                        cert: cert.clone(),
                        key: key.clone(),
                    })
                    .collect(),
            ))
        };
        let handler = handler::Options {
            index: args.index.clone(),
            listing: !args.no_listing,
            hidden: args.hidden,
            archive: args.archive,
            error_pages: args.error_pages.clone(),
            cache: CachePolicy {
                rules,
                default: default_cache,
                fingerprint_defaults: !args.no_cache_defaults,
            },
            etag: etag_mode(args.etag),
            max_ranges: usize::from(args.max_ranges),
            precompressed: !args.no_precompressed,
            compress: CompressOptions {
                enabled: !args.no_compress,
                min_size: args.compress_min_size,
                max_size: args.compress_max_size,
                cache_bytes: usize::try_from(args.compress_cache_size).unwrap_or(usize::MAX),
                ..CompressOptions::default()
            },
            share: crate::handler::upload::ShareOptions {
                upload: args.upload,
                overwrite: args.overwrite,
                mkdir: args.mkdir,
                delete: args.delete,
                max_size: args.upload_max_size,
            },
            ..handler::Options::default()
        };
        let auth = args.auth_file.as_deref().map(cli_auth).transpose()?;
        Ok(CliSite { handler, tls, auth })
    }
}

/// The caches' bounds, for the whole process.
struct SharedLimits {
    file_cache: CacheOptions,
    compress: CompressOptions,
}

impl SharedLimits {
    fn from_args(args: &Args) -> SharedLimits {
        SharedLimits {
            file_cache: CacheOptions::default(),
            compress: CompressOptions {
                cache_bytes: usize::try_from(args.compress_cache_size).unwrap_or(usize::MAX),
                ..CompressOptions::default()
            },
        }
    }
}

/// Development mode and the open-file cache's trust interval, which it
/// changes: every edit is served at once unless an interval is given.
struct DevChoice {
    on: bool,
    file_cache_valid: Option<std::time::Duration>,
}

impl DevChoice {
    fn of(on: bool, file_cache_valid: Option<std::time::Duration>) -> DevChoice {
        DevChoice {
            on,
            file_cache_valid,
        }
    }

    /// Sets every site's handler to dev mode (or not), and the interval.
    fn apply(&self, plan: &mut Plan, file_cache: &mut CacheOptions) {
        for site in &mut plan.sites {
            site.spec.handler.dev = self.on;
        }
        file_cache.revalidate = match (self.file_cache_valid, self.on) {
            (Some(valid), _) => valid,
            (None, true) => std::time::Duration::ZERO,
            (None, false) => CacheOptions::default().revalidate,
        };
    }
}

fn etag_mode(arg: EtagArg) -> EtagMode {
    match arg {
        EtagArg::Metadata => EtagMode::Metadata,
        EtagArg::Content => EtagMode::Content,
    }
}

fn log_format(arg: LogFormatArg) -> LogFormat {
    match arg {
        LogFormatArg::Combined => LogFormat::Combined,
        LogFormatArg::Common => LogFormat::Common,
        LogFormatArg::Json => LogFormat::Json,
        LogFormatArg::VhostCombined => LogFormat::VhostCombined,
    }
}

fn file_log_format(key: LogFormatKey) -> LogFormat {
    match key {
        LogFormatKey::Combined => LogFormat::Combined,
        LogFormatKey::Common => LogFormat::Common,
        LogFormatKey::Json => LogFormat::Json,
        LogFormatKey::VhostCombined => LogFormat::VhostCombined,
    }
}

fn server_options(args: &Args) -> ServerOptions {
    let h1 = h1::Options {
        head: HeadLimits {
            max_head_bytes: args.max_header_size,
            max_headers: usize::from(args.max_headers),
        },
        max_body_bytes: args.max_body_size,
        head_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        send_timeout: args.send_timeout,
        max_requests: args.max_requests_per_connection,
        server_header: !args.no_server_header,
    };
    let h2 = crate::proto::h2::Options {
        max_concurrent_streams: args.h2_max_streams,
        max_header_list_size: u32::try_from(args.max_header_size).unwrap_or(u32::MAX),
        handshake_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        send_timeout: args.send_timeout,
        max_body_bytes: args.max_body_size,
        server_header: !args.no_server_header,
    };
    ServerOptions {
        h1,
        h2,
        tls_handshake_timeout: args.tls_handshake_timeout,
        hsts_seconds: None,
        max_connections: args.max_connections as usize,
        shutdown_timeout: args.shutdown_timeout,
        proxy_protocol: args.proxy_protocol,
        // Each entry was checked as it was parsed.
        trusted_proxies: TrustedProxies::new(&args.trusted_proxy)
            .unwrap_or_default()
            .reading(forwarded_header(args.forwarded_header)),
    }
}

fn forwarded_header(arg: ForwardedHeaderArg) -> ForwardedHeader {
    match arg {
        ForwardedHeaderArg::XForwardedFor => ForwardedHeader::XForwardedFor,
        ForwardedHeaderArg::Forwarded => ForwardedHeader::Forwarded,
    }
}

/// The file's `[server]` keys, where the command line did not give them.
fn overlay_server(server: &mut ServerOptions, keys: &ServerKeys, given: &dyn Fn(&str) -> bool) {
    if let (false, Some(on)) = (given("proxy_protocol"), keys.proxy_protocol) {
        server.proxy_protocol = on;
    }
    let header = match (given("forwarded_header"), keys.forwarded_header) {
        (false, Some(h)) => forwarded_header(h),
        _ => server.trusted_proxies.header(),
    };
    if let (false, Some(list)) = (given("trusted_proxy"), &keys.trusted_proxies) {
        server.trusted_proxies = TrustedProxies::new(list).unwrap_or_default();
    }
    server.trusted_proxies = std::mem::take(&mut server.trusted_proxies).reading(header);
    fn set<T: Clone>(given: bool, from: &Option<T>, to: &mut T) {
        if let (false, Some(value)) = (given, from) {
            *to = value.clone();
        }
    }
    let h1 = &mut server.h1;
    let h2 = &mut server.h2;
    if let (false, Some(n)) = (given("max_connections"), keys.max_connections) {
        server.max_connections = n as usize;
    }
    set(
        given("shutdown_timeout"),
        &keys.shutdown_timeout,
        &mut server.shutdown_timeout,
    );
    set(
        given("tls_handshake_timeout"),
        &keys.tls_handshake_timeout,
        &mut server.tls_handshake_timeout,
    );
    if let (false, Some(t)) = (given("header_timeout"), keys.header_timeout) {
        h1.head_timeout = t;
        h2.handshake_timeout = t;
    }
    if let (false, Some(t)) = (given("idle_timeout"), keys.idle_timeout) {
        h1.idle_timeout = t;
        h2.idle_timeout = t;
    }
    if let (false, Some(t)) = (given("send_timeout"), keys.send_timeout) {
        h1.send_timeout = t;
        h2.send_timeout = t;
    }
    if let (false, Some(n)) = (given("max_header_size"), keys.max_header_size) {
        h1.head.max_head_bytes = n;
        h2.max_header_list_size = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let (false, Some(n)) = (given("max_headers"), keys.max_headers) {
        h1.head.max_headers = usize::from(n);
    }
    if let (false, Some(n)) = (given("max_body_size"), keys.max_body_size) {
        h1.max_body_bytes = n;
        h2.max_body_bytes = n;
    }
    set(
        given("max_requests_per_connection"),
        &keys.max_requests_per_connection,
        &mut h1.max_requests,
    );
    set(
        given("h2_max_streams"),
        &keys.h2_max_streams,
        &mut h2.max_concurrent_streams,
    );
    if let (false, Some(on)) = (given("no_server_header"), keys.server_header) {
        h1.server_header = on;
        h2.server_header = on;
    }
}

/// Basic auth from the htpasswd file `--auth-file` names (its hashes are
/// never printed).
fn cli_auth(path: &Path) -> Result<crate::site::auth::Auth, ConfigError> {
    use crate::site::auth::{parse_htpasswd, Auth, AuthOptions};
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(
            "--auth-file",
            format!("cannot read '{}': {e}", path.display()),
        )
    })?;
    let users = parse_htpasswd(&text)
        .map_err(|e| err("--auth-file", format!("'{}': {e}", path.display())))?;
    Auth::new(AuthOptions {
        users,
        ..AuthOptions::default()
    })
    .map_err(|e| err("--auth-file", format!("'{}': {e}", path.display())))
}

/// Refuses the command line's site when its changes would be open to anyone
/// (see [`share_problems`]), naming the flag.
fn check_share(plan: &mut Plan) -> Result<(), ConfigError> {
    match share_problems(plan).into_iter().next() {
        None => Ok(()),
        Some((_, key, message)) => Err(err(
            match key {
                "mkdir" => "--mkdir",
                "delete" => "--delete",
                _ => "--upload",
            },
            message,
        )),
    }
}

/// Refuses the file's sites whose changes would be open to anyone, each at
/// its key (or its `[[site]]` header when a flag turned the change on).
fn check_file_share(plan: &mut Plan, file: &FileConfig) -> Result<(), LoadError> {
    let problems: Vec<Problem> = share_problems(plan)
        .into_iter()
        .map(|(i, key, message)| {
            let site = file.sites.get(i);
            let at = site
                .and_then(|s| s.location(key))
                .or(site.map(|s| s.header))
                .unwrap_or(Location { line: 1, column: 1 });
            let name = match site {
                Some(_) => format!("site[{i}].{key}"),
                None => key.to_string(),
            };
            Problem::at(&file.path, at, name, message)
        })
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(LoadError::File(problems)),
    }
}

/// The sites whose changes (uploads, new folders, deletes) would be open to
/// anyone (see `site::share::check`): index, option and why. Marks each
/// site's `loopback_only`.
fn share_problems(plan: &mut Plan) -> Vec<(usize, &'static str, String)> {
    let mut problems = Vec::new();
    let shared: Vec<SocketAddr> = plan
        .listen
        .iter()
        .chain(&plan.listen_tls)
        .copied()
        .collect();
    for (i, site) in plan.sites.iter_mut().enumerate() {
        let own: Vec<SocketAddr> = site
            .listen
            .iter()
            .chain(&site.listen_tls)
            .copied()
            .collect();
        let listeners = if own.is_empty() { &shared } else { &own };
        let loopback_only = !listeners.is_empty()
            && listeners
                .iter()
                .all(|a| a.ip().to_canonical().is_loopback());
        site.spec.loopback_only = loopback_only;
        let name = site.spec.hosts.first().map_or("default", String::as_str);
        let auth = site.spec.modifiers.auth.is_some();
        if let Err((key, message)) =
            crate::site::share::check(name, &site.spec.handler.share, auth, loopback_only)
        {
            problems.push((i, key, message));
        }
    }
    problems
}

/// The one site of a command line without a file, and its listeners: with
/// TLS every `--listen` address speaks HTTPS, and `--redirect-http` adds a
/// plain listener that sends every request there.
fn cli_plan(args: &Args, cli: &CliSite) -> Result<Plan, ConfigError> {
    if let Some(problem) = root_problem(&args.root) {
        return Err(err("ROOT", problem));
    }
    if let Some(dir) = &args.error_pages {
        if !dir.is_dir() {
            return Err(err(
                "--error-pages",
                format!("'{}' is not a folder", dir.display()),
            ));
        }
    }
    let tls = cli.tls.is_some();
    if !tls {
        if args.redirect_http.is_some() {
            return Err(err(
                "--redirect-http",
                "needs TLS (--tls-cert and --tls-key, or --tls-self-signed)",
            ));
        }
        if args.hsts.is_some() {
            return Err(err(
                "--hsts",
                "needs TLS (--tls-cert and --tls-key, or --tls-self-signed)",
            ));
        }
    }
    let domain = !args.domain.is_empty();
    let default_listen = match (domain, tls) {
        (true, _) => acme_plan::DOMAIN_LISTEN,
        (false, true) => DEFAULT_LISTEN_TLS,
        (false, false) => DEFAULT_LISTEN,
    };
    let redirect_http = match (domain, args.redirect_http) {
        (true, None) => Some(acme_plan::DOMAIN_REDIRECT),
        (_, given) => given,
    };
    let listen = match (args.port, args.listen.is_empty()) {
        (Some(port), _) => vec![SocketAddr::new(default_listen.ip(), port)],
        (None, true) => vec![default_listen],
        (None, false) => args.listen.clone(),
    };
    let https_port = listen.first().map_or(443, |a| a.port());
    let spec = SiteSpec {
        hosts: args.domain.clone(),
        default: true,
        root: args.root.clone(),
        handler: cli.handler.clone(),
        tls,
        hsts: args.hsts,
        https_redirect: redirect_http.map(|_| https_port),
        routes: Vec::new(),
        modifiers: Modifiers {
            auth: cli.auth.clone(),
            ..Modifiers::default()
        },
        loopback_only: false,
    };
    let (listen, listen_tls) = match tls {
        true => (redirect_http.into_iter().collect(), listen),
        false => (listen, Vec::new()),
    };
    Ok(Plan {
        sites: vec![SitePlan {
            spec,
            tls: cli.tls.clone().map(site_tls),
            listen: Vec::new(),
            listen_tls: Vec::new(),
        }],
        listen,
        listen_tls,
    })
}

/// The ACME parts of resolving: the options, `--domain`'s listeners, the
/// checks of an ACME site's hosts.
mod acme_plan {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use crate::config::file::{AcmeKeys, SiteKeys};
    use crate::config::raw::{self, Args};
    use crate::server::acme::{AcmeOptions, LETS_ENCRYPT_STAGING};

    /// `--domain`'s HTTPS listener: where a public CA and browsers look.
    pub const DOMAIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 443);

    /// `--domain`'s plain listener: redirects, and HTTP-01.
    pub const DOMAIN_REDIRECT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80);

    /// The flags over `[server.acme]` over the defaults.
    pub fn options(args: &Args, keys: Option<&AcmeKeys>) -> AcmeOptions {
        let mut out = AcmeOptions::default();
        if let Some(keys) = keys {
            if keys.staging == Some(true) {
                out.directory = LETS_ENCRYPT_STAGING.to_string();
            }
            if let Some(directory) = &keys.directory {
                out.directory = directory.clone();
            }
            out.email = keys.email.clone();
            out.ca_root = keys.ca_root.clone();
            if let Some(first) = keys.first_retry {
                out.first_retry = first;
            }
        }
        if let Some(directory) = &args.acme_directory {
            out.directory = directory.clone();
        }
        if let Some(email) = &args.acme_email {
            out.email = Some(email.clone());
        }
        if let Some(root) = &args.acme_ca_root {
            out.ca_root = Some(root.clone());
        }
        out
    }

    /// What is wrong with an ACME site's hosts, by key: it needs names, and
    /// each must be a domain a CA can validate by HTTP-01 or TLS-ALPN-01.
    pub fn host_problems(site: &SiteKeys) -> Vec<(String, String)> {
        let hosts = site.hosts.clone().unwrap_or_default();
        if hosts.is_empty() {
            return vec![(
                "tls".to_string(),
                "an ACME site needs hosts: the names its certificate is for".to_string(),
            )];
        }
        hosts
            .iter()
            .enumerate()
            .filter_map(|(i, host)| {
                raw::parse_domain(host)
                    .err()
                    .map(|e| (format!("hosts[{i}]"), format!("{e} (tls = \"acme\")")))
            })
            .collect()
    }
}

fn site_tls(choice: TlsChoice) -> SiteTls {
    match choice {
        TlsChoice::Files(files) => SiteTls::Files(files),
        TlsChoice::SelfSigned => SiteTls::SelfSigned,
        TlsChoice::Acme(challenge) => SiteTls::Acme(challenge),
    }
}

/// The sites and listeners of the file, with the command line's overrides,
/// checked against the filesystem (roots, error pages, certificates).
fn file_plan(
    args: &Args,
    explicit: &Explicit,
    cli: &CliSite,
    file: &FileConfig,
) -> Result<Plan, Vec<Problem>> {
    let path = file.path.as_path();
    let given = |id: &str| explicit.has(id);
    let mut problems = Vec::new();
    let at = |loc: Option<Location>| loc.unwrap_or(Location { line: 1, column: 1 });
    let keys = &file.server;
    let port_given = args.port.is_some() && given("port");
    let listen = if port_given {
        let port = args.port.unwrap_or(DEFAULT_LISTEN.port());
        vec![SocketAddr::new(DEFAULT_LISTEN.ip(), port)]
    } else if given("listen") && !args.listen.is_empty() {
        args.listen.clone()
    } else {
        keys.listen.clone().unwrap_or_default()
    };
    let mut listen = listen;
    if let (true, Some(addr)) = (given("redirect_http"), args.redirect_http) {
        if !listen.contains(&addr) {
            listen.push(addr);
        }
    }
    let mut listen_tls = keys.listen_tls.clone().unwrap_or_default();
    let any_tls = file.sites.iter().any(|s| s.tls.is_some()) || cli.tls.is_some();
    if keys.listen.is_none() && keys.listen_tls.is_none() && !port_given && !given("listen") {
        listen = vec![DEFAULT_LISTEN];
        if any_tls {
            listen_tls = vec![DEFAULT_LISTEN_TLS];
        }
    }
    let single = file.sites.len() == 1;
    if given("domain") && !args.domain.is_empty() {
        problems.push(Problem::at(
            path,
            Location { line: 1, column: 1 },
            "site",
            "--domain is for a server without --config: in the file, give the site hosts and tls = \"acme\"",
        ));
    }
    if given("root") && !single {
        problems.push(Problem::at(
            path,
            Location { line: 1, column: 1 },
            "site",
            format!(
                "the file has {} sites, so ROOT ({}) cannot say whose root it is: set each site's root in the file",
                file.sites.len(),
                args.root.display()
            ),
        ));
    }
    let mut sites = Vec::with_capacity(file.sites.len());
    for (i, site) in file.sites.iter().enumerate() {
        let key = |k: &str| format!("site[{i}].{k}");
        let root = match (&site.root, given("root") && single) {
            (_, true) => args.root.clone(),
            (Some(root), false) => root.clone(),
            (None, false) => args.root.clone(),
        };
        if let Some(message) = root_problem(&root) {
            problems.push(Problem::at(
                path,
                at(site.location("root")),
                key("root"),
                message,
            ));
        }
        let handler = site_handler(args, explicit, cli, site);
        if let Some(dir) = &handler.error_pages {
            if !dir.is_dir() {
                problems.push(Problem::at(
                    path,
                    at(site.location("error_pages")),
                    key("error_pages"),
                    format!("'{}' is not a folder", dir.display()),
                ));
            }
        }
        let tls_given = given("tls_cert") || given("tls_self_signed");
        let tls = match (tls_given && single, &site.tls) {
            (true, _) => cli.tls.clone(),
            (false, tls) => tls.clone(),
        };
        if let Some(TlsChoice::Files(pairs)) = &tls {
            for pair in pairs {
                let missing = [("tls.cert", &pair.cert), ("tls.key", &pair.key)]
                    .into_iter()
                    .filter(|(_, file)| !file.exists())
                    .collect::<Vec<_>>();
                for (which, file) in &missing {
                    let loc = site.location(which).or_else(|| site.location("tls"));
                    problems.push(Problem::at(
                        path,
                        at(loc.or(Some(site.header))),
                        key(which),
                        format!("no such file '{}'", file.display()),
                    ));
                }
                if !missing.is_empty() {
                    continue;
                }
                if let Err(e) = tls::load_pair(pair) {
                    let which = if e.path == pair.key {
                        "tls.key"
                    } else {
                        "tls.cert"
                    };
                    let loc = site
                        .location(which)
                        .or_else(|| site.location("tls"))
                        .or(Some(site.header));
                    problems.push(Problem::at(path, at(loc), key(which), e.message));
                }
            }
        }
        if let Some(TlsChoice::Acme(_)) = &tls {
            for (at_key, message) in acme_plan::host_problems(site) {
                let loc = site.location(&at_key).or_else(|| site.location("tls"));
                problems.push(Problem::at(
                    path,
                    at(loc.or(Some(site.header))),
                    key(&at_key),
                    message,
                ));
            }
        }
        let own_tls = site.listen_tls.clone().unwrap_or_default();
        let https_port = own_tls.first().or(listen_tls.first()).map(|a| a.port());
        if tls.is_some() && https_port.is_none() {
            problems.push(Problem::at(
                path,
                at(site.location("tls").or(Some(site.header))),
                key("tls"),
                "no TLS listener serves this site: add server.listen_tls or the site's listen_tls",
            ));
        }
        let hsts = if given("hsts") { args.hsts } else { site.hsts };
        let redirect = site.https_redirect.unwrap_or(true);
        let (routes, mut modifiers) = site_pipeline(path, i, site, tls.is_some(), &mut problems);
        if modifiers.auth.is_none() && given("auth_file") {
            modifiers.auth.clone_from(&cli.auth);
        }
        sites.push(SitePlan {
            spec: SiteSpec {
                hosts: site
                    .hosts
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|h| unbracket(h))
                    .collect(),
                default: site.default.unwrap_or(single),
                root,
                handler,
                tls: tls.is_some(),
                hsts: hsts.filter(|_| tls.is_some()),
                https_redirect: https_port.filter(|_| tls.is_some() && redirect),
                routes,
                modifiers,
                loopback_only: false,
            },
            tls: tls.map(site_tls),
            listen: site.listen.clone().unwrap_or_default(),
            listen_tls: own_tls,
        });
    }
    if file.sites.is_empty() {
        // A file with no site serves the command line's folder.
        match cli_plan(args, cli) {
            Ok(mut plan) => {
                plan.listen = listen;
                if !listen_tls.is_empty() {
                    plan.listen_tls = listen_tls;
                }
                return Ok(plan);
            }
            Err(e) => problems.push(Problem::at(
                path,
                Location { line: 1, column: 1 },
                e.key,
                e.message,
            )),
        }
    }
    if problems.is_empty() {
        Ok(Plan {
            sites,
            listen,
            listen_tls,
        })
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(problems)
    }
}

/// A site's routes and modifiers from its keys, now that whether it has tls
/// is known (the `security_headers` preset depends on it). Building them
/// cannot fail on keys the file layer accepted; if it did, the problem is
/// reported at the site or the route.
fn site_pipeline(
    path: &Path,
    i: usize,
    site: &SiteKeys,
    tls: bool,
    problems: &mut Vec<Problem>,
) -> (Vec<SiteRoute<Modifiers>>, Modifiers) {
    let modifiers = site.modifiers.site_modifiers(tls).unwrap_or_else(|e| {
        problems.push(Problem::at(path, site.header, format!("site[{i}]"), e));
        Modifiers::default()
    });
    let mut routes = Vec::new();
    for (j, route) in site.routes.iter().flatten().enumerate() {
        match route.modifiers.route_modifiers(&site.modifiers, tls) {
            Ok(built) => routes.push(route.clone().map_modifiers(|_| built)),
            Err(e) => {
                let rel = format!("route[{j}]");
                let at = site.location(&rel).unwrap_or(site.header);
                problems.push(Problem::at(path, at, format!("site[{i}].{rel}"), e));
            }
        }
    }
    (routes, modifiers)
}

/// `[::1]` as the host table keys it (`Host` arrives without brackets).
fn unbracket(host: &str) -> String {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_string()
}

/// Why `root` cannot be served: not a folder, or one the server cannot look
/// up names in (it needs search permission, not read: a folder it may not
/// list still serves). Said here, with the flag or key, rather than later
/// as a bare error from opening the sites.
fn root_problem(root: &Path) -> Option<String> {
    let why = |e: std::io::Error| Some(format!("'{}': {}", root.display(), io_message(&e)));
    match std::fs::metadata(root) {
        Ok(meta) if !meta.is_dir() => Some(format!("'{}' is not a folder", root.display())),
        // `ROOT/.` resolves only with search permission on ROOT.
        Ok(_) => std::fs::metadata(root.join(".")).err().and_then(why),
        Err(e) => why(e),
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// A site's file options: the command line's where given, else the file's,
/// else the defaults.
fn site_handler(
    args: &Args,
    explicit: &Explicit,
    cli: &CliSite,
    site: &SiteKeys,
) -> handler::Options {
    let given = |id: &str| explicit.has(id);
    let mut o = cli.handler.clone();
    if !given("index") {
        if let Some(index) = &site.index {
            o.index = index.clone();
        }
    }
    if let (false, Some(on)) = (given("no_listing"), site.listing) {
        o.listing = on;
    }
    if let (false, Some(on)) = (given("hidden"), site.hidden) {
        o.hidden = on;
    }
    if let (false, Some(on)) = (given("archive"), site.archive) {
        o.archive = on;
    }
    if let (false, Some(on)) = (given("upload"), site.upload) {
        o.share.upload = on;
    }
    if let (false, Some(on)) = (given("overwrite"), site.overwrite) {
        o.share.overwrite = on;
    }
    if let (false, Some(on)) = (given("mkdir"), site.mkdir) {
        o.share.mkdir = on;
    }
    if let (false, Some(on)) = (given("delete"), site.delete) {
        o.share.delete = on;
    }
    if let (false, Some(n)) = (given("upload_max_size"), site.upload_max_size) {
        o.share.max_size = n;
    }
    if !given("error_pages") {
        if let Some(dir) = &site.error_pages {
            o.error_pages = Some(dir.clone());
        }
    }
    if !given("cache_rules") {
        if let Some(rules) = &site.cache_rules {
            o.cache.rules = rules.iter().map(|r| r.rule.clone()).collect();
        }
    }
    if !given("cache_control") {
        if let Some(value) = &site.cache_control {
            o.cache.default = Some(value.clone());
        }
    }
    if let (false, Some(on)) = (given("no_cache_defaults"), site.cache_defaults) {
        o.cache.fingerprint_defaults = on;
    }
    if let (false, Some(etag)) = (given("etag"), site.etag) {
        o.etag = etag_mode(etag);
    }
    if let (false, Some(n)) = (given("max_ranges"), site.max_ranges) {
        o.max_ranges = usize::from(n);
    }
    if let (false, Some(on)) = (given("no_precompressed"), site.precompressed) {
        o.precompressed = on;
    }
    if let (false, Some(on)) = (given("no_compress"), site.compress) {
        o.compress.enabled = on;
    }
    if let (false, Some(n)) = (given("compress_min_size"), site.compress_min_size) {
        o.compress.min_size = n;
    }
    if let (false, Some(n)) = (given("compress_max_size"), site.compress_max_size) {
        o.compress.max_size = n;
    }
    let _ = args;
    o
}

/// Every problem with the configuration that `args` names (the file, or the
/// command line alone), as `ferrox check` reports them.
pub fn check(args: &Args, explicit: &Explicit) -> Vec<String> {
    match load(args, explicit) {
        Ok(_) => Vec::new(),
        Err(LoadError::Cli(e)) => vec![e.to_string()],
        Err(LoadError::File(problems)) => problems.iter().map(Problem::to_string).collect(),
    }
}

/// The path `ferrox check` checks when none is given.
pub fn default_file() -> PathBuf {
    Path::new("ferrox.toml").to_path_buf()
}
