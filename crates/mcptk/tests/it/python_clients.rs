//! The Python SDKs against `mcptk serve builtin` over stdio, beyond listing and calling (which
//! `real_clients` covers for every client and server): progress, argument errors, resources,
//! prompts and ping.

use serde_json::json;

use crate::support::{python_mcp1, python_mcp2, run_python_client};

#[test]
fn python_sdk_2_probes_server_discover_and_uses_the_modern_era() {
    let seen = run_python_client(python_mcp2(), "client_mcp2.py");
    assert_eq!(seen["protocol_version"], "2026-07-28");
    assert_eq!(seen["server_name"], "mcptk");
    assert_eq!(seen["tools"], json!(["echo", "add", "slow"]));
    assert_eq!(seen["echo"], "héllo from python 2.x");
    assert_eq!(seen["add_structured"], json!({"sum": 42}));
    assert_eq!(seen["bad_is_error"], true);
    assert_eq!(
        seen["bad_text"],
        // The pipeline's schema check answers, before the tool's own decoding.
        "invalid arguments for `add`: at `/b`: \"forty\" is not of type \"integer\""
    );
    assert_eq!(seen["slow"], "finished 3 steps");
    assert_eq!(seen["progress"], json!([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]]));
    assert!(seen["resource"].as_str().is_some_and(|t| t.starts_with("mcptk ")));
    assert_eq!(seen["prompt"], "Please greet Ada warmly.");
}

#[test]
fn python_sdk_1_uses_the_initialize_handshake() {
    let seen = run_python_client(python_mcp1(), "client_mcp1.py");
    assert_eq!(seen["protocol_version"], "2025-11-25");
    assert_eq!(seen["server_name"], "mcptk");
    assert_eq!(seen["tools"], json!(["echo", "add", "slow"]));
    assert_eq!(seen["echo"], "hello from python 1.x");
    assert_eq!(seen["add_structured"], json!({"sum": 42}));
    assert_eq!(seen["slow"], "finished 2 steps");
    assert_eq!(seen["progress"], json!([[1.0, 2.0], [2.0, 2.0]]));
    assert_eq!(seen["resources"], json!(["mcptk://about"]));
    assert_eq!(seen["prompts"], json!(["greeting"]));
}
