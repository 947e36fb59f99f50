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

/// Largest single `sendfile` call: well under the kernel's 2 GiB per-call cap,
/// and small enough that one connection yields to others between calls.
const SENDFILE_CHUNK: u64 = 1 << 20;

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
            // A fast reader never makes sendfile block; let other tasks run.
            tokio::task::coop::consume_budget().await;
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
