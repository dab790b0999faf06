//! `mcptk serve --http`: both eras over Streamable HTTP, and the transport's defences.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mcptk;

pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn serve(args: &[&str], token: Option<&str>) -> Served {
    serve_env(args, &token.map(|t| ("MCPTK_HTTP_TOKEN", t)).into_iter().collect::<Vec<_>>()).await
}

/// `mcptk ARGS --http ADDR` with `env` set (no token variables besides those), listening.
pub(crate) async fn serve_env(args: &[&str], env: &[(&str, &str)]) -> Served {
    // These tests build reqwest clients of their own; rustls needs its provider (ring) first.
    mcp_core::transport::install_crypto_provider();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(mcptk());
    command.args(args).args(["--http", &addr]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    command.env_remove("MCPTK_HTTP_TOKEN").env_remove("MCPTK_HTTP_TOKENS");
    command.envs(env.iter().copied());
    let served = Served {
        child: command.spawn().expect("starts"),
        url: format!("http://{addr}/mcp"),
        base: format!("http://{addr}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served
}

/// npm's `server-everything` over HTTP (`mode` is `streamableHttp` or the old `sse`), listening.
async fn everything_http(mode: &str) -> (Child, u16) {
    let port = free_port();
    let bin = crate::support::installed("tests/node/node_modules/.bin/mcp-server-everything");
    let child = Command::new(bin)
        .arg(mode)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "server-everything ({mode}) did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, port)
}

fn modern(method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

pub(crate) fn post(url: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
}

/// A POST whose client only accepts a JSON answer.
pub(crate) fn post_json(url: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_string())
}

#[tokio::test]
async fn the_modern_era_streams_progress_over_sse_and_checks_headers() {
    let s = serve(&["serve", "builtin"], None).await;
    let body = modern(
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 3, "delay_ms": 10}, "_meta": {"progressToken": "p1"}}),
    );
    let response = post(&s.url, &body)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "slow")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.expect("body");
    let events: Vec<Value> =
        text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect();
    let progress: Vec<i64> = events
        .iter()
        .filter(|e| e["method"] == "notifications/progress")
        .filter_map(|e| e["params"]["progress"].as_i64())
        .collect();
    assert_eq!(progress, [1, 2, 3]);
    let last = events.last().expect("events");
    assert_eq!(last["result"]["content"][0]["text"], "finished 3 steps");
    assert_eq!(last["result"]["resultType"], "complete");

    // Headers that disagree with the body are refused with -32020.
    let list = modern("tools/list", json!({}));
    for (version, method) in [("2025-11-25", "tools/list"), ("2026-07-28", "tools/call")] {
        let request = post(&s.url, &list).header("mcp-protocol-version", version).header("mcp-method", method);
        let response = request.send().await.expect("answers");
        let header = format!("{version} {method}");
        assert_eq!(response.status(), 400, "{header}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], -32020, "{header}: {error}");
    }
    let unversioned = post(&s.url, &list).send().await.expect("answers");
    assert_eq!(unversioned.status(), 400);
}

#[tokio::test]
async fn handshake_sessions_start_expire_and_end() {
    let s = serve(&["serve", "builtin", "--session-ttl", "1"], None).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = post(&s.url, &init).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    let result: Value = response.json().await.expect("json");
    assert_eq!(result["result"]["protocolVersion"], "2025-06-18");

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}});
    let ok = post_json(&s.url, &call).header("mcp-session-id", &session).send().await.expect("answers");
    let ok: Value = ok.json().await.expect("json");
    assert_eq!(ok["result"]["structuredContent"]["sum"], 5);

    let missing = post(&s.url, &call).send().await.expect("answers");
    assert_eq!(missing.status(), 400, "no session id");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = post(&s.url, &call).header("mcp-session-id", &session).send().await.expect("answers");
    assert_eq!(expired.status(), 404, "an expired session is gone");

    let response = post(&s.url, &init).send().await.expect("answers");
    let session = response.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    let deleted =
        reqwest::Client::new().delete(&s.url).header("mcp-session-id", &session).send().await.expect("answers");
    assert_eq!(deleted.status(), 204);
    let after = post(&s.url, &call).header("mcp-session-id", &session).send().await.expect("answers");
    assert_eq!(after.status(), 404);
}

