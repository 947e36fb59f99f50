//! Virtual hosts over real sockets, served in-process from a plan the way the
//! binary serves them (`support::sites`): the host table over HTTP/1.1, h2c
//! and HTTP/2 over TLS; SNI and 421; redirects to https; HSTS; a site's own
//! listener; `vhost` in the access log; reloads, under traffic too; and roots
//! that follow their path across deploys.
//!
//! Every site's root holds `who.txt`, saying which site it is, so that each
//! answer shows which site served it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrox::log::LogFormat;
use ferrox::server::sites::{Plan, SitePlan};
use http::Request;

use crate::support::h2::{h2_get, h2_handshake, h2_request, h2c, H2Resp};
use crate::support::sites::{
    block_on, get, get_once, local, site, tls_raw, SitePlanExt, TestCa, TlsRaw,
};
use crate::support::tls::{client_config, connect_with, presented, write_cert, Cert};
use crate::support::{builtin_page, Raw, Resp, SiteServer, TempRoot};

// ---------------------------------------------------------------------------
// Fixtures and outcomes
// ---------------------------------------------------------------------------

/// A root whose `who.txt` says `text`.
fn root_saying(text: &str) -> TempRoot {
    TempRoot::new().file("who.txt", text)
}

/// What a request got, as (status, body text).
type Outcome = (u16, String);

fn served(text: &str) -> Outcome {
    (200, text.to_string())
}

/// Refused by the sites: the built-in page for `status`.
fn refused(status: u16) -> Outcome {
    (status, String::from_utf8(builtin_page(status)).unwrap())
}

fn outcome(r: &Resp) -> Outcome {
    (r.status, r.text())
}

