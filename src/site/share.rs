//! Who may make changes (uploads, new folders, deletes; `handler::upload`
//! makes them), decided before any is made:
//!
//! - at start and on reload ([`check`]): uploads need basic auth unless every
//!   listener of the site is a loopback address; new folders and deletes
//!   need it always. Otherwise the server refuses to start, naming the site;
//! - per request ([`cross_site`]): a state-changing request from another
//!   origin is 403, whatever its credentials: its `Origin` must be the
//!   request's own (scheme, host and port), and `Sec-Fetch-Site` must not
//!   say `cross-site` or `same-site`. A browser sends one or the other with
//!   every form POST and fetch, so a cross-site page cannot post a form to
//!   a loopback server. On an open (loopback, no auth) site the `Host` must
//!   be a loopback name or address too: a DNS-rebinding page reaches the
//!   server by a name of its own.

use http::{header, Request};

use crate::handler::upload::ShareOptions;

/// Whether a site with `share` may start: `Err` names the option refused
/// (`upload`, `mkdir`, `delete`) and says why and how to fix it.
pub fn check(
    site: &str,
    share: &ShareOptions,
    auth: bool,
    loopback_only: bool,
) -> Result<(), (&'static str, String)> {
    if auth {
        return Ok(());
    }
    let fix = "add basic auth (--auth-file PATH, or the site's auth = { users_file = ... })";
    if share.mkdir || share.delete {
        let which = if share.mkdir { "mkdir" } else { "delete" };
        return Err((
            which,
            format!("site '{site}': {which} needs authentication: {fix}"),
        ));
    }
    if share.upload && !loopback_only {
        return Err((
            "upload",
            format!(
                "site '{site}': upload on a listener that is not loopback needs authentication: \
                 {fix}, or listen on 127.0.0.1 / [::1] only"
            ),
        ));
    }
    Ok(())
}

/// Why `req`, a change, comes from another site (or, with `open`, by a
/// rebound name), or `None` when it may go on. `tls`: the connection's.
pub fn cross_site(req: &Request<()>, tls: bool, open: bool) -> Option<&'static str> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        if site == "cross-site" || site == "same-site" {
            return Some("a request from another site (Sec-Fetch-Site)");
        }
    }
    let host = authority(req);
    if let Some(origin) = headers.get(header::ORIGIN) {
        let scheme = if tls { "https://" } else { "http://" };
        let same = match (origin.to_str().ok(), host) {
            (Some(origin), Some(host)) => origin
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host)),
            _ => false,
        };
        if !same {
            return Some("a request from another origin (Origin)");
        }
    }
    if open && !host.is_some_and(is_loopback_host) {
        return Some("a host that is not a loopback name on a server without auth");
    }
    None
}

/// The authority the request names (an absolute-form target's, else Host),
/// with its port.
fn authority(req: &Request<()>) -> Option<&str> {
    match req.uri().authority() {
        Some(a) => Some(a.as_str()),
        None => req.headers().get(header::HOST)?.to_str().ok(),
    }
}

/// `localhost`, a name under `.localhost`, or a loopback address, with or
/// without a port.
fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(fields: &[(&str, &str)]) -> Request<()> {
        let mut r = Request::builder().method("POST").uri("/up/");
        for (k, v) in fields {
            r = r.header(*k, *v);
        }
        r.body(()).unwrap()
    }

    #[test]
    fn origins() {
        let host = ("host", "127.0.0.1:8080");
        assert_eq!(cross_site(&req(&[host]), false, true), None);
        assert_eq!(
            cross_site(
                &req(&[host, ("origin", "http://127.0.0.1:8080")]),
                false,
                true
            ),
            None
        );
        assert!(cross_site(
            &req(&[host, ("origin", "https://127.0.0.1:8080")]),
            false,
            true
        )
        .is_some());
        assert!(cross_site(
            &req(&[host, ("origin", "http://evil.example")]),
            false,
            true
        )
        .is_some());
        assert!(cross_site(&req(&[host, ("origin", "null")]), false, true).is_some());
        assert!(cross_site(&req(&[host, ("sec-fetch-site", "cross-site")]), false, true).is_some());
        assert_eq!(
            cross_site(
                &req(&[host, ("sec-fetch-site", "same-origin")]),
                false,
                true
            ),
            None
        );
        // Rebinding: only on an open site.
        let evil = ("host", "evil.example:8080");
        assert!(cross_site(&req(&[evil]), false, true).is_some());
        assert_eq!(cross_site(&req(&[evil]), false, false), None);
        for ok in [
            "localhost",
            "LOCALHOST:80",
            "a.localhost",
            "[::1]:8080",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["example.com", "localhost.example.com", "10.0.0.1", "[::2]"] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn start_rules() {
        let upload = ShareOptions {
            upload: true,
            ..ShareOptions::default()
        };
        assert!(check("s", &upload, false, true).is_ok());
        let (key, e) = check("s", &upload, false, false).unwrap_err();
        assert_eq!(key, "upload");
        assert!(e.contains("site 's'") && e.contains("--auth-file"), "{e}");
        assert!(check("s", &upload, true, false).is_ok());
        let delete = ShareOptions {
            delete: true,
            ..ShareOptions::default()
        };
        assert_eq!(check("s", &delete, false, true).unwrap_err().0, "delete");
        assert!(check("s", &delete, true, true).is_ok());
    }
}
