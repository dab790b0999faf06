//! The digest of a call's arguments covers them as recorded, secrets masked: a digest of the
//! secret itself would let whoever reads the log test guesses of it offline.

use std::sync::Arc;

use async_trait::async_trait;
use mcp_audit::{AuditLayer, AuditLog, AuditOptions, arguments_digest, log_event_tool, read_records};
use mcp_core::pipeline::{self, CallError, Endpoint, Layer, PipelineTool, ToolCall};
use mcp_core::protocol::{CallToolResult, JsonObject};
use mcp_core::{Tool, ToolContext, ToolError, ToolSet, tool};
use mcp_security::Redactor;
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Login {
    user: String,
    #[allow(dead_code)]
    password: String,
}

struct Local(ToolSet);

#[async_trait]
impl Endpoint for Local {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        Ok(self.0.call(&call.tool, call.arguments, call.context).await)
    }
}

fn object(value: serde_json::Value) -> JsonObject {
    value.as_object().expect("an object").clone()
}

#[tokio::test]
async fn the_digest_never_covers_a_masked_secret() {
    let dir = tempfile::tempdir().expect("temp");
    let log = AuditLog::open(dir.path().join("audit.jsonl"), AuditOptions::default()).expect("opens");
    let redactor = Arc::new(Redactor::new(vec!["s3cret-value-of-the-test".to_owned()]));
    let mut set = ToolSet::new();
    set.add(tool("login", "logs in", |a: Login, _cx: ToolContext| async move {
        Ok::<_, ToolError>(format!("hello {}", a.user))
    }));
    let service = pipeline::boxed(
        AuditLayer::new(log.clone(), redactor.clone()).layer(pipeline::endpoint(Arc::new(Local(set.clone())))),
    );
    let definition = set.get("login").expect("the tool").definition().clone();
    let login = PipelineTool::new("local__login", "local", definition, service);
    let cx = ToolContext::detached().with_principal("alice");

    // A value under a key that names a secret is masked.
    let with_secret = json!({"user": "bob", "password": "hunter2"});
    let result = login.call(object(with_secret.clone()), cx.clone()).await.expect("a result");
    assert!(!result.is_error(), "{result:?}");
    // A known secret value inside an event's details is masked too.
    let event = log_event_tool(log.clone(), redactor);
    let details = json!({"action": "deploy", "details": {"note": "token s3cret-value-of-the-test used"}});
    let said = event.call(object(details.clone()), cx).await;
    assert!(said.is_ok(), "{said:?}");

    let text = std::fs::read_to_string(log.path()).expect("the log");
    let records = read_records(log.path()).expect("reads");
    assert_eq!(records.len(), 2);
    for (record, raw) in records.iter().zip([&with_secret, &details]) {
        let recorded = &record.body.arguments;
        assert_ne!(recorded, raw, "something was masked");
        assert_eq!(record.body.arguments_digest, arguments_digest(recorded), "the digest is of what was recorded");
        assert_ne!(record.body.arguments_digest, arguments_digest(raw), "the digest is not of the secret");
    }
    assert!(!text.contains("hunter2") && !text.contains("s3cret-value-of-the-test"), "{text}");
}
