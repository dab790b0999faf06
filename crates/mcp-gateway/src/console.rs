//! The web console (feature `console`): a page at `/ui` and its API under `/ui/api/`, served by
//! the gateway's own HTTP server.
//!
//! - The page and its script and style sheet are embedded in the binary and reveal nothing: they
//!   go in the routes open to anyone ([`ConsoleRoutes::page`]). Every piece of data comes from the
//!   API ([`ConsoleRoutes::api`]), which the embedder serves behind the same Origin, Host and
//!   bearer-token checks as `/mcp` (`mcp_core::transport::http::Extra::admitted`).
//! - Servers and their state; every tool with its definition and, per known principal, the
//!   policy's decision and the rule that makes it.
//! - "Try a call" (only when [`ConsoleOptions::calls`] is on): the call goes through the gateway's
//!   one pipeline as the principal the caller's token names, so the console can do nothing its
//!   user could not do over `/mcp`; progress and the result stream back as server-sent events.
//! - Activity: the audit log's live file is followed (what is durable is what is shown), kept
//!   in a ring of recent records, streamed to watchers, and counted per tool for the charts.
//!
//! Everything it keeps is bounded: the ring ([`RING`] records), the per-tool series ([`MAX_SERIES`]
//! tools, [`BUCKETS`] buckets of [`BUCKET_SECS`] s) and the activity streams ([`MAX_WATCHERS`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read as _, Seek as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as Shared};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_audit::AuditRecord;
use mcp_core::protocol::{CallToolResult, JsonObject};
use mcp_core::transport::http::Admitted;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::{Current, GATEWAY, Gateway};

/// Records kept for the activity list and for opening a record.
pub const RING: usize = 1000;
/// Activity streams open at once; one more is refused with 503.
pub const MAX_WATCHERS: usize = 16;
/// Tools with a series for the charts; calls of further tools count under `(other)`.
pub const MAX_SERIES: usize = 200;
/// The width of one bucket of the charts' series, in seconds.
pub const BUCKET_SECS: u64 = 5;
/// Buckets kept per tool: the charts cover `BUCKETS * BUCKET_SECS` seconds (six minutes).
pub const BUCKETS: usize = 72;

/// A record line longer than this is shown without its arguments (the audit log has it whole).
const MAX_KEPT_LINE: usize = 64 * 1024;
/// The largest request body the API takes (a call's arguments).
const MAX_BODY: usize = 1024 * 1024;
/// A line longer than this is not read whole (the writer never writes one).
const MAX_PENDING: usize = 16 * 1024 * 1024;
/// How often the audit log's live file is read for new records.
const POLL: Duration = Duration::from_millis(200);
/// How much of the end of the audit log is read at start, for the records shown first.
const BACKLOG_BYTES: u64 = 512 * 1024;
/// How often an idle activity stream sends a comment (and checks whether serving stops).
const KEEPALIVE: Duration = Duration::from_secs(1);
/// Keepalive ticks between two comments actually sent.
const KEEPALIVE_EVERY: u32 = 15;

/// What the console may do, and whom it describes.
#[derive(Clone, Default)]
pub struct ConsoleOptions {
    /// Let the console call tools ("try a call"); off: the console is read-only.
    pub calls: bool,
    /// Principals to show the policy's decisions for, besides the gateway's own principal, the
    /// console user's and the names policy rules give literally (e.g. the principals of the
    /// configured bearer tokens).
    pub principals: Vec<String>,
    /// Says whether serving is stopping: activity streams end then, so that the server's drain
    /// does not wait for them (their pages reconnect, possibly to another replica).
    pub stopping: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

impl std::fmt::Debug for ConsoleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleOptions")
            .field("calls", &self.calls)
            .field("principals", &self.principals)
            .finish_non_exhaustive()
    }
}

