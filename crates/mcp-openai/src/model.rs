//! The model side: an OpenAI-compatible endpoint through `async-openai`, Chat Completions or
//! Responses, streamed or not, and the conversation kept in the chosen API's own shape.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::middleware::retry::OpenAIRetryLayer;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_layer::Layer as _;
use tracing::Instrument as _;

use crate::Error;
use crate::bounded::{Asking, Bounded, Cut};
use crate::tools::{FunctionTools, ToolOutput};

/// Which API the model is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /chat/completions`.
    #[default]
    Chat,
    /// `POST /responses`.
    Responses,
}

/// Where the model is and how to talk to it.
#[derive(Clone)]
pub struct ModelConfig {
    /// The model's name.
    pub model: String,
    /// The API base URL, up to and including `/v1` (default `OPENAI_BASE_URL`, else OpenAI's).
    pub base_url: Option<String>,
    /// The key (default `OPENAI_API_KEY`). Never logged.
    pub api_key: Option<String>,
    /// Chat Completions or Responses.
    pub api: Api,
    /// Stream the answer (text deltas as they come).
    pub stream: bool,
    /// How long to wait for the first byte of an answer.
    pub connect_timeout: Duration,
    /// Longest silence while reading an answer.
    pub read_timeout: Duration,
    /// The longest a turn's answer may take, read whole (default 10 minutes): an endpoint that
    /// keeps writing, or trickles, ends the run with an error rather than holding it.
    pub turn_timeout: Duration,
    /// The most text and tool-call arguments an answer may bring (default 8 MiB); past it the
    /// answer is dropped with an error, so memory stays bounded whatever the endpoint sends. A
    /// whole JSON answer, or one event of a streamed one, is cut off while read once it passes
    /// twice this and 1 MiB.
    pub max_answer_bytes: usize,
    /// Sampling temperature, when not the endpoint's default.
    pub temperature: Option<f32>,
    /// `parallel_tool_calls`, when not the endpoint's default (OpenAI's is on; some compatible
    /// endpoints refuse the field, so it is sent only when set).
    pub parallel_tool_calls: Option<bool>,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("model", &self.model)
            .field("base_url", &self.base_url.as_deref().map(mcp_core::config::display_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("api", &self.api)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl ModelConfig {
    /// `model` over Chat Completions, streamed; base URL and key from the usual environment.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            base_url: std::env::var("OPENAI_BASE_URL").ok().filter(|s| !s.is_empty()),
            api_key: std::env::var("OPENAI_API_KEY").ok().filter(|s| !s.is_empty()),
            api: Api::Chat,
            stream: true,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(300),
            turn_timeout: Duration::from_secs(600),
            max_answer_bytes: 8 * 1024 * 1024,
            temperature: None,
            parallel_tool_calls: None,
        }
    }
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelToolCall {
    /// The call's id (`tool_call_id` / `call_id`).
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The raw argument string.
    pub arguments: String,
}

/// One answer of the model.
#[derive(Debug, Clone, Default)]
pub struct ModelTurn {
    /// Its text.
    pub text: String,
    /// The tools it wants called (possibly several at once).
    pub tool_calls: Vec<ModelToolCall>,
    /// Responses: the output items, replayed as input next turn.
    items: Vec<Value>,
}

impl ModelTurn {
    /// Its text and tool calls' names and arguments, in bytes.
    fn bytes(&self) -> usize {
        answer_bytes(&self.text, &self.tool_calls)
    }

    /// Gives every call of the turn an id of its own. Decisions are kept by id, and the ids come
    /// from the endpoint: one that sends none, or the same one twice, would let the decision
    /// about one call (or its needing none) stand for another that needs approval. The ids given
    /// here are what the conversation carries: the Responses items replayed next turn are
    /// renamed with the calls (theirs, in the same order), so each output still answers its call.
    pub(crate) fn give_unique_ids(&mut self, turn: usize) {
        let mut seen = std::collections::HashSet::new();
        let mut renamed = false;
        for (index, call) in self.tool_calls.iter_mut().enumerate() {
            if call.id.is_empty() || !seen.insert(call.id.clone()) {
                let mut id = format!("call_mcptk_{turn}_{index}");
                while !seen.insert(id.clone()) {
                    id.push('_');
                }
                call.id = id;
                renamed = true;
            }
        }
        if renamed {
            let items = self.items.iter_mut().filter(|item| item["type"] == "function_call");
            for (item, call) in items.zip(&self.tool_calls) {
                item["call_id"] = Value::String(call.id.clone());
            }
        }
    }
}

/// The conversation so far, in the API's own shape (messages or input items).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    api: Api,
    instructions: Option<String>,
    items: Vec<Value>,
}

impl Conversation {
    /// A conversation that starts with `input` from the user.
    pub fn new(api: Api, instructions: Option<&str>, input: &str) -> Self {
        let mut items = Vec::new();
        if api == Api::Chat
            && let Some(instructions) = instructions
        {
            items.push(json!({"role": "system", "content": instructions}));
        }
        items.push(json!({"role": "user", "content": input}));
        Self { api, instructions: instructions.map(str::to_owned), items }
    }

