//! The one pipeline every tool call passes through, native or remote: tower [`Layer`]s over a
//! [`Service`] that takes a [`ToolCall`].
//!
//! This crate provides the endpoint plumbing and the protocol-level layers (schema validation,
//! timeout, retries for read-only and idempotent tools, a concurrency limit, tracing and
//! metrics); `mcp-security` and `mcp-audit` provide authorization, rate limiting and audit as
//! layers of the same shape. [`PipelineTool`] serves a pipeline as an ordinary [`Tool`].
//!
//! [`Layer`]: tower_layer::Layer
//! [`Service`]: tower_service::Service

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize as _;
pub use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::NameMap;
use crate::protocol::{CallToolResult, JsonObject, Prompt, Tool as ToolDef, ToolAnnotations};
use crate::tool::{Tool, ToolContext, ToolError};

/// A tool call on its way through the pipeline.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// The upstream server's name (`""` for tools in this process).
    pub server: String,
    /// The tool's name at the upstream.
    pub tool: String,
    /// The name the caller used (namespaced by a gateway).
    pub exposed: String,
    /// A tool call, or a prompt or resource read relayed through the same pipeline.
    pub kind: CallKind,
    /// The arguments.
    pub arguments: JsonObject,
    /// The upstream definition: schemas and annotations.
    pub definition: Arc<ToolDef>,
    /// Who is calling.
    pub principal: String,
    /// The calling client's name, when known.
    pub client: Option<String>,
    /// Correlates the audit record, the trace and the logs of this call.
    pub trace_id: String,
    /// Progress reporting and cancellation of the original request.
    pub context: ToolContext,
}

impl ToolCall {
    /// A call of `definition` (the server's own name for it is its name) on `server`, exposed as
    /// `exposed`, made by the request `cx` (its principal, client and trace).
    pub fn for_request(
        kind: CallKind,
        server: &str,
        exposed: &str,
        definition: Arc<ToolDef>,
        arguments: JsonObject,
        cx: ToolContext,
    ) -> Self {
        ToolCall {
            server: server.to_owned(),
            tool: definition.name.clone(),
            exposed: exposed.to_owned(),
            kind,
            arguments,
            definition,
            principal: cx.principal().unwrap_or("anonymous").to_owned(),
            client: cx.client().map(|c| c.name.clone()),
            // The caller's trace, when it sent one (or the span it is handled in has one), so
            // the audit record names the trace an operator finds in their tracing backend.
            trace_id: crate::trace_context::current().map_or_else(new_trace_id, |t| t.trace_id().to_owned()),
            context: cx,
        }
    }

    /// True when the tool says it changes nothing.
    pub fn read_only(&self) -> bool {
        self.definition.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
    }

    /// True when calling it twice has the effect of calling it once.
    pub fn idempotent(&self) -> bool {
        self.read_only() || self.definition.annotations.as_ref().and_then(|a| a.idempotent_hint) == Some(true)
    }
}

/// What a call asks of its server. A gateway relays its servers' prompts and resource reads
/// through the same pipeline as their tool calls, so that policy, rate limits, validation,
/// audit, redaction and timeouts apply to them alike: such a call's result rides in the
/// [`CallToolResult`]'s structured content (see [`relayed`] and [`unrelayed`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallKind {
    /// `tools/call`.
    #[default]
    Tool,
    /// `prompts/get`: the call's tool is the prompt, its arguments the prompt's (strings).
    Prompt,
    /// `resources/read`: the call's tool is [`READ_RESOURCE`], its one argument `uri`.
    Resource,
}

impl CallKind {
    /// The label audit records carry: `tool_call`, `prompt_get` or `resource_read`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Tool => "tool_call",
            CallKind::Prompt => "prompt_get",
            CallKind::Resource => "resource_read",
        }
    }
}

/// The tool name a server's resource reads pass the pipeline under (exposed by a gateway as
/// `server__resources/read`): what policy rules and audit records name them by. No tool is named
/// so (`/` is not in tool names).
pub const READ_RESOURCE: &str = "resources/read";

/// The definition a prompt passes the pipeline with: each argument a string property (the ones
/// it requires, required), read-only, not destructive and idempotent (rendering a prompt changes
/// nothing).
pub fn prompt_definition(prompt: &Prompt) -> ToolDef {
    let mut properties = JsonObject::new();
    let mut required = Vec::new();
    for argument in prompt.arguments.iter().flatten() {
        let mut property = JsonObject::new();
        property.insert("type".into(), "string".into());
        if let Some(description) = &argument.description {
            property.insert("description".into(), description.clone().into());
        }
        properties.insert(argument.name.clone(), property.into());
        if argument.required == Some(true) {
            required.push(serde_json::Value::from(argument.name.clone()));
        }
    }
    let mut schema = JsonObject::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), properties.into());
    if !required.is_empty() {
        schema.insert("required".into(), required.into());
    }
    read_only(ToolDef::new(prompt.name.clone(), prompt.description.clone().unwrap_or_default(), schema))
}

