//! Typed calls to the Docker tools, by the reference servers' real names and argument names.

use std::collections::BTreeMap;

use mcp_core::{CallTool, CallToolExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result, tools};

/// Typed access to a Docker MCP server: `mcp-server-docker` or `docker-mcp` through a
/// [`mcp_core::Client`], or the native tools (`native::DockerServer`) through a
/// [`mcp_core::ToolSet`] or a client of them.
///
/// ```no_run
/// # async fn demo(tools: mcp_core::ToolSet) -> mcp_docker::Result<()> {
/// use mcp_docker::{ContainerSpec, Docker, Tail};
/// let docker = Docker::new(tools);
/// let spec = ContainerSpec { command: Some("echo hi".into()), ..ContainerSpec::new("busybox") };
/// let container = docker.run_container(&spec).await?;
/// let logs = docker.fetch_container_logs(&container.id, Tail::All).await?;
/// println!("{}", logs.logs.join("\n"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Docker<C> {
    caller: C,
}

/// Label filters (`key` or `key=value`), the `filters` argument of the list tools.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LabelFilters {
    /// Only objects with these labels, each `key` or `key=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Vec<String>>,
}

/// The filters of `list_containers`.
pub type ListContainersFilters = LabelFilters;

/// The arguments of `list_images`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListImagesArgs {
    /// Only images of this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Intermediate images too.
    #[serde(default)]
    pub all: bool,
    /// Label and dangling filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<ImageFilters>,
}

/// The filters of `list_images`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageFilters {
    /// Only dangling images (or only not dangling ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dangling: Option<bool>,
    /// Only images with these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Vec<String>>,
}

/// A container port's host binding, in any of the shapes the reference server accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortBinding {
    /// One host port.
    Port(u16),
    /// Several host ports.
    Ports(Vec<u16>),
    /// A host address and port.
    Address(String, u16),
}

/// Where a volume or host path is mounted (the mapping form of `volumes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VolumeBind {
    /// The path inside the container.
    pub bind: String,
    /// `rw` (the default) or `ro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The `volumes` argument: `{source: {bind, mode}}` or `["source:/path[:mode]"]`. A source that
/// is a path is a host bind mount; anything else names a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Volumes {
    /// By source.
    Map(BTreeMap<String, VolumeBind>),
    /// As `source:/path[:mode]` strings.
    List(Vec<String>),
}

impl Volumes {
    /// Every mount as (source, target, mode).
    pub fn mounts(&self) -> Vec<(String, String, Option<String>)> {
        match self {
            Self::Map(map) => map.iter().map(|(s, b)| (s.clone(), b.bind.clone(), b.mode.clone())).collect(),
            Self::List(list) => list
                .iter()
                .map(|entry| {
                    let mut parts = entry.splitn(3, ':');
                    let source = parts.next().unwrap_or_default().to_owned();
                    let target = parts.next().unwrap_or_default().to_owned();
                    (source, target, parts.next().map(str::to_owned))
                })
                .collect(),
        }
    }
}

/// The `labels` argument: a mapping, or a list of `key` / `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Labels {
    /// By key.
    Map(BTreeMap<String, String>),
    /// As `key` or `key=value`.
    List(Vec<String>),
}

impl Labels {
    /// The labels as a mapping (a bare `key` has an empty value).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        match self {
            Self::Map(map) => map.clone(),
            Self::List(list) => list
                .iter()
                .map(|l| match l.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (l.clone(), String::new()),
                })
                .collect(),
        }
    }
}

fn yes() -> bool {
    true
}

