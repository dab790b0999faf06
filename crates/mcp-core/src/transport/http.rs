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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connection::{Handler, Peer};
use crate::protocol::jsonrpc::Outcome;
use crate::protocol::{
    ErrorObject, Message, ProtocolVersion, Request, RequestId, Response as RpcResponse, codes, meta_keys, methods,
};
use crate::server::{Connection, Server};

/// Settings of the HTTP transport; every field has a safe default.
#[derive(Clone)]
pub struct HttpOptions {
    /// The endpoint path (default `/mcp`).
    pub path: String,
    /// Browser origins allowed besides loopback ones (e.g. `https://app.example.com`).
    pub allowed_origins: Vec<String>,
    /// Host names accepted besides loopback ones (needed when serving beyond loopback).
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
            .finish()
    }
}

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";

/// How many server-to-client events a session keeps for resumption.
const REPLAY_EVENTS: usize = 256;

struct App {
    server: Server,
    options: HttpOptions,
    sessions: Mutex<Sessions>,
}

/// The handshake-era sessions, by id.
#[derive(Default)]
struct Sessions {
    by_id: HashMap<String, Arc<Session>>,
    /// When expired sessions were last swept out.
    swept: Option<Instant>,
}

impl Sessions {
    /// Drops sessions idle longer than `ttl` (at most once a second: lookups stay O(1)).
    fn sweep(&mut self, ttl: Duration) {
        if self.swept.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.swept = Some(Instant::now());
        self.by_id.retain(|_, s| s.idle() < ttl);
    }

    /// Adds a session, ending the one idle the longest when `max` are open already.
    fn insert(&mut self, id: String, session: Arc<Session>, ttl: Duration, max: usize) {
        self.sweep(ttl);
        while self.by_id.len() >= max.max(1) {
            let oldest = self.by_id.iter().max_by_key(|(_, s)| s.idle()).map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            tracing::info!("the session limit is reached; ending the session idle the longest");
            self.by_id.remove(&oldest);
        }
        self.by_id.insert(id, session);
    }
}

struct Session {
    /// Who opened it: only the same principal may use it.
    principal: Arc<str>,
    connection: Arc<Connection>,
    /// Peers of requests being handled, which may be waiting for the client's answers.
    peers: Mutex<Vec<Peer>>,
    /// Requests from the client being handled, for `notifications/cancelled`.
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    last_used: Mutex<Instant>,
    /// The open GET stream, if any.
    stream: Mutex<Option<mpsc::Sender<(u64, String)>>>,
    /// Recent events of the GET stream, for `Last-Event-ID`.
    history: Mutex<VecDeque<(u64, String)>>,
    next_event: AtomicU64,
}

impl Session {
    fn idle(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(PoisonError::into_inner).elapsed()
    }

    fn push(&self, data: String) {
        let id = self.next_event.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
            if history.len() == REPLAY_EVENTS {
                history.pop_front();
            }
            history.push_back((id, data.clone()));
        }
        if let Some(tx) = self.stream.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            let _ = tx.try_send((id, data));
        }
    }
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

/// Lets a request through to a route of the embedder's only once it passes [`App::admit`].
async fn admitted(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match app.admit(request.headers()) {
        Ok(_) => next.run(request).await,
        Err(refusal) => *refusal,
    }
}

fn mcp_routes(server: Server, options: HttpOptions) -> (Router, Arc<App>) {
    let path = options.path.clone();
    let limit = options.max_body_bytes;
    let app = Arc::new(App { server: server.clone(), options, sessions: Mutex::default() });
    // Tool-list changes go to every session's stream; resource updates to the subscribed ones.
    let mut changes = server.list_changes();
    let mut updates = server.resource_updates();
    let weak = Arc::downgrade(&app);
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let (note, uri) = tokio::select! {
                change = changes.recv() => match change {
                    Ok(()) | Err(RecvError::Lagged(_)) => (crate::protocol::Notification::new(methods::TOOLS_LIST_CHANGED, None), None),
                    Err(RecvError::Closed) => break,
                },
                update = updates.recv() => match update {
                    Ok(uri) => {
                        let params = serde_json::json!({ "uri": uri }).as_object().cloned();
                        (crate::protocol::Notification::new(methods::RESOURCE_UPDATED, params), Some(uri))
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            let Some(app) = weak.upgrade() else { break };
            let data = String::from_utf8_lossy(&Message::Notification(note).to_bytes()).into_owned();
            let sessions: Vec<_> =
                app.sessions.lock().unwrap_or_else(PoisonError::into_inner).by_id.values().cloned().collect();
            for session in sessions {
                if uri.as_deref().is_none_or(|u| session.connection.subscribed(u)) {
                    session.push(data.clone());
                }
            }
        }
    });
    let routes = Router::new()
        .route(&path, axum::routing::post(post).get(get).delete(delete))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app.clone());
    (routes, app)
}