#[tokio::test]
async fn foreign_origins_missing_tokens_and_huge_bodies_are_refused() {
    let s = serve(&["serve", "builtin"], Some("s3cret-token-value")).await;
    let ping = modern("tools/list", json!({}));
    let send = |request: reqwest::RequestBuilder| async move {
        request
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .send()
            .await
            .expect("answers")
            .status()
            .as_u16()
    };
    assert_eq!(send(post(&s.url, &ping)).await, 401, "no token");
    assert_eq!(send(post(&s.url, &ping).bearer_auth("wrong")).await, 401, "wrong token");
    assert_eq!(send(post(&s.url, &ping).bearer_auth("s3cret-token-value")).await, 200, "right token");
    let foreign = post(&s.url, &ping).bearer_auth("s3cret-token-value").header("origin", "http://evil.example");
    assert_eq!(send(foreign).await, 403, "a foreign origin (DNS rebinding)");
    let local = post(&s.url, &ping).bearer_auth("s3cret-token-value").header("origin", &s.base);
    assert_eq!(send(local).await, 200, "a loopback origin");
    let huge = reqwest::Client::new()
        .post(&s.url)
        .bearer_auth("s3cret-token-value")
        .header("content-type", "application/json")
        .body(vec![b' '; 17 * 1024 * 1024])
        .send()
        .await
        .expect("answers");
    assert_eq!(huge.status(), 413, "past the default --max-message-bytes (16 MiB)");
}

/// `--max-message-bytes` bounds HTTP request bodies as it bounds stdio lines: a 5 MiB call (past
/// the transport's own 4 MiB default) is served under a 6 MiB limit, and a 7 MiB one is refused
/// with 413 naming that limit.
#[tokio::test]
async fn max_message_bytes_bounds_http_bodies() {
    let s = serve(&["serve", "builtin", "--max-message-bytes", "6291456"], None).await;
    let call = |text: String| {
        let body = modern("tools/call", json!({"name": "echo", "arguments": {"text": text}}));
        post_json(&s.url, &body)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .send()
    };
    let within = call("a".repeat(5 * 1024 * 1024)).await.expect("answers");
    assert_eq!(within.status(), 200);
    let answer: Value = within.json().await.expect("json");
    let echoed = answer["result"]["content"][0]["text"].as_str().map(str::len);
    assert_eq!(echoed, Some(5 * 1024 * 1024), "the whole text comes back");
    let past = call("a".repeat(7 * 1024 * 1024)).await.expect("answers");
    assert_eq!(past.status(), 413);
    let refusal: Value = past.json().await.expect("json");
    assert!(refusal["error"]["message"].as_str().is_some_and(|m| m.contains("6291456 bytes")), "{refusal}");
}

