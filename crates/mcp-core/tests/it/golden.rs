//! Round trips of the specification's own example messages.
//!
//! `golden/2026-07-28/<Type>/*.json` are the examples published with the `2026-07-28` schema
//! (schema/2026-07-28/examples in the specification repository); `golden/2025-11-25/*.json` are
//! the JSON-RPC examples of the `2025-11-25` specification pages (lifecycle, tools, resources,
//! prompts, progress, cancellation, pagination, completion). Each must parse into our types and
//! serialize back to the same JSON, so nothing a peer sends is lost or altered in transit.

use std::path::{Path, PathBuf};

use mcp_core::protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("golden dir exists") {
        let path = entry.expect("readable dir entry").path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Parses `value` as `T` and serializes it again; the result must equal the input.
fn round_trip<T: Serialize + DeserializeOwned>(value: &Value, what: &str) -> Result<(), String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| format!("{what}: does not parse: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("{what}: does not serialize: {e}"))?;
    if &back != value {
        return Err(format!("{what}: changed in the round trip\n  in:  {value}\n  out: {back}"));
    }
    Ok(())
}

/// Round-trips a bare object of the schema type `ty`.
fn check_typed(ty: &str, value: &Value) -> Result<(), String> {
    match ty {
        "AudioContent" | "ImageContent" | "TextContent" | "EmbeddedResource" | "ResourceLink" => {
            round_trip::<Content>(value, ty)
        }
        "BlobResourceContents" | "TextResourceContents" => round_trip::<ResourceContents>(value, ty),
        "CallToolResult" => round_trip::<CallToolResult>(value, ty),
        "CompleteResult" => round_trip::<CompleteResult>(value, ty),
        "DiscoverResult" => round_trip::<DiscoverResult>(value, ty),
        "GetPromptResult" => round_trip::<GetPromptResult>(value, ty),
        "InputRequiredResult" => round_trip::<InputRequiredResult>(value, ty),
        "ListPromptsResult" => round_trip::<ListPromptsResult>(value, ty),
        "ListResourceTemplatesResult" => round_trip::<ListResourceTemplatesResult>(value, ty),
        "ListResourcesResult" => round_trip::<ListResourcesResult>(value, ty),
        "ListToolsResult" => round_trip::<ListToolsResult>(value, ty),
        "ReadResourceResult" => round_trip::<ReadResourceResult>(value, ty),
        "InitializeResult" => round_trip::<InitializeResult>(value, ty),
        "Resource" => round_trip::<Resource>(value, ty),
        "ServerCapabilities" => round_trip::<ServerCapabilities>(value, ty),
        "ClientCapabilities" => round_trip::<ClientCapabilities>(value, ty),
        "Tool" => round_trip::<Tool>(value, ty),
        "InternalError" | "InvalidParamsError" | "MethodNotFoundError" | "ParseError" => {
            round_trip::<ErrorObject>(value, ty)
        }
        other => Err(format!("no type mapped for {other}")),
    }
}

/// Names the result type of a response by the members it has.
fn result_type(result: &Value) -> &'static str {
    let has = |k: &str| result.get(k).is_some();
    if has("resultType") && result["resultType"] == "input_required" {
        "InputRequiredResult"
    } else if has("supportedVersions") {
        "DiscoverResult"
    } else if has("protocolVersion") {
        "InitializeResult"
    } else if has("tools") {
        "ListToolsResult"
    } else if has("resourceTemplates") {
        "ListResourceTemplatesResult"
    } else if has("resources") {
        "ListResourcesResult"
    } else if has("contents") {
        "ReadResourceResult"
    } else if has("prompts") {
        "ListPromptsResult"
    } else if has("messages") {
        "GetPromptResult"
    } else if has("completion") {
        "CompleteResult"
    } else {
        "CallToolResult"
    }
}

