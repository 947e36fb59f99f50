//! The walk over the spanned document: every table and value is checked, and
//! every problem kept, so one run reports them all. The value readers and
//! `[server]` are here; `[[site]]` is in `site.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use super::problem::{a_type, closest, join, unknown_key, LineIndex, Location, Problem};
use super::{FileConfig, Locations, LogFormatKey, ServerKeys};
use crate::config::raw::{self, EtagArg, ForwardedHeaderArg, RuntimeArg};

type Key<'i> = Spanned<DeString<'i>>;
pub(super) type Val<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &["server", "site"];

/// Keys of `[server]`.
pub(super) const SERVER_KEYS: &[&str] = &[
    "listen",
    "listen_tls",
    "max_connections",
    "shutdown_timeout",
    "header_timeout",
    "idle_timeout",
    "send_timeout",
    "tls_handshake_timeout",
    "max_header_size",
    "max_headers",
    "max_body_size",
    "max_requests_per_connection",
    "h2_max_streams",
    "server_header",
    "log_format",
    "access_log",
    "error_log",
    "log_level",
    "runtime",
    "workers",
    "compress_cache_size",
    "state_dir",
    "proxy_protocol",
    "trusted_proxies",
    "forwarded_header",
    "file_cache_valid",
    "dev",
    "admin",
    "drain_delay",
    "acme",
    "user",
    "run_as_root",
];

/// Keys of `[[site]]`.
pub(super) const SITE_KEYS: &[&str] = &[
    "hosts",
    "root",
    "default",
    "listen",
    "listen_tls",
    "index",
    "listing",
    "hidden",
    "archive",
    "upload",
    "overwrite",
    "mkdir",
    "delete",
    "upload_max_size",
    "error_pages",
    "cache_control",
    "cache_rules",
    "cache_defaults",
    "etag",
    "max_ranges",
    "precompressed",
    "compress",
    "compress_min_size",
    "compress_max_size",
    "tls",
    "hsts",
    "https_redirect",
    "headers",
    "security_headers",
    "cors",
    "auth",
    "allow",
    "deny",
    "route",
];

pub(super) const TLS_KEYS: &[&str] = &["cert", "key", "self_signed", "acme", "challenge"];

const LOG_FORMATS: &[(&str, LogFormatKey)] = &[
    ("combined", LogFormatKey::Combined),
    ("common", LogFormatKey::Common),
    ("json", LogFormatKey::Json),
    ("vhost_combined", LogFormatKey::VhostCombined),
];

const FORWARDED_HEADERS: &[(&str, ForwardedHeaderArg)] = &[
    ("x-forwarded-for", ForwardedHeaderArg::XForwardedFor),
    ("forwarded", ForwardedHeaderArg::Forwarded),
];

const RUNTIMES: &[(&str, RuntimeArg)] = &[
    ("work-stealing", RuntimeArg::WorkStealing),
    ("per-core", RuntimeArg::PerCore),
];

pub(super) const ETAGS: &[(&str, EtagArg)] = &[
    ("metadata", EtagArg::Metadata),
    ("content", EtagArg::Content),
];

/// Parses and checks a whole document.
pub(super) fn document(path: &Path, text: &str) -> Result<FileConfig, Vec<Problem>> {
    match document_partial(path, text) {
        (Some(config), problems) if problems.is_empty() => Ok(config),
        (_, problems) => Err(problems),
    }
}

/// Parses and checks a whole document: what could be read (nothing after a
/// syntax error; bad values left out), and every problem.
pub(super) fn document_partial(path: &Path, text: &str) -> (Option<FileConfig>, Vec<Problem>) {
    let mut w = Walker {
        file: path,
        base: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        lines: LineIndex::new(text),
        problems: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            // Nothing after a syntax error can be trusted: report it alone.
            let at = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().replace('\n', "; ");
            w.report(at, "", format!("TOML syntax: {message}"));
            return (None, w.problems);
        }
    };
    let mut config = FileConfig {
        path: path.to_path_buf(),
        server: ServerKeys::default(),
        sites: Vec::new(),
    };
    for (key, value) in entries(root.get_ref()) {
        let name: &str = key.get_ref();
        match name {
            "server" => config.server = w.server(value),
            "site" => config.sites = w.sites(value),
            _ => {
                let message = match (SERVER_KEYS.contains(&name), SITE_KEYS.contains(&name)) {
                    (true, true) => "unknown key; it belongs under [server] or [[site]]".into(),
                    (true, false) => "unknown key; it belongs under [server]".into(),
                    (false, true) => "unknown key; it belongs under [[site]]".into(),
                    (false, false) => unknown_key(name, TOP_KEYS),
                };
                w.report(key.span().start, &join("", name), message);
            }
        }
    }
    w.across_sites(&config);
    w.problems.sort_by_key(Problem::location);
    (Some(config), w.problems)
}

