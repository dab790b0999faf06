//! The `docker_compose` prompt: ours and the reference server's (`mcp-server-docker`), listed
//! and rendered side by side on the same engine, and through the typed wrapper.

use std::collections::BTreeMap;

use mcp_core::Client;
use mcp_core::protocol::{Content, GetPromptResult, Prompt};
use mcp_docker::Docker;
use mcp_docker::native::PROJECT_LABEL;
use serde_json::json;

use crate::agree::reference;
use crate::support::{self, ok, unique};

/// A prompt's shape: name, description, and each argument's name and required flag.
fn prompt_shape(prompt: &Prompt) -> (String, Option<String>, Vec<(String, bool)>) {
    let arguments = prompt.arguments.iter().flatten().map(|a| (a.name.clone(), a.required == Some(true))).collect();
    (prompt.name.clone(), prompt.description.clone(), arguments)
}

/// A rendering's shape: its description, and each message's role and content kind.
fn rendered_shape(result: &GetPromptResult) -> (Option<String>, Vec<String>) {
    let messages = result
        .messages
        .iter()
        .map(|m| {
            let kind = if matches!(m.content, Content::Text(_)) { "text" } else { "other" };
            format!("{}:{kind}", serde_json::to_value(m.role).expect("a role"))
        })
        .collect();
    (result.description.clone(), messages)
}

fn text_of(result: &GetPromptResult) -> String {
    result.messages.iter().map(|m| serde_json::to_string(&m.content).expect("JSON")).collect()
}

async fn get(client: &Client, arguments: &[(&str, &str)]) -> mcp_core::Result<GetPromptResult> {
    let arguments: BTreeMap<String, String> =
        arguments.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    client.get_prompt("docker_compose", arguments).await
}

#[tokio::test]
async fn the_docker_compose_prompt_has_the_reference_servers_shape() {
    let Some((host, image)) = support::engine() else { return };
    let Some(theirs) = reference(&host).await else { return };
    let ours = support::client(&support::server(&host, Default::default())).await;

    let their_prompts: Vec<_> = theirs.list_prompts().await.expect("lists").iter().map(prompt_shape).collect();
    let our_prompts: Vec<_> = ours.list_prompts().await.expect("lists").iter().map(prompt_shape).collect();
    assert_eq!(their_prompts, our_prompts, "the same prompts, descriptions, arguments and required flags");
    assert_eq!(our_prompts[0].0, mcp_docker::prompts::DOCKER_COMPOSE);
    assert_eq!(our_prompts[0].2, [("name".to_owned(), true), ("containers".to_owned(), true)]);

    // A container of the project, which both renderings list as the project's current state.
    let project = unique("proj");
    let member = format!("{project}-web");
    let tools = support::tools(&host);
    ok(
        &tools,
        "run_container",
        json!({"image": image, "name": member, "command": "sleep 60", "labels": {PROJECT_LABEL: project}}),
    )
    .await;
    let wanted = "one web container running busybox, with a volume for its data";
    let arguments = [("name", project.as_str()), ("containers", wanted)];
    let their_answer = get(&theirs, &arguments).await.expect("renders");
    let our_answer = get(&ours, &arguments).await.expect("renders");
    assert_eq!(rendered_shape(&their_answer), rendered_shape(&our_answer));
    assert_eq!(rendered_shape(&our_answer).1, ["\"user\":text"]);
    for (side, text) in [("reference", text_of(&their_answer)), ("ours", text_of(&our_answer))] {
        assert!(text.contains(&format!("{PROJECT_LABEL}={project}")), "{side}: the project's label: {text}");
        assert!(text.contains(&member), "{side}: the project's container: {text}");
        assert!(text.contains(wanted), "{side}: what the user wants: {text}");
    }
    support::remove_container(&host, &member).await;

    // Without an argument it needs, neither server renders.
    assert!(get(&theirs, &[("name", "p")]).await.is_err());
    let err = get(&ours, &[("name", "p")]).await.expect_err("`containers` is required");
    assert!(err.to_string().contains("containers"), "{err}");
}

#[tokio::test]
async fn the_typed_wrapper_gets_the_prompt_from_both_servers() {
    let Some((host, _)) = support::engine() else { return };
    let ours = support::client(&support::server(&host, Default::default())).await;
    let project = unique("empty-proj");
    let rendered = Docker::new(ours).docker_compose_prompt(&project, "a redis cache").await.expect("renders");
    assert_eq!(rendered.messages.len(), 1);
    let text = text_of(&rendered);
    assert!(text.contains(&format!("{PROJECT_LABEL}={project}")) && text.contains("a redis cache"), "{text}");
    assert!(text.contains("Containers:\\n[]"), "an empty project lists no containers: {text}");

    let Some(theirs) = reference(&host).await else { return };
    let rendered = Docker::new(theirs).docker_compose_prompt(&project, "a redis cache").await.expect("renders");
    assert_eq!(rendered.messages.len(), 1);
    assert!(text_of(&rendered).contains("a redis cache"));
}
