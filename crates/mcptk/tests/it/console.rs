//! The web console of `mcptk serve --http` (`/ui`): its API's admission (the bearer token and the
//! Host and Origin checks of `/mcp`), read-only unless `--console-calls`, calls through the
//! pipeline with progress and denials, the activity list from the audit log, and the whole page
//! in headless Chromium driven by Playwright (`tests/node/console.mjs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::http::{Served, serve_env};
use crate::support::{installed, mcptk, root};

/// A directory for one gateway: its configuration, audit log and the files `files` serves.
/// (Not `support::Scratch`, whose database setup needs a runtime of its own.)
struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().canonicalize().expect("canonical temp dir");
        std::fs::write(path.join("hello.txt"), "hello\n").expect("writes hello.txt");
        Scratch { _dir: dir, path }
    }

    fn join(&self, relative: &str) -> String {
        self.path.join(relative).display().to_string()
    }
}

const OPS: &str = "ops-token-4f1c9a";
const VIEWER: &str = "viewer-token-77be02";

/// A gateway configuration with two servers, `builtin` (in-process) and `files` (`mcptk serve fs`
/// as a child process), a third that cannot start (`broken`) when `broken` is set, and a policy
/// whose rule `no-writes` denies writing files.
fn gateway_config(scratch: &Scratch, broken: bool) -> String {
    let mut servers = json!({ "files": { "command": mcptk(), "args": ["serve", "fs", scratch.path] } });
    if broken {
        servers["broken"] = json!({ "command": "/bin/false" });
    }
    let config = json!({
        "mcpServers": servers,
        "native": { "builtin": true },
        "audit": { "path": scratch.join("audit.jsonl") },
        "restart": { "initial_delay_ms": 100, "max_delay_ms": 400 },
        "policy": { "rules": [
            { "name": "no-writes", "effect": "deny", "tools": ["write_file", "edit_file", "move_file", "create_directory"] },
            { "name": "viewers-no-slow", "effect": "deny", "principals": ["viewer"], "tools": ["slow"] },
            { "name": "everyone", "effect": "allow" },
        ] },
    });
    let path = scratch.join("gateway.json");
    std::fs::write(&path, config.to_string()).expect("writes the config");
    path
}

/// `mcptk serve --config CONFIG --http ADDR EXTRA...` with the two tokens (`ops`, `viewer`).
async fn serve_console(scratch: &Scratch, broken: bool, extra: &[&str]) -> Served {
    let config = gateway_config(scratch, broken);
    let mut args = vec!["serve", "--config", config.as_str()];
    args.extend_from_slice(extra);
    let tokens = format!("ops={OPS},viewer={VIEWER}");
    let home = scratch.join("");
    let served = serve_env(&args, &[("MCPTK_HTTP_TOKENS", tokens.as_str()), ("HOME", home.as_str())]).await;
    // It serves while its servers start; the tool list answers once they have.
    let tools = get(&served.base, "/ui/api/tools", Some(OPS)).timeout(Duration::from_secs(60)).send().await;
    let status = tools.expect("the tool list answers once the servers have started").status();
    assert!(status == 200 || extra.contains(&"--no-console"), "{status}");
    served
}

fn get(base: &str, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
    let request = reqwest::Client::new().get(format!("{base}{path}"));
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// `GET base+path` with `token`'s answer as JSON.
async fn get_json(base: &str, path: &str, token: &str) -> Value {
    get(base, path, Some(token)).send().await.expect("answers").json().await.expect("json")
}

fn call(base: &str, token: &str, tool: &str, arguments: Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{base}/ui/api/call"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(json!({ "tool": tool, "arguments": arguments }).to_string())
}

/// The events of a `text/event-stream` body, as `(event, data)`.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).ok()?))
        })
        .collect()
}

