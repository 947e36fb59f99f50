//! HTTP/1.1 engine: framing, keep-alive, pipelining, limits, timeouts, methods.
//! Raw bytes on real sockets against a small test service.

use std::time::{Duration, Instant};

use ferrox::proto::h1;
use ferrox::server::ServerOptions;

use crate::support::service_now::TestServiceNow;
use crate::support::{TestServer, TestService};

/// A server with `options` for each of the two services, started one at a
/// time as the test asks for the next: `TestService` answers every request
/// from `call`, `TestServiceNow` what it has in memory from `call_now`, the
/// engine's path without a future. Every test runs against both.
fn servers_of(options: ServerOptions) -> impl Iterator<Item = TestServer> {
    (0..2).map(move |i| {
        let options = options.clone();
        if i == 0 {
            eprintln!("-- TestService (call)");
            TestServer::start(TestService, options)
        } else {
            eprintln!("-- TestServiceNow (call_now)");
            TestServer::start(TestServiceNow, options)
        }
    })
}

fn servers() -> impl Iterator<Item = TestServer> {
    servers_of(ServerOptions::default())
}

fn servers_with(f: impl FnOnce(&mut h1::Options)) -> impl Iterator<Item = TestServer> {
    let mut options = ServerOptions::default();
    f(&mut options.h1);
    servers_of(options)
}

const GET_HELLO: &str = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    for s in servers() {
        let mut c = s.raw();
        for _ in 0..3 {
            c.send(GET_HELLO);
            let r = c.response();
            r.expect(200);
            assert_eq!(r.body, b"hello world");
            assert_eq!(r.header("content-length"), "11");
            assert!(r.try_header("connection").is_none(), "{r:?}");
        }
    }
}

#[test]
fn every_response_has_date_and_server() {
    for s in servers() {
        let r = s.get("/hello");
        httpdate::parse_http_date(r.header("date")).expect("IMF-fixdate");
        assert_eq!(r.header("server"), "ferrox");
        assert_eq!(r.count("date"), 1);
    }

    for quiet in servers_with(|o| o.server_header = false) {
        assert!(quiet.get("/hello").try_header("server").is_none());
    }
}

#[test]
fn three_pipelined_requests_in_one_write_are_answered_in_order() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /host HTTP/1.1\r\nHost: second\r\n\r\nGET /big?n=3 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().expect(200).body, b"hello world");
        assert_eq!(c.response().expect(200).body, b"second");
        assert_eq!(c.response().expect(200).body, b"xxx");
    }
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.0\r\n\r\n");
        let r = c.response();
        r.expect(200);
        assert_eq!(r.header("connection"), "close");
        c.expect_closed();

        let mut c = s.raw();
        c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(c.response().expect(200).header("connection"), "keep-alive");
        c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        c.response().expect(200);
    }
}

#[test]
fn connection_close_is_honoured() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.response().expect(200).header("connection"), "close");
        c.expect_closed();
    }
}

