//! Raw arguments → a validated [`Config`]. Every error names the flag (or the
//! environment variable behind it) and says what is wrong.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use super::raw::{is_plain_file_name, Args, EtagArg, LogFormatArg};
use super::{Config, TlsChoice};
use crate::handler::compress::CompressOptions;
use crate::handler::{
    self,
    cache_control::{CachePolicy, Rule},
    EtagMode,
};
use crate::log::LogFormat;
use crate::proto::h1::{self, HeadLimits};
use crate::server::tls::CertFiles;
use crate::server::ServerOptions;

/// The default address: loopback only, so a laptop never serves its folder to
/// the network by surprise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// The default address when serving HTTPS.
pub const DEFAULT_LISTEN_TLS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);

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
    if args.compress_min_size > args.compress_max_size {
        return Err(err(
            "--compress-min-size",
            "is larger than --compress-max-size",
        ));
    }
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
    if let Some(bad) = args.index.iter().find(|i| !is_plain_file_name(i)) {
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
    if tls.is_none() {
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
    let default_listen = if tls.is_some() {
        DEFAULT_LISTEN_TLS
    } else {
        DEFAULT_LISTEN
    };
    let listen = match (args.port, args.listen.is_empty()) {
        (Some(port), _) => vec![SocketAddr::new(default_listen.ip(), port)],
        (None, true) => vec![default_listen],
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
    let h2 = crate::proto::h2::Options {
        max_concurrent_streams: args.h2_max_streams,
        max_header_list_size: u32::try_from(args.max_header_size).unwrap_or(u32::MAX),
        handshake_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        send_timeout: args.send_timeout,
        max_body_bytes: args.max_body_size,
        server_header: !args.no_server_header,
    };
    Ok(Config {
        root: args.root,
        listen,
        tls,
        redirect_http: args.redirect_http,
        server: ServerOptions {
            h1,
            h2,
            tls_handshake_timeout: args.tls_handshake_timeout,
            hsts_seconds: args.hsts,
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
            precompressed: !args.no_precompressed,
            compress: CompressOptions {
                enabled: !args.no_compress,
                min_size: args.compress_min_size,
                max_size: args.compress_max_size,
                cache_bytes: usize::try_from(args.compress_cache_size).unwrap_or(usize::MAX),
                ..CompressOptions::default()
            },
            ..handler::Options::default()
        },
        access_log: (!args.quiet).then_some(match args.log_format {
            LogFormatArg::Combined => LogFormat::Combined,
            LogFormatArg::Common => LogFormat::Common,
            LogFormatArg::Json => LogFormat::Json,
        }),
        log_level: args.log_level,
        per_core: args.runtime == super::raw::RuntimeArg::PerCore,
    })
}
