//! Routes: what a site does with a request besides serving its files.
//!
//! A route is a path glob (optionally with methods) and one action. Routes
//! are tried in file order and the first that matches decides (one route per
//! request, like a `location` in nginx). Matching runs on the normalised path
//! ([`RoutePath`]: decoded once, dot-segments resolved, empty segments
//! dropped; a trailing slash is ignored), never on the raw target.
//!
//! Globs: `*` within a segment, `**` across segments (`/admin/**` also
//! matches `/admin` itself), `?` one character, `[abc]` and `[!abc]` classes
//! (ASCII), `{a,b}` alternatives. Each glob becomes a regular expression with
//! a capture for every `*` and `**`.
//!
//! Most requests match no route, so a path is first held against each
//! glob's literal ends (`admin` of `/admin/**`, `.php` of `**/*.php`): two
//! byte comparisons rule a route out without running its regex. The few
//! routes left are tried in order; when many are left (globs with no
//! literal ends), a site's globs as one [`RegexSet`] find the matches in a
//! single linear-time pass, however many routes there are.

use std::fmt;

use http::{Method, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::handler::RoutePath;

/// Most routes a site may have: each is a state set in one automaton.
pub const MAX_ROUTES: usize = 1000;

/// Compiled size a site's routes may take (the regex crate's own bound),
/// 16 MiB: far beyond what a thousand ordinary globs need.
const REGEX_SIZE_LIMIT: usize = 16 << 20;

/// A glob that cannot be compiled, or an action that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError(pub String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteError {}

/// What a matched route does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Serve the files (the route only sets modifiers).
    Files,
    /// Redirect: `Location` from the template, with this status.
    Redirect {
        /// The target, with placeholders.
        to: Template,
        /// 301, 302, 303, 307 or 308.
        status: StatusCode,
    },
    /// Serve another path of the same root, internally.
    Rewrite(Template),
    /// Try each entry in turn: a file, or a folder through its index file;
    /// `=CODE` answers with that status.
    TryFiles(Vec<TryEntry>),
    /// A single-page application: a path with no file gets `/index.html`,
    /// unless its last segment has an extension (a missing asset stays 404).
    Spa,
    /// A fixed answer.
    Respond {
        /// The status.
        status: StatusCode,
        /// The body, sent as `text/plain; charset=utf-8`.
        body: String,
    },
}

/// One `try_files` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryEntry {
    /// A path to try.
    Path(Template),
    /// `=404` and the like: the answer when nothing before matched.
    Status(StatusCode),
}

impl TryEntry {
    /// `{path}.html`, `/index.html`, or `=404`.
    pub fn parse(text: &str) -> Result<TryEntry, RouteError> {
        if let Some(code) = text.strip_prefix('=') {
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(|s| s.is_client_error() || s.is_server_error() || s.is_success())
                .ok_or_else(|| RouteError(format!("'{text}': expected =CODE such as =404")))?;
            return Ok(TryEntry::Status(status));
        }
        Template::parse(text, 0).map(TryEntry::Path)
    }
}

/// One route of a site.
#[derive(Debug, Clone)]
pub struct Route<M> {
    glob: String,
    regex: Regex,
    /// What every path the glob matches starts and ends with.
    ends: Ends,
    /// How it is matched without its regex, when it can be.
    shape: Shape,
    methods: Vec<Method>,
    /// What it does.
    pub action: Action,
    /// Its modifiers (headers, CORS, auth, access rules), as the site defines them.
    pub modifiers: M,
}

