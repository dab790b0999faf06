//! The statement guard: the first of the two locks that keep a read-only connection read-only.
//!
//! A statement is parsed with the dialect of the database it will run on and let through only when it
//! is exactly one read: a query (`SELECT`, `VALUES`, `WITH ... SELECT`, set operations of those) or an
//! `EXPLAIN` of one. Inside the query nothing may write: no `SELECT ... INTO`, no data-modifying
//! common table expression, no row locks, no function with a side effect outside the query (killing a
//! backend, reading or writing server files, large objects, sequences, settings, loading extensions).
//!
//! The second lock is the database's own: the statement also runs in a read-only transaction, so a
//! function missing from the list below still cannot write.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, CreateTable, Expr, ObjectName, ObjectType, Query, SetExpr, Statement,
    TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::SqlError;

/// The SQL dialect a statement is parsed with: the database's own, so that what we check is what it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
    MySql,
    Generic,
}

impl Dialect {
    /// The dialect of a connection URL's scheme (`postgres://`, `sqlite:`, `mysql://`, `mariadb://`).
    pub fn from_url(url: &str) -> Self {
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Dialect::Postgres,
            "sqlite" => Dialect::Sqlite,
            "mysql" | "mariadb" => Dialect::MySql,
            _ => Dialect::Generic,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
            Dialect::MySql => "MySQL",
            Dialect::Generic => "generic SQL",
        }
    }

    /// Parses `sql` into its statements, refusing first what is nested deeper than [`MAX_NESTING`].
    pub fn parse(self, sql: &str) -> Result<Vec<Statement>, SqlError> {
        let dialect: &dyn sqlparser::dialect::Dialect = match self {
            Dialect::Postgres => &PostgreSqlDialect {},
            Dialect::Sqlite => &SQLiteDialect {},
            Dialect::MySql => &MySqlDialect {},
            Dialect::Generic => &GenericDialect {},
        };
        let error = |message: String| SqlError::Parse { dialect: self.name(), message };
        // The same tokens the parser reads, so parentheses inside strings and comments do not count.
        let tokens = self.unpanicked(|| Tokenizer::new(dialect, sql).tokenize_with_location())?;
        let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
        for token in &tokens {
            operators += usize::from(operator(&token.token));
            match &token.token {
                // MariaDB runs the text of `/*M! ... */` as SQL; to the parser it is a comment.
                // (`/*! ... */`, which MySQL runs too, the MySQL dialect parses as SQL.)
                Token::Whitespace(Whitespace::MultiLineComment(text))
                    if self == Dialect::MySql && text.starts_with("M!") =>
                {
                    return Err(error(
                        "an executable comment (`/*M! ... */`) runs as SQL on MariaDB and is refused".into(),
                    ));
                }
                Token::LParen | Token::LBracket => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if operators > MAX_OPERATORS {
            return Err(error(format!("{operators} operators in one statement; at most {MAX_OPERATORS} are accepted")));
        }
        if deepest > MAX_NESTING {
            return Err(error(format!("nested {deepest} levels deep; at most {MAX_NESTING} are accepted")));
        }
        self.unpanicked(|| Parser::new(dialect).with_tokens_with_locations(tokens).parse_statements())
    }

    /// Runs the tokenizer or the parser: its error, or a panic inside it (sqlparser 0.59 had one
    /// on MySQL's `DIV` with nothing after it), refuses the statement with a parse error instead
    /// of failing the whole call. The dialects are stateless and what panicked is dropped with
    /// the panic: nothing half-done is seen after.
    fn unpanicked<T, E: std::fmt::Display>(self, run: impl FnOnce() -> Result<T, E>) -> Result<T, SqlError> {
        let message = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the SQL parser failed on this statement".to_owned(),
        };
        Err(SqlError::Parse { dialect: self.name(), message })
    }
}