/// The console's routes: the page (open) and the API (behind the `/mcp` admission checks).
#[derive(Debug)]
pub struct ConsoleRoutes {
    /// `/ui`, `/ui/` and the embedded assets: open to anyone, they hold no data.
    pub page: Router,
    /// `/ui/api/...`: serve behind the same Origin, Host and bearer-token checks as `/mcp`.
    pub api: Router,
}

impl Gateway {
    /// The web console over this gateway (see the [module](crate::console) documentation).
    /// Starts following the audit log; that stops when the routes are dropped.
    pub fn console(&self, options: ConsoleOptions) -> ConsoleRoutes {
        let (events, _) = broadcast::channel(256);
        let activity = Arc::new(Activity {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            events,
            series: Mutex::new(Series::default()),
        });
        let follower = tokio::spawn(follow(self.audit.path().to_owned(), Arc::downgrade(&activity)));
        let mut principals = options.principals.clone();
        principals.push(self.principal.clone());
        let console = Arc::new(Console {
            current: Arc::downgrade(&self.current),
            server: self.server.clone(),
            health: Box::new(self.health_probe()),
            options,
            principals,
            activity,
            watchers: Arc::new(Semaphore::new(MAX_WATCHERS)),
            _follower: AbortOnDrop(follower),
        });
        let page = Router::new()
            .route("/ui", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
            .route("/ui/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
            .route("/ui/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
            .route("/ui/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
            .route("/ui/favicon.svg", get(|| async { asset("image/svg+xml", ICON) }));
        let api = Router::new()
            .route("/ui/api/overview", get(overview))
            .route("/ui/api/tools", get(tools))
            .route("/ui/api/call", post(call))
            .route("/ui/api/activity", get(activity_list))
            .route("/ui/api/activity/stream", get(activity_stream))
            .route("/ui/api/audit/{seq}", get(audit_record))
            .route("/ui/api/stats", get(stats))
            .layer(axum::middleware::from_fn(require_admission))
            .with_state(console);
        ConsoleRoutes { page, api }
    }
}

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
const ICON: &str = include_str!("console/favicon.svg");

/// An embedded asset, never framed, run only with the page's own script and style.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             media-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
             form-action 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// What the API's handlers share.
struct Console {
    /// The gateway's parts in force (replaced whole when it reloads its configuration).
    current: Weak<Current>,
    /// The gateway's MCP server: the tool list and calls wait for its start, as its clients do.
    server: mcp_core::Server,
    health: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    options: ConsoleOptions,
    /// Principals the tool list shows decisions for (the caller's is added per request).
    principals: Vec<String>,
    activity: Arc<Activity>,
    watchers: Arc<Semaphore>,
    _follower: AbortOnDrop,
}

/// Aborts a task when dropped: background work owned by whoever holds this.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A JSON answer that no cache keeps.
fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal the page shows as it is.
fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "error": message.into() }))
}

/// The principal the request was admitted as (see [`require_admission`]).
fn principal_of(request: &Request) -> String {
    request.extensions().get::<Admitted>().map_or_else(String::new, |a| a.0.to_string())
}

/// Refuses every request that did not pass the `/mcp` admission: an API served outside
/// `Extra::admitted` would otherwise answer anyone, and call tools as no one in particular.
async fn require_admission(request: Request, next: axum::middleware::Next) -> Response {
    if request.extensions().get::<Admitted>().is_none() {
        tracing::error!("the console's API is served without the /mcp admission checks; refusing");
        return refusal(StatusCode::FORBIDDEN, "the console's API is not served behind the gateway's admission checks");
    }
    next.run(request).await
}

/// The answer once the gateway is gone.
fn shutting_down() -> Response {
    refusal(StatusCode::SERVICE_UNAVAILABLE, "the gateway is shutting down")
}

