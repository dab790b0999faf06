//! A local simulation of a scaled-out deployment: three `mcptk serve --http` gateway replicas
//! behind Debian's HAProxy (round robin, so consecutive requests of one session land on different
//! replicas, health-checked on `/readyz`), under mixed load from clients of both protocol eras,
//! while one replica is killed with SIGKILL and another is stopped with SIGTERM and started again.
//!
//! What must hold: every call the clients saw answered is in some replica's audit log and in the
//! PostgreSQL database all replicas copy their logs to, and every chain verifies; one rate limit
//! holds for the whole service through Redis; handshake-era sessions carry on across replicas
//! without a new `initialize`; tasks started on one replica are followed to their end through
//! the others (their state shared in Redis); the only calls that fail are those in flight on the
//! killed replica, and the only tasks that fail are those it was running.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::http::free_port;
use crate::support::mcptk;

const KEY: &str = "Y2x1c3Rlci1zZXNzaW9uLWtleS1mb3ItdGhlLXRlc3Q="; // 32 bytes, base64
const TOKEN: &str = "token-of-the-cluster-test";

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn haproxy() -> Option<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

async fn listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {port}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A rate limit on `builtin__echo` for the whole service (all replicas together), held in Redis.
const ECHO_PER_MINUTE: u64 = 60;
const ECHO_BURST: u64 = 5;

/// What the replicas share: the Redis holding the rate limits (keys under `prefix`) and the
/// PostgreSQL database every replica's audit log is copied to.
struct Shared {
    redis: String,
    prefix: String,
    audit_database: String,
}

/// Replica `name` of the gateway on `port`, its audit log in `dir/name`.
async fn replica(dir: &Path, name: &str, port: u16, shared: &Shared) -> Proc {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).expect("dir");
    let config = home.join("gateway.json");
    let body = json!({
        "native": {"builtin": true},
        "audit": {"path": home.join("audit.jsonl"), "sql": shared.audit_database},
        "rate_limits": [{"name": "echo-for-everyone", "tools": ["builtin__echo"], "per_minute": ECHO_PER_MINUTE, "burst": ECHO_BURST}],
        // A generous timeout: a loaded test machine must not turn a slow answer into a local budget.
        "rate_limit_store": {"redis": shared.redis, "prefix": shared.prefix, "timeout_ms": 2000},
        "task_store": {"redis": shared.redis, "prefix": format!("{}tasks:", shared.prefix), "heartbeat_ms": 300},
    });
    std::fs::write(&config, body.to_string()).expect("write");
    let child = Command::new(mcptk())
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--http", &format!("127.0.0.1:{port}"), "--shutdown-grace", "10", "--drain-delay", "1"])
        .env("MCPTK_HTTP_TOKENS", format!("cluster={TOKEN}"))
        .env("MCPTK_SESSION_KEY", KEY)
        .env("MCPTK_REPLICA", name)
        .env_remove("MCPTK_HTTP_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    listening(port, name).await;
    Proc(child)
}

/// HAProxy on `port` in front of `replicas`: round robin, `/readyz` checked every 100 ms, a
/// request whose connection failed sent to another replica (never one that may have run). A
/// check may take up to a second (without `timeout check`, HAProxy gives it only `inter`, and a
/// live replica slow to answer on a loaded machine would count as down: 503 for everyone when
/// it is the only one left); a dead replica still fails its check at once (connection refused).
async fn balancer(dir: &Path, port: u16, replicas: &[u16]) -> Proc {
    let Some(bin) = haproxy() else {
        panic!("HAProxy is needed (tests/services.sh installs Debian's package)");
    };
    let mut config = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
         timeout check 1s\n  retries 3\n  option redispatch 1\n  retry-on conn-failure\n\
         frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n  \
         default-server inter 100ms fall 1 rise 2\n"
    );
    for (i, replica) in replicas.iter().enumerate() {
        config.push_str(&format!("  server r{} 127.0.0.1:{replica} check\n", i + 1));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).expect("write");
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("HAProxy starts");
    listening(port, "HAProxy").await;
    Proc(child)
}

fn signal(proc: &Proc, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(proc.0.id()).expect("pid"));
    nix::sys::signal::kill(pid, signal).expect("signalled");
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// `(client, n)` of every call answered with the right sum.
    acknowledged: Vec<(u64, u64)>,
    /// When each failed call was sent, and what came back.
    failures: Vec<(Instant, String)>,
    /// Handshake-era sessions the gateway no longer knew (it must never happen).
    lost_sessions: usize,
}

fn call(client: u64, n: u64, modern: bool) -> Value {
    let mut request = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
        "params": {"name": "builtin__add", "arguments": {"a": client, "b": n}}});
    if modern {
        request["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}});
    }
    request
}

