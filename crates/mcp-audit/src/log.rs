//! The append-only log and its writer thread (group commit with fsync), sealing the live file
//! into numbered segments as it grows.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::files::{self, Entry, Identity, Layout, io_error};
use crate::mirror::Mirror;
use crate::record::{AuditRecord, GENESIS, NewRecord, now};
use crate::{Error, Result};

/// Settings of the log.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Make each batch durable with `fsync` before acknowledging it (default true).
    pub fsync: bool,
    /// The most records written in one batch (default 1024).
    pub max_batch: usize,
    /// Once the live file reaches this size it is sealed into a numbered segment and a new live
    /// file begins (default 64 MiB).
    pub segment_bytes: u64,
    /// Receives every batch once it is durable (the SQL sink's queue; see [`Mirror`]).
    pub mirror: Option<Mirror>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { fsync: true, max_batch: 1024, segment_bytes: 64 << 20, mirror: None }
    }
}

struct Pending {
    body: NewRecord,
    ack: oneshot::Sender<Result<u64, String>>,
}

/// What the writer and every handle share.
struct Shared {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// Why the log stopped taking records: once set, it stays set until the log is reopened,
    /// since the chain on disk is then uncertain.
    failure: Option<String>,
    /// The live file the writer has open.
    identity: Identity,
}

impl State {
    /// Marks the log failed, keeping the first reason. The writer notices within
    /// [`FAILURE_NOTICED`], touches no file after that, and ends, letting go of the log's lock.
    fn fail(&mut self, reason: String) -> String {
        self.failure.get_or_insert(reason).clone()
    }
}

/// How soon an idle writer notices that the log failed (found out by a caller's `health`) and
/// ends, so that the log can be reopened.
const FAILURE_NOTICED: std::time::Duration = std::time::Duration::from_millis(200);

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the log failed (keeping the first reason) and returns the reason it stands on.
    fn fail(&self, reason: String) -> String {
        let mut state = self.state();
        if state.failure.is_none() {
            tracing::error!(path = %self.path.display(), "the audit log stopped taking records: {reason}");
        }
        state.fail(reason)
    }

    fn failure(&self) -> Option<String> {
        self.state().failure.clone()
    }

    fn unhealthy(&self, reason: String) -> Error {
        Error::Unhealthy { path: self.path.display().to_string(), reason }
    }
}

/// An open audit log. Cheap to clone; every clone appends to the same chain.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

/// Where the chain stands: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, the live file; sealed segments and the manifest sit
    /// beside it. Only the ends of the files are read, so this takes the same time however long
    /// the log is. A torn last line, left by a crash in the middle of a write that was therefore
    /// never acknowledged, is cut off and the cut recorded; a segment sealed but not yet listed
    /// (a crash in the middle of sealing) is listed. Anything but a regular file is refused.
    pub fn open(path: impl AsRef<Path>, options: AuditOptions) -> Result<AuditLog> {
        let layout = Layout::new(path.as_ref());
        std::fs::create_dir_all(layout.dir()).map_err(io_error(layout.dir()))?;
        let lock = files::lock(&layout)?;
        let opened = Opened::recover(&layout)?;
        tracing::debug!(path = %layout.live.display(), bytes_read = opened.read, seq = opened.head.seq, "opened the audit log");
        let identity = files::identity(&opened.file.metadata().map_err(io_error(&layout.live))?);
        let shared =
            Arc::new(Shared { path: layout.live.clone(), state: Mutex::new(State { failure: None, identity }) });
        let (queue, receiver) = mpsc::channel::<Pending>();
        let torn = opened.torn;
        let writer = Writer {
            layout,
            shared: shared.clone(),
            file: opened.file,
            head: opened.head,
            live_len: opened.live_len,
            sealed: opened.sealed,
            options,
            _lock: lock,
        };
        std::thread::Builder::new()
            .name("mcp-audit-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(io_error(&shared.path))?;
        let log = AuditLog { shared, queue };
        if torn > 0 {
            let body = NewRecord {
                kind: "recovery".into(),
                principal: "mcp-audit".into(),
                outcome: "recovered".into(),
                decision: "allow".into(),
                error: Some(format!("a torn final line of {torn} bytes (never acknowledged) was removed on open")),
                arguments: serde_json::Value::Null,
                arguments_digest: crate::record::arguments_digest(&serde_json::Value::Null),
                ..NewRecord::default()
            };
            log.submit(body)?;
        }
        Ok(log)
    }

    /// The live file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// `Ok` while records can be made durable; otherwise why not ([`Error::Unhealthy`]: a write
    /// or `fsync` failed, the file was removed or replaced, the writer stopped). Once unhealthy,
    /// the log stays so, refusing every record, until it is reopened.
    pub fn health(&self) -> Result<()> {
        let mut state = self.shared.state();
        if let Some(reason) = &state.failure {
            return Err(self.shared.unhealthy(reason.clone()));
        }
        // Noticed here as well as by the writer, so that an idle log reports it too.
        if let Err(reason) = files::still_at(&self.shared.path, state.identity) {
            tracing::error!(path = %self.shared.path.display(), "the audit log stopped taking records: {reason}");
            state.fail(reason.clone());
            return Err(self.shared.unhealthy(reason));
        }
        Ok(())
    }

    /// Queues a record without waiting for it to be durable (for a caller that cannot wait).
    pub(crate) fn submit(&self, body: NewRecord) -> Result<()> {
        self.enqueue(body).map(drop)
    }

    fn enqueue(&self, body: NewRecord) -> Result<oneshot::Receiver<Result<u64, String>>> {
        if let Some(reason) = self.shared.failure() {
            return Err(self.shared.unhealthy(reason));
        }
        let (ack, done) = oneshot::channel();
        self.queue.send(Pending { body, ack }).map_err(|_| self.stopped())?;
        Ok(done)
    }

    fn stopped(&self) -> Error {
        self.shared.unhealthy(self.shared.fail("the writer thread has stopped".into()))
    }

    /// Appends a record and returns its sequence number once it is durable, or an
    /// [`Error::Unhealthy`] that names the log and the cause.
    pub async fn append(&self, body: NewRecord) -> Result<u64> {
        let done = self.enqueue(body)?;
        match done.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(reason)) => Err(self.shared.unhealthy(reason)),
            Err(_) => Err(self.stopped()),
        }
    }
}