    /// The messages or items, as sent.
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// Records the model's answer.
    pub fn push_turn(&mut self, turn: &ModelTurn) {
        match self.api {
            Api::Chat => {
                let mut message = json!({"role": "assistant", "content": turn.text});
                if !turn.tool_calls.is_empty() {
                    if turn.text.is_empty() {
                        message["content"] = Value::Null;
                    }
                    message["tool_calls"] = turn
                        .tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                }
                self.items.push(message);
            }
            Api::Responses => self.items.extend(turn.items.iter().cloned()),
        }
    }

    /// Records the outputs of the tools of one turn, in the order they were asked for.
    pub fn push_tool_outputs(&mut self, outputs: &[(ModelToolCall, ToolOutput)]) {
        match self.api {
            Api::Chat => {
                for (call, output) in outputs {
                    let mut text = output.text.clone();
                    if !output.images.is_empty() {
                        text.push_str(&format!("\n({} image(s) follow in the next message)", output.images.len()));
                    }
                    self.items.push(json!({"role": "tool", "tool_call_id": call.id, "content": text}));
                }
                // Tool messages hold text only; images go in a user message right after them.
                let images: Vec<Value> = outputs
                    .iter()
                    .flat_map(|(_, o)| o.images.iter())
                    .map(|url| json!({"type": "image_url", "image_url": {"url": url}}))
                    .collect();
                if !images.is_empty() {
                    let mut content = vec![json!({"type": "text", "text": "Images returned by the tools above:"})];
                    content.extend(images);
                    self.items.push(json!({"role": "user", "content": content}));
                }
            }
            Api::Responses => {
                for (call, output) in outputs {
                    self.items.push(json!({
                        "type": "function_call_output",
                        "call_id": call.id,
                        "output": output.responses_output(),
                    }));
                }
            }
        }
    }
}

/// A model behind an OpenAI-compatible endpoint.
pub struct Model {
    client: async_openai::Client<OpenAIConfig>,
    config: ModelConfig,
    /// Set once the endpoint answered a streamed request with no stream (a plain JSON body):
    /// later turns ask without streaming.
    no_stream: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("config", &self.config).finish()
    }
}

