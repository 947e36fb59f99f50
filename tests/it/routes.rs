//! Routes and modifiers of a site over real sockets, HTTP/1.1 and h2c (prior
//! knowledge), served in-process from a plan (`support::sites`), with the
//! attacks on each rule: paths that try to slip past an auth or deny route,
//! open-redirect payloads, CORS preflights that try to stand in for
//! credentials, failed logins that try to tell users apart or go on
//! guessing.
//!
//! Routes are built directly (`Route::new`, `Action`, `Modifiers`), as the
//! configuration will build them.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use ferrox::log::LogFormat;
use ferrox::server::sites::{Plan, SitePlan};
use ferrox::site::access::AccessRules;
use ferrox::site::auth::{hash_password, Auth, AuthOptions};
use ferrox::site::cors::{Cors, CorsOptions, Origins};
use ferrox::site::headers::HeaderRules;
use ferrox::site::pipeline::Modifiers;
use ferrox::site::route::{Action, Route, Template, TryEntry};
use h2::client::SendRequest;
use http::{Request, StatusCode};
use tokio::runtime::Runtime;

use crate::support::h2::{h2_try, h2c};
use crate::support::sites::{get, local, site, tls_raw, SitePlanExt, TestCa};
use crate::support::tls::write_cert;
use crate::support::{builtin_page, Raw, SiteServer, TempRoot};

// ---------------------------------------------------------------------------
// A client for both protocols
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2c,
}

const BOTH: [Proto; 2] = [Proto::H1, Proto::H2c];

/// A response as either protocol gave it.
struct Got {
    status: u16,
    /// Names lower-cased, in the order received.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl fmt::Debug for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        write!(f, "\n{}", String::from_utf8_lossy(&self.body))
    }
}

impl Got {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every `Access-Control-*` field, sorted.
    fn cors_fields(&self) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("access-control-"))
            .cloned()
            .collect();
        fields.sort();
        fields
    }

    /// The tokens of every `Vary` field.
    fn vary(&self) -> Vec<String> {
        self.all("vary")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn holds(&self, secret: &[u8]) -> bool {
        contains(&self.body, secret)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Requests to one server, each HTTP/1.1 one on a new connection, the h2c
/// ones as streams of one connection.
struct Client {
    proto: Proto,
    addr: SocketAddr,
    host: String,
    h2: Option<(Runtime, SendRequest<Bytes>)>,
}

impl Client {
    fn new(proto: Proto, addr: SocketAddr) -> Client {
        Client::for_host(proto, addr, "test")
    }

    fn for_host(proto: Proto, addr: SocketAddr, host: &str) -> Client {
        Client {
            proto,
            addr,
            host: host.to_string(),
            h2: None,
        }
    }

    fn get(&mut self, target: &str) -> Got {
        self.send("GET", target, &[])
    }

    #[track_caller]
    fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Got {
        match self.proto {
            Proto::H1 => self.h1(method, target, headers),
            Proto::H2c => self.h2(method, target, headers),
        }
    }

    #[track_caller]
    fn h1(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Got {
        let mut c = Raw::connect(self.addr);
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if method == "POST" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("Connection: close\r\n\r\n");
        c.send(head);
        let r = if method == "HEAD" {
            c.head_response()
        } else {
            c.response()
        };
        Got {
            status: r.status,
            headers: r
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: r.body,
        }
    }

    #[track_caller]
    fn h2(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Got {
        let (rt, send) = self.h2.get_or_insert_with(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // The connection task runs on this runtime, whenever a request
            // is waited for.
            let (send, _conn) = rt.block_on(h2c(self.addr));
            (rt, send)
        });
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{target}", self.host));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(()).unwrap();
        let r = rt
            .block_on(h2_try(send, req))
            .unwrap_or_else(|e| panic!("h2c {method} {target}: {e}"));
        Got {
            status: r.status,
            headers: r
                .headers
                .iter()
                .map(|(n, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_string(), value)
                })
                .collect(),
            body: r.body,
        }
    }
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const ADMIN_SECRET: &[u8] = b"ADMIN-SECRET-5d1c0e9b";
const PRIVATE_SECRET: &[u8] = b"PRIVATE-SECRET-a93f2761";
const INDEX: &[u8] = b"<!doctype html><p>the index</p>\n";
const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

const PAGE_401: &str = "<p>site page 401</p>\n";
const PAGE_403: &str = "<p>site page 403</p>\n";
const PAGE_404: &str = "<p>site page 404</p>\n";

/// The password's hash, made once per test binary (argon2 with the default
/// parameters, as `ferrox hash-password` makes it).
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD.as_bytes()).unwrap())
}

/// Realm `staff` with one user.
fn staff(max_failures: u32, window: Duration) -> Auth {
    Auth::new(AuthOptions {
        realm: "staff".into(),
        users: vec![(USER.into(), password_hash().into())],
        max_failures,
        window,
    })
    .unwrap()
}

