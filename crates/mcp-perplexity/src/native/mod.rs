//! The native Perplexity server: the npm server's tools, names, argument shapes and result texts,
//! on Perplexity's HTTP API.
//!
//! `perplexity_ask`, `perplexity_reason` and `perplexity_research` run the Agent API (`v1/agent`)
//! with the `fast`, `medium` and `high` presets, always streamed: each reasoning event the stream
//! carries is reported as progress to a caller that asked for it. `perplexity_search` calls the
//! Search API (`search`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_perplexity::native::{PerplexityConfig, PerplexityServer};
//! // PERPLEXITY_API_KEY, and optionally PERPLEXITY_BASE_URL, PERPLEXITY_TIMEOUT_MS, PERPLEXITY_PROXY.
//! let server = PerplexityServer::new(PerplexityConfig::from_env()?)?;
//! mcp_core::Server::builder(mcp_core::protocol::Implementation::new("perplexity", "1"), server.registry())
//!     .instructions(PerplexityServer::INSTRUCTIONS)
//!     .build()
//!     .serve_stdio()
//!     .await?;
//! # Ok(()) }
//! ```

mod api;
mod format;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_core::protocol::{CallToolResult, Content, JsonObject, ToolAnnotations};
use mcp_core::{Registry, ToolContext, ToolError, tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Number, Value, json};

use crate::{Error, Message, Recency, Result, WebSearchOptions, tools};
use api::Api;

/// Where the API is unless configured otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.perplexity.ai";
/// How long one call may take, stream included, unless configured otherwise (as the npm server).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How large one answer may be, unless configured otherwise.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// A Perplexity API key. Its `Debug` shows `***`; it has no `Display`, and nothing this crate
/// says (errors, logs, results) contains it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// True when no key was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "ApiKey(<empty>)" } else { "ApiKey(***)" })
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}

/// The Agent API preset each tool runs with (the npm server's: `fast`, `medium`, `high`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presets {
    /// For `perplexity_ask`.
    pub ask: String,
    /// For `perplexity_reason`.
    pub reason: String,
    /// For `perplexity_research`.
    pub research: String,
}

impl Default for Presets {
    fn default() -> Self {
        Self { ask: "fast".into(), reason: "medium".into(), research: "high".into() }
    }
}

/// How the native server reaches the API.
#[derive(Clone)]
pub struct PerplexityConfig {
    /// The API key (`PERPLEXITY_API_KEY`).
    pub api_key: ApiKey,
    /// The API's base URL (`PERPLEXITY_BASE_URL`), [`DEFAULT_BASE_URL`] by default.
    pub base_url: String,
    /// The longest one call may take, a streamed answer included (`PERPLEXITY_TIMEOUT_MS`),
    /// [`DEFAULT_TIMEOUT`] by default.
    pub timeout: Duration,
    /// The longest connecting may take (30 s by default).
    pub connect_timeout: Duration,
    /// A proxy for every request (`PERPLEXITY_PROXY`); without one, `HTTPS_PROXY` and
    /// `HTTP_PROXY` apply as usual.
    pub proxy: Option<String>,
    /// The most bytes read of one answer, [`DEFAULT_MAX_RESPONSE_BYTES`] by default.
    pub max_response_bytes: usize,
    /// The Agent API preset per tool.
    pub presets: Presets,
}

impl fmt::Debug for PerplexityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerplexityConfig")
            .field("api_key", &self.api_key)
            .field("base_url", &mcp_core::config::display_url(&self.base_url))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("proxy", &self.proxy.as_deref().map(mcp_core::config::display_url))
            .field("max_response_bytes", &self.max_response_bytes)
            .field("presets", &self.presets)
            .finish()
    }
}