fn h2_outcome(r: &H2Resp) -> Outcome {
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// Plain listener 127.0.0.1 and these sites.
fn plain_plan(sites: Vec<SitePlan>) -> Plan {
    Plan {
        sites,
        listen: vec![local(1)],
        listen_tls: Vec::new(),
    }
}

/// Plain listener 127.0.0.1, TLS listener 127.0.0.2, and these sites.
fn tls_plan(sites: Vec<SitePlan>) -> Plan {
    Plan {
        sites,
        listen: vec![local(1)],
        listen_tls: vec![local(2)],
    }
}

/// Sites a.test and b.test (each with its certificate, signed by one CA),
/// and c.test without TLS; the plan is the test's.
struct TlsSites {
    ca: TestCa,
    a: Cert,
    b: Cert,
    roots: [TempRoot; 3],
    certs: TempRoot,
}

impl TlsSites {
    fn new() -> TlsSites {
        let ca = TestCa::new();
        let a = ca.issue(&["a.test"]);
        let b = ca.issue(&["b.test", "*.b.test"]);
        TlsSites {
            ca,
            a,
            b,
            roots: [root_saying("a"), root_saying("b"), root_saying("c")],
            certs: TempRoot::new(),
        }
    }

    /// a.test with its certificate.
    fn a(&self) -> SitePlan {
        site(&["a.test"], self.roots[0].path()).with_tls(write_cert(
            self.certs.path(),
            "a",
            &self.a,
        ))
    }

    /// b.test and *.b.test with its certificate.
    fn b(&self) -> SitePlan {
        site(&["b.test", "*.b.test"], self.roots[1].path()).with_tls(write_cert(
            self.certs.path(),
            "b",
            &self.b,
        ))
    }

    /// c.test, plain only.
    fn c(&self) -> SitePlan {
        site(&["c.test"], self.roots[2].path())
    }

    /// HTTP/1.1 over TLS as `sni`, verified against the CA; asserts the
    /// server presented `want`.
    #[track_caller]
    fn h1(&self, addr: std::net::SocketAddr, sni: &str, want: &Cert) -> TlsRaw {
        let (c, leaf) = tls_raw(addr, sni, self.ca.client(&[b"http/1.1"]));
        assert!(leaf == want.der, "SNI {sni}: another certificate");
        c
    }
}

/// Calls `probe` every 20 ms until it answers `Some`, for at most `limit`.
#[track_caller]
fn poll<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(done) = probe() {
            return done;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// The host table, over HTTP/1.1 and h2c
// ---------------------------------------------------------------------------

/// a.test (and www.a.test), b.test and every `*.example.test`, and (if
/// `default`) a default site.
fn three_sites(roots: &[TempRoot; 3], default: bool) -> Plan {
    let mut sites = vec![
        site(&["a.test", "www.a.test"], roots[0].path()),
        site(&["b.test", "*.example.test"], roots[1].path()),
    ];
    if default {
        sites.push(site(&[], roots[2].path()).default_site());
    }
    plain_plan(sites)
}

fn three_roots() -> [TempRoot; 3] {
    [root_saying("a"), root_saying("b"), root_saying("default")]
}

/// Host → what `GET /who.txt` gets, with a default site.
fn host_cases() -> Vec<(&'static str, Outcome)> {
    vec![
        ("a.test", served("a")),
        ("www.a.test", served("a")),
        ("A.Test", served("a")),
        ("a.test:8080", served("a")),
        ("a.test.", served("a")),
        ("WWW.A.TEST.:80", served("a")),
        ("b.test", served("b")),
        ("x.example.test", served("b")),
        ("X.Example.TEST.", served("b")),
        // A wildcard covers one label, not two, nor its own base name.
        ("a.b.example.test", served("default")),
        ("example.test", served("default")),
        // One trailing dot goes, not two.
        ("a.test..", served("default")),
        ("unknown.test", served("default")),
        ("127.0.0.1", served("default")),
    ]
}

#[test]
fn hosts_pick_the_site_over_http1() {
    let roots = three_roots();
    let server = SiteServer::start(three_sites(&roots, true));
    let addr = server.at(local(1));
    // One kept-alive connection for every case: each request picks anew.
    let mut c = Raw::connect(addr);
    for (host, want) in host_cases() {
        let r = get(&mut c, host, "/who.txt");
        assert_eq!(outcome(&r), want, "Host: {host}\n{r:?}");
    }
    // Hosts the parser lets through but that are no host names: 400, and the
    // connection goes on.
    for host in ["a!b", "a~b.test", "a'b", ".", ":80"] {
        let r = get(&mut c, host, "/who.txt");
        assert_eq!(outcome(&r), refused(400), "Host: {host}\n{r:?}");
    }
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("a"));

    // An absolute-form target's authority beats Host.
    for (target, host, want) in [
        ("http://b.test/who.txt", "a.test", served("b")),
        ("http://A.TEST:81/who.txt", "b.test", served("a")),
        ("http://unknown.test/who.txt", "a.test", served("default")),
    ] {
        c.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        let r = c.response();
        assert_eq!(outcome(&r), want, "{target} with Host: {host}\n{r:?}");
    }

    // HTTP/1.0 without Host: the default site.
    let mut old = Raw::connect(addr);
    old.send("GET /who.txt HTTP/1.0\r\n\r\n");
    assert_eq!(outcome(&old.response()), served("default"));
}

#[test]
fn without_a_default_site_an_unknown_host_is_421_and_the_connection_goes_on() {
    let roots = three_roots();
    let server = SiteServer::start(three_sites(&roots, false));
    let addr = server.at(local(1));
    let mut c = Raw::connect(addr);
    for (host, want) in [
        ("unknown.test", refused(421)),
        ("a.test", served("a")),
        ("a.b.example.test", refused(421)),
        ("example.test", refused(421)),
        ("x.example.test", served("b")),
        ("127.0.0.1", refused(421)),
        ("a!b", refused(400)),
        ("A.TEST.", served("a")),
    ] {
        let r = get(&mut c, host, "/who.txt");
        assert_eq!(outcome(&r), want, "Host: {host}\n{r:?}");
    }
    // HTTP/1.0 without Host names no site.
    let mut old = Raw::connect(addr);
    old.send("GET /who.txt HTTP/1.0\r\n\r\n");
    assert_eq!(outcome(&old.response()), refused(421));
}

#[test]
fn authority_picks_the_site_over_h2c() {
    let roots = three_roots();
    let with_default = SiteServer::start(three_sites(&roots, true));
    let without = SiteServer::start(three_sites(&roots, false));
    block_on(async {
        let (mut send, _conn) = h2c(with_default.at(local(1))).await;
        for (authority, want) in host_cases() {
            let r = h2_get(&mut send, &format!("http://{authority}/who.txt")).await;
            assert_eq!(h2_outcome(&r), want, ":authority {authority}");
        }
        let r = h2_get(&mut send, "http://a!b/who.txt").await;
        assert_eq!(h2_outcome(&r), refused(400), ":authority a!b");

        // Without a default site: 421, and the next stream is served.
        let (mut send, _conn) = h2c(without.at(local(1))).await;
        for (authority, want) in [
            ("unknown.test", refused(421)),
            ("a.test", served("a")),
            ("a.b.example.test", refused(421)),
            ("y.example.test", served("b")),
        ] {
            let r = h2_get(&mut send, &format!("http://{authority}/who.txt")).await;
            assert_eq!(h2_outcome(&r), want, ":authority {authority}");
        }
        // A request with Host and no :authority.
        let req = Request::get("/who.txt")
            .header("host", "b.test")
            .body(())
            .unwrap();
        assert_eq!(h2_outcome(&h2_request(&send, req).await), served("b"));
    });
}

// ---------------------------------------------------------------------------
// TLS: SNI picks the certificate; other sites on that connection are 421
// ---------------------------------------------------------------------------

#[test]
fn sni_picks_each_sites_certificate_and_other_hosts_are_421_over_http1() {
    let t = TlsSites::new();
    // b.test is the default site: a handshake without SNI gets its certificate.
    let server = SiteServer::start(tls_plan(vec![t.a(), t.b().default_site(), t.c()]));
    let tls = server.at(local(2));

    let mut a = t.h1(tls, "a.test", &t.a);
    for (host, want) in [
        ("a.test", served("a")),
        ("A.TEST:443", served("a")),
        ("b.test", refused(421)),
        ("x.b.test", refused(421)),
        // A site without TLS is not served on a TLS listener.
        ("c.test", refused(421)),
        // Nor is the default site on another site's handshake.
        ("unknown.test", refused(421)),
        ("a.test", served("a")),
    ] {
        let r = get(&mut a, host, "/who.txt");
        assert_eq!(outcome(&r), want, "SNI a.test, Host: {host}\n{r:?}");
    }

    let mut b = t.h1(tls, "b.test", &t.b);
    for (host, want) in [
        ("b.test", served("b")),
        ("x.b.test", served("b")),
        ("unknown.test", served("b")),
        ("a.test", refused(421)),
        ("c.test", refused(421)),
    ] {
        let r = get(&mut b, host, "/who.txt");
        assert_eq!(outcome(&r), want, "SNI b.test, Host: {host}\n{r:?}");
    }

    // SNI and Host differ but name the same site (the wildcard): served.
    let mut wild = t.h1(tls, "x.b.test", &t.b);
    assert_eq!(
        outcome(&get(&mut wild, "y.b.test", "/who.txt")),
        served("b")
    );

    // No SNI (connecting by address), or SNI naming a site without TLS: the
    // default TLS site's certificate, and only that site is served.
    for name in ["127.0.0.2", "c.test"] {
        let (mut c, leaf) = tls_raw(tls, name, client_config(&[b"http/1.1"]));
        assert!(
            leaf == t.b.der,
            "{name}: not the default site's certificate"
        );
        assert_eq!(outcome(&get(&mut c, "b.test", "/who.txt")), served("b"));
        assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), refused(421));
        assert_eq!(outcome(&get(&mut c, "c.test", "/who.txt")), refused(421));
    }

    // Plain, every site is served (none redirects here).
    let plain = server.at(local(1));
    for (host, want) in [("a.test", "a"), ("b.test", "b"), ("c.test", "c")] {
        assert_eq!(outcome(&get_once(plain, host, "/who.txt")), served(want));
    }
}

