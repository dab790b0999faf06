//! The client: connects to a server (child process or any byte stream), detects its era, and
//! lists and calls its tools, resources and prompts.
//!
//! This file holds the public types and the [`Client`] itself; the rest is split by job:
//! `connect` (transports), `negotiate` (probe `server/discover`, fall back to `initialize`),
//! `calls` (the typed calls, all through one `send`), `stream` (progress as a `Stream`),
//! `tasks` (following a call the server turned into a task), `listen` (the stateless era's
//! `subscriptions/listen` stream) and `handler` (what the server sends us).

mod calls;
mod connect;
mod handler;
mod listen;
mod negotiate;
mod stream;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;

/// Kills the process groups of every server process still running (see
/// [`Client::close`]); for a process about to exit without running destructors.
#[cfg(feature = "stdio")]
pub use crate::transport::process::kill_all as kill_server_processes;
pub use connect::resolve;
pub use listen::ResourceListen;
pub use stream::ToolCallStream;

use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::DEFAULT_MAX_MESSAGE_BYTES;
use crate::transport::connection::Peer;

/// Upper bound on rounds of input-required results answered for one call.
const MAX_INPUT_ROUNDS: usize = 8;

/// How the client picks the protocol era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraPreference {
    /// Probe `server/discover`, fall back to `initialize` (the default).
    Auto,
    /// Go straight to `initialize` (for servers known to be older).
    Handshake,
    /// Begin with `initialize`; a server that refuses it naming `2026-07-28` is then probed (for
    /// servers that leave `server/discover` unanswered, which newer versions of them may answer).
    HandshakeFirst,
    /// Require a `2026-07-28` server.
    Modern,
}

/// Answers the requests a server sends to the client: sampling, elicitation, roots. Declare the
/// matching capabilities in [`ClientOptions::capabilities`] too. Every method defaults to
/// "not supported" (-32601).
#[async_trait]
pub trait InputHandler: Send + Sync + std::fmt::Debug {
    /// `sampling/createMessage`: run the model and return a `CreateMessageResult`.
    async fn sample(&self, params: JsonObject) -> Result<Value, ErrorObject> {
        let _ = params;
        Err(ErrorObject::method_not_found("sampling/createMessage"))
    }
    /// `elicitation/create`: ask the user and return an `ElicitResult` (`action`, `content`).
    async fn elicit(&self, params: JsonObject) -> Result<Value, ErrorObject> {
        let _ = params;
        Err(ErrorObject::method_not_found("elicitation/create"))
    }
    /// `roots/list`: the roots the server may use.
    async fn roots(&self) -> Result<Value, ErrorObject> {
        Err(ErrorObject::method_not_found("roots/list"))
    }
}

/// Takes a server's log messages that named no call (see [`ClientOptions::logs`]). It is called
/// on the connection's reader, in the order the messages arrived, before anything that came
/// after them (a call's answer) is handled: keep it short, and never wait in it.
#[derive(Clone)]
pub struct LogSink(Arc<dyn Fn(LoggingMessageParams) + Send + Sync>);

impl LogSink {
    /// A sink that calls `take` with each message.
    pub fn new(take: impl Fn(LoggingMessageParams) + Send + Sync + 'static) -> Self {
        Self(Arc::new(take))
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogSink")
    }
}

/// Client settings; every field has a safe default.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Who we are.
    pub info: Implementation,
    /// What we support.
    pub capabilities: ClientCapabilities,
    /// How long any request may take before it is cancelled (default 60 s).
    pub request_timeout: Duration,
    /// How long the `server/discover` probe and `initialize` may each take, server start-up
    /// included (default 30 s: `npx` may download the server first). A child started afresh
    /// after an unanswered probe (see `probe_timeout`) gets what is left of it, at least one
    /// `probe_timeout` (so such a start may take the longer of `connect_timeout` and two probe
    /// waits, plus `probe_timeout` and the 2 s the first process gets to exit: 42 s at most by
    /// default).
    pub connect_timeout: Duration,
    /// How long the `server/discover` probe waits under [`EraPreference::Auto`] before
    /// `initialize` is sent (default 10 s, at most `connect_timeout`). Older servers need not
    /// answer a method they do not know before `initialize`: some ignore it, some never answer
    /// anything again, some exit. A child process is sent `initialize` beside the probe, and
    /// whichever is answered first settles the era (a server slow to start has the whole
    /// `connect_timeout`, at least two probe waits, to answer either); when neither is, or
    /// the process exits on the probe, it is started afresh with
    /// [`EraPreference::HandshakeFirst`] and the rest of `connect_timeout` (at least one more
    /// `probe_timeout`). An HTTP server or a plain stream is sent `initialize` instead.
    pub probe_timeout: Duration,
    /// Era selection.
    pub era: EraPreference,
    /// The largest message accepted from the server (default 16 MiB).
    pub max_message_bytes: usize,
    /// Receives the server's notifications other than progress and log messages (e.g.
    /// `tools/list_changed`). In the `2026-07-28` era the client then keeps a
    /// `subscriptions/listen` stream open for list changes (its acknowledgement is its own).
    pub notifications: Option<mpsc::UnboundedSender<Notification>>,
    /// Takes the server's log messages (`notifications/message`, masked) that did not arrive on
    /// one of our calls' response streams: over stdio every one, since no message there names
    /// its request (see [`CallEvent::Log`]). Without it they go only to this process's log.
    pub logs: Option<LogSink>,
    /// Answers the server's requests for sampling, elicitation and roots.
    pub input: Option<Arc<dyn InputHandler>>,
    /// OAuth for HTTP servers that ask for it (`401` with `WWW-Authenticate: Bearer`).
    #[cfg(feature = "http-client")]
    pub oauth: Option<Arc<crate::transport::oauth::OAuthConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            info: Implementation::new("mcp-core", env!("CARGO_PKG_VERSION")),
            capabilities: ClientCapabilities::default(),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(10),
            era: EraPreference::Auto,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            notifications: None,
            logs: None,
            input: None,
            #[cfg(feature = "http-client")]
            oauth: None,
        }
    }
}

