//! The handler called in memory, one or more tests per step of its pipeline
//! (src/handler/mod.rs, src/handler/file.rs): no socket, no server, no
//! protocol engine. Each test checks the status, every field (names and exact
//! values, nothing more) and the exact body bytes.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrox::files::{sanitize, Entry};
use ferrox::handler::cache_control::{CachePolicy, Rule, IMMUTABLE};
use ferrox::handler::listing::{self, Sort};
use ferrox::handler::{Handler, Options};
use http::HeaderValue;

use crate::support::{builtin_page, noise, request, respond, Answer, TempRoot};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// 2001-02-03T04:05:06Z: every fixture file and folder gets this mtime.
const MTIME: u64 = 981_173_106;
const MTIME_HTTP: &str = "Sat, 03 Feb 2001 04:05:06 GMT";

const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const OCTET: &str = "application/octet-stream";

/// The length of `big.bin`: above the open-file cache's 64 KiB, so its body
/// is a slice of the file, not bytes in memory.
const BIG: usize = 100 * 1024;

fn mtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MTIME)
}

/// `root` with every mtime pinned, served with `options`.
fn serve_with(root: TempRoot, options: Options) -> (TempRoot, Handler) {
    let root = root.pin_mtimes(mtime());
    let handler = Handler::new(root.path(), options).unwrap();
    (root, handler)
}

fn serve(root: TempRoot) -> (TempRoot, Handler) {
    serve_with(root, Options::default())
}

async fn get(handler: &Handler, target: &str) -> Answer {
    get_with(handler, target, &[]).await
}

async fn get_with(handler: &Handler, target: &str, headers: &[(&str, &str)]) -> Answer {
    respond(handler, &request("GET", target, headers)).await
}

/// Asserts that the answer has exactly these fields, in any order.
#[track_caller]
fn expect_fields(answer: &Answer, want: &[(&str, &str)]) {
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    want.sort();
    assert_eq!(answer.fields(), want, "fields of:\n{answer:?}");
}

/// Asserts the built-in error page for `status`, with its fields only.
#[track_caller]
fn expect_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
    expect_fields(
        answer,
        &[
            ("cache-control", "no-cache"),
            (
                "content-security-policy",
                &ferrox::handler::look::ERROR_PAGE_CSP,
            ),
            ("content-type", HTML),
            ("x-content-type-options", "nosniff"),
        ],
    );
    assert!(answer.body == builtin_page(status), "{answer:?}");
}

/// The fields of a 200 for a file that has no other coding.
fn plain_file_fields<'a>(etag: &'a str, content_type: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("accept-ranges", "bytes"),
        ("content-type", content_type),
        ("etag", etag),
        ("last-modified", MTIME_HTTP),
        ("x-content-type-options", "nosniff"),
    ]
}

/// The fields of a 200 for a compressible file sent as it is (`Vary`, since
/// other codings may exist).
fn identity_fields<'a>(etag: &'a str, content_type: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut fields = plain_file_fields(etag, content_type);
    fields.push(("vary", "Accept-Encoding"));
    fields
}

// ---------------------------------------------------------------------------
// 1. Sanitising the path
// ---------------------------------------------------------------------------

#[tokio::test]
async fn control_characters_in_the_path_are_400_even_for_existing_names() {
    let (_root, h) = serve(
        TempRoot::new()
            .file("tab\there.txt", "TAB")
            .file("del\x7f.txt", "DEL")
            .file("cr\r.txt", "CR"),
    );
    for target in [
        "/tab%09here.txt",
        "/del%7f.txt",
        "/del%7F.txt",
        "/cr%0d.txt",
        "/a%00b",
        "/a%0d%0aSet-Cookie:%20x",
    ] {
        expect_error(&get(&h, target).await, 400);
    }
}

#[tokio::test]
async fn escapes_above_the_root_are_400() {
    let root = TempRoot::new()
        .file("site/a.txt", "A")
        .file("secret.txt", "SECRET")
        .pin_mtimes(mtime());
    let h = Handler::new(&root.join("site"), Options::default()).unwrap();
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/a.txt/../../secret.txt",
        "/x/./../../secret.txt",
    ] {
        expect_error(&get(&h, target).await, 400);
    }
}

