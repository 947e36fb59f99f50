//! Snippets → the exact problems reported; whole files → the keys read.

use super::*;
use crate::site::access::AccessRules;
use crate::site::auth::AuthOptions;
use crate::site::cors::{CorsOptions, Origins};
use crate::site::route::{Action, Template, TryEntry};
use http::{Method, StatusCode};

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
               access_log, error_log, log_level, runtime, workers, compress_cache_size, state_dir, proxy_protocol, trusted_proxies, forwarded_header, file_cache_valid, dev, admin, drain_delay, acme, user, run_as_root"],
        ),
        // ACME: the table's keys, and the site's `tls` forms.
        (
            "[server.acme]\nemail = \"ops\"\ndirectory = \"http://ca.test/dir\"\nstagin = true\n",
            &[
                "ferrox.toml:2:9: server.acme.email: 'ops' is not an address",
                "ferrox.toml:3:13: server.acme.directory: 'http://ca.test/dir' is not an https:// URL (ACME directories are https)",
                "ferrox.toml:4:1: server.acme.stagin: unknown key; did you mean 'staging'?",
            ],
        ),
        (
            "[server.acme]\nstaging = true\ndirectory = \"https://ca.test/dir\"\n",
            &["ferrox.toml:1:1: server.acme: staging = true and directory name two CAs: keep one"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ntls = \"acmee\"\n",
            &["ferrox.toml:3:7: site[0].tls: unknown value 'acmee'; expected \"acme\" or a table such as { cert = \"...\", key = \"...\" }"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ntls = { acme = true, challenge = \"dns-01\" }\n",
            &["ferrox.toml:3:34: site[0].tls.challenge: unknown value 'dns-01'; expected one of: http-01, tls-alpn-01, any"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ntls = { challenge = \"http-01\" }\n",
            &["ferrox.toml:3:21: site[0].tls.challenge: needs acme = true"],
        ),
        (
            "[[site]]\nroot = \"/srv\"\ntls = { acme = true, cert = \"a.pem\", key = \"a.key\" }\n",
            &["ferrox.toml:3:16: site[0].tls.acme: cannot go with cert and key"],
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
            &["ferrox.toml:3:40: site[0].tls.chain: unknown key; expected one of: cert, key, self_signed, acme, challenge"],
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
                "ferrox.toml:3:14: server.access_log: expected true, false or a file path, found an integer",
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
            &["ferrox.toml:3:7: site[0].tls: unknown value 'on'; expected \"acme\" or a table such as { cert = \"...\", key = \"...\" }"],
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
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n",
            &["ferrox.toml:2:34: server.trusted_proxies[1]: trusted proxy \"10.0.0.0/99\": not an address like 10.1.2.3 or ::1, or a CIDR block like 10.0.0.0/8"],
        ),
        (
            "[server]\nworkers = 0\n",
            &["ferrox.toml:2:11: server.workers: expected a positive integer, found 0"],
        ),
        (
            "[server]\naccess_log = 3\n",
            &["ferrox.toml:2:14: server.access_log: expected true, false or a file path, found an integer"],
        ),
        (
            "[server]\nproxy_protocol = \"yes\"\n",
            &["ferrox.toml:2:18: server.proxy_protocol: expected true or false, found a string"],
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
        // Sharing: booleans and a size.
        (
            "[[site]]\nroot = \"/a\"\nupload = \"yes\"\nupload_max_size = \"lots\"\n",
            &[
                "ferrox.toml:3:10: site[0].upload: expected true or false, found a string",
                "ferrox.toml:4:19: site[0].upload_max_size: expected a size such as 1024, 32KiB or 1MiB, got 'lots'",
            ],
        ),
        // Key paths quote what is not a bare key.
        (
            "[server]\n\"max connections\" = 1\n",
            &["ferrox.toml:2:1: server.\"max connections\": unknown key; did you mean 'max_connections'?"],
        ),
    ];
    assert_problems(cases);
}

/// Asserts each snippet produces exactly its problems; lists every mismatch.
#[track_caller]
fn assert_problems(cases: &[(&str, &[&str])]) {
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
workers = 3
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
    assert_eq!(server.workers, Some(3));
    assert_eq!(server.log_format, Some(LogFormatKey::VhostCombined));
    let site = &config.sites[0];
    assert_eq!(site.hosts, Some(vec!["example.com".to_string()]));
    assert_eq!(site.index, Some(vec!["home.html".to_string()]));
    assert_eq!(site.hsts, Some(31_536_000));
    assert_eq!(site.tls, Some(TlsChoice::SelfSigned));
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// An auth of one user whose password is `HASH`'s.
fn auth(realm: &str, user: &str, max_failures: u32, window: Duration) -> Auth {
    Auth::new(AuthOptions {
        realm: realm.into(),
        users: vec![(user.into(), HASH.into())],
        max_failures,
        window,
    })
    .unwrap()
}

/// CORS for any origin, nothing else.
fn any_origin() -> CorsOptions {
    CorsOptions {
        origins: Origins::Any,
        methods: Vec::new(),
        headers: Vec::new(),
        expose: Vec::new(),
        credentials: false,
        max_age: None,
    }
}

/// The admin listener's keys, and their mistakes.
#[test]
fn admin_keys() {
    let text = "[server]\nadmin = \"127.0.0.1:9090\"\ndrain_delay = \"2s\"\n";
    let got = parse(Path::new("f.toml"), text).unwrap();
    assert_eq!(got.server.admin, Some("127.0.0.1:9090".parse().unwrap()));
    assert_eq!(got.server.drain_delay, Some(Duration::from_secs(2)));
    let bad = parse(
        Path::new("f.toml"),
        "[server]\nadmin = \"nowhere\"\ndrain_delay = \"later\"\n",
    )
    .unwrap_err();
    let bad: Vec<String> = bad.iter().map(|p| p.to_string()).collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].starts_with("f.toml:2:9: server.admin: "), "{bad:?}");
    assert!(
        bad[1].starts_with("f.toml:3:15: server.drain_delay: "),
        "{bad:?}"
    );
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
error_log = "error.log"
log_level = "info"
runtime = "work-stealing"
workers = 2
compress_cache_size = "64MiB"
state_dir = "state"
proxy_protocol = false
trusted_proxies = ["10.0.0.0/8", "::1"]
forwarded_header = "x-forwarded-for"
file_cache_valid = "250ms"
dev = true
admin = "127.0.0.1:9090"
drain_delay = "5s"
acme = { email = "ops@example.com", staging = true, ca_root = "ca.pem", first_retry = "2m" }
user = "www-data"
run_as_root = false

[[site]]
hosts = ["example.com", "www.example.com"]
root = "/srv/example"
default = true
listen = ["0.0.0.0:8080"]
listen_tls = ["0.0.0.0:8443"]
index = ["index.html"]
listing = false
hidden = false
archive = true
upload = true
overwrite = true
mkdir = true
delete = true
upload_max_size = "512MiB"
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
headers = { set = { "X-Frame-Options" = "DENY" }, add = { Link = ["</a.css>; rel=preload", "</b.js>; rel=preload"] }, remove = ["X-Powered-By"] }
security_headers = true
cors = { origins = ["https://app.example.com"], methods = ["GET", "PUT"], headers = ["X-Token"], expose = ["ETag"], credentials = true, max_age = "1h" }
auth = { realm = "staff", users = { alice = "HASH" }, max_failures = 5, window = "5m" }
allow = ["10.0.0.0/8", "::1"]
deny = "10.9.0.0/16"

[[site.route]]
path = "/old/**"
methods = ["GET", "POST"]
redirect = { to = "https://example.com/new/{1}?{query}", status = 301 }

[[site.route]]
path = "/docs/*"
rewrite = "/manual/{1}.html"

[[site.route]]
path = "/blog/**"
try_files = ["{path}", "{path}.html", "=404"]
headers = { set = { "Cache-Control" = "no-store" } }

[[site.route]]
path = "/app/**"
spa = true
security_headers = false
cors = { origins = "*" }

[[site.route]]
path = "/gone"
respond = { status = 410, body = "Gone" }
allow = []

[[site.route]]
path = "/public/**"
auth = { realm = "public", users = { bob = "HASH" } }
deny = ["192.0.2.0/24"]

[[site]]
hosts = ["*.Example.org", "192.0.2.7"]
root = "org"
etag = "content"
"#
    .replace("HASH", HASH);
    let got = parse(Path::new("/etc/ferrox/ferrox.toml"), &text).unwrap();
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
            access_log_file: None,
            error_log: Some(PathBuf::from("/etc/ferrox/error.log")),
            log_level: Some("info".into()),
            runtime: Some(RuntimeArg::WorkStealing),
            workers: Some(2),
            compress_cache_size: Some(64 << 20),
            state_dir: Some(PathBuf::from("/etc/ferrox/state")),
            proxy_protocol: Some(false),
            trusted_proxies: Some(vec!["10.0.0.0/8".into(), "::1".into()]),
            forwarded_header: Some(ForwardedHeaderArg::XForwardedFor),
            file_cache_valid: Some(Duration::from_millis(250)),
            dev: Some(true),
            admin: Some(addr("127.0.0.1:9090")),
            drain_delay: Some(secs(5)),
            acme: Some(AcmeKeys {
                email: Some("ops@example.com".into()),
                directory: None,
                staging: Some(true),
                ca_root: Some(PathBuf::from("/etc/ferrox/ca.pem")),
                first_retry: Some(secs(120)),
            }),
            user: Some("www-data".into()),
            run_as_root: Some(false),
            locations: Locations::new(),
        },
        sites: vec![
            SiteKeys {
                header: Location {
                    line: 36,
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
                archive: Some(true),
                upload: Some(true),
                overwrite: Some(true),
                mkdir: Some(true),
                delete: Some(true),
                upload_max_size: Some(512 << 20),
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
                modifiers: ModifierKeys {
                    headers: Some(
                        HeaderRules::new(
                            &pairs(&[("X-Frame-Options", "DENY")]),
                            &pairs(&[
                                ("Link", "</a.css>; rel=preload"),
                                ("Link", "</b.js>; rel=preload"),
                            ]),
                            &strings(&["X-Powered-By"]),
                        )
                        .unwrap(),
                    ),
                    security_headers: Some(true),
                    cors: Some(
                        Cors::new(CorsOptions {
                            origins: Origins::List(strings(&["https://app.example.com"])),
                            methods: strings(&["GET", "PUT"]),
                            headers: strings(&["X-Token"]),
                            expose: strings(&["ETag"]),
                            credentials: true,
                            max_age: Some(secs(3600)),
                        })
                        .unwrap(),
                    ),
                    auth: Some(auth("staff", "alice", 5, secs(300))),
                    allow: Some(strings(&["10.0.0.0/8", "::1"])),
                    deny: Some(strings(&["10.9.0.0/16"])),
                },
                routes: Some(vec![
                    Route::new(
                        "/old/**",
                        vec![Method::GET, Method::POST, Method::HEAD],
                        Action::Redirect {
                            to: Template::parse("https://example.com/new/{1}?{query}", 0).unwrap(),
                            status: StatusCode::MOVED_PERMANENTLY,
                        },
                        ModifierKeys::default(),
                    )
                    .unwrap(),
                    Route::new(
                        "/docs/*",
                        Vec::new(),
                        Action::Rewrite(Template::parse("/manual/{1}.html", 0).unwrap()),
                        ModifierKeys::default(),
                    )
                    .unwrap(),
                    Route::new(
                        "/blog/**",
                        Vec::new(),
                        Action::TryFiles(vec![
                            TryEntry::parse("{path}").unwrap(),
                            TryEntry::parse("{path}.html").unwrap(),
                            TryEntry::Status(StatusCode::NOT_FOUND),
                        ]),
                        ModifierKeys {
                            headers: Some(
                                HeaderRules::new(
                                    &pairs(&[("Cache-Control", "no-store")]),
                                    &[],
                                    &[],
                                )
                                .unwrap(),
                            ),
                            ..ModifierKeys::default()
                        },
                    )
                    .unwrap(),
                    Route::new(
                        "/app/**",
                        Vec::new(),
                        Action::Spa,
                        ModifierKeys {
                            security_headers: Some(false),
                            cors: Some(Cors::new(any_origin()).unwrap()),
                            ..ModifierKeys::default()
                        },
                    )
                    .unwrap(),
                    Route::new(
                        "/gone",
                        Vec::new(),
                        Action::Respond {
                            status: StatusCode::GONE,
                            body: "Gone".into(),
                        },
                        ModifierKeys {
                            allow: Some(Vec::new()),
                            ..ModifierKeys::default()
                        },
                    )
                    .unwrap(),
                    Route::new(
                        "/public/**",
                        Vec::new(),
                        Action::Files,
                        ModifierKeys {
                            auth: Some(auth("public", "bob", 10, secs(60))),
                            deny: Some(strings(&["192.0.2.0/24"])),
                            ..ModifierKeys::default()
                        },
                    )
                    .unwrap(),
                ]),
                locations: Locations::new(),
            },
            SiteKeys {
                header: Location {
                    line: 101,
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
    for key in route::ROUTE_KEYS {
        let set = (0..6).any(|i| {
            got.sites[0]
                .location(&format!("route[{i}].{key}"))
                .is_some()
        });
        assert!(set, "site[0].route[_].{key}");
    }
    // The routes in order, each with its glob and action.
    let routes = got.sites[0].routes.as_deref().unwrap();
    let globs: Vec<&str> = routes.iter().map(|r| r.glob()).collect();
    assert_eq!(
        globs,
        [
            "/old/**",
            "/docs/*",
            "/blog/**",
            "/app/**",
            "/gone",
            "/public/**"
        ]
    );
    let actions: Vec<String> = routes
        .iter()
        .map(|r| format!("{:?}", r.action).chars().take(12).collect())
        .collect();
    assert_eq!(
        actions,
        [
            "Redirect { t",
            "Rewrite(Temp",
            "TryFiles([Pa",
            "Spa",
            "Respond { st",
            "Files"
        ]
    );
    assert_eq!(
        routes[0].methods(),
        [Method::GET, Method::POST, Method::HEAD]
    );
    assert_eq!(
        got.sites[0].location("route[4].respond"),
        Some(Location {
            line: 93,
            column: 11
        })
    );
    assert_eq!(
        got.sites[0].location("auth.users.alice"),
        Some(Location {
            line: 67,
            column: 45
        })
    );
    assert_eq!(
        got.server.location("compress_cache_size"),
        Some(Location {
            line: 23,
            column: 23
        })
    );
    assert_eq!(
        got.sites[0].location("tls.key"),
        Some(Location {
            line: 61,
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

/// A valid argon2id hash (of "secret"): parsed here, never verified.
const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$pilDaPxjUpw/JLtB70uDeQ$S0F/6lQb85ELl48rZks+yMg8nszebrl92kornhkQTxo";

/// The modifier keys of a site: each bad entry at its own key, with the
/// message of the library's constructor.
#[test]
fn modifier_problem_table() {
    let with_hash = |text: &str| text.replace("HASH", HASH);
    let auth_cases = [
        with_hash(
            "[[site]]\nroot = \"/a\"\nauth = { realm = \"a\\\"b\", users = { alice = \"HASH\" } }\n",
        ),
        with_hash(
            "[[site]]\nroot = \"/a\"\n[site.auth]\nusers = { alice = \"HASH\", bob = \"secret\", \"c:d\" = \"HASH\", eve = 5 }\n",
        ),
        "[[site]]\nroot = \"/a\"\nauth = { realm = \"staff\" }\n".to_string(),
        "[[site]]\nroot = \"/a\"\nauth = { user = {}, max_failures = 0, window = \"0s\", users_file = \"no/such/htpasswd\" }\n"
            .to_string(),
        "[[site]]\nroot = \"/a\"\nauth = \"alice:secret\"\n".to_string(),
    ];
    let cases: &[(&str, &[&str])] = &[
        // headers: a bad name at the name, a bad value at the value.
        (
            "[[site]]\nroot = \"/a\"\nheaders = \"X-Frame-Options: DENY\"\nsecurity_headers = \"yes\"\n",
            &[
                "ferrox.toml:3:11: site[0].headers: expected a table such as { set = { \
                 \"X-Frame-Options\" = \"DENY\" } }, found a string",
                "ferrox.toml:4:20: site[0].security_headers: expected true or false, found a string",
            ],
        ),
        (
            "[[site]]\nroot = \"/a\"\n[site.headers]\nset = { \"Bad Name\" = \"x\", X-A = [\"1\", \"2\\u0001\"], X-B = [] }\n\
             add = { Date = \"x\" }\nremove = [\"Content-Length\", 7]\nsett = {}\n",
            &[
                "ferrox.toml:4:9: site[0].headers.set.\"Bad Name\": header \"Bad Name\": not a field \
                 name (a field name is letters, digits and !#$%&'*+-.^_`|~, nothing else)",
                "ferrox.toml:4:39: site[0].headers.set.X-A[1]: header \"X-A\": the value \"2\\u{1}\" \
                 holds a control character (CR, LF and NUL could end the field or the header block early)",
                "ferrox.toml:4:57: site[0].headers.set.X-B: an empty list: give a value (or list the \
                 field in remove)",
                "ferrox.toml:5:9: site[0].headers.add.Date: header \"Date\": cannot be added by \
                 configuration: the engines stamp every response from their clock",
                "ferrox.toml:6:11: site[0].headers.remove[0]: header \"Content-Length\": cannot be \
                 removed by configuration: the engines frame every body themselves",
                "ferrox.toml:6:29: site[0].headers.remove[1]: expected a field name (a string), found \
                 an integer",
                "ferrox.toml:7:1: site[0].headers.sett: unknown key; did you mean 'set'?",
            ],
        ),
        // cors: each entry alone, then the wildcard with credentials.
        (
            "[[site]]\nroot = \"/a\"\ncors = { methods = [\"GET\"] }\n",
            &["ferrox.toml:3:8: site[0].cors: missing key 'origins' (\"*\" or a list such as \
               [\"https://app.example.com\"])"],
        ),
        (
            "[[site]]\nroot = \"/a\"\n[site.cors]\norigins = [\"https://a.example\", \"https://b.example/\", \"*\"]\n\
             methods = [\"GET\", \"B D\"]\nheaders = [\"X-Ok\", \"X Bad\"]\nexpose = \"Bad:\"\nmax_age = \"1500ms\"\norigin = 1\n",
            &[
                "ferrox.toml:4:33: site[0].cors.origins[1]: origin \"https://b.example/\": an origin \
                 has no path, not even a trailing slash",
                "ferrox.toml:4:55: site[0].cors.origins[2]: origin \"*\": \"*\" is any origin: use it \
                 alone, not in a list",
                "ferrox.toml:5:19: site[0].cors.methods[1]: method \"B D\": not a token",
                "ferrox.toml:6:20: site[0].cors.headers[1]: header \"X Bad\": not a field name",
                "ferrox.toml:7:10: site[0].cors.expose: expose \"Bad:\": not a field name",
                "ferrox.toml:8:11: site[0].cors.max_age: must be a whole number of seconds",
                "ferrox.toml:9:1: site[0].cors.origin: unknown key; did you mean 'origins'?",
            ],
        ),
        (
            "[[site]]\nroot = \"/a\"\ncors = { origins = \"*\", credentials = true }\n",
            &["ferrox.toml:3:39: site[0].cors.credentials: origins \"*\" (any origin) cannot be used \
               with credentials = true: browsers ignore a wildcard on credentialed requests (Fetch \
               standard); list them instead"],
        ),
        (
            "[[site]]\nroot = \"/a\"\ncors = { origins = [], credentials = \"yes\" }\n",
            &[
                "ferrox.toml:3:20: site[0].cors.origins: the list is empty, so no origin could read \
                 (\"*\" for any origin)",
                "ferrox.toml:3:38: site[0].cors.credentials: expected true or false, found a string",
            ],
        ),
        // auth: every user alone, at its name or its hash.
        (
            &auth_cases[0],
            &["ferrox.toml:3:18: site[0].auth.realm: realm: contains '\"'; quotes, backslashes and \
               control characters are not allowed"],
        ),
        (
            &auth_cases[1],
            &[
                "ferrox.toml:4:126: site[0].auth.users.bob: user \"bob\": hash: not an accepted hash \
                 (a plain password or crypt()?); accepted: argon2id ($argon2id$v=19$...) and bcrypt \
                 ($2a$, $2b$, $2y$); `ferrox hash-password` makes one",
                "ferrox.toml:4:136: site[0].auth.users.\"c:d\": user \"c:d\": a user name cannot \
                 contain ':' (basic authentication splits at the first one)",
                "ferrox.toml:4:251: site[0].auth.users.eve: expected a password hash such as \
                 \"$argon2id$v=19$...\" (a string), found an integer",
            ],
        ),
        (
            &auth_cases[2],
            &["ferrox.toml:3:8: site[0].auth: no users: nobody could sign in (give users or users_file)"],
        ),
        (
            &auth_cases[3],
            &[
                "ferrox.toml:3:10: site[0].auth.user: unknown key; did you mean 'users'?",
                "ferrox.toml:3:36: site[0].auth.max_failures: expected a positive integer, found 0",
                "ferrox.toml:3:48: site[0].auth.window: invalid duration '0s': must be more than zero",
                "ferrox.toml:3:67: site[0].auth.users_file: no such file 'no/such/htpasswd'",
            ],
        ),
        (
            &auth_cases[4],
            &["ferrox.toml:3:8: site[0].auth: expected a table such as { realm = \"staff\", \
               users_file = \"htpasswd\" }, found a string"],
        ),
        // allow and deny: each entry.
        (
            "[[site]]\nroot = \"/a\"\nallow = [\"10.0.0.0/8\", \"10.0.0.0/33\", \"localhost\"]\ndeny = 5\n",
            &[
                "ferrox.toml:3:24: site[0].allow[1]: allow entry \"10.0.0.0/33\": not an address like \
                 10.1.2.3 or ::1, or a CIDR block like 10.0.0.0/8 or 2001:db8::/32",
                "ferrox.toml:3:39: site[0].allow[2]: allow entry \"localhost\": not an address like \
                 10.1.2.3 or ::1, or a CIDR block like 10.0.0.0/8 or 2001:db8::/32",
                "ferrox.toml:4:8: site[0].deny: expected an array of addresses and CIDR blocks such as \
                 \"10.0.0.0/8\", found an integer",
            ],
        ),
        (
            "[[site]]\nroot = \"/a\"\ndeny = \"::1/200\"\n",
            &["ferrox.toml:3:8: site[0].deny: deny entry \"::1/200\": not an address like 10.1.2.3 or \
               ::1, or a CIDR block like 10.0.0.0/8 or 2001:db8::/32"],
        ),
    ];
    assert_problems(cases);
}

/// `[[site.route]]`: every key's problems at the key, `site[0].route[N].…`.
#[test]
fn route_problem_table() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[[site]]\nroot = \"/a\"\nroute = \"/old/** -> /new\"\n",
            &["ferrox.toml:3:9: site[0].route: expected an array of tables ([[site.route]]), found a string"],
        ),
        (
            "[[site]]\nroot = \"/a\"\nroute = [\"/old/**\", { path = \"/x\" }]\n",
            &["ferrox.toml:3:10: site[0].route[0]: expected a table, found a string"],
        ),
        // path: required, a string from /, a glob that compiles.
        (
            "[[site]]\nroot = \"/a\"\n\n[[site.route]]\nspa = true\n\n[[site.route]]\npath = 7\n\n\
             [[site.route]]\npath = \"admin/**\"\n\n[[site.route]]\npath = \"/a**\"\n\n[[site.route]]\npath = \"/[ab\"\n",
            &[
                "ferrox.toml:4:1: site[0].route[0]: missing key 'path' (the glob it matches, such as \"/admin/**\")",
                "ferrox.toml:8:8: site[0].route[1].path: expected a glob such as \"/admin/**\" (a string), found an integer",
                "ferrox.toml:11:8: site[0].route[2].path: 'admin/**': a route path starts with '/', as request paths do",
                "ferrox.toml:14:8: site[0].route[3].path: '/a**': ** must be a whole segment",
                "ferrox.toml:17:8: site[0].route[4].path: '/[ab': [ without ]",
            ],
        ),
        // methods: case matters; tokens; not empty.
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/api/**\"\nmethods = [\"get\", \"PURGE\", \"NO PE\"]\n\
             [[site.route]]\npath = \"/b\"\nmethods = []\n[[site.route]]\npath = \"/c\"\nmethods = 1\n",
            &[
                "ferrox.toml:5:12: site[0].route[0].methods[0]: 'get': methods are case-sensitive; did you mean 'GET'?",
                "ferrox.toml:5:28: site[0].route[0].methods[2]: 'NO PE' is not a method (a token such as GET)",
                "ferrox.toml:8:11: site[0].route[1].methods: an empty list matches no request; leave methods out for every method",
                "ferrox.toml:11:11: site[0].route[2].methods: expected an array of methods such as [\"GET\", \"POST\"], found an integer",
            ],
        ),
        // One action a route (`spa = false` is none): the second and the
        // third are reported.
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/x\"\nrewrite = \"/y\"\nspa = false\n\
             respond = { status = 410 }\ntry_files = \"{path}\"\n",
            &[
                "ferrox.toml:7:1: site[0].route[0].respond: a route has one action, and this one has rewrite",
                "ferrox.toml:8:1: site[0].route[0].try_files: a route has one action, and this one has rewrite",
            ],
        ),
        // redirect: a table with `to`; statuses of redirects only; templates
        // whose placeholders exist and whose captures the glob has.
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/a\"\nredirect = \"https://example.com\"\n\
             [[site.route]]\npath = \"/b\"\nredirect = { status = 301 }\n\
             [[site.route]]\npath = \"/c\"\nredirect = { to = \"/x\", status = 300, code = 1 }\n\
             [[site.route]]\npath = \"/d\"\nredirect = { to = \"/x\", status = \"301\" }\n",
            &[
                "ferrox.toml:5:12: site[0].route[0].redirect: expected a table such as { to = \
                 \"https://example.com{path}\", status = 308 }, found a string",
                "ferrox.toml:8:12: site[0].route[1].redirect: missing key 'to' (the target, such as \
                 \"https://example.com{path}\")",
                "ferrox.toml:11:34: site[0].route[2].redirect.status: expected 301, 302, 303, 307 or \
                 308, found 300",
                "ferrox.toml:11:39: site[0].route[2].redirect.code: unknown key; expected one of: to, status",
                "ferrox.toml:14:34: site[0].route[3].redirect.status: expected 301, 302, 303, 307 or \
                 308, found a string",
            ],
        ),
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/a/*\"\nredirect = { to = \"https://example.com/{2}\" }\n\
             [[site.route]]\npath = \"/b\"\nredirect = { to = \"/{nope}\" }\n\
             [[site.route]]\npath = \"/c\"\nredirect = { to = \" \" }\n\
             [[site.route]]\npath = \"/d\"\nredirect = { to = \"https://exämple.com/\" }\n",
            &[
                "ferrox.toml:5:19: site[0].route[0].redirect.to: {2}: the glob '/a/*' has 1 \
                 capture(s) (one per * and **)",
                "ferrox.toml:8:19: site[0].route[1].redirect.to: '/{nope}': unknown placeholder \
                 {nope} (use {path}, {query}, {uri}, {host}, {1}, {2}…)",
                "ferrox.toml:11:19: site[0].route[2].redirect.to: empty target",
                "ferrox.toml:14:19: site[0].route[3].redirect.to: \"https://exämple.com/\" cannot be \
                 a Location field: write it in ASCII (percent-encoded), without control characters",
            ],
        ),
        // rewrite and try_files: paths of the site; nothing after =CODE.
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/a\"\nrewrite = \"index.html\"\n\
             [[site.route]]\npath = \"/b/**\"\nrewrite = \"/{1}/{2}\"\n\
             [[site.route]]\npath = \"/c\"\nrewrite = \"/{path\"\n",
            &[
                "ferrox.toml:5:11: site[0].route[0].rewrite: 'index.html': a path of this site \
                 starts with '/' or {path}",
                "ferrox.toml:8:11: site[0].route[1].rewrite: {2}: the glob '/b/**' has 1 capture(s) \
                 (one per * and **)",
                "ferrox.toml:11:11: site[0].route[2].rewrite: '/{path': { without }",
            ],
        ),
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/a/*\"\n\
             try_files = [\"{path}\", \"x.html\", \"/{1}.html\", \"=301\", \"=404\", \"/last\"]\n\
             [[site.route]]\npath = \"/b\"\ntry_files = []\n\
             [[site.route]]\npath = \"/c/*\"\ntry_files = [\"/{1}.html\", \"/{2}.html\"]\n",
            &[
                "ferrox.toml:5:24: site[0].route[0].try_files[1]: 'x.html': a path of this site \
                 starts with '/' or {path}",
                "ferrox.toml:5:47: site[0].route[0].try_files[3]: '=301': expected =CODE such as =404",
                "ferrox.toml:5:63: site[0].route[0].try_files[5]: never tried: '=404' before it always answers",
                "ferrox.toml:8:13: site[0].route[1].try_files: an empty list: give the paths to try, \
                 such as [\"{path}\", \"=404\"]",
                "ferrox.toml:11:27: site[0].route[2].try_files[1]: {2}: the glob '/c/*' has 1 \
                 capture(s) (one per * and **)",
            ],
        ),
        // spa and respond.
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/a\"\nspa = \"yes\"\n\
             [[site.route]]\npath = \"/b\"\nrespond = { body = \"Gone\" }\n\
             [[site.route]]\npath = \"/c\"\nrespond = { status = 101, body = 5, type = \"text\" }\n\
             [[site.route]]\npath = \"/d\"\nrespond = { status = 204, body = \"nothing\" }\n",
            &[
                "ferrox.toml:5:7: site[0].route[0].spa: expected true or false, found a string",
                "ferrox.toml:8:11: site[0].route[1].respond: missing key 'status' (such as 410)",
                "ferrox.toml:11:22: site[0].route[2].respond.status: must be at least 200, found 101",
                "ferrox.toml:11:34: site[0].route[2].respond.body: expected a body (a string), found an integer",
                "ferrox.toml:11:37: site[0].route[2].respond.type: unknown key; expected one of: status, body",
                "ferrox.toml:14:34: site[0].route[3].respond.body: a 204 answer has no body",
            ],
        ),
        // Unknown keys: a suggestion, or the table the key belongs in.
        (
            "[[site]]\nroot = \"/a\"\nredirect = { to = \"/x\" }\n[[site.route]]\npath = \"/a\"\nmetods = [\"GET\"]\n\
             root = \"/b\"\ncolour = 1\n",
            &[
                "ferrox.toml:3:1: site[0].redirect: unknown key; it belongs under [[site.route]]",
                "ferrox.toml:6:1: site[0].route[0].metods: unknown key; did you mean 'methods'?",
                "ferrox.toml:7:1: site[0].route[0].root: unknown key; it belongs under [[site]], not in a route",
                "ferrox.toml:8:1: site[0].route[0].colour: unknown key; expected one of: path, methods, \
                 redirect, rewrite, try_files, spa, respond, headers, security_headers, cors, auth, \
                 allow, deny",
            ],
        ),
        // A route's modifiers are checked as a site's are.
        (
            "[[site]]\nroot = \"/a\"\n[[site.route]]\npath = \"/api/**\"\n\
             cors = { origins = \"*\", methods = \"*\", credentials = true }\nallow = [\"10.0.0.0/8\", \"x\"]\n\
             [site.route.headers]\nremove = \"Connection\"\n",
            &[
                "ferrox.toml:5:54: site[0].route[0].cors.credentials: origins \"*\" (any origin) \
                 cannot be used with credentials = true: browsers ignore a wildcard on credentialed \
                 requests (Fetch standard); list them instead",
                "ferrox.toml:6:24: site[0].route[0].allow[1]: allow entry \"x\": not an address like \
                 10.1.2.3 or ::1, or a CIDR block like 10.0.0.0/8 or 2001:db8::/32",
                "ferrox.toml:8:10: site[0].route[0].headers.remove: header \"Connection\": cannot be \
                 removed by configuration: the engines manage connections, and HTTP/2 forbids it",
            ],
        ),
    ];
    assert_problems(cases);
}

/// What a site and its routes serve with: the security preset under the
/// site's own headers (with HSTS only on tls), and each key a route sets
/// replacing the site's value of that key alone.
#[test]
fn route_keys_replace_the_sites_key_by_key() {
    let text = r#"
[[site]]
root = "/srv"
headers = { set = { "X-Frame-Options" = "DENY" }, remove = ["Content-Security-Policy"] }
security_headers = true
cors = { origins = ["https://app.example.com"] }
auth = { realm = "site", users = { alice = "HASH" } }
allow = ["10.0.0.0/8"]
deny = ["10.9.0.0/16"]

[[site.route]]
path = "/plain/**"

[[site.route]]
path = "/own-headers/**"
headers = { set = { "Cache-Control" = "no-store" } }
allow = []

[[site.route]]
path = "/no-preset/**"
security_headers = false
deny = ["10.1.0.0/16"]
auth = { realm = "route", users = { bob = "HASH" } }
cors = { origins = "*" }
"#
    .replace("HASH", HASH);
    let config = parse(Path::new("ferrox.toml"), &text).unwrap();
    let site = &config.sites[0];
    let printed = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let own = HeaderRules::new(
        &pairs(&[("X-Frame-Options", "DENY")]),
        &[],
        &strings(&["Content-Security-Policy"]),
    )
    .unwrap();
    let access =
        |allow: &[&str], deny: &[&str]| AccessRules::new(&strings(allow), &strings(deny)).unwrap();

    for tls in [false, true] {
        let modifiers = site.modifiers.site_modifiers(tls).unwrap();
        let preset = HeaderRules::security(tls).merged(&own);
        assert_eq!(printed(&modifiers.headers), printed(&Some(preset)));
        // The site removes the preset's CSP; HSTS only with tls.
        let headers = printed(&modifiers.headers);
        assert!(
            !headers.contains("content-security-policy\", ["),
            "{headers}"
        );
        assert_eq!(
            headers.contains("strict-transport-security"),
            tls,
            "{headers}"
        );
        assert_eq!(
            printed(&modifiers.access),
            printed(&Some(access(&["10.0.0.0/8"], &["10.9.0.0/16"])))
        );
        assert!(modifiers.cors.is_some() && modifiers.auth.is_some());
    }

    let routes = site.routes.as_deref().unwrap();
    let of = |i: usize| {
        let route: &Route<ModifierKeys> = &routes[i];
        route
            .modifiers
            .route_modifiers(&site.modifiers, true)
            .unwrap()
    };
    // No key of its own: every field falls back to the site's.
    let plain = of(0);
    assert!(plain.is_empty(), "{plain:?}");
    // Its headers over the preset (the site's own headers are replaced);
    // an empty allow list over the site's, the site's deny kept.
    let own_headers = of(1);
    let route_own = HeaderRules::new(&pairs(&[("Cache-Control", "no-store")]), &[], &[]).unwrap();
    assert_eq!(
        printed(&own_headers.headers),
        printed(&Some(HeaderRules::security(true).merged(&route_own)))
    );
    assert_eq!(
        printed(&own_headers.access),
        printed(&Some(access(&[], &["10.9.0.0/16"])))
    );
    assert!(own_headers.cors.is_none() && own_headers.auth.is_none());
    // The preset off: the site's own headers alone; its own deny with the
    // site's allow; its own auth and CORS.
    let no_preset = of(2);
    assert_eq!(printed(&no_preset.headers), printed(&Some(own.clone())));
    assert_eq!(
        printed(&no_preset.access),
        printed(&Some(access(&["10.0.0.0/8"], &["10.1.0.0/16"])))
    );
    let auth = printed(&no_preset.auth);
    assert!(
        auth.contains("realm: \"route\"") && auth.contains("[\"bob\"]"),
        "{auth}"
    );
    assert_eq!(
        printed(&no_preset.cors),
        printed(&Some(Cors::new(any_origin()).unwrap()))
    );
}

/// `users_file` is read relative to the folder of the file, and merged with
/// `users`; a user in both, a missing file and a bad line are problems at
/// the right keys.
#[test]
fn users_file_resolves_against_the_folder_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/htpasswd"),
        format!("# staff\nbob:{HASH}\n\ncarol:{HASH}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("conf/bad"),
        format!("bob:{HASH}\nmallory\n"),
    )
    .unwrap();
    let file = dir.path().join("conf/ferrox.toml");
    let text = |auth: &str| {
        format!(
            "[[site]]\nroot = \"/srv\"\nauth = {}\n",
            auth.replace("HASH", HASH)
        )
    };

    std::fs::write(
        &file,
        text(r#"{ users = { alice = "HASH" }, users_file = "htpasswd" }"#),
    )
    .unwrap();
    let config = load(&file).unwrap();
    let auth = format!("{:?}", config.sites[0].modifiers.auth.as_ref().unwrap());
    assert!(
        auth.contains("users: [\"alice\", \"bob\", \"carol\"]"),
        "{auth}"
    );

    let shown = |problems: Vec<Problem>| -> Vec<String> {
        let base = format!("{}/", dir.path().display());
        problems
            .iter()
            .map(|p| p.to_string().replace(&base, ""))
            .collect()
    };
    let cases: [(&str, &[&str]); 3] = [
        (
            r#"{ users = { bob = "HASH" }, users_file = "htpasswd" }"#,
            &["conf/ferrox.toml:3:26: site[0].auth.users.bob: also in users_file: give each user once"],
        ),
        (
            r#"{ users_file = "missing" }"#,
            &["conf/ferrox.toml:3:23: site[0].auth.users_file: no such file 'conf/missing'"],
        ),
        (
            r#"{ users_file = "bad" }"#,
            &["conf/ferrox.toml:3:23: site[0].auth.users_file: 'conf/bad': line 2: expected user:hash"],
        ),
    ];
    for (auth, want) in cases {
        std::fs::write(&file, text(auth)).unwrap();
        assert_eq!(shown(load(&file).unwrap_err()), want, "{auth}");
    }
}

#[test]
fn the_user_keys() {
    let config = parse(
        Path::new("ferrox.toml"),
        "[server]\nuser = \"www-data\"\nrun_as_root = true\n",
    )
    .unwrap();
    assert_eq!(config.server.user.as_deref(), Some("www-data"));
    assert_eq!(config.server.run_as_root, Some(true));
    assert_eq!(
        problems("[server]\nuser = 33\nrun_as_root = \"no\"\n"),
        [
            "ferrox.toml:2:8: server.user: expected a user name (a string), found an integer",
            "ferrox.toml:3:15: server.run_as_root: expected true or false, found a string",
        ]
    );
}