/// The TypeScript SDK's client, whose first SSE answer to a call is cut after its first message
/// (by a proxy in its `fetch`, as an idle-timeout proxy would): the call is not cancelled, the
/// client resumes the stream with a GET carrying the Last-Event-ID it saw (served beside its
/// own GET stream), gets the remaining progress and the answer, and its streams do not then
/// displace each other (no GET in four idle seconds); the session still serves calls.
#[tokio::test]
async fn the_typescript_sdk_resumes_a_cut_call_stream_without_cancelling_it_or_looping() {
    crate::support::installed("tests/node/node_modules/@modelcontextprotocol/sdk/package.json");
    let script = crate::support::installed("tests/node/ts_http_resume.mjs");
    let s = serve(&["serve", "builtin"], None).await;
    let url = s.url.clone();
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        crate::support::run_within(Command::new("node").arg(script).arg(url), Duration::from_secs(60))
    })
    .await
    .expect("joins");
    assert!(status.is_some_and(|s| s.success()), "{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(seen["errors"], json!([]), "{seen}");
    assert_eq!(seen["protocol_version"], "2025-11-25", "{seen}");
    assert_eq!(seen["cuts"], 1, "{seen}");
    assert_eq!(seen["result"], "finished 4 steps", "{seen}");
    assert_eq!(seen["progress"], json!([1, 2, 3, 4]), "every progress notification arrives: {seen}");
    let gets = seen["gets"].as_array().cloned().unwrap_or_default();
    assert!(gets.iter().all(|g| g["status"] == 200), "{seen}");
    let resumed = gets.iter().filter(|g| g["last_event_id"].is_string()).count();
    assert_eq!((gets.len(), resumed), (2, 1), "its own GET stream and one resume: {seen}");
    assert_eq!(seen["gets_after_idle"], 0, "the client's streams displace each other: {seen}");
    assert_eq!(seen["echo"], "still here", "{seen}");
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let out = Command::new(mcptk())
        .args(["serve", "builtin", "--http", &format!("0.0.0.0:{}", free_port())])
        .env_remove("MCPTK_HTTP_TOKEN")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without authentication"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_gateway_serves_prometheus_metrics() {
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("gateway.json");
    let audit = dir.path().join("audit.jsonl");
    std::fs::write(&config, json!({"native": {"builtin": true}, "audit": {"path": audit}}).to_string()).expect("write");
    let s = serve(&["serve", "--config", &config.display().to_string()], None).await;
    let call = modern("tools/call", json!({"name": "builtin__add", "arguments": {"a": 1, "b": 2}}));
    let response = post_json(&s.url, &call)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "builtin__add")
        .send()
        .await
        .expect("answers");
    let result: Value = response.json().await.expect("json");
    assert_eq!(result["result"]["structuredContent"]["sum"], 3, "{result}");
    let metrics = reqwest::get(format!("{}/metrics", s.base)).await.expect("answers").text().await.expect("text");
    assert!(metrics.contains("mcp_tool_calls_total{server=\"builtin\",tool=\"add\",outcome=\"ok\"} 1"), "{metrics}");
    // A histogram, which `histogram_quantile` reads and replicas add up, with buckets in seconds.
    assert!(metrics.contains("# TYPE mcp_tool_duration_seconds histogram"), "{metrics}");
    assert!(metrics.contains("mcp_tool_duration_seconds_bucket{server=\"builtin\",tool=\"add\",le=\"0.005\"}"));
    assert!(
        metrics.contains("mcp_tool_duration_seconds_bucket{server=\"builtin\",tool=\"add\",le=\"+Inf\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn our_http_client_speaks_both_eras_and_streams_progress() {
    use futures_util::StreamExt;
    use mcp_core::config::HttpServer;
    use mcp_core::protocol::Era;
    use mcp_core::{CallEvent, Client, ClientOptions};

    async fn progress_of(client: &Client, tool: &str, arguments: Value) -> (Vec<f64>, String) {
        let mut stream = client.call_tool_stream(tool, arguments.as_object().cloned().unwrap_or_default());
        let (mut seen, mut text) = (Vec::new(), String::new());
        while let Some(event) = stream.next().await {
            match event.expect("no protocol error") {
                CallEvent::Progress(p) => seen.push(p.value()),
                CallEvent::Result(r) => text = r.text_content(),
                _ => {}
            }
        }
        (seen, text)
    }

    // Our server: the stateless era.
    let ours = serve(&["serve", "builtin"], None).await;
    let server = HttpServer { url: ours.url.clone(), headers: Default::default(), oauth: None, ..Default::default() };
    let client = Client::connect_http("ours", &server, ClientOptions::default()).await.expect("connects");
    assert_eq!(client.era(), Era::Modern);
    let (seen, text) = progress_of(&client, "slow", json!({"steps": 3, "delay_ms": 10})).await;
    assert_eq!((seen, text.as_str()), (vec![1.0, 2.0, 3.0], "finished 3 steps"));
    assert_eq!(client.list_tools().await.expect("lists").len(), 3);
    client.close().await.expect("closes");

    // npm's reference server over Streamable HTTP: the handshake era, with a session.
    let (mut everything, port) = everything_http("streamableHttp").await;
    let server = HttpServer {
        url: format!("http://localhost:{port}/mcp"),
        headers: Default::default(),
        oauth: None,
        ..Default::default()
    };
    let client = Client::connect_http("everything", &server, ClientOptions::default()).await.expect("connects");
    assert_eq!(client.era(), Era::Handshake);
    let echo = client
        .call_tool("echo", json!({"message": "over http"}).as_object().cloned().unwrap_or_default())
        .await
        .expect("echo");
    assert_eq!(echo.text_content(), "Echo: over http");
    let (seen, text) = progress_of(&client, "trigger-long-running-operation", json!({"duration": 1, "steps": 2})).await;
    assert_eq!(seen, [1.0, 2.0]);
    assert!(text.contains("Long running operation completed"), "{text}");
    assert!(!client.list_resources().await.expect("lists").is_empty());
    client.close().await.expect("closes");
    let _ = everything.kill();
    let _ = everything.wait();
}

#[tokio::test]
async fn the_old_http_sse_transport_is_used_for_an_old_style_server() {
    use futures_util::StreamExt;
    use mcp_core::config::HttpServer;
    use mcp_core::protocol::Era;
    use mcp_core::{CallEvent, Client, ClientOptions};

    let (mut old, port) = everything_http("sse").await;
    let server = HttpServer {
        url: format!("http://localhost:{port}/sse"),
        headers: Default::default(),
        oauth: None,
        ..Default::default()
    };
    let client = Client::connect_http("old", &server, ClientOptions::default()).await.expect("connects over HTTP+SSE");
    assert_eq!(client.era(), Era::Handshake);
    let echo = client
        .call_tool("echo", json!({"message": "old transport"}).as_object().cloned().unwrap_or_default())
        .await
        .expect("echo");
    assert_eq!(echo.text_content(), "Echo: old transport");
    let mut stream = client.call_tool_stream(
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 2}).as_object().cloned().unwrap_or_default(),
    );
    let mut progress = 0;
    let mut done = false;
    while let Some(event) = stream.next().await {
        match event.expect("no protocol error") {
            CallEvent::Progress(_) => progress += 1,
            CallEvent::Result(r) => done = r.text_content().contains("completed"),
            _ => {}
        }
    }
    assert_eq!((progress, done), (2, true));
    client.close().await.expect("closes");
    let _ = old.kill();
    let _ = old.wait();
}

