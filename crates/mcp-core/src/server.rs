//! Serving a [`Registry`] to clients of either era.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::protocol::*;
use crate::registry::Registry;
use crate::tool::{ToolContext, ToolSet};
use crate::transport::DEFAULT_MAX_MESSAGE_BYTES;
use crate::transport::connection::{self, Handler, Peer, Role};

/// How long clients of `2026-07-28` may cache discovery and list results: the set is fixed for
/// the life of the server, but a minute keeps a restarted server with new tools from looking stale.
const LIST_TTL_MS: u64 = 60_000;

/// How long a cancelled tool may run on to clean up before its future is dropped.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// An MCP server over one [`Registry`]. Cheap to clone; serve as many connections as you like.
#[derive(Clone, Debug)]
pub struct Server {
    inner: Arc<ServerInner>,
}

/// Decides whether a tool is listed to a caller (`principal`, `tool`). Listing is not protection:
/// calls must be authorized too (the gateway's pipeline does that).
pub type ToolFilter = Arc<dyn Fn(&str, &Tool) -> bool + Send + Sync>;

/// Answers `completion/complete`: suggestions for an argument of a prompt or resource template.
pub type Completer = Arc<dyn Fn(&CompleteParams) -> Completion + Send + Sync>;

struct ServerInner {
    info: Implementation,
    instructions: Option<String>,
    registry: Registry,
    /// The tools, replaceable while serving (see [`Server::replace_tools`]).
    tools: RwLock<Arc<ToolSet>>,
    filter: Option<ToolFilter>,
    /// `completion/complete`, declared only when set.
    completer: Option<Completer>,
    /// Whether resources change and their updates are sent (`resources.subscribe`).
    announces_updates: bool,
    principal: Arc<str>,
    page_size: usize,
    max_message_bytes: usize,
    max_in_flight: usize,
    /// Tells every connection that the tool list changed.
    list_changed: tokio::sync::broadcast::Sender<()>,
    /// Tells every connection that a resource changed (sent to those subscribed to it).
    resource_updates: tokio::sync::broadcast::Sender<String>,
    /// Tool calls running as tasks (tasks extension).
    tasks: crate::tasks::Tasks,
}

impl std::fmt::Debug for ServerInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("info", &self.info).field("registry", &self.registry).finish_non_exhaustive()
    }
}

/// Builds a [`Server`].
#[derive(Debug)]
pub struct ServerBuilder {
    inner: ServerInner,
}

impl ServerBuilder {
    /// Guidance for the model, sent in `initialize` and `server/discover` results.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.inner.instructions = Some(instructions.into());
        self
    }

    /// Items per page of `tools/list`, `resources/list` and `prompts/list` (default 100).
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.inner.page_size = page_size.max(1);
        self
    }

    /// The largest message accepted; longer lines are rejected with -32600 (default 16 MiB).
    pub fn max_message_bytes(mut self, max: usize) -> Self {
        self.inner.max_message_bytes = max;
        self
    }

    /// Requests of one connection handled at once (default 256). Past it the server stops
    /// reading that connection until answers are written: a client that sends without reading
    /// stalls itself, not the server.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.inner.max_in_flight = max.max(1);
        self
    }

    /// Answers `completion/complete` with `completer` and declares the `completions` capability
    /// (without one, the capability is not declared and the method is not found).
    pub fn completions(mut self, completer: Completer) -> Self {
        self.inner.completer = Some(completer);
        self
    }

    /// Declares that resources change and that their updates are sent (call
    /// [`Server::notify_resource_updated`]): clients may subscribe. Off by default, so no client
    /// waits for updates that never come.
    pub fn resource_updates(mut self, on: bool) -> Self {
        self.inner.announces_updates = on;
        self
    }

    /// Hides tools from `tools/list` per caller. Calls are not affected: authorize them in the
    /// tools themselves or in a pipeline.
    pub fn tool_filter(mut self, filter: ToolFilter) -> Self {
        self.inner.filter = Some(filter);
        self
    }

    /// The principal of callers on this server's connections (default `stdio`): whoever can
    /// write to the server's input. Transports with authentication set their own.
    pub fn principal(mut self, principal: impl Into<Arc<str>>) -> Self {
        self.inner.principal = principal.into();
        self
    }

    /// Finishes.
    pub fn build(self) -> Server {
        Server { inner: Arc::new(self.inner) }
    }
}

