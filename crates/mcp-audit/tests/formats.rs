//! Both record formats verify: a log written in the first format (records sealed over their
//! canonical JSON; `fixtures/v1.jsonl` was written by that writer) verifies and is continued in
//! the current one (sealed over the bytes as written), and tampering is named in either.

mod common;

use std::path::{Path, PathBuf};

use common::{lines, record, rewrite};
use mcp_audit::{AuditLog, AuditOptions, AuditRecord, GENESIS, NewRecord, read_records, verify};

const V1_RECORDS: u64 = 12;

/// A log holding the first-format fixture, continued with `more` records in the current format.
async fn mixed(dir: &Path, more: u64, options: AuditOptions) -> PathBuf {
    let path = dir.join("audit.jsonl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.jsonl"), &path).expect("copies");
    let log = AuditLog::open(&path, options).expect("opens");
    for n in 1..=more {
        assert_eq!(log.append(record(n)).await.expect("appends"), V1_RECORDS + n);
    }
    path
}

#[tokio::test]
async fn a_log_of_the_first_format_verifies_and_is_continued_in_the_current_one() {
    let dir = tempfile::tempdir().expect("temp");
    let fixture = dir.path().join("v1.jsonl");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.jsonl"), &fixture).expect("copies");
    let report = verify(&fixture).expect("reads");
    assert!(report.ok() && report.records == V1_RECORDS, "{report:?}");

    for fsync in [true, false] {
        let dir = tempfile::tempdir().expect("temp");
        let path = mixed(dir.path(), 3, AuditOptions { fsync, ..AuditOptions::default() }).await;
        let report = verify(&path).expect("reads");
        assert!(report.ok() && report.records == V1_RECORDS + 3, "{report:?}");
        let text = lines(&path);
        assert!(text[..V1_RECORDS as usize].iter().all(|l| l.starts_with(r#"{"seq":"#)));
        assert!(text[V1_RECORDS as usize..].iter().all(|l| l.starts_with(r#"{"v":2,"kind":"tool_call","#)), "{text:?}");
        let records = read_records(&path).expect("reads");
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=V1_RECORDS + 3).collect::<Vec<_>>());
        // The chain runs through the change of format.
        assert_eq!(records[V1_RECORDS as usize].prev, records[V1_RECORDS as usize - 1].hash);
        assert_eq!(records[V1_RECORDS as usize].body, record(1));

        // And across a reopen.
        let log = AuditLog::open(&path, AuditOptions { fsync, ..AuditOptions::default() }).expect("reopens");
        assert_eq!(log.append(record(4)).await.expect("appends"), V1_RECORDS + 4);
        drop(log);
        let report = verify(&path).expect("reads");
        assert!(report.ok() && report.records == V1_RECORDS + 4, "{report:?}");
    }
}

#[tokio::test]
async fn tampering_is_named_in_records_of_either_format() {
    type Tamper = fn(&mut Vec<String>);
    // Lines 1-12 are of the first format, 13-18 of the current one.
    let cases: &[(&str, Tamper, usize, &str)] = &[
        ("edit an old record", |l| l[4] = l[4].replace("/data/projects/", "/data/other/"), 5, "edited"),
        ("edit a new record", |l| l[13] = l[13].replace("/data/2.txt", "/data/innocent.txt"), 14, "edited"),
        ("edit a new record's time", |l| l[14] = l[14].replacen(r#""time":"2"#, r#""time":"1"#, 1), 15, "edited"),
        (
            "replace a new record's hash",
            |l| {
                let at = l[15].rfind("sha256:").expect("hash") + 7;
                let digit = if &l[15][at..at + 1] == "0" { "1" } else { "0" };
                l[15].replace_range(at..at + 1, digit);
            },
            16,
            "edited",
        ),
        (
            "delete a new record",
            |l| {
                l.remove(13);
            },
            14,
            "records were deleted",
        ),
        ("reorder new records", |l| l.swap(14, 15), 15, "reordered"),
        ("reorder across the formats", |l| l.swap(11, 12), 12, "reordered"),
        ("drop the format mark", |l| l[12] = l[12].replacen(r#""v":2,"#, "", 1), 13, "edited"),
        ("another format mark", |l| l[12] = l[12].replacen(r#""v":2,"#, r#""v":3,"#, 1), 13, "not a valid record"),
        (
            "something after the hash",
            |l| {
                let end = l[16].len() - 1;
                l[16].replace_range(end.., r#","x":1}"#);
            },
            17,
            "the hash does not end the record",
        ),
        ("garbage", |l| l[17] = "{not json".into(), 18, "not a valid record"),
        (
            "cut the end",
            |l| {
                l.pop();
            },
            18,
            "cut from the end",
        ),
    ];
    for (what, tamper, line, reason) in cases {
        let dir = tempfile::tempdir().expect("temp");
        let path = mixed(dir.path(), 6, AuditOptions::default()).await;
        let mut content = lines(&path);
        tamper(&mut content);
        rewrite(&path, &content);
        let report = verify(&path).expect("reads");
        let problem = report.problem.unwrap_or_else(|| panic!("{what}: not detected"));
        assert_eq!(problem.line, *line, "{what}: {problem:?}");
        assert!(problem.reason.contains(reason), "{what}: {problem:?}");
    }
}

/// A record of the current format re-sealed by someone who recomputes its own hash still breaks
/// the link from the record after it.
#[tokio::test]
async fn a_new_record_resealed_after_an_edit_breaks_the_next_link() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().expect("temp");
    let path = mixed(dir.path(), 4, AuditOptions::default()).await;
    let mut content = lines(&path);
    let edited = content[13].replace("/data/2.txt", "/data/innocent.txt");
    let at = edited.rfind(r#","hash":""#).expect("hash");
    let hash = hex::encode(sha2::Sha256::digest(&edited.as_bytes()[..at]));
    content[13] = format!(r#"{},"hash":"sha256:{hash}"}}"#, &edited[..at]);
    rewrite(&path, &content);
    let problem = verify(&path).expect("reads").problem.expect("detected");
    assert_eq!(problem.line, 15, "{problem:?}");
    assert!(problem.reason.contains("does not link"), "{problem:?}");
}

/// Records of the first format with every optional field, escapes and non-ASCII text, sealed as
/// that format's writer sealed them: they verify, and an edit is named.
#[test]
fn first_format_records_with_every_field_verify() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let mut prev = GENESIS.to_owned();
    let mut text = String::new();
    for seq in 1..=4u64 {
        let body = NewRecord {
            kind: "tool_call".into(),
            principal: "zoë \"the admin\"".into(),
            client: Some("client\twith\ttabs".into()),
            server: "fs".into(),
            tool: "write_file".into(),
            arguments: serde_json::json!({ "z": [1, 2.5, null], "a": { "ü": "line\nbreak" }, "n": seq }),
            arguments_digest: mcp_audit::arguments_digest(&serde_json::json!({ "n": seq })),
            decision: "deny".into(),
            rule: Some("no-writes".into()),
            outcome: "denied".into(),
            error: Some("denied by `no-writes` — ☃".into()),
            duration_ms: 1.0 / 3.0,
            trace_id: format!("{seq:032x}"),
        };
        let record = AuditRecord::seal(seq, "2026-01-01T00:00:00.000Z".into(), body, prev);
        text.push_str(&serde_json::to_string(&record).expect("encodes"));
        text.push('\n');
        prev = record.hash;
    }
    std::fs::write(&path, &text).expect("writes");
    let report = verify(&path).expect("reads");
    assert!(report.ok() && report.records == 4, "{report:?}");

    let mut content = lines(&path);
    content[2] = content[2].replace("☃", "☀");
    rewrite(&path, &content);
    let problem = verify(&path).expect("reads").problem.expect("detected");
    assert_eq!((problem.line, problem.seq), (3, Some(3)), "{problem:?}");
    assert!(problem.reason.contains("edited"), "{problem:?}");
}

#[tokio::test]
async fn a_torn_new_record_is_cut_on_reopen_and_the_chain_continues() {
    for fsync in [true, false] {
        let dir = tempfile::tempdir().expect("temp");
        let path = mixed(dir.path(), 2, AuditOptions { fsync, ..AuditOptions::default() }).await;
        let whole = std::fs::read(&path).expect("reads");
        // A crash in the middle of writing a record.
        let mut torn = whole.clone();
        let line = lines(&path).pop().expect("a line");
        torn.extend_from_slice(&line.as_bytes()[..line.len() / 2]);
        std::fs::write(&path, &torn).expect("writes");
        let report = verify(&path).expect("reads");
        assert_eq!(report.torn_tail, Some(line.len() / 2), "{report:?}");

        let log = AuditLog::open(&path, AuditOptions { fsync, ..AuditOptions::default() }).expect("reopens");
        assert_eq!(log.append(record(9)).await.expect("appends"), V1_RECORDS + 4, "after the recovery note");
        drop(log);
        let report = verify(&path).expect("reads");
        assert!(report.ok() && report.records == V1_RECORDS + 4 && report.torn_tail.is_none(), "{report:?}");
        let records = read_records(&path).expect("reads");
        assert_eq!(records[V1_RECORDS as usize + 2].body.kind, "recovery");
    }
}

/// Many callers at once, batches capped at a few records: every record is acknowledged once, with
/// its own number, and the chain is whole; with fsync off too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_in_small_batches_keep_the_chain_whole() {
    for fsync in [true, false] {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("audit.jsonl");
        let options = AuditOptions { fsync, max_batch: 3, segment_bytes: 16 << 10, ..AuditOptions::default() };
        let log = AuditLog::open(&path, options).expect("opens");
        let callers: Vec<_> = (0..32u64)
            .map(|caller| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for n in 0..20 {
                        seqs.push(log.append(record(caller * 100 + n)).await.expect("appends"));
                    }
                    seqs
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for caller in callers {
            seqs.extend(caller.await.expect("appended"));
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=640).collect::<Vec<_>>());
        drop(log);
        let report = verify(&path).expect("reads");
        assert!(report.ok() && report.records == 640 && report.segments > 2, "{report:?}");
    }
}