impl PerplexityConfig {
    /// The defaults, with `api_key`.
    pub fn new(api_key: impl Into<ApiKey>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(30),
            proxy: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            presets: Presets::default(),
        }
    }

    /// From the npm server's variables: `PERPLEXITY_API_KEY` (required), `PERPLEXITY_BASE_URL`,
    /// `PERPLEXITY_TIMEOUT_MS`, `PERPLEXITY_PROXY`.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From variables looked up by `var` (for tests and embedders with their own environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let key = var("PERPLEXITY_API_KEY")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::Config("the environment variable PERPLEXITY_API_KEY is required".into()))?;
        let mut config = Self::new(key);
        if let Some(url) = var("PERPLEXITY_BASE_URL").filter(|u| !u.is_empty()) {
            config.base_url = url;
        }
        if let Some(ms) = var("PERPLEXITY_TIMEOUT_MS").filter(|m| !m.is_empty()) {
            let ms: u64 = ms.trim().parse().map_err(|_| {
                Error::Config(format!("PERPLEXITY_TIMEOUT_MS must be a whole number of milliseconds, not {ms:?}"))
            })?;
            config.timeout = Duration::from_millis(ms);
        }
        config.proxy = var("PERPLEXITY_PROXY").filter(|p| !p.is_empty());
        Ok(config)
    }
}

/// The native Perplexity tools over one API configuration.
#[derive(Debug, Clone)]
pub struct PerplexityServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    api: Api,
    presets: Presets,
}

impl PerplexityServer {
    /// What a client is told about the tools (the server's `instructions`).
    pub const INSTRUCTIONS: &'static str = "Web-grounded search, answers, reasoning and research through Perplexity's \
        API. perplexity_search finds pages (URLs, facts, recent news) and accepts recency and domain filters. \
        perplexity_ask answers quick questions with citations; perplexity_reason works through complex questions \
        step by step; both accept recency, domain and search-context-size settings. perplexity_research \
        investigates a topic across many sources and can take minutes. Every tool is read-only and reads the live web.";

    /// A server on `config`: the key must be set and the base URL an http(s) URL.
    pub fn new(config: PerplexityConfig) -> Result<Self> {
        let api = Api::new(&config)?;
        Ok(Self { inner: Arc::new(Inner { api, presets: config.presets }) })
    }

    /// A server configured from the environment, as [`PerplexityConfig::from_env`].
    pub fn from_env() -> Result<Self> {
        Self::new(PerplexityConfig::from_env()?)
    }

    /// A registry with every tool, ready to serve.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        self.register(&mut registry);
        registry
    }

    /// Adds every tool to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let presets = &self.inner.presets;

        let inner = self.inner.clone();
        registry.tool(
            tool(
                tools::ASK,
                format!(
                    "Answers a question from live web sources with Perplexity's Agent API ({} preset): quick \
                     facts, summaries, explanations. The answer cites its sources as [n], listed after it. \
                     Optional: a recency filter, domains to include or exclude, the search context size. For \
                     in-depth research use perplexity_research; for step-by-step analysis, perplexity_reason.",
                    presets.ask
                ),
                move |args: AgentArgs, cx: ToolContext| {
                    let inner = inner.clone();
                    async move {
                        let body = agent_body(&inner.presets.ask, &args.messages, &args.options);
                        inner.answer(inner.api.agent(&body, &cx).await)
                    }
                },
            )
            .title("Ask Perplexity")
            .input_schema(agent_schema(true))
            .output_schema(output_schema("response", "The answer, then its numbered sources"))
            .annotations(annotations())
            .execution(no_tasks()),
        );

        let inner = self.inner.clone();
        registry.tool(
            tool(
                tools::RESEARCH,
                format!(
                    "Researches a topic in depth across many web sources with Perplexity's Agent API ({} \
                     preset): overviews, literature reviews, investigations. Slow (it can take minutes) and \
                     reports progress while it runs. The report cites its sources as [n], listed after it. For \
                     quick questions use perplexity_ask; for step-by-step analysis, perplexity_reason.",
                    presets.research
                ),
                move |args: ResearchArgs, cx: ToolContext| {
                    let inner = inner.clone();
                    async move {
                        let body = agent_body(&inner.presets.research, &args.messages, &WebSearchOptions::default());
                        inner.answer(inner.api.agent(&body, &cx).await)
                    }
                },
            )
            .title("Deep Research")
            .input_schema(agent_schema(false))
            .output_schema(output_schema("response", "The report, then its numbered sources"))
            .annotations(annotations())
            .execution(no_tasks()),
        );

        let inner = self.inner.clone();
        registry.tool(
            tool(
                tools::REASON,
                format!(
                    "Works through a question step by step, grounded in live web sources, with Perplexity's \
                     Agent API ({} preset): math, logic, comparisons, arguments. The answer cites its sources \
                     as [n], listed after it. Optional: a recency filter, domains to include or exclude, the \
                     search context size. For quick questions use perplexity_ask; for in-depth research, \
                     perplexity_research.",
                    presets.reason
                ),
                move |args: AgentArgs, cx: ToolContext| {
                    let inner = inner.clone();
                    async move {
                        let body = agent_body(&inner.presets.reason, &args.messages, &args.options);
                        inner.answer(inner.api.agent(&body, &cx).await)
                    }
                },
            )
            .title("Advanced Reasoning")
            .input_schema(agent_schema(true))
            .output_schema(output_schema("response", "The analysis, then its numbered sources"))
            .annotations(annotations())
            .execution(no_tasks()),
        );

        let inner = self.inner.clone();
        registry.tool(
            tool(
                tools::SEARCH,
                "Searches the web and returns ranked results, each with its title, URL, an extract and its \
                 date, without an AI summary: for finding pages, recent news, facts to check. Optional: how many \
                 results, how much of each page, a country, a recency filter, domains to include or exclude. \
                 For an answer with citations use perplexity_ask.",
                move |args: SearchArgs, cx: ToolContext| {
                    let inner = inner.clone();
                    async move {
                        let body = search_body(args)?;
                        let text = inner.api.search(&body, &cx).await.map_err(|e| inner.failure(e))?;
                        Ok::<_, ToolError>(text_result("results", inner.api.mask(text)))
                    }
                },
            )
            .title("Search the Web")
            .input_schema(search_schema())
            .output_schema(output_schema("results", "The results: rank, title, URL, extract and date of each"))
            .annotations(annotations())
            .execution(no_tasks()),
        );
    }
}

