//! Response fields a site or route configures: fields to remove, to set
//! (replacing what the response has) and to add (after what it has), checked
//! once when the configuration is read and applied to every response.
//!
//! Two groups of fields are off limits or held back:
//!
//! - the fields the protocol engines own (`ENGINE_OWNED`): framing,
//!   connection management and `Date`. A configured value could desynchronise
//!   a connection (a second `Content-Length`, a `Transfer-Encoding` the body
//!   does not follow) or break HTTP/2, which forbids connection-specific
//!   fields (RFC 9113 §8.2.2), so no rule may name them;
//! - on a 304 Not Modified, representation metadata
//!   (`REPRESENTATION_METADATA`): RFC 9110 §15.4.5 asks a 304 not to carry
//!   metadata of a representation it does not send, and a cache that
//!   freshens its stored response from the 304's fields (RFC 9111 §4.3.4)
//!   would otherwise relabel the body it holds.

use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;

use crate::response::Reply;

/// The fields no rule may set, add or remove, each with the reason given to
/// whoever configured it.
const ENGINE_OWNED: &[(&str, &str)] = &[
    ("content-length", "the engines frame every body themselves"),
    (
        "transfer-encoding",
        "the engines frame every body themselves",
    ),
    (
        "connection",
        "the engines manage connections, and HTTP/2 forbids it",
    ),
    (
        "keep-alive",
        "the engines manage connections, and HTTP/2 forbids it",
    ),
    (
        "proxy-connection",
        "the engines manage connections, and HTTP/2 forbids it",
    ),
    (
        "upgrade",
        "the engines manage connections, and HTTP/2 forbids it",
    ),
    (
        "te",
        "a request field of the connection, and HTTP/2 forbids it",
    ),
    ("date", "the engines stamp every response from their clock"),
];

/// The representation metadata a rule does not set or add on a 304 (RFC
/// 9110 §8; §15.4.5 lets a 304 carry `Content-Location`, `ETag` and the
/// validator `Last-Modified`, so those stay). `Content-Length` is engine-owned
/// anyway, and listed so that this list alone states the rule. `Content-Range`
/// describes content a 304 does not have.
const REPRESENTATION_METADATA: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-length",
    "content-range",
];

/// One year, in seconds: the HSTS lifetime of the security preset, long enough
/// that a returning visitor is never downgraded, and the minimum that the
/// browsers' preload lists accept. No `includeSubDomains`: other hosts of the
/// domain may not be served by us, let alone over TLS.
const HSTS_ONE_YEAR: &str = "max-age=31536000";

/// Configured response fields.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    /// Removed first.
    remove: Vec<HeaderName>,
    /// Then set: each name's values replace every value the response has.
    set: Vec<(HeaderName, Vec<HeaderValue>)>,
    /// Then added after whatever the response has.
    add: Vec<(HeaderName, HeaderValue)>,
}

impl HeaderRules {
    /// Checks and keeps the rules. Names must be field names (tokens) and not
    /// engine-owned (framing, connection management, `Date`); values must not
    /// hold CR, LF, NUL or other control characters but tab (whitespace at
    /// either end is dropped, as recipients do, RFC 9110 §5.5). Setting one
    /// name several times sets all those values. Errors name the field.
    pub fn new(
        set: &[(String, String)],
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<HeaderRules, String> {
        let mut rules = HeaderRules::default();
        for raw in remove {
            let name = field_name(raw, "removed")?;
            if !rules.remove.contains(&name) {
                rules.remove.push(name);
            }
        }
        for (raw, value) in set {
            let name = field_name(raw, "set")?;
            let value = field_value(raw, value)?;
            match rules.set.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => rules.set.push((name, vec![value])),
            }
        }
        for (raw, value) in add {
            let name = field_name(raw, "added")?;
            let value = field_value(raw, value)?;
            rules.add.push((name, value));
        }
        Ok(rules)
    }