impl Server {
    /// A builder for a server named by `info` serving `registry`.
    pub fn builder(info: Implementation, registry: Registry) -> ServerBuilder {
        let tools = RwLock::new(Arc::new(registry.tools.clone()));
        ServerBuilder {
            inner: ServerInner {
                info,
                instructions: None,
                registry,
                tools,
                filter: None,
                completer: None,
                announces_updates: false,
                principal: Arc::from("stdio"),
                page_size: 100,
                max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
                max_in_flight: connection::DEFAULT_MAX_IN_FLIGHT,
                list_changed: tokio::sync::broadcast::channel(16).0,
                resource_updates: tokio::sync::broadcast::channel(256).0,
                tasks: crate::tasks::Tasks::default(),
            },
        }
    }

    /// Replaces the served tools and sends `notifications/tools/list_changed` to every connection.
    pub fn replace_tools(&self, tools: ToolSet) {
        *self.inner.tools.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tools);
        let _ = self.inner.list_changed.send(());
    }

    /// Announces that the resource at `uri` changed: clients subscribed to it (handshake era)
    /// are sent `notifications/resources/updated`.
    pub fn notify_resource_updated(&self, uri: impl Into<String>) {
        let _ = self.inner.resource_updates.send(uri.into());
    }

    /// The tools served now.
    pub fn tools(&self) -> Arc<ToolSet> {
        self.inner.current_tools()
    }

    /// Serves one connection until its input ends.
    pub async fn serve<R, W>(&self, reader: R, writer: W) -> Result<()>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let handler = self.connection(self.inner.principal.clone());
        let subscriptions = handler.clone();
        let mut updates = self.inner.resource_updates.subscribe();
        let options = connection::Options {
            name: "client".to_owned(),
            role: Role::Server,
            max_message_bytes: self.inner.max_message_bytes,
            max_in_flight: self.inner.max_in_flight,
            close_reason: None,
        };
        let mut changes = self.inner.list_changed.subscribe();
        let (peer, task) = connection::start(reader, writer, handler, options);
        // Forward tool-list changes to this client for as long as the connection lives.
        let forwarder = tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let sent = tokio::select! {
                    // A stateless-era client hears of changes only on a `subscriptions/listen` stream.
                    change = changes.recv() => match change {
                        Ok(()) | Err(RecvError::Lagged(_)) if subscriptions.handshaken() => {
                            peer.notify(methods::TOOLS_LIST_CHANGED, None).await
                        }
                        Ok(()) | Err(RecvError::Lagged(_)) => Ok(()),
                        Err(RecvError::Closed) => break,
                    },
                    update = updates.recv() => match update {
                        Ok(uri) if subscriptions.subscribed(&uri) => {
                            let params = serde_json::json!({ "uri": uri });
                            peer.notify(methods::RESOURCE_UPDATED, params.as_object().cloned()).await
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => Ok(()),
                        Err(RecvError::Closed) => break,
                    },
                };
                if sent.is_err() || peer.is_closed() {
                    break;
                }
            }
        });
        let finished = task.await;
        forwarder.abort();
        finished.map_err(|e| std::io::Error::other(format!("server task failed: {e}")))?;
        Ok(())
    }

    /// A fresh connection handler (its own handshake state) for `principal`.
    pub(crate) fn connection(&self, principal: Arc<str>) -> Arc<Connection> {
        Arc::new(Connection { server: self.inner.clone(), session: Mutex::new(Session::default()), principal })
    }

    /// Subscribes to resource updates (for transports that push notifications themselves).
    #[cfg(feature = "http-server")]
    pub(crate) fn resource_updates(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.resource_updates.subscribe()
    }

    /// Subscribes to tool-list changes (for transports that push notifications themselves).
    #[cfg(feature = "http-server")]
    pub(crate) fn list_changes(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.inner.list_changed.subscribe()
    }

    /// Serves the process's own stdin and stdout (what a host launching this program expects).
    #[cfg(feature = "stdio")]
    pub async fn serve_stdio(&self) -> Result<()> {
        self.serve(tokio::io::stdin(), tokio::io::stdout()).await
    }
}