/// Serves `server` on `addr` until the task is dropped. Refuses a non-loopback address unless
/// bearer tokens are configured.
pub async fn serve(
    server: Server,
    addr: SocketAddr,
    options: HttpOptions,
    extra: Option<Router>,
) -> std::io::Result<()> {
    if !addr.ip().is_loopback() && options.tokens.is_empty() {
        return Err(std::io::Error::other(format!(
            "refusing to serve on {addr} without authentication: configure a bearer token, or bind to loopback"
        )));
    }
    let routes = router(server, options, extra);
    use axum::serve::ListenerExt as _;
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
        // Small JSON-RPC messages must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    tracing::info!(%addr, "serving MCP over HTTP");
    axum::serve(listener, routes.into_make_service()).await
}

fn rpc_error(status: StatusCode, id: Option<RequestId>, error: ErrorObject) -> Response {
    let body = Message::Response(RpcResponse::error(id, error.clone())).to_bytes();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response.extensions_mut().insert(error);
    response
}

fn host_of(value: &str) -> &str {
    // `host:port`, `[v6]:port`, or a bare host.
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    value.rsplit_once(':').map_or(value, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { value })
}

fn loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

impl App {
    /// Origin and Host checks (DNS rebinding), then the bearer token. Returns the principal.
    fn admit(&self, headers: &HeaderMap) -> Result<String, Box<Response>> {
        let forbidden =
            |what: String| Box::new(rpc_error(StatusCode::FORBIDDEN, None, ErrorObject::invalid_request(what)));
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = origin.split("://").nth(1).map(host_of).unwrap_or("");
            if !loopback(host) && !self.options.allowed_origins.iter().any(|o| o == origin) {
                return Err(forbidden(format!("origin {origin} is not allowed")));
            }
        }
        if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
            let name = host_of(host);
            if !loopback(name) && !self.options.allowed_hosts.iter().any(|h| h == name || h == host) {
                return Err(forbidden(format!("host {host} is not allowed")));
            }
        }
        if self.options.tokens.is_empty() {
            return Ok("http".into());
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let principal = presented.and_then(|token| {
            self.options
                .tokens
                .iter()
                .find(|(known, _)| constant_time_eq(known.as_bytes(), token.as_bytes()))
                .map(|(_, p)| p.clone())
        });
        principal.ok_or_else(|| {
            let mut response = rpc_error(
                StatusCode::UNAUTHORIZED,
                None,
                ErrorObject::invalid_request("a valid bearer token is required"),
            );
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Box::new(response)
        })
    }

    /// The session the request names, if it exists and `principal` opened it.
    fn session(&self, headers: &HeaderMap, principal: &str) -> Result<Arc<Session>, Box<Response>> {
        let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            return Err(Box::new(rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request("missing Mcp-Session-Id header; send initialize first"),
            )));
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = self.options.session_ttl;
        sessions.sweep(ttl);
        match sessions.by_id.get(id) {
            Some(session) if session.idle() < ttl && *session.principal == *principal => {
                *session.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
                Ok(session.clone())
            }
            Some(session) if session.idle() < ttl => {
                tracing::warn!(%principal, "refused a session opened by another principal");
                Err(Box::new(rpc_error(
                    StatusCode::FORBIDDEN,
                    None,
                    ErrorObject::invalid_request("this session was opened by another principal"),
                )))
            }
            _ => Err(Box::new(rpc_error(
                StatusCode::NOT_FOUND,
                None,
                ErrorObject::invalid_request("unknown or expired session"),
            ))),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn new_session_id() -> String {
    crate::random_id()
}

async fn post(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match app.admit(&headers) {
        Ok(p) => p,
        Err(response) => return *response,
    };
    let message = match Message::parse(&body) {
        Ok(m) => m,
        Err(rejected) => return rpc_error(StatusCode::BAD_REQUEST, rejected.id, rejected.error),
    };
    match message {
        Message::Request(request) => handle_request(&app, &headers, principal, request).await,
        Message::Notification(note) => {
            if note.method == methods::CANCELLED
                && let (Ok(session), Some(params)) = (app.session(&headers, &principal), note.params)
                && let Some(id) =
                    params.get("requestId").and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok())
                && let Some(token) = session.in_flight.lock().unwrap_or_else(PoisonError::into_inner).get(&id)
            {
                token.cancel();
            }
            StatusCode::ACCEPTED.into_response()
        }
        // Answers to our requests to the client: whichever request of the session asked gets it.
        Message::Response(answer) => {
            if let Ok(session) = app.session(&headers, &principal) {
                let peers = session.peers.lock().unwrap_or_else(PoisonError::into_inner).clone();
                for peer in peers {
                    peer.complete(answer.clone());
                }
            }
            StatusCode::ACCEPTED.into_response()
        }
    }
}

