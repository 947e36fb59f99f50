//! Development mode (`--dev`): what a site sends differently, so that a page
//! open in a browser always shows the files as they are now.
//!
//! - `Cache-Control: no-cache` on every response (over cache rules and
//!   defaults), so the browser asks again each time;
//! - HTML files (up to [`MAX_INJECT_BYTES`]), listings and error pages get
//!   [`SCRIPT`] before their last `</body>` (at the end when there is none): it
//!   opens an `EventSource` on [`LIVE_PATH`] and reloads the page on a
//!   `reload` event. An injected file is its own representation: a weak ETag
//!   (the bytes are not the file's), identity only (no precompressed sidecar,
//!   no on-the-fly compression: neither has the script), ranges computed on
//!   the injected bytes;
//! - [`LIVE_PATH`] answers with a server-sent-event stream that says `reload`
//!   when the [`LiveHub`] is told that a file changed (the server's watcher
//!   tells it). It says only that something changed, so the server answers it
//!   before the site's routes, access rules and auth. Streams are bounded in number ([`MAX_LIVE_STREAMS`]; more get
//!   503) and end when the hub is closed at shutdown, so that draining never
//!   waits on one.
//!
//! The hub holds one value, not a queue: a burst of changes while a stream is
//! busy becomes one event.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::Handler;
use crate::body::{Body, ChunkStream};
use crate::response::Reply;

/// The path of the live-reload event stream: under a prefix no site is
/// likely to have (it is answered before the site's routes and files).
pub const LIVE_PATH: &str = "/__ferrox/live";

/// HTML files larger than this are served as they are, without the script:
/// an injected file is read whole into memory for each response.
pub const MAX_INJECT_BYTES: u64 = 8 << 20;

/// Event streams open at once: each holds a connection (and, on HTTP/1.1,
/// one of a browser's six per host), and a page opens one per tab.
pub const MAX_LIVE_STREAMS: usize = 64;

/// A comment sent on an idle stream this often, so that a stream whose
/// client has gone is noticed (the write fails) and its slot freed.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The live-reload code, without its `<script>` tags.
macro_rules! live_js {
    () => {
        "(()=>{const s=new EventSource(\"/__ferrox/live\");\
s.addEventListener(\"reload\",()=>{s.close();location.reload();});})();"
    };
}

/// The live-reload code alone, for a page that runs it inside its own script
/// (a listing, whose policy allows only scripts with its nonce).
pub const LIVE_JS: &str = live_js!();

/// What HTML pages get: reloads the page on a `reload` event.
pub const SCRIPT: &str = concat!(
    "<script>/* ferrox --dev: live reload */",
    live_js!(),
    "</script>"
);

/// The first bytes of every stream: reconnect after a second when the
/// connection drops (a restarted server), and a comment to say it is open.
const HELLO: &[u8] = b"retry: 1000\n: ferrox live reload\n\n";

/// The heartbeat comment.
const PING: &[u8] = b": ping\n\n";

/// The hub's value: how many changes so far, and whether it is closed.
#[derive(Debug, Clone, Copy, Default)]
struct Pulse {
    changes: u64,
    closed: bool,
}

/// Where file changes meet the open event streams. Cheap to clone; clones
/// share everything.
#[derive(Debug, Clone)]
pub struct LiveHub(Arc<Hub>);

#[derive(Debug)]
struct Hub {
    pulse: watch::Sender<Pulse>,
    streams: Arc<Semaphore>,
    watcher_claimed: AtomicBool,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub(Arc::new(Hub {
            pulse: watch::Sender::new(Pulse::default()),
            streams: Arc::new(Semaphore::new(MAX_LIVE_STREAMS)),
            watcher_claimed: AtomicBool::new(false),
        }))
    }
}

impl LiveHub {
    /// A hub with no streams.
    pub fn new() -> LiveHub {
        LiveHub::default()
    }

    /// A file changed: every open stream sends one `reload` event (one for
    /// any number of calls before it gets to send).
    pub fn changed(&self) {
        self.0.pulse.send_modify(|p| p.changes += 1);
    }

    /// Ends every open stream, and every stream opened from now on at once
    /// (shutdown).
    pub fn close(&self) {
        self.0.pulse.send_modify(|p| p.closed = true);
    }

