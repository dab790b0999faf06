//! The audit log at scale: the time to open a log of 10k and of 1M records (the same, since
//! opening reads only the ends of the files), appends one at a time and with 64 in flight (durable,
//! and with fsync off), and `verify` over the 1M records. Run with `cargo bench -p mcptk-audit
//! --bench open`; prints `BENCH key value unit` lines for `cargo xtask bench`. `-- append` runs only
//! the appends (any other word: the measurements whose key contains it).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcp_audit::{AuditLog, AuditOptions, NewRecord};

/// Opens timed per log length.
const OPENS: u32 = 20;

/// A gateway's record of the `n`th call.
fn record(n: u64) -> NewRecord {
    let arguments = serde_json::json!({ "path": format!("/data/projects/{n}/README.md"), "head": 20 });
    NewRecord {
        kind: "tool_call".into(),
        principal: "alice".into(),
        client: Some("claude-code".into()),
        server: "fs".into(),
        tool: "read_text_file".into(),
        arguments_digest: mcp_audit::arguments_digest(&arguments),
        arguments,
        decision: "allow".into(),
        rule: Some("read-only".into()),
        outcome: "ok".into(),
        duration_ms: 0.412,
        trace_id: format!("{n:032x}"),
        ..NewRecord::default()
    }
}

/// Appends `records` records from `in_flight` tasks (callers) at once; records per second.
async fn append(log: &AuditLog, records: u64, in_flight: usize) -> f64 {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (log, next) = (log.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= records {
                        return;
                    }
                    log.append(record(n)).await.expect("appends");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("appended");
    }
    records as f64 / started.elapsed().as_secs_f64()
}

/// The mean time to open the log at `path`, in milliseconds. Each log is dropped and given time
/// to let go of its lock before the next open, outside the measured time.
fn open_ms(path: &Path) -> f64 {
    let mut total = Duration::ZERO;
    for _ in 0..OPENS {
        let started = Instant::now();
        let log = AuditLog::open(path, AuditOptions::default()).expect("opens");
        total += started.elapsed();
        drop(log);
        std::thread::sleep(Duration::from_millis(30));
    }
    total.as_secs_f64() * 1e3 / f64::from(OPENS)
}

fn main() {
    // `cargo bench` passes `--bench`; a plain word picks the measurements whose key contains it.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let on = |key: &str| only.as_deref().is_none_or(|word| key.contains(word));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp");
    let no_fsync = || AuditOptions { fsync: false, ..AuditOptions::default() };

    // Logs of 10k and 1M records, written once by the log itself without fsync.
    let small = dir.path().join("small.jsonl");
    let large = dir.path().join("large.jsonl");
    if on("audit.open") || on("audit.verify") {
        let written = runtime.block_on(async {
            append(&AuditLog::open(&small, no_fsync()).expect("log"), 10_000, 64).await;
            append(&AuditLog::open(&large, no_fsync()).expect("log"), 1_000_000, 64).await
        });
        std::thread::sleep(Duration::from_millis(100));
        let bytes = std::fs::metadata(&large).expect("the log").len();
        println!("wrote 1M records ({} MB, {:.0} records/s, fsync off)", bytes >> 20, written);
    }

    if on("audit.open") {
        println!("opening a log ({OPENS} opens each)");
        for (key, path, what) in [("10k", &small, "10k records"), ("1m", &large, "1M records")] {
            let ms = open_ms(path);
            println!("  {what:>12}: {ms:>8.3} ms per open");
            println!("BENCH audit.open.{key} {ms:.4} ms");
        }
    }

    println!("appends");
    let cases: [(&str, bool, usize, u64); 4] = [
        ("audit.append.seq", true, 1, 2_000),
        ("audit.append.inflight64", true, 64, 100_000),
        ("audit.append.seq.nofsync", false, 1, 100_000),
        ("audit.append.inflight64.nofsync", false, 64, 200_000),
    ];
    for (key, fsync, in_flight, records) in cases.into_iter().filter(|(key, ..)| on(key)) {
        let path = dir.path().join(format!("{key}.jsonl"));
        let rate = runtime.block_on(async {
            let log = AuditLog::open(&path, AuditOptions { fsync, ..AuditOptions::default() }).expect("log");
            append(&log, records, in_flight).await
        });
        let durable = if fsync { "durable" } else { "fsync off" };
        println!("  {in_flight:>3} in flight, {durable:>9}: {rate:>9.0} records/s ({:.1} µs each)", 1e6 / rate);
        println!("BENCH {key} {rate:.0} records/s");
    }

    if on("audit.verify") {
        let started = Instant::now();
        let report = mcp_audit::verify(&large).expect("reads");
        let rate = report.records as f64 / started.elapsed().as_secs_f64();
        assert!(report.ok() && report.records == 1_000_000, "{report:?}");
        println!("verify: {rate:.0} records/s over {} records", report.records);
        println!("BENCH audit.verify {rate:.0} records/s");
    }
}
