//! The HTTP client against small servers on 127.0.0.1 that misbehave on purpose: secrets in the
//! configured URL never reach an error, a log line or `Debug`; the old transport's endpoint must be
//! on the stream's origin; nothing read may pass `max_message_bytes`; SSE arrives whole however it
//! is cut.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use mcp_core::config::{HttpServer, McpConfig, ServerConfig};
use mcp_core::transport::oauth::{Authorizer, OAuthConfig};
use mcp_core::{Client, ClientOptions, EraPreference};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 server: one request per connection, answered exactly as the test says.

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    fn rpc_method(&self) -> String {
        self.json()["method"].as_str().unwrap_or_default().to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server writes back; the connection closes after it.
enum Reply {
    /// Pieces written one at a time, each flushed, with a pause between them.
    Pieces(Vec<Vec<u8>>),
    /// A head, then every piece the sender sends (paused between), until it is dropped.
    Stream(String, mpsc::UnboundedReceiver<Vec<u8>>),
    /// A head, then body bytes without end, until the client goes away.
    Endless(String),
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// Serves `handler` on 127.0.0.1; returns the port and the requests seen.
async fn serve(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let handler: Arc<Handler> = Arc::new(handler);
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (handler, log) = (handler.clone(), log.clone());
            tokio::spawn(async move {
                let _ = socket.set_nodelay(true);
                answer(socket, &*handler, &log).await;
            });
        }
    });
    (port, seen)
}

async fn answer(mut socket: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let Some(request) = read_request(&mut socket).await else { return };
    log.lock().unwrap_or_else(PoisonError::into_inner).push(request.clone());
    match handler(&request) {
        Reply::Pieces(pieces) => {
            for (i, piece) in pieces.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                if socket.write_all(piece).await.is_err() || socket.flush().await.is_err() {
                    return;
                }
            }
        }
        Reply::Stream(head, mut pieces) => {
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            while let Some(piece) = pieces.recv().await {
                if socket.write_all(&piece).await.is_err() || socket.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        Reply::Endless(head) => {
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let filler = vec![b' '; 16 * 1024];
            let until = tokio::time::Instant::now() + Duration::from_secs(30);
            while tokio::time::Instant::now() < until && socket.write_all(&filler).await.is_ok() {}
        }
    }
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen { method, target, headers, body })
}

fn head(status: &str, content_type: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{extra}connection: close\r\n\r\n")
}

fn whole(status: &str, content_type: &str, body: &str) -> Reply {
    let head = head(status, content_type, &format!("content-length: {}\r\n", body.len()));
    Reply::Pieces(vec![format!("{head}{body}").into_bytes()])
}

fn accepted() -> Reply {
    whole("202 Accepted", "text/plain", "")
}

fn rpc_result(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

fn initialize_result() -> Value {
    json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "t", "version": "1"}})
}

fn text_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}]})
}

/// A handshake-era server's side of connecting: `initialize`, notifications, no GET stream.
fn handshake(request: &Seen) -> Option<Reply> {
    match (request.method.as_str(), request.rpc_method().as_str()) {
        ("GET", _) => Some(whole("405 Method Not Allowed", "text/plain", "")),
        ("DELETE", _) => Some(accepted()),
        ("POST", "initialize") => {
            Some(whole("200 OK", "application/json", &rpc_result(&request.json()["id"], initialize_result())))
        }
        ("POST", m) if m.starts_with("notifications/") => Some(accepted()),
        _ => None,
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        era: EraPreference::Handshake,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

/// A client of the test server on `port` at `path`.
async fn connect(port: u16, path: &str, options: ClientOptions) -> mcp_core::Result<Client> {
    Client::connect_http("local", &HttpServer::new(format!("http://127.0.0.1:{port}{path}")), options).await
}

fn arguments(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_session_the_server_no_longer_knows_closes_the_connection() {
    // A server that restarted answers the old session's requests with 404: the spec's answer is
    // a new session, so the connection closes (its supervisor connects anew) and the call says
    // why, rather than every later call failing the same way on a connection that looks alive.
    let (port, _) = serve(|request| match (request.method.as_str(), request.rpc_method().as_str()) {
        ("POST", "initialize") => {
            let body = rpc_result(&request.json()["id"], initialize_result());
            let extra = format!("mcp-session-id: s1\r\ncontent-length: {}\r\n", body.len());
            Reply::Pieces(vec![format!("{}{body}", head("200 OK", "application/json", &extra)).into_bytes()])
        }
        ("POST", "tools/call") => {
            let id = &request.json()["id"];
            let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32001, "message": "Session not found"}});
            whole("404 Not Found", "application/json", &body.to_string())
        }
        _ => handshake(request).unwrap_or_else(accepted),
    })
    .await;
    let client = connect(port, "/mcp", options()).await.expect("connects");
    let error = client.call_tool("echo", arguments(json!({}))).await.expect_err("the session is gone").to_string();
    assert!(error.contains("no longer knows this connection's session"), "{error}");
    tokio::time::timeout(Duration::from_secs(5), client.closed()).await.expect("the connection is closed");
}

