//! MCP tools as OpenAI function tools: names the API accepts, strict schemas, both wire formats,
//! and tool results turned into what the model reads.

use std::collections::HashMap;

use mcp_core::naming::NameMap;
use mcp_core::protocol::{CallToolResult, Content, Tool};
use serde_json::{Map, Value, json};

use crate::strict::{self, Strict};

/// One MCP tool as the model sees it.
#[derive(Debug, Clone)]
pub struct FunctionTool {
    /// The function name sent to the model: `^[a-zA-Z0-9_-]{1,64}$`, unique in its set.
    pub name: String,
    /// The server the tool belongs to.
    pub server: String,
    /// The tool's own name on that server.
    pub tool: String,
    /// The description sent to the model.
    pub description: String,
    /// The JSON schema sent as `parameters`.
    pub parameters: Map<String, Value>,
    /// Why the schema is sent non-strict, when it is.
    pub not_strict: Option<String>,
    /// The MCP definition.
    pub definition: Tool,
    strict: Option<Strict>,
}

impl FunctionTool {
    /// Converts `definition` (a tool of `server`) to be called as `name`. Strict when the schema
    /// allows it; otherwise non-strict, and the reason is logged and kept in `not_strict`.
    pub fn new(name: String, server: &str, definition: Tool) -> Self {
        let description = definition
            .description
            .clone()
            .or_else(|| definition.title.clone())
            .unwrap_or_else(|| format!("The `{}` tool of `{server}`.", definition.name));
        let (parameters, strict, not_strict) = match strict::convert(&definition.input_schema) {
            Ok(s) => (s.schema.clone(), Some(s), None),
            Err(reason) => {
                tracing::info!(tool = %definition.name, %server, %reason, "sending a non-strict schema");
                let mut schema = definition.input_schema.clone();
                schema.remove("$schema");
                schema.entry("type").or_insert_with(|| json!("object"));
                schema.entry("properties").or_insert_with(|| json!({}));
                (schema, None, Some(reason))
            }
        };
        Self {
            name,
            server: server.to_owned(),
            tool: definition.name.clone(),
            description,
            parameters,
            not_strict,
            definition,
            strict,
        }
    }

    /// True when the schema is sent with `strict: true`.
    pub fn is_strict(&self) -> bool {
        self.strict.is_some()
    }

    /// The Chat Completions form: `{"type":"function","function":{...}}`.
    pub fn chat_json(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
                "strict": self.is_strict(),
            }
        })
    }

    /// The Responses form: `{"type":"function", name, ...}`.
    pub fn responses_json(&self) -> Value {
        json!({
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.is_strict(),
        })
    }

    /// The model's argument string as the tool's arguments: parsed, and the nulls strict mode
    /// made the model send for omitted optional parameters removed.
    pub fn arguments(&self, raw: &str) -> Result<Map<String, Value>, String> {
        let raw = if raw.trim().is_empty() { "{}" } else { raw };
        let mut arguments = match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(format!("the arguments must be a JSON object, not {}", mcp_core::typed::json_kind(&other)));
            }
            Err(e) => return Err(format!("the arguments are not valid JSON ({e})")),
        };
        if let Some(strict) = &self.strict {
            strict.restore(&mut arguments);
        }
        Ok(arguments)
    }
}

/// The function tools of one or more servers, with names mapped both ways.
#[derive(Debug, Clone, Default)]
pub struct FunctionTools {
    tools: Vec<FunctionTool>,
    by_name: HashMap<String, usize>,
}

impl FunctionTools {
    /// Converts the tools of every server. With one server, names stay as they are (made valid
    /// when they are not); with several, each is `server__tool`. Either way names never collide
    /// and map back exactly.
    pub fn new(servers: &[(String, Vec<Tool>)]) -> Self {
        let mut names = NameMap::new();
        let bare = servers.len() == 1;
        let mut tools = Vec::new();
        for (server, definitions) in servers {
            for definition in definitions {
                let name = if bare {
                    names.expose_bare(server, &definition.name)
                } else {
                    names.expose(server, &definition.name)
                };
                tools.push(FunctionTool::new(name, server, definition.clone()));
            }
        }
        let by_name = tools.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Self { tools, by_name }
    }

    /// The tool the model called by `name`.
    pub fn get(&self, name: &str) -> Option<&FunctionTool> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// Every tool.
    pub fn iter(&self) -> impl Iterator<Item = &FunctionTool> {
        self.tools.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The `tools` array for Chat Completions.
    pub fn chat_json(&self) -> Vec<Value> {
        self.tools.iter().map(FunctionTool::chat_json).collect()
    }

    /// The `tools` array for Responses.
    pub fn responses_json(&self) -> Vec<Value> {
        self.tools.iter().map(FunctionTool::responses_json).collect()
    }
}

/// A tool's outcome as the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The text.
    pub text: String,
    /// Images, as `data:` URLs.
    pub images: Vec<String>,
    /// True when the tool failed (the text says how).
    pub is_error: bool,
}

