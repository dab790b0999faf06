//! The gateway: every configured server and the native tools, served as one MCP server, every
//! call through one pipeline (redaction, audit, policy, rate limits, validation, timeout,
//! concurrency, retries, tracing and metrics).
//!
//! Start one from a configuration file or from a [`GatewayConfig`] built in code, add tool sets
//! and pipeline layers of your own, serve its [`Server`] on any transport, and shut it down:
//!
//! ```no_run
//! # async fn demo() -> mcp_gateway::Result<()> {
//! use mcp_core::{Json, ToolContext, ToolSet, tool};
//! use mcp_gateway::{Gateway, GatewayConfig};
//!
//! let mut inventory = ToolSet::new();
//! inventory.add(tool("count", "How many items are in stock", |_: serde_json::Value, _: ToolContext| async {
//!     Ok(Json(serde_json::json!({ "count": 42 })))
//! }));
//! let gateway = Gateway::builder(GatewayConfig::load("gateway.json".as_ref())?)
//!     .tools("inventory", inventory)
//!     .start()
//!     .await?;
//! gateway.server().serve_stdio().await?;
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
#[cfg(feature = "console")]
pub mod console;
mod error;
mod relay;
mod sql_model;
pub mod task_store;
#[cfg(feature = "otel")]
pub mod telemetry;