/// The arguments of `create_container`, `run_container` and `recreate_container`: the reference
/// server's (the names of Docker's Python SDK), plus the settings the native server's safety
/// rules look at (`privileged`, `cap_add`, `network_mode`, `pid_mode`, `mem_limit`, `nano_cpus`,
/// `pids_limit`; the reference server has none of them, so leave them unset for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContainerSpec {
    /// The image.
    pub image: String,
    /// For `recreate_container`: the container to replace (else `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Run in the background (the reference server's default).
    #[serde(default = "yes")]
    pub detach: bool,
    /// The container's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The entrypoint, as a command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    /// The command, as a command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The network to attach the container to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    /// Container port (`80/tcp`) to host binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, Option<PortBinding>>>,
    /// Volumes and host paths to mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Volumes>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Remove the container when it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Privileged mode (always refused by the native server's `no-privileged` rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Capabilities to add (refused by the native server's `no-added-capabilities` rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_add: Option<Vec<String>>,
    /// Capabilities to drop (`ALL`, `NET_RAW`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_drop: Option<Vec<String>>,
    /// The user (and group) the container runs as: `1000`, `1000:1000`, `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Mount the container's root file system read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The network mode (`none`, `bridge`, `default` or a network's name; the native server
    /// refuses anything else, such as `host`, `container:<id>` or Podman's `ns:<path>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// The PID namespace (the native server allows only the container's own, `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    /// Memory limit in bytes (the native server's default applies when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<i64>,
    /// CPU limit in units of 10^-9 CPUs (the native server's default applies when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// Most processes at once (the native server's default applies when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
}

impl ContainerSpec {
    /// A detached container of `image` with everything else left to the defaults.
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            container_id: None,
            detach: true,
            name: None,
            entrypoint: None,
            command: None,
            network: None,
            environment: None,
            ports: None,
            volumes: None,
            labels: None,
            auto_remove: false,
            privileged: None,
            cap_add: None,
            cap_drop: None,
            user: None,
            read_only: None,
            network_mode: None,
            pid_mode: None,
            mem_limit: None,
            nano_cpus: None,
            pids_limit: None,
        }
    }
}

/// How many log lines `fetch_container_logs` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The last this many.
    Lines(u64),
    /// All of them.
    All,
}

impl Default for Tail {
    fn default() -> Self {
        Self::Lines(100)
    }
}

impl Serialize for Tail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Lines(n) => serializer.serialize_u64(*n),
            Self::All => serializer.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for Tail {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(n) => {
                n.as_u64().map(Self::Lines).ok_or_else(|| serde::de::Error::custom("`tail` must be a whole number"))
            }
            Value::String(s) if s == "all" => Ok(Self::All),
            other => Err(serde::de::Error::custom(format!("`tail` must be a number or \"all\", not {other}"))),
        }
    }
}

impl JsonSchema for Tail {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Tail".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [{"type": "integer", "minimum": 0}, {"const": "all", "type": "string"}],
            "description": "Number of lines to show from the end",
        })
    }
}

/// The arguments of `build_image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BuildImageArgs {
    /// The build context: a directory on the server's host.
    pub path: String,
    /// The new image's tag.
    pub tag: String,
    /// The Dockerfile, relative to the context (`Dockerfile` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
}

/// The arguments of `create_network`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreateNetworkArgs {
    /// The network's name.
    pub name: String,
    /// The driver (`bridge` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// No outside connectivity.
    #[serde(default)]
    pub internal: bool,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The arguments of `create_volume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreateVolumeArgs {
    /// The volume's name.
    pub name: String,
    /// The driver (`local` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The arguments of `docker-mcp`'s `create-container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SimpleContainerArgs {
    /// The image.
    pub image: String,
    /// The container's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Container port to host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, String>>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
}

/// The arguments of `docker-mcp`'s `deploy-compose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComposeArgs {
    /// The Compose file's text.
    pub compose_yaml: String,
    /// The project's name.
    pub project_name: String,
}