/// `GET /ui/api/overview`: who you are, what the console may do, the gateway's health and its
/// servers.
async fn overview(Shared(console): Shared<Arc<Console>>, request: Request) -> Response {
    let Some(state) = console.current.upgrade().map(|current| current.get()) else { return shutting_down() };
    let counts = {
        let exposed = state.exposed.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (server, _) in exposed.values() {
            *counts.entry(server.clone()).or_default() += 1;
        }
        counts
    };
    let mut servers = Vec::new();
    let mut local: Vec<&String> = state.local.keys().collect();
    local.sort();
    for name in local {
        let kind = if name == GATEWAY { "gateway" } else { "native" };
        servers.push(json!({
            "name": name, "kind": kind, "state": "running", "restarts": 0, "last_error": null,
            "era": "in-process", "protocol_version": null, "tools": counts.get(name).copied().unwrap_or(0),
        }));
    }
    for upstream in &state.upstreams {
        let status = upstream.status().await;
        let era = status.protocol_version.map(|v| match v.era() {
            mcp_core::protocol::Era::Modern => "modern",
            mcp_core::protocol::Era::Handshake => "handshake",
        });
        servers.push(json!({
            "name": upstream.name(), "kind": "upstream", "state": status.state.as_str(),
            "restarts": status.restarts, "last_error": status.last_error, "era": era,
            "protocol_version": status.protocol_version.map(|v| v.as_str()), "tools": status.tools,
        }));
    }
    let health = match (console.health)() {
        Ok(()) => json!({ "ok": true }),
        Err(why) => json!({ "ok": false, "reason": why }),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "principal": principal_of(&request),
            "calls": console.options.calls,
            "version": env!("CARGO_PKG_VERSION"),
            "health": health,
            "servers": servers,
            "limits": { "ring": RING, "watchers": MAX_WATCHERS, "bucket_secs": BUCKET_SECS, "buckets": BUCKETS },
        }),
    )
}

/// `GET /ui/api/tools` (once the gateway has started its servers): every served tool with its
/// server, definition, and the decision of the policy (and the rule that makes it) for each
/// known principal and the caller.
async fn tools(Shared(console): Shared<Arc<Console>>, request: Request) -> Response {
    if console.server.started().await == mcp_core::StartState::Abandoned {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway gave up its start (it is stopping, or its start failed)",
        );
    }
    let Some(state) = console.current.upgrade().map(|current| current.get()) else { return shutting_down() };
    let caller = principal_of(&request);
    // The policy's own names come from the state in force, so a reload that adds a rule shows it.
    let mut principals = console.principals.clone();
    principals.extend(state.policy.named_principals());
    principals.push(caller.clone());
    principals.sort();
    principals.dedup();
    let exposed = state.exposed.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut names: Vec<&String> = exposed.keys().collect();
    names.sort();
    let mut tools = Vec::new();
    for name in names {
        let (server, definition) = &exposed[name];
        let flagged = state.pins.as_ref().is_some_and(|pins| {
            pins.mode() == mcp_security::PinMode::Refuse && pins.is_flagged(server, &definition.name)
        });
        let access: Vec<Value> = principals
            .iter()
            .map(|principal| {
                let decision = state.policy.decide_listing(principal, server, name, definition);
                let (allowed, rule, reason) = if flagged {
                    (false, "pinning".to_owned(), "its definition changed since it was pinned".to_owned())
                } else {
                    (decision.allowed, decision.rule, decision.reason)
                };
                json!({ "principal": principal, "allowed": allowed, "rule": rule, "reason": reason })
            })
            .collect();
        let mut entry = serde_json::to_value(definition.as_ref()).unwrap_or_else(|_| json!({}));
        if let Value::Object(map) = &mut entry {
            map.insert("name".into(), json!(name));
            map.insert("tool".into(), json!(definition.name));
            map.insert("server".into(), json!(server));
            map.insert("access".into(), Value::Array(access));
        }
        tools.push(entry);
    }
    json_response(StatusCode::OK, &json!({ "principal": caller, "tools": tools }))
}

