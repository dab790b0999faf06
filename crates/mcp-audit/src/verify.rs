//! Checking the chain across every segment and the manifest (the first thing that does not
//! follow is named), and reading the records back.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::files::{self, Entry, Layout, io_error};
use crate::log::Head;
use crate::record::{AuditRecord, Bad, Checked, GENESIS, check_line};
use crate::{Error, Result};

/// How much of a file is read at a time.
const READ_BUFFER: usize = 1 << 20;

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file it is in (a segment, the manifest or the live file), by name.
    pub file: String,
    /// 1-based line number in that file; 0 when it concerns the whole file.
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
    /// Sealed segments checked before the live file.
    pub segments: usize,
    /// The hash of the last good record.
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<Problem>,
    /// Bytes of an unterminated last line: a write cut short by a crash, never acknowledged. It
    /// is not tampering; reopening the log removes it and records that it did.
    pub torn_tail: Option<usize>,
    /// Why records cut from the end of the log could not be looked for, when they could not:
    /// the head file (`<log>.head`, how far the chain got) is absent or empty. The chain itself
    /// verified, but a log missing its last records would verify just the same. `None` when the
    /// end was checked against the head file.
    pub end_unchecked: Option<String>,
}

impl VerifyReport {
    /// True when the whole log verified.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Bytes read between two calls of a progress callback.
const PROGRESS_STEP: u64 = 4 << 20;

/// The chain as walked so far.
struct Walk<'a> {
    next_seq: u64,
    prev: String,
    segments: usize,
    torn_tail: Option<usize>,
    /// Complete lines of the file walked last.
    lines: usize,
    /// Bytes of the log read so far, told to `progress` every [`PROGRESS_STEP`].
    read: u64,
    reported: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl Walk<'_> {
    fn records(&self) -> u64 {
        self.next_seq - 1
    }

    fn report(&self, problem: Option<Problem>) -> VerifyReport {
        VerifyReport {
            records: self.records(),
            segments: self.segments,
            last_hash: self.prev.clone(),
            problem,
            torn_tail: self.torn_tail,
            end_unchecked: None,
        }
    }

