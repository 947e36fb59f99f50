//! Cross-origin resource sharing (the CORS protocol of the Fetch standard)
//! for a site or a route: one [`Cors`] value, checked and built once from the
//! configuration, answers preflight requests ([`Cors::preflight`]) and
//! decorates the responses to actual requests ([`Cors::decorate`]) from the
//! same data, so the two can never disagree.
//!
//! What it will not do, whatever the configuration says:
//!
//! - send `*` together with `Access-Control-Allow-Credentials: true`: the
//!   Fetch standard ignores `*` on credentialed requests, so such a
//!   configuration is refused when built instead of failing in browsers;
//! - allow the opaque origin `null` (sandboxed frames, `file:` pages,
//!   requests redirected across origins) unless it is listed by name: any
//!   page can make its requests come from `null`;
//! - match an origin by prefix or suffix: `https://app.example.com.evil.test`
//!   is not `https://app.example.com`. Origins compare whole, ignoring ASCII
//!   case (browsers send scheme and host lower-cased, and the port is digits).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::body::Body;
use crate::response::Reply;

/// The `Vary` of every preflight response, whatever it allowed: the answer
/// depends on these three request fields, and a cache must not give one
/// origin's or method's answer to another.
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// The serialisation of an opaque origin, never matched by `Origins::Any`.
const NULL_ORIGIN: &str = "null";

/// The wildcard in a configured list: any origin, method or header.
const WILDCARD: &str = "*";

/// Methods a browser sends cross-origin without asking (CORS-safelisted
/// methods): a preflight for them (made because of a non-safelisted header)
/// is allowed whatever the method list, as browsers would allow them anyway.
const SAFELISTED_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::POST];

/// Methods the Fetch standard upper-cases in requests ("normalize a method"):
/// a configured `get` is the `GET` browsers send. Others (`patch`) are sent as
/// written, so they stay as configured.
const NORMALISED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// Schemes whose default port browsers leave out of an origin.
const DEFAULT_PORTS: [(&str, u16); 4] = [("http", 80), ("https", 443), ("ws", 80), ("wss", 443)];

/// Which origins may read the responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Any origin but `null` (answered with `*`; not with credentials).
    Any,
    /// These serialised origins, `scheme://host[:port]`, and `null` if listed.
    List(Vec<String>),
}

/// The configuration of [`Cors`].
#[derive(Debug, Clone)]
pub struct CorsOptions {
    /// Who may read.
    pub origins: Origins,
    /// Methods allowed beyond GET, HEAD and POST (which need no permission);
    /// `*` for any (a preflight gets its own method back; not with
    /// credentials).
    pub methods: Vec<String>,
    /// Request fields allowed beyond the safelisted ones; `*` for any but
    /// `Authorization`, which the Fetch standard leaves out of `*` (list it to
    /// allow it). A preflight gets the allowed ones of its requested fields
    /// back. `*` is not for credentials.
    pub headers: Vec<String>,
    /// Response fields the page may read beyond the safelisted ones; `*` for
    /// all (not with credentials).
    pub expose: Vec<String>,
    /// Whether requests with cookies or HTTP authentication may be read.
    pub credentials: bool,
    /// How long a browser may cache a preflight's answer (whole seconds).
    pub max_age: Option<Duration>,
}

/// A checked CORS policy, built once and shared by every request.
#[derive(Debug, Clone)]
pub struct Cors {
    /// `List` holds lower-cased origins.
    origins: Origins,
    /// `None`: any method, echoed.
    methods: Option<Vec<Method>>,
    /// `Access-Control-Allow-Methods` for a listed method (`None`: the
    /// configured list is empty, and only safelisted methods pass).
    allow_methods: Option<HeaderValue>,
    headers: Vec<HeaderName>,
    /// `*` was configured: any requested header but `Authorization`.
    any_header: bool,
    /// `Access-Control-Expose-Headers`.
    expose: Option<HeaderValue>,
    credentials: bool,
    /// `Access-Control-Max-Age`.
    max_age: Option<HeaderValue>,
}

