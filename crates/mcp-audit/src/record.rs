//! One audit record and its place in the hash chain.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev` of the first record.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the log adds the sequence number, time and chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewRecord {
    /// `tool_call`, `prompt_get` and `resource_read` (a prompt or a read relayed by a gateway),
    /// `event` (from `log_event`) or `recovery` (written by the log itself).
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
///
/// Two formats of the line exist, each verifiable. The first (records without `"v"`) is sealed
/// over the record's canonical JSON without `hash`. The current one (`{"v":2,...}`) is sealed
/// over the line's own bytes up to `,"hash":`: the caller's part first, then `seq`, `time` and
/// `prev`, so the writer hashes the caller's part without holding the log, and `verify`
/// re-hashes the bytes as written without re-encoding them.
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
    /// SHA-256 over the record (see the formats above).
    pub hash: String,
}

impl AuditRecord {
    /// Seals a record into the chain in the first format (canonical JSON), as logs written before
    /// the current format hold them; the log itself writes the current format.
    pub fn seal(seq: u64, time: String, body: NewRecord, prev: String) -> Self {
        let mut record = AuditRecord { seq, time, body, prev, hash: String::new() };
        record.hash = record.compute_hash();
        record
    }

    /// The hash this record should have in the first format (canonical JSON without `hash`).
    pub fn compute_hash(&self) -> String {
        hash_without_hash_field(self)
    }
}

/// SHA-256 over the canonical JSON of `value` without its `hash` field: how records of the first
/// format and manifest entries are sealed.
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

/// The digest recorded for a call's arguments: SHA-256 of their JSON text as recorded (secrets
/// masked), hashed as it is encoded (no text kept).
pub fn arguments_digest(arguments: &Value) -> String {
    let mut hasher = HashWriter(Sha256::new());
    if serde_json::to_writer(&mut hasher, arguments).is_err() {
        return digest("");
    }
    let mut text = String::with_capacity(HASH_LEN);
    push_hash(&mut text, &hasher.0.finalize().into());
    text
}

/// Feeds what is written into a hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `sha256:` and 64 hex digits.
pub(crate) const HASH_LEN: usize = 71;

/// Appends `sha256:` and the digest in lowercase hex.
fn push_hash(out: &mut String, digest: &[u8; 32]) {
    out.push_str("sha256:");
    let mut hex = [0u8; 64];
    hex_into(digest, &mut hex);
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
}

fn hex_into(digest: &[u8; 32], out: &mut [u8; 64]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in digest.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(byte >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(byte & 15)];
    }
}

// -------------------------------------------------------------------------------------------
// The current format: sealed over the bytes as written
// -------------------------------------------------------------------------------------------

/// How every line of the current format begins.
const V2_START: &[u8] = br#"{"v":2,"#;
/// What follows the sealed bytes: `,"hash":"sha256:<64 hex>"}`.
const HASH_KEY: &[u8] = br#","hash":""#;

/// A record's line while it is being made: the caller's part, encoded and hashed outside the log's
/// lock; [`Line::seal`] adds the chain under it.
pub(crate) struct Line {
    /// `{"v":2,"kind":...,"trace_id":"..."`, then the sealed end.
    pub bytes: Vec<u8>,
    hasher: Sha256,
}

impl Line {
    /// Encodes `body` into `bytes` (cleared first) and hashes it.
    pub fn encode(body: &NewRecord, mut bytes: Vec<u8>) -> Result<Line, String> {
        bytes.clear();
        bytes.extend_from_slice(&V2_START[..V2_START.len() - 1]);
        let at = bytes.len();
        serde_json::to_writer(&mut bytes, body).map_err(|e| format!("a record could not be encoded: {e}"))?;
        // `{"v":2` + `{"kind":...}` becomes `{"v":2,"kind":...`: the body's own braces dropped.
        bytes[at] = b',';
        bytes.pop();
        let hasher = Sha256::new_with_prefix(&bytes);
        Ok(Line { bytes, hasher })
    }

