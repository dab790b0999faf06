//! `mcptk serve perplexity` and the gateway's `native.perplexity`, against a loopback stand-in for
//! Perplexity's Search API (no live API runs here; `mcp-perplexity`'s own tests hold the full
//! fixture and the side-by-side comparison with the npm server).

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use mcp_core::{Client, ClientOptions};
use serde_json::{Value, json};

use crate::support::mcptk;

const KEY: &str = "pplx-test-key-0123456789";

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// Answers `POST /search` with one result when the bearer token is [`KEY`], 401 otherwise. The
/// result's snippet echoes the `Authorization` header, as a careless or hostile API might: the key
/// must not reach the caller.
async fn search_api() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/search",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body: Value = serde_json::from_str(&body).unwrap_or_default();
                record.lock().expect("lock").push((auth.clone(), body.clone()));
                if auth.as_deref() != Some(&format!("Bearer {KEY}")) {
                    return (StatusCode::UNAUTHORIZED, r#"{"error":{"message":"bad key"}}"#.to_owned());
                }
                let answer = json!({"id": "s1", "query": body["query"], "results": [
                    {"title": "Emma (novel)", "url": "https://en.example/emma",
                     "snippet": format!("A novel by Jane Austen. Asked with: {}", auth.unwrap_or_default()), "date": "1815-12-23"}
                ]});
                (StatusCode::OK, answer.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn serve_perplexity_is_a_drop_in_configured_by_the_npm_servers_variables() {
    let (url, seen) = search_api().await;
    let mut server = mcp_core::config::StdioServer::new(mcptk(), ["serve", "perplexity"]);
    server.env.insert("PERPLEXITY_API_KEY".into(), KEY.into());
    server.env.insert("PERPLEXITY_BASE_URL".into(), url);
    let client = Client::spawn("perplexity", &server, ClientOptions::default()).await.expect("starts");
    let mut names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    names.sort();
    assert_eq!(names, ["perplexity_ask", "perplexity_reason", "perplexity_research", "perplexity_search"]);

    let perplexity = mcp_perplexity::Perplexity::new(client);
    let mut query = mcp_perplexity::SearchQuery::new("emma");
    query.max_results = Some(1);
    let found = perplexity.search(&query).await.expect("search");
    assert_eq!(found.results.len(), 1, "{}", found.text);
    assert_eq!(found.results[0].url, "https://en.example/emma");
    assert!(found.text.contains("Asked with: Bearer"), "the echo came back: {}", found.text);
    assert!(!found.text.contains(KEY), "the key came back to the caller: {}", found.text);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(seen[0].1["query"], "emma");
}

#[tokio::test]
async fn serve_perplexity_without_a_key_says_which_variable_is_missing() {
    let output = tokio::process::Command::new(mcptk())
        .args(["serve", "perplexity"])
        .env_remove("PERPLEXITY_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PERPLEXITY_API_KEY"), "{stderr}");
}

#[tokio::test]
async fn the_gateway_serves_perplexity_through_its_pipeline_and_masks_a_written_out_key() {
    let (url, seen) = search_api().await;
    let dir = tempfile::tempdir().expect("temp");
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("gateway.json");
    let gateway = json!({
        "native": {"perplexity": {"api_key": KEY, "base_url": url}},
        "audit": {"path": audit}
    });
    std::fs::write(&config, gateway.to_string()).expect("config");
    let output = tokio::process::Command::new(mcptk())
        .args(["call", "perplexity", "perplexity_search", "--args", r#"{"query": "emma", "max_results": 1}"#])
        .arg("--config")
        .arg(&config)
        .env_remove("PERPLEXITY_API_KEY")
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("https://en.example/emma") && stdout.contains("Asked with: Bearer"), "{stdout}");
    assert_eq!(seen.lock().expect("lock").len(), 1, "the call reached the API once");
    let records = mcp_audit::read_records(&audit).expect("audit");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].body.server.as_str(), records[0].body.outcome.as_str()), ("perplexity", "ok"));
    let log = std::fs::read_to_string(&audit).expect("audit text");
    assert!(!log.contains(KEY) && !stdout.contains(KEY) && !stderr.contains(KEY), "the key leaked");
}