impl Cors {
    /// Checks `options`: origins are `scheme://host[:port]` (upper case is
    /// accepted and lower-cased; no path, trailing slash, user or default
    /// port, which browsers never send) or `null`; methods are tokens; field
    /// names are tokens; a wildcard (`Origins::Any`, `*` among the methods,
    /// headers or exposed headers) is refused with `credentials`. Errors name
    /// the entry.
    pub fn new(options: CorsOptions) -> Result<Cors, String> {
        let CorsOptions {
            origins,
            methods,
            headers,
            expose,
            credentials,
            max_age,
        } = options;
        let origins = match origins {
            Origins::Any if credentials => {
                return Err(credentialed_wildcard("origins \"*\" (any origin)"));
            }
            Origins::Any => Origins::Any,
            Origins::List(list) if list.is_empty() => {
                return Err("origins: the list is empty, so no origin could read".into());
            }
            Origins::List(list) => {
                let mut checked: Vec<String> = Vec::with_capacity(list.len());
                for entry in &list {
                    let origin = serialised_origin(entry)?;
                    if !checked.contains(&origin) {
                        checked.push(origin);
                    }
                }
                Origins::List(checked)
            }
        };

        let mut any_method = false;
        let mut method_list: Vec<Method> = Vec::new();
        for raw in &methods {
            if raw == WILDCARD {
                any_method = true;
                continue;
            }
            let method = method(raw)?;
            if !method_list.contains(&method) {
                method_list.push(method);
            }
        }
        if any_method && credentials {
            return Err(credentialed_wildcard("methods \"*\""));
        }
        let allow_methods = joined(method_list.iter().map(Method::as_str))?;

        let (any_header, header_list) = names("header", &headers)?;
        if any_header && credentials {
            return Err(credentialed_wildcard("headers \"*\""));
        }
        let (expose_all, expose_list) = names("expose", &expose)?;
        if expose_all && credentials {
            return Err(credentialed_wildcard("expose \"*\""));
        }
        let expose = if expose_all {
            Some(HeaderValue::from_static(WILDCARD))
        } else {
            joined(expose_list.iter().map(HeaderName::as_str))?
        };

        Ok(Cors {
            origins,
            methods: (!any_method).then_some(method_list),
            allow_methods,
            headers: header_list,
            any_header,
            expose,
            credentials,
            max_age: max_age.map(|age| HeaderValue::from(age.as_secs())),
        })
    }

