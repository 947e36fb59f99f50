//! Raw arguments → a validated [`Config`]. Every error names the flag (or the
//! environment variable behind it) and says what is wrong.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use super::raw::{Args, EtagArg, LogFormatArg};
use super::Config;
use crate::handler::{
    self,
    cache_control::{CachePolicy, Rule},
    EtagMode,
};
use crate::log::LogFormat;
use crate::proto::h1::{self, HeadLimits};
use crate::server::ServerOptions;

/// The default address: loopback only, so a laptop never serves its folder to
/// the network by surprise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// A configuration value that is wrong.
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

/// Checks the arguments against each other and the filesystem.
pub fn resolve(args: Args) -> Result<Config, ConfigError> {
    if !args.root.is_dir() {
        return Err(err(
            "ROOT",
            format!("'{}' is not a folder", args.root.display()),
        ));
    }
    if let Some(dir) = &args.error_pages {
        if !dir.is_dir() {
            return Err(err(
                "--error-pages",
                format!("'{}' is not a folder", dir.display()),
            ));
        }
    }
    if let Some(bad) = args
        .index
        .iter()
        .find(|i| i.is_empty() || i.contains('/') || i.starts_with('.'))
    {
        return Err(err("--index", format!("'{bad}' must be a plain file name")));
    }
    let mut rules = Vec::with_capacity(args.cache_rules.len());
    for text in &args.cache_rules {
        rules.push(Rule::parse(text).map_err(|e| err("--cache-rule", e.to_string()))?);
    }
    let default_cache = match &args.cache_control {
        Some(value) => Some(
            CachePolicy::default_value(value).map_err(|e| err("--cache-control", e.to_string()))?,
        ),
        None => None,
    };
    let listen = match (args.port, args.listen.is_empty()) {
        (Some(port), _) => vec![SocketAddr::new(DEFAULT_LISTEN.ip(), port)],
        (None, true) => vec![DEFAULT_LISTEN],
        (None, false) => args.listen.clone(),
    };
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
    Ok(Config {
        root: args.root,
        listen,
        server: ServerOptions {
            h1,
            max_connections: args.max_connections as usize,
            shutdown_timeout: args.shutdown_timeout,
        },
        handler: handler::Options {
            index: args.index,
            listing: !args.no_listing,
            hidden: args.hidden,
            error_pages: args.error_pages,
            cache: CachePolicy {
                rules,
                default: default_cache,
                fingerprint_defaults: !args.no_cache_defaults,
            },
            etag: match args.etag {
                EtagArg::Metadata => EtagMode::Metadata,
                EtagArg::Content => EtagMode::Content,
            },
            max_ranges: usize::from(args.max_ranges),
            ..handler::Options::default()
        },
        access_log: (!args.quiet).then_some(match args.log_format {
            LogFormatArg::Combined => LogFormat::Combined,
            LogFormatArg::Common => LogFormat::Common,
            LogFormatArg::Json => LogFormat::Json,
        }),
        log_level: args.log_level,
    })
}