#[tokio::test]
async fn a_dropped_session_stream_is_resumed_with_last_event_id() {
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("gateway.json");
    let fixture = crate::support::root().join("tests/fixtures/misbehaving_server.py").display().to_string();
    std::fs::write(
        &config,
        json!({"mcpServers": {"growing": {"command": "python3", "args": [fixture, "grow"]}}, "audit": {"path": dir.path().join("audit.jsonl")}}).to_string(),
    )
    .expect("write");
    let s = serve(&["serve", "--config", &config.display().to_string()], None).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = post(&s.url, &init).send().await.expect("answers");
    let session = response.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();

    // Open the session's stream, read the event that primes it (an id, no data), then drop it:
    // the client has gone away for a while.
    let mut first = reqwest::Client::new()
        .get(&s.url)
        .header("mcp-session-id", &session)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(first.status(), 200);
    let mut primed = String::new();
    while !primed.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), first.chunk()).await.expect("primed in time");
        primed.push_str(&String::from_utf8_lossy(&chunk.expect("reads").expect("the stream is open")));
    }
    let last_seen = primed.lines().find_map(|l| l.strip_prefix("id: ")).expect("an event id").to_owned();
    drop(first);

    // While it is away, the upstream adds a tool, which the gateway announces on the stream.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "growing__work", "arguments": {}}});
    post_json(&s.url, &call).header("mcp-session-id", &session).send().await.expect("answers");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Reconnecting with the last event seen replays what was missed.
    let resumed = reqwest::Client::new()
        .get(&s.url)
        .header("mcp-session-id", &session)
        .header("accept", "text/event-stream")
        .header("last-event-id", &last_seen)
        .send()
        .await
        .expect("stream");
    let mut body = resumed.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    use futures_util::StreamExt;
    while !text.contains("notifications/tools/list_changed") {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, body.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("the missed event was not replayed: {text:?}"),
        }
    }
    // On the same stream (the GET stream, `TAG-0-EVENT`), after the one seen.
    let (tag, rest) = last_seen.split_once('-').expect("TAG-STREAM-EVENT");
    let seen: u64 = rest.strip_prefix("0-").and_then(|n| n.parse().ok()).expect("the GET stream's event");
    let replayed = text.lines().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_owned();
    let event: u64 = replayed.strip_prefix(&format!("{tag}-0-")).and_then(|n| n.parse().ok()).expect("same stream");
    assert!(event > seen, "{text}");
}

