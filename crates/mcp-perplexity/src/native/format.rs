//! What the API sends and what the tools answer with: the Agent API's stream events and final
//! response, the Search API's response, and the texts the npm server makes of them. No I/O here.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The final response of an agent run (`response.completed`). Lenient like the API's own
/// clients: unknown fields and item types are ignored, absent or null fields are `None`.
#[derive(Debug, Deserialize)]
pub(crate) struct AgentResponse {
    /// Not used, but checked: a response whose `id` is not a string is not one.
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    pub output: Vec<OutputItem>,
}

/// One item of an agent response's `output`.
#[derive(Debug, Deserialize)]
pub(crate) struct OutputItem {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub content: Option<Vec<ContentPart>>,
    #[serde(default)]
    pub results: Option<Vec<AgentSearchResult>>,
}

/// One part of a `message` item.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// One source of a `search_results` item; `id` is what inline `[n]` references point at.
#[derive(Debug, Deserialize)]
pub(crate) struct AgentSearchResult {
    #[serde(default)]
    pub id: Option<Number>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The Search API's response.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchResponse {
    pub results: Vec<WebResult>,
}

/// One result of the Search API.
#[derive(Debug, Deserialize)]
pub(crate) struct WebResult {
    pub title: String,
    pub url: String,
    #[serde(default)]
    pub snippet: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

/// The answer text: every `output_text` part of every `message` item, joined.
fn agent_text(response: &AgentResponse) -> String {
    response
        .output
        .iter()
        .filter(|item| item.kind == "message")
        .flat_map(|item| item.content.iter().flatten())
        .filter(|part| part.kind == "output_text")
        .filter_map(|part| part.text.as_deref())
        .collect()
}

/// The answer followed by a `Citations:` block with one `[n] url` line per source, numbered by
/// the search results' ids (what the inline references use). When an id is missing, or one id
/// names two URLs, the sources are numbered by position instead, each URL once. The answer text
/// itself is never rewritten.
pub(crate) fn agent_response_text(response: &AgentResponse) -> String {
    let text = agent_text(response);
    let mut entries: Vec<(Option<&Number>, &str)> = Vec::new();
    let mut url_by_id: Vec<(&Number, &str)> = Vec::new();
    let mut ids_usable = true;
    let sources = response.output.iter().filter(|item| item.kind == "search_results");
    for result in sources.flat_map(|item| item.results.iter().flatten()) {
        let Some(url) = result.url.as_deref().filter(|u| !u.is_empty()) else { continue };
        entries.push((result.id.as_ref(), url));
        let Some(id) = &result.id else {
            ids_usable = false;
            continue;
        };
        match url_by_id.iter().find(|(known, _)| same_number(known, id)) {
            None => url_by_id.push((id, url)),
            Some((_, known_url)) if *known_url != url => ids_usable = false,
            Some(_) => {}
        }
    }
    if entries.is_empty() {
        return text;
    }
    let mut output = text + "\n\nCitations:\n";
    if ids_usable {
        let mut emitted: Vec<&Number> = Vec::new();
        for (id, url) in entries {
            let Some(id) = id else { continue };
            if emitted.iter().any(|seen| same_number(seen, id)) {
                continue;
            }
            emitted.push(id);
            output.push_str(&format!("[{}] {url}\n", number_text(id)));
        }
    } else {
        let mut seen: Vec<&str> = Vec::new();
        for (_, url) in entries {
            if seen.contains(&url) {
                continue;
            }
            seen.push(url);
            output.push_str(&format!("[{}] {url}\n", seen.len()));
        }
    }
    output
}

/// Ids compare as numbers (`1` and `1.0` are one id), as they do in JavaScript.
fn same_number(a: &Number, b: &Number) -> bool {
    a == b || a.as_f64() == b.as_f64()
}

/// A number as JavaScript prints it: whole numbers without a fraction.
fn number_text(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// The search results as a model reads them: a count, then per result its rank and title, URL,
/// snippet and date when present.
pub(crate) fn search_results_text(response: &SearchResponse) -> String {
    let mut out = format!("Found {} search results:\n\n", response.results.len());
    for (index, result) in response.results.iter().enumerate() {
        out.push_str(&format!("{}. **{}**\n", index + 1, result.title));
        out.push_str(&format!("   URL: {}\n", result.url));
        if let Some(snippet) = result.snippet.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!("   {snippet}\n"));
        }
        if let Some(date) = result.date.as_deref().filter(|d| !d.is_empty()) {
            out.push_str(&format!("   Date: {date}\n"));
        }
        out.push('\n');
    }
    out
}

