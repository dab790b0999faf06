//! What goes back to the client: a request run through the server's [`Connection`] and answered
//! as JSON, or as an SSE stream of its notifications followed by its response (in a session, one
//! of the session's resumable streams); the session's GET stream and resumed streams; keep-alive
//! comments on every SSE stream; and refusals as JSON-RPC errors with the HTTP status they call
//! for.

use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::task::Poll;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::App;
use super::sessions::{Activity, Session};
use super::streams::Opened;
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
///
/// Without a session, the client going away cancels the request: nothing could ever collect its
/// answer, and cancelling is how a stateless client stops a call. In a session it does not (a
/// disconnection is not a cancellation; the client sends `notifications/cancelled`): the request
/// runs on, and what an SSE answer would have carried is kept for a GET that resumes the stream.
pub(super) async fn respond(
    app: &App,
    connection: Arc<Connection>,
    request: Request,
    headers: &HeaderMap,
    session: Option<Arc<Session>>,
) -> Response {
    let id = request.id.clone();
    // A session's stream is named after its request (to answer for it if need be).
    let stream_of = session.as_ref().map(|_| id.clone());
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
    if app.stopping.is_cancelled() {
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
        let session = session.clone();
        // The session is busy (not expiring) while the request runs.
        let activity = session.as_ref().map(Session::activity);
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
            drop(activity);
            answer_of(id, outcome)
        })
    };

    // Most requests are answered in their first poll (nothing to wait for): run it here, and give
    // a task of its own only to a request that has to wait.
    if let Poll::Ready(answer) = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await {
        return match out_rx.try_recv() {
            Ok(first) if wants_stream => {
                sse_answer(app, session.zip(stream_of), Some(first), out_rx, std::future::ready(answer), None)
            }
            _ => json_answer(answer),
        };
    }
    let mut task = tokio::spawn(until_stopped(work, app.stopping.clone(), cancel.clone()));
    // Without a session, the client going away (this future dropped) cancels the request.
    let guard = session.is_none().then(|| CancelOnDrop::new(cancel));

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
        disarm(guard);
        return json_answer(answer);
    }

    // A session whose client can resume gets its stream at once, primed with an event id, so a
    // connection cut before the first message can still be resumed. Otherwise nothing is
    // committed until the request says something before its answer: a call that finishes
    // without notifications is answered as plain JSON, with the HTTP status its answer calls for
    // (400 for a missing client capability, say); a call silent for the keep-alive period gets
    // its stream then, so that the connection is not idle for longer than that.
    let primed = session.as_ref().is_some_and(|s| s.primes());
    let quiet = if primed { Some(Duration::ZERO) } else { Some(app.options.sse_keep_alive).filter(|d| !d.is_zero()) };
    let first = tokio::select! {
        biased;
        note = out_rx.recv() => match note {
            Some(note) => Some(note),
            // The request's connection closed without a word: its answer is all there is.
            None => {
                let answer = task.await.unwrap_or_default();
                disarm(guard);
                return json_answer(answer);
            }
        },
        finished = &mut task => {
            disarm(guard);
            return json_answer(finished.unwrap_or_default());
        }
        () = after(quiet) => None,
    };
    let work = async move { task.await.unwrap_or_default() };
    sse_answer(app, session.zip(stream_of), first, out_rx, work, guard)
}

/// Completes after `period`, or never.
async fn after(period: Option<Duration>) {
    match period {
        Some(period) => tokio::time::sleep(period).await,
        None => std::future::pending().await,
    }
}

