//! Lifecycle methods: `initialize` (the handshake era), `server/discover` (the stateless era),
//! `ping`, and the capabilities both of the first two declare.

use serde_json::value::RawValue;

use super::era::Framing;
use super::{Connection, ServerInner, empty_result, parse_params};
use crate::protocol::*;

impl Connection {
    /// `initialize`: agrees on a handshake-era revision and remembers who the client is.
    pub(super) fn initialize(&self, params: JsonObject) -> Result<Box<RawValue>, ErrorObject> {
        let p: InitializeParams = parse_params(params)?;
        // Answer with the client's revision when we speak it through the handshake, else our newest.
        let version = ProtocolVersion::parse(&p.protocol_version)
            .filter(|v| v.era() == Era::Handshake)
            .unwrap_or(ProtocolVersion::LATEST_HANDSHAKE);
        tracing::debug!(client = %p.client_info.name, requested = %p.protocol_version, chosen = %version, "initialize");
        {
            let mut session = self.session();
            session.version = Some(version);
            session.client = Some(std::sync::Arc::new(p.client_info));
            session.capabilities = Some(p.capabilities);
        }
        let s = &self.server;
        let result = InitializeResult {
            protocol_version: version.as_str().to_owned(),
            capabilities: s.capabilities(Framing::Handshake),
            server_info: s.info.clone(),
            instructions: s.instructions.clone(),
        };
        crate::transport::connection::raw(&result)
    }

    /// `server/discover`: what the server speaks and offers, for a stateless-era client.
    pub(super) fn discover(&self) -> Result<Box<RawValue>, ErrorObject> {
        let s = &self.server;
        let result = DiscoverResult {
            envelope: ResultEnvelope::default(),
            cache: s.cache_hints(),
            supported_versions: ProtocolVersion::all_strings(),
            capabilities: s.capabilities(Framing::Modern),
            instructions: s.instructions.clone(),
        };
        s.finish(result, Framing::Modern)
    }

    /// `ping` (handshake era).
    pub(super) fn ping(&self) -> Result<Box<RawValue>, ErrorObject> {
        Ok(empty_result())
    }
}

impl ServerInner {
    /// Capabilities, declared only where they work (a `Completer`, `resource_updates`).
    fn capabilities(&self, _framing: Framing) -> ServerCapabilities {
        // Resource subscriptions: `resources/subscribe` in the handshake era, the
        // `resourceSubscriptions` of `subscriptions/listen` in the stateless one.
        let subscribe = Some(self.announces_updates);
        ServerCapabilities {
            tools: Some(ListChangedCapability { list_changed: Some(true) }),
            resources: (!self.resources_empty())
                .then_some(ResourcesCapability { subscribe, list_changed: Some(false) }),
            prompts: (!self.registry.prompts.is_empty()).then_some(ListChangedCapability { list_changed: Some(false) }),
            logging: Some(JsonObject::new()),
            completions: self.completer.is_some().then(JsonObject::new),
            experimental: None,
            extensions: Some([(crate::tasks::EXTENSION.to_owned(), JsonObject::new())].into_iter().collect()),
            other: JsonObject::new(),
        }
    }
}
