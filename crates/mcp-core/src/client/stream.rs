//! Tool calls as a stream: the call's `notifications/progress` (routed to it by progress token)
//! and log messages (`notifications/message`, see [`CallEvent::Log`]), then its result; dropping
//! the stream cancels the call.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::mpsc;

use super::calls::send;
use super::{CallEvent, Client};
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::relay::relay;

/// Where each streamed call's progress and log messages go, by its request id (which is also
/// its progress token).
pub(super) type CallRoutes = Arc<Mutex<HashMap<RequestId, mpsc::Sender<CallEvent>>>>;

/// Progress and log notifications of one call held while its caller is busy; more are dropped
/// (a later progress supersedes them), so a server that floods them cannot grow our memory.
const NOTE_BACKLOG: usize = 64;

/// The progress token of a streamed call: its request's id.
fn token_of(id: &RequestId) -> ProgressToken {
    match id {
        RequestId::Number(n) => ProgressToken::Number(*n),
        RequestId::String(s) => ProgressToken::String(s.clone()),
    }
}

/// The request whose progress token is `token` (see [`token_of`]).
pub(super) fn request_of(token: &ProgressToken) -> RequestId {
    match token {
        ProgressToken::Number(n) => RequestId::Number(*n),
        ProgressToken::String(s) => RequestId::String(s.clone()),
    }
}

/// Removes a call's route when the call ends, however it ends (a dropped stream too).
struct RouteGuard {
    routes: CallRoutes,
    id: RequestId,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

impl Client {
    /// How many calls are waiting for progress now (calls in flight with a stream).
    pub fn progress_routes(&self) -> usize {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Calls a tool and streams its progress notifications, then its result.
    ///
    /// Dropping the stream before the result cancels the call (`notifications/cancelled`).
    pub fn call_tool_stream(&self, name: &str, arguments: JsonObject) -> ToolCallStream {
        self.call_tool_stream_within(name, arguments, self.options.request_timeout, None)
    }

    /// [`Client::call_tool_stream`] with its own time limit in place of
    /// [`ClientOptions::request_timeout`](super::ClientOptions::request_timeout): for a caller
    /// that keeps its own (`Duration::MAX`: none here) and cancels the call by dropping the stream.
    ///
    /// `logs` asks a `2026-07-28` server for the call's log messages at that level and above; a
    /// handshake-era server sends what it sends (`logging/setLevel` is per connection). Either
    /// way they arrive as [`CallEvent::Log`].
    pub fn call_tool_stream_within(
        &self,
        name: &str,
        arguments: JsonObject,
        timeout: Duration,
        logs: Option<LoggingLevel>,
    ) -> ToolCallStream {
        let id = self.peer.next_id();
        let token = token_of(&id);
        let (notes_tx, mut notes_rx) = mpsc::channel(NOTE_BACKLOG);
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), notes_tx);
        let route = RouteGuard { routes: self.routes.clone(), id: id.clone() };
        let mut meta = JsonObject::new();
        meta.insert(meta_keys::PROGRESS_TOKEN.into(), serde_json::to_value(&token).unwrap_or_default());
        if let Some(level) = logs
            && self.era() == Era::Modern
        {
            meta.insert(meta_keys::LOG_LEVEL.into(), serde_json::to_value(level).unwrap_or_default());
        }
        let params = CallToolParams {
            meta: Some(meta),
            name: name.to_owned(),
            arguments: Some(arguments),
            ..Default::default()
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let call = send::<CallToolResult>(
            self.peer.clone(),
            id,
            methods::TOOLS_CALL.to_owned(),
            self.prepare(&params),
            timeout,
        );
        // The call runs inside the stream (no spawned task), so dropping the stream drops the call,
        // which cancels it on the wire.
        let fut = async move {
            let route = route;
            // What the server said just before the result is still delivered first.
            let outcome = relay(&mut notes_rx, call, std::future::pending(), |note| {
                let _ = events_tx.send(Ok(note));
                std::future::ready(true)
            })
            .await;
            drop(route);
            if let Some(outcome) = outcome {
                let _ = events_tx.send(outcome.map(CallEvent::Result));
            }
        };
        ToolCallStream { driver: Some(Box::pin(fut)), events: events_rx }
    }
}

/// The stream returned by [`Client::call_tool_stream`].
pub struct ToolCallStream {
    driver: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>>,
    events: mpsc::UnboundedReceiver<Result<CallEvent>>,
}

impl std::fmt::Debug for ToolCallStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCallStream").field("finished", &self.driver.is_none()).finish()
    }
}

impl ToolCallStream {
    /// Waits for the result, discarding progress.
    pub async fn result(mut self) -> Result<CallToolResult> {
        use std::future::poll_fn;
        loop {
            match poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await {
                Some(Ok(CallEvent::Result(r))) => return Ok(r),
                Some(Ok(CallEvent::Progress(_) | CallEvent::Log(_))) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Closed { server: String::new(), reason: "call ended without a result".into() });
                }
            }
        }
    }
}

impl Stream for ToolCallStream {
    type Item = Result<CallEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(driver) = self.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            self.driver = None;
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(event)),
            Poll::Ready(None) => Poll::Ready(None),
            // Once the driver is done every event has been queued, so an empty queue is the end.
            Poll::Pending if self.driver.is_none() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
