//! Typed calls on anything that calls tools: arguments from a `Serialize` value, `isError` as an
//! error value, the result decoded from `structuredContent` or, failing that, from its text.
//!
//! Every typed wrapper crate calls tools through [`CallToolExt`], so a remote server and its
//! native replacement are decoded the same way.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::{CallToolResult, JsonObject};
use crate::tool::CallTool;
use crate::{Error, Result};

/// How much of a result's text an error quotes.
const QUOTED_CHARS: usize = 200;

/// Typed calls, for every [`CallTool`] (a [`crate::Client`], a [`crate::ToolSet`], a pipeline).
///
/// ```
/// # async fn demo() -> mcp_core::Result<()> {
/// use mcp_core::{CallToolExt, Json, ToolContext, ToolSet, tool};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, schemars::JsonSchema)]
/// struct Sum { a: i64, b: i64 }
/// #[derive(Serialize, Deserialize, schemars::JsonSchema, PartialEq, Debug)]
/// struct Total { total: i64 }
///
/// let mut tools = ToolSet::new();
/// tools.add(tool("add", "Adds two numbers", |s: Sum, _cx: ToolContext| async move {
///     Ok(Json(Total { total: s.a + s.b }))
/// }));
/// let total: Total = tools.call_typed("add", &Sum { a: 2, b: 3 }).await?;
/// assert_eq!(total, Total { total: 5 });
/// # Ok(()) }
/// ```
#[async_trait]
pub trait CallToolExt: CallTool {
    /// Calls `tool` with `arguments` (any value that serialises to a JSON object; `()` and
    /// `None` mean no arguments). A result with `isError` is [`Error::ToolFailed`].
    async fn call_checked<A>(&self, tool: &str, arguments: &A) -> Result<CallToolResult>
    where
        A: Serialize + Sync + ?Sized,
    {
        let arguments = to_arguments(tool, arguments)?;
        let result = self.call_tool(tool, arguments).await?;
        if result.is_error() {
            return Err(Error::ToolFailed { tool: tool.to_owned(), message: result.text_content() });
        }
        Ok(result)
    }

    /// [`call_checked`](Self::call_checked), then the result decoded as `O` by [`decode_result`].
    async fn call_typed<A, O>(&self, tool: &str, arguments: &A) -> Result<O>
    where
        A: Serialize + Sync + ?Sized,
        O: DeserializeOwned,
    {
        let result = self.call_checked(tool, arguments).await?;
        decode_result(tool, &result)
    }
}

impl<C: CallTool + ?Sized> CallToolExt for C {}

/// `arguments` as the `arguments` object of `tools/call`.
pub fn to_arguments<A: Serialize + ?Sized>(tool: &str, arguments: &A) -> Result<JsonObject> {
    match serde_json::to_value(arguments) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(Value::Null) => Ok(JsonObject::new()),
        Ok(other) => Err(Error::Decode {
            tool: tool.to_owned(),
            message: format!("arguments must serialise to a JSON object, not {}", json_kind(&other)),
        }),
        Err(e) => Err(Error::Decode { tool: tool.to_owned(), message: format!("arguments do not serialise: {e}") }),
    }
}

