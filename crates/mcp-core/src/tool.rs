//! The `Tool` trait, typed tools from Rust functions, and tool sets.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::protocol::{
    CallToolResult, JsonObject, Meta, ProgressParams, ProgressToken, Tool as ToolDef, ToolAnnotations, methods,
};
use crate::transport::connection::{Peer, to_object};

/// A tool: a definition and an async call. Object-safe, so tool sets hold `Arc<dyn Tool>`.
///
/// Failures the model can act on are returned as `Err(ToolError)` (or as a result with
/// `isError: true`); both reach the model as an `isError` result, never as a protocol error.
#[async_trait]
pub trait Tool: Send + Sync + 'static {
    /// The definition served by `tools/list`, under [`Tool::name`].
    fn definition(&self) -> &ToolDef;

    /// The name the tool is listed and called by: its definition's, unless it serves another
    /// server's definition under a name of its own (a [`crate::pipeline::PipelineTool`]'s
    /// `server__tool`), sharing that definition rather than copying it to rename it.
    fn name(&self) -> &str {
        &self.definition().name
    }

    /// Runs the tool. `arguments` is the `arguments` object of `tools/call` (empty when absent).
    async fn call(&self, arguments: JsonObject, cx: ToolContext) -> Result<CallToolResult, ToolError>;
}

impl dyn Tool {
    /// The definition as `tools/list` serves it: [`Tool::definition`] under [`Tool::name`].
    pub fn served_definition(&self) -> ToolDef {
        let mut definition = self.definition().clone();
        if definition.name != self.name() {
            self.name().clone_into(&mut definition.name);
        }
        definition
    }
}

/// Anything tools can be called on by name: a [`crate::Client`] (a remote server) or a
/// [`ToolSet`] (tools in this process). Typed wrappers are written against this trait, so the same
/// wrapper drives a real MCP server or its native replacement.
#[async_trait]
pub trait CallTool: Send + Sync {
    /// Calls `name` with `arguments`. A tool failure is `Ok` with `isError: true`.
    async fn call_tool(&self, name: &str, arguments: JsonObject) -> crate::Result<CallToolResult>;
}

#[async_trait]
impl CallTool for ToolSet {
    async fn call_tool(&self, name: &str, arguments: JsonObject) -> crate::Result<CallToolResult> {
        Ok(self.call(name, arguments, ToolContext::detached()).await)
    }
}

#[async_trait]
impl<T: CallTool + ?Sized> CallTool for Arc<T> {
    async fn call_tool(&self, name: &str, arguments: JsonObject) -> crate::Result<CallToolResult> {
        (**self).call_tool(name, arguments).await
    }
}

/// The member of [`ToolContext::ask_client`]'s sealed request state that carries the answers of
/// earlier rounds.
const CARRIED_ANSWERS: &str = "mcptk/answers";

/// A failure the model should see: becomes a result with `isError: true` and this message.
///
/// Any `std::error::Error` converts into it, so `?` works inside tools.
pub struct ToolError {
    message: String,
    /// Set when the tool cannot finish without answers from the client (`2026-07-28`).
    input: Option<Box<crate::protocol::InputRequiredResult>>,
    /// Answer with this JSON-RPC error instead of an `isError` result.
    protocol: Option<crate::protocol::ErrorObject>,
}

