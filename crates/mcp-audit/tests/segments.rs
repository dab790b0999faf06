//! The live file is sealed into numbered segments chained by a manifest: the chain verifies across
//! them, readers read across them, tampering with a segment or the manifest is named, and a crash
//! at any step of sealing leaves a log that verifies and that opening completes.

use std::path::PathBuf;

mod common;

use common::{lines, record, rewrite};
use mcp_audit::{AuditLog, AuditOptions, read_records, verify};

/// Small segments: a dozen records each.
fn options() -> AuditOptions {
    AuditOptions { segment_bytes: 4096, ..AuditOptions::default() }
}

struct Log {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Log {
    async fn new(records: u64) -> Log {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, options()).expect("opens");
        for n in 1..=records {
            assert_eq!(log.append(record(n)).await.expect("appends"), n);
        }
        Log { _dir: dir, path }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.with_file_name(name)
    }

    fn segment(&self, n: u64) -> PathBuf {
        self.file(&format!("audit.jsonl.{n:06}"))
    }

    fn segments(&self) -> u64 {
        (1..).take_while(|n| self.segment(*n).exists()).count() as u64
    }

    fn manifest(&self) -> PathBuf {
        self.file("audit.jsonl.manifest")
    }
}

#[tokio::test]
async fn the_chain_verifies_and_reads_across_segments_and_continues_after_reopening() {
    let log = Log::new(100).await;
    let sealed = log.segments();
    assert!(sealed >= 5, "only {sealed} segments");
    assert_eq!(lines(&log.manifest()).len() as u64, sealed, "one manifest entry per segment");
    for n in 1..=sealed {
        let size = std::fs::metadata(log.segment(n)).expect("a segment").len();
        assert!((4096..4096 + 1024).contains(&size), "segment {n} is {size} bytes");
    }
    let report = verify(&log.path).expect("reads");
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.records, report.segments as u64), (100, sealed));
    let seqs: Vec<u64> = read_records(&log.path).expect("reads").iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());

    let reopened = AuditLog::open(&log.path, options()).expect("reopens");
    assert_eq!(reopened.append(record(101)).await.expect("appends"), 101);
    let report = verify(&log.path).expect("reads");
    assert!(report.ok() && report.records == 101, "{report:?}");
}

#[tokio::test]
async fn removed_reordered_cut_or_edited_segments_and_manifest_entries_are_named() {
    type Tamper = fn(&Log);
    let cases: &[(&str, Tamper, &str, &str)] = &[
        ("remove", |l| std::fs::remove_file(l.segment(2)).expect("removes"), "audit.jsonl.000002", "missing"),
        (
            "reorder",
            |l| {
                let temp = l.file("temp");
                std::fs::rename(l.segment(2), &temp).expect("renames");
                std::fs::rename(l.segment(3), l.segment(2)).expect("renames");
                std::fs::rename(&temp, l.segment(3)).expect("renames");
            },
            "audit.jsonl.000002",
            "reordered",
        ),
        (
            "edit a record",
            |l| {
                let mut content = lines(&l.segment(1));
                content[3] = content[3].replace("/data/4.txt", "/data/innocent.txt");
                rewrite(&l.segment(1), &content);
            },
            "audit.jsonl.000001",
            "edited",
        ),
        (
            "cut a segment's end",
            |l| {
                let mut content = lines(&l.segment(2));
                content.pop();
                rewrite(&l.segment(2), &content);
            },
            "audit.jsonl.000002",
            "cut, extended or replaced",
        ),
        (
            "edit the manifest",
            |l| {
                let mut content = lines(&l.manifest());
                content[1] = content[1].replace("\"last_seq\":", "\"last_seq\":1");
                rewrite(&l.manifest(), &content);
            },
            "audit.jsonl.manifest",
            "edited",
        ),
        (
            "remove a manifest entry",
            |l| {
                let mut content = lines(&l.manifest());
                content.remove(0);
                rewrite(&l.manifest(), &content);
            },
            "audit.jsonl.manifest",
            "does not link",
        ),
        (
            "remove the oldest segment and its entry",
            |l| {
                std::fs::remove_file(l.segment(1)).expect("removes");
                let mut content = lines(&l.manifest());
                content.remove(0);
                rewrite(&l.manifest(), &content);
            },
            "audit.jsonl.manifest",
            "does not link",
        ),
    ];
    for (what, tamper, file, reason) in cases {
        let log = Log::new(60).await;
        tamper(&log);
        let report = verify(&log.path).expect("reads");
        let problem = report.problem.unwrap_or_else(|| panic!("{what}: not detected"));
        assert_eq!(problem.file, *file, "{what}: {problem:?}");
        assert!(problem.reason.contains(reason), "{what}: {problem:?}");
    }
}

