//! Directory listings as HTML (no JavaScript, responsive) and as JSON. Pure
//! functions over already-read entries: every name is HTML-escaped in text and
//! percent-encoded in links.

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::files::path::encode_segment;
use crate::files::{Entry, SafePath};

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

fn display_time(t: std::time::SystemTime) -> String {
    // "2026-11-21T14:22:46Z" → "2026-11-21 14:22"
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.get(..16).map(|p| p.replace('T', " ")).unwrap_or(s)
}

/// The HTML page for a directory.
pub fn html(path: &SafePath<'_>, entries: &[Entry], sort: Sort, truncated: bool) -> String {
    let mut out = String::with_capacity(1024 + entries.len() * 160);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {}</title><style>{STYLE}</style></head><body>\n<h1>Index of ",
        decoded_title(path)
    );
    // Breadcrumbs: each ancestor links to its own URL.
    out.push_str("<a href=\"/\">/</a>");
    let mut url = String::from("/");
    for segment in path.segments() {
        url.push_str(&encode_segment(segment));
        url.push('/');
        out.push_str("<a href=\"");
        escape_html(&mut out, &url);
        out.push_str("\">");
        escape_html(&mut out, &String::from_utf8_lossy(segment));
        out.push_str("</a>/");
    }
    out.push_str("</h1>\n<table>\n<thead><tr>");
    for (key, label, class) in [
        (SortKey::Name, "Name", ""),
        (SortKey::Size, "Size", " class=\"n\""),
        (SortKey::Time, "Modified", " class=\"t\""),
    ] {
        let descending = sort.key == key && !sort.descending;
        let arrow = match (sort.key == key, sort.descending) {
            (false, _) => "",
            (true, false) => " ↑",
            (true, true) => " ↓",
        };
        let name = match key {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Time => "time",
        };
        let order = if descending { "desc" } else { "asc" };
        let _ = write!(
            out,
            "<th{class}><a href=\"?sort={name}&amp;order={order}\">{label}{arrow}</a></th>"
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    if !path.is_root() {
        out.push_str(
            "<tr><td><a href=\"../\">../</a></td><td class=\"n\"></td><td class=\"t\"></td></tr>\n",
        );
    }
    for entry in entries {
        let name = String::from_utf8_lossy(&entry.name);
        let slash = if entry.is_dir { "/" } else { "" };
        // "./" keeps a name such as "a:b" from reading as a URL scheme.
        out.push_str("<tr><td><a href=\"./");
        escape_html(&mut out, &encode_segment(&entry.name));
        out.push_str(slash);
        out.push_str("\">");
        escape_html(&mut out, &name);
        out.push_str(slash);
        out.push_str("</a></td><td class=\"n\">");
        if !entry.is_dir {
            out.push_str(&human_size(entry.size));
        }
        let _ = writeln!(
            out,
            "</td><td class=\"t\">{}</td></tr>",
            display_time(entry.modified)
        );
    }
    out.push_str("</tbody></table>\n");
    if truncated {
        let _ = writeln!(
            out,
            "<p class=\"note\">Listing truncated to the first {} entries.</p>",
            entries.len()
        );
    }
    out.push_str("</body></html>\n");
    out
}

fn decoded_title(path: &SafePath<'_>) -> String {
    let mut raw = String::from("/");
    for segment in path.segments() {
        raw.push_str(&String::from_utf8_lossy(segment));
        raw.push('/');
    }
    let mut title = String::new();
    escape_html(&mut title, &raw);
    title
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}\
h1{font-size:1.3em;font-weight:600;word-break:break-all}h1 a{text-decoration:none}\
table{border-collapse:collapse;width:100%}th{text-align:left;border-bottom:2px solid #ddd}\
td,th{padding:.3em .6em}tr:nth-child(even){background:#f6f6f6}a{color:#0645ad}\
td:first-child{word-break:break-all}.n{text-align:right;white-space:nowrap}.t{white-space:nowrap}\
.note{color:#777}@media(max-width:600px){.t{display:none}}\
@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}tr:nth-child(even){background:#1c1c1c}a{color:#8ab4f8}}";

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

    #[test]
    fn names_are_escaped_in_text_and_links() {
        let path = crate::files::sanitize("/", false).unwrap();
        let page = html(
            &path,
            &[entry("<b>\"x\"&'.txt", false, 1, 0)],
            Sort::from_query(None),
            false,
        );
        assert!(
            page.contains(
                "<a href=\"./%3Cb%3E%22x%22&amp;%27.txt\">&lt;b&gt;&quot;x&quot;&amp;&#39;.txt</a>"
            ),
            "{page}"
        );
        assert!(!page.contains("<b>"));
    }
}
