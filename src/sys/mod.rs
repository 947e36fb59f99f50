//! The only home of platform calls and `cfg(target_os)`.
//!
//! Everything Ferrox asks of the operating system beyond `std` goes through
//! here, so that the rest of the crate builds unchanged on Linux, macOS and the
//! BSDs:
//!
//! - [`fs`]: the root folder's handle, confined opens beneath it (`openat2`
//!   with `RESOLVE_BENEATH` on Linux 5.6+, else one `openat` per component
//!   with `O_NOFOLLOW`, links followed by us only while they stay inside),
//!   `stat`, directory reading, and the errno → failure classes.
//! - [`net`]: the listening socket and its options, `sendfile` (Linux; a
//!   bounded read/write copy elsewhere, chosen by the engines), and the
//!   `MSG_MORE` hint that keeps a head with the body that follows it; the
//!   interfaces' addresses.
//! - [`desktop`]: opening a URL in the user's browser.
//! - [`service`]: what a service manager and an operator ask: systemd's
//!   sockets and notify socket, the monotonic clock, the switch to another
//!   user, listening sockets handed to another process.
//!
//! One line below chooses between the Linux calls (`linux.rs`) and their
//! portable stand-ins (`portable.rs`). The cargo feature `portable` picks the
//! stand-ins on Linux too, so that the paths macOS and the BSDs take are tested
//! on the machines we test on (`cargo test --features portable`).

mod beneath;
pub mod desktop;
pub mod fs;
pub mod net;
pub mod service;

#[cfg(all(target_os = "linux", not(feature = "portable")))]
#[path = "linux.rs"]
mod native;

#[cfg(not(all(target_os = "linux", not(feature = "portable"))))]
#[path = "portable.rs"]
mod native;
