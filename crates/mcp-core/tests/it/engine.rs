//! Our client against our server in one process, over in-memory pipes: concurrency, eras,
//! pagination, progress, cancellation, and the server's answers to bad input.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use mcp_core::protocol::{Era, Implementation, JsonObject, ProtocolVersion, codes};
use mcp_core::{
    CallEvent, Client, ClientOptions, EraPreference, Error, Registry, Server, StartState, ToolContext, ToolError, tool,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Sleep {
    ms: u64,
    tag: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

fn registry(cancel_seen: Arc<AtomicBool>) -> Registry {
    let mut registry = Registry::new();
    registry.tool(tool("sleep", "sleeps, then returns its tag", |a: Sleep, _cx: ToolContext| async move {
        tokio::time::sleep(Duration::from_millis(a.ms)).await;
        Ok::<_, ToolError>(a.tag)
    }));
    registry.tool(tool(
        "wait_for_cancel",
        "reports progress once, then waits to be cancelled",
        move |_: Nothing, cx: ToolContext| {
            let seen = cancel_seen.clone();
            async move {
                cx.progress(1.0, None, Some("started".into())).await;
                cx.cancelled().cancelled().await;
                seen.store(true, Ordering::SeqCst);
                Ok::<_, ToolError>(String::from("cancelled"))
            }
        },
    ));
    for n in 0..3 {
        registry.tool(tool(format!("filler_{n}"), "pads the list", |_: Nothing, _cx: ToolContext| async move {
            Ok::<_, ToolError>(String::new())
        }));
    }
    registry
}

async fn pair(options: ClientOptions, page_size: usize) -> (Client, Arc<AtomicBool>) {
    let seen = Arc::new(AtomicBool::new(false));
    let server =
        Server::builder(Implementation::new("test-server", "1.0"), registry(seen.clone())).page_size(page_size).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = Client::connect("test", client_read, client_write, options).await.expect("connects");
    (client, seen)
}

/// A client of `server` over in-memory pipes.
async fn connect_to(server: &Server, options: ClientOptions) -> mcp_core::Result<Client> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let server = server.clone();
    tokio::spawn(async move { server.serve(r, w).await });
    let (r, w) = tokio::io::split(client_io);
    Client::connect("test", r, w, options).await
}

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

#[tokio::test]
async fn eras_are_negotiated_both_ways() {
    let (modern, _) = pair(ClientOptions::default(), 100).await;
    assert_eq!(modern.protocol_version(), ProtocolVersion::V2026_07_28);
    assert_eq!(modern.era(), Era::Modern);
    assert_eq!(modern.server_info().map(|i| i.name.as_str()), Some("test-server"));

    let legacy_options = ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let (legacy, _) = pair(legacy_options, 100).await;
    assert_eq!(legacy.protocol_version(), ProtocolVersion::V2025_11_25);
    assert_eq!(legacy.era(), Era::Handshake);

    // Both eras see the same tools and results.
    for client in [&modern, &legacy] {
        assert_eq!(client.list_tools().await.expect("lists").len(), 5);
        let r = client.call_tool("sleep", args(json!({"ms": 1, "tag": "x"}))).await.expect("calls");
        assert_eq!(r.text_content(), "x");
    }
}

#[tokio::test]
async fn many_calls_in_flight_on_one_connection_complete_out_of_order() {
    let (client, _) = pair(ClientOptions::default(), 100).await;
    let calls = (0..64u64).map(|i| {
        let client = &client;
        async move {
            // Later calls sleep less, so answers come back in reverse order.
            let r = client.call_tool("sleep", args(json!({"ms": 64 - i, "tag": format!("call-{i}")}))).await;
            (i, r)
        }
    });
    for (i, result) in futures_util::future::join_all(calls).await {
        assert_eq!(result.expect("answered").text_content(), format!("call-{i}"));
    }
}

#[tokio::test]
async fn pagination_is_followed_to_the_end_and_bad_cursors_are_refused() {
    let (client, _) = pair(ClientOptions::default(), 2).await;
    let first = client.list_tools_page(None).await.expect("first page");
    assert_eq!(first.tools.len(), 2);
    assert!(first.next_cursor.is_some());
    let all = client.list_tools().await.expect("all pages");
    let names: Vec<_> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["sleep", "wait_for_cancel", "filler_0", "filler_1", "filler_2"]);

    let last = client.list_tools_page(Some("4".into())).await.expect("the last page");
    assert_eq!((last.tools.len(), last.next_cursor), (1, None));
    let end = client.list_tools_page(Some("5".into())).await.expect("the end is a valid offset");
    assert!(end.tools.is_empty() && end.next_cursor.is_none());

    for bad in ["not-a-cursor", "6", "-1"] {
        let err = client.list_tools_page(Some(bad.into())).await.expect_err("bad cursor");
        assert_eq!(err.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS), "{bad}: {err}");
    }
}

