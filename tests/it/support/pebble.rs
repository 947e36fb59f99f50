//! Pebble, the ACME test CA (Debian's `pebble`), on loopback for the ACME
//! tests: its own HTTPS certificate made here, its validation pointed at a
//! tiny DNS responder that answers 127.0.0.1 for every name, and at the
//! ports of the ferrox under test. Plus a blocking HTTPS client that verifies
//! against a given root (Pebble's, for what ferrox serves).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The bound on Pebble's start and on every request of these helpers.
pub const PEBBLE_WAIT: Duration = Duration::from_secs(10);

/// The `pebble` binary, or `None` (with the reason printed) when it is not
/// installed and this is not CI; in CI (`CI=true`) a missing pebble fails.
pub fn find() -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = candidates
        .iter()
        .map(|dir| dir.join("pebble"))
        .chain([PathBuf::from("/usr/bin/pebble")])
        .find(|p| p.is_file());
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "pebble is not installed, and CI must run the ACME tests: apt-get install pebble"
        );
        eprintln!("SKIPPED: pebble is not installed (apt-get install pebble) — ACME test not run");
    }
    found
}

/// A free port on 127.0.0.1 (bound, then released: the tests start Pebble
/// with the ports ferrox will take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A DNS responder on 127.0.0.1:PORT answering every A query with 127.0.0.1
/// and every other query with no answer; stops when dropped.
pub struct Dns {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Dns {
    pub fn start() -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(answer) = dns_answer(&buf[..n]) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        Dns { addr, stop }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The answer to one query: its question, and 127.0.0.1 if it asks for A.
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut i = 12;
    loop {
        let len = usize::from(*query.get(i)?);
        i += 1 + len;
        if len == 0 {
            break;
        }
    }
    let question = query.get(12..i + 4)?;
    let qtype = u16::from_be_bytes([query[i], query[i + 1]]);
    let a = qtype == 1;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&query[..2]); // id
    out.extend_from_slice(&[0x81, 0x80]); // response, recursion desired and available
    out.extend_from_slice(&[0, 1, 0, u8::from(a), 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if a {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some(out)
}

/// A running Pebble; killed when dropped.
pub struct Pebble {
    child: Option<Child>,
    pub dir: PathBuf,
    /// `https://127.0.0.1:PORT/dir`.
    pub directory: String,
    /// Its HTTPS certificate (PEM): what `ca_root` trusts.
    pub listener_root: PathBuf,
    management: SocketAddr,
    /// Everything Pebble printed.
    pub output: Output,
    _dns: Dns,
}

impl Pebble {
    /// Starts Pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `tls_port` of 127.0.0.1, issuing certificates valid for `validity`
    /// (Pebble's default, years, when `None`). Files go in `dir`.
    pub fn start(
        bin: &Path,
        dir: &Path,
        http_port: u16,
        tls_port: u16,
        validity: Option<Duration>,
    ) -> Pebble {
        let dns = Dns::start();
        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        let listener_root = dir.join("pebble-listener.pem");
        std::fs::write(&listener_root, cert.cert.pem()).unwrap();
        std::fs::write(
            dir.join("pebble-listener.key"),
            cert.key_pair.serialize_pem(),
        )
        .unwrap();
        // A port from `free_port` can be taken by another test before Pebble
        // binds it: Pebble then exits, or the port answers for someone else.
        // Ready means Pebble itself said it listens there; else new ports.
        let mut attempts = Vec::new();
        for _ in 0..3 {
            let (listen, management) = (free_port(), free_port());
            let ports = Ports {
                listen,
                management,
                http: http_port,
                tls: tls_port,
            };
            match launch(bin, dir, &dns, ports, validity) {
                Ok((child, output)) => {
                    return Pebble {
                        child: Some(child),
                        dir: dir.to_path_buf(),
                        directory: format!("https://127.0.0.1:{listen}/dir"),
                        listener_root,
                        management: SocketAddr::from(([127, 0, 0, 1], management)),
                        output,
                        _dns: dns,
                    };
                }
                Err(why) => attempts.push(why),
            }
        }
        panic!("pebble did not start:\n{}", attempts.join("\n---\n"));
    }

    /// Pebble's root, which signs what it issues (its management endpoint).
    pub fn root_pem(&self) -> String {
        let listener = std::fs::read(&self.listener_root).unwrap();
        let (status, body, _) = https_get(self.management, "localhost", &listener, "/roots/0");
        assert_eq!(status, 200, "GET /roots/0");
        String::from_utf8(body).unwrap()
    }

    /// How many orders Pebble was sent.
    pub fn orders(&self) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("/order-plz"))
            .count()
    }

    /// Everything it printed.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Stops it (a CA that no longer answers).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every line Pebble printed, gathered by its reader threads.
type Output = Arc<Mutex<Vec<String>>>;

/// The ports of one Pebble: its ACME and management listeners, and where it
/// validates HTTP-01 and TLS-ALPN-01.
#[derive(Clone, Copy)]
struct Ports {
    listen: u16,
    management: u16,
    http: u16,
    tls: u16,
}

/// One start of Pebble: the process and its output once it says it listens
/// on both of its ports, or why it did not.
fn launch(
    bin: &Path,
    dir: &Path,
    dns: &Dns,
    ports: Ports,
    validity: Option<Duration>,
) -> Result<(Child, Output), String> {
    let Ports {
        listen,
        management,
        http: http_port,
        tls: tls_port,
    } = ports;
    let mut config = serde_json::json!({
        "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("pebble-listener.pem"),
            "privateKey": dir.join("pebble-listener.key"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }
    });
    if let Some(validity) = validity {
        config["pebble"]["certificateValidityPeriod"] = validity.as_secs().into();
    }
    let config_file = dir.join("pebble.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let mut child = Command::new(bin)
        .arg("-config")
        .arg(&config_file)
        .arg("-dnsserver")
        .arg(dns.addr.to_string())
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                output.lock().unwrap().push(line);
            }
        });
    }
    let said = |port: u16| {
        let at = format!("127.0.0.1:{port}");
        output
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("istening on") && l.contains(&at))
    };
    let deadline = Instant::now() + PEBBLE_WAIT;
    loop {
        let exited = child.try_wait().unwrap();
        let listening = [listen, management].iter().all(|&port| {
            said(port)
                && TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], port)),
                    Duration::from_millis(200),
                )
                .is_ok()
        });
        match (exited, listening) {
            // Pebble says it listens before it binds, and exits at once when
            // the bind fails: still running a moment later, it has the ports.
            (None, true) => {
                std::thread::sleep(Duration::from_millis(200));
                if child.try_wait().unwrap().is_none() {
                    return Ok((child, output));
                }
            }
            (Some(status), _) => {
                let printed = output.lock().unwrap().join("\n");
                return Err(format!("exited ({status}):\n{printed}"));
            }
            (None, false) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let printed = output.lock().unwrap().join("\n");
                return Err(format!("not listening within {PEBBLE_WAIT:?}:\n{printed}"));
            }
            (None, false) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A client trusting only `root_pem`'s certificates.
