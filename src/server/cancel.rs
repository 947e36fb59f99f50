//! Running a future until a signal fires, from a hot loop.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Poll, Waker};

use crate::proto::Signal;

/// Runs `future` to its end (true) unless `signal` fires first (false).
/// A connection is woken many times per request: `waiter` (one of the signal's
/// `fired` futures) is polled once per waker, and after that the signal's flag
/// is read (see [`Signal::poll_fired`]). Takes both futures pinned by the
/// caller, so that neither is stored twice.
pub(crate) async fn until_cancelled<F: Future<Output = ()>>(
    mut future: Pin<&mut impl Future<Output = ()>>,
    mut waiter: Pin<&mut F>,
    signal: &Signal,
) -> bool {
    let mut registered: Option<Waker> = None;
    poll_fn(|cx| {
        if future.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        signal
            .poll_fired(waiter.as_mut(), &mut registered, cx)
            .map(|()| false)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::time::Duration;

    #[tokio::test]
    async fn ends_with_the_future_or_at_the_cancel() {
        let signal = Signal::new();
        let done = until_cancelled(pin!(async {}), pin!(signal.fired()), &signal).await;
        assert!(done);

        let canceller = signal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            canceller.fire();
        });
        let forever = std::future::pending::<()>();
        let done = until_cancelled(pin!(forever), pin!(signal.fired()), &signal).await;
        assert!(!done, "the cancel must end a future that never ends");
    }
}
