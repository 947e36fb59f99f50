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
//!    single-page fallback, or the files (a folder's archive holds only the
//!    entries this route would serve);
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
use crate::handler::{archive, Handler, RoutePath};
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
        host: &(dyn Fn() -> Option<&'r str> + Sync),
        client: IpAddr,
    ) -> Option<(Answer<'r>, Taken<'s>)> {
        let mut current: Cow<'r, Request<()>> = Cow::Borrowed(req);
        for _ in 0..MAX_INTERNAL {
            let (path, taken, effective) = match self.start(&current) {
                Ok(started) => started,
                Err(status) => return Some(refused_path(handler, status)),
            };
            match self.gate(handler, &current, client, &effective) {
                Gate::Pass => {}
                Gate::Stop(reply) => {
                    return Some((Answer::Reply(reply), self.stopped(taken, &current)))
                }
                Gate::Verify(auth) => {
                    let header = current.headers().get(header::AUTHORIZATION);
                    let verdict = auth.check_now(header, client)?;
                    if let Some(reply) = self.verdict(handler, auth, verdict) {
                        return Some((Answer::Reply(reply), taken));
                    }
                }
            }
            match self.act(handler, &current, host, &path, taken) {
                Step::Reply(reply) => return Some((Answer::Reply(reply), taken)),
                Step::Serve => return Some((Answer::Files(current), taken)),
                Step::ServeAs(next) => return Some((Answer::Files(Cow::Owned(next)), taken)),
                Step::Rewrite(next) => current = Cow::Owned(next),
            }
        }
        Some(too_many_rewrites(handler))
    }

    /// Steps 1 to 5.
    pub async fn answer<'s, 'r>(
        &'s self,
        handler: &Handler,
        req: &'r Request<()>,
        host: &(dyn Fn() -> Option<&'r str> + Sync),
        client: IpAddr,
    ) -> (Answer<'r>, Taken<'s>) {
        let mut current: Cow<'r, Request<()>> = Cow::Borrowed(req);
        for _ in 0..MAX_INTERNAL {
            let (path, taken, effective) = match self.start(&current) {
                Ok(started) => started,
                Err(status) => return refused_path(handler, status),
            };
            match self.gate(handler, &current, client, &effective) {
                Gate::Pass => {}
                Gate::Stop(reply) => return (Answer::Reply(reply), self.stopped(taken, &current)),
                Gate::Verify(auth) => {
                    let header = current.headers().get(header::AUTHORIZATION);
                    let verdict = auth.check(header, client).await;
                    if let Some(reply) = self.verdict(handler, auth, verdict) {
                        return (Answer::Reply(reply), taken);
                    }
                }
            }
            match self.act(handler, &current, host, &path, taken) {
                Step::Reply(reply) => return (Answer::Reply(reply), taken),
                Step::Serve => return (Answer::Files(current), taken),
                Step::ServeAs(next) => return (Answer::Files(Cow::Owned(next)), taken),
                Step::Rewrite(next) => current = Cow::Owned(next),
            }
        }
        too_many_rewrites(handler)
    }

    /// Steps 1 to 4 for a change (an upload, a new folder, a delete), then
    /// the cross-site checks of [`super::share`]: `Err` with the refusal,
    /// else the user who authenticated (if auth is on). A change takes no
    /// route action: it is made on the path it names.
    pub async fn gate_change(
        &self,
        handler: &Handler,
        req: &Request<()>,
        client: IpAddr,
        tls: bool,
    ) -> Result<Option<String>, Reply> {
        let (_, _, effective) = self
            .start(req)
            .map_err(|status| Reply::from(handler.error_response(status)))?;
        let mut user = None;
        match self.gate(handler, req, client, &effective) {
            Gate::Pass => {}
            Gate::Stop(reply) => return Err(reply),
            Gate::Verify(auth) => {
                let header = req.headers().get(header::AUTHORIZATION);
                let verdict = auth.check(header, client).await;
                if let Some(reply) = self.verdict(handler, auth, verdict) {
                    tracing::warn!(%client, path = req.uri().path(), method = %req.method(), "change refused: not authenticated");
                    return Err(reply);
                }
                user = header.and_then(basic_user);
            }
        }
        if let Some(why) = super::share::cross_site(req, tls, self.open_share()) {
            tracing::warn!(%client, path = req.uri().path(), method = %req.method(), why, "change refused");
            return Err(refusal(handler, Refusal::CrossSite).into());
        }
        Ok(user)
    }

    /// Step 6: the modifiers of the route taken decorate the reply. `tls`:
    /// whether the connection is; HSTS never goes over plain HTTP (RFC 6797
    /// §7.2), whatever the header rules say.
    pub fn finish(&self, taken: Taken<'_>, req: &Request<()>, reply: &mut Reply, tls: bool) {
        let effective = Effective::of(taken.route, &self.modifiers);
        if let Some(headers) = effective.headers {
            headers.apply(reply);
            if !tls && headers.names(&header::STRICT_TRANSPORT_SECURITY) {
                reply.remove(&header::STRICT_TRANSPORT_SECURITY);
            }
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

    /// Step 5: the route's action. A rewrite (rewrite, try_files, the
    /// single-page fallback, a folder's index file) goes through the routes
    /// again with the path it serves, so that the rules of that path apply.
    fn act<'h>(
        &self,
        handler: &Handler,
        req: &Request<()>,
        host: &(dyn Fn() -> Option<&'h str> + Sync),
        path: &RoutePath<'_>,
        taken: Taken<'_>,
    ) -> Step {
        let Some(route) = taken.route else {
            return self.index_or_serve(handler, req, taken);
        };
        // Captures only for the actions that substitute them: finding them
        // runs the route's regex again.
        let captures = match &route.action {
            Action::Redirect { .. } | Action::Rewrite(_) | Action::TryFiles(_) => {
                route.captures(path.bytes())
            }
            _ => Vec::new(),
        };
        // The host only for the templates (one header lookup).
        let values = || Values {
            path,
            query: req.uri().query(),
            host: host(),
            captures: &captures,
        };
        match &route.action {
            Action::Files => self.index_or_serve(handler, req, taken),
            Action::Respond { status, body } => Step::Reply(respond(*status, body).into()),
            Action::Redirect { to, status } => {
                Step::Reply(redirect(handler, &to.expand(&values()), *status).into())
            }
            Action::Rewrite(to) => rewritten(handler, req, &to.expand(&values())),
            Action::TryFiles(entries) => match try_files(handler, req, entries, &values()) {
                Step::Serve => self.index_or_serve(handler, req, taken),
                other => other,
            },
            Action::Spa => match spa(handler, req, path) {
                Step::Serve => self.index_or_serve(handler, req, taken),
                other => other,
            },
        }
    }

    /// A folder answered by its index file is the index file's request, when
    /// another route would take that path (so `/secret/` cannot skip the
    /// auth of `/secret/index.html`); else the request as it is.
    fn index_or_serve(&self, handler: &Handler, req: &Request<()>, taken: Taken<'_>) -> Step {
        if handler.asks_archive(req) {
            return self.archive(req, taken);
        }
        let Some(index) = handler.index_path(req.uri().path()) else {
            return Step::Serve;
        };
        let Ok(index_path) = RoutePath::of(&index) else {
            return Step::Serve;
        };
        let other = self.routes.pick(&index_path, req.method());
        let same = match (other, taken.route) {
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return Step::Serve;
        }
        rewritten(handler, req, &index)
    }

    /// A folder's archive holds what the route that let the request in
    /// serves: an entry (and a folder with all it holds) that another route
    /// would take, with its own access rules, auth or action, is left out.
    /// Index files do not answer for an archive.
    fn archive(&self, req: &Request<()>, taken: Taken<'_>) -> Step {
        if self.routes.is_empty() {
            return Step::Serve;
        }
        let routes = self.routes.clone();
        let folder = taken.route.and_then(|r| routes.position(r));
        let method = req.method().clone();
        let entries = archive::Entries::new(move |url| {
            RoutePath::of(url).is_ok_and(|path| {
                routes.pick(&path, &method).and_then(|r| routes.position(r)) == folder
            })
        });
        let mut next = Request::new(());
        *next.method_mut() = req.method().clone();
        *next.uri_mut() = req.uri().clone();
        *next.version_mut() = req.version();
        *next.headers_mut() = req.headers().clone();
        next.extensions_mut().insert(entries);
        Step::ServeAs(next)
    }
}

/// The user name of verified Basic credentials, for the log.
fn basic_user(value: &HeaderValue) -> Option<String> {
    use base64::Engine;
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(user, _)| user.to_string())
}

/// What a route's action came to.
enum Step {
    /// Serve the request as it is.
    Serve,
    /// Serve this request (the one received, with what the files need to
    /// know of the routes), without going through the routes again.
    ServeAs(Request<()>),
    /// Serve this request instead, after the routes have seen it.
    Rewrite(Request<()>),
    /// Send this.
    Reply(Reply),
}

/// Internal redirects a request may take before it is served: each goes
/// through the routes again. nginx allows 10 as well; more is a loop in the
/// configuration, answered 500.
const MAX_INTERNAL: usize = 10;

fn too_many_rewrites<'r, 's>(handler: &Handler) -> (Answer<'r>, Taken<'s>) {
    tracing::error!("more than {MAX_INTERNAL} internal rewrites: a loop in the routes?");
    let none = Taken {
        route: None,
        preflight: false,
    };
    let reply = handler.error_response(StatusCode::INTERNAL_SERVER_ERROR);
    (Answer::Reply(reply.into()), none)
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
fn rewritten(handler: &Handler, req: &Request<()>, path: &str) -> Step {
    let target = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let Ok(uri) = target.parse::<Uri>() else {
        tracing::warn!(%target, "rewritten path is not a valid request target");
        return Step::Reply(
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
    Step::Rewrite(next)
}

/// The first entry that names something served, else the `=CODE` entry,
/// else 404.
fn try_files(
    handler: &Handler,
    req: &Request<()>,
    entries: &[TryEntry],
    values: &Values<'_>,
) -> Step {
    for entry in entries {
        match entry {
            TryEntry::Path(template) => {
                let candidate = template.expand(values);
                if handler.serves(&candidate) {
                    if candidate == req.uri().path() {
                        return Step::Serve;
                    }
                    return rewritten(handler, req, &candidate);
                }
            }
            TryEntry::Status(status) => {
                return Step::Reply(handler.error_response(*status).into());
            }
        }
    }
    Step::Reply(handler.error_response(StatusCode::NOT_FOUND).into())
}

/// The file when there is one; else `/index.html`, unless the last segment
/// has an extension (a missing asset must not be answered with HTML).
fn spa(handler: &Handler, req: &Request<()>, path: &RoutePath<'_>) -> Step {
    let here = req.uri().path();
    if handler.serves(here) || (!here.ends_with('/') && handler.serves(&format!("{here}/"))) {
        return Step::Serve;
    }
    if path.last_segment().contains(&b'.') {
        return Step::Reply(handler.error_response(StatusCode::NOT_FOUND).into());
    }
    if here == "/index.html" {
        return Step::Reply(handler.error_response(StatusCode::NOT_FOUND).into());
    }
    rewritten(handler, req, "/index.html")
}
