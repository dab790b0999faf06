//! Streamable HTTP server for both protocol eras.
//!
//! - `2026-07-28`: one endpoint, POST only, stateless. `MCP-Protocol-Version` must agree with the
//!   request's `_meta` (HTTP 400 and -32020 otherwise), as must `Mcp-Method` and `Mcp-Name` when
//!   sent. Answers are JSON, or an SSE stream for `tools/call` when the client accepts one; closing
//!   the stream cancels the request.
//! - `2025-11-25` and older: `initialize` opens a session (`Mcp-Session-Id`; an unknown or expired
//!   one gets 404; it expires once idle, with no request running and no stream open, for
//!   [`HttpOptions::session_ttl`]), `GET` opens the session's stream for server notifications (one
//!   at a time: a second gets 409, unless the connection holding it has stopped writing, see
//!   `streams`), `DELETE` ends the session and cancels its requests. Every SSE
//!   event of a session has an id unique in it that names its stream; a GET with `Last-Event-ID`
//!   resumes that stream, the GET stream or a POST's, with what it missed. A POST's request runs
//!   on when its connection drops (a client cancels with `notifications/cancelled`), its events
//!   kept, within bounds, for the GET that resumes it (see `streams`).
//! - SSE streams silent for [`HttpOptions::sse_keep_alive`] get a `: keep-alive` comment, so that
//!   proxies with idle timeouts do not cut them.
//! - Security: a foreign `Origin` or `Host` is refused with 403 (against DNS rebinding), a bearer
//!   token is required when configured (401), bodies over [`HttpOptions::max_body_bytes`] get
//!   413, and [`serve`] refuses to listen beyond loopback without a token.
//! - Resources: a client gets [`HttpOptions::header_read_timeout`] to send a request's headers
//!   (so an idle kept-alive connection is closed after it too) and
//!   [`HttpOptions::body_read_timeout`] for its body; at most [`HttpOptions::max_connections`]
//!   connections are open at once (the next ones wait to be accepted, and a warning says so).
//!
//! This file holds the options, the router and [`serve`]; `admission` decides who gets in,
//! `sessions` keeps the handshake era's sessions and `streams` their SSE streams and the events
//! kept for resuming them, `handlers` has the POST, GET and DELETE handlers, and `output` turns
//! a request's outcome into a JSON or SSE answer.

