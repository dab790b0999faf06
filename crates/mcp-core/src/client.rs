//! The client: connects to a server (child process or any byte stream), detects its era, and
//! lists and calls its tools, resources and prompts.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{McpConfig, ServerConfig};
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::DEFAULT_MAX_MESSAGE_BYTES;
use crate::transport::connection::{self, CloseReason, Handler, Peer, Role, to_object};

/// Upper bound on pages followed by the `list_*` helpers, against servers that loop.
const MAX_PAGES: usize = 1000;

/// Upper bound on rounds of input-required results answered for one call.
const MAX_INPUT_ROUNDS: usize = 8;

/// How the client picks the protocol era.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraPreference {
    /// Probe `server/discover`, fall back to `initialize` (the default).
    Auto,
    /// Go straight to `initialize` (for servers known to be older).
    Handshake,
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

/// Client settings; every field has a safe default.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Who we are.
    pub info: Implementation,
    /// What we support.
    pub capabilities: ClientCapabilities,
    /// How long any request may take before it is cancelled (default 60 s).
    pub request_timeout: Duration,
    /// How long the `server/discover` probe and `initialize` may take, server start-up included
    /// (default 30 s: `npx` may download the server first).
    pub connect_timeout: Duration,
    /// Era selection.
    pub era: EraPreference,
    /// The largest message accepted from the server (default 16 MiB).
    pub max_message_bytes: usize,
    /// Receives the server's notifications other than progress (e.g. `tools/list_changed`). In
    /// the `2026-07-28` era the client then keeps a `subscriptions/listen` stream open for tool
    /// changes (its acknowledgement arrives here too).
    pub notifications: Option<mpsc::UnboundedSender<Notification>>,
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
            era: EraPreference::Auto,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            notifications: None,
            input: None,
            #[cfg(feature = "http-client")]
            oauth: None,
        }
    }
}

/// One event of a streamed tool call: progress while it runs, then the result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A `notifications/progress` for this call.
    Progress(ProgressParams),
    /// The final result; the stream ends after it.
    Result(CallToolResult),
}

type ProgressRoutes = Arc<Mutex<HashMap<ProgressToken, mpsc::Sender<ProgressParams>>>>;

/// Progress notifications of one call held while its caller is busy; more are dropped (a later
/// one supersedes them), so a server that floods progress cannot grow our memory.
const PROGRESS_BACKLOG: usize = 64;

/// Removes a call's progress route when the call ends, however it ends (a dropped stream too).
struct RouteGuard {
    routes: ProgressRoutes,
    token: ProgressToken,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.token);
    }
}

/// A connection to one MCP server.
pub struct Client {
    peer: Peer,
    options: ClientOptions,
    version: ProtocolVersion,
    server_info: Option<Implementation>,
    capabilities: ServerCapabilities,
    instructions: Option<String>,
    progress: ProgressRoutes,
    #[cfg(feature = "stdio")]
    child: Option<Arc<tokio::sync::Mutex<tokio::process::Child>>>,
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
    /// Connects to the server `name` of a configuration file.
    pub async fn from_config(config: &McpConfig, name: &str, options: ClientOptions) -> Result<Client> {
        #[cfg(not(any(feature = "stdio", feature = "http-client")))]
        let _ = options;
        match config.server(name)? {
            #[cfg(feature = "stdio")]
            ServerConfig::Stdio(server) => Self::spawn(name, &server, options).await,
            #[cfg(not(feature = "stdio"))]
            ServerConfig::Stdio(_) => Err(Error::Protocol {
                server: name.to_owned(),
                method: "connect".into(),
                message: "stdio servers need the `stdio` feature of mcp-core".into(),
            }),
            #[cfg(feature = "http-client")]
            ServerConfig::Http(server) => Self::connect_http(name, &server, options).await,
            #[cfg(not(feature = "http-client"))]
            ServerConfig::Http(server) => Err(Error::Protocol {
                server: name.to_owned(),
                method: "connect".into(),
                message: format!(
                    "HTTP servers ({}) need the `http-client` feature of mcp-core",
                    server.scrubber().url(&server.url)
                ),
            }),
        }
    }