/// The deepest nesting of parentheses (and brackets) a statement may have. The parser backtracks
/// through nested parentheses in time that grows about 2.5 times with each level (a 188-byte
/// statement 29 levels deep took a minute and a half): deeper statements are refused unparsed.
pub const MAX_NESTING: usize = 16;

/// The most operators (`+`, `=`, `AND`, `::` and the like) a statement may hold. A chain of them
/// (`1+1+...+1`) parses into a tree as deep as it is long, which checking it and dropping it
/// walk recursively: a megabyte of `1+` overflowed the stack and ended the process. 2,000 levels
/// take well under a serving thread's 2 MiB in a release build (10,000 were measured to fit).
pub const MAX_OPERATORS: usize = 2_000;

/// Whether a token may join two expressions into a deeper one (counted against
/// [`MAX_OPERATORS`]; a token kind not named here counts, which errs on the side of refusing).
fn operator(token: &Token) -> bool {
    match token {
        Token::Word(word) => matches!(
            word.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::DIV
                | Keyword::MOD
                | Keyword::IS
                | Keyword::NOT
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::REGEXP
                | Keyword::RLIKE
                | Keyword::BETWEEN
                | Keyword::IN
                | Keyword::COLLATE
                | Keyword::OVERLAPS
        ),
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::DollarQuotedString(_)
        | Token::Placeholder(_)
        | Token::Whitespace(_)
        | Token::Comma
        | Token::SemiColon
        | Token::Period
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace => false,
        _ => true,
    }
}

/// Functions whose effect reaches outside the query, matched on the last part of their name,
/// case-insensitively. Exact names first, then prefixes that cover whole families.
const SIDE_EFFECT_FUNCTIONS: &[&str] = &[
    // PostgreSQL: other sessions, server files, programs, settings, sequences.
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_switch_wal",
    "pg_checkpoint",
    "set_config",
    "nextval",
    "setval",
    // Each of these runs SQL given as a string, which no check of the statement sees.
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
    "cursor_to_xml",
    "ts_stat",
    "ts_rewrite",
    // Indexes changed in place.
    "brin_summarize_new_values",
    "brin_summarize_range",
    "brin_desummarize_range",
    "gin_clean_pending_list",
    // Deliberate stalls, as MySQL's `sleep` below.
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "pg_notify",
    "pg_nextoid",
    "pg_stat_statements_reset",
    "pg_import_system_collations",
    "txid_current",
    "pg_current_xact_id",
    // SQLite: native code and files.
    "load_extension",
    "writefile",
    "readfile",
    "fts3_tokenizer",
    "edit",
    // MySQL / MariaDB: server files, locks, deliberate stalls.
    "load_file",
    "get_lock",
    "release_lock",
    "release_all_locks",
    "sleep",
    "benchmark",
    "sys_exec",
    "sys_eval",
];

const SIDE_EFFECT_PREFIXES: &[&str] = &[
    "lo_",
    "dblink",
    "pg_read_",
    "pg_ls_",
    "pg_stat_file",
    "pg_file_",
    "pg_advisory",
    "pg_try_advisory",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
    "pg_stat_reset",
    "pg_wal_replay_",
    "pg_backup_",
    "pg_copy_",
    "pg_log_",
    "pg_sync_",
    "binary_upgrade_",
    "pg_start_backup",
    "pg_stop_backup",
];

fn side_effect_function(name: &ObjectName) -> Option<String> {
    let last = name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    let listed =
        SIDE_EFFECT_FUNCTIONS.contains(&last.as_str()) || SIDE_EFFECT_PREFIXES.iter().any(|p| last.starts_with(p));
    listed.then(|| name.to_string())
}

