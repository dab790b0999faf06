//! Streamable HTTP server for both protocol eras.
//!
//! - `2026-07-28`: one endpoint, POST only, stateless. `MCP-Protocol-Version` must agree with the
//!   request's `_meta` (HTTP 400 and -32020 otherwise), as must `Mcp-Method` and `Mcp-Name` when
//!   sent. Answers are JSON, or an SSE stream for `tools/call` when the client accepts one; closing
//!   the stream cancels the request.
//! - `2025-11-25` and older: `initialize` opens a session (`Mcp-Session-Id`; an unknown or expired
//!   one gets 404), `GET` opens the session's stream for server notifications (resumable with
//!   `Last-Event-ID`), `DELETE` ends the session.
//! - Security: a foreign `Origin` or `Host` is refused with 403 (against DNS rebinding), a bearer
//!   token is required when configured (401), bodies over the limit get 413, and
//!   [`serve`] refuses to listen beyond loopback without a token.
//!
//! This file holds the options, the router and [`serve`]; `admission` decides who gets in,
//! `sessions` keeps the handshake era's sessions, `handlers` has the POST, GET and DELETE
//! handlers, and `output` turns a request's outcome into a JSON or SSE answer.

mod admission;
mod handlers;
mod output;
mod sealed;
mod sessions;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderName;
use axum::response::Response;

use crate::protocol::{Message, Notification};
use crate::server::{Change, Server};
pub use sealed::{KeyError, SessionKeys};
use sessions::Sessions;

/// Settings of the HTTP transport; every field has a safe default.
#[derive(Clone)]
pub struct HttpOptions {
    /// The endpoint path (default `/mcp`).
    pub path: String,
    /// Browser origins allowed besides loopback ones (e.g. `https://app.example.com`).
    pub allowed_origins: Vec<String>,
    /// Host names accepted besides loopback ones and addresses (needed when serving beyond
    /// loopback by name); `*` accepts any name, for a service behind a load balancer whose
    /// clients use names you do not list (keep bearer tokens on then).
    pub allowed_hosts: Vec<String>,
    /// Bearer tokens and the principal each one stands for. Empty: no authentication (loopback only).
    pub tokens: BTreeMap<String, String>,
    /// The largest request body (default 4 MiB).
    pub max_body_bytes: usize,
    /// How long an idle handshake-era session lives (default 30 minutes).
    pub session_ttl: Duration,
    /// The most handshake-era sessions kept at once (default 10,000); opening one more ends the
    /// one idle the longest.
    pub max_sessions: usize,
    /// Keys that seal handshake-era session ids, so that any replica holding them serves any
    /// session (see [`SessionKeys`]). `None`: a session lives on the process that opened it.
    pub session_keys: Option<Arc<SessionKeys>>,
    /// How long a sealed session id is accepted after `initialize` (default 24 hours); the
    /// client then opens a new session, as after any 404.
    pub session_lifetime: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            path: "/mcp".into(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            tokens: BTreeMap::new(),
            max_body_bytes: 4 * 1024 * 1024,
            session_ttl: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            session_keys: None,
            session_lifetime: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("path", &self.path)
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("principals", &self.tokens.values().collect::<Vec<_>>())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("session_ttl", &self.session_ttl)
            .field("max_sessions", &self.max_sessions)
            .field("session_keys", &self.session_keys)
            .field("session_lifetime", &self.session_lifetime)
            .finish()
    }
}

// Header names as `HeaderName`s: looking one up by `&str` would parse the name on every request.
const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");
const LAST_EVENT_ID_HEADER: HeaderName = HeaderName::from_static("last-event-id");
const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE_HEADER: HeaderName = HeaderName::from_static("tracestate");

/// What every handler shares: the server, the options and the sessions.
struct App {
    server: Server,
    options: HttpOptions,
    /// `options.tokens` with each principal shared, so admitting a caller allocates nothing.
    principals: Vec<(String, Arc<str>)>,
    /// The principal of every caller when no tokens are configured.
    anonymous: Arc<str>,
    sessions: Mutex<Sessions>,
    /// Cancelled when a stopping server's grace period is over: every request still running is
    /// cancelled with it (the parent of each request's own token).
    stopping: tokio_util::sync::CancellationToken,
}

/// The HTTP routes for `server`. Routes of your own (e.g. `/metrics`) go in `extra`: they are
/// served behind the same Host, Origin and bearer-token checks as the MCP endpoint.
pub fn router(server: Server, options: HttpOptions, extra: Option<Router>) -> Router {
    let (routes, app) = mcp_routes(server, options);
    match extra {
        Some(extra) => routes.merge(extra.layer(axum::middleware::from_fn_with_state(app, admitted))),
        None => routes,
    }
}

/// The principal a request to a route in [`Extra::admitted`] was let in as (named by its bearer
/// token; `http` when no tokens are configured), as a request extension for the route to read.
#[derive(Debug, Clone)]
pub struct Admitted(pub Arc<str>);

/// Lets a request through to a route of the embedder's only once it passes [`App::admit`].
async fn admitted(
    State(app): State<Arc<App>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match app.admit(request.headers()) {
        Ok(principal) => {
            request.extensions_mut().insert(Admitted(principal));
            next.run(request).await
        }
        Err(refusal) => *refusal,
    }
}

