//! `mcptk serve k8s` beside the real Go `kubernetes-mcp-server` (npm 0.0.67 from `tests/node`), both
//! spawned as stdio servers and pointed through a kubeconfig at the same API server. That API
//! server is a FAKE (`tests/it/fake.rs`, in this process): no real Kubernetes runs here, so the
//! figures compare the two MCP servers and their clients, not a cluster.
//!
//! Measured: cold start (spawn to the first `tools/list` answer, median of 9) and calls/s of
//! `pods_list` and `resources_get`, one call at a time. The native server is the `mcptk` binary
//! next to this bench's target folder (or `MCPTK_BIN`); build it first with
//! `cargo build -p mcptk-cli --release`.

#[allow(dead_code)]
#[path = "../tests/it/fake.rs"]
mod fake;
#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mcp_core::config::StdioServer;
use mcp_core::{Client, ClientOptions};
use serde_json::{Value, json};

use crate::support::Cluster;

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

/// Spawns `server` and waits for its first `tools/list` answer.
async fn start(name: &str, server: &StdioServer) -> (Duration, Client) {
    let began = Instant::now();
    let client = Client::spawn(name, server, ClientOptions::default()).await.expect("the server starts");
    let tools = client.list_tools().await.expect("tools/list");
    let took = began.elapsed();
    assert!(!tools.is_empty(), "{name} lists no tools");
    (took, client)
}

/// The median cold start of `server` over [`STARTS`] runs, in ms, and a started client.
async fn cold_start(name: &str, server: &StdioServer) -> (f64, Client) {
    let mut times = Vec::with_capacity(STARTS);
    let mut last = None;
    for _ in 0..STARTS {
        let (took, client) = start(name, server).await;
        times.push(took);
        if let Some(previous) = last.replace(client) {
            let _ = Client::close(&previous).await;
        }
    }
    times.sort();
    (times[STARTS / 2].as_secs_f64() * 1e3, last.expect("started"))
}

/// Sequential calls of `tool` for [`CALLS_FOR`]; calls per second. Every answer must succeed.
async fn calls_per_second(client: &Client, tool: &str, arguments: &Value) -> f64 {
    let arguments = arguments.as_object().cloned().expect("an object");
    let began = Instant::now();
    let mut calls = 0u64;
    while began.elapsed() < CALLS_FOR {
        let result = client.call_tool(tool, arguments.clone()).await.expect("no protocol error");
        assert!(!result.is_error(), "{tool} failed: {}", result.text_content());
        calls += 1;
    }
    calls as f64 / began.elapsed().as_secs_f64()
}

/// Both servers' figures, printed side by side.
/// One figure of a run, read from its [`Figures`].
type Getter = fn(&Figures) -> f64;

struct Figures {
    start_ms: f64,
    pods_list: f64,
    resources_get: f64,
}

async fn measure(name: &str, server: &StdioServer) -> Figures {
    let (start_ms, client) = cold_start(name, server).await;
    let pods_list = calls_per_second(&client, "pods_list", &json!({})).await;
    let resources_get = calls_per_second(
        &client,
        "resources_get",
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "default"}),
    )
    .await;
    let _ = client.close().await;
    Figures { start_ms, pods_list, resources_get }
}

fn stdio(bin: &std::path::Path, args: Vec<String>) -> StdioServer {
    let mut server = StdioServer::new(bin.display().to_string(), args);
    server.env.insert("TZ".into(), "UTC".into());
    server.env.insert("HOME".into(), std::env::temp_dir().display().to_string());
    server
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let cluster = Cluster::start(false).await;
        let kubeconfig = cluster.kubeconfig.path().display().to_string();
        println!("k8s: mcptk serve k8s vs kubernetes-mcp-server (Go), both on a FAKE API server, YAML lists");

        let native = match mcptk_bin() {
            Some(bin) => {
                let args = ["serve", "k8s", "--kubeconfig", &kubeconfig, "--list-output", "yaml"];
                Some(measure("mcptk-k8s", &stdio(&bin, args.iter().map(|a| (*a).to_owned()).collect())).await)
            }
            None => {
                println!("native: skipped: no mcptk binary beside the bench (build `cargo build -p mcptk-cli --release` or set MCPTK_BIN)");
                None
            }
        };
        let go = match support::go_server_bin() {
            Some(bin) => {
                let args = ["--kubeconfig", &kubeconfig, "--list-output", "yaml"];
                Some(measure("go-kubernetes", &stdio(&bin, args.iter().map(|a| (*a).to_owned()).collect())).await)
            }
            None => {
                println!("go: skipped: kubernetes-mcp-server is missing from tests/node (run `cargo xtask setup`)");
                None
            }
        };

        println!("{:<22} {:>12} {:>12} {:>8}", "", "native", "go", "ratio");
        let rows: [(&str, &str, Getter); 3] = [
            ("cold start", "ms", |f| f.start_ms),
            ("pods_list", "calls/s", |f| f.pods_list),
            ("resources_get", "calls/s", |f| f.resources_get),
        ];
        for (label, unit, get) in rows {
            let n = native.as_ref().map(get);
            let g = go.as_ref().map(get);
            let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
            // For times, go/native; for rates, native/go: above 1 means native is better.
            let ratio = match (n, g) {
                (Some(n), Some(g)) if unit == "ms" => format!("{:.2}x", g / n),
                (Some(n), Some(g)) => format!("{:.2}x", n / g),
                _ => "-".to_owned(),
            };
            println!("{label:<22} {:>12} {:>12} {ratio:>8}  ({unit})", show(n), show(g));
        }
        println!("(ratio: how many times better native is)");
        for (label, figures) in [("native", &native), ("go", &go)] {
            if let Some(f) = figures {
                println!("BENCH k8s.start.{label} {:.2} ms", f.start_ms);
                println!("BENCH k8s.pods_list.{label} {:.1} calls/s", f.pods_list);
                println!("BENCH k8s.resources_get.{label} {:.1} calls/s", f.resources_get);
            }
        }
    });
}