#[tokio::test]
async fn dot_segments_that_stay_inside_the_root_resolve() {
    let (root, h) = serve(TempRoot::new().file("a.txt", "A").dir("sub"));
    let etag = root.metadata_tag("a.txt");
    for target in ["/sub/../a.txt", "/./a.txt", "//a.txt", "/sub/%2e%2e/a.txt"] {
        let a = get(&h, target).await;
        assert_eq!(a.status, 200, "{target}: {a:?}");
        expect_fields(&a, &identity_fields(&etag, TEXT));
        assert_eq!(a.body, b"A", "{target}");
    }
}

#[tokio::test]
async fn dotfiles_are_404_by_default() {
    let (_root, h) = serve(
        TempRoot::new()
            .file(".env", "KEY=1")
            .file(".git/config", "[core]")
            .file("a/.hidden.txt", "H"),
    );
    for target in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/a/.hidden.txt",
        "/%2eenv",
    ] {
        expect_error(&get(&h, target).await, 404);
    }
}

#[tokio::test]
async fn dotfiles_are_served_when_hidden_files_are_on() {
    let options = Options {
        hidden: true,
        ..Options::default()
    };
    let (root, h) = serve_with(
        TempRoot::new()
            .file(".env", "KEY=1")
            .file(".git/config", "[core]"),
        options,
    );
    let a = get(&h, "/.env").await;
    assert_eq!(a.status, 200, "{a:?}");
    expect_fields(&a, &plain_file_fields(&root.metadata_tag(".env"), OCTET));
    assert_eq!(a.body, b"KEY=1");
    let a = get(&h, "/.git/config").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, b"[core]");
}

// ---------------------------------------------------------------------------
// 2. Opening beneath the root
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_missing_path_is_404() {
    let (_root, h) = serve(TempRoot::new().file("a.txt", "A").dir("dir"));
    for target in ["/missing.txt", "/dir/missing", "/missing/deeper/", "/A.txt"] {
        expect_error(&get(&h, target).await, 404);
    }
}

#[tokio::test]
async fn a_file_with_a_trailing_slash_is_404() {
    let (_root, h) = serve(TempRoot::new().file("a.txt", "A"));
    for target in ["/a.txt/", "/a.txt/.", "/a.txt%2F"] {
        expect_error(&get(&h, target).await, 404);
    }
}

#[tokio::test]
async fn a_symlink_out_of_the_root_is_404() {
    let root = TempRoot::new()
        .file("site/a.txt", "A")
        .file("secret.txt", "SECRET")
        .file("private/x.txt", "PRIVATE");
    let secret = root.join("secret.txt");
    let root = root
        .symlink("site/absolute", &secret)
        .symlink("site/relative", "../secret.txt")
        .symlink("site/out", "../private")
        .pin_mtimes(mtime());
    let h = Handler::new(&root.join("site"), Options::default()).unwrap();
    for target in ["/absolute", "/relative", "/out/x.txt", "/out/"] {
        expect_error(&get(&h, target).await, 404);
    }
}

#[tokio::test]
async fn a_symlink_inside_the_root_is_served_as_its_target() {
    let (root, h) = serve(
        TempRoot::new()
            .file("a.txt", "A")
            .file("sub/b.txt", "B")
            .symlink("alias.txt", "a.txt")
            .symlink("subalias", "sub"),
    );
    let a = get(&h, "/alias.txt").await;
    assert_eq!(a.status, 200, "{a:?}");
    expect_fields(&a, &identity_fields(&root.metadata_tag("a.txt"), TEXT));
    assert_eq!(a.body, b"A");
    let a = get(&h, "/subalias/b.txt").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, b"B");
}