    /// The `security_headers = true` preset (every field set, replacing any
    /// the response has).
    pub fn security(tls: bool) -> HeaderRules {
        let mut set = vec![
            // Browsers take the Content-Type as given instead of guessing: an
            // uploaded text or image file sniffed as HTML or script would run
            // as our origin's page.
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // Only our own pages may frame ours (clickjacking); the standard
            // successor of X-Frame-Options, and restricts nothing else.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'self'"),
            ),
            // Other sites get our origin, never the path and query of the
            // page that linked to them (which may hold tokens), and plain
            // http gets nothing. Browsers' default today, stated for older ones.
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            ),
        ];
        if tls {
            // Browsers then use https for this host for a year, so that a
            // typed or linked http:// URL is never a chance to downgrade.
            // Only on TLS: browsers ignore it over plain http (RFC 6797 §8.1).
            set.push((
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS_ONE_YEAR),
            ));
        }
        HeaderRules {
            remove: Vec::new(),
            set: set.into_iter().map(|(n, v)| (n, vec![v])).collect(),
            add: Vec::new(),
        }
    }

    /// These rules with `over`'s on top: a field that `over` names anywhere
    /// (set, add or remove) is `over`'s alone, and every rule of `self` for
    /// it is dropped. So a site that removes or changes a field of a preset
    /// gets exactly what it asked for.
    pub fn merged(&self, over: &HeaderRules) -> HeaderRules {
        let kept = |name: &HeaderName| !over.names(name);
        HeaderRules {
            remove: (self.remove.iter().filter(|n| kept(n)))
                .chain(&over.remove)
                .cloned()
                .collect(),
            set: (self.set.iter().filter(|(n, _)| kept(n)))
                .chain(&over.set)
                .cloned()
                .collect(),
            add: (self.add.iter().filter(|(n, _)| kept(n)))
                .chain(&over.add)
                .cloned()
                .collect(),
        }
    }

    /// Applies the rules to `reply`: removes, then sets, then adds. On a 304,
    /// sets and adds of representation metadata are skipped (see the module
    /// doc); removes always apply. Goes through [`Reply`]'s own methods, so
    /// a field of a shared block is replaced, never sent twice, and a block
    /// no rule touches stays shared.
    pub fn apply(&self, reply: &mut Reply) {
        for name in &self.remove {
            if name == http::header::SERVER {
                // The engines add their own when none is there.
                reply.omit_server();
            } else {
                reply.remove(name);
            }
        }
        let not_modified = reply.status() == StatusCode::NOT_MODIFIED;
        let held_back =
            |name: &HeaderName| not_modified && REPRESENTATION_METADATA.contains(&name.as_str());
        for (name, values) in &self.set {
            if held_back(name) {
                continue;
            }
            let mut values = values.iter();
            if let Some(first) = values.next() {
                reply.insert(name.clone(), first.clone());
            }
            for value in values {
                reply.append(name.clone(), value.clone());
            }
        }
        for (name, value) in &self.add {
            if !held_back(name) {
                reply.append(name.clone(), value.clone());
            }
        }
    }

    /// Whether there are no rules (the pipeline can skip them).
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    /// Whether any rule names `name`.
    pub fn names(&self, name: &HeaderName) -> bool {
        self.remove.contains(name)
            || self.set.iter().any(|(n, _)| n == name)
            || self.add.iter().any(|(n, _)| n == name)
    }
}

/// A configured field name, as a name no rule is refused for; `done` says
/// what the rule would do to it, for the message.
fn field_name(raw: &str, done: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(raw.as_bytes()).map_err(|_| {
        format!(
            "header {raw:?}: not a field name (a field name is letters, digits \
             and !#$%&'*+-.^_`|~, nothing else)"
        )
    })?;
    match ENGINE_OWNED
        .iter()
        .find(|(owned, _)| *owned == name.as_str())
    {
        Some((_, why)) => Err(format!(
            "header {raw:?}: cannot be {done} by configuration: {why}"
        )),
        None => Ok(name),
    }
}