/// The definition resource reads pass the pipeline with ([`READ_RESOURCE`]): one string
/// argument, `uri`; read-only, not destructive and idempotent.
pub fn read_definition() -> ToolDef {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"uri": {"type": "string", "description": "The resource's URI."}},
        "required": ["uri"]
    });
    let schema = match schema {
        serde_json::Value::Object(schema) => schema,
        _ => JsonObject::new(),
    };
    read_only(ToolDef::new(READ_RESOURCE, "Reads a resource of the server.", schema))
}

fn read_only(mut definition: ToolDef) -> ToolDef {
    // Said in full: a rule on `destructiveHint` reads an absent hint as the protocol's default,
    // `true`.
    definition.annotations = Some(ToolAnnotations {
        read_only_hint: Some(true),
        destructive_hint: Some(false),
        idempotent_hint: Some(true),
        ..ToolAnnotations::default()
    });
    definition
}

/// A relayed call's result (a `GetPromptResult`, a `ReadResourceResult`) as it passes the
/// pipeline: in structured content, where redaction masks it as it masks a tool's.
pub fn relayed<T: serde::Serialize>(result: &T) -> Result<CallToolResult, CallError> {
    let value = serde_json::to_value(result).map_err(|e| CallError::Upstream(format!("unreadable result: {e}")))?;
    Ok(CallToolResult { structured_content: Some(value), ..CallToolResult::default() })
}

/// A server's refusal of a relayed call (an unknown prompt, a resource not found), as it passes
/// the pipeline: an error result (audited as a tool error, not retried) that carries the
/// JSON-RPC error as `{"error": ...}`, for [`unrelayed`] to pass on as it was said.
pub fn refused(error: crate::protocol::ErrorObject) -> CallToolResult {
    let mut result = CallToolResult::error(error.message.clone());
    result.structured_content = Some(serde_json::json!({ "error": error }));
    result
}

/// A relayed prompt call's arguments as a prompt takes them: strings (any other JSON value as
/// its text).
pub fn prompt_arguments(arguments: &JsonObject) -> std::collections::BTreeMap<String, String> {
    arguments
        .iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), value)
        })
        .collect()
}

/// What a relayed call's trip through the pipeline ended with: its result ([`relayed`]), or the
/// error to answer its request with. The server's own JSON-RPC error (an error result carrying
/// `{"error": ...}`, masked as results are) is passed on as it was; arguments that do not fit
/// are -32602; what else stopped the call (a policy's refusal, a rate limit, a timeout, a
/// server that is down) is -32603 with the reason.
pub fn unrelayed<T: serde::de::DeserializeOwned>(outcome: Result<CallToolResult, CallError>) -> Result<T, ToolError> {
    let result = match outcome {
        Ok(result) => result,
        Err(CallError::InputRequired(input)) => return Err(ToolError::needs_input(*input)),
        Err(e @ CallError::InvalidArguments { .. }) => return Err(ToolError::invalid_params(e)),
        Err(e) => return Err(ToolError::protocol(crate::protocol::ErrorObject::internal(e.to_string()))),
    };
    if result.is_error() {
        let said = result.structured_content.as_ref().and_then(|value| value.get("error"));
        return Err(match said.and_then(|error| crate::protocol::ErrorObject::deserialize(error).ok()) {
            Some(error) => ToolError::protocol(error),
            None => ToolError::protocol(crate::protocol::ErrorObject::internal(result.text_content())),
        });
    }
    let value = result.structured_content.ok_or_else(|| ToolError::msg("the server's result was empty"))?;
    serde_json::from_value(value).map_err(|e| ToolError::msg(format!("the server's result is unreadable: {e}")))
}

/// Why a call did not reach a result. Every variant but [`CallError::InputRequired`] (which goes
/// back to the client as the input-required result it is) becomes an `isError` result for the
/// model, with a message that says what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// Refused by policy.
    #[error("denied by policy rule `{rule}`: {reason}")]
    Denied {
        /// The rule that decided.
        rule: String,
        /// Why.
        reason: String,
    },
    /// Over a rate limit.
    #[error("{0}")]
    RateLimited(String),
    /// The arguments do not match the tool's input schema.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// Every violation, with its JSON path.
        message: String,
    },
    /// No result within the timeout.
    #[error("`{tool}` did not finish within {after:?}")]
    Timeout {
        /// The tool.
        tool: String,
        /// The timeout.
        after: Duration,
    },
    /// The upstream server failed (gone, restarting, protocol error).
    #[error("{0}")]
    Upstream(String),
    /// The tool needs answers from the client first (`2026-07-28`): its input-required result
    /// goes back to the client as it is, and the client calls again with the answers.
    #[error("the tool needs input from the client")]
    InputRequired(Box<crate::protocol::InputRequiredResult>),
    /// The gateway itself cannot take calls now (its audit log cannot make records durable, it is
    /// shutting down): nothing was run, and retrying elsewhere or later is the caller's choice.
    #[error("{0}")]
    Unavailable(String),
}

