//! The native Docker server: the reference servers' tools, names and argument shapes, on the
//! Docker Engine API through bollard (Docker Engine, or Podman's Docker-compatible API).
//!
//! Every call that would create or change a container passes the [`Safety`] rules first; a
//! refusal is the tool's error and names the rule, and nothing reaches the engine. Every id, name
//! and image reference a call gives is checked first too (they go into the Engine API's paths):
//! one that is not a Docker name or reference is the tool's error, naming the argument. Pulls and
//! builds report the engine's progress lines as MCP progress; container logs and stats are also
//! resources (`docker://containers/{id}/logs`, `docker://containers/{id}/stats`).
//!
//! Pushes and pulls go through the engine, so they reach whatever registries the engine can:
//! the tools take and send no credentials (a registry that needs a login works only where the
//! engine has its own, as Podman's service has `podman login`'s; Docker Engine keeps none), and
//! a registry served over plain HTTP must be marked insecure in the engine's configuration (Docker's
//! `insecure-registries`, a Podman `registries.conf` entry with `insecure = true`). Both tools
//! report the registry's progress lines as MCP progress, pass the image allowlist first, and a
//! failure is the tool's error naming the image.
//!
//! The `docker_compose` prompt (arguments `name` and `containers`, as `mcp-server-docker` has it)
//! has the model manage a project: the resources labelled [`PROJECT_LABEL`]`=<name>`, which it
//! lists as they are now, brought to the state `containers` describes by a plan the user confirms.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_docker::native::{DockerConfig, DockerServer};
//! // DOCKER_HOST, else /var/run/docker.sock, else Podman's sockets.
//! let mut config = DockerConfig::from_env();
//! config.safety.allowed_host_paths.push("/srv/shared".into());
//! let server = DockerServer::new(config)?;
//! mcp_core::Server::builder(mcp_core::protocol::Implementation::new("docker", "1"), server.registry())
//!     .instructions(DockerServer::INSTRUCTIONS)
//!     .build()
//!     .serve_stdio()
//!     .await?;
//! # Ok(()) }
//! ```

mod compose;
mod engine;
mod names;
mod prompt;
mod safety;

use std::sync::Arc;

use mcp_core::protocol::{JsonObject, ToolAnnotations};
use mcp_core::{Registry, ToolContext, ToolError, tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    BuildImageArgs, ComposeArgs, ContainerSpec, CreateNetworkArgs, CreateVolumeArgs, LabelFilters, ListImagesArgs,
    Result, SimpleContainerArgs, Tail, tools,
};
use engine::Engine;
pub use engine::locate_engine;
use names::Names;
pub use prompt::PROJECT_LABEL;
pub use safety::{CREATED_BY, CREATED_LABEL, Limits, Refusal, Rule, Safety};

/// How the native server reaches the engine, and what it allows. Its `Debug` shows the
/// engine's address without credentials.
#[derive(Clone, Default)]
pub struct DockerConfig {
    /// The engine's address (`unix:///path`, `tcp://host:port`, `http://...`); when `None`,
    /// `DOCKER_HOST`, then `/var/run/docker.sock`, then Podman's rootless and root sockets.
    pub host: Option<String>,
    /// The safety rules' settings.
    pub safety: Safety,
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfig")
            .field("host", &self.host.as_deref().map(mcp_core::config::display_url))
            .field("safety", &self.safety)
            .finish()
    }
}

impl DockerConfig {
    /// The defaults, with the engine's address from `DOCKER_HOST` when set.
    pub fn from_env() -> Self {
        Self { host: std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()), safety: Safety::default() }
    }
}

/// The native Docker tools over one engine.
#[derive(Debug, Clone)]
pub struct DockerServer {
    engine: Arc<Engine>,
}

