//! `mcptk agent` as a real process over the gateway, with a local endpoint that answers like the
//! OpenAI API (scripted turns; no live model runs here); and the Python `openai-agents` Runner
//! using `mcptk serve` as its MCP server, driven by the same kind of endpoint.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mcp_openai::fake::{FakeModel, Reply};
use serde_json::{Value, json};

use crate::support::{mcptk, python_mcp2, root};

const KEY: &str = "sk-agent-cli-test-key-4242";

struct Run {
    code: i32,
    events: Vec<Value>,
    stderr: String,
}

fn write_config(dir: &Path, value: Value) -> PathBuf {
    let file = dir.join("gateway.json");
    std::fs::write(&file, serde_json::to_string_pretty(&value).expect("json")).expect("write config");
    file
}

async fn agent(config: &Path, fake: &FakeModel, extra: &[&str], stdin: &str) -> Run {
    let mut command = tokio::process::Command::new(mcptk());
    command
        .args(["agent", "--config", &config.display().to_string(), "--base-url", &fake.base_url, "--json"])
        .args(extra)
        .env("OPENAI_API_KEY", KEY)
        .env("MCPTK_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("mcptk agent starts");
    let mut input = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut input, stdin.as_bytes()).await.expect("stdin");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("mcptk agent finishes")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON event ({e}): {l}\nstderr: {stderr}")))
        .collect();
    Run { code: output.status.code().unwrap_or(-1), events, stderr }
}