impl CallError {
    /// A short label for metrics and audit: `denied`, `rate_limited`, `invalid_arguments`,
    /// `timeout`, `upstream_error`, `unavailable`, `input_required`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Denied { .. } => "denied",
            CallError::RateLimited(_) => "rate_limited",
            CallError::InvalidArguments { .. } => "invalid_arguments",
            CallError::Timeout { .. } => "timeout",
            CallError::Upstream(_) => "upstream_error",
            CallError::Unavailable(_) => "unavailable",
            CallError::InputRequired(_) => "input_required",
        }
    }

    /// Worth retrying for a tool that is safe to repeat.
    fn transient(&self) -> bool {
        matches!(self, CallError::Timeout { .. } | CallError::Upstream(_))
    }
}

/// The outcome label of a finished call, for metrics and audit.
pub fn outcome(result: &Result<CallToolResult, CallError>) -> &'static str {
    match result {
        Ok(r) if r.is_error() => "tool_error",
        Ok(_) => "ok",
        Err(e) => e.kind(),
    }
}

/// A boxed future of a call's outcome.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, CallError>> + Send>>;

/// The pipeline's type: any stack of layers over an endpoint, boxed.
pub type ToolService = tower::util::BoxCloneSyncService<ToolCall, CallToolResult, CallError>;

/// Where calls finally go: a remote server or tools in this process.
#[async_trait]
pub trait Endpoint: Send + Sync + 'static {
    /// Performs the call.
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError>;
}

#[async_trait]
impl<T: Endpoint + ?Sized> Endpoint for Arc<T> {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        (**self).call(call).await
    }
}

/// Tools in this process: the call's tool by name, every failure an `isError` result.
#[async_trait]
impl Endpoint for crate::ToolSet {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        if call.kind != CallKind::Tool {
            return Err(CallError::Upstream(format!("`{}` serves tools only, no prompts or resources", call.server)));
        }
        let Some(tool) = self.get(&call.tool) else {
            return Err(CallError::Upstream(format!("no tool `{}` on `{}`", call.tool, call.server)));
        };
        match tool.call(call.arguments, call.context).await {
            Ok(result) => Ok(result),
            Err(e) => match e.input() {
                Some(input) => Err(CallError::InputRequired(Box::new(input.clone()))),
                None => Ok(CallToolResult::from(e)),
            },
        }
    }
}

/// A registry in this process: its tools, and its prompts and resources for relayed calls.
#[async_trait]
impl Endpoint for crate::Registry {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        let refusal = |e: ToolError| match e.protocol_error() {
            Some(error) => refused(error.clone()),
            None => CallToolResult::error(e.to_string()),
        };
        match call.kind {
            CallKind::Tool => Endpoint::call(&self.tools, call).await,
            CallKind::Prompt => {
                let Some(prompt) = self.prompts.get(&call.tool) else {
                    let unknown = format!("unknown prompt `{}`", call.tool);
                    return Ok(refused(crate::protocol::ErrorObject::invalid_params(unknown)));
                };
                match prompt.get_with(prompt_arguments(&call.arguments), &call.context).await {
                    Ok(result) => relayed(&result),
                    Err(e) => match e.input() {
                        Some(input) => Err(CallError::InputRequired(Box::new(input.clone()))),
                        None => Ok(refusal(e)),
                    },
                }
            }
            CallKind::Resource => {
                let uri = call.arguments.get("uri").and_then(serde_json::Value::as_str).unwrap_or_default();
                for provider in &self.resources {
                    if let Some(read) = provider.read_with(uri, &call.context).await {
                        return match read {
                            Ok(contents) => relayed(&crate::protocol::ReadResourceResult {
                                envelope: Default::default(),
                                cache: Default::default(),
                                contents,
                            }),
                            Err(e) => Ok(refusal(e)),
                        };
                    }
                }
                let missing = crate::protocol::ErrorObject::invalid_params(format!("resource not found: {uri}"))
                    .with_data(serde_json::json!({ "uri": uri }));
                Ok(refused(missing))
            }
        }
    }
}

/// A server's tools as they are served now (a gateway's, for instance), called in-process.
#[async_trait]
impl Endpoint for crate::Server {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        Endpoint::call(self.tools().as_ref(), call).await
    }
}

/// The endpoint of a gateway or an agent: each call goes to the endpoint of its server (tools
/// in this process, a supervised server, another pipeline) by the server's name.
#[derive(Default, Clone)]
pub struct Routes {
    servers: NameMap<Arc<dyn Endpoint>>,
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.servers.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Routes").field("servers", &names).finish()
    }
}

impl Routes {
    /// No servers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes calls for `server` to `endpoint` (replacing any earlier one of that name).
    pub fn add(&mut self, server: impl Into<String>, endpoint: Arc<dyn Endpoint>) -> &mut Self {
        self.servers.insert(server.into(), endpoint);
        self
    }
}

