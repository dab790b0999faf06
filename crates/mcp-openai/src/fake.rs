//! A local stand-in for an OpenAI-compatible endpoint, for tests: it plays a script of model
//! turns (text, tool calls, errors) over Chat Completions and Responses, streamed or not, in the
//! shapes the real API uses, and records every request it gets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    /// The model answers with text and asks for these tools (name, arguments as JSON text).
    Turn {
        /// The text.
        text: String,
        /// The tool calls.
        calls: Vec<(String, String)>,
    },
    /// The endpoint fails with this HTTP status and message.
    Error(u16, String),
    /// The answer is decided when the request arrives (it sees the request body).
    Dynamic(Arc<dyn Fn(&Value) -> Reply + Send + Sync>),
    /// This reply with every call of it under one id, as endpoints that reuse ids do.
    SameIds(Box<Reply>),
    /// A streamed answer that never ends: a piece of text of `piece` bytes every `every`.
    Endless {
        /// The size of each text delta.
        piece: usize,
        /// The pause between deltas.
        every: std::time::Duration,
    },
    /// An answer of one piece that never ends, sent as fast as it is read: a JSON body or, when
    /// streamed, one event.
    Unbounded,
    /// An event stream, whatever the request asked for, whose first event holds a byte that is not
    /// UTF-8, followed by short events without end.
    NotUtf8,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Turn { text, calls } => f.debug_struct("Turn").field("text", text).field("calls", calls).finish(),
            Reply::Error(status, message) => f.debug_tuple("Error").field(status).field(message).finish(),
            Reply::Dynamic(_) => f.write_str("Dynamic"),
            Reply::SameIds(reply) => f.debug_tuple("SameIds").field(reply).finish(),
            Reply::Endless { piece, every } => {
                f.debug_struct("Endless").field("piece", piece).field("every", every).finish()
            }
            Reply::Unbounded => f.write_str("Unbounded"),
            Reply::NotUtf8 => f.write_str("NotUtf8"),
        }
    }
}

impl Reply {
    /// A final answer.
    pub fn text(text: impl Into<String>) -> Self {
        Reply::Turn { text: text.into(), calls: Vec::new() }
    }

    /// One or more tool calls (all in the same turn).
    pub fn calls<N: Into<String>>(calls: impl IntoIterator<Item = (N, Value)>) -> Self {
        Reply::Turn { text: String::new(), calls: calls.into_iter().map(|(n, a)| (n.into(), a.to_string())).collect() }
    }

    /// A tool call with its arguments given as raw text (possibly not JSON at all).
    pub fn raw_call(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Reply::Turn { text: String::new(), calls: vec![(name.into(), arguments.into())] }
    }

    /// Decided when the request arrives.
    pub fn dynamic(f: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        Reply::Dynamic(Arc::new(f))
    }

