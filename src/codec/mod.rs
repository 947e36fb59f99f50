//! Content codings, below the application: the list of codings the server
//! sends, which representations are worth compressing, and the encoders. Used
//! by the handler (negotiation, on-the-fly compression) and by the
//! `precompress` tool alike; the scheduling of on-the-fly work and the
//! compressed-response cache stay in the handler, which owns requests.

pub mod compressible;
pub mod encoder;

pub use compressible::{is_compressible, is_encoded_name, MAX_SIZE, MIN_SIZE};
pub use encoder::{compress_to_vec, Encoder, Levels, ON_THE_FLY, PRECOMPRESS};

/// THE list of codings the server sends besides identity, best first: served
/// from sidecars, compressed on the fly, written by `ferrox precompress`.
pub const CODINGS: [Encoding; 3] = [Encoding::Br, Encoding::Zstd, Encoding::Gzip];

/// A content coding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Brotli.
    Br,
    /// Zstandard.
    Zstd,
    /// gzip.
    Gzip,
    /// No coding.
    Identity,
}

impl Encoding {
    /// Server preference, best first: what breaks ties between equal weights.
    pub const PREFERENCE: [Encoding; 4] = [
        Encoding::Br,
        Encoding::Zstd,
        Encoding::Gzip,
        Encoding::Identity,
    ];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
            Encoding::Identity => "identity",
        }
    }

    /// The file-name suffix of a precompressed sidecar (`app.js.br`).
    pub fn suffix(self) -> Option<&'static str> {
        match self {
            Encoding::Br => Some(".br"),
            Encoding::Zstd => Some(".zst"),
            Encoding::Gzip => Some(".gz"),
            Encoding::Identity => None,
        }
    }
}
