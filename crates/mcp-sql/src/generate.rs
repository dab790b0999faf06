//! Natural language to SQL, from a language model prompted with the live schema ([`SqlModel`]:
//! this crate knows no model API; the gateway plugs in an OpenAI-compatible one) or from a
//! SQL-generation MCP server's tool (the seed's `create_query(description, schema)`).
//! What comes back is never trusted: it must be one read statement (the guard), it may name only
//! tables and columns that exist, and it can be `EXPLAIN`ed before anyone runs it.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use mcp_core::{CallTool, CallToolExt};
use serde::Serialize;
use serde_json::{Value, json};
use sqlparser::ast::{Expr, Query, SelectItem, SetExpr, TableFactor, Visit, Visitor};

use crate::{Database, Dialect, QueryResult, SqlError, check_read_only};

/// What SQL generation needs from a language model: its text answer to a system prompt and one
/// question, deterministic where the model allows. Errors are shown to the caller, so they must
/// not carry credentials.
#[async_trait]
pub trait SqlModel: Send + Sync + std::fmt::Debug {
    /// The model's answer to `question` under the `system` prompt.
    async fn answer(&self, system: &str, question: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>>;
}

/// A checked statement, and its plan when asked for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Generated {
    pub sql: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<QueryResult>,
}

#[derive(Clone)]
enum Source {
    Chat(Arc<dyn SqlModel>),
    Mcp { caller: Arc<dyn CallTool>, tool: String },
}

/// Asks for SQL answering a description and checks what comes back.
#[derive(Clone)]
pub struct Generator {
    source: Source,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Chat(model) => f.debug_tuple("Generator").field(model).finish(),
            Source::Mcp { tool, .. } => f.debug_struct("Generator").field("tool", tool).finish_non_exhaustive(),
        }
    }
}

impl Generator {
    /// Through a language model, prompted with the dialect and the live schema.
    pub fn model(model: Arc<dyn SqlModel>) -> Self {
        Generator { source: Source::Chat(model) }
    }

    /// Through `tool` of a SQL-generation MCP server, called with `{description, schema}` (the
    /// schema as `table(column type, ...)` lines); its text answer (or a `sql`/`query` field of
    /// its structured content) is the SQL.
    pub fn mcp(caller: Arc<dyn CallTool>, tool: impl Into<String>) -> Self {
        Generator { source: Source::Mcp { caller, tool: tool.into() } }
    }

    /// SQL for `description` over `db`'s live schema, checked, and `EXPLAIN`ed when `explain`.
    pub async fn generate(&self, db: &Database, description: &str, explain: bool) -> Result<Generated, SqlError> {
        let schema = db.schema().await?;
        let answer = self.ask(db.dialect(), &schema, description).await?;
        let sql = extract_sql(&answer);
        check_generated(db.dialect(), &sql, &schema)?;
        let plan = if explain {
            let explain_sql = match db.dialect() {
                Dialect::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
                _ => format!("EXPLAIN {sql}"),
            };
            Some(db.query(&explain_sql, &[]).await?)
        } else {
            None
        };
        Ok(Generated { sql, plan })
    }

    async fn ask(&self, dialect: Dialect, schema: &QueryResult, description: &str) -> Result<String, SqlError> {
        match &self.source {
            Source::Chat(model) => {
                let text = model
                    .answer(&prompt(dialect, schema), description)
                    .await
                    .map_err(|e| SqlError::Generation(e.to_string()))?;
                if text.trim().is_empty() {
                    return Err(SqlError::Generation("the model answered without any text".into()));
                }
                Ok(text)
            }
            Source::Mcp { caller, tool } => {
                let arguments = json!({"description": description, "schema": schema_text(schema)});
                let result = match caller.call_checked(tool, &arguments).await {
                    Err(mcp_core::Error::ToolFailed { message, .. }) => {
                        return Err(SqlError::Generation(format!("`{tool}` failed: {message}")));
                    }
                    other => other?,
                };
                let structured = result.structured_content.as_ref().and_then(|v| {
                    ["sql", "query"].iter().find_map(|k| v.get(*k).and_then(Value::as_str)).map(str::to_owned)
                });
                match structured.unwrap_or_else(|| result.text_content()) {
                    text if text.trim().is_empty() => {
                        Err(SqlError::Generation(format!("`{tool}` answered without any SQL")))
                    }
                    text => Ok(text),
                }
            }
        }
    }
}

