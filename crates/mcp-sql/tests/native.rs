//! The native backend against real databases: SQLite (a file), PostgreSQL at
//! `MCPTK_TEST_POSTGRES_URL` and MariaDB (or MySQL) at `MCPTK_TEST_MYSQL_URL`, which
//! `cargo xtask test` sets after starting Debian's packages (a missing one fails, never skips).
//! The same suite runs on all three.

#[path = "../../../tests/support/databases.rs"]
mod databases;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_sql::{Database, Dialect, Limits, SqlError};
use serde_json::{Value, json};

const SETUP: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL);
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total INTEGER);
    INSERT INTO users (id, name, score) VALUES (1, 'ada', 9.5), (2, 'bob', NULL), (3, 'eve', 1.25);
    INSERT INTO orders (id, user_id, total) VALUES (10, 1, 100), (11, 3, 7);";

/// A database with the fixture tables, a writer to inspect it behind the backend's back, and the URL
/// the backend under test connects with.
struct Fixture {
    dialect: Dialect,
    url: String,
    writer: Writer,
    _dir: Option<tempfile::TempDir>,
}

enum Writer {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let options: sqlx::sqlite::SqliteConnectOptions =
            url.parse::<sqlx::sqlite::SqliteConnectOptions>().expect("url").create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("sqlite");
        sqlx::raw_sql(SETUP).execute(&pool).await.expect("setup");
        Fixture { dialect: Dialect::Sqlite, url, writer: Writer::Sqlite(pool), _dir: Some(dir) }
    }

    /// A fresh schema on the test server, made the search path of every connection to it.
    async fn postgres() -> Option<Fixture> {
        let base = databases::postgres_url()?;
        let schema = format!("mcp_sql_{}", std::process::id() ^ rand_suffix());
        let admin = sqlx::PgPool::connect(&base).await.expect("postgres");
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
        sqlx::raw_sql(SETUP).execute(&pool).await.expect("setup");
        Some(Fixture { dialect: Dialect::Postgres, url, writer: Writer::Postgres(pool), _dir: None })
    }

    /// A fresh database on the test server.
    async fn mysql() -> Option<Fixture> {
        let base = databases::mysql_url()?;
        let name = format!("mcp_sql_{}", std::process::id() ^ rand_suffix());
        let admin = sqlx::MySqlPool::connect(&base).await.expect("mysql");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("database");
        let server = base.rsplit_once('/').map_or(base.as_str(), |(server, _)| server);
        let url = format!("{server}/{name}");
        let pool = sqlx::MySqlPool::connect(&url).await.expect("mysql");
        sqlx::raw_sql(SETUP).execute(&pool).await.expect("setup");
        Some(Fixture { dialect: Dialect::MySql, url, writer: Writer::MySql(pool), _dir: None })
    }

    async fn all() -> Vec<Fixture> {
        let mut all = vec![Fixture::sqlite().await];
        all.extend(Fixture::postgres().await);
        all.extend(Fixture::mysql().await);
        all
    }

    async fn database(&self, limits: Limits) -> Database {
        Database::connect(&self.url, limits).await.expect("connect")
    }

    /// Everything in the fixture tables, read by the writer, to show nothing changed.
    async fn snapshot(&self) -> String {
        let query = match self.dialect {
            Dialect::Postgres => {
                "SELECT string_agg(id || '=' || name || '=' || coalesce(score::text, '-'), ',' ORDER BY id) FROM users"
            }
            Dialect::MySql => {
                "SELECT CAST(group_concat(concat(id, '=', name, '=', coalesce(score, '-')) ORDER BY id SEPARATOR ',') \
                 AS CHAR) FROM users"
            }
            _ => {
                "SELECT group_concat(id || '=' || name || '=' || coalesce(score, '-'), ',') FROM (SELECT * FROM users ORDER BY id)"
            }
        };
        let orders = "SELECT count(*) FROM orders";
        match &self.writer {
            Writer::Sqlite(p) => {
                let u: String = sqlx::query_scalar(query).fetch_one(p).await.expect("snapshot");
                let o: i64 = sqlx::query_scalar(orders).fetch_one(p).await.expect("snapshot");
                format!("{u}|{o}")
            }
            Writer::Postgres(p) => {
                let u: String = sqlx::query_scalar(query).fetch_one(p).await.expect("snapshot");
                let o: i64 = sqlx::query_scalar(orders).fetch_one(p).await.expect("snapshot");
                format!("{u}|{o}")
            }
            Writer::MySql(p) => {
                let u: String = sqlx::query_scalar(query).fetch_one(p).await.expect("snapshot");
                let o: i64 = sqlx::query_scalar(orders).fetch_one(p).await.expect("snapshot");
                format!("{u}|{o}")
            }
        }
    }

    async fn execute(&self, sql: &str) {
        match &self.writer {
            Writer::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(drop),
            Writer::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(drop),
            Writer::MySql(p) => sqlx::raw_sql(sql).execute(p).await.map(drop),
        }
        .expect("writer statement");
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos())
}