/// Enough failures that no test but the rate limit's reaches the limit.
fn lenient_staff() -> Auth {
    staff(1000, Duration::from_secs(60))
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn good() -> String {
    basic(USER, PASSWORD)
}

const CHALLENGE: &str = "Basic realm=\"staff\", charset=\"UTF-8\"";

/// Error pages of the site's own, so that its refusals are told from the
/// built-in ones.
fn pages() -> TempRoot {
    TempRoot::new()
        .file("401.html", PAGE_401)
        .file("403.html", PAGE_403)
        .file("404.html", PAGE_404)
}

fn route(glob: &str, action: Action, modifiers: Modifiers) -> Route<Modifiers> {
    Route::new(glob, Vec::new(), action, modifiers).unwrap()
}

fn template(text: &str) -> Template {
    Template::parse(text, 0).unwrap()
}

fn redirect(to: &str, status: u16) -> Action {
    Action::Redirect {
        to: template(to),
        status: StatusCode::from_u16(status).unwrap(),
    }
}

fn auth(auth: Auth) -> Modifiers {
    Modifiers {
        auth: Some(auth),
        ..Default::default()
    }
}

fn access(allow: &[&str], deny: &[&str]) -> Modifiers {
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Modifiers {
        access: Some(AccessRules::new(&list(allow), &list(deny)).unwrap()),
        ..Default::default()
    }
}

fn rules(set: &[(&str, &str)], add: &[(&str, &str)], remove: &[&str]) -> HeaderRules {
    let pairs = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let names: Vec<String> = remove.iter().map(|s| s.to_string()).collect();
    HeaderRules::new(&pairs(set), &pairs(add), &names).unwrap()
}

fn headers(rules: HeaderRules) -> Modifiers {
    Modifiers {
        headers: Some(rules),
        ..Default::default()
    }
}

/// Plain listener 127.0.0.1 (the client's address too) and these sites.
fn plan(sites: Vec<SitePlan>) -> Plan {
    Plan {
        sites,
        listen: vec![local(1)],
        listen_tls: Vec::new(),
    }
}

/// The site that serves requests naming no other.
fn default_site(root: &Path) -> SitePlan {
    site(&["test"], root).default_site()
}

// ---------------------------------------------------------------------------
// 1. Paths that try to get past an auth route or a deny route
// ---------------------------------------------------------------------------

/// Each path under `prefix` (`admin` or `private`), what it must get without
/// credentials (`refused`: the route's own refusal), and whether it names
/// the protected file itself (so that the route is all that keeps it).
fn bypass_cases(prefix: &str, refused: u16) -> Vec<(String, u16, bool)> {
    let upper = prefix.to_ascii_uppercase();
    let mut capital = prefix.to_string();
    capital[..1].make_ascii_uppercase();
    let encoded_first = format!("%{:02x}{}", prefix.as_bytes()[0], &prefix[1..]);
    vec![
        (format!("/{prefix}/x"), refused, true),
        // Percent-encoding, empty and dot segments: all the same path.
        (format!("/{encoded_first}/x"), refused, true),
        (format!("//{prefix}/x"), refused, true),
        (format!("/./{prefix}/x"), refused, true),
        (format!("/x/../{prefix}/x"), refused, true),
        (format!("/%2e/{prefix}/x"), refused, true),
        (format!("/x/%2e%2e/{prefix}/x"), refused, true),
        (format!("/{prefix}//x"), refused, true),
        (format!("/{prefix}%2fx"), refused, true),
        (format!("/{prefix}%2Fx"), refused, true),
        // Another name in the folder, the folder itself.
        (format!("/{prefix}/x;param"), refused, false),
        (format!("/{prefix}/x/"), refused, false),
        (format!("/{prefix}/"), refused, false),
        (format!("/{prefix}"), refused, false),
        // Other paths on a case-sensitive filesystem: not the files.
        (format!("/{upper}/x"), 404, false),
        (format!("/{capital}/x"), 404, false),
        // Decoded once only: `%61` stays `%61`.
        (format!("/%25{}/x", &encoded_first[1..]), 404, false),
        // Above the root.
        (format!("/../{prefix}/x"), 400, false),
        (format!("/%2e%2e/{prefix}/x"), 400, false),
    ]
}

/// admin/x and private/x hold secrets; `/admin/**` needs credentials, and
/// `/private/**` refuses 127.0.0.0/8. `open.test` serves the same folder
/// without any route.
fn protected_plan(root: &TempRoot, pages: &TempRoot) -> Plan {
    plan(vec![
        default_site(root.path())
            .with_error_pages(pages.path())
            .with_routes(vec![
                route("/admin/**", Action::Files, auth(lenient_staff())),
                route("/private/**", Action::Files, access(&[], &["127.0.0.0/8"])),
            ]),
        site(&["open.test"], root.path()),
    ])
}

fn protected_root() -> TempRoot {
    TempRoot::new()
        .file("admin/x", ADMIN_SECRET)
        .file("private/x", PRIVATE_SECRET)
        .file("index.html", INDEX)
}

#[test]
fn paths_around_an_auth_route_get_401_never_the_file() {
    let (root, pages) = (protected_root(), pages());
    let server = SiteServer::start(protected_plan(&root, &pages));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for (target, want, names_file) in bypass_cases("admin", 401) {
            let r = c.get(&target);
            assert!(
                !r.holds(ADMIN_SECRET),
                "{proto:?} {target}: the file without credentials\n{r:?}"
            );
            assert_eq!(r.status, want, "{proto:?} {target}\n{r:?}");
            if want == 401 {
                assert_eq!(r.get("www-authenticate"), Some(CHALLENGE), "{target}");
                assert_eq!(r.body, PAGE_401.as_bytes(), "{proto:?} {target}");
            }
            // With credentials the same path reaches the file: the route is
            // all that kept it.
            if names_file {
                let r = c.send("GET", &target, &[("Authorization", &good())]);
                assert_eq!(
                    (r.status, r.body.as_slice()),
                    (200, ADMIN_SECRET),
                    "{proto:?} {target} with credentials\n{r:?}"
                );
            }
        }
        // Whatever the method.
        for method in ["HEAD", "POST", "OPTIONS", "DELETE"] {
            let r = c.send(method, "/%61dmin/x", &[]);
            assert_eq!(r.status, 401, "{proto:?} {method}\n{r:?}");
            assert!(!r.holds(ADMIN_SECRET), "{proto:?} {method}");
        }
    }
}

