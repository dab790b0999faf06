//! A real server process that crashes, hangs, prints junk or sends an oversized message, and a
//! configuration that names a missing variable: each ends in a clear error, promptly, and the
//! connection keeps working where it can.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mcp_core::config::StdioServer;
use mcp_core::protocol::JsonObject;
use mcp_core::{Client, ClientOptions, EraPreference, Error, McpConfig};

fn fixture() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/misbehaving_server.py").display().to_string()
}

async fn start(mode: &str, extra: &[&str], options: ClientOptions) -> Client {
    let mut args = vec![fixture(), mode.to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Client::spawn("faulty", &StdioServer::new("python3", args), options).await.expect("handshake succeeds")
}

#[tokio::test]
async fn a_server_that_exits_mid_call_fails_every_pending_call_with_its_status_and_stderr() {
    let client = start("exit", &[], ClientOptions::default()).await;
    let started = Instant::now();
    // Three calls in flight; the first makes the server exit, so all three must fail at once.
    let calls = (0..3).map(|_| client.call_tool("work", JsonObject::new()));
    let results = futures_util::future::join_all(calls).await;
    assert!(started.elapsed() < Duration::from_secs(5), "pending calls must fail promptly");
    for result in results {
        let err = result.expect_err("the server died");
        let text = err.to_string();
        assert!(matches!(err, Error::Closed { .. }), "{text}");
        assert!(text.contains("server `faulty`"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("fatal: simulated crash while working"), "{text}");
    }
    // Later calls fail immediately with the same explanation.
    let later = client.call_tool("work", JsonObject::new()).await.expect_err("closed");
    assert!(later.to_string().contains("exit status: 3"), "{later}");
}

#[tokio::test]
async fn a_hung_call_times_out_and_the_server_is_told_to_cancel() {
    let log = std::env::temp_dir().join(format!("mcp-core-hang-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let options = ClientOptions { request_timeout: Duration::from_millis(300), ..ClientOptions::default() };
    let client = start("hang", &[log.to_str().expect("utf-8 temp path")], options).await;
    let started = Instant::now();
    let err = client.call_tool("work", JsonObject::new()).await.expect_err("never answered");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(err.to_string(), "server `faulty` did not answer tools/call within 300ms");

    // The server must receive notifications/cancelled naming the request it was sent.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (call_id, cancelled) = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let messages: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let call = messages.iter().find(|m| m["method"] == "tools/call").map(|m| m["id"].clone());
        let cancel = messages.iter().find(|m| m["method"] == "notifications/cancelled").cloned();
        if let (Some(call), Some(cancel)) = (call, cancel) {
            break (call, cancel);
        }
        assert!(Instant::now() < deadline, "no notifications/cancelled reached the server:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(cancelled["params"]["requestId"], call_id);
    // The connection is still usable after a timeout.
    assert_eq!(client.list_tools().await.expect("still connected").len(), 1);
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn junk_on_the_servers_stdout_is_skipped() {
    let client = start("garbage", &[], ClientOptions::default()).await;
    for n in 1..=3 {
        let result = client.call_tool("work", JsonObject::new()).await.expect("junk is ignored");
        assert_eq!(result.text_content(), format!("call {n} ok"));
    }
}

#[tokio::test]
async fn an_oversized_message_from_the_server_is_refused_without_losing_the_connection() {
    let options = ClientOptions {
        max_message_bytes: 1024 * 1024,
        request_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let client = start("oversized", &[], options).await;
    // The 2 MiB answer is dropped, so that call cannot complete: it times out instead of the
    // client buffering the whole line.
    let err = client.call_tool("work", JsonObject::new()).await.expect_err("oversized answer is refused");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let next = client.call_tool("work", JsonObject::new()).await.expect("the connection survives");
    assert_eq!(next.text_content(), "call 2 ok");
}

#[tokio::test]
async fn a_missing_variable_is_named_and_its_neighbours_values_are_not_shown() {
    let text = r#"{"mcpServers": {"gh": {"command": "python3", "args": ["-c", "pass"],
        "env": {"TOKEN": "${MCP_CORE_TEST_UNSET_VARIABLE}", "OTHER": "${HOME}"}}}}"#;
    let config = McpConfig::parse(text, "mcp_config.json").expect("valid json");
    let err = Client::from_config(&config, "gh", ClientOptions::default()).await.expect_err("variable is unset");
    let message = err.to_string();
    assert_eq!(
        message,
        "server `gh`: environment variable `MCP_CORE_TEST_UNSET_VARIABLE` is not set (referenced in env.TOKEN)"
    );
    if let Ok(home) = std::env::var("HOME") {
        assert!(!message.contains(&home));
    }
}

#[tokio::test]
async fn a_command_that_does_not_exist_is_a_spawn_error_naming_it() {
    let server = StdioServer::new("/nonexistent/mcp-server-binary", Vec::<String>::new());
    let err = Client::spawn("ghost", &server, ClientOptions::default()).await.expect_err("cannot start");
    assert!(err.to_string().starts_with("server `ghost`: cannot start `/nonexistent/mcp-server-binary`"), "{err}");
}

#[tokio::test]
async fn a_secret_the_server_prints_is_masked_in_the_exit_error() {
    let mut server = StdioServer::new(
        "python3",
        ["-c".to_owned(), "import os, sys; sys.stderr.write('auth failed with token ' + os.environ['API_TOKEN'] + '\\n'); sys.exit(4)".to_owned()],
    );
    server.env.insert("API_TOKEN".into(), "tok-3f9a8b7c6d5e".into());
    let options = ClientOptions { connect_timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let err = Client::spawn("leaky", &server, options).await.expect_err("the server exits");
    let text = err.to_string();
    assert!(text.contains("auth failed with token [REDACTED]"), "{text}");
    assert!(!text.contains("tok-3f9a8b7c6d5e"), "{text}");
}

#[tokio::test]
async fn a_server_whose_stderr_is_not_utf8_keeps_serving_and_its_exit_is_explained() {
    // Binary junk and a 1 MiB line on stderr first; then a well-behaved handshake and calls.
    let script = r#"
import sys, json
sys.stderr.buffer.write(b"\xff\xfe not utf-8\n" + b"y" * (1 << 20) + b"\n")
sys.stderr.flush()
for raw in sys.stdin:
    msg = json.loads(raw)
    if msg.get("method") == "initialize":
        result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "noisy", "version": "1"}}
    elif msg.get("method") == "tools/call":
        sys.stderr.buffer.write(b"\xc3 still noisy\n")
        sys.stderr.flush()
        result = {"content": [{"type": "text", "text": "fine"}]}
    elif "id" in msg:
        result = {}
    else:
        continue
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
    if msg.get("method") == "tools/call" and msg["params"]["name"] == "quit":
        sys.stderr.write("bye\n")
        sys.exit(4)
"#;
    let options = ClientOptions { era: mcp_core::EraPreference::Handshake, ..ClientOptions::default() };
    let client = Client::spawn("noisy", &StdioServer::new("python3", ["-c", script]), options).await.expect("starts");
    for _ in 0..3 {
        let result = client.call_tool("work", JsonObject::new()).await.expect("still serving");
        assert_eq!(result.text_content(), "fine");
    }
    let _ = client.call_tool("quit", JsonObject::new()).await;
    let err = client.call_tool("work", JsonObject::new()).await.expect_err("gone");
    let text = err.to_string();
    assert!(text.contains("exit status: 4") && text.contains("bye"), "{text}");
    assert!(text.contains("[line cut]") && text.contains('\u{fffd}'), "{text}");
}

/// A server started through a wrapper that leaves a process of its own running (as `npx` leaves
/// `node`), one that holds the server's stdout and stderr open: `sleep` here, its id written to
/// `pid_file`.
#[cfg(unix)]
fn wrapped(mode: &str, pid_file: &std::path::Path) -> StdioServer {
    let script = r#"sleep 300 & echo $! > "$1"; shift; exec python3 "$@""#;
    let pid_file = pid_file.display().to_string();
    StdioServer::new("sh", ["-c".to_owned(), script.to_owned(), "sh".to_owned(), pid_file, fixture(), mode.to_owned()])
}

/// Whether the process whose id is in `pid_file` still runs (a zombie waiting for its reaper
/// counts as gone).
#[cfg(unix)]
fn running(pid_file: &std::path::Path) -> bool {
    let pid = std::fs::read_to_string(pid_file).expect("the wrapper wrote its child's id");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // The state follows the command name in parentheses: `1234 (sleep) S ...`.
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    matches!(state, Some(state) if state != 'Z' && state != 'X')
}

#[cfg(unix)]
async fn ends_within(pid_file: &std::path::Path, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while running(pid_file) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[cfg(unix)]
fn pid_file(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mcp-core-{test}-{}.pid", std::process::id()))
}

#[cfg(unix)]
#[tokio::test]
async fn closing_or_dropping_a_client_ends_what_its_server_started_too() {
    for close in [true, false] {
        let pids = pid_file(if close { "close-group" } else { "drop-group" });
        let client =
            Client::spawn("wrapped", &wrapped("serve", &pids), ClientOptions::default()).await.expect("starts");
        assert_eq!(client.call_tool("work", JsonObject::new()).await.expect("answers").text_content(), "call 1 ok");
        assert!(running(&pids), "the wrapper's leftover runs while the server does");
        if close {
            client.close().await.expect("closes");
        } else {
            drop(client);
        }
        assert!(
            ends_within(&pids, Duration::from_secs(5)).await,
            "close: {close}: what the server started outlived it"
        );
        let _ = std::fs::remove_file(&pids);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_server_that_exits_while_its_leftover_holds_stdout_is_seen_to_exit() {
    let pids = pid_file("exit-group");
    // Were the exit not noticed, the call would end only at this timeout, as a timeout.
    let options = ClientOptions { request_timeout: Duration::from_secs(20), ..ClientOptions::default() };
    let client = Client::spawn("wrapped", &wrapped("exit", &pids), options).await.expect("starts");
    let started = Instant::now();
    let err = client.call_tool("work", JsonObject::new()).await.expect_err("the server exits");
    assert!(matches!(err, Error::Closed { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "noticed only after {:?}", started.elapsed());
    let text = err.to_string();
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(text.contains("fatal: simulated crash while working"), "{text}");
    assert!(ends_within(&pids, Duration::from_secs(5)).await, "what the server started outlived it");
    let _ = std::fs::remove_file(&pids);
}

/// The fixture `mode` as a child process that behaves as `env` says (`BEFORE_INITIALIZE`,
/// `START_DELAY_MS`), logging its starts and every message it receives; and that log so far:
/// `start` for each process started, and the methods of the messages.
fn logged(mode: &str, env: &[(&str, &str)]) -> (StdioServer, impl Fn() -> Vec<String> + use<>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("messages.jsonl");
    let mut server = StdioServer::new("python3", [fixture(), mode.to_owned()]);
    server.env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    server.env.insert("MESSAGE_LOG".into(), log.display().to_string());
    let seen = move || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|m| match m["method"].as_str() {
                Some(method) => Some(method.to_owned()),
                None => m.get("start").map(|_| "start".to_owned()),
            })
            .collect()
    };
    (server, seen, dir)
}

/// Older SDKs do not all answer `server/discover` sent before `initialize`: one refuses it, one
/// ignores it, one stops answering anything (its reader died), one exits. The first two are
/// served by the process that was probed (`initialize` goes beside the unanswered probe); the
/// last two are started afresh and sent `initialize` first. Each ends in the handshake era.
#[tokio::test]
async fn older_servers_are_served_whatever_the_probe_does_to_them() {
    // Long enough for Python to start and read both messages on a busy machine; a connect
    // timeout shorter than the two windows does not keep a mute server from being started afresh.
    let options = || ClientOptions {
        probe_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    };
    let handshake = ["initialize", "notifications/initialized"];
    for (choke, expected) in [
        ("refuse", [&["start", "server/discover"][..], &handshake].concat()),
        ("ignore", [&["start", "server/discover"][..], &handshake].concat()),
        ("mute", [&["start", "server/discover", "initialize", "start"][..], &handshake].concat()),
        ("exit", [&["start", "server/discover", "start"][..], &handshake].concat()),
    ] {
        let (server, seen, _dir) = logged("normal", &[("BEFORE_INITIALIZE", choke)]);
        let client = Client::spawn("old", &server, options()).await.unwrap_or_else(|e| panic!("{choke}: {e}"));
        assert_eq!(client.era(), mcp_core::protocol::Era::Handshake, "{choke}");
        let result = client.call_tool("work", JsonObject::new()).await.expect("answered");
        assert_eq!(result.text_content(), "call 1 ok", "{choke}");
        let seen = seen();
        assert_eq!(seen[..expected.len()], expected, "{choke}: {seen:?}");
        assert_eq!(seen.iter().filter(|m| *m == "start").count(), expected.iter().filter(|m| **m == "start").count());
    }
}

/// A server of both eras slower to start than the probe waits is not started afresh: it answers
/// the probe before the `initialize` sent beside it, and is served in the modern era.
#[tokio::test]
async fn a_server_slower_than_the_probe_is_served_in_the_modern_era_without_a_restart() {
    let (server, seen, _dir) = logged("both", &[("START_DELAY_MS", "3000")]);
    let options = ClientOptions { probe_timeout: Duration::from_secs(2), ..ClientOptions::default() };
    let client = Client::spawn("slow", &server, options).await.expect("connects");
    assert_eq!(client.era(), mcp_core::protocol::Era::Modern);
    assert_eq!(client.call_tool("work", JsonObject::new()).await.expect("answered").text_content(), "call 1 ok");
    let seen = seen();
    assert_eq!(seen[..3], ["start", "server/discover", "initialize"], "{seen:?}");
    let count = |what: &str| seen.iter().filter(|m| *m == what).count();
    assert_eq!((count("start"), count("server/discover"), count("notifications/initialized")), (1, 1, 0), "{seen:?}");
}

/// A server slower to start than both of the probe's windows but within `connect_timeout` (a
/// package fetched, a runtime warming up) is served by the process first started: it cannot be
/// told from one the probe silenced but by waiting, and starting it afresh would start its
/// wait over.
#[tokio::test]
async fn a_server_slower_than_both_probe_windows_is_served_by_its_first_process() {
    let (server, seen, _dir) = logged("normal", &[("START_DELAY_MS", "5000")]);
    let options = ClientOptions {
        probe_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(15),
        ..ClientOptions::default()
    };
    let client = Client::spawn("slow", &server, options).await.expect("connects");
    assert_eq!(client.era(), mcp_core::protocol::Era::Handshake);
    assert_eq!(client.call_tool("work", JsonObject::new()).await.expect("answered").text_content(), "call 1 ok");
    let seen = seen();
    assert_eq!(seen[..4], ["start", "server/discover", "initialize", "notifications/initialized"], "{seen:?}");
    assert_eq!(seen.iter().filter(|m| *m == "start").count(), 1, "started once: {seen:?}");
}

/// Asked to begin with `initialize`, a client probes a server that refuses it naming
/// `2026-07-28`, and serves it in the modern era; asked for the handshake era, it does not.
#[tokio::test]
async fn handshake_first_probes_a_server_that_refuses_initialize_naming_the_modern_revision() {
    let (server, seen, _dir) = logged("modern", &[]);
    let options = ClientOptions { era: EraPreference::HandshakeFirst, ..ClientOptions::default() };
    let client = Client::spawn("modern", &server, options).await.expect("connects");
    assert_eq!(client.era(), mcp_core::protocol::Era::Modern);
    assert_eq!(seen()[..3], ["start", "initialize", "server/discover"]);
    let options = ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let refused = Client::spawn("modern", &server, options).await.expect_err("no handshake era");
    assert!(refused.to_string().contains("rejected initialize"), "{refused}");
}

/// Servers ship a slightly wrong definition now and then: one tool without `inputSchema` (or
/// with a field of the wrong type, or no name) among valid ones is left out, and the others are
/// listed; the whole list used to fail, and a gateway then restarted the server over and over.
#[tokio::test]
async fn a_tool_whose_definition_is_not_valid_is_left_out_and_the_others_are_listed() {
    let mut server = StdioServer::new("python3", [fixture(), "normal".to_owned()]);
    let broken = serde_json::json!([
        {"name": "no_schema", "description": "lacks inputSchema"},
        {"name": "bad_schema", "inputSchema": "not an object"},
        {"description": "no name", "inputSchema": {"type": "object"}},
        "not even an object"
    ]);
    server.env.insert("BROKEN_TOOLS".into(), broken.to_string());
    let client = Client::spawn("faulty", &server, ClientOptions::default()).await.expect("handshake succeeds");
    let names: Vec<String> = client.list_tools().await.expect("listed").into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["work"]);
    let result = client.call_tool("work", JsonObject::new()).await.expect("called");
    assert!(!result.is_error(), "{}", result.text_content());
}
