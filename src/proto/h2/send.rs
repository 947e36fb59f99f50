//! Sending a response on an HTTP/2 stream: the head (with Date, Server and
//! Content-Length; connection-specific fields removed, as RFC 9113 §8.2.2
//! requires), then the body in chunks that wait for flow-control window. A
//! stream reset by the client ends the send at once, dropping the file.

use std::future::poll_fn;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::SendStream;
use http::{header, HeaderValue, Response, StatusCode};
use tokio::time::timeout;

use super::Options;
use crate::body::{Body, FileSlice, Part};
use crate::proto::date;
use crate::response::{OmitServer, Reply};

/// File bytes read per chunk: a few frames' worth, from one pread.
const FILE_CHUNK: usize = 64 * 1024;

/// Fields that mean nothing (or something wrong) in HTTP/2.
const CONNECTION_FIELDS: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Why a response could not be sent in full.
#[derive(Debug)]
pub enum SendError {
    /// The stream or connection failed (including a reset by the client).
    H2(h2::Error),
    /// Reading the body failed, or the file shrank.
    Io(std::io::Error),
    /// The client gave no flow-control window within the send timeout.
    Timeout,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::H2(e) => write!(f, "h2: {e}"),
            SendError::Io(e) => write!(f, "body: {e}"),
            SendError::Timeout => f.write_str("send timeout"),
        }
    }
}

impl From<h2::Error> for SendError {
    fn from(e: h2::Error) -> Self {
        SendError::H2(e)
    }
}

/// Sends `reply`; returns the status, body bytes sent, and how it ended.
pub async fn respond(
    mut respond: SendResponse<Bytes>,
    reply: Reply,
    head_only: bool,
    options: &Options,
) -> (StatusCode, u64, Result<(), SendError>) {
    let (response, fields) = reply.into_parts();
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if let Some(fields) = fields {
        parts.headers.reserve(fields.map().len());
        for (name, value) in fields.map() {
            parts.headers.append(name.clone(), value.clone());
        }
    }
    for name in CONNECTION_FIELDS {
        parts.headers.remove(name);
    }
    if let Some(value) = date::header_value() {
        parts.headers.insert(header::DATE, value);
    }
    if options.server_header
        && !parts.headers.contains_key(header::SERVER)
        && parts.extensions.get::<OmitServer>().is_none()
    {
        parts
            .headers
            .insert(header::SERVER, HeaderValue::from_static("ferrox"));
    }
    match body.len() {
        Some(n) if !bodiless => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        _ => {
            parts.headers.remove(header::CONTENT_LENGTH);
        }
    }
    let end = head_only || bodiless || body.is_empty();
    let mut stream = match respond.send_response(Response::from_parts(parts, ()), end) {
        Ok(stream) => stream,
        Err(e) => return (status, 0, Err(e.into())),
    };
    if end {
        return (status, 0, Ok(()));
    }
    let mut sent = 0;
    let result = send_body(&mut stream, body, options.send_timeout, &mut sent).await;
    let result = result.and_then(|()| {
        stream
            .send_data(Bytes::new(), true)
            .map_err(SendError::from)
    });
    if result.is_err() {
        // Tell the client at once rather than leave the stream hanging.
        stream.send_reset(h2::Reason::INTERNAL_ERROR);
    }
    (status, sent, result)
}

async fn send_body(
    stream: &mut SendStream<Bytes>,
    body: Body,
    limit: Duration,
    sent: &mut u64,
) -> Result<(), SendError> {
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(bytes) => send_bytes(stream, bytes, limit, sent).await,
        Body::File(slice) => send_file(stream, &slice, limit, sent).await,
        Body::Parts(parts) => {
            for part in parts {
                match part {
                    Part::Bytes(bytes) => send_bytes(stream, bytes, limit, sent).await?,
                    Part::File(slice) => send_file(stream, &slice, limit, sent).await?,
                }
            }
            Ok(())
        }
        Body::Stream(mut chunks) => {
            while let Some(chunk) = poll_fn(|cx| chunks.as_mut().poll_chunk(cx)).await {
                send_bytes(stream, chunk.map_err(SendError::Io)?, limit, sent).await?;
            }
            Ok(())
        }
    }
}

/// Sends bytes as the peer's flow-control window allows.
async fn send_bytes(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    limit: Duration,
    sent: &mut u64,
) -> Result<(), SendError> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = timeout(limit, poll_fn(|cx| stream.poll_capacity(cx)))
            .await
            .map_err(|_| SendError::Timeout)?;
        let granted = match granted {
            Some(granted) => granted?,
            None => return Err(SendError::Io(std::io::ErrorKind::BrokenPipe.into())),
        };
        if granted == 0 {
            continue;
        }
        let n = granted.min(data.len());
        stream.send_data(data.split_to(n), false)?;
        *sent += n as u64;
    }
    Ok(())
}

/// Sends a file slice through a bounded buffer, one chunk in flight at a time.
async fn send_file(
    stream: &mut SendStream<Bytes>,
    slice: &FileSlice,
    limit: Duration,
    sent: &mut u64,
) -> Result<(), SendError> {
    let end = slice.offset.saturating_add(slice.len);
    let mut offset = slice.offset;
    let mut buf = BytesMut::new();
    while offset < end {
        let want = (end - offset).min(FILE_CHUNK as u64) as usize;
        buf.clear();
        buf.resize(want, 0);
        let n = slice
            .file
            .read_at(&mut buf, offset)
            .map_err(SendError::Io)?;
        if n == 0 {
            return Err(SendError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while sending",
            )));
        }
        buf.truncate(n);
        send_bytes(stream, buf.split().freeze(), limit, sent).await?;
        offset += n as u64;
    }
    Ok(())
}
