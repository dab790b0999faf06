//! What the server sends the client besides answers: its requests (sampling, elicitation,
//! roots, ping) and its notifications (progress, and log messages on a call's own stream, to
//! the streamed call they belong to; other log messages to the caller's log channel; every log
//! message to tracing too; the acknowledgement of a listen stream of ours to that stream; an update
//! on a resource stream of ours that has ended to nobody; the rest to the caller's channel).

use std::sync::{Arc, PoisonError};

use async_trait::async_trait;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::listen::{ListenRoutes, take_own};
use super::stream::{CallRoutes, request_of};
use super::{CallEvent, ClientOptions, InputHandler, LogSink, Masking};
use crate::protocol::*;
use crate::transport::connection::{Handler, Peer};

/// Takes what the server sends us besides responses.
pub(super) struct ClientHandler {
    pub(super) routes: CallRoutes,
    /// Our `subscriptions/listen` streams: their acknowledgements, and those that ended.
    pub(super) listens: ListenRoutes,
    server: String,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
    logs: Option<LogSink>,
    input: Option<Arc<dyn InputHandler>>,
    /// The server's secrets, masked in its log messages as in its stderr.
    masking: Masking,
}

impl ClientHandler {
    /// The handler of a connection to the server `name`, whose secrets `masking` masks.
    pub(super) fn new(name: &str, options: &ClientOptions, masking: Masking) -> Arc<ClientHandler> {
        Arc::new(ClientHandler {
            routes: Arc::default(),
            listens: Arc::default(),
            server: name.to_owned(),
            notifications: options.notifications.clone(),
            logs: options.logs.clone(),
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
        self.take(notification, None);
    }

    #[cfg(feature = "http-client")]
    fn related_notification(&self, _peer: &Peer, notification: Notification, related: &RequestId) {
        self.take(notification, Some(related));
    }
}

impl ClientHandler {
    /// Handles a notification; `related` is the request on whose response stream it came.
    fn take(&self, notification: Notification, related: Option<&RequestId>) {
        if take_own(&self.listens, &notification) {
            return;
        }
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
                let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(tx) = routes.get(&request_of(&progress.progress_token)) {
                    let _ = tx.try_send(CallEvent::Progress(progress));
                }
            }
            methods::MESSAGE => {
                let Some(Ok(mut log)) = notification
                    .params
                    .map(|params| serde_json::from_value::<LoggingMessageParams>(Value::Object(params)))
                else {
                    tracing::debug!(server = %self.server, "malformed log message");
                    return;
                };
                self.masking.json(&mut log.data);
                log.logger = log.logger.map(|l| self.masking.text(l));
                tracing::info!(server = %self.server, level = ?log.level, logger = ?log.logger, data = %log.data, "server log");
                // The call whose response stream carried it; one that names no request (stdio, a
                // GET stream) goes to whoever takes those.
                match related {
                    Some(id) => {
                        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
                        // A message about a call that has ended (or was not streamed) is dropped.
                        if let Some(tx) = routes.get(id) {
                            let _ = tx.try_send(CallEvent::Log(log));
                        }
                    }
                    None => {
                        if let Some(LogSink(take)) = &self.logs {
                            take(log);
                        }
                    }
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
