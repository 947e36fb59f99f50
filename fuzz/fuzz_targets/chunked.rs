//! `ChunkedDecoder` on arbitrary bytes, under a body limit taken from the input.
//! It never panics, and:
//!
//! - fed in pieces (lengths from a generator seeded by the input, and a byte at
//!   a time) it gives what one call over the whole input gives: the same bytes
//!   consumed and done or not, or the same error;
//! - no call consumes more than it is given, and only a finished body leaves
//!   bytes unconsumed; once done it consumes nothing more;
//! - a finished body ends in CRLF CRLF;
//! - the chunk sizes it accepted never add up to more than the limit: under the
//!   limit it agrees with an unlimited decoder, over it the answer is
//!   `BodyTooLarge`.
#![no_main]

use arbitrary::Arbitrary;
use ferrox::proto::h1::chunked::ChunkedDecoder;
use ferrox::proto::h1::ParseError;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// The body limit: 0 to 127 data bytes, or none with the high bit set.
    limit: u8,
    /// Seeds the piece lengths.
    seed: u8,
    body: &'a [u8],
}

type Outcome = Result<(usize, bool), ParseError>;

fuzz_target!(|input: Input| {
    let body = input.body;
    let max = match input.limit {
        l if l & 0x80 != 0 => u64::MAX,
        l => u64::from(l),
    };

    let whole = feed(max, [body]);
    assert_eq!(feed(max, body.chunks(1)), whole, "byte by byte");
    assert_eq!(feed(max, pieces(body, input.seed)), whole, "in pieces");

    if let Ok((used, done)) = whole {
        if done {
            assert!(body[..used].ends_with(b"\r\n\r\n"), "done before CRLF CRLF");
        }
        assert!(
            declared(&body[..used]) <= max,
            "accepted more than the limit"
        );
    }
    let unlimited = feed(u64::MAX, [body]);
    if let Ok((used, _)) = unlimited {
        if declared(&body[..used]) <= max {
            assert_eq!(whole, unlimited, "the limit changed a body within it");
        } else {
            assert_eq!(whole, Err(ParseError::BodyTooLarge), "over the limit");
        }
    }
});

/// Feeds `pieces` in order to one decoder, checking each call.
fn feed<'a>(max: u64, pieces: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = ChunkedDecoder::new(max);
    let mut used = 0;
    for piece in pieces {
        let was_done = decoder.is_done();
        let n = decoder.advance(piece)?;
        assert!(n <= piece.len(), "consumed {n} of {}", piece.len());
        assert!(!was_done || n == 0, "consumed {n} after the end");
        assert!(n == piece.len() || decoder.is_done(), "stopped early");
        used += n;
    }
    if decoder.is_done() {
        assert_eq!(
            decoder.advance(b"0\r\n\r\n"),
            Ok(0),
            "consumed after the end"
        );
    }
    Ok((used, decoder.is_done()))
}

/// `body` cut into pieces of 1 to 64 bytes, lengths from a xorshift generator.
fn pieces(body: &[u8], seed: u8) -> impl Iterator<Item = &[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (1 + state as usize % 64).min(rest.len());
        let (piece, tail) = rest.split_at(len);
        rest = tail;
        Some(piece)
    })
}

/// The sum of the chunk sizes whose size line is complete in `body`, a prefix
/// of a chunked body the decoder accepted (so its syntax is known to be sound).
fn declared(mut body: &[u8]) -> u64 {
    let mut total = 0u64;
    loop {
        let digits = body.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return total;
        };
        let size = std::str::from_utf8(&body[..digits])
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .expect("accepted a chunk size that is not hex");
        total += size;
        if size == 0 {
            return total;
        }
        // The size line, the data and its CRLF (possibly cut short).
        let next = line_end as u64 + 2 + size + 2;
        match usize::try_from(next).ok().and_then(|n| body.get(n..)) {
            Some(rest) => body = rest,
            None => return total,
        }
    }
}
