//! The stateless era's change notifications: a server announces changes only on a
//! `subscriptions/listen` stream, which the client keeps open while it wants them.

use std::time::Duration;

use super::Client;
use crate::protocol::*;

impl Client {
    /// When the caller wants notifications and the server's tool list can change, keep one
    /// `subscriptions/listen` stream open (reopened if the server ends it) for as long as the
    /// connection lives.
    pub(super) fn listen_for_changes(&self) {
        let wanted = self.options.notifications.is_some()
            && self.era() == Era::Modern
            && self.capabilities.tools.as_ref().and_then(|t| t.list_changed) == Some(true);
        if !wanted {
            return;
        }
        let peer = self.peer.clone();
        let mut params = JsonObject::new();
        params.insert("notifications".into(), serde_json::json!({"toolsListChanged": true}));
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
