//! The tasks extension between our client and our server: a call that has to wait becomes a
//! task the client follows to its result, answers questions for, and can cancel; a crashing tool
//! fails its task and the server carries on; callers without the extension get plain results.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mcp_core::protocol::{ClientCapabilities, ErrorObject, Implementation, InputRequest, JsonObject, codes};
use mcp_core::tasks::EXTENSION;
use mcp_core::{Client, ClientOptions, Error, InputHandler, Registry, Server, ToolContext, ToolError, tool};
use serde_json::{Value, json};

#[derive(Debug)]
struct Confirms;

#[async_trait::async_trait]
impl InputHandler for Confirms {
    async fn elicit(&self, _params: JsonObject) -> Result<Value, ErrorObject> {
        Ok(json!({"action": "accept", "content": {"confirmed": true}}))
    }
}

fn execution(level: &str) -> JsonObject {
    json!({"taskSupport": level}).as_object().cloned().unwrap_or_default()
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.tool(
        tool("slow", "Sleeps `ms`, then answers", |a: JsonObject, _cx: ToolContext| async move {
            tokio::time::sleep(Duration::from_millis(a.get("ms").and_then(Value::as_u64).unwrap_or(50))).await;
            Ok::<_, ToolError>("done".to_owned())
        })
        .execution(execution("optional")),
    );
    r.tool(
        tool("confirm", "Asks, then answers", |_: JsonObject, cx: ToolContext| async move {
            tokio::task::yield_now().await;
            match cx.input_responses().and_then(|a| a.get("ok")) {
                Some(answer) => Ok::<_, ToolError>(format!("confirmed: {}", answer["content"]["confirmed"])),
                None => {
                    let ask = InputRequest {
                        method: "elicitation/create".into(),
                        params: json!({"message": "Sure?", "requestedSchema": {"type": "object", "properties": {"confirmed": {"type": "boolean"}}}}).as_object().cloned(),
                    };
                    Err(ToolError::input_required(BTreeMap::from([("ok".to_owned(), ask)]), None))
                }
            }
        })
        .execution(execution("optional")),
    );
    r.tool(
        tool("crash", "Panics inside its task", |_: JsonObject, _cx: ToolContext| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if std::env::var_os("MCPTK_NEVER_SET_THIS").is_none() {
                panic!("crashed on purpose");
            }
            Ok::<_, ToolError>(String::new())
        })
        .execution(execution("optional")),
    );
    r.tool(
        tool("only_task", "Runs only as a task", |_: JsonObject, _cx: ToolContext| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, ToolError>("as a task".to_owned())
        })
        .execution(execution("required")),
    );
    r
}

