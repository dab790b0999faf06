//! The SQL sink and [`verify_database`] against real databases: embedded SQLite and PostgreSQL at
//! `MCPTK_TEST_POSTGRES_URL`, which `cargo xtask test` sets after starting Debian's PostgreSQL
//! (a missing one fails, never skips). Each PostgreSQL test works in a schema of its own (the
//! URL's `options=-c search_path=...`), so the tests run in parallel without sharing a table.

mod common;
#[path = "../../../tests/support/databases.rs"]
mod databases;

use std::path::Path;
use std::time::Duration;

use common::record;
use mcp_audit::{
    AuditLog, AuditOptions, AuditRecord, NewRecord, Replica, SqlSink, read_records, records, verify, verify_database,
};
use sqlx::AnyPool;

fn replica(id: &str) -> Replica {
    Replica::new(id).expect("a valid replica id")
}

/// The records of a log, each with its line as written (newline included).
fn file_rows(path: &Path) -> Vec<(AuditRecord, Vec<u8>)> {
    let mut records = records(path).expect("reads");
    let mut rows = Vec::new();
    while let Some(record) = records.next() {
        rows.push((record.expect("a record"), records.line().to_vec()));
    }
    rows
}

/// Records and their lines, as the sink takes them.
fn batch(rows: &[(AuditRecord, Vec<u8>)]) -> (Vec<AuditRecord>, Vec<u8>) {
    (rows.iter().map(|r| r.0.clone()).collect(), rows.iter().flat_map(|r| r.1.clone()).collect())
}

/// What the table should hold for one replica: each record's sequence number, hash and line.
fn expected(path: &Path) -> Vec<(i64, String, Option<String>)> {
    file_rows(path)
        .into_iter()
        .map(|(r, line)| {
            let line = String::from_utf8(line).expect("UTF-8");
            (r.seq as i64, r.hash, Some(line.trim_end_matches('\n').to_owned()))
        })
        .collect()
}

async fn pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPool::connect(url).await.expect("connects")
}

/// One replica's rows in the table.
async fn table(pool: &AnyPool, replica: &str) -> Vec<(i64, String, Option<String>)> {
    sqlx::query_as("SELECT seq, hash, line FROM mcp_audit WHERE replica = $1 ORDER BY seq")
        .bind(replica)
        .fetch_all(pool)
        .await
        .expect("rows")
}

async fn execute(pool: &AnyPool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn sqlite(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display())
}

/// A PostgreSQL URL whose tables live in a fresh schema named after the test.
async fn postgres(test: &str) -> String {
    let url = databases::postgres_url().expect("always some");
    let admin = pool(&url).await;
    let schema = format!("mcp_audit_test_{test}");
    execute(&admin, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    execute(&admin, &format!("CREATE SCHEMA {schema}")).await;
    admin.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Drops the schema of [`postgres`] once its test has passed (a failed one keeps it to look at;
/// the next run starts afresh).
async fn drop_schema(test: &str) {
    let admin = pool(&databases::postgres_url().expect("always some")).await;
    execute(&admin, &format!("DROP SCHEMA mcp_audit_test_{test} CASCADE")).await;
}

/// Records written while the database was unreachable are copied on start; later ones mirrored,
/// each with its line, so the table verifies as the file does.
async fn mirrors_the_log(url: &str) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    {
        let offline = AuditLog::open(&path, AuditOptions::default()).expect("opens");
        for n in 0..3 {
            offline.append(record(n)).await.expect("appends");
        }
    }
    let sink = SqlSink::connect(url, &replica("gw-0")).await.expect("connects");
    let (mirror, drain) = sink.clone().start(&path).await.expect("catches up");
    assert_eq!(sink.last_seq().await.expect("reads"), 3, "the records written while offline were copied");

    let log = AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("reopens");
    for n in 3..5 {
        log.append(record(n)).await.expect("appends");
    }
    // Draining waits for exactly what was sent so far: no polling.
    assert!(drain.drain(Duration::from_secs(10)).await, "records were not mirrored");
    assert_eq!(sink.last_seq().await.expect("reads"), 5);
    // Copying again changes nothing: rows are keyed by replica and sequence number.
    assert_eq!(sink.catch_up(&path).await.expect("catches up"), 0);

    let pool = pool(url).await;
    assert_eq!(table(&pool, "gw-0").await, expected(&path), "the table holds exactly the file's records and lines");
    let report = verify_database(url).await.expect("verifies");
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.replicas.len(), 1);
    let file = verify(&path).expect("verifies");
    assert_eq!((report.replicas[0].records, &report.replicas[0].last_hash), (5, &file.last_hash));
}

#[tokio::test]
async fn sqlite_mirrors_the_log() {
    let dir = tempfile::tempdir().expect("temp");
    mirrors_the_log(&sqlite(&dir)).await;
}

#[tokio::test]
async fn postgres_mirrors_the_log() {
    mirrors_the_log(&postgres("mirrors").await).await;
    drop_schema("mirrors").await;
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
    let sink = SqlSink::connect(url, &replica("gw-0")).await.expect("connects");
    let file = file_rows(&path);
    for part in [&file[..5], &file[20..25]] {
        let (records, lines) = batch(part);
        sink.insert(&records, &lines).await.expect("inserts");
    }

    let (mirror, drain) = sink.clone().start_bounded(&path, 4).await.expect("catches up");
    let pool = pool(url).await;
    assert_eq!(table(&pool, "gw-0").await, expected(&path), "the gaps were filled from the file");

    let log = AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..options() }).expect("reopens");
    let appends = (40..400).map(|n| {
        let log = log.clone();
        async move { log.append(record(n)).await.expect("appends") }
    });
    futures_util::future::join_all(appends).await;
    assert!(drain.drain(Duration::from_secs(30)).await, "the mirror caught up");
    let rows = table(&pool, "gw-0").await;
    assert_eq!(rows.len(), 400);
    assert_eq!(rows, expected(&path), "the table holds exactly the file's records");
    assert!(verify_database(url).await.expect("verifies").ok());
}

