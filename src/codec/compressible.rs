//! Which representations are worth compressing: by type, by name, by size.

use std::path::Path;

/// Smallest file compressed (1 KiB): below it the saving is a few hundred bytes
/// at most, the response fits one TCP segment either way, and a compressed body
/// loses its exact Content-Length unless cached.
pub const MIN_SIZE: u64 = 1024;

/// Largest file compressed on the fly (8 MiB): brotli's on-the-fly level
/// compresses about 30 MB/s on one core, so 8 MiB already costs a quarter of a
/// core-second per request that misses the cache (whose entries are at most an
/// eighth of it). Bigger files are better precompressed (`ferrox precompress`).
pub const MAX_SIZE: u64 = 8 * 1024 * 1024;

/// Whether a representation of this `Content-Type` gains from compression:
/// text, scripts, JSON and XML (SVG included), WebAssembly, icons, and the font
/// formats that are not compressed already (TrueType, OpenType, EOT). Never
/// other images, audio, video, archives, WOFF/WOFF2, or anything unknown.
pub fn is_compressible(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((top, sub)) = essence.split_once('/') else {
        return false;
    };
    if top == "text" {
        return true;
    }
    // Structured syntax suffixes (RFC 6839): image/svg+xml, application/ld+json,
    // application/manifest+json, application/rss+xml, ...
    if sub.ends_with("+xml") || sub.ends_with("+json") {
        return true;
    }
    matches!(
        (top, sub),
        (
            "application",
            "javascript"
                | "x-javascript"
                | "ecmascript"
                | "json"
                | "xml"
                | "wasm"
                | "yaml"
                | "x-yaml"
                | "toml"
                | "x-ndjson"
                | "rtf"
                | "x-sh"
                | "vnd.ms-fontobject"
                | "font-sfnt"
                | "x-font-ttf"
                | "x-font-otf"
                | "x-font-truetype"
                | "x-font-opentype"
        ) | ("image", "x-icon" | "vnd.microsoft.icon" | "bmp")
            | ("font", "ttf" | "otf" | "collection" | "sfnt")
    )
}

/// Whether a file's name says its bytes are compressed already (`.gz`, `.br`,
/// `.zst`, `.svgz`, archives): such a file is never compressed again, even
/// when its Content-Type is a compressible one (`.svgz` is `image/svg+xml`).
pub fn is_encoded_name(path: &Path) -> bool {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "gz" | "br"
            | "zst"
            | "zstd"
            | "svgz"
            | "tgz"
            | "bz2"
            | "xz"
            | "lz4"
            | "lzma"
            | "z"
            | "zip"
            | "7z"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_types() {
        let yes = [
            "text/html; charset=utf-8",
            "text/css; charset=utf-8",
            "text/plain",
            "text/javascript; charset=utf-8",
            "text/csv",
            "TEXT/HTML",
            "application/javascript",
            "application/json; charset=utf-8",
            "application/ld+json",
            "application/manifest+json",
            "application/xml",
            "application/rss+xml",
            "application/atom+xml",
            "application/xhtml+xml",
            "image/svg+xml; charset=utf-8",
            "application/wasm",
            "image/x-icon",
            "image/vnd.microsoft.icon",
            "font/ttf",
            "font/otf",
            "application/vnd.ms-fontobject",
        ];
        let no = [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "image/avif",
            "video/mp4",
            "audio/mpeg",
            "application/zip",
            "application/gzip",
            "application/x-7z-compressed",
            "application/pdf",
            "application/octet-stream",
            "font/woff",
            "font/woff2",
            "application/font-woff",
            "",
            "garbage",
        ];
        for t in yes {
            assert!(is_compressible(t), "{t} should be compressible");
        }
        for t in no {
            assert!(!is_compressible(t), "{t} should not be compressible");
        }
    }

    #[test]
    fn encoded_names() {
        for name in ["a.js.gz", "a.css.br", "a.zst", "x.svgz", "a.tar.gz", "A.GZ"] {
            assert!(is_encoded_name(Path::new(name)), "{name}");
        }
        for name in ["a.js", "a.svg", "gz", "a.gzip.txt", "noext"] {
            assert!(!is_encoded_name(Path::new(name)), "{name}");
        }
    }
}