#[tokio::test]
async fn progress_streams_and_dropping_the_stream_cancels_the_call_on_the_server() {
    let (client, cancel_seen) = pair(ClientOptions::default(), 100).await;
    let mut stream = client.call_tool_stream("wait_for_cancel", JsonObject::new());
    match stream.next().await {
        Some(Ok(CallEvent::Progress(p))) => assert_eq!(p.message.as_deref(), Some("started")),
        other => panic!("expected progress first, got {other:?}"),
    }
    drop(stream);
    for _ in 0..100 {
        if cancel_seen.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the tool never saw the cancellation");
}

#[tokio::test]
async fn a_timeout_cancels_the_tool_on_the_server() {
    let options = ClientOptions { request_timeout: Duration::from_millis(200), ..ClientOptions::default() };
    let (client, cancel_seen) = pair(options, 100).await;
    let err = client.call_tool("wait_for_cancel", JsonObject::new()).await.expect_err("times out");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    for _ in 0..100 {
        if cancel_seen.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the tool never saw the cancellation");
}

#[tokio::test]
async fn unknown_methods_and_tools_are_protocol_errors_and_bad_arguments_are_tool_errors() {
    let (client, _) = pair(ClientOptions::default(), 100).await;
    let err = client.request::<_, Value>("bogus/method", &json!({})).await.expect_err("unknown");
    let rpc = err.rpc_error().expect("a JSON-RPC error");
    assert_eq!((rpc.code, rpc.message.as_str()), (codes::METHOD_NOT_FOUND, "method not found: bogus/method"));

    let err = client.call_tool("no_such_tool", JsonObject::new()).await.expect_err("unknown tool");
    assert_eq!(err.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS));

    let bad = client.call_tool("sleep", args(json!({"ms": "soon", "tag": "x"}))).await.expect("a result");
    assert!(bad.is_error());
    assert!(bad.text_content().contains("field `ms`"), "{}", bad.text_content());
}

/// Writes raw lines to a server and reads its raw answers.
async fn raw_exchange(lines: &[String], max_message_bytes: usize) -> Vec<Value> {
    let server = Server::builder(Implementation::new("raw", "1"), registry(Arc::default()))
        .max_message_bytes(max_message_bytes)
        .build();
    let (mut client_io, server_io) = tokio::io::duplex(1024 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let serving = tokio::spawn(async move { server.serve(r, w).await });
    let writer = {
        let payload: String = lines.iter().map(|l| format!("{l}\n")).collect();
        async move {
            client_io.write_all(payload.as_bytes()).await.expect("write");
            client_io.shutdown().await.expect("close our output");
            client_io
        }
    };
    let client_io = writer.await;
    let mut answers = Vec::new();
    let mut reader = BufReader::new(client_io).lines();
    while let Some(line) = reader.next_line().await.expect("read") {
        answers.push(serde_json::from_str(&line).expect("the server writes JSON"));
    }
    serving.await.expect("server task").expect("server ends cleanly");
    answers
}

#[tokio::test]
async fn the_server_answers_bad_input_and_keeps_serving() {
    let big = format!(r#"{{"jsonrpc":"2.0","id":99,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(4096));
    // The TypeScript SDK writes `id` last.
    let big_last = format!(r#"{{"method":"ping","params":{{"pad":"{}"}},"jsonrpc":"2.0","id":98}}"#, "x".repeat(4096));
    let big_unknown = format!(r#"{{"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(4096));
    // An oversized response is not answered either.
    let big_response = format!(r#"{{"jsonrpc":"2.0","id":76,"result":{{"pad":"{}"}}}}"#, "x".repeat(4096));
    let lines = [
        "this is not json".to_owned(),
        "[]".to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"bogus"}"#.to_owned(),
        r#"{"jsonrpc":"1.0","id":2,"method":"ping"}"#.to_owned(),
        big,
        big_last,
        big_unknown,
        big_response,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sleep","arguments":"nope"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"1999-01-01"}}}"#.to_owned(),
        // A malformed response is logged, never answered (a response to it would be answered in turn).
        r#"{"jsonrpc":"2.0","id":77,"error":{"code":"not a number"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#.to_owned(),
    ];
    let answers = raw_exchange(&lines, 1024).await;
    let find = |id: Value| answers.iter().find(|a| a["id"] == id).cloned().unwrap_or(Value::Null);
    let nulls: Vec<i64> =
        answers.iter().filter(|a| a["id"].is_null()).map(|a| a["error"]["code"].as_i64().unwrap_or(0)).collect();
    // Invalid JSON, a batch, and the oversized line whose ends show no id have no readable id;
    // the other oversized lines are answered with theirs, whether it comes first or last.
    assert_eq!(nulls, [codes::PARSE_ERROR, codes::INVALID_REQUEST, codes::INVALID_REQUEST], "{answers:#?}");
    for id in [99, 98] {
        let refused = find(json!(id));
        assert_eq!(refused["error"]["code"], codes::INVALID_REQUEST, "{answers:#?}");
        assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("exceeds the limit of 1024 bytes")));
    }
    assert!(
        answers.iter().any(|a| a["error"]["message"].as_str().is_some_and(|m| m.contains(
            "JSON-RPC batches belong to revision 2025-03-26 only (2025-06-18 removed them), and this server does not \
             accept them in any revision, 2025-03-26 included"
        ))),
        "a batch is refused as such, saying which revision had them: {answers:#?}"
    );
    assert_eq!(find(json!(1))["error"]["code"], codes::METHOD_NOT_FOUND);
    assert_eq!(find(json!(2))["error"]["code"], codes::INVALID_REQUEST);
    assert_eq!(find(json!(3))["error"]["code"], codes::INVALID_PARAMS);
    assert_eq!(find(json!(4))["error"]["code"], codes::UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(find(json!(4))["error"]["data"]["requested"], "1999-01-01");
    assert_eq!(find(json!(5))["result"], json!({}));
    assert_eq!(find(json!(77)), Value::Null, "{answers:#?}");
    assert_eq!(find(json!(76)), Value::Null, "{answers:#?}");
    assert_eq!(answers.len(), 10, "{answers:#?}");
}

#[tokio::test]
async fn initialize_negotiates_down_to_older_revisions_and_up_from_unknown_ones() {
    let init = |id: u32, version: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        )
    };
    let lines = [init(1, "2025-03-26"), init(2, "2025-06-18"), init(3, "2099-01-01"), init(4, "2026-07-28")];
    let answers = raw_exchange(&lines, 1 << 20).await;
    let chosen = |id: u32| {
        answers.iter().find(|a| a["id"] == id).map(|a| a["result"]["protocolVersion"].clone()).unwrap_or(Value::Null)
    };
    assert_eq!(chosen(1), "2025-03-26");
    assert_eq!(chosen(2), "2025-06-18");
    // An unknown or stateless-era revision in a handshake gets our newest handshake revision.
    assert_eq!(chosen(3), "2025-11-25");
    assert_eq!(chosen(4), "2025-11-25");
}

/// What a session keeps of its client is bounded: an `initialize` whose `clientInfo` or
/// `capabilities` is larger than a server keeps is refused with -32602 naming the field and the
/// limit (a thousand sessions of a megabyte each were a gigabyte held); icons, which a server
/// never shows and may be data URLs, are not kept, so a client with large ones still gets in.
#[tokio::test]
async fn initialize_params_larger_than_a_session_keeps_are_refused_and_icons_are_not_kept() {
    use mcp_core::server::{MAX_CLIENT_CAPABILITIES_BYTES, MAX_CLIENT_CAPABILITIES_VALUES, MAX_CLIENT_INFO_BYTES};
    let mut registry = Registry::new();
    registry.tool(tool("whoami", "the client as the server keeps it", |_: Nothing, cx: ToolContext| async move {
        Ok::<_, ToolError>(serde_json::to_string(&cx.client()).unwrap_or_default())
    }));
    let server = Server::builder(Implementation::new("bounded", "1"), registry).build();
    let exchange = |params: Value| {
        let server = server.clone();
        async move {
            let (client_io, server_io) = tokio::io::duplex(64 * 1024);
            let (r, w) = tokio::io::split(server_io);
            let serving = tokio::spawn(async move { server.serve(r, w).await });
            let (client_read, mut client_write) = tokio::io::split(client_io);
            let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params});
            let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami"}});
            let lines = format!("{init}\n{call}\n");
            let writing = tokio::spawn(async move {
                client_write.write_all(lines.as_bytes()).await.expect("writes");
                client_write.shutdown().await.expect("closes");
                client_write
            });
            let mut answers = Vec::new();
            let mut reader = BufReader::new(client_read).lines();
            while let Some(line) = reader.next_line().await.expect("reads") {
                answers.push(serde_json::from_str::<Value>(&line).expect("JSON"));
            }
            let _write_half = writing.await.expect("writer");
            serving.await.expect("server task").expect("serves");
            answers.sort_by_key(|a| a["id"].as_i64());
            answers
        }
    };
    let params = |client_info: Value, capabilities: Value| json!({"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": client_info});
    let refusal = |answers: &[Value]| answers[0]["error"].clone();

    // A megabyte of name.
    let answers = exchange(params(json!({"name": "x".repeat(1 << 20), "version": "1"}), json!({}))).await;
    let error = refusal(&answers);
    assert_eq!(error["code"], codes::INVALID_PARAMS, "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("`clientInfo`") && message.contains(&MAX_CLIENT_INFO_BYTES.to_string()), "{message}");

    // Capabilities too long, or made of too many values.
    let long = json!({"experimental": {"padding": {"text": "y".repeat(MAX_CLIENT_CAPABILITIES_BYTES)}}});
    let error = refusal(&exchange(params(json!({"name": "t", "version": "1"}), long)).await);
    let message = error["message"].as_str().unwrap_or_default();
    assert_eq!(error["code"], codes::INVALID_PARAMS, "{error}");
    assert!(message.contains("`capabilities`") && message.contains(&MAX_CLIENT_CAPABILITIES_BYTES.to_string()));
    let many: serde_json::Map<String, Value> =
        (0..MAX_CLIENT_CAPABILITIES_VALUES).map(|n| (format!("c{n}"), json!({}))).collect();
    let error = refusal(&exchange(params(json!({"name": "t", "version": "1"}), Value::Object(many))).await);
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("`capabilities`") && message.contains(&MAX_CLIENT_CAPABILITIES_VALUES.to_string()));

    // A client with a large icon, as a data URL, gets in; the icon is not kept, the rest is.
    let icon = format!("data:image/png;base64,{}", "A".repeat(256 * 1024));
    let info = json!({"name": "painter", "version": "2.0", "title": "Painter", "icons": [{"src": icon}]});
    let answers = exchange(params(info, json!({"roots": {"listChanged": true}}))).await;
    assert_eq!(answers[0]["result"]["protocolVersion"], "2025-11-25", "{}", answers[0]);
    let kept: Value =
        serde_json::from_str(answers[1]["result"]["content"][0]["text"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(kept, json!({"name": "painter", "version": "2.0", "title": "Painter"}));
}

fn linked_tools(registry: &mut Registry) {
    registry.tool(tool("linked_probe", "registered through inventory", |_: Nothing, _cx: ToolContext| async move {
        Ok::<_, ToolError>(String::from("linked"))
    }));
}

mcp_core::register!(linked_tools);

#[tokio::test]
async fn tools_registered_by_linked_code_are_collected() {
    let registry = Registry::linked();
    let result = registry.tools.call("linked_probe", JsonObject::new(), ToolContext::detached()).await;
    assert_eq!(result.text_content(), "linked");
}

#[derive(Debug)]
struct Answers;

#[async_trait::async_trait]
impl mcp_core::InputHandler for Answers {
    async fn elicit(&self, params: JsonObject) -> Result<Value, mcp_core::protocol::ErrorObject> {
        let question = params.get("message").and_then(Value::as_str).unwrap_or_default();
        Ok(json!({"action": "accept", "content": {"answer": format!("yes to {question}")}}))
    }
}

#[tokio::test]
async fn a_tool_can_ask_the_client_when_it_declared_the_capability() {
    let mut registry = Registry::new();
    registry.tool(tool("ask", "asks the user", |_: Nothing, cx: ToolContext| async move {
        let answer = cx
            .request_client(
                "elicitation/create",
                json!({"message": "deploy?", "requestedSchema": {"type": "object"}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                Duration::from_secs(5),
            )
            .await?;
        Ok::<_, ToolError>(answer["content"]["answer"].as_str().unwrap_or_default().to_owned())
    }));
    let server = Server::builder(Implementation::new("asker", "1"), registry).build();
    let connect = |options: ClientOptions| async { connect_to(&server, options).await.expect("connects") };
    let capable = ClientOptions {
        era: EraPreference::Handshake,
        capabilities: mcp_core::protocol::ClientCapabilities::default().with_elicitation(),
        input: Some(std::sync::Arc::new(Answers)),
        ..ClientOptions::default()
    };
    let client = connect(capable).await;
    let result = client.call_tool("ask", JsonObject::new()).await.expect("a result");
    assert_eq!(result.text_content(), "yes to deploy?");

    let plain = connect(ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() }).await;
    let refused = plain.call_tool("ask", JsonObject::new()).await.expect_err("a protocol error");
    let error = refused.rpc_error().expect("JSON-RPC error");
    assert_eq!(error.code, codes::MISSING_REQUIRED_CLIENT_CAPABILITY, "{refused}");
    assert_eq!(error.data.as_ref().map(|d| d["requiredCapabilities"].clone()), Some(json!({"elicitation": {}})));
}

#[tokio::test]
async fn subscribed_clients_hear_of_resource_updates_until_they_unsubscribe() {
    let mut registry = Registry::new();
    registry.resource(mcp_core::registry::TextResource::new("test://watched", "watched", "text/plain", "v1"));
    let server = Server::builder(Implementation::new("watcher", "1"), registry).resource_updates(true).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(r, w).await });
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let (r, w) = tokio::io::split(client_io);
    let options =
        ClientOptions { era: EraPreference::Handshake, notifications: Some(notes_tx), ..ClientOptions::default() };
    let client = Client::connect("watcher", r, w, options).await.expect("connects");
    assert_eq!(client.capabilities().resources.as_ref().and_then(|r| r.subscribe), Some(true));

    let _: Value = client.request("resources/subscribe", &json!({"uri": "test://watched"})).await.expect("subscribes");
    server.notify_resource_updated("test://other");
    server.notify_resource_updated("test://watched");
    let note =
        tokio::time::timeout(Duration::from_secs(5), notes.recv()).await.expect("in time").expect("a notification");
    assert_eq!(
        (note.method.as_str(), note.params.as_ref().map(|p| p["uri"].clone())),
        ("notifications/resources/updated", Some(json!("test://watched")))
    );

    let _: Value =
        client.request("resources/unsubscribe", &json!({"uri": "test://watched"})).await.expect("unsubscribes");
    server.notify_resource_updated("test://watched");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), notes.recv()).await.is_err(),
        "no updates after unsubscribing"
    );
}