#[tokio::test]
async fn sqlite_fills_gaps_and_catches_up_what_its_full_queue_dropped() {
    let dir = tempfile::tempdir().expect("temp");
    fills_gaps_and_catches_up(&sqlite(&dir)).await;
}

#[tokio::test]
async fn postgres_fills_gaps_and_catches_up_what_its_full_queue_dropped() {
    fills_gaps_and_catches_up(&postgres("gaps").await).await;
    drop_schema("gaps").await;
}

/// A line of the file that is not a record cannot be mirrored: the catch-up copies the records
/// around it (and logs the line), and the table's gap there is named by `verify_database`.
#[tokio::test]
async fn sqlite_catches_up_around_a_line_that_is_not_a_record() {
    let dir = tempfile::tempdir().expect("temp");
    let url = sqlite(&dir);
    let path = dir.path().join("audit.jsonl");
    {
        let offline = AuditLog::open(&path, AuditOptions::default()).expect("opens");
        for n in 0..5 {
            offline.append(record(n)).await.expect("appends");
        }
    }
    let mut lines = common::lines(&path);
    lines[2] = "{not json".into();
    common::rewrite(&path, &lines);
    let sink = SqlSink::connect(&url, &replica("gw-0")).await.expect("connects");
    sink.catch_up(&path).await.expect("catches up");
    let seqs: Vec<i64> = table(&pool(&url).await, "gw-0").await.into_iter().map(|row| row.0).collect();
    assert_eq!(seqs, [1, 2, 4, 5]);
    let report = verify_database(&url).await.expect("verifies");
    let problem = report.replicas[0].problem.clone().expect("the gap is named");
    assert!(problem.seq == 4 && problem.reason.contains("record 3 is missing"), "{problem:?}");
}

/// A record of replica `who`: replicas writing the same call at the same millisecond still
/// write different records.
fn record_of(who: &str, n: u64) -> NewRecord {
    NewRecord { principal: who.into(), ..record(n) }
}