/// A log as found on open, with its ends repaired.
pub(crate) struct Opened {
    pub file: File,
    pub head: Head,
    pub live_len: u64,
    /// The bytes of a torn end cut from the live file.
    pub torn: u64,
    /// The manifest's last entry.
    pub sealed: Option<Entry>,
    /// Bytes read to find all this (bounded: the ends of the files, not the log).
    pub read: u64,
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::Corrupt { path: path.display().to_string(), reason }
}

impl Opened {
    pub fn recover(layout: &Layout) -> Result<Opened> {
        let mut read = 0;
        // The manifest: its last entry says where the sealed segments end.
        let manifest = layout.manifest();
        let mut sealed: Option<Entry> = None;
        if manifest.exists() {
            let file = files::open_append(&manifest, false)?;
            let (tail, cut) = tail_of(&file, &manifest)?;
            read += tail.read;
            if cut > 0 {
                file.set_len(tail.valid_len).and_then(|()| file.sync_all()).map_err(io_error(&manifest))?;
                tracing::warn!(path = %manifest.display(), bytes = cut, "cut a torn last manifest entry left by a crash");
            }
            sealed = tail.value;
        }
        // A segment sealed (renamed) but not listed: a crash in between. List it now.
        let next = layout.segment(sealed.as_ref().map_or(1, |e| e.number + 1));
        if next.exists() {
            let file = files::open_read(&next)?;
            let len = file.metadata().map_err(io_error(&next))?.len();
            let (tail, cut) = tail_of::<AuditRecord>(&file, &next)?;
            read += tail.read;
            let Some(last) = tail.value.filter(|_| cut == 0) else {
                return Err(corrupt(&next, format!("a sealed segment must end in a whole record ({len} bytes)")));
            };
            let entry = Entry::seal(layout, sealed.as_ref(), last.seq, last.hash);
            files::append_entry(layout, &entry).map_err(io_error(&manifest))?;
            tracing::warn!(path = %next.display(), "listed a segment sealed just before a crash");
            sealed = Some(entry);
        }
        let stray = layout.segment(sealed.as_ref().map_or(1, |e| e.number + 1));
        if stray.exists() {
            return Err(corrupt(
                &stray,
                "a segment file that the manifest does not list; run `mcptk audit verify`".into(),
            ));
        }

        // The live file: its last record is the head of the chain.
        let live = &layout.live;
        let file = files::open_append(live, true)?;
        files::sync_dir(layout.dir()).map_err(io_error(layout.dir()))?;
        let len = file.metadata().map_err(io_error(live))?.len();
        let (tail, torn) = tail_of::<AuditRecord>(&file, live)?;
        read += tail.read;
        if torn > 0 {
            // Cut the torn tail so the next record starts on a fresh line.
            file.set_len(tail.valid_len).and_then(|()| file.sync_all()).map_err(io_error(live))?;
            tracing::warn!(path = %live.display(), bytes = torn, "cut a torn last audit record left by a crash");
        }
        let head = match (tail.value, &sealed) {
            (Some(last), Some(entry)) if last.seq <= entry.last_seq => {
                return Err(corrupt(
                    live,
                    format!(
                        "it ends at record {} but the sealed segments already reach record {}; run `mcptk audit verify`",
                        last.seq, entry.last_seq
                    ),
                ));
            }
            (Some(last), _) => Head { seq: last.seq, hash: last.hash },
            (None, Some(entry)) => Head { seq: entry.last_seq, hash: entry.last_hash.clone() },
            (None, None) => Head { seq: 0, hash: GENESIS.to_owned() },
        };
        Ok(Opened { file, head, live_len: len - torn, torn, sealed, read })
    }
}