    /// Whether [`LiveHub::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.0.pulse.borrow().closed
    }

    /// True for the first caller only: that one runs the watcher (one per
    /// process, however many runtimes serve).
    pub fn claim_watcher(&self) -> bool {
        !self.0.watcher_claimed.swap(true, Ordering::AcqRel)
    }

    /// Event streams open now.
    pub fn open_streams(&self) -> usize {
        MAX_LIVE_STREAMS.saturating_sub(self.0.streams.available_permits())
    }

    /// A new event stream, or `None` at [`MAX_LIVE_STREAMS`].
    fn subscribe(&self) -> Option<Body> {
        let permit = self.0.streams.clone().try_acquire_owned().ok()?;
        let state = Subscriber {
            pulse: self.0.pulse.subscribe(),
            heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT),
            hello: true,
            _permit: permit,
        };
        let events = stream::unfold(state, |mut s| async move {
            if std::mem::take(&mut s.hello) {
                return Some((Ok(Bytes::from_static(HELLO)), s));
            }
            if s.pulse.borrow().closed {
                return None;
            }
            tokio::select! {
                changed = s.pulse.changed() => {
                    let now = *s.pulse.borrow_and_update();
                    match (changed, now.closed) {
                        (Ok(()), false) => {
                            let event = format!("event: reload\ndata: {}\n\n", now.changes);
                            Some((Ok(Bytes::from(event)), s))
                        }
                        // Closed, or the hub is gone: the end of the stream.
                        _ => None,
                    }
                }
                _ = s.heartbeat.tick() => Some((Ok(Bytes::from_static(PING)), s)),
            }
        });
        Some(Body::Stream(Box::pin(Events(Box::pin(events)))))
    }
}

/// One stream's state; the permit frees its slot when the stream is dropped.
struct Subscriber {
    pulse: watch::Receiver<Pulse>,
    heartbeat: tokio::time::Interval,
    hello: bool,
    _permit: OwnedSemaphorePermit,
}

/// The event stream as a body.
struct Events(Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>);

impl ChunkStream for Events {
    fn poll_chunk(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Bytes>>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// A body of unknown length that ends at once: HEAD of the event stream.
struct Ended;

impl ChunkStream for Ended {
    fn poll_chunk(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        Poll::Ready(None)
    }
}

/// Whether a Content-Type is HTML's.
pub fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/html")
}

/// `html` with [`SCRIPT`] before its last `</body` (any case), or at the end.
pub fn inject(html: &[u8]) -> Bytes {
    const CLOSE: &[u8] = b"</body";
    let at = html
        .windows(CLOSE.len())
        .rposition(|w| w.eq_ignore_ascii_case(CLOSE))
        .unwrap_or(html.len());
    let (before, after) = html.split_at_checked(at).unwrap_or((html, &[]));
    let mut out = Vec::with_capacity(html.len() + SCRIPT.len());
    out.extend_from_slice(before);
    out.extend_from_slice(SCRIPT.as_bytes());
    out.extend_from_slice(after);
    Bytes::from(out)
}

/// The ETag of an injected file: weak (its bytes are not the file's, and
/// may change with the server's version), and distinct from the file's.
/// `"abc"` → `W/"abc-live"`.
pub fn injected_tag(tag: &HeaderValue) -> HeaderValue {
    let text = tag.to_str().unwrap_or("\"\"");
    let opaque = text.strip_prefix("W/").unwrap_or(text);
    let inner = opaque.trim_matches('"');
    HeaderValue::from_str(&format!("W/\"{inner}-live\""))
        .unwrap_or(HeaderValue::from_static("W/\"live\""))
}

/// Injects the script into a response held in memory whose type is HTML (a
/// listing, an error page); anything else is left as it is.
pub fn inject_response(response: &mut Response<Body>) {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_html);
    if !html || response.headers().contains_key(header::CONTENT_ENCODING) {
        return;
    }
    if let Body::Bytes(bytes) = response.body() {
        let injected = inject(bytes);
        *response.body_mut() = Body::Bytes(injected);
    }
}

impl Handler {
    /// Whether this handler serves in development mode.
    pub fn dev(&self) -> bool {
        self.options.dev
    }

