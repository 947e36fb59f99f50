//! The HTML page of a listing.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::icons::Kind;
use super::{escape_html, human_size, Offers, Rendered, Sort, SortKey, Summary, NONCE_PLACEHOLDER};
use crate::files::path::encode_segment;
use crate::files::{Entry, SafePath};
use crate::handler::look;

/// The page's own stylesheet, after the look it shares with error pages.
const PAGE_CSS: &str = include_str!("page.css");

/// The page's one script: filter, local times, uploads, new folders, deletes.
const PAGE_JS: &str = include_str!("page.js");

/// Everything a page shows besides its entries.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The folder's path.
    pub path: &'a SafePath<'a>,
    /// The order the entries are in.
    pub sort: Sort,
    /// Whether entries were left unread (the listing cap).
    pub truncated: bool,
    /// What the page offers beyond reading.
    pub offers: Offers,
    /// The folder's README, already rendered.
    pub readme: Option<&'a str>,
    /// Script to run after the page's own (development mode's live reload).
    pub extra_script: Option<&'a str>,
}

/// The page for a folder.
pub fn html(cx: &Context<'_>, entries: &[Entry]) -> Rendered {
    let mut out = String::with_capacity(8192 + entries.len() * 220);
    let mut nonce_at = Vec::with_capacity(2);
    let title = decoded_title(cx.path);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {title}</title><link rel=\"icon\" href=\"{}\"><style nonce=\"",
        look::FAVICON
    );
    nonce_at.push(out.len());
    out.push_str(NONCE_PLACEHOLDER);
    out.push_str("\">");
    out.push_str(look::CSS);
    out.push_str(PAGE_CSS);
    out.push_str("</style><script nonce=\"");
    nonce_at.push(out.len());
    out.push_str(NONCE_PLACEHOLDER);
    out.push_str("\">");
    out.push_str(PAGE_JS);
    if let Some(extra) = cx.extra_script {
        out.push_str(extra);
    }
    out.push_str("</script></head><body>\n<header><h1>Index of ");
    breadcrumbs(&mut out, cx.path);
    let summary = Summary::of(entries);
    let _ = writeln!(
        out,
        "</h1>\n<p id=\"summary\" class=\"sub\">{}</p></header>",
        summary.text()
    );
    bar(&mut out, cx.offers);
    out.push_str("<table>\n<thead><tr>");
    header_cells(&mut out, cx.sort);
    if cx.offers.delete {
        out.push_str("<th class=\"x\"></th>");
    }
    out.push_str("</tr></thead>\n<tbody id=\"entries\">\n");
    let spare_cell = if cx.offers.delete { "<td></td>" } else { "" };
    if !cx.path.is_root() {
        let _ = writeln!(
            out,
            "<tr class=\"ku\"><td><a href=\"../\">../</a></td><td></td><td></td>{spare_cell}</tr>"
        );
    }
    for entry in entries {
        row(&mut out, entry, cx.offers.delete);
    }
    out.push_str("</tbody></table>\n");
    if entries.is_empty() {
        out.push_str("<p class=\"note\">This folder is empty.</p>\n");
    }
    out.push_str("<p id=\"none\" class=\"note\" hidden>No name matches the filter.</p>\n");
    if cx.truncated {
        let _ = writeln!(
            out,
            "<p class=\"note\">Listing truncated to the first {} entries.</p>",
            entries.len()
        );
    }
    if let Some(readme) = cx.readme {
        out.push_str("<article id=\"readme\" class=\"readme\">\n");
        out.push_str(readme);
        out.push_str("</article>\n");
    }
    out.push_str("</body></html>\n");
    Rendered {
        text: out,
        nonce_at,
    }
}

/// Each ancestor links to its own URL.
fn breadcrumbs(out: &mut String, path: &SafePath<'_>) {
    out.push_str("<a href=\"/\">/</a>");
    let mut url = String::from("/");
    for segment in path.segments() {
        url.push_str(&encode_segment(segment));
        url.push('/');
        out.push_str("<a href=\"");
        escape_html(out, &url);
        out.push_str("\">");
        escape_html(out, &String::from_utf8_lossy(segment));
        out.push_str("</a>/");
    }
}