#[tokio::test]
async fn an_unreadable_file_or_folder_is_403() {
    let (root, h) = serve(
        TempRoot::new()
            .file("noperm.txt", "NOPE")
            .file("locked/x.txt", "NOPE"),
    );
    let mode = |rel: &str, mode: u32| {
        std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode("noperm.txt", 0o000);
    mode("locked", 0o000);
    if std::fs::File::open(root.join("noperm.txt")).is_ok() {
        // Root (CAP_DAC_OVERRIDE) reads anything: nothing can be forbidden.
        eprintln!("skipped: this process reads files of mode 000 (running as root)");
        mode("locked", 0o755);
        return;
    }
    for target in ["/noperm.txt", "/locked/x.txt", "/locked/"] {
        expect_error(&get(&h, target).await, 403);
    }
    mode("locked", 0o755);
}

// ---------------------------------------------------------------------------
// 3. Folders: the slash, the index, the listing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_folder_without_its_slash_is_301_to_it_keeping_the_query() {
    let (_root, h) = serve(
        TempRoot::new()
            .file("docs/a.txt", "A")
            .dir("a b/c")
            .dir("caf\u{e9}"),
    );
    for (target, location) in [
        ("/docs", "/docs/"),
        ("/docs?x=1&y=%2F", "/docs/?x=1&y=%2F"),
        ("/a%20b/c?q", "/a%20b/c/?q"),
        ("/caf%C3%A9", "/caf%C3%A9/"),
        ("/x/../docs", "/docs/"),
    ] {
        let a = get(&h, target).await;
        assert_eq!(a.status, 301, "{target}: {a:?}");
        expect_fields(&a, &[("location", location)]);
        assert!(a.body.is_empty(), "{target}: {a:?}");
    }
}

#[tokio::test]
async fn the_index_file_wins_over_the_listing() {
    let page = "<!doctype html><title>docs</title>\n";
    let (root, h) = serve(
        TempRoot::new()
            .file("docs/index.html", page)
            .file("docs/other.txt", "O"),
    );
    let a = get(&h, "/docs/").await;
    assert_eq!(a.status, 200, "{a:?}");
    let etag = root.metadata_tag("docs/index.html");
    let mut fields = identity_fields(&etag, HTML);
    fields.push(("cache-control", "no-cache"));
    expect_fields(&a, &fields);
    assert_eq!(a.body, page.as_bytes());
}

#[tokio::test]
async fn index_names_are_tried_in_order_and_folders_skipped() {
    let options = Options {
        index: vec!["home.html".into(), "index.html".into()],
        ..Options::default()
    };
    let (_root, h) = serve_with(
        TempRoot::new()
            .file("both/home.html", "HOME")
            .file("both/index.html", "INDEX")
            .file("second/index.html", "INDEX")
            .dir("folder/home.html")
            .file("folder/index.html", "INDEX"),
        options,
    );
    for (target, body) in [
        ("/both/", "HOME"),
        ("/second/", "INDEX"),
        ("/folder/", "INDEX"),
    ] {
        let a = get(&h, target).await;
        assert_eq!(
            (a.status, a.text().as_str()),
            (200, body),
            "{target}: {a:?}"
        );
    }
}

/// A folder to list: a sub-folder, two files, a dotfile (never listed).
fn listed_folder() -> TempRoot {
    TempRoot::new()
        .file("docs/b.txt", "bb")
        .file("docs/a.txt", "a")
        .file("docs/.hidden", "h")
        .dir("docs/sub")
}

fn entry(name: &str, is_dir: bool, size: u64) -> Entry {
    Entry {
        name: name.as_bytes().to_vec(),
        is_dir,
        size,
        modified: mtime(),
    }
}

#[tokio::test]
async fn a_folder_without_an_index_is_listed_as_html() {
    let (_root, h) = serve(listed_folder());
    let a = get(&h, "/docs/").await;
    assert_eq!(a.status, 200, "{a:?}");
    // A fresh nonce per response, named by the policy.
    let csp = a.header("content-security-policy").to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_string();
    assert_eq!(nonce.len(), listing::NONCE_LEN, "{csp}");
    assert_eq!(csp, ferrox::handler::look::listing_csp(&nonce));
    let etag = a.header("etag").to_string();
    assert!(etag.starts_with("W/\"l"), "{etag}");
    expect_fields(
        &a,
        &[
            ("cache-control", "no-cache"),
            ("content-security-policy", &csp),
            ("content-type", HTML),
            ("etag", &etag),
            ("vary", "Accept, Accept-Encoding"),
            ("x-content-type-options", "nosniff"),
        ],
    );
    // Folders first, then by name; no dotfile; the page as the renderer
    // (unit-tested in src/handler/listing/) writes it, with this nonce.
    let entries = [
        entry("sub", true, 0),
        entry("a.txt", false, 1),
        entry("b.txt", false, 2),
    ];
    let path = sanitize("/docs/", false).unwrap();
    let cx = listing::Context {
        path: &path,
        sort: Sort::from_query(None),
        truncated: false,
        offers: listing::Offers::default(),
        readme: None,
        extra_script: None,
    };
    let page = listing::html(&cx, &entries);
    let nonce: [u8; listing::NONCE_LEN] = nonce.as_bytes().try_into().unwrap();
    let page = listing::stamp(page.text.as_bytes(), &page.nonce_at, &nonce);
    assert_eq!(a.text(), String::from_utf8(page).unwrap());
    let row = "<tr class=\"kt\"><td><a href=\"./a.txt\">a.txt</a></td><td>1 B</td>\
               <td><time>2001-02-03 04:05:06Z</time></td></tr>\n";
    assert!(a.text().contains(row), "{a:?}");

    // The next response has another nonce, the same validator; the
    // validator answers 304 without a policy (the cached page keeps its own).
    let b = get(&h, "/docs/").await;
    assert_ne!(b.header("content-security-policy"), csp);
    assert_eq!(b.header("etag"), etag);
    let c = get_with(&h, "/docs/", &[("if-none-match", &etag)]).await;
    assert_eq!(c.status, 304, "{c:?}");
    expect_fields(
        &c,
        &[
            ("cache-control", "no-cache"),
            ("etag", &etag),
            ("vary", "Accept, Accept-Encoding"),
        ],
    );
    assert!(c.body.is_empty());
}

