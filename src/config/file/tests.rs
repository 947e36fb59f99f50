//! Snippets → the exact problems reported; whole files → the keys read.

use super::*;

/// Every problem `text` has, as displayed, for a file named `ferrox.toml`.
fn problems(text: &str) -> Vec<String> {
    match parse(Path::new("ferrox.toml"), text) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn empty_file_is_valid() {
    assert_eq!(problems(""), Vec::<String>::new());
    let config = parse(Path::new("ferrox.toml"), "").unwrap();
    assert_eq!(config.server, ServerKeys::default());
    assert!(config.sites.is_empty());
}
