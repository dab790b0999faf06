//! The optional SQL sink: every record, as committed to the file, mirrored into a table of SQLite
//! or PostgreSQL. The file stays the source of truth: on start the table catches up from it, and
//! whenever the mirror falls behind (its bounded queue overflowed, the database refused a write)
//! it copies from the file again, so a record the database missed is copied later, never lost.

use std::path::{Path, PathBuf};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::mirror::{Mirror, MirrorReceiver};
use crate::record::AuditRecord;
use crate::{Error, Result};

/// How long to wait before copying from the file again after a failure.
const RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// The records the mirror's queue holds by default (a few tens of MiB at most).
const MIRROR_QUEUE: usize = 65_536;

/// Records copied from the file per transaction.
const CHUNK: usize = 500;

/// Rows are keyed by `seq`, so copying a record twice changes nothing.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS mcp_audit (
    seq BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    principal TEXT NOT NULL,
    client TEXT,
    server TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    arguments_digest TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT,
    outcome TEXT NOT NULL,
    error TEXT,
    duration_ms DOUBLE PRECISION NOT NULL,
    trace_id TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
)";

const INSERT: &str = "INSERT INTO mcp_audit (seq, time, kind, principal, client, server, tool, arguments, arguments_digest, \
    decision, rule, outcome, error, duration_ms, trace_id, prev, hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (seq) DO NOTHING";

fn sql_error(url_kind: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    // The URL may hold a password: name only its scheme.
    move |e| Error::Io { path: format!("{url_kind} audit database"), source: std::io::Error::other(e.to_string()) }
}

/// A connection to the audit table.
#[derive(Debug, Clone)]
pub struct SqlSink {
    pool: AnyPool,
    kind: String,
}

impl SqlSink {
    /// Connects (`sqlite://path?mode=rwc` or `postgres://...`) and creates the table if needed.
    pub async fn connect(url: &str) -> Result<SqlSink> {
        sqlx::any::install_default_drivers();
        let kind = url.split(':').next().unwrap_or("sql").to_owned();
        // SQLite serializes writers anyway; one connection avoids contention within the pool.
        let connections = if kind == "sqlite" { 1 } else { 2 };
        let pool = AnyPoolOptions::new().max_connections(connections).connect(url).await.map_err(sql_error(&kind))?;
        if kind == "sqlite" {
            // Write-ahead logging: readers of the table (reports, dashboards) never block its writer.
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await.map_err(sql_error(&kind))?;
        }
        sqlx::query(CREATE).execute(&pool).await.map_err(sql_error(&kind))?;
        Ok(SqlSink { pool, kind })
    }