/// Reads an agent run's server-sent events line by line, as the npm server does: an `event:`
/// line names the events after it until a blank line; each `data:` line is one JSON event whose
/// own `type` wins over that name; lines that are not JSON (keep-alives) are skipped.
#[derive(Debug, Default)]
pub(crate) struct AgentStream {
    event_name: Option<String>,
    /// The run's id, from any event that carries `response.id` (needed to cancel the run).
    pub response_id: Option<String>,
    /// The `response` of `response.completed`.
    completed: Option<Value>,
    /// Why the run failed, as the stream said.
    failure: Option<String>,
}

/// Where a finished stream leaves the run.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The final response, still to be decoded.
    Completed(Value),
    /// The run failed; the message is the API's.
    Failed(String),
    /// The stream ended without either.
    Incomplete,
}

impl AgentStream {
    /// True once a final response or a failure is in hand: nothing after it matters.
    pub fn finished(&self) -> bool {
        self.completed.is_some() || self.failure.is_some()
    }

    /// Reads one line (without its line end); returns the progress message it implies, if any.
    pub fn line(&mut self, line: &str) -> Option<String> {
        let line = line.trim();
        if line.is_empty() {
            self.event_name = None;
            return None;
        }
        if let Some(name) = line.strip_prefix("event:") {
            self.event_name = Some(name.trim().to_owned());
            return None;
        }
        let data = line.strip_prefix("data:")?.trim();
        if data == "[DONE]" {
            return None;
        }
        let event = match serde_json::from_str::<Value>(data) {
            Ok(Value::Null) | Err(_) => return None,
            Ok(event) => event,
        };
        let fields = event.as_object();
        let kind = match fields.and_then(|f| f.get("type")) {
            Some(Value::String(kind)) => Some(kind.clone()),
            _ => self.event_name.clone(),
        };
        let kind = kind?;
        self.event(&kind, fields)
    }

