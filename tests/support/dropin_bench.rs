//! What the drop-in benches (`crates/mcp-{k8s,github,docker}/benches`) share: where the native
//! server's binary is, the cold start of an MCP server (spawn to its first `tools/list` answer,
//! median of [`STARTS`]) and calls per second of one tool, one call at a time. Included by each
//! bench (`#[path]`), so it is written once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mcp_core::config::StdioServer;
use mcp_core::{Client, ClientOptions};
use serde_json::Value;

/// Cold starts measured; the median is reported.
pub const STARTS: usize = 9;
/// How long each calls/s figure runs.
pub const CALLS_FOR: Duration = Duration::from_secs(2);

/// The `mcptk` binary: `MCPTK_BIN`, else the one beside the bench in the target folder.
pub fn mcptk_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("MCPTK_BIN") {
        return Some(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("mcptk");
    bin.exists().then_some(bin)
}

/// The median cold start of `server` over [`STARTS`] runs in ms, the number of tools it listed,
/// and the last started client (the others are closed).
pub async fn cold_start(name: &str, server: &StdioServer) -> (f64, usize, Client) {
    let mut times = Vec::with_capacity(STARTS);
    let mut last: Option<(usize, Client)> = None;
    for _ in 0..STARTS {
        let began = Instant::now();
        let client = Client::spawn(name, server, ClientOptions::default()).await.expect("the server starts");
        let tools = client.list_tools().await.expect("tools/list").len();
        times.push(began.elapsed());
        if let Some((_, previous)) = last.replace((tools, client)) {
            let _ = previous.close().await;
        }
    }
    times.sort();
    let (tools, client) = last.expect("started");
    (times[STARTS / 2].as_secs_f64() * 1e3, tools, client)
}

/// Sequential calls of `tool` for [`CALLS_FOR`]: calls per second, or the text of the first call
/// that failed (which ends the measurement).
pub async fn calls_per_second(client: &Client, tool: &str, arguments: &Value) -> Result<f64, String> {
    let arguments = arguments.as_object().cloned().expect("an object");
    let began = Instant::now();
    let mut calls = 0u64;
    while began.elapsed() < CALLS_FOR {
        let result = client.call_tool(tool, arguments.clone()).await.expect("no protocol error");
        if result.is_error() {
            return Err(result.text_content());
        }
        calls += 1;
    }
    Ok(calls as f64 / began.elapsed().as_secs_f64())
}
