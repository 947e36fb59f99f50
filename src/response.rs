//! The response vocabulary that the protocol engines and the application both
//! speak, so that neither imports the other: a [`Reply`] is a response plus,
//! optionally, a [`FieldBlock`] of fields built once for many responses (every
//! 200 of a cached file version carries the same seven).
//!
//! The block is protocol-neutral: it holds a header map, and each engine
//! encodes it its own way (HTTP/1 copies a wire form that it builds once per
//! block and keeps in the block; HTTP/2 appends the map's fields). A
//! [`Reply`]'s own methods see the fields of both, so a decorator (HSTS, a
//! route's headers) can neither miss a field of the block nor send one twice:
//! changing a field the block holds first moves the block's fields into the
//! response's own map.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

use crate::body::Body;

/// Fields shared by many responses, with each engine's encoding of them made
/// once. Cloning is one reference count.
#[derive(Debug, Clone)]
pub struct FieldBlock(Arc<Block>);

#[derive(Debug)]
struct Block {
    map: HeaderMap,
    /// An engine's encoding of `map`, made on first use (see
    /// [`FieldBlock::encoded`]).
    encoded: OnceLock<Bytes>,
}

impl FieldBlock {
    /// A block of `map`'s fields.
    pub fn new(map: HeaderMap) -> Self {
        FieldBlock(Arc::new(Block {
            map,
            encoded: OnceLock::new(),
        }))
    }

    /// The fields.
    pub fn map(&self) -> &HeaderMap {
        &self.0.map
    }

    /// Whether the block holds a field called `name`.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.0.map.contains_key(name)
    }

    /// The block in an engine's wire form: `encode` runs for the first
    /// response that asks, and every later one shares its result. One engine
    /// encodes blocks (HTTP/1; HTTP/2 sends the map), so one slot suffices.
    pub fn encoded(&self, encode: impl FnOnce(&HeaderMap) -> Bytes) -> &Bytes {
        self.0.encoded.get_or_init(|| encode(&self.0.map))
    }
}

/// Marks a response that must carry no `Server` field (see
/// [`Reply::omit_server`]); engines check it before adding their own.
#[derive(Debug, Clone, Copy)]
pub struct OmitServer;

/// A response, with a block of pre-built fields sent after the response's own.
#[derive(Debug)]
pub struct Reply {
    response: Response<Body>,
    fields: Option<FieldBlock>,
}

impl Reply {
    /// A reply whose fields are all in `response`.
    pub fn new(response: Response<Body>) -> Self {
        Reply {
            response,
            fields: None,
        }
    }

    /// A reply that sends `fields` after `response`'s own. The two must not
    /// share a field name: the block stands for fields the response lacks.
    pub fn with_fields(response: Response<Body>, fields: FieldBlock) -> Self {
        Reply {
            response,
            fields: Some(fields),
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The body.
    pub fn body(&self) -> &Body {
        self.response.body()
    }

    /// The first value of `name`, in the response's map or in the block.
    pub fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.response
            .headers()
            .get(name)
            .or_else(|| self.fields.as_ref()?.map().get(name))
    }

    /// Every value of `name`, in order, from the response's map or the block
    /// (for a list field such as `Vary`, which may have several lines).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a HeaderValue> {
        let block = self.fields.as_ref().map(|b| b.map().get_all(name));
        self.response
            .headers()
            .get_all(name)
            .iter()
            .chain(block.into_iter().flatten())
    }

