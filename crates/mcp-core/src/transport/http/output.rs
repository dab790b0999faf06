//! What goes back to the client: a request run through the server's [`Connection`] and answered
//! as JSON, or as an SSE stream of its notifications followed by its response; the session's
//! GET stream; and refusals as JSON-RPC errors with the HTTP status they call for.

use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::task::Poll;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::sessions::Session;
use crate::protocol::{ErrorObject, Message, Request, RequestId, Response as RpcResponse, codes, methods};
use crate::server::Connection;
use crate::transport::connection::{Handler, Peer, RequestSpan, panic_message};
use crate::transport::relay::relay;

/// A refusal: `error` as a JSON-RPC response with `status`. The error rides along in the
/// response's extensions, so a refusal can be re-issued with the request's id.
pub(super) fn rpc_error(status: StatusCode, id: Option<RequestId>, error: ErrorObject) -> Response {
    let body = Message::Response(RpcResponse::error(id, error.clone())).to_bytes();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response.extensions_mut().insert(error);
    response
}

/// The error object of a refusal we built, so it can be re-issued with the request's id.
pub(super) fn refusal_error(response: &Response) -> Option<ErrorObject> {
    response.extensions().get::<ErrorObject>().cloned()
}

/// The JSON-RPC error code a JSON answer carries, kept in its extensions (never sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AnsweredError(i64);

/// True when the answer is a JSON -32601 (the stateless era maps it to HTTP 404).
pub(super) fn answered_method_not_found(response: &Response) -> bool {
    response.extensions().get::<AnsweredError>() == Some(&AnsweredError(codes::METHOD_NOT_FOUND))
}

/// A request's answer: its bytes, and the JSON-RPC error code it carries (known before it was
/// serialized, so the bytes are never parsed again to pick the HTTP status).
#[derive(Default)]
struct Answer {
    bytes: Vec<u8>,
    error: Option<i64>,
}

/// Runs one request and answers it as JSON, or as an SSE stream of its notifications followed by
/// its response.
pub(super) async fn respond(
    connection: Arc<Connection>,
    request: Request,
    headers: &HeaderMap,
    session: Option<Arc<Session>>,
    stopping: &CancellationToken,
) -> Response {
    let id = request.id.clone();
    let accepts_stream =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    let listen = request.method == methods::SUBSCRIPTIONS_LISTEN;
    if listen && !accepts_stream {
        let error =
            ErrorObject::invalid_request("subscriptions/listen answers with a stream: send Accept: text/event-stream");
        return json_answer(answer_of(id, Err(error)));
    }
    let wants_stream = (request.method == methods::TOOLS_CALL || listen) && accepts_stream;
    // Cancelled by the client, or when the server stops and its grace period is over. Not a
    // child of `stopping`: a child token is linked into the tree under its lock when made and
    // unlinked when dropped, for every request; a request answered on its first poll (most are)
    // now only reads `stopping`'s state, and one still running after it watches `stopping`
    // itself (see `until_stopped`).
    let cancel = CancellationToken::new();
    if stopping.is_cancelled() {
        cancel.cancel();
    }
    if let Some(session) = &session {
        session.in_flight.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), cancel.clone());
    }
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    let peer = Peer::detached("client", out_tx, session.is_some());
    if let Some(session) = &session {
        session.peers.lock().unwrap_or_else(PoisonError::into_inner).push(peer.clone());
    }
    let mut work = {
        let cancel = cancel.clone();
        let peer_for_cleanup = peer.clone();
        let method = request.method.clone();
        let traced = RequestSpan::new(peer.name(), &request);
        let incoming = crate::trace_context::TraceContext::from_meta(request.params.as_ref());
        Box::pin(async move {
            // A handler that panics answers -32603, as over stdio.
            let work = std::panic::AssertUnwindSafe(traced.run(incoming, connection.request(peer, request, cancel)));
            let outcome = work.catch_unwind().await.unwrap_or_else(|panic| {
                let what = panic_message(panic.as_ref());
                tracing::error!(%method, panic = %what, "a request handler panicked");
                Err(ErrorObject::internal(format!("internal error while handling {method}: {what}")))
            });
            traced.finish(&outcome);
            if let Some(session) = session {
                session.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
                session.peers.lock().unwrap_or_else(PoisonError::into_inner).retain(|p| !p.same(&peer_for_cleanup));
            }
            answer_of(id, outcome)
        })
    };

    // Most requests are answered in their first poll (nothing to wait for): run it here, and give
    // a task of its own only to a request that has to wait, so that the client going away cancels
    // it (through the guard below) instead of dropping it halfway.
    if let Poll::Ready(answer) = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await {
        return match out_rx.try_recv() {
            Ok(first) if wants_stream => {
                sse_response(answer_stream(first, out_rx, std::future::ready(answer), CancelOnDrop::new(cancel)))
            }
            _ => json_answer(answer),
        };
    }
    let mut task = tokio::spawn(until_stopped(work, stopping.clone(), cancel.clone()));
    let guard = CancelOnDrop::new(cancel);

    if !wants_stream {
        // Notifications have nowhere to go in a JSON answer; drain them while the request runs.
        let mut notes_open = true;
        let answer = loop {
            tokio::select! {
                biased;
                finished = &mut task => break finished.unwrap_or_default(),
                note = out_rx.recv(), if notes_open => notes_open = note.is_some(),
            }
        };
        guard.disarm();
        return json_answer(answer);
    }

    // Until the request says something before its answer, nothing is committed: a call that
    // finishes without notifications is answered as plain JSON, with the HTTP status its answer
    // calls for (400 for a missing client capability, say).
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
        let answer = task.await.unwrap_or_default();
        guard.disarm();
        return json_answer(answer);
    };
    // An SSE stream: the request's notifications as they come, then its response. Dropping the
    // stream (the client closed it) cancels the request.
    sse_response(answer_stream(first, out_rx, async move { task.await.unwrap_or_default() }, guard))
}