/// A tool's result as `O`: `isError` is [`Error::ToolFailed`] (its text, or else its structured
/// content, quoted in part); then `structuredContent`; else, or when that does not decode (some
/// servers wrap their text in it, as `{"content": "..."}`), the text blocks parsed as JSON
/// (servers of the handshake era, and those that never declare an output schema, put their JSON
/// there); else, for a string-like `O`, the text itself; else, for a result with no text, `null`
/// (so `()` and `Option<T>` decode). What does not fit is [`Error::Decode`] with serde's path to
/// the field.
pub fn decode_result<O: DeserializeOwned>(tool: &str, result: &CallToolResult) -> Result<O> {
    if result.is_error() {
        let mut message = result.text_content();
        if message.trim().is_empty()
            && let Some(structured) = &result.structured_content
        {
            message = structured.to_string();
        }
        return Err(Error::ToolFailed { tool: tool.to_owned(), message: quote(&message) });
    }
    let structured_error = match &result.structured_content {
        Some(structured) => match serde_path_to_error::deserialize::<_, O>(structured.clone()) {
            Ok(decoded) => return Ok(decoded),
            Err(e) => Some(e.to_string()),
        },
        None => None,
    };
    let text = result.text_content();
    let parsed = match serde_json::from_str::<Value>(&text) {
        Ok(value) => serde_path_to_error::deserialize::<_, O>(value).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let text_error = match parsed {
        Ok(decoded) => return Ok(decoded),
        Err(e) => e,
    };
    if let Ok(decoded) = serde_json::from_value::<O>(Value::String(text.clone())) {
        return Ok(decoded);
    }
    if text.trim().is_empty()
        && result.structured_content.is_none()
        && let Ok(decoded) = serde_json::from_value::<O>(Value::Null)
    {
        return Ok(decoded);
    }
    let wanted = std::any::type_name::<O>();
    let message = match structured_error {
        Some(e) => format!("structuredContent does not decode as {wanted}: {e}"),
        None => format!(
            "the result has no structuredContent and its text ({:?}) does not decode as {wanted}: {text_error}",
            quote(&text)
        ),
    };
    Err(Error::Decode { tool: tool.to_owned(), message })
}

/// `text`, cut to [`QUOTED_CHARS`] characters and marked when cut.
fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTED_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

/// What kind of JSON value `value` is, for messages ("not an array").
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Point {
        x: i64,
        y: i64,
    }

    fn text(text: &str) -> CallToolResult {
        CallToolResult::text(text)
    }

    #[test]
    fn structured_content_wins_over_text() {
        let mut result = text("not json");
        result.structured_content = Some(json!({"x": 1, "y": 2}));
        assert_eq!(decode_result::<Point>("t", &result).expect("decodes"), Point { x: 1, y: 2 });
    }

    #[test]
    fn json_text_is_read_when_nothing_is_structured() {
        assert_eq!(decode_result::<Point>("t", &text(r#"{"x": 3, "y": 4}"#)).expect("decodes"), Point { x: 3, y: 4 });
        assert_eq!(decode_result::<Vec<u8>>("t", &text("[1, 2]")).expect("decodes"), vec![1, 2]);
    }

    #[test]
    fn plain_text_decodes_only_as_a_string() {
        assert_eq!(decode_result::<String>("t", &text("hello")).expect("decodes"), "hello");
        // JSON text that is a string is read as JSON, not quoted twice.
        assert_eq!(decode_result::<String>("t", &text(r#""hi""#)).expect("decodes"), "hi");
        let err = decode_result::<Point>("t", &text("hello")).expect_err("an error").to_string();
        assert!(err.contains("tool `t`") && err.contains("\"hello\"") && err.contains("Point"), "{err}");
    }

    #[test]
    fn a_wrong_shape_names_the_field() {
        let mut result = text("");
        result.structured_content = Some(json!({"x": 1, "y": "two"}));
        let err = decode_result::<Point>("t", &result).expect_err("an error").to_string();
        assert!(err.contains("structuredContent") && err.contains("y:"), "{err}");
        let err = decode_result::<Point>("t", &text(r#"{"x": 1, "y": "two"}"#)).expect_err("an error").to_string();
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn structured_content_that_only_wraps_the_text_falls_back_to_the_text() {
        let mut result = text(r#"{"x": 5, "y": 6}"#);
        result.structured_content = Some(json!({"content": "{\"x\": 5, \"y\": 6}"}));
        assert_eq!(decode_result::<Point>("t", &result).expect("decodes"), Point { x: 5, y: 6 });
    }

    #[test]
    fn nothing_decodes_as_unit_or_none() {
        decode_result::<()>("t", &CallToolResult::default()).expect("unit");
        assert_eq!(decode_result::<Option<Point>>("t", &text("")).expect("none"), None);
    }

    #[test]
    fn a_failure_with_only_structured_content_says_what_it_holds_in_part() {
        let mut result = CallToolResult { is_error: Some(true), ..CallToolResult::default() };
        result.structured_content = Some(json!({"reason": "z".repeat(5_000)}));
        match decode_result::<Point>("t", &result) {
            Err(Error::ToolFailed { message, .. }) => {
                assert!(message.contains("reason") && message.chars().count() <= QUOTED_CHARS + 1, "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trailing_text_after_json_is_not_ignored() {
        assert!(decode_result::<Point>("t", &text(r#"{"x": 1, "y": 2} and more"#)).is_err());
    }

    #[test]
    fn is_error_is_an_error_value_with_the_tools_text() {
        let mut result = text("no such file");
        result.is_error = Some(true);
        result.structured_content = Some(json!({"x": 1, "y": 2}));
        match decode_result::<Point>("read", &result) {
            Err(Error::ToolFailed { tool, message }) => {
                assert_eq!((tool.as_str(), message.as_str()), ("read", "no such file"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert!(to_arguments("t", &()).expect("decodes").is_empty());
        assert_eq!(to_arguments("t", &json!({"a": 1})).expect("decodes")["a"], 1);
        let err = to_arguments("t", &[1, 2]).expect_err("an error").to_string();
        assert!(err.contains("not an array"), "{err}");
    }

    #[test]
    fn long_text_is_quoted_only_in_part() {
        let long = "z".repeat(10_000);
        let err = decode_result::<Point>("t", &text(&long)).expect_err("an error").to_string();
        assert!(err.len() < 1_000, "{}", err.len());
    }
}