fn mcp_routes(server: Server, options: HttpOptions) -> (Router, Arc<App>) {
    let path = options.path.clone();
    let limit = options.max_body_bytes;
    let principals =
        options.tokens.iter().map(|(token, principal)| (token.clone(), Arc::from(principal.as_str()))).collect();
    let app = Arc::new(App {
        server: server.clone(),
        options,
        principals,
        anonymous: Arc::from("http"),
        sessions: Mutex::default(),
        stopping: tokio_util::sync::CancellationToken::new(),
    });
    // Tool-list changes go to every session's stream; resource updates to the subscribed ones.
    let weak = Arc::downgrade(&app);
    tokio::spawn(server.changes().forward(move |change| {
        let app = weak.upgrade();
        async move {
            let Some(app) = app else { return false };
            let uri = match &change {
                Change::ToolsListChanged => None,
                Change::ResourceUpdated(uri) => Some(uri.as_str()),
            };
            let note = Notification::new(change.method(), change.params());
            let data = String::from_utf8_lossy(&Message::Notification(note).to_bytes()).into_owned();
            let sessions = app.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).all();
            for session in sessions {
                if uri.is_none_or(|u| session.connection.subscribed(u)) {
                    session.push(data.clone());
                }
            }
            true
        }
    }));
    let routes = Router::new()
        .route(&path, axum::routing::post(handlers::post).get(handlers::get).delete(handlers::delete))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app.clone());
    (routes, app)
}

/// Routes of the embedder's, served beside the MCP endpoint.
#[derive(Debug, Default)]
pub struct Extra {
    /// Behind the same Host, Origin and bearer-token checks as the MCP endpoint (e.g. `/metrics`).
    pub admitted: Option<Router>,
    /// Open to whoever reaches the port, for probes that carry no token (a kubelet's `/healthz`
    /// and `/readyz`): they must answer without revealing anything of worth.
    pub open: Option<Router>,
}

/// Serves `server` on `addr` until the task is dropped. Refuses a non-loopback address unless
/// bearer tokens are configured.
pub async fn serve(
    server: Server,
    addr: SocketAddr,
    options: HttpOptions,
    extra: Option<Router>,
) -> std::io::Result<()> {
    let extra = Extra { admitted: extra, open: None };
    serve_until(server, addr, options, extra, std::future::pending(), Duration::ZERO).await
}

/// Serves `server` on `addr` until `shutdown` completes, then drains: no new connection is
/// accepted, idle ones are closed, session streams end, and requests in flight get up to `grace`
/// to finish before the rest are cut. Refuses a non-loopback address unless bearer tokens are
/// configured.
pub async fn serve_until(
    server: Server,
    addr: SocketAddr,
    options: HttpOptions,
    extra: Extra,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    if !addr.ip().is_loopback() && options.tokens.is_empty() {
        return Err(std::io::Error::other(format!(
            "refusing to serve on {addr} without authentication: configure a bearer token, or bind to loopback"
        )));
    }
    if options.allowed_hosts.iter().any(|h| h == "*") && options.tokens.is_empty() {
        // Any host name without a token is what DNS rebinding needs to reach a local server.
        return Err(std::io::Error::other(
            "refusing to accept any host name (`*`) without authentication: configure a bearer token",
        ));
    }
    let tasks = server.clone();
    let (mut routes, app) = mcp_routes(server, options);
    if let Some(behind) = extra.admitted {
        routes = routes.merge(behind.layer(axum::middleware::from_fn_with_state(app.clone(), admitted)));
    }
    if let Some(open) = extra.open {
        routes = routes.merge(open);
    }
    use axum::serve::ListenerExt as _;
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
        // Small JSON-RPC messages must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    tracing::info!(%addr, "serving MCP over HTTP");
    let draining = tokio_util::sync::CancellationToken::new();
    let signal = draining.clone();
    let serving = axum::serve(listener, routes.into_make_service()).with_graceful_shutdown(async move {
        shutdown.await;
        signal.cancel();
    });
    let mut serving = std::pin::pin!(serving.into_future());
    tokio::select! {
        served = &mut serving => return served,
        () = draining.cancelled() => {}
    }
    tracing::info!(?grace, "shutting down: finishing the requests and tasks in flight");
    let deadline = tokio::time::Instant::now() + grace;
    // Session streams never end by themselves: end them so their connections can close.
    for session in app.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).all() {
        session.stream.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    }
    let served = match tokio::time::timeout(grace, &mut serving).await {
        Ok(served) => served,
        Err(_) => {
            // Cancel what still runs (tools are told, the audit records them as cancelled) and
            // give the answers a moment to go out, so that nothing runs on once this returns.
            tracing::warn!(?grace, "cancelling the requests still running after the grace period");
            app.stopping.cancel();
            match tokio::time::timeout(CANCELLED_ANSWERS, serving).await {
                Ok(served) => served,
                Err(_) => Ok(()),
            }
        }
    };
    // Tasks outlive their requests: they get what is left of the grace period.
    tasks.finish_tasks(deadline).await;
    served
}

/// How long the answers of requests cancelled at shutdown get to go out.
const CANCELLED_ANSWERS: Duration = Duration::from_secs(2);
