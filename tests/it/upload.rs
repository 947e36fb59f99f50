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

// ---------------------------------------------------------------------------
// HTTP/2, real clients, a stalled client, a full disk
// ---------------------------------------------------------------------------

/// A request with `body` sent in `chunk`-sized DATA frames over h2 (the h2
/// crate queues what the window does not yet allow); the status and body of
/// the answer, or the stream's error (a reset).
async fn h2_upload(
    send: &h2::client::SendRequest<bytes::Bytes>,
    req: http::Request<()>,
    body: &[u8],
    chunk: usize,
) -> Result<(u16, Vec<u8>), h2::Error> {
    let mut send = send.clone().ready().await?;
    let (response, mut stream) = send.send_request(req, false)?;
    let mut parts = body.chunks(chunk).peekable();
    while let Some(part) = parts.next() {
        // The server may answer and reset the stream before the body is all
        // sent (413): the answer, below, says what happened.
        let end = parts.peek().is_none();
        if stream
            .send_data(bytes::Bytes::copy_from_slice(part), end)
            .is_err()
        {
            break;
        }
    }
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("h2 response in time")?;
    let (head, mut recv) = response.into_parts();
    let mut out = Vec::new();
    while let Some(data) = tokio::time::timeout(Duration::from_secs(10), recv.data())
        .await
        .expect("h2 body in time")
    {
        let data = data?;
        let _ = recv.flow_control().release_capacity(data.len());
        out.extend_from_slice(&data);
    }
    Ok((head.status.as_u16(), out))
}

/// Over h2c: a PUT of 300 KiB (more than the 64 KiB initial windows, so the
/// server must release capacity as it writes) lands with its exact bytes; a
/// second PUT of the name is 409; a multipart POST answers 201 with its JSON;
/// a body over the limit is refused (413 or a reset) and leaves no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_h2() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("in")).unwrap();
    let server = Binary::start(
        root.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--upload",
            "--upload-max-size",
            "512KiB",
        ],
        &[],
    );
    let addr: std::net::SocketAddr = server.addr().parse().unwrap();
    let (send, _conn) = super::support::h2::h2c(addr).await;
    let url = |path: &str| format!("http://{addr}{path}");
    let body = super::support::noise(300 * 1024, 7);
    let put = |path: &str| http::Request::put(url(path)).body(()).unwrap();

    let (status, _) = h2_upload(&send, put("/in/big.bin"), &body, 16 * 1024)
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(std::fs::read(root.path().join("in/big.bin")).unwrap(), body);
    let (status, _) = h2_upload(&send, put("/in/big.bin"), b"x", 1).await.unwrap();
    assert_eq!(status, 409);

    let form = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\r\nh2 form\r\n--B--\r\n";
    let post = http::Request::post(url("/in/"))
        .header("content-type", "multipart/form-data; boundary=B")
        .header("accept", "application/json")
        .body(())
        .unwrap();
    let (status, answer) = h2_upload(&send, post, form.as_bytes(), 7).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        r#"[{"name":"f.txt","size":7,"url":"/in/f.txt"}]"#
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("in/f.txt")).unwrap(),
        "h2 form"
    );

    // Over the limit, found on the way (no content-length).
    let over = super::support::noise(600 * 1024, 8);
    match h2_upload(&send, put("/in/over.bin"), &over, 16 * 1024).await {
        Ok((status, _)) => assert_eq!(status, 413),
        Err(e) => assert!(e.is_reset(), "{e}"),
    }
    // Declared over the limit.
    let declared = http::Request::put(url("/in/declared.bin"))
        .header("content-length", over.len().to_string())
        .body(())
        .unwrap();
    match h2_upload(&send, declared, &over, 16 * 1024).await {
        Ok((status, _)) => assert_eq!(status, 413),
        Err(e) => assert!(e.is_reset(), "{e}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        names(&root.path().join("in")),
        ["big.bin", "f.txt"],
        "a partial or temporary file was left"
    );
}

