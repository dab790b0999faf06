//! The native backend: named connections through sqlx, read-only twice over.
//!
//! A read-only connection runs a statement only when [`check_read_only`] lets it through, and then
//! inside the database's own read-only mode: PostgreSQL `BEGIN READ ONLY` and MySQL/MariaDB
//! `START TRANSACTION READ ONLY` (rolled back afterwards), SQLite `PRAGMA query_only` on every
//! pooled connection. Results are capped in rows and
//! bytes, with the truncation marked, and a statement that runs past its timeout is abandoned (and
//! on PostgreSQL cancelled by the server's `statement_timeout`).

use std::time::Duration;

use base64::Engine as _;
use futures_util::TryStreamExt as _;
use serde_json::{Number, Value};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use crate::{Dialect, QueryResult, ResultColumn, SqlError, check_read_only, check_write};

/// Caps on one statement. The defaults are safe for a model's context window.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub statement_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_rows: 1000, max_bytes: 1 << 20, statement_timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// One named, pooled, read-only database connection.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    dialect: Dialect,
    limits: Limits,
    writable: bool,
}

/// Whether the column `c` (of `information_schema.columns`) is part of its table's primary key.
const PG_PRIMARY_KEY: &str = "EXISTS (SELECT 1 FROM information_schema.key_column_usage k \
     JOIN information_schema.table_constraints t \
       ON t.constraint_name = k.constraint_name AND t.table_schema = k.table_schema \
     WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema \
       AND k.table_name = c.table_name AND k.column_name = c.column_name) AS primary_key";

/// Whether the column `c` (of MySQL's `information_schema.columns`) is part of the primary key.
const MYSQL_PRIMARY_KEY: &str = "(c.column_key = 'PRI') AS primary_key";

fn db_error(e: sqlx::Error) -> SqlError {
    SqlError::Database(e.to_string())
}

/// MySQL/MariaDB errors, with their statement timeouts (MariaDB 1969, MySQL 3024) named as such.
fn mysql_error(e: sqlx::Error, timeout: Duration) -> SqlError {
    if let sqlx::Error::Database(db) = &e
        && let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        && matches!(mysql.number(), 1969 | 3024)
    {
        return SqlError::Timeout { after: timeout };
    }
    db_error(e)
}

impl Database {
    /// Connects to `url` (`sqlite::memory:`, `sqlite:path.db`, `postgres://...`).
    pub async fn connect(url: &str, limits: Limits) -> Result<Self, SqlError> {
        Self::open(url, limits, false).await
    }

    /// Connects to `url` for writing too: [`Database::execute`] runs one checked statement per
    /// call in its own transaction. Reads through [`Database::query`] stay read-only.
    pub async fn connect_writable(url: &str, limits: Limits) -> Result<Self, SqlError> {
        Self::open(url, limits, true).await
    }

