//! Typed calls to the Perplexity tools, by their real names and argument names.

use mcp_core::{CallTool, CallToolExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, tools};

/// Typed access to a Perplexity MCP server: the npm server through a [`mcp_core::Client`], or the
/// native tools (`native::PerplexityServer`) through a [`mcp_core::ToolSet`] or a client of them.
///
/// ```no_run
/// # async fn demo(tools: mcp_core::ToolSet) -> mcp_perplexity::Result<()> {
/// use mcp_perplexity::{Message, Perplexity};
/// let pplx = Perplexity::new(tools);
/// let report = pplx.research(&[Message::user("The history of the metric system")]).await?;
/// println!("{}\n{} sources", report.answer, report.citations.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Perplexity<C> {
    caller: C,
}

/// Who said a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person asking.
    User,
    /// An earlier answer.
    Assistant,
}

/// One message of the conversation the ask, reason and research tools answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// How recent the web sources must be (`search_recency_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Recency {
    /// The last hour.
    Hour,
    /// The last day.
    Day,
    /// The last week.
    Week,
    /// The last month.
    Month,
    /// The last year.
    Year,
}

/// How much web context the answer draws on (`search_context_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContextSize {
    /// Fastest.
    Low,
    /// Between the two.
    Medium,
    /// The most sources.
    High,
}

/// The web-search settings `perplexity_ask` and `perplexity_reason` accept; all optional (the
/// preset's own settings apply to what is left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebSearchOptions {
    /// Only sources this recent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_recency_filter: Option<Recency>,
    /// Only these domains (`wikipedia.org`), or not these (`-reddit.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_domain_filter: Option<Vec<String>>,
    /// How much web context to retrieve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_context_size: Option<ContextSize>,
}

/// The arguments of `perplexity_search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SearchQuery {
    /// What to search for.
    pub query: String,
    /// At most this many results, 1 to 20 (the server's default is 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
    /// At most this many tokens extracted per page, 256 to 2048 (the server's default is 1024).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_page: Option<u32>,
    /// ISO 3166-1 alpha-2 country code for regional results (`US`, `GB`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Only results this recent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_recency_filter: Option<Recency>,
    /// Only these domains, or not these (`-` prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_domain_filter: Option<Vec<String>>,
}

impl SearchQuery {
    /// A search for `query` with the server's defaults.
    pub fn new(query: impl Into<String>) -> Self {
        Self { query: query.into(), ..Self::default() }
    }
}

/// An answer of `perplexity_ask`, `perplexity_reason` or `perplexity_research`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The whole response as the server gives it: the answer, then a `Citations:` block.
    pub response: String,
    /// The answer alone (its inline `[n]` references left as they are).
    pub answer: String,
    /// The sources the `[n]` references point at, in the order listed.
    pub citations: Vec<Citation>,
}

/// One source of an [`Answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citation {
    /// The number inline references use (`[1]`).
    pub number: u32,
    /// The source's URL.
    pub url: String,
}

/// What `perplexity_search` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResults {
    /// The results as the server formats them for a model.
    pub text: String,
    /// The same results, one by one, in rank order.
    pub results: Vec<SearchResult>,
}

/// One result of `perplexity_search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    /// The page's title.
    pub title: String,
    /// The page's URL.
    pub url: String,
    /// An extract of the page, when there is one.
    pub snippet: Option<String>,
    /// The page's date, when known.
    pub date: Option<String>,
}

/// The arguments of the ask and reason tools.
#[derive(Serialize)]
struct AgentArgs<'a> {
    messages: &'a [Message],
    #[serde(flatten)]
    options: &'a WebSearchOptions,
}

/// The arguments of the research tool.
#[derive(Serialize)]
struct ResearchArgs<'a> {
    messages: &'a [Message],
}

/// `structuredContent` of the agent tools (`{"response": ...}`), or their text alone from a
/// server that sends no structured content.
#[derive(Deserialize)]
#[serde(untagged)]
enum ResponseOutput {
    Structured { response: String },
    Text(String),
}

/// `structuredContent` of `perplexity_search` (`{"results": ...}`), or its text alone.
#[derive(Deserialize)]
#[serde(untagged)]
enum ResultsOutput {
    Structured { results: String },
    Text(String),
}

impl<C: CallTool> Perplexity<C> {
    /// Wraps a connection to a Perplexity server (or the native tools).
    pub fn new(caller: C) -> Self {
        Self { caller }
    }

    /// The wrapped caller.
    pub fn inner(&self) -> &C {
        &self.caller
    }

    /// `perplexity_ask`: a quick web-grounded answer with numbered citations.
    pub async fn ask(&self, messages: &[Message], options: &WebSearchOptions) -> Result<Answer> {
        self.answer(tools::ASK, &AgentArgs { messages, options }).await
    }

