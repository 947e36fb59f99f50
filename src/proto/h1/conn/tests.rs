//! The connection over an in-memory pipe: raw request bytes in, the exact
//! response bytes out (the Date value masked, as `<date>`).
//!
//! Every test runs twice ([`each`]): against a service that answers what it
//! has in memory from `call_now` (the path without a future) and against one
//! that answers everything from `call`. The bytes must be the same.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use tokio::io::{
    duplex, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf,
};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

use super::{serve, serve_detecting_h2, Ended};
use crate::body::{Body, ChunkStream, FileSlice, Part, RequestBody};
use crate::proto::date::DATE_LEN;
use crate::proto::h1::Options;
use crate::proto::{plain_error, BodyPolicy, Service, Signal, Transport};
use crate::response::Reply;

/// How long any one step of a test may take before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- the services

/// `n` from a `?n=...` query, 0 without one.
fn query_n(req: &Request<()>) -> usize {
    req.uri()
        .query()
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn text(body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// Chunks handed out one by one.
struct Chunks(Vec<&'static str>);

impl ChunkStream for Chunks {
    fn poll_chunk(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<std::io::Result<Bytes>>> {
        Poll::Ready(match self.0.is_empty() {
            true => None,
            false => Some(Ok(Bytes::from_static(self.0.remove(0).as_bytes()))),
        })
    }
}

/// `n` bytes of a file (copied, as on any transport without sendfile).
fn file(n: usize) -> Body {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(&vec![b'f'; n]).unwrap();
    Body::File(FileSlice {
        file: Arc::new(f),
        offset: 0,
        len: n as u64,
    })
}

/// Every route whose answer is in memory; `None` for `/slow`, which waits.
fn in_memory(req: &Request<()>) -> Option<Response<Body>> {
    let response = match req.uri().path() {
        "/hello" => text("hello world"),
        "/big" => text(Bytes::from(vec![b'x'; query_n(req)])),
        "/file" => text(file(query_n(req))),
        "/parts" => text(Body::Parts(vec![
            Part::Bytes(Bytes::from_static(b"<")),
            Part::File(match file(3) {
                Body::File(slice) => slice,
                _ => unreachable!(),
            }),
            Part::Bytes(Bytes::from_static(b">")),
        ])),
        "/stream" => text(Body::Stream(Box::pin(Chunks(vec!["one,", "", "two"])))),
        "/slow" => return None,
        _ => plain_error(StatusCode::NOT_FOUND),
    };
    Some(response)
}

/// Answers everything from `call` (its `call_now` is the trait's default),
/// counting the calls.
struct ByCall {
    calls: Arc<AtomicUsize>,
}

impl Service for ByCall {
    fn body_policy(&self, req: &Request<()>) -> BodyPolicy {
        taken_policy(req)
    }

    async fn call_with_body<'a>(
        &'a self,
        req: &'a Request<()>,
        body: RequestBody<'a>,
    ) -> Response<Body> {
        take_body(&self.calls, req, body).await
    }

    async fn call<'a>(&'a self, req: &'a Request<()>) -> Response<Body> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match in_memory(req) {
            Some(response) => response,
            None => {
                sleep(Duration::from_millis(query_n(req) as u64)).await;
                text("done")
            }
        }
    }
}

/// The body limit of `PUT /echo` and `PUT /refuse`.
const TAKEN_LIMIT: u64 = 100;

/// What a service that reads bodies counts in `calls` for a body that broke
/// off (on top of the call itself).
const SAW_BODY_ERROR: usize = 100;

/// PUT bodies go to the service (`/echo` reads them, `/refuse` answers 403
/// without reading).
fn taken_policy(req: &Request<()>) -> BodyPolicy {
    match *req.method() == http::Method::PUT {
        true => BodyPolicy::Read { limit: TAKEN_LIMIT },
        false => BodyPolicy::Discard,
    }
}

/// `/echo` answers "got N: BYTES" once the whole body is read.
async fn take_body(
    calls: &AtomicUsize,
    req: &Request<()>,
    mut body: RequestBody<'_>,
) -> Response<Body> {
    calls.fetch_add(1, Ordering::Relaxed);
    if req.uri().path() != "/echo" {
        return plain_error(StatusCode::FORBIDDEN);
    }
    let mut got = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => got.extend_from_slice(&chunk),
            Err(_) => {
                calls.fetch_add(SAW_BODY_ERROR, Ordering::Relaxed);
                return text("broken");
            }
        }
    }
    text(format!(
        "got {}: {}",
        got.len(),
        String::from_utf8_lossy(&got)
    ))
}