#[test]
fn sni_and_authority_pick_the_site_over_h2() {
    let t = TlsSites::new();
    let server = SiteServer::start(tls_plan(vec![t.a(), t.b().default_site(), t.c()]));
    let tls = server.at(local(2));
    block_on(async {
        // HTTP/2 over TLS as `sni`, verified; the server presented `want`.
        let over_h2 = |sni: &'static str, want: &Cert| {
            let (client, want) = (t.ca.client(&[b"h2"]), want.der.clone());
            async move {
                let stream = connect_with(tls, sni, client)
                    .await
                    .unwrap_or_else(|e| panic!("SNI {sni}: {e}"));
                assert!(presented(&stream) == want, "SNI {sni}: another certificate");
                h2_handshake(stream).await
            }
        };
        for (sni, cert, requests) in [
            (
                "a.test",
                &t.a,
                vec![
                    ("a.test", served("a")),
                    ("b.test", refused(421)),
                    ("c.test", refused(421)),
                    ("unknown.test", refused(421)),
                    ("a.test:443", served("a")),
                ],
            ),
            (
                "b.test",
                &t.b,
                vec![
                    ("b.test", served("b")),
                    ("a.test", refused(421)),
                    ("z.b.test", served("b")),
                ],
            ),
            // SNI and :authority differ but name the same site.
            (
                "x.b.test",
                &t.b,
                vec![("y.b.test", served("b")), ("a.test", refused(421))],
            ),
        ] {
            let (mut send, _conn) = over_h2(sni, cert).await;
            for (authority, want) in requests {
                let r = h2_get(&mut send, &format!("https://{authority}/who.txt")).await;
                assert_eq!(h2_outcome(&r), want, "SNI {sni}, :authority {authority}");
            }
        }
        // No SNI: the default site's certificate and files.
        let stream = connect_with(tls, "127.0.0.2", client_config(&[b"h2"]))
            .await
            .unwrap();
        assert!(presented(&stream) == t.b.der, "no SNI: not b's certificate");
        let (mut send, _conn) = h2_handshake(stream).await;
        let r = h2_get(&mut send, "https://b.test/who.txt").await;
        assert_eq!(h2_outcome(&r), served("b"));
        let r = h2_get(&mut send, "https://a.test/who.txt").await;
        assert_eq!(h2_outcome(&r), refused(421));
    });
}

