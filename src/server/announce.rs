//! What the server says of its listeners at start-up: the URLs they can be
//! opened at. A listener on `0.0.0.0` or `[::]` is reached through the
//! machine's interfaces, so those are listed (a phone on the same network
//! opens the LAN one), never the unspecified address itself.

use std::net::{IpAddr, SocketAddr};

use crate::sys;

/// One URL a listener answers at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachable {
    /// `http://192.168.1.20:8080/`.
    pub url: String,
    /// Through the loopback interface (this machine only).
    pub loopback: bool,
}

/// The URLs of a listener bound to `addr`: itself, or for an unspecified
/// address, one per interface address of its family (an IPv6 listener
/// accepts IPv6 alone: `[::]` is bound v6-only), loopback first. Link-local
/// IPv6 addresses are left out: they need a zone a browser cannot take.
pub fn urls(addr: SocketAddr, tls: bool) -> Vec<Reachable> {
    let scheme = if tls { "https" } else { "http" };
    let url = |ip: IpAddr| Reachable {
        url: format!("{scheme}://{}/", SocketAddr::new(ip, addr.port())),
        loopback: ip.is_loopback(),
    };
    if !addr.ip().is_unspecified() {
        return vec![url(addr.ip())];
    }
    let mut found: Vec<IpAddr> = sys::net::interface_addresses()
        .into_iter()
        .filter(|ip| ip.is_ipv4() == addr.is_ipv4())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .collect();
    found.sort_by_key(|ip| (!ip.is_loopback(), *ip));
    found.dedup();
    if found.is_empty() {
        return vec![url(addr.ip())];
    }
    found.into_iter().map(url).collect()
}

/// Opens `url` in the default browser (`--open`).
pub fn open_in_browser(url: &str) -> std::io::Result<()> {
    sys::desktop::open_url(url)
}

/// `url` as a QR code drawn with half blocks, two rows of modules per line,
/// for a terminal (`--qr`); `None` when it is too long for one.
pub fn qr_code(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_itself() {
        let got = urls("192.0.2.7:8080".parse().unwrap(), false);
        assert_eq!(
            got,
            [Reachable {
                url: "http://192.0.2.7:8080/".into(),
                loopback: false
            }]
        );
        let got = urls("[::1]:8443".parse().unwrap(), true);
        assert_eq!(got[0].url, "https://[::1]:8443/");
        assert!(got[0].loopback);
    }

    #[test]
    fn every_interface_lists_loopback_first_and_never_the_unspecified_address() {
        let got = urls("0.0.0.0:8080".parse().unwrap(), false);
        assert_eq!(
            got.first().map(|r| r.url.as_str()),
            Some("http://127.0.0.1:8080/")
        );
        assert!(got.iter().all(|r| !r.url.contains("0.0.0.0")), "{got:?}");
        assert!(got.iter().all(|r| !r.url.contains('[')), "{got:?}");
    }

    #[test]
    fn a_qr_code_is_drawn_in_half_blocks() {
        let code = qr_code("http://192.168.1.20:8080/").unwrap();
        let lines: Vec<&str> = code.lines().collect();
        // Version 2 (25 modules) and a quiet zone of 4 on each side: 33
        // columns, 17 lines of two rows each.
        assert_eq!(lines.len(), 17, "{code}");
        assert!(lines.iter().all(|l| l.chars().count() == 33), "{code}");
        assert!(code.contains('▀') || code.contains('▄'));
    }
}
