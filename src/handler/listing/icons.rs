//! The kind of each entry by its extension, which picks its icon: inline SVG
//! in the page's stylesheet (`data:` masks in `page.css`, drawn in the text
//! colour so dark mode follows; no request, no font, nothing from another
//! origin).

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
        // One match: the compiler turns it into a few comparisons by length
        // and bytes (a listing asks once per row).
        match ext {
            b"txt" | b"md" | b"markdown" | b"rst" | b"log" | b"csv" | b"tsv" | b"ini" | b"cfg"
            | b"conf" | b"nfo" | b"srt" | b"vtt" | b"tex" | b"org" | b"adoc" | b"rtf" => Kind::Text,
            b"png" | b"jpg" | b"jpeg" | b"gif" | b"webp" | b"avif" | b"svg" | b"ico" | b"bmp"
            | b"tif" | b"tiff" | b"heic" | b"heif" | b"jxl" | b"psd" | b"raw" => Kind::Image,
            b"mp3" | b"ogg" | b"oga" | b"opus" | b"flac" | b"wav" | b"m4a" | b"aac" | b"weba"
            | b"mid" | b"midi" | b"aiff" => Kind::Audio,
            b"mp4" | b"m4v" | b"webm" | b"mkv" | b"mov" | b"avi" | b"ogv" | b"mpeg" | b"mpg"
            | b"wmv" | b"3gp" => Kind::Video,
            b"zip" | b"tar" | b"gz" | b"tgz" | b"bz2" | b"xz" | b"zst" | b"7z" | b"rar" | b"br"
            | b"lz4" | b"iso" | b"deb" | b"rpm" | b"dmg" | b"jar" | b"apk" | b"whl" | b"crate" => {
                Kind::Archive
            }
            b"rs" | b"c" | b"h" | b"cc" | b"cpp" | b"hpp" | b"py" | b"js" | b"mjs" | b"cjs"
            | b"ts" | b"tsx" | b"jsx" | b"go" | b"java" | b"kt" | b"rb" | b"php" | b"sh"
            | b"bash" | b"zsh" | b"fish" | b"pl" | b"lua" | b"swift" | b"html" | b"htm"
            | b"css" | b"scss" | b"json" | b"xml" | b"wasm" | b"sql" | b"toml" | b"yaml"
            | b"yml" | b"cs" | b"zig" | b"vue" | b"svelte" | b"ex" | b"exs" | b"hs" | b"ml"
            | b"scala" | b"dart" | b"r" | b"jl" | b"nix" | b"mk" => Kind::Code,
            b"pdf" => Kind::Pdf,
            _ => Kind::File,
        }
    }

    /// The kind's letter: the row's class is `k` and this (`kd`, `kt`...),
    /// which the stylesheet draws the icon for.
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
    fn every_kind_has_an_icon_in_the_stylesheet() {
        let css = include_str!("page.css");
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
            let rule = format!(".k{}{{--i:url(\"data:image/svg+xml,", kind.id());
            assert!(css.contains(&rule), "{kind:?}");
        }
        assert!(css.contains(".ku{--i:url("), "the parent row's arrow");
    }
}
