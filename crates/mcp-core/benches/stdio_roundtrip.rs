//! `tools/call` round trips over stdio between our client and our server, beside the official
//! Rust SDK's echo server (rmcp, when `cargo xtask bench` has built it) and a raw pipe ping-pong
//! of the same bytes as the floor. Run with `cargo bench -p mcptk-core --bench stdio_roundtrip`;
//! it prints calls per second, ratios, and `BENCH` lines for `cargo xtask bench`.
//!
//! The benchmark re-executes itself as the child process: `MCP_BENCH_ROLE=server` serves one echo
//! tool with [`mcp_core::Server`] on its stdin and stdout; `MCP_BENCH_ROLE=raw` answers every line
//! with a canned response of the same size, doing no JSON work at all. Every server is driven by
//! the same client ([`mcp_core::Client`]), so the client's own cost is the same on every row.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mcp_core::config::StdioServer;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{Client, ClientOptions, Registry, Server, ToolContext, ToolError, tool};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const SEQUENTIAL_CALLS: usize = 5_000;
const PIPELINED_CALLS: usize = 50_000;
const IN_FLIGHT: usize = 64;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

/// The response our server sends for one echo call, byte for byte, minus the id.
fn canned_response(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"_meta":{{"io.modelcontextprotocol/serverInfo":{{"name":"bench","version":"1"}}}},"content":[{{"text":"ping","type":"text"}}],"resultType":"complete"}}}}"#
    )
}

/// The request our client sends for one echo call, byte for byte, minus the id.
fn canned_request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{{"name":"mcp-core","version":"0.1.0"}},"io.modelcontextprotocol/clientCapabilities":{{}}}},"name":"echo","arguments":{{"text":"ping"}}}}}}"#
    )
}