#[test]
fn paths_around_a_deny_route_get_403_never_the_file() {
    let (root, pages) = (protected_root(), pages());
    let server = SiteServer::start(protected_plan(&root, &pages));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        let mut open = Client::for_host(proto, addr, "open.test");
        for (target, want, names_file) in bypass_cases("private", 403) {
            let r = c.get(&target);
            assert!(
                !r.holds(PRIVATE_SECRET),
                "{proto:?} {target}: the file to a denied address\n{r:?}"
            );
            assert_eq!(r.status, want, "{proto:?} {target}\n{r:?}");
            if want == 403 {
                assert_eq!(r.body, PAGE_403.as_bytes(), "{proto:?} {target}");
            }
            // The same folder without the rule serves the file at that path.
            if names_file {
                let r = open.get(&target);
                assert_eq!(
                    (r.status, r.body.as_slice()),
                    (200, PRIVATE_SECRET),
                    "{proto:?} {target} on the open site\n{r:?}"
                );
            }
        }
        for method in ["HEAD", "POST", "OPTIONS"] {
            let r = c.send(method, "//private/x", &[]);
            assert_eq!(r.status, 403, "{proto:?} {method}\n{r:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Redirects: placeholders, statuses, and open-redirect payloads
// ---------------------------------------------------------------------------

fn redirect_root() -> TempRoot {
    TempRoot::new()
        .file("index.html", INDEX)
        .file("folder/index.html", "folder")
        .file("evil.example/index.html", "a folder named evil.example")
        .file("\\evil.example/index.html", "a folder named \\evil.example")
}

fn redirect_plan(root: &TempRoot) -> Plan {
    plan(vec![default_site(root.path()).with_routes(vec![
        route("/old/**", redirect("/new/{1}", 301), Modifiers::default()),
        // The sharpest template: the capture right after the first slash.
        route("/go/**", redirect("/{1}", 302), Modifiers::default()),
        route(
            "/ext/**",
            redirect("https://new.example/{1}", 308),
            Modifiers::default(),
        ),
        route(
            "/p/**",
            redirect("https://new.example{path}", 302),
            Modifiers::default(),
        ),
        route("/q", redirect("/search?{query}", 303), Modifiers::default()),
        route(
            "/u/**",
            redirect("https://new.example{uri}", 307),
            Modifiers::default(),
        ),
        route(
            "/h",
            redirect("https://{host}/landing", 308),
            Modifiers::default(),
        ),
    ])])
}

/// A Location a browser takes for this site, or for a configured host.
#[track_caller]
fn assert_safe_location(location: &str, what: &str) {
    assert!(
        !location.starts_with("//") && !location.starts_with("/\\"),
        "{what}: Location {location:?} names another host"
    );
    assert!(
        !location.contains('\\'),
        "{what}: a raw backslash in Location {location:?}"
    );
    if location.contains("://") {
        assert!(
            location.starts_with("https://new.example/") || location.starts_with("https://test/"),
            "{what}: Location {location:?} names a host not configured"
        );
    } else {
        assert!(location.starts_with('/'), "{what}: Location {location:?}");
    }
}

#[test]
fn redirect_templates_expand_encoded_with_the_configured_status() {
    let root = redirect_root();
    let server = SiteServer::start(redirect_plan(&root));
    let addr = server.at(local(1));
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/old/x", 301, "/new/x"),
        // A capture is decoded, then encoded as it goes in.
        ("GET", "/old/a%20b/c.html", 301, "/new/a%20b/c.html"),
        ("GET", "/old/caf%C3%A9", 301, "/new/caf%C3%A9"),
        ("GET", "/old/a%3Fb%23c", 301, "/new/a%3Fb%23c"),
        ("GET", "/old/100%25", 301, "/new/100%25"),
        // No {query} in the template: the query is not carried.
        ("GET", "/old/x?keep=1", 301, "/new/x"),
        ("GET", "/p/x%20y?z=1", 302, "https://new.example/p/x%20y"),
        ("GET", "/q?a=1&b=%20", 303, "/search?a=1&b=%20"),
        ("GET", "/u/x?y=1", 307, "https://new.example/u/x?y=1"),
        ("GET", "/u/a%20b", 307, "https://new.example/u/a%20b"),
        ("GET", "/h", 308, "https://test/landing"),
        ("GET", "/ext/a/b", 308, "https://new.example/a/b"),
        // Any method gets the redirect.
        ("POST", "/old/x", 301, "/new/x"),
        ("POST", "/u/x", 307, "https://new.example/u/x"),
        ("DELETE", "/go/x", 302, "/x"),
        ("PUT", "/ext/x", 308, "https://new.example/x"),
        ("HEAD", "/q?a", 303, "/search?a"),
    ];
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for &(method, target, status, location) in cases {
            let r = c.send(method, target, &[]);
            assert_eq!(
                (r.status, r.get("location")),
                (status, Some(location)),
                "{proto:?} {method} {target}\n{r:?}"
            );
            assert!(r.body.is_empty(), "{proto:?} {method} {target}\n{r:?}");
        }
        // {host} is the request's host without its port.
        let mut with_port = Client::for_host(proto, addr, "test:8080");
        let r = with_port.get("/h");
        assert_eq!(r.get("location"), Some("https://test/landing"), "{r:?}");
    }
}

#[test]
fn open_redirect_payloads_stay_on_the_site() {
    let root = redirect_root();
    let server = SiteServer::start(redirect_plan(&root));
    let addr = server.at(local(1));
    // Target → (status, Location).
    let cases: &[(&str, u16, Option<&str>)] = &[
        // `..` takes the path out of /old/, to the folder `\evil.example`:
        // its slash redirect, encoded.
        ("/old/..%2f%5cevil.example", 301, Some("/%5Cevil.example/")),
        ("/old//evil.example", 301, Some("/new/evil.example")),
        ("/old/%5cevil.example", 301, Some("/new/%5Cevil.example")),
        ("/old/%2F%2Fevil.example", 301, Some("/new/evil.example")),
        (
            "/old/%5C%5Cevil.example",
            301,
            Some("/new/%5C%5Cevil.example"),
        ),
        ("/go//evil.example", 302, Some("/evil.example")),
        ("/go/%2F%2Fevil.example", 302, Some("/evil.example")),
        ("/go/%2f%2fevil.example/x", 302, Some("/evil.example/x")),
        ("/go/%5Cevil.example", 302, Some("/%5Cevil.example")),
        ("/go/%5C%5Cevil.example", 302, Some("/%5C%5Cevil.example")),
        ("/go/%2F%5Cevil.example", 302, Some("/%5Cevil.example")),
        ("/go/%5C/evil.example", 302, Some("/%5C/evil.example")),
        (
            "/go/https:%2F%2Fevil.example",
            302,
            Some("/https%3A/evil.example"),
        ),
        ("/go/%40evil.example", 302, Some("/%40evil.example")),
        ("/go/..%2f%5cevil.example", 301, Some("/%5Cevil.example/")),
        ("/go/..%2f%5cnowhere.example", 404, None),
        (
            "/ext/@evil.example",
            308,
            Some("https://new.example/%40evil.example"),
        ),
        (
            "/ext/%2F%2Fevil.example",
            308,
            Some("https://new.example/evil.example"),
        ),
        ("/ext/..%2f..%2fevil.example", 400, None),
        // The folder slash redirect, to folders named like hosts.
        ("/folder", 301, Some("/folder/")),
        ("//evil.example", 301, Some("/evil.example/")),
        ("/%2F%2Fevil.example", 301, Some("/evil.example/")),
        ("/%2f/evil.example", 301, Some("/evil.example/")),
        ("//evil.example?x=1", 301, Some("/evil.example/?x=1")),
        ("/%5Cevil.example", 301, Some("/%5Cevil.example/")),
        ("/%2F%5Cevil.example", 301, Some("/%5Cevil.example/")),
    ];
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for &(target, status, location) in cases {
            let what = format!("{proto:?} {target}");
            let r = c.get(target);
            for l in r.all("location") {
                assert_safe_location(l, &what);
            }
            assert_eq!(
                (r.status, r.get("location")),
                (status, location),
                "{what}\n{r:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 3. spa, try_files, rewrite, respond
// ---------------------------------------------------------------------------

#[test]
fn spa_serves_the_file_else_the_index_but_not_for_a_missing_asset() {
    let root = TempRoot::new()
        .file("index.html", INDEX)
        .file("app.js", "console.log(1)")
        .file("assets/logo.svg", "<svg/>");
    let pages = pages();
    let server = SiteServer::start(plan(vec![default_site(root.path())
        .with_error_pages(pages.path())
        .with_routes(vec![route("/**", Action::Spa, Modifiers::default())])]));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for (target, status, body) in [
            ("/dashboard/settings", 200, INDEX),
            ("/dashboard/settings/", 200, INDEX),
            ("/dashboard/settings?tab=2", 200, INDEX),
            ("/", 200, INDEX),
            ("/index.html", 200, INDEX),
            ("/app.js", 200, b"console.log(1)".as_slice()),
            ("/assets/logo.svg", 200, b"<svg/>".as_slice()),
            ("/app.3f9a.js", 404, PAGE_404.as_bytes()),
            ("/assets/missing.png", 404, PAGE_404.as_bytes()),
        ] {
            let r = c.get(target);
            assert_eq!(
                (r.status, r.body.as_slice()),
                (status, body),
                "{proto:?} {target}\n{r:?}"
            );
        }
        let r = c.get("/dashboard/settings");
        assert_eq!(
            r.get("content-type"),
            Some("text/html; charset=utf-8"),
            "{r:?}"
        );
    }
}

fn try_files_root() -> TempRoot {
    TempRoot::new()
        .file("index.html", INDEX)
        .file("about.html", "about page")
        .file("docs/index.html", "docs index")
}

fn try_files_server(root: &TempRoot, pages: &TempRoot) -> SiteServer {
    let entries = ["{path}", "{path}.html", "{path}/index.html", "=404"]
        .iter()
        .map(|e| TryEntry::parse(e).unwrap())
        .collect();
    SiteServer::start(plan(vec![default_site(root.path())
        .with_error_pages(pages.path())
        .with_routes(vec![route(
            "/**",
            Action::TryFiles(entries),
            Modifiers::default(),
        )])]))
}

#[test]
fn try_files_takes_the_first_entry_that_exists_else_the_status() {
    let (root, pages) = (try_files_root(), pages());
    let server = try_files_server(&root, &pages);
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for (target, status, body) in [
            ("/about", 200, "about page"),
            ("/about.html", 200, "about page"),
            ("/docs/", 200, "docs index"),
            ("/", 200, std::str::from_utf8(INDEX).unwrap()),
            ("/nope", 404, PAGE_404),
            ("/nope/deeper", 404, PAGE_404),
        ] {
            let r = c.get(target);
            assert_eq!(
                (r.status, r.text()),
                (status, body.to_string()),
                "{proto:?} {target}\n{r:?}"
            );
        }
        // The query goes with the rewritten path.
        let r = c.get("/about?x=1");
        assert_eq!((r.status, r.text()), (200, "about page".to_string()));
    }
}

#[test]
fn try_files_reaches_a_folder_index_through_its_entry() {
    let (root, pages) = (try_files_root(), pages());
    let server = try_files_server(&root, &pages);
    let addr = server.at(local(1));
    for proto in BOTH {
        let r = Client::new(proto, addr).get("/docs");
        assert_eq!(
            (r.status, r.text()),
            (200, "docs index".to_string()),
            "{proto:?}\n{r:?}"
        );
    }
}

/// A page protected by a route on its own path, on a site with pretty URLs.
fn protected_page_server(root: &TempRoot) -> SiteServer {
    let entries = ["{path}", "{path}.html", "=404"]
        .iter()
        .map(|e| TryEntry::parse(e).unwrap())
        .collect();
    SiteServer::start(plan(vec![default_site(root.path()).with_routes(vec![
        route("/report.html", Action::Files, auth(lenient_staff())),
        route("/secret/index.html", Action::Files, auth(lenient_staff())),
        route("/**", Action::TryFiles(entries), Modifiers::default()),
    ])]))
}

fn protected_page_root() -> TempRoot {
    TempRoot::new()
        .file("index.html", INDEX)
        .file("report.html", ADMIN_SECRET)
        .file("secret/index.html", PRIVATE_SECRET)
}

#[test]
fn a_protected_page_is_protected_at_its_own_path() {
    let root = protected_page_root();
    let server = protected_page_server(&root);
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for target in [
            "/report.html",
            "/secret/index.html",
            "//secret/./index.html",
        ] {
            let r = c.get(target);
            assert_eq!(r.status, 401, "{proto:?} {target}\n{r:?}");
        }
        let r = c.send("GET", "/report.html", &[("Authorization", &good())]);
        assert_eq!((r.status, r.body.as_slice()), (200, ADMIN_SECRET), "{r:?}");
    }
}

#[test]
fn a_pretty_url_does_not_skip_the_auth_of_the_page_it_serves() {
    let root = protected_page_root();
    let server = protected_page_server(&root);
    let addr = server.at(local(1));
    for proto in BOTH {
        let r = Client::new(proto, addr).get("/report");
        assert!(
            !r.holds(ADMIN_SECRET),
            "{proto:?}: served without credentials\n{r:?}"
        );
        assert_eq!(r.status, 401, "{proto:?}\n{r:?}");
    }
}

#[test]
fn a_folder_url_does_not_skip_the_auth_of_its_index_file() {
    let root = protected_page_root();
    let server = protected_page_server(&root);
    let addr = server.at(local(1));
    for proto in BOTH {
        let r = Client::new(proto, addr).get("/secret/");
        assert!(
            !r.holds(PRIVATE_SECRET),
            "{proto:?}: served without credentials\n{r:?}"
        );
        assert_eq!(r.status, 401, "{proto:?}\n{r:?}");
    }
}

#[test]
fn rewrite_serves_another_path_and_respond_a_fixed_answer() {
    let root = TempRoot::new()
        .file("index.html", INDEX)
        .file("gone", "the file behind the respond route");
    let server = SiteServer::start(plan(vec![default_site(root.path()).with_routes(vec![
        route(
            "/old-home",
            Action::Rewrite(template("/index.html")),
            Modifiers::default(),
        ),
        route(
            "/gone",
            Action::Respond {
                status: StatusCode::GONE,
                body: "Gone".into(),
            },
            Modifiers::default(),
        ),
    ])]));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        let r = c.get("/old-home");
        assert_eq!((r.status, r.body.as_slice()), (200, INDEX), "{r:?}");
        assert_eq!(r.get("location"), None, "{r:?}");
        assert_eq!(r.get("content-type"), Some("text/html; charset=utf-8"));

        for method in ["GET", "POST"] {
            let r = c.send(method, "/gone", &[]);
            assert_eq!((r.status, r.text()), (410, "Gone".to_string()), "{r:?}");
            assert_eq!(
                r.get("content-type"),
                Some("text/plain; charset=utf-8"),
                "{r:?}"
            );
            assert_eq!(r.get("content-length"), Some("4"), "{proto:?} {r:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// 4. CORS
// ---------------------------------------------------------------------------

const APP: &str = "https://app.example";

fn cors_list() -> Cors {
    Cors::new(CorsOptions {
        origins: Origins::List(vec![APP.into()]),
        methods: vec!["PUT".into(), "DELETE".into()],
        headers: vec!["X-Token".into()],
        expose: vec!["X-Total".into()],
        credentials: true,
        max_age: Some(Duration::from_secs(600)),
    })
    .unwrap()
}

fn cors_any() -> Cors {
    Cors::new(CorsOptions {
        origins: Origins::Any,
        methods: Vec::new(),
        headers: Vec::new(),
        expose: Vec::new(),
        credentials: false,
        max_age: None,
    })
    .unwrap()
}

fn cors_server() -> (SiteServer, TempRoot) {
    let root = TempRoot::new()
        .file("api/data.json", "{}")
        .file("public/a.txt", "public")
        .file("admin/x", ADMIN_SECRET)
        .file("locked/x", ADMIN_SECRET);
    let cors = |c: Cors| Modifiers {
        cors: Some(c),
        ..Default::default()
    };
    let server = SiteServer::start(plan(vec![default_site(root.path()).with_routes(vec![
        route("/api/**", Action::Files, cors(cors_list())),
        route("/public/**", Action::Files, cors(cors_any())),
        route(
            "/admin/**",
            Action::Files,
            Modifiers {
                cors: Some(cors_list()),
                auth: Some(lenient_staff()),
                ..Default::default()
            },
        ),
        route("/locked/**", Action::Files, auth(lenient_staff())),
    ])]));
    (server, root)
}

fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

fn preflight<'a>(origin: &'a str, method: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
        ("Access-Control-Request-Headers", "x-token"),
    ]
}

const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

#[test]
fn cors_preflights_and_actual_requests() {
    let (server, _root) = cors_server();
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);

        // Allowed: 204 and exactly the permission fields.
        let r = c.send("OPTIONS", "/api/data.json", &preflight(APP, "PUT"));
        assert_eq!(r.status, 204, "{proto:?}\n{r:?}");
        assert_eq!(
            r.cors_fields(),
            fields(&[
                ("access-control-allow-origin", APP),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "PUT, DELETE"),
                ("access-control-allow-headers", "x-token"),
                ("access-control-max-age", "600"),
            ]),
            "{proto:?}\n{r:?}"
        );
        assert_eq!(r.all("vary"), [PREFLIGHT_VARY], "{r:?}");
        assert!(r.body.is_empty(), "{r:?}");

        // Refused origins and methods: 204 and no CORS field at all.
        for (origin, method) in [
            ("https://evil.example", "PUT"),
            ("https://app.example.evil.test", "PUT"),
            ("http://app.example", "PUT"),
            ("null", "PUT"),
            (APP, "PATCH"),
        ] {
            let r = c.send("OPTIONS", "/api/data.json", &preflight(origin, method));
            assert_eq!(r.status, 204, "{proto:?} {origin} {method}\n{r:?}");
            assert_eq!(r.cors_fields(), [], "{proto:?} {origin} {method}\n{r:?}");
            assert_eq!(r.all("vary"), [PREFLIGHT_VARY], "{r:?}");
        }

        // Actual requests: the origin echoed, Vary covers Origin.
        let r = c.send("GET", "/api/data.json", &[("Origin", APP)]);
        assert_eq!((r.status, r.text()), (200, "{}".to_string()), "{r:?}");
        assert_eq!(
            r.cors_fields(),
            fields(&[
                ("access-control-allow-origin", APP),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "x-total"),
            ]),
            "{proto:?}\n{r:?}"
        );
        assert!(r.vary().contains(&"origin".to_string()), "{r:?}");
        // Also on an error.
        let r = c.send("GET", "/api/missing", &[("Origin", APP)]);
        assert_eq!(r.status, 404);
        assert_eq!(r.get("access-control-allow-origin"), Some(APP), "{r:?}");

        for origin in ["https://evil.example", "null", "https://app.example:8443"] {
            let r = c.send("GET", "/api/data.json", &[("Origin", origin)]);
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(r.cors_fields(), [], "{proto:?} {origin}\n{r:?}");
            assert!(r.vary().contains(&"origin".to_string()), "{r:?}");
        }

        // Any origin: `*`, never with credentials; not for `null`.
        let r = c.send("GET", "/public/a.txt", &[("Origin", "https://any.example")]);
        assert_eq!(
            r.cors_fields(),
            fields(&[("access-control-allow-origin", "*")]),
            "{proto:?}\n{r:?}"
        );
        let r = c.send("GET", "/public/a.txt", &[("Origin", "null")]);
        assert_eq!(r.cors_fields(), [], "{r:?}");
        let r = c.send(
            "OPTIONS",
            "/public/a.txt",
            &[
                ("Origin", "https://any.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
        );
        assert_eq!(r.status, 204, "{r:?}");
        assert_eq!(r.get("access-control-allow-origin"), Some("*"), "{r:?}");
        assert_eq!(r.get("access-control-allow-credentials"), None, "{r:?}");
    }
}