    async fn open(url: &str, limits: Limits, writable: bool) -> Result<Self, SqlError> {
        let target = connection_target(url);
        let connect_error = |e: sqlx::Error| SqlError::Connect { target: target.clone(), message: e.to_string() };
        let dialect = Dialect::from_url(url);
        let pool = match dialect {
            Dialect::Sqlite => {
                let options: SqliteConnectOptions = url.parse().map_err(db_error)?;
                // Reads on a writable connection stay read-only through the guard alone.
                let options = if writable { options } else { options.pragma("query_only", "ON") };
                // One connection for an in-memory database: each connection would be its own database.
                let max = if url.contains(":memory:") { 1 } else { 4 };
                Pool::Sqlite(
                    SqlitePoolOptions::new().max_connections(max).connect_with(options).await.map_err(connect_error)?,
                )
            }
            Dialect::Postgres => {
                // The statement timeout rides in the startup packet: no extra round trip per query.
                let options: PgConnectOptions = url.parse().map_err(db_error)?;
                let ms = limits.statement_timeout.as_millis().max(1).to_string();
                let options = options.options([("statement_timeout", ms)]);
                // One connection first, for its own error: the pool retries a refused connection
                // until its timeout and reports only that it timed out.
                probe::<sqlx::PgConnection>(&options).await.map_err(connect_error)?;
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(Duration::from_secs(10))
                        .connect_with(options)
                        .await
                        .map_err(connect_error)?,
                )
            }
            Dialect::MySql => {
                let options: MySqlConnectOptions = url.parse().map_err(db_error)?;
                let timeout = limits.statement_timeout;
                probe::<sqlx::MySqlConnection>(&options).await.map_err(connect_error)?;
                let pool = MySqlPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            // MariaDB counts seconds (any statement), MySQL milliseconds (SELECT only).
                            let mariadb = format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64());
                            if sqlx::Executor::execute(&mut *conn, mariadb.as_str()).await.is_err() {
                                let mysql = format!("SET SESSION max_execution_time = {}", timeout.as_millis().max(1));
                                sqlx::Executor::execute(&mut *conn, mysql.as_str()).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(connect_error)?;
                Pool::MySql(pool)
            }
            Dialect::Generic => {
                return Err(SqlError::Unsupported { scheme: url.split(':').next().unwrap_or_default().to_string() });
            }
        };
        if let (Pool::Postgres(pg), false) = (&pool, writable) {
            warn_if_superuser(pg, &target).await;
        }
        Ok(Database { pool, dialect, limits, writable })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Every column of every table and view (`table`, `column`, `type`, `nullable`, `primary_key`),
    /// in table then column order: the live schema, as a model or a person reads it.
    pub async fn schema(&self) -> Result<QueryResult, SqlError> {
        let sql = match self.dialect {
            Dialect::Postgres => format!(
                "SELECT c.table_name::text AS \"table\", c.column_name::text AS \"column\", \
                 c.data_type::text AS type, (c.is_nullable = 'YES') AS nullable, {PG_PRIMARY_KEY} \
                 FROM information_schema.columns c \
                 WHERE c.table_schema::text = ANY(current_schemas(false)) \
                 ORDER BY c.table_name, c.ordinal_position"
            ),
            Dialect::MySql => format!(
                "SELECT c.table_name AS `table`, c.column_name AS `column`, c.data_type AS type, \
                 (c.is_nullable = 'YES') AS nullable, {MYSQL_PRIMARY_KEY} \
                 FROM information_schema.columns c WHERE c.table_schema = DATABASE() \
                 ORDER BY c.table_name, c.ordinal_position"
            ),
            _ => "SELECT m.name AS \"table\", p.name AS \"column\", p.type AS type, \
                 (p.\"notnull\" = 0) AS nullable, (p.pk > 0) AS primary_key \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%' \
                 ORDER BY m.name, p.cid"
                .to_owned(),
        };
        let mut result = self.query(&sql, &[]).await?;
        // A schema is read whole: the row cap is for query results, not for this.
        if result.truncated.is_some() {
            result.truncated = Some(format!(
                "the schema has more columns than the row cap ({}); use list_tables and describe_table",
                self.limits.max_rows
            ));
        }
        Ok(result)
    }

    /// One row per column of `table` (`name`, `type`, `nullable`, `default`, `primary_key`).
    pub async fn describe(&self, table: &str) -> Result<QueryResult, SqlError> {
        let sql = match self.dialect {
            Dialect::Postgres => format!(
                "SELECT c.column_name::text AS name, c.data_type::text AS type, \
                 (c.is_nullable = 'YES') AS nullable, c.column_default::text AS default, {PG_PRIMARY_KEY} \
                 FROM information_schema.columns c \
                 WHERE c.table_name = $1 AND c.table_schema::text = ANY(current_schemas(false)) \
                 ORDER BY c.ordinal_position"
            ),
            Dialect::MySql => format!(
                "SELECT c.column_name AS name, c.data_type AS type, (c.is_nullable = 'YES') AS nullable, \
                 c.column_default AS `default`, {MYSQL_PRIMARY_KEY} FROM information_schema.columns c \
                 WHERE c.table_schema = DATABASE() AND c.table_name = ? ORDER BY c.ordinal_position"
            ),
            _ => "SELECT name, type, (\"notnull\" = 0) AS nullable, dflt_value AS \"default\", \
                  (pk > 0) AS primary_key FROM pragma_table_info(?) ORDER BY cid"
                .to_owned(),
        };
        self.query(&sql, &[Value::from(table)]).await
    }

