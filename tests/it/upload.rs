//! Sharing over real sockets against the binary: PUT and multipart uploads,
//! MKCOL, DELETE, the names and folders refused, the limits, the CSRF and
//! rebinding checks, and the refusal to start without auth.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::support::{run_in, Binary};

/// One request on a fresh connection; the whole response as text (the
/// server closes or the read times out).
fn exchange(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn put(addr: &str, path: &str, body: &[u8], extra: &str) -> String {
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    exchange(addr, &req)
}

fn status(response: &str) -> &str {
    response.get(9..12).unwrap_or("")
}

/// Names in `dir`, sorted (temporary files included).
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn upload_server(root: &std::path::Path, extra: &[&str]) -> Binary {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--upload",
        "--upload-max-size",
        "1KiB",
    ];
    args.extend_from_slice(extra);
    Binary::start(root, &args, &[])
}

#[test]
fn put_writes_the_exact_bytes_and_refuses_to_overwrite() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("in")).unwrap();
    let server = upload_server(root.path(), &[]);
    let addr = server.addr().to_string();
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let r = put(&addr, "/in/a%20b.bin", &body, "");
    assert_eq!(status(&r), "201", "{r}");
    assert!(r.contains("location: /in/a%20b.bin\r\n"), "{r}");
    assert_eq!(std::fs::read(root.path().join("in/a b.bin")).unwrap(), body);
    assert_eq!(names(&root.path().join("in")), ["a b.bin"]);
    // No overwrite without the flag.
    let r = put(&addr, "/in/a%20b.bin", b"other", "");
    assert_eq!(status(&r), "409", "{r}");
    assert_eq!(std::fs::read(root.path().join("in/a b.bin")).unwrap(), body);
    // Allow lists the methods.
    let r = exchange(
        &addr,
        format!("OPTIONS /in/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(
        r.contains("allow: GET, HEAD, OPTIONS, PUT, POST\r\n"),
        "{r}"
    );
}

#[test]
fn overwrite_replaces_with_204() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f.txt"), "old").unwrap();
    let server = upload_server(root.path(), &["--overwrite"]);
    let r = put(server.addr(), "/f.txt", b"new", "");
    assert_eq!(status(&r), "204", "{r}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("f.txt")).unwrap(),
        "new"
    );
}

#[test]
fn bad_names_are_400_and_nothing_is_written() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("in")).unwrap();
    let server = upload_server(root.path(), &[]);
    for path in [
        "/in/../x",
        "/in/a%2Fb",
        "/in/%2e%2e",
        "/in/.hidden",
        "/in/a%01b",
        "/in/a%00b",
        "/in/a%5Cb",
    ] {
        let r = put(server.addr(), path, b"x", "");
        assert_eq!(status(&r), "400", "{path}: {r}");
    }
    assert!(names(&root.path().join("in")).is_empty());
    assert_eq!(names(root.path()), ["in"]);
}

#[test]
fn a_folder_linked_outside_the_root_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
    let server = upload_server(root.path(), &[]);
    let r = put(server.addr(), "/out/x", b"x", "");
    assert!(["403", "404"].contains(&status(&r)), "{r}");
    assert!(names(outside.path()).is_empty());
}

