//! Directory listings as HTML and as JSON. Pure functions over already-read
//! entries: every name is HTML-escaped in text and percent-encoded in links.
//!
//! The HTML page ([`html`]) works without JavaScript (sorting is links, times
//! are UTC); its one script, allowed by a per-response nonce, adds the filter,
//! local times, and the upload, new-folder and delete controls. The page is
//! rendered once with a placeholder where the nonce goes ([`Rendered`]), kept
//! in the listing cache, and stamped with a fresh nonce per response.

mod html;
pub mod icons;
pub mod readme;

use std::cmp::Ordering;

use crate::files::Entry;
pub use html::{html, Context};

/// Listing sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// By name (byte order, case-insensitive first).
    Name,
    /// By size.
    Size,
    /// By modification time.
    Time,
}

/// How a listing is sorted: directories always come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The column.
    pub key: SortKey,
    /// Largest, latest or last first.
    pub descending: bool,
}

impl Sort {
    /// Reads `sort=name|size|time` and `order=asc|desc` from a query string;
    /// anything else falls back to name, ascending.
    pub fn from_query(query: Option<&str>) -> Sort {
        let mut sort = Sort {
            key: SortKey::Name,
            descending: false,
        };
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("sort", "name")) => sort.key = SortKey::Name,
                Some(("sort", "size")) => sort.key = SortKey::Size,
                Some(("sort", "time")) => sort.key = SortKey::Time,
                Some(("order", "desc")) => sort.descending = true,
                Some(("order", "asc")) => sort.descending = false,
                _ => {}
            }
        }
        sort
    }

    /// Sorts entries: directories first, then by the key.
    pub fn apply(self, entries: &mut [Entry]) {
        entries.sort_by(|a, b| {
            let by_key = match self.key {
                SortKey::Name => by_name(a, b),
                SortKey::Size => a.size.cmp(&b.size).then_with(|| by_name(a, b)),
                SortKey::Time => a.modified.cmp(&b.modified).then_with(|| by_name(a, b)),
            };
            let by_key = if self.descending {
                by_key.reverse()
            } else {
                by_key
            };
            b.is_dir.cmp(&a.is_dir).then(by_key)
        });
    }
}

/// Natural order, as people sort: case-insensitive, and runs of digits by
/// their value (`9-nine` before `10-ten`); equal names by their bytes.
fn by_name(a: &Entry, b: &Entry) -> Ordering {
    natural(&a.name, &b.name).then_with(|| a.name.cmp(&b.name))
}

/// Compares two names a run at a time: digit runs by value (leading zeros
/// ignored, then fewer zeros first), other bytes ASCII-case-insensitively.
/// Allocates nothing.
pub fn natural(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let (ra, rb) = (digits(a, i), digits(b, j));
            let za = ra.iter().take_while(|&&c| c == b'0').count();
            let zb = rb.iter().take_while(|&&c| c == b'0').count();
            let (va, vb) = (
                ra.get(za..).unwrap_or_default(),
                rb.get(zb..).unwrap_or_default(),
            );
            let order = va
                .len()
                .cmp(&vb.len())
                .then_with(|| va.cmp(vb))
                .then_with(|| za.cmp(&zb));
            if order != Ordering::Equal {
                return order;
            }
            i += ra.len();
            j += rb.len();
            continue;
        }
        let order = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
        if order != Ordering::Equal {
            return order;
        }
        i += 1;
        j += 1;
    }
    (a.len() - i.min(a.len())).cmp(&(b.len() - j.min(b.len())))
}

/// The run of ASCII digits of `s` from `from`.
fn digits(s: &[u8], from: usize) -> &[u8] {
    let rest = s.get(from..).unwrap_or_default();
    let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    rest.get(..len).unwrap_or_default()
}

/// Drops the precompressed sidecars (`X.br`, `X.gz`, `X.zst` beside a file
/// `X`) from a listing: they are representations of `X`, served as `X`.
pub fn hide_sidecars(entries: &mut Vec<Entry>) {
    let files: std::collections::HashSet<Vec<u8>> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .map(|e| e.name.clone())
        .collect();
    entries.retain(|e| {
        if e.is_dir {
            return true;
        }
        let stem = [b".br".as_slice(), b".gz", b".zst"]
            .iter()
            .find_map(|ext| e.name.strip_suffix(*ext));
        !stem.is_some_and(|stem| files.contains(stem))
    });
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape_html(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `1.5 KiB`: binary units, one decimal above bytes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// What a folder holds, as the page's summary line and the JSON listing's
/// fields say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Folders listed.
    pub folders: u64,
    /// Files listed.
    pub files: u64,
    /// The files' sizes added up.
    pub bytes: u64,
}

impl Summary {
    /// Counts `entries`.
    pub fn of(entries: &[Entry]) -> Summary {
        entries.iter().fold(Summary::default(), |mut s, e| {
            if e.is_dir {
                s.folders += 1;
            } else {
                s.files += 1;
                s.bytes = s.bytes.saturating_add(e.size);
            }
            s
        })
    }

    /// `2 folders, 1 file, 3.0 KiB`.
    pub fn text(&self) -> String {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{}, {}, {}",
            plural(self.folders, "folder", "folders"),
            plural(self.files, "file", "files"),
            human_size(self.bytes)
        )
    }
}

