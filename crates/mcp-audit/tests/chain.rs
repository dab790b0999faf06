//! The chain catches every kind of tampering; a torn last line is cut and recorded on reopen.

use std::path::Path;

mod common;

use common::{lines, record, rewrite};
use mcp_audit::{AuditLog, AuditOptions, verify};

async fn write_log(path: &Path, n: usize) {
    let log = AuditLog::open(path, AuditOptions::default()).expect("opens");
    let appends = (0..n).map(|i| log.append(record(i as u64)));
    let seqs: Vec<u64> = futures_collect(appends).await;
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=n as u64).collect::<Vec<_>>(), "every append acknowledged with its own sequence number");
}

async fn futures_collect<F: std::future::Future<Output = mcp_audit::Result<u64>>>(
    futures: impl Iterator<Item = F>,
) -> Vec<u64> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::new();
    for f in handles {
        out.push(f.await.expect("appended"));
    }
    out
}

#[tokio::test]
async fn an_intact_log_verifies() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 20).await;
    let report = verify(&path).expect("reads");
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.records, 20);
}

#[tokio::test]
async fn edits_deletions_insertions_and_reorderings_are_named() {
    type Tamper = fn(&mut Vec<String>);
    let cases: &[(&str, Tamper, usize, &str)] = &[
        ("edit", |l| l[4] = l[4].replace("/data/4.txt", "/data/innocent.txt"), 5, "edited"),
        (
            "delete",
            |l| {
                l.remove(6);
            },
            7,
            "records were deleted",
        ),
        (
            "insert",
            |l| {
                let copy = l[2].clone();
                l.insert(8, copy);
            },
            9,
            "inserted or reordered",
        ),
        ("reorder", |l| l.swap(3, 4), 4, "reordered"),
        (
            "cut the end",
            |l| {
                l.pop();
            },
            10,
            "cut from the end",
        ),
        ("garbage", |l| l[1] = "{not json".into(), 2, "not a valid record"),
    ];
    for (what, tamper, line, reason) in cases {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("audit.jsonl");
        write_log(&path, 10).await;
        let mut content = lines(&path);
        tamper(&mut content);
        rewrite(&path, &content);
        let report = verify(&path).expect("reads");
        let problem = report.problem.unwrap_or_else(|| panic!("{what}: not detected"));
        assert_eq!(problem.line, *line, "{what}: {problem:?}");
        assert!(problem.reason.contains(reason), "{what}: {problem:?}");
    }
}

#[tokio::test]
async fn a_torn_last_line_is_cut_and_recorded_and_the_chain_continues() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 5).await;
    // A crash in the middle of writing a sixth record.
    let mut torn = std::fs::read(&path).expect("reads");
    torn.extend_from_slice(br#"{"seq":6,"time":"2026-11-26T00:00:00.000Z","kind":"tool_"#);
    std::fs::write(&path, torn).expect("writes");

    let log = AuditLog::open(&path, AuditOptions::default()).expect("reopens");
    let seq = log.append(record(99)).await.expect("appends");
    assert_eq!(seq, 7, "the recovery note is record 6, the new record 7");
    let report = verify(&path).expect("reads");
    assert!(report.ok(), "{report:?}");
    let records = mcp_audit::read_records(&path).expect("reads");
    assert_eq!(records[5].body.kind, "recovery");
    assert!(records[5].body.error.as_deref().unwrap_or("").contains("torn final line"));
}

