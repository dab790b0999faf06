//! A tamper-evident, durable audit log of tool calls.
//!
//! - Append-only JSON Lines; each record carries the SHA-256 of the one before it, so an edit,
//!   deletion, insertion or reordering breaks the chain and [`verify`] names the first bad record.
//! - Group commit: records queued while a write is in progress are written together and made
//!   durable with one `fsync`; [`AuditLog::append`] returns only after that, so an acknowledged
//!   record survives a crash. A torn last line (a crash mid-write, never acknowledged) is cut off
//!   when the log is reopened, and the cut is itself recorded.
//! - [`AuditLayer`] records every call that passes the pipeline, allowed or denied, with redacted
//!   arguments and their digest; [`log_event_tool`] is the seed's `log_event(action, details)`.

mod layer;
mod log;
mod record;
#[cfg(feature = "sql")]
mod sql;
mod verify;

pub use layer::{AuditLayer, log_event_tool};
pub use log::{AuditLog, AuditOptions};
pub use record::{AuditRecord, GENESIS, NewRecord, arguments_digest};
#[cfg(feature = "sql")]
pub use sql::{MirrorDrain, SqlSink};
pub use verify::{Problem, VerifyReport, read_records, verify};

/// Everything that can go wrong in `mcp-audit`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log file could not be opened, read or written.
    #[error("audit log `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The log's writer has stopped (after an I/O failure); nothing more can be recorded.
    #[error("the audit log writer has stopped: {0}")]
    Stopped(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