/// `POST /ui/api/call` with `{"tool": exposed name, "arguments": {...}}`: runs the call through
/// the pipeline as the caller's principal and answers with server-sent events: `progress`
/// (`{"progress", "total", "message"}`) while it runs, then `result` (the `CallToolResult`).
/// The call is cancelled (and audited as such) when the page stops reading.
async fn call(Shared(console): Shared<Arc<Console>>, request: Request) -> Response {
    if !console.options.calls {
        return refusal(
            StatusCode::FORBIDDEN,
            "the console is read-only: calls from it are off (start the gateway with --console-calls)",
        );
    }
    if console.server.started().await == mcp_core::StartState::Abandoned {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway gave up its start (it is stopping, or its start failed)",
        );
    }
    let Some(state) = console.current.upgrade().map(|current| current.get()) else { return shutting_down() };
    let principal = principal_of(&request);
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("the call is larger than {MAX_BODY} bytes")),
    };
    let (tool, arguments) = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut call)) => {
            let tool = call.get("tool").and_then(Value::as_str).map(str::to_owned);
            let arguments = match call.remove("arguments") {
                None | Some(Value::Null) => Some(JsonObject::new()),
                Some(Value::Object(arguments)) => Some(arguments),
                Some(_) => None,
            };
            match (tool, arguments) {
                (Some(tool), Some(arguments)) => (tool, arguments),
                (None, _) => return refusal(StatusCode::BAD_REQUEST, "the call names no `tool`"),
                (_, None) => return refusal(StatusCode::BAD_REQUEST, "`arguments` must be a JSON object"),
            }
        }
        _ => return refusal(StatusCode::BAD_REQUEST, "the call must be a JSON object: {\"tool\", \"arguments\"}"),
    };
    let Some(handle) = state.server.get().and_then(|server| server.tools().get(&tool).cloned()) else {
        return refusal(StatusCode::NOT_FOUND, format!("no tool `{tool}` is served"));
    };
    drop(state);
    let (events, received) = mpsc::channel::<Bytes>(64);
    let progress_events = events.clone();
    let progress: mcp_core::tool::ProgressFn = Arc::new(move |progress, total, message| {
        let data = json!({ "progress": progress, "total": total, "message": message });
        // A page that reads slowly misses progress notes, never the result.
        let _ = progress_events.try_send(sse("progress", &data));
    });
    let cx = mcp_core::ToolContext::detached().with_principal(principal).with_progress_fn(progress);
    let task = tokio::spawn(async move {
        let result = handle.call(arguments, cx).await.unwrap_or_else(CallToolResult::from);
        let data = serde_json::to_value(&result).unwrap_or_else(|e| json!({ "error": e.to_string() }));
        let _ = events.send(sse("result", &data)).await;
    });
    event_stream(futures_util::stream::unfold((received, AbortOnDrop(task)), |(mut received, task)| async move {
        received.recv().await.map(|event| (Ok::<_, std::convert::Infallible>(event), (received, task)))
    }))
}

/// One server-sent event.
fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// A `text/event-stream` answer over `events`.
fn event_stream<S>(events: S) -> Response
where
    S: futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The value of `key` in the request's query.
fn query<'r>(request: &'r Request, key: &str) -> Option<&'r str> {
    request.uri().query()?.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// `GET /ui/api/activity[?since=SEQ]`: the records kept, oldest first (those after `since`).
async fn activity_list(Shared(console): Shared<Arc<Console>>, request: Request) -> Response {
    let since = match query(&request, "since").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(since)) => since,
        Some(Err(_)) => {
            let why = "`since` is the sequence number of a record (a whole number of 0 or more)";
            return refusal(StatusCode::BAD_REQUEST, why);
        }
    };
    let ring = console.activity.ring.lock().unwrap_or_else(PoisonError::into_inner);
    let records: Vec<&Value> = ring.iter().filter(|e| e.seq > since).map(|e| &e.summary).collect();
    json_response(StatusCode::OK, &json!({ "records": records }))
}

