//! The Model Context Protocol for Rust: protocol types of both eras (`2026-07-28` stateless and
//! the `2025-11-25` handshake, down to `2025-03-26`), JSON-RPC 2.0 over newline-delimited
//! streams, a client and a server, and the [`Tool`] trait that tool crates implement.
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
#[cfg(feature = "pipeline")]
pub mod supervised;
pub mod tail;
pub mod tasks;
pub mod tool;
pub mod trace_context;
pub mod transport;
pub mod typed;

pub use client::{CallEvent, Client, ClientOptions, EraPreference, InputHandler, LogSink, ToolCallStream};
pub use config::{ConfigError, McpConfig, ServerConfig};
pub use error::{Error, Result};
pub use registry::{Registration, Registry};
pub use server::{Completer, Server, ServerBuilder, StartState};
/// Cancellation of a running request, as seen by tools ([`ToolContext::cancelled`]).
pub use tokio_util::sync::CancellationToken;
pub use tool::{CallTool, Json, Tool, ToolContext, ToolError, ToolSet, tool};
pub use typed::CallToolExt;

/// The README's Rust example, compiled as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExample;

/// A time as RFC 3339 in UTC (`2026-11-26T18:40:00Z`, or with `.mmm` milliseconds when
/// `millis`), without a date library.
pub fn rfc3339(time: std::time::SystemTime, millis: bool) -> String {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let fraction = if millis { format!(".{:03}", since.subsec_millis()) } else { String::new() };
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A random 128-bit identifier in hex from the operating system's cryptographic random source:
/// session ids, task ids, OAuth `state`, PKCE verifiers, trace ids.
pub fn random_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // One allocation: ids are made per HTTP request, where a `format!` per byte showed up.
    let mut id = String::with_capacity(32);
    for b in random_bytes::<16>() {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}

/// A map keyed by server and tool names, looked up on every call: hashed with foldhash (seeded
/// at random per process) rather than SipHash, which cost about 1.7k instructions per call.
/// Its keys come from configuration and servers' tool lists.
pub(crate) type NameMap<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;

/// A map keyed by request ids, touched two or three times per request: hashed with foldhash
/// too (SipHash cost about 650 instructions per call). A peer chooses the ids of its requests,
/// but a connection holds at most `max_in_flight` of them, so even ids made to collide cost a
/// bounded scan, not a flood.
pub(crate) type IdMap<V> = std::collections::HashMap<protocol::RequestId, V, foldhash::fast::RandomState>;

/// `N` bytes from the operating system's cryptographic random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Without the OS's random source no identifier or key could be trusted: stop rather than
    // hand out guessable ones.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