#[test]
fn a_preflight_skips_auth_but_the_request_does_not() {
    let (server, _root) = cors_server();
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        // Browsers send no credentials with a preflight.
        let r = c.send("OPTIONS", "/admin/x", &preflight(APP, "DELETE"));
        assert_eq!(r.status, 204, "{proto:?}\n{r:?}");
        assert_eq!(r.get("access-control-allow-origin"), Some(APP), "{r:?}");
        assert_eq!(r.get("www-authenticate"), None, "{r:?}");
        assert!(r.body.is_empty(), "{r:?}");

        // The actual request still needs them (and the page may read the 401).
        let r = c.send("GET", "/admin/x", &[("Origin", APP)]);
        assert_eq!(r.status, 401, "{proto:?}\n{r:?}");
        assert_eq!(r.get("www-authenticate"), Some(CHALLENGE), "{r:?}");
        assert_eq!(r.get("access-control-allow-origin"), Some(APP), "{r:?}");
        assert!(!r.holds(ADMIN_SECRET), "{r:?}");
        let r = c.send(
            "GET",
            "/admin/x",
            &[("Origin", APP), ("Authorization", &good())],
        );
        assert_eq!((r.status, r.body.as_slice()), (200, ADMIN_SECRET), "{r:?}");
        assert_eq!(r.get("access-control-allow-origin"), Some(APP), "{r:?}");

        // An OPTIONS that is no preflight goes through auth.
        let r = c.send("OPTIONS", "/admin/x", &[("Origin", APP)]);
        assert_eq!(r.status, 401, "{proto:?}\n{r:?}");
        // A preflight where no CORS policy answers goes through auth too.
        let r = c.send("OPTIONS", "/locked/x", &preflight(APP, "DELETE"));
        assert_eq!(r.status, 401, "{proto:?}\n{r:?}");
        assert!(!r.holds(ADMIN_SECRET), "{r:?}");
    }
}