/// Runs curl with `args` (it exits non-zero on a failure it sees); its stdout.
fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Real clients: `curl -T` (PUT, over HTTP/1.1 with `Expect: 100-continue`
/// for a large file, and over h2c), and `curl -F file=@a -F file=@b` (a
/// multipart POST, as a browser form sends it): the files land with their
/// exact bytes and no temporary file is left.
#[test]
fn curl_put_and_form_uploads() {
    let root = tempfile::tempdir().unwrap();
    let site = root.path().join("site");
    std::fs::create_dir_all(site.join("in")).unwrap();
    let src = root.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let server = Binary::start(
        &site,
        &[
            "--listen",
            "127.0.0.1:0",
            "--upload",
            "--upload-max-size",
            "4MiB",
        ],
        &[],
    );
    let base = server.url.clone();
    let big = super::support::noise(3 << 20, 1);
    let small = super::support::noise(5000, 2);
    let binary: Vec<u8> = (0..=255u8).collect();
    for (name, bytes) in [
        ("big.bin", &big),
        ("small.bin", &small),
        ("all.bin", &binary),
    ] {
        std::fs::write(src.join(name), bytes).unwrap();
    }
    let path = |name: &str| src.join(name).to_str().unwrap().to_string();

    // `curl -T FILE URL`, with `extra` flags: the status and HTTP version.
    let put = |extra: &[&str], file: &str, url: &str| {
        let mut args = extra.to_vec();
        args.extend(["-o", "/dev/null", "-w", "%{http_code} %{http_version}"]);
        args.extend(["-T", file, url]);
        curl(&args)
    };
    // PUT to a folder URL: curl appends the file's name.
    let code = put(&[], &path("big.bin"), &format!("{base}/in/"));
    assert_eq!(code, "201 1.1");
    assert_eq!(std::fs::read(site.join("in/big.bin")).unwrap(), big);
    // Over h2c, to a chosen name.
    let url = format!("{base}/in/h2.bin");
    let code = put(&["--http2-prior-knowledge"], &path("small.bin"), &url);
    assert_eq!(code, "201 2");
    assert_eq!(std::fs::read(site.join("in/h2.bin")).unwrap(), small);

    // Two files in one form.
    let answer = curl(&[
        "-w",
        "%{http_code} %{redirect_url}",
        "-F",
        &format!("file=@{}", path("small.bin")),
        "-F",
        &format!("file=@{}", path("all.bin")),
        &format!("{base}/in/"),
    ]);
    assert_eq!(answer, format!("303 {base}/in/"));
    assert_eq!(std::fs::read(site.join("in/small.bin")).unwrap(), small);
    assert_eq!(std::fs::read(site.join("in/all.bin")).unwrap(), binary);
    // The JSON answer, as the listing page's script asks for it.
    let json = curl(&[
        "-H",
        "Accept: application/json",
        "-F",
        &format!("file=@{};filename=renamed.bin", path("all.bin")),
        &format!("{base}/in/"),
    ]);
    assert_eq!(
        json,
        r#"[{"name":"renamed.bin","size":256,"url":"/in/renamed.bin"}]"#
    );
    assert_eq!(
        names(&site.join("in")),
        ["all.bin", "big.bin", "h2.bin", "renamed.bin", "small.bin"]
    );
}

/// A client that sends half its body and then nothing: after the head
/// timeout (1 s here) it gets 408 and the connection closes; the temporary
/// file is gone and the name was never written. Bounded: 10 s at most.
#[test]
fn a_client_stalled_mid_body_gets_408_and_leaves_no_file() {
    let root = tempfile::tempdir().unwrap();
    let server = upload_server(root.path(), &["--header-timeout", "1s"]);
    let addr = server.addr().to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!("PUT /stalled HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\r\n").as_bytes(),
    )
    .unwrap();
    s.write_all(&[b's'; 500]).unwrap();
    let started = std::time::Instant::now();
    // While it waits, the half is in a temporary file, never under its name.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!root.path().join("stalled").exists());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let elapsed = started.elapsed();
    let r = String::from_utf8_lossy(&out);
    assert_eq!(status(&r), "408", "{r}");
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(names(root.path()).is_empty(), "{:?}", names(root.path()));
}

/// A tmpfs of 64 KiB unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts one at `dir`, or says why not (not root, no mount in a
    /// container): the caller skips.
    fn mount(dir: &std::path::Path) -> Result<Tmpfs, String> {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(Tmpfs(dir.to_path_buf())),
            false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk is 507 Insufficient Storage, the temporary file removed, and
/// the server goes on (a small file then fits). Needs a tiny tmpfs: skipped,
/// with the reason printed, where mounting one is not allowed.
#[test]
fn a_full_disk_is_507_and_leaves_no_file() {
    let root = tempfile::tempdir().unwrap();
    let small = root.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let _mounted = match Tmpfs::mount(&small) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs ({why})");
            return;
        }
    };
    let server = Binary::start(
        root.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--upload",
            "--upload-max-size",
            "1MiB",
        ],
        &[],
    );
    let addr = server.addr().to_string();
    let r = put(&addr, "/small/huge.bin", &vec![b'h'; 200 * 1024], "");
    assert_eq!(status(&r), "507", "{r}");
    assert!(r.contains("no space left"), "{r}");
    assert!(names(&small).is_empty(), "{:?}", names(&small));
    let r = put(&addr, "/small/fits.txt", b"fits", "");
    assert_eq!(status(&r), "201", "{r}");
    assert_eq!(std::fs::read(small.join("fits.txt")).unwrap(), b"fits");
}
