//! The client side of Streamable HTTP, for both eras, as a transport under the same engine the
//! stdio client uses: every message the client sends becomes a POST; answers come back as JSON or
//! as an SSE stream whose notifications and requests are handled like those read from a pipe.
//!
//! Whatever this module says about a server (errors, logs) goes through the server's one
//! [`Scrubber`]: URLs without user info or query values, every expanded secret as `***`. Bodies
//! are read as they arrive and never beyond `max_message_bytes`; SSE goes through [`sse::Parser`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::mpsc;

use super::connection::{Handler, Peer};
use super::oauth::{self, OAuthConfig};
use super::sse;
use crate::config::{HttpServer, Scrubber};
use crate::protocol::{ErrorObject, Message, Request, RequestId, Response, meta_keys, methods, param_headers};

const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";

/// rustls needs a process-wide crypto provider; ours is ring (no aws-lc, no OpenSSL). Programs
/// that build their own `reqwest` clients in the same process call this first.
pub fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// What both HTTP transports and OAuth share: the client, the scrubber for everything said about
/// the server, and the size limit of what is read from it.
pub(crate) struct Http {
    pub client: reqwest::Client,
    pub scrub: Scrubber,
    /// `max_message_bytes`: the most bytes of one body or one SSE event.
    pub limit: usize,
}

