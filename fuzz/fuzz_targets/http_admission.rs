//! The Streamable HTTP server's request handling, driven in-process through its axum router with
//! arbitrary methods, paths, headers (Host, Origin, Accept, Content-Type, Mcp-Session-Id,
//! MCP-Protocol-Version, Mcp-Method, Mcp-Name, Authorization) and bodies, a few requests a run
//! so that sessions opened by `initialize` are used afterwards. A run is written as text (see
//! `plan_text`: the seeds and regressions) or built from the input's bytes.
//!
//! - Nothing panics and no answer is a 5xx: bad input is the client's error.
//! - With bearer tokens configured, a request without a valid one never gets through: on the MCP
//!   endpoint and on a route of the embedder's own (`/metrics`) it is refused with 401 (naming
//!   the Bearer scheme) or 403 (foreign Origin or Host) before anything else happens, or 413 for a
//!   body over the limit; elsewhere it gets a 4xx.
//! - A JSON answer to a request is a JSON-RPC response to that request's id.
//! - Afterwards, whatever came before, a well-formed `tools/list` is answered with a result.
#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use mcp_core::protocol::jsonrpc::Outcome;
use mcp_core::protocol::{Implementation, Message};
use mcp_core::transport::http::{HttpOptions, router};
use mcp_core::{Registry, Server};
use mcptk_fuzz::word;
use serde_json::json;
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token";
const MAX_BODY: usize = 256 * 1024;

fn server() -> Server {
    let mut registry = Registry::new();
    mcptk_fuzz::add_tools(&mut registry);
    Server::builder(Implementation::new("fuzz", "1.0"), registry).build()
}

const MODERN_META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":7}"#;

/// Bodies worth sending: real messages of both eras, then whatever the input makes.
fn body(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let id = if u.arbitrary()? { json!(u.int_in_range(0..=3)?) } else { json!(word(u, &["a", "1", ""])?) };
    Ok(match u.int_in_range(0..=13)? {
        0 => json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}).to_string().into_bytes(),
        1 => json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string().into_bytes(),
        2 => json!({"jsonrpc":"2.0","id":id,"method":"ping"}).to_string().into_bytes(),
        3 => json!({"jsonrpc":"2.0","id":id,"method":"tools/list"}).to_string().into_bytes(),
        4 => json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}).to_string().into_bytes(),
        5 | 6 => {
            let method = *u.choose(&["tools/call", "tools/list", "server/discover", "subscriptions/listen", "ping", "initialize"])?;
            let name = *u.choose(&["echo", "progress", "missing"])?;
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{MODERN_META},"name":"{name}","arguments":{{"text":"hi"}},"notifications":{{"toolsListChanged":true}}}}}}"#).into_bytes()
        }
        7 => json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id}}).to_string().into_bytes(),
        8 => json!({"jsonrpc":"2.0","id":id,"result":{}}).to_string().into_bytes(),
        9 => serde_json::to_vec(&mcptk_fuzz::json(u, 3, &["jsonrpc", "2.0", "id", "method", "params", "_meta", "tools/call", "name", "result", "error"])?).unwrap_or_default(),
        10 => {
            // Far over the limit, or deeply nested.
            let n = u.int_in_range(1..=100_000)?;
            if u.arbitrary()? { "[".repeat(n).into_bytes() } else { vec![b' '; MAX_BODY + n] }
        }
        _ => u.arbitrary::<Vec<u8>>()?,
    })
}

/// A header value: one of the interesting ones, or arbitrary bytes.
fn value(u: &mut Unstructured<'_>, known: &[&str]) -> Result<Vec<u8>> {
    if u.ratio(4, 5)? { Ok(u.choose(known)?.as_bytes().to_vec()) } else { u.arbitrary() }
}

