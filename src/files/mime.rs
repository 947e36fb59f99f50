//! Content types from file extensions, with `charset=utf-8` on text.

use std::path::Path;

/// The type for unknown extensions: browsers must not guess (we also send
/// `X-Content-Type-Options: nosniff`).
pub const UNKNOWN: &str = "application/octet-stream";

/// The `Content-Type` value for a file name.
pub fn content_type(path: &Path) -> String {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return UNKNOWN.to_string();
    };
    // RFC 9239: text/javascript is the one JavaScript type.
    let essence = match mime.essence_str() {
        "application/javascript" | "application/x-javascript" => "text/javascript",
        // RFC 8081: the font types; mime_guess still names WOFF by its old type.
        "application/font-woff" | "application/x-font-woff" => "font/woff",
        other => other,
    };
    if is_text(&mime) {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

/// Text-like types whose bytes a browser decodes as characters.
fn is_text(mime: &mime_guess::Mime) -> bool {
    let sub = mime.subtype().as_str();
    let suffix = mime.suffix().map(|s| s.as_str());
    mime.type_() == mime_guess::mime::TEXT
        || matches!(
            sub,
            "javascript" | "json" | "xml" | "manifest+json" | "ld+json"
        )
        || matches!(suffix, Some("xml") | Some("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_web_types() {
        for (name, want) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.json", "application/json; charset=utf-8"),
            ("a.svg", "image/svg+xml; charset=utf-8"),
            ("a.xml", "text/xml; charset=utf-8"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.png", "image/png"),
            ("a.jpg", "image/jpeg"),
            ("a.webp", "image/webp"),
            ("a.wasm", "application/wasm"),
            ("a.woff2", "font/woff2"),
            ("a.woff", "font/woff"),
            ("a.pdf", "application/pdf"),
            ("a.mp4", "video/mp4"),
            ("noext", UNKNOWN),
            ("a.unknownext", UNKNOWN),
        ] {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }
}