/// Answers what it has in memory from `call_now`, the rest from `call`.
struct ByCallNow(ByCall);

impl Service for ByCallNow {
    fn call<'a>(
        &'a self,
        req: &'a Request<()>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        self.0.call(req)
    }

    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        in_memory(req).map(Reply::from)
    }

    fn body_policy(&self, req: &Request<()>) -> BodyPolicy {
        taken_policy(req)
    }

    fn call_with_body<'a>(
        &'a self,
        req: &'a Request<()>,
        body: RequestBody<'a>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        self.0.call_with_body(req, body)
    }
}

/// Which of the two services serves a run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flavour {
    Call,
    CallNow,
}

// ---------------------------------------------------------------- the harness

/// How a test's connection is set up.
#[derive(Clone)]
struct Setup {
    options: Options,
    /// The pipe's buffer in each direction: a small one makes writes block.
    buffer: usize,
    /// Served with [`serve_detecting_h2`] rather than [`serve`].
    detect_h2: bool,
    /// A transport that reports readiness the way a socket does (see
    /// [`Readiness`]), so that waiting for a request is `wait_readable`'s.
    readiness: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            options: Options::default(),
            buffer: 64 * 1024,
            detect_h2: false,
            readiness: false,
        }
    }
}

fn with(f: impl FnOnce(&mut Options)) -> Setup {
    let mut setup = Setup::default();
    f(&mut setup.options);
    setup
}

/// What the server task came to.
#[derive(Debug, PartialEq)]
enum Served {
    Done,
    /// Handed over as HTTP/2: every byte the HTTP/2 engine could read.
    H2(Vec<u8>),
}

/// What a stand-in HTTP/2 engine says on a handed-over transport.
const H2_ENGINE: &[u8] = b"h2 engine here";

async fn run_server<T: Transport, S: Service>(
    io: T,
    service: S,
    options: Options,
    signal: Signal,
    detect_h2: bool,
) -> Served {
    if !detect_h2 {
        serve(io, &service, &options, &signal).await;
        return Served::Done;
    }
    match serve_detecting_h2(io, &service, &options, &signal).await {
        Ended::Done => Served::Done,
        Ended::H2(mut io) => {
            let mut read = Vec::new();
            io.read_to_end(&mut read).await.unwrap();
            io.write_all(H2_ENGINE).await.unwrap();
            Served::H2(read)
        }
    }
}

fn spawn_server<T: Transport + Sync + 'static>(
    io: T,
    flavour: Flavour,
    calls: Arc<AtomicUsize>,
    setup: &Setup,
    signal: Signal,
) -> JoinHandle<Served> {
    let service = ByCall { calls };
    let (options, detect) = (setup.options.clone(), setup.detect_h2);
    match flavour {
        Flavour::Call => tokio::spawn(run_server(io, service, options, signal, detect)),
        Flavour::CallNow => {
            tokio::spawn(run_server(io, ByCallNow(service), options, signal, detect))
        }
    }
}

/// Runs `test` once against each service, each time on a fresh connection.
async fn each<F, Fut>(setup: Setup, test: F)
where
    F: Fn(Peer) -> Fut,
    Fut: Future<Output = ()>,
{
    for flavour in [Flavour::Call, Flavour::CallNow] {
        let (client, server) = duplex(setup.buffer);
        let signal = Signal::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let task = match setup.readiness {
            true => spawn_server(
                Readiness::new(server),
                flavour,
                calls.clone(),
                &setup,
                signal.clone(),
            ),
            false => spawn_server(server, flavour, calls.clone(), &setup, signal.clone()),
        };
        test(Peer {
            io: client,
            signal,
            task,
            calls,
            flavour,
        })
        .await;
    }
}

