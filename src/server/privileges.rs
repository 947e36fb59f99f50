//! Who the server runs as. Started as root to bind :80 and :443 without a
//! service manager, `--user NAME` becomes that user after binding and before
//! the roots are opened or any request is read (the sites are built as that
//! user, as nginx's workers open files as theirs).
//!
//! The server refuses to serve as root on a network address unless told to
//! (`--run-as-root`): that is the case to refuse, a root process exposed to
//! the network. On loopback alone (the default, `127.0.0.1:8080`) root is
//! allowed, so `ferrox` in a root shell on a laptop or in a container works as
//! it does for anyone.

use std::net::SocketAddr;

use crate::sys::service as sys;

/// Who to become, and whether root may serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunAs {
    /// `--user NAME`: switched to after binding, when started as root.
    pub user: Option<String>,
    /// `--run-as-root`: serve as root on network addresses too.
    pub run_as_root: bool,
}

/// What [`settle`] did, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Nothing to do: not root, no `--user`.
    Unchanged,
    /// Switched to the user: name, uid, gid.
    Switched(String, u32, u32),
    /// `--user` given but not root: nothing can be switched (nginx does the
    /// same); the process serves as who it is.
    NotRoot(String),
    /// Serving as root: only on loopback, or with `--run-as-root`.
    Root,
}

/// Applies `run_as` once the listeners on `addrs` are bound: switches user,
/// or refuses root on a network address. Call before any other thread
/// starts and before the sites are built.
pub fn settle(run_as: &RunAs, addrs: &[SocketAddr]) -> Result<Settled, String> {
    if !sys::is_root() {
        return Ok(match &run_as.user {
            Some(name) => Settled::NotRoot(name.clone()),
            None => Settled::Unchanged,
        });
    }
    if let Some(name) = &run_as.user {
        let (uid, gid) = sys::switch_user(name).map_err(|e| format!("--user {name}: {e}"))?;
        if uid != 0 {
            return Ok(Settled::Switched(name.clone(), uid, gid));
        }
    }
    match refusal(addrs, run_as.run_as_root) {
        Some(message) => Err(message),
        None => Ok(Settled::Root),
    }
}

/// The message refusing root, when one of `addrs` is on the network and root
/// was not allowed.
fn refusal(addrs: &[SocketAddr], allowed: bool) -> Option<String> {
    if allowed {
        return None;
    }
    let exposed = addrs
        .iter()
        .find(|a| !a.ip().to_canonical().is_loopback())?;
    Some(format!(
        "refusing to serve as root on {exposed}, a network address: give --user NAME \
         to switch to that user once the ports are bound, or --run-as-root to serve as root anyway"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused_only_on_a_network_address_unless_allowed() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let loopback = [addr("127.0.0.1:80"), addr("[::1]:443")];
        assert_eq!(refusal(&loopback, false), None);
        let exposed = [addr("127.0.0.1:80"), addr("0.0.0.0:443")];
        let message = refusal(&exposed, false).unwrap();
        assert!(message.contains("0.0.0.0:443"), "{message}");
        assert!(message.contains("--user NAME"), "{message}");
        assert!(message.contains("--run-as-root"), "{message}");
        assert_eq!(refusal(&exposed, true), None);
        assert!(refusal(&[addr("[::ffff:127.0.0.1]:80")], false).is_none());
        assert!(refusal(&[addr("[::]:80")], false).is_some());
    }
}
