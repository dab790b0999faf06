//! The gateway: every configured server and the native tools, served as one MCP server, every
//! call through one pipeline (redaction, audit, policy, rate limits, validation, concurrency,
//! timeout, retries, tracing and metrics).

pub mod config;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use mcp_audit::{AuditLayer, AuditLog, AuditOptions};
use mcp_core::config::ServerConfig;
use mcp_core::naming::NameMap;
use mcp_core::pipeline::{
    self, CallError, ConcurrencyLayer, Endpoint, ObserveLayer, PipelineTool, RetryLayer, TimeoutLayer, ToolCall,
    ToolService, ValidateLayer,
};
use mcp_core::protocol::{CallToolResult, Implementation, Tool};
use mcp_core::supervised::Upstream;
use mcp_core::{Registry, Server, ToolSet};
use mcp_security::{AuthorizeLayer, PinMode, Pins, Policy, RateLimitLayer, RateLimits, RedactLayer, Redactor};
use tower_layer::Layer;

pub use config::GatewayConfig;

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
    state: Arc<State>,
    mirror: Option<mcp_audit::MirrorDrain>,
}

struct State {
    service: ToolService,
    names: Mutex<NameMap>,
    /// Exposed name → (server, upstream definition), for the list filter and `check_access`.
    exposed: Exposed,
    local: HashMap<String, ToolSet>,
    upstreams: Vec<Arc<Upstream>>,
    policy: Arc<Policy>,
    pins: Option<Arc<Pins>>,
    /// The operator's annotations, by exposed name, over what servers declare.
    annotations: std::collections::BTreeMap<String, mcp_core::protocol::ToolAnnotations>,
    server: std::sync::OnceLock<Server>,
    /// The definitions last served, to announce only real changes.
    served: Mutex<Vec<Tool>>,
}

type Exposed = Arc<Mutex<HashMap<String, (String, Tool)>>>;

struct Routes {
    local: HashMap<String, ToolSet>,
    upstreams: HashMap<String, Arc<Upstream>>,
}

#[async_trait]
impl Endpoint for Routes {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        if let Some(tools) = self.local.get(&call.server) {
            let Some(tool) = tools.get(&call.tool) else {
                return Err(CallError::Upstream(format!("no tool `{}` on `{}`", call.tool, call.server)));
            };
            return Ok(tool
                .call(call.arguments.clone(), call.context.clone())
                .await
                .unwrap_or_else(CallToolResult::from));
        }
        match self.upstreams.get(&call.server) {
            Some(upstream) => upstream.call(&call).await,
            None => Err(CallError::Upstream(format!("no server named `{}`", call.server))),
        }
    }
}

