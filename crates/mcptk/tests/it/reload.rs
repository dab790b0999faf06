//! `mcptk serve --config FILE --http` reloads FILE on SIGHUP without dropping a client: the
//! handshake-era session and its notification stream carry on, a call in flight finishes, the
//! client is told the tool list changed, an unchanged server keeps its process, a new policy
//! applies to the next call; a file that does not load, or changes what is fixed at start,
//! leaves the running configuration in force.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Served, initialize, post, post_json};

const TOKEN: &str = "token-of-the-reload-test";

/// The processes the gateway `pid` started.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("proc").flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out.sort_unstable();
    out
}

/// The gateway's configuration at `path`, its servers in `servers.json` beside it (a
/// `servers_file`, read again on every reload): `child` always (with one more variable when
/// `child_changed`), `other` when asked; a policy denying `builtin__echo` when asked.
fn write_config(path: &Path, dir: &Path, other: bool, deny_echo: bool, audit: &str, child_changed: bool) {
    let upstream = json!({"command": crate::support::mcptk(), "args": ["serve", "builtin"]});
    let mut child = upstream.clone();
    if child_changed {
        child["env"] = json!({"MCPTK_RELOAD_TEST": "changed"});
    }
    let mut servers = json!({"child": child});
    if other {
        servers["other"] = upstream.clone();
    }
    let servers_file = dir.join("servers.json");
    std::fs::write(&servers_file, json!({"mcpServers": servers}).to_string()).expect("write");
    let mut config =
        json!({"native": {"builtin": true}, "audit": {"path": dir.join(audit)}, "servers_file": servers_file});
    if deny_echo {
        config["policy"] = json!({"rules": [
            {"name": "no-echo", "effect": "deny", "servers": ["builtin"], "tools": ["echo"]},
            {"name": "auditors", "effect": "allow", "principals": ["auditor"]},
            {"name": "the-rest", "effect": "allow"}
        ]});
    }
    std::fs::write(path, config.to_string()).expect("write");
}

/// `mcptk serve --config CONFIG --http` with its log (at `info`) in `log`.
async fn serve_logged(config: &str, log: &Path) -> Served {
    mcp_core::transport::install_crypto_provider();
    let port = crate::http::free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(crate::support::mcptk())
        .args(["serve", "--config", config, "--http", &addr])
        .env_remove("MCPTK_HTTP_TOKEN")
        .env("MCPTK_HTTP_TOKENS", format!("ops={TOKEN}"))
        .env("MCPTK_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("a log file"))
        .spawn()
        .expect("starts");
    let served = Served { child, url: format!("http://{addr}/mcp"), base: format!("http://{addr}") };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served
}

/// Waits (up to 20 s) until `log` says `what` `times` times, then returns the log.
async fn logged(log: &Path, what: &str, times: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(what).count() >= times {
            return text;
        }
        assert!(Instant::now() < deadline, "the log never said `{what}` {times} times:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hangup(served: &Served) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(served.child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("signalled");
}

/// The answer to `body` in `session`.
async fn ask(url: &str, session: &str, body: Value) -> Value {
    let answer =
        post_json(url, &body).bearer_auth(TOKEN).header("mcp-session-id", session).send().await.expect("answers");
    assert_eq!(answer.status(), 200, "{body}");
    answer.json().await.expect("json")
}

async fn tool_names(url: &str, session: &str) -> Vec<String> {
    let listed = ask(url, session, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    let tools = listed["result"]["tools"].as_array().cloned().unwrap_or_default();
    tools.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()
}

async fn echo(url: &str, session: &str) -> Value {
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "builtin__echo", "arguments": {"text": "hi"}}});
    ask(url, session, call).await["result"].clone()
}