impl ToolError {
    /// A failure with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self { message: message.to_string(), input: None, protocol: None }
    }

    /// The request itself is malformed (e.g. a forged `requestState`): the caller gets JSON-RPC
    /// error -32602 rather than a tool result.
    pub fn invalid_params(message: impl fmt::Display) -> Self {
        let message = message.to_string();
        Self { protocol: Some(crate::protocol::ErrorObject::invalid_params(message.clone())), message, input: None }
    }

    /// The request is answered with `error`, a JSON-RPC error (a server's own, passed on), not a
    /// tool result.
    pub fn protocol(error: crate::protocol::ErrorObject) -> Self {
        Self { message: error.message.clone(), input: None, protocol: Some(error) }
    }

    /// The tool needs a client capability the caller did not declare (`sampling`, `elicitation`,
    /// `roots`): JSON-RPC error -32021 naming it.
    pub fn missing_capability(capability: &str) -> Self {
        let message = format!("this tool needs the client capability `{capability}`, which the client did not declare");
        let error = crate::protocol::ErrorObject::new(
            crate::protocol::codes::MISSING_REQUIRED_CLIENT_CAPABILITY,
            message.clone(),
        )
        .with_data(serde_json::json!({ "requiredCapabilities": { capability: {} } }));
        Self { message, input: None, protocol: Some(error) }
    }

    /// The JSON-RPC error to answer with, when this is not a tool failure but a protocol one.
    pub fn protocol_error(&self) -> Option<&crate::protocol::ErrorObject> {
        self.protocol.as_ref()
    }

    /// The tool needs answers first: the server answers with an input-required result carrying
    /// `requests` (key → `{method, params}`) and `state` (echoed back on the retry; seal it with
    /// [`ToolContext::seal_state`] so it cannot be forged).
    pub fn input_required(requests: BTreeMap<String, crate::protocol::InputRequest>, state: Option<String>) -> Self {
        Self::needs_input(crate::protocol::InputRequiredResult::new(requests, state))
    }

    /// The tool needs answers first, as an input-required result made elsewhere (a pipeline
    /// passing on what the tool behind it asked).
    pub fn needs_input(result: crate::protocol::InputRequiredResult) -> Self {
        Self { message: "the tool needs input from the client".into(), input: Some(Box::new(result)), protocol: None }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input-required result, when the tool asked for input.
    pub fn input(&self) -> Option<&crate::protocol::InputRequiredResult> {
        self.input.as_deref()
    }
}

impl fmt::Debug for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ToolError {
    fn from(e: E) -> Self {
        Self::msg(e)
    }
}

impl From<ToolError> for CallToolResult {
    fn from(e: ToolError) -> Self {
        CallToolResult::error(e.message)
    }
}

/// What a running tool can see and do besides its arguments.
#[derive(Clone, Default)]
pub struct ToolContext {
    progress: Option<(Peer, ProgressToken)>,
    /// The caller's connection, for log messages.
    peer: Option<Peer>,
    cancel: CancellationToken,
    meta: Option<Meta>,
    principal: Option<Arc<str>>,
    client: Option<Arc<crate::protocol::Implementation>>,
    capabilities: Option<Arc<crate::protocol::ClientCapabilities>>,
    /// True for a stateless-era request, which cannot send requests to the client.
    stateless: bool,
    input_responses: Option<Arc<JsonObject>>,
    request_state: Option<Arc<str>>,
    /// Where progress goes when the caller is in this process (an agent run), not a peer.
    progress_fn: Option<ProgressFn>,
    /// Handshake era: the least severe log level the client asked for (`logging/setLevel`).
    log_level: Option<crate::protocol::LoggingLevel>,
    /// Masks what the tool says to its caller while it runs (see [`ToolContext::with_mask`]).
    mask: Option<MaskFn>,
}

/// Receives `(progress, total, message)` reports of a tool called in-process.
pub type ProgressFn = Arc<dyn Fn(f64, Option<f64>, Option<String>) + Send + Sync>;

/// Masks secrets in a JSON value in place (see [`ToolContext::with_mask`]).
pub type MaskFn = Arc<dyn Fn(&mut serde_json::Value) + Send + Sync>;

/// A log message through `mask`: its data and its logger's name.
pub fn mask_log(mask: &MaskFn, log: &mut crate::protocol::LoggingMessageParams) {
    mask(&mut log.data);
    log.logger = log.logger.take().map(|logger| masked_text(mask, logger));
}