    /// `perplexity_reason`: a step-by-step, web-grounded analysis with numbered citations.
    pub async fn reason(&self, messages: &[Message], options: &WebSearchOptions) -> Result<Answer> {
        self.answer(tools::REASON, &AgentArgs { messages, options }).await
    }

    /// `perplexity_research`: deep multi-source research (slow: minutes). The server reports
    /// progress while it runs; call the tool through [`mcp_core::Client::call_tool_stream`] to
    /// see it.
    pub async fn research(&self, messages: &[Message]) -> Result<Answer> {
        self.answer(tools::RESEARCH, &ResearchArgs { messages }).await
    }

    /// `perplexity_search`: ranked web results (title, URL, snippet, date), no synthesis.
    pub async fn search(&self, query: &SearchQuery) -> Result<SearchResults> {
        let text = match self.caller.call_typed(tools::SEARCH, query).await? {
            ResultsOutput::Structured { results } | ResultsOutput::Text(results) => results,
        };
        let results = parse_search_results(&text)
            .map_err(|message| Error::UnexpectedResult { tool: tools::SEARCH.to_owned(), message })?;
        Ok(SearchResults { text, results })
    }

    async fn answer<A: Serialize + Sync>(&self, tool: &str, arguments: &A) -> Result<Answer> {
        let response = match self.caller.call_typed(tool, arguments).await? {
            ResponseOutput::Structured { response } | ResponseOutput::Text(response) => response,
        };
        Ok(parse_answer(response))
    }
}

/// Where the servers put the citations: after the answer, one `[n] url` line each.
const CITATIONS: &str = "\n\nCitations:\n";

/// Splits a response into the answer and its citations block. Text that only looks like a
/// citations block (a line that is not `[n] url`) stays part of the answer.
fn parse_answer(response: String) -> Answer {
    let split = response.rfind(CITATIONS).and_then(|at| {
        let block = &response[at + CITATIONS.len()..];
        let citations: Option<Vec<Citation>> = block.strip_suffix('\n')?.split('\n').map(parse_citation).collect();
        Some((at, citations?))
    });
    match split {
        Some((at, citations)) => Answer { answer: response[..at].to_owned(), citations, response },
        None => Answer { answer: response.clone(), citations: Vec::new(), response },
    }
}

/// One `[n] url` line.
fn parse_citation(line: &str) -> Option<Citation> {
    let (number, url) = line.strip_prefix('[')?.split_once("] ")?;
    let number = number.parse().ok()?;
    (!url.is_empty()).then(|| Citation { number, url: url.to_owned() })
}

/// The results out of the text `perplexity_search` gives: a `Found N search results:` line, then
/// per result `i. **title**`, `   URL: url`, an optional snippet, an optional `   Date: date`,
/// and a blank line.
fn parse_search_results(text: &str) -> Result<Vec<SearchResult>, String> {
    if text == "No search results found." {
        return Ok(Vec::new());
    }
    let quoted = || text.chars().take(80).collect::<String>();
    let (count, mut rest) = text
        .strip_prefix("Found ")
        .and_then(|t| t.split_once(" search results:\n\n"))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
        .ok_or_else(|| format!("the text does not start with `Found N search results:`: {:?}", quoted()))?;
    let mut results = Vec::with_capacity(count.min(100));
    for number in 1..=count {
        let head = format!("{number}. **");
        let body = rest.strip_prefix(&head).ok_or_else(|| format!("result {number} is missing"))?;
        // A result ends where the next begins; the last one at the blank line that ends the text.
        let (block, after) = if number < count {
            let next = format!("\n\n{}. **", number + 1);
            let end = body.find(&next).ok_or_else(|| format!("result {} is missing", number + 1))?;
            (&body[..=end], &body[end + 2..])
        } else {
            (body.strip_suffix('\n').ok_or_else(|| format!("result {number} is not terminated"))?, "")
        };
        results.push(parse_search_result(block).ok_or_else(|| format!("result {number} is malformed"))?);
        rest = after;
    }
    Ok(results)
}

