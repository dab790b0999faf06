//! Pins kept in a database table (`mcp_pins`) that every gateway replica reads and writes, so
//! that one approval holds for all of them. PostgreSQL, MySQL/MariaDB and SQLite, through sqlx's
//! `any` driver.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_core::config::{Scrubber, display_url, url_credentials};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row as _};
use tokio::sync::Notify;

use super::{LockFile, Pins, PinsConfig, Store};
use crate::{Error, Result};

/// The table: one row per pinned tool. `approved_at` is in seconds since the Unix epoch.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS mcp_pins (
    server VARCHAR(200) NOT NULL,
    tool VARCHAR(200) NOT NULL,
    digest VARCHAR(100) NOT NULL,
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (server, tool)
)";

/// The SQL dialects: statements differ in placeholders and in how a conflict is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

impl Backend {
    fn of(url: &str) -> Backend {
        let scheme = url.trim().split(':').next().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            s if s.starts_with("postgres") => Backend::Postgres,
            "mysql" | "mariadb" => Backend::MySql,
            _ => Backend::Sqlite,
        }
    }

    /// Adds a row unless the tool already has one (first use: the first replica to record wins).
    fn insert_if_absent(self) -> &'static str {
        match self {
            Backend::MySql => "INSERT IGNORE INTO mcp_pins (server, tool, digest, approved_at) VALUES (?, ?, ?, ?)",
            Backend::Postgres | Backend::Sqlite => {
                "INSERT INTO mcp_pins (server, tool, digest, approved_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (server, tool) DO NOTHING"
            }
        }
    }

    /// Adds or replaces a row (an approval wins over a first-use record made meanwhile).
    fn upsert(self) -> &'static str {
        match self {
            Backend::MySql => {
                "INSERT INTO mcp_pins (server, tool, digest, approved_at) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE digest = VALUES(digest), approved_at = VALUES(approved_at)"
            }
            Backend::Postgres | Backend::Sqlite => {
                "INSERT INTO mcp_pins (server, tool, digest, approved_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (server, tool) DO UPDATE SET digest = excluded.digest, approved_at = excluded.approved_at"
            }
        }
    }

    fn delete_server(self) -> &'static str {
        match self {
            Backend::MySql => "DELETE FROM mcp_pins WHERE server = ?",
            Backend::Postgres | Backend::Sqlite => "DELETE FROM mcp_pins WHERE server = $1",
        }
    }
}

/// A row to record: server, tool, digest.
type Row = (String, String, String);

/// The database side of [`Pins`].
pub(super) struct Shared {
    pool: AnyPool,
    backend: Backend,
    /// The URL without credentials: all that is ever said of it.
    shown: String,
    /// Masks the URL's user and password in driver messages.
    scrubber: Scrubber,
    /// First-use records not written yet.
    pending: Mutex<Vec<Row>>,
    /// Held across a refresh (write the records, read the table, take it in) and an approval, so
    /// that a table read by one refresh never replaces what another refresh or an approval has
    /// just written.
    pub(super) refreshing: tokio::sync::Mutex<()>,
    /// Wakes the refresher: records to write, or the pins were dropped.
    wake: Arc<Notify>,
    /// Set while the database is unreachable, so that an outage is reported once.
    down: AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &self.shown).finish_non_exhaustive()
    }
}

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

