//! The Rust error of this crate, apart from the wire's [`ErrorObject`].

use std::time::Duration;

use crate::protocol::ErrorObject;

/// Everything that can go wrong in `mcp-core`.
///
/// Messages name the thing that was wrong (the server, the method, the variable) and never
/// carry a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer answered with a JSON-RPC error (or, over HTTP, could not be reached: see
    /// [`Error::is_transport_failure`]).
    #[error("server `{server}` {}: {error}", rejected_or_unreached(.method, .error))]
    Rpc {
        /// The server's name.
        server: String,
        /// The method called.
        method: String,
        /// What the peer said.
        error: ErrorObject,
    },
    /// An HTTP server refused the request with an HTTP status and no JSON-RPC answer (a `404`
    /// from a server without Streamable HTTP, a `401` nobody could authorize).
    #[error("server `{server}` rejected {method}: {error}")]
    Http {
        /// The server's name.
        server: String,
        /// The method called.
        method: String,
        /// The HTTP status code.
        status: u16,
        /// The refusal as a JSON-RPC error: -32601 for `404`, else -32600, with the status and
        /// the start of the body in its message.
        error: ErrorObject,
    },
    /// No answer within the request's timeout; `notifications/cancelled` was sent.
    #[error("server `{server}` did not answer {method} within {after:?}")]
    Timeout {
        /// The server's name.
        server: String,
        /// The method called.
        method: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The connection closed (the server exited or its pipe broke) before the answer came.
    #[error("server `{server}` closed the connection: {reason}")]
    Closed {
        /// The server's name.
        server: String,
        /// Exit status and the last lines of its stderr, when known.
        reason: String,
    },
    /// The server process could not be started.
    #[error("server `{server}`: cannot start `{command}`: {source}")]
    Spawn {
        /// The server's name.
        server: String,
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The peer broke the protocol (an unparseable result, an unknown revision).
    #[error("server `{server}`: protocol error in {method}: {message}")]
    Protocol {
        /// The server's name.
        server: String,
        /// The method whose answer was wrong.
        method: String,
        /// What was wrong.
        message: String,
    },
    /// The server asked for input (`2026-07-28` input-required result) that the caller must supply.
    #[error("server `{server}` needs input before {method} can finish")]
    InputRequired {
        /// The server's name.
        server: String,
        /// The method.
        method: String,
        /// What it asked for; retry with the answers.
        result: Box<crate::protocol::InputRequiredResult>,
    },
    /// A tool answered with `isError: true` (a typed call turns that into this value).
    #[error("tool `{tool}` failed: {message}")]
    ToolFailed {
        /// The tool's name.
        tool: String,
        /// The text the tool gave as its failure.
        message: String,
    },
    /// A typed call's arguments or result did not have the shape the types say.
    #[error("tool `{tool}`: {message}")]
    Decode {
        /// The tool's name.
        tool: String,
        /// What did not fit, with serde's path to the field.
        message: String,
    },
    /// A configuration problem.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Reading or writing the transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes ([`std::error::Error::source`]) on one line, joined by `: `, each
/// said once: some errors already include their source in their own message.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cause = Some(error);
    while let Some(current) = cause {
        let text = current.to_string();
        if !text.is_empty() && !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        cause = current.source();
    }
    line
}

/// How an [`Error::Rpc`] begins: a server that answered rejected the request; one that could not
/// be reached never saw it.
fn rejected_or_unreached(method: &str, error: &ErrorObject) -> String {
    if transport_failed(error) { format!("was not reached ({method})") } else { format!("rejected {method}") }
}

fn transport_failed(error: &ErrorObject) -> bool {
    error.code == -32000
        && error.data.as_ref().and_then(|d| d.get("transport")).and_then(|t| t.as_str()) == Some("failed")
}

impl Error {
    /// Whether the request failed on the way rather than being answered: an HTTP server that
    /// could not be reached or reset the connection, or an I/O failure.
    pub fn is_transport_failure(&self) -> bool {
        match self {
            Error::Rpc { error, .. } => transport_failed(error),
            Error::Io(_) => true,
            _ => false,
        }
    }

    /// The wire error, when the peer sent one (or, for [`Error::Http`], the error standing
    /// for its HTTP refusal).
    pub fn rpc_error(&self) -> Option<&ErrorObject> {
        match self {
            Error::Rpc { error, .. } | Error::Http { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The HTTP status of an HTTP server's refusal ([`Error::Http`]).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}
