//! `read_text_file` round trips through the native server and through npm's reference server,
//! with the same client over stdio, and the cold start (spawn to first tool list) of each.
//! Needs `cargo xtask setup` for the npm server. Run with `cargo xtask bench`.
//!
//! The native server is this benchmark re-executed with `MCP_BENCH_FS_ROOT` set.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcp_core::config::StdioServer;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{Client, ClientOptions, Server};
use mcp_fs::native::{FsServer, Limits};

const CALLS: usize = 2_000;
const COLD_STARTS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Ok(root) = std::env::var("MCP_BENCH_FS_ROOT") {
        runtime.block_on(async {
            let registry = FsServer::open([root], Limits::default()).expect("root").registry();
            Server::builder(Implementation::new("bench-fs", "1"), registry)
                .build()
                .serve_stdio()
                .await
                .expect("serves");
        });
        return;
    }
    runtime.block_on(measure());
}

fn native(root: &Path) -> StdioServer {
    let mut server =
        StdioServer::new(std::env::current_exe().expect("own path").display().to_string(), Vec::<String>::new());
    server.env.insert("MCP_BENCH_FS_ROOT".into(), root.display().to_string());
    server
}

fn npm(root: &Path) -> StdioServer {
    let bin: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/node_modules/.bin/mcp-server-filesystem");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    StdioServer::new(bin.display().to_string(), [root.display().to_string()])
}

async fn cold_start(server: &StdioServer) -> Duration {
    let mut times = Vec::new();
    for _ in 0..COLD_STARTS {
        let started = Instant::now();
        let client = Client::spawn("bench", server, ClientOptions::default()).await.expect("starts");
        client.list_tools().await.expect("lists");
        times.push(started.elapsed());
        client.close().await.expect("closes");
    }
    times.sort();
    times[times.len() / 2]
}

async fn calls_per_second(server: &StdioServer, path: &str) -> f64 {
    let client = Client::spawn("bench", server, ClientOptions::default()).await.expect("starts");
    let mut args = JsonObject::new();
    args.insert("path".into(), path.into());
    for _ in 0..100 {
        client.call_tool("read_text_file", args.clone()).await.expect("warm-up");
    }
    let started = Instant::now();
    for _ in 0..CALLS {
        let result = client.call_tool("read_text_file", args.clone()).await.expect("call");
        assert!(!result.is_error(), "{}", result.text_content());
    }
    let rate = CALLS as f64 / started.elapsed().as_secs_f64();
    client.close().await.expect("closes");
    rate
}

async fn measure() {
    let dir = tempfile::tempdir().expect("temp");
    let root = dir.path().canonicalize().expect("canonical");
    let file = root.join("sample.txt");
    std::fs::write(&file, "a line of text for the benchmark\n".repeat(128)).expect("write");
    let path = file.display().to_string();

    let (native, npm) = (native(&root), npm(&root));
    let native_rate = calls_per_second(&native, &path).await;
    let npm_rate = calls_per_second(&npm, &path).await;
    let native_cold = cold_start(&native).await;
    let npm_cold = cold_start(&npm).await;

    println!("read_text_file of a 4 KiB file over stdio, one call at a time ({CALLS} calls)");
    println!(
        "  native: {native_rate:>8.0} calls/s   npm: {npm_rate:>8.0} calls/s   native/npm: {:.2}x",
        native_rate / npm_rate
    );
    println!("cold start, spawn to first tools/list (median of {COLD_STARTS})");
    println!(
        "  native: {:>8.1} ms        npm: {:>8.1} ms        npm/native: {:.1}x",
        native_cold.as_secs_f64() * 1000.0,
        npm_cold.as_secs_f64() * 1000.0,
        npm_cold.as_secs_f64() / native_cold.as_secs_f64()
    );
}
