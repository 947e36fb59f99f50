//! The README's quick start works on a fresh clone: of the two commands in
//! its first code block, the serve command names a folder of the repository
//! (served here, every link of its index page answered), and the test command
//! is exactly one that CI (`.ci/run`) runs.

use std::path::Path;

use crate::support::TestServer;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The commands of the first code block under `## Quick start`: one a line,
/// `# comments` and blank lines left out.
fn quick_start(readme: &str) -> Result<Vec<String>, String> {
    let mut lines = readme.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == "## Quick start")
        .ok_or("no '## Quick start' heading")?;
    for line in lines.by_ref() {
        if line.starts_with("```") {
            break;
        }
        if line.starts_with("## ") {
            return Err("no code block under '## Quick start'".into());
        }
    }
    let mut commands = Vec::new();
    for line in lines {
        if line.starts_with("```") {
            return Ok(commands);
        }
        let command = match line.find(" #") {
            Some(at) => &line[..at],
            None => line,
        };
        let command = command.trim();
        if !command.is_empty() && !command.starts_with('#') {
            commands.push(command.to_string());
        }
    }
    Err("the quick start's code block is not closed".into())
}

/// Checks the quick start against the repository at `repo` and CI's script;
/// returns the folder the serve command serves.
fn check(readme: &str, ci: &str, repo: &Path) -> Result<String, String> {
    let commands = quick_start(readme)?;
    let [serve, test] = commands.as_slice() else {
        return Err(format!("expected two commands, got {commands:?}"));
    };
    let args: Vec<&str> = serve.split_whitespace().collect();
    let folder = match args.as_slice() {
        ["cargo", "run", "--release", "--", folder] => *folder,
        _ => return Err(format!("not `cargo run --release -- FOLDER`: {serve:?}")),
    };
    if !repo.join(folder).join("index.html").is_file() {
        return Err(format!(
            "{serve:?}: {folder}/index.html is not in the repository"
        ));
    }
    if !test.starts_with("cargo test") {
        return Err(format!("the second command does not test: {test:?}"));
    }
    if !ci.lines().any(|l| l.trim() == test) {
        return Err(format!("{test:?} is not a command of .ci/run"));
    }
    Ok(folder.to_string())
}

#[test]
fn the_quick_start_serves_a_folder_of_the_repository_and_tests_as_ci_does() {
    let folder = check(&read("README.md"), &read(".ci/run"), repo())
        .unwrap_or_else(|e| panic!("README.md: {e}"));
    let commands = quick_start(&read("README.md")).unwrap();
    assert_eq!(commands[1], "cargo test --locked");

    // Served as `ferrox FOLDER` would: every local link of the index page answers.
    let root = repo().join(&folder);
    let server = TestServer::files(&root);
    let index = server.get("/");
    index.expect(200);
    let page = index.text();
    assert!(page.contains("Ferrox"), "{page}");
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|link| !link.contains(':') && !link.starts_with('#'))
        .collect();
    assert!(links.len() >= 3, "links of {folder}/index.html: {links:?}");
    for link in links {
        // The page offers one link to show the built-in 404 page.
        let status = if link == "missing" { 404 } else { 200 };
        server.get(&format!("/{link}")).expect(status);
    }
}

/// The check is not a formality: each way the quick start can go wrong is
/// caught.
#[test]
fn the_quick_start_check_fails_on_what_a_fresh_clone_would_fail_on() {
    let ci = "cargo fmt --all -- --check\ncargo test --locked\n";
    let readme =
        |block: &str| format!("# Ferrox\n\n## Quick start\n\n```sh\n{block}```\n\n## Next\n");
    let good =
        "cargo run --release -- example-site   # serve it\ncargo test --locked   # test it\n";
    assert_eq!(
        check(&readme(good), ci, repo()),
        Ok("example-site".to_string())
    );
    let cases = [
        // A folder that a fresh clone does not have.
        (
            readme("cargo run --release -- ./site\ncargo test --locked\n"),
            "./site/index.html is not in the repository",
        ),
        (
            readme("cargo run --release -- no-such-folder\ncargo test --locked\n"),
            "no-such-folder/index.html is not in the repository",
        ),
        // A test command CI does not run.
        (
            readme("cargo run --release -- example-site\ncargo test\n"),
            "\"cargo test\" is not a command of .ci/run",
        ),
        (
            readme("cargo run --release -- example-site\n"),
            "expected two commands",
        ),
        (
            readme("cargo run -- example-site\ncargo test --locked\n"),
            "not `cargo run --release -- FOLDER`",
        ),
        (
            "# Ferrox\n\n## Quick start\n\nNo block.\n\n## Next\n```sh\nx\n```\n".to_string(),
            "no code block",
        ),
        ("# Ferrox\n".to_string(), "no '## Quick start' heading"),
    ];
    for (readme, expected) in cases {
        let got = check(&readme, ci, repo());
        assert!(
            got.as_ref().is_err_and(|e| e.contains(expected)),
            "--- README:\n{readme}\n--- expected an error containing {expected:?}, got {got:?}"
        );
    }
}
