//! Where an agent's tools come from, and the one way its calls are made: through the pipeline.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mcp_core::pipeline::{
    self, CallError, Endpoint, ObserveLayer, Routes, TimeoutLayer, ToolCall, ToolService, ValidateLayer,
};
use mcp_core::protocol::{CallToolResult, Tool};
use mcp_core::supervised::Upstream;
use mcp_core::{Server, ToolContext, ToolSet};
use tower_layer::Layer;

use crate::tools::{FunctionTool, FunctionTools, ToolOutput};

/// A set of tools an agent can use: in-process tools, a supervised server, a gateway. Calls reach
/// it as the [`Endpoint`] of its server in the toolbox's pipeline.
#[async_trait]
pub trait ToolSource: Endpoint {
    /// The tools offered now. Sources keep their list and refresh it when it changes, so this is
    /// cheap to call every turn.
    async fn tools(&self) -> Result<Vec<Tool>, CallError>;
}

#[async_trait]
impl ToolSource for ToolSet {
    async fn tools(&self) -> Result<Vec<Tool>, CallError> {
        Ok(self.iter().map(|t| t.served_definition()).collect())
    }
}

/// A server restarted when it exits: its calls fail cleanly while it is down and work again once
/// it is back; its list is refreshed on `notifications/tools/list_changed`.
#[async_trait]
impl ToolSource for Upstream {
    async fn tools(&self) -> Result<Vec<Tool>, CallError> {
        Ok(Upstream::tools(self).iter().map(|t| Tool::clone(t)).collect())
    }
}

/// The tools an MCP server serves now (a gateway's, for instance), called in-process.
#[async_trait]
impl ToolSource for Server {
    async fn tools(&self) -> Result<Vec<Tool>, CallError> {
        Ok(Server::tools(self).iter().map(|t| t.served_definition()).collect())
    }
}

#[async_trait]
impl<T: ToolSource + ?Sized> ToolSource for Arc<T> {
    async fn tools(&self) -> Result<Vec<Tool>, CallError> {
        (**self).tools().await
    }
}

/// Decides whether a tool (by server and definition) is offered to the model.
pub type ToolFilter = Arc<dyn Fn(&str, &Tool) -> bool + Send + Sync>;

/// Builds a [`Toolbox`].
pub struct ToolboxBuilder {
    sources: Vec<(String, Arc<dyn ToolSource>)>,
    /// Sources whose calls run through a pipeline of their own.
    piped: HashSet<String>,
    allow: Option<HashSet<String>>,
    block: HashSet<String>,
    filter: Option<ToolFilter>,
    timeout: Duration,
    layers: Vec<pipeline::Wrap>,
    structured: bool,
}

impl std::fmt::Debug for ToolboxBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolboxBuilder").field("servers", &self.sources.len()).finish_non_exhaustive()
    }
}

impl ToolboxBuilder {
    /// Adds the tools of `source` under the server name `name`.
    pub fn server(mut self, name: impl Into<String>, source: impl ToolSource) -> Self {
        self.sources.push((name.into(), Arc::new(source)));
        self
    }

    /// Adds the tools of `source`, whose calls already run through a pipeline of their own (a
    /// gateway's server): the toolbox neither validates nor counts them again, it only applies
    /// its timeout and the layers added.
    pub fn piped_server(mut self, name: impl Into<String>, source: impl ToolSource) -> Self {
        let name = name.into();
        self.piped.insert(name.clone());
        self.sources.push((name, Arc::new(source)));
        self
    }

    /// Offers only these tools (by tool name or `server__tool`).
    pub fn allow<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.allow = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Never offers these tools (by tool name or `server__tool`).
    pub fn block<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.block.extend(names.into_iter().map(Into::into));
        self
    }

    /// Offers a tool only when `filter(server, definition)` says so.
    pub fn filter(mut self, filter: impl Fn(&str, &Tool) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// How long one call may take (default 60 s; not the 5 s that cuts off real tools).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Puts `structuredContent` in front of the model as JSON, besides the text.
    pub fn structured(mut self, on: bool) -> Self {
        self.structured = on;
        self
    }

    /// Wraps the pipeline in `layer` (policy, rate limits, audit, redaction, ...). The first
    /// layer added is the outermost.
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

    /// The toolbox: every call validated against the tool's own schema, timed out, traced and
    /// counted (by the source's own pipeline for piped sources), inside the layers added.
    pub fn build(self) -> Toolbox {
        let mut routes = Routes::new();
        for (name, source) in &self.sources {
            routes.add(name.clone(), source.clone());
        }
        let inner = pipeline::boxed(
            TimeoutLayer::new(self.timeout, Default::default()).layer(pipeline::endpoint(Arc::new(routes))),
        );
        let mut service = pipeline::boxed(ObserveLayer.layer(ValidateLayer::default().layer(inner.clone())));
        let mut direct = inner;
        for wrap in self.layers.iter().rev() {
            service = wrap(service);
            direct = wrap(direct);
        }
        Toolbox {
            piped: self.piped,
            direct,
            sources: self.sources,
            allow: self.allow,
            block: self.block,
            filter: self.filter,
            service,
            structured: self.structured,
            cache: Mutex::default(),
        }
    }
}

