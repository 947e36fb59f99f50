//! What is wrong, and where: [`Problem`], [`Location`], and the helpers that
//! turn byte offsets into lines and columns, spell key paths and suggest keys.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where something starts in the file: 1-based line, and 1-based column counted
/// in characters (a tab counts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One thing wrong with a configuration file. Displays as
/// `ferrox.toml:12:9: site[1].tls.cert: no such file 'certs/a.pem'`
/// (without the key part when `key` is empty, as for syntax errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as it was given.
    pub file: PathBuf,
    /// 1-based line of the value (of the key, for an unknown key).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The key path, e.g. `server.listen[2]` or `site[0].cache_rules."/assets/**"`;
    /// empty when the problem is not about one key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `loc` in `file`: the constructor for callers that check a
    /// value later (e.g. that `tls.cert` exists) and report it where it was set.
    pub fn at(
        file: &Path,
        loc: Location,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line: loc.line,
            column: loc.column,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Where the problem is.
    pub fn location(&self) -> Location {
        Location {
            line: self.line,
            column: self.column,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// Byte offset → [`Location`] for one text.
pub(super) struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of the start of every line.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The location of byte `offset` (clamped to the text).
    pub(super) fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset.saturating_sub(start), |s| s.chars().count())
            + 1;
        Location { line, column }
    }
}

/// `prefix.key`, with `key` quoted as TOML would need it (`cache_rules."/a/**"`).
pub(super) fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// The message for a key that is not in `known`: a suggestion when one is close,
/// or the whole list.
pub(super) fn unknown_key(key: &str, known: &[&str]) -> String {
    match closest(key, known) {
        Some(best) => format!("unknown key; did you mean '{best}'?"),
        None => format!("unknown key; expected one of: {}", known.join(", ")),
    }
}

/// The candidate within a small edit distance of `word`, if any: at most one
/// edit for short words, about one in three for longer ones. Case, `-` and `_`
/// are ignored first, so `max-connections` finds `max_connections`.
pub(crate) fn closest<'k>(word: &str, candidates: &[&'k str]) -> Option<&'k str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let word = norm(word);
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and
/// swaps of two neighbours each cost one.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let far = a.len() + b.len();
    let at = |row: &[usize], j: usize| row.get(j).copied().unwrap_or(far);
    // Three rows: two back (for swaps), one back, and the current one.
    let mut before: Vec<usize> = vec![far; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut last_a = None;
    for (i, &ca) in a.iter().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        let mut last_b = None;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let left = row.last().copied().unwrap_or(far);
            let mut d = (at(&prev, j) + cost)
                .min(at(&prev, j + 1) + 1)
                .min(left + 1);
            if last_a == Some(cb) && last_b == Some(ca) {
                d = d.min(at(&before, j.saturating_sub(1)) + 1);
            }
            row.push(d);
            last_b = Some(cb);
        }
        before = std::mem::replace(&mut prev, row);
        last_a = Some(ca);
    }
    at(&prev, b.len())
}

/// `a string`, `an integer`, ... for "found ..." messages.
pub(super) fn a_type(value: &toml::de::DeValue<'_>) -> &'static str {
    use toml::de::DeValue;
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let text = "a = 1\n\tb = \"é\" # x\n\nlast";
        let idx = LineIndex::new(text);
        assert_eq!(idx.locate(0), Location { line: 1, column: 1 });
        assert_eq!(idx.locate(4), Location { line: 1, column: 5 });
        assert_eq!(idx.locate(6), Location { line: 2, column: 1 });
        // After the tab and "b = ": column 6 (the tab counts as one).
        assert_eq!(idx.locate(11), Location { line: 2, column: 6 });
        // After a two-byte character: columns count characters.
        let after = text.find(" # x").unwrap();
        assert_eq!(idx.locate(after), Location { line: 2, column: 9 });
        assert_eq!(idx.locate(text.len()), Location { line: 4, column: 5 });
        assert_eq!(idx.locate(9999), Location { line: 4, column: 5 });
        assert_eq!(
            LineIndex::new("").locate(0),
            Location { line: 1, column: 1 }
        );
    }

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("root", "root"), 0);
        assert_eq!(edit_distance("rooot", "root"), 1);
        assert_eq!(edit_distance("raot", "root"), 1);
        assert_eq!(edit_distance("lsiten", "listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let keys = ["root", "hosts", "listen", "listen_tls", "max_connections"];
        assert_eq!(closest("rooot", &keys), Some("root"));
        assert_eq!(closest("listen-tls", &keys), Some("listen_tls"));
        assert_eq!(closest("Max-Connections", &keys), Some("max_connections"));
        assert_eq!(closest("lisen", &keys), Some("listen"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("x", &keys), None);
    }

    #[test]
    fn key_paths() {
        assert_eq!(join("", "server"), "server");
        assert_eq!(join("site[0]", "tls"), "site[0].tls");
        assert_eq!(
            join("site[0].cache_rules", "/assets/**"),
            r#"site[0].cache_rules."/assets/**""#
        );
        assert_eq!(join("server", "a\"b"), r#"server."a\"b""#);
        assert_eq!(join("server", ""), r#"server."""#);
    }
}