    fn event(&mut self, kind: &str, fields: Option<&Map<String, Value>>) -> Option<String> {
        let field = |name: &str| fields.and_then(|f| f.get(name));
        match field("response").and_then(|r| r.get("id")) {
            Some(Value::String(id)) if !id.is_empty() => self.response_id = Some(id.clone()),
            Some(Value::Number(id)) => self.response_id = Some(id.to_string()),
            _ => {}
        }
        let message = |value: Option<&Value>| match value {
            Some(Value::String(message)) if !message.is_empty() => Some(message.clone()),
            _ => None,
        };
        match kind {
            "response.completed" => {
                if let Some(response) = field("response") {
                    self.completed = Some(response.clone());
                }
                None
            }
            "response.failed" => {
                let error = field("error").and_then(|e| e.get("message"));
                self.failure = Some(message(error).unwrap_or_else(|| "Agent request failed".into()));
                None
            }
            "response.cancelled" => {
                self.failure = Some("Agent request was cancelled".into());
                None
            }
            "error" => {
                let error = field("error").and_then(|e| e.get("message"));
                let failure = message(error).or_else(|| match field("message") {
                    Some(Value::String(message)) => Some(message.clone()),
                    _ => Some("Agent request failed".into()),
                });
                self.failure = failure;
                None
            }
            "response.reasoning.search_queries" => {
                let queries: Vec<&str> = field("queries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                (!queries.is_empty()).then(|| format!("Searching: {}", queries.join(" | ")))
            }
            "response.reasoning.search_results" => {
                let count = field("results").and_then(Value::as_array).map_or(0, Vec::len);
                (count > 0).then(|| format!("Reading {count} search results"))
            }
            "response.reasoning.fetch_url_queries" => Some("Fetching page content".into()),
            "response.output_item.added" => {
                let is_message = field("item").and_then(|i| i.get("type")).and_then(Value::as_str) == Some("message");
                is_message.then(|| "Writing answer".into())
            }
            _ => None,
        }
    }

    /// How the run ended, once the stream is over (or finished).
    pub fn outcome(self) -> Outcome {
        match (self.failure, self.completed) {
            (Some(failure), _) if !failure.is_empty() => Outcome::Failed(failure),
            (_, Some(response)) if truthy(&response) => Outcome::Completed(response),
            _ => Outcome::Incomplete,
        }
    }
}

/// A final response of `null`, `false`, `0` or `""` is no response.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(value: Value) -> AgentResponse {
        serde_json::from_value(value).expect("a valid response")
    }

    fn check_text(output: Value, expect: &str) {
        assert_eq!(agent_response_text(&response(json!({ "output": output }))), expect);
    }

    #[test]
    fn citations_follow_the_answer_numbered_by_id() {
        check_text(
            json!([
                {"type": "search_results", "results": [
                    {"id": 2, "url": "https://b.example/"},
                    {"id": 1, "url": "https://a.example/", "title": "A"},
                    {"id": 2, "url": "https://b.example/"},
                    {"id": 3, "url": ""},
                ]},
                {"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Austen [1]"},
                    {"type": "reasoning", "text": "hidden"},
                    {"type": "output_text", "text": " wrote it [2]."},
                ]},
            ]),
            "Austen [1] wrote it [2].\n\nCitations:\n[2] https://b.example/\n[1] https://a.example/\n",
        );
    }

    #[test]
    fn sources_are_numbered_by_position_when_ids_do_not_identify_them() {
        let message = json!({"type": "message", "content": [{"type": "output_text", "text": "x"}]});
        check_text(
            json!([message, {"type": "search_results", "results": [
                {"url": "https://a.example/"}, {"id": 7, "url": "https://b.example/"}, {"url": "https://a.example/"},
            ]}]),
            "x\n\nCitations:\n[1] https://a.example/\n[2] https://b.example/\n",
        );
        check_text(
            json!([message, {"type": "search_results", "results": [
                {"id": 1, "url": "https://a.example/"}, {"id": 1, "url": "https://b.example/"},
            ]}]),
            "x\n\nCitations:\n[1] https://a.example/\n[2] https://b.example/\n",
        );
    }

    #[test]
    fn an_answer_without_sources_is_the_text_alone() {
        check_text(json!([{"type": "message", "content": [{"type": "output_text", "text": "plain"}]}]), "plain");
        check_text(json!([{"type": "search_results", "results": [{"id": 1}]}, {"type": "message"}]), "");
        assert_eq!(number_text(&Number::from_f64(3.0).expect("finite")), "3");
        assert_eq!(number_text(&Number::from_f64(2.5).expect("finite")), "2.5");
    }

    #[test]
    fn search_results_are_formatted_for_a_model() {
        let found: SearchResponse = serde_json::from_value(json!({"results": [
            {"title": "Emma", "url": "https://a.example/", "snippet": "A novel.", "date": "1815-12-23", "score": 0.9},
            {"title": "Bare", "url": "https://b.example/", "snippet": ""},
        ]}))
        .expect("valid");
        assert_eq!(
            search_results_text(&found),
            "Found 2 search results:\n\n1. **Emma**\n   URL: https://a.example/\n   A novel.\n   Date: 1815-12-23\n\n\
             2. **Bare**\n   URL: https://b.example/\n\n"
        );
    }

    fn feed(lines: &[&str]) -> (Vec<String>, AgentStream) {
        let mut stream = AgentStream::default();
        let mut progress = Vec::new();
        for line in lines {
            if stream.finished() {
                break;
            }
            progress.extend(stream.line(line));
        }
        (progress, stream)
    }

    #[test]
    fn stream_events_report_progress_and_the_final_response() {
        let (progress, stream) = feed(&[
            ": keep-alive",
            "event: response.created",
            r#"data: {"response": {"id": "run-1", "status": "in_progress"}}"#,
            "",
            r#"data: {"type": "response.reasoning.search_queries", "queries": ["a", 3, "b"]}"#,
            "data: not json",
            r#"data: {"type": "response.reasoning.search_queries", "queries": []}"#,
            r#"data: {"type": "response.reasoning.search_results", "results": [{}, {}]}"#,
            "event: response.reasoning.fetch_url_queries\r",
            "data: {}\r",
            "",
            r#"data: {"type": "response.output_item.added", "item": {"type": "search_results"}}"#,
            r#"data: {"type": "response.output_item.added", "item": {"type": "message"}}"#,
            "data: [DONE]",
            r#"data: {"type": "response.completed", "response": {"id": "run-1", "output": []}}"#,
            r#"data: {"type": "error", "message": "after the end: never read"}"#,
        ]);
        assert_eq!(
            progress,
            ["Searching: a | b", "Reading 2 search results", "Fetching page content", "Writing answer"]
        );
        assert_eq!(stream.response_id.as_deref(), Some("run-1"));
        assert!(matches!(stream.outcome(), Outcome::Completed(r) if r["output"] == json!([])));
    }

    #[test]
    fn failures_in_the_stream_carry_the_apis_message() {
        let outcome = |lines: &[&str]| feed(lines).1.outcome();
        let failed = |o: Outcome| match o {
            Outcome::Failed(message) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(failed(outcome(&[r#"data: {"type": "response.failed", "error": {"message": "quota"}}"#])), "quota");
        assert_eq!(failed(outcome(&[r#"data: {"type": "response.failed"}"#])), "Agent request failed");
        assert_eq!(failed(outcome(&["event: response.cancelled", "data: {}"])), "Agent request was cancelled");
        assert_eq!(failed(outcome(&[r#"data: {"type": "error", "message": "bad preset"}"#])), "bad preset");
        assert!(matches!(outcome(&[r#"data: {"type": "response.in_progress"}"#]), Outcome::Incomplete));
        assert!(matches!(outcome(&[r#"data: {"type": "response.completed", "response": null}"#]), Outcome::Incomplete));
        assert!(matches!(outcome(&[r#"data: {"type": "error", "message": ""}"#]), Outcome::Incomplete));
    }
}
