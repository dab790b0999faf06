//! Lifecycle methods: `initialize` (the handshake era), `server/discover` (the stateless era),
//! `ping`, and the capabilities both of the first two declare.

use serde_json::Value;
use serde_json::value::RawValue;

use super::era::Framing;
use super::{
    Connection, MAX_CLIENT_CAPABILITIES_BYTES, MAX_CLIENT_CAPABILITIES_VALUES, MAX_CLIENT_INFO_BYTES, ServerInner,
    empty_result, parse_params,
};
use crate::protocol::*;

impl Connection {
    /// `initialize`: agrees on a handshake-era revision and remembers who the client is.
    ///
    /// What is remembered lives as long as the connection or session, so it is bounded: the
    /// capabilities as declared, up to [`MAX_CLIENT_CAPABILITIES_BYTES`] and
    /// [`MAX_CLIENT_CAPABILITIES_VALUES`], and `clientInfo` without its icons (which a server
    /// never shows) up to [`MAX_CLIENT_INFO_BYTES`]; larger ones are refused with -32602
    /// naming the field and the limit.
    pub(super) fn initialize(&self, params: JsonObject) -> Result<Box<RawValue>, ErrorObject> {
        if let Some(capabilities) = params.get("capabilities") {
            check_capabilities(capabilities)?;
        }
        let mut p: InitializeParams = parse_params(params)?;
        p.client_info.icons = None;
        let info = json_len(&p.client_info);
        if info > MAX_CLIENT_INFO_BYTES {
            return Err(ErrorObject::invalid_params(format!(
                "invalid params: `clientInfo` is {info} bytes of JSON (icons aside), over the limit of {MAX_CLIENT_INFO_BYTES} bytes"
            )));
        }
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
            cache: s.cache_hints(Framing::Modern),
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

/// Refuses capabilities larger than a session keeps, in JSON text or in JSON values (each
/// value costs memory beyond its text).
fn check_capabilities(capabilities: &Value) -> Result<(), ErrorObject> {
    let mut values = 0usize;
    let mut pending = vec![capabilities];
    while let Some(value) = pending.pop() {
        values += 1;
        if values > MAX_CLIENT_CAPABILITIES_VALUES {
            return Err(ErrorObject::invalid_params(format!(
                "invalid params: `capabilities` holds more than {MAX_CLIENT_CAPABILITIES_VALUES} JSON values, the limit"
            )));
        }
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(entries) => pending.extend(entries.values()),
            _ => {}
        }
    }
    let bytes = json_len(capabilities);
    if bytes > MAX_CLIENT_CAPABILITIES_BYTES {
        return Err(ErrorObject::invalid_params(format!(
            "invalid params: `capabilities` is {bytes} bytes of JSON, over the limit of {MAX_CLIENT_CAPABILITIES_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The length of `value` written as compact JSON, without writing it anywhere.
fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter fails only for values JSON cannot hold, which parsed ones never are.
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
}

impl ServerInner {
    /// Capabilities, declared only where they work (a `Completer`, `resource_updates`,
    /// `lists_change`).
    fn capabilities(&self, _framing: Framing) -> ServerCapabilities {
        // Resource subscriptions: `resources/subscribe` in the handshake era, the
        // `resourceSubscriptions` of `subscriptions/listen` in the stateless one.
        let subscribe = Some(self.announces_updates);
        ServerCapabilities {
            tools: Some(ListChangedCapability { list_changed: Some(true) }),
            resources: (!self.resources_empty())
                .then_some(ResourcesCapability { subscribe, list_changed: Some(self.lists_change) }),
            prompts: (!self.prompts_empty()).then_some(ListChangedCapability { list_changed: Some(self.lists_change) }),
            logging: Some(JsonObject::new()),
            completions: self.completer.is_some().then(JsonObject::new),
            experimental: None,
            extensions: Some([(crate::tasks::EXTENSION.to_owned(), JsonObject::new())].into_iter().collect()),
            other: JsonObject::new(),
        }
    }
}
