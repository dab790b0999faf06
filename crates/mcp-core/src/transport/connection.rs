//! The JSON-RPC engine shared by client and server: one reader task, one writer task, request
//! correlation by id, many requests in flight, cancellation in both directions.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::framing::{Frame, LineReader};
use crate::error::{Error, Result};
use crate::protocol::jsonrpc::Outcome;
use crate::protocol::{
    CancelledParams, ErrorObject, JsonObject, Message, Notification, Request, RequestId, Response, methods,
};

/// How long requests still being handled may take to answer once the input has ended (counted
/// from the end of the handler's start, see [`Handler::started`]), unless the connection's
/// options say otherwise.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// How long the writer may go without writing a queued line once the connection is ending before
/// what is left is dropped (a peer that reads nothing more).
const WRITER_STALL: Duration = Duration::from_secs(10);

/// How long requests cut at the end of a drain's grace get to end and queue their answers: longer
/// than a cancelled tool is given to notice (2 s, `server/tools.rs`), so that it is answered.
const CUT_ANSWERS: Duration = Duration::from_secs(3);

/// How long, once the input has ended, requests held for the handler's start wait for it at most
/// before the drain grace begins: a server's start is expected to end well within it (the
/// gateway's ends within 45 s, ready or not).
const START_PATIENCE: Duration = Duration::from_secs(120);

/// Requests from the peer handled at once on one connection (default). Past it the reader
/// waits: a peer that sends and never reads stalls itself instead of growing our memory.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Lines queued for the writer at most.
const OUT_QUEUE: usize = 1024;

/// Bytes queued for the writer past which the reader takes no new request from the peer
/// (default 64 MiB): see [`Options::max_queued_bytes`].
pub(crate) const DEFAULT_MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// Which side of the connection this engine plays; it decides how bad input is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Answers malformed lines with -32700 / -32600, as a JSON-RPC server must.
    Server,
    /// Logs malformed lines from the server and carries on (servers print junk to stdout).
    Client,
}

/// What handles the peer's requests and notifications.
#[async_trait]
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers one request. `cancel` fires when the peer cancels it or the connection closes.
    async fn request(
        &self,
        peer: Peer,
        request: Request,
        cancel: CancellationToken,
    ) -> Result<Box<RawValue>, ErrorObject>;
    /// Takes one notification. Called in arrival order on the reader task: keep it short.
    fn notification(&self, peer: &Peer, notification: Notification);
    /// Takes a notification that came on the response stream of our request `related` (an SSE
    /// answer over HTTP): by default, like any other.
    #[cfg(feature = "http-client")]
    fn related_notification(&self, peer: &Peer, notification: Notification, related: &RequestId) {
        let _ = related;
        self.notification(peer, notification);
    }
    /// Ends once requests are no longer held for the handler's own start (at once unless it has
    /// one): held requests have not begun their work, so the drain grace of an ended input waits
    /// for this before it starts counting.
    async fn started(&self) {}
}

/// A handler's result as the JSON text it answers with.
pub(crate) fn raw<T: serde::Serialize + ?Sized>(result: &T) -> Result<Box<RawValue>, ErrorObject> {
    serde_json::value::to_raw_value(result).map_err(|e| ErrorObject::internal(e.to_string()))
}

/// Produces the reason given to pending calls when the input ends (exit status, stderr tail).
pub(crate) type CloseReason = Pin<Box<dyn Future<Output = String> + Send>>;

/// Resolves once the output's reader is gone (a client that exited or closed its end), before
/// anything is written to it: see [`Options::output_closed`].
pub(crate) type OutputClosed = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Options of one connection.
pub(crate) struct Options {
    pub name: String,
    pub role: Role,
    pub max_message_bytes: usize,
    /// Requests from the peer handled at once; the reader waits for a slot past it.
    pub max_in_flight: usize,
    /// Bytes queued for the writer (answers, notifications, our requests) past which the reader
    /// takes no new request from the peer until the writer has written enough of them: a peer
    /// that sends and never reads makes us hold at most this much, plus the answers of the
    /// requests already running (at most `max_in_flight`). Nothing queued is ever dropped, and
    /// answers to our own requests are still read.
    pub max_queued_bytes: usize,
    pub close_reason: Option<CloseReason>,
    /// How long requests in flight may take to answer once the input has ended (see
    /// [`DRAIN_GRACE`]).
    pub drain_grace: Duration,
    /// Tells, where the output can, that its reader is gone. Like a failed write, it ends a
    /// server's connection at once: nothing more is read, and the requests in flight (whose
    /// answers nobody could read) are cancelled rather than run to their end.
    pub output_closed: Option<OutputClosed>,
}

