//! Recording every call of the pipeline, and the seed's `log_event` tool.

use std::sync::Arc;
use std::time::Instant;

use mcp_core::pipeline::{CallError, CallFuture, Next, Stage, ToolCall, outcome};
use mcp_core::{ToolContext, ToolError};
use mcp_security::Redactor;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::AuditLog;
use crate::record::{NewRecord, arguments_digest};

/// Writes one record per call (allowed, denied or failed) and answers only once it is durable.
#[derive(Clone, Debug)]
pub struct AuditLayer {
    log: AuditLog,
    redactor: Arc<Redactor>,
}

impl AuditLayer {
    /// Records into `log`, masking secrets with `redactor`.
    pub fn new(log: AuditLog, redactor: Arc<Redactor>) -> Self {
        Self { log, redactor }
    }
}

mcp_core::stage_layer!(AuditLayer);

impl Stage for AuditLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        let raw = Value::Object(call.arguments.clone());
        let mut arguments = raw.clone();
        self.redactor.json(&mut arguments);
        let base = NewRecord {
            kind: "tool_call".into(),
            principal: call.principal.clone(),
            client: call.client.clone(),
            server: call.server.clone(),
            tool: call.tool.clone(),
            arguments_digest: arguments_digest(&raw),
            arguments,
            trace_id: call.trace_id.clone(),
            ..NewRecord::default()
        };
        let future = inner.call(call);
        let AuditLayer { log, redactor } = self.clone();
        Box::pin(async move {
            let started = Instant::now();
            let result = future.await;
            let (decision, rule) = match &result {
                Err(CallError::Denied { rule, .. }) => ("deny", Some(rule.clone())),
                Err(CallError::RateLimited(_)) => ("deny", Some("rate-limit".to_owned())),
                _ => ("allow", None),
            };
            let error = match &result {
                Ok(r) if r.is_error() => Some(r.text_content()),
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            };
            let record = NewRecord {
                decision: decision.into(),
                rule,
                outcome: outcome(&result).into(),
                error: error.map(|e| redactor.text(&e).into_owned()),
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                ..base
            };
            if let Err(e) = log.append(record).await {
                // The call has already happened; losing its record is reported loudly.
                tracing::error!(error = %e, "audit record not written");
            }
            result
        })
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LogEventArgs {
    /// What happened, e.g. `deploy.started`.
    action: String,
    /// Any details, as JSON.
    #[serde(default)]
    details: Value,
}

/// The seed's `log_event(action, details)`: adds an event to the audit log (secrets masked).
pub fn log_event_tool(log: AuditLog, redactor: Arc<Redactor>) -> impl mcp_core::Tool {
    mcp_core::tool(
        "log_event",
        "Records an event in the tamper-evident audit log: an action name and any JSON details. Returns the record's sequence number once it is durable.",
        move |a: LogEventArgs, cx: ToolContext| {
            let (log, redactor) = (log.clone(), redactor.clone());
            async move {
                let raw = serde_json::json!({ "action": a.action, "details": a.details });
                let mut arguments = raw.clone();
                redactor.json(&mut arguments);
                let record = NewRecord {
                    kind: "event".into(),
                    principal: cx.principal().unwrap_or("anonymous").to_owned(),
                    client: cx.client().map(|c| c.name.clone()),
                    server: "gateway".into(),
                    tool: "log_event".into(),
                    arguments_digest: arguments_digest(&raw),
                    arguments,
                    decision: "allow".into(),
                    outcome: "event".into(),
                    trace_id: mcp_core::pipeline::new_trace_id(),
                    ..NewRecord::default()
                };
                let seq = log.append(record).await.map_err(ToolError::from)?;
                Ok(format!("recorded as audit record {seq}"))
            }
        },
    )
}