#[tokio::test]
async fn each_token_is_its_own_principal_for_the_policy() {
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("gateway.json");
    let audit = dir.path().join("audit.jsonl");
    let policy =
        json!({"rules": [{"name": "alice-adds", "effect": "allow", "principals": ["alice"], "tools": ["add"]}]});
    std::fs::write(
        &config,
        json!({"native": {"builtin": true}, "audit": {"path": audit}, "policy": policy}).to_string(),
    )
    .expect("write");
    mcp_core::transport::install_crypto_provider();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(mcptk())
        .args(["serve", "--config", &config.display().to_string(), "--http", &addr])
        .env_remove("MCPTK_HTTP_TOKEN")
        // Alice's token is being rotated: the old and the new one both stand for her. The
        // trailing comma, as a templated secret often has, is ignored.
        .env("MCPTK_HTTP_TOKENS", "alice=token-of-alice-1,bob=token-of-bob-22,alice=token-of-alice-new,")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("http://{addr}/mcp");
    let call = modern("tools/call", json!({"name": "builtin__add", "arguments": {"a": 1, "b": 2}}));
    let as_caller = |token: &'static str| {
        post_json(&url, &call)
            .bearer_auth(token)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "builtin__add")
            .send()
    };
    let alice: Value = as_caller("token-of-alice-1").await.expect("answers").json().await.expect("json");
    assert_eq!(alice["result"]["structuredContent"]["sum"], 3, "{alice}");
    let bob: Value = as_caller("token-of-bob-22").await.expect("answers").json().await.expect("json");
    assert_eq!(bob["result"]["isError"], true, "{bob}");
    let rotated: Value = as_caller("token-of-alice-new").await.expect("answers").json().await.expect("json");
    assert_eq!(rotated["result"]["structuredContent"]["sum"], 3, "{rotated}");
    let _ = child.kill();
    let _ = child.wait();
    let principals: Vec<String> = std::fs::read_to_string(&audit)
        .expect("audit")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| format!("{}:{}", r["principal"].as_str().unwrap_or(""), r["decision"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(principals, ["alice:allow", "bob:deny", "alice:allow"]);
}

/// A gateway with the demo tools, two callers (alice and bob) and its audit log in `dir`.
async fn two_principal_gateway(dir: &std::path::Path, extra: &[&str]) -> Served {
    let config = dir.join("gateway.json");
    let audit = dir.join("audit.jsonl");
    std::fs::write(&config, json!({"native": {"builtin": true}, "audit": {"path": audit}}).to_string()).expect("write");
    let config = config.display().to_string();
    let mut args = vec!["serve", "--config", config.as_str()];
    args.extend_from_slice(extra);
    serve_env(&args, &[("MCPTK_HTTP_TOKENS", "alice=token-of-alice-1,bob=token-of-bob-22")]).await
}

pub(crate) fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

#[tokio::test]
async fn a_session_serves_only_the_principal_that_opened_it() {
    let dir = tempfile::tempdir().expect("temp");
    let s = two_principal_gateway(dir.path(), &[]).await;
    let opened = post(&s.url, &initialize()).bearer_auth("token-of-alice-1").send().await.expect("answers");
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    assert_eq!(session.len(), 32, "128 random bits in hex");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "builtin__add", "arguments": {"a": 2, "b": 3}}});

    // Bob holds a valid token but not this session: POST, GET and DELETE are refused.
    let stolen = post_json(&s.url, &call).bearer_auth("token-of-bob-22").header("mcp-session-id", &session);
    let stolen = stolen.send().await.expect("answers");
    assert_eq!(stolen.status(), 403);
    let text = stolen.text().await.expect("text");
    assert!(text.contains("opened by another principal") && text.contains(r#""id":2"#), "{text}");
    let client = reqwest::Client::new();
    let get = client.get(&s.url).bearer_auth("token-of-bob-22").header("mcp-session-id", &session);
    assert_eq!(get.header("accept", "text/event-stream").send().await.expect("answers").status(), 403);
    let delete = client.delete(&s.url).bearer_auth("token-of-bob-22").header("mcp-session-id", &session);
    assert_eq!(delete.send().await.expect("answers").status(), 403);

    // Alice's session survived, and her calls are hers.
    let mine = post_json(&s.url, &call).bearer_auth("token-of-alice-1").header("mcp-session-id", &session);
    let mine: Value = mine.send().await.expect("answers").json().await.expect("json");
    assert_eq!(mine["result"]["structuredContent"]["sum"], 5, "{mine}");
    drop(s);
    let principals: Vec<String> = std::fs::read_to_string(dir.path().join("audit.jsonl"))
        .expect("audit")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["kind"] == "tool_call")
        .map(|r| r["principal"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!principals.is_empty() && principals.iter().all(|p| p == "alice"), "{principals:?}");
}

#[tokio::test]
async fn metrics_are_behind_the_same_token_and_host_checks() {
    let dir = tempfile::tempdir().expect("temp");
    let s = two_principal_gateway(dir.path(), &[]).await;
    let metrics = format!("{}/metrics", s.base);
    let client = reqwest::Client::new();
    assert_eq!(client.get(&metrics).send().await.expect("answers").status(), 401, "no token");
    let wrong = client.get(&metrics).bearer_auth("not-a-token");
    assert_eq!(wrong.send().await.expect("answers").status(), 401, "a wrong token");
    let rebound = client.get(&metrics).bearer_auth("token-of-bob-22").header("host", "evil.example");
    assert_eq!(rebound.send().await.expect("answers").status(), 403, "a foreign Host");
    let ok = client.get(&metrics).bearer_auth("token-of-bob-22").send().await.expect("answers");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn sessions_are_capped_and_the_longest_idle_one_goes_first() {
    let dir = tempfile::tempdir().expect("temp");
    let s = two_principal_gateway(dir.path(), &["--max-sessions", "2"]).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let opened = post(&s.url, &initialize()).bearer_auth("token-of-alice-1").send().await.expect("answers");
        sessions.push(opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}});
    let status = |session: String| {
        let request = post_json(&s.url, &list).bearer_auth("token-of-alice-1").header("mcp-session-id", session);
        async move { request.send().await.expect("answers").status().as_u16() }
    };
    assert_eq!(status(sessions[0].clone()).await, 404, "the oldest session was ended");
    assert_eq!(status(sessions[1].clone()).await, 200);
    assert_eq!(status(sessions[2].clone()).await, 200);
}