#[async_trait]
impl Endpoint for Routes {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        match self.servers.get(&call.server) {
            Some(endpoint) => endpoint.call(call).await,
            None => Err(CallError::Upstream(format!("no server named `{}`", call.server))),
        }
    }
}

/// An endpoint as the innermost service of a pipeline.
pub fn endpoint(endpoint: Arc<dyn Endpoint>) -> ToolService {
    ToolService::new(tower::service_fn(move |call: ToolCall| {
        let endpoint = endpoint.clone();
        async move { endpoint.call(call).await }
    }))
}

/// Boxes a service built from layers.
pub fn boxed<S>(service: S) -> ToolService
where
    S: Service<ToolCall, Response = CallToolResult, Error = CallError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    ToolService::new(service)
}

/// A pipeline layer kept for later: wraps whatever inner service it is given, as often as asked
/// (builders that assemble a pipeline from layers added one by one hold these).
pub type Wrap = Box<dyn Fn(ToolService) -> ToolService + Send + Sync>;

/// `layer` as a [`Wrap`].
pub fn wrap<L>(layer: L) -> Wrap
where
    L: tower_layer::Layer<ToolService> + Send + Sync + 'static,
    L::Service: Service<ToolCall, Response = CallToolResult, Error = CallError> + Clone + Send + Sync + 'static,
    <L::Service as Service<ToolCall>>::Future: Send + 'static,
{
    Box::new(move |inner| boxed(layer.layer(inner)))
}

/// The rest of the pipeline, as a stage sees it.
pub trait Next:
    Service<ToolCall, Response = CallToolResult, Error = CallError, Future: Send + 'static> + Clone + Send + 'static
{
}

impl<S> Next for S
where
    S: Service<ToolCall, Response = CallToolResult, Error = CallError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
}

/// One step of the pipeline: what it does with a call, handing it on to `inner` (or not). A stage
/// is its own tower `Layer` through [`stage_layer!`](crate::stage_layer); the service plumbing is
/// [`Staged`]'s, written once.
pub trait Stage: Clone + Send + Sync + 'static {
    /// Handles `call`, usually by calling `inner` with it.
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture;
}

/// A [`Stage`] over the rest of the pipeline, as a tower `Service`.
#[derive(Clone, Debug)]
pub struct Staged<T, S> {
    stage: T,
    inner: S,
}

impl<T, S> Staged<T, S> {
    /// `stage` in front of `inner`.
    pub fn new(stage: T, inner: S) -> Self {
        Self { stage, inner }
    }
}

impl<T: Stage, S: Next> Service<ToolCall> for Staged<T, S> {
    type Response = CallToolResult;
    type Error = CallError;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ToolCall) -> CallFuture {
        self.stage.call(&mut self.inner, call)
    }
}

/// Makes a [`Stage`] a tower `Layer` (a foreign trait, hence a macro rather than a blanket impl).
#[macro_export]
macro_rules! stage_layer {
    ($stage:ty) => {
        impl<S> $crate::pipeline::Layer<S> for $stage {
            type Service = $crate::pipeline::Staged<$stage, S>;
            fn layer(&self, inner: S) -> Self::Service {
                $crate::pipeline::Staged::new(self.clone(), inner)
            }
        }
    };
}

// -------------------------------------------------------------------------------------------
// Validation
// -------------------------------------------------------------------------------------------

/// How many compiled validators a [`ValidateLayer`] keeps by default: compiled schemas are large,
/// so a gateway in front of thousands of tools holds those in use, not one per tool ever called.
pub const VALIDATORS_KEPT: usize = 1024;

/// A compiled validator and what it was compiled from.
struct Compiled {
    /// The definition, not kept alive by the cache (a list replaced frees its definitions).
    definition: std::sync::Weak<ToolDef>,
    validator: Arc<jsonschema::Validator>,
    /// When it was last used, on the cache's clock: the least recently used goes first.
    used: std::sync::atomic::AtomicU64,
}

/// Compiled validators by server, then tool, at most `capacity` of them.
struct Validators {
    by_server: NameMap<NameMap<Compiled>>,
    len: usize,
    capacity: usize,
    clock: std::sync::atomic::AtomicU64,
}

impl Validators {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops the least recently used validator.
    fn evict(&mut self) {
        let oldest = self
            .by_server
            .iter()
            .flat_map(|(server, tools)| tools.iter().map(move |(tool, c)| (server, tool, c)))
            .min_by_key(|(_, _, c)| c.used.load(std::sync::atomic::Ordering::Relaxed))
            .map(|(server, tool, _)| (server.clone(), tool.clone()));
        let Some((server, tool)) = oldest else { return };
        if let Some(tools) = self.by_server.get_mut(&server) {
            tools.remove(&tool);
            self.len -= 1;
            if tools.is_empty() {
                self.by_server.remove(&server);
            }
        }
    }
}