/// The client's end of a served connection.
struct Peer {
    io: DuplexStream,
    signal: Signal,
    task: JoinHandle<Served>,
    calls: Arc<AtomicUsize>,
    flavour: Flavour,
}

impl Peer {
    async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.io.write_all(bytes.as_ref()).await.unwrap();
    }

    /// Reads what `want` stands for (each `<date>` a Date value) and compares.
    #[track_caller]
    fn expect<'s>(&'s mut self, want: &'s str) -> impl Future<Output = ()> + 's {
        let caller = std::panic::Location::caller();
        async move {
            let len = want.len() + want.matches("<date>").count() * (DATE_LEN - "<date>".len());
            let got = self.read_up_to(len).await;
            assert_eq!(mask(&got), want, "{:?}, from {caller}", self.flavour);
        }
    }

    /// Up to `n` bytes: fewer when the stream ends or nothing comes for a while.
    async fn read_up_to(&mut self, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0; 16 * 1024];
        while got.len() < n {
            let want = (n - got.len()).min(buf.len());
            match timeout(PATIENCE, self.io.read(&mut buf[..want])).await {
                Ok(Ok(k)) if k > 0 => got.extend_from_slice(&buf[..k]),
                _ => break,
            }
        }
        got
    }

    /// The server closes its side with nothing more sent.
    #[track_caller]
    fn expect_eof(&mut self) -> impl Future<Output = ()> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let mut rest = Vec::new();
            let read = timeout(PATIENCE, self.io.read_to_end(&mut rest)).await;
            assert!(
                read.is_ok(),
                "{:?}: not closed, from {caller}",
                self.flavour
            );
            assert_eq!(mask(&rest), "", "{:?}, from {caller}", self.flavour);
        }
    }

    /// The server task ends by itself, soon: it closed without lingering.
    async fn ends_alone(self) -> Served {
        let flavour = self.flavour;
        let ended = timeout(Duration::from_secs(1), self.task).await;
        ended
            .unwrap_or_else(|_| panic!("{flavour:?}: still serving"))
            .unwrap()
    }

    /// The server closed its side but reads on until the client is done:
    /// the lingering close.
    async fn lingers(mut self) {
        self.expect_eof().await;
        sleep(Duration::from_millis(50)).await;
        assert!(
            !self.task.is_finished(),
            "{:?}: did not linger",
            self.flavour
        );
        // Whatever the client still sends is read and dropped.
        self.send("more of a body nobody reads").await;
        self.io.shutdown().await.unwrap();
        let ended = timeout(PATIENCE, self.task).await;
        assert!(ended.is_ok(), "{:?}: lingered on", self.flavour);
    }

    /// The client leaves; the server ends.
    async fn leave(mut self) {
        self.io.shutdown().await.unwrap();
        self.expect_eof().await;
        assert_eq!(self.ends_alone().await, Served::Done);
    }
}

/// `bytes` as text, with each Date value replaced by `<date>`.
fn mask(bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|t| t.find("\r\nDate: ")) {
        let start = from + at + "\r\nDate: ".len();
        let end = (start + DATE_LEN).min(text.len());
        text.replace_range(start..end, "<date>");
        from = start;
    }
    text
}

/// A pipe that tells when a read would not block, as a socket does, so that
/// a connection waiting for a request parks in `wait_readable` (a plain
/// `DuplexStream` is always "ready", and its waits happen in `read_head`).
/// Readiness is found by reading one byte ahead.
struct Readiness {
    inner: Mutex<(DuplexStream, Option<u8>)>,
}

impl Readiness {
    fn new(io: DuplexStream) -> Self {
        Readiness {
            inner: Mutex::new((io, None)),
        }
    }
}

impl Transport for Readiness {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut inner = self.inner.lock().unwrap();
        let (io, ahead) = &mut *inner;
        if ahead.is_some() {
            return Poll::Ready(Ok(()));
        }
        let mut byte = [0u8];
        let mut buf = ReadBuf::new(&mut byte);
        let polled = Pin::new(io).poll_read(cx, &mut buf);
        if polled.is_ready() && buf.filled().len() == 1 {
            *ahead = Some(byte[0]);
        }
        polled
    }
}