/// Three replicas (three logs, three ids), connecting at once to a table none has created yet
/// and appending concurrently: the table holds every record of each, and every chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_replicas_write_their_own_chains_into_one_table() {
    const N: u64 = 200;
    let url = postgres("three").await;
    let dir = tempfile::tempdir().expect("temp");
    let ids = ["gw-a", "gw-b", "gw-c"];
    let connects = ids.map(|id| {
        let url = url.clone();
        async move { SqlSink::connect(&url, &replica(id)).await }
    });
    let sinks = futures_util::future::join_all(connects).await;
    let mut replicas = Vec::new();
    for (id, sink) in ids.into_iter().zip(sinks) {
        let path = dir.path().join(format!("{id}.jsonl"));
        let (mirror, drain) = sink.expect("connects").start(&path).await.expect("starts");
        let log =
            AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("opens");
        replicas.push((id, path, log, drain));
    }
    let appends = replicas.iter().flat_map(|(id, _, log, _)| {
        (0..N).map(move |n| {
            let log = log.clone();
            async move { log.append(record_of(id, n)).await.expect("appends") }
        })
    });
    futures_util::future::join_all(appends).await;
    for (_, _, _, drain) in &replicas {
        assert!(drain.drain(Duration::from_secs(30)).await, "mirrored");
    }

    let pool = pool(&url).await;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mcp_audit").fetch_one(&pool).await.expect("counts");
    assert_eq!(count, 3 * N as i64, "no replica's records overwrote another's");
    for (id, path, _, _) in &replicas {
        assert_eq!(table(&pool, id).await, expected(path), "replica {id}'s rows are its file's");
    }
    let report = verify_database(&url).await.expect("verifies");
    assert!(report.ok(), "{report:?}");
    let found: Vec<_> = report.replicas.iter().map(|r| (r.replica.as_str(), r.records, r.not_verifiable)).collect();
    assert_eq!(found, [("gw-a", N, 0), ("gw-b", N, 0), ("gw-c", N, 0)]);
    for (r, (_, path, _, _)) in report.replicas.iter().zip(&replicas) {
        assert_eq!(r.last_hash, verify(path).expect("verifies").last_hash, "{}", r.replica);
    }
    drop_schema("three").await;
}

/// A TCP relay to PostgreSQL standing in for the network path to it: stopping it makes the
/// database unreachable (connections cut, new ones refused) without stopping the shared server.
struct Relay {
    port: u16,
    target: String,
    tasks: tokio::task::JoinSet<()>,
}

impl Relay {
    async fn start(target: String, port: u16) -> Relay {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuse");
        socket.bind(([127, 0, 0, 1], port).into()).expect("binds");
        let listener = socket.listen(64).expect("listens");
        let port = listener.local_addr().expect("address").port();
        let mut tasks = tokio::task::JoinSet::new();
        let to = target.clone();
        tasks.spawn(async move {
            // Dropped with this task, aborting every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                let to = to.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay { port, target, tasks }
    }

    /// Cuts every connection and closes the port.
    async fn stop(mut self) -> (String, u16) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        (self.target, self.port)
    }
}

/// `postgres://user:password@host:port/db?...` split around `host:port`.
fn split_host(url: &str) -> (&str, &str, &str) {
    let at = url.find('@').expect("a URL with credentials") + 1;
    let end = at + url[at..].find('/').expect("a database");
    (&url[..at], &url[at..end], &url[end..])
}

/// While the database is away the replica keeps writing its file (no append waits or fails);
/// when it comes back the running mirror copies what it missed; and records written while the
/// process was down are copied by the next process's catch-up. Nothing is lost; the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_replica_keeps_its_file_while_the_database_is_away_and_catches_up() {
    let url = postgres("away").await;
    let (before, host, after) = split_host(&url);
    let relay = Relay::start(host.to_owned(), 0).await;
    let relayed = format!("{before}127.0.0.1:{}{after}", relay.port);
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    let pool = pool(&url).await;

    let sink = SqlSink::connect(&relayed, &replica("gw-away")).await.expect("connects through the relay");
    let (mirror, drain) = sink.start_bounded(&path, 8).await.expect("starts");
    let log = AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("opens");
    for n in 0..5 {
        log.append(record(n)).await.expect("appends");
    }
    assert!(drain.drain(Duration::from_secs(10)).await, "mirrored");
    assert_eq!(table(&pool, "gw-away").await.len(), 5);

    let (target, port) = relay.stop().await;
    for n in 5..40 {
        tokio::time::timeout(Duration::from_secs(5), log.append(record(n)))
            .await
            .expect("the file never waits for the database")
            .expect("the file takes records while the database is away");
    }
    assert!(!drain.drain(Duration::from_millis(500)).await, "nothing can be stored while the database is away");
    assert_eq!(table(&pool, "gw-away").await.len(), 5, "the database was away");
    assert!(verify(&path).expect("verifies").ok());

    let relay = Relay::start(target, port).await;
    assert!(drain.drain(Duration::from_secs(60)).await, "the mirror caught up once the database was back");
    assert_eq!(table(&pool, "gw-away").await, expected(&path), "nothing was lost");