impl Model {
    /// A client for the model in `config`.
    pub fn new(config: ModelConfig) -> Result<Self, Error> {
        mcp_core::transport::install_crypto_provider();
        let mut openai = OpenAIConfig::new()
            .with_api_base(config.base_url.clone().unwrap_or_else(|| "https://api.openai.com/v1".to_owned()));
        // An empty key for local endpoints that need none; `OpenAIConfig::new` would read the
        // environment again otherwise.
        openai = openai.with_api_key(config.api_key.clone().unwrap_or_default());
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        // Answers are read through a size bound, with the client's usual retries around it.
        let limit = crate::bounded::limit_for(config.max_answer_bytes);
        let service = OpenAIRetryLayer::default().layer(Bounded::new(http, limit));
        Ok(Self {
            client: async_openai::Client::with_config(openai).with_http_service(service),
            config,
            no_stream: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Asks the model for its next answer; `on_text` gets text as it streams.
    pub async fn turn(
        &self,
        conversation: &Conversation,
        tools: &FunctionTools,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelTurn, Error> {
        let span = tracing::info_span!("generation", model = %self.config.model, api = ?self.config.api);
        let within = self.config.turn_timeout;
        let answer = tokio::time::timeout(within, self.answer(conversation, tools, on_text).instrument(span)).await;
        answer.unwrap_or_else(|_| {
            Err(Error::Model(format!("the model did not finish its answer within {within:?} (turn_timeout)")))
        })
    }

    /// What a run is told of an answer cut off while read (see [`crate::bounded`]).
    fn cut_off_error(&self, cut: Cut) -> Error {
        let max = self.config.max_answer_bytes;
        Error::Model(match cut {
            Cut::TooLarge => format!(
                "the model's answer passed {} bytes in one piece (room for {max} bytes of text and tool-call arguments, max_answer_bytes); it was dropped",
                crate::bounded::limit_for(max)
            ),
            Cut::NotUtf8 => "the model's streamed answer is not UTF-8; it was dropped".to_owned(),
        })
    }

    /// Refuses an answer grown past [`ModelConfig::max_answer_bytes`].
    fn within_answer_bytes(&self, bytes: usize) -> Result<(), Error> {
        let limit = self.config.max_answer_bytes;
        if bytes <= limit {
            return Ok(());
        }
        Err(Error::Model(format!(
            "the model's answer passed {limit} bytes of text and tool-call arguments (max_answer_bytes); it was dropped"
        )))
    }

    /// [`Model::turn`] without its time limit.
    async fn answer(
        &self,
        conversation: &Conversation,
        tools: &FunctionTools,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelTurn, Error> {
        let stream = self.config.stream && !self.no_stream.load(std::sync::atomic::Ordering::Relaxed);
        match self.ask(conversation, tools, on_text, stream).await? {
            Some(turn) => Ok(turn),
            None => {
                // A stream without a single event: endpoints that ignore `stream` answer with a
                // plain JSON body, which holds no events. Ask again without streaming (and keep
                // to that), so the answer is read rather than taken for an empty one.
                tracing::warn!(
                    model = %self.config.model,
                    "the endpoint answered a streamed request without a stream; asking without streaming"
                );
                self.no_stream.store(true, std::sync::atomic::Ordering::Relaxed);
                self.ask(conversation, tools, on_text, false)
                    .await?
                    .ok_or_else(|| Error::Model("the endpoint answered without a stream and without an answer".into()))
            }
        }
    }

    /// One request; `None` when a streamed request brought no event at all.
    async fn ask(
        &self,
        conversation: &Conversation,
        tools: &FunctionTools,
        on_text: &mut (dyn FnMut(&str) + Send),
        stream: bool,
    ) -> Result<Option<ModelTurn>, Error> {
        let asking = Asking::new(stream);
        let answer = asking.run(self.request(conversation, tools, on_text, stream)).await;
        // A body cut off while read fails with the HTTP client's own words: say what happened.
        answer.map_err(|e| asking.cut().map_or(e, |cut| self.cut_off_error(cut)))
    }

    /// [`Model::ask`] without its account of a body cut off.
    async fn request(
        &self,
        conversation: &Conversation,
        tools: &FunctionTools,
        on_text: &mut (dyn FnMut(&str) + Send),
        stream: bool,
    ) -> Result<Option<ModelTurn>, Error> {
        match self.config.api {
            Api::Chat => {
                let mut request = json!({
                    "model": self.config.model,
                    "messages": conversation.items,
                    "stream": stream,
                });
                if !tools.is_empty() {
                    request["tools"] = Value::Array(tools.chat_json());
                    if let Some(parallel) = self.config.parallel_tool_calls {
                        request["parallel_tool_calls"] = json!(parallel);
                    }
                }
                if let Some(t) = self.config.temperature {
                    request["temperature"] = json!(t);
                }
                if stream {
                    let mut chunks = self
                        .client
                        .chat()
                        .create_stream_byot::<Value, Value>(request)
                        .await
                        .map_err(|e| Error::model(&self.config, e))?;
                    let mut turn = ChatAccumulator::default();
                    let mut events = 0usize;
                    while let Some(chunk) = chunks.next().await {
                        let chunk = chunk.map_err(|e| Error::model(&self.config, e))?;
                        events += 1;
                        turn.add(&chunk, on_text)?;
                        self.within_answer_bytes(turn.bytes())?;
                    }
                    Ok((events > 0).then(|| turn.finish()))
                } else {
                    let answer: Value =
                        self.client.chat().create_byot(request).await.map_err(|e| Error::model(&self.config, e))?;
                    let turn = chat_answer(&answer)?;
                    self.within_answer_bytes(turn.bytes())?;
                    if !turn.text.is_empty() {
                        on_text(&turn.text);
                    }
                    Ok(Some(turn))
                }
            }
            Api::Responses => {
                let mut request = json!({
                    "model": self.config.model,
                    "input": conversation.items,
                    "stream": stream,
                });
                if let Some(instructions) = &conversation.instructions {
                    request["instructions"] = json!(instructions);
                }
                if !tools.is_empty() {
                    request["tools"] = Value::Array(tools.responses_json());
                    if let Some(parallel) = self.config.parallel_tool_calls {
                        request["parallel_tool_calls"] = json!(parallel);
                    }
                }
                if let Some(t) = self.config.temperature {
                    request["temperature"] = json!(t);
                }
                if stream {
                    let mut events = self
                        .client
                        .responses()
                        .create_stream_byot::<Value, Value>(request)
                        .await
                        .map_err(|e| Error::model(&self.config, e))?;
                    let (mut seen, mut bytes) = (0usize, 0usize);
                    while let Some(event) = events.next().await {
                        let event = event.map_err(|e| Error::model(&self.config, e))?;
                        seen += 1;
                        match event.get("type").and_then(Value::as_str).unwrap_or_default() {
                            kind @ ("response.output_text.delta" | "response.function_call_arguments.delta") => {
                                if let Some(delta) = event.get("delta").and_then(Value::as_str) {
                                    bytes += delta.len();
                                    self.within_answer_bytes(bytes)?;
                                    if kind == "response.output_text.delta" {
                                        on_text(delta);
                                    }
                                }
                            }
                            "response.completed" | "response.incomplete" => {
                                let turn = responses_answer(event.get("response").unwrap_or(&Value::Null))?;
                                self.within_answer_bytes(turn.bytes())?;
                                return Ok(Some(turn));
                            }
                            "response.failed" | "error" => {
                                let error = event.pointer("/response/error").or_else(|| event.get("error"));
                                return Err(Error::Model(format!(
                                    "the model failed: {}",
                                    error.map_or_else(|| event.to_string(), describe_error)
                                )));
                            }
                            _ => {}
                        }
                    }
                    if seen == 0 {
                        return Ok(None);
                    }
                    Err(Error::Model("the model's stream ended before the response was complete".into()))
                } else {
                    let answer: Value = self
                        .client
                        .responses()
                        .create_byot(request)
                        .await
                        .map_err(|e| Error::model(&self.config, e))?;
                    let turn = responses_answer(&answer)?;
                    self.within_answer_bytes(turn.bytes())?;
                    if !turn.text.is_empty() {
                        on_text(&turn.text);
                    }
                    Ok(Some(turn))
                }
            }
        }
    }
}

fn describe_error(error: &Value) -> String {
    error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_owned)
}

/// A whole Chat Completions answer.
fn chat_answer(answer: &Value) -> Result<ModelTurn, Error> {
    let message = answer
        .pointer("/choices/0/message")
        .ok_or_else(|| Error::Model(format!("the model's answer has no message: {}", truncate(answer))))?;
    let text = message.get("content").and_then(Value::as_str).unwrap_or_default().to_owned();
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| ModelToolCall {
                    id: c.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    name: c.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    arguments: c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ModelTurn { text, tool_calls, items: Vec::new() })
}

/// What [`ModelConfig::max_answer_bytes`] counts of an answer.
fn answer_bytes(text: &str, calls: &[ModelToolCall]) -> usize {
    text.len() + calls.iter().map(|c| c.name.len() + c.arguments.len()).sum::<usize>()
}

/// Chat Completions chunks put together: text, and tool calls assembled by index.
#[derive(Default)]
struct ChatAccumulator {
    text: String,
    calls: Vec<ModelToolCall>,
}

impl ChatAccumulator {
    fn add(&mut self, chunk: &Value, on_text: &mut (dyn FnMut(&str) + Send)) -> Result<(), Error> {
        if let Some(error) = chunk.get("error") {
            return Err(Error::Model(format!("the model failed: {}", describe_error(error))));
        }
        let Some(delta) = chunk.pointer("/choices/0/delta") else { return Ok(()) };
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            self.text.push_str(text);
            on_text(text);
        }
        for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(self.calls.len() as u64) as usize;
            if index > self.calls.len() + 128 {
                return Err(Error::Model(format!("the model sent tool call index {index} out of sequence")));
            }
            while self.calls.len() <= index {
                self.calls.push(ModelToolCall { id: String::new(), name: String::new(), arguments: String::new() });
            }
            let slot = &mut self.calls[index];
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                slot.id = id.to_owned();
            }
            if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                slot.name.push_str(name);
            }
            if let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str) {
                slot.arguments.push_str(arguments);
            }
        }
        Ok(())
    }

    /// Text and tool-call names and arguments so far.
    fn bytes(&self) -> usize {
        answer_bytes(&self.text, &self.calls)
    }

    fn finish(self) -> ModelTurn {
        ModelTurn { text: self.text, tool_calls: self.calls, items: Vec::new() }
    }
}

/// A whole Responses answer: text from `message` items, calls from `function_call` items.
fn responses_answer(response: &Value) -> Result<ModelTurn, Error> {
    let output = response
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Model(format!("the model's response has no output: {}", truncate(response))))?;
    let mut turn = ModelTurn::default();
    for item in output {
        match item.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message" => {
                for part in item.get("content").and_then(Value::as_array).into_iter().flatten() {
                    if part.get("type").and_then(Value::as_str) == Some("output_text") {
                        turn.text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                }
            }
            "function_call" => turn.tool_calls.push(ModelToolCall {
                id: item.get("call_id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                name: item.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                arguments: item.get("arguments").and_then(Value::as_str).unwrap_or_default().to_owned(),
            }),
            _ => {}
        }
        turn.items.push(item.clone());
    }
    Ok(turn)
}

fn truncate(value: &Value) -> String {
    crate::shortened(&value.to_string(), crate::ERROR_BODY_SHOWN)
}
