//! TLS for the tests: certificates generated with rcgen (and keys rewritten in
//! the other formats a server must load), and a tokio-rustls client with a
//! verifier that accepts any certificate but checks the handshake signatures
//! (so the server must hold the key it presents). HTTP/1.1 over such a
//! connection goes through the one response parser, [`Raw`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ferrox::server::tls::CertFiles;
use ferrox::server::Tls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{within, Raw, Resp, TempRoot, WAIT};

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A certificate and its key, as PEM and DER.
pub struct Cert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

/// A self-signed ECDSA P-256 certificate for `names` (PKCS#8 key).
pub fn cert(names: &[&str]) -> Cert {
    cert_with_key(names, rcgen::KeyPair::generate().unwrap())
}

/// A self-signed certificate for `names` with a given key.
pub fn cert_with_key(names: &[&str], key: rcgen::KeyPair) -> Cert {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let params = rcgen::CertificateParams::new(names).unwrap();
    let cert = params.self_signed(&key).unwrap();
    Cert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// Writes `cert` as `stem.crt` and `stem.key` in `dir`.
pub fn write_cert(dir: &Path, stem: &str, cert: &Cert) -> CertFiles {
    let files = CertFiles {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    std::fs::write(&files.cert, &cert.cert_pem).unwrap();
    std::fs::write(&files.key, &cert.key_pem).unwrap();
    files
}

/// A `Tls` loaded from files for `certs`, in order (the first is the default).
pub fn tls_for(certs: &[&Cert]) -> Tls {
    let dir = TempRoot::new();
    let files = certs
        .iter()
        .enumerate()
        .map(|(i, c)| write_cert(dir.path(), &format!("c{i}"), c))
        .collect();
    Tls::from_files(files).unwrap()
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// The crypto provider of the server and of every test client.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate, but checks the handshake signature against it.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client offering `alpn`, TLS 1.2 and 1.3, trusting anything.
pub fn client_config(alpn: &[&[u8]]) -> Arc<ClientConfig> {
    client_config_versions(alpn, rustls::DEFAULT_VERSIONS)
}

/// A client offering `alpn` and only the TLS `versions` given, trusting anything.
pub fn client_config_versions(
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// TLS to `addr` with `config`. `name` goes in SNI unless it is an IP address
/// (rustls sends no SNI for addresses).
pub async fn connect_with(
    addr: SocketAddr,
    name: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = within("TCP connect", TcpStream::connect(addr)).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    within(
        "TLS handshake",
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
}

/// TLS to `addr` offering `alpn`; panics if the handshake fails.
pub async fn tls_connect(addr: SocketAddr, name: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    connect_with(addr, name, client_config(alpn))
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with {addr} as {name:?}: {e}"))
}

/// The leaf certificate the server presented.
pub fn presented(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("no certificate")[0]
        .to_vec()
}

/// The protocol ALPN chose, if any.
pub fn alpn(stream: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

/// One HTTP/1.1 request with `Connection: close` over an established TLS
/// connection, read by [`Raw`] (in the blocking pool); the server must then
/// close without sending anything more.
pub async fn h1_request(
    tls: TlsStream<TcpStream>,
    method: &str,
    target: &str,
    headers: &str,
) -> Resp {
    let (tcp, conn) = tls.into_inner();
    let tcp = tcp.into_std().unwrap();
    tcp.set_nonblocking(false).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let (method, target) = (method.to_string(), target.to_string());
    let headers = format!("{headers}Connection: close\r\n");
    let exchange = tokio::task::spawn_blocking(move || {
        let mut c = Raw::over(stream);
        let resp = c.exchange(&method, &target, &headers);
        let rest = c.read_to_close();
        assert!(
            rest.is_empty(),
            "bytes after the response:\n{}",
            c.transcript()
        );
        resp
    });
    match exchange.await {
        Ok(resp) => resp,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

// ---------------------------------------------------------------------------
// DER and PEM, to write PKCS#1 and SEC1 keys
// ---------------------------------------------------------------------------

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

/// One DER element: `tag`, its length, `content`.
pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

/// Reads one DER element: (tag, content, rest).
pub fn der_read(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, start) = if input[1] < 0x80 {
        (input[1] as usize, 2)
    } else {
        let n = (input[1] & 0x7f) as usize;
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, 2 + n)
    };
    (tag, &input[start..start + len], &input[start + len..])
}

/// The private key inside a PKCS#8 `PrivateKeyInfo` (PKCS#1 for RSA, SEC1 for EC).
pub fn pkcs8_inner(pkcs8: &[u8]) -> Vec<u8> {
    let (tag, info, _) = der_read(pkcs8);
    assert_eq!(tag, 0x30);
    let (_version, _, rest) = der_read(info);
    let (_algorithm, _, rest) = der_read(rest);
    let (tag, key, _) = der_read(rest);
    assert_eq!(tag, 0x04, "privateKey OCTET STRING");
    key.to_vec()
}

/// A PKCS#1 RSA key wrapped as PKCS#8 (rsaEncryption, NULL parameters).
pub fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let rsa_encryption = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let mut algorithm = der(0x06, &rsa_encryption);
    algorithm.extend([0x05, 0x00]);
    let mut info = der(0x02, &[0]);
    info.extend(der(0x30, &algorithm));
    info.extend(der(0x04, pkcs1));
    der(0x30, &info)
}

/// `der` as PEM with `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A fixed 2048-bit RSA key in PKCS#1 (`openssl genrsa -traditional 2048`): ring
/// cannot generate RSA keys, so rcgen cannot either.
pub const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAxz3PVvzeCdvWLkdkX+RlmghD8tsx8h+2Ga2+BgDkSqTwMMGW
jYn9ToCQ/cl33ZfrStFp+RyuTll56Y86SrjUtHCAIc5csQLnONarlO7YHVB8fDPN
bn7E2JF/dElbJjiqYqY1uH/hqi7SRHZFkfUFbNFVzcNJYJD721LGii7/0kURaulx
xw7Y50scJBQb91XH/mfkFX9MOOIaRifuTP6unRQ19pe3/W7sRZB2gb0AwKgZJOmU
5GPnQ+aayqMc0R9QI8hv931uNYaIHcW6LOGemfaDqg37yfRy9niQYXBju769LE6v
8aq2Vmfr6E4ee8ZLDwPJnhmBtFhVfGSvDSCk+wIDAQABAoIBAFOZyOU8J0LFvqIe
jKx73nH6Y+CEPvnUeold0K0eNKxpdutOX4i2TNZitfP3VFdjxnPXWPsRIMZ5XuE0
mwX9dircRbdpqpUPncvIr6hHa+EpA4LuDZX+lUQ2EN/PY/Kutje8fDAVYLATA2F8
qwZqZENbtwAmoCRn0XYeznXu8KLeYIqyHM7ELTql3K9xbWFhwWiVutr34Rya4pGz
xpTuMfnplp51YVhRXE0lkHcseL68gVsIfp9D18f+rA0LVXJSe1HQsw6jzw0oKtne
XovLx01+Ol/PLwRBOLHSkGvQMHzMyS4MRJe6XcBbJHuy0bTd9EVku5zpftVXhUUH
uWUI7PkCgYEA7K+qPx124p4iQBPipokz7P3b/iqJ5/PNUdhVyQGuUhr4ue6tej7Q
fXdV/1zEh3PL9qaSP0O6XtjrJlVA4P4UuC49NOLzE7HASPiiLU1/6UpxYlZO8emD
Pla6n6LqL3BMYAwWQ3DN+RBbHwpAmRWLFFwgWBHxwBsQ0fOT0GWp3PcCgYEA13/u
Lrwqgtm5klRpYdEnxznJ819sB8HuEpxAy3+IVv789DS2RLq/t7P3vTDlhUUtYvcy
kyMhKv1vGKIJmBMgzylLeMCGKs3ifcwVM1oAoOuiXO9gR46Sp6Hcsk1osyxLen1F
9o2NKGsfAtEoDJgDETTbe+JecTQ7RCaVNgG8Cx0CgYEAiNxrDWP0QsY999+Hx9S+
eeOxOh9O7xlDOHhn4nteWYvPF3S0S2PXGzXOPINgARMsdcuL9ZksQ3wbPWc+xNsn
D/ls2xAAjvrRvWBIJvoRZMzvE3Xk4G2uvnVYJMcHs7az8zYKCaVI9SRIDILZJ6wV
aAh9i2+U4wjDiSPX7UFcH7ECgYBEkorCCFImrQ1lyMJ3w8w6kuL2NGj11vngpiPg
HUbPF/h55MQS/rG+zN+KLiL601Zr5WkMdOM7AMX3Oqh+4adRBDzlwa1vtW/aw7QD
USJeElzp4anrWyzDdrf5bLRiPzgNVAuNNuGx+NQ3W0K5Ly3arc0hkJiowQwS1Ywp
UUf66QKBgEdMDE4NWwLqgEYnl63RBZPy1I3dkvaoS1KWitcdkuMKRVjCSePBRRKD
Q1UhlzVPEyBz8FyxEPN3TuF1kHc8QBySqDvpzvhgYfl28vfaYDS+28tH4m5wANns
C1GY8LYuloTKTNmyQWhwIa0t0hKmf0a2FuK72rcq8BJAOgoJklMy
-----END RSA PRIVATE KEY-----
";
