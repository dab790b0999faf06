//! The npm server and the native backend side by side on the same fixture, through the same
//! typed wrappers: the same tools, the same requests to the API, the same answers, citations,
//! search results and progress.

use std::sync::Arc;

use mcp_core::Client;
use mcp_perplexity::{
    Answer, Citation, ContextSize, Message, Perplexity, Recency, SearchQuery, SearchResult, WebSearchOptions,
};
use serde_json::{Value, json};

use crate::fixture::{Fixture, KEY, Recorded, SOURCE_1, SOURCE_2, answer_text};
use crate::support::{both, call_with_progress};

/// `value` without its `description` fields, which each server words its own way.
fn without_descriptions(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "description")
                .map(|(k, v)| (k.clone(), without_descriptions(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_descriptions).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn both_serve_the_same_tools() {
    let fixture = Fixture::start().await;
    let [(_, npm), (_, native)] = both(&fixture, KEY, None).await;
    let theirs = npm.list_tools().await.expect("npm lists its tools");
    let ours = native.list_tools().await.expect("native lists its tools");
    let names = |tools: &[mcp_core::protocol::Tool]| tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&theirs), ["perplexity_ask", "perplexity_research", "perplexity_reason", "perplexity_search"]);
    assert_eq!(names(&theirs), names(&ours));
    for (a, b) in theirs.iter().zip(&ours) {
        assert_eq!(a.title, b.title, "{}", a.name);
        assert_eq!(a.annotations, b.annotations, "{}", a.name);
        assert_eq!(a.execution, b.execution, "{}", a.name);
        let read_only = a.annotations.as_ref().and_then(|h| h.read_only_hint.zip(h.open_world_hint));
        assert_eq!(read_only, Some((true, true)), "{} is read-only and open-world", a.name);
        let schema = |s: &mcp_core::protocol::JsonObject| without_descriptions(&Value::Object(s.clone()));
        assert_eq!(schema(&a.input_schema), schema(&b.input_schema), "input schema of {}", a.name);
        assert_eq!(
            a.output_schema.as_ref().map(schema),
            b.output_schema.as_ref().map(schema),
            "output schema of {}",
            a.name
        );
        assert!(b.description.as_deref().is_some_and(|d| d.len() > 80), "{} is described", b.name);
    }
    assert!(native.instructions().is_some_and(|i| i.contains("perplexity_research")));
    assert!(fixture.take_requests().is_empty(), "listing tools calls no API");
}

/// Everything one backend answers, and every request it made to the API.
#[derive(Debug, PartialEq)]
struct Run {
    ask: Answer,
    reason: Answer,
    research: Answer,
    no_ids: Answer,
    search: Vec<SearchResult>,
    search_text: String,
    wide_search: Vec<SearchResult>,
    requests: Vec<Recorded>,
}

async fn run(fixture: &Fixture, client: Arc<Client>) -> Run {
    let pplx = Perplexity::new(client);
    let filtered = WebSearchOptions {
        search_recency_filter: Some(Recency::Week),
        search_domain_filter: Some(vec!["wikipedia.org".into(), "-reddit.com".into()]),
        search_context_size: Some(ContextSize::High),
    };
    let ask = pplx
        .ask(&[Message::system("Be precise."), Message::user("Who wrote Emma?")], &filtered)
        .await
        .expect("ask answers");
    let context_only = WebSearchOptions { search_context_size: Some(ContextSize::Low), ..Default::default() };
    let reason = pplx
        .reason(
            &[Message::user("Who wrote Emma?"), Message::assistant("Jane Austen."), Message::user("Why 1815?")],
            &context_only,
        )
        .await
        .expect("reason answers");
    let research = pplx.research(&[Message::user("The reception of Emma")]).await.expect("research answers");
    let no_ids = pplx.ask(&[Message::user("Sources [no-ids]")], &WebSearchOptions::default()).await.expect("answers");
    let query = SearchQuery {
        max_results: Some(3),
        max_tokens_per_page: Some(512),
        country: Some("GB".into()),
        search_recency_filter: Some(Recency::Year),
        search_domain_filter: Some(vec!["gutenberg.org".into()]),
        ..SearchQuery::new("Emma novel")
    };
    let found = pplx.search(&query).await.expect("search answers");
    let wide = pplx.search(&SearchQuery { max_results: Some(20), ..SearchQuery::new("") }).await.expect("answers");
    Run {
        ask,
        reason,
        research,
        no_ids,
        search: found.results,
        search_text: found.text,
        wide_search: wide.results,
        requests: fixture.take_requests(),
    }
}