/// `GET /ui/api/activity/stream`: each record as it becomes durable (`record` events, the
/// summary of [`activity`]); a `lagged` event when the watcher fell behind and should reload.
/// At most [`MAX_WATCHERS`] at once.
async fn activity_stream(Shared(console): Shared<Arc<Console>>) -> Response {
    let Ok(permit) = console.watchers.clone().try_acquire_owned() else {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_WATCHERS} activity streams are open already; close a console page and retry"),
        );
    };
    let receiver = console.activity.events.subscribe();
    let stopping = console.options.stopping.clone();
    let mut tick = tokio::time::interval(KEEPALIVE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = (receiver, tick, 0u32, permit, stopping, true);
    let events = futures_util::stream::unfold(
        start,
        |(mut receiver, mut tick, mut idle, permit, stopping, first)| async move {
            if first {
                let hello = Bytes::from_static(b": watching\n\n");
                return Some((Ok(hello), (receiver, tick, idle, permit, stopping, false)));
            }
            loop {
                tokio::select! {
                    received = receiver.recv() => {
                        let event = match received {
                            Ok(summary) => sse("record", &summary),
                            Err(broadcast::error::RecvError::Lagged(missed)) => sse("lagged", &json!({ "missed": missed })),
                            Err(broadcast::error::RecvError::Closed) => return None,
                        };
                        return Some((Ok(event), (receiver, tick, 0, permit, stopping, false)));
                    }
                    _ = tick.tick() => {
                        if stopping.as_ref().is_some_and(|stopping| stopping()) {
                            return None;
                        }
                        idle += 1;
                        if idle >= KEEPALIVE_EVERY {
                            let comment = Bytes::from_static(b": keepalive\n\n");
                            return Some((Ok(comment), (receiver, tick, 0, permit, stopping, false)));
                        }
                    }
                }
            }
        },
    );
    event_stream(events)
}