    /// Whether this connection was opened for writing.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Runs one statement that may write (see [`check_write`]) in its own transaction, and returns
    /// the rows it returns (`RETURNING`) and how many rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<QueryResult, SqlError> {
        if !self.writable {
            return Err(SqlError::ReadOnlyConnection);
        }
        let statement = check_write(self.dialect, sql)?;
        self.postgres_parameters(&statement, params)?;
        let timeout = self.limits.statement_timeout;
        match tokio::time::timeout(timeout + Duration::from_millis(500), self.write(sql, params)).await {
            Ok(result) => result,
            Err(_) => Err(SqlError::Timeout { after: timeout }),
        }
    }

    /// On PostgreSQL, the parameters are counted against the parsed statement's placeholders
    /// before it runs: PostgreSQL ignores extra ones, and a statement run with too few is
    /// cached on the connection with the parameter types the server inferred, which the same
    /// statement run again with the right values then fails to match. (SQLite and MySQL count
    /// them as they prepare the statement: see [`parameters_match`].)
    fn postgres_parameters(&self, statement: &sqlparser::ast::Statement, params: &[Value]) -> Result<(), SqlError> {
        if self.dialect != Dialect::Postgres {
            return Ok(());
        }
        let expected = crate::guard::numbered_placeholders(statement);
        if params.len() != expected {
            return Err(SqlError::Parameters { expected, given: params.len() });
        }
        Ok(())
    }

    async fn write(&self, sql: &str, params: &[Value]) -> Result<QueryResult, SqlError> {
        let mut out = Collector::new(&self.limits);
        let mut affected = 0;
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db_error)?;
                let mut query = sqlx::query(sql);
                for p in params {
                    query = bind_pg(query, p);
                }
                let mut results = sqlx::Executor::fetch_many(&mut *tx, query);
                while let Some(item) = results.try_next().await.map_err(db_error)? {
                    match item {
                        sqlx::Either::Left(done) => affected += done.rows_affected(),
                        sqlx::Either::Right(row) => {
                            out.push_pg(&row)?;
                        }
                    }
                }
                drop(results);
                tx.commit().await.map_err(db_error)?;
            }
            Pool::MySql(pool) => {
                let timeout = self.limits.statement_timeout;
                let mut tx = pool.begin().await.map_err(db_error)?;
                check_parameters!(&mut *tx, sql, params);
                let mut query = sqlx::query(sql);
                for p in params {
                    query = bind_mysql(query, p);
                }
                let mut results = sqlx::Executor::fetch_many(&mut *tx, query);
                while let Some(item) = results.try_next().await.map_err(|e| mysql_error(e, timeout))? {
                    match item {
                        sqlx::Either::Left(done) => affected += done.rows_affected(),
                        sqlx::Either::Right(row) => {
                            out.push_mysql(&row)?;
                        }
                    }
                }
                drop(results);
                tx.commit().await.map_err(db_error)?;
            }
            Pool::Sqlite(pool) => {
                let mut query = sqlx::query(sql);
                for p in params {
                    query = bind_sqlite(query, p);
                }
                let deadline = std::time::Instant::now() + self.limits.statement_timeout;
                let mut conn = sqlite_connection(pool, deadline).await?;
                check_parameters!(&mut *conn, sql, params);
                // SQLite's count of changed rows is that of the last INSERT, UPDATE or DELETE on
                // the connection, whatever ran since: it counts for this statement only if the
                // connection's total moved.
                let before = sqlite_total_changes(&mut conn).await?;
                let mut results = sqlx::Executor::fetch_many(&mut *conn, query);
                while let Some(item) = results.try_next().await.map_err(db_error)? {
                    match item {
                        sqlx::Either::Left(done) => affected += done.rows_affected(),
                        sqlx::Either::Right(row) => {
                            out.push_sqlite(&row)?;
                        }
                    }
                }
                drop(results);
                if sqlite_total_changes(&mut conn).await? == before {
                    affected = 0;
                }
            }
        }
        let mut result = out.finish();
        result.rows_affected = Some(affected);
        Ok(result)
    }

    /// Runs one read statement with bound parameters (`$1` on PostgreSQL, `?` on SQLite).
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<QueryResult, SqlError> {
        let statement = check_read_only(self.dialect, sql).map_err(|e| match e {
            // The connection writes, through `write_query`; reads are what this one runs.
            SqlError::NotRead { kind } if self.writable => SqlError::ReadsOnly { kind },
            other => other,
        })?;
        self.postgres_parameters(&statement, params)?;
        let timeout = self.limits.statement_timeout;
        match tokio::time::timeout(timeout + Duration::from_millis(500), self.run(sql, params)).await {
            Ok(result) => result,
            Err(_) => Err(SqlError::Timeout { after: timeout }),
        }
    }

    async fn run(&self, sql: &str, params: &[Value]) -> Result<QueryResult, SqlError> {
        let mut out = Collector::new(&self.limits);
        match &self.pool {
            Pool::Postgres(pool) => {
                // Rolled back when done, or when dropped mid-way (a timeout): never left open.
                let mut tx = pool.begin_with("BEGIN READ ONLY").await.map_err(db_error)?;
                let mut query = sqlx::query(sql);
                for p in params {
                    query = bind_pg(query, p);
                }
                let mut rows = query.fetch(&mut *tx);
                while let Some(row) = rows.try_next().await.map_err(db_error)? {
                    if !out.push_pg(&row)? {
                        break;
                    }
                }
                drop(rows);
                tx.rollback().await.map_err(db_error)?;
            }
            Pool::MySql(pool) => {
                let timeout = self.limits.statement_timeout;
                let mut tx = pool.begin_with("START TRANSACTION READ ONLY").await.map_err(db_error)?;
                check_parameters!(&mut *tx, sql, params);
                let mut query = sqlx::query(sql);
                for p in params {
                    query = bind_mysql(query, p);
                }
                let mut rows = query.fetch(&mut *tx);
                while let Some(row) = rows.try_next().await.map_err(|e| mysql_error(e, timeout))? {
                    if !out.push_mysql(&row)? {
                        break;
                    }
                }
                drop(rows);
                tx.rollback().await.map_err(db_error)?;
            }
            Pool::Sqlite(pool) => {
                let deadline = std::time::Instant::now() + self.limits.statement_timeout;
                let mut conn = sqlite_connection(pool, deadline).await?;
                check_parameters!(&mut *conn, sql, params);
                let mut query = sqlx::query(sql);
                for p in params {
                    query = bind_sqlite(query, p);
                }
                let outcome = async {
                    let mut rows = query.fetch(&mut *conn);
                    while let Some(row) = rows.try_next().await.map_err(|e| {
                        if std::time::Instant::now() >= deadline {
                            SqlError::Timeout { after: self.limits.statement_timeout }
                        } else {
                            db_error(e)
                        }
                    })? {
                        if !out.push_sqlite(&row)? {
                            break;
                        }
                    }
                    Ok::<(), SqlError>(())
                }
                .await;
                outcome?;
            }
        }
        Ok(out.finish())
    }
}