/// A table's entries in file order, whatever order the map keeps.
pub(super) fn entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Val<'i>)> {
    let mut all: Vec<_> = table.iter().collect();
    all.sort_by_key(|(k, _)| k.span().start);
    all
}

/// An integer's value; TOML integers are 64-bit, so this always fits.
pub(super) fn integer_of(value: &DeValue<'_>) -> Option<i128> {
    match value {
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

/// The items of a list, each with where it starts.
pub(super) type Located<T> = Vec<(T, Location)>;

/// Stores a list and each item's location (`listen[0]`, ...), returning the list.
pub(super) fn keep_list<T>(
    locations: &mut Locations,
    rel: &str,
    items: Option<Located<T>>,
) -> Option<Vec<T>> {
    let items = items?;
    let mut out = Vec::with_capacity(items.len());
    for (i, (item, loc)) in items.into_iter().enumerate() {
        locations.insert(format!("{rel}[{i}]"), loc);
        out.push(item);
    }
    Some(out)
}

pub(super) struct Walker<'t> {
    file: &'t Path,
    /// The folder relative paths are resolved against.
    base: PathBuf,
    lines: LineIndex<'t>,
    problems: Vec<Problem>,
}

impl Walker<'_> {
    pub(super) fn loc(&self, offset: usize) -> Location {
        self.lines.locate(offset)
    }

    pub(super) fn report(&mut self, offset: usize, key: &str, message: impl Into<String>) {
        let loc = self.loc(offset);
        self.report_at(loc, key, message);
    }

    pub(super) fn report_at(&mut self, loc: Location, key: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::at(self.file, loc, key, message));
    }

    pub(super) fn wrong_type<T>(&mut self, key: &str, v: &Val<'_>, expected: &str) -> Option<T> {
        let found = a_type(v.get_ref());
        self.report(
            v.span().start,
            key,
            format!("expected {expected}, found {found}"),
        );
        None
    }

    // ---- values -------------------------------------------------------------

    pub(super) fn table<'v, 'i>(
        &mut self,
        key: &str,
        v: &'v Val<'i>,
        expected: &str,
    ) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => self.wrong_type(key, v, expected),
        }
    }

    pub(super) fn boolean(&mut self, key: &str, v: &Val<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => self.wrong_type(key, v, "true or false"),
        }
    }

    pub(super) fn string<'v>(
        &mut self,
        key: &str,
        v: &'v Val<'_>,
        expected: &str,
    ) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => self.wrong_type(key, v, expected),
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn integer(&mut self, key: &str, v: &Val<'_>, min: i128, max: i128) -> Option<i128> {
        let expected = match min {
            0 => "a non-negative integer".to_string(),
            1 => "a positive integer".to_string(),
            _ => format!("an integer from {min} to {max}"),
        };
        let Some(n) = integer_of(v.get_ref()) else {
            return self.wrong_type(key, v, &expected);
        };
        let at = v.span().start;
        if n < min {
            match min {
                0 | 1 => self.report(at, key, format!("expected {expected}, found {n}")),
                _ => self.report(at, key, format!("must be at least {min}, found {n}")),
            }
            None
        } else if n > max {
            self.report(at, key, format!("must be at most {max}, found {n}"));
            None
        } else {
            Some(n)
        }
    }

    pub(super) fn u16_in(&mut self, key: &str, v: &Val<'_>, min: u16, max: u16) -> Option<u16> {
        let n = self.integer(key, v, min.into(), max.into())?;
        u16::try_from(n).ok()
    }

    pub(super) fn u32_in(&mut self, key: &str, v: &Val<'_>, min: u32, max: u32) -> Option<u32> {
        let n = self.integer(key, v, min.into(), max.into())?;
        u32::try_from(n).ok()
    }

    /// A string for `parse`, or an integer given to it as its decimal text.
    /// `what` names the kind for messages ("a duration such as \"10s\"").
    pub(super) fn textual<T>(
        &mut self,
        key: &str,
        v: &Val<'_>,
        what: (&str, &str),
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (noun, expected) = what;
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(_) => match integer_of(v.get_ref()) {
                Some(n) if n >= 0 => n.to_string(),
                Some(n) => {
                    self.report(
                        v.span().start,
                        key,
                        format!("expected {expected}, found {n}"),
                    );
                    return None;
                }
                None => return self.wrong_type(key, v, expected),
            },
            _ => return self.wrong_type(key, v, expected),
        };
        match parse(&text) {
            Ok(value) => Some(value),
            Err(e) => {
                let quoted = format!("'{}'", text.trim());
                let message = if e.contains(&quoted) {
                    e
                } else {
                    format!("invalid {noun} '{text}': {e}")
                };
                self.report(v.span().start, key, message);
                None
            }
        }
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        v: &Val<'_>,
        parse: fn(&str) -> Result<Duration, String>,
    ) -> Option<Duration> {
        let what = (
            "duration",
            "a duration such as \"10s\" or a number of seconds",
        );
        self.textual(key, v, what, parse)
    }

    pub(super) fn size<T>(
        &mut self,
        key: &str,
        v: &Val<'_>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let what = ("size", "a size such as \"32KiB\" or a number of bytes");
        self.textual(key, v, what, parse)
    }

    /// One of `options` by name; `-` and `_` count as the same.
    pub(super) fn choice<T: Copy>(
        &mut self,
        key: &str,
        v: &Val<'_>,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let list = names.join(", ");
        let s = self.string(key, v, &format!("one of: {list} (a string)"))?;
        let norm = |s: &str| s.replace('_', "-");
        if let Some((_, value)) = options.iter().find(|(n, _)| norm(n) == norm(s)) {
            return Some(*value);
        }
        let message = match closest(s, &names) {
            Some(best) => format!("unknown value '{s}'; did you mean '{best}'?"),
            None => format!("unknown value '{s}'; expected one of: {list}"),
        };
        self.report(v.span().start, key, message);
        None
    }

    /// A path, resolved against the folder of the file.
    pub(super) fn path(&mut self, key: &str, v: &Val<'_>) -> Option<PathBuf> {
        let s = self.string(key, v, "a path (a string)")?;
        if s.is_empty() {
            self.report(v.span().start, key, "empty path");
            return None;
        }
        if s.contains('\0') {
            self.report(v.span().start, key, "a path cannot contain a NUL character");
            return None;
        }
        Some(self.base.join(s))
    }

    /// An array (or one bare item) of whatever `item` reads. Every item is
    /// checked; `None` when any is wrong.
    pub(super) fn list<T>(
        &mut self,
        key: &str,
        v: &Val<'_>,
        expected: &str,
        mut item: impl FnMut(&mut Self, &str, &Val<'_>) -> Option<T>,
    ) -> Option<Located<T>> {
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, elem) in items.iter().enumerate() {
                    let elem_key = format!("{key}[{i}]");
                    match item(self, &elem_key, elem) {
                        Some(x) => out.push((x, self.loc(elem.span().start))),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            DeValue::String(_) => {
                let x = item(self, key, v)?;
                Some(vec![(x, self.loc(v.span().start))])
            }
            _ => self.wrong_type(key, v, expected),
        }
    }

    pub(super) fn address(&mut self, key: &str, v: &Val<'_>) -> Option<SocketAddr> {
        let s = self.string(key, v, "\"ADDR:PORT\" (a string)")?;
        match raw::parse_listen(s.trim()) {
            Ok(addr) => Some(addr),
            Err(e) => {
                self.report(v.span().start, key, e);
                None
            }
        }
    }

    pub(super) fn addresses(&mut self, key: &str, v: &Val<'_>) -> Option<Located<SocketAddr>> {
        self.list(key, v, "an array of \"ADDR:PORT\" strings", |w, key, v| {
            let s = w.string(key, v, "\"ADDR:PORT\" (a string)")?;
            match raw::parse_listen(s.trim()) {
                Ok(addr) => Some(addr),
                Err(e) => {
                    w.report(v.span().start, key, e);
                    None
                }
            }
        })
    }

    // ---- [server] -----------------------------------------------------------

    pub(super) fn server(&mut self, v: &Val<'_>) -> ServerKeys {
        let mut out = ServerKeys::default();
        let Some(table) = self.table("server", v, "a table ([server])") else {
            return out;
        };
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let key = join("server", name);
            let key = key.as_str();
            match name {
                "listen" => {
                    let items = self.addresses(key, v);
                    out.listen = keep_list(&mut out.locations, name, items);
                }
                "listen_tls" => {
                    let items = self.addresses(key, v);
                    out.listen_tls = keep_list(&mut out.locations, name, items);
                }
                "max_connections" => out.max_connections = self.u32_in(key, v, 1, u32::MAX),
                "shutdown_timeout" => {
                    out.shutdown_timeout = self.duration(key, v, raw::parse_duration);
                }
                "header_timeout" => {
                    out.header_timeout = self.duration(key, v, raw::parse_positive_duration);
                }
                "idle_timeout" => {
                    out.idle_timeout = self.duration(key, v, raw::parse_positive_duration);
                }
                "send_timeout" => {
                    out.send_timeout = self.duration(key, v, raw::parse_positive_duration);
                }
                "tls_handshake_timeout" => {
                    out.tls_handshake_timeout = self.duration(key, v, raw::parse_positive_duration);
                }
                "max_header_size" => out.max_header_size = self.size(key, v, raw::parse_head_size),
                "max_headers" => {
                    let cap = u16::try_from(crate::proto::h1::MAX_HEADERS_CAP).unwrap_or(u16::MAX);
                    out.max_headers = self.u16_in(key, v, 1, cap);
                }
                "max_body_size" => out.max_body_size = self.size(key, v, raw::parse_size),
                "max_requests_per_connection" => {
                    out.max_requests_per_connection = self.u32_in(key, v, 0, u32::MAX);
                }
                "h2_max_streams" => out.h2_max_streams = self.u32_in(key, v, 1, 10_000),
                "server_header" => out.server_header = self.boolean(key, v),
                "log_format" => out.log_format = self.choice(key, v, LOG_FORMATS),
                "access_log" => match v.get_ref() {
                    DeValue::String(_) => out.access_log_file = self.path(key, v),
                    _ => {
                        out.access_log = match v.get_ref() {
                            DeValue::Boolean(b) => Some(*b),
                            _ => self.wrong_type(key, v, "true, false or a file path"),
                        }
                    }
                },
                "error_log" => out.error_log = self.path(key, v),
                "log_level" => out.log_level = self.log_level(key, v),
                "runtime" => out.runtime = self.choice(key, v, RUNTIMES),
                "workers" => out.workers = self.u16_in(key, v, 1, 1024),
                "compress_cache_size" => {
                    out.compress_cache_size = self.size(key, v, raw::parse_size);
                }
                "state_dir" => out.state_dir = self.path(key, v),
                "proxy_protocol" => out.proxy_protocol = self.boolean(key, v),
                "trusted_proxies" => out.trusted_proxies = self.trusted_proxies(key, v),
                "forwarded_header" => {
                    out.forwarded_header = self.choice(key, v, FORWARDED_HEADERS);
                }
                "file_cache_valid" => {
                    out.file_cache_valid = self.duration(key, v, raw::parse_duration);
                }
                "dev" => out.dev = self.boolean(key, v),
                "admin" => out.admin = self.address(key, v),
                "drain_delay" => out.drain_delay = self.duration(key, v, raw::parse_duration),
                "acme" => out.acme = self.acme(key, v),
                "user" => {
                    out.user = self
                        .string(key, v, "a user name (a string)")
                        .map(str::to_string);
                }
                "run_as_root" => out.run_as_root = self.boolean(key, v),
                _ => {
                    self.report(k.span().start, key, unknown_key(name, SERVER_KEYS));
                    continue;
                }
            }
            out.locations
                .insert(name.to_string(), self.loc(v.span().start));
        }
        out
    }

    /// `trusted_proxies`: addresses and CIDR blocks, each checked.
    fn trusted_proxies(&mut self, key: &str, v: &Val<'_>) -> Option<Vec<String>> {
        let expected = "an array of addresses and CIDR blocks such as \"10.0.0.0/8\"";
        let items = self.list(key, v, expected, |w, key, v| {
            let s = w.string(key, v, "an address or CIDR block (a string)")?;
            match crate::site::forwarded::TrustedProxies::new(&[s.to_string()]) {
                Ok(_) => Some(s.to_string()),
                Err(e) => {
                    w.report(v.span().start, key, e);
                    None
                }
            }
        })?;
        Some(items.into_iter().map(|(s, _)| s).collect())
    }

    /// The same check `--log-level` and `log::init_tracing` make.
    pub(super) fn log_level(&mut self, key: &str, v: &Val<'_>) -> Option<String> {
        let s = self.string(key, v, "a level such as \"info\" (a string)")?;
        match crate::log::check_filter(s) {
            Ok(_) => Some(s.to_string()),
            Err(e) => {
                self.report(v.span().start, key, format!("invalid log level '{s}': {e}"));
                None
            }
        }
    }
}
