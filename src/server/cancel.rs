//! Watching a cancellation token from a hot loop.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Poll, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Runs `future` to its end (true) unless `token` is cancelled first (false).
/// A connection is woken many times per request, and polling the token's
/// `waiter` takes its waiter list's lock every time; here the waiter is polled
/// once per waker and after that the token is only checked (a short lock of its
/// own state: removing the check altogether measured no faster). Takes both
/// futures pinned by the caller, so that neither is stored twice.
pub(crate) async fn until_cancelled(
    mut future: Pin<&mut impl Future<Output = ()>>,
    mut waiter: Pin<&mut WaitForCancellationFuture<'_>>,
    token: &CancellationToken,
) -> bool {
    let mut registered: Option<Waker> = None;
    poll_fn(|cx| {
        if future.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        match &registered {
            Some(waker) if waker.will_wake(cx.waker()) => {
                if token.is_cancelled() {
                    return Poll::Ready(false);
                }
            }
            _ => {
                if waiter.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                registered = Some(cx.waker().clone());
            }
        }
        Poll::Pending
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
        let token = CancellationToken::new();
        let done = until_cancelled(pin!(async {}), pin!(token.cancelled()), &token).await;
        assert!(done);

        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            canceller.cancel();
        });
        let forever = std::future::pending::<()>();
        let done = until_cancelled(pin!(forever), pin!(token.cancelled()), &token).await;
        assert!(!done, "the cancel must end a future that never ends");
    }
}