impl<M> Route<M> {
    /// A route for `glob` and `methods` (empty: every method).
    pub fn new(
        glob: &str,
        methods: Vec<Method>,
        action: Action,
        modifiers: M,
    ) -> Result<Route<M>, RouteError> {
        let (pattern, captures) = glob_regex(glob)?;
        let templates: Vec<&Template> = match &action {
            Action::Redirect { to, .. } | Action::Rewrite(to) => vec![to],
            Action::TryFiles(entries) => entries
                .iter()
                .filter_map(|entry| match entry {
                    TryEntry::Path(template) => Some(template),
                    TryEntry::Status(_) => None,
                })
                .collect(),
            Action::Files | Action::Spa | Action::Respond { .. } => Vec::new(),
        };
        for to in templates {
            if let Some(n) = to.max_capture().filter(|&n| n > captures) {
                return Err(RouteError(format!(
                    "{{{n}}}: the glob '{glob}' has {captures} capture(s) (one per * and **)"
                )));
            }
        }
        let regex = RegexBuilder::new(&pattern)
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| RouteError(format!("'{glob}': {e}")))?;
        Ok(Route {
            glob: glob.to_string(),
            regex,
            ends: Ends::of(glob),
            shape: Shape::of(glob),
            methods,
            action,
            modifiers,
        })
    }

    /// The glob, as configured.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// The methods it answers (empty: every method).
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The same route with `f` of its modifiers: how a configuration turns
    /// the modifiers it read into those a site serves with.
    pub fn map_modifiers<N>(self, f: impl FnOnce(M) -> N) -> Route<N> {
        Route {
            glob: self.glob,
            regex: self.regex,
            ends: self.ends,
            shape: self.shape,
            methods: self.methods,
            action: self.action,
            modifiers: f(self.modifiers),
        }
    }

    /// Whether the route takes `path` with `method`: the cheap tests first.
    fn takes(&self, path: &[u8], method: &Method) -> bool {
        self.ends.admit(path)
            && (self.methods.is_empty() || self.methods.contains(method))
            && match &self.shape {
                Shape::Regex => self.regex.is_match(path),
                simple => simple.matches(path),
            }
    }

    /// What each `*` and `**` matched in `path` (decoded), in order.
    pub fn captures<'p>(&self, path: &'p [u8]) -> Vec<&'p [u8]> {
        match self.regex.captures(path) {
            Some(caps) => caps
                .iter()
                .skip(1)
                .map(|m| m.map_or(&b""[..], |m| m.as_bytes()))
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Routes are equal when configured alike: the regex is a function of the glob.
impl<M: PartialEq> PartialEq for Route<M> {
    fn eq(&self, other: &Self) -> bool {
        self.glob == other.glob
            && self.methods == other.methods
            && self.action == other.action
            && self.modifiers == other.modifiers
    }
}

impl<M: Eq> Eq for Route<M> {}

/// A site's routes, matched in one pass.
#[derive(Debug)]
pub struct Routes<M> {
    set: RegexSet,
    routes: Vec<Route<M>>,
}

impl<M> Routes<M> {
    /// The routes, in the order they are tried.
    pub fn new(routes: Vec<Route<M>>) -> Result<Routes<M>, RouteError> {
        if routes.len() > MAX_ROUTES {
            return Err(RouteError(format!(
                "{} routes: at most {MAX_ROUTES}",
                routes.len()
            )));
        }
        let set = RegexSetBuilder::new(routes.iter().map(|r| r.regex.as_str()))
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| RouteError(e.to_string()))?;
        Ok(Routes { set, routes })
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Where `route` (one of these) stands in the order.
    pub fn position(&self, route: &Route<M>) -> Option<usize> {
        self.routes.iter().position(|r| std::ptr::eq(r, route))
    }

    /// The first route whose glob matches `path` and whose methods include
    /// `method`.
    pub fn pick(&self, path: &RoutePath<'_>, method: &Method) -> Option<&Route<M>> {
        let bytes = path.bytes();
        // Usually no route's literal ends admit the path: no regex runs and
        // nothing is allocated.
        let mut admitted = self.routes.iter().filter(|r| r.ends.admit(bytes));
        let first = admitted.next()?;
        if admitted.clone().nth(SET_AFTER - 1).is_none() {
            return std::iter::once(first)
                .chain(admitted)
                .find(|r| r.takes(bytes, method));
        }
        // Many globs without literal ends: one pass over the path for all.
        self.set
            .matches(bytes)
            .into_iter()
            .filter_map(|i| self.routes.get(i))
            .find(|r| r.methods.is_empty() || r.methods.contains(method))
    }
}

/// Routes left after the literal test above which one [`RegexSet`] pass is
/// cheaper than a regex each.
const SET_AFTER: usize = 8;

/// What every path a glob matches starts and ends with: the bytes it may
/// start with, and its literal prefix and suffix (each possibly empty). A
/// necessary condition only; the regex decides.
#[derive(Debug, Clone)]
struct Ends {
    first: ByteSet,
    prefix: Box<[u8]>,
    suffix: Box<[u8]>,
}

impl Ends {
    fn of(glob: &str) -> Ends {
        let trimmed = glob.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let meta = |c: char| matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',');
        let first = ByteSet::first_of(trimmed);
        let Some(at) = trimmed.find(meta) else {
            // No wildcard: the path is the glob itself.
            return Ends {
                first,
                prefix: trimmed.as_bytes().into(),
                suffix: Box::default(),
            };
        };
        let last = trimmed.rfind(meta).unwrap_or(at);
        // `a/**` matches `a` itself and `**/b` matches `b`: the slash next to
        // a wildcard is not part of every match.
        let prefix = trimmed.get(..at).unwrap_or_default();
        let suffix = trimmed.get(last + 1..).unwrap_or_default();
        Ends {
            first,
            prefix: prefix.strip_suffix('/').unwrap_or(prefix).as_bytes().into(),
            suffix: suffix.strip_prefix('/').unwrap_or(suffix).as_bytes().into(),
        }
    }

    /// Whether a path with these bytes may match. The first and last bytes
    /// are compared inline: most routes are ruled out there, without a call.
    fn admit(&self, path: &[u8]) -> bool {
        if let Some(&byte) = path.first() {
            if !self.first.has(byte) {
                return false;
            }
        }
        if let (Some(want), Some(got)) = (self.suffix.last(), path.last()) {
            if want != got {
                return false;
            }
        }
        path.starts_with(&self.prefix) && path.ends_with(&self.suffix)
    }
}