    /// This reply, its calls all carrying one id.
    pub fn same_ids(self) -> Self {
        Reply::SameIds(Box::new(self))
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `chat/completions` or `responses`.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    counter: std::sync::atomic::AtomicUsize,
    /// Answer streamed requests with a plain JSON body, as some compatible endpoints do.
    never_stream: std::sync::atomic::AtomicBool,
}

/// A running fake endpoint.
#[derive(Clone)]
pub struct FakeModel {
    /// Its base URL, ending in `/v1`.
    pub base_url: String,
    state: Arc<State>,
}

impl std::fmt::Debug for FakeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeModel").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl FakeModel {
    /// Starts on a free loopback port with `script`, one reply per request, in order. When the
    /// script runs out, requests fail with 500 and say so.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> std::io::Result<FakeModel> {
        let state = Arc::new(State { script: Mutex::new(script.into_iter().collect()), ..State::default() });
        let chat = state.clone();
        let responses = state.clone();
        let app = axum::Router::new()
            .route(
                "/v1/chat/completions",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let state = chat.clone();
                    async move { state.answer("chat/completions", &headers, &body) }
                }),
            )
            .route(
                "/v1/responses",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let state = responses.clone();
                    async move { state.answer("responses", &headers, &body) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(FakeModel { base_url: format!("http://{addr}/v1"), state })
    }

    /// From now on, answers every request with a plain JSON body, also when it asks to stream
    /// (some OpenAI-compatible endpoints ignore `stream`).
    pub fn never_stream(&self) {
        self.state.never_stream.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Adds replies to the end of the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap_or_else(PoisonError::into_inner).extend(replies);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replies not yet used.
    pub fn remaining(&self) -> usize {
        self.state.script.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl State {
    fn answer(&self, path: &str, headers: &HeaderMap, body: &str) -> Response {
        let body: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return error(400, &format!("the request body is not JSON: {e}")),
        };
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).push(Seen {
            path: path.to_owned(),
            authorization,
            body: body.clone(),
        });
        let next = self.script.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
        let mut reply = next.unwrap_or_else(|| Reply::Error(500, "the fake model's script is exhausted".into()));
        let mut same_ids = false;
        loop {
            match reply {
                Reply::Dynamic(decide) => reply = decide(&body),
                Reply::SameIds(inner) => (reply, same_ids) = (*inner, true),
                _ => break,
            }
        }
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let model = body.get("model").and_then(Value::as_str).unwrap_or("fake").to_owned();
        let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false)
            && !self.never_stream.load(std::sync::atomic::Ordering::Relaxed);
        match reply {
            Reply::Error(status, message) => error(status, &message),
            Reply::Endless { piece, every } => endless(path, n, &model, piece, every),
            Reply::Unbounded => unbounded(stream),
            Reply::NotUtf8 => not_utf8(),
            Reply::Turn { text, calls } => {
                // The ids are written as `call_{n}_{i}`: one id for all is `call_{n}`.
                let ids = |text: String| {
                    if !same_ids {
                        return text;
                    }
                    (0..calls.len())
                        .fold(text, |t, i| t.replace(&format!("\"{}\"", call_id(n, i)), &format!("\"call_{n}\"")))
                };
                let events =
                    |events: Vec<(Option<String>, String)>| events.into_iter().map(|(e, d)| (e, ids(d))).collect();
                let json = |body: Value| serde_json::from_str(&ids(body.to_string())).unwrap_or(body);
                match (path, stream) {
                    ("chat/completions", false) => json_response(json(chat_completion(n, &model, &text, &calls))),
                    ("chat/completions", true) => sse(events(chat_chunks(n, &model, &text, &calls))),
                    (_, false) => json_response(json(response(n, &model, &text, &calls, "completed"))),
                    (_, true) => sse(events(response_events(n, &model, &text, &calls))),
                }
            }
            Reply::Dynamic(_) | Reply::SameIds(_) => unreachable!("resolved above"),
        }
    }
}

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn json_response(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `(event name, data)` pairs as one `text/event-stream` body.
fn sse(events: Vec<(Option<String>, String)>) -> Response {
    let body: String = events.iter().map(|(event, data)| sse_event(event.as_deref(), data)).collect();
    (SSE_HEADERS, body).into_response()
}

const SSE_HEADERS: [(header::HeaderName, &str); 2] =
    [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];

/// One event of a `text/event-stream` body.
fn sse_event(event: Option<&str>, data: &str) -> String {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// A `text/event-stream` body of text deltas without end, in the shape of `path`'s API.
fn endless(path: &str, n: usize, model: &str, piece: usize, every: std::time::Duration) -> Response {
    let text = "x".repeat(piece);
    let (event, data) = if path == "chat/completions" {
        (
            None,
            json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk", "created": CREATED,
                      "model": model, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
        )
    } else {
        let delta = "response.output_text.delta";
        (
            Some(delta),
            json!({"type": delta, "item_id": format!("msg_{n}"), "output_index": 0, "content_index": 0, "delta": text}),
        )
    };
    let chunk = axum::body::Bytes::from(sse_event(event, &data.to_string()));
    let deltas = futures_util::stream::unfold(chunk, move |chunk| async move {
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::convert::Infallible>(chunk.clone()), chunk))
    });
    (SSE_HEADERS, axum::body::Body::from_stream(deltas)).into_response()
}

/// See [`Reply::Unbounded`].
fn unbounded(stream: bool) -> Response {
    use futures_util::StreamExt as _;
    let start = if stream { "data: {\"text\": \"" } else { "{\"id\": \"x\", \"text\": \"" };
    let more = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
    let body = futures_util::stream::once(std::future::ready(Ok(axum::body::Bytes::from_static(start.as_bytes()))))
        .chain(futures_util::stream::repeat_with(move || Ok::<_, std::convert::Infallible>(more.clone())));
    let kind = if stream { "text/event-stream" } else { "application/json" };
    ([(header::CONTENT_TYPE, kind)], axum::body::Body::from_stream(body)).into_response()
}

/// See [`Reply::NotUtf8`].
fn not_utf8() -> Response {
    use futures_util::StreamExt as _;
    let first = axum::body::Bytes::from_static(b"data: {\"text\": \"\xFF\"}\n\n");
    let more = axum::body::Bytes::from_static(b"data: {}\n\n");
    let body = futures_util::stream::once(std::future::ready(Ok(first)))
        .chain(futures_util::stream::repeat_with(move || Ok::<_, std::convert::Infallible>(more.clone())));
    (SSE_HEADERS, axum::body::Body::from_stream(body)).into_response()
}

const CREATED: u64 = 1_767_225_600;