// ---------------------------------------------------------------------------
// 5. Basic authentication
// ---------------------------------------------------------------------------

fn auth_server(auth_for_admin: Auth, format: LogFormat) -> (SiteServer, TempRoot, TempRoot) {
    let (root, pages) = (protected_root(), pages());
    let server = SiteServer::start_logging(
        plan(vec![default_site(root.path())
            .with_error_pages(pages.path())
            .with_routes(vec![route(
                "/admin/**",
                Action::Files,
                auth(auth_for_admin),
            )])]),
        format,
    );
    (server, root, pages)
}

#[test]
fn auth_challenges_then_admits_the_right_password_only() {
    let (server, _root, _pages) = auth_server(lenient_staff(), LogFormat::Common);
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        let r = c.get("/admin/x");
        assert_eq!(r.status, 401, "{proto:?}\n{r:?}");
        assert_eq!(r.all("www-authenticate"), [CHALLENGE], "{r:?}");
        assert_eq!(r.body, PAGE_401.as_bytes());

        let r = c.send("GET", "/admin/x", &[("Authorization", &good())]);
        assert_eq!((r.status, r.body.as_slice()), (200, ADMIN_SECRET), "{r:?}");
        // Again: from the verified cache.
        let r = c.send("GET", "/admin/x", &[("Authorization", &good())]);
        assert_eq!((r.status, r.body.as_slice()), (200, ADMIN_SECRET), "{r:?}");
        // The scheme in any case.
        let lower = good().replacen("Basic", "basic", 1);
        let r = c.send("GET", "/admin/x", &[("Authorization", &lower)]);
        assert_eq!(r.status, 200, "{proto:?}\n{r:?}");

        for bad in [
            basic(USER, "wrong password"),
            basic(USER, &PASSWORD.to_uppercase()),
            basic(USER, &format!("{PASSWORD} ")),
            basic("mallory", PASSWORD),
            basic("Alice", PASSWORD),
            basic("", ""),
            "Basic !!!not base64".to_string(),
            format!("Bearer {}", STANDARD.encode(format!("{USER}:{PASSWORD}"))),
            format!("Basic {}", STANDARD.encode(format!("{USER}{PASSWORD}"))),
        ] {
            let r = c.send("GET", "/admin/x", &[("Authorization", &bad)]);
            assert_eq!(r.status, 401, "{proto:?} {bad}\n{r:?}");
            assert_eq!(r.get("www-authenticate"), Some(CHALLENGE), "{r:?}");
            assert!(!r.holds(ADMIN_SECRET), "{bad}");
        }
        // Outside the route, no credentials are asked for.
        assert_eq!(c.get("/index.html").status, 200);
    }
}

