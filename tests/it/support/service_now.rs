//! [`TestService`] with `call_now`, so that protocol tests also take the
//! engines' path without a future.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use ferrox::body::Body;
use ferrox::proto::Service;
use ferrox::response::Reply;
use http::{Request, Response};

use super::TestService;

/// The service every answer comes from.
const INNER: &TestService = &TestService;

/// [`TestService`]'s answers, those ready without waiting (every route but
/// `/slow`) from `call_now`, the rest from `call`.
pub struct TestServiceNow;

/// A waker for a future polled once and dropped if not ready.
struct Unused;

impl Wake for Unused {
    fn wake(self: Arc<Self>) {}
}

impl Service for TestServiceNow {
    fn call<'a>(
        &'a self,
        req: &'a Request<()>,
    ) -> impl Future<Output = Response<Body>> + Send + 'a {
        INNER.call(req)
    }

    /// [`TestService::call`]'s answer when its first poll has it: in memory,
    /// as `call_now` promises.
    fn call_now(&self, req: &Request<()>) -> Option<Reply> {
        let waker = Waker::from(Arc::new(Unused));
        let mut cx = Context::from_waker(&waker);
        match pin!(INNER.call(req)).poll(&mut cx) {
            Poll::Ready(response) => Some(Reply::from(response)),
            Poll::Pending => None,
        }
    }
}
