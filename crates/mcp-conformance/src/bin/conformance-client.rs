//! The client the official MCP conformance suite drives: `conformance-client SERVER_URL`, with the
//! scenario in `MCP_CONFORMANCE_SCENARIO` and, when given, the protocol revision in
//! `MCP_CONFORMANCE_PROTOCOL_VERSION`. Built only on mcp-core's public API.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_core::config::HttpServer;
use mcp_core::protocol::{ClientCapabilities, ErrorObject, Implementation, JsonObject, ProtocolVersion};
use mcp_core::{Client, ClientOptions, EraPreference, InputHandler};
use serde_json::{Value, json};

/// Answers the server's questions the way a user who accepts every default would.
#[derive(Debug)]
struct AcceptDefaults;

#[async_trait]
impl InputHandler for AcceptDefaults {
    async fn elicit(&self, params: JsonObject) -> Result<Value, ErrorObject> {
        // Fill every field that has a default (SEP-1034): what a form shows pre-filled.
        let mut content = JsonObject::new();
        if let Some(properties) =
            params.get("requestedSchema").and_then(|s| s.get("properties")).and_then(Value::as_object)
        {
            for (name, schema) in properties {
                if let Some(default) = schema.get("default") {
                    content.insert(name.clone(), default.clone());
                }
            }
        }
        Ok(json!({"action": "accept", "content": content}))
    }

    async fn sample(&self, _params: JsonObject) -> Result<Value, ErrorObject> {
        Ok(
            json!({"role": "assistant", "content": {"type": "text", "text": "a sampled answer"}, "model": "conformance-model", "stopReason": "endTurn"}),
        )
    }
}

/// Plays the user at the authorization server: follows the authorization URL up to the redirect
/// back to us and returns it (the suite's authorization server approves at once).
#[derive(Debug)]
struct StopAtRedirect {
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl mcp_core::transport::oauth::Authorizer for StopAtRedirect {
    async fn authorize(&self, url: &str) -> Result<String, String> {
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("the authorization server answered {} without a redirect", response.status()))?;
        let base = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        base.join(location).map(|u| u.to_string()).map_err(|e| e.to_string())
    }
}

/// OAuth as this client does it: dynamic registration (or the context's pre-registered client,
/// or a Client ID Metadata Document where the server supports one).
fn oauth() -> anyhow::Result<Arc<mcp_core::transport::oauth::OAuthConfig>> {
    mcp_core::transport::install_crypto_provider();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let context: serde_json::Value =
        std::env::var("MCP_CONFORMANCE_CONTEXT").ok().and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default();
    let field = |k: &str| context.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    Ok(Arc::new(mcp_core::transport::oauth::OAuthConfig {
        redirect_uri: "http://localhost:3000/callback".into(),
        client_name: "mcptk-conformance-client".into(),
        client_id: field("client_id"),
        client_secret: field("client_secret"),
        client_metadata_url: Some("https://conformance-test.local/client-metadata.json".into()),
        scopes: None,
        // The machine-to-machine scenarios configure a client that has no user.
        client_credentials: std::env::var("MCP_CONFORMANCE_SCENARIO")
            .is_ok_and(|s| s.starts_with("auth/client-credentials")),
        private_key_pem: field("private_key_pem"),
        jwt_bearer_assertion: field("valid_jwt"),
        enterprise: match (field("idp_token_endpoint"), field("idp_client_id"), field("idp_id_token")) {
            (Some(token_endpoint), Some(client_id), Some(id_token)) => {
                Some(mcp_core::transport::oauth::EnterpriseIdentity { token_endpoint, client_id, id_token })
            }
            _ => None,
        },
        authorizer: Arc::new(StopAtRedirect { http }),
    }))
}

/// `toolCalls` of the scenario's context (`MCP_CONFORMANCE_CONTEXT`): `(name, arguments)` pairs.
fn context_tool_calls() -> Option<Vec<(String, JsonObject)>> {
    let context: serde_json::Value = serde_json::from_str(&std::env::var("MCP_CONFORMANCE_CONTEXT").ok()?).ok()?;
    let calls = context.get("toolCalls")?.as_array()?;
    Some(
        calls
            .iter()
            .filter_map(|c| {
                let name = c.get("name")?.as_str()?.to_owned();
                let arguments = c.get("arguments").and_then(serde_json::Value::as_object).cloned().unwrap_or_default();
                Some((name, arguments))
            })
            .collect(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Diagnostics go to stderr (the suite keeps it with the results); `MCPTK_LOG=debug` for more.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("MCPTK_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let url = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: conformance-client SERVER_URL"))?;
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    // Dated revisions up to 2025-11-25 use the handshake; 2026-07-28 is stateless.
    let era = match std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").ok().as_deref().and_then(ProtocolVersion::parse) {
        Some(v) if v == ProtocolVersion::LATEST_MODERN => EraPreference::Modern,
        Some(_) => EraPreference::Handshake,
        None => EraPreference::Auto,
    };
    let capabilities = ClientCapabilities::default().with_elicitation().with_sampling();
    let options = ClientOptions {
        info: Implementation::new("mcptk-conformance-client", env!("CARGO_PKG_VERSION")),
        era,
        capabilities,
        input: Some(Arc::new(AcceptDefaults)),
        oauth: Some(oauth()?),
        ..ClientOptions::default()
    };
    let client = Client::connect_http("conformance", &HttpServer::new(url), options).await?;
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
        "sep-2322-client-request-state" => {
            // Every tool of this scenario is a different input-required flow: call them all.
            for tool in &tools {
                let result = client.call_tool(&tool.name, JsonObject::new()).await?;
                println!("{}: {}", tool.name, result.text_content());
            }
        }
        _ if context_tool_calls().is_some() => {
            // The scenario says which tools to call with which arguments.
            for (name, arguments) in context_tool_calls().unwrap_or_default() {
                let result = client.call_tool(&name, arguments).await?;
                println!("{name}: {}", result.text_content());
            }
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
