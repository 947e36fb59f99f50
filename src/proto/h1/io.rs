//! Writing with a send timeout, file bodies (sendfile or a bounded copy), and the
//! lingering close that keeps a final error response from being destroyed by a
//! TCP reset.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, Instant};

use crate::body::FileSlice;
use crate::proto::Transport;

/// Largest single `sendfile` call, after which the connection lets the others
/// have their turn (lighttpd sends 256 KiB a turn, nginx 2 MiB). Connections
/// that share the cores in turns move big files faster than one that fills its
/// socket buffer while the rest wait: 100 MiB to 4 wrk connections went from
/// about 2.0 to 2.3 GB/s against 1 MiB calls with tokio's usual budget.
const SENDFILE_CHUNK: u64 = 256 << 10;

/// Copy buffer for file bodies on transports without sendfile (TLS, pipes).
pub(crate) const COPY_CHUNK: usize = 64 * 1024;

/// How long a closing connection keeps reading (and discarding) what the client
/// still sends, so that the kernel does not answer with a reset that destroys the
/// response (nginx's lingering close).
const LINGER_TIME: Duration = Duration::from_secs(2);

/// The most a closing connection reads while lingering.
const LINGER_BYTES: usize = 1 << 20;

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "send timeout")
}

/// Writes all of `buf`; each write must make progress within `limit`.
pub async fn write_all<T: Transport>(io: &mut T, buf: &[u8], limit: Duration) -> io::Result<()> {
    write_all_hinted(io, buf, limit, false).await
}

/// Writes all of a head that a `sendfile` body follows at once: the transport
/// holds it back (MSG_MORE) to leave with the body's first bytes, as nginx's
/// `tcp_nopush` does, instead of in a segment of its own.
pub async fn write_all_more<T: Transport>(
    io: &mut T,
    buf: &[u8],
    limit: Duration,
) -> io::Result<()> {
    let more = io.can_sendfile();
    write_all_hinted(io, buf, limit, more).await
}

async fn write_all_hinted<T: Transport>(
    io: &mut T,
    buf: &[u8],
    limit: Duration,
    more: bool,
) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        let write = poll_fn(|cx| match more {
            true => io.poll_write_more(cx, rest),
            false => Pin::new(&mut *io).poll_write(cx, rest),
        });
        let n = timeout(limit, write).await.map_err(|_| timed_out())??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        done += n;
    }
    Ok(())
}

/// Writes `head` then `body` with vectored writes, so a head and a body in memory
/// usually leave in one system call.
pub async fn write_two<T: Transport>(
    io: &mut T,
    head: &[u8],
    body: &[u8],
    limit: Duration,
) -> io::Result<()> {
    let (mut h, mut b) = (0, 0);
    while h < head.len() {
        let slices = [IoSlice::new(&head[h..]), IoSlice::new(&body[b..])];
        let n = timeout(limit, io.write_vectored(&slices))
            .await
            .map_err(|_| timed_out())??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len() - h);
        h += from_head;
        b += n - from_head;
    }
    write_all(io, &body[b..], limit).await
}

/// Sends a file slice: `sendfile` where the transport can, else a bounded copy
/// through `scratch`. A file that ends early (it shrank while being sent) is an
/// error: the caller must close rather than break the promised length. `sent`
/// counts the bytes that left, also when the transfer breaks off.
pub async fn write_file<T: Transport>(
    io: &mut T,
    slice: &FileSlice,
    scratch: &mut Vec<u8>,
    limit: Duration,
    sent: &mut u64,
) -> io::Result<()> {
    let end = slice.offset.saturating_add(slice.len);
    let mut offset = slice.offset;
    let shrank = || io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while sending");
    if io.can_sendfile() {
        while offset < end {
            let want = (end - offset).min(SENDFILE_CHUNK) as usize;
            let n = timeout(
                limit,
                poll_fn(|cx| io.poll_sendfile(cx, &slice.file, offset, want)),
            )
            .await
            .map_err(|_| timed_out())??;
            if n == 0 {
                return Err(shrank());
            }
            offset += n as u64;
            *sent += n as u64;
            if offset < end {
                // A fast reader never makes sendfile block: a turn for the others.
                tokio::task::yield_now().await;
            }
        }
        return Ok(());
    }
    scratch.resize(COPY_CHUNK, 0);
    while offset < end {
        let want = (end - offset).min(COPY_CHUNK as u64) as usize;
        let buf = scratch.get_mut(..want).ok_or_else(shrank)?;
        let n = slice.file.read_at(buf, offset)?;
        if n == 0 {
            return Err(shrank());
        }
        write_all(io, buf.get(..n).unwrap_or_default(), limit).await?;
        offset += n as u64;
        *sent += n as u64;
    }
    Ok(())
}

/// Half-closes the connection and discards what the client still sends, for a
/// bounded time and size, so the last response reaches it before the close.
pub async fn linger_close<T: Transport>(io: &mut T, buf: &mut BytesMut) {
    let _ = timeout(LINGER_TIME, io.shutdown()).await;
    let deadline = Instant::now() + LINGER_TIME;
    let mut total = 0;
    while total < LINGER_BYTES {
        buf.clear();
        buf.reserve(4096);
        match tokio::time::timeout_at(deadline, io.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// A socket that takes every `sendfile` whole and notes who called.
    struct Sink {
        id: u8,
        calls: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncRead for Sink {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Sink {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Transport for Sink {
        fn can_sendfile(&self) -> bool {
            true
        }
        fn poll_sendfile(
            &mut self,
            _: &mut Context<'_>,
            _: &std::fs::File,
            _: u64,
            len: usize,
        ) -> Poll<io::Result<usize>> {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(self.id);
            }
            Poll::Ready(Ok(len))
        }
    }

    /// Two connections sending big files on one thread take turns by the
    /// chunk, however fast their readers: neither waits for the other's whole
    /// file (with tokio's budget alone, the first sent all of its 64 chunks).
    #[tokio::test(flavor = "current_thread")]
    async fn big_files_to_fast_readers_take_turns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        std::fs::write(&path, b"x").expect("write");
        let file = Arc::new(std::fs::File::open(&path).expect("open"));
        // A slice longer than the file is fine here: the sink never reads it.
        let len = 64 * SENDFILE_CHUNK;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let send = |id| {
            let (calls, file) = (calls.clone(), file.clone());
            async move {
                let mut sink = Sink { id, calls };
                let slice = FileSlice {
                    file,
                    offset: 0,
                    len,
                };
                let (mut scratch, mut sent) = (Vec::new(), 0);
                write_file(
                    &mut sink,
                    &slice,
                    &mut scratch,
                    Duration::from_secs(5),
                    &mut sent,
                )
                .await
                .expect("sent");
                assert_eq!(sent, len);
            }
        };
        let (first, second) = tokio::join!(tokio::spawn(send(1)), tokio::spawn(send(2)));
        first.expect("first");
        second.expect("second");
        let calls = calls.lock().expect("calls").clone();
        assert_eq!(calls.len(), 128, "{calls:?}");
        // tokio runs a yielded task after the tasks already queued, so turns
        // come in pairs (1, 2, 2, 1, 1, ...); without them, 64 in a row.
        let longest = calls
            .chunk_by(|a, b| a == b)
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(longest <= 2, "turns not taken: {calls:?}");
    }
}
