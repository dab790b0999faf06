//! The optional SQL sink: every record, as committed to the file, mirrored into a table of SQLite
//! or PostgreSQL. The file stays the source of truth: on start the table catches up from it, and
//! whenever the mirror falls behind (its bounded queue overflowed, the database refused a write)
//! it copies from the file again, so a record the database missed is copied later, never lost.
//!
//! Several writers (the replicas of a gateway) share one table: each row carries its writer's
//! [`Replica`] id and the line exactly as written to that writer's file, so every replica's chain
//! can be checked in the database as its file is ([`verify_database`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::mirror::{Mirror, MirrorReceiver};
use crate::record::{AuditRecord, Bad, GENESIS, NewRecord, check_line};
use crate::replica::Replica;
use crate::{Error, Result};

/// How long to wait before copying from the file again after a failure.
const RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// The records the mirror's queue holds by default (a few tens of MiB at most).
const MIRROR_QUEUE: usize = 65_536;

/// Records copied from the file per transaction.
const CHUNK: usize = 500;

/// Rows read at a time by [`verify_database`].
const PAGE: i64 = 1000;

/// Rows are keyed by replica and sequence number, so copying a record twice changes nothing and
/// replicas never collide. `line` is the record as written to the file (without its newline);
/// rows mirrored before lines were kept have none.
fn create(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    replica TEXT NOT NULL,
    seq BIGINT NOT NULL,
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
    hash TEXT NOT NULL,
    line TEXT,
    CONSTRAINT mcp_audit_replica_seq PRIMARY KEY (replica, seq)
)"
    )
}

/// The columns of a record, in the order of [`INSERT`]'s parameters after `replica`.
const COLUMNS: &str = "seq, time, kind, principal, client, server, tool, arguments, arguments_digest, \
    decision, rule, outcome, error, duration_ms, trace_id, prev, hash";

const INSERT: &str = "INSERT INTO mcp_audit (replica, seq, time, kind, principal, client, server, tool, arguments, \
    arguments_digest, decision, rule, outcome, error, duration_ms, trace_id, prev, hash, line) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
    ON CONFLICT (replica, seq) DO NOTHING";

fn sql_error(url_kind: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    // The URL may hold a password: name only its scheme.
    move |e| Error::Io { path: format!("{url_kind} audit database"), source: std::io::Error::other(e.to_string()) }
}

/// The URL's scheme (`sqlite`, `postgres`): all that is ever said of the URL, which may hold a
/// password.
fn url_kind(url: &str) -> String {
    url.split(':').next().filter(|k| k.chars().all(|c| c.is_ascii_alphanumeric())).unwrap_or("sql").to_owned()
}

fn is_postgres(kind: &str) -> bool {
    kind.starts_with("postgres")
}

/// What the database holds under the name `mcp_audit`.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Absent,
    /// One chain for the whole table, keyed by `seq` alone (before replica ids).
    Single,
    PerReplica,
}

/// The shape of `mcp_audit` (in the first schema of PostgreSQL's search path).
async fn shape<'c, E>(executor: E, kind: &str) -> std::result::Result<Shape, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let query = if is_postgres(kind) {
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN column_name = 'replica' THEN 1 ELSE 0 END), 0) \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'mcp_audit'"
    } else {
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = 'replica' THEN 1 ELSE 0 END), 0) \
         FROM pragma_table_info('mcp_audit')"
    };
    let (columns, replica): (i64, i64) = sqlx::query_as(query).fetch_one(executor).await?;
    Ok(match (columns, replica) {
        (0, _) => Shape::Absent,
        (_, 0) => Shape::Single,
        _ => Shape::PerReplica,
    })
}

/// Which replica took up the rows of a table from before replica ids, and up to which record:
/// those rows have no line, and only those may lack one.
const MIGRATED: &str =
    "CREATE TABLE IF NOT EXISTS mcp_audit_migrated (replica TEXT PRIMARY KEY, through BIGINT NOT NULL)";

