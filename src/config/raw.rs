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
    args_conflicts_with_subcommands = true,
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Args {
    /// A tool instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Folder to serve.
    ///
    /// A folder named like a subcommand needs a path: `ferrox ./check`.
    #[arg(env = "FERROX_ROOT", default_value = ".")]
    pub root: PathBuf,

    /// Configuration file (TOML): many sites, and every flag as a key.
    ///
    /// Flags given on the command line or in the environment override its keys;
    /// `ferrox check FILE` checks it without serving.
    #[arg(short = 'c', long, env = "FERROX_CONFIG", value_name = "FILE",
          help_heading = SERVING)]
    pub config: Option<PathBuf>,

    /// Address to listen on, as ADDR:PORT (IPv6 as [ADDR]:PORT); repeatable
    /// [default: 127.0.0.1:8080, with TLS 127.0.0.1:8443].
    ///
    /// The default is loopback only, so a laptop never serves its folder to the
    /// network by surprise: use 0.0.0.0:8080 (or [::]:8080) for that. In the
    /// environment, separate addresses with ",".
    #[arg(short = 'l', long = "listen", value_name = "ADDR:PORT", env = "FERROX_LISTEN",
          value_delimiter = ',', value_parser = parse_listen, help_heading = SERVING)]
    pub listen: Vec<std::net::SocketAddr>,

    /// Port on 127.0.0.1: a shortcut for --listen 127.0.0.1:PORT.
    #[arg(short = 'p', long, env = "FERROX_PORT", conflicts_with = "listen",
          value_parser = parse_port, help_heading = SERVING)]
    pub port: Option<u16>,

    /// Concurrency model.
    ///
    /// One work-stealing runtime, or one single-threaded runtime per core, each
    /// with its own SO_REUSEPORT listeners.
    #[arg(long, env = "FERROX_RUNTIME", value_enum, default_value_t = RuntimeArg::WorkStealing,
          help_heading = SERVING)]
    pub runtime: RuntimeArg,

    /// Threads that serve connections [default: one per core].
    ///
    /// With work-stealing, the runtime's worker threads; per core, how many
    /// runtimes. Fewer than the cores leaves the rest to other processes on
    /// the machine (a load generator, a database).
    #[arg(long, env = "FERROX_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024),
          value_name = "N", help_heading = SERVING)]
    pub workers: Option<u16>,

    /// Time in-flight responses get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "FERROX_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration,
          value_name = "DURATION", help_heading = SERVING)]
    pub shutdown_timeout: Duration,

    /// Address of the admin listener: /health/live, /health/ready, /metrics
    /// (plain HTTP) [default: none].
    ///
    /// Bind it to loopback or a private address: it is for load balancers and
    /// monitoring, not for the public.
    #[arg(long, env = "FERROX_ADMIN", value_name = "ADDR:PORT", value_parser = parse_listen,
          help_heading = SERVING)]
    pub admin: Option<std::net::SocketAddr>,

    /// Time between SIGTERM and closing the listeners, still serving while
    /// /health/ready says 503 [default: 5s with --admin, else 0s].
    #[arg(long, env = "FERROX_DRAIN_DELAY", value_parser = parse_duration,
          value_name = "DURATION", help_heading = SERVING)]
    pub drain_delay: Option<Duration>,
    /// Started as root: become this user once the ports are bound.
    ///
    /// Before the roots are opened or any request is read. Started as root
    /// without it, ferrox refuses to serve on a network address (see
    /// --run-as-root); on loopback alone it serves.
    #[arg(long, env = "FERROX_USER", value_name = "NAME", help_heading = SERVING)]
    pub user: Option<String>,

    /// Serve as root on a network address (refused otherwise: use --user).
    #[arg(long, env = "FERROX_RUN_AS_ROOT", value_parser = BoolishValueParser::new(),
          help_heading = SERVING)]
    pub run_as_root: bool,

    /// Open the first address in the default browser once serving.
    #[arg(long, env = "FERROX_OPEN", value_parser = BoolishValueParser::new(),
          help_heading = SERVING)]
    pub open: bool,

    /// Print the first network address as a QR code, for a phone.
    ///
    /// Needs a listener on the network, such as -l 0.0.0.0:8080.
    #[arg(long, env = "FERROX_QR", value_parser = BoolishValueParser::new(),
          help_heading = SERVING)]
    pub qr: bool,

    /// Every connection starts with a PROXY protocol header (v1 or v2).
    ///
    /// For listeners behind a load balancer that sends one (HAProxy's
    /// send-proxy, send-proxy-v2): the header is required, read under the
    /// header timeout, and its source address is the client's. A connection
    /// without one is closed.
    #[arg(long, env = "FERROX_PROXY_PROTOCOL", value_parser = BoolishValueParser::new(),
          help_heading = SERVING)]
    pub proxy_protocol: bool,

    /// A proxy whose Forwarded and X-Forwarded-For are believed (address or
    /// CIDR); repeatable.
    ///
    /// The client is then the rightmost address of the chain that is not a
    /// trusted proxy; from any other peer those headers are ignored. In the
    /// environment, separate entries with ",".
    #[arg(long = "trusted-proxy", env = "FERROX_TRUSTED_PROXY", value_name = "CIDR",
          value_delimiter = ',', value_parser = parse_trusted_proxy, help_heading = SERVING)]
    pub trusted_proxy: Vec<String>,

    /// The header trusted proxies write the client into (only that one is
    /// read: the other would be the client's own).
    #[arg(long, env = "FERROX_FORWARDED_HEADER", value_enum,
          default_value_t = ForwardedHeaderArg::XForwardedFor, help_heading = SERVING)]
    pub forwarded_header: ForwardedHeaderArg,
    /// Development mode: `Cache-Control: no-cache` on every response, edits
    /// served at once, and open HTML pages reloaded when a file changes.
    ///
    /// HTML pages get a small script that listens on /__ferrox/live (server-sent
    /// events) and reloads the page when a file under the root changes. Not for
    /// production.
    #[arg(long, env = "FERROX_DEV", value_parser = BoolishValueParser::new(),
          help_heading = SERVING)]
    pub dev: bool,

    /// Do not send `Server: ferrox`.
    #[arg(long, env = "FERROX_NO_SERVER_HEADER", value_parser = BoolishValueParser::new(),
          help_heading = SERVING)]
    pub no_server_header: bool,

    /// Index file names tried in a directory, in order (comma-separated).
    #[arg(long, env = "FERROX_INDEX", value_delimiter = ',', default_value = "index.html",
          value_name = "NAMES", help_heading = FILES)]
    pub index: Vec<String>,

    /// Answer 404 instead of listing directories without an index file.
    #[arg(long, env = "FERROX_NO_LISTING", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub no_listing: bool,

    /// Serve and list dotfiles (names starting with `.`).
    #[arg(long, env = "FERROX_HIDDEN", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub hidden: bool,

    /// Let folders be downloaded as one archive: `DIR/?download=zip` or
    /// `DIR/?download=tar.gz`.
    #[arg(long, env = "FERROX_ARCHIVE", value_parser = BoolishValueParser::new(),
          help_heading = FILES)]
    pub archive: bool,

    /// Folder of custom error pages named by status (404.html, 500.html, ...).
    #[arg(long, env = "FERROX_ERROR_PAGES", value_name = "DIR", help_heading = FILES)]
    pub error_pages: Option<PathBuf>,

    /// Accept uploads: PUT /dir/name, and POST /dir/ with multipart/form-data.
    ///
    /// Needs --auth-file unless every listener is a loopback address.
    #[arg(long, env = "FERROX_UPLOAD", value_parser = BoolishValueParser::new(),
          help_heading = SHARING)]
    pub upload: bool,

    /// Let an upload replace an existing file (else 409 Conflict).
    #[arg(long, env = "FERROX_OVERWRITE", value_parser = BoolishValueParser::new(),
          help_heading = SHARING)]
    pub overwrite: bool,

    /// Accept MKCOL /dir/new/ to make folders (needs --auth-file).
    #[arg(long, env = "FERROX_MKDIR", value_parser = BoolishValueParser::new(),
          help_heading = SHARING)]
    pub mkdir: bool,

    /// Accept DELETE of files and empty folders (needs --auth-file).
    #[arg(long, env = "FERROX_DELETE", value_parser = BoolishValueParser::new(),
          help_heading = SHARING)]
    pub delete: bool,

    /// Largest uploaded file (a multipart request may add 64KiB of form).
    #[arg(long, env = "FERROX_UPLOAD_MAX_SIZE", default_value = "1GiB", value_parser = parse_size,
          value_name = "SIZE", help_heading = SHARING)]
    pub upload_max_size: u64,

    /// Basic authentication for every request, users from an htpasswd file
    /// (argon2id or bcrypt hashes; `ferrox hash-password` makes one).
    #[arg(long, env = "FERROX_AUTH_FILE", value_name = "PATH", help_heading = SHARING)]
    pub auth_file: Option<PathBuf>,

    /// Cache-Control for files that no rule or default covers.
    ///
    /// For example "public, max-age=3600".
    #[arg(long, env = "FERROX_CACHE_CONTROL", value_name = "VALUE", help_heading = CACHING)]
    pub cache_control: Option<String>,

    /// Cache-Control by pattern, as PATTERN=VALUE; first match wins; repeatable.
    ///
    /// A pattern without "/" matches the file name ("*.woff2", ".js"), one with
    /// "/" the path ("/assets/**"). In the environment, separate rules with ";".
    #[arg(long = "cache-rule", env = "FERROX_CACHE_RULE", value_name = "PATTERN=VALUE",
          value_delimiter = ';', help_heading = CACHING)]
    pub cache_rules: Vec<String>,

    /// Turn off the defaults: "immutable" for fingerprinted names, "no-cache" for HTML.
    #[arg(long, env = "FERROX_NO_CACHE_DEFAULTS", value_parser = BoolishValueParser::new(),
          help_heading = CACHING)]
    pub no_cache_defaults: bool,

    /// How ETags are made: from file metadata, or from a hash of the contents.
    #[arg(long, env = "FERROX_ETAG", value_enum, default_value_t = EtagArg::Metadata,
          help_heading = CACHING)]
    pub etag: EtagArg,

    /// How long an open file is trusted before its metadata is checked again
    /// (0: on every request) [default: 1s, with --dev 0].
    ///
    /// A file changed in place is served fresh at most this long after the change.
    #[arg(long, env = "FERROX_FILE_CACHE_VALID", value_parser = parse_duration,
          value_name = "DURATION", help_heading = CACHING)]
    pub file_cache_valid: Option<Duration>,

    /// Do not serve FILE.br, FILE.zst and FILE.gz in place of FILE.
    ///
    /// `ferrox precompress ROOT` writes them.
    #[arg(long, env = "FERROX_NO_PRECOMPRESSED", value_parser = BoolishValueParser::new(),
          help_heading = COMPRESSION)]
    pub no_precompressed: bool,

    /// Do not compress responses on the fly.
    #[arg(long, env = "FERROX_NO_COMPRESS", value_parser = BoolishValueParser::new(),
          help_heading = COMPRESSION)]
    pub no_compress: bool,

    /// Memory for compressed responses kept for repeat requests (0: none).
    #[arg(long, env = "FERROX_COMPRESS_CACHE_SIZE", default_value = "64MiB", value_parser = parse_size,
          value_name = "SIZE", help_heading = COMPRESSION)]
    pub compress_cache_size: u64,

    /// Smallest file compressed on the fly.
    #[arg(long, env = "FERROX_COMPRESS_MIN_SIZE", default_value = "1KiB", value_parser = parse_size,
          value_name = "SIZE", help_heading = COMPRESSION)]
    pub compress_min_size: u64,

    /// Largest file compressed on the fly.
    ///
    /// Larger ones are sent as they are, or from precompressed sidecars.
    #[arg(long, env = "FERROX_COMPRESS_MAX_SIZE", default_value = "8MiB", value_parser = parse_size,
          value_name = "SIZE", help_heading = COMPRESSION)]
    pub compress_max_size: u64,

    /// TLS certificate chain (PEM, leaf first); repeatable, paired with --tls-key.
    ///
    /// Paired in order with --tls-key; chosen by SNI, the first is the default.
    /// Every --listen address then serves HTTPS (default 127.0.0.1:8443).
    #[arg(long = "tls-cert", env = "FERROX_TLS_CERT", value_name = "FILE",
          value_delimiter = ',', help_heading = TLS)]
    pub tls_cert: Vec<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1), one per --tls-cert.
    #[arg(long = "tls-key", env = "FERROX_TLS_KEY", value_name = "FILE",
          value_delimiter = ',', help_heading = TLS)]
    pub tls_key: Vec<PathBuf>,

    /// Serve HTTPS with a certificate made at start-up (development only).
    ///
    /// The certificate covers localhost, 127.0.0.1 and ::1; its SHA-256
    /// fingerprint is printed at start-up.
    #[arg(long, env = "FERROX_TLS_SELF_SIGNED", value_parser = BoolishValueParser::new(),
          conflicts_with_all = ["tls_cert", "tls_key"], help_heading = TLS)]
    pub tls_self_signed: bool,

    /// Automatic HTTPS for DOMAIN (repeatable): a certificate from an ACME CA
    /// (Let's Encrypt by default), obtained and renewed by the server.
    ///
    /// Serves HTTPS on 0.0.0.0:443 and redirects plain HTTP from 0.0.0.0:80
    /// (--listen and --redirect-http move them). In the environment,
    /// separate names with ",".
    #[arg(long = "domain", env = "FERROX_DOMAIN", value_name = "DOMAIN", value_delimiter = ',',
          value_parser = parse_domain, conflicts_with_all = ["tls_cert", "tls_key", "tls_self_signed"],
          help_heading = TLS)]
    pub domain: Vec<String>,

    /// Contact address given to the ACME CA (expiry notices).
    #[arg(long, env = "FERROX_ACME_EMAIL", value_name = "ADDRESS", value_parser = parse_email,
          help_heading = TLS)]
    pub acme_email: Option<String>,

    /// The ACME CA's directory URL (default: Let's Encrypt).
    #[arg(long, env = "FERROX_ACME_DIRECTORY", value_name = "URL",
          value_parser = parse_acme_directory, help_heading = TLS)]
    pub acme_directory: Option<String>,

    /// A PEM root certificate to trust for the ACME directory (a test CA).
    #[arg(long, env = "FERROX_ACME_CA_ROOT", value_name = "FILE", help_heading = TLS)]
    pub acme_ca_root: Option<PathBuf>,

    /// Folder for what is kept across restarts: ACME accounts and
    /// certificates, the self-signed certificate.
    ///
    /// Default: $XDG_STATE_HOME/ferrox, else ~/.local/state/ferrox.
    #[arg(long, env = "FERROX_STATE_DIR", value_name = "DIR", help_heading = TLS)]
    pub state_dir: Option<PathBuf>,

    /// Deadline for a TLS handshake.
    #[arg(long, env = "FERROX_TLS_HANDSHAKE_TIMEOUT", default_value = "10s",
          value_parser = parse_positive_duration, value_name = "DURATION", help_heading = TLS)]
    pub tls_handshake_timeout: Duration,

    /// Also listen on ADDR:PORT for plain HTTP, redirecting to https (308).
    #[arg(long, env = "FERROX_REDIRECT_HTTP", value_name = "ADDR:PORT", value_parser = parse_listen,
          help_heading = TLS)]
    pub redirect_http: Option<std::net::SocketAddr>,

    /// Send Strict-Transport-Security: max-age=SECONDS on HTTPS responses.
    #[arg(long, env = "FERROX_HSTS", value_name = "SECONDS", help_heading = TLS)]
    pub hsts: Option<u64>,

    /// Connections open at once; beyond it, clients wait in the backlog.
    #[arg(long, env = "FERROX_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..), value_name = "N",
          help_heading = LIMITS)]
    pub max_connections: u32,

    /// Deadline for a whole request head, from the first byte (or from accept).
    #[arg(long, env = "FERROX_HEADER_TIMEOUT", default_value = "10s",
          value_parser = parse_positive_duration, value_name = "DURATION", help_heading = LIMITS)]
    pub header_timeout: Duration,

    /// Time a kept-alive connection may wait for its next request.
    #[arg(long, env = "FERROX_IDLE_TIMEOUT", default_value = "60s",
          value_parser = parse_positive_duration, value_name = "DURATION", help_heading = LIMITS)]
    pub idle_timeout: Duration,

    /// Time one write may wait for a client that stops reading.
    #[arg(long, env = "FERROX_SEND_TIMEOUT", default_value = "30s",
          value_parser = parse_positive_duration, value_name = "DURATION", help_heading = LIMITS)]
    pub send_timeout: Duration,

    /// Largest request head (request line and header fields), 1KiB to 1MiB.
    #[arg(long, env = "FERROX_MAX_HEADER_SIZE", default_value = "32KiB", value_parser = parse_head_size,
          value_name = "SIZE", help_heading = LIMITS)]
    pub max_header_size: usize,

    /// Most header fields in a request.
    #[arg(long, env = "FERROX_MAX_HEADERS", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..=crate::proto::h1::MAX_HEADERS_CAP as i64),
          value_name = "N", help_heading = LIMITS)]
    pub max_headers: u16,

    /// Largest request body read and discarded; larger ones get 413.
    #[arg(long, env = "FERROX_MAX_BODY_SIZE", default_value = "1MiB", value_parser = parse_size,
          value_name = "SIZE", help_heading = LIMITS)]
    pub max_body_size: u64,

    /// Requests served on one connection before it is closed (0: no cap).
    #[arg(long, env = "FERROX_MAX_REQUESTS_PER_CONNECTION", default_value_t = 1000,
          value_name = "N", help_heading = LIMITS)]
    pub max_requests_per_connection: u32,

    /// Ranges honoured in one request; more get the whole file (200).
    #[arg(long, env = "FERROX_MAX_RANGES", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1000), value_name = "N",
          help_heading = LIMITS)]
    pub max_ranges: u16,

    /// HTTP/2 streams a client may open at once on one connection.
    #[arg(long, env = "FERROX_H2_MAX_STREAMS", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=10_000), value_name = "N",
          help_heading = LIMITS)]
    pub h2_max_streams: u32,

    /// Access-log format (on stdout).
    #[arg(long, env = "FERROX_LOG_FORMAT", value_enum, default_value_t = LogFormatArg::Combined,
          help_heading = LOGGING)]
    pub log_format: LogFormatArg,

    /// No access log.
    #[arg(short = 'q', long, env = "FERROX_QUIET", value_parser = BoolishValueParser::new(),
          help_heading = LOGGING)]
    pub quiet: bool,

    /// Append the access log to FILE instead of stdout (reopened on SIGUSR1,
    /// for logrotate).
    #[arg(long, env = "FERROX_ACCESS_LOG", value_name = "FILE", help_heading = LOGGING)]
    pub access_log: Option<PathBuf>,

    /// Append diagnostics to FILE instead of stderr (reopened on SIGUSR1).
    #[arg(long, env = "FERROX_ERROR_LOG", value_name = "FILE", help_heading = LOGGING)]
    pub error_log: Option<PathBuf>,

    /// Diagnostics on stderr: off, error, warn, info, debug, trace, or a filter.
    ///
    /// A filter is comma-separated directives, each a level or TARGET=LEVEL,
    /// e.g. "warn,ferrox::server=debug".
    #[arg(long, env = "FERROX_LOG_LEVEL", default_value = "info", value_name = "LEVEL",
          value_parser = parse_log_level, help_heading = LOGGING)]
    pub log_level: String,
}

