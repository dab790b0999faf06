//! The append-only log: records sealed into the chain by their callers, written in batches
//! (group commit: the caller that finds no write in progress writes everything queued, made
//! durable with fsync on, and the others queue behind it and are answered when a write covers
//! their records; on a single-threaded runtime a durable batch goes to the writer thread
//! instead, unless the thread is marked as answering one peer (stdio), the record is the caller's
//! alone, seals no segment and the disk is quick), sealing the live file into numbered segments as it grows.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::files::{self, Entry, Identity, Layout, io_error};
use crate::mirror::Mirror;
#[cfg(test)]
use crate::record::now;
use crate::record::{AuditRecord, Clock, GENESIS, HASH_LEN, Line, NewRecord};
use crate::{Error, Result};

/// Settings of the log.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Make each batch durable before acknowledging it (default true): the live file is written
    /// with `O_DSYNC`, so each batch's write returns once durable, as after an `fsync`.
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

/// What every handle and the writer thread share.
struct Shared {
    path: PathBuf,
    options: AuditOptions,
    /// Records sealed into the chain and not yet written.
    queue: Mutex<Queue>,
    /// Wakes the writer thread (fsync on) when records nobody waits for are queued, the log
    /// fails or closes.
    work: Condvar,
    /// The files; held while writing, so that writes keep the chain's order. Whoever holds it
    /// is the batch's leader.
    files: Mutex<Files>,
    /// The last record acknowledged: made durable (fsync on) or written (fsync off).
    acked: AtomicU64,
    /// The last record queued (as [`Queue::head`], read without the lock).
    queued: AtomicU64,
    /// The records the last batch wrote: their callers are expected to queue their next ones.
    last_batch: AtomicUsize,
    /// The last durable write took [`WRITE_INLINE_UNDER`] or longer: callers on a
    /// single-threaded runtime hand their batches to the writer thread.
    slow_disk: AtomicBool,
    /// Set with [`Queue::failure`], read without the lock.
    failed: AtomicBool,
    /// Wakes those waiting for their records after each batch (once its leader has let go of
    /// the files), and on failure.
    acks: tokio::sync::Notify,
    /// The last record covered by a completed `fsync`, for the tests to hold acknowledgements to.
    #[cfg(test)]
    synced: AtomicU64,
    /// The batches written, for the tests to see records share them.
    #[cfg(test)]
    batches: AtomicU64,
    /// The thread that wrote the last batch, for the tests to see who leads.
    #[cfg(test)]
    written_by: Mutex<Option<std::thread::ThreadId>>,
}

/// Records sealed into the chain, in order, waiting to be written.
struct Queue {
    /// Why the log stopped taking records: once set, it stays set until the log is reopened,
    /// since the chain on disk is then uncertain.
    failure: Option<String>,
    /// The last record queued: the chain continues from it.
    head: Head,
    clock: Clock,
    /// The queued lines, and where each ends.
    lines: Vec<u8>,
    ends: Vec<usize>,
    /// The queued records themselves, for the mirror (only when there is one).
    records: Vec<AuditRecord>,
    /// The live file, as `health` checks the path against it (changed only when sealing).
    identity: Identity,
    /// Queued records may have no caller waiting for them (a record submitted without waiting,
    /// a caller that stopped waiting, the log closing): the writer thread writes them.
    unawaited: bool,
    /// Every handle is gone: the writer thread writes what is queued and ends.
    closed: bool,
}

/// The open files of a log, until it fails.
struct Files {
    open: Option<Open>,
}

