//! Upstream servers as the gateway runs them: what their `${VAR}`s expanded to is masked in
//! everything said about them (an exit reason, a log message, a result), and a call is limited by
//! its server's configured timeout only. The upstream servers are fakes: a shell line, a few lines
//! of Python speaking JSON-RPC, an in-process server over HTTP.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{Registry, Server, ToolContext, ToolError, ToolSet, tool};
use mcp_gateway::{Gateway, GatewayConfig};
use serde_json::{Value, json};

/// The variable the configurations reference, and its value in the child that runs the tests.
const SECRET_VAR: &str = "MCPTK_TEST_UPSTREAM_SECRET";
const SECRET: &str = "s3cr3tvalue123";
/// A variable named as `mcptk import` names the references it writes (`CUSTOM_KEY`, `DB_PASS`),
/// set to [`SECRET`] too.
const KEY_VAR: &str = "MCPTK_TEST_CUSTOM_KEY";

/// Runs the test `name` again in a child of this test binary with [`SECRET_VAR`] set (a test
/// cannot set a variable in its own process: that is `unsafe`), and checks that it passed. True
/// here, where the test then ends; false in the child, where it runs.
fn rerun_with_secret(name: &str) -> bool {
    if std::env::var_os(SECRET_VAR).is_some() {
        return false;
    }
    let me = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(me)
        .args(["--exact", name, "--nocapture"])
        .env(SECRET_VAR, SECRET)
        .env(KEY_VAR, SECRET)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("1 passed"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    true
}

/// What is logged while it is held (on this thread: a `#[tokio::test]` runs every task on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A gateway over the servers `servers`, with its audit log in `dir`.
async fn gateway(dir: &tempfile::TempDir, servers: Value, timeouts: Value) -> Gateway {
    let config: GatewayConfig = serde_json::from_value(json!({
        "mcpServers": servers,
        "timeouts": timeouts,
        "restart": {"initial_delay_ms": 60_000, "max_delay_ms": 60_000},
        "audit": {"path": dir.path().join("audit.jsonl"), "fsync": false}
    }))
    .expect("a valid gateway configuration");
    Gateway::start(config).await.expect("starts")
}

/// What a call of `server`'s `tool` came to, as text: its result or why it failed.
async fn call(gateway: &Gateway, server: &str, tool: &str) -> String {
    let cx = ToolContext::detached().with_principal("tester");
    match gateway.call(server, tool, JsonObject::new(), cx).await {
        Ok(result) => result.text_content(),
        Err(e) => format!("{e:#}"),
    }
}

/// A server of the handshake era in Python that answers `leak` after logging its first argument
/// (`notifications/message`), `argv` with its arguments, and `slow` after `SLOW_SECS` seconds;
/// `crash` makes it say its first argument on stderr and exit.
const FAKE: &str = r#"
import json, os, sys, time
def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()
tools = [{"name": n, "inputSchema": {"type": "object"}} for n in ("leak", "slow", "crash", "argv")]
for line in sys.stdin:
    request = json.loads(line)
    method, id = request.get("method"), request.get("id")
    if id is None:
        continue
    if method == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": tools}
    elif method == "tools/call" and request["params"]["name"] == "leak":
        send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "started with " + sys.argv[1]}})
        result = {"content": [{"type": "text", "text": "leaked"}]}
    elif method == "tools/call" and request["params"]["name"] == "argv":
        result = {"content": [{"type": "text", "text": "argv " + " ".join(sys.argv[1:])}]}
    elif method == "tools/call" and request["params"]["name"] == "crash":
        sys.stderr.write("rejected " + sys.argv[1] + "\n")
        sys.exit(3)
    elif method == "tools/call":
        time.sleep(float(os.environ["SLOW_SECS"]))
        result = {"content": [{"type": "text", "text": "slept"}]}
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no " + method}})
        continue
    send({"jsonrpc": "2.0", "id": id, "result": result})
"#;

