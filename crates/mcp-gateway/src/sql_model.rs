//! The language model behind `generate_query` when a database's `generate` names a `model`: an
//! OpenAI-compatible Chat Completions endpoint, plugged into `mcp-sql`'s [`SqlModel`].

use std::time::Duration;

use async_trait::async_trait;
use mcp_sql::SqlModel;

/// An OpenAI-compatible chat model answering SQL-generation prompts: one non-streamed turn at
/// temperature 0, no tools. Its key is sent as a bearer token and never shown.
#[derive(Debug)]
pub struct OpenAiSqlModel {
    model: mcp_openai::Model,
}

impl OpenAiSqlModel {
    /// `model` at `base_url` (up to `/v1`), with `api_key` when the endpoint needs one, waiting at
    /// most `timeout` for an answer.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, timeout: Duration) -> crate::Result<Self> {
        let mut config = mcp_openai::ModelConfig::new(model);
        config.base_url = Some(base_url.to_owned());
        config.api_key = api_key;
        config.stream = false;
        config.read_timeout = timeout;
        config.temperature = Some(0.0);
        let model = mcp_openai::Model::new(config).map_err(anyhow::Error::from)?;
        Ok(OpenAiSqlModel { model })
    }
}

#[async_trait]
impl SqlModel for OpenAiSqlModel {
    async fn answer(&self, system: &str, question: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let conversation = mcp_openai::Conversation::new(mcp_openai::Api::Chat, Some(system), question);
        let turn = self.model.turn(&conversation, &mcp_openai::FunctionTools::default(), &mut |_| {}).await?;
        Ok(turn.text)
    }
}
