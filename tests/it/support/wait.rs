//! The bound on every network await of the async tests.

use std::future::Future;
use std::time::Duration;

/// The bound on every network await in these tests.
pub const WAIT: Duration = Duration::from_secs(5);

/// Awaits `f` for at most [`WAIT`].
#[track_caller]
pub fn within<F: Future>(what: &str, f: F) -> impl Future<Output = F::Output> {
    let what = what.to_string();
    let at = std::panic::Location::caller();
    async move {
        tokio::time::timeout(WAIT, f)
            .await
            .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what} ({at})"))
    }
}
