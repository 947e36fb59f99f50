//! Graceful shutdown: stop accepting, close idle connections at once, let
//! in-flight responses finish within the shutdown timeout.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use ferrox::server::ServerOptions;

use crate::support::{TestServer, TestService};

#[test]
fn in_flight_responses_finish_and_new_connections_are_refused() {
    let mut s = TestServer::start(TestService, ServerOptions::default());
    let mut busy = s.raw();
    busy.send("GET /slow?ms=800 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(200));
    s.trigger_shutdown();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(s.addr).is_err(),
        "still accepting after shutdown"
    );
    let r = busy.response();
    assert_eq!(r.body, b"done");
    assert_eq!(r.header("connection"), "close");
    busy.expect_closed();
    let stopped = s.wait_stopped();
    assert!(stopped < Duration::from_secs(3), "took {stopped:?}");
}

#[test]
fn idle_connections_close_at_once() {
    let mut s = TestServer::start(TestService, ServerOptions::default());
    let mut idle = s.raw();
    idle.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    idle.response().expect(200);
    let silent = s.raw(); // accepted, never speaks
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    s.trigger_shutdown();
    assert!(idle.is_closed_within(Duration::from_secs(2)));
    s.wait_stopped();
    // Far below the 10 s shutdown timeout: nobody waited for idle clients.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    drop(silent);
}

#[test]
fn the_shutdown_timeout_cuts_what_is_left() {
    let options = ServerOptions {
        shutdown_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let mut s = TestServer::start(TestService, options);
    let mut busy = s.raw();
    busy.send("GET /slow?ms=10000 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    s.trigger_shutdown();
    s.wait_stopped();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    busy.expect_closed();
}
