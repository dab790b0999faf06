//! The pipeline's own layers over a scripted endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mcp_core::pipeline::{
    CallError, ConcurrencyLayer, Endpoint, ObserveLayer, PipelineTool, RetryLayer, TimeoutLayer, ToolCall,
    ValidateLayer, boxed, endpoint,
};
use mcp_core::protocol::{CallToolResult, Implementation, JsonObject, Tool, ToolAnnotations};
use mcp_core::{Client, ClientOptions, EraPreference, Registry, Server, Tool as _, ToolContext, ToolSet};
use serde_json::{Value, json};
use tower_layer::Layer;

/// Fails with a transient error `failures` times, sleeps `delay`, then echoes the arguments.
struct Scripted {
    calls: AtomicUsize,
    failures: usize,
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[async_trait]
impl Endpoint for Scripted {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if n < self.failures {
            return Err(CallError::Upstream("server `s` is restarting".into()));
        }
        Ok(CallToolResult::structured(Value::Object(call.arguments)))
    }
}

fn scripted(failures: usize, delay: Duration) -> Arc<Scripted> {
    Arc::new(Scripted {
        calls: AtomicUsize::new(0),
        failures,
        delay,
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    })
}

fn definition(read_only: bool) -> Tool {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}, "tag": {"type": "string"}}, "required": ["n"], "additionalProperties": false});
    let mut tool = Tool::new("work", "does work", schema.as_object().cloned().unwrap_or_default());
    tool.annotations = Some(ToolAnnotations::default().with_read_only(read_only));
    tool
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

fn tool(target: Arc<Scripted>, read_only: bool, timeout: Duration) -> PipelineTool {
    let stack = ObserveLayer.layer(
        ValidateLayer::default().layer(
            ConcurrencyLayer::new(2).layer(
                TimeoutLayer::new(timeout, Default::default())
                    .layer(RetryLayer::new(3, Duration::from_millis(5)).layer(endpoint(target))),
            ),
        ),
    );
    PipelineTool::new("s__work", "s", definition(read_only), boxed(stack))
}

#[tokio::test]
async fn arguments_are_checked_against_the_schema_with_their_paths() {
    let target = scripted(0, Duration::ZERO);
    let t = tool(target.clone(), true, Duration::from_secs(5));
    let ok = t.call(args(json!({"n": 1})), ToolContext::detached()).await.expect("result");
    assert!(!ok.is_error(), "{}", ok.text_content());
    let bad = t.call(args(json!({"n": -1, "extra": true})), ToolContext::detached()).await.expect("result");
    assert!(bad.is_error());
    let text = bad.text_content();
    assert!(text.starts_with("invalid arguments for `s__work`:"), "{text}");
    assert!(text.contains("at `/n`") && text.contains("extra"), "{text}");
    assert_eq!(target.calls.load(Ordering::SeqCst), 1, "invalid calls never reach the endpoint");
}

#[tokio::test]
async fn transient_failures_are_retried_only_for_tools_safe_to_repeat() {
    let read_only = scripted(2, Duration::ZERO);
    let result = tool(read_only.clone(), true, Duration::from_secs(5))
        .call(args(json!({"n": 1})), ToolContext::detached())
        .await
        .expect("result");
    assert!(!result.is_error(), "{}", result.text_content());
    assert_eq!(read_only.calls.load(Ordering::SeqCst), 3);

    let writer = scripted(2, Duration::ZERO);
    let result = tool(writer.clone(), false, Duration::from_secs(5))
        .call(args(json!({"n": 1})), ToolContext::detached())
        .await
        .expect("result");
    assert!(result.is_error());
    assert_eq!(result.text_content(), "server `s` is restarting");
    assert_eq!(writer.calls.load(Ordering::SeqCst), 1, "a tool that may change things is never repeated");
}