fn main() {
    match std::env::var("MCP_BENCH_ROLE").as_deref() {
        // The server runs on the runtime `mcptk serve` uses on stdio: the current thread only.
        Ok("server") => {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(serve())
        }
        Ok("raw") => runtime().block_on(raw_echo()),
        _ => runtime().block_on(measure()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

async fn serve() {
    let mut registry = Registry::new();
    registry.tool(tool("echo", "echo", |a: Echo, _cx: ToolContext| async move { Ok::<_, ToolError>(a.text) }));
    let server = Server::builder(Implementation::new("bench", "1"), registry).build();
    server.serve_stdio().await.expect("serves");
}

async fn raw_echo() {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let mut id = 0u64;
    while let Ok(Some(_line)) = lines.next_line().await {
        id += 1;
        out.write_all(canned_response(id).as_bytes()).await.expect("write");
        out.write_all(b"\n").await.expect("write");
        // Flush only when no more input is already buffered, as our engine does.
        if lines.get_ref().buffer().is_empty() {
            out.flush().await.expect("flush");
        }
    }
}

fn child(role: &str) -> StdioServer {
    let exe = std::env::current_exe().expect("own path").display().to_string();
    let mut server = StdioServer::new(exe, Vec::<String>::new());
    server.env.insert("MCP_BENCH_ROLE".into(), role.into());
    server
}

/// The rmcp echo server `cargo xtask bench` builds (`<target>/benches/release/rmcp-echo`), if built.
fn rmcp() -> Option<StdioServer> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        // <target>/release/deps/<this bench>
        None => std::env::current_exe().ok()?.parent()?.parent()?.parent()?.to_owned(),
    };
    let exe = target.join("benches/release/rmcp-echo");
    exe.is_file().then(|| StdioServer::new(exe.display().to_string(), Vec::<String>::new()))
}

fn rate(calls: usize, elapsed: Duration) -> f64 {
    calls as f64 / elapsed.as_secs_f64()
}

/// One call at a time, then `IN_FLIGHT` at a time, against one server.
async fn calls(server: &StdioServer) -> (f64, f64) {
    let client = Client::spawn("bench", server, ClientOptions::default()).await.expect("connects");
    let mut args = JsonObject::new();
    args.insert("text".into(), "ping".into());

    // Warm up both sides.
    for _ in 0..500 {
        client.call_tool("echo", args.clone()).await.expect("call");
    }
    let started = Instant::now();
    for _ in 0..SEQUENTIAL_CALLS {
        client.call_tool("echo", args.clone()).await.expect("call");
    }
    let sequential = rate(SEQUENTIAL_CALLS, started.elapsed());

    let started = Instant::now();
    futures_util::stream::iter(0..PIPELINED_CALLS)
        .map(|_| client.call_tool("echo", args.clone()))
        .buffer_unordered(IN_FLIGHT)
        .for_each(|r| async move {
            r.expect("call");
        })
        .await;
    let pipelined = rate(PIPELINED_CALLS, started.elapsed());
    client.close().await.expect("close");
    (sequential, pipelined)
}

async fn measure() {
    let ours = calls(&child("server")).await;
    let rmcp = match rmcp() {
        Some(server) => Some(calls(&server).await),
        None => None,
    };
    let floor = raw_floor().await;

    println!("stdio tools/call round trips (echo tool, {IN_FLIGHT} in flight when pipelined)");
    println!("  {:<12} {:>14} {:>14} {:>14}", "", "one at a time", "pipelined", "latency (1)");
    let mut rows = vec![("mcptk", ours)];
    rows.extend(rmcp.map(|r| ("rmcp", r)));
    rows.push(("floor", floor));
    for (name, (sequential, pipelined)) in &rows {
        println!("  {name:<12} {sequential:>12.0}/s {pipelined:>12.0}/s {:>11.1} us", 1e6 / sequential);
    }
    println!("  latency vs the floor (one at a time): {:.2}x", floor.0 / ours.0);
    if let Some(rmcp) = rmcp {
        println!("  vs rmcp: {:.2}x one at a time, {:.2}x pipelined", ours.0 / rmcp.0, ours.1 / rmcp.1);
    }
    for (name, (sequential, pipelined)) in &rows {
        println!("BENCH stdio.seq.{name} {sequential:.0} calls/s");
        println!("BENCH stdio.pipelined{IN_FLIGHT}.{name} {pipelined:.0} calls/s");
    }
}

/// The same bytes over the same kind of pipe with no JSON-RPC work on either side.
async fn raw_floor() -> (f64, f64) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env("MCP_BENCH_ROLE", "raw")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("raw child starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();

    let started = Instant::now();
    for id in 0..SEQUENTIAL_CALLS as u64 {
        stdin.write_all(format!("{}\n", canned_request(id)).as_bytes()).await.expect("write");
        stdin.flush().await.expect("flush");
        line.clear();
        stdout.read_line(&mut line).await.expect("read");
    }
    let sequential = rate(SEQUENTIAL_CALLS, started.elapsed());

    // The same window as our client: at most IN_FLIGHT requests unanswered.
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let writer = {
        let window = window.clone();
        tokio::spawn(async move {
            let mut out = tokio::io::BufWriter::new(stdin);
            for id in 0..PIPELINED_CALLS as u64 {
                let permit = match window.try_acquire() {
                    Ok(p) => p,
                    Err(_) => {
                        // About to wait for answers: send what is buffered first.
                        out.flush().await.expect("flush");
                        window.acquire().await.expect("open")
                    }
                };
                permit.forget();
                out.write_all(format!("{}\n", canned_request(id)).as_bytes()).await.expect("write");
            }
            out.flush().await.expect("flush");
            out
        })
    };
    for _ in 0..PIPELINED_CALLS {
        line.clear();
        stdout.read_line(&mut line).await.expect("read");
        window.add_permits(1);
    }
    let pipelined = rate(PIPELINED_CALLS, started.elapsed());
    drop(writer.await);
    (sequential, pipelined)
}
