//! Several `mcptk serve --http` processes as replicas of one service: handshake-era sessions
//! sealed into their ids (`MCPTK_SESSION_KEY`) are served by any replica holding the key, the
//! probes a load balancer or kubelet uses answer without a token, and SIGTERM drains.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Served, initialize, post, post_json, serve_env};

const KEY: &str = "c2Vzc2lvbi1rZXktb2YtdGhlLXRlc3QtZGVwbG95bWU="; // 32 bytes, base64
const OTHER_KEY: &str = "b3RoZXIta2V5LW9mLWFub3RoZXItZGVwbG95bWVudC4="; // 32 bytes, base64
const TOKENS: &str = "alice=token-of-alice-1,bob=token-of-bob-22";

async fn replica(env: &[(&str, &str)]) -> Served {
    let mut all = vec![("MCPTK_HTTP_TOKENS", TOKENS)];
    all.extend_from_slice(env);
    serve_env(&["serve", "builtin"], &all).await
}

fn add(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}})
}

/// The status and body of `body` sent to `url` in `session` as `token`'s holder.
async fn in_session(url: &str, token: &str, session: &str, body: &Value) -> (u16, String) {
    let answer =
        post_json(url, body).bearer_auth(token).header("mcp-session-id", session).send().await.expect("answers");
    (answer.status().as_u16(), answer.text().await.expect("text"))
}

#[tokio::test]
async fn a_session_opened_on_one_replica_is_served_by_any_replica_with_the_key() {
    let a = replica(&[("MCPTK_SESSION_KEY", KEY)]).await;
    let b = replica(&[("MCPTK_SESSION_KEY", KEY)]).await;
    let foreign = replica(&[("MCPTK_SESSION_KEY", OTHER_KEY)]).await;
    let keyless = replica(&[]).await;

    let opened = post(&a.url, &initialize()).bearer_auth("token-of-alice-1").send().await.expect("answers");
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    assert!(session.starts_with("s1.") && !session.contains("alice"), "{session}");

    // Replica A goes away for good; B serves the session it never saw.
    drop(a);
    let (status, text) = in_session(&b.url, "token-of-alice-1", &session, &add(2)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#""sum":5"#), "{text}");
    // The session stays bound to its principal on every replica.
    let (status, text) = in_session(&b.url, "token-of-bob-22", &session, &add(3)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("opened by another principal"), "{text}");
    // Replicas with another key, or none, do not know it.
    for other in [&foreign, &keyless] {
        let (status, text) = in_session(&other.url, "token-of-alice-1", &session, &add(4)).await;
        assert_eq!(status, 404, "{text}");
    }
    // An altered id is refused, not taken up.
    let mut altered = session.clone().into_bytes();
    let at = altered.len() / 2 + 10;
    altered[at] = if altered[at] == b'x' { b'y' } else { b'x' };
    let altered = String::from_utf8(altered).expect("ascii");
    assert_eq!(in_session(&b.url, "token-of-alice-1", &altered, &add(5)).await.0, 404);

    // The session's notification stream opens on B too.
    let stream = reqwest::Client::new()
        .get(&b.url)
        .bearer_auth("token-of-alice-1")
        .header("mcp-session-id", &session)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("answers");
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().expect("ascii").starts_with("text/event-stream"));
    drop(stream);

    // Ended on B, B does not take it up again.
    let ended = reqwest::Client::new()
        .delete(&b.url)
        .bearer_auth("token-of-alice-1")
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("answers");
    assert_eq!(ended.status(), 204);
    assert_eq!(in_session(&b.url, "token-of-alice-1", &session, &add(6)).await.0, 404);
}

#[tokio::test]
async fn a_rotated_key_still_opens_sessions_sealed_with_the_previous_one() {
    let old = replica(&[("MCPTK_SESSION_KEY", OTHER_KEY)]).await;
    let opened = post(&old.url, &initialize()).bearer_auth("token-of-bob-22").send().await.expect("answers");
    let session = opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    let rotated = replica(&[("MCPTK_SESSION_KEY", KEY), ("MCPTK_SESSION_KEYS_PREVIOUS", OTHER_KEY)]).await;
    let (status, text) = in_session(&rotated.url, "token-of-bob-22", &session, &add(2)).await;
    assert_eq!(status, 200, "{text}");
    // New sessions on the rotated replica are sealed with the new key, which the old one lacks.
    let opened = post(&rotated.url, &initialize()).bearer_auth("token-of-bob-22").send().await.expect("answers");
    let fresh = opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
    assert_ne!(fresh.split('.').nth(1), session.split('.').nth(1), "another key id");
    assert_eq!(in_session(&old.url, "token-of-bob-22", &fresh, &add(3)).await.0, 404);
}