/// Histogram boundaries, in seconds, of the durations the gateway measures, over OTLP and on
/// Prometheus's `/metrics` alike: the OpenTelemetry conventions' advice for `*.duration`.
pub const DURATION_BUCKETS: [f64; 14] =
    [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use mcp_audit::{AuditLayer, AuditLog, AuditOptions};
use mcp_core::config::{ServerConfig, ServerEntry};
use mcp_core::naming::NameMap;
use mcp_core::pipeline::{
    self, CallError, ConcurrencyLayer, ObserveLayer, PipelineTool, RetryLayer, Routes, TimeoutLayer, ToolCall,
    ToolService, ValidateLayer,
};
use mcp_core::protocol::{CallToolResult, Implementation, Tool};
use mcp_core::supervised::Upstream;
use mcp_core::{Registry, Server, Tool as _, ToolSet};
use mcp_security::{AuthorizeLayer, PinMode, Pins, Policy, RateLimitLayer, RateLimits, RedactLayer, Redactor};
use tower_layer::Layer;

pub use config::GatewayConfig;
pub use error::{Error, Result};
pub use sql_model::OpenAiSqlModel;

/// The server name under which the gateway's own tools (`check_access`, `log_event`) appear.
const GATEWAY: &str = "gateway";

/// The server name under which every named database is reachable by `execute_query(connection, query)`.
const DATABASE: &str = "database";

/// A running gateway.
pub struct Gateway {
    server: Server,
    /// Its audit log, whose health is the gateway's.
    audit: AuditLog,
    /// The principal of local callers (stdio, the CLI).
    principal: String,
    /// The configured parts in force, replaced whole by [`Gateway::reload`].
    current: Arc<Current>,
    mirror: Option<mcp_audit::MirrorDrain>,
    /// What a reload needs; held while one runs.
    reloading: Arc<tokio::sync::Mutex<Reloading>>,
    /// Tells the rebuilder that a server's tools changed.
    changed: tokio::sync::mpsc::UnboundedSender<()>,
    /// The task that rebuilds the tool list when servers change.
    rebuilder: tokio::task::JoinHandle<()>,
}

/// The state in force. Calls already running keep the state they started with.
struct Current {
    state: std::sync::RwLock<Arc<State>>,
    /// The clients' resource subscriptions, relayed (kept across reloads).
    subscriptions: relay::Subscriptions,
}

impl Current {
    fn get(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, state: Arc<State>) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// What [`Gateway::reload`] builds from: the configuration in force, what was given in code, and
/// the supervision of every upstream server (ended by [`Gateway::shutdown`]).
struct Reloading {
    config: GatewayConfig,
    tools: Vec<(String, ToolSet)>,
    layers: Vec<pipeline::Wrap>,
    supervisors: Vec<(Arc<Upstream>, tokio::task::JoinHandle<()>)>,
    /// The configured servers as read for the running state.
    servers: mcp_core::McpConfig,
    /// See [`GatewayBuilder::wait_for_optional`].
    wait_for_optional: bool,
}

/// A gateway dropped without [`Gateway::shutdown`] still stops its upstream servers (in the
/// background; their processes are killed if they do not exit).
impl Drop for Gateway {
    fn drop(&mut self) {
        for upstream in &self.current.get().upstreams {
            upstream.stop();
        }
        self.rebuilder.abort();
        self.server.abandon_start();
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.current.get();
        let mut servers: Vec<&str> = state.local.keys().map(String::as_str).collect();
        servers.extend(state.upstreams.iter().map(|u| u.name()));
        servers.sort_unstable();
        f.debug_struct("Gateway").field("principal", &self.principal).field("servers", &servers).finish_non_exhaustive()
    }
}

struct State {
    service: Arc<ToolService>,
    names: Mutex<NameMap>,
    /// Exposed name → (server, upstream definition), for the list filter and `check_access`.
    exposed: Exposed,
    local: HashMap<String, ToolSet>,
    /// The native servers whose prompts and resources are relayed, whole.
    native: Vec<(String, Registry)>,
    /// What is relayed besides tools.
    relay: config::RelayConfig,
    upstreams: Vec<Arc<Upstream>>,
    /// Servers the gateway is ready without (`readiness.optional`).
    optional: HashSet<String>,
    policy: Arc<Policy>,
    pins: Option<Arc<Pins>>,
    /// The operator's annotations, by exposed name, over what servers declare.
    annotations: std::collections::BTreeMap<String, mcp_core::protocol::ToolAnnotations>,
    server: std::sync::OnceLock<Server>,
    /// The tools last served: a rebuild keeps each one whose name and definition are unchanged
    /// (no new copy per rebuild), and announces only real changes.
    served: Mutex<Vec<Arc<PipelineTool>>>,
    /// Held by every rebuild and by a reload's switch, shared by a gateway's successive states:
    /// a rebuild of the state a reload replaced never serves its tools after the switch.
    switching: Arc<Mutex<()>>,
    /// Set once a reload replaced this state.
    retired: std::sync::atomic::AtomicBool,
    /// (Deny rule, exposed tool) pairs already warned about as blind spots: a server's restart
    /// lists its tools anew but tells nothing new.
    blind_warned: Mutex<HashSet<(String, String)>>,
    /// The warnings about policy `tools` entries and `annotations` keys that name no tool
    /// already given.
    unmatched_warned: Mutex<HashSet<String>>,
    /// Every warning about the policy and the annotations the tool lists gave, in the order
    /// given (see [`Gateway::tool_findings`]).
    findings: Mutex<Vec<String>>,
    /// Masks the log messages of servers that belong to none of their calls, as results are
    /// masked (none with `redaction.skip_results`).
    log_mask: Option<mcp_core::tool::MaskFn>,
    /// Each server's prompts and resources as clients were last told of them (see
    /// [`State::announce_relayed`]).
    relayed: Mutex<Vec<(String, Arc<mcp_core::supervised::Catalog>)>>,
    /// The definitions relayed prompts pass the pipeline with, by exposed name.
    prompt_definitions: Mutex<HashMap<String, Arc<Tool>>>,
    /// How long a call may take: by default, and per server.
    timeouts: (Duration, HashMap<String, Duration>),
}

/// Names, the first few of them: "`a` does", "`a` and `b` do", "`a`, `b`, `c` and 4 more do".
fn few(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let quoted = |names: &[String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    match names {
        [] => String::new(),
        [one] => format!("`{one}` does"),
        [first @ .., last] if names.len() <= SHOWN + 1 => format!("{} and `{last}` do", quoted(first)),
        _ => format!("{} and {} more do", quoted(&names[..SHOWN]), names.len() - SHOWN),
    }
}

/// The answer of [`Gateway::readiness_probe`]: ready, or why not.
pub type Readiness = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// Definitions are shared (`Arc`) with the upstream's list and the served tools: one copy of each.
type Exposed = Arc<Mutex<HashMap<String, (String, Arc<Tool>)>>>;

/// Builds a [`Gateway`]: its configuration, plus tool sets, pipeline layers and server settings
/// given in code.
#[must_use]
pub struct GatewayBuilder {
    config: GatewayConfig,
    tools: Vec<(String, ToolSet)>,
    layers: Vec<pipeline::Wrap>,
    adjust: Vec<Box<dyn FnOnce(mcp_core::ServerBuilder) -> mcp_core::ServerBuilder + Send>>,
    on_started: Option<StartedFn>,
    wait_for_optional: bool,
    serve_while_starting: bool,
    starting_hold: Duration,
}

/// Told about each configured server's first start: its name, how many have started, of how many.
pub type StartedFn = Box<dyn Fn(&str, usize, usize) + Send + Sync>;

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("tools", &self.tools.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    /// Serves `tools` as the server `name` (exposed as `name__tool`, `tool` being each tool's
    /// [`mcp_core::Tool::name`]), through the same pipeline as every other server. The name must
    /// not be taken by a configured or native server.
    pub fn tools(mut self, name: impl Into<String>, tools: ToolSet) -> Self {
        self.tools.push((name.into(), tools));
        self
    }

    /// Adds a pipeline layer. Layers added here see only calls the policy and the rate limits let
    /// through, inside the audit (their outcome is recorded) and before schema validation; the
    /// first added is the outermost.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<ToolService> + Send + Sync + 'static,
        L::Service: tower_service::Service<ToolCall, Response = CallToolResult, Error = CallError>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<ToolCall>>::Future: Send + 'static,
    {
        self.layers.push(pipeline::wrap(layer));
        self
    }

    /// Adjusts the MCP server the gateway serves (page size, message limits, instructions).
    pub fn server(
        mut self,
        adjust: impl FnOnce(mcp_core::ServerBuilder) -> mcp_core::ServerBuilder + Send + 'static,
    ) -> Self {
        self.adjust.push(Box::new(adjust));
        self
    }

    /// Calls `f` as each configured server's first start ends (up or not), with its name, the
    /// count so far and the total: for a progress bar while many servers start.
    pub fn on_started(mut self, f: impl Fn(&str, usize, usize) + Send + Sync + 'static) -> Self {
        self.on_started = Some(Box::new(f));
        self
    }

    /// Whether start and reload wait for the first start of servers in `readiness.optional`
    /// too (default true: a command that lists, calls or pins once wants every server's tools).
    /// A gateway that serves on passes false, so that a hung optional server does not hold it
    /// up: that server's tools join the list once it is up.
    pub fn wait_for_optional(mut self, wait: bool) -> Self {
        self.wait_for_optional = wait;
        self
    }

    /// Whether [`GatewayBuilder::start`] returns as soon as the configured servers are launched
    /// (default false: once their first starts have ended). The gateway's MCP server then
    /// answers the handshake, discovery and ping at once and holds lists, calls and reads until
    /// those starts have ended, 45 s at most in all (under the minute clients commonly give a
    /// request; servers slower than that join the list once up, and clients are told): see
    /// [`mcp_core::ServerBuilder::starting`]; [`Gateway::started`] waits for it too. For a
    /// gateway that serves clients: one whose servers take a while to start (a package
    /// downloaded on first use, a server that ignores the era probe) still answers a client's
    /// `initialize` within its timeout, and that client's first list holds every tool. A
    /// reload waits until those starts have ended; [`Gateway::shutdown`] (or dropping the
    /// gateway) before then gives the start up, answering the held requests with an error.
    pub fn serve_while_starting(mut self, serve: bool) -> Self {
        self.serve_while_starting = serve;
        self
    }

    /// How long a gateway [serving while it starts](GatewayBuilder::serve_while_starting) holds
    /// lists and calls for its servers' first starts, in all (default 45 s).
    pub fn starting_hold(mut self, hold: Duration) -> Self {
        self.starting_hold = hold;
        self
    }

    /// Opens the audit log, connects the databases, starts every configured server (waiting up
    /// to a minute for each first start, but see [`GatewayBuilder::wait_for_optional`] and
    /// [`GatewayBuilder::serve_while_starting`]) and returns the running gateway.
    pub async fn start(self) -> Result<Gateway> {
        Ok(start(self).await?)
    }
}

impl Gateway {
    /// A builder over `config` (see [`GatewayConfig::load`] and [`GatewayConfig::embedded`]).
    pub fn builder(config: GatewayConfig) -> GatewayBuilder {
        GatewayBuilder {
            config,
            tools: Vec::new(),
            layers: Vec::new(),
            adjust: Vec::new(),
            on_started: None,
            wait_for_optional: true,
            serve_while_starting: false,
            starting_hold: SERVING_HOLD,
        }
    }

    /// Builds the gateway from its configuration alone and starts it.
    pub async fn start(config: GatewayConfig) -> Result<Gateway> {
        Self::builder(config).start().await
    }
}

async fn start(builder: GatewayBuilder) -> anyhow::Result<Gateway> {
    let GatewayBuilder {
        config,
        tools: extra_tools,
        layers,
        adjust,
        on_started,
        wait_for_optional,
        serve_while_starting,
        starting_hold,
    } = builder;
    // The optional database mirror catches up from the file before new records arrive.
    let (mirror, drain) = match &config.audit.sql {
        Some(url) => {
            let url = mcp_core::config::expand(url, &|v| std::env::var(v).ok(), "audit", "audit.sql".into())?;
            let replica = mcp_audit::Replica::resolve(config.audit.replica.as_deref())?;
            let sink = mcp_audit::SqlSink::connect(&url, &replica)
                .await
                .context("connecting the audit database (audit.sql)")?;
            let (sender, drain) = sink.start(&config.audit.path).await?;
            (Some(sender), Some(drain))
        }
        None => (None, None),
    };
    let audit = AuditLog::open(
        &config.audit.path,
        AuditOptions {
            fsync: config.audit.fsync,
            mirror,
            segment_bytes: config.audit.segment_bytes.unwrap_or(AuditOptions::default().segment_bytes),
            ..Default::default()
        },
    )
    .with_context(|| format!("opening the audit log `{}`", config.audit.path.display()))?;

    let switching = Arc::new(Mutex::new(()));
    let Assembled { state, callers, started, servers } =
        assemble(&config, &extra_tools, &layers, &audit, &[], None, switching).await?;
    // Until the gateway exists to stop them, leaving early (an error, or a caller that stops
    // waiting) stops the upstream servers.
    let mut stop_on_drop = StopOnDrop(started.clone());
    let current = Arc::new(Current { state: std::sync::RwLock::new(state.clone()), subscriptions: Default::default() });

    let filter_state = Arc::downgrade(&current);
    let unknown_state = Arc::downgrade(&current);
    let local_principal = config.principal.clone().unwrap_or_else(|| "stdio".into());
    // The servers' prompts and resources, relayed from whichever state is in force.
    let mut registry = Registry::new();
    registry.prompt_source(relay::Relay { current: Arc::downgrade(&current) });
    registry.resource(relay::Relay { current: Arc::downgrade(&current) });
    let builder = Server::builder(Implementation::new("mcptk", env!("CARGO_PKG_VERSION")), registry)
        .principal(local_principal.clone())
        .instructions(
            "Tools and prompts of several MCP servers behind one gateway; names are `server__tool` and \
             `server__prompt`.",
        )
        .lists_change(true)
        .completions(relay::Relay::completer(Arc::downgrade(&current)))
        .resource_updates(true)
        .tool_filter(Arc::new(move |principal, tool| {
            filter_state.upgrade().is_some_and(|current| current.get().listed(principal, tool.name()))
        }))
        .unknown_tool(Arc::new(move |principal: &str, name: &str| {
            let (current, principal, name) = (unknown_state.upgrade(), principal.to_owned(), name.to_owned());
            Box::pin(async move { current?.get().why_unknown(&principal, &name).await })
        }));
    let builder = match task_store(&config)? {
        Some(store) => builder.task_store(Arc::new(store)),
        None => builder,
    };
    let builder = if serve_while_starting { builder.starting() } else { builder };
    let server = adjust.into_iter().fold(builder, |builder, adjust| adjust(builder)).build();
    state.bind(&server, &callers);

    // Start every server; rebuild the tool list whenever one (re)starts or changes its tools.
    let (changed_tx, changed) = tokio::sync::mpsc::unbounded_channel();
    watch_pins(&state, &changed_tx);
    let supervisors: Vec<_> = started
        .iter()
        .map(|upstream| {
            (
                upstream.clone(),
                tokio::spawn(supervise(upstream.clone(), changed_tx.clone(), &server, Arc::downgrade(&current))),
            )
        })
        .collect();
    // Servers the gateway is ready without, unless asked to: their tools join the list when
    // they are up (one that hangs would hold a serving gateway's start up for a minute).
    let awaited: Vec<_> =
        started.iter().filter(|u| wait_for_optional || !state.optional.contains(u.name())).cloned().collect();
    let reloading = Arc::new(tokio::sync::Mutex::new(Reloading {
        config,
        tools: extra_tools,
        layers,
        supervisors,
        servers,
        wait_for_optional,
    }));
    let deadline = serve_while_starting.then(|| tokio::time::Instant::now() + starting_hold);
    let first = first_starts(awaited, on_started, state, server.clone(), deadline);
    let weak = Arc::downgrade(&current);
    let rebuilder = if serve_while_starting {
        // The gateway exists from here on: dropping it stops the servers and this work; a
        // reload waits until the first starts have ended.
        let held = reloading.clone().try_lock_owned().expect("a new lock is free");
        tokio::spawn(async move {
            first.await;
            drop(held);
            rebuilds(changed, weak).await;
        })
    } else {
        first.await;
        tokio::spawn(rebuilds(changed, weak))
    };
    stop_on_drop.0.clear();
    Ok(Gateway {
        audit: audit.clone(),
        server,
        principal: local_principal,
        current,
        mirror: drain,
        reloading,
        changed: changed_tx,
        rebuilder,
    })
}

/// How long start and reload wait for a server's first start.
const FIRST_START: Duration = Duration::from_secs(60);

/// How long a gateway serving while it starts holds lists and calls for its servers' first
/// starts, in all, by default: under the minute clients commonly give a request (the TypeScript
/// SDK's default). Servers slower than that join the list once they are up, and clients are told.
const SERVING_HOLD: Duration = Duration::from_secs(45);

/// Waits for the first start of each of `awaited` (a minute at most each, and all of them until
/// `deadline` when there is one), telling `on_started` as each ends, then builds the tool list
/// and marks `server` ready. Dropped before (aborted, or a panic), it gives the server's start
/// up: held requests end with an error, not never.
async fn first_starts(
    awaited: Vec<Arc<Upstream>>,
    on_started: Option<StartedFn>,
    state: Arc<State>,
    server: Server,
    deadline: Option<tokio::time::Instant>,
) {
    struct AbandonUnlessReady(Server);
    impl Drop for AbandonUnlessReady {
        fn drop(&mut self) {
            if std::thread::panicking() {
                tracing::error!("the gateway's start failed: requests that need its tools are refused");
            }
            self.0.abandon_start();
        }
    }
    let guard = AbandonUnlessReady(server);
    for (done, upstream) in awaited.iter().enumerate() {
        let patience = deadline.map_or(FIRST_START, |d| d.saturating_duration_since(tokio::time::Instant::now()));
        upstream.started(patience.min(FIRST_START)).await;
        if let Some(f) = &on_started {
            f(upstream.name(), done + 1, awaited.len());
        }
    }
    state.rebuild();
    guard.0.mark_ready();
}

/// Runs `upstream` until it is stopped, passing its log messages that belong to none of its calls
/// on to the gateway's stdio client (see `Server::notify_log`), masked as the configuration in
/// force (`current`, reloads included) masks results.
fn supervise(
    upstream: Arc<Upstream>,
    changed: tokio::sync::mpsc::UnboundedSender<()>,
    server: &Server,
    current: std::sync::Weak<Current>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    // Its updates go to the clients that named the resource.
    let (mut updates, updated, subscribers, from) =
        (upstream.updates(), server.clone(), current.clone(), upstream.name().to_owned());
    let updates = async move {
        loop {
            match updates.recv().await {
                Ok(sent) => {
                    let Some(current) = subscribers.upgrade() else { continue };
                    for uri in current.subscriptions.named(&from, &sent) {
                        updated.notify_resource_updated(uri);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    };
    let (mut logs, server) = (upstream.logs(), server.clone());
    let relay = async move {
        loop {
            match logs.recv().await {
                Ok(mut log) => {
                    // The gateway is going: its servers' messages have nobody to go to.
                    let Some(current) = current.upgrade() else { continue };
                    if let Some(mask) = &current.get().log_mask {
                        mcp_core::tool::mask_log(mask, &mut log);
                    }
                    server.notify_log(log);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    };
    async move {
        tokio::select! {
            () = upstream.supervise(changed) => {}
            () = relay => {}
            () = updates => {}
        }
    }
}

/// Rebuilds the tool list of the state in force whenever a server (re)starts or changes its
/// tools, for as long as the gateway lives.
async fn rebuilds(mut changed: tokio::sync::mpsc::UnboundedReceiver<()>, current: std::sync::Weak<Current>) {
    while changed.recv().await.is_some() {
        // Coalesce bursts (several servers starting at once) into one rebuild.
        while changed.try_recv().is_ok() {}
        match current.upgrade() {
            Some(current) => current.get().rebuild(),
            None => break,
        }
    }
}

/// What [`assemble`] builds.
struct Assembled {
    state: Arc<State>,
    /// Parts that call tools through the pipeline, to bind to it.
    callers: Vec<Arc<ThroughPipeline>>,
    /// Upstream servers made anew, not yet supervised (started).
    started: Vec<Arc<Upstream>>,
    /// The configured servers as read for this state: what the next reload compares with.
    servers: mcp_core::McpConfig,
}

/// Builds everything the configuration decides but the audit log and the MCP server: the
/// servers, the policy, the limits and the pipeline. On a reload, `running` are the upstream
/// servers in use and `previous` the configuration they run under (as read then, with its
/// restart policy): a server whose settings are unchanged is kept, running, rather than started
/// again. `switching` is the gateway's lock of state switches.
async fn assemble(
    config: &GatewayConfig,
    extra_tools: &[(String, ToolSet)],
    layers: &[pipeline::Wrap],
    audit: &AuditLog,
    running: &[Arc<Upstream>],
    previous: Option<(&mcp_core::McpConfig, mcp_core::supervised::Restart)>,
    switching: Arc<Mutex<()>>,
) -> anyhow::Result<Assembled> {
    config.validate_settings()?;
    let servers = config.servers()?;
    // A name that means no server is an error for `mcptk config check`, and only a warning
    // here: a start or reload does not fail on a rule for a server this machine lacks.
    let added: Vec<&str> = extra_tools.iter().map(|(name, _)| name.as_str()).collect();
    match config.check_names(&servers, &added) {
        Ok(warnings) => warnings.iter().for_each(|warning| tracing::warn!("{warning}")),
        Err(e) => tracing::warn!("{e:#}"),
    }
    // Every secret the configuration references is masked wherever it might show up.
    let mut secrets: Vec<String> = Vec::new();
    for (name, entry) in servers.enabled() {
        // What a `${VAR}` expanded to, wherever in the entry (an argument, the URL, part of a
        // header), when the variable is named like a secret (`API_KEY`, `GITHUB_TOKEN`), and the
        // credentials of a URL it held; and the values of `env` and `headers` as a whole,
        // written out or not. (`${HOME}` in a path is not masked in every server's results;
        // the server's own client masks every expanded value in what the server says.)
        let (server, expanded) = mcp_core::client::resolve(name, entry).with_context(|| format!("server `{name}`"))?;
        for (variable, value) in expanded {
            if value.contains("://") {
                secrets.extend(mcp_core::config::url_credentials(&value));
            }
            if mcp_security::secret_name(&variable) {
                secrets.push(value);
            }
        }
        match server {
            ServerConfig::Stdio(s) => secrets.extend(s.env.into_values()),
            ServerConfig::Http(h) => secrets.extend(h.headers.into_values()),
        }
    }
    // A database password given as `${VAR}` in a URL is a secret too, and so is every key,
    // whether given as `${VAR}` or written out.
    let store_url = config.rate_limit_store.as_ref().map(|s| s.redis.as_str());
    let task_url = config.task_store.as_ref().map(|s| s.redis.as_str());
    let pins_url = config.pinning.as_ref().and_then(|p| p.database.as_deref());
    for url in config.native.sql.values().map(|db| db.url.as_str()).chain(store_url).chain(task_url).chain(pins_url) {
        secrets.extend(referenced_values(url));
    }
    let keys = config.native.sql.values().filter_map(|db| db.generate.as_ref().and_then(|g| g.api_key.as_deref()));
    for key in keys.chain(config.agent.api_key.as_deref()) {
        secrets.extend(referenced_values(key));
        secrets.extend(mcp_core::config::expand(key, &|v| std::env::var(v).ok(), "", String::new()).ok());
    }
    let perplexity_key = match &config.native.perplexity {
        Some(p) => {
            let field = "native.perplexity.api_key".to_owned();
            let key = p.api_key.as_deref().unwrap_or(PERPLEXITY_KEY);
            let key = mcp_core::config::expand(key, &|v| std::env::var(v).ok(), PERPLEXITY, field)?;
            secrets.push(key.clone());
            Some(key)
        }
        None => None,
    };
    let github_token = match &config.native.github {
        Some(g) => {
            let field = "native.github.token".to_owned();
            let token = g.token.as_deref().unwrap_or(GITHUB_TOKEN);
            let token = mcp_core::config::expand(token, &|v| std::env::var(v).ok(), GITHUB, field)?;
            secrets.push(token.clone());
            Some(token)
        }
        None => None,
    };
    secrets.retain(|s| !s.is_empty());
    let redactor = Arc::new(Redactor::from_env(&config.redaction.env).with_secrets(secrets));

    let policy = Arc::new(match config.policy.clone() {
        Some(p) => Policy::new(p)?,
        None => Policy::allow_all(),
    });
    let pins = match &config.pinning {
        Some(p) => Some(pins(p).await?),
        None => None,
    };
    // A server running under the same settings is kept as it is (a reload does not restart it).
    let mut started = Vec::new();
    let mut upstreams: Vec<Arc<Upstream>> = Vec::new();
    for (name, entry) in servers.enabled() {
        let restart = config.restart.restart();
        let same = |old: &&Arc<Upstream>| {
            old.name() == name
                && previous.is_some_and(|(servers, was)| was == restart && same_server(servers, name, entry))
        };
        match running.iter().find(same) {
            Some(old) => upstreams.push(old.clone()),
            None => {
                let upstream = Upstream::new(name, servers.clone(), restart);
                started.push(upstream.clone());
                upstreams.push(upstream);
            }
        }
    }
    let remote: HashSet<String> = servers.enabled().map(|(name, _)| name.to_owned()).collect();
    let optional = config.readiness.servers(&servers)?;
    let mut local = HashMap::new();
    // Native servers with prompts or resources, served whole (not only their tools).
    let mut native: Vec<(String, Registry)> = Vec::new();
    if let Some(fs) = &config.native.fs {
        let client_roots =
            if fs.client_roots { mcp_fs::native::ClientRoots::Narrow } else { mcp_fs::native::ClientRoots::Ignore };
        let tools = mcp_fs::native::FsServer::open_with(&fs.roots, client_roots, Default::default())?.registry().tools;
        claim(&mut local, &remote, "fs", "native.fs", tools)?;
    }
    if let Some(sh) = &config.native.shell {
        let tools = mcp_shell::native::ShellServer::new(sh.shell_config()).context("native.shell")?.registry().tools;
        claim(&mut local, &remote, "shell", "native.shell", tools)?;
    }
    if config.native.builtin {
        claim(&mut local, &remote, "builtin", "native.builtin", Registry::linked().tools)?;
    }
    if let (Some(perplexity), Some(key)) = (&config.native.perplexity, perplexity_key) {
        claim(&mut local, &remote, PERPLEXITY, "native.perplexity", perplexity_tools(perplexity, key)?)?;
    }
    if let (Some(github), Some(token)) = (&config.native.github, github_token) {
        claim(&mut local, &remote, GITHUB, "native.github", github_tools(github, token)?)?;
    }
    if let Some(docker) = &config.native.docker {
        let registry = docker_registry(docker)?;
        claim(&mut local, &remote, "docker", "native.docker", registry.tools.clone())?;
        // Its prompt and resources are relayed as the servers' are.
        native.push(("docker".to_owned(), registry));
    }
    if let Some(k8s) = &config.native.k8s {
        claim(&mut local, &remote, "k8s", "native.k8s", k8s_tools(k8s).await?)?;
    }
    for (name, tools) in extra_tools {
        claim(&mut local, &remote, name, &format!("tools added as `{name}`"), tools.clone())?;
    }
    let mut connections = mcp_sql::Connections::new();
    // Parts of the gateway that call tools themselves do so through the pipeline, bound to
    // it once it exists.
    let mut callers: Vec<Arc<ThroughPipeline>> = Vec::new();
    for (name, db) in &config.native.sql {
        let field = format!("native.sql.{name}.url");
        if local.contains_key(name) || name == GATEWAY || remote.contains(name) {
            anyhow::bail!("native.sql.{name}: the name `{name}` is already taken by another server");
        }
        let url = mcp_core::config::expand(&db.url, &|v| std::env::var(v).ok(), "native.sql", field.clone())?;
        let defaults = mcp_sql::Limits::default();
        let limits = mcp_sql::Limits {
            max_rows: db.max_rows.unwrap_or(defaults.max_rows),
            max_bytes: db.max_bytes.unwrap_or(defaults.max_bytes),
            statement_timeout: db.timeout_secs.map_or(defaults.statement_timeout, Duration::from_secs),
        };
        let database = if db.write {
            mcp_sql::Database::connect_writable(&url, limits).await
        } else {
            mcp_sql::Database::connect(&url, limits).await
        }
        .with_context(|| format!("connecting the database `{name}` ({field})"))?;
        let mut server = mcp_sql::SqlServer::new(database);
        if let Some(generate) = &db.generate {
            server = server.with_generator(sql_generator(name, generate, &upstreams, &mut callers)?);
        }
        connections.add(name.clone(), &server);
        local.insert(name.clone(), server.registry().tools);
    }
    // Every named database also behind one `database` server (the seed's
    // `database.execute_query(connection, query)`), unless that name is taken.
    if !config.native.sql.is_empty() && !local.contains_key(DATABASE) && !remote.contains(DATABASE) {
        local.insert(DATABASE.to_owned(), connections.registry().tools);
    }
    let exposed: Exposed = Arc::default();
    let mut gateway_tools = ToolSet::new();
    let lookup = exposed.clone();
    gateway_tools.add(mcp_security::check_access_tool(
        policy.clone(),
        Arc::new(move |name: &str| {
            let exposed = lookup.lock().unwrap_or_else(PoisonError::into_inner);
            exposed.get(name).map(|(server, definition)| (server.clone(), Tool::clone(definition)))
        }),
    ));
    gateway_tools.add(mcp_audit::log_event_tool(audit.clone(), redactor.clone()));
    local.insert(GATEWAY.to_owned(), gateway_tools);

    let mut routes = Routes::new();
    for (name, tools) in &local {
        routes.add(name.clone(), Arc::new(tools.clone()));
    }
    for (name, registry) in &native {
        routes.add(name.clone(), Arc::new(registry.clone()));
    }
    for upstream in &upstreams {
        routes.add(upstream.name(), upstream.clone());
    }
    let timeouts = config.timeouts();
    let (timeout, per_server) = timeouts.clone();
    let retry = RetryLayer::new(config.retries.attempts, Duration::from_millis(config.retries.base_delay_ms));
    // The timeout counts the wait for a turn too: a call queued behind a server's hung calls ends
    // within its timeout, as its error says, instead of after a multiple of it.
    let inner = retry.layer(pipeline::endpoint(Arc::new(routes)));
    let inner = ConcurrencyLayer::new(config.concurrency.unwrap_or(64)).layer(inner);
    let inner = TimeoutLayer::new(timeout, per_server).layer(inner);
    let mut inner = pipeline::boxed(ValidateLayer::default().layer(inner));
    for wrap in layers.iter().rev() {
        inner = wrap(inner);
    }
    let inner = RateLimitLayer::new(rate_limits(config)?).layer(inner);
    let inner = AuthorizeLayer::new(policy.clone(), pins.clone()).layer(inner);
    let inner = AuditLayer::new(audit.clone(), redactor.clone()).layer(inner);
    let redact = RedactLayer::new(redactor.clone(), !config.redaction.skip_results);
    let log_mask = redact.mask();
    let inner = redact.layer(inner);
    let service = Arc::new(pipeline::boxed(ObserveLayer.layer(inner)));

    let state = Arc::new(State {
        service,
        names: Mutex::new(NameMap::new()),
        exposed,
        local,
        native,
        relay: config.relay,
        upstreams,
        optional,
        policy,
        pins,
        annotations: config.annotations.clone(),
        server: std::sync::OnceLock::new(),
        served: Mutex::default(),
        switching,
        retired: Default::default(),
        blind_warned: Mutex::default(),
        unmatched_warned: Mutex::default(),
        findings: Mutex::default(),
        log_mask,
        relayed: Mutex::default(),
        prompt_definitions: Mutex::default(),
        timeouts,
    });

    Ok(Assembled { state, callers, started, servers })
}

/// Whether the server `name` ran under the same settings in `previous` (the servers as read for
/// the running state) as `entry` now (every variable expanded, so a changed secret counts as a
/// change).
fn same_server(previous: &mcp_core::McpConfig, name: &str, entry: &ServerEntry) -> bool {
    let env = |v: &str| std::env::var(v).ok();
    let Some(old) = previous.enabled().find(|(n, _)| *n == name).map(|(_, e)| e.clone()) else { return false };
    match (old.resolve(name, &env), entry.resolve(name, &env)) {
        (Ok(ServerConfig::Stdio(a)), Ok(ServerConfig::Stdio(b))) => {
            a.command == b.command && a.args == b.args && a.env == b.env && a.cwd == b.cwd
        }
        (Ok(ServerConfig::Http(a)), Ok(ServerConfig::Http(b))) => {
            a.url == b.url && a.headers == b.headers && a.secrets == b.secrets && a.oauth == b.oauth
        }
        _ => false,
    }
}

/// What a [`Gateway::reload`] did to the configured (upstream) servers, by name. Native
/// servers are built anew from the configuration on every reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reloaded {
    /// Servers started for the first time.
    pub added: Vec<String>,
    /// Servers started again because their settings changed.
    pub restarted: Vec<String>,
    /// Servers stopped because the configuration no longer has them.
    pub removed: Vec<String>,
    /// Servers kept running as they were.
    pub kept: Vec<String>,
}

/// Reloads a running gateway's configuration from another task, e.g. on SIGHUP (see
/// [`Gateway::reload`]).
#[derive(Clone)]
pub struct Reloader {
    server: Server,
    audit: AuditLog,
    current: Arc<Current>,
    reloading: Arc<tokio::sync::Mutex<Reloading>>,
    changed: tokio::sync::mpsc::UnboundedSender<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

/// How long a server the configuration dropped keeps running for calls already made on it.
const RETIRE_GRACE: Duration = Duration::from_secs(30);

impl Reloader {
    /// See [`Gateway::reload`].
    pub async fn reload(&self, config: GatewayConfig) -> Result<Reloaded> {
        let mut reloading = self.reloading.lock().await;
        fixed_at_start(&reloading.config, &config)?;
        let old = self.current.get();
        let running: Vec<Arc<Upstream>> = reloading.supervisors.iter().map(|(u, _)| u.clone()).collect();
        let previous = Some((&reloading.servers, reloading.config.restart.restart()));
        let switching = old.switching.clone();
        let Assembled { state, callers, started, servers } =
            assemble(&config, &reloading.tools, &reloading.layers, &self.audit, &running, previous, switching).await?;
        watch_pins(&state, &self.changed);
        let mut done = Reloaded::default();
        let was = |name: &str| old.upstreams.iter().any(|u| u.name() == name);
        for upstream in &state.upstreams {
            let name = upstream.name().to_owned();
            match started.iter().any(|s| Arc::ptr_eq(s, upstream)) {
                true if was(&name) => done.restarted.push(name),
                true => done.added.push(name),
                false => done.kept.push(name),
            }
        }
        let now: HashSet<&str> = state.upstreams.iter().map(|u| u.name()).collect();
        done.removed = old.upstreams.iter().map(|u| u.name()).filter(|n| !now.contains(n)).map(str::to_owned).collect();

        // New servers start before the switch, so that their tools are there from its first call.
        let mut stop_on_drop = StopOnDrop(started.clone());
        for upstream in &started {
            let supervisor = tokio::spawn(supervise(
                upstream.clone(),
                self.changed.clone(),
                &self.server,
                Arc::downgrade(&self.current),
            ));
            reloading.supervisors.push((upstream.clone(), supervisor));
        }
        let wait_for_optional = reloading.wait_for_optional;
        for upstream in started.iter().filter(|u| wait_for_optional || !state.optional.contains(u.name())) {
            upstream.started(FIRST_START).await;
        }
        stop_on_drop.0.clear();
        state.bind(&self.server, &callers);
        {
            // One switch: no rebuild of the old state serves its tools after it, and the new
            // state knows its tools before it is the one in force.
            let _switching = state.switching.lock().unwrap_or_else(PoisonError::into_inner);
            old.retired.store(true, std::sync::atomic::Ordering::SeqCst);
            // What clients were told of prompts and resources, so that they hear of what the new
            // configuration changes there (a server gone, `relay` turned off), and only of that.
            let told = old.relayed.lock().unwrap_or_else(PoisonError::into_inner).clone();
            *state.relayed.lock().unwrap_or_else(PoisonError::into_inner) = told;
            state.rebuild_switching();
            self.current.set(state.clone());
        }
        // A server (re)configured by the reload takes up the subscriptions its clients hold,
        // as they stand now that it is the one their subscribes and unsubscribes go to.
        for upstream in &started {
            let (upstream, current) = (upstream.clone(), Arc::downgrade(&self.current));
            tokio::spawn(async move {
                let name = upstream.name().to_owned();
                upstream
                    .reconcile(|| current.upgrade().map(|c| c.subscriptions.sent_to(&name)).unwrap_or_default())
                    .await;
            });
        }

        // Servers no longer used stop once the calls that old state started are done.
        let (keep, retire): (Vec<_>, Vec<_>) = std::mem::take(&mut reloading.supervisors)
            .into_iter()
            .partition(|(upstream, _)| state.upstreams.iter().any(|u| Arc::ptr_eq(u, upstream)));
        reloading.supervisors = keep;
        let in_flight = Arc::downgrade(&old.service);
        drop(old);
        if !retire.is_empty() {
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + RETIRE_GRACE;
                while in_flight.upgrade().is_some() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                for (upstream, _) in &retire {
                    upstream.stop();
                }
                for (_, supervisor) in retire {
                    let _ = tokio::time::timeout(Duration::from_secs(10), supervisor).await;
                }
            });
        }
        reloading.config = config;
        reloading.servers = servers;
        Ok(done)
    }
}

/// Refuses a new configuration that changes what is fixed when the gateway starts.
fn fixed_at_start(running: &GatewayConfig, new: &GatewayConfig) -> anyhow::Result<()> {
    let fields = [
        ("audit", format!("{:?}", running.audit), format!("{:?}", new.audit)),
        ("principal", format!("{:?}", running.principal), format!("{:?}", new.principal)),
        ("task_store", format!("{:?}", running.task_store), format!("{:?}", new.task_store)),
    ];
    for (field, was, is) in fields {
        if was != is {
            anyhow::bail!(
                "`{field}` cannot change while the gateway runs (restart it to apply); the running configuration stays in force"
            );
        }
    }
    Ok(())
}

impl Gateway {
    /// Applies `config` without dropping a client. Configured servers whose settings are
    /// unchanged keep running; new ones start (waiting up to a minute each, as at start, and
    /// as [`GatewayBuilder::wait_for_optional`] says for optional ones);
    /// changed ones start again; removed ones stop once the calls already made on them have
    /// finished (30 s at most). The policy, limits, pins, annotations, redaction, timeouts,
    /// retries and native servers come from `config` for every call from then on; calls already
    /// running finish under the configuration they started with. Clients are told that the
    /// tool list changed.
    ///
    /// The audit settings, the principal and the task store are fixed at start: a `config`
    /// changing them is refused, as is one that fails to build; either way the running
    /// configuration stays in force.
    pub async fn reload(&self, config: GatewayConfig) -> Result<Reloaded> {
        self.reloader().reload(config).await
    }

    /// A handle that reloads this gateway from another task (e.g. on SIGHUP).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            server: self.server.clone(),
            audit: self.audit.clone(),
            current: self.current.clone(),
            reloading: self.reloading.clone(),
            changed: self.changed.clone(),
        }
    }
}

impl Gateway {
    /// Call once serving has ended: stops every upstream server (each closed, then killed if it
    /// has not exited within two seconds) and the gateway's background work, then waits (a few
    /// seconds at most) until the audit database holds every record, so a clean exit leaves
    /// nothing to the next start's catch-up. Records already acknowledged are durable in the log.
    pub async fn shutdown(self) {
        // A start still under way ends here (it holds the reload lock); the requests it held are
        // answered with an error.
        self.rebuilder.abort();
        self.server.abandon_start();
        let supervisors = std::mem::take(&mut self.reloading.lock().await.supervisors);
        for (upstream, _) in &supervisors {
            upstream.stop();
        }
        // They stop together (each closed, then killed after two seconds): one deadline for all.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for (_, mut supervisor) in supervisors {
            if tokio::time::timeout_at(deadline, &mut supervisor).await.is_err() {
                tracing::warn!("an upstream server did not stop within 10 s; leaving it to be killed");
                supervisor.abort();
            }
        }
        if let Some(mirror) = &self.mirror
            && !mirror.drain(Duration::from_secs(5)).await
        {
            tracing::warn!("the audit database is behind the log file; the next start catches it up");
        }
    }

    /// The principal of local callers: stdio clients and the command line (`principal` in the
    /// configuration, default `stdio`).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Whether the gateway can answer calls, as a function that outlives this handle (for an
    /// HTTP route): its audit log must be able to make records durable (every call is refused
    /// otherwise), and its start not given up (see [`GatewayBuilder::serve_while_starting`]:
    /// it failed, or the gateway is stopping). The error says why not.
    pub fn health_probe(&self) -> impl Fn() -> Result<(), String> + Clone + Send + Sync + 'static {
        let audit = self.audit.clone();
        let server = self.server.clone();
        move || {
            audit.health().map_err(|e| {
                // The probe may be open to anyone: the detail (paths, OS errors) goes to the log.
                tracing::debug!(error = %e, "health probe: the audit log is not durable");
                "unhealthy: the audit log cannot make records durable".to_owned()
            })?;
            // A start given up (it failed, or the gateway is stopping) never serves tools again.
            if server.start_state() == mcp_core::StartState::Abandoned {
                return Err("unhealthy: the gateway gave up its start".to_owned());
            }
            Ok(())
        }
    }

    /// Whether the gateway should get traffic: healthy (see [`Gateway::health_probe`]), started
    /// (see [`Gateway::started`]) and every upstream server up but those of `readiness.optional`.
    /// The reason names the first server that is down, never its error.
    pub fn readiness_probe(&self) -> impl Fn() -> Readiness + Clone + Send + Sync + 'static {
        let healthy = self.health_probe();
        let current = Arc::downgrade(&self.current);
        let server = self.server.clone();
        move || {
            let start = server.start_state();
            // The servers of the configuration in force (a reload may change them), but those
            // it is ready without.
            let upstreams: Vec<_> = match current.upgrade() {
                Some(current) => {
                    let state = current.get();
                    state.upstreams.iter().filter(|u| !state.optional.contains(u.name())).cloned().collect()
                }
                None => Vec::new(),
            };
            let healthy = healthy.clone();
            Box::pin(async move {
                healthy().map_err(|why| why.replacen("unhealthy", "not ready", 1))?;
                if start == mcp_core::StartState::Starting {
                    return Err("not ready: the servers are starting".to_owned());
                }
                for upstream in &upstreams {
                    if !upstream.is_up().await {
                        return Err(format!("not ready: the server `{}` is not running", upstream.name()));
                    }
                }
                Ok(())
            })
        }
    }

    /// Waits until the first starts of the configured servers have ended and the tool list
    /// holds their tools (`Ready`), or the start was given up (`Abandoned`: the gateway shut
    /// down first): at once, unless built to [serve while
    /// starting](GatewayBuilder::serve_while_starting).
    pub async fn started(&self) -> mcp_core::StartState {
        self.server.started().await
    }

    /// The MCP server to serve.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// What the servers' tool lists showed wrong in the configuration in force, as warned
    /// about in the log when they were listed: a policy `tools` entry or `annotations` key that
    /// names no tool, and a deny rule on an argument some of its tools do not take (which then
    /// refuses none of their calls). A server that runs but has listed no tools yet is named
    /// too: what concerns it is not checked yet. (One that is down is not: [`Gateway::catalog`]
    /// says why.)
    pub async fn tool_findings(&self) -> Vec<String> {
        let state = self.current.get();
        let mut findings = state.findings.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for upstream in &state.upstreams {
            if upstream.generation() == 0 && upstream.down_reason().await.is_none() {
                findings.push(format!(
                    "server `{}` has listed no tools yet (still starting): the policy's and the annotations' names \
                     that concern it are not checked",
                    upstream.name()
                ));
            }
        }
        findings
    }

    /// What `principal` sees, by server (sorted by name): each server's tools under their own
    /// names (as [`Gateway::call`] takes them), or why the server is not running.
    pub async fn catalog(&self, principal: &str) -> Vec<(String, Result<Vec<Tool>, String>)> {
        let state = self.current.get();
        let mut by_server: std::collections::BTreeMap<String, Result<Vec<Tool>, String>> =
            state.local.keys().map(|name| (name.clone(), Ok(Vec::new()))).collect();
        for upstream in &state.upstreams {
            let status = match upstream.down_reason().await {
                Some(reason) => Err(reason),
                None => Ok(Vec::new()),
            };
            by_server.insert(upstream.name().to_owned(), status);
        }
        let served = self.server.tools();
        let exposed = state.exposed.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for tool in served.iter() {
            let Some((server, own)) = exposed.get(tool.name()) else { continue };
            if let Some(Ok(tools)) = by_server.get_mut(server)
                && state.listed(principal, tool.name())
            {
                tools.push(Tool::clone(own));
            }
        }
        by_server.into_iter().collect()
    }

    /// Calls `server`'s tool `tool` (its own name, not the exposed one) through the pipeline,
    /// as the caller `cx` names.
    pub async fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: mcp_core::protocol::JsonObject,
        cx: mcp_core::ToolContext,
    ) -> Result<CallToolResult> {
        let state = self.current.get();
        Ok(state.call(server, tool, arguments, cx).await?)
    }

    /// Whether `tool` (an exposed definition) is offered to `principal` under the policy.
    pub fn visible(&self, principal: &str, tool: &Tool) -> bool {
        self.current.get().listed(principal, &tool.name)
    }

    /// Records the current definitions of every server as approved in the pin lock (the lock
    /// file, or the pin database every replica reads).
    pub async fn approve_pins(&self) -> Result<usize> {
        let state = self.current.get();
        let Some(pins) = &state.pins else {
            return Err(
                anyhow::anyhow!("pinning is not configured (no `pinning.lock_file` or `pinning.database`)").into()
            );
        };
        let mut count = 0;
        for upstream in &state.upstreams {
            let tools = upstream.tools();
            count += tools.len();
            pins.approve(upstream.name(), &tools).await.map_err(anyhow::Error::from)?;
        }
        Ok(count)
    }
}

/// Serves `tools` as `name`, refusing a name another server already has (`setting` names where
/// the name was given).
fn claim(
    local: &mut HashMap<String, ToolSet>,
    remote: &HashSet<String>,
    name: &str,
    setting: &str,
    tools: ToolSet,
) -> anyhow::Result<()> {
    if local.contains_key(name) || name == GATEWAY || remote.contains(name) {
        anyhow::bail!("{setting}: the name `{name}` is already taken by another server");
    }
    local.insert(name.to_owned(), tools);
    Ok(())
}

/// Stops the upstream servers it holds when dropped, unless emptied first.
struct StopOnDrop(Vec<Arc<Upstream>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for upstream in &self.0 {
            upstream.stop();
        }
    }
}

/// The server name of the native Perplexity tools, and where their key is by default.
const PERPLEXITY: &str = "perplexity";
const PERPLEXITY_KEY: &str = "${PERPLEXITY_API_KEY}";

/// The native Perplexity tools as configured (`native.perplexity`) over the npm server's own
/// variables (`PERPLEXITY_BASE_URL`, `PERPLEXITY_TIMEOUT_MS`, `PERPLEXITY_PROXY`), with `key`.
fn perplexity_tools(settings: &config::NativePerplexity, key: String) -> anyhow::Result<ToolSet> {
    let vars = |name: &str| if name == "PERPLEXITY_API_KEY" { Some(key.clone()) } else { std::env::var(name).ok() };
    let mut perplexity = mcp_perplexity::native::PerplexityConfig::from_vars(vars).context("native.perplexity")?;
    if let Some(url) = settings.base_url.clone().filter(|u| !u.is_empty()) {
        perplexity.base_url = url;
    }
    if let Some(secs) = settings.timeout_secs {
        perplexity.timeout = Duration::from_secs(secs);
    }
    let server = mcp_perplexity::native::PerplexityServer::new(perplexity).context("native.perplexity")?;
    Ok(server.registry().tools)
}

/// The server name of the native GitHub tools, and where their token is by default.
const GITHUB: &str = "github";
const GITHUB_TOKEN: &str = "${GITHUB_PERSONAL_ACCESS_TOKEN}";

/// The native GitHub tools as configured (`native.github`) over the Go server's own variables
/// (`GITHUB_HOST`, `GITHUB_TOOLSETS`, ...), with `token`.
fn github_tools(settings: &config::NativeGitHub, token: String) -> anyhow::Result<ToolSet> {
    let vars = |name: &str| {
        if name == "GITHUB_PERSONAL_ACCESS_TOKEN" { Some(token.clone()) } else { std::env::var(name).ok() }
    };
    let mut github = mcp_github::native::GitHubConfig::from_vars(vars).context("native.github")?;
    if let Some(host) = settings.host.clone().filter(|h| !h.is_empty()) {
        github.host = Some(host);
    }
    if !settings.toolsets.is_empty() {
        github.toolsets = settings.toolsets.clone();
    }
    github.tools.extend(settings.tools.iter().cloned());
    github.exclude_tools.extend(settings.exclude_tools.iter().cloned());
    github.read_only |= settings.read_only;
    github.lockdown |= settings.lockdown_mode;
    github.features.extend(settings.features.iter().cloned());
    github.insiders |= settings.insiders;
    let server = mcp_github::native::GitHubServer::new(github).context("native.github")?;
    Ok(server.registry().tools)
}

/// The native Kubernetes tools as configured (`native.k8s`).
async fn k8s_tools(settings: &config::NativeK8s) -> anyhow::Result<ToolSet> {
    let denied_resources = settings
        .denied_resources
        .iter()
        .map(|d| d.parse())
        .collect::<Result<Vec<_>, _>>()
        .context("native.k8s.denied_resources")?;
    let config = mcp_k8s::native::K8sConfig {
        kubeconfig: settings.kubeconfig.clone(),
        context: settings.context.clone(),
        read_only: settings.read_only,
        disable_destructive: settings.disable_destructive,
        denied_resources,
        allow_secret_data: settings.allow_secret_data,
        list_output: settings.list_output.as_deref().unwrap_or("table").parse().context("native.k8s.list_output")?,
    };
    let server = mcp_k8s::native::K8sServer::connect(config).await.context("native.k8s")?;
    Ok(server.registry().tools)
}

/// The pins: a lock file, or the database of `pinning.database` (its URL expanded), which must be
/// reachable for the gateway to start.
async fn pins(config: &mcp_security::PinsConfig) -> anyhow::Result<Arc<Pins>> {
    config.validate()?;
    let Some(url) = &config.database else { return Ok(Arc::new(Pins::open(config)?)) };
    let mut config = config.clone();
    let url = mcp_core::config::expand(url, &|v| std::env::var(v).ok(), "pinning", "pinning.database".into())?;
    config.database = Some(url);
    Ok(Pins::connect(&config).await?)
}

/// Rebuilds the tool list (through `changed`) whenever the state's pins change underneath: another
/// replica approved definitions in the shared pin database.
fn watch_pins(state: &State, changed: &tokio::sync::mpsc::UnboundedSender<()>) {
    if let Some(pins) = &state.pins {
        let changed = changed.clone();
        pins.watch(move || {
            let _ = changed.send(());
        });
    }
}

/// The rate limits, held in the shared store when `rate_limit_store` is set (its URL expanded).
fn rate_limits(config: &GatewayConfig) -> anyhow::Result<RateLimits> {
    let limits = RateLimits::new(config.rate_limits.clone())?;
    let Some(store) = &config.rate_limit_store else { return Ok(limits) };
    let field = "rate_limit_store.redis".to_owned();
    let mut store = store.clone();
    store.redis = mcp_core::config::expand(&store.redis, &|v| std::env::var(v).ok(), "rate_limit_store", field)?;
    Ok(limits.with_store(&store)?)
}

/// The shared task store, when `task_store` is set (its URL expanded).
fn task_store(config: &GatewayConfig) -> anyhow::Result<Option<task_store::RedisTaskStore>> {
    let Some(store) = &config.task_store else { return Ok(None) };
    let mut store = store.clone();
    let field = "task_store.redis".to_owned();
    store.redis = mcp_core::config::expand(&store.redis, &|v| std::env::var(v).ok(), "task_store", field)?;
    Ok(Some(task_store::RedisTaskStore::open(&store)?))
}

/// The native Docker server as configured (`native.docker`): the engine's address expanded, the
/// safety settings given, the defaults for the rest.
fn docker_registry(settings: &config::NativeDocker) -> anyhow::Result<Registry> {
    let host = match &settings.host {
        Some(host) => {
            Some(mcp_core::config::expand(host, &|v| std::env::var(v).ok(), "docker", "native.docker.host".to_owned())?)
        }
        None => None,
    };
    let defaults = mcp_docker::native::Limits::default();
    let limits = mcp_docker::native::Limits {
        memory_bytes: settings.memory_mib.map_or(defaults.memory_bytes, |m| m * 1024 * 1024),
        nano_cpus: settings.cpus.map_or(defaults.nano_cpus, |c| (c * 1e9) as i64),
        pids: settings.pids_limit.unwrap_or(defaults.pids),
    };
    let safety = mcp_docker::native::Safety {
        allowed_host_paths: settings.allowed_host_paths.clone(),
        allowed_images: settings.allowed_images.clone(),
        limits,
        block_network: settings.block_network,
    };
    let config = mcp_docker::native::DockerConfig { host, safety };
    Ok(mcp_docker::native::DockerServer::new(config).context("native.docker")?.registry())
}

/// The generator behind the `generate_query` of the database `name`.
fn sql_generator(
    name: &str,
    generate: &config::NativeSqlGenerate,
    upstreams: &[Arc<Upstream>],
    callers: &mut Vec<Arc<ThroughPipeline>>,
) -> anyhow::Result<mcp_sql::Generator> {
    match (&generate.model, &generate.server) {
        (Some(model), None) => {
            let key_field = format!("native.sql.{name}.generate.api_key");
            let api_key = generate
                .api_key
                .as_deref()
                .map(|k| mcp_core::config::expand(k, &|v| std::env::var(v).ok(), "native.sql", key_field.clone()))
                .transpose()?;
            let base_url = generate.base_url.clone().unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
            let model = OpenAiSqlModel::new(&base_url, model, api_key, Duration::from_secs(60))?;
            Ok(mcp_sql::Generator::model(Arc::new(model)))
        }
        (None, Some(server)) => {
            if !upstreams.iter().any(|u| u.name() == server) {
                anyhow::bail!("native.sql.{name}.generate.server: no enabled server `{server}` in mcpServers");
            }
            let tool = generate.tool.clone().unwrap_or_else(|| "create_query".to_owned());
            // Policy, rate limits and audit see these calls as the principal `sql:NAME`.
            let caller = Arc::new(ThroughPipeline {
                server: server.clone(),
                principal: format!("sql:{name}"),
                state: std::sync::OnceLock::new(),
            });
            callers.push(caller.clone());
            Ok(mcp_sql::Generator::mcp(caller, tool))
        }
        _ => anyhow::bail!("native.sql.{name}.generate: give either `model` or `server`, not both or neither"),
    }
}

/// `declared` with every hint the operator `given` in its place.
fn overridden(
    declared: Option<mcp_core::protocol::ToolAnnotations>,
    given: &mcp_core::protocol::ToolAnnotations,
) -> mcp_core::protocol::ToolAnnotations {
    let mut a = declared.unwrap_or_default();
    a.title = given.title.clone().or(a.title);
    a.read_only_hint = given.read_only_hint.or(a.read_only_hint);
    a.destructive_hint = given.destructive_hint.or(a.destructive_hint);
    a.idempotent_hint = given.idempotent_hint.or(a.idempotent_hint);
    a.open_world_hint = given.open_world_hint.or(a.open_world_hint);
    a
}

/// A definition a rebuild serves: an upstream's, shared as listed, or a local tool's as its set
/// serves it ([`mcp_core::Tool::served_definition`]): under the name the set finds it by, which
/// a tool serving another's definition (a [`PipelineTool`]) has apart from that definition's.
enum ToolDefinition<'a> {
    Shared(&'a Arc<Tool>),
    Local(Arc<Tool>),
}

impl ToolDefinition<'_> {
    fn tool(&self) -> &Tool {
        match self {
            ToolDefinition::Shared(d) => d,
            ToolDefinition::Local(d) => d,
        }
    }

    fn into_owned(self) -> Tool {
        match self {
            ToolDefinition::Shared(d) => Tool::clone(d),
            ToolDefinition::Local(d) => Arc::unwrap_or_clone(d),
        }
    }
}

