//! Serving a [`Registry`] to clients of either era.
//!
//! This file holds the [`Server`], its builder, the per-connection state and the dispatch: each
//! method has its own handler, grouped by the part of the protocol it belongs to (`lifecycle`,
//! `tools`, `tasks`, `resources`, `prompts`, `utilities`, `listen`). What changes with the era of
//! a request lives in `era`; announcing changes to clients, in `changes`.

mod changes;
mod era;
mod lifecycle;
mod listen;
mod prompts;
mod resources;
mod tasks;
mod tools;
mod utilities;

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "http-server")]
pub(crate) use changes::Change;
use changes::ChangeFeed;
use era::Framing;

use crate::error::Result;
use crate::protocol::*;
use crate::registry::Registry;
use crate::tool::{ToolContext, ToolSet};
use crate::transport::DEFAULT_MAX_MESSAGE_BYTES;
use crate::transport::connection::{self, Handler, Peer, Role};

/// An MCP server over one [`Registry`]. Cheap to clone; serve as many connections as you like.
#[derive(Clone, Debug)]
pub struct Server {
    inner: Arc<ServerInner>,
}

/// Decides whether a tool is listed to a caller (`principal`, `tool`: its name as listed is
/// [`crate::Tool::name`]). Listing is not protection: calls must be authorized too (the gateway's
/// pipeline does that).
pub type ToolFilter = Arc<dyn Fn(&str, &dyn crate::Tool) -> bool + Send + Sync>;

/// Says why a tool that is not listed is not there (a gateway: its server has not come up), for
/// the error a call to it gets; `None` leaves the plain "unknown tool". Called with the caller's
/// principal and the tool's name.
pub type UnknownTool = Arc<
    dyn Fn(&str, &str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send>> + Send + Sync,
>;

/// Answers `completion/complete`: suggestions for an argument of a prompt or resource template,
/// asked by the request `cx` (its caller, its cancellation). An error answers the request as it
/// is (an unknown prompt is -32602).
pub type Completer = Arc<
    dyn Fn(
            CompleteParams,
            crate::ToolContext,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Completion, ErrorObject>> + Send>>
        + Send
        + Sync,
>;

struct ServerInner {
    info: Implementation,
    /// `info` as JSON, made once: every `2026-07-28` result carries it in its `_meta`.
    info_json: Value,
    instructions: Option<String>,
    registry: Registry,
    /// The tools, replaceable while serving (see [`Server::replace_tools`]).
    tools: RwLock<Arc<ToolSet>>,
    filter: Option<ToolFilter>,
    unknown_tool: Option<UnknownTool>,
    /// `completion/complete`, declared only when set.
    completer: Option<Completer>,
    /// Whether resources change and their updates are sent (`resources.subscribe`).
    announces_updates: bool,
    principal: Arc<str>,
    page_size: usize,
    /// How long clients may cache lists (`ttlMs`), in milliseconds.
    list_ttl_ms: u64,
    max_message_bytes: usize,
    max_in_flight: usize,
    max_queued_bytes: usize,
    /// Tells every connection that a list changed (tools, prompts, resources).
    list_changed: tokio::sync::broadcast::Sender<changes::Change>,
    /// Whether the prompt and resource lists change while serving (see
    /// [`ServerBuilder::lists_change`]).
    lists_change: bool,
    /// Tells every connection that a resource changed (sent to those subscribed to it).
    resource_updates: tokio::sync::broadcast::Sender<String>,
    /// How many subscriptions each resource URI has, over every connection and listen stream:
    /// the providers hear of a URI's last one ending ([`ResourceProvider::unsubscribed`]).
    ///
    /// [`ResourceProvider::unsubscribed`]: crate::registry::ResourceProvider::unsubscribed
    subscribers: Mutex<std::collections::HashMap<String, usize>>,
    /// Log messages that belong to no request (see [`Server::notify_log`]).
    logs: tokio::sync::broadcast::Sender<LoggingMessageParams>,
    /// Tool calls running as tasks (tasks extension).
    tasks: crate::tasks::Tasks,
    /// Where the server's start is (see [`ServerBuilder::starting`]).
    start: tokio::sync::watch::Sender<StartState>,
}

impl std::fmt::Debug for ServerInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("info", &self.info).field("registry", &self.registry).finish_non_exhaustive()
    }
}

