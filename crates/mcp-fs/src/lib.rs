//! Filesystem tools over MCP.
//!
//! - [`Filesystem`]: typed wrappers for every tool of the reference filesystem server (npm
//!   `@modelcontextprotocol/server-filesystem`), by their real names and argument names, over
//!   anything that implements [`mcp_core::CallTool`]: a [`mcp_core::Client`] connected to the npm
//!   server, or the native tools in this process.
//! - `native` (feature `native`): the same tools implemented in Rust and confined by capability,
//!   served under the same names and argument shapes, so it is a drop-in replacement.

mod wrappers;

#[cfg(feature = "native")]
pub mod native;

pub use wrappers::{DirEntry, EditOperation, FileInfo, Filesystem, Media, TreeEntry};

/// Everything that can go wrong in `mcp-fs`. Messages name the path that was refused or missing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path is not allowed (outside the roots, through an escaping symlink, a NUL byte).
    #[error("access denied: `{path}`: {reason}")]
    Denied {
        /// The path as requested.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is larger than the configured read limit.
    #[error("`{path}` is {size} bytes, over the read limit of {limit} bytes")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An argument makes no sense (e.g. both `head` and `tail`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A filesystem operation failed.
    #[error("`{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The call did not complete (server gone, timeout, protocol error), the tool reported a
    /// failure ([`mcp_core::Error::ToolFailed`]), or its result did not decode.
    #[error(transparent)]
    Mcp(#[from] mcp_core::Error),
    /// The server's result does not have the expected shape.
    #[error("tool `{tool}` returned an unexpected result: {message}")]
    UnexpectedResult {
        /// The tool.
        tool: String,
        /// What was wrong.
        message: String,
    },
}

#[cfg(feature = "native")]
impl Error {
    pub(crate) fn denied(path: &str, reason: &str) -> Self {
        Error::Denied { path: path.to_owned(), reason: reason.to_owned() }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
