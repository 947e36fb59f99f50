//! A folder's README below its listing: Markdown (CommonMark with tables,
//! strikethrough, task lists and footnotes) rendered by pulldown-cmark, with
//! every piece of raw HTML shown as text and links kept to safe schemes.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// The names tried, in order: the first that is a file is rendered.
pub const NAMES: [&[u8]; 4] = [b"README.md", b"readme.md", b"Readme.md", b"README.markdown"];

/// Largest README rendered: a bigger one is left to be opened as a file.
pub const MAX_BYTES: u64 = 256 * 1024;

/// The HTML of `markdown`. Raw HTML (blocks and inline) becomes escaped text,
/// so a README can neither run script nor break the page; links and images
/// keep relative targets and `http`, `https` and `mailto` ones, and anything
/// else (`javascript:`, `data:`, `vbscript:`...) becomes `#`.
pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        event => event,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

/// `url` when it is relative or has a safe scheme, else `#`. The scheme is
/// read as browsers read it: after dropping leading spaces and control
/// characters and every tab and line break.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let cleaned: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let scheme_end = cleaned.find([':', '/', '?', '#']);
    let safe = match scheme_end {
        Some(at) if cleaned.get(at..at + 1) == Some(":") => {
            let scheme = cleaned.get(..at).unwrap_or_default().to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
        _ => true,
    };
    if safe {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html = render(
            "# Title\n\nSome *text* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>text</em>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("checkbox"), "{html}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = render("<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> there\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
    }

    #[test]
    fn only_safe_links_survive() {
        for (md, href) in [
            ("[a](javascript:alert(1))", "#"),
            ("[a](JavaScript:alert(1))", "#"),
            ("[a](<java\tscript:alert(1)>)", "#"),
            ("[a](%20javascript:alert(1))", "#"),
            ("[a](data:text/html,x)", "#"),
            ("[a](vbscript:x)", "#"),
            ("[a](https://example.com/x)", "https://example.com/x"),
            ("[a](mailto:a@b.c)", "mailto:a@b.c"),
            ("[a](docs/guide.md)", "docs/guide.md"),
            ("[a](/abs)", "/abs"),
            ("[a](#part)", "#part"),
            ("[a](./x:y)", "./x:y"),
            ("![i](javascript:x)", "#"),
            ("![i](pic.png)", "pic.png"),
        ] {
            let html = render(md);
            let attr = if md.starts_with('!') { "src" } else { "href" };
            let want = format!("{attr}=\"{href}\"");
            assert!(html.contains(&want), "{md} → {html}");
        }
        let html = render("<javascript:alert(1)>");
        assert!(!html.contains("href=\"javascript"), "{html}");
    }
}
