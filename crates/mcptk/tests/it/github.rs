//! `mcptk serve github` and the gateway's `native.github`, against a loopback stand-in for
//! GitHub's REST API (no live GitHub runs here; `mcp-github`'s own tests hold the recorded
//! fixture and the side-by-side comparison with GitHub's Go server).

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use mcp_core::{Client, ClientOptions};
use serde_json::json;

use crate::support::mcptk;

const TOKEN: &str = "ghp_cliTEST0123456789abcdefghijklmnopqr";

type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Answers `GET /api/v3/user` (GitHub's documented user object) when the bearer token is
/// [`TOKEN`], 401 otherwise; everything else is 404.
async fn github_api() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let record = record.clone();
        async move {
            let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            record.lock().expect("lock").push((uri.path().to_owned(), auth.clone()));
            if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
                return (StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}).to_string());
            }
            match uri.path() {
                "/api/v3/user" => (
                    StatusCode::OK,
                    json!({"login": "octo-bot", "id": 7, "html_url": "https://github.example/octo-bot", "name": "Octo Bot"})
                        .to_string(),
                ),
                _ => (StatusCode::NOT_FOUND, json!({"message": "Not Found"}).to_string()),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn serve_github_is_a_drop_in_with_the_go_servers_flags_and_variables() {
    let (url, seen) = github_api().await;
    let mut server = mcp_core::config::StdioServer::new(
        mcptk(),
        [
            "serve",
            "github",
            "--read-only",
            "--toolsets",
            "context,issues",
            "--exclude-tools",
            "search_issues",
            "--features",
            "issue_dependencies",
        ],
    );
    server.env.insert("GITHUB_PERSONAL_ACCESS_TOKEN".into(), TOKEN.into());
    server.env.insert("GITHUB_HOST".into(), url);
    let client = Client::spawn("github", &server, ClientOptions::default()).await.expect("starts");
    let mut names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    names.sort();
    // The read-only tools of `context` and `issues`, with the one behind the flag turned on,
    // less the one excluded.
    let expected = [
        "get_me",
        "get_team_members",
        "get_teams",
        "issue_dependency_read",
        "issue_read",
        "list_issue_fields",
        "list_issue_types",
        "list_issues",
    ];
    assert_eq!(names, expected);

    let github = mcp_github::GitHub::new(client);
    let me = github.get_me().await.expect("get_me");
    assert_eq!((me.login.as_str(), me.id), ("octo-bot", 7));
    let missing = github.get_issue("o", "r", 1).await.expect_err("404");
    let text = missing.to_string();
    assert!(text.contains("404") && !text.contains(TOKEN), "{text}");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[0], ("/api/v3/user".to_owned(), Some(format!("Bearer {TOKEN}"))));
}

/// The HTTP client is built at the first call, not at start: reading the system's root
/// certificates costs more than the rest of a start. A system with none still starts and lists
/// the tools; the call then says what is missing.
#[tokio::test]
async fn serve_github_reads_root_certificates_at_its_first_call_not_at_start() {
    let (url, seen) = github_api().await;
    let dir = tempfile::tempdir().expect("temp");
    let mut server = mcp_core::config::StdioServer::new(mcptk(), ["serve", "github", "--toolsets", "context"]);
    server.env.insert("GITHUB_PERSONAL_ACCESS_TOKEN".into(), TOKEN.into());
    server.env.insert("GITHUB_HOST".into(), url);
    // Where rustls looks for root certificates, and nothing there.
    server.env.insert("SSL_CERT_FILE".into(), dir.path().join("none.pem").display().to_string());
    server.env.insert("SSL_CERT_DIR".into(), dir.path().join("none").display().to_string());
    let client = Client::spawn("github", &server, ClientOptions::default()).await.expect("starts without roots");
    let names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    assert!(names.iter().any(|n| n == "get_me"), "{names:?}");
    let result = client.call_tool("get_me", Default::default()).await.expect("an answer");
    let text = serde_json::to_string(&result).expect("json");
    assert!(result.is_error == Some(true), "{text}");
    assert!(text.contains("cannot build the GitHub client") && text.contains("root CA certificates"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(seen.lock().expect("lock").is_empty(), "nothing was sent");
}

#[tokio::test]
async fn serve_github_without_a_token_says_which_variable_is_missing() {
    let output = tokio::process::Command::new(mcptk())
        .args(["serve", "github"])
        .env_remove("GITHUB_PERSONAL_ACCESS_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GITHUB_PERSONAL_ACCESS_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn the_gateway_serves_github_through_its_pipeline_and_masks_a_written_out_token() {
    let (url, seen) = github_api().await;
    let dir = tempfile::tempdir().expect("temp");
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("gateway.json");
    let gateway = json!({
        "native": {"github": {"token": TOKEN, "host": url, "read_only": true}},
        "audit": {"path": audit}
    });
    std::fs::write(&config, gateway.to_string()).expect("config");
    let output = tokio::process::Command::new(mcptk())
        .args(["call", "github", "get_me"])
        .arg("--config")
        .arg(&config)
        .env_remove("GITHUB_PERSONAL_ACCESS_TOKEN")
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("octo-bot"), "{stdout}");
    assert_eq!(seen.lock().expect("lock").len(), 1, "the call reached the API once");
    let records = mcp_audit::read_records(&audit).expect("audit");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].body.server.as_str(), records[0].body.outcome.as_str()), ("github", "ok"));
    let log = std::fs::read_to_string(&audit).expect("audit text");
    assert!(!log.contains(TOKEN) && !stdout.contains(TOKEN) && !stderr.contains(TOKEN), "the token leaked");
}