async fn handle_request(app: &Arc<App>, headers: &HeaderMap, principal: String, request: Request) -> Response {
    let id = request.id.clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let meta_version = request
        .params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
        .and_then(|m| m.get(meta_keys::PROTOCOL_VERSION))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let header_version = header(VERSION_HEADER);

    let modern_header = header_version
        .as_deref()
        .and_then(ProtocolVersion::parse)
        .is_some_and(|v| v.era() == crate::protocol::Era::Modern);
    if meta_version.is_some() || modern_header {
        // The stateless era: the envelope must be complete and the headers must agree with it.
        let refuse = |code: i64, what: String| {
            rpc_error(StatusCode::BAD_REQUEST, Some(id.clone()), ErrorObject::new(code, what))
        };
        let meta = request.params.as_ref().and_then(|p| p.get("_meta")).and_then(Value::as_object);
        let missing: Vec<&str> = [meta_keys::PROTOCOL_VERSION, meta_keys::CLIENT_CAPABILITIES]
            .into_iter()
            .filter(|k| meta.is_none_or(|m| !m.contains_key(*k)))
            .collect();
        if !missing.is_empty() {
            return refuse(
                codes::INVALID_PARAMS,
                format!("invalid params: missing _meta keys: {}", missing.join(", ")),
            );
        }
        let version = meta_version.clone().unwrap_or_default();
        match &header_version {
            None => return refuse(codes::HEADER_MISMATCH, "missing MCP-Protocol-Version header".into()),
            Some(h) if *h != version => {
                return refuse(
                    codes::HEADER_MISMATCH,
                    format!("MCP-Protocol-Version header {h} does not match _meta protocol version {version}"),
                );
            }
            _ => {}
        }
        if ProtocolVersion::parse(&version).is_none() {
            let error = ErrorObject::new(
                codes::UNSUPPORTED_PROTOCOL_VERSION,
                format!("unsupported protocol version {version}"),
            )
            .with_data(serde_json::json!({ "supported": ProtocolVersion::all_strings(), "requested": version }));
            return rpc_error(StatusCode::BAD_REQUEST, Some(id), error);
        }
        match header(METHOD_HEADER) {
            None => return refuse(codes::HEADER_MISMATCH, "missing Mcp-Method header".into()),
            Some(m) if m != request.method => {
                return refuse(
                    codes::HEADER_MISMATCH,
                    format!("Mcp-Method header {m} does not match the method {}", request.method),
                );
            }
            _ => {}
        }
        let name_key = methods::name_field(&request.method);
        if let Some(key) = name_key {
            let body_name = request.params.as_ref().and_then(|p| p.get(key)).and_then(Value::as_str).unwrap_or("");
            match header(NAME_HEADER) {
                None => return refuse(codes::HEADER_MISMATCH, "missing Mcp-Name header".into()),
                Some(n) if n != body_name => {
                    return refuse(
                        codes::HEADER_MISMATCH,
                        format!("Mcp-Name header {n} does not match {key} {body_name}"),
                    );
                }
                _ => {}
            }
        }
        // Arguments the tool mirrors into `Mcp-Param-*` headers must agree with the body.
        if request.method == methods::TOOLS_CALL {
            let params = request.params.as_ref();
            let name = params.and_then(|p| p.get("name")).and_then(Value::as_str).unwrap_or("");
            if let Some(tool) = app.server.tools().get(name) {
                let arguments = params.and_then(|p| p.get("arguments")).and_then(Value::as_object);
                let lookup = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
                if let Err(what) =
                    crate::protocol::param_headers::check(&tool.definition().input_schema, arguments, lookup)
                {
                    return refuse(codes::HEADER_MISMATCH, what);
                }
            }
        }
        let connection = app.server.connection(Arc::from(principal));
        let mut response = respond(connection, request, headers, None).await;
        // A method the stateless era does not have is "not found" at the HTTP level too.
        if response.status() == StatusCode::OK && response.headers().get(METHOD_NOT_FOUND_MARK).is_some() {
            *response.status_mut() = StatusCode::NOT_FOUND;
        }
        response.headers_mut().remove(METHOD_NOT_FOUND_MARK);
        return response;
    }

    // The handshake era.
    if let Some(h) = &header_version
        && ProtocolVersion::parse(h).is_none()
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Some(id),
            ErrorObject::invalid_request(format!("unsupported MCP-Protocol-Version {h}")),
        );
    }
    let principal: Arc<str> = Arc::from(principal);
    if request.method == methods::INITIALIZE {
        let session = Arc::new(Session {
            principal: principal.clone(),
            connection: app.server.connection(principal),
            peers: Mutex::default(),
            in_flight: Mutex::default(),
            last_used: Mutex::new(Instant::now()),
            stream: Mutex::new(None),
            history: Mutex::default(),
            next_event: AtomicU64::new(0),
        });
        let mut response = respond(session.connection.clone(), request, headers, None).await;
        response.headers_mut().remove(METHOD_NOT_FOUND_MARK);
        if response.status() == StatusCode::OK {
            let session_id = new_session_id();
            if let Ok(value) = HeaderValue::from_str(&session_id) {
                response.headers_mut().insert(SESSION_HEADER, value);
            }
            let (ttl, max) = (app.options.session_ttl, app.options.max_sessions);
            app.sessions.lock().unwrap_or_else(PoisonError::into_inner).insert(session_id, session, ttl, max);
        }
        return response;
    }
    let session = match app.session(headers, &principal) {
        Ok(s) => s,
        Err(response) => {
            // Name the request the refusal is for.
            let mut response = *response;
            if let Some(error) = refusal_error(&response) {
                response = rpc_error(response.status(), Some(id), error);
            }
            return response;
        }
    };
    let mut response = respond(session.connection.clone(), request, headers, Some(session)).await;
    response.headers_mut().remove(METHOD_NOT_FOUND_MARK);
    response
}

