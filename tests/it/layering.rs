//! The import rules of `src/lib.rs` hold: every `crate::MODULE` path in a
//! module of `src/` (and every `ferrox::MODULE` path in `main.rs`) names a
//! module that the table in the crate doc allows it to import. And `sys` is
//! the only home of platform code: `cfg(target_os)` and `rustix` appear
//! nowhere else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The table in the crate doc: module → the modules it may import.
fn table(lib_rs: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut rules = BTreeMap::new();
    let mut in_block = false;
    for line in lib_rs.lines() {
        let line = line.trim_start_matches("//!").trim();
        if line.starts_with("```text") {
            in_block = true;
            continue;
        }
        if !in_block {
            continue;
        }
        if line.starts_with("```") {
            break;
        }
        let Some((module, allowed)) = line.split_once('→') else {
            continue;
        };
        let allowed = allowed.split('(').next().unwrap_or("");
        let allowed = allowed
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect();
        rules.insert(module.trim().to_string(), allowed);
    }
    rules
}

/// The top-level module a file of `src/` belongs to.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// Every module named by a `crate::X` (or, in `main.rs`, `ferrox::X`) path
/// outside comments.
fn imports(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// One line per import the table forbids, and per module it does not list.
fn violations(
    rules: &BTreeMap<String, BTreeSet<String>>,
    files: &[(PathBuf, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, text) in files {
        let Some(module) = module_of(rel) else {
            continue;
        };
        let Some(allowed) = rules.get(&module) else {
            out.push(format!(
                "{}: module '{module}' is not in the table",
                rel.display()
            ));
            continue;
        };
        let prefix = if module == "main" {
            "ferrox::"
        } else {
            "crate::"
        };
        for used in imports(text, prefix) {
            if used != module && !allowed.contains(&used) {
                out.push(format!("{}: {module} imports {used}", rel.display()));
            }
        }
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn every_import_is_allowed_by_the_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rules = table(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(rules.len() >= 10, "the table was not found: {rules:?}");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    assert!(files.len() > 30, "{} files", files.len());
    let bad = violations(&rules, &files);
    assert!(
        bad.is_empty(),
        "imports the table forbids:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_finds_a_forbidden_import() {
    let rules = table(
        "//! ```text\n//! handler → files, body   (no sockets)\n//! proto → body\n//! files →\n//! ```\n",
    );
    let files = vec![
        (
            PathBuf::from("handler/file.rs"),
            "use crate::files::x;\nuse crate::{body::Body, proto};\n// crate::server in a comment\nlet y = crate::proto::z();".to_string(),
        ),
        (PathBuf::from("proto/h1/conn.rs"), "use crate::body::Body;\n".to_string()),
        (PathBuf::from("files/mod.rs"), "mod path;\nuse ferrox_crate::server;\n".to_string()),
        (PathBuf::from("site/mod.rs"), "use crate::handler;\n".to_string()),
    ];
    assert_eq!(
        violations(&rules, &files),
        [
            "handler/file.rs: handler imports proto",
            "site/mod.rs: module 'site' is not in the table",
        ]
    );
}

/// Where the platform may be named: `sys/`, and `main.rs` for its one
/// `setrlimit` (portable to every Unix: it needs no gate).
fn platform_allowed(rel: &Path, needle: &str) -> bool {
    rel.starts_with("sys") || (needle == "rustix" && rel == Path::new("main.rs"))
}

/// One line per use of a platform name (`target_os`, `target_vendor`,
/// `rustix`) in code outside the files allowed to use it.
fn platform_outside_sys(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, text) in files {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for needle in ["target_os", "target_vendor", "rustix"] {
                if code.contains(needle) && !platform_allowed(rel, needle) {
                    out.push(format!("{}:{}: {needle}", rel.display(), n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn platform_code_lives_only_in_sys() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    assert!(
        files.iter().any(|(rel, _)| rel.starts_with("sys")),
        "no src/sys/ found"
    );
    let bad = platform_outside_sys(&files);
    assert!(
        bad.is_empty(),
        "platform code outside src/sys/ (move it behind a function of sys):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_finds_platform_code_outside_sys() {
    let files = vec![
        (
            PathBuf::from("server/conn.rs"),
            "#[cfg(target_os = \"linux\")]\nfn f() {}\n// target_os in a comment\n".to_string(),
        ),
        (
            PathBuf::from("files/resolve.rs"),
            "use rustix::fs::openat2;\nlet x = cfg!(target_vendor = \"apple\");\n".to_string(),
        ),
        (
            PathBuf::from("sys/linux.rs"),
            "#![cfg(target_os = \"linux\")]\nuse rustix::fs;\n".to_string(),
        ),
        (
            PathBuf::from("main.rs"),
            "use rustix::process;\n".to_string(),
        ),
        (
            PathBuf::from("main.rs"),
            "#[cfg(target_os = \"macos\")]\n".to_string(),
        ),
    ];
    assert_eq!(
        platform_outside_sys(&files),
        [
            "server/conn.rs:1: target_os",
            "files/resolve.rs:1: rustix",
            "files/resolve.rs:2: target_vendor",
            "main.rs:1: target_os",
        ]
    );
}

/// The lines of the first ```` ```text ```` block of `text`, without the
/// `//! ` of a crate doc.
fn text_block(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let line = line.strip_prefix("//!").unwrap_or(line);
            line.strip_prefix(' ')
                .unwrap_or(line)
                .trim_end()
                .to_string()
        })
        .skip_while(|line| !line.starts_with("```text"))
        .skip(1)
        .take_while(|line| !line.starts_with("```"))
        .collect()
}

/// ARCHITECTURE.md shows the table to readers of the repository: it is the
/// crate doc's, line for line, so the two cannot drift apart.
#[test]
fn the_architecture_document_shows_the_same_table() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = text_block(&std::fs::read_to_string(repo.join("src/lib.rs")).unwrap());
    let doc = std::fs::read_to_string(repo.join("ARCHITECTURE.md")).unwrap();
    let at = doc
        .find("## Who may import whom")
        .expect("ARCHITECTURE.md: no '## Who may import whom' section");
    let copy = text_block(&doc[at..]);
    assert!(lib.len() >= 10, "the crate doc's table: {lib:?}");
    assert_eq!(
        copy,
        lib,
        "ARCHITECTURE.md's table differs from src/lib.rs's:\n--- ARCHITECTURE.md:\n{}\n--- src/lib.rs:\n{}",
        copy.join("\n"),
        lib.join("\n")
    );
}