/// Per-connection state of the handshake era.
#[derive(Debug, Default)]
struct Session {
    version: Option<ProtocolVersion>,
    client: Option<Implementation>,
    capabilities: Option<ClientCapabilities>,
    /// Resource URIs the client subscribed to.
    subscriptions: std::collections::HashSet<String>,
    /// The least severe log level the client wants (`logging/setLevel`); all until it says.
    log_level: Option<LoggingLevel>,
}

pub(crate) struct Connection {
    server: Arc<ServerInner>,
    session: Mutex<Session>,
    /// Who is calling on this connection.
    principal: Arc<str>,
}

/// How one request is to be answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Handshake,
    Modern,
}

#[async_trait]
impl Handler for Connection {
    async fn request(&self, peer: Peer, request: Request, cancel: CancellationToken) -> Result<Value, ErrorObject> {
        let params = request.params.unwrap_or_default();
        let framing = self.framing(&params)?;
        let s = &self.server;
        match request.method.as_str() {
            // The stateless era removed the handshake, ping, setLevel and subscriptions.
            methods::INITIALIZE
            | methods::PING
            | methods::SET_LEVEL
            | "resources/subscribe"
            | "resources/unsubscribe"
                if framing == Framing::Modern =>
            {
                Err(ErrorObject::method_not_found(&request.method))
            }
            methods::INITIALIZE => self.initialize(params),
            methods::SUBSCRIPTIONS_LISTEN if framing == Framing::Modern => {
                self.listen(peer, request.id, params, cancel).await
            }
            methods::DISCOVER => {
                let result = DiscoverResult {
                    envelope: ResultEnvelope::default(),
                    cache: cache_hints(),
                    supported_versions: ProtocolVersion::all_strings(),
                    capabilities: s.capabilities(Framing::Modern),
                    instructions: s.instructions.clone(),
                };
                s.finish(result, Framing::Modern)
            }
            methods::PING => Ok(Value::Object(JsonObject::new())),
            methods::TOOLS_LIST => {
                let p: PaginatedParams = parse_params(params)?;
                let principal = self.principal.clone();
                let tools: Vec<Tool> = s
                    .current_tools()
                    .iter()
                    .map(|t| t.definition())
                    .filter(|d| s.filter.as_ref().is_none_or(|f| f(&principal, d)))
                    .map(|d| match framing {
                        Framing::Modern => d.for_modern_era(),
                        Framing::Handshake => d.for_handshake_era(),
                    })
                    .collect();
                let (tools, next_cursor) = s.page(tools, p.cursor.as_deref())?;
                s.finish(
                    ListToolsResult { envelope: Default::default(), cache: cache_hints(), tools, next_cursor },
                    framing,
                )
            }
            methods::TOOLS_CALL => {
                let p: CallToolParams = parse_params(params)?;
                let tool = s
                    .current_tools()
                    .get(&p.name)
                    .cloned()
                    .ok_or_else(|| ErrorObject::invalid_params(format!("unknown tool `{}`", p.name)))?;
                let client = self.client_info(p.meta.as_ref());
                let capabilities = self.client_capabilities(p.meta.as_ref());
                let tasks_negotiated = wants_tasks(capabilities.as_ref());
                let support = crate::tasks::task_support(tool.definition());
                if support == crate::tasks::TaskSupport::Required && !tasks_negotiated {
                    return Err(crate::tasks::missing_extension(&format!("the tool `{}`", p.name)));
                }
                let as_task = tasks_negotiated && support != crate::tasks::TaskSupport::Forbidden;
                // A task outlives its request: it is stopped by `tasks/cancel`, not by the caller leaving.
                let task_cancel = CancellationToken::new();
                let run_cancel = if as_task { task_cancel.clone() } else { cancel.clone() };
                let cx = ToolContext::for_request(peer, p.meta, run_cancel, Some(self.principal.clone()), client)
                    .with_client_capabilities(capabilities, framing == Framing::Modern)
                    .with_log_level(self.session.lock().unwrap_or_else(PoisonError::into_inner).log_level);
                let arguments = p.arguments.unwrap_or_default();
                let outcome = if as_task {
                    let rerun: crate::tasks::Rerun = {
                        let (tool, arguments) = (tool.clone(), arguments.clone());
                        Arc::new(move |cx: ToolContext| {
                            let (tool, arguments) = (tool.clone(), arguments.clone());
                            Box::pin(async move { tool.call(arguments, cx).await })
                        })
                    };
                    let first = rerun(cx.clone().with_input(p.input_responses, p.request_state));
                    match s.tasks.start(first, rerun, cx, task_cancel) {
                        Ok(outcome) => outcome,
                        Err(created) => {
                            tracing::Span::current().record("outcome", "task");
                            return s.finish(created, framing);
                        }
                    }
                } else {
                    // A cancelled tool gets a moment to notice and clean up; then it is dropped.
                    let stop = async {
                        cancel.cancelled().await;
                        tokio::time::sleep(CANCEL_GRACE).await;
                    };
                    // A tool that panics fails this call only, as a tool error the model sees.
                    let run = std::panic::AssertUnwindSafe(
                        tool.call(arguments, cx.with_input(p.input_responses, p.request_state)),
                    );
                    tokio::select! {
                        r = futures_util::FutureExt::catch_unwind(run) => r.unwrap_or_else(|panic| {
                            let what = connection::panic_message(panic.as_ref());
                            tracing::error!(tool = %p.name, panic = %what, "a tool panicked");
                            Ok(CallToolResult::error(format!("the tool `{}` failed unexpectedly: {what}", p.name)))
                        }),
                        () = stop => Ok(CallToolResult::error("cancelled")),
                    }
                };
                let result = match outcome {
                    Ok(result) => result,
                    Err(e) => match e.input() {
                        Some(input) if framing == Framing::Modern => return s.finish(input.clone(), framing),
                        _ if e.protocol_error().is_some() => {
                            return Err(e
                                .protocol_error()
                                .cloned()
                                .unwrap_or_else(|| ErrorObject::internal(e.message().to_owned())));
                        }
                        _ => CallToolResult::from(e),
                    },
                };
                tracing::Span::current().record("outcome", if result.is_error() { "tool_error" } else { "ok" });
                let result = match framing {
                    Framing::Modern => result,
                    Framing::Handshake => result.for_handshake_era(),
                };
                s.finish(result, framing)
            }
            methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL => {
                #[derive(serde::Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct TaskParams {
                    #[serde(rename = "_meta", default)]
                    meta: Option<JsonObject>,
                    task_id: String,
                    #[serde(default)]
                    input_responses: Option<JsonObject>,
                }
                let p: TaskParams = parse_params(params)?;
                if !wants_tasks(self.client_capabilities(p.meta.as_ref()).as_ref()) {
                    return Err(crate::tasks::missing_extension(&format!("`{}`", request.method)));
                }
                let answer = match request.method.as_str() {
                    methods::TASKS_GET => s.tasks.detail(&p.task_id)?,
                    methods::TASKS_UPDATE => {
                        let answers = p
                            .input_responses
                            .ok_or_else(|| ErrorObject::invalid_params("tasks/update needs `inputResponses`"))?;
                        s.tasks.answer(&p.task_id, answers)?;
                        JsonObject::new()
                    }
                    _ => {
                        s.tasks.cancel(&p.task_id)?;
                        JsonObject::new()
                    }
                };
                s.finish(answer, framing)
            }
            methods::RESOURCES_LIST => {
                let p: PaginatedParams = parse_params(params)?;
                let all: Vec<Resource> = s.registry.resources.iter().flat_map(|r| r.resources()).collect();
                let (resources, next_cursor) = s.page(all, p.cursor.as_deref())?;
                s.finish(
                    ListResourcesResult { envelope: Default::default(), cache: cache_hints(), resources, next_cursor },
                    framing,
                )
            }
            methods::RESOURCE_TEMPLATES_LIST => {
                let p: PaginatedParams = parse_params(params)?;
                let all: Vec<ResourceTemplate> = s.registry.resources.iter().flat_map(|r| r.templates()).collect();
                let (resource_templates, next_cursor) = s.page(all, p.cursor.as_deref())?;
                let result = ListResourceTemplatesResult {
                    envelope: Default::default(),
                    cache: cache_hints(),
                    resource_templates,
                    next_cursor,
                };
                s.finish(result, framing)
            }
            methods::RESOURCES_READ => {
                let p: ReadResourceParams = parse_params(params)?;
                for provider in &s.registry.resources {
                    if let Some(read) = provider.read(&p.uri).await {
                        let contents = read.map_err(|e| ErrorObject::internal(format!("reading `{}`: {e}", p.uri)))?;
                        return s.finish(
                            ReadResourceResult { envelope: Default::default(), cache: cache_hints(), contents },
                            framing,
                        );
                    }
                }
                // -32602 with the URI, as SEP-2164 settled (older servers used -32002).
                Err(ErrorObject::invalid_params(format!("resource not found: {}", p.uri))
                    .with_data(serde_json::json!({ "uri": p.uri })))
            }
            methods::PROMPTS_LIST => {
                let p: PaginatedParams = parse_params(params)?;
                let all: Vec<Prompt> = s.registry.prompts.values().map(|p| p.definition().clone()).collect();
                let (prompts, next_cursor) = s.page(all, p.cursor.as_deref())?;
                s.finish(
                    ListPromptsResult { envelope: Default::default(), cache: cache_hints(), prompts, next_cursor },
                    framing,
                )
            }
            methods::PROMPTS_GET => {
                let p: GetPromptParams = parse_params(params)?;
                let prompt = s
                    .registry
                    .prompts
                    .get(&p.name)
                    .ok_or_else(|| ErrorObject::invalid_params(format!("unknown prompt `{}`", p.name)))?;
                let capabilities = self.client_capabilities(p.meta.as_ref());
                let cx = ToolContext::for_request(peer, p.meta, cancel.clone(), Some(self.principal.clone()), None)
                    .with_client_capabilities(capabilities, framing == Framing::Modern)
                    .with_input(p.input_responses, p.request_state);
                match prompt.get_with(p.arguments.unwrap_or_default(), &cx).await {
                    Ok(result) => s.finish(result, framing),
                    Err(e) => match (e.input(), e.protocol_error()) {
                        (Some(input), _) if framing == Framing::Modern => s.finish(input.clone(), framing),
                        (_, Some(error)) => Err(error.clone()),
                        _ => Err(ErrorObject::invalid_params(e.to_string())),
                    },
                }
            }
            methods::COMPLETE => {
                let Some(completer) = &s.completer else {
                    return Err(ErrorObject::method_not_found(&request.method));
                };
                let p: CompleteParams = parse_params(params)?;
                s.finish(CompleteResult { envelope: Default::default(), completion: completer(&p) }, framing)
            }
            methods::SUBSCRIBE | methods::UNSUBSCRIBE if !s.announces_updates => {
                Err(ErrorObject::method_not_found(&request.method))
            }
            methods::SUBSCRIBE | methods::UNSUBSCRIBE => {
                let p: ReadResourceParams = parse_params(params)?;
                let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
                if request.method == methods::SUBSCRIBE {
                    session.subscriptions.insert(p.uri);
                } else {
                    session.subscriptions.remove(&p.uri);
                }
                Ok(Value::Object(JsonObject::new()))
            }
            methods::SET_LEVEL if framing == Framing::Handshake => {
                let p: SetLevelParams = parse_params(params)?;
                self.session.lock().unwrap_or_else(PoisonError::into_inner).log_level = Some(p.level);
                Ok(Value::Object(JsonObject::new()))
            }
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    fn notification(&self, _peer: &Peer, notification: Notification) {
        tracing::trace!(method = %notification.method, "notification");
    }
}

impl Connection {
    /// `subscriptions/listen`: acknowledges what it will send (only what was asked for and the
    /// server has), then sends those notifications, each tagged with the stream's id, until the
    /// client goes away (closing the stream cancels the request) or the server shuts down.
    async fn listen(
        &self,
        peer: Peer,
        id: RequestId,
        params: JsonObject,
        cancel: CancellationToken,
    ) -> Result<Value, ErrorObject> {
        #[derive(serde::Deserialize)]
        struct ListenParams {
            notifications: SubscriptionFilter,
        }
        let asked: ListenParams = parse_params(params)?;
        let asked = asked.notifications;
        let s = &self.server;
        // Subscribe before acknowledging, so nothing that happens in between is missed.
        let mut tool_changes = s.list_changed.subscribe();
        let mut resource_updates = s.resource_updates.subscribe();
        let has_resources = !s.resources_empty();
        let honored = SubscriptionFilter {
            tools_list_changed: asked.tools_list_changed.filter(|&on| on),
            // This server's prompt and resource lists do not change while it runs.
            prompts_list_changed: None,
            resources_list_changed: None,
            resource_subscriptions: asked.resource_subscriptions.filter(|uris| has_resources && !uris.is_empty()),
        };
        let tag = |mut params: JsonObject| {
            let mut meta = JsonObject::new();
            meta.insert(meta_keys::SUBSCRIPTION_ID.to_owned(), serde_json::to_value(&id).unwrap_or(Value::Null));
            params.insert("_meta".to_owned(), Value::Object(meta));
            Some(params)
        };
        let mut ack = JsonObject::new();
        ack.insert("notifications".to_owned(), serde_json::to_value(&honored).unwrap_or_default());
        peer.notify(methods::SUBSCRIPTIONS_ACKNOWLEDGED, tag(ack))
            .await
            .map_err(|e| ErrorObject::internal(e.to_string()))?;
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let sent = tokio::select! {
                () = cancel.cancelled() => break,
                change = tool_changes.recv() => match change {
                    Ok(()) | Err(RecvError::Lagged(_)) if honored.tools_list_changed == Some(true) => {
                        peer.notify(methods::TOOLS_LIST_CHANGED, tag(JsonObject::new())).await
                    }
                    Ok(()) | Err(RecvError::Lagged(_)) => Ok(()),
                    Err(RecvError::Closed) => break,
                },
                update = resource_updates.recv() => match update {
                    Ok(uri) if honored.resource_subscriptions.as_ref().is_some_and(|u| u.contains(&uri)) => {
                        let mut params = JsonObject::new();
                        params.insert("uri".to_owned(), Value::String(uri));
                        peer.notify(methods::RESOURCE_UPDATED, tag(params)).await
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => Ok(()),
                    Err(RecvError::Closed) => break,
                },
            };
            if sent.is_err() || peer.is_closed() {
                break;
            }
        }
        let mut meta = JsonObject::new();
        meta.insert(meta_keys::SUBSCRIPTION_ID.to_owned(), serde_json::to_value(&id).unwrap_or(Value::Null));
        let mut result = JsonObject::new();
        result.insert("_meta".to_owned(), Value::Object(meta));
        s.finish(result, Framing::Modern)
    }