#[tokio::test]
async fn the_gateway_reports_itself_unhealthy_and_refuses_calls_when_its_audit_log_is_gone() {
    let dir = tempfile::tempdir().expect("temp");
    let s = two_principal_gateway(dir.path(), &[]).await;
    let health = || reqwest::Client::new().get(format!("{}/healthz", s.base)).bearer_auth("token-of-alice-1").send();
    assert_eq!(health().await.expect("answers").status(), 200);
    let call = modern("tools/call", json!({"name": "builtin__add", "arguments": {"a": 1, "b": 2}}));
    let send_call = || {
        post_json(&s.url, &call)
            .bearer_auth("token-of-alice-1")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "builtin__add")
            .send()
    };
    let ok: Value = send_call().await.expect("answers").json().await.expect("json");
    assert_eq!(ok["result"]["structuredContent"]["sum"], 3, "{ok}");

    std::fs::remove_file(dir.path().join("audit.jsonl")).expect("the log is removed under the gateway");
    let unhealthy = health().await.expect("answers");
    assert_eq!(unhealthy.status(), 503);
    assert!(unhealthy.text().await.expect("text").contains("audit log"));
    let refused: Value = send_call().await.expect("answers").json().await.expect("json");
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(refused["result"]["content"][0]["text"].as_str().is_some_and(|t| t.contains("audit")), "{refused}");
}

/// A task belongs to the principal whose call made it: another token holder who learns its id
/// cannot read its result, answer it or cancel it (the task is unknown to them), while its owner
/// can.
#[tokio::test]
async fn a_task_is_bound_to_the_principal_that_made_it() {
    let served =
        serve_env(&["serve", "builtin"], &[("MCPTK_HTTP_TOKENS", "alice=token-of-alice-1,bob=token-of-bob-22")]).await;
    let with_tasks = |method: &str, params: Value| {
        let mut request = modern(method, params);
        request["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
            json!({"extensions": {mcp_core::tasks::EXTENSION: {}}});
        request
    };
    let send = |token: &'static str, request: Value| {
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        // The name header mirrors the tool's name (tools/call) or the task's id (tasks/*).
        let name = request["params"]["name"].as_str().or(request["params"]["taskId"].as_str()).map(str::to_owned);
        let url = served.url.clone();
        async move {
            let mut post = post_json(&url, &request)
                .bearer_auth(token)
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", method);
            if let Some(name) = name {
                post = post.header("mcp-name", name);
            }
            let answer = post.send().await.expect("answers");
            answer.json::<Value>().await.expect("json")
        }
    };
    let call = with_tasks("tools/call", json!({"name": "slow", "arguments": {"steps": 100, "delay_ms": 100}}));
    let created = send("token-of-alice-1", call).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"].as_str().expect("a task id").to_owned();

    for method in ["tasks/get", "tasks/cancel"] {
        let refused = send("token-of-bob-22", with_tasks(method, json!({"taskId": id}))).await;
        assert_eq!(refused["error"]["code"], -32602, "{method} by bob: {refused}");
        assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("unknown task")), "{refused}");
    }
    let update = with_tasks("tasks/update", json!({"taskId": id, "inputResponses": {}}));
    let refused = send("token-of-bob-22", update).await;
    assert_eq!(refused["error"]["code"], -32602, "tasks/update by bob: {refused}");

    let own = send("token-of-alice-1", with_tasks("tasks/get", json!({"taskId": id}))).await;
    assert_eq!(own["result"]["status"], "working", "bob's attempts left it running: {own}");
    let cancelled = send("token-of-alice-1", with_tasks("tasks/cancel", json!({"taskId": id}))).await;
    assert!(cancelled.get("result").is_some(), "{cancelled}");
    let own = send("token-of-alice-1", with_tasks("tasks/get", json!({"taskId": id}))).await;
    assert_eq!(own["result"]["status"], "cancelled", "{own}");
}

/// `serve --http` closes a connection whose headers never finish after `--header-timeout`, while
/// `/healthz` keeps answering on a fresh connection; `--max-connections` is taken.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve(&["serve", "builtin", "--header-timeout", "1", "--max-connections", "64"], None).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connects");
        stream.write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ").await.expect("writes");
        slow.push(stream);
    }
    let health = reqwest::get(format!("{}/healthz", s.base)).await.expect("answers");
    assert_eq!(health.status(), 200);
    for mut stream in slow {
        // Safety net only: the server closes it after about a second.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a connection with unfinished headers was still open after 30 s");
    }
}