impl Gateway {
    /// Builds the gateway from its configuration and starts every server.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<Gateway> {
        Self::start_with(config, |builder| builder).await
    }

    /// Like [`Gateway::start`], with a chance to adjust the MCP server (page size, limits).
    pub async fn start_with(
        config: GatewayConfig,
        adjust: impl FnOnce(mcp_core::ServerBuilder) -> mcp_core::ServerBuilder,
    ) -> anyhow::Result<Gateway> {
        let servers = config.servers()?;
        // Every secret the configuration references is masked wherever it might show up.
        let mut secrets: Vec<String> = Vec::new();
        for (name, entry) in servers.enabled() {
            match entry.resolve(name, &|v| std::env::var(v).ok()).with_context(|| format!("server `{name}`"))? {
                ServerConfig::Stdio(s) => secrets.extend(s.env.into_values()),
                ServerConfig::Http(h) => secrets.extend(h.headers.into_values()),
            }
        }
        // A database password given as `${VAR}` in a URL, and a model's key, are secrets too.
        let referenced = config.native.sql.values().flat_map(|db| {
            std::iter::once(db.url.as_str()).chain(db.generate.as_ref().and_then(|g| g.api_key.as_deref()))
        });
        for text in referenced.chain(config.agent.api_key.as_deref()) {
            secrets.extend(referenced_values(text));
        }
        let redactor = Arc::new(Redactor::from_env(&config.redaction.env).with_secrets(secrets));

        let policy = Arc::new(match config.policy.clone() {
            Some(p) => Policy::new(p)?,
            None => Policy::allow_all(),
        });
        let pins = config.pinning.as_ref().map(Pins::open).transpose()?.map(Arc::new);
        // The optional database mirror catches up from the file before new records arrive.
        let (mirror, drain) = match &config.audit.sql {
            Some(url) => {
                let url = mcp_core::config::expand(url, &|v| std::env::var(v).ok(), "audit", "audit.sql".into())?;
                let sink =
                    mcp_audit::SqlSink::connect(&url).await.context("connecting the audit database (audit.sql)")?;
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

        let upstreams: Vec<Arc<Upstream>> =
            servers.enabled().map(|(name, _)| Upstream::new(name, servers.clone(), config.restart.backoff())).collect();
        let mut local = HashMap::new();
        if let Some(fs) = &config.native.fs {
            local.insert(
                "fs".to_owned(),
                mcp_fs::native::FsServer::open_with(
                    &fs.roots,
                    if fs.client_roots {
                        mcp_fs::native::ClientRoots::Narrow
                    } else {
                        mcp_fs::native::ClientRoots::Ignore
                    },
                    Default::default(),
                )?
                .registry()
                .tools,
            );
        }
        if let Some(sh) = &config.native.shell {
            let shell = mcp_shell::native::ShellConfig {
                allow: sh.allow.clone(),
                allow_interpreters: sh.allow_interpreters.clone(),
                roots: sh.roots.clone(),
                ..Default::default()
            };
            local.insert("shell".to_owned(), mcp_shell::native::ShellServer::new(shell)?.registry().tools);
        }
        if config.native.builtin {
            local.insert("builtin".to_owned(), Registry::linked().tools);
        }
        let mut connections = mcp_sql::Connections::new();
        // Parts of the gateway that call tools themselves do so through the pipeline, bound to
        // it once it exists.
        let mut callers: Vec<Arc<ThroughPipeline>> = Vec::new();
        for (name, db) in &config.native.sql {
            let field = format!("native.sql.{name}.url");
            if local.contains_key(name) || name == GATEWAY || config.mcp_servers.contains_key(name) {
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
        if !config.native.sql.is_empty() && !local.contains_key(DATABASE) && !config.mcp_servers.contains_key(DATABASE)
        {
            local.insert(DATABASE.to_owned(), connections.registry().tools);
        }
        let exposed: Exposed = Arc::default();
        let mut gateway_tools = ToolSet::new();
        let lookup = exposed.clone();
        gateway_tools.add(mcp_security::check_access_tool(
            policy.clone(),
            Arc::new(move |name: &str| lookup.lock().unwrap_or_else(PoisonError::into_inner).get(name).cloned()),
        ));
        gateway_tools.add(mcp_audit::log_event_tool(audit.clone(), redactor.clone()));
        local.insert(GATEWAY.to_owned(), gateway_tools);

        let routes = Routes {
            local: local.clone(),
            upstreams: upstreams.iter().map(|u| (u.name().to_owned(), u.clone())).collect(),
        };
        let (timeout, per_server) = config.timeouts();
        let retry = RetryLayer::new(config.retries.attempts, Duration::from_millis(config.retries.base_delay_ms));
        let inner = TimeoutLayer::new(timeout, per_server).layer(retry.layer(pipeline::endpoint(Arc::new(routes))));
        let inner = ConcurrencyLayer::new(config.concurrency.unwrap_or(64)).layer(inner);
        let inner = ValidateLayer::default().layer(inner);
        let inner = RateLimitLayer::new(RateLimits::new(config.rate_limits.clone())?).layer(inner);
        let inner = AuthorizeLayer::new(policy.clone(), pins.clone()).layer(inner);
        let inner = AuditLayer::new(audit.clone(), redactor.clone()).layer(inner);
        let inner = RedactLayer::new(redactor.clone(), !config.redaction.skip_results).layer(inner);
        let service = pipeline::boxed(ObserveLayer.layer(inner));

        let state = Arc::new(State {
            service,
            names: Mutex::new(NameMap::new()),
            exposed,
            local,
            upstreams,
            policy,
            pins,
            annotations: config.annotations.clone(),
            server: std::sync::OnceLock::new(),
            served: Mutex::default(),
        });

        let filter_state = Arc::downgrade(&state);
        let principal = config.principal.clone().unwrap_or_else(|| "stdio".into());
        let builder = Server::builder(Implementation::new("mcptk", env!("CARGO_PKG_VERSION")), Registry::new())
            .principal(principal)
            .instructions("Tools of several MCP servers behind one gateway; names are `server__tool`.")
            .tool_filter(Arc::new(move |principal, tool| {
                filter_state.upgrade().is_some_and(|s| s.listed(principal, tool))
            }));
        let server = adjust(builder).build();
        let _ = state.server.set(server.clone());
        for caller in &callers {
            let _ = caller.state.set(Arc::downgrade(&state));
        }

        // Start every server; rebuild the tool list whenever one (re)starts or changes its tools.
        let (changed_tx, mut changed) = tokio::sync::mpsc::unbounded_channel();
        for upstream in &state.upstreams {
            tokio::spawn(upstream.clone().supervise(changed_tx.clone()));
        }
        for upstream in &state.upstreams {
            upstream.started(Duration::from_secs(60)).await;
        }
        state.rebuild();
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            while changed.recv().await.is_some() {
                // Coalesce bursts (several servers starting at once) into one rebuild.
                while changed.try_recv().is_ok() {}
                match weak.upgrade() {
                    Some(state) => state.rebuild(),
                    None => break,
                }
            }
        });
        Ok(Gateway {
            audit: audit.clone(),
            server,
            principal: config.principal.clone().unwrap_or_else(|| "stdio".into()),
            state,
            mirror: drain,
        })
    }

    /// Call once serving has ended: waits (a few seconds at most) until the audit database holds
    /// every record, so a clean exit leaves nothing to the next start's catch-up.
    pub async fn shutdown(&self) {
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
    /// otherwise). The error says why not.
    pub fn health_probe(&self) -> impl Fn() -> Result<(), String> + Clone + Send + Sync + 'static {
        let audit = self.audit.clone();
        move || audit.health().map_err(|e| e.to_string())
    }

    /// The MCP server to serve.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// What `principal` sees, by server (sorted by name): each server's tools under their own
    /// names (as [`Gateway::call`] takes them), or why the server is not running.
    pub async fn catalog(&self, principal: &str) -> Vec<(String, Result<Vec<Tool>, String>)> {
        let mut by_server: std::collections::BTreeMap<String, Result<Vec<Tool>, String>> =
            self.state.local.keys().map(|name| (name.clone(), Ok(Vec::new()))).collect();
        for upstream in &self.state.upstreams {
            let status = match upstream.down_reason().await {
                Some(reason) => Err(reason),
                None => Ok(Vec::new()),
            };
            by_server.insert(upstream.name().to_owned(), status);
        }
        let served = self.server.tools();
        let exposed = self.state.exposed.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for tool in served.iter() {
            let definition = tool.definition();
            let Some((server, own)) = exposed.get(&definition.name) else { continue };
            if let Some(Ok(tools)) = by_server.get_mut(server)
                && self.state.listed(principal, definition)
            {
                tools.push(own.clone());
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
    ) -> anyhow::Result<CallToolResult> {
        self.state.call(server, tool, arguments, cx).await
    }

    /// Whether `tool` (an exposed definition) is offered to `principal` under the policy.
    pub fn visible(&self, principal: &str, tool: &Tool) -> bool {
        self.state.listed(principal, tool)
    }

    /// Records the current definitions of every server as approved in the pin lock.
    pub fn approve_pins(&self) -> anyhow::Result<usize> {
        let Some(pins) = &self.state.pins else { anyhow::bail!("pinning is not configured (no `pinning.lock_file`)") };
        let mut count = 0;
        for upstream in &self.state.upstreams {
            let tools = upstream.tools();
            count += tools.len();
            pins.approve(upstream.name(), &tools)?;
        }
        Ok(count)
    }
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
            Ok(mcp_sql::Generator::new(mcp_sql::GeneratorConfig {
                base_url: generate.base_url.clone().unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
                model: model.clone(),
                api_key,
                timeout: Duration::from_secs(60),
            })?)
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
    let routes =
        Routes { local: HashMap::from([(server.to_owned(), registry.tools.clone())]), upstreams: HashMap::new() };
    let inner = TimeoutLayer::new(timeout, HashMap::new()).layer(pipeline::endpoint(Arc::new(routes)));
    let inner = pipeline::boxed(ValidateLayer::default().layer(inner));
    let inner = match audit {
        Some(log) => pipeline::boxed(AuditLayer::new(log, Arc::new(Redactor::default())).layer(inner)),
        None => inner,
    };
    let service = pipeline::boxed(ObserveLayer.layer(inner));
    let mut piped = ToolSet::new();
    for tool in registry.tools.iter() {
        let definition = tool.definition().clone();
        piped.add(PipelineTool::new(definition.name.clone(), server, definition, service.clone()));
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
        let mut tools = ToolSet::new();
        let mut exposed = HashMap::new();
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let annotations = &self.annotations;
        let mut add = |server: &str, mut definition: Tool| {
            let name = names.expose(server, &definition.name);
            if let Some(given) = annotations.get(&name) {
                definition.annotations = Some(overridden(definition.annotations.take(), given));
            }
            exposed.insert(name.clone(), (server.to_owned(), definition.clone()));
            tools.add(PipelineTool::new(name, server, definition, self.service.clone()));
        };
        let mut local: Vec<_> = self.local.iter().collect();
        local.sort_by(|a, b| a.0.cmp(b.0));
        for (server, set) in local {
            for tool in set.iter() {
                add(server, tool.definition().clone());
            }
        }
        for upstream in &self.upstreams {
            let definitions = upstream.tools();
            if let Some(pins) = &self.pins {
                if let Err(e) = pins.check(upstream.name(), &definitions) {
                    tracing::error!(error = %e, "pin check failed");
                }
            }
            for definition in definitions {
                add(upstream.name(), definition);
            }
        }
        if let Some(pins) = &self.pins {
            pins.seal();
        }
        drop(names);
        *self.exposed.lock().unwrap_or_else(PoisonError::into_inner) = exposed;
        let definitions: Vec<Tool> = tools.iter().map(|t| t.definition().clone()).collect();
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        if *served == definitions {
            return;
        }
        *served = definitions;
        if let Some(server) = self.server.get() {
            server.replace_tools(tools);
        }
    }

    /// Whether `tool` (by its exposed definition) is listed to `principal`.
    fn listed(&self, principal: &str, tool: &Tool) -> bool {
        let exposed = self.exposed.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((server, upstream)) = exposed.get(&tool.name) else { return false };
        if let Some(pins) = &self.pins {
            if pins.mode() == PinMode::Refuse && pins.is_flagged(server, &upstream.name) {
                return false;
            }
        }
        self.policy.visible(principal, server, &tool.name, upstream)
    }
}