/// Runs one request and answers it as JSON, or as an SSE stream of its notifications followed by
/// its response.
async fn respond(
    connection: Arc<Connection>,
    request: Request,
    headers: &HeaderMap,
    session: Option<Arc<Session>>,
) -> Response {
    let id = request.id.clone();
    let accepts_stream =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    let listen = request.method == methods::SUBSCRIPTIONS_LISTEN;
    if listen && !accepts_stream {
        let error =
            ErrorObject::invalid_request("subscriptions/listen answers with a stream: send Accept: text/event-stream");
        return json_answer(Message::Response(RpcResponse::error(Some(id), error)).to_bytes());
    }
    let wants_stream = (request.method == methods::TOOLS_CALL || listen) && accepts_stream;
    let cancel = CancellationToken::new();
    if let Some(session) = &session {
        session.in_flight.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), cancel.clone());
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    let peer = Peer::detached("client", out_tx);
    if let Some(session) = &session {
        session.peers.lock().unwrap_or_else(PoisonError::into_inner).push(peer.clone());
    }
    let task = {
        let cancel = cancel.clone();
        let session = session.clone();
        let id = id.clone();
        let peer_for_cleanup = peer.clone();
        tokio::spawn(async move {
            let outcome = connection.request(peer, request, cancel).await;
            if let Some(session) = session {
                session.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                session.peers.lock().unwrap_or_else(PoisonError::into_inner).retain(|p| !p.same(&peer_for_cleanup));
            }
            let response = match outcome {
                Ok(result) => RpcResponse::result(id, result),
                Err(error) => RpcResponse::error(Some(id), error),
            };
            Message::Response(response).to_bytes()
        })
    };

    if !wants_stream {
        // Notifications have nowhere to go in a JSON answer; drain them while the request runs.
        let drain = tokio::spawn(async move { while out_rx.recv().await.is_some() {} });
        let guard = CancelOnDrop::new(cancel.clone());
        let bytes = task.await.unwrap_or_default();
        guard.disarm();
        drain.abort();
        return json_answer(bytes);
    }

    // Until the request says something before its answer, nothing is committed: a call that
    // finishes without notifications is answered as plain JSON, with the HTTP status its answer
    // calls for (400 for a missing client capability, say).
    let guard = CancelOnDrop::new(cancel);
    let mut task = task;
    let first = tokio::select! {
        biased;
        note = out_rx.recv() => note,
        finished = &mut task => {
            guard.disarm();
            return json_answer(finished.unwrap_or_default());
        }
    };
    // The request's connection closed without a word: its answer is all there is.
    let Some(first) = first else {
        let bytes = task.await.unwrap_or_default();
        guard.disarm();
        return json_answer(bytes);
    };
    // An SSE stream: the request's notifications as they come, then its response. Dropping the
    // stream (the client closed it) cancels the request.
    let stream = async_stream(first, out_rx, task, guard);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// An internal marker header: the answer is -32601 (the caller maps it to 404 where the era wants).
