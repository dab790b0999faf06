//! Two gateways (two replicas) built from one configuration, holding their rate limits in one
//! real Redis (`MCPTK_TEST_REDIS_URL`, started by `tests/services.sh`).

use mcp_core::protocol::JsonObject;
use mcp_core::{Json, ToolContext, ToolSet, tool};
use mcp_gateway::{Gateway, GatewayConfig};
use serde_json::{Value, json};

#[path = "../../../tests/support/services.rs"]
mod services;

fn inventory() -> ToolSet {
    let mut tools = ToolSet::new();
    tools.add(tool("count", "How many of an item are in stock", |_: Value, _cx: ToolContext| async move {
        Ok(Json(json!({ "count": 42 })))
    }));
    tools
}

#[tokio::test]
async fn a_second_gateway_is_refused_once_the_first_used_the_shared_budget() {
    if services::service("MCPTK_TEST_REDIS_URL", "Redis").is_none() {
        return;
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let prefix = format!("mcptk-test:gateway:{}:{nanos}:", std::process::id());
    let dir = tempfile::tempdir().expect("temp");
    let start = |n: usize| {
        let config: GatewayConfig = serde_json::from_value(json!({
            "audit": {"path": dir.path().join(format!("audit-{n}.jsonl")), "fsync": false},
            "rate_limits": [{"name": "stock-checks", "per_minute": 1, "burst": 2, "tools": ["inventory__*"]}],
            // Expanded from the environment, like every URL of the configuration.
            "rate_limit_store": {"redis": "${MCPTK_TEST_REDIS_URL}", "prefix": prefix, "when_unavailable": "refuse", "timeout_ms": 2000}
        }))
        .expect("a valid gateway configuration");
        Gateway::builder(config).tools("inventory", inventory()).start()
    };
    let first = start(1).await.expect("the first replica starts");
    let second = start(2).await.expect("the second replica starts");
    let cx = || ToolContext::detached().with_principal("embedder");

    for _ in 0..2 {
        let result = first.call("inventory", "count", JsonObject::new(), cx()).await.expect("a result");
        assert!(!result.is_error(), "{}", result.text_content());
    }
    let refused = second.call("inventory", "count", JsonObject::new(), cx()).await.expect("a result");
    assert!(refused.is_error(), "the second replica must see the budget the first used");
    assert!(
        refused.text_content().contains("rate limit `stock-checks` exceeded for `embedder` on `inventory__count`"),
        "{}",
        refused.text_content()
    );
    let other = second.call("inventory", "count", JsonObject::new(), ToolContext::detached().with_principal("x")).await;
    assert!(!other.expect("a result").is_error(), "another principal has its own budget");
    first.shutdown().await;
    second.shutdown().await;

    let records = mcp_audit::read_records(dir.path().join("audit-2.jsonl")).expect("audit records");
    assert_eq!(records.first().map(|r| r.body.outcome.as_str()), Some("rate_limited"));
}

/// Needs no Redis: the store is a port nothing listens on.
#[tokio::test]
async fn with_the_store_unreachable_refuse_mode_refuses_naming_it_and_never_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let dir = tempfile::tempdir().expect("temp");
    let config: GatewayConfig = serde_json::from_value(json!({
        "audit": {"path": dir.path().join("audit.jsonl"), "fsync": false},
        "rate_limits": [{"name": "stock-checks", "per_minute": 60, "tools": ["inventory__*"]}],
        "rate_limit_store": {"redis": format!("redis://:pw-never-shown-31@127.0.0.1:{port}/0"), "when_unavailable": "refuse"}
    }))
    .expect("a valid gateway configuration");
    assert!(!format!("{config:?}").contains("pw-never-shown-31"));
    let gateway = Gateway::builder(config).tools("inventory", inventory()).start().await.expect("starts");
    let cx = ToolContext::detached().with_principal("embedder");
    let refused = gateway.call("inventory", "count", JsonObject::new(), cx).await.expect("a result");
    let text = refused.text_content();
    assert!(refused.is_error(), "{text}");
    assert!(text.contains(&format!("shared rate-limit store redis://127.0.0.1:{port}/0 is unreachable")), "{text}");
    assert!(!text.contains("pw-never-shown-31"), "{text}");
    gateway.shutdown().await;
    let records = mcp_audit::read_records(dir.path().join("audit.jsonl")).expect("audit records");
    assert_eq!(records.first().map(|r| r.body.outcome.as_str()), Some("unavailable"));
}