/// The filter (shown by the script), the archive links and the forms.
fn bar(out: &mut String, offers: Offers) {
    out.push_str(
        "<div class=\"bar\"><input id=\"filter\" type=\"search\" placeholder=\"Filter names (press /)\" \
         aria-label=\"Filter names\" autocomplete=\"off\" spellcheck=\"false\" hidden>",
    );
    if offers.archive {
        out.push_str(
            "<a class=\"btn\" id=\"download-zip\" href=\"?download=zip\" download>Download .zip</a>\
             <a class=\"btn\" id=\"download-tgz\" href=\"?download=tar.gz\" download>Download .tar.gz</a>",
        );
    }
    out.push_str("</div>\n");
    if offers.upload || offers.mkdir || offers.delete {
        // The status line says what failed (an upload, a new folder, a delete).
        out.push_str("<div class=\"bar\">");
        if offers.upload {
            out.push_str(
                "<form id=\"upload\" method=\"post\" enctype=\"multipart/form-data\" action=\"./\">\
                 <input id=\"upload-files\" type=\"file\" name=\"file\" multiple aria-label=\"Files to upload\">\
                 <button type=\"submit\">Upload</button>\
                 <span class=\"note drop-hint\">or drop files on the page</span>\
                 <progress id=\"upload-progress\" max=\"1\" value=\"0\" hidden></progress></form>",
            );
        }
        if offers.mkdir {
            out.push_str(
                "<form id=\"mkdir\" hidden><input id=\"mkdir-name\" name=\"name\" placeholder=\"New folder\" \
                 aria-label=\"New folder name\" autocomplete=\"off\"><button type=\"submit\">Create</button></form>",
            );
        }
        out.push_str("<span id=\"status\" class=\"note\" role=\"status\" hidden></span></div>\n");
    }
}

fn header_cells(out: &mut String, sort: Sort) {
    for (key, label, class) in [
        (SortKey::Name, "Name", ""),
        (SortKey::Size, "Size", " class=\"n\""),
        (SortKey::Time, "Modified", " class=\"t\""),
    ] {
        let active = sort.key == key;
        let arrow = match (active, sort.descending) {
            (false, _) => "",
            (true, false) => " ↑",
            (true, true) => " ↓",
        };
        let name = match key {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Time => "time",
        };
        let order = if active && !sort.descending {
            "desc"
        } else {
            "asc"
        };
        let aria = match (active, sort.descending) {
            (false, _) => "",
            (true, false) => " aria-sort=\"ascending\"",
            (true, true) => " aria-sort=\"descending\"",
        };
        let _ = write!(
            out,
            "<th{class}{aria}><a href=\"?sort={name}&amp;order={order}\">{label}{arrow}</a></th>"
        );
    }
}

/// One entry: a row as small as it can be (a folder of thousands is sent
/// whole): its kind as a class (the stylesheet draws the icon), the cells
/// styled by position. The script gives each row its raw name as `data-name`.
fn row(out: &mut String, entry: &Entry, delete: bool) {
    let name = String::from_utf8_lossy(&entry.name);
    let slash = if entry.is_dir { "/" } else { "" };
    let _ = write!(
        out,
        "<tr class=\"k{}\"><td><a href=\"./",
        Kind::of(&entry.name, entry.is_dir).id()
    );
    // "./" keeps a name such as "a:b" from reading as a URL scheme.
    escape_html(out, &encode_segment(&entry.name));
    out.push_str(slash);
    out.push_str("\">");
    escape_wrapping(out, &name);
    out.push_str(slash);
    out.push_str("</a></td><td>");
    if !entry.is_dir {
        out.push_str(&human_size(entry.size));
    }
    out.push_str("</td><td>");
    time(out, entry.modified);
    out.push_str("</td>");
    if delete {
        out.push_str(
            "<td><button type=\"button\" class=\"del\" title=\"Delete\" aria-label=\"Delete\">✕</button></td>",
        );
    }
    out.push_str("</tr>\n");
}

/// Names up to this many bytes get no break opportunities: they fit a line.
const SHORT_NAME: usize = 24;

/// `name` escaped, with a line-break opportunity after each `-`, `_`, `.`
/// and `+` when it is long: a long name wraps at its parts (the stylesheet
/// breaks anywhere only when a part alone is too long).
fn escape_wrapping(out: &mut String, name: &str) {
    if name.len() <= SHORT_NAME {
        escape_html(out, name);
        return;
    }
    let mut rest = name;
    while let Some(at) = rest.find(['-', '_', '.', '+']) {
        let (part, tail) = rest.split_at(at + 1);
        escape_html(out, part);
        if !tail.is_empty() {
            out.push_str("<wbr>");
        }
        rest = tail;
    }
    escape_html(out, rest);
}

/// `<time>2026-11-21 14:22:46Z</time>`: UTC, to the second, as the element's
/// own text (a valid date and time string, so no `datetime` attribute
/// repeats it); the script shows it in the reader's zone.
fn time(out: &mut String, t: SystemTime) {
    out.push_str("<time>");
    let start = out.len();
    let _ = write!(out, "{}", humantime::format_rfc3339_seconds(t));
    // "2026-11-21T14:22:46Z": the date and time parted by a space, in place.
    let sep = start + 10;
    if out.get(sep..sep + 1) == Some("T") {
        out.replace_range(sep..sep + 1, " ");
    }
    out.push_str("</time>");
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

#[cfg(test)]
pub(super) fn escape_wrapping_for_tests(out: &mut String, name: &str) {
    escape_wrapping(out, name)
}