struct Open {
    layout: Layout,
    file: File,
    /// The advisory head file, rewritten in place (see [`Open::write_head`]).
    head_file: Option<File>,
    /// When it was last written, and the record it names.
    head_at: Instant,
    head_seq: Option<u64>,
    /// The live file's identity.
    identity: Identity,
    live_len: u64,
    /// The last record written.
    written: Head,
    /// The last sealed segment's manifest entry.
    sealed: Option<Entry>,
    /// The batch being written (its allocation reused).
    batch: Vec<u8>,
    /// The log's lock (one writer per log), held while the files are open.
    _lock: File,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn files(&self) -> MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the log failed (keeping the first reason), closes its files (letting go of its lock,
    /// touching them no more) and returns the reason it stands on.
    fn fail(&self, reason: String) -> String {
        let mut files = self.files();
        files.open = None;
        self.failed_with(reason)
    }

    /// [`fail`](Self::fail) with the files already closed (or being closed by the caller).
    fn failed_with(&self, reason: String) -> String {
        let mut queue = self.queue();
        if queue.failure.is_none() {
            tracing::error!(path = %self.path.display(), "the audit log stopped taking records: {reason}");
        }
        let reason = queue.failure.get_or_insert(reason).clone();
        self.failed.store(true, Ordering::Release);
        drop(queue);
        self.work.notify_all();
        self.acks.notify_waiters();
        reason
    }

    fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.queue().failure.clone()
    }

    fn unhealthy(&self, reason: String) -> Error {
        Error::Unhealthy { path: self.path.display().to_string(), reason }
    }

    /// Leads one batch: writes what is queued (at most `max_batch` records) with the files held,
    /// made durable when `fsync` is on, moves the watermark of acknowledged records past it, lets
    /// go of the files and only then wakes those waiting, so that one of them not yet covered
    /// finds the files free and leads the next batch.
    fn lead(&self, mut files: MutexGuard<'_, Files>) -> Result<(), String> {
        // However the batch ends (a panic included), its callers learn it: a batch that panicked
        // after taking records from the queue fails the log, so none is acknowledged unwritten.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.flush(&mut files)));
        drop(files);
        let result =
            result.unwrap_or_else(|_| Err(self.fail("writing a batch failed unexpectedly (it panicked)".into())));
        self.acks.notify_waiters();
        result
    }