    /// Checks that the records of `path` continue the chain. Only the live file may end torn.
    ///
    /// The file is read a block at a time; each block's complete lines are checked against their
    /// own hashes on every core at once (the bulk of the work), then walked in order for the chain.
    fn file(&mut self, path: &Path, live: bool) -> Result<Option<Problem>> {
        let mut file = files::open_read(path)?;
        let io = io_error(path);
        let problem =
            |line: usize, seq: Option<u64>, reason: String| Ok(Some(Problem { file: name(path), line, seq, reason }));
        let mut block = Vec::with_capacity(READ_BUFFER);
        let mut number = 0;
        self.lines = 0;
        loop {
            let ended = fill(&mut file, &mut block, READ_BUFFER).map_err(&io)?;
            let complete = memchr::memrchr(b'\n', &block).map_or(0, |at| at + 1);
            let mut lines = Vec::new();
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', &block[..complete]) {
                lines.push(&block[start..=end]);
                start = end + 1;
            }
            for (raw, checked) in lines.iter().zip(check_lines(&lines)) {
                number += 1;
                self.read += raw.len() as u64;
                if self.read - self.reported >= PROGRESS_STEP {
                    self.reported = self.read;
                    (self.progress)(self.read);
                }
                let record = match checked {
                    Ok(record) => record,
                    Err(Bad::Invalid(e)) => return problem(number, None, format!("not a valid record ({e})")),
                    Err(Bad::Edited(seq)) => {
                        let reason = "its hash does not match its content: the record was edited";
                        return problem(number, Some(seq), reason.into());
                    }
                };
                let last = self.records();
                if record.seq > self.next_seq {
                    let reason =
                        format!("sequence jumps from {last} to {}: records were deleted or reordered", record.seq);
                    return problem(number, Some(record.seq), reason);
                }
                if record.seq < self.next_seq {
                    let reason =
                        format!("sequence goes back from {last} to {}: records were inserted or reordered", record.seq);
                    return problem(number, Some(record.seq), reason);
                }
                if record.prev != self.prev {
                    let reason =
                        "it does not link to the record before it: a record was replaced, inserted or reordered";
                    return problem(number, Some(record.seq), reason.into());
                }
                self.prev.clear();
                self.prev.push_str(&record.hash);
                self.next_seq += 1;
                self.lines = number;
            }
            block.drain(..complete);
            if ended {
                if block.is_empty() {
                    return Ok(None);
                }
                self.read += block.len() as u64;
                if live {
                    self.torn_tail = Some(block.len());
                    return Ok(None);
                }
                let reason = "a sealed segment ends in a partial line: it was cut or edited";
                return problem(number + 1, None, reason.into());
            }
        }
    }

    /// Checks a sealed segment against its manifest entry.
    fn segment(&mut self, layout: &Layout, entry: &Entry) -> Result<Option<Problem>> {
        let path = layout.dir().join(&entry.file);
        let whole = |reason: String| Ok(Some(Problem { file: entry.file.clone(), line: 0, seq: None, reason }));
        if !path.exists() {
            return whole(format!(
                "the segment holding records {} to {} is missing: it was removed or renamed",
                entry.first_seq, entry.last_seq
            ));
        }
        if let Some(problem) = self.file(&path, false)? {
            return Ok(Some(problem));
        }
        self.segments += 1;
        if self.records() != entry.last_seq || self.prev != entry.last_hash {
            return whole(format!(
                "the segment ends at record {} but the manifest sealed it at record {} with another hash: it was cut, extended or replaced",
                self.records(),
                entry.last_seq
            ));
        }
        Ok(None)
    }
}

/// Appends to `block` from `file`, `want` bytes at a time, until what was appended holds a
/// newline or the file ends; true when it ended.
fn fill(file: &mut File, block: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    use std::io::Read as _;
    loop {
        let at = block.len();
        // `read_to_end` of at most `want` bytes: short only at the end of the file.
        if file.by_ref().take(want as u64).read_to_end(block)? < want {
            return Ok(true);
        }
        // Only the bytes just read are searched, so a line of many blocks is scanned once.
        if memchr::memchr(b'\n', &block[at..]).is_some() {
            return Ok(false);
        }
    }
}

/// Below this many lines a block is checked on the calling thread alone.
const PARALLEL_LINES: usize = 512;

/// Checks each line (with its newline) against its own hash, on every core when there are many.
fn check_lines<'a>(lines: &[&'a [u8]]) -> Vec<std::result::Result<Checked<'a>, Bad>> {
    let check = |lines: &[&'a [u8]]| lines.iter().map(|raw| check_line(&raw[..raw.len() - 1])).collect::<Vec<_>>();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(8);
    if threads == 1 || lines.len() < PARALLEL_LINES {
        return check(lines);
    }
    let per = lines.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = lines.chunks(per);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts.map(|part| scope.spawn(move || check(part))).collect();
        let mut checked = check(first);
        for other in others {
            match other.join() {
                Ok(part) => checked.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        checked
    })
}