/// A cheap handle on a running connection: sends requests and notifications.
#[derive(Clone)]
pub(crate) struct Peer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    out: mpsc::Sender<Vec<u8>>,
    /// The bytes queued for our own writer; `None` for a detached peer, whose output is taken
    /// by its transport.
    outbox: Option<Arc<Outbox>>,
    /// Ends the writer (closing the output, which tells a stdio server to exit).
    shutdown: CancellationToken,
    next_id: AtomicI64,
    state: Mutex<State>,
    /// Wakes whoever waits for the connection to close.
    closed: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    pending: crate::IdMap<oneshot::Sender<Result<Value>>>,
    /// Set once the input has ended; later calls fail at once with this reason.
    closed: Option<String>,
    /// Requests from the peer being handled, for `notifications/cancelled`.
    in_flight: crate::IdMap<CancellationToken>,
    /// Requests cancelled because the drain's grace ran out (not by the peer): they are answered
    /// as they end.
    cut: std::collections::HashSet<RequestId, foldhash::fast::RandomState>,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // No code holding this lock can panic, so a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What is queued for the writer, in bytes (each line with its newline), against a budget: past
/// it the reader waits (see [`Options::max_queued_bytes`]). Lines are counted from before they
/// enter the queue until the writer has handed them to the output.
struct Outbox {
    budget: usize,
    queued: AtomicUsize,
    /// Wakes the reader once the queue falls below the budget, or the writer is gone.
    drained: tokio::sync::Notify,
    /// Set once the writer has ended: nothing drains any more, so nobody waits for it.
    writer_gone: AtomicBool,
    /// Cancelled once the writer has ended.
    ended: CancellationToken,
}

impl Outbox {
    fn new(budget: usize) -> Self {
        Self {
            budget: budget.max(1),
            queued: AtomicUsize::new(0),
            drained: tokio::sync::Notify::new(),
            writer_gone: AtomicBool::new(false),
            ended: CancellationToken::new(),
        }
    }

    fn add(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::AcqRel);
    }

    fn remove(&self, bytes: usize) {
        let before = self.queued.fetch_sub(bytes, Ordering::AcqRel);
        if before >= self.budget && before - bytes < self.budget {
            self.drained.notify_one();
        }
    }

    fn full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= self.budget && !self.writer_gone.load(Ordering::Acquire)
    }

    /// Waits until the queue is below the budget (or the writer is gone).
    async fn room(&self) {
        // `notify_one` keeps its wake-up for a waiter that comes later: none is lost between the
        // check and the wait.
        while self.full() {
            self.drained.notified().await;
        }
    }

    fn writer_ended(&self) {
        self.writer_gone.store(true, Ordering::Release);
        // Cancelled before the reader is woken, so that it sees the output gone once awake.
        self.ended.cancel();
        self.drained.notify_one();
    }
}

/// The bytes a line takes in the queue: itself and its newline.
fn queued_len(line: &[u8]) -> usize {
    line.len() + 1
}

/// A line counted in the outbox until it is in the queue; if it never gets there (the queue is
/// closed, or the sender gave up waiting for room), it is counted out again.
struct Counting<'a> {
    outbox: Option<&'a Outbox>,
    bytes: usize,
}

impl<'a> Counting<'a> {
    fn new(outbox: Option<&'a Outbox>, line: &[u8]) -> Self {
        let bytes = queued_len(line);
        if let Some(outbox) = outbox {
            outbox.add(bytes);
        }
        Self { outbox, bytes }
    }

    /// The line is in the queue: the writer counts it out once it is written.
    fn queued(mut self) {
        self.outbox = None;
    }
}

impl Drop for Counting<'_> {
    fn drop(&mut self) {
        if let Some(outbox) = self.outbox {
            outbox.remove(self.bytes);
        }
    }
}

/// Starts the engine on a reader and writer. Returns the handle and a task that ends when the
/// input has ended and every request being handled has been answered.
pub(crate) fn start<R, W>(
    reader: R,
    writer: W,
    handler: Arc<dyn Handler>,
    mut options: Options,
) -> (Peer, tokio::task::JoinHandle<()>)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let outbox = Arc::new(Outbox::new(options.max_queued_bytes));
    let peer = Peer {
        inner: Arc::new(Inner {
            name: options.name.clone(),
            out: out_tx,
            outbox: Some(outbox.clone()),
            shutdown: CancellationToken::new(),
            next_id: AtomicI64::new(1),
            state: Mutex::new(State::default()),
            closed: tokio::sync::Notify::new(),
        }),
    };
    let closed = options.output_closed.take();
    let writer_task = tokio::spawn(write_loop(writer, out_rx, peer.inner.shutdown.clone(), outbox, closed));
    let task = tokio::spawn(read_loop(peer.clone(), reader, handler, options, writer_task));
    (peer, task)
}

