//! A small service for protocol tests: it knows no files.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ferrox::body::{Body, ChunkStream};
use ferrox::proto::{self, Service};
use http::{header, HeaderValue, Request, Response, StatusCode};

pub struct TestService;

fn query_num(req: &Request<()>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .unwrap_or(0)
}

fn text(body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// Chunks handed out one by one.
struct Chunks(Vec<Bytes>);

impl ChunkStream for Chunks {
    fn poll_chunk(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<std::io::Result<Bytes>>> {
        Poll::Ready(if self.0.is_empty() {
            None
        } else {
            Some(Ok(self.0.remove(0)))
        })
    }
}

impl Service for TestService {
    async fn call<'a>(&'a self, req: &'a Request<()>) -> Response<Body> {
        {
            match req.uri().path() {
                "/hello" => text("hello world"),
                "/slow" => {
                    tokio::time::sleep(Duration::from_millis(query_num(req, "ms"))).await;
                    text("done")
                }
                "/big" => text(Bytes::from(vec![b'x'; query_num(req, "n") as usize])),
                "/stream" => Response::new(Body::Stream(Box::pin(Chunks(vec![
                    Bytes::from_static(b"one,"),
                    Bytes::from_static(b"two,"),
                    Bytes::from_static(b"three"),
                ])))),
                "/host" => text(proto::request_host(req).unwrap_or("-").to_string()),
                "/target" => text(req.uri().to_string()),
                _ => proto::plain_error(StatusCode::NOT_FOUND),
            }
        }
    }
}
