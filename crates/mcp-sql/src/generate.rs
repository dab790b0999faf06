//! Natural language to SQL through an OpenAI-compatible chat endpoint, prompted with the live
//! schema. What comes back is never trusted: it must be one read statement (the guard), it may
//! name only tables and views that exist, and it can be `EXPLAIN`ed before anyone runs it.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use sqlparser::ast::{Query, TableFactor, Visit, Visitor};

use crate::{Database, Dialect, QueryResult, SqlError, check_read_only};

/// Where to ask: an OpenAI-compatible `/chat/completions` endpoint.
#[derive(Clone)]
pub struct GeneratorConfig {
    /// e.g. `https://api.openai.com/v1` or a local server's `/v1`.
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token; never logged or put in an error.
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for GeneratorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A checked statement, and its plan when asked for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Generated {
    pub sql: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<QueryResult>,
}

/// Asks the model for SQL answering `description` and checks what it says.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    http: reqwest::Client,
}

impl Generator {
    pub fn new(config: GeneratorConfig) -> Result<Self, SqlError> {
        mcp_core::transport::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| SqlError::Generation(format!("building the HTTP client: {e}")))?;
        Ok(Generator { config, http })
    }

    /// SQL for `description` over `db`'s live schema, checked, and `EXPLAIN`ed when `explain`.
    pub async fn generate(&self, db: &Database, description: &str, explain: bool) -> Result<Generated, SqlError> {
        let schema = db.schema().await?;
        let answer = self.ask(&prompt(db.dialect(), &schema), description).await?;
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

    async fn ask(&self, system: &str, description: &str) -> Result<String, SqlError> {
        let url = format!("{}/chat/completions", self.config.base_url.trim_end_matches('/'));
        let body = json!({
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": description}
            ]
        });
        let mut request = self.http.post(&url).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response =
            request.send().await.map_err(|e| SqlError::Generation(format!("asking {url}: {}", e.without_url())))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|e| SqlError::Generation(format!("{url} answered {status} with no JSON: {}", e.without_url())))?;
        if !status.is_success() {
            let message = reply["error"]["message"].as_str().unwrap_or("no message");
            return Err(SqlError::Generation(format!("{url} answered {status}: {message}")));
        }
        reply["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SqlError::Generation(format!("{url} answered without a message content")))
    }
}

/// The system prompt: the dialect, the rules, and every table with its columns.
fn prompt(dialect: Dialect, schema: &QueryResult) -> String {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for row in &schema.rows {
        let (Some(table), Some(column)) = (row[0].as_str(), row[1].as_str()) else { continue };
        let typed = format!("{column} {}", row[2].as_str().unwrap_or(""));
        match tables.last_mut() {
            Some((name, columns)) if name == table => columns.push(typed),
            _ => tables.push((table.to_owned(), vec![typed])),
        }
    }
    let schema_text: Vec<String> = tables.iter().map(|(t, c)| format!("{t}({})", c.join(", "))).collect();
    format!(
        "You write one read-only SQL query for {dialect:?}. Use only these tables and columns:\n{}\n\
         Answer with the SQL statement only, without explanation.",
        schema_text.join("\n")
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

/// The guard, then every table the statement reads must exist (names in `WITH` are its own).
fn check_generated(dialect: Dialect, sql: &str, schema: &QueryResult) -> Result<(), SqlError> {
    let statement = check_read_only(dialect, sql)?;
    let known: HashSet<String> = schema.rows.iter().filter_map(|r| r[0].as_str()).map(str::to_lowercase).collect();
    let mut tables = Tables::default();
    let _ = statement.visit(&mut tables);
    let unknown: Vec<String> =
        tables.read.into_iter().filter(|t| !known.contains(t) && !tables.ctes.contains(t)).collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(SqlError::UnknownTables { sql: sql.to_owned(), tables: unknown.join(", ") })
    }
}

#[derive(Default)]
struct Tables {
    read: Vec<String>,
    ctes: HashSet<String>,
}

impl Visitor for Tables {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            self.ctes.extend(with.cte_tables.iter().map(|c| c.alias.name.value.to_lowercase()));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        // Table functions (`generate_series(1, 3)`) are not tables.
        if let TableFactor::Table { name, args: None, .. } = factor
            && let Some(last) = name.0.last().and_then(|p| p.as_ident())
        {
            let table = last.value.to_lowercase();
            let schema = name.0.first().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase());
            // Catalogue views are always there.
            let catalogue = matches!(schema.as_deref(), Some("information_schema" | "pg_catalog"))
                || table.starts_with("sqlite_")
                || table.starts_with("pg_");
            if !catalogue && !self.read.contains(&table) {
                self.read.push(table);
            }
        }
        ControlFlow::Continue(())
    }
}
