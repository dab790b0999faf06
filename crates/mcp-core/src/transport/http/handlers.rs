//! The endpoint's handlers: POST (a request of either era, a notification, or an answer to a
//! request of ours), GET (the session's notification stream) and DELETE (ending a session).

use std::sync::{Arc, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::output::{answered_method_not_found, refusal_error, respond, rpc_error, session_stream};
use super::sessions::{Session, new_session_id};
use super::streams::Refused;
use super::{
    App, LAST_EVENT_ID_HEADER, METHOD_HEADER, NAME_HEADER, SESSION_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER,
    VERSION_HEADER,
};
use crate::protocol::{ErrorObject, Message, ProtocolVersion, Request, RequestId, codes, meta_keys, methods};

pub(super) async fn post(State(app): State<Arc<App>>, mut request: axum::extract::Request) -> Response {
    // The headers are taken out of the request rather than copied (as a `HeaderMap` extractor
    // would); the body is then read within the endpoint's size limit (413 beyond it).
    let headers = std::mem::take(request.headers_mut());
    let principal = match app.admit(&headers) {
        Ok(p) => p,
        Err(response) => return *response,
    };
    if let Some(refusal) = not_json(&headers) {
        return *refusal;
    }
    let body = match read_body(&app, &headers, request).await {
        Ok(body) => body,
        Err(refusal) => return *refusal,
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

/// The request's body, within the endpoint's size limit (413 past it) and its time limit (408),
/// refusals being JSON-RPC errors that name the limit.
/// A POST whose declared body is not JSON is refused (415) before its body is read: a form or
/// `text/plain`, which a browser sends across origins without asking first, is never taken for
/// a message. A POST that declares no type is read as JSON.
fn not_json(headers: &HeaderMap) -> Option<Box<Response>> {
    let declared = headers.get(header::CONTENT_TYPE)?;
    // Compared without case and without a lower-cased copy (a header value that is text at all
    // is ASCII).
    let media = declared.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
    let starts = |prefix: &str| media.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix));
    let ends = |suffix: &str| {
        media
            .len()
            .checked_sub(suffix.len())
            .and_then(|at| media.get(at..))
            .is_some_and(|t| t.eq_ignore_ascii_case(suffix))
    };
    if media.eq_ignore_ascii_case("application/json") || (starts("application/") && ends("+json")) {
        return None;
    }
    let shown: String = String::from_utf8_lossy(declared.as_bytes()).chars().take(100).collect();
    let error = ErrorObject::invalid_request(format!(
        "the request's Content-Type is `{shown}`; MCP messages are sent as `application/json`"
    ));
    Some(Box::new(rpc_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, None, error)))
}

/// How much of a body past the size limit is read and dropped before the 413 is sent, so that a
/// client still sending it reads the refusal rather than a reset connection. A body declared
/// (`Content-Length`) or found to be longer than the limit and this is refused at once.
const READ_PAST_LIMIT: u64 = 16 * 1024 * 1024;

async fn read_body(app: &App, headers: &HeaderMap, request: axum::extract::Request) -> Result<Bytes, Box<Response>> {
    use futures_util::StreamExt as _;
    let limit = app.options.max_body_bytes;
    let too_large = || {
        let error = ErrorObject::invalid_request(format!("the request body exceeds the limit of {limit} bytes"));
        Box::new(rpc_error(StatusCode::PAYLOAD_TOO_LARGE, None, error))
    };
    let most = (limit as u64).saturating_add(READ_PAST_LIMIT);
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > most) {
        return Err(too_large());
    }
    let reading = async {
        let mut body = request.into_body().into_data_stream();
        // Most bodies come in one piece, kept as it came; more are joined.
        let (mut one, mut joined) = (None::<Bytes>, Vec::new());
        let mut seen = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                let error = ErrorObject::invalid_request(format!("the request body could not be read: {e}"));
                Box::new(rpc_error(StatusCode::BAD_REQUEST, None, error))
            })?;
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > most {
                return Err(too_large());
            }
            if seen > limit as u64 {
                // Past the limit: read on, keeping nothing, so that the refusal is read.
                (one, joined) = (None, Vec::new());
            } else if let Some(first) = one.take() {
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&chunk);
            } else if joined.is_empty() {
                one = Some(chunk);
            } else {
                joined.extend_from_slice(&chunk);
            }
        }
        if seen > limit as u64 { Err(too_large()) } else { Ok(one.unwrap_or_else(|| Bytes::from(joined))) }
    };
    let timeout = app.options.body_read_timeout;
    if timeout.is_zero() {
        return reading.await;
    }
    match tokio::time::timeout(timeout, reading).await {
        Ok(read) => read,
        Err(_) => {
            let error = ErrorObject::invalid_request(format!(
                "the request body did not arrive within the limit of {} s",
                timeout.as_secs_f64()
            ));
            Err(Box::new(rpc_error(StatusCode::REQUEST_TIMEOUT, None, error)))
        }
    }
}

