//! The endpoint's own paths, over a real socket: answers a request gets in its first poll and
//! after it had to wait, a handler that panics, and admission before the body is read.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{HttpOptions, serve};
use crate::protocol::{Implementation, JsonObject};
use crate::{Registry, Server, ToolContext, ToolError, tool};

/// Serves three tools (`echo`, `wait`, which answers after a pause, and `boom`, which panics)
/// on a free loopback port; returns the port.
async fn start(options: HttpOptions) -> u16 {
    let mut registry = Registry::new();
    registry
        .tool(tool("echo", "Echoes `text`.", |a: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(a.get("text").and_then(Value::as_str).unwrap_or_default().to_owned())
        }))
        .tool(tool("wait", "Answers after a pause.", |_: JsonObject, _cx: ToolContext| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ToolError>("waited".to_owned())
        }))
        .tool(tool("boom", "Panics.", |_: JsonObject, _cx: ToolContext| async move {
            if true {
                panic!("the tool blew up");
            }
            Ok::<_, ToolError>(String::new())
        }));
    let server = Server::builder(Implementation::new("http-tests", "1"), registry).build();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    tokio::spawn(async move { serve(server, addr, options, None).await });
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    port
}

/// A stateless-era `tools/call` of `tool` as one HTTP/1.1 request (`extra` headers added).
fn call(port: u16, tool: &str, extra: &str) -> Vec<u8> {
    call_with(port, tool, "hi", &format!("connection: close\r\n{extra}"))
}

/// A stateless-era `tools/call` of `tool` with `text` as its argument (`extra` headers added).
fn call_with(port: u16, tool: &str, text: &str, extra: &str) -> Vec<u8> {
    call_args(port, tool, &json!({"text": text}), extra)
}

