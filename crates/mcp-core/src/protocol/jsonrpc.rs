//! JSON-RPC 2.0 messages and the wire error object.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON object, the shape of `params`, `arguments` and `_meta`.
pub type JsonObject = serde_json::Map<String, Value>;

/// The `id` of a request: a string or an integer, never null for a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// Standard and MCP-specific JSON-RPC error codes.
pub mod codes {
    /// The line was not valid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Valid JSON, but not a valid JSON-RPC message (or over the size limit).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method (always answered, never silence).
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The peer failed while handling the request.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A request timed out (SDK convention, not sent on the wire by a server).
    pub const REQUEST_TIMEOUT: i64 = -32001;
    /// A resource does not exist (`resources/read`).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// `2026-07-28`: an HTTP header disagrees with the request body's `_meta`.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// `2026-07-28`: the request needs a client capability the client did not declare.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// `2026-07-28`: the request's protocol revision is unknown or unsupported.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// The `error` member of a JSON-RPC error response: what goes on the wire.
///
/// This is kept apart from [`crate::Error`], the Rust error of this crate: a peer's error
/// arrives as an `ErrorObject` inside [`crate::Error::Rpc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (see [`codes`]).
    pub code: i64,
    /// A short, human-readable description.
    pub message: String,
    /// Structured detail, defined by the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    /// Adds structured detail.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700.
    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(codes::PARSE_ERROR, message)
    }

    /// -32600.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, message)
    }

    /// -32601, naming the method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(codes::METHOD_NOT_FOUND, format!("method not found: {method}"))
    }

    /// -32602.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }

    /// -32603.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, message)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

/// A request: expects exactly one response with the same id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: JsonRpcVersion,
    /// Correlates the response.
    pub id: RequestId,
    /// The method name.
    pub method: String,
    /// The parameters, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<JsonObject>,
}

/// A notification: no id, no response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `"2.0"`.
    pub jsonrpc: JsonRpcVersion,
    /// The method name.
    pub method: String,
    /// The parameters, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<JsonObject>,
}

/// A response: a result or an error for one request id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: JsonRpcVersion,
    /// The id of the request answered; `None` (null) only when the request's id could not be read.
    pub id: Option<RequestId>,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The two ways a request ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Success.
    #[serde(rename = "result")]
    Result(Value),
    /// Failure.
    #[serde(rename = "error")]
    Error(ErrorObject),
}

/// Any JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A notification.
    Notification(Notification),
    /// A response.
    Response(Response),
}

/// The `"jsonrpc": "2.0"` marker; anything else fails to deserialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonRpcVersion;

impl Serialize for JsonRpcVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("2.0")
    }
}

impl<'de> Deserialize<'de> for JsonRpcVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "2.0" {
            Ok(JsonRpcVersion)
        } else {
            Err(serde::de::Error::custom(format!("jsonrpc must be \"2.0\", got {s:?}")))
        }
    }
}

impl Request {
    /// A request with optional params.
    pub fn new(id: RequestId, method: impl Into<String>, params: Option<JsonObject>) -> Self {
        Self { jsonrpc: JsonRpcVersion, id, method: method.into(), params }
    }
}

impl Notification {
    /// A notification with optional params.
    pub fn new(method: impl Into<String>, params: Option<JsonObject>) -> Self {
        Self { jsonrpc: JsonRpcVersion, method: method.into(), params }
    }
}

impl Response {
    /// A success response.
    pub fn result(id: RequestId, result: Value) -> Self {
        Self { jsonrpc: JsonRpcVersion, id: Some(id), outcome: Outcome::Result(result) }
    }

    /// An error response; `id` is `None` when the request's id could not be read.
    pub fn error(id: Option<RequestId>, error: ErrorObject) -> Self {
        Self { jsonrpc: JsonRpcVersion, id, outcome: Outcome::Error(error) }
    }

    /// The line answering request `id` with `outcome`: a result that is JSON text already is
    /// written as it is, with no `Value` in between.
    pub(crate) fn answer_bytes(id: RequestId, outcome: Result<Box<RawValue>, ErrorObject>) -> Vec<u8> {
        #[derive(Serialize)]
        struct Answer<'a> {
            jsonrpc: JsonRpcVersion,
            id: &'a RequestId,
            result: &'a RawValue,
        }
        match outcome {
            // Serialization cannot fail: the id is a string or a number, the result JSON already.
            Ok(result) => {
                serde_json::to_vec(&Answer { jsonrpc: JsonRpcVersion, id: &id, result: &result }).unwrap_or_default()
            }
            Err(error) => Message::Response(Response::error(Some(id), error)).to_bytes(),
        }
    }
}

