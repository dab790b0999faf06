//! Databases over MCP.
//!
//! This crate starts with the part every SQL tool rests on: [`check_read_only`], the statement guard
//! that lets through exactly one read statement, parsed with the database's own dialect. The native
//! backend runs what passes inside a read-only transaction as well, so that one gap is not a hole.

#[cfg(feature = "native")]
mod generate;
mod guard;
#[cfg(feature = "native")]
mod native;
#[cfg(feature = "native")]
mod server;
mod wrappers;

pub use guard::{Dialect, MAX_NESTING, MAX_OPERATORS, check_read_only, check_write};
pub use wrappers::{Sql, SqlGeneration};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A column of a result: its name and the database's name for its type (empty when the server
/// does not say).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct ResultColumn {
    pub name: String,
    #[serde(rename = "type", default)]
    pub type_name: String,
}

/// The rows of a query, as JSON values in column order, and whether (and why) they stop short.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
    /// Rows changed, for a statement that writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
}

impl QueryResult {
    /// The values of the column called `name`, one per row.
    pub fn column(&self, name: &str) -> Option<Vec<&Value>> {
        let i = self.columns.iter().position(|c| c.name == name)?;
        Some(self.rows.iter().filter_map(|r| r.get(i)).collect())
    }
}
#[cfg(feature = "native")]
pub use generate::{Generated, Generator, SqlModel};
#[cfg(feature = "native")]
pub use native::{Database, Limits};
#[cfg(feature = "native")]
pub use server::{Connections, SqlServer};

/// Why a statement was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("the statement does not parse as {dialect}: {message}")]
    Parse { dialect: &'static str, message: String },
    #[error("the statement is empty")]
    Empty,
    #[error("only one statement may run at a time; found {count} (stacked statements are refused)")]
    Stacked { count: usize },
    #[error("{kind} is not a read statement; this connection is read-only")]
    NotRead { kind: String },
    #[error("{kind} is not a read statement; reads run here, writes through `write_query`")]
    ReadsOnly { kind: String },
    #[error("{kind} reaches outside the database's data and is refused, even on a writable connection")]
    NotAllowed { kind: String },
    #[error("a query may not write: it contains {kind} (data-modifying statements inside a query are refused)")]
    NestedWrite { kind: String },
    #[error("SELECT ... INTO {target} writes a table or variable; this connection is read-only")]
    SelectInto { target: String },
    #[error("`{clause}` takes row locks; this connection is read-only")]
    Locking { clause: String },
    #[error("the function {name} has effects outside the query and is refused")]
    SideEffectFunction { name: String },
    #[error("no native backend for `{scheme}:` URLs (SQLite, PostgreSQL and MySQL/MariaDB are supported)")]
    Unsupported { scheme: String },
    #[error(
        "the statement has {expected} placeholder(s) but {given} parameter(s) were given; pass one value in `params` for each placeholder"
    )]
    Parameters { expected: usize, given: usize },
    #[error("the statement ran past its timeout of {after:?} and was abandoned")]
    Timeout { after: std::time::Duration },
    #[error("column `{column}` has type {type_name}, which has no JSON form here; cast it (`{column}::text`)")]
    UnsupportedType { column: String, type_name: String },
    #[error("this connection is read-only; writing needs `write: true` in its configuration")]
    ReadOnlyConnection,
    #[error("generating SQL: {0}")]
    Generation(String),
    #[error("the generated statement reads tables that do not exist ({tables}): {sql}")]
    UnknownTables { sql: String, tables: String },
    #[error(
        "the generated statement names columns that do not exist ({columns}; the tables it reads have {known}): {sql}"
    )]
    UnknownColumns { sql: String, columns: String, known: String },
    #[error("database error: {0}")]
    Database(String),
    /// The first connection failed: `target` is the file or `host:port/database` (no credentials).
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("tool `{tool}` answered in a form that is not a result set: {message}")]
    Unreadable { tool: String, message: String },
    #[error(transparent)]
    Call(#[from] mcp_core::Error),
}
