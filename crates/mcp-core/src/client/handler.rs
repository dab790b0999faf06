//! What the server sends the client besides answers: its requests (sampling, elicitation,
//! roots, ping) and its notifications (progress to the streamed call it belongs to, logs to
//! tracing, the rest to the caller's channel).

use std::sync::{Arc, PoisonError};

use async_trait::async_trait;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::stream::ProgressRoutes;
use super::{ClientOptions, InputHandler, Masking};
use crate::protocol::*;
use crate::transport::connection::{Handler, Peer};

/// Takes what the server sends us besides responses.
pub(super) struct ClientHandler {
    pub(super) progress: ProgressRoutes,
    server: String,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
    input: Option<Arc<dyn InputHandler>>,
    /// The server's secrets, masked in its log messages as in its stderr.
    masking: Masking,
}

impl ClientHandler {
    /// The handler of a connection to the server `name`, whose secrets `masking` masks.
    pub(super) fn new(name: &str, options: &ClientOptions, masking: Masking) -> Arc<ClientHandler> {
        Arc::new(ClientHandler {
            progress: Arc::default(),
            server: name.to_owned(),
            notifications: options.notifications.clone(),
            input: options.input.clone(),
            masking,
        })
    }
}

#[async_trait]
impl Handler for ClientHandler {
    async fn request(
        &self,
        _peer: Peer,
        request: Request,
        _cancel: CancellationToken,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let params = request.params.unwrap_or_default();
        let result = match (request.method.as_str(), &self.input) {
            (methods::PING, _) => Ok(Value::Object(JsonObject::new())),
            ("sampling/createMessage", Some(input)) => input.sample(params).await,
            ("elicitation/create", Some(input)) => input.elicit(params).await,
            ("roots/list", Some(input)) => input.roots().await,
            (other, _) => Err(ErrorObject::method_not_found(other)),
        }?;
        crate::transport::connection::raw(&result)
    }

    fn notification(&self, _peer: &Peer, notification: Notification) {
        match notification.method.as_str() {
            methods::PROGRESS => {
                let Some(params) = notification.params else {
                    return;
                };
                let Ok(mut progress) = serde_json::from_value::<ProgressParams>(Value::Object(params)) else {
                    tracing::debug!(server = %self.server, "malformed progress notification");
                    return;
                };
                // Relayed to the caller: masked as the server's other words are.
                progress.message = progress.message.map(|m| self.masking.text(m));
                let routes = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(tx) = routes.get(&progress.progress_token) {
                    let _ = tx.try_send(progress);
                }
            }
            methods::MESSAGE => {
                if let Some(params) = notification.params
                    && let Ok(mut log) = serde_json::from_value::<LoggingMessageParams>(Value::Object(params))
                {
                    self.masking.json(&mut log.data);
                    let data = log.data.to_string();
                    let logger = log.logger.map(|l| self.masking.text(l));
                    tracing::info!(server = %self.server, level = ?log.level, ?logger, %data, "server log");
                }
            }
            other => {
                tracing::debug!(server = %self.server, method = %other, "notification");
                if let Some(sink) = &self.notifications {
                    let _ = sink.send(notification);
                }
            }
        }
    }
}