/// Why an incoming line is not a message, with the error to answer it by.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The request id, when it could be read, so the error can be correlated.
    pub id: Option<RequestId>,
    /// -32700 for invalid JSON, -32600 for a JSON value that is not a JSON-RPC message.
    pub error: ErrorObject,
    /// The message was meant as a response (it has `result` or `error` and no `method`): it is
    /// logged, never answered, since a response to a response would be answered in turn.
    pub response: bool,
}

impl Message {
    /// Parses one framed message.
    ///
    /// Classification follows the members present: `method` with `id` is a request, `method`
    /// without `id` a notification, `result` or `error` a response. Batches (arrays) are
    /// rejected as invalid requests: only `2025-03-26` had them, `2025-06-18` removed them, and
    /// no official SDK sends them.
    pub fn parse(bytes: &[u8]) -> Result<Message, Rejected> {
        if let Some(message) = Members::read(bytes) {
            return Ok(message);
        }
        // Anything the one-pass reading does not take is classified the thorough way, which
        // also words the error.
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Rejected {
            id: None,
            error: ErrorObject::parse_error(format!("invalid JSON: {e}")),
            response: false,
        })?;
        Self::from_value(value)
    }

    /// How to answer a message too large to read, from the two ends of its line that were kept
    /// (the stdio framing's `Frame::Oversized`): `None` when it is a response (`result` or
    /// `error` among its first members), which is never answered; else the id to answer with,
    /// read from the head as far as the head goes, or else taken from the tail when `id` is the
    /// object's last member (where the TypeScript SDK writes it), or `None` when not seen.
    pub fn oversized_answer_id(head: &[u8], tail: &[u8]) -> Option<Option<RequestId>> {
        let mut seen = SeenMembers::default();
        let mut reader = serde_json::Deserializer::from_slice(head);
        // The head ends inside the message: reading it fails there, after the members before.
        let _ = serde::de::DeserializeSeed::deserialize(&mut seen, &mut reader);
        if seen.response {
            return None;
        }
        Some(match seen.id {
            Some(id) => serde_json::from_value(id).ok(),
            None if seen.method => last_member_id(tail),
            None => None,
        })
    }

    /// Classifies an already-parsed JSON value.
    pub fn from_value(value: Value) -> Result<Message, Rejected> {
        let Value::Object(obj) = value else {
            let what = if value.is_array() {
                "a batch (array): JSON-RPC batches belong to revision 2025-03-26 only (2025-06-18 removed them), \
                 and this server does not accept them in any revision, 2025-03-26 included; send each message on its own"
            } else {
                "not an object"
            };
            return Err(Rejected {
                id: None,
                error: ErrorObject::invalid_request(format!("invalid request: message is {what}")),
                response: false,
            });
        };
        // Read the id first so that every later complaint can be correlated.
        let id = obj.get("id").and_then(|v| serde_json::from_value::<RequestId>(v.clone()).ok());
        let reject =
            |msg: String| Rejected { id: id.clone(), error: ErrorObject::invalid_request(msg), response: false };
        let value = Value::Object(obj);
        let map = value.as_object().expect("checked above");
        if map.contains_key("method") {
            if map.contains_key("id") {
                if id.is_none() {
                    return Err(reject("invalid request: id must be a string or an integer".into()));
                }
                serde_json::from_value(value).map(Message::Request).map_err(|e| reject(format!("invalid request: {e}")))
            } else {
                serde_json::from_value(value)
                    .map(Message::Notification)
                    .map_err(|e| reject(format!("invalid notification: {e}")))
            }
        } else if map.contains_key("result") || map.contains_key("error") {
            serde_json::from_value(value)
                .map(Message::Response)
                .map_err(|e| Rejected { response: true, ..reject(format!("invalid response: {e}")) })
        } else {
            Err(reject("invalid request: no method, result or error member".into()))
        }
    }

    /// Serializes to one line of JSON (no trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialization of these types cannot fail: keys are strings and values are JSON already.
        let r = match self {
            Message::Request(m) => serde_json::to_vec(m),
            Message::Notification(m) => serde_json::to_vec(m),
            Message::Response(m) => serde_json::to_vec(m),
        };
        r.unwrap_or_default()
    }
}