#[tokio::test]
async fn a_listing_is_json_when_the_client_accepts_json() {
    let (_root, h) = serve(listed_folder());
    let a = get_with(&h, "/docs/", &[("accept", "application/json")]).await;
    assert_eq!(a.status, 200, "{a:?}");
    let etag = a.header("etag").to_string();
    expect_fields(
        &a,
        &[
            ("cache-control", "no-cache"),
            ("content-type", "application/json"),
            ("etag", &etag),
            // The counts travel beside the array, which keeps its shape.
            ("ferrox-bytes", "3"),
            ("ferrox-files", "2"),
            ("ferrox-folders", "1"),
            ("vary", "Accept, Accept-Encoding"),
            ("x-content-type-options", "nosniff"),
        ],
    );
    assert_eq!(
        a.text(),
        "[{\"mtime\":\"2001-02-03T04:05:06Z\",\"name\":\"sub\",\"size\":0,\"type\":\"directory\"},\
         {\"mtime\":\"2001-02-03T04:05:06Z\",\"name\":\"a.txt\",\"size\":1,\"type\":\"file\"},\
         {\"mtime\":\"2001-02-03T04:05:06Z\",\"name\":\"b.txt\",\"size\":2,\"type\":\"file\"}]"
    );
}

#[tokio::test]
async fn without_listings_a_folder_without_an_index_is_404() {
    let options = Options {
        listing: false,
        ..Options::default()
    };
    let (_root, h) = serve_with(listed_folder().file("site/index.html", "SITE"), options);
    expect_error(&get(&h, "/docs/").await, 404);
    expect_error(&get(&h, "/").await, 404);
    let a = get(&h, "/site/").await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"SITE"[..]), "{a:?}");
    assert_eq!(get(&h, "/site").await.status, 301);
}

// ---------------------------------------------------------------------------
// 4. A file: whole
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_small_file_is_served_whole_with_its_validators() {
    let (root, h) = serve(TempRoot::new().file("a.txt", "hello"));
    let a = get(&h, "/a.txt").await;
    assert_eq!(a.status, 200, "{a:?}");
    expect_fields(&a, &identity_fields(&root.metadata_tag("a.txt"), TEXT));
    assert_eq!(a.body, b"hello");
}

#[tokio::test]
async fn a_large_file_is_served_whole_from_its_descriptor() {
    let data = noise(BIG, 1);
    let (root, h) = serve(TempRoot::new().file("big.bin", &data));
    let a = get(&h, "/big.bin").await;
    assert_eq!(a.status, 200);
    expect_fields(&a, &plain_file_fields(&root.metadata_tag("big.bin"), OCTET));
    assert!(
        a.body == data,
        "{} bytes differ from the file",
        a.body.len()
    );
}

