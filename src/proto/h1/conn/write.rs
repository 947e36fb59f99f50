//! The writing half: a response is staged (its head, and a small body behind
//! it, encoded into the write buffer), then sent, at once from the poll that
//! read the head when one write takes it whole, else under the send timeout;
//! then it is settled: logged, and turned into whether the connection goes on.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode, Version};
use tokio::time::Instant;

use super::super::encode::{chunk_size_line, encode_head, BodyFraming, ConnectionField};
use super::super::io::{write_all, write_all_more, write_file, write_two};
use super::super::parse::ParseError;
use super::super::pool;
use super::{Conn, End};
use crate::body::{Body, Part};
use crate::proto::status::{status, Failure};
use crate::proto::{Exchange, Service, Transport};
use crate::response::{OmitServer, Reply};

/// Bodies in memory up to this size are copied behind the head and leave in one
/// write; larger ones go out as a second slice of a vectored write.
const INLINE_BODY: usize = 16 * 1024;

/// A response whose head (and any small body) is encoded in the write buffer.
pub(super) struct Staged {
    status: StatusCode,
    keep_alive: bool,
    chunked: bool,
    /// Body bytes copied behind the head.
    inline_bytes: u64,
    /// The body still to send after the write buffer.
    body: Option<Body>,
}

impl Staged {
    /// What sending all of the write buffer (and no more) came to.
    fn outcome(&self, result: io::Result<()>) -> Outcome {
        Outcome {
            status: self.status,
            body_bytes: if result.is_ok() { self.inline_bytes } else { 0 },
            result: result.map(|()| self.keep_alive),
        }
    }
}

/// How far a response got without waiting (see `Conn::send_at_once`).
pub(super) enum Progress {
    /// Nothing was done: the exchange has to wait (for a request body, or for
    /// the service's answer).
    NotStarted,
    /// Staged, and this much of the write buffer has left: the rest waits.
    Staged(Staged, usize),
    /// Written whole, or broken off.
    Done(Outcome),
}

/// What writing one response came to.
pub(super) struct Outcome {
    status: StatusCode,
    body_bytes: u64,
    /// Whether the connection may be kept, or why it broke.
    result: io::Result<bool>,
}

impl<'a, T: Transport, S: Service> Conn<'a, T, S> {
    /// Answers a request that cannot be served and ends the connection.
    pub(super) async fn refuse(
        &mut self,
        error: ParseError,
        request: Option<&Request<()>>,
        started: Instant,
    ) -> End {
        tracing::debug!(?error, "refusing request");
        self.send_error(status(Failure::Head(error)), request, started)
            .await
    }

    pub(super) async fn send_error(
        &mut self,
        status: StatusCode,
        request: Option<&Request<()>>,
        started: Instant,
    ) -> End {
        let response = self.service.error_response(status);
        let head_only = request.is_some_and(|r| r.method() == Method::HEAD);
        let outcome = self
            .write_response(response, head_only, Version::HTTP_11, false)
            .await;
        self.log(request, &outcome, started);
        match outcome.result {
            Ok(_) => End::Close,
            Err(_) => End::Gone,
        }
    }

    /// Writes the response and logs it. `Err` when the connection must end.
    pub(super) async fn respond(
        &mut self,
        request: &Request<()>,
        response: Response<Body>,
        keep_alive: bool,
        started: Instant,
    ) -> Result<(), End> {
        let head_only = request.method() == Method::HEAD;
        let outcome = self
            .write_response(response, head_only, request.version(), keep_alive)
            .await;
        self.settle(request, outcome, started)
    }

    /// [`Conn::settle`] for a request the connection owns, whose header map
    /// then goes back to the pool.
    pub(super) fn finish(
        &self,
        request: Request<()>,
        outcome: Outcome,
        started: Instant,
    ) -> Result<(), End> {
        let settled = self.settle(&request, outcome, started);
        pool::recycle(request);
        settled
    }

