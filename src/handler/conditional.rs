//! Conditional requests (RFC 9110 §13): If-Match, If-Unmodified-Since,
//! If-None-Match, If-Modified-Since, evaluated in the order of §13.2.2, and the
//! If-Range check of §13.1.5. Pure functions over header values.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, HeaderMap, Method};

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the representation (ranges may still apply).
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: a precondition failed.
    Failed,
}

/// The current representation's validators.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The entity tag, quotes included: strong (`"abc"`), or weak (`W/"abc"`,
    /// development mode's injected pages), which only a weak comparison
    /// matches.
    pub etag: &'a str,
    /// The modification time stated in `Last-Modified`; `None` when there is
    /// none, and then date preconditions are ignored (RFC 9110 §13.1.3, §13.1.4)
    /// and a date in `If-Range` never matches.
    pub modified: Option<SystemTime>,
}

/// Evaluates the preconditions of a GET or HEAD request in RFC 9110 §13.2.2's order.
pub fn evaluate(headers: &HeaderMap, method: &Method, current: Validators<'_>) -> Precondition {
    if !any_precondition(headers) {
        return Precondition::Proceed;
    }
    // 1. If-Match, else 2. If-Unmodified-Since.
    if let Some(matched) = list_matches(headers, header::IF_MATCH, current.etag, Comparison::Strong)
    {
        if !matched {
            return Precondition::Failed;
        }
    } else if let (Some(date), Some(modified)) = (
        single_date(headers, header::IF_UNMODIFIED_SINCE),
        current.modified,
    ) {
        if seconds_of(modified) > date {
            return Precondition::Failed;
        }
    }
    let safe = *method == Method::GET || *method == Method::HEAD;
    // 3. If-None-Match, else 4. If-Modified-Since (GET and HEAD only).
    if let Some(matched) = list_matches(
        headers,
        header::IF_NONE_MATCH,
        current.etag,
        Comparison::Weak,
    ) {
        if matched {
            return if safe {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if safe {
        if let (Some(date), Some(modified)) = (
            single_date(headers, header::IF_MODIFIED_SINCE),
            current.modified,
        ) {
            if seconds_of(modified) <= date {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

/// Whether any precondition field is present. Most requests carry none, and one
/// pass over a request's few fields is cheaper than four lookups by name.
fn any_precondition(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| {
        name == header::IF_MATCH
            || name == header::IF_NONE_MATCH
            || name == header::IF_MODIFIED_SINCE
            || name == header::IF_UNMODIFIED_SINCE
    })
}

/// Whether a Range may be honoured under `If-Range` (RFC 9110 §13.1.5): absent,
/// or a strong tag equal to the current one, or exactly the Last-Modified date.
/// Anything else, several values included, means the whole representation.
pub fn if_range_allows(headers: &HeaderMap, current: Validators<'_>) -> bool {
    let mut lines = headers.get_all(header::IF_RANGE).iter();
    let Some(line) = lines.next() else {
        return true;
    };
    if lines.next().is_some() {
        return false;
    }
    let value = String::from_utf8_lossy(line.as_bytes());
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        // A weak tag never matches here: If-Range needs strong comparison.
        let mut all = tags(value);
        let current = Tag::current(current.etag);
        return !current.weak && all.next() == Some(current) && all.next().is_none();
    }
    match (httpdate::parse_http_date(value), current.modified) {
        (Ok(date), Some(modified)) => seconds_of(date) == seconds_of(modified),
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// One entity tag of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    opaque: &'a str,
}

impl<'a> Tag<'a> {
    /// The current representation's tag: `"abc"` or `W/"abc"`.
    fn current(tag: &'a str) -> Tag<'a> {
        match tag.strip_prefix("W/") {
            Some(opaque) => Tag { weak: true, opaque },
            None => Tag {
                weak: false,
                opaque: tag,
            },
        }
    }
}

/// `*` matches any current representation; otherwise any tag of the list that
/// compares equal.
fn matches_any(list: &str, current: &str, how: Comparison) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let current = Tag::current(current);
    tags(list).any(|t| match how {
        Comparison::Strong => !t.weak && !current.weak && t.opaque == current.opaque,
        Comparison::Weak => t.opaque == current.opaque,
    })
}

/// The entity tags of a comma-separated list; malformed members are skipped.
fn tags(list: &str) -> impl Iterator<Item = Tag<'_>> {
    let mut rest = list;
    std::iter::from_fn(move || loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return None;
        }
        let (weak, body) = match rest.strip_prefix("W/") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        // An opaque tag is quoted and contains no quote, so the next quote ends it.
        let Some(after_open) = body.strip_prefix('"') else {
            // Skip a malformed member up to the next comma.
            rest = rest.find(',').map_or("", |i| &rest[i + 1..]);
            continue;
        };
        let Some(close) = after_open.find('"') else {
            rest = "";
            return None;
        };
        let opaque = &body[..close + 2];
        rest = &after_open[close + 1..];
        return Some(Tag { weak, opaque });
    })
}

/// Whether a member of a list field matches, over all of its lines (RFC 9110
/// §5.3); `None` when the field is absent. Bytes past ASCII (obs-text, allowed
/// in tags) are read as U+FFFD: such a tag is there, and matches none of ours.
fn list_matches(
    headers: &HeaderMap,
    name: header::HeaderName,
    current: &str,
    how: Comparison,
) -> Option<bool> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    Some(lines.any(|line| matches_any(&String::from_utf8_lossy(line.as_bytes()), current, how)))
}

/// A date header with exactly one valid member; anything else is ignored (RFC
/// 9110 §13.1.3, §13.1.4).
fn single_date(headers: &HeaderMap, name: header::HeaderName) -> Option<u64> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let date = httpdate::parse_http_date(value.to_str().ok()?).ok()?;
    Some(seconds_of(date))
}

/// Whole seconds: Last-Modified has one-second precision, so every comparison
/// is made at that precision.
fn seconds_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::Duration;

    const ETAG: &str = "\"abc\"";
    const LM: u64 = 1_700_000_000;

    fn date(secs: u64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn eval(pairs: &[(&str, &str)], method: Method) -> Precondition {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let current = Validators {
            etag: ETAG,
            modified: Some(UNIX_EPOCH + Duration::new(LM, 500_000_000)),
        };
        evaluate(&headers, &method, current)
    }

    #[test]
    fn order_and_comparisons() {
        use Precondition::*;
        let get = Method::GET;
        let cases: Vec<(Vec<(&str, String)>, Precondition)> = vec![
            (vec![], Proceed),
            (vec![("if-match", ETAG.into())], Proceed),
            (vec![("if-match", "*".into())], Proceed),
            (vec![("if-match", "\"x\", \"abc\"".into())], Proceed),
            (vec![("if-match", "W/\"abc\"".into())], Failed),
            (vec![("if-match", "\"x\"".into())], Failed),
            (vec![("if-unmodified-since", date(LM))], Proceed),
            (vec![("if-unmodified-since", date(LM - 1))], Failed),
            (vec![("if-unmodified-since", "yesterday".into())], Proceed),
            // If-Match wins over If-Unmodified-Since.
            (
                vec![
                    ("if-match", ETAG.into()),
                    ("if-unmodified-since", date(LM - 1)),
                ],
                Proceed,
            ),
            (vec![("if-none-match", ETAG.into())], NotModified),
            (vec![("if-none-match", "W/\"abc\"".into())], NotModified),
            (vec![("if-none-match", "*".into())], NotModified),
            (
                vec![("if-none-match", "\"x\", W/\"abc\"".into())],
                NotModified,
            ),
            (vec![("if-none-match", "\"x\"".into())], Proceed),
            (vec![("if-modified-since", date(LM))], NotModified),
            (vec![("if-modified-since", date(LM + 10))], NotModified),
            (vec![("if-modified-since", date(LM - 1))], Proceed),
            (vec![("if-modified-since", "not a date".into())], Proceed),
            // If-None-Match wins over If-Modified-Since.
            (
                vec![
                    ("if-none-match", "\"x\"".into()),
                    ("if-modified-since", date(LM)),
                ],
                Proceed,
            ),
            // A failed If-Match beats a matching If-None-Match.
            (
                vec![("if-match", "\"x\"".into()), ("if-none-match", ETAG.into())],
                Failed,
            ),
        ];
        for (pairs, want) in cases {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(eval(&refs, get.clone()), want, "{pairs:?}");
        }
    }

    #[test]
    fn a_weak_current_tag_matches_only_weakly() {
        let current = Validators {
            etag: "W/\"abc\"",
            modified: None,
        };
        let with = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, http::HeaderValue::from_static(value));
            headers
        };
        for value in ["W/\"abc\"", "\"abc\"", "\"x\", W/\"abc\""] {
            let headers = with("if-none-match", value);
            assert_eq!(
                evaluate(&headers, &Method::GET, current),
                Precondition::NotModified,
                "{value}"
            );
        }
        for value in ["W/\"abc\"", "\"abc\""] {
            let headers = with("if-match", value);
            assert_eq!(
                evaluate(&headers, &Method::GET, current),
                Precondition::Failed,
                "{value}"
            );
            assert!(
                !if_range_allows(&with("if-range", value), current),
                "{value}"
            );
        }
    }

    #[test]
    fn list_fields_span_lines_and_tolerate_obs_text() {
        use Precondition::*;
        let lines = |name: &str, values: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(
                    header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(v).unwrap(),
                );
            }
            let current = Validators {
                etag: ETAG,
                modified: None,
            };
            evaluate(&headers, &Method::GET, current)
        };
        assert_eq!(lines("if-match", &[b"\"x\"", b"\"abc\""]), Proceed);
        assert_eq!(lines("if-match", &[b"\"x\"", b"\"y\""]), Failed);
        assert_eq!(lines("if-match", &[b"\"\xe9\""]), Failed);
        assert_eq!(lines("if-none-match", &[b"\"x\"", b"\"abc\""]), NotModified);
        assert_eq!(lines("if-none-match", &[b"\"\xe9\", \"abc\""]), NotModified);
        assert_eq!(lines("if-none-match", &[b"\"\xe9\""]), Proceed);
    }

    #[test]
    fn two_if_modified_since_values_are_ignored() {
        let d = date(LM);
        assert_eq!(
            eval(
                &[("if-modified-since", &d), ("if-modified-since", &d)],
                Method::GET
            ),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_range() {
        let current = Validators {
            etag: ETAG,
            modified: Some(UNIX_EPOCH + Duration::from_secs(LM)),
        };
        let check = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_RANGE, HeaderValue::from_str(v).unwrap());
            if_range_allows(&h, current)
        };
        assert!(if_range_allows(&HeaderMap::new(), current));
        assert!(check(ETAG));
        assert!(!check("W/\"abc\""));
        assert!(!check("\"other\""));
        assert!(check(&date(LM)));
        assert!(!check(&date(LM + 1)));
        assert!(!check("garbage"));
        assert!(!check("\"other\", \"abc\""));
        let mut two = HeaderMap::new();
        two.append(header::IF_RANGE, HeaderValue::from_static("\"abc\""));
        two.append(header::IF_RANGE, HeaderValue::from_static("\"abc\""));
        assert!(!if_range_allows(&two, current), "two If-Range values");
        let mut opaque = HeaderMap::new();
        opaque.insert(
            header::IF_RANGE,
            HeaderValue::from_bytes(b"\"\xe9\"").unwrap(),
        );
        assert!(!if_range_allows(&opaque, current));
    }

    #[test]
    fn without_a_modification_date_dates_are_ignored() {
        let current = Validators {
            etag: ETAG,
            modified: None,
        };
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&date(0)).unwrap(),
        );
        h.insert(
            header::IF_UNMODIFIED_SINCE,
            HeaderValue::from_str(&date(0)).unwrap(),
        );
        assert_eq!(evaluate(&h, &Method::GET, current), Precondition::Proceed);
        let mut h = HeaderMap::new();
        h.insert(header::IF_RANGE, HeaderValue::from_str(&date(0)).unwrap());
        assert!(!if_range_allows(&h, current));
    }

    #[test]
    fn tag_lists_tolerate_junk() {
        let all: Vec<_> = tags("junk, \"a\" ,W/\"b\",,\"c")
            .map(|t| (t.weak, t.opaque))
            .collect();
        assert_eq!(all, [(false, "\"a\""), (true, "\"b\"")]);
    }
}
