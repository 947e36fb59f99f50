//! The encoders: brotli, Zstandard and gzip behind one streaming writer, and
//! the levels for compressing on the fly and ahead of time.

use std::io::{self, Write};

use brotli::enc::encode::{
    BrotliEncoderOperation, BrotliEncoderParameter, BrotliEncoderStateStruct,
};
use brotli::enc::StandardAlloc;

use super::Encoding;

/// The levels of the three encoders, and brotli's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Brotli quality, 0 to 11.
    pub br_quality: u32,
    /// Brotli window, log2 bytes, 10 to 24.
    pub br_window: u32,
    /// Zstandard level, 1 to 19 here.
    pub zstd: i32,
    /// gzip level, 1 to 9.
    pub gzip: u32,
}

/// Levels for compressing while the client waits: the knee of each encoder's
/// speed/size curve. Measured on 1 MiB of real HTML (release build, one core):
/// brotli 5 gives 4.6x at 30 MB/s where gzip 9 gives 4.2x at 19 MB/s; zstd 3
/// gives 4.2x at 200 MB/s (its own default); gzip 6 (zlib's default) is as
/// small as gzip 9 and faster. Brotli's 1 MiB window keeps an encoder near
/// 5 MiB, where the default 4 MiB window takes 9 (streams run concurrently).
pub const ON_THE_FLY: Levels = Levels {
    br_quality: 5,
    br_window: 20,
    zstd: 3,
    gzip: 6,
};

/// Levels for `ferrox precompress`, done once per deploy: the highest that are
/// sensible. Brotli 11 with the largest standard window (16 MiB). Zstandard 19
/// is the highest level whose window stays within 8 MiB, the most an HTTP
/// client must accept for `zstd` (RFC 9659); 20 to 22 need more. gzip 9.
pub const PRECOMPRESS: Levels = Levels {
    br_quality: 11,
    br_window: 24,
    zstd: 19,
    gzip: 9,
};

/// A streaming encoder for one of the three codings, writing into `W`.
///
/// Unlike the crates' own writers, dropping it does no work: brotli's and
/// flate2's writers finish the stream when dropped, which would put CPU work
/// wherever the drop happens (a runtime thread when a client goes away).
/// Here the brotli state is driven directly, and gzip's encoder is only ever
/// dropped after [`finish`](Self::finish) or off the runtime.
pub enum Encoder<W: Write> {
    /// Brotli.
    Br(BrotliWriter<W>),
    /// Zstandard.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder for `encoding` at `levels`. `size_hint` is the input's
    /// length when known: zstd then records it in the frame header and fits
    /// its window to it, brotli tunes its block sizes. Identity is refused
    /// (`InvalidInput`).
    pub fn new(
        encoding: Encoding,
        levels: &Levels,
        size_hint: Option<u64>,
        inner: W,
    ) -> io::Result<Encoder<W>> {
        match encoding {
            Encoding::Br => Ok(Encoder::Br(BrotliWriter::new(
                inner,
                levels.br_quality,
                levels.br_window,
                size_hint,
            ))),
            Encoding::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(inner, levels.zstd)?;
                if let Some(size) = size_hint {
                    // The size must then be exact: a file that shrinks while
                    // read fails (as it must) before the frame ends.
                    encoder.set_pledged_src_size(Some(size))?;
                    encoder.include_contentsize(true)?;
                }
                Ok(Encoder::Zstd(encoder))
            }
            Encoding::Gzip => Ok(Encoder::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(levels.gzip),
            ))),
            Encoding::Identity => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "identity is not an encoder",
            )),
        }
    }

    /// The writer the output goes to.
    pub fn get_ref(&self) -> &W {
        match self {
            Encoder::Br(e) => &e.inner,
            Encoder::Zstd(e) => e.get_ref(),
            Encoder::Gzip(e) => e.get_ref(),
        }
    }

    /// The writer the output goes to. Taking bytes already written out of it
    /// (a `Vec`) is fine: the encoders only ever append.
    pub fn get_mut(&mut self) -> &mut W {
        match self {
            Encoder::Br(e) => &mut e.inner,
            Encoder::Zstd(e) => e.get_mut(),
            Encoder::Gzip(e) => e.get_mut(),
        }
    }

    /// Ends the stream (writing what the encoder still holds, and the trailer)
    /// and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Br(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Br(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
        }
    }

    /// Passes buffered output on where the coding allows it; costs ratio.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Br(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
        }
    }
}

/// A brotli encoder writing into `W`, driving the encoder state directly so
/// that errors reach the caller (the crate's writer drops them when finishing)
/// and a drop costs nothing.
pub struct BrotliWriter<W: Write> {
    /// Boxed: the state is kilobytes inline, and moves with the job.
    state: Box<BrotliEncoderStateStruct<StandardAlloc>>,
    scratch: Box<[u8]>,
    inner: W,
}

