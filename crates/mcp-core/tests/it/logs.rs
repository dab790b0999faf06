//! Log messages (`notifications/message`), our client against our server over in-memory pipes:
//! a tool's own reach its caller, in the caller's era and at its level; a server's that belong to
//! no request go to its handshake-era clients on a stream, at their level. (On HTTP, where a
//! message names its request by the stream it comes on: `tests/http_client.rs`.)

use std::time::Duration;

use futures_util::StreamExt;
use mcp_core::protocol::{Era, Implementation, LoggingLevel, LoggingMessageParams, methods};
use mcp_core::{
    CallEvent, Client, ClientOptions, EraPreference, LogSink, Registry, Server, ToolContext, ToolError, tool,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Chatty {
    tag: String,
    /// Waits this long before it logs.
    ms: u64,
}

fn server() -> Server {
    let mut registry = Registry::new();
    registry.tool(tool(
        "chatty",
        "waits, logs at debug and warning, returns its tag",
        |a: Chatty, cx: ToolContext| async move {
            tokio::time::sleep(Duration::from_millis(a.ms)).await;
            cx.log(LoggingLevel::Debug, Some("t"), json!(format!("d:{}", a.tag))).await;
            cx.log(LoggingLevel::Warning, Some("t"), json!(format!("w:{}", a.tag))).await;
            Ok::<_, ToolError>(a.tag)
        },
    ));
    Server::builder(Implementation::new("logs", "1"), registry).build()
}

/// A client of `server` over in-memory pipes, in `era`, the log messages that name no call (all
/// of them, over pipes) sent to `logs`.
async fn connect(server: &Server, era: EraPreference, logs: mpsc::UnboundedSender<LoggingMessageParams>) -> Client {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let server = server.clone();
    tokio::spawn(async move { server.serve(r, w).await });
    let (r, w) = tokio::io::split(client_io);
    let logs = Some(LogSink::new(move |log| drop(logs.send(log))));
    let options = ClientOptions { era, logs, ..ClientOptions::default() };
    Client::connect("test", r, w, options).await.expect("connects")
}

/// Calls `chatty`: the data of the log messages that reached the client (none on the call's
/// stream: over pipes no message names its request), and its result.
async fn chatty(
    client: &Client,
    logs: &mut mpsc::UnboundedReceiver<LoggingMessageParams>,
    tag: &str,
    level: Option<LoggingLevel>,
) -> (Vec<Value>, String) {
    let arguments = json!({"tag": tag, "ms": 0}).as_object().cloned().unwrap_or_default();
    let mut stream = client.call_tool_stream_within("chatty", arguments, Duration::from_secs(10), level);
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event.expect("the call completes") {
            CallEvent::Log(log) => panic!("a message that names no request taken for the call's: {log:?}"),
            CallEvent::Result(result) => text = result.text_content(),
            _ => {}
        }
    }
    // The sink is handed each message before what came after it (the answer) is handled.
    let mut seen = Vec::new();
    while let Ok(log) = logs.try_recv() {
        assert_eq!(log.logger.as_deref(), Some("t"));
        seen.push(log.data);
    }
    (seen, text)
}

/// The data of the next log message among `logs`.
async fn next_log(logs: &mut mpsc::UnboundedReceiver<LoggingMessageParams>) -> Value {
    tokio::time::timeout(Duration::from_secs(5), logs.recv())
        .await
        .expect("a log message in time")
        .expect("the client is connected")
        .data
}

#[tokio::test]
async fn a_tools_log_messages_reach_the_client_at_the_callers_level_in_either_era() {
    let server = server();
    let (tx, mut logs) = mpsc::unbounded_channel();
    let old = connect(&server, EraPreference::Handshake, tx).await;
    assert_eq!(old.era(), Era::Handshake);
    // Every level until the client sets one.
    assert_eq!(chatty(&old, &mut logs, "a", None).await, (vec![json!("d:a"), json!("w:a")], "a".to_owned()));
    let _: Value = old.request(methods::SET_LEVEL, &json!({"level": "warning"})).await.expect("sets the level");
    assert_eq!(chatty(&old, &mut logs, "b", None).await, (vec![json!("w:b")], "b".to_owned()));

    // The stateless era: only a call that asks for them, at the level it asks for.
    let (tx, mut logs) = mpsc::unbounded_channel();
    let new = connect(&server, EraPreference::Auto, tx).await;
    assert_eq!(new.era(), Era::Modern);
    assert_eq!(chatty(&new, &mut logs, "c", None).await, (vec![], "c".to_owned()));
    let warning = Some(LoggingLevel::Warning);
    assert_eq!(chatty(&new, &mut logs, "d", warning).await, (vec![json!("w:d")], "d".to_owned()));
    let debug = Some(LoggingLevel::Debug);
    assert_eq!(chatty(&new, &mut logs, "e", debug).await, (vec![json!("d:e"), json!("w:e")], "e".to_owned()));
}

#[tokio::test]
async fn a_servers_log_message_of_no_request_reaches_its_handshake_clients_at_their_level() {
    let server = server();
    let (tx, mut old_logs) = mpsc::unbounded_channel();
    let old = connect(&server, EraPreference::Handshake, tx).await;
    let (tx, mut new_logs) = mpsc::unbounded_channel();
    let new = connect(&server, EraPreference::Auto, tx).await;
    assert_eq!((old.era(), new.era()), (Era::Handshake, Era::Modern));

    server.notify_log(LoggingMessageParams::new(LoggingLevel::Info, json!("i1")));
    assert_eq!(next_log(&mut old_logs).await, json!("i1"));
    let _: Value = old.request(methods::SET_LEVEL, &json!({"level": "error"})).await.expect("sets the level");
    server.notify_log(LoggingMessageParams::new(LoggingLevel::Warning, json!("w2")));
    server.notify_log(LoggingMessageParams::new(LoggingLevel::Error, json!("e3")));
    assert_eq!(next_log(&mut old_logs).await, json!("e3"), "below the level set, w2 is not sent");

    // A stateless-era client's log messages belong to its requests; it is sent none of these
    // (nor of more, given time to arrive).
    for n in 0..20 {
        server.notify_log(LoggingMessageParams::new(LoggingLevel::Emergency, json!(n)));
    }
    assert_eq!(next_log(&mut old_logs).await, json!(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(new_logs.try_recv().is_err(), "a stateless-era client was sent a log message of no request");
}
