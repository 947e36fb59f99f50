//! Ferrox: a static-file web server, usable as a binary or embedded as a library.
//!
//! The map:
//!
//! - [`body`]: the response body enum (bytes, file slices, parts, streams).
//! - [`response`]: [`response::Reply`], a response plus a block of pre-built
//!   fields: the vocabulary the engines and the application both speak.
//! - [`proto`]: wire protocols behind the [`proto::Service`] seam: `h1` (our
//!   engine: `parse`, `chunked`, `encode`, `io`, `pool`, `conn`) and `h2` (the
//!   `h2` crate); the method policy; `status` (THE protocol failure → status
//!   map); `proxy` (the PROXY protocol header); the cached `Date`.
//! - [`files`]: the filesystem: `path` (sanitising), `resolve` (confined opens),
//!   `cache` (the open-file cache), `mime`.
//! - [`codec`]: content codings: the list of codings, what is worth
//!   compressing, the encoders.
//! - [`handler`]: request → response: the pipeline in `mod.rs`, `file` (one file's
//!   representations), `conditional`, `range`, `negotiate`, `compress` (on-the-fly
//!   scheduling), `compress_cache`, `content_tag`, `cache_control`, `listing`,
//!   `listing_cache`, `look` (what the built-in pages share), `headers`, `status` (THE file error → status map and pages),
//!   `dev` (development mode: no-cache, the live-reload script and its event
//!   stream).
//! - [`site`]: many sites: `hosts` (the host → site table), `root` (a root
//!   that follows its path across deploys), `route` and `pipeline` (routes
//!   and the steps of a request), the modifiers of a site or route: `access`,
//!   `cors`, `headers`, `auth` (basic authentication: hashes, the verified
//!   cache, failures per client); `forwarded` (the client behind trusted
//!   proxies); the routing of a request to a site.
//! - [`server`]: sockets: `accept`, `conn` (TCP/TLS/h2c dispatch, the
//!   `Transport` impls with sendfile), `tls`, `redirect`, `shutdown` (drain,
//!   readiness), `admin` (the health and metrics listener), `watch`
//!   (development mode's watcher of the roots), `announce` (start-up URLs),
//!   `self_signed` (the kept development certificate), `systemd` (socket
//!   activation, `sd_notify`), `privileges` (`--user`, the root refusal),
//!   `handover` (SIGUSR2: the listeners handed to a new process).
//! - [`metrics`]: counters, gauges and the request histogram, lock-free on
//!   the request path; exported by `server::admin`.
//! - `sys` (crate-private): THE home of platform calls and `cfg(target_os)`:
//!   `fs` (the root's handle, `openat2` or the portable walk beneath it,
//!   `stat`, folders, errno classes), `net` (the listening socket, `sendfile`,
//!   `MSG_MORE`, the interfaces' addresses), `desktop` (opening a browser),
//!   `service` (systemd's sockets and notify socket, the user switch, sockets
//!   passed between processes), chosen in `sys/mod.rs` between `linux.rs` and
//!   `portable.rs` (the cargo feature `portable` takes the latter on Linux too).
//! - [`config`]: `raw` (clap) → `resolve` → [`config::Config`]; [`log`]: the
//!   access log, tracing set-up and log files (reopened on SIGUSR1);
//!   [`precompress`]: the `ferrox precompress`
//!   tool.
//!
//! Who may import whom (a test, `tests/it/layering.rs`, reads this table and
//! every `crate::` path in `src/`, and fails on an import it does not allow):
//!
//! ```text
//! main        → config, server, site, handler, log, precompress
//! config      → server, site, handler, proto, files, codec, log (to fill their options)
//! server      → proto, site, handler, body, response, log, metrics, sys (the only home of sockets and TLS)
//! site        → handler, body, response                     (never proto, server, config)
//! proto       → body, response                              (wire protocols; no files, no config)
//! handler     → files, codec, body, response, metrics       (request → response; no sockets)
//! precompress → files, codec                                (a tool, not on the request path)
//! response    → body
//! log         →
//! body        →
//! files       → sys, metrics                                (the filesystem only)
//! metrics     →                                             (atomic counters; nothing of ours)
//! codec       →                                             (content codings only)
//! sys         →                                             (platform calls; nothing of ours)
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod body;
pub mod codec;
pub mod config;
pub mod files;
pub mod handler;
pub mod log;
pub mod metrics;
pub mod precompress;
pub mod proto;
pub mod response;
pub mod server;
pub mod site;
mod sys;