/// The largest `clientInfo` an `initialize` may carry, as compact JSON without its icons (which
/// are not kept): what the server remembers of the client lives as long as its connection or
/// session. Real clients send a name and a version; larger ones are refused with -32602.
pub const MAX_CLIENT_INFO_BYTES: usize = 4 * 1024;

/// The largest `capabilities` an `initialize` may declare, as compact JSON (refused with -32602
/// past it); see [`MAX_CLIENT_INFO_BYTES`].
pub const MAX_CLIENT_CAPABILITIES_BYTES: usize = 8 * 1024;

/// The most JSON values (objects, arrays, strings, numbers, ...) the `capabilities` of an
/// `initialize` may hold (refused with -32602 past it): each costs memory beyond its text.
pub const MAX_CLIENT_CAPABILITIES_VALUES: usize = 256;

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

    /// How long `2026-07-28` clients may cache a list before asking again (`ttlMs`; default one
    /// minute). A gateway relists its upstream servers when theirs runs out.
    pub fn list_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.inner.list_ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
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

    /// Bytes queued for one connection's client, not yet written, past which the server reads
    /// no new request from it until enough is written (default 64 MiB). A client that sends
    /// requests and never reads its answers leaves the server holding at most this much, plus
    /// the answers of the requests already running (see [`ServerBuilder::max_in_flight`]);
    /// nothing is dropped, and everything is written once the client reads.
    pub fn max_queued_bytes(mut self, max: usize) -> Self {
        self.inner.max_queued_bytes = max.max(1);
        self
    }

    /// Answers `completion/complete` with `completer` and declares the `completions` capability
    /// (without one, the capability is not declared and the method is not found).
    pub fn completions(mut self, completer: Completer) -> Self {
        self.inner.completer = Some(completer);
        self
    }

    /// Declares that the prompt and resource lists change while serving, and that their changes
    /// are announced ([`Server::notify_prompts_changed`], [`Server::notify_resources_changed`]):
    /// `listChanged` in both capabilities. Off by default.
    pub fn lists_change(mut self, on: bool) -> Self {
        self.inner.lists_change = on;
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

    /// Explains calls to tools that are not listed (see [`UnknownTool`]).
    pub fn unknown_tool(mut self, explain: UnknownTool) -> Self {
        self.inner.unknown_tool = Some(explain);
        self
    }

    /// The principal of callers on this server's connections (default `stdio`): whoever can
    /// write to the server's input. Transports with authentication set their own.
    pub fn principal(mut self, principal: impl Into<Arc<str>>) -> Self {
        self.inner.principal = principal.into();
        self
    }

    /// Keeps tasks in `store` as well, so that every replica sharing it answers `tasks/get`,
    /// `tasks/update` and `tasks/cancel` for tasks another one runs (see [`crate::tasks`]).
    pub fn task_store(mut self, store: Arc<dyn crate::tasks::TaskStore>) -> Self {
        self.inner.tasks.store = Some(store);
        self
    }

    /// Builds a server that is still starting: it answers the handshake, discovery and every
    /// other request at once but the ones that need what it serves (lists, calls, reads,
    /// completions), which it holds until [`Server::mark_ready`]. A held request its client
    /// cancels ends there, never run; [`Server::abandon_start`] ends them all with an error. For
    /// a server whose tools take a while to gather (a gateway starting its upstream servers): a
    /// client's handshake does not time out meanwhile, and its first list is the whole one. Once
    /// a stdio client's input ends, its held requests wait for the start (two minutes at most)
    /// before the 10 s grace given to work in progress begins: end the start well within that.
    pub fn starting(self) -> Self {
        self.inner.start.send_replace(StartState::Starting);
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
        let info_json = serde_json::to_value(&info).unwrap_or_default();
        ServerBuilder {
            inner: ServerInner {
                info,
                info_json,
                instructions: None,
                registry,
                tools,
                filter: None,
                unknown_tool: None,
                completer: None,
                announces_updates: false,
                lists_change: false,
                principal: Arc::from("stdio"),
                page_size: 100,
                list_ttl_ms: era::LIST_TTL_MS,
                max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
                max_in_flight: connection::DEFAULT_MAX_IN_FLIGHT,
                max_queued_bytes: connection::DEFAULT_MAX_QUEUED_BYTES,
                list_changed: tokio::sync::broadcast::channel(16).0,
                resource_updates: tokio::sync::broadcast::channel(256).0,
                subscribers: Mutex::default(),
                logs: tokio::sync::broadcast::channel(64).0,
                tasks: crate::tasks::Tasks::default(),
                start: tokio::sync::watch::Sender::new(StartState::Ready),
            },
        }
    }

    /// Replaces the served tools and sends `notifications/tools/list_changed` to every connection
    /// (not while the server is [starting](ServerBuilder::starting): no client has a list yet).
    pub fn replace_tools(&self, tools: ToolSet) {
        *self.inner.tools.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tools);
        self.announce(changes::Change::ToolsListChanged);
    }

    /// Tells every connection that the prompt list changed (its [`PromptSource`]s list others
    /// now): `notifications/prompts/list_changed`. For a server built with
    /// [`ServerBuilder::lists_change`].
    ///
    /// [`PromptSource`]: crate::registry::PromptSource
    pub fn notify_prompts_changed(&self) {
        self.announce(changes::Change::PromptsListChanged);
    }

    /// Tells every connection that the resource list changed (resources or templates):
    /// `notifications/resources/list_changed`. For a server built with
    /// [`ServerBuilder::lists_change`].
    pub fn notify_resources_changed(&self) {
        self.announce(changes::Change::ResourcesListChanged);
    }

    /// Sends a list change, unless the server is starting (no client has a list yet).
    fn announce(&self, change: changes::Change) {
        if self.start_state() == StartState::Ready {
            let _ = self.inner.list_changed.send(change);
        }
    }

    /// Announces that the resource at `uri` changed: clients subscribed to it (handshake era)
    /// are sent `notifications/resources/updated`.
    pub fn notify_resource_updated(&self, uri: impl Into<String>) {
        let _ = self.inner.resource_updates.send(uri.into());
    }

    /// Sends a log message that belongs to no request (a gateway's upstream server logged while
    /// none of its calls ran) to each client served over a stream ([`Server::serve`]: stdio)
    /// that made the handshake and wants its level (`logging/setLevel`). Clients of the HTTP
    /// transport, possibly of many principals, get none, and neither do stateless-era clients,
    /// whose log messages belong to their requests; a tool's own messages go to its caller
    /// ([`ToolContext::log`](crate::ToolContext::log)). A connection that falls far behind misses the oldest.
    pub fn notify_log(&self, log: LoggingMessageParams) {
        let _ = self.inner.logs.send(log);
    }

    /// For a server that stops: waits until its tasks have finished, up to `deadline`; tasks
    /// still running then are cancelled, their state saying that the server stopped.
    pub async fn finish_tasks(&self, deadline: tokio::time::Instant) {
        self.inner.tasks.finish(deadline).await;
    }

    /// Ends the start of a server built [`starting`](ServerBuilder::starting): the requests it
    /// held are handled, and so is every request from now on. Does nothing once the start has
    /// ended, either way.
    pub fn mark_ready(&self) {
        self.end_start(StartState::Ready);
    }

    /// Gives up the start of a server built [`starting`](ServerBuilder::starting) (it stops, or
    /// what it waited for failed): the requests it held, and those it would have held, are
    /// answered with an error saying so. Does nothing once the start has ended, either way.
    pub fn abandon_start(&self) {
        self.end_start(StartState::Abandoned);
    }

    fn end_start(&self, to: StartState) {
        self.inner.start.send_if_modified(|state| {
            let starting = *state == StartState::Starting;
            if starting {
                *state = to;
            }
            starting
        });
    }

    /// Where the server's start is.
    pub fn start_state(&self) -> StartState {
        *self.inner.start.borrow()
    }

    /// Waits until the server's start has ended, either way (at once unless it was built
    /// [`starting`](ServerBuilder::starting)): what it says then.
    pub async fn started(&self) -> StartState {
        self.inner.started().await
    }

    /// The tools served now.
    pub fn tools(&self) -> Arc<ToolSet> {
        self.inner.current_tools()
    }

    /// Serves one connection until its input ends. Requests in flight then get 10 s to answer
    /// (counted from the end of the server's start, if it is still starting: a client may send
    /// its requests and close its input at once) before they are cancelled. A write that fails
    /// (the client is gone) ends the connection at once: nothing more is read, and the requests
    /// in flight, whose answers nobody could read, are cancelled without that grace.
    pub async fn serve<R, W>(&self, reader: R, writer: W) -> Result<()>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        self.serve_connection(reader, writer, connection::DRAIN_GRACE, None).await
    }

    /// Serves one connection until its input ends or `stop` completes (a process's SIGTERM,
    /// say). Once `stop` has completed nothing more is read, a start still under way is given up
    /// ([`Server::abandon_start`]: the requests it held are answered with an error), and the
    /// requests in flight get up to `grace` to answer before they are cancelled. As with
    /// [`Server::serve`], a failed write ends it at once and cancels them.
    pub async fn serve_until<R, W, S>(&self, reader: R, writer: W, stop: S, grace: std::time::Duration) -> Result<()>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
        S: std::future::Future<Output = ()> + Send + 'static,
    {
        self.serve_until_closed(reader, writer, stop, grace, None).await
    }

    /// [`Server::serve_until`], with what tells that the output's reader is gone.
    async fn serve_until_closed<R, W, S>(
        &self,
        reader: R,
        writer: W,
        stop: S,
        grace: std::time::Duration,
        output_closed: Option<connection::OutputClosed>,
    ) -> Result<()>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
        S: std::future::Future<Output = ()> + Send + 'static,
    {
        let server = self.clone();
        let stop = async move {
            stop.await;
            server.abandon_start();
        };
        let reader = UntilStopped { inner: reader, stop: Some(Box::pin(stop)) };
        self.serve_connection(reader, writer, grace, output_closed).await
    }

    async fn serve_connection<R, W>(
        &self,
        reader: R,
        writer: W,
        drain_grace: std::time::Duration,
        output_closed: Option<connection::OutputClosed>,
    ) -> Result<()>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let handler = self.connection(self.inner.principal.clone());
        let subscriptions = handler.clone();
        let options = connection::Options {
            name: "client".to_owned(),
            role: Role::Server,
            max_message_bytes: self.inner.max_message_bytes,
            max_in_flight: self.inner.max_in_flight,
            max_queued_bytes: self.inner.max_queued_bytes,
            close_reason: None,
            drain_grace,
            output_closed,
        };
        let changes = ChangeFeed::with_logs(&self.inner);
        let (peer, task) = connection::start(reader, writer, handler, options);
        // Forward changes to this client for as long as the connection lives. A stateless-era
        // client hears of them only on a `subscriptions/listen` stream.
        let forwarder = tokio::spawn(changes.forward(move |change| {
            let (peer, subscriptions) = (peer.clone(), subscriptions.clone());
            async move {
                let wanted = match &change {
                    changes::Change::ToolsListChanged
                    | changes::Change::PromptsListChanged
                    | changes::Change::ResourcesListChanged => subscriptions.handshaken(),
                    changes::Change::ResourceUpdated(uri) => subscriptions.subscribed(uri),
                    changes::Change::Log(log) => subscriptions.wants_log(log.level),
                };
                let sent = if wanted { peer.notify(change.method(), change.params()).await } else { Ok(()) };
                sent.is_ok() && !peer.is_closed()
            }
        }));
        let finished = task.await;
        forwarder.abort();
        finished.map_err(|e| std::io::Error::other(format!("server task failed: {e}")))?;
        Ok(())
    }

    /// A fresh connection handler (its own handshake state) for `principal`.
    pub(crate) fn connection(&self, principal: Arc<str>) -> Arc<Connection> {
        Arc::new(Connection { server: self.inner.clone(), session: Mutex::new(Session::default()), principal })
    }

    /// Subscribes to the server's changes (for transports that push notifications themselves).
    #[cfg(feature = "http-server")]
    pub(crate) fn changes(&self) -> ChangeFeed {
        ChangeFeed::subscribe(&self.inner)
    }

    /// Serves the process's own stdin and stdout (what a host launching this program expects).
    ///
    /// Pipes and sockets are read and written on the runtime's own threads, in non-blocking mode
    /// while serving (their flags are put back after); terminals and files keep blocking IO.
    /// When stdout is a pipe or socket whose reader goes away (the client exited), serving ends
    /// at once: the requests in flight are cancelled, not left to run for nobody.
    /// Needs a runtime with IO and time enabled (as `#[tokio::main]` builds). On a
    /// single-threaded runtime the thread is marked as answering one peer while it serves
    /// ([`crate::transport::thread_serves_one_peer`]); a program that serves more on that same
    /// runtime should run `serve_stdio` on a runtime of its own.
    #[cfg(feature = "stdio")]
    pub async fn serve_stdio(&self) -> Result<()> {
        let _one_peer = crate::transport::serving_one_peer();
        let (input, output) = crate::transport::stdio::streams();
        let closed = output.closed();
        self.serve_connection(input, output, connection::DRAIN_GRACE, closed).await
    }

    /// [`Server::serve_stdio`] until `stop` completes, as [`Server::serve_until`].
    #[cfg(feature = "stdio")]
    pub async fn serve_stdio_until<S>(&self, stop: S, grace: std::time::Duration) -> Result<()>
    where
        S: std::future::Future<Output = ()> + Send + 'static,
    {
        let _one_peer = crate::transport::serving_one_peer();
        let (input, output) = crate::transport::stdio::streams();
        let closed = output.closed();
        self.serve_until_closed(input, output, stop, grace, closed).await
    }
}

