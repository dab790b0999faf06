//! Checking the chain: the first record that does not follow from the one before is named.

use std::io::BufRead as _;
use std::path::Path;

use serde::Serialize;

use crate::log::{Head, head_path};
use crate::record::{AuditRecord, GENESIS};
use crate::{Error, Result};

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line number in the file.
    pub line: usize,
    /// The record's sequence number, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong, in words.
    pub reason: String,
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked up to the first problem (all of them when there is none).
    pub records: u64,
    /// The hash of the last good record.
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// Bytes of an unterminated last line: a write cut short by a crash, never acknowledged. It
    /// is not tampering; reopening the log removes it and records that it did.
    pub torn_tail: Option<usize>,
}

impl VerifyReport {
    /// True when the whole log verified.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Checks every record of the log at `path`.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    let path = path.as_ref();
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut expected_seq = 1u64;
    let mut prev = GENESIS.to_owned();
    let report = |line: usize, seq: Option<u64>, reason: String, records: u64, prev: &str| VerifyReport {
        records,
        last_hash: prev.to_owned(),
        problem: Some(Problem { line, seq, reason }),
        torn_tail: None,
    };
    let mut reader = std::io::BufReader::new(file);
    let mut raw = Vec::new();
    let mut number = 0;
    let mut torn_tail = None;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw).map_err(io)? == 0 {
            break;
        }
        number += 1;
        if raw.last() != Some(&b'\n') {
            torn_tail = Some(raw.len());
            break;
        }
        let line = String::from_utf8_lossy(&raw[..raw.len() - 1]).into_owned();
        let record: AuditRecord = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => return Ok(report(number, None, format!("not a valid record ({e})"), expected_seq - 1, &prev)),
        };
        if record.hash != record.compute_hash() {
            return Ok(report(
                number,
                Some(record.seq),
                "its hash does not match its content: the record was edited".into(),
                expected_seq - 1,
                &prev,
            ));
        }
        if record.seq != expected_seq {
            let reason = if record.seq > expected_seq {
                format!("sequence jumps from {} to {}: records were deleted or reordered", expected_seq - 1, record.seq)
            } else {
                format!(
                    "sequence goes back from {} to {}: records were inserted or reordered",
                    expected_seq - 1,
                    record.seq
                )
            };
            return Ok(report(number, Some(record.seq), reason, expected_seq - 1, &prev));
        }
        if record.prev != prev {
            return Ok(report(
                number,
                Some(record.seq),
                "it does not link to the record before it: a record was replaced, inserted or reordered".into(),
                expected_seq - 1,
                &prev,
            ));
        }
        prev = record.hash;
        expected_seq += 1;
    }
    let records = expected_seq - 1;
    // The head file records how far the chain got; a log shorter than that lost its end.
    if let Ok(text) = std::fs::read_to_string(head_path(path)) {
        if let Ok(head) = serde_json::from_str::<Head>(&text) {
            if head.seq > records {
                return Ok(report(
                    records as usize + 1,
                    Some(records + 1),
                    format!(
                        "the log ends at record {records} but had reached record {}: records were cut from the end",
                        head.seq
                    ),
                    records,
                    &prev,
                ));
            }
        }
    }
    Ok(VerifyReport { records, last_hash: prev, problem: None, torn_tail })
}

/// Every record of the log, in order (for `tail` and `export`); unreadable lines are skipped.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<AuditRecord>> {
    let path = path.as_ref();
    let text =
        std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}
