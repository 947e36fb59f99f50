//! The `--redirect-http` listener: every request gets `308 Permanent Redirect` to
//! the same path on the https origin. 308 (not 301) keeps the method and body.

use http::{header, HeaderValue, Request, Response, StatusCode};

use crate::body::Body;
use crate::proto::{self, Service};
use crate::response::Reply;

/// Redirects to `https://HOST[:PORT]/path?query`.
#[derive(Debug, Clone, Copy)]
pub struct RedirectToHttps {
    /// The port of the https listener (omitted from the URL when 443).
    pub https_port: u16,
}

impl RedirectToHttps {
    /// The https URL for a request, when it names a host.
    pub fn location(&self, req: &Request<()>) -> Option<String> {
        // Userinfo in an http(s) URI is an error (RFC 9110 §4.2.4): never copy
        // credentials into the redirect, nor mistake the user name for the host.
        if req
            .uri()
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            return None;
        }
        let host = proto::request_host(req).filter(|h| !h.is_empty())?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = match self.https_port {
            443 => String::new(),
            port => format!(":{port}"),
        };
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        Some(format!("https://{host}{port}{target}"))
    }
}

impl Service for RedirectToHttps {
    fn accepts_any_method(&self) -> bool {
        true
    }

    async fn call<'a>(&'a self, req: &'a Request<()>) -> Response<Body> {
        self.redirect(req)
    }

    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        Some(self.redirect(req).into())
    }
}

impl RedirectToHttps {
    /// 308 to the same URL over https, or 400 without a usable host.
    pub(crate) fn redirect(&self, req: &Request<()>) -> Response<Body> {
        // The host and target passed the request parser, so they hold no CR, LF
        // or space; HeaderValue checks again.
        let location = self
            .location(req)
            .and_then(|l| HeaderValue::from_str(&l).ok());
        let Some(location) = location else {
            return proto::plain_error(proto::status::status(proto::Failure::NoHost));
        };
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
        response.headers_mut().insert(header::LOCATION, location);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(port: u16, host: &str, target: &str) -> Option<String> {
        let req = Request::builder()
            .uri(target)
            .header("host", host)
            .body(())
            .unwrap();
        RedirectToHttps { https_port: port }.location(&req)
    }

    #[test]
    fn locations() {
        assert_eq!(
            location(443, "example.com", "/a?b=1").as_deref(),
            Some("https://example.com/a?b=1")
        );
        assert_eq!(
            location(8443, "example.com:8080", "/").as_deref(),
            Some("https://example.com:8443/")
        );
        assert_eq!(
            location(8443, "[::1]:8080", "/x").as_deref(),
            Some("https://[::1]:8443/x")
        );
        assert_eq!(location(443, "", "/x"), None);
        assert_eq!(location(443, "h", "http://user:pw@origin:81/x"), None);
        assert_eq!(location(443, "h", "http://user@origin/x"), None);
        assert_eq!(
            location(8443, "h", "http://origin:81/x?y").as_deref(),
            Some("https://origin:8443/x?y")
        );
    }
}