    /// The highest sequence number stored (0 for an empty table).
    pub async fn last_seq(&self) -> Result<u64> {
        let row: (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM mcp_audit")
            .fetch_one(&self.pool)
            .await
            .map_err(sql_error(&self.kind))?;
        Ok(row.0.unwrap_or(0).max(0) as u64)
    }

    /// The first sequence number the table lacks, and the highest it holds. A gap (a batch
    /// dropped while later ones were stored) counts, not only the end.
    async fn first_missing(&self) -> Result<(u64, u64)> {
        let (count, low, high): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(seq), MAX(seq) FROM mcp_audit")
                .fetch_one(&self.pool)
                .await
                .map_err(sql_error(&self.kind))?;
        let high = high.unwrap_or(0).max(0);
        let first = match low {
            Some(1) if count == high => high + 1,
            Some(1) => {
                let gap: (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(seq) + 1 FROM mcp_audit a WHERE NOT EXISTS (SELECT 1 FROM mcp_audit b WHERE b.seq = a.seq + 1)",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(sql_error(&self.kind))?;
                gap.0.unwrap_or(high + 1)
            }
            _ => 1,
        };
        Ok((first.max(1) as u64, high as u64))
    }

    /// Stores records (those already there are left alone).
    pub async fn insert(&self, records: &[AuditRecord]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error(&self.kind))?;
        for r in records {
            let b = &r.body;
            sqlx::query(INSERT)
                .bind(r.seq as i64)
                .bind(&r.time)
                .bind(&b.kind)
                .bind(&b.principal)
                .bind(b.client.clone())
                .bind(&b.server)
                .bind(&b.tool)
                .bind(b.arguments.to_string())
                .bind(&b.arguments_digest)
                .bind(&b.decision)
                .bind(b.rule.clone())
                .bind(&b.outcome)
                .bind(b.error.clone())
                .bind(b.duration_ms)
                .bind(&b.trace_id)
                .bind(&r.prev)
                .bind(&r.hash)
                .execute(&mut *tx)
                .await
                .map_err(sql_error(&self.kind))?;
        }
        tx.commit().await.map_err(sql_error(&self.kind))
    }

    /// Copies every record of the log (all its segments) that the table lacks, gaps included,
    /// streaming the file from the first one missing. Returns how many were copied.
    pub async fn catch_up(&self, log: &Path) -> Result<usize> {
        if !crate::files::Layout::new(log).exists() {
            return Ok(0);
        }
        let mut copied = 0;
        // A second pass finds what a segment sealed during the first one moved.
        for _ in 0..3 {
            let (from, _) = self.first_missing().await?;
            let mut chunk = Vec::with_capacity(CHUNK);
            for record in crate::verify::records_from(log, from)? {
                let record = record?;
                if record.seq < from {
                    continue;
                }
                chunk.push(record);
                if chunk.len() == CHUNK {
                    self.insert(&chunk).await?;
                    copied += chunk.len();
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                self.insert(&chunk).await?;
                copied += chunk.len();
            }
            let (missing, high) = self.first_missing().await?;
            if missing > high {
                break;
            }
        }
        Ok(copied)
    }

    /// Catches up from `log`, then returns the queue the log's writer mirrors new records into
    /// (see [`crate::AuditOptions::mirror`]; it holds 65 536 records) and a
    /// [`MirrorDrain`] to call before the process exits. The file never waits for the database.
    pub async fn start(self, log: &Path) -> Result<(Mirror, MirrorDrain)> {
        self.start_bounded(log, MIRROR_QUEUE).await
    }

    /// [`start`](Self::start) with a queue of `capacity` records. When the queue is full, batches
    /// are dropped from it (with a warning) and copied from the file instead; so are batches the
    /// database refused, retried until it takes them.
    pub async fn start_bounded(self, log: &Path, capacity: usize) -> Result<(Mirror, MirrorDrain)> {
        let copied = self.catch_up(log).await?;
        if copied > 0 {
            tracing::info!(copied, "audit database caught up from the log file");
        }
        let (mirror, receiver) = Mirror::bounded(capacity);
        let (requests, drains) = mpsc::unbounded_channel::<oneshot::Sender<bool>>();
        tokio::spawn(self.mirror(log.to_path_buf(), receiver, drains));
        Ok((mirror, MirrorDrain { requests }))
    }

    /// Stores what the log sends; when behind, copies from the file instead, every [`RETRY`] at
    /// most, until it has everything.
    async fn mirror(
        self,
        log: PathBuf,
        mut receiver: MirrorReceiver,
        mut drains: mpsc::UnboundedReceiver<oneshot::Sender<bool>>,
    ) {
        let mut behind = false;
        let mut next_try = Instant::now();
        let mut open = true;
        while open {
            let mut drained = None;
            // Once behind, batches are not stored one by one: the catch-up copies them from the file.
            tokio::select! {
                batch = receiver.recv() => match batch {
                    Some(batch) => behind = behind || self.store(&batch.records).await.is_err(),
                    None => open = false,
                },
                Some(done) = drains.recv() => {
                    // Everything sent before the request is already queued.
                    while let Some(batch) = receiver.try_recv() {
                        behind = behind || self.store(&batch.records).await.is_err();
                    }
                    next_try = Instant::now();
                    drained = Some(done);
                }
                () = tokio::time::sleep_until(next_try), if behind => {}
            }
            behind = behind || receiver.take_dropped().is_some();
            if behind && (Instant::now() >= next_try || drained.is_some() || !open) {
                match self.catch_up(&log).await {
                    Ok(copied) => {
                        tracing::info!(copied, "audit database caught up from the log file");
                        behind = false;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "audit database catch-up failed; retrying");
                        next_try = Instant::now() + RETRY;
                    }
                }
            }
            if let Some(done) = drained {
                let _ = done.send(!behind);
            }
        }
    }

    /// Stores a batch while the mirror keeps up; once behind, the file is copied instead.
    async fn store(&self, records: &[AuditRecord]) -> Result<()> {
        self.insert(records).await.inspect_err(|e| {
            tracing::warn!(error = %e, "audit database write failed; the records will be copied from the log file");
        })
    }
}

/// Waits until the database holds every record mirrored so far: a process that exits without it
/// may leave the last records to the next start's catch-up.
#[derive(Debug, Clone)]
pub struct MirrorDrain {
    requests: mpsc::UnboundedSender<oneshot::Sender<bool>>,
}

impl MirrorDrain {
    /// True once every record sent so far is in the database; false on timeout or a refused write.
    pub async fn drain(&self, timeout: std::time::Duration) -> bool {
        let (done, wait) = oneshot::channel();
        if self.requests.send(done).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(true)))
    }
}