/// Runs `work` to its answer, cancelling `cancel` once `stopping` is (the server's grace period
/// is over): the request is told, and answers as it ends.
async fn until_stopped<F: Future<Output = Answer> + Unpin>(
    mut work: F,
    stopping: CancellationToken,
    cancel: CancellationToken,
) -> Answer {
    tokio::select! {
        biased;
        answer = &mut work => answer,
        () = stopping.cancelled() => {
            cancel.cancel();
            work.await
        }
    }
}

/// The answer to request `id` with `outcome`.
fn answer_of(id: RequestId, outcome: Result<Box<serde_json::value::RawValue>, ErrorObject>) -> Answer {
    let error = outcome.as_ref().err().map(|e| e.code);
    Answer { bytes: RpcResponse::answer_bytes(id, outcome), error }
}

/// A JSON answer, with the HTTP status its error calls for.
fn json_answer(answer: Answer) -> Response {
    let status = match answer.error {
        Some(codes::INVALID_REQUEST | codes::MISSING_REQUIRED_CLIENT_CAPABILITY) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], answer.bytes).into_response();
    if let Some(code) = answer.error {
        response.extensions_mut().insert(AnsweredError(code));
    }
    response
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

/// The SSE events of one request: `first`, the notifications that follow, then the response
/// when `work` ends.
fn answer_stream(
    first: Vec<u8>,
    mut notes: mpsc::Receiver<Vec<u8>>,
    work: impl Future<Output = Answer> + Send + 'static,
    guard: CancelOnDrop,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let _ = tx.try_send(Ok(sse_event(1, &String::from_utf8_lossy(&first))));
    tokio::spawn(async move {
        let mut event = 1u64;
        let mut next_event = |data: &[u8]| {
            event += 1;
            sse_event(event, &String::from_utf8_lossy(data))
        };
        let finished = relay(&mut notes, work, tx.closed(), |note| {
            let (tx, bytes) = (&tx, next_event(&note));
            async move { tx.send(Ok(bytes)).await.is_ok() }
        })
        .await;
        match finished {
            Some(answer) => {
                let _ = tx.send(Ok(next_event(&answer.bytes))).await;
                guard.disarm();
            }
            // The client stopped reading: the request is cancelled.
            None => drop(guard),
        }
    });
    stream_from(rx)
}

/// The session's GET stream: `events` as they come.
pub(super) fn session_stream(events: mpsc::Receiver<(u64, String)>) -> Response {
    sse_response(futures_util::StreamExt::map(stream_from(events), |(id, data)| {
        Ok::<_, std::io::Error>(sse_event(id, &data))
    }))
}

/// One SSE `message` event.
fn sse_event(id: u64, data: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: message\ndata: {data}\n\n"))
}

fn sse_response(stream: impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures_core::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