/// `text` through `mask`.
fn masked_text(mask: &MaskFn, text: String) -> String {
    let mut value = serde_json::Value::String(text);
    mask(&mut value);
    match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

impl fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("progress_token", &self.progress.as_ref().map(|(_, t)| t))
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl ToolContext {
    /// A context for calling a tool directly, with no caller to report progress to.
    pub fn detached() -> Self {
        Self::default()
    }

    pub(crate) fn for_request(
        peer: Peer,
        meta: Option<Meta>,
        cancel: CancellationToken,
        principal: Option<Arc<str>>,
        client: Option<Arc<crate::protocol::Implementation>>,
    ) -> Self {
        let token = meta
            .as_ref()
            .and_then(|m| m.get(crate::protocol::meta_keys::PROGRESS_TOKEN))
            .and_then(|t| serde_json::from_value::<ProgressToken>(t.clone()).ok());
        Self {
            progress: token.map(|t| (peer.clone(), t)),
            peer: Some(peer),
            cancel,
            meta,
            principal,
            client,
            capabilities: None,
            stateless: false,
            input_responses: None,
            request_state: None,
            progress_fn: None,
            log_level: None,
            mask: None,
        }
    }

    /// The least severe level the client asked to be sent (`logging/setLevel`).
    pub(crate) fn with_log_level(mut self, level: Option<crate::protocol::LoggingLevel>) -> Self {
        self.log_level = level;
        self
    }

    pub(crate) fn with_input(mut self, responses: Option<JsonObject>, state: Option<String>) -> Self {
        self.input_responses = responses.map(Arc::new);
        self.request_state = state.map(Arc::from);
        self
    }

    pub(crate) fn with_client_capabilities(
        mut self,
        capabilities: Option<crate::protocol::ClientCapabilities>,
        stateless: bool,
    ) -> Self {
        self.capabilities = capabilities.map(Arc::new);
        self.stateless = stateless;
        self
    }

    /// Answers from the client to an earlier input-required result (`2026-07-28`), by key.
    pub fn input_responses(&self) -> Option<&JsonObject> {
        self.input_responses.as_deref()
    }

    /// The request state echoed back by the client, if any (check it with [`ToolContext::open_state`]).
    pub fn request_state(&self) -> Option<&str> {
        self.request_state.as_deref()
    }

    /// Protects `state` against forgery: the client gets it back only as an opaque token.
    pub fn seal_state(&self, state: &str) -> String {
        format!("{}.{}", state_tag(state), hex_encode(state.as_bytes()))
    }

    /// The state inside a token made by [`ToolContext::seal_state`] in this process; an error if
    /// the token was altered.
    pub fn open_state(&self, token: &str) -> Result<String, ToolError> {
        let refused = || ToolError::invalid_params("invalid requestState: it was altered or not issued by this server");
        let (tag, body) = token.split_once('.').ok_or_else(refused)?;
        let bytes = hex_decode(body).ok_or_else(refused)?;
        let state = String::from_utf8(bytes).map_err(|_| refused())?;
        if !state_tag_matches(&state, tag) {
            return Err(refused());
        }
        Ok(state)
    }

    /// What the calling client declared it can do, when known.
    pub fn client_capabilities(&self) -> Option<&crate::protocol::ClientCapabilities> {
        self.capabilities.as_deref()
    }

    /// Sends a request to the client (`sampling/createMessage`, `elicitation/create`,
    /// `roots/list`) and waits up to `timeout` for its answer. The client must have declared the
    /// matching capability; requests of the stateless era cannot be answered this way.
    pub async fn request_client(
        &self,
        method: &str,
        params: JsonObject,
        timeout: std::time::Duration,
    ) -> Result<Value, ToolError> {
        self.check_declared(method)?;
        if self.stateless {
            return Err(ToolError::msg(format!("`{method}` cannot be sent to a client of the stateless protocol era")));
        }
        let Some(peer) = &self.peer else {
            return Err(ToolError::msg("no client to ask: the tool was called in process"));
        };
        let id = peer.next_id();
        peer.request(id, method, Some(params), timeout).await.map_err(|e| ToolError::msg(format!("{method}: {e}")))
    }

    /// Asks the client `method` in whichever way its era allows: a request sent now and awaited
    /// (handshake era), or (`2026-07-28`, which has no server-to-client requests) the answer the
    /// client gave under `key` on this retry of the call, and when it has not answered yet, an
    /// input-required error that makes the server ask it and the client call again with it.
    pub async fn ask_client(
        &self,
        key: &str,
        method: &str,
        params: JsonObject,
        timeout: std::time::Duration,
    ) -> Result<Value, ToolError> {
        if !self.stateless {
            return self.request_client(method, params, timeout).await;
        }
        self.check_declared(method)?;
        // The client sends only the answers of the last round; the earlier ones travel in our
        // sealed request state, so a tool that asks one thing after another gets them all.
        let mut answers = self
            .request_state()
            .and_then(|token| self.open_state(token).ok())
            .and_then(|state| serde_json::from_str::<Value>(&state).ok())
            .and_then(|mut state| state.get_mut(CARRIED_ANSWERS).map(Value::take))
            .and_then(|answers| match answers {
                Value::Object(answers) => Some(answers),
                _ => None,
            })
            .unwrap_or_default();
        answers.extend(self.input_responses().cloned().unwrap_or_default());
        if let Some(answer) = answers.get(key) {
            return Ok(answer.clone());
        }
        let state = self.seal_state(&serde_json::json!({ CARRIED_ANSWERS: answers }).to_string());
        let request = crate::protocol::InputRequest { method: method.to_owned(), params: Some(params) };
        Err(ToolError::input_required([(key.to_owned(), request)].into_iter().collect(), Some(state)))
    }

    /// `Ok` when the client declared the capability `method` needs (`sampling`, `elicitation`,
    /// `roots`), else the -32021 error that names it.
    fn check_declared(&self, method: &str) -> Result<(), ToolError> {
        let (declared, capability) = match method {
            "sampling/createMessage" => (self.capabilities.as_ref().is_some_and(|c| c.sampling.is_some()), "sampling"),
            "elicitation/create" => {
                (self.capabilities.as_ref().is_some_and(|c| c.elicitation.is_some()), "elicitation")
            }
            "roots/list" => (self.capabilities.as_ref().is_some_and(|c| c.roots.is_some()), "roots"),
            _ => (true, ""),
        };
        if declared { Ok(()) } else { Err(ToolError::missing_capability(capability)) }
    }

    /// Who is calling, as established by the transport (e.g. `stdio`, or a token's identity).
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    /// The calling client's self-reported identity, when known.
    pub fn client(&self) -> Option<&crate::protocol::Implementation> {
        self.client.as_deref()
    }

    /// The same context acting for `principal` (used by tests and in-process callers).
    pub fn with_principal(mut self, principal: impl Into<Arc<str>>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// This context with progress reported to `report` (for a caller in this process).
    pub fn with_progress_fn(mut self, report: ProgressFn) -> Self {
        self.progress_fn = Some(report);
        self
    }

    /// This context cancelled by `cancel`.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// This context with `mask` applied to what the tool says to its caller while it runs: its
    /// progress messages and its log messages (data and logger), after any mask set before. For a
    /// layer that masks a call's result (a gateway's redaction): what reaches the caller before
    /// the result is masked the same way.
    pub fn with_mask(mut self, mask: MaskFn) -> Self {
        self.mask = Some(match self.mask.take() {
            Some(first) => Arc::new(move |value: &mut serde_json::Value| {
                first(value);
                mask(value);
            }),
            None => mask,
        });
        self
    }

    /// Reports progress to the caller, if it asked for progress; otherwise does nothing.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let message = match &self.mask {
            Some(mask) => message.map(|m| masked_text(mask, m)),
            None => message,
        };
        if let Some(report) = &self.progress_fn {
            report(progress, total, message.clone());
        }
        if let Some((peer, token)) = &self.progress {
            let params = ProgressParams::new(token.clone(), progress, total, message);
            let _ = peer.notify(methods::PROGRESS, to_object(&params)).await;
        }
    }

    /// The least severe level the caller wants log messages at, `None` when it wants none: in the
    /// stateless era the `logLevel` of the request's `_meta` (none without it), in the handshake
    /// era the connection's `logging/setLevel` (every level until it says). A caller that is not
    /// a client (a call made in process) gets none.
    pub fn log_level(&self) -> Option<crate::protocol::LoggingLevel> {
        use crate::protocol::{LoggingLevel, meta_keys};
        if let Some(meta) = &self.meta
            && meta.contains_key(meta_keys::PROTOCOL_VERSION)
        {
            return meta.get(meta_keys::LOG_LEVEL).and_then(|v| serde_json::from_value::<LoggingLevel>(v.clone()).ok());
        }
        self.peer.as_ref().map(|_| self.log_level.unwrap_or(LoggingLevel::Debug))
    }

    /// Sends a log message (`notifications/message`) to the caller while the tool runs, if it
    /// wants that level ([`ToolContext::log_level`]).
    pub async fn log(&self, level: crate::protocol::LoggingLevel, logger: Option<&str>, data: serde_json::Value) {
        if self.log_level().is_none_or(|wanted| level < wanted) {
            return;
        }
        if let Some(peer) = &self.peer {
            let mut params = crate::protocol::LoggingMessageParams { level, logger: logger.map(str::to_owned), data };
            if let Some(mask) = &self.mask {
                mask_log(mask, &mut params);
            }
            let _ = peer.notify(methods::MESSAGE, to_object(&params)).await;
        }
    }

    /// Fires when the caller cancels the call or goes away; long tools should select on it.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The request's `_meta`, if any.
    pub fn meta(&self) -> Option<&Meta> {
        self.meta.as_ref()
    }
}

