//! Prompt methods: `prompts/list` and `prompts/get` (which may ask the caller for input in the
//! stateless era).

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::era::Framing;
use super::{Connection, parse_params};
use crate::protocol::*;
use crate::transport::connection::Peer;

impl Connection {
    /// `prompts/list`: every prompt's definition, paged.
    pub(super) fn list_prompts(&self, params: JsonObject, framing: Framing) -> Result<Box<RawValue>, ErrorObject> {
        let p: PaginatedParams = parse_params(params)?;
        let s = &self.server;
        let own = s.registry.prompts.values().map(|p| p.definition().clone());
        let all = own.chain(s.registry.prompt_sources.iter().flat_map(|source| source.prompts_for(&self.principal)));
        let (prompts, next_cursor) = s.page(all, p.cursor.as_deref(), |p| p)?;
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
        let own = s.registry.prompts.get(&p.name).cloned();
        if own.is_none() && s.registry.prompt_sources.is_empty() {
            return Err(unknown_prompt(&p.name));
        }
        let capabilities = self.client_capabilities(p.meta.as_ref());
        let cx = self
            .request_context(peer, p.meta, cancel)
            .with_client_capabilities(capabilities, framing == Framing::Modern)
            .with_input(p.input_responses, p.request_state);
        let arguments = p.arguments.unwrap_or_default();
        let rendered = match own {
            Some(prompt) => prompt.get_with(arguments, &cx).await,
            None => {
                let mut rendered = None;
                for source in &s.registry.prompt_sources {
                    if let Some(got) = source.get(&p.name, arguments.clone(), &cx).await {
                        rendered = Some(got);
                        break;
                    }
                }
                rendered.ok_or_else(|| unknown_prompt(&p.name))?
            }
        };
        match rendered {
            Ok(result) => s.finish(result, framing),
            Err(e) => match (e.input(), e.protocol_error()) {
                (Some(input), _) if framing == Framing::Modern => s.finish(input.clone(), framing),
                (_, Some(error)) => Err(error.clone()),
                _ => Err(ErrorObject::invalid_params(e.to_string())),
            },
        }
    }
}

fn unknown_prompt(name: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!("unknown prompt `{name}`"))
}
