//! A record that cannot be made durable is an error, the log then stays unhealthy, and no call is
//! answered without its record; a call abandoned by its caller still leaves one.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::record;
use mcp_audit::{AuditLayer, AuditLog, AuditOptions, read_records, verify};
use mcp_core::pipeline::{self, CallError, Endpoint, Layer, PipelineTool, ToolCall};
use mcp_core::protocol::{CallToolResult, JsonObject};
use mcp_core::{Tool, ToolContext, ToolError, ToolSet, tool};
use mcp_security::Redactor;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

struct Local(ToolSet);

#[async_trait]
impl Endpoint for Local {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        Ok(self.0.call(&call.tool, call.arguments, call.context).await)
    }
}

/// `count` (counting its runs) and `hang` (says it started, then never finishes), audited.
struct Fixture {
    log: AuditLog,
    runs: Arc<AtomicUsize>,
    started: Arc<tokio::sync::Notify>,
    count: PipelineTool,
    hang: PipelineTool,
    /// The audited pipeline itself, for what it answers before the tool result is made.
    service: pipeline::ToolService,
}

fn fixture(path: &Path) -> Fixture {
    let log = AuditLog::open(path, AuditOptions::default()).expect("opens");
    let runs = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    let mut set = ToolSet::new();
    let counter = runs.clone();
    set.add(tool("count", "counts its runs", move |_: NoArgs, _cx: ToolContext| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok::<_, ToolError>(format!("run {n}")) }
    }));
    let signal = started.clone();
    set.add(tool("hang", "finishes only when cancelled, with an error", move |_: NoArgs, cx: ToolContext| {
        let signal = signal.clone();
        async move {
            signal.notify_one();
            cx.cancelled().cancelled().await;
            Err::<String, _>(ToolError::msg("stopped: the request was cancelled"))
        }
    }));
    let service = pipeline::boxed(
        AuditLayer::new(log.clone(), Arc::new(Redactor::new(Vec::<String>::new())))
            .layer(pipeline::endpoint(Arc::new(Local(set.clone())))),
    );
    let piped = |name: &str| {
        let definition = set.get(name).expect("the tool").definition().clone();
        PipelineTool::new(format!("local__{name}"), "local", definition, service.clone())
    };
    Fixture { count: piped("count"), hang: piped("hang"), log, runs, started, service }
}

fn cx() -> ToolContext {
    ToolContext::detached().with_principal("alice")
}

#[tokio::test]
async fn a_log_removed_while_open_refuses_calls_before_they_run_and_stays_unhealthy() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let f = fixture(&path);
    let ok = f.count.call(JsonObject::new(), cx()).await.expect("a result");
    assert!(!ok.is_error(), "{}", ok.text_content());
    assert!(f.log.health().is_ok());

    std::fs::remove_file(&path).expect("removes");
    let health = f.log.health().expect_err("unhealthy once the file is gone").to_string();
    assert!(health.contains(&path.display().to_string()) && health.contains("removed"), "{health}");

    let refused = f.count.call(JsonObject::new(), cx()).await.expect("a result");
    assert!(refused.is_error());
    let text = refused.text_content();
    assert!(text.contains("was not run") && text.contains(&path.display().to_string()), "{text}");
    assert_eq!(f.runs.load(Ordering::SeqCst), 1, "the tool did not run without a durable record");
    // In the pipeline the refusal is the gateway being unavailable, not an upstream failing: it
    // is counted and audited as such, and no retry stage takes it for a transient upstream error.
    let definition = Arc::new(f.count.definition().clone());
    let call = ToolCall {
        server: "local".into(),
        tool: "count".into(),
        exposed: "local__count".into(),
        kind: mcp_core::pipeline::CallKind::Tool,
        arguments: JsonObject::new(),
        definition,
        principal: "alice".into(),
        client: None,
        trace_id: "t1".into(),
        context: cx(),
    };
    let refusal = tower::ServiceExt::oneshot(f.service.clone(), call).await.expect_err("refused");
    assert!(matches!(refusal, CallError::Unavailable(_)), "{refusal:?}");
    assert_eq!(pipeline::outcome(&Err(refusal)), "unavailable");

    // A new file at the path does not make the old chain trustworthy again: only reopening does.
    std::fs::write(&path, b"").expect("recreates");
    assert!(f.log.health().is_err());
    let append = f.log.append(record(1)).await.expect_err("refused");
    assert!(append.to_string().contains("until it is reopened"), "{append}");

    let reopened = AuditLog::open(&path, AuditOptions::default()).expect("reopens");
    assert!(reopened.health().is_ok());
    reopened.append(record(2)).await.expect("appends once reopened");
}