/// Checks every entry of the manifest: each sealed by its hash, linked to the one before,
/// numbered in order and continuing the sequence.
fn check_manifest(layout: &Layout) -> Result<std::result::Result<Vec<Entry>, Problem>> {
    let file = name(&layout.manifest());
    let mut entries: Vec<Entry> = Vec::new();
    for (line, entry) in files::read_manifest(layout)? {
        let problem = |seq: Option<u64>, reason: String| Ok(Err(Problem { file: file.clone(), line, seq, reason }));
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return problem(None, format!("not a valid manifest entry ({e})")),
        };
        let before = entries.last();
        let expected = Entry::seal(layout, before, entry.last_seq, entry.last_hash.clone());
        if entry.hash != entry.compute_hash() {
            return problem(Some(entry.first_seq), "its hash does not match its content: the entry was edited".into());
        }
        if entry.prev != before.map_or(GENESIS, |e| e.hash.as_str()) {
            let reason = "it does not link to the entry before it: entries were removed, inserted or reordered";
            return problem(Some(entry.first_seq), reason.into());
        }
        if (entry.number, &entry.file, entry.first_seq) != (expected.number, &expected.file, expected.first_seq)
            || entry.last_seq < entry.first_seq
        {
            return problem(
                Some(entry.first_seq),
                format!(
                    "it lists segment {} `{}` with records {} to {}, but segment {} `{}` starting at record {} comes next",
                    entry.number,
                    entry.file,
                    entry.first_seq,
                    entry.last_seq,
                    expected.number,
                    expected.file,
                    expected.first_seq
                ),
            );
        }
        entries.push(entry);
    }
    Ok(Ok(entries))
}

/// Checks every record of the log whose live file is `path`: the manifest, each sealed segment
/// in order (continuing the chain across their boundaries and ending where the manifest sealed
/// it), then the live file. A log of one file with no manifest is checked the same way.
///
/// Last, the log's length is checked against its head file (`<log>.head`, read before the
/// records), which the writer rewrites in place after the records it names are written (so it may
/// lag the log, never lead it): a log that ends before the record the head names lost its end, a
/// problem. A head file that is not what the writer writes (not JSON of a sequence number and a
/// hash, or longer than any) is a problem too, named by its file: it cannot say how far the chain
/// got. A head file that is absent (a copy of the log such as `mcptk audit export --json` writes,
/// a log written before head files existed, a writer that could not create it) or empty (a writer
/// that stopped before first writing it) is not a problem, but then a log cut at its end cannot
/// be told from a whole one, and [`VerifyReport::end_unchecked`] says so. A head file that cannot
/// be read, or is not a regular file, is an error.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    verify_with_progress(path, &mut |_| {})
}

/// The bytes [`verify`] reads for the log whose live file is `path`: its sealed segments and
/// its live file (what a progress bar counts up to).
pub fn log_bytes(path: impl AsRef<Path>) -> Result<u64> {
    let layout = Layout::new(path.as_ref());
    let parts = files::parts(&layout)?;
    Ok(parts.iter().filter_map(|part| std::fs::metadata(&part.path).ok()).map(|m| m.len()).sum())
}

