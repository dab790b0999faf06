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
///
/// Fails closed: while the log cannot make records durable ([`AuditLog::health`]) a call is
/// refused before it runs, and a call whose record could not be made durable is answered with an
/// error, never its result. A call whose caller stops waiting (a cancelled request, a client
/// gone) is still recorded, as `cancelled`.
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
        if let Err(e) = self.log.health() {
            let refusal = format!("`{}` was not run: {e}", call.exposed);
            return Box::pin(async move { Err(CallError::Unavailable(refusal)) });
        }
        let mut arguments = Value::Object(call.arguments.clone());
        self.redactor.json(&mut arguments);
        let exposed = call.exposed.clone();
        // Of the arguments as recorded: a digest of a masked secret would let whoever reads the
        // log test guesses of it (a password, a PIN) offline.
        let base = NewRecord {
            kind: call.kind.as_str().into(),
            principal: call.principal.clone(),
            client: call.client.clone(),
            server: call.server.clone(),
            tool: call.tool.clone(),
            arguments_digest: arguments_digest(&arguments),
            arguments,
            trace_id: call.trace_id.clone(),
            ..NewRecord::default()
        };
        let cancelled = call.context.cancelled().clone();
        let future = inner.call(call);
        let AuditLayer { log, redactor } = self.clone();
        let mut unfinished = Unfinished { log: log.clone(), record: base, started: Instant::now(), armed: true };
        Box::pin(async move {
            let result = future.await;
            let base = unfinished.finish();
            let (decision, rule) = match &result {
                Err(CallError::Denied { rule, .. }) => ("deny", Some(rule.clone())),
                Err(CallError::RateLimited(_)) => ("deny", Some("rate-limit".to_owned())),
                _ => ("allow", None),
            };
            let error = match &result {
                Ok(r) if r.is_error() => Some(r.text_content()),
                Ok(_) => None,
                // Not a failure: the client is asked for input and calls again (its own record).
                Err(CallError::InputRequired(_)) => None,
                Err(e) => Some(e.to_string()),
            };
            // A call that failed after its caller cancelled it stopped because of that: it is
            // recorded as cancelled, not as the tool's failure (a result that came anyway is one).
            let stopped = cancelled.is_cancelled()
                && match &result {
                    Ok(r) => r.is_error(),
                    Err(e) => matches!(e, CallError::Upstream(_) | CallError::Timeout { .. }),
                };
            let (outcome, error) = if stopped {
                let why = error.unwrap_or_default();
                ("cancelled", Some(format!("cancelled by the caller before it finished: {why}")))
            } else {
                (outcome(&result), error)
            };
            let record = NewRecord {
                decision: decision.into(),
                rule,
                outcome: outcome.into(),
                error: error.map(|e| redactor.text(&e).into_owned()),
                duration_ms: unfinished.started.elapsed().as_secs_f64() * 1000.0,
                ..base
            };
            // How long a call waits for its record to be durable (the group commit's fsync).
            let appending = Instant::now();
            let appended = log.append(record).await;
            metrics::histogram!("mcp_audit_append_seconds").record(appending.elapsed().as_secs_f64());
            match appended {
                Ok(_) => result,
                // Never answered as if it had been recorded.
                Err(e) => Err(CallError::Unavailable(format!("`{exposed}` ran, but its result is withheld: {e}"))),
            }
        })
    }
}

/// A call's record until the call finishes. If the call's future is dropped first (the request
/// was cancelled, its client went away), the record is queued on drop as `cancelled`: the writer
/// makes it durable without anyone waiting for it.
struct Unfinished {
    log: AuditLog,
    record: NewRecord,
    started: Instant,
    armed: bool,
}

impl Unfinished {
    /// The record, for the caller to complete and write.
    fn finish(&mut self) -> NewRecord {
        self.armed = false;
        std::mem::take(&mut self.record)
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let base = std::mem::take(&mut self.record);
        let record = NewRecord {
            decision: "unknown".into(),
            outcome: "cancelled".into(),
            error: Some("the caller stopped waiting before the call finished (request cancelled or client gone); whether the tool completed is unknown".into()),
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            ..base
        };
        if let Err(e) = self.log.submit(record) {
            tracing::error!(error = %e, "the record of a cancelled call was not written");
        }
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
                let mut arguments = serde_json::json!({ "action": a.action, "details": a.details });
                redactor.json(&mut arguments);
                let record = NewRecord {
                    kind: "event".into(),
                    principal: cx.principal().unwrap_or("anonymous").to_owned(),
                    client: cx.client().map(|c| c.name.clone()),
                    server: "gateway".into(),
                    tool: "log_event".into(),
                    arguments_digest: arguments_digest(&arguments),
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
