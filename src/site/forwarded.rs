//! The client behind trusted proxies: `X-Forwarded-For` and `Forwarded`
//! (RFC 7239) name it, but any client can send either, so they are believed
//! only from a peer listed in `trusted_proxies` (or, behind the PROXY
//! protocol, a header source listed there).
//!
//! The chain is read from the right, as nginx's `real_ip_recursive` does:
//! each hop a trusted proxy added is skipped, and the first address not
//! trusted is the client. Whatever a client wrote to the left of that is
//! never looked at, so a forged header gains it nothing.
//!
//! One header is read: `X-Forwarded-For` by default (what HAProxy's `option
//! forwardfor`, nginx and most CDNs add), or `Forwarded` (RFC 7239) when
//! configured. Never both: a proxy that appends to one passes the other
//! through as the client wrote it, and reading that one would let a client
//! name itself.

use std::net::{IpAddr, SocketAddr};

use http::{header, HeaderMap};
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// Which header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239), its `for=` parameters.
    Forwarded,
}

impl TrustedProxies {
    /// Parses each entry: an address or a CIDR block. The error names it.
    pub fn new(entries: &[String]) -> Result<TrustedProxies, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                let parsed = if entry.contains('/') {
                    entry.parse::<IpNet>().ok()
                } else {
                    entry.parse::<IpAddr>().ok().map(IpNet::from)
                };
                parsed.map(|n| n.trunc()).ok_or_else(|| {
                    format!(
                        "trusted proxy {entry:?}: not an address like 10.1.2.3 or ::1, or a \
                         CIDR block like 10.0.0.0/8"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies {
            nets,
            header: ForwardedHeader::default(),
        })
    }

    /// The same proxies, read from `header`.
    pub fn reading(self, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies { header, ..self }
    }

    /// The header read.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether none are listed (no header is ever believed).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.nets.is_empty() || !self.trusts(peer) {
            return peer;
        }
        if self.header == ForwardedHeader::Forwarded {
            let hops = headers
                .get_all(header::FORWARDED)
                .iter()
                .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
                .map(forwarded_for);
            return self.walk(peer, hops.collect());
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
            .map(|hop| plain_address(hop.trim()));
        self.walk(peer, hops.collect())
    }

    /// From the right: skip trusted hops; the first untrusted one is the
    /// client. A hop that names no address (`unknown`, an obfuscated name,
    /// garbage) ends the walk at the last address known.
    fn walk(&self, peer: IpAddr, hops: Vec<Option<IpAddr>>) -> IpAddr {
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The `for=` address of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        plain_address(value.trim().trim_matches('"'))
    })
}

/// `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn plain_address(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::new(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_only_from_a_trusted_peer() {
        let proxies = trusted(&["10.0.0.0/8", "::1"]);
        let xff = headers(&[("x-forwarded-for", "198.51.100.7")]);
        // From a trusted proxy: believed.
        assert_eq!(proxies.client(ip("10.1.2.3"), &xff), ip("198.51.100.7"));
        assert_eq!(proxies.client(ip("::1"), &xff), ip("198.51.100.7"));
        // v4-mapped peer is the IPv4 proxy.
        assert_eq!(
            proxies.client(ip("::ffff:10.1.2.3"), &xff),
            ip("198.51.100.7")
        );
        // From anyone else: the client's own header is ignored.
        assert_eq!(proxies.client(ip("203.0.113.9"), &xff), ip("203.0.113.9"));
        // No proxies configured: never believed.
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &xff),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let cases: &[(&[(&str, &str)], &str)] = &[
            // A forged entry on the left is never reached.
            (
                &[("x-forwarded-for", "1.1.1.1, 198.51.100.7")],
                "198.51.100.7",
            ),
            // Trusted hops on the right are skipped.
            (
                &[("x-forwarded-for", "198.51.100.7, 10.0.0.9, 10.0.0.8")],
                "198.51.100.7",
            ),
            // Several header lines are one list, in order.
            (
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "198.51.100.8, 10.2.2.2"),
                ],
                "198.51.100.8",
            ),
            // Every hop trusted: the leftmost.
            (&[("x-forwarded-for", "10.9.9.9, 10.8.8.8")], "10.9.9.9"),
            // Garbage ends the walk at the last address known.
            (&[("x-forwarded-for", "198.51.100.7, nonsense")], "10.0.0.1"),
            (&[("x-forwarded-for", "nonsense, 10.3.3.3")], "10.3.3.3"),
            // Ports and brackets.
            (&[("x-forwarded-for", "[2001:db8::7]:4711")], "2001:db8::7"),
            (&[("x-forwarded-for", "198.51.100.7:5000")], "198.51.100.7"),
            // A client's own Forwarded header is not read: the proxy appends
            // to X-Forwarded-For and passes Forwarded through untouched.
            (
                &[
                    ("forwarded", "for=10.9.9.9"),
                    ("x-forwarded-for", "198.51.100.9"),
                ],
                "198.51.100.9",
            ),
            (&[("forwarded", "for=198.51.100.1")], "10.0.0.1"),
            // No header: the peer.
            (&[], "10.0.0.1"),
        ];
        for (pairs, want) in cases {
            assert_eq!(proxies.client(peer, &headers(pairs)), ip(want), "{pairs:?}");
        }
    }

    #[test]
    fn forwarded_when_configured_and_then_only_it() {
        let proxies = trusted(&["10.0.0.0/8"]).reading(ForwardedHeader::Forwarded);
        let peer = ip("10.0.0.1");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[
                    ("forwarded", "for=198.51.100.9;proto=https"),
                    ("x-forwarded-for", "1.1.1.1"),
                ],
                "198.51.100.9",
            ),
            (
                &[(
                    "forwarded",
                    "for=1.1.1.1, for=\"[2001:db8::9]:4711\";by=10.0.0.1",
                )],
                "2001:db8::9",
            ),
            (
                &[("forwarded", "For=198.51.100.1, for=10.5.5.5")],
                "198.51.100.1",
            ),
            (&[("forwarded", "for=unknown")], "10.0.0.1"),
            (&[("forwarded", "for=_hidden, for=10.4.4.4")], "10.4.4.4"),
            // X-Forwarded-For is then the client's own: ignored.
            (&[("x-forwarded-for", "198.51.100.7")], "10.0.0.1"),
        ];
        for (pairs, want) in cases {
            assert_eq!(proxies.client(peer, &headers(pairs)), ip(want), "{pairs:?}");
        }
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::new(&["10.0.0.0/33".to_string()]).unwrap_err();
        assert!(
            err.starts_with("trusted proxy \"10.0.0.0/33\": not an address"),
            "{err}"
        );
    }
}
