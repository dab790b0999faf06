//! Task methods of the tasks extension: `tasks/get`, `tasks/update` and `tasks/cancel`, for
//! callers that declared the extension (the tasks themselves live in [`crate::tasks`]).

use serde_json::value::RawValue;

use super::era::Framing;
use super::{Connection, parse_params, wants_tasks};
use crate::protocol::*;

impl Connection {
    /// `tasks/get`, `tasks/update` or `tasks/cancel` (`method`) on one task.
    pub(super) async fn task_request(
        &self,
        method: &str,
        params: JsonObject,
        framing: Framing,
    ) -> Result<Box<RawValue>, ErrorObject> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct TaskParams {
            #[serde(rename = "_meta", default)]
            meta: Option<JsonObject>,
            task_id: String,
            #[serde(default)]
            input_responses: Option<JsonObject>,
        }
        let p: TaskParams = parse_params(params)?;
        if !wants_tasks(self.client_capabilities(p.meta.as_ref()).as_ref()) {
            return Err(crate::tasks::missing_extension(&format!("`{method}`")));
        }
        let tasks = &self.server.tasks;
        let answer = match method {
            methods::TASKS_GET => tasks.detail(&p.task_id, &self.principal).await?,
            methods::TASKS_UPDATE => {
                let answers = p
                    .input_responses
                    .ok_or_else(|| ErrorObject::invalid_params("tasks/update needs `inputResponses`"))?;
                tasks.answer(&p.task_id, &self.principal, answers).await?;
                JsonObject::new()
            }
            _ => {
                tasks.cancel(&p.task_id, &self.principal).await?;
                JsonObject::new()
            }
        };
        self.server.finish(answer, framing)
    }
}