/// One request to send; `@SESSION@` in a header stands for the last session id handed out.
struct Planned {
    method: Vec<u8>,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// What one run sends: with or without bearer tokens configured, a few requests in order.
struct Plan {
    tokens: bool,
    requests: Vec<Planned>,
}

/// A plan written as text: `tokens: on|off`, then requests separated by `===` lines, each a
/// request line (`POST /mcp`), header lines, an empty line and the body (any bytes). `@DEEP@` in
/// a body stands for 100,000 nested arrays. The seeds and regressions are written so.
fn plan_text(data: &[u8]) -> Option<Plan> {
    let rest = data.strip_prefix(b"tokens: ")?;
    let (tokens, mut rest) = split(rest, b"\n").unwrap_or((rest, b""));
    let mut plan = Plan { tokens: tokens == b"on", requests: Vec::new() };
    loop {
        let (chunk, next) = match split(rest, b"\n===\n") {
            Some((chunk, next)) => (chunk, Some(next)),
            None => (rest, None),
        };
        let (head, body) = split(chunk, b"\n\n").unwrap_or((chunk, b""));
        let mut lines = std::str::from_utf8(head).ok()?.lines();
        let (method, path) = lines.next()?.split_once(' ')?;
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
            .collect();
        let body = match split(body, b"@DEEP@") {
            Some((before, after)) => [before, &b"[".repeat(100_000), after].concat(),
            None => body.to_vec(),
        };
        plan.requests.push(Planned { method: method.as_bytes().to_vec(), path: path.to_owned(), headers, body });
        match next {
            Some(next) if !next.is_empty() => rest = next,
            _ => return Some(plan),
        }
    }
}

/// `data` split at the first `separator`.
fn split<'a>(data: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = data.windows(separator.len()).position(|w| w == separator)?;
    Some((&data[..at], &data[at + separator.len()..]))
}

fn plan_arbitrary(u: &mut Unstructured<'_>) -> Result<Plan> {
    let mut plan = Plan { tokens: u.arbitrary()?, requests: Vec::new() };
    for _ in 0..u.int_in_range(1..=4)? {
        let method = match u.int_in_range(0..=9)? {
            0..=4 => b"POST".to_vec(),
            5 | 6 => b"GET".to_vec(),
            7 => b"DELETE".to_vec(),
            8 => b"HEAD".to_vec(),
            _ => u.arbitrary()?,
        };
        let path = if u.ratio(9, 10)? {
            "/mcp".to_owned()
        } else {
            word(u, &["/", "/mcp/", "/MCP", "/mcp?x=1", "//mcp", "/metrics", "/metrics/"])?
        };
        let mut headers = Vec::new();
        let known: &[(&str, &[&str])] = &[
            (
                "host",
                &[
                    "localhost",
                    "127.0.0.1:8080",
                    "[::1]:3000",
                    "mcp.example",
                    "evil.example",
                    "localhost.evil.example",
                    "localhost:",
                    "[::1",
                ],
            ),
            (
                "origin",
                &[
                    "http://localhost:3000",
                    "https://127.0.0.1",
                    "https://app.example",
                    "https://evil.example",
                    "null",
                    "http://[::1]:80",
                    "http://localhost.evil.example",
                ],
            ),
            ("accept", &["application/json, text/event-stream", "application/json", "text/event-stream", "*/*"]),
            ("content-type", &["application/json", "text/plain", "application/json; charset=utf-8"]),
            ("mcp-protocol-version", &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "1999-01-01", ""]),
            ("mcp-method", &["tools/call", "tools/list", "ping", "initialize", "subscriptions/listen"]),
            ("mcp-name", &["echo", "progress", "missing"]),
            ("last-event-id", &["0", "1", "-1", "x"]),
            ("mcp-session-id", &["@SESSION@", "@SESSION@", "0123456789abcdef0123456789abcdef", ""]),
            (
                "authorization",
                &[
                    "Bearer s3cret-token",
                    "bearer s3cret-token",
                    "Bearer",
                    "Bearer ",
                    "Basic czNjcmV0LXRva2Vu",
                    "Bearer s3cret-token ",
                    "Bearer S3CRET-TOKEN",
                    TOKEN,
                ],
            ),
        ];
        for (name, values) in known {
            if u.arbitrary()? {
                headers.push(((*name).to_owned(), value(u, values)?));
            }
        }
        plan.requests.push(Planned { method, path, headers, body: body(u)? });
    }
    Ok(plan)
}

