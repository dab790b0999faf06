//! Tool calls per second over Streamable HTTP against our server, from a load generator of many
//! concurrent clients (each its own connection, calls one after another). Run with
//! `cargo xtask bench`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcp_core::config::HttpServer;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::transport::http::{HttpOptions, serve};
use mcp_core::{Client, ClientOptions, Registry, Server, ToolContext, ToolError, tool};

const RUN: Duration = Duration::from_secs(3);

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut registry = Registry::new();
        registry.tool(tool("echo", "echo", |a: Echo, _cx: ToolContext| async move { Ok::<_, ToolError>(a.text) }));
        let server = Server::builder(Implementation::new("bench", "1"), registry).build();
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        tokio::spawn(async move { serve(server, addr, HttpOptions::default(), None).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let url = format!("http://127.0.0.1:{port}/mcp");

        println!("tools/call over Streamable HTTP (stateless era, JSON answers), {}s per run", RUN.as_secs());
        for clients in [1usize, 16, 64] {
            let mut connections = Vec::new();
            for _ in 0..clients {
                let server = HttpServer::new(url.clone());
                connections.push(Arc::new(
                    Client::connect_http("bench", &server, ClientOptions::default()).await.expect("connects"),
                ));
            }
            let done = Arc::new(AtomicU64::new(0));
            let deadline = Instant::now() + RUN;
            let workers = connections.iter().map(|client| {
                let (client, done) = (client.clone(), done.clone());
                tokio::spawn(async move {
                    let mut args = JsonObject::new();
                    args.insert("text".into(), "ping".into());
                    while Instant::now() < deadline {
                        client.call_tool("echo", args.clone()).await.expect("call");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            });
            let started = Instant::now();
            for worker in futures_util::future::join_all(workers).await {
                worker.expect("worker");
            }
            let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
            println!("  {clients:>3} concurrent clients: {rate:>8.0} calls/s");
        }
    });
}