    /// In development mode, `Cache-Control: no-cache` on `reply`, whatever
    /// a rule, a default or a route said.
    pub fn dev_finish(&self, reply: &mut Reply) {
        const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
        if self.options.dev && reply.get(&header::CACHE_CONTROL) != Some(&NO_CACHE) {
            reply.insert(header::CACHE_CONTROL, NO_CACHE);
        }
    }

    /// In development mode, the answer to GET or HEAD of [`LIVE_PATH`]: the
    /// event stream, or 503 when [`MAX_LIVE_STREAMS`] are open. `None` for
    /// any other request.
    pub fn live_events(&self, req: &Request<()>) -> Option<Response<Body>> {
        let method = req.method();
        if !self.options.dev
            || req.uri().path() != LIVE_PATH
            || !(method == Method::GET || method == Method::HEAD)
        {
            return None;
        }
        let body = if method == Method::HEAD {
            Body::Stream(Box::pin(Ended))
        } else {
            match self.live.subscribe() {
                Some(body) => body,
                None => {
                    tracing::warn!(
                        open = MAX_LIVE_STREAMS,
                        "live reload: too many event streams open: 503"
                    );
                    return Some(self.error_response(StatusCode::SERVICE_UNAVAILABLE));
                }
            }
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Proxies that buffer responses (nginx) would hold the events back.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_goes_before_the_last_body_end_tag_or_at_the_end() {
        let cases: &[(&str, &str)] = &[
            (
                "<html><body>hi</body></html>",
                "<html><body>hi{S}</body></html>",
            ),
            ("<BODY>a</BODY >\n", "<BODY>a{S}</BODY >\n"),
            ("<p>x</body><p>y</body>", "<p>x</body><p>y{S}</body>"),
            ("<p>no end tag", "<p>no end tag{S}"),
            ("", "{S}"),
            ("</bod", "</bod{S}"),
        ];
        for (html, want) in cases {
            let want = want.replace("{S}", SCRIPT);
            let got = inject(html.as_bytes());
            assert_eq!(String::from_utf8_lossy(&got), want, "{html:?}");
        }
    }

    #[test]
    fn html_types_and_injected_tags() {
        assert!(is_html("text/html; charset=utf-8"));
        assert!(is_html("TEXT/HTML"));
        assert!(!is_html("text/css; charset=utf-8"));
        assert!(!is_html("application/xhtml+xml"));
        let tag = |s: &'static str| injected_tag(&HeaderValue::from_static(s));
        assert_eq!(tag("\"1-2-3\""), "W/\"1-2-3-live\"");
        assert_eq!(tag("W/\"x\""), "W/\"x-live\"");
    }

    async fn next(body: &mut Body) -> Option<String> {
        let Body::Stream(stream) = body else {
            panic!("not a stream: {body:?}");
        };
        let chunk = std::future::poll_fn(|cx| stream.as_mut().poll_chunk(cx));
        let chunk = tokio::time::timeout(Duration::from_secs(5), chunk)
            .await
            .expect("no chunk within 5 s")?;
        Some(String::from_utf8(chunk.unwrap().to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_burst_is_one_event_streams_are_bounded_and_end_at_close() {
        let hub = LiveHub::new();
        let mut body = hub.subscribe().unwrap();
        assert_eq!(
            next(&mut body).await.unwrap(),
            String::from_utf8_lossy(HELLO)
        );
        for _ in 0..1000 {
            hub.changed();
        }
        assert_eq!(
            next(&mut body).await.unwrap(),
            "event: reload\ndata: 1000\n\n"
        );
        let mut more: Vec<Body> = (1..MAX_LIVE_STREAMS)
            .map(|_| hub.subscribe().unwrap())
            .collect();
        assert_eq!(hub.open_streams(), MAX_LIVE_STREAMS);
        assert!(hub.subscribe().is_none(), "one stream over the bound");
        more.pop();
        assert!(hub.subscribe().is_some(), "a dropped stream frees its slot");
        hub.close();
        assert!(next(&mut body).await.is_none(), "closed: the stream ends");
        let mut late = hub.subscribe().unwrap();
        assert!(next(&mut late).await.is_some(), "hello");
        assert!(next(&mut late).await.is_none(), "then the end, at once");
        assert!(hub.claim_watcher());
        assert!(!hub.claim_watcher());
    }
}
