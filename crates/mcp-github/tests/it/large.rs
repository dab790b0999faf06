//! Large answers: results over the byte cap stay whole JSON with their page info, files over
//! 1 MB are read raw, and a pull request's diff is GitHub's own, however many files it has.
//! Against a fake of its own per test (answering as GitHub does, by the `Accept` header), not
//! the shared fixture.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mcp_core::Client;
use serde_json::{Value, json};

use crate::fixture::TOKEN;
use crate::support::{args, native};
use mcp_github::native::GitHubConfig;

/// A request the fake saw: method, path with query, `Accept`.
type Seen = (String, String, String);
type Answer = dyn Fn(&str, &str, &str, &str) -> Response + Send + Sync;

struct Fake {
    seen: Mutex<Vec<Seen>>,
    answer: Box<Answer>,
}

/// A fake GitHub on a port of its own, answering with `answer(method, path, query, accept)`
/// (the path without the Enterprise Server's `/api/v3` or `/api`); its host and what it saw.
async fn fake_github(
    answer: impl Fn(&str, &str, &str, &str) -> Response + Send + Sync + 'static,
) -> (String, Arc<Fake>) {
    async fn handle(State(fake): State<Arc<Fake>>, request: Request) -> Response {
        let method = request.method().as_str().to_owned();
        let accept = request.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        let full = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        fake.seen.lock().expect("not poisoned").push((method.clone(), full, accept.clone()));
        let path = path.strip_prefix("/api/v3").or_else(|| path.strip_prefix("/api")).unwrap_or(&path).to_owned();
        (fake.answer)(&method, &path, &query, &accept)
    }
    let state = Arc::new(Fake { seen: Mutex::new(Vec::new()), answer: Box::new(answer) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let host = format!("http://{}", listener.local_addr().expect("an address"));
    let app = axum::Router::new().fallback(handle).with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (host, state)
}

fn json_reply(body: Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

fn raw_reply(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    response
}

async fn client(host: &str, tweak: impl FnOnce(&mut GitHubConfig)) -> Arc<Client> {
    let mut config = GitHubConfig::new(TOKEN);
    config.host = Some(host.to_owned());
    config.toolsets = vec!["all".into()];
    tweak(&mut config);
    native(config).await
}

/// The text blocks of a call's result, and whether it failed.
async fn call(client: &Arc<Client>, tool: &str, arguments: Value) -> (Vec<String>, bool) {
    let result = client.call_tool(tool, args(arguments)).await.expect("the call completes");
    let texts = result
        .content
        .iter()
        .map(|c| serde_json::to_value(c).expect("json")["text"].as_str().unwrap_or("").to_owned())
        .collect();
    (texts, result.is_error())
}

/// A page of 60 issues with 1,500-byte bodies is over 64 KiB: what is shown is whole JSON, its
/// `pageInfo` (the cursor to page on) and `totalCount` kept, the issues cut from the end, each
/// body whole with its untrusted-text markers, and the note says how to get the rest.
#[tokio::test]
async fn a_page_of_issues_over_the_cap_keeps_its_cursor_and_stays_json() {
    let (host, _fake) = fake_github(|method, path, _, _| {
        assert_eq!((method, path), ("POST", "/graphql"));
        let nodes: Vec<Value> = (1..=60)
            .map(|n| {
                json!({"number": n, "title": format!("issue {n}"), "body": "x".repeat(1500), "state": "OPEN",
                       "databaseId": 1000 + n, "author": {"login": "someone"}, "createdAt": "2026-01-01T00:00:00Z",
                       "updatedAt": "2026-01-01T00:00:00Z", "labels": {"nodes": []}, "assignees": {"nodes": []},
                       "comments": {"totalCount": 0}})
            })
            .collect();
        json_reply(json!({"data": {"repository": {"isPrivate": false, "issues": {
            "nodes": nodes,
            "pageInfo": {"hasNextPage": true, "hasPreviousPage": false, "startCursor": "CURSOR_START",
                         "endCursor": "CURSOR_NEXT"},
            "totalCount": 600}}}}))
    })
    .await;
    let client = client(&host, |_| {}).await;
    let (texts, failed) = call(&client, "list_issues", json!({"owner": "o", "repo": "r", "perPage": 60})).await;
    assert!(!failed, "{texts:?}");
    assert_eq!(texts.len(), 2, "the page and the note");
    assert!(texts[0].len() <= 64 * 1024, "{}", texts[0].len());
    let page: Value = serde_json::from_str(&texts[0]).expect("the page is whole JSON");
    assert_eq!(page["pageInfo"]["endCursor"], "CURSOR_NEXT", "{}", &texts[0][texts[0].len() - 300..]);
    assert_eq!(page["totalCount"], 600);
    let issues = page["issues"].as_array().expect("the issues");
    assert!(issues.len() > 20 && issues.len() < 60, "{}", issues.len());
    for (i, issue) in issues.iter().enumerate() {
        assert_eq!(issue["number"], i + 1, "cut from the end");
        let body = issue["body"].as_str().expect("a body");
        assert!(body.starts_with("[untrusted text by @someone") && body.ends_with("[end of untrusted text]"));
    }
    let kept = issues.len();
    assert!(texts[1].contains(&format!("{kept} of 60 items of `issues` shown")), "{}", texts[1]);
    assert!(texts[1].contains(&format!("perPage={kept}")) && texts[1].contains("endCursor"), "{}", texts[1]);
}

/// A contents answer for a file of 1-100 MB as GitHub gives it: metadata, no content.
fn large_file_metadata(size: usize) -> Value {
    json!({"type": "file", "encoding": "none", "size": size, "name": "big.json", "path": "data/big.json",
           "content": "", "sha": "3f5b2a3c7d1e0a9b8c7d6e5f4a3b2c1d0e9f8a7b", "html_url": "h",
           "download_url": "https://raw.githubusercontent.com/o/r/main/data/big.json?token=RAWSECRET"})
}

/// A file over 1 MB comes from the contents API without its content; it is read raw (the same
/// path, `Accept: application/vnd.github.raw`), never shown as empty; beyond the byte cap it is
/// a tool error that names its size and the cap, and nothing over the cap is read.
#[tokio::test]
async fn files_over_a_megabyte_are_read_raw_within_the_cap() {
    const SIZE: usize = 1_500_000;
    let content: Arc<Vec<u8>> =
        Arc::new(b"{\"k\": \"".iter().chain([b'v'; SIZE - 10].iter()).chain(b"\"}\n").copied().collect());
    assert_eq!(content.len(), SIZE);
    let raw = content.clone();
    let (host, github) = fake_github(move |method, path, query, accept| {
        assert_eq!((method, path, query), ("GET", "/repos/o/r/contents/data/big.json", "ref=main"));
        if accept.contains("application/vnd.github.raw") {
            raw_reply("application/vnd.github.raw", raw.to_vec())
        } else {
            json_reply(large_file_metadata(SIZE))
        }
    })
    .await;
    let arguments = json!({"owner": "o", "repo": "r", "path": "data/big.json", "ref": "main"});

    // A cap above the file's size: its content, read raw.
    let roomy = client(&host, |c| c.max_response_bytes = 2 << 20).await;
    let (texts, failed) = call(&roomy, "get_file_contents", arguments.clone()).await;
    assert!(!failed, "{:?}", texts.iter().map(|t| &t[..t.len().min(300)]).collect::<Vec<_>>());
    let file: Value = serde_json::from_str(&texts[0]).expect("whole JSON");
    assert_eq!(file["content"].as_str().map(str::len), Some(SIZE));
    assert_eq!(file["content"].as_str().map(str::as_bytes), Some(content.as_slice()));
    assert_eq!((file["size"].as_u64(), file["name"].as_str()), (Some(SIZE as u64), Some("big.json")));
    let seen = std::mem::take(&mut *github.seen.lock().expect("not poisoned"));
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].1, "/api/v3/repos/o/r/contents/data/big.json?ref=main");
    assert_eq!(seen[1].2, "application/vnd.github.raw");

    // The default cap (64 KiB): an error naming the size, the cap and where to read it; the
    // download URL's token is not shown, and the raw file is not fetched.
    let capped = client(&host, |_| {}).await;
    let (texts, failed) = call(&capped, "get_file_contents", arguments.clone()).await;
    assert!(failed, "{texts:?}");
    let text = texts.join("\n");
    assert!(text.contains("data/big.json is 1500000 bytes") && text.contains("65536-byte limit"), "{text}");
    assert!(
        text.contains("https://raw.githubusercontent.com/o/r/main/data/big.json") && !text.contains("RAWSECRET"),
        "{text}"
    );
    let seen = std::mem::take(&mut *github.seen.lock().expect("not poisoned"));
    assert_eq!(seen.len(), 1, "only the metadata: {seen:?}");

    // A file whose metadata says less than it is: the raw read stops at the cap.
    let (host, github) = fake_github(move |_, _, _, accept| {
        if accept.contains("application/vnd.github.raw") {
            raw_reply("application/vnd.github.raw", vec![b'a'; 3 << 20])
        } else {
            json_reply(large_file_metadata(1_100_000))
        }
    })
    .await;
    let roomy = client(&host, |c| c.max_response_bytes = 2 << 20).await;
    let (texts, failed) = call(&roomy, "get_file_contents", arguments).await;
    assert!(failed && texts.join("\n").contains("more than 2097152 bytes"), "{texts:?}");
    assert_eq!(github.seen.lock().expect("not poisoned").len(), 2);
}

/// `get_diff` asks GitHub for the pull request's diff (`Accept: application/vnd.github.v3.diff`)
/// and so has every file of a pull request of 150; over the byte cap, the first part is shown
/// cut at a line's end, with a note.
#[tokio::test]
async fn a_pull_requests_diff_is_githubs_own_with_every_file() {
    let file = |i: usize| {
        format!(
            "diff --git a/src/f{i}.rs b/src/f{i}.rs\nindex 1111111..2222222 100644\n--- a/src/f{i}.rs\n+++ \
             b/src/f{i}.rs\n@@ -1 +1 @@\n-old {i}\n+new {i}\n"
        )
    };
    let diff: String = (0..150).map(file).collect::<String>()
        + "diff --git a/old.rs b/renamed.rs\nsimilarity index 100%\nrename from old.rs\nrename to renamed.rs\n";
    let body = diff.clone();
    let (host, github) = fake_github(move |method, path, _, accept| {
        assert_eq!((method, path), ("GET", "/repos/o/r/pulls/5"));
        if accept == "application/vnd.github.v3.diff" {
            raw_reply("application/vnd.github.v3.diff; charset=utf-8", body.clone().into_bytes())
        } else {
            json_reply(json!({"number": 5, "title": "t", "body": "b", "user": {"login": "u"}}))
        }
    })
    .await;
    let arguments = json!({"method": "get_diff", "owner": "o", "repo": "r", "pullNumber": 5});
    let whole = client(&host, |_| {}).await;
    let (texts, failed) = call(&whole, "pull_request_read", arguments.clone()).await;
    assert!(!failed, "{texts:?}");
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0], diff, "the diff as GitHub made it, every file and the rename");
    let seen = std::mem::take(&mut *github.seen.lock().expect("not poisoned"));
    assert_eq!(
        seen,
        [("GET".to_owned(), "/api/v3/repos/o/r/pulls/5".to_owned(), "application/vnd.github.v3.diff".to_owned())]
    );

    let capped = client(&host, |c| c.max_response_bytes = 4096).await;
    let (texts, failed) = call(&capped, "pull_request_read", arguments).await;
    assert!(!failed && texts.len() == 2, "{texts:?}");
    assert!(texts[0].len() <= 4096 && texts[0].ends_with('\n') && diff.starts_with(&texts[0]), "{}", texts[0]);
    let note = &texts[1];
    assert!(note.starts_with(&format!("[cut: the first {} of {} bytes shown", texts[0].len(), diff.len())), "{note}");
    assert!(note.contains("get_files"), "{note}");
}