/// The members seen in the start of a message (see [`Message::oversized_answer_id`]).
#[derive(Default)]
struct SeenMembers {
    id: Option<Value>,
    method: bool,
    response: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut SeenMembers {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut SeenMembers {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "id" => self.id = Some(map.next_value()?),
                "method" => {
                    self.method = true;
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                "result" | "error" => {
                    self.response = true;
                    return Ok(());
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The id of a JSON object whose text ends with `"id": <integer or string>}` (after which only
/// whitespace), read backwards from the end: since a quote inside a JSON string is always
/// escaped, an unescaped `"id"` there is the key of the object's last member, not text.
fn last_member_id(tail: &[u8]) -> Option<RequestId> {
    let text = tail.trim_ascii_end().strip_suffix(b"}")?.trim_ascii_end();
    let (value, before) = if text.ends_with(b"\"") {
        let body = &text[..text.len() - 1];
        // The opening quote: the last one not escaped (preceded by an even run of backslashes).
        let open = (0..body.len())
            .rev()
            .find(|&at| body[at] == b'"' && body[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0)?;
        (&text[open..], &text[..open])
    } else {
        let digits = text.iter().rev().take_while(|b| b.is_ascii_digit() || **b == b'-').count();
        (&text[text.len() - digits..], &text[..text.len() - digits])
    };
    let before = before.trim_ascii_end().strip_suffix(b":")?.trim_ascii_end().strip_suffix(b"\"id\"")?;
    if !matches!(before.trim_ascii_end().last(), Some(b',' | b'{')) {
        return None;
    }
    serde_json::from_slice(value).ok()
}

/// The members of a message, read in one pass straight from its bytes (no intermediate `Value`
/// of the whole message, no second pass into the typed message). A member that is present, even
/// as `null`, is `Some`. It takes only well-formed requests, notifications and results and leaves
/// everything else (error responses, duplicate members, odd ids) to [`Message::from_value`], so
/// both agree on every message it does take. Only an object is read this way (serde would also
/// read a struct from an array), and a message with any other member is left to the thorough
/// path too, whose reading of values checks every string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Members {
    #[serde(default)]
    jsonrpc: Option<JsonRpcVersion>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    method: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

/// Marks a member present whatever its value, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Members {
    /// The message, when the bytes are one the fast path takes.
    fn read(bytes: &[u8]) -> Option<Message> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        // Text checked as UTF-8 once, whole, rather than string by string as it is read.
        let m: Members = serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
        m.jsonrpc?;
        let id = |v: Value| match v {
            Value::Number(n) => n.as_i64().map(RequestId::Number),
            Value::String(s) => Some(RequestId::String(s)),
            _ => None,
        };
        if let Some(method) = m.method {
            let Value::String(method) = method else { return None };
            let params = match m.params {
                None | Some(Value::Null) => None,
                Some(Value::Object(map)) => Some(map),
                Some(_) => return None,
            };
            return Some(match m.id {
                Some(v) => Message::Request(Request::new(id(v)?, method, params)),
                None => Message::Notification(Notification::new(method, params)),
            });
        }
        if m.error.is_some() {
            return None;
        }
        let result = m.result?;
        let id = match m.id? {
            Value::Null => None,
            v => Some(id(v)?),
        };
        Some(Message::Response(Response { jsonrpc: JsonRpcVersion, id, outcome: Outcome::Result(result) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id of a request cut in its middle, however its members are ordered: from its start
    /// (Python's and Rust's SDKs write `id` early) or from its end (the TypeScript SDK writes it
    /// last); never for a response, nor when a nested `id` or text could be mistaken for it.
    #[test]
    fn an_oversized_request_is_answered_with_its_id() {
        let big = format!("\"{}\"", "x\\\"id\\\": 9}".repeat(500));
        let cut = |text: &str| {
            let bytes = text.as_bytes();
            Message::oversized_answer_id(&bytes[..bytes.len().min(1024)], &bytes[bytes.len().saturating_sub(1024)..])
        };
        let id = |n: i64| Some(Some(RequestId::Number(n)));
        let cases = [
            (format!(r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"a":{big}}}}}"#), id(7)),
            (format!(r#"{{"method":"tools/call","params":{{"a":{big}}},"jsonrpc":"2.0","id":8}}"#), id(8)),
            (
                format!(r#"{{"method":"x","params":{{"a":{big}}},"jsonrpc":"2.0","id" : "s-\"1\"" }}"#),
                Some(Some(RequestId::String("s-\"1\"".into()))),
            ),
            (format!(r#"{{"method":"x","params":{{"a":{big}}},"jsonrpc":"2.0","id":-3}}"#) + "  \r", id(-3)),
            // A response is never answered, wherever its id is.
            (format!(r#"{{"jsonrpc":"2.0","id":7,"result":{{"a":{big}}}}}"#), None),
            (format!(r#"{{"result":{{"a":{big}}},"jsonrpc":"2.0","id":8}}"#), None),
            // The last member is a nested object's `id`, or no `id` at all: not the request's.
            (format!(r#"{{"method":"x","params":{{"a":{big},"id":4}}}}"#), Some(None)),
            (format!(r#"{{"method":"x","params":{{"a":{big}}},"jsonrpc":"2.0"}}"#), Some(None)),
            // Text that ends like a member, inside a string.
            (format!(r#"{{"method":"x","params":{{"a":{big}}},"note":"\"id\":5}}"}}"#), Some(None)),
        ];
        for (text, expected) in cases {
            assert_eq!(cut(&text), expected, "{}", &text[text.len().saturating_sub(60)..]);
        }
    }

    /// What the thorough path makes of a line: the reference the one-pass reading must match.
    fn thorough(line: &str) -> Result<Message, Rejected> {
        let value: Value = serde_json::from_str(line).map_err(|e| Rejected {
            id: None,
            error: ErrorObject::parse_error(format!("invalid JSON: {e}")),
            response: false,
        })?;
        Message::from_value(value)
    }

    #[test]
    fn the_one_pass_reading_agrees_with_the_thorough_path() {
        let lines = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"ping","params":null}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"method":"notifications/cancelled","jsonrpc":"2.0","params":{"requestId":3},"extra":[1,2]}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":4,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":6,"method":"m","result":{}}"#,
            // Everything below is rejected; the one-pass reading must leave each to the thorough path.
            r#"{"jsonrpc":"2.0","id":7,"method":null,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":8,"method":"m","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":true,"result":{}}"#,
            r#"{"jsonrpc":"2.0","result":{}}"#,
            r#"{"jsonrpc":"1.0","id":9,"method":"m"}"#,
            r#"{"jsonrpc":null,"id":9,"method":"m"}"#,
            r#"{"id":10,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":11,"id":12,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":13,"result":{},"error":{"code":1,"message":"both"}}"#,
            r#"{"jsonrpc":"2.0","id":14}"#,
            r#"[{"jsonrpc":"2.0","id":15,"method":"m"}]"#,
            // An array in a struct's shape, and unchecked text in a member nobody reads.
            r#"["2.0",16,"ping"]"#,
            r#"["2.0",17,"tools/call",{"name":"x","arguments":{}}]"#,
            r#" ["2.0",null,null,null,{}]"#,
            r#"{"jsonrpc":"2.0","id":18,"method":"ping","x":"\ud800"}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":19,\"method\":\"ping\",\"x\":\"\u{FFFD}\"}",
            "not json",
        ];
        for line in lines {
            assert_eq!(Message::parse(line.as_bytes()), thorough(line), "{line}");
            if line.trim_start().starts_with('[') || line.contains("\"x\"") {
                assert!(Members::read(line.as_bytes()).is_none(), "{line} is left to the thorough path");
            }
            if let Some(fast) = Members::read(line.as_bytes()) {
                assert_eq!(Ok(fast), thorough(line), "{line}");
            }
        }
        assert!(Members::read(lines[0].as_bytes()).is_some(), "a plain request takes the one-pass reading");
        // Raw bytes that are not UTF-8, inside a member nobody reads.
        let mut invalid = br#"{"jsonrpc":"2.0","id":20,"method":"ping","x":""#.to_vec();
        invalid.extend_from_slice(b"\xff\"}");
        assert!(Members::read(&invalid).is_none());
        assert!(Message::parse(&invalid).is_err(), "bytes that are not UTF-8 are refused");
    }
}