/// Checks arguments against the tool's input schema (JSON Schema) before anything else runs.
///
/// A tool's schema is compiled on its first call, not when it is listed, and found again by its
/// names (looked up without copying them) and the identity of its definition (the `Arc` a
/// [`PipelineTool`] hands every call); a different definition with the same input schema reuses
/// the validator, a changed schema is compiled anew. At most [`VALIDATORS_KEPT`] (or the
/// capacity given) are kept, the least recently used dropped first and compiled again when
/// called again: every call is validated, whatever the cache holds. A schema that does not
/// compile refuses the call, saying so.
#[derive(Clone)]
pub struct ValidateLayer {
    cache: Arc<RwLock<Validators>>,
}

impl Default for ValidateLayer {
    fn default() -> Self {
        Self::with_capacity(VALIDATORS_KEPT)
    }
}

impl fmt::Debug for ValidateLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateLayer").finish_non_exhaustive()
    }
}

impl ValidateLayer {
    /// A layer keeping at most `capacity` compiled validators (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let validators =
            Validators { by_server: NameMap::default(), len: 0, capacity: capacity.max(1), clock: Default::default() };
        Self { cache: Arc::new(RwLock::new(validators)) }
    }

    /// How many compiled validators it holds now.
    pub fn compiled(&self) -> usize {
        self.cache.read().unwrap_or_else(PoisonError::into_inner).len
    }

    /// The compiled validator of a definition, compiled on first use.
    fn validator(&self, call: &ToolCall) -> Result<Arc<jsonschema::Validator>, CallError> {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(compiled) = cache.by_server.get(&call.server).and_then(|tools| tools.get(&call.tool))
                && std::ptr::eq(compiled.definition.as_ptr(), Arc::as_ptr(&call.definition))
            {
                compiled.used.store(cache.tick(), relaxed);
                return Ok(compiled.validator.clone());
            }
        }
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        let now = cache.tick();
        if let Some(compiled) = cache.by_server.get_mut(&call.server).and_then(|tools| tools.get_mut(&call.tool))
            && compiled.definition.upgrade().is_some_and(|seen| {
                Arc::ptr_eq(&seen, &call.definition) || seen.input_schema == call.definition.input_schema
            })
        {
            compiled.definition = Arc::downgrade(&call.definition);
            compiled.used.store(now, relaxed);
            return Ok(compiled.validator.clone());
        }
        let schema = serde_json::Value::Object(call.definition.input_schema.clone());
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            CallError::Upstream(format!("the input schema of `{}` is not valid JSON Schema: {e}", call.exposed))
        })?;
        let validator = Arc::new(validator);
        let compiled =
            Compiled { definition: Arc::downgrade(&call.definition), validator: validator.clone(), used: now.into() };
        let replaced = cache.by_server.entry(call.server.clone()).or_default().insert(call.tool.clone(), compiled);
        if replaced.is_none() {
            cache.len += 1;
            if cache.len > cache.capacity {
                cache.evict();
            }
        }
        Ok(validator)
    }

    /// `Err` naming every violation, with its JSON path, when the arguments do not match.
    fn check(&self, call: &mut ToolCall) -> Result<(), CallError> {
        let validator = self.validator(call)?;
        // The arguments are lent to the validator as a `Value` and put back: no copy.
        let instance = serde_json::Value::Object(std::mem::take(&mut call.arguments));
        let checked = if validator.is_valid(&instance) {
            Ok(())
        } else {
            let problems: Vec<String> = validator
                .iter_errors(&instance)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    if path.is_empty() { e.to_string() } else { format!("at `{path}`: {e}") }
                })
                .collect();
            Err(CallError::InvalidArguments { tool: call.exposed.clone(), message: problems.join("; ") })
        };
        if let serde_json::Value::Object(arguments) = instance {
            call.arguments = arguments;
        }
        checked
    }
}

stage_layer!(ValidateLayer);