// ---------------------------------------------------------------------------
// 4. A file: preconditions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_matching_if_none_match_is_304_with_validators_cache_control_and_vary() {
    let (root, h) = serve(TempRoot::new().file("page.html", "<p>page</p>"));
    let etag = root.metadata_tag("page.html");
    for value in [etag.as_str(), "*", &format!("\"other\", W/{etag}")] {
        let a = get_with(&h, "/page.html", &[("if-none-match", value)]).await;
        assert_eq!(a.status, 304, "{value}: {a:?}");
        expect_fields(
            &a,
            &[
                ("cache-control", "no-cache"),
                ("etag", &etag),
                ("last-modified", MTIME_HTTP),
                ("vary", "Accept-Encoding"),
            ],
        );
        assert!(a.body.is_empty(), "{value}: {a:?}");
    }
    let a = get_with(&h, "/page.html", &[("if-none-match", "\"other\"")]).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"<p>page</p>"[..]));
}

#[tokio::test]
async fn if_modified_since_the_mtime_is_304_and_before_it_200() {
    let (root, h) = serve(TempRoot::new().file("a.txt", "A"));
    let etag = root.metadata_tag("a.txt");
    let a = get_with(&h, "/a.txt", &[("if-modified-since", MTIME_HTTP)]).await;
    assert_eq!(a.status, 304, "{a:?}");
    expect_fields(
        &a,
        &[
            ("etag", &etag),
            ("last-modified", MTIME_HTTP),
            ("vary", "Accept-Encoding"),
        ],
    );
    assert!(a.body.is_empty());
    let earlier = "Sat, 03 Feb 2001 04:05:05 GMT";
    let a = get_with(&h, "/a.txt", &[("if-modified-since", earlier)]).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"A"[..]), "{a:?}");
}

#[tokio::test]
async fn a_failed_if_match_or_if_unmodified_since_is_412_without_the_file_cache_control() {
    let name = "app.3f9c1a2b.js";
    let (root, h) = serve(TempRoot::new().file(name, "let a = 1;"));
    let target = format!("/{name}");
    assert_eq!(get(&h, &target).await.header("cache-control"), IMMUTABLE);
    for header in [
        ("if-match", "\"nope\""),
        ("if-unmodified-since", "Sat, 03 Feb 2001 04:05:05 GMT"),
    ] {
        expect_error(&get_with(&h, &target, &[header]).await, 412);
    }
    let etag = root.metadata_tag(name);
    let a = get_with(&h, &target, &[("if-match", &etag)]).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"let a = 1;"[..]));
}

// ---------------------------------------------------------------------------
// 4. A file: ranges
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_single_range_is_206_with_exactly_that_slice() {
    let data = noise(BIG, 2);
    let (root, h) = serve(TempRoot::new().file("big.bin", &data));
    let etag = root.metadata_tag("big.bin");
    for (range, start, end) in [
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-10", BIG - 10, BIG - 1),
        ("bytes=102000-", 102_000, BIG - 1),
        ("bytes=0-0", 0, 0),
    ] {
        let a = get_with(&h, "/big.bin", &[("range", range)]).await;
        assert_eq!(a.status, 206, "{range}: {a:?}");
        let content_range = format!("bytes {start}-{end}/{BIG}");
        let mut fields = plain_file_fields(&etag, OCTET);
        fields.push(("content-range", &content_range));
        expect_fields(&a, &fields);
        assert!(a.body == data[start..=end], "{range}: wrong bytes");
    }
}

#[tokio::test]
async fn several_ranges_are_one_multipart_206() {
    let data = noise(BIG, 3);
    let (root, h) = serve(TempRoot::new().file("big.bin", &data));
    let a = get_with(&h, "/big.bin", &[("range", "bytes=50000-50009,0-9")]).await;
    assert_eq!(a.status, 206, "{a:?}");
    let content_type = a.header("content-type").to_string();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    assert_eq!(boundary.len(), 16, "{boundary}");
    let etag = root.metadata_tag("big.bin");
    expect_fields(&a, &plain_file_fields(&etag, &content_type));
    let mut want = Vec::new();
    for (i, (start, end)) in [(0, 9), (50_000, 50_009)].into_iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        want.extend_from_slice(
            format!(
                "{lead}--{boundary}\r\nContent-Type: {OCTET}\r\n\
                 Content-Range: bytes {start}-{end}/{BIG}\r\n\r\n"
            )
            .as_bytes(),
        );
        want.extend_from_slice(&data[start..=end]);
    }
    want.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert!(a.body == want, "{a:?}");
}

