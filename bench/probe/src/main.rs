//! The engine probe: what ferrox's request work costs without ferrox's engine.
//!
//! Each thread runs an epoll loop (mio) over its own `SO_REUSEPORT` listener and
//! keeps its connections in a slab: no tokio task, future, waker or timer per
//! connection. A readable connection gets one read; every whole head in it goes
//! through ferrox's `parse_head`, `Service::call_now` (the real handler, its
//! open-file cache and validators) and `encode_head`, and the response leaves in
//! one write: the same bytes ferrox sends.
//!
//! Left out, because the 1 KiB keep-alive rows never need them: timeouts,
//! request bodies, responses not in memory, partial writes, the method policy,
//! `Connection: close`, shutdown. Anything the probe cannot answer at once closes
//! the connection, so wrk counts it as an error.
//!
//! Usage: ferrox-engine-probe ROOT PORT THREADS

use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use bytes::BytesMut;
use ferrox::body::Body;
use ferrox::proto::h1::encode::{encode_head, BodyFraming, ConnectionField};
use ferrox::proto::h1::parse::parse_head;
use ferrox::proto::h1::HeadLimits;
use ferrox::proto::Service;
use ferrox::server::FileService;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(Ok(port)), Some(Ok(threads))) = (
        args.get(1),
        args.get(2).map(|p| p.parse::<u16>()),
        args.get(3).map(|t| t.parse::<usize>()),
    ) else {
        eprintln!("usage: ferrox-engine-probe ROOT PORT THREADS");
        return ExitCode::from(2);
    };
    let handler = match ferrox::handler::Handler::new(Path::new(root), Default::default()) {
        Ok(handler) => handler,
        Err(error) => {
            eprintln!("ferrox-engine-probe: {error}");
            return ExitCode::FAILURE;
        }
    };
    let service = FileService(handler);
    let failed = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| scope.spawn(|| worker(&service, port)))
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().ok())
            .any(|r| r.is_err())
    });
    if failed {
        eprintln!("ferrox-engine-probe: a worker failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

struct Conn {
    stream: TcpStream,
    read: BytesMut,
}

fn worker(service: &FileService, port: u16) -> std::io::Result<()> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let std_listener = ferrox::server::bind_with(addr, true)?;
    std_listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(std_listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let limits = HeadLimits::default();
    let mut write = Vec::with_capacity(8192);
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    let slot = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    poll.registry()
                        .register(&mut stream, Token(slot), Interest::READABLE)?;
                    if let Some(entry) = conns.get_mut(slot) {
                        *entry = Some(Conn {
                            stream,
                            read: BytesMut::with_capacity(4096),
                        });
                    }
                }
                continue;
            }
            let slot = event.token().0;
            let Some(entry) = conns.get_mut(slot) else {
                continue;
            };
            let keep = entry
                .as_mut()
                .is_some_and(|conn| serve(conn, service, &limits, &mut write));
            if !keep {
                if let Some(mut conn) = entry.take() {
                    let _ = poll.registry().deregister(&mut conn.stream);
                    free.push(slot);
                }
            }
        }
    }
}

/// Reads what the socket holds, then answers every whole head. False: close
/// the connection.
fn serve(conn: &mut Conn, service: &FileService, limits: &HeadLimits, write: &mut Vec<u8>) -> bool {
    // A stack buffer, copied from: safe code cannot read into a BytesMut's
    // spare capacity without zero-filling it on every read first.
    let mut scratch = [0u8; 16384];
    // mio is edge-triggered: read until a short read (drained, as tokio also
    // assumes) or WouldBlock, or no new edge will come.
    loop {
        match conn.stream.read(&mut scratch) {
            Ok(0) => return false,
            Ok(n) => {
                conn.read
                    .extend_from_slice(scratch.get(..n).unwrap_or_default());
                if n < scratch.len() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    loop {
        let head = match parse_head(&mut conn.read, limits) {
            Ok(Some(head)) => head,
            Ok(None) => return true,
            Err(_) => return false,
        };
        let Some(mut reply) = service.call_now(&head.request) else {
            return false;
        };
        service.decorate(&mut reply);
        let (response, fields) = reply.into_parts();
        let (parts, body) = response.into_parts();
        let length = body.len().unwrap_or(0);
        write.clear();
        encode_head(
            write,
            parts.status,
            &parts.headers,
            fields.as_ref(),
            BodyFraming::Length(length),
            ConnectionField::Omit,
            true,
        );
        match body {
            Body::Bytes(bytes) => write.extend_from_slice(&bytes),
            Body::Empty => {}
            _ => return false,
        }
        if conn.stream.write(write).map_or(true, |n| n < write.len()) {
            return false;
        }
    }
}