async fn write_loop<W: AsyncWrite + Unpin>(
    writer: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    shutdown: CancellationToken,
    outbox: Arc<Outbox>,
    closed: Option<OutputClosed>,
) {
    /// Tells the reader, however the writer ends, that nothing will drain any more.
    struct Ended(Arc<Outbox>);
    impl Drop for Ended {
        fn drop(&mut self) {
            self.0.writer_ended();
        }
    }
    let ended = Ended(outbox);
    let outbox = &*ended.0;
    let mut writer = tokio::io::BufWriter::with_capacity(64 * 1024, writer);
    let mut closed = closed.unwrap_or_else(|| Box::pin(std::future::pending()));
    loop {
        let line = tokio::select! {
            biased;
            line = rx.recv() => match line {
                Some(line) => line,
                None => break,
            },
            () = shutdown.cancelled() => break,
            () = &mut closed => {
                tracing::debug!("the output's reader is gone");
                return;
            }
        };
        // Write everything already queued before one flush: pipelined traffic costs one syscall.
        let mut batch = Some(line);
        while let Some(line) = batch.take() {
            if writer.write_all(&line).await.is_err() || writer.write_all(b"\n").await.is_err() {
                return;
            }
            // Handed to the output (at most the buffer's 64 KiB of it still ours): counted out.
            outbox.remove(queued_len(&line));
            batch = rx.try_recv().ok();
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    peer: Peer,
    reader: R,
    handler: Arc<dyn Handler>,
    options: Options,
    writer_task: tokio::task::JoinHandle<()>,
) {
    let mut lines = LineReader::new(BufReader::with_capacity(64 * 1024, reader), options.max_message_bytes);
    let mut handlers = JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_in_flight.max(1)));
    let mut paused_before = false;
    // A server whose output is gone (its client exited, or a write failed) has nobody to answer:
    // it stops reading and cancels what runs. A client goes on reading its server's answers.
    let output_gone = match (&peer.inner.outbox, options.role) {
        (Some(outbox), Role::Server) => outbox.ended.clone(),
        _ => CancellationToken::new(),
    };
    loop {
        let next = tokio::select! {
            biased;
            () = output_gone.cancelled() => break,
            next = lines.next() => next,
        };
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(peer = %options.name, error = %e, "read failed");
                break;
            }
        };
        let line = match frame {
            Frame::Line(line) => line,
            Frame::Oversized { len, head, tail } => {
                let msg = format!("message of {len} bytes exceeds the limit of {} bytes", options.max_message_bytes);
                tracing::warn!(peer = %options.name, "{msg}");
                // Answered with the request's id when its kept ends show it, so that the caller
                // learns why at once instead of waiting for its own timeout; a response never is.
                if options.role == Role::Server
                    && let Some(id) = Message::oversized_answer_id(&head, &tail)
                {
                    peer.answer(Message::Response(Response::error(id, ErrorObject::invalid_request(msg))).to_bytes())
                        .await;
                }
                continue;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match Message::parse(&line) {
            Err(rejected) => {
                tracing::warn!(peer = %options.name, error = %rejected.error, "malformed message");
                if options.role == Role::Server && !rejected.response {
                    peer.answer(Message::Response(Response::error(rejected.id, rejected.error)).to_bytes()).await;
                }
            }
            Ok(message) => {
                // No new request while the peer leaves too much of what we sent unread: its
                // answers would pile up here. Answers to our requests and notifications go on.
                if let (Message::Request(_), Some(outbox)) = (&message, &peer.inner.outbox)
                    && outbox.full()
                {
                    let queued = outbox.queued.load(Ordering::Relaxed);
                    if paused_before {
                        tracing::debug!(peer = %options.name, queued, budget = outbox.budget, "reading paused");
                    } else {
                        paused_before = true;
                        tracing::info!(
                            peer = %options.name, queued, budget = outbox.budget,
                            "the peer is not reading what we send: no new request is read until the bytes queued for it fall below the budget"
                        );
                    }
                    outbox.room().await;
                }
                // The wait for room ends when the output goes too: then nothing read is begun.
                if output_gone.is_cancelled() {
                    break;
                }
                if let Some(mut work) = peer.receive(message, &handler) {
                    // Wait for a slot: the answer of each request holds one until it is queued
                    // for writing, so a peer that never reads stops being read from.
                    let slot = tokio::select! {
                        biased;
                        () = output_gone.cancelled() => break,
                        slot = slots.clone().acquire_owned() => slot,
                    };
                    let Ok(slot) = slot else { break };
                    // Most requests are answered in their first poll (nothing to wait for): run
                    // it here, and give a task of its own only to work that has to wait.
                    if std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await.is_pending() {
                        handlers.spawn(async move {
                            work.await;
                            drop(slot);
                        });
                    }
                }
            }
        }
        // Reap finished handler tasks so the set does not grow with the connection's age.
        while handlers.try_join_next().is_some() {}
    }

    // Input ended. A client may send its last requests and close its output at once, so work in
    // progress gets a grace period to answer; after that it is cancelled. Requests held until the
    // handler has started (a script's list sent to a gateway whose servers are still starting)
    // have not begun their work: the grace counts from that start's end (or from when the work
    // has all ended, if it ends first: a request that is not held needs no start).
    // Once the output is gone there is nothing to wait for.
    let drain = async {
        if !handlers.is_empty() {
            let all_done = async { while handlers.join_next().await.is_some() {} };
            let _ = tokio::time::timeout(START_PATIENCE, async {
                tokio::select! {
                    () = handler.started() => {}
                    () = all_done => {}
                }
            })
            .await;
        }
        tokio::time::timeout(options.drain_grace, async { while handlers.join_next().await.is_some() {} }).await.is_ok()
    };
    let drained = tokio::select! {
        biased;
        () = output_gone.cancelled() => false,
        drained = drain => drained,
    };
    if output_gone.is_cancelled() && !handlers.is_empty() {
        tracing::info!(
            peer = %options.name, requests = handlers.len(),
            "the output's reader is gone: the requests in flight are cancelled, their answers could not be read"
        );
    }
    if !drained {
        // Their handlers are told, and what they answer as they end still goes out (the writer
        // drains after this), unless the output is gone or the peer had cancelled them itself.
        let answerable = !output_gone.is_cancelled();
        let cancels: Vec<_> = {
            let mut state = peer.inner.state();
            let State { in_flight, cut, .. } = &mut *state;
            for (id, cancel) in in_flight.iter() {
                if answerable && !cancel.is_cancelled() {
                    cut.insert(id.clone());
                }
            }
            in_flight.values().cloned().collect()
        };
        if answerable && !cancels.is_empty() {
            tracing::warn!(
                peer = %options.name, requests = cancels.len(), grace = ?options.drain_grace,
                "cancelling the requests still running after the grace period"
            );
        }
        for c in cancels {
            c.cancel();
        }
        // Their answers get a moment to be queued; a peer that reads nothing holds none of them.
        let ended = async { while handlers.join_next().await.is_some() {} };
        if tokio::time::timeout(CUT_ANSWERS, ended).await.is_err() {
            handlers.abort_all();
            while handlers.join_next().await.is_some() {}
        }
    }
    let reason = match options.close_reason {
        Some(reason) => reason.await,
        None => "end of input".to_owned(),
    };
    peer.close(reason);
    // The writer drains what is queued (it prefers queued lines over the shutdown signal).
    let outbox = peer.inner.outbox.clone();
    peer.shutdown();
    drop(peer);
    finish_writing(writer_task, outbox).await;
}

