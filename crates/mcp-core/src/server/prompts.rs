//! Prompt methods: `prompts/list` and `prompts/get` (which may ask the caller for input in the
//! stateless era).

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::era::Framing;
use super::{Connection, parse_params};
use crate::protocol::*;
use crate::tool::ToolContext;
use crate::transport::connection::Peer;

impl Connection {
    /// `prompts/list`: every prompt's definition, paged.
    pub(super) fn list_prompts(&self, params: JsonObject, framing: Framing) -> Result<Box<RawValue>, ErrorObject> {
        let p: PaginatedParams = parse_params(params)?;
        let s = &self.server;
        let all = s.registry.prompts.values();
        let (prompts, next_cursor) = s.page(all, p.cursor.as_deref(), |p| p.definition().clone())?;
        s.finish(
            ListPromptsResult { envelope: Default::default(), cache: s.cache_hints(framing), prompts, next_cursor },
            framing,
        )
    }

    /// `prompts/get`: renders a prompt with the caller's arguments.
    pub(super) async fn get_prompt(
        &self,
        peer: Peer,
        params: JsonObject,
        cancel: CancellationToken,
        framing: Framing,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let p: GetPromptParams = parse_params(params)?;
        let s = &self.server;
        let prompt = s
            .registry
            .prompts
            .get(&p.name)
            .ok_or_else(|| ErrorObject::invalid_params(format!("unknown prompt `{}`", p.name)))?;
        let capabilities = self.client_capabilities(p.meta.as_ref());
        let cx = ToolContext::for_request(peer, p.meta, cancel, Some(self.principal.clone()), None)
            .with_client_capabilities(capabilities, framing == Framing::Modern)
            .with_input(p.input_responses, p.request_state);
        match prompt.get_with(p.arguments.unwrap_or_default(), &cx).await {
            Ok(result) => s.finish(result, framing),
            Err(e) => match (e.input(), e.protocol_error()) {
                (Some(input), _) if framing == Framing::Modern => s.finish(input.clone(), framing),
                (_, Some(error)) => Err(error.clone()),
                _ => Err(ErrorObject::invalid_params(e.to_string())),
            },
        }
    }
}
