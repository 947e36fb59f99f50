//! Automatic HTTPS end to end: the `ferrox` binary getting certificates from
//! Pebble on loopback (names resolved to 127.0.0.1 by the tests' DNS
//! responder), then serving files a client verifies against Pebble's root.
//! Without Pebble these tests say so and pass, except in CI (`CI=true`),
//! where they fail.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::pebble::{self, Pebble};
use crate::support::{Served, TempRoot};

const NAME: &str = "a.ferrox.test";

/// Issuance and validation take well under a second with
/// PEBBLE_VA_NOSLEEP; this is the bound.
const ISSUE_WAIT: Duration = Duration::from_secs(30);

/// A folder with `www/hello.txt`, and the ports ferrox will listen on.
struct Setup {
    dir: TempRoot,
    http: u16,
    tls: u16,
}

impl Setup {
    fn new() -> Setup {
        let dir = TempRoot::new().file("www/hello.txt", "hello over acme\n");
        Setup {
            dir,
            http: pebble::free_port(),
            tls: pebble::free_port(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.tls))
    }

    /// `ferrox.toml` with one ACME site for [`NAME`] using `tls`, plus
    /// `extra` (more sites), and `[server.acme]` pointing at `directory`.
    fn config(&self, directory: &str, ca_root: &Path, tls: &str, extra: &str) {
        let text = format!(
            r#"[server]
listen = ["127.0.0.1:{http}"]
listen_tls = ["127.0.0.1:{tls_port}"]
state_dir = "state"
log_level = "info"
idle_timeout = "120s"

[server.acme]
directory = "{directory}"
ca_root = "{ca_root}"
email = "ops@ferrox.test"
first_retry = "1s"

[[site]]
hosts = ["{NAME}"]
root = "www"
tls = {tls}
{extra}"#,
            http = self.http,
            tls_port = self.tls,
            ca_root = ca_root.display(),
        );
        std::fs::write(self.path().join("ferrox.toml"), text).unwrap();
    }

    fn start(&self) -> Served {
        Served::start(self.path(), &["--config", "ferrox.toml"], &[], 2)
    }
}

/// Waits for the certificate's installation, then GETs the file over a
/// connection verified against Pebble's root; returns the leaf.
fn served_and_verified(server: &mut Served, setup: &Setup, pebble: &Pebble) -> Vec<u8> {
    server.wait_for_within("certificate installed", ISSUE_WAIT, |l| {
        l.contains("acme: certificate for a.ferrox.test installed")
    });
    let root = pebble.root_pem();
    let (status, body, leaf) =
        pebble::https_get(setup.tls_addr(), NAME, root.as_bytes(), "/hello.txt");
    assert_eq!(status, 200);
    assert_eq!(body, b"hello over acme\n");
    leaf
}

fn issue_with(challenge: &str, log: &str) {
    let Some(bin) = pebble::find() else { return };
    let setup = Setup::new();
    let pebble = Pebble::start(&bin, setup.path(), setup.http, setup.tls, None);
    let tls = format!("{{ acme = true, challenge = \"{challenge}\" }}");
    setup.config(&pebble.directory, &pebble.listener_root, &tls, "");
    let mut server = setup.start();
    server.wait_for_within("registration", ISSUE_WAIT, |l| {
        l.contains("acme: registered an account")
    });
    server.wait_for_within("order", ISSUE_WAIT, |l| {
        l.contains("acme: ordered a certificate for a.ferrox.test")
    });
    server.wait_for_within(log, ISSUE_WAIT, |l| l.contains(log));
    server.wait_for_within("validated", ISSUE_WAIT, |l| {
        l.contains("acme: a.ferrox.test validated")
    });
    served_and_verified(&mut server, &setup, &pebble);
    // Stored privately.
    use std::os::unix::fs::PermissionsExt;
    let acme = setup.path().join("state/acme");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&acme), 0o700);
    let ca = std::fs::read_dir(&acme)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&ca.join("account.json")), 0o600);
    assert_eq!(mode(&ca.join(NAME).join("key.pem")), 0o600);
    assert_eq!(mode(&ca.join(NAME).join("cert.pem")), 0o600);
    assert_eq!(pebble.orders(), 1, "pebble:\n{}", pebble.output());
}

