//! Development mode's watcher: the roots of the sites served in development
//! mode are watched (recursively, with the `notify` crate), and a change under
//! one tells the live-reload hub ([`crate::handler::dev::LiveHub`]), whose
//! event streams then send `reload` to every open page.
//!
//! Bounded: the watcher's callback only wakes a [`Notify`], which holds one
//! permit however many events arrive, and this task turns a burst into one
//! change once the files have been quiet for [`DEBOUNCE`] (at most
//! [`MAX_DELAY`] after the first event). Events that are not edits are
//! ignored: the server's own opens and reads, metadata (a read updates the
//! access time), and editors' scratch files (dotfiles, `name~`, `#name#`,
//! vim's `4913`). The roots are taken from the live generation again after a
//! reload; the task ends at shutdown, dropping the watcher.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::{Event, RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::reload::ROOT_REFRESH;
use super::sites::Live;
use super::Shutdown;

/// Quiet time after an event before the pages are told: an editor's save is
/// several events (write, rename, attributes) within a few milliseconds.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// The longest a change waits for quiet: a build that writes for a minute
/// still reloads the pages about once a second.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// Watches the development roots of `live`'s current generation until
/// `shutdown`, telling the live-reload hub of changes (see the module doc).
pub async fn live_reload(live: Arc<Live>, shutdown: Shutdown) {
    let hub = live.parts().shared.live().clone();
    let wake = Arc::new(Notify::new());
    let mut seen_generation = 0;
    let mut roots: Vec<PathBuf> = Vec::new();
    // Held, never read: dropping it stops the watching.
    let mut _watcher: Option<notify::RecommendedWatcher> = None;
    let mut tick = tokio::time::interval(ROOT_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let current = live.current();
        if current.number() != seen_generation {
            seen_generation = current.number();
            let wanted = current.sites().dev_roots();
            if wanted != roots {
                roots = wanted;
                _watcher = None;
                if !roots.is_empty() {
                    // A recursive watch walks the whole tree: off the runtime.
                    let (paths, wake) = (roots.clone(), wake.clone());
                    _watcher = tokio::task::spawn_blocking(move || watch(paths, wake))
                        .await
                        .ok()
                        .flatten();
                }
            }
        }
        drop(current);
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = tick.tick() => continue,
            () = wake.notified() => {}
        }
        let deadline = Instant::now() + MAX_DELAY;
        loop {
            tokio::select! {
                () = shutdown.triggered() => return,
                () = tokio::time::sleep(DEBOUNCE) => break,
                () = tokio::time::sleep_until(deadline) => break,
                () = wake.notified() => {}
            }
        }
        tracing::debug!("live reload: files changed");
        hub.changed();
    }
}

/// A watcher of `roots` that wakes `wake` on every edit under them, or
/// `None` (logged) when the platform's watcher cannot be made. A root that
/// cannot be watched is logged and left out.
fn watch(roots: Vec<PathBuf>, wake: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    // Canonical, as the platforms report paths (FSEvents: /private/var/...),
    // so that the scratch-file filter sees paths relative to their root.
    let roots: Vec<PathBuf> = roots
        .into_iter()
        .map(|root| std::fs::canonicalize(&root).unwrap_or(root))
        .collect();
    let filter_roots = roots.clone();
    let handler = move |event: notify::Result<Event>| match event {
        Ok(event) if is_edit(&event, &filter_roots) => wake.notify_one(),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "live reload: watcher error"),
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!(error = %e, "live reload: cannot watch files; pages will not reload");
            return None;
        }
    };
    let mut watching = 0;
    for root in &roots {
        match watcher.watch(root, RecursiveMode::Recursive) {
            Ok(()) => watching += 1,
            Err(e) => tracing::warn!(
                root = %root.display(),
                error = %e,
                "live reload: cannot watch this root; its pages will not reload"
            ),
        }
    }
    tracing::info!(
        roots = watching,
        "live reload: watching {watching} folder(s) for changes"
    );
    Some(watcher)
}

/// Whether `event` is an edit of something served under one of `roots`.
fn is_edit(event: &Event, roots: &[PathBuf]) -> bool {
    let kind = match event.kind {
        // Closing a file opened for writing is the end of a save.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        // Opens and reads: the server's own, among others.
        EventKind::Access(_) => false,
        // Attributes: a read updates the access time.
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
    };
    // No paths: the watcher lost events (a queue overflow) and asks for a rescan.
    kind && (event.paths.is_empty() || event.paths.iter().any(|p| !is_scratch(p, roots)))
}

/// Whether `path` is an editor's scratch file, or inside a dot-folder
/// (`.git`), relative to the root it is under.
fn is_scratch(path: &Path, roots: &[PathBuf]) -> bool {
    let rel = roots
        .iter()
        .find_map(|root| path.strip_prefix(root).ok())
        .unwrap_or(path);
    let hidden = rel.components().any(|c| match c {
        Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
        _ => false,
    });
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    hidden
        || name.ends_with('~')
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn edits_count_and_reads_metadata_and_scratch_files_do_not() {
        let roots = [PathBuf::from("/home/u/.sites/blog")];
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let cases = [
            (write, "/home/u/.sites/blog/index.html", true),
            (write, "/home/u/.sites/blog/css/site.css", true),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                "/home/u/.sites/blog/a.html",
                true,
            ),
            (
                EventKind::Create(CreateKind::File),
                "/home/u/.sites/blog/new.html",
                true,
            ),
            (
                EventKind::Remove(RemoveKind::Any),
                "/home/u/.sites/blog/old.html",
                true,
            ),
            (
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                "/home/u/.sites/blog/index.html",
                false,
            ),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                "/home/u/.sites/blog/index.html",
                false,
            ),
            (write, "/home/u/.sites/blog/.index.html.swp", false),
            (write, "/home/u/.sites/blog/.git/index", false),
            (write, "/home/u/.sites/blog/index.html~", false),
            (write, "/home/u/.sites/blog/#index.html#", false),
            (write, "/home/u/.sites/blog/4913", false),
        ];
        for (kind, path, want) in cases {
            assert_eq!(is_edit(&event(kind, path), &roots), want, "{kind:?} {path}");
        }
        assert!(is_edit(&Event::new(EventKind::Other), &roots), "a rescan");
    }
}
