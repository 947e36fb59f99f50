//! Access-log records and their formats (combined, common, JSON), written by one
//! background thread through a bounded queue; the tracing set-up for
//! diagnostics on stderr or a file; and [`file`], log files that logrotate can
//! rotate (reopened on SIGUSR1).
//!
//! A slow stdout never stalls a request: when the queue is full, lines are dropped
//! and counted, and the count is reported on stderr.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod file;

use file::LogFile;

/// Lines waiting for the writer thread before new ones are dropped. At a typical
/// 150 bytes a line this bounds the queue near 2 MiB.
pub const QUEUE_LINES: usize = 16 * 1024;

/// The access-log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// NCSA combined: common plus referer and user agent.
    #[default]
    Combined,
    /// NCSA common log format.
    Common,
    /// One JSON object a line.
    Json,
    /// Apache's `vhost_combined`: `host:port` of the site, then combined.
    VhostCombined,
}

/// One request as the access log sees it. Every field from the client is escaped
/// when formatted, so no request can forge or split a log line.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The client's address.
    pub peer: SocketAddr,
    /// The host the request named (without its port), if any.
    pub vhost: Option<&'a str>,
    /// The port of the listener that took the connection.
    pub port: u16,
    /// Request method, empty when the head could not be parsed.
    pub method: &'a str,
    /// Request target as sent.
    pub target: &'a str,
    /// `HTTP/1.1` and the like.
    pub protocol: &'a str,
    /// Status code sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// `Referer`, if any.
    pub referer: Option<&'a [u8]>,
    /// `User-Agent`, if any.
    pub user_agent: Option<&'a [u8]>,
    /// Time from the request's first byte to the response's last.
    pub duration: Duration,
    /// When the response finished.
    pub time: SystemTime,
}

/// The access log: cheap to clone, one writer thread behind it.
#[derive(Clone, Default)]
pub struct AccessLog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    format: LogFormat,
    queue: SyncSender<String>,
    dropped: AtomicU64,
    reported: AtomicU64,
}

impl AccessLog {
    /// A log that records nothing (`--quiet`).
    pub fn disabled() -> Self {
        AccessLog { inner: None }
    }

    /// A log written to stdout.
    pub fn stdout(format: LogFormat) -> io::Result<Self> {
        Self::to_writer(io::stdout(), format, QUEUE_LINES)
    }

    /// A log appended to the file at `path` (reopened on SIGUSR1).
    pub fn file(path: &std::path::Path, format: LogFormat) -> io::Result<Self> {
        Self::to_writer(LogFile::open(path)?, format, QUEUE_LINES)
    }

