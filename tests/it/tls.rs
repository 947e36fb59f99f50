//! TLS: ALPN, SNI, key formats, garbage on the port, the handshake deadline,
//! bad files, the redirect listener, HSTS, the self-signed fingerprint and
//! certificate reload. Certificates and the client come from `support::tls`:
//! rcgen, and tokio-rustls with a verifier that accepts any certificate but
//! checks the handshake signatures (so the server must hold the key it presents).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrox::server::{Protocol, ServerOptions, Tls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs1KeyDer};
use rustls::ClientConfig;
use tokio::net::TcpStream;

use crate::support::h2::{h2_get, h2_handshake, h2_request};
use crate::support::tls::{
    alpn, cert, cert_with_key, client_config, client_config_versions, connect_with, der, der_read,
    h1_request, pem, pkcs1_to_pkcs8, pkcs8_inner, presented, provider, tls_connect, tls_for,
    write_cert, Cert, RSA_PKCS1,
};
use crate::support::{files, Raw, TempRoot, TestServer, BIN, WAIT};

/// `AB:CD:...` of DER bytes.
fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

// ---------------------------------------------------------------------------
// The binary, started with TLS
// ---------------------------------------------------------------------------

/// Numbers the scratch state folders of [`TlsBinary::start`].
static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A running `ferrox` serving https; stderr is collected by a thread.
struct TlsBinary {
    child: Child,
    /// The https listener.
    addr: SocketAddr,
    /// The `--redirect-http` listener, if any.
    redirect: Option<SocketAddr>,
    /// The `SHA-256 ...` of `--tls-self-signed`, if printed.
    fingerprint: Option<String>,
    stderr: Arc<Mutex<String>>,
    /// Its scratch state folder, removed with it.
    scratch: std::path::PathBuf,
}