/// The median of `times`.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[test]
fn auth_takes_as_long_for_an_unknown_user_as_for_a_wrong_password() {
    const TRIES: usize = 15;
    const ROUNDS: usize = 3;
    let (server, _root, _pages) = auth_server(lenient_staff(), LogFormat::Common);
    let addr = server.at(local(1));
    let mut c = Client::new(Proto::H1, addr);
    let wrong = basic(USER, "not the password");
    let unknown = basic("mallory", "not the password");
    let mut timed = |authorization: &str| {
        let start = Instant::now();
        let r = c.send("GET", "/admin/x", &[("Authorization", authorization)]);
        let took = start.elapsed();
        assert_eq!(r.status, 401, "{r:?}");
        took
    };
    // Warm up the connection path and the hash's memory.
    for _ in 0..2 {
        timed(&wrong);
        timed(&unknown);
    }
    // Interleaved, so that a noisy moment weighs on both; a round whose
    // medians differ by more than 1.5 is taken again, at most ROUNDS times.
    let mut seen = Vec::new();
    for _ in 0..ROUNDS {
        let (mut w, mut u) = (Vec::new(), Vec::new());
        for i in 0..TRIES {
            if i % 2 == 0 {
                w.push(timed(&wrong));
                u.push(timed(&unknown));
            } else {
                u.push(timed(&unknown));
                w.push(timed(&wrong));
            }
        }
        let (w, u) = (median(w), median(u));
        let ratio = w.max(u).as_secs_f64() / w.min(u).as_secs_f64().max(1e-6);
        seen.push((w, u, ratio));
        if ratio <= 1.5 {
            return;
        }
    }
    panic!("medians (wrong password, unknown user, ratio) differ by more than 1.5: {seen:?}");
}