#[test]
fn oversized_and_broken_bodies_leave_no_file() {
    let root = tempfile::tempdir().unwrap();
    let server = upload_server(root.path(), &[]);
    let addr = server.addr().to_string();
    // Declared too large: 413 before reading.
    let r = put(&addr, "/big", &vec![b'x'; 1025], "");
    assert_eq!(status(&r), "413", "{r}");
    // Chunked, found too large on the way.
    let mut req =
        format!("PUT /big HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for _ in 0..3 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b'y'; 0x200]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = exchange(&addr, &req);
    assert_eq!(status(&r), "413", "{r}");
    // A client that sends half and leaves.
    let r = exchange(
        &addr,
        format!("PUT /half HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n0123456789")
            .as_bytes(),
    );
    assert!(r.is_empty() || status(&r) == "400", "{r}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(names(root.path()).is_empty(), "{:?}", names(root.path()));
}

#[test]
fn multipart_writes_each_file_and_answers_303_or_json() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("in")).unwrap();
    let server = upload_server(root.path(), &[]);
    let addr = server.addr().to_string();
    let form = |files: &[(&str, &str)]| {
        let mut body = String::new();
        for (name, content) in files {
            body.push_str(&format!("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n{content}\r\n"));
        }
        body.push_str("--XyZ--\r\n");
        body
    };
    let body = form(&[("one.txt", "1"), ("two.txt", "22")]);
    let req = format!("POST /in/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let r = exchange(&addr, req.as_bytes());
    assert_eq!(status(&r), "303", "{r}");
    assert!(r.contains("location: /in/\r\n"), "{r}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("in/two.txt")).unwrap(),
        "22"
    );
    let body = form(&[("three.txt", "333")]);
    let req = format!("POST /in/ HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let r = exchange(&addr, req.as_bytes());
    assert_eq!(status(&r), "201", "{r}");
    assert!(
        r.ends_with(r#"[{"name":"three.txt","size":3,"url":"/in/three.txt"}]"#),
        "{r}"
    );
    // Per file: one byte over the limit, the request within its own.
    let body = form(&[("big.txt", &"b".repeat(1025))]);
    let req = format!("POST /in/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let r = exchange(&addr, req.as_bytes());
    assert_eq!(status(&r), "413", "{r}");
    assert_eq!(
        names(&root.path().join("in")),
        ["one.txt", "three.txt", "two.txt"]
    );
}

#[test]
fn cross_site_and_rebinding_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let server = upload_server(root.path(), &[]);
    let addr = server.addr().to_string();
    let r = put(&addr, "/x", b"x", "Origin: http://evil.example\r\n");
    assert_eq!(status(&r), "403", "{r}");
    let r = put(&addr, "/x", b"x", "Sec-Fetch-Site: cross-site\r\n");
    assert_eq!(status(&r), "403", "{r}");
    let r = exchange(
        &addr,
        b"PUT /x HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    );
    assert_eq!(status(&r), "403", "{r}");
    assert!(names(root.path()).is_empty());
    let r = put(&addr, "/x", b"x", &format!("Origin: http://{addr}\r\n"));
    assert_eq!(status(&r), "201", "{r}");
}

#[test]
fn start_is_refused_without_auth_where_it_is_needed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_str().unwrap();
    let out = run_in(
        root.path(),
        &[dir, "--listen", "0.0.0.0:0", "--upload"],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("needs authentication") && err.contains("--auth-file"),
        "{err}"
    );
    let out = run_in(
        root.path(),
        &[dir, "--listen", "127.0.0.1:0", "--delete"],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("delete needs authentication"), "{err}");
}

#[test]
fn mkcol_and_delete_with_auth() {
    let root = tempfile::tempdir().unwrap();
    let site = root.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let users = root.path().join("htpasswd");
    std::fs::write(&users, format!("ann:{hash}\n")).unwrap();
    let server = Binary::start(
        &site,
        &[
            "--listen",
            "127.0.0.1:0",
            "--mkdir",
            "--delete",
            "--auth-file",
            users.to_str().unwrap(),
        ],
        &[],
    );
    let addr = server.addr().to_string();
    let req = |method: &str, path: &str, auth: bool| {
        let creds = if auth {
            "Authorization: Basic YW5uOnB3\r\n"
        } else {
            ""
        };
        exchange(
            &addr,
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{creds}Connection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    assert_eq!(status(&req("MKCOL", "/new/", false)), "401");
    assert_eq!(status(&req("MKCOL", "/new/", true)), "201");
    assert!(site.join("new").is_dir());
    assert_eq!(status(&req("MKCOL", "/new/", true)), "405");
    assert_eq!(status(&req("MKCOL", "/no/such/", true)), "409");
    std::fs::write(site.join("new/f"), "x").unwrap();
    assert_eq!(status(&req("DELETE", "/new/", true)), "409");
    assert_eq!(status(&req("DELETE", "/new/f", true)), "204");
    assert_eq!(status(&req("DELETE", "/new/", true)), "204");
    assert_eq!(status(&req("DELETE", "/", true)), "403");
    assert_eq!(status(&req("DELETE", "/gone", true)), "404");
    assert!(names(&site).is_empty());
}