/// What the page offers beyond reading, as the server was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offers {
    /// Download links for the folder as `.zip` and `.tar.gz`.
    pub archive: bool,
    /// The upload form (multipart POST to the folder) and drag and drop.
    pub upload: bool,
    /// The new-folder form (MKCOL).
    pub mkdir: bool,
    /// A delete button per entry (DELETE).
    pub delete: bool,
}

/// A rendered page, with the places of the nonce placeholder in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The page, with [`NONCE_PLACEHOLDER`] where each nonce goes.
    pub text: String,
    /// Byte offsets of the placeholders.
    pub nonce_at: Vec<usize>,
}

/// Characters of a nonce: 16 random bytes in unpadded base64url.
pub const NONCE_LEN: usize = 22;

/// What a cached page holds where the nonce goes; as long as a nonce.
pub const NONCE_PLACEHOLDER: &str = "0000000000000000000000";

/// `page` with `nonce` at each of `at` (a copy: the cached page stays as it is).
pub fn stamp(page: &[u8], at: &[usize], nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut out = page.to_vec();
    for &offset in at {
        if let Some(slot) = out.get_mut(offset..offset + NONCE_LEN) {
            slot.copy_from_slice(nonce);
        }
    }
    out
}

/// The listing as a JSON array of `{name, type, size, mtime}`.
pub fn json(entries: &[Entry]) -> String {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": String::from_utf8_lossy(&e.name),
                "type": if e.is_dir { "directory" } else { "file" },
                "size": e.size,
                "mtime": humantime::format_rfc3339_seconds(e.modified).to_string(),
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(name: &str, is_dir: bool, size: u64, secs: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            is_dir,
            size,
            modified: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    #[test]
    fn sorting_keeps_directories_first() {
        let mut entries = vec![
            entry("b.txt", false, 5, 3),
            entry("z", true, 0, 1),
            entry("A.txt", false, 9, 2),
            entry("a", true, 0, 2),
        ];
        let names = |e: &[Entry]| {
            e.iter()
                .map(|e| String::from_utf8_lossy(&e.name).into_owned())
                .collect::<Vec<_>>()
        };
        Sort::from_query(None).apply(&mut entries);
        assert_eq!(names(&entries), ["a", "z", "A.txt", "b.txt"]);
        Sort::from_query(Some("sort=size&order=desc")).apply(&mut entries);
        assert_eq!(names(&entries), ["z", "a", "A.txt", "b.txt"]);
        Sort::from_query(Some("sort=time")).apply(&mut entries);
        assert_eq!(names(&entries), ["z", "a", "A.txt", "b.txt"]);
    }

    #[test]
    fn names_sort_naturally() {
        let mut names: Vec<&[u8]> = vec![
            b"10-ten", b"9-nine", b"b.txt", b"A.txt", b"file10", b"file2", b"file02", b"a.txt",
            b"x", b"x1", b"007", b"7",
        ];
        names.sort_by(|a, b| natural(a, b).then_with(|| a.cmp(b)));
        let got: Vec<&str> = names
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "7", "007", "9-nine", "10-ten", "A.txt", "a.txt", "b.txt", "file2", "file02",
                "file10", "x", "x1"
            ]
        );
    }

    #[test]
    fn sidecars_beside_their_file_are_not_listed() {
        let mut entries = vec![
            entry("app.js", false, 10, 0),
            entry("app.js.br", false, 3, 0),
            entry("app.js.gz", false, 4, 0),
            entry("app.js.zst", false, 4, 0),
            entry("lonely.gz", false, 4, 0),
            entry("dir.br", true, 0, 0),
        ];
        hide_sidecars(&mut entries);
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, [b"app.js".as_slice(), b"lonely.gz", b"dir.br"]);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
    }

    fn page(entries: &[Entry], offers: Offers, readme: Option<&str>) -> Rendered {
        let path = crate::files::sanitize("/sub/", false).unwrap();
        let cx = Context {
            path: &path,
            sort: Sort::from_query(None),
            truncated: false,
            offers,
            readme,
            extra_script: None,
        };
        html(&cx, entries)
    }

    #[test]
    fn names_are_escaped_in_text_and_links() {
        let page = page(
            &[entry("<b>\"x\"&'.txt", false, 1, 0)],
            Offers::default(),
            None,
        );
        assert!(
            page.text.contains(
                "<tr class=\"kt\"><td><a href=\"./%3Cb%3E%22x%22&amp;%27.txt\">\
                 &lt;b&gt;&quot;x&quot;&amp;&#39;.txt</a></td><td>1 B</td><td><time>1970-01-01 00:00:00Z</time></td></tr>"
            ),
            "{}",
            page.text
        );
        assert!(!page.text.contains("<b>"));
    }

    #[test]
    fn the_nonce_goes_where_the_page_says() {
        let page = page(&[entry("a", false, 1, 0)], Offers::default(), None);
        assert_eq!(page.nonce_at.len(), 2);
        for &at in &page.nonce_at {
            assert_eq!(&page.text[at..at + NONCE_LEN], NONCE_PLACEHOLDER);
        }
        let nonce = [b'Z'; NONCE_LEN];
        let stamped =
            String::from_utf8(stamp(page.text.as_bytes(), &page.nonce_at, &nonce)).unwrap();
        let z = "Z".repeat(NONCE_LEN);
        assert!(stamped.contains(&format!("<style nonce=\"{z}\">")));
        assert!(stamped.contains(&format!("<script nonce=\"{z}\">")));
        assert!(!stamped.contains(NONCE_PLACEHOLDER));
        // Nothing else in the page carries a nonce or an inline handler.
        assert_eq!(stamped.matches("nonce=").count(), 2);
        assert!(!stamped.contains(" onclick=") && !stamped.contains(" style=\""));
    }

    #[test]
    fn counts_and_offers_show() {
        let entries = [
            entry("d", true, 0, 0),
            entry("a.txt", false, 1000, 0),
            entry("b.txt", false, 2072, 0),
        ];
        let plain = page(&entries, Offers::default(), None).text;
        assert!(
            plain.contains("<p id=\"summary\" class=\"sub\">1 folder, 2 files, 3.0 KiB</p>"),
            "{plain}"
        );
        for id in [
            "id=\"download-zip\"",
            "id=\"upload\"",
            "id=\"mkdir\"",
            "<th class=\"x\">",
            "id=\"readme\"",
        ] {
            assert!(!plain.contains(id), "{id} without its offer");
        }
        let all = Offers {
            archive: true,
            upload: true,
            mkdir: true,
            delete: true,
        };
        let full = page(&entries, all, Some("<p>hi</p>")).text;
        for id in [
            "id=\"download-zip\" href=\"?download=zip\"",
            "id=\"download-tgz\" href=\"?download=tar.gz\"",
            "<form id=\"upload\" method=\"post\" enctype=\"multipart/form-data\"",
            "id=\"upload-files\" type=\"file\" name=\"file\" multiple",
            "<progress id=\"upload-progress\"",
            "<form id=\"mkdir\" hidden>",
            "class=\"del\"",
            "<article id=\"readme\" class=\"readme\">\n<p>hi</p></article>",
        ] {
            assert!(full.contains(id), "{id} missing:\n{full}");
        }
        assert_eq!(Summary::of(&[]).text(), "0 folders, 0 files, 0 B");
    }

    #[test]
    fn long_names_break_at_their_parts() {
        let mut out = String::new();
        html::escape_wrapping_for_tests(&mut out, "a-b_c.d+e<f-long-enough-to-wrap");
        assert_eq!(
            out,
            "a-<wbr>b_<wbr>c.<wbr>d+<wbr>e&lt;f-<wbr>long-<wbr>enough-<wbr>to-<wbr>wrap"
        );
        out.clear();
        html::escape_wrapping_for_tests(&mut out, "a-name-that-ends-in-a-dot.");
        assert_eq!(
            out,
            "a-<wbr>name-<wbr>that-<wbr>ends-<wbr>in-<wbr>a-<wbr>dot."
        );
        // Short names fit a line: no markup in them.
        out.clear();
        html::escape_wrapping_for_tests(&mut out, "file-0001.txt");
        assert_eq!(out, "file-0001.txt");
    }
}
