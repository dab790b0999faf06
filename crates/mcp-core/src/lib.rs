//! The Model Context Protocol for Rust: protocol types of both eras (`2026-07-28` stateless and
//! the `2025-11-25` handshake, down to `2025-03-26`), JSON-RPC 2.0 over newline-delimited
//! streams, a client and a server, and the [`Tool`](tool::Tool) trait that tool crates implement.
//!
//! Tool crates contribute tools through [`register!`]; a program collects whatever is linked with
//! [`Registry::linked`] and serves it with [`Server`].

pub mod client;
pub mod config;
pub mod error;
pub mod naming;
#[cfg(feature = "pipeline")]
pub mod pipeline;
pub mod protocol;
pub mod registry;
pub mod server;
pub mod tool;
pub mod transport;

pub use client::{CallEvent, Client, ClientOptions, EraPreference, ToolCallStream};
pub use config::{ConfigError, McpConfig, ServerConfig};
pub use error::{Error, Result};
pub use registry::{Registration, Registry};
pub use server::{Server, ServerBuilder};
/// Cancellation of a running request, as seen by tools ([`ToolContext::cancelled`]).
pub use tokio_util::sync::CancellationToken;
pub use tool::{CallTool, Json, Tool, ToolContext, ToolError, ToolSet, tool};

/// The README's Rust example, compiled as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExample;

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