// ---------------------------------------------------------------------------
// Redirects to https, HSTS
// ---------------------------------------------------------------------------

#[test]
fn plain_requests_for_a_tls_site_get_308_to_its_https_url() {
    let t = TlsSites::new();
    // a.test redirects; b.test has TLS but serves plain requests too.
    let server = SiteServer::start(tls_plan(vec![t.a().redirecting(), t.b(), t.c()]));
    let plain = server.at(local(1));
    let tls = server.at(local(2));
    let port = tls.port();

    let mut c = Raw::connect(plain);
    for (request, location) in [
        (
            "GET /who.txt?q=1&r=2 HTTP/1.1\r\nHost: a.test\r\n\r\n".to_string(),
            format!("https://a.test:{port}/who.txt?q=1&r=2"),
        ),
        (
            "GET /dir/ HTTP/1.1\r\nHost: a.test:8080\r\n\r\n".to_string(),
            format!("https://a.test:{port}/dir/"),
        ),
        (
            "GET http://a.test/abs?x HTTP/1.1\r\nHost: c.test\r\n\r\n".to_string(),
            format!("https://a.test:{port}/abs?x"),
        ),
        // Any method: 308 keeps it, and the body is read and dropped.
        (
            "POST /form?x=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nk=v".to_string(),
            format!("https://a.test:{port}/form?x=1"),
        ),
        (
            "DELETE /thing HTTP/1.1\r\nHost: a.test\r\n\r\n".to_string(),
            format!("https://a.test:{port}/thing"),
        ),
        (
            "PUT /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nhi".to_string(),
            format!("https://a.test:{port}/up"),
        ),
    ] {
        c.send(&request);
        let r = c.response();
        assert_eq!(r.status, 308, "{request:?}\n{r:?}");
        assert_eq!(r.header("location"), location, "{request:?}");
        assert!(r.body.is_empty(), "{r:?}");
    }
    // The connection goes on; b.test and c.test are served plain.
    assert_eq!(outcome(&get(&mut c, "b.test", "/who.txt")), served("b"));
    assert_eq!(outcome(&get(&mut c, "c.test", "/who.txt")), served("c"));

    // Over h2c too.
    block_on(async {
        let (mut send, _conn) = h2c(plain).await;
        let r = h2_get(&mut send, "http://a.test/x?y=1").await;
        assert_eq!(r.status, 308);
        assert_eq!(
            r.headers["location"],
            format!("https://a.test:{port}/x?y=1")
        );
        let r = h2_get(&mut send, "http://b.test/who.txt").await;
        assert_eq!(h2_outcome(&r), served("b"));
    });

    // The URL leads to the site.
    let r = get_once(plain, "a.test", "/who.txt?v=2");
    let location = r.header("location");
    let https_port: u16 = location
        .strip_prefix("https://a.test:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("location {location}"));
    let at = std::net::SocketAddr::new(tls.ip(), https_port);
    let mut secure = t.h1(at, "a.test", &t.a);
    assert_eq!(
        outcome(&get(&mut secure, "a.test", "/who.txt?v=2")),
        served("a")
    );
}

#[test]
fn hsts_goes_on_every_tls_response_of_its_site_and_never_on_plain_ones() {
    let t = TlsSites::new();
    let server = SiteServer::start(tls_plan(vec![t.a().with_hsts(3600), t.b()]));
    let (plain, tls) = (server.at(local(1)), server.at(local(2)));
    const HSTS: &str = "max-age=3600";

    // TLS, HTTP/1.1: a file, a 404, a 304.
    let mut a = t.h1(tls, "a.test", &t.a);
    let ok = get(&mut a, "a.test", "/who.txt");
    ok.expect(200);
    let etag = ok.header("etag").to_string();
    a.send(format!(
        "GET /who.txt HTTP/1.1\r\nHost: a.test\r\nIf-None-Match: {etag}\r\n\r\n"
    ));
    let not_modified = a.response();
    not_modified.expect(304);
    let missing = get(&mut a, "a.test", "/missing");
    missing.expect(404);
    for r in [&ok, &not_modified, &missing] {
        assert_eq!(
            r.try_header("strict-transport-security"),
            Some(HSTS),
            "{r:?}"
        );
        assert_eq!(r.count("strict-transport-security"), 1, "{r:?}");
    }

    // TLS, HTTP/2.
    block_on(async {
        let stream = connect_with(tls, "a.test", t.ca.client(&[b"h2"]))
            .await
            .unwrap();
        let (mut send, _conn) = h2_handshake(stream).await;
        for (path, status) in [("/who.txt", 200), ("/missing", 404)] {
            let r = h2_get(&mut send, &format!("https://a.test{path}")).await;
            assert_eq!(r.status, status);
            let values: Vec<_> = r
                .headers
                .get_all("strict-transport-security")
                .iter()
                .collect();
            assert_eq!(values, [HSTS], "h2 {path}");
        }
        let req = Request::get("https://a.test/who.txt")
            .header("if-none-match", &etag)
            .body(())
            .unwrap();
        let r = h2_request(&send, req).await;
        assert_eq!(r.status, 304);
        assert_eq!(r.headers["strict-transport-security"], HSTS);
    });

    // Another TLS site without HSTS: none.
    let mut b = t.h1(tls, "b.test", &t.b);
    let r = get(&mut b, "b.test", "/who.txt");
    r.expect(200);
    assert_eq!(r.try_header("strict-transport-security"), None, "{r:?}");

    // Plain: never, whatever the status.
    let mut c = Raw::connect(plain);
    let r = get(&mut c, "a.test", "/who.txt");
    assert_eq!(outcome(&r), served("a"));
    let etag = r.header("etag").to_string();
    c.send(format!(
        "GET /who.txt HTTP/1.1\r\nHost: a.test\r\nIf-None-Match: {etag}\r\n\r\n"
    ));
    let not_modified = c.response();
    not_modified.expect(304);
    let missing = get(&mut c, "a.test", "/missing");
    missing.expect(404);
    for r in [&r, &not_modified, &missing] {
        assert_eq!(r.try_header("strict-transport-security"), None, "{r:?}");
    }
    block_on(async {
        let (mut send, _conn) = h2c(plain).await;
        let r = h2_get(&mut send, "http://a.test/who.txt").await;
        assert_eq!(h2_outcome(&r), served("a"));
        assert!(r.headers.get("strict-transport-security").is_none());
    });
}

// ---------------------------------------------------------------------------
// A site's own listener
// ---------------------------------------------------------------------------

#[test]
fn a_sites_own_listener_serves_that_site_whatever_the_host() {
    let (a, b) = (root_saying("a"), root_saying("b"));
    let server = SiteServer::start(plain_plan(vec![
        site(&["a.test"], a.path()).listening(local(3)),
        site(&["b.test"], b.path()).default_site(),
    ]));
    let (shared, own) = (server.at(local(1)), server.at(local(3)));

    let mut c = Raw::connect(own);
    for host in ["a.test", "b.test", "unknown.test", "B.TEST:80"] {
        let r = get(&mut c, host, "/who.txt");
        assert_eq!(
            outcome(&r),
            served("a"),
            "own listener, Host: {host}\n{r:?}"
        );
    }
    let mut old = Raw::connect(own);
    old.send("GET /who.txt HTTP/1.0\r\n\r\n");
    assert_eq!(outcome(&old.response()), served("a"));
    block_on(async {
        let (mut send, _conn) = h2c(own).await;
        let r = h2_get(&mut send, "http://b.test/who.txt").await;
        assert_eq!(h2_outcome(&r), served("a"), "own listener over h2c");
    });

    // The shared listener serves every site by host.
    let mut c = Raw::connect(shared);
    for (host, want) in [("a.test", "a"), ("b.test", "b"), ("unknown.test", "b")] {
        assert_eq!(
            outcome(&get(&mut c, host, "/who.txt")),
            served(want),
            "{host}"
        );
    }
}

#[test]
fn a_sites_own_tls_listener_serves_it_with_its_certificate() {
    let t = TlsSites::new();
    let server = SiteServer::start(tls_plan(vec![
        t.a().listening_tls(local(4)),
        t.b().default_site(),
    ]));
    let own = server.at(local(4));
    // Asked for by name: its certificate, and it is served whatever the host.
    let mut c = t.h1(own, "a.test", &t.a);
    for host in ["a.test", "b.test", "unknown.test"] {
        assert_eq!(
            outcome(&get(&mut c, host, "/who.txt")),
            served("a"),
            "{host}"
        );
    }
}

/// The listener belongs to a.test alone, so every handshake on it should get
/// a.test's certificate: the one site served there.
#[test]
fn a_sites_own_tls_listener_presents_its_certificate_without_sni_or_with_another_name() {
    let t = TlsSites::new();
    let server = SiteServer::start(tls_plan(vec![
        t.a().listening_tls(local(4)),
        t.b().default_site(),
    ]));
    let own = server.at(local(4));
    for name in ["127.0.0.4", "b.test"] {
        let (mut c, leaf) = tls_raw(own, name, client_config(&[b"http/1.1"]));
        let r = get(&mut c, "a.test", "/who.txt");
        assert_eq!(outcome(&r), served("a"), "{name}");
        assert!(
            leaf == t.a.der,
            "a.test's own listener, {name}: presented {} certificate while serving a.test",
            if leaf == t.b.der {
                "b.test's"
            } else {
                "another"
            }
        );
    }
}

// ---------------------------------------------------------------------------
// The access log
// ---------------------------------------------------------------------------

#[test]
fn json_access_log_names_the_vhost() {
    let roots = three_roots();
    let server = SiteServer::start_logging(three_sites(&roots, true), LogFormat::Json);
    let addr = server.at(local(1));
    let mut c = Raw::connect(addr);
    get(&mut c, "a.test:8080", "/who.txt").expect(200);
    get(&mut c, "x.example.test", "/who.txt").expect(200);
    c.send("GET http://b.test/who.txt HTTP/1.1\r\nHost: a.test\r\n\r\n");
    c.response().expect(200);
    let mut old = Raw::connect(addr);
    old.send("GET /who.txt HTTP/1.0\r\n\r\n");
    old.response().expect(200);
    block_on(async {
        let (mut send, _conn) = h2c(addr).await;
        assert_eq!(h2_get(&mut send, "http://b.test/who.txt").await.status, 200);
    });

    let log = server.access_log(5);
    let mut vhosts: Vec<(String, String)> = log
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["status"], 200, "{line}");
            (
                v["vhost"].to_string(),
                v["protocol"].as_str().unwrap().into(),
            )
        })
        .collect();
    vhosts.sort();
    let want = [
        ("\"a.test\"", "HTTP/1.1"),
        ("\"b.test\"", "HTTP/1.1"),
        ("\"b.test\"", "HTTP/2.0"),
        ("\"x.example.test\"", "HTTP/1.1"),
        ("null", "HTTP/1.0"),
    ]
    .map(|(v, p)| (v.to_string(), p.to_string()));
    assert_eq!(vhosts, want, "log:\n{log}");
}