/// The common globs, matched by comparing bytes rather than by running a
/// regex (equivalent to the regex: the tests hold each against it).
#[derive(Debug, Clone)]
enum Shape {
    /// No wildcard: the path is the glob.
    Exact(Box<[u8]>),
    /// `**`: every path.
    All,
    /// `a/**`: `a` and everything below it.
    Below(Box<[u8]>),
    /// `**/b`: `b` at any depth.
    Anywhere(Box<[u8]>),
    /// `a*b`, one `*`: `a`, then anything but `/`, then `b`.
    Star(Box<[u8]>, Box<[u8]>),
    /// `**/a*b`, `a` and `b` without `/`: the last segment is `a*b`.
    LastSegment(Box<[u8]>, Box<[u8]>),
    /// Anything else.
    Regex,
}

impl Shape {
    fn of(glob: &str) -> Shape {
        let trimmed = glob.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let literal = |text: &str| !text.contains(['*', '?', '[', ']', '{', '}', ',']);
        let bytes = |text: &str| Box::<[u8]>::from(text.as_bytes());
        if literal(trimmed) {
            return Shape::Exact(bytes(trimmed));
        }
        if trimmed == "**" {
            return Shape::All;
        }
        if let Some(head) = trimmed.strip_suffix("/**").filter(|h| literal(h)) {
            return Shape::Below(bytes(head));
        }
        if let Some(tail) = trimmed.strip_prefix("**/") {
            if literal(tail) {
                return Shape::Anywhere(bytes(tail));
            }
            return match tail.split_once('*') {
                Some((a, b)) if literal(a) && literal(b) && !tail.contains('/') => {
                    Shape::LastSegment(bytes(a), bytes(b))
                }
                _ => Shape::Regex,
            };
        }
        match trimmed.split_once('*') {
            Some((head, tail)) if literal(head) && literal(tail) => {
                Shape::Star(bytes(head), bytes(tail))
            }
            _ => Shape::Regex,
        }
    }

    /// Whether `path` matches; never asked of [`Shape::Regex`].
    fn matches(&self, path: &[u8]) -> bool {
        match self {
            Shape::Exact(whole) => path == &whole[..],
            Shape::All => true,
            Shape::Below(head) => path
                .strip_prefix(&head[..])
                .is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/')),
            Shape::Anywhere(tail) => path
                .strip_suffix(&tail[..])
                .is_some_and(|rest| rest.is_empty() || rest.last() == Some(&b'/')),
            Shape::Star(head, tail) => star(head, tail, path),
            Shape::LastSegment(head, tail) => star(
                head,
                tail,
                path.rsplit(|&b| b == b'/').next().unwrap_or_default(),
            ),
            Shape::Regex => false,
        }
    }
}

/// Whether `path` is `head`, then anything but `/`, then `tail`.
fn star(head: &[u8], tail: &[u8], path: &[u8]) -> bool {
    path.strip_prefix(head)
        .and_then(|rest| rest.strip_suffix(tail))
        .is_some_and(|middle| !middle.contains(&b'/'))
}

