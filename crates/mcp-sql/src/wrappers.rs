//! Typed calls to SQL servers: ours, the reference Postgres server (`query`, which answers with its
//! rows as a JSON array of objects) and the SQLite-style servers (`read_query`, `list_tables`,
//! `describe_table`; the reference SQLite server answers with the Python `repr` of its rows). Every
//! answer comes back as a [`QueryResult`] with columns in order.

use std::fmt;

use mcp_core::protocol::CallToolResult;
use mcp_core::typed::decode_result;
use mcp_core::{CallTool, CallToolExt};
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
        parse(tool, &self.caller.call_checked(tool, &args).await?)
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
        Ok(self.caller.call_checked("create_query", &args).await?.text_content())
    }
}

/// Reads our structured result, or a JSON array of row objects in the text (the reference
/// servers), or the Python `repr` of one (the reference SQLite server).
fn parse(tool: &str, result: &CallToolResult) -> Result<QueryResult, SqlError> {
    if result.structured_content.is_some()
        && let Ok(parsed) = decode_result::<QueryResult>(tool, result)
    {
        return Ok(parsed);
    }
    let text = result.text_content();
    let mut de = serde_json::Deserializer::from_str(&text);
    if let Ok(rows) = de.deserialize_seq(RowsVisitor) {
        return Ok(from_objects(rows));
    }
    if let Some(rows) = python_rows(&text) {
        return Ok(from_objects(rows));
    }
    // Servers that report failures as plain text (`Database error: ...`) land here too.
    let shown: String = text.chars().take(300).collect();
    Err(SqlError::Unreadable { tool: tool.to_owned(), message: shown })
}

/// Rows written as a Python `repr` of a list of dicts (`[{'id': 1, 'name': 'ada', 'x': None}]`).
fn python_rows(text: &str) -> Option<Vec<Vec<(String, Value)>>> {
    let mut p = PyRepr { chars: text.trim().chars().collect(), at: 0 };
    let rows = p.rows()?;
    p.space();
    (p.at == p.chars.len()).then_some(rows)
}

struct PyRepr {
    chars: Vec<char>,
    at: usize,
}

impl PyRepr {
    fn space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> Option<()> {
        self.space();
        (self.chars.get(self.at) == Some(&c)).then(|| self.at += 1)
    }

    fn peek(&mut self) -> Option<char> {
        self.space();
        self.chars.get(self.at).copied()
    }

    /// `[ {..}, {..} ]`
    fn rows(&mut self) -> Option<Vec<Vec<(String, Value)>>> {
        self.eat('[')?;
        let mut rows = Vec::new();
        while self.peek()? != ']' {
            rows.push(self.dict()?);
            if self.peek()? == ',' {
                self.at += 1;
            }
        }
        self.eat(']')?;
        Some(rows)
    }

    fn dict(&mut self) -> Option<Vec<(String, Value)>> {
        self.eat('{')?;
        let mut entries = Vec::new();
        while self.peek()? != '}' {
            let Value::String(key) = self.value(0)? else { return None };
            self.eat(':')?;
            entries.push((key, self.value(0)?));
            if self.peek()? == ',' {
                self.at += 1;
            }
        }
        self.eat('}')?;
        Some(entries)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            '\'' | '"' => self.string().map(Value::String),
            'b' if matches!(self.chars.get(self.at + 1), Some('\'' | '"')) => {
                self.at += 1;
                // bytes: kept as the text Python showed.
                self.string().map(Value::String)
            }
            '[' | '(' => {
                let close = if self.chars[self.at] == '[' { ']' } else { ')' };
                self.at += 1;
                let mut items = Vec::new();
                while self.peek()? != close {
                    items.push(self.value(depth + 1)?);
                    if self.peek()? == ',' {
                        self.at += 1;
                    }
                }
                self.at += 1;
                Some(Value::Array(items))
            }
            '{' => {
                let entries = self.dict()?;
                Some(Value::Object(entries.into_iter().collect()))
            }
            _ => {
                let start = self.at;
                while self.chars.get(self.at).is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
                {
                    self.at += 1;
                }
                let word: String = self.chars[start..self.at].iter().collect();
                match word.as_str() {
                    "None" => Some(Value::Null),
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "nan" | "inf" | "-inf" => Some(Value::Null),
                    number => {
                        serde_json::from_str::<serde_json::Number>(&number.replace('_', "")).ok().map(Value::Number)
                    }
                }
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.chars[self.at];
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = *self.chars.get(self.at)?;
            self.at += 1;
            match c {
                c if c == quote => return Some(out),
                '\\' => {
                    let e = *self.chars.get(self.at)?;
                    self.at += 1;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = self.chars.get(self.at..self.at + len)?.iter().collect();
                            self.at += len;
                            out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_reprs_read_as_rows_in_key_order() {
        let text = r#"[{'id': 1, 'name': 'O\'Brien', 'score': 9.5, 'note': None, 'ok': True}, {'id': 2, 'name': "it's", 'score': -1e-05, 'note': 'a\nb \xe9', 'ok': False}]"#;
        let rows = python_rows(text).expect("parses");
        let result = from_objects(rows);
        let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "score", "note", "ok"]);
        assert_eq!(result.rows[0], vec![json!(1), json!("O'Brien"), json!(9.5), Value::Null, json!(true)]);
        assert_eq!(result.rows[1], vec![json!(2), json!("it's"), json!(-1e-05), json!("a\nb é"), json!(false)]);
        assert_eq!(python_rows("[]").map(|r| r.len()), Some(0));
        for bad in ["[{'a': 1}", "Database error: no such table: x", "[{'a': 1}] trailing", "[{1: 2}]"] {
            assert!(python_rows(bad).is_none(), "{bad}");
        }
    }
}