/// The last value of a file and how many bytes after it are torn.
fn tail_of<T: serde::de::DeserializeOwned>(file: &File, path: &Path) -> Result<(files::Tail<T>, u64)> {
    let len = file.metadata().map_err(io_error(path))?.len();
    match files::last_valid::<T>(file, len).map_err(io_error(path))? {
        Ok(tail) => {
            let torn = len - tail.valid_len;
            Ok((tail, torn))
        }
        Err(at) => Err(corrupt(
            path,
            format!(
                "its last two lines (from byte {at}) are not valid, which a crash does not leave; run `mcptk audit verify`"
            ),
        )),
    }
}

struct Writer {
    layout: Layout,
    shared: Arc<Shared>,
    file: File,
    head: Head,
    live_len: u64,
    /// The last sealed segment's manifest entry.
    sealed: Option<Entry>,
    options: AuditOptions,
    /// The log's lock (one writer per log), held until this writer ends: it touches the files
    /// until then, so no other writer may.
    _lock: File,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // However the thread ends (every handle gone, or a panic), nothing more is taken.
        if self.shared.failure().is_none() {
            self.shared.fail("the writer thread has stopped".into());
        }
    }
}

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Pending>) {
        // Each turn takes everything queued so far: one write and one fsync for the whole batch.
        // A failed log writes nothing more: the writer ends, refusing what is queued.
        loop {
            let first = match receiver.recv_timeout(FAILURE_NOTICED) {
                Ok(first) => first,
                Err(mpsc::RecvTimeoutError::Timeout) => match self.shared.failure() {
                    Some(reason) => return self.stop(reason, Vec::new(), &receiver),
                    None => continue,
                },
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < self.options.max_batch {
                match receiver.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            // A full live file is sealed before the next batch is written into it, so that
            // nothing changes on disk between an acknowledgement and the next append.
            if let Some(reason) = self.shared.failure() {
                return self.stop(reason, batch, &receiver);
            }
            if self.live_len >= self.options.segment_bytes.max(1)
                && let Err(e) = self.seal()
            {
                self.stop(format!("sealing a full segment failed: {e}"), batch, &receiver);
                return;
            }
            match self.commit(&batch) {
                Ok(first_seq) => {
                    for (i, pending) in batch.into_iter().enumerate() {
                        let _ = pending.ack.send(Ok(first_seq + i as u64));
                    }
                }
                Err(reason) => {
                    self.stop(reason, batch, &receiver);
                    return;
                }
            }
        }
    }

    /// Refuses `batch` and everything still queued: the chain cannot continue past a failure.
    fn stop(&self, reason: String, batch: Vec<Pending>, receiver: &mpsc::Receiver<Pending>) {
        let reason = self.shared.fail(reason);
        for pending in batch.into_iter().chain(receiver.try_iter()) {
            let _ = pending.ack.send(Err(reason.clone()));
        }
    }

    fn commit(&mut self, batch: &[Pending]) -> Result<u64, String> {
        if let Some(reason) = self.shared.failure() {
            return Err(reason);
        }
        let first_seq = self.head.seq + 1;
        let mut text = Vec::with_capacity(batch.len() * 512);
        let mut head = self.head.clone();
        let mut sealed = Vec::with_capacity(batch.len());
        for pending in batch {
            let record = AuditRecord::seal(head.seq + 1, now(), pending.body.clone(), head.hash.clone());
            serde_json::to_writer(&mut text, &record).map_err(|e| format!("a record could not be encoded: {e}"))?;
            text.push(b'\n');
            head = Head { seq: record.seq, hash: record.hash.clone() };
            sealed.push(record);
        }
        self.file.write_all(&text).map_err(|e| format!("writing failed: {e}"))?;
        if self.options.fsync {
            self.file.sync_data().map_err(|e| format!("fsync failed: {e}"))?;
        }
        // Durable only if the path still leads to this file.
        let open = self.file.metadata().map_err(|e| format!("the open file cannot be examined: {e}"))?;
        if std::os::unix::fs::MetadataExt::nlink(&open) == 0 {
            return Err("the file was removed while open".into());
        }
        files::still_at(&self.layout.live, files::identity(&open))?;
        self.head = head;
        self.live_len += text.len() as u64;
        if let Some(mirror) = &self.options.mirror {
            mirror.send(sealed);
        }
        // The head file lets `verify` notice records cut from the end; it is advisory, so it is
        // replaced atomically but not fsynced (after a crash it may lag, never lead).
        let head_file = self.layout.head();
        let temp = head_file.with_extension("head.tmp");
        if std::fs::write(&temp, serde_json::to_vec(&self.head).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&temp, &head_file);
        }
        Ok(first_seq)
    }

    /// Seals the live file into the next numbered segment, lists it in the manifest and starts a
    /// new live file. Each step is made durable before the next, so a crash anywhere leaves a
    /// state that verifies and that opening completes: a renamed but unlisted segment is listed
    /// then, and a missing live file is created.
    fn seal(&mut self) -> std::io::Result<()> {
        let entry = Entry::seal(&self.layout, self.sealed.as_ref(), self.head.seq, self.head.hash.clone());
        let segment = self.layout.segment(entry.number);
        if segment.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("`{}` already exists", segment.display()),
            ));
        }
        self.file.sync_all()?;
        // Held throughout, so that `health` never sees the path between two files.
        let mut state = self.shared.state();
        std::fs::rename(&self.layout.live, &segment)?;
        files::sync_dir(self.layout.dir())?;
        files::append_entry(&self.layout, &entry)?;
        let file = std::fs::OpenOptions::new().read(true).append(true).create_new(true).open(&self.layout.live)?;
        files::sync_dir(self.layout.dir())?;
        state.identity = files::identity(&file.metadata()?);
        drop(state);
        tracing::info!(segment = %segment.display(), last_seq = entry.last_seq, "sealed an audit log segment");
        self.file = file;
        self.live_len = 0;
        self.sealed = Some(entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufWriter;

    use super::*;

    /// The lines of a chain of `records` records, each with the head it leads to.
    fn chain(records: u64) -> Vec<(Vec<u8>, Head)> {
        let mut hash = GENESIS.to_owned();
        (1..=records)
            .map(|seq| {
                let body = NewRecord { kind: "tool_call".into(), trace_id: format!("{seq}"), ..NewRecord::default() };
                let record = AuditRecord::seal(seq, now(), body, hash.clone());
                let mut line = serde_json::to_vec(&record).expect("encodes");
                line.push(b'\n');
                hash = record.hash;
                (line, Head { seq, hash: hash.clone() })
            })
            .collect()
    }

    /// Writes `chain` as the writer would, sealing a segment every `per_segment` records, and
    /// returns the bytes read to open it.
    fn bytes_read_to_open(chain: &[(Vec<u8>, Head)], per_segment: usize) -> u64 {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("audit.jsonl");
        let layout = Layout::new(&path);
        let mut sealed: Option<Entry> = None;
        for part in chain.chunks(per_segment) {
            let mut out = BufWriter::new(File::create(&path).expect("creates"));
            part.iter().for_each(|(line, _)| out.write_all(line).expect("writes"));
            out.flush().expect("flushes");
            let (_, head) = &part[part.len() - 1];
            if part.len() == per_segment {
                let entry = Entry::seal(&layout, sealed.as_ref(), head.seq, head.hash.clone());
                std::fs::rename(&path, layout.segment(entry.number)).expect("renames");
                files::append_entry(&layout, &entry).expect("lists");
                sealed = Some(entry);
            }
        }
        let opened = Opened::recover(&layout).expect("opens");
        assert_eq!(opened.head.seq, chain.len() as u64, "the chain continues from its last record");
        opened.read
    }

    #[test]
    fn opening_reads_the_same_few_bytes_however_long_the_log_is() {
        let records = chain(200_000);
        let small = bytes_read_to_open(&records[..1_000], usize::MAX);
        let large = bytes_read_to_open(&records, usize::MAX);
        assert!(small <= 8192, "{small} bytes read to open a log of 1k records");
        assert_eq!(large, small, "a log of 200k records costs the same to open");
        // Sealed into segments: the ends of the manifest and of the live file.
        let segmented = bytes_read_to_open(&records, 30_000);
        assert!(segmented <= 2 * 8192, "{segmented} bytes read to open a log of six segments and a live file");
    }
}