#[tokio::test]
async fn input_required_results_are_answered_and_retried_in_the_stateless_era() {
    let mut registry = Registry::new();
    registry.tool(tool("greet", "asks for a name first", |_: Nothing, cx: ToolContext| async move {
        if let Some(token) = cx.request_state() {
            assert_eq!(cx.open_state(token)?, "asked-name");
        }
        match cx.input_responses().and_then(|a| a.get("who")) {
            Some(answer) => {
                Ok::<_, ToolError>(format!("Hello, {}!", answer["content"]["answer"].as_str().unwrap_or("?")))
            }
            None => {
                let params = json!({"message": "name?", "requestedSchema": {"type": "object"}}).as_object().cloned();
                let request = mcp_core::protocol::InputRequest { method: "elicitation/create".into(), params };
                Err(ToolError::input_required(
                    [("who".to_owned(), request)].into_iter().collect(),
                    Some(cx.seal_state("asked-name")),
                ))
            }
        }
    }));
    let server = Server::builder(Implementation::new("asker", "1"), registry).build();
    let connect = |options: ClientOptions| {
        let server = server.clone();
        async move {
            let (client_io, server_io) = tokio::io::duplex(64 * 1024);
            let (r, w) = tokio::io::split(server_io);
            tokio::spawn(async move { server.serve(r, w).await });
            let (r, w) = tokio::io::split(client_io);
            Client::connect("asker", r, w, options).await.expect("connects")
        }
    };
    let answering = ClientOptions { input: Some(std::sync::Arc::new(Answers)), ..ClientOptions::default() };
    let client = connect(answering).await;
    assert_eq!(client.era(), Era::Modern);
    let result = client.call_tool("greet", JsonObject::new()).await.expect("a result after one round");
    assert_eq!(result.text_content(), "Hello, yes to name?!");

    // Without a handler the question reaches the caller; a forged state is refused with -32602.
    let plain = connect(ClientOptions::default()).await;
    let Err(Error::InputRequired { result, .. }) = plain.call_tool("greet", JsonObject::new()).await else {
        panic!("expected an input-required result")
    };
    assert!(result.input_requests.as_ref().is_some_and(|r| r.contains_key("who")));
    let mut forged = mcp_core::protocol::CallToolParams::new("greet", None);
    forged.input_responses =
        Some(json!({"who": {"action": "accept", "content": {"answer": "x"}}}).as_object().cloned().unwrap_or_default());
    forged.request_state = Some("0000000000000000.61736b65642d6e616d65".into());
    let err = plain.request::<_, Value>("tools/call", &forged).await.expect_err("forged state");
    assert_eq!(err.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS), "{err}");
}

