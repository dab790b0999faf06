//! Arguments mirrored into `Mcp-Param-*` headers (`x-mcp-header`) over Streamable HTTP: our client
//! sends them (Base64 where a header cannot carry the value), our server checks them against the
//! body and refuses a request whose headers disagree with 400 and -32020.

use std::time::Duration;

use mcp_core::config::HttpServer;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::transport::http::{HttpOptions, serve};
use mcp_core::{Client, ClientOptions, Registry, Server, ToolContext, ToolError, tool};
use serde_json::{Value, json};

async fn start() -> String {
    let mut registry = Registry::new();
    registry.tool(
        tool("route", "Says where it would route", |a: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(format!("{} / {}", a["region"].as_str().unwrap_or(""), a["tier"]))
        })
        .input_schema(
            json!({"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "tier": {"type": "integer", "x-mcp-header": "Tier"},
                "note": {"type": "string"}
            }, "required": ["region"]})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ),
    );
    let server = Server::builder(Implementation::new("params", "1"), registry).build();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    tokio::spawn(async move { serve(server, addr, HttpOptions::default(), None).await });
    let url = format!("http://127.0.0.1:{port}/mcp");
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    url
}

#[tokio::test]
async fn marked_arguments_travel_as_headers_and_must_agree_with_the_body() {
    let url = start().await;
    let client = Client::connect_http("params", &HttpServer::new(url.clone()), ClientOptions::default())
        .await
        .expect("connects");
    client.list_tools().await.expect("lists");
    for region in ["us-west1", " padded ", "Zürich", "line1\nline2"] {
        let args =
            json!({"region": region, "tier": 3, "note": "not a header"}).as_object().cloned().unwrap_or_default();
        let result = client.call_tool("route", args).await.expect("the server accepted the headers");
        assert_eq!(result.text_content(), format!("{region} / 3"));
    }

    // Headers that disagree with the body, sent by hand.
    let http = reqwest::Client::new();
    let body = |region: &str| {
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": "route", "arguments": {"region": region},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}})
    };
    for (region, header, why) in [
        ("Hello", Some("Bye"), "does not match"),
        ("Hello", Some("=?base64?SGVsbG8?="), "invalid Base64"),
        ("Hello", None, "missing Mcp-Param-Region"),
    ] {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "route")
            .body(body(region).to_string());
        if let Some(value) = header {
            request = request.header("mcp-param-region", value);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), 400, "{header:?}");
        let answer: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
        assert_eq!(answer["error"]["code"], -32020, "{answer}");
        assert_eq!(answer["id"], 9);
        assert!(answer["error"]["message"].as_str().unwrap_or("").contains(why), "{answer}");
    }
}