mod admission;
mod handlers;
mod output;
mod sealed;
mod sessions;
mod streams;
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
    /// The largest request body (default 4 MiB); a larger one is refused with 413.
    pub max_body_bytes: usize,
    /// How long a handshake-era session lives idle (default 30 minutes). It is idle only while
    /// it runs no request and has no SSE stream open, counted from when the last of them ended.
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
    /// Threads serving connections, each with a single-threaded runtime of its own that keeps
    /// the connections it is given, their requests and the tasks they start (default 0: one per
    /// core). What a request waits on elsewhere (an upstream server's connection, a durable
    /// audit write) still wakes this thread from another.
    pub threads: usize,
    /// How long a client has to send a request's headers, counted from when the server waits
    /// for them: on a new connection, and on a kept-alive one once its previous answer has been
    /// sent, so an idle kept-alive connection is closed after it too (default 10 s). Past it
    /// the connection is closed. An answer being sent, however long (an SSE stream), is not cut
    /// by it. `Duration::ZERO` turns it off.
    pub header_read_timeout: Duration,
    /// How long a POST's body has to arrive in full once its headers have (default 60 s); past
    /// it the request is answered 408. `Duration::ZERO` turns it off.
    pub body_read_timeout: Duration,
    /// Connections open at once (default 1024; lowered at start to three quarters of the
    /// process's file-descriptor limit when that leaves fewer). At the limit a new connection
    /// waits in the listen backlog until one closes (slow or idle ones are closed by the
    /// timeouts above), and a warning naming the limit is logged, at most once a minute.
    pub max_connections: usize,
    /// How long an SSE stream may stay silent before a `: keep-alive` comment is sent on it, so
    /// that proxies with idle timeouts do not cut it (default 15 s). A call that would answer
    /// with a stream and is silent this long gets its stream then. `Duration::ZERO` turns it off.
    pub sse_keep_alive: Duration,
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
            threads: 0,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 1024,
            sse_keep_alive: Duration::from_secs(15),
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
            .field("threads", &self.threads)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("sse_keep_alive", &self.sse_keep_alive)
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
    /// The bytes every session keeps for resuming its streams (bounded in `streams`).
    kept: Arc<std::sync::atomic::AtomicUsize>,
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
        kept: Arc::default(),
        stopping: tokio_util::sync::CancellationToken::new(),
    });
    // Tool-list changes go to every session's stream; resource updates to the subscribed ones.
    let weak = Arc::downgrade(&app);
    tokio::spawn(server.changes().forward(move |change| {
        let app = weak.upgrade();
        async move {
            let Some(app) = app else { return false };
            let uri = match &change {
                Change::ToolsListChanged | Change::PromptsListChanged | Change::ResourcesListChanged => None,
                Change::ResourceUpdated(uri) => Some(uri.as_str()),
                // This feed carries none (see `Server::notify_log`).
                Change::Log(_) => return true,
            };
            let note = Notification::new(change.method(), change.params());
            let data = Message::Notification(note).to_bytes();
            let sessions = app.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).all();
            for session in sessions {
                if uri.is_none_or(|u| session.connection.subscribed(u)) {
                    session.push(&data);
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
/// to finish before the rest are cut. A server still [starting](crate::ServerBuilder::starting)
/// when `shutdown` completes has its start given up ([`Server::abandon_start`]): the requests it
/// holds are answered with an error at once, and a server shared with another listener serves
/// no lists or calls there either. Refuses a non-loopback address unless bearer tokens are
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let threads = match app.options.threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let max_connections = connection_limit(app.options.max_connections);
    tracing::info!(%addr, threads, max_connections, "serving MCP over HTTP");
    let draining = tokio_util::sync::CancellationToken::new();
    // The threads live until this returns: tasks that requests started run on them, and get
    // their share of the grace period below.
    let mut threads = Threads::start(routes, threads, app.options.header_read_timeout, draining.clone())?;
    let deadline;
    let served = {
        let accepting = threads.accept(listener, max_connections);
        let mut serving = std::pin::pin!(threads.finished());
        tokio::select! {
            served = &mut serving => return served,
            never = accepting => match never {},
            () = shutdown => {}
        }
        // The threads stop accepting; their connections close once their requests are answered.
        draining.cancel();
        // Requests held for a start still under way are answered now, with an error, rather than
        // waited for through the grace period.
        app.server.abandon_start();
        tracing::info!(?grace, "shutting down: finishing the requests and tasks in flight");
        deadline = tokio::time::Instant::now() + grace;
        // Session GET streams never end by themselves: end them so their connections can close.
        // (A POST's stream ends with its answer.)
        for session in app.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).all() {
            session.streams().close_get();
        }
        match tokio::time::timeout(grace, &mut serving).await {
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
        }
    };
    // Tasks outlive their requests: they get what is left of the grace period.
    tasks.finish_tasks(deadline).await;
    threads.stop().await;
    served
}

/// How long the answers of requests cancelled at shutdown get to go out.
const CANCELLED_ANSWERS: Duration = Duration::from_secs(2);

/// How often at most the accept loop warns of the same trouble (the connection limit reached,
/// accepting failing).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// How long what the server sent on a connection may stay unacknowledged before the kernel gives
/// the connection up (`TCP_USER_TIMEOUT`). A peer that vanished without closing (a laptop that
/// slept, a network that changed) otherwise holds its connection until TCP's retransmissions give
/// up, about 15 minutes, and with it its session's GET stream: the client's new GET is refused
/// (409) until then. A session stream's keep-alive comments make sure something is sent. A peer
/// that keeps its receive window closed this long (reads nothing while more is queued than its
/// buffers hold) is given up too, as Linux counts the time its window stays closed.
const UNACKED_LIMIT: Duration = Duration::from_secs(30);

/// Sets [`UNACKED_LIMIT`] on an accepted connection (Linux; elsewhere TCP's own limit holds).
fn give_up_on_vanished_peers(stream: &tokio::net::TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let millis = u32::try_from(UNACKED_LIMIT.as_millis()).unwrap_or(u32::MAX);
        if let Err(e) = rustix::net::sockopt::set_tcp_user_timeout(stream, millis) {
            tracing::debug!(error = %e, "TCP_USER_TIMEOUT could not be set");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

/// How long the accept loop pauses after accepting failed for want of resources (descriptors,
/// memory), rather than spinning on the error.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Errors of one connection that its peer gave up on before it was taken: not the listener's.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}

/// `configured`, lowered to three quarters of the process's file-descriptor limit when that
/// leaves fewer: the rest is kept for what else the server opens (files, upstream servers'
/// pipes and sockets, the audit log), so that running out of descriptors is never how the
/// connection limit is met.
fn connection_limit(configured: usize) -> usize {
    // A semaphore holds the places: it takes no more than this.
    let configured = configured.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    #[cfg(unix)]
    if let Some(descriptors) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        let room = usize::try_from(descriptors / 4 * 3).unwrap_or(usize::MAX).max(1);
        if room < configured {
            // Said once at start; the warning at the limit names the limit in force.
            tracing::info!(
                max_connections = configured,
                descriptors,
                lowered_to = room,
                "HTTP connection limit lowered to fit the file-descriptor limit (ulimit -n); raise that to serve more connections"
            );
            return room;
        }
    }
    configured
}

/// Says when a warning repeated in a loop is due again: at first, then at most once per
/// [`WARN_EVERY`], with how many times it came up since it was last logged.
#[derive(Default)]
struct Throttled {
    logged: Option<tokio::time::Instant>,
    since: u64,
}

impl Throttled {
    /// `Some(times it came up since it was last logged)` when it is due.
    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        if self.logged.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return None;
        }
        self.logged = Some(tokio::time::Instant::now());
        Some(std::mem::take(&mut self.since))
    }
}

/// The threads that serve connections, each on a single-threaded runtime of its own: a
/// connection, its requests and the tasks they spawn stay on the thread given the connection, so
/// a request costs no wake-up of another thread (with a work-stealing runtime nearly every
/// request woke a second worker). Connections are accepted on the caller's runtime and each is
/// handed to the thread holding the fewest open connections.
struct Threads {
    /// Per thread: where its connections go, and how many it holds open.
    threads: Vec<(Handoff, Arc<std::sync::atomic::AtomicUsize>)>,
    /// One message per thread as it stops serving connections: how its serving ended.
    ended: tokio::sync::mpsc::UnboundedReceiver<std::io::Result<()>>,
    running: usize,
    /// Cancelled by [`Threads::stop`] or when this is dropped: every thread drops what it still
    /// runs and ends.
    stop: tokio_util::sync::CancellationToken,
    handles: Vec<std::thread::JoinHandle<()>>,
}

/// An accepted connection on its way to a serving thread, with its place under the connection
/// limit.
type Handoff = tokio::sync::mpsc::UnboundedSender<Accepted>;

/// An accepted connection: its stream, its peer, and its place under the connection limit (let
/// go when the connection is dropped).
type Accepted = (std::net::TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit);

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// How long [`Threads::stop`] waits for the threads to drop what they still run and end.
const THREADS_END: Duration = Duration::from_secs(2);

impl Threads {
    /// Starts `count` threads serving `routes` until `draining` is cancelled; each then finishes
    /// the requests it holds (see [`Threads::finished`]).
    fn start(
        routes: Router,
        count: usize,
        header_read_timeout: Duration,
        draining: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<Self> {
        let (report, ended) = tokio::sync::mpsc::unbounded_channel();
        // Built first, so that a failure to start the next thread ends the ones started.
        let mut threads = Self {
            threads: Vec::new(),
            ended,
            running: 0,
            stop: tokio_util::sync::CancellationToken::new(),
            handles: Vec::new(),
        };
        // Each runtime has a blocking pool of its own: together they get tokio's default bound.
        let blocking = (512 / count.max(1)).max(1);
        for index in 0..count {
            let (handoff, connections) = tokio::sync::mpsc::unbounded_channel();
            let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let listener = Handed { connections, open: open.clone() };
            let (routes, draining, stop, report) =
                (routes.clone(), draining.clone(), threads.stop.clone(), report.clone());
            let handle = std::thread::Builder::new().name(format!("mcp-http-{index}")).spawn(move || {
                let report = Reporter(Some(report));
                serve_thread(listener, routes, header_read_timeout, draining, stop, report, blocking);
            })?;
            threads.handles.push(handle);
            threads.threads.push((handoff, open));
            threads.running += 1;
        }
        Ok(threads)
    }

    /// Accepts connections from `listener` (until dropped), at most `limit` open at once, each
    /// handed to the thread holding the fewest open connections. At the limit the next
    /// connection waits in the listen backlog until one closes, and a warning says so.
    fn accept(
        &self,
        listener: tokio::net::TcpListener,
        limit: usize,
    ) -> impl std::future::Future<Output = std::convert::Infallible> + use<> {
        let threads = self.threads.clone();
        let places = Arc::new(tokio::sync::Semaphore::new(limit));
        async move {
            let (mut at_limit, mut failing) = (Throttled::default(), Throttled::default());
            loop {
                let place = match places.clone().try_acquire_owned() {
                    Ok(place) => place,
                    Err(_) => {
                        if let Some(times) = at_limit.due() {
                            tracing::warn!(
                                max_connections = limit,
                                times,
                                "the HTTP connection limit is reached: new connections wait to be accepted until one closes"
                            );
                        }
                        // Never closed: this holds the semaphore.
                        let Ok(place) = places.clone().acquire_owned().await else { continue };
                        place
                    }
                };
                let (stream, peer) = loop {
                    match listener.accept().await {
                        Ok(accepted) => break accepted,
                        // The peer gave up before we took its connection: take the next one.
                        Err(e) if is_connection_error(&e) => {}
                        Err(e) => {
                            // Out of descriptors or memory: pause rather than spin, and say so.
                            if let Some(times) = failing.due() {
                                tracing::warn!(error = %e, times, "accepting an HTTP connection failed; retrying");
                            }
                            tokio::time::sleep(ACCEPT_RETRY).await;
                        }
                    }
                };
                // Small JSON-RPC messages must not wait for Nagle's algorithm.
                let _ = stream.set_nodelay(true);
                give_up_on_vanished_peers(&stream);
                let Ok(stream) = stream.into_std() else { continue };
                let Some((handoff, open)) =
                    threads.iter().min_by_key(|(_, open)| open.load(std::sync::atomic::Ordering::Relaxed))
                else {
                    continue;
                };
                open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // A thread that has ended (the server is stopping) drops the connection.
                if handoff.send((stream, peer, place)).is_err() {
                    open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }

    /// Ends the threads, dropping what they still run (the cancellations this records, e.g. in
    /// the audit, happen before this returns), and waits a moment for them to be gone.
    async fn stop(mut self) {
        self.stop.cancel();
        let handles = std::mem::take(&mut self.handles);
        let joined = tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| drop(h.join())));
        if tokio::time::timeout(THREADS_END, joined).await.is_err() {
            tracing::warn!(waited = ?THREADS_END, "threads serving HTTP are still ending");
        }
    }

    /// Resolves when every thread has stopped serving connections, with the first failure if
    /// one failed. The threads go on running the tasks that requests started until this is
    /// dropped.
    async fn finished(&mut self) -> std::io::Result<()> {
        let mut outcome = Ok(());
        while self.running > 0 {
            let Some(ended) = self.ended.recv().await else { break };
            self.running -= 1;
            if let Err(e) = ended {
                // One thread failing ends all of them: the caller sees the server stop.
                self.stop.cancel();
                outcome = outcome.and(Err(e));
            }
        }
        outcome
    }
}

/// Says how a serving thread's serving ended, once; a thread that unwinds before it could say
/// (a panic) says so as it goes, so that [`Threads::finished`] never waits for it in vain.
struct Reporter(Option<tokio::sync::mpsc::UnboundedSender<std::io::Result<()>>>);

impl Reporter {
    fn send(&mut self, served: std::io::Result<()>) {
        if let Some(report) = self.0.take() {
            let _ = report.send(served);
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.send(Err(std::io::Error::other("a thread serving HTTP connections ended unexpectedly")));
    }
}

/// The connections handed to one serving thread.
struct Handed {
    connections: tokio::sync::mpsc::UnboundedReceiver<Accepted>,
    /// The thread's open connections: each one counts until it is dropped.
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Handed {
    /// The next connection handed to this thread.
    async fn accept(&mut self) -> (Counted, SocketAddr) {
        loop {
            // No more connections come once the server stops accepting: wait for the drain.
            let Some((stream, peer, place)) = self.connections.recv().await else { std::future::pending().await };
            // Registered with this thread's runtime, so its readiness wakes this thread.
            match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => return (Counted { stream, open: self.open.clone(), _place: place }, peer),
                Err(e) => {
                    self.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(%peer, error = %e, "dropping a connection that cannot be registered");
                }
            }
        }
    }
}

/// A connection of a serving thread, counted in the thread's open connections and holding its
/// place under the connection limit while it lives.
struct Counted {
    stream: tokio::net::TcpStream,
    open: Arc<std::sync::atomic::AtomicUsize>,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Counted {
    fn stream(&mut self) -> std::pin::Pin<&mut tokio::net::TcpStream> {
        std::pin::Pin::new(&mut self.stream)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stream().poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

/// One serving thread: a single-threaded runtime serving the connections handed to it until
/// `draining` (then its connections finish), when it says how serving ended on `report`, and
/// running the tasks requests started until `stop` (then what is left is dropped).
fn serve_thread(
    listener: Handed,
    routes: Router,
    header_read_timeout: Duration,
    draining: tokio_util::sync::CancellationToken,
    stop: tokio_util::sync::CancellationToken,
    mut report: Reporter,
    blocking: usize,
) {
    let runtime =
        match tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(blocking).build() {
            Ok(runtime) => runtime,
            Err(e) => return report.send(Err(e)),
        };
    runtime.block_on(async {
        tokio::select! {
            () = serve_connections(listener, routes, header_read_timeout, draining) => {}
            () = stop.cancelled() => {}
        }
    });
    report.send(Ok(()));
    runtime.block_on(stop.cancelled());
    // Connections and tasks still running are dropped with the runtime, not waited for.
    runtime.shutdown_background();
}

/// Serves the connections handed to this thread, each as HTTP/1.1 with hyper, until `draining`;
/// then each connection finishes the request it is answering (an idle one closes at once) and
/// this returns once all are closed.
///
/// Every connection gets `header_read_timeout` to send a request's headers whenever it is
/// waiting for one: a client that opens connections and never finishes a request (slowloris),
/// or keeps one idle, has it closed. While an answer is being sent no request is read, so a
/// long answer (an SSE stream) is never cut by it.
async fn serve_connections(
    mut listener: Handed,
    routes: Router,
    header_read_timeout: Duration,
    draining: tokio_util::sync::CancellationToken,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout((!header_read_timeout.is_zero()).then_some(header_read_timeout));
    // Each connection's task holds a receiver; every one has ended once the sender is closed.
    let (open, open_watch) = tokio::sync::watch::channel(());
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = draining.cancelled() => break,
        };
        let connection = http.serve_connection(
            hyper_util::rt::TokioIo::new(io),
            hyper_util::service::TowerToHyperService::new(routes.clone()),
        );
        let (draining, open) = (draining.clone(), open_watch.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut closing = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(e) = served {
                            // A header-read timeout, a malformed request, a peer gone mid-answer.
                            tracing::debug!(%peer, error = %e, "HTTP connection ended");
                        }
                        break;
                    }
                    () = draining.cancelled(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(open);
        });
    }
    // Connections handed over but not yet taken are closed.
    drop(listener);
    drop(open_watch);
    open.closed().await;
}