impl Inner {
    /// An agent tool's answer as its result, or its failure as the tool's error.
    fn answer(&self, outcome: Result<String>) -> Result<CallToolResult, ToolError> {
        let text = outcome.map_err(|e| self.failure(e))?;
        Ok(text_result("response", self.api.mask(text)))
    }

    /// A failure as the text the model reads, the key masked in anything the API echoed.
    fn failure(&self, error: Error) -> ToolError {
        tracing::debug!(error = %self.api.mask(error.to_string()), "perplexity call failed");
        ToolError::msg(self.api.mask(error.to_string()))
    }
}

/// The arguments of `perplexity_ask` and `perplexity_reason`.
#[derive(Deserialize, JsonSchema)]
struct AgentArgs {
    messages: Vec<Message>,
    #[serde(flatten)]
    options: WebSearchOptions,
}

/// The arguments of `perplexity_research`.
#[derive(Deserialize, JsonSchema)]
struct ResearchArgs {
    messages: Vec<Message>,
}

/// The arguments of `perplexity_search`. The numbers are kept as given (any JSON number in
/// range), so they reach the API unchanged.
#[derive(Deserialize, JsonSchema)]
struct SearchArgs {
    query: String,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    max_results: Option<Number>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    max_tokens_per_page: Option<Number>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    search_recency_filter: Option<Recency>,
    #[serde(default)]
    search_domain_filter: Option<Vec<String>>,
}

/// An Agent API request for `messages` with `preset`, always streamed: long runs outlive
/// proxies' idle timeouts that way, and the stream's events are the progress reports. A
/// `web_search` tool is sent only when an option overrides the preset's own.
fn agent_body(preset: &str, messages: &[Message], options: &WebSearchOptions) -> Value {
    let input: Vec<Value> =
        messages.iter().map(|m| json!({ "type": "message", "role": m.role, "content": m.content })).collect();
    let mut body = json!({ "preset": preset, "input": input, "stream": true });
    let mut filters = Map::new();
    if let Some(recency) = options.search_recency_filter {
        filters.insert("search_recency_filter".into(), json!(recency));
    }
    if let Some(domains) = &options.search_domain_filter {
        filters.insert("search_domain_filter".into(), json!(domains));
    }
    let mut web_search = Map::from_iter([("type".to_owned(), json!("web_search"))]);
    if !filters.is_empty() {
        web_search.insert("filters".into(), Value::Object(filters));
    }
    if let Some(size) = options.search_context_size {
        web_search.insert("search_context_size".into(), json!(size));
    }
    if web_search.len() > 1 {
        body["tools"] = json!([web_search]);
    }
    body
}

