//! Snippets → the exact problems reported; whole files → the keys read.

use super::*;

/// Every problem `text` has, as displayed, for a file named `ferrox.toml`.
fn problems(text: &str) -> Vec<String> {
    match parse(Path::new("ferrox.toml"), text) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn empty_file_is_valid() {
    assert_eq!(problems(""), Vec::<String>::new());
    let config = parse(Path::new("ferrox.toml"), "").unwrap();
    assert_eq!(config.server, ServerKeys::default());
    assert!(config.sites.is_empty());
}

/// Each snippet and the problems it must produce, exactly.
#[test]
fn problem_table() {
    let cases: &[(&str, &[&str])] = &[
        // A syntax error is reported alone: nothing after it can be trusted.
        (
            "[server]\nlisten = [\"0.0.0.0:80\"\nmax_connections = \"x\"\n",
            &["ferrox.toml:3:1: TOML syntax: missing comma between array elements, expected `,`"],
        ),
        (
            "[server]\nlisten = []\n[server]\n",
            &["ferrox.toml:3:2: TOML syntax: duplicate key"],
        ),
        // Unknown keys: a suggestion when close, else the list.
        (
            "[server]\nmax_conections = 5\n",
            &["ferrox.toml:2:1: server.max_conections: unknown key; did you mean 'max_connections'?"],
        ),
        (
            "[server]\nlisten-tls = []\n",
            &["ferrox.toml:2:1: server.listen-tls: unknown key; did you mean 'listen_tls'?"],
        ),
        (
            "[server]\ncolour = \"red\"\n",
            &["ferrox.toml:2:1: server.colour: unknown key; expected one of: listen, listen_tls, \
               max_connections, shutdown_timeout, header_timeout, idle_timeout, send_timeout, \
               tls_handshake_timeout, max_header_size, max_headers, max_body_size, \
               max_requests_per_connection, h2_max_streams, server_header, log_format, \
               access_log, log_level, runtime, compress_cache_size"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\nrooot = \"/srv\"\n",
            &["ferrox.toml:3:1: site[0].rooot: unknown key; did you mean 'root'?"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\n  Hostz = [\"a.example\"]\n",
            &["ferrox.toml:3:3: site[0].Hostz: unknown key; did you mean 'hosts'?"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ntls = { cert = \"a.pem\", key = \"a.key\", chain = \"c.pem\" }\n",
            &["ferrox.toml:3:40: site[0].tls.chain: unknown key; expected one of: cert, key, self_signed"],
        ),
        (
            "[sever]\n",
            &["ferrox.toml:1:2: sever: unknown key; did you mean 'server'?"],
        ),
        (
            "[[sites]]\n",
            &["ferrox.toml:1:3: sites: unknown key; did you mean 'site'?"],
        ),
        (
            "listen = [\"0.0.0.0:80\"]\nroot = \".\"\nlog_level = \"info\"\nfoo = 1\n",
            &[
                "ferrox.toml:1:1: listen: unknown key; it belongs under [server] or [[site]]",
                "ferrox.toml:2:1: root: unknown key; it belongs under [[site]]",
                "ferrox.toml:3:1: log_level: unknown key; it belongs under [server]",
                "ferrox.toml:4:1: foo: unknown key; expected one of: server, site",
            ],
        ),
        // Wrong types.
        (
            "[server]\nmax_connections = \"many\"\n",
            &["ferrox.toml:2:19: server.max_connections: expected a positive integer, found a string"],
        ),
        (
            "[server]\nserver_header = \"yes\"\naccess_log = 1\n",
            &[
                "ferrox.toml:2:17: server.server_header: expected true or false, found a string",
                "ferrox.toml:3:14: server.access_log: expected true or false, found an integer",
            ],
        ),
        (
            "[server]\nidle_timeout = true\nmax_body_size = 1.5\n",
            &[
                "ferrox.toml:2:16: server.idle_timeout: expected a duration such as \"10s\" or a \
                 number of seconds, found a boolean",
                "ferrox.toml:3:17: server.max_body_size: expected a size such as \"32KiB\" or a \
                 number of bytes, found a float",
            ],
        ),
        (
            "[server]\nlisten = 80\n",
            &["ferrox.toml:2:10: server.listen: expected an array of \"ADDR:PORT\" strings, found an integer"],
        ),
        (
            "server = \"all\"\n",
            &["ferrox.toml:1:10: server: expected a table ([server]), found a string"],
        ),
        (
            "[site]\nroot = \".\"\n",
            &["ferrox.toml:1:1: site: expected an array of tables ([[site]]), found a table"],
        ),
        (
            "site = [\"a\", { root = \"/srv\" }]\n",
            &["ferrox.toml:1:9: site[0]: expected a table, found a string"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\nhosts = [\"a.example\", 7]\n",
            &["ferrox.toml:3:23: site[0].hosts[1]: expected a host name (a string), found an integer"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ncache_rules = \"*.js=no-cache\"\n",
            &["ferrox.toml:3:15: site[0].cache_rules: expected a table of \"PATTERN\" = \"VALUE\", found a string"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ntls = \"on\"\n",
            &["ferrox.toml:3:7: site[0].tls: expected a table such as { cert = \"...\", key = \"...\" }, found a string"],
        ),
        // Integers out of range.
        (
            "[server]\nmax_connections = 0\nh2_max_streams = 20000\nmax_requests_per_connection = -1\nmax_headers = 300\n",
            &[
                "ferrox.toml:2:19: server.max_connections: expected a positive integer, found 0",
                "ferrox.toml:3:18: server.h2_max_streams: must be at most 10000, found 20000",
                "ferrox.toml:4:31: server.max_requests_per_connection: expected a non-negative integer, found -1",
                "ferrox.toml:5:15: server.max_headers: must be at most 256, found 300",
            ],
        ),
        (
            "[[site]]\nroot = \"/srv\"\nmax_ranges = 0\n",
            &["ferrox.toml:3:14: site[0].max_ranges: expected a positive integer, found 0"],
        ),
        // Addresses.
        (
            "[server]\nlisten = [\"0.0.0.0:80\", \"[::]:80\", \"localhost:80\"]\n",
            &["ferrox.toml:2:36: server.listen[2]: expected ADDR:PORT such as 127.0.0.1:8080 or \
               [::1]:8080, got 'localhost:80'"],
        ),
        // Durations.
        (
            "[server]\nshutdown_timeout = \"soon\"\nheader_timeout = \"0s\"\nsend_timeout = 0\nidle_timeout = -5\n",
            &[
                "ferrox.toml:2:20: server.shutdown_timeout: invalid duration 'soon': expected number \
                 at 0 (use e.g. 10s, 500ms, 2m)",
                "ferrox.toml:3:18: server.header_timeout: invalid duration '0s': must be more than zero",
                "ferrox.toml:4:16: server.send_timeout: invalid duration '0': must be more than zero",
                "ferrox.toml:5:16: server.idle_timeout: expected a duration such as \"10s\" or a \
                 number of seconds, found -5",
            ],
        ),
        // Sizes.
        (
            "[server]\nmax_body_size = \"8XB\"\nmax_header_size = \"10\"\ncompress_cache_size = \"lots\"\n",
            &[
                "ferrox.toml:2:17: server.max_body_size: invalid size '8XB': unknown size unit 'xb' \
                 (use KiB, MiB or GiB)",
                "ferrox.toml:3:19: server.max_header_size: invalid size '10': must be between 1KiB and 1MiB",
                "ferrox.toml:4:23: server.compress_cache_size: expected a size such as 1024, 32KiB or \
                 1MiB, got 'lots'",
            ],
        ),
        // Enums: the list, or a suggestion.
        (
            "[server]\nlog_format = \"xml\"\nruntime = \"per-cor\"\n",
            &[
                "ferrox.toml:2:14: server.log_format: unknown value 'xml'; expected one of: combined, \
                 common, json, vhost_combined",
                "ferrox.toml:3:11: server.runtime: unknown value 'per-cor'; did you mean 'per-core'?",
            ],
        ),
        (
            "[[site]]\nroot = \"/srv\"\netag = 1\n",
            &["ferrox.toml:3:8: site[0].etag: expected one of: metadata, content (a string), found an integer"],
        ),
        (
            "[server]\nlog_level = \"info,[\"\n",
            &["ferrox.toml:2:13: server.log_level: invalid log level 'info,[': invalid filter directive"],
        ),
        // Cache rules: a pattern that does not compile is reported at the
        // pattern, a bad value at the value.
        (
            "[[site]]\nroot = \"/srv\"\ncache_rules = { \"/a/[b\" = \"no-store\", \"*.js\" = \"\", \"x=y\" = \"no-store\" }\n",
            &[
                "ferrox.toml:3:17: site[0].cache_rules.\"/a/[b\": pattern 'a/[b': error parsing glob \
                 'a/[b': unclosed character class; missing ']'",
                "ferrox.toml:3:48: site[0].cache_rules.\"*.js\": empty Cache-Control value",
                "ferrox.toml:3:52: site[0].cache_rules.\"x=y\": a pattern cannot contain '='",
            ],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ncache_control = \"max-age=60\\n\"\n",
            &["ferrox.toml:3:17: site[0].cache_control: \"max-age=60\\n\" is not a valid header value"],
        ),
        // Index names are plain file names, as on the command line.
        (
            "[[site]]\nroot = \"/srv\"\nindex = [\"index.html\", \"../x.html\", \".index\"]\n",
            &[
                "ferrox.toml:3:24: site[0].index[1]: '../x.html' must be a plain file name",
                "ferrox.toml:3:37: site[0].index[2]: '.index' must be a plain file name",
            ],
        ),
        // Host syntax.
        (
            "[[site]]\nroot = \"/srv\"\nhosts = [\"a*.example.com\", \"example.com:8080\", \"example.com/x\", \"a b\", \"*\"]\n",
            &[
                "ferrox.toml:3:10: site[0].hosts[0]: 'a*.example.com': '*' can only be the whole \
                 first label, as in '*.example.com'",
                "ferrox.toml:3:28: site[0].hosts[1]: 'example.com:8080': a host has no port (hosts \
                 match the Host header without its port)",
                "ferrox.toml:3:48: site[0].hosts[2]: 'example.com/x': a host has no scheme or path, \
                 only a name such as 'example.com'",
                "ferrox.toml:3:65: site[0].hosts[3]: 'a b' contains a space; list each host as its own string",
                "ferrox.toml:3:72: site[0].hosts[4]: '*' alone is not a host; give the catch-all \
                 site default = true",
            ],
        ),
        // More than one default: reported on the second (and the third).
        (
            "[[site]]\nroot = \"/a\"\ndefault = true\n\n[[site]]\nroot = \"/b\"\ndefault = false\n\n\
             [[site]]\nroot = \"/c\"\ndefault = true\n",
            &["ferrox.toml:11:11: site[2].default: site[0] is already the default; at most one site can be"],
        ),
        // A host in two sites: on the second, naming the first; case does not matter.
        (
            "[[site]]\nroot = \"/a\"\nhosts = [\"example.com\", \"www.example.com\"]\n\n\
             [[site]]\nroot = \"/b\"\nhosts = [\"static.example.com\", \"WWW.Example.com\"]\n",
            &["ferrox.toml:7:32: site[1].hosts[1]: 'www.example.com' is already a host of site[0]"],
        ),
        (
            "[[site]]\nroot = \"/a\"\nhosts = [\"a.example\", \"b.example\", \"a.example\"]\n",
            &["ferrox.toml:3:36: site[0].hosts[2]: 'a.example' is listed twice (hosts[0])"],
        ),
        // Each listener address once in the file.
        (
            "[server]\nlisten = [\"0.0.0.0:80\"]\nlisten_tls = [\"0.0.0.0:80\"]\n\n[[site]]\nroot = \"/a\"\n\
             listen = [\"0.0.0.0:8080\"]\n\n[[site]]\nroot = \"/b\"\nlisten = [\"0.0.0.0:8080\"]\n",
            &[
                "ferrox.toml:3:15: server.listen_tls[0]: 0.0.0.0:80 is already listed at server.listen[0]",
                "ferrox.toml:11:11: site[1].listen[0]: 0.0.0.0:8080 is already listed at site[0].listen[0]",
            ],
        ),
        // tls needs a root; with several sites, each needs a root.
        (
            "[[site]]\nhosts = [\"a.example\"]\ntls = { cert = \"a.pem\", key = \"a.key\" }\n",
            &["ferrox.toml:3:7: site[0].tls: a site with tls needs a root"],
        ),
        (
            "[[site]]\nroot = \"/a\"\n\n[[site]]\nhosts = [\"b.example\"]\n",
            &["ferrox.toml:4:1: site[1]: missing key 'root'; with several sites, each needs its own"],
        ),
        // tls: both files, or self-signed.
        (
            "[[site]]\nroot = \"/a\"\ntls = { cert = \"a.pem\" }\n",
            &["ferrox.toml:3:7: site[0].tls: missing key 'key' (the private key file)"],
        ),
        (
            "[[site]]\nroot = \"/a\"\n[site.tls]\nkey = \"a.key\"\n",
            &["ferrox.toml:3:1: site[0].tls: missing key 'cert' (the certificate file)"],
        ),
        (
            "[[site]]\nroot = \"/a\"\ntls = {}\n",
            &["ferrox.toml:3:7: site[0].tls: expected cert and key (or self_signed = true)"],
        ),
        (
            "[[site]]\nroot = \"/a\"\ntls = { cert = \"a.pem\", key = \"a.key\", self_signed = true }\n",
            &["ferrox.toml:3:54: site[0].tls.self_signed: cannot go with cert and key"],
        ),
        (
            "[[site]]\nroot = \"/a\"\ntls = { cert = \"\", key = \"a.key\" }\n",
            &["ferrox.toml:3:16: site[0].tls.cert: empty path"],
        ),
        // What needs tls on the same site.
        (
            "[[site]]\nroot = \"/a\"\nhsts = \"365d\"\nhttps_redirect = true\nlisten_tls = [\"0.0.0.0:8443\"]\n",
            &[
                "ferrox.toml:3:8: site[0].hsts: hsts needs tls on this site",
                "ferrox.toml:4:18: site[0].https_redirect: https_redirect needs tls on this site",
                "ferrox.toml:5:14: site[0].listen_tls: listen_tls needs tls on this site",
            ],
        ),
        (
            "[[site]]\nroot = \"/a\"\ntls = { self_signed = true }\nhsts = \"1500ms\"\n",
            &["ferrox.toml:4:8: site[0].hsts: must be a whole number of seconds"],
        ),
        (
            "[[site]]\nroot = \"/a\"\ncompress_min_size = \"1MiB\"\ncompress_max_size = \"1KiB\"\n",
            &["ferrox.toml:3:21: site[0].compress_min_size: is larger than compress_max_size"],
        ),
        // Key paths quote what is not a bare key.
        (
            "[server]\n\"max connections\" = 1\n",
            &["ferrox.toml:2:1: server.\"max connections\": unknown key; did you mean 'max_connections'?"],
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = problems(text);
        if got != *want {
            wrong.push(format!("for:\n{text}\n  got: {got:#?}\n want: {want:#?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn problems_in_several_tables_are_all_reported_in_file_order() {
    let text = r#"
[[site]]
root = "/srv/a"
hosts = ["a.example"]
etag = "hash"

[server]
max_connections = -3
listen = ["0.0.0.0:80", "nowhere"]

[[site]]
root = 5
hosts = ["A.example"]
"#;
    assert_eq!(
        problems(text),
        [
            "ferrox.toml:5:8: site[0].etag: unknown value 'hash'; expected one of: metadata, content",
            "ferrox.toml:8:19: server.max_connections: expected a positive integer, found -3",
            "ferrox.toml:9:25: server.listen[1]: expected ADDR:PORT such as 127.0.0.1:8080 or \
             [::1]:8080, got 'nowhere'",
            "ferrox.toml:12:8: site[1].root: expected a path (a string), found an integer",
            "ferrox.toml:13:10: site[1].hosts[0]: 'a.example' is already a host of site[0]",
        ]
    );
}

/// The caller's later check (here: a certificate file that does not exist)
/// is reported where the file set the value: line 12, column 9.
#[test]
fn locations_point_at_values() {
    let text = r#"# ferrox.toml
[server]
listen = ["0.0.0.0:80",
          "[::]:80"]

[[site]]
hosts = ["a.example"]
root = "/srv/a"
[[site]]
root = "/srv/b"
[site.tls]
 cert = "certs/a.pem"
 key = "certs/a.key"
"#;
    let path = Path::new("ferrox.toml");
    let config = parse(path, text).unwrap();
    let site = &config.sites[1];
    let at = site.location("tls.cert").unwrap();
    assert_eq!(
        at,
        Location {
            line: 12,
            column: 9
        }
    );
    let problem = Problem::at(path, at, "site[1].tls.cert", "no such file 'certs/a.pem'");
    assert_eq!(
        problem.to_string(),
        "ferrox.toml:12:9: site[1].tls.cert: no such file 'certs/a.pem'"
    );
    assert_eq!(problem.location(), at);

    let loc = |line, column| Some(Location { line, column });
    assert_eq!(site.header, Location { line: 9, column: 1 });
    assert_eq!(site.location("tls"), loc(11, 1));
    assert_eq!(site.location("tls.key"), loc(13, 8));
    assert_eq!(site.location("root"), loc(10, 8));
    assert_eq!(site.location("hosts"), None);
    assert_eq!(config.sites[0].location("hosts[0]"), loc(7, 10));
    assert_eq!(config.server.location("listen"), loc(3, 10));
    assert_eq!(config.server.location("listen[1]"), loc(4, 11));
    let keys: Vec<&str> = site.locations().map(|(k, _)| k).collect();
    assert_eq!(keys, ["root", "tls", "tls.cert", "tls.key"]);
}

#[test]
fn a_problem_without_a_key() {
    let problem = Problem::at(
        Path::new("conf/ferrox.toml"),
        Location { line: 1, column: 1 },
        "",
        "cannot read the file",
    );
    assert_eq!(
        problem.to_string(),
        "conf/ferrox.toml:1:1: cannot read the file"
    );
}

#[test]
fn load_reads_the_file_or_reports_it_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let problems = load(&missing).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].location(), Location { line: 1, column: 1 });
    assert_eq!(problems[0].key, "");
    assert!(
        problems[0].message.starts_with("cannot read the file: "),
        "{}",
        problems[0]
    );

    let file = dir.path().join("ferrox.toml");
    std::fs::write(&file, "[[site]]\nroot = \"public\"\n").unwrap();
    let config = load(&file).unwrap();
    assert_eq!(config.path, file);
    assert_eq!(config.sites[0].root, Some(dir.path().join("public")));
}

#[test]
fn relative_paths_resolve_against_the_folder_of_the_file() {
    let text = r#"
[[site]]
root = "sites/a"
error_pages = "../errors"
tls = { cert = "certs/a.pem", key = "/etc/keys/a.key" }
"#;
    let config = parse(Path::new("/etc/ferrox/ferrox.toml"), text).unwrap();
    let site = &config.sites[0];
    assert_eq!(site.root, Some(PathBuf::from("/etc/ferrox/sites/a")));
    assert_eq!(
        site.error_pages,
        Some(PathBuf::from("/etc/ferrox/../errors"))
    );
    assert_eq!(
        site.tls,
        Some(TlsChoice::Files(vec![crate::server::tls::CertFiles {
            cert: PathBuf::from("/etc/ferrox/certs/a.pem"),
            key: PathBuf::from("/etc/keys/a.key"),
        }]))
    );
    // A file named without a folder: relative to the working folder, as given.
    let config = parse(Path::new("ferrox.toml"), text).unwrap();
    assert_eq!(config.sites[0].root, Some(PathBuf::from("sites/a")));
    let config = parse(Path::new("conf/ferrox.toml"), text).unwrap();
    assert_eq!(config.sites[0].root, Some(PathBuf::from("conf/sites/a")));
}

/// The table keeps the file's order, not the keys' order: the first matching
/// rule wins, as with repeated `--cache-rule`.
#[test]
fn cache_rules_keep_file_order() {
    // An inline table, and the same rules as a [site.cache_rules] table.
    let inline = r#"
[[site]]
root = "/srv"
cache_rules = { "/z/**" = "no-store", "*.js" = "max-age=60", "/assets/**" = "public, max-age=31536000, immutable" }
"#;
    let table = r#"
[[site]]
root = "/srv"

[site.cache_rules]
"/z/**" = "no-store"
"*.js" = "max-age=60"
"/assets/**" = "public, max-age=31536000, immutable"
"#;
    for text in [inline, table] {
        let config = parse(Path::new("ferrox.toml"), text).unwrap();
        let rules = config.sites[0].cache_rules.clone().unwrap();
        let patterns: Vec<&str> = rules.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(patterns, ["/z/**", "*.js", "/assets/**"]);
        // First match wins: /assets/app.js matches both "*.js" and "/assets/**".
        let policy = crate::handler::cache_control::CachePolicy {
            rules: rules.into_iter().map(|r| r.rule).collect(),
            default: None,
            fingerprint_defaults: false,
        };
        let got = policy.for_file("assets/app.js", "text/javascript");
        assert_eq!(got, Some(HeaderValue::from_static("max-age=60")));
        let got = policy.for_file("assets/logo.png", "image/png");
        assert_eq!(
            got,
            Some(HeaderValue::from_static(
                "public, max-age=31536000, immutable"
            ))
        );
        let site = &config.sites[0];
        assert!(site.location("cache_rules.\"/assets/**\"").is_some());
    }
}

#[test]
fn lenient_forms() {
    let text = r#"
[server]
listen = "0.0.0.0:80"
shutdown_timeout = 5
max_body_size = 4096
runtime = "per_core"
log_format = "vhost-combined"

[[site]]
root = "/srv"
hosts = "Example.COM"
index = "home.html"
hsts = 31536000
tls = { self_signed = true }
"#;
    let config = parse(Path::new("ferrox.toml"), text).unwrap();
    let server = &config.server;
    assert_eq!(server.listen, Some(vec!["0.0.0.0:80".parse().unwrap()]));
    assert_eq!(server.location("listen[0]"), server.location("listen"));
    assert_eq!(server.shutdown_timeout, Some(Duration::from_secs(5)));
    assert_eq!(server.max_body_size, Some(4096));
    assert_eq!(server.runtime, Some(RuntimeArg::PerCore));
    assert_eq!(server.log_format, Some(LogFormatKey::VhostCombined));
    let site = &config.sites[0];
    assert_eq!(site.hosts, Some(vec!["example.com".to_string()]));
    assert_eq!(site.index, Some(vec!["home.html".to_string()]));
    assert_eq!(site.hsts, Some(31_536_000));
    assert_eq!(site.tls, Some(TlsChoice::SelfSigned));
}

/// Every key, and the `FileConfig` it makes.
#[test]
fn a_complete_file() {
    let text = r#"
[server]
listen = ["0.0.0.0:80", "[::]:80"]
listen_tls = ["0.0.0.0:443"]
max_connections = 10000
shutdown_timeout = "10s"
header_timeout = "10s"
idle_timeout = "60s"
send_timeout = "30s"
tls_handshake_timeout = "10s"
max_header_size = "32KiB"
max_headers = 100
max_body_size = "1MiB"
max_requests_per_connection = 1000
h2_max_streams = 128
server_header = true
log_format = "combined"
access_log = true
log_level = "info"
runtime = "work-stealing"
compress_cache_size = "64MiB"

[[site]]
hosts = ["example.com", "www.example.com"]
root = "/srv/example"
default = true
listen = ["0.0.0.0:8080"]
listen_tls = ["0.0.0.0:8443"]
index = ["index.html"]
listing = false
hidden = false
error_pages = "/srv/errors"
cache_control = "public, max-age=60"
cache_rules = { "/assets/**" = "public, max-age=31536000, immutable" }
cache_defaults = true
etag = "metadata"
max_ranges = 16
precompressed = true
compress = true
compress_min_size = "1KiB"
compress_max_size = "8MiB"
tls = { cert = "/etc/ferrox/example.pem", key = "/etc/ferrox/example.key" }
hsts = "365d"
https_redirect = true

[[site]]
hosts = ["*.Example.org", "192.0.2.7"]
root = "org"
etag = "content"
"#;
    let got = parse(Path::new("/etc/ferrox/ferrox.toml"), text).unwrap();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    let secs = Duration::from_secs;
    let mut want = FileConfig {
        path: PathBuf::from("/etc/ferrox/ferrox.toml"),
        server: ServerKeys {
            listen: Some(vec![addr("0.0.0.0:80"), addr("[::]:80")]),
            listen_tls: Some(vec![addr("0.0.0.0:443")]),
            max_connections: Some(10_000),
            shutdown_timeout: Some(secs(10)),
            header_timeout: Some(secs(10)),
            idle_timeout: Some(secs(60)),
            send_timeout: Some(secs(30)),
            tls_handshake_timeout: Some(secs(10)),
            max_header_size: Some(32 * 1024),
            max_headers: Some(100),
            max_body_size: Some(1 << 20),
            max_requests_per_connection: Some(1000),
            h2_max_streams: Some(128),
            server_header: Some(true),
            log_format: Some(LogFormatKey::Combined),
            access_log: Some(true),
            log_level: Some("info".into()),
            runtime: Some(RuntimeArg::WorkStealing),
            compress_cache_size: Some(64 << 20),
            locations: Locations::new(),
        },
        sites: vec![
            SiteKeys {
                header: Location {
                    line: 23,
                    column: 1,
                },
                hosts: Some(vec!["example.com".into(), "www.example.com".into()]),
                root: Some(PathBuf::from("/srv/example")),
                default: Some(true),
                listen: Some(vec![addr("0.0.0.0:8080")]),
                listen_tls: Some(vec![addr("0.0.0.0:8443")]),
                index: Some(vec!["index.html".into()]),
                listing: Some(false),
                hidden: Some(false),
                error_pages: Some(PathBuf::from("/srv/errors")),
                cache_control: Some(HeaderValue::from_static("public, max-age=60")),
                cache_rules: Some(vec![CacheRuleKey {
                    pattern: "/assets/**".into(),
                    value: "public, max-age=31536000, immutable".into(),
                    rule: Rule::parse("/assets/**=public, max-age=31536000, immutable").unwrap(),
                }]),
                cache_defaults: Some(true),
                etag: Some(EtagArg::Metadata),
                max_ranges: Some(16),
                precompressed: Some(true),
                compress: Some(true),
                compress_min_size: Some(1024),
                compress_max_size: Some(8 << 20),
                tls: Some(TlsChoice::Files(vec![crate::server::tls::CertFiles {
                    cert: PathBuf::from("/etc/ferrox/example.pem"),
                    key: PathBuf::from("/etc/ferrox/example.key"),
                }])),
                hsts: Some(365 * 24 * 3600),
                https_redirect: Some(true),
                locations: Locations::new(),
            },
            SiteKeys {
                header: Location {
                    line: 46,
                    column: 1,
                },
                hosts: Some(vec!["*.example.org".into(), "192.0.2.7".into()]),
                root: Some(PathBuf::from("/etc/ferrox/org")),
                etag: Some(EtagArg::Content),
                ..SiteKeys::default()
            },
        ],
    };
    // Every key of the schema was set, and its location kept.
    for key in walk::SERVER_KEYS {
        assert!(got.server.location(key).is_some(), "server.{key}");
    }
    for key in walk::SITE_KEYS {
        assert!(got.sites[0].location(key).is_some(), "site[0].{key}");
    }
    assert_eq!(
        got.server.location("compress_cache_size"),
        Some(Location {
            line: 21,
            column: 23
        })
    );
    assert_eq!(
        got.sites[0].location("tls.key"),
        Some(Location {
            line: 42,
            column: 49
        })
    );
    // The rest is compared whole.
    want.server.locations = got.server.locations.clone();
    for (w, g) in want.sites.iter_mut().zip(&got.sites) {
        w.locations = g.locations.clone();
    }
    assert_eq!(got, want);
}

/// Every file in examples/config parses without a problem, and what its paths
/// name is there: folders, index pages, certificate files that load.
#[test]
fn the_examples_parse_and_their_files_exist() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    let stems: Vec<_> = names.iter().map(|p| p.file_stem().unwrap()).collect();
    assert_eq!(stems, ["local-dev", "many-sites", "single-site-tls"]);
    for path in &names {
        let config = match load(path) {
            Ok(config) => config,
            Err(problems) => panic!(
                "{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        assert!(!config.sites.is_empty(), "{}", path.display());
        for (i, site) in config.sites.iter().enumerate() {
            let what = format!("{} site[{i}]", path.display());
            let root = site.root.as_ref().unwrap();
            assert!(root.is_dir(), "{what}: root {}", root.display());
            let index = site
                .index
                .clone()
                .unwrap_or_else(|| vec!["index.html".into()]);
            assert!(root.join(&index[0]).is_file(), "{what}: index");
            if let Some(errors) = &site.error_pages {
                assert!(errors.join("404.html").is_file(), "{what}: error pages");
            }
            if let Some(TlsChoice::Files(files)) = &site.tls {
                crate::server::Tls::from_files(files.clone())
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
            }
        }
    }
}