async fn client(server: &Server, with_tasks: bool) -> Client {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(server_read, server_write).await });
    let mut capabilities = ClientCapabilities::default().with_elicitation();
    if with_tasks {
        capabilities = capabilities.with_extension(EXTENSION);
    }
    let options = ClientOptions { capabilities, input: Some(Arc::new(Confirms)), ..ClientOptions::default() };
    let (read, write) = tokio::io::split(client_io);
    Client::connect("tasks", read, write, options).await.expect("connects")
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn calls_that_wait_become_tasks_the_client_follows() {
    let server = Server::builder(Implementation::new("tasks", "1"), registry()).build();
    let client = client(&server, true).await;
    let extensions = client.capabilities().extensions.clone().unwrap_or_default();
    assert!(extensions.contains_key(EXTENSION), "the server advertises the extension");

    // The raw exchange: a CreateTaskResult, then the result inlined on tasks/get.
    let created: Value =
        client.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 50}})).await.expect("call");
    assert_eq!(created["resultType"], "task", "{created}");
    assert_eq!(created["status"], "working");
    assert!(created["ttlMs"].as_u64().is_some() && created.get("requestState").is_none(), "{created}");
    let id = created["taskId"].as_str().expect("id").to_owned();
    let mut done = Value::Null;
    for _ in 0..100 {
        done = client.request("tasks/get", &json!({"taskId": id})).await.expect("get");
        if done["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done["result"]["content"][0]["text"], "done", "{done}");

    // The typed call follows the task by itself, answering questions on the way.
    assert_eq!(client.call_tool("slow", args(json!({"ms": 30}))).await.expect("slow").text_content(), "done");
    assert_eq!(
        client.call_tool("confirm", JsonObject::new()).await.expect("confirm").text_content(),
        "confirmed: true"
    );

    // A crashing tool fails its task with an internal error; the server carries on.
    match client.call_tool("crash", JsonObject::new()).await {
        Err(Error::Rpc { error, .. }) => assert_eq!(error.code, codes::INTERNAL_ERROR, "{error:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client.call_tool("only_task", JsonObject::new()).await.expect("after the crash").text_content(),
        "as a task"
    );

    // Cancelling a running task; the cancel is acknowledged and the status says so.
    let created: Value =
        client.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 10_000}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    let ack: Value = client.request("tasks/cancel", &json!({"taskId": id})).await.expect("cancel");
    assert_eq!(ack["resultType"], "complete");
    let state: Value = client.request("tasks/get", &json!({"taskId": id})).await.expect("get");
    assert_eq!(state["status"], "cancelled");
    let again: Value = client.request("tasks/cancel", &json!({"taskId": id})).await.expect("idempotent");
    assert_eq!(again["resultType"], "complete");
    let unknown = client.request::<_, Value>("tasks/get", &json!({"taskId": "nope"})).await;
    assert!(matches!(unknown, Err(Error::Rpc { ref error, .. }) if error.code == codes::INVALID_PARAMS), "{unknown:?}");
}

#[tokio::test]
async fn callers_without_the_extension_get_plain_results_or_a_clear_refusal() {
    let server = Server::builder(Implementation::new("tasks", "1"), registry()).build();
    let client = client(&server, false).await;
    let plain: Value =
        client.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 10}})).await.expect("call");
    assert_eq!(plain["resultType"], "complete", "{plain}");
    assert_eq!(plain["content"][0]["text"], "done");
    for refused in [
        client.request::<_, Value>("tools/call", &json!({"name": "only_task", "arguments": {}})).await,
        client.request::<_, Value>("tasks/get", &json!({"taskId": "x"})).await,
    ] {
        match refused {
            Err(Error::Rpc { error, .. }) => {
                assert_eq!(error.code, codes::MISSING_REQUIRED_CLIENT_CAPABILITY);
                assert_eq!(
                    error.data.as_ref().map(|d| d["requiredCapabilities"]["extensions"].clone()),
                    Some(json!({EXTENSION: {}}))
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn tasks_are_capped_and_finished_ones_make_room_first() {
    let server = Server::builder(Implementation::new("tasks", "1"), registry()).build();
    let client = client(&server, true).await;
    let long = json!({"name": "slow", "arguments": {"ms": 600_000}});
    let mut first = None;
    for _ in 0..mcp_core::tasks::MAX_TASKS {
        let created: Value = client.request("tools/call", &long).await.expect("call");
        assert_eq!(created["resultType"], "task", "{created}");
        first.get_or_insert_with(|| created["taskId"].as_str().unwrap_or_default().to_owned());
    }
    // Every task kept is running: one more is refused, as a tool error the caller can read.
    let refused: Value = client.request("tools/call", &long).await.expect("call");
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(refused["content"][0]["text"].as_str().is_some_and(|t| t.contains("tasks already")), "{refused}");
    // Once one has finished (here: cancelled), a new call takes its place.
    let first = first.expect("a task");
    let _: Value = client.request("tasks/cancel", &json!({"taskId": first})).await.expect("cancel");
    let created: Value = client.request("tools/call", &long).await.expect("call");
    assert_eq!(created["resultType"], "task", "{created}");
    let gone = client.request::<_, Value>("tasks/get", &json!({"taskId": first})).await.expect_err("forgotten");
    assert_eq!(gone.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS));
}

/// A task store in memory, standing in for the shared one (Redis in the gateway) between servers
/// in one process. `frozen` drops every save of one replica: as if its process had died.
#[derive(Default)]
struct MemoryStore {
    records: std::sync::Mutex<std::collections::HashMap<String, String>>,
    signals: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
}

struct Replica {
    store: Arc<MemoryStore>,
    frozen: std::sync::atomic::AtomicBool,
    /// Saves fail, as when the store is unreachable.
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl mcp_core::tasks::TaskStore for Replica {
    async fn save(&self, id: &str, record: String, _ttl: Duration) -> std::io::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("the store is unreachable"));
        }
        if !self.frozen.load(std::sync::atomic::Ordering::SeqCst) {
            self.store.records.lock().expect("lock").insert(id.to_owned(), record);
        }
        Ok(())
    }
    async fn load(&self, id: &str) -> std::io::Result<Option<String>> {
        Ok(self.store.records.lock().expect("lock").get(id).cloned())
    }
    async fn signal(&self, id: &str, signal: String, _ttl: Duration) -> std::io::Result<()> {
        self.store.signals.lock().expect("lock").entry(id.to_owned()).or_default().push(signal);
        Ok(())
    }
    async fn take_signals(&self, ids: &[&str]) -> std::io::Result<Vec<Vec<String>>> {
        let mut signals = self.store.signals.lock().expect("lock");
        Ok(ids.iter().map(|id| signals.remove(*id).unwrap_or_default()).collect())
    }
    fn heartbeat(&self) -> Duration {
        Duration::from_millis(100)
    }
}

fn replica(store: &Arc<MemoryStore>) -> (Server, Arc<Replica>) {
    let handle = Arc::new(Replica { store: store.clone(), frozen: false.into(), failing: false.into() });
    let server = Server::builder(Implementation::new("tasks", "1"), registry()).task_store(handle.clone()).build();
    (server, handle)
}

/// Polls `tasks/get` on `client` until the status is `want` (or fails after about 5 s).
async fn until_status(client: &Client, id: &str, want: &str) -> Value {
    let mut state = Value::Null;
    for _ in 0..250 {
        state = client.request("tasks/get", &json!({"taskId": id})).await.expect("get");
        if state["status"] == want {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} never reached `{want}`: {state}");
}

#[tokio::test]
async fn replicas_sharing_a_store_answer_for_each_others_tasks() {
    let store = Arc::new(MemoryStore::default());
    let (a, _) = replica(&store);
    let (b, _) = replica(&store);
    let (on_a, on_b) = (client(&a, true).await, client(&b, true).await);

    // Started on A, followed on B to its result.
    let created: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 300}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    let working: Value = on_b.request("tasks/get", &json!({"taskId": id})).await.expect("get on B");
    assert_eq!(working["status"], "working", "{working}");
    let done = until_status(&on_b, &id, "completed").await;
    assert_eq!(done["result"]["content"][0]["text"], "done", "{done}");

    // A question asked on A, answered on B, the answer reaching the tool on A.
    let created: Value = on_a.request("tools/call", &json!({"name": "confirm", "arguments": {}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    let asking = until_status(&on_b, &id, "input_required").await;
    assert!(asking["inputRequests"]["ok"].is_object(), "{asking}");
    let answer = json!({"taskId": id, "inputResponses": {"ok": {"action": "accept", "content": {"confirmed": true}}}});
    let _: Value = on_b.request("tasks/update", &answer).await.expect("update on B");
    let done = until_status(&on_a, &id, "completed").await;
    assert_eq!(done["result"]["content"][0]["text"], "confirmed: true", "{done}");

    // No task runs on A for a while, so its signal poller stops; the next task starts it again.
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Cancelled on B, stopped on A.
    let created: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 60_000}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    let _: Value = on_b.request("tasks/cancel", &json!({"taskId": id})).await.expect("cancel on B");
    let stopped = until_status(&on_a, &id, "cancelled").await;
    assert_eq!(stopped["statusMessage"], "cancelled by the client", "{stopped}");
    until_status(&on_b, &id, "cancelled").await;

    // An id nobody made is unknown on every replica.
    let unknown = on_b.request::<_, Value>("tasks/get", &json!({"taskId": "nope"})).await.expect_err("unknown");
    assert_eq!(unknown.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS));
}

#[tokio::test]
async fn a_task_is_only_its_principals_on_every_replica() {
    let store = Arc::new(MemoryStore::default());
    let (a, _) = replica(&store);
    let b = Server::builder(Implementation::new("tasks", "1"), registry())
        .principal("mallory")
        .task_store(Arc::new(Replica { store: store.clone(), frozen: false.into(), failing: false.into() }))
        .build();
    let on_a = client(&a, true).await;
    let as_mallory = client(&b, true).await;
    let created: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 60_000}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    for method in ["tasks/get", "tasks/cancel"] {
        let refused = as_mallory.request::<_, Value>(method, &json!({"taskId": id})).await.expect_err("not hers");
        assert_eq!(refused.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS), "{method}");
    }
    let still: Value = on_a.request("tasks/get", &json!({"taskId": id})).await.expect("get");
    assert_eq!(still["status"], "working", "{still}");
    // A forged signal in the shared store, naming another principal, is ignored by the owner.
    store
        .signals
        .lock()
        .expect("lock")
        .entry(id.clone())
        .or_default()
        .push(json!({"principal": "mallory", "cancel": true}).to_string());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let still: Value = on_a.request("tasks/get", &json!({"taskId": id})).await.expect("get");
    assert_eq!(still["status"], "working", "{still}");
}

