//! The client's address behind a load balancer: the PROXY protocol (v1 and
//! v2) and forwarding headers from trusted proxies, as the access log and
//! the access rules see it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrox::log::LogFormat;
use ferrox::server::sites::{Plan, SitePlan};
use ferrox::server::ServerOptions;
use ferrox::site::access::AccessRules;
use ferrox::site::forwarded::{ForwardedHeader, TrustedProxies};
use ferrox::site::pipeline::Modifiers;

use crate::support::sites::{local, site, SitePlanExt};
use crate::support::{Raw, SiteServer, TempRoot};

/// One site on `root` that refuses 198.51.100.0/24, on a plain listener.
fn plan(root: &TempRoot) -> Plan {
    let deny = vec!["198.51.100.0/24".to_string()];
    let site: SitePlan = site(&["test"], root.path())
        .default_site()
        .with_modifiers(Modifiers {
            access: Some(AccessRules::new(&[], &deny).unwrap()),
            ..Default::default()
        });
    Plan {
        sites: vec![site],
        listen: vec![local(1)],
        listen_tls: Vec::new(),
    }
}

fn options(proxy_protocol: bool, trusted: &[&str]) -> ServerOptions {
    let mut options = ServerOptions {
        proxy_protocol,
        trusted_proxies: TrustedProxies::new(
            &trusted.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap(),
        ..Default::default()
    };
    options.h1.head_timeout = Duration::from_secs(1);
    options
}

const GET: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

/// A version 2 PROXY header for TCP over IPv4 from `source` (LOCAL when `None`).
fn v2(source: Option<SocketAddr>) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    match source {
        Some(SocketAddr::V4(src)) => {
            out.extend_from_slice(&[0x21, 0x11, 0, 12]);
            out.extend_from_slice(&src.ip().octets());
            out.extend_from_slice(&[127, 0, 0, 1]);
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&80u16.to_be_bytes());
        }
        _ => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
    }
    out
}

/// Sends `bytes` and returns the status, or `None` when the server closed
/// without a byte.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut c = Raw::connect(addr);
    c.try_send(bytes);
    let got = c.read_to_close();
    if got.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&got);
    text.get(9..12).and_then(|s| s.parse().ok())
}