fn param(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// A database that cannot be reached says which one and why, at once (a refused connection is
/// not retried until a pool timeout), and never shows the password.
#[tokio::test]
async fn a_failed_first_connection_names_the_target_and_the_cause() {
    // Port 1 on the loopback: nothing listens there, so the connection is refused.
    for (url, target) in [
        ("postgres://reader:pw-Secret-31@127.0.0.1:1/shop", "postgres://127.0.0.1:1/shop"),
        ("mysql://reader:pw-Secret-31@127.0.0.1:1/shop", "mysql://127.0.0.1:1/shop"),
        ("sqlite:/no/such/folder/shop.db?mode=ro", "sqlite:/no/such/folder/shop.db"),
    ] {
        let err = Database::connect(url, Limits::default()).await.expect_err("nothing to connect to");
        let message = err.to_string();
        assert!(message.starts_with(&format!("cannot connect to {target}: ")), "{message}");
        assert!(!message.contains("pw-Secret-31") && !message.contains("timed out"), "{message}");
        if !url.starts_with("sqlite") {
            assert!(message.to_lowercase().contains("refused"), "{message}");
        }
    }
}

#[tokio::test]
async fn reads_with_bound_parameters_and_typed_results() {
    for f in Fixture::all().await {
        let db = f.database(Limits::default()).await;
        let sql = format!(
            "SELECT id, name, score FROM users WHERE name = {} OR id = {} ORDER BY id",
            param(f.dialect, 1),
            param(f.dialect, 2)
        );
        // The name parameter carries an injection attempt: bound, it is only a string.
        let result = db.query(&sql, &[json!("ada' OR '1'='1"), json!(3)]).await.expect("query");
        let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "score"], "{:?}", f.dialect);
        assert_eq!(result.rows, vec![vec![json!(3), json!("eve"), json!(1.25)]], "{:?}", f.dialect);
        assert_eq!(result.truncated, None);

        let result = db.query("SELECT id, score FROM users ORDER BY id", &[]).await.expect("query");
        assert_eq!(result.rows[1], vec![json!(2), Value::Null], "NULL comes back as null");
    }
}

