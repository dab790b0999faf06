//! A stand-in for Perplexity's API on 127.0.0.1 (no real endpoint can be reached from a test):
//! the Agent API (`POST /v1/agent`, answered as a server-sent event stream, and
//! `POST /v1/agent/{id}/cancel`) and the Search API (`POST /search`). It checks the bearer
//! token, records every request, and derives its answers from the request, so what a backend
//! sends shows in what it gets back. A marker in the question picks a failure:
//!
//! - `[fail-500]`, `[fail-429]`: that HTTP status with an error body;
//! - `[echo-key]`: a 400 whose body repeats the request's `Authorization` header (a careless API);
//! - `[echo-key-in-stream]`: the stream's search queries repeat that header;
//! - `[stream-error]`: the stream reports the run as failed;
//! - `[stall]`: the stream starts a run, then sends nothing more (see [`Fixture::wait_for_stall`]);
//! - `[no-ids]`: sources without ids (numbered by position), one of them twice;
//! - `[huge]`: an event of 2 MiB in the stream.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The key the fixture accepts. Never printed: tests show texts through [`masked`].
pub const KEY: &str = "pplx-fixture-4f1c9e27b3a845d6a0e1-SECRET";

/// `text` with the fixture's key replaced, safe to show in a failed assertion.
pub fn masked(text: &str) -> String {
    text.replace(KEY, "<KEY>")
}

/// One request the fixture received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The path, e.g. `/v1/agent`.
    pub path: String,
    /// Whether it carried `Authorization: Bearer KEY`.
    pub authorized: bool,
    /// Its JSON body (`null` when it was not JSON).
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    runs: AtomicUsize,
    /// Stalled runs whose id event has been sent, not yet seen by [`Fixture::wait_for_stall`].
    stalled: AtomicUsize,
}

/// A running fixture; it stops when dropped.
pub struct Fixture {
    /// Its base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fixture {
    pub async fn start() -> Fixture {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/agent", post(agent))
            .route("/v1/agent/{id}/cancel", post(cancel))
            .route("/search", post(search))
            .fallback(|| async { (StatusCode::NOT_FOUND, "no such endpoint") })
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("has an address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fixture { url, shared, task }
    }

    /// Every request so far, and forgets them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.shared.requests.lock().expect("not poisoned"))
    }