/// `GET /ui/api/audit/{seq}`: the record as the audit log holds it, while the console keeps it.
async fn audit_record(Shared(console): Shared<Arc<Console>>, request: Request) -> Response {
    let seq = request.uri().path().rsplit('/').next().and_then(|s| s.parse::<u64>().ok());
    let Some(seq) = seq else { return refusal(StatusCode::BAD_REQUEST, "a record is named by its sequence number") };
    let ring = console.activity.ring.lock().unwrap_or_else(PoisonError::into_inner);
    match ring.iter().find(|e| e.seq == seq) {
        Some(entry) => {
            let mut response = (StatusCode::OK, entry.record.to_string()).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        None => refusal(
            StatusCode::NOT_FOUND,
            format!("record {seq} is not among the {RING} the console keeps: see `mcptk audit export`"),
        ),
    }
}

/// `GET /ui/api/stats`: per tool (`server__tool`), the last buckets with calls, errors, p50 and
/// p99 latency; `*` sums every tool.
async fn stats(Shared(console): Shared<Arc<Console>>) -> Response {
    let now = epoch_secs();
    let series = console.activity.series.lock().unwrap_or_else(PoisonError::into_inner);
    let mut tools = Vec::new();
    let mut all: BTreeMap<u64, Bucket> = BTreeMap::new();
    for (tool, buckets) in &series.tools {
        let mut points = Vec::new();
        for bucket in buckets.iter().filter(|b| b.start + (BUCKETS as u64) * BUCKET_SECS > now) {
            points.push(bucket.point());
            all.entry(bucket.start).or_insert_with(|| Bucket::new(bucket.start)).merge(bucket);
        }
        if !points.is_empty() {
            tools.push(json!({ "tool": tool, "points": points }));
        }
    }
    let points: Vec<Value> = all.values().map(Bucket::point).collect();
    tools.insert(0, json!({ "tool": "*", "points": points }));
    json_response(
        StatusCode::OK,
        &json!({ "now": now, "bucket_secs": BUCKET_SECS, "buckets": BUCKETS, "tools": tools }),
    )
}

fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Recent records, their stream, and the charts' series.
struct Activity {
    ring: Mutex<VecDeque<Entry>>,
    events: broadcast::Sender<Value>,
    series: Mutex<Series>,
}

/// One record as the console keeps it.
struct Entry {
    seq: u64,
    /// What the activity list shows.
    summary: Value,
    /// The line as the log holds it (or, for a very long one, the record without its arguments).
    record: Arc<str>,
}

impl Activity {
    /// Takes a record the log made durable; `live` ones (not the backlog read at start) are
    /// streamed and counted.
    fn add(&self, line: &[u8], live: bool) {
        let Ok(record) = serde_json::from_slice::<AuditRecord>(line) else { return };
        let body = &record.body;
        let mut error = body.error.clone();
        if let Some(text) = &mut error
            && text.len() > 500
        {
            let cut = (0..=500).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        let summary = json!({
            "seq": record.seq, "time": record.time, "kind": body.kind, "principal": body.principal,
            "client": body.client, "server": body.server, "tool": body.tool, "decision": body.decision,
            "rule": body.rule, "outcome": body.outcome, "error": error, "duration_ms": body.duration_ms,
        });
        let kept: Arc<str> = if line.len() <= MAX_KEPT_LINE {
            Arc::from(String::from_utf8_lossy(line).as_ref())
        } else {
            let mut short = summary.clone();
            short["note"] = json!("arguments left out: the record is too long to show here; see `mcptk audit export`");
            short["hash"] = json!(record.hash);
            Arc::from(short.to_string())
        };
        if live && body.kind == "tool_call" {
            let failed = body.outcome != "ok";
            let key = format!("{}__{}", body.server, body.tool);
            self.series.lock().unwrap_or_else(PoisonError::into_inner).add(key, body.duration_ms, failed);
        }
        {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            if ring.back().is_some_and(|last| last.seq >= record.seq) {
                // A log reopened under the same path starts a new chain: start the list anew.
                ring.clear();
            }
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(Entry { seq: record.seq, summary: summary.clone(), record: kept });
        }
        if live {
            let _ = self.events.send(summary);
        }
    }
}

/// Per-tool buckets of calls, failures and a latency histogram.
#[derive(Default)]
struct Series {
    tools: BTreeMap<String, VecDeque<Bucket>>,
}

impl Series {
    fn add(&mut self, mut tool: String, duration_ms: f64, failed: bool) {
        let now = epoch_secs();
        let start = now - now % BUCKET_SECS;
        if !self.tools.contains_key(&tool) && self.tools.len() >= MAX_SERIES {
            // Make room from series with nothing recent, else count under `(other)`.
            let horizon = now.saturating_sub(BUCKETS as u64 * BUCKET_SECS);
            self.tools.retain(|_, buckets| buckets.back().is_some_and(|b| b.start >= horizon));
            if self.tools.len() >= MAX_SERIES {
                tool = "(other)".to_owned();
            }
        }
        let buckets = self.tools.entry(tool).or_default();
        if buckets.back().is_none_or(|b| b.start != start) {
            buckets.push_back(Bucket::new(start));
            while buckets.len() > BUCKETS {
                buckets.pop_front();
            }
        }
        if let Some(bucket) = buckets.back_mut() {
            bucket.add(duration_ms, failed);
        }
    }
}

/// Latency bins: bin `i` holds durations up to `FIRST_BIN_MS * 2^(i/4)` ms, so a percentile is
/// known within 19 %; the last bin holds everything longer (about 100 s and up).
const BINS: usize = 80;
const FIRST_BIN_MS: f64 = 0.01;

fn bin_upper(i: usize) -> f64 {
    FIRST_BIN_MS * 2f64.powf(i as f64 / 4.0)
}

/// One bucket of one series.
#[derive(Clone)]
struct Bucket {
    start: u64,
    calls: u64,
    errors: u64,
    bins: [u32; BINS],
}

impl Bucket {
    fn new(start: u64) -> Bucket {
        Bucket { start, calls: 0, errors: 0, bins: [0; BINS] }
    }

    fn add(&mut self, duration_ms: f64, failed: bool) {
        self.calls += 1;
        self.errors += u64::from(failed);
        let bin = (0..BINS).find(|&i| duration_ms <= bin_upper(i)).unwrap_or(BINS - 1);
        self.bins[bin] = self.bins[bin].saturating_add(1);
    }

    fn merge(&mut self, other: &Bucket) {
        self.calls += other.calls;
        self.errors += other.errors;
        for (mine, theirs) in self.bins.iter_mut().zip(other.bins) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The duration under which `fraction` of the calls finished (the bin's upper edge).
    fn percentile(&self, fraction: f64) -> Option<f64> {
        let total: u64 = self.bins.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.bins.iter().enumerate() {
            seen += u64::from(n);
            if seen >= wanted {
                return Some(bin_upper(i));
            }
        }
        None
    }

    fn point(&self) -> Value {
        let per_second = self.calls as f64 / BUCKET_SECS as f64;
        json!({
            "t": self.start, "calls": self.calls, "errors": self.errors, "rate": per_second,
            "p50": self.percentile(0.5), "p99": self.percentile(0.99),
        })
    }
}

/// Follows the audit log's live file (as `tail -F` does: a sealed segment is read to its end,
/// then the new live file from its start) until `activity` is dropped.
async fn follow(path: PathBuf, activity: Weak<Activity>) {
    let mut file: Option<(std::fs::File, (u64, u64))> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut first = true;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(activity) = activity.upgrade() else { return };
        if file.is_none() {
            let Ok(mut opened) = std::fs::File::open(&path) else { continue };
            let Some(id) = identity(&opened) else { continue };
            pending.clear();
            if first {
                // The records shown first: those at the end of the log.
                let len = opened.metadata().map_or(0, |m| m.len());
                let from = len.saturating_sub(BACKLOG_BYTES);
                if opened.seek(std::io::SeekFrom::Start(from)).is_err() {
                    continue;
                }
                skipping = from > 0;
                let mut backlog = Vec::new();
                if (&mut opened).take(BACKLOG_BYTES).read_to_end(&mut backlog).is_err() {
                    continue;
                }
                take_lines(&activity, &mut pending, &mut skipping, &backlog, false);
                first = false;
            }
            file = Some((opened, id));
        }
        let Some((open, id)) = &mut file else { continue };
        loop {
            match open.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => take_lines(&activity, &mut pending, &mut skipping, &chunk[..n], true),
            }
        }
        // Read to its end: if the path now names another file (the live file was sealed into a
        // segment), go on with that one from its start.
        let now = std::fs::metadata(&path).ok().and_then(|m| metadata_identity(&m));
        if now.is_some_and(|now| now != *id) {
            // Records written between the read above and the seal are in the old file: read it
            // to its end once more before leaving it.
            while let Ok(n @ 1..) = open.read(&mut chunk) {
                take_lines(&activity, &mut pending, &mut skipping, &chunk[..n], true);
            }
            file = None;
        }
    }
}

/// Feeds complete lines of `bytes` to `activity`; an unfinished line waits in `pending`.
fn take_lines(activity: &Activity, pending: &mut Vec<u8>, skipping: &mut bool, bytes: &[u8], live: bool) {
    let mut rest = bytes;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let (line, after) = rest.split_at(end);
        rest = &after[1..];
        if *skipping {
            *skipping = false;
            pending.clear();
            continue;
        }
        if pending.is_empty() {
            activity.add(line, live);
        } else {
            pending.extend_from_slice(line);
            activity.add(pending, live);
            pending.clear();
        }
    }
    if !*skipping {
        pending.extend_from_slice(rest);
        if pending.len() > MAX_PENDING {
            // A line this long is not read whole: skip to its end.
            pending.clear();
            *skipping = true;
        }
    }
}

#[cfg(unix)]
fn metadata_identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn metadata_identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    // Without inode numbers a new live file shows as one shorter than what was read.
    Some((0, metadata.created().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos() as u64))
}

