//! Typed calls to SQL servers: ours, the reference Postgres server (`query`, which answers with its
//! rows as a JSON array of objects) and the SQLite-style servers (`read_query`, `list_tables`,
//! `describe_table`). Every answer comes back as a [`QueryResult`] with columns in order.

use std::fmt;

use mcp_core::CallTool;
use mcp_core::protocol::{CallToolResult, JsonObject};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};

use crate::{QueryResult, ResultColumn, SqlError};

/// Typed access to a SQL server (native, or another server with the same tools).
#[derive(Debug, Clone)]
pub struct Sql<C> {
    caller: C,
}

impl<C: CallTool> Sql<C> {
    /// Wraps a connection to a SQL server (or the native tools).
    pub fn new(caller: C) -> Self {
        Sql { caller }
    }

    /// `query` (the reference Postgres server's tool): one read-only statement.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, SqlError> {
        self.call("query", json!({ "sql": sql })).await
    }

    /// `read_query`: one read statement; `params` fill its placeholders on servers that take them
    /// (ours does; leave it empty for servers that do not).
    pub async fn read_query(&self, query: &str, params: &[Value]) -> Result<QueryResult, SqlError> {
        let mut args = json!({ "query": query });
        if !params.is_empty() {
            args["params"] = json!(params);
        }
        self.call("read_query", args).await
    }

    /// `list_tables`: the names of the tables (and views).
    pub async fn list_tables(&self) -> Result<Vec<String>, SqlError> {
        let result = self.call("list_tables", json!({})).await?;
        let names = result
            .column("name")
            .or_else(|| result.columns.first().and_then(|c| result.column(&c.name)))
            .unwrap_or_default();
        Ok(names.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
    }

    /// `execute_query` (the seed's `database.execute_query(connection, query)`): one read
    /// statement on a named connection of a server with several.
    pub async fn execute_query(&self, connection: &str, query: &str) -> Result<QueryResult, SqlError> {
        self.call("execute_query", json!({ "connection": connection, "query": query })).await
    }

    /// `describe_table`: one row per column of `table_name`.
    pub async fn describe_table(&self, table_name: &str) -> Result<QueryResult, SqlError> {
        self.call("describe_table", json!({ "table_name": table_name })).await
    }

    async fn call(&self, tool: &str, args: Value) -> Result<QueryResult, SqlError> {
        let args: JsonObject = match args {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        };
        let result = self.caller.call_tool(tool, args).await?;
        parse(tool, &result)
    }
}

/// Typed access to a SQL-generation server: the seed's `sql_generation.create_query(description,
/// schema)`.
#[derive(Debug, Clone)]
pub struct SqlGeneration<C> {
    caller: C,
}

impl<C: CallTool> SqlGeneration<C> {
    /// Wraps a connection to a SQL-generation server.
    pub fn new(caller: C) -> Self {
        SqlGeneration { caller }
    }

    /// `create_query`: SQL answering `description` over `schema` (as the server's text; see
    /// [`crate::Generator::mcp`] for the checked path).
    pub async fn create_query(&self, description: &str, schema: &str) -> Result<String, SqlError> {
        let args = json!({ "description": description, "schema": schema });
        let args = args.as_object().cloned().unwrap_or_default();
        let result = self.caller.call_tool("create_query", args).await?;
        if result.is_error() {
            return Err(SqlError::Tool { tool: "create_query".into(), message: result.text_content() });
        }
        Ok(result.text_content())
    }
}

/// Reads our structured result, or a JSON array of row objects in the text (the reference servers).
fn parse(tool: &str, result: &CallToolResult) -> Result<QueryResult, SqlError> {
    if result.is_error() {
        return Err(SqlError::Tool { tool: tool.to_owned(), message: result.text_content() });
    }
    if let Some(structured) = &result.structured_content
        && let Ok(parsed) = serde_json::from_value::<QueryResult>(structured.clone())
    {
        return Ok(parsed);
    }
    let text = result.text_content();
    let unreadable = |message: String| SqlError::Unreadable { tool: tool.to_owned(), message };
    let mut de = serde_json::Deserializer::from_str(&text);
    let rows = de.deserialize_seq(RowsVisitor).map_err(|e| unreadable(e.to_string()))?;
    Ok(from_objects(rows))
}

/// Rows given as objects: the columns are the first row's keys, in the order the server wrote them.
fn from_objects(rows: Vec<Vec<(String, Value)>>) -> QueryResult {
    let columns: Vec<ResultColumn> = rows
        .first()
        .map(|row| row.iter().map(|(k, _)| ResultColumn { name: k.clone(), type_name: String::new() }).collect())
        .unwrap_or_default();
    let rows = rows
        .into_iter()
        .map(|mut row| {
            columns
                .iter()
                .map(|c| match row.iter().position(|(k, _)| *k == c.name) {
                    Some(i) => row.swap_remove(i).1,
                    None => Value::Null,
                })
                .collect()
        })
        .collect();
    QueryResult { columns, rows, ..QueryResult::default() }
}

/// A JSON array of objects, keeping each object's keys in their written order.
struct RowsVisitor;

impl<'de> Visitor<'de> for RowsVisitor {
    type Value = Vec<Vec<(String, Value)>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of row objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::new();
        while let Some(Row(row)) = seq.next_element::<Row>()? {
            rows.push(row);
        }
        Ok(rows)
    }
}

struct Row(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Row, M::Error> {
                let mut row = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    row.push(entry);
                }
                Ok(Row(row))
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}
