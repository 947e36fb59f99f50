//! Per-thread pools of connection buffers. A connection waiting for its next
//! request gives its buffers back, so an idle connection holds no memory, and
//! the next busy connection on the thread takes them rather than allocating and
//! re-growing new ones (under callgrind, buffer churn was a fifth of a small
//! request's instructions).

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers kept per thread and kind: enough for a burst of keep-alive clients
/// waking together, bounded at a few hundred KiB per thread.
const POOLED: usize = 64;

/// A fresh read buffer; grows (doubling) up to the head limit when needed.
pub const READ_CAPACITY: usize = 4096;

/// A fresh write buffer: a typical response head, or a head and a small body.
pub const WRITE_CAPACITY: usize = 2048;

/// Larger buffers (grown for a big head or an inline body) are not kept.
const KEEP_AT_MOST: usize = 32 * 1024;

thread_local! {
    static READS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static WRITES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer from the pool, or a new one.
pub fn take_read() -> BytesMut {
    READS
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(READ_CAPACITY))
}

/// Returns a read buffer whose contents are no longer needed.
pub fn give_read(mut buf: BytesMut) {
    if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
        return;
    }
    buf.clear();
    READS.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED {
            pool.push(buf);
        }
    });
}

/// A write buffer from the pool, or a new one.
pub fn take_write() -> Vec<u8> {
    WRITES
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(WRITE_CAPACITY))
}

/// Returns a write buffer.
pub fn give_write(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
        return;
    }
    buf.clear();
    WRITES.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED {
            pool.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_the_pool_is_bounded() {
        let buf = take_write();
        let ptr = buf.as_ptr();
        give_write(buf);
        let again = take_write();
        assert_eq!(again.as_ptr(), ptr, "not reused");
        drop(again);
        for _ in 0..POOLED * 2 {
            give_write(Vec::with_capacity(16));
        }
        assert_eq!(WRITES.with(|p| p.borrow().len()), POOLED);
        give_read(BytesMut::with_capacity(KEEP_AT_MOST + 1));
        give_write(Vec::with_capacity(KEEP_AT_MOST + 1));
        assert!(READS.with(|p| p.borrow().iter().all(|b| b.capacity() <= KEEP_AT_MOST)));
    }
}
