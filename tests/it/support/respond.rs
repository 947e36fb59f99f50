//! The application layer without sockets: a request built in memory, and the
//! handler's answer with its body read to the end.

use ferrox::handler::Handler;
use http::{HeaderMap, Request};

use super::body::collect;

/// A request: `method`, `target` (path and query), header fields. HTTP/1.1,
/// as `http` builds it by default.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut req = Request::builder().method(method).uri(target);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(())
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// What the handler answered: the status, every field, the body's bytes.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of a field; panics with the answer if it is missing.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.try_header(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{self:?}"))
    }

    pub fn try_header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every field as (name, value), sorted: to compare a whole head.
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        fields.sort();
        fields
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.status)?;
        for (name, value) in self.fields() {
            writeln!(f, "{name}: {value}")?;
        }
        let shown = &self.body[..self.body.len().min(500)];
        write!(
            f,
            "\n{} ({} bytes)",
            String::from_utf8_lossy(shown),
            self.body.len()
        )
    }
}

/// Runs `handler` on `req`: the one call of `Handler::respond` in the tests,
/// to adapt here when its return type changes. (A plain response carries
/// every field: a reply's pre-built block joins its map on the way.)
pub async fn respond(handler: &Handler, req: &Request<()>) -> Answer {
    let (parts, body) = handler.respond(req).await.into_parts();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: collect(body).await,
    }
}
