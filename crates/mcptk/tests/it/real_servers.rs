//! Our client against real servers: npm's `server-everything` (handshake era) and a Python `mcp`
//! 2.x server (`2026-07-28`).

use std::collections::BTreeMap;

use futures_util::StreamExt;
use mcp_core::protocol::{Content, Era, JsonObject, ProtocolVersion};
use mcp_core::{CallEvent, Client, ClientOptions};
use serde_json::{Value, json};

use crate::support::{everything, python_modern_server};

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

#[tokio::test]
async fn server_everything_lists_calls_streams_progress_and_serves_resources_and_prompts() {
    let client = Client::spawn("everything", &everything(), ClientOptions::default()).await.expect("connects");
    // It does not answer server/discover, so the client must have fallen back to initialize.
    assert_eq!(client.era(), Era::Handshake);
    assert_eq!(client.protocol_version(), ProtocolVersion::V2025_11_25);

    let tools = client.list_tools().await.expect("lists tools");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for expected in ["echo", "get-sum", "trigger-long-running-operation", "get-tiny-image"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }

    let echo = client.call_tool("echo", args(json!({"message": "über"}))).await.expect("echo");
    assert_eq!(echo.text_content(), "Echo: über");
    assert!(!echo.is_error());

    let image = client.call_tool("get-tiny-image", JsonObject::new()).await.expect("image");
    assert!(image.content.iter().any(|c| matches!(c, Content::Image(i) if i.mime_type == "image/png")));

    let mut stream =
        client.call_tool_stream("trigger-long-running-operation", args(json!({"duration": 1, "steps": 4})));
    let mut progress = Vec::new();
    let mut result = None;
    while let Some(event) = stream.next().await {
        match event.expect("no protocol error") {
            CallEvent::Progress(p) => progress.push((p.value(), p.total_value())),
            CallEvent::Result(r) => result = Some(r),
            _ => {}
        }
    }
    assert_eq!(progress, [(1.0, Some(4.0)), (2.0, Some(4.0)), (3.0, Some(4.0)), (4.0, Some(4.0))]);
    let result = result.expect("a result after the progress");
    assert!(result.text_content().contains("Long running operation completed"), "{}", result.text_content());

    let resources = client.list_resources().await.expect("lists resources");
    let first = resources.first().expect("at least one resource");
    let read = client.read_resource(&first.uri).await.expect("reads it");
    assert_eq!(read.contents[0].uri, first.uri);

    let prompts = client.list_prompts().await.expect("lists prompts");
    let simple =
        prompts.iter().find(|p| p.arguments.as_ref().is_none_or(Vec::is_empty)).expect("a prompt without arguments");
    let rendered = client.get_prompt(&simple.name, BTreeMap::new()).await.expect("renders");
    assert!(!rendered.messages.is_empty());

    let err = client.call_tool("no-such-tool", JsonObject::new()).await;
    match err {
        Ok(r) => assert!(r.is_error(), "an unknown tool must fail"),
        Err(e) => assert!(e.rpc_error().is_some(), "{e}"),
    }
    client.close().await.expect("closes");
}

#[tokio::test]
async fn a_python_server_speaking_2026_07_28_is_used_in_the_modern_era() {
    let client = Client::spawn("pymodern", &python_modern_server(), ClientOptions::default()).await.expect("connects");
    assert_eq!(client.era(), Era::Modern);
    assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
    assert_eq!(client.server_info().map(|i| i.name.as_str()), Some("python-modern"));

    let tools = client.list_tools().await.expect("lists");
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["chatty", "listening", "multiply", "shout", "touch"]);

    let product = client.call_tool("multiply", args(json!({"a": 6, "b": 7}))).await.expect("calls");
    assert_eq!(product.text_content(), "42");
    assert_eq!(product.structured_content, Some(json!({"result": 42})));

    let bad = client.call_tool("multiply", args(json!({"a": "six", "b": 7}))).await.expect("a tool error");
    assert!(bad.is_error(), "{bad:?}");

    let read = client.read_resource("memo://greeting").await.expect("reads");
    assert_eq!(read.contents[0].text.as_deref(), Some("hello from python"));

    let prompt = client
        .get_prompt("review", BTreeMap::from([("code".to_owned(), "fn main() {}".to_owned())]))
        .await
        .expect("renders");
    assert!(matches!(&prompt.messages[0].content, Content::Text(t) if t.text.contains("fn main() {}")));
    client.close().await.expect("closes");
}
