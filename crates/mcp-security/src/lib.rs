//! Security for MCP tool calls, as layers of the `mcp-core` pipeline:
//!
//! - [`Policy`]: allow or deny by principal, server, tool name pattern, the tool's annotations and
//!   argument constraints; deny by default once rules are given; a read-only switch. Enforced at
//!   call time ([`AuthorizeLayer`]) and used to filter lists ([`Policy::visible`]). Every decision
//!   names its rule.
//! - [`Pins`]: SHA-256 over a canonical JSON of each tool definition, kept in a lock file or a
//!   database table shared by gateway replicas (feature `sql`); a changed definition is refused
//!   or flagged until the operator updates the lock.
//! - [`RateLimits`] ([`RateLimitLayer`]): per principal and per tool; in-process, or shared by
//!   gateway replicas through Redis (feature `redis`).
//! - [`Redactor`] ([`RedactLayer`]): secrets out of results, errors, logs and audit records.
//! - [`check_access_tool`]: the seed's `check_access(resource, action)`.

mod layers;
mod pinning;
mod policy;
mod ratelimit;
mod redact;

pub use layers::{AuthorizeLayer, RateLimitLayer, RedactLayer, check_access_tool};
pub use pinning::{PinMode, Pins, PinsConfig, definition_digest};
pub use policy::{ArgumentConstraint, Decision, Effect, Policy, PolicyConfig, Rule, Subject};
pub use ratelimit::{RateLimit, RateLimits, Refusal};
#[cfg(feature = "redis")]
pub use ratelimit::{RateLimitStoreConfig, WhenUnavailable};
pub use redact::{RedactionConfig, Redactor, secret_name};

/// Everything that can go wrong in `mcp-security`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule, limit or pattern in the configuration is invalid.
    #[error("invalid security configuration: {0}")]
    Config(String),
    /// The pin lock file could not be read or written.
    #[error("pin lock file `{path}`: {message}")]
    Lock {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The pin database (`pinning.database`) could not be reached or used.
    #[error("pinning.database `{url}`: {message}")]
    Database {
        /// The URL without credentials.
        url: String,
        /// What went wrong (credentials masked).
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