/// The principals the web console describes the policy's decisions for.
async fn console_principals(base: &str) -> Vec<String> {
    let listing: Value = reqwest::Client::new()
        .get(format!("{base}/ui/api/tools"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let access = listing["tools"][0]["access"].as_array().cloned().unwrap_or_default();
    access.iter().filter_map(|a| a["principal"].as_str().map(str::to_owned)).collect()
}

/// Polls until `check` holds for the tool names, or fails after 20 s.
async fn until_tools(url: &str, session: &str, what: &str, check: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let names = tool_names(url, session).await;
        if check(&names) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_configuration_without_dropping_a_client() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("gateway.json");
    write_config(&path, dir.path(), false, false, "audit.jsonl", false);
    let config = path.display().to_string();
    let log = dir.path().join("mcptk.log");
    let served = serve_logged(&config, &log).await;
    let url = served.url.clone();

    // A handshake-era session with its notification stream open.
    let opened = post(&url, &initialize()).bearer_auth(TOKEN).send().await.expect("answers");
    let session = opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(&url, &note).bearer_auth(TOKEN).header("mcp-session-id", &session).send().await.expect("noted");
    let mut stream = reqwest::Client::new()
        .get(&url)
        .bearer_auth(TOKEN)
        .header("mcp-session-id", &session)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("a stream");
    assert_eq!(stream.status(), 200);
    let heard = Arc::new(Mutex::new(String::new()));
    let listener = {
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Ok(Some(chunk)) = stream.chunk().await {
                heard.lock().expect("lock").push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };
    until_tools(&url, &session, "the first configuration", |n| n.iter().any(|t| t == "child__echo")).await;
    let before = children(served.child.id());
    assert_eq!(before.len(), 1, "one upstream process: {before:?}");
    assert_eq!(echo(&url, &session).await["content"][0]["text"], "hi");
    let principals = console_principals(&served.base).await;
    assert!(principals.contains(&"ops".to_owned()) && !principals.contains(&"auditor".to_owned()), "{principals:?}");

    // A call in flight across the reload.
    let slow = {
        let (url, session) = (url.clone(), session.clone());
        tokio::spawn(async move {
            let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "builtin__slow", "arguments": {"steps": 10, "delay_ms": 100}}});
            ask(&url, &session, call).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A second server and a policy that denies echo.
    write_config(&path, dir.path(), true, true, "audit.jsonl", false);
    hangup(&served);
    until_tools(&url, &session, "the new server's tools", |n| n.iter().any(|t| t == "other__echo")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !heard.lock().expect("lock").contains("notifications/tools/list_changed") {
        assert!(Instant::now() < deadline, "no list_changed on the session's stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let denied = echo(&url, &session).await;
    assert_eq!(denied["isError"], true, "{denied}");
    assert!(denied["content"][0]["text"].as_str().is_some_and(|t| t.contains("policy rule `no-echo`")), "{denied}");
    // The console describes the principals the new policy names.
    let principals = console_principals(&served.base).await;
    assert!(principals.contains(&"auditor".to_owned()), "{principals:?}");
    let finished = slow.await.expect("joins");
    assert_eq!(finished["result"]["content"][0]["text"], "finished 10 steps", "{finished}");
    let after = children(served.child.id());
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&before[0]), "the unchanged server kept its process: {before:?} -> {after:?}");

    // A file that does not parse, then one that changes the audit log: both refused.
    const REFUSED: &str = "the configuration was not reloaded; the running one stays in force";
    std::fs::write(&path, "{ not json").expect("write");
    hangup(&served);
    logged(&log, REFUSED, 1).await;
    write_config(&path, dir.path(), false, false, "elsewhere.jsonl", false);
    hangup(&served);
    let text = logged(&log, REFUSED, 2).await;
    assert!(text.contains("`audit` cannot change while the gateway runs"), "{text}");
    assert!(tool_names(&url, &session).await.iter().any(|t| t == "other__echo"), "still the second configuration");
    assert_eq!(echo(&url, &session).await["isError"], true, "the policy in force is still the second one");

    // Back to the first: the removed server's tools go and its process stops.
    write_config(&path, dir.path(), false, false, "audit.jsonl", false);
    hangup(&served);
    until_tools(&url, &session, "the removed server's tools gone", |n| !n.iter().any(|t| t == "other__echo")).await;
    assert_eq!(echo(&url, &session).await["content"][0]["text"], "hi");
    let deadline = Instant::now() + Duration::from_secs(20);
    while children(served.child.id()) != before {
        assert!(Instant::now() < deadline, "the removed server still runs: {:?}", children(served.child.id()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A server whose settings changed is started again: another process.
    write_config(&path, dir.path(), false, false, "audit.jsonl", true);
    hangup(&served);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = children(served.child.id());
        if now.len() == 1 && now != before {
            break;
        }
        assert!(Instant::now() < deadline, "the changed server was not started again: {before:?} -> {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_tools(&url, &session, "the restarted server's tools", |n| n.iter().any(|t| t == "child__echo")).await;
    assert!(!listener.is_finished(), "the session's stream stayed open throughout");
    listener.abort();
}

/// A `2026-07-28` upstream announces no change of its tools on its own: the gateway asks for
/// them again when the list's `ttlMs` runs out, and serves what changed.
#[tokio::test]
async fn an_upstream_tool_list_is_asked_again_when_its_ttl_runs_out() {
    use mcp_core::protocol::{Implementation, JsonObject};
    use mcp_core::{Registry, Server, ToolContext, ToolError, tool};
    use std::sync::atomic::{AtomicBool, Ordering};

    mcp_core::transport::install_crypto_provider();
    let shown = Arc::new(AtomicBool::new(false));
    let mut registry = Registry::new();
    for name in ["first", "second"] {
        registry.tool(tool(name, "Answers its name.", move |_: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(name.to_owned())
        }));
    }
    // `second` is listed once `shown` is set, and nothing tells the clients.
    let flag = shown.clone();
    let server = Server::builder(Implementation::new("changing", "1"), registry)
        .list_ttl(Duration::from_millis(300))
        .tool_filter(Arc::new(move |_, t| t.name() != "second" || flag.load(Ordering::SeqCst)))
        .build();
    let port = crate::http::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let upstream = tokio::spawn(mcp_core::transport::http::serve(server, addr, Default::default(), None));
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().expect("temp");
    let config: mcp_gateway::GatewayConfig = serde_json::from_value(json!({
        "mcpServers": {"up": {"url": format!("http://{addr}/mcp")}},
        "audit": {"path": dir.path().join("audit.jsonl")},
    }))
    .expect("a config");
    let gateway = mcp_gateway::Gateway::start(config).await.expect("starts");
    assert_eq!(listed(&gateway).await, ["first"]);
    shown.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&gateway).await != ["first", "second"] {
        assert!(Instant::now() < deadline, "the gateway never asked again: {:?}", listed(&gateway).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gateway.shutdown().await;
    upstream.abort();
}

/// The tools of the server `up` in the gateway's catalog.
async fn listed(gateway: &mcp_gateway::Gateway) -> Vec<String> {
    let catalog = gateway.catalog(gateway.principal()).await;
    let (_, tools) = catalog.into_iter().find(|(server, _)| server == "up").expect("the server");
    tools.expect("running").into_iter().map(|t| t.name).collect()
}
