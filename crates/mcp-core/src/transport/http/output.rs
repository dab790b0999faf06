//! What goes back to the client: a request run through the server's [`Connection`] and answered
//! as JSON, or as an SSE stream of its notifications followed by its response; the session's
//! GET stream; and refusals as JSON-RPC errors with the HTTP status they call for.

use std::sync::{Arc, PoisonError};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::sessions::Session;
use crate::protocol::jsonrpc::Outcome;
use crate::protocol::{ErrorObject, Message, Request, RequestId, Response as RpcResponse, codes, methods};
use crate::server::Connection;
use crate::transport::connection::{Handler, Peer};
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

/// Runs one request and answers it as JSON, or as an SSE stream of its notifications followed by
/// its response.
pub(super) async fn respond(
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
    sse_response(answer_stream(first, out_rx, task, guard))
}

/// A JSON answer, with the HTTP status its error calls for.
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
    if let Some(code) = error {
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

/// The SSE events of one request: `first`, the notifications that follow, then the response.
fn answer_stream(
    first: Vec<u8>,
    mut notes: mpsc::Receiver<Vec<u8>>,
    task: tokio::task::JoinHandle<Vec<u8>>,
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
        let finished = relay(&mut notes, task, tx.closed(), |note| {
            let (tx, bytes) = (&tx, next_event(&note));
            async move { tx.send(Ok(bytes)).await.is_ok() }
        })
        .await;
        match finished {
            Some(finished) => {
                let bytes = finished.unwrap_or_default();
                let _ = tx.send(Ok(next_event(&bytes))).await;
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
