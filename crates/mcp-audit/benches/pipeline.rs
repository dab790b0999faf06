//! The added cost of the full pipeline per call (redaction, audit with fsync batching, policy,
//! rate limits, schema validation, concurrency, timeout, retries, tracing and metrics) over a bare
//! call of the same in-process tool, and audit records per second. Run with `cargo xtask bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use mcp_audit::{AuditLayer, AuditLog, AuditOptions, NewRecord};
use mcp_core::pipeline::Layer;
use mcp_core::pipeline::{
    self, CallError, ConcurrencyLayer, Endpoint, ObserveLayer, PipelineTool, RetryLayer, TimeoutLayer, ToolCall,
    ValidateLayer,
};
use mcp_core::protocol::{CallToolResult, JsonObject};
use mcp_core::{Tool, ToolContext, ToolError, ToolSet, tool};
use mcp_security::{AuthorizeLayer, Policy, PolicyConfig, RateLimitLayer, RateLimits, RedactLayer, Redactor};

const CALLS: usize = 20_000;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

struct Local(ToolSet);

#[async_trait]
impl Endpoint for Local {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        Ok(self.0.call(&call.tool, call.arguments, call.context).await)
    }
}

fn tools() -> ToolSet {
    let mut set = ToolSet::new();
    set.add(tool("echo", "echo", |a: Echo, _cx: ToolContext| async move { Ok::<_, ToolError>(a.text) }));
    set
}

async fn rate(tool: &(dyn Tool + 'static), concurrency: usize) -> f64 {
    let mut args = JsonObject::new();
    args.insert("text".into(), "ping".into());
    let cx = ToolContext::detached().with_principal("bench");
    let started = Instant::now();
    futures_util::stream::iter(0..CALLS)
        .map(|_| tool.call(args.clone(), cx.clone()))
        .buffer_unordered(concurrency)
        .for_each(|r| async move {
            assert!(!r.expect("result").is_error());
        })
        .await;
    CALLS as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp");
        let audit = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("log");
        let policy: PolicyConfig = serde_json::from_value(serde_json::json!({"rules": [
            {"name": "no-writes", "effect": "deny", "tools": ["write_*", "delete_*"]},
            {"name": "local", "effect": "allow", "servers": ["local"], "tools": ["echo"], "arguments": {"text": {"max_length": 100}}}
        ]}))
        .expect("policy");
        let redactor = Arc::new(Redactor::new(["a-configured-secret-value"]));
        let limits = RateLimits::new(vec![serde_json::from_value(serde_json::json!({"name": "generous", "per_minute": 100_000_000})).expect("limit")]).expect("limits");
        let set = tools();
        let stack = ObserveLayer.layer(RedactLayer::new(redactor.clone(), true).layer(AuditLayer::new(audit.clone(), redactor).layer(
            AuthorizeLayer::new(Arc::new(Policy::new(policy).expect("compiles")), None).layer(RateLimitLayer::new(limits).layer(
                ValidateLayer::default().layer(ConcurrencyLayer::new(256).layer(
                    TimeoutLayer::new(Duration::from_secs(30), Default::default())
                        .layer(RetryLayer::new(3, Duration::from_millis(10)).layer(pipeline::endpoint(Arc::new(Local(set.clone()))))),
                )),
            )),
        )));
        let definition = set.get("echo").expect("echo").definition().clone();
        let piped = PipelineTool::new("local__echo", "local", definition, pipeline::boxed(stack));
        let bare = set.get("echo").expect("echo").clone();

        println!("tool calls in process, {CALLS} per run (same echo tool, bare and through the full pipeline)");
        for concurrency in [1, 64] {
            let bare_rate = rate(bare.as_ref(), concurrency).await;
            let piped_rate = rate(&piped, concurrency).await;
            let added_us = (1.0 / piped_rate - 1.0 / bare_rate) * 1e6;
            println!(
                "  {concurrency:>3} in flight: bare {bare_rate:>9.0}/s  pipeline {piped_rate:>9.0}/s  ratio {:>6.1}x  added {added_us:>7.1} µs/call",
                bare_rate / piped_rate
            );
        }

        println!("audit appends (fsync per batch)");
        for concurrency in [1, 64] {
            let log = AuditLog::open(dir.path().join(format!("bench-{concurrency}.jsonl")), AuditOptions::default()).expect("log");
            let n = if concurrency == 1 { 2_000 } else { 20_000 };
            let started = Instant::now();
            futures_util::stream::iter(0..n)
                .map(|i| {
                    let log = log.clone();
                    async move {
                        let record = NewRecord { kind: "tool_call".into(), outcome: "ok".into(), trace_id: format!("{i}"), ..NewRecord::default() };
                        log.append(record).await.expect("appends")
                    }
                })
                .buffer_unordered(concurrency)
                .for_each(|_| async {})
                .await;
            println!("  {concurrency:>3} in flight: {:>9.0} records/s", n as f64 / started.elapsed().as_secs_f64());
        }
    });
}
