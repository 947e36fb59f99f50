//! A strict decoder for chunked request bodies (RFC 9112 §7.1). A body that is
//! discarded only needs its end found and its size counted ([`ChunkedDecoder::advance`]);
//! a body a service reads is walked to each piece of data in turn
//! ([`ChunkedDecoder::next_data`]). Either way it must agree byte for byte with any front proxy about that end, so it
//! accepts no bare LF, no sloppy chunk sizes and no chunk extension outside the
//! grammar ("funky chunks": `5;`, `5 `, `5;a[=b` are each read differently by
//! some parser, so all of them are refused):
//!
//! ```text
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! chunk-ext-name = token
//! chunk-ext-val  = token / quoted-string
//! ```

use super::parse::{ParseError, MAX_CHUNK_LINE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size {
        digits: u8,
    },
    /// Somewhere in the chunk extensions.
    Extension(Ext),
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// Where in `chunk-ext` the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Whitespace after the size or a value: only `;` may follow.
    BeforeSemi,
    /// After `;`: whitespace, then a name.
    BeforeName,
    Name,
    /// Whitespace after a name: only `=` or `;` may follow.
    AfterName,
    /// After `=`: whitespace, then a token or a quoted string.
    BeforeValue,
    Token,
    Quoted,
    QuotedEscape,
    /// After a closing quote: as after a token.
    AfterQuoted,
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 §5.6.4 `qdtext` (and, after a backslash, `quoted-pair`'s octets).
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..)
}

/// The state after byte `b` within the extensions; `None` when `b` breaks the
/// grammar. CR (the end of the line) is handled by the caller.
fn ext_step(ext: Ext, b: u8) -> Option<Ext> {
    use Ext::*;
    let ws = b == b' ' || b == b'\t';
    Some(match ext {
        BeforeSemi if ws => BeforeSemi,
        BeforeSemi | Name | AfterName | Token | AfterQuoted if b == b';' => BeforeName,
        BeforeName if ws => BeforeName,
        BeforeName | Name if is_tchar(b) => Name,
        Name | AfterName if ws => AfterName,
        Name | AfterName if b == b'=' => BeforeValue,
        BeforeValue if ws => BeforeValue,
        BeforeValue if b == b'"' => Quoted,
        BeforeValue | Token if is_tchar(b) => Token,
        Token | AfterQuoted if ws => BeforeSemi,
        Quoted if b == b'"' => AfterQuoted,
        Quoted if b == b'\\' => QuotedEscape,
        Quoted if is_qdtext(b) => Quoted,
        QuotedEscape if b == b'\t' || b >= 0x20 && b != 0x7F => Quoted,
        _ => return None,
    })
}

/// Where a line may end within the extensions: after the size, a name, or a
/// value; never after a bare `;`, `=` or trailing whitespace.
fn ext_may_end(ext: Ext) -> bool {
    matches!(ext, Ext::Name | Ext::Token | Ext::AfterQuoted)
}

