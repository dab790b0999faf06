//! The stateless era's subscriptions: a server announces changes only on a
//! `subscriptions/listen` stream, which the client keeps open while it wants them. One stream
//! for the lists that can change ([`Client::listen_for_changes`]), one for the resources the
//! caller watches ([`Client::listen_to_resources`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::Client;
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::connection::Peer;

/// Our `subscriptions/listen` streams, as far as what the server sends on them is concerned.
pub(super) type ListenRoutes = Arc<Mutex<Listens>>;

#[derive(Debug, Default)]
pub(super) struct Listens {
    /// The acknowledgements awaited, by the id of the `subscriptions/listen` request each answers.
    acks: HashMap<RequestId, oneshot::Sender<SubscriptionFilter>>,
    /// The resource streams that ended, the latest last: an update the server sends on one of
    /// them after it ended (before it heard of the end) is dropped, not taken for news.
    ended: VecDeque<RequestId>,
}

/// Ended resource streams remembered (an update on one ended longer ago passes as news).
const ENDED: usize = 256;

impl Listens {
    fn end(&mut self, id: RequestId) {
        if self.ended.len() == ENDED {
            self.ended.pop_front();
        }
        self.ended.push_back(id);
    }
}

fn lock(routes: &ListenRoutes) -> std::sync::MutexGuard<'_, Listens> {
    routes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stream has no deadline; ending the connection (or the stream's owner) ends it.
const FOREVER: Duration = Duration::from_secs(60 * 60 * 24 * 365);

/// Refusals in a row after which a server is left alone.
const REFUSALS: u32 = 5;

/// The longest pause before a stream is opened again.
const MOST_PATIENCE: Duration = Duration::from_secs(30);

/// The listen stream `notification` says it came on (`_meta`'s subscription id).
fn stream_of(notification: &Notification) -> Option<RequestId> {
    let id = notification.params.as_ref()?.get("_meta")?.get(meta_keys::SUBSCRIPTION_ID)?;
    serde_json::from_value(id.clone()).ok()
}

/// Takes `notification` when it is for a stream of ours, not for the caller: an acknowledgement
/// (handed to the stream that awaits it), or an update on a resource stream that has ended.
pub(super) fn take_own(routes: &ListenRoutes, notification: &Notification) -> bool {
    match notification.method.as_str() {
        methods::SUBSCRIPTIONS_ACKNOWLEDGED => {
            let Some(id) = stream_of(notification) else { return false };
            let mut listens = lock(routes);
            let Some(waiting) = listens.acks.remove(&id) else {
                // One for a stream let go before it was acknowledged is ours too.
                return listens.ended.contains(&id);
            };
            drop(listens);
            let honored = notification
                .params
                .as_ref()
                .and_then(|params| params.get("notifications"))
                .and_then(|filter| serde_json::from_value::<SubscriptionFilter>(filter.clone()).ok())
                .unwrap_or_default();
            let _ = waiting.send(honored);
            true
        }
        methods::RESOURCE_UPDATED => stream_of(notification).is_some_and(|id| lock(routes).ended.contains(&id)),
        _ => false,
    }
}

/// Forgets an acknowledgement nobody awaits any more, however its stream ended.
struct AwaitedAck<'a> {
    routes: &'a ListenRoutes,
    id: RequestId,
}

impl Drop for AwaitedAck<'_> {
    fn drop(&mut self) {
        lock(self.routes).acks.remove(&self.id);
    }
}

/// What the owner of a resource stream shares with the task that keeps it open.
#[derive(Debug, Default)]
struct Owner {
    /// Cancelled when the owner lets the stream go.
    gone: CancellationToken,
    /// The `subscriptions/listen` request open now.
    current: Mutex<Option<RequestId>>,
}

impl Owner {
    /// Remembers that the stream `id` ended, unless that was done (by the owner letting it go,
    /// or for it as it ended): each ended stream is remembered once.
    fn ended(&self, routes: &ListenRoutes, id: &RequestId) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref() == Some(id) {
            *current = None;
            drop(current);
            lock(routes).end(id.clone());
        }
    }
}

/// A `2026-07-28` server's stream of updates to some of its resources (see
/// [`Client::listen_to_resources`]). Dropping it ends the stream: its updates stop at once, and
/// the server is told (over stdio, `notifications/cancelled`, queued however long the server
/// takes to read; over HTTP, its response stream is closed).
#[derive(Debug)]
pub struct ResourceListen {
    owner: Arc<Owner>,
    routes: ListenRoutes,
}

impl Drop for ResourceListen {
    fn drop(&mut self) {
        if let Some(id) = self.owner.current.lock().unwrap_or_else(PoisonError::into_inner).take() {
            lock(&self.routes).end(id);
        }
        self.owner.gone.cancel();
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
        tokio::spawn(keep_listening(self.peer.clone(), self.listens.clone(), params, None, None));
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
        let owner = Arc::new(Owner::default());
        let stream = ResourceListen { owner: owner.clone(), routes: self.listens.clone() };
        tokio::spawn(keep_listening(self.peer.clone(), self.listens.clone(), params, Some(first_tx), Some(owner)));
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

/// Keeps a `subscriptions/listen` stream with `params` open for as long as the connection lives
/// (and, for a resource stream, its `owner` wants it): opened again when the server ends it or
/// the stream is cut, after a pause that grows (up to [`MOST_PATIENCE`]) while streams end
/// unacknowledged; left alone once the server refuses it [`REFUSALS`] times in a row or does
/// not know the method. Each stream's acknowledgement is its own, not the caller's
/// notification. With `first`, the first stream's acknowledgement goes there, or why it ended
/// before one (and then it is not opened again).
async fn keep_listening(
    peer: Peer,
    routes: ListenRoutes,
    params: JsonObject,
    mut first: Option<oneshot::Sender<Result<SubscriptionFilter>>>,
    owner: Option<Arc<Owner>>,
) {
    let gone = owner.as_ref().map(|o| o.gone.clone()).unwrap_or_default();
    // Streams in a row that ended unacknowledged, and refusals among them.
    let (mut unacknowledged, mut refusals) = (0u32, 0u32);
    loop {
        let id = peer.next_id();
        let (ack_tx, mut ack) = oneshot::channel();
        lock(&routes).acks.insert(id.clone(), ack_tx);
        let awaited = AwaitedAck { routes: &routes, id: id.clone() };
        if let Some(owner) = &owner {
            *owner.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(id.clone());
        }
        let request = peer.request(id.clone(), methods::SUBSCRIPTIONS_LISTEN, Some(params.clone()), FOREVER);
        tokio::pin!(request);
        let (mut acknowledged, mut heard) = (false, false);
        let outcome = loop {
            tokio::select! {
                biased;
                () = gone.cancelled() => {
                    // Told with room waited for: a cancellation dropped from a full queue would
                    // leave the server sending on the stream for as long as the connection lives.
                    if let Some(owner) = &owner {
                        owner.ended(&routes, &id);
                    }
                    peer.cancel(&id, "the client let the stream go").await;
                    return;
                }
                honored = &mut ack, if !heard => {
                    heard = true;
                    if let Ok(honored) = honored {
                        acknowledged = true;
                        if let Some(tell) = first.take() {
                            let _ = tell.send(Ok(honored));
                        }
                    }
                }
                outcome = &mut request => break outcome,
            }
        };
        drop(awaited);
        if let Some(owner) = &owner {
            owner.ended(&routes, &id);
        }
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
        if gone.run_until_cancelled(tokio::time::sleep(pause)).await.is_none() {
            return;
        }
    }
}
