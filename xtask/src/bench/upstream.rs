//! `cargo xtask bench-upstream`: the server behind the gateway in the scale benchmarks. A plain
//! stdio MCP server of the handshake era with `TOOLS` tools (`tool_00000`, ...), listed in pages
//! of 1,000, where `echo` returns its text and `big` returns `BIG_BYTES` bytes of text.

use std::io::{BufRead, Write};

use anyhow::Result;
use serde_json::{Value, json};

/// Tools the upstream lists (besides `echo` and `big`).
pub const TOOLS: usize = 10_000;
/// Size of `big`'s text.
pub const BIG_BYTES: usize = 10 * 1024 * 1024;
const PAGE: usize = 1_000;

pub fn serve() -> Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let tools: Vec<Value> = (0..TOOLS)
        .map(|i| tool(&format!("tool_{i:05}"), "A listed tool that echoes its text."))
        .chain([tool("echo", "Returns its text."), tool("big", "Returns 10 MiB of text.")])
        .collect();
    for line in stdin.lines() {
        let line = line?;
        let Ok(request) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = request.get("id").cloned() else { continue };
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let result = match request.get("method").and_then(Value::as_str).unwrap_or_default() {
            "initialize" => json!({
                "protocolVersion": params.get("protocolVersion").cloned().unwrap_or(json!("2025-11-25")),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "bench-upstream", "version": "1"}
            }),
            "ping" => json!({}),
            "tools/list" => {
                let start = params.get("cursor").and_then(Value::as_str).and_then(|c| c.parse().ok()).unwrap_or(0);
                let end = (start + PAGE).min(tools.len());
                let mut page = json!({"tools": tools[start.min(end)..end]});
                if end < tools.len() {
                    page["nextCursor"] = json!(end.to_string());
                }
                page
            }
            "tools/call" => {
                let text = match params.get("name").and_then(Value::as_str) {
                    Some("big") => "x".repeat(BIG_BYTES),
                    _ => params.pointer("/arguments/text").and_then(Value::as_str).unwrap_or_default().to_owned(),
                };
                json!({"content": [{"type": "text", "text": text}]})
            }
            method => {
                let error = json!({"code": -32601, "message": format!("no method {method}")});
                writeln!(out, "{}", json!({"jsonrpc": "2.0", "id": id, "error": error}))?;
                out.flush()?;
                continue;
            }
        };
        writeln!(out, "{}", json!({"jsonrpc": "2.0", "id": id, "result": result}))?;
        out.flush()?;
    }
    Ok(())
}

fn tool(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        "annotations": {"readOnlyHint": true}
    })
}
