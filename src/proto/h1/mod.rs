//! Our HTTP/1.1 engine: [`parse`] turns bytes into heads, [`encode`] turns
//! responses into bytes, [`io`] moves them, and [`conn`] runs a connection.

pub mod chunked;
pub mod conn;
pub mod encode;
mod io;
pub mod parse;
mod pool;
mod rewind;

use std::time::Duration;

pub use conn::{serve, serve_detecting_h2, Ended};
pub use parse::{HeadLimits, ParseError, MAX_HEADERS_CAP};
pub use rewind::Rewind;

/// Every limit and timeout of an HTTP/1.1 connection.
#[derive(Debug, Clone)]
pub struct Options {
    /// Size and field-count limits on a request head.
    pub head: HeadLimits,
    /// Largest request body read (and discarded); larger ones get 413 and a close.
    pub max_body_bytes: u64,
    /// Deadline for a whole head (and for a body), from accept for the first
    /// request and from its first byte for later ones: this stops slowloris.
    pub head_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// How long one write may wait for a client that stops reading.
    pub send_timeout: Duration,
    /// Requests served on one connection before it is closed; 0 for no cap.
    pub max_requests: u32,
    /// Whether responses carry `Server: ferrox`.
    pub server_header: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            head: HeadLimits::default(),
            max_body_bytes: 1024 * 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            max_requests: 1000,
            server_header: true,
        }
    }
}