#[tokio::test]
async fn a_range_past_the_end_is_416_with_the_length() {
    let (_root, h) = serve(TempRoot::new().file("big.bin", noise(BIG, 4)));
    for range in [format!("bytes={BIG}-"), format!("bytes={BIG}-{}", BIG + 9)] {
        let a = get_with(&h, "/big.bin", &[("range", &range)]).await;
        assert_eq!(a.status, 416, "{range}: {a:?}");
        let content_range = format!("bytes */{BIG}");
        expect_fields(
            &a,
            &[
                ("cache-control", "no-cache"),
                (
                    "content-security-policy",
                    &ferrox::handler::look::ERROR_PAGE_CSP,
                ),
                ("content-range", &content_range),
                ("content-type", HTML),
                ("x-content-type-options", "nosniff"),
            ],
        );
        assert!(a.body == builtin_page(416), "{a:?}");
    }
}

#[tokio::test]
async fn if_range_gives_the_range_while_the_tag_matches_and_else_the_whole_file() {
    let data = noise(BIG, 5);
    let (root, h) = serve(TempRoot::new().file("big.bin", &data));
    let etag = root.metadata_tag("big.bin");
    let a = get_with(
        &h,
        "/big.bin",
        &[("range", "bytes=0-4"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(a.status, 206, "{a:?}");
    // RFC 9110 §15.3.7: no representation metadata the client holds already.
    let content_range = format!("bytes 0-4/{BIG}");
    expect_fields(
        &a,
        &[
            ("accept-ranges", "bytes"),
            ("content-range", &content_range),
            ("etag", &etag),
            ("x-content-type-options", "nosniff"),
        ],
    );
    assert!(a.body == data[..5]);
    let stale = [("range", "bytes=0-4"), ("if-range", "\"stale\"")];
    let a = get_with(&h, "/big.bin", &stale).await;
    assert_eq!(a.status, 200, "{a:?}");
    expect_fields(&a, &plain_file_fields(&etag, OCTET));
    assert!(a.body == data);
}

// ---------------------------------------------------------------------------
// 4. A file: Accept-Encoding
// ---------------------------------------------------------------------------

/// `x.css` (under the 1 KiB floor of on-the-fly compression) and a
/// precompressed `x.css.br` beside it. The sidecar's bytes are not Brotli: the
/// handler serves them as they are, which is what this shows.
const CSS_BODY: &str = "body{color:red}\n";
const BR_BODY: &[u8] = b"pretend brotli";

fn with_sidecar() -> TempRoot {
    TempRoot::new()
        .file("x.css", CSS_BODY)
        .file("x.css.br", BR_BODY)
}

#[tokio::test]
async fn a_precompressed_sidecar_answers_a_client_that_accepts_its_coding() {
    let (root, h) = serve(with_sidecar());
    for accept in ["br", "gzip, br", "br;q=0.5, identity;q=0.4", "*"] {
        let a = get_with(&h, "/x.css", &[("accept-encoding", accept)]).await;
        assert_eq!(a.status, 200, "{accept}: {a:?}");
        let etag = root.metadata_tag("x.css.br");
        let mut fields = identity_fields(&etag, CSS);
        fields.push(("content-encoding", "br"));
        expect_fields(&a, &fields);
        assert_eq!(a.body, BR_BODY, "{accept}");
    }
}

#[tokio::test]
async fn the_file_itself_answers_without_accept_encoding_or_without_a_sidecar_for_the_coding() {
    let (root, h) = serve(with_sidecar());
    let etag = root.metadata_tag("x.css");
    for headers in [
        &[][..],
        &[("accept-encoding", "gzip")],
        &[("accept-encoding", "br;q=0")],
        &[("accept-encoding", "identity")],
    ] {
        let a = get_with(&h, "/x.css", headers).await;
        assert_eq!(a.status, 200, "{headers:?}: {a:?}");
        expect_fields(&a, &identity_fields(&etag, CSS));
        assert_eq!(a.body, CSS_BODY.as_bytes(), "{headers:?}");
    }
}

#[tokio::test]
async fn refusing_identity_with_no_coding_on_offer_is_406() {
    let (_root, h) = serve(with_sidecar());
    for accept in ["gzip, identity;q=0", "gzip, *;q=0"] {
        let a = get_with(&h, "/x.css", &[("accept-encoding", accept)]).await;
        assert_eq!(a.status, 406, "{accept}: {a:?}");
        expect_fields(
            &a,
            &[
                ("cache-control", "no-cache"),
                (
                    "content-security-policy",
                    &ferrox::handler::look::ERROR_PAGE_CSP,
                ),
                ("content-type", HTML),
                ("vary", "Accept-Encoding"),
                ("x-content-type-options", "nosniff"),
            ],
        );
        assert!(a.body == builtin_page(406), "{a:?}");
    }
}

#[tokio::test]
async fn a_large_text_file_is_compressed_on_the_fly_as_a_stream() {
    let css: String = (0..400).map(|i| format!(".c{i}{{color:red}}\n")).collect();
    let (root, h) = serve(TempRoot::new().file("big.css", &css));
    let a = get_with(&h, "/big.css", &[("accept-encoding", "gzip")]).await;
    assert_eq!(a.status, 200, "{a:?}");
    // The identity tag with the coding inside the quotes; no Accept-Ranges on
    // a body of unknown length.
    let identity = root.metadata_tag("big.css");
    let etag = format!("{}-gzip\"", identity.trim_end_matches('"'));
    expect_fields(
        &a,
        &[
            ("content-encoding", "gzip"),
            ("content-type", CSS),
            ("etag", &etag),
            ("last-modified", MTIME_HTTP),
            ("vary", "Accept-Encoding"),
            ("x-content-type-options", "nosniff"),
        ],
    );
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(a.body.as_slice())
        .read_to_string(&mut decoded)
        .unwrap();
    assert!(decoded == css, "gzip body does not decode to the file");
}

// ---------------------------------------------------------------------------
// Cache-Control throughout
// ---------------------------------------------------------------------------

/// Files whose Cache-Control differs by policy.
fn cache_fixture() -> TempRoot {
    TempRoot::new()
        .file("page.html", "<p>page</p>")
        .file("app.3f9c1a2b.js", "let a = 1;")
        .file("assets/lib.3f9c1a2b.js", "let b = 2;")
        .file("notes.txt", "notes")
}

#[tokio::test]
async fn by_default_html_is_no_cache_fingerprinted_names_immutable_and_others_nothing() {
    let (_root, h) = serve(cache_fixture());
    for (target, want) in [
        ("/page.html", Some("no-cache")),
        ("/app.3f9c1a2b.js", Some(IMMUTABLE)),
        ("/assets/lib.3f9c1a2b.js", Some(IMMUTABLE)),
        ("/notes.txt", None),
    ] {
        let a = get(&h, target).await;
        assert_eq!(a.status, 200, "{target}: {a:?}");
        assert_eq!(a.try_header("cache-control"), want, "{target}");
    }
}

#[tokio::test]
async fn cache_rules_come_first_then_fingerprints_then_the_default() {
    let options = Options {
        cache: CachePolicy {
            rules: vec![
                Rule::parse("*.html=max-age=60").unwrap(),
                Rule::parse("/assets/**=no-store").unwrap(),
            ],
            default: Some(HeaderValue::from_static("max-age=300")),
            fingerprint_defaults: true,
        },
        ..Options::default()
    };
    let (_root, h) = serve_with(cache_fixture(), options);
    for (target, want) in [
        ("/page.html", "max-age=60"),
        ("/assets/lib.3f9c1a2b.js", "no-store"),
        ("/app.3f9c1a2b.js", IMMUTABLE),
        ("/notes.txt", "max-age=300"),
    ] {
        let a = get(&h, target).await;
        assert_eq!(a.status, 200, "{target}: {a:?}");
        assert_eq!(a.header("cache-control"), want, "{target}");
    }
}

#[tokio::test]
async fn listings_and_error_pages_are_no_cache_whatever_the_policy() {
    let options = Options {
        cache: CachePolicy {
            rules: vec![Rule::parse("**=max-age=999").unwrap()],
            default: Some(HeaderValue::from_static("max-age=300")),
            fingerprint_defaults: false,
        },
        ..Options::default()
    };
    let (_root, h) = serve_with(listed_folder(), options);
    assert_eq!(
        get(&h, "/docs/a.txt").await.header("cache-control"),
        "max-age=999"
    );
    assert_eq!(get(&h, "/docs/").await.header("cache-control"), "no-cache");
    expect_error(&get(&h, "/docs/missing.txt").await, 404);
}
