//! The command line as typed: clap types kept close to user input. Every flag can
//! also be set as `FERROX_<FLAG>` in the environment. Values are only parsed here;
//! `resolve` checks them against the filesystem and each other.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};

/// Ferrox: serve a folder over HTTP, fast and safely.
#[derive(Debug, Parser)]
#[command(
    name = "ferrox",
    version,
    about,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// A tool instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Folder to serve.
    #[arg(env = "FERROX_ROOT", default_value = ".")]
    pub root: PathBuf,

    /// Configuration file (TOML): many sites, and every flag as a key. Flags
    /// given on the command line or in the environment override its keys.
    #[arg(short = 'c', long, env = "FERROX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on, as ADDR:PORT (IPv6 as [ADDR]:PORT). Repeatable.
    #[arg(short = 'l', long = "listen", value_name = "ADDR:PORT", env = "FERROX_LISTEN",
          value_delimiter = ',', value_parser = parse_listen)]
    pub listen: Vec<std::net::SocketAddr>,

    /// Port on 127.0.0.1: a shortcut for --listen 127.0.0.1:PORT.
    #[arg(short = 'p', long, env = "FERROX_PORT", conflicts_with = "listen")]
    pub port: Option<u16>,

    /// Connections open at once; beyond it, clients wait in the backlog.
    #[arg(long, env = "FERROX_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Time in-flight responses get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "FERROX_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Deadline for a whole request head, from the first byte (or from accept).
    #[arg(long, env = "FERROX_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub header_timeout: Duration,

    /// Time a kept-alive connection may wait for its next request.
    #[arg(long, env = "FERROX_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,

    /// Time one write may wait for a client that stops reading.
    #[arg(long, env = "FERROX_SEND_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub send_timeout: Duration,

    /// Largest request head (request line and header fields), e.g. 32KiB.
    #[arg(long, env = "FERROX_MAX_HEADER_SIZE", default_value = "32KiB", value_parser = parse_head_size)]
    pub max_header_size: usize,

    /// Most header fields in a request.
    #[arg(long, env = "FERROX_MAX_HEADERS", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..=crate::proto::h1::MAX_HEADERS_CAP as i64))]
    pub max_headers: u16,

    /// Largest request body read and discarded; larger ones get 413.
    #[arg(long, env = "FERROX_MAX_BODY_SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_body_size: u64,

    /// Requests served on one connection before it is closed (0: no cap).
    #[arg(
        long,
        env = "FERROX_MAX_REQUESTS_PER_CONNECTION",
        default_value_t = 1000
    )]
    pub max_requests_per_connection: u32,

    /// Do not send `Server: ferrox`.
    #[arg(long, env = "FERROX_NO_SERVER_HEADER", value_parser = BoolishValueParser::new())]
    pub no_server_header: bool,

    /// Access-log format (on stdout).
    #[arg(long, env = "FERROX_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Combined)]
    pub log_format: LogFormatArg,

    /// No access log.
    #[arg(short = 'q', long, env = "FERROX_QUIET", value_parser = BoolishValueParser::new())]
    pub quiet: bool,

    /// Diagnostics on stderr: error, warn, info, debug, trace, or a tracing filter.
    #[arg(long, env = "FERROX_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Index file names tried in a directory, in order (comma-separated).
    #[arg(
        long,
        env = "FERROX_INDEX",
        value_delimiter = ',',
        default_value = "index.html"
    )]
    pub index: Vec<String>,

    /// Answer 404 instead of listing directories without an index file.
    #[arg(long, env = "FERROX_NO_LISTING", value_parser = BoolishValueParser::new())]
    pub no_listing: bool,

    /// Serve and list dotfiles (names starting with `.`).
    #[arg(long, env = "FERROX_HIDDEN", value_parser = BoolishValueParser::new())]
    pub hidden: bool,

    /// Folder of custom error pages named by status (404.html, 500.html, ...).
    #[arg(long, env = "FERROX_ERROR_PAGES", value_name = "DIR")]
    pub error_pages: Option<PathBuf>,

    /// Cache-Control for files that no rule or default covers, e.g. "public, max-age=3600".
    #[arg(long, env = "FERROX_CACHE_CONTROL", value_name = "VALUE")]
    pub cache_control: Option<String>,

    /// Cache-Control by pattern, as PATTERN=VALUE; first match wins. A pattern
    /// without "/" matches the file name ("*.woff2", ".js"), one with "/" the path
    /// ("/assets/**"). Repeatable; in the environment, separate rules with ";".
    #[arg(
        long = "cache-rule",
        env = "FERROX_CACHE_RULE",
        value_name = "PATTERN=VALUE",
        value_delimiter = ';'
    )]
    pub cache_rules: Vec<String>,

    /// Turn off the defaults: "immutable" for fingerprinted names, "no-cache" for HTML.
    #[arg(long, env = "FERROX_NO_CACHE_DEFAULTS", value_parser = BoolishValueParser::new())]
    pub no_cache_defaults: bool,

    /// How ETags are made: from file metadata, or from a hash of the contents.
    #[arg(long, env = "FERROX_ETAG", value_enum, default_value_t = EtagArg::Metadata)]
    pub etag: EtagArg,

    /// Ranges honoured in one request; more get the whole file (200).
    #[arg(long, env = "FERROX_MAX_RANGES", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_ranges: u16,

    /// TLS certificate chain (PEM, leaf first). Repeatable, paired in order with
    /// --tls-key; chosen by SNI, the first is the default. Every --listen address
    /// then serves HTTPS (default 127.0.0.1:8443).
    #[arg(
        long = "tls-cert",
        env = "FERROX_TLS_CERT",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub tls_cert: Vec<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1), one per --tls-cert.
    #[arg(
        long = "tls-key",
        env = "FERROX_TLS_KEY",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub tls_key: Vec<PathBuf>,

    /// Serve HTTPS with a certificate generated at start-up for localhost,
    /// 127.0.0.1 and ::1 (development only); prints its SHA-256 fingerprint.
    #[arg(long, env = "FERROX_TLS_SELF_SIGNED", value_parser = BoolishValueParser::new(),
          conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,

    /// Deadline for a TLS handshake.
    #[arg(long, env = "FERROX_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub tls_handshake_timeout: Duration,

    /// Also listen on ADDR:PORT for plain HTTP and answer every request with
    /// 308 to the https URL.
    #[arg(long, env = "FERROX_REDIRECT_HTTP", value_name = "ADDR:PORT", value_parser = parse_listen)]
    pub redirect_http: Option<std::net::SocketAddr>,

    /// Send Strict-Transport-Security: max-age=SECONDS on HTTPS responses.
    #[arg(long, env = "FERROX_HSTS", value_name = "SECONDS")]
    pub hsts: Option<u64>,

    /// HTTP/2 streams a client may open at once on one connection.
    #[arg(long, env = "FERROX_H2_MAX_STREAMS", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub h2_max_streams: u32,

    /// Concurrency model: one work-stealing runtime, or one single-threaded
    /// runtime per core, each with its own SO_REUSEPORT listeners.
    #[arg(long, env = "FERROX_RUNTIME", value_enum, default_value_t = RuntimeArg::WorkStealing)]
    pub runtime: RuntimeArg,

    /// Do not serve FILE.br, FILE.zst and FILE.gz in place of FILE.
    #[arg(long, env = "FERROX_NO_PRECOMPRESSED", value_parser = BoolishValueParser::new())]
    pub no_precompressed: bool,

    /// Do not compress responses on the fly.
    #[arg(long, env = "FERROX_NO_COMPRESS", value_parser = BoolishValueParser::new())]
    pub no_compress: bool,

    /// Memory for compressed responses kept for repeat requests (0: none).
    #[arg(long, env = "FERROX_COMPRESS_CACHE_SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub compress_cache_size: u64,

    /// Smallest file compressed on the fly.
    #[arg(long, env = "FERROX_COMPRESS_MIN_SIZE", default_value = "1KiB", value_parser = parse_size)]
    pub compress_min_size: u64,

    /// Largest file compressed on the fly (larger ones need precompressed sidecars).
    #[arg(long, env = "FERROX_COMPRESS_MAX_SIZE", default_value = "8MiB", value_parser = parse_size)]
    pub compress_max_size: u64,
}

