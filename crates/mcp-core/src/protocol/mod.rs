//! The wire: JSON-RPC 2.0 framing types and MCP messages of both protocol eras.

pub mod jsonrpc;
pub mod param_headers;
pub mod types;
pub mod version;

pub use jsonrpc::{ErrorObject, JsonObject, Message, Notification, Request, RequestId, Response, codes};
pub use types::*;
pub use version::{Era, ProtocolVersion, meta_keys};
