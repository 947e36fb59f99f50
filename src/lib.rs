//! Ferrox: a static-file web server, usable as a binary or embedded as a library.
//!
//! The map:
//!
//! - [`body`]: the response body enum (bytes, file slices, parts, streams).
//! - [`proto`]: wire protocols behind the [`proto::Service`] seam: `h1` (our
//!   engine: `parse`, `chunked`, `encode`, `io`, `pool`, `conn`) and `h2` (the
//!   `h2` crate); the method policy; the cached `Date`.
//! - [`files`]: the filesystem: `path` (sanitising), `resolve` (confined opens,
//!   `openat2`), `cache` (the open-file cache), `mime`.
//! - [`handler`]: request → response: the pipeline in `mod.rs`, `file` (one file's
//!   representations), `conditional`, `range`, `negotiate`, `compress`,
//!   `compress_cache`, `content_tag`, `cache_control`, `listing`,
//!   `listing_cache`, `headers`, `status` (THE error → status map and pages).
//! - [`server`]: sockets: `accept`, `conn` (TCP/TLS/h2c dispatch, the
//!   `Transport` impls with sendfile), `tls`, `redirect`, `shutdown`.
//! - [`config`]: `raw` (clap) → `resolve` → [`config::Config`]; [`log`]: the
//!   access log and tracing set-up; [`precompress`]: the `ferrox precompress`
//!   tool.
//!
//! Who may import whom:
//!
//! ```text
//! main    → config, server, log
//! config  → options structs of server, handler, proto, files (to fill them)
//! server  → proto, handler, body, log      (the only home of sockets and TLS)
//! proto   → body                           (wire protocols; no files, no config)
//! handler → files, body                    (request → response; no sockets)
//! files   → std                            (the filesystem only)
//! precompress → files, handler (compress, negotiate): a tool, not on the request path
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod body;
pub mod config;
pub mod files;
pub mod handler;
pub mod log;
pub mod precompress;
pub mod proto;
pub mod response;
pub mod server;