impl Stage for ValidateLayer {
    fn call<S: Next>(&self, inner: &mut S, mut call: ToolCall) -> CallFuture {
        match self.check(&mut call) {
            Ok(()) => Box::pin(inner.call(call)),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

// -------------------------------------------------------------------------------------------
// Timeout
// -------------------------------------------------------------------------------------------

/// Ends a call that takes longer than its timeout (the caller's request is cancelled upstream).
#[derive(Clone, Debug)]
pub struct TimeoutLayer {
    default: Duration,
    per_server: Arc<NameMap<Duration>>,
}

impl TimeoutLayer {
    /// `default` for every server, with overrides per server name.
    pub fn new(default: Duration, per_server: HashMap<String, Duration>) -> Self {
        Self { default, per_server: Arc::new(per_server.into_iter().collect()) }
    }
}

stage_layer!(TimeoutLayer);

impl Stage for TimeoutLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        let after = self.per_server.get(&call.server).copied().unwrap_or(self.default);
        let tool = call.exposed.clone();
        let future = inner.call(call);
        Box::pin(
            async move { tokio::time::timeout(after, future).await.unwrap_or(Err(CallError::Timeout { tool, after })) },
        )
    }
}

// -------------------------------------------------------------------------------------------
// Retry
// -------------------------------------------------------------------------------------------

/// Retries transient failures (timeouts, a server gone) with exponential backoff, but only for
/// tools that are read-only or idempotent: repeating anything else could do its effect twice.
#[derive(Clone, Debug)]
pub struct RetryLayer {
    attempts: u32,
    base_delay: Duration,
}

impl RetryLayer {
    /// Up to `attempts` tries in all, waiting `base_delay`, then twice that, and so on.
    pub fn new(attempts: u32, base_delay: Duration) -> Self {
        Self { attempts: attempts.max(1), base_delay }
    }
}

stage_layer!(RetryLayer);

impl Stage for RetryLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        // A single try needs neither a copy of the call nor of the rest of the pipeline.
        if self.attempts == 1 || !call.idempotent() {
            return Box::pin(inner.call(call));
        }
        let first = inner.call(call.clone());
        let mut inner = inner.clone();
        let RetryLayer { attempts, base_delay } = self.clone();
        Box::pin(async move {
            let mut delay = base_delay;
            let mut attempt = 1;
            let mut result = first.await;
            loop {
                match result {
                    Err(e) if e.transient() && attempt < attempts && !call.context.cancelled().is_cancelled() => {
                        tracing::debug!(tool = %call.exposed, attempt, error = %e, "retrying");
                        tokio::time::sleep(delay).await;
                        delay = delay.saturating_mul(2);
                        attempt += 1;
                        result = inner.call(call.clone()).await;
                    }
                    other => return other,
                }
            }
        })
    }
}

// -------------------------------------------------------------------------------------------
// Concurrency
// -------------------------------------------------------------------------------------------

/// At most `limit` calls at once to each server; more wait their turn. Per server, so that calls
/// held up on one (a hung server's, until they time out) never hold up another's, the tools of
/// this process included.
#[derive(Clone, Debug)]
pub struct ConcurrencyLayer {
    limit: usize,
    /// The permits of each server called so far, shared by every service this layer wraps.
    servers: Arc<RwLock<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
}

impl ConcurrencyLayer {
    /// `limit` calls at once to each server.
    pub fn new(limit: usize) -> Self {
        Self { limit: limit.max(1), servers: Arc::default() }
    }

    fn permits(&self, server: &str) -> Arc<tokio::sync::Semaphore> {
        if let Some(permits) = self.servers.read().unwrap_or_else(PoisonError::into_inner).get(server) {
            return permits.clone();
        }
        let mut servers = self.servers.write().unwrap_or_else(PoisonError::into_inner);
        let permits =
            servers.entry(server.to_owned()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.limit)));
        permits.clone()
    }
}

stage_layer!(ConcurrencyLayer);

impl Stage for ConcurrencyLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        // A free permit is taken at once (waiters, if any, are handed released permits first, so
        // this does not jump the queue); only a call that must wait keeps the rest of the pipeline.
        let permits = self.permits(&call.server);
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            let future = inner.call(call);
            return Box::pin(async move {
                let _permit = permit;
                future.await
            });
        }
        let mut inner = inner.clone();
        Box::pin(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| CallError::Unavailable("the gateway is shutting down".into()))?;
            inner.call(call).await
        })
    }
}

// -------------------------------------------------------------------------------------------
// Tracing and metrics
// -------------------------------------------------------------------------------------------

/// A `tracing` span per call (server, tool, principal, outcome, duration) and metrics:
/// `mcp_tool_calls_total{server,tool,outcome}` and `mcp_tool_duration_seconds{server,tool}` (the
/// seed's `mcp.tool.duration`). The span costs nothing unless its level is enabled; the metric
/// handles of each tool are registered once (see `ToolMetrics`) and reused by every call.
#[derive(Clone, Debug, Default)]
pub struct ObserveLayer;

stage_layer!(ObserveLayer);

