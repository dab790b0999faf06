//! The stateless era's subscriptions: a server announces changes only on a
//! `subscriptions/listen` stream, which the client keeps open while it wants them. One stream
//! for the lists that can change ([`Client::listen_for_changes`]), one for the resources the
//! caller watches ([`Client::listen_to_resources`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::Client;
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::connection::Peer;

/// The acknowledgements awaited, by the id of the `subscriptions/listen` request each answers.
pub(super) type AckRoutes = Arc<Mutex<HashMap<RequestId, oneshot::Sender<SubscriptionFilter>>>>;

/// A stream has no deadline; ending the connection (or the stream's owner) ends it.
const FOREVER: Duration = Duration::from_secs(60 * 60 * 24 * 365);

/// Refusals in a row after which a server is left alone.
const REFUSALS: u32 = 5;

/// The longest pause before a stream is opened again.
const MOST_PATIENCE: Duration = Duration::from_secs(30);

/// Hands `notification`, an acknowledgement, to the stream of ours that awaits it: false when
/// none does (it then goes where the client's other notifications go).
pub(super) fn take_ack(acks: &AckRoutes, notification: &Notification) -> bool {
    let Some(params) = &notification.params else { return false };
    let id = params
        .get("_meta")
        .and_then(|meta| meta.get(meta_keys::SUBSCRIPTION_ID))
        .and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok());
    let Some(waiting) = id.and_then(|id| acks.lock().unwrap_or_else(PoisonError::into_inner).remove(&id)) else {
        return false;
    };
    let honored = params
        .get("notifications")
        .and_then(|filter| serde_json::from_value::<SubscriptionFilter>(filter.clone()).ok())
        .unwrap_or_default();
    let _ = waiting.send(honored);
    true
}

/// Forgets an acknowledgement nobody awaits any more, however its stream ended.
struct AwaitedAck<'a> {
    acks: &'a AckRoutes,
    id: RequestId,
}

