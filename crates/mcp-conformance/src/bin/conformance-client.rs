//! The client the official MCP conformance suite drives: `conformance-client SERVER_URL`, with the
//! scenario in `MCP_CONFORMANCE_SCENARIO` and, when given, the protocol revision in
//! `MCP_CONFORMANCE_PROTOCOL_VERSION`. Built only on mcp-core's public API.

use mcp_core::config::HttpServer;
use mcp_core::protocol::{Implementation, JsonObject, ProtocolVersion};
use mcp_core::{Client, ClientOptions, EraPreference};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: conformance-client SERVER_URL"))?;
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    // Dated revisions up to 2025-11-25 use the handshake; 2026-07-28 is stateless.
    let era = match std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").ok().as_deref().and_then(ProtocolVersion::parse) {
        Some(v) if v == ProtocolVersion::LATEST_MODERN => EraPreference::Modern,
        Some(_) => EraPreference::Handshake,
        None => EraPreference::Auto,
    };
    let options = ClientOptions {
        info: Implementation::new("mcptk-conformance-client", env!("CARGO_PKG_VERSION")),
        era,
        ..ClientOptions::default()
    };
    let client = Client::connect_http("conformance", &HttpServer { url, headers: Default::default() }, options).await?;
    let tools = client.list_tools().await?;
    match scenario.as_str() {
        "json-schema-2020-12-preservation" => {
            // Hand the focal tool's schema back verbatim, as the scenario asks.
            let focal = tools
                .iter()
                .find(|t| t.name == "json_schema_2020_12_tool")
                .ok_or_else(|| anyhow::anyhow!("focal tool not listed"))?;
            let args: JsonObject = json!({"schema": focal.input_schema}).as_object().cloned().unwrap_or_default();
            let result = client.call_tool("json_schema_echo", args).await?;
            println!("{}", result.text_content());
        }
        "tools_call" => {
            let args: JsonObject = json!({"a": 2, "b": 3}).as_object().cloned().unwrap_or_default();
            let result = client.call_tool("add_numbers", args).await?;
            println!("{}", result.text_content());
        }
        _ => {
            // Exercise the first tool the scenario offers, if any.
            if let Some(tool) = tools.first() {
                let result = client.call_tool(&tool.name, JsonObject::new()).await?;
                println!("{}: {}", tool.name, result.text_content());
            }
        }
    }
    client.close().await?;
    Ok(())
}
