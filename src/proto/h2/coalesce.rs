//! One write for many frames: the `h2` crate writes each chained DATA frame
//! (every one of 256 bytes or more) and flushes, so a connection answering ten
//! 1 KiB streams made ten writes, and over TLS ten records and ten `writev`s.
//! [`Coalesce`] copies small writes into one bounded buffer and holds a flush
//! until the connection's task is polled again: everything its streams queue
//! in one poll of the task leaves in one write. The first flush wakes the task,
//! so that there is a next poll, and the `h2` connection flushes on each.
//! Big writes (whole 16 KiB DATA frames of a file) go straight through,
//! together with what is buffered and cut at a multiple of 16 KiB: over TLS
//! every record is then a full one. A 16 KiB DATA frame is 9 bytes longer
//! than a record, so passed whole it left a 9-byte record behind it.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes gathered before they are written: one full TLS record's plaintext
/// (16 KiB), which holds a dozen small responses with their HEADERS frames.
/// A connection keeps this buffer for its life, beside the `h2` crate's own.
pub(super) const WRITE_BUFFER: usize = 16 * 1024;

/// Slices handed to one write: the buffer and the frame `h2` writes (its head
/// and payload); any more wait for the next call.
const GATHER: usize = 4;

/// How many times the connection's task has polled it (see [`Polls::count`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Polls(Arc<AtomicU64>);

impl Polls {
    /// Runs `fut`, counting its polls.
    pub(super) async fn count<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            self.0.fetch_add(1, Ordering::Relaxed);
            fut.as_mut().poll(cx)
        })
        .await
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A byte stream whose small writes are gathered into one.
#[derive(Debug)]
pub(super) struct Coalesce<T> {
    io: T,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to `io`.
    written: usize,
    polls: Polls,
    /// The poll in which a flush was held (and the task woken).
    held_in: Option<u64>,
}

impl<T> Coalesce<T> {
    /// `io`, gathering writes until a later poll counted by `polls`.
    pub(super) fn new(io: T, polls: Polls) -> Self {
        Coalesce {
            io,
            buf: Vec::new(),
            written: 0,
            polls,
            held_in: None,
        }
    }