/// Brotli's output scratch buffer.
const BROTLI_SCRATCH: usize = 16 * 1024;

impl<W: Write> BrotliWriter<W> {
    /// An encoder at `quality` (0-11) with a window of 2^`window` bytes.
    pub fn new(inner: W, quality: u32, window: u32, size_hint: Option<u64>) -> BrotliWriter<W> {
        let mut state = Box::new(BrotliEncoderStateStruct::new(StandardAlloc::default()));
        // set_parameter fails only once encoding started, which it has not.
        state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_QUALITY, quality);
        state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_LGWIN, window);
        if let Some(size) = size_hint {
            let size = u32::try_from(size).unwrap_or(u32::MAX);
            state.set_parameter(BrotliEncoderParameter::BROTLI_PARAM_SIZE_HINT, size);
        }
        BrotliWriter {
            state,
            scratch: vec![0; BROTLI_SCRATCH].into_boxed_slice(),
            inner,
        }
    }

    fn run(&mut self, op: BrotliEncoderOperation, input: &[u8]) -> io::Result<()> {
        let mut available_in = input.len();
        let mut in_offset = 0;
        loop {
            let mut available_out = self.scratch.len();
            let mut out_offset = 0;
            let ok = self.state.compress_stream(
                op,
                &mut available_in,
                input,
                &mut in_offset,
                &mut available_out,
                &mut self.scratch,
                &mut out_offset,
                &mut None,
                &mut |_, _, _, _| (),
            );
            if out_offset > 0 {
                self.inner.write_all(&self.scratch[..out_offset])?;
            }
            if !ok {
                return Err(io::Error::other("brotli encoder failed"));
            }
            let done = match op {
                BrotliEncoderOperation::BROTLI_OPERATION_FINISH => self.state.is_finished(),
                _ => available_in == 0 && !self.state.has_more_output(),
            };
            if done {
                return Ok(());
            }
        }
    }

    /// Ends the stream and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FINISH, &[])?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for BrotliWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_PROCESS, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.run(BrotliEncoderOperation::BROTLI_OPERATION_FLUSH, &[])?;
        self.inner.flush()
    }
}

/// Compresses `input` whole, in memory (small bodies: error pages, listings).
pub fn compress_to_vec(input: &[u8], encoding: Encoding, levels: &Levels) -> io::Result<Vec<u8>> {
    let out = Vec::with_capacity(input.len() / 3 + 64);
    let mut encoder = Encoder::new(encoding, levels, Some(input.len() as u64), out)?;
    encoder.write_all(input)?;
    encoder.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read;

    /// 1 MiB of text with the statistics of real source: a vocabulary, numbers
    /// and punctuation chosen by a fixed generator, so ratios are realistic.
    pub(crate) fn text(len: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "function",
            "return",
            "const",
            "let",
            "value",
            "index",
            "element",
            "document",
            "window",
            "length",
            "this",
            "=>",
            "if",
            "else",
            "for",
            "while",
            "null",
            "true",
            "false",
            "undefined",
            "async",
            "await",
            "export",
            "import",
            "default",
            "class",
            "extends",
            "super",
            "new",
            "typeof",
            "string",
            "number",
            "object",
            "map",
            "filter",
            "reduce",
            "push",
            "options",
            "config",
            "handler",
            "request",
            "response",
            "error",
        ];
        let mut out = Vec::with_capacity(len + 64);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        while out.len() < len {
            let r = next();
            match r % 11 {
                0 => out.extend_from_slice(b";\n  "),
                1 => out.extend_from_slice(format!("{}", r % 10_000).as_bytes()),
                2 => out.extend_from_slice(b"("),
                3 => out.extend_from_slice(b") "),
                4 => out.extend_from_slice(b"{ "),
                5 => out.extend_from_slice(b"}\n"),
                _ => {
                    out.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()].as_bytes());
                    out.push(b' ');
                }
            }
        }
        out.truncate(len);
        out
    }

    pub(crate) fn decode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Br => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Zstd => out = zstd::decode_all(data).unwrap(),
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Identity => out = data.to_vec(),
        }
        out
    }

    #[test]
    fn in_memory_round_trip() {
        let data = text(100_000);
        for encoding in [Encoding::Br, Encoding::Zstd, Encoding::Gzip] {
            for input in [&data[..], b"", b"a"] {
                let packed = compress_to_vec(input, encoding, &ON_THE_FLY).unwrap();
                assert_eq!(decode(encoding, &packed), input, "{encoding:?}");
            }
        }
        assert!(compress_to_vec(b"x", Encoding::Identity, &ON_THE_FLY).is_err());
    }
}