impl Stage for ObserveLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        // Attribute names follow the OpenTelemetry conventions for tool execution (`gen_ai.*`);
        // the gateway's own are `mcptk.*`. The policy layer records its decision here.
        let empty = tracing::field::Empty;
        let span = tracing::info_span!(
            "mcp.tool_call",
            otel.name = %format_args!("execute_tool {}", call.tool),
            otel.status_code = empty,
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = %call.tool,
            mcptk.server = %call.server,
            mcptk.principal = %call.principal,
            mcptk.trace_id = %call.trace_id,
            mcptk.outcome = empty,
            mcptk.policy.decision = empty,
            mcptk.policy.rule = empty,
            mcptk.duration_ms = empty,
            error.type = empty,
        );
        let metrics = ToolMetrics::of(&call.server, &call.tool);
        // The stages' own work (policy, limits) runs inside the span too, not only what they await.
        let future = span.in_scope(|| inner.call(call));
        let record = span.clone();
        Box::pin(
            async move {
                let started = Instant::now();
                let result = future.await;
                let elapsed = started.elapsed();
                let label = outcome(&result);
                if !record.is_disabled() {
                    record.record("mcptk.outcome", label);
                    record.record("mcptk.duration_ms", elapsed.as_secs_f64() * 1000.0);
                    if label != "ok" {
                        record.record("otel.status_code", "error");
                        record.record("error.type", label);
                    }
                    // As the audit records it: a rate limit is a denial by the rule `rate-limit`.
                    match &result {
                        Err(CallError::Denied { rule, .. }) => {
                            record.record("mcptk.policy.decision", "deny");
                            record.record("mcptk.policy.rule", rule.as_str());
                        }
                        Err(CallError::RateLimited(_)) => {
                            record.record("mcptk.policy.decision", "deny");
                            record.record("mcptk.policy.rule", "rate-limit");
                        }
                        _ => {}
                    }
                }
                metrics.record(label, elapsed);
                result
            }
            .instrument(span),
        )
    }
}

/// Every outcome label [`outcome`] gives, in the order of [`ToolMetrics::calls`].
const OUTCOMES: [&str; 9] = [
    "ok",
    "tool_error",
    "denied",
    "rate_limited",
    "invalid_arguments",
    "timeout",
    "upstream_error",
    "unavailable",
    "input_required",
];

/// One tool's metric handles: its duration histogram and a call counter per outcome, each
/// registered with the recorder on first use (so only outcomes that happened are exported) and
/// kept, so that a call neither builds labels nor looks its series up in the recorder. Shared
/// by every pipeline of the process, like the recorder, which is installed before the first call.
struct ToolMetrics {
    server: String,
    tool: String,
    duration: metrics::Histogram,
    calls: [OnceLock<metrics::Counter>; OUTCOMES.len()],
}

/// Every tool's handles, by server, then tool.
type MetricsByTool = NameMap<NameMap<Arc<ToolMetrics>>>;

impl ToolMetrics {
    /// The handles of `server`'s `tool`.
    fn of(server: &str, tool: &str) -> Arc<ToolMetrics> {
        static ALL: OnceLock<RwLock<MetricsByTool>> = OnceLock::new();
        let all = ALL.get_or_init(RwLock::default);
        if let Some(found) = all.read().unwrap_or_else(PoisonError::into_inner).get(server).and_then(|t| t.get(tool)) {
            return found.clone();
        }
        let mut all = all.write().unwrap_or_else(PoisonError::into_inner);
        let handles = all.entry(server.to_owned()).or_default().entry(tool.to_owned()).or_insert_with(|| {
            Arc::new(ToolMetrics {
                server: server.to_owned(),
                tool: tool.to_owned(),
                duration: metrics::histogram!("mcp_tool_duration_seconds", "server" => server.to_owned(), "tool" => tool.to_owned()),
                calls: Default::default(),
            })
        });
        handles.clone()
    }

    /// Counts a finished call and its duration.
    fn record(&self, outcome: &'static str, elapsed: Duration) {
        let counter = |outcome: &'static str| metrics::counter!("mcp_tool_calls_total", "server" => self.server.clone(), "tool" => self.tool.clone(), "outcome" => outcome);
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.calls[i].get_or_init(|| counter(outcome)).increment(1),
            None => counter(outcome).increment(1),
        }
        // Failures on their own too (rarer, so looked up when they happen).
        if outcome != "ok" {
            metrics::counter!("mcp_tool_errors_total", "server" => self.server.clone(), "tool" => self.tool.clone(), "outcome" => outcome).increment(1);
        }
        self.duration.record(elapsed.as_secs_f64());
    }
}

// -------------------------------------------------------------------------------------------
// Serving a pipeline as a tool
// -------------------------------------------------------------------------------------------

/// A tool whose calls go through a pipeline to an upstream tool. Failures of the pipeline come
/// back to the model as `isError` results; a tool's request for client input as that request.
///
/// It serves the upstream definition itself, shared, under its own name ([`Tool::name`]): a
/// gateway in front of thousands of tools holds one copy of each definition, not a renamed one
/// besides.
#[derive(Clone)]
pub struct PipelineTool {
    name: String,
    server: String,
    upstream: Arc<ToolDef>,
    /// Shared by every tool of a pipeline (a stack of layers is several allocations): cloned
    /// per call, not per tool.
    service: Arc<ToolService>,
}

impl fmt::Debug for PipelineTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineTool").field("name", &self.name).field("server", &self.server).finish()
    }
}

