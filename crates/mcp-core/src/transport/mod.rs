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