/// A request of the stateless era (its `_meta` or its version header says so), else of the
/// handshake era.
async fn handle_request(app: &Arc<App>, headers: &HeaderMap, principal: Arc<str>, mut request: Request) -> Response {
    // Trace context sent as HTTP headers counts when the body's `_meta` carries none.
    let (parent, state) = (header(headers, TRACEPARENT_HEADER), header(headers, TRACESTATE_HEADER));
    crate::trace_context::adopt_headers(&mut request.params, parent, state);
    let meta_version = meta_keys::requested_version(request.params.as_ref()).is_some();
    let header_version = header(headers, VERSION_HEADER);
    let modern_header =
        header_version.and_then(ProtocolVersion::parse).is_some_and(|v| v.era() == crate::protocol::Era::Modern);
    if meta_version || modern_header {
        stateless_request(app, headers, principal, request).await
    } else {
        handshake_request(app, headers, principal, request, header_version).await
    }
}

/// The stateless era: the envelope must be complete and the headers must agree with it.
async fn stateless_request(app: &Arc<App>, headers: &HeaderMap, principal: Arc<str>, request: Request) -> Response {
    if let Err(refusal) = check_envelope(headers, &request) {
        return *refusal;
    }
    if request.method == methods::TOOLS_CALL {
        // The tool's `Mcp-Param-*` headers are checked against its definition as served: a
        // server still starting has not gathered its tools yet. The client going away, or the
        // server stopping, ends the wait.
        if app.server.start_state() == crate::server::StartState::Starting {
            tokio::select! {
                _ = app.server.started() => {}
                () = app.stopping.cancelled() => {}
            }
        }
        if let Err(refusal) = check_param_headers(app, headers, &request) {
            return *refusal;
        }
    }
    let connection = app.server.connection(principal);
    let mut response = respond(app, connection, request, headers, None).await;
    // A method the stateless era does not have is "not found" at the HTTP level too.
    if response.status() == StatusCode::OK && answered_method_not_found(&response) {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// Checks a stateless-era request before it runs: the `_meta` envelope is complete, its version
/// is one we speak, and the headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) agree
/// with the body. The refusal names the request.
fn check_envelope(headers: &HeaderMap, request: &Request) -> Result<(), Box<Response>> {
    let refuse = |code: i64, what: String| {
        Box::new(rpc_error(StatusCode::BAD_REQUEST, Some(request.id.clone()), ErrorObject::new(code, what)))
    };
    let meta = request.params.as_ref().and_then(|p| p.get("_meta")).and_then(Value::as_object);
    let missing: Vec<&str> = [meta_keys::PROTOCOL_VERSION, meta_keys::CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|k| meta.is_none_or(|m| !m.contains_key(*k)))
        .collect();
    if !missing.is_empty() {
        return Err(refuse(
            codes::INVALID_PARAMS,
            format!("invalid params: missing _meta keys: {}", missing.join(", ")),
        ));
    }
    let version = meta_keys::requested_version(request.params.as_ref()).and_then(Value::as_str).unwrap_or_default();
    match header(headers, VERSION_HEADER) {
        None => return Err(refuse(codes::HEADER_MISMATCH, "missing MCP-Protocol-Version header".into())),
        Some(h) if h != version => {
            return Err(refuse(
                codes::HEADER_MISMATCH,
                format!("MCP-Protocol-Version header {h} does not match _meta protocol version {version}"),
            ));
        }
        _ => {}
    }
    if ProtocolVersion::parse(version).is_none() {
        let error =
            ErrorObject::new(codes::UNSUPPORTED_PROTOCOL_VERSION, format!("unsupported protocol version {version}"))
                .with_data(serde_json::json!({ "supported": ProtocolVersion::all_strings(), "requested": version }));
        return Err(Box::new(rpc_error(StatusCode::BAD_REQUEST, Some(request.id.clone()), error)));
    }
    match header(headers, METHOD_HEADER) {
        None => return Err(refuse(codes::HEADER_MISMATCH, "missing Mcp-Method header".into())),
        Some(m) if m != request.method => {
            return Err(refuse(
                codes::HEADER_MISMATCH,
                format!("Mcp-Method header {m} does not match the method {}", request.method),
            ));
        }
        _ => {}
    }
    if let Some(key) = methods::name_field(&request.method) {
        let body_name = request.params.as_ref().and_then(|p| p.get(key)).and_then(Value::as_str).unwrap_or("");
        match header(headers, NAME_HEADER) {
            None => return Err(refuse(codes::HEADER_MISMATCH, "missing Mcp-Name header".into())),
            Some(n) if n != body_name => {
                return Err(refuse(
                    codes::HEADER_MISMATCH,
                    format!("Mcp-Name header {n} does not match {key} {body_name}"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a stateless-era `tools/call`'s `Mcp-Param-*` headers: the arguments the tool mirrors
/// into them must agree with the body.
fn check_param_headers(app: &App, headers: &HeaderMap, request: &Request) -> Result<(), Box<Response>> {
    let params = request.params.as_ref();
    let name = params.and_then(|p| p.get("name")).and_then(Value::as_str).unwrap_or("");
    let tools = app.server.tools();
    let Some(tool) = tools.get(name) else { return Ok(()) };
    let arguments = params.and_then(|p| p.get("arguments")).and_then(Value::as_object);
    let lookup = |h: &str| header(headers, h).map(str::to_owned);
    crate::protocol::param_headers::check(&tool.definition().input_schema, arguments, lookup).map_err(|what| {
        Box::new(rpc_error(
            StatusCode::BAD_REQUEST,
            Some(request.id.clone()),
            ErrorObject::new(codes::HEADER_MISMATCH, what),
        ))
    })
}

/// The handshake era: `initialize` opens a session, every other request names its session.
async fn handshake_request(
    app: &Arc<App>,
    headers: &HeaderMap,
    principal: Arc<str>,
    request: Request,
    header_version: Option<&str>,
) -> Response {
    let id = request.id.clone();
    if let Some(h) = header_version
        && ProtocolVersion::parse(h).is_none()
    {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Some(id),
            ErrorObject::invalid_request(format!("unsupported MCP-Protocol-Version {h}")),
        );
    }
    if request.method == methods::INITIALIZE {
        let connection = app.server.connection(principal.clone());
        let session = Arc::new(Session::new(principal, connection, app.kept.clone()));
        let mut response = respond(app, session.connection.clone(), request, headers, None).await;
        if response.status() == StatusCode::OK {
            let session_id = app.seal(&session).unwrap_or_else(new_session_id);
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
    respond(app, session.connection.clone(), request, headers, Some(session)).await
}

pub(super) async fn get(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
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
    // The session's GET stream afresh, or the stream `Last-Event-ID` names (the GET stream or a
    // POST's), replayed after that event and then followed live.
    let last = headers.get(LAST_EVENT_ID_HEADER).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    // A connection that writes writes at least a keep-alive comment per period: one silent
    // for two has stopped writing, and a GET without `Last-Event-ID` may take its stream.
    let keep_alive = app.options.sse_keep_alive;
    let stale_after = (!keep_alive.is_zero()).then(|| keep_alive * 2);
    let opened = session.streams().open_get(last, session.primes(), stale_after);
    match opened {
        Ok(opened) => session_stream(&app, &session, opened, false),
        Err(Refused::Conflict) => rpc_error(
            StatusCode::CONFLICT,
            None,
            ErrorObject::invalid_request(
                "this session's GET stream is open on another connection; resume it with Last-Event-ID, \
                 or close that one first",
            ),
        ),
        Err(Refused::Unknown(why)) => rpc_error(StatusCode::BAD_REQUEST, None, ErrorObject::invalid_request(why)),
    }
}

pub(super) async fn delete(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
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
    let (lifetime, max) = (app.options.session_lifetime, app.options.max_sessions);
    match app.sessions.lock().unwrap_or_else(PoisonError::into_inner).end(id, lifetime, max) {
        true => StatusCode::NO_CONTENT.into_response(),
        false => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A header's value as text, when it has one.
fn header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