/// The activity list once it holds `count` records (the console follows the audit log's file).
async fn activity(served: &Served, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listing: Value = get_json(&served.base, "/ui/api/activity", OPS).await;
        let records = listing["records"].as_array().cloned().unwrap_or_default();
        if records.len() >= count || Instant::now() > deadline {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_console_api_takes_the_same_token_host_and_origin_checks_as_mcp() {
    let scratch = Scratch::new();
    let served = serve_console(&scratch, false, &[]).await;

    // The page and its assets hold no data: open, with a strict content security policy.
    let page = get(&served.base, "/ui", None).send().await.expect("answers");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.text().await.expect("body").contains("/ui/console.js"));
    for asset in ["/ui/console.js", "/ui/console.css", "/ui/favicon.svg"] {
        assert_eq!(get(&served.base, asset, None).send().await.expect("answers").status(), 200, "{asset}");
    }

    // Every API route wants a token, and a known one.
    for path in ["/ui/api/overview", "/ui/api/tools", "/ui/api/activity", "/ui/api/stats", "/ui/api/audit/1"] {
        let anonymous = get(&served.base, path, None).send().await.expect("answers");
        assert_eq!(anonymous.status(), 401, "{path}");
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let wrong = get(&served.base, path, Some("not-a-token")).send().await.expect("answers");
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let refused =
        call(&served.base, "not-a-token", "builtin__echo", json!({"text": "x"})).send().await.expect("answers");
    assert_eq!(refused.status(), 401);

    // The token names the principal; a foreign Host or Origin is refused even with it.
    let overview: Value = get_json(&served.base, "/ui/api/overview", VIEWER).await;
    assert_eq!(overview["principal"], "viewer");
    assert_eq!(overview["calls"], false);
    let rebinding = get(&served.base, "/ui/api/overview", Some(OPS))
        .header("host", "evil.example:80")
        .send()
        .await
        .expect("answers");
    assert_eq!(rebinding.status(), 403);
    let foreign = get(&served.base, "/ui/api/tools", Some(OPS))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("answers");
    assert_eq!(foreign.status(), 403);

    // Activity streams are bounded: one past the limit is refused until one closes.
    let mut open = Vec::new();
    for _ in 0..16 {
        let stream = get(&served.base, "/ui/api/activity/stream", Some(OPS)).send().await.expect("answers");
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    let refused = get(&served.base, "/ui/api/activity/stream", Some(OPS)).send().await.expect("answers");
    assert_eq!(refused.status(), 503);
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = get(&served.base, "/ui/api/activity/stream", Some(OPS)).send().await.expect("answers");
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "a closed stream's place was not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(open);

    // Tools of both servers, each with the decision and the rule per principal.
    let listing: Value = get_json(&served.base, "/ui/api/tools", OPS).await;
    let tools = listing["tools"].as_array().expect("tools");
    let find = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no {name}"));
    let decision = |name: &str, principal: &str| {
        let access = find(name)["access"].as_array().expect("access").clone();
        let entry = access.into_iter().find(|a| a["principal"] == principal).expect("principal listed");
        (entry["allowed"].as_bool().expect("bool"), entry["rule"].as_str().expect("rule").to_owned())
    };
    assert_eq!(find("files__read_text_file")["server"], "files");
    assert_eq!(find("builtin__echo")["inputSchema"]["properties"]["text"]["type"], "string");
    assert_eq!(decision("files__write_file", "ops"), (false, "no-writes".to_owned()));
    assert_eq!(decision("builtin__slow", "viewer"), (false, "viewers-no-slow".to_owned()));
    assert_eq!(decision("builtin__slow", "ops"), (true, "everyone".to_owned()));
    // The gateway's own principal is described too.
    assert_eq!(decision("builtin__echo", "stdio"), (true, "everyone".to_owned()));
}

#[tokio::test]
async fn the_console_is_read_only_unless_calls_are_enabled_and_can_be_turned_off() {
    let scratch = Scratch::new();
    let served = serve_console(&scratch, false, &[]).await;
    let refused = call(&served.base, OPS, "builtin__echo", json!({"text": "hi"})).send().await.expect("answers");
    assert_eq!(refused.status(), 403);
    let why: Value = refused.json().await.expect("json");
    assert!(why["error"].as_str().expect("message").contains("--console-calls"), "{why}");
    // Nothing ran, so nothing was audited.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(activity(&served, 0).await.is_empty());
    drop(served);

    let served = serve_console(&scratch, false, &["--no-console"]).await;
    assert_eq!(get(&served.base, "/ui", None).send().await.expect("answers").status(), 404);
    assert_eq!(get(&served.base, "/ui/api/overview", Some(OPS)).send().await.expect("answers").status(), 404);
    // The rest of the gateway is unchanged.
    assert_eq!(get(&served.base, "/healthz", None).send().await.expect("answers").status(), 200);
}

#[tokio::test]
async fn console_calls_run_through_the_pipeline_and_show_in_the_activity_with_their_rule() {
    let scratch = Scratch::new();
    let served = serve_console(&scratch, true, &["--console-calls"]).await;

    // Servers: two running, one that cannot start, with its restarts and its last error.
    let deadline = Instant::now() + Duration::from_secs(10);
    let broken = loop {
        let overview: Value = get_json(&served.base, "/ui/api/overview", OPS).await;
        assert_eq!(overview["calls"], true);
        let servers = overview["servers"].as_array().expect("servers").clone();
        let by_name = |name: &str| servers.iter().find(|s| s["name"] == name).cloned().expect("listed");
        assert_eq!(by_name("builtin")["state"], "running");
        let files = by_name("files");
        assert_eq!(files["state"], "running");
        assert!(files["tools"].as_u64().expect("count") > 5, "{files}");
        assert!(files["protocol_version"].is_string() && files["era"].is_string(), "{files}");
        let broken = by_name("broken");
        if broken["restarts"].as_u64().unwrap_or(0) >= 2 || Instant::now() > deadline {
            break broken;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(broken["state"], "failed", "{broken}");
    assert!(broken["restarts"].as_u64().expect("count") >= 2, "{broken}");
    assert!(!broken["last_error"].as_str().unwrap_or("").is_empty(), "{broken}");

    // Watch the activity stream while calls are made.
    let stream = get(&served.base, "/ui/api/activity/stream", Some(OPS)).send().await.expect("answers");
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut stream = stream.bytes_stream();

    // A call with progress: the events arrive before the result.
    let answer =
        call(&served.base, OPS, "builtin__slow", json!({"steps": 3, "delay_ms": 20})).send().await.expect("answers");
    assert_eq!(answer.status(), 200);
    let seen = events(&answer.text().await.expect("body"));
    let names: Vec<&str> = seen.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["progress", "progress", "progress", "result"]);
    assert_eq!(seen[2].1["progress"], 3.0);
    assert_eq!(seen[3].1["content"][0]["text"], "finished 3 steps");

    // A denied call is a tool error that names its rule; the call ran as the token's principal.
    let answer = call(&served.base, VIEWER, "builtin__slow", json!({"steps": 1})).send().await.expect("answers");
    let seen = events(&answer.text().await.expect("body"));
    let (name, result) = seen.last().expect("a result");
    assert_eq!(name, "result");
    assert_eq!(result["isError"], true);
    assert!(result["content"][0]["text"].as_str().expect("text").contains("viewers-no-slow"), "{result}");

    // A call whose page stops reading is cancelled, and audited as such.
    let answer =
        call(&served.base, OPS, "builtin__slow", json!({"steps": 100, "delay_ms": 100})).send().await.expect("answers");
    let mut body = answer.bytes_stream();
    let first = body.next().await.expect("an event").expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains("event: progress"));
    drop(body);

    // Bad requests are refused before anything runs.
    let unknown = call(&served.base, OPS, "nope__nothing", json!({})).send().await.expect("answers");
    assert_eq!(unknown.status(), 404);
    let bad = call(&served.base, OPS, "builtin__echo", json!([1])).send().await.expect("answers");
    assert_eq!(bad.status(), 400);

    // The calls are in the activity list, the denial with its rule, and open as audit records.
    let records = activity(&served, 3).await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[2]["outcome"], "cancelled", "{records:?}");
    assert_eq!((records[0]["principal"].as_str(), records[0]["decision"].as_str()), (Some("ops"), Some("allow")));
    assert_eq!(records[1]["principal"], "viewer");
    assert_eq!(records[1]["decision"], "deny");
    assert_eq!(records[1]["rule"], "viewers-no-slow");
    let seq = records[1]["seq"].as_u64().expect("seq");
    let after: Value = get_json(&served.base, &format!("/ui/api/activity?since={seq}"), OPS).await;
    assert_eq!(after["records"].as_array().map(Vec::len), Some(1), "only the record after `since`: {after}");
    for since in ["abc", "-1", ""] {
        let refused = get(&served.base, &format!("/ui/api/activity?since={since}"), Some(OPS)).send().await;
        let refused = refused.expect("answers");
        assert_eq!(refused.status(), 400, "since={since}");
        let body: Value = refused.json().await.expect("json");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("`since`")), "{body}");
    }
    let record: Value = get_json(&served.base, &format!("/ui/api/audit/{seq}"), OPS).await;
    assert_eq!(record["rule"], "viewers-no-slow");
    assert!(record["hash"].as_str().expect("hash").starts_with("sha256:"));
    assert_eq!(get(&served.base, "/ui/api/audit/999", Some(OPS)).send().await.expect("answers").status(), 404);

    // The stream saw them as they happened.
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while events(&text).iter().filter(|(name, _)| name == "record").count() < 3 {
        let chunk = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), stream.next())
            .await
            .expect("records streamed in time");
        text.push_str(&String::from_utf8_lossy(&chunk.expect("open").expect("bytes")));
    }
    let streamed: Vec<Value> = events(&text).into_iter().map(|(_, data)| data).collect();
    assert_eq!(streamed[1]["rule"], "viewers-no-slow");

    // The charts count both calls.
    let stats: Value = get_json(&served.base, "/ui/api/stats", OPS).await;
    let all = stats["tools"].as_array().expect("tools").iter().find(|t| t["tool"] == "*").expect("all").clone();
    let calls: u64 = all["points"].as_array().expect("points").iter().map(|p| p["calls"].as_u64().unwrap_or(0)).sum();
    assert_eq!(calls, 3, "{stats}");
}

