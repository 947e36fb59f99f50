//! A site's root that follows its configured path, as deploys expect: `current`
//! switched from `releases/1` to `releases/2`, a folder replaced at the same
//! path, a folder removed. The path is resolved again on every
//! [`FollowedRoot::refresh`] (the server calls it every second and on reload):
//! when it leads to another folder, new requests get a handler over the new
//! one (and the old one's cache entries are dropped) while requests in flight
//! finish on the old; when it leads nowhere, the site answers 503 and the log
//! says why, never an empty listing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::handler::{self, Handler, Shared, StartError};

/// What a refresh found.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    /// The path still leads to the folder being served.
    Unchanged,
    /// The path leads to another folder, now served.
    Followed,
    /// The path leads nowhere (or to something that cannot be served): the
    /// site answers 503 until it does again.
    Vanished(String),
    /// Still gone, as the last refresh said.
    StillGone,
}

/// The handler over whatever folder the path names now.
#[derive(Debug)]
pub struct FollowedRoot {
    path: PathBuf,
    options: handler::Options,
    shared: Shared,
    current: ArcSwapOption<Handler>,
}

impl FollowedRoot {
    /// Opens the folder at `path`: it must be there at start.
    pub fn open(
        path: &Path,
        options: handler::Options,
        shared: &Shared,
    ) -> Result<Self, StartError> {
        let handler = Handler::open_shared(path, options.clone(), shared)?;
        Ok(FollowedRoot {
            path: path.to_path_buf(),
            options,
            shared: shared.clone(),
            current: ArcSwapOption::from_pointee(handler),
        })
    }

    /// The path as configured.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether its files are served in development mode.
    pub fn dev(&self) -> bool {
        self.options.dev
    }

    /// The handler for a new request, or `None` while the folder is gone.
    pub fn handler(&self) -> Option<Arc<Handler>> {
        self.current.load_full()
    }

    /// Calls `f` with the current handler without taking a reference count
    /// (the usual request, answered at once).
    pub fn with<R>(&self, f: impl FnOnce(Option<&Handler>) -> R) -> R {
        let guard = self.current.load();
        f(guard.as_deref())
    }

    /// Resolves the path again and follows it (see the module doc). Blocking:
    /// a few system calls.
    pub fn refresh(&self) -> Refresh {
        let serving = self.current.load_full();
        let now = match std::fs::metadata(&self.path) {
            Ok(meta) if meta.is_dir() => meta,
            Ok(_) => return self.gone(serving.is_some(), "is no longer a folder".into()),
            Err(e) => return self.gone(serving.is_some(), e.to_string()),
        };
        if let Some(handler) = &serving {
            if handler.serves_folder(&now) {
                return Refresh::Unchanged;
            }
        }
        match Handler::open_shared(&self.path, self.options.clone(), &self.shared) {
            Ok(handler) => {
                self.current.store(Some(Arc::new(handler)));
                if let Some(old) = serving {
                    self.shared.forget_root(old.root_id());
                }
                Refresh::Followed
            }
            Err(e) => self.gone(serving.is_some(), e.to_string()),
        }
    }

    fn gone(&self, was_serving: bool, why: String) -> Refresh {
        if !was_serving {
            return Refresh::StillGone;
        }
        if let Some(old) = self.current.swap(None) {
            self.shared.forget_root(old.root_id());
        }
        Refresh::Vanished(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(Default::default(), Default::default())
    }

    fn root_of(f: &FollowedRoot) -> PathBuf {
        f.handler()
            .map(|h| h.root().to_path_buf())
            .unwrap_or_default()
    }

    #[test]
    fn follows_a_switched_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("1"), dir.path().join("2"));
        std::fs::create_dir(&one).unwrap();
        std::fs::create_dir(&two).unwrap();
        let current = dir.path().join("current");
        std::os::unix::fs::symlink(&one, &current).unwrap();
        let f = FollowedRoot::open(&current, Default::default(), &shared()).unwrap();
        assert_eq!(root_of(&f), one.canonicalize().unwrap());
        assert_eq!(f.refresh(), Refresh::Unchanged);
        let next = dir.path().join("next");
        std::os::unix::fs::symlink(&two, &next).unwrap();
        std::fs::rename(&next, &current).unwrap();
        assert_eq!(f.refresh(), Refresh::Followed);
        assert_eq!(root_of(&f), two.canonicalize().unwrap());
        assert_eq!(f.refresh(), Refresh::Unchanged);
    }

    #[test]
    fn a_folder_replaced_or_removed_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir(&site).unwrap();
        let f = FollowedRoot::open(&site, Default::default(), &shared()).unwrap();
        std::fs::remove_dir(&site).unwrap();
        std::fs::create_dir(&site).unwrap();
        assert_eq!(f.refresh(), Refresh::Followed);
        std::fs::remove_dir(&site).unwrap();
        assert!(matches!(f.refresh(), Refresh::Vanished(_)));
        assert!(f.handler().is_none());
        assert_eq!(f.refresh(), Refresh::StillGone);
        std::fs::create_dir(&site).unwrap();
        assert_eq!(f.refresh(), Refresh::Followed);
        assert!(f.handler().is_some());
    }
}
