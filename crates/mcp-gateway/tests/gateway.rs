//! The gateway as a library: built in code, with tool sets and layers of the embedder's own, and
//! shut down cleanly. The upstream server is the Python SDK's (`cargo xtask setup` installs it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mcp_core::pipeline::{CallFuture, Next, PipelineTool, Routes, Stage, ToolCall, boxed, endpoint};
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{CallToolExt, Client, ClientOptions, Json, Registry, Server, ToolContext, ToolSet, tool};
use mcp_gateway::{Gateway, GatewayConfig};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn config(value: Value) -> GatewayConfig {
    serde_json::from_value(value).expect("a valid gateway configuration")
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

fn inventory() -> ToolSet {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Item {
        name: String,
    }
    let mut tools = ToolSet::new();
    tools.add(tool("count", "How many of an item are in stock", |item: Item, _cx: ToolContext| async move {
        Ok(Json(json!({ "name": item.name, "count": 42 })))
    }));
    tools.add(tool("secret", "The supplier's price list", |_: Value, _cx: ToolContext| async move {
        Ok("confidential".to_owned())
    }));
    tools
}

/// Counts the calls that reach it.
#[derive(Clone)]
struct Counting(Arc<AtomicUsize>);

mcp_core::stage_layer!(Counting);

impl Stage for Counting {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(inner.call(call))
    }
}

#[tokio::test]
async fn tools_and_layers_added_in_code_run_inside_the_policy_and_the_audit() {
    let dir = tempfile::tempdir().expect("temp");
    let audit = dir.path().join("audit.jsonl");
    let config = config(json!({
        "audit": {"path": audit, "fsync": false},
        "policy": {"rules": [
            {"name": "no-prices", "effect": "deny", "principals": ["*"], "servers": ["inventory"], "tools": ["secret"]},
            {"name": "stock", "effect": "allow", "principals": ["*"], "servers": ["inventory"], "tools": ["*"]}
        ]}
    }));
    let seen = Arc::new(AtomicUsize::new(0));
    let gateway = Gateway::builder(config)
        .tools("inventory", inventory())
        .layer(Counting(seen.clone()))
        .server(|b| b.page_size(1))
        .start()
        .await
        .expect("starts");

    let listed: Vec<String> = gateway.server().tools().iter().map(|t| t.name().to_owned()).collect();
    assert!(listed.contains(&"inventory__count".to_owned()), "{listed:?}");
    let stock: Value =
        decode(gateway.call("inventory", "count", args(json!({"name": "bolt"})), cx()).await.expect("called"));
    assert_eq!(stock, json!({"name": "bolt", "count": 42}));
    // The embedder's layer sees what the policy lets through, and only that.
    let denied = gateway.call("inventory", "secret", JsonObject::new(), cx()).await.expect("a result");
    assert!(denied.is_error() && denied.text_content().contains("no-prices"), "{}", denied.text_content());
    let invalid = gateway.call("inventory", "count", args(json!({"name": 7})), cx()).await.expect("a result");
    assert!(invalid.is_error(), "the schema check still runs after the embedder's layer");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "the allowed calls (valid or not) and not the denied one");
    gateway.shutdown().await;

    let records = mcp_audit::read_records(&audit).expect("audit records");
    let outcomes: Vec<(&str, &str, &str)> =
        records.iter().map(|r| (r.body.tool.as_str(), r.body.decision.as_str(), r.body.outcome.as_str())).collect();
    assert_eq!(
        outcomes,
        [("count", "allow", "ok"), ("secret", "deny", "denied"), ("count", "allow", "invalid_arguments")],
        "every call, allowed or not, is audited"
    );
}

fn cx() -> ToolContext {
    ToolContext::detached().with_principal("embedder")
}

fn decode(result: mcp_core::protocol::CallToolResult) -> Value {
    mcp_core::typed::decode_result("count", &result).expect("decodes")
}

