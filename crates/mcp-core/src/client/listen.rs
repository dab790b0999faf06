//! The stateless era's change notifications: a server announces changes only on a
//! `subscriptions/listen` stream, which the client keeps open while it wants them.

use std::time::Duration;

use super::Client;
use crate::protocol::*;

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
        let peer = self.peer.clone();
        let mut params = JsonObject::new();
        params.insert("notifications".into(), lists.into());
        let params = self.stamp(self.version, params);
        // The stream has no deadline; ending the connection ends it.
        let forever = Duration::from_secs(60 * 60 * 24 * 365);
        tokio::spawn(async move {
            // A server that keeps refusing the stream is left alone after a few tries.
            let mut refusals = 0;
            loop {
                let id = peer.next_id();
                let outcome = peer.request(id, methods::SUBSCRIPTIONS_LISTEN, Some(params.clone()), forever).await;
                if peer.is_closed() {
                    break;
                }
                match outcome {
                    Err(e) if e.rpc_error().is_some_and(|r| r.code == codes::METHOD_NOT_FOUND) => break,
                    Ok(_) => {
                        // Ended gracefully (a server restarting, say): reopen, without spinning.
                        refusals = 0;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => {
                        refusals += 1;
                        if refusals >= 5 {
                            tracing::debug!(server = %peer.name(), error = %e, "the server keeps refusing a listen stream; giving up");
                            break;
                        }
                        tracing::debug!(server = %peer.name(), error = %e, "listen stream ended; reopening");
                        tokio::time::sleep(Duration::from_secs(refusals)).await;
                    }
                }
            }
        });
    }
}
