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
use std::net::IpAddr;

use http::{header, HeaderValue, Request, Response, StatusCode, Uri};

use super::access::AccessRules;
use super::auth::{Auth, Verdict};
use super::cors::Cors;
use super::headers::HeaderRules;
use super::route::{safe_location, Action, Route, TryEntry, Values};
use super::{Refusal, Site};
use crate::body::Body;
use crate::handler::{Handler, RoutePath};
use crate::response::Reply;

/// A site's or a route's modifiers. A route's key replaces the site's.
#[derive(Debug, Clone, Default)]
pub struct Modifiers {
    /// Response headers to set, add and remove (and the security preset).
    pub headers: Option<HeaderRules>,
    /// The CORS policy.
    pub cors: Option<Cors>,
    /// Basic authentication.
    pub auth: Option<Auth>,
    /// Client addresses allowed and denied.
    pub access: Option<AccessRules>,
}

impl Modifiers {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self.headers.is_none()
            && self.cors.is_none()
            && self.auth.is_none()
            && self.access.is_none()
    }
}

/// The modifiers in force for one request: the route's where it sets them,
/// else the site's.
#[derive(Debug, Clone, Copy)]
struct Effective<'a> {
    headers: Option<&'a HeaderRules>,
    cors: Option<&'a Cors>,
    auth: Option<&'a Auth>,
    access: Option<&'a AccessRules>,
}

impl<'a> Effective<'a> {
    fn of(route: Option<&'a Route<Modifiers>>, site: &'a Modifiers) -> Effective<'a> {
        let route = route.map(|r| &r.modifiers);
        Effective {
            headers: route
                .and_then(|r| r.headers.as_ref())
                .or(site.headers.as_ref()),
            cors: route.and_then(|r| r.cors.as_ref()).or(site.cors.as_ref()),
            auth: route.and_then(|r| r.auth.as_ref()).or(site.auth.as_ref()),
            access: route
                .and_then(|r| r.access.as_ref())
                .or(site.access.as_ref()),
        }
    }
}