#[tokio::test]
async fn slow_calls_time_out_and_concurrency_is_bounded() {
    let slow = scripted(0, Duration::from_millis(300));
    let result = tool(slow, false, Duration::from_millis(50))
        .call(args(json!({"n": 1})), ToolContext::detached())
        .await
        .expect("result");
    assert_eq!(result.text_content(), "`s__work` did not finish within 50ms");

    let busy = scripted(0, Duration::from_millis(30));
    let t = tool(busy.clone(), false, Duration::from_secs(5));
    let calls = (0..8).map(|n| t.call(args(json!({"n": n})), ToolContext::detached()));
    for result in futures_util::future::join_all(calls).await {
        assert!(!result.expect("result").is_error());
    }
    assert_eq!(busy.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn calls_held_up_on_one_server_do_not_hold_up_another() {
    // One permit per server: server `a`'s is held by a call that never ends; `b` still answers.
    let layer = ConcurrencyLayer::new(1);
    let hung = scripted(0, Duration::from_secs(3600));
    let quick = scripted(0, Duration::ZERO);
    let stuck = PipelineTool::new("a__work", "a", definition(true), boxed(layer.clone().layer(endpoint(hung.clone()))));
    let free = PipelineTool::new("b__work", "b", definition(true), boxed(layer.layer(endpoint(quick.clone()))));
    let stuck = Arc::new(stuck);
    let holding = tokio::spawn({
        let stuck = stuck.clone();
        async move { stuck.call(args(json!({"n": 1})), ToolContext::detached()).await }
    });
    while hung.in_flight.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answered =
        tokio::time::timeout(Duration::from_secs(10), free.call(args(json!({"n": 2})), ToolContext::detached()));
    let result = answered.await.expect("server `b` is not held up by server `a`").expect("a result");
    assert!(!result.is_error(), "{}", result.text_content());
    // Server `a` itself still has one call at a time.
    let waiting =
        tokio::time::timeout(Duration::from_millis(200), stuck.call(args(json!({"n": 3})), ToolContext::detached()));
    assert!(waiting.await.is_err(), "a second call to `a` waits for the first");
    assert_eq!(hung.calls.load(Ordering::SeqCst), 1);
    holding.abort();
}

#[test]
fn trace_ids_are_unique_and_shaped_as_w3c_trace_ids() {
    let ids: std::collections::HashSet<String> = (0..10_000).map(|_| mcp_core::pipeline::new_trace_id()).collect();
    assert_eq!(ids.len(), 10_000);
    for id in ids.iter().take(100) {
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
        assert_ne!(id, &"0".repeat(32));
    }
}

#[tokio::test]
async fn a_changed_schema_is_compiled_anew() {
    let validate = ValidateLayer::default();
    let target = scripted(0, Duration::ZERO);
    let serve = |definition: Tool| {
        let stack = validate.clone().layer(endpoint(target.clone()));
        PipelineTool::new("s__work", "s", definition, boxed(stack))
    };
    let first = serve(definition(true));
    let result = first.call(args(json!({"n": 1})), ToolContext::detached()).await.expect("result");
    assert!(!result.is_error(), "{}", result.text_content());
    // The same tool, served again (a list rebuilt) with a schema that now wants a string.
    let mut changed = definition(true);
    changed.input_schema =
        json!({"type": "object", "properties": {"n": {"type": "string"}}}).as_object().cloned().unwrap_or_default();
    let second = serve(changed);
    let result = second.call(args(json!({"n": 1})), ToolContext::detached()).await.expect("result");
    assert!(result.is_error() && result.text_content().contains("at `/n`"), "{}", result.text_content());
    // An equal definition served anew keeps validating as before.
    let third = serve(definition(true));
    let result = third.call(args(json!({"n": -1})), ToolContext::detached()).await.expect("result");
    assert!(result.is_error() && result.text_content().contains("at `/n`"), "{}", result.text_content());
    assert!(!first.call(args(json!({"n": 2})), ToolContext::detached()).await.expect("result").is_error());
}

#[tokio::test]
async fn validators_are_compiled_on_first_call_and_only_the_most_recently_used_are_kept() {
    let validate = ValidateLayer::with_capacity(2);
    let target = scripted(0, Duration::ZERO);
    let serve = |name: &str| {
        let mut definition = definition(true);
        definition.name = name.to_owned();
        let stack = validate.clone().layer(endpoint(target.clone()));
        PipelineTool::new(format!("s__{name}"), "s", definition, boxed(stack))
    };
    let tools = [serve("a"), serve("b"), serve("c")];
    assert_eq!(validate.compiled(), 0, "nothing is compiled before a call");
    for tool in &tools {
        let result = tool.call(args(json!({"n": 1})), ToolContext::detached()).await.expect("result");
        assert!(!result.is_error(), "{}", result.text_content());
    }
    assert_eq!(validate.compiled(), 2, "the cache holds its capacity, no more");
    // `a`, the least recently used, was dropped: called again, it is compiled again and still refuses.
    let bad = tools[0].call(args(json!({"n": -1})), ToolContext::detached()).await.expect("result");
    assert!(bad.is_error() && bad.text_content().contains("at `/n`"), "{}", bad.text_content());
    assert_eq!(validate.compiled(), 2);
    for tool in &tools {
        let bad = tool.call(args(json!({"extra": true})), ToolContext::detached()).await.expect("result");
        assert!(
            bad.is_error() && bad.text_content().starts_with("invalid arguments for `s__"),
            "{}",
            bad.text_content()
        );
    }
    assert_eq!(target.calls.load(Ordering::SeqCst), 3, "invalid calls never reach the endpoint");
}

#[tokio::test]
async fn a_schema_that_does_not_compile_refuses_the_call() {
    let target = scripted(0, Duration::ZERO);
    let mut broken = definition(true);
    broken.input_schema = args(json!({"type": "object", "properties": {"n": {"type": 12}}}));
    let stack = ValidateLayer::default().layer(endpoint(target.clone()));
    let tool = PipelineTool::new("s__work", "s", broken, boxed(stack));
    let result = tool.call(args(json!({"n": 1})), ToolContext::detached()).await.expect("result");
    let text = result.text_content();
    assert!(result.is_error() && text.contains("input schema of `s__work` is not valid JSON Schema"), "{text}");
    assert_eq!(target.calls.load(Ordering::SeqCst), 0, "the call never reaches the endpoint");
}

/// A pipeline tool serves its upstream's definition itself, shared rather than copied to be
/// renamed, under its own name: in both eras it is listed by that name with the upstream's schema
/// and annotations, the list filter sees that name, calls find it by that name (not the
/// upstream's) and their arguments are still validated.
#[tokio::test]
async fn a_pipeline_tool_serves_the_shared_upstream_definition_under_its_own_name() {
    let target = scripted(0, Duration::ZERO);
    let service = Arc::new(boxed(ValidateLayer::default().layer(endpoint(target.clone()))));
    let upstream = Arc::new(definition(true));
    let served = PipelineTool::new("s__work", "s", upstream.clone(), service.clone());
    assert!(std::ptr::eq(served.definition(), &*upstream), "the upstream's definition, not a copy");
    assert_eq!((served.name(), served.definition().name.as_str()), ("s__work", "work"));
    let mut tools = ToolSet::new();
    tools.add(served);
    tools.add(PipelineTool::new("s__hidden", "s", Tool::new("hidden", "hidden", JsonObject::new()), service));
    let filtered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = filtered.clone();
    let server = Server::builder(Implementation::new("gateway", "1"), Registry::new())
        .tool_filter(Arc::new(move |_, tool| {
            seen.lock().expect("lock").push(tool.name().to_owned());
            tool.name() != "s__hidden"
        }))
        .build();
    server.replace_tools(tools);
    for era in [EraPreference::Handshake, EraPreference::Modern] {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let (r, w) = tokio::io::split(server_io);
        let serving = server.clone();
        tokio::spawn(async move { serving.serve(r, w).await });
        let (r, w) = tokio::io::split(client_io);
        let options = ClientOptions { era, ..ClientOptions::default() };
        let client = Client::connect("gateway", r, w, options).await.expect("connects");
        let listed = client.list_tools().await.expect("lists");
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["s__work"], "{era:?}");
        assert_eq!(listed[0].input_schema, upstream.input_schema, "{era:?}");
        assert_eq!((&listed[0].annotations, &listed[0].description), (&upstream.annotations, &upstream.description));
        let ok = client.call_tool("s__work", args(json!({"n": 1}))).await.expect("a result");
        assert!(!ok.is_error(), "{}", ok.text_content());
        let bad = client.call_tool("s__work", args(json!({"n": -1}))).await.expect("a result");
        assert!(bad.is_error() && bad.text_content().starts_with("invalid arguments for `s__work`"));
        let unknown = client.call_tool("work", JsonObject::new()).await.expect_err("not served by that name");
        assert!(unknown.to_string().contains("unknown tool `work`"), "{unknown}");
    }
    assert_eq!(target.calls.load(Ordering::SeqCst), 2, "one valid call per era reached the endpoint");
    assert_eq!(*filtered.lock().expect("lock"), ["s__work", "s__hidden", "s__work", "s__hidden"]);
}
