//! The SQL sink against real databases: embedded SQLite and PostgreSQL at
//! `MCPTK_TEST_POSTGRES_URL`, which `cargo xtask test` sets after starting Debian's PostgreSQL
//! (a missing one fails, never skips).

mod common;
#[path = "../../../tests/support/databases.rs"]
mod databases;

use std::time::Duration;

use common::record;
use mcp_audit::{AuditLog, AuditOptions, SqlSink, read_records};

/// Records written while the database was unreachable are copied on start; later ones mirrored.
async fn check(url: &str) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    {
        let offline = AuditLog::open(&path, AuditOptions::default()).expect("opens");
        for n in 0..3 {
            offline.append(record(n)).await.expect("appends");
        }
    }
    let sink = SqlSink::connect(url).await.expect("connects");
    let (mirror, drain) = sink.clone().start(&path).await.expect("catches up");
    assert_eq!(sink.last_seq().await.expect("reads"), 3, "the records written while offline were copied");

    let log = AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("reopens");
    for n in 3..5 {
        log.append(record(n)).await.expect("appends");
    }
    // Draining waits for exactly what was sent so far: no polling.
    assert!(drain.drain(Duration::from_secs(10)).await, "records were not mirrored");
    assert_eq!(sink.last_seq().await.expect("reads"), 5);
    // Copying again changes nothing: rows are keyed by sequence number.
    assert_eq!(sink.catch_up(&path).await.expect("catches up"), 0);

    let pool = sqlx::AnyPool::connect(url).await.expect("connects");
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM mcp_audit ORDER BY seq").fetch_all(&pool).await.expect("rows");
    let file: Vec<(i64, String)> =
        read_records(&path).expect("reads").into_iter().map(|r| (r.seq as i64, r.hash)).collect();
    assert_eq!(rows, file, "the table holds exactly the file's records, hashes included");
}

#[tokio::test]
async fn sqlite_mirrors_the_log() {
    let dir = tempfile::tempdir().expect("temp");
    check(&format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display())).await;
}

#[tokio::test]
async fn postgres_mirrors_the_log() {
    let Some(url) = databases::postgres_url() else { return };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connects");
    sqlx::query("DROP TABLE IF EXISTS mcp_audit").execute(&pool).await.expect("fresh table");
    check(&url).await;
    // One test for the one table, so that the two cases do not run at once.
    sqlx::query("DROP TABLE IF EXISTS mcp_audit").execute(&pool).await.expect("fresh table");
    fills_gaps_and_catches_up(&url).await;
}

/// A gap in the table (records stored after a batch was dropped) is filled from the file, across
/// segments; a queue too small for the load drops batches, and the mirror copies them from the
/// file: in the end the table holds exactly the file's records.
async fn fills_gaps_and_catches_up(url: &str) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let options = || AuditOptions { segment_bytes: 4096, ..AuditOptions::default() };
    {
        let offline = AuditLog::open(&path, options()).expect("opens");
        for n in 0..40 {
            offline.append(record(n)).await.expect("appends");
        }
    }
    assert!(path.with_file_name("audit.jsonl.000002").exists(), "the log spans segments");
    let sink = SqlSink::connect(url).await.expect("connects");
    let file = read_records(&path).expect("reads");
    sink.insert(&file[..5]).await.expect("inserts");
    sink.insert(&file[20..25]).await.expect("inserts");

    let (mirror, drain) = sink.clone().start_bounded(&path, 4).await.expect("catches up");
    let pool = sqlx::AnyPool::connect(url).await.expect("connects");
    let table = || async {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM mcp_audit ORDER BY seq").fetch_all(&pool).await.expect("rows");
        rows
    };
    let in_file = || -> Vec<(i64, String)> {
        read_records(&path).expect("reads").into_iter().map(|r| (r.seq as i64, r.hash)).collect()
    };
    assert_eq!(table().await, in_file(), "the gaps were filled from the file");

    let log = AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..options() }).expect("reopens");
    let appends = (40..400).map(|n| {
        let log = log.clone();
        async move { log.append(record(n)).await.expect("appends") }
    });
    futures_util::future::join_all(appends).await;
    assert!(drain.drain(Duration::from_secs(30)).await, "the mirror caught up");
    let rows = table().await;
    assert_eq!(rows.len(), 400);
    assert_eq!(rows, in_file(), "the table holds exactly the file's records");
}

#[tokio::test]
async fn sqlite_fills_gaps_and_catches_up_what_its_full_queue_dropped() {
    let dir = tempfile::tempdir().expect("temp");
    fills_gaps_and_catches_up(&format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display())).await;
}
