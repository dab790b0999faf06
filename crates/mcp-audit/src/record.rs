//! One audit record and its place in the hash chain.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev` of the first record.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the log adds the sequence number, time and chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewRecord {
    /// `tool_call`, `event` (from `log_event`) or `recovery` (written by the log itself).
    pub kind: String,
    /// Who called.
    pub principal: String,
    /// The client's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The upstream server.
    pub server: String,
    /// The tool, by its upstream name.
    pub tool: String,
    /// The arguments with secrets masked.
    pub arguments: Value,
    /// SHA-256 of the arguments as given (canonical JSON), to prove what was sent without keeping it.
    pub arguments_digest: String,
    /// `allow` or `deny`; `unknown` for a call abandoned before it finished.
    pub decision: String,
    /// The rule that decided, when a rule did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `ok`, `tool_error`, `denied`, `rate_limited`, `invalid_arguments`, `timeout`, `upstream_error`,
    /// `unavailable` (the gateway could not take the call: its audit failing, a shutdown),
    /// `input_required` (the tool asked the client for input first; the retry is its own record), `event`, or `cancelled` (the caller stopped waiting: a cancelled request, a client gone).
    pub outcome: String,
    /// What went wrong, secrets masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the call took.
    pub duration_ms: f64,
    /// Correlates traces and logs.
    pub trace_id: String,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    /// The caller's part.
    #[serde(flatten)]
    pub body: NewRecord,
    /// The `hash` of the record before (or [`GENESIS`]).
    pub prev: String,
    /// SHA-256 over this record's canonical JSON without `hash`.
    pub hash: String,
}

impl AuditRecord {
    /// Seals a record into the chain.
    pub fn seal(seq: u64, time: String, body: NewRecord, prev: String) -> Self {
        let mut record = AuditRecord { seq, time, body, prev, hash: String::new() };
        record.hash = record.compute_hash();
        record
    }

    /// The hash this record should have.
    pub fn compute_hash(&self) -> String {
        hash_without_hash_field(self)
    }
}

/// SHA-256 over the canonical JSON of `value` without its `hash` field: how records and manifest
/// entries are sealed.
pub(crate) fn hash_without_hash_field<T: Serialize>(value: &T) -> String {
    let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("hash");
    }
    // serde_json's maps keep keys sorted, so this text is canonical.
    digest(&serde_json::to_string(&value).unwrap_or_default())
}

fn digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The digest recorded for a call's arguments.
pub fn arguments_digest(arguments: &Value) -> String {
    digest(&serde_json::to_string(arguments).unwrap_or_default())
}

/// Now, as RFC 3339 UTC with milliseconds.
pub(crate) fn now() -> String {
    mcp_core::rfc3339(std::time::SystemTime::now(), true)
}