/// Refuses parameters that do not match the statement's placeholders, as the database counts
/// them when it prepares the statement: SQLite binds a missing one as NULL and ignores extra
/// ones, answering another question than the one asked without a word. (The prepared statement
/// is cached on the connection, so running it prepares nothing again. Not for PostgreSQL, whose
/// statement prepared without the bound values' types would be cached with the types it infers:
/// see [`Database::postgres_parameters`].)
fn parameters_match<T>(parameters: Option<sqlx::Either<&[T], usize>>, given: usize) -> Result<(), SqlError> {
    let expected = match parameters {
        Some(sqlx::Either::Left(types)) => types.len(),
        Some(sqlx::Either::Right(count)) => count,
        None => return Ok(()),
    };
    if expected == given { Ok(()) } else { Err(SqlError::Parameters { expected, given }) }
}

/// [`parameters_match`] for `$sql` prepared on `$executor` (a connection or transaction).
macro_rules! check_parameters {
    ($executor:expr, $sql:expr, $params:expr) => {{
        use sqlx::Statement as _;
        let statement = sqlx::Executor::prepare($executor, $sql).await.map_err(db_error)?;
        parameters_match(statement.parameters(), $params.len())?;
    }};
}
use check_parameters;

/// A pooled SQLite connection whose statements are interrupted at `deadline`: SQLite has no
/// statement timeout, so a progress handler stops a runaway statement instead of leaving it to hold
/// a worker forever. Only this code uses the pool, and each statement replaces the handler first.
async fn sqlite_connection(
    pool: &SqlitePool,
    deadline: std::time::Instant,
) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, SqlError> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    conn.lock_handle()
        .await
        .map_err(db_error)?
        .set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
    Ok(conn)
}