#[tokio::test]
async fn a_crash_after_sealing_a_segment_but_before_listing_it_is_completed_on_open() {
    let log = Log::new(30).await;
    let sealed = log.segments();
    // The live file renamed to the next segment, and then the crash: no entry, no live file.
    std::fs::rename(&log.path, log.segment(sealed + 1)).expect("renames");
    let report = verify(&log.path).expect("reads");
    assert!(report.ok() && report.records == 30, "a sealed but unlisted segment still verifies: {report:?}");

    let reopened = AuditLog::open(&log.path, options()).expect("reopens");
    assert_eq!(lines(&log.manifest()).len() as u64, sealed + 1, "the segment is listed");
    assert_eq!(reopened.append(record(31)).await.expect("appends"), 31);
    let report = verify(&log.path).expect("reads");
    assert!(report.ok() && report.records == 31 && report.segments as u64 == sealed + 1, "{report:?}");
}

#[tokio::test]
async fn a_torn_manifest_entry_is_cut_on_open() {
    let log = Log::new(30).await;
    let mut manifest = std::fs::read(log.manifest()).expect("reads");
    manifest.extend_from_slice(br#"{"number":9,"file":"aud"#);
    std::fs::write(log.manifest(), manifest).expect("writes");
    let report = verify(&log.path).expect("reads");
    assert!(report.ok(), "a torn last entry was never relied on: {report:?}");

    let reopened = AuditLog::open(&log.path, options()).expect("reopens");
    assert_eq!(reopened.append(record(31)).await.expect("appends"), 31);
    assert!(std::fs::read(log.manifest()).expect("reads").ends_with(b"\n"));
    let report = verify(&log.path).expect("reads");
    assert!(report.ok(), "{report:?}");
}

#[tokio::test]
async fn a_log_of_one_file_without_a_manifest_is_continued_into_segments() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let old =
        AuditLog::open(&path, AuditOptions { segment_bytes: u64::MAX, ..AuditOptions::default() }).expect("opens");
    for n in 1..=20 {
        old.append(record(n)).await.expect("appends");
    }
    drop(old);
    let log = AuditLog::open(&path, options()).expect("reopens");
    for n in 21..=40 {
        log.append(record(n)).await.expect("appends");
    }
    assert!(path.with_file_name("audit.jsonl.000001").exists());
    let report = verify(&path).expect("reads");
    assert!(report.ok() && report.records == 40, "{report:?}");
    assert_eq!(read_records(&path).expect("reads").len(), 40);
}

#[tokio::test]
async fn verifying_tells_its_progress_in_bytes_up_to_the_whole_log() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let options = AuditOptions { fsync: false, segment_bytes: 1 << 20, ..AuditOptions::default() };
    let log = AuditLog::open(&path, options).expect("opens");
    let mut n = 0;
    // Enough records for several progress steps (every 4 MiB) across several segments.
    while mcp_audit::log_bytes(&path).expect("sizes") < 13 << 20 {
        for _ in 0..1000 {
            n += 1;
            log.append(record(n)).await.expect("appends");
        }
    }
    drop(log);
    let total = mcp_audit::log_bytes(&path).expect("sizes");
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|e| e.expect("entry").path())
        .filter(|p| !p.to_string_lossy().ends_with(".manifest") && !p.to_string_lossy().ends_with(".head"))
        .map(|p| std::fs::metadata(p).expect("size").len())
        .sum();
    assert_eq!(total, on_disk, "the segments and the live file");

    let mut told = Vec::new();
    let report = mcp_audit::verify_with_progress(&path, &mut |read| told.push(read)).expect("reads");
    assert!(report.ok() && report.records == n, "{report:?}");
    assert!(told.len() >= 3, "told {told:?} of {total} bytes");
    assert!(told.windows(2).all(|w| w[0] < w[1]), "never goes back: {told:?}");
    assert!(*told.last().expect("told") <= total, "{told:?} of {total}");
    assert!(total - told.last().expect("told") < 4 << 20, "the last step is within 4 MiB of the end: {told:?}");
}

/// A sealed segment that ends in a partial line was cut: reading the records names it rather than
/// passing over it, and goes on with the next file.
#[tokio::test]
async fn reading_records_names_a_sealed_segment_cut_short() {
    let log = Log::new(40).await;
    assert!(log.segments() >= 2);
    let first = log.segment(1);
    let bytes = std::fs::read(&first).expect("reads");
    std::fs::write(&first, &bytes[..bytes.len() - 10]).expect("writes");
    let count = lines(&first).len();
    let mut bad = Vec::new();
    let mut seqs = Vec::new();
    for item in mcp_audit::records(&log.path).expect("opens") {
        match item {
            Ok(record) => seqs.push(record.seq),
            Err(mcp_audit::Error::BadLine { path, line, reason }) => bad.push((path, line, reason)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(bad.len(), 1, "{bad:?}");
    let (path, line, reason) = &bad[0];
    assert_eq!((PathBuf::from(path), *line), (first, count), "{reason}");
    assert!(reason.contains("partial line"), "{reason}");
    assert_eq!(seqs.len(), 39, "every other record is read: {seqs:?}");
    assert_eq!(*seqs.last().expect("some"), 40);
}