#[tokio::test]
async fn a_name_already_taken_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp");
    let config =
        config(json!({"native": {"fs": {"roots": [dir.path()]}}, "audit": {"path": dir.path().join("a.jsonl")}}));
    let err = Gateway::builder(config).tools("fs", inventory()).start().await.expect_err("a clash");
    assert!(err.to_string().contains("`fs` is already taken"), "{err}");
}

#[tokio::test]
async fn typed_calls_go_through_the_gateway_as_through_any_caller() {
    let dir = tempfile::tempdir().expect("temp");
    let config = config(json!({"audit": {"path": dir.path().join("a.jsonl"), "fsync": false}}));
    let gateway = Gateway::builder(config).tools("inventory", inventory()).start().await.expect("starts");
    // The served tool set is a `CallTool`: exposed names, the whole pipeline.
    let served = gateway.server().tools();
    let stock: Value = served.call_typed("inventory__count", &json!({"name": "nut"})).await.expect("typed");
    assert_eq!(stock["count"], 42);
    gateway.shutdown().await;
}

/// `inventory`'s `count` as another pipeline serves it: a tool whose name (`stock__count`) is not
/// its definition's (`count`), as an embedder nesting one gateway's tools in another has.
fn nested_inventory() -> ToolSet {
    let mut routes = Routes::new();
    routes.add("stock", Arc::new(inventory()));
    let count = inventory().get("count").expect("count").definition().clone();
    let mut nested = ToolSet::new();
    nested.add(PipelineTool::new("stock__count", "stock", count, boxed(endpoint(Arc::new(routes)))));
    nested
}

/// A client of `server`, over an in-memory pipe.
async fn client_of(server: &Server) -> Client {
    client_with(server, ClientOptions::default()).await
}

/// A client of `server` with `options`, over an in-memory pipe.
async fn client_with(server: &Server, options: ClientOptions) -> Client {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(r, w).await });
    let (r, w) = tokio::io::split(client_io);
    Client::connect("gateway", r, w, options).await.expect("connects")
}

/// What a client of `server` is listed, and the result of calling `name` with `arguments`.
async fn list_and_call(server: &Server, name: &str, arguments: Value) -> (Vec<String>, Value) {
    let client = client_of(server).await;
    let listed = client.list_tools().await.expect("lists").into_iter().map(|t| t.name).collect();
    let result = client.call_tool(name, args(arguments)).await.expect("a result");
    assert!(!result.is_error(), "`{name}`: {}", result.text_content());
    (listed, decode(result))
}

/// A tool in a set added in code whose name is not its definition's is listed, prefixed,
/// decided by the policy, called (by exposed name and through `Gateway::call`), catalogued and
/// audited under its own name, the one its set finds it by.
#[tokio::test]
async fn a_tool_named_apart_from_its_definition_is_listed_and_called_by_its_name() {
    let dir = tempfile::tempdir().expect("temp");
    let audit = dir.path().join("audit.jsonl");
    let config = config(json!({
        "audit": {"path": audit, "fsync": false},
        "policy": {"rules": [
            {"name": "stock", "effect": "allow", "principals": ["*"], "servers": ["depot"], "tools": ["stock__count"]}
        ]}
    }));
    let gateway = Gateway::builder(config).tools("depot", nested_inventory()).start().await.expect("starts");

    let (listed, stock) = list_and_call(gateway.server(), "depot__stock__count", json!({"name": "bolt"})).await;
    assert_eq!(listed, ["depot__stock__count"], "listed under its own name, and the policy allows it by that name");
    assert_eq!(stock, json!({"name": "bolt", "count": 42}));
    let called = gateway.call("depot", "stock__count", args(json!({"name": "nut"})), cx()).await.expect("called");
    assert_eq!(decode(called)["count"], 42);
    let catalog = gateway.catalog("embedder").await;
    let depot = catalog.iter().find(|(server, _)| server == "depot").and_then(|(_, tools)| tools.as_ref().ok());
    let names: Vec<&str> = depot.expect("depot runs").iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["stock__count"], "the catalog names it as `Gateway::call` takes it");
    gateway.shutdown().await;

    let records = mcp_audit::read_records(&audit).expect("audit records");
    let tools: Vec<(&str, &str)> = records.iter().map(|r| (r.body.tool.as_str(), r.body.outcome.as_str())).collect();
    assert_eq!(tools, [("stock__count", "ok"), ("stock__count", "ok")]);
}