#[test]
fn tls_alpn_01_issuance_then_a_verified_request() {
    issue_with(
        "tls-alpn-01",
        "answered the TLS-ALPN-01 challenge for a.ferrox.test",
    );
}

#[test]
fn http_01_issuance_answered_before_the_redirect() {
    // The site redirects plain HTTP to https: the challenge is answered first.
    issue_with("http-01", "answered the HTTP-01 challenge");
}

#[test]
fn a_restart_reuses_the_stored_certificate() {
    let Some(bin) = pebble::find() else { return };
    let setup = Setup::new();
    let pebble = Pebble::start(&bin, setup.path(), setup.http, setup.tls, None);
    setup.config(&pebble.directory, &pebble.listener_root, "\"acme\"", "");
    let mut first = setup.start();
    let leaf = served_and_verified(&mut first, &setup, &pebble);
    drop(first);
    let mut again = setup.start();
    let reused = again.wait_for("reuse", |l| {
        l.contains("acme: reusing the stored certificate for a.ferrox.test")
    });
    assert!(again.startup.len() == 2, "{reused}");
    again.wait_for("next renewal", |l| {
        l.contains("acme: next renewal of a.ferrox.test at")
    });
    let root = pebble.root_pem();
    let (status, _, now) = pebble::https_get(setup.tls_addr(), NAME, root.as_bytes(), "/hello.txt");
    assert_eq!(status, 200);
    assert_eq!(now, leaf, "the same certificate");
    assert_eq!(
        pebble.orders(),
        1,
        "no second order; pebble:\n{}",
        pebble.output()
    );
    assert!(
        !again
            .log
            .iter()
            .any(|l| l.contains("ordered a certificate")),
        "{}",
        again.log.join("\n")
    );
}

#[test]
fn a_short_lived_certificate_is_renewed_under_a_keep_alive_client() {
    let Some(bin) = pebble::find() else { return };
    let setup = Setup::new();
    // 30 s of validity: renewed 20 s after it starts.
    let validity = Duration::from_secs(30);
    let pebble = Pebble::start(&bin, setup.path(), setup.http, setup.tls, Some(validity));
    setup.config(&pebble.directory, &pebble.listener_root, "\"acme\"", "");
    let mut server = setup.start();
    let first = served_and_verified(&mut server, &setup, &pebble);
    let root = pebble.root_pem();
    let mut kept = pebble::connect(
        setup.tls_addr(),
        NAME,
        pebble::client_trusting(root.as_bytes()),
    )
    .unwrap();
    // The client keeps asking on one connection while the certificate is
    // renewed and swapped in, and after.
    let deadline = std::time::Instant::now() + validity;
    let installed = |l: &str| l.contains("acme: certificate for a.ferrox.test installed");
    while server.poll_for(Duration::from_secs(1), installed).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no renewal:\n{}",
            server.log.join("\n")
        );
        assert_eq!(pebble::get(&mut kept, NAME, "/hello.txt").0, 200);
    }
    assert_eq!(pebble::get(&mut kept, NAME, "/hello.txt").0, 200);
    let (status, _, renewed) =
        pebble::https_get(setup.tls_addr(), NAME, root.as_bytes(), "/hello.txt");
    assert_eq!(status, 200);
    assert_ne!(renewed, first, "a new certificate");
    assert_eq!(pebble.orders(), 2, "pebble:\n{}", pebble.output());
}

