//! Transports: newline-delimited framing, the JSON-RPC engine, child processes.

pub(crate) mod connection;
pub mod framing;
#[cfg(feature = "http-server")]
pub mod http;
#[cfg(feature = "http-client")]
pub(crate) mod http_client;
#[cfg(feature = "http-client")]
pub mod oauth;
#[cfg(feature = "http-client")]
pub use http_client::install_crypto_provider;
#[cfg(feature = "stdio")]
pub(crate) mod process;
pub(crate) mod relay;
#[cfg(feature = "http-client")]
pub(crate) mod sse;
#[cfg(feature = "stdio")]
pub(crate) mod stdio;

pub use framing::DEFAULT_MAX_MESSAGE_BYTES;

thread_local! {
    static SERVES_MANY_PEERS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread answers many peers at once (a Streamable HTTP serving thread, one
/// single-threaded runtime for many connections): anything that blocks it holds up every
/// connection it serves, so such work belongs on another thread. False elsewhere, e.g. on the
/// runtime that serves stdio, which answers one peer.
pub fn thread_serves_many_peers() -> bool {
    SERVES_MANY_PEERS.get()
}

/// Marks the current thread as answering many peers (see [`thread_serves_many_peers`]): each
/// Streamable HTTP serving thread does, and so may a server of an embedder's own that answers
/// many peers on one thread.
pub fn mark_thread_serving_many_peers() {
    SERVES_MANY_PEERS.set(true);
}