    /// A caller's batch, from async code: written here (true), or handed to the writer thread
    /// (false). With fsync off, and with no runtime, it is written here. On a multi-thread
    /// runtime, too: the other workers go on while this one waits for the sync. On a
    /// single-threaded runtime the write blocks everything the runtime runs, so it is written
    /// here only when the thread is marked as answering one peer (stdio's, see
    /// [`mcp_core::transport::thread_serves_one_peer`]), no other record is queued, the batch
    /// seals no segment and the last durable write took under [`WRITE_INLINE_UNDER`]: this
    /// saves the hand-off's two cross-thread wake-ups, and that peer's other requests wait for
    /// the one write. Otherwise the writer thread writes it: the other connections of an HTTP
    /// serving thread, and the work of calls still in flight, go on meanwhile.
    fn lead_from_runtime(&self, files: MutexGuard<'_, Files>) -> bool {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if !self.options.fsync {
            drop(self.lead(files));
            return true;
        }
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::CurrentThread) if !self.writes_alone(&files) => {
                drop(files);
                self.queue().unawaited = true;
                self.work.notify_one();
                false
            }
            // A lone record on a runtime answering one peer.
            Ok(RuntimeFlavor::CurrentThread) => {
                drop(self.lead(files));
                true
            }
            Ok(_) => {
                tokio::task::block_in_place(|| drop(self.lead(files)));
                true
            }
            Err(_) => {
                drop(self.lead(files));
                true
            }
        }
    }

    /// Records queued and not yet acknowledged.
    fn outstanding(&self) -> u64 {
        self.queued.load(Ordering::Acquire).saturating_sub(self.acked.load(Ordering::Acquire))
    }

    /// Whether a caller on a single-threaded runtime, holding `files`, may write its durable
    /// batch itself (see [`lead_from_runtime`](Self::lead_from_runtime)). Records queued from
    /// other threads after this look are written with it.
    fn writes_alone(&self, files: &Files) -> bool {
        let queued = self.outstanding();
        let seals = files.open.as_ref().is_some_and(|open| open.live_len >= self.options.segment_bytes.max(1));
        queued <= 1
            && !seals
            && !self.slow_disk.load(Ordering::Relaxed)
            && mcp_core::transport::thread_serves_one_peer()
    }

    /// Whether a caller about to lead a durable write, gathering since `since`, should give the
    /// callers of the last batch a moment more to queue their next records, so that one write
    /// covers them all (a caller on its own never waits).
    fn gathers(&self, since: Instant) -> bool {
        let queued = self.outstanding();
        self.options.fsync && queued < self.last_batch.load(Ordering::Relaxed) as u64 && since.elapsed() < GATHER
    }

    /// The files, if no other batch is being written (or the log has failed).
    fn try_files(&self) -> Option<MutexGuard<'_, Files>> {
        match self.files.try_lock() {
            Ok(files) => Some(files),
            Err(TryLockError::Poisoned(files)) => Some(files.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// The batch itself, for [`lead`](Self::lead).
    fn flush(&self, files: &mut Files) -> Result<(), String> {
        let Some(open) = files.open.as_mut() else {
            return Err(self.failure().unwrap_or_else(|| "the log is closed".into()));
        };
        let mut records = Vec::new();
        let last = {
            let mut queue = self.queue();
            if let Some(reason) = &queue.failure {
                return Err(reason.clone());
            }
            if queue.ends.is_empty() {
                return Ok(());
            }
            let count = queue.ends.len().min(self.options.max_batch.max(1));
            self.last_batch.store(count, Ordering::Relaxed);
            let end = queue.ends[count - 1];
            open.batch.clear();
            if count == queue.ends.len() {
                std::mem::swap(&mut open.batch, &mut queue.lines);
                queue.ends.clear();
                // Nothing is left for the writer thread.
                queue.unawaited = false;
            } else {
                open.batch.extend_from_slice(&queue.lines[..end]);
                queue.lines.drain(..end);
                queue.ends.drain(..count);
                queue.ends.iter_mut().for_each(|e| *e -= end);
            }
            if self.options.mirror.is_some() {
                records = queue.records.drain(..count).collect();
            }
            queue.head.seq - queue.ends.len() as u64
        };
        let started = Instant::now();
        let result = open.write(self, last);
        if self.options.fsync {
            self.slow_disk.store(started.elapsed() >= WRITE_INLINE_UNDER, Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                if let Some(mirror) = &self.options.mirror {
                    // The bytes just written go along as they are (the batch buffer is handed
                    // over, not copied or re-encoded).
                    mirror.send(records, std::mem::take(&mut open.batch));
                }
                if self.options.fsync || open.head_at.elapsed() >= HEAD_EVERY {
                    open.write_head();
                }
                self.acked.store(last, Ordering::Release);
                Ok(())
            }
            Err(reason) => {
                files.open = None;
                Err(self.failed_with(reason))
            }
        }
    }
}

impl Open {
    /// Writes the batch that ends with record `last`, sealing a full live file first.
    fn write(&mut self, shared: &Shared, last: u64) -> Result<(), String> {
        // A full live file is sealed before the next batch is written into it, so that nothing
        // changes on disk between an acknowledgement and the next append.
        if self.live_len >= shared.options.segment_bytes.max(1) {
            self.seal(shared).map_err(|e| format!("sealing a full segment failed: {e}"))?;
        }
        // With fsync on, the live file is open with `O_DSYNC`: the write returns once the batch
        // is durable, as after `fdatasync`, in one call.
        self.file.write_all(&self.batch).map_err(|e| format!("writing failed: {e}"))?;
        #[cfg(test)]
        {
            if shared.options.fsync {
                shared.synced.store(last, Ordering::SeqCst);
            }
            shared.batches.fetch_add(1, Ordering::SeqCst);
            *shared.written_by.lock().expect("not poisoned") = Some(std::thread::current().id());
        }
        // Durable only if the path still leads to this file (held open, so its inode is not
        // reused: the path naming the same device and inode is the same file).
        files::still_at(&self.layout.live, self.identity)?;
        self.live_len += self.batch.len() as u64;
        // The batch ends with the last record's `"hash":"sha256:<64 hex>"}` and a newline.
        let tail = self.batch.len().saturating_sub(3 + HASH_LEN);
        let hash = std::str::from_utf8(&self.batch[tail..self.batch.len() - 3]).unwrap_or_default();
        self.written.seq = last;
        self.written.hash.clear();
        self.written.hash.push_str(hash);
        Ok(())
    }

    /// The head file lets `verify` notice records cut from the end. It is advisory: rewritten in
    /// place (padded to one size, so nothing of an older head is left) but not fsynced, after
    /// the records it names are written (with fsync on, made durable), so it may lag, never lead.
    fn write_head(&mut self) {
        self.head_at = Instant::now();
        let Some(file) = &self.head_file else { return };
        if self.head_seq == Some(self.written.seq) {
            return;
        }
        self.head_seq = Some(self.written.seq);
        let mut text = serde_json::to_vec(&self.written).unwrap_or_default();
        text.resize(HEAD_BYTES.max(text.len() + 1), b' ');
        *text.last_mut().unwrap_or(&mut 0) = b'\n';
        let _ = std::os::unix::fs::FileExt::write_all_at(file, &text, 0);
    }

    /// Seals the live file into the next numbered segment, lists it in the manifest and starts a
    /// new live file. Each step is made durable before the next, so a crash anywhere leaves a
    /// state that verifies and that opening completes: a renamed but unlisted segment is listed
    /// then, and a missing live file is created.
    fn seal(&mut self, shared: &Shared) -> std::io::Result<()> {
        let entry = Entry::seal(&self.layout, self.sealed.as_ref(), self.written.seq, self.written.hash.clone());
        let segment = self.layout.segment(entry.number);
        if segment.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("`{}` already exists", segment.display()),
            ));
        }
        self.file.sync_all()?;
        // Held throughout, so that `health` never sees the path between two files.
        let mut queue = shared.queue();
        std::fs::rename(&self.layout.live, &segment)?;
        files::sync_dir(self.layout.dir())?;
        files::append_entry(&self.layout, &entry)?;
        let file = files::append_options(shared.options.fsync).read(true).create_new(true).open(&self.layout.live)?;
        files::sync_dir(self.layout.dir())?;
        self.identity = files::identity(&file.metadata()?);
        queue.identity = self.identity;
        drop(queue);
        tracing::info!(segment = %segment.display(), last_seq = entry.last_seq, "sealed an audit log segment");
        self.file = file;
        self.live_len = 0;
        self.sealed = Some(entry);
        Ok(())
    }
}

