//! Who may fetch a site or a route, by the client's address: lists of
//! addresses and CIDR blocks to allow and to deny, built once from the
//! configuration and asked once per request.
//!
//! A client on a dual-stack socket arrives as an IPv4-mapped IPv6 address
//! (`::ffff:10.1.2.3`): it is the IPv4 client `10.1.2.3`, and is matched as
//! such, so that a rule written `10.0.0.0/8` cannot be bypassed by the socket
//! family. Rules are canonicalised the same way (`::ffff:10.0.0.0/104` is
//! `10.0.0.0/8`); after that, IPv4 rules match IPv4 clients only and IPv6
//! rules IPv6 clients only.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

/// The prefix length of `::ffff:0:0/96`, the IPv4-mapped block (RFC 4291
/// §2.5.5.2): an IPv6 rule this long or longer inside it names IPv4 clients.
const MAPPED_PREFIX: u8 = 96;

/// An example of each accepted form, for error messages.
const FORMS: &str =
    "an address like 10.1.2.3 or ::1, or a CIDR block like 10.0.0.0/8 or 2001:db8::/32";

/// Allow and deny lists of address blocks.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl AccessRules {
    /// Parses each entry of `allow` and `deny`: an address (`::1`,
    /// `10.1.2.3`) or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). Host bits
    /// set in a block (`10.1.2.3/8`) are ignored: containment only looks at
    /// the network part. The error names the entry.
    pub fn new(allow: &[String], deny: &[String]) -> Result<AccessRules, String> {
        Ok(AccessRules {
            allow: parse_list("allow", allow)?,
            deny: parse_list("deny", deny)?,
        })
    }

    /// Whether `client` may be served: not when a deny entry contains it;
    /// otherwise yes when the allow list is empty or one of its entries
    /// contains it.
    pub fn permits(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        let contains = |net: &IpNet| net.contains(&client);
        if self.deny.iter().any(contains) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(contains)
    }

    /// Whether there are no rules at all (everyone is permitted, and the
    /// pipeline can skip the check).
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

fn parse_list(list: &str, entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|entry| parse(entry).ok_or_else(|| format!("{list} entry {entry:?}: not {FORMS}")))
        .collect()
}

/// One entry, canonicalised (see the module doc).
fn parse(entry: &str) -> Option<IpNet> {
    let net = if entry.contains('/') {
        entry.parse::<IpNet>().ok()?
    } else {
        IpNet::from(entry.parse::<IpAddr>().ok()?)
    };
    Some(canonical(net.trunc()))
}

/// An IPv6 block inside `::ffff:0:0/96` as the IPv4 block it names; any
/// other block as it is. (A shorter IPv6 block that contains the mapped
/// range, like `::/0`, stays IPv6: it names IPv6 clients.)
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        let mapped = v6.network().to_ipv4_mapped();
        let prefix = v6.prefix_len().checked_sub(MAPPED_PREFIX);
        if let (Some(v4), Some(prefix)) = (mapped, prefix) {
            if let Ok(v4) = Ipv4Net::new(v4, prefix) {
                return IpNet::V4(v4);
            }
        }
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    fn rules(allow: &[&str], deny: &[&str]) -> AccessRules {
        AccessRules::new(&list(allow), &list(deny)).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn decisions() {
        // (allow, deny, client, permitted)
        let table: &[(&[&str], &[&str], &str, bool)] = &[
            // No rules: everyone.
            (&[], &[], "203.0.113.9", true),
            (&[], &[], "2001:db8::1", true),
            // An allow list admits only what it lists.
            (&["10.0.0.0/8"], &[], "10.200.3.4", true),
            (&["10.0.0.0/8"], &[], "11.0.0.1", false),
            (&["10.1.2.3"], &[], "10.1.2.3", true),
            (&["10.1.2.3"], &[], "10.1.2.4", false),
            // Deny wins over allow.
            (&["10.0.0.0/8"], &["10.9.0.0/16"], "10.9.1.1", false),
            (&["10.0.0.0/8"], &["10.9.0.0/16"], "10.8.1.1", true),
            // A deny list alone blocks only what it lists.
            (&[], &["192.0.2.0/24"], "192.0.2.77", false),
            (&[], &["192.0.2.0/24"], "198.51.100.1", true),
            // An IPv4-mapped client is its IPv4 address, for allow and deny.
            (&["10.0.0.0/8"], &[], "::ffff:10.1.2.3", true),
            (&["10.0.0.0/8"], &[], "::ffff:11.1.2.3", false),
            (&[], &["10.1.2.3"], "::ffff:10.1.2.3", false),
            // A rule written in mapped form is an IPv4 rule.
            (&[], &["::ffff:10.0.0.0/104"], "10.3.3.3", false),
            (&[], &["::ffff:10.1.2.3"], "10.1.2.3", false),
            (&[], &["::ffff:10.1.2.3"], "10.1.2.4", true),
            // IPv4 rules never match an IPv6 client, not even ::a.b.c.d.
            (&[], &["0.0.0.0/0"], "2001:db8::1", true),
            (&[], &["0.0.0.0/0"], "::10.1.2.3", true),
            (&["0.0.0.0/0"], &[], "::1", false),
            (&[], &["10.0.0.0/8"], "::a01:203", true),
            // IPv6 blocks.
            (&["2001:db8::/32"], &[], "2001:db8:ffff::1", true),
            (&["2001:db8::/32"], &[], "2001:db9::1", false),
            (&["::1"], &[], "::1", true),
            (&["::1"], &[], "127.0.0.1", false),
            (&[], &["2001:db8:1::/48"], "2001:db8:1:2::3", false),
            // /0 of one family is every client of that family, none of the other.
            (&[], &["0.0.0.0/0"], "198.51.100.1", false),
            (&[], &["0.0.0.0/0"], "::ffff:198.51.100.1", false),
            (&[], &["::/0"], "2001:db8::1", false),
            (&[], &["::/0"], "198.51.100.1", true),
            (&[], &["::/0"], "::ffff:198.51.100.1", true),
            // Host bits in a block are ignored.
            (&["10.1.2.3/8"], &[], "10.250.0.1", true),
        ];
        for (allow, deny, client, want) in table {
            assert_eq!(
                rules(allow, deny).permits(ip(client)),
                *want,
                "allow {allow:?} deny {deny:?} client {client}"
            );
        }
    }

    #[test]
    fn bad_entries_are_named() {
        let table: &[(&[&str], &[&str], &str)] = &[
            (&["10.0.0.0/33"], &[], "allow entry \"10.0.0.0/33\""),
            (&[], &["2001:db8::/129"], "deny entry \"2001:db8::/129\""),
            (&["10.0.0/8"], &[], "allow entry \"10.0.0/8\""),
            (&["10.0.0.0/"], &[], "allow entry \"10.0.0.0/\""),
            (&["example.com"], &[], "allow entry \"example.com\""),
            (&["10.0.0.1 "], &[], "allow entry \"10.0.0.1 \""),
            (&["fe80::1%eth0"], &[], "allow entry \"fe80::1%eth0\""),
            (&["::1", ""], &[], "allow entry \"\""),
        ];
        for (allow, deny, want) in table {
            let err = AccessRules::new(&list(allow), &list(deny)).unwrap_err();
            assert!(err.starts_with(want), "{err}");
            assert!(err.contains("CIDR"), "{err}");
        }
    }

    #[test]
    fn emptiness() {
        assert!(rules(&[], &[]).is_empty());
        assert!(!rules(&["::1"], &[]).is_empty());
        assert!(!rules(&[], &["::1"]).is_empty());
    }
}
