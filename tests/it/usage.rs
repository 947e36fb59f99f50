//! What the command line says to its user: clap's whole message on a usage
//! error, a `FERROX_*` variable named when it is at fault, a mistyped
//! subcommand suggested, grouped help, completions, the man page, and one test
//! per documented exit status.

use std::path::Path;
use std::process::Output;

use crate::support::{run_in, Binary, TempRoot};

/// The documented exit statuses (`--help`, README).
const OK: i32 = 0;
const FAILED: i32 = 1;
const USAGE: i32 = 2;

/// Runs `ferrox ARGS` in `dir` with only `env` of the `FERROX_*` variables;
/// checks the status and returns stdout and stderr.
#[track_caller]
fn exits(dir: &Path, args: &[&str], env: &[(&str, &str)], code: i32) -> (String, String) {
    let out: Output = run_in(dir, args, env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "ferrox {args:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Exactly `expected` on stderr (and nothing on stdout), status 2.
#[track_caller]
fn usage_error(dir: &Path, args: &[&str], env: &[(&str, &str)], expected: &str) {
    let (stdout, stderr) = exits(dir, args, env, USAGE);
    assert_eq!(stdout, "", "ferrox {args:?}: stdout");
    assert_eq!(
        stderr, expected,
        "ferrox {args:?}\n--- got:\n{stderr}\n--- expected:\n{expected}"
    );
}

#[test]
fn a_missing_argument_is_named_with_the_usage() {
    let dir = TempRoot::new();
    usage_error(
        dir.path(),
        &["precompress"],
        &[],
        "error: the following required arguments were not provided:
  <ROOT>

Usage: ferrox precompress <ROOT>

For more information, try '--help'.
",
    );
}

#[test]
fn an_invalid_choice_lists_the_valid_ones() {
    let dir = TempRoot::new();
    usage_error(
        dir.path(),
        &["--log-format", "apache"],
        &[],
        "error: invalid value 'apache' for '--log-format <LOG_FORMAT>'
  [possible values: combined, common, json, vhost-combined]

For more information, try '--help'.
",
    );
}

#[test]
fn a_mistyped_flag_gets_a_suggestion() {
    let dir = TempRoot::new();
    usage_error(
        dir.path(),
        &["--prot", "80"],
        &[],
        "error: unexpected argument '--prot' found

  tip: a similar argument exists: '--port'

Usage: ferrox --port <PORT> [ROOT]

For more information, try '--help'.
",
    );
}

#[test]
fn a_mistyped_subcommand_is_suggested_not_served() {
    let dir = TempRoot::new();
    let expected = "error: unrecognized subcommand 'precompres'

  tip: a similar subcommand exists: 'precompress'

Usage: ferrox [OPTIONS] [ROOT]
       ferrox <COMMAND>

For more information, try '--help'.
";
    // With a folder after it (clap's own error would be about './docs'), and
    // alone (it would be read as a ROOT that is not there).
    usage_error(dir.path(), &["precompres", "./docs"], &[], expected);
    usage_error(dir.path(), &["precompres"], &[], expected);
    let (_, stderr) = exits(dir.path(), &["chek", "ferrox.toml"], &[], USAGE);
    assert!(
        stderr.contains("tip: a similar subcommand exists: 'check'"),
        "{stderr}"
    );
}

#[test]
fn a_folder_named_like_a_subcommand_is_still_served() {
    let dir = TempRoot::new().file("precompres/a.txt", "a");
    let mut running = Binary::start(&dir.path().join("precompres"), &["-l", "127.0.0.1:0"], &[]);
    let body = ureq::get(&format!("{}/a.txt", running.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(body, "a");
    running.signal("-TERM");
    assert_eq!(running.child.wait().unwrap().code(), Some(OK));
}

#[test]
fn a_bad_variable_is_named_not_its_flag() {
    let dir = TempRoot::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "FERROX_PORT",
            "abc",
            "ferrox: FERROX_PORT=abc: invalid value for --port: expected a port number from 0 to 65535\n",
        ),
        (
            "FERROX_LOG_FORMAT",
            "apache",
            "ferrox: FERROX_LOG_FORMAT=apache: invalid value for --log-format: expected one of combined, common, json, vhost-combined\n",
        ),
        (
            "FERROX_LISTEN",
            "127.0.0.1:0,nowhere",
            "ferrox: FERROX_LISTEN=127.0.0.1:0,nowhere: invalid value 'nowhere' for --listen: expected ADDR:PORT such as 127.0.0.1:8080 or [::1]:8080, got 'nowhere'\n",
        ),
        (
            "FERROX_LOG_LEVEL",
            "loud",
            "ferrox: FERROX_LOG_LEVEL=loud: invalid value for --log-level: 'loud' is neither a level (off, error, warn, info, debug, trace) nor a TARGET=LEVEL directive\n",
        ),
    ];
    for (var, value, expected) in cases {
        usage_error(dir.path(), &[], &[(var, value)], expected);
    }
    // A variable whose flag conflicts with one on the command line.
    usage_error(
        dir.path(),
        &["-l", "127.0.0.1:0"],
        &[("FERROX_PORT", "8000")],
        "ferrox: FERROX_PORT=8000: --port cannot be used with --listen <ADDR:PORT>\n",
    );
}

#[test]
fn a_flag_beats_its_bad_variable_and_takes_the_blame_itself() {
    let dir = TempRoot::new();
    // The command line's value is used, so the variable's does not matter.
    let (_, stderr) = exits(
        dir.path(),
        &["/definitely/not/here", "-p", "0"],
        &[("FERROX_PORT", "abc")],
        USAGE,
    );
    assert_eq!(
        stderr,
        "ferrox: ROOT: '/definitely/not/here': no such folder\n"
    );
    usage_error(
        dir.path(),
        &["-p", "80x"],
        &[("FERROX_PORT", "abc")],
        "error: invalid value '80x' for '--port <PORT>': expected a port number from 0 to 65535

For more information, try '--help'.
",
    );
}

#[test]
fn a_log_level_that_would_hide_everything_is_refused() {
    let dir = TempRoot::new();
    usage_error(
        dir.path(),
        &["--log-level", "loud"],
        &[],
        "error: invalid value 'loud' for '--log-level <LEVEL>': 'loud' is neither a level (off, error, warn, info, debug, trace) nor a TARGET=LEVEL directive

For more information, try '--help'.
",
    );
    let (_, stderr) = exits(dir.path(), &["--log-level", "info,ferrox=loud"], &[], USAGE);
    assert!(
        stderr.starts_with("error: invalid value 'info,ferrox=loud' for '--log-level <LEVEL>': "),
        "{stderr}"
    );
    // A level or a filter is fine (checked without serving).
    let dir = dir.file("ferrox.toml", "");
    for level in ["debug", "warn,ferrox::server=trace"] {
        exits(dir.path(), &["check"], &[("FERROX_LOG_LEVEL", level)], OK);
    }
}

#[test]
fn a_subcommand_after_a_flag_is_not_taken_for_a_folder() {
    let dir = TempRoot::new();
    usage_error(
        dir.path(),
        &["-q", "check"],
        &[],
        "error: the subcommand 'check' cannot be used with:
  --quiet

  tip: a subcommand comes first, its own flags after it: 'ferrox check --help'

Usage: ferrox [OPTIONS] [ROOT]
       ferrox <COMMAND>

For more information, try '--help'.
",
    );
}

#[test]
fn a_root_problem_is_said_once() {
    let dir = TempRoot::new().file("file.txt", "x");
    let cases = [
        (
            "/definitely/not/here",
            "ferrox: ROOT: '/definitely/not/here': no such folder\n".to_string(),
        ),
        (
            "file.txt",
            "ferrox: ROOT: 'file.txt' is not a folder\n".to_string(),
        ),
    ];
    for (root, expected) in cases {
        usage_error(dir.path(), &[root], &[], &expected);
    }
}

#[test]
fn an_unsearchable_root_is_said_once() {
    let is_root = rustix::process::geteuid().is_root();
    if !is_root || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("not root or no setpriv: skipped");
        return;
    }
    let dir = TempRoot::new().file("locked/a.txt", "x");
    let locked = dir.path().join("locked");
    let root = locked.to_str().unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::support::BIN)
        .args([root, "-p", "0"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("ferrox: ROOT: '{root}': permission denied\n")
    );
}

#[test]
fn help_is_grouped_and_short_help_is_shorter() {
    let dir = TempRoot::new();
    let (long, _) = exits(dir.path(), &["--help"], &[], OK);
    let (short, _) = exits(dir.path(), &["-h"], &[], OK);
    let headings = [
        "Serving:",
        "Files:",
        "Caching:",
        "Compression:",
        "TLS:",
        "Limits:",
        "Logging:",
    ];
    for help in [&long, &short] {
        let at: Vec<usize> = headings
            .iter()
            .map(|h| {
                help.lines()
                    .position(|l| l == *h)
                    .unwrap_or_else(|| panic!("no heading {h:?} in\n{help}"))
            })
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "headings out of order");
        // Wrapped to the terminal's width: compare words.
        let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for default in [
            "[default: 127.0.0.1:8080, with TLS 127.0.0.1:8443]",
            "[default: 10s]",
        ] {
            assert!(words.contains(default), "no {default} in\n{help}");
        }
    }
    // The variables and the long explanations only in --help.
    assert!(long.contains("[env: FERROX_LISTEN=]"), "{long}");
    assert!(!short.contains("[env: "), "{short}");
    assert!(long.contains("SO_REUSEPORT"), "{long}");
    assert!(!short.contains("SO_REUSEPORT"), "{short}");
    assert!(short.lines().count() * 2 < long.lines().count(), "{short}");
    assert!(short.contains("Examples:\n  ferrox  "), "{short}");
    // The exit statuses, as this file tests them.
    for line in [
        "Exit status:",
        "  0  Stopped cleanly (SIGINT, SIGTERM), or a tool succeeded",
        "  1  Could not start or failed: an address in use, a problem in the configuration",
        "  2  Bad command line or environment: an unknown flag or subcommand, an invalid",
    ] {
        assert!(long.lines().any(|l| l == line), "{line:?} not in\n{long}");
    }
}

