//! The added cost of the full pipeline per call (redaction, audit, policy with an argument rule,
//! rate limits, schema validation, concurrency, timeout, retries, tracing and metrics) over a bare
//! call of the same in-process tool: one call at a time and 64 in flight, with the audit durable
//! (fsync per batch) and with fsync off. Run with `cargo bench -p mcptk-audit --bench pipeline`;
//! prints `BENCH key value unit` lines for `cargo xtask bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use mcp_audit::{AuditLayer, AuditLog, AuditOptions};
use mcp_core::pipeline::Layer;
use mcp_core::pipeline::{
    self, CallError, ConcurrencyLayer, Endpoint, ObserveLayer, PipelineTool, RetryLayer, TimeoutLayer, ToolCall,
    ValidateLayer,
};
use mcp_core::protocol::{CallToolResult, JsonObject};
use mcp_core::{Tool, ToolContext, ToolError, ToolSet, tool};
use mcp_security::{AuthorizeLayer, Policy, PolicyConfig, RateLimitLayer, RateLimits, RedactLayer, Redactor};

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

/// The echo tool of `set` behind the gateway's whole pipeline, auditing into `audit`.
fn full_pipeline(set: &ToolSet, audit: AuditLog) -> PipelineTool {
    let policy: PolicyConfig = serde_json::from_value(serde_json::json!({"rules": [
        {"name": "no-writes", "effect": "deny", "tools": ["write_*", "delete_*"]},
        {"name": "local", "effect": "allow", "servers": ["local"], "tools": ["echo"], "arguments": {"text": {"max_length": 100}}}
    ]}))
    .expect("policy");
    let redactor = Arc::new(Redactor::new(["a-configured-secret-value"]));
    let limit =
        serde_json::from_value(serde_json::json!({"name": "generous", "per_minute": 100_000_000})).expect("limit");
    let limits = RateLimits::new(vec![limit]).expect("limits");
    let endpoint = pipeline::endpoint(Arc::new(Local(set.clone())));
    let inner = TimeoutLayer::new(Duration::from_secs(30), Default::default())
        .layer(RetryLayer::new(3, Duration::from_millis(10)).layer(endpoint));
    let inner = ValidateLayer::default().layer(ConcurrencyLayer::new(256).layer(inner));
    let inner = RateLimitLayer::new(limits).layer(inner);
    let inner = AuthorizeLayer::new(Arc::new(Policy::new(policy).expect("compiles")), None).layer(inner);
    let inner = AuditLayer::new(audit, redactor.clone()).layer(inner);
    let stack = ObserveLayer.layer(RedactLayer::new(redactor, true).layer(inner));
    let definition = set.get("echo").expect("echo").definition().clone();
    PipelineTool::new("local__echo", "local", definition, pipeline::boxed(stack))
}

/// Calls per second of `calls` calls of `tool`, `concurrency` at a time.
async fn rate(tool: &(dyn Tool + 'static), calls: usize, concurrency: usize) -> f64 {
    let mut args = JsonObject::new();
    args.insert("text".into(), "ping".into());
    let cx = ToolContext::detached().with_principal("bench");
    let started = Instant::now();
    futures_util::stream::iter(0..calls)
        .map(|_| tool.call(args.clone(), cx.clone()))
        .buffer_unordered(concurrency)
        .for_each(|r| async move {
            assert!(!r.expect("result").is_error());
        })
        .await;
    calls as f64 / started.elapsed().as_secs_f64()
}

/// The median and mean time of one small append and `fsync` in `dir`, in µs: what a durable
/// record costs at the least on this disk.
fn fsync_micros(dir: &std::path::Path) -> (f64, f64) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fsync-probe")).expect("probe");
    let mut times: Vec<f64> = (0..100)
        .map(|_| {
            let started = Instant::now();
            file.write_all(&[b'x'; 200]).expect("writes");
            file.sync_data().expect("syncs");
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.iter().sum::<f64>() / times.len() as f64)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp");
        let open = |name: &str, fsync: bool| {
            AuditLog::open(dir.path().join(name), AuditOptions { fsync, ..AuditOptions::default() }).expect("log")
        };
        let set = tools();
        let bare = set.get("echo").expect("echo").clone();
        let durable = full_pipeline(&set, open("durable.jsonl", true));
        let nofsync = full_pipeline(&set, open("nofsync.jsonl", false));
        // (key, tool, calls one at a time, calls with 64 in flight)
        let runs: [(&str, &(dyn Tool + 'static), usize, usize); 3] = [
            ("bare", bare.as_ref(), 50_000, 50_000),
            ("full_nofsync", &nofsync, 10_000, 20_000),
            ("full", &durable, 3_000, 20_000),
        ];
        for (_, tool, _, _) in &runs {
            rate(*tool, 500, 8).await;
        }

        println!("tool calls in process (same echo tool, bare and through the full pipeline)");
        let mut seq = std::collections::BTreeMap::new();
        for concurrency in [1, 64] {
            for (key, tool, one, many) in &runs {
                let calls = if concurrency == 1 { *one } else { *many };
                let per_second = rate(*tool, calls, concurrency).await;
                let scope = if concurrency == 1 { "seq" } else { "inflight64" };
                println!(
                    "  {key:<13} {concurrency:>3} in flight: {per_second:>9.0} calls/s  ({:>7.1} µs/call)",
                    1e6 / per_second
                );
                println!("BENCH pipeline.{key}.{scope} {per_second:.0} calls/s");
                if concurrency == 1 {
                    seq.insert(*key, per_second);
                }
            }
        }
        for (key, full) in [("added", "full"), ("added_nofsync", "full_nofsync")] {
            let added = (1.0 / seq[full] - 1.0 / seq["bare"]) * 1e6;
            println!("  added per call, one at a time ({full}): {added:.1} µs");
            println!("BENCH pipeline.{key}.seq {added:.1} us");
        }
        let (median, mean) = fsync_micros(dir.path());
        println!("  one small write and fsync on this disk: median {median:.1} µs, mean {mean:.1} µs");
        // The same run's disk, for reading the durable figure against: the disk is shared and noisy.
        println!("BENCH pipeline.fsync.median {median:.1} us");
    });
}
