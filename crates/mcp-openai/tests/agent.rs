//! The agent loop against a local endpoint that answers like the OpenAI API (scripted turns; no
//! live model runs here), over Chat Completions and Responses, streamed and not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_core::protocol::CallToolResult;
use mcp_core::{Json, ToolContext, ToolError, ToolSet, tool};
use mcp_openai::fake::{FakeModel, Reply};
use mcp_openai::{Agent, Api, Approvals, Decision, Event, Model, ModelConfig, RunOutcome, Toolbox};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const KEY: &str = "sk-test-agent-key-0123456789";
const COMBOS: [(Api, bool); 4] =
    [(Api::Chat, false), (Api::Chat, true), (Api::Responses, false), (Api::Responses, true)];

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Empty {}

struct Counters {
    deleted: AtomicUsize,
    barrier: tokio::sync::Barrier,
}

fn tools(counters: Arc<Counters>) -> ToolSet {
    let mut set = ToolSet::new();
    set.add(tool("add", "Adds two integers.", |args: AddArgs, _cx: ToolContext| async move {
        Ok::<_, ToolError>(Json(json!({"sum": args.a + args.b})))
    }));
    // `times` is optional and not nullable: a null reaching the tool would fail validation.
    set.add(
        tool("repeat", "Repeats text.", |args: Value, _cx: ToolContext| async move {
            let text = args["text"].as_str().unwrap_or_default().to_owned();
            let times = args.get("times").and_then(Value::as_u64).unwrap_or(1) as usize;
            Ok::<_, ToolError>(text.repeat(times))
        })
        .input_schema(
            json!({"type": "object", "properties": {"text": {"type": "string"}, "times": {"type": "integer", "minimum": 1}}, "required": ["text"]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
    );
    set.add(tool("fail", "Always fails.", |_: Empty, _cx: ToolContext| async move {
        Err::<String, _>(ToolError::msg("disk full on /var"))
    }));
    let c = counters.clone();
    set.add(tool("delete", "Deletes everything.", move |_: Empty, _cx: ToolContext| {
        let c = c.clone();
        async move {
            c.deleted.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ToolError>("deleted".to_owned())
        }
    }));
    // Both halves must be running at once to get past the barrier.
    for name in ["left", "right"] {
        let c = counters.clone();
        set.add(tool(name, "Meets the other half.", move |_: Empty, _cx: ToolContext| {
            let c = c.clone();
            async move {
                match tokio::time::timeout(Duration::from_secs(5), c.barrier.wait()).await {
                    Ok(_) => Ok::<_, ToolError>(format!("{name} met")),
                    Err(_) => Err(ToolError::msg("the other half never ran at the same time")),
                }
            }
        }));
    }
    set.add(tool("work", "Works in steps.", |_: Empty, cx: ToolContext| async move {
        for step in 1..=3 {
            cx.progress(f64::from(step), Some(3.0), Some(format!("step {step}"))).await;
        }
        Ok::<_, ToolError>("worked".to_owned())
    }));
    set.add(tool("picture", "Returns an image.", |_: Empty, _cx: ToolContext| async move {
        let mut result = CallToolResult::text("a red dot");
        result.content.push(mcp_core::protocol::Content::image("aGVsbG8=", "image/png"));
        Ok::<_, ToolError>(result)
    }));
    set
}

fn counters() -> Arc<Counters> {
    Arc::new(Counters { deleted: AtomicUsize::new(0), barrier: tokio::sync::Barrier::new(2) })
}

fn model(fake: &FakeModel, api: Api, stream: bool) -> Arc<Model> {
    Arc::new(Model::new(config(fake, api, stream)).expect("model"))
}

fn config(fake: &FakeModel, api: Api, stream: bool) -> ModelConfig {
    let mut config = ModelConfig::new("fake-model");
    config.base_url = Some(fake.base_url.clone());
    config.api_key = Some(KEY.into());
    config.api = api;
    config.stream = stream;
    config
}

fn agent(fake: &FakeModel, api: Api, stream: bool, toolbox: Toolbox) -> Agent {
    let mut agent = Agent::new("tester", model(fake, api, stream), Arc::new(toolbox));
    agent.instructions = Some("Use the tools.".into());
    agent
}

/// The tool outputs the model was sent in request `n` (0-based), by call id.
fn tool_outputs(fake: &FakeModel, n: usize) -> Vec<(String, Value)> {
    let seen = fake.seen();
    let body = &seen[n].body;
    match seen[n].path.as_str() {
        "chat/completions" => body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| (m["tool_call_id"].as_str().unwrap_or_default().to_owned(), m["content"].clone()))
            .collect(),
        _ => body["input"]
            .as_array()
            .expect("input")
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .map(|i| (i["call_id"].as_str().unwrap_or_default().to_owned(), i["output"].clone()))
            .collect(),
    }
}

fn finished(outcome: RunOutcome) -> (String, usize) {
    match outcome {
        RunOutcome::Finished { output, turns, .. } => (output, turns),
        RunOutcome::Interrupted(state) => panic!("interrupted: {:?}", state.pending),
    }
}

async fn collect(mut rx: mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut events = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        events.push(e);
    }
    events
}

#[tokio::test]
async fn a_run_calls_tools_and_ends_with_the_answer_in_every_api_and_mode() {
    for (api, stream) in COMBOS {
        let fake = FakeModel::start([Reply::calls([("add", json!({"a": 2, "b": 40}))]), Reply::text("The sum is 42.")])
            .await
            .expect("fake");
        let toolbox = Toolbox::builder().server("local", tools(counters())).build();
        let (tx, rx) = mpsc::unbounded_channel();
        let outcome = agent(&fake, api, stream, toolbox).run("What is 2 + 40?", Some(tx)).await.expect("run");
        let (output, turns) = finished(outcome);
        assert_eq!((output.as_str(), turns), ("The sum is 42.", 2), "{api:?} stream={stream}");

        let seen = fake.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
        assert_eq!(seen[0].body["stream"], json!(stream));
        assert!(seen[0].body.get("parallel_tool_calls").is_none(), "sent only when configured");
        // The tools went out in the API's own format, strict stated.
        let tool_list = seen[0].body["tools"].as_array().expect("tools");
        let add =
            tool_list.iter().find(|t| t["name"] == "add" || t["function"]["name"] == "add").expect("add is offered");
        match api {
            Api::Chat => {
                assert_eq!(add["function"]["strict"], true);
                assert_eq!(seen[0].body["messages"][0], json!({"role": "system", "content": "Use the tools."}));
            }
            Api::Responses => {
                assert_eq!(add["strict"], true);
                assert_eq!(seen[0].body["instructions"], "Use the tools.");
            }
        }
        let outputs = tool_outputs(&fake, 1);
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].1, json!(r#"{"sum":42}"#), "{api:?} stream={stream}");

        let events = collect(rx).await;
        assert!(matches!(events.first(), Some(Event::TurnStarted { turn: 1 })), "{events:?}");
        assert!(events.iter().any(|e| matches!(e, Event::ToolStarted { name, .. } if name == "add")));
        assert!(events.iter().any(
            |e| matches!(e, Event::ToolResult { output, .. } if output.text == r#"{"sum":42}"# && !output.is_error)
        ));
        assert_eq!(events.last(), Some(&Event::Final("The sum is 42.".into())));
        let deltas: Vec<&str> =
            events.iter().filter_map(|e| if let Event::TextDelta(t) = e { Some(t.as_str()) } else { None }).collect();
        assert_eq!(deltas.concat(), "The sum is 42.");
        if stream {
            assert!(deltas.len() >= 3, "streamed text arrives in pieces: {deltas:?}");
        }
    }
}

#[tokio::test]
async fn parallel_calls_run_at_the_same_time_and_answer_in_order() {
    for (api, stream) in COMBOS {
        let fake =
            FakeModel::start([Reply::calls([("left", json!({})), ("right", json!({}))]), Reply::text("both met")])
                .await
                .expect("fake");
        let toolbox = Toolbox::builder().server("local", tools(counters())).build();
        let mut config = ModelConfig::new("fake-model");
        config.base_url = Some(fake.base_url.clone());
        config.api = api;
        config.stream = stream;
        config.parallel_tool_calls = Some(true);
        let agent = Agent::new("tester", Arc::new(Model::new(config).expect("model")), Arc::new(toolbox));
        let (output, _) = finished(agent.run("meet", None).await.expect("run"));
        assert_eq!(output, "both met");
        assert_eq!(fake.seen()[0].body["parallel_tool_calls"], true);
        let outputs = tool_outputs(&fake, 1);
        let texts: Vec<&Value> = outputs.iter().map(|(_, v)| v).collect();
        assert_eq!(texts, [&json!("left met"), &json!("right met")], "{api:?} stream={stream}");
        assert_eq!(outputs[0].0, "call_1_0");
        assert_eq!(outputs[1].0, "call_1_1");
    }
}

#[tokio::test]
async fn failures_go_back_to_the_model_and_the_run_goes_on() {
    for (api, stream) in COMBOS {
        let policy = mcp_security::Policy::new(
            serde_json::from_value(json!({"rules": [
                {"name": "no-delete", "effect": "deny", "tools": ["delete"]}
            ], "default": "allow"}))
            .expect("policy config"),
        )
        .expect("policy");
        let counters = counters();
        let toolbox = Toolbox::builder()
            .server("local", tools(counters.clone()))
            .layer(mcp_security::AuthorizeLayer::new(Arc::new(policy), None))
            .build();
        let fake = FakeModel::start([
            Reply::calls([
                ("fail", json!({})),
                ("delete", json!({})),
                ("no_such_tool", json!({})),
                ("add", json!({"a": "two", "b": 1})),
            ]),
            Reply::raw_call("add", "{not json"),
            Reply::text("I could not do it."),
        ])
        .await
        .expect("fake");
        let (output, turns) = finished(agent(&fake, api, stream, toolbox).run("try", None).await.expect("run"));
        assert_eq!((output.as_str(), turns), ("I could not do it.", 3));
        let outputs: Vec<String> =
            tool_outputs(&fake, 1).into_iter().map(|(_, v)| v.as_str().unwrap_or_default().to_owned()).collect();
        assert_eq!(outputs.len(), 4, "{outputs:?}");
        assert_eq!(outputs[0], "Error: disk full on /var");
        assert!(outputs[1].contains("denied by policy rule `no-delete`"), "{}", outputs[1]);
        assert!(outputs[2].contains("there is no such tool") && outputs[2].contains("add"), "{}", outputs[2]);
        assert!(outputs[3].contains("invalid arguments for `add`") && outputs[3].contains("/a"), "{}", outputs[3]);
        assert_eq!(counters.deleted.load(Ordering::SeqCst), 0, "the denied tool never ran");
        let third = tool_outputs(&fake, 2);
        let last = third.last().expect("output").1.as_str().unwrap_or_default().to_owned();
        assert!(last.contains("not valid JSON"), "{last}");
    }
}

#[tokio::test]
async fn nulls_for_omitted_optional_parameters_never_reach_the_tool() {
    let fake = FakeModel::start([
        Reply::calls([("repeat", json!({"text": "ab", "times": null})), ("repeat", json!({"text": "cd", "times": 2}))]),
        Reply::text("done"),
    ])
    .await
    .expect("fake");
    let toolbox = Toolbox::builder().server("local", tools(counters())).build();
    finished(agent(&fake, Api::Chat, true, toolbox).run("repeat", None).await.expect("run"));
    let outputs: Vec<Value> = tool_outputs(&fake, 1).into_iter().map(|(_, v)| v).collect();
    assert_eq!(outputs, [json!("ab"), json!("cdcd")]);
    let seen = fake.seen();
    let schema = &seen[0].body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["function"]["name"] == "repeat")
        .expect("repeat")["function"]["parameters"];
    assert_eq!(schema["required"], json!(["text", "times"]));
    assert_eq!(schema["properties"]["times"]["type"], json!(["integer", "null"]));
}

#[tokio::test]
async fn approvals_pause_the_run_and_resume_it_with_the_decision() {
    for (api, stream) in COMBOS {
        let counters = counters();
        let fake = FakeModel::start([
            Reply::calls([("delete", json!({})), ("add", json!({"a": 1, "b": 1}))]),
            Reply::text("deleted, and 2"),
            Reply::calls([("delete", json!({}))]),
            Reply::text("left alone"),
        ])
        .await
        .expect("fake");
        let toolbox = Toolbox::builder().server("local", tools(counters.clone())).build();
        let mut agent = agent(&fake, api, stream, toolbox);
        agent.approvals = Approvals::Tools(["delete".to_owned()].into());

        let (tx, rx) = mpsc::unbounded_channel();
        let RunOutcome::Interrupted(state) = agent.run("clean up", Some(tx)).await.expect("run") else {
            panic!("expected a pause");
        };
        assert_eq!(state.pending.len(), 1);
        assert_eq!((state.pending[0].name.as_str(), state.pending[0].server.as_str()), ("delete", "local"));
        assert_eq!(counters.deleted.load(Ordering::SeqCst), 0, "nothing ran while paused");
        assert_eq!(fake.seen().len(), 1);
        let events = collect(rx).await;
        assert!(events.iter().any(|e| matches!(e, Event::ApprovalRequested(p) if p.name == "delete")));
        assert!(!events.iter().any(|e| matches!(e, Event::ToolStarted { .. })));

        // The state survives a trip through JSON (another process may decide).
        let state = serde_json::from_str(&serde_json::to_string(&state).expect("ser")).expect("de");
        let id = |s: &mcp_openai::RunState| s.pending[0].id.clone();
        let decisions = HashMap::from([(id(&state), Decision::Approve)]);
        let (output, turns) = finished(agent.resume(state, decisions, None).await.expect("resume"));
        assert_eq!((output.as_str(), turns), ("deleted, and 2", 2));
        assert_eq!(counters.deleted.load(Ordering::SeqCst), 1);
        let outputs: Vec<Value> = tool_outputs(&fake, 1).into_iter().map(|(_, v)| v).collect();
        assert_eq!(outputs, [json!("deleted"), json!(r#"{"sum":2}"#)]);

        // Rejected: the model reads why, the tool does not run.
        let RunOutcome::Interrupted(state) = agent.run("again", None).await.expect("run") else { panic!("pause") };
        let decisions = HashMap::from([(id(&state), Decision::Reject("not on Fridays".into()))]);
        let (output, _) = finished(agent.resume(state.clone(), decisions, None).await.expect("resume"));
        assert_eq!(output, "left alone");
        assert_eq!(counters.deleted.load(Ordering::SeqCst), 1);
        let rejected = tool_outputs(&fake, 3);
        assert!(rejected[0].1.as_str().unwrap_or_default().contains("not approved: not on Fridays"), "{rejected:?}");

        // A missing decision is an error, not a silent approval.
        let error = agent.resume(state, HashMap::new(), None).await.expect_err("no decision");
        assert!(error.to_string().contains("no decision"), "{error}");
    }
}

#[tokio::test]
async fn calls_that_share_an_id_are_each_decided() {
    // An endpoint that gives two calls one id: the call that needs no approval must not stand in
    // for the one that does, whichever comes first.
    for (api, stream) in COMBOS {
        let counters = counters();
        let fake = FakeModel::start([
            Reply::calls([("add", json!({"a": 1, "b": 1})), ("delete", json!({}))]).same_ids(),
            Reply::text("done"),
        ])
        .await
        .expect("fake");
        let toolbox = Toolbox::builder().server("local", tools(counters.clone())).build();
        let mut agent = agent(&fake, api, stream, toolbox);
        agent.approvals = Approvals::Tools(["delete".to_owned()].into());
        let RunOutcome::Interrupted(state) = agent.run("go", None).await.expect("run") else {
            panic!("{api:?} {stream}: the call that needs approval ran without it");
        };
        assert_eq!(state.pending.len(), 1);
        assert_eq!(state.pending[0].name, "delete");
        assert_eq!(counters.deleted.load(Ordering::SeqCst), 0);
        let decisions = HashMap::from([(state.pending[0].id.clone(), Decision::Reject("no".into()))]);
        finished(agent.resume(state, decisions, None).await.expect("resume"));
        assert_eq!(counters.deleted.load(Ordering::SeqCst), 0, "{api:?} {stream}: a rejected call ran");
        // Each output answers its own call, under the id the conversation gave it.
        let outputs = tool_outputs(&fake, 1);
        assert_eq!(outputs.len(), 2);
        assert_ne!(outputs[0].0, outputs[1].0, "{outputs:?}");
        assert_eq!(outputs[0].1, json!(r#"{"sum":2}"#));
        assert!(outputs[1].1.as_str().unwrap_or_default().contains("not approved"), "{outputs:?}");
        // And each answers a call the request carries (Responses replays the turn's own items).
        let body = &fake.seen()[1].body;
        let asked: Vec<String> = match api {
            Api::Chat => body["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .flat_map(|m| {
                    m["tool_calls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
                })
                .collect(),
            Api::Responses => body["input"]
                .as_array()
                .expect("input")
                .iter()
                .filter(|i| i["type"] == "function_call")
                .map(|i| i["call_id"].as_str().unwrap_or_default().to_owned())
                .collect(),
        };
        let answered: Vec<String> = outputs.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(asked, answered, "{api:?} {stream}");
    }
}

#[tokio::test]
async fn an_approval_callback_decides_without_pausing() {
    let counters = counters();
    let fake =
        FakeModel::start([Reply::calls([("delete", json!({})), ("add", json!({"a": 1, "b": 2}))]), Reply::text("ok")])
            .await
            .expect("fake");
    let toolbox = Toolbox::builder().server("local", tools(counters.clone())).build();
    let mut agent = agent(&fake, Api::Responses, true, toolbox);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    agent.approvals = Approvals::Callback(Arc::new(move |call| {
        log.lock().expect("lock").push(call.name.clone());
        let decision =
            if call.name == "delete" { Decision::Reject("read-only session".into()) } else { Decision::Approve };
        Box::pin(async move { Some(decision) })
    }));
    finished(agent.run("go", None).await.expect("run"));
    assert_eq!(*asked.lock().expect("lock"), ["delete", "add"]);
    assert_eq!(counters.deleted.load(Ordering::SeqCst), 0);
    let outputs: Vec<Value> = tool_outputs(&fake, 1).into_iter().map(|(_, v)| v).collect();
    assert!(outputs[0].as_str().unwrap_or_default().contains("read-only session"));
    assert_eq!(outputs[1], json!(r#"{"sum":3}"#));
}

#[tokio::test]
async fn progress_images_and_filters() {
    let fake = FakeModel::start([
        Reply::calls([("work", json!({})), ("picture", json!({}))]),
        Reply::text("seen"),
        Reply::calls([("picture", json!({}))]),
        Reply::text("seen again"),
    ])
    .await
    .expect("fake");
    let toolbox = Toolbox::builder().server("local", tools(counters())).block(["delete", "local__fail"]).build();
    let agent = agent(&fake, Api::Chat, false, toolbox);
    let (tx, rx) = mpsc::unbounded_channel();
    finished(agent.run("work", Some(tx)).await.expect("run"));
    let events = collect(rx).await;
    let steps: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| if let Event::ToolProgress { message, .. } = e { Some(message.clone()) } else { None })
        .collect();
    assert_eq!(steps, [Some("step 1".into()), Some("step 2".into()), Some("step 3".into())]);
    let offered: Vec<String> = fake.seen()[0].body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!offered.contains(&"delete".to_owned()) && !offered.contains(&"fail".to_owned()), "{offered:?}");
    assert!(offered.contains(&"add".to_owned()));
    // Chat: the image follows the tool messages as a user message with a data URL.
    let messages = fake.seen()[1].body["messages"].as_array().expect("messages").clone();
    let last = messages.last().expect("last");
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][1]["image_url"]["url"], "data:image/png;base64,aGVsbG8=");

    // Responses: the image is part of the function call output.
    let agent =
        self::agent(&fake, Api::Responses, false, Toolbox::builder().server("local", tools(counters())).build());
    finished(agent.run("picture", None).await.expect("run"));
    let output = &tool_outputs(&fake, 3)[0].1;
    assert_eq!(output[0], json!({"type": "input_text", "text": "a red dot"}));
    assert_eq!(output[1], json!({"type": "input_image", "image_url": "data:image/png;base64,aGVsbG8="}));
}

#[tokio::test]
async fn the_turn_limit_ends_a_run_that_never_answers() {
    let fake = FakeModel::start((0..5).map(|_| Reply::calls([("add", json!({"a": 1, "b": 1}))]))).await.expect("fake");
    let mut agent = agent(&fake, Api::Chat, true, Toolbox::builder().server("local", tools(counters())).build());
    agent.max_turns = 3;
    let error = agent.run("loop", None).await.expect_err("limit");
    assert_eq!(error.to_string(), "no final answer within 3 turns");
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn endpoint_failures_name_the_model_and_never_the_key() {
    for (api, stream) in COMBOS {
        let fake = FakeModel::start([Reply::Error(401, "Incorrect API key provided".into())]).await.expect("fake");
        let agent = agent(&fake, api, stream, Toolbox::builder().server("local", tools(counters())).build());
        let error = agent.run("hi", None).await.expect_err("fails").to_string();
        assert!(error.contains("fake-model") && error.contains("Incorrect API key provided"), "{error}");
        assert!(!error.contains(KEY), "{error}");
    }
    // Nothing listening at all.
    let mut config = ModelConfig::new("fake-model");
    // A base URL may carry credentials of a proxy in front of the model: never shown.
    config.base_url = Some("http://proxy-user:S3cretPassw0rd@127.0.0.1:9/v1".into());
    config.api_key = Some(KEY.into());
    assert!(!format!("{config:?}").contains("S3cretPassw0rd"), "{config:?}");
    let agent = Agent::new(
        "t",
        Arc::new(Model::new(config).expect("model")),
        Arc::new(Toolbox::builder().server("local", tools(counters())).build()),
    );
    let error = agent.run("hi", None).await.expect_err("fails").to_string();
    assert!(error.contains("127.0.0.1:9") && !error.contains(KEY) && !error.contains("S3cretPassw0rd"), "{error}");
}

#[tokio::test]
async fn tool_lists_are_converted_once_and_again_when_they_change() {
    struct Changing(Mutex<ToolSet>);
    #[async_trait::async_trait]
    impl mcp_openai::ToolSource for Changing {
        async fn tools(&self) -> Result<Vec<mcp_core::protocol::Tool>, mcp_core::pipeline::CallError> {
            Ok(self.0.lock().expect("lock").iter().map(|t| t.definition().clone()).collect())
        }
    }
    #[async_trait::async_trait]
    impl mcp_core::pipeline::Endpoint for Changing {
        async fn call(
            &self,
            call: mcp_core::pipeline::ToolCall,
        ) -> Result<CallToolResult, mcp_core::pipeline::CallError> {
            let set = self.0.lock().expect("lock").clone();
            mcp_core::pipeline::Endpoint::call(&set, call).await
        }
    }
    let source = Arc::new(Changing(Mutex::new(tools(counters()))));
    let toolbox = Toolbox::builder().server("one", source.clone()).server("two", tools(counters())).build();
    let first = toolbox.function_tools().await;
    assert!(Arc::ptr_eq(&first, &toolbox.function_tools().await), "unchanged lists reuse the conversion");
    assert!(first.get("one__add").is_some() && first.get("two__add").is_some());
    let mut smaller = ToolSet::new();
    smaller.add(tool("only", "The only tool.", |_: Empty, _cx: ToolContext| async move {
        Ok::<_, ToolError>("x".to_owned())
    }));
    *source.0.lock().expect("lock") = smaller;
    let second = toolbox.function_tools().await;
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(second.get("one__only").is_some() && second.get("one__add").is_none());
}

/// The names of the spans opened on the calling thread from now on, as a function that reads
/// them. One subscriber records for the whole test binary: a subscriber set for one thread only
/// misses spans whose callsites tests on other threads registered first (the interest cache is
/// shared), and every test here runs on its own thread (a current-thread runtime).
fn spans_on_this_thread() -> impl Fn() -> Vec<String> {
    use tracing_subscriber::layer::SubscriberExt;
    type Seen = Mutex<Vec<(std::thread::ThreadId, String)>>;
    static SEEN: std::sync::OnceLock<Arc<Seen>> = std::sync::OnceLock::new();
    struct Record(Arc<Seen>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Record {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _id: &tracing::span::Id,
            _cx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let seen = (std::thread::current().id(), attrs.metadata().name().to_owned());
            self.0.lock().expect("lock").push(seen);
        }
    }
    let seen = SEEN
        .get_or_init(|| {
            let seen = Arc::new(Seen::default());
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Record(seen.clone())))
                .expect("the test binary's one subscriber");
            seen
        })
        .clone();
    let thread = std::thread::current().id();
    let from = seen.lock().expect("lock").len();
    move || seen.lock().expect("lock")[from..].iter().filter(|(t, _)| *t == thread).map(|(_, n)| n.clone()).collect()
}

#[tokio::test]
async fn spans_are_named_like_the_agents_sdk() {
    let names = spans_on_this_thread();
    let fake =
        FakeModel::start([Reply::calls([("add", json!({"a": 1, "b": 2}))]), Reply::text("3")]).await.expect("fake");
    finished(
        agent(&fake, Api::Chat, true, Toolbox::builder().server("local", tools(counters())).build())
            .run("add", None)
            .await
            .expect("run"),
    );
    let seen = names();
    for expected in ["agent", "turn", "mcp_tools", "generation", "function"] {
        assert!(seen.contains(&expected.to_owned()), "no `{expected}` span in {seen:?}");
    }
}

/// Against a live endpoint (`MCPTK_LIVE_MODEL` plus the usual `OPENAI_API_KEY` /
/// `OPENAI_BASE_URL`): `cargo test -- --ignored` with those set. No model endpoint can run here.
#[tokio::test]
#[ignore = "needs a live model endpoint: set MCPTK_LIVE_MODEL and OPENAI_API_KEY, run with --ignored"]
async fn a_live_model_uses_the_tools_when_configured() {
    let model = std::env::var("MCPTK_LIVE_MODEL").expect("MCPTK_LIVE_MODEL names the live model");
    let _key = std::env::var("OPENAI_API_KEY").expect("OPENAI_API_KEY holds its key");
    for api in [Api::Chat, Api::Responses] {
        let mut config = ModelConfig::new(model.clone());
        config.api = api;
        let toolbox = Toolbox::builder().server("local", tools(counters())).build();
        let mut agent = Agent::new("live", Arc::new(Model::new(config).expect("model")), Arc::new(toolbox));
        agent.instructions = Some("Use the add tool for arithmetic, then answer with the number only.".into());
        let (tx, rx) = mpsc::unbounded_channel();
        let (output, _) = finished(agent.run("What is 1234 + 4321?", Some(tx)).await.expect("run"));
        assert!(output.contains("5555"), "{api:?}: {output}");
        let events = collect(rx).await;
        assert!(events.iter().any(|e| matches!(e, Event::ToolStarted { name, .. } if name == "add")), "{api:?}");
    }
}

#[tokio::test]
async fn an_endpoint_that_ignores_stream_is_read_not_taken_for_an_empty_answer() {
    for api in [Api::Chat, Api::Responses] {
        // The first streamed request gets a plain JSON body (no events); the model asks again
        // without streaming, so the scripted tool call is played twice.
        let add = || Reply::calls([("add", json!({"a": 2, "b": 40}))]);
        let fake = FakeModel::start([add(), add(), Reply::text("The sum is 42.")]).await.expect("fake");
        fake.never_stream();
        let toolbox = Toolbox::builder().server("local", tools(counters())).build();
        let outcome = agent(&fake, api, true, toolbox).run("What is 2 + 40?", None).await.expect("run");
        assert_eq!(finished(outcome), ("The sum is 42.".to_owned(), 2), "{api:?}");
        let streamed: Vec<Value> = fake.seen().iter().map(|s| s.body["stream"].clone()).collect();
        assert_eq!(streamed, [json!(true), json!(false), json!(false)], "{api:?}: later turns stay unstreamed");
        assert_eq!(tool_outputs(&fake, 2), [("call_2_0".to_owned(), json!(r#"{"sum":42}"#))], "{api:?}");
    }
}

#[tokio::test]
async fn a_piped_source_is_validated_and_counted_once_per_call() {
    use mcp_core::pipeline::{ObserveLayer, PipelineTool, ValidateLayer};
    use tower_layer::Layer as _;
    struct Local(ToolSet);
    #[async_trait::async_trait]
    impl mcp_core::pipeline::Endpoint for Local {
        async fn call(
            &self,
            call: mcp_core::pipeline::ToolCall,
        ) -> Result<CallToolResult, mcp_core::pipeline::CallError> {
            Ok(self.0.call(&call.tool, call.arguments, call.context).await)
        }
    }
    // A server whose tools already run through a pipeline, as a gateway's do.
    let local = tools(counters());
    let endpoint = mcp_core::pipeline::endpoint(Arc::new(Local(local.clone())));
    let service = mcp_core::pipeline::boxed(ObserveLayer.layer(ValidateLayer::default().layer(endpoint)));
    let mut served = ToolSet::new();
    for tool in local.iter() {
        served.add(PipelineTool::new(
            tool.definition().name.clone(),
            "local",
            tool.definition().clone(),
            service.clone(),
        ));
    }
    let server =
        mcp_core::Server::builder(mcp_core::protocol::Implementation::new("gw", "1"), Default::default()).build();
    server.replace_tools(served);

    let spans = spans_on_this_thread();
    let fake =
        FakeModel::start([Reply::calls([("add", json!({"a": 1, "b": 2}))]), Reply::text("3")]).await.expect("fake");
    let toolbox = Toolbox::builder().piped_server("gateway", server).build();
    finished(agent(&fake, Api::Chat, false, toolbox).run("add", None).await.expect("run"));
    let calls = spans().iter().filter(|name| *name == "mcp.tool_call").count();
    assert_eq!(calls, 1, "one pipeline, one observed call");
}

/// An agent whose model reads answers of at most `max_answer_bytes` within `turn_timeout`.
fn bounded_agent(fake: &FakeModel, api: Api, stream: bool, max_answer_bytes: usize, turn_timeout: Duration) -> Agent {
    let mut config = config(fake, api, stream);
    config.max_answer_bytes = max_answer_bytes;
    config.turn_timeout = turn_timeout;
    let model = Arc::new(Model::new(config).expect("model"));
    Agent::new("t", model, Arc::new(Toolbox::builder().server("local", tools(counters())).build()))
}

/// An endpoint that streams text without end is cut off once the answer passes
/// `max_answer_bytes` (memory stays bounded), and one that trickles is given up at
/// `turn_timeout`; either way the run ends with an error naming the setting, in both APIs.
#[tokio::test]
async fn an_answer_without_end_is_cut_off_by_size_or_by_time() {
    for api in [Api::Chat, Api::Responses] {
        let flood = Reply::Endless { piece: 16 * 1024, every: Duration::ZERO };
        let trickle = Reply::Endless { piece: 8, every: Duration::from_millis(20) };
        let fake = FakeModel::start([flood, trickle]).await.expect("fake");
        let agent = bounded_agent(&fake, api, true, 1024 * 1024, Duration::from_secs(2));
        let flooded = agent.run("hi", None).await.expect_err("cut off").to_string();
        assert!(flooded.contains("passed 1048576 bytes") && flooded.contains("max_answer_bytes"), "{api:?}: {flooded}");
        let trickled = agent.run("hi", None).await.expect_err("given up").to_string();
        assert!(trickled.contains("within 2s (turn_timeout)"), "{api:?}: {trickled}");
    }
}

/// An answer is bounded as the client reads it, which follows the request, not the answer's
/// `Content-Type`: short events without end sent to a request that asked for no stream are read
/// as one body, and cut off as one. And a stream whose bytes are not UTF-8 (the client's parser
/// would hold them, and all that follows, unread) is dropped as soon as it is seen. Before, both
/// were read until `turn_timeout`, their memory without bound.
#[tokio::test]
async fn an_answer_is_bounded_as_the_request_reads_it() {
    for api in [Api::Chat, Api::Responses] {
        let flood = Reply::Endless { piece: 1024, every: Duration::ZERO };
        let fake = FakeModel::start([flood]).await.expect("fake");
        let agent = bounded_agent(&fake, api, false, 256 * 1024, Duration::from_secs(30));
        let error = agent.run("hi", None).await.expect_err("cut off").to_string();
        assert!(error.contains("passed 1572864 bytes in one piece"), "{api:?}: {error}");

        let fake = FakeModel::start([Reply::NotUtf8]).await.expect("fake");
        let agent = bounded_agent(&fake, api, true, 256 * 1024, Duration::from_secs(30));
        let error = agent.run("hi", None).await.expect_err("dropped").to_string();
        assert!(error.contains("streamed answer is not UTF-8"), "{api:?}: {error}");
    }
}

/// An answer of one piece without end (a JSON body, or one event of a stream, that never ends:
/// a base URL that leads to a download, a broken proxy) is cut off while it is read, before it
/// is parsed, once it passes twice `max_answer_bytes` and 1 MiB; the run ends with an error
/// naming the setting well before `turn_timeout`. Before, it was read whole until then.
#[tokio::test]
async fn an_answer_of_one_piece_without_end_is_cut_off_while_read() {
    for (api, stream) in COMBOS {
        let fake = FakeModel::start([Reply::Unbounded]).await.expect("fake");
        let agent = bounded_agent(&fake, api, stream, 256 * 1024, Duration::from_secs(30));
        let error = agent.run("hi", None).await.expect_err("cut off").to_string();
        assert!(
            error.contains("passed 1572864 bytes in one piece") && error.contains("max_answer_bytes"),
            "{api:?} stream={stream}: {error}"
        );
    }
}
