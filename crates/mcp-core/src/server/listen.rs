//! `subscriptions/listen` (the stateless era): a request whose answer is a stream of the
//! notifications the client asked for, until it cancels.

use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::changes::{Change, ChangeFeed};
use super::era::Framing;
use super::{Connection, ServerInner, parse_params};
use crate::protocol::*;
use crate::transport::connection::Peer;

impl Connection {
    /// `subscriptions/listen`: acknowledges what it will send (only what was asked for and the
    /// server has), then sends those notifications, each tagged with the stream's id, until the
    /// client goes away (closing the stream cancels the request) or the server shuts down.
    pub(super) async fn listen(
        &self,
        peer: Peer,
        id: RequestId,
        params: JsonObject,
        cancel: CancellationToken,
    ) -> Result<Box<RawValue>, ErrorObject> {
        #[derive(serde::Deserialize)]
        struct ListenParams {
            notifications: SubscriptionFilter,
        }
        let asked: ListenParams = parse_params(params)?;
        let asked = asked.notifications;
        let s = &self.server;
        // Subscribe before acknowledging, so nothing that happens in between is missed.
        let changes = ChangeFeed::subscribe(s);
        let has_resources = !s.resources_empty();
        // Prompt and resource lists that change while the server runs are announced too.
        let changes_of = |asked: Option<bool>, offered: bool| asked.filter(|&on| on && offered && s.lists_change);
        // The resources whose providers take the subscription (each counted until the stream
        // ends); the acknowledgement names them, and leaves out the others.
        let mut subscribed = Held { server: s, uris: Vec::new() };
        let named = asked.resource_subscriptions.as_ref().is_some_and(|uris| !uris.is_empty());
        // Which server's a resource is may be known only once the start is over.
        if has_resources && named && s.started().await == super::StartState::Ready {
            let cx = self.request_context(peer.clone(), None, cancel.clone());
            let mut named = asked.resource_subscriptions.iter().flatten();
            let mut seen = std::collections::HashSet::new();
            // Admitted together, so that a provider that relays them (the gateway) can ask its
            // server for them all at once; those refused leave room for the next ones named.
            while !cancel.is_cancelled() {
                let room = super::resources::MAX_SUBSCRIPTIONS - subscribed.uris.len();
                let round: Vec<String> = named.by_ref().filter(|uri| seen.insert(*uri)).take(room).cloned().collect();
                if round.is_empty() {
                    break;
                }
                // Counted before they are admitted (see `Connection::subscribe`).
                for uri in &round {
                    s.hold(uri);
                }
                let admissions = round.iter().map(|uri| s.admit_subscription(uri, &cx));
                let admitted = tokio::select! {
                    admitted = futures_util::future::join_all(admissions) => admitted,
                    () = cancel.cancelled() => Vec::new(),
                };
                let mut admitted = admitted.into_iter().map(|a| a.is_ok());
                for uri in round {
                    match admitted.next() {
                        Some(true) => subscribed.uris.push(uri),
                        _ => s.release(&uri),
                    }
                }
            }
        }
        let honored = SubscriptionFilter {
            tools_list_changed: asked.tools_list_changed.filter(|&on| on),
            prompts_list_changed: changes_of(asked.prompts_list_changed, !s.prompts_empty()),
            resources_list_changed: changes_of(asked.resources_list_changed, has_resources),
            resource_subscriptions: (!subscribed.uris.is_empty()).then(|| subscribed.uris.clone()),
        };
        let subscription_meta = || {
            let mut meta = JsonObject::new();
            meta.insert(meta_keys::SUBSCRIPTION_ID.to_owned(), serde_json::to_value(&id).unwrap_or(Value::Null));
            Value::Object(meta)
        };
        let tag = |mut params: JsonObject| {
            params.insert("_meta".to_owned(), subscription_meta());
            Some(params)
        };
        let mut ack = JsonObject::new();
        ack.insert("notifications".to_owned(), serde_json::to_value(&honored).unwrap_or_default());
        peer.notify(methods::SUBSCRIPTIONS_ACKNOWLEDGED, tag(ack))
            .await
            .map_err(|e| ErrorObject::internal(e.to_string()))?;
        let forwarding = changes.forward(|change| {
            let wanted = match &change {
                Change::ToolsListChanged => honored.tools_list_changed == Some(true),
                Change::PromptsListChanged => honored.prompts_list_changed == Some(true),
                Change::ResourcesListChanged => honored.resources_list_changed == Some(true),
                Change::ResourceUpdated(uri) => {
                    honored.resource_subscriptions.as_ref().is_some_and(|u| u.contains(uri))
                        && s.update_reaches(uri, &self.principal)
                }
                // Log messages belong to requests in this era, never to a listen stream.
                Change::Log(_) => false,
            };
            let (peer, params) = (&peer, tag(change.params().unwrap_or_default()));
            async move {
                let sent = if wanted { peer.notify(change.method(), params).await } else { Ok(()) };
                sent.is_ok() && !peer.is_closed()
            }
        });
        cancel.run_until_cancelled(forwarding).await;
        let mut result = JsonObject::new();
        result.insert("_meta".to_owned(), subscription_meta());
        s.finish(result, Framing::Modern)
    }
}

/// The resource subscriptions a listen stream holds, released when it ends (however it ends).
struct Held<'a> {
    server: &'a ServerInner,
    uris: Vec<String>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for uri in &self.uris {
            self.server.release(uri);
        }
    }
}