    /// The caller's identity: from the handshake, or from a modern request's `_meta`.
    fn client_info(&self, meta: Option<&JsonObject>) -> Option<Arc<Implementation>> {
        if let Some(info) = meta.and_then(|m| m.get(meta_keys::CLIENT_INFO)) {
            return serde_json::from_value(info.clone()).ok().map(Arc::new);
        }
        self.session.lock().unwrap_or_else(PoisonError::into_inner).client.clone().map(Arc::new)
    }

    /// True once a client completed the `initialize` handshake on this connection.
    pub(crate) fn handshaken(&self) -> bool {
        self.session.lock().unwrap_or_else(PoisonError::into_inner).version.is_some()
    }

    /// True when this connection's client subscribed to `uri`.
    pub(crate) fn subscribed(&self, uri: &str) -> bool {
        self.session.lock().unwrap_or_else(PoisonError::into_inner).subscriptions.contains(uri)
    }

    /// The caller's capabilities: from the handshake, or from a modern request's `_meta`.
    fn client_capabilities(&self, meta: Option<&JsonObject>) -> Option<ClientCapabilities> {
        if let Some(caps) = meta.and_then(|m| m.get(meta_keys::CLIENT_CAPABILITIES)) {
            return serde_json::from_value(caps.clone()).ok();
        }
        self.session.lock().unwrap_or_else(PoisonError::into_inner).capabilities.clone()
    }

