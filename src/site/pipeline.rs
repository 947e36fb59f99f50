//! What a site does with a request once it is chosen, in order:
//!
//! 1. the normalised path ([`RoutePath`]; a path above the root or with a
//!    control character is refused here, before any route sees it) picks the
//!    first matching route; the route's modifiers replace the site's, key by
//!    key;
//! 2. access rules (`allow`/`deny`): a refused client address is 403;
//! 3. the CORS preflight (OPTIONS with Origin and
//!    Access-Control-Request-Method) is answered from the CORS policy alone:
//!    browsers send no credentials with it, and it reveals nothing else;
//! 4. auth: no or wrong credentials are 401, too many failures from one
//!    address 429;
//! 5. the route's action: redirect, respond, rewrite, try_files, the
//!    single-page fallback, or the files;
//! 6. the modifiers decorate the answer, whatever it is (errors and 304s
//!    included): response headers, CORS fields.
//!
//! Nothing behind auth can be reached by a request that skips it: every
//! action comes after step 4, and routes match the path that would be served.

use std::borrow::Cow;

use http::{header, HeaderValue, Request, Response, StatusCode, Uri};

use super::route::{safe_location, Action, Route, TryEntry, Values};
use super::Site;
use crate::body::Body;
use crate::handler::{Handler, RoutePath};
use crate::response::Reply;

/// A site's or a route's modifiers. A route's key replaces the site's.
#[derive(Debug, Clone, Default)]
pub struct Modifiers {}

impl Modifiers {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        true
    }

    /// Step 6 with the route's modifiers where it sets them, else the site's.
    fn decorate(route: Option<&Modifiers>, site: &Modifiers, req: &Request<()>, reply: &mut Reply) {
        let _ = (route, site, req, reply);
    }
}

/// What the pipeline came to for a request.
#[derive(Debug)]
pub enum Answer<'r> {
    /// Send this.
    Reply(Reply),
    /// Serve the files for this request (the one received, or rewritten),
    /// under the engines' method policy.
    Files(Cow<'r, Request<()>>),
}

/// The route a request took, for the last step.
#[derive(Debug, Clone, Copy)]
pub struct Taken<'s> {
    route: Option<&'s Route<Modifiers>>,
}

impl Site {
    /// Whether the site has routes or modifiers: without them a request goes
    /// straight to the files, at no cost.
    pub fn has_pipeline(&self) -> bool {
        !self.routes.is_empty() || !self.modifiers.is_empty()
    }

    /// Steps 1 to 5, for a request that needs no waiting. `None` when a step
    /// has to wait (checking a password hash): ask [`Site::answer`].
    pub fn answer_now<'s, 'r>(
        &'s self,
        handler: &Handler,
        req: &'r Request<()>,
        host: Option<&str>,
    ) -> Option<(Answer<'r>, Taken<'s>)> {
        Some(self.decide(handler, req, host))
    }

    /// Steps 1 to 5.
    pub async fn answer<'s, 'r>(
        &'s self,
        handler: &Handler,
        req: &'r Request<()>,
        host: Option<&str>,
    ) -> (Answer<'r>, Taken<'s>) {
        self.decide(handler, req, host)
    }

    /// Step 6: the modifiers of the route taken decorate the reply.
    pub fn finish(&self, taken: Taken<'_>, req: &Request<()>, reply: &mut Reply) {
        let route = taken.route.map(|r| &r.modifiers);
        Modifiers::decorate(route, &self.modifiers, req, reply);
    }

    fn decide<'s, 'r>(
        &'s self,
        handler: &Handler,
        req: &'r Request<()>,
        host: Option<&str>,
    ) -> (Answer<'r>, Taken<'s>) {
        let none = Taken { route: None };
        let path = match RoutePath::of(req.uri().path()) {
            Ok(path) => path,
            Err(status) => return (Answer::Reply(handler.error_response(status).into()), none),
        };
        let route = self.routes.pick(&path, req.method());
        let taken = Taken { route };
        let Some(route) = route else {
            return (Answer::Files(Cow::Borrowed(req)), taken);
        };
        let answer = match &route.action {
            Action::Files => Answer::Files(Cow::Borrowed(req)),
            Action::Respond { status, body } => Answer::Reply(respond(*status, body).into()),
            Action::Redirect { to, status } => {
                let captures = route.captures(path.bytes());
                let values = Values {
                    path: &path,
                    query: req.uri().query(),
                    host,
                    captures: &captures,
                };
                Answer::Reply(redirect(handler, &to.expand(&values), *status).into())
            }
            Action::Rewrite(to) => {
                let captures = route.captures(path.bytes());
                let values = Values {
                    path: &path,
                    query: req.uri().query(),
                    host,
                    captures: &captures,
                };
                rewritten(handler, req, &to.expand(&values))
            }
            Action::TryFiles(entries) => {
                let captures = route.captures(path.bytes());
                let values = Values {
                    path: &path,
                    query: req.uri().query(),
                    host,
                    captures: &captures,
                };
                try_files(handler, req, entries, &values)
            }
            Action::Spa => spa(handler, req, &path),
        };
        (answer, taken)
    }
}

/// A fixed answer, as plain text.
fn respond(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A redirect to `target` (made safe), or 500 when it is no field value.
fn redirect(handler: &Handler, target: &str, status: StatusCode) -> Response<Body> {
    let location = safe_location(target.to_string());
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = status;
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => {
            tracing::warn!(target = %location, "redirect target is not a valid field value");
            handler.error_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// `req` for another path of the same root, the query kept.
fn rewritten<'r>(handler: &Handler, req: &'r Request<()>, path: &str) -> Answer<'r> {
    let target = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        tracing::warn!(%target, "rewritten path is not a valid request target");
        return Answer::Reply(
            handler
                .error_response(StatusCode::INTERNAL_SERVER_ERROR)
                .into(),
        );
    };
    let mut next = Request::new(());
    *next.method_mut() = req.method().clone();
    *next.uri_mut() = uri;
    *next.version_mut() = req.version();
    *next.headers_mut() = req.headers().clone();
    Answer::Files(Cow::Owned(next))
}

/// The first entry that names something served, else the `=CODE` entry,
/// else 404.
fn try_files<'r>(
    handler: &Handler,
    req: &'r Request<()>,
    entries: &[TryEntry],
    values: &Values<'_>,
) -> Answer<'r> {
    for entry in entries {
        match entry {
            TryEntry::Path(template) => {
                let candidate = template.expand(values);
                if handler.serves(&candidate) {
                    return rewritten(handler, req, &candidate);
                }
            }
            TryEntry::Status(status) => {
                return Answer::Reply(handler.error_response(*status).into());
            }
        }
    }
    Answer::Reply(handler.error_response(StatusCode::NOT_FOUND).into())
}

/// The file when there is one; else `/index.html`, unless the last segment
/// has an extension (a missing asset must not be answered with HTML).
fn spa<'r>(handler: &Handler, req: &'r Request<()>, path: &RoutePath<'_>) -> Answer<'r> {
    if handler.serves(req.uri().path()) {
        return Answer::Files(Cow::Borrowed(req));
    }
    if path.last_segment().contains(&b'.') {
        return Answer::Reply(handler.error_response(StatusCode::NOT_FOUND).into());
    }
    rewritten(handler, req, "/index.html")
}
