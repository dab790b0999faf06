//! Protocol revisions and eras.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A protocol revision this crate speaks.
///
/// Revisions are an enumerated set, not an ordered scalar: an unknown string from a peer is never
/// compared by its spelling, it is simply not one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProtocolVersion {
    /// `2024-11-05`, the first public revision (HTTP+SSE era); accepted in the handshake.
    #[serde(rename = "2024-11-05")]
    V2024_11_05,
    /// `2025-03-26`.
    #[serde(rename = "2025-03-26")]
    V2025_03_26,
    /// `2025-06-18`.
    #[serde(rename = "2025-06-18")]
    V2025_06_18,
    /// `2025-11-25`, the newest revision with the `initialize` handshake and sessions.
    #[serde(rename = "2025-11-25")]
    V2025_11_25,
    /// `2026-07-28`, stateless: `server/discover` and a per-request `_meta` envelope.
    #[serde(rename = "2026-07-28")]
    V2026_07_28,
}

/// How a connection is set up and how each request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// `initialize` / `notifications/initialized`, then a session.
    Handshake,
    /// No handshake: every request carries its version and client capabilities in `_meta`.
    Modern,
}

impl ProtocolVersion {
    /// Every revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] =
        [Self::V2024_11_05, Self::V2025_03_26, Self::V2025_06_18, Self::V2025_11_25, Self::V2026_07_28];
    /// The newest revision of the stateless era.
    pub const LATEST_MODERN: ProtocolVersion = Self::V2026_07_28;
    /// The newest revision reachable through `initialize`.
    pub const LATEST_HANDSHAKE: ProtocolVersion = Self::V2025_11_25;

    /// The wire spelling, e.g. `"2025-11-25"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parses a wire spelling; `None` for a revision this crate does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The era this revision belongs to.
    pub fn era(self) -> Era {
        match self {
            Self::V2026_07_28 => Era::Modern,
            _ => Era::Handshake,
        }
    }

    /// Wire spellings of every revision, oldest first (the `supported` list of -32022).
    pub fn all_strings() -> Vec<String> {
        Self::ALL.iter().map(|v| v.as_str().to_owned()).collect()
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reserved `_meta` keys of the `2026-07-28` envelope.
pub mod meta_keys {
    /// The request's protocol revision.
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    /// The client's capabilities, sent with every request.
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    /// The client's name and version, sent with every request.
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    /// The server's name and version, stamped on results.
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    /// The lowest log level the client wants delivered for this request.
    pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    /// The listen stream a notification was delivered on: the id of its `subscriptions/listen`.
    pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
    /// The token that ties `notifications/progress` to a request (both eras).
    pub const PROGRESS_TOKEN: &str = "progressToken";

    /// The revision a request's `params` ask for in `_meta` (the `2026-07-28` envelope), as sent:
    /// absent in the handshake era.
    pub fn requested_version(params: Option<&crate::protocol::JsonObject>) -> Option<&serde_json::Value> {
        params?.get("_meta")?.as_object()?.get(PROTOCOL_VERSION)
    }
}