/// Calls one server's tools through the gateway's pipeline as `principal`.
struct ThroughPipeline {
    server: String,
    principal: String,
    state: std::sync::OnceLock<std::sync::Weak<State>>,
}

#[async_trait]
impl mcp_core::CallTool for ThroughPipeline {
    async fn call_tool(
        &self,
        name: &str,
        arguments: mcp_core::protocol::JsonObject,
    ) -> mcp_core::Result<CallToolResult> {
        let Some(state) = self.state.get().and_then(std::sync::Weak::upgrade) else {
            return Ok(CallToolResult::error("the gateway is not running"));
        };
        let cx = mcp_core::ToolContext::detached().with_principal(self.principal.clone());
        Ok(state
            .call(&self.server, name, arguments, cx)
            .await
            .unwrap_or_else(|e| CallToolResult::error(format!("{e:#}"))))
    }
}

/// One native server served on its own (`mcptk serve builtin|fs|shell|sql`): its tools keep
/// their names and every call goes through the pipeline's stages (schema validation, timeout,
/// tracing and metrics, and the audit when a log is given), as in the gateway.
pub fn serve_alone(mut registry: Registry, server: &str, audit: Option<AuditLog>, timeout: Duration) -> Registry {
    let mut routes = Routes::new();
    routes.add(server, Arc::new(registry.tools.clone()));
    let inner = TimeoutLayer::new(timeout, HashMap::new()).layer(pipeline::endpoint(Arc::new(routes)));
    let inner = pipeline::boxed(ValidateLayer::default().layer(inner));
    let inner = match audit {
        Some(log) => pipeline::boxed(AuditLayer::new(log, Arc::new(Redactor::default())).layer(inner)),
        None => inner,
    };
    let service = Arc::new(pipeline::boxed(ObserveLayer.layer(inner)));
    let mut piped = ToolSet::new();
    for tool in registry.tools.iter() {
        piped.add(PipelineTool::new(tool.name(), server, tool.served_definition(), service.clone()));
    }
    registry.tools = piped;
    registry
}