    /// Decides the era of one request from its `_meta`, refusing revisions we do not know.
    fn framing(&self, params: &JsonObject) -> Result<Framing, ErrorObject> {
        let requested = params.get("_meta").and_then(Value::as_object).and_then(|m| m.get(meta_keys::PROTOCOL_VERSION));
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

    fn initialize(&self, params: JsonObject) -> Result<Value, ErrorObject> {
        let p: InitializeParams = parse_params(params)?;
        // Answer with the client's revision when we speak it through the handshake, else our newest.
        let version = ProtocolVersion::parse(&p.protocol_version)
            .filter(|v| v.era() == Era::Handshake)
            .unwrap_or(ProtocolVersion::LATEST_HANDSHAKE);
        tracing::debug!(client = %p.client_info.name, requested = %p.protocol_version, chosen = %version, "initialize");
        {
            let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
            session.version = Some(version);
            session.client = Some(p.client_info);
            session.capabilities = Some(p.capabilities);
        }
        let s = &self.server;
        let result = InitializeResult {
            protocol_version: version.as_str().to_owned(),
            capabilities: s.capabilities(Framing::Handshake),
            server_info: s.info.clone(),
            instructions: s.instructions.clone(),
        };
        serde_json::to_value(result).map_err(|e| ErrorObject::internal(e.to_string()))
    }
}

impl ServerInner {
    fn current_tools(&self) -> Arc<ToolSet> {
        self.tools.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

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

    fn resources_empty(&self) -> bool {
        self.registry.resources.is_empty()
    }

    /// One page of `items` after `cursor` (an offset we issued).
    fn page<T>(&self, items: Vec<T>, cursor: Option<&str>) -> Result<(Vec<T>, Option<String>), ErrorObject> {
        let start = match cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= items.len())
                .ok_or_else(|| ErrorObject::invalid_params(format!("invalid cursor {c:?}")))?,
        };
        let end = (start + self.page_size).min(items.len());
        let next = (end < items.len()).then(|| end.to_string());
        Ok((items.into_iter().skip(start).take(end - start).collect(), next))
    }