#[test]
fn smuggling_shapes_get_400_and_a_close() {
    for s in servers() {
        let cases = [
        ("CL with TE", "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE with CL", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ("differing CLs", "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("CL list differs", "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!"),
        ("non-numeric CL", "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"),
        ("signed CL", "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello"),
        ("TE not ending in chunked", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        ("TE chunked twice", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE in HTTP/1.0", "GET /hello HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("obs-fold", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n"),
        ("missing Host", "GET /hello HTTP/1.1\r\n\r\n"),
        ("repeated Host", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("space before colon", "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello"),
        ("bare LF in chunked body", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
        ("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03\r\n\r\n"),
        ("empty Host", "GET /hello HTTP/1.1\r\nHost: \r\n\r\n"),
        ("raw UTF-8 in the target", "GET /h\u{e9}llo HTTP/1.1\r\nHost: t\r\n\r\n"),
        // Funky chunks (RFC 9112 §7.1.1): each is read as a 5-byte chunk by some
        // parser, so a front end could see another request boundary than ours.
        ("chunk extension without a name", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"),
        ("chunk size then a space", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"),
        ("chunk extension not a token", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;bad[=x\r\nhello\r\n0\r\n\r\n"),
        ("chunk extension value missing", "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n"),
    ];
        for (name, raw) in cases {
            let mut c = s.raw();
            c.send(raw);
            let r = c.response();
            assert_eq!(r.status, 400, "{name}: {r:?}");
            assert_eq!(r.header("connection"), "close", "{name}");
            c.expect_closed();
        }
        // The server is unharmed.
        s.get("/hello").expect(200);
    }
}

/// RFC 9112 §2.3: a later HTTP/1 minor version is answered as HTTP/1.1.
#[test]
fn a_request_in_http_1_2_is_served_as_1_1() {
    for s in servers() {
        let mut c = s.raw();
        for _ in 0..2 {
            c.send("GET /hello HTTP/1.2\r\nHost: t\r\n\r\n");
            let r = c.response();
            r.expect(200);
            assert_eq!(r.body, b"hello world");
            assert!(r.try_header("connection").is_none(), "{r:?}");
        }
        assert!(
            c.transcript().contains("HTTP/1.1 200"),
            "{}",
            c.transcript()
        );
    }
}

/// Extensions within the grammar still pass.
#[test]
fn chunk_extensions_within_the_grammar_are_accepted() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = b ; c=\"q \\\" x\"\r\nhello\r\n0\r\n\r\n");
        c.response().expect(200);
        c.send(GET_HELLO);
        c.response().expect(200);
    }
}

#[test]
fn status_codes_for_unsupported_requests() {
    for s in servers() {
        let cases = [
        (
            501,
            "GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n",
        ),
        (505, "GET /hello HTTP/2.0\r\nHost: t\r\n\r\n"),
        (505, "GET /hello HTTP/3.0\r\nHost: t\r\n\r\n"),
        (
            417,
            "GET /hello HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n",
        ),
    ];
        for (status, raw) in cases {
            let mut c = s.raw();
            c.send(raw);
            c.response().expect(status);
            c.expect_closed();
        }
    }
}

#[test]
fn absolute_form_target_supplies_the_host() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET http://example.com:81/host HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(c.response().expect(200).body, b"example.com");
        c.send("GET http://example.com/target?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(
            c.response().expect(200).text(),
            "http://example.com/target?q=1"
        );
    }
}

#[test]
fn oversized_head_gets_431_and_others_are_still_served() {
    for s in servers_with(|o| o.head.max_head_bytes = 4096) {
        let mut c = s.raw();
        c.send(format!(
            "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "a".repeat(5000)
        ));
        c.response().expect(431);
        c.expect_closed();
        // Just under the limit is fine.
        let mut c = s.raw();
        c.send(format!(
            "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "a".repeat(3900)
        ));
        c.response().expect(200);
        s.get("/hello").expect(200);
    }
}

#[test]
fn long_request_line_gets_414() {
    for s in servers_with(|o| o.head.max_head_bytes = 4096) {
        let mut c = s.raw();
        c.send(format!(
            "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
            "a".repeat(5000)
        ));
        c.response().expect(414);
        c.expect_closed();
    }
}

#[test]
fn too_many_headers_get_431() {
    for s in servers_with(|o| o.head.max_headers = 10) {
        let mut ok = String::from("GET /hello HTTP/1.1\r\nHost: t\r\n");
        for i in 0..9 {
            ok.push_str(&format!("X-{i}: v\r\n"));
        }
        let mut c = s.raw();
        c.send(format!("{ok}\r\n"));
        c.response().expect(200);
        c.send(format!("{ok}X-10: v\r\n\r\n"));
        c.response().expect(431);
        c.expect_closed();
    }
}

#[test]
fn a_slow_head_is_cut_at_its_deadline() {
    for s in servers_with(|o| o.head_timeout = Duration::from_millis(400)) {
        let mut c = s.raw();
        let start = Instant::now();
        // Slowloris: one byte at a time keeps every read short but the head unfinished.
        for b in "GET /hello HTTP/1.1\r\nHost: t\r\nX-".bytes() {
            if !c.try_send([b]) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            if start.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        let r = c.response();
        r.expect(408);
        c.expect_closed();
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "deadline not enforced: {took:?}"
        );
    }
}

#[test]
fn a_silent_connection_is_closed_at_the_head_deadline() {
    for s in servers_with(|o| o.head_timeout = Duration::from_millis(300)) {
        let mut c = s.raw();
        // Nothing sent: closed without a response.
        assert!(
            c.is_closed_within(Duration::from_secs(3)),
            "{}",
            c.transcript()
        );
    }
}

#[test]
fn an_idle_keep_alive_connection_times_out() {
    for s in servers_with(|o| o.idle_timeout = Duration::from_millis(300)) {
        let mut c = s.raw();
        c.send(GET_HELLO);
        c.response().expect(200);
        let start = Instant::now();
        assert!(c.is_closed_within(Duration::from_secs(3)));
        assert!(start.elapsed() >= Duration::from_millis(250));
    }
}

#[test]
fn a_keep_alive_wait_outlives_an_earlier_shorter_deadline() {
    // The idle timer is reused between waits: armed for the first head deadline,
    // it fires during the keep-alive wait after it, which must go on.
    for s in servers_with(|o| {
        o.head_timeout = Duration::from_millis(300);
        o.idle_timeout = Duration::from_millis(1500);
    }) {
        let mut c = s.raw();
        // Long enough for the server to be waiting on the head deadline.
        std::thread::sleep(Duration::from_millis(100));
        c.send(GET_HELLO);
        c.response().expect(200);
        std::thread::sleep(Duration::from_millis(700));
        c.send(GET_HELLO);
        c.response().expect(200);
        let start = Instant::now();
        assert!(c.is_closed_within(Duration::from_secs(5)));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1300), "closed after {took:?}");
    }
}

#[test]
fn a_get_with_a_body_is_followed_by_a_pipelined_request() {
    for s in servers() {
        let mut c = s.raw();
        // The body looks like a request: it must be discarded, not parsed.
        let smuggled = "GET /host HTTP/1.1\r\nHost: evil\r\n\r\n";
        c.send(format!(
        "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{smuggled}GET /host HTTP/1.1\r\nHost: good\r\n\r\n",
        smuggled.len()
    ));
        assert_eq!(c.response().expect(200).body, b"hello world");
        assert_eq!(c.response().expect(200).body, b"good");
    }
}

#[test]
fn a_chunked_body_is_discarded() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: v\r\n\r\nGET /host HTTP/1.1\r\nHost: next\r\n\r\n");
        assert_eq!(c.response().expect(200).body, b"hello world");
        assert_eq!(c.response().expect(200).body, b"next");
    }
}

#[test]
fn a_body_arriving_in_pieces_is_discarded() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
        std::thread::sleep(Duration::from_millis(50));
        c.send("56789GET /host HTTP/1.1\r\nHost: after\r\n\r\n");
        c.response().expect(200);
        assert_eq!(c.response().expect(200).body, b"after");
    }
}