/// The headings that group the flags in `--help`, in the order they appear.
const SERVING: &str = "Serving";
const FILES: &str = "Files";
const SHARING: &str = "Sharing";
const CACHING: &str = "Caching";
const COMPRESSION: &str = "Compression";
const TLS: &str = "TLS";
const LIMITS: &str = "Limits";
const LOGGING: &str = "Logging";

/// After `-h`: the commonest uses, and where the rest is.
const AFTER_HELP: &str = "\
Examples:
  ferrox                         Serve this folder on http://127.0.0.1:8080/
  ferrox ./public -l 0.0.0.0:80  Serve ./public to the network
  ferrox -c ferrox.toml          Serve the sites of a configuration file

Every flag can also be set as FERROX_<FLAG>, e.g. FERROX_PORT=8000.
'ferrox --help' says more, with examples and the exit statuses.";

/// After `--help`: examples, the environment, and the exit statuses (the
/// table `main` follows).
const AFTER_LONG_HELP: &str = "\
Examples:
  ferrox                          Serve this folder on http://127.0.0.1:8080/
  ferrox ./public -l 0.0.0.0:80   Serve ./public to the network
  ferrox --tls-self-signed        HTTPS on https://127.0.0.1:8443/ for development
  ferrox --dev ./site             No caching; open pages reload when a file changes
  ferrox -c ferrox.toml           Serve the sites of a configuration file
  ferrox check ferrox.toml        Check that file without serving
  ferrox precompress ./public     Write .br, .zst and .gz beside compressible files
  ferrox completions bash > ~/.local/share/bash-completion/completions/ferrox
  ferrox man | man -l -