impl AsyncRead for Readiness {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut inner = self.inner.lock().unwrap();
        let (io, ahead) = &mut *inner;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match ahead.take() {
            Some(byte) => {
                buf.put_slice(&[byte]);
                // Whatever else is there now comes with it.
                let _ = Pin::new(io).poll_read(cx, buf);
                Poll::Ready(Ok(()))
            }
            None => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Readiness {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner.lock().unwrap().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner.lock().unwrap().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner.lock().unwrap().0).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------- responses

const GET_HELLO: &str = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

const HELLO: &str = "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
    content-type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";

const HELLO_CLOSE: &str = "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
    content-type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";

/// A 200 from `/big` or `/file`: `n` times `fill`.
fn filled(n: usize, fill: char) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\ncontent-type: text/plain\r\n\
         Content-Length: {n}\r\n\r\n{}",
        fill.to_string().repeat(n)
    )
}

/// The engine's error response for `status` ("400 Bad Request"), which closes.
fn refusal(status: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nDate: <date>\r\nServer: ferrox\r\n\
         content-type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{status}\n",
        status.len() + 1
    )
}

// ---------------------------------------------------------------- keep-alive

#[tokio::test]
async fn keep_alive_serves_several_requests() {
    each(Setup::default(), |mut c| async move {
        for _ in 0..3 {
            c.send(GET_HELLO).await;
            c.expect(HELLO).await;
        }
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn call_now_answers_without_a_future_and_call_the_rest() {
    each(Setup::default(), |mut c| async move {
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.expect(
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain\r\nContent-Length: 4\r\n\r\ndone",
        )
        .await;
        let calls = c.calls.load(Ordering::Relaxed);
        let want = match c.flavour {
            Flavour::Call => 2,
            Flavour::CallNow => 1,
        };
        assert_eq!(calls, want, "{:?}", c.flavour);
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn pipelined_requests_in_one_write_are_answered_in_order() {
    each(Setup::default(), |mut c| async move {
        c.send(
            "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n\
             GET /big?n=3 HTTP/1.1\r\nHost: t\r\n\r\n\
             GET /nope HTTP/1.1\r\nHost: t\r\n\r\n\
             GET /stream HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .await;
        c.expect(HELLO).await;
        c.expect(&filled(3, 'x')).await;
        c.expect(
            "HTTP/1.1 404 Not Found\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n\
             404 Not Found\n",
        )
        .await;
        c.expect(
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
             4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n",
        )
        .await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn http10_closes_unless_keep_alive_is_asked() {
    each(Setup::default(), |mut c| async move {
        c.send("GET /hello HTTP/1.0\r\n\r\n").await;
        c.expect(HELLO_CLOSE).await;
        c.expect_eof().await;
        // It asked to close and sent nothing more: no lingering.
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn http10_keep_alive_is_kept_and_said() {
    each(Setup::default(), |mut c| async move {
        let hello = HELLO.replace("\r\n\r\n", "\r\nConnection: keep-alive\r\n\r\n");
        for _ in 0..2 {
            c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .await;
            c.expect(&hello).await;
        }
        // A body of unknown length ends with the connection, which it closes.
        c.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await;
        c.expect(
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain\r\nConnection: close\r\n\r\none,two",
        )
        .await;
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn connection_close_is_honoured_without_lingering() {
    each(Setup::default(), |mut c| async move {
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await;
        c.expect(HELLO_CLOSE).await;
        c.expect_eof().await;
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn connection_close_with_more_sent_lingers() {
    each(Setup::default(), |mut c| async move {
        // What follows the last request is never answered, but read away.
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.expect(HELLO_CLOSE).await;
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn requests_per_connection_are_capped() {
    each(with(|o| o.max_requests = 2), |mut c| async move {
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        c.send(GET_HELLO).await;
        c.expect(HELLO_CLOSE).await;
        // The client did not ask to close, and may be sending: linger.
        c.lingers().await;
    })
    .await;
}

// ---------------------------------------------------------------- bodies

#[tokio::test]
async fn a_content_length_body_is_discarded_and_the_next_request_answered() {
    each(Setup::default(), |mut c| async move {
        // The body looks like a request: it must be discarded, not parsed.
        let smuggled = "GET /nope HTTP/1.1\r\nHost: evil\r\n\r\n";
        c.send(format!(
            "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{smuggled}{GET_HELLO}",
            smuggled.len()
        ))
        .await;
        c.expect(HELLO).await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_chunked_body_is_discarded_and_the_next_request_answered() {
    each(Setup::default(), |mut c| async move {
        c.send(format!("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: v\r\n\r\n{GET_HELLO}")).await;
        c.expect(HELLO).await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_body_arriving_in_pieces_is_discarded() {
    each(Setup::default(), |mut c| async move {
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
            .await;
        sleep(Duration::from_millis(20)).await;
        c.send(format!("56789{GET_HELLO}")).await;
        c.expect(HELLO).await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_a_close() {
    each(with(|o| o.max_body_bytes = 100), |mut c| async move {
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n")
            .await;
        c.expect(&refusal("413 Payload Too Large")).await;
        c.lingers().await;
    })
    .await;
    each(with(|o| o.max_body_bytes = 100), |mut c| async move {
        c.send(format!("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n{}\r\n1\r\nx\r\n0\r\n\r\n", "a".repeat(100))).await;
        c.expect(&refusal("413 Payload Too Large")).await;
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_method_gets_405_and_its_body_is_discarded() {
    each(Setup::default(), |mut c| async move {
        c.send(format!(
            "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc{GET_HELLO}"
        ))
        .await;
        c.expect(
            "HTTP/1.1 405 Method Not Allowed\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain; charset=utf-8\r\nallow: GET, HEAD, OPTIONS\r\n\
             Content-Length: 23\r\n\r\n405 Method Not Allowed\n",
        )
        .await;
        c.expect(HELLO).await;
        c.send("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.expect(
            "HTTP/1.1 204 No Content\r\nDate: <date>\r\nServer: ferrox\r\n\
             allow: GET, HEAD, OPTIONS\r\n\r\n",
        )
        .await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn expect_100_continue_gets_100_before_the_body_is_read() {
    each(Setup::default(), |mut c| async move {
        c.send(
            "GET /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .await;
        c.expect("HTTP/1.1 100 Continue\r\n\r\n").await;
        c.send("hello").await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn expect_100_continue_on_a_refused_method_gets_the_status_and_a_close() {
    each(Setup::default(), |mut c| async move {
        c.send(
            "POST /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .await;
        c.expect(
            "HTTP/1.1 405 Method Not Allowed\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain; charset=utf-8\r\nallow: GET, HEAD, OPTIONS\r\n\
             Content-Length: 23\r\nConnection: close\r\n\r\n405 Method Not Allowed\n",
        )
        .await;
        c.lingers().await;
    })
    .await;
}

// ---------------------------------------------------------------- bodies the service reads

/// The answer of `/echo` to `body`.
fn echoed(body: &str) -> String {
    let text = format!("got {}: {body}", body.len());
    format!(
        "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\ncontent-type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{text}",
        text.len()
    )
}

#[tokio::test]
async fn a_body_the_service_reads_reaches_it_whole_and_the_connection_goes_on() {
    each(Setup::default(), |mut c| async move {
        c.send(format!(
            "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello{GET_HELLO}"
        ))
        .await;
        c.expect(&echoed("hello")).await;
        c.expect(HELLO).await;
        // In pieces, and chunked (the framing never reaches the service).
        c.send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
            .await;
        sleep(Duration::from_millis(20)).await;
        c.send("56789").await;
        c.expect(&echoed("0123456789")).await;
        c.send(format!("PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n{GET_HELLO}")).await;
        c.expect(&echoed("hello world")).await;
        c.expect(HELLO).await;
        // No body at all still goes to the service.
        c.send("PUT /echo HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.expect(&echoed("")).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_body_over_the_service_limit_gets_413_and_a_close() {
    // Declared too large: refused before any of it is read.
    each(Setup::default(), |mut c| async move {
        c.send(
            "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n",
        )
        .await;
        c.expect(&refusal("413 Payload Too Large")).await;
        assert_eq!(c.calls.load(Ordering::Relaxed), 0);
        c.lingers().await;
    })
    .await;
    // Chunked, found too large on the way: the service sees an error.
    each(Setup::default(), |mut c| async move {
        c.send(format!(
            "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n{}\r\n1\r\nx\r\n0\r\n\r\n",
            "a".repeat(100)
        ))
        .await;
        c.expect(&refusal("413 Payload Too Large")).await;
        assert_eq!(c.calls.load(Ordering::Relaxed), 1 + SAW_BODY_ERROR);
        c.lingers().await;
    })
    .await;
    // Exactly the limit is fine.
    each(Setup::default(), |mut c| async move {
        let body = "b".repeat(100);
        c.send(format!(
            "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{body}"
        ))
        .await;
        c.expect(&echoed(&body)).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_malformed_chunked_body_the_service_reads_gets_400() {
    each(Setup::default(), |mut c| async move {
        c.send("PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n")
            .await;
        c.expect(&refusal("400 Bad Request")).await;
        assert_eq!(c.calls.load(Ordering::Relaxed), 1 + SAW_BODY_ERROR);
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn expect_100_continue_is_sent_only_when_the_service_reads_the_body() {
    each(Setup::default(), |mut c| async move {
        c.send(
            "PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .await;
        c.expect("HTTP/1.1 100 Continue\r\n\r\n").await;
        c.send("hello").await;
        c.expect(&echoed("hello")).await;
        c.leave().await;
    })
    .await;
    // Refused without reading: the final status, no 100, and a close (the
    // client may still send the body).
    each(Setup::default(), |mut c| async move {
        c.send(
            "PUT /refuse HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .await;
        c.expect(
            "HTTP/1.1 403 Forbidden\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\
             Connection: close\r\n\r\n403 Forbidden\n",
        )
        .await;
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_408_and_the_service_an_error() {
    let setup = with(|o| o.head_timeout = Duration::from_millis(200));
    each(setup, |mut c| async move {
        c.send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
            .await;
        let before = Instant::now();
        c.expect(&refusal("408 Request Timeout")).await;
        assert!(before.elapsed() >= Duration::from_millis(150));
        assert_eq!(c.calls.load(Ordering::Relaxed), 1 + SAW_BODY_ERROR);
        c.lingers().await;
    })
    .await;
    // Slow but steady is not a stall: each piece comes within the timeout.
    let setup = with(|o| o.head_timeout = Duration::from_millis(200));
    each(setup, |mut c| async move {
        c.send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
            .await;
        for piece in ["a", "b", "c", "d"] {
            sleep(Duration::from_millis(100)).await;
            c.send(piece).await;
        }
        c.expect(&echoed("abcd")).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_body_ends_the_connection_and_the_service_sees_it() {
    each(Setup::default(), |mut c| async move {
        c.send("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
            .await;
        c.io.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = timeout(PATIENCE, c.io.read_to_end(&mut rest)).await;
        assert_eq!(c.calls.load(Ordering::Relaxed), 1 + SAW_BODY_ERROR);
        let _ = timeout(PATIENCE, c.task).await.expect("server ended");
    })
    .await;
}

// ---------------------------------------------------------------- heads

#[tokio::test]
async fn a_malformed_head_gets_400_and_a_close() {
    each(Setup::default(), |mut c| async move {
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n")
            .await;
        c.expect(&refusal("400 Bad Request")).await;
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn a_malformed_head_after_a_good_one_gets_400() {
    each(Setup::default(), |mut c| async move {
        c.send(format!("{GET_HELLO}BAD\r\n\r\n")).await;
        c.expect(HELLO).await;
        c.expect(&refusal("400 Bad Request")).await;
        c.lingers().await;
    })
    .await;
}

#[tokio::test]
async fn a_head_in_pieces_is_read_whole() {
    each(Setup::default(), |mut c| async move {
        for piece in ["GET /hel", "lo HTTP/1.1\r\nHo", "st: t\r\n", "\r\n"] {
            c.send(piece).await;
            sleep(Duration::from_millis(5)).await;
        }
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn head_gets_no_body() {
    each(Setup::default(), |mut c| async move {
        c.send("HEAD /big?n=5000 HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.expect(
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain\r\nContent-Length: 5000\r\n\r\n",
        )
        .await;
        c.send("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n").await;
        c.expect(
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain\r\n\r\n",
        )
        .await;
        // No stray body bytes: the next response starts right away.
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

// ---------------------------------------------------------------- deadlines

#[tokio::test]
async fn a_partial_head_at_the_deadline_gets_408() {
    let setup = with(|o| o.head_timeout = Duration::from_millis(200));
    each(setup, |mut c| async move {
        let start = Instant::now();
        c.send("GET /hello HTTP/1.1\r\nHost").await;
        c.expect(&refusal("408 Request Timeout")).await;
        c.expect_eof().await;
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_head_deadline() {
    let setup = with(|o| o.head_timeout = Duration::from_millis(200));
    each(setup, |mut c| async move {
        let start = Instant::now();
        c.expect_eof().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_head_deadline_while_waiting_readable() {
    let mut setup = with(|o| o.head_timeout = Duration::from_millis(200));
    setup.readiness = true;
    each(setup, |mut c| async move {
        let start = Instant::now();
        c.expect_eof().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_times_out() {
    let mut setup = with(|o| o.idle_timeout = Duration::from_millis(200));
    setup.readiness = true;
    each(setup, |mut c| async move {
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        let start = Instant::now();
        c.expect_eof().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn a_keep_alive_wait_outlives_an_earlier_shorter_deadline() {
    // The idle timer is kept between waits: armed for the first head deadline,
    // it fires during the keep-alive wait after it, which must go on.
    let mut setup = with(|o| {
        o.head_timeout = Duration::from_millis(200);
        o.idle_timeout = Duration::from_millis(800);
    });
    setup.readiness = true;
    each(setup, |mut c| async move {
        sleep(Duration::from_millis(50)).await;
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        sleep(Duration::from_millis(400)).await;
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        let start = Instant::now();
        c.expect_eof().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(750), "{took:?}");
    })
    .await;
}

#[tokio::test]
async fn a_transport_without_readiness_waits_the_idle_timeout_not_the_head_timeout() {
    // TLS streams cannot say whether a read would block, so a kept
    // connection waits for its next request inside the head read: until the
    // first byte, the idle timeout applies; the head timeout only from then.
    let setup = with(|o| {
        o.head_timeout = Duration::from_millis(200);
        o.idle_timeout = Duration::from_millis(800);
    });
    assert!(!setup.readiness);
    each(setup, |mut c| async move {
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        sleep(Duration::from_millis(400)).await;
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        let start = Instant::now();
        c.expect_eof().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(750), "{took:?}");
    })
    .await;
}

#[tokio::test]
async fn a_head_begun_on_a_kept_connection_still_has_the_head_timeout() {
    let setup = with(|o| {
        o.head_timeout = Duration::from_millis(200);
        o.idle_timeout = Duration::from_millis(5000);
    });
    each(setup, |mut c| async move {
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        c.send("GET /hello HTTP/1.1\r\nHost").await;
        let start = Instant::now();
        c.expect(&refusal("408 Request Timeout")).await;
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(2000),
            "{took:?}"
        );
    })
    .await;
}

// ---------------------------------------------------------------- shutdown

#[tokio::test]
async fn shutdown_closes_an_idle_connection_at_once() {
    for readiness in [false, true] {
        let setup = Setup {
            readiness,
            ..Setup::default()
        };
        each(setup, |mut c| async move {
            c.send(GET_HELLO).await;
            c.expect(HELLO).await;
            sleep(Duration::from_millis(20)).await;
            let start = Instant::now();
            c.signal.fire();
            c.expect_eof().await;
            assert!(start.elapsed() < Duration::from_secs(1));
            assert_eq!(c.ends_alone().await, Served::Done);
        })
        .await;
    }
}

#[tokio::test]
async fn shutdown_before_the_first_request_closes_at_once() {
    each(Setup::default(), |mut c| async move {
        sleep(Duration::from_millis(20)).await;
        c.signal.fire();
        c.expect_eof().await;
        assert_eq!(c.ends_alone().await, Served::Done);
    })
    .await;
}

#[tokio::test]
async fn shutdown_during_a_request_closes_after_its_response() {
    each(Setup::default(), |mut c| async move {
        c.send("GET /slow?n=100 HTTP/1.1\r\nHost: t\r\n\r\n").await;
        sleep(Duration::from_millis(20)).await;
        c.signal.fire();
        c.expect(
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone",
        )
        .await;
        c.lingers().await;
    })
    .await;
}

// ---------------------------------------------------------------- writes

#[tokio::test]
async fn writes_that_block_complete_once_the_reader_drains() {
    let setup = Setup {
        buffer: 64,
        ..Setup::default()
    };
    each(setup, |mut c| async move {
        // Inline behind the head (the answer-at-once write stops part-way),
        // a second slice, a file copied through the scratch buffer, parts, a
        // chunked stream. One at a time: the pipe holds less than a request.
        let parts = "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
                     content-type: text/plain\r\nContent-Length: 5\r\n\r\n<fff>";
        let stream = "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\n\
                      content-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
                      4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n";
        let exchanges = [
            ("/big?n=10000", filled(10_000, 'x')),
            ("/big?n=100000", filled(100_000, 'x')),
            ("/file?n=100000", filled(100_000, 'f')),
            ("/parts", parts.to_string()),
            ("/stream", stream.to_string()),
        ];
        for (target, response) in exchanges {
            c.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n"))
                .await;
            c.expect(&response).await;
        }
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn an_answer_waits_for_room_behind_the_one_before() {
    let setup = Setup {
        buffer: 256,
        ..Setup::default()
    };
    each(setup, |mut c| async move {
        // The second answer finds the pipe full of the first (1,024 bytes:
        // the last of four pipefuls is still unread), so its write at once
        // would block, and goes on in a future.
        c.send(format!(
            "GET /big?n=905 HTTP/1.1\r\nHost: t\r\n\r\n{GET_HELLO}"
        ))
        .await;
        c.expect(&filled(905, 'x')).await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let mut setup = with(|o| o.send_timeout = Duration::from_millis(200));
    setup.buffer = 64;
    each(setup, |mut c| async move {
        c.send("GET /big?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n")
            .await;
        let start = Instant::now();
        let ended = timeout(PATIENCE, &mut c.task).await;
        assert!(ended.is_ok(), "{:?}: still sending", c.flavour);
        assert!(start.elapsed() >= Duration::from_millis(200));
    })
    .await;
}

// ---------------------------------------------------------------- HTTP/2

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[tokio::test]
async fn the_http2_preface_hands_the_connection_over_with_its_bytes() {
    let setup = Setup {
        detect_h2: true,
        ..Setup::default()
    };
    each(setup.clone(), |mut c| async move {
        let mut sent = PREFACE.to_vec();
        sent.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
        c.send(&sent).await;
        c.io.shutdown().await.unwrap();
        let said = c.read_up_to(H2_ENGINE.len()).await;
        assert_eq!(said, H2_ENGINE);
        assert_eq!(c.ends_alone().await, Served::H2(sent));
    })
    .await;
    // A preface arriving in pieces.
    each(setup, |mut c| async move {
        for piece in PREFACE.chunks(7) {
            c.send(piece).await;
            sleep(Duration::from_millis(5)).await;
        }
        c.io.shutdown().await.unwrap();
        let said = c.read_up_to(H2_ENGINE.len()).await;
        assert_eq!(said, H2_ENGINE);
        assert_eq!(c.ends_alone().await, Served::H2(PREFACE.to_vec()));
    })
    .await;
}

#[tokio::test]
async fn with_detection_on_http1_is_served() {
    let setup = Setup {
        detect_h2: true,
        ..Setup::default()
    };
    each(setup.clone(), |mut c| async move {
        // "PRI" is where HTTP/1 and the preface part: the first few bytes
        // keep both possible.
        for piece in ["PR", "I /hello HTTP/1.1\r\nHost: t\r\n\r\n"] {
            c.send(piece).await;
            sleep(Duration::from_millis(5)).await;
        }
        c.expect(
            "HTTP/1.1 501 Not Implemented\r\nDate: <date>\r\nServer: ferrox\r\n\
             content-type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\n\
             501 Not Implemented\n",
        )
        .await;
        c.send(GET_HELLO).await;
        c.expect(HELLO).await;
        c.leave().await;
    })
    .await;
}