    /// Adds `seq`, `time` and `prev`, then the hash of the whole line so far, and the newline.
    /// Returns where the hash (`sha256:...`) sits in `bytes`.
    pub fn seal(&mut self, seq: u64, time: &str, prev: &str) -> std::ops::Range<usize> {
        let from = self.bytes.len();
        let b = &mut self.bytes;
        b.extend_from_slice(br#","seq":"#);
        // Writing into a `Vec` cannot fail.
        let _ = std::io::Write::write_fmt(b, format_args!("{seq}"));
        b.extend_from_slice(br#","time":"#);
        json_string(b, time);
        b.extend_from_slice(br#","prev":"#);
        json_string(b, prev);
        let mut hasher = self.hasher.clone();
        hasher.update(&b[from..]);
        let mut hex = [0u8; 64];
        hex_into(&hasher.finalize().into(), &mut hex);
        b.extend_from_slice(HASH_KEY);
        let at = b.len();
        b.extend_from_slice(b"sha256:");
        b.extend_from_slice(&hex);
        b.extend_from_slice(b"\"}\n");
        at..at + HASH_LEN
    }
}

/// Appends `text` as a JSON string.
fn json_string(out: &mut Vec<u8>, text: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, text);
}

/// The chain fields of a line that verified: its sequence number, the hash it links to and its
/// own hash.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checked<'a> {
    pub seq: u64,
    pub prev: std::borrow::Cow<'a, str>,
    pub hash: std::borrow::Cow<'a, str>,
}

/// Why a line did not verify.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Not a record of either format.
    Invalid(String),
    /// A record, but its hash does not match its content.
    Edited(u64),
}

/// The current format's fields, borrowed from the line: the same types as [`AuditRecord`]'s, so a
/// line that reads here reads as an `AuditRecord` too.
#[derive(Deserialize)]
#[allow(dead_code)] // read to check their types
struct V2<'a> {
    v: u32,
    seq: u64,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    principal: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    client: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    server: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    tool: std::borrow::Cow<'a, str>,
    arguments: serde::de::IgnoredAny,
    #[serde(borrow)]
    arguments_digest: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    decision: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    rule: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    outcome: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    error: Option<std::borrow::Cow<'a, str>>,
    duration_ms: f64,
    #[serde(borrow)]
    trace_id: std::borrow::Cow<'a, str>,
    prev: &'a str,
    hash: &'a str,
}

/// Checks one line (without its newline) against its own hash, in whichever format it is.
pub(crate) fn check_line(line: &[u8]) -> Result<Checked<'_>, Bad> {
    if !line.starts_with(br#"{"v":"#) {
        let record: AuditRecord = serde_json::from_slice(line).map_err(|e| Bad::Invalid(e.to_string()))?;
        if record.hash != record.compute_hash() {
            return Err(Bad::Edited(record.seq));
        }
        return Ok(Checked { seq: record.seq, prev: record.prev.into(), hash: record.hash.into() });
    }
    let record: V2<'_> = serde_json::from_slice(line).map_err(|e| Bad::Invalid(e.to_string()))?;
    if record.v != 2 {
        return Err(Bad::Invalid(format!("unknown record format {}", record.v)));
    }
    // The sealed bytes are everything before `,"hash":"<hash>"}`, which must end the line.
    let end = HASH_KEY.len() + record.hash.len() + 2;
    let sealed = line.len().checked_sub(end).map(|at| &line[..at]);
    let ends_it = |sealed: &&[u8]| {
        let rest = &line[sealed.len()..];
        rest.starts_with(HASH_KEY)
            && &rest[HASH_KEY.len()..rest.len() - 2] == record.hash.as_bytes()
            && rest.ends_with(b"\"}")
    };
    let Some(sealed) = sealed.filter(ends_it) else {
        return Err(Bad::Invalid("the hash does not end the record".into()));
    };
    let mut hex = [0u8; 64];
    hex_into(&Sha256::digest(sealed).into(), &mut hex);
    if record.hash.strip_prefix("sha256:").map(str::as_bytes) != Some(&hex[..]) {
        return Err(Bad::Edited(record.seq));
    }
    Ok(Checked { seq: record.seq, prev: record.prev.into(), hash: record.hash.into() })
}

/// Formats the time of records, reformatting the date and time only when the second changes.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for the current millisecond.
    text: String,
}

impl Clock {
    /// Now, as RFC 3339 UTC with milliseconds.
    pub fn now(&mut self) -> &str {
        let now = std::time::SystemTime::now();
        let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        if since.as_secs() != self.second || self.text.is_empty() {
            self.second = since.as_secs();
            // `...SSZ` without the `Z`; the milliseconds and `Z` follow.
            self.text = mcp_core::rfc3339(now, false);
            self.text.pop();
            self.text.push_str(".000Z");
        }
        let millis = since.subsec_millis();
        let len = self.text.len();
        // Only ASCII digits are replaced, so the text stays UTF-8.
        let digits = [b'0' + (millis / 100) as u8, b'0' + (millis / 10 % 10) as u8, b'0' + (millis % 10) as u8];
        self.text.replace_range(len - 4..len - 1, std::str::from_utf8(&digits).unwrap_or("000"));
        &self.text
    }
}

/// Now, as RFC 3339 UTC with milliseconds.
#[cfg(test)]
pub(crate) fn now() -> String {
    mcp_core::rfc3339(std::time::SystemTime::now(), true)
}