    /// Serializes a result, adding the `2026-07-28` fields when the request was modern.
    fn finish<T: Serialize>(&self, result: T, framing: Framing) -> Result<Value, ErrorObject> {
        let mut value = serde_json::to_value(result).map_err(|e| ErrorObject::internal(e.to_string()))?;
        if let Value::Object(map) = &mut value {
            match framing {
                Framing::Modern => {
                    map.entry("resultType").or_insert_with(|| Value::from("complete"));
                    let meta = map.entry("_meta").or_insert_with(|| Value::Object(JsonObject::new()));
                    if let Value::Object(meta) = meta {
                        meta.insert(
                            meta_keys::SERVER_INFO.into(),
                            serde_json::to_value(&self.info).unwrap_or_default(),
                        );
                    }
                }
                Framing::Handshake => {
                    // Keep results of older revisions free of fields they do not define.
                    map.remove("ttlMs");
                    map.remove("cacheScope");
                }
            }
        }
        Ok(value)
    }
}

/// Whether the caller declared the tasks extension.
fn wants_tasks(capabilities: Option<&ClientCapabilities>) -> bool {
    capabilities.and_then(|c| c.extensions.as_ref()).is_some_and(|e| e.contains_key(crate::tasks::EXTENSION))
}

fn cache_hints() -> CacheHints {
    CacheHints { ttl_ms: Some(LIST_TTL_MS), cache_scope: Some(CacheScope::Private) }
}

fn parse_params<T: DeserializeOwned>(params: JsonObject) -> Result<T, ErrorObject> {
    serde_path_to_error::deserialize(Value::Object(params)).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            ErrorObject::invalid_params(format!("invalid params: {}", e.into_inner()))
        } else {
            ErrorObject::invalid_params(format!("invalid params: `{path}`: {}", e.into_inner()))
        }
    })
}