#[tokio::test]
async fn both_send_the_same_requests_and_give_the_same_answers() {
    let fixture = Fixture::start().await;
    let [(_, npm), (_, native)] = both(&fixture, KEY, None).await;
    let theirs = run(&fixture, npm).await;
    let ours = run(&fixture, native).await;
    assert_eq!(theirs, ours);

    // What they agree on is what it should be.
    let cited = vec![Citation { number: 1, url: SOURCE_1.into() }, Citation { number: 2, url: SOURCE_2.into() }];
    assert_eq!(ours.ask.answer, answer_text("fast", "Who wrote Emma?"));
    assert_eq!(ours.ask.citations, cited);
    assert_eq!(ours.ask.response, format!("{}\n\nCitations:\n[1] {SOURCE_1}\n[2] {SOURCE_2}\n", ours.ask.answer));
    assert_eq!(ours.reason.answer, answer_text("medium", "Why 1815?"));
    assert_eq!(ours.reason.citations, cited);
    assert_eq!(ours.research.answer, answer_text("high", "The reception of Emma"));
    assert_eq!(ours.research.citations, cited);
    // Without ids the sources are numbered by position, each URL once.
    assert_eq!(ours.no_ids.citations, cited);
    assert_eq!(
        ours.search,
        [
            SearchResult {
                title: "Emma novel — Wikipedia".into(),
                url: SOURCE_1.into(),
                snippet: Some("Emma is a novel by Jane Austen.".into()),
                date: Some("2024-05-01".into()),
            },
            SearchResult { title: "Project Gutenberg".into(), url: SOURCE_2.into(), snippet: None, date: None },
            SearchResult {
                title: "Notes".into(),
                url: "https://notes.example/emma".into(),
                snippet: Some("Two lines:\nthe second.".into()),
                date: None,
            },
        ]
    );
    assert!(ours.search_text.starts_with("Found 3 search results:\n\n1. **Emma novel — Wikipedia**\n"));

    let bodies: Vec<(&str, &Value)> = ours.requests.iter().map(|r| (r.path.as_str(), &r.body)).collect();
    assert!(ours.requests.iter().all(|r| r.authorized), "every request carries the key as a bearer token");
    assert_eq!(
        bodies,
        [
            (
                "/v1/agent",
                &json!({
                    "preset": "fast",
                    "input": [
                        {"type": "message", "role": "system", "content": "Be precise."},
                        {"type": "message", "role": "user", "content": "Who wrote Emma?"},
                    ],
                    "stream": true,
                    "tools": [{
                        "type": "web_search",
                        "filters": {"search_recency_filter": "week", "search_domain_filter": ["wikipedia.org", "-reddit.com"]},
                        "search_context_size": "high",
                    }],
                })
            ),
            (
                "/v1/agent",
                &json!({
                    "preset": "medium",
                    "input": [
                        {"type": "message", "role": "user", "content": "Who wrote Emma?"},
                        {"type": "message", "role": "assistant", "content": "Jane Austen."},
                        {"type": "message", "role": "user", "content": "Why 1815?"},
                    ],
                    "stream": true,
                    "tools": [{"type": "web_search", "search_context_size": "low"}],
                })
            ),
            (
                "/v1/agent",
                &json!({
                    "preset": "high",
                    "input": [{"type": "message", "role": "user", "content": "The reception of Emma"}],
                    "stream": true,
                })
            ),
            (
                "/v1/agent",
                &json!({
                    "preset": "fast",
                    "input": [{"type": "message", "role": "user", "content": "Sources [no-ids]"}],
                    "stream": true,
                })
            ),
            (
                "/search",
                &json!({
                    "query": "Emma novel", "max_results": 3, "max_tokens_per_page": 512, "country": "GB",
                    "search_recency_filter": "year", "search_domain_filter": ["gutenberg.org"],
                })
            ),
            ("/search", &json!({"query": "", "max_results": 20, "max_tokens_per_page": 1024})),
        ]
    );
    // The fixture has 3 results; 20 were allowed.
    assert_eq!(ours.wide_search.len(), 3);
}

#[tokio::test]
async fn research_reports_progress_while_its_stream_arrives() {
    let fixture = Fixture::start().await;
    let mut seen = Vec::new();
    for (name, client) in both(&fixture, KEY, None).await {
        let arguments = json!({"messages": [{"role": "user", "content": "The reception of Emma"}]});
        let (progress, text, is_error) = call_with_progress(&client, "perplexity_research", arguments).await;
        assert!(!is_error, "{name}: {text}");
        let requests = fixture.take_requests();
        assert_eq!(requests.len(), 1, "{name}: one request");
        assert_eq!(requests[0].body["stream"], json!(true), "{name} asks for a stream");
        seen.push((name, progress, text));
    }
    let (_, npm_progress, npm_text) = &seen[0];
    let (_, native_progress, native_text) = &seen[1];
    assert_eq!(native_text, npm_text);
    assert_eq!(native_progress, npm_progress);
    assert_eq!(
        native_progress,
        &[
            (1.0, "Searching: emma author | emma 1815".to_owned()),
            (2.0, "Reading 3 search results".to_owned()),
            (3.0, "Fetching page content".to_owned()),
            (4.0, "Writing answer".to_owned()),
        ]
    );
    assert!(native_text.starts_with(&answer_text("high", "The reception of Emma")));
}
