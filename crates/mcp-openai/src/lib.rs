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
        Error::Model(format!("the model `{}` at {base} failed: {error}", config.model))
    }
}