/// One client calling through the balancer until `stop`: handshake-era (one session for the
/// whole run, opened before `start` lets the load begin) or stateless.
async fn client(
    url: String,
    id: u64,
    modern: bool,
    start: Arc<Barrier>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    let http = reqwest::Client::new();
    let post = |body: &Value| {
        http.post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string())
    };
    let mut session = None;
    if !modern {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": format!("client-{id}"), "version": "1"}}});
        let opened = post(&init).send().await.expect("initialize answers");
        assert_eq!(opened.status(), 200);
        let sid = opened.headers()["mcp-session-id"].to_str().expect("ascii").to_owned();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let noted = post(&note).header("mcp-session-id", &sid).send().await.expect("answers");
        assert_eq!(noted.status(), 202);
        session = Some(sid);
    }
    start.wait().await;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let mut request = post(&call(id, n, modern));
        if let Some(sid) = &session {
            request = request.header("mcp-session-id", sid);
        } else {
            request = request
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "builtin__add");
        }
        let sent = Instant::now();
        let outcome = match request.send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let text = answer.text().await.unwrap_or_default();
                let body: Value = serde_json::from_str(&text).unwrap_or_default();
                if status == 200 && body["result"]["structuredContent"]["sum"] == json!(id + n) {
                    Ok(())
                } else {
                    Err((status, text))
                }
            }
            Err(e) => {
                let mut what = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    what.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                Err((0, what))
            }
        };
        let mut seen = seen.lock().expect("lock");
        match outcome {
            Ok(()) => seen.acknowledged.push((id, n)),
            Err((404, text)) => {
                seen.lost_sessions += 1;
                seen.failures.push((sent, format!("404 {text}")));
            }
            Err((status, text)) => {
                seen.failures.push((sent, format!("{status} {}", text.chars().take(200).collect::<String>())))
            }
        }
    }
}

/// Calls `builtin__echo` through the balancer as fast as answers come until `stop`: how many
/// went through and how many the shared rate limit refused.
async fn echo_caller(url: String, start: Arc<Barrier>, stop: Arc<AtomicBool>) -> (u64, u64) {
    let http = reqwest::Client::new();
    start.wait().await;
    let (mut echoed, mut limited) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let mut request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "builtin__echo", "arguments": {"text": "hi"}}});
        request["params"]["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}});
        let answer = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "builtin__echo")
            .body(request.to_string())
            .send()
            .await;
        let Ok(answer) = answer else { continue };
        let body: Value = answer.json().await.unwrap_or_default();
        let text = body["result"]["content"][0]["text"].as_str().unwrap_or_default();
        if body["result"]["isError"] == json!(true) && text.contains("rate limit `echo-for-everyone` exceeded") {
            limited += 1;
        } else if text == "hi" {
            echoed += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (echoed, limited)
}

/// What the task clients saw.
#[derive(Default)]
struct TasksSeen {
    /// Tasks followed to the right result.
    completed: usize,
    /// When each failed task (or its start) was sent, and why it failed.
    failed: Vec<(Instant, String)>,
    /// Answers that are wrong whenever they come.
    wrong: Vec<String>,
}

/// A stateless client of the tasks extension through the balancer until `stop`: starts a
/// `builtin__slow` task, then polls `tasks/get` (each poll to the next replica) to its end.
async fn task_client(url: String, start: Arc<Barrier>, stop: Arc<AtomicBool>, seen: Arc<Mutex<TasksSeen>>) {
    let http = reqwest::Client::new();
    let send = |method: &'static str, mut params: Value| {
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {mcp_core::tasks::EXTENSION: {}}}});
        let name = params["name"].as_str().or(params["taskId"].as_str()).unwrap_or_default().to_owned();
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let sent = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .header("mcp-name", name)
            .body(request.to_string())
            .send();
        async move {
            let answer = sent.await.map_err(|e| e.to_string())?;
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap_or_default();
            match serde_json::from_str::<Value>(&text) {
                Ok(body) if status == 200 => Ok(body),
                _ => Err(format!("{status} {}", text.chars().take(200).collect::<String>())),
            }
        }
    };
    start.wait().await;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let call = json!({"name": "builtin__slow", "arguments": {"steps": 4, "delay_ms": 100}});
        let created = match send("tools/call", call).await {
            Ok(created) => created,
            Err(why) => {
                seen.lock().expect("lock").failed.push((started, format!("the start failed: {why}")));
                continue;
            }
        };
        let Some(id) = created["result"]["taskId"].as_str().map(str::to_owned) else {
            seen.lock().expect("lock").wrong.push(format!("not a task: {created}"));
            continue;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let outcome = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A poll only reads: one that failed in transit is simply sent again.
            let Ok(state) = send("tasks/get", json!({"taskId": id})).await else { continue };
            let status = state["result"]["status"].as_str().unwrap_or_default().to_owned();
            if !matches!(status.as_str(), "working" | "input_required") || Instant::now() > deadline {
                break state;
            }
        };
        let mut seen = seen.lock().expect("lock");
        let task = &outcome["result"];
        match task["status"].as_str() {
            Some("completed") if task["result"]["content"][0]["text"] == "finished 4 steps" => seen.completed += 1,
            Some("failed") => {
                seen.failed.push((started, task["error"]["message"].as_str().unwrap_or_default().to_owned()))
            }
            _ => seen.wrong.push(outcome.to_string()),
        }
    }
}