/// Checks that `sql` is exactly one read statement in `dialect`, and returns it parsed.
pub fn check_read_only(dialect: Dialect, sql: &str) -> Result<Statement, SqlError> {
    // A statement the parser does not know is named by its first word when that word begins a
    // statement that is no read (`PRAGMA table_info(t)`, `VACUUM INTO`): that, not the parser's
    // complaint, is why it is refused. A misspelt read keeps the parser's words.
    let mut statements = dialect.parse(sql).map_err(|e| match first_word(sql) {
        Some(word) if WRITES.contains(&word.as_str()) || NEVER_WRITABLE.contains(&word.as_str()) => {
            SqlError::NotRead { kind: word }
        }
        _ => e,
    })?;
    match statements.len() {
        0 => Err(SqlError::Empty),
        1 => {
            let statement = statements.remove(0);
            check_statement(&statement)?;
            Ok(statement)
        }
        count => Err(SqlError::Stacked { count }),
    }
}

/// The highest numbered placeholder (`$N`) of a parsed statement, 0 if it has none: how many
/// parameters a PostgreSQL statement takes. Every value of the statement is seen, those outside
/// expressions too (`TABLESAMPLE ... REPEATABLE ($1)`).
#[cfg_attr(not(feature = "native"), allow(dead_code))]
pub(crate) fn numbered_placeholders(statement: &Statement) -> usize {
    struct Highest(usize);
    impl Visitor for Highest {
        type Break = ();
        fn pre_visit_value(&mut self, value: &sqlparser::ast::ValueWithSpan) -> ControlFlow<()> {
            if let sqlparser::ast::Value::Placeholder(name) = &value.value
                && let Some(n) = name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            {
                self.0 = self.0.max(n);
            }
            ControlFlow::Continue(())
        }
    }
    let mut highest = Highest(0);
    let _ = statement.visit(&mut highest);
    highest.0
}

fn check_statement(statement: &Statement) -> Result<(), SqlError> {
    match statement {
        Statement::Query(query) => walk(query.as_ref(), true),
        // EXPLAIN ANALYZE runs the statement, so the statement itself must pass.
        Statement::Explain { statement, .. } => check_statement(statement),
        other => Err(SqlError::NotRead { kind: statement_kind(other) }),
    }
}