/// Waits for the writer to drain what is queued, for as long as it gets somewhere: a peer that
/// keeps its end open and reads nothing more would leave it stuck on a full pipe, and the
/// connection (a server's shutdown with it) would never end.
async fn finish_writing(mut writer: tokio::task::JoinHandle<()>, outbox: Option<Arc<Outbox>>) {
    let queued = |outbox: &Option<Arc<Outbox>>| outbox.as_ref().map(|o| o.queued.load(Ordering::Acquire));
    let mut left = queued(&outbox);
    loop {
        if tokio::time::timeout(WRITER_STALL, &mut writer).await.is_ok() {
            return;
        }
        let now = queued(&outbox);
        if now.is_none() || now >= left {
            tracing::info!(
                stalled = ?WRITER_STALL, bytes = now.unwrap_or_default(),
                "the output takes nothing more: what is left unwritten is dropped"
            );
            writer.abort();
            return;
        }
        left = now;
    }
}

async fn handle_request(peer: Peer, handler: Arc<dyn Handler>, request: Request, cancel: CancellationToken) {
    use futures_util::FutureExt as _;
    let id = request.id.clone();
    let method = request.method.clone();
    let traced = RequestSpan::new(&peer.inner.name, &request);
    let incoming = crate::trace_context::TraceContext::from_meta(request.params.as_ref());
    let work = traced.run(incoming, handler.request(peer.clone(), request, cancel.clone()));
    // A handler that panics answers -32603 and the connection goes on serving.
    let outcome = std::panic::AssertUnwindSafe(work).catch_unwind().await.unwrap_or_else(|panic| {
        let what = panic_message(panic.as_ref());
        tracing::error!(peer = %peer.inner.name, %method, panic = %what, "a request handler panicked");
        Err(ErrorObject::internal(format!("internal error while handling {method}: {what}")))
    });
    traced.finish(&outcome);
    let cut = {
        let mut state = peer.inner.state();
        state.in_flight.remove(&id);
        // Empty but during a drain: no id to hash.
        !state.cut.is_empty() && state.cut.remove(&id)
    };
    // A request its peer cancelled gets no response: the peer has said it will ignore one. One
    // cut at the end of a drain's grace answers as it ended (its handler was told), as over HTTP.
    if cancel.is_cancelled() && !cut {
        return;
    }
    peer.answer(Response::answer_bytes(id, outcome)).await;
}