Environment:
  Every flag can also be set as FERROX_<FLAG> (FERROX_PORT=8000, FERROX_NO_LISTING=1).
  The command line beats the environment, which beats the configuration file.

Exit status:
  0  Stopped cleanly (SIGINT, SIGTERM), or a tool succeeded
  1  Could not start or failed: an address in use, a problem in the configuration
     file, a tool that failed (check found problems, precompress could not
     compress a file)
  2  Bad command line or environment: an unknown flag or subcommand, an invalid
     or missing value, a ROOT or --error-pages that is not a folder";

/// Tools that run instead of the server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a configuration file without serving.
    ///
    /// Every problem, one line each (file:line:column: key: what is wrong); exit
    /// status 0 when there is none, 1 otherwise.
    Check {
        /// The file (default: $FERROX_CONFIG, else ./ferrox.toml).
        file: Option<PathBuf>,
    },
    /// Print the argon2id hash of a password, for a site's users.
    ///
    /// The password is read from the terminal without echo (asked twice), or as
    /// one line from stdin when that is not a terminal; never from the command
    /// line, where other users of the machine could see it.
    HashPassword,
    /// Write FILE.br, FILE.zst and FILE.gz beside compressible files.
    ///
    /// Every compressible file under ROOT, at the highest sensible levels,
    /// skipping up-to-date ones and never keeping one that is not smaller; the
    /// server then serves them at no CPU cost.
    Precompress {
        /// Folder to compress.
        root: PathBuf,
        /// Smallest file compressed.
        #[arg(long, default_value = "1KiB", value_parser = parse_size, value_name = "SIZE")]
        min_size: u64,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0, value_name = "N")]
        jobs: usize,
    },
    /// Print a completion script for SHELL to stdout.
    ///
    /// For example, bash: `ferrox completions bash >
    /// ~/.local/share/bash-completion/completions/ferrox`; zsh: save it as
    /// `_ferrox` in a folder of $fpath; fish: `ferrox completions fish >
    /// ~/.config/fish/completions/ferrox.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout.
    ///
    /// Read it with `ferrox man | man -l -`, or install it as ferrox.1 in a
    /// man1 folder; `ferrox man check` prints ferrox-check(1), and so on.
    Man {
        /// A subcommand's page instead of ferrox(1).
        #[arg(value_parser = ["check", "hash-password", "precompress", "completions"])]
        subcommand: Option<String>,
    },
}

