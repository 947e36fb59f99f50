//! The listing's icons: one inline SVG sprite per page (no request, no font,
//! nothing from another origin), and the kind of each entry by its extension.

/// What an entry is, as its icon shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A folder.
    Folder,
    /// Plain text, notes, data.
    Text,
    /// Pictures.
    Image,
    /// Sound.
    Audio,
    /// Film.
    Video,
    /// Archives and packages.
    Archive,
    /// Source code and markup.
    Code,
    /// PDF documents.
    Pdf,
    /// Anything else.
    File,
}

impl Kind {
    /// The kind of an entry named `name`.
    pub fn of(name: &[u8], is_dir: bool) -> Kind {
        if is_dir {
            return Kind::Folder;
        }
        let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
            return Kind::File;
        };
        let ext = name.get(dot + 1..).unwrap_or_default();
        let mut lower = [0u8; 8];
        if ext.is_empty() || ext.len() > lower.len() {
            return Kind::File;
        }
        for (l, b) in lower.iter_mut().zip(ext) {
            *l = b.to_ascii_lowercase();
        }
        let ext = lower.get(..ext.len()).unwrap_or_default();
        KINDS
            .iter()
            .find(|(_, exts)| exts.contains(&ext))
            .map_or(Kind::File, |(kind, _)| *kind)
    }

    /// The symbol's id in [`SPRITE`].
    pub fn id(self) -> &'static str {
        match self {
            Kind::Folder => "d",
            Kind::Text => "t",
            Kind::Image => "i",
            Kind::Audio => "a",
            Kind::Video => "v",
            Kind::Archive => "z",
            Kind::Code => "c",
            Kind::Pdf => "p",
            Kind::File => "f",
        }
    }
}

const KINDS: [(Kind, &[&[u8]]); 7] = [
    (
        Kind::Text,
        &[
            b"txt",
            b"md",
            b"markdown",
            b"rst",
            b"log",
            b"csv",
            b"tsv",
            b"ini",
            b"cfg",
            b"conf",
            b"nfo",
            b"srt",
            b"vtt",
            b"tex",
            b"org",
            b"adoc",
            b"rtf",
        ],
    ),
    (
        Kind::Image,
        &[
            b"png", b"jpg", b"jpeg", b"gif", b"webp", b"avif", b"svg", b"ico", b"bmp", b"tif",
            b"tiff", b"heic", b"heif", b"jxl", b"psd", b"raw",
        ],
    ),
    (
        Kind::Audio,
        &[
            b"mp3", b"ogg", b"oga", b"opus", b"flac", b"wav", b"m4a", b"aac", b"weba", b"mid",
            b"midi", b"aiff",
        ],
    ),
    (
        Kind::Video,
        &[
            b"mp4", b"m4v", b"webm", b"mkv", b"mov", b"avi", b"ogv", b"mpeg", b"mpg", b"wmv",
            b"3gp",
        ],
    ),
    (
        Kind::Archive,
        &[
            b"zip", b"tar", b"gz", b"tgz", b"bz2", b"xz", b"zst", b"7z", b"rar", b"br", b"lz4",
            b"iso", b"deb", b"rpm", b"dmg", b"jar", b"apk", b"whl", b"crate",
        ],
    ),
    (
        Kind::Code,
        &[
            b"rs",
            b"c",
            b"h",
            b"cc",
            b"cpp",
            b"hpp",
            b"py",
            b"js",
            b"mjs",
            b"cjs",
            b"ts",
            b"tsx",
            b"jsx",
            b"go",
            b"java",
            b"kt",
            b"rb",
            b"php",
            b"sh",
            b"bash",
            b"zsh",
            b"fish",
            b"pl",
            b"lua",
            b"swift",
            b"html",
            b"htm",
            b"css",
            b"scss",
            b"json",
            b"xml",
            b"wasm",
            b"sql",
            b"toml",
            b"yaml",
            b"yml",
            b"cs",
            b"zig",
            b"vue",
            b"svelte",
            b"ex",
            b"exs",
            b"hs",
            b"ml",
            b"scala",
            b"dart",
            b"r",
            b"jl",
            b"nix",
            b"dockerfile",
            b"mk",
        ],
    ),
    (Kind::Pdf, &[b"pdf"]),
];

