//! The `docker_compose` prompt: the model manages a labelled set of Docker resources (a
//! "project") from a plain-language description, proposing a plan before it changes anything.
//! The same name, arguments and message shape as `mcp-server-docker`'s prompt; the text is ours.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard::query_parameters::{ListNetworksOptions, ListVolumesOptions};
use mcp_core::ToolError;
use mcp_core::protocol::{Content, GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::Value;

use super::engine::{Engine, engine_error};
use crate::prompts;

/// The label key marking a project's resources. The reference server's key, so that a project
/// started through either server is recognised by both.
pub const PROJECT_LABEL: &str = "mcp-server-docker.project";

const DESCRIPTION: &str = "Treat the LLM like a Docker Compose manager";

/// The prompt's definition: `name` (the project) and `containers` (the desired resources).
pub(crate) fn definition() -> Prompt {
    Prompt::new(
        prompts::DOCKER_COMPOSE,
        vec![
            PromptArgument::new("name", true)
                .with_description("The project's name: every resource is labelled with it and named after it"),
            PromptArgument::new("containers", true)
                .with_description("The containers, volumes and networks the project should have, in plain language"),
        ],
    )
    .with_description(DESCRIPTION)
}

/// Renders the prompt for `arguments`, with the project's resources as the engine has them now.
pub(crate) async fn render(
    engine: Arc<Engine>,
    arguments: BTreeMap<String, String>,
) -> Result<GetPromptResult, ToolError> {
    let name = arguments.get("name").map(|n| n.trim()).unwrap_or_default();
    if name.is_empty() {
        return Err(ToolError::msg("prompt `docker_compose` needs a non-empty `name`"));
    }
    let wanted = arguments.get("containers").map(String::as_str).unwrap_or_default();
    let label = format!("{PROJECT_LABEL}={name}");
    let (containers, volumes, networks) = project_resources(&engine, &label).await?;
    let text = format!(
        "You manage the Docker project `{name}` the way Docker Compose would, but without a compose file: the \
         user describes what the project should contain, and you bring the engine to that state with the Docker \
         tools you have.\n\n\
         Rules for every resource you create:\n\
         - give it the label `{label}` (and filter by that label when you list things);\n\
         - name it `{name}-<resource name>`.\n\n\
         What the project holds now (resources with that label):\n\n\
         Containers:\n{containers}\n\nVolumes:\n{volumes}\n\nNetworks:\n{networks}\n\n\
         What the user wants the project to hold:\n\n---\n{wanted}\n---\n\n\
         Work in two steps, plan then apply:\n\
         1. Plan. Compare the wanted state with the current one and answer with a numbered list of actions, \
         each starting with CREATE, UPDATE, RECREATE (remove then create, for things that cannot change in \
         place, such as containers) or REMOVE, in dependency order (what others depend on first when creating, \
         last when removing). If nothing needs to change, say the project is up to date and stop.\n\
         2. Apply. Only when the user's next message says `apply` to the plan you just gave: carry it out in \
         order, and stop at the first action that fails, saying what failed. Any other answer discards the \
         plan; ask what the user wants instead.\n\n\
         Touch nothing outside the project. Remove resources the wanted state no longer needs. Use the `latest` \
         tag unless the user names another. If the same action fails twice, or three actions fail in a row, \
         stop and ask the user rather than trying again. The server's safety rules (no privileged containers, \
         no added capabilities, no host network or PID namespace, host paths only under allowed roots, an \
         optional image allowlist) refuse some requests; a refusal names its rule, so explain it rather than \
         work around it.\n\n\
         The user may also say: `ps` (list the project's containers), `down` (stop them), `destroy` (plan the \
         removal of everything in the project), `verbose` or `quiet` (how much you explain; quiet by default), \
         and `help` (list these commands). Start with your plan.",
    );
    let message = PromptMessage::new(Role::User, Content::text(text));
    Ok(GetPromptResult::new(vec![message]).with_description(DESCRIPTION))
}

/// The project's containers, volumes and networks, each as indented JSON (`[]` when none).
async fn project_resources(engine: &Engine, label: &str) -> Result<(String, String, String), ToolError> {
    let filters = HashMap::from([("label".to_owned(), vec![label.to_owned()])]);
    let containers = engine
        .list_containers(true, Some(crate::LabelFilters { label: Some(vec![label.to_owned()]) }))
        .await?["result"]
        .clone();
    let docker = engine.docker().await?;
    let volumes =
        docker.list_volumes(Some(ListVolumesOptions { filters: Some(filters.clone()) })).await.map_err(engine_error)?;
    let volumes: Vec<Value> = volumes.volumes.unwrap_or_default().iter().map(super::engine::volume_json).collect();
    let networks =
        docker.list_networks(Some(ListNetworksOptions { filters: Some(filters) })).await.map_err(engine_error)?;
    let networks: Vec<Value> = networks.iter().map(super::engine::network_json).collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| "[]".into());
    Ok((pretty(&containers), pretty(&Value::from(volumes)), pretty(&Value::from(networks))))
}