impl DockerServer {
    /// What a client is told about the tools (the server's `instructions`).
    pub const INSTRUCTIONS: &'static str = "Manage Docker containers, images, networks and volumes. Prefer \
        run_container over create_container + start_container; fetch_container_logs reads what a container \
        printed. Safety rules apply to every call: no privileged containers, no added capabilities, no host \
        network or PID namespace, host paths only under the operator's allowed roots, default CPU, memory and \
        process limits (a call may lower them, not remove or raise them), \
        and (when configured) an image allowlist. A refusal names the rule that refused.";

    /// A server on `config`: the allowed host paths must exist. The engine is reached (and the
    /// API version negotiated) on the first call, so a server starts before its engine does.
    pub fn new(config: DockerConfig) -> Result<Self> {
        let safety = config.safety.resolved().map_err(crate::Error::Config)?;
        Ok(Self { engine: Arc::new(Engine::new(config.host, safety)) })
    }

    /// A registry with every tool, the logs and stats resources and the `docker_compose`
    /// prompt, ready to serve.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        self.register(&mut registry);
        registry.resource(engine::ContainerResources(self.engine.clone()));
        let engine = self.engine.clone();
        registry.prompt(mcp_core::registry::prompt(prompt::definition(), move |arguments| {
            prompt::render(engine.clone(), arguments)
        }));
        registry
    }

    /// The tools alone, as a tool set (for the gateway and for typed wrappers in this process).
    pub fn tool_set(&self) -> mcp_core::ToolSet {
        self.registry().tools
    }

    /// Adds every tool to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let e = &self.engine;

        add(registry, e, tools::LIST_CONTAINERS, "List all Docker containers", read_only(), list_output(), {
            |e, a: ListContainersArgs, _| async move { e.list_containers(a.all, a.filters).await }
        });
        let d = "Create a new Docker container (not started). Safety rules apply.";
        add(registry, e, tools::CREATE_CONTAINER, d, writes(false), None, |e, a: ContainerSpec, _| async move {
            e.create_container(&a).await
        });
        let d = "Run an image in a new Docker container (preferred over `create_container` + `start_container`). \
            With `detach: false` it waits for the container to exit and returns its logs too. Safety rules apply.";
        add(registry, e, tools::RUN_CONTAINER, d, writes(false), None, |e, a: ContainerSpec, cx| async move {
            e.run_container(&a, &cx).await
        });
        let d = "Stop and remove a container, then run a new container. Fails if the container does not exist. \
            Safety rules are checked before anything is stopped.";
        add(registry, e, tools::RECREATE_CONTAINER, d, writes(true), None, |e, a: ContainerSpec, cx| async move {
            e.recreate_container(&a, &cx).await
        });
        add(registry, e, tools::START_CONTAINER, "Start a Docker container", writes(false), None, {
            |e, a: ContainerIdArgs, _| async move { e.start_container(&a.container_id).await }
        });
        let d = "Fetch logs for a Docker container; the text is also reported as progress while it is read";
        add(registry, e, tools::FETCH_CONTAINER_LOGS, d, read_only(), None, |e, a: LogsArgs, cx| async move {
            e.fetch_logs(&a.container_id, a.tail, &cx).await
        });
        add(registry, e, tools::STOP_CONTAINER, "Stop a Docker container", writes(false), None, {
            |e, a: ContainerIdArgs, _| async move { e.stop_container(&a.container_id).await }
        });
        add(registry, e, tools::REMOVE_CONTAINER, "Remove a Docker container", writes(true), None, {
            |e, a: RemoveContainerArgs, _| async move { e.remove_container(&a.container_id, a.force).await }
        });
        add(registry, e, tools::LIST_IMAGES, "List Docker images", read_only(), list_output(), {
            |e, a: ListImagesArgs, _| async move { e.list_images(&a).await }
        });
        let d = "Pull a Docker image; the registry's progress is reported as it comes";
        add(registry, e, tools::PULL_IMAGE, d, open_world(), None, |e, a: RepositoryArgs, cx| async move {
            e.pull_image(&a.repository, a.tag.as_deref(), &cx).await
        });
        add(registry, e, tools::PUSH_IMAGE, "Push a Docker image", open_world(), None, {
            |e, a: RepositoryArgs, cx| async move { e.push_image(&a.repository, a.tag.as_deref(), &cx).await }
        });
        let d = "Build a Docker image from a Dockerfile in a build context directory on the server's host (which \
            must lie under an allowed host path); the build's output is reported as progress";
        add(registry, e, tools::BUILD_IMAGE, d, writes(false), None, |e, a: BuildImageArgs, cx| async move {
            e.build_image(&a, &cx).await
        });
        add(registry, e, tools::REMOVE_IMAGE, "Remove a Docker image", writes(true), None, {
            |e, a: RemoveImageArgs, _| async move { e.remove_image(&a.image, a.force).await }
        });
        add(registry, e, tools::LIST_NETWORKS, "List Docker networks", read_only(), list_output(), {
            |e, a: ListNetworksArgs, _| async move { e.list_networks(a.filters).await }
        });
        add(registry, e, tools::CREATE_NETWORK, "Create a Docker network", writes(false), None, {
            |e, a: CreateNetworkArgs, _| async move { e.create_network(&a).await }
        });
        add(registry, e, tools::REMOVE_NETWORK, "Remove a Docker network", writes(true), None, {
            |e, a: NetworkIdArgs, _| async move { e.remove_network(&a.network_id).await }
        });
        add(registry, e, tools::LIST_VOLUMES, "List Docker volumes", read_only(), list_output(), {
            |e, _a: NoArgs, _| async move { e.list_volumes().await }
        });
        add(registry, e, tools::CREATE_VOLUME, "Create a Docker volume", writes(false), None, {
            |e, a: CreateVolumeArgs, _| async move { e.create_volume(&a).await }
        });
        add(registry, e, tools::REMOVE_VOLUME, "Remove a Docker volume", writes(true), None, {
            |e, a: RemoveVolumeArgs, _| async move { e.remove_volume(&a.volume_name, a.force).await }
        });

        let d = "Create a new standalone Docker container (started). Safety rules apply.";
        add_text(
            registry,
            e,
            tools::QG_CREATE_CONTAINER,
            d,
            writes(false),
            |e, a: SimpleContainerArgs, cx| async move { e.create_simple(&a, &cx).await },
        );
        let d = "Deploy a Docker Compose stack: each service's image runs as `<project>-<service>-1`. Safety rules \
            apply to every service before any is started; `build` is not supported.";
        add_text(registry, e, tools::QG_DEPLOY_COMPOSE, d, writes(false), |e, a: ComposeArgs, cx| async move {
            compose::deploy(&e, &a, &cx).await
        });
        let d = "Retrieve the latest logs for a specified Docker container";
        add_text(registry, e, tools::QG_GET_LOGS, d, read_only(), |e, a: ContainerNameArgs, cx| async move {
            e.get_logs_text(&a.container_name, &cx).await
        });
        add_text(registry, e, tools::QG_LIST_CONTAINERS, "List all Docker containers", read_only(), {
            |e, _a: NoArgs, _| async move { e.list_containers_text().await }
        });
    }
}