/// Round-trips a whole JSON-RPC message and its typed params or result.
fn check_message(value: &Value, what: &str) -> Result<(), String> {
    let message = Message::from_value(value.clone()).map_err(|r| format!("{what}: rejected: {}", r.error))?;
    let back: Value = serde_json::from_slice(&message.to_bytes()).map_err(|e| e.to_string())?;
    if &back != value {
        return Err(format!("{what}: message changed\n  in:  {value}\n  out: {back}"));
    }
    let params = Value::Object(match &message {
        Message::Request(r) => r.params.clone().unwrap_or_default(),
        Message::Notification(n) => n.params.clone().unwrap_or_default(),
        Message::Response(r) => match &r.outcome {
            jsonrpc::Outcome::Result(result) => return check_typed(result_type(result), result),
            jsonrpc::Outcome::Error(e) => {
                return round_trip::<ErrorObject>(&serde_json::to_value(e).unwrap_or_default(), what);
            }
        },
    });
    let method = match &message {
        Message::Request(r) => r.method.as_str(),
        Message::Notification(n) => n.method.as_str(),
        Message::Response(_) => unreachable!("handled above"),
    };
    match method {
        "initialize" => round_trip::<InitializeParams>(&params, what),
        "tools/call" => round_trip::<CallToolParams>(&params, what),
        "tools/list" | "resources/list" | "prompts/list" | "resources/templates/list" | "server/discover" => {
            round_trip::<PaginatedParams>(&params, what)
        }
        "resources/read" => round_trip::<ReadResourceParams>(&params, what),
        "prompts/get" => round_trip::<GetPromptParams>(&params, what),
        "completion/complete" => round_trip::<CompleteParams>(&params, what),
        "notifications/progress" => round_trip::<ProgressParams>(&params, what),
        "notifications/cancelled" => round_trip::<CancelledParams>(&params, what),
        "notifications/message" => round_trip::<LoggingMessageParams>(&params, what),
        // Methods whose params we carry as opaque JSON (subscriptions, list_changed, ...).
        _ => Ok(()),
    }
}

fn check_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let what = path.strip_prefix(golden_dir()).unwrap_or(path).display().to_string();
    if value.get("jsonrpc").is_some() {
        return check_message(&value, &what);
    }
    let ty = path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or_default();
    check_typed(ty, &value)
}

#[test]
fn specification_examples_round_trip() {
    let files = json_files(&golden_dir());
    assert!(files.len() > 80, "golden files missing: found {}", files.len());
    let failures: Vec<String> = files.iter().filter_map(|f| check_file(f).err()).collect();
    assert!(failures.is_empty(), "{} of {} examples failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn absent_result_type_reads_as_complete_and_input_required_is_recognised() {
    let legacy: CallToolResult = serde_json::from_value(serde_json::json!({"content": []})).expect("parses");
    assert_eq!(legacy.envelope.result_type, None);
    let modern: CallToolResult =
        serde_json::from_value(serde_json::json!({"content": [], "resultType": "complete"})).expect("parses");
    assert_eq!(modern.envelope.result_type, Some(ResultType::Complete));
    let other: CallToolResult =
        serde_json::from_value(serde_json::json!({"content": [], "resultType": "someday"})).expect("parses");
    assert_eq!(other.envelope.result_type, Some(ResultType::Other("someday".into())));
}

#[test]
fn malformed_messages_are_classified() {
    fn check(input: &str, code: i64, id: Option<RequestId>) {
        let rejected = Message::parse(input.as_bytes()).expect_err(input);
        assert_eq!((rejected.error.code, rejected.id), (code, id), "{input}: {}", rejected.error.message);
    }
    check("not json", codes::PARSE_ERROR, None);
    check("[]", codes::INVALID_REQUEST, None);
    check("42", codes::INVALID_REQUEST, None);
    check(r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#, codes::INVALID_REQUEST, Some(RequestId::Number(7)));
    check(r#"{"jsonrpc":"2.0","id":"a"}"#, codes::INVALID_REQUEST, Some(RequestId::String("a".into())));
    check(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, codes::INVALID_REQUEST, None);
    check(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, codes::INVALID_REQUEST, None);
    check(r#"{"jsonrpc":"2.0","id":1,"method":7}"#, codes::INVALID_REQUEST, Some(RequestId::Number(1)));
}