impl PipelineTool {
    /// `upstream` (a tool of `server`) served under `exposed_name` through `service`.
    pub fn new(
        exposed_name: impl Into<String>,
        server: impl Into<String>,
        upstream: impl Into<Arc<ToolDef>>,
        service: impl Into<Arc<ToolService>>,
    ) -> Self {
        Self { name: exposed_name.into(), server: server.into(), upstream: upstream.into(), service: service.into() }
    }

    /// The upstream server's name.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The upstream definition ([`Tool::definition`]), shared.
    pub fn shared_upstream(&self) -> &Arc<ToolDef> {
        &self.upstream
    }
}

#[async_trait]
impl Tool for PipelineTool {
    fn definition(&self) -> &ToolDef {
        &self.upstream
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn call(&self, arguments: JsonObject, cx: ToolContext) -> Result<CallToolResult, ToolError> {
        let call =
            ToolCall::for_request(CallKind::Tool, &self.server, &self.name, self.upstream.clone(), arguments, cx);
        match run(&self.service, call).await {
            Ok(result) => Ok(result),
            Err(CallError::InputRequired(input)) => Err(ToolError::needs_input(*input)),
            Err(e) => Ok(CallToolResult::error(e.to_string())),
        }
    }
}

/// Runs `call` through `service`, a pipeline.
pub async fn run(service: &ToolService, call: ToolCall) -> Result<CallToolResult, CallError> {
    tower::ServiceExt::oneshot(ToolService::clone(service), call).await
}

/// A 128-bit id in hex, in the W3C trace-id shape: unique in the process, different in every
/// process (a key drawn once from the operating system), and no secret: it correlates records,
/// traces and logs. A counter through a keyed bijective mix, so an id costs no system call.
pub fn new_trace_id() -> String {
    static KEY: OnceLock<u128> = OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let key = *KEY.get_or_init(|| u128::from_le_bytes(crate::random_bytes::<16>()));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // splitmix64's finalizer: a bijection on u64, so distinct counters give distinct ids.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let id = (u128::from(mix(n ^ key as u64)) << 64) | u128::from(mix(n ^ (key >> 64) as u64));
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 32];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = DIGITS[((id >> (4 * (31 - i))) & 15) as usize];
    }
    // Hex digits are ASCII, always UTF-8.
    String::from_utf8(hex.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorObject, GetPromptResult, PromptArgument};

    #[test]
    fn a_prompt_passes_as_a_read_only_tool_whose_required_arguments_are_required_strings() {
        let prompt = Prompt::new(
            "weather",
            vec![PromptArgument::new("city", true).with_description("Which city"), PromptArgument::new("state", false)],
        );
        let definition = prompt_definition(&prompt);
        assert_eq!(definition.name, "weather");
        let schema = serde_json::Value::Object(definition.input_schema.clone());
        assert_eq!(schema["properties"]["city"], serde_json::json!({"type": "string", "description": "Which city"}));
        assert_eq!(schema["properties"]["state"]["type"], "string");
        assert_eq!(schema["required"], serde_json::json!(["city"]));
        let hints = definition.annotations.map(|a| (a.read_only_hint, a.destructive_hint, a.idempotent_hint));
        assert_eq!(hints, Some((Some(true), Some(false), Some(true))));
        assert_eq!(read_definition().input_schema["required"], serde_json::json!(["uri"]));
    }

    #[test]
    fn a_relayed_outcome_becomes_its_result_or_the_error_that_says_why() {
        let got: GetPromptResult = serde_json::from_value(serde_json::json!({"messages": []})).expect("a result");
        let back: GetPromptResult = unrelayed(relayed(&got)).expect("the same result");
        assert_eq!(back, got);
        // The server's own error, as it said it.
        let mut theirs = CallToolResult::error("nope");
        theirs.structured_content = Some(serde_json::json!({"error": ErrorObject::invalid_params("no such prompt")}));
        let e = unrelayed::<GetPromptResult>(Ok(theirs)).expect_err("refused");
        assert_eq!(e.protocol_error().map(|e| (e.code, e.message.as_str())), Some((-32602, "no such prompt")));
        // The pipeline's refusals: arguments that do not fit are the caller's to fix.
        let invalid = CallError::InvalidArguments { tool: "s__p".into(), message: "`city` is required".into() };
        let e = unrelayed::<GetPromptResult>(Err(invalid)).expect_err("refused");
        assert_eq!(e.protocol_error().map(|e| e.code), Some(-32602));
        let denied = CallError::Denied { rule: "r".into(), reason: "no".into() };
        let e = unrelayed::<GetPromptResult>(Err(denied)).expect_err("refused");
        let error = e.protocol_error().expect("an error to answer with");
        assert_eq!(error.code, -32603);
        assert!(error.message.contains("denied by policy rule `r`"), "{}", error.message);
        // A plain error result (a timeout's, say) keeps its words.
        let e = unrelayed::<GetPromptResult>(Ok(CallToolResult::error("took too long"))).expect_err("failed");
        assert_eq!(e.protocol_error().map(|e| e.message.as_str()), Some("took too long"));
    }
}