    /// Whether `req` is a CORS preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`. (A plain `OPTIONS` is not.)
    pub fn is_preflight(req: &Request<()>) -> bool {
        req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN)
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: always 204 with `Vary: Origin,
    /// Access-Control-Request-Method, Access-Control-Request-Headers`; when
    /// the origin and the method are allowed, also the permission fields. A
    /// refusal carries no CORS field at all, so the browser fails the request
    /// without learning the policy.
    pub fn preflight(&self, req: &Request<()>) -> Response<Body> {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        let fields = response.headers_mut();
        fields.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));

        let asked = req.headers();
        let Some(allow_origin) = self.allow_origin(only(asked, &header::ORIGIN)) else {
            return response;
        };
        let Some(requested) = only(asked, &header::ACCESS_CONTROL_REQUEST_METHOD) else {
            return response;
        };
        let Some(allow_methods) = self.allow_methods(requested) else {
            return response;
        };

        fields.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            fields.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(methods) = allow_methods {
            fields.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        if let Some(headers) = self.allow_headers(asked) {
            fields.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, headers);
        }
        if let Some(age) = &self.max_age {
            fields.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        response
    }

    /// Decorates the response to an actual request whose `Origin` was
    /// `origin`: an allowed origin gets `Access-Control-Allow-Origin` and the
    /// credentials and expose fields; others get nothing. Every response also
    /// gets `Vary: Origin` (unless its `Vary` already covers it), because
    /// each depends on the request's origin: a list echoes it, and even `Any`
    /// answers nothing to a request without one or from `null`, which a
    /// shared cache must not hand to a cross-origin request (Fetch, "CORS
    /// protocol and HTTP caches").
    pub fn decorate(&self, origin: Option<&HeaderValue>, reply: &mut Reply) {
        if !varies_on_origin(reply) {
            reply.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        let Some(allow_origin) = self.allow_origin(origin) else {
            return;
        };
        reply.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            reply.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose {
            reply.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, when
    /// that origin may read: `*` for `Any` (never with credentials: refused
    /// at build), else the request's origin echoed byte for byte, as the
    /// browser compares it so.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let sent = origin?;
        let origin = sent.as_bytes();
        let allowed = match &self.origins {
            Origins::Any => !origin.eq_ignore_ascii_case(NULL_ORIGIN.as_bytes()),
            Origins::List(list) => list
                .iter()
                .any(|allowed| origin.eq_ignore_ascii_case(allowed.as_bytes())),
        };
        match (&self.origins, allowed) {
            (_, false) => None,
            (Origins::Any, true) => Some(HeaderValue::from_static(WILDCARD)),
            (Origins::List(_), true) => Some(sent.clone()),
        }
    }

    /// For a requested method: `None` when it is not allowed; else the
    /// `Access-Control-Allow-Methods` to send, if any (the requested method
    /// for `*`, else the configured list; nothing for a safelisted method
    /// when none is configured, as browsers need none).
    fn allow_methods(&self, requested: &HeaderValue) -> Option<Option<HeaderValue>> {
        let method = Method::from_bytes(requested.as_bytes()).ok()?;
        match &self.methods {
            None => Some(Some(requested.clone())),
            Some(list) if list.contains(&method) || SAFELISTED_METHODS.contains(&method) => {
                Some(self.allow_methods.clone())
            }
            Some(_) => None,
        }
    }

    /// `Access-Control-Allow-Headers`: the requested fields that are allowed,
    /// as requested (browsers send them lower-cased), or nothing when none
    /// are. A field not allowed is left out, and the browser then fails the
    /// request for it.
    fn allow_headers(&self, asked: &HeaderMap) -> Option<HeaderValue> {
        let mut allowed = String::new();
        let lines = asked.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS);
        for line in lines.iter().filter_map(|l| l.to_str().ok()) {
            for item in line.split(',').map(str::trim) {
                let Ok(name) = HeaderName::from_bytes(item.as_bytes()) else {
                    continue;
                };
                let allowed_name = self.headers.contains(&name)
                    || (self.any_header && name != header::AUTHORIZATION);
                if allowed_name {
                    if !allowed.is_empty() {
                        allowed.push_str(", ");
                    }
                    allowed.push_str(name.as_str());
                }
            }
        }
        if allowed.is_empty() {
            return None;
        }
        HeaderValue::from_str(&allowed).ok()
    }
}

/// The value of `name` when the request has exactly one: two `Origin`s (or
/// two requested methods) are no request a browser makes, and picking one
/// could answer for the other.
fn only<'a>(fields: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = fields.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Whether the reply's `Vary` already lists `Origin` (or is `*`, which
/// covers every field).
fn varies_on_origin(reply: &Reply) -> bool {
    reply
        .get_all(&header::VARY)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|token| token == WILDCARD || token.eq_ignore_ascii_case("origin"))
}

fn credentialed_wildcard(what: &str) -> String {
    format!(
        "{what} cannot be used with credentials = true: browsers ignore a \
         wildcard on credentialed requests (Fetch standard); list them instead"
    )
}

/// The configured names of `what` (`header` or `expose`), and whether `*` was
/// among them.
fn names(what: &str, raw: &[String]) -> Result<(bool, Vec<HeaderName>), String> {
    let mut wildcard = false;
    let mut names: Vec<HeaderName> = Vec::with_capacity(raw.len());
    for entry in raw {
        if entry == WILDCARD {
            wildcard = true;
            continue;
        }
        let name = HeaderName::from_bytes(entry.as_bytes())
            .map_err(|_| format!("{what} {entry:?}: not a field name"))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok((wildcard, names))
}

/// A field value listing `items`, or none for no items.
fn joined<'a>(items: impl Iterator<Item = &'a str>) -> Result<Option<HeaderValue>, String> {
    let list = items.collect::<Vec<_>>().join(", ");
    if list.is_empty() {
        return Ok(None);
    }
    // Tokens and ", " only, so always a valid value; an error here would be
    // a bug in the checks above, reported rather than panicking.
    HeaderValue::from_str(&list)
        .map(Some)
        .map_err(|_| format!("cannot make a field of {list:?}"))
}

