//! Kubernetes over MCP.
//!
//! - [`Kubernetes`]: typed wrappers for the default tools (toolsets `core` and `config`) of
//!   kubernetes-mcp-server (npm `kubernetes-mcp-server` 0.0.67, a Go binary), by their real names
//!   and argument names, over anything that implements [`mcp_core::CallTool`]: a
//!   [`mcp_core::Client`] connected to the Go server, or the native tools in this process. Plus
//!   the seed's conveniences [`Kubernetes::apply_manifest`] and [`Kubernetes::get_logs`].
//! - `native` (feature `native`): the same tools on the Kubernetes API through kube (rustls with
//!   ring), served under the same names, argument shapes and result texts (YAML, tables for lists), with the Go
//!   server's safety flags enforced at call time and credentials never shown.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_core::{Client, ClientOptions, config::StdioServer};
//! use mcp_k8s::Kubernetes;
//!
//! let server = StdioServer::new("npx", ["-y", "kubernetes-mcp-server@0.0.67", "--read-only"]);
//! let k8s = Kubernetes::new(Client::spawn("kubernetes", &server, ClientOptions::default()).await?);
//! println!("{}", k8s.get_logs("default", "web-1").await?);
//! # Ok(()) }
//! ```

mod wrappers;

#[cfg(feature = "native")]
pub mod native;

pub use wrappers::{Kubernetes, LogOptions, ResourceRef, Selectors};

/// The tool names, as the Go server has them.
pub mod tools {
    /// The kubeconfig as YAML.
    pub const CONFIGURATION_VIEW: &str = "configuration_view";
    /// Events, all namespaces or one.
    pub const EVENTS_LIST: &str = "events_list";
    /// Namespaces.
    pub const NAMESPACES_LIST: &str = "namespaces_list";
    /// Deletes a pod.
    pub const PODS_DELETE: &str = "pods_delete";
    /// Runs a command in a pod's container.
    pub const PODS_EXEC: &str = "pods_exec";
    /// One pod.
    pub const PODS_GET: &str = "pods_get";
    /// Pods in all namespaces.
    pub const PODS_LIST: &str = "pods_list";
    /// Pods in one namespace.
    pub const PODS_LIST_IN_NAMESPACE: &str = "pods_list_in_namespace";
    /// A pod's log.
    pub const PODS_LOG: &str = "pods_log";
    /// Runs an image as a pod.
    pub const PODS_RUN: &str = "pods_run";
    /// Pods' CPU and memory from the metrics API.
    pub const PODS_TOP: &str = "pods_top";
    /// Nodes' CPU and memory from the metrics API.
    pub const NODES_TOP: &str = "nodes_top";
    /// A node's logs through the kubelet.
    pub const NODES_LOG: &str = "nodes_log";
    /// A node's kubelet stats summary.
    pub const NODES_STATS_SUMMARY: &str = "nodes_stats_summary";
    /// OpenShift projects.
    pub const PROJECTS_LIST: &str = "projects_list";
    /// Server-side apply of a manifest.
    pub const RESOURCES_CREATE_OR_UPDATE: &str = "resources_create_or_update";
    /// Deletes any resource.
    pub const RESOURCES_DELETE: &str = "resources_delete";
    /// Any resource.
    pub const RESOURCES_GET: &str = "resources_get";
    /// Resources of any kind.
    pub const RESOURCES_LIST: &str = "resources_list";
    /// Reads or sets a resource's scale.
    pub const RESOURCES_SCALE: &str = "resources_scale";
}

/// Everything that can go wrong in `mcp-k8s`. No message ever carries a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call did not complete, or the tool reported a failure
    /// ([`mcp_core::Error::ToolFailed`], e.g. a 404 from the API server).
    #[error(transparent)]
    Mcp(#[from] mcp_core::Error),
    /// The native backend's configuration is incomplete or invalid.
    #[error("{0}")]
    Config(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
