//! The listing page in a real browser: headless chromium driven through
//! WebDriver (support::browser) against a real server on 127.0.0.1:0. What
//! the user sees and does: names exactly as on disk and in natural order,
//! sorting by the column headers, breadcrumbs and the parent row, a phone's
//! width, the dark colour scheme, the 404 page; and, on the new listing page,
//! the filter box, the summary, the Content-Security-Policy, local times,
//! archive links and the upload form.
//!
//! With `FERROX_SCREENSHOTS=DIR`, `screenshots` saves the PNGs of the README
//! (`FERROX_SCREENSHOTS=docs cargo test --test it browser::screenshots`).
//!
//! Without chromium these tests say so and pass, except in CI (`CI=true`).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::support::browser::{bounded, Browser, Look};
use crate::support::{Served, TempRoot, TestServer};

/// 2026-01-02T03:04:05Z, the base of the fixture's modification times.
fn base_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_323_045)
}

/// A name of 120 characters without a space, to wrap on a phone.
fn long_name() -> String {
    let stem = "the-quarterly-report-of-the-infrastructure-team-with-every-figure-and-every-chart-and-the-appendix-for-the-board-v12";
    let name = format!("{stem}.pdf");
    assert_eq!(name.chars().count(), 120);
    name
}

const HOSTILE: &str = "<b>\"x\"&'.txt";
const UNICODE: &str = "café ☕ 日本語.txt";

/// The files of the fixture's root: name, size, minutes after [`base_time`].
fn fixture_files() -> Vec<(String, usize, u64)> {
    vec![
        ("9-nine.txt".into(), 900, 3),
        ("10-ten.txt".into(), 100, 1),
        (HOSTILE.into(), 50, 5),
        (UNICODE.into(), 2000, 2),
        ("my notes 2026.txt".into(), 300, 4),
        ("NINETEEN.md".into(), 19, 6),
        (long_name(), 1200, 0),
    ]
}

/// The fixture: hostile and ordinary names in the root, and `sub/deeper/`.
fn fixture() -> TempRoot {
    let mut root = TempRoot::new()
        .file("sub/inner.txt", "inner\n")
        .file("sub/deeper/deep.txt", "deep\n");
    for (name, size, minutes) in fixture_files() {
        root = root
            .file(&name, vec![b'x'; size])
            .mtime(&name, base_time() + Duration::from_secs(minutes * 60));
    }
    root
}

/// The root's names in natural order (case-insensitive, numbers by value),
/// folders first.
fn by_name() -> Vec<String> {
    let long = long_name();
    [
        "sub",
        "9-nine.txt",
        "10-ten.txt",
        HOSTILE,
        UNICODE,
        "my notes 2026.txt",
        "NINETEEN.md",
        &long,
    ]
    .map(String::from)
    .to_vec()
}

/// The fixture served by a [`TestServer`], and a browser showing a page of
/// it. Fields drop in order: the browser, the server, the folder.
struct Opened {
    browser: Browser,
    server: TestServer,
    _root: TempRoot,
}

/// Serves [`fixture`] and opens `path` of it in a browser with `look`;
/// `None` without chromium (see `support::browser::find`).
async fn open(look: Look, path: &str) -> Option<Opened> {
    let root = fixture();
    let server = TestServer::files(root.path());
    let browser = Browser::start(look).await?;
    browser.goto(&server.url(path)).await;
    Some(Opened {
        browser,
        server,
        _root: root,
    })
}

/// The names the page shows, in order: the text of each row's first link,
/// read through WebDriver (as rendered), without the parent row; a folder's
/// trailing `/` is dropped (its link is checked by the caller).
async fn shown_names(browser: &Browser) -> Vec<String> {
    let mut names = Vec::new();
    for row in browser.find_all("tbody tr").await {
        let links = bounded("a row's links", row.find_all(fantoccini::Locator::Css("a"))).await;
        let Some(link) = links.first() else {
            continue;
        };
        if bounded("a row's link", link.attr("href")).await.as_deref() == Some("../") {
            continue;
        }
        let text = bounded("a row's link text", link.text()).await;
        names.push(text.trim_end_matches('/').to_string());
    }
    names
}