impl Shared {
    async fn connect(url: &str) -> Result<Shared> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url);
        let scrubber = Scrubber::new(url_credentials(url));
        // Without user info: the user name may be a common word the scrubber would mask anywhere.
        let shown = display_url(url);
        let connections = if backend == Backend::Sqlite { 1 } else { 2 };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await;
        let fail = |e: sqlx::Error| Error::Database { url: shown.clone(), message: scrubber.text(&e.to_string()) };
        let pool = pool.map_err(fail)?;
        let shared = Shared {
            pool,
            backend,
            shown: shown.clone(),
            scrubber: scrubber.clone(),
            pending: Mutex::default(),
            refreshing: tokio::sync::Mutex::default(),
            wake: Arc::default(),
            down: AtomicBool::new(false),
        };
        shared.prepare().await.map_err(fail)?;
        Ok(shared)
    }

    fn error(&self, e: sqlx::Error) -> Error {
        Error::Database { url: self.shown.clone(), message: self.scrubber.text(&e.to_string()) }
    }

    /// Creates the table when missing; with PostgreSQL, replicas starting at once take turns (a
    /// transaction-scoped advisory lock), as concurrent `CREATE TABLE IF NOT EXISTS` may collide.
    async fn prepare(&self) -> std::result::Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema() || '.mcp_pins'))")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(CREATE).execute(&mut *tx).await?;
        tx.commit().await
    }

    /// Every row: server → tool → digest.
    async fn load(&self) -> std::result::Result<BTreeMap<String, BTreeMap<String, String>>, sqlx::Error> {
        let rows = sqlx::query("SELECT server, tool, digest FROM mcp_pins").fetch_all(&self.pool).await?;
        let mut servers: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for row in rows {
            let server: String = row.try_get(0)?;
            servers.entry(server).or_default().insert(row.try_get(1)?, row.try_get(2)?);
        }
        Ok(servers)
    }

    /// Queues first-use records for the refresher to add.
    pub(super) fn record(&self, rows: Vec<Row>) {
        if rows.is_empty() {
            return;
        }
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).extend(rows);
        self.wake.notify_one();
    }

    /// Adds to `servers` (the table as read) the first-use records still queued, where the table
    /// has no row for the tool yet: a definition recorded while the table was being read stays
    /// pinned instead of being flagged until the next refresh.
    fn overlay_pending(&self, servers: &mut BTreeMap<String, BTreeMap<String, String>>) {
        for (server, tool, digest) in self.pending.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            servers.entry(server.clone()).or_default().entry(tool.clone()).or_insert_with(|| digest.clone());
        }
    }

    /// Adds the queued first-use records (kept for the next attempt when that fails).
    async fn flush(&self) -> std::result::Result<(), sqlx::Error> {
        let rows = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if rows.is_empty() {
            return Ok(());
        }
        let written = async {
            let mut tx = self.pool.begin().await?;
            let at = now();
            for (server, tool, digest) in &rows {
                sqlx::query(self.backend.insert_if_absent())
                    .bind(server)
                    .bind(tool)
                    .bind(digest)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        if written.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let newer = std::mem::replace(&mut *pending, rows);
            pending.extend(newer);
        }
        written
    }

    /// Replaces a server's rows with `pinned`, in one transaction.
    pub(super) async fn approve(&self, server: &str, pinned: &BTreeMap<String, String>) -> Result<()> {
        let written = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(self.backend.delete_server()).bind(server).execute(&mut *tx).await?;
            let at = now();
            for (tool, digest) in pinned {
                sqlx::query(self.backend.upsert())
                    .bind(server)
                    .bind(tool)
                    .bind(digest)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        written.map_err(|e| self.error(e))
    }
}

impl Pins {
    /// Connects to the database of `config.database` (a sqlx URL, already expanded), creates the
    /// `mcp_pins` table when missing and reads it. An empty table means first use: the first
    /// definitions seen are recorded, each only where no replica recorded it already. The table
    /// is read again every `refresh_secs` in the background (until these pins are dropped); see
    /// [`Pins::watch`]. Must be called within a Tokio runtime.
    pub async fn connect(config: &PinsConfig) -> Result<Arc<Pins>> {
        config.validate()?;
        let Some(url) = config.database.as_deref() else {
            return Err(Error::Config("pinning: `pinning.lock_file` is a file: open it with Pins::open".into()));
        };
        let shared = Shared::connect(url).await?;
        let servers = shared.load().await.map_err(|e| shared.error(e))?;
        let first_use = servers.values().all(BTreeMap::is_empty);
        let wake = shared.wake.clone();
        let lock = LockFile { version: 1, servers };
        let pins = Arc::new(Pins::new(Store::Database(shared), config.on_change, lock, first_use));
        let weak = Arc::downgrade(&pins);
        let every = config.refresh();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = wake.notified() => {}
                }
                let Some(pins) = weak.upgrade() else { break };
                // A failure was reported once for the outage; the last pins read stay in force.
                let _ = pins.refresh().await;
            }
        });
        Ok(pins)
    }

    /// Writes queued first-use records and reads the table again (what the background refresh
    /// does); returns whether the pins changed, after telling the watchers. While the database is
    /// unreachable the last pins read stay in force, and the outage is logged once. Pins kept in a
    /// lock file never change: `Ok(false)`.
    pub async fn refresh(&self) -> Result<bool> {
        let Store::Database(shared) = &self.store else { return Ok(false) };
        let _one_at_a_time = shared.refreshing.lock().await;
        let read = async {
            shared.flush().await?;
            shared.load().await
        }
        .await;
        match read {
            Ok(servers) => {
                if shared.down.swap(false, Ordering::SeqCst) {
                    tracing::info!(database = %shared.shown, "the pin database is reachable again");
                }
                Ok(self.replace(servers, |servers| shared.overlay_pending(servers)))
            }
            Err(e) => {
                let error = shared.error(e);
                if !shared.down.swap(true, Ordering::SeqCst) {
                    tracing::warn!(%error, "pinning.database is unreachable: keeping the pins last read");
                }
                Err(error)
            }
        }
    }

    /// Ends the background refresh promptly once the pins are dropped.
    pub(super) fn wake_refresher(&self) {
        if let Store::Database(shared) = &self.store {
            shared.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use mcp_core::protocol::Tool;

    use super::super::{Pins, PinsConfig, Store};

    /// A definition recorded on first use while a refresh was reading the table (so the table as
    /// read lacks it) stays pinned when the refresh takes the table in.
    #[tokio::test]
    async fn a_definition_recorded_while_the_table_is_read_stays_pinned() {
        let dir = tempfile::tempdir().expect("temp");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("pins.db").display());
        let pins = Pins::connect(&PinsConfig::database(url)).await.expect("connects");
        let Store::Database(shared) = &pins.store else { panic!("pins in a database") };
        // The background refresh waits while this test plays one refresh step by step.
        let held = shared.refreshing.lock().await;
        let read = shared.load().await.expect("reads the table");
        let add =
            Tool::new("add", "Adds.", serde_json::json!({"type": "object"}).as_object().cloned().unwrap_or_default());
        assert!(pins.check("calc", std::slice::from_ref(&add)).expect("checks").is_empty(), "first use records");
        pins.seal();
        assert!(!pins.replace(read, |servers| shared.overlay_pending(servers)), "the record is kept");
        assert!(pins.check("calc", std::slice::from_ref(&add)).expect("checks").is_empty());
        assert!(!pins.is_flagged("calc", "add"));
        drop(held);
        pins.refresh().await.expect("writes and reads");
        assert_eq!(shared.load().await.expect("reads")["calc"].len(), 1, "written at the next refresh");
    }
}