    /// Waits up to `within` for a request whose path ends with `suffix`; returns it (and forgets
    /// every request).
    pub async fn wait_for(&self, suffix: &str, within: Duration) -> Option<Recorded> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let found =
                self.shared.requests.lock().expect("not poisoned").iter().find(|r| r.path.ends_with(suffix)).cloned();
            if found.is_some() {
                self.take_requests();
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `within` until a `[stall]` run's stream has sent all it sends, its id event
    /// included (handed to the connection: the client has it, or soon will); true if one has,
    /// and that run counts as seen.
    pub async fn wait_for_stall(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let taken = self.shared.stalled.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if taken.is_ok() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The sources every normal answer cites.
pub const SOURCE_1: &str = "https://en.wikipedia.org/wiki/Emma_(novel)";
pub const SOURCE_2: &str = "https://www.gutenberg.org/ebooks/158";

/// The answer text the fixture gives to `question` asked with `preset`. Multi-byte characters
/// on purpose: the stream is cut into small chunks, so some fall across two of them.
pub fn answer_text(preset: &str, question: &str) -> String {
    format!("({preset}) On “{question}”: Jane Austen wrote Émma [1], published in December 1815 [2].")
}

fn record(shared: &Shared, path: String, headers: &HeaderMap, body: &Bytes) -> (bool, Value) {
    let authorized =
        headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes() == format!("Bearer {KEY}").as_bytes());
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    shared.requests.lock().expect("not poisoned").push(Recorded { path, authorized, body: body.clone() });
    (authorized, body)
}

fn unauthorized() -> Response {
    let body = json!({"error": {"message": "Invalid API key provided. Check your key at perplexity.ai/account/api", "type": "invalid_api_key", "code": 401}});
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The failure a marker in `text` asks for, if any.
fn failure(text: &str, headers: &HeaderMap) -> Option<Response> {
    if text.contains("[fail-500]") {
        return Some((StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response());
    }
    if text.contains("[fail-429]") {
        let body = json!({"error": {"message": "Rate limit exceeded: retry in 20 seconds", "type": "rate_limit_exceeded", "code": 429}});
        return Some(
            (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body.to_string())
                .into_response(),
        );
    }
    if text.contains("[echo-key]") {
        let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        return Some((StatusCode::BAD_REQUEST, format!("malformed request (sent with `{sent}`)")).into_response());
    }
    None
}

async fn agent(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (authorized, body) = record(&shared, "/v1/agent".into(), &headers, &body);
    if !authorized {
        return unauthorized();
    }
    if body["stream"] != json!(true) {
        return (StatusCode::BAD_REQUEST, "this stand-in answers streamed requests only").into_response();
    }
    let preset = body["preset"].as_str().unwrap_or("none").to_owned();
    let question =
        body["input"].as_array().and_then(|i| i.last()).and_then(|m| m["content"].as_str()).unwrap_or("").to_owned();
    if let Some(response) = failure(&question, &headers) {
        return response;
    }
    let run = format!("run-{}", shared.runs.fetch_add(1, Ordering::Relaxed) + 1);
    let created = event("response.created", json!({"response": {"id": run, "status": "in_progress", "output": []}}));
    let chunks: Vec<String> = if question.contains("[stall]") {
        vec![created]
    } else if question.contains("[stream-error]") {
        vec![
            created,
            event("response.reasoning.search_queries", json!({"queries": ["emma"]})),
            event(
                "response.failed",
                json!({"response": {"id": run, "status": "failed"}, "error": {"message": "the model is overloaded"}}),
            ),
        ]
    } else {
        let mut sources = vec![
            json!({"id": 1, "url": SOURCE_1, "title": "Emma (novel)", "snippet": "Emma is a novel by Jane Austen."}),
            json!({"id": 2, "url": SOURCE_2, "title": "Emma by Jane Austen", "date": "1994-08-01"}),
            json!({"id": 1, "url": SOURCE_1, "title": "Emma (novel)"}),
        ];
        if question.contains("[no-ids]") {
            for source in &mut sources {
                source.as_object_mut().map(|s| s.remove("id"));
            }
        }
        let completed = json!({"response": {
            "id": run, "status": "completed", "model": "sonar",
            "output": [
                {"type": "search_results", "results": sources},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": answer_text(&preset, &question), "annotations": [{"type": "citation", "url": SOURCE_1}]},
                ]},
            ],
            "usage": {"input_tokens": 12, "output_tokens": 34},
        }});
        let mut chunks = vec![
            ": keep-alive\n\n".to_owned(),
            created,
            if question.contains("[echo-key-in-stream]") {
                let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
                event("response.reasoning.search_queries", json!({"queries": [format!("emma {sent}")]}))
            } else {
                event("response.reasoning.search_queries", json!({"queries": ["emma author", "emma 1815"]}))
            },
            format!("data: {}\n\n", json!({"type": "response.reasoning.search_results", "results": sources})),
            event("response.reasoning.fetch_url_queries", json!({"urls": [SOURCE_1]})),
            event("response.output_item.added", json!({"item": {"type": "search_results"}})),
            event("response.output_item.added", json!({"item": {"type": "message", "role": "assistant"}})),
            event("response.output_text.delta", json!({"delta": "Jane"})),
        ];
        if question.contains("[huge]") {
            chunks.push(event("response.output_text.delta", json!({"delta": "x".repeat(2 * 1024 * 1024)})));
        }
        chunks.push(event("response.completed", completed));
        // Nothing after the final response counts.
        chunks.push(event("error", json!({"message": "an error after the end must be ignored"})));
        chunks.push("data: [DONE]\n\n".to_owned());
        chunks
    };
    let stall = question.contains("[stall]").then(|| shared.clone());
    sse(chunks, stall)
}

/// One event: its name on an `event:` line and again as the data's `type`.
fn event(name: &str, mut data: Value) -> String {
    data["type"] = json!(name);
    format!("event: {name}\ndata: {data}\n\n")
}

/// The events as a stream cut into pieces of 37 bytes (so lines and characters fall across
/// reads; a large event in pieces of 64 KiB), then, when `stall`, silence until the client goes
/// away, counted in `stall`'s `stalled` once the last piece has been handed on.
fn sse(events: Vec<String>, stall: Option<Arc<Shared>>) -> Response {
    let pieces: Vec<Bytes> = events
        .iter()
        .flat_map(|event| event.as_bytes().chunks(if event.len() > 4096 { 64 * 1024 } else { 37 }))
        .map(Bytes::copy_from_slice)
        .collect();
    let stream = futures_util::stream::unfold((pieces.into_iter(), stall), |(mut pieces, stall)| async move {
        match pieces.next() {
            Some(piece) => {
                tokio::time::sleep(Duration::from_micros(200)).await;
                Some((Ok::<_, Infallible>(piece), (pieces, stall)))
            }
            None => match stall {
                Some(shared) => {
                    // Asked for the piece after the last: the last is on its way to the client.
                    shared.stalled.fetch_add(1, Ordering::AcqRel);
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    None
                }
                None => None,
            },
        }
    });
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(stream))
        .into_response()
}

async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (authorized, _) = record(&shared, format!("/v1/agent/{id}/cancel"), &headers, &body);
    if !authorized {
        return unauthorized();
    }
    ([(header::CONTENT_TYPE, "application/json")], json!({"id": id, "status": "cancelled"}).to_string()).into_response()
}

async fn search(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (authorized, body) = record(&shared, "/search".into(), &headers, &body);
    if !authorized {
        return unauthorized();
    }
    let query = body["query"].as_str().unwrap_or("").to_owned();
    if let Some(response) = failure(&query, &headers) {
        return response;
    }
    let all = [
        json!({"title": format!("{query} — Wikipedia"), "url": SOURCE_1, "snippet": "Emma is a novel by Jane Austen.", "date": "2024-05-01", "score": 0.93}),
        json!({"title": "Project Gutenberg", "url": SOURCE_2}),
        json!({"title": "Notes", "url": "https://notes.example/emma", "snippet": "Two lines:\nthe second.", "last_updated": "2025-01-02"}),
    ];
    let wanted = body["max_results"].as_u64().unwrap_or(0) as usize;
    let results: Vec<Value> = all.into_iter().take(wanted).collect();
    let answer = json!({"results": results, "query": query, "usage": {"tokens": 321}, "id": "search-1"});
    ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}