/// One server served on its own keeps its tools' names, a tool named apart from its definition
/// included: listed and called by that name.
#[tokio::test]
async fn a_server_served_alone_lists_and_calls_each_tool_by_its_name() {
    let registry = Registry { tools: nested_inventory(), ..Registry::default() };
    let registry = mcp_gateway::serve_alone(registry, "depot", None, Duration::from_secs(10));
    let server = Server::builder(Implementation::new("depot", "1"), registry).build();
    let (listed, stock) = list_and_call(&server, "stock__count", json!({"name": "bolt"})).await;
    assert_eq!(listed, ["stock__count"]);
    assert_eq!(stock, json!({"name": "bolt", "count": 42}));
}

/// The pid of a live process, or `None` once it has exited and been reaped.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

/// A gateway in front of the Python SDK's server as `py`, and that server's pid.
async fn gateway_over_python(dir: &tempfile::TempDir) -> (Gateway, i32) {
    let python = root().join(".tools/py-mcp2/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let pid_file = dir.path().join("upstream.pid");
    let script = root().join("tests/python/server_modern.py");
    let command = format!("echo $$ > '{}'; exec '{}' '{}'", pid_file.display(), python.display(), script.display());
    let config = config(json!({
        "mcpServers": {"py": {"command": "sh", "args": ["-c", command]}},
        "audit": {"path": dir.path().join("a.jsonl"), "fsync": false}
    }));
    let gateway = Gateway::start(config).await.expect("starts");
    let pid: i32 = std::fs::read_to_string(&pid_file).expect("pid").trim().parse().expect("a pid");
    (gateway, pid)
}

/// A gateway in front of the Python SDK 2.x server (`2026-07-28`) as `py`, with policy `rules`.
fn modern_python(dir: &tempfile::TempDir, rules: Value) -> GatewayConfig {
    let python = root().join(".tools/py-mcp2/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let script = root().join("tests/python/server_modern.py");
    config(json!({
        "mcpServers": {"py": {"command": python, "args": [script]}},
        "audit": {"path": dir.path().join("a.jsonl"), "fsync": false},
        "policy": {"default": "allow", "rules": rules}
    }))
}

/// A reload whose policy refuses reading a resource stops its updates to the subscribers that
/// may no longer read it, whether they subscribed with `resources/subscribe` or on a listen
/// stream; the subscriptions stay, and their updates come again once a policy allows the read.
#[tokio::test]
async fn each_resource_update_is_decided_by_the_policy_in_force() {
    use mcp_core::EraPreference;
    use mcp_core::protocol::Notification;
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

    let dir = tempfile::tempdir().expect("temp");
    let with_rules = |rules: Value| modern_python(&dir, rules);
    let gateway = Gateway::start(with_rules(json!([]))).await.expect("starts");
    let greeting = "memo://greeting";
    // One client of each era: `resources/subscribe`, and a listen stream.
    let (older_tx, mut older_notes) = unbounded_channel();
    let options = ClientOptions { era: EraPreference::Handshake, notifications: Some(older_tx), ..Default::default() };
    let older = client_with(gateway.server(), options).await;
    older.request::<_, Value>("resources/subscribe", &json!({"uri": greeting})).await.expect("subscribed");
    let (modern_tx, mut modern_notes) = unbounded_channel();
    let options = ClientOptions { era: EraPreference::Modern, notifications: Some(modern_tx), ..Default::default() };
    let modern = client_with(gateway.server(), options).await;
    let (honored, _stream) =
        modern.listen_to_resources(&[greeting.to_owned()], Duration::from_secs(10)).await.expect("listening");
    assert_eq!(honored, [greeting]);

    async fn updates(notes: &mut UnboundedReceiver<Notification>, wait: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = 0;
        while let Ok(Some(note)) = tokio::time::timeout_at(deadline, notes.recv()).await {
            seen += usize::from(note.method == "notifications/resources/updated");
        }
        seen
    }
    let touch = || async {
        let touched = gateway.call("py", "touch", args(json!({"uri": greeting})), cx()).await.expect("called");
        assert!(!touched.is_error(), "{}", touched.text_content());
    };
    touch().await;
    assert_eq!(updates(&mut older_notes, Duration::from_secs(2)).await, 1);
    assert_eq!(updates(&mut modern_notes, Duration::from_secs(1)).await, 1);

    let denied = json!([{"name": "no-greeting", "effect": "deny", "servers": ["py"], "tools": ["resources/read"],
                         "arguments": {"uri": {"glob": greeting}}}]);
    gateway.reload(with_rules(denied)).await.expect("reloads");
    touch().await;
    assert_eq!(updates(&mut older_notes, Duration::from_secs(2)).await, 0, "refused now");
    assert_eq!(updates(&mut modern_notes, Duration::from_secs(1)).await, 0, "refused now");

    gateway.reload(with_rules(json!([]))).await.expect("reloads");
    touch().await;
    assert_eq!(updates(&mut older_notes, Duration::from_secs(2)).await, 1, "allowed again");
    assert_eq!(updates(&mut modern_notes, Duration::from_secs(1)).await, 1, "allowed again");
    gateway.shutdown().await;
}

/// A listen stream that names many resources of a `2026-07-28` server costs that server one
/// listen stream for them all, not one per URI; when it ends, the server's stream ends too,
/// without one opened per URI let go. Each update comes once.
#[tokio::test]
async fn many_subscriptions_at_once_cost_a_modern_server_one_listen_stream() {
    use mcp_core::EraPreference;

    let dir = tempfile::tempdir().expect("temp");
    let gateway = Gateway::start(modern_python(&dir, json!([]))).await.expect("starts");
    // Listen streams open at the server now, and opened since it started.
    let streams = || async {
        let listening = gateway.call("py", "listening", JsonObject::new(), cx()).await.expect("called");
        let counts = listening.text_content();
        let (open, opened) = counts.split_once('/').expect("open/opened");
        (open.parse::<usize>().expect("a count"), opened.parse::<usize>().expect("a count"))
    };
    // The gateway's own stream, for list changes.
    assert_eq!(streams().await, (1, 1));

    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let options = ClientOptions { era: EraPreference::Modern, notifications: Some(notes_tx), ..Default::default() };
    let client = client_with(gateway.server(), options).await;
    let uris: Vec<String> = (0..40).map(|n| format!("memo://note-{n}")).collect();
    let (honored, stream) = client.listen_to_resources(&uris, Duration::from_secs(10)).await.expect("listening");
    assert_eq!(honored.len(), 40, "{honored:?}");
    let (open, opened) = streams().await;
    assert_eq!(open, 2, "one stream at the server for the 40 URIs");
    assert!(opened <= 3, "{opened} listen streams were opened for 40 URIs named at once");

    let touched = gateway.call("py", "touch", args(json!({"uri": "memo://note-7"})), cx()).await.expect("called");
    assert!(!touched.is_error(), "{}", touched.text_content());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut updated = Vec::new();
    while let Ok(Some(note)) = tokio::time::timeout_at(deadline, notes.recv()).await {
        if note.method == "notifications/resources/updated" {
            updated.push(note.params.and_then(|p| p.get("uri").cloned()).unwrap_or_default());
        }
    }
    assert_eq!(updated, [json!("memo://note-7")], "once");

    // Let go: the server's stream ends, and no new one is opened per URI on the way.
    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (open, opened) = loop {
        let (open, opened) = streams().await;
        if open == 1 || tokio::time::Instant::now() > deadline {
            break (open, opened);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(open, 1, "the resource stream at the server ended");
    assert!(opened <= 4, "{opened} listen streams were opened in all");
    gateway.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_every_upstream_server_and_its_process() {
    let dir = tempfile::tempdir().expect("temp");
    let (gateway, pid) = gateway_over_python(&dir).await;
    let product = gateway.call("py", "multiply", args(json!({"a": 6, "b": 7})), cx()).await.expect("called");
    assert_eq!(product.text_content(), "42");
    assert!(alive(pid), "the upstream server runs");

    tokio::time::timeout(Duration::from_secs(15), gateway.shutdown()).await.expect("shuts down in time");
    assert!(!alive(pid), "the upstream server's process is gone after shutdown");
}

#[tokio::test]
async fn dropping_a_gateway_stops_its_upstream_servers_too() {
    let dir = tempfile::tempdir().expect("temp");
    let (gateway, pid) = gateway_over_python(&dir).await;
    assert!(alive(pid));
    drop(gateway);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(pid), "the upstream server's process is gone after the gateway was dropped");
}

/// `audit.replica` names this gateway's chain in the audit database (here SQLite), which
/// `verify_database` then checks; a bad id is refused when the configuration is read.
#[tokio::test]
async fn the_configured_replica_id_names_the_chain_in_the_audit_database() {
    let dir = tempfile::tempdir().expect("temp");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
    let audit = json!({"path": dir.path().join("a.jsonl"), "fsync": false, "sql": db, "replica": "gw-7"});
    let gateway = Gateway::builder(config(json!({"audit": audit}))).tools("inventory", inventory()).start().await;
    let gateway = gateway.expect("starts");
    let stock: Value =
        gateway.server().tools().call_typed("inventory__count", &json!({"name": "nut"})).await.expect("typed");
    assert_eq!(stock["count"], 42);
    gateway.shutdown().await;
    let report = mcp_audit::verify_database(&db).await.expect("verifies");
    assert!(report.ok(), "{report:?}");
    let replicas: Vec<_> = report.replicas.iter().map(|r| (r.replica.as_str(), r.records)).collect();
    assert_eq!(replicas, [("gw-7", 1)]);

    let file = dir.path().join("gateway.json");
    std::fs::write(&file, json!({"audit": {"replica": "gw 7"}}).to_string()).expect("writes");
    let err = GatewayConfig::load(&file).expect_err("refused").to_string();
    assert!(err.contains("audit.replica") && err.contains("without spaces"), "{err}");
}

/// A configuration made in code is checked as a file is: a timeout of 0 would end every call at
/// once, and the gateway does not start with it.
#[tokio::test]
async fn a_configuration_made_in_code_is_checked_as_a_file_is() {
    let dir = tempfile::tempdir().expect("temp");
    let mut made = config(json!({"audit": {"path": dir.path().join("a.jsonl"), "fsync": false}}));
    made.timeouts.default_secs = 0;
    let Err(refused) = Gateway::start(made).await else { panic!("a timeout of 0 was accepted") };
    let shown = format!("{refused:?}");
    assert!(shown.contains("timeouts.default_secs must be at least 1"), "{shown}");
}

/// The timeout counts a call's wait for a turn: with one call at a time and a one-second timeout,
/// three calls to a tool that never ends all end at one second, each saying so, instead of at
/// one, two and three seconds (when the timeout ran only once a call had its turn). Paused time:
/// the seconds are the runtime's, exact, not the machine's.
#[tokio::test(start_paused = true)]
async fn a_call_waiting_for_its_turn_ends_within_its_timeout() {
    let dir = tempfile::tempdir().expect("temp");
    let config = config(json!({
        "audit": {"path": dir.path().join("a.jsonl"), "fsync": false},
        "concurrency": 1,
        "timeouts": {"default_secs": 1}
    }));
    let mut hung = ToolSet::new();
    hung.add(tool("wait", "Never ends", |_: Value, _cx: ToolContext| async move {
        std::future::pending::<()>().await;
        Ok("never".to_owned())
    }));
    let gateway = Gateway::builder(config).tools("hung", hung).start().await.expect("starts");
    let started = tokio::time::Instant::now();
    let call = || async {
        let result = gateway.call("hung", "wait", args(json!({})), cx()).await;
        (started.elapsed(), result)
    };
    let (first, second, third) = tokio::join!(call(), call(), call());
    for (elapsed, result) in [first, second, third] {
        let result = result.expect("a tool error");
        let error = result.text_content();
        assert!(result.is_error() && error.contains("did not finish within 1s"), "{error}");
        assert_eq!(elapsed.as_secs(), 1, "ended after {elapsed:?}: {error}");
    }
    gateway.shutdown().await;
}

/// A server that has not come up lists no tools, so a call to one of them cannot be routed; it
/// says which server is not running and why, rather than only that the tool is unknown (which
/// reads like a typo). A name of no server stays plainly unknown.
#[tokio::test]
async fn a_call_to_a_server_that_has_not_come_up_says_why() {
    let dir = tempfile::tempdir().expect("temp");
    let missing = dir.path().join("no-such-server");
    let allowed = config(json!({
        "mcpServers": {"down": {"command": missing}},
        "readiness": {"optional": ["down"]},
        "audit": {"path": dir.path().join("a.jsonl"), "fsync": false}
    }));
    let gateway = Gateway::builder(allowed).tools("inventory", inventory()).start().await.expect("starts");
    let client = client_of(gateway.server()).await;
    let error = client.call_tool("down__work", JsonObject::new()).await.expect_err("not routed").to_string();
    assert!(error.contains("unknown tool `down__work`: server `down` is not running ("), "{error}");
    assert!(error.contains("no-such-server") && error.contains("restarting in"), "{error}");
    let error = client.call_tool("elsewhere__work", JsonObject::new()).await.expect_err("unknown").to_string();
    assert!(error.contains("unknown tool `elsewhere__work` (code -32602)"), "{error}");
    gateway.shutdown().await;

    // A principal the policy keeps from that server is told nothing more than that the tool is
    // unknown: why the server is down may name hosts.
    let denied = config(json!({
        "mcpServers": {"down": {"command": missing}},
        "readiness": {"optional": ["down"]},
        "policy": {"rules": [{"name": "not-down", "effect": "deny", "servers": ["down"]}], "default": "allow"},
        "audit": {"path": dir.path().join("b.jsonl"), "fsync": false}
    }));
    let gateway = Gateway::builder(denied).tools("inventory", inventory()).start().await.expect("starts");
    let client = client_of(gateway.server()).await;
    let error = client.call_tool("down__work", JsonObject::new()).await.expect_err("not routed").to_string();
    assert!(error.contains("unknown tool `down__work` (code -32602)") && !error.contains("no-such-server"), "{error}");
    gateway.shutdown().await;
}

/// Names in rules and timeouts are checked when the gateway starts, with the tool sets added in
/// code counted as servers. `mcptk config check` refuses a mistyped one; a start only warns, so
/// that a rule for a server this machine lacks (or a reload that removed it) stops nothing.
#[tokio::test]
async fn a_rule_naming_no_server_does_not_stop_the_start() {
    let dir = tempfile::tempdir().expect("temp");
    let with = |servers: Value| {
        config(json!({
            "audit": {"path": dir.path().join("a.jsonl"), "fsync": false},
            "policy": {"rules": [{"name": "deny-it", "effect": "deny", "servers": servers}], "default": "allow"}
        }))
    };
    let config = with(json!(["inventory"]));
    let servers = config.servers().expect("servers");
    config.check_names(&servers, &["inventory"]).expect("a tool set added in code is a server");
    let gateway = Gateway::builder(config).tools("inventory", inventory()).start().await;
    gateway.expect("starts").shutdown().await;
    let config = with(json!(["inventroy"]));
    let err = config.check_names(&servers, &["inventory"]).expect_err("a typo").to_string();
    assert!(err.contains("did you mean `inventory`?"), "{err}");
    let gateway = Gateway::builder(config).tools("inventory", inventory()).start().await;
    let gateway = gateway.expect("starts, warning");
    // The rule applies to no server: the call it was meant to deny is allowed.
    let stock: Value =
        gateway.server().tools().call_typed("inventory__count", &json!({"name": "nut"})).await.expect("typed");
    assert_eq!(stock["count"], 42);
    gateway.shutdown().await;
}