#[test]
fn vhost_combined_lines_start_with_the_host() {
    let roots = three_roots();
    let server = SiteServer::start_logging(three_sites(&roots, true), LogFormat::VhostCombined);
    let addr = server.at(local(1));
    let mut c = Raw::connect(addr);
    get(&mut c, "a.test:8080", "/who.txt").expect(200);
    let mut old = Raw::connect(addr);
    old.send("GET /who.txt HTTP/1.0\r\n\r\n");
    old.response().expect(200);
    let log = server.access_log(2);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "log:\n{log}");
    // Each line: `host:port `, then the combined format from the client's address.
    let (first, second) = if lines[0].contains("HTTP/1.0") {
        (lines[1], lines[0])
    } else {
        (lines[0], lines[1])
    };
    for (line, host) in [(first, "a.test"), (second, "-")] {
        let (vhost, rest) = line.split_once(' ').unwrap();
        let (name, port) = vhost.rsplit_once(':').unwrap();
        assert_eq!(name, host, "{line}");
        assert!(port.parse::<u16>().is_ok(), "{line}");
        assert!(rest.starts_with("127.0.0.1 - - ["), "{line}");
    }
    assert!(
        first.contains("\"GET /who.txt HTTP/1.1\" 200 1 "),
        "{first}"
    );
}

