//! The SQL sink against real databases: embedded SQLite always; PostgreSQL through
//! `MCPTK_TEST_POSTGRES_URL`, which CI sets after starting Debian's PostgreSQL (and where
//! `MCPTK_REQUIRE_POSTGRES=1` makes its absence a failure rather than a skip).

#[path = "../../../tests/support/databases.rs"]
mod databases;

use std::time::Duration;

use mcp_audit::{AuditLog, AuditOptions, NewRecord, SqlSink, read_records};

fn record(n: u32) -> NewRecord {
    NewRecord {
        kind: "tool_call".into(),
        principal: "alice".into(),
        server: "fs".into(),
        tool: "read_text_file".into(),
        arguments: serde_json::json!({ "path": format!("/data/{n}") }),
        decision: "allow".into(),
        outcome: "ok".into(),
        trace_id: format!("t{n}"),
        ..NewRecord::default()
    }
}

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
}