#[test]
fn a_malformed_session_key_stops_the_server_with_the_variable_named_and_the_key_hidden() {
    let out = std::process::Command::new(crate::support::mcptk())
        .args(["serve", "builtin", "--http", "127.0.0.1:0"])
        .env("MCPTK_SESSION_KEY", "too-short-a-key")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MCPTK_SESSION_KEY") && !stderr.contains("too-short-a-key"), "{stderr}");
}

/// A gateway with the built-in tools and, when `broken`, a server whose command cannot start.
async fn gateway(dir: &std::path::Path, broken: bool, extra: &[&str]) -> Served {
    let config = dir.join("gateway.json");
    let mut servers = json!({});
    if broken {
        servers["broken"] = json!({"command": dir.join("no-such-program").display().to_string()});
    }
    let config_json =
        json!({"native": {"builtin": true}, "audit": {"path": dir.join("audit.jsonl")}, "mcpServers": servers});
    std::fs::write(&config, config_json.to_string()).expect("write");
    let config = config.display().to_string();
    let mut args = vec!["serve", "--config", config.as_str()];
    args.extend_from_slice(extra);
    serve_env(&args, &[("MCPTK_HTTP_TOKENS", TOKENS)]).await
}

#[tokio::test]
async fn probes_answer_without_a_token_and_readiness_names_a_server_that_is_not_running() {
    let dir = tempfile::tempdir().expect("temp");
    let up = gateway(dir.path(), false, &[]).await;
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let answer = client.get(url).send().await.expect("answers");
            (answer.status().as_u16(), answer.text().await.expect("text"))
        }
    };
    assert_eq!(get(format!("{}/healthz", up.base)).await, (200, "ok\n".to_owned()));
    assert_eq!(readiness_until(&up.base, |_| true).await, (200, "ok\n".to_owned()));
    // Everything else still wants the token.
    assert_eq!(get(format!("{}/metrics", up.base)).await.0, 401);
    assert_eq!(client.post(&up.url).body("{}").send().await.expect("answers").status(), 401);
    drop(up);

    let dir = tempfile::tempdir().expect("temp");
    let down = gateway(dir.path(), true, &[]).await;
    assert_eq!(get(format!("{}/healthz", down.base)).await.0, 200, "alive: it serves the other tools");
    let (status, text) = readiness_until(&down.base, |status| status != 200).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("`broken`") && !text.contains("no-such-program"), "names the server, not its error: {text}");
}

/// `/readyz` polled on `base` until `done` holds of its answer (the gateway is serving but still
/// starting its servers while it says so), for up to 10 s: the last answer.
async fn readiness_until(base: &str, done: impl Fn(u16) -> bool) -> (u16, String) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client.get(format!("{base}/readyz")).send().await.expect("answers");
        let answer = (answer.status().as_u16(), answer.text().await.expect("text"));
        let starting = answer.1 == "not ready: the servers are starting\n";
        if (done(answer.0) && !starting) || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn servers_the_gateway_is_ready_without_do_not_hold_readiness_back() {
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("gateway.json");
    // Two servers that never start; `a-flaky` comes first, so a probe that waited for it would
    // name it. And `c-sleepy`, which never answers: the gateway's start, and readiness with it,
    // would wait for it (30 s for its first answer) were it not optional.
    let write = |optional: &[&str]| {
        let missing = |name: &str| json!({"command": dir.path().join(name).display().to_string()});
        let body = json!({
            "native": {"builtin": true},
            "audit": {"path": dir.path().join("audit.jsonl")},
            "mcpServers": {
                "a-flaky": missing("no-such-program"),
                "broken": missing("no-such-program-either"),
                "c-sleepy": {"command": "sleep", "args": ["40"]},
            },
            "readiness": {"optional": optional},
        });
        std::fs::write(&config, body.to_string()).expect("write");
    };
    write(&["a-flaky", "c-sleepy"]);
    let path = config.display().to_string();
    let served = serve_env(&["serve", "--config", &path], &[("MCPTK_HTTP_TOKENS", TOKENS)]).await;
    let (status, text) = readiness_until(&served.base, |status| status != 200).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("`broken`") && !text.contains("a-flaky"), "names the required server only: {text}");

    // All optional (a reload): ready, though none runs.
    write(&["a-flaky", "broken", "c-sleepy"]);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(served.child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("signalled");
    assert_eq!(readiness_until(&served.base, |status| status == 200).await, (200, "ok\n".to_owned()));
    drop(served);

    // A name that is not a configured server is refused, by the check and at start.
    let body = json!({"mcpServers": {"broken": {"command": "no-such-program"}}, "readiness": {"optional": ["brokn"]}});
    std::fs::write(&config, body.to_string()).expect("write");
    let mcptk = crate::support::mcptk();
    let checked =
        std::process::Command::new(&mcptk).args(["config", "check", "--config", &path]).output().expect("runs");
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success() && said.contains("readiness.optional: no server named `brokn`"), "{said}");
    assert!(said.contains("(configured: broken;"), "{said}");
    let started = std::process::Command::new(&mcptk)
        .args(["serve", "--config", &path])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&started.stderr);
    assert!(!started.status.success() && said.contains("no server named `brokn`"), "{said}");
}