/// `host:PORT ` names the port the connection came in on.
#[test]
fn vhost_combined_lines_name_the_listeners_real_port() {
    let roots = three_roots();
    let server = SiteServer::start_logging(three_sites(&roots, true), LogFormat::VhostCombined);
    let addr = server.at(local(1));
    get_once(addr, "a.test:8080", "/who.txt").expect(200);
    let log = server.access_log(1);
    let prefix = format!("a.test:{} 127.0.0.1 - - [", addr.port());
    assert!(log.starts_with(&prefix), "want {prefix:?}..., log:\n{log}");
}

// ---------------------------------------------------------------------------
// Reloads
// ---------------------------------------------------------------------------

#[test]
fn a_reload_takes_on_the_next_request_of_a_kept_alive_connection() {
    let (one, two, b) = (root_saying("one"), root_saying("two"), root_saying("b"));
    let a_on = |root: &TempRoot| site(&["a.test"], root.path());
    let mut server = SiteServer::start(plain_plan(vec![a_on(&one)]));
    let mut c = Raw::connect(server.at(local(1)));
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("one"));
    assert_eq!(outcome(&get(&mut c, "b.test", "/who.txt")), refused(421));

    // Another root: the same connection's next request gets it.
    assert_eq!(server.reload(plain_plan(vec![a_on(&two)])), Ok(2));
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("two"));

    // A root that does not exist: the reload fails, the old one serves on.
    let missing = two.join("no-such-folder");
    let failed = server.reload(plain_plan(vec![site(&["a.test"], &missing)]));
    let errors = failed.expect_err("a reload onto a missing root took");
    assert!(errors.contains("site[0]"), "{errors}");
    assert!(
        errors.contains("reload failed: keeping configuration generation 2"),
        "{errors}"
    );
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("two"));
    server.allow_errors();

    // A site added by host.
    let added = plain_plan(vec![a_on(&two), site(&["b.test"], b.path())]);
    assert_eq!(server.reload(added), Ok(3));
    assert_eq!(outcome(&get(&mut c, "b.test", "/who.txt")), served("b"));
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("two"));
    // Nothing failed but the reload that was meant to.
    let errors = server.errors();
    assert!(
        errors
            .lines()
            .all(|l| l.contains("no-such-folder") || l.contains("reload failed")),
        "{errors}"
    );
}