/// Where steps 2 to 4 leave a request.
enum Gate<'a> {
    /// On to the action.
    Pass,
    /// Answered already (refused, or a preflight).
    Stop(Reply),
    /// Credentials to verify first.
    Verify(&'a Auth),
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
    /// A CORS preflight: answered from the policy, not decorated by it again.
    preflight: bool,
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
        client: IpAddr,
    ) -> Option<(Answer<'r>, Taken<'s>)> {
        let (path, taken, effective) = match self.start(req) {
            Ok(started) => started,
            Err(status) => return Some(refused_path(handler, status)),
        };
        match self.gate(handler, req, client, &effective) {
            Gate::Pass => {}
            Gate::Stop(reply) => return Some((Answer::Reply(reply), self.stopped(taken, req))),
            Gate::Verify(auth) => {
                let verdict = auth.check_now(req.headers().get(header::AUTHORIZATION), client)?;
                if let Some(reply) = self.verdict(handler, auth, verdict) {
                    return Some((Answer::Reply(reply), taken));
                }
            }
        }
        Some((self.act(handler, req, host, &path, taken), taken))
    }

    /// Steps 1 to 5.
    pub async fn answer<'s, 'r>(
        &'s self,
        handler: &Handler,
        req: &'r Request<()>,
        host: Option<&str>,
        client: IpAddr,
    ) -> (Answer<'r>, Taken<'s>) {
        let (path, taken, effective) = match self.start(req) {
            Ok(started) => started,
            Err(status) => return refused_path(handler, status),
        };
        match self.gate(handler, req, client, &effective) {
            Gate::Pass => {}
            Gate::Stop(reply) => return (Answer::Reply(reply), self.stopped(taken, req)),
            Gate::Verify(auth) => {
                let verdict = auth
                    .check(req.headers().get(header::AUTHORIZATION), client)
                    .await;
                if let Some(reply) = self.verdict(handler, auth, verdict) {
                    return (Answer::Reply(reply), taken);
                }
            }
        }
        (self.act(handler, req, host, &path, taken), taken)
    }

    /// Step 6: the modifiers of the route taken decorate the reply.
    pub fn finish(&self, taken: Taken<'_>, req: &Request<()>, reply: &mut Reply) {
        let effective = Effective::of(taken.route, &self.modifiers);
        if let Some(headers) = effective.headers {
            headers.apply(reply);
        }
        if let (Some(cors), false) = (effective.cors, taken.preflight) {
            cors.decorate(req.headers().get(header::ORIGIN), reply);
        }
    }

    /// Step 1: the normalised path and the route it takes, or the status
    /// that refuses the path.
    #[allow(clippy::type_complexity)]
    fn start<'s, 'p>(
        &'s self,
        req: &'p Request<()>,
    ) -> Result<(RoutePath<'p>, Taken<'s>, Effective<'s>), StatusCode> {
        let path = RoutePath::of(req.uri().path())?;
        let route = self.routes.pick(&path, req.method());
        let taken = Taken {
            route,
            preflight: false,
        };
        Ok((path, taken, Effective::of(route, &self.modifiers)))
    }

    /// Steps 2 to 4: access rules, the CORS preflight, and whether auth must
    /// verify credentials.
    fn gate<'s>(
        &'s self,
        handler: &Handler,
        req: &Request<()>,
        client: IpAddr,
        effective: &Effective<'s>,
    ) -> Gate<'s> {
        if let Some(access) = effective.access {
            if !access.permits(client) {
                tracing::debug!(%client, "refused by the access rules");
                return Gate::Stop(refusal(handler, Refusal::Denied).into());
            }
        }
        if let Some(cors) = effective.cors {
            if Cors::is_preflight(req) {
                return Gate::Stop(cors.preflight(req).into());
            }
        }
        match effective.auth {
            Some(auth) => Gate::Verify(auth),
            None => Gate::Pass,
        }
    }

    /// A preflight stopped at the gate is not decorated by CORS again.
    fn stopped<'s>(&self, taken: Taken<'s>, req: &Request<()>) -> Taken<'s> {
        Taken {
            preflight: Cors::is_preflight(req),
            ..taken
        }
    }

    /// What auth's verdict answers, if it does not let the request on.
    fn verdict(&self, handler: &Handler, auth: &Auth, verdict: Verdict) -> Option<Reply> {
        match verdict {
            Verdict::Allow => None,
            Verdict::Challenge => {
                let mut response = refusal(handler, Refusal::Unauthenticated);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, auth.challenge());
                Some(response.into())
            }
            Verdict::Limited { retry_after } => {
                let mut response = refusal(handler, Refusal::TooManyFailures);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                Some(response.into())
            }
        }
    }

    /// Step 5: the route's action.
    fn act<'r>(
        &self,
        handler: &Handler,
        req: &'r Request<()>,
        host: Option<&str>,
        path: &RoutePath<'_>,
        taken: Taken<'_>,
    ) -> Answer<'r> {
        let Some(route) = taken.route else {
            return Answer::Files(Cow::Borrowed(req));
        };
        match &route.action {
            Action::Files => Answer::Files(Cow::Borrowed(req)),
            Action::Respond { status, body } => Answer::Reply(respond(*status, body).into()),
            Action::Redirect { to, status } => {
                let captures = route.captures(path.bytes());
                let values = Values {
                    path,
                    query: req.uri().query(),
                    host,
                    captures: &captures,
                };
                Answer::Reply(redirect(handler, &to.expand(&values), *status).into())
            }
            Action::Rewrite(to) => {
                let captures = route.captures(path.bytes());
                let values = Values {
                    path,
                    query: req.uri().query(),
                    host,
                    captures: &captures,
                };
                rewritten(handler, req, &to.expand(&values))
            }
            Action::TryFiles(entries) => {
                let captures = route.captures(path.bytes());
                let values = Values {
                    path,
                    query: req.uri().query(),
                    host,
                    captures: &captures,
                };
                try_files(handler, req, entries, &values)
            }
            Action::Spa => spa(handler, req, path),
        }
    }
}

/// The answer to a path that cannot be served at all (above the root, a
/// control character), before any route.
fn refused_path<'r, 's>(handler: &Handler, status: StatusCode) -> (Answer<'r>, Taken<'s>) {
    let none = Taken {
        route: None,
        preflight: false,
    };
    (Answer::Reply(handler.error_response(status).into()), none)
}

/// The page of a site-level refusal.
fn refusal(handler: &Handler, why: Refusal) -> Response<Body> {
    handler.error_response(why.status())
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
