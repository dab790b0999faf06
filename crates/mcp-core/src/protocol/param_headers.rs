//! Tool arguments mirrored into HTTP headers (`x-mcp-header`, `2026-07-28`): a tool's input
//! schema may mark a top-level primitive property with `"x-mcp-header": "Region"`, and a client
//! then sends its value as `Mcp-Param-Region` too, so gateways and load balancers can route on it
//! without parsing the body. Values a header cannot carry as they are (non-ASCII, control
//! characters, surrounding whitespace) travel as `=?base64?...?=`. The server checks that every
//! such header agrees with the body.

use base64::Engine as _;
use serde_json::Value;

use super::JsonObject;

/// The header prefix.
pub const PREFIX: &str = "mcp-param-";

/// The `(property, header name)` pairs a tool's input schema marks. Annotations that are not a
/// non-empty token on a string, number, integer or boolean property are ignored.
pub fn marked(input_schema: &JsonObject) -> Vec<(String, String)> {
    let Some(Value::Object(properties)) = input_schema.get("properties") else { return Vec::new() };
    properties
        .iter()
        .filter_map(|(name, schema)| {
            let header = schema.get("x-mcp-header")?.as_str()?;
            let primitive =
                matches!(schema.get("type").and_then(Value::as_str), Some("string" | "number" | "integer" | "boolean"));
            let token = !header.is_empty()
                && header.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            (primitive && token).then(|| (name.clone(), header.to_owned()))
        })
        .collect()
}

/// The header value for an argument; `None` for null (no header is sent).
pub fn encode(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if needs_base64(s) => {
            Some(format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(s.as_bytes())))
        }
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn needs_base64(s: &str) -> bool {
    s.chars().any(|c| !(' '..='~').contains(&c)) || s.trim() != s
}

/// Checks every marked header of a call against its arguments; `header(name)` looks a request
/// header up (case-insensitively). The error says which header and why.
pub fn check(
    input_schema: &JsonObject,
    arguments: Option<&JsonObject>,
    header: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    for (property, name) in marked(input_schema) {
        let value = arguments.and_then(|a| a.get(&property)).filter(|v| !v.is_null());
        let sent = header(&format!("{PREFIX}{}", name.to_ascii_lowercase()));
        match (value, sent) {
            (None, None) => {}
            (Some(_), None) => return Err(format!("missing Mcp-Param-{name} header for argument `{property}`")),
            (None, Some(_)) => {
                return Err(format!("Mcp-Param-{name} header sent, but argument `{property}` is absent"));
            }
            (Some(value), Some(raw)) => {
                let text = decode(raw.trim()).map_err(|e| format!("Mcp-Param-{name}: {e}"))?;
                let agrees = match value {
                    Value::Number(n) => {
                        text.parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(a, b)| (a - b).abs() < 1e-9)
                    }
                    Value::String(s) => text == *s,
                    other => encode(other).is_some_and(|e| e == text),
                };
                if !agrees {
                    return Err(format!("Mcp-Param-{name} header does not match argument `{property}`"));
                }
            }
        }
    }
    Ok(())
}

/// A header value as text: `=?base64?...?=` decoded (strictly), anything else literal.
fn decode(raw: &str) -> Result<String, String> {
    let Some(inner) = raw.strip_prefix("=?base64?").and_then(|r| r.strip_suffix("?=")) else {
        return Ok(raw.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(inner).map_err(|e| format!("invalid Base64 ({e})"))?;
    String::from_utf8(bytes).map_err(|_| "Base64 value is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> JsonObject {
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "priority": {"type": "integer", "x-mcp-header": "Priority"},
            "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
            "data": {"type": "object", "x-mcp-header": "Data"},
            "empty": {"type": "string", "x-mcp-header": ""},
            "query": {"type": "string"}
        }})
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn values_encode_and_check_both_ways() {
        let marked = marked(&schema());
        assert_eq!(marked.len(), 3, "{marked:?}");
        assert_eq!(encode(&json!("us-west1")).as_deref(), Some("us-west1"));
        assert_eq!(encode(&json!(" padded ")).as_deref(), Some("=?base64?IHBhZGRlZCA=?="));
        assert_eq!(encode(&json!("Hello, 世界")).as_deref(), Some("=?base64?SGVsbG8sIOS4lueVjA==?="));
        assert_eq!(encode(&json!(42)).as_deref(), Some("42"));
        assert_eq!(encode(&json!(false)).as_deref(), Some("false"));
        assert_eq!(encode(&Value::Null), None);

        let args = json!({"region": "Hello", "priority": 3, "query": "x"}).as_object().cloned();
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        const OK: &[(&str, &str)] = &[("mcp-param-region", "=?base64?SGVsbG8=?="), ("mcp-param-priority", " 3 ")];
        assert_eq!(check(&schema(), args.as_ref(), headers(OK)), Ok(()));
        const LITERAL: &[(&str, &str)] = &[("mcp-param-region", "Hello"), ("mcp-param-priority", "3")];
        assert_eq!(check(&schema(), args.as_ref(), headers(LITERAL)), Ok(()));
        for (bad, why) in [
            (&[("mcp-param-region", "=?base64?SGVsbG8?="), ("mcp-param-priority", "3")][..], "invalid Base64"),
            (&[("mcp-param-region", "=?base64?SGVs!!!bG8=?="), ("mcp-param-priority", "3")][..], "invalid Base64"),
            (&[("mcp-param-priority", "3")][..], "missing Mcp-Param-Region"),
            (&[("mcp-param-region", "Bye"), ("mcp-param-priority", "3")][..], "does not match"),
            (
                &[("mcp-param-region", "Hello"), ("mcp-param-priority", "3"), ("mcp-param-verbose", "true")][..],
                "absent",
            ),
        ] {
            let error = check(&schema(), args.as_ref(), |n: &str| {
                bad.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
            })
            .expect_err(why);
            assert!(error.contains(why), "{error}");
        }
    }
}