    // The process stops; records written meanwhile (here, with no mirror at all) are copied when a
    // new process connects.
    drop(log);
    relay.stop().await;
    {
        let alone = AuditLog::open(&path, AuditOptions::default()).expect("reopens");
        for n in 40..50 {
            alone.append(record(n)).await.expect("appends");
        }
    }
    let sink = SqlSink::connect(&url, &replica("gw-away")).await.expect("connects");
    let (_mirror, _drain) = sink.start(&path).await.expect("catches up");
    assert_eq!(table(&pool, "gw-away").await, expected(&path), "the restarted replica caught up");
    let report = verify_database(&url).await.expect("verifies");
    assert!(report.ok() && report.replicas[0].records == 50, "{report:?}");
    drop_schema("away").await;
}

/// Two replicas of 8 records each, mirrored.
async fn two_replicas(url: &str, dir: &Path) {
    for id in ["gw-a", "gw-b"] {
        let path = dir.join(format!("{id}.jsonl"));
        let (mirror, drain) =
            SqlSink::connect(url, &replica(id)).await.expect("connects").start(&path).await.expect("starts");
        let log =
            AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("opens");
        for n in 0..8 {
            log.append(record_of(id, n)).await.expect("appends");
        }
        assert!(drain.drain(Duration::from_secs(10)).await, "mirrored");
    }
}

/// The problems `verify_database` finds, as (replica, seq, reason) of each bad chain.
async fn problems(url: &str) -> Vec<(String, u64, String)> {
    let report = verify_database(url).await.expect("verifies");
    assert_eq!(report.replicas.len(), 2, "{report:?}");
    report.replicas.into_iter().filter_map(|r| r.problem).map(|p| (p.replica, p.seq, p.reason)).collect()
}

/// Edits, deletions and rows moved between replicas are each named by replica and record.
async fn tampering_is_named(url: &str) {
    let dir = tempfile::tempdir().expect("temp");
    two_replicas(url, dir.path()).await;
    let pool = pool(url).await;
    assert_eq!(problems(url).await, [], "untouched, both chains verify");

    // The line of record 4 (the call with trace id `trace-3`) edited.
    let edit =
        "UPDATE mcp_audit SET line = REPLACE(line, '\"trace-3\"', '\"trace-X\"') WHERE replica = 'gw-a' AND seq = 4";
    execute(&pool, edit).await;
    let found = problems(url).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].1), ("gw-a", 4), "{found:?}");
    assert!(found[0].2.contains("hash does not match its content"), "{found:?}");
    let undo =
        "UPDATE mcp_audit SET line = REPLACE(line, '\"trace-X\"', '\"trace-3\"') WHERE replica = 'gw-a' AND seq = 4";
    execute(&pool, undo).await;
    assert_eq!(problems(url).await, []);

    // A column edited, its line left alone: the columns are what reports read.
    execute(&pool, "UPDATE mcp_audit SET principal = 'mallory' WHERE replica = 'gw-b' AND seq = 2").await;
    let found = problems(url).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].1), ("gw-b", 2), "{found:?}");
    assert!(found[0].2.contains("`principal` column differs from its line"), "{found:?}");
    execute(&pool, "UPDATE mcp_audit SET principal = 'gw-b' WHERE replica = 'gw-b' AND seq = 2").await;

    // Record 5 of each replica swapped into the other's chain.
    execute(&pool, "UPDATE mcp_audit SET replica = 'swap' WHERE replica = 'gw-a' AND seq = 5").await;
    execute(&pool, "UPDATE mcp_audit SET replica = 'gw-a' WHERE replica = 'gw-b' AND seq = 5").await;
    execute(&pool, "UPDATE mcp_audit SET replica = 'gw-b' WHERE replica = 'swap' AND seq = 5").await;
    let found = problems(url).await;
    assert_eq!(found.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(), [("gw-a", 5), ("gw-b", 5)]);
    assert!(found.iter().all(|p| p.2.contains("does not link to record 4 of this replica")), "{found:?}");
    execute(&pool, "UPDATE mcp_audit SET replica = 'swap' WHERE replica = 'gw-a' AND seq = 5").await;
    execute(&pool, "UPDATE mcp_audit SET replica = 'gw-a' WHERE replica = 'gw-b' AND seq = 5").await;
    execute(&pool, "UPDATE mcp_audit SET replica = 'gw-b' WHERE replica = 'swap' AND seq = 5").await;
    assert_eq!(problems(url).await, [], "swapped back, both verify");

    // A line removed, so that nothing re-hashes the row, and a column edited under it.
    execute(&pool, "UPDATE mcp_audit SET line = NULL, outcome = 'ok' WHERE replica = 'gw-a' AND seq = 3").await;
    let found = problems(url).await;
    assert_eq!(found.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(), [("gw-a", 3)], "{found:?}");
    assert!(found[0].2.contains("its line is missing"), "{found:?}");
    execute(&pool, "DELETE FROM mcp_audit WHERE replica = 'gw-a' AND seq >= 3").await;
    assert_eq!(problems(url).await, [], "a chain cut at its end verifies as far as it goes (see verify --log)");

    // Deleted rows: one in the middle, and the first.
    execute(&pool, "DELETE FROM mcp_audit WHERE replica = 'gw-b' AND seq = 6").await;
    execute(&pool, "DELETE FROM mcp_audit WHERE replica = 'gw-a' AND seq = 1").await;
    let found = problems(url).await;
    assert_eq!(found.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(), [("gw-a", 2), ("gw-b", 7)]);
    assert!(found[0].2.contains("the chain starts at record 2: record 1 is not in the table"), "{found:?}");
    assert!(found[1].2.contains("record 6 is missing"), "{found:?}");
    let report = verify_database(url).await.expect("verifies");
    assert_eq!(report.replicas[1].records, 5, "the records before the gap verify");
}