/// The link in the table's head whose text starts with `label`.
async fn header_link(browser: &Browser, label: &str) -> fantoccini::elements::Element {
    for link in browser.find_all("thead a").await {
        let text = bounded("a header's text", link.text()).await;
        if text.trim().starts_with(label) {
            return link;
        }
    }
    panic!("no column header {label:?} on {}", browser.url().await);
}

/// Clicks `element` and waits until `location.search` contains `query`.
async fn click_until_query(browser: &Browser, element: fantoccini::elements::Element, query: &str) {
    bounded(&format!("clicking towards {query}"), element.click()).await;
    let check = format!(
        "return document.readyState === 'complete' && location.search.includes({});",
        json!(query)
    );
    browser
        .wait_until(&format!("a page with {query}"), &check)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_show_exactly_as_on_disk_in_natural_order() {
    let Some(page) = open(Look::DESKTOP, "/").await else {
        return;
    };
    let (browser, server) = (&page.browser, &page.server);
    assert_eq!(shown_names(browser).await, by_name());
    // The hostile name is text, not markup: no element came out of it.
    assert_eq!(browser.find_all("tbody b").await.len(), 0);
    // Each link leads to its file: the hostile one too.
    let hostile = browser
        .eval_with(
            "return [...document.querySelectorAll('tbody a')].find(a => a.textContent === arguments[0]).href;",
            vec![json!(HOSTILE)],
        )
        .await;
    assert_eq!(hostile, json!(server.url("/%3Cb%3E%22x%22&%27.txt")));
    let body = browser
        .eval_with(
            "return fetch(arguments[0]).then(r => r.text());",
            vec![hostile],
        )
        .await;
    assert_eq!(body, json!("x".repeat(50)));
    // The root has no parent row; the folder's link ends with a slash (no
    // redirect on the way in).
    assert_eq!(browser.find_all("a[href='../']").await.len(), 0);
    let sub = browser.find("tbody a[href$='sub/']").await;
    let text = bounded("the folder's text", sub.text()).await;
    assert_eq!(text.trim_end_matches('/'), "sub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_headers_sort_by_size_then_by_modification_time() {
    let Some(page) = open(Look::DESKTOP, "/").await else {
        return;
    };
    let browser = &page.browser;
    assert_eq!(shown_names(browser).await, by_name());

    let size = header_link(browser, "Size").await;
    click_until_query(browser, size, "sort=size").await;
    let long = long_name();
    let by_size = [
        "sub",
        "NINETEEN.md",
        HOSTILE,
        "10-ten.txt",
        "my notes 2026.txt",
        "9-nine.txt",
        &long,
        UNICODE,
    ];
    assert_eq!(shown_names(browser).await, by_size);

    let modified = header_link(browser, "Modified").await;
    click_until_query(browser, modified, "sort=time").await;
    let mut by_time = vec![
        "sub",
        &long,
        "10-ten.txt",
        UNICODE,
        "9-nine.txt",
        "my notes 2026.txt",
        HOSTILE,
        "NINETEEN.md",
    ];
    assert_eq!(shown_names(browser).await, by_time);

    // The same header again: latest first, folders still first.
    let modified = header_link(browser, "Modified").await;
    click_until_query(browser, modified, "order=desc").await;
    by_time[1..].reverse();
    assert_eq!(shown_names(browser).await, by_time);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breadcrumbs_and_the_parent_row_lead_back_to_the_root() {
    let Some(page) = open(Look::DESKTOP, "/sub/deeper/").await else {
        return;
    };
    let (browser, server) = (&page.browser, &page.server);
    assert_eq!(shown_names(browser).await, ["deep.txt"]);
    // The crumb of the middle folder, then the root's.
    browser.click_to("a[href='/sub/']", "/sub/").await;
    assert_eq!(shown_names(browser).await, ["deeper", "inner.txt"]);
    browser.click_to("a[href='/']", "/").await;
    assert_eq!(browser.url().await, server.url("/"));
    assert_eq!(shown_names(browser).await, by_name());

    // Down by the folder's link, up by the `../` row.
    browser.click_to("tbody a[href$='sub/']", "/sub/").await;
    browser.click_to("a[href='../']", "/").await;
    assert_eq!(browser.url().await, server.url("/"));
    assert_eq!(shown_names(browser).await, by_name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_nothing_scrolls_sideways_and_long_names_wrap() {
    let Some(page) = open(Look::PHONE, "/").await else {
        return;
    };
    let browser = &page.browser;
    let geometry = browser
        .eval_with(
            "const d = document.documentElement;
             const links = [...document.querySelectorAll('tbody a')];
             const long = links.find(a => a.textContent === arguments[0]).getBoundingClientRect();
             const short = links.find(a => a.textContent === '9-nine.txt').getBoundingClientRect();
             return {inner: innerWidth, scroll: d.scrollWidth, client: d.clientWidth,
                     longHeight: long.height, longRight: long.right, shortHeight: short.height};",
            vec![json!(long_name())],
        )
        .await;
    let n = |key: &str| geometry[key].as_f64().unwrap_or(f64::NAN);
    assert_eq!(n("inner"), 390.0, "the phone's viewport: {geometry}");
    assert!(
        n("scroll") <= n("client"),
        "the page scrolls sideways: {geometry}"
    );
    assert!(
        n("longHeight") >= 2.0 * n("shortHeight"),
        "the long name does not wrap: {geometry}"
    );
    assert!(
        n("longRight") <= n("client"),
        "the long name overflows: {geometry}"
    );
}

/// The page's background as `[r, g, b]`: the body's, else the root
/// element's, else `None` (the canvas, which the page left to the browser).
async fn background(browser: &Browser) -> Option<[f64; 3]> {
    let colours = browser
        .eval(
            "return [document.body, document.documentElement].map(e =>
               (getComputedStyle(e).backgroundColor.match(/[\\d.]+/g) || []).map(Number));",
        )
        .await;
    let colours: Vec<Vec<f64>> = serde_json::from_value(colours).unwrap();
    colours
        .into_iter()
        .find(|c| c.len() == 3 || c.get(3).is_some_and(|&alpha| alpha > 0.0))
        .map(|c| [c[0], c[1], c[2]])
}

/// Relative luminance, 0 (black) to 1 (white), of an sRGB colour (gamma
/// ignored: enough to tell dark from light).
fn luminance([r, g, b]: [f64; 3]) -> f64 {
    (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dark_colour_scheme_gives_a_dark_page_and_the_light_one_a_light_page() {
    for (look, dark) in [(Look::DESKTOP.dark(), true), (Look::DESKTOP, false)] {
        let Some(page) = open(look, "/").await else {
            return;
        };
        let scheme = page
            .browser
            .eval("return matchMedia('(prefers-color-scheme: dark)').matches;")
            .await;
        assert_eq!(scheme, json!(dark), "the browser's colour scheme");
        // A background left to the browser is its canvas: white when light,
        // which a dark page must not leave.
        let bg = background(&page.browser).await;
        let right = match bg {
            Some(c) if dark => luminance(c) < 0.2,
            Some(c) => luminance(c) > 0.8,
            None => !dark,
        };
        assert!(right, "the page's background with dark={dark}: {bg:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_404_page_links_back_to_the_site_root() {
    let Some(page) = open(Look::DESKTOP, "/sub/no-such-file").await else {
        return;
    };
    let (browser, server) = (&page.browser, &page.server);
    server.get("/sub/no-such-file").expect(404);
    let home = browser
        .eval_with(
            "return [...document.querySelectorAll('a')].filter(a => a.href === arguments[0]).length;",
            vec![json!(server.url("/"))],
        )
        .await;
    assert_eq!(home, json!(1), "no single link to the site root");
    browser.click_to("a[href='/']", "/").await;
    assert_eq!(browser.url().await, server.url("/"));
    assert_eq!(shown_names(browser).await, by_name());
}

// ---- The new listing page's DOM contract ---------------------------------

/// The `data-name` of every row of `#entries` not hidden, in order.
async fn visible_rows(browser: &Browser) -> Vec<String> {
    let names = browser
        .eval(
            "return [...document.querySelectorAll('#entries tr[data-name]')]
               .filter(r => !r.hidden).map(r => r.dataset.name);",
        )
        .await;
    serde_json::from_value(names).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_box_hides_rows_that_do_not_match() {
    let Some(page) = open(Look::DESKTOP, "/").await else {
        return;
    };
    let browser = &page.browser;
    // The raw names, the hostile one included, in the rows' data-name.
    assert_eq!(visible_rows(browser).await, by_name());
    let filter = browser.find("input#filter[type=search]").await;
    bounded("typing nine", filter.send_keys("nine")).await;
    browser
        .wait_until(
            "the filter to apply",
            "return document.querySelectorAll('#entries tr[data-name]:not([hidden])').length === 2;",
        )
        .await;
    assert_eq!(visible_rows(browser).await, ["9-nine.txt", "NINETEEN.md"]);
    // Hidden rows are hidden by the attribute, and not shown.
    let hidden = browser
        .eval("return [...document.querySelectorAll('#entries tr[hidden]')].map(r => r.offsetHeight);")
        .await;
    assert_eq!(hidden, json!([0, 0, 0, 0, 0, 0]));

    // Cleared by the keyboard: every row again.
    let backspaces = "\u{e003}".repeat(4);
    bounded("clearing the filter", filter.send_keys(&backspaces)).await;
    browser
        .wait_until(
            "the filter to clear",
            "return document.querySelectorAll('#entries tr[hidden]').length === 0;",
        )
        .await;
    assert_eq!(visible_rows(browser).await, by_name());

    // What is typed is text: markup characters match the hostile name only.
    bounded("typing a quote", filter.send_keys("\"x\"&")).await;
    browser
        .wait_until(
            "the filter to apply",
            "return document.querySelectorAll('#entries tr[data-name]:not([hidden])').length === 1;",
        )
        .await;
    assert_eq!(visible_rows(browser).await, [HOSTILE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtering_ten_thousand_entries_takes_little_script_time() {
    const ENTRIES: usize = 10_000;
    let root = TempRoot::new().dir("big");
    for i in 0..ENTRIES {
        // Every thousandth name contains "nine".
        let name = if i % 1000 == 0 {
            format!("big/nine-{i:05}.txt")
        } else {
            format!("big/file-{i:05}.txt")
        };
        std::fs::write(root.join(name), b"").unwrap();
    }
    let server = TestServer::files(root.path());
    let Some(browser) = Browser::start(Look::DESKTOP).await else {
        return;
    };
    browser.goto(&server.url("/big/")).await;
    let rows = browser
        .eval("return document.querySelectorAll('#entries tr[data-name]').length;")
        .await;
    assert_eq!(rows, json!(ENTRIES));
    // One keystroke's worth: the value set, the input event dispatched, and
    // the layout it causes, timed inside the page.
    let ms = browser
        .eval(
            "const f = document.getElementById('filter');
             f.value = 'nine';
             const t0 = performance.now();
             f.dispatchEvent(new Event('input', {bubbles: true}));
             void document.body.offsetHeight;
             return performance.now() - t0;",
        )
        .await;
    let ms = ms.as_f64().unwrap_or(f64::NAN);
    eprintln!("filter over {ENTRIES} entries: {ms:.1} ms of script and layout");
    browser
        .wait_until(
            "the filter to apply",
            "return document.querySelectorAll('#entries tr[data-name]:not([hidden])').length === 10;",
        )
        .await;
    assert!(ms < 1000.0, "filtering {ENTRIES} entries took {ms} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_folders_files_and_bytes() {
    // 1000 + 100 + 100 + 30 + 4 = 1234 bytes = 1.2 KiB.
    let root = TempRoot::new()
        .dir("a")
        .file("b/inside.txt", vec![b'x'; 5000])
        .file("one.txt", vec![b'x'; 1000])
        .file("two.txt", vec![b'x'; 100])
        .file("three.txt", vec![b'x'; 100])
        .file("four.txt", vec![b'x'; 30])
        .file("five.txt", vec![b'x'; 4]);
    let server = TestServer::files(root.path());
    let Some(browser) = Browser::start(Look::DESKTOP).await else {
        return;
    };
    browser.goto(&server.url("/")).await;
    let summary = bounded("the summary's text", browser.find("p#summary").await.text()).await;
    for part in ["2 folders", "5 files", "1.2 KiB"] {
        assert!(summary.contains(part), "{part:?} not in {summary:?}");
    }
}

/// The nonce of a `Content-Security-Policy` value's `script-src`.
fn nonce(csp: &str) -> &str {
    let at = csp
        .find("'nonce-")
        .unwrap_or_else(|| panic!("no nonce in {csp:?}"));
    let rest = &csp[at + "'nonce-".len()..];
    &rest[..rest
        .find('\'')
        .unwrap_or_else(|| panic!("unclosed nonce: {csp:?}"))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_security_policy_runs_the_pages_script_only() {
    let Some(page) = open(Look::DESKTOP, "/").await else {
        return;
    };
    let (browser, server) = (&page.browser, &page.server);
    let first = server.get("/");
    first.expect(200);
    let csp = first.header("content-security-policy");
    assert!(csp.contains("script-src"), "{csp}");
    let first_nonce = nonce(csp).to_string();
    assert!(first_nonce.len() >= 16, "a short nonce: {csp}");
    assert!(
        first.text().contains(&format!("nonce=\"{first_nonce}\"")),
        "the page's script does not carry the header's nonce"
    );
    // A nonce is good for one response only.
    let second = server.get("/");
    assert_ne!(nonce(second.header("content-security-policy")), first_nonce);
    let own = browser
        .eval("return document.documentElement.dataset.js;")
        .await;
    assert_eq!(own, json!("on"), "the page's own script did not run");
    let injected = browser
        .eval(
            "const s = document.createElement('script');
             s.textContent = 'window.pwned = 1';
             document.body.appendChild(s);
             return typeof window.pwned;",
        )
        .await;
    assert_eq!(injected, json!("undefined"), "an injected script ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_show_in_the_browsers_time_zone_with_the_exact_time_in_the_title() {
    let root = TempRoot::new()
        .file("dated.txt", "x")
        .mtime("dated.txt", base_time());
    let server = TestServer::files(root.path());
    let Some(browser) = Browser::start(Look::DESKTOP.tz("Asia/Tokyo")).await else {
        return;
    };
    browser.goto(&server.url("/")).await;
    let zone = browser
        .eval("return Intl.DateTimeFormat().resolvedOptions().timeZone;")
        .await;
    assert_eq!(zone, json!("Asia/Tokyo"), "the browser's time zone");
    let time = browser
        .find("#entries tr[data-name='dated.txt'] time")
        .await;
    let datetime = bounded("datetime", time.attr("datetime")).await;
    let title = bounded("title", time.attr("title"))
        .await
        .unwrap_or_default();
    let text = bounded("text", time.text()).await;
    // 03:04:05 UTC is 12:04:05 in Tokyo (UTC+9).
    let datetime = datetime.unwrap_or_default();
    assert!(
        datetime.starts_with("2026-01-02T03:04:05"),
        "datetime={datetime:?}"
    );
    assert!(text.contains("12:04"), "shown {text:?}, not Tokyo's time");
    assert!(!text.contains("03:04"), "shown {text:?}, in UTC");
    assert!(title.contains("12:04:05"), "title {title:?}");
}

/// `ferrox ROOT -l 127.0.0.1:0 FLAGS` and its address.
fn serve(root: &Path, flags: &[&str]) -> (Served, String) {
    let root_arg = root.to_str().unwrap();
    let mut args = vec![root_arg, "-l", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let served = Served::start(root, &args, &[], 1);
    let url = format!("http://{}", served.addr(0));
    (served, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_links_download_a_zip_and_a_tar_gz() {
    let root = fixture();
    let Some(browser) = Browser::start(Look::DESKTOP).await else {
        return;
    };
    // Without --archive, no links.
    {
        let server = TestServer::files(root.path());
        browser.goto(&server.url("/sub/")).await;
        assert_eq!(
            browser.find_all("#download-zip, #download-tgz").await.len(),
            0
        );
    }
    let (_served, url) = serve(root.path(), &["--archive"]);
    browser.goto(&format!("{url}/sub/")).await;
    let zip = browser.find("a#download-zip").await;
    assert_eq!(
        bounded("href", zip.attr("href")).await.as_deref(),
        Some("?download=zip")
    );
    let tgz = browser.find("a#download-tgz").await;
    assert_eq!(
        bounded("href", tgz.attr("href")).await.as_deref(),
        Some("?download=tar.gz")
    );
    for (id, magic) in [
        ("download-zip", json!([0x50, 0x4b, 3, 4])),
        ("download-tgz", json!([0x1f, 0x8b])),
    ] {
        let got = browser
            .eval_with(
                "return (async () => {
                   const r = await fetch(document.getElementById(arguments[0]).href);
                   const b = new Uint8Array(await r.arrayBuffer());
                   return {status: r.status, head: [...b.slice(0, arguments[1])]};
                 })();",
                vec![json!(id), json!(magic.as_array().map_or(0, Vec::len))],
            )
            .await;
        assert_eq!(got, json!({"status": 200, "head": magic}), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_form_adds_a_file_to_the_listing() {
    let root = fixture();
    let source = tempfile::tempdir().unwrap();
    let name = "upload me ☕.bin";
    let bytes = crate::support::noise(100_000, 7);
    let file = source.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    let (_served, url) = serve(root.path(), &["--upload"]);
    let Some(browser) = Browser::start(Look::DESKTOP).await else {
        return;
    };
    browser.goto(&format!("{url}/sub/")).await;
    browser
        .find("form#upload[method=post][enctype='multipart/form-data']")
        .await;
    browser.find("progress#upload-progress").await;
    let input = browser
        .find("#upload input#upload-files[type=file][name=file][multiple]")
        .await;
    bounded("choosing the file", input.send_keys(file.to_str().unwrap())).await;
    // The page's own way of submitting: its button, else a submit event.
    let buttons = browser
        .find_all("#upload button:not([type=button]), #upload input[type=submit]")
        .await;
    match buttons.first() {
        Some(button) => bounded("clicking upload", button.click()).await,
        None => {
            browser
                .eval("document.getElementById('upload').requestSubmit();")
                .await;
        }
    }
    let check = format!(
        "return [...document.querySelectorAll('#entries tr[data-name]')].some(r => r.dataset.name === {});",
        json!(name)
    );
    browser
        .wait_until("the uploaded file in the listing", &check)
        .await;
    assert_eq!(std::fs::read(root.join("sub").join(name)).unwrap(), bytes);
}

// ---- Screenshots ------------------------------------------------------------

/// A folder that looks like a project's downloads, with fixed times.
fn demo() -> TempRoot {
    let root = TempRoot::new()
        .dir("docs")
        .dir("photos")
        .dir("releases")
        .file(
            "README.md",
            "# Ferrox 1.4 downloads\n\nRelease builds for Linux, with their checksums. \
             Verify a download with `sha256sum -c SHA256SUMS`.\n\n\
             | Platform | File |\n|---|---|\n| x86-64 | `ferrox-1.4.0-x86_64-linux.tar.gz` |\n\
             | ARM64 | `ferrox-1.4.0-aarch64-linux.tar.gz` |\n\n\
             See the [changelog](CHANGELOG.md) for what is new.\n",
        )
        .file("CHANGELOG.md", vec![b'-'; 14_320])
        .file("SHA256SUMS", vec![b'0'; 390])
        .file("logo.svg", vec![b'<'; 3_071])
        .file("notes 2026-11.txt", vec![b'n'; 912]);
    // Large files, sparse: their size without their bytes.
    for (name, size) in [
        ("ferrox-1.4.0-x86_64-linux.tar.gz", 4_404_019),
        ("ferrox-1.4.0-aarch64-linux.tar.gz", 4_089_446),
        ("talk — fast static files.pdf", 1_887_437),
    ] {
        std::fs::File::create(root.join(name))
            .unwrap()
            .set_len(size)
            .unwrap();
    }
    let mut root = root;
    let names = [
        "docs",
        "photos",
        "releases",
        "README.md",
        "CHANGELOG.md",
        "SHA256SUMS",
        "logo.svg",
        "notes 2026-11.txt",
        "ferrox-1.4.0-x86_64-linux.tar.gz",
        "ferrox-1.4.0-aarch64-linux.tar.gz",
        "talk — fast static files.pdf",
    ];
    // 2026-11-20T09:30:00Z, then older by a few hours to a few days each.
    let newest = UNIX_EPOCH + Duration::from_secs(1_795_167_000);
    for (i, name) in (0u64..).zip(names) {
        let age = i * 7 * 3600 + i * i * 1800;
        root = root.mtime(name, newest - Duration::from_secs(age));
    }
    root
}

/// Where the screenshots go, when asked for.
fn screenshot_dir() -> Option<std::path::PathBuf> {
    let Some(dir) = std::env::var_os("FERROX_SCREENSHOTS") else {
        eprintln!("SKIPPED: set FERROX_SCREENSHOTS=DIR to save the listing's screenshots");
        return None;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// Loads `url` in a browser with `look` and saves its viewport as `file`.
async fn shoot(url: &str, look: Look, file: &Path) -> bool {
    let Some(browser) = Browser::start(look).await else {
        return false;
    };
    browser.goto(url).await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(file, &png).unwrap();
    eprintln!("saved {} ({} bytes)", file.display(), png.len());
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots() {
    let Some(dir) = screenshot_dir() else {
        return;
    };
    let root = demo();
    let server = TestServer::files(root.path());
    let url = server.url("/");
    for (file, look) in [
        ("listing-light.png", Look::DESKTOP),
        ("listing-dark.png", Look::DESKTOP.dark()),
        ("listing-phone.png", Look::PHONE),
    ] {
        if !shoot(&url, look, &dir.join(file)).await {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_upload() {
    let Some(dir) = screenshot_dir() else {
        return;
    };
    let root = demo();
    let (_served, url) = serve(root.path(), &["--upload", "--archive"]);
    shoot(
        &format!("{url}/"),
        Look::DESKTOP,
        &dir.join("listing-upload.png"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_folders_and_deletes_through_the_page_with_auth() {
    let root = fixture();
    let secrets = tempfile::tempdir().unwrap();
    let users = secrets.path().join("users");
    let hash = ferrox::site::auth::hash_password(b"s3cret").unwrap();
    std::fs::write(&users, format!("alice:{hash}\n")).unwrap();
    let (_served, url) = serve(
        root.path(),
        &[
            "--mkdir",
            "--delete",
            "--auth-file",
            users.to_str().unwrap(),
        ],
    );
    let Some(browser) = Browser::start(Look::DESKTOP).await else {
        return;
    };
    // The credentials once, in the address: the browser then sends them
    // with the page's own requests to the same origin.
    let authed = url.replacen("http://", "http://alice:s3cret@", 1);
    browser.goto(&format!("{authed}/sub/")).await;
    let name = browser.find("form#mkdir input#mkdir-name").await;
    bounded("typing a folder name", name.send_keys("made <here>")).await;
    bounded(
        "creating it",
        browser.find("form#mkdir button[type=submit]").await.click(),
    )
    .await;
    browser
        .wait_until(
            "the new folder in the listing",
            "return [...document.querySelectorAll('#entries tr[data-name]')]\
             .some(r => r.dataset.name === 'made <here>');",
        )
        .await;
    assert!(root.join("sub/made <here>").is_dir());

    // Delete a file: its row's button, then the confirmation.
    let file_row = browser
        .eval(
            "return [...document.querySelectorAll('#entries tr[data-name]')]\
             .filter(r => !r.classList.contains('kd')).map(r => r.dataset.name)[0];",
        )
        .await;
    let file = file_row.as_str().unwrap().to_string();
    assert!(root.join("sub").join(&file).is_file(), "{file}");
    // The click opens the confirmation, which holds the script's answer.
    browser
        .eval_with(
            "const r = [...document.querySelectorAll('#entries tr[data-name]')]\
             .find(r => r.dataset.name === arguments[0]); setTimeout(() => r.querySelector('button.del').click(), 0);",
            vec![json!(file)],
        )
        .await;
    // Confirm as soon as the dialog is up (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while browser.client.accept_alert().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "no confirmation dialog"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    browser
        .wait_until(
            "the file gone from the listing",
            &format!(
                "return document.readyState === 'complete' && ![...document.querySelectorAll('#entries tr[data-name]')]\
                 .some(r => r.dataset.name === {});",
                json!(file)
            ),
        )
        .await;
    assert!(
        !root.join("sub").join(&file).exists(),
        "{file} still on disk"
    );
}