/// The access log's client addresses, one per line.
fn clients(server: &SiteServer, lines: usize) -> Vec<String> {
    server
        .access_log(lines)
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_proxy_header_names_the_client_for_the_log_and_the_access_rules() {
    let root = TempRoot::new().file("a.txt", "hello");
    let server = SiteServer::start_with_options(plan(&root), LogFormat::Common, options(true, &[]));
    let addr = server.at(local(1));
    let with = |header: &[u8]| [header, GET].concat();

    // Version 1 and version 2, IPv4 and IPv6: served, logged as the header says.
    assert_eq!(
        exchange(addr, &with(b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 80\r\n")),
        Some(200)
    );
    assert_eq!(
        exchange(addr, &with(b"PROXY TCP6 2001:db8::7 ::1 5000 80\r\n")),
        Some(200)
    );
    assert_eq!(
        exchange(addr, &with(&v2(Some("192.0.2.8:4000".parse().unwrap())))),
        Some(200)
    );
    // A balancer's own health check (LOCAL): the connection's address.
    assert_eq!(exchange(addr, &with(&v2(None))), Some(200));
    // The header's address is the one the access rules see.
    assert_eq!(
        exchange(
            addr,
            &with(b"PROXY TCP4 198.51.100.9 127.0.0.1 5000 80\r\n")
        ),
        Some(403)
    );
    assert_eq!(
        exchange(
            addr,
            &with(&v2(Some("198.51.100.10:4000".parse().unwrap())))
        ),
        Some(403)
    );
    assert_eq!(
        clients(&server, 6),
        [
            "192.0.2.7",
            "2001:db8::7",
            "192.0.2.8",
            "127.0.0.1",
            "198.51.100.9",
            "198.51.100.10"
        ]
    );

    // No header, or a broken one: closed without an answer or a log line.
    for bytes in [
        GET.to_vec(),
        with(b"PROXY TCP4 192.0.2.7 nonsense 5000 80\r\n"),
        with(b"PROXY TCP9 192.0.2.7 127.0.0.1 5000 80\r\n"),
        with(&[b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".as_slice(), &[0; 64]].concat()),
        b"\x16\x03\x01\x00\x10hello, tls".to_vec(),
    ] {
        assert_eq!(
            exchange(addr, &bytes),
            None,
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    // A header that never comes: closed at the head deadline (1 s here).
    let started = Instant::now();
    let mut idle = Raw::connect(addr);
    idle.try_send(b"PROXY TCP4 ");
    assert!(idle.read_to_close().is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(server.access_log(6).lines().count(), 6);
}

#[test]
fn forwarding_headers_are_believed_from_trusted_proxies_only() {
    let root = TempRoot::new().file("a.txt", "hello");
    let forwarded = |chain: &str| {
        format!(
            "GET /a.txt HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: {chain}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    };

    // The test client (127.0.0.1) is a trusted proxy: the rightmost
    // untrusted hop is the client, for the log and the access rules.
    let server = SiteServer::start_with_options(
        plan(&root),
        LogFormat::Common,
        options(false, &["127.0.0.1"]),
    );
    let addr = server.at(local(1));
    assert_eq!(
        exchange(addr, &forwarded("198.51.100.9, 192.0.2.7")),
        Some(200)
    );
    assert_eq!(
        exchange(addr, &forwarded("192.0.2.7, 198.51.100.9")),
        Some(403)
    );
    // A client's own `Forwarded` is not read (the proxy appends to
    // X-Forwarded-For and passes it through): no way to name itself.
    let spoof = b"GET /a.txt HTTP/1.1\r\nHost: test\r\nForwarded: for=198.51.100.9\r\nX-Forwarded-For: 192.0.2.8\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(addr, spoof), Some(200));
    assert_eq!(
        clients(&server, 3),
        ["192.0.2.7", "198.51.100.9", "192.0.2.8"]
    );
    drop(server);

    // Proxies that write `Forwarded` (RFC 7239), when configured: only it.
    let mut rfc = options(false, &["127.0.0.1"]);
    rfc.trusted_proxies = rfc.trusted_proxies.reading(ForwardedHeader::Forwarded);
    let server = SiteServer::start_with_options(plan(&root), LogFormat::Common, rfc);
    let addr = server.at(local(1));
    let rfc7239 = b"GET /a.txt HTTP/1.1\r\nHost: test\r\nForwarded: for=\"[2001:db8::9]:4711\"\r\nX-Forwarded-For: 198.51.100.9\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(addr, rfc7239), Some(200));
    assert_eq!(exchange(addr, &forwarded("198.51.100.9")), Some(200));
    assert_eq!(clients(&server, 2), ["2001:db8::9", "127.0.0.1"]);
    drop(server);

    // Not trusted: a client's own header changes nothing.
    let server = SiteServer::start_with_options(
        plan(&root),
        LogFormat::Common,
        options(false, &["10.0.0.0/8"]),
    );
    let addr = server.at(local(1));
    assert_eq!(exchange(addr, &forwarded("192.0.2.7")), Some(200));
    // A forged header cannot make a refused client look allowed either way.
    assert_eq!(exchange(addr, &forwarded("198.51.100.9")), Some(200));
    assert_eq!(clients(&server, 2), ["127.0.0.1", "127.0.0.1"]);
    drop(server);

    // Behind PROXY: the header's source is the peer that must be trusted.
    let server = SiteServer::start_with_options(
        plan(&root),
        LogFormat::Common,
        options(true, &["192.0.2.0/24"]),
    );
    let addr = server.at(local(1));
    let via = |source: &str, chain: &str| {
        [
            format!("PROXY TCP4 {source} 127.0.0.1 5000 80\r\n").into_bytes(),
            forwarded(chain),
        ]
        .concat()
    };
    assert_eq!(exchange(addr, &via("192.0.2.7", "203.0.113.5")), Some(200));
    assert_eq!(exchange(addr, &via("203.0.113.99", "192.0.2.1")), Some(200));
    assert_eq!(exchange(addr, &via("192.0.2.7", "198.51.100.1")), Some(403));
    assert_eq!(
        clients(&server, 3),
        ["203.0.113.5", "203.0.113.99", "198.51.100.1"]
    );
}