#[tokio::test]
async fn a_secret_expanded_into_an_argument_is_masked_in_the_exit_reason_the_audit_and_the_logs() {
    if rerun_with_secret("a_secret_expanded_into_an_argument_is_masked_in_the_exit_reason_the_audit_and_the_logs") {
        return;
    }
    let logs = Logs::default();
    let _capturing = logs.capture();
    let dir = tempfile::tempdir().expect("temp");
    let servers = json!({"up": {"command": "python3", "args": ["-c", FAKE, format!("--api-key=${{{SECRET_VAR}}}")],
        "env": {"SLOW_SECS": "0"}}});
    let gateway = gateway(&dir, servers, json!({})).await;
    // The exit reason (its last stderr lines) is the call's error.
    let said = call(&gateway, "up", "crash").await;
    assert!(said.contains("rejected --api-key=") && !said.contains(SECRET), "{said}");
    gateway.shutdown().await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("an audit log");
    assert!(audit.contains("rejected --api-key=") && !audit.contains(SECRET), "{audit}");
    let logged = logs.text();
    assert!(logged.contains("server is down") && !logged.contains(SECRET), "{logged}");
}

/// The names `mcptk import` gives the references it writes are masked by the same rule: an
/// argument `--key ${CUSTOM_KEY}` that a server repeats in its result does not reach the caller.
#[tokio::test]
async fn a_secret_named_as_import_names_it_is_masked_in_results() {
    if rerun_with_secret("a_secret_named_as_import_names_it_is_masked_in_results") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let servers = json!({"up": {"command": "python3", "args": ["-c", FAKE, "--key", format!("${{{KEY_VAR}}}")],
        "env": {"SLOW_SECS": "0"}}});
    let gateway = gateway(&dir, servers, json!({})).await;
    let said = call(&gateway, "up", "argv").await;
    assert!(said.starts_with("argv --key ") && !said.contains(SECRET), "{said}");
    gateway.shutdown().await;
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("an audit log");
    assert!(!audit.contains(SECRET), "{audit}");
}

#[tokio::test]
async fn a_log_message_of_an_upstream_server_is_masked_as_its_stderr_is() {
    if rerun_with_secret("a_log_message_of_an_upstream_server_is_masked_as_its_stderr_is") {
        return;
    }
    let logs = Logs::default();
    let _capturing = logs.capture();
    let dir = tempfile::tempdir().expect("temp");
    let servers = json!({"up": {"command": "python3", "args": ["-c", FAKE, format!("key=${{{SECRET_VAR}}}")],
        "env": {"SLOW_SECS": "0"}}});
    let gateway = gateway(&dir, servers, json!({})).await;
    assert_eq!(call(&gateway, "up", "leak").await, "leaked");
    gateway.shutdown().await;
    let logged = logs.text();
    assert!(
        logged.contains("server log") && logged.contains("started with key=") && !logged.contains(SECRET),
        "{logged}"
    );
}

#[tokio::test]
async fn a_secret_expanded_into_part_of_a_header_is_masked_in_results() {
    if rerun_with_secret("a_secret_expanded_into_part_of_a_header_is_masked_in_results") {
        return;
    }
    mcp_core::transport::install_crypto_provider();
    let mut tools = ToolSet::new();
    // A server that repeats the key it was given: its result goes through the gateway's redactor.
    tools.add(tool("echo_key", "Says its key.", |_: JsonObject, _cx: ToolContext| async move {
        Ok::<_, ToolError>(format!("my key is {SECRET}"))
    }));
    let mut registry = Registry::new();
    registry.tools = tools;
    let upstream = Server::builder(Implementation::new("echo", "1"), registry).build();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let serving = tokio::spawn(mcp_core::transport::http::serve(upstream, addr, Default::default(), None));
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().expect("temp");
    let servers = json!({"up": {"url": format!("http://{addr}/mcp"),
        "headers": {"Authorization": format!("Bearer ${{{SECRET_VAR}}}")}}});
    let gateway = gateway(&dir, servers, json!({})).await;
    let said = call(&gateway, "up", "echo_key").await;
    assert!(said.starts_with("my key is ") && !said.contains(SECRET), "{said}");
    gateway.shutdown().await;
    serving.abort();
}

/// Slow by nature: the limit it shows gone was 60 s.
#[tokio::test]
async fn a_call_may_take_as_long_as_its_servers_timeout_allows_past_a_minute() {
    let dir = tempfile::tempdir().expect("temp");
    let servers = json!({"up": {"command": "python3", "args": ["-c", FAKE, "-"], "env": {"SLOW_SECS": "62"}}});
    let gateway = gateway(&dir, servers, json!({"servers": {"up": 180}})).await;
    assert_eq!(call(&gateway, "up", "slow").await, "slept");
    gateway.shutdown().await;
}