#[tokio::test]
async fn a_record_written_after_the_file_was_removed_is_not_acknowledged() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    log.append(record(0)).await.expect("appends");
    std::fs::remove_file(&path).expect("removes");
    // Straight to the writer, which sees the file it wrote into is gone.
    let error = log.append(record(1)).await.expect_err("not durable").to_string();
    assert!(error.contains(&path.display().to_string()) && error.contains("removed while open"), "{error}");
    assert!(log.health().is_err(), "stays unhealthy");
}

#[tokio::test]
async fn a_log_replaced_by_a_link_to_dev_full_refuses_records() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    log.append(record(0)).await.expect("appends");
    std::fs::rename(&path, dir.path().join("moved.jsonl")).expect("moves");
    std::os::unix::fs::symlink("/dev/full", &path).expect("links");
    let error = log.append(record(1)).await.expect_err("not durable").to_string();
    assert!(error.contains("different file"), "{error}");
    assert!(log.health().is_err());
}

#[test]
fn a_failed_write_withholds_the_answer_then_refuses_calls_before_they_run() {
    // Files may not grow past 64 KiB (in 512-byte blocks): a write then fails with EFBIG.
    common::pass_in_child("failed_write_child", "trap '' XFSZ; ulimit -f 128");
}

#[tokio::test]
#[ignore = "run by a_failed_write_withholds_the_answer_then_refuses_calls_before_they_run"]
async fn failed_write_child() {
    if !common::in_child() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let f = fixture(&path);
    let mut answered = 0;
    let failure = loop {
        let result = f.count.call(JsonObject::new(), cx()).await.expect("a result");
        if result.is_error() {
            break result.text_content();
        }
        answered += 1;
        assert!(answered < 100_000, "the file limit never hit");
    };
    // The tool ran, its record did not become durable: its answer is withheld, with the cause.
    assert_eq!(f.runs.load(Ordering::SeqCst), answered + 1);
    assert!(failure.contains("ran, but its result is withheld"), "{failure}");
    assert!(failure.contains(&path.display().to_string()) && failure.contains("File too large"), "{failure}");
    let health = f.log.health().expect_err("unhealthy").to_string();
    assert!(health.contains("writing failed"), "{health}");

    // From now on calls are refused before the tool runs.
    let refused = f.count.call(JsonObject::new(), cx()).await.expect("a result");
    assert!(refused.is_error() && refused.text_content().contains("was not run"), "{}", refused.text_content());
    assert_eq!(f.runs.load(Ordering::SeqCst), answered + 1, "the tool did not run again");
    println!("child passed");
}

#[test]
fn callers_sharing_a_batch_that_fails_are_all_refused_and_none_is_acknowledged_unwritten() {
    common::pass_in_child("failed_batch_child", "trap '' XFSZ; ulimit -f 128");
}