/// `(client, n)` of every successful `add` recorded in the audit log at `path`.
fn audited(path: &Path) -> HashSet<(u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|r| r["kind"] == "tool_call" && r["tool"] == "add" && r["outcome"] == "ok")
        .filter_map(|r| Some((r["arguments"]["a"].as_u64()?, r["arguments"]["b"].as_u64()?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behind_haproxy_lose_nothing_when_one_is_killed_and_another_restarted() {
    if haproxy().is_none() {
        crate::services::unavailable::<()>("HAProxy is not installed (tests/services.sh installs it)");
        return;
    }
    let Some(redis) = crate::services::service("MCPTK_TEST_REDIS_URL", "Redis") else { return };
    let Some(postgres) = crate::services::service("MCPTK_TEST_POSTGRES_URL", "PostgreSQL") else { return };
    mcp_core::transport::install_crypto_provider();
    // A schema of this run's own for the audit table.
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&postgres).await.expect("PostgreSQL answers");
    let schema = format!("mcptk_cluster_{}", &mcp_core::random_id()[..12]);
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("a schema");
    let separator = if postgres.contains('?') { '&' } else { '?' };
    let shared = Shared {
        redis,
        prefix: format!("mcptk-cluster-test:{schema}:"),
        audit_database: format!("{postgres}{separator}options=-c%20search_path%3D{schema}"),
    };
    let dir = tempfile::tempdir().expect("temp");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut replicas = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        replicas.push(Some(replica(dir.path(), &format!("r{}", i + 1), *port, &shared).await));
    }
    let front = free_port();
    let _balancer = balancer(dir.path(), front, &ports).await;
    let url = format!("http://127.0.0.1:{front}/mcp");
    // HAProxy counts a server up after two good checks.
    tokio::time::sleep(Duration::from_millis(400)).await;

    // The load begins once every client is ready (its HTTP client built, its session opened), so
    // that the timeline below runs under load however slowly a busy machine gets there: a
    // handshake caught by the kill would see its connection dropped (HAProxy closes the client's
    // connection when a request meets a dead replica's idle connection, for the client to retry).
    let start = Arc::new(Barrier::new(12 + 1 + 3 + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let clients: Vec<_> = (1..=12)
        .map(|id| tokio::spawn(client(url.clone(), id, id % 2 == 0, start.clone(), stop.clone(), seen.clone())))
        .collect();
    let echoes = tokio::spawn(echo_caller(url.clone(), start.clone(), stop.clone()));
    let tasks_seen = Arc::new(Mutex::new(TasksSeen::default()));
    let task_clients: Vec<_> = (0..3)
        .map(|_| tokio::spawn(task_client(url.clone(), start.clone(), stop.clone(), tasks_seen.clone())))
        .collect();
    tokio::time::timeout(Duration::from_secs(60), start.wait()).await.expect("every client gets ready");
    let load_started = Instant::now();

    tokio::time::sleep(Duration::from_millis(800)).await;
    let killed_at = Instant::now();
    let killed = replicas[1].take().expect("r2");
    signal(&killed, nix::sys::signal::Signal::SIGKILL);
    drop(killed);

    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut restarted = replicas[2].take().expect("r3");
    signal(&restarted, nix::sys::signal::Signal::SIGTERM);
    let status = tokio::task::spawn_blocking(move || restarted.0.wait().expect("waits")).await.expect("joins");
    assert!(status.success(), "r3 drains and exits cleanly on SIGTERM: {status}");
    replicas[2] = Some(replica(dir.path(), "r3", ports[2], &shared).await);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }
    let (echoed, limited) = echoes.await.expect("echo caller");
    for client in task_clients {
        client.await.expect("task client");
    }
    let elapsed = load_started.elapsed().as_secs_f64();
    // The killed replica comes back, as an orchestrator restarts a container: it copies to the
    // database what its log holds and the database missed.
    replicas[1] = Some(replica(dir.path(), "r2", ports[1], &shared).await);
    // The survivors drain and exit, so their logs are complete.
    for proc in replicas.iter_mut().filter_map(Option::take) {
        signal(&proc, nix::sys::signal::Signal::SIGTERM);
        let mut proc = proc;
        let status = tokio::task::spawn_blocking(move || proc.0.wait().expect("waits")).await.expect("joins");
        assert!(status.success(), "{status}");
    }

    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(seen.acknowledged.len() > 100, "the load ran: {} calls answered", seen.acknowledged.len());
    assert_eq!(seen.lost_sessions, 0, "sessions carried on across replicas: {:?}", seen.failures);
    // Calls in flight on the killed replica may fail (HAProxy answers 502); nothing else: a
    // request that finds it gone before HAProxy's next check is sent to another replica. (The
    // window after the kill allows for a loaded machine.)
    let in_flight = killed_at - Duration::from_secs(1)..killed_at + Duration::from_secs(1);
    for (sent, what) in &seen.failures {
        let at = if *sent >= killed_at {
            format!("{:?} after the kill", *sent - killed_at)
        } else {
            format!("{:?} before the kill", killed_at - *sent)
        };
        assert!(in_flight.contains(sent), "a call failed that was not in flight on the killed replica ({at}): {what}");
    }
    assert!(seen.failures.len() <= 12, "at most one call in flight per client: {:?}", seen.failures);

    // Tasks: followed to their result through whichever replica answered, except those the
    // killed replica was running (started at most a task's length before the kill), which fail
    // saying so.
    let tasks_seen = std::mem::take(&mut *tasks_seen.lock().expect("lock"));
    assert!(tasks_seen.wrong.is_empty(), "wrong task answers: {:?}", tasks_seen.wrong);
    assert!(tasks_seen.completed >= 6, "tasks ran: {} completed", tasks_seen.completed);
    let running_on_the_killed = killed_at - Duration::from_secs(3)..killed_at + Duration::from_secs(1);
    for (started, why) in &tasks_seen.failed {
        assert!(
            running_on_the_killed.contains(started),
            "a task failed that the killed replica was not running: {why}"
        );
        assert!(why.contains("replica running this task stopped") || why.starts_with("the start failed"), "{why}");
    }
    assert!(tasks_seen.failed.len() <= 3, "at most one task per client failed: {:?}", tasks_seen.failed);

    // One budget for the service, whichever replica answers: GCRA's burst plus the rate over the
    // run (one more for rounding at the edges), where three budgets would allow about three times it.
    let bound = ECHO_BURST as f64 + ECHO_PER_MINUTE as f64 * elapsed / 60.0 + 1.0;
    assert!(
        echoed as f64 <= bound,
        "{echoed} echoes went through in {elapsed:.1} s; the shared limit allows {bound:.1}"
    );
    assert!(
        echoed >= ECHO_BURST && limited > 0,
        "the limit let the burst through and refused the rest: {echoed} / {limited}"
    );

    let mut recorded = HashSet::new();
    for name in ["r1", "r2", "r3"] {
        let log = dir.path().join(name).join("audit.jsonl");
        let verify = Command::new(mcptk()).args(["audit", "verify", "--log"]).arg(&log).output().expect("runs");
        assert!(verify.status.success(), "{name}'s log verifies: {}", String::from_utf8_lossy(&verify.stdout));
        recorded.extend(audited(&log));
    }
    let missing: Vec<_> = seen.acknowledged.iter().filter(|call| !recorded.contains(call)).collect();
    assert!(missing.is_empty(), "acknowledged calls without an audit record: {missing:?}");

    // The database holds every replica's chain, each verifying, and every answered call.
    let verify = Command::new(mcptk())
        .args(["audit", "verify", "--database", "${MCPTK_TEST_AUDIT_DATABASE}"])
        .env("MCPTK_TEST_AUDIT_DATABASE", &shared.audit_database)
        .output()
        .expect("runs");
    let report = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert!(verify.status.success(), "every chain in the database verifies: {report}");
    for name in ["r1", "r2", "r3"] {
        assert!(report.contains(name), "{name}'s chain is in the database: {report}");
    }
    let pool = sqlx::AnyPool::connect(&shared.audit_database).await.expect("connects");
    let rows: Vec<(String,)> = sqlx::query_as("SELECT arguments FROM mcp_audit WHERE tool = 'add' AND outcome = 'ok'")
        .fetch_all(&pool)
        .await
        .expect("reads the table");
    let stored: HashSet<(u64, u64)> = rows
        .iter()
        .filter_map(|(arguments,)| serde_json::from_str::<Value>(arguments).ok())
        .filter_map(|a| Some((a["a"].as_u64()?, a["b"].as_u64()?)))
        .collect();
    let missing: Vec<_> = seen.acknowledged.iter().filter(|call| !stored.contains(call)).collect();
    assert!(missing.is_empty(), "acknowledged calls missing from the audit database: {missing:?}");
    pool.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.expect("dropped");
}
