//! The desktop: opening a URL in the user's browser (`--open`).

use std::io;
use std::process::{Command, Stdio};

/// The system's command that opens a URL in the default browser.
#[cfg(target_os = "macos")]
const OPENER: &str = "open";
#[cfg(not(target_os = "macos"))]
const OPENER: &str = "xdg-open";

/// Opens `url` in the default browser, without waiting for it: the opener
/// runs detached, its output discarded, and is reaped by a thread.
pub fn open_url(url: &str) -> io::Result<()> {
    let mut child = Command::new(OPENER)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{OPENER}: {e}")))?;
    std::thread::spawn(move || child.wait());
    Ok(())
}