/// A set of bytes, one bit each.
#[derive(Debug, Clone, Copy)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const ALL: ByteSet = ByteSet([u64::MAX; 4]);

    /// The bytes a path that `glob` (trimmed of its slashes) matches may
    /// start with: a literal's first byte, each alternative's of `{a,b}`;
    /// anything where a wildcard or class comes first.
    fn first_of(glob: &str) -> ByteSet {
        let literal_start = |text: &str| match text.chars().next() {
            Some(c) if !matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',' | '/') => {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf).as_bytes().first().copied()
            }
            _ => None,
        };
        if let Some(byte) = literal_start(glob) {
            return ByteSet::of(&[byte]);
        }
        let Some(alternatives) = glob
            .strip_prefix('{')
            .and_then(|rest| rest.split('}').next())
        else {
            return ByteSet::ALL;
        };
        let mut starts = Vec::new();
        for alternative in alternatives.split(',') {
            match literal_start(alternative) {
                Some(byte) => starts.push(byte),
                None => return ByteSet::ALL,
            }
        }
        ByteSet::of(&starts)
    }

    fn of(bytes: &[u8]) -> ByteSet {
        let mut set = ByteSet([0; 4]);
        for &b in bytes {
            if let Some(word) = set.0.get_mut(usize::from(b >> 6)) {
                *word |= 1 << (b & 63);
            }
        }
        set
    }

    fn has(&self, b: u8) -> bool {
        self.0
            .get(usize::from(b >> 6))
            .is_some_and(|word| word & (1 << (b & 63)) != 0)
    }
}

/// The regular expression of a glob, and how many captures it has. The path
/// it matches has no leading or trailing `/`.
fn glob_regex(glob: &str) -> Result<(String, usize), RouteError> {
    let bad = |why: &str| RouteError(format!("'{glob}': {why}"));
    let trimmed = glob.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let chars: Vec<char> = trimmed.chars().collect();
    let mut out = String::from("^");
    let mut captures = 0;
    let mut i = 0;
    let mut in_alternation = false;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                let starts_segment = i == 0 || chars.get(i - 1) == Some(&'/');
                let after = chars.get(i + 2);
                if !starts_segment || !(after.is_none() || after == Some(&'/')) {
                    return Err(bad("** must be a whole segment"));
                }
                captures += 1;
                match (i == 0, after.is_none()) {
                    // `**` alone: everything, the root included.
                    (true, true) => out.push_str("(.*)"),
                    // `**/x`: x at any depth.
                    (true, false) => {
                        out.push_str("(?:(.*)/)?");
                        i += 1;
                    }
                    // `a/**`: a itself, and everything below it.
                    (false, true) => {
                        out.pop();
                        out.push_str("(?:/(.*))?");
                    }
                    // `a/**/b`: b directly in a, or deeper.
                    (false, false) => {
                        out.push_str("(?:(.*)/)?");
                        i += 1;
                    }
                }
                i += 2;
                continue;
            }
            '*' => {
                captures += 1;
                out.push_str("([^/]*)");
            }
            '?' => out.push_str("[^/]"),
            '[' => {
                let close = chars
                    .iter()
                    .skip(i + 1)
                    .position(|&c| c == ']')
                    .ok_or_else(|| bad("[ without ]"))?;
                let class: String = chars.iter().skip(i + 1).take(close).collect();
                let (negated, body) = match class.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, class.as_str()),
                };
                if body.is_empty() || !body.is_ascii() || body.contains('/') {
                    return Err(bad("a [class] must hold ASCII characters other than /"));
                }
                out.push('[');
                if negated {
                    out.push('^');
                    out.push('/');
                }
                for ch in body.chars() {
                    if matches!(ch, '\\' | '[' | ']' | '^' | '&' | '~') {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push(']');
                i += close + 2;
                continue;
            }
            '{' if !in_alternation => {
                in_alternation = true;
                out.push_str("(?:");
            }
            ',' if in_alternation => out.push('|'),
            '}' if in_alternation => {
                in_alternation = false;
                out.push(')');
            }
            '{' | '}' => return Err(bad("nested or unbalanced { }")),
            other => {
                let mut buf = [0u8; 4];
                out.push_str(&regex::escape(other.encode_utf8(&mut buf)));
            }
        }
        i += 1;
    }
    if in_alternation {
        return Err(bad("{ without }"));
    }
    out.push('$');
    Ok((out, captures))
}

