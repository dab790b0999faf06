//! The append-only log file and its writer thread (group commit with fsync).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::record::{AuditRecord, GENESIS, NewRecord, now};
use crate::{Error, Result};

/// Settings of the log.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Make each batch durable with `fsync` before acknowledging it (default true).
    pub fsync: bool,
    /// The most records written in one batch (default 1024).
    pub max_batch: usize,
    /// Receives every batch once it is durable (the SQL sink's channel).
    pub mirror: Option<tokio::sync::mpsc::UnboundedSender<Vec<AuditRecord>>>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { fsync: true, max_batch: 1024, mirror: None }
    }
}

struct Pending {
    body: NewRecord,
    ack: oneshot::Sender<Result<u64, String>>,
}

/// An open audit log. Cheap to clone; every clone appends to the same chain.
#[derive(Clone)]
pub struct AuditLog {
    path: Arc<PathBuf>,
    queue: mpsc::Sender<Pending>,
    stopped: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Where the chain stands: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
}

pub(crate) fn head_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

impl AuditLog {
    /// Opens (or creates) the log at `path`. A torn last line, left by a crash in the middle of a
    /// write that was therefore never acknowledged, is cut off and the cut recorded.
    pub fn open(path: impl AsRef<Path>, options: AuditOptions) -> Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        let io = |source| Error::Io { path: path.display().to_string(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        let (head, valid_len, torn) = scan(&mut file).map_err(io)?;
        if torn > 0 {
            // Cut the torn tail so the next record starts on a fresh line.
            file.set_len(valid_len).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::warn!(path = %path.display(), bytes = torn, "cut a torn last audit record left by a crash");
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;

        let (queue, receiver) = mpsc::channel::<Pending>();
        let stopped = Arc::new(Mutex::new(None));
        let writer = Writer { path: path.clone(), file, head, options, stopped: stopped.clone() };
        std::thread::Builder::new().name("mcp-audit-writer".into()).spawn(move || writer.run(receiver)).map_err(io)?;
        let log = AuditLog { path: Arc::new(path), queue, stopped };
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
            log.enqueue(body)?;
        }
        Ok(log)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enqueue(&self, body: NewRecord) -> Result<oneshot::Receiver<Result<u64, String>>> {
        if let Some(reason) = self.stopped.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Err(Error::Stopped(reason));
        }
        let (ack, done) = oneshot::channel();
        self.queue.send(Pending { body, ack }).map_err(|_| Error::Stopped("the writer thread has exited".into()))?;
        Ok(done)
    }

    /// Appends a record and returns its sequence number once it is durable.
    pub async fn append(&self, body: NewRecord) -> Result<u64> {
        let done = self.enqueue(body)?;
        match done.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(reason)) => Err(Error::Stopped(reason)),
            Err(_) => Err(Error::Stopped("the writer thread has exited".into())),
        }
    }
}

/// Finds the last complete record: returns its head, the byte length up to its end, and how many
/// bytes follow it that do not form a complete record (a torn write).
fn scan(file: &mut File) -> std::io::Result<(Head, u64, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let total = file.metadata()?.len();
    let mut reader = BufReader::new(&mut *file);
    let mut head = Head { seq: 0, hash: GENESIS.to_owned() };
    let mut valid_len = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        match serde_json::from_slice::<AuditRecord>(&line) {
            Ok(record) if complete => {
                head = Head { seq: record.seq, hash: record.hash };
                valid_len += n as u64;
            }
            // Only the very end may be torn; anything else is left for `verify` to report.
            _ if valid_len + n as u64 == total => break,
            _ => valid_len += n as u64,
        }
    }
    Ok((head, valid_len, total - valid_len))
}

struct Writer {
    path: PathBuf,
    file: File,
    head: Head,
    options: AuditOptions,
    stopped: Arc<Mutex<Option<String>>>,
}

impl Writer {
    fn run(mut self, receiver: mpsc::Receiver<Pending>) {
        // Each turn takes everything queued so far: one write and one fsync for the whole batch.
        while let Ok(first) = receiver.recv() {
            let mut batch = vec![first];
            while batch.len() < self.options.max_batch {
                match receiver.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let outcome = self.commit(&batch);
            match outcome {
                Ok(first_seq) => {
                    for (i, pending) in batch.into_iter().enumerate() {
                        let _ = pending.ack.send(Ok(first_seq + i as u64));
                    }
                }
                Err(e) => {
                    let reason = format!("writing `{}` failed: {e}", self.path.display());
                    tracing::error!("{reason}");
                    *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
                    for pending in batch {
                        let _ = pending.ack.send(Err(reason.clone()));
                    }
                    // Refuse everything still queued: the chain cannot continue past a failed write.
                    while let Ok(p) = receiver.try_recv() {
                        let _ = p.ack.send(Err(reason.clone()));
                    }
                    return;
                }
            }
        }
    }

    fn commit(&mut self, batch: &[Pending]) -> std::io::Result<u64> {
        let first_seq = self.head.seq + 1;
        let mut text = Vec::with_capacity(batch.len() * 512);
        let mut head = self.head.clone();
        let mut sealed = Vec::with_capacity(batch.len());
        for pending in batch {
            let record = AuditRecord::seal(head.seq + 1, now(), pending.body.clone(), head.hash.clone());
            serde_json::to_writer(&mut text, &record).map_err(std::io::Error::other)?;
            text.push(b'\n');
            head = Head { seq: record.seq, hash: record.hash.clone() };
            sealed.push(record);
        }
        self.file.write_all(&text)?;
        if self.options.fsync {
            self.file.sync_data()?;
        }
        self.head = head;
        if let Some(mirror) = &self.options.mirror {
            let _ = mirror.send(sealed);
        }
        // The head file lets `verify` notice records cut from the end; it is advisory, so it is
        // replaced atomically but not fsynced (after a crash it may lag, never lead).
        let head_file = head_path(&self.path);
        let temp = head_file.with_extension("head.tmp");
        if std::fs::write(&temp, serde_json::to_vec(&self.head).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&temp, &head_file);
        }
        Ok(first_seq)
    }
}