/// The most text of one tool output the model is sent, in bytes (about 25k tokens): a larger
/// result is cut, saying so, rather than sent whole to an endpoint that would refuse the turn
/// (and end the run) for exceeding the model's context.
pub const MAX_OUTPUT_TEXT: usize = 100_000;

/// The most image data (as `data:` URLs) of one tool output the model is sent, in bytes.
pub const MAX_OUTPUT_IMAGES: usize = 8 << 20;

/// Cuts `text` to [`MAX_OUTPUT_TEXT`] (at a character boundary) and drops images past
/// [`MAX_OUTPUT_IMAGES`], each time telling the model what it did not get.
fn cap(text: &mut String, images: &mut Vec<String>) {
    if text.len() > MAX_OUTPUT_TEXT {
        let total = text.len();
        let end = crate::char_floor(text, MAX_OUTPUT_TEXT);
        text.truncate(end);
        text.push_str(&format!(
            "\n[output cut here: {end} of its {total} bytes are shown; ask the tool for less, e.g. a part or a range]"
        ));
    }
    let mut room = MAX_OUTPUT_IMAGES;
    let before = images.len();
    images.retain(|image| match room.checked_sub(image.len()) {
        Some(left) => {
            room = left;
            true
        }
        None => {
            room = 0;
            false
        }
    });
    if images.len() < before {
        text.push_str(&format!("\n[{} of {before} images not shown: too large]", before - images.len()));
    }
}

impl ToolOutput {
    /// A failure that never reached a result (denied, timed out, server gone, bad arguments).
    pub fn failed(tool: &str, reason: impl std::fmt::Display) -> Self {
        Self { text: format!("Error: the call of `{tool}` failed: {reason}"), images: Vec::new(), is_error: true }
    }

    /// A result: text blocks joined, images as data URLs, embedded resources inlined, and
    /// `structuredContent` as JSON when `structured` is asked for (or when there is no text).
    pub fn from_result(result: &CallToolResult, structured: bool) -> Self {
        let mut parts = Vec::new();
        let mut images = Vec::new();
        for block in &result.content {
            match block {
                Content::Text(t) => parts.push(t.text.clone()),
                Content::Image(image) => images.push(format!("data:{};base64,{}", image.mime_type, image.data)),
                Content::Audio(audio) => parts.push(format!("[audio ({}) not shown]", audio.mime_type)),
                Content::ResourceLink(link) => parts.push(format!("[resource {} ({})]", link.name, link.uri)),
                Content::Resource(embedded) => {
                    let r = &embedded.resource;
                    match (&r.text, &r.mime_type) {
                        (Some(text), _) => parts.push(format!("[resource {}]\n{text}", r.uri)),
                        (None, Some(mime)) if mime.starts_with("image/") => {
                            images.push(format!("data:{mime};base64,{}", r.blob.as_deref().unwrap_or_default()));
                        }
                        (None, mime) => parts.push(format!(
                            "[resource {} ({}) not shown]",
                            r.uri,
                            mime.as_deref().unwrap_or("binary")
                        )),
                    }
                }
                // A kind of block newer than this crate: say it is there rather than drop it silently.
                _ => parts.push("[content of a kind this client does not know, not shown]".to_owned()),
            }
        }
        if let Some(value) = &result.structured_content {
            let json = value.to_string();
            if parts.is_empty() || (structured && !parts.contains(&json)) {
                parts.push(json);
            }
        }
        let is_error = result.is_error();
        let mut text = parts.join("\n");
        cap(&mut text, &mut images);
        if is_error {
            text = format!("Error: {}", if text.is_empty() { "the tool failed without a message" } else { &text });
        } else if text.is_empty() && images.is_empty() {
            text = "(no output)".to_owned();
        }
        Self { text, images, is_error }
    }

    /// The Responses `output` of a `function_call_output`: a string, or a list of parts when
    /// there are images.
    pub fn responses_output(&self) -> Value {
        if self.images.is_empty() {
            return Value::String(self.text.clone());
        }
        let mut parts = vec![json!({"type": "input_text", "text": self.text})];
        parts.extend(self.images.iter().map(|url| json!({"type": "input_image", "image_url": url})));
        Value::Array(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_output_is_cut_and_says_so() {
        // Three-byte characters, so the cut falls inside one and must move to a boundary.
        let big = "€".repeat(MAX_OUTPUT_TEXT);
        let result = CallToolResult::text(big.clone());
        let output = ToolOutput::from_result(&result, false);
        assert!(output.text.len() < MAX_OUTPUT_TEXT + 200, "{}", output.text.len());
        assert!(output.text.ends_with("ask the tool for less, e.g. a part or a range]"));
        assert!(output.text.contains(&format!("of its {} bytes are shown", big.len())));
        let small = ToolOutput::from_result(&CallToolResult::text("fine"), false);
        assert_eq!(small.text, "fine");

        let mut images = vec!["x".repeat(MAX_OUTPUT_IMAGES / 2), "y".repeat(MAX_OUTPUT_IMAGES), "z".repeat(10)];
        let mut text = String::new();
        cap(&mut text, &mut images);
        assert_eq!(images.len(), 1, "images past the budget are dropped");
        assert!(text.contains("2 of 3 images not shown"), "{text}");
    }
}