const METHOD_NOT_FOUND_MARK: &str = "x-mcptk-method-not-found";

fn json_answer(bytes: Vec<u8>) -> Response {
    let error = match Message::parse(&bytes) {
        Ok(Message::Response(RpcResponse { outcome: Outcome::Error(e), .. })) => Some(e.code),
        _ => None,
    };
    let status = match error {
        Some(codes::INVALID_REQUEST | codes::MISSING_REQUIRED_CLIENT_CAPABILITY) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response();
    if error == Some(codes::METHOD_NOT_FOUND) {
        response.headers_mut().insert(METHOD_NOT_FOUND_MARK, HeaderValue::from_static("1"));
    }
    response
}

/// The error object of a refusal we built, so it can be re-issued with the request's id.
fn refusal_error(response: &Response) -> Option<ErrorObject> {
    response.extensions().get::<ErrorObject>().cloned()
}

/// Cancels a request when the client goes away before its answer.
struct CancelOnDrop {
    token: CancellationToken,
    armed: bool,
}

impl CancelOnDrop {
    fn new(token: CancellationToken) -> Self {
        Self { token, armed: true }
    }

    /// The answer was delivered: nothing to cancel.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.token.cancel();
        }
    }
}

fn async_stream(
    first: Vec<u8>,
    mut notes: mpsc::Receiver<Vec<u8>>,
    task: tokio::task::JoinHandle<Vec<u8>>,
    guard: CancelOnDrop,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let _ =
        tx.try_send(Ok(Bytes::from(format!("id: 1\nevent: message\ndata: {}\n\n", String::from_utf8_lossy(&first)))));
    tokio::spawn(async move {
        let mut task = task;
        let mut event = 1u64;
        let mut send = |data: &[u8]| {
            event += 1;
            Bytes::from(format!("id: {event}\nevent: message\ndata: {}\n\n", String::from_utf8_lossy(data)))
        };
        loop {
            tokio::select! {
                biased;
                Some(note) = notes.recv() => {
                    if tx.send(Ok(send(&note))).await.is_err() { drop(guard); return; }
                }
                finished = &mut task => {
                    while let Ok(note) = notes.try_recv() {
                        if tx.send(Ok(send(&note))).await.is_err() { drop(guard); return; }
                    }
                    let bytes = finished.unwrap_or_default();
                    let _ = tx.send(Ok(send(&bytes))).await;
                    guard.disarm();
                    return;
                }
                () = tx.closed() => { drop(guard); return; }
            }
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures_core::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn get(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let principal = match app.admit(&headers) {
        Ok(p) => p,
        Err(response) => return *response,
    };
    if headers.get(SESSION_HEADER).is_none() {
        // The stateless era has no standalone stream.
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let session = match app.session(&headers, &principal) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let (tx, rx) = mpsc::channel::<(u64, String)>(256);
    // Replay what the client missed, then follow live events.
    let last: Option<u64> = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    if let Some(last) = last {
        let history: Vec<_> = session
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(id, _)| *id > last)
            .cloned()
            .collect();
        for event in history {
            let _ = tx.try_send(event);
        }
    }
    *session.stream.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
    let stream = tokio_stream_from(rx)
        .map(|(id, data)| Ok::<_, std::io::Error>(Bytes::from(format!("id: {id}\nevent: message\ndata: {data}\n\n"))));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn delete(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let principal = match app.admit(&headers) {
        Ok(p) => p,
        Err(response) => return *response,
    };
    let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    };
    // Only its owner may end a session.
    if let Err(response) = app.session(&headers, &principal) {
        return *response;
    }
    match app.sessions.lock().unwrap_or_else(PoisonError::into_inner).by_id.remove(id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