/// A container, as the list, create, run and start tools describe it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ContainerInfo {
    /// The full ID.
    #[serde(default)]
    pub id: String,
    /// The first 12 characters of the ID.
    #[serde(default)]
    pub short_id: String,
    /// The name, without Docker's leading `/`.
    #[serde(default)]
    pub name: String,
    /// The image it runs, described as [`ImageInfo`] is (`null` when the engine no longer has it).
    #[serde(default)]
    pub image: Option<ImageInfo>,
    /// `created`, `running`, `exited`, ...
    #[serde(default)]
    pub status: String,
    /// Its labels (`null` from the engine reads as none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub labels: BTreeMap<String, String>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An image, as `list_images`, `pull_image` and `build_image` describe it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImageInfo {
    /// The ID (`sha256:...`).
    #[serde(default)]
    pub id: String,
    /// The first 12 hex characters of the ID, with its `sha256:` prefix.
    #[serde(default)]
    pub short_id: String,
    /// Its `repository:tag` names.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A network, as the network tools describe it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkInfo {
    /// The ID.
    #[serde(default)]
    pub id: String,
    /// The first 12 characters of the ID.
    #[serde(default)]
    pub short_id: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// Everything else the server said.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A volume, as the volume tools describe it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct VolumeInfo {
    /// The ID (its name).
    #[serde(default)]
    pub id: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// Everything else the server said.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What `build_image` returns.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct BuiltImage {
    /// The image built.
    pub image: ImageInfo,
    /// The engine's output, one object per chunk (`{"stream": "Step 1/3 ..."}`).
    #[serde(default)]
    pub logs: Vec<Value>,
}

/// What `fetch_container_logs` returns: the output split at every newline, oldest first (output
/// that ends with a newline ends with an empty entry, as the reference server gives it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Logs {
    /// One entry per line.
    pub logs: Vec<String>,
}

/// A map the engine may send as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `{"result": [...]}`, the list tools' structured shape.
#[derive(Deserialize)]
struct Listed<T> {
    result: Vec<T>,
}

#[derive(Serialize)]
struct ListArgs<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<&'a LabelFilters>,
}

#[derive(Serialize)]
struct ContainerRef<'a> {
    container_id: &'a str,
}

#[derive(Serialize)]
struct LogsArgs<'a> {
    container_id: &'a str,
    tail: Tail,
}

#[derive(Serialize)]
struct RemoveArgs<'a> {
    container_id: &'a str,
    force: bool,
}

#[derive(Serialize)]
struct RepositoryArgs<'a> {
    repository: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
}

#[derive(Serialize)]
struct RemoveImageArgs<'a> {
    image: &'a str,
    force: bool,
}

#[derive(Serialize)]
struct NetworkRef<'a> {
    network_id: &'a str,
}

#[derive(Serialize)]
struct RemoveVolumeArgs<'a> {
    volume_name: &'a str,
    force: bool,
}

#[derive(Serialize)]
struct ContainerNameArgs<'a> {
    container_name: &'a str,
}

impl<C: CallTool> Docker<C> {
    /// Wraps a caller: a client of a Docker MCP server, or a tool set with the native tools.
    pub fn new(caller: C) -> Self {
        Self { caller }
    }

    /// The caller, for tools these wrappers do not cover.
    pub fn caller(&self) -> &C {
        &self.caller
    }

    /// `list_containers`: running containers, or all with `all`, optionally by label.
    pub async fn list_containers(&self, all: bool, filters: Option<&LabelFilters>) -> Result<Vec<ContainerInfo>> {
        let listed: Listed<ContainerInfo> =
            self.caller.call_typed(tools::LIST_CONTAINERS, &ListArgs { all, filters }).await?;
        Ok(listed.result)
    }

