//! The response body, as an enum so that each protocol engine can send each kind
//! the fastest way it knows: `File` goes out with `sendfile(2)` on plain TCP and
//! through a pooled buffer everywhere else. No variant holds a whole file in memory.
//!
//! And the request body a service chose to read ([`RequestBody`]): chunks as
//! the client sends them, from whichever engine received the request.

use std::fmt;
use std::fs::File;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

/// A stream of body chunks whose total length is not known up front
/// (for example on-the-fly compression). Sent chunked on HTTP/1.1.
pub trait ChunkStream: Send {
    /// The next chunk; `None` at the end, `Some(Err(_))` aborts the response.
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::io::Result<Bytes>>>;
}

/// One piece of a body made of several parts (multipart ranges).
#[derive(Debug, Clone)]
pub enum Part {
    /// Bytes held in memory (part headers, boundaries).
    Bytes(Bytes),
    /// A slice of a file, sent without copying where the transport allows.
    File(FileSlice),
}

/// A byte range of an open file.
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The open file; shared so an open-file cache can hand out one descriptor.
    pub file: Arc<File>,
    /// First byte to send.
    pub offset: u64,
    /// Number of bytes to send.
    pub len: u64,
}

/// A response body.
#[derive(Default)]
pub enum Body {
    /// No body at all (204, 304, or a zero-length representation).
    #[default]
    Empty,
    /// A body already in memory.
    Bytes(Bytes),
    /// A slice of a file, streamed zero-copy where possible.
    File(FileSlice),
    /// Several parts sent in order (multipart/byteranges).
    Parts(Vec<Part>),
    /// A body of unknown length.
    Stream(Pin<Box<dyn ChunkStream>>),
}

impl Body {
    /// The body's length when known without producing it.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File(f) => Some(f.len),
            Body::Parts(parts) => Some(
                parts
                    .iter()
                    .map(|p| match p {
                        Part::Bytes(b) => b.len() as u64,
                        Part::File(f) => f.len,
                    })
                    .sum(),
            ),
            Body::Stream(_) => None,
        }
    }

    /// True when the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Bytes(b)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Bytes(Bytes::from(s))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::File(s) => write!(f, "Body::File({}+{})", s.offset, s.len),
            Body::Parts(p) => write!(f, "Body::Parts({} parts)", p.len()),
            Body::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

/// Why a request body could not be read to its end. The engines answer each
/// with the status `proto::status` gives it; the service only cleans up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit the service asked for.
    TooLarge,
    /// No byte came within the engine's body timeout.
    Timeout,
    /// Malformed framing (a bad chunk line) or a stream reset.
    Broken,
    /// The client closed the connection before the end of the body.
    Closed,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "request body over the limit",
            BodyError::Timeout => "request body timed out",
            BodyError::Broken => "request body malformed or reset",
            BodyError::Closed => "client closed before the end of the body",
        })
    }
}

impl std::error::Error for BodyError {}

/// Where a [`RequestBody`]'s chunks come from: implemented by each engine.
pub trait BodySource: Send {
    /// The next chunk; `None` at the end of the body. After an error, `None`.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>>;
}

/// A request body, read chunk by chunk as it arrives (never whole in memory):
/// lent by the engine to [`proto::Service::call_with_body`](crate::proto::Service::call_with_body).
/// On HTTP/1.1 the first read sends `100 Continue` when the client asked
/// for it, so a request refused before its body is read never has it sent.
pub struct RequestBody<'a> {
    source: &'a mut (dyn BodySource + 'a),
    length: Option<u64>,
}

impl<'a> RequestBody<'a> {
    /// A body read from `source`, of `length` bytes when the request says.
    pub fn new(source: &'a mut (dyn BodySource + 'a), length: Option<u64>) -> Self {
        RequestBody { source, length }
    }

    /// The length the request declared (Content-Length), if it did.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// The next chunk, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Bytes, BodyError>> {
        std::future::poll_fn(|cx| self.source.poll_body(cx)).await
    }
}

impl futures_util::Stream for RequestBody<'_> {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.source.poll_body(cx)
    }
}

impl fmt::Debug for RequestBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}
