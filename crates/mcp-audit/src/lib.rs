//! A tamper-evident, durable audit log of tool calls.
//!
//! - Append-only JSON Lines; each record carries the SHA-256 of the one before it, so an edit,
//!   deletion, insertion or reordering breaks the chain and [`verify`] names the first bad record.
//!   Records cut from the end are found against the head file (`<log>.head`); without one (a copy
//!   of the log) the report says that they cannot be ([`VerifyReport::end_unchecked`]).
//!   [`records`] reads them back and names each line that is not one ([`Error::BadLine`]).
//!   A record is sealed over its line's bytes as written (`{"v":2,...}`); records of the first
//!   format, sealed over their canonical JSON, still verify (see [`AuditRecord`]).
//! - Group commit: records queued while a write is in progress are written together and made
//!   durable by one write to the live file, open with `O_DSYNC` (as one `fdatasync`), done by
//!   the first of their callers to find the file free, on its own thread (a single-threaded
//!   runtime hands it to the log's writer thread instead, unless the thread is marked as
//!   answering one peer, as stdio's is, and the record is alone, seals no segment and the disk
//!   is quick);
//!   [`AuditLog::append`] returns only after that, so an acknowledged record survives a crash.
//!   A torn last line (a crash mid-write, never acknowledged) is cut off when the log is
//!   reopened, and the cut is itself recorded.
//! - Fail closed: a record that cannot be made durable (a failed write or `fsync`, the file
//!   removed or replaced, the writer stopped) is an error, and the log then refuses every record
//!   until it is reopened; [`AuditLog::health`] says whether it takes records and why not.
//! - Segments: the live file is sealed into a numbered segment when it grows past a size, listed
//!   in a manifest whose entries are chained too; opening reads only the ends of the files.
//! - [`AuditLayer`] records every call that passes the pipeline, allowed or denied, with redacted
//!   arguments and their digest, and answers only once the record is durable; a call abandoned
//!   by its caller is recorded as `cancelled`. [`log_event_tool`] is the seed's
//!   `log_event(action, details)`.

mod files;
mod layer;
mod log;
mod mirror;
mod record;
mod replica;
#[cfg(feature = "sql")]
mod sql;
mod verify;

pub use layer::{AuditLayer, log_event_tool};
pub use log::{AuditLog, AuditOptions};
pub use mirror::{Mirror, MirrorBatch, MirrorReceiver};
pub use record::{AuditRecord, GENESIS, NewRecord, arguments_digest};
pub use replica::{MAX_REPLICA_LEN, REPLICA_ENV, Replica};
#[cfg(feature = "sql")]
pub use sql::{DatabaseProblem, DatabaseReport, MirrorDrain, ReplicaReport, SqlSink, verify_database};
pub use verify::{Problem, Records, VerifyReport, log_bytes, read_records, records, verify, verify_with_progress};

/// Everything that can go wrong in `mcp-audit`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the log could not be opened, read or written.
    #[error("audit log `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path is a device, a FIFO, a directory or a socket (or a link to one).
    #[error("audit log `{path}` is {kind}, not a regular file")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The log cannot make records durable, and refuses them until it is reopened.
    #[error("audit log `{path}` cannot make records durable: {reason}; it takes no more records until it is reopened")]
    Unhealthy {
        /// The live file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Another writer (another process, or another open log in this one) holds the log.
    #[error(
        "audit log `{path}` is in use by another writer (its `.lock` file is locked): two writers would fork its chain; stop the other process or give this one its own log"
    )]
    InUse {
        /// The live file.
        path: String,
    },
    /// A replica id that cannot be used (see [`Replica`]).
    #[error("invalid audit replica id: {reason}")]
    Replica {
        /// What is wrong with it, and where it came from.
        reason: String,
    },
    /// A line of the log is not a record (unreadable, or a sealed segment's partial last line),
    /// found while reading the records back (see [`records`]). What it held is lost to the reader;
    /// [`verify`] says what follows from it for the chain.
    #[error("audit log `{path}`, line {line}: {reason}")]
    BadLine {
        /// The file (a segment or the live file).
        path: String,
        /// 1-based line number in that file.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Where the chain continues cannot be found without guessing.
    #[error("audit log `{path}` is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
