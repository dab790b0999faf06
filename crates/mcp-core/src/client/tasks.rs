//! The task follower: a call the server turned into a task (tasks extension) is polled with
//! `tasks/get` until it ends, its questions answered through `tasks/update`.

use std::time::Duration;

use serde_json::Value;

use super::{Client, MAX_INPUT_ROUNDS};
use crate::error::{Error, Result};
use crate::protocol::*;

impl Client {
    /// Follows a call the server turned into a task (tasks extension, when the client declared it):
    /// polls `tasks/get` at the server's pace, answers its questions with the
    /// [`InputHandler`](super::InputHandler) through `tasks/update`, and returns the result once
    /// there is one.
    pub(super) async fn follow_task(&self, created: &Value) -> Result<CallToolResult> {
        let id = created.get("taskId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let failed = |what: String| self.protocol_error(methods::TASKS_GET, &format!("task `{id}` {what}"));
        let mut interval = created.get("pollIntervalMs").and_then(Value::as_u64).unwrap_or(500);
        let mut answered_rounds = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(interval.clamp(20, 5_000))).await;
            let task: Value = self.request(methods::TASKS_GET, &serde_json::json!({ "taskId": id })).await?;
            interval = task.get("pollIntervalMs").and_then(Value::as_u64).unwrap_or(interval);
            match task.get("status").and_then(Value::as_str).unwrap_or_default() {
                "completed" => {
                    let result = task.get("result").cloned().unwrap_or_default();
                    return serde_json::from_value(result).map_err(|e| failed(format!("has an invalid result: {e}")));
                }
                "failed" => {
                    let error: ErrorObject = task
                        .get("error")
                        .and_then(|e| serde_json::from_value(e.clone()).ok())
                        .unwrap_or_else(|| ErrorObject::internal("the task failed without saying why"));
                    return Err(Error::Rpc {
                        server: self.peer.name().to_owned(),
                        method: methods::TOOLS_CALL.into(),
                        error,
                    });
                }
                "cancelled" => return Err(failed("was cancelled".into())),
                "input_required" => {
                    let asked: InputRequiredResult = serde_json::from_value(task.clone())
                        .map_err(|e| failed(format!("asks for input in an invalid form: {e}")))?;
                    if self.options.input.is_none() {
                        return Err(Error::InputRequired {
                            server: self.peer.name().to_owned(),
                            method: methods::TOOLS_CALL.into(),
                            result: Box::new(asked),
                        });
                    }
                    answered_rounds += 1;
                    if answered_rounds > MAX_INPUT_ROUNDS {
                        return Err(failed(format!("still asks for input after {MAX_INPUT_ROUNDS} rounds")));
                    }
                    let answers = self.answer_inputs(&asked).await?;
                    let update = serde_json::json!({ "taskId": id, "inputResponses": answers });
                    self.request::<_, Value>(methods::TASKS_UPDATE, &update).await?;
                }
                _ => {}
            }
        }
    }
}