#[test]
fn auth_limits_failures_per_address_then_lets_in_after_the_window() {
    // Long beside three hashes, even on a loaded machine.
    let window = Duration::from_secs(3);
    let (server, _root, _pages) = auth_server(staff(3, window), LogFormat::Common);
    let addr = server.at(local(1));
    let mut c = Client::new(Proto::H1, addr);
    let wrong = basic(USER, "guess");
    let first = Instant::now();
    for i in 1..=3 {
        let r = c.send("GET", "/admin/x", &[("Authorization", &wrong)]);
        assert_eq!(r.status, 401, "failure {i}\n{r:?}");
    }
    let r = c.send("GET", "/admin/x", &[("Authorization", &wrong)]);
    let limited_at = Instant::now();
    assert_eq!(
        r.status,
        429,
        "the 4th failure, {:?} after the first\n{r:?}",
        limited_at - first
    );
    assert_eq!(r.body, builtin_page(429), "{r:?}");
    let retry_after: u64 = r
        .get("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After\n{r:?}"));
    assert!(
        (1..=window.as_secs()).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    // Within the window even the right password is not tried.
    let r = c.send("GET", "/admin/x", &[("Authorization", &good())]);
    assert_eq!(r.status, 429, "good credentials while limited\n{r:?}");
    assert!(!r.holds(ADMIN_SECRET));
    // No credentials at all: the challenge, as ever.
    assert_eq!(c.get("/admin/x").status, 401);

    // After Retry-After, the right password works again.
    let wait = Duration::from_secs(retry_after) + Duration::from_millis(100);
    std::thread::sleep(wait.saturating_sub(limited_at.elapsed()));
    let r = c.send("GET", "/admin/x", &[("Authorization", &good())]);
    assert_eq!((r.status, r.body.as_slice()), (200, ADMIN_SECRET), "{r:?}");
}

#[test]
fn credentials_never_reach_the_access_log() {
    let wrong = basic(USER, "hunter2-wrong");
    let unknown = basic("mallory", PASSWORD);
    for format in [LogFormat::Json, LogFormat::Combined] {
        let (server, _root, _pages) = auth_server(lenient_staff(), format);
        let addr = server.at(local(1));
        let mut c = Client::new(Proto::H1, addr);
        let sent = [
            ("/admin/x", good(), 200),
            ("/admin/x", wrong.clone(), 401),
            ("/admin/x", unknown.clone(), 401),
            ("/index.html", good(), 200),
        ];
        for (target, authorization, status) in &sent {
            let r = c.send(
                "GET",
                target,
                &[("Authorization", authorization), ("User-Agent", "probe")],
            );
            assert_eq!(r.status, *status, "{format:?} {target}\n{r:?}");
        }
        let mut h2 = Client::new(Proto::H2c, addr);
        assert_eq!(
            h2.send("GET", "/admin/x", &[("Authorization", &good())])
                .status,
            200
        );
        let log = server.access_log(sent.len() + 1);
        assert_eq!(log.lines().count(), sent.len() + 1, "{format:?}:\n{log}");
        assert!(log.contains("/admin/x"), "{log}");
        for secret in [
            good().as_str(),
            &good()["Basic ".len()..],
            wrong.as_str(),
            &wrong["Basic ".len()..],
            &unknown["Basic ".len()..],
            PASSWORD,
            "hunter2",
            "Basic",
        ] {
            assert!(
                !log.contains(secret),
                "{format:?}: {secret:?} in the access log:\n{log}"
            );
        }
        assert!(
            !log.to_ascii_lowercase().contains("authorization"),
            "{format:?}:\n{log}"
        );
    }
}

// ---------------------------------------------------------------------------
// 6. Response headers
// ---------------------------------------------------------------------------

#[test]
fn header_rules_decorate_200_404_and_304_but_a_304_keeps_no_content_type() {
    let root = TempRoot::new().file("a.txt", "alpha");
    let pages = pages();
    let site_rules = rules(
        &[
            ("X-Frame-Options", "DENY"),
            ("Content-Type", "text/x-overridden"),
            ("Cache-Control", "no-store"),
        ],
        &[("X-Added", "one"), ("X-Added", "two")],
        &[],
    );
    let server = SiteServer::start(plan(vec![default_site(root.path())
        .with_error_pages(pages.path())
        .with_modifiers(headers(site_rules))]));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        let ok = c.get("/a.txt");
        let missing = c.get("/missing.txt");
        assert_eq!((ok.status, ok.text()), (200, "alpha".to_string()));
        assert_eq!(
            (missing.status, missing.body.as_slice()),
            (404, PAGE_404.as_bytes())
        );
        for r in [&ok, &missing] {
            assert_eq!(r.all("x-frame-options"), ["DENY"], "{proto:?}\n{r:?}");
            assert_eq!(r.all("content-type"), ["text/x-overridden"], "{r:?}");
            assert_eq!(r.all("cache-control"), ["no-store"], "{r:?}");
            assert_eq!(r.all("x-added"), ["one", "two"], "{r:?}");
        }
        let etag = ok.get("etag").expect("an ETag").to_string();
        let r = c.send("GET", "/a.txt", &[("If-None-Match", &etag)]);
        assert_eq!(r.status, 304, "{proto:?}\n{r:?}");
        assert_eq!(r.all("x-frame-options"), ["DENY"], "{r:?}");
        assert_eq!(r.all("cache-control"), ["no-store"], "{r:?}");
        assert_eq!(r.all("x-added"), ["one", "two"], "{r:?}");
        assert_eq!(r.get("etag"), Some(etag.as_str()), "{r:?}");
        assert_eq!(
            r.all("content-type"),
            Vec::<&str>::new(),
            "{proto:?}\n{r:?}"
        );
    }
}

#[test]
fn removed_fields_are_gone() {
    let root = TempRoot::new().file("a.txt", "alpha");
    let server = SiteServer::start(plan(vec![default_site(root.path()).with_modifiers(
        headers(rules(
            &[],
            &[],
            &["Accept-Ranges", "X-Content-Type-Options"],
        )),
    )]));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        let r = c.get("/a.txt");
        assert_eq!((r.status, r.text()), (200, "alpha".to_string()), "{r:?}");
        assert!(r.get("etag").is_some(), "{r:?}");
        for name in ["accept-ranges", "x-content-type-options"] {
            assert_eq!(r.get(name), None, "{proto:?}\n{r:?}");
        }
    }
}

