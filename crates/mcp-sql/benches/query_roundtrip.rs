//! A one-row query's round trip, measured side by side in one run: sqlx directly, our `Database`
//! in-process (statement guard plus read-only mode), and our MCP server over stdio (`read_query`).
//! SQLite always; PostgreSQL and MySQL/MariaDB too when `MCPTK_TEST_POSTGRES_URL` and
//! `MCPTK_TEST_MYSQL_URL` are set. Run with `cargo xtask bench`.
//!
//! The MCP server is this benchmark re-executed with `MCP_BENCH_SQL_URL` set.

use std::time::Instant;

use mcp_core::config::StdioServer;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{Client, ClientOptions, Server};
use mcp_sql::{Database, Dialect, Limits, SqlServer};
use serde_json::json;

const CALLS: usize = 2_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Ok(url) = std::env::var("MCP_BENCH_SQL_URL") {
        runtime.block_on(async {
            let db = Database::connect(&url, Limits::default()).await.expect("connects");
            Server::builder(Implementation::new("bench-sql", "1"), SqlServer::new(db).registry())
                .build()
                .serve_stdio()
                .await
                .expect("serves");
        });
        return;
    }
    runtime.block_on(measure());
}

fn rate(started: Instant) -> f64 {
    CALLS as f64 / started.elapsed().as_secs_f64()
}

/// sqlx alone on `$pool`: the floor the other two are measured against.
macro_rules! direct {
    ($pool:ty, $url:expr, $sql:expr) => {{
        let pool = <$pool>::connect($url).await.expect("connects");
        let started = Instant::now();
        for i in 0..CALLS {
            let rows = sqlx::query($sql).bind((i % 1000) as i64 + 1).fetch_all(&pool).await.expect("query");
            assert_eq!(rows.len(), 1);
        }
        rate(started)
    }};
}

async fn in_process(url: &str, sql: &str) -> f64 {
    let db = Database::connect(url, Limits::default()).await.expect("connects");
    let started = Instant::now();
    for i in 0..CALLS {
        let result = db.query(sql, &[json!((i % 1000) + 1)]).await.expect("query");
        assert_eq!(result.rows.len(), 1);
    }
    rate(started)
}

async fn over_mcp(url: &str, sql: &str) -> f64 {
    let mut server =
        StdioServer::new(std::env::current_exe().expect("own path").display().to_string(), Vec::<String>::new());
    server.env.insert("MCP_BENCH_SQL_URL".into(), url.to_owned());
    let client = Client::spawn("bench", &server, ClientOptions::default()).await.expect("starts");
    let started = Instant::now();
    for i in 0..CALLS {
        let mut args = JsonObject::new();
        args.insert("query".into(), sql.into());
        args.insert("params".into(), json!([(i % 1000) + 1]));
        let result = client.call_tool("read_query", args).await.expect("call");
        assert!(!result.is_error(), "{}", result.text_content());
    }
    let r = rate(started);
    client.close().await.expect("closes");
    r
}

async fn report(name: &str, url: &str, dialect: Dialect) {
    let sql = match dialect {
        Dialect::Postgres => "SELECT id, name, price FROM bench_items WHERE id = $1",
        _ => "SELECT id, name, price FROM bench_items WHERE id = ?",
    };
    // Warm-up, then the three side by side.
    let _ = in_process(url, sql).await;
    let direct = match dialect {
        Dialect::Postgres => direct!(sqlx::PgPool, url, sql),
        Dialect::MySql => direct!(sqlx::MySqlPool, url, sql),
        _ => direct!(sqlx::SqlitePool, url, sql),
    };
    let guarded = in_process(url, sql).await;
    let mcp = over_mcp(url, sql).await;
    println!("{name}: sqlx directly      {direct:>9.0} queries/s");
    println!("{name}: Database (guarded) {guarded:>9.0} queries/s  ({:.2}x slower)", direct / guarded);
    println!("{name}: MCP read_query     {mcp:>9.0} queries/s  ({:.2}x slower)", direct / mcp);
}

const SETUP: &str = "DROP TABLE IF EXISTS bench_items;
    CREATE TABLE bench_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL);
    INSERT INTO bench_items (id, name, price)
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
    SELECT i, 'item ' || i, i * 0.25 FROM n;";

async fn measure() {
    let dir = tempfile::tempdir().expect("temp");
    let url = format!("sqlite:{}", dir.path().join("bench.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true)).await.expect("sqlite");
    sqlx::raw_sql(SETUP).execute(&pool).await.expect("setup");
    report("SQLite", &url, Dialect::Sqlite).await;

    if let Ok(url) = std::env::var("MCPTK_TEST_POSTGRES_URL") {
        let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
        sqlx::raw_sql(SETUP).execute(&pool).await.expect("setup");
        report("PostgreSQL", &url, Dialect::Postgres).await;
        sqlx::raw_sql("DROP TABLE bench_items").execute(&pool).await.expect("cleanup");
    }
    if let Ok(url) = std::env::var("MCPTK_TEST_MYSQL_URL") {
        let pool = sqlx::MySqlPool::connect(&url).await.expect("mysql");
        // `||` is OR on MySQL: the names are built with concat().
        sqlx::raw_sql(&SETUP.replace("'item ' || i", "concat('item ', i)")).execute(&pool).await.expect("setup");
        report("MariaDB", &url, Dialect::MySql).await;
        sqlx::raw_sql("DROP TABLE bench_items").execute(&pool).await.expect("cleanup");
    }
}