    /// Logs a written (or abandoned) response and says whether to go on.
    fn settle(&self, request: &Request<()>, outcome: Outcome, started: Instant) -> Result<(), End> {
        self.log(Some(request), &outcome, started);
        match outcome.result {
            Ok(true) => Ok(()),
            Ok(false) => Err(End::Close),
            Err(error) => {
                tracing::debug!(%error, "response abandoned");
                Err(End::Gone)
            }
        }
    }

    /// Encodes the head and sends head and body. The outcome says whether the
    /// connection may carry another request.
    async fn write_response(
        &mut self,
        response: Response<Body>,
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) -> Outcome {
        let staged = self.stage(response.into(), head_only, version, keep_alive);
        self.send_staged(staged, 0).await
    }

    /// Encodes the head into `self.write`, followed by a small body in memory;
    /// what remains to send of the body is left in the result.
    fn stage(
        &mut self,
        reply: Reply,
        head_only: bool,
        version: Version,
        keep_alive: bool,
    ) -> Staged {
        let mut reply = reply;
        self.service.decorate(&mut reply);
        let (response, fields) = reply.into_parts();
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let bodiless = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let framing = match body.len() {
            _ if bodiless => BodyFraming::NoBody,
            Some(n) => BodyFraming::Length(n),
            None if head_only => BodyFraming::NoBody,
            None if version == Version::HTTP_10 => BodyFraming::UntilClose,
            None => BodyFraming::Chunked,
        };
        // A body delimited by the close forces one, whatever was asked.
        let keep_alive = keep_alive && framing != BodyFraming::UntilClose;
        let connection = match (keep_alive, version) {
            (false, _) => ConnectionField::Close,
            (true, Version::HTTP_10) => ConnectionField::KeepAlive,
            (true, _) => ConnectionField::Omit,
        };
        if self.write.capacity() == 0 {
            self.write = pool::take_write();
        }
        self.write.clear();
        encode_head(
            &mut self.write,
            status,
            &parts.headers,
            fields.as_ref(),
            framing,
            connection,
            self.options.server_header && parts.extensions.get::<OmitServer>().is_none(),
        );
        let mut staged = Staged {
            status,
            keep_alive,
            chunked: framing == BodyFraming::Chunked,
            inline_bytes: 0,
            body: None,
        };
        if head_only || framing == BodyFraming::NoBody {
            return staged;
        }
        match body {
            Body::Empty => {}
            Body::Bytes(bytes) if bytes.len() <= INLINE_BODY => {
                self.write.extend_from_slice(&bytes);
                staged.inline_bytes = bytes.len() as u64;
            }
            // An empty slice has nothing to send after the head to release it.
            Body::File(slice) if slice.len == 0 => {}
            body => staged.body = Some(body),
        }
        staged
    }

    /// Stages `reply` and writes as much as one write takes, without waiting.
    ///
    /// The write is polled with the waker of the poll that read the head: the
    /// same task's, and a write that would block goes on in `send_rest`, which
    /// polls again with the current one.
    pub(super) fn send_at_once(
        &mut self,
        request: &Request<()>,
        reply: Reply,
        keep_alive: bool,
    ) -> Progress {
        let head_only = request.method() == Method::HEAD;
        let staged = self.stage(reply, head_only, request.version(), keep_alive);
        let written = match staged.body {
            // A body kept out of the write buffer is sent by the future.
            Some(_) => Poll::Pending,
            None => self.write_at_once(),
        };
        match written {
            Poll::Ready(Ok(n)) if n >= self.write.len() => Progress::Done(staged.outcome(Ok(()))),
            Poll::Ready(Ok(n)) => Progress::Staged(staged, n),
            Poll::Ready(Err(error)) => Progress::Done(staged.outcome(Err(error))),
            Poll::Pending => Progress::Staged(staged, 0),
        }
    }