/// A reader that reads as ended once `stop` has completed.
struct UntilStopped<R> {
    inner: R,
    /// `None` once it has completed.
    stop: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for UntilStopped<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let Some(stop) = self.stop.as_mut() else { return std::task::Poll::Ready(Ok(())) };
        if stop.as_mut().poll(cx).is_ready() {
            self.stop = None;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Per-connection state of the handshake era.
#[derive(Debug, Default)]
struct Session {
    version: Option<ProtocolVersion>,
    /// Shared with every call's context rather than copied into each.
    client: Option<Arc<Implementation>>,
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

impl Drop for Connection {
    /// A connection's subscriptions end with it.
    fn drop(&mut self) {
        let subscriptions =
            std::mem::take(&mut self.session.get_mut().unwrap_or_else(PoisonError::into_inner).subscriptions);
        for uri in subscriptions {
            self.server.release(&uri);
        }
    }
}

#[async_trait]
impl Handler for Connection {
    /// Decides the request's era, then hands it to its method's handler.
    async fn request(
        &self,
        peer: Peer,
        request: Request,
        cancel: CancellationToken,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let params = request.params.unwrap_or_default();
        let framing = self.framing(&params)?;
        let method = request.method.as_str();
        if needs_start(method) {
            self.server.until_started(&cancel).await?;
        }
        match method {
            // The stateless era removed the handshake, ping, setLevel and subscriptions.
            methods::INITIALIZE | methods::PING | methods::SET_LEVEL | methods::SUBSCRIBE | methods::UNSUBSCRIBE
                if framing == Framing::Modern =>
            {
                Err(ErrorObject::method_not_found(method))
            }
            methods::INITIALIZE => self.initialize(params),
            methods::SUBSCRIPTIONS_LISTEN if framing == Framing::Modern => {
                self.listen(peer, request.id, params, cancel).await
            }
            methods::DISCOVER => self.discover(),
            methods::PING => self.ping(),
            methods::TOOLS_LIST => self.list_tools(params, framing),
            methods::TOOLS_CALL => self.call_tool(peer, params, cancel, framing).await,
            methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL => {
                self.task_request(method, params, framing).await
            }
            methods::RESOURCES_LIST => self.list_resources(params, framing),
            methods::RESOURCE_TEMPLATES_LIST => self.list_resource_templates(params, framing),
            methods::RESOURCES_READ => self.read_resource(peer, params, cancel, framing).await,
            methods::SUBSCRIBE | methods::UNSUBSCRIBE => self.subscribe(peer, method, params, cancel).await,
            methods::PROMPTS_LIST => self.list_prompts(params, framing),
            methods::PROMPTS_GET => self.get_prompt(peer, params, cancel, framing).await,
            methods::COMPLETE => self.complete(peer, params, cancel, framing).await,
            methods::SET_LEVEL => self.set_level(params),
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    fn notification(&self, _peer: &Peer, notification: Notification) {
        tracing::trace!(method = %notification.method, "notification");
    }

    async fn started(&self) {
        self.server.started().await;
    }
}

impl Connection {
    /// The context of a request of this connection's client, with `meta` its `_meta`: its caller,
    /// its client (see [`Connection::client_info`]), its cancellation.
    fn request_context(&self, peer: Peer, meta: Option<JsonObject>, cancel: CancellationToken) -> ToolContext {
        let client = self.client_info(meta.as_ref());
        ToolContext::for_request(peer, meta, cancel, Some(self.principal.clone()), client)
    }

    /// The caller's identity: from the handshake, or from a modern request's `_meta`.
    fn client_info(&self, meta: Option<&JsonObject>) -> Option<Arc<Implementation>> {
        if let Some(info) = meta.and_then(|m| m.get(meta_keys::CLIENT_INFO)) {
            return Implementation::deserialize(info).ok().map(Arc::new);
        }
        self.session().client.clone()
    }

    /// The caller's capabilities: from the handshake, or from a modern request's `_meta`.
    fn client_capabilities(&self, meta: Option<&JsonObject>) -> Option<ClientCapabilities> {
        if let Some(caps) = meta.and_then(|m| m.get(meta_keys::CLIENT_CAPABILITIES)) {
            return ClientCapabilities::deserialize(caps).ok();
        }
        self.session().capabilities.clone()
    }

    /// True once a client completed the `initialize` handshake on this connection.
    pub(crate) fn handshaken(&self) -> bool {
        self.session().version.is_some()
    }

    /// True when this connection's client made the handshake and wants messages at `level`.
    fn wants_log(&self, level: LoggingLevel) -> bool {
        let session = self.session();
        session.version.is_some() && session.log_level.is_none_or(|wanted| level >= wanted)
    }

    /// True when this connection's client subscribed to `uri`, and an update of it still
    /// reaches its caller.
    pub(crate) fn subscribed(&self, uri: &str) -> bool {
        let held = self.session().subscriptions.contains(uri);
        held && self.server.update_reaches(uri, &self.principal)
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The revision `initialize` agreed on, once it has.
    #[cfg(feature = "http-server")]
    pub(crate) fn version(&self) -> Option<ProtocolVersion> {
        self.session().version
    }

    /// What `initialize` agreed on, once it has: the revision, the client and its capabilities.
    #[cfg(feature = "http-server")]
    pub(crate) fn handshake(&self) -> Option<(ProtocolVersion, Arc<Implementation>, ClientCapabilities)> {
        let session = self.session();
        Some((session.version?, session.client.clone()?, session.capabilities.clone()?))
    }

    /// Takes up a session another process opened, as if `initialize` had agreed on this.
    #[cfg(feature = "http-server")]
    pub(crate) fn resume(&self, version: ProtocolVersion, client: Implementation, capabilities: ClientCapabilities) {
        let mut session = self.session();
        session.version = Some(version);
        session.client = Some(Arc::new(client));
        session.capabilities = Some(capabilities);
    }
}

impl ServerInner {
    /// Holds a request until the server's start has ended (see [`ServerBuilder::starting`]), or
    /// until its client cancels it; a start given up ends it with an error.
    async fn until_started(&self, cancel: &CancellationToken) -> Result<(), ErrorObject> {
        let state = tokio::select! {
            biased;
            state = self.started() => state,
            () = cancel.cancelled() => return Err(ErrorObject::internal("cancelled while the server was starting")),
        };
        match state {
            StartState::Abandoned => Err(ErrorObject::internal(START_GIVEN_UP)),
            _ => Ok(()),
        }
    }

    /// See [`Server::started`].
    async fn started(&self) -> StartState {
        let state = *self.start.borrow();
        if state != StartState::Starting {
            return state;
        }
        // The sender lives as long as `self`: the wait ends only by the start ending.
        let mut start = self.start.subscribe();
        start
            .wait_for(|state| *state != StartState::Starting)
            .await
            .map(|state| *state)
            .unwrap_or(StartState::Abandoned)
    }

    fn current_tools(&self) -> Arc<ToolSet> {
        self.tools.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn resources_empty(&self) -> bool {
        self.registry.resources.is_empty()
    }

    fn prompts_empty(&self) -> bool {
        self.registry.prompts.is_empty() && self.registry.prompt_sources.is_empty()
    }
}

/// What a request that needs a server's start is answered once that start was given up.
const START_GIVEN_UP: &str = "the server gave up its start (it is stopping, or its start failed)";

/// Where a server's start is (see [`ServerBuilder::starting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartState {
    /// Built starting and not yet marked ready: requests that need what it serves are held.
    Starting,
    /// Serving every request.
    Ready,
    /// Its start was given up ([`Server::abandon_start`]): requests that need what it serves are
    /// answered with an error.
    Abandoned,
}

/// Whether `method` needs what the server serves, and so waits for a server's start: lists,
/// calls, reads, completions and subscriptions to resources (which go where reads go). The rest
/// (the handshake, discovery, ping, the log level, unsubscribing, tasks, unknown methods) is
/// answered while it starts; a `subscriptions/listen` stream takes the resources it names once
/// the start is over.
fn needs_start(method: &str) -> bool {
    matches!(
        method,
        methods::TOOLS_LIST
            | methods::TOOLS_CALL
            | methods::RESOURCES_LIST
            | methods::RESOURCE_TEMPLATES_LIST
            | methods::RESOURCES_READ
            | methods::PROMPTS_LIST
            | methods::PROMPTS_GET
            | methods::COMPLETE
            | methods::SUBSCRIBE
    )
}

/// Whether the caller declared the tasks extension.
fn wants_tasks(capabilities: Option<&ClientCapabilities>) -> bool {
    capabilities.and_then(|c| c.extensions.as_ref()).is_some_and(|e| e.contains_key(crate::tasks::EXTENSION))
}

/// The result of methods that answer with nothing: `{}`.
fn empty_result() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_default()
}

fn parse_params<T: DeserializeOwned>(params: JsonObject) -> Result<T, ErrorObject> {
    let params = Value::Object(params);
    // The plain reading is the quick one; only params that fail are read again, tracking the
    // path, to say where.
    if let Ok(parsed) = T::deserialize(&params) {
        return Ok(parsed);
    }
    serde_path_to_error::deserialize(params).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            ErrorObject::invalid_params(format!("invalid params: {}", e.into_inner()))
        } else {
            ErrorObject::invalid_params(format!("invalid params: `{path}`: {}", e.into_inner()))
        }
    })
}
