//! Configuration flows once, downwards: the command line as typed ([`raw`]) is
//! checked and resolved ([`resolve`]) into a [`Config`], which fills each
//! module's own options struct. A configuration file ([`file`](mod@file)) is read and
//! checked on its own, with every problem located by line and column.

pub mod file;
pub mod raw;
pub mod resolve;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::handler;
use crate::log::LogFormat;
use crate::server::tls::CertFiles;
use crate::server::ServerOptions;

pub use raw::Args;
pub use resolve::{resolve, ConfigError};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder to serve, as given.
    pub root: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// TLS on every listen address, if any.
    pub tls: Option<TlsChoice>,
    /// A plain listener that redirects to https.
    pub redirect_http: Option<SocketAddr>,
    /// Connection limits, timeouts, protocol options.
    pub server: ServerOptions,
    /// How files are served.
    pub handler: handler::Options,
    /// Access-log format; `None` when quiet.
    pub access_log: Option<LogFormat>,
    /// Diagnostics filter for stderr.
    pub log_level: String,
    /// One current-thread runtime per core instead of one work-stealing runtime.
    pub per_core: bool,
}

/// Where the TLS certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsChoice {
    /// Certificate and key files, chosen by SNI.
    Files(Vec<CertFiles>),
    /// Generated at start-up for local development.
    SelfSigned,
}