impl TlsBinary {
    /// Starts `ferrox ROOT -l 127.0.0.1:0 --quiet ARGS`; its state folder
    /// (the development certificate) is a fresh scratch folder unless ARGS
    /// name one, never the user's own.
    fn start(root: &Path, args: &[&str]) -> TlsBinary {
        let scratch = std::env::temp_dir().join(format!(
            "ferrox-tls-state-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new(BIN)
            .arg(root)
            .args(["-l", "127.0.0.1:0", "--quiet"])
            .args(args)
            .env("FERROX_STATE_DIR", &scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let reader = BufReader::new(child.stderr.take().unwrap());
        {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                for line in reader.lines() {
                    let Ok(line) = line else { break };
                    let mut text = stderr.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        let mut running = TlsBinary {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            redirect: None,
            fingerprint: None,
            stderr,
            scratch,
        };
        let want_redirect = args.contains(&"--redirect-http");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = running.stderr();
            let url = |scheme: &str| {
                text.lines()
                    .flat_map(str::split_whitespace)
                    .find_map(|w| w.strip_prefix(scheme))
                    .map(|w| w.trim_end_matches('/').parse::<SocketAddr>().unwrap())
            };
            if let Some(addr) = url("https://") {
                if !want_redirect || url("http://").is_some() {
                    running.addr = addr;
                    running.redirect = url("http://");
                    running.fingerprint = text
                        .split_once("SHA-256 ")
                        .map(|(_, rest)| rest.split_whitespace().next().unwrap().to_string());
                    assert!(
                        text.contains(root.canonicalize().unwrap().to_str().unwrap()),
                        "root not named: {text}"
                    );
                    return running;
                }
            }
            if let Some(status) = running.child.try_wait().unwrap() {
                panic!("ferrox exited with {status} at start-up:\n{text}");
            }
            assert!(Instant::now() < deadline, "no start-up line:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for `needle` on stderr.
    fn wait_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.stderr();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not on stderr:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TlsBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Runs the binary to its exit; returns (status code, stderr).
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferrox {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tls_server(root: &Path, certs: &[&Cert]) -> TestServer {
    TestServer::start_protocols(
        files(root),
        ServerOptions::default(),
        vec![Protocol::Tls(tls_for(certs))],
    )
}

// ---------------------------------------------------------------------------
// ALPN and versions
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_chooses_h2_and_falls_back_to_http11() {
    let root = TempRoot::new().file("a.txt", "over tls");
    let server = tls_server(root.path(), &[&cert(&["localhost"])]);
    let addr = server.addr;

    // h2 offered (first or second): h2.
    for offer in [
        &[&b"h2"[..], b"http/1.1"][..],
        &[b"http/1.1", b"h2"],
        &[b"h2"],
    ] {
        let tls = tls_connect(addr, "localhost", offer).await;
        assert_eq!(alpn(&tls).as_deref(), Some(&b"h2"[..]), "offered {offer:?}");
        let (mut send, _conn) = h2_handshake(tls).await;
        let r = h2_get(&mut send, "https://localhost/a.txt").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"over tls");
    }
    // Only http/1.1, or no ALPN at all: HTTP/1.1.
    for offer in [&[&b"http/1.1"[..]][..], &[]] {
        let tls = tls_connect(addr, "localhost", offer).await;
        let expected = (!offer.is_empty()).then(|| b"http/1.1".to_vec());
        assert_eq!(alpn(&tls), expected, "offered {offer:?}");
        let r = h1_request(tls, "GET", "/a.txt", "").await;
        r.expect(200);
        assert!(r.head.starts_with("HTTP/1.1 200"), "{r:?}");
        assert_eq!(r.body, b"over tls");
    }
    // A protocol the server does not speak: the handshake fails (RFC 7301
    // no_application_protocol), nothing is served.
    let refused = connect_with(addr, "localhost", client_config(&[b"spdy/3"])).await;
    assert!(refused.is_err(), "handshake with only spdy/3 succeeded");

    // TLS 1.2 and TLS 1.3 both work, with h2.
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = client_config_versions(&[b"h2"], &[version]);
        let tls = connect_with(addr, "localhost", config).await.unwrap();
        assert_eq!(
            tls.get_ref().1.protocol_version(),
            Some(version.version),
            "negotiated version"
        );
        let (mut send, _conn) = h2_handshake(tls).await;
        assert_eq!(
            h2_get(&mut send, "https://localhost/a.txt").await.body,
            b"over tls"
        );
    }
}

// ---------------------------------------------------------------------------
// SNI
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_certificate_valid_for_the_name() {
    let root = TempRoot::new().file("a.txt", "A");
    let first = cert(&["first.test"]);
    let alpha = cert(&["alpha.test", "www.alpha.test"]);
    let wild = cert(&["*.wild.test"]);
    let ip = cert(&["127.0.0.1"]);
    let server = tls_server(root.path(), &[&first, &alpha, &wild, &ip]);
    let addr = server.addr;
    for (name, want, which) in [
        ("first.test", &first, "first"),
        ("alpha.test", &alpha, "alpha"),
        ("www.alpha.test", &alpha, "alpha (second name)"),
        ("a.wild.test", &wild, "wildcard"),
        ("ALPHA.test", &alpha, "alpha (case-insensitive)"),
    ] {
        let tls = tls_connect(addr, name, &[b"http/1.1"]).await;
        assert!(
            presented(&tls) == want.der,
            "SNI {name}: not the {which} certificate"
        );
        // And it serves.
        assert_eq!(h1_request(tls, "GET", "/a.txt", "").await.body, b"A");
    }
    // The first valid one wins, not the first listed: swap the order.
    let server2 = tls_server(root.path(), &[&alpha, &first]);
    let tls = tls_connect(server2.addr, "first.test", &[b"h2"]).await;
    assert!(
        presented(&tls) == first.der,
        "SNI first.test after reordering"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_with_an_unknown_name_or_none_gets_the_first_certificate() {
    let root = TempRoot::new().file("a.txt", "A");
    let first = cert(&["first.test"]);
    let alpha = cert(&["alpha.test"]);
    let wild = cert(&["*.wild.test"]);
    let server = tls_server(root.path(), &[&first, &alpha, &wild]);
    for name in [
        "unknown.test",
        "wild.test",       // a wildcard does not cover its own base name
        "a.b.wild.test",   // nor two labels
        "alpha.test.evil", // no suffix games
        "127.0.0.1",       // an address: no SNI at all
    ] {
        let tls = tls_connect(server.addr, name, &[b"h2", b"http/1.1"]).await;
        assert!(
            presented(&tls) == first.der,
            "{name}: not the first certificate"
        );
        if alpn(&tls).as_deref() == Some(b"h2") {
            let (mut send, _conn) = h2_handshake(tls).await;
            assert_eq!(h2_get(&mut send, "https://x/a.txt").await.body, b"A");
        } else {
            assert_eq!(h1_request(tls, "GET", "/a.txt", "").await.body, b"A");
        }
    }
}

// ---------------------------------------------------------------------------
// Key formats
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_in_pkcs8_pkcs1_and_sec1_all_load_and_sign() {
    let root = TempRoot::new().file("a.txt", "keys");
    let dir = TempRoot::new();

    // PKCS#8: what rcgen writes (ECDSA P-256 and Ed25519).
    let p256 = cert(&["p256.test"]);
    assert!(p256.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let ed = cert_with_key(
        &["ed.test"],
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
    );

    // SEC1: the ECPrivateKey inside a P-256 PKCS#8 key.
    let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let sec1 = pem("EC PRIVATE KEY", &pkcs8_inner(&ec_key.serialize_der()));
    let mut sec1_cert = cert_with_key(&["sec1.test"], ec_key);
    sec1_cert.key_pem = sec1;

    // SEC1 as `openssl ec` writes it: with the curve as [0] parameters.
    let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let bare = pkcs8_inner(&ec_key.serialize_der());
    let (tag, fields, _) = der_read(&bare);
    assert_eq!(tag, 0x30);
    let (_, _, after_version) = der_read(fields);
    let (_, _, after_key) = der_read(after_version);
    let prime256v1 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let mut with_params = fields[..fields.len() - after_key.len()].to_vec();
    with_params.extend(der(0xa0, &der(0x06, &prime256v1)));
    with_params.extend_from_slice(after_key);
    let mut sec1_params_cert = cert_with_key(&["sec1-params.test"], ec_key);
    sec1_params_cert.key_pem = pem("EC PRIVATE KEY", &der(0x30, &with_params));

    // SEC1 for P-384 too.
    let ec384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let sec1_384 = pem("EC PRIVATE KEY", &pkcs8_inner(&ec384.serialize_der()));
    let mut sec1_384_cert = cert_with_key(&["sec1-384.test"], ec384);
    sec1_384_cert.key_pem = sec1_384;

    // PKCS#1: a fixed RSA key, wrapped as PKCS#8 for rcgen to sign with.
    let pkcs1 = PrivatePkcs1KeyDer::from_pem_slice(RSA_PKCS1.as_bytes()).unwrap();
    let rsa_key =
        rcgen::KeyPair::try_from(pkcs1_to_pkcs8(pkcs1.secret_pkcs1_der()).as_slice()).unwrap();
    let mut rsa_cert = cert_with_key(&["rsa.test"], rsa_key);
    rsa_cert.key_pem = RSA_PKCS1.to_string();

    let all = [
        ("p256.test", &p256, "-----BEGIN PRIVATE KEY-----"),
        ("ed.test", &ed, "-----BEGIN PRIVATE KEY-----"),
        ("sec1.test", &sec1_cert, "-----BEGIN EC PRIVATE KEY-----"),
        (
            "sec1-params.test",
            &sec1_params_cert,
            "-----BEGIN EC PRIVATE KEY-----",
        ),
        (
            "sec1-384.test",
            &sec1_384_cert,
            "-----BEGIN EC PRIVATE KEY-----",
        ),
        ("rsa.test", &rsa_cert, "-----BEGIN RSA PRIVATE KEY-----"),
    ];
    let mut cert_files = Vec::new();
    for (i, (name, cert, label)) in all.iter().enumerate() {
        assert!(cert.key_pem.starts_with(label), "{name}: {}", cert.key_pem);
        let f = write_cert(dir.path(), &format!("k{i}"), cert);
        // Each loads on its own...
        Tls::from_files(vec![f.clone()]).unwrap_or_else(|e| panic!("{name}: {e}"));
        cert_files.push(f);
    }
    // ...and together, each chosen by SNI and proving it holds the key, over
    // TLS 1.2 and 1.3.
    let server = TestServer::start_protocols(
        files(root.path()),
        ServerOptions::default(),
        vec![Protocol::Tls(Tls::from_files(cert_files).unwrap())],
    );
    for (name, cert, _) in all {
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let config = client_config_versions(&[b"http/1.1"], &[version]);
            let tls = connect_with(server.addr, name, config)
                .await
                .unwrap_or_else(|e| panic!("{name} {version:?}: {e}"));
            assert!(presented(&tls) == cert.der, "{name}: wrong certificate");
            assert_eq!(h1_request(tls, "GET", "/a.txt", "").await.body, b"keys");
        }
    }
}

// ---------------------------------------------------------------------------
// Garbage, plain HTTP, and the handshake deadline
// ---------------------------------------------------------------------------

/// Sends `bytes` on a fresh TCP connection and returns what comes back until
/// the server closes, and how long that took.
fn send_raw(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let mut c = Raw::connect(addr);
    let started = Instant::now();
    c.try_send(bytes);
    let got = c.read_to_close();
    (got, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dropped_and_plain_http_told_to_use_https_on_the_tls_port() {
    let root = TempRoot::new().file("a.txt", "still fine");
    let c = cert(&["localhost"]);
    // A long deadline: closing must come from the bad bytes, not the deadline.
    let options = ServerOptions {
        tls_handshake_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Tls(tls_for(&[&c]))],
    );
    let addr = server.addr;
    let mut garbage = vec![0u8; 4096];
    let mut x = 0x2545_f491_u32;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "plain HTTP",
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        ),
        ("h2c preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("random bytes", garbage.clone()),
        ("a handshake record of nonsense", {
            let mut v = vec![0x16, 0x03, 0x01, 0x00, 0x40];
            v.extend_from_slice(&garbage[..64]);
            v
        }),
        (
            "an oversized record",
            vec![0x16, 0x03, 0x03, 0xff, 0xff, 1, 2, 3],
        ),
        ("zeros", vec![0u8; 512]),
    ];
    for (what, bytes) in cases {
        let (got, took) = tokio::task::spawn_blocking(move || send_raw(addr, &bytes))
            .await
            .unwrap();
        assert!(
            took < Duration::from_secs(3),
            "{what}: the connection stayed open for {took:?}"
        );
        // A plain request (its first byte a method's capital letter) gets the
        // page that says to use https, as nginx does; nothing of it echoed.
        if what == "plain HTTP" || what == "h2c preface" {
            let text = String::from_utf8_lossy(&got);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert_eq!(
                head,
                format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store",
                    body.len()
                ),
                "{what}"
            );
            assert!(body.contains("use <code>https://</code>"), "{what}: {body}");
            assert!(!body.contains("a.txt"), "{what}: {body}");
            continue;
        }
        assert!(
            !got.starts_with(b"HTTP/"),
            "{what}: answered in plain HTTP: {:?}",
            String::from_utf8_lossy(&got)
        );
        // Nothing, or one TLS alert record (content type 21).
        assert!(
            got.is_empty() || (got[0] == 0x15 && got.len() <= 7 + 64),
            "{what}: unexpected bytes {got:?}"
        );
    }
    // The server still serves TLS, both protocols.
    let tls = tls_connect(addr, "localhost", &[b"http/1.1"]).await;
    assert_eq!(
        h1_request(tls, "GET", "/a.txt", "").await.body,
        b"still fine"
    );
    let tls = tls_connect(addr, "localhost", &[b"h2"]).await;
    let (mut send, _conn) = h2_handshake(tls).await;
    assert_eq!(
        h2_get(&mut send, "https://localhost/a.txt").await.body,
        b"still fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_deadline_closes_stalled_clients() {
    let root = TempRoot::new().file("a.txt", "A");
    let options = ServerOptions {
        tls_handshake_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Tls(tls_for(&[&cert(&["localhost"])]))],
    );
    let addr = server.addr;
    // The first 50 bytes of a real ClientHello, then silence.
    let hello = {
        let (tx, rx) = std::sync::mpsc::channel();
        let capture = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let capture_addr = capture.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::Read;
            let (mut s, _) = capture.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            tx.send(buf[..n].to_vec()).unwrap();
        });
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            connect_with(capture_addr, "localhost", client_config(&[b"h2"])),
        )
        .await;
        rx.recv_timeout(WAIT).unwrap()
    };
    assert_eq!(hello[0], 0x16, "a handshake record");
    let partial = hello[..50].to_vec();
    for (what, bytes) in [
        ("silent client", Vec::new()),
        ("half a ClientHello", partial),
    ] {
        let (got, took) = tokio::task::spawn_blocking(move || send_raw(addr, &bytes))
            .await
            .unwrap();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{what}: closed after {took:?}, the deadline is 400ms"
        );
        assert!(!got.starts_with(b"HTTP/"), "{what}: {got:?}");
    }
    // Many stalled clients at once do not stop a real one.
    let stalled: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let tls = tls_connect(addr, "localhost", &[b"http/1.1"]).await;
    assert_eq!(h1_request(tls, "GET", "/a.txt", "").await.body, b"A");
    drop(stalled);
}

// ---------------------------------------------------------------------------
// Bad files
// ---------------------------------------------------------------------------

#[test]
fn bad_key_and_certificate_files_exit_1_with_one_line_naming_the_file() {
    let root = TempRoot::new().file("a.txt", "A");
    let dir = TempRoot::new();
    let good = write_cert(dir.path(), "good", &cert(&["localhost"]));
    let other = write_cert(dir.path(), "other", &cert(&["localhost"]));
    let garbage = dir.join("garbage.key");
    std::fs::write(&garbage, "this is not a key\n").unwrap();
    let bad_pem = dir.join("badpem.key");
    std::fs::write(
        &bad_pem,
        "-----BEGIN PRIVATE KEY-----\n!!!not base64!!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let missing = dir.join("missing.key");
    let r = root.path().to_str().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("garbage key", s(&good.cert), s(&garbage), "--tls-key"),
        (
            "undecodable PEM key",
            s(&good.cert),
            s(&bad_pem),
            "--tls-key",
        ),
        ("missing key", s(&good.cert), s(&missing), "--tls-key"),
        (
            "a certificate as the key",
            s(&good.cert),
            s(&good.cert),
            "--tls-key",
        ),
        ("mismatched key", s(&good.cert), s(&other.key), "--tls-key"),
        (
            "a key as the certificate",
            s(&good.key),
            s(&good.key),
            "--tls-cert",
        ),
        (
            "missing certificate",
            s(&missing),
            s(&good.key),
            "--tls-cert",
        ),
    ];
    for (what, cert, key, flag) in cases {
        let (code, stderr) = run_to_exit(&[
            r,
            "-l",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ]);
        assert_eq!(code, Some(1), "{what}: stderr {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
        let at_fault = if flag == "--tls-key" { &key } else { &cert };
        assert!(
            stderr.contains(flag) && stderr.contains(at_fault.as_str()),
            "{what}: {flag} {at_fault} not named in {stderr:?}"
        );
        assert!(!stderr.contains("serving"), "{what}: {stderr}");
    }
    // A bad file after a good pair is named too.
    let (code, stderr) = run_to_exit(&[
        r,
        "-l",
        "127.0.0.1:0",
        "--tls-cert",
        &s(&good.cert),
        "--tls-key",
        &s(&good.key),
        "--tls-cert",
        &s(&other.cert),
        "--tls-key",
        &s(&garbage),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&s(&garbage)), "{stderr}");
}

// ---------------------------------------------------------------------------
// The redirect listener and HSTS
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_listener_answers_308_to_the_https_url() {
    let root = TempRoot::new().file("a.txt", "A");
    let options = ServerOptions {
        hsts_seconds: Some(600),
        ..Default::default()
    };
    let mut server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![
            Protocol::Tls(tls_for(&[&cert(&["localhost"])])),
            Protocol::RedirectToHttps { https_port: 8443 },
            Protocol::RedirectToHttps { https_port: 443 },
        ],
    );
    let redirect = server.addrs[1];
    let redirect443 = server.addrs[2];
    let ask = move |addr: SocketAddr, req: String| {
        let mut c = Raw::connect(addr);
        c.send(req.as_bytes());
        if req.starts_with("HEAD") {
            c.head_response()
        } else {
            c.response()
        }
    };
    for (addr, method, target, host, location) in [
        (
            redirect,
            "GET",
            "/",
            "example.com",
            "https://example.com:8443/",
        ),
        (
            redirect,
            "GET",
            "/a/b%20c.txt?x=1&y=%2F",
            "example.com:8080",
            "https://example.com:8443/a/b%20c.txt?x=1&y=%2F",
        ),
        (
            redirect,
            "HEAD",
            "/a.txt",
            "EXAMPLE.com",
            "https://EXAMPLE.com:8443/a.txt",
        ),
        (redirect, "GET", "/x", "[::1]:8080", "https://[::1]:8443/x"),
        (
            redirect,
            "GET",
            "/x",
            "127.0.0.1",
            "https://127.0.0.1:8443/x",
        ),
        (
            redirect443,
            "GET",
            "/p?q",
            "example.com:80",
            "https://example.com/p?q",
        ),
        (
            redirect443,
            "GET",
            "/",
            "[2001:db8::1]",
            "https://[2001:db8::1]/",
        ),
    ] {
        let r = ask(
            addr,
            format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        r.expect(308);
        assert_eq!(r.header("location"), location, "{method} {target} {host}");
        assert_eq!(r.header("content-length"), "0", "{r:?}");
        assert!(r.body.is_empty(), "{r:?}");
        assert!(
            r.try_header("strict-transport-security").is_none(),
            "HSTS on plain http: {r:?}"
        );
    }
    // Absolute-form target: its authority wins over Host.
    let r = ask(
        redirect,
        "GET http://origin.test:81/abs?z HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"
            .into(),
    );
    r.expect(308);
    assert_eq!(r.header("location"), "https://origin.test:8443/abs?z");
    // Userinfo in the target: refused, never copied into Location nor taken
    // for the host.
    for target in [
        "http://user:pw@origin.test:81/x",
        "http://user@origin.test/x",
    ] {
        let r = ask(
            redirect,
            format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
        );
        r.expect(400);
        assert!(r.try_header("location").is_none(), "{target}: {r:?}");
    }
    // Keep-alive works on the redirect listener.
    let mut c = Raw::connect(redirect);
    for i in 0..3 {
        c.send(format!("GET /k{i} HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert_eq!(
            c.response().expect(308).header("location"),
            format!("https://h:8443/k{i}")
        );
    }
    // No host at all: 400, no Location.
    let r = ask(redirect, "GET /x HTTP/1.0\r\n\r\n".into());
    r.expect(400);
    assert!(r.try_header("location").is_none(), "{r:?}");
    // Not a file server: nothing of the root leaks through.
    let r = ask(
        redirect,
        "GET /a.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".into(),
    );
    assert_ne!(r.body, b"A");
    // The access log records the redirects.
    server.trigger_shutdown();
    server.wait_stopped();
    let log = server.access_log(1);
    assert!(
        log.contains("\"GET /a/b%20c.txt?x=1&y=%2F HTTP/1.1\" 308 0"),
        "{log}"
    );
}

/// The OPTIONS 204 comes from the engines' method policy
/// (`proto::answer_method`), not the service, yet gets HSTS like every other
/// TLS response (through `Service::decorate`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_on_options_responses_too() {
    let root = TempRoot::new().file("a.txt", "A");
    let options = ServerOptions {
        hsts_seconds: Some(60),
        ..Default::default()
    };
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Tls(tls_for(&[&cert(&["localhost"])]))],
    );
    let tls = tls_connect(server.addr, "localhost", &[b"http/1.1"]).await;
    let r = h1_request(tls, "OPTIONS", "/a.txt", "").await;
    r.expect(204);
    assert_eq!(
        r.try_header("strict-transport-security"),
        Some("max-age=60"),
        "h1: {r:?}"
    );
    let tls = tls_connect(server.addr, "localhost", &[b"h2"]).await;
    let (send, _conn) = h2_handshake(tls).await;
    let r = h2_request(
        &send,
        http::Request::options("https://localhost/a.txt")
            .body(())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.headers["strict-transport-security"], "max-age=60", "h2");
}

/// The redirect listener is served by the h1 engine, whose method policy
/// would answer OPTIONS with 204 and other methods with 405; the redirect
/// service accepts any method, so every request gets 308 ("308 keeps the
/// method and body", `server/redirect.rs`).
#[test]
fn the_redirect_listener_redirects_every_method() {
    let server = TestServer::start_protocols(
        crate::support::TestService,
        ServerOptions::default(),
        vec![Protocol::RedirectToHttps { https_port: 8443 }],
    );
    for req in [
        "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1",
        "PUT /form HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "OPTIONS /form HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    ] {
        let mut c = Raw::connect(server.addr);
        c.send(req);
        let r = c.response();
        r.expect(308);
        assert_eq!(r.header("location"), "https://h:8443/form");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_on_tls_responses_only() {
    let root = TempRoot::new().file("a.txt", "A");
    let c = cert(&["localhost"]);
    let options = ServerOptions {
        hsts_seconds: Some(31_536_000),
        ..Default::default()
    };
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Tls(tls_for(&[&c])), Protocol::Plain],
    );
    let (tls_addr, plain_addr) = (server.addrs[0], server.addrs[1]);
    const HSTS: &str = "max-age=31536000";
    // TLS, HTTP/1.1: files, errors, 405 and OPTIONS.
    for (method, target, status) in [
        ("GET", "/a.txt", 200),
        ("GET", "/missing", 404),
        ("HEAD", "/a.txt", 200),
        ("DELETE", "/a.txt", 405),
    ] {
        let tls = tls_connect(tls_addr, "localhost", &[b"http/1.1"]).await;
        let r = h1_request(tls, method, target, "").await;
        r.expect(status);
        assert_eq!(r.header("strict-transport-security"), HSTS, "{r:?}");
        assert_eq!(r.count("strict-transport-security"), 1, "{r:?}");
    }
    // A request the h1 engine refuses before the service: still HSTS.
    let tls = tls_connect(tls_addr, "localhost", &[b"http/1.1"]).await;
    let r = h1_request(tls, "GET", "/a.txt", "Bad header line\r\n").await;
    r.expect(400);
    assert_eq!(r.header("strict-transport-security"), HSTS, "{r:?}");
    // TLS, HTTP/2.
    let tls = tls_connect(tls_addr, "localhost", &[b"h2"]).await;
    let (mut send, _conn) = h2_handshake(tls).await;
    for target in ["/a.txt", "/missing"] {
        let r = h2_get(&mut send, &format!("https://localhost{target}")).await;
        assert_eq!(
            r.headers
                .get_all("strict-transport-security")
                .iter()
                .collect::<Vec<_>>(),
            [HSTS],
            "h2 {target}: {:?}",
            r.headers
        );
    }
    // Plain HTTP/1.1 and h2c on the same server: none.
    let mut plain = Raw::connect(plain_addr);
    plain.send("GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = plain.response();
    r.expect(200);
    assert!(r.try_header("strict-transport-security").is_none(), "{r:?}");
    let tcp = TcpStream::connect(plain_addr).await.unwrap();
    let (mut send, _conn) = h2_handshake(tcp).await;
    let r = h2_get(&mut send, "http://t/a.txt").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers.get("strict-transport-security").is_none(),
        "{:?}",
        r.headers
    );

    // Without --hsts: none on TLS either.
    let quiet = tls_server(root.path(), &[&c]);
    let tls = tls_connect(quiet.addr, "localhost", &[b"http/1.1"]).await;
    let r = h1_request(tls, "GET", "/a.txt", "").await;
    assert!(r.try_header("strict-transport-security").is_none(), "{r:?}");
}

// ---------------------------------------------------------------------------
// The binary: self-signed, redirect, reload
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_fingerprint_is_that_of_the_presented_certificate() {
    let root = TempRoot::new().file("a.txt", "self");
    let state = TempRoot::new();
    let state_dir = state.path().to_str().unwrap();
    let running = TlsBinary::start(
        root.path(),
        &[
            "--state-dir",
            state_dir,
            "--tls-self-signed",
            "--redirect-http",
            "127.0.0.1:0",
            "--hsts",
            "60",
            "--h2-max-streams",
            "3",
        ],
    );
    let printed = running
        .fingerprint
        .clone()
        .unwrap_or_else(|| panic!("no fingerprint:\n{}", running.stderr()));
    assert_eq!(printed.len(), 32 * 3 - 1, "{printed}");
    let tls = tls_connect(running.addr, "localhost", &[b"h2"]).await;
    let der = presented(&tls);
    assert_eq!(sha256_hex(&der), printed);

    // The certificate verifies for localhost and 127.0.0.1 against itself.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der.clone())).unwrap();
    let strict = Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for name in ["localhost", "127.0.0.1"] {
        connect_with(running.addr, name, strict.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(
        connect_with(running.addr, "example.com", strict)
            .await
            .is_err(),
        "valid for example.com?"
    );

    // Serves h2 with HSTS and the advertised stream limit.
    let (mut send, conn) = h2_handshake(tls).await;
    let r = h2_get(&mut send, "https://localhost/a.txt").await;
    assert_eq!(r.body, b"self");
    assert_eq!(r.headers["strict-transport-security"], "max-age=60");
    assert_eq!(send.current_max_send_streams(), 3);
    drop(conn);

    // The redirect listener points at the https port.
    let redirect = running.redirect.expect("redirect listener");
    let mut c = Raw::connect(redirect);
    c.send("GET /a.txt?v=1 HTTP/1.1\r\nHost: localhost:1234\r\nConnection: close\r\n\r\n");
    let r = c.response();
    r.expect(308);
    assert_eq!(
        r.header("location"),
        format!("https://localhost:{}/a.txt?v=1", running.addr.port())
    );

    // The certificate is made once and kept in the state folder, its key
    // readable by the user alone.
    let kept = state.path().join("self-signed/cert.pem");
    assert!(
        running
            .stderr()
            .contains(&format!(", made and kept in {}\n", kept.display())),
        "{}",
        running.stderr()
    );
    let key = std::fs::metadata(state.path().join("self-signed/key.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    // The next start reuses it, so a browser's exception still holds ...
    let again = TlsBinary::start(
        root.path(),
        &["--state-dir", state_dir, "--tls-self-signed"],
    );
    assert_eq!(again.fingerprint, running.fingerprint);
    assert!(
        again
            .stderr()
            .contains(&format!(", kept in {}\n", kept.display())),
        "{}",
        again.stderr()
    );
    // ... and another state folder has another certificate.
    let elsewhere = TlsBinary::start(root.path(), &["--tls-self-signed"]);
    assert_ne!(elsewhere.fingerprint, running.fingerprint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_certificates_and_a_bad_file_keeps_the_old_ones() {
    let root = TempRoot::new().file("a.txt", "reload");
    let dir = TempRoot::new();
    let one = cert(&["localhost"]);
    let two = cert(&["localhost"]);
    let three = cert(&["localhost"]);
    let files = write_cert(dir.path(), "site", &one);
    let running = TlsBinary::start(
        root.path(),
        &[
            "--tls-cert",
            files.cert.to_str().unwrap(),
            "--tls-key",
            files.key.to_str().unwrap(),
        ],
    );
    let addr = running.addr;
    let current = || async move {
        let tls = tls_connect(addr, "localhost", &[b"http/1.1"]).await;
        let der = presented(&tls);
        assert_eq!(h1_request(tls, "GET", "/a.txt", "").await.body, b"reload");
        der
    };
    assert!(current().await == one.der, "not the first certificate");
    // A connection opened before the reload keeps working after it.
    let before = tls_connect(addr, "localhost", &[b"h2"]).await;
    let (mut before_send, _before_conn) = h2_handshake(before).await;

    // Files replaced, SIGHUP: new handshakes get the new certificate.
    write_cert(dir.path(), "site", &two);
    running.signal("-HUP");
    let deadline = Instant::now() + WAIT;
    while current().await != two.der {
        assert!(Instant::now() < deadline, "certificate not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        h2_get(&mut before_send, "https://localhost/a.txt")
            .await
            .body,
        b"reload"
    );

    // A bad key (and then a mismatched pair): the old certificate stays, the
    // error is logged naming the file, the server keeps serving.
    std::fs::write(&files.key, "garbage").unwrap();
    running.signal("-HUP");
    let text = running.wait_stderr("reload failed");
    assert!(text.contains(files.key.to_str().unwrap()), "{text}");
    std::fs::write(&files.cert, &three.cert_pem).unwrap();
    std::fs::write(&files.key, &one.key_pem).unwrap();
    running.signal("-HUP");
    let deadline = Instant::now() + WAIT;
    while running.stderr().matches("reload failed").count() < 2 {
        assert!(Instant::now() < deadline, "{}", running.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        assert!(
            current().await == two.der,
            "a bad reload replaced the certificate"
        );
    }
    // Fixed files, SIGHUP: the third certificate.
    std::fs::write(&files.key, &three.key_pem).unwrap();
    running.signal("-HUP");
    let deadline = Instant::now() + WAIT;
    while current().await != three.der {
        assert!(
            Instant::now() < deadline,
            "certificate not reloaded after the fix"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running.child.id() > 0);
}

/// With the https listener on port 0 the redirect learns the real port once
/// bound (`fix_redirect_ports`); a reload must not lose it.
#[test]
fn the_redirect_keeps_the_real_https_port_across_a_reload() {
    let root = TempRoot::new().file("a.txt", "A");
    let running = TlsBinary::start(
        root.path(),
        &["--tls-self-signed", "--redirect-http", "127.0.0.1:0"],
    );
    let redirect = running.redirect.expect("redirect listener");
    let location = || {
        let mut c = Raw::connect(redirect);
        c.send("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let r = c.response();
        r.expect(308);
        r.header("location").to_string()
    };
    let want = format!("https://localhost:{}/a.txt", running.addr.port());
    assert_eq!(location(), want, "before the reload");
    running.signal("-HUP");
    running.wait_stderr("configuration reloaded");
    assert_eq!(location(), want, "after SIGHUP");
}

/// A kept TLS connection waits the idle timeout for its next request, not
/// the header timeout: TLS cannot report readiness, so the wait happens in
/// the head read, whose first byte is due by the end of the idle wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tls_keep_alive_connection_lasts_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let root = TempRoot::new().file("a.txt", "kept");
    let c = cert(&["localhost"]);
    let mut options = ServerOptions::default();
    options.h1.head_timeout = Duration::from_millis(300);
    options.h1.idle_timeout = Duration::from_secs(3);
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Tls(tls_for(&[&c]))],
    );
    let mut tls = tls_connect(server.addr, "localhost", &[b"http/1.1"]).await;
    let request = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let response = async |tls: &mut tokio_rustls::client::TlsStream<TcpStream>| {
        tls.write_all(request).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"\r\n\r\nkept") {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    assert!(response(&mut tls).await.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Idle for three header timeouts, well within the idle timeout.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(response(&mut tls).await.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Then the idle timeout closes it.
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
        .await
        .expect("not closed at the idle timeout")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(2500), "{took:?}");
}
