//! The typed wrappers against our native server and against the reference Postgres server from npm
//! (`@modelcontextprotocol/server-postgres`, installed by `cargo xtask setup`): the same question
//! gets the same columns and rows from both.

#[path = "../../../tests/support/databases.rs"]
mod databases;

use std::path::Path;

use mcp_core::config::StdioServer;
use mcp_core::{Client, ClientOptions};
use mcp_sql::{Database, Limits, Sql, SqlError, SqlServer};
use serde_json::json;

async fn sqlite_fixture(dir: &Path) -> String {
    let url = format!("sqlite:{}", dir.join("w.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true)).await.expect("sqlite");
    sqlx::raw_sql(
        "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, year INTEGER);
         CREATE VIEW old_books AS SELECT * FROM books WHERE year < 1900;
         INSERT INTO books VALUES (1, 'Emma', 1815), (2, 'Ulysses', 1922);",
    )
    .execute(&pool)
    .await
    .expect("setup");
    url
}

#[tokio::test]
async fn wrappers_read_the_native_server() {
    let dir = tempfile::tempdir().expect("temp");
    let url = sqlite_fixture(dir.path()).await;
    let db = Database::connect(&url, Limits::default()).await.expect("connect");
    let sql = Sql::new(SqlServer::new(db).registry().tools);

    assert_eq!(sql.list_tables().await.expect("tables"), ["books", "old_books"]);
    let books = sql.read_query("SELECT title, year FROM books WHERE year > ?", &[json!(1900)]).await.expect("read");
    assert_eq!(books.rows, vec![vec![json!("Ulysses"), json!(1922)]]);
    let described = sql.describe_table("books").await.expect("describe");
    assert_eq!(described.column("name").expect("name column"), [&json!("id"), &json!("title"), &json!("year")]);

    match sql.query("DELETE FROM books").await {
        Err(SqlError::Call(mcp_core::Error::ToolFailed { tool, message })) => {
            assert_eq!(tool, "query");
            assert!(message.contains("DELETE is not a read statement"), "{message}");
        }
        other => panic!("a write came back as {other:?}"),
    }
    match sql.describe_table("no_such_table").await {
        Err(SqlError::Call(mcp_core::Error::ToolFailed { message, .. })) => {
            assert!(message.contains("no_such_table"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrappers_agree_across_the_reference_postgres_server_and_ours() {
    let Some(url) = databases::postgres_url() else { return };
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/node_modules/.bin/mcp-server-postgres");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());

    let table = format!("wrap_books_{}", std::process::id());
    let pool = sqlx::PgPool::connect(&url).await.expect("postgres");
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (id int4 PRIMARY KEY, title text NOT NULL, note text);
         INSERT INTO {table} VALUES (1, 'Emma', NULL), (2, 'Ulysses', 'long');"
    ))
    .execute(&pool)
    .await
    .expect("setup");

    let reference =
        Client::spawn("pg", &StdioServer::new(bin.display().to_string(), [url.clone()]), ClientOptions::default())
            .await
            .expect("the reference server starts");
    let theirs = Sql::new(reference);
    let ours =
        Sql::new(SqlServer::new(Database::connect(&url, Limits::default()).await.expect("connect")).registry().tools);

    let question = format!("SELECT id, title, note FROM {table} ORDER BY id");
    let a = theirs.query(&question).await.expect("reference answer");
    let b = ours.query(&question).await.expect("our answer");
    let names = |r: &mcp_sql::QueryResult| r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), ["id", "title", "note"]);
    assert_eq!(names(&a), names(&b));
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.rows[0], vec![json!(1), json!("Emma"), serde_json::Value::Null]);
    // Ours also says what type each column has.
    assert_eq!(b.columns.iter().map(|c| c.type_name.as_str()).collect::<Vec<_>>(), ["INT4", "TEXT", "TEXT"]);

    sqlx::raw_sql(&format!("DROP TABLE {table}")).execute(&pool).await.expect("cleanup");
}

/// The seed's two calls: `database.execute_query(connection, query)` over named connections, and
/// `sql_generation.create_query(description, schema)` against a real SQL-generation MCP server
/// (a Python `mcp` 2.x script, installed by `cargo xtask setup`), then checked by our generator.
#[tokio::test]
async fn the_seeds_execute_query_and_create_query() {
    let dir = tempfile::tempdir().expect("temp");
    let url = sqlite_fixture(dir.path()).await;
    let library = SqlServer::new(Database::connect(&url, Limits::default()).await.expect("connect"));
    let scratch = SqlServer::new(Database::connect("sqlite::memory:", Limits::default()).await.expect("memory"));
    let mut connections = mcp_sql::Connections::new();
    connections.add("library", &library).add("scratch", &scratch);
    let database = Sql::new(connections.registry().tools);

    let rows = database.execute_query("library", "SELECT title FROM books ORDER BY id").await.expect("query");
    assert_eq!(rows.rows, vec![vec![json!("Emma")], vec![json!("Ulysses")]]);
    match database.execute_query("nowhere", "SELECT 1").await {
        Err(SqlError::Call(mcp_core::Error::ToolFailed { message, .. })) => {
            assert!(
                message.contains("no connection named `nowhere`") && message.contains("library, scratch"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    match database.execute_query("library", "DROP TABLE books").await {
        Err(SqlError::Call(mcp_core::Error::ToolFailed { message, .. })) => {
            assert!(message.contains("not a read statement"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".tools/py-mcp2/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let server = StdioServer::new(
        python.display().to_string(),
        [root.join("tests/python/sqlgen_server.py").display().to_string()],
    );
    let client = std::sync::Arc::new(Client::spawn("sqlgen", &server, ClientOptions::default()).await.expect("starts"));
    let generation = mcp_sql::SqlGeneration::new(client.clone());
    let text = generation.create_query("how many books?", "books(id integer)").await.expect("create_query");
    assert!(text.contains("SELECT count(*) AS n FROM items") && text.contains("books(id integer)"), "{text}");
    match generation.create_query("something odd", "").await {
        Err(SqlError::Call(mcp_core::Error::ToolFailed { tool, message })) => {
            assert_eq!(tool, "create_query");
            assert!(message.contains("no idea how to answer"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // The same server behind `generate_query`: its SQL is held to the same checks.
    let db = Database::connect_writable("sqlite::memory:", Limits::default()).await.expect("memory");
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)", &[]).await.expect("create");
    let generator = mcp_sql::Generator::mcp(client.clone(), "create_query");
    let generated = generator.generate(&db, "how many items are there?", true).await.expect("generated");
    assert!(generated.sql.ends_with("SELECT count(*) AS n FROM items"), "{}", generated.sql);
    assert!(generated.sql.contains("items(id INTEGER, name TEXT)"), "the live schema was sent: {}", generated.sql);
    assert!(generated.plan.is_some());
    let invented = generator.generate(&db, "the invented colour", false).await.expect_err("no such column");
    assert!(invented.to_string().contains("colour"), "{invented}");
    let dropped = generator.generate(&db, "drop it all", false).await.expect_err("a write");
    assert!(matches!(dropped, SqlError::NotRead { .. }), "{dropped}");
    let failed = generator.generate(&db, "nonsense", false).await.expect_err("the tool failed");
    assert!(failed.to_string().contains("`create_query` failed") && failed.to_string().contains("no idea"), "{failed}");
}

/// The reference SQLite server from PyPI (`mcp-server-sqlite`, on the Python SDK 1.x, installed by
/// `cargo xtask setup`), which answers with the Python `repr` of its rows, and ours, on the same
/// file: the same questions read the same through the wrappers.
#[tokio::test]
async fn wrappers_agree_across_the_reference_sqlite_server_and_ours() {
    let dir = tempfile::tempdir().expect("temp");
    let url = sqlite_fixture(dir.path()).await;
    let file = dir.path().join("w.db");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join(".tools/py-mcp1/bin/mcp-server-sqlite");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    let server = StdioServer::new(bin.display().to_string(), ["--db-path".to_owned(), file.display().to_string()]);
    let reference = Sql::new(Client::spawn("sqlite-ref", &server, ClientOptions::default()).await.expect("starts"));
    let ours =
        Sql::new(SqlServer::new(Database::connect(&url, Limits::default()).await.expect("connect")).registry().tools);

    for query in [
        "SELECT id, title, year FROM books ORDER BY id",
        "SELECT title, year * 1.5 AS scaled, NULL AS missing FROM books WHERE year > 1900",
        "SELECT count(*) AS n FROM books",
    ] {
        let theirs = reference.read_query(query, &[]).await.expect("reference read");
        let mine = ours.read_query(query, &[]).await.expect("our read");
        let names = |r: &mcp_sql::QueryResult| r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&theirs), names(&mine), "{query}");
        assert_eq!(theirs.rows, mine.rows, "{query}");
    }
    assert!(reference.list_tables().await.expect("tables").contains(&"books".to_owned()));
    let theirs = reference.describe_table("books").await.expect("describe");
    let mine = ours.describe_table("books").await.expect("describe");
    assert_eq!(theirs.column("name"), mine.column("name"));
    assert_eq!(theirs.column("type"), mine.column("type"));
    // The reference server reports failures as text; the wrapper says what it got.
    match reference.read_query("SELECT * FROM no_such_table", &[]).await {
        Err(SqlError::Unreadable { message, .. } | SqlError::Call(mcp_core::Error::ToolFailed { message, .. })) => {
            assert!(message.contains("no such table"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