async fn next_note(
    notes: &mut tokio::sync::mpsc::UnboundedReceiver<mcp_core::protocol::Notification>,
) -> Option<mcp_core::protocol::Notification> {
    tokio::time::timeout(Duration::from_secs(5), notes.recv()).await.ok().flatten()
}

/// `subscriptions/listen` (`2026-07-28`): a client that wants notifications opens a stream by
/// itself; the stream is acknowledged first, then carries only what was asked for, each
/// notification tagged with the stream's id, and nothing reaches a stateless client outside it.
#[tokio::test]
async fn a_listen_stream_acknowledges_then_delivers_only_what_was_asked_for() {
    let seen = Arc::new(AtomicBool::new(false));
    let server = Server::builder(Implementation::new("test-server", "1.0"), registry(seen)).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(server_read, server_write).await });
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let options = ClientOptions { notifications: Some(notes_tx), ..ClientOptions::default() };
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = Arc::new(Client::connect("test", client_read, client_write, options).await.expect("connects"));
    assert_eq!(client.era(), Era::Modern);

    // The client's own stream (of tool changes) is acknowledged to it, not to its caller. A
    // second stream, asked for by hand, only for prompt changes: this server has no prompts, so
    // nothing is honored, and a tool change must not reach it.
    let listener = client.clone();
    let narrow = tokio::spawn(async move {
        listener
            .request::<_, Value>("subscriptions/listen", &json!({"notifications": {"promptsListChanged": true}}))
            .await
    });
    let ack = next_note(&mut notes).await.expect("the second stream is acknowledged");
    assert_eq!(ack.method, "notifications/subscriptions/acknowledged");
    let params = ack.params.clone().unwrap_or_default();
    assert_eq!(params["notifications"], json!({}));
    let narrow_id = params["_meta"]["io.modelcontextprotocol/subscriptionId"].clone();

    server.replace_tools(registry(Arc::default()).tools);
    let change = next_note(&mut notes).await.expect("the change");
    assert_eq!(change.method, "notifications/tools/list_changed");
    let id = change.params.unwrap_or_default()["_meta"]["io.modelcontextprotocol/subscriptionId"].clone();
    assert!(!id.is_null() && id != narrow_id, "tagged with the client's own stream: {id}");
    // Exactly one: none on the prompts-only stream, none untagged outside any stream.
    let extra = tokio::time::timeout(Duration::from_millis(300), notes.recv()).await;
    assert!(extra.is_err(), "unexpected notification: {extra:?}");
    narrow.abort();

    // The handshake era has no such method.
    let legacy_options = ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let (legacy, _) = pair(legacy_options, 100).await;
    let refused = legacy.request::<_, Value>("subscriptions/listen", &json!({"notifications": {}})).await;
    assert!(
        matches!(refused, Err(Error::Rpc { ref error, .. }) if error.code == codes::METHOD_NOT_FOUND),
        "{refused:?}"
    );
}

/// Tools whose output is not an object (any value, an array) and whose input schema has a
/// boolean property schema: legal in `2026-07-28`, rejected by every handshake-era client unless
/// the server reshapes them.
fn loose_schemas() -> Registry {
    let mut registry = Registry::new();
    registry.tool(
        tool("anything", "returns any JSON value", |_: Nothing, _cx: ToolContext| async move {
            Ok::<_, ToolError>(mcp_core::Json(json!(["a", "b"])))
        })
        .input_schema(args(json!({"properties": {"x": true, "y": false}}))),
    );
    registry.tool(tool("object", "returns an object", |_: Nothing, _cx: ToolContext| async move {
        Ok::<_, ToolError>(mcp_core::Json(json!({"ok": true})))
    }));
    registry
}

