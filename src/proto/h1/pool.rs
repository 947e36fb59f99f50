//! Per-thread pools of connection buffers. A connection waiting for its next
//! request gives its buffers back, so an idle connection holds no memory, and
//! the next busy connection on the thread takes them rather than allocating and
//! re-growing new ones (under callgrind, buffer churn was a fifth of a small
//! request's instructions). Request header maps are pooled the same way, from
//! one answered request to the next head parsed on the thread.

use std::cell::RefCell;
use std::thread::LocalKey;

use bytes::BytesMut;
use http::{HeaderMap, Request};

/// Buffers kept per thread and kind: enough for a burst of keep-alive clients
/// waking together, bounded at a few hundred KiB per thread.
const POOLED: usize = 64;

/// A fresh read buffer; grows (doubling) up to the head limit when needed.
pub const READ_CAPACITY: usize = 4096;

/// A fresh write buffer: a typical response head, or a head and a small body.
pub const WRITE_CAPACITY: usize = 2048;

/// Larger buffers (grown for a big head or an inline body) are not kept.
const KEEP_AT_MOST: usize = 32 * 1024;

/// Request header maps grown for more fields than this are not kept.
const KEEP_FIELDS_AT_MOST: usize = 32;

thread_local! {
    static READS: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static WRITES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static HEADERS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer from the pool, or a new one.
pub fn take_read() -> BytesMut {
    take(&READS).unwrap_or_else(|| BytesMut::with_capacity(READ_CAPACITY))
}

/// Returns a read buffer whose contents are no longer needed.
pub fn give_read(mut buf: BytesMut) {
    if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
        return;
    }
    buf.clear();
    put(&READS, buf);
}

/// A write buffer from the pool, or a new one.
pub fn take_write() -> Vec<u8> {
    take(&WRITES).unwrap_or_else(|| Vec::with_capacity(WRITE_CAPACITY))
}

/// Returns a write buffer.
pub fn give_write(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > KEEP_AT_MOST {
        return;
    }
    buf.clear();
    put(&WRITES, buf);
}

/// An empty header map for a request head, from the pool or new (which
/// allocates nothing until the first field).
pub fn take_headers() -> HeaderMap {
    take(&HEADERS).unwrap_or_default()
}

/// Gives back the header map of a request that has been answered: its two
/// allocations were two of the seven a small request made.
pub fn recycle(request: Request<()>) {
    let mut headers = request.into_parts().0.headers;
    if headers.capacity() == 0 || headers.capacity() > KEEP_FIELDS_AT_MOST {
        return;
    }
    headers.clear();
    put(&HEADERS, headers);
}

type Pool<T> = LocalKey<RefCell<Vec<T>>>;

fn take<T>(pool: &'static Pool<T>) -> Option<T> {
    pool.with(|pool| pool.borrow_mut().pop())
}

/// Keeps `item` unless the pool is full.
fn put<T>(pool: &'static Pool<T>, item: T) {
    pool.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED {
            pool.push(item);
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

    fn request_with_fields(n: usize) -> Request<()> {
        let mut request = Request::new(());
        for i in 0..n {
            let name = http::HeaderName::try_from(format!("x-field-{i}")).unwrap();
            request
                .headers_mut()
                .insert(name, http::HeaderValue::from_static("v"));
        }
        request
    }

    #[test]
    fn header_maps_come_back_empty_and_the_pool_is_bounded() {
        recycle(request_with_fields(3));
        let again = take_headers();
        assert!(again.is_empty(), "a recycled map keeps its fields");
        assert!(again.capacity() >= 3, "the map's room was not kept");
        for _ in 0..POOLED * 2 {
            recycle(request_with_fields(1));
        }
        assert_eq!(HEADERS.with(|p| p.borrow().len()), POOLED);
        HEADERS.with(|p| p.borrow_mut().clear());
        recycle(request_with_fields(KEEP_FIELDS_AT_MOST + 1));
        assert_eq!(
            HEADERS.with(|p| p.borrow().len()),
            0,
            "a grown map was kept"
        );
    }
}