/// A client that goes away while its call runs through the gateway cancels it all the way: the
/// upstream server is sent `notifications/cancelled` for it, and the audit log records the call
/// as cancelled, not as still running or as done.
#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().expect("temp");
    let (config, log, audit) =
        (dir.path().join("gateway.json"), dir.path().join("upstream.log"), dir.path().join("audit.jsonl"));
    let fixture = crate::support::root().join("tests/fixtures/misbehaving_server.py").display().to_string();
    let upstream = json!({"command": "python3", "args": [fixture, "hang", log]});
    std::fs::write(&config, json!({"mcpServers": {"stuck": upstream}, "audit": {"path": audit}}).to_string())
        .expect("write");
    let s = serve(&["serve", "--config", &config.display().to_string()], None).await;
    let body = modern("tools/call", json!({"name": "stuck__work", "arguments": {}})).to_string();
    let address = s.url.trim_start_matches("http://").trim_end_matches("/mcp").to_owned();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\naccept: application/json\r\n\
         mcp-protocol-version: 2026-07-28\r\nmcp-method: tools/call\r\nmcp-name: stuck__work\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let upstream_saw = |what: &str| std::fs::read_to_string(&log).unwrap_or_default().contains(what);
    let until = |done: &dyn Fn() -> bool, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("sends");
    until(&|| upstream_saw("\"tools/call\""), "the call did not reach the upstream server");
    drop(stream);
    until(&|| upstream_saw("notifications/cancelled"), "the upstream server was not told of the cancellation");
    let records = || -> Vec<Value> {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|r: &Value| r["tool"] == "work")
            .collect()
    };
    until(&|| !records().is_empty(), "the cancelled call was not audited");
    assert_eq!(records()[0]["outcome"], "cancelled", "{:?}", records());
}

/// Two hosts on this machine: a network namespace joined to this one by a veth pair, removed
/// when dropped. Needs root (CI runs as root) and Debian's iproute2 (`tests/services.sh`).
struct TwoHosts {
    name: String,
    link: String,
    /// This side's address, and the namespace's.
    here: String,
    there: String,
}