/// Masks a server's secrets in what it says that we log or pass on: its stderr (and so the reason
/// it exited) and its log messages. Its secrets are what the `${VAR}`s of its configuration
/// expanded to, a child's environment values and an HTTP server's
/// [`secrets`](crate::config::HttpServer::secrets).
#[derive(Clone, Default)]
pub(crate) struct Masking(Arc<[String]>);

impl Masking {
    /// Masks these values; short ones (under 6 bytes) are left, as masking them would mangle
    /// ordinary text.
    #[cfg(any(feature = "stdio", feature = "http-client"))]
    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|v| v.len() >= 6).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self(secrets.into())
    }

    /// Every string in `value` masked, each on its own (a secret with a quote or a backslash in
    /// it is not found in the JSON text of the value).
    pub(crate) fn json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.text(std::mem::take(s)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.json(v)),
            _ => {}
        }
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub(crate) fn text(&self, mut text: String) -> String {
        for secret in self.0.iter() {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[REDACTED]");
            }
        }
        text
    }
}

/// One event of a streamed tool call: progress and log messages while it runs, then the result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// A `notifications/progress` for this call.
    Progress(ProgressParams),
    /// A `notifications/message` that arrived on this call's own response stream (Streamable
    /// HTTP), masked as the server's other words are. Where no message names its request (stdio,
    /// a session's GET stream) they go to [`ClientOptions::logs`] instead.
    Log(LoggingMessageParams),
    /// The final result; the stream ends after it.
    Result(CallToolResult),
}

/// A connection to one MCP server.
pub struct Client {
    peer: Peer,
    options: ClientOptions,
    version: ProtocolVersion,
    server_info: Option<Implementation>,
    capabilities: ServerCapabilities,
    instructions: Option<String>,
    routes: stream::CallRoutes,
    listens: listen::ListenRoutes,
    #[cfg(feature = "stdio")]
    process: Option<crate::transport::process::ServerProcess>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.peer.name())
            .field("version", &self.version)
            .field("server_info", &self.server_info)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The server's name in the configuration (or as given to [`Client::connect`]).
    pub fn name(&self) -> &str {
        self.peer.name()
    }

    /// The negotiated protocol revision.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.version
    }

    /// The negotiated era.
    pub fn era(&self) -> Era {
        self.version.era()
    }

    /// The server's self-reported identity, if it gave one.
    pub fn server_info(&self) -> Option<&Implementation> {
        self.server_info.as_ref()
    }

    /// The server's capabilities.
    pub fn capabilities(&self) -> &ServerCapabilities {
        &self.capabilities
    }

    /// The server's instructions for the model, if any.
    pub fn instructions(&self) -> Option<&str> {
        self.instructions.as_deref()
    }

    /// True once the server has gone away.
    pub fn is_closed(&self) -> bool {
        self.peer.is_closed()
    }

    /// Why the connection closed (exit status, last stderr lines), once it has.
    pub fn close_reason(&self) -> Option<String> {
        self.peer.close_reason()
    }

    /// Completes when the server has gone away (at once if it already has).
    pub async fn closed(&self) {
        self.peer.closed().await;
    }

    /// Closes the connection: closes the server's input, waits briefly for it to exit, then kills
    /// it; whatever a server process started goes with it. Calls still running on other handles of this client fail with the close reason.
    pub async fn close(&self) -> Result<()> {
        self.peer.shutdown();
        #[cfg(feature = "stdio")]
        if let Some(process) = &self.process
            && process.exited_within(Duration::from_secs(2)).await.is_none()
        {
            process.kill();
            let _ = process.exited_within(Duration::from_secs(2)).await;
        }
        Ok(())
    }

    /// Gives up on the server: calls still waiting fail at once with `reason`, then it is closed
    /// as by [`Client::close`]. (The supervisor's, which comes with the pipeline.)
    #[cfg(feature = "pipeline")]
    pub(crate) async fn abandon(&self, reason: String) {
        self.peer.close(reason);
        let _ = self.close().await;
    }

    /// The era preference this client connected with.
    #[cfg(feature = "pipeline")]
    pub(crate) fn era_preference(&self) -> EraPreference {
        self.options.era
    }

    fn protocol_error(&self, method: &str, message: &str) -> Error {
        Error::Protocol { server: self.peer.name().to_owned(), method: method.to_owned(), message: message.to_owned() }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropped without `close`: the server process (if any) is killed as `process` drops.
        self.peer.shutdown();
    }
}

#[async_trait]
impl crate::tool::CallTool for Client {
    async fn call_tool(&self, name: &str, arguments: JsonObject) -> Result<CallToolResult> {
        Client::call_tool(self, name, arguments).await
    }
}