#[test]
fn removing_server_removes_the_server_field() {
    let root = TempRoot::new().file("a.txt", "alpha");
    let server = SiteServer::start(plan(vec![
        default_site(root.path()).with_modifiers(headers(rules(&[], &[], &["Server"])))
    ]));
    let addr = server.at(local(1));
    let mut sent = Vec::new();
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for target in ["/a.txt", "/missing"] {
            let r = c.get(target);
            assert!(r.status == 200 || r.status == 404, "{r:?}");
            sent.push((proto, target, r.get("server").map(str::to_string)));
        }
    }
    let none: Vec<_> = sent.iter().map(|(p, t, _)| (*p, *t, None)).collect();
    assert_eq!(sent, none, "(protocol, target, Server sent)");
}

#[test]
fn a_routes_headers_replace_the_sites() {
    let root = TempRoot::new()
        .file("f.txt", "site file")
        .file("r/f.txt", "route file");
    let route_rules = headers(rules(&[("X-B", "route")], &[], &[]));
    let server = SiteServer::start(plan(vec![default_site(root.path())
        .with_modifiers(headers(rules(&[("X-A", "site")], &[], &[])))
        .with_routes(vec![route("/r/**", Action::Files, route_rules)])]));
    let addr = server.at(local(1));
    for proto in BOTH {
        let mut c = Client::new(proto, addr);
        for (target, status) in [("/r/f.txt", 200), ("/r/missing", 404), ("/r", 301)] {
            let r = c.get(target);
            assert_eq!(r.status, status, "{proto:?} {target}\n{r:?}");
            assert_eq!(
                (r.get("x-a"), r.get("x-b")),
                (None, Some("route")),
                "{proto:?} {target}\n{r:?}"
            );
        }
        for (target, status) in [("/f.txt", 200), ("/missing", 404)] {
            let r = c.get(target);
            assert_eq!(r.status, status, "{proto:?} {target}\n{r:?}");
            assert_eq!(
                (r.get("x-a"), r.get("x-b")),
                (Some("site"), None),
                "{proto:?} {target}\n{r:?}"
            );
        }
    }
}

const PRESET: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "frame-ancestors 'self'"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
];

#[test]
fn the_security_preset_sends_hsts_on_a_tls_site_only() {
    let ca = TestCa::new();
    let cert = ca.issue(&["a.test"]);
    let (root, certs) = (TempRoot::new().file("f.txt", "f"), TempRoot::new());
    let server = SiteServer::start(Plan {
        sites: vec![
            site(&["a.test"], root.path())
                .with_tls(write_cert(certs.path(), "a", &cert))
                .with_modifiers(headers(HeaderRules::security(true))),
            site(&["b.test"], root.path())
                .default_site()
                .with_modifiers(headers(HeaderRules::security(false))),
        ],
        listen: vec![local(1)],
        listen_tls: vec![local(2)],
    });
    let (mut tls, _) = tls_raw(server.at(local(2)), "a.test", ca.client(&[b"http/1.1"]));
    let r = get(&mut tls, "a.test", "/f.txt");
    r.expect(200);
    for (name, value) in PRESET {
        assert_eq!(r.try_header(name), Some(value), "{r:?}");
    }
    assert_eq!(r.count("strict-transport-security"), 1, "{r:?}");
    assert_eq!(r.header("strict-transport-security"), "max-age=31536000");

    for proto in BOTH {
        let r = Client::for_host(proto, server.at(local(1)), "b.test").get("/f.txt");
        assert_eq!(r.status, 200, "{r:?}");
        for (name, value) in PRESET {
            assert_eq!(r.get(name), Some(value), "{proto:?}\n{r:?}");
        }
        assert_eq!(r.get("strict-transport-security"), None, "{proto:?}\n{r:?}");
    }
}

#[test]
fn the_security_preset_of_a_tls_site_sends_no_hsts_over_plain_http() {
    let ca = TestCa::new();
    let cert = ca.issue(&["a.test"]);
    let (root, certs) = (TempRoot::new().file("f.txt", "f"), TempRoot::new());
    let server = SiteServer::start(Plan {
        sites: vec![site(&["a.test"], root.path())
            .with_tls(write_cert(certs.path(), "a", &cert))
            .with_modifiers(headers(HeaderRules::security(true)))],
        listen: vec![local(1)],
        listen_tls: vec![local(2)],
    });
    let mut sent = Vec::new();
    for proto in BOTH {
        let r = Client::for_host(proto, server.at(local(1)), "a.test").get("/f.txt");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.get("x-content-type-options"), Some("nosniff"), "{r:?}");
        let hsts = r.get("strict-transport-security").map(str::to_string);
        sent.push((proto, hsts));
    }
    assert_eq!(
        sent,
        [(Proto::H1, None), (Proto::H2c, None)],
        "(protocol, HSTS sent over plain http)"
    );
}

// ---------------------------------------------------------------------------
// 7. Access rules
// ---------------------------------------------------------------------------

#[test]
fn access_rules_refuse_or_serve_by_client_address() {
    let root = TempRoot::new().file("f.txt", PRIVATE_SECRET);
    let pages = pages();
    let with = |host: &str, allow: &[&str], deny: &[&str]| {
        site(&[host], root.path())
            .with_error_pages(pages.path())
            .with_modifiers(access(allow, deny))
    };
    let server = SiteServer::start(plan(vec![
        with("ten.test", &["10.0.0.0/8"], &[]),
        with("local.test", &["127.0.0.1"], &[]),
        with("deny.test", &[], &["::1", "127.0.0.0/8"]),
        with("both.test", &["127.0.0.0/8"], &["127.0.0.1"]),
        with("mapped.test", &["::ffff:127.0.0.1"], &[]),
    ]));
    let addr = server.at(local(1));
    for proto in BOTH {
        for (host, refused) in [
            ("ten.test", true),
            ("local.test", false),
            ("deny.test", true),
            // Deny wins over allow.
            ("both.test", true),
            // An IPv4-mapped rule names the IPv4 client.
            ("mapped.test", false),
        ] {
            let mut c = Client::for_host(proto, addr, host);
            for target in ["/f.txt", "/missing", "/"] {
                let r = c.get(target);
                if refused {
                    assert_eq!(
                        (r.status, r.body.as_slice()),
                        (403, PAGE_403.as_bytes()),
                        "{proto:?} {host}{target}\n{r:?}"
                    );
                } else {
                    assert_ne!(r.status, 403, "{proto:?} {host}{target}\n{r:?}");
                }
            }
            let r = c.get("/f.txt");
            assert_eq!(r.holds(PRIVATE_SECRET), !refused, "{proto:?} {host}\n{r:?}");
        }
    }
}