fn disarm(guard: Option<CancelOnDrop>) {
    if let Some(guard) = guard {
        guard.disarm();
    }
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

/// An SSE answer to a request: `first` (when the request said something already), the
/// notifications that follow, then the response when `work` ends.
///
/// In a session (given with the request's id) the stream is one of the session's (`streams`):
/// its events have ids, are kept, and the request runs on when the connection drops. Without
/// one the events have no ids (there is nowhere to resume them) and dropping the stream cancels
/// the request (`guard`).
fn sse_answer(
    app: &App,
    session: Option<(Arc<Session>, RequestId)>,
    first: Option<Vec<u8>>,
    mut notes: mpsc::Receiver<Vec<u8>>,
    work: impl Future<Output = Answer> + Send + 'static,
    guard: Option<CancelOnDrop>,
) -> Response {
    let keep_alive = app.options.sse_keep_alive;
    let Some((session, id)) = session else {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let opened_quiet = first.is_none();
        if let Some(first) = first {
            let _ = tx.try_send(sse_message(&first));
        }
        tokio::spawn(async move {
            let finished = relay(&mut notes, work, tx.closed(), |note| {
                let (tx, bytes) = (&tx, sse_message(&note));
                async move { tx.send(bytes).await.is_ok() }
            })
            .await;
            match finished {
                Some(answer) => {
                    let _ = tx.send(sse_message(&answer.bytes)).await;
                    disarm(guard);
                }
                // The client stopped reading: the request is cancelled.
                None => drop(guard),
            }
        });
        return sse_response(with_keep_alive(stream_from(rx), keep_alive, opened_quiet), None);
    };
    let primed = session.primes();
    let opened = session.streams().open_post(id, primed);
    let number = opened.stream;
    let opened_quiet = first.is_none() && !primed;
    let response = session_stream(app, &session, opened, opened_quiet);
    tokio::spawn(async move {
        if let Some(first) = first {
            session.emit(number, &first).await;
        }
        // Never gone: the request runs to its answer whoever reads the stream.
        let emitted = relay(&mut notes, work, std::future::pending(), |note| {
            let session = &session;
            async move {
                session.emit(number, &note).await;
                true
            }
        })
        .await;
        if let Some(answer) = emitted {
            session.answer(number, &answer.bytes).await;
        }
        disarm(guard);
    });
    response
}

/// A session's stream as read by one connection (a POST's own, a GET stream, or a stream
/// resumed with `Last-Event-ID`): `replay`, then `live` as it comes, with a keep-alive comment
/// first when `lead`. What the connection takes to write is noted (a GET without
/// `Last-Event-ID` may take the GET stream from a connection that stopped writing), and once
/// it has taken everything (the stream ended, or another connection took it) the session's
/// streams are told (a POST stream's answer written out: the events before it are dropped).
pub(super) fn session_stream(app: &App, session: &Arc<Session>, opened: Opened, lead: bool) -> Response {
    let Opened { replay, mut live, stream, generation, written } = opened;
    let mut ended = Some(session.clone());
    let live = futures_util::stream::poll_fn(move |cx| {
        let next = std::task::ready!(live.poll_recv(cx));
        if next.is_none()
            && let Some(session) = ended.take()
        {
            session.streams().written_out(stream, generation);
        }
        Poll::Ready(next)
    });
    let events = futures_util::StreamExt::chain(futures_util::stream::iter(replay), live);
    let events =
        futures_util::StreamExt::map(with_keep_alive(events, app.options.sse_keep_alive, lead), move |event| {
            written.touch();
            event
        });
    sse_response(events, Some(session.activity()))
}

/// One SSE `message` event without an id.
fn sse_message(data: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(data.len() + 24);
    frame.extend_from_slice(b"event: message\ndata: ");
    frame.extend_from_slice(data);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

/// The SSE comment sent on a stream silent for the keep-alive period.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// `events`, with a [`KEEP_ALIVE`] comment whenever none came for `every` (never when zero),
/// and one first when `lead` (a stream opened before its first event: its head and a first
/// byte go out now).
fn with_keep_alive(
    events: impl futures_core::Stream<Item = Bytes> + Send + Unpin + 'static,
    every: Duration,
    lead: bool,
) -> impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    use futures_util::StreamExt as _;
    let lead = futures_util::stream::iter(lead.then(|| Bytes::from_static(KEEP_ALIVE)));
    let rest = futures_util::stream::unfold(events, move |mut events| async move {
        let next = if every.is_zero() {
            events.next().await
        } else {
            match tokio::time::timeout(every, events.next()).await {
                Ok(next) => next,
                Err(_) => Some(Bytes::from_static(KEEP_ALIVE)),
            }
        };
        next.map(|event| (event, events))
    });
    lead.chain(rest).map(Ok)
}

/// An SSE response streaming `events`; `activity` keeps its session busy while it is open.
fn sse_response(
    events: impl futures_core::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    activity: Option<Activity>,
) -> Response {
    let events = futures_util::StreamExt::map(events, move |event| {
        let _open = &activity;
        event
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures_core::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