/// Splits text in about three pieces, so streaming shows as several deltas.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn call_id(n: usize, i: usize) -> String {
    format!("call_{n}_{i}")
}

fn chat_completion(n: usize, model: &str, text: &str, calls: &[(String, String)]) -> Value {
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }, "refusal": null});
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .enumerate()
            .map(|(i, (name, arguments))| {
                json!({"id": call_id(n, i), "type": "function", "function": {"name": name, "arguments": arguments}})
            })
            .collect();
    }
    json!({
        "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": CREATED, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
}

fn chat_chunks(n: usize, model: &str, text: &str, calls: &[(String, String)]) -> Vec<(Option<String>, String)> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk", "created": CREATED, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        .to_string()
    };
    let mut out = vec![(None, chunk(json!({"role": "assistant", "content": ""}), Value::Null))];
    for piece in pieces(text) {
        out.push((None, chunk(json!({"content": piece}), Value::Null)));
    }
    for (i, (name, arguments)) in calls.iter().enumerate() {
        let head = json!({"tool_calls": [{"index": i, "id": call_id(n, i), "type": "function",
                                            "function": {"name": name, "arguments": ""}}]});
        out.push((None, chunk(head, Value::Null)));
        for piece in pieces(arguments) {
            out.push((
                None,
                chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), Value::Null),
            ));
        }
    }
    out.push((None, chunk(json!({}), json!(if calls.is_empty() { "stop" } else { "tool_calls" }))));
    out.push((None, "[DONE]".to_owned()));
    out
}

fn output_items(n: usize, text: &str, calls: &[(String, String)], status: &str) -> Vec<Value> {
    let mut items = Vec::new();
    if !text.is_empty() {
        items.push(json!({"type": "message", "id": format!("msg_{n}"), "status": status, "role": "assistant",
                          "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}));
    }
    for (i, (name, arguments)) in calls.iter().enumerate() {
        items.push(json!({"type": "function_call", "id": format!("fc_{n}_{i}"), "call_id": call_id(n, i),
                          "name": name, "arguments": arguments, "status": status}));
    }
    items
}

fn response(n: usize, model: &str, text: &str, calls: &[(String, String)], status: &str) -> Value {
    let done = status == "completed";
    json!({
        "id": format!("resp_{n}"), "object": "response", "created_at": CREATED, "status": status,
        "model": model, "output": if done { output_items(n, text, calls, "completed") } else { Vec::new() },
        "error": null, "incomplete_details": null, "instructions": null, "metadata": {},
        "parallel_tool_calls": true, "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": [],
        "text": {"format": {"type": "text"}}, "truncation": "disabled", "background": false,
        "usage": if done { json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                                  "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                                  "total_tokens": 15}) } else { Value::Null },
    })
}

fn response_events(n: usize, model: &str, text: &str, calls: &[(String, String)]) -> Vec<(Option<String>, String)> {
    let mut events = Vec::new();
    let mut push = |mut data: Value| {
        let kind = data["type"].as_str().unwrap_or_default().to_owned();
        data["sequence_number"] = json!(events.len());
        events.push((Some(kind), data.to_string()));
    };
    push(json!({"type": "response.created", "response": response(n, model, text, calls, "in_progress")}));
    let done = output_items(n, text, calls, "completed");
    let mut index = 0;
    if !text.is_empty() {
        let id = format!("msg_{n}");
        push(json!({"type": "response.output_item.added", "output_index": index,
                    "item": {"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []}}));
        push(json!({"type": "response.content_part.added", "item_id": id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []}}));
        for piece in pieces(text) {
            push(json!({"type": "response.output_text.delta", "item_id": id, "output_index": index,
                        "content_index": 0, "delta": piece, "logprobs": []}));
        }
        push(json!({"type": "response.output_text.done", "item_id": id, "output_index": index, "content_index": 0,
                    "text": text, "logprobs": []}));
        push(json!({"type": "response.content_part.done", "item_id": id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": []}}));
        push(json!({"type": "response.output_item.done", "output_index": index, "item": done[index]}));
        index += 1;
    }
    for (i, (name, arguments)) in calls.iter().enumerate() {
        let id = format!("fc_{n}_{i}");
        push(json!({"type": "response.output_item.added", "output_index": index,
                    "item": {"type": "function_call", "id": id, "call_id": call_id(n, i), "name": name,
                             "arguments": "", "status": "in_progress"}}));
        for piece in pieces(arguments) {
            push(json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": index,
                        "delta": piece}));
        }
        push(json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": index,
                    "arguments": arguments}));
        push(json!({"type": "response.output_item.done", "output_index": index, "item": done[index]}));
        index += 1;
    }
    push(json!({"type": "response.completed", "response": response(n, model, text, calls, "completed")}));
    events
}