impl Drop for AwaitedAck<'_> {
    fn drop(&mut self) {
        self.acks.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

/// A `2026-07-28` server's stream of updates to some of its resources (see
/// [`Client::listen_to_resources`]). Dropping it ends the stream: the server is told (over stdio,
/// `notifications/cancelled`; over HTTP, its response stream is closed).
#[derive(Debug)]
pub struct ResourceListen {
    task: tokio::task::AbortHandle,
}

impl Drop for ResourceListen {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// When the caller wants notifications and the server's tool, prompt or resource list can
    /// change, keep one `subscriptions/listen` stream open for the lists that can (reopened if
    /// the server ends it) for as long as the connection lives.
    pub(super) fn listen_for_changes(&self) {
        let capabilities = &self.capabilities;
        let mut lists = JsonObject::new();
        for (key, changes) in [
            ("toolsListChanged", capabilities.tools.as_ref().and_then(|t| t.list_changed)),
            ("promptsListChanged", capabilities.prompts.as_ref().and_then(|p| p.list_changed)),
            ("resourcesListChanged", capabilities.resources.as_ref().and_then(|r| r.list_changed)),
        ] {
            if changes == Some(true) {
                lists.insert(key.into(), true.into());
            }
        }
        if self.options.notifications.is_none() || self.era() != Era::Modern || lists.is_empty() {
            return;
        }
        let mut params = JsonObject::new();
        params.insert("notifications".into(), lists.into());
        let params = self.stamp(self.version, params);
        tokio::spawn(keep_listening(self.peer.clone(), self.acks.clone(), params, None));
    }

    /// Opens a `subscriptions/listen` stream for updates of the resources `uris` at a
    /// `2026-07-28` server, and waits up to `within` for the server to acknowledge it. Returns
    /// the URIs the server took (those it does not watch are left out) and the stream, kept open
    /// (reopened if the server ends it) until it is dropped. Its
    /// `notifications/resources/updated` go to [`ClientOptions::notifications`](super::ClientOptions::notifications).
    /// A server of the handshake era takes `resources/subscribe` instead.
    pub async fn listen_to_resources(
        &self,
        uris: &[String],
        within: Duration,
    ) -> Result<(Vec<String>, ResourceListen)> {
        if self.era() != Era::Modern {
            return Err(self.protocol_error(
                methods::SUBSCRIPTIONS_LISTEN,
                "the server speaks the handshake era: its resources are subscribed to with resources/subscribe",
            ));
        }
        let mut filter = JsonObject::new();
        filter.insert("resourceSubscriptions".into(), uris.into());
        let mut params = JsonObject::new();
        params.insert("notifications".into(), filter.into());
        let params = self.stamp(self.version, params);
        let (first_tx, first) = oneshot::channel();
        let task = tokio::spawn(keep_listening(self.peer.clone(), self.acks.clone(), params, Some(first_tx)));
        let stream = ResourceListen { task: task.abort_handle() };
        match tokio::time::timeout(within, first).await {
            Ok(Ok(Ok(honored))) => Ok((honored.resource_subscriptions.unwrap_or_default(), stream)),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(self.protocol_error(methods::SUBSCRIPTIONS_LISTEN, "the stream ended unacknowledged")),
            Err(_) => Err(Error::Timeout {
                server: self.name().to_owned(),
                method: methods::SUBSCRIPTIONS_LISTEN.to_owned(),
                after: within,
            }),
        }
    }
}

/// Keeps a `subscriptions/listen` stream with `params` open for as long as the connection lives:
/// opened again when the server ends it or the stream is cut, after a pause that grows (up to
/// [`MOST_PATIENCE`]) while streams end unacknowledged; left alone once the server refuses it
/// [`REFUSALS`] times in a row or does not know the method. Each stream's acknowledgement is its
/// own, not the caller's notification. With `first`, the first stream's acknowledgement goes
/// there, or why it ended before one (and then it is not opened again).
async fn keep_listening(
    peer: Peer,
    acks: AckRoutes,
    params: JsonObject,
    mut first: Option<oneshot::Sender<Result<SubscriptionFilter>>>,
) {
    // Streams in a row that ended unacknowledged, and refusals among them.
    let (mut unacknowledged, mut refusals) = (0u32, 0u32);
    loop {
        let id = peer.next_id();
        let (ack_tx, ack) = oneshot::channel();
        acks.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), ack_tx);
        let awaited = AwaitedAck { acks: &acks, id: id.clone() };
        let request = peer.request(id, methods::SUBSCRIPTIONS_LISTEN, Some(params.clone()), FOREVER);
        tokio::pin!(request);
        let (outcome, acknowledged) = tokio::select! {
            biased;
            Ok(honored) = ack => {
                if let Some(tell) = first.take() {
                    let _ = tell.send(Ok(honored));
                }
                (request.await, true)
            }
            outcome = &mut request => (outcome, false),
        };
        drop(awaited);
        if let Some(tell) = first.take() {
            let _ = tell.send(Err(outcome.err().unwrap_or_else(|| Error::Protocol {
                server: peer.name().to_owned(),
                method: methods::SUBSCRIPTIONS_LISTEN.to_owned(),
                message: "the server ended the stream before acknowledging it".to_owned(),
            })));
            return;
        }
        if peer.is_closed() {
            break;
        }
        (unacknowledged, refusals) = if acknowledged { (0, 0) } else { (unacknowledged + 1, refusals) };
        match outcome {
            Err(e) if e.rpc_error().is_some_and(|r| r.code == codes::METHOD_NOT_FOUND) => break,
            // Ended gracefully (a server restarting, say), or cut: opened again.
            Ok(_) => {}
            Err(e) if e.is_transport_failure() => {
                tracing::debug!(server = %peer.name(), error = %e, "listen stream cut; opening it again");
            }
            Err(e) => {
                refusals += 1;
                if refusals >= REFUSALS {
                    tracing::debug!(server = %peer.name(), error = %e, "the server keeps refusing a listen stream; giving up");
                    break;
                }
                tracing::debug!(server = %peer.name(), error = %e, "listen stream refused; asking again");
            }
        }
        let pause = Duration::from_secs(1 << unacknowledged.min(5)).min(MOST_PATIENCE);
        tokio::time::sleep(pause).await;
    }
}