#[tokio::test]
async fn sqlite_tampering_is_named_by_replica_and_record() {
    let dir = tempfile::tempdir().expect("temp");
    tampering_is_named(&sqlite(&dir)).await;
}

#[tokio::test]
async fn postgres_tampering_is_named_by_replica_and_record() {
    tampering_is_named(&postgres("tamper").await).await;
    drop_schema("tamper").await;
}

/// The table as the previous version made it: one chain, keyed by `seq` alone, no lines.
const OLD_TABLE: &str = "CREATE TABLE mcp_audit (
    seq BIGINT PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, principal TEXT NOT NULL, client TEXT,
    server TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL, arguments_digest TEXT NOT NULL,
    decision TEXT NOT NULL, rule TEXT, outcome TEXT NOT NULL, error TEXT, duration_ms DOUBLE PRECISION NOT NULL,
    trace_id TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)";

/// An old table's rows become the connecting replica's, without lines: `verify_database` says
/// they cannot be re-hashed but checks their order and links, and records mirrored after the
/// migration carry their lines. A second replica connecting later migrates nothing.
async fn migrates_the_old_table(url: &str) {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("audit.jsonl");
    {
        let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
        for n in 0..3 {
            log.append(record(n)).await.expect("appends");
        }
    }
    let pool = pool(url).await;
    execute(&pool, OLD_TABLE).await;
    for r in read_records(&path).expect("reads") {
        let b = &r.body;
        sqlx::query(
            "INSERT INTO mcp_audit (seq, time, kind, principal, client, server, tool, arguments, arguments_digest, \
             decision, rule, outcome, error, duration_ms, trace_id, prev, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
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
        .execute(&pool)
        .await
        .expect("an old row");
    }
    let refused = verify_database(url).await.expect_err("the old shape is not verified");
    assert!(refused.to_string().contains("the shape from before replica ids"), "{refused}");

    let sink = SqlSink::connect(url, &replica("gw-old")).await.expect("connects and migrates");
    let rows = table(&pool, "gw-old").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.2.is_none()), "migrated rows have no lines");
    let (mirror, drain) = sink.start(&path).await.expect("starts");
    let log = AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("opens");
    for n in 3..5 {
        log.append(record(n)).await.expect("appends");
    }
    assert!(drain.drain(Duration::from_secs(10)).await, "mirrored");
    let rows = table(&pool, "gw-old").await;
    let file = expected(&path);
    assert_eq!(rows[3..], file[3..], "new records carry their lines");
    assert_eq!(rows.iter().map(|r| &r.1).collect::<Vec<_>>(), file.iter().map(|r| &r.1).collect::<Vec<_>>());

    SqlSink::connect(url, &replica("gw-new")).await.expect("connects");
    assert_eq!(table(&pool, "gw-old").await, rows, "nothing migrated twice");
    let report = verify_database(url).await.expect("verifies");
    assert!(report.ok(), "{report:?}");
    let r = &report.replicas[0];
    assert_eq!((r.replica.as_str(), r.records, r.not_verifiable), ("gw-old", 5, 3));

    // The migrated rows are still checked for order and links.
    execute(&pool, "DELETE FROM mcp_audit WHERE replica = 'gw-old' AND seq = 2").await;
    let report = verify_database(url).await.expect("verifies");
    let problem = report.replicas[0].problem.as_ref().expect("a gap found");
    assert_eq!((problem.replica.as_str(), problem.seq), ("gw-old", 3));
}