/// Tools that run instead of the server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a configuration file without serving: every problem, one line
    /// each (file:line:column: key: what is wrong); exit status 0 when there
    /// is none, 1 otherwise.
    Check {
        /// The file (default: $FERROX_CONFIG, else ./ferrox.toml).
        file: Option<PathBuf>,
    },
    /// Print the argon2id hash of a password, for a site's users. The password
    /// is read from the terminal without echo (asked twice), or as one line
    /// from stdin when that is not a terminal; never from the command line,
    /// where other users of the machine could see it.
    HashPassword,
    /// Write FILE.br, FILE.zst and FILE.gz beside every compressible file under
    /// ROOT at the highest sensible levels, skipping up-to-date ones and never
    /// keeping one that is not smaller; the server then serves them at no CPU cost.
    Precompress {
        /// Folder to compress.
        root: PathBuf,
        /// Smallest file compressed.
        #[arg(long, default_value = "1KiB", value_parser = parse_size)]
        min_size: u64,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        jobs: usize,
    },
}

/// `--runtime` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeArg {
    /// tokio's multi-thread runtime: connections move between cores.
    WorkStealing,
    /// A current-thread runtime per core; the kernel spreads connections.
    PerCore,
}

/// `--etag` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EtagArg {
    /// Inode, size and modification time (nanoseconds): free to compute.
    Metadata,
    /// A hash of the bytes, computed in the background: the same on every host.
    Content,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// NCSA combined (common plus referer and user agent).
    Combined,
    /// NCSA common.
    Common,
    /// One JSON object a line.
    Json,
    /// The site's host and port, then combined (Apache's vhost_combined).
    VhostCombined,
}

/// `ADDR:PORT`, IPv6 as `[ADDR]:PORT`.
pub fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("expected ADDR:PORT such as 127.0.0.1:8080 or [::1]:8080, got '{s}'"))
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 10s, 500ms, 2m)"))
}

/// A [`parse_duration`] that is more than zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be more than zero".into()),
        d => Ok(d),
    }
}

/// A byte count with an optional binary suffix: `1024`, `32KiB`, `32k`, `1MiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("expected a size such as 1024, 32KiB or 1MiB, got '{s}'"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' (use KiB, MiB or GiB)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| "size too large".to_string())
}

/// A [`parse_size`] from 1KiB to 1MiB: the bounds of `--max-header-size`.
pub fn parse_head_size(s: &str) -> Result<usize, String> {
    const MIN: u64 = 1024;
    const MAX: u64 = 1 << 20;
    match parse_size(s)? {
        n if (MIN..=MAX).contains(&n) => usize::try_from(n).map_err(|e| e.to_string()),
        _ => Err("must be between 1KiB and 1MiB".into()),
    }
}

/// Whether `name` can be an index file name: not empty, no `/`, not a dotfile.
pub fn is_plain_file_name(name: &str) -> bool {
    !(name.is_empty() || name.contains('/') || name.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("32KiB"), Ok(32 * 1024));
        assert_eq!(parse_size("32k"), Ok(32 * 1024));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert!(parse_head_size("10").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_positive_duration("0s").is_err());
    }
}
