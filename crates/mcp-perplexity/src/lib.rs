//! Perplexity over MCP.
//!
//! - [`Perplexity`]: typed wrappers for the tools of Perplexity's MCP server (npm
//!   `@perplexity-ai/mcp-server` 1.2.1): `perplexity_ask`, `perplexity_reason`,
//!   `perplexity_research` and `perplexity_search`, by their real names and argument names, over
//!   anything that implements [`mcp_core::CallTool`]: a [`mcp_core::Client`] connected to the npm
//!   server, or the native tools in this process.
//! - `native` (feature `native`): the same tools on Perplexity's HTTP API (the Agent API at
//!   `v1/agent`, streamed, and the Search API at `search`), served under the same names, argument
//!   shapes and result texts, so it is a drop-in replacement for the npm server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_core::{Client, ClientOptions, config::StdioServer};
//! use mcp_perplexity::{Message, Perplexity, SearchQuery, WebSearchOptions};
//!
//! let mut server = StdioServer::new("npx", ["-y", "@perplexity-ai/mcp-server@1.2.1"]);
//! server.env.insert("PERPLEXITY_API_KEY".into(), std::env::var("PERPLEXITY_API_KEY")?);
//! let pplx = Perplexity::new(Client::spawn("perplexity", &server, ClientOptions::default()).await?);
//!
//! let answer = pplx.ask(&[Message::user("Who wrote Emma?")], &WebSearchOptions::default()).await?;
//! println!("{}", answer.answer);
//! for citation in &answer.citations {
//!     println!("[{}] {}", citation.number, citation.url);
//! }
//! let found = pplx.search(&SearchQuery { max_results: Some(3), ..SearchQuery::new("Jane Austen") }).await?;
//! for result in &found.results {
//!     println!("{} <{}>", result.title, result.url);
//! }
//! # Ok(()) }
//! ```

mod wrappers;

#[cfg(feature = "native")]
pub mod native;

pub use wrappers::{
    Answer, Citation, ContextSize, Message, Perplexity, Recency, Role, SearchQuery, SearchResult, SearchResults,
    WebSearchOptions,
};

/// The tool names, as the npm server has them.
pub mod tools {
    /// Quick web-grounded answers (`fast` preset).
    pub const ASK: &str = "perplexity_ask";
    /// Step-by-step reasoning (`medium` preset).
    pub const REASON: &str = "perplexity_reason";
    /// Deep multi-source research (`high` preset), streamed with progress.
    pub const RESEARCH: &str = "perplexity_research";
    /// Ranked web search results, no synthesis.
    pub const SEARCH: &str = "perplexity_search";
}

/// Everything that can go wrong in `mcp-perplexity`. No message ever carries the API key.
///
/// The native backend's failures become the tools' `isError` texts; they are worded as the npm
/// server words them, so a client sees the same message from either backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call did not complete (server gone, timeout, protocol error), the tool reported a
    /// failure ([`mcp_core::Error::ToolFailed`], e.g. the API answered 401), or its result did
    /// not decode.
    #[error(transparent)]
    Mcp(#[from] mcp_core::Error),
    /// The tool's result does not have the shape the npm server gives it.
    #[error("tool `{tool}` returned an unexpected result: {message}")]
    UnexpectedResult {
        /// The tool.
        tool: String,
        /// What was wrong.
        message: String,
    },
    /// The native backend's configuration is incomplete or invalid.
    #[error("{0}")]
    Config(String),
    /// Perplexity's API answered with an HTTP error: its status and what it said.
    #[error("Perplexity API error: {status} {reason}\n{body}")]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The status's reason phrase.
        reason: String,
        /// The response body as the API sent it (capped, the key masked).
        body: String,
    },
    /// The API reported the agent run as failed or cancelled inside its stream.
    #[error("Perplexity API error: {0}")]
    Failed(String),
    /// The stream ended before the run completed.
    #[error("Agent stream ended without a completed response")]
    Incomplete,
    /// No complete answer within the configured timeout (the whole call, stream included).
    #[error("Request timeout: Perplexity API did not respond within {}ms. Consider increasing PERPLEXITY_TIMEOUT_MS.", .after.as_millis())]
    Timeout {
        /// The timeout that passed.
        after: std::time::Duration,
    },
    /// The caller cancelled the call.
    #[error("Request cancelled")]
    Cancelled,
    /// The API could not be reached, or the connection broke.
    #[error("Network error while {action} Perplexity API: {message}")]
    Network {
        /// `calling` (no answer yet) or `streaming from` (the answer broke off).
        action: &'static str,
        /// What the connection reported.
        message: String,
    },
    /// The API's answer did not have the documented shape.
    #[error("Invalid response from Perplexity {api}: {message}")]
    InvalidResponse {
        /// `Agent API` or `Search API`.
        api: &'static str,
        /// What did not fit.
        message: String,
    },
    /// The API's answer was larger than the configured limit.
    #[error("the response from Perplexity API exceeded the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