fn walk<V: Visit + ?Sized>(node: &V, read_only: bool) -> Result<(), SqlError> {
    match node.visit(&mut Checker { read_only }) {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Checks that `sql` is exactly one statement a writable connection may run, and returns it parsed.
///
/// Reads, writes to rows and the definitions of tables, views, indexes, sequences, schemas and
/// types are let through (see [`writable`]); everything else is refused, so a kind of statement
/// the parser learns later is refused until it is listed. Refused among others: `COPY` (server
/// files and programs), attaching files, transaction control (each statement is its own
/// transaction), settings and pragmas, extensions, functions, procedures, operators, triggers and
/// rules (code), roles, users and grants, foreign servers and tables, other databases, server
/// locks and flushes, notifications, and the side-effecting functions refused on read-only
/// connections too.
pub fn check_write(dialect: Dialect, sql: &str) -> Result<Statement, SqlError> {
    let mut statements = dialect.parse(sql).map_err(|e| match first_word(sql) {
        Some(word) if NEVER_WRITABLE.contains(&word.as_str()) => SqlError::NotAllowed { kind: word },
        _ => e,
    })?;
    let statement = match statements.len() {
        0 => return Err(SqlError::Empty),
        1 => statements.remove(0),
        count => return Err(SqlError::Stacked { count }),
    };
    if !writable(&statement) {
        return Err(SqlError::NotAllowed { kind: statement_kind(&statement) });
    }
    walk(&statement, false)?;
    Ok(statement)
}

/// Whether a writable connection runs `statement` (before the walk for side-effecting functions).
fn writable(statement: &Statement) -> bool {
    match statement {
        Statement::Query(_)
        | Statement::Insert { .. }
        | Statement::Update { .. }
        | Statement::Delete { .. }
        | Statement::Merge { .. }
        | Statement::Truncate { .. }
        | Statement::CreateIndex { .. }
        | Statement::CreateView { .. }
        | Statement::CreateSchema { .. }
        | Statement::CreateSequence { .. }
        | Statement::CreateType { .. }
        | Statement::AlterIndex { .. }
        | Statement::AlterView { .. }
        | Statement::AlterType { .. }
        | Statement::Comment { .. }
        | Statement::RefreshMaterializedView { .. } => true,
        // EXPLAIN ANALYZE runs the statement.
        Statement::Explain { statement, .. } => writable(statement),
        Statement::CreateTable(table) => table_stays_inside(table),
        Statement::AlterTable(alter) => alter.table_type.is_none() && alter.operations.iter().all(table_change),
        Statement::Drop { object_type, .. } => matches!(
            object_type,
            ObjectType::Table
                | ObjectType::View
                | ObjectType::MaterializedView
                | ObjectType::Index
                | ObjectType::Sequence
                | ObjectType::Schema
                | ObjectType::Type
        ),
        _ => false,
    }
}

/// A table whose rows stay in the database: not external, not at a location or behind a
/// connection, and (MySQL, MariaDB) on an engine that keeps its rows in the server's own files.
fn table_stays_inside(table: &CreateTable) -> bool {
    if table.external || table.location.is_some() || table.with_connection.is_some() || table.base_location.is_some() {
        return false;
    }
    let options = table.table_options.to_string().to_ascii_lowercase();
    // Files elsewhere (`DATA DIRECTORY`), other servers (`CONNECTION`), CONNECT's sources.
    const OUTSIDE: &[&str] = &["directory", "connection", "file_name", "table_type", "socket", "dbname", "srcdef"];
    if OUTSIDE.iter().any(|word| options.contains(word)) {
        return false;
    }
    let mut rest = options.as_str();
    while let Some(at) = rest.find("engine") {
        rest = rest[at + "engine".len()..].trim_start_matches([' ', '=']);
        let engine: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !["innodb", "myisam", "aria", "memory", "heap"].contains(&engine.as_str()) {
            return false;
        }
    }
    true
}

/// The changes to a table a writable connection makes: its columns, constraints, indexes and
/// name. Not its owner, triggers, rules, row security or foreign-data options.
fn table_change(operation: &AlterTableOperation) -> bool {
    match operation {
        AlterTableOperation::AlterColumn { op, .. } => !matches!(op, AlterColumnOperation::GenericOptions { .. }),
        other => matches!(
            other,
            AlterTableOperation::AddColumn { .. }
                | AlterTableOperation::DropColumn { .. }
                | AlterTableOperation::RenameColumn { .. }
                | AlterTableOperation::ChangeColumn { .. }
                | AlterTableOperation::ModifyColumn { .. }
                | AlterTableOperation::RenameTable { .. }
                | AlterTableOperation::AddConstraint { .. }
                | AlterTableOperation::DropConstraint { .. }
                | AlterTableOperation::RenameConstraint { .. }
                | AlterTableOperation::ValidateConstraint { .. }
                | AlterTableOperation::DropPrimaryKey { .. }
                | AlterTableOperation::DropForeignKey { .. }
                | AlterTableOperation::DropIndex { .. }
                | AlterTableOperation::AutoIncrement { .. }
        ),
    }
}

/// The leading keywords of a statement (`DELETE`, `COPY`, `CREATE TABLE`), to name it in an error.
/// The first words of statements that write rows or definitions.
const WRITES: &[&str] =
    &["INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE", "CREATE", "ALTER", "DROP", "REPLACE", "UPSERT", "COMMENT"];

/// The first words of statements no connection runs (see [`check_write`]), for naming one the
/// parser does not know.
const NEVER_WRITABLE: &[&str] = &[
    "PRAGMA",
    "VACUUM",
    "REINDEX",
    "ANALYZE",
    "DO",
    "ATTACH",
    "DETACH",
    "COPY",
    "LOAD",
    "SET",
    "RESET",
    "GRANT",
    "REVOKE",
    "CALL",
    "LOCK",
    "UNLOCK",
    "LISTEN",
    "NOTIFY",
    "CHECKPOINT",
    "DISCARD",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "INSTALL",
    "FLUSH",
    "KILL",
    "SHUTDOWN",
    "HANDLER",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "CLUSTER",
    "SECURITY",
    "IMPORT",
    "USE",
];

/// The first word of `sql`, upper-cased, after whitespace and comments; `None` if it begins
/// with anything else (a parenthesis, a quote).
fn first_word(sql: &str) -> Option<String> {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
    }
    let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
    (!word.is_empty()).then(|| word.to_ascii_uppercase())
}

pub(crate) fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("?").to_ascii_uppercase();
    match first.as_str() {
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "GRANT" | "REVOKE" => match words.next() {
            Some(second) => format!("{first} {}", second.to_ascii_uppercase()),
            None => first,
        },
        _ => first,
    }
}

