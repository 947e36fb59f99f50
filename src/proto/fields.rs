//! Response fields encoded once, in HTTP/1.1 wire form, for responses that
//! repeat them (every 200 of a cached file): the HTTP/1 engine copies the block
//! behind its own fields instead of cloning, walking and dropping a `HeaderMap`
//! per response. A service attaches it in the response's extensions; engines
//! that need fields as a map (HTTP/2) decode it back.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;

/// Header fields in wire form (`Name: value\r\n` each), built from a
/// [`HeaderMap`], so every name and value is valid and none carries CR or LF.
/// The fields the engines own (framing, `Date`, `Connection`) are left out, as
/// they are from any response's map.
#[derive(Debug, Clone, Default)]
pub struct EncodedFields {
    wire: Bytes,
    has_server: bool,
}

impl EncodedFields {
    /// Encodes `headers`, minus the engine-owned fields.
    pub fn new(headers: &HeaderMap) -> Self {
        let mut wire = Vec::with_capacity(256);
        encode_fields(&mut wire, headers);
        EncodedFields {
            wire: Bytes::from(wire),
            has_server: headers.contains_key(header::SERVER),
        }
    }

    /// The encoded lines, each ending in CRLF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.wire
    }

    /// Whether a `Server` field is among them.
    pub fn has_server(&self) -> bool {
        self.has_server
    }

    /// Appends the fields to `map`, for engines that send fields as a map.
    pub fn append_to(&self, map: &mut HeaderMap) {
        for line in self.wire.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or_default().trim_ascii_start();
            // Both parts came from a valid name and value, so neither fails.
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                map.append(name, value);
            }
        }
    }
}

/// Fields the engines write themselves: a service's copy is dropped, so that
/// it can never contradict the framing.
pub(crate) fn owned_by_engine(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION
        || name == header::DATE
        || name == "keep-alive"
}

/// Appends `Name: value\r\n` for every field of `headers` that the engine does
/// not own. `HeaderValue` guarantees no CR, LF or NUL, so nothing from a request
/// can split the head.
pub(crate) fn encode_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_all_but_engine_fields_and_decodes_back() {
        let mut map = HeaderMap::new();
        map.insert(header::ETAG, HeaderValue::from_static("\"a:b\""));
        map.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        map.insert(header::CONNECTION, HeaderValue::from_static("close"));
        map.append(header::VARY, HeaderValue::from_static("Accept"));
        map.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        map.insert("x-empty", HeaderValue::from_static(""));
        let fields = EncodedFields::new(&map);
        assert_eq!(
            fields.as_bytes(),
            b"etag: \"a:b\"\r\nvary: Accept\r\nvary: Accept-Encoding\r\nx-empty: \r\n"
        );
        assert!(!fields.has_server());
        let mut back = HeaderMap::new();
        fields.append_to(&mut back);
        assert_eq!(back.len(), 4);
        assert_eq!(back[header::ETAG], "\"a:b\"");
        let vary: Vec<_> = back.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept", "Accept-Encoding"]);
        assert_eq!(back["x-empty"], "");
        assert!(!back.contains_key(header::CONTENT_LENGTH));
    }

    #[test]
    fn notes_a_server_field() {
        let mut map = HeaderMap::new();
        map.insert(header::SERVER, HeaderValue::from_static("mine"));
        assert!(EncodedFields::new(&map).has_server());
    }
}