    /// Starts a server process and connects to it over its stdin and stdout.
    #[cfg(feature = "stdio")]
    pub async fn spawn(name: &str, server: &crate::config::StdioServer, options: ClientOptions) -> Result<Client> {
        let spawned = crate::transport::process::spawn(name, server)?;
        let child = spawned.child.clone();
        let mut client = Self::start(name, spawned.stdout, spawned.stdin, Some(spawned.close_reason), options).await;
        if let Ok(client) = &mut client {
            client.child = Some(child);
        }
        client
    }

    /// Connects over any reader and writer (a socket, a pipe, an in-memory duplex).
    pub async fn connect<R, W>(name: &str, reader: R, writer: W, options: ClientOptions) -> Result<Client>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Self::start(name, reader, writer, None, options).await
    }

    /// Connects to an HTTP server, picking the transport and era by itself: Streamable HTTP
    /// (either era, detected as for stdio), or the old HTTP+SSE transport of `2024-11-05` when the
    /// URL ends in `/sse` or the server refuses Streamable HTTP's POST with 404 or 405. Nothing
    /// said about the server shows its [`secrets`](crate::config::HttpServer::secrets), and nothing
    /// read from it may exceed [`ClientOptions::max_message_bytes`].
    #[cfg(feature = "http-client")]
    pub async fn connect_http(
        name: &str,
        server: &crate::config::HttpServer,
        options: ClientOptions,
    ) -> Result<Client> {
        let limit = options.max_message_bytes;
        // An `oauth` block in the configuration, and no OAuth set up in code: the interactive way.
        let mut options = options;
        if options.oauth.is_none()
            && let Some(entry) = &server.oauth
        {
            let config =
                crate::transport::oauth::OAuthConfig::interactive(entry, &options.info.name).map_err(Error::Io)?;
            options.oauth = Some(Arc::new(config));
        }
        if !crate::transport::http_client::names_legacy_sse(&server.url) {
            let attempt = Self::start_with(name, options.clone(), |handler| {
                crate::transport::http_client::start(name, server, options.oauth.clone(), limit, handler)
            })
            .await;
            let old_server = |e: &Error| {
                e.rpc_error().is_some_and(|r| r.message.starts_with("HTTP 404") || r.message.starts_with("HTTP 405"))
            };
            match attempt {
                Err(e) if old_server(&e) => tracing::debug!(server = name, "no Streamable HTTP; trying HTTP+SSE"),
                other => return other,
            }
        }
        let handler = Self::handler(name, &options);
        let peer = crate::transport::http_client::start_legacy_sse(name, server, limit, handler.clone()).await?;
        let options = ClientOptions { era: EraPreference::Handshake, ..options };
        Self::start_on(name, options, handler, peer).await
    }

    async fn start<R, W>(
        name: &str,
        reader: R,
        writer: W,
        close_reason: Option<CloseReason>,
        options: ClientOptions,
    ) -> Result<Client>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let engine_options = connection::Options {
            name: name.to_owned(),
            role: Role::Client,
            max_message_bytes: options.max_message_bytes,
            max_in_flight: connection::DEFAULT_MAX_IN_FLIGHT,
            close_reason,
        };
        Self::start_with(name, options, move |handler| Ok(connection::start(reader, writer, handler, engine_options).0))
            .await
    }

    fn handler(name: &str, options: &ClientOptions) -> Arc<ClientHandler> {
        Arc::new(ClientHandler {
            progress: Arc::default(),
            server: name.to_owned(),
            notifications: options.notifications.clone(),
            input: options.input.clone(),
        })
    }

    /// Builds the client on a transport started by `transport` with the client's handler.
    async fn start_with(
        name: &str,
        options: ClientOptions,
        transport: impl FnOnce(Arc<dyn Handler>) -> Result<Peer>,
    ) -> Result<Client> {
        let handler = Self::handler(name, &options);
        let peer = transport(handler.clone())?;
        Self::start_on(name, options, handler, peer).await
    }

    /// Builds the client on a running transport whose messages go to `handler`.
    async fn start_on(name: &str, options: ClientOptions, handler: Arc<ClientHandler>, peer: Peer) -> Result<Client> {
        let progress = handler.progress.clone();
        let mut client = Client {
            peer,
            options,
            version: ProtocolVersion::LATEST_HANDSHAKE,
            server_info: None,
            capabilities: ServerCapabilities::default(),
            instructions: None,
            progress,
            #[cfg(feature = "stdio")]
            child: None,
        };
        let span = tracing::info_span!("mcp.connect", server = %name);
        let _enter = span.enter();
        client.negotiate().await?;
        client.listen_for_changes();
        Ok(client)
    }

    /// In the stateless era a server announces changes only on a `subscriptions/listen` stream:
    /// when the caller wants notifications and the server's tool list can change, keep one open
    /// (reopened if the server ends it) for as long as the connection lives.
    fn listen_for_changes(&self) {
        let wanted = self.options.notifications.is_some()
            && self.era() == Era::Modern
            && self.capabilities.tools.as_ref().and_then(|t| t.list_changed) == Some(true);
        if !wanted {
            return;
        }
        let peer = self.peer.clone();
        let mut params = JsonObject::new();
        params.insert("notifications".into(), serde_json::json!({"toolsListChanged": true}));
        let params = self.stamp(self.version, params);
        // The stream has no deadline; ending the connection ends it.
        let forever = Duration::from_secs(60 * 60 * 24 * 365);
        tokio::spawn(async move {
            // A server that keeps refusing the stream is left alone after a few tries.
            let mut refusals = 0;
            loop {
                let id = peer.next_id();
                let outcome = peer.request(id, methods::SUBSCRIPTIONS_LISTEN, Some(params.clone()), forever).await;
                if peer.is_closed() {
                    break;
                }
                match outcome {
                    Err(Error::Rpc { error, .. }) if error.code == codes::METHOD_NOT_FOUND => break,
                    Ok(_) => {
                        // Ended gracefully (a server restarting, say): reopen, without spinning.
                        refusals = 0;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => {
                        refusals += 1;
                        if refusals >= 5 {
                            tracing::debug!(server = %peer.name(), error = %e, "the server keeps refusing a listen stream; giving up");
                            break;
                        }
                        tracing::debug!(server = %peer.name(), error = %e, "listen stream ended; reopening");
                        tokio::time::sleep(Duration::from_secs(refusals)).await;
                    }
                }
            }
        });
    }

    async fn negotiate(&mut self) -> Result<()> {
        if self.options.era != EraPreference::Handshake {
            match self.discover().await {
                Ok(true) => return Ok(()),
                Ok(false) if self.options.era == EraPreference::Modern => {
                    return Err(self.protocol_error(methods::DISCOVER, "server does not speak 2026-07-28"));
                }
                Ok(false) => {}
                Err(e @ (Error::Closed { .. } | Error::Io(_))) => return Err(e),
                Err(e) if self.options.era == EraPreference::Modern => return Err(e),
                Err(e) => {
                    tracing::debug!(server = %self.peer.name(), error = %e, "no server/discover; using initialize")
                }
            }
        }
        self.initialize().await
    }

    /// Probes `server/discover`; `Ok(true)` when the server speaks a modern revision we know.
    async fn discover(&mut self) -> Result<bool> {
        let version = ProtocolVersion::LATEST_MODERN;
        let params = self.stamp(version, JsonObject::new());
        let id = self.peer.next_id();
        let first = self.peer.request(id, methods::DISCOVER, Some(params.clone()), self.options.connect_timeout).await;
        let raw = match first {
            // Rejected with -32022 naming a revision we speak: try once more with it.
            Err(Error::Rpc { error, .. })
                if error.code == codes::UNSUPPORTED_PROTOCOL_VERSION
                    && error
                        .data
                        .as_ref()
                        .and_then(|d| serde_json::from_value::<UnsupportedVersionData>(d.clone()).ok())
                        .is_some_and(|d| d.supported.iter().any(|v| v == version.as_str())) =>
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
    fn stamp(&self, version: ProtocolVersion, mut params: JsonObject) -> JsonObject {
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

    fn protocol_error(&self, method: &str, message: &str) -> Error {
        Error::Protocol { server: self.peer.name().to_owned(), method: method.to_owned(), message: message.to_owned() }
    }

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

    /// Sends any request and decodes its result: the one path every typed call takes.
    pub async fn request<P: Serialize, T: DeserializeOwned>(&self, method: &str, params: &P) -> Result<T> {
        let id = self.peer.next_id();
        self.request_with_id(id, method, params, self.options.request_timeout).await
    }

    async fn request_with_id<P: Serialize, T: DeserializeOwned>(
        &self,
        id: RequestId,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<T> {
        send(self.peer.clone(), id, method.to_owned(), self.prepare(params), timeout).await
    }

    /// Serializes params, adding the `2026-07-28` envelope when that is the era.
    fn prepare<P: Serialize>(&self, params: &P) -> JsonObject {
        let params = to_object(params).unwrap_or_default();
        if self.era() == Era::Modern { self.stamp(self.version, params) } else { params }
    }

    /// One page of tools.
    pub async fn list_tools_page(&self, cursor: Option<String>) -> Result<ListToolsResult> {
        self.request(methods::TOOLS_LIST, &PaginatedParams { meta: None, cursor }).await
    }

    /// Every tool, following `nextCursor` to the end.
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        self.collect_pages(methods::TOOLS_LIST, |r: ListToolsResult| (r.tools, r.next_cursor)).await
    }

    /// Every resource.
    pub async fn list_resources(&self) -> Result<Vec<Resource>> {
        self.collect_pages(methods::RESOURCES_LIST, |r: ListResourcesResult| (r.resources, r.next_cursor)).await
    }

    /// Every resource template.
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>> {
        self.collect_pages(methods::RESOURCE_TEMPLATES_LIST, |r: ListResourceTemplatesResult| {
            (r.resource_templates, r.next_cursor)
        })
        .await
    }

    /// Every prompt.
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.collect_pages(methods::PROMPTS_LIST, |r: ListPromptsResult| (r.prompts, r.next_cursor)).await
    }

    async fn collect_pages<R: DeserializeOwned, T>(
        &self,
        method: &str,
        split: impl Fn(R) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page: R = self.request(method, &PaginatedParams { meta: None, cursor: cursor.take() }).await?;
            let (items, next) = split(page);
            all.extend(items);
            match next {
                Some(next) if !next.is_empty() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
        Err(self.protocol_error(method, &format!("more than {MAX_PAGES} pages; the server's cursors may loop")))
    }

    /// Calls a tool. A tool failure is `Ok` with `isError: true`; `Err` is for protocol failures.
    ///
    /// When the server answers with an input-required result (`2026-07-28`) and an
    /// [`InputHandler`] is configured, its questions are answered and the call retried with the
    /// answers and the server's request state, for up to 8 rounds.
    pub async fn call_tool(&self, name: &str, arguments: JsonObject) -> Result<CallToolResult> {
        let mut params = CallToolParams { name: name.to_owned(), arguments: Some(arguments), ..Default::default() };
        for _ in 0..MAX_INPUT_ROUNDS {
            match self.request::<_, Value>(methods::TOOLS_CALL, &params).await {
                Err(Error::InputRequired { result, .. }) if self.options.input.is_some() => {
                    params.input_responses = Some(self.answer_inputs(&result).await?);
                    params.request_state = result.request_state.clone();
                }
                Ok(raw) if raw.get("resultType").and_then(Value::as_str) == Some("task") => {
                    return self.follow_task(&raw).await;
                }
                Ok(raw) => {
                    return serde_json::from_value(raw)
                        .map_err(|e| self.protocol_error(methods::TOOLS_CALL, &format!("invalid result: {e}")));
                }
                Err(e) => return Err(e),
            }
        }
        Err(self
            .protocol_error(methods::TOOLS_CALL, &format!("still asking for input after {MAX_INPUT_ROUNDS} rounds")))
    }

    /// Follows a call the server turned into a task (tasks extension, when the client declared it):
    /// polls `tasks/get` at the server's pace, answers its questions with the [`InputHandler`]
    /// through `tasks/update`, and returns the result once there is one.
    async fn follow_task(&self, created: &Value) -> Result<CallToolResult> {
        let id = created.get("taskId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let failed = |what: String| self.protocol_error(methods::TASKS_GET, &format!("task `{id}` {what}"));
        let mut interval = created.get("pollIntervalMs").and_then(Value::as_u64).unwrap_or(500);
        let mut answered_rounds = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(interval.clamp(20, 5_000))).await;
            let task: Value = self.request(methods::TASKS_GET, &serde_json::json!({ "taskId": id })).await?;
            interval = task.get("pollIntervalMs").and_then(Value::as_u64).unwrap_or(interval);
            match task.get("status").and_then(Value::as_str).unwrap_or_default() {
                "completed" => {
                    let result = task.get("result").cloned().unwrap_or_default();
                    return serde_json::from_value(result).map_err(|e| failed(format!("has an invalid result: {e}")));
                }
                "failed" => {
                    let error: ErrorObject = task
                        .get("error")
                        .and_then(|e| serde_json::from_value(e.clone()).ok())
                        .unwrap_or_else(|| ErrorObject::internal("the task failed without saying why"));
                    return Err(Error::Rpc {
                        server: self.peer.name().to_owned(),
                        method: methods::TOOLS_CALL.into(),
                        error,
                    });
                }
                "cancelled" => return Err(failed("was cancelled".into())),
                "input_required" => {
                    let asked: InputRequiredResult = serde_json::from_value(task.clone())
                        .map_err(|e| failed(format!("asks for input in an invalid form: {e}")))?;
                    if self.options.input.is_none() {
                        return Err(Error::InputRequired {
                            server: self.peer.name().to_owned(),
                            method: methods::TOOLS_CALL.into(),
                            result: Box::new(asked),
                        });
                    }
                    answered_rounds += 1;
                    if answered_rounds > MAX_INPUT_ROUNDS {
                        return Err(failed(format!("still asks for input after {MAX_INPUT_ROUNDS} rounds")));
                    }
                    let answers = self.answer_inputs(&asked).await?;
                    let update = serde_json::json!({ "taskId": id, "inputResponses": answers });
                    self.request::<_, Value>(methods::TASKS_UPDATE, &update).await?;
                }
                _ => {}
            }
        }
    }

    /// Answers each request of an input-required result with the configured [`InputHandler`].
    async fn answer_inputs(&self, result: &InputRequiredResult) -> Result<JsonObject> {
        let Some(input) = &self.options.input else { return Ok(JsonObject::new()) };
        let mut answers = JsonObject::new();
        for (key, request) in result.input_requests.iter().flatten() {
            let params = request.params.clone().unwrap_or_default();
            let answer = match request.method.as_str() {
                "elicitation/create" => input.elicit(params).await,
                "sampling/createMessage" => input.sample(params).await,
                "roots/list" => input.roots().await,
                other => Err(ErrorObject::method_not_found(other)),
            };
            let answer = answer.map_err(|error| Error::Rpc {
                server: self.peer.name().to_owned(),
                method: request.method.clone(),
                error,
            })?;
            answers.insert(key.clone(), answer);
        }
        Ok(answers)
    }

    /// How many calls are waiting for progress now (calls in flight with a stream).
    pub fn progress_routes(&self) -> usize {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Calls a tool and streams its progress notifications, then its result.
    ///
    /// Dropping the stream before the result cancels the call (`notifications/cancelled`).
    pub fn call_tool_stream(&self, name: &str, arguments: JsonObject) -> ToolCallStream {
        let id = self.peer.next_id();
        let token = match &id {
            RequestId::Number(n) => ProgressToken::Number(*n),
            RequestId::String(s) => ProgressToken::String(s.clone()),
        };
        let (progress_tx, mut progress_rx) = mpsc::channel(PROGRESS_BACKLOG);
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).insert(token.clone(), progress_tx);
        let route = RouteGuard { routes: self.progress.clone(), token: token.clone() };
        let mut meta = JsonObject::new();
        meta.insert(meta_keys::PROGRESS_TOKEN.into(), serde_json::to_value(&token).unwrap_or_default());
        let params = CallToolParams {
            meta: Some(meta),
            name: name.to_owned(),
            arguments: Some(arguments),
            ..Default::default()
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let call = send::<CallToolResult>(
            self.peer.clone(),
            id,
            methods::TOOLS_CALL.to_owned(),
            self.prepare(&params),
            self.options.request_timeout,
        );
        // The call runs inside the stream (no spawned task), so dropping the stream drops the call,
        // which cancels it on the wire.
        let fut = async move {
            let route = route;
            let mut call = std::pin::pin!(call);
            let outcome = loop {
                tokio::select! {
                    biased;
                    Some(p) = progress_rx.recv() => { let _ = events_tx.send(Ok(CallEvent::Progress(p))); }
                    outcome = &mut call => break outcome,
                }
            };
            // Progress sent just before the result is still delivered first.
            while let Ok(p) = progress_rx.try_recv() {
                let _ = events_tx.send(Ok(CallEvent::Progress(p)));
            }
            drop(route);
            let _ = events_tx.send(outcome.map(CallEvent::Result));
        };
        ToolCallStream { driver: Some(Box::pin(fut)), events: events_rx }
    }

    /// Reads a resource.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult> {
        self.request(methods::RESOURCES_READ, &ReadResourceParams { meta: None, uri: uri.to_owned() }).await
    }

    /// Renders a prompt, answering input-required results like [`Client::call_tool`] does.
    pub async fn get_prompt(&self, name: &str, arguments: BTreeMap<String, String>) -> Result<GetPromptResult> {
        let mut params = GetPromptParams {
            meta: None,
            name: name.to_owned(),
            arguments: Some(arguments),
            input_responses: None,
            request_state: None,
        };
        for _ in 0..MAX_INPUT_ROUNDS {
            match self.request(methods::PROMPTS_GET, &params).await {
                Err(Error::InputRequired { result, .. }) if self.options.input.is_some() => {
                    params.input_responses = Some(self.answer_inputs(&result).await?);
                    params.request_state = result.request_state.clone();
                }
                other => return other,
            }
        }
        Err(self
            .protocol_error(methods::PROMPTS_GET, &format!("still asking for input after {MAX_INPUT_ROUNDS} rounds")))
    }

    /// Asks for completions of a prompt or template argument.
    pub async fn complete(
        &self,
        reference: CompletionReference,
        argument: CompletionArgument,
    ) -> Result<CompleteResult> {
        let params = CompleteParams { meta: None, reference, argument, context: None };
        self.request(methods::COMPLETE, &params).await
    }

    /// Liveness check (handshake era; modern servers may not implement it).
    pub async fn ping(&self) -> Result<()> {
        let _: Value = self.request(methods::PING, &JsonObject::new()).await?;
        Ok(())
    }

    /// Closes the connection: closes the server's input, waits briefly for it to exit, then kills
    /// it. Calls still running on other handles of this client fail with the close reason.
    pub async fn close(&self) -> Result<()> {
        self.peer.shutdown();
        #[cfg(feature = "stdio")]
        if let Some(child) = &self.child {
            let mut child = child.lock().await;
            if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
                child.kill().await?;
            }
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.peer.shutdown();
        // Dropped without `close`: do not leave the server process behind.
        #[cfg(feature = "stdio")]
        if let Some(child) = &self.child
            && let Ok(mut child) = child.try_lock()
        {
            let _ = child.start_kill();
        }
    }
}

/// Sends one request and decodes its result, turning an input-required result into an error.
async fn send<T: DeserializeOwned>(
    peer: Peer,
    id: RequestId,
    method: String,
    params: JsonObject,
    timeout: Duration,
) -> Result<T> {
    let span = tracing::debug_span!("mcp.call", server = %peer.name(), %method);
    let raw = peer.request(id, &method, Some(params), timeout).instrument(span).await?;
    let protocol_error =
        |message: String| Error::Protocol { server: peer.name().to_owned(), method: method.clone(), message };
    if raw.get("resultType").and_then(Value::as_str) == Some("input_required") {
        let result: InputRequiredResult =
            serde_json::from_value(raw).map_err(|e| protocol_error(format!("invalid input-required result: {e}")))?;
        return Err(Error::InputRequired { server: peer.name().to_owned(), method, result: Box::new(result) });
    }
    serde_json::from_value(raw).map_err(|e| protocol_error(format!("invalid result: {e}")))
}

#[async_trait]
impl crate::tool::CallTool for Client {
    async fn call_tool(&self, name: &str, arguments: JsonObject) -> Result<CallToolResult> {
        Client::call_tool(self, name, arguments).await
    }
}

/// The stream returned by [`Client::call_tool_stream`].
pub struct ToolCallStream {
    driver: Option<Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>>,
    events: mpsc::UnboundedReceiver<Result<CallEvent>>,
}

impl std::fmt::Debug for ToolCallStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCallStream").field("finished", &self.driver.is_none()).finish()
    }
}