async fn loose_pair(era: EraPreference) -> Client {
    let server = Server::builder(Implementation::new("loose", "1.0"), loose_schemas()).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, client_write) = tokio::io::split(client_io);
    let options = ClientOptions { era, ..ClientOptions::default() };
    Client::connect("test", client_read, client_write, options).await.expect("connects")
}

#[tokio::test]
async fn handshake_era_lists_only_object_schemas_and_object_structured_content() {
    let legacy = loose_pair(EraPreference::Handshake).await;
    let tools = legacy.list_tools().await.expect("lists");
    let anything = tools.iter().find(|t| t.name == "anything").expect("listed");
    assert_eq!(anything.input_schema["type"], "object");
    assert_eq!(anything.input_schema["properties"], json!({"x": {}, "y": {"not": {}}}));
    assert_eq!(anything.output_schema, None, "a non-object output has no schema in this era");
    let object = tools.iter().find(|t| t.name == "object").expect("listed");
    assert!(object.output_schema.is_none(), "serde_json::Value declares no object type");
    let result = legacy.call_tool("anything", JsonObject::new()).await.expect("calls");
    assert_eq!(result.structured_content, None);
    assert_eq!(result.text_content(), r#"["a","b"]"#);

    let modern = loose_pair(EraPreference::Auto).await;
    let tools = modern.list_tools().await.expect("lists");
    let anything = tools.iter().find(|t| t.name == "anything").expect("listed");
    assert_eq!(anything.input_schema["type"], "object", "input schemas are objects in every era");
    assert!(anything.output_schema.is_some(), "any output schema is allowed in 2026-07-28");
    let result = modern.call_tool("anything", JsonObject::new()).await.expect("calls");
    assert_eq!(result.structured_content, Some(json!(["a", "b"])));
}

#[tokio::test]
async fn a_tool_that_panics_fails_its_call_and_the_connection_keeps_serving() {
    let mut registry = Registry::new();
    registry.tool(tool("explode", "panics", |_: Nothing, _cx: ToolContext| async move {
        if true {
            panic!("boom at step 3");
        }
        Ok::<_, ToolError>(String::new())
    }));
    registry.tool(tool("fine", "answers", |_: Nothing, _cx: ToolContext| async move {
        Ok::<_, ToolError>(String::from("still here"))
    }));
    let server = Server::builder(Implementation::new("panicky", "1.0"), registry).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = Client::connect("test", client_read, client_write, ClientOptions::default()).await.expect("connects");
    let result = client.call_tool("explode", JsonObject::new()).await.expect("an answer, not a lost request");
    assert!(result.is_error());
    assert_eq!(result.text_content(), "the tool `explode` failed unexpectedly: boom at step 3");
    let after = client.call_tool("fine", JsonObject::new()).await.expect("still serving");
    assert_eq!(after.text_content(), "still here");
}

#[tokio::test]
async fn a_peer_that_sends_and_never_reads_is_no_longer_read_from() {
    let server =
        Server::builder(Implementation::new("bounded", "1.0"), registry(Arc::default())).max_in_flight(8).build();
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, mut client_write) = tokio::io::split(client_io);
    // 20,000 pipelined requests (about 1.5 MB, with answers about 30 times larger): without
    // backpressure the server would read them all and hold every answer in memory.
    const REQUESTS: usize = 20_000;
    let mut lines = Vec::new();
    lines.extend_from_slice(
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    lines.push(b'\n');
    for id in 1..=REQUESTS {
        lines.extend_from_slice(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#).as_bytes());
        lines.push(b'\n');
    }
    let writer = tokio::spawn(async move {
        client_write.write_all(&lines).await.expect("writes");
        client_write
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!writer.is_finished(), "the server must stop reading a peer that does not read its answers");

    // Once the peer reads, every request is answered, in full.
    let mut reader = BufReader::new(client_read).lines();
    let mut answered = 0;
    while answered <= REQUESTS {
        let line = tokio::time::timeout(Duration::from_secs(30), reader.next_line())
            .await
            .expect("answers keep coming")
            .expect("reads")
            .expect("a line");
        let answer: Value = serde_json::from_str(&line).expect("JSON");
        assert!(answer.get("result").is_some(), "{answer}");
        answered += 1;
    }
    let _writer = writer.await.expect("the writer finishes once answers are read");
}

/// A peer that ends its input and then reads nothing keeps its end of the output open: the
/// answers queued for it are dropped once the writer has gone 10 s without writing any, and the
/// connection ends (a server's shutdown waited for it forever).
#[tokio::test(start_paused = true)]
async fn a_peer_that_ends_its_input_and_reads_nothing_does_not_hold_the_connection_open() {
    let server = Server::builder(Implementation::new("ending", "1.0"), registry(Arc::default())).build();
    let (client_io, server_io) = tokio::io::duplex(16 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let serving = tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, mut client_write) = tokio::io::split(client_io);
    let mut lines = Vec::new();
    lines.extend_from_slice(
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    lines.push(b'\n');
    for id in 1..=200 {
        lines.extend_from_slice(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#).as_bytes());
        lines.push(b'\n');
    }
    client_write.write_all(&lines).await.expect("writes");
    client_write.shutdown().await.expect("ends its input");
    let served = tokio::time::timeout(Duration::from_secs(120), serving).await;
    assert!(served.is_ok(), "the connection still waits to write to a peer that reads nothing");
    drop(client_read);
}

#[tokio::test]
async fn capabilities_are_declared_only_where_they_work() {
    // A plain server: no completer, no resource updates.
    let (client, _) = pair(ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() }, 100).await;
    assert!(client.capabilities().completions.is_none(), "no completer, no completions");
    let params = json!({"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "x"}});
    let refused = client.request::<_, Value>("completion/complete", &params).await.expect_err("not offered");
    assert_eq!(refused.rpc_error().map(|e| e.code), Some(codes::METHOD_NOT_FOUND));
    let refused = client.request::<_, Value>("resources/subscribe", &json!({"uri": "x://y"})).await;
    assert_eq!(refused.expect_err("not offered").rpc_error().map(|e| e.code), Some(codes::METHOD_NOT_FOUND));

    // With a completer and resource updates, both are declared and answered.
    // Asynchronous, told who asks; past 100 values the answer is cut to 100 and says there are more.
    let completer: mcp_core::Completer =
        Arc::new(|p: mcp_core::protocol::CompleteParams, cx: mcp_core::ToolContext| {
            Box::pin(async move {
                tokio::task::yield_now().await;
                let who = cx.principal().unwrap_or("nobody").to_owned();
                let count = if p.argument.value == "many" { 150 } else { 1 };
                let values = (0..count).map(|i| format!("{}-done-{i}-for-{who}", p.argument.value)).collect();
                // Past the protocol's bound (`Completion::new` would cut them).
                let mut completion = mcp_core::protocol::Completion::new(Vec::new());
                (completion.values, completion.total, completion.has_more) = (values, None, None);
                Ok(completion)
            })
        });
    let server = Server::builder(Implementation::new("full", "1.0"), registry(Arc::default()))
        .completions(completer)
        .resource_updates(true)
        .build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, client_write) = tokio::io::split(client_io);
    let options = ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let client = Client::connect("test", client_read, client_write, options).await.expect("connects");
    assert!(client.capabilities().completions.is_some());
    let params = json!({"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "x"}});
    let answer: Value = client.request("completion/complete", &params).await.expect("answered");
    assert_eq!(answer["completion"]["values"], json!(["x-done-0-for-stdio"]));
    assert_eq!(answer["completion"].get("hasMore"), None);
    let params = json!({"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "many"}});
    let answer: Value = client.request("completion/complete", &params).await.expect("answered");
    let values = answer["completion"]["values"].as_array().expect("values");
    assert_eq!((values.len(), &values[99]), (100, &json!("many-done-99-for-stdio")));
    assert_eq!(answer["completion"]["hasMore"], json!(true), "{answer}");
}

#[tokio::test]
async fn log_messages_below_the_level_a_client_set_are_not_sent() {
    let mut registry = Registry::new();
    registry.tool(tool("chatty", "logs at two levels", |_: Nothing, cx: ToolContext| async move {
        cx.log(mcp_core::protocol::LoggingLevel::Debug, None, json!("debug detail")).await;
        cx.log(mcp_core::protocol::LoggingLevel::Warning, None, json!("a warning")).await;
        Ok::<_, ToolError>(String::from("done"))
    }));
    let server = Server::builder(Implementation::new("logs", "1.0"), registry).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, mut client_write) = tokio::io::split(client_io);
    let mut lines = BufReader::new(client_read).lines();
    let send = |line: String| line + "\n";
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    client_write.write_all(send(init.to_owned()).as_bytes()).await.expect("writes");
    lines.next_line().await.expect("reads").expect("initialized");
    let level = r#"{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"warning"}}"#;
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"chatty","arguments":{}}}"#;
    client_write.write_all(send(level.to_owned()).as_bytes()).await.expect("writes");
    lines.next_line().await.expect("reads").expect("level set");
    client_write.write_all(send(call.to_owned()).as_bytes()).await.expect("writes");
    let mut logged = Vec::new();
    loop {
        let line = lines.next_line().await.expect("reads").expect("a line");
        let message: Value = serde_json::from_str(&line).expect("JSON");
        if message["id"] == 3 {
            break;
        }
        logged.push(message["params"]["data"].clone());
    }
    assert_eq!(logged, [json!("a warning")]);
}

#[tokio::test]
async fn a_dropped_call_leaves_no_progress_route_behind() {
    let (client, _) = pair(ClientOptions::default(), 100).await;
    let mut events = client.call_tool_stream("wait_for_cancel", JsonObject::new());
    let first = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("progress arrives");
    assert!(matches!(first, Some(Ok(CallEvent::Progress(_)))), "{first:?}");
    assert_eq!(client.progress_routes(), 1);
    drop(events);
    assert_eq!(client.progress_routes(), 0, "the abandoned call's route is gone");
    // A call that finishes removes its route too.
    client.call_tool("sleep", args(json!({"ms": 1, "tag": "t"}))).await.expect("result");
    assert_eq!(client.progress_routes(), 0);
}

/// A server built `starting` answers the handshake (or discovery) and ping at once, and holds
/// every other request until it is marked ready: a list then holds the tools set meanwhile (no
/// client was told of a change, none had a list), and a held call its client gave up on never
/// runs.
#[tokio::test]
async fn a_starting_server_answers_the_handshake_at_once_and_holds_the_rest_until_ready() {
    for era in [EraPreference::Handshake, EraPreference::Modern] {
        let ran = Arc::new(AtomicBool::new(false));
        let mut registry = Registry::new();
        let flag = ran.clone();
        registry.tool(tool("mark", "records that it ran", move |_: Nothing, _cx: ToolContext| {
            let flag = flag.clone();
            async move {
                flag.store(true, Ordering::SeqCst);
                Ok::<_, ToolError>(String::new())
            }
        }));
        let server = Server::builder(Implementation::new("starting", "1"), Registry::new()).starting().build();
        let connect = |options: ClientOptions| {
            let options = ClientOptions { era, connect_timeout: Duration::from_secs(5), ..options };
            let server = &server;
            async move { connect_to(server, options).await.expect("the handshake is answered while starting") }
        };
        let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
        let client =
            Arc::new(connect(ClientOptions { notifications: Some(notes_tx), ..ClientOptions::default() }).await);
        if era == EraPreference::Handshake {
            client.ping().await.expect("ping is answered while starting");
            let level = json!({"level": "warning"});
            client.request::<_, Value>("logging/setLevel", &level).await.expect("setLevel is answered while starting");
        }
        let impatient =
            connect(ClientOptions { request_timeout: Duration::from_millis(200), ..ClientOptions::default() }).await;
        let gave_up = impatient.call_tool("mark", JsonObject::new()).await;
        assert!(matches!(gave_up, Err(Error::Timeout { .. })), "{era:?}: {gave_up:?}");

        let listing = tokio::spawn({
            let client = client.clone();
            async move { client.list_tools().await }
        });
        server.replace_tools(registry.tools);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!listing.is_finished(), "{era:?}: a list is held while the server starts");
        assert_eq!(server.start_state(), StartState::Starting);

        server.mark_ready();
        let names: Vec<String> = listing.await.expect("joins").expect("lists").into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["mark"], "{era:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!ran.load(Ordering::SeqCst), "{era:?}: the call given up on while held never ran");
        client.call_tool("mark", JsonObject::new()).await.expect("calls once ready");
        assert!(ran.load(Ordering::SeqCst));
        // (Only handshake-era connections are sent list changes on stdio: the check is theirs.)
        while let Ok(note) = notes.try_recv() {
            assert_ne!(note.method, mcp_core::protocol::methods::TOOLS_LIST_CHANGED, "{era:?}: nobody had a list");
        }
    }
}

/// A start given up (the server stops first) ends the requests it held with an error that says
/// so, and refuses those that would have waited; the rest is answered as before.
#[tokio::test]
async fn a_start_given_up_answers_held_requests_with_an_error() {
    let server = Server::builder(Implementation::new("starting", "1"), registry(Arc::default())).starting().build();
    let options = ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let client = Arc::new(connect_to(&server, options).await.expect("the handshake is answered while starting"));
    let listing = tokio::spawn({
        let client = client.clone();
        async move { client.list_tools().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!listing.is_finished());
    server.abandon_start();
    server.mark_ready();
    assert_eq!(server.start_state(), StartState::Abandoned, "a start ends once");
    for listed in [listing.await.expect("joins"), client.list_tools().await] {
        let error = listed.expect_err("no list");
        assert!(
            error.to_string().contains("the server gave up its start (it is stopping, or its start failed)"),
            "{error}"
        );
    }
    client.ping().await.expect("ping is answered");
    let unknown = client.request::<_, Value>("no/such/method", &json!({})).await.expect_err("not found");
    assert!(unknown.to_string().contains("no/such/method"), "{unknown}");
}

/// A script that sends its requests to a starting server and closes its output at once gets
/// every answer: requests held for the start have not begun their work, so the grace an ended
/// input gives work in progress (10 s) counts from the start's end, however long it took.
#[tokio::test(start_paused = true)]
async fn requests_held_for_the_start_are_answered_after_the_input_ends() {
    let server = Server::builder(Implementation::new("starting", "1"), registry(Arc::default())).starting().build();
    let (mut client_io, server_io) = tokio::io::duplex(1024 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve(r, w).await }
    });
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "script", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "sleep", "arguments": {"ms": 5, "tag": "late"}}}),
    ];
    let payload: String = lines.iter().map(|l| format!("{l}\n")).collect();
    client_io.write_all(payload.as_bytes()).await.expect("write");
    client_io.shutdown().await.expect("close our output");

    // Well past the drain grace (time is paused: this costs nothing), then the start ends.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!serving.is_finished(), "the connection waits for the start with requests held");
    server.mark_ready();

    let mut answers = Vec::new();
    let mut reader = BufReader::new(client_io).lines();
    while let Some(line) = reader.next_line().await.expect("read") {
        answers.push(serde_json::from_str::<Value>(&line).expect("the server writes JSON"));
    }
    serving.await.expect("server task").expect("server ends cleanly");
    let ids: Vec<i64> = answers.iter().map(|a| a["id"].as_i64().expect("an answer")).collect();
    assert_eq!(ids.len(), 3, "{answers:?}");
    let listed = answers.iter().find(|a| a["id"] == 2).expect("the list is answered");
    let names: Vec<&str> =
        listed["result"]["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"sleep"), "{listed}");
    let called = answers.iter().find(|a| a["id"] == 3).expect("the call is answered");
    assert_eq!(called["result"]["content"][0]["text"], "late", "{called}");
}

/// A provider that records what it is told of subscriptions, and refuses those to `x://secret`.
#[derive(Default, Clone)]
struct Watched {
    events: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl mcp_core::registry::ResourceProvider for Watched {
    fn resources(&self) -> Vec<mcp_core::protocol::Resource> {
        Vec::new()
    }

    async fn read(&self, _uri: &str) -> Option<Result<Vec<mcp_core::protocol::ResourceContents>, ToolError>> {
        None
    }

    async fn subscribe(&self, uri: &str, cx: &ToolContext) -> Option<Result<(), ToolError>> {
        let who = cx.principal().unwrap_or_default();
        self.events.lock().expect("events").push(format!("subscribe {uri} by {who}"));
        Some(if uri == "x://secret" { Err(ToolError::invalid_params("not for you")) } else { Ok(()) })
    }

    fn unsubscribed(&self, uri: &str) {
        self.events.lock().expect("events").push(format!("unsubscribed {uri}"));
    }
}

#[tokio::test]
async fn resource_providers_admit_subscriptions_and_hear_when_the_last_one_ends() {
    let watched = Watched::default();
    let mut registry = Registry::new();
    registry.resource(watched.clone());
    let server = Server::builder(Implementation::new("watched", "1.0"), registry).resource_updates(true).build();
    let handshake = || ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let (a, b) =
        (connect_to(&server, handshake()).await.expect("a"), connect_to(&server, handshake()).await.expect("b"));
    async fn subscribe(client: &Client, method: &str, uri: &str) -> mcp_core::Result<Value> {
        client.request::<_, Value>(method, &json!({"uri": uri})).await
    }
    let events = || std::mem::take(&mut *watched.events.lock().expect("events"));

    subscribe(&a, "resources/subscribe", "x://shared").await.expect("taken");
    subscribe(&a, "resources/subscribe", "x://shared").await.expect("taken again, asked once");
    subscribe(&b, "resources/subscribe", "x://shared").await.expect("taken");
    let refused = subscribe(&a, "resources/subscribe", "x://secret").await.expect_err("refused");
    assert_eq!(refused.rpc_error().map(|e| e.code), Some(codes::INVALID_PARAMS), "{refused}");
    assert!(refused.to_string().contains("not for you"), "{refused}");
    // (A subscription is counted while it is asked: the refused one was the last of its URI.)
    let asked = ["subscribe x://shared by stdio", "subscribe x://shared by stdio", "subscribe x://secret by stdio"];
    assert_eq!(events(), [&asked[..], &["unsubscribed x://secret"]].concat());
    // A refused subscription is not held: unsubscribing it tells nobody anything.
    subscribe(&a, "resources/unsubscribe", "x://secret").await.expect("nothing to end");
    // One of two holders lets go: still held. The other's connection ends: the last one.
    subscribe(&a, "resources/unsubscribe", "x://shared").await.expect("ended");
    assert_eq!(events(), Vec::<String>::new());
    b.close().await.expect("closes");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = events();
    }
    assert_eq!(seen, ["unsubscribed x://shared"]);

    // A client holds a bounded number of subscriptions.
    for n in 0..256 {
        subscribe(&a, "resources/subscribe", &format!("x://{n}")).await.expect("taken");
    }
    let refused = subscribe(&a, "resources/subscribe", "x://one-too-many").await.expect_err("refused");
    assert!(refused.to_string().contains("at most 256 subscriptions"), "{refused}");
    subscribe(&a, "resources/subscribe", "x://7").await.expect("one it holds is no new one");
    events();
    a.close().await.expect("closes");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut released = Vec::new();
    while released.len() < 256 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        released.extend(events());
    }
    assert_eq!(released.len(), 256, "every one let go with the connection");
}

/// A listen stream holds at most 256 resources; one refused takes no room from those named after
/// it.
#[tokio::test]
async fn a_listen_stream_holds_256_resources_and_one_refused_takes_no_room() {
    let mut registry = Registry::new();
    registry.resource(Watched::default());
    let server = Server::builder(Implementation::new("watched", "1.0"), registry).resource_updates(true).build();
    let client = connect_to(&server, ClientOptions::default()).await.expect("connects");
    let mut uris = vec!["x://secret".to_owned()];
    uris.extend((0..300).map(|n| format!("x://{n}")));
    let (honored, _stream) = client.listen_to_resources(&uris, Duration::from_secs(10)).await.expect("acknowledged");
    assert_eq!(honored.len(), 256);
    assert_eq!(honored.first().map(String::as_str), Some("x://0"));
    assert_eq!(honored.last().map(String::as_str), Some("x://255"));
}

/// A server may send an update on a resource stream the client let go before it hears of that:
/// the update is dropped, so a client that moved its URIs to a new stream hears each change once.
#[tokio::test]
async fn an_update_on_a_resource_stream_let_go_is_not_heard() {
    let mut registry = Registry::new();
    registry.resource(Watched::default());
    let server = Server::builder(Implementation::new("watched", "1.0"), registry).resource_updates(true).build();
    // Between client and server, a relay that answers each cancellation the client sends with an
    // update on the stream it cancels, as a server would send one that had not read it yet.
    let (client_io, client_side) = tokio::io::duplex(64 * 1024);
    let (server_side, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(r, w).await });
    let (from_client, to_client) = tokio::io::split(client_side);
    let (from_server, mut to_server) = tokio::io::split(server_side);
    let to_client = Arc::new(tokio::sync::Mutex::new(to_client));
    let copying = to_client.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_server).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut to_client = copying.lock().await;
            to_client.write_all(format!("{line}\n").as_bytes()).await.expect("relays");
        }
    });
    let cancels = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = cancels.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(from_client).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let message: Value = serde_json::from_str(&line).expect("JSON");
            if message["method"] == "notifications/cancelled" {
                let late = json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {
                    "uri": "x://a", "_meta": {"io.modelcontextprotocol/subscriptionId": message["params"]["requestId"]}}});
                to_client.lock().await.write_all(format!("{late}\n").as_bytes()).await.expect("relays");
                counting.fetch_add(1, Ordering::SeqCst);
            }
            to_server.write_all(format!("{line}\n").as_bytes()).await.expect("relays");
        }
    });
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let options = ClientOptions { notifications: Some(notes_tx), ..ClientOptions::default() };
    let (r, w) = tokio::io::split(client_io);
    let client = Client::connect("test", r, w, options).await.expect("connects");
    assert_eq!(client.era(), Era::Modern);

    // The URI moves to a new stream, and the old one is let go.
    let uris = ["x://a".to_owned()];
    let (_, old) = client.listen_to_resources(&uris, Duration::from_secs(10)).await.expect("acknowledged");
    let (_, new) = client.listen_to_resources(&uris, Duration::from_secs(10)).await.expect("acknowledged");
    drop(old);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cancels.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the server was never told the stream ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.notify_resource_updated("x://a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut updates = 0;
    while let Ok(Some(note)) = tokio::time::timeout_at(deadline, notes.recv()).await {
        updates += usize::from(note.method == "notifications/resources/updated");
    }
    assert_eq!(updates, 1, "the update on the stream in use, and not the one on the stream let go");
    drop(new);
}

