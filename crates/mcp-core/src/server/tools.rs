//! Tool methods: `tools/list` (filtered per caller, paged) and `tools/call` (in place, or as a
//! task when the caller negotiated the tasks extension and the tool allows it).

use std::sync::Arc;

use serde::Deserialize as _;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::era::Framing;
use super::{Connection, parse_params, wants_tasks};
use crate::protocol::*;
use crate::tasks::{Rerun, TaskSupport};
use crate::tool::{ToolContext, ToolError};
use crate::transport::connection::{self, Peer};

/// `tools/call`'s params, `arguments` and `_meta` moved out of the request rather than read into
/// copies (arguments can be megabytes: a file's content to write).
fn call_params(mut params: JsonObject) -> Result<CallToolParams, ErrorObject> {
    // In the order the plain reading meets them (keys sorted), so that it is the same member
    // an error names.
    let meta = take_object(&mut params, "_meta")?;
    let arguments = take_object(&mut params, "arguments")?;
    let mut p: CallToolParams = parse_params(params)?;
    (p.arguments, p.meta) = (arguments, meta);
    Ok(p)
}

/// The object at `key` taken out of `params` (absent or `null`: none), else -32602 in the words
/// the plain reading of the params would use.
fn take_object(params: &mut JsonObject, key: &str) -> Result<Option<JsonObject>, ErrorObject> {
    match params.remove(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(object)) => Ok(Some(object)),
        Some(other) => {
            let why = JsonObject::deserialize(&other).err().map(|e| e.to_string());
            Err(ErrorObject::invalid_params(format!("invalid params: `{key}`: {}", why.unwrap_or_default())))
        }
    }
}

/// How long a cancelled tool may run on to clean up before its future is dropped.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Connection {
    /// `tools/list`: the tools this caller may see, shaped for the request's era.
    pub(super) fn list_tools(&self, params: JsonObject, framing: Framing) -> Result<Box<RawValue>, ErrorObject> {
        let p: PaginatedParams = parse_params(params)?;
        let s = &self.server;
        let principal = self.principal.clone();
        let current = s.current_tools();
        let visible = current.iter().map(|t| &**t).filter(|t| s.filter.as_ref().is_none_or(|f| f(&principal, *t)));
        let (tools, next_cursor) = s.page(visible, p.cursor.as_deref(), |t| framing.tool(t))?;
        s.finish(
            ListToolsResult { envelope: Default::default(), cache: s.cache_hints(framing), tools, next_cursor },
            framing,
        )
    }

    /// `tools/call`: runs the tool, in place or as a task, and answers with its result (a tool
    /// failure is an `isError` result; only protocol failures are errors).
    pub(super) async fn call_tool(
        &self,
        peer: Peer,
        params: JsonObject,
        cancel: CancellationToken,
        framing: Framing,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let s = &self.server;
        let p = call_params(params)?;
        let Some(tool) = s.current_tools().get(&p.name).cloned() else {
            let why = match &s.unknown_tool {
                Some(explain) => explain(&self.principal, &p.name).await,
                None => None,
            };
            let why = why.map(|why| format!(": {why}")).unwrap_or_default();
            return Err(ErrorObject::invalid_params(format!("unknown tool `{}`{why}", p.name)));
        };
        let capabilities = self.client_capabilities(p.meta.as_ref());
        let tasks_negotiated = wants_tasks(capabilities.as_ref());
        let support = crate::tasks::task_support(tool.definition());
        if support == TaskSupport::Required && !tasks_negotiated {
            return Err(crate::tasks::missing_extension(&format!("the tool `{}`", p.name)));
        }
        let as_task = tasks_negotiated && support != TaskSupport::Forbidden;
        // A task outlives its request: it is stopped by `tasks/cancel`, not by the caller leaving.
        // (Made only for a task: a token is an allocation, and most calls are not tasks.)
        let task_cancel = as_task.then(CancellationToken::new);
        let run_cancel = task_cancel.clone().unwrap_or_else(|| cancel.clone());
        let cx = self
            .request_context(peer, p.meta, run_cancel)
            .with_client_capabilities(capabilities, framing == Framing::Modern)
            .with_log_level(self.session().log_level);
        let arguments = p.arguments.unwrap_or_default();
        let outcome = if as_task {
            let rerun: Rerun = {
                let (tool, arguments) = (tool.clone(), arguments.clone());
                Arc::new(move |cx: ToolContext| {
                    let (tool, arguments) = (tool.clone(), arguments.clone());
                    Box::pin(async move { tool.call(arguments, cx).await })
                })
            };
            let first = rerun(cx.clone().with_input(p.input_responses, p.request_state));
            match s.tasks.start(first, rerun, cx, task_cancel.unwrap_or_default()) {
                Ok(outcome) => outcome,
                Err((created, saved)) => {
                    if let Some(saved) = saved {
                        let _ = saved.await;
                    }
                    tracing::Span::current().record("outcome", "task");
                    return s.finish(created, framing);
                }
            }
        } else {
            let cx = cx.with_input(p.input_responses, p.request_state);
            run_in_place(tool, &p.name, arguments, cx, &cancel).await
        };
        let result = match outcome {
            Ok(result) => result,
            Err(e) => match e.input() {
                Some(input) if framing == Framing::Modern => return s.finish(input.clone(), framing),
                _ if e.protocol_error().is_some() => {
                    return Err(e
                        .protocol_error()
                        .cloned()
                        .unwrap_or_else(|| ErrorObject::internal(e.message().to_owned())));
                }
                _ => CallToolResult::from(e),
            },
        };
        tracing::Span::current().record("outcome", if result.is_error() { "tool_error" } else { "ok" });
        s.finish_call(result, framing)
    }
}