/// What one client thread saw.
#[derive(Debug, Default)]
struct Tally {
    one: u32,
    two: u32,
    connections: u32,
    /// Still going when told to stop (not cut short by its bounds).
    outlasted_the_reloads: bool,
}

/// Kept-alive GETs of a.test's `who.txt` until `stop` (or 4 s, or 4000
/// requests); each must be a whole 200 saying `one` or `two`. A connection
/// the server closes after its request cap is replaced.
fn keep_getting(addr: std::net::SocketAddr, stop: &AtomicBool) -> Tally {
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut tally = Tally::default();
    let mut conn: Option<Raw> = None;
    while Instant::now() < deadline && tally.one + tally.two < 4000 {
        if stop.load(Ordering::Relaxed) {
            tally.outlasted_the_reloads = true;
            break;
        }
        let c = conn.get_or_insert_with(|| {
            tally.connections += 1;
            Raw::connect(addr)
        });
        let r = get(c, "a.test", "/who.txt");
        match outcome(&r) {
            (200, body) if body == "one" => tally.one += 1,
            (200, body) if body == "two" => tally.two += 1,
            _ => panic!("request {} failed: {r:?}", tally.one + tally.two + 1),
        }
        if r.try_header("connection") == Some("close") {
            conn = None;
        }
    }
    tally
}

#[test]
fn reloads_under_traffic_fail_no_request() {
    let (one, two) = (root_saying("one"), root_saying("two"));
    let plan = |root: &TempRoot| plain_plan(vec![site(&["a.test"], root.path())]);
    let server = SiteServer::start(plan(&one));
    let addr = server.at(local(1));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || keep_getting(addr, &stop))
        })
        .collect();
    let mut generation = 1;
    for i in 0..20 {
        let next = if i % 2 == 0 { &two } else { &one };
        generation = server
            .reload(plan(next))
            .unwrap_or_else(|e| panic!("reload {i}: {e}"));
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let tallies: Vec<Tally> = clients
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect();
    assert_eq!(generation, 21);
    let (ones, twos) = tallies
        .iter()
        .fold((0, 0), |(o, t), tally| (o + tally.one, t + tally.two));
    // Every request was a whole 200 (else a client panicked); both roots
    // served, and the traffic went on until the last reload.
    assert!(ones > 0 && twos > 0, "{tallies:?}");
    assert!(
        tallies.iter().all(|t| t.outlasted_the_reloads),
        "a client stopped before the reloads did: {tallies:?}"
    );
    assert!(
        ones + twos >= 100,
        "too little traffic to show anything: {tallies:?}"
    );
}

// ---------------------------------------------------------------------------
// Deploys: roots that follow their path
// ---------------------------------------------------------------------------

/// How long a root change may take to be followed (it is looked at every
/// second).
const FOLLOW: Duration = Duration::from_millis(2500);

fn one_site(root: &Path) -> Plan {
    plain_plan(vec![site(&["a.test"], root)])
}

#[test]
fn a_switched_symlink_is_followed() {
    let dir = TempRoot::new()
        .file("releases/1/who.txt", "release 1")
        .file("releases/2/who.txt", "release 2")
        .file("releases/2/new.txt", "new in 2")
        .symlink("current", "releases/1");
    let server = SiteServer::start(one_site(&dir.join("current")));
    let mut c = Raw::connect(server.at(local(1)));
    assert_eq!(
        outcome(&get(&mut c, "a.test", "/who.txt")),
        served("release 1")
    );
    get(&mut c, "a.test", "/new.txt").expect(404);

    // The atomic switch: a new link renamed over the old.
    std::os::unix::fs::symlink("releases/2", dir.join("current.tmp")).unwrap();
    std::fs::rename(dir.join("current.tmp"), dir.join("current")).unwrap();
    poll(FOLLOW, "release 2 served", || {
        let r = get(&mut c, "a.test", "/who.txt");
        match outcome(&r) {
            o if o == served("release 2") => Some(()),
            o if o == served("release 1") => None,
            _ => panic!("during the switch: {r:?}"),
        }
    });
    assert_eq!(
        outcome(&get(&mut c, "a.test", "/new.txt")),
        served("new in 2")
    );
}