/// HMAC-SHA256 of `state` under a key drawn from the OS's random source once per process.
fn state_mac(state: &str) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac as _;
    // One block of key, the most HMAC-SHA256 uses as is.
    static KEY: std::sync::OnceLock<[u8; 64]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(crate::random_bytes::<64>);
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new(key.into());
    mac.update(state.as_bytes());
    mac
}

/// The hex tag of `state`.
fn state_tag(state: &str) -> String {
    use hmac::Mac as _;
    hex_encode(&state_mac(state).finalize().into_bytes())
}

/// Whether `tag` (hex) is `state`'s tag, compared in constant time.
fn state_tag_matches(state: &str, tag: &str) -> bool {
    use hmac::Mac as _;
    hex_decode(tag).is_some_and(|tag| state_mac(state).verify_slice(&tag).is_ok())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// What a typed tool's function may return.
pub trait IntoToolResult: Send {
    /// The `outputSchema` this type implies, if it is structured.
    fn output_schema() -> Option<JsonObject> {
        None
    }
    /// Converts into a result.
    fn into_tool_result(self) -> CallToolResult;
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> CallToolResult {
        self
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}

/// A structured result: sent as `structuredContent` (and as JSON text for text-only clients),
/// with the tool's `outputSchema` derived from `T`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: Serialize + JsonSchema + Send> IntoToolResult for Json<T> {
    fn output_schema() -> Option<JsonObject> {
        Some(schema_for::<T>())
    }
    fn into_tool_result(self) -> CallToolResult {
        match serde_json::to_value(&self.0) {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => CallToolResult::error(format!("cannot serialize the result: {e}")),
        }
    }
}

/// The JSON Schema of `T` as an object, the shape MCP wants for input and output schemas.
pub fn schema_for<T: JsonSchema>() -> JsonObject {
    let schema = schemars::generate::SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    match schema.to_value() {
        Value::Object(mut map) => {
            // MCP schemas default to 2020-12; the title only repeats the Rust type's name.
            map.remove("title");
            map
        }
        _ => JsonObject::from_iter([("type".to_owned(), Value::from("object"))]),
    }
}

/// A tool built from an async function of typed arguments. See [`tool`].
pub struct FnTool<A, F> {
    definition: ToolDef,
    function: F,
    _args: PhantomData<fn(A)>,
}

impl<A, F> fmt::Debug for FnTool<A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTool").field("name", &self.definition.name).finish_non_exhaustive()
    }
}

