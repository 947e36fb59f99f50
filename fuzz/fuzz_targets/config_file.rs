//! The configuration file parser on any text. It never panics, and:
//!
//! - every problem points inside the text: a line between 1 and the number of
//!   lines (plus one, for the end of the text), a column of at least 1;
//! - `parse` and `parse_partial` agree: `parse` succeeds exactly when
//!   `parse_partial` reads the file and finds no problem;
//! - a file that parses parses again to the same configuration (the parser
//!   keeps no state between calls).
#![no_main]

use std::path::Path;

use ferrox::config::file::{parse, parse_partial};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = Path::new("/fuzz/ferrox.toml");
    let whole = parse(path, text);
    let (partial, problems) = parse_partial(path, text);
    let lines = text.lines().count() + 1;
    for problem in &problems {
        assert!(
            problem.line >= 1 && problem.line <= lines.max(1),
            "line {} of {lines}: {problem}",
            problem.line
        );
        assert!(problem.column >= 1, "column 0: {problem}");
    }
    match &whole {
        Ok(config) => {
            assert!(
                problems.is_empty(),
                "parse took a file with problems: {problems:?}"
            );
            assert_eq!(partial.as_ref(), Some(config));
            assert_eq!(parse(path, text).ok().as_ref(), Some(config));
        }
        Err(errors) => assert_eq!(errors, &problems, "parse and parse_partial disagree"),
    }
});
