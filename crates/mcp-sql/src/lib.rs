//! Databases over MCP.
//!
//! This crate starts with the part every SQL tool rests on: [`check_read_only`], the statement guard
//! that lets through exactly one read statement, parsed with the database's own dialect. The native
//! backend runs what passes inside a read-only transaction as well, so that one gap is not a hole.

mod guard;
#[cfg(feature = "native")]
mod native;
#[cfg(feature = "native")]
mod server;

pub use guard::{Dialect, check_read_only};
#[cfg(feature = "native")]
pub use native::{Database, Limits, QueryResult, ResultColumn};
#[cfg(feature = "native")]
pub use server::SqlServer;

/// Why a statement was refused or failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqlError {
    #[error("the statement does not parse as {dialect}: {message}")]
    Parse { dialect: &'static str, message: String },
    #[error("the statement is empty")]
    Empty,
    #[error("only one statement may run at a time; found {count} (stacked statements are refused)")]
    Stacked { count: usize },
    #[error("{kind} is not a read statement; this connection is read-only")]
    NotRead { kind: String },
    #[error("a query may not write: it contains {kind} (data-modifying statements inside a query are refused)")]
    NestedWrite { kind: String },
    #[error("SELECT ... INTO {target} writes a table; this connection is read-only")]
    SelectInto { target: String },
    #[error("`{clause}` takes row locks; this connection is read-only")]
    Locking { clause: String },
    #[error("the function {name} has effects outside the query and is refused")]
    SideEffectFunction { name: String },
    #[error("no native backend for `{scheme}:` URLs (SQLite and PostgreSQL are supported)")]
    Unsupported { scheme: String },
    #[error("the statement ran past its timeout of {after:?} and was abandoned")]
    Timeout { after: std::time::Duration },
    #[error("column `{column}` has type {type_name}, which has no JSON form here; cast it (`{column}::text`)")]
    UnsupportedType { column: String, type_name: String },
    #[error("database error: {0}")]
    Database(String),
}