/// `--forwarded-header` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardedHeaderArg {
    /// `X-Forwarded-For` (HAProxy's option forwardfor, nginx, most CDNs).
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
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

/// The subcommand `word` (three letters or more) was likely meant to be: one
/// a typo away (`precompres`), or one it begins (`precomp`).
/// `None` for a subcommand's own name, and for anything further off.
pub fn similar_subcommand(word: &str) -> Option<String> {
    let cmd = <Args as clap::CommandFactory>::command();
    let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
    if names.contains(&word) {
        return None;
    }
    // Two letters are a folder's name as often as a typo.
    let lower = word.to_ascii_lowercase();
    if lower.chars().count() < 3 {
        return None;
    }
    let prefix = || names.iter().find(|n| n.starts_with(&lower)).copied();
    prefix()
        .or_else(|| super::file::closest(word, &names))
        .map(str::to_string)
}

/// `ADDR:PORT`, IPv6 as `[ADDR]:PORT`.
pub fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("expected ADDR:PORT such as 127.0.0.1:8080 or [::1]:8080, got '{s}'"))
}

/// A contact address for the ACME CA: the same check as `[server.acme]
/// email` (an `@`, no spaces; the CA checks the rest).
pub fn parse_email(s: &str) -> Result<String, String> {
    match s.contains('@') && !s.contains(char::is_whitespace) {
        true => Ok(s.to_string()),
        false => Err(format!("'{s}' is not an address")),
    }
}

