//! What the server announces to its clients while it runs (the tool list changed, a resource
//! was updated, a log message that belongs to no request), and the one loop that forwards those
//! announcements to a client: used for a stdio connection, a `subscriptions/listen` stream and
//! the HTTP transport's sessions alike (log messages only for the first).

use std::future::Future;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::ServerInner;
use crate::protocol::{JsonObject, LoggingMessageParams, methods};

/// One announcement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// `notifications/tools/list_changed`.
    ToolsListChanged,
    /// `notifications/prompts/list_changed`.
    PromptsListChanged,
    /// `notifications/resources/list_changed`.
    ResourcesListChanged,
    /// `notifications/resources/updated` for this URI.
    ResourceUpdated(String),
    /// `notifications/message` that belongs to no request.
    Log(LoggingMessageParams),
}

impl Change {
    /// The notification's method.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Change::ToolsListChanged => methods::TOOLS_LIST_CHANGED,
            Change::PromptsListChanged => methods::PROMPTS_LIST_CHANGED,
            Change::ResourcesListChanged => methods::RESOURCES_LIST_CHANGED,
            Change::ResourceUpdated(_) => methods::RESOURCE_UPDATED,
            Change::Log(_) => methods::MESSAGE,
        }
    }

    /// The notification's params.
    pub(crate) fn params(&self) -> Option<JsonObject> {
        match self {
            Change::ToolsListChanged | Change::PromptsListChanged | Change::ResourcesListChanged => None,
            Change::ResourceUpdated(uri) => {
                let mut params = JsonObject::new();
                params.insert("uri".to_owned(), uri.clone().into());
                Some(params)
            }
            Change::Log(log) => crate::transport::connection::to_object(log),
        }
    }
}

/// One listener's subscription to a server's announcements, from the moment it was taken.
pub(crate) struct ChangeFeed {
    /// List changes: [`Change::ToolsListChanged`], `PromptsListChanged`, `ResourcesListChanged`.
    lists: broadcast::Receiver<Change>,
    /// List changes still to hand over: those a lag may have dropped.
    missed: Vec<Change>,
    resources: broadcast::Receiver<String>,
    logs: Option<broadcast::Receiver<LoggingMessageParams>>,
}

impl ChangeFeed {
    /// Subscribes now: take it before anything that must not miss a change.
    pub(super) fn subscribe(server: &ServerInner) -> Self {
        Self {
            lists: server.list_changed.subscribe(),
            missed: Vec::new(),
            resources: server.resource_updates.subscribe(),
            logs: None,
        }
    }

    /// [`ChangeFeed::subscribe`], with the log messages that belong to no request: for a
    /// connection that serves one client.
    pub(super) fn with_logs(server: &ServerInner) -> Self {
        Self { logs: Some(server.logs.subscribe()), ..Self::subscribe(server) }
    }

    /// Hands every change to `deliver` until it returns false or the server is gone. List
    /// changes missed while this listener lagged still count, as one change of each list; missed
    /// resource updates and log messages are lost and skipped.
    pub(crate) async fn forward<F, Fut>(mut self, mut deliver: F)
    where
        F: FnMut(Change) -> Fut,
        Fut: Future<Output = bool>,
    {
        while let Some(change) = self.next().await {
            if !deliver(change).await {
                break;
            }
        }
    }

    /// The next change; `None` once the server is gone.
    async fn next(&mut self) -> Option<Change> {
        if let Some(change) = self.missed.pop() {
            return Some(change);
        }
        loop {
            tokio::select! {
                change = self.lists.recv() => match change {
                    Ok(change) => return Some(change),
                    Err(RecvError::Lagged(_)) => {
                        self.missed = vec![Change::ResourcesListChanged, Change::PromptsListChanged];
                        return Some(Change::ToolsListChanged);
                    }
                    Err(RecvError::Closed) => return None,
                },
                update = self.resources.recv() => match update {
                    Ok(uri) => return Some(Change::ResourceUpdated(uri)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
                Some(log) = next_log(&mut self.logs) => match log {
                    Ok(log) => return Some(Change::Log(log)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// The next log message, or `None` at once for a feed without them (that branch is then off).
async fn next_log(
    logs: &mut Option<broadcast::Receiver<LoggingMessageParams>>,
) -> Option<Result<LoggingMessageParams, RecvError>> {
    match logs {
        Some(logs) => Some(logs.recv().await),
        None => None,
    }
}