/// One connection made and closed, for the error a refused or failed connection gives: the
/// pool retries until its timeout and then reports only that it timed out.
async fn probe<C: sqlx::Connection>(options: &C::Options) -> Result<(), sqlx::Error> {
    C::connect_with(options).await?.close().await
}

/// Warns when `pool` reaches PostgreSQL as a superuser (`target` names it in the warning). The
/// guard and the read-only transaction keep a statement from writing, but a superuser may still
/// call functions that reach past the data (read server files, end other sessions) that the
/// guard does not know by name. Said once, at connect time.
async fn warn_if_superuser(pool: &PgPool, target: &str) {
    let superuser: Result<String, _> = sqlx::query_scalar("SHOW is_superuser").fetch_one(pool).await;
    if superuser.is_ok_and(|on| on == "on") {
        tracing::warn!(
            target = %target,
            "connected to PostgreSQL as a superuser: the read-only guard refuses the functions it knows that reach \
             past the data, but a role that may only read (pg_read_all_data, or SELECT on the tables to serve) is \
             what keeps every other one out"
        );
    }
}

/// Where a URL connects, as it may be shown: the file, or `host:port/database` without the
/// user, password or parameters.
fn connection_target(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once(':') else { return "the database".into() };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    if scheme == "sqlite" {
        return format!("sqlite:{rest}");
    }
    match rest.strip_prefix("//") {
        Some(authority_path) => {
            let (authority, path) = authority_path.split_once('/').unwrap_or((authority_path, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}/{path}")
        }
        None => format!("{scheme}:{rest}"),
    }
}

async fn sqlite_total_changes(conn: &mut sqlx::SqliteConnection) -> Result<i64, SqlError> {
    sqlx::query_scalar("SELECT total_changes()").fetch_one(conn).await.map_err(db_error)
}

macro_rules! bind_json {
    ($name:ident, $db:ty) => {
        fn $name<'q>(
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            value: &Value,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            match value {
                Value::Null => query.bind(None::<String>),
                Value::Bool(b) => query.bind(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => query.bind(i),
                    None => query.bind(n.as_f64().unwrap_or(f64::NAN)),
                },
                Value::String(s) => query.bind(s.clone()),
                other => query.bind(other.to_string()),
            }
        }
    };
}
bind_json!(bind_pg, sqlx::Postgres);
bind_json!(bind_sqlite, sqlx::Sqlite);
bind_json!(bind_mysql, sqlx::MySql);

/// Gathers rows until a cap is reached.
struct Collector<'a> {
    limits: &'a Limits,
    columns: Vec<ResultColumn>,
    rows: Vec<Vec<Value>>,
    bytes: usize,
    truncated: Option<String>,
}

