//! Era negotiation: probe `server/discover` (the stateless `2026-07-28`), fall back to the
//! `initialize` handshake; and the envelope stamped on every stateless-era request.

use serde_json::Value;

use super::{Client, EraPreference};
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::connection::to_object;

/// What era negotiation does when the `server/discover` probe of [`EraPreference::Auto`] goes
/// unanswered: older servers need not answer a method they do not know before `initialize`, and
/// some stop reading (or exit) on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unanswered {
    /// Send `initialize` on the same connection: an HTTP server (each request stands alone) or a
    /// stream we cannot start afresh.
    SameConnection,
    /// Fail with the probe's error (no answer in time, or the connection closed): the caller
    /// starts the process afresh and connects with [`Unanswered::Skip`].
    FreshProcess,
    /// Skip the probe and begin with `initialize`: a process started afresh after an unanswered
    /// probe. A `2026-07-28`-only server that refuses `initialize` naming our revision is then
    /// probed after all (it was only slow to start).
    Skip,
}

impl Client {
    /// Settles the era as [`ClientOptions::era`](super::ClientOptions::era) asks.
    pub(super) async fn negotiate(&mut self, unanswered: Unanswered) -> Result<()> {
        let era = self.options.era;
        if era == EraPreference::Modern || (era == EraPreference::Auto && unanswered != Unanswered::Skip) {
            let wait = match era {
                EraPreference::Modern => self.options.connect_timeout,
                _ => self.options.probe_timeout.min(self.options.connect_timeout),
            };
            match self.discover(wait).await {
                Ok(true) => return Ok(()),
                Ok(false) if era == EraPreference::Modern => {
                    return Err(self.protocol_error(methods::DISCOVER, "server does not speak 2026-07-28"));
                }
                Ok(false) => {}
                Err(e) if era == EraPreference::Modern => return Err(e),
                Err(e @ (Error::Timeout { .. } | Error::Closed { .. })) if unanswered == Unanswered::FreshProcess => {
                    return Err(e);
                }
                Err(e @ (Error::Closed { .. } | Error::Io(_))) => return Err(e),
                Err(e) => {
                    tracing::debug!(server = %self.peer.name(), error = %e, "no server/discover; using initialize")
                }
            }
        }
        match self.initialize().await {
            Err(Error::Rpc { error, .. })
                if era == EraPreference::Auto
                    && unanswered == Unanswered::Skip
                    && error.code == codes::UNSUPPORTED_PROTOCOL_VERSION
                    && names_our_revision(&error) =>
            {
                match self.discover(self.options.connect_timeout).await? {
                    true => Ok(()),
                    false => Err(self.protocol_error(methods::DISCOVER, "server does not speak 2026-07-28")),
                }
            }
            other => other,
        }
    }

    /// Probes `server/discover`; `Ok(true)` when the server speaks a modern revision we know.
    /// The first attempt waits `wait` for its answer.
    async fn discover(&mut self, wait: std::time::Duration) -> Result<bool> {
        let version = ProtocolVersion::LATEST_MODERN;
        let params = self.stamp(version, JsonObject::new());
        let id = self.peer.next_id();
        let first = self.peer.request(id, methods::DISCOVER, Some(params.clone()), wait).await;
        let raw = match first {
            // Rejected with -32022 naming a revision we speak: try once more with it.
            Err(Error::Rpc { error, .. })
                if error.code == codes::UNSUPPORTED_PROTOCOL_VERSION && names_our_revision(&error) =>
            {
                let id = self.peer.next_id();
                self.peer.request(id, methods::DISCOVER, Some(params), self.options.connect_timeout).await?
            }
            other => other?,
        };
        let result: DiscoverResult = serde_json::from_value(raw)
            .map_err(|e| self.protocol_error(methods::DISCOVER, &format!("invalid result: {e}")))?;
        if !result.supported_versions.iter().any(|v| v == version.as_str()) {
            return Ok(false);
        }
        self.version = version;
        self.server_info = result
            .envelope
            .meta
            .as_ref()
            .and_then(|m| m.get(meta_keys::SERVER_INFO))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        self.capabilities = result.capabilities;
        self.instructions = result.instructions;
        Ok(true)
    }

    /// The handshake: `initialize`, then `notifications/initialized`.
    async fn initialize(&mut self) -> Result<()> {
        let params = InitializeParams {
            protocol_version: ProtocolVersion::LATEST_HANDSHAKE.as_str().to_owned(),
            capabilities: self.options.capabilities.clone(),
            client_info: self.options.info.clone(),
        };
        let id = self.peer.next_id();
        let raw = self.peer.request(id, methods::INITIALIZE, to_object(&params), self.options.connect_timeout).await?;
        let result: InitializeResult = serde_json::from_value(raw)
            .map_err(|e| self.protocol_error(methods::INITIALIZE, &format!("invalid result: {e}")))?;
        let version = ProtocolVersion::parse(&result.protocol_version)
            .filter(|v| v.era() == Era::Handshake)
            .ok_or_else(|| {
                self.protocol_error(
                    methods::INITIALIZE,
                    &format!(
                        "server chose protocol version {:?}, which this client does not speak",
                        result.protocol_version
                    ),
                )
            })?;
        self.version = version;
        self.server_info = Some(result.server_info);
        self.capabilities = result.capabilities;
        self.instructions = result.instructions;
        self.peer.notify(methods::INITIALIZED, None).await
    }

    /// Adds the `2026-07-28` envelope to a request's params.
    pub(super) fn stamp(&self, version: ProtocolVersion, mut params: JsonObject) -> JsonObject {
        let meta = params.entry("_meta").or_insert_with(|| Value::Object(JsonObject::new()));
        if let Value::Object(meta) = meta {
            meta.insert(meta_keys::PROTOCOL_VERSION.into(), Value::from(version.as_str()));
            meta.insert(meta_keys::CLIENT_INFO.into(), serde_json::to_value(&self.options.info).unwrap_or_default());
            meta.insert(
                meta_keys::CLIENT_CAPABILITIES.into(),
                serde_json::to_value(&self.options.capabilities).unwrap_or_default(),
            );
        }
        params
    }

    /// Serializes params, adding the `2026-07-28` envelope when that is the era.
    pub(super) fn prepare<P: serde::Serialize>(&self, params: &P) -> JsonObject {
        let params = to_object(params).unwrap_or_default();
        if self.era() == Era::Modern { self.stamp(self.version, params) } else { params }
    }
}

/// Whether an "unsupported protocol version" refusal lists the `2026-07-28` revision we speak.
fn names_our_revision(error: &ErrorObject) -> bool {
    error
        .data
        .as_ref()
        .and_then(|d| serde_json::from_value::<UnsupportedVersionData>(d.clone()).ok())
        .is_some_and(|d| d.supported.iter().any(|v| v == ProtocolVersion::LATEST_MODERN.as_str()))
}