#[tokio::test]
async fn sqlite_migrates_the_table_of_one_chain() {
    let dir = tempfile::tempdir().expect("temp");
    migrates_the_old_table(&sqlite(&dir)).await;
}

#[tokio::test]
async fn postgres_migrates_the_table_of_one_chain() {
    migrates_the_old_table(&postgres("migrate").await).await;
    drop_schema("migrate").await;
}

/// The URL may hold a password: no error says it.
#[tokio::test]
async fn errors_never_show_the_password() {
    let url = databases::postgres_url().expect("always some");
    let (before, host, after) = split_host(&url);
    let user = before.split("://").nth(1).and_then(|c| c.split(':').next()).expect("a user");
    let wrong = format!("postgres://{user}:not-the-Secret-42@{host}{after}");
    let error = verify_database(&wrong).await.expect_err("refused").to_string();
    assert!(!error.contains("not-the-Secret-42"), "{error}");
    let error = SqlSink::connect(&wrong, &replica("gw")).await.expect_err("refused").to_string();
    assert!(!error.contains("not-the-Secret-42") && error.contains("postgres audit database"), "{error}");
}

/// A replica id already holding another chain in the table (reused by a second writer, or with a
/// fresh log) is refused at start, rather than its records colliding with the other chain's.
#[tokio::test]
async fn sqlite_a_replica_id_holding_another_chain_is_refused() {
    let dir = tempfile::tempdir().expect("temp");
    let url = sqlite(&dir);
    let write = |name: &str, count: u64| {
        let path = dir.path().join(name);
        async move {
            let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
            for n in 0..count {
                log.append(record(n)).await.expect("appends");
            }
            path
        }
    };
    let first = write("first.jsonl", 3).await;
    let sink = SqlSink::connect(&url, &replica("gw-r")).await.expect("connects");
    sink.clone().start(&first).await.expect("starts");
    // The same log again (a restart) continues its chain.
    sink.clone().start(&first).await.expect("starts again");
    for other in [write("second.jsonl", 2).await, dir.path().join("empty.jsonl")] {
        let refused = sink.clone().start(&other).await.expect_err("another chain under the same id").to_string();
        assert!(refused.contains("already holds another chain for replica `gw-r`"), "{refused}");
    }
    // Under an id of its own, the second log is welcome.
    let other = SqlSink::connect(&url, &replica("gw-s")).await.expect("connects");
    other.start(&dir.path().join("second.jsonl")).await.expect("starts");
    assert!(verify_database(&url).await.expect("verifies").ok());
}

/// Two writers configured with one replica id: the second one's records are refused with the
/// reason, never dropped in silence (both logs keep theirs); the first one's own retry is fine.
async fn a_second_writer_with_the_same_id_is_refused(url: &str) {
    let dir = tempfile::tempdir().expect("temp");
    let mut rows = Vec::new();
    for (name, offset) in [("a.jsonl", 0), ("b.jsonl", 10)] {
        let path = dir.path().join(name);
        let log = AuditLog::open(&path, AuditOptions::default()).expect("opens");
        for n in 0..2 {
            log.append(record(offset + n)).await.expect("appends");
        }
        drop(log);
        rows.push(file_rows(&path));
    }
    let a = SqlSink::connect(url, &replica("shared-id")).await.expect("connects");
    let b = SqlSink::connect(url, &replica("shared-id")).await.expect("connects");
    let (records, lines) = batch(&rows[0]);
    a.insert(&records, &lines).await.expect("stored");
    a.insert(&records, &lines).await.expect("a retry of the same records changes nothing");
    let (records, lines) = batch(&rows[1]);
    let refused = b.insert(&records, &lines).await.expect_err("another chain under the same id");
    let message = refused.to_string();
    assert!(message.contains("another writer uses this id") && message.contains("shared-id"), "{message}");
}

#[tokio::test]
async fn sqlite_refuses_a_second_writer_with_the_same_id() {
    let dir = tempfile::tempdir().expect("temp");
    a_second_writer_with_the_same_id_is_refused(&sqlite(&dir)).await;
}

#[tokio::test]
async fn postgres_refuses_a_second_writer_with_the_same_id() {
    let url = postgres("second_writer").await;
    a_second_writer_with_the_same_id_is_refused(&url).await;
    drop_schema("second_writer").await;
}