/// On SIGTERM the activity streams end at once (the drain does not wait for them), and the token
/// never shows in the gateway's logs, even at debug level.
#[tokio::test]
async fn activity_streams_end_when_the_gateway_drains_and_the_token_is_never_logged() {
    mcp_core::transport::install_crypto_provider();
    let scratch = Scratch::new();
    let config = gateway_config(&scratch, false);
    let port = crate::http::free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(scratch.path.join("stderr.log")).expect("a log file");
    let mut child = Command::new(mcptk())
        .args(["serve", "--config", &config, "--http", &addr, "--console-calls", "--drain-delay", "0"])
        .env_remove("MCPTK_HTTP_TOKEN")
        .env("MCPTK_HTTP_TOKENS", format!("ops={OPS},viewer={VIEWER}"))
        .env("MCPTK_LOG", "debug")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starts");
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stream = get(&base, "/ui/api/activity/stream", Some(OPS)).send().await.expect("answers");
    assert_eq!(stream.status(), 200);
    let answer = call(&base, OPS, "builtin__echo", json!({"text": "logged?"})).send().await.expect("answers");
    assert!(answer.text().await.expect("body").contains("logged?"));
    assert_eq!(get(&base, "/ui/api/tools", Some("wrong-token-5d1e")).send().await.expect("answers").status(), 401);

    let started = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .expect("signals");
    let mut body = stream.bytes_stream();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the activity stream did not end when the gateway drained");
    let exited = tokio::task::spawn_blocking(move || child.wait()).await.expect("joins").expect("exits");
    assert!(exited.success(), "{exited}");
    assert!(started.elapsed() < Duration::from_secs(10), "the drain waited {:?}", started.elapsed());

    let logged = std::fs::read_to_string(scratch.path.join("stderr.log")).expect("the log");
    assert!(!logged.is_empty(), "debug logging is on");
    for secret in [OPS, VIEWER, "wrong-token-5d1e"] {
        assert!(!logged.contains(secret), "a token is in the log:\n{logged}");
    }
}