#[test]
fn a_folder_replaced_in_place_is_followed() {
    let dir = TempRoot::new().file("site/who.txt", "old");
    let root = dir.join("site");
    let mut server = SiteServer::start(one_site(&root));
    let mut c = Raw::connect(server.at(local(1)));
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("old"));

    // Renamed away (still served meanwhile), and a new folder made at the path.
    std::fs::rename(&root, dir.join("site.old")).unwrap();
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("who.txt"), "new").unwrap();
    std::fs::write(root.join("more.txt"), "more").unwrap();
    poll(FOLLOW, "the new folder served", || {
        let r = get(&mut c, "a.test", "/who.txt");
        match outcome(&r) {
            o if o == served("new") => Some(()),
            o if o == served("old") => None,
            // A look at the path between the rename and the mkdir finds nothing.
            (503, _) => None,
            _ => panic!("during the replacement: {r:?}"),
        }
    });
    assert_eq!(outcome(&get(&mut c, "a.test", "/more.txt")), served("more"));

    // Removed and made again within a second: the new folder may get the old
    // one's inode number, and is followed all the same.
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("who.txt"), "newer").unwrap();
    poll(FOLLOW, "the remade folder served", || {
        let r = get(&mut c, "a.test", "/who.txt");
        match outcome(&r) {
            o if o == served("newer") => Some(()),
            // The removed folder, until it is looked at: its file is gone, or
            // still open in the file cache.
            o if o == served("new") => None,
            (404, _) | (503, _) => None,
            _ => panic!("during the replacement: {r:?}"),
        }
    });
    // A moment without the folder may have been seen, and logged: nothing else.
    server.allow_errors();
    let errors = server.errors();
    assert!(
        errors.lines().all(|l| l.contains("root is gone")),
        "{errors}"
    );
}

#[test]
fn a_removed_root_is_503_until_it_is_back() {
    let dir = TempRoot::new().file("site/index.html", "home");
    let root = dir.join("site");
    let mut server = SiteServer::start(one_site(&root));
    let mut c = Raw::connect(server.at(local(1)));
    assert_eq!(outcome(&get(&mut c, "a.test", "/")), served("home"));

    std::fs::remove_dir_all(&root).unwrap();
    let gone = poll(FOLLOW, "503 for the removed root", || {
        let r = get(&mut c, "a.test", "/");
        match r.status {
            503 => Some(r),
            _ => None,
        }
    });
    assert_eq!(outcome(&gone), refused(503));
    // Steady: 503 for anything, never an empty listing.
    for target in ["/", "/index.html", "/who.txt"] {
        assert_eq!(
            outcome(&get(&mut c, "a.test", target)),
            refused(503),
            "{target}"
        );
    }
    server.allow_errors();
    let errors = server.errors();
    assert!(errors.contains("root is gone"), "not logged: {errors}");

    // Back: served again.
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), "home again").unwrap();
    poll(FOLLOW, "the root served again", || {
        let r = get(&mut c, "a.test", "/");
        match outcome(&r) {
            o if o == served("home again") => Some(()),
            (503, _) => None,
            _ => panic!("while coming back: {r:?}"),
        }
    });
}

/// From the moment the folder is removed, `GET /` must never answer 200 with
/// something the folder did not hold (an empty listing of the removed folder).
#[test]
fn a_removed_root_never_answers_an_empty_listing() {
    let dir = TempRoot::new()
        .file("site/index.html", "home")
        .file("site/who.txt", "a");
    let root = dir.join("site");
    let mut server = SiteServer::start(one_site(&root));
    server.allow_errors();
    let mut c = Raw::connect(server.at(local(1)));
    // Served, but the index not yet asked for (nor held in the file cache).
    assert_eq!(outcome(&get(&mut c, "a.test", "/who.txt")), served("a"));
    std::fs::remove_dir_all(&root).unwrap();
    poll(FOLLOW, "503 for the removed root", || {
        let r = get(&mut c, "a.test", "/");
        match outcome(&r) {
            (503, _) => Some(()),
            o if o == served("home") => None,
            _ => panic!("GET / of a removed root: {r:?}"),
        }
    });
}
