//! A plain-HTTP request sent to a TLS port (`http://` typed for an https
//! site) gets a short HTTP/1.1 400 page saying to use https, then a close,
//! as nginx does, rather than a handshake failure the browser shows as a
//! protocol error. A TLS connection starts with a handshake record (byte
//! 0x16); an HTTP/1 request starts with a method's capital letter.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The first byte of every TLS record that carries a handshake.
const HANDSHAKE: u8 = 0x16;

/// How long the refusal waits to read the request it answers (so that the
/// close is not a reset that loses the page), and how much it reads.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 16 << 10;

const PAGE: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
<title>400 Bad Request</title></head><body><h1>400 Bad Request</h1>\
<p>This port speaks HTTPS: use <code>https://</code> in the address.</p></body></html>\n";

/// Whether the connection's first byte is a plain HTTP/1 request rather
/// than TLS. Peeks (nothing is consumed), within `deadline`; `false` when
/// nothing arrives in time, so that the handshake's own timeout applies.
pub(crate) async fn is_plain_http(stream: &TcpStream, deadline: Duration) -> bool {
    let mut first = [0u8; 1];
    match timeout(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] != HANDSHAKE && first[0].is_ascii_uppercase(),
        _ => false,
    }
}

/// Answers the plain request with the 400 page and closes. Nothing of the
/// request reaches the response.
pub(crate) async fn refuse(mut stream: TcpStream) {
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        PAGE.len()
    );
    let sent = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(PAGE.as_bytes()).await?;
        stream.shutdown().await
    };
    if timeout(LINGER, sent).await.is_err() {
        return;
    }
    // Read what the client sent, so the close is a FIN and the page arrives.
    let mut sink = [0u8; 4096];
    let mut read = 0;
    let drain = async {
        while read < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = timeout(LINGER, drain).await;
}