impl TwoHosts {
    fn new() -> TwoHosts {
        let pid = std::process::id();
        let (name, link) = (format!("mcptk-ut-{pid}"), format!("mut{}h", pid % 100_000));
        // A /30 of 10.0.0.0/8 of this process's own (pids are below 2^22).
        let net = (pid & 0x3f_ffff) << 2;
        let address = |host: u32| format!("10.{}.{}.{}", (net >> 16) & 0xff, (net >> 8) & 0xff, (net & 0xff) + host);
        let hosts = TwoHosts { name, link, here: address(1), there: address(2) };
        let peer = format!("mut{}n", pid % 100_000);
        let ns = ["netns", "exec", hosts.name.as_str(), "ip"];
        for step in [
            vec!["netns", "add", hosts.name.as_str()],
            vec!["link", "add", hosts.link.as_str(), "type", "veth", "peer", "name", peer.as_str()],
            vec!["link", "set", peer.as_str(), "netns", hosts.name.as_str()],
            vec!["addr", "add", &format!("{}/30", hosts.here), "dev", hosts.link.as_str()],
            vec!["link", "set", hosts.link.as_str(), "up"],
            [&ns[..], &["addr", "add", &format!("{}/30", hosts.there), "dev", peer.as_str()]].concat(),
            [&ns[..], &["link", "set", peer.as_str(), "up"]].concat(),
        ] {
            let out = Command::new("ip").args(&step).output().expect("iproute2's `ip` runs");
            assert!(out.status.success(), "ip {step:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        hosts
    }

    /// Cuts the wire: nothing passes between the hosts any more, and nobody is told.
    fn cut(&self) {
        let out = Command::new("ip").args(["link", "set", &self.link, "down"]).output().expect("ip runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
        let _ = Command::new("ip").args(["link", "del", &self.link]).output();
    }
}

/// A client whose network vanished while it read its session's GET stream (a laptop that slept)
/// holds that stream only until what the server sent on it goes unacknowledged for 30 s: then
/// the client's new GET is served. It was refused (409) until TCP's retransmissions gave up,
/// about 15 minutes.
#[tokio::test]
async fn a_get_stream_whose_client_vanished_is_given_up_and_a_new_get_is_served() {
    use std::io::BufRead as _;
    let hosts = TwoHosts::new();
    let port = free_port();
    let token = "the-test-token-for-vanishing-clients";
    let mut command = Command::new(mcptk());
    command.args(["serve", "builtin", "--http", &format!("0.0.0.0:{port}")]);
    command.env("MCPTK_HTTP_TOKEN", token).env_remove("MCPTK_HTTP_TOKENS");
    let _served = Served {
        child: command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starts"),
        url: String::new(),
        base: String::new(),
    };
    let url = format!("http://127.0.0.1:{port}/mcp");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mcp_core::transport::install_crypto_provider();
    let bearer = format!("Bearer {token}");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = post(&url, &init).header("authorization", &bearer).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    let get = || {
        reqwest::Client::new()
            .get(&url)
            .header("authorization", &bearer)
            .header("mcp-session-id", &session)
            .header("accept", "text/event-stream")
            .send()
    };

    // The session's GET stream, read from the other host.
    let far = format!("http://{}:{port}/mcp", hosts.here);
    let mut reader = Served {
        child: Command::new("ip")
            .args(["netns", "exec", &hosts.name, "curl", "-sN", "-D", "-", &far])
            .args(["-H", &format!("authorization: {bearer}"), "-H", &format!("mcp-session-id: {session}")])
            .args(["-H", "accept: text/event-stream"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl runs in the other host"),
        url: String::new(),
        base: String::new(),
    };
    let mut lines = std::io::BufReader::new(reader.child.stdout.take().expect("stdout")).lines();
    let status = lines.next().expect("an answer").expect("text");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(get().await.expect("answers").status(), 409, "a live reader keeps its stream");

    hosts.cut();
    let cut = Instant::now();
    // The keep-alive comment after the cut (within 15 s) goes unacknowledged for 30 s.
    loop {
        let status = get().await.expect("answers").status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 409);
        assert!(cut.elapsed() < Duration::from_secs(120), "the vanished reader still holds the stream");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(reader);
    drop(hosts);
}

/// `MCPTK_HTTP_TOKENS` entries that do not read as `principal=token` (an empty entry included,
/// other than one trailing comma) and a token given twice stop the start (a configuration error,
/// exit 3) before anything listens, naming the entry by its position and never showing a token:
/// skipped, the first would leave the endpoint open, and the second would hand a caller another
/// principal. (A principal given twice is allowed, for rotation: see
/// `each_token_is_its_own_principal_for_the_policy`.)
#[test]
fn token_lists_that_do_not_read_stop_the_start_without_showing_a_token() {
    let dir = tempfile::tempdir().expect("temp");
    let secrets = ["tok-alice-secret-0001", "tok-bob-secret-0002", "tok-shared-secret-0003"];
    for (single, list, said) in [
        (None, "tok-alice-secret-0001", "MCPTK_HTTP_TOKENS entry 1 (of 1) has no `=`"),
        (None, "alice=tok-alice-secret-0001,=tok-bob-secret-0002", "entry 2 (of 2) has an empty principal"),
        (None, "alice=tok-alice-secret-0001, bob = ", "entry 2 (of 2) (principal `bob`) has an empty token"),
        (None, "alice=tok-alice-secret-0001,,bob=tok-bob-secret-0002", "entry 2 (of 3) is empty"),
        // One trailing comma is ignored, not two.
        (None, "alice=tok-alice-secret-0001,,", "entry 2 (of 2) is empty"),
        (
            None,
            "alice=tok-shared-secret-0003,bob=tok-shared-secret-0003",
            "entry 2 (of 2) (principal `bob`) gives the same token as MCPTK_HTTP_TOKENS entry 1 (of 2) (principal `alice`)",
        ),
        (
            Some("tok-shared-secret-0003"),
            "admin=tok-shared-secret-0003",
            "entry 1 (of 1) (principal `admin`) gives the same token as MCPTK_HTTP_TOKEN (principal `http`)",
        ),
    ] {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(mcptk());
        command.args(["serve", "--http", &addr]).current_dir(dir.path()).env_remove("MCPTK_HTTP_TOKEN");
        command.env("MCPTK_HTTP_TOKENS", list).env("MCPTK_LOG", "warn");
        if let Some(token) = single {
            command.env("MCPTK_HTTP_TOKEN", token);
        }
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("waits") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the gateway started with MCPTK_HTTP_TOKENS={list:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out).expect("reads");
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut out).expect("reads");
        assert_eq!(status.code(), Some(3), "a configuration error: {out}");
        assert!(out.contains(said), "{said:?} in {out}");
        for secret in secrets {
            assert!(!out.contains(secret), "the output shows a token: {out}");
        }
    }
}
