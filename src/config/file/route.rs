//! The keys of routes and modifiers: `[[site.route]]` tables, and `headers`,
//! `security_headers`, `cors`, `auth`, `allow` and `deny` in a site or a
//! route. Each value is built by the library's own constructor
//! ([`Route::new`], [`HeaderRules::new`], [`Cors::new`], [`Auth::new`],
//! [`AccessRules::new`]), entry by entry first, so that every bad entry is
//! reported at its own key with the constructor's message.
//!
//! `auth.users_file` is the one value read from the filesystem here: its
//! users are part of the value, checked with it.

use http::{HeaderValue, Method, StatusCode};
use toml::de::{DeTable, DeValue};

use super::problem::{join, unknown_key};
use super::walk::{entries, integer_of, keep_list, Val, Walker, SITE_KEYS};
use super::{Locations, ModifierKeys};
use crate::config::raw;
use crate::site::access::AccessRules;
use crate::site::auth::{parse_htpasswd, Auth, AuthError, AuthOptions};
use crate::site::cors::{Cors, CorsOptions, Origins};
use crate::site::headers::HeaderRules;
use crate::site::route::{Action, Route, Template, TryEntry, MAX_ROUTES};

/// Keys of a `[[site.route]]`.
pub(super) const ROUTE_KEYS: &[&str] = &[
    "path",
    "methods",
    "redirect",
    "rewrite",
    "try_files",
    "spa",
    "respond",
    "headers",
    "security_headers",
    "cors",
    "auth",
    "allow",
    "deny",
];

/// Keys of a route that a site does not have.
pub(super) const ROUTE_ONLY_KEYS: &[&str] = &[
    "path",
    "methods",
    "redirect",
    "rewrite",
    "try_files",
    "spa",
    "respond",
];

/// Keys a site and a route both have.
const MODIFIER_KEYS: &[&str] = &[
    "headers",
    "security_headers",
    "cors",
    "auth",
    "allow",
    "deny",
];

const HEADERS_KEYS: &[&str] = &["set", "add", "remove"];
const CORS_KEYS: &[&str] = &[
    "origins",
    "methods",
    "headers",
    "expose",
    "credentials",
    "max_age",
];
const AUTH_KEYS: &[&str] = &["realm", "users", "users_file", "max_failures", "window"];
const REDIRECT_KEYS: &[&str] = &["to", "status"];
const RESPOND_KEYS: &[&str] = &["status", "body"];

/// The statuses a redirect may have.
const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

/// Methods whose lower-case spelling is surely a mistake (methods are
/// case-sensitive, RFC 9110 §9.1).
const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// A template to check against the glob's captures once the glob is known:
/// an action holding it, the key it is reported at, and where.
type Check = (Action, String, usize);

/// A CORS configuration of `origins` alone, for checking one entry.
fn cors_probe(origins: Origins) -> CorsOptions {
    CorsOptions {
        origins,
        methods: Vec::new(),
        headers: Vec::new(),
        expose: Vec::new(),
        credentials: false,
        max_age: None,
    }
}

/// A configured route method; case matters, so `get` is a mistake.
fn route_method(s: &str) -> Result<Method, String> {
    let upper = s.to_ascii_uppercase();
    if upper != s && STANDARD_METHODS.contains(&upper.as_str()) {
        return Err(format!(
            "'{s}': methods are case-sensitive; did you mean '{upper}'?"
        ));
    }
    Method::from_bytes(s.as_bytes())
        .map_err(|_| format!("'{s}' is not a method (a token such as GET)"))
}

/// Whether a rewritten or tried path is a path of the site.
fn is_site_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with("{path}")
}