/// Up to which record each replica's rows came from a migrated table (see [`MIGRATED`]).
async fn migrated_through(pool: &AnyPool, kind: &str) -> std::result::Result<HashMap<String, u64>, sqlx::Error> {
    let exists = if is_postgres(kind) {
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() \
         AND table_name = 'mcp_audit_migrated'"
    } else {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'mcp_audit_migrated'"
    };
    let (count,): (i64,) = sqlx::query_as(exists).fetch_one(pool).await?;
    if count == 0 {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT replica, through FROM mcp_audit_migrated").fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(replica, through)| (replica, u64::try_from(through).unwrap_or(0))).collect())
}

/// A connection to the audit table, writing as one replica.
#[derive(Debug, Clone)]
pub struct SqlSink {
    pool: AnyPool,
    kind: String,
    replica: Replica,
}

impl SqlSink {
    /// Connects (`sqlite://path?mode=rwc` or `postgres://...`) as `replica` and creates the table
    /// if needed. A table of the shape from before replica ids (keyed by `seq` alone) is migrated
    /// in one transaction: its rows become `replica`'s, without lines (see [`verify_database`]).
    pub async fn connect(url: &str, replica: &Replica) -> Result<SqlSink> {
        sqlx::any::install_default_drivers();
        let kind = url_kind(url);
        // SQLite serializes writers anyway; one connection avoids contention within the pool.
        let connections = if kind == "sqlite" { 1 } else { 2 };
        let pool = AnyPoolOptions::new().max_connections(connections).connect(url).await.map_err(sql_error(&kind))?;
        if kind == "sqlite" {
            // Write-ahead logging: readers of the table (reports, dashboards) never block its writer.
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await.map_err(sql_error(&kind))?;
        }
        let sink = SqlSink { pool, kind, replica: replica.clone() };
        sink.prepare().await.map_err(sql_error(&sink.kind))?;
        Ok(sink)
    }

    /// The replica this sink writes as.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Creates or migrates the table, in one transaction; with PostgreSQL, replicas starting at
    /// once take turns (a transaction-scoped advisory lock), so none sees a half-made table.
    async fn prepare(&self) -> std::result::Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if is_postgres(&self.kind) {
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema() || '.mcp_audit'))")
                .execute(&mut *tx)
                .await?;
        }
        match shape(&mut *tx, &self.kind).await? {
            Shape::PerReplica => {}
            Shape::Absent => {
                sqlx::query(&create("mcp_audit")).execute(&mut *tx).await?;
            }
            Shape::Single => {
                // Made anew and renamed: the old table's key cannot be changed in place in SQLite.
                sqlx::query("DROP TABLE IF EXISTS mcp_audit_migrating").execute(&mut *tx).await?;
                sqlx::query(&create("mcp_audit_migrating")).execute(&mut *tx).await?;
                let copy = format!(
                    "INSERT INTO mcp_audit_migrating (replica, {COLUMNS}, line) SELECT $1, {COLUMNS}, NULL FROM mcp_audit"
                );
                let rows = sqlx::query(&copy).bind(self.replica.as_str()).execute(&mut *tx).await?.rows_affected();
                // How far the rows without lines go: verify accepts a missing line only up to there.
                sqlx::query(MIGRATED).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO mcp_audit_migrated (replica, through) SELECT $1, COALESCE(MAX(seq), 0) FROM mcp_audit",
                )
                .bind(self.replica.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query("DROP TABLE mcp_audit").execute(&mut *tx).await?;
                sqlx::query("ALTER TABLE mcp_audit_migrating RENAME TO mcp_audit").execute(&mut *tx).await?;
                tracing::warn!(
                    rows,
                    replica = %self.replica,
                    "migrated the audit table to one chain per replica: its rows are now this replica's; \
                     they were mirrored before lines were kept, so `mcptk audit verify --database` checks their \
                     links but cannot re-hash them"
                );
            }
        }
        tx.commit().await
    }

    /// The highest sequence number stored for this replica (0 when it has none).
    pub async fn last_seq(&self) -> Result<u64> {
        let row: (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM mcp_audit WHERE replica = $1")
            .bind(self.replica.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(sql_error(&self.kind))?;
        Ok(row.0.unwrap_or(0).max(0) as u64)
    }

    /// The first sequence number this replica's rows lack, and the highest they hold. A gap (a
    /// batch dropped while later ones were stored) counts, not only the end.
    async fn first_missing(&self) -> Result<(u64, u64)> {
        let (count, low, high): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(seq), MAX(seq) FROM mcp_audit WHERE replica = $1")
                .bind(self.replica.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(sql_error(&self.kind))?;
        let high = high.unwrap_or(0).max(0);
        let first = match low {
            Some(1) if count == high => high + 1,
            Some(1) => {
                let gap: (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(seq) + 1 FROM mcp_audit a WHERE a.replica = $1 AND NOT EXISTS \
                     (SELECT 1 FROM mcp_audit b WHERE b.replica = a.replica AND b.seq = a.seq + 1)",
                )
                .bind(self.replica.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(sql_error(&self.kind))?;
                gap.0.unwrap_or(high + 1)
            }
            _ => 1,
        };
        Ok((first.max(1) as u64, high as u64))
    }

    /// Stores records with their lines as written to the file (`lines`: one per record, in the
    /// same order, each ending in a newline); those already there are left alone.
    pub async fn insert(&self, records: &[AuditRecord], lines: &[u8]) -> Result<()> {
        let mut lines = lines.split_inclusive(|b| *b == b'\n');
        let mut tx = self.pool.begin().await.map_err(sql_error(&self.kind))?;
        for r in records {
            let line = lines.next().map(|l| l.strip_suffix(b"\n").unwrap_or(l)).map(std::str::from_utf8);
            let Some(Ok(line)) = line else {
                return Err(Error::Corrupt {
                    path: format!("{} audit database", self.kind),
                    reason: format!("record {} came without its line as written", r.seq),
                });
            };
            let b = &r.body;
            let done = sqlx::query(INSERT)
                .bind(self.replica.as_str())
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
                .bind(line)
                .execute(&mut *tx)
                .await
                .map_err(sql_error(&self.kind))?;
            if done.rows_affected() == 0 {
                // Already there: from this chain (a retry, a catch-up), or from another writer
                // using the same replica id, whose records would otherwise be lost in silence.
                let (stored,): (String,) = sqlx::query_as("SELECT hash FROM mcp_audit WHERE replica = $1 AND seq = $2")
                    .bind(self.replica.as_str())
                    .bind(r.seq as i64)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(sql_error(&self.kind))?;
                if stored != r.hash {
                    return Err(Error::Corrupt {
                        path: format!("{} audit database", self.kind),
                        reason: format!(
                            "record {} of replica `{}` is already stored with another hash: another writer uses this id; \
                             give each writer an id of its own (audit.replica or MCPTK_REPLICA). The log file keeps \
                             every record",
                            r.seq, self.replica
                        ),
                    });
                }
            }
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
            let mut lines = Vec::new();
            let mut records = crate::verify::records_from(log, from)?;
            while let Some(record) = records.next() {
                let record = match record {
                    Ok(record) => record,
                    // Its record cannot be copied: the table keeps a gap there, which
                    // `verify_database` names; the records after it are copied all the same.
                    Err(e @ Error::BadLine { .. }) => {
                        tracing::error!(error = %e, "an audit log line that is not a record cannot be mirrored");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if record.seq < from {
                    continue;
                }
                chunk.push(record);
                lines.extend_from_slice(records.line());
                if chunk.len() == CHUNK {
                    self.insert(&chunk, &lines).await?;
                    copied += chunk.len();
                    chunk.clear();
                    lines.clear();
                }
            }
            if !chunk.is_empty() {
                self.insert(&chunk, &lines).await?;
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
    ///
    /// Refused when the table already holds another chain under this replica's id (the id
    /// reused by another writer, or with a new log): its records would collide with this log's.
    pub async fn start_bounded(self, log: &Path, capacity: usize) -> Result<(Mirror, MirrorDrain)> {
        self.check_same_chain(log).await?;
        let copied = self.catch_up(log).await?;
        if copied > 0 {
            tracing::info!(copied, "audit database caught up from the log file");
        }
        let (mirror, receiver) = Mirror::bounded(capacity);
        let (requests, drains) = mpsc::unbounded_channel::<oneshot::Sender<bool>>();
        tokio::spawn(self.mirror(log.to_path_buf(), receiver, drains));
        Ok((mirror, MirrorDrain { requests }))
    }

    /// The table's rows of this replica must be the log's chain: the row at the log's last
    /// record has its hash, and an empty log has no rows.
    async fn check_same_chain(&self, log: &Path) -> Result<()> {
        let (seq, hash) = crate::verify::head(log)?;
        let stored: Option<(String,)> = if seq == 0 {
            sqlx::query_as("SELECT hash FROM mcp_audit WHERE replica = $1 ORDER BY seq LIMIT 1")
                .bind(self.replica.as_str())
                .fetch_optional(&self.pool)
                .await
        } else {
            sqlx::query_as("SELECT hash FROM mcp_audit WHERE replica = $1 AND seq = $2")
                .bind(self.replica.as_str())
                .bind(seq as i64)
                .fetch_optional(&self.pool)
                .await
        }
        .map_err(sql_error(&self.kind))?;
        match stored {
            Some((stored,)) if seq == 0 || stored != hash => Err(Error::Corrupt {
                path: log.display().to_string(),
                reason: format!(
                    "the audit database already holds another chain for replica `{}` (its record {} is not this \
                     log's): another writer uses this id, or the log was replaced; give this writer an id of its own \
                     (audit.replica or MCPTK_REPLICA)",
                    self.replica,
                    seq.max(1)
                ),
            }),
            _ => Ok(()),
        }
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
                    Some(batch) => behind = behind || self.store(&batch.records, &batch.lines).await.is_err(),
                    None => open = false,
                },
                Some(done) = drains.recv() => {
                    // Everything sent before the request is already queued.
                    while let Some(batch) = receiver.try_recv() {
                        behind = behind || self.store(&batch.records, &batch.lines).await.is_err();
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
    async fn store(&self, records: &[AuditRecord], lines: &[u8]) -> Result<()> {
        self.insert(records, lines).await.inspect_err(|e| match e {
            Error::Corrupt { .. } => tracing::error!(error = %e, "the audit database refused this log's records"),
            _ => {
                tracing::warn!(error = %e, "audit database write failed; the records will be copied from the log file")
            }
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

/// What [`verify_database`] found wrong first in one replica's chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseProblem {
    /// The replica whose chain it is in.
    pub replica: String,
    /// The record (its sequence number).
    pub seq: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// One replica's chain as [`verify_database`] checked it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaReport {
    /// The replica id.
    pub replica: String,
    /// Records checked up to the first problem (all of them when there is none).
    pub records: u64,
    /// Of those, rows mirrored before lines were kept (a migrated table): their sequence and links
    /// were checked, but their hashes cannot be recomputed from the table.
    pub not_verifiable: u64,
    /// The hash of the last good record ([`GENESIS`] when there is none).
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<DatabaseProblem>,
}

/// The result of [`verify_database`]: every replica's chain, by replica id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseReport {
    /// One per replica found in the table, in the order of their ids.
    pub replicas: Vec<ReplicaReport>,
}

impl DatabaseReport {
    /// True when every replica's chain verified.
    pub fn ok(&self) -> bool {
        self.replicas.iter().all(|r| r.problem.is_none())
    }
}

/// Checks every replica's chain in the audit table at `url`, read-only: each replica's rows,
/// in order of sequence number, must start at record 1 (linked to [`GENESIS`]) and go on without
/// gaps; each row's line must pass the hash check the file's lines pass, and say what the row's
/// columns say (sequence number, links, and every field); each record must link to the one before
/// it in the same replica. A table whose first records were deleted (pruned) is reported as
/// such: the chain cannot be checked from where it starts. Records cut from the end of a chain
/// cannot be told from records never written: compare with that replica's file for those.
///
/// The URL may hold a password: errors name only its scheme.
pub async fn verify_database(url: &str) -> Result<DatabaseReport> {
    sqlx::any::install_default_drivers();
    let kind = url_kind(url);
    let error = sql_error(&kind);
    // A database that cannot be reached is said so at once, in its own words: a pool retries for
    // its acquire timeout (30 s) and then says only that it timed out.
    let probe = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await.map_err(&error)?;
    let _ = sqlx::Connection::close(probe).await;
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.map_err(&error)?;
    let corrupt = |reason: &str| Error::Corrupt { path: format!("{kind} audit database"), reason: reason.into() };
    match shape(&pool, &kind).await.map_err(&error)? {
        Shape::PerReplica => {}
        Shape::Absent => return Err(corrupt("it has no `mcp_audit` table")),
        Shape::Single => {
            return Err(corrupt(
                "its `mcp_audit` table has the shape from before replica ids (no `replica` column); a gateway \
                 connecting to it migrates it",
            ));
        }
    }
    let replicas: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT replica FROM mcp_audit ORDER BY replica")
        .fetch_all(&pool)
        .await
        .map_err(&error)?;
    let migrated = migrated_through(&pool, &kind).await.map_err(&error)?;
    let mut reports = Vec::with_capacity(replicas.len());
    for (replica,) in replicas {
        let through = migrated.get(&replica).copied().unwrap_or(0);
        reports.push(verify_replica(&pool, replica, through).await.map_err(&error)?);
    }
    pool.close().await;
    Ok(DatabaseReport { replicas: reports })
}

/// Walks one replica's rows a page at a time.
async fn verify_replica(
    pool: &AnyPool,
    replica: String,
    migrated_through: u64,
) -> std::result::Result<ReplicaReport, sqlx::Error> {
    let query = format!("SELECT {COLUMNS}, line FROM mcp_audit WHERE replica = $1 AND seq > $2 ORDER BY seq LIMIT $3");
    let mut report =
        ReplicaReport { replica, records: 0, not_verifiable: 0, last_hash: GENESIS.to_owned(), problem: None };
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(&query).bind(report.replica.as_str()).bind(after).bind(PAGE).fetch_all(pool).await?;
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            let expected = report.records + 1;
            if let Err(reason) = check_row(row, seq, expected, migrated_through, &mut report)? {
                let seq = u64::try_from(seq).unwrap_or(0);
                report.problem = Some(DatabaseProblem { replica: report.replica.clone(), seq, reason });
                return Ok(report);
            }
            after = seq;
        }
        if rows.len() < PAGE as usize {
            return Ok(report);
        }
    }
}

/// Checks one row (record `seq`, expected to be record `expected`) and moves the report past it,
/// or says what is wrong with it.
fn check_row(
    row: &AnyRow,
    seq: i64,
    expected: u64,
    migrated_through: u64,
    report: &mut ReplicaReport,
) -> std::result::Result<std::result::Result<(), String>, sqlx::Error> {
    let columns = match record_of(row, seq)? {
        Ok(record) => record,
        Err(reason) => return Ok(Err(reason)),
    };
    if columns.seq != expected {
        let missing = match seq - 1 {
            last if last as u64 == expected => format!("record {expected} is"),
            last => format!("records {expected} to {last} are"),
        };
        let reason = if expected == 1 {
            format!("the chain starts at record {seq}: {missing} not in the table (deleted, or the table was pruned)")
        } else {
            format!("{missing} missing: deleted from the table")
        };
        return Ok(Err(reason));
    }
    let line: Option<String> = row.try_get(17)?;
    match &line {
        None if expected <= migrated_through => report.not_verifiable += 1,
        None => {
            return Ok(Err(
                "its line is missing: every record mirrored since lines are kept has one (it was removed)".into()
            ));
        }
        Some(line) => {
            let checked = match check_line(line.as_bytes()) {
                Ok(checked) => checked,
                Err(Bad::Invalid(e)) => return Ok(Err(format!("its line is not a valid record ({e})"))),
                Err(Bad::Edited(_)) => {
                    return Ok(Err("its line's hash does not match its content: the line was edited".into()));
                }
            };
            if checked.seq != columns.seq || checked.prev != columns.prev || checked.hash != columns.hash {
                return Ok(Err(format!(
                    "its line is record {} but its columns say record {} (or another hash or link): the row was edited",
                    checked.seq, columns.seq
                )));
            }
            let written: AuditRecord = match serde_json::from_str(line) {
                Ok(record) => record,
                Err(e) => return Ok(Err(format!("its line is not a valid record ({e})"))),
            };
            if let Some(field) = differing_field(&written, &columns) {
                return Ok(Err(format!("its `{field}` column differs from its line: the row was edited")));
            }
        }
    }
    if columns.prev != report.last_hash {
        let reason = if expected == 1 {
            "the first record does not link to the start of a chain: it was replaced, or moved from another replica"
                .to_owned()
        } else {
            format!(
                "it does not link to record {} of this replica: a record was replaced, inserted, or moved from another replica",
                expected - 1
            )
        };
        return Ok(Err(reason));
    }
    report.records = expected;
    report.last_hash = columns.hash;
    Ok(Ok(()))
}

/// The record a row's columns hold, or why they hold none.
fn record_of(row: &AnyRow, seq: i64) -> std::result::Result<std::result::Result<AuditRecord, String>, sqlx::Error> {
    let arguments: String = row.try_get(7)?;
    let Ok(arguments) = serde_json::from_str(&arguments) else {
        return Ok(Err("its `arguments` column is not JSON: the row was edited".into()));
    };
    let Ok(seq) = u64::try_from(seq) else {
        return Ok(Err("its sequence number is negative: the row was edited".into()));
    };
    let body = NewRecord {
        kind: row.try_get(2)?,
        principal: row.try_get(3)?,
        client: row.try_get(4)?,
        server: row.try_get(5)?,
        tool: row.try_get(6)?,
        arguments,
        arguments_digest: row.try_get(8)?,
        decision: row.try_get(9)?,
        rule: row.try_get(10)?,
        outcome: row.try_get(11)?,
        error: row.try_get(12)?,
        duration_ms: row.try_get(13)?,
        trace_id: row.try_get(14)?,
    };
    Ok(Ok(AuditRecord { seq, time: row.try_get(1)?, body, prev: row.try_get(15)?, hash: row.try_get(16)? }))
}

/// The first field in which two records differ.
fn differing_field(a: &AuditRecord, b: &AuditRecord) -> Option<String> {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) =
        (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?)
    else {
        return None;
    };
    a.keys().chain(b.keys()).find(|k| a.get(*k) != b.get(*k)).cloned()
}