    /// `create_container`: a container, not started.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<ContainerInfo> {
        Ok(self.caller.call_typed(tools::CREATE_CONTAINER, spec).await?)
    }

    /// `run_container`: a container, created and started.
    pub async fn run_container(&self, spec: &ContainerSpec) -> Result<ContainerInfo> {
        Ok(self.caller.call_typed(tools::RUN_CONTAINER, spec).await?)
    }

    /// The seed's `run_container(image, environment)`: `image` in the background with `env`.
    pub async fn run_container_with_env(&self, image: &str, env: &BTreeMap<String, String>) -> Result<ContainerInfo> {
        let spec = ContainerSpec { environment: Some(env.clone()), ..ContainerSpec::new(image) };
        self.run_container(&spec).await
    }

    /// `recreate_container`: stops and removes `spec.container_id` (else `spec.name`), then runs
    /// a new container from `spec`.
    pub async fn recreate_container(&self, spec: &ContainerSpec) -> Result<ContainerInfo> {
        Ok(self.caller.call_typed(tools::RECREATE_CONTAINER, spec).await?)
    }

    /// `start_container`.
    pub async fn start_container(&self, container_id: &str) -> Result<ContainerInfo> {
        Ok(self.caller.call_typed(tools::START_CONTAINER, &ContainerRef { container_id }).await?)
    }

    /// `stop_container`.
    pub async fn stop_container(&self, container_id: &str) -> Result<ContainerInfo> {
        Ok(self.caller.call_typed(tools::STOP_CONTAINER, &ContainerRef { container_id }).await?)
    }

    /// `remove_container`; `force` stops it first. The container as it was, with status `removed`.
    pub async fn remove_container(&self, container_id: &str, force: bool) -> Result<ContainerInfo> {
        Ok(self.caller.call_typed(tools::REMOVE_CONTAINER, &RemoveArgs { container_id, force }).await?)
    }

    /// `fetch_container_logs`: the last `tail` lines.
    pub async fn fetch_container_logs(&self, container_id: &str, tail: Tail) -> Result<Logs> {
        Ok(self.caller.call_typed(tools::FETCH_CONTAINER_LOGS, &LogsArgs { container_id, tail }).await?)
    }

    /// `list_images`.
    pub async fn list_images(&self, args: &ListImagesArgs) -> Result<Vec<ImageInfo>> {
        let listed: Listed<ImageInfo> = self.caller.call_typed(tools::LIST_IMAGES, args).await?;
        Ok(listed.result)
    }

    /// `pull_image`: `repository` at `tag` (`latest` when `None`).
    pub async fn pull_image(&self, repository: &str, tag: Option<&str>) -> Result<ImageInfo> {
        Ok(self.caller.call_typed(tools::PULL_IMAGE, &RepositoryArgs { repository, tag }).await?)
    }

    /// `push_image`: what the registry answered, by field.
    pub async fn push_image(&self, repository: &str, tag: Option<&str>) -> Result<BTreeMap<String, Option<String>>> {
        Ok(self.caller.call_typed(tools::PUSH_IMAGE, &RepositoryArgs { repository, tag }).await?)
    }

    /// `build_image`: the image built from `args.path`, and the build's output.
    pub async fn build_image(&self, args: &BuildImageArgs) -> Result<BuiltImage> {
        Ok(self.caller.call_typed(tools::BUILD_IMAGE, args).await?)
    }

    /// `remove_image`.
    pub async fn remove_image(&self, image: &str, force: bool) -> Result<BTreeMap<String, String>> {
        Ok(self.caller.call_typed(tools::REMOVE_IMAGE, &RemoveImageArgs { image, force }).await?)
    }

    /// `list_networks`.
    pub async fn list_networks(&self, filters: Option<&LabelFilters>) -> Result<Vec<NetworkInfo>> {
        let listed: Listed<NetworkInfo> =
            self.caller.call_typed(tools::LIST_NETWORKS, &ListArgs { all: false, filters }).await?;
        Ok(listed.result)
    }

    /// `create_network`.
    pub async fn create_network(&self, args: &CreateNetworkArgs) -> Result<NetworkInfo> {
        Ok(self.caller.call_typed(tools::CREATE_NETWORK, args).await?)
    }

    /// `remove_network`: the network as it was.
    pub async fn remove_network(&self, network_id: &str) -> Result<NetworkInfo> {
        Ok(self.caller.call_typed(tools::REMOVE_NETWORK, &NetworkRef { network_id }).await?)
    }

    /// `list_volumes`.
    pub async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        let listed: Listed<VolumeInfo> = self.caller.call_typed(tools::LIST_VOLUMES, &()).await?;
        Ok(listed.result)
    }

    /// `create_volume`.
    pub async fn create_volume(&self, args: &CreateVolumeArgs) -> Result<VolumeInfo> {
        Ok(self.caller.call_typed(tools::CREATE_VOLUME, args).await?)
    }

    /// `remove_volume`: the volume as it was.
    pub async fn remove_volume(&self, volume_name: &str, force: bool) -> Result<VolumeInfo> {
        Ok(self.caller.call_typed(tools::REMOVE_VOLUME, &RemoveVolumeArgs { volume_name, force }).await?)
    }

    /// `docker-mcp`'s `create-container`: the server's text about the started container.
    pub async fn create_container_simple(&self, args: &SimpleContainerArgs) -> Result<String> {
        self.text(tools::QG_CREATE_CONTAINER, args).await
    }

    /// `docker-mcp`'s `deploy-compose`: the server's text about the deployed stack.
    pub async fn deploy_compose(&self, args: &ComposeArgs) -> Result<String> {
        self.text(tools::QG_DEPLOY_COMPOSE, args).await
    }

    /// `docker-mcp`'s `get-logs`: the server's text with the latest logs.
    pub async fn get_logs(&self, container_name: &str) -> Result<String> {
        self.text(tools::QG_GET_LOGS, &ContainerNameArgs { container_name }).await
    }

    /// `docker-mcp`'s `list-containers`: the server's text listing.
    pub async fn list_containers_text(&self) -> Result<String> {
        self.text(tools::QG_LIST_CONTAINERS, &()).await
    }

    async fn text<A: Serialize + Sync + ?Sized>(&self, tool: &str, args: &A) -> Result<String> {
        let result = self.caller.call_checked(tool, args).await?;
        Ok(result.text_content())
    }
}