/// The browser and Playwright, or `None` (the reason printed) outside CI when either is missing.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("MCPTK_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let playwright = root().join("tests/node/node_modules/playwright-core/package.json");
    let missing = if !chromium.exists() {
        Some(format!("{} is missing: tests/services.sh installs Debian's chromium", chromium.display()))
    } else if !playwright.exists() {
        Some("playwright-core is missing: run `cargo xtask setup`".to_owned())
    } else {
        None
    };
    if let Some(reason) = missing {
        return crate::services::unavailable(&reason);
    }
    Some((chromium, installed("tests/node/console.mjs")))
}

/// The page in headless Chromium: sign in, the tools of both servers, a call through the form
/// (and its progress), the call in the activity list, a denied call with its rule, the audit
/// record, the charts, keyboard and both themes (see `tests/node/console.mjs`). With
/// `MCPTK_CONSOLE_SCREENSHOTS=DIR` the screenshots of `docs/console.md` are written there.
#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    let Some((chromium, script)) = browser() else { return };
    let scratch = Scratch::new();
    let served = serve_console(&scratch, false, &["--console-calls"]).await;
    // A relative directory is taken from the workspace root (`docs/img`).
    let shots = std::env::var_os("MCPTK_CONSOLE_SCREENSHOTS").map(|dir| root().join(dir));
    let output = tokio::task::spawn_blocking({
        let base = served.base.clone();
        let shots = shots.clone();
        move || {
            let mut command = Command::new("node");
            command.current_dir(script.parent().unwrap_or(Path::new("."))).arg(&script).arg(&base);
            command.args(shots).env("MCPTK_CONSOLE_TOKEN", OPS).env("MCPTK_CHROMIUM", &chromium);
            command.output().expect("node starts")
        }
    })
    .await
    .expect("joins");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "console.mjs failed:\n{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("no JSON ({e}): {stdout}"));
    assert_eq!(seen["ok"], true);
    assert_eq!(seen["deniedRule"], "no-writes");
    let tools: Vec<&str> = seen["tools"].as_array().expect("tools").iter().filter_map(Value::as_str).collect();
    assert!(tools.contains(&"builtin__echo") && tools.contains(&"files__write_file"), "{tools:?}");
    // The audit log holds what the browser did: the echo, the slow call and the denial.
    let audit = std::fs::read_to_string(scratch.join("audit.jsonl")).expect("the audit log");
    assert!(audit.contains("hello from the browser") && audit.contains("\"rule\":\"no-writes\""), "{audit}");
    // The token never reaches the audit log.
    assert!(!audit.contains(OPS));
}
