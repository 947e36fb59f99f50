//! HTTP/2 clients for the tests: the `h2` crate's client (over TCP for h2c, or
//! over TLS), and a raw frame client for what a well-behaved client cannot
//! show (ignoring the stream limit, never answering a PING, never ending a
//! request body).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::within;

// ---------------------------------------------------------------------------
// The h2 crate's client
// ---------------------------------------------------------------------------

/// An HTTP/2 response, body read in full.
#[derive(Debug)]
pub struct H2Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The client handshake; the connection is driven by a spawned task whose
/// handle resolves when the connection ends.
pub async fn h2_handshake<T>(io: T) -> (SendRequest<Bytes>, JoinHandle<Result<(), h2::Error>>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = within("h2 handshake", h2::client::handshake(io))
        .await
        .expect("h2 handshake");
    (send, tokio::spawn(conn))
}

/// Sends `req` (no body) and reads the whole response.
pub async fn h2_try(send: &SendRequest<Bytes>, req: Request<()>) -> Result<H2Resp, h2::Error> {
    let mut send = within("h2 ready", send.clone().ready()).await?;
    let (response, _) = send.send_request(req, true)?;
    let response = within("h2 response head", response).await?;
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = within("h2 body", body.data()).await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    Ok(H2Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: bytes,
    })
}

pub async fn h2_request(send: &SendRequest<Bytes>, req: Request<()>) -> H2Resp {
    let what = format!("{} {}", req.method(), req.uri());
    h2_try(send, req)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub async fn h2_get(send: &mut SendRequest<Bytes>, uri: &str) -> H2Resp {
    h2_request(send, Request::get(uri).body(()).unwrap()).await
}

/// h2c with prior knowledge to `addr`.
pub async fn h2c(addr: SocketAddr) -> (SendRequest<Bytes>, JoinHandle<Result<(), h2::Error>>) {
    let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
    h2_handshake(tcp).await
}

// ---------------------------------------------------------------------------
// A raw frame client
// ---------------------------------------------------------------------------

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const END_STREAM: u8 = 1;
pub const ACK: u8 = 1;
pub const END_HEADERS: u8 = 4;

/// One frame as read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub ty: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The 31-bit value at `at` in the payload.
    pub fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap()) & 0x7fff_ffff
    }
}

/// A client that writes and reads frames by hand, keeping a transcript.
pub struct RawH2 {
    io: TcpStream,
    buf: Vec<u8>,
    log: Vec<String>,
}

/// An HPACK block for a GET (no Huffman, no indexing).
fn request_block(method: &str, path: &str) -> Vec<u8> {
    fn literal(out: &mut Vec<u8>, name_index: u8, value: &str) {
        out.push(name_index); // literal without indexing, indexed name (4-bit prefix)
        assert!(value.len() < 127);
        out.push(value.len() as u8);
        out.extend_from_slice(value.as_bytes());
    }
    let mut block = Vec::new();
    match method {
        "GET" => block.push(0x82),
        "POST" => block.push(0x83),
        other => panic!("{other}"),
    }
    block.push(0x86); // :scheme http
    literal(&mut block, 0x04, path); // :path
    literal(&mut block, 0x01, "test"); // :authority
    block
}

impl RawH2 {
    /// Connects and sends the preface and an empty SETTINGS.
    pub async fn connect(addr: SocketAddr) -> RawH2 {
        Self::connect_with(addr, &[]).await
    }

    /// Connects, sending `settings` (identifier, value) in the first SETTINGS.
    pub async fn connect_with(addr: SocketAddr, settings: &[(u16, u32)]) -> RawH2 {
        let mut raw = Self::connect_without_preface(addr).await;
        raw.write(PREFACE).await;
        raw.settings(settings).await;
        raw
    }

    /// Connects and sends nothing: the caller writes the preface.
    pub async fn connect_without_preface(addr: SocketAddr) -> RawH2 {
        let io = within("connect", TcpStream::connect(addr)).await.unwrap();
        RawH2 {
            io,
            buf: Vec::new(),
            log: Vec::new(),
        }
    }

    pub async fn settings(&mut self, settings: &[(u16, u32)]) {
        let payload: Vec<u8> = settings
            .iter()
            .flat_map(|(id, value)| {
                let mut s = id.to_be_bytes().to_vec();
                s.extend(value.to_be_bytes());
                s
            })
            .collect();
        self.send(SETTINGS, 0, 0, &payload).await;
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        within("raw write", self.io.write_all(bytes)).await.unwrap();
    }

    pub async fn send(&mut self, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        frame.extend([ty, flags]);
        frame.extend(stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.log
            .push(format!(">>> type {ty} flags {flags} stream {stream}"));
        self.write(&frame).await;
    }

    pub async fn get(&mut self, stream: u32, path: &str, end_stream: bool) {
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        self.send(HEADERS, flags, stream, &request_block("GET", path))
            .await;
    }

    /// The next frame, `None` at EOF, `Err` when `wait` passes first.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Frame>, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let frame = Frame {
                        ty: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes(self.buf[5..9].try_into().unwrap())
                            & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    self.log.push(format!(
                        "<<< type {} flags {} stream {} len {len}",
                        frame.ty, frame.flags, frame.stream
                    ));
                    return Ok(Some(frame));
                }
            }
            let mut chunk = [0u8; 65536];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Err(_) => return Err(format!("no frame within {wait:?}\n{}", self.log.join("\n"))),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.log.push("<<< EOF".into());
                    return Ok(None);
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until `stop` says so or EOF, acknowledging SETTINGS and (if
    /// `pong`) PINGs. Returns every frame read.
    pub async fn until(
        &mut self,
        wait: Duration,
        pong: bool,
        mut stop: impl FnMut(&Frame) -> bool,
    ) -> Vec<Frame> {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = match self.next(left).await {
                Ok(Some(frame)) => frame,
                Ok(None) => return frames,
                Err(e) => panic!("{e}"),
            };
            if frame.ty == SETTINGS && frame.flags & ACK == 0 {
                self.send(SETTINGS, ACK, 0, &[]).await;
            }
            if pong && frame.ty == PING && frame.flags & ACK == 0 {
                let payload = frame.payload.clone();
                self.send(PING, ACK, 0, &payload).await;
            }
            let done = stop(&frame);
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    pub fn transcript(&self) -> String {
        self.log.join("\n")
    }
}