fn identity(file: &std::fs::File) -> Option<(u64, u64)> {
    metadata_identity(&file.metadata().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram_within_a_bin() {
        let mut bucket = Bucket::new(0);
        for ms in 1..=100 {
            bucket.add(f64::from(ms), ms == 100);
        }
        let p50 = bucket.percentile(0.5).expect("p50");
        let p99 = bucket.percentile(0.99).expect("p99");
        assert!((50.0..=50.0 * 1.2).contains(&p50), "p50 {p50}");
        assert!((99.0..=99.0 * 1.2).contains(&p99), "p99 {p99}");
        assert_eq!((bucket.calls, bucket.errors), (100, 1));
        assert_eq!(Bucket::new(0).percentile(0.5), None);
    }

    /// A real audit log sealed into segments while it is followed: every record is seen once,
    /// in order, across the seals.
    #[tokio::test]
    async fn the_follower_reads_every_record_across_sealed_segments() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("audit.jsonl");
        let options = mcp_audit::AuditOptions { segment_bytes: 1500, fsync: false, ..Default::default() };
        let log = mcp_audit::AuditLog::open(&path, options).expect("opens");
        let (events, mut watched) = broadcast::channel(64);
        let activity = Arc::new(Activity { ring: Mutex::default(), events, series: Mutex::default() });
        let _follower = AbortOnDrop(tokio::spawn(follow(path.clone(), Arc::downgrade(&activity))));
        tokio::time::sleep(POLL * 2).await;
        for i in 0..30 {
            let record = mcp_audit::NewRecord {
                kind: "tool_call".into(),
                principal: "p".into(),
                server: "s".into(),
                tool: format!("tool{i}"),
                arguments: json!({ "i": i }),
                decision: "allow".into(),
                outcome: "ok".into(),
                ..Default::default()
            };
            log.append(record).await.expect("durable");
            // At most one seal between two reads of the follower (segments are 64 MiB by default).
            tokio::time::sleep(POLL / 2).await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while activity.ring.lock().expect("not poisoned").len() < 30 && std::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        let seqs: Vec<u64> = activity.ring.lock().expect("not poisoned").iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
        let files = std::fs::read_dir(dir.path()).expect("lists").count();
        assert!(files > 4, "the log was sealed into segments ({files} files)");
        let mut streamed = Vec::new();
        while let Ok(summary) = watched.try_recv() {
            streamed.push(summary["seq"].as_u64().expect("seq"));
        }
        assert_eq!(streamed, (1..=30).collect::<Vec<u64>>());
    }

    #[test]
    fn the_ring_keeps_the_latest_records_and_lines_split_across_reads_are_joined() {
        let (events, _) = broadcast::channel(4);
        let activity = Activity { ring: Mutex::default(), events, series: Mutex::default() };
        let mut text = String::new();
        for seq in 1..=(RING as u64 + 5) {
            let record = json!({
                "v": 2, "kind": "tool_call", "principal": "p", "server": "s", "tool": "t", "arguments": {},
                "arguments_digest": "d", "decision": "allow", "outcome": "ok", "duration_ms": 1.5,
                "trace_id": "x", "seq": seq, "time": "2026-01-01T00:00:00.000Z", "prev": "a", "hash": "b",
            });
            text.push_str(&record.to_string());
            text.push('\n');
        }
        let (mut pending, mut skipping) = (Vec::new(), false);
        let bytes = text.as_bytes();
        // Cut in the middle of a line.
        take_lines(&activity, &mut pending, &mut skipping, &bytes[..1000], true);
        take_lines(&activity, &mut pending, &mut skipping, &bytes[1000..], true);
        let ring = activity.ring.lock().expect("not poisoned");
        assert_eq!(ring.len(), RING);
        assert_eq!(ring.front().map(|e| e.seq), Some(6));
        assert_eq!(ring.back().map(|e| e.seq), Some(RING as u64 + 5));
        let series = activity.series.lock().expect("not poisoned");
        let calls: u64 = series.tools["s__t"].iter().map(|b| b.calls).sum();
        assert_eq!(calls, RING as u64 + 5);
    }
}