impl ToolCallStream {
    /// Waits for the result, discarding progress.
    pub async fn result(mut self) -> Result<CallToolResult> {
        use std::future::poll_fn;
        loop {
            match poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await {
                Some(Ok(CallEvent::Result(r))) => return Ok(r),
                Some(Ok(CallEvent::Progress(_))) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Closed { server: String::new(), reason: "call ended without a result".into() });
                }
            }
        }
    }
}

impl Stream for ToolCallStream {
    type Item = Result<CallEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(driver) = self.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            self.driver = None;
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(event)),
            Poll::Ready(None) => Poll::Ready(None),
            // Once the driver is done every event has been queued, so an empty queue is the end.
            Poll::Pending if self.driver.is_none() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Takes what the server sends us besides responses.
struct ClientHandler {
    progress: ProgressRoutes,
    server: String,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
    input: Option<Arc<dyn InputHandler>>,
}

#[async_trait]
impl Handler for ClientHandler {
    async fn request(&self, _peer: Peer, request: Request, _cancel: CancellationToken) -> Result<Value, ErrorObject> {
        let params = request.params.unwrap_or_default();
        match (request.method.as_str(), &self.input) {
            (methods::PING, _) => Ok(Value::Object(JsonObject::new())),
            ("sampling/createMessage", Some(input)) => input.sample(params).await,
            ("elicitation/create", Some(input)) => input.elicit(params).await,
            ("roots/list", Some(input)) => input.roots().await,
            (other, _) => Err(ErrorObject::method_not_found(other)),
        }
    }

    fn notification(&self, _peer: &Peer, notification: Notification) {
        match notification.method.as_str() {
            methods::PROGRESS => {
                let Some(params) = notification.params else {
                    return;
                };
                let Ok(progress) = serde_json::from_value::<ProgressParams>(Value::Object(params)) else {
                    tracing::debug!(server = %self.server, "malformed progress notification");
                    return;
                };
                let routes = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(tx) = routes.get(&progress.progress_token) {
                    let _ = tx.try_send(progress);
                }
            }
            methods::MESSAGE => {
                if let Some(params) = notification.params
                    && let Ok(log) = serde_json::from_value::<LoggingMessageParams>(Value::Object(params))
                {
                    tracing::info!(server = %self.server, level = ?log.level, logger = ?log.logger, data = %log.data, "server log");
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