type Listing = Vec<(String, Vec<Tool>)>;

/// The tools of an agent: listed from their sources, filtered, converted once per change of
/// the lists, and called through the pipeline.
pub struct Toolbox {
    sources: Vec<(String, Arc<dyn ToolSource>)>,
    piped: HashSet<String>,
    /// The pipeline for calls to piped sources: timeout and layers only.
    direct: ToolService,
    allow: Option<HashSet<String>>,
    block: HashSet<String>,
    filter: Option<ToolFilter>,
    service: ToolService,
    structured: bool,
    /// The lists last seen and their conversion, reused while the lists stay the same.
    cache: Mutex<Option<(Listing, Arc<FunctionTools>)>>,
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbox")
            .field("servers", &self.sources.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Toolbox {
    /// A builder with no servers yet.
    pub fn builder() -> ToolboxBuilder {
        ToolboxBuilder {
            sources: Vec::new(),
            piped: HashSet::new(),
            allow: None,
            block: HashSet::new(),
            filter: None,
            timeout: Duration::from_secs(60),
            layers: Vec::new(),
            structured: false,
        }
    }

    /// The function tools offered now. A source that cannot list is skipped with a warning, so
    /// one broken server does not stop the others' tools.
    pub async fn function_tools(&self) -> Arc<FunctionTools> {
        let span = tracing::info_span!("mcp_tools", servers = self.sources.len(), tools = tracing::field::Empty);
        let _entered = span.enter();
        let mut listing = Vec::with_capacity(self.sources.len());
        for (name, source) in &self.sources {
            match source.tools().await {
                Ok(tools) => {
                    let offered: Vec<Tool> = tools.into_iter().filter(|t| self.offered(name, t)).collect();
                    listing.push((name.clone(), offered));
                }
                Err(e) => tracing::warn!(server = %name, error = %e, "cannot list tools; leaving them out this turn"),
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, tools)) = cache.as_ref()
            && *seen == listing
        {
            span.record("tools", tools.len());
            return tools.clone();
        }
        let tools = Arc::new(FunctionTools::new(&listing));
        span.record("tools", tools.len());
        tracing::debug!(
            tools = tools.len(),
            strict = tools.iter().filter(|t| t.is_strict()).count(),
            "converted the tool list"
        );
        *cache = Some((listing, tools.clone()));
        tools
    }

    fn offered(&self, server: &str, tool: &Tool) -> bool {
        let qualified = format!("{server}{}{}", mcp_core::naming::SEPARATOR, tool.name);
        let named = |set: &HashSet<String>| set.contains(&tool.name) || set.contains(&qualified);
        self.allow.as_ref().is_none_or(named)
            && !named(&self.block)
            && self.filter.as_ref().is_none_or(|f| f(server, tool))
    }

    /// Calls `tool` with the model's raw argument string, through the pipeline. Whatever
    /// happens (bad JSON, a denial, a timeout, a server gone) ends as an output for the model.
    pub async fn call(&self, tool: &FunctionTool, raw_arguments: &str, principal: &str, cx: ToolContext) -> ToolOutput {
        let arguments = match tool.arguments(raw_arguments) {
            Ok(a) => a,
            Err(e) => return ToolOutput::failed(&tool.name, e),
        };
        let call = ToolCall {
            server: tool.server.clone(),
            tool: tool.tool.clone(),
            exposed: tool.name.clone(),
            kind: mcp_core::pipeline::CallKind::Tool,
            arguments,
            definition: Arc::new(tool.definition.clone()),
            principal: principal.to_owned(),
            client: Some("mcp-openai".to_owned()),
            trace_id: pipeline::new_trace_id(),
            context: cx,
        };
        let mut service = if self.piped.contains(&call.server) { self.direct.clone() } else { self.service.clone() };
        let outcome = match tower::ServiceExt::ready(&mut service).await {
            Ok(ready) => tower_service::Service::call(ready, call).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(result) => ToolOutput::from_result(&result, self.structured),
            Err(e) => ToolOutput::failed(&tool.name, e),
        }
    }
}