/// A parameter missing or left over is an error that says so, before the statement runs, on
/// every backend: SQLite would bind a missing one as NULL and ignore an extra one, answering
/// another question than the one asked.
#[tokio::test]
async fn parameters_must_match_the_placeholders() {
    for f in Fixture::all().await {
        let db = f.database(Limits::default()).await;
        let one = format!("SELECT name FROM users WHERE id = {}", param(f.dialect, 1));
        let two = format!("SELECT {} AS a, {} AS b", param(f.dialect, 1), param(f.dialect, 2));
        for (sql, params, expected, given) in [
            (one.as_str(), vec![], 1, 0),
            (two.as_str(), vec![json!(1)], 2, 1),
            ("SELECT 1", vec![json!(1), json!(2)], 0, 2),
        ] {
            let err = db.query(sql, &params).await.expect_err("refused");
            assert!(
                matches!(err, SqlError::Parameters { expected: e, given: g } if e == expected && g == given),
                "{:?} {sql}: {err}",
                f.dialect
            );
            assert!(err.to_string().contains(&format!("{expected} placeholder(s) but {given} parameter(s)")), "{err}");
        }
        assert_eq!(db.query(&one, &[json!(1)]).await.expect("runs").rows, vec![vec![json!("ada")]], "{:?}", f.dialect);
        let before = f.snapshot().await;
        let writer = Database::connect_writable(&f.url, Limits::default()).await.expect("connect");
        let update = format!("UPDATE users SET name = {} WHERE id = {}", param(f.dialect, 1), param(f.dialect, 2));
        let err = writer.execute(&update, &[json!("x")]).await.expect_err("refused");
        assert!(matches!(err, SqlError::Parameters { expected: 2, given: 1 }), "{:?}: {err}", f.dialect);
        assert_eq!(f.snapshot().await, before, "{:?}: the refused write changed the data", f.dialect);
    }
}

#[tokio::test]
async fn every_refused_statement_leaves_the_database_unchanged() {
    let cases = include_str!("data/refused.txt");
    for f in Fixture::all().await {
        let db = f.database(Limits::default()).await;
        let before = f.snapshot().await;
        let tag = match f.dialect {
            Dialect::Postgres => "pg",
            Dialect::MySql => "mysql",
            _ => "sqlite",
        };
        let mut ran = 0;
        for line in cases.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let parts: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
            if parts[0] != "all" && parts[0] != tag {
                continue;
            }
            ran += 1;
            let err = db.query(parts[2], &[]).await.expect_err(parts[2]);
            assert!(!matches!(err, SqlError::Database(_)), "refused only by the database: {line}: {err}");
        }
        assert!(ran > 20, "{:?}: only {ran} cases", f.dialect);
        assert_eq!(f.snapshot().await, before, "{:?}: the database changed", f.dialect);
    }
}

#[tokio::test]
async fn the_read_only_mode_is_a_second_lock() {
    for f in Fixture::all().await {
        let db = f.database(Limits::default()).await;
        let before = f.snapshot().await;
        match f.dialect {
            Dialect::Postgres => {
                // A function the guard cannot know writes: only the read-only transaction stops it.
                f.execute(
                    "CREATE FUNCTION purge() RETURNS integer LANGUAGE sql VOLATILE AS \
                     'DELETE FROM users; SELECT 0'",
                )
                .await;
                let err = db.query("SELECT purge()", &[]).await.expect_err("purge ran");
                assert!(err.to_string().contains("read-only transaction"), "{err}");
            }
            Dialect::MySql => {
                f.execute(
                    "CREATE FUNCTION wipe() RETURNS INT MODIFIES SQL DATA \
                     BEGIN DELETE FROM users; RETURN 0; END",
                )
                .await;
                let err = db.query("SELECT wipe()", &[]).await.expect_err("wipe ran");
                assert!(err.to_string().contains("READ ONLY transaction"), "{err}");
            }
            _ => {
                let result = db.query("SELECT * FROM pragma_query_only", &[]).await.expect("pragma");
                assert_eq!(result.rows, vec![vec![json!(1)]], "query_only is on");
            }
        }
        assert_eq!(f.snapshot().await, before, "{:?}", f.dialect);
    }
}

#[tokio::test]
async fn results_are_capped_and_the_cut_is_marked() {
    for f in Fixture::all().await {
        let rows = f.database(Limits { max_rows: 2, ..Limits::default() }).await;
        let result = rows.query("SELECT id FROM users ORDER BY id", &[]).await.expect("query");
        assert_eq!(result.rows, vec![vec![json!(1)], vec![json!(2)]]);
        assert!(result.truncated.as_deref().is_some_and(|t| t.contains("more than 2 rows")));

        let bytes = f.database(Limits { max_bytes: 12, ..Limits::default() }).await;
        let result = bytes.query("SELECT name FROM users ORDER BY id", &[]).await.expect("query");
        assert_eq!(result.rows.len(), 2, "{:?}", result);
        assert!(result.truncated.as_deref().is_some_and(|t| t.contains("12 bytes")));
    }
}

