//! Era negotiation: probe `server/discover` (the stateless `2026-07-28`), fall back to the
//! `initialize` handshake; and the envelope stamped on every stateless-era request.

use std::time::Duration;

use serde_json::Value;

use super::{Client, EraPreference};
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::connection::to_object;

/// How connecting failed: the error, and whether the `server/discover` probe went unanswered (no
/// answer, or the connection closed before one) on a child process, which is then worth starting
/// afresh and sending `initialize` first.
#[derive(Debug)]
pub(super) struct Failed {
    pub error: Error,
    #[cfg_attr(not(feature = "stdio"), allow(dead_code))]
    pub probe_unanswered: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed { error, probe_unanswered: false }
    }
}

/// What [`EraPreference::Auto`] does while the `server/discover` probe goes unanswered. Older
/// servers need not answer a method they do not know before `initialize`: some ignore it, some
/// stop reading altogether (the Python SDK of early 2025), some exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unanswered {
    /// After `probe_timeout`, send `initialize` instead: an HTTP server (each request stands
    /// alone) or a stream that cannot be started afresh.
    SameConnection,
    /// A child process: after `probe_timeout`, send `initialize` too and take whichever is
    /// answered first (a server slow to start answers in order, the probe first). Should neither
    /// be answered by `connect_timeout` (at least another `probe_timeout`), or the process exit
    /// before it answers the probe, connecting fails with [`Failed::probe_unanswered`]. A server
    /// slow to start (a package fetched, a runtime warming up) cannot be told from one the probe
    /// silenced but by waiting: it keeps the whole `connect_timeout` to answer.
    #[cfg_attr(not(feature = "stdio"), allow(dead_code))]
    FreshProcess,
}

impl Client {
    /// Settles the era as [`ClientOptions::era`](super::ClientOptions::era) asks.
    pub(super) async fn negotiate(&mut self, unanswered: Unanswered) -> std::result::Result<(), Failed> {
        match (self.options.era, unanswered) {
            (EraPreference::Handshake | EraPreference::HandshakeFirst, _) => Ok(self.initialize().await?),
            (EraPreference::Modern, _) => Ok(self.require_modern().await?),
            (EraPreference::Auto, Unanswered::SameConnection) => {
                let probed = self.discover(self.probe_wait()).await;
                Ok(self.after_probe(probed).await?)
            }
            (EraPreference::Auto, Unanswered::FreshProcess) => self.probe_child().await,
        }
    }

    /// How long the probe of [`EraPreference::Auto`] waits before `initialize` is sent.
    fn probe_wait(&self) -> Duration {
        self.options.probe_timeout.min(self.options.connect_timeout)
    }

    /// [`Unanswered::FreshProcess`].
    async fn probe_child(&mut self) -> std::result::Result<(), Failed> {
        let unanswered = |error| Failed { error, probe_unanswered: true };
        let (peer, wait) = (self.peer.clone(), self.probe_wait());
        // After the probe's window, the process has until `connect_timeout` to answer either.
        let rest = self.options.connect_timeout.saturating_sub(wait).max(wait);
        let window = wait.saturating_add(rest);
        // Long enough that the requests' own deadlines never come with the windows below (a
        // margin of its own, should the probe's wait be zero).
        let patience = window.saturating_add(wait.max(Duration::from_secs(1)));
        let discover = peer.request(peer.next_id(), methods::DISCOVER, Some(self.discover_params()), patience);
        tokio::pin!(discover);
        let answer = match tokio::time::timeout(wait, &mut discover).await {
            Ok(answer) => answer,
            Err(_) => {
                // A server slow to start, one that ignores the probe, or one the probe stopped.
                let params = self.initialize_params();
                let initialize = peer.request(peer.next_id(), methods::INITIALIZE, params, patience);
                tokio::pin!(initialize);
                tokio::select! {
                    // Answers come in order: a server slow to start answers the probe first.
                    biased;
                    answer = &mut discover => match answer {
                        Err(e @ Error::Closed { .. }) => return Err(unanswered(e)),
                        // Alive and answering: modern, or its answer to `initialize` settles it.
                        answer => match self.settle_discover(answer).await {
                            Ok(true) => return Ok(()),
                            _ => return Ok(self.settle_initialize(initialize.await).await?),
                        },
                    },
                    answer = &mut initialize => match answer {
                        Err(e @ Error::Closed { .. }) => return Err(unanswered(e)),
                        answer => return Ok(self.settle_initialize(answer).await?),
                    },
                    () = tokio::time::sleep(rest) => {
                        let (server, method) = (self.peer.name().to_owned(), "server/discover or initialize".to_owned());
                        return Err(unanswered(Error::Timeout { server, method, after: window }));
                    }
                }
            }
        };
        match answer {
            Err(e @ Error::Closed { .. }) => Err(unanswered(e)),
            answer => {
                let probed = self.settle_discover(answer).await;
                Ok(self.after_probe(probed).await?)
            }
        }
    }