#[tokio::test]
async fn a_listen_streams_resource_subscriptions_are_admitted_and_end_with_it() {
    let watched = Watched::default();
    let mut registry = Registry::new();
    registry.resource(watched.clone());
    let server = Server::builder(Implementation::new("watched", "1.0"), registry).resource_updates(true).build();
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let options = ClientOptions { notifications: Some(notes_tx), ..ClientOptions::default() };
    let client = Arc::new(connect_to(&server, options).await.expect("connects"));
    assert_eq!(client.era(), Era::Modern);
    let events = || std::mem::take(&mut *watched.events.lock().expect("events"));

    let params = json!({"notifications": {"resourceSubscriptions": ["x://a", "x://secret", "x://a"]}});
    let listening = tokio::spawn({
        let client = client.clone();
        async move { client.request::<_, Value>("subscriptions/listen", &params).await }
    });
    // The acknowledgement names what was taken: not the refused one, and each URI once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let honored = loop {
        let note = tokio::time::timeout_at(deadline, notes.recv()).await.expect("acknowledged").expect("open");
        let uris = note.params.as_ref().and_then(|p| p["notifications"].get("resourceSubscriptions")).cloned();
        if note.method == "notifications/subscriptions/acknowledged" && uris.is_some() {
            break uris.unwrap_or_default();
        }
    };
    assert_eq!(honored, json!(["x://a"]));
    assert_eq!(events(), ["subscribe x://a by stdio", "subscribe x://secret by stdio", "unsubscribed x://secret"]);

    // An update reaches the stream; when the stream ends, so does its subscription.
    server.notify_resource_updated("x://a");
    let update = loop {
        let note = tokio::time::timeout_at(deadline, notes.recv()).await.expect("an update").expect("open");
        if note.method == "notifications/resources/updated" {
            break note;
        }
    };
    assert_eq!(update.params.as_ref().and_then(|p| p.get("uri")), Some(&json!("x://a")));
    listening.abort();
    let mut seen = Vec::new();
    while seen.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = events();
    }
    assert_eq!(seen, ["unsubscribed x://a"]);

    // The same through the client's own stream: it waits for the acknowledgement (which is its
    // own, not the caller's notification) and ends the stream when dropped.
    let uris = ["x://a".to_owned(), "x://secret".to_owned()];
    let (honored, stream) = client.listen_to_resources(&uris, Duration::from_secs(10)).await.expect("acknowledged");
    assert_eq!(honored, ["x://a"]);
    assert_eq!(events(), ["subscribe x://a by stdio", "subscribe x://secret by stdio", "unsubscribed x://secret"]);
    server.notify_resource_updated("x://a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let note = tokio::time::timeout_at(deadline, notes.recv()).await.expect("an update").expect("open");
    assert_eq!(note.method, "notifications/resources/updated", "the first notification is the update: {note:?}");
    drop(stream);
    let mut seen = Vec::new();
    while seen.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = events();
    }
    assert_eq!(seen, ["unsubscribed x://a"]);

    // A handshake-era server is subscribed to with `resources/subscribe` instead.
    let options = ClientOptions { era: EraPreference::Handshake, ..ClientOptions::default() };
    let older = connect_to(&server, options).await.expect("connects");
    let refused = older.listen_to_resources(&uris, Duration::from_secs(10)).await.expect_err("no listen stream");
    assert!(refused.to_string().contains("resources/subscribe"), "{refused}");
}