/// Registers a tool with a structured result.
fn add<A, F, Fut>(
    registry: &mut Registry,
    engine: &Arc<Engine>,
    name: &str,
    description: &str,
    annotations: ToolAnnotations,
    output: Option<JsonObject>,
    run: F,
) where
    A: serde::de::DeserializeOwned + JsonSchema + Names + Send + 'static,
    F: Fn(Arc<Engine>, A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
{
    let engine = engine.clone();
    let mut definition = tool(name, description, move |args: A, cx: ToolContext| {
        // Ids and names go into the engine's paths unescaped: a bad one never reaches the engine.
        let fut = args.check_names().map(|()| run(engine.clone(), args, cx));
        async move { fut?.await.map(mcp_core::protocol::CallToolResult::structured) }
    })
    .annotations(annotations);
    definition = definition.output_schema(output.unwrap_or_else(|| object(json!({"type": "object"}))));
    registry.tool(definition);
}

/// Registers a tool whose result is text, as `docker-mcp`'s are.
fn add_text<A, F, Fut>(
    registry: &mut Registry,
    engine: &Arc<Engine>,
    name: &str,
    description: &str,
    annotations: ToolAnnotations,
    run: F,
) where
    A: serde::de::DeserializeOwned + JsonSchema + Names + Send + 'static,
    F: Fn(Arc<Engine>, A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, ToolError>> + Send + 'static,
{
    let engine = engine.clone();
    let definition = tool(name, description, move |args: A, cx: ToolContext| {
        // As in `add`: checked before the tool runs.
        let fut = args.check_names().map(|()| run(engine.clone(), args, cx));
        async move { fut?.await }
    });
    registry.tool(definition.annotations(annotations));
}

fn read_only() -> ToolAnnotations {
    // Destructive is said outright: an absent hint defaults to true, even for a read-only tool.
    ToolAnnotations::default().with_read_only(true).with_destructive(false).with_idempotent(true).with_open_world(false)
}

fn writes(destructive: bool) -> ToolAnnotations {
    ToolAnnotations::default().with_destructive(destructive).with_idempotent(false).with_open_world(false)
}

fn open_world() -> ToolAnnotations {
    ToolAnnotations::default().with_destructive(false).with_idempotent(false).with_open_world(true)
}

fn list_output() -> Option<JsonObject> {
    Some(object(json!({
        "type": "object",
        "properties": {"result": {"type": "array", "items": {"type": "object", "additionalProperties": true}}},
        "required": ["result"],
    })))
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
struct ListContainersArgs {
    /// Show all containers (default shows just running)
    #[serde(default)]
    all: bool,
    /// Filter containers
    #[serde(default)]
    filters: Option<LabelFilters>,
}

#[derive(Deserialize, JsonSchema)]
struct ListNetworksArgs {
    /// Filter networks
    #[serde(default)]
    filters: Option<LabelFilters>,
}

#[derive(Deserialize, JsonSchema)]
struct ContainerIdArgs {
    /// Container ID or name
    container_id: String,
}

#[derive(Deserialize, JsonSchema)]
struct ContainerNameArgs {
    /// Container name or ID
    container_name: String,
}

#[derive(Deserialize, JsonSchema)]
struct LogsArgs {
    /// Container ID or name
    container_id: String,
    /// Number of lines to show from the end
    #[serde(default)]
    tail: Tail,
}

#[derive(Deserialize, JsonSchema)]
struct RemoveContainerArgs {
    /// Container ID or name
    container_id: String,
    /// Force remove the container
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, JsonSchema)]
struct RepositoryArgs {
    /// Image repository
    repository: String,
    /// Image tag (`latest` by default)
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct RemoveImageArgs {
    /// Image ID or name
    image: String,
    /// Force remove the image
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, JsonSchema)]
struct NetworkIdArgs {
    /// Network ID or name
    network_id: String,
}

#[derive(Deserialize, JsonSchema)]
struct RemoveVolumeArgs {
    /// Volume name
    volume_name: String,
    /// Force remove the volume
    #[serde(default)]
    force: bool,
}

#[cfg(test)]
mod tests {
    use mcp_core::registry::ResourceProvider;

    use super::*;

    /// A server whose engine does not exist: a call that passes every check fails only when it
    /// tries to reach the engine, so a refusal shows that nothing was sent.
    fn unreachable_server() -> DockerServer {
        let config = DockerConfig { host: Some("unix:///nonexistent/mcptk-docker.sock".into()), ..Default::default() };
        DockerServer::new(config).expect("a valid configuration")
    }

    async fn error_of(tools: &mcp_core::ToolSet, tool: &str, args: Value) -> String {
        let args = args.as_object().cloned().expect("arguments are an object");
        let result = tools.call(tool, args, ToolContext::detached()).await;
        assert!(result.is_error(), "{tool} should have failed: {}", result.text_content());
        result.text_content()
    }

    #[tokio::test]
    async fn every_tool_refuses_ids_that_would_leave_their_path_segment() {
        let tools = unreachable_server().tool_set();
        let prune = "../volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D#";
        let leave = "../../swarm/leave?force=true#";
        let cases = [
            (tools::START_CONTAINER, json!({"container_id": prune}), "container_id"),
            (tools::STOP_CONTAINER, json!({"container_id": leave}), "container_id"),
            (tools::REMOVE_CONTAINER, json!({"container_id": "x/../../info", "force": true}), "container_id"),
            (tools::FETCH_CONTAINER_LOGS, json!({"container_id": "x?tail=all"}), "container_id"),
            (tools::QG_GET_LOGS, json!({"container_name": "../x"}), "container_name"),
            (tools::CREATE_CONTAINER, json!({"image": "busybox", "name": "../x"}), "name"),
            (tools::RUN_CONTAINER, json!({"image": "../../containers/x/kill#"}), "image"),
            (tools::RECREATE_CONTAINER, json!({"image": "busybox", "container_id": leave}), "container_id"),
            (tools::QG_CREATE_CONTAINER, json!({"image": "busybox", "name": "a b"}), "name"),
            (tools::PULL_IMAGE, json!({"repository": "busybox", "tag": "x/../../../x"}), "tag"),
            (tools::PUSH_IMAGE, json!({"repository": "../../containers/x/kill?signal=9#"}), "repository"),
            (tools::REMOVE_IMAGE, json!({"image": "/busybox"}), "image"),
            (tools::BUILD_IMAGE, json!({"path": "/nonexistent", "tag": "x?y"}), "tag"),
            (tools::CREATE_NETWORK, json!({"name": "n#"}), "name"),
            (tools::REMOVE_NETWORK, json!({"network_id": "../networks/prune?"}), "network_id"),
            (tools::CREATE_VOLUME, json!({"name": "v%2f"}), "name"),
            (tools::REMOVE_VOLUME, json!({"volume_name": "../volumes/prune?", "force": true}), "volume_name"),
        ];
        for (tool, args, argument) in cases {
            let error = error_of(&tools, tool, args).await;
            assert!(error.starts_with(&format!("invalid argument `{argument}`: ")), "{tool}: {error}");
        }
        // A valid id gets as far as the engine (here: none), so the check passes it.
        let error = error_of(&tools, tools::START_CONTAINER, json!({"container_id": "web-1"})).await;
        assert!(error.contains("cannot reach the Docker engine"), "{error}");

        let resources = engine::ContainerResources(unreachable_server().engine);
        let read = resources.read("docker://containers/x?all=1#/logs").await.expect("a container resource");
        let error = read.expect_err("refused").message().to_owned();
        assert!(error.starts_with("invalid argument `id`: "), "{error}");
    }

    #[tokio::test]
    async fn callers_cannot_lift_the_default_limits() {
        let tools = unreachable_server().tool_set();
        let unlimited = json!({"image": "busybox", "mem_limit": 0, "nano_cpus": 0, "pids_limit": -1});
        for tool in [tools::CREATE_CONTAINER, tools::RUN_CONTAINER] {
            let error = error_of(&tools, tool, unlimited.clone()).await;
            assert!(error.contains("refused by safety rule `resource-limits`: `mem_limit` 0"), "{tool}: {error}");
        }
        let error = error_of(&tools, tools::RUN_CONTAINER, json!({"image": "busybox", "pids_limit": -1})).await;
        assert!(error.contains("`pids_limit` -1 would remove the limit"), "{error}");
        let above = json!({"image": "busybox", "mem_limit": 1024_i64 * 1024 * 1024});
        let error = error_of(&tools, tools::CREATE_CONTAINER, above).await;
        assert!(error.contains("above the configured memory limit of 536870912 bytes (512 MiB)"), "{error}");
    }
}
