//! The two backends under test, each as an MCP client: the npm server (`@perplexity-ai/mcp-server`
//! 1.2.1 from `tests/node`, installed by `cargo xtask setup`) as a child process, and our native
//! server served over an in-memory pipe. Both talk to the same fixture.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcp_core::config::StdioServer;
use mcp_core::protocol::{Implementation, ProgressParams};
use mcp_core::{CallEvent, Client, ClientOptions};
use mcp_perplexity::native::{PerplexityConfig, PerplexityServer};
use serde_json::Value;

use crate::fixture::Fixture;

fn npm_server_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/node_modules/.bin/perplexity-mcp");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    bin
}

/// The npm server with `key`, pointed at the fixture, with `timeout` as `PERPLEXITY_TIMEOUT_MS`.
pub async fn npm(fixture: &Fixture, key: &str, timeout: Option<Duration>) -> Arc<Client> {
    let mut server = StdioServer::new(npm_server_bin().display().to_string(), Vec::<String>::new());
    server.env.insert("PERPLEXITY_API_KEY".into(), key.into());
    server.env.insert("PERPLEXITY_BASE_URL".into(), fixture.url.clone());
    if let Some(timeout) = timeout {
        server.env.insert("PERPLEXITY_TIMEOUT_MS".into(), timeout.as_millis().to_string());
    }
    Arc::new(Client::spawn("npm-perplexity", &server, ClientOptions::default()).await.expect("the npm server starts"))
}

/// Our configuration with `key`, pointed at the fixture.
pub fn config(fixture: &Fixture, key: &str, timeout: Option<Duration>) -> PerplexityConfig {
    let mut config = PerplexityConfig::new(key);
    config.base_url = fixture.url.clone();
    if let Some(timeout) = timeout {
        config.timeout = timeout;
    }
    config
}

/// Our native server on `config`, served by `mcp_core::Server` over a pipe, as a client sees it.
pub async fn native(config: PerplexityConfig) -> Arc<Client> {
    let server = PerplexityServer::new(config).expect("a valid configuration");
    let mcp = mcp_core::Server::builder(Implementation::new("native-perplexity", "0.1.0"), server.registry())
        .instructions(PerplexityServer::INSTRUCTIONS)
        .build();
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_end);
    tokio::spawn(async move {
        let _ = mcp.serve(server_read, server_write).await;
    });
    let (client_read, client_write) = tokio::io::split(client_end);
    let client = Client::connect("native-perplexity", client_read, client_write, ClientOptions::default())
        .await
        .expect("the native server answers");
    Arc::new(client)
}

/// Both backends with `key`: `[("npm", ..), ("native", ..)]`.
pub async fn both(fixture: &Fixture, key: &str, timeout: Option<Duration>) -> [(&'static str, Arc<Client>); 2] {
    [("npm", npm(fixture, key, timeout).await), ("native", native(config(fixture, key, timeout)).await)]
}

/// Calls `tool` through `client` asking for progress; returns the progress reports
/// (`(progress, message)`) and the result's text with whether it is an error.
pub async fn call_with_progress(client: &Client, tool: &str, arguments: Value) -> (Vec<(f64, String)>, String, bool) {
    use futures_util::StreamExt as _;
    let arguments = arguments.as_object().cloned().expect("arguments are an object");
    let mut stream = client.call_tool_stream(tool, arguments);
    let mut progress = Vec::new();
    while let Some(event) = stream.next().await {
        match event.expect("the call completes") {
            CallEvent::Progress(ProgressParams { progress: p, message, total, .. }) => {
                assert_eq!(total, None, "no total is known in advance");
                progress.push((p.as_f64().expect("a number"), message.unwrap_or_default()));
            }
            CallEvent::Result(result) => return (progress, result.text_content(), result.is_error()),
            _ => {}
        }
    }
    panic!("the call ended without a result")
}