/// Walks a chunked body; feed it bytes with [`ChunkedDecoder::advance`].
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    chunk: u64,
    total: u64,
    line: usize,
    max_body: u64,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies over `max_body` data bytes.
    pub fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            chunk: 0,
            total: 0,
            line: 0,
            max_body,
        }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes a prefix of `input` and returns its length. Stops at the end of the
    /// body, so bytes after it (a pipelined request) are left alone.
    pub fn advance(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = (input.len() - i).min(usize::try_from(self.chunk).unwrap_or(usize::MAX));
                i += take;
                self.chunk -= take as u64;
                if self.chunk == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// Consumes the framing at the start of `input` up to the next chunk
    /// data: `(framing, data)` says that `framing` bytes were framing and the
    /// `data` bytes after them are the body's (`data` is 0 when `input` ends
    /// first, or the body does: see [`ChunkedDecoder::is_done`]).
    pub fn next_data(&mut self, input: &[u8]) -> Result<(usize, usize), ParseError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = (input.len() - i).min(usize::try_from(self.chunk).unwrap_or(usize::MAX));
                self.chunk -= take as u64;
                if self.chunk == 0 {
                    self.state = State::DataCr;
                }
                return Ok((i, take));
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok((i, 0))
    }

    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        use State::*;
        const BAD: ParseError = ParseError::Malformed("invalid chunked body");
        self.state = match (self.state, b) {
            (Size { digits }, _) if b.is_ascii_hexdigit() => {
                // 16 hex digits already overflow any limit worth having.
                if digits >= 15 {
                    return Err(BAD);
                }
                let d = (b as char).to_digit(16).unwrap_or(0);
                self.chunk = self.chunk * 16 + u64::from(d);
                Size { digits: digits + 1 }
            }
            (Size { digits: 1.. }, b';') => Extension(Ext::BeforeName),
            (Size { digits: 1.. }, b' ' | b'\t') => Extension(Ext::BeforeSemi),
            (Size { digits: 1.. }, b'\r') => SizeLf,
            (Extension(ext), b'\r') if ext_may_end(ext) => SizeLf,
            (Extension(ext), _) => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(BAD);
                }
                Extension(ext_step(ext, b).ok_or(BAD)?)
            }
            (SizeLf, b'\n') => {
                self.line = 0;
                self.total += self.chunk;
                if self.total > self.max_body {
                    return Err(ParseError::BodyTooLarge);
                }
                if self.chunk == 0 {
                    TrailerStart
                } else {
                    Data
                }
            }
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size { digits: 0 },
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | Trailer, _) if b != b'\r' && b != b'\n' => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(BAD);
                }
                Trailer
            }
            (Trailer, b'\r') => TrailerLf,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            _ => return Err(BAD),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outcome = Result<(usize, bool), ParseError>;

    fn run(input: &[u8], max: u64) -> Outcome {
        let mut d = ChunkedDecoder::new(max);
        // Feed byte by byte and all at once: both must agree.
        let mut used = 0;
        for chunk in input.chunks(1) {
            if d.is_done() {
                break;
            }
            used += d.advance(chunk)?;
        }
        let mut whole = ChunkedDecoder::new(max);
        let n = whole.advance(input)?;
        assert_eq!((n, whole.is_done()), (used, d.is_done()), "{input:?}");
        Ok((n, d.is_done()))
    }

    #[test]
    fn table() {
        let bad = Err(ParseError::Malformed("invalid chunked body"));
        let cases: &[(&[u8], Outcome)] = &[
            (b"0\r\n\r\n", Ok((5, true))),
            (b"5\r\nhello\r\n0\r\n\r\nGET", Ok((15, true))),
            (b"5;ext=1\r\nhello\r\n0\r\n\r\n", Ok((21, true))),
            (b"5;a\r\nhello\r\n0\r\n\r\n", Ok((17, true))),
            (b"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", Ok((26, true))),
            (b"5;a=\"x \\\" y\"\r\nhello\r\n0\r\n\r\n", Ok((26, true))),
            (b"5;a=\"q\" ;b\r\nhello\r\n0\r\n\r\n", Ok((24, true))),
            // Funky chunks: each of these is read as size 5 by some parser.
            (b"5;\r\nhello\r\n0\r\n\r\n", bad),
            (b"5 \r\nhello\r\n0\r\n\r\n", bad),
            (b"5\t\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;bad[=x\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;a=\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;a \r\nhello\r\n0\r\n\r\n", bad),
            (b"5;a=b c\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;a=\"open\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", bad),
            (b"5 x\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;=x\r\nhello\r\n0\r\n\r\n", bad),
            (b"5;a\x01\r\nhello\r\n0\r\n\r\n", bad),
            (b"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", Ok((28, true))),
            (b"5\r\nhel", Ok((6, false))),
            (b"5\nhello\r\n0\r\n\r\n", bad),
            (b"5\r\nhello\n0\r\n\r\n", bad),
            (b"5\r\nhelloX\r\n", bad),
            (b"\r\n", bad),
            (b"-5\r\n", bad),
            (b"0x5\r\n", bad),
            (b"ffffffffffffffff\r\n", bad),
            (b"0\r\n\n", bad),
            (
                b"b\r\nhello world\r\n0\r\n\r\n",
                Err(ParseError::BodyTooLarge),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                &run(input, 10),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// The data of `input` fed in pieces of `step` bytes, and whether the
    /// body ended.
    fn data_of(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), ParseError> {
        let mut d = ChunkedDecoder::new(100);
        let mut data = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for piece in input.chunks(step) {
            pending.extend_from_slice(piece);
            loop {
                let (framing, n) = d.next_data(&pending)?;
                data.extend_from_slice(&pending[framing..framing + n]);
                pending.drain(..framing + n);
                if n == 0 || d.is_done() {
                    break;
                }
            }
        }
        Ok((data, d.is_done()))
    }

    #[test]
    fn data_is_found_between_the_framing() {
        let input = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n";
        for step in [1, 2, 3, 7, input.len()] {
            assert_eq!(
                data_of(input, step),
                Ok((b"hello world".to_vec(), true)),
                "step {step}"
            );
        }
        assert_eq!(data_of(b"5\r\nhel", 2), Ok((b"hel".to_vec(), false)));
        assert!(data_of(b"5;\r\nhello\r\n0\r\n\r\n", 1).is_err());
        let mut big = ChunkedDecoder::new(4);
        assert_eq!(big.next_data(b"5\r\nhello"), Err(ParseError::BodyTooLarge));
    }

    #[test]
    fn extension_length_is_bounded() {
        let mut input = b"1;".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_CHUNK_LINE + 1));
        assert!(ChunkedDecoder::new(10).advance(&input).is_err());
        let mut fits = b"1;".to_vec();
        fits.extend(std::iter::repeat_n(b'a', MAX_CHUNK_LINE - 1));
        fits.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert!(ChunkedDecoder::new(10).advance(&fits).is_ok());
    }
}
