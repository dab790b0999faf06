//! Helpers shared by the fuzz targets: a runtime and structured JSON built from fuzz input.

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Value};

/// A current-thread runtime with a paused clock, made once per process: timeouts and grace
/// periods pass as soon as every task waits, so one run costs no wall-clock time.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime builds")
    })
}

/// A short string: one of `words` (so the interesting names come up often) or arbitrary text.
pub fn word(u: &mut Unstructured<'_>, words: &[&str]) -> Result<String> {
    if !words.is_empty() && u.ratio(3, 4)? {
        return Ok((*u.choose(words)?).to_owned());
    }
    let len = u.int_in_range(0..=12)?;
    let mut s = String::new();
    for _ in 0..len {
        s.push(u.arbitrary::<char>()?);
    }
    Ok(s)
}

/// A JSON value at most `depth` levels deep, whose object keys and strings are drawn mostly from
/// `words` (the keywords of whatever is being fuzzed).
pub fn json(u: &mut Unstructured<'_>, depth: usize, words: &[&str]) -> Result<Value> {
    let kinds = if depth == 0 { 5 } else { 7 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => match u.int_in_range(0..=2)? {
            0 => Value::from(u.int_in_range(-3i64..=12)?),
            1 => Value::from(u.arbitrary::<i64>()?),
            _ => serde_json::Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
        },
        3 | 4 => Value::String(word(u, words)?),
        5 => {
            let len = u.int_in_range(0..=4)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(json(u, depth - 1, words)?);
            }
            Value::Array(items)
        }
        _ => Value::Object(object(u, depth - 1, words)?),
    })
}

/// A JSON object whose values are at most `depth` levels deep.
pub fn object(u: &mut Unstructured<'_>, depth: usize, words: &[&str]) -> Result<Map<String, Value>> {
    let len = u.int_in_range(0..=5)?;
    let mut map = Map::new();
    for _ in 0..len {
        let key = word(u, words)?;
        map.insert(key, json(u, depth, words)?);
    }
    Ok(map)
}

/// The input as written (`text`: what seeds and regressions use), else built from the bytes;
/// `None` when the bytes run out before a whole input is built.
pub fn input<T>(
    data: &[u8],
    text: impl FnOnce(&[u8]) -> Option<T>,
    built: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Option<T> {
    text(data).or_else(|| built(&mut Unstructured::new(data)).ok())
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

/// Adds the tools both server targets serve: `echo` (`{"text"}`, returns it) and `progress`
/// (reports progress once, then answers).
pub fn add_tools(registry: &mut mcp_core::Registry) {
    use mcp_core::{ToolContext, ToolError, tool};
    registry.tool(tool(
        "echo",
        "returns its text",
        |a: Echo, _cx: ToolContext| async move { Ok::<_, ToolError>(a.text) },
    ));
    registry.tool(tool("progress", "reports progress, then answers", |_: Nothing, cx: ToolContext| async move {
        cx.progress(0.5, Some(1.0), Some("halfway".into())).await;
        Ok::<_, ToolError>(String::from("done"))
    }));
}
