//! The time to open a log, for 1k and for 200k records: the same, since opening reads only the
//! ends of the files (the last manifest entry and the live file's last record). Run with
//! `cargo bench -p mcp-audit --bench open`.

use std::time::Instant;

use futures_util::StreamExt;
use mcp_audit::{AuditLog, AuditOptions, NewRecord};

const OPENS: u32 = 50;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp");
    println!("opening an audit log ({OPENS} opens each, fsync of the directory included)");
    for (records, segment_bytes) in [(1_000u64, 64 << 20), (200_000, 64 << 20), (200_000, 4 << 20)] {
        let path = dir.path().join(format!("open-{records}-{segment_bytes}.jsonl"));
        let options = || AuditOptions { segment_bytes, ..AuditOptions::default() };
        runtime.block_on(async {
            let log = AuditLog::open(&path, AuditOptions { fsync: false, ..options() }).expect("log");
            futures_util::stream::iter(0..records)
                .map(|i| {
                    let log = log.clone();
                    async move {
                        let record = NewRecord {
                            kind: "tool_call".into(),
                            outcome: "ok".into(),
                            arguments: serde_json::json!({ "path": format!("/data/{i}.txt") }),
                            trace_id: format!("{i:032x}"),
                            ..NewRecord::default()
                        };
                        log.append(record).await.expect("appends")
                    }
                })
                .buffer_unordered(1024)
                .for_each(|_| async {})
                .await;
        });
        let started = Instant::now();
        for _ in 0..OPENS {
            drop(AuditLog::open(&path, options()).expect("opens"));
        }
        let per_open = started.elapsed() / OPENS;
        let segments =
            (1..).take_while(|n| std::path::Path::new(&format!("{}.{n:06}", path.display())).exists()).count();
        println!(
            "  {records:>7} records ({segments} sealed segments): {:>8.1} µs per open",
            per_open.as_secs_f64() * 1e6
        );
    }
}