/// The size the head file is padded to: more than its longest text.
const HEAD_BYTES: usize = 128;

/// How often the head file is rewritten when fsync is off (and when the log closes); with fsync
/// on, after every batch.
const HEAD_EVERY: Duration = Duration::from_millis(50);

impl Drop for Open {
    fn drop(&mut self) {
        self.write_head();
    }
}

/// An open audit log. Cheap to clone; every clone appends to the same chain.
#[derive(Clone)]
pub struct AuditLog {
    handle: Arc<Handle>,
}

/// Closes the log when the last clone goes: the writer thread writes what is queued and ends, and the
/// files (and the lock) are let go with the last reference to them.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut queue = self.shared.queue();
        queue.closed = true;
        queue.unawaited = true;
        drop(queue);
        self.shared.work.notify_all();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.handle.shared.path).finish_non_exhaustive()
    }
}

/// Where the chain stands: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
}

thread_local! {
    /// The buffer a record is encoded into before it is copied into the queue.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
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
        let opened = Opened::recover(&layout, options.fsync)?;
        tracing::debug!(path = %layout.live.display(), bytes_read = opened.read, seq = opened.head.seq, "opened the audit log");
        let identity = files::identity(&opened.file.metadata().map_err(io_error(&layout.live))?);
        let head_file = match files::open_head(&layout) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!(error = %e, "the audit log's advisory head file cannot be written");
                None
            }
        };
        let fsync = options.fsync;
        let seq = opened.head.seq;
        let shared = Arc::new(Shared {
            path: layout.live.clone(),
            options,
            queue: Mutex::new(Queue {
                failure: None,
                head: opened.head.clone(),
                clock: Clock::default(),
                lines: Vec::new(),
                ends: Vec::new(),
                records: Vec::new(),
                identity,
                unawaited: false,
                closed: false,
            }),
            work: Condvar::new(),
            files: Mutex::new(Files {
                open: Some(Open {
                    layout,
                    file: opened.file,
                    head_file,
                    head_at: Instant::now(),
                    head_seq: None,
                    identity,
                    live_len: opened.live_len,
                    written: opened.head,
                    sealed: opened.sealed,
                    batch: Vec::new(),
                    _lock: lock,
                }),
            }),
            acked: AtomicU64::new(seq),
            queued: AtomicU64::new(seq),
            last_batch: AtomicUsize::new(1),
            slow_disk: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            acks: tokio::sync::Notify::new(),
            #[cfg(test)]
            synced: AtomicU64::new(seq),
            #[cfg(test)]
            batches: AtomicU64::new(0),
            #[cfg(test)]
            written_by: Mutex::new(None),
        });
        if fsync {
            let writer = shared.clone();
            std::thread::Builder::new()
                .name("mcp-audit-writer".into())
                .spawn(move || write_unawaited(&writer))
                .map_err(io_error(&shared.path))?;
        }
        let log = AuditLog { handle: Arc::new(Handle { shared }) };
        if opened.torn > 0 {
            let body = NewRecord {
                kind: "recovery".into(),
                principal: "mcp-audit".into(),
                outcome: "recovered".into(),
                decision: "allow".into(),
                error: Some(format!(
                    "a torn final line of {} bytes (never acknowledged) was removed on open",
                    opened.torn
                )),
                arguments: serde_json::Value::Null,
                arguments_digest: crate::record::arguments_digest(&serde_json::Value::Null),
                ..NewRecord::default()
            };
            log.submit(body)?;
        }
        Ok(log)
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The live file.
    pub fn path(&self) -> &Path {
        &self.shared().path
    }

    /// `Ok` while records can be made durable; otherwise why not ([`Error::Unhealthy`]: a write
    /// or `fsync` failed, the file was removed or replaced, the writer stopped). Once unhealthy,
    /// the log stays so, refusing every record, until it is reopened.
    pub fn health(&self) -> Result<()> {
        let shared = self.shared();
        if let Some(reason) = shared.failure() {
            return Err(shared.unhealthy(reason));
        }
        // Noticed here as well as by the writer, so that an idle log reports it too. The path is
        // looked up without the lock; a mismatch is checked again under it, since sealing a
        // segment changes the file the path names (holding the lock while it does).
        let identity = shared.queue().identity;
        if files::still_at(&shared.path, identity).is_err() {
            let queue = shared.queue();
            if let Err(reason) = files::still_at(&shared.path, queue.identity) {
                drop(queue);
                return Err(shared.unhealthy(shared.fail(reason)));
            }
        }
        Ok(())
    }

    /// Queues a record without waiting for it to be durable (for a caller that cannot wait):
    /// with fsync off it is written here and now, with fsync on by the writer thread.
    pub(crate) fn submit(&self, body: NewRecord) -> Result<()> {
        let shared = self.shared();
        self.enqueue(body, false)?;
        if !shared.options.fsync {
            shared.lead(shared.files()).map_err(|reason| shared.unhealthy(reason))?;
        }
        Ok(())
    }

    /// Seals `body` into the chain and queues its line; returns its sequence number. The line is
    /// encoded and most of it hashed before the lock is taken. A record no caller will wait for
    /// (`awaited` false) is left to the writer thread.
    fn enqueue(&self, body: NewRecord, awaited: bool) -> Result<u64> {
        let shared = self.shared();
        if let Some(reason) = shared.failure() {
            return Err(shared.unhealthy(reason));
        }
        let mut line = Line::encode(&body, SCRATCH.take()).map_err(|reason| shared.unhealthy(reason))?;
        let mut queue = shared.queue();
        if let Some(reason) = &queue.failure {
            return Err(shared.unhealthy(reason.clone()));
        }
        let Queue { head, clock, lines, ends, records, .. } = &mut *queue;
        let seq = head.seq + 1;
        let time = clock.now();
        let at = line.seal(seq, time, &head.hash);
        let hash = std::str::from_utf8(&line.bytes[at]).unwrap_or_default();
        if shared.options.mirror.is_some() {
            let (time, prev, hash) = (time.to_owned(), head.hash.clone(), hash.to_owned());
            records.push(AuditRecord { seq, time, body, prev, hash });
        }
        head.seq = seq;
        shared.queued.store(seq, Ordering::Release);
        head.hash.clear();
        head.hash.push_str(hash);
        lines.extend_from_slice(&line.bytes);
        ends.push(lines.len());
        let wake = !awaited && shared.options.fsync;
        queue.unawaited |= wake;
        drop(queue);
        SCRATCH.set(line.bytes);
        if wake {
            shared.work.notify_one();
        }
        Ok(seq)
    }

    /// Appends a record and returns its sequence number once it is durable (once it is written,
    /// with fsync off), or an [`Error::Unhealthy`] that names the log and the cause.
    ///
    /// Group commit without a thread hand-off: the caller that finds no batch being written
    /// writes everything queued itself (with fsync on, one durable write for all of it); callers
    /// that find one in progress wait for it without blocking their thread, and when it ends
    /// either are covered or one of them leads the next batch.
    pub async fn append(&self, body: NewRecord) -> Result<u64> {
        let seq = self.enqueue(body, true)?;
        let shared = self.shared();
        // A caller that stops waiting leaves its record to the writer thread.
        let _waiting = Waiting { shared, seq };
        let mut gathering = None;
        loop {
            let acked = shared.acks.notified();
            tokio::pin!(acked);
            acked.as_mut().enable();
            if shared.acked.load(Ordering::Acquire) >= seq {
                return Ok(seq);
            }
            if let Some(reason) = shared.failure() {
                return Err(shared.unhealthy(reason));
            }
            // Before leading, the other callers ready to run (in this task too, as futures
            // polled together) get a turn to queue theirs: the write then covers them all.
            let Some(since) = gathering else {
                gathering = Some(Instant::now());
                tokio::task::yield_now().await;
                continue;
            };
            let gathers = match shared.try_files() {
                Some(files) if !shared.gathers(since) => {
                    // Written here: a failure is seen on the next turn, by this caller and
                    // every other. Handed to the writer thread: waited for below.
                    if shared.lead_from_runtime(files) {
                        continue;
                    }
                    false
                }
                files => files.is_some(),
            };
            if gathers {
                tokio::task::yield_now().await;
            } else {
                acked.await;
            }
        }
    }
}

