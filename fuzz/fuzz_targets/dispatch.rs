//! Arbitrary lines fed to a real `mcp_core::Server` over an in-memory stream, in both eras.
//!
//! - Every line the server must answer gets exactly one answer: a request (by its id), a line
//!   that is not a message or not valid JSON-RPC (an error, by the id when it could be read), an
//!   oversized line (an error, by the id its first or last KiB shows, unless those show a
//!   response). Notifications and responses get none. The exceptions
//!   are the ones the protocol makes: a request the client cancelled, and a
//!   `subscriptions/listen` stream still open when the input ends, may go unanswered.
//! - An answer without id is an error, and everything the server writes is a JSON-RPC message.
//! - Lines of 100,000 nested levels and lines over the limit (`@DEEP@`, `@DEEPOBJ@`, `@HUGE@`
//!   in the input) are refused like any other bad line.
//! - After the input, the server still serves: a handshake-era `ping` and a `2026-07-28`
//!   `tools/list` sent next are answered with results.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcp_core::protocol::jsonrpc::Outcome;
use mcp_core::protocol::{Implementation, Message, RequestId, methods};
use mcp_core::registry::TextResource;
use mcp_core::transport::framing::{Frame, LineReader};
use mcp_core::{Registry, Server, ToolContext, ToolError, tool};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The server's message limit: room for 100,000 levels of nesting, which must be refused.
const MAX_MESSAGE: usize = 256 * 1024;
/// The most input one run takes.
const MAX_INPUT: usize = 16 * 1024;
/// How long (on the paused clock) the server may take to answer the final requests.
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Add {
    a: f64,
    b: f64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Sleep {
    ms: u64,
}

fn server() -> Server {
    let mut registry = Registry::new();
    mcptk_fuzz::add_tools(&mut registry);
    registry.tool(tool("add", "adds two numbers", |a: Add, _cx: ToolContext| async move {
        Ok::<_, ToolError>((a.a + a.b).to_string())
    }));
    registry.tool(tool(
        "sleep",
        "reports progress, sleeps, fails past a second",
        |a: Sleep, cx: ToolContext| async move {
            cx.progress(0.0, Some(1.0), None).await;
            tokio::time::sleep(Duration::from_millis(a.ms.min(5_000))).await;
            if a.ms > 1_000 {
                return Err(ToolError::msg("slept too long"));
            }
            Ok::<_, ToolError>(String::from("slept"))
        },
    ));
    registry.resource(TextResource::new("file:///notes.txt", "notes", "text/plain", "hello"));
    Server::builder(Implementation::new("fuzz", "1.0"), registry).max_message_bytes(MAX_MESSAGE).page_size(2).build()
}

/// How many answers the server owes, by id (`None`: errors for lines whose id is unknown).
#[derive(Default)]
struct Owed {
    answers: HashMap<Option<RequestId>, usize>,
    /// Ids whose requests may legitimately stay unanswered (cancelled, or a listen stream).
    may_be_silent: HashSet<RequestId>,
}

async fn owed(input: &[u8]) -> Owed {
    let mut owed = Owed::default();
    let mut lines = LineReader::new(input, MAX_MESSAGE);
    while let Some(frame) = lines.next().await.expect("in-memory reads do not fail") {
        let id = match frame {
            // Answered with the id its two ends show, a response never.
            Frame::Oversized { head, tail, .. } => match Message::oversized_answer_id(&head, &tail) {
                Some(id) => id,
                None => continue,
            },
            Frame::Line(line) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Frame::Line(line) => match Message::parse(&line) {
                // A malformed response is logged, never answered.
                Err(rejected) if rejected.response => continue,
                Err(rejected) => rejected.id,
                Ok(Message::Request(request)) => {
                    if request.method == methods::SUBSCRIPTIONS_LISTEN {
                        owed.may_be_silent.insert(request.id.clone());
                    }
                    Some(request.id)
                }
                Ok(Message::Notification(note)) => {
                    let cancelled = note.params.as_ref().and_then(|p| p.get("requestId"));
                    if note.method == methods::CANCELLED
                        && let Some(id) = cancelled.and_then(|v| serde_json::from_value(v.clone()).ok())
                    {
                        owed.may_be_silent.insert(id);
                    }
                    continue;
                }
                Ok(Message::Response(_)) => continue,
            },
        };
        *owed.answers.entry(id).or_default() += 1;
    }
    owed
}

/// An id no line of the input uses.
fn fresh_id(owed: &Owed, name: &str) -> RequestId {
    (0..)
        .map(|n| RequestId::String(format!("{name}-{n}")))
        .find(|id| !owed.answers.contains_key(&Some(id.clone())) && !owed.may_be_silent.contains(id))
        .expect("some id is free")
}

/// Placeholders for lines too large to come up by chance: 100,000 levels of nesting, a line
/// over the limit. At most four are expanded.
fn expand(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    let mut budget = 4;
    while let Some(at) = rest.iter().position(|&b| b == b'@') {
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at..];
        let big: Option<(&[u8], Vec<u8>)> = if budget == 0 {
            None
        } else if rest.starts_with(b"@DEEP@") {
            Some((b"@DEEP@", b"[".repeat(100_000)))
        } else if rest.starts_with(b"@DEEPOBJ@") {
            Some((b"@DEEPOBJ@", br#"{"a":"#.repeat(100_000)))
        } else if rest.starts_with(b"@HUGE@") {
            Some((b"@HUGE@", b"x".repeat(MAX_MESSAGE + 1)))
        } else {
            None
        };
        match big {
            Some((token, bytes)) => {
                budget -= 1;
                out.extend_from_slice(&bytes);
                rest = &rest[token.len()..];
            }
            None => {
                out.push(b'@');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest);
    out
}

async fn run(data: &[u8]) {
    let mut input = expand(data);
    if !input.is_empty() && !input.ends_with(b"\n") {
        input.push(b'\n');
    }
    let owed = owed(&input).await;
    let ping = fresh_id(&owed, "final-ping");
    let list = fresh_id(&owed, "final-list");
    let finals = [
        json!({ "jsonrpc": "2.0", "id": ping, "method": "ping" }),
        json!({ "jsonrpc": "2.0", "id": list, "method": "tools/list", "params": { "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        } } }),
    ];
    for line in &finals {
        input.extend_from_slice(line.to_string().as_bytes());
        input.push(b'\n');
    }

    let (client, server_io) = tokio::io::duplex(4 << 20);
    let (server_read, server_write) = tokio::io::split(server_io);
    let server = server();
    let serving = tokio::spawn(async move { server.serve(server_read, server_write).await });
    let (client_read, mut client_write) = tokio::io::split(client);
    client_write.write_all(&input).await.expect("the duplex takes the whole input");

    let mut output = BufReader::new(client_read).lines();
    let mut answers: HashMap<Option<RequestId>, usize> = HashMap::new();
    let mut finals_answered = 0;
    let read = |line: String, answers: &mut HashMap<Option<RequestId>, usize>| -> usize {
        let message = Message::parse(line.as_bytes()).unwrap_or_else(|r| panic!("the server wrote {line:?}: {r:?}"));
        let Message::Response(response) = message else { return 0 };
        if response.id.is_none() {
            assert!(matches!(response.outcome, Outcome::Error(_)), "a result without id: {line}");
        }
        let is_final = response.id.as_ref().is_some_and(|id| *id == ping || *id == list);
        if is_final {
            assert!(matches!(response.outcome, Outcome::Result(_)), "the server stopped serving: {line}");
        }
        *answers.entry(response.id).or_default() += 1;
        usize::from(is_final)
    };
    // The final requests are answered while the input is still open: the server kept serving.
    let waited = tokio::time::timeout(PATIENCE, async {
        while finals_answered < finals.len() {
            let line = output.next_line().await.expect("in-memory reads do not fail");
            let line = line.expect("the server closed its output before answering the final requests");
            finals_answered += read(line, &mut answers);
        }
    })
    .await;
    assert!(waited.is_ok(), "the final requests were not answered: the server stopped serving");

    // End of input: the server answers what is left and closes its output.
    client_write.shutdown().await.expect("in-memory shutdown does not fail");
    let drained = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = output.next_line().await.expect("in-memory reads do not fail") {
            read(line, &mut answers);
        }
    })
    .await;
    assert!(drained.is_ok(), "the server did not close its output after the input ended");
    let served = tokio::time::timeout(PATIENCE, serving).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "the server did not end cleanly: {served:?}");

    for final_id in [&ping, &list] {
        assert_eq!(answers.remove(&Some(final_id.clone())), Some(1), "answers to {final_id}");
    }
    for (id, &expected) in &owed.answers {
        let got = answers.remove(id).unwrap_or(0);
        let silent_ok = id.as_ref().is_some_and(|id| owed.may_be_silent.contains(id));
        assert!(got == expected || (silent_ok && got < expected), "{got} answers for id {id:?}, owed {expected}");
    }
    assert!(answers.is_empty(), "answers to nothing that was asked: {answers:?}");
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    mcptk_fuzz::runtime().block_on(run(data));
});