/// GitHub's Go server (0.12.1, installed into `.tools/py-mcp1` by `cargo xtask setup`).
fn go_server() -> String {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py-mcp1/bin/github-mcp-server");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    bin.display().to_string()
}

#[tokio::test]
async fn the_gateway_fronts_the_native_tools_and_the_go_server_at_once_with_policy_on_read_only_hints() {
    let (url, seen) = github_api().await;
    let dir = tempfile::tempdir().expect("temp");
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("gateway.json");
    let gateway = json!({
        "mcpServers": {
            // Listing its tools asks no API; nothing here calls it.
            "gogithub": {"command": go_server(), "args": ["stdio", "--gh-host", "http://127.0.0.1"],
                         "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PERSONAL_ACCESS_TOKEN}"}}
        },
        "native": {"github": {"host": url}},
        "policy": {"rules": [
            {"name": "github-read", "effect": "allow", "servers": ["github", "gogithub"], "annotations": {"readOnlyHint": true}}
        ], "default": "deny"},
        "audit": {"path": audit}
    });
    std::fs::write(&config, gateway.to_string()).expect("config");
    let mut server = mcp_core::config::StdioServer::new(mcptk(), ["serve", "--config", &config.display().to_string()]);
    server.env.insert("GITHUB_PERSONAL_ACCESS_TOKEN".into(), TOKEN.into());
    server.env.insert("MCPTK_LOG".into(), "warn".into());
    let client = Client::spawn("gateway", &server, ClientOptions::default()).await.expect("the gateway starts");
    let names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    for name in ["github__get_me", "github__issue_read", "gogithub__get_me", "gogithub__get_issue"] {
        assert!(names.contains(&name.to_owned()), "{name} is missing from {names:?}");
    }
    for name in ["github__issue_write", "gogithub__create_issue"] {
        assert!(!names.contains(&name.to_owned()), "{name} is listed though no rule allows it");
    }
    let me = client.call_tool("github__get_me", serde_json::Map::new()).await.expect("a result");
    assert!(!me.is_error() && me.text_content().contains("octo-bot"), "{}", me.text_content());
    let mut write = serde_json::Map::new();
    write.insert("method".into(), json!("create"));
    write.insert("owner".into(), json!("o"));
    write.insert("repo".into(), json!("r"));
    write.insert("title".into(), json!("t"));
    let denied = client.call_tool("github__issue_write", write).await.expect("a result");
    assert!(denied.is_error() && denied.text_content().contains("denied by policy"), "{}", denied.text_content());
    client.close().await.expect("closes");
    assert_eq!(seen.lock().expect("lock").len(), 1, "only get_me reached the API");

    let records = mcp_audit::read_records(&audit).expect("audit");
    let outcomes: Vec<(&str, &str, &str)> =
        records.iter().map(|r| (r.body.server.as_str(), r.body.tool.as_str(), r.body.outcome.as_str())).collect();
    assert_eq!(outcomes, [("github", "get_me", "ok"), ("github", "issue_write", "denied")]);
    let log = std::fs::read_to_string(&audit).expect("audit text");
    assert!(!log.contains(TOKEN), "the token leaked into the audit log");
}
