//! Command execution over MCP.
//!
//! - [`Shell`]: typed wrappers for the seed's `execute(command, cwd)` and the popular shell
//!   server's `shell_execute` (argv array, stdin, directory, timeout), over anything that
//!   implements [`mcp_core::CallTool`].
//! - `native` (feature `native`): a server for both tools that runs only allowlisted executables,
//!   from argv arrays, never through a shell, in confined working directories.

mod wrappers;

#[cfg(feature = "native")]
pub mod native;

pub use wrappers::{ExecOutput, Shell};

/// Everything that can go wrong in `mcp-shell`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command or an argument was refused by policy.
    #[error("refused: {0}")]
    Refused(String),
    /// The configuration is unusable (an allowed command not found, a root missing).
    #[error("invalid shell configuration: {0}")]
    Config(String),
    /// The command could not be started or waited for.
    #[error("running `{command}`: {source}")]
    Io {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The call did not complete, or the server reported a failure that is not a command result
    /// ([`mcp_core::Error::ToolFailed`]).
    #[error(transparent)]
    Mcp(#[from] mcp_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