/// [`verify`], telling `progress` the bytes read so far every few MiB (out of [`log_bytes`]).
pub fn verify_with_progress(path: impl AsRef<Path>, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport> {
    let layout = Layout::new(path.as_ref());
    files::check_regular(&layout.live)?;
    // Read before the records: the head names a record written before it, so the walk, started
    // after, reaches that record however many a running writer appends meanwhile.
    let head_path = layout.head();
    let head = read_head(&head_path)?;
    let mut walk = Walk {
        next_seq: 1,
        prev: GENESIS.to_owned(),
        segments: 0,
        torn_tail: None,
        lines: 0,
        read: 0,
        reported: 0,
        progress,
    };
    let entries = match check_manifest(&layout)? {
        Ok(entries) => entries,
        Err(problem) => return Ok(walk.report(Some(problem))),
    };
    for entry in &entries {
        if let Some(problem) = walk.segment(&layout, entry)? {
            return Ok(walk.report(Some(problem)));
        }
    }
    // A segment sealed just before a crash, before the manifest listed it: opening lists it.
    let unlisted = layout.segment(entries.last().map_or(1, |e| e.number + 1));
    let mut next = entries.len() as u64 + 1;
    if unlisted.exists() {
        if let Some(problem) = walk.file(&unlisted, false)? {
            return Ok(walk.report(Some(problem)));
        }
        walk.segments += 1;
        next += 1;
    }
    let stray = layout.segment(next);
    if stray.exists() {
        let reason = "a segment file that the manifest does not list: segments were removed or added".into();
        return Ok(walk.report(Some(Problem { file: name(&stray), line: 0, seq: None, reason })));
    }
    // The live file (absent only between sealing a segment and starting the next file).
    if (layout.live.exists() || walk.segments == 0)
        && let Some(problem) = walk.file(&layout.live, true)?
    {
        return Ok(walk.report(Some(problem)));
    }
    // The head file records how far the chain got; a log shorter than that lost its end.
    let records = walk.records();
    match head {
        HeadFile::Valid(head) if head.seq > records => {
            let reason = format!(
                "the log ends at record {records} but had reached record {}: records were cut from the end",
                head.seq
            );
            let line = walk.lines + 1;
            let problem = Problem { file: name(&layout.live), line, seq: Some(records + 1), reason };
            Ok(walk.report(Some(problem)))
        }
        HeadFile::Valid(_) => Ok(walk.report(None)),
        HeadFile::Garbled(what) => {
            let reason = format!(
                "the head file is garbled ({what}): it records how far the chain got, so records cut from the end \
                 of the log cannot be ruled out; the log's writer rewrites it when it next writes"
            );
            Ok(walk.report(Some(Problem { file: name(&head_path), line: 0, seq: None, reason })))
        }
        HeadFile::Missing(why) => {
            let mut report = walk.report(None);
            report.end_unchecked = Some(format!(
                "the head file `{}` {why}, so records cut from the end of the log cannot be detected",
                name(&head_path)
            ));
            Ok(report)
        }
    }
}

/// The last record of the log whose live file is `path` (its sequence number and hash), reading
/// only the ends of its files: `(0, GENESIS)` for an empty or absent log.
#[cfg(feature = "sql")]
pub(crate) fn head(path: &Path) -> Result<(u64, String)> {
    let layout = Layout::new(path);
    if layout.live.exists() {
        let file = files::open_read(&layout.live)?;
        let len = file.metadata().map_err(io_error(&layout.live))?.len();
        if let Ok(Ok(files::Tail { value: Some(last), .. })) = files::last_valid::<AuditRecord>(&file, len) {
            return Ok((last.seq, last.hash));
        }
    }
    let sealed = files::read_manifest(&layout)?.into_iter().rev().find_map(|(_, entry)| entry.ok());
    Ok(sealed.map_or_else(|| (0, GENESIS.to_owned()), |e| (e.last_seq, e.last_hash)))
}

/// What the head file says.
enum HeadFile {
    /// How far the chain got.
    Valid(Head),
    /// Not there, or empty: why, in words.
    Missing(&'static str),
    /// Not what the writer writes: what is wrong, in words.
    Garbled(String),
}

/// More than a head file ever holds (the writer pads its text to 128 bytes).
const HEAD_MAX: u64 = 4096;

/// Reads the head file (a few dozen bytes; no more than [`HEAD_MAX`] are read). Failing to read
/// one that is there is an error; so is one that is not a regular file.
fn read_head(path: &Path) -> Result<HeadFile> {
    // The writer rewrites it in place: one read may meet a rewrite under way.
    match read_head_once(path)? {
        HeadFile::Garbled(_) => read_head_once(path),
        other => Ok(other),
    }
}

fn read_head_once(path: &Path) -> Result<HeadFile> {
    use std::io::Read as _;
    let file = match files::open_read(path) {
        Ok(file) => file,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HeadFile::Missing("is absent"));
        }
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(HEAD_MAX + 1).read_to_end(&mut bytes).map_err(io_error(path))?;
    if bytes.is_empty() {
        return Ok(HeadFile::Missing("is empty (its writer has not written it yet, or stopped before it did)"));
    }
    if bytes.len() as u64 > HEAD_MAX {
        return Ok(HeadFile::Garbled(format!("longer than {HEAD_MAX} bytes")));
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(HeadFile::Garbled("not UTF-8 text".into()));
    };
    // The writer pads the JSON with spaces and ends it with a newline.
    match serde_json::from_str::<Head>(text.trim_end_matches([' ', '\n'])) {
        Ok(head) => Ok(HeadFile::Valid(head)),
        Err(e) => Ok(HeadFile::Garbled(format!("not a sequence number and a hash: {e}"))),
    }
}

/// Every record of a log in order, across its segments; the first line that is not a record is
/// an error ([`Error::BadLine`]). See [`records`] to stream them instead.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<AuditRecord>> {
    records(path)?.collect()
}

