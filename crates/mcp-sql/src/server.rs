//! The native SQL tools over one [`Database`], with the reference servers' names and arguments so
//! that a client's calls written for them work unchanged: `read_query` / `list_tables` /
//! `describe_table` (the SQLite server) and `query` (the Postgres server). The answers are typed
//! `columns` and `rows` (see [`QueryResult`], with an output schema), not the references' list of
//! row objects; [`crate::Sql`] reads both. Every one is a read through the guard; a
//! connection opened for writing adds `write_query`.

use std::sync::Arc;

use mcp_core::protocol::ToolAnnotations;
use mcp_core::{Json, Registry, ToolContext, ToolError, tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::{Database, Dialect, Generator, QueryResult};

/// The SQL tools over one database.
#[derive(Debug, Clone)]
pub struct SqlServer {
    db: Arc<Database>,
    generator: Option<Arc<Generator>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct GenerateArgs {
    /// What the query should answer, in plain words.
    description: String,
    /// Also return the database's plan for the statement (default true): proof that it runs.
    #[serde(default = "yes")]
    explain: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadQueryArgs {
    /// One read statement (SELECT, WITH ... SELECT, VALUES, EXPLAIN).
    query: String,
    /// Values for the statement's placeholders (`?` on SQLite, `$1` on PostgreSQL), bound, never spliced.
    #[serde(default)]
    params: Vec<Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    /// One read statement (SELECT, WITH ... SELECT, VALUES, EXPLAIN).
    sql: String,
    /// Values for the statement's placeholders, bound, never spliced.
    #[serde(default)]
    params: Vec<Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DescribeArgs {
    /// The table (or view) to describe.
    table_name: String,
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::default().with_read_only(true).with_destructive(false).with_idempotent(true).with_open_world(false)
}

impl SqlServer {
    pub fn new(db: Database) -> Self {
        SqlServer { db: Arc::new(db), generator: None }
    }

    /// Adds `generate_query`: natural language to checked SQL through `generator`.
    pub fn with_generator(mut self, generator: Generator) -> Self {
        self.generator = Some(Arc::new(generator));
        self
    }

    /// A registry with the SQL tools.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        self.register(&mut registry);
        registry
    }

    /// Adds the SQL tools to `registry` (`write_query` only when the connection is writable).
    pub fn register(&self, registry: &mut Registry) {
        if let Some(generator) = &self.generator {
            let (db, generator) = (self.db.clone(), generator.clone());
            registry.tool(
                tool(
                    "generate_query",
                    "Writes one read-only SQL query for a question in plain words, from the live schema. \
                     The statement is checked (a single read naming only existing tables) and, by default, \
                     explained by the database; it is returned, not run.",
                    move |a: GenerateArgs, _cx: ToolContext| {
                        let (db, generator) = (db.clone(), generator.clone());
                        async move { Ok(Json(generator.generate(&db, &a.description, a.explain).await?)) }
                    },
                )
                .title("Generate Query")
                .annotations(read_only().with_open_world(true)),
            );
        }
        if self.db.writable() {
            let db = self.db.clone();
            registry.tool(
                tool(
                    "write_query",
                    "Runs one INSERT, UPDATE, DELETE or CREATE/ALTER/DROP statement in its own transaction and \
                     returns how many rows changed (and any RETURNING rows). Stacked statements, COPY, \
                     transaction control, settings, extensions and functions are refused.",
                    move |a: ReadQueryArgs, _cx: ToolContext| {
                        let db = db.clone();
                        async move { Ok(Json(db.execute(&a.query, &a.params).await?)) }
                    },
                )
                .title("Write Query")
                .annotations(
                    ToolAnnotations::default()
                        .with_read_only(false)
                        .with_destructive(true)
                        .with_idempotent(false)
                        .with_open_world(false),
                ),
            );
        }
        let db = self.db.clone();
        registry.tool(
            tool(
                "read_query",
                "Runs one read-only SQL statement and returns its columns (with types) and rows. \
                 Placeholders take values from `params`. Writes, stacked statements and \
                 side-effecting functions are refused.",
                move |a: ReadQueryArgs, _cx: ToolContext| {
                    let db = db.clone();
                    async move { run(&db, &a.query, &a.params).await }
                },
            )
            .title("Read Query")
            .annotations(read_only()),
        );
        let db = self.db.clone();
        registry.tool(
            tool("query", "Run a read-only SQL query", move |a: QueryArgs, _cx: ToolContext| {
                let db = db.clone();
                async move { run(&db, &a.sql, &a.params).await }
            })
            .title("Query")
            .annotations(read_only()),
        );
        let db = self.db.clone();
        registry.tool(
            tool("list_tables", "Lists the tables and views of the database.", move |_: NoArgs, _cx: ToolContext| {
                let db = db.clone();
                async move {
                    let sql = match db.dialect() {
                        Dialect::Postgres => {
                            "SELECT table_schema::text AS schema, table_name::text AS name, \
                                 table_type::text AS type FROM information_schema.tables \
                                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
                                 ORDER BY 1, 2"
                        }
                        Dialect::MySql => {
                            "SELECT table_schema AS `schema`, table_name AS name, table_type AS type \
                                 FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 2"
                        }
                        _ => {
                            "SELECT 'main' AS schema, name, type FROM sqlite_master \
                                 WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
                        }
                    };
                    run(&db, sql, &[]).await
                }
            })
            .title("List Tables")
            .annotations(read_only()),
        );
        let db = self.db.clone();
        registry.tool(
            tool(
                "show_schema",
                "Shows the whole schema at once: one row per column of every table and view, with its \
                 type, whether it may be null and whether it is part of the primary key.",
                move |_: NoArgs, _cx: ToolContext| {
                    let db = db.clone();
                    async move { Ok(Json(db.schema().await?)) }
                },
            )
            .title("Show Schema")
            .annotations(read_only()),
        );
        let db = self.db.clone();
        registry.tool(
            tool(
                "describe_table",
                "Describes a table's columns: name, type, whether it may be null, default, primary key.",
                move |a: DescribeArgs, _cx: ToolContext| {
                    let db = db.clone();
                    async move { describe(&db, &a.table_name).await }
                },
            )
            .title("Describe Table")
            .annotations(read_only()),
        );
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecuteArgs {
    /// The connection's name (see `list_connections`).
    connection: String,
    /// One read statement (SELECT, WITH ... SELECT, VALUES, EXPLAIN).
    query: String,
    /// Values for the statement's placeholders, bound, never spliced.
    #[serde(default)]
    params: Vec<Value>,
}

/// Several named databases behind one server: the seed's `database.execute_query(connection,
/// query)`, and `list_connections`. Every statement is a read through the guard, whatever the
/// connection was opened for; writes go through that connection's own `write_query`.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    databases: std::collections::BTreeMap<String, Arc<Database>>,
}

impl Connections {
    /// No connections yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the database of `server` under `name`.
    pub fn add(&mut self, name: impl Into<String>, server: &SqlServer) -> &mut Self {
        self.databases.insert(name.into(), server.db.clone());
        self
    }

    /// A registry with `execute_query` and `list_connections`.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        let databases = Arc::new(self.databases.clone());
        let dbs = databases.clone();
        registry.tool(
            tool(
                "execute_query",
                "Runs one read-only SQL statement on the named connection and returns its columns (with \
                 types) and rows. Placeholders take values from `params`.",
                move |a: ExecuteArgs, _cx: ToolContext| {
                    let dbs = dbs.clone();
                    async move {
                        let Some(db) = dbs.get(&a.connection) else {
                            let known: Vec<&str> = dbs.keys().map(String::as_str).collect();
                            return Err(ToolError::invalid_params(format!(
                                "no connection named `{}`; the connections are: {}",
                                a.connection,
                                known.join(", ")
                            )));
                        };
                        run(db, &a.query, &a.params).await
                    }
                },
            )
            .title("Execute Query")
            .annotations(read_only()),
        );
        registry.tool(
            tool(
                "list_connections",
                "Lists the database connections: name, dialect, and whether writes are enabled on it.",
                move |_: NoArgs, _cx: ToolContext| {
                    let dbs = databases.clone();
                    async move {
                        let rows: Vec<Vec<Value>> = dbs
                            .iter()
                            .map(|(name, db)| {
                                vec![
                                    Value::from(name.as_str()),
                                    Value::from(format!("{:?}", db.dialect()).to_lowercase()),
                                    Value::from(db.writable()),
                                ]
                            })
                            .collect();
                        let column =
                            |name: &str, ty: &str| crate::ResultColumn { name: name.into(), type_name: ty.into() };
                        Ok::<_, ToolError>(Json(QueryResult {
                            columns: vec![
                                column("name", "text"),
                                column("dialect", "text"),
                                column("writable", "boolean"),
                            ],
                            rows,
                            truncated: None,
                            rows_affected: None,
                        }))
                    }
                },
            )
            .title("List Connections")
            .annotations(read_only()),
        );
        registry
    }
}

async fn run(db: &Database, sql: &str, params: &[Value]) -> Result<Json<QueryResult>, ToolError> {
    Ok(Json(db.query(sql, params).await?))
}

async fn describe(db: &Database, table: &str) -> Result<Json<QueryResult>, ToolError> {
    let result = db.describe(table).await?;
    if result.rows.is_empty() {
        return Err(ToolError::msg(format!("no table or view named `{table}`")));
    }
    Ok(Json(result))
}