/// Every table with its typed columns, one per line: `table(column type, ...)`.
fn schema_text(schema: &QueryResult) -> String {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for row in &schema.rows {
        let (Some(table), Some(column)) = (row[0].as_str(), row[1].as_str()) else { continue };
        let typed = format!("{column} {}", row[2].as_str().unwrap_or(""));
        match tables.last_mut() {
            Some((name, columns)) if name == table => columns.push(typed),
            _ => tables.push((table.to_owned(), vec![typed])),
        }
    }
    tables.iter().map(|(t, c)| format!("{t}({})", c.join(", "))).collect::<Vec<_>>().join("\n")
}

/// The system prompt: the dialect, the rules, and every table with its columns.
fn prompt(dialect: Dialect, schema: &QueryResult) -> String {
    format!(
        "You write one read-only SQL query for {dialect:?}. Use only these tables and columns:\n{}\n\
         Answer with the SQL statement only, without explanation.",
        schema_text(schema)
    )
}

/// The statement in a model's answer: a fenced block if there is one, else the whole text.
fn extract_sql(answer: &str) -> String {
    let text = answer.trim();
    let inner = match text.find("```") {
        Some(start) => {
            let after = &text[start + 3..];
            let after = after.split_once('\n').map_or(after, |(first, rest)| {
                if first.trim().chars().all(char::is_alphanumeric) { rest } else { after }
            });
            after.split("```").next().unwrap_or(after)
        }
        None => text,
    };
    inner.trim().trim_end_matches(';').trim().to_owned()
}