/// A Search API request, with the npm server's defaults (10 results, 1024 tokens per page).
fn search_body(args: SearchArgs) -> Result<Value, ToolError> {
    let max_results = in_range("max_results", args.max_results, 1.0, 20.0)?.unwrap_or_else(|| Number::from(10));
    let max_tokens =
        in_range("max_tokens_per_page", args.max_tokens_per_page, 256.0, 2048.0)?.unwrap_or_else(|| Number::from(1024));
    let mut body = json!({ "query": args.query, "max_results": max_results, "max_tokens_per_page": max_tokens });
    if let Some(country) = args.country.filter(|c| !c.is_empty()) {
        body["country"] = json!(country);
    }
    if let Some(recency) = args.search_recency_filter {
        body["search_recency_filter"] = json!(recency);
    }
    if let Some(domains) = args.search_domain_filter {
        body["search_domain_filter"] = json!(domains);
    }
    Ok(body)
}

/// `value` when it lies within `min..=max`.
fn in_range(name: &str, value: Option<Number>, min: f64, max: f64) -> Result<Option<Number>, ToolError> {
    match value {
        Some(n) if !n.as_f64().is_some_and(|f| (min..=max).contains(&f)) => Err(ToolError::msg(format!(
            "invalid arguments for tool `{}`: `{name}` must be between {min} and {max}, not {n}",
            tools::SEARCH
        ))),
        other => Ok(other),
    }
}

/// The npm server's result shape: the text, and the same text under `field` in
/// `structuredContent`.
fn text_result(field: &str, text: String) -> CallToolResult {
    CallToolResult::new(vec![Content::text(text.clone())]).with_structured(json!({ field: text }))
}

/// Read-only, and open-world: the tools read the live web.
fn annotations() -> ToolAnnotations {
    ToolAnnotations::default().with_read_only(true).with_destructive(false).with_idempotent(false).with_open_world(true)
}

/// The tools run only as ordinary calls (they report progress instead).
fn no_tasks() -> JsonObject {
    object(json!({ "taskSupport": "forbidden" }))
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn schema(properties: Value, required: &[&str]) -> JsonObject {
    object(json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }))
}

const RECENCY_DESCRIPTION: &str =
    "Only sources this recent: 'hour' for breaking news, 'day' for today, then 'week', 'month', 'year'.";
const DOMAINS_DESCRIPTION: &str = "Only these domains (e.g. ['wikipedia.org', 'arxiv.org']); a '-' prefix \
    excludes one instead (e.g. ['-reddit.com']).";

fn agent_schema(with_options: bool) -> JsonObject {
    let mut properties = json!({
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant"], "description": "Who sent the message"},
                    "content": {"type": "string", "description": "What the message says"},
                },
                "required": ["role", "content"],
                "additionalProperties": false,
            },
            "description": "The conversation, oldest message first",
        },
    });
    if with_options {
        properties["search_recency_filter"] = json!({
            "type": "string", "enum": ["hour", "day", "week", "month", "year"], "description": RECENCY_DESCRIPTION,
        });
        properties["search_domain_filter"] =
            json!({"type": "array", "items": {"type": "string"}, "description": DOMAINS_DESCRIPTION});
        properties["search_context_size"] = json!({
            "type": "string", "enum": ["low", "medium", "high"],
            "description": "How much web context to retrieve: 'low' is fastest, 'high' the most thorough.",
        });
    }
    schema(properties, &["messages"])
}

fn search_schema() -> JsonObject {
    schema(
        json!({
            "query": {"type": "string", "description": "What to search for"},
            "max_results": {"type": "number", "minimum": 1, "maximum": 20, "description": "How many results at most (1-20, default 10)"},
            "max_tokens_per_page": {"type": "number", "minimum": 256, "maximum": 2048, "description": "How many tokens to extract per page at most (256-2048, default 1024)"},
            "country": {"type": "string", "description": "ISO 3166-1 alpha-2 code of the country to favour (e.g. 'US', 'GB')"},
            "search_recency_filter": {"type": "string", "enum": ["hour", "day", "week", "month", "year"], "description": RECENCY_DESCRIPTION},
            "search_domain_filter": {"type": "array", "items": {"type": "string"}, "description": DOMAINS_DESCRIPTION},
        }),
        &["query"],
    )
}

