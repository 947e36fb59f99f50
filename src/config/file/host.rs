//! Host names as sites list them.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks and normalises one host name: lower-cased; `*.` only as a whole
/// first label; no port, path or space; IPv4 as is, IPv6 in brackets.
pub(super) fn host(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("empty host name".into());
    }
    if s.contains(char::is_whitespace) {
        return Err(format!(
            "'{s}' contains a space; list each host as its own string"
        ));
    }
    if s.contains('/') {
        return Err(format!(
            "'{s}': a host has no scheme or path, only a name such as 'example.com'"
        ));
    }
    if let Ok(ip) = s.parse::<Ipv4Addr>() {
        return Ok(ip.to_string());
    }
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = inner.parse::<Ipv6Addr>() {
        return Ok(format!("[{ip}]"));
    }
    if s.contains(':') {
        return Err(format!(
            "'{s}': a host has no port (hosts match the Host header without its port)"
        ));
    }
    if s == "*" {
        return Err("'*' alone is not a host; give the catch-all site default = true".into());
    }
    let lower = s.to_ascii_lowercase();
    let (wild, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    if name.contains('*') {
        return Err(format!(
            "'{s}': '*' can only be the whole first label, as in '*.example.com'"
        ));
    }
    if name.ends_with('.') {
        return Err(format!("'{s}' ends with a dot"));
    }
    if name.len() > 253 {
        return Err(format!("'{s}' is longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("'{s}' has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("'{s}' has a label longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "'{s}': '{c}' cannot be in a host name (letters, digits, '-' and '.'; \
                 international names in their xn-- form)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("'{s}': a label cannot start or end with '-'"));
        }
    }
    Ok(if wild {
        format!("*.{name}")
    } else {
        name.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::host;

    #[test]
    fn hosts() {
        for (given, want) in [
            ("Example.COM", "example.com"),
            ("*.Example.com", "*.example.com"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("192.0.2.1", "192.0.2.1"),
            ("::1", "[::1]"),
            ("[2001:DB8::1]", "[2001:db8::1]"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(host(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "",
            "*",
            "a*.example.com",
            "www.*.example.com",
            "*.*.example.com",
            "example.com:8080",
            "example.com/path",
            "https://example.com",
            "example .com",
            "example.com.",
            "-a.example.com",
            "a..b",
            "bücher.de",
            "under_score.example",
        ] {
            assert!(host(bad).is_err(), "{bad}");
        }
    }
}