/// The guard, then every table the statement reads must exist (names in `WITH` are its own), and
/// every column it names must belong to one of them (or be one of its own aliases).
fn check_generated(dialect: Dialect, sql: &str, schema: &QueryResult) -> Result<(), SqlError> {
    let statement = check_read_only(dialect, sql)?;
    let mut columns: HashMap<String, HashSet<String>> = HashMap::new();
    for row in &schema.rows {
        if let (Some(table), Some(column)) = (row[0].as_str(), row[1].as_str()) {
            columns.entry(table.to_lowercase()).or_default().insert(column.to_lowercase());
        }
    }
    let mut names = Names::default();
    let _ = statement.visit(&mut names);
    let unknown: Vec<String> = names
        .tables
        .iter()
        .map(|(table, _)| table.clone())
        .filter(|t| !columns.contains_key(t) && !names.opaque.contains(t) && !catalogue(t))
        .collect();
    if !unknown.is_empty() {
        let mut unknown = unknown;
        unknown.dedup();
        return Err(SqlError::UnknownTables { sql: sql.to_owned(), tables: unknown.join(", ") });
    }
    // Qualifiers: a table's name or alias resolves to its columns; a CTE or subquery is opaque.
    let mut qualifiers: HashMap<&str, Option<&HashSet<String>>> = HashMap::new();
    let mut readable: HashSet<&str> = HashSet::new();
    for (table, alias) in &names.tables {
        let known = columns.get(table);
        if let Some(cols) = known {
            readable.extend(cols.iter().map(String::as_str));
        }
        qualifiers.insert(table, known);
        if let Some(alias) = alias {
            qualifiers.insert(alias, known);
        }
    }
    for opaque in &names.opaque {
        qualifiers.insert(opaque, None);
    }
    // What a CTE or subquery projects can be any column of the schema, under its own aliases.
    let any_column: HashSet<&str> = columns.values().flatten().map(String::as_str).collect();
    let plain_ok = |c: &str| {
        readable.contains(c)
            || names.aliases.contains(c)
            || (!names.opaque.is_empty() && any_column.contains(c))
            || SPECIAL.contains(&c)
    };
    let mut bad = Vec::new();
    for (qualifier, column) in &names.columns {
        let ok = match qualifier {
            None => plain_ok(column),
            Some(q) => match qualifiers.get(q.as_str()) {
                Some(Some(cols)) => cols.contains(column),
                Some(None) => plain_ok(column),
                None => false,
            },
        };
        if !ok {
            let shown = qualifier.as_ref().map_or_else(|| column.clone(), |q| format!("{q}.{column}"));
            if !bad.contains(&shown) {
                bad.push(shown);
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        let tables: Vec<String> = names
            .tables
            .iter()
            .filter_map(|(t, _)| columns.get(t).map(|c| (t, c)))
            .map(|(t, c)| {
                let mut c: Vec<&str> = c.iter().map(String::as_str).collect();
                c.sort_unstable();
                format!("{t}({})", c.join(", "))
            })
            .collect();
        Err(SqlError::UnknownColumns { sql: sql.to_owned(), columns: bad.join(", "), known: tables.join("; ") })
    }
}

/// Words that parse as column names but are values.
const SPECIAL: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "current_user",
    "session_user",
    "user",
    "true",
    "false",
    "null",
];

/// Catalogue views are always there.
fn catalogue(table: &str) -> bool {
    table.starts_with("sqlite_") || table.starts_with("pg_") || table.starts_with("information_schema")
}

/// The names a statement uses: tables (with aliases), its own relations (CTEs, subqueries),
/// output aliases, and column references (with their qualifier).
#[derive(Default)]
struct Names {
    tables: Vec<(String, Option<String>)>,
    opaque: HashSet<String>,
    aliases: HashSet<String>,
    columns: Vec<(Option<String>, String)>,
}

impl Names {
    fn projections(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(select) => {
                for item in &select.projection {
                    if let SelectItem::ExprWithAlias { alias, .. } = item {
                        self.aliases.insert(alias.value.to_lowercase());
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.projections(left);
                self.projections(right);
            }
            SetExpr::Query(query) => self.projections(&query.body),
            _ => {}
        }
    }
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.opaque.insert(cte.alias.name.value.to_lowercase());
                self.aliases.extend(cte.alias.columns.iter().map(|c| c.name.value.to_lowercase()));
            }
        }
        self.projections(&query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            // Table functions (`generate_series(1, 3)`) are not tables.
            TableFactor::Table { name, alias, args: None, .. } => {
                if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                    let schema = (name.0.len() > 1).then(|| name.0.first().and_then(|p| p.as_ident())).flatten();
                    let table = match schema.map(|s| s.value.to_lowercase()) {
                        Some(s) if s == "information_schema" || s == "pg_catalog" => format!("{s}.{}", last.value),
                        _ => last.value.clone(),
                    }
                    .to_lowercase();
                    let alias = alias.as_ref().map(|a| a.name.value.to_lowercase());
                    self.tables.push((table, alias));
                }
            }
            TableFactor::Table { alias: Some(alias), .. }
            | TableFactor::Derived { alias: Some(alias), .. }
            | TableFactor::UNNEST { alias: Some(alias), .. }
            | TableFactor::Function { alias: Some(alias), .. } => {
                self.opaque.insert(alias.name.value.to_lowercase());
                self.aliases.extend(alias.columns.iter().map(|c| c.name.value.to_lowercase()));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => self.columns.push((None, ident.value.to_lowercase())),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let column = parts[parts.len() - 1].value.to_lowercase();
                let qualifier = parts[parts.len() - 2].value.to_lowercase();
                self.columns.push((Some(qualifier), column));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