/// A crash in the middle of a group-committed batch's write (whose records, in a real crash,
/// none was acknowledged): made here by writing a batch of ten, then keeping only the bytes of
/// its first five records and part of the sixth. On reopen the whole records stay, the torn one
/// is cut, and the chain continues from the last whole record.
#[tokio::test]
async fn a_batch_torn_by_a_crash_keeps_its_whole_records_and_the_chain_continues() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 2).await;
    let before = std::fs::read(&path).expect("reads");
    {
        // Ten records polled together: one batch, one write.
        let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
        let seqs = futures_util::future::join_all((10..20).map(|n| log.append(record(n)))).await;
        assert!(seqs.iter().all(Result::is_ok), "{seqs:?}");
    }
    // The crash: of that batch's bytes, only five records and part of the sixth reached the disk.
    let whole = lines(&path);
    let sixth = &whole[2 + 5];
    let mut torn = before;
    whole[2..7].iter().for_each(|line| torn.extend_from_slice(format!("{line}\n").as_bytes()));
    torn.extend_from_slice(&sixth.as_bytes()[..sixth.len() / 3]);
    std::fs::write(&path, torn).expect("writes");

    let log = AuditLog::open(&path, AuditOptions::default()).expect("reopens");
    assert_eq!(log.append(record(99)).await.expect("appends"), 9, "seven whole records, the recovery note, this one");
    drop(log);
    let report = verify(&path).expect("reads");
    assert!(report.ok() && report.records == 9 && report.torn_tail.is_none(), "{report:?}");
    let records = mcp_audit::read_records(&path).expect("reads");
    assert_eq!(records[7].body.kind, "recovery");
    assert_eq!(records[6].body.trace_id, "trace-14", "the batch's whole records kept, in order");
}

/// A log of several MiB, with one record larger than the blocks `verify` reads at a time: the
/// whole chain verifies, and tampering anywhere (within a block, in the large record, in the last
/// block) is named at its own line, as in a short log.
#[tokio::test]
async fn a_log_of_many_blocks_verifies_and_tampering_deep_in_it_is_named_at_its_line() {
    const RECORDS: u64 = 12_000;
    const LARGE: usize = 5_000;
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    {
        let options = AuditOptions { fsync: false, ..AuditOptions::default() };
        let log = AuditLog::open(&path, options).expect("opens");
        for i in 0..RECORDS {
            let mut body = record(i);
            body.arguments = if i as usize == LARGE {
                serde_json::json!({ "content": "x".repeat(3 << 20) })
            } else {
                serde_json::json!({ "path": format!("/data/{i}.txt"), "note": "y".repeat(300) })
            };
            log.append(body).await.expect("appended");
        }
    }
    assert!(std::fs::metadata(&path).expect("there").len() > 8 << 20, "spans many 1 MiB blocks");
    let report = verify(&path).expect("reads");
    assert!(report.ok() && report.records == RECORDS, "{report:?}");

    let intact = lines(&path);
    for at in [3_001, LARGE, 9_876, RECORDS as usize - 1] {
        let mut content = intact.clone();
        content[at] = content[at].replacen("alice", "mallory", 1);
        rewrite(&path, &content);
        let report = verify(&path).expect("reads");
        let problem = report.problem.clone().unwrap_or_else(|| panic!("the edit of line {} is not detected", at + 1));
        assert_eq!((problem.line, problem.seq), (at + 1, Some(at as u64 + 1)), "{problem:?}");
        assert!(problem.reason.contains("edited"), "{problem:?}");
        assert_eq!(report.records, at as u64, "records before the edit are counted: {report:?}");
    }
    // A torn end after many blocks is still only a torn end.
    let mut torn = intact.iter().map(|l| format!("{l}\n")).collect::<String>();
    torn.push_str(r#"{"v":2,"kind":"tool_"#);
    std::fs::write(&path, torn).expect("writes");
    let report = verify(&path).expect("reads");
    assert!(report.ok() && report.records == RECORDS && report.torn_tail == Some(20), "{report:?}");
}

/// The head file names how far the chain got: a garbled one cannot, so it is a problem named by
/// its file (even, or above all, when the log was cut at its end), never a silent pass.
#[tokio::test]
async fn a_garbled_head_file_is_a_problem_that_names_it() {
    let garbled: &[(&str, &[u8])] = &[
        ("not json", b"garbage\n"),
        ("zeros", &[0; 128]),
        ("padding only", &[b' '; 128]),
        ("a head missing its hash", br#"{"seq":10}"#),
        ("too long", &[b' '; 8192]),
    ];
    for (what, bytes) in garbled {
        for cut in [false, true] {
            let dir = tempfile::tempdir().expect("temp");
            let path = dir.path().join("audit.jsonl");
            write_log(&path, 10).await;
            if cut {
                let mut content = lines(&path);
                content.truncate(7);
                rewrite(&path, &content);
            }
            std::fs::write(dir.path().join("audit.jsonl.head"), bytes).expect("writes");
            let report = verify(&path).expect("reads");
            let problem = report.problem.clone().unwrap_or_else(|| panic!("{what} (cut: {cut}): passed: {report:?}"));
            assert_eq!((problem.file.as_str(), problem.line), ("audit.jsonl.head", 0), "{what}: {problem:?}");
            assert!(problem.reason.contains("garbled"), "{what}: {problem:?}");
            assert_eq!(report.records, if cut { 7 } else { 10 }, "{what}: the records verify: {report:?}");
        }
    }
}

/// Without a head file (a copy of the log, a log written before head files existed) or with an
/// empty one (its writer stopped before first writing it) the chain still verifies, but the report says
/// that records cut from the end cannot be detected; with one, the end is checked.
#[tokio::test]
async fn without_a_head_file_the_report_says_the_end_is_unchecked() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let head = dir.path().join("audit.jsonl.head");
    write_log(&path, 10).await;
    let report = verify(&path).expect("reads");
    assert!(report.ok() && report.end_unchecked.is_none(), "the end is checked against the head: {report:?}");

    let mut content = lines(&path);
    content.truncate(7);
    rewrite(&path, &content);
    for (what, empty) in [("is absent", false), ("is empty", true)] {
        if empty {
            std::fs::write(&head, b"").expect("writes");
        } else {
            let _ = std::fs::remove_file(&head);
        }
        let report = verify(&path).expect("reads");
        assert!(report.ok() && report.records == 7, "{what}: {report:?}");
        let note = report.end_unchecked.unwrap_or_else(|| panic!("{what}: nothing says the end was not checked"));
        assert!(note.contains("audit.jsonl.head") && note.contains(what), "{note}");
        assert!(note.contains("records cut from the end of the log cannot be detected"), "{note}");
    }

    // The first-format fixture was written before head files existed.
    let fixture = dir.path().join("v1.jsonl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.jsonl"), &fixture).expect("copies");
    let report = verify(&fixture).expect("reads");
    assert!(report.ok() && report.end_unchecked.is_some(), "{report:?}");
}