impl<'a> Collector<'a> {
    fn new(limits: &'a Limits) -> Self {
        Collector { limits, columns: Vec::new(), rows: Vec::new(), bytes: 0, truncated: None }
    }

    /// Adds a row; false once a cap is reached (the row over the cap is left out and marked).
    fn push(&mut self, row: Vec<Value>) -> bool {
        if self.rows.len() >= self.limits.max_rows {
            self.truncated = Some(format!(
                "more than {} rows; only the first {} are shown",
                self.limits.max_rows, self.limits.max_rows
            ));
            return false;
        }
        let size: usize = row.iter().map(|v| v.to_string().len() + 1).sum();
        if self.bytes + size > self.limits.max_bytes {
            self.truncated =
                Some(format!("the result passed {} bytes after {} rows", self.limits.max_bytes, self.rows.len()));
            return false;
        }
        self.bytes += size;
        self.rows.push(row);
        true
    }

    fn push_pg(&mut self, row: &PgRow) -> Result<bool, SqlError> {
        if self.columns.is_empty() {
            self.columns = columns(row);
        }
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in self.columns.iter().enumerate() {
            values.push(pg_value(row, i, column)?);
        }
        Ok(self.push(values))
    }

    fn push_mysql(&mut self, row: &MySqlRow) -> Result<bool, SqlError> {
        if self.columns.is_empty() {
            self.columns = columns(row);
        }
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in self.columns.iter().enumerate() {
            values.push(mysql_value(row, i, column)?);
        }
        Ok(self.push(values))
    }

    fn push_sqlite(&mut self, row: &SqliteRow) -> Result<bool, SqlError> {
        if self.columns.is_empty() {
            self.columns = columns(row);
        }
        let values = (0..row.len()).map(|i| sqlite_value(row, i)).collect::<Result<_, _>>()?;
        Ok(self.push(values))
    }

    fn finish(self) -> QueryResult {
        QueryResult { columns: self.columns, rows: self.rows, truncated: self.truncated, rows_affected: None }
    }
}