    /// After a probe that was answered (`probed`): done when the server is modern, else the
    /// handshake; a connection that failed ends it.
    async fn after_probe(&mut self, probed: Result<bool>) -> Result<()> {
        match probed {
            Ok(true) => Ok(()),
            Ok(false) => self.initialize().await,
            Err(e @ (Error::Closed { .. } | Error::Io(_))) => Err(e),
            Err(e) => {
                tracing::debug!(server = %self.peer.name(), error = %e, "no server/discover; using initialize");
                self.initialize().await
            }
        }
    }

    /// Probes `server/discover`, waiting `connect_timeout`: the server must speak our modern
    /// revision.
    async fn require_modern(&mut self) -> Result<()> {
        match self.discover(self.options.connect_timeout).await? {
            true => Ok(()),
            false => Err(self.protocol_error(methods::DISCOVER, "server does not speak 2026-07-28")),
        }
    }

    /// Probes `server/discover`, waiting `wait` for the first answer; `Ok(true)` when the server
    /// speaks a modern revision we know.
    async fn discover(&mut self, wait: Duration) -> Result<bool> {
        let peer = self.peer.clone();
        let answer = peer.request(peer.next_id(), methods::DISCOVER, Some(self.discover_params()), wait).await;
        self.settle_discover(answer).await
    }

    fn discover_params(&self) -> JsonObject {
        self.stamp(ProtocolVersion::LATEST_MODERN, JsonObject::new())
    }

    /// Takes the probe's answer: `Ok(true)` (and the server's details) when it speaks our modern
    /// revision. Refused with -32022 naming that revision, it is asked once more.
    async fn settle_discover(&mut self, answer: Result<Value>) -> Result<bool> {
        let version = ProtocolVersion::LATEST_MODERN;
        let raw = match answer {
            Err(Error::Rpc { error, .. })
                if error.code == codes::UNSUPPORTED_PROTOCOL_VERSION && names_our_revision(&error) =>
            {
                let (id, params) = (self.peer.next_id(), self.discover_params());
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
        let (id, params) = (self.peer.next_id(), self.initialize_params());
        let answer = self.peer.request(id, methods::INITIALIZE, params, self.options.connect_timeout).await;
        self.settle_initialize(answer).await
    }

    fn initialize_params(&self) -> Option<JsonObject> {
        to_object(&InitializeParams {
            protocol_version: ProtocolVersion::LATEST_HANDSHAKE.as_str().to_owned(),
            capabilities: self.options.capabilities.clone(),
            client_info: self.options.info.clone(),
        })
    }

    /// Takes the answer to `initialize`, then sends `notifications/initialized`. A server that
    /// refuses it with -32022 naming our modern revision speaks only that one (it was slow to
    /// answer the probe, or was not probed): unless the handshake era was asked for, it is probed.
    async fn settle_initialize(&mut self, answer: Result<Value>) -> Result<()> {
        let raw = match answer {
            Err(Error::Rpc { error, .. })
                if self.options.era != EraPreference::Handshake
                    && error.code == codes::UNSUPPORTED_PROTOCOL_VERSION
                    && names_our_revision(&error) =>
            {
                return self.require_modern().await;
            }
            other => other?,
        };
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
