//! The era of one request, and everything that differs by era in what the server answers: the
//! one place definitions and results are reshaped for a revision.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Connection, ServerInner};
use crate::protocol::*;
use crate::transport::connection::raw;

/// How long clients of `2026-07-28` may cache discovery and list results: the set is fixed for
/// the life of the server, but a minute keeps a restarted server with new tools from looking stale.
pub(super) const LIST_TTL_MS: u64 = 60_000;

/// How one request is to be answered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Handshake,
    Modern,
}

impl Framing {
    /// A tool's definition as this era lists it (`Tool::for_handshake_era`: object schemas
    /// only), under the tool's name.
    pub(super) fn tool(self, tool: &dyn crate::Tool) -> Tool {
        let mut listed = match self {
            Framing::Modern => tool.definition().for_modern_era(),
            Framing::Handshake => tool.definition().for_handshake_era(),
        };
        if listed.name != tool.name() {
            tool.name().clone_into(&mut listed.name);
        }
        listed
    }
}

impl Connection {
    /// Decides the era of one request from its `_meta`, refusing revisions we do not know.
    pub(super) fn framing(&self, params: &JsonObject) -> Result<Framing, ErrorObject> {
        let requested = meta_keys::requested_version(Some(params));
        let Some(requested) = requested else {
            return Ok(Framing::Handshake);
        };
        let text = requested.as_str().unwrap_or_default();
        match ProtocolVersion::parse(text) {
            Some(v) if v.era() == Era::Modern => Ok(Framing::Modern),
            Some(_) => Ok(Framing::Handshake),
            None => Err(ErrorObject::new(
                codes::UNSUPPORTED_PROTOCOL_VERSION,
                format!("unsupported protocol version {requested}"),
            )
            .with_data(serde_json::json!({ "supported": ProtocolVersion::all_strings(), "requested": requested }))),
        }
    }
}

impl ServerInner {
    /// Serializes a result, stamped with the `2026-07-28` fields when the request was modern
    /// ([`Stamp`]), written straight to its text. An older era's result has nothing to add, and
    /// the one field it must not carry, the cache hints, its callers leave out
    /// ([`ServerInner::cache_hints`]).
    pub(super) fn finish<T: Stamp>(&self, mut result: T, framing: Framing) -> Result<Box<RawValue>, ErrorObject> {
        if framing == Framing::Modern {
            result.stamp(self.info_json.clone());
        }
        raw(&result)
    }

    /// A tool's result as [`ServerInner::finish`] answers it, reshaped for its era.
    pub(super) fn finish_call(&self, result: CallToolResult, framing: Framing) -> Result<Box<RawValue>, ErrorObject> {
        match framing {
            Framing::Handshake => self.finish(result.for_handshake_era(), framing),
            Framing::Modern => self.finish(result, framing),
        }
    }
}

impl ServerInner {
    /// The caching hints of `2026-07-28` results: fresh for the server's list time to live, for
    /// this client only. Older eras define no such fields: none for them.
    pub(super) fn cache_hints(&self, framing: Framing) -> CacheHints {
        match framing {
            Framing::Modern => CacheHints { ttl_ms: Some(self.list_ttl_ms), cache_scope: Some(CacheScope::Private) },
            Framing::Handshake => CacheHints::default(),
        }
    }
}

/// A result as a `2026-07-28` client gets it: a `resultType` (`complete` unless it already says
/// otherwise) and the server's info in its `_meta`, beside whatever `_meta` it has.
pub(super) trait Stamp: Serialize {
    fn stamp(&mut self, server_info: Value);
}

impl Stamp for ResultEnvelope {
    fn stamp(&mut self, server_info: Value) {
        self.result_type.get_or_insert(ResultType::Complete);
        self.meta.get_or_insert_default().insert(meta_keys::SERVER_INFO.into(), server_info);
    }
}

/// Results built as maps (task answers, `subscriptions/listen`).
impl Stamp for JsonObject {
    fn stamp(&mut self, server_info: Value) {
        self.entry("resultType").or_insert_with(|| Value::from("complete"));
        if let Value::Object(meta) = self.entry("_meta").or_insert_with(|| Value::Object(JsonObject::new())) {
            meta.insert(meta_keys::SERVER_INFO.into(), server_info);
        }
    }
}

macro_rules! stamped_by_envelope {
    ($($result:ty),* $(,)?) => {$(
        impl Stamp for $result {
            fn stamp(&mut self, server_info: Value) {
                self.envelope.stamp(server_info);
            }
        }
    )*};
}

stamped_by_envelope!(
    DiscoverResult,
    ListToolsResult,
    CallToolResult,
    InputRequiredResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ReadResourceResult,
    ListPromptsResult,
    GetPromptResult,
    CompleteResult,
);
