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
        serde_json::from_value(serde_json::json!({"name": "generous", "per_minute": 60_000_000})).expect("limit");
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

/// Durable appends of `line` to `file` (opened as the log opens its live file, with `O_DSYNC`:
/// each write returns once durable), `count` of them: the time each took, in µs.
fn durable_writes(file: &mut std::fs::File, line: &[u8], count: usize) -> Vec<f64> {
    use std::io::Write;
    (0..count)
        .map(|_| {
            let started = Instant::now();
            file.write_all(line).expect("writes");
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// Rounds of durable calls one at a time, each followed by as many bare durable writes.
const DURABLE_ROUNDS: usize = 6;
const DURABLE_ROUND_CALLS: usize = 500;

fn main() {
    // The runtime `mcptk serve` answers stdio on: one thread, marked as answering one peer, where
    // a lone durable record is written by its caller on a quick disk and a batch of many goes to
    // the log's writer thread rather than blocking the runtime. (An HTTP serving thread hands
    // every durable batch to the writer thread.)
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let _stdio = mcp_core::transport::serving_one_peer();
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
            ("full", &durable, 0, 20_000),
        ];
        const WARM_UP: usize = 500;
        for (_, tool, _, _) in &runs {
            rate(*tool, WARM_UP, 8).await;
        }
        // What one call appends to the durable log: the probe below writes as much.
        let per_call = std::fs::metadata(dir.path().join("durable.jsonl")).expect("the log").len() as usize / WARM_UP;
        let mut line = vec![b'x'; per_call.max(2)];
        *line.last_mut().expect("a line") = b'\n';

        println!("tool calls in process (same echo tool, bare and through the full pipeline)");
        let mut seq = std::collections::BTreeMap::new();
        for concurrency in [1, 64] {
            for (key, tool, one, many) in &runs {
                let calls = if concurrency == 1 { *one } else { *many };
                if calls == 0 {
                    continue;
                }
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
        // The durable calls one at a time, in rounds that alternate with as many durable writes
        // of the same size to a file of their own: the disk's time, measured in the same
        // moments as the calls (this disk's sync times drift and have a long tail), and averaged
        // the same way, so that the difference is the pipeline's own.
        let mut probe = probe_file(dir.path());
        let (mut spent, mut writes) = (0.0, Vec::new());
        for _ in 0..DURABLE_ROUNDS {
            spent += DURABLE_ROUND_CALLS as f64 / rate(&durable, DURABLE_ROUND_CALLS, 1).await;
            writes.extend(durable_writes(&mut probe, &line, DURABLE_ROUND_CALLS));
        }
        let full = (DURABLE_ROUNDS * DURABLE_ROUND_CALLS) as f64 / spent;
        println!("  {:<13} {:>3} in flight: {full:>9.0} calls/s  ({:>7.1} µs/call)", "full", 1, 1e6 / full);
        println!("BENCH pipeline.full.seq {full:.0} calls/s");
        seq.insert("full", full);
        for (key, full) in [("added", "full"), ("added_nofsync", "full_nofsync")] {
            let added = (1.0 / seq[full] - 1.0 / seq["bare"]) * 1e6;
            println!("  added per call, one at a time ({full}): {added:.1} µs");
            println!("BENCH pipeline.{key}.seq {added:.1} us");
        }
        let mean = writes.iter().sum::<f64>() / writes.len() as f64;
        writes.sort_by(f64::total_cmp);
        let median = writes[writes.len() / 2];
        println!(
            "  one durable write of a call's {} bytes, between the durable calls: mean {mean:.1} µs, median {median:.1} µs",
            line.len()
        );
        println!("BENCH pipeline.fsync.mean {mean:.1} us");
        println!("BENCH pipeline.fsync.median {median:.1} us");
    });
}

/// A file of its own beside the logs, opened for durable appends as the log's live file is.
fn probe_file(dir: &std::path::Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dsync = i32::try_from(rustix::fs::OFlags::DSYNC.bits()).expect("a flag");
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(dsync)
        .open(dir.join("durable-probe"))
        .expect("the probe file")
}
