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
use http::{header, HeaderName, HeaderValue, Response, StatusCode};
use tokio::time::timeout;

use super::Options;
use crate::body::{Body, FileSlice, Part};
use crate::proto::date;
use crate::response::{OmitServer, Reply};

/// File bytes read per chunk: a few frames' worth, from one pread.
const FILE_CHUNK: usize = 64 * 1024;

/// Fields that mean nothing (or something wrong) in HTTP/2, as names: removing
/// by a string parsed it again for every response.
const CONNECTION_FIELDS: [HeaderName; 5] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
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
        if parts.headers.is_empty() {
            // A cached file's usual case: one copy of the map, not a lookup
            // per field.
            parts.headers = fields.map().clone();
        } else {
            parts.headers.reserve(fields.map().len());
            for (name, value) in fields.map() {
                parts.headers.append(name.clone(), value.clone());
            }
        }
    }
    for name in &CONNECTION_FIELDS {
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
    if result.is_err() {
        // Tell the client at once rather than leave the stream hanging.
        stream.send_reset(h2::Reason::INTERNAL_ERROR);
    }
    (status, sent, result)
}

/// Sends the body and ends the stream: with its last DATA frame when the body
/// knows its end, which saves a frame per response.
async fn send_body(
    stream: &mut SendStream<Bytes>,
    body: Body,
    limit: Duration,
    sent: &mut u64,
) -> Result<(), SendError> {
    match body {
        Body::Empty => send_bytes(stream, Bytes::new(), true, limit, sent).await,
        Body::Bytes(bytes) => send_bytes(stream, bytes, true, limit, sent).await,
        Body::File(slice) => send_file(stream, &slice, true, limit, sent).await,
        Body::Parts(parts) => {
            let count = parts.len();
            for (i, part) in parts.into_iter().enumerate() {
                let end = i + 1 == count;
                match part {
                    Part::Bytes(bytes) => send_bytes(stream, bytes, end, limit, sent).await?,
                    Part::File(slice) => send_file(stream, &slice, end, limit, sent).await?,
                }
            }
            if count == 0 {
                send_bytes(stream, Bytes::new(), true, limit, sent).await?;
            }
            Ok(())
        }
        Body::Stream(mut chunks) => {
            while let Some(chunk) = poll_fn(|cx| chunks.as_mut().poll_chunk(cx)).await {
                send_bytes(stream, chunk.map_err(SendError::Io)?, false, limit, sent).await?;
            }
            send_bytes(stream, Bytes::new(), true, limit, sent).await
        }
    }
}

/// Sends bytes as the peer's flow-control window allows; `end` ends the stream
/// with the last of them.
async fn send_bytes(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
    limit: Duration,
    sent: &mut u64,
) -> Result<(), SendError> {
    if data.is_empty() {
        if end {
            stream.send_data(data, true)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        // Window already there (a small body, usually): no wait, no timer.
        let granted = match stream.capacity() {
            0 => wait_capacity(stream, limit).await?,
            n => n,
        };
        if granted == 0 {
            continue;
        }
        let n = granted.min(data.len());
        let chunk = data.split_to(n);
        stream.send_data(chunk, end && data.is_empty())?;
        *sent += n as u64;
    }
    Ok(())
}

/// Waits for the flow-control window reserved, for at most `limit`.
async fn wait_capacity(
    stream: &mut SendStream<Bytes>,
    limit: Duration,
) -> Result<usize, SendError> {
    let granted = timeout(limit, poll_fn(|cx| stream.poll_capacity(cx)))
        .await
        .map_err(|_| SendError::Timeout)?;
    match granted {
        Some(granted) => Ok(granted?),
        None => Err(SendError::Io(std::io::ErrorKind::BrokenPipe.into())),
    }
}

/// Sends a file slice through a bounded buffer, one chunk in flight at a time.
async fn send_file(
    stream: &mut SendStream<Bytes>,
    slice: &FileSlice,
    end_stream: bool,
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
        offset += n as u64;
        let last = end_stream && offset >= end;
        send_bytes(stream, buf.split().freeze(), last, limit, sent).await?;
    }
    if end_stream && slice.len == 0 {
        send_bytes(stream, Bytes::new(), true, limit, sent).await?;
    }
    Ok(())
}
