//! Test support: a real server on 127.0.0.1:0, a raw HTTP/1.1 client that prints
//! the whole exchange when something fails, HTTP/2 clients (`h2`), TLS
//! certificates and clients (`tls`), the handler called in memory (`respond`,
//! `body`), a fixture-folder builder, and many sites served from a plan that
//! the test reloads (`sites`).

#![allow(dead_code)]

mod binary;
pub mod body;
pub mod browser;
pub mod h2;
pub mod pebble;
mod raw;
mod respond;
mod root;
mod service;
pub mod service_now;
pub mod sites;
pub mod tls;
mod wait;

pub use binary::{run_in, Binary, Served, BIN};
pub use raw::{Raw, Resp};
pub use respond::{request, respond, Answer};
pub use root::TempRoot;
pub use service::TestService;
pub use sites::SiteServer;
pub use wait::{within, WAIT};

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrox::handler::{self, Handler};
use ferrox::log::{AccessLog, LogFormat};
use ferrox::proto::Service;
use ferrox::server::{self, FileService, Listener, Protocol, ServerOptions, Shutdown};

/// Bytes from a xorshift generator: incompressible, every position checkable,
/// different for every seed.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Reads a response head from a raw stream (to its blank line), returning it
/// and any body bytes read with it.
pub fn read_head(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
        let n = stream.read(&mut chunk).expect("read head");
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The static-file service on `root`, with the default options.
pub fn files(root: &Path) -> FileService {
    FileService(Handler::new(root, handler::Options::default()).unwrap())
}

/// The built-in page for a status, exactly as the server must send it.
pub fn builtin_page(status: u16) -> Vec<u8> {
    let response = handler::ErrorPages::load(None)
        .unwrap()
        .response(http::StatusCode::from_u16(status).unwrap());
    match response.into_body() {
        ferrox::body::Body::Bytes(bytes) => bytes.to_vec(),
        other => panic!("error page body is {other:?}"),
    }
}

/// A buffer shared between the server (as a log sink) and the test.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running server. Dropping it shuts it down and fails the test if the server
/// logged an ERROR it was not told to expect.
pub struct TestServer {
    /// The first listener's address.
    pub addr: SocketAddr,
    /// Every listener's address, in the order given.
    pub addrs: Vec<SocketAddr>,
    shutdown: Shutdown,
    thread: Option<JoinHandle<()>>,
    errors: Captured,
    access: Captured,
    allow_errors: bool,
}

impl TestServer {
    /// Serves `service` with `options`, access log captured in common format.
    pub fn start<S: Service + 'static>(service: S, options: ServerOptions) -> TestServer {
        Self::start_protocols(service, options, vec![Protocol::Plain])
    }

    /// One listener on 127.0.0.1:0 per protocol; `addrs` follows their order.
    pub fn start_protocols<S: Service + 'static>(
        service: S,
        options: ServerOptions,
        protocols: Vec<Protocol>,
    ) -> TestServer {
        let listeners: Vec<Listener> = protocols
            .into_iter()
            .map(|protocol| Listener {
                socket: server::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
                protocol,
            })
            .collect();
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.socket.local_addr().unwrap())
            .collect();
        let addr = addrs[0];
        let shutdown = Shutdown::new();
        let errors = Captured::default();
        let access = Captured::default();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::ERROR)
                .with_ansi(false)
                .with_writer({
                    let errors = errors.clone();
                    move || errors.clone()
                })
                .finish(),
        );
        let log = AccessLog::to_writer(access.clone(), LogFormat::Common, 1024).unwrap();
        let thread = {
            let shutdown = shutdown.clone();
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                let _guard = tracing::dispatcher::set_default(&dispatch);
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .on_thread_start(move || {
                        // Each runtime thread reports to this server's capture.
                        std::mem::forget(tracing::dispatcher::set_default(&dispatch));
                    })
                    .build()
                    .unwrap();
                runtime
                    .block_on(server::run(
                        listeners,
                        Arc::new(service),
                        options,
                        log,
                        shutdown,
                    ))
                    .unwrap();
            })
        };
        TestServer {
            addr,
            addrs,
            shutdown,
            thread: Some(thread),
            errors,
            access,
            allow_errors: false,
        }
    }

    /// Serves a folder with the static-file handler.
    pub fn files(root: &Path) -> TestServer {
        Self::files_with(root, handler::Options::default(), ServerOptions::default())
    }

    pub fn files_with(root: &Path, options: handler::Options, server: ServerOptions) -> TestServer {
        let handler = Handler::new(root, options).unwrap();
        Self::start(FileService(handler), server)
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// One GET on a fresh connection.
    pub fn get(&self, path: &str) -> Resp {
        let mut c = self.raw();
        c.send(format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        ));
        c.response()
    }

    /// One request on a fresh connection that closes after it.
    #[track_caller]
    pub fn request(&self, method: &str, target: &str, headers: &str) -> Resp {
        self.raw()
            .exchange(method, target, &format!("{headers}Connection: close\r\n"))
    }

    /// Starts a graceful shutdown.
    pub fn trigger_shutdown(&self) {
        self.shutdown.trigger();
    }

    /// Waits for the server to stop after a shutdown; returns how long it took.
    pub fn wait_stopped(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
        start.elapsed()
    }

    pub fn allow_errors(&mut self) {
        self.allow_errors = true;
    }

    pub fn errors(&self) -> String {
        self.errors.text()
    }

    /// The access log so far (common format). Lines are written by a background
    /// thread, so this waits briefly for `lines` of them.
    pub fn access_log(&self, lines: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.access.text();
            if text.lines().count() >= lines || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let errors = self.errors.text();
        if !self.allow_errors && !errors.is_empty() && !std::thread::panicking() {
            panic!("the server logged unexpected errors:\n{errors}");
        }
    }
}