/// The span of one handled request (`mcp.request`), over every transport. Its attribute names
/// follow the OpenTelemetry conventions for MCP (`mcp.*`, `gen_ai.*`); the `otel.*` fields name
/// and shape it when it is exported. The request's W3C context (`_meta.traceparent`) is its
/// parent (see [`crate::trace_context`]).
pub(crate) struct RequestSpan {
    span: tracing::Span,
    /// When the request started; read only for a span someone records.
    started: Option<Instant>,
}

impl RequestSpan {
    pub(crate) fn new(peer: &str, request: &Request) -> Self {
        let method = &request.method;
        let empty = tracing::field::Empty;
        let span = tracing::info_span!(
            "mcp.request",
            otel.name = %method,
            otel.kind = "server",
            otel.status_code = empty,
            mcp.method.name = %method,
            jsonrpc.request.id = %request.id,
            gen_ai.operation.name = empty,
            gen_ai.tool.name = empty,
            mcptk.peer = %peer,
            mcptk.outcome = empty,
            mcptk.duration_ms = empty,
            error.type = empty,
            rpc.response.status_code = empty,
        );
        // The tool's name is looked up only for a span someone records.
        if !span.is_disabled()
            && let Some(tool) = tool_name(request)
        {
            span.record("otel.name", format!("{method} {tool}"));
            span.record("gen_ai.operation.name", "execute_tool");
            span.record("gen_ai.tool.name", tool);
        }
        let started = (!span.is_disabled()).then(Instant::now);
        Self { span, started }
    }

    /// `work`, the handling of the request, inside the span and under the context the request
    /// came with (`incoming`, from its `_meta`).
    pub(crate) fn run<F: Future>(
        &self,
        incoming: Option<crate::trace_context::TraceContext>,
        work: F,
    ) -> impl Future<Output = F::Output> {
        crate::trace_context::handle(incoming, &self.span, work).instrument(self.span.clone())
    }

    /// Records how the request ended.
    pub(crate) fn finish<T>(&self, outcome: &Result<T, ErrorObject>) {
        let span = &self.span;
        let Some(started) = self.started else {
            return;
        };
        span.record("mcptk.duration_ms", started.elapsed().as_secs_f64() * 1000.0);
        span.record("mcptk.outcome", if outcome.is_ok() { "ok" } else { "error" });
        if let Err(error) = outcome {
            span.record("otel.status_code", "error");
            span.record("error.type", error.code.to_string());
            span.record("rpc.response.status_code", error.code.to_string());
        }
    }
}

/// The text a panic carried, if it is text.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

fn tool_name(request: &Request) -> Option<&str> {
    if request.method != methods::TOOLS_CALL {
        return None;
    }
    request.params.as_ref()?.get("name")?.as_str()
}

/// Removes a pending call when its future is dropped or times out, and tells the peer.
struct PendingGuard<'a> {
    peer: &'a Peer,
    id: RequestId,
    armed: bool,
    send_cancel: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let removed = self.peer.inner.state().pending.remove(&self.id).is_some();
        if removed && self.send_cancel {
            let params =
                CancelledParams { request_id: self.id.clone(), reason: Some("request abandoned by the client".into()) };
            self.peer.notify_lossy(methods::CANCELLED, to_object(&params));
        }
    }
}

impl Peer {
    /// The peer's name, for errors and logs.
    pub(crate) fn name(&self) -> &str {
        &self.inner.name
    }