impl Walker<'_> {
    // ---- modifiers ----------------------------------------------------------

    /// A modifier key of a site or a route, at `key`; `rel` is its path
    /// inside the site, for locations (`auth`, `route[0].auth`), and ends
    /// with the key's name. Whether the value was read.
    pub(super) fn modifier(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        out: &mut ModifierKeys,
        locations: &mut Locations,
    ) -> bool {
        let name = rel.rsplit('.').next().unwrap_or(rel);
        match name {
            "headers" => {
                out.headers = self.headers(key, rel, v, locations);
                out.headers.is_some()
            }
            "security_headers" => {
                out.security_headers = self.boolean(key, v);
                out.security_headers.is_some()
            }
            "cors" => {
                out.cors = self.cors(key, rel, v, locations);
                out.cors.is_some()
            }
            "auth" => {
                out.auth = self.auth(key, rel, v, locations);
                out.auth.is_some()
            }
            "allow" => {
                out.allow = self.access_list(key, rel, v, locations, true);
                out.allow.is_some()
            }
            "deny" => {
                out.deny = self.access_list(key, rel, v, locations, false);
                out.deny.is_some()
            }
            _ => false,
        }
    }

    /// `{ set = { NAME = VALUE }, add = { NAME = VALUE }, remove = [NAME] }`;
    /// a value may be a list (each value set or added).
    fn headers(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<HeaderRules> {
        let expected = "a table such as { set = { \"X-Frame-Options\" = \"DENY\" } }";
        let table = self.table(key, v, expected)?;
        let (mut set, mut add, mut remove) = (Vec::new(), Vec::new(), Vec::new());
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            let sub_rel = join(rel, name);
            let value_ok = match name {
                "set" => self
                    .header_fields(&sub_key, v, true)
                    .map(|fields| set = fields)
                    .is_some(),
                "add" => self
                    .header_fields(&sub_key, v, false)
                    .map(|fields| add = fields)
                    .is_some(),
                "remove" => {
                    let expected = "an array of field names";
                    let items = self.list(&sub_key, v, expected, |w, key, v| {
                        let s = w.string(key, v, "a field name (a string)")?;
                        match HeaderRules::new(&[], &[], &[s.to_string()]) {
                            Ok(_) => Some(s.to_string()),
                            Err(e) => {
                                w.report(v.span().start, key, e);
                                None
                            }
                        }
                    });
                    keep_list(locations, &sub_rel, items)
                        .map(|names| remove = names)
                        .is_some()
                }
                _ => {
                    self.report(k.span().start, &sub_key, unknown_key(name, HEADERS_KEYS));
                    ok = false;
                    continue;
                }
            };
            ok &= value_ok;
            locations.insert(sub_rel, self.loc(v.span().start));
        }
        if !ok {
            return None;
        }
        match HeaderRules::new(&set, &add, &remove) {
            Ok(rules) => Some(rules),
            Err(e) => {
                self.report(v.span().start, key, e);
                None
            }
        }
    }

    /// `{ "Name" = "value" }` or `{ "Name" = ["value", ...] }`, for `set`
    /// (`setting`) or `add`: a bad name is reported at the name, a bad value
    /// at the value.
    fn header_fields(
        &mut self,
        key: &str,
        v: &Val<'_>,
        setting: bool,
    ) -> Option<Vec<(String, String)>> {
        let table = self.table(key, v, "a table of \"Field-Name\" = \"value\"")?;
        let check = |name: &str, value: &str| {
            let pair = [(name.to_string(), value.to_string())];
            match setting {
                true => HeaderRules::new(&pair, &[], &[]),
                false => HeaderRules::new(&[], &pair, &[]),
            }
        };
        let mut fields = Vec::new();
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let field_key = join(key, name);
            if let Err(e) = check(name, "x") {
                self.report(k.span().start, &field_key, e);
                ok = false;
                continue;
            }
            let expected = "a value (a string) or an array of values";
            let values = self.list(&field_key, v, expected, |w, key, v| {
                let s = w.string(key, v, "a field value (a string)")?;
                match check(name, s) {
                    Ok(_) => Some(s.to_string()),
                    Err(e) => {
                        w.report(v.span().start, key, e);
                        None
                    }
                }
            });
            match values {
                Some(values) if values.is_empty() => {
                    let message = "an empty list: give a value (or list the field in remove)";
                    self.report(v.span().start, &field_key, message);
                    ok = false;
                }
                Some(values) => {
                    fields.extend(
                        values
                            .into_iter()
                            .map(|(value, _)| (name.to_string(), value)),
                    );
                }
                None => ok = false,
            }
        }
        ok.then_some(fields)
    }

    /// `{ origins = [...] or "*", methods, headers, expose, credentials,
    /// max_age }`.
    fn cors(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Cors> {
        let expected = "a table such as { origins = [\"https://app.example.com\"] }";
        let table = self.table(key, v, expected)?;
        let mut options = cors_probe(Origins::List(Vec::new()));
        let (mut has_origins, mut ok) = (false, true);
        let mut credentials_at = None;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            let sub_rel = join(rel, name);
            let value_ok = match name {
                "origins" => {
                    has_origins = true;
                    self.origins(&sub_key, &sub_rel, v, locations)
                        .map(|origins| options.origins = origins)
                        .is_some()
                }
                "methods" | "headers" | "expose" => {
                    let (expected, what) = match name {
                        "methods" => ("an array of methods", "a method (a string)"),
                        _ => ("an array of field names", "a field name (a string)"),
                    };
                    let items = self.list(&sub_key, v, expected, |w, key, v| {
                        let s = w.string(key, v, what)?.to_string();
                        // The entry alone, with nothing it could conflict with.
                        let mut probe = cors_probe(Origins::Any);
                        match name {
                            "methods" => probe.methods = vec![s.clone()],
                            "headers" => probe.headers = vec![s.clone()],
                            _ => probe.expose = vec![s.clone()],
                        }
                        match Cors::new(probe) {
                            Ok(_) => Some(s),
                            Err(e) => {
                                w.report(v.span().start, key, e);
                                None
                            }
                        }
                    });
                    match keep_list(locations, &sub_rel, items) {
                        Some(list) => {
                            match name {
                                "methods" => options.methods = list,
                                "headers" => options.headers = list,
                                _ => options.expose = list,
                            }
                            true
                        }
                        None => false,
                    }
                }
                "credentials" => {
                    credentials_at = Some(v.span().start);
                    self.boolean(&sub_key, v)
                        .map(|on| options.credentials = on)
                        .is_some()
                }
                "max_age" => self
                    .whole_seconds(&sub_key, v)
                    .map(|secs| options.max_age = Some(std::time::Duration::from_secs(secs)))
                    .is_some(),
                _ => {
                    self.report(k.span().start, &sub_key, unknown_key(name, CORS_KEYS));
                    ok = false;
                    continue;
                }
            };
            ok &= value_ok;
            locations.insert(sub_rel, self.loc(v.span().start));
        }
        if !has_origins {
            let message =
                "missing key 'origins' (\"*\" or a list such as [\"https://app.example.com\"])";
            self.report(v.span().start, key, message);
            return None;
        }
        if !ok {
            return None;
        }
        // Every entry is good alone: what is left is a wildcard with
        // credentials, reported at credentials.
        match Cors::new(options) {
            Ok(cors) => Some(cors),
            Err(e) => {
                match credentials_at {
                    Some(at) => self.report(at, &join(key, "credentials"), e),
                    None => self.report(v.span().start, key, e),
                }
                None
            }
        }
    }

    /// `"*"`, or a list of origins (one may be written alone).
    fn origins(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Origins> {
        if let DeValue::String(s) = v.get_ref() {
            if &**s == "*" {
                return Some(Origins::Any);
            }
        }
        let expected = "\"*\" or an array of origins such as \"https://app.example.com\"";
        let items = self.list(key, v, expected, |w, key, v| {
            let what = "an origin such as \"https://app.example.com\" (a string)";
            let s = w.string(key, v, what)?;
            match Cors::new(cors_probe(Origins::List(vec![s.to_string()]))) {
                Ok(_) => Some(s.to_string()),
                Err(e) => {
                    w.report(v.span().start, key, e);
                    None
                }
            }
        });
        let list = keep_list(locations, rel, items)?;
        if list.is_empty() {
            let message = "the list is empty, so no origin could read (\"*\" for any origin)";
            self.report(v.span().start, key, message);
            return None;
        }
        Some(Origins::List(list))
    }

    /// `{ realm, users = { NAME = "HASH" }, users_file, max_failures, window }`.
    fn auth(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Auth> {
        let expected = "a table such as { realm = \"staff\", users_file = \"htpasswd\" }";
        let table = self.table(key, v, expected)?;
        let mut options = AuthOptions::default();
        let mut inline: Vec<(String, String, usize)> = Vec::new();
        let mut from_file: Option<(Vec<(String, String)>, usize)> = None;
        let mut realm_at = None;
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            let sub_rel = join(rel, name);
            let value_ok = match name {
                "realm" => {
                    realm_at = Some(v.span().start);
                    self.string(&sub_key, v, "a realm name (a string)")
                        .map(|realm| options.realm = realm.to_string())
                        .is_some()
                }
                "users" => self
                    .users(&sub_key, &sub_rel, v, locations)
                    .map(|users| inline = users)
                    .is_some(),
                "users_file" => self
                    .users_file(&sub_key, v)
                    .map(|users| from_file = Some((users, v.span().start)))
                    .is_some(),
                "max_failures" => self
                    .u32_in(&sub_key, v, 1, u32::MAX)
                    .map(|n| options.max_failures = n)
                    .is_some(),
                "window" => self
                    .duration(&sub_key, v, raw::parse_positive_duration)
                    .map(|window| options.window = window)
                    .is_some(),
                _ => {
                    self.report(k.span().start, &sub_key, unknown_key(name, AUTH_KEYS));
                    ok = false;
                    continue;
                }
            };
            ok &= value_ok;
            locations.insert(sub_rel, self.loc(v.span().start));
        }
        if let Some((file_users, _)) = &from_file {
            for (user, _, at) in &inline {
                if file_users.iter().any(|(u, _)| u == user) {
                    let message = "also in users_file: give each user once";
                    self.report(*at, &join(&join(key, "users"), user), message);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        options.users = inline
            .iter()
            .map(|(user, hash, _)| (user.clone(), hash.clone()))
            .chain(
                from_file
                    .iter()
                    .flat_map(|(users, _)| users.iter().cloned()),
            )
            .collect();
        let e = match Auth::new(options) {
            Ok(auth) => return Some(auth),
            Err(e) => e,
        };
        let whole = (v.span().start, key.to_string());
        let (at, at_key) = match &e {
            AuthError::User { user, .. } | AuthError::Hash { user, .. } => {
                match inline.iter().find(|(u, _, _)| u == user) {
                    Some((_, _, at)) => (*at, join(&join(key, "users"), user)),
                    None => match &from_file {
                        Some((_, at)) => (*at, join(key, "users_file")),
                        None => whole,
                    },
                }
            }
            AuthError::Realm(_) => match realm_at {
                Some(at) => (at, join(key, "realm")),
                None => whole,
            },
            _ => whole,
        };
        let message = match e {
            AuthError::NoUsers => {
                "no users: nobody could sign in (give users or users_file)".into()
            }
            e => e.to_string(),
        };
        self.report(at, &at_key, message);
        None
    }

    /// `{ NAME = "HASH" }`: each user with where its hash is. Each is checked
    /// alone first, so that every bad one is reported: a bad name at the
    /// name, a bad hash at the hash.
    fn users(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Vec<(String, String, usize)>> {
        let table = self.table(key, v, "a table of user = \"hash\"")?;
        let mut users = Vec::new();
        let mut ok = true;
        for (k, v) in entries(table) {
            let user: &str = k.get_ref();
            let user_key = join(key, user);
            let what = "a password hash such as \"$argon2id$v=19$...\" (a string)";
            let Some(hash) = self.string(&user_key, v, what) else {
                ok = false;
                continue;
            };
            let alone = AuthOptions {
                users: vec![(user.to_string(), hash.to_string())],
                ..AuthOptions::default()
            };
            if let Err(e) = Auth::new(alone) {
                let at = match e {
                    AuthError::User { .. } => k.span().start,
                    _ => v.span().start,
                };
                self.report(at, &user_key, e.to_string());
                ok = false;
                continue;
            }
            locations.insert(join(rel, user), self.loc(v.span().start));
            users.push((user.to_string(), hash.to_string(), v.span().start));
        }
        ok.then_some(users)
    }

    /// `users_file`: resolved against the folder of the file, read and
    /// parsed now (one `user:hash` a line).
    fn users_file(&mut self, key: &str, v: &Val<'_>) -> Option<Vec<(String, String)>> {
        let path = self.path(key, v)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                let message = match e.kind() {
                    std::io::ErrorKind::NotFound => format!("no such file '{}'", path.display()),
                    _ => format!("cannot read '{}': {e}", path.display()),
                };
                self.report(v.span().start, key, message);
                return None;
            }
        };
        match parse_htpasswd(&text) {
            Ok(users) => Some(users),
            Err(e) => {
                self.report(v.span().start, key, format!("'{}': {e}", path.display()));
                None
            }
        }
    }

    /// `allow` or `deny`: addresses and CIDR blocks (one may be written alone).
    fn access_list(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
        allow: bool,
    ) -> Option<Vec<String>> {
        let expected = "an array of addresses and CIDR blocks such as \"10.0.0.0/8\"";
        let items = self.list(key, v, expected, |w, key, v| {
            let what = "an address or CIDR block such as \"10.0.0.0/8\" (a string)";
            let s = w.string(key, v, what)?;
            let one = [s.to_string()];
            let checked = match allow {
                true => AccessRules::new(&one, &[]),
                false => AccessRules::new(&[], &one),
            };
            match checked {
                Ok(_) => Some(s.to_string()),
                Err(e) => {
                    w.report(v.span().start, key, e);
                    None
                }
            }
        });
        keep_list(locations, rel, items)
    }

    // ---- routes -------------------------------------------------------------

    /// `route`: an array of tables, each read by [`Walker::route`]. `None`
    /// when any route has a problem.
    pub(super) fn routes(
        &mut self,
        key: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Vec<Route<ModifierKeys>>> {
        let DeValue::Array(items) = v.get_ref() else {
            return self.wrong_type(key, v, "an array of tables ([[site.route]])");
        };
        if items.len() > MAX_ROUTES {
            let message = format!("{} routes: at most {MAX_ROUTES}", items.len());
            self.report(v.span().start, key, message);
            return None;
        }
        let mut routes = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let route_key = format!("{key}[{i}]");
            let rel = format!("route[{i}]");
            let route = match item.get_ref() {
                DeValue::Table(t) => self.route(&route_key, &rel, item, t, locations),
                _ => self.wrong_type(&route_key, item, "a table"),
            };
            match route {
                Some(route) => {
                    locations.insert(rel, self.loc(item.span().start));
                    routes.push(route);
                }
                None => ok = false,
            }
        }
        ok.then_some(routes)
    }

    /// One `[[site.route]]`, at `key` (`site[0].route[2]`).
    fn route(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        table: &DeTable<'_>,
        locations: &mut Locations,
    ) -> Option<Route<ModifierKeys>> {
        let mut glob: Option<(String, usize)> = None;
        let mut has_path = false;
        let mut methods = Vec::new();
        let mut action = Action::Files;
        let mut action_key: Option<String> = None;
        let mut checks: Vec<Check> = Vec::new();
        let mut modifiers = ModifierKeys::default();
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            let sub_rel = join(rel, name);
            let value_ok = match name {
                "path" => {
                    has_path = true;
                    self.route_path(&sub_key, v)
                        .map(|g| glob = Some((g, v.span().start)))
                        .is_some()
                }
                "methods" => self
                    .route_methods(&sub_key, &sub_rel, v, locations)
                    .map(|list| methods = list)
                    .is_some(),
                "redirect" | "rewrite" | "try_files" | "spa" | "respond" => {
                    // `spa = false` is no action (and a spa that is not a
                    // boolean is reported as such).
                    let is_action =
                        name != "spa" || !matches!(v.get_ref(), DeValue::Boolean(false));
                    if let (true, Some(first)) = (is_action, &action_key) {
                        let message = format!("a route has one action, and this one has {first}");
                        self.report(k.span().start, &sub_key, message);
                        ok = false;
                        continue;
                    }
                    if is_action {
                        action_key = Some(name.to_string());
                    }
                    let parsed = match name {
                        "redirect" => self.redirect(&sub_key, v),
                        "rewrite" => self.rewrite(&sub_key, v),
                        "try_files" => self.try_files(&sub_key, &sub_rel, v, locations),
                        "respond" => self.respond(&sub_key, v),
                        _ => match self.boolean(&sub_key, v) {
                            Some(true) => Some((Action::Spa, Vec::new())),
                            Some(false) => Some((Action::Files, Vec::new())),
                            None => None,
                        },
                    };
                    match parsed {
                        Some((parsed, more)) => {
                            if is_action {
                                action = parsed;
                                checks.extend(more);
                            }
                            true
                        }
                        None => false,
                    }
                }
                _ if MODIFIER_KEYS.contains(&name) => {
                    self.modifier(&sub_key, &sub_rel, v, &mut modifiers, locations)
                }
                _ => {
                    let message = if SITE_KEYS.contains(&name) {
                        "unknown key; it belongs under [[site]], not in a route".to_string()
                    } else {
                        unknown_key(name, ROUTE_KEYS)
                    };
                    self.report(k.span().start, &sub_key, message);
                    ok = false;
                    continue;
                }
            };
            ok &= value_ok;
            locations.insert(sub_rel, self.loc(v.span().start));
        }
        if !has_path {
            let message = "missing key 'path' (the glob it matches, such as \"/admin/**\")";
            self.report(v.span().start, key, message);
            return None;
        }
        let (glob, glob_at) = glob?;
        if let Err(e) = Route::new(&glob, Vec::new(), Action::Files, ()) {
            self.report(glob_at, &join(key, "path"), e.to_string());
            return None;
        }
        for (probe, at_key, at) in checks {
            if let Err(e) = Route::new(&glob, Vec::new(), probe, ()) {
                self.report(at, &at_key, e.to_string());
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        match Route::new(&glob, methods, action, modifiers) {
            Ok(route) => Some(route),
            Err(e) => {
                self.report(v.span().start, key, e.to_string());
                None
            }
        }
    }

    /// `path`: a glob of the request path, from `/`.
    fn route_path(&mut self, key: &str, v: &Val<'_>) -> Option<String> {
        let s = self.string(key, v, "a glob such as \"/admin/**\" (a string)")?;
        if !s.starts_with('/') {
            let message = format!("'{s}': a route path starts with '/', as request paths do");
            self.report(v.span().start, key, message);
            return None;
        }
        Some(s.to_string())
    }

    /// `methods`: the methods the route answers; GET brings HEAD along.
    fn route_methods(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<Vec<Method>> {
        let expected = "an array of methods such as [\"GET\", \"POST\"]";
        let items = self.list(key, v, expected, |w, key, v| {
            let s = w.string(key, v, "a method such as \"GET\" (a string)")?;
            match route_method(s) {
                Ok(method) => Some(method),
                Err(e) => {
                    w.report(v.span().start, key, e);
                    None
                }
            }
        });
        let items = keep_list(locations, rel, items)?;
        if items.is_empty() {
            let message = "an empty list matches no request; leave methods out for every method";
            self.report(v.span().start, key, message);
            return None;
        }
        let mut methods: Vec<Method> = Vec::with_capacity(items.len() + 1);
        for method in items {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        // HEAD is GET without the body (RFC 9110 §9.3.2): answered alike.
        if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
            methods.push(Method::HEAD);
        }
        Some(methods)
    }

    /// `{ to = "TEMPLATE", status = 308 }`.
    fn redirect(&mut self, key: &str, v: &Val<'_>) -> Option<(Action, Vec<Check>)> {
        let expected = "a table such as { to = \"https://example.com{path}\", status = 308 }";
        let table = self.table(key, v, expected)?;
        let mut to = None;
        let mut has_to = false;
        let mut status = StatusCode::PERMANENT_REDIRECT;
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            match name {
                "to" => {
                    has_to = true;
                    match self.location_template(&sub_key, v) {
                        Some(template) => to = Some((template, sub_key, v.span().start)),
                        None => ok = false,
                    }
                }
                "status" => match self.redirect_status(&sub_key, v) {
                    Some(code) => status = code,
                    None => ok = false,
                },
                _ => {
                    self.report(k.span().start, &sub_key, unknown_key(name, REDIRECT_KEYS));
                    ok = false;
                }
            }
        }
        if !has_to {
            let message = "missing key 'to' (the target, such as \"https://example.com{path}\")";
            self.report(v.span().start, key, message);
            return None;
        }
        let (to, to_key, to_at) = to?;
        if !ok {
            return None;
        }
        let action = Action::Redirect { to, status };
        Some((action.clone(), vec![(action, to_key, to_at)]))
    }

    /// A redirect's `to`: a template whose text can be a `Location` field.
    fn location_template(&mut self, key: &str, v: &Val<'_>) -> Option<Template> {
        let expected = "a target such as \"https://example.com{path}\" (a string)";
        let s = self.string(key, v, expected)?;
        let problem = if s.trim().is_empty() {
            Some("empty target".to_string())
        } else if !s.is_ascii() || HeaderValue::from_str(s).is_err() {
            Some(format!(
                "{s:?} cannot be a Location field: write it in ASCII (percent-encoded), \
                 without control characters"
            ))
        } else {
            Template::parse(s, 0).err().map(|e| e.to_string())
        };
        if let Some(problem) = problem {
            self.report(v.span().start, key, problem);
            return None;
        }
        Template::parse(s, 0).ok()
    }

    /// 301, 302, 303, 307 or 308.
    fn redirect_status(&mut self, key: &str, v: &Val<'_>) -> Option<StatusCode> {
        let expected = "301, 302, 303, 307 or 308";
        let Some(n) = integer_of(v.get_ref()) else {
            return self.wrong_type(key, v, expected);
        };
        let code = REDIRECT_STATUSES
            .into_iter()
            .find(|&c| i128::from(c) == n)
            .and_then(|c| StatusCode::from_u16(c).ok());
        if code.is_none() {
            self.report(
                v.span().start,
                key,
                format!("expected {expected}, found {n}"),
            );
        }
        code
    }

    /// A path of the site with placeholders: `rewrite`, a `try_files` entry.
    fn site_path(&mut self, key: &str, v: &Val<'_>, s: &str) -> Option<Template> {
        if !is_site_path(s) {
            let message = format!("'{s}': a path of this site starts with '/' or {{path}}");
            self.report(v.span().start, key, message);
            return None;
        }
        match Template::parse(s, 0) {
            Ok(template) => Some(template),
            Err(e) => {
                self.report(v.span().start, key, e.to_string());
                None
            }
        }
    }

    /// `rewrite = "TEMPLATE"`.
    fn rewrite(&mut self, key: &str, v: &Val<'_>) -> Option<(Action, Vec<Check>)> {
        let s = self.string(key, v, "a path such as \"/index.html\" (a string)")?;
        let template = self.site_path(key, v, s)?;
        let action = Action::Rewrite(template);
        Some((
            action.clone(),
            vec![(action, key.to_string(), v.span().start)],
        ))
    }

    /// `try_files = ["{path}", "{path}.html", "=404"]` (one may be written
    /// alone); nothing may follow a `=CODE`.
    fn try_files(
        &mut self,
        key: &str,
        rel: &str,
        v: &Val<'_>,
        locations: &mut Locations,
    ) -> Option<(Action, Vec<Check>)> {
        let expected = "an array such as [\"{path}\", \"{path}.html\", \"=404\"]";
        let mut checks = Vec::new();
        let mut answered: Option<String> = None;
        let items = self.list(key, v, expected, |w, key, v| {
            let s = w.string(key, v, "a path or =CODE (a string)")?;
            if let Some(code) = &answered {
                let message = format!("never tried: '{code}' before it always answers");
                w.report(v.span().start, key, message);
                return None;
            }
            if s.starts_with('=') {
                return match TryEntry::parse(s) {
                    Ok(entry) => {
                        answered = Some(s.to_string());
                        Some(entry)
                    }
                    Err(e) => {
                        w.report(v.span().start, key, e.to_string());
                        None
                    }
                };
            }
            let entry = TryEntry::Path(w.site_path(key, v, s)?);
            let probe = Action::TryFiles(vec![entry.clone()]);
            checks.push((probe, key.to_string(), v.span().start));
            Some(entry)
        });
        let entries = keep_list(locations, rel, items)?;
        if entries.is_empty() {
            let message = "an empty list: give the paths to try, such as [\"{path}\", \"=404\"]";
            self.report(v.span().start, key, message);
            return None;
        }
        Some((Action::TryFiles(entries), checks))
    }

    /// `{ status = 410, body = "Gone" }`.
    fn respond(&mut self, key: &str, v: &Val<'_>) -> Option<(Action, Vec<Check>)> {
        let table = self.table(key, v, "a table such as { status = 410, body = \"Gone\" }")?;
        let mut status = None;
        let mut has_status = false;
        let mut body: Option<(String, usize)> = None;
        let mut ok = true;
        for (k, v) in entries(table) {
            let name: &str = k.get_ref();
            let sub_key = join(key, name);
            match name {
                "status" => {
                    has_status = true;
                    status = self
                        .u16_in(&sub_key, v, 200, 599)
                        .and_then(|n| StatusCode::from_u16(n).ok());
                    ok &= status.is_some();
                }
                "body" => match self.string(&sub_key, v, "a body (a string)") {
                    Some(text) => body = Some((text.to_string(), v.span().start)),
                    None => ok = false,
                },
                _ => {
                    self.report(k.span().start, &sub_key, unknown_key(name, RESPOND_KEYS));
                    ok = false;
                }
            }
        }
        if !has_status {
            self.report(v.span().start, key, "missing key 'status' (such as 410)");
            return None;
        }
        let status = status?;
        let (body, body_at) = body.unwrap_or_default();
        let bodiless = [
            StatusCode::NO_CONTENT,
            StatusCode::RESET_CONTENT,
            StatusCode::NOT_MODIFIED,
        ];
        if !body.is_empty() && bodiless.contains(&status) {
            let message = format!("a {} answer has no body", status.as_u16());
            self.report(body_at, &join(key, "body"), message);
            return None;
        }
        ok.then_some((Action::Respond { status, body }, Vec::new()))
    }
}
