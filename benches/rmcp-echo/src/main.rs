//! An echo MCP server on the official Rust SDK (`rmcp`), the peer of `mcptk serve builtin` in the
//! side-by-side benchmarks: one tool, `echo`, with the same name, argument and answer shape as
//! mcptk's built-in one (`{"text": ...}` in, the text back as one text content block).
//!
//! `rmcp-echo` serves stdio; `rmcp-echo --http ADDR` serves Streamable HTTP on `ADDR` at `/mcp`,
//! stateless, answering in JSON (no SSE), with TCP_NODELAY on every accepted socket.

use std::net::SocketAddr;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

/// The arguments of `echo`, as mcptk's built-in tool takes them.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// Text to send back unchanged.
    text: String,
}

#[derive(Debug, Clone)]
struct Echo {
    #[allow(dead_code, reason = "read by the code `tool_handler` generates")]
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Echo {
    fn new() -> Self {
        Self { tool_router: Self::tool_router() }
    }

    #[tool(description = "Returns the given text unchanged.")]
    async fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }
}

#[tool_handler]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => serve_stdio().await,
        [flag, addr] if flag == "--http" => serve_http(addr.parse()?).await,
        _ => Err("usage: rmcp-echo [--http ADDR]".into()),
    }
}

async fn serve_stdio() -> Result<(), Box<dyn std::error::Error>> {
    let running = Echo::new().serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

async fn serve_http(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    let service: StreamableHttpService<Echo, NeverSessionManager> =
        StreamableHttpService::new(|| Ok(Echo::new()), Default::default(), config);
    let router = axum::Router::new().nest_service("/mcp", service);
    use axum::serve::ListenerExt as _;
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("rmcp-echo: serving MCP over HTTP on http://{addr}/mcp");
    axum::serve(listener, router).await?;
    Ok(())
}
