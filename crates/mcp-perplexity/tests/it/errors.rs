//! Failures, on both backends where both can be driven there: HTTP errors, a failed stream, a
//! wrong key, timeouts and cancellation (which also stop the run at the API), an unreachable
//! API; and, on the native backend, what the npm server does not guard: a key the API echoes,
//! an answer over the size limit, and the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_core::Client;
use mcp_perplexity::{Message, Perplexity, SearchQuery, WebSearchOptions};
use serde_json::json;

use crate::fixture::{Fixture, KEY, masked};
use crate::support::{both, config, native};

/// The text of the tool failure `outcome` must be; shown with the fixture's key masked.
fn tool_failure<T: std::fmt::Debug>(outcome: mcp_perplexity::Result<T>) -> String {
    match outcome {
        Err(mcp_perplexity::Error::Mcp(mcp_core::Error::ToolFailed { message, .. })) => message,
        other => panic!("expected a tool failure, got {}", masked(&format!("{other:?}"))),
    }
}

async fn ask(client: &Arc<Client>, question: &str) -> String {
    let pplx = Perplexity::new(client.clone());
    tool_failure(pplx.ask(&[Message::user(question)], &WebSearchOptions::default()).await)
}

async fn research(client: &Arc<Client>, question: &str) -> String {
    tool_failure(Perplexity::new(client.clone()).research(&[Message::user(question)]).await)
}

async fn search(client: &Arc<Client>, query: &str) -> String {
    tool_failure(Perplexity::new(client.clone()).search(&SearchQuery::new(query)).await)
}

#[tokio::test]
async fn api_errors_are_reported_alike() {
    let fixture = Fixture::start().await;
    let mut seen = Vec::new();
    for (name, client) in both(&fixture, KEY, None).await {
        let failures = [
            ask(&client, "Who? [fail-500]").await,
            ask(&client, "Who? [fail-429]").await,
            research(&client, "Why? [stream-error]").await,
            search(&client, "what [fail-500]").await,
        ];
        seen.push((name, failures));
    }
    let (_, npm) = &seen[0];
    let (_, ours) = &seen[1];
    assert_eq!(ours, npm);
    assert_eq!(ours[0], "Perplexity API error: 500 Internal Server Error\nupstream exploded");
    assert!(ours[1].starts_with("Perplexity API error: 429 Too Many Requests\n"), "{}", ours[1]);
    assert!(ours[1].contains("Rate limit exceeded: retry in 20 seconds"), "{}", ours[1]);
    assert_eq!(ours[2], "Perplexity API error: the model is overloaded");
    assert_eq!(ours[3], "Perplexity API error: 500 Internal Server Error\nupstream exploded");
}

/// What `tracing` writes while it is captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_401_and_no_key_shows_anywhere() {
    const WRONG: &str = "pplx-wrong-7e3d0a91c5b24f68-SECRET";
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runs on one thread, and so do the native server's tasks: they log here.
    let _logging = tracing::subscriber::set_default(subscriber);
    // While only one dispatcher exists, tracing-core decides whether a log statement is wanted
    // when it first runs, by the subscriber of the thread it runs on: one first reached by a test
    // on another thread would stay off here too. A second dispatcher makes it ask this one again.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let fixture = Fixture::start().await;
    let mut seen = Vec::new();
    for (name, client) in both(&fixture, WRONG, None).await {
        let failures = [ask(&client, "Who wrote Emma?").await, search(&client, "Emma").await];
        for failure in &failures {
            assert!(failure.starts_with("Perplexity API error: 401 Unauthorized\n"), "{name}: {}", masked(failure));
            assert!(failure.contains("Invalid API key provided"), "{name} passes the API's message on");
            assert!(!failure.contains(WRONG) && !failure.contains(KEY), "{name} shows no key");
        }
        let requests = fixture.take_requests();
        assert_eq!(requests.len(), 2, "{name}: no retries with a refused key");
        assert!(requests.iter().all(|r| !r.authorized));
        seen.push(failures);
    }
    assert_eq!(seen[0], seen[1]);

    let logs = String::from_utf8_lossy(&logs.0.lock().expect("not poisoned")).into_owned();
    assert!(logs.contains("perplexity api answered"), "the native calls were logged");
    assert!(!logs.contains(WRONG) && !logs.contains(KEY), "no key in the logs");
}

#[tokio::test]
async fn a_key_the_api_echoes_is_masked() {
    let fixture = Fixture::start().await;
    let client = native(config(&fixture, KEY, None)).await;
    let failure = ask(&client, "Who? [echo-key]").await;
    assert!(!failure.contains(KEY), "{}", masked(&failure));
    assert_eq!(failure, "Perplexity API error: 400 Bad Request\nmalformed request (sent with `Bearer ***`)");
}

#[tokio::test]
async fn a_key_the_api_echoes_in_its_stream_is_masked_in_progress() {
    let fixture = Fixture::start().await;
    let client = native(config(&fixture, KEY, None)).await;
    let arguments = json!({"messages": [{"role": "user", "content": "Emma [echo-key-in-stream]"}]});
    let (progress, text, is_error) =
        crate::support::call_with_progress(&client, "perplexity_research", arguments).await;
    assert!(!is_error, "{}", masked(&text));
    let shown: Vec<String> = progress.iter().map(|(_, message)| masked(message)).collect();
    assert!(progress.iter().all(|(_, message)| !message.contains(KEY)), "{shown:?}");
    assert_eq!(shown[0], "Searching: emma Bearer ***");
}