#[test]
fn completions_for_every_shell() {
    let dir = TempRoot::new();
    for (shell, marker) in [
        ("bash", "_ferrox()"),
        ("zsh", "#compdef ferrox"),
        ("fish", "complete -c ferrox"),
        ("elvish", "edit:completion:arg-completer[ferrox]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (script, stderr) = exits(dir.path(), &["completions", shell], &[], OK);
        assert_eq!(stderr, "", "{shell}");
        assert!(
            script.contains(marker),
            "{shell}: no {marker:?} in\n{script}"
        );
        assert!(script.contains("max-body-size"), "{shell}: flags missing");
    }
    let (_, stderr) = exits(dir.path(), &["completions", "tcsh"], &[], USAGE);
    assert!(
        stderr.starts_with(
            "error: invalid value 'tcsh' for '<SHELL>'\n  [possible values: bash, elvish, fish, powershell, zsh]\n"
        ),
        "{stderr}"
    );
}

#[test]
fn the_man_page_is_roff_with_the_subcommands() {
    let dir = TempRoot::new();
    let (page, stderr) = exits(dir.path(), &["man"], &[], OK);
    assert_eq!(stderr, "");
    assert!(page.starts_with(".ie \\n(.g .ds Aq \\(aq"), "{page}");
    assert!(page.contains(".TH ferrox 1"), "{page}");
    for text in [
        "precompress",
        "completions",
        "hash\\-password",
        "\\-\\-max\\-body\\-size",
    ] {
        assert!(page.contains(text), "{text:?} not in the man page");
    }
    // The pages it refers to, ferrox-check(1) and the others.
    assert!(page.contains("ferrox\\-check(1)"), "{page}");
    let (check, _) = exits(dir.path(), &["man", "check"], &[], OK);
    assert!(check.contains(".TH ferrox-check 1"), "{check}");
}

#[test]
fn exit_0_when_check_finds_nothing_1_when_it_finds_a_problem() {
    let dir = TempRoot::new()
        .file("good.toml", "[[site]]\nroot = \".\"\n")
        .file("bad.toml", "[[site]]\nroot = \"missing\"\n");
    let (stdout, _) = exits(dir.path(), &["check", "good.toml"], &[], OK);
    assert_eq!(stdout, "good.toml: ok\n");
    let (stdout, _) = exits(dir.path(), &["check", "bad.toml"], &[], FAILED);
    assert_eq!(
        stdout,
        "bad.toml:2:8: site[0].root: 'missing': no such folder\n"
    );
}

#[test]
fn exit_1_when_the_configuration_file_is_bad() {
    let dir = TempRoot::new().file("bad.toml", "[server]\nlog_level = \"loud\"\n");
    let (_, stderr) = exits(dir.path(), &["-c", "bad.toml"], &[], FAILED);
    assert_eq!(
        stderr,
        "bad.toml:2:13: server.log_level: invalid log level 'loud': 'loud' is neither a level (off, error, warn, info, debug, trace) nor a TARGET=LEVEL directive\n"
    );
}

#[test]
fn exit_1_when_the_address_is_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempRoot::new();
    let (_, stderr) = exits(dir.path(), &["-l", &addr], &[], FAILED);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("ferrox: cannot listen on {addr}: "))
            && stderr.contains("in use"),
        "{stderr}"
    );
}

#[test]
fn exit_0_for_help_and_version() {
    let dir = TempRoot::new();
    // The binary's name, not the package's (`ferrox-web`).
    let (version, _) = exits(dir.path(), &["--version"], &[], OK);
    assert_eq!(version, format!("ferrox {}\n", env!("CARGO_PKG_VERSION")));
    exits(dir.path(), &["precompress", "--help"], &[], OK);
}