    /// Whether any field is called `name`.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value` alone, replacing every earlier value.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        if self.block_has(&name) {
            self.unshare();
        }
        self.response.headers_mut().insert(name, value);
    }

    /// Adds a value of `name`, after any it has.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) {
        if self.block_has(&name) {
            // Keeps the values in order: the block's first, then this one.
            self.unshare();
        }
        self.response.headers_mut().append(name, value);
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        if self.block_has(name) {
            self.unshare();
        }
        self.response.headers_mut().remove(name);
    }

    /// Every field, as one map the caller may change: the block's fields are
    /// moved into the response's map first.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.unshare();
        self.response.headers_mut()
    }

    /// Sends no `Server` field, not even the engine's own (a site that
    /// removes it). Marked in the response's extensions, which cost nothing
    /// until used.
    pub fn omit_server(&mut self) {
        self.remove(&http::header::SERVER);
        self.response.extensions_mut().insert(OmitServer);
    }

    /// The response and the block, for an engine to send.
    pub fn into_parts(self) -> (Response<Body>, Option<FieldBlock>) {
        (self.response, self.fields)
    }

    /// One plain response holding every field.
    pub fn into_response(mut self) -> Response<Body> {
        self.unshare();
        self.response
    }

    fn block_has(&self, name: &HeaderName) -> bool {
        self.fields.as_ref().is_some_and(|b| b.contains(name))
    }

    /// Moves the block's fields into the response's map.
    fn unshare(&mut self) {
        if let Some(block) = self.fields.take() {
            let headers = self.response.headers_mut();
            headers.reserve(block.map().len());
            for (name, value) in block.map() {
                headers.append(name.clone(), value.clone());
            }
        }
    }
}

impl From<Response<Body>> for Reply {
    fn from(response: Response<Body>) -> Self {
        Reply::new(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn block() -> FieldBlock {
        let mut map = HeaderMap::new();
        map.insert(header::ETAG, HeaderValue::from_static("\"x\""));
        map.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        FieldBlock::new(map)
    }

    fn reply() -> Reply {
        let mut response = Response::new(Body::Empty);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Reply::with_fields(response, block())
    }

    fn fields_of(reply: Reply) -> Vec<(String, String)> {
        let response = reply.into_response();
        let mut all: Vec<_> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn reads_see_the_block_and_the_map() {
        let r = reply();
        assert_eq!(r.get(&header::ETAG).unwrap(), "\"x\"");
        assert_eq!(r.get(&header::CONTENT_TYPE).unwrap(), "text/plain");
        assert!(!r.contains(&header::SERVER));
    }

    #[test]
    fn get_all_sees_both_maps() {
        let mut response = Response::new(Body::Empty);
        response
            .headers_mut()
            .insert(header::LINK, HeaderValue::from_static("</a>"));
        response
            .headers_mut()
            .append(header::LINK, HeaderValue::from_static("</b>"));
        let r = Reply::with_fields(response, block());
        let links: Vec<_> = r.get_all(&header::LINK).collect();
        assert_eq!(links, ["</a>", "</b>"]);
        let vary: Vec<_> = r.get_all(&header::VARY).collect();
        assert_eq!(vary, ["Accept-Encoding"]);
        assert_eq!(r.get_all(&header::SERVER).count(), 0);
    }

    #[test]
    fn a_new_field_leaves_the_block_shared() {
        let mut r = reply();
        r.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=1"),
        );
        let (response, fields) = r.into_parts();
        assert!(fields.is_some(), "the block should still be shared");
        assert_eq!(response.headers().len(), 2);
    }

    #[test]
    fn changing_a_block_field_never_sends_it_twice() {
        let mut r = reply();
        r.insert(header::ETAG, HeaderValue::from_static("\"y\""));
        assert_eq!(
            fields_of(r),
            [
                ("content-type".into(), "text/plain".into()),
                ("etag".into(), "\"y\"".into()),
                ("vary".into(), "Accept-Encoding".into()),
            ]
        );
        let mut r = reply();
        r.remove(&header::VARY);
        assert!(r.into_parts().0.headers().get(header::VARY).is_none());
        let mut r = reply();
        r.append(header::VARY, HeaderValue::from_static("Origin"));
        let response = r.into_response();
        let vary: Vec<_> = response.headers().get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    }

    #[test]
    fn the_encoding_is_made_once() {
        let b = block();
        let first = b.encoded(|map| Bytes::from(format!("{}", map.len())));
        assert_eq!(&first[..], b"2");
        let again = b.clone();
        assert_eq!(&again.encoded(|_| Bytes::from_static(b"other"))[..], b"2");
    }
}