/// Declares a tool from an async function whose argument type derives `Deserialize` and
/// `JsonSchema`. The input schema is derived from the type, and arguments are checked against it
/// before the function runs: a bad argument comes back as an `isError` result naming the field.
///
/// ```
/// use mcp_core::tool::{tool, Json, ToolContext, ToolError};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Add { a: i64, b: i64 }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Sum { sum: i64 }
///
/// let add = tool("add", "Adds two integers", |args: Add, _cx: ToolContext| async move {
///     Ok::<_, ToolError>(Json(Sum { sum: args.a + args.b }))
/// });
/// # let _ = add;
/// ```
pub fn tool<A, F, Fut, R>(name: impl Into<String>, description: impl Into<String>, function: F) -> FnTool<A, F>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    R: IntoToolResult + 'static,
{
    let mut definition = ToolDef::new(name, description, schema_for::<A>());
    definition.output_schema = R::output_schema();
    FnTool { definition, function, _args: PhantomData }
}

impl<A, F> FnTool<A, F> {
    /// Sets the display title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.definition.title = Some(title.into());
        self
    }

    /// Sets the behaviour hints.
    pub fn annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.definition.annotations = Some(annotations);
        self
    }

    /// How the tool runs (`execution`), e.g. `{"taskSupport": "optional"}` to run as a task when the
    /// caller negotiated the tasks extension (see [`crate::tasks`]).
    pub fn execution(mut self, execution: JsonObject) -> Self {
        self.definition.execution = Some(execution);
        self
    }

    /// Replaces the derived input schema, e.g. to match another server's schema exactly. The
    /// arguments are still checked by deserializing into the argument type.
    pub fn input_schema(mut self, schema: JsonObject) -> Self {
        self.definition.input_schema = schema;
        self
    }

    /// Sets or replaces the output schema.
    pub fn output_schema(mut self, schema: JsonObject) -> Self {
        self.definition.output_schema = Some(schema);
        self
    }
}

