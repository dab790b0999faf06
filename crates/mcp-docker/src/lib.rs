//! Docker over MCP.
//!
//! - [`Docker`]: typed wrappers for every tool of the two reference Docker MCP servers, by their
//!   real names and argument names: `mcp-server-docker` (PyPI, 19 tools: containers, images,
//!   networks, volumes) and `docker-mcp` (`create-container`, `deploy-compose`, `get-logs`,
//!   `list-containers`), plus [`Docker::run_container_with_env`], the one call most agents need. They
//!   work over anything that implements [`mcp_core::CallTool`]: a [`mcp_core::Client`] connected to
//!   a reference server, or the native tools in this process.
//! - `native` (feature `native`): the same tools on the Docker Engine API through bollard (or on
//!   Podman's Docker-compatible API), with safety rules enforced at every call: no privileged
//!   containers, no added capabilities, no host network or PID namespace, host paths only under
//!   configured roots, default CPU, memory and process limits, an optional image allowlist.
//!   `pull_image` and `push_image` go to any registry the engine reaches, with the engine's own
//!   TLS settings and no credentials from us, and stream the registry's progress. The `docker_compose` prompt
//!   (see [`prompts`]) is served too; [`Docker::docker_compose_prompt`] gets it through a client.
//!
//! ```no_run
//! # async fn demo(tools: mcp_core::ToolSet) -> mcp_docker::Result<()> {
//! use std::collections::BTreeMap;
//! use mcp_docker::Docker;
//!
//! let docker = Docker::new(tools);
//! let env = BTreeMap::from([("GREETING".to_owned(), "hello".to_owned())]);
//! let container = docker.run_container_with_env("busybox:latest", &env).await?;
//! println!("started {} ({})", container.name, container.id);
//! # Ok(()) }
//! ```

mod wrappers;

#[cfg(feature = "native")]
pub mod native;

pub use wrappers::{
    BuildImageArgs, BuiltImage, ComposeArgs, ContainerInfo, ContainerSpec, CreateNetworkArgs, CreateVolumeArgs, Docker,
    ImageInfo, LabelFilters, Labels, ListContainersFilters, ListImagesArgs, Logs, NetworkInfo, PortBinding,
    SimpleContainerArgs, Tail, VolumeBind, VolumeInfo, Volumes, split_command,
};

/// The tool names, as the reference servers have them.
pub mod tools {
    /// `mcp-server-docker`: containers (`all`, `filters.label`).
    pub const LIST_CONTAINERS: &str = "list_containers";
    /// `mcp-server-docker`: create a container without starting it.
    pub const CREATE_CONTAINER: &str = "create_container";
    /// `mcp-server-docker`: create and start a container.
    pub const RUN_CONTAINER: &str = "run_container";
    /// `mcp-server-docker`: stop and remove a container, then run a new one.
    pub const RECREATE_CONTAINER: &str = "recreate_container";
    /// `mcp-server-docker`: start a container.
    pub const START_CONTAINER: &str = "start_container";
    /// `mcp-server-docker`: a container's latest log lines.
    pub const FETCH_CONTAINER_LOGS: &str = "fetch_container_logs";
    /// `mcp-server-docker`: stop a container.
    pub const STOP_CONTAINER: &str = "stop_container";
    /// `mcp-server-docker`: remove a container.
    pub const REMOVE_CONTAINER: &str = "remove_container";
    /// `mcp-server-docker`: images.
    pub const LIST_IMAGES: &str = "list_images";
    /// `mcp-server-docker`: pull an image.
    pub const PULL_IMAGE: &str = "pull_image";
    /// `mcp-server-docker`: push an image.
    pub const PUSH_IMAGE: &str = "push_image";
    /// `mcp-server-docker`: build an image from a directory with a Dockerfile.
    pub const BUILD_IMAGE: &str = "build_image";
    /// `mcp-server-docker`: remove an image.
    pub const REMOVE_IMAGE: &str = "remove_image";
    /// `mcp-server-docker`: networks.
    pub const LIST_NETWORKS: &str = "list_networks";
    /// `mcp-server-docker`: create a network.
    pub const CREATE_NETWORK: &str = "create_network";
    /// `mcp-server-docker`: remove a network.
    pub const REMOVE_NETWORK: &str = "remove_network";
    /// `mcp-server-docker`: volumes.
    pub const LIST_VOLUMES: &str = "list_volumes";
    /// `mcp-server-docker`: create a volume.
    pub const CREATE_VOLUME: &str = "create_volume";
    /// `mcp-server-docker`: remove a volume.
    pub const REMOVE_VOLUME: &str = "remove_volume";
    /// `docker-mcp`: create and start a standalone container.
    pub const QG_CREATE_CONTAINER: &str = "create-container";
    /// `docker-mcp`: deploy a Compose stack.
    pub const QG_DEPLOY_COMPOSE: &str = "deploy-compose";
    /// `docker-mcp`: a container's latest logs.
    pub const QG_GET_LOGS: &str = "get-logs";
    /// `docker-mcp`: every container, as text.
    pub const QG_LIST_CONTAINERS: &str = "list-containers";
}

/// The prompt names, as the reference servers have them.
pub mod prompts {
    /// `mcp-server-docker`: manage a labelled project like Docker Compose, plan then apply
    /// (arguments `name` and `containers`).
    pub const DOCKER_COMPOSE: &str = "docker_compose";
}

/// Everything that can go wrong in `mcp-docker`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call did not complete (server gone, timeout, protocol error), the tool reported a
    /// failure ([`mcp_core::Error::ToolFailed`]: the engine's error, or a safety rule's refusal), or
    /// its result did not decode.
    #[error(transparent)]
    Mcp(#[from] mcp_core::Error),
    /// The native backend's configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// The Docker engine could not be reached or answered with an error.
    #[error("{0}")]
    Engine(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