/// The values of the environment variables `text` references as `${VAR}`.
fn referenced_values(text: &str) -> Vec<String> {
    let seen = std::cell::RefCell::new(Vec::new());
    let lookup = |name: &str| {
        let value = std::env::var(name).ok();
        seen.borrow_mut().extend(value.clone());
        value
    };
    let _ = mcp_core::config::expand(text, &lookup, "", String::new());
    seen.into_inner()
}

impl State {
    /// Makes this state serve on `server`, with `callers` calling through its pipeline.
    fn bind(self: &Arc<Self>, server: &Server, callers: &[Arc<ThroughPipeline>]) {
        let _ = self.server.set(server.clone());
        for caller in callers {
            let _ = caller.state.set(Arc::downgrade(self));
        }
    }

    /// Calls `server`'s tool `tool` as it is served: through the pipeline.
    async fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: mcp_core::protocol::JsonObject,
        cx: mcp_core::ToolContext,
    ) -> anyhow::Result<CallToolResult> {
        let exposed = {
            let exposed = self.exposed.lock().unwrap_or_else(PoisonError::into_inner);
            exposed.iter().find(|(_, (s, d))| s == server && d.name == tool).map(|(name, _)| name.clone())
        };
        let known = self.local.contains_key(server) || self.upstreams.iter().any(|u| u.name() == server);
        let Some(exposed) = exposed else {
            if known {
                anyhow::bail!("the server `{server}` has no tool `{tool}` (see `mcptk tools --server {server}`)");
            }
            anyhow::bail!("no server named `{server}` (see `mcptk tools`)");
        };
        let served = self.server.get().context("the gateway is not serving yet")?.tools();
        let handle = served.get(&exposed).with_context(|| format!("the tool `{exposed}` is not served"))?;
        Ok(handle.call(arguments, cx).await.unwrap_or_else(CallToolResult::from))
    }

    /// Re-reads every server's tools, checks pins, and replaces the served list.
    fn rebuild(&self) {
        let _switching = self.switching.lock().unwrap_or_else(PoisonError::into_inner);
        self.rebuild_switching();
    }

    /// [`State::rebuild`], with the switching lock held. A state a reload replaced serves nothing.
    fn rebuild_switching(&self) {
        if self.retired.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        // What was served, by exposed name: reused when unchanged, so that a rebuild (each
        // start, restart, list change or pin change) makes no second copy of every definition.
        let previous: HashMap<&str, &Arc<PipelineTool>> = served.iter().map(|t| (t.name(), t)).collect();
        let mut exposed = HashMap::new();
        let mut listed: Vec<Arc<PipelineTool>> = Vec::new();
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let annotations = &self.annotations;
        // Deny rules that cannot see a newly served tool: (rule, argument) → the tools.
        let mut blind: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        let mut warned = self.blind_warned.lock().unwrap_or_else(PoisonError::into_inner);
        let mut add = |server: &str, definition: ToolDefinition<'_>| {
            let name = names.expose(server, &definition.tool().name);
            let given = annotations.get(&name);
            let kept = previous.get(name.as_str()).filter(|was| {
                let upstream = was.definition();
                was.server() == server
                    && match given {
                        // An operator's annotations make a definition of the gateway's own.
                        Some(given) => {
                            let mut own = Tool::clone(definition.tool());
                            own.annotations = Some(overridden(own.annotations.take(), given));
                            *upstream == own
                        }
                        // An upstream's is kept only as the very copy its server holds now (an
                        // equal one listed anew is served anew, not held twice).
                        None => match &definition {
                            ToolDefinition::Shared(d) => std::ptr::eq(upstream, &***d),
                            ToolDefinition::Local(d) => upstream == &**d,
                        },
                    }
            });
            let tool = match kept {
                Some(was) => Arc::clone(was),
                None => {
                    let definition = match (definition, given) {
                        (ToolDefinition::Shared(d), None) => Arc::clone(d),
                        (ToolDefinition::Local(d), None) => d,
                        (definition, Some(given)) => {
                            let mut own = definition.into_owned();
                            own.annotations = Some(overridden(own.annotations.take(), given));
                            Arc::new(own)
                        }
                    };
                    for (rule, argument) in self.policy.blind_spots(server, &name, &definition) {
                        if warned.insert((rule.to_owned(), name.clone())) {
                            blind.entry((rule, argument)).or_default().push(name.clone());
                        }
                    }
                    Arc::new(PipelineTool::new(name.clone(), server, definition, self.service.clone()))
                }
            };
            exposed.insert(name, (server.to_owned(), tool.shared_upstream().clone()));
            listed.push(tool);
        };
        let mut local: Vec<_> = self.local.iter().collect();
        local.sort_by(|a, b| a.0.cmp(b.0));
        for (server, set) in local {
            for tool in set.iter() {
                add(server, ToolDefinition::Local(Arc::new(tool.served_definition())));
            }
        }
        // Which servers have listed, read before their lists: one that lists for the first time
        // in between counts as not listed yet, never as listed with none of its tools here.
        let mut servers: Vec<(&str, bool)> = self.local.keys().map(|name| (name.as_str(), true)).collect();
        for upstream in &self.upstreams {
            servers.push((upstream.name(), upstream.generation() > 0));
            let tools = upstream.tools();
            if let Some(pins) = &self.pins
                && let Err(e) = pins.check(upstream.name(), &tools)
            {
                tracing::error!(error = %e, "pin check failed");
            }
            for definition in tools.iter() {
                add(upstream.name(), ToolDefinition::Shared(definition));
            }
        }
        if let Some(pins) = &self.pins {
            pins.seal();
        }
        // A relayed prompt or read passes the same rules: one on an argument it does not take
        // (a rule on `path`, where a read takes `uri`) refuses none of them either.
        let relayed = self.relayed_definitions();
        for (server, name, definition) in &relayed {
            for (rule, argument) in self.policy.blind_spots(server, name, definition) {
                if warned.insert((rule.to_owned(), name.clone())) {
                    blind.entry((rule, argument)).or_default().push(name.clone());
                }
            }
        }
        drop(names);
        drop(previous);
        drop(warned);
        for ((rule, argument), tools) in blind {
            let (its, it_takes, it) =
                if tools.len() == 1 { ("its", "it takes", "it") } else { ("their", "they take", "them") };
            let warning = format!(
                "the policy's deny rule `{rule}` constrains `{argument}`, which {} not declare: it refuses none of \
                 {its} calls made with the arguments {it_takes} (constrain those in a rule of {its} own, or leave \
                 {it} out of the rule's `servers`/`tools`)",
                few(&tools)
            );
            tracing::warn!("{warning}");
            self.findings.lock().unwrap_or_else(PoisonError::into_inner).push(warning);
        }
        self.warn_unmatched(&servers, &exposed, &relayed);
        *self.exposed.lock().unwrap_or_else(PoisonError::into_inner) = exposed;
        self.announce_relayed();
        let same = served.len() == listed.len()
            && served.iter().zip(&listed).all(|(a, b)| {
                a.name() == b.name()
                    && (Arc::ptr_eq(a.shared_upstream(), b.shared_upstream()) || a.definition() == b.definition())
            });
        if same {
            return;
        }
        let mut tools = ToolSet::new();
        for tool in &listed {
            tools.add_arc(tool.clone());
        }
        *served = listed;
        if let Some(server) = self.server.get() {
            server.replace_tools(tools);
        }
    }

    /// Warns, once each, about the policy's `tools` entries and the `annotations` keys that name
    /// no tool served, once the servers they concern have listed their tools: a typo there
    /// (`normal__wrok`) leaves a deny rule refusing nothing, an allow rule allowing nothing, or
    /// an annotation on nothing, and only the tool lists can tell. (`mcptk config check` checks
    /// the server part of these names; with `--servers`, [`Gateway::tool_findings`] the rest.)
    /// `servers`: each server served, with whether it had listed its tools before they were read
    /// for `exposed`; `relayed`: the relayed prompts and reads ([`State::relayed_definitions`]),
    /// named in rules as tools are.
    fn warn_unmatched(
        &self,
        servers: &[(&str, bool)],
        exposed: &HashMap<String, (String, Arc<Tool>)>,
        relayed: &[(String, String, Arc<Tool>)],
    ) {
        if !self.policy.names_tools() && self.annotations.is_empty() {
            return;
        }
        let tools: Vec<(&str, &str, &str)> = exposed
            .iter()
            .map(|(name, (server, tool))| (server.as_str(), tool.name.as_str(), name.as_str()))
            .chain(relayed.iter().map(|(server, name, own)| (server.as_str(), own.name.as_str(), name.as_str())))
            .collect();
        // The tool meant, by its exposed name or (for an entry written as a server's own name
        // for it, as in a rule with `servers`) by that name.
        let mut names: Vec<&str> = tools.iter().flat_map(|(_, tool, exposed)| [*exposed, *tool]).collect();
        names.sort_unstable();
        names.dedup();
        let meant = |name: &str| match mcp_core::config::nearest(name, names.iter().copied()) {
            Some(near) => format!(" (did you mean `{near}`?)"),
            None => String::new(),
        };
        let mut warnings = Vec::new();
        for (rule, entry) in self.policy.unmatched_tools(servers, &tools) {
            warnings.push(format!(
                "policy rule `{rule}`: the `tools` entry `{entry}` matches no tool of the servers it concerns{}; the \
                 rule applies to no call through it (see `mcptk tools`)",
                meant(entry)
            ));
        }
        for key in self.annotations.keys() {
            // A key whose server part names no server is said by the configuration's check.
            let Some(server) = mcp_core::naming::server_of(key, servers.iter().map(|(s, _)| *s)) else { continue };
            let listed = servers.iter().any(|(s, listed)| *s == server && *listed);
            if listed && !exposed.contains_key(key) {
                warnings
                    .push(format!("annotations: no tool is served as `{key}`{}; it applies to no tool", meant(key)));
            }
        }
        let mut warned = self.unmatched_warned.lock().unwrap_or_else(PoisonError::into_inner);
        for warning in warnings {
            if warned.insert(warning.clone()) {
                tracing::warn!("{warning}");
                self.findings.lock().unwrap_or_else(PoisonError::into_inner).push(warning);
            }
        }
    }

    /// Why no tool is served as `name` when its name begins with a server's that is not running:
    /// a server that has not come up yet (an optional one that fails, say) lists no tools, and a
    /// call to one of them says so rather than only that the tool is unknown.
    /// Said only to a principal the policy would let call such a tool of that server, and
    /// masked as results are: the reason may name hosts, or hold a value the redaction covers.
    async fn why_unknown(&self, principal: &str, name: &str) -> Option<String> {
        let server = mcp_core::naming::server_of(name, self.upstreams.iter().map(|u| u.name()))?;
        let upstream = self.upstreams.iter().find(|u| u.name() == server)?;
        // What follows the server's name as written, or as sanitized into exposed names.
        let tool = [server.to_owned(), mcp_core::naming::sanitize(server)]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix.as_str())?.strip_prefix(mcp_core::naming::SEPARATOR))?;
        let probe = Tool::new(tool, "", mcp_core::protocol::JsonObject::new());
        if !self.policy.visible(principal, upstream.name(), name, &probe) {
            return None;
        }
        self.masked_text(upstream.unavailable().await?)
    }

    /// Whether the tool served as `name` is listed to `principal`.
    fn listed(&self, principal: &str, name: &str) -> bool {
        let exposed = self.exposed.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((server, upstream)) = exposed.get(name) else { return false };
        if let Some(pins) = &self.pins
            && pins.mode() == PinMode::Refuse
            && pins.is_flagged(server, &upstream.name)
        {
            return false;
        }
        self.policy.visible(principal, server, name, upstream)
    }
}
