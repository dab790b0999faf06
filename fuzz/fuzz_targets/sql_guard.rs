//! `mcp_sql::check_read_only` on arbitrary text, in every dialect.
//!
//! - It never panics.
//! - What it accepts, parsed again independently with sqlparser in the same dialect, is exactly
//!   one statement, the one the guard returned: a query, or an `EXPLAIN` of one.
//! - Nothing inside it is another statement (no data-modifying CTE, no nested write), no query
//!   in it locks rows or selects `INTO` a table.
//! - A writable connection accepts it too (`check_write`): a read is never refused there.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use mcp_sql::{Dialect, check_read_only, check_write};
use sqlparser::ast::{Query, SetExpr, Statement, Visit, Visitor, visit_statements};
use sqlparser::dialect::{GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

/// How many `EXPLAIN`s wrap a query; `None` when the statement is not a read.
fn explains(statement: &Statement) -> Option<usize> {
    match statement {
        Statement::Query(_) => Some(0),
        Statement::Explain { statement, .. } => explains(statement).map(|n| n + 1),
        _ => None,
    }
}

/// Fails on a locking clause or a `SELECT ... INTO` in any query.
struct QueriesOnlyRead;

fn body_reads(body: &SetExpr) -> Result<(), String> {
    match body {
        SetExpr::Select(select) => match &select.into {
            Some(into) => Err(format!("SELECT INTO {into}")),
            None => Ok(()),
        },
        SetExpr::SetOperation { left, right, .. } => body_reads(left).and(body_reads(right)),
        SetExpr::Query(_) | SetExpr::Values(_) | SetExpr::Table(_) => Ok(()),
        other => Err(format!("a write inside a query: {other}")),
    }
}

impl Visitor for QueriesOnlyRead {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if let Some(lock) = query.locks.first() {
            return ControlFlow::Break(format!("a locking clause: {lock}"));
        }
        match body_reads(&query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn parse(dialect: Dialect, sql: &str) -> Result<Vec<Statement>, sqlparser::parser::ParserError> {
    match dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::MySql => Parser::parse_sql(&MySqlDialect {}, sql),
        Dialect::Generic => Parser::parse_sql(&GenericDialect {}, sql),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    for dialect in [Dialect::Postgres, Dialect::Sqlite, Dialect::MySql, Dialect::Generic] {
        let Ok(accepted) = check_read_only(dialect, sql) else { continue };
        let statements =
            parse(dialect, sql).unwrap_or_else(|e| panic!("{dialect:?} accepted what does not parse: {e}"));
        assert_eq!(statements.len(), 1, "{dialect:?} accepted {} statements: {sql:?}", statements.len());
        assert_eq!(statements[0], accepted, "{dialect:?}: the guard checked another statement than the one given");
        let wrappers = explains(&accepted).unwrap_or_else(|| panic!("{dialect:?} accepted a non-read: {accepted}"));
        let mut nested = 0;
        let _ = visit_statements(&accepted, |_| {
            nested += 1;
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(nested, wrappers + 1, "{dialect:?} accepted a statement inside a read: {accepted}");
        if let ControlFlow::Break(what) = accepted.visit(&mut QueriesOnlyRead) {
            panic!("{dialect:?} accepted {what}: {accepted}");
        }
        if let Err(e) = check_write(dialect, sql) {
            panic!("{dialect:?}: a read the read-only guard accepts is refused for writing: {e}: {sql:?}");
        }
    }
});