/// An address or CIDR block for `--trusted-proxy`.
fn parse_trusted_proxy(s: &str) -> Result<String, String> {
    crate::site::forwarded::TrustedProxies::new(&[s.to_string()])
        .map(|_| s.to_string())
        .map_err(|e| {
            e.trim_start_matches(&format!("trusted proxy {s:?}: "))
                .to_string()
        })
}

/// A TCP port, 0 to 65535 (0: one the system picks).
pub fn parse_port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a port number from 0 to 65535".to_string())
}

/// A diagnostics filter, as [`crate::log::check_filter`] accepts.
pub fn parse_log_level(s: &str) -> Result<String, String> {
    crate::log::check_filter(s).map(|()| s.to_string())
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 10s, 500ms, 2m)"))
}

/// An ACME directory URL: `https://` (ACME requires it).
pub fn parse_acme_directory(s: &str) -> Result<String, String> {
    let s = s.trim();
    match s.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("https") && uri.host().is_some() => Ok(s.to_string()),
        Ok(_) => Err(format!(
            "'{s}' is not an https:// URL (ACME directories are https)"
        )),
        Err(e) => Err(format!("'{s}' is not a URL: {e}")),
    }
}

/// A DNS name an ACME CA can issue for by HTTP-01 or TLS-ALPN-01: letters,
/// digits and hyphens in dot-separated labels, no wildcard, lower-cased.
pub fn parse_domain(s: &str) -> Result<String, String> {
    let name = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.starts_with("*.") {
        return Err(format!(
            "'{s}': a wildcard needs the DNS-01 challenge, which ferrox does not do"
        ));
    }
    if name.len() > 253 || !name.contains('.') || !name.split('.').all(label_ok) {
        return Err(format!("'{s}' is not a domain name such as example.com"));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("'{s}' is an address, not a domain name"));
    }
    Ok(name)
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
    fn subcommand_suggestions() {
        let cases = [
            ("precompres", Some("precompress")),
            ("precomp", Some("precompress")),
            ("chek", Some("check")),
            ("Check", Some("check")),
            ("hashpassword", Some("hash-password")),
            ("completion", Some("completions")),
            ("mna", Some("man")),
            ("check", None),
            ("docs", None),
            ("ma", None),
            ("public", None),
        ];
        for (word, expected) in cases {
            assert_eq!(similar_subcommand(word).as_deref(), expected, "{word}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("8080"), Ok(8080));
        assert_eq!(parse_port("0"), Ok(0));
        assert!(parse_port("abc").is_err());
        assert!(parse_port("65536").is_err());
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