#[test]
fn a_reload_adds_and_removes_acme_names() {
    let Some(bin) = pebble::find() else { return };
    let setup = Setup::new();
    let pebble = Pebble::start(&bin, setup.path(), setup.http, setup.tls, None);
    setup.config(&pebble.directory, &pebble.listener_root, "\"acme\"", "");
    let mut server = setup.start();
    served_and_verified(&mut server, &setup, &pebble);
    let second = r#"
[[site]]
hosts = ["b.ferrox.test"]
root = "www"
tls = "acme"
"#;
    setup.config(&pebble.directory, &pebble.listener_root, "\"acme\"", second);
    server.signal("-HUP");
    server.wait_for_within("b installed", ISSUE_WAIT, |l| {
        l.contains("acme: certificate for b.ferrox.test installed")
    });
    let root = pebble.root_pem();
    let (status, _, _) = pebble::https_get(
        setup.tls_addr(),
        "b.ferrox.test",
        root.as_bytes(),
        "/hello.txt",
    );
    assert_eq!(status, 200);
    // Back to one site: b's renewal stops.
    setup.config(&pebble.directory, &pebble.listener_root, "\"acme\"", "");
    server.signal("-HUP");
    server.wait_for("b stopped", |l| {
        l.contains("acme: stopped renewing the certificate for b.ferrox.test")
    });
}

/// Pebble stopped: each failure is logged with the next try, tries back
/// off, the ACME site refuses its handshakes (logged), the other sites serve.
#[test]
fn a_ca_that_does_not_answer_is_retried_while_other_sites_serve() {
    let setup = Setup::new();
    // Nothing listens at this directory.
    let directory = format!("https://127.0.0.1:{}/dir", pebble::free_port());
    let root = crate::support::tls::cert(&["localhost"]);
    std::fs::write(setup.path().join("root.pem"), &root.cert_pem).unwrap();
    let other = r#"
[[site]]
hosts = ["b.ferrox.test"]
root = "www"
default = true
tls = { self_signed = true }
"#;
    setup.config(
        &directory,
        &setup.path().join("root.pem"),
        "\"acme\"",
        other,
    );
    let mut server = setup.start();
    let first = server.wait_for("a failure", |l| {
        l.contains("acme: cannot get a certificate for a.ferrox.test") && l.contains("attempt 1")
    });
    assert!(first.contains("next try in"), "{first}");
    let second = server.wait_for("a second failure", |l| {
        l.contains("acme: cannot get a certificate for a.ferrox.test") && l.contains("attempt 2")
    });
    assert!(second.contains("next try in"), "{second}");
    // The ACME site's handshakes fail with an alert, and say why.
    let trust_anything = crate::support::tls::client_config(&[b"http/1.1"]);
    let refused = pebble::connect(setup.tls_addr(), NAME, trust_anything.clone());
    assert!(refused.is_err(), "a handshake without a certificate");
    server.wait_for("the refusal", |l| {
        l.contains("acme: no certificate yet for a.ferrox.test: handshake refused")
    });
    // The other site serves, over TLS and plain HTTP.
    let mut b = pebble::connect(setup.tls_addr(), "b.ferrox.test", trust_anything).unwrap();
    assert_eq!(pebble::get(&mut b, "b.ferrox.test", "/hello.txt").0, 200);
}