#[test]
fn commands_that_list_once_still_wait_for_servers_the_gateway_is_ready_without() {
    // `mcptk tools` (as `call` and `pin update`) acts once, at once: an optional server slow to
    // start must still be waited for, or it would be listed with no tools (and `pin update`
    // would approve an empty list for it).
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("gateway.json");
    let late = format!("sleep 1; exec '{}' serve builtin", crate::support::mcptk());
    let body = json!({
        "audit": {"path": dir.path().join("audit.jsonl")},
        "mcpServers": {"late": {"command": "sh", "args": ["-c", late]}},
        "readiness": {"optional": ["late"]},
    });
    std::fs::write(&config, body.to_string()).expect("write");
    let out = std::process::Command::new(crate::support::mcptk())
        .args(["tools", "--json", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = listed["late"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert!(out.status.success() && names.contains(&"echo"), "{listed}");
}

/// The gateway's `builtin__slow` call of about `ms` milliseconds, in the stateless era.
fn slow(ms: u64) -> Value {
    let mut request = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "builtin__slow", "arguments": {"steps": 10, "delay_ms": ms / 10}}});
    request["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    request
}

fn send_slow(url: &str, ms: u64) -> reqwest::RequestBuilder {
    post_json(url, &slow(ms))
        .bearer_auth("token-of-alice-1")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "builtin__slow")
}

