//! Ferrox: a static-file web server, usable as a binary or embedded as a library.
//!
//! ```text
//! main    → config, server, log
//! config  → options structs of server, handler, proto, files (to fill them)
//! server  → proto, handler, body, log      (the only home of sockets and TLS)
//! proto   → body                           (wire protocols; no files, no config)
//! handler → files, body                    (request → response; no sockets)
//! files   → std                            (the filesystem only)
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
pub mod server;