    /// One write of `self.write`, polled with the waker kept by `head_at_once`
    /// (without one, it is left to the future that follows).
    fn write_at_once(&mut self) -> Poll<io::Result<usize>> {
        let Some(waker) = &self.waker else {
            return Poll::Pending;
        };
        let mut cx = Context::from_waker(waker);
        Pin::new(&mut self.io).poll_write(&mut cx, &self.write)
    }

    /// The rest of a staged response, from `written` bytes of `self.write` on.
    pub(super) async fn send_rest(
        &mut self,
        request: Request<()>,
        staged: Staged,
        written: usize,
        started: Instant,
    ) -> Result<(), End> {
        let outcome = self.send_staged(staged, written).await;
        self.finish(request, outcome, started)
    }

    /// Sends a staged response, of whose head (and inline body) `written` bytes
    /// have already left.
    async fn send_staged(&mut self, mut staged: Staged, written: usize) -> Outcome {
        let Some(body) = staged.body.take() else {
            let rest = self.write.get(written..).unwrap_or_default();
            let result = write_all(&mut self.io, rest, self.options.send_timeout).await;
            return staged.outcome(result);
        };
        let mut sent = 0;
        let result = self.write_body(body, staged.chunked, &mut sent).await;
        Outcome {
            status: staged.status,
            body_bytes: sent,
            result: result.map(|()| staged.keep_alive),
        }
    }

    /// Sends the encoded head (in `self.write`) and the body, counting body bytes.
    async fn write_body(&mut self, body: Body, chunked: bool, sent: &mut u64) -> io::Result<()> {
        let limit = self.options.send_timeout;
        match body {
            // Nothing after the head: `stage` sends these with it, so they come
            // here only from a caller that skips it. An empty file must not
            // take the MSG_MORE path, which would hold the head back.
            Body::Empty => write_all(&mut self.io, &self.write, limit).await,
            Body::Bytes(bytes) => {
                write_two(&mut self.io, &self.write, &bytes, limit).await?;
                *sent = bytes.len() as u64;
                Ok(())
            }
            Body::File(slice) if slice.len == 0 => {
                write_all(&mut self.io, &self.write, limit).await
            }
            Body::File(slice) => {
                write_all_more(&mut self.io, &self.write, limit).await?;
                write_file(&mut self.io, &slice, &mut self.scratch, limit, sent).await
            }
            Body::Parts(parts) => {
                write_all(&mut self.io, &self.write, limit).await?;
                for part in parts {
                    match part {
                        Part::Bytes(bytes) => {
                            write_all(&mut self.io, &bytes, limit).await?;
                            *sent += bytes.len() as u64;
                        }
                        Part::File(slice) => {
                            write_file(&mut self.io, &slice, &mut self.scratch, limit, sent)
                                .await?;
                        }
                    }
                }
                Ok(())
            }
            Body::Stream(mut stream) => {
                write_all(&mut self.io, &self.write, limit).await?;
                while let Some(chunk) = poll_fn(|cx| stream.as_mut().poll_chunk(cx)).await {
                    let chunk = chunk?;
                    if chunk.is_empty() {
                        continue;
                    }
                    if chunked {
                        self.write.clear();
                        chunk_size_line(&mut self.write, chunk.len());
                        write_two(&mut self.io, &self.write, &chunk, limit).await?;
                        write_all(&mut self.io, b"\r\n", limit).await?;
                    } else {
                        write_all(&mut self.io, &chunk, limit).await?;
                    }
                    *sent += chunk.len() as u64;
                }
                if chunked {
                    write_all(&mut self.io, b"0\r\n\r\n", limit).await?;
                }
                Ok(())
            }
        }
    }

    fn log(&self, request: Option<&Request<()>>, outcome: &Outcome, started: Instant) {
        self.service.on_response(&Exchange {
            request,
            status: outcome.status,
            body_bytes: outcome.body_bytes,
            duration: started.elapsed(),
            complete: outcome.result.is_ok(),
        });
    }
}
