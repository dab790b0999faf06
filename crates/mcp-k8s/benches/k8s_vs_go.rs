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
#[path = "../../../tests/support/dropin_bench.rs"]
mod dropin_bench;
#[allow(dead_code)]
#[path = "../tests/it/fake.rs"]
mod fake;
#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use mcp_core::config::StdioServer;
use serde_json::{Value, json};

use crate::dropin_bench::{calls_per_second, cold_start, mcptk_bin};
use crate::support::Cluster;

/// Both servers' figures, printed side by side.
/// One figure of a run, read from its [`Figures`].
type Getter = fn(&Figures) -> f64;

struct Figures {
    start_ms: f64,
    pods_list: f64,
    resources_get: f64,
}

async fn measure(name: &str, server: &StdioServer) -> Figures {
    let (start_ms, tools, client) = cold_start(name, server).await;
    assert!(tools > 0, "{name} lists no tools");
    let rate = async |tool: &str, arguments: Value| {
        calls_per_second(&client, tool, &arguments).await.unwrap_or_else(|failed| panic!("{tool} failed: {failed}"))
    };
    let pods_list = rate("pods_list", json!({})).await;
    let resources_get = rate(
        "resources_get",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "default"}),
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