/// A stateless-era `tools/call` of `tool` with `arguments` (`extra` headers added).
fn call_args(port: u16, tool: &str, arguments: &Value, extra: &str) -> Vec<u8> {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n\
         mcp-method: tools/call\r\nmcp-name: {tool}\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` and returns the status and the body of the answer.
async fn exchange(port: u16, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    stream.write_all(request).await.expect("sends");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("reads");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn json_body(body: &str) -> Value {
    serde_json::from_str(body).expect("a JSON body")
}

#[tokio::test]
async fn calls_answered_at_once_or_after_a_wait_are_plain_json() {
    let port = start(HttpOptions::default()).await;
    let (status, body) = exchange(port, &call(port, "echo", "")).await;
    assert_eq!(status, 200);
    let answer = json_body(&body);
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["text"], "hi");
    let (status, body) = exchange(port, &call(port, "wait", "")).await;
    assert_eq!(status, 200);
    assert_eq!(json_body(&body)["result"]["content"][0]["text"], "waited");
}

#[tokio::test]
async fn a_tool_that_panics_is_answered_with_an_internal_error() {
    let port = start(HttpOptions::default()).await;
    let (status, body) = exchange(port, &call(port, "boom", "")).await;
    assert_eq!(status, 200);
    let answer = json_body(&body);
    assert_eq!(answer["id"], 7);
    let failed = answer["error"]["code"] == -32603 || answer["result"]["isError"] == true;
    assert!(failed, "a panic is an error answer: {answer}");
    // The server goes on serving.
    let (status, _) = exchange(port, &call(port, "echo", "")).await;
    assert_eq!(status, 200);
}

/// A body past the limit is read on and dropped (up to a bound) before the 413 is sent, with a
/// length declared or chunked: a client still sending it reads the refusal rather than a reset
/// connection. One declared past that bound is refused before any of it is read.
#[tokio::test]
async fn a_body_past_the_limit_is_refused_with_a_413_its_sender_reads() {
    let options = HttpOptions { max_body_bytes: 1024, ..HttpOptions::default() };
    let port = start(options).await;
    let piece = vec![b' '; 64 * 1024];
    for declared in [true, false] {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        let framing = if declared { "content-length: 8388608" } else { "transfer-encoding: chunked" };
        let head = format!(
            "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\n{framing}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("sends the head");
        for _ in 0..128 {
            if !declared {
                stream.write_all(b"10000\r\n").await.expect("sends");
            }
            stream.write_all(&piece).await.expect("the whole body is taken");
            if !declared {
                stream.write_all(b"\r\n").await.expect("sends");
            }
        }
        if !declared {
            stream.write_all(b"0\r\n\r\n").await.expect("sends the end");
        }
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("the refusal is read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "declared={declared}: {answer}");
        assert!(answer.contains("the request body exceeds the limit of 1024 bytes"), "{answer}");
    }
    let endless = "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\n\
                   content-length: 1073741824\r\n\r\n";
    assert_eq!(exchange(port, endless.as_bytes()).await.0, 413);
}

#[tokio::test]
async fn callers_are_admitted_before_their_body_is_read() {
    let mut options = HttpOptions::default();
    options.tokens.insert("t0ken".into(), "someone".into());
    options.max_body_bytes = 1024;
    let port = start(options).await;
    // An oversized body without a token: refused for the token, whatever the body.
    let huge = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\n\
         content-length: 4096\r\n\r\n{}",
        " ".repeat(4096)
    );
    assert_eq!(exchange(port, huge.as_bytes()).await.0, 401);
    // With the token: refused for its size.
    let huge = huge.replace("connection: close\r\n", "connection: close\r\nauthorization: Bearer t0ken\r\n");
    let (status, body) = exchange(port, huge.as_bytes()).await;
    assert_eq!(status, 413);
    // As a JSON-RPC error naming the limit.
    let refusal = json_body(&body);
    assert_eq!(refusal["error"]["code"], crate::protocol::codes::INVALID_REQUEST, "{refusal}");
    assert!(refusal["error"]["message"].as_str().is_some_and(|m| m.contains("limit of 1024 bytes")), "{refusal}");
    // A foreign Host is refused before anything else.
    let foreign = String::from_utf8_lossy(&call(port, "echo", "authorization: Bearer t0ken\r\n"))
        .replace(&format!("host: 127.0.0.1:{port}"), "host: evil.example");
    assert_eq!(exchange(port, foreign.as_bytes()).await.0, 403);
    let (status, body) = exchange(port, &call(port, "echo", "authorization: Bearer t0ken\r\n")).await;
    assert_eq!(status, 200);
    assert_eq!(json_body(&body)["result"]["content"][0]["text"], "hi");
    // A body declared as anything but JSON (a form, `text/plain`: what a browser posts across
    // origins unasked) is refused as such; JSON with parameters is JSON.
    let typed = |content_type: &str| {
        String::from_utf8_lossy(&call(port, "echo", "authorization: Bearer t0ken\r\n"))
            .replace("content-type: application/json", &format!("content-type: {content_type}"))
    };
    for refused in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "text/json", "+json"] {
        let (status, body) = exchange(port, typed(refused).as_bytes()).await;
        assert_eq!(status, 415, "{refused}");
        let message = json_body(&body)["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(refused) && message.contains("application/json"), "{message}");
    }
    for accepted in
        ["Application/JSON; charset=utf-8", "APPLICATION/merge-patch+JSON", "application/json ; charset=utf-8"]
    {
        assert_eq!(exchange(port, typed(accepted).as_bytes()).await.0, 200, "{accepted}");
    }
}

/// DNS rebinding needs a host name the attacker resolves, so only names are checked against the
/// allowed hosts: a kubelet or Prometheus reaching a pod by its address gets in; `*` lets any
/// name in (behind a load balancer, with tokens).
#[tokio::test]
async fn addresses_written_out_pass_the_host_check_and_names_must_be_listed() {
    let mut options = HttpOptions::default();
    options.tokens.insert("t0ken".into(), "someone".into());
    let port = start(options.clone()).await;
    let with_host = |port: u16, host: &str| {
        String::from_utf8_lossy(&call(port, "echo", "authorization: Bearer t0ken\r\n"))
            .replace(&format!("host: 127.0.0.1:{port}"), &format!("host: {host}"))
    };
    for address in ["10.1.2.3:8080", "10.1.2.3", "[fd00::7]:8080"] {
        assert_eq!(exchange(port, with_host(port, address).as_bytes()).await.0, 200, "{address}");
    }
    for name in ["evil.example", "evil.example:8080", "10.1.2.3.nip.io"] {
        assert_eq!(exchange(port, with_host(port, name).as_bytes()).await.0, 403, "{name}");
    }
    options.allowed_hosts = vec!["*".into()];
    let port = start(options).await;
    assert_eq!(exchange(port, with_host(port, "mcptk.team.svc:8080").as_bytes()).await.0, 200);
}

/// A request still running when the server's grace period is over is cancelled (its tool sees
/// the cancellation) and answered before `serve_until` returns; stateless requests share no
/// cancellation tree with the server, so this goes through the watch each waiting request keeps.
#[tokio::test]
async fn a_waiting_stateless_call_is_cancelled_when_the_grace_period_ends() {
    let mut registry = Registry::new();
    registry.tool(tool("hang", "Waits until cancelled.", |_: JsonObject, cx: ToolContext| async move {
        cx.cancelled().cancelled().await;
        Ok::<_, ToolError>("cancelled".to_owned())
    }));
    let server = Server::builder(Implementation::new("http-tests", "1"), registry).build();
    let (port, stop, serving) = serve_stoppable(server, Duration::from_millis(100)).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the server listens");
    stream.write_all(&call(port, "hang", "")).await.expect("sends");
    // The call is running (past its first poll) when the server is told to stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop.send(());
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    read.expect("answered within the grace and the cancellation").expect("reads");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"id\":7"), "the call is answered: {answer}");
    let served = tokio::time::timeout(Duration::from_secs(5), serving).await.expect("the server stops");
    served.expect("joins").expect("serves");
}

/// Reads one HTTP/1.1 answer with a `content-length` from `stream`; returns its body.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.expect("reads the head");
        answer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("reads the body");
    String::from_utf8(body).expect("UTF-8")
}

/// Connections are spread over the serving threads, each keeping the connections it is given (a
/// request, including one that waits, is handled on its connection's thread); dropping the
/// server ends the threads and closes the port and the connections.
#[tokio::test]
async fn connections_are_spread_over_the_serving_threads_and_each_stays_on_its_thread() {
    let mut registry = Registry::new();
    registry.tool(tool("where", "Names the thread it runs on.", |a: JsonObject, _cx: ToolContext| async move {
        if a.get("text").and_then(Value::as_str) == Some("wait") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok::<_, ToolError>(std::thread::current().name().unwrap_or("unnamed").to_owned())
    }));
    let server = Server::builder(Implementation::new("http-tests", "1"), registry).build();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let options = HttpOptions { threads: 2, ..HttpOptions::default() };
    let serving = tokio::spawn(async move { serve(server, addr, options, None).await });
    let mut connections = Vec::new();
    for _ in 0..200 {
        if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            connections.push(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!connections.is_empty(), "the server listens");
    for _ in 0..7 {
        connections.push(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects"));
    }
    let mut served_by = std::collections::BTreeMap::new();
    for stream in &mut connections {
        let mut threads = Vec::new();
        for text in ["now", "wait", "now", "wait"] {
            stream.write_all(&call_with(port, "where", text, "")).await.expect("sends");
            let answer = json_body(&read_answer(stream).await);
            threads.push(answer["result"]["content"][0]["text"].as_str().expect("a thread name").to_owned());
        }
        assert!(threads[0].starts_with("mcp-http-"), "served by a serving thread: {threads:?}");
        assert!(threads.iter().all(|t| *t == threads[0]), "one connection, one thread: {threads:?}");
        *served_by.entry(threads[0].clone()).or_insert(0) += 1;
    }
    // Each connection went to the thread holding the fewest: the 8 open ones are split evenly.
    assert_eq!(served_by.into_values().collect::<Vec<_>>(), [4, 4], "connections per thread");
    serving.abort();
    let _ = serving.await;
    let mut closed = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "the port closes once the server is dropped");
    // The connections it held are closed too.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), connections[0].read_to_end(&mut rest)).await;
    assert!(read.is_ok_and(|r| r.is_ok_and(|n| n == 0)), "a held connection is closed, not left open");
}

/// Serves `registry` with `options`, and an open `/healthz` answering `ok`, on a free loopback
/// port; returns the server (to announce changes through) and the port.
async fn serve_with_probe(registry: Registry, options: HttpOptions) -> (Server, u16) {
    let server = Server::builder(Implementation::new("http-tests", "1"), registry).build();
    (server.clone(), serve_server(server, options).await)
}

/// Serves `server` as [`serve_with_probe`] does; returns the port.
async fn serve_server(server: Server, options: HttpOptions) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let probe = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    let extra = super::Extra { admitted: None, open: Some(probe) };
    let serving = server.clone();
    tokio::spawn(async move {
        super::serve_until(serving, addr, options, extra, std::future::pending(), Duration::ZERO).await
    });
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    port
}

/// How long a test waits for what must happen before calling it a failure: a safety net only,
/// far beyond what any of it takes.
const SAFETY: Duration = Duration::from_secs(20);

/// True when the server closes `stream` (end of file, or a reset) within [`SAFETY`]; whatever
/// it sends before is read and dropped.
async fn closed_by_the_server(stream: &mut tokio::net::TcpStream) -> bool {
    let mut rest = Vec::new();
    tokio::time::timeout(SAFETY, stream.read_to_end(&mut rest)).await.is_ok()
}

/// `GET /healthz` on a kept-alive connection.
fn healthz(port: u16) -> String {
    format!("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n")
}

/// A client that opens a connection and never finishes its request's headers (slowloris), one
/// that sends nothing, and one that leaves a kept-alive connection idle all have their
/// connection closed once the header-read timeout passes; a body that stops coming is answered
/// 408 once the body-read timeout passes.
#[tokio::test]
async fn slow_headers_idle_connections_and_stalled_bodies_are_closed_after_their_timeouts() {
    let options = HttpOptions {
        header_read_timeout: Duration::from_millis(200),
        body_read_timeout: Duration::from_millis(200),
        ..HttpOptions::default()
    };
    let (_server, port) = serve_with_probe(Registry::new(), options).await;

    let mut partial = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    partial
        .write_all(format!("POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-").as_bytes())
        .await
        .expect("sends");
    assert!(closed_by_the_server(&mut partial).await, "a connection whose headers never end is closed");

    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    assert!(closed_by_the_server(&mut silent).await, "a connection that sends nothing is closed");

    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    idle.write_all(healthz(port).as_bytes()).await.expect("sends");
    assert_eq!(read_answer(&mut idle).await, "ok");
    assert!(closed_by_the_server(&mut idle).await, "an idle kept-alive connection is closed");

    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ncontent-length: 100\r\n\r\n{{\"jsonrpc\""
    );
    stalled.write_all(head.as_bytes()).await.expect("sends");
    let answer = tokio::time::timeout(SAFETY, read_answer(&mut stalled)).await.expect("answered");
    let error = json_body(&answer);
    assert!(error["error"]["message"].as_str().is_some_and(|m| m.contains("did not arrive")), "{error}");
}

/// Answers being sent are not cut by the header-read timeout, however long they take: a
/// session's GET stream and a call's SSE answer both outlast it.
#[tokio::test]
async fn streams_outlast_the_header_read_timeout() {
    let timeout = Duration::from_millis(200);
    let mut registry = Registry::new();
    registry.tool(tool(
        "slow",
        "Answers after several header-read timeouts.",
        move |_: JsonObject, _cx: ToolContext| async move {
            tokio::time::sleep(timeout * 4).await;
            Ok::<_, ToolError>("slowly".to_owned())
        },
    ));
    let options = HttpOptions { header_read_timeout: timeout, ..HttpOptions::default() };
    let (server, port) = serve_with_probe(registry, options).await;

    // A call answered with an SSE stream, after four timeouts.
    let request = String::from_utf8_lossy(&call(port, "slow", "")).into_owned();
    let (status, body) = tokio::time::timeout(SAFETY, exchange(port, request.as_bytes())).await.expect("answered");
    assert_eq!(status, 200);
    assert!(body.contains("slowly"), "{body}");

    // A handshake-era session's GET stream, idle for four timeouts, then an event.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    let post = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{init}",
        init.len()
    );
    stream.write_all(post.as_bytes()).await.expect("sends");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("reads");
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let session = answer
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id:"))
        .map(|id| id.trim().to_owned())
        .expect("a session id");
    let mut events = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    let get = format!(
        "GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: text/event-stream\r\nmcp-session-id: {session}\r\n\r\n"
    );
    events.write_all(get.as_bytes()).await.expect("sends");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(SAFETY, events.read(&mut chunk)).await.expect("the head").expect("reads");
        assert!(n > 0, "the stream is open");
        seen.extend_from_slice(&chunk[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&seen));
    tokio::time::sleep(timeout * 4).await;
    server.replace_tools(crate::ToolSet::new());
    let delivered = tokio::time::timeout(SAFETY, async {
        loop {
            let n = events.read(&mut chunk).await.expect("reads");
            assert!(n > 0, "the stream was closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&seen).contains("notifications/tools/list_changed") {
                break;
            }
        }
    })
    .await;
    assert!(delivered.is_ok(), "the event arrives on the stream");
}

/// At most `max_connections` are open at once: the next connection waits to be accepted (a
/// probe on it is not answered) until one closes, and is then served.
#[tokio::test]
async fn at_the_connection_limit_a_new_connection_waits_until_one_closes() {
    let options = HttpOptions {
        max_connections: 2,
        // The slow connections below stay until they are dropped.
        header_read_timeout: Duration::from_secs(600),
        ..HttpOptions::default()
    };
    let (_server, port) = serve_with_probe(Registry::new(), options).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n").await.expect("sends");
        slow.push(stream);
    }
    let mut probe = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the backlog takes it");
    probe.write_all(healthz(port).as_bytes()).await.expect("sends");
    // Not served while two connections are open (nothing arrives in this window; a server
    // without the limit answers at once).
    let early = tokio::time::timeout(Duration::from_millis(500), read_answer(&mut probe)).await;
    assert!(early.is_err(), "a third connection was served beyond a limit of two: {early:?}");
    // One slow connection goes: the waiting one is taken and answered.
    drop(slow.remove(0));
    let answer = tokio::time::timeout(SAFETY, read_answer(&mut probe)).await.expect("served once one closed");
    assert_eq!(answer, "ok");
}

/// A client that closes its connection while its call runs cancels the call: the tool is told,
/// whether the answer was to come as JSON or as an SSE stream.
#[tokio::test]
async fn a_client_that_goes_away_cancels_its_call() {
    for accept in ["application/json", "application/json, text/event-stream"] {
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (told_tx, mut told) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut registry = Registry::new();
        registry.tool(tool("hold", "Runs until cancelled.", move |_: JsonObject, cx: ToolContext| {
            let (started_tx, told_tx) = (started_tx.clone(), told_tx.clone());
            async move {
                let _ = started_tx.send(());
                cx.cancelled().cancelled().await;
                let _ = told_tx.send(());
                Ok::<_, ToolError>("cancelled".to_owned())
            }
        }));
        let (_server, port) = serve_with_probe(registry, HttpOptions::default()).await;
        let request = String::from_utf8_lossy(&call_with(port, "hold", "hi", ""))
            .replace("accept: application/json, text/event-stream", &format!("accept: {accept}"));
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        stream.write_all(request.as_bytes()).await.expect("sends");
        tokio::time::timeout(SAFETY, started.recv()).await.expect("the call runs");
        drop(stream);
        let cancelled = tokio::time::timeout(SAFETY, told.recv()).await;
        assert!(cancelled.is_ok(), "the tool is told its caller went away (accept: {accept})");
    }
}

/// Serves `server` on a free loopback port until the returned sender is used (or dropped), then
/// gives its requests `grace`; returns the port and the serving task.
async fn serve_stoppable(
    server: Server,
    grace: Duration,
) -> (u16, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let options = HttpOptions::default();
    let serving = tokio::spawn(super::serve_until(server, addr, options, super::Extra::default(), shutdown, grace));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (port, stop, serving);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never listened on {port}");
}

/// A server still starting over HTTP: `initialize` is answered at once; a stateless call sent
/// meanwhile waits, and its `Mcp-Param-*` headers are then checked against the tool as served
/// (not skipped for a tool not yet known); and when the server is told to stop, a request still
/// held is answered at once with an error, not after the grace period.
#[tokio::test]
async fn requests_sent_while_the_server_starts_wait_for_it_and_end_when_it_stops() {
    let server = Server::builder(Implementation::new("http-tests", "1"), Registry::new()).starting().build();
    let (port, _stop, serving) = serve_stoppable(server.clone(), Duration::from_secs(60)).await;
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{initialize}",
        initialize.len()
    );
    let (status, body) = exchange(port, request.as_bytes()).await;
    assert_eq!(status, 200, "{body}");

    // The first call's header disagrees with its argument: once the tool is known, it is refused.
    let mismatched = send_to(port, call(port, "route", "mcp-param-region: Bye\r\n"));
    let agreeing = send_to(port, call(port, "route", "mcp-param-region: hi\r\n"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!mismatched.is_finished() && !agreeing.is_finished(), "calls wait while the server starts");
    let mut registry = Registry::new();
    registry.tool(
        tool("route", "Routes `text`.", |a: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(a.get("text").and_then(Value::as_str).unwrap_or_default().to_owned())
        })
        .input_schema(
            json!({"type": "object", "properties": {"text": {"type": "string", "x-mcp-header": "Region"}}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
    );
    server.replace_tools(registry.tools);
    server.mark_ready();
    let (status, body) = mismatched.await.expect("joins");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Mcp-Param-Region header does not match"), "{body}");
    let (status, body) = agreeing.await.expect("joins");
    assert_eq!((status, json_body(&body)["result"]["content"][0]["text"].clone()), (200, json!("hi")), "{body}");
    serving.abort();

    // Told to stop while starting: the held call is answered at once, and the server stops.
    let server = Server::builder(Implementation::new("http-tests", "1"), Registry::new()).starting().build();
    let (port, stop, serving) = serve_stoppable(server, Duration::from_secs(60)).await;
    let held = send_to(port, call(port, "route", "mcp-param-region: hi\r\n"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished());
    let _ = stop.send(());
    let answered = tokio::time::timeout(Duration::from_secs(10), held).await;
    let (status, body) = answered.expect("answered well within the grace period").expect("joins");
    assert_eq!(status, 200, "{body}");
    let message = json_body(&body)["error"]["message"].clone();
    assert_eq!(message, json!("the server gave up its start (it is stopping, or its start failed)"), "{body}");
    let served = tokio::time::timeout(Duration::from_secs(10), serving).await.expect("the server stops");
    served.expect("joins").expect("serves");
}

/// Sends `request` to `port` from a task of its own: its status and body.
fn send_to(port: u16, request: Vec<u8>) -> tokio::task::JoinHandle<(u16, String)> {
    tokio::spawn(async move { exchange(port, &request).await })
}

// Handshake-era sessions and their SSE streams, read as a client reads them.

/// One SSE event as a client parses it: its id, its data, or a comment.
#[derive(Debug, Clone, Default)]
struct SseEvent {
    id: Option<String>,
    data: String,
    comment: bool,
}

/// An SSE body read event by event.
struct SseReader {
    body: std::pin::Pin<Box<dyn futures_core::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> Self {
        Self { body: Box::pin(response.bytes_stream()), buffer: String::new() }
    }

    /// The next event, or `None` once the server ended the stream (within [`SAFETY`]).
    async fn next(&mut self) -> Option<SseEvent> {
        use futures_util::StreamExt as _;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in block.lines() {
                    if line.starts_with(':') {
                        event.comment = true;
                    } else if let Some(id) = line.strip_prefix("id: ") {
                        event.id = Some(id.to_owned());
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        event.data.push_str(data);
                    }
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout(SAFETY, self.body.next()).await.expect("the stream goes on or ends");
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next event that is not a keep-alive comment.
    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let event = self.next().await?;
            if !event.comment {
                return Some(event);
            }
        }
    }

    /// The JSON message of the next event with data.
    async fn next_message(&mut self) -> Option<(String, Value)> {
        loop {
            let event = self.next_event().await?;
            if !event.data.is_empty() {
                return Some((event.id.unwrap_or_default(), serde_json::from_str(&event.data).expect("JSON data")));
            }
        }
    }
}

/// A client of the handshake era over HTTP: its session, and requests in it.
struct SessionClient {
    url: String,
    session: String,
    http: reqwest::Client,
}

impl SessionClient {
    /// Opens a session at `revision` on `port`.
    async fn open(port: u16, revision: &str) -> Self {
        crate::transport::install_crypto_provider();
        let url = format!("http://127.0.0.1:{port}/mcp");
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init.to_string())
            .send()
            .await
            .expect("initialize answered");
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"].to_str().expect("ASCII").to_owned();
        let client = Self { url, session, http };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(client.post(&initialized, true).await.status(), 202);
        client
    }

    /// POSTs `message` in the session, accepting an SSE answer when `stream`.
    async fn post(&self, message: &Value, stream: bool) -> reqwest::Response {
        let accept = if stream { "application/json, text/event-stream" } else { "application/json" };
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", &self.session)
            .body(message.to_string())
            .send()
            .await
            .expect("answered")
    }

    /// Calls `tool` with `arguments` (and a progress token), accepting an SSE answer when `stream`.
    async fn call(&self, id: i64, tool: &str, arguments: Value, stream: bool) -> reqwest::Response {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": tool, "arguments": arguments, "_meta": {"progressToken": id}}});
        self.post(&call, stream).await
    }

    /// A GET on the session, resuming after `last` when given.
    async fn get(&self, last: Option<&str>) -> reqwest::Response {
        let mut get =
            self.http.get(&self.url).header("accept", "text/event-stream").header("mcp-session-id", &self.session);
        if let Some(last) = last {
            get = get.header("last-event-id", last);
        }
        get.send().await.expect("answered")
    }
}

/// Tools for the session tests: `pause` (answers after `ms`), and `step`, which reports progress
/// 1, waits until the test releases it, reports progress 2 and answers `stepped`, telling the
/// test when it is cancelled.
struct Stepping {
    release: std::sync::Arc<tokio::sync::Notify>,
    cancelled: tokio::sync::mpsc::UnboundedReceiver<()>,
    started: tokio::sync::mpsc::UnboundedReceiver<()>,
}

/// The tools (a new registry each time, the same tools) and the test's handles on them.
fn stepping_tools() -> (impl Fn() -> Registry, Stepping) {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let (cancelled_tx, cancelled) = tokio::sync::mpsc::unbounded_channel();
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let waiting = release.clone();
    let build = move || {
        let (waiting, cancelled_tx, started_tx) = (waiting.clone(), cancelled_tx.clone(), started_tx.clone());
        let mut registry = Registry::new();
        registry
            .tool(tool("pause", "Answers after `ms`.", |a: JsonObject, _cx: ToolContext| async move {
                tokio::time::sleep(Duration::from_millis(a.get("ms").and_then(Value::as_u64).unwrap_or(0))).await;
                Ok::<_, ToolError>("paused".to_owned())
            }))
            .tool(tool("echo", "Echoes `text`.", |a: JsonObject, _cx: ToolContext| async move {
                Ok::<_, ToolError>(a.get("text").and_then(Value::as_str).unwrap_or_default().to_owned())
            }))
            .tool(tool("step", "Two steps, the second once released.", move |_: JsonObject, cx: ToolContext| {
                let (waiting, cancelled_tx, started_tx) = (waiting.clone(), cancelled_tx.clone(), started_tx.clone());
                async move {
                    cx.progress(1.0, Some(2.0), None).await;
                    let _ = started_tx.send(());
                    tokio::select! {
                        () = waiting.notified() => {}
                        () = cx.cancelled().cancelled() => {
                            let _ = cancelled_tx.send(());
                            return Err(ToolError::msg("cancelled"));
                        }
                    }
                    cx.progress(2.0, Some(2.0), None).await;
                    Ok::<_, ToolError>("stepped".to_owned())
                }
            }));
        registry
    };
    (build, Stepping { release, cancelled, started })
}

/// A session's idle time counts from when its last request or stream ended, not from when its
/// last request began: a call longer than the TTL, and a GET stream open longer than it, leave
/// the session alive; once nothing runs, it expires after the TTL.
#[tokio::test]
async fn a_session_is_not_idle_while_a_request_runs_or_a_stream_is_open() {
    let (tools, _stepping) = stepping_tools();
    let options = HttpOptions {
        session_ttl: Duration::from_millis(400),
        // A closed GET connection is noticed at the next write.
        sse_keep_alive: Duration::from_millis(50),
        ..HttpOptions::default()
    };
    let (_server, port) = serve_with_probe(tools(), options).await;
    let client = SessionClient::open(port, "2025-11-25").await;
    let echo = |id| client.call(id, "echo", json!({"text": "still here"}), false);

    let paused = client.call(2, "pause", json!({"ms": 1200}), false).await;
    assert_eq!(paused.status(), 200);
    let paused: Value = serde_json::from_slice(&paused.bytes().await.expect("a body")).expect("JSON");
    assert_eq!(paused["result"]["content"][0]["text"], "paused", "{paused}");
    let after = echo(3).await;
    assert_eq!(after.status(), 200, "the session expired while its call ran");

    let stream = client.get(None).await;
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(echo(4).await.status(), 200, "the session expired while its GET stream was open");
    drop(stream);

    // Nothing runs now: the session expires once the TTL has passed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expired = echo(5).await;
    assert_eq!(expired.status(), 404, "an idle session outlived its TTL");
}

/// Event ids are unique across a session's streams and name their stream: a call whose POST
/// stream is cut runs on (it is not cancelled), and a GET with the id of the last event seen on
/// that stream gets the rest of that stream only (not the GET stream's events), ending with
/// the answer. An id the session does not know is refused with 400. Ending the session cancels
/// a call still running.
#[tokio::test]
async fn a_cut_call_stream_runs_on_and_is_resumed_with_its_own_events_by_their_unique_ids() {
    let (tools, mut stepping) = stepping_tools();
    let (server, port) = serve_with_probe(tools(), HttpOptions::default()).await;
    let client = SessionClient::open(port, "2025-11-25").await;

    let mut get = SseReader::new(client.get(None).await);
    let primed = get.next_event().await.expect("the GET stream is primed");
    assert!(primed.data.is_empty(), "{primed:?}");
    let mut ids = vec![primed.id.clone().expect("an id to resume with")];

    let call = client.call(2, "step", json!({}), true).await;
    assert_eq!(call.headers()["content-type"], "text/event-stream");
    let mut call = SseReader::new(call);
    let primed = call.next_event().await.expect("the call's stream is primed");
    assert!(primed.data.is_empty(), "{primed:?}");
    ids.push(primed.id.expect("an id"));
    let (progress_id, progress) = call.next_message().await.expect("progress 1");
    assert_eq!(progress["params"]["progress"], 1.0, "{progress}");
    ids.push(progress_id.clone());
    // The connection is cut.
    drop(call);

    // Meanwhile the GET stream carries a notification of its own.
    server.replace_tools(tools().tools);
    let (changed_id, changed) = get.next_message().await.expect("the change is announced");
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    ids.push(changed_id);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "event ids repeat within the session: {ids:?}");

    // The call goes on and finishes with nobody reading.
    stepping.release.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(stepping.cancelled.try_recv().is_err(), "the cut connection cancelled the call");

    // Resumed from its last event while the GET stream is still open: the rest of that stream,
    // then its end.
    let resumed = client.get(Some(&progress_id)).await;
    assert_eq!(resumed.status(), 200);
    let mut resumed = SseReader::new(resumed);
    let mut messages = Vec::new();
    while let Some(event) = resumed.next_event().await {
        if !event.data.is_empty() {
            messages.push(serde_json::from_str::<Value>(&event.data).expect("JSON"));
        }
    }
    assert_eq!(messages.len(), 2, "progress 2 and the answer, then the end: {messages:?}");
    assert_eq!(messages[0]["params"]["progress"], 2.0, "{messages:?}");
    assert_eq!(messages[1]["id"], 2, "{messages:?}");
    assert_eq!(messages[1]["result"]["content"][0]["text"], "stepped", "{messages:?}");

    for unknown in ["1", "nonsense", "0000-7-7"] {
        let refused = client.get(Some(unknown)).await;
        assert_eq!(refused.status(), 400, "{unknown}");
    }

    // A call cut off and left running is cancelled when its session ends.
    while stepping.started.try_recv().is_ok() {}
    let call = client.call(3, "step", json!({}), true).await;
    tokio::time::timeout(SAFETY, stepping.started.recv()).await.expect("the call runs");
    drop(call);
    let deleted = client.http.delete(&client.url).header("mcp-session-id", &client.session).send().await;
    assert_eq!(deleted.expect("answered").status(), 204);
    let told = tokio::time::timeout(SAFETY, stepping.cancelled.recv()).await;
    assert!(told.is_ok(), "ending the session did not cancel its running call");
}

/// A second GET without `Last-Event-ID` while the session's GET stream is open is refused with
/// 409 and leaves the first one open; a GET resuming the GET stream with `Last-Event-ID` takes it
/// over, replaying what came after that id, and the connection it replaces ends.
#[tokio::test]
async fn a_second_get_is_refused_and_a_resuming_get_takes_the_stream_over() {
    let (tools, _stepping) = stepping_tools();
    let (server, port) = serve_with_probe(tools(), HttpOptions::default()).await;
    let client = SessionClient::open(port, "2025-11-25").await;
    let change = || server.replace_tools(tools().tools);

    let mut first = SseReader::new(client.get(None).await);
    let primed = first.next_event().await.expect("primed").id.expect("an id");
    let second = client.get(None).await;
    assert_eq!(second.status(), 409, "a second GET stream was opened beside the first");
    let refusal: Value = serde_json::from_slice(&second.bytes().await.expect("a body")).expect("a JSON-RPC error");
    assert!(refusal["error"]["message"].as_str().is_some_and(|m| m.contains("Last-Event-ID")), "{refusal}");
    change();
    let (_, seen) = first.next_message().await.expect("the first stream still carries events");
    assert_eq!(seen["method"], "notifications/tools/list_changed");

    let mut resumed = SseReader::new(client.get(Some(&primed)).await);
    let (_, replayed) = resumed.next_message().await.expect("the missed event is replayed");
    assert_eq!(replayed["method"], "notifications/tools/list_changed");
    assert!(first.next_event().await.is_none(), "the replaced connection ends");
    change();
    let (_, live) = resumed.next_message().await.expect("then live events");
    assert_eq!(live["method"], "notifications/tools/list_changed");
}

/// Streams silent for the keep-alive period get an SSE comment, so idle-timeout proxies do not
/// cut them: a session's GET stream, and a call that would answer with a stream and has said
/// nothing yet (it gets its stream then, and the answer comes on it).
#[tokio::test]
async fn silent_streams_get_keep_alive_comments() {
    let (tools, _stepping) = stepping_tools();
    let options = HttpOptions { sse_keep_alive: Duration::from_millis(100), ..HttpOptions::default() };
    let (_server, port) = serve_with_probe(tools(), options).await;

    // The stateless era: no session, no ids.
    crate::transport::install_crypto_provider();
    let request = call_args(port, "pause", &json!({"ms": 450}), "connection: close\r\n");
    let (status, body) = exchange(port, &request).await;
    assert_eq!(status, 200);
    let comment = body.find(": keep-alive").unwrap_or_else(|| panic!("no keep-alive comment: {body}"));
    let answer = body.find("\"paused\"").unwrap_or_else(|| panic!("no answer: {body}"));
    assert!(comment < answer, "{body}");
    assert!(!body.contains("\nid: ") && !body.contains("\r\nid: "), "a stateless stream has no ids: {body}");

    // A session of a revision that takes no priming event: its GET stream is silent but for
    // the comments.
    let client = SessionClient::open(port, "2025-06-18").await;
    let mut get = SseReader::new(client.get(None).await);
    for _ in 0..3 {
        let event = get.next().await.expect("the stream stays open");
        assert!(event.comment && event.id.is_none() && event.data.is_empty(), "{event:?}");
    }
}

// Connections that stop reading: a peer gone without closing its connection looks the same to
// the server until TCP gives up on it, minutes later.

/// A connection to `port` with a small receive buffer, so that once its reader stops reading
/// the server's writes to it stall soon.
async fn connect_small(port: u16) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small receive buffer");
    socket.connect(([127, 0, 0, 1], port).into()).await.expect("connects")
}

/// Sends `request` on `stream` and reads its answer up to its first SSE event id: the id.
async fn first_event_id(stream: &mut tokio::net::TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(at) = text.find("\nid: ")
            && let Some(end) = text[at + 5..].find('\n')
        {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            return text[at + 5..at + 5 + end].trim().to_owned();
        }
        let n = tokio::time::timeout(SAFETY, stream.read(&mut chunk)).await.expect("an event").expect("reads");
        assert!(n > 0, "the stream ended: {text}");
        seen.extend_from_slice(&chunk[..n]);
    }
}

impl SessionClient {
    /// A request of this session as one raw HTTP/1.1 request.
    fn raw(&self, method: &str, body: Option<&Value>) -> String {
        let port = self.url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/mcp");
        let body = body.map(Value::to_string).unwrap_or_default();
        let length = if body.is_empty() { String::new() } else { format!("content-length: {}\r\n", body.len()) };
        format!(
            "{method} /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\nmcp-session-id: {}\r\n{length}\r\n{body}",
            self.session
        )
    }
}

/// A tool that reports `count` progress notifications of `size` bytes each, counting them in
/// `sent`, then answers `flooded`.
fn flood_tool(sent: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Registry {
    let mut registry = Registry::new();
    registry.tool(tool("flood", "Floods its caller with progress.", move |a: JsonObject, cx: ToolContext| {
        let sent = sent.clone();
        async move {
            let count = a.get("count").and_then(Value::as_u64).unwrap_or(1);
            let size = a.get("size").and_then(Value::as_u64).unwrap_or(1);
            let message = "p".repeat(usize::try_from(size).unwrap_or(1));
            for n in 1..=count {
                #[allow(clippy::cast_precision_loss)]
                cx.progress(n as f64, Some(count as f64), Some(message.clone())).await;
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok::<_, ToolError>("flooded".to_owned())
        }
    }));
    registry
}

/// Waits until `counter` stops moving (for 300 ms); returns where it stopped.
async fn settled(counter: &std::sync::atomic::AtomicUsize) -> usize {
    let mut last = usize::MAX;
    loop {
        let now = counter.load(std::sync::atomic::Ordering::Relaxed);
        if now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A call whose POST connection stopped reading (its queue full, the call waiting for room) is
/// taken over by a GET with `Last-Event-ID`: the call goes on at once, on the new connection,
/// to its answer; nothing waits for the old connection, which is still open.
#[tokio::test]
async fn a_resume_takes_a_call_over_from_a_connection_that_stopped_reading() {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (_server, port) = serve_with_probe(flood_tool(sent.clone()), HttpOptions::default()).await;
    let client = SessionClient::open(port, "2025-11-25").await;
    let (count, size) = (600_u32, 64 * 1024);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "flood", "arguments": {"count": count, "size": size}, "_meta": {"progressToken": 2}}});
    let mut stalled = connect_small(port).await;
    let primed = first_event_id(&mut stalled, &client.raw("POST", Some(&call))).await;
    let stopped = settled(&sent).await;
    assert!(stopped < count as usize, "the call was not held up by its reader ({stopped} of {count} sent)");

    let mut resumed = SseReader::new(client.get(Some(&primed)).await);
    let (mut last, mut progress) = (None, 0.0);
    // Keep-alive comments keep the stream going: the whole of it must end within the limit.
    let ended = tokio::time::timeout(SAFETY, async {
        while let Some((_, message)) = resumed.next_message().await {
            if let Some(p) = message["params"]["progress"].as_f64() {
                assert!(p > progress, "progress out of order: {p} after {progress}");
                progress = p;
            }
            last = Some(message);
        }
    })
    .await;
    assert!(ended.is_ok(), "the resumed stream stalled at progress {progress}: the call waits on the old connection");
    let last = last.expect("messages");
    assert_eq!(last["id"], 2, "the stream ends with the answer: {}", last["method"]);
    assert_eq!(last["result"]["content"][0]["text"], "flooded");
    assert_eq!(progress, f64::from(count), "the progress up to the end");
    drop(stalled);
}

/// A GET stream whose connection falls behind (its queue fills) ends once it has written what
/// was queued, rather than staying open while notifications are left out: the client resumes
/// with the last id it got, and gets every notification it missed.
#[tokio::test]
async fn a_get_stream_that_falls_behind_ends_and_its_resume_misses_nothing() {
    let server =
        Server::builder(Implementation::new("http-tests", "1"), Registry::new()).resource_updates(true).build();
    let port = serve_server(server.clone(), HttpOptions::default()).await;
    let client = SessionClient::open(port, "2025-11-25").await;
    let uri = format!("file:///{}", "u".repeat(32 * 1024));
    let subscribe = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": uri}});
    assert_eq!(client.post(&subscribe, false).await.status(), 200);

    let mut behind = connect_small(port).await;
    let primed = first_event_id(&mut behind, &client.raw("GET", None)).await;
    let updates = 300;
    for _ in 0..updates {
        server.notify_resource_updated(uri.clone());
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    // The connection, read now: what was queued for it, then its end.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(SAFETY, behind.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "a connection that fell behind stayed open, its notifications left out");
    let text = String::from_utf8_lossy(&rest);
    let ids: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    let live = text.matches("notifications/resources/updated").count();
    assert!(live < updates, "the connection did not fall behind ({live} of {updates} written)");
    let last = ids.last().copied().unwrap_or(&primed).to_owned();

    let mut resumed = SseReader::new(client.get(Some(&last)).await);
    let mut replayed = 0;
    while replayed + live < updates {
        let (_, message) = resumed.next_message().await.expect("the missed notifications");
        assert_eq!(message["method"], "notifications/resources/updated");
        replayed += 1;
    }
    assert_eq!(replayed + live, updates);
}

/// A GET without `Last-Event-ID` gets 409 while the session's GET stream is read by a live
/// connection (one that takes its keep-alive comments), however long it is open, but takes the
/// stream over from a connection that has written nothing for twice the keep-alive period.
#[tokio::test]
async fn a_plain_get_takes_the_stream_from_a_connection_that_stopped_writing() {
    let server =
        Server::builder(Implementation::new("http-tests", "1"), Registry::new()).resource_updates(true).build();
    let keep_alive = Duration::from_millis(100);
    let options =
        HttpOptions { sse_keep_alive: keep_alive, max_body_bytes: 16 * 1024 * 1024, ..HttpOptions::default() };
    let port = serve_server(server.clone(), options).await;

    // A live reader keeps the stream, long past the keep-alive period.
    let client = SessionClient::open(port, "2025-11-25").await;
    let mut live = SseReader::new(client.get(None).await);
    live.next_event().await.expect("primed");
    let reading = tokio::spawn(async move { while live.next().await.is_some() {} });
    tokio::time::sleep(keep_alive * 5).await;
    assert_eq!(client.get(None).await.status(), 409, "a live GET stream was taken over");
    reading.abort();

    // One event larger than the buffers on the way, to a reader that stopped reading: the
    // connection writes nothing more.
    let client = SessionClient::open(port, "2025-11-25").await;
    let uri = format!("file:///{}", "u".repeat(6 * 1024 * 1024));
    let subscribe = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": uri}});
    assert_eq!(client.post(&subscribe, false).await.status(), 200);
    let mut stalled = connect_small(port).await;
    first_event_id(&mut stalled, &client.raw("GET", None)).await;
    server.notify_resource_updated(uri);
    // Silent for twice the keep-alive period from when it took the large event, whose making
    // and sending take a while of their own on a busy machine: asked until then, a new GET is
    // refused; once it has been silent that long, one is let in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let taken = loop {
        tokio::time::sleep(keep_alive * 5).await;
        let taken = client.get(None).await;
        if taken.status() == 200 || tokio::time::Instant::now() > deadline {
            break taken;
        }
        assert_eq!(taken.status(), 409, "refused as held, until the holder is found silent");
    };
    assert_eq!(taken.status(), 200, "a GET stream whose connection stopped writing was kept from a new GET");
    let mut taken = SseReader::new(taken);
    let primed = taken.next_event().await.expect("a stream of its own, primed");
    assert!(primed.id.is_some() && primed.data.is_empty(), "{primed:?}");
    drop(stalled);
}

/// Once a call's answer has been written out on its connection, only the answer is kept: a
/// resume from its first event gets the answer alone, not the progress before it.
#[tokio::test]
async fn a_call_answered_on_its_connection_keeps_only_its_answer() {
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (_server, port) = serve_with_probe(flood_tool(sent), HttpOptions::default()).await;
    let client = SessionClient::open(port, "2025-11-25").await;
    let mut call = SseReader::new(client.call(2, "flood", json!({"count": 3, "size": 10}), true).await);
    let primed = call.next_event().await.expect("primed").id.expect("an id");
    let mut messages = 0;
    while call.next_message().await.is_some() {
        messages += 1;
    }
    assert_eq!(messages, 4, "three progress notifications and the answer");

    let mut resumed = SseReader::new(client.get(Some(&primed)).await);
    let (_, first) = resumed.next_message().await.expect("the answer");
    assert_eq!(first["id"], 2, "the progress before the answer is still kept: {first}");
    assert!(resumed.next_message().await.is_none(), "the stream ends with its answer");
}
