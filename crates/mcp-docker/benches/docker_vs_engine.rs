//! `mcptk serve docker` on the real engine the tests use (Podman's Docker-compatible API from
//! `cargo xtask services`: `MCPTK_TEST_DOCKER_HOST`), beside the engine's own API called
//! directly through bollard (the floor) and, when `.tools/py-docker` holds it, the reference
//! Python server `mcp-server-docker` 0.3.0 on the same engine.
//!
//! Measured: cold start (spawn to the first `tools/list` answer, median of 9) of both MCP servers
//! and calls/s of `list_containers` (`all: true`), one call at a time, against
//! `GET /containers/json?all=true` answered by the engine. The native server is the `mcptk`
//! binary next to this bench's target folder (or `MCPTK_BIN`); build it first with
//! `cargo build -p mcptk-cli --release`.

#[allow(dead_code)]
#[path = "../../../tests/support/dropin_bench.rs"]
mod dropin_bench;

use std::path::{Path, PathBuf};
use std::time::Instant;

use mcp_core::config::StdioServer;
use serde_json::json;

use crate::dropin_bench::{CALLS_FOR, calls_per_second, cold_start, mcptk_bin};

/// The reference server, where `cargo xtask setup` installs it.
fn python_bin() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py-docker/bin/mcp-server-docker");
    bin.exists().then_some(bin)
}

/// An MCP server's figures.
struct Figures {
    start_ms: f64,
    list_containers: f64,
}

/// Cold start (median of [`STARTS`](dropin_bench::STARTS)), then sequential `list_containers`
/// calls for [`CALLS_FOR`].
async fn measure(name: &str, server: &StdioServer) -> Figures {
    let (start_ms, _, client) = cold_start(name, server).await;
    let list_containers = calls_per_second(&client, "list_containers", &json!({"all": true}))
        .await
        .unwrap_or_else(|failed| panic!("{name}: list_containers failed: {failed}"));
    let _ = client.close().await;
    Figures { start_ms, list_containers }
}

/// The floor: the engine's own list, through bollard, for [`CALLS_FOR`]; calls/s and the count.
async fn engine(host: &str) -> (f64, usize) {
    let docker =
        bollard::Docker::connect_with_host(host).expect("connects").negotiate_version().await.expect("negotiates");
    let options = bollard::query_parameters::ListContainersOptions { all: true, ..Default::default() };
    let began = Instant::now();
    let mut calls = 0u64;
    let mut count = 0;
    while began.elapsed() < CALLS_FOR {
        count = docker.list_containers(Some(options.clone())).await.expect("the engine lists").len();
        calls += 1;
    }
    (calls as f64 / began.elapsed().as_secs_f64(), count)
}

fn main() {
    let Some(host) = std::env::var("MCPTK_TEST_DOCKER_HOST").ok().filter(|h| !h.is_empty()) else {
        println!(
            "docker: skipped: MCPTK_TEST_DOCKER_HOST is not set (run `cargo xtask services > /tmp/svc.env` and \
             load it: it starts Podman's Docker-compatible API)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("docker: mcptk serve docker vs the engine's API (floor) vs mcp-server-docker (Python), on {host}");
        let (floor, count) = engine(&host).await;

        let native = match mcptk_bin() {
            Some(bin) => {
                let args: Vec<String> = ["serve", "docker", "--host", &host].iter().map(|a| (*a).to_owned()).collect();
                Some(measure("mcptk-docker", &StdioServer::new(bin.display().to_string(), args)).await)
            }
            None => {
                println!("native: skipped: no mcptk binary beside the bench (build `cargo build -p mcptk-cli --release` or set MCPTK_BIN)");
                None
            }
        };
        let python = match python_bin() {
            Some(bin) => {
                let mut server = StdioServer::new(bin.display().to_string(), Vec::<String>::new());
                server.env.insert("DOCKER_HOST".into(), host.clone());
                Some(measure("mcp-server-docker", &server).await)
            }
            None => {
                println!("python: skipped: .tools/py-docker/bin/mcp-server-docker is missing (run `cargo xtask setup`)");
                None
            }
        };

        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        println!("containers listed: {count}");
        println!("{:<24} {:>10} {:>10} {:>10}", "", "native", "python", "engine");
        println!(
            "{:<24} {:>10} {:>10} {:>10}",
            "cold start (ms)",
            show(native.as_ref().map(|f| f.start_ms)),
            show(python.as_ref().map(|f| f.start_ms)),
            "-"
        );
        println!(
            "{:<24} {:>10} {:>10} {:>10.1}",
            "list_containers (calls/s)",
            show(native.as_ref().map(|f| f.list_containers)),
            show(python.as_ref().map(|f| f.list_containers)),
            floor
        );
        if let Some(n) = &native {
            println!("native/engine list_containers: {:.2} of the floor", n.list_containers / floor);
            if let Some(p) = &python {
                println!(
                    "native vs python: start {:.2}x faster, list_containers {:.2}x the calls/s",
                    p.start_ms / n.start_ms,
                    n.list_containers / p.list_containers
                );
            }
        }
        for (label, figures) in [("native", &native), ("python", &python)] {
            if let Some(f) = figures {
                println!("BENCH docker.start.{label} {:.2} ms", f.start_ms);
                println!("BENCH docker.list_containers.{label} {:.1} calls/s", f.list_containers);
            }
        }
        println!("BENCH docker.list_containers.engine {floor:.1} calls/s");
    });
}
