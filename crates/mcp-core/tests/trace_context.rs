//! W3C trace context across two HTTP hops, with no OpenTelemetry installed: a client's
//! `traceparent` header reaches a server (A) as the request's context, and a call A makes while
//! handling it carries that context on to the next server (B) in `_meta` and in the W3C headers.
//! A recording proxy in front of B shows the headers; B's tool shows its `_meta`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_core::config::HttpServer;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::transport::http::{HttpOptions, serve};
use mcp_core::{Client, ClientOptions, Registry, Server, ToolContext, ToolError, tool};
use serde_json::{Value, json};

const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const STATE: &str = "vendor=opaque";

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on {port}");
}

/// Serves `registry` over HTTP; returns its `/mcp` URL.
async fn start(name: &str, registry: Registry) -> String {
    let server = Server::builder(Implementation::new(name, "1"), registry).build();
    let port = port();
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    tokio::spawn(async move { serve(server, addr, HttpOptions::default(), None).await });
    listening(port).await;
    format!("http://127.0.0.1:{port}/mcp")
}

/// Forwards POSTs to `target`, keeping the `traceparent`/`tracestate` headers of each tool call.
async fn recording_proxy(target: String, seen: Arc<Mutex<Vec<(String, String)>>>) -> String {
    let http = reqwest::Client::new();
    let forward = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let (http, target, seen) = (http.clone(), target.clone(), seen.clone());
        async move {
            let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            if request["method"] == "tools/call" {
                seen.lock().unwrap_or_else(PoisonError::into_inner).push((value("traceparent"), value("tracestate")));
            }
            let mut forwarded = http.post(&target).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    forwarded = forwarded.header(name, value);
                }
            }
            let answer = forwarded.send().await.expect("B answers");
            let status = answer.status().as_u16();
            let kind = answer.headers().get("content-type").cloned();
            let bytes = answer.bytes().await.expect("body");
            let mut response = axum::response::Response::new(axum::body::Body::from(bytes));
            *response.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
            if let Some(kind) = kind {
                response.headers_mut().insert("content-type", kind);
            }
            response
        }
    };
    let app = axum::Router::new().route("/mcp", axum::routing::post(forward));
    let port = port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/mcp")
}

#[tokio::test]
async fn a_callers_context_is_passed_on_in_meta_and_headers() {
    mcp_core::transport::install_crypto_provider();
    // B: says which trace context its request carried in `_meta`.
    let mut b = Registry::new();
    b.tool(tool("context", "The request's trace context", |_: JsonObject, cx: ToolContext| async move {
        let meta = cx.meta().cloned().unwrap_or_default();
        Ok::<_, ToolError>(json!([meta.get("traceparent"), meta.get("tracestate")]).to_string())
    }));
    let b_url = start("b", b).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = recording_proxy(b_url, seen.clone()).await;

    // A: calls B's tool while handling a request.
    let mut a = Registry::new();
    a.tool(tool("relay", "Asks B", move |_: JsonObject, _cx: ToolContext| {
        let proxy = proxy.clone();
        async move {
            let b = Client::connect_http("b", &HttpServer::new(proxy), ClientOptions::default())
                .await
                .map_err(ToolError::msg)?;
            let result = b.call_tool("context", JsonObject::new()).await.map_err(ToolError::msg)?;
            Ok::<_, ToolError>(result.text_content())
        }
    }));
    let a_url = start("a", a).await;

    // The caller sends its context as HTTP headers only.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "relay", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answer: Value = reqwest::Client::new()
        .post(&a_url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "relay")
        .header("traceparent", PARENT)
        .header("tracestate", STATE)
        .body(call.to_string())
        .send()
        .await
        .expect("A answers")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("body");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_default();
    let at_b: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("B's answer: {answer}"));
    assert_eq!(at_b, json!([PARENT, STATE]), "B's request carried the context in `_meta`");
    let headers = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(headers, [(PARENT.to_owned(), STATE.to_owned())], "and in the W3C headers");

    // An invalid context is not passed on.
    let bad = call.to_string().replace("\"_meta\":{", "\"_meta\":{\"traceparent\":\"00-xyz\",");
    let answer: Value = reqwest::Client::new()
        .post(&a_url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "relay")
        .body(bad)
        .send()
        .await
        .expect("A answers")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("body");
    assert_eq!(answer["result"]["content"][0]["text"], "[null,null]", "{answer}");
}