#[tokio::test]
async fn a_runaway_statement_is_stopped_at_its_timeout() {
    for f in Fixture::all().await {
        let limits = Limits { statement_timeout: Duration::from_millis(300), ..Limits::default() };
        let db = f.database(limits).await;
        let sql = match f.dialect {
            // MariaDB stops recursion after 1000 rounds by default: a cross join runs long instead.
            Dialect::MySql => {
                "SELECT count(*) FROM information_schema.collations a, information_schema.collations b, \
                 information_schema.collations c, information_schema.collations d"
            }
            _ => "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
        };
        let err = db.query(sql, &[]).await.expect_err("endless query returned");
        let text = err.to_string();
        assert!(text.contains("timeout") || text.contains("statement timeout"), "{:?}: {text}", f.dialect);
        // The connection is still usable afterwards.
        db.query("SELECT 1", &[]).await.expect("usable after a timeout");
    }
}

#[tokio::test]
async fn postgres_types_have_json_forms() {
    let Some(f) = Fixture::postgres().await else { return };
    let db = f.database(Limits::default()).await;
    let sql = "SELECT true AS b, 7::int2 AS s, 2::int8 AS l, 1.50::numeric AS n, 0.5::float4 AS f, \
               '{\"a\": [1]}'::jsonb AS j, 'hi'::bytea AS bin, DATE '2026-11-26' AS d, \
               TIMESTAMPTZ '2026-11-26 10:00:00+00' AS ts, \
               '6f1c1b1e-8a44-4c5e-9d0e-0b5f7f5d2a10'::uuid AS u, ARRAY['x', 'y'] AS arr, NULL::int AS nothing";
    let result = db.query(sql, &[]).await.expect("query");
    let types: Vec<&str> = result.columns.iter().map(|c| c.type_name.as_str()).collect();
    assert_eq!(
        types,
        [
            "BOOL",
            "INT2",
            "INT8",
            "NUMERIC",
            "FLOAT4",
            "JSONB",
            "BYTEA",
            "DATE",
            "TIMESTAMPTZ",
            "UUID",
            "TEXT[]",
            "INT4"
        ]
    );
    assert_eq!(
        result.rows[0],
        vec![
            json!(true),
            json!(7),
            json!(2),
            json!("1.50"),
            json!(0.5),
            json!({"a": [1]}),
            json!("aGk="),
            json!("2026-11-26"),
            json!("2026-11-26T10:00:00+00:00"),
            json!("6f1c1b1e-8a44-4c5e-9d0e-0b5f7f5d2a10"),
            json!(["x", "y"]),
            Value::Null,
        ]
    );
    let err = db.query("SELECT '127.0.0.1'::inet AS addr", &[]).await.expect_err("inet has no JSON form");
    assert!(err.to_string().contains("`addr` has type INET"), "{err}");
}