/// One result after its `i. **`, up to and including its last line's `\n`.
fn parse_search_result(block: &str) -> Option<SearchResult> {
    const URL: &str = "**\n   URL: ";
    let (title, rest) = block.split_once(URL)?;
    let (url, mut rest) = rest.split_once('\n')?;
    let mut date = None;
    let last_line_start = rest.strip_suffix('\n').map_or(0, |r| r.rfind('\n').map_or(0, |i| i + 1));
    if let Some(value) = rest[last_line_start..].strip_prefix("   Date: ") {
        date = Some(value.strip_suffix('\n').unwrap_or(value).to_owned());
        rest = &rest[..last_line_start];
    }
    let snippet = rest.strip_prefix("   ").map(|s| s.strip_suffix('\n').unwrap_or(s).to_owned());
    if snippet.is_none() && !rest.is_empty() {
        return None;
    }
    Some(SearchResult { title: title.to_owned(), url: url.to_owned(), snippet, date })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_answer(response: &str, answer: &str, citations: &[(u32, &str)]) {
        let parsed = parse_answer(response.to_owned());
        assert_eq!(parsed.response, response);
        assert_eq!(parsed.answer, answer);
        let got: Vec<(u32, &str)> = parsed.citations.iter().map(|c| (c.number, c.url.as_str())).collect();
        assert_eq!(got, citations);
    }

    #[test]
    fn answers_split_from_their_citations() {
        check_answer(
            "Emma is by Austen [1][2].\n\nCitations:\n[1] https://a.example/\n[2] https://b.example/x\n",
            "Emma is by Austen [1][2].",
            &[(1, "https://a.example/"), (2, "https://b.example/x")],
        );
        check_answer("No sources.", "No sources.", &[]);
        check_answer("\n\nCitations:\n[3] https://c.example/\n", "", &[(3, "https://c.example/")]);
        // The last block counts; an earlier one is part of the answer.
        check_answer("A\n\nCitations:\n[1] u\n\nB\n\nCitations:\n[1] v\n", "A\n\nCitations:\n[1] u\n\nB", &[(1, "v")]);
    }

    #[test]
    fn text_that_only_looks_like_citations_stays_in_the_answer() {
        for text in [
            "x\n\nCitations:\nnot a citation\n",
            "x\n\nCitations:\n[1] https://a.example/",
            "x\n\nCitations:\n[one] https://a.example/\n",
            "x\n\nCitations:\n[1] \n",
        ] {
            check_answer(text, text, &[]);
        }
    }

    fn result(title: &str, url: &str, snippet: Option<&str>, date: Option<&str>) -> SearchResult {
        SearchResult {
            title: title.into(),
            url: url.into(),
            snippet: snippet.map(Into::into),
            date: date.map(Into::into),
        }
    }

    #[test]
    fn search_results_are_read_back() {
        let text = "Found 3 search results:\n\n\
            1. **Emma**\n   URL: https://a.example/\n   A novel.\n   Date: 1815-12-23\n\n\
            2. **Bare**\n   URL: https://b.example/\n\n\
            3. **Two\nlines**\n   URL: https://c.example/\n   first\nsecond\n\n";
        assert_eq!(
            parse_search_results(text).expect("parses"),
            [
                result("Emma", "https://a.example/", Some("A novel."), Some("1815-12-23")),
                result("Bare", "https://b.example/", None, None),
                result("Two\nlines", "https://c.example/", Some("first\nsecond"), None),
            ]
        );
        let dated = "Found 1 search results:\n\n1. **T**\n   URL: u\n   Date: 2024\n\n";
        assert_eq!(parse_search_results(dated).expect("parses"), [result("T", "u", None, Some("2024"))]);
        assert_eq!(parse_search_results("No search results found.").expect("parses"), []);
        assert_eq!(parse_search_results("Found 0 search results:\n\n").expect("parses"), []);
    }

    #[test]
    fn search_text_of_another_shape_is_an_error_naming_the_result() {
        let err = parse_search_results("Here are some links").expect_err("refused");
        assert!(err.contains("Found N search results"), "{err}");
        let err = parse_search_results("Found 2 search results:\n\n1. **T**\n   URL: u\n\n").expect_err("refused");
        assert!(err.contains("result 2"), "{err}");
        let err = parse_search_results("Found 1 search results:\n\n1. **T** no url\n\n").expect_err("refused");
        assert!(err.contains("result 1 is malformed"), "{err}");
    }

    #[test]
    fn arguments_serialise_as_the_tools_name_them() {
        let messages = [Message::system("Be brief."), Message::user("Hi")];
        let options = WebSearchOptions {
            search_recency_filter: Some(Recency::Week),
            search_domain_filter: Some(vec!["-reddit.com".into()]),
            search_context_size: Some(ContextSize::High),
        };
        assert_eq!(
            serde_json::to_value(AgentArgs { messages: &messages, options: &options }).expect("serialises"),
            serde_json::json!({
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "search_recency_filter": "week",
                "search_domain_filter": ["-reddit.com"],
                "search_context_size": "high",
            })
        );
        let bare = AgentArgs { messages: &messages[1..], options: &WebSearchOptions::default() };
        assert_eq!(
            serde_json::to_value(bare).expect("serialises"),
            serde_json::json!({"messages": [{"role": "user", "content": "Hi"}]})
        );
        let query = SearchQuery { max_results: Some(3), country: Some("GB".into()), ..SearchQuery::new("q") };
        assert_eq!(
            serde_json::to_value(query).expect("serialises"),
            serde_json::json!({"query": "q", "max_results": 3, "country": "GB"})
        );
    }
}