/// The records of the log whose live file is `path`, streamed in order across its segments (for
/// `tail` and `export`). A line that is not a record is never skipped in silence: it comes as an
/// [`Error::BadLine`] naming its file and line, and the records after it follow. The only line
/// passed over is an unterminated last line of the live file: a write cut short by a crash (never
/// acknowledged, see [`VerifyReport::torn_tail`]) or still under way. The records' hashes and
/// links are not checked here: [`verify`] does that.
pub fn records(path: impl AsRef<Path>) -> Result<Records> {
    records_from(path.as_ref(), 0)
}

/// The records from sequence number `from` on (and possibly some before): sealed segments that
/// end before it are not read.
pub(crate) fn records_from(path: &Path, from: u64) -> Result<Records> {
    let layout = Layout::new(path);
    files::check_regular(&layout.live)?;
    if !layout.exists() {
        // As for any file that is not there.
        files::open_read(&layout.live)?;
    }
    let files = files::parts(&layout)?
        .into_iter()
        .filter(|part| part.entry.as_ref().is_none_or(|e| e.last_seq >= from))
        .map(|part| part.path)
        .collect();
    Ok(Records { files, live: layout.live, current: None, number: 0, line: Vec::new() })
}

/// An iterator over a log's records: see [`records`].
#[derive(Debug)]
pub struct Records {
    files: VecDeque<PathBuf>,
    /// The live file, the only one that may end in a partial line.
    live: PathBuf,
    current: Option<(PathBuf, BufReader<File>)>,
    /// The 1-based number of the line last read in the current file.
    number: usize,
    line: Vec<u8>,
}

impl Records {
    /// The line of the record last returned, byte for byte as written (with its newline): what
    /// its hash covers, so a copy of these lines verifies as the log does. After an
    /// [`Error::BadLine`], the bad line's bytes.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    fn bad_line(&self, path: &Path, reason: String) -> Error {
        Error::BadLine { path: path.display().to_string(), line: self.number, reason }
    }
}

impl Iterator for Records {
    type Item = Result<AuditRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (path, reader) = match &mut self.current {
                Some(current) => current,
                None => {
                    let path = self.files.pop_front()?;
                    let file = match files::open_read(&path) {
                        Ok(file) => file,
                        // Sealed away between listing and reading: the segment holds it now.
                        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Some(Err(e)),
                    };
                    self.number = 0;
                    self.current.insert((path, BufReader::new(file)))
                }
            };
            self.line.clear();
            match reader.read_until(b'\n', &mut self.line) {
                Ok(0) => self.current = None,
                Ok(_) if self.line.last() != Some(&b'\n') => {
                    let path = path.clone();
                    self.current = None;
                    self.number += 1;
                    if path != self.live {
                        let reason = "a sealed segment ends in a partial line: it was cut or edited".into();
                        return Some(Err(self.bad_line(&path, reason)));
                    }
                }
                Ok(_) => {
                    self.number += 1;
                    return Some(match serde_json::from_slice(&self.line) {
                        Ok(record) => Ok(record),
                        Err(e) => {
                            let path = path.clone();
                            Err(self.bad_line(&path, format!("not a valid record ({e})")))
                        }
                    });
                }
                Err(e) => return Some(Err(io_error(path)(e))),
            }
        }
    }
}