    fn pending(&self) -> bool {
        self.written < self.buf.len()
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Writes out everything buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.buf.get(self.written..).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        loop {
            if this.buf.len() + len <= WRITE_BUFFER {
                if this.buf.capacity() == 0 {
                    this.buf.reserve_exact(WRITE_BUFFER);
                }
                for b in bufs {
                    this.buf.extend_from_slice(b);
                }
                return Poll::Ready(Ok(len));
            }
            if this.written > 0 {
                // The rest of a write the stream took in part: out alone.
                ready!(this.poll_drain(cx))?;
                continue;
            }
            // What is buffered, then as much of `bufs` as ends on a whole
            // number of records, in one write and with no copy of `bufs`. The
            // caller comes back with the rest, less than a record: buffered.
            let pending = this.buf.as_slice();
            let whole = (pending.len() + len) / WRITE_BUFFER * WRITE_BUFFER;
            let mut take = whole - pending.len();
            let mut out = [IoSlice::new(&[]); GATHER];
            let mut used = 0;
            if let Some(first) = out.first_mut().filter(|_| !pending.is_empty()) {
                *first = IoSlice::new(pending);
                used = 1;
            }
            for b in bufs {
                let Some(slot) = out.get_mut(used).filter(|_| take > 0) else {
                    break;
                };
                let piece = b.get(..take.min(b.len())).unwrap_or_default();
                take -= piece.len();
                *slot = IoSlice::new(piece);
                used += 1;
            }
            let out = out.get(..used).unwrap_or_default();
            let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let from_buf = n.min(this.buf.len());
            if from_buf == this.buf.len() {
                this.buf.clear();
            } else {
                this.written = from_buf;
            }
            if n > from_buf {
                return Poll::Ready(Ok(n - from_buf));
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending() {
            let now = this.polls.now();
            match this.held_in {
                // More may come from streams answered in this same poll.
                Some(poll) if poll == now => return Poll::Ready(Ok(())),
                None => {
                    this.held_in = Some(now);
                    cx.waker().wake_by_ref();
                    return Poll::Ready(Ok(()));
                }
                Some(_) => {}
            }
        }
        ready!(this.poll_drain(cx))?;
        this.held_in = None;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// Records each write; accepts at most `limit` bytes a call, and returns
    /// Pending every other call when `stall` is set.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        flushes: usize,
        limit: Option<usize>,
        stall: bool,
        calls: usize,
    }

    impl AsyncRead for Recorder {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.calls += 1;
            if this.stall && this.calls % 2 == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = this.limit.map_or(data.len(), |l| l.min(data.len()));
            this.writes.push(data[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        /// Gathers the slices into one write, as rustls does into records.
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            self.poll_write(cx, &all)
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn context() -> (Arc<CountWakes>, std::task::Waker) {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        (wakes.clone(), wakes.into())
    }

    fn write(c: &mut Coalesce<Recorder>, cx: &mut Context<'_>, bufs: &[&[u8]]) -> usize {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        loop {
            if let Poll::Ready(n) = Pin::new(&mut *c).poll_write_vectored(cx, &slices) {
                return n.unwrap();
            }
        }
    }

    fn flush(c: &mut Coalesce<Recorder>, cx: &mut Context<'_>) {
        while Pin::new(&mut *c).poll_flush(cx).is_pending() {}
    }

    /// The task's next poll.
    fn next_poll(c: &Coalesce<Recorder>) {
        c.polls.0.fetch_add(1, Ordering::Relaxed);
    }

    fn coalesce(io: Recorder) -> Coalesce<Recorder> {
        Coalesce::new(io, Polls::default())
    }

    #[test]
    fn frames_written_between_flushes_leave_in_one_write() {
        let (wakes, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let mut c = coalesce(Recorder::default());
        // What h2 does for each of ten 1 KiB responses in one poll of the
        // task: a write, then a flush (sometimes two).
        for i in 0..10u8 {
            assert_eq!(write(&mut c, &mut cx, &[&[i; 50], &[i; 1024]]), 1074);
            flush(&mut c, &mut cx);
            flush(&mut c, &mut cx);
        }
        assert!(c.io.writes.is_empty(), "written within the poll");
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "the first hold wakes");
        // The task's next poll: the connection's first flush writes it all.
        next_poll(&c);
        flush(&mut c, &mut cx);
        assert_eq!(c.io.writes.len(), 1);
        let expected: Vec<u8> = (0..10u8)
            .flat_map(|i| [vec![i; 50], vec![i; 1024]].concat())
            .collect();
        assert_eq!(c.io.writes[0], expected);
        assert_eq!(c.io.flushes, 1);
        // Nothing buffered: a flush goes straight through, no wake-up.
        flush(&mut c, &mut cx);
        assert_eq!(c.io.flushes, 2);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_buffer_never_grows_past_its_limit() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let mut c = coalesce(Recorder::default());
        let chunk = [7u8; 1000];
        let mut total = 0;
        while total < 5 * WRITE_BUFFER {
            total += write(&mut c, &mut cx, &[&chunk]);
            assert!(c.buf.len() <= WRITE_BUFFER, "{} buffered", c.buf.len());
            assert!(c.buf.capacity() <= WRITE_BUFFER, "{}", c.buf.capacity());
        }
        // Each write filled a record: the buffer, topped up from the write
        // that did not fit.
        assert!(c.io.writes.len() >= 4);
        assert!(c.io.writes.iter().all(|w| w.len() == WRITE_BUFFER));
        flush(&mut c, &mut cx);
        next_poll(&c);
        flush(&mut c, &mut cx);
        let out: usize = c.io.writes.iter().map(Vec::len).sum();
        assert_eq!(out, total);
    }

    #[test]
    fn a_big_write_goes_straight_through_with_what_is_buffered() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let mut c = coalesce(Recorder::default());
        write(&mut c, &mut cx, &[b"head"]);
        let big = vec![1u8; WRITE_BUFFER + 9];
        // One record's worth: what was buffered and the start of `big`.
        assert_eq!(write(&mut c, &mut cx, &[&big]), WRITE_BUFFER - 4);
        assert_eq!(
            c.io.writes,
            vec![[b"head".as_slice(), &big[..WRITE_BUFFER - 4]].concat()]
        );
        // The caller comes back with the rest: less than a record, gathered.
        assert_eq!(write(&mut c, &mut cx, &[&big[WRITE_BUFFER - 4..]]), 13);
        assert_eq!(c.buf, vec![1u8; 13]);
    }

    /// A file sent as 16 KiB DATA frames (a 9-byte head and a 16,384-byte
    /// payload each, the way `h2` writes them) between other streams' small
    /// frames: every write but the last is a whole number of records.
    #[test]
    fn frames_of_a_file_leave_as_whole_records() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let mut c = coalesce(Recorder::default());
        let mut expected = Vec::new();
        for i in 0..20u8 {
            let head = [i; 9];
            let payload = vec![i; 16_384];
            let small = vec![i; 40 + i as usize];
            let bufs: [&[u8]; 2] = [&head, &payload];
            let mut left = head.len() + payload.len();
            let mut at = 0;
            while left > 0 {
                let joined = bufs.concat();
                let n = write(&mut c, &mut cx, &[&joined[at..]]);
                at += n;
                left -= n;
            }
            write(&mut c, &mut cx, &[&small]);
            expected.extend_from_slice(&head);
            expected.extend_from_slice(&payload);
            expected.extend_from_slice(&small);
        }
        flush(&mut c, &mut cx);
        next_poll(&c);
        flush(&mut c, &mut cx);
        let (last, whole) = c.io.writes.split_last().unwrap();
        assert!(whole.len() >= 19, "{} writes", whole.len());
        for w in whole {
            assert_eq!(w.len() % WRITE_BUFFER, 0, "a write of {} bytes", w.len());
        }
        assert!(last.len() < WRITE_BUFFER);
        assert_eq!(c.io.writes.concat(), expected);
    }

    #[test]
    fn short_and_blocked_writes_keep_every_byte_in_order() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let mut c = coalesce(Recorder {
            limit: Some(777),
            stall: true,
            ..Recorder::default()
        });
        let mut expected = Vec::new();
        for i in 0..40u32 {
            let piece = vec![i as u8; 300 + (i as usize * 97) % 2000];
            expected.extend_from_slice(&piece);
            write(&mut c, &mut cx, &[&piece]);
            if i % 7 == 0 {
                flush(&mut c, &mut cx);
                next_poll(&c);
            }
        }
        flush(&mut c, &mut cx);
        next_poll(&c);
        flush(&mut c, &mut cx);
        assert_eq!(c.io.writes.concat(), expected);
    }

    #[test]
    fn shutdown_writes_what_is_buffered_first() {
        let (_, waker) = context();
        let mut cx = Context::from_waker(&waker);
        let mut c = coalesce(Recorder::default());
        write(&mut c, &mut cx, &[b"GOAWAY"]);
        flush(&mut c, &mut cx); // held
        while Pin::new(&mut c).poll_shutdown(&mut cx).is_pending() {}
        assert_eq!(c.io.writes, vec![b"GOAWAY".to_vec()]);
    }
}