fn columns<R: sqlx::Row>(row: &R) -> Vec<ResultColumn> {
    row.columns()
        .iter()
        .map(|c| ResultColumn { name: c.name().to_string(), type_name: c.type_info().name().to_string() })
        .collect()
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn pg_value(row: &PgRow, i: usize, column: &ResultColumn) -> Result<Value, SqlError> {
    if row.try_get_raw(i).map_err(db_error)?.is_null() {
        return Ok(Value::Null);
    }
    let get_err = db_error;
    let value = match column.type_name.as_str() {
        "BOOL" => Value::Bool(row.try_get(i).map_err(get_err)?),
        "INT2" => Value::from(row.try_get::<i16, _>(i).map_err(get_err)?),
        "INT4" => Value::from(row.try_get::<i32, _>(i).map_err(get_err)?),
        "INT8" => Value::from(row.try_get::<i64, _>(i).map_err(get_err)?),
        "OID" => Value::from(row.try_get::<sqlx::postgres::types::Oid, _>(i).map_err(get_err)?.0),
        "FLOAT4" => float(f64::from(row.try_get::<f32, _>(i).map_err(get_err)?)),
        "FLOAT8" => float(row.try_get::<f64, _>(i).map_err(get_err)?),
        "NUMERIC" => Value::String(row.try_get::<rust_decimal::Decimal, _>(i).map_err(get_err)?.to_string()),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => {
            Value::String(row.try_get_unchecked::<String, _>(i).map_err(get_err)?)
        }
        "JSON" | "JSONB" => row.try_get::<Value, _>(i).map_err(get_err)?,
        "UUID" => Value::String(row.try_get::<uuid::Uuid, _>(i).map_err(get_err)?.to_string()),
        "BYTEA" => base64(&row.try_get::<Vec<u8>, _>(i).map_err(get_err)?),
        "TIMESTAMPTZ" => {
            Value::String(row.try_get::<chrono::DateTime<chrono::Utc>, _>(i).map_err(get_err)?.to_rfc3339())
        }
        "TIMESTAMP" => Value::String(row.try_get::<chrono::NaiveDateTime, _>(i).map_err(get_err)?.to_string()),
        "DATE" => Value::String(row.try_get::<chrono::NaiveDate, _>(i).map_err(get_err)?.to_string()),
        "TIME" => Value::String(row.try_get::<chrono::NaiveTime, _>(i).map_err(get_err)?.to_string()),
        "TEXT[]" | "VARCHAR[]" | "NAME[]" => Value::from(row.try_get::<Vec<String>, _>(i).map_err(get_err)?),
        "INT4[]" => Value::from(row.try_get::<Vec<i32>, _>(i).map_err(get_err)?),
        "INT8[]" => Value::from(row.try_get::<Vec<i64>, _>(i).map_err(get_err)?),
        other => {
            return Err(SqlError::UnsupportedType { column: column.name.clone(), type_name: other.to_string() });
        }
    };
    Ok(value)
}

fn sqlite_value(row: &SqliteRow, i: usize) -> Result<Value, SqlError> {
    let raw = row.try_get_raw(i).map_err(db_error)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    // SQLite types values, not columns: decode by the value's storage class.
    let storage = raw.type_info().name().to_string();
    let value = match storage.as_str() {
        "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(i).map_err(db_error)?),
        "REAL" => float(row.try_get_unchecked::<f64, _>(i).map_err(db_error)?),
        "BLOB" => base64(&row.try_get_unchecked::<Vec<u8>, _>(i).map_err(db_error)?),
        _ => Value::String(row.try_get_unchecked::<String, _>(i).map_err(db_error)?),
    };
    Ok(value)
}

fn mysql_value(row: &MySqlRow, i: usize, column: &ResultColumn) -> Result<Value, SqlError> {
    if row.try_get_raw(i).map_err(db_error)?.is_null() {
        return Ok(Value::Null);
    }
    let e = db_error;
    let value = match column.type_name.as_str() {
        "BOOLEAN" => Value::Bool(row.try_get_unchecked::<bool, _>(i).map_err(e)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Value::from(row.try_get_unchecked::<i64, _>(i).map_err(e)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" | "BIGINT UNSIGNED"
        | "BIT" => Value::from(row.try_get_unchecked::<u64, _>(i).map_err(e)?),
        "FLOAT" => float(f64::from(row.try_get_unchecked::<f32, _>(i).map_err(e)?)),
        "DOUBLE" => float(row.try_get_unchecked::<f64, _>(i).map_err(e)?),
        "DECIMAL" => Value::String(row.try_get::<rust_decimal::Decimal, _>(i).map_err(e)?.to_string()),
        "CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Value::String(row.try_get_unchecked::<String, _>(i).map_err(e)?)
        }
        "JSON" => row.try_get::<Value, _>(i).map_err(e)?,
        // Text in a binary collation (MariaDB's JSON, `utf8mb4_bin` columns) arrives as a blob: it
        // comes back as text when it is UTF-8, as base64 otherwise.
        "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            let bytes = row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?;
            match String::from_utf8(bytes) {
                Ok(text) => Value::String(text),
                Err(raw) => base64(raw.as_bytes()),
            }
        }
        "BINARY" | "VARBINARY" => base64(&row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?),
        "DATE" => Value::String(row.try_get::<chrono::NaiveDate, _>(i).map_err(e)?.to_string()),
        "DATETIME" => Value::String(row.try_get::<chrono::NaiveDateTime, _>(i).map_err(e)?.to_string()),
        "TIMESTAMP" => Value::String(row.try_get::<chrono::DateTime<chrono::Utc>, _>(i).map_err(e)?.to_rfc3339()),
        "TIME" => Value::String(row.try_get::<chrono::NaiveTime, _>(i).map_err(e)?.to_string()),
        other => {
            return Err(SqlError::UnsupportedType { column: column.name.clone(), type_name: other.to_string() });
        }
    };
    Ok(value)
}