/// A configured method, normalised as browsers send it.
fn method(raw: &str) -> Result<Method, String> {
    let upper = raw.to_ascii_uppercase();
    let spelled = if NORMALISED_METHODS.contains(&upper.as_str()) {
        upper.as_str()
    } else {
        raw
    };
    Method::from_bytes(spelled.as_bytes()).map_err(|_| format!("method {raw:?}: not a token"))
}

/// A configured origin as browsers serialise it (lower-cased), or why it
/// never could be one.
fn serialised_origin(entry: &str) -> Result<String, String> {
    let fail = |why: &str| Err(format!("origin {entry:?}: {why}"));
    let origin = entry.to_ascii_lowercase();
    if origin == NULL_ORIGIN {
        return Ok(origin);
    }
    if origin == WILDCARD {
        return fail("\"*\" is any origin: use it alone, not in a list");
    }
    if !origin.is_ascii() {
        return fail("write an internationalised host name in its xn-- form, as browsers send it");
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return fail("not scheme://host[:port]");
    };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return fail("not a URL scheme before ://");
    }
    if rest.contains('/') {
        return fail("an origin has no path, not even a trailing slash");
    }
    if rest.contains(['?', '#', '@']) {
        return fail("an origin has no query, fragment or user: scheme://host[:port]");
    }
    let port = match rest.strip_prefix('[') {
        Some(v6) => {
            let Some((address, after)) = v6.split_once(']') else {
                return fail("an IPv6 address without its closing ]");
            };
            let Ok(parsed) = address.parse::<Ipv6Addr>() else {
                return fail("not an IPv6 address between [ and ]");
            };
            if parsed.to_string() != address {
                return fail(&format!("browsers write this address [{parsed}]"));
            }
            match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return fail("only :port may follow the ]"),
                },
            }
        }
        None => {
            let (host, port) = match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            };
            if let Err(why) = check_host(host) {
                return fail(why);
            }
            port
        }
    };
    if let Some(port) = port {
        // Digits only, and no leading zero: browsers write 8080, never 08080.
        let canonical =
            port.bytes().all(|b| b.is_ascii_digit()) && !(port.len() > 1 && port.starts_with('0'));
        let Some(number) = port.parse::<u16>().ok().filter(|_| canonical) else {
            return fail("the port is not a number from 0 to 65535 as browsers write it");
        };
        if DEFAULT_PORTS.contains(&(scheme, number)) {
            let without = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
            return fail(&format!(
                "browsers leave out the default port: write {scheme}://{without}"
            ));
        }
    }
    Ok(origin)
}