    /// A log written to any sink by a background thread, queueing at most
    /// `capacity` lines.
    pub fn to_writer<W: Write + Send + 'static>(
        sink: W,
        format: LogFormat,
        capacity: usize,
    ) -> io::Result<Self> {
        let (queue, lines) = sync_channel::<String>(capacity);
        std::thread::Builder::new()
            .name("ferrox-access-log".into())
            .spawn(move || {
                let mut out = io::BufWriter::with_capacity(64 * 1024, sink);
                while let Ok(line) = lines.recv() {
                    let mut ok = out.write_all(line.as_bytes()).is_ok();
                    // Flush only when the queue runs dry: one write per burst.
                    while let Ok(line) = lines.try_recv() {
                        ok &= out.write_all(line.as_bytes()).is_ok();
                    }
                    if !(ok && out.flush().is_ok()) {
                        tracing::error!("access log: cannot write; stopping the access log");
                        return;
                    }
                }
            })?;
        Ok(AccessLog {
            inner: Some(Arc::new(Inner {
                format,
                queue,
                dropped: AtomicU64::new(0),
                reported: AtomicU64::new(0),
            })),
        })
    }

    /// Whether records are written at all.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Lines dropped so far because the sink was too slow.
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.dropped.load(Ordering::Relaxed))
    }

    /// Queues one record; never blocks.
    pub fn record(&self, record: &Record<'_>) {
        let Some(inner) = &self.inner else { return };
        let line = format_line(inner.format, record);
        match inner.queue.try_send(line) {
            Ok(()) => {
                let dropped = inner.dropped.load(Ordering::Relaxed);
                if dropped > inner.reported.swap(dropped, Ordering::Relaxed) {
                    tracing::warn!(
                        dropped,
                        "access log: stdout is too slow; lines were dropped"
                    );
                }
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Formats one line, newline included.
pub fn format_line(format: LogFormat, r: &Record<'_>) -> String {
    let mut line = String::with_capacity(192);
    let request_line = |line: &mut String| {
        if r.method.is_empty() {
            line.push('-');
        } else {
            escape(line, r.method.as_bytes());
            line.push(' ');
            escape(line, r.target.as_bytes());
            line.push(' ');
            line.push_str(r.protocol);
        }
    };
    match format {
        LogFormat::Common | LogFormat::Combined | LogFormat::VhostCombined => {
            if format == LogFormat::VhostCombined {
                match r.vhost {
                    Some(host) => escape(&mut line, host.as_bytes()),
                    None => line.push('-'),
                }
                let _ = write!(line, ":{} ", r.port);
            }
            let _ = write!(line, "{} - - [", r.peer.ip());
            clf_time(&mut line, r.time);
            line.push_str("] \"");
            request_line(&mut line);
            let _ = write!(line, "\" {} {}", r.status, r.bytes);
            if format != LogFormat::Common {
                for field in [r.referer, r.user_agent] {
                    line.push_str(" \"");
                    match field {
                        Some(v) => escape(&mut line, v),
                        None => line.push('-'),
                    }
                    line.push('"');
                }
            }
        }
        LogFormat::Json => {
            let text = |v: Option<&[u8]>| v.map(|b| String::from_utf8_lossy(b).into_owned());
            let secs = r
                .time
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let object = serde_json::json!({
                "time": secs,
                "remote": r.peer.ip().to_string(),
                "vhost": r.vhost,
                "method": r.method,
                "target": r.target,
                "protocol": r.protocol,
                "status": r.status,
                "bytes": r.bytes,
                "referer": text(r.referer),
                "user_agent": text(r.user_agent),
                "duration_ms": r.duration.as_secs_f64() * 1000.0,
            });
            line.push_str(&object.to_string());
        }
    }
    line.push('\n');
    line
}

/// Like nginx: `"`, `\`, control and non-ASCII bytes become `\xHH`.
fn escape(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}

/// `10/Oct/2000:13:55:36 +0000`, in UTC.
fn clf_time(out: &mut String, time: SystemTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let month = MONTHS.get(month as usize - 1).unwrap_or(&"Jan");
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{day:02}/{month}/{year}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), after Howard Hinnant's
/// public-domain `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The levels a diagnostics filter may name alone, quietest first.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a diagnostics filter: a level, or comma-separated directives such
/// as `info,ferrox::server=debug`. A bare word that is no level is refused:
/// `EnvFilter` would read `loud` as "everything from the target `loud`",
/// which no event has, and silently hide every diagnostic.
pub fn check_filter(filter: &str) -> Result<(), String> {
    let mut directives = filter.split(',').map(str::trim).filter(|d| !d.is_empty());
    let Some(first) = directives.next() else {
        return Err(format!("empty: use a level ({})", LEVELS.join(", ")));
    };
    for directive in std::iter::once(first).chain(directives) {
        let bare = !directive.contains(['=', '[']);
        if bare && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(directive)) {
            return Err(format!(
                "'{directive}' is neither a level ({}) nor a TARGET=LEVEL directive",
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Sets up diagnostics at `level` (a filter [`check_filter`] accepts, such
/// as `info` or `ferrox=debug`), on stderr or appended to `file`.
pub fn init_tracing(level: &str, file: Option<&std::path::Path>) -> Result<(), String> {
    check_filter(level)?;
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match file {
        Some(path) => {
            let log = LogFile::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            builder
                .with_writer(move || log.clone())
                .with_ansi(false)
                .try_init()
        }
        None => builder
            .with_writer(io::stderr)
            .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
            .try_init(),
    }
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        for ok in [
            "info",
            "WARN",
            "off",
            "info,ferrox=debug",
            "ferrox::server=trace",
            "[conn]=debug",
        ] {
            assert_eq!(check_filter(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_filter("loud"),
            Err("'loud' is neither a level (off, error, warn, info, debug, trace) nor a TARGET=LEVEL directive".into())
        );
        assert!(check_filter("info,loud").is_err());
        assert!(check_filter(" , ").is_err());
        assert!(check_filter("ferrox=loud").is_err());
        assert!(check_filter("info,[").is_err());
    }
    use std::sync::{Arc, Mutex};

    fn record<'a>() -> Record<'a> {
        Record {
            peer: "127.0.0.1:5000".parse().unwrap(),
            vhost: Some("example.com"),
            port: 8080,
            method: "GET",
            target: "/a\"b",
            protocol: "HTTP/1.1",
            status: 200,
            bytes: 12,
            referer: None,
            user_agent: Some(b"curl\n\"x\""),
            duration: Duration::from_millis(3),
            time: UNIX_EPOCH + Duration::from_secs(971_211_336),
        }
    }

    #[test]
    fn combined_escapes_client_bytes() {
        assert_eq!(
            format_line(LogFormat::Combined, &record()),
            "127.0.0.1 - - [10/Oct/2000:20:55:36 +0000] \"GET /a\\x22b HTTP/1.1\" 200 12 \"-\" \"curl\\x0A\\x22x\\x22\"\n"
        );
        assert_eq!(
            format_line(LogFormat::Common, &record()),
            "127.0.0.1 - - [10/Oct/2000:20:55:36 +0000] \"GET /a\\x22b HTTP/1.1\" 200 12\n"
        );
        assert_eq!(
            format_line(LogFormat::VhostCombined, &record()),
            "example.com:8080 127.0.0.1 - - [10/Oct/2000:20:55:36 +0000] \"GET /a\\x22b HTTP/1.1\" 200 12 \"-\" \"curl\\x0A\\x22x\\x22\"\n"
        );
        let no_host = Record {
            vhost: None,
            ..record()
        };
        assert!(format_line(LogFormat::VhostCombined, &no_host).starts_with("-:8080 127.0.0.1 "));
    }

    #[test]
    fn json_is_one_valid_line() {
        let line = format_line(LogFormat::Json, &record());
        assert_eq!(line.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["vhost"], "example.com");
        assert_eq!(v["user_agent"], "curl\n\"x\"");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
    }

    /// A sink that blocks until released, standing in for a stalled stdout.
    struct Stalled(Arc<Mutex<()>>);
    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _held = self.0.lock();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_drops_lines_instead_of_blocking() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let log = AccessLog::to_writer(Stalled(gate.clone()), LogFormat::Common, 4).unwrap();
        // BufWriter absorbs small writes, so push until the queue itself is full.
        let line_len = format_line(LogFormat::Common, &record()).len();
        let n = 64 * 1024 / line_len + 64;
        for _ in 0..n {
            log.record(&record());
        }
        assert!(log.dropped() > 0, "nothing was dropped");
        assert!(log.dropped() < n as u64);
        drop(held);
    }
}