#[tokio::test]
async fn a_task_whose_replica_stopped_fails_on_the_others() {
    let store = Arc::new(MemoryStore::default());
    let (a, a_store) = replica(&store);
    let (b, _) = replica(&store);
    let (on_a, on_b) = (client(&a, true).await, client(&b, true).await);
    let created: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 60_000}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    until_status(&on_b, &id, "working").await;
    // A's saves stop, as when its process is killed: after three heartbeats the task has failed.
    a_store.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = until_status(&on_b, &id, "failed").await;
    assert_eq!(failed["error"]["code"], codes::INTERNAL_ERROR, "{failed}");
    assert!(
        failed["error"]["message"].as_str().is_some_and(|m| m.contains("replica running this task stopped")),
        "{failed}"
    );
}

#[tokio::test]
async fn a_stopping_server_lets_tasks_finish_then_cancels_the_rest_for_every_replica_to_see() {
    let store = Arc::new(MemoryStore::default());
    let (a, _) = replica(&store);
    let (b, _) = replica(&store);
    let (on_a, on_b) = (client(&a, true).await, client(&b, true).await);
    let short: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 200}})).await.expect("call");
    let long: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 60_000}})).await.expect("call");
    // A stops with a grace of one second: the short task finishes, the long one is cancelled.
    a.finish_tasks(tokio::time::Instant::now() + Duration::from_secs(1)).await;
    let finished: Value = on_b.request("tasks/get", &json!({"taskId": short["taskId"]})).await.expect("get");
    assert_eq!(finished["status"], "completed", "{finished}");
    let cut: Value = on_b.request("tasks/get", &json!({"taskId": long["taskId"]})).await.expect("get");
    assert_eq!(cut["status"], "cancelled", "{cut}");
    assert!(cut["statusMessage"].as_str().is_some_and(|m| m.contains("server, which stopped")), "{cut}");
}

#[tokio::test]
async fn the_end_of_a_task_reaches_the_store_once_it_is_back() {
    let store = Arc::new(MemoryStore::default());
    let (a, a_store) = replica(&store);
    let (b, _) = replica(&store);
    let (on_a, on_b) = (client(&a, true).await, client(&b, true).await);
    let created: Value =
        on_a.request("tools/call", &json!({"name": "slow", "arguments": {"ms": 300}})).await.expect("call");
    let id = created["taskId"].as_str().expect("id").to_owned();
    // The store goes away while the task finishes, and comes back a little later.
    a_store.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    until_status(&on_a, &id, "completed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    a_store.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let done = until_status(&on_b, &id, "completed").await;
    assert_eq!(done["result"]["content"][0]["text"], "done", "{done}");
}