/// A host name or IPv4 address as browsers serialise it.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("no host");
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !labels_ok {
        return Err("not a host name (letters, digits, - and _ in dot-separated labels)");
    }
    // A host ending in a number is an IPv4 address to a browser (WHATWG URL),
    // which rewrites forms like 010.1 or 0x7f.1; only the dotted-decimal form
    // it sends can match.
    let last = host.rsplit('.').next().unwrap_or(host);
    let hex = last
        .strip_prefix("0x")
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    let numeric = hex || last.bytes().all(|b| b.is_ascii_digit());
    if numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err("not an IPv4 address as browsers write it (a.b.c.d)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::FieldBlock;

    const APP: &str = "https://app.example.com";

    /// A field as the tables write it: name, value.
    type Field = (&'static str, &'static str);

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A list of origins with credentials, the common API set-up.
    fn credentialed() -> CorsOptions {
        CorsOptions {
            origins: Origins::List(strings(&[APP, "http://localhost:8080"])),
            methods: strings(&["GET", "put", "DELETE"]),
            headers: strings(&["X-Token", "Content-Type"]),
            expose: strings(&["X-Request-Id"]),
            credentials: true,
            max_age: Some(Duration::from_millis(600_500)),
        }
    }

    /// Anything from anywhere, without credentials (public files).
    fn public() -> CorsOptions {
        CorsOptions {
            origins: Origins::Any,
            methods: strings(&["*"]),
            headers: strings(&["*"]),
            expose: strings(&["*"]),
            credentials: false,
            max_age: None,
        }
    }

    fn request(method: &str, fields: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::builder().method(method).uri("/api");
        for (name, value) in fields {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap()
    }

    fn preflight_request(origin: &str, method: &str, headers: Option<&str>) -> Request<()> {
        let mut fields = vec![
            ("origin", origin),
            ("access-control-request-method", method),
        ];
        if let Some(h) = headers {
            fields.push(("access-control-request-headers", h));
        }
        request("OPTIONS", &fields)
    }

    fn listed(map: &HeaderMap) -> Vec<(String, String)> {
        let mut all: Vec<_> = map
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all: Vec<_> = list
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The fields of a preflight that was refused: the Vary alone.
    const REFUSED: &[(&str, &str)] = &[("vary", PREFLIGHT_VARY)];

    #[test]
    fn preflights_with_a_list_and_credentials() {
        let cors = Cors::new(credentialed()).unwrap();
        let allowed = |origin: &'static str, headers: Option<&'static str>| {
            let mut fields = vec![
                ("vary", PREFLIGHT_VARY),
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET, PUT, DELETE"),
                ("access-control-max-age", "600"),
            ];
            if let Some(h) = headers {
                fields.push(("access-control-allow-headers", h));
            }
            fields
        };
        // (Origin, Access-Control-Request-Method, -Headers, expected fields)
        let table: Vec<(&str, &str, Option<&str>, Vec<Field>)> = vec![
            (APP, "PUT", Some("x-token"), allowed(APP, Some("x-token"))),
            (APP, "DELETE", None, allowed(APP, None)),
            // Scheme and host compare without case; the origin is echoed as sent.
            (
                "https://APP.example.com",
                "PUT",
                None,
                allowed("https://APP.example.com", None),
            ),
            (
                "http://localhost:8080",
                "GET",
                Some("content-type"),
                allowed("http://localhost:8080", Some("content-type")),
            ),
            // POST is safelisted: allowed though not listed.
            (
                APP,
                "POST",
                Some("x-token,content-type"),
                allowed(APP, Some("x-token, content-type")),
            ),
            // Only the allowed ones of the requested headers.
            (
                APP,
                "PUT",
                Some("x-evil, x-token, authorization"),
                allowed(APP, Some("x-token")),
            ),
            (APP, "PUT", Some("x-evil"), allowed(APP, None)),
            // Origins that are not listed, however close.
            (
                "https://app.example.com.evil.test",
                "PUT",
                None,
                REFUSED.to_vec(),
            ),
            ("https://evil.test", "PUT", None, REFUSED.to_vec()),
            ("https://app.example.co", "PUT", None, REFUSED.to_vec()),
            ("https://app.example.com/", "PUT", None, REFUSED.to_vec()),
            ("http://app.example.com", "PUT", None, REFUSED.to_vec()),
            (
                "https://app.example.com:8443",
                "PUT",
                None,
                REFUSED.to_vec(),
            ),
            ("http://localhost", "PUT", None, REFUSED.to_vec()),
            ("null", "PUT", None, REFUSED.to_vec()),
            ("", "PUT", None, REFUSED.to_vec()),
            // Methods that are not allowed (methods are case-sensitive).
            (APP, "PATCH", Some("x-token"), REFUSED.to_vec()),
            (APP, "patch", None, REFUSED.to_vec()),
            (APP, "put", None, REFUSED.to_vec()),
            (APP, "GET POST", None, REFUSED.to_vec()),
            (APP, "", None, REFUSED.to_vec()),
        ];
        for (origin, method, headers, want) in table {
            let req = preflight_request(origin, method, headers);
            let response = cors.preflight(&req);
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            assert!(response.body().is_empty());
            assert_eq!(
                listed(response.headers()),
                expect(&want),
                "{origin} {method} {headers:?}"
            );
        }
    }

    #[test]
    fn preflights_from_anywhere() {
        let cors = Cors::new(public()).unwrap();
        let table: &[(&str, &str, Option<&str>, &[Field])] = &[
            (
                "https://anyone.test",
                "PATCH",
                Some("x-a, authorization"),
                &[
                    ("vary", PREFLIGHT_VARY),
                    ("access-control-allow-origin", "*"),
                    ("access-control-allow-methods", "PATCH"),
                    ("access-control-allow-headers", "x-a"),
                ],
            ),
            (
                "http://localhost:3000",
                "GET",
                None,
                &[
                    ("vary", PREFLIGHT_VARY),
                    ("access-control-allow-origin", "*"),
                    ("access-control-allow-methods", "GET"),
                ],
            ),
            // `null` is never "any origin".
            ("null", "GET", None, REFUSED),
            ("NULL", "GET", None, REFUSED),
        ];
        for (origin, method, headers, want) in table {
            let response = cors.preflight(&preflight_request(origin, method, *headers));
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            assert_eq!(listed(response.headers()), expect(want), "{origin}");
        }
        // `*` with Authorization listed by name: it is allowed too.
        let cors = Cors::new(CorsOptions {
            headers: strings(&["*", "Authorization"]),
            ..public()
        })
        .unwrap();
        let response = cors.preflight(&preflight_request(
            "https://a.test",
            "GET",
            Some("authorization,x-b"),
        ));
        assert_eq!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
                .unwrap(),
            "authorization, x-b"
        );
    }

    #[test]
    fn preflights_from_null_only_when_listed() {
        let cors = Cors::new(CorsOptions {
            origins: Origins::List(strings(&["null"])),
            methods: Vec::new(),
            headers: Vec::new(),
            expose: Vec::new(),
            credentials: false,
            max_age: None,
        })
        .unwrap();
        let table: &[(&str, &str, &[Field])] = &[
            (
                "null",
                "GET",
                &[
                    ("vary", PREFLIGHT_VARY),
                    ("access-control-allow-origin", "null"),
                ],
            ),
            // No methods configured: only the safelisted ones.
            ("null", "PUT", REFUSED),
            ("https://a.test", "GET", REFUSED),
        ];
        for (origin, method, want) in table {
            let response = cors.preflight(&preflight_request(origin, method, Some("x-a")));
            assert_eq!(
                listed(response.headers()),
                expect(want),
                "{origin} {method}"
            );
        }
    }

    #[test]
    fn a_preflight_needs_one_origin_and_one_method() {
        let cors = Cors::new(credentialed()).unwrap();
        let table: &[&[(&str, &str)]] = &[
            &[
                ("origin", APP),
                ("origin", "https://evil.test"),
                ("access-control-request-method", "PUT"),
            ],
            &[
                ("origin", APP),
                ("access-control-request-method", "PUT"),
                ("access-control-request-method", "GET"),
            ],
            &[("origin", APP)],
            &[("access-control-request-method", "PUT")],
        ];
        for fields in table {
            let response = cors.preflight(&request("OPTIONS", fields));
            assert_eq!(listed(response.headers()), expect(REFUSED), "{fields:?}");
        }
    }

    #[test]
    fn what_is_a_preflight() {
        let both: &[(&str, &str)] = &[("origin", APP), ("access-control-request-method", "PUT")];
        let table: &[(&str, &[Field], bool)] = &[
            ("OPTIONS", both, true),
            ("OPTIONS", &[("origin", APP)], false),
            (
                "OPTIONS",
                &[("access-control-request-method", "PUT")],
                false,
            ),
            ("OPTIONS", &[], false),
            ("GET", both, false),
            ("POST", both, false),
        ];
        for (method, fields, want) in table {
            assert_eq!(
                Cors::is_preflight(&request(method, fields)),
                *want,
                "{method} {fields:?}"
            );
        }
    }

    /// A 200 with `Vary` in a shared block, as the file handler makes them.
    fn file_reply(vary: Option<&str>) -> Reply {
        let mut block = HeaderMap::new();
        block.insert(header::ETAG, HeaderValue::from_static("\"v1\""));
        if let Some(vary) = vary {
            block.insert(header::VARY, HeaderValue::from_str(vary).unwrap());
        }
        Reply::with_fields(Response::new(Body::Empty), FieldBlock::new(block))
    }

    #[test]
    fn decorating_actual_responses() {
        let list = Cors::new(credentialed()).unwrap();
        let any = Cors::new(public()).unwrap();
        let etag = ("etag", "\"v1\"");
        let ae = ("vary", "Accept-Encoding");
        let vary = ("vary", "Origin");
        let credentialed_fields = |origin: &'static str| {
            vec![
                etag,
                ae,
                vary,
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "x-request-id"),
            ]
        };
        // (policy, Origin, the reply's Vary, expected fields)
        type Case<'a> = (&'a Cors, Option<&'a str>, Option<&'a str>, Vec<Field>);
        let table: Vec<Case<'_>> = vec![
            (
                &list,
                Some(APP),
                Some("Accept-Encoding"),
                credentialed_fields(APP),
            ),
            (
                &list,
                Some("https://APP.example.com"),
                Some("Accept-Encoding"),
                credentialed_fields("https://APP.example.com"),
            ),
            // Not allowed, or no origin: nothing but the Vary.
            (
                &list,
                Some("https://app.example.com.evil.test"),
                Some("Accept-Encoding"),
                vec![etag, ae, vary],
            ),
            (
                &list,
                Some("null"),
                Some("Accept-Encoding"),
                vec![etag, ae, vary],
            ),
            (&list, None, Some("Accept-Encoding"), vec![etag, ae, vary]),
            (&list, None, None, vec![etag, vary]),
            // A Vary that already names Origin (any case) or is `*`: untouched.
            (
                &list,
                None,
                Some("accept-encoding, origin"),
                vec![etag, ("vary", "accept-encoding, origin")],
            ),
            (&list, None, Some("*"), vec![etag, ("vary", "*")]),
            (
                &list,
                Some(APP),
                Some("ORIGIN"),
                vec![
                    etag,
                    ("vary", "ORIGIN"),
                    ("access-control-allow-origin", APP),
                    ("access-control-allow-credentials", "true"),
                    ("access-control-expose-headers", "x-request-id"),
                ],
            ),
            // Any origin: `*`, never with credentials; still not for `null`.
            (
                &any,
                Some("https://anyone.test"),
                Some("Accept-Encoding"),
                vec![
                    etag,
                    ae,
                    vary,
                    ("access-control-allow-origin", "*"),
                    ("access-control-expose-headers", "*"),
                ],
            ),
            (&any, Some("null"), None, vec![etag, vary]),
            (&any, None, None, vec![etag, vary]),
        ];
        for (cors, origin, reply_vary, want) in table {
            let mut reply = file_reply(reply_vary);
            let origin = origin.map(|o| HeaderValue::from_str(o).unwrap());
            cors.decorate(origin.as_ref(), &mut reply);
            let response = reply.into_response();
            assert_eq!(
                listed(response.headers()),
                expect(&want),
                "{origin:?} vary {reply_vary:?}"
            );
        }
    }

    #[test]
    fn never_a_wildcard_with_credentials() {
        for options in [
            CorsOptions {
                credentials: true,
                ..public()
            },
            CorsOptions {
                origins: Origins::Any,
                ..credentialed()
            },
            CorsOptions {
                methods: strings(&["GET", "*"]),
                ..credentialed()
            },
            CorsOptions {
                headers: strings(&["*"]),
                ..credentialed()
            },
            CorsOptions {
                expose: strings(&["*"]),
                ..credentialed()
            },
        ] {
            let err = Cors::new(options.clone()).unwrap_err();
            assert!(
                err.contains("cannot be used with credentials"),
                "{options:?}: {err}"
            );
        }
        // And a credentialed policy never answers `*`, whoever asks.
        let cors = Cors::new(credentialed()).unwrap();
        for origin in [APP, "https://evil.test", "null", "*"] {
            let response = cors.preflight(&preflight_request(origin, "PUT", Some("x-token")));
            let mut reply = file_reply(None);
            cors.decorate(HeaderValue::from_str(origin).ok().as_ref(), &mut reply);
            for fields in [response.headers(), reply.into_response().headers()] {
                let allow = fields.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
                assert_ne!(allow.map(|v| v.as_bytes()), Some(&b"*"[..]), "{origin}");
            }
        }
    }

    #[test]
    fn origins_that_are_accepted() {
        // (configured, an Origin a browser sends that must match it)
        let table = [
            ("HTTPS://App.Example.COM", APP),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://[2001:DB8::1]", "http://[2001:db8::1]"),
            ("http://127.0.0.1", "http://127.0.0.1"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
            ("chrome-extension://abcdefgh", "chrome-extension://abcdefgh"),
            ("https://a_b.example:0", "https://a_b.example:0"),
            ("null", "null"),
        ];
        for (configured, sent) in table {
            let cors = Cors::new(CorsOptions {
                origins: Origins::List(strings(&[configured])),
                ..credentialed()
            })
            .unwrap_or_else(|e| panic!("{configured}: {e}"));
            let mut reply = file_reply(None);
            cors.decorate(Some(&HeaderValue::from_static(sent)), &mut reply);
            assert_eq!(
                reply.get(&header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
                sent,
                "{configured}"
            );
        }
    }

    #[test]
    fn bad_origins_are_refused_and_named() {
        // (configured origin, the start of the reason)
        let table = [
            ("https://app.example.com/", "an origin has no path"),
            ("https://app.example.com/x", "an origin has no path"),
            ("app.example.com", "not scheme://host"),
            ("https://", "no host"),
            ("://a.test", "not a URL scheme"),
            ("1http://a.test", "not a URL scheme"),
            (
                "https://app.example.com:443",
                "browsers leave out the default port: write https://app.example.com",
            ),
            ("http://a.test:80", "browsers leave out the default port"),
            (
                "wss://[::1]:443",
                "browsers leave out the default port: write wss://[::1]",
            ),
            ("https://a.test:65536", "the port"),
            ("https://a.test:", "the port"),
            ("https://a.test:08080", "the port"),
            ("https://a.test:+80", "the port"),
            ("https://a.test:80:1", "the port"),
            ("https://a..test", "not a host name"),
            ("https://a.test.", "not a host name"),
            ("https://a test", "not a host name"),
            (
                "https://exämple.test",
                "write an internationalised host name",
            ),
            (
                "https://user@a.test",
                "an origin has no query, fragment or user",
            ),
            ("https://a.test?x", "an origin has no query"),
            ("https://a.test#x", "an origin has no query"),
            ("https://[::0001]", "browsers write this address [::1]"),
            ("https://[::1", "an IPv6 address without its closing ]"),
            ("https://[::1]x", "only :port may follow the ]"),
            ("https://[1.2.3.4]", "not an IPv6 address"),
            ("https://1.2.3.999", "not an IPv4 address"),
            ("https://010.1.1.1", "not an IPv4 address"),
            ("https://a.0x7f", "not an IPv4 address"),
            ("*", "\"*\" is any origin"),
        ];
        for (entry, why) in table {
            let err = Cors::new(CorsOptions {
                origins: Origins::List(strings(&[APP, entry])),
                ..credentialed()
            })
            .unwrap_err();
            let want = format!("origin {entry:?}: {why}");
            assert!(err.starts_with(&want), "{err}\nwanted {want}");
        }
    }

    #[test]
    fn bad_options_are_refused_and_named() {
        let table = [
            (
                CorsOptions {
                    origins: Origins::List(Vec::new()),
                    ..credentialed()
                },
                "origins: the list is empty",
            ),
            (
                CorsOptions {
                    methods: strings(&["GET", "GE T"]),
                    ..credentialed()
                },
                "method \"GE T\": not a token",
            ),
            (
                CorsOptions {
                    methods: strings(&[""]),
                    ..credentialed()
                },
                "method \"\": not a token",
            ),
            (
                CorsOptions {
                    headers: strings(&["X-Token", "x token"]),
                    ..credentialed()
                },
                "header \"x token\": not a field name",
            ),
            (
                CorsOptions {
                    expose: strings(&["x-id\r\n"]),
                    ..credentialed()
                },
                "expose \"x-id\\r\\n\": not a field name",
            ),
            (
                CorsOptions {
                    credentials: true,
                    ..public()
                },
                "origins \"*\" (any origin) cannot be used with credentials",
            ),
        ];
        for (options, want) in table {
            let err = Cors::new(options).unwrap_err();
            assert!(err.starts_with(want), "{err}\nwanted {want}");
        }
    }

    #[test]
    fn methods_are_written_as_browsers_send_them() {
        let cors = Cors::new(CorsOptions {
            methods: strings(&["get", "Patch", "PUT", "put", "PROPFIND"]),
            ..credentialed()
        })
        .unwrap();
        let response = cors.preflight(&preflight_request(APP, "Patch", None));
        assert_eq!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_METHODS)
                .unwrap(),
            "GET, Patch, PUT, PROPFIND"
        );
        let response = cors.preflight(&preflight_request(APP, "PATCH", None));
        assert!(!response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    }
}
