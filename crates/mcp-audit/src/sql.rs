//! The optional SQL sink: every record, as committed to the file, mirrored into a table of SQLite
//! or PostgreSQL. The file stays the source of truth; on start the table catches up from it, so a
//! record the database missed (it was down, the process crashed) is copied later, never lost.

use std::path::Path;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use tokio::sync::{mpsc, oneshot};

use crate::record::AuditRecord;
use crate::{Error, Result};

/// How long to wait before retrying records the database refused.
const RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// The most refused records kept for retrying.
const MAX_PENDING: usize = 100_000;

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

    /// Copies every record of the log file the table does not have yet. Returns how many.
    pub async fn catch_up(&self, log: &Path) -> Result<usize> {
        if !log.exists() {
            return Ok(0);
        }
        let last = self.last_seq().await?;
        let missing: Vec<AuditRecord> = crate::read_records(log)?.into_iter().filter(|r| r.seq > last).collect();
        for chunk in missing.chunks(500) {
            self.insert(chunk).await?;
        }
        Ok(missing.len())
    }

    /// Catches up from `log`, then returns the channel the log's writer mirrors new records into
    /// (see [`crate::AuditOptions::mirror`]) and a [`MirrorDrain`] to call before the process
    /// exits. Refused writes are retried; the file never waits for the database.
    pub async fn start(self, log: &Path) -> Result<(mpsc::UnboundedSender<Vec<AuditRecord>>, MirrorDrain)> {
        let copied = self.catch_up(log).await?;
        if copied > 0 {
            tracing::info!(copied, "audit database caught up from the log file");
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<AuditRecord>>();
        let (drain_tx, mut drain_rx) = mpsc::unbounded_channel::<oneshot::Sender<bool>>();
        tokio::spawn(async move {
            // Records the database refused (busy, down) wait here and are retried; past the cap the
            // oldest are dropped, as the file still holds them and a restart catches up.
            let mut pending: Vec<AuditRecord> = Vec::new();
            loop {
                let next = tokio::select! {
                    batch = rx.recv() => batch,
                    Some(done) = drain_rx.recv() => {
                        // Everything sent before the request is already in the channel.
                        while let Ok(batch) = rx.try_recv() {
                            pending.extend(batch);
                        }
                        let ok = pending.is_empty() || self.insert(&pending).await.is_ok();
                        if ok {
                            pending.clear();
                        }
                        let _ = done.send(ok);
                        Some(Vec::new())
                    }
                    () = tokio::time::sleep(RETRY), if !pending.is_empty() => Some(Vec::new()),
                };
                let Some(batch) = next else { break };
                pending.extend(batch);
                if pending.is_empty() {
                    continue;
                }
                match self.insert(&pending).await {
                    Ok(()) => pending.clear(),
                    Err(e) => {
                        tracing::warn!(error = %e, waiting = pending.len(), "audit database write failed; retrying");
                        if pending.len() > MAX_PENDING {
                            pending.drain(..pending.len() - MAX_PENDING);
                        }
                    }
                }
            }
            if !pending.is_empty() {
                let _ = self.insert(&pending).await;
            }
        });
        Ok((tx, MirrorDrain { requests: drain_tx }))
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