/// What a template's placeholders are replaced with, for one request.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// The normalised path.
    pub path: &'a RoutePath<'a>,
    /// The query as received (already encoded), without `?`.
    pub query: Option<&'a str>,
    /// The request's host, without its port.
    pub host: Option<&'a str>,
    /// What each `*` and `**` of the route's glob matched, decoded.
    pub captures: &'a [&'a [u8]],
}

/// A redirect target or rewritten path, with placeholders: `{path}`,
/// `{query}`, `{uri}`, `{host}`, and `{1}`, `{2}`… for the glob's captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Path,
    Query,
    Uri,
    Host,
    Capture(usize),
}

/// What a capture's bytes are escaped with: everything but unreserved
/// characters and `/` (a `**` capture spans segments).
const CAPTURE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'&')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b':')
    .add(b'@')
    .add(b'$')
    .add(b',')
    .add(b'\'')
    .add(b'!')
    .add(b'(')
    .add(b')')
    .add(b'*');

impl Template {
    /// Parses `text`; `max_capture` of 0 allows any `{N}` (checked later
    /// against the glob).
    pub fn parse(text: &str, max_capture: usize) -> Result<Template, RouteError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| RouteError(format!("'{text}': {{ without }}")))?;
            let name = &after[..close];
            parts.push(match name {
                "path" => Part::Path,
                "query" => Part::Query,
                "uri" => Part::Uri,
                "host" => Part::Host,
                n => match n.parse::<usize>() {
                    Ok(k) if k >= 1 && (max_capture == 0 || k <= max_capture) => Part::Capture(k),
                    _ => {
                        return Err(RouteError(format!(
                            "'{text}': unknown placeholder {{{name}}} (use {{path}}, {{query}}, {{uri}}, {{host}}, {{1}}, {{2}}…)"
                        )))
                    }
                },
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    fn max_capture(&self) -> Option<usize> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Capture(k) => Some(*k),
                _ => None,
            })
            .max()
    }

    /// The template with `values` put in. Path values and captures are
    /// percent-encoded as they go in; `{query}` is the query as received.
    pub fn expand(&self, values: &Values<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Path => out.push_str(&values.path.to_url()),
                Part::Query => out.push_str(values.query.unwrap_or("")),
                Part::Uri => {
                    out.push_str(&values.path.to_url());
                    if let Some(q) = values.query {
                        out.push('?');
                        out.push_str(q);
                    }
                }
                Part::Host => out.push_str(values.host.unwrap_or("")),
                Part::Capture(k) => {
                    let bytes = values.captures.get(k - 1).copied().unwrap_or_default();
                    let text = String::from_utf8_lossy(bytes);
                    out.push_str(&utf8_percent_encode(&text, CAPTURE).to_string());
                }
            }
        }
        out
    }
}

