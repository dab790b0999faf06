//! The typed calls: lists followed to their last page, tool calls and prompts that answer the
//! server's questions, and the one `send` every request takes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use super::{Client, MAX_INPUT_ROUNDS};
use crate::error::{Error, Result};
use crate::protocol::*;
use crate::transport::connection::Peer;

/// Upper bound on pages followed by the `list_*` helpers, against servers that loop.
const MAX_PAGES: usize = 1000;

impl Client {
    /// Sends any request and decodes its result: the one path every typed call takes.
    pub async fn request<P: Serialize, T: DeserializeOwned>(&self, method: &str, params: &P) -> Result<T> {
        let id = self.peer.next_id();
        self.request_with_id(id, method, params, self.options.request_timeout).await
    }

    /// [`Client::request`] with a time limit of its own (`Duration::MAX`: none, for a caller
    /// that limits the wait itself and cancels by dropping the future).
    #[cfg(feature = "pipeline")]
    pub(crate) async fn request_within<P: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<T> {
        let id = self.peer.next_id();
        self.request_with_id(id, method, params, timeout).await
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

    /// One page of tools.
    pub async fn list_tools_page(&self, cursor: Option<String>) -> Result<ListToolsResult> {
        self.request(methods::TOOLS_LIST, &PaginatedParams { meta: None, cursor }).await
    }

    /// Every tool, following `nextCursor` to the end.
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        self.collect_pages(methods::TOOLS_LIST, |r: ListToolsResult| (r.tools, r.next_cursor)).await
    }

    /// Every tool, with how long the server says the list stays fresh (the shortest `ttlMs` of
    /// its pages; `None` when it gives none, as servers of the handshake era do).
    pub async fn list_tools_fresh_for(&self) -> Result<(Vec<Tool>, Option<Duration>)> {
        let ttl = std::sync::atomic::AtomicU64::new(u64::MAX);
        let tools = self
            .collect_pages(methods::TOOLS_LIST, |r: ListToolsResult| {
                if let Some(ms) = r.cache.ttl_ms {
                    ttl.fetch_min(ms, std::sync::atomic::Ordering::Relaxed);
                }
                (r.tools, r.next_cursor)
            })
            .await?;
        let ttl = ttl.into_inner();
        Ok((tools, (ttl != u64::MAX).then(|| Duration::from_millis(ttl))))
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
    /// [`InputHandler`](super::InputHandler) is configured, its questions are answered and the
    /// call retried with the answers and the server's request state, for up to 8 rounds.
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

    /// Answers each request of an input-required result with the configured
    /// [`InputHandler`](super::InputHandler).
    pub(super) async fn answer_inputs(&self, result: &InputRequiredResult) -> Result<JsonObject> {
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
}

/// Sends one request and decodes its result, turning an input-required result into an error.
pub(super) async fn send<T: DeserializeOwned>(
    peer: Peer,
    id: RequestId,
    method: String,
    params: JsonObject,
    timeout: Duration,
) -> Result<T> {
    // The client side of the call, named as the OpenTelemetry conventions for MCP name it.
    let tool = (method == methods::TOOLS_CALL).then(|| params.get("name").and_then(Value::as_str)).flatten();
    let span = tracing::debug_span!(
        "mcp.call",
        otel.name = %format_args!("{method}{}{}", if tool.is_some() { " " } else { "" }, tool.unwrap_or_default()),
        otel.kind = "client",
        mcp.method.name = %method,
        gen_ai.tool.name = tool,
        mcptk.server = %peer.name(),
    );
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