async fn run(plan: Plan) {
    let options = HttpOptions {
        tokens: if plan.tokens { BTreeMap::from([(TOKEN.to_owned(), "alice".to_owned())]) } else { BTreeMap::new() },
        allowed_hosts: vec!["mcp.example".into()],
        allowed_origins: vec!["https://app.example".into()],
        max_body_bytes: MAX_BODY,
        ..HttpOptions::default()
    };
    // A route of the embedder's own, which the same checks guard.
    let metrics = axum::Router::new().route("/metrics", axum::routing::get(|| async { "up 1\n" }));
    let app = router(server(), options, Some(metrics));
    let mut session: Option<String> = None;
    for planned in plan.requests {
        let Ok(method) = Method::from_bytes(&planned.method) else { continue };
        let mut builder = Request::builder().method(method.clone());
        builder =
            builder.uri(if planned.path.parse::<axum::http::Uri>().is_ok() { planned.path.as_str() } else { "/other" });
        let path = builder.uri_ref().map(|uri| uri.path().to_owned()).unwrap_or_default();
        let mut authorized = false;
        for (name, value) in &planned.headers {
            let value = match &session {
                Some(id) if value == b"@SESSION@" => id.as_bytes().to_vec(),
                _ => value.clone(),
            };
            let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value))
            else {
                continue;
            };
            if name == header::AUTHORIZATION {
                // The server reads the first; counting any valid one asks for refusals only when none is.
                authorized |=
                    value == format!("Bearer {TOKEN}").as_str() || value == format!("bearer {TOKEN}").as_str();
            }
            builder = builder.header(name, value);
        }
        let rpc = Message::parse(&planned.body).ok();
        let body_len = planned.body.len();
        let Ok(request) = builder.body(Body::from(planned.body)) else { continue };
        let response = app.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        assert!(!status.is_server_error(), "{method} answered {status}");
        if plan.tokens && !authorized {
            let handled = match path.as_str() {
                "/mcp" => matches!(method, Method::GET | Method::HEAD | Method::POST | Method::DELETE),
                "/metrics" => matches!(method, Method::GET | Method::HEAD),
                _ => false,
            };
            if handled {
                let too_large = method == Method::POST && body_len > MAX_BODY;
                assert!(
                    matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                        || (too_large && status == StatusCode::PAYLOAD_TOO_LARGE),
                    "{method} without a valid token answered {status}"
                );
                if status == StatusCode::UNAUTHORIZED {
                    let scheme = response.headers().get(header::WWW_AUTHENTICATE);
                    assert_eq!(scheme.map(HeaderValue::as_bytes), Some(&b"Bearer"[..]));
                }
            } else {
                assert!(status.is_client_error(), "{method} without a valid token answered {status}");
            }
        }
        if let Some(id) = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            session = Some(id.to_owned());
        }
        let json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/json");
        // A stream (SSE) may never end: read what comes at once, then hang up, which cancels it.
        let body =
            tokio::time::timeout(Duration::from_secs(5), axum::body::to_bytes(response.into_body(), 1 << 20)).await;
        // A refusal by the transport (401, 403, 413, 415, ...) answers no request in particular.
        let answered = status.is_success();
        if let (true, true, Ok(Ok(body)), Some(Message::Request(request))) = (json, answered, &body, &rpc)
            && method == Method::POST
        {
            match Message::parse(body) {
                Ok(Message::Response(answer)) => {
                    assert_eq!(answer.id.as_ref(), Some(&request.id), "the answer is for another request");
                }
                other => panic!("a JSON answer that is not a response: {other:?}"),
            }
        }
    }

    // Whatever came before, a well-formed request is still served.
    let body = format!(r#"{{"jsonrpc":"2.0","id":"final","method":"tools/list","params":{{{MODERN_META}}}}}"#);
    let request = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(Body::from(body))
        .expect("a valid request");
    let response = app.oneshot(request).await.expect("the router is infallible");
    assert_eq!(response.status(), StatusCode::OK, "the server stopped serving");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a JSON answer");
    let answer = Message::parse(&body);
    assert!(
        matches!(&answer, Ok(Message::Response(r)) if matches!(r.outcome, Outcome::Result(_))),
        "the server stopped serving: {answer:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Some(plan) = mcptk_fuzz::input(data, plan_text, plan_arbitrary) {
        mcptk_fuzz::runtime().block_on(run(plan));
    }
});
