//! The mirror's queue is bounded: a mirror that stalls holds at most its capacity, the log never
//! waits for it, and what was dropped is said, for the mirror to copy from the file.

mod common;

use common::record;
use mcp_audit::{AuditLog, AuditOptions, Mirror, read_records};

#[tokio::test]
async fn a_stalled_mirror_holds_no_more_than_its_capacity() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let (mirror, mut receiver) = Mirror::bounded(100);
    let options = AuditOptions { fsync: false, mirror: Some(mirror.clone()), ..AuditOptions::default() };
    let log = AuditLog::open(&path, options).expect("opens");
    // Nobody reads the queue while 5000 records are written, one batch each.
    for n in 1..=5000 {
        log.append(record(n)).await.expect("the log does not wait for its mirror");
        assert!(mirror.queued() <= 100, "{} records queued after {n}", mirror.queued());
    }
    assert_eq!(mirror.queued(), 100);
    assert_eq!(receiver.take_dropped(), Some(101), "the first record without room is where catching up starts");
    assert_eq!(receiver.take_dropped(), None, "said once");

    // What was queued is the file's first hundred records; the rest is in the file.
    let mut queued = Vec::new();
    while let Some(batch) = receiver.try_recv() {
        queued.extend(batch.records);
    }
    assert_eq!(mirror.queued(), 0, "room is given back as the mirror takes batches");
    let file = read_records(&path).expect("reads");
    assert_eq!(queued, file[..100].to_vec());
    assert_eq!(file.len(), 5000);

    // With room again, batches flow.
    log.append(record(5001)).await.expect("appends");
    assert_eq!(receiver.try_recv().expect("a batch").records[0].seq, 5001);
}