fn output_schema(field: &str, description: &str) -> JsonObject {
    schema(json!({ field: {"type": "string", "description": description} }), &[field])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(value: Value) -> WebSearchOptions {
        serde_json::from_value(value).expect("valid options")
    }

    #[test]
    fn agent_requests_override_the_preset_only_where_asked() {
        let messages = [Message::user("q")];
        let bare = agent_body("fast", &messages, &WebSearchOptions::default());
        assert_eq!(
            bare,
            json!({"preset": "fast", "input": [{"type": "message", "role": "user", "content": "q"}], "stream": true})
        );
        let body = agent_body("medium", &messages, &options(json!({"search_context_size": "low"})));
        assert_eq!(body["tools"], json!([{"type": "web_search", "search_context_size": "low"}]));
        let body = agent_body(
            "medium",
            &messages,
            &options(json!({"search_recency_filter": "day", "search_domain_filter": []})),
        );
        assert_eq!(
            body["tools"],
            json!([{"type": "web_search", "filters": {"search_recency_filter": "day", "search_domain_filter": []}}])
        );
    }

    fn search(args: Value) -> Result<Value, String> {
        search_body(serde_json::from_value(args).expect("valid arguments")).map_err(|e| e.to_string())
    }

    #[test]
    fn search_requests_carry_the_defaults_and_refuse_numbers_out_of_range() {
        assert_eq!(
            search(json!({"query": "q", "country": ""})).expect("valid"),
            json!({"query": "q", "max_results": 10, "max_tokens_per_page": 1024})
        );
        assert_eq!(
            search(json!({"query": "q", "max_results": 2.5, "max_tokens_per_page": 256, "country": "GB"}))
                .expect("valid"),
            json!({"query": "q", "max_results": 2.5, "max_tokens_per_page": 256, "country": "GB"})
        );
        let err = search(json!({"query": "q", "max_results": 21})).expect_err("refused");
        assert!(err.contains("`max_results` must be between 1 and 20, not 21"), "{err}");
        let err = search(json!({"query": "q", "max_tokens_per_page": 100})).expect_err("refused");
        assert!(err.contains("max_tokens_per_page"), "{err}");
    }

    #[test]
    fn configuration_comes_from_the_npm_servers_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        let err = PerplexityConfig::from_vars(vars(&[])).expect_err("refused").to_string();
        assert!(err.contains("PERPLEXITY_API_KEY"), "{err}");
        let config = PerplexityConfig::from_vars(vars(&[
            ("PERPLEXITY_API_KEY", "pplx-secret-value"),
            ("PERPLEXITY_BASE_URL", "http://user:pw@127.0.0.1:9/api"),
            ("PERPLEXITY_TIMEOUT_MS", "1500"),
        ]))
        .expect("valid");
        assert_eq!(
            (config.timeout, config.base_url.as_str()),
            (Duration::from_millis(1500), "http://user:pw@127.0.0.1:9/api")
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("pplx-secret-value") && !shown.contains("pw@"), "{shown}");
        let err = PerplexityConfig::from_vars(vars(&[("PERPLEXITY_API_KEY", "k"), ("PERPLEXITY_TIMEOUT_MS", "soon")]))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("PERPLEXITY_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn a_server_needs_a_key_and_an_http_url() {
        let err = PerplexityServer::new(PerplexityConfig::new("")).expect_err("refused").to_string();
        assert!(err.contains("key is empty"), "{err}");
        let err = PerplexityServer::new(PerplexityConfig::new("pplx-line\nbreak")).expect_err("refused").to_string();
        assert!(err.contains("cannot carry") && !err.contains("pplx-line"), "{err}");
        let config = PerplexityConfig { base_url: "ftp://example.com".into(), ..PerplexityConfig::new("pplx-k") };
        let err = PerplexityServer::new(config).expect_err("refused").to_string();
        assert!(err.contains("not an http(s) URL"), "{err}");
    }
}
