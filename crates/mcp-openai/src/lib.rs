//! MCP tools for OpenAI models: any tool set as function tools (Chat Completions and Responses),
//! strict schemas that keep optional parameters optional, names the API accepts and that map back
//! exactly, and an agent loop whose tool calls go through the pipeline.
//!
//! ```no_run
//! # async fn example() -> Result<(), mcp_openai::Error> {
//! use std::sync::Arc;
//! use mcp_openai::{Agent, Model, ModelConfig, Toolbox};
//!
//! let tools = Toolbox::builder().server("builtin", mcp_core::Registry::linked().tools).build();
//! let model = Model::new(ModelConfig::new("gpt-4.1-mini"))?;
//! let agent = Agent::new("assistant", Arc::new(model), Arc::new(tools));
//! let outcome = agent.run("What is 2 + 40?", None).await?;
//! # Ok(()) }
//! ```

pub mod agent;
mod bounded;
#[cfg(feature = "fake")]
pub mod fake;
pub mod model;
pub mod strict;
pub mod toolbox;
pub mod tools;

pub use agent::{Agent, ApprovalCallback, Approvals, Decision, Event, Events, PendingCall, RunOutcome, RunState};
pub use model::{Api, Conversation, Model, ModelConfig, ModelToolCall};
pub use toolbox::{ToolFilter, ToolSource, Toolbox, ToolboxBuilder};
pub use tools::{FunctionTool, FunctionTools, ToolOutput};

/// What can go wrong in a run. Tool failures are not here: they go back to the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The model endpoint failed or answered something unusable.
    #[error("{0}")]
    Model(String),
    /// The run reached its turn limit without a final answer.
    #[error("no final answer within {0} turns")]
    TurnLimit(usize),
    /// An approval was missing or malformed.
    #[error("{0}")]
    Approval(String),
}

impl Error {
    fn model(config: &ModelConfig, error: async_openai::error::OpenAIError) -> Self {
        // Shown without its user info or query values, which may carry credentials.
        let base = config
            .base_url
            .as_deref()
            .map_or_else(|| "https://api.openai.com/v1".to_owned(), mcp_core::config::display_url);
        let mut what = match error {
            // The body comes along whole: an HTML page from a proxy, say. A start of it is enough.
            async_openai::error::OpenAIError::JSONDeserialize(e, body) => {
                format!("its answer is not the JSON expected ({e}): {}", shortened(&body, ERROR_BODY_SHOWN))
            }
            // A server error's message is its body, whole, whatever it is.
            other => shortened(&other.to_string(), ERROR_TEXT_SHOWN),
        };
        // An endpoint that echoes its request (a debugging proxy) would show the key.
        if let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) {
            what = what.replace(key, "[redacted]");
        }
        Error::Model(format!("the model `{}` at {base} failed: {what}", config.model))
    }
}

/// How much of an answer that is not JSON an error shows.
pub(crate) const ERROR_BODY_SHOWN: usize = 300;
/// How much of any other failure's text an error shows (an endpoint's own message is usually a
/// sentence or two; a server error's is its body, whatever it is).
const ERROR_TEXT_SHOWN: usize = 1000;

/// The start of `text`, up to `limit` bytes, and its length when there is more.
pub(crate) fn shortened(text: &str, limit: usize) -> String {
    let end = char_floor(text, limit);
    if end == text.len() { text.to_owned() } else { format!("{}… ({} bytes)", &text[..end], text.len()) }
}

/// The largest character boundary of `text` at or below `at`.
pub(crate) fn char_floor(text: &str, at: usize) -> usize {
    let mut end = text.len().min(at);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_is_not_json_is_shown_in_part() {
        let page = format!("<html>{}</html>", "é".repeat(1000));
        let parsed = serde_json::from_str::<serde_json::Value>(&page).expect_err("not JSON");
        let error = async_openai::error::OpenAIError::JSONDeserialize(parsed, page.clone());
        let mut config = ModelConfig::new("m");
        config.base_url = Some("https://user:secret@models.example/v1".into());
        let shown = Error::model(&config, error).to_string();
        // An answer that echoes the request's key does not show it.
        let echo = "{\"headers\": {\"authorization\": \"Bearer sk-test-123\"}";
        config.api_key = Some("sk-test-123".into());
        let parsed = serde_json::from_str::<serde_json::Value>(echo).expect_err("not whole");
        let echoed = Error::model(&config, async_openai::error::OpenAIError::JSONDeserialize(parsed, echo.into()));
        assert!(
            echoed.to_string().contains("Bearer [redacted]") && !echoed.to_string().contains("sk-test"),
            "{echoed}"
        );
        assert!(
            shown.starts_with("the model `m` at https://models.example/v1 failed: its answer is not the JSON expected"),
            "{shown}"
        );
        assert!(shown.contains("<html>éé") && shown.ends_with(&format!("… ({} bytes)", page.len())), "{shown}");
        assert!(shown.len() < 500 && !shown.contains("secret"), "{shown}");
    }
}