fn results(run: &Run) -> Vec<(String, String, bool)> {
    run.events
        .iter()
        .filter(|e| e["type"] == "tool_result")
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_owned(),
                e["text"].as_str().unwrap_or_default().to_owned(),
                e["is_error"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_command_runs_tools_through_the_gateway_pipeline_and_streams_events() {
    let dir = tempfile::tempdir().expect("temp");
    let base = dir.path().canonicalize().expect("canonical");
    std::fs::write(base.join("notes.txt"), "remember the milk\n").expect("write");
    std::fs::write(base.join("secret.txt"), "the vault code\n").expect("write");
    let audit = base.join("audit/audit.jsonl");
    let config = write_config(
        &base,
        json!({
            "native": {"fs": {"roots": [base]}, "builtin": true},
            "audit": {"path": audit},
            "policy": {"rules": [
                {"name": "no-writes", "effect": "deny", "tools": ["write_file", "edit_file"]},
                {"name": "no-secrets", "effect": "deny", "tools": ["read_text_file"],
                 "arguments": {"path": {"path": format!("{}/secret*", base.display())}}}
            ], "default": "allow"},
            "agent": {"model": "fake-model", "api_key": "${OPENAI_API_KEY}", "instructions": "Be brief.", "max_turns": 5,
                      "parallel_tool_calls": true}
        }),
    );
    for api in ["chat", "responses"] {
        let fake = FakeModel::start([
            Reply::calls([
                ("fs__read_text_file", json!({"path": base.join("notes.txt"), "head": null, "tail": null})),
                ("builtin__add", json!({"a": 40, "b": 2})),
            ]),
            Reply::calls([
                ("fs__read_text_file", json!({"path": base.join("secret.txt"), "head": null, "tail": null})),
                ("fs__write_file", json!({"path": base.join("x.txt"), "content": "x"})),
                ("builtin__echo", json!({"text": format!("the key is {KEY}")})),
            ]),
            Reply::text("Milk, and 42."),
        ])
        .await
        .expect("fake");
        let run = agent(&config, &fake, &["--api", api, "Read my notes"], "").await;
        assert_eq!(run.code, 0, "{api}: {}", run.stderr);
        // The two calls of the first turn run at once; they finish in either order.
        let mut first_turn = results(&run)[..2].to_vec();
        first_turn.sort();
        assert_eq!(
            first_turn,
            [
                ("builtin__add".into(), r#"{"sum":42}"#.into(), false),
                ("fs__read_text_file".into(), "remember the milk\n".into(), false)
            ],
            "{api}"
        );
        let mut second_turn = results(&run)[2..].to_vec();
        second_turn.sort();
        let (_, echoed, _) = &second_turn[0];
        assert!(echoed.starts_with("the key is ") && !echoed.contains(KEY), "secrets are masked in results: {echoed}");
        let (_, denied, is_error) = &second_turn[1];
        assert!(*is_error && denied.contains("denied by policy rule `no-secrets`"), "{denied}");
        let (_, hidden, is_error) = &second_turn[2];
        assert!(*is_error && hidden.contains("there is no such tool"), "{hidden}");
        assert!(!run.events.iter().any(|e| e.to_string().contains("vault code")));
        assert!(!base.join("x.txt").exists());
        assert_eq!(run.events.last().expect("final"), &json!({"type": "final", "output": "Milk, and 42."}));
        let deltas: String = run
            .events
            .iter()
            .filter(|e| e["type"] == "text_delta")
            .map(|e| e["text"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(deltas, "Milk, and 42.");

        let seen = fake.seen();
        assert_eq!(seen[0].path, if api == "chat" { "chat/completions" } else { "responses" });
        assert_eq!(seen[0].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
        assert_eq!(seen[0].body["parallel_tool_calls"], true);
        assert_eq!(
            seen[0].body["instructions"].as_str().or(seen[0].body["messages"][0]["content"].as_str()),
            Some("Be brief.")
        );
        let offered = seen[0].body["tools"].to_string();
        assert!(offered.contains("fs__read_text_file") && offered.contains("builtin__add"), "{offered}");
        assert!(!offered.contains("fs__write_file"), "a tool the policy denies outright is not offered");
    }
    // Every call is in the audit log, as the agent's principal, with the key masked.
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let records: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(records.iter().any(|r| r["tool"] == "read_text_file" && r["principal"] == "agent" && r["outcome"] == "ok"));
    assert!(
        records.iter().any(|r| r["tool"] == "read_text_file" && r["rule"] == "no-secrets" && r["outcome"] == "denied")
    );
    assert!(!log.contains(KEY), "the key reached the audit log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_during_a_run_is_restarted_and_used_again() {
    let dir = tempfile::tempdir().expect("temp");
    let base = dir.path().canonicalize().expect("canonical");
    let pidfile = base.join("server.pid");
    let script = format!("echo $$ > '{}'; exec '{}' serve builtin", pidfile.display(), mcptk());
    let config = write_config(
        &base,
        json!({
            "mcpServers": {"flaky": {"command": "sh", "args": ["-c", script]}},
            "audit": {"path": base.join("audit.jsonl")},
            // No retries, and a restart that cannot be done before the call right after the kill:
            // that call must fail, telling the model the server is down.
            "retries": {"attempts": 1},
            "restart": {"initial_delay_ms": 1500, "max_delay_ms": 1500},
            "agent": {"model": "fake-model"}
        }),
    );
    let read_pid = {
        let pidfile = pidfile.clone();
        move || std::fs::read_to_string(&pidfile).ok().and_then(|p| p.trim().parse::<i32>().ok())
    };
    let first_pid = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (kill_pid, remember) = (read_pid.clone(), first_pid.clone());
    let wait_pid = read_pid.clone();
    let waited = first_pid.clone();
    let fake = FakeModel::start([
        Reply::calls([("flaky__echo", json!({"text": "before"}))]),
        // The server dies between turns.
        Reply::dynamic(move |_| {
            let pid = kill_pid().expect("pid");
            *remember.lock().expect("lock") = Some(pid);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(50));
            Reply::calls([("flaky__echo", json!({"text": "while down"}))])
        }),
        // Until it is back (a new process), the model is kept waiting.
        Reply::dynamic(move |_| {
            let old = *waited.lock().expect("lock");
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while wait_pid() == old && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(500));
            Reply::calls([("flaky__echo", json!({"text": "after"}))])
        }),
        Reply::text("done"),
    ])
    .await
    .expect("fake");
    let run = agent(&config, &fake, &["echo things"], "").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = results(&run);
    assert_eq!(results[0], ("flaky__echo".into(), "before".into(), false));
    // Right after the kill the model is told the server is down; it never hangs or crashes the run.
    let (_, text, is_error) = &results[1];
    assert!(*is_error && text.contains("server `flaky`"), "{:?}", results[1]);
    assert_eq!(results[2], ("flaky__echo".into(), "after".into(), false), "{}", run.stderr);
    assert_ne!(read_pid(), *first_pid.lock().expect("lock"), "a new server process answered");
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_that_need_approval_wait_for_the_operator() {
    let dir = tempfile::tempdir().expect("temp");
    let base = dir.path().canonicalize().expect("canonical");
    let config = write_config(
        &base,
        json!({
            "native": {"fs": {"roots": [base]}},
            "audit": {"path": base.join("audit/audit.jsonl")},
            "agent": {"model": "fake-model", "approvals": ["fs__write_file"]}
        }),
    );
    let write = |name: &str| ("fs__write_file", json!({"path": base.join(name), "content": "hello"}));
    let fake = FakeModel::start([
        Reply::calls([write("yes.txt"), ("fs__list_allowed_directories", json!({}))]),
        Reply::calls([write("no.txt")]),
        Reply::text("done"),
    ])
    .await
    .expect("fake");
    let run = agent(&config, &fake, &["write files"], "y\nn\n").await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(base.join("yes.txt")).expect("approved write"), "hello");
    assert!(!base.join("no.txt").exists(), "the declined write did not happen");
    let results = results(&run);
    assert!(!results[0].2 && !results[1].2, "{results:?}");
    assert!(results[2].2 && results[2].1.contains("declined"), "{results:?}");
    assert_eq!(run.stderr.matches("approve fs__write_file").count(), 2, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_or_a_failing_endpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp");
    let config = write_config(dir.path(), json!({"audit": {"path": dir.path().join("a.jsonl")}}));
    // Server errors are retried three times (with backoff) before the run gives up. A server
    // error's body is its message, whole: a page of 200 KB is named by its start, once.
    let page = format!("overloaded {}", "x".repeat(200_000));
    let fake = FakeModel::start((0..4).map(|_| Reply::Error(500, page.clone()))).await.expect("fake");
    let run = agent(&config, &fake, &["--model", "fake-model", "hi"], "").await;
    assert_eq!(run.code, 1);
    assert_eq!(fake.seen().len(), 4);
    let start: String = run.stderr.chars().take(2000).collect();
    assert!(run.stderr.contains("fake-model") && run.stderr.contains("overloaded"), "{start}");
    assert!(
        run.stderr.len() < 4000 && run.stderr.matches("overloaded").count() == 1,
        "{} bytes: {start}",
        run.stderr.len()
    );
    assert!(!run.stderr.contains(KEY));

    let output = std::process::Command::new(mcptk())
        .args(["agent", "--config", &config.display().to_string(), "hi"])
        .env_remove("OPENAI_MODEL")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("no model"), "{stderr}");
}

/// The Python Agents SDK's Runner, with `mcptk serve` as its MCP server and a scripted model.
#[tokio::test(flavor = "multi_thread")]
async fn openai_agents_runner_completes_a_tool_calling_run_against_mcptk_serve() {
    for api in ["responses", "chat_completions"] {
        let fake = FakeModel::start([Reply::calls([("add", json!({"a": 2, "b": 40}))]), Reply::text("It is 42.")])
            .await
            .expect("fake");
        let output = tokio::process::Command::new(python_mcp2())
            .arg(root().join("tests/python/agents_runner.py"))
            .args([&fake.base_url, api, &mcptk(), "serve", "builtin"])
            .output()
            .await
            .expect("python starts");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{api}: {stdout}\n{stderr}");
        let seen: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
        assert_eq!(seen["final_output"], "It is 42.", "{api}");
        // The SDK keeps the MCP text block (as a string or as a content list, by API).
        let outputs = seen["tool_outputs"].as_array().expect("outputs");
        assert_eq!(outputs.len(), 1, "{api}: {seen}");
        assert!(outputs[0].to_string().contains(r#"{\"sum\":42}"#), "{api}: {seen}");

        // The SDK offered our tools to the model and sent the result of the call back.
        let requests = fake.seen();
        assert_eq!(requests.len(), 2);
        let offered = requests[0].body["tools"].to_string();
        assert!(offered.contains("\"add\"") && offered.contains("\"echo\""), "{offered}");
        assert!(requests[1].body.to_string().contains(r#"{\"sum\":42}"#), "{api}: {}", requests[1].body);
    }
}