/// A caller of [`AuditLog::append`] waiting for its record `seq`: if it stops waiting before the
/// record is acknowledged, no other caller may come to write it, so it is written now (fsync
/// off: a short write) or handed to the writer thread (fsync on).
struct Waiting<'a> {
    shared: &'a Shared,
    seq: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        if shared.acked.load(Ordering::Acquire) >= self.seq || shared.failed.load(Ordering::Acquire) {
            return;
        }
        if !shared.options.fsync {
            drop(shared.lead(shared.files()));
            return;
        }
        shared.queue().unawaited = true;
        shared.work.notify_one();
    }
}

/// The writer thread (when fsync is on) writes the records no caller waits for: submitted ones,
/// those of callers that stopped waiting, and what is queued when the log closes. Callers that
/// wait write their own batches. It ends when the log fails, or once every handle is gone and
/// the queue is written.
fn write_unawaited(shared: &Shared) {
    // However the thread ends (a panic included), nothing more is taken after it.
    struct Stopped<'a>(&'a Shared);
    impl Drop for Stopped<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.fail("the writer thread has stopped".into());
            }
        }
    }
    let _stopped = Stopped(shared);
    loop {
        let mut queue = shared.queue();
        loop {
            if queue.failure.is_some() {
                return;
            }
            if queue.ends.is_empty() {
                queue.unawaited = false;
                if queue.closed {
                    return;
                }
            }
            if queue.unawaited {
                break;
            }
            queue = shared.work.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
        drop(queue);
        // Waits for a batch in progress, then writes what it left.
        if shared.lead(shared.files()).is_err() {
            return;
        }
    }
}