/// A redirect location made safe: a relative target that starts with `//` or
/// `/\` (which a browser takes for another host, the open-redirect class) has
/// its leading slashes and backslashes collapsed to one `/`.
pub fn safe_location(target: String) -> String {
    if !target.starts_with('/') {
        return target;
    }
    let rest = target.trim_start_matches(['/', '\\']);
    format!("/{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(glob: &str) -> Route<()> {
        Route::new(glob, Vec::new(), Action::Files, ()).unwrap()
    }

    /// Whether `glob` takes `path`, asked three ways that must agree: its
    /// regex alone, the route table's literal-ends path (one route), and its
    /// one-pass set path (more routes than [`SET_AFTER`] left).
    fn matches(glob: &str, path: &str) -> bool {
        let raw = format!("/{path}");
        let path = RoutePath::of(&raw).unwrap();
        let by_regex = route(glob).regex.is_match(path.bytes());
        if by_regex {
            assert!(
                route(glob).ends.admit(path.bytes()),
                "{glob}: ends refuse {raw}"
            );
        }
        let one = Routes::new(vec![route(glob)]).unwrap();
        let many = Routes::new(vec![route(glob); SET_AFTER + 1]).unwrap();
        assert_eq!(
            one.pick(&path, &Method::GET).is_some(),
            by_regex,
            "{glob} on {raw}"
        );
        assert_eq!(
            many.pick(&path, &Method::GET).is_some(),
            by_regex,
            "{glob} on {raw}"
        );
        by_regex
    }

    #[test]
    fn globs_match_normalised_paths() {
        let cases = [
            ("/admin/**", "admin", true),
            ("/admin/**", "admin/", true),
            ("/admin/**", "admin/x/y", true),
            ("/admin/**", "administrator", false),
            ("/admin/**", "x/admin", false),
            ("/admin/*", "admin/x", true),
            ("/admin/*", "admin/x/y", false),
            ("/*.js", "app.js", true),
            ("/*.js", "a/app.js", false),
            ("/**/*.js", "a/b/app.js", true),
            ("/**/*.js", "app.js", true),
            ("/a/**/b", "a/b", true),
            ("/a/**/b", "a/x/y/b", true),
            ("/a/**/b", "a/xb", false),
            ("/file?.txt", "file1.txt", true),
            ("/file?.txt", "file/.txt", false),
            ("/[ab].txt", "a.txt", true),
            ("/[!ab].txt", "c.txt", true),
            ("/[!ab].txt", "a.txt", false),
            ("/{docs,guide}/**", "guide/x", true),
            ("/{docs,guide}/**", "blog/x", false),
            ("/a.b", "axb", false),
            ("/**", "", true),
            ("/**", "anything/at/all", true),
            ("/", "", true),
            ("/about", "about/", true),
            ("/about", "about.html", false),
            ("/**/*.php", "a/b/x.php", true),
            ("/**/*.php", "x.php.txt", false),
            ("/{a,b}x", "bx", true),
            ("/x{a,b}", "xb", true),
            ("/x{a,b}", "xc", false),
            ("/a,b", "a,b", true),
            ("/a[.]b", "a.b", true),
            ("/a/**/b/*.css", "a/b/s.css", true),
            ("/a/**/b/*.css", "a/q/b/s.css", true),
            ("/a/**/b/*.css", "a/q/c/s.css", false),
            ("/caf\u{e9}/*", "caf\u{e9}/x", true),
            ("/{team,people}/**", "people/x", true),
            ("/{team,people}/**", "1k.html", false),
            ("/{,a}b", "b", true),
            ("/{a/b,c}/*", "a/b/x", true),
            ("/[0-9]k.html", "1k.html", true),
            ("/?k.html", "1k.html", true),
            ("/*k.html", "1k.html", true),
            ("/a/*", "a", false),
            ("/a/*", "a/x", true),
            ("/*", "", true),
            ("/*", "a/b", false),
            ("/**/x", "x", true),
            ("/**/x", "ax", false),
            ("/**/x", "a/b/x", true),
            ("/a/**", "ab", false),
            ("/a*b", "ab", true),
            ("/a*b", "a/b", false),
            ("/a*b", "b", false),
            ("/ab*ba", "aba", false),
            ("/ab*ba", "abba", true),
            ("/a/b/", "a/b", true),
            ("/a/b", "a/b/c", false),
            ("/**/*.bak", "x.bak", true),
            ("/**/*.bak", "a/b/x.bak", true),
            ("/**/*.bak", "a/x.bak/c", false),
            ("/**/*.bak", "a.bak.x", false),
            ("/**/x*", "a/x/b", false),
            ("/**/x*", "a/xy", true),
        ];
        for (glob, path, want) in cases {
            assert_eq!(matches(glob, path), want, "{glob} on /{path}");
        }
    }

    #[test]
    fn common_globs_need_no_regex() {
        for glob in [
            "/about",
            "/**",
            "/admin/**",
            "/**/*.bak",
            "/*.html",
            "/old/*.php",
        ] {
            assert!(!matches!(Shape::of(glob), Shape::Regex), "{glob}");
        }
        for glob in ["/{a,b}/**", "/file?.txt", "/a/**/b", "/*/*.js"] {
            assert!(matches!(Shape::of(glob), Shape::Regex), "{glob}");
        }
    }

    #[test]
    fn path_tricks_reach_the_route_or_nothing() {
        let routes = Routes::new(vec![route("/admin/**")]).unwrap();
        for raw in [
            "/%61dmin/x",
            "//admin/x",
            "/./admin/x",
            "/x/../admin/x",
            "/admin/x;param",
            "/admin//x",
        ] {
            let path = RoutePath::of(raw).unwrap();
            assert!(routes.pick(&path, &Method::GET).is_some(), "{raw}");
        }
        assert_eq!(
            RoutePath::of("/../admin").unwrap_err(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn first_match_wins_and_methods_filter() {
        let routes = Routes::new(vec![
            Route::new("/api/**", vec![Method::POST], Action::Files, 1).unwrap(),
            Route::new("/api/*", Vec::new(), Action::Files, 2).unwrap(),
            Route::new("/**", Vec::new(), Action::Files, 3).unwrap(),
        ])
        .unwrap();
        let path = RoutePath::of("/api/x").unwrap();
        assert_eq!(
            routes.pick(&path, &Method::POST).map(|r| r.modifiers),
            Some(1)
        );
        assert_eq!(
            routes.pick(&path, &Method::GET).map(|r| r.modifiers),
            Some(2)
        );
        let other = RoutePath::of("/y").unwrap();
        assert_eq!(
            routes.pick(&other, &Method::GET).map(|r| r.modifiers),
            Some(3)
        );
    }

    #[test]
    fn bad_globs_are_refused() {
        for glob in ["/a**", "/**b", "/[ab", "/{a,b", "/a}", "/[é]", "/{a,{b}}"] {
            assert!(
                Route::new(glob, Vec::new(), Action::Files, ()).is_err(),
                "{glob}"
            );
        }
        let to = Template::parse("/x/{2}", 0).unwrap();
        let err = Route::new(
            "/a/*",
            Vec::new(),
            Action::Redirect {
                to,
                status: StatusCode::PERMANENT_REDIRECT,
            },
            (),
        )
        .unwrap_err();
        assert!(err.0.contains("1 capture"), "{err}");
        // try_files paths are held to the same count.
        let entries = vec![
            TryEntry::parse("/x/{1}").unwrap(),
            TryEntry::parse("/y/{2}").unwrap(),
            TryEntry::parse("=404").unwrap(),
        ];
        let err = Route::new("/a/*", Vec::new(), Action::TryFiles(entries), ()).unwrap_err();
        assert!(err.0.starts_with("{2}: "), "{err}");
    }

    #[test]
    fn templates_encode_what_they_put_in() {
        let path = RoutePath::of("/old/a%20b/%C3%A9.html").unwrap();
        let route = route("/old/**");
        let captures = route.captures(path.bytes());
        let values = Values {
            path: &path,
            query: Some("q=1&r=%20"),
            host: Some("example.com"),
            captures: &captures,
        };
        let t = |s: &str| Template::parse(s, 0).unwrap().expand(&values);
        assert_eq!(
            t("https://example.com/new{path}"),
            "https://example.com/new/old/a%20b/%C3%A9.html"
        );
        assert_eq!(t("/new/{1}"), "/new/a%20b/%C3%A9.html");
        assert_eq!(t("{uri}"), "/old/a%20b/%C3%A9.html?q=1&r=%20");
        assert_eq!(
            t("https://{host}/x?{query}"),
            "https://example.com/x?q=1&r=%20"
        );
        assert!(Template::parse("/{nope}", 0).is_err());
        assert!(Template::parse("/{path", 0).is_err());
        assert!(Template::parse("/{0}", 0).is_err());
    }

    #[test]
    fn open_redirects_are_collapsed() {
        // What a capture could carry, decoded: the payloads of the class.
        for (glob, raw) in [
            ("/go/**", "/go/%2F%2Fevil.example"),
            ("/go/**", "/go/%5Cevil.example"),
            ("/go/**", "/go/..%2f%5cevil.example"),
        ] {
            let path = RoutePath::of(raw).unwrap();
            let route = route(glob);
            let captures = route.captures(path.bytes());
            let values = Values {
                path: &path,
                query: None,
                host: None,
                captures: &captures,
            };
            let target = safe_location(Template::parse("/{1}", 0).unwrap().expand(&values));
            assert!(
                !target.starts_with("//") && !target.starts_with("/\\"),
                "{raw}: {target}"
            );
        }
        assert_eq!(safe_location("//evil.example/x".into()), "/evil.example/x");
        assert_eq!(safe_location("/\\evil.example".into()), "/evil.example");
        assert_eq!(safe_location("/\\/\\evil".into()), "/evil");
        assert_eq!(
            safe_location("https://ok.example/".into()),
            "https://ok.example/"
        );
    }

    #[test]
    fn try_entries() {
        assert!(
            matches!(TryEntry::parse("=404"), Ok(TryEntry::Status(s)) if s == StatusCode::NOT_FOUND)
        );
        assert!(TryEntry::parse("=abc").is_err());
        assert!(TryEntry::parse("=301").is_err());
        assert!(matches!(
            TryEntry::parse("{path}.html"),
            Ok(TryEntry::Path(_))
        ));
    }
}