#[tokio::test]
#[ignore = "run by callers_sharing_a_batch_that_fails_are_all_refused_and_none_is_acknowledged_unwritten"]
async fn failed_batch_child() {
    if !common::in_child() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for round in 0..1_000u64 {
        // 64 callers at once: their records are written and made durable in shared batches.
        let results = futures_util::future::join_all((0..64).map(|n| log.append(record(round * 64 + n)))).await;
        for result in results {
            match result {
                Ok(seq) => acknowledged.push(seq),
                Err(e) => {
                    assert!(e.to_string().contains("File too large"), "{e}");
                    refused += 1;
                }
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "the file limit never hit");
    // Every acknowledged record is whole in the file and the chain up to it verifies; what the
    // failed batch left is at most a torn end, never acknowledged.
    let report = verify(&path).expect("reads");
    assert!(report.problem.is_none(), "{report:?}");
    let last = acknowledged.iter().copied().max().unwrap_or(0);
    assert!(last <= report.records, "record {last} acknowledged, the file holds {} whole", report.records);
    assert!(log.health().is_err(), "stays unhealthy");
    assert!(log.append(record(0)).await.is_err(), "refuses what comes next");
    println!("child passed");
}

#[tokio::test]
async fn a_call_dropped_midway_still_leaves_a_cancelled_record() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let f = fixture(&path);
    let hang = f.hang.clone();
    let call = tokio::spawn(async move { hang.call(JsonObject::new(), cx()).await });
    tokio::time::timeout(Duration::from_secs(10), f.started.notified()).await.expect("the tool started");
    // The request's future is dropped (a cancelled request, a client gone).
    call.abort();
    assert!(call.await.expect_err("aborted").is_cancelled());

    // Queued on drop; anything appended after it is durable only after it.
    f.log.append(record(99)).await.expect("appends");
    let records = read_records(&path).expect("reads");
    let cancelled = records.iter().find(|r| r.body.tool == "hang").expect("the abandoned call is recorded");
    assert_eq!((cancelled.body.outcome.as_str(), cancelled.body.decision.as_str()), ("cancelled", "unknown"));
    assert!(cancelled.body.error.as_deref().unwrap_or("").contains("stopped waiting"), "{cancelled:?}");
    assert_eq!(cancelled.body.principal, "alice");
    assert!(verify(&path).expect("reads").ok());
}

/// A tool that stops with an error because its caller cancelled it was cancelled, not failing:
/// the record says so, with the policy's decision, once.
#[tokio::test]
async fn a_call_cancelled_by_its_caller_that_stops_in_time_is_recorded_as_cancelled() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let f = fixture(&path);
    let token = mcp_core::CancellationToken::new();
    let hang = f.hang.clone();
    let context = cx().with_cancel(token.clone());
    let call = tokio::spawn(async move { hang.call(JsonObject::new(), context).await });
    tokio::time::timeout(Duration::from_secs(10), f.started.notified()).await.expect("the tool started");
    token.cancel();
    let result = call.await.expect("finishes").expect("a result");
    assert!(result.is_error(), "{}", result.text_content());

    let records = read_records(&path).expect("reads");
    let hung: Vec<_> = records.iter().filter(|r| r.body.tool == "hang").collect();
    assert_eq!(hung.len(), 1, "{hung:?}");
    assert_eq!((hung[0].body.outcome.as_str(), hung[0].body.decision.as_str()), ("cancelled", "allow"));
    let error = hung[0].body.error.as_deref().unwrap_or_default();
    assert!(error.contains("cancelled by the caller") && error.contains("stopped"), "{error}");
}

#[tokio::test]
async fn a_finished_call_is_recorded_once() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let f = fixture(&path);
    f.count.call(JsonObject::new(), cx()).await.expect("a result");
    f.log.append(record(99)).await.expect("appends");
    let outcomes: Vec<String> = read_records(&path)
        .expect("reads")
        .into_iter()
        .filter(|r| r.body.tool == "count")
        .map(|r| r.body.outcome)
        .collect();
    assert_eq!(outcomes, ["ok"]);
}

/// One writer per log: a second open while the first is alive is refused with an error that
/// names the log (two writers would each continue the chain from the same head and fork it), the
/// first keeps writing, and the log opens again once the first is gone.
#[tokio::test]
async fn a_second_writer_on_one_log_is_refused_and_the_chain_stays_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let first = AuditLog::open(&path, AuditOptions::default()).expect("opens");
    first.append(record(1)).await.expect("appends");

    let err = AuditLog::open(&path, AuditOptions::default()).expect_err("a second writer is refused");
    assert!(matches!(err, mcp_audit::Error::InUse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()) && message.contains("in use"), "{message}");

    first.append(record(2)).await.expect("the first writer goes on");
    drop(first);
    let again = AuditLog::open(&path, AuditOptions::default()).expect("opens once the first writer is gone");
    again.append(record(3)).await.expect("appends");
    drop(again);
    let report = verify(&path).expect("verifies");
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!(report.records, 3);
}