/// Reading the records back (`tail`, `export`) never drops a line in silence: each line that is
/// not a record is an error naming its file and line, and the records after it still come.
#[tokio::test]
async fn reading_records_names_every_line_that_is_not_one_and_goes_on() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    write_log(&path, 6).await;
    let mut content = lines(&path);
    content[1] = "{not json".into();
    content[4] = String::new();
    rewrite(&path, &content);
    // A torn last line (a crash mid-write, never acknowledged) is not a record and not an error.
    let mut bytes = std::fs::read(&path).expect("reads");
    bytes.extend_from_slice(br#"{"v":2,"kind":"tool_"#);
    std::fs::write(&path, bytes).expect("writes");

    let mut seen = Vec::new();
    for item in mcp_audit::records(&path).expect("opens") {
        match item {
            Ok(record) => seen.push(format!("record {}", record.seq)),
            Err(mcp_audit::Error::BadLine { path: file, line, reason }) => {
                assert_eq!(Path::new(&file), path, "names the file");
                assert!(reason.contains("not a valid record"), "{reason}");
                seen.push(format!("bad line {line}"));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen, ["record 1", "bad line 2", "record 3", "record 4", "bad line 5", "record 6"]);
    let e = mcp_audit::read_records(&path).expect_err("a log with bad lines does not read whole");
    assert!(e.to_string().contains("audit.jsonl`, line 2: not a valid record"), "{e}");
}