#[tokio::test]
async fn a_run_that_times_out_fails_clearly_and_is_cancelled_at_the_api() {
    let fixture = Fixture::start().await;
    let timeout = Duration::from_millis(800);
    let mut seen = Vec::new();
    for (name, client) in both(&fixture, KEY, Some(timeout)).await {
        let failure = ask(&client, "Who? [stall]").await;
        let cancel = fixture.wait_for("/cancel", Duration::from_secs(5)).await;
        let cancel = cancel.unwrap_or_else(|| panic!("{name} did not cancel the abandoned run"));
        assert!(cancel.path.starts_with("/v1/agent/run-") && cancel.authorized, "{name}: {cancel:?}");
        assert_eq!(cancel.body, json!({}));
        seen.push(failure);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[1],
        "Request timeout: Perplexity API did not respond within 800ms. Consider increasing PERPLEXITY_TIMEOUT_MS."
    );
}

#[tokio::test]
async fn a_caller_that_goes_away_cancels_the_run_at_the_api() {
    let fixture = Fixture::start().await;
    for (name, client) in both(&fixture, KEY, None).await {
        let arguments = json!({"messages": [{"role": "user", "content": "Everything [stall]"}]});
        let arguments = arguments.as_object().cloned().expect("an object");
        let stream = client.call_tool_stream("perplexity_research", arguments);
        let started = tokio::spawn(async move {
            // Drive the call until the test drops it.
            let _ = stream.result().await;
        });
        // Go away only once the fake has sent the run's id (else there is nothing to cancel),
        // and the client has had a moment to read it.
        assert!(fixture.wait_for_stall(Duration::from_secs(30)).await, "{name} started the run");
        tokio::time::sleep(Duration::from_secs(1)).await;
        started.abort();
        let cancel = fixture.wait_for("/cancel", Duration::from_secs(30)).await;
        assert!(cancel.is_some_and(|c| c.path.starts_with("/v1/agent/run-")), "{name} cancels the run");
    }
}

/// An outer timeout (the one `serve` puts around every call, `--call-timeout`) drops the call's
/// future before `PERPLEXITY_TIMEOUT_MS` ends it: the run is cancelled at the API all the same.
#[tokio::test]
async fn a_call_dropped_by_an_outer_timeout_cancels_the_run_at_the_api() {
    let fixture = Fixture::start().await;
    let server = mcp_perplexity::native::PerplexityServer::new(config(&fixture, KEY, Some(Duration::from_secs(120))))
        .expect("a valid configuration");
    let registry = server.registry();
    let arguments = json!({"messages": [{"role": "user", "content": "Everything [stall]"}]});
    let arguments = arguments.as_object().cloned().expect("an object");
    // Boxed, so that dropping it below ends the call's future itself.
    let mut call = Box::pin(registry.tools.call("perplexity_research", arguments, mcp_core::ToolContext::detached()));
    // Drive the call until the fake has sent the run's id (else there is nothing to cancel): a
    // test that cut it after a fixed time flaked on a loaded machine.
    tokio::select! {
        _ = &mut call => panic!("the stalled run ended"),
        sent = fixture.wait_for_stall(Duration::from_secs(30)) => assert!(sent, "the fake sent the run's id"),
    }
    // Let the call read it (the run stalls and its own timeout is far off), then drop it, as an
    // outer timeout does.
    let outer = tokio::time::timeout(Duration::from_secs(1), &mut call).await;
    assert!(outer.is_err(), "the stalled run ended");
    drop(call);
    let cancel = fixture.wait_for("/cancel", Duration::from_secs(30)).await;
    let cancel = cancel.expect("the dropped call cancelled its run");
    assert!(cancel.path.starts_with("/v1/agent/run-") && cancel.authorized, "{cancel:?}");
}

/// A run read to its end is not cancelled.
#[tokio::test]
async fn a_finished_run_is_not_cancelled() {
    let fixture = Fixture::start().await;
    let pplx = Perplexity::new(native(config(&fixture, KEY, None)).await);
    pplx.ask(&[Message::user("Who wrote Emma?")], &WebSearchOptions::default()).await.expect("answers");
    assert!(fixture.wait_for("/cancel", Duration::from_millis(500)).await.is_none());
}

#[tokio::test]
async fn an_unreachable_api_is_a_network_error() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let mut fixture = Fixture::start().await;
    fixture.url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    for (name, client) in both(&fixture, KEY, None).await {
        let failure = ask(&client, "Anyone there?").await;
        assert!(failure.starts_with("Network error while calling Perplexity API: "), "{name}: {failure}");
    }
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused() {
    let fixture = Fixture::start().await;
    let mut config = config(&fixture, KEY, None);
    config.max_response_bytes = 1024 * 1024;
    let client = native(config).await;
    assert_eq!(
        ask(&client, "Everything [huge]").await,
        "the response from Perplexity API exceeded the limit of 1048576 bytes"
    );
    // Answers within the limit still come through.
    let pplx = Perplexity::new(client);
    let answer = pplx.ask(&[Message::user("Who wrote Emma?")], &WebSearchOptions::default()).await.expect("answers");
    assert_eq!(answer.citations.len(), 2);
}
