//! Every byte of a response body, whatever its variant.

use std::os::unix::fs::FileExt;

use ferrox::body::{Body, FileSlice, Part};

use super::within;

/// The bytes `body` stands for: memory as it is, a file slice read from its
/// descriptor at its offset, parts in order, a stream polled to its end (each
/// chunk within [`super::WAIT`]). A failing stream fails the test.
pub async fn collect(body: Body) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::Bytes(bytes) => bytes.to_vec(),
        Body::File(slice) => read_slice(&slice),
        Body::Parts(parts) => parts
            .iter()
            .flat_map(|part| match part {
                Part::Bytes(bytes) => bytes.to_vec(),
                Part::File(slice) => read_slice(slice),
            })
            .collect(),
        Body::Stream(mut stream) => {
            let mut out = Vec::new();
            loop {
                let next = std::future::poll_fn(|cx| stream.as_mut().poll_chunk(cx));
                let Some(chunk) = within("body chunk", next).await else {
                    break;
                };
                let chunk = chunk
                    .unwrap_or_else(|e| panic!("stream failed after {} bytes: {e}", out.len()));
                out.extend_from_slice(&chunk);
            }
            out
        }
    }
}

fn read_slice(slice: &FileSlice) -> Vec<u8> {
    let mut buf = vec![0; slice.len as usize];
    slice
        .file
        .read_exact_at(&mut buf, slice.offset)
        .unwrap_or_else(|e| panic!("read {}+{}: {e}", slice.offset, slice.len));
    buf
}
