//! HTTP/2: h2c with prior knowledge, h2 over TLS, many streams, the static-file
//! features compared with HTTP/1.1, resets, the stream limit, GOAWAY.
//!
//! Most tests use the `h2` crate's client; where a well-behaved client cannot
//! show the behaviour (a client that ignores the stream limit, never answers a
//! PING, or never ends its request body), a raw frame client does.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrox::server::{Protocol, ServerOptions};
use http::{Method, Request};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::support;
use crate::support::h2::{
    h2_get, h2_handshake, h2_request, h2_try, h2c, Frame, H2Resp, RawH2, DATA, END_STREAM, GOAWAY,
    HEADERS, PREFACE, RST_STREAM, SETTINGS,
};
use crate::support::tls::{cert, tls_connect, tls_for};
use crate::support::{files, within, Raw, Resp, TempRoot, TestServer, TestService, WAIT};

// ---------------------------------------------------------------------------
// Access-log helpers
// ---------------------------------------------------------------------------

/// Polls the access log until `done` holds (at most `wait`).
async fn wait_log(server: &TestServer, wait: Duration, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let log = server.access_log(0);
        if done(&log) || Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The byte counts of the access-log lines for `request` ("GET /x HTTP/2.0").
fn logged_bytes(log: &str, request: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains(&format!("\"{request}\"")))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// h2c and the basics
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge_on_a_plain_port() {
    let server = TestServer::start(TestService, ServerOptions::default());
    let (send, _conn) = h2c(server.addr).await;
    let r = h2_request(&send, Request::get("http://t/hello").body(()).unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello world");
    assert_eq!(r.headers["content-length"], "11");
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.headers["server"], "ferrox");
    httpdate::parse_http_date(r.headers["date"].to_str().unwrap()).unwrap();
    for name in ["connection", "keep-alive", "transfer-encoding"] {
        assert!(r.headers.get(name).is_none(), "{name} in {:?}", r.headers);
    }
    // A body of unknown length: no Content-Length, no chunking, exact bytes.
    let r = h2_request(&send, Request::get("http://t/stream").body(()).unwrap()).await;
    assert_eq!(r.body, b"one,two,three");
    assert!(r.headers.get("content-length").is_none(), "{:?}", r.headers);
    // A body larger than every window.
    let r = h2_request(
        &send,
        Request::get("http://t/big?n=300000").body(()).unwrap(),
    )
    .await;
    assert_eq!(r.body.len(), 300_000);
    assert!(r.body.iter().all(|b| *b == b'x'));
    assert_eq!(r.headers["content-length"], "300000");
    // HEAD: the GET's head, no DATA.
    let r = h2_request(&send, Request::head("http://t/hello").body(()).unwrap()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.headers["content-length"], "11");
    // The request's authority is its host.
    let r = h2_request(
        &send,
        Request::get("http://authority.test/host").body(()).unwrap(),
    )
    .await;
    assert_eq!(r.body, b"authority.test");
    // HTTP/1.1 on the same port still works.
    server.get("/hello").expect(200);
    // The access log names the protocol.
    let log = wait_log(&server, WAIT, |l| l.contains("HTTP/1.1")).await;
    assert!(log.contains("\"GET /hello HTTP/2.0\" 200 11"), "{log}");
    assert!(log.contains("\"HEAD /hello HTTP/2.0\" 200 0"), "{log}");

    // The preface split over several writes is still h2.
    let mut raw = RawH2::connect_without_preface(server.addr).await;
    raw.write(&PREFACE[..3]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    raw.write(&PREFACE[3..16]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    raw.write(&PREFACE[16..]).await;
    raw.send(SETTINGS, 0, 0, &[]).await;
    raw.get(1, "/hello", true).await;
    let frames = raw
        .until(WAIT, true, |f| f.stream == 1 && f.flags & END_STREAM != 0)
        .await;
    let data: Vec<u8> = frames
        .iter()
        .filter(|f| f.ty == DATA && f.stream == 1)
        .flat_map(|f| f.payload.clone())
        .collect();
    assert_eq!(data, b"hello world", "{}", raw.transcript());

    // Something that starts like the preface but is not: HTTP/1.1 answers.
    let mut c = server.raw();
    c.send("PRI / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().status, 501);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_streams_fetch_different_files_exactly() {
    let mut root = TempRoot::new();
    let sizes: Vec<usize> = (0..100).map(|i| 7 + i * 1999).collect();
    for (i, size) in sizes.iter().enumerate() {
        root = root.file(format!("f{i:03}.bin"), support::noise(*size, i as u64));
    }
    let c = cert(&["localhost"]);
    let server = TestServer::start_protocols(
        files(root.path()),
        ServerOptions::default(),
        vec![Protocol::Tls(tls_for(&[&c]))],
    );
    let tls = tls_connect(server.addr, "localhost", &[b"h2"]).await;
    let (send, _conn) = h2_handshake(tls).await;
    // Every request is sent before any response is read.
    let mut pending = Vec::new();
    for i in 0..100 {
        let mut ready = within("ready", send.clone().ready()).await.unwrap();
        let req = Request::get(format!("https://localhost/f{i:03}.bin"))
            .body(())
            .unwrap();
        let (response, _) = ready.send_request(req, true).unwrap();
        pending.push(response);
    }
    let tasks: Vec<_> = pending
        .into_iter()
        .enumerate()
        .map(|(i, response)| {
            tokio::spawn(async move {
                let response = tokio::time::timeout(WAIT * 2, response)
                    .await
                    .expect("head")
                    .expect("head");
                let (parts, mut body) = response.into_parts();
                let mut bytes = Vec::new();
                while let Some(chunk) = tokio::time::timeout(WAIT * 2, body.data())
                    .await
                    .expect("body timed out")
                {
                    let chunk = chunk.expect("body");
                    let _ = body.flow_control().release_capacity(chunk.len());
                    bytes.extend_from_slice(&chunk);
                }
                (i, parts, bytes)
            })
        })
        .collect();
    for task in tasks {
        let (i, parts, bytes) = task.await.unwrap();
        assert_eq!(parts.status, 200, "f{i:03}");
        assert_eq!(parts.headers["content-length"], sizes[i].to_string());
        assert_eq!(parts.headers["content-type"], "application/octet-stream");
        assert_eq!(bytes.len(), sizes[i], "f{i:03}: length");
        assert!(
            bytes == support::noise(sizes[i], i as u64),
            "f{i:03}: bytes differ"
        );
    }
    let log = wait_log(&server, WAIT, |l| l.lines().count() >= 100).await;
    for (i, size) in sizes.iter().enumerate() {
        assert_eq!(
            logged_bytes(&log, &format!("GET /f{i:03}.bin HTTP/2.0")),
            [*size as u64],
            "{log}"
        );
    }
}

// ---------------------------------------------------------------------------
// Static files: the same over h2 as over h1
// ---------------------------------------------------------------------------

/// Status, headers (lower-case, sorted; without Date and the fields HTTP/2
/// forbids) and body, with a multipart boundary replaced by `BOUNDARY`.
type Normal = (u16, Vec<(String, String)>, Vec<u8>);

fn normalise(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Normal {
    let boundary = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .and_then(|(_, v)| v.split_once("boundary="))
        .map(|(_, b)| b.to_string());
    // A listing's nonce differs per response, as it must.
    let nonce = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-security-policy"))
        .and_then(|(_, v)| v.split("'nonce-").nth(1))
        .and_then(|v| v.split('\'').next())
        .map(|n| n.to_string());
    let replace = |s: &[u8]| {
        let mut text = String::from_utf8_lossy(s).into_owned();
        if let Some(b) = &boundary {
            text = text.replace(b.as_str(), "BOUNDARY");
        }
        if let Some(n) = &nonce {
            text = text.replace(n.as_str(), "NONCE");
        }
        if boundary.is_none() && nonce.is_none() {
            return s.to_vec();
        }
        text.into_bytes()
    };
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .filter(|(n, _)| !["date", "connection", "keep-alive"].contains(&n.as_str()))
        .map(|(n, v)| {
            let v = String::from_utf8(replace(v.as_bytes())).unwrap();
            (n, v)
        })
        .collect();
    headers.sort();
    let body = if boundary.is_some() || nonce.is_some() {
        replace(&body)
    } else {
        body
    };
    (status, headers, body)
}

/// A request: method, target, extra headers.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);

fn normal_h1(r: Resp) -> Normal {
    normalise(r.status, r.headers, r.body)
}

fn normal_h2(r: H2Resp) -> Normal {
    let headers = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    normalise(r.status, headers, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_static_file_feature_is_the_same_over_h2_as_over_h1() {
    let root = TempRoot::new()
        .file("site/index.html", "<!doctype html><title>home</title>\n")
        .file("site/page.html", "<p>page</p>\n")
        .file("site/style.css", "body{color:red}\n")
        .file("site/app.js", "console.log(1)\n")
        .file("site/data.json", "{\"a\":1}\n")
        .file("site/img.png", support::noise(3000, 1))
        .file(
            "site/pic.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        )
        .file("site/notes.txt", "0123456789abcdefghij")
        .file("site/mod.wasm", b"\0asm\x01\0\0\0")
        .file("site/blob.unknownext", support::noise(100, 2))
        .file("site/empty.txt", "")
        .file("site/big.bin", support::noise(200_000, 3))
        .file("site/.secret", "hidden")
        .file("site/dir/a.txt", "A")
        .file("site/dir/b b.txt", "B")
        .file("site/dir/sub/c.txt", "C")
        .file("site/caf\u{e9}.txt", "utf8 name")
        .file("pages/404.html", "<p>custom not found</p>\n");
    let options = ferrox::handler::Options {
        error_pages: Some(root.join("pages")),
        ..Default::default()
    };
    let service = ferrox::server::FileService(
        ferrox::handler::Handler::new(&root.join("site"), options).unwrap(),
    );
    let c = cert(&["localhost"]);
    let server = TestServer::start_protocols(
        service,
        ServerOptions::default(),
        vec![Protocol::Plain, Protocol::Tls(tls_for(&[&c]))],
    );
    let (plain, tls_addr) = (server.addrs[0], server.addrs[1]);
    let h1 = |method: &str, target: &str, headers: &str| {
        let mut c = Raw::connect(plain);
        c.send(format!(
            "{method} {target} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n"
        ));
        if method == "HEAD" {
            c.head_response()
        } else {
            c.response()
        }
    };
    let page = h1("GET", "/notes.txt", "");
    let etag = page.header("etag").to_string();
    let modified = page.header("last-modified").to_string();

    let (h2c_send, _c1) = h2c(plain).await;
    let tls = tls_connect(tls_addr, "localhost", &[b"h2"]).await;
    let (tls_send, _c2) = h2_handshake(tls).await;

    let requests: Vec<Case> = vec![
        ("GET", "/", vec![]),
        ("GET", "/page.html", vec![]),
        ("GET", "/page.html?v=1&x=%20", vec![]),
        ("GET", "/style.css", vec![]),
        ("GET", "/app.js", vec![]),
        ("GET", "/data.json", vec![]),
        ("GET", "/img.png", vec![]),
        ("GET", "/pic.svg", vec![]),
        ("GET", "/notes.txt", vec![]),
        ("GET", "/mod.wasm", vec![]),
        ("GET", "/blob.unknownext", vec![]),
        ("GET", "/empty.txt", vec![]),
        ("GET", "/big.bin", vec![]),
        ("GET", "/caf%C3%A9.txt", vec![]),
        ("GET", "/dir", vec![]),
        ("GET", "/dir?q=1", vec![]),
        ("GET", "/dir/", vec![]),
        ("GET", "/dir/sub/", vec![]),
        ("GET", "/dir/", vec![("accept", "application/json".into())]),
        ("GET", "/dir/b%20b.txt", vec![]),
        ("GET", "/missing", vec![]),
        ("GET", "/.secret", vec![]),
        ("GET", "/notes.txt/", vec![]),
        ("GET", "/../etc/passwd", vec![]),
        ("GET", "/%2e%2e/x", vec![]),
        ("GET", "/a%00b", vec![]),
        ("HEAD", "/page.html", vec![]),
        ("HEAD", "/big.bin", vec![]),
        ("HEAD", "/dir/", vec![]),
        ("HEAD", "/dir", vec![]),
        ("HEAD", "/missing", vec![]),
        ("HEAD", "/notes.txt", vec![("range", "bytes=0-3".into())]),
        ("GET", "/notes.txt", vec![("range", "bytes=2-5".into())]),
        ("GET", "/notes.txt", vec![("range", "bytes=-3".into())]),
        ("GET", "/notes.txt", vec![("range", "bytes=15-".into())]),
        (
            "GET",
            "/notes.txt",
            vec![("range", "bytes=0-1,5-6,18-".into())],
        ),
        ("GET", "/notes.txt", vec![("range", "bytes=50-".into())]),
        ("GET", "/notes.txt", vec![("range", "bytes=x-y".into())]),
        (
            "GET",
            "/big.bin",
            vec![("range", "bytes=100000-170000".into())],
        ),
        ("GET", "/notes.txt", vec![("if-none-match", etag.clone())]),
        (
            "GET",
            "/notes.txt",
            vec![("if-none-match", "\"other\"".into())],
        ),
        ("HEAD", "/notes.txt", vec![("if-none-match", etag.clone())]),
        (
            "GET",
            "/notes.txt",
            vec![("if-modified-since", modified.clone())],
        ),
        (
            "GET",
            "/notes.txt",
            vec![("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT".into())],
        ),
        ("GET", "/notes.txt", vec![("if-match", "\"nope\"".into())]),
        ("GET", "/notes.txt", vec![("if-match", etag.clone())]),
        (
            "GET",
            "/notes.txt",
            vec![(
                "if-unmodified-since",
                "Thu, 01 Jan 1970 00:00:00 GMT".into(),
            )],
        ),
        (
            "GET",
            "/notes.txt",
            vec![("range", "bytes=0-4".into()), ("if-range", etag.clone())],
        ),
        (
            "GET",
            "/notes.txt",
            vec![
                ("range", "bytes=0-4".into()),
                ("if-range", "\"stale\"".into()),
            ],
        ),
        ("POST", "/page.html", vec![]),
        ("PUT", "/page.html", vec![]),
        ("DELETE", "/missing", vec![]),
        ("PATCH", "/", vec![]),
        ("OPTIONS", "/page.html", vec![]),
        ("OPTIONS", "/missing", vec![]),
    ];
    assert!(etag.starts_with('"'), "{page:?}");
    for (method, target, headers) in &requests {
        let raw_headers: String = headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let one = normal_h1(h1(method, target, &raw_headers));
        for (which, send, scheme) in [
            ("h2c", &h2c_send, "http"),
            ("h2 over TLS", &tls_send, "https"),
        ] {
            let mut req = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(format!("{scheme}://test{target}"));
            for (n, v) in headers {
                req = req.header(*n, v);
            }
            let two = normal_h2(h2_request(send, req.body(()).unwrap()).await);
            assert!(
                one == two,
                "{method} {target} {headers:?}: {which} differs from HTTP/1.1\n\
                 h1: {} {:?}\n    {:?}\nh2: {} {:?}\n    {:?}",
                one.0,
                one.1,
                String::from_utf8_lossy(&one.2[..one.2.len().min(300)]),
                two.0,
                two.1,
                String::from_utf8_lossy(&two.2[..two.2.len().min(300)]),
            );
        }
    }
    // The comparison is not vacuous.
    let statuses: std::collections::BTreeSet<u16> = {
        let mut s = std::collections::BTreeSet::new();
        for (method, target, headers) in &requests {
            let raw_headers: String = headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}\r\n"))
                .collect();
            s.insert(h1(method, target, &raw_headers).status);
        }
        s
    };
    for status in [200, 204, 206, 301, 304, 400, 404, 405, 412, 416] {
        assert!(
            statuses.contains(&status),
            "{status} not covered: {statuses:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_conditional_requests_over_h2() {
    let root = TempRoot::new().file("r.txt", "0123456789abcdefghij");
    let c = cert(&["localhost"]);
    let server = TestServer::start_protocols(
        files(root.path()),
        ServerOptions::default(),
        vec![Protocol::Tls(tls_for(&[&c]))],
    );
    let tls = tls_connect(server.addr, "localhost", &[b"h2"]).await;
    let (send, _conn) = h2_handshake(tls).await;
    let get = |headers: &[(&str, &str)]| {
        let mut req = Request::get("https://localhost/r.txt");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        h2_request(&send, req.body(()).unwrap())
    };
    let full = get(&[]).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.headers["accept-ranges"], "bytes");
    let etag = full.headers["etag"].to_str().unwrap().to_string();
    let modified = full.headers["last-modified"].to_str().unwrap().to_string();

    for (range, body, content_range) in [
        ("bytes=2-5", &b"2345"[..], "bytes 2-5/20"),
        ("bytes=-3", b"hij", "bytes 17-19/20"),
        ("bytes=15-", b"fghij", "bytes 15-19/20"),
        ("bytes=0-0", b"0", "bytes 0-0/20"),
        ("bytes=19-100", b"j", "bytes 19-19/20"),
    ] {
        let r = get(&[("range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, body, "{range}");
        assert_eq!(r.headers["content-range"], content_range, "{range}");
        assert_eq!(
            r.headers["content-length"],
            body.len().to_string(),
            "{range}"
        );
    }
    // Several ranges: multipart/byteranges, byte for byte.
    let r = get(&[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(r.status, 206);
    let ct = r.headers["content-type"].to_str().unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ct}"));
    let expected = format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/20\r\n\r\n01\
         \r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 5-6/20\r\n\r\n56\
         \r\n--{boundary}--\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&r.body), expected);
    assert_eq!(r.headers["content-length"], expected.len().to_string());
    // Unsatisfiable.
    let r = get(&[("range", "bytes=20-")]).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.headers["content-range"], "bytes */20");
    // Conditionals.
    for (headers, status) in [
        (vec![("if-none-match", etag.as_str())], 304),
        (vec![("if-none-match", "*")], 304),
        (vec![("if-modified-since", modified.as_str())], 304),
        (vec![("if-match", "\"nope\"")], 412),
        (vec![("if-match", etag.as_str())], 200),
        (vec![("if-none-match", "\"other\"")], 200),
    ] {
        let r = get(&headers).await;
        assert_eq!(r.status, status, "{headers:?}");
        if status == 304 {
            assert!(r.body.is_empty(), "{headers:?}");
            assert_eq!(r.headers["etag"], etag.as_str());
            assert!(r.headers.get("content-length").is_none(), "{:?}", r.headers);
        }
        if status == 200 {
            assert_eq!(r.body, b"0123456789abcdefghij");
        }
    }
    // If-Range: the range only while the validator matches.
    let r = get(&[("range", "bytes=0-4"), ("if-range", &etag)]).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &b"01234"[..]));
    let r = get(&[("range", "bytes=0-4"), ("if-range", "\"stale\"")]).await;
    assert_eq!((r.status, r.body.len()), (200, 20));
}

// ---------------------------------------------------------------------------
// Resets
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reset_mid_file_frees_the_server() {
    const BIG: usize = 4 * 1024 * 1024;
    let big = support::noise(BIG, 7);
    let root = TempRoot::new()
        .file("big.bin", &big)
        .file("small.txt", "small");
    let c = cert(&["localhost"]);
    let mut options = ServerOptions::default();
    // A stuck stream would only be noticed after this.
    options.h2.send_timeout = Duration::from_secs(20);
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Plain, Protocol::Tls(tls_for(&[&c]))],
    );
    let mut expected_lines = 0;
    for tls in [false, true] {
        let (scheme, send, _conn) = if tls {
            let io = tls_connect(server.addrs[1], "localhost", &[b"h2"]).await;
            let (send, conn) = h2_handshake(io).await;
            ("https", send, conn)
        } else {
            let (send, conn) = h2c(server.addrs[0]).await;
            ("http", send, conn)
        };
        let uri = |path: &str| format!("{scheme}://localhost{path}");
        // Two downloads of the big file; one is reset after its first bytes.
        let whole = {
            let send = send.clone();
            let uri = uri("/big.bin");
            tokio::spawn(
                async move { h2_request(&send, Request::get(uri).body(()).unwrap()).await },
            )
        };
        let mut ready = within("ready", send.clone().ready()).await.unwrap();
        let (response, mut stream) = ready
            .send_request(Request::get(uri("/big.bin")).body(()).unwrap(), true)
            .unwrap();
        let response = within("head", response).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let first = within("first bytes", body.data()).await.unwrap().unwrap();
        assert!(!first.is_empty() && big.starts_with(&first));
        stream.send_reset(h2::Reason::CANCEL);
        let reset_at = Instant::now();
        drop(body);

        // The same connection serves at once.
        let r = h2_request(&send, Request::get(uri("/small.txt")).body(()).unwrap()).await;
        assert_eq!(r.body, b"small");
        assert!(
            reset_at.elapsed() < Duration::from_secs(2),
            "{:?}",
            reset_at.elapsed()
        );
        // So does a new one.
        let (send2, _conn2) = if tls {
            h2_handshake(tls_connect(server.addrs[1], "localhost", &[b"h2"]).await).await
        } else {
            h2c(server.addrs[0]).await
        };
        let r = h2_request(&send2, Request::get(uri("/small.txt")).body(()).unwrap()).await;
        assert_eq!(r.body, b"small");
        // The other download is whole.
        let whole = within("whole download", whole).await.unwrap();
        assert!(whole.body == big, "the concurrent download is not exact");

        // The reset stream is logged promptly, with fewer bytes than the file.
        expected_lines += 4;
        let log = wait_log(&server, Duration::from_secs(3), |l| {
            l.lines().count() >= expected_lines
        })
        .await;
        let took = reset_at.elapsed();
        let bytes = logged_bytes(&log, "GET /big.bin HTTP/2.0");
        let (complete, partial): (Vec<u64>, Vec<u64>) =
            bytes.iter().partition(|b| **b == BIG as u64);
        assert_eq!(complete.len(), expected_lines / 4, "{log}");
        assert_eq!(partial.len(), expected_lines / 4, "{log}");
        let partial = *partial.last().unwrap();
        assert!(
            partial >= first.len() as u64 && partial < BIG as u64,
            "reset stream logged {partial} bytes:\n{log}"
        );
        assert!(
            took < Duration::from_secs(3),
            "the reset stream was logged only after {took:?}"
        );
    }

    // A whole connection dropped mid-file is also let go.
    let tcp = TcpStream::connect(server.addrs[0]).await.unwrap();
    let (send, conn) = h2_handshake(tcp).await;
    let mut ready = send.clone().ready().await.unwrap();
    let (response, _stream) = ready
        .send_request(
            Request::get("http://localhost/big.bin").body(()).unwrap(),
            true,
        )
        .unwrap();
    let mut body = within("head", response).await.unwrap().into_body();
    within("first bytes", body.data()).await.unwrap().unwrap();
    conn.abort();
    drop((send, ready, body));
    let log = wait_log(&server, Duration::from_secs(3), |l| {
        l.lines().count() > expected_lines
    })
    .await;
    assert_eq!(
        logged_bytes(&log, "GET /big.bin HTTP/2.0").len(),
        expected_lines / 2 + 1,
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// The stream limit
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_limit_is_advertised_and_extra_streams_queue() {
    let mut options = ServerOptions::default();
    options.h2.max_concurrent_streams = 2;
    let server = TestServer::start(TestService, options);

    // Advertised in the server's first SETTINGS.
    let mut raw = RawH2::connect(server.addr).await;
    let settings = raw.until(WAIT, true, |f| f.ty == SETTINGS).await;
    let settings = settings.last().unwrap();
    let advertised: Vec<(u16, u32)> = settings
        .payload
        .chunks(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes(s[2..6].try_into().unwrap()),
            )
        })
        .collect();
    assert!(advertised.contains(&(3, 2)), "SETTINGS {advertised:?}");

    // And enforced: a third stream opened anyway is refused, the two are served.
    for stream in [1, 3, 5] {
        raw.get(stream, "/slow?ms=300", true).await;
    }
    let mut ended = Vec::new();
    let mut refused = Vec::new();
    raw.until(WAIT, true, |f| {
        if f.ty == RST_STREAM {
            refused.push((f.stream, f.u32_at(0)));
        }
        if f.ty == DATA && f.flags & END_STREAM != 0 {
            ended.push(f.stream);
        }
        ended.len() == 2
    })
    .await;
    assert_eq!(
        refused,
        [(5, 7)],
        "REFUSED_STREAM for stream 5\n{}",
        raw.transcript()
    );
    ended.sort();
    assert_eq!(ended, [1, 3], "{}", raw.transcript());

    // A client that honours it: six requests at once all succeed, two at a time.
    let (send, _conn) = h2c(server.addr).await;
    h2_request(&send, Request::get("http://t/hello").body(()).unwrap()).await;
    assert_eq!(send.current_max_send_streams(), 2);
    let started = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let send = send.clone();
            tokio::spawn(async move {
                h2_request(
                    &send,
                    Request::get("http://t/slow?ms=300").body(()).unwrap(),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        let r = within("queued stream", task).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"done"[..]));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(880) && took < Duration::from_secs(4),
        "6 streams of 300 ms, 2 at a time, took {took:?}"
    );

    // The default is 128.
    let default = TestServer::start(TestService, ServerOptions::default());
    let (send, _conn) = h2c(default.addr).await;
    h2_request(&send, Request::get("http://t/hello").body(()).unwrap()).await;
    assert_eq!(send.current_max_send_streams(), 128);
}

// ---------------------------------------------------------------------------
// GOAWAY: shutdown and idle connections
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_on_graceful_shutdown_lets_the_in_flight_stream_finish() {
    let options = ServerOptions {
        shutdown_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut server = TestServer::start(TestService, options);
    let mut raw = RawH2::connect(server.addr).await;
    raw.until(WAIT, true, |f| f.ty == SETTINGS).await;
    raw.get(1, "/slow?ms=500", true).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let triggered = Instant::now();
    server.trigger_shutdown();
    // Read everything to the close, answering the shutdown PING.
    let frames = raw.until(WAIT, true, |_| false).await;
    let closed_after = triggered.elapsed();
    let transcript = raw.transcript();
    let position = |pred: &dyn Fn(&Frame) -> bool| frames.iter().position(pred);
    let first_goaway =
        position(&|f| f.ty == GOAWAY).unwrap_or_else(|| panic!("no GOAWAY\n{transcript}"));
    let end = position(&|f| f.stream == 1 && f.ty == DATA && f.flags & END_STREAM != 0)
        .unwrap_or_else(|| panic!("stream 1 did not finish\n{transcript}"));
    assert!(
        first_goaway < end,
        "GOAWAY only after the response\n{transcript}"
    );
    // The response is whole: 200 and "done".
    let head = frames
        .iter()
        .find(|f| f.stream == 1 && f.ty == HEADERS)
        .unwrap();
    assert_eq!(head.payload[0], 0x88, ":status 200 (indexed)");
    let data: Vec<u8> = frames
        .iter()
        .filter(|f| f.stream == 1 && f.ty == DATA)
        .flat_map(|f| f.payload.clone())
        .collect();
    assert_eq!(data, b"done");
    // The last GOAWAY names stream 1 as the last processed, without error.
    let last = frames.iter().rev().find(|f| f.ty == GOAWAY).unwrap();
    assert_eq!((last.u32_at(0), last.u32_at(4)), (1, 0), "{transcript}");
    assert!(!frames.iter().any(|f| f.ty == RST_STREAM), "{transcript}");
    // Closed once the stream was done, not at the shutdown timeout.
    assert!(
        closed_after < Duration::from_secs(2),
        "closed {closed_after:?} after shutdown"
    );
    assert!(server.wait_stopped() < Duration::from_secs(2));
    let log = server.access_log(1);
    assert!(log.contains("\"GET /slow?ms=500 HTTP/2.0\" 200 4"), "{log}");

    // The same with the h2 client: the in-flight request completes, the
    // connection ends cleanly, and a new stream after the GOAWAY is refused.
    let mut server = TestServer::start(TestService, ServerOptions::default());
    let (send, conn) = h2c(server.addr).await;
    let slow = {
        let send = send.clone();
        tokio::spawn(async move {
            h2_request(
                &send,
                Request::get("http://t/slow?ms=500").body(()).unwrap(),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = h2_try(&send, Request::get("http://t/hello").body(()).unwrap()).await;
    assert!(
        late.is_err(),
        "a stream opened after GOAWAY was served: {late:?}"
    );
    let r = within("in-flight response", slow).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"done"[..]));
    let ended = within("connection end", conn).await.unwrap();
    assert!(ended.is_ok(), "connection ended with {ended:?}");
    assert!(server.wait_stopped() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_gets_goaway_and_is_closed() {
    let mut options = ServerOptions::default();
    options.h2.idle_timeout = Duration::from_millis(300);
    let server = TestServer::start(TestService, options);

    // A client that answers the PING: GOAWAY, then the close.
    let mut raw = RawH2::connect(server.addr).await;
    raw.get(1, "/hello", true).await;
    let started = Instant::now();
    let frames = raw.until(WAIT, true, |_| false).await;
    let took = started.elapsed();
    let transcript = raw.transcript();
    assert!(
        frames.iter().any(|f| f.ty == DATA && f.stream == 1),
        "{transcript}"
    );
    let last = frames
        .iter()
        .rev()
        .find(|f| f.ty == GOAWAY)
        .unwrap_or_else(|| panic!("no GOAWAY\n{transcript}"));
    assert_eq!((last.u32_at(0), last.u32_at(4)), (1, 0), "{transcript}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "closed after {took:?}\n{transcript}"
    );

    // A client that never answers (gone without a FIN): still closed.
    let mut raw = RawH2::connect(server.addr).await;
    let started = Instant::now();
    let frames = raw.until(Duration::from_secs(8), false, |_| false).await;
    let took = started.elapsed();
    let transcript = raw.transcript();
    assert!(
        frames.iter().any(|f| f.ty == GOAWAY),
        "no GOAWAY\n{transcript}"
    );
    assert!(
        took < Duration::from_secs(4),
        "a silent idle connection stayed {took:?}\n{transcript}"
    );

    // The h2 client sees a clean end.
    let (send, conn) = h2c(server.addr).await;
    h2_request(&send, Request::get("http://t/hello").body(()).unwrap()).await;
    let ended = within("idle close", conn).await.unwrap();
    assert!(ended.is_ok(), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_server_cannot_finish_is_reset() {
    // A client that gives no flow-control window: reset after the send timeout,
    // the connection still serves.
    let mut options = ServerOptions::default();
    options.h2.send_timeout = Duration::from_millis(300);
    let server = TestServer::start(TestService, options);
    const INITIAL_WINDOW_SIZE: u16 = 4;
    let mut raw = RawH2::connect_with(server.addr, &[(INITIAL_WINDOW_SIZE, 0)]).await;
    raw.get(1, "/big?n=100000", true).await;
    let started = Instant::now();
    let frames = raw
        .until(WAIT, true, |f| f.stream == 1 && f.ty == RST_STREAM)
        .await;
    let took = started.elapsed();
    let transcript = raw.transcript();
    let reset = frames.last().unwrap();
    assert_eq!(
        (reset.ty, reset.u32_at(0)),
        (RST_STREAM, 2),
        "INTERNAL_ERROR\n{transcript}"
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "reset after {took:?}\n{transcript}"
    );
    assert!(
        frames.iter().any(|f| f.stream == 1 && f.ty == HEADERS),
        "{transcript}"
    );
    assert!(!frames.iter().any(|f| f.ty == DATA), "{transcript}");
    raw.settings(&[(INITIAL_WINDOW_SIZE, 65535)]).await;
    raw.get(3, "/hello", true).await;
    let frames = raw
        .until(WAIT, true, |f| f.stream == 3 && f.flags & END_STREAM != 0)
        .await;
    let data: Vec<u8> = frames
        .iter()
        .filter(|f| f.stream == 3 && f.ty == DATA)
        .flat_map(|f| f.payload.clone())
        .collect();
    assert_eq!(data, b"hello world", "{}", raw.transcript());
    let log = wait_log(&server, WAIT, |l| l.lines().count() >= 2).await;
    assert!(
        log.contains("\"GET /big?n=100000 HTTP/2.0\" 200 0"),
        "{log}"
    );

    // A file that shrinks while it is sent: the stream is reset, not ended as
    // if the short body were whole.
    const BIG: usize = 4 * 1024 * 1024;
    let big = support::noise(BIG, 9);
    let root = TempRoot::new().file("shrinks.bin", &big);
    let server = TestServer::start_protocols(
        files(root.path()),
        ServerOptions::default(),
        vec![Protocol::Plain],
    );
    let (send, _conn) = h2c(server.addr).await;
    let mut ready = within("ready", send.clone().ready()).await.unwrap();
    let (response, _stream) = ready
        .send_request(Request::get("http://t/shrinks.bin").body(()).unwrap(), true)
        .unwrap();
    let response = within("head", response).await.unwrap();
    assert_eq!(response.headers()["content-length"], BIG.to_string());
    let mut body = response.into_body();
    let mut got = Vec::new();
    let first = within("first bytes", body.data()).await.unwrap().unwrap();
    got.extend_from_slice(&first);
    std::fs::OpenOptions::new()
        .write(true)
        .open(root.join("shrinks.bin"))
        .unwrap()
        .set_len(100_000)
        .unwrap();
    let _ = body.flow_control().release_capacity(first.len());
    let error = loop {
        match within("rest of the body", body.data()).await {
            Some(Ok(chunk)) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                got.extend_from_slice(&chunk);
            }
            Some(Err(e)) => break e,
            None => panic!("the stream ended normally after {} bytes", got.len()),
        }
    };
    assert_eq!(error.reason(), Some(h2::Reason::INTERNAL_ERROR), "{error}");
    assert!(
        got.len() < BIG && big.starts_with(&got),
        "{} bytes",
        got.len()
    );
    // The connection survives.
    let mut send = send;
    let r = h2_get(&mut send, "http://t/").await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_that_picks_h2_and_goes_silent_is_closed_at_the_deadline() {
    let root = TempRoot::new().file("a.txt", "A");
    let mut options = ServerOptions::default();
    options.h2.handshake_timeout = Duration::from_millis(300);
    let c = cert(&["localhost"]);
    let server = TestServer::start_protocols(
        files(root.path()),
        options,
        vec![Protocol::Tls(tls_for(&[&c]))],
    );
    let mut tls = tls_connect(server.addr, "localhost", &[b"h2"]).await;
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    loop {
        match within("close", tls.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    // At most the server's SETTINGS went out (a frame of type 4 on stream 0).
    assert!(got.is_empty() || got[3] == SETTINGS, "{got:?}");
}

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_discarded_within_limits_and_deadlines() {
    let mut options = ServerOptions::default();
    options.h2.max_body_bytes = 1000;
    options.h2.handshake_timeout = Duration::from_millis(500);
    let server = TestServer::start(TestService, options);
    let (send, _conn) = h2c(server.addr).await;

    // A small body on a GET: discarded, the GET answered.
    let mut ready = within("ready", send.clone().ready()).await.unwrap();
    let (response, mut body) = ready
        .send_request(Request::get("http://t/hello").body(()).unwrap(), false)
        .unwrap();
    body.send_data(Bytes::from_static(b"ignored"), true)
        .unwrap();
    let response = within("response", response).await.unwrap();
    assert_eq!(response.status(), 200);

    // Too large: 413.
    let mut ready = within("ready", send.clone().ready()).await.unwrap();
    let (response, mut body) = ready
        .send_request(Request::post("http://t/hello").body(()).unwrap(), false)
        .unwrap();
    body.send_data(Bytes::from(vec![0u8; 5000]), true).unwrap();
    let response = within("response", response).await.unwrap();
    assert_eq!(response.status(), 413);

    // A POST with a body: 405 with Allow.
    let mut ready = within("ready", send.clone().ready()).await.unwrap();
    let (response, mut body) = ready
        .send_request(Request::post("http://t/hello").body(()).unwrap(), false)
        .unwrap();
    body.send_data(Bytes::from_static(b"a=1"), true).unwrap();
    let response = within("response", response).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");

    // A body that never ends does not hold the stream (or the connection, or a
    // graceful shutdown) forever: it is answered or reset after the deadline.
    let mut raw = RawH2::connect(server.addr).await;
    raw.get(1, "/hello", false).await;
    let started = Instant::now();
    let frames = raw
        .until(WAIT, true, |f| {
            f.stream == 1 && (f.ty == RST_STREAM || f.flags & END_STREAM != 0)
        })
        .await;
    let took = started.elapsed();
    assert!(
        frames.iter().any(|f| f.stream == 1),
        "stream 1 never answered\n{}",
        raw.transcript()
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "stream 1 ended after {took:?}\n{}",
        raw.transcript()
    );
    // The connection still serves.
    raw.get(3, "/hello", true).await;
    let frames = raw
        .until(WAIT, true, |f| f.stream == 3 && f.flags & END_STREAM != 0)
        .await;
    assert!(
        frames.iter().any(|f| f.stream == 3 && f.ty == DATA),
        "{}",
        raw.transcript()
    );
}
