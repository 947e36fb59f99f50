//! Configuration flows once, downwards: the command line as typed ([`raw`])
//! and the configuration file as read ([`file`]) are merged and checked
//! ([`resolve`]) into a [`Config`], which fills each module's own options:
//! the server's [`Plan`] (sites and listeners) and [`ServerOptions`].
//!
//! Precedence, for every key: the command line, then the environment
//! (`FERROX_*`), then the file, then the defaults. A list given on the command
//! line (such as `--listen`) replaces the file's; lists are not merged.

pub mod file;
pub mod raw;
pub mod resolve;

use std::path::PathBuf;

use crate::files::cache::CacheOptions;
use crate::handler::compress::CompressOptions;
use crate::log::LogFormat;
use crate::server::privileges::RunAs;
use crate::server::sites::Plan;
use crate::server::tls::CertFiles;
use crate::server::ServerOptions;

pub use raw::Args;
pub use resolve::{load, resolve, ConfigError, Explicit, LoadError};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sites and listeners.
    pub plan: Plan,
    /// Connection limits, timeouts, protocol options.
    pub server: ServerOptions,
    /// Development mode (`--dev`): every site sends `no-cache` and live-reloads
    /// its HTML pages; the server watches the roots.
    pub dev: bool,
    /// Bounds of the caches every site shares.
    pub file_cache: CacheOptions,
    /// The process-wide compression limits (the cache's size, work at once).
    pub compress: CompressOptions,
    /// Access-log format; `None` when quiet.
    pub access_log: Option<LogFormat>,
    /// Where the access log goes: a file, or stdout when `None`.
    pub access_log_file: Option<PathBuf>,
    /// Where diagnostics go: a file, or stderr when `None`.
    pub error_log: Option<PathBuf>,
    /// Diagnostics filter for stderr.
    pub log_level: String,
    /// One current-thread runtime per core instead of one work-stealing runtime.
    pub per_core: bool,
    /// Threads that serve connections; `None`: one per core.
    pub workers: Option<u16>,
    /// The configuration file, when there is one (read again on reload).
    pub file: Option<PathBuf>,
    /// The folder kept across restarts (the self-signed certificate); `None`
    /// when none was given and the environment names no home.
    pub state_dir: Option<PathBuf>,
    /// The admin listener (health and metrics), if any.
    pub admin: Option<std::net::SocketAddr>,
    /// Time a stop keeps serving, unready, before the listeners close.
    pub drain_delay: std::time::Duration,
    /// The ACME CA and account, for sites with `tls = "acme"`.
    pub acme: crate::server::acme::AcmeOptions,
    /// Who to become once the ports are bound; whether root may serve.
    pub run_as: RunAs,
}

/// Where a site's TLS certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsChoice {
    /// Certificate and key files, chosen by SNI.
    Files(Vec<CertFiles>),
    /// Generated at start-up for local development.
    SelfSigned,
    /// From the ACME CA, for the site's hosts.
    Acme(crate::server::acme::Challenge),
}
