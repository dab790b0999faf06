//! The MCP toolkit in one crate: the protocol, typed access to the MCP servers teams use, native
//! Rust backends for them, the security and audit layers, OpenAI agents over MCP tools, and the
//! gateway. Pick the parts by feature; each part is one of the toolkit's crates, re-exported under
//! a short name and pinned to exactly this release.
//!
//! | Feature | Re-exports | What it brings |
//! |---|---|---|
//! | *(always)* | [`core`] | protocol types of both eras, [`Client`](core::Client), [`Server`](core::Server), the [`Tool`](core::Tool) trait, typed calls ([`CallToolExt`](core::CallToolExt)) |
//! | `stdio` *(default)* | | child-process servers, serving on stdin/stdout |
//! | `http-client` | | Streamable HTTP (and the old HTTP+SSE) client, OAuth 2.1 |
//! | `http-server` | | Streamable HTTP server: sessions, SSE, bearer tokens |
//! | `fs` | `fs` | `Filesystem<C>`: the reference filesystem server's tools, typed |
//! | `shell` | `shell` | `Shell<C>`: command execution, typed |
//! | `sql` | `sql` | `Sql<C>`: SQL servers (ours and the reference ones), typed; the read-only guard |
//! | `perplexity` | `perplexity` | `Perplexity<C>`: Perplexity's MCP server, typed |
//! | `github` | `github` | `GitHub<C>`: GitHub's MCP server (current and older tool names), typed |
//! | `k8s` | `k8s` | `Kubernetes<C>`: the Kubernetes MCP server, typed |
//! | `docker` | `docker` | `Docker<C>`: the Docker MCP servers, typed |
//! | `native` | | the Rust backends of the tool parts enabled: confined filesystem, policy-checked shell, read-only SQL over sqlx, Perplexity's API, GitHub over octocrab, Kubernetes over kube, Docker or Podman over bollard with safety rules |
//! | `security` | `security` | policy, rate limits, tool pinning, secret redaction, as pipeline layers |
//! | `audit` | `audit` | the hash-chained, fail-closed audit log and its layer |
//! | `openai` | `openai` | OpenAI models (Chat Completions, Responses), MCP tools for them, the agent loop |
//! | `gateway` | `gateway` | the gateway as a library: every server behind one pipeline |
//! | `console` | | the gateway's web console at `/ui` (`Gateway::console`) |
//! | `otel` | | the gateway's traces and metrics over OTLP, configured by the `OTEL_*` variables |
//! | `full` | all of the above | |
//!
//! The [`prelude`] holds the names most programs use.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // features = ["fs"]
//! use mcp_toolkit::prelude::*;
//!
//! let server = mcp_toolkit::core::config::StdioServer::new(
//!     "npx",
//!     ["-y", "@modelcontextprotocol/server-filesystem", "/srv/data"],
//! );
//! # #[cfg(feature = "fs")] {
//! let fs = Filesystem::new(Client::spawn("fs", &server, ClientOptions::default()).await?);
//! println!("{}", fs.read_file("/srv/data/notes.txt").await?);
//! # }
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mcp_core as core;

#[cfg(feature = "audit")]
pub use mcp_audit as audit;
#[cfg(feature = "docker")]
pub use mcp_docker as docker;
#[cfg(feature = "fs")]
pub use mcp_fs as fs;
#[cfg(feature = "gateway")]
pub use mcp_gateway as gateway;
#[cfg(feature = "github")]
pub use mcp_github as github;
#[cfg(feature = "k8s")]
pub use mcp_k8s as k8s;
#[cfg(feature = "openai")]
pub use mcp_openai as openai;
#[cfg(feature = "perplexity")]
pub use mcp_perplexity as perplexity;
#[cfg(feature = "security")]
pub use mcp_security as security;
#[cfg(feature = "shell")]
pub use mcp_shell as shell;
#[cfg(feature = "sql")]
pub use mcp_sql as sql;

/// The names most programs use, for `use mcp_toolkit::prelude::*`.
pub mod prelude {
    pub use mcp_core::{
        CallTool, CallToolExt, Client, ClientOptions, Json, Registry, Server, Tool, ToolContext, ToolError, ToolSet,
        tool,
    };

    #[cfg(feature = "audit")]
    pub use mcp_audit::{AuditLayer, AuditLog};
    #[cfg(feature = "docker")]
    pub use mcp_docker::Docker;
    #[cfg(feature = "fs")]
    pub use mcp_fs::Filesystem;
    #[cfg(feature = "gateway")]
    pub use mcp_gateway::{Gateway, GatewayConfig};
    #[cfg(feature = "github")]
    pub use mcp_github::GitHub;
    #[cfg(feature = "k8s")]
    pub use mcp_k8s::Kubernetes;
    #[cfg(feature = "openai")]
    pub use mcp_openai::{Agent, Model, ModelConfig, Toolbox};
    #[cfg(feature = "perplexity")]
    pub use mcp_perplexity::Perplexity;
    #[cfg(feature = "security")]
    pub use mcp_security::{Policy, PolicyConfig};
    #[cfg(feature = "shell")]
    pub use mcp_shell::Shell;
    #[cfg(feature = "sql")]
    pub use mcp_sql::Sql;
}

/// The README's examples, compiled (and those that need no network, run) as doc tests.
#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