/// The sprite every page carries once: a 24-unit page outline with a mark per
/// kind, a folder, and the arrow of the `../` row. Drawn with the current
/// stroke colour, so the stylesheet colours them (and dark mode follows).
pub const SPRITE: &str = concat!(
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"0\" height=\"0\" class=\"sprite\" aria-hidden=\"true\">",
    "<symbol id=\"d\" viewBox=\"0 0 24 24\"><path d=\"M3 6.5C3 5.7 3.7 5 4.5 5H9l2 2.5h8.5c.8 0 1.5.7 1.5 1.5v8.5c0 .8-.7 1.5-1.5 1.5h-15c-.8 0-1.5-.7-1.5-1.5z\"/></symbol>",
    "<symbol id=\"f\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4\"/></symbol>",
    "<symbol id=\"t\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4M9 11h6M9 14h6M9 17h4\"/></symbol>",
    "<symbol id=\"i\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4M8.5 18l2.5-3 1.8 1.8 1.4-1.3 1.8 2.5\"/><circle cx=\"10\" cy=\"11.5\" r=\"1.2\"/></symbol>",
    "<symbol id=\"a\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4M11 17.5V11l4-1v6.2\"/><circle cx=\"9.8\" cy=\"17.5\" r=\"1.2\"/><circle cx=\"13.8\" cy=\"16.2\" r=\"1.2\"/></symbol>",
    "<symbol id=\"v\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4M10 11.5v6l4.8-3z\"/></symbol>",
    "<symbol id=\"z\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4M10 4v1.5M12 6v1.5M10 8v1.5M12 10v1.5M10 13.5h2.5v3.5H10z\"/></symbol>",
    "<symbol id=\"c\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4M10.5 12 8.5 14.5l2 2.5M13.5 12l2 2.5-2 2.5\"/></symbol>",
    "<symbol id=\"p\" viewBox=\"0 0 24 24\"><path d=\"M6 3h8l4 4v14H6zM14 3v4h4\"/><text x=\"12\" y=\"17.6\" text-anchor=\"middle\" font-size=\"5.6\" font-weight=\"700\" font-family=\"sans-serif\" fill=\"currentColor\" stroke=\"none\">PDF</text></symbol>",
    "<symbol id=\"u\" viewBox=\"0 0 24 24\"><path d=\"M12 19V6M7 11l5-5 5 5\"/></symbol>",
    "</svg>",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension_whatever_the_case() {
        assert_eq!(Kind::of(b"dir", true), Kind::Folder);
        assert_eq!(Kind::of(b"dir.zip", true), Kind::Folder);
        assert_eq!(Kind::of(b"notes.TXT", false), Kind::Text);
        assert_eq!(Kind::of(b"photo.JpEg", false), Kind::Image);
        assert_eq!(Kind::of(b"song.flac", false), Kind::Audio);
        assert_eq!(Kind::of(b"film.webm", false), Kind::Video);
        assert_eq!(Kind::of(b"site.tar.gz", false), Kind::Archive);
        assert_eq!(Kind::of(b"main.rs", false), Kind::Code);
        assert_eq!(Kind::of(b"paper.pdf", false), Kind::Pdf);
        assert_eq!(Kind::of(b"Makefile", false), Kind::File);
        assert_eq!(Kind::of(b"odd.", false), Kind::File);
        assert_eq!(Kind::of(b"x.averylongextension", false), Kind::File);
        assert_eq!(Kind::of(b"\xff.\xfe", false), Kind::File);
    }

    #[test]
    fn every_kind_has_a_symbol_in_the_sprite() {
        for kind in [
            Kind::Folder,
            Kind::Text,
            Kind::Image,
            Kind::Audio,
            Kind::Video,
            Kind::Archive,
            Kind::Code,
            Kind::Pdf,
            Kind::File,
        ] {
            let symbol = format!("<symbol id=\"{}\"", kind.id());
            assert!(SPRITE.contains(&symbol), "{kind:?}");
        }
    }
}