#[tokio::test]
async fn mysql_types_have_json_forms() {
    let Some(f) = Fixture::mysql().await else { return };
    f.execute(
        "CREATE TABLE kinds (b BOOLEAN, t TINYINT, u INT UNSIGNED, big BIGINT, d DECIMAL(6,2), \
         x DOUBLE, v VARCHAR(10), bin VARBINARY(4), day DATE, at DATETIME, j JSON, e ENUM('a','b'));
         INSERT INTO kinds VALUES (TRUE, -3, 4000000000, 9007199254740993, 1.50, 0.25, 'hi', 'hi', \
         '2026-11-26', '2026-11-26 10:00:00', '{\"a\": [1]}', 'b'), \
         (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .await;
    let db = f.database(Limits::default()).await;
    let result = db.query("SELECT * FROM kinds", &[]).await.expect("query");
    let first = &result.rows[0];
    assert_eq!(first[0], json!(true), "{:?}", result.columns);
    assert_eq!(
        &first[1..8],
        &[
            json!(-3),
            json!(4_000_000_000u64),
            json!(9_007_199_254_740_993i64),
            json!("1.50"),
            json!(0.25),
            json!("hi"),
            json!("aGk=")
        ]
    );
    assert_eq!(&first[8..10], &[json!("2026-11-26"), json!("2026-11-26 10:00:00")]);
    // MariaDB keeps JSON as text; MySQL has a JSON type.
    assert!(first[10] == json!({"a": [1]}) || first[10] == json!("{\"a\": [1]}"), "{} {:?}", first[10], result.columns);
    assert_eq!(first[11], json!("b"));
    assert!(result.rows[1].iter().all(Value::is_null), "{:?}", result.rows[1]);
}

#[tokio::test]
async fn a_writable_connection_writes_one_checked_statement_at_a_time() {
    for f in Fixture::all().await {
        let read_only = f.database(Limits::default()).await;
        let insert = format!(
            "INSERT INTO orders (id, user_id, total) VALUES (20, {}, {})",
            param(f.dialect, 1),
            param(f.dialect, 2)
        );
        match read_only.execute(&insert, &[json!(2), json!(5)]).await {
            Err(SqlError::ReadOnlyConnection) => {}
            other => panic!("a read-only connection wrote: {other:?}"),
        }

        let db = Database::connect_writable(&f.url, Limits::default()).await.expect("connect");
        let done = db.execute(&insert, &[json!(2), json!(5)]).await.expect("insert");
        assert_eq!(done.rows_affected, Some(1), "{:?}", f.dialect);
        let done =
            db.execute("UPDATE orders SET total = total + 1 WHERE user_id IN (1, 3)", &[]).await.expect("update");
        assert_eq!(done.rows_affected, Some(2));
        // A statement that changes no row says so, whatever the one before it changed.
        let done = db.execute("CREATE TABLE notes (body TEXT)", &[]).await.expect("create");
        assert_eq!(done.rows_affected, Some(0), "{:?}", f.dialect);
        let err = db.execute("DELETE FROM orders; DROP TABLE users", &[]).await.expect_err("stacked");
        assert!(matches!(err, SqlError::Stacked { count: 2 }), "{err}");
        // Reads on a writable connection are still held to the read-only rule.
        let err = db.query("DELETE FROM orders", &[]).await.expect_err("a write through query");
        assert!(matches!(err, SqlError::ReadsOnly { .. }), "{err}");
        assert!(err.to_string().contains("writes through `write_query`"), "{err}");
        assert!(f.snapshot().await.ends_with("|3"), "one order added: {}", f.snapshot().await);
    }
}

#[tokio::test]
async fn the_schema_lists_every_column_of_every_table() {
    for f in Fixture::all().await {
        let db = f.database(Limits::default()).await;
        let schema = db.schema().await.expect("schema");
        let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["table", "column", "type", "nullable", "primary_key"]);
        let pairs: Vec<String> = schema
            .rows
            .iter()
            .map(|r| format!("{}.{}", r[0].as_str().unwrap_or("?"), r[1].as_str().unwrap_or("?")))
            .collect();
        assert_eq!(
            pairs,
            ["orders.id", "orders.user_id", "orders.total", "users.id", "users.name", "users.score"],
            "{:?}",
            f.dialect
        );
        let name = schema.rows.iter().find(|r| r[1] == "name").expect("users.name");
        let pk = schema.rows.iter().find(|r| r[0] == "users" && r[1] == "id").expect("users.id");
        // SQLite answers booleans as integers, PostgreSQL as booleans.
        let truthy = |v: &Value| v == &json!(true) || v == &json!(1);
        assert!(!truthy(&name[3]) && !truthy(&name[4]), "name is NOT NULL and not a key: {name:?}");
        assert!(truthy(&pk[4]), "id is the primary key: {pk:?}");
    }
}

/// A model that answers from a script and keeps what it was asked. This crate knows no model API;
/// the OpenAI-compatible model the gateway plugs in is tested there against an endpoint stand-in.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<String, String>>>,
    asked: Mutex<Vec<(String, String)>>,
}