pub fn client_trusting(root_pem: &[u8]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A verified TLS connection to `addr` as `name`, every read and write
/// bounded by [`PEBBLE_WAIT`].
pub fn connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect_timeout(&addr, PEBBLE_WAIT)?;
    tcp.set_read_timeout(Some(PEBBLE_WAIT))?;
    tcp.set_write_timeout(Some(PEBBLE_WAIT))?;
    let server = ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
    let conn = ClientConnection::new(config, server).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The leaf the server presented.
pub fn leaf(stream: &StreamOwned<ClientConnection, TcpStream>) -> Vec<u8> {
    stream.conn.peer_certificates().unwrap()[0].to_vec()
}

/// One keep-alive GET over `stream`: status and body (Content-Length framed).
pub fn get(
    stream: &mut StreamOwned<ClientConnection, TcpStream>,
    host: &str,
    path: &str,
) -> (u16, Vec<u8>) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    stream.flush().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    (status, body)
}

/// One GET on a new verified connection: status, body, leaf.
pub fn https_get(
    addr: SocketAddr,
    name: &str,
    root_pem: &[u8],
    path: &str,
) -> (u16, Vec<u8>, Vec<u8>) {
    let mut stream = connect(addr, name, client_trusting(root_pem))
        .unwrap_or_else(|e| panic!("TLS to {addr} as {name}: {e}"));
    let leaf = leaf(&stream);
    let (status, body) = get(&mut stream, name, path);
    (status, body, leaf)
}
