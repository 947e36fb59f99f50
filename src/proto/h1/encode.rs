//! Response heads: status line, the service's fields, and the framing fields this
//! engine owns (Date, Content-Length or Transfer-Encoding, Connection). Framing
//! fields set by a service are dropped so that they can never contradict the body.

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, StatusCode};

use crate::proto::date;
use crate::response::FieldBlock;

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body is allowed (1xx, 204, 304): no length field at all.
    NoBody,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// HTTP/1.0 with unknown length: the body ends when the connection closes.
    UntilClose,
}

/// What the `Connection` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionField {
    /// Nothing: HTTP/1.1 keeps the connection.
    Omit,
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive`, which an HTTP/1.0 client needs to hear.
    KeepAlive,
}

/// Appends a complete response head to `out`: the status line, Date, Server,
/// the block of pre-built `fields` if any (encoded once per block), the map's
/// fields, then the framing.
pub fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    fields: Option<&FieldBlock>,
    framing: BodyFraming,
    connection: ConnectionField,
    server_header: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    date::extend(out);
    out.extend_from_slice(b"\r\n");
    let has_server =
        headers.contains_key(header::SERVER) || fields.is_some_and(|f| f.contains(&header::SERVER));
    if server_header && !has_server {
        out.extend_from_slice(b"Server: ferrox\r\n");
    }
    if let Some(fields) = fields {
        out.extend_from_slice(fields.encoded(encode_block));
    }
    encode_fields(out, headers);
    match framing {
        BodyFraming::NoBody | BodyFraming::UntilClose => {}
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    match connection {
        ConnectionField::Omit => {}
        ConnectionField::Close => out.extend_from_slice(b"Connection: close\r\n"),
        ConnectionField::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// A block's fields in wire form, for [`FieldBlock::encoded`].
fn encode_block(map: &HeaderMap) -> Bytes {
    let mut wire = Vec::with_capacity(256);
    encode_fields(&mut wire, map);
    Bytes::from(wire)
}

/// Fields this engine writes itself: a service's copy is dropped, so that it
/// can never contradict the framing.
fn owned_by_engine(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION
        || name == header::DATE
        || name == "keep-alive"
}

/// Appends `Name: value\r\n` for every field of `headers` that the engine does
/// not own. `HeaderValue` guarantees no CR, LF or NUL, so nothing from a request
/// can split the head.
fn encode_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        if owned_by_engine(name) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends a chunk-size line for a chunk of `len` bytes.
pub fn chunk_size_line(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{len:X}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(status: StatusCode, framing: BodyFraming, conn: ConnectionField) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        let mut out = Vec::new();
        encode_head(&mut out, status, &headers, None, framing, conn, true);
        let text = String::from_utf8(out).unwrap();
        // Blank out the date, which changes every second.
        let start = text.find("Date: ").unwrap() + 6;
        format!(
            "{}<date>{}",
            &text[..start],
            &text[start + date::DATE_LEN..]
        )
    }

    #[test]
    fn heads() {
        assert_eq!(
            head(StatusCode::OK, BodyFraming::Length(5), ConnectionField::Omit),
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\ncontent-type: text/plain\r\nContent-Length: 5\r\n\r\n"
        );
        assert_eq!(
            head(StatusCode::NOT_MODIFIED, BodyFraming::NoBody, ConnectionField::Close),
            "HTTP/1.1 304 Not Modified\r\nDate: <date>\r\nServer: ferrox\r\ncontent-type: text/plain\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            head(StatusCode::OK, BodyFraming::Chunked, ConnectionField::KeepAlive),
            "HTTP/1.1 200 OK\r\nDate: <date>\r\nServer: ferrox\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn block_fields_go_after_server_and_can_replace_it() {
        let mut map = HeaderMap::new();
        map.insert(header::ETAG, HeaderValue::from_static("\"x\""));
        map.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        map.insert(header::CONNECTION, HeaderValue::from_static("close"));
        let fields = FieldBlock::new(map.clone());
        let mut extra = HeaderMap::new();
        extra.insert("x-more", HeaderValue::from_static("1"));
        let mut out = Vec::new();
        encode_head(
            &mut out,
            StatusCode::OK,
            &extra,
            Some(&fields),
            BodyFraming::Length(0),
            ConnectionField::Omit,
            true,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                "Server: ferrox\r\netag: \"x\"\r\nx-more: 1\r\nContent-Length: 0\r\n\r\n"
            ),
            "{text}"
        );

        map.insert(header::SERVER, HeaderValue::from_static("mine"));
        let mut out = Vec::new();
        encode_head(
            &mut out,
            StatusCode::OK,
            &HeaderMap::new(),
            Some(&FieldBlock::new(map)),
            BodyFraming::NoBody,
            ConnectionField::Omit,
            true,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("ferrox") && text.contains("server: mine\r\n"),
            "{text}"
        );
    }

    #[test]
    fn chunk_sizes_are_hex() {
        let mut out = Vec::new();
        chunk_size_line(&mut out, 255);
        assert_eq!(out, b"FF\r\n");
    }
}