impl Scripted {
    fn new(answers: impl IntoIterator<Item = Result<&'static str, &'static str>>) -> Arc<Self> {
        let answers = answers.into_iter().map(|a| a.map(str::to_owned).map_err(str::to_owned)).collect();
        Arc::new(Scripted { answers: Mutex::new(answers), asked: Mutex::default() })
    }
}

#[async_trait::async_trait]
impl mcp_sql::SqlModel for Scripted {
    async fn answer(&self, system: &str, question: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        self.asked.lock().expect("lock").push((system.to_owned(), question.to_owned()));
        match self.answers.lock().expect("lock").pop_front() {
            Some(Ok(text)) => Ok(text),
            Some(Err(e)) => Err(e.into()),
            None => Err("the script has no more answers".into()),
        }
    }
}

#[tokio::test]
async fn generated_sql_is_checked_against_the_rules_and_the_live_schema() {
    for f in Fixture::all().await {
        let db = f.database(Limits::default()).await;
        let model = Scripted::new([
            Ok("Here you go:\n```sql\nSELECT name FROM users WHERE score > 5;\n```"),
            Ok("DELETE FROM users"),
            Ok("SELECT * FROM customers JOIN users ON users.id = customers.id"),
            Ok("WITH top AS (SELECT id FROM users) SELECT count(*) FROM top"),
            Ok("SELECT u.name, u.emial FROM users u JOIN orders o ON o.user_id = u.id WHERE o.totl > 1"),
            Ok("SELECT name AS who, score * 2 AS doubled FROM users WHERE score > 1 ORDER BY doubled"),
            Ok("  \n"),
            Err("the model is overloaded"),
        ]);
        let generator = mcp_sql::Generator::model(model.clone());

        let good = generator.generate(&db, "who scores above five?", true).await.expect("generated");
        assert_eq!(good.sql, "SELECT name FROM users WHERE score > 5");
        assert!(good.plan.is_some_and(|p| !p.rows.is_empty()), "{:?}: the statement was explained", f.dialect);
        {
            let asked = model.asked.lock().expect("lock");
            let (system, question) = &asked[0];
            assert!(
                system.contains("users(id") && system.contains("orders(id"),
                "the live schema is in the prompt: {system}"
            );
            assert_eq!(question, "who scores above five?");
        }

        let err = generator.generate(&db, "remove everyone", true).await.expect_err("a write");
        assert!(matches!(err, SqlError::NotRead { .. }), "{err}");
        let err = generator.generate(&db, "customers", false).await.expect_err("unknown table");
        assert!(matches!(&err, SqlError::UnknownTables { tables, .. } if tables == "customers"), "{err}");
        let cte = generator.generate(&db, "how many users", false).await.expect("a CTE is not an unknown table");
        assert!(cte.plan.is_none());
        let err = generator.generate(&db, "names and emails", false).await.expect_err("unknown columns");
        match &err {
            SqlError::UnknownColumns { columns, known, .. } => {
                assert_eq!(columns, "u.emial, o.totl", "{:?}", f.dialect);
                assert!(known.contains("users(id, name, score)"), "{known}");
            }
            other => panic!("{:?}: {other}", f.dialect),
        }
        let aliased = generator.generate(&db, "doubled scores", true).await.expect("aliases are its own names");
        assert!(aliased.plan.is_some());
        let err = generator.generate(&db, "anything", false).await.expect_err("no text");
        assert!(err.to_string().contains("without any text"), "{err}");
        let err = generator.generate(&db, "anything", false).await.expect_err("overloaded");
        assert!(matches!(&err, SqlError::Generation(m) if m.contains("the model is overloaded")), "{err}");
        assert_eq!(f.snapshot().await.split('|').nth(1), Some("2"), "nothing was run");
    }
}
