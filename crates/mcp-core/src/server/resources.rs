//! Resource methods: `resources/list`, `resources/templates/list`, `resources/read`, and the
//! handshake era's `resources/subscribe` and `resources/unsubscribe`.

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::era::Framing;
use std::sync::PoisonError;

use super::{Connection, ServerInner, empty_result, parse_params};
use crate::protocol::*;
use crate::tool::ToolContext;
use crate::transport::connection::Peer;

impl Connection {
    /// `resources/list`: every provider's resources, paged.
    pub(super) fn list_resources(&self, params: JsonObject, framing: Framing) -> Result<Box<RawValue>, ErrorObject> {
        let p: PaginatedParams = parse_params(params)?;
        let s = &self.server;
        let all = s.registry.resources.iter().flat_map(|r| r.resources_for(&self.principal));
        let (resources, next_cursor) = s.page(all, p.cursor.as_deref(), |r| r)?;
        s.finish(
            ListResourcesResult { envelope: Default::default(), cache: s.cache_hints(framing), resources, next_cursor },
            framing,
        )
    }

    /// `resources/templates/list`: every provider's templates, paged.
    pub(super) fn list_resource_templates(
        &self,
        params: JsonObject,
        framing: Framing,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let p: PaginatedParams = parse_params(params)?;
        let s = &self.server;
        let all = s.registry.resources.iter().flat_map(|r| r.templates_for(&self.principal));
        let (resource_templates, next_cursor) = s.page(all, p.cursor.as_deref(), |t| t)?;
        let result = ListResourceTemplatesResult {
            envelope: Default::default(),
            cache: s.cache_hints(framing),
            resource_templates,
            next_cursor,
        };
        s.finish(result, framing)
    }

    /// `resources/read`: the first provider that knows the URI reads it.
    pub(super) async fn read_resource(
        &self,
        peer: Peer,
        params: JsonObject,
        cancel: CancellationToken,
        framing: Framing,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let p: ReadResourceParams = parse_params(params)?;
        let s = &self.server;
        let cx = self.request_context(peer, p.meta, cancel);
        for provider in &s.registry.resources {
            if let Some(read) = provider.read_with(&p.uri, &cx).await {
                let contents = read.map_err(|e| match e.protocol_error() {
                    Some(error) => error.clone(),
                    None => ErrorObject::internal(format!("reading `{}`: {e}", p.uri)),
                })?;
                return s.finish(
                    ReadResourceResult { envelope: Default::default(), cache: s.cache_hints(framing), contents },
                    framing,
                );
            }
        }
        // -32602 with the URI, as SEP-2164 settled (older servers used -32002).
        Err(ErrorObject::invalid_params(format!("resource not found: {}", p.uri))
            .with_data(serde_json::json!({ "uri": p.uri })))
    }

    /// `resources/subscribe` or `resources/unsubscribe` (`method`), offered only when the server
    /// announces resource updates. A subscription the resource's provider refuses is not taken.
    pub(super) async fn subscribe(
        &self,
        peer: Peer,
        method: &str,
        params: JsonObject,
        cancel: CancellationToken,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if !self.server.announces_updates {
            return Err(ErrorObject::method_not_found(method));
        }
        let p: ReadResourceParams = parse_params(params)?;
        if method == methods::UNSUBSCRIBE {
            if self.session().subscriptions.remove(&p.uri) {
                self.server.release(&p.uri);
            }
            return Ok(empty_result());
        }
        {
            let mut session = self.session();
            if session.subscriptions.contains(&p.uri) {
                return Ok(empty_result());
            }
            if session.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                return Err(ErrorObject::invalid_params(format!(
                    "cannot subscribe to `{}`: a client holds at most {MAX_SUBSCRIPTIONS} subscriptions",
                    p.uri
                )));
            }
            // Counted before it is admitted, so that another holder's last one ending meanwhile
            // is not taken for the resource's last.
            session.subscriptions.insert(p.uri.clone());
            self.server.hold(&p.uri);
        }
        let cx = self.request_context(peer, p.meta, cancel);
        if let Err(refused) = self.server.admit_subscription(&p.uri, &cx).await {
            if self.session().subscriptions.remove(&p.uri) {
                self.server.release(&p.uri);
            }
            return Err(refused);
        }
        Ok(empty_result())
    }
}

/// The most resources one client (a connection, a session, a listen stream) subscribes to at once.
pub(super) const MAX_SUBSCRIPTIONS: usize = 256;

impl ServerInner {
    /// Asks the resource providers whether a subscription to `uri` by `cx` may be taken.
    pub(super) async fn admit_subscription(&self, uri: &str, cx: &ToolContext) -> Result<(), ErrorObject> {
        for provider in &self.registry.resources {
            if let Some(admitted) = provider.subscribe(uri, cx).await {
                return admitted.map_err(|e| match e.protocol_error() {
                    Some(error) => error.clone(),
                    None => ErrorObject::invalid_params(format!("cannot subscribe to `{uri}`: {e}")),
                });
            }
        }
        Ok(())
    }

    /// Whether an update of `uri` goes to a subscriber whose caller is `principal` (see
    /// [`ResourceProvider::update_reaches`](crate::registry::ResourceProvider::update_reaches)).
    pub(super) fn update_reaches(&self, uri: &str, principal: &str) -> bool {
        self.registry.resources.iter().find_map(|provider| provider.update_reaches(uri, principal)).unwrap_or(true)
    }

    /// Counts one more subscription to `uri`.
    pub(super) fn hold(&self, uri: &str) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        *subscribers.entry(uri.to_owned()).or_default() += 1;
    }

    /// Counts one subscription to `uri` less; the providers hear when it was the last.
    pub(super) fn release(&self, uri: &str) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(count) = subscribers.get_mut(uri) else { return };
        *count -= 1;
        if *count > 0 {
            return;
        }
        subscribers.remove(uri);
        drop(subscribers);
        for provider in &self.registry.resources {
            provider.unsubscribed(uri);
        }
    }
}