/// A token in a diff is masked even where the cap cuts it: the diff is read a token's length past
/// the cap and masked before the cut, which so never shows the start of a token (the diff is text
/// the pull request's author wrote, and GitHub's diff of a leaked token holds it).
#[tokio::test]
async fn a_token_the_cap_cuts_through_in_a_diff_is_masked() {
    const CAP: usize = 4096;
    let prefix = format!("diff --git a/k.env b/k.env\n@@ -0,0 +1,2 @@\n+KEY={TOKEN}\n+");
    // The second token starts 10 bytes before the cap, on a line too long to be cut at its end.
    let diff = format!("{prefix}{}{TOKEN}{}\n", "x".repeat(CAP - 10 - prefix.len()), "y".repeat(200));
    assert_eq!(diff.find(&format!("{TOKEN}y")), Some(CAP - 10));
    let (host, _github) = fake_github(move |_, _, _, _| {
        raw_reply("application/vnd.github.v3.diff; charset=utf-8", diff.clone().into_bytes())
    })
    .await;
    let capped = client(&host, |c| c.max_response_bytes = CAP).await;
    let arguments = json!({"method": "get_diff", "owner": "o", "repo": "r", "pullNumber": 5});
    let (texts, failed) = call(&capped, "pull_request_read", arguments).await;
    assert!(!failed && texts.len() == 2, "{texts:?}");
    let shown = &texts[0];
    assert!(shown.len() <= CAP, "{}", shown.len());
    assert!(!shown.contains(&TOKEN[..4]), "part of a token is shown: {shown}");
    assert!(shown.contains("+KEY=***\n+xxx") && shown.contains("x***y"), "both tokens masked: {shown}");
}
