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
        let what = match error {
            // The body comes along whole: an HTML page from a proxy, say. A start of it is enough.
            async_openai::error::OpenAIError::JSONDeserialize(e, body) => {
                let mut end = body.len().min(ERROR_BODY_SHOWN);
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                let more = if end < body.len() { format!("… ({} bytes)", body.len()) } else { String::new() };
                format!("its answer is not the JSON expected ({e}): {}{more}", &body[..end])
            }
            other => other.to_string(),
        };
        Error::Model(format!("the model `{}` at {base} failed: {what}", config.model))
    }
}

/// How much of an answer that is not JSON an error shows.
const ERROR_BODY_SHOWN: usize = 300;

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
        assert!(
            shown.starts_with("the model `m` at https://models.example/v1 failed: its answer is not the JSON expected"),
            "{shown}"
        );
        assert!(shown.contains("<html>éé") && shown.ends_with(&format!("… ({} bytes)", page.len())), "{shown}");
        assert!(shown.len() < 500 && !shown.contains("secret"), "{shown}");
    }
}