#[async_trait]
impl<A, F, Fut, R> Tool for FnTool<A, F>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    R: IntoToolResult + 'static,
{
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, arguments: JsonObject, cx: ToolContext) -> Result<CallToolResult, ToolError> {
        let args = parse_arguments::<A>(&self.definition.name, arguments)?;
        Ok((self.function)(args, cx).await?.into_tool_result())
    }
}

/// Deserializes tool arguments, naming the offending field on failure.
pub fn parse_arguments<A: DeserializeOwned>(tool: &str, arguments: JsonObject) -> Result<A, ToolError> {
    let value = Value::Object(arguments);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ToolError::msg(format!("invalid arguments for tool `{tool}`: {inner}"))
        } else {
            ToolError::msg(format!("invalid arguments for tool `{tool}`: field `{path}`: {inner}"))
        }
    })
}

/// Tools by name, in the order added.
#[derive(Clone, Default)]
pub struct ToolSet {
    tools: Vec<Arc<dyn Tool>>,
    index: crate::NameMap<usize>,
}

impl fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.tools.iter().map(|t| t.name())).finish()
    }
}

impl ToolSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool; a tool of the same name is replaced (and a warning logged).
    pub fn add(&mut self, tool: impl Tool) -> &mut Self {
        self.add_arc(Arc::new(tool))
    }

    /// Adds a shared tool.
    pub fn add_arc(&mut self, tool: Arc<dyn Tool>) -> &mut Self {
        let name = tool.name().to_owned();
        match self.index.get(&name) {
            Some(&i) => {
                tracing::warn!(tool = %name, "a tool of this name was already registered; replacing it");
                self.tools[i] = tool;
            }
            None => {
                self.index.insert(name, self.tools.len());
                self.tools.push(tool);
            }
        }
        self
    }

    /// Looks a tool up by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.index.get(name).map(|&i| &self.tools[i])
    }

    /// All tools, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools.iter()
    }

    /// How many tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Calls a tool by name, turning every failure into an `isError` result.
    pub async fn call(&self, name: &str, arguments: JsonObject, cx: ToolContext) -> CallToolResult {
        let Some(tool) = self.get(name) else {
            return CallToolResult::error(format!("unknown tool `{name}`"));
        };
        tool.call(arguments, cx).await.unwrap_or_else(CallToolResult::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stateless client answers only the last round's questions; a tool that asks for roots,
    /// then for a name, still gets both (the first answer rides in the sealed request state),
    /// and asking for what the client did not declare is the -32021 error in this era too.
    #[tokio::test]
    async fn ask_client_keeps_earlier_answers_across_stateless_rounds() {
        let caps = crate::protocol::ClientCapabilities::default().with_roots().with_elicitation();
        let round = |answers: Option<Value>, state: Option<String>| {
            ToolContext::detached()
                .with_client_capabilities(Some(caps.clone()), true)
                .with_input(answers.and_then(|a| a.as_object().cloned()), state)
        };
        let timeout = std::time::Duration::from_secs(1);
        let asked = round(None, None).ask_client("roots", "roots/list", JsonObject::new(), timeout).await;
        let first = asked.expect_err("asks").input().cloned().expect("input required");
        assert!(first.input_requests.as_ref().is_some_and(|r| r["roots"].method == "roots/list"));

        let roots = serde_json::json!({"roots": [{"uri": "file:///srv"}]});
        let second = round(Some(serde_json::json!({"roots": roots})), first.request_state);
        assert_eq!(
            second.ask_client("roots", "roots/list", JsonObject::new(), timeout).await.expect("answered"),
            roots
        );
        let asked = second.ask_client("name", "elicitation/create", JsonObject::new(), timeout).await;
        let next = asked.expect_err("asks again").input().cloned().expect("input required");

        let name = serde_json::json!({"action": "accept", "content": {"name": "ada"}});
        let third = round(Some(serde_json::json!({"name": name})), next.request_state);
        assert_eq!(third.ask_client("roots", "roots/list", JsonObject::new(), timeout).await.expect("kept"), roots);
        assert_eq!(
            third.ask_client("name", "elicitation/create", JsonObject::new(), timeout).await.expect("new"),
            name
        );

        let plain = ToolContext::detached().with_client_capabilities(None, true);
        let refused = plain.ask_client("s", "sampling/createMessage", JsonObject::new(), timeout).await;
        let code = refused.expect_err("undeclared").protocol_error().map(|e| e.code);
        assert_eq!(code, Some(crate::protocol::codes::MISSING_REQUIRED_CLIENT_CAPABILITY));
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// The count.
        count: u8,
        label: Option<String>,
    }

    fn set() -> ToolSet {
        let mut set = ToolSet::new();
        set.add(tool("count", "counts", |a: Args, _cx: ToolContext| async move {
            Ok::<_, ToolError>(format!("{}", a.count))
        }));
        set
    }

    async fn check(args: Value, expect: &str, is_error: bool) {
        let Value::Object(args) = args else { panic!("test arguments must be an object") };
        let result = set().call("count", args, ToolContext::detached()).await;
        assert_eq!(result.text_content(), expect);
        assert_eq!(result.is_error(), is_error);
    }

    #[tokio::test]
    async fn arguments_are_checked_and_the_bad_field_named() {
        check(serde_json::json!({"count": 3}), "3", false).await;
        check(
            serde_json::json!({"count": "three"}),
            "invalid arguments for tool `count`: field `count`: invalid type: string \"three\", expected u8",
            true,
        )
        .await;
        check(
            serde_json::json!({"count": 300}),
            "invalid arguments for tool `count`: field `count`: invalid value: integer `300`, expected u8",
            true,
        )
        .await;
        check(serde_json::json!({}), "invalid arguments for tool `count`: missing field `count`", true).await;
    }

    #[test]
    fn input_schema_is_derived() {
        let set = set();
        let def = set.get("count").expect("registered").definition();
        assert_eq!(def.input_schema["type"], "object");
        assert_eq!(def.input_schema["required"], serde_json::json!(["count"]));
        assert_eq!(def.input_schema["properties"]["count"]["description"], "The count.");
        assert!(def.output_schema.is_none());
    }

    #[tokio::test]
    async fn unknown_tool_is_an_error_result() {
        let result = set().call("nope", JsonObject::new(), ToolContext::detached()).await;
        assert!(result.is_error());
        assert_eq!(result.text_content(), "unknown tool `nope`");
    }
}
