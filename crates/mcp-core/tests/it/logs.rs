//! Log messages (`notifications/message`), our client against our server over in-memory pipes:
//! a tool's own go to the call they belong to, in the caller's era and at its level; a server's
//! that belong to no request go to its handshake-era clients on a stream, at their level.

use std::time::Duration;

use futures_util::StreamExt;
use mcp_core::protocol::{Era, Implementation, LoggingLevel, LoggingMessageParams, Notification, methods};
use mcp_core::{CallEvent, Client, ClientOptions, EraPreference, Registry, Server, ToolContext, ToolError, tool};
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

/// A client of `server` over in-memory pipes, in `era`, its other notifications sent to `notes`.
async fn connect(server: &Server, era: EraPreference, notes: Option<mpsc::UnboundedSender<Notification>>) -> Client {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let server = server.clone();
    tokio::spawn(async move { server.serve(r, w).await });
    let (r, w) = tokio::io::split(client_io);
    let options = ClientOptions { era, notifications: notes, ..ClientOptions::default() };
    Client::connect("test", r, w, options).await.expect("connects")
}

/// Calls `chatty`: the data of the log messages its stream carried, and its result.
async fn chatty(client: &Client, tag: &str, ms: u64, logs: Option<LoggingLevel>) -> (Vec<Value>, String) {
    let arguments = json!({"tag": tag, "ms": ms}).as_object().cloned().unwrap_or_default();
    let mut stream = client.call_tool_stream_within("chatty", arguments, Duration::from_secs(10), logs);
    let (mut seen, mut text) = (Vec::new(), String::new());
    while let Some(event) = stream.next().await {
        match event.expect("the call completes") {
            CallEvent::Log(log) => {
                assert_eq!(log.logger.as_deref(), Some("t"));
                seen.push(log.data);
            }
            CallEvent::Result(result) => text = result.text_content(),
            _ => {}
        }
    }
    (seen, text)
}

/// The data of the next log message among `notes`, skipping other notifications.
async fn next_log(notes: &mut mpsc::UnboundedReceiver<Notification>) -> Value {
    loop {
        let note = tokio::time::timeout(Duration::from_secs(5), notes.recv())
            .await
            .expect("a log message in time")
            .expect("the client is connected");
        if note.method == methods::MESSAGE {
            return Value::Object(note.params.unwrap_or_default())["data"].clone();
        }
    }
}

#[tokio::test]
async fn a_tools_log_messages_reach_its_own_call_at_the_callers_level_in_either_era() {
    let server = server();
    let old = connect(&server, EraPreference::Handshake, None).await;
    assert_eq!(old.era(), Era::Handshake);
    // Every level until the client sets one.
    assert_eq!(chatty(&old, "a", 0, None).await, (vec![json!("d:a"), json!("w:a")], "a".to_owned()));
    let _: Value = old.request(methods::SET_LEVEL, &json!({"level": "warning"})).await.expect("sets the level");
    assert_eq!(chatty(&old, "b", 0, None).await, (vec![json!("w:b")], "b".to_owned()));

    // The stateless era: only a call that asks for them, at the level it asks for.
    let new = connect(&server, EraPreference::Auto, None).await;
    assert_eq!(new.era(), Era::Modern);
    assert_eq!(chatty(&new, "c", 0, None).await, (vec![], "c".to_owned()));
    assert_eq!(chatty(&new, "d", 0, Some(LoggingLevel::Warning)).await, (vec![json!("w:d")], "d".to_owned()));
    assert_eq!(
        chatty(&new, "e", 0, Some(LoggingLevel::Debug)).await,
        (vec![json!("d:e"), json!("w:e")], "e".to_owned())
    );
}

/// Over stdio a log message names no request: while two streamed calls are in flight it belongs
/// to neither, and goes where the client's other notifications go.
#[tokio::test]
async fn a_log_message_that_could_belong_to_either_of_two_calls_goes_to_neither() {
    let server = server();
    let (tx, mut notes) = mpsc::unbounded_channel();
    let client = connect(&server, EraPreference::Handshake, Some(tx)).await;
    // The second call logs while the first still waits.
    let (first, second) = tokio::join!(chatty(&client, "long", 1500, None), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chatty(&client, "short", 200, None).await
    });
    assert_eq!(second, (vec![], "short".to_owned()));
    assert_eq!(first, (vec![json!("d:long"), json!("w:long")], "long".to_owned()), "alone by then, it gets its own");
    assert_eq!(next_log(&mut notes).await, json!("d:short"));
    assert_eq!(next_log(&mut notes).await, json!("w:short"));
}

#[tokio::test]
async fn a_servers_log_message_of_no_request_reaches_its_handshake_clients_at_their_level() {
    let server = server();
    let (tx, mut old_notes) = mpsc::unbounded_channel();
    let old = connect(&server, EraPreference::Handshake, Some(tx)).await;
    let (tx, mut new_notes) = mpsc::unbounded_channel();
    let new = connect(&server, EraPreference::Auto, Some(tx)).await;
    assert_eq!((old.era(), new.era()), (Era::Handshake, Era::Modern));

    server.notify_log(LoggingMessageParams::new(LoggingLevel::Info, json!("i1")));
    assert_eq!(next_log(&mut old_notes).await, json!("i1"));
    let _: Value = old.request(methods::SET_LEVEL, &json!({"level": "error"})).await.expect("sets the level");
    server.notify_log(LoggingMessageParams::new(LoggingLevel::Warning, json!("w2")));
    server.notify_log(LoggingMessageParams::new(LoggingLevel::Error, json!("e3")));
    assert_eq!(next_log(&mut old_notes).await, json!("e3"), "below the level set, w2 is not sent");

    // A stateless-era client's log messages belong to its requests; it is sent none of these.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(note) = new_notes.try_recv() {
        assert_ne!(note.method, methods::MESSAGE, "{note:?}");
    }
}