impl Http {
    /// A client that connects within 30 s and follows redirects only within an origin (the
    /// configured headers must not go anywhere else), without a `Referer`.
    pub(crate) fn new(scrub: Scrubber, limit: usize) -> Result<Self, String> {
        install_crypto_provider();
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let to = attempt.url().origin().ascii_serialization();
            let crossed = attempt
                .previous()
                .first()
                .filter(|from| !same_origin(from, attempt.url()))
                .map(|from| from.origin().ascii_serialization());
            if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else if let Some(from) = crossed {
                attempt.error(format!("a redirect from {from} to another origin, {to}, was refused"))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .redirect(redirects)
            // A redirect's Referer would repeat the URL, query and all.
            .referer(false)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", describe(&scrub, e)))?;
        Ok(Self { client, scrub, limit })
    }

    /// A URL as it may be shown.
    pub(crate) fn url(&self, url: &str) -> String {
        self.scrub.url(url)
    }

    /// A URL's origin (scheme, host, port) as it may be shown.
    fn origin(&self, url: &Url) -> String {
        self.scrub.text(&url.origin().ascii_serialization())
    }

    /// A failed exchange as it may be shown: without its URL, with its causes, secrets masked.
    pub(crate) fn error(&self, error: reqwest::Error) -> String {
        describe(&self.scrub, error)
    }

    /// A body, read as it arrives and refused as soon as it passes the limit; `what` names it.
    pub(crate) async fn body(&self, mut response: reqwest::Response, what: &str) -> Result<Vec<u8>, String> {
        let too_large = || format!("{what} is larger than the limit of {} bytes (max_message_bytes)", self.limit);
        if response.content_length().is_some_and(|n| n > u64::try_from(self.limit).unwrap_or(u64::MAX)) {
            return Err(self.scrub.text(&too_large()));
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| self.scrub.text(&format!("reading {what}: {}", self.error(e))))?
        {
            if body.len() + chunk.len() > self.limit {
                return Err(self.scrub.text(&too_large()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reqwest error without its URL (which may carry secrets), followed by its causes, scrubbed.
fn describe(scrub: &Scrubber, error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    scrub.text(&text)
}

/// Whether `url` names an old HTTP+SSE endpoint: its path ends in `/sse` (a query may follow).
pub(crate) fn names_legacy_sse(url: &str) -> bool {
    let path = Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_else(|_| url.to_owned());
    path.trim_end_matches('/').ends_with("/sse")
}

/// Same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// The configured headers, marked sensitive; an invalid one is named, never its value.
fn header_map(name: &str, headers: &BTreeMap<String, String>) -> crate::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            (Ok(n), Ok(mut val)) => {
                val.set_sensitive(true);
                map.insert(n, val);
            }
            _ => {
                return Err(crate::Error::Protocol {
                    server: name.to_owned(),
                    method: "connect".into(),
                    message: format!("header `{k}` is not a valid HTTP header"),
                });
            }
        }
    }
    Ok(map)
}

/// Where an SSE stream ended: the last event id, the server's `retry` advice, and whether an
/// event over the limit was skipped.
#[derive(Debug, Default, Clone)]
struct StreamEnd {
    last_id: Option<String>,
    retry: Option<Duration>,
    skipped: bool,
}

/// Reads an SSE body event by event until it ends or `on_event` returns false.
async fn read_sse(
    http: &Http,
    server: &str,
    mut response: reqwest::Response,
    mut on_event: impl FnMut(sse::Event) -> bool,
) -> StreamEnd {
    let mut parser = sse::Parser::new(http.limit);
    let mut skipped = false;
    'read: while let Ok(Some(chunk)) = response.chunk().await {
        for item in parser.feed(&chunk) {
            match item {
                sse::Item::Event(event) => {
                    if !on_event(event) {
                        break 'read;
                    }
                }
                sse::Item::TooLarge => {
                    skipped = true;
                    tracing::warn!(server, limit = http.limit, "skipped an SSE event larger than max_message_bytes");
                }
            }
        }
    }
    StreamEnd { last_id: parser.last_event_id().map(str::to_owned), retry: parser.retry(), skipped }
}

struct State {
    http: Http,
    url: Url,
    headers: HeaderMap,
    /// The handshake era's session and negotiated revision.
    session: Mutex<Option<String>>,
    version: Mutex<Option<String>>,
    /// POSTs in flight by request id, so a cancellation can abort them.
    posts: Mutex<HashMap<RequestId, tokio::task::AbortHandle>>,
    /// Per tool, the arguments it mirrors into `Mcp-Param-*` headers (from `tools/list`).
    param_headers: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// OAuth, when the server asks for it and the client is set up for it.
    oauth: Option<Arc<OAuthConfig>>,
    /// One authorization at a time; the others wait for its token.
    auth: tokio::sync::Mutex<oauth::Session>,
    /// The current access token, for the headers of every request.
    token: Mutex<Option<String>>,
    /// The key the token is bound to (DPoP), when it is.
    dpop: Mutex<Option<Arc<oauth::DpopKey>>>,
    /// True while the session's GET stream is being opened: requests wait for it, so what the
    /// server sends on it is never sent before the stream exists.
    stream_opening: std::sync::atomic::AtomicBool,
    stream_opened: tokio::sync::Notify,
    peer: Peer,
    handler: Arc<dyn Handler>,
}

/// Starts the transport; the returned peer is the client's connection. Nothing read from the
/// server may exceed `max_message_bytes`.
pub(crate) fn start(
    name: &str,
    server: &HttpServer,
    oauth: Option<Arc<OAuthConfig>>,
    max_message_bytes: usize,
    handler: Arc<dyn Handler>,
) -> crate::Result<Peer> {
    let protocol =
        |message: String| crate::Error::Protocol { server: name.to_owned(), method: "connect".into(), message };
    let scrub = server.scrubber().with(oauth.as_ref().map(|o| o.secrets()).unwrap_or_default());
    let http = Http::new(scrub, max_message_bytes).map_err(protocol)?;
    let url =
        Url::parse(&server.url).map_err(|e| protocol(format!("{} is not a valid URL: {e}", http.url(&server.url))))?;
    let headers = header_map(name, &server.headers)?;
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
    let peer = Peer::detached(name, out_tx, true);
    let state = Arc::new(State {
        http,
        url,
        headers,
        session: Mutex::new(None),
        version: Mutex::new(None),
        posts: Mutex::default(),
        param_headers: Mutex::default(),
        oauth,
        auth: tokio::sync::Mutex::default(),
        token: Mutex::default(),
        dpop: Mutex::default(),
        stream_opening: std::sync::atomic::AtomicBool::new(false),
        stream_opened: tokio::sync::Notify::new(),
        peer: peer.clone(),
        handler,
    });
    let shutdown = peer.shutdown_requested();
    tokio::spawn(async move {
        loop {
            let bytes = tokio::select! {
                bytes = out_rx.recv() => match bytes { Some(b) => b, None => break },
                () = shutdown.cancelled() => break,
            };
            let Ok(message) = Message::parse(&bytes) else { continue };
            match message {
                Message::Request(request) => {
                    let id = request.id.clone();
                    let task = tokio::spawn(post_request(state.clone(), request, bytes));
                    state.posts.lock().unwrap_or_else(PoisonError::into_inner).insert(id, task.abort_handle());
                }
                Message::Notification(n) => {
                    let session = state.session.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    if n.method == methods::CANCELLED && session.is_none() {
                        // The stateless era has no notifications from the client: closing the
                        // request's stream is the cancellation.
                        let id = n
                            .params
                            .as_ref()
                            .and_then(|p| p.get("requestId"))
                            .and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok());
                        if let Some(task) =
                            id.and_then(|id| state.posts.lock().unwrap_or_else(PoisonError::into_inner).remove(&id))
                        {
                            task.abort();
                        }
                        continue;
                    }
                    // In order: `notifications/initialized` must reach the server before the
                    // requests that follow it.
                    post_other(&state, bytes).await;
                }
                Message::Response(_) => post_other(&state, bytes).await,
            }
        }
        // Closing: end the session politely, then fail whatever is still waiting.
        let session = state.session.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(session) = session {
            let _ = state
                .http
                .client
                .delete(state.url.clone())
                .headers(state.headers.clone())
                .header(SESSION, session)
                .send()
                .await;
        }
        state.peer.close("the client closed the connection".into());
    });
    Ok(peer)
}

fn base_headers(state: &State) -> HeaderMap {
    headers_for(state, "POST")
}

/// Headers for a GET on the endpoint (the session's stream, a resumption).
fn get_headers(state: &State) -> HeaderMap {
    let mut headers = headers_for(state, "GET");
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers
}

/// The configured headers, the session's, and the credentials for a request with `method`.
fn headers_for(state: &State, method: &str) -> HeaderMap {
    let mut headers = state.headers.clone();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    if let Some(session) = state.session.lock().unwrap_or_else(PoisonError::into_inner).as_deref()
        && let Ok(v) = HeaderValue::from_str(session)
    {
        headers.insert(SESSION, v);
    }
    if let Some(version) = state.version.lock().unwrap_or_else(PoisonError::into_inner).as_deref()
        && let Ok(v) = HeaderValue::from_str(version)
    {
        headers.insert(VERSION, v);
    }
    apply_auth(state, &mut headers, method);
    headers
}

/// The access token (and, for a DPoP-bound one, a fresh proof for a request with `method`).
fn apply_auth(state: &State, headers: &mut HeaderMap, method: &str) {
    let Some(token) = state.token.lock().unwrap_or_else(PoisonError::into_inner).clone() else { return };
    let dpop = state.dpop.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let scheme = if dpop.is_some() { "DPoP" } else { "Bearer" };
    if let Ok(mut v) = HeaderValue::from_str(&format!("{scheme} {token}")) {
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    if let Some(key) = dpop {
        let nonce = key.nonce.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match key.proof(method, state.url.as_str(), Some(&token), nonce.as_deref()) {
            Ok(proof) => {
                if let Ok(v) = HeaderValue::from_str(&proof) {
                    headers.insert("dpop", v);
                }
            }
            Err(why) => tracing::warn!(server = %state.peer.name(), %why, "no DPoP proof"),
        }
    }
}

/// POSTs `body`; when the server answers 401 (or 403 for a wider scope) and OAuth is set up,
/// authorizes and sends it again, a bounded number of times. With the response comes why the
/// authorization failed, when it did.
async fn post_authorized(
    state: &State,
    mut headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(reqwest::Response, Option<String>), reqwest::Error> {
    let mut attempts = 0;
    loop {
        let sent_token = state.token.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let response =
            state.http.client.post(state.url.clone()).headers(headers.clone()).body(body.clone()).send().await?;
        let status = response.status().as_u16();
        let Some(config) = state.oauth.as_ref().filter(|_| status == 401 || status == 403) else {
            return Ok((response, None));
        };
        let challenge = oauth::parse_challenge(
            response.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or(""),
        );
        // A DPoP resource server asking for a nonce: the same token, a proof with the nonce.
        let offered = response.headers().get("DPoP-Nonce").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let key = state.dpop.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let (Some(key), Some(nonce), Some("use_dpop_nonce")) = (key, offered, challenge.error.as_deref())
            && attempts < oauth::MAX_ATTEMPTS
        {
            attempts += 1;
            *key.nonce.lock().unwrap_or_else(PoisonError::into_inner) = Some(nonce);
            apply_auth(state, &mut headers, "POST");
            continue;
        }
        if (status == 403 && challenge.error.as_deref() != Some("insufficient_scope"))
            || attempts >= oauth::MAX_ATTEMPTS
        {
            return Ok((response, None));
        }
        attempts += 1;
        let mut session = state.auth.lock().await;
        // Another request may have authorized while this one waited.
        let current = state.token.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if current.is_none() || current == sent_token {
            if let Err(why) = oauth::authorize(&state.http, config, state.url.as_str(), &challenge, &mut session).await
            {
                let why = state.http.scrub.text(&why);
                tracing::warn!(server = %state.peer.name(), %why, "authorization failed");
                return Ok((response, Some(why)));
            }
            *state.dpop.lock().unwrap_or_else(PoisonError::into_inner) = session.dpop.clone();
            *state.token.lock().unwrap_or_else(PoisonError::into_inner) = session.access_token.clone();
        }
        drop(session);
        apply_auth(state, &mut headers, "POST");
    }
}

/// Notifications and answers to server requests: fire and forget (the server answers 202).
async fn post_other(state: &State, body: Vec<u8>) {
    if let Err(e) = state.http.client.post(state.url.clone()).headers(base_headers(state)).body(body).send().await {
        tracing::debug!(server = %state.peer.name(), error = %state.http.error(e), "posting a notification failed");
    }
}

async fn post_request(state: Arc<State>, request: Request, body: Vec<u8>) {
    let id = request.id.clone();
    // Right after the handshake, let the session's stream open first (a second at most).
    let opened = state.stream_opened.notified();
    if request.method != methods::INITIALIZE && state.stream_opening.load(std::sync::atomic::Ordering::Acquire) {
        let _ = tokio::time::timeout(Duration::from_secs(1), opened).await;
    }
    let mut headers = base_headers(&state);
    // The trace context in `_meta` goes in the W3C headers too, for HTTP-level tracing.
    if let Some(context) = crate::trace_context::TraceContext::from_meta(request.params.as_ref()) {
        if let Ok(v) = HeaderValue::from_str(context.traceparent()) {
            headers.insert(crate::trace_context::TRACEPARENT, v);
        }
        if let Some(Ok(v)) = context.tracestate().map(HeaderValue::from_str) {
            headers.insert(crate::trace_context::TRACESTATE, v);
        }
    }
    // The stateless envelope's headers mirror the body.
    let meta_version = meta_keys::requested_version(request.params.as_ref()).and_then(Value::as_str).map(str::to_owned);
    if let Some(version) = &meta_version {
        if let Ok(v) = HeaderValue::from_str(version) {
            headers.insert(VERSION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&request.method) {
            headers.insert("mcp-method", v);
        }
        let key = methods::name_field(&request.method);
        if let Some(name) = key.and_then(|k| request.params.as_ref()?.get(k)?.as_str().map(str::to_owned)) {
            if let Ok(v) = HeaderValue::from_str(&name) {
                headers.insert("mcp-name", v);
            }
            // Arguments the tool marks with `x-mcp-header` go in `Mcp-Param-*` headers too.
            if request.method == methods::TOOLS_CALL {
                let marked = state.param_headers.lock().unwrap_or_else(PoisonError::into_inner).get(&name).cloned();
                let arguments = request.params.as_ref().and_then(|p| p.get("arguments")).and_then(Value::as_object);
                for (property, header) in marked.unwrap_or_default() {
                    let Some(value) = arguments.and_then(|a| a.get(&property)).and_then(param_headers::encode) else {
                        continue;
                    };
                    let name = format!("{}{}", param_headers::PREFIX, header.to_ascii_lowercase());
                    if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                        headers.insert(k, v);
                    }
                }
            }
        }
    }
    let carried_session = headers.contains_key(SESSION);
    let outcome = async {
        let (response, auth_failure) = post_authorized(&state, headers, body).await.map_err(|e| {
            format!("HTTP request to {} failed: {}", state.http.url(state.url.as_str()), state.http.error(e))
        })?;
        if request.method == methods::INITIALIZE
            && let Some(session) = response.headers().get(SESSION).and_then(|v| v.to_str().ok())
        {
            *state.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(session.to_owned());
        }
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND && carried_session {
            // The server no longer knows the session this request carried (it restarted, or
            // ended the session): a new session is the answer. The connection closes, failing
            // this request and every other with the reason, so that whoever runs it (the
            // gateway's supervisor) connects anew rather than every later call failing the same.
            state.peer.close(format!(
                "{} answered 404 to {}: it no longer knows this connection's session (restarted, or ended it); connect again",
                state.http.url(state.url.as_str()),
                request.method
            ));
            return Ok(());
        }
        let sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if sse {
            let ended = read_events(&state, response, Some(&request), Some(&request.id)).await;
            if ended.skipped && state.peer.is_pending(&id) {
                return Err(format!(
                    "the stream answering {} ended without an answer after an event larger than the limit of {} \
                     bytes (max_message_bytes) was skipped",
                    request.method, state.http.limit
                ));
            }
            // The server may end the stream before the answer and expect us to resume it on the
            // session's GET stream with Last-Event-ID, after its `retry` delay.
            let answered = !state.peer.is_pending(&id);
            let has_session = state.session.lock().unwrap_or_else(PoisonError::into_inner).is_some();
            if !answered && has_session {
                resume(&state, &id, ended).await;
            } else if !answered {
                // Without a session nothing resumes a stream (`2026-07-28` has no resuming at
                // all): the answer is not coming, and whoever waits for it is told so now.
                return Err(format!("the stream answering {} ended without an answer", request.method));
            }
            return Ok(());
        }
        let bytes = state.http.body(response, &format!("the answer to {}", request.method)).await?;
        match Message::parse(&bytes) {
            Ok(Message::Response(mut answer)) => {
                // Some servers answer a refused request with `"id": null`; it still answers this POST.
                if answer.id.is_none() {
                    answer.id = Some(id.clone());
                }
                deliver(&state, &request, answer)
            }
            _ if bytes.is_empty() && status.is_success() => {}
            _ => {
                // Not JSON-RPC: turn the HTTP failure into an error the client can act on. The
                // body may echo the request (its URL, its headers): scrubbed before it is cut.
                let body = state.http.scrub.text(&String::from_utf8_lossy(&bytes));
                let snippet: String = body.chars().take(200).collect();
                let why = auth_failure.map(|why| format!(" (authorization failed: {why})")).unwrap_or_default();
                let error = ErrorObject::new(
                    if status.as_u16() == 404 {
                        crate::protocol::codes::METHOD_NOT_FOUND
                    } else {
                        crate::protocol::codes::INVALID_REQUEST
                    },
                    format!("HTTP {status} from the server{why}: {snippet}"),
                );
                let server = state.peer.name().to_owned();
                let refused =
                    crate::Error::Http { server, method: request.method.clone(), status: status.as_u16(), error };
                state.peer.fail(&id, refused);
            }
        }
        Ok(())
    }
    .await;
    if let Err(why) = outcome {
        let error = transport_error(state.http.scrub.text(&why));
        state.peer.complete(Response::error(Some(id.clone()), error));
    }
    state.posts.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
}

/// A JSON-RPC code for failures of the HTTP exchange itself (server unreachable, connection reset).
pub(crate) const TRANSPORT_ERROR: i64 = -32000;

/// The error a failed HTTP exchange completes its request with: marked, so that it is told
/// from a server's own `-32000` ([`crate::Error::is_transport_failure`]).
pub(crate) fn transport_error(message: String) -> ErrorObject {
    ErrorObject::new(TRANSPORT_ERROR, message).with_data(serde_json::json!({ "transport": "failed" }))
}

fn deliver(state: &Arc<State>, request: &Request, answer: Response) {
    // Remember which arguments each tool mirrors into headers, for its calls.
    if request.method == methods::TOOLS_LIST
        && let crate::protocol::jsonrpc::Outcome::Result(result) = &answer.outcome
    {
        let mut known = state.param_headers.lock().unwrap_or_else(PoisonError::into_inner);
        for tool in result.get("tools").and_then(Value::as_array).into_iter().flatten() {
            let (Some(name), Some(schema)) =
                (tool.get("name").and_then(Value::as_str), tool.get("inputSchema").and_then(Value::as_object))
            else {
                continue;
            };
            known.insert(name.to_owned(), param_headers::marked(schema));
        }
    }
    if request.method == methods::INITIALIZE
        && let crate::protocol::jsonrpc::Outcome::Result(result) = &answer.outcome
        && let Some(version) = result.get("protocolVersion").and_then(Value::as_str)
    {
        *state.version.lock().unwrap_or_else(PoisonError::into_inner) = Some(version.to_owned());
        open_session_stream(state.clone());
    }
    state.peer.complete(answer);
}

/// Resumes a request whose stream ended early, on the GET stream, until it is answered.
async fn resume(state: &Arc<State>, id: &RequestId, mut end: StreamEnd) {
    for _ in 0..5 {
        tokio::time::sleep(end.retry.unwrap_or(Duration::from_secs(1))).await;
        let mut headers = get_headers(state);
        if let Some(last) = end.last_id.as_deref().and_then(|i| HeaderValue::from_str(i).ok()) {
            headers.insert("last-event-id", last);
        }
        let Ok(response) = state.http.client.get(state.url.clone()).headers(headers).send().await else { continue };
        if !response.status().is_success() {
            return;
        }
        let next = read_events(state, response, None, Some(id)).await;
        if !state.peer.is_pending(id) {
            return;
        }
        end = StreamEnd { last_id: next.last_id.or(end.last_id), retry: next.retry.or(end.retry), skipped: false };
    }
}

/// Reads an SSE body: every event is a JSON-RPC message, handled like one read from a pipe. The
/// answer to `request` (when given) goes through [`deliver`], which notes what a handshake settles.
/// The stream is `related`'s (our request's answer, or its resumption): its notifications belong
/// to that request.
async fn read_events(
    state: &Arc<State>,
    response: reqwest::Response,
    request: Option<&Request>,
    related: Option<&RequestId>,
) -> StreamEnd {
    read_sse(&state.http, state.peer.name(), response, |event| {
        if event.data.is_empty() {
            return true;
        }
        match Message::parse(event.data.as_bytes()) {
            Ok(Message::Response(answer)) if request.is_some_and(|r| answer.id.as_ref() == Some(&r.id)) => {
                if let Some(request) = request {
                    deliver(state, request, answer);
                }
            }
            // What came on our request's own stream belongs to it.
            Ok(message) => {
                if let Some(work) = state.peer.receive_related(message, &state.handler, related) {
                    tokio::spawn(work);
                }
            }
            Err(_) => {}
        }
        true
    })
    .await
}

/// The handshake era's GET stream of server notifications, reconnected with `Last-Event-ID`.
fn open_session_stream(state: Arc<State>) {
    state.stream_opening.store(true, std::sync::atomic::Ordering::Release);
    tokio::spawn(async move {
        let mut last_id: Option<String> = None;
        let mut delay = Duration::from_millis(200);
        loop {
            if state.peer.is_closed() {
                return;
            }
            let mut headers = get_headers(&state);
            if let Some(id) = last_id.as_deref().and_then(|i| HeaderValue::from_str(i).ok()) {
                headers.insert("last-event-id", id);
            }
            let answer = state.http.client.get(state.url.clone()).headers(headers).send().await;
            if state.stream_opening.swap(false, std::sync::atomic::Ordering::AcqRel) {
                state.stream_opened.notify_waiters();
            }
            match answer {
                Ok(response) if response.status().is_success() => {
                    let end = read_events(&state, response, None, None).await;
                    delay = end.retry.unwrap_or(Duration::from_millis(200));
                    if end.last_id.is_some() {
                        last_id = end.last_id;
                    }
                }
                // 405: the server offers no stream; anything else ends the attempts too.
                Ok(_) => return,
                Err(_) => {}
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    });
}

/// The old HTTP+SSE transport (`2024-11-05`): a GET opens the event stream, whose first `endpoint`
/// event names where to POST messages; every answer comes back on the stream. The endpoint must
/// be on the stream's origin: the configured headers go nowhere else.
pub(crate) async fn start_legacy_sse(
    name: &str,
    server: &HttpServer,
    max_message_bytes: usize,
    handler: Arc<dyn Handler>,
) -> crate::Result<Peer> {
    let protocol =
        |message: String| crate::Error::Protocol { server: name.to_owned(), method: "connect".into(), message };
    let http = Arc::new(Http::new(server.scrubber(), max_message_bytes).map_err(protocol)?);
    let shown = http.url(&server.url);
    let headers = header_map(name, &server.headers)?;
    let url = Url::parse(&server.url).map_err(|e| protocol(format!("{shown} is not a valid URL: {e}")))?;
    let response = http
        .client
        .get(url)
        .headers(headers.clone())
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| protocol(format!("GET {shown} failed: {}", http.error(e))))?;
    if !response.status().is_success() {
        return Err(protocol(format!("GET {shown} answered HTTP {}", response.status())));
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(1024);
    let peer = Peer::detached(name, out_tx, true);
    let (endpoint_tx, endpoint_rx) = tokio::sync::oneshot::channel::<Result<Url, String>>();

    // The event stream: the endpoint first, then messages, until it ends.
    let reader = {
        let (peer, http) = (peer.clone(), http.clone());
        // Redirects stay within the configured origin, so this is the stream's origin too.
        let base = response.url().clone();
        tokio::spawn(async move {
            let mut endpoint_tx = Some(endpoint_tx);
            let server = peer.name().to_owned();
            read_sse(&http, &server, response, |event| {
                if event.kind == "endpoint" {
                    let Some(tx) = endpoint_tx.take() else { return true };
                    let endpoint = match base.join(event.data.trim()) {
                        Ok(endpoint) if same_origin(&endpoint, &base) => Ok(endpoint),
                        Ok(endpoint) => Err(format!(
                            "the endpoint event names another origin, {}, than the event stream's, {}: nothing \
                             is sent there",
                            http.origin(&endpoint),
                            http.origin(&base)
                        )),
                        Err(e) => Err(format!("the endpoint event is not a URL: {e}")),
                    };
                    let go_on = endpoint.is_ok();
                    let _ = tx.send(endpoint);
                    return go_on;
                }
                if let Ok(message) = Message::parse(event.data.as_bytes())
                    && let Some(work) = peer.receive(message, &handler)
                {
                    tokio::spawn(work);
                }
                true
            })
            .await;
            peer.close("the server ended its event stream".into());
        })
    };
    let endpoint = match tokio::time::timeout(Duration::from_secs(30), endpoint_rx).await {
        Ok(Ok(Ok(endpoint))) => endpoint,
        failed => {
            reader.abort();
            return Err(protocol(match failed {
                Ok(Ok(Err(why))) => why,
                Ok(_) => format!("{shown} ended its stream before naming an endpoint"),
                Err(_) => format!("{shown} sent no endpoint event within 30s"),
            }));
        }
    };

    // Every outgoing message is a POST to the endpoint; the answers arrive on the stream.
    let shutdown = peer.shutdown_requested();
    let closer = peer.clone();
    tokio::spawn(async move {
        loop {
            let bytes = tokio::select! {
                bytes = out_rx.recv() => match bytes { Some(b) => b, None => break },
                () = shutdown.cancelled() => break,
            };
            let request = http
                .client
                .post(endpoint.clone())
                .headers(headers.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            let failed = match request.send().await {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("HTTP {}", r.status())),
                Err(e) => Some(http.error(e)),
            };
            if let (Some(reason), Ok(Message::Request(sent))) = (failed, Message::parse(&bytes)) {
                let error = transport_error(format!("POST to {} failed: {reason}", http.url(endpoint.as_str())));
                closer.complete(Response::error(Some(sent.id), error));
            }
        }
        closer.close("the client closed the connection".into());
    });
    Ok(peer)
}
