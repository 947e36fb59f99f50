//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a load
//! balancer sends before anything else on a connection, naming the client it
//! accepted. Parsing is the `ppp` crate's; this module reads exactly the
//! header's bytes (never one byte of what follows, which belongs to HTTP or
//! TLS) and says which client it names.
//!
//! A listener that expects the header requires it: anything else, a
//! malformed header, or one that does not arrive within the caller's
//! deadline closes the connection. A `LOCAL` header (a balancer's own health
//! check) or an `UNKNOWN` family keeps the connection's own address.

use std::fmt;
use std::net::SocketAddr;

use ppp::v2;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, CRLF included (the specification's bound).
const V1_MAX: usize = 107;

/// The longest version 2 address block and TLVs accepted. HAProxy sends a few
/// dozen bytes; the format allows 64 KiB, which no balancer needs.
const V2_MAX_PAYLOAD: usize = 1024;

/// Both versions' shortest header (`PROXY UNKNOWN\r\n` is 15 bytes, a version
/// 2 header at least 16): read first without reading past either.
const SHORTEST: usize = 15;

/// Why a connection's PROXY header was refused.
#[derive(Debug)]
pub enum ProxyError {
    /// The connection does not start with a PROXY header.
    Missing,
    /// It starts with one that cannot be parsed, or is too long.
    Malformed(String),
    /// Reading failed (the peer closed, a reset).
    Io(std::io::Error),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Missing => f.write_str("no PROXY protocol header"),
            ProxyError::Malformed(why) => write!(f, "malformed PROXY protocol header: {why}"),
            ProxyError::Io(e) => write!(f, "reading the PROXY protocol header: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Reads the PROXY header at the start of `io`, and nothing after it.
/// `Ok(Some(client))`: the client it names; `Ok(None)`: a `LOCAL` or
/// `UNKNOWN` header, the connection speaks for itself.
pub async fn read_header<T: AsyncRead + Unpin>(
    io: &mut T,
) -> Result<Option<SocketAddr>, ProxyError> {
    let mut header = vec![0u8; SHORTEST];
    io.read_exact(&mut header).await.map_err(ProxyError::Io)?;
    if header.starts_with(b"PROXY ") {
        // Read up to the CRLF, never past it: two bytes at a time while the
        // last is not CR (at least "\r\n" is left), then one.
        while !header.ends_with(b"\r\n") {
            if header.len() >= V1_MAX {
                return Err(ProxyError::Malformed(
                    "a version 1 line over 107 bytes".into(),
                ));
            }
            let step = if header.ends_with(b"\r") { 1 } else { 2 };
            let at = header.len();
            header.resize(at + step, 0);
            let tail = header.get_mut(at..).unwrap_or_default();
            io.read_exact(tail).await.map_err(ProxyError::Io)?;
        }
        return parse_v1(&header);
    }
    if !V2_SIGNATURE.starts_with(header.get(..12).unwrap_or_default()) {
        return Err(ProxyError::Missing);
    }
    header.resize(16, 0);
    let rest = header.get_mut(SHORTEST..).unwrap_or_default();
    io.read_exact(rest).await.map_err(ProxyError::Io)?;
    let payload = match (header.get(14), header.get(15)) {
        (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
        _ => return Err(ProxyError::Malformed("truncated".into())),
    };
    if payload > V2_MAX_PAYLOAD {
        return Err(ProxyError::Malformed(format!(
            "{payload} bytes of addresses and TLVs (at most {V2_MAX_PAYLOAD})"
        )));
    }
    header.resize(16 + payload, 0);
    let rest = header.get_mut(16..).unwrap_or_default();
    io.read_exact(rest).await.map_err(ProxyError::Io)?;
    parse_v2(&header)
}

/// The client of a whole version 1 header.
pub fn parse_v1(header: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    let text =
        std::str::from_utf8(header).map_err(|_| ProxyError::Malformed("not ASCII".into()))?;
    let parsed =
        ppp::v1::Header::try_from(text).map_err(|e| ProxyError::Malformed(e.to_string()))?;
    Ok(match parsed.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Some(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Some(SocketAddr::new(a.source_address.into(), a.source_port))
        }
        ppp::v1::Addresses::Unknown => None,
    })
}

/// The client of a whole version 2 header.
pub fn parse_v2(header: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    let parsed = v2::Header::try_from(header).map_err(|e| ProxyError::Malformed(e.to_string()))?;
    if parsed.command == v2::Command::Local {
        return Ok(None);
    }
    Ok(match parsed.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
        v2::Addresses::IPv6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Result<Option<SocketAddr>, ProxyError>, Vec<u8>) {
        let mut io = bytes;
        let got = read_header(&mut io).await;
        (got, io.to_vec())
    }

    fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[tokio::test]
    async fn version_1_names_the_client_and_leaves_the_request() {
        let (got, rest) =
            read(b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(got.unwrap(), Some("192.0.2.7:56324".parse().unwrap()));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        let (got, rest) =
            read(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n\x16\x03\x01").await;
        assert_eq!(got.unwrap(), Some("[2001:db8::7]:4000".parse().unwrap()));
        assert_eq!(rest, b"\x16\x03\x01");
        let (got, rest) = read(b"PROXY UNKNOWN\r\nGET").await;
        assert_eq!(got.unwrap(), None);
        assert_eq!(rest, b"GET");
    }

    #[tokio::test]
    async fn version_2_names_the_client_and_leaves_the_request() {
        // PROXY, TCP over IPv4: source, destination, ports; then a TLV.
        let mut payload = vec![192, 0, 2, 9, 10, 0, 0, 1, 0x1f, 0x90, 0x01, 0xbb];
        payload.extend_from_slice(&[0x04, 0x00, 0x01, 0x00]);
        let mut bytes = v2(1, 0x11, &payload);
        bytes.extend_from_slice(b"GET /");
        let (got, rest) = read(&bytes).await;
        assert_eq!(got.unwrap(), Some("192.0.2.9:8080".parse().unwrap()));
        assert_eq!(rest, b"GET /");
        // LOCAL: a balancer's health check; the connection speaks for itself.
        let mut bytes = v2(0, 0x00, &[]);
        bytes.extend_from_slice(b"GET /");
        let (got, rest) = read(&bytes).await;
        assert_eq!(got.unwrap(), None);
        assert_eq!(rest, b"GET /");
        // IPv6.
        let mut payload = vec![0u8; 36];
        payload[0] = 0x20;
        payload[1] = 0x01;
        payload[15] = 7;
        payload[32..34].copy_from_slice(&4000u16.to_be_bytes());
        let (got, _) = read(&v2(1, 0x21, &payload)).await;
        assert_eq!(got.unwrap(), Some("[2001::7]:4000".parse().unwrap()));
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        for bytes in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 extra\r\n",
            b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            let (got, _) = read(bytes).await;
            assert!(
                matches!(got, Err(ProxyError::Missing | ProxyError::Malformed(_))),
                "{:?}: {got:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // A line with no end, longer than the specification allows.
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        assert!(matches!(
            read(long.as_bytes()).await.0,
            Err(ProxyError::Malformed(_))
        ));
        // A version 2 header that claims too much.
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(read(&big).await.0, Err(ProxyError::Malformed(_))));
        // The version 2 signature, wrong version nibble.
        let mut bad = v2(1, 0x11, &[0; 12]);
        bad[12] = 0x11;
        assert!(matches!(read(&bad).await.0, Err(ProxyError::Malformed(_))));
        // Cut short: the connection closed mid-header.
        assert!(matches!(
            read(b"PROXY TCP4 1.2.3.4").await.0,
            Err(ProxyError::Io(_))
        ));
        assert!(matches!(
            read(&v2(1, 0x11, &[0; 12])[..20]).await.0,
            Err(ProxyError::Io(_))
        ));
    }
}
