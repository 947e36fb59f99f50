//! `ferrox hash-password`: a password piped in, its argon2id hash out, and
//! that hash accepted by the server's `Auth`.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use ferrox::site::auth::{Auth, AuthOptions, Verdict};
use http::HeaderValue;

use crate::support::BIN;

fn hash_password(stdin: &[u8], args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A child that exits early (a refused argument) closes the pipe: fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn check(hash: &str, user_password: &str) -> Verdict {
    let auth = Auth::new(AuthOptions {
        users: vec![("alice".into(), hash.into())],
        ..AuthOptions::default()
    })
    .unwrap();
    let token = base64::engine::general_purpose::STANDARD.encode(user_password);
    let header = HeaderValue::try_from(format!("Basic {token}")).unwrap();
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(auth.check(Some(&header), client))
}

#[test]
fn a_piped_password_gives_a_hash_that_auth_accepts() {
    let out = hash_password(b"secret\n", &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let hash = stdout.trim_end();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert_eq!(check(hash, "alice:secret"), Verdict::Allow);
    // The newline was not part of the password.
    assert_eq!(check(hash, "alice:secret\n"), Verdict::Challenge);
}

#[test]
fn crlf_ends_the_line_and_the_rest_of_stdin_is_ignored() {
    let out = hash_password(b"p:w d\r\nsecond line\n", &[]);
    assert_eq!(out.status.code(), Some(0));
    let hash = String::from_utf8(out.stdout).unwrap();
    assert_eq!(check(hash.trim_end(), "alice:p:w d"), Verdict::Allow);
}

#[test]
fn an_empty_password_exits_1() {
    for stdin in [&b""[..], b"\n", b"\r\n"] {
        let out = hash_password(stdin, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdin:?}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            stderr.trim_end(),
            "ferrox: hash-password: the password is empty"
        );
    }
}

#[test]
fn a_password_is_never_taken_from_the_command_line() {
    let out = hash_password(b"secret\n", &["secret"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_overlong_or_non_utf8_line_exits_1() {
    let mut long = vec![b'a'; 1025];
    long.push(b'\n');
    for (stdin, needle) in [
        (&long[..], "longer than 1024 bytes"),
        (b"\xff\xfe\n", "not UTF-8"),
    ] {
        let out = hash_password(stdin, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
    // The longest is accepted.
    let mut longest = vec![b'a'; 1024];
    longest.push(b'\n');
    assert_eq!(hash_password(&longest, &[]).status.code(), Some(0));
}
