//! A raw HTTP/1.1 client over a real socket, or over any other blocking byte
//! stream (TLS: see `support::tls::h1_request`). It keeps a transcript of
//! everything sent and received, and every failure prints it. This is the one
//! HTTP/1.1 response parser of the tests.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Raw<S = TcpStream> {
    pub stream: S,
    unread: Vec<u8>,
    transcript: String,
}

/// A parsed response.
#[derive(Clone)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

impl Resp {
    /// The value of a header (case-insensitive name); panics with the response if
    /// it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.try_header(name)
            .unwrap_or_else(|| panic!("no {name} header in:\n{self:?}"))
    }

    pub fn try_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, printing the whole response otherwise.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status in:\n{self:?}");
        self
    }
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw::over(stream)
    }

    /// True when the server closes the connection (EOF or reset) within `wait`,
    /// with no further bytes.
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 1024];
        let closed = match self.stream.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => {
                self.transcript
                    .push_str(&format!("<<< {}\n", String::from_utf8_lossy(&buf[..n])));
                false
            }
            Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        closed
    }

    /// Asserts the server closed the connection and sent nothing more.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        assert!(
            self.unread.is_empty(),
            "unexpected bytes: {:?}\n{}",
            String::from_utf8_lossy(&self.unread),
            self.transcript
        );
        assert!(
            self.is_closed_within(Duration::from_secs(5)),
            "connection still open\ntranscript:\n{}",
            self.transcript
        );
    }
}

impl<S: Read + Write> Raw<S> {
    /// A client over a connected stream (its read timeout set by the caller).
    pub fn over(stream: S) -> Raw<S> {
        Raw {
            stream,
            unread: Vec::new(),
            transcript: String::new(),
        }
    }

    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        self.transcript
            .push_str(&format!(">>> {}\n", String::from_utf8_lossy(bytes)));
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("send failed: {e}\n{}", self.transcript));
        self.stream
            .flush()
            .unwrap_or_else(|e| panic!("send failed: {e}\n{}", self.transcript));
    }

    /// Sends, ignoring errors (the server may already have closed).
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).is_ok()
    }

    fn fill(&mut self) -> usize {
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(n) => {
                self.transcript
                    .push_str(&format!("<<< {}\n", String::from_utf8_lossy(&buf[..n])));
                self.unread.extend_from_slice(&buf[..n]);
                n
            }
            // A TLS peer gone without close_notify reads as UnexpectedEof.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                0
            }
            Err(e) => panic!("read failed: {e}\ntranscript:\n{}", self.transcript),
        }
    }

    /// Sends one request (`headers` are whole lines) on this connection and reads
    /// its response, knowing that a HEAD response has no body.
    #[track_caller]
    pub fn exchange(&mut self, method: &str, target: &str, headers: &str) -> Resp {
        self.send(format!(
            "{method} {target} HTTP/1.1\r\nHost: test\r\n{headers}\r\n"
        ));
        if method == "HEAD" {
            self.head_response()
        } else {
            self.response()
        }
    }

    /// Reads one response to a GET (or any request whose response has a body).
    #[track_caller]
    pub fn response(&mut self) -> Resp {
        self.read_response(false)
    }

    /// Reads one response to a HEAD request: no body follows the head.
    #[track_caller]
    pub fn head_response(&mut self) -> Resp {
        self.read_response(true)
    }

    #[track_caller]
    fn read_response(&mut self, head_only: bool) -> Resp {
        let end = loop {
            if let Some(i) = find(&self.unread, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill() == 0 {
                panic!(
                    "connection closed before a full head\ntranscript:\n{}",
                    self.transcript
                );
            }
        };
        let head = String::from_utf8_lossy(&self.unread[..end]).into_owned();
        self.unread.drain(..end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}\n{}", self.transcript));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or((l, ""));
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let mut resp = Resp {
            status,
            head,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
            return resp;
        }
        if let Some(len) = resp.try_header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.unread.len() < len {
                if self.fill() == 0 {
                    panic!(
                        "closed after {} of {len} body bytes\n{}",
                        self.unread.len(),
                        self.transcript
                    );
                }
            }
            resp.body = self.unread.drain(..len).collect();
        } else if resp
            .try_header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            resp.body = self.read_chunked();
        } else {
            while self.fill() > 0 {}
            resp.body = std::mem::take(&mut self.unread);
        }
        resp
    }

    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.unread, b"\r\n") {
                    break i;
                }
                assert!(
                    self.fill() > 0,
                    "closed inside chunked body\n{}",
                    self.transcript
                );
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&self.unread[..line_end]).unwrap(), 16)
                    .unwrap();
            self.unread.drain(..line_end + 2);
            while self.unread.len() < size + 2 {
                assert!(self.fill() > 0, "closed inside chunk\n{}", self.transcript);
            }
            body.extend(self.unread.drain(..size));
            assert_eq!(&self.unread[..2], b"\r\n");
            self.unread.drain(..2);
            if size == 0 {
                return body;
            }
        }
    }

    /// Everything until the server closes.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.unread)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