    /// Takes one message from the other side: completes a pending call, passes a notification to
    /// the handler, or returns the work that answers a request (for the caller to spawn).
    pub(crate) fn receive(
        &self,
        message: Message,
        handler: &Arc<dyn Handler>,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        self.receive_related(message, handler, None)
    }

    /// [`Peer::receive`] for a message that came on the response stream of our request `related`
    /// (an SSE answer over HTTP), which a notification is then said to belong to.
    pub(crate) fn receive_related(
        &self,
        message: Message,
        handler: &Arc<dyn Handler>,
        related: Option<&RequestId>,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        use futures_util::FutureExt as _;
        match message {
            Message::Response(response) => {
                self.complete(response);
                None
            }
            Message::Notification(n) => {
                if n.method == methods::CANCELLED {
                    self.cancel_in_flight(n.params.as_ref());
                }
                match related {
                    #[cfg(feature = "http-client")]
                    Some(request) => handler.related_notification(self, n, request),
                    _ => handler.notification(self, n),
                }
                None
            }
            Message::Request(request) => {
                let cancel = CancellationToken::new();
                let duplicate = {
                    let mut state = self.inner.state();
                    match state.in_flight.entry(request.id.clone()) {
                        std::collections::hash_map::Entry::Occupied(_) => true,
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(cancel.clone());
                            false
                        }
                    }
                };
                if duplicate {
                    let err = ErrorObject::invalid_request(format!("request id {} is already in use", request.id));
                    let peer = self.clone();
                    let refusal = Message::Response(Response::error(Some(request.id), err));
                    return Some(async move { peer.answer(refusal.to_bytes()).await }.boxed());
                }
                Some(handle_request(self.clone(), handler.clone(), request, cancel).boxed())
            }
        }
    }

    /// True when both handles are the same connection.
    #[cfg(feature = "http-server")]
    pub(crate) fn same(&self, other: &Peer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A fresh request id.
    pub(crate) fn next_id(&self) -> RequestId {
        RequestId::Number(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends a request and waits for its result.
    ///
    /// On timeout, and when the returned future is dropped, the call is forgotten and the peer
    /// is sent `notifications/cancelled` (except for `initialize` and `server/discover`, which
    /// the protocol forbids cancelling).
    pub(crate) async fn request(
        &self,
        id: RequestId,
        method: &str,
        params: Option<JsonObject>,
        timeout: Duration,
    ) -> Result<Value> {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.inner.state();
            if let Some(reason) = &state.closed {
                return Err(Error::Closed { server: self.inner.name.clone(), reason: reason.clone() });
            }
            state.pending.insert(id.clone(), tx);
        }
        let send_cancel = method != methods::INITIALIZE && method != methods::DISCOVER;
        let mut guard = PendingGuard { peer: self, id: id.clone(), armed: true, send_cancel };
        // The trace this request belongs to goes along in its `_meta`.
        let mut params = params;
        crate::trace_context::inject(&mut params);
        let request = Message::Request(Request::new(id, method, params));
        if self.queue(request.to_bytes()).await.is_err() {
            guard.armed = false;
            self.inner.state().pending.remove(&guard.id);
            return Err(self.closed_error());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => {
                guard.armed = false;
                result.map_err(|e| match e {
                    Error::Rpc { error, .. } => {
                        Error::Rpc { server: self.inner.name.clone(), method: method.to_owned(), error }
                    }
                    Error::Http { status, error, .. } => {
                        Error::Http { server: self.inner.name.clone(), method: method.to_owned(), status, error }
                    }
                    other => other,
                })
            }
            Ok(Err(_)) => {
                guard.armed = false;
                Err(self.closed_error())
            }
            Err(_) => {
                drop(guard);
                Err(Error::Timeout { server: self.inner.name.clone(), method: method.to_owned(), after: timeout })
            }
        }
    }

    /// Gives up our request `id` and tells the peer (`notifications/cancelled`), waiting for room
    /// in the outgoing queue rather than dropping the cancellation as an abandoned request's is
    /// when the queue is full: for a request whose answer is a stream the peer would otherwise
    /// go on sending.
    pub(crate) async fn cancel(&self, id: &RequestId, reason: &str) {
        if self.inner.state().pending.remove(id).is_some() {
            let params = CancelledParams { request_id: id.clone(), reason: Some(reason.into()) };
            let _ = self.notify(methods::CANCELLED, to_object(&params)).await;
        }
    }

    /// Sends a notification, waiting for room in the outgoing queue.
    pub(crate) async fn notify(&self, method: &str, params: Option<JsonObject>) -> Result<()> {
        let bytes = Message::Notification(Notification::new(method, params)).to_bytes();
        self.queue(bytes).await.map_err(|_| self.closed_error())
    }

    /// Sends a notification without waiting; dropped if the queue is full or closed.
    pub(crate) fn notify_lossy(&self, method: &str, params: Option<JsonObject>) {
        let bytes = Message::Notification(Notification::new(method, params)).to_bytes();
        let counting = Counting::new(self.inner.outbox.as_deref(), &bytes);
        if self.inner.out.try_send(bytes).is_ok() {
            counting.queued();
        }
    }

    /// Queues an answer for writing, waiting for room: whoever answers holds its request's
    /// slot until then, which is what bounds a connection whose peer does not read.
    async fn answer(&self, line: Vec<u8>) {
        let _ = self.queue(line).await;
    }

    /// Queues a line for the writer, counted in the outbox, waiting for room in the queue; an
    /// error when the writer is gone.
    async fn queue(&self, line: Vec<u8>) -> std::result::Result<(), ()> {
        let counting = Counting::new(self.inner.outbox.as_deref(), &line);
        self.inner.out.send(line).await.map_err(|_| ())?;
        counting.queued();
        Ok(())
    }

    /// The bytes queued for the writer now (0 for a detached peer).
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.inner.outbox.as_ref().map_or(0, |o| o.queued.load(Ordering::Acquire))
    }

    /// A peer with no reader of its own: what it sends goes to `out`, and responses to its
    /// requests are delivered with [`Peer::complete`] (the HTTP transport does both). `shared`:
    /// other detached peers share its session.
    #[cfg(any(feature = "http-server", feature = "http-client"))]
    pub(crate) fn detached(name: &str, out: mpsc::Sender<Vec<u8>>, shared: bool) -> Peer {
        // Detached peers sharing one session start at random ids, keeping the ids of their
        // requests apart so answers can be routed to whichever peer asked. A peer alone (a
        // stateless HTTP request) needs no randomness, and skips the system call it costs.
        let start = if shared { i64::from_str_radix(&crate::random_id()[..12], 16).unwrap_or(1) } else { 1 };
        Peer {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                out,
                outbox: None,
                shutdown: CancellationToken::new(),
                next_id: AtomicI64::new(start),
                state: Mutex::new(State::default()),
                closed: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Delivers a response to a request this peer sent.
    pub(crate) fn complete(&self, response: Response) {
        let Some(id) = response.id else {
            if let Outcome::Error(error) = response.outcome {
                tracing::warn!(peer = %self.inner.name, %error, "peer reported an error without a request id");
            }
            return;
        };
        let Some(tx) = self.inner.state().pending.remove(&id) else {
            tracing::debug!(peer = %self.inner.name, %id, "response to an unknown or abandoned request");
            return;
        };
        let result = match response.outcome {
            Outcome::Result(value) => Ok(value),
            Outcome::Error(error) => Err(Error::Rpc { server: self.inner.name.clone(), method: String::new(), error }),
        };
        let _ = tx.send(result);
    }

    /// Fails a request this peer sent with `error` (the transport's own failure, not an answer
    /// of the peer's); its server and method are filled in for the caller.
    #[cfg(feature = "http-client")]
    pub(crate) fn fail(&self, id: &RequestId, error: Error) {
        let Some(tx) = self.inner.state().pending.remove(id) else {
            tracing::debug!(peer = %self.inner.name, %id, "failure of an unknown or abandoned request");
            return;
        };
        let _ = tx.send(Err(error));
    }

    fn cancel_in_flight(&self, params: Option<&JsonObject>) {
        let Some(params) = params else { return };
        let Ok(cancelled) = serde_json::from_value::<CancelledParams>(Value::Object(params.clone())) else {
            return;
        };
        if let Some(token) = self.inner.state().in_flight.get(&cancelled.request_id) {
            tracing::debug!(peer = %self.inner.name, id = %cancelled.request_id, reason = ?cancelled.reason, "request cancelled by peer");
            token.cancel();
        }
    }

    /// True while a request of ours with this id awaits its answer.
    #[cfg(feature = "http-client")]
    pub(crate) fn is_pending(&self, id: &RequestId) -> bool {
        self.inner.state().pending.contains_key(id)
    }

    /// Fires when our side asks the connection to shut down.
    #[cfg(feature = "http-client")]
    pub(crate) fn shutdown_requested(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Marks the connection closed and fails every pending call with `reason`.
    pub(crate) fn close(&self, reason: String) {
        let pending: Vec<_> = {
            let mut state = self.inner.state();
            state.closed = Some(reason.clone());
            state.pending.drain().map(|(_, tx)| tx).collect()
        };
        for tx in pending {
            let _ = tx.send(Err(Error::Closed { server: self.inner.name.clone(), reason: reason.clone() }));
        }
        self.inner.closed.notify_waiters();
    }

    /// Completes once the input has ended.
    pub(crate) async fn closed(&self) {
        let notified = self.inner.closed.notified();
        tokio::pin!(notified);
        // Register before checking, so a close between the check and the wait is not missed.
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    fn closed_error(&self) -> Error {
        let reason = self.inner.state().closed.clone().unwrap_or_else(|| "connection closed".to_owned());
        Error::Closed { server: self.inner.name.clone(), reason }
    }

    /// Closes our output once what is queued has been written.
    pub(crate) fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Why the connection closed, once it has.
    pub(crate) fn close_reason(&self) -> Option<String> {
        self.inner.state().closed.clone()
    }

    /// True once the input has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.state().closed.is_some()
    }
}

/// Serializes a params struct into a JSON object.
pub(crate) fn to_object<T: serde::Serialize>(value: &T) -> Option<JsonObject> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// The text of each answer, in bytes.
    const ANSWER: usize = 32 * 1024;

    /// `ANSWER` bytes of text that only the answer to `id` has.
    fn text_for(id: i64) -> String {
        format!("{id};").repeat(ANSWER).chars().take(ANSWER).collect()
    }

    /// Answers every request at once with `text_for` its id, counting the requests it was given.
    struct Large {
        handled: AtomicUsize,
    }

    #[async_trait]
    impl Handler for Large {
        async fn request(&self, _: Peer, request: Request, _: CancellationToken) -> Result<Box<RawValue>, ErrorObject> {
            self.handled.fetch_add(1, Ordering::SeqCst);
            let RequestId::Number(id) = request.id else { return Err(ErrorObject::invalid_request("a number id")) };
            raw(&serde_json::json!({ "text": text_for(id) }))
        }

        fn notification(&self, _: &Peer, _: Notification) {}
    }

    /// A peer that sends requests with large answers and does not read: what is queued for it
    /// stays within the byte budget because no new request is read past it; once it reads,
    /// every answer arrives whole and in order. The clock is paused, so the sleep below ends
    /// only once every task waits: the engine has done all it does for a peer that does not read.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_holds_at_most_the_byte_budget_and_then_gets_everything() {
        const BUDGET: usize = 1024 * 1024;
        const REQUESTS: i64 = 200;
        const OUTPUT_PIPE: usize = 16 * 1024;
        let (mut input, engine_in) = tokio::io::duplex(1024 * 1024);
        let (engine_out, output) = tokio::io::duplex(OUTPUT_PIPE);
        let handler = Arc::new(Large { handled: AtomicUsize::new(0) });
        let options = Options {
            name: "peer".into(),
            role: Role::Server,
            max_message_bytes: 1024 * 1024,
            max_in_flight: 4,
            max_queued_bytes: BUDGET,
            close_reason: None,
            drain_grace: DRAIN_GRACE,
            output_closed: None,
        };
        let (peer, engine) = start(engine_in, engine_out, handler.clone(), options);
        let requests: String =
            (1..=REQUESTS).map(|id| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"large\"}}\n")).collect();
        input.write_all(requests.as_bytes()).await.expect("the requests fit the input pipe");
        tokio::time::sleep(Duration::from_secs(3600)).await;

        let queued = peer.queued_bytes();
        assert!(queued <= BUDGET + ANSWER + 256, "{queued} bytes queued, over the budget of {BUDGET} and one answer");
        // What was handled: what fits the budget, the output's buffers, and the answer that
        // crossed the budget; the rest waits unread.
        let handled = handler.handled.load(Ordering::SeqCst);
        let most = (BUDGET + OUTPUT_PIPE + 64 * 1024) / ANSWER + 2;
        assert!(
            handled <= most,
            "{handled} of {REQUESTS} requests handled for a peer that reads nothing (at most {most})"
        );

        let mut answers = tokio::io::BufReader::new(output).lines();
        for id in 1..=REQUESTS {
            let line = answers.next_line().await.expect("reads").expect("an answer for every request");
            let answer: Value = serde_json::from_str(&line).expect("whole JSON lines");
            assert_eq!(answer["id"], id, "answers in the order of the requests");
            assert!(answer["result"]["text"] == text_for(id).as_str(), "the answer to {id} arrives intact");
        }
        drop(input);
        assert!(answers.next_line().await.expect("reads").is_none(), "nothing more once the input ends");
        engine.await.expect("the engine ends with its input");
        assert_eq!(handler.handled.load(Ordering::SeqCst), REQUESTS as usize);
    }
}