// ---------------------------------------------------------------------------------------------
// Every log line of the process, to look for secrets in.

#[derive(Default)]
struct Capture {
    text: Mutex<String>,
    next: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Fields(&mut self.text.lock().unwrap_or_else(PoisonError::into_inner)));
        tracing::span::Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().unwrap_or_else(PoisonError::into_inner)));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        text.push_str(event.metadata().level().as_str());
        text.push(' ');
        event.record(&mut Fields(&mut text));
        text.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Everything logged so far, at every level.
fn logs() -> String {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture = Arc::new(Capture::default());
        let _ = tracing::subscriber::set_global_default(ArcSubscriber(capture.clone()));
        capture
    });
    capture.text.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

struct ArcSubscriber(Arc<Capture>);

impl tracing::Subscriber for ArcSubscriber {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.0.new_span(span)
    }
    fn record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        self.0.record(id, values)
    }
    fn record_follows_from(&self, a: &tracing::span::Id, b: &tracing::span::Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, event: &tracing::Event<'_>) {
        self.0.event(event)
    }
    fn enter(&self, id: &tracing::span::Id) {
        self.0.enter(id)
    }
    fn exit(&self, id: &tracing::span::Id) {
        self.0.exit(id)
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets.

const TOKEN: &str = "t0k3n-in-user-info";
const TENANT: &str = "tenant-in-the-path";
const KEY: &str = "k3y-in-the-query";
const SECRETS: [&str; 3] = [TOKEN, TENANT, KEY];

/// An entry as written in `mcp_config.json`, resolved with the secrets in its variables.
fn resolve(url: &str, headers: &[(&str, &str)]) -> HttpServer {
    let entry =
        json!({"mcpServers": {"remote": {"url": url, "headers": headers.iter().copied().collect::<BTreeMap<_, _>>()}}});
    let config: McpConfig = serde_json::from_value(entry).expect("parses");
    let lookup = |var: &str| match var {
        "TOKEN" => Some(TOKEN.to_owned()),
        "TENANT" => Some(TENANT.to_owned()),
        "KEY" => Some(KEY.to_owned()),
        _ => None,
    };
    match config.servers["remote"].resolve("remote", &lookup).expect("resolves") {
        ServerConfig::Http(server) => server,
        other => panic!("not HTTP: {other:?}"),
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows the secret {secret:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_the_url_reach_no_error_debug_or_log_when_the_server_refuses() {
    logs();
    // Every request refused with 404, the body echoing what was asked for (some servers do).
    let (port, seen) =
        serve(|r| whole("404 Not Found", "text/plain", &format!("no route for {} {}", r.method, r.target))).await;
    let server = resolve(
        &format!("http://user:${{TOKEN}}@127.0.0.1:{port}/t/${{TENANT}}/mcp?key=${{KEY}}&v=1"),
        &[("X-Api-Key", "${KEY}")],
    );
    assert_no_secret("Debug of the server", &format!("{server:?}"));

    // Streamable HTTP refused (server/discover, then initialize), then the old transport's GET.
    let error = Client::connect_http("remote", &server, ClientOptions::default()).await.expect_err("refused");
    let shown = format!("{error} {error:?}");
    assert_no_secret("the connect error", &shown);
    assert!(shown.contains(&format!("http://127.0.0.1:{port}/t/***/mcp?key=***&v=***")), "{shown}");
    assert!(shown.contains("remote") && shown.contains("404"), "{shown}");
    assert!(
        seen.lock().unwrap_or_else(PoisonError::into_inner).iter().any(|r| r.method == "GET"),
        "the old transport was tried"
    );

    // An `/sse` URL where nobody listens: a failure of the exchange itself.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds").local_addr().expect("addr").port();
    let server = resolve(&format!("http://127.0.0.1:{closed}/sse?token=${{TOKEN}}"), &[]);
    let error = Client::connect_http("old", &server, ClientOptions::default()).await.expect_err("nobody there");
    let shown = format!("{error} {error:?}");
    assert_no_secret("the /sse error", &shown);
    assert!(shown.contains(&format!("GET http://127.0.0.1:{closed}/sse?token=*** failed")), "{shown}");
    assert_no_secret("the logs", &logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_a_tool_call_returns_carries_no_secret() {
    logs();
    let (port, _) = serve(|r| {
        handshake(r).unwrap_or_else(|| match r.json()["params"]["name"].as_str() {
            // A 500 whose body echoes the request line and the key header.
            Some("echoing") => whole(
                "500 Internal Server Error",
                "text/plain",
                &format!("failed: POST {} with key {}", r.target, r.header("x-api-key").unwrap_or_default()),
            ),
            // The connection dropped without an answer.
            _ => Reply::Pieces(Vec::new()),
        })
    })
    .await;
    let server = resolve(
        &format!("http://user:${{TOKEN}}@127.0.0.1:{port}/t/${{TENANT}}/mcp?key=${{KEY}}"),
        &[("X-Api-Key", "${KEY}")],
    );
    let client = Client::connect_http("remote", &server, options()).await.expect("connects");
    let echoed = client.call_tool("echoing", arguments(json!({}))).await.expect_err("a 500");
    let shown = format!("{echoed} {echoed:?}");
    assert_no_secret("the tool call's error", &shown);
    assert!(shown.contains("HTTP 500") && shown.contains("/t/***/mcp?key=*** with key ***"), "{shown}");

    let dropped = client.call_tool("dropping", arguments(json!({}))).await.expect_err("no answer");
    let shown = format!("{dropped} {dropped:?}");
    assert_no_secret("the failed exchange's error", &shown);
    assert!(shown.contains(&format!("HTTP request to http://127.0.0.1:{port}/t/***/mcp?key=*** failed")), "{shown}");
    client.close().await.expect("closes");
    assert_no_secret("the logs", &logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_origin_named_by_an_endpoint_event_or_a_redirect_gets_nothing() {
    logs();
    let (elsewhere, visits) = serve(|_| accepted()).await;
    let senders: Arc<Mutex<Vec<mpsc::UnboundedSender<Vec<u8>>>>> = Arc::default();
    let keep = senders.clone();
    let (port, _) = serve(move |_| {
        let (tx, rx) = mpsc::unbounded_channel();
        let endpoint = format!("event: endpoint\ndata: http://127.0.0.1:{elsewhere}/messages?sessionId=1\n\n");
        let _ = tx.send(endpoint.into_bytes());
        keep.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        Reply::Stream(head("200 OK", "text/event-stream", ""), rx)
    })
    .await;
    let server = resolve(&format!("http://127.0.0.1:{port}/t/${{TENANT}}/sse"), &[("X-Api-Key", "${KEY}")]);
    let error = Client::connect_http("old", &server, options()).await.expect_err("refused");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: Vec<Seen> = visits.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert!(sent.is_empty(), "nothing, and no key, is sent to the other origin: {sent:?}");
    let shown = error.to_string();
    assert!(
        shown.contains(&format!("http://127.0.0.1:{elsewhere}")) && shown.contains(&format!("http://127.0.0.1:{port}")),
        "both origins named: {shown}"
    );
    assert_no_secret("the error", &shown);

    // Nor does a redirect take the configured headers there.
    let (port, _) = serve(move |_| {
        let location = format!("location: http://127.0.0.1:{elsewhere}/mcp\r\ncontent-length: 0\r\n");
        Reply::Pieces(vec![head("307 Temporary Redirect", "text/plain", &location).into_bytes()])
    })
    .await;
    let server = resolve(&format!("http://127.0.0.1:{port}/t/${{TENANT}}/mcp"), &[("X-Api-Key", "${KEY}")]);
    let error = Client::connect_http("moved", &server, options()).await.expect_err("refused");
    let sent: Vec<Seen> = visits.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert!(sent.is_empty(), "nothing is sent to the other origin: {sent:?}");
    let shown = error.to_string();
    assert!(
        shown.contains(&format!(
            "a redirect from http://127.0.0.1:{port} to another origin, http://127.0.0.1:{elsewhere}"
        )),
        "{shown}"
    );
    assert_no_secret("the error", &shown);
    assert_no_secret("the logs", &logs());
    drop(senders);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn characters_cut_across_reads_arrive_whole_on_both_transports() {
    const TEXT: &str = "café 日本";
    /// `data: <answer>` cut inside each multi-byte character, and its CRLF cut in two.
    fn cut(id: &Value) -> Vec<Vec<u8>> {
        let event = format!("data: {}\r\n\r\n", rpc_result(id, text_result(TEXT)));
        let bytes = event.as_bytes();
        let mut cuts: Vec<usize> = Vec::new();
        for (i, c) in event.char_indices().filter(|(_, c)| c.len_utf8() > 1) {
            cuts.extend((1..c.len_utf8()).map(|k| i + k));
        }
        cuts.push(bytes.len() - 3);
        let mut pieces = Vec::new();
        let mut from = 0;
        for at in cuts {
            pieces.push(bytes[from..at].to_vec());
            from = at;
        }
        pieces.push(bytes[from..].to_vec());
        pieces
    }

    // Streamable HTTP: the answer as an SSE stream.
    let (port, _) = serve(|r| {
        handshake(r).unwrap_or_else(|| {
            let mut pieces = vec![head("200 OK", "text/event-stream", "").into_bytes()];
            pieces.extend(cut(&r.json()["id"]));
            Reply::Pieces(pieces)
        })
    })
    .await;
    let client = connect(port, "/mcp", options()).await.expect("connects");
    let result = client.call_tool("say", arguments(json!({}))).await.expect("answers");
    assert_eq!(result.text_content(), TEXT);
    client.close().await.expect("closes");

    // The old transport: every answer on the one stream.
    let stream: Arc<Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>> = Arc::default();
    let (port, _) = serve(move |r| {
        if r.method == "GET" {
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = tx.send(b"event: endpoint\ndata: /messages?sessionId=1\n\n".to_vec());
            *stream.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
            return Reply::Stream(head("200 OK", "text/event-stream", ""), rx);
        }
        let request = r.json();
        let guard = stream.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else { return whole("400 Bad Request", "text/plain", "no stream") };
        match request["method"].as_str() {
            Some("initialize") => {
                let _ = tx.send(format!("data: {}\n\n", rpc_result(&request["id"], initialize_result())).into_bytes());
            }
            Some("tools/call") => {
                for piece in cut(&request["id"]) {
                    let _ = tx.send(piece);
                }
            }
            _ => {}
        }
        accepted()
    })
    .await;
    let client = connect(port, "/sse", options()).await.expect("connects over HTTP+SSE");
    let result = client.call_tool("say", arguments(json!({}))).await.expect("answers");
    assert_eq!(result.text_content(), TEXT);
    client.close().await.expect("closes");
}

// ---------------------------------------------------------------------------------------------
// max_message_bytes.

const LIMIT: usize = 64 * 1024;

fn limited() -> ClientOptions {
    ClientOptions { max_message_bytes: LIMIT, ..options() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_answer_stops_at_max_message_bytes() {
    let (port, _) = serve(|r| {
        handshake(r).unwrap_or_else(|| match r.json()["params"]["name"].as_str() {
            Some("endless") => Reply::Endless(head("200 OK", "application/json", "")),
            _ => whole("200 OK", "application/json", &" ".repeat(LIMIT + 1)),
        })
    })
    .await;
    let client = connect(port, "/mcp", limited()).await.expect("connects");
    for tool in ["endless", "declared"] {
        let call = client.call_tool(tool, arguments(json!({})));
        let error =
            tokio::time::timeout(Duration::from_secs(5), call).await.expect("stops early").expect_err("too large");
        let shown = error.to_string();
        assert!(
            shown.contains("the answer to tools/call is larger than the limit of 65536 bytes (max_message_bytes)"),
            "{tool}: {shown}"
        );
    }
    client.close().await.expect("closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_event_over_max_message_bytes_is_skipped_and_the_stream_goes_on() {
    logs();
    let (port, _) = serve(|r| {
        handshake(r).unwrap_or_else(|| {
            let id = &r.json()["id"];
            let huge = json!({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"level": "info", "data": "x".repeat(LIMIT)}});
            let mut pieces = vec![head("200 OK", "text/event-stream", "").into_bytes()];
            pieces.push(format!("data: {huge}\n\n").into_bytes());
            match r.json()["params"]["name"].as_str() {
                // Only the answer is too large: the stream ends without one.
                Some("huge") => {
                    pieces.push(format!("data: {}\n\n", rpc_result(id, text_result(&"y".repeat(LIMIT)))).into_bytes())
                }
                _ => pieces.push(format!("data: {}\n\n", rpc_result(id, text_result("small"))).into_bytes()),
            }
            Reply::Pieces(pieces)
        })
    })
    .await;
    let client = connect(port, "/mcp", limited()).await.expect("connects");
    let result = client.call_tool("small", arguments(json!({}))).await.expect("the answer after the skipped event");
    assert_eq!(result.text_content(), "small");
    let error = tokio::time::timeout(Duration::from_secs(5), client.call_tool("huge", arguments(json!({}))))
        .await
        .expect("fails at once")
        .map(|r| r.text_content().len())
        .expect_err("no answer within the limit");
    assert!(error.to_string().contains("larger than the limit of 65536 bytes (max_message_bytes)"), "{error}");
    assert!(logs().contains("skipped an SSE event larger than max_message_bytes"), "warned");
    client.close().await.expect("closes");
}

#[derive(Debug)]
struct NoUser;

#[async_trait::async_trait]
impl Authorizer for NoUser {
    async fn authorize(&self, _: &str) -> Result<String, String> {
        Err("no user in this test".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_documents_stop_at_max_message_bytes() {
    for (endless, named) in [
        ("/.well-known/oauth-protected-resource/mcp", "the protected resource metadata at"),
        ("/.well-known/oauth-authorization-server", "the authorization server metadata at"),
        ("/register", "the registration answer of"),
        ("/token", "the token answer of"),
    ] {
        let port = Arc::new(OnceLock::<u16>::new());
        let known = port.clone();
        let (p, _) = serve(move |r| {
            let base = format!("http://127.0.0.1:{}", known.get().copied().unwrap_or_default());
            if r.target == endless {
                return Reply::Endless(head("200 OK", "application/json", ""));
            }
            match r.target.as_str() {
                "/mcp" => {
                    let challenge = format!(
                        "www-authenticate: Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\"\r\n"
                    );
                    let head = head("401 Unauthorized", "text/plain", &format!("{challenge}content-length: 0\r\n"));
                    Reply::Pieces(vec![head.into_bytes()])
                }
                "/.well-known/oauth-protected-resource/mcp" => whole(
                    "200 OK",
                    "application/json",
                    &json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]}).to_string(),
                ),
                "/.well-known/oauth-authorization-server" => whole(
                    "200 OK",
                    "application/json",
                    &json!({"issuer": base, "authorization_endpoint": format!("{base}/authorize"),
                            "token_endpoint": format!("{base}/token"), "registration_endpoint": format!("{base}/register")})
                    .to_string(),
                ),
                _ => whole("404 Not Found", "text/plain", ""),
            }
        })
        .await;
        let _ = port.set(p);
        // Registration is reached without a client id; the token endpoint with one (no user).
        let registered = endless != "/register";
        let oauth = OAuthConfig {
            redirect_uri: "http://127.0.0.1:1/callback".into(),
            client_name: "test".into(),
            client_id: registered.then(|| "c1".to_owned()),
            client_secret: registered.then(|| "cl13nt-s3cr3t".to_owned()),
            client_metadata_url: None,
            scopes: None,
            client_credentials: registered,
            jwt_bearer_assertion: None,
            enterprise: None,
            private_key_pem: None,
            authorizer: Arc::new(NoUser),
        };
        let options = ClientOptions { oauth: Some(Arc::new(oauth)), ..limited() };
        let server = HttpServer::new(format!("http://127.0.0.1:{p}/mcp"));
        let connecting = Client::connect_http("guarded", &server, options);
        let error = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .expect("stops early")
            .expect_err("not authorized");
        let shown = error.to_string();
        assert!(
            shown.contains(&format!("{named} http://127.0.0.1:{p}{endless} is larger than the limit of 65536 bytes")),
            "{endless}: {shown}"
        );
        assert!(!shown.contains("cl13nt-s3cr3t"), "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Log messages on a call's own stream.

/// Over Streamable HTTP a call's log messages arrive on its own response stream, so each of two
/// calls in flight at once gets its own (over stdio, where no message names its request, they
/// would belong to neither), in either era.
#[tokio::test]
async fn over_http_each_call_in_flight_gets_its_own_log_messages() {
    use futures_util::StreamExt as _;
    use mcp_core::protocol::{Implementation, LoggingLevel};
    use mcp_core::{CallEvent, Registry, Server, ToolContext, ToolError, tool};

    mcp_core::transport::install_crypto_provider();
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Tagged {
        tag: String,
        ms: u64,
    }
    let mut registry = Registry::new();
    registry.tool(tool("chatty", "logs its tag twice, with a wait between", |a: Tagged, cx: ToolContext| async move {
        cx.log(LoggingLevel::Info, None, json!(format!("{} begins", a.tag))).await;
        tokio::time::sleep(Duration::from_millis(a.ms)).await;
        cx.log(LoggingLevel::Info, None, json!(format!("{} ends", a.tag))).await;
        Ok::<_, ToolError>(a.tag)
    }));
    let server = Server::builder(Implementation::new("chatty", "1"), registry).build();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    tokio::spawn(mcp_core::transport::http::serve(
        server,
        addr,
        mcp_core::transport::http::HttpOptions::default(),
        None,
    ));
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for era in [EraPreference::Auto, EraPreference::Handshake] {
        let client = connect(port, "/mcp", ClientOptions { era, ..options() }).await.expect("connects");
        let call = |tag: &'static str, ms: u64| {
            let arguments = arguments(json!({"tag": tag, "ms": ms}));
            let mut stream =
                client.call_tool_stream_within("chatty", arguments, Duration::from_secs(10), Some(LoggingLevel::Info));
            async move {
                let mut seen = Vec::new();
                while let Some(event) = stream.next().await {
                    match event.expect("the call completes") {
                        CallEvent::Log(log) => seen.push(log.data),
                        CallEvent::Result(result) => seen.push(json!(result.text_content())),
                        _ => {}
                    }
                }
                seen
            }
        };
        let (a, b) = tokio::join!(call("a", 400), call("b", 100));
        assert_eq!(a, [json!("a begins"), json!("a ends"), json!("a")], "{era:?}");
        assert_eq!(b, [json!("b begins"), json!("b ends"), json!("b")], "{era:?}");
        client.close().await.expect("closes");
    }
}

/// Over HTTP a resource listen stream is a POST answered with SSE: its acknowledgement and
/// updates come on that response, and dropping the stream closes it, which ends the
/// subscription at the server.
#[tokio::test]
async fn a_resource_listen_stream_over_http_is_acknowledged_updated_and_ended_by_dropping_it() {
    use mcp_core::protocol::{Implementation, Resource, ResourceContents};
    use mcp_core::{Registry, Server, ToolContext, ToolError};

    /// Records what it is told of subscriptions.
    #[derive(Default, Clone)]
    struct Watched(Arc<Mutex<Vec<String>>>);

    #[async_trait::async_trait]
    impl mcp_core::registry::ResourceProvider for Watched {
        fn resources(&self) -> Vec<Resource> {
            Vec::new()
        }

        async fn read(&self, _uri: &str) -> Option<Result<Vec<ResourceContents>, ToolError>> {
            None
        }

        async fn subscribe(&self, uri: &str, _cx: &ToolContext) -> Option<Result<(), ToolError>> {
            self.0.lock().expect("events").push(format!("subscribe {uri}"));
            Some(if uri == "x://secret" { Err(ToolError::invalid_params("not for you")) } else { Ok(()) })
        }

        fn unsubscribed(&self, uri: &str) {
            self.0.lock().expect("events").push(format!("unsubscribed {uri}"));
        }
    }

    mcp_core::transport::install_crypto_provider();
    let watched = Watched::default();
    let mut registry = Registry::new();
    registry.resource(watched.clone());
    let server = Server::builder(Implementation::new("watched", "1"), registry).resource_updates(true).build();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let http = mcp_core::transport::http::HttpOptions::default();
    tokio::spawn(mcp_core::transport::http::serve(server.clone(), addr, http, None));
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let client =
        connect(port, "/mcp", ClientOptions { era: EraPreference::Auto, notifications: Some(notes_tx), ..options() })
            .await
            .expect("connects");
    assert_eq!(client.era(), mcp_core::protocol::Era::Modern);
    let events = || std::mem::take(&mut *watched.0.lock().expect("events"));

    let uris = ["x://a".to_owned(), "x://secret".to_owned()];
    let (honored, stream) = client.listen_to_resources(&uris, Duration::from_secs(10)).await.expect("acknowledged");
    assert_eq!(honored, ["x://a"], "the refused one is left out");
    assert_eq!(events(), ["subscribe x://a", "subscribe x://secret", "unsubscribed x://secret"]);
    server.notify_resource_updated("x://a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let update = loop {
        let note = tokio::time::timeout_at(deadline, notes.recv()).await.expect("an update").expect("open");
        // (The client's own stream of list changes is acknowledged here too.)
        let resources = note.params.as_ref().and_then(|p| p.get("notifications")?.get("resourceSubscriptions"));
        assert!(resources.is_none(), "the resource stream's acknowledgement is its own, not the caller's: {note:?}");
        if note.method == "notifications/resources/updated" {
            break note;
        }
    };
    assert_eq!(update.params.as_ref().and_then(|p| p.get("uri")), Some(&json!("x://a")));
    drop(stream);
    let mut seen = Vec::new();
    while seen.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = events();
    }
    assert_eq!(seen, ["unsubscribed x://a"], "closing the response ended the subscription");
}

/// A `2026-07-28` stream cannot be resumed: a listen stream whose response ends without an
/// answer (a server restarting, a proxy's idle cut) is opened again, not waited on for ever.
#[tokio::test]
async fn a_listen_stream_cut_without_an_answer_is_opened_again() {
    let listens = Arc::new(AtomicU64::new(0));
    let counted = listens.clone();
    // Kept open: the second stream's response never ends.
    let held: Arc<Mutex<Vec<mpsc::UnboundedSender<Vec<u8>>>>> = Arc::default();
    let holding = held.clone();
    let (port, _) = serve(move |request| {
        let body = request.json();
        let id = &body["id"];
        match body["method"].as_str().unwrap_or_default() {
            "server/discover" => {
                let result = json!({
                    "resultType": "complete",
                    "supportedVersions": ["2026-07-28"],
                    "capabilities": {"resources": {"subscribe": true}},
                    "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "cut", "version": "1"}}
                });
                whole("200 OK", "application/json", &rpc_result(id, result))
            }
            "subscriptions/listen" => {
                let ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                                 "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": id},
                                            "notifications": {"resourceSubscriptions": ["x://a"]}}});
                let event = format!("event: message\ndata: {ack}\n\n").into_bytes();
                let head = head("200 OK", "text/event-stream", "");
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Acknowledged, then cut.
                    Reply::Pieces(vec![head.into_bytes(), event])
                } else {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let _ = tx.send(event);
                    holding.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
                    Reply::Stream(head, rx)
                }
            }
            _ => whole("404 Not Found", "text/plain", ""),
        }
    })
    .await;
    let options = ClientOptions { era: EraPreference::Auto, ..options() };
    let client = connect(port, "/mcp", options).await.expect("connects");
    assert_eq!(client.era(), mcp_core::protocol::Era::Modern);
    let (honored, _stream) =
        client.listen_to_resources(&["x://a".to_owned()], Duration::from_secs(10)).await.expect("acknowledged");
    assert_eq!(honored, ["x://a"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listens.load(Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the cut stream was never opened again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
}