impl<C: CallTool + std::borrow::Borrow<mcp_core::Client>> Docker<C> {
    /// `mcp-server-docker`'s `docker_compose` prompt (served by the native server too): the
    /// messages that set the model up to manage project `name` towards the resources
    /// `containers` describes. Needs a client, since prompts are not tools.
    pub async fn docker_compose_prompt(
        &self,
        name: &str,
        containers: &str,
    ) -> Result<mcp_core::protocol::GetPromptResult> {
        let arguments =
            BTreeMap::from([("name".to_owned(), name.to_owned()), ("containers".to_owned(), containers.to_owned())]);
        Ok(self.caller.borrow().get_prompt(crate::prompts::DOCKER_COMPOSE, arguments).await?)
    }
}

/// Splits a command line into words as a POSIX shell would, without running one: whitespace
/// separates, single quotes keep everything, double quotes keep all but `\"` and `\\`, a
/// backslash outside quotes keeps the next character. An unclosed quote is an error.
pub fn split_command(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(Error::Config(format!("unclosed single quote in {line:?}"))),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(Error::Config(format!("unclosed double quote in {line:?}"))),
                        },
                        Some(c) => word.push(c),
                        None => return Err(Error::Config(format!("unclosed double quote in {line:?}"))),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell() {
        let check = |line: &str, words: &[&str]| assert_eq!(split_command(line).expect(line), words, "{line}");
        check("echo hi", &["echo", "hi"]);
        check("  sh -c 'echo $A; env'  ", &["sh", "-c", "echo $A; env"]);
        check(r#"echo "a \"b\" c" d\ e ''"#, &["echo", "a \"b\" c", "d e", ""]);
        check("", &[]);
        assert!(split_command("echo 'open").is_err());
    }

    #[test]
    fn arguments_keep_the_reference_names_and_shapes() {
        let spec: ContainerSpec = serde_json::from_value(serde_json::json!({
            "image": "busybox", "ports": {"80/tcp": 8080, "81/tcp": [1, 2], "82/tcp": ["127.0.0.1", 3], "83/tcp": null},
            "volumes": ["/srv:/data:ro", "named:/v"], "labels": ["a=b", "c"],
        }))
        .expect("valid");
        assert!(spec.detach);
        assert_eq!(
            spec.volumes.as_ref().map(Volumes::mounts).unwrap_or_default()[0],
            ("/srv".into(), "/data".into(), Some("ro".into()))
        );
        assert_eq!(spec.labels.as_ref().map(Labels::to_map).unwrap_or_default()["c"], "");
        let ports = spec.ports.unwrap_or_default();
        assert_eq!(ports["82/tcp"], Some(PortBinding::Address("127.0.0.1".into(), 3)));
        let tail = serde_json::to_value(LogsArgs { container_id: "x", tail: Tail::All }).expect("serialises");
        assert_eq!(tail, serde_json::json!({"container_id": "x", "tail": "all"}));
    }
}