/// A configured field value, without whitespace at either end.
fn field_value(name: &str, raw: &str) -> Result<HeaderValue, String> {
    let trimmed = raw.trim_matches([' ', '\t']);
    HeaderValue::from_str(trimmed).map_err(|_| {
        format!(
            "header {name:?}: the value {raw:?} holds a control character \
             (CR, LF and NUL could end the field or the header block early)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;
    use crate::response::FieldBlock;
    use http::{HeaderMap, Response};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    fn rules(set: &[(&str, &str)], add: &[(&str, &str)], remove: &[&str]) -> HeaderRules {
        HeaderRules::new(&pairs(set), &pairs(add), &names(remove)).unwrap()
    }

    fn map(fields: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in fields {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    /// A reply of `status` with `own` fields and, when `block` is not empty,
    /// those in a shared block.
    fn reply(status: StatusCode, own: &[(&str, &str)], block: &[(&str, &str)]) -> Reply {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = status;
        *response.headers_mut() = map(own);
        if block.is_empty() {
            Reply::new(response)
        } else {
            Reply::with_fields(response, FieldBlock::new(map(block)))
        }
    }

    /// Every field the reply sends, by name; a name's values in order.
    fn sent(reply: Reply) -> Vec<(String, String)> {
        let response = reply.into_response();
        let mut all: Vec<_> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The expected fields, ordered as [`sent`] orders them.
    fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = pairs(list);
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    #[test]
    fn bad_rules_are_refused_and_named() {
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
        );
        let table: &[(Case<'_>, &str)] = &[
            (
                (&[("X-A", "a\r\nSet-Cookie: x=1")], &[], &[]),
                "header \"X-A\": the value",
            ),
            ((&[], &[("X-A", "a\nb")], &[]), "header \"X-A\": the value"),
            ((&[("X-A", "a\rb")], &[], &[]), "header \"X-A\": the value"),
            ((&[("X-A", "a\0b")], &[], &[]), "header \"X-A\": the value"),
            (
                (&[("X A", "1")], &[], &[]),
                "header \"X A\": not a field name",
            ),
            ((&[("", "1")], &[], &[]), "header \"\": not a field name"),
            (
                (&[], &[("X-A:", "1")], &[]),
                "header \"X-A:\": not a field name",
            ),
            ((&[], &[], &["X\nA"]), "header \"X\\nA\": not a field name"),
            (
                (&[("Content-Length", "0")], &[], &[]),
                "header \"Content-Length\": cannot be set by configuration",
            ),
            (
                (&[], &[("transfer-encoding", "chunked")], &[]),
                "header \"transfer-encoding\": cannot be added",
            ),
            (
                (&[], &[], &["Connection"]),
                "header \"Connection\": cannot be removed",
            ),
            (
                (&[("Keep-Alive", "timeout=5")], &[], &[]),
                "header \"Keep-Alive\": cannot be set",
            ),
            ((&[], &[], &["Date"]), "header \"Date\": cannot be removed"),
            (
                (&[("Upgrade", "h2c")], &[], &[]),
                "header \"Upgrade\": cannot be set",
            ),
        ];
        for ((set, add, remove), want) in table {
            let err = HeaderRules::new(&pairs(set), &pairs(add), &names(remove)).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn remove_then_set_then_add() {
        let base: &[(&str, &str)] = &[
            ("server", "ferrox"),
            ("content-type", "text/html"),
            ("cache-control", "max-age=60"),
            ("link", "</a.css>; rel=preload"),
        ];
        // (set, add, remove, expected fields)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
        );
        let table: &[Case<'_>] = &[
            // Nothing to do.
            (&[], &[], &[], base),
            // Removing Server (the name is case-insensitive).
            (
                &[],
                &[],
                &["SERVER"],
                &[
                    ("cache-control", "max-age=60"),
                    ("content-type", "text/html"),
                    ("link", "</a.css>; rel=preload"),
                ],
            ),
            // Set replaces; add appends after what is there.
            (
                &[("Cache-Control", "no-store"), ("X-Frame-Options", "DENY")],
                &[("Link", "</b.js>; rel=preload")],
                &[],
                &[
                    ("cache-control", "no-store"),
                    ("content-type", "text/html"),
                    ("link", "</a.css>; rel=preload"),
                    ("link", "</b.js>; rel=preload"),
                    ("server", "ferrox"),
                    ("x-frame-options", "DENY"),
                ],
            ),
            // One name set twice: both values, and nothing of the old one.
            (
                &[("Link", "</x>"), ("Link", "</y>")],
                &[],
                &[],
                &[
                    ("cache-control", "max-age=60"),
                    ("content-type", "text/html"),
                    ("link", "</x>"),
                    ("link", "</y>"),
                    ("server", "ferrox"),
                ],
            ),
            // Removed, then set: the set value; values are trimmed.
            (
                &[("Server", "  edge \t")],
                &[],
                &["server"],
                &[
                    ("cache-control", "max-age=60"),
                    ("content-type", "text/html"),
                    ("link", "</a.css>; rel=preload"),
                    ("server", "edge"),
                ],
            ),
            // Removing a field the response does not have is no error.
            (&[], &[], &["x-powered-by"], base),
        ];
        for (set, add, remove, want) in table {
            let mut r = reply(StatusCode::OK, base, &[]);
            rules(set, add, remove).apply(&mut r);
            assert_eq!(
                sent(r),
                fields(want),
                "set {set:?} add {add:?} remove {remove:?}"
            );
        }
    }

    #[test]
    fn a_304_gets_no_representation_metadata() {
        let own: &[(&str, &str)] = &[("cache-control", "max-age=60")];
        let block: &[(&str, &str)] = &[("etag", "\"v1\""), ("vary", "Accept-Encoding")];
        let r = rules(
            &[
                ("Content-Type", "text/plain"),
                ("Cache-Control", "no-cache"),
                ("Content-Location", "/doc.en.html"),
                ("X-Content-Type-Options", "nosniff"),
                ("Content-Security-Policy", "default-src 'self'"),
            ],
            &[
                ("Content-Language", "en"),
                ("Content-Encoding", "gzip"),
                ("Content-Range", "bytes 0-1/2"),
                ("Vary", "Origin"),
            ],
            &["Content-Type"],
        );
        let mut not_modified = reply(StatusCode::NOT_MODIFIED, own, block);
        r.apply(&mut not_modified);
        assert_eq!(
            sent(not_modified),
            fields(&[
                ("cache-control", "no-cache"),
                ("content-location", "/doc.en.html"),
                ("content-security-policy", "default-src 'self'"),
                ("etag", "\"v1\""),
                ("vary", "Accept-Encoding"),
                ("vary", "Origin"),
                ("x-content-type-options", "nosniff"),
            ])
        );
        // The same rules on a 200 set everything.
        let mut ok = reply(StatusCode::OK, own, block);
        r.apply(&mut ok);
        assert_eq!(
            sent(ok),
            fields(&[
                ("cache-control", "no-cache"),
                ("content-encoding", "gzip"),
                ("content-language", "en"),
                ("content-location", "/doc.en.html"),
                ("content-range", "bytes 0-1/2"),
                ("content-security-policy", "default-src 'self'"),
                ("content-type", "text/plain"),
                ("etag", "\"v1\""),
                ("vary", "Accept-Encoding"),
                ("vary", "Origin"),
                ("x-content-type-options", "nosniff"),
            ])
        );
    }

    #[test]
    fn a_shared_block_is_never_sent_twice() {
        let own: &[(&str, &str)] = &[("content-type", "text/css")];
        let block: &[(&str, &str)] = &[
            ("etag", "\"v1\""),
            ("cache-control", "max-age=60"),
            ("vary", "Accept-Encoding"),
            ("last-modified", "Sat, 03 Feb 2001 04:05:06 GMT"),
        ];
        // (set, add, remove, expected)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
        );
        let table: &[Case<'_>] = &[
            (
                &[("Cache-Control", "no-store")],
                &[],
                &[],
                &[
                    ("cache-control", "no-store"),
                    ("content-type", "text/css"),
                    ("etag", "\"v1\""),
                    ("last-modified", "Sat, 03 Feb 2001 04:05:06 GMT"),
                    ("vary", "Accept-Encoding"),
                ],
            ),
            (
                &[],
                &[("Vary", "Origin")],
                &["ETag", "Last-Modified"],
                &[
                    ("cache-control", "max-age=60"),
                    ("content-type", "text/css"),
                    ("vary", "Accept-Encoding"),
                    ("vary", "Origin"),
                ],
            ),
            (
                &[("ETag", "\"v2\""), ("Vary", "Accept")],
                &[("Cache-Control", "immutable")],
                &[],
                &[
                    ("cache-control", "max-age=60"),
                    ("cache-control", "immutable"),
                    ("content-type", "text/css"),
                    ("etag", "\"v2\""),
                    ("last-modified", "Sat, 03 Feb 2001 04:05:06 GMT"),
                    ("vary", "Accept"),
                ],
            ),
        ];
        for (set, add, remove, want) in table {
            let mut r = reply(StatusCode::OK, own, block);
            rules(set, add, remove).apply(&mut r);
            assert_eq!(
                sent(r),
                fields(want),
                "set {set:?} add {add:?} remove {remove:?}"
            );
        }
        // Rules that touch no field of the block leave it shared.
        let mut r = reply(StatusCode::OK, own, block);
        rules(&[("X-Frame-Options", "DENY")], &[], &["Server"]).apply(&mut r);
        let (response, shared) = r.into_parts();
        assert!(shared.is_some());
        assert_eq!(response.headers().len(), 2);
    }

    #[test]
    fn the_security_preset() {
        let plain = [
            ("content-security-policy", "frame-ancestors 'self'"),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            ("x-content-type-options", "nosniff"),
        ];
        for (tls, hsts) in [(false, None), (true, Some("max-age=31536000"))] {
            let mut want = plain.to_vec();
            if let Some(hsts) = hsts {
                want.push(("strict-transport-security", hsts));
            }
            let want = fields(&want);
            // Replacing what a response had.
            let mut r = reply(StatusCode::OK, &[("x-content-type-options", "x")], &[]);
            HeaderRules::security(tls).apply(&mut r);
            assert_eq!(sent(r), want, "tls {tls}");
        }
    }

    #[test]
    fn merged_rules_let_the_site_win_per_field() {
        let site = rules(
            &[("Referrer-Policy", "no-referrer")],
            &[("Content-Security-Policy", "default-src 'self'")],
            &["X-Content-Type-Options"],
        );
        let both = HeaderRules::security(true).merged(&site);
        let mut r = reply(
            StatusCode::OK,
            &[("x-content-type-options", "nosniff")],
            &[],
        );
        both.apply(&mut r);
        assert_eq!(
            sent(r),
            fields(&[
                ("content-security-policy", "default-src 'self'"),
                ("referrer-policy", "no-referrer"),
                ("strict-transport-security", "max-age=31536000"),
            ])
        );
        // Merging nothing over a preset is the preset; and the other way.
        let preset = HeaderRules::security(false);
        for merged in [
            preset.merged(&HeaderRules::default()),
            HeaderRules::default().merged(&preset),
        ] {
            let (mut a, mut b) = (
                reply(StatusCode::OK, &[], &[]),
                reply(StatusCode::OK, &[], &[]),
            );
            merged.apply(&mut a);
            preset.apply(&mut b);
            assert_eq!(sent(a), sent(b));
        }
    }

    #[test]
    fn emptiness() {
        assert!(HeaderRules::default().is_empty());
        assert!(rules(&[], &[], &[]).is_empty());
        assert!(!rules(&[], &[], &["Server"]).is_empty());
        assert!(!rules(&[("A", "1")], &[], &[]).is_empty());
        assert!(!rules(&[], &[("A", "1")], &[]).is_empty());
        assert!(!HeaderRules::security(false).is_empty());
    }
}