/// Walks every query, subquery and expression of a statement and stops at the first side effect
/// (and, when `read_only`, at the first write).
struct Checker {
    read_only: bool,
}

impl Checker {
    fn check_body(body: &SetExpr) -> ControlFlow<SqlError> {
        match body {
            SetExpr::Select(select) => match &select.into {
                Some(into) => {
                    let targets: Vec<String> = into.targets.iter().map(ToString::to_string).collect();
                    ControlFlow::Break(SqlError::SelectInto { target: targets.join(", ") })
                }
                None => ControlFlow::Continue(()),
            },
            SetExpr::SetOperation { left, right, .. } => {
                Self::check_body(left)?;
                Self::check_body(right)
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                ControlFlow::Break(SqlError::NestedWrite { kind: statement_kind(s) })
            }
            SetExpr::Query(_) | SetExpr::Values(_) | SetExpr::Table(_) => ControlFlow::Continue(()),
        }
    }
}

impl Visitor for Checker {
    type Break = SqlError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        if !self.read_only {
            return ControlFlow::Continue(());
        }
        if let Some(lock) = query.locks.first() {
            return ControlFlow::Break(SqlError::Locking { clause: lock.to_string() });
        }
        Self::check_body(&query.body)
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<SqlError> {
        // A read's top statement is checked before the walk; any statement met inside a query writes.
        if !self.read_only {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(SqlError::NestedWrite { kind: statement_kind(statement) })
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
        if let Expr::Function(function) = expr
            && let Some(name) = side_effect_function(&function.name)
        {
            return ControlFlow::Break(SqlError::SideEffectFunction { name });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
        // A table function in FROM (`FROM pg_ls_dir('/')`) is a table name with arguments; a
        // table merely named like a listed function (`lo_items`, `benchmark`) is a table.
        let function = match factor {
            TableFactor::Function { name, .. } | TableFactor::Table { name, args: Some(_), .. } => name,
            _ => return ControlFlow::Continue(()),
        };
        match side_effect_function(function) {
            Some(name) => ControlFlow::Break(SqlError::SideEffectFunction { name }),
            None => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL takes as many parameters as the highest `$N`, wherever it is.
    #[test]
    fn placeholders_are_counted_wherever_they_are() {
        for (sql, expected) in [
            ("SELECT 1", 0),
            ("SELECT * FROM t WHERE a = $1 AND b IN ($2, $3) LIMIT $4 OFFSET $5", 5),
            ("SELECT $2::int, (SELECT max(x) FROM u WHERE y = $1)", 2),
            ("WITH c AS (SELECT $3 AS v) SELECT CASE WHEN v > $1 THEN $2 END FROM c", 3),
            ("SELECT * FROM t TABLESAMPLE BERNOULLI (10) REPEATABLE ($1)", 1),
            ("SELECT * FROM t WHERE doc ->> 'k' = $1 AND tags @> ARRAY[$2]", 2),
        ] {
            let statement = check_read_only(Dialect::Postgres, sql).expect("a read");
            assert_eq!(numbered_placeholders(&statement), expected, "{sql}");
        }
    }
}