fn terminate(served: &Served) {
    let pid = i32::try_from(served.child.id()).expect("pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).expect("signalled");
}

/// Waits for the process to exit, up to `patience`.
fn exit_within(served: &mut Served, patience: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = served.child.try_wait().expect("waits") {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit within {patience:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn sigterm_finishes_the_calls_in_flight_records_them_and_takes_no_new_connection() {
    let dir = tempfile::tempdir().expect("temp");
    let mut served = gateway(dir.path(), false, &["--shutdown-grace", "20"]).await;
    let call = tokio::spawn(send_slow(&served.url, 1500).send());
    tokio::time::sleep(Duration::from_millis(400)).await;
    terminate(&served);
    let addr = served.base.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(Instant::now() < deadline, "no new connection is accepted while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer: Value = call.await.expect("joins").expect("the call in flight is answered").json().await.expect("json");
    assert_eq!(answer["result"]["content"][0]["text"], "finished 10 steps", "{answer}");
    let status = exit_within(&mut served, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    assert!(
        audit.lines().any(|l| l.contains(r#""server":"builtin","tool":"slow""#) && l.contains(r#""outcome":"ok""#)),
        "the call that finished while draining is in the audit log"
    );
}

#[tokio::test]
async fn a_call_longer_than_the_grace_period_is_cut_and_the_server_still_exits() {
    let dir = tempfile::tempdir().expect("temp");
    let mut served = gateway(dir.path(), false, &["--shutdown-grace", "1"]).await;
    let call = tokio::spawn(send_slow(&served.url, 30_000).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    terminate(&served);
    let status = exit_within(&mut served, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(8), "exited after the grace period, not the call");
    // The call is cancelled, not finished: its caller gets no result (an error, or the connection
    // closes), and the audit log, complete when the process exits, says it was cancelled (by the
    // pipeline, or by the tool, which stops at its next step when told).
    if let Ok(answer) = call.await.expect("joins") {
        let text = answer.text().await.unwrap_or_default();
        assert!(!text.contains("finished"), "the call did not run to its end: {text}");
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    let cut = audit.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|r| r["tool"] == "slow");
    let cut = cut.expect("the cut call is in the audit log");
    let cancelled = cut["outcome"] == "cancelled" || cut["error"].as_str().is_some_and(|e| e.contains("cancelled"));
    assert!(cancelled, "the cut call is recorded as cancelled: {cut}");
}

#[tokio::test]
async fn with_a_drain_delay_sigterm_first_turns_readiness_off_while_calls_are_still_served() {
    let dir = tempfile::tempdir().expect("temp");
    let mut served = gateway(dir.path(), false, &["--drain-delay", "2"]).await;
    let readyz = format!("{}/readyz", served.base);
    assert_eq!(readiness_until(&served.base, |_| true).await, (200, "ok\n".to_owned()));
    let signalled = Instant::now();
    terminate(&served);
    let deadline = Instant::now() + Duration::from_millis(1500);
    let answer = loop {
        let answer = reqwest::get(&readyz).await.expect("still listening");
        if answer.status() != 200 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.text().await.expect("text"), "not ready: shutting down\n");
    // A load balancer that has not noticed yet still gets its calls answered.
    let answer: Value = send_slow(&served.url, 50).send().await.expect("answers").json().await.expect("json");
    assert_eq!(answer["result"]["content"][0]["text"], "finished 10 steps", "{answer}");
    let status = exit_within(&mut served, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() >= Duration::from_secs(2), "served through the drain delay");
}

/// Replicas sharing tasks through the real Redis of `tests/services.sh` (`task_store`): a task
/// made on one replica is followed, cancelled and, when its replica is killed, failed on another.
#[tokio::test]
async fn tasks_made_on_one_replica_are_answered_by_another_through_redis() {
    let Some(redis) = crate::services::service("MCPTK_TEST_REDIS_URL", "Redis") else { return };
    let dir = tempfile::tempdir().expect("temp");
    let prefix = format!("mcptk:test:tasks:{}:{}:", std::process::id(), mcp_core::random_id());
    let start = |name: &str| {
        let config = dir.path().join(format!("{name}.json"));
        let store = json!({"redis": "${MCPTK_TEST_REDIS_URL}", "prefix": prefix, "heartbeat_ms": 300});
        let body = json!({"native": {"builtin": true}, "audit": {"path": dir.path().join(format!("{name}.jsonl"))}, "task_store": store});
        std::fs::write(&config, body.to_string()).expect("write");
        let config = config.display().to_string();
        let redis = redis.clone();
        async move {
            serve_env(
                &["serve", "--config", &config],
                &[("MCPTK_HTTP_TOKENS", TOKENS), ("MCPTK_TEST_REDIS_URL", &redis)],
            )
            .await
        }
    };
    let mut a = start("a").await;
    let b = start("b").await;
    let send = |url: String, token: &'static str, method: &'static str, params: Value| async move {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {mcp_core::tasks::EXTENSION: {}}},
        });
        let name = params["name"].as_str().or(params["taskId"].as_str()).unwrap_or_default().to_owned();
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = post_json(&url, &request)
            .bearer_auth(token)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .header("mcp-name", name)
            .send()
            .await
            .expect("answers");
        answer.json::<Value>().await.expect("json")
    };
    let start_task = |url: String, steps: u32| {
        let call = json!({"name": "builtin__slow", "arguments": {"steps": steps, "delay_ms": 100}});
        async move {
            let created = send(url, "token-of-alice-1", "tools/call", call).await;
            assert_eq!(created["result"]["resultType"], "task", "{created}");
            created["result"]["taskId"].as_str().expect("an id").to_owned()
        }
    };
    let until = |url: String, id: String, want: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = send(url.clone(), "token-of-alice-1", "tasks/get", json!({"taskId": id})).await;
            if got["result"]["status"] == want {
                return got["result"].clone();
            }
            assert!(Instant::now() < deadline, "task never `{want}`: {got}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };

    // Made on A, followed on B to its result.
    let id = start_task(a.url.clone(), 5).await;
    let seen = send(b.url.clone(), "token-of-alice-1", "tasks/get", json!({"taskId": id})).await;
    assert_eq!(seen["result"]["status"], "working", "{seen}");
    let done = until(b.url.clone(), id.clone(), "completed").await;
    assert_eq!(done["result"]["content"][0]["text"], "finished 5 steps", "{done}");
    // Another principal does not see it on any replica.
    let refused = send(b.url.clone(), "token-of-bob-22", "tasks/get", json!({"taskId": id})).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    // Cancelled on B, stopped on A.
    let id = start_task(a.url.clone(), 200).await;
    let ack = send(b.url.clone(), "token-of-alice-1", "tasks/cancel", json!({"taskId": id})).await;
    assert!(ack.get("result").is_some(), "{ack}");
    until(a.url.clone(), id.clone(), "cancelled").await;

    // A is killed while its task runs: on B the task fails, saying why, within a few heartbeats.
    let id = start_task(a.url.clone(), 200).await;
    until(b.url.clone(), id.clone(), "working").await;
    a.child.kill().expect("killed");
    let _ = a.child.wait();
    let failed = until(b.url.clone(), id.clone(), "failed").await;
    assert!(
        failed["error"]["message"].as_str().is_some_and(|m| m.contains("replica running this task stopped")),
        "{failed}"
    );
}