/// A durable write that takes this long or longer (a slow or busy disk) sends the batches of
/// callers on a single-threaded runtime to the writer thread until one of its writes is quick
/// again: each time the disk turns slow, such a runtime is stalled by one write (itself of any
/// length), not by every call's.
const WRITE_INLINE_UNDER: Duration = Duration::from_millis(2);

/// How long a caller about to lead a durable write waits at most for the callers of the last batch
/// (see [`Shared::gathers`]): a small part of one `fdatasync`.
const GATHER: Duration = Duration::from_micros(100);

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
    /// With `dsync`, the live file is opened so that each write is durable when it returns.
    pub fn recover(layout: &Layout, dsync: bool) -> Result<Opened> {
        let mut read = 0;
        // The manifest: its last entry says where the sealed segments end.
        let manifest = layout.manifest();
        let mut sealed: Option<Entry> = None;
        if manifest.exists() {
            let file = files::open_append(&manifest, false, false)?;
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
        // A new live file is made durable in its directory; an existing one already is.
        let file = match files::open_append(live, false, dsync) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let file = files::open_append(live, true, dsync)?;
                files::sync_dir(layout.dir()).map_err(io_error(layout.dir()))?;
                file
            }
            opened => opened?,
        };
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
        let opened = Opened::recover(&layout, false).expect("opens");
        assert_eq!(opened.head.seq, chain.len() as u64, "the chain continues from its last record");
        opened.read
    }

    /// Group commit: many callers share each fsync, and none is answered before the fsync that
    /// covers its record has completed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_record_is_acknowledged_before_its_fsync() {
        let dir = tempfile::tempdir().expect("temp");
        let log = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("opens");
        let callers: Vec<_> = (0..64)
            .map(|caller| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in 0..50 {
                        let body = NewRecord {
                            kind: "tool_call".into(),
                            trace_id: format!("{caller}-{n}"),
                            ..NewRecord::default()
                        };
                        let seq = log.append(body).await.expect("appends");
                        let synced = log.handle.shared.synced.load(Ordering::SeqCst);
                        assert!(synced >= seq, "record {seq} acknowledged when fsync had covered only {synced}");
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.expect("no early acknowledgement");
        }
        let report = crate::verify(log.path()).expect("reads");
        assert!(report.ok() && report.records == 64 * 50, "{report:?}");
    }

    /// The thread that wrote the last batch of `log`.
    fn written_by(log: &AuditLog) -> Option<std::thread::ThreadId> {
        *log.handle.shared.written_by.lock().expect("not poisoned")
    }

    fn call(n: u64) -> NewRecord {
        NewRecord { kind: "tool_call".into(), trace_id: format!("{n}"), ..NewRecord::default() }
    }

    /// Callers polled together in one task (as futures of one connection are) queue their records
    /// before one of them leads: a single durable write covers them all, and none is answered
    /// before it has completed.
    #[tokio::test]
    async fn callers_in_one_task_share_one_durable_write() {
        let dir = tempfile::tempdir().expect("temp");
        let log = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("opens");
        let appends = (0..64).map(|n| {
            let log = log.clone();
            async move {
                let seq = log.append(call(n)).await.expect("appends");
                let synced = log.handle.shared.synced.load(Ordering::SeqCst);
                assert!(synced >= seq, "record {seq} acknowledged when fsync had covered only {synced}");
                seq
            }
        });
        let mut seqs = futures_util::future::join_all(appends).await;
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
        let batches = log.handle.shared.batches.load(Ordering::SeqCst);
        assert!(batches <= 2, "64 records took {batches} writes");
        assert!(crate::verify(log.path()).expect("reads").ok());
        // Many records at once: the runtime goes on while the writer thread syncs them.
        assert_ne!(written_by(&log), Some(std::thread::current().id()), "written on the runtime's thread");
    }

    /// Two records queued together on a quick disk: the writer thread writes them, not the
    /// runtime's thread, even one answering a single peer (only a record alone is written by its
    /// caller).
    #[tokio::test]
    async fn two_records_at_once_go_to_the_writer_thread() {
        let _stdio = mcp_core::transport::serving_one_peer();
        let dir = tempfile::tempdir().expect("temp");
        let log = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("opens");
        let (a, b) = tokio::join!(log.append(call(1)), log.append(call(2)));
        assert_eq!((a.expect("appends"), b.expect("appends")), (1, 2));
        assert_ne!(written_by(&log), Some(std::thread::current().id()), "two records written on the runtime's thread");
    }

    /// A single-threaded runtime not marked as answering one peer (an HTTP serving thread, an
    /// embedder's own server of many connections) never blocks on a durable write, even of a
    /// lone record on a quick disk: its other connections would wait for it.
    #[tokio::test]
    async fn a_thread_not_marked_as_serving_one_peer_hands_even_a_lone_record_to_the_writer_thread() {
        let dir = tempfile::tempdir().expect("temp");
        let log = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("opens");
        for n in 1..=3 {
            assert_eq!(log.append(call(n)).await.expect("appends"), n);
            assert_ne!(written_by(&log), Some(std::thread::current().id()), "record {n} blocked the thread");
        }
    }

    /// A lone record whose batch would seal a full segment goes to the writer thread: sealing
    /// takes several syncs, more than a runtime should wait for.
    #[tokio::test]
    async fn a_lone_record_that_seals_a_segment_goes_to_the_writer_thread() {
        let _stdio = mcp_core::transport::serving_one_peer();
        let dir = tempfile::tempdir().expect("temp");
        let options = AuditOptions { segment_bytes: 1, ..AuditOptions::default() };
        let log = AuditLog::open(dir.path().join("audit.jsonl"), options).expect("opens");
        let here = std::thread::current().id();
        assert_eq!(log.append(call(1)).await.expect("appends"), 1);
        let first = written_by(&log);
        assert_eq!(first, Some(here), "the first record seals nothing: written by its caller");
        assert_eq!(log.append(call(2)).await.expect("appends"), 2);
        let second = written_by(&log);
        assert_ne!(second, Some(here), "the live file is full: sealing is left to the writer thread");
        let report = crate::verify(log.path()).expect("reads");
        assert!(report.ok() && report.records == 2, "{report:?}");
    }

    /// On a single-threaded runtime answering one peer (as stdio's is), a caller whose record is
    /// the only one queued writes it itself while the disk is quick (no hand-off to the writer
    /// thread and back); after a slow write, its batch goes to the writer thread, so that a slow
    /// disk cannot keep stalling the runtime.
    #[tokio::test]
    async fn a_lone_durable_record_is_written_by_its_caller_while_the_disk_is_quick() {
        let _stdio = mcp_core::transport::serving_one_peer();
        let dir = tempfile::tempdir().expect("temp");
        let log = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("opens");
        let shared = &log.handle.shared;
        let here = std::thread::current().id();
        for n in 1..=20 {
            let slow = n % 2 == 0 || shared.slow_disk.load(Ordering::SeqCst);
            shared.slow_disk.store(slow, Ordering::SeqCst);
            let seq = log.append(call(n)).await.expect("appends");
            assert_eq!(seq, n);
            assert!(shared.synced.load(Ordering::SeqCst) >= seq, "acknowledged before it was durable");
            let written_by = written_by(&log).expect("written");
            if slow {
                assert_ne!(written_by, here, "record {n}: written on the runtime after a slow write");
            } else {
                assert_eq!(written_by, here, "record {n}: handed off though alone on a quick disk");
            }
        }
        let report = crate::verify(log.path()).expect("reads");
        assert!(report.ok() && report.records == 20, "{report:?}");
    }

    /// A caller that stops waiting (its future dropped) before its record is written: no other
    /// caller comes, yet the record is written, by the writer thread (fsync on) or at once.
    #[tokio::test]
    async fn a_record_whose_caller_stops_waiting_is_still_written() {
        for fsync in [true, false] {
            let dir = tempfile::tempdir().expect("temp");
            let options = AuditOptions { fsync, ..AuditOptions::default() };
            let log = AuditLog::open(dir.path().join("audit.jsonl"), options).expect("opens");
            {
                let append = log.append(call(1));
                tokio::pin!(append);
                let polled = futures_util::FutureExt::now_or_never(append.as_mut());
                assert!(polled.is_none(), "queued, not yet written");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while log.handle.shared.acked.load(Ordering::SeqCst) < 1 {
                assert!(Instant::now() < deadline, "the abandoned record was never written (fsync {fsync})");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let report = crate::verify(log.path()).expect("reads");
            assert!(report.ok() && report.records == 1, "{report:?}");
        }
    }

    #[test]
    fn the_clock_writes_rfc3339_with_milliseconds() {
        let mut clock = Clock::default();
        for _ in 0..3 {
            let before = now();
            let text = clock.now().to_owned();
            let after = now();
            assert_eq!(text.len(), 24, "{text}");
            assert!(before <= text && text <= after, "{before} <= {text} <= {after}");
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
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