/// Runs a tool for its request. A cancelled tool gets a moment to notice and clean up; then it
/// is dropped. A tool that panics fails this call only, as a tool error the model sees.
async fn run_in_place(
    tool: Arc<dyn crate::tool::Tool>,
    name: &str,
    arguments: JsonObject,
    cx: ToolContext,
    cancel: &CancellationToken,
) -> Result<CallToolResult, ToolError> {
    let stop = async {
        cancel.cancelled().await;
        tokio::time::sleep(CANCEL_GRACE).await;
    };
    let run = std::panic::AssertUnwindSafe(tool.call(arguments, cx));
    tokio::select! {
        r = futures_util::FutureExt::catch_unwind(run) => r.unwrap_or_else(|panic| {
            let what = connection::panic_message(panic.as_ref());
            tracing::error!(tool = %name, panic = %what, "a tool panicked");
            Ok(CallToolResult::error(format!("the tool `{name}` failed unexpectedly: {what}")))
        }),
        () = stop => Ok(CallToolResult::error("cancelled")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: serde_json::Value) -> JsonObject {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn call_params_move_arguments_and_meta_and_are_read_as_the_plain_reading_reads_them() {
        let params = object(json!({
            "name": "echo",
            "arguments": {"text": "hello"},
            "_meta": {"progressToken": 7},
            "requestState": "s",
        }));
        let plain: CallToolParams = parse_params(params.clone()).expect("plain");
        assert_eq!(call_params(params).expect("moved"), plain);
        assert_eq!(plain.arguments, Some(object(json!({"text": "hello"}))));
        for absent in [json!({"name": "echo"}), json!({"name": "echo", "arguments": null, "_meta": null})] {
            let p = call_params(object(absent)).expect("no arguments");
            assert_eq!((p.arguments, p.meta), (None, None));
        }
        // Refused in the same words, naming the member.
        for bad in [
            json!({"name": "echo", "arguments": "text"}),
            json!({"name": "echo", "arguments": [1]}),
            json!({"name": "echo", "_meta": 5}),
            json!({"name": "echo", "_meta": 5, "arguments": "text"}),
        ] {
            let moved = call_params(object(bad.clone())).expect_err("refused");
            let plain = parse_params::<CallToolParams>(object(bad.clone())).expect_err("refused");
            assert_eq!(moved.code, codes::INVALID_PARAMS);
            assert_eq!(moved.message, plain.message, "{bad}");
            assert!(moved.message.contains("`arguments`") || moved.message.contains("`_meta`"), "{}", moved.message);
        }
        let nameless = call_params(object(json!({"arguments": {}}))).expect_err("no name");
        assert!(nameless.message.contains("name"), "{}", nameless.message);
    }
}