#[test]
fn bodies_over_the_limit_get_413() {
    for s in servers_with(|o| o.max_body_bytes = 100) {
        let mut c = s.raw();
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n");
        c.response().expect(413);
        c.expect_closed();

        let mut c = s.raw();
        c.send(format!("GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n{}\r\n1\r\nx\r\n0\r\n\r\n", "a".repeat(100)));
        c.response().expect(413);
        c.expect_closed();

        // Exactly at the limit is read and discarded.
        let mut c = s.raw();
        c.send(format!(
            "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{}",
            "a".repeat(100)
        ));
        c.response().expect(200);
    }
}

#[test]
fn other_methods_get_405_with_allow() {
    for s in servers() {
        for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
            let mut c = s.raw();
            c.send(format!(
                "{method} /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            ));
            let r = c.response();
            r.expect(405);
            assert_eq!(r.header("allow"), "GET, HEAD, OPTIONS", "{method}");
            // The body was discarded and the connection is still usable.
            c.send(GET_HELLO);
            c.response().expect(200);
        }
    }
}

/// RFC 9110 §15.6.2: a method the server does not recognise (method names are
/// case-sensitive, so `get` is one) is 501, not 405.
#[test]
fn unknown_methods_get_501() {
    for s in servers() {
        for method in ["get", "BREW", "PROPFIND", "PRI"] {
            let mut c = s.raw();
            c.send(format!(
                "{method} /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            ));
            let r = c.response();
            r.expect(501);
            assert_eq!(r.try_header("allow"), None, "{method}");
            // The body was discarded and the connection is still usable.
            c.send(GET_HELLO);
            c.response().expect(200);
        }
    }
}

#[test]
fn options_gets_204_with_allow() {
    for s in servers() {
        let mut c = s.raw();
        for target in ["*", "/hello"] {
            c.send(format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n\r\n"));
            let r = c.response();
            r.expect(204);
            assert_eq!(r.header("allow"), "GET, HEAD, OPTIONS");
            assert!(r.try_header("content-length").is_none(), "{r:?}");
        }
        c.send(GET_HELLO);
        c.response().expect(200);
    }
}

#[test]
fn head_gets_the_get_head_and_no_body() {
    for s in servers() {
        let mut c = s.raw();
        c.send("HEAD /big?n=5000 HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.head_response();
        r.expect(200);
        assert_eq!(r.header("content-length"), "5000");
        // No stray body bytes: the next response starts right away.
        c.send(GET_HELLO);
        assert_eq!(c.response().expect(200).body, b"hello world");
    }
}

#[test]
fn expect_100_continue_gets_100_before_the_body_is_read() {
    for s in servers() {
        let mut c = s.raw();
        c.send(
            "GET /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        c.response().expect(100);
        c.send("hello");
        assert_eq!(c.response().expect(200).body, b"hello world");
    }
}

#[test]
fn expect_100_continue_gets_the_final_status_without_reading_a_refused_body() {
    for s in servers_with(|o| o.max_body_bytes = 10) {
        let mut c = s.raw();
        c.send(
            "POST /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        let r = c.response();
        r.expect(405);
        assert_eq!(r.header("connection"), "close");
        c.expect_closed();

        let mut c = s.raw();
        c.send(
            "GET /hello HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
        );
        c.response().expect(413);
        c.expect_closed();
    }
}

#[test]
fn requests_per_connection_are_capped() {
    for s in servers_with(|o| o.max_requests = 2) {
        let mut c = s.raw();
        c.send(GET_HELLO);
        assert!(c.response().expect(200).try_header("connection").is_none());
        c.send(GET_HELLO);
        assert_eq!(c.response().expect(200).header("connection"), "close");
        c.expect_closed();
    }
}

#[test]
fn unknown_length_bodies_are_chunked_on_11_and_close_delimited_on_10() {
    for s in servers() {
        let mut c = s.raw();
        c.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!(r.header("transfer-encoding"), "chunked");
        assert_eq!(r.body, b"one,two,three");
        c.send(GET_HELLO);
        c.response().expect(200);

        let mut c = s.raw();
        c.send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.response();
        assert!(r.try_header("transfer-encoding").is_none());
        assert_eq!(r.header("connection"), "close");
        assert_eq!(r.body, b"one,two,three");
    }
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let mut options = ServerOptions::default();
    options.h1.send_timeout = Duration::from_millis(300);
    options.max_connections = 1;
    for s in servers_of(options) {
        let mut stalled = s.raw();
        stalled.send("GET /big?n=64000000 HTTP/1.1\r\nHost: t\r\n\r\n");
        // It never reads. Its slot is the only one: once the send timeout frees it,
        // another client is served.
        let start = Instant::now();
        let mut c = s.raw();
        c.send(GET_HELLO);
        c.response().expect(200);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(250),
            "served too soon: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(5),
            "stalled client held the slot: {waited:?}"
        );
    }
}

#[test]
fn at_the_connection_limit_new_clients_wait_in_the_backlog() {
    let options = ServerOptions {
        max_connections: 1,
        ..Default::default()
    };
    for s in servers_of(options) {
        let mut first = s.raw();
        first.send(GET_HELLO);
        first.response().expect(200);
        // `first` holds the only slot (keep-alive); the second waits.
        let mut second = s.raw();
        second.send(GET_HELLO);
        assert!(
            !second.is_closed_within(Duration::from_millis(300)),
            "second connection was closed"
        );
        drop(first);
        second.response().expect(200);
    }
}

#[test]
fn garbage_never_crashes_the_server() {
    for s in servers() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces: [&[u8]; 12] = [
            b"GET ",
            b"/",
            b" HTTP/1.1",
            b"\r\n",
            b"Host: t",
            b":",
            b"\0",
            b"\xff",
            b"Content-Length: 3",
            b"Transfer-Encoding: chunked",
            b"\r\n\r\n",
            b" ",
        ];
        for _ in 0..200 {
            let mut req = Vec::new();
            for _ in 0..(next() % 12) {
                req.extend_from_slice(pieces[(next() % 12) as usize]);
            }
            req.extend_from_slice(b"\r\n\r\n");
            let mut c = s.raw();
            c.try_send(&req);
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            let _ = c.is_closed_within(Duration::from_secs(2));
        }
        s.get("/hello").expect(200);
    }
}

#[test]
fn every_request_is_access_logged() {
    for s in servers() {
        s.get("/hello").expect(200);
        s.get("/nope").expect(404);
        let mut c = s.raw();
        c.send("BAD\r\n\r\n");
        c.response().expect(400);
        let log = s.access_log(3);
        assert!(log.contains("\"GET /hello HTTP/1.1\" 200 11"), "{log}");
        assert!(log.contains("\"GET /nope HTTP/1.1\" 404"), "{log}");
        assert!(log.contains("\"-\" 400"), "{log}");
    }
}