#[test]
fn a_state_folder_open_to_others_is_reported_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let root = crate::support::tls::cert(&["localhost"]);
    std::fs::write(setup.path().join("root.pem"), &root.cert_pem).unwrap();
    setup.config(
        "https://127.0.0.1:9/dir",
        &setup.path().join("root.pem"),
        "\"acme\"",
        "",
    );
    let acme = setup.path().join("state/acme");
    std::fs::create_dir_all(&acme).unwrap();
    std::fs::set_permissions(&acme, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = crate::support::run_in(setup.path(), &["--config", "ferrox.toml"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("site[0].tls:") && stderr.contains("is open to other users (mode 0755)"),
        "{stderr}"
    );
}

/// The configuration `argv` (after `ferrox`) loads.
fn load(argv: &[&str]) -> Result<ferrox::config::Config, String> {
    use clap::{CommandFactory, FromArgMatches};
    use ferrox::config::{self, Args, Explicit};
    let argv = std::iter::once("ferrox").chain(argv.iter().copied());
    let matches = Args::command()
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    let args = Args::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    config::load(&args, &Explicit::from_matches(&matches)).map_err(|e| e.to_string())
}

#[test]
fn domain_serves_https_on_443_redirects_80_and_the_acme_flags_fill_the_options() {
    use ferrox::server::acme::Challenge;
    use ferrox::server::sites::SiteTls;
    let root = TempRoot::new().file("a.txt", "x");
    let dir = root.path().to_str().unwrap();
    let config = load(&[
        dir,
        "--domain",
        "example.com",
        "--domain",
        "www.example.com",
        "--acme-email",
        "ops@example.com",
        "--acme-directory",
        "https://acme.test/directory",
        "--acme-ca-root",
        "/etc/ferrox/test-ca.pem",
    ])
    .unwrap();
    let plan = &config.plan;
    assert_eq!(
        plan.listen_tls,
        ["0.0.0.0:443".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(plan.listen, ["0.0.0.0:80".parse::<SocketAddr>().unwrap()]);
    let site = &plan.sites[0];
    assert_eq!(site.spec.hosts, ["example.com", "www.example.com"]);
    assert!(matches!(site.tls, Some(SiteTls::Acme(Challenge::Any))));
    assert_eq!(site.spec.https_redirect, Some(443));
    assert_eq!(config.acme.directory, "https://acme.test/directory");
    assert_eq!(config.acme.email.as_deref(), Some("ops@example.com"));
    assert_eq!(
        config.acme.ca_root.as_deref(),
        Some(Path::new("/etc/ferrox/test-ca.pem"))
    );

    // --listen and --redirect-http move them.
    let config = load(&[
        dir,
        "--domain",
        "example.com",
        "-l",
        "127.0.0.1:8443",
        "--redirect-http",
        "127.0.0.1:8080",
    ])
    .unwrap();
    assert_eq!(
        config.plan.listen_tls,
        ["127.0.0.1:8443".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        config.plan.listen,
        ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
    );

    // Bad values are refused with the flag named.
    for (argv, needle) in [
        (vec![dir, "--domain", "*.example.com"], "--domain"),
        (vec![dir, "--domain", "192.0.2.7"], "--domain"),
        (
            vec![
                dir,
                "--domain",
                "example.com",
                "--acme-directory",
                "http://plain.test/dir",
            ],
            "--acme-directory",
        ),
        (
            vec![dir, "--domain", "example.com", "--acme-email", "nobody"],
            "--acme-email",
        ),
    ] {
        let err = load(&argv).unwrap_err();
        assert!(err.contains(needle), "{argv:?}: {err}");
    }
}

/// A validation the CA refuses is logged with its problem document, and
/// retried with a growing wait, while the site's handshakes are refused.
#[test]
fn a_failed_validation_is_logged_with_the_problem_and_retried() {
    let Some(bin) = pebble::find() else { return };
    let setup = Setup::new();
    // Pebble validates HTTP-01 on a port where nothing listens.
    let nowhere = pebble::free_port();
    let pebble = Pebble::start(&bin, setup.path(), nowhere, setup.tls, None);
    setup.config(
        &pebble.directory,
        &pebble.listener_root,
        "{ acme = true, challenge = \"http-01\" }",
        "",
    );
    let mut server = setup.start();
    let first = server.wait_for_within("a refused validation", ISSUE_WAIT, |l| {
        l.contains("acme: cannot get a certificate for a.ferrox.test") && l.contains("attempt 1")
    });
    // The CA's problem document: what it saw, and its type.
    assert!(first.contains("connection refused"), "{first}");
    assert!(
        first.contains("urn:ietf:params:acme:error:connection"),
        "{first}"
    );
    assert!(first.contains("next try in"), "{first}");
    server.wait_for_within("a second attempt", ISSUE_WAIT, |l| {
        l.contains("acme: cannot get a certificate for a.ferrox.test") && l.contains("attempt 2")
    });
}
