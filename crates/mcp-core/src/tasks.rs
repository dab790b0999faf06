//! The tasks extension (`io.modelcontextprotocol/tasks`, `2026-07-28`): a tool call that takes a
//! while becomes a task the client polls with `tasks/get`, answers with `tasks/update` when the
//! task needs input, and stops with `tasks/cancel`.
//!
//! The server decides. A tool declares `execution.taskSupport` (`optional` or `required`); when
//! the caller negotiated the extension, its call is polled once in place: a tool that answers at
//! once (a result, or a first round of questions) is answered directly, and one that has to wait
//! becomes a task that runs on in the background. A panicking tool fails its task, not the server.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::protocol::{CallToolResult, ErrorObject, InputRequest, JsonObject, Tool, codes};
use crate::tool::{ToolContext, ToolError};

/// The extension's identifier, under `capabilities.extensions`.
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// How long a task stays readable after it is created.
pub const TTL: Duration = Duration::from_secs(60 * 60);

/// The most tasks one server keeps. Past it, finished tasks go first (oldest first); when
/// every one is still running, a call that would become a task more is refused.
pub const MAX_TASKS: usize = 1024;

/// How often clients are asked to poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Whether a tool runs as a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSupport {
    /// Never (the default).
    Forbidden,
    /// When the caller negotiated the extension.
    Optional,
    /// Only as a task: callers without the extension are refused with -32021.
    Required,
}

/// What a tool definition's `execution.taskSupport` says.
pub fn task_support(tool: &Tool) -> TaskSupport {
    match tool.execution.as_ref().and_then(|e| e.get("taskSupport")).and_then(Value::as_str) {
        Some("optional") => TaskSupport::Optional,
        Some("required") => TaskSupport::Required,
        _ => TaskSupport::Forbidden,
    }
}

/// The error for a caller that did not negotiate the extension where it is needed.
pub(crate) fn missing_extension(what: &str) -> ErrorObject {
    ErrorObject::new(
        codes::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!("{what} needs the client extension `{EXTENSION}`, which the request did not declare"),
    )
    .with_data(json!({ "requiredCapabilities": { "extensions": { EXTENSION: {} } } }))
}

/// A tool call's outcome, as a boxed future owned by nobody but its runner.
pub(crate) type CallFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, ToolError>> + Send>>;

/// Starts one run of a tool (again, with answers, after it asked for input).
pub(crate) type Rerun = Arc<dyn Fn(ToolContext) -> CallFuture + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Working => "working",
            Status::InputRequired => "input_required",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    fn terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

struct State {
    status: Status,
    updated: SystemTime,
    message: Option<String>,
    result: Option<Value>,
    error: Option<ErrorObject>,
    /// Questions still unanswered, by key.
    pending: BTreeMap<String, InputRequest>,
    /// Answers so far, by key.
    answers: JsonObject,
    request_state: Option<String>,
}

struct Task {
    id: String,
    /// The principal whose call made the task: only it may read, answer or cancel it.
    owner: Option<Arc<str>>,
    created: SystemTime,
    state: Mutex<State>,
    cancel: CancellationToken,
    answered: Notify,
}

impl Task {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, status: Status, change: impl FnOnce(&mut State)) {
        let mut state = self.state();
        if state.status.terminal() {
            return;
        }
        state.status = status;
        state.updated = SystemTime::now();
        change(&mut state);
    }

    /// The fields every task answer carries.
    fn envelope(&self, state: &State) -> JsonObject {
        let mut out = JsonObject::new();
        out.insert("taskId".into(), json!(self.id));
        out.insert("status".into(), json!(state.status.as_str()));
        out.insert("createdAt".into(), json!(crate::rfc3339(self.created, false)));
        out.insert("lastUpdatedAt".into(), json!(crate::rfc3339(state.updated, false)));
        out.insert("ttlMs".into(), json!(TTL.as_millis() as u64));
        out.insert("pollIntervalMs".into(), json!(POLL_INTERVAL.as_millis() as u64));
        if let Some(message) = &state.message {
            out.insert("statusMessage".into(), json!(message));
        }
        out
    }
}

/// The tasks of one server.
#[derive(Default)]
pub(crate) struct Tasks {
    tasks: Mutex<HashMap<String, Arc<Task>>>,
}

impl Tasks {
    /// Polls `first` once: `Ok` with its outcome when it is already done, else a new task that
    /// drives it (and any reruns after input) in the background, and its `CreateTaskResult`.
    pub(crate) fn start(
        &self,
        mut first: CallFuture,
        rerun: Rerun,
        cx: ToolContext,
        cancel: CancellationToken,
    ) -> Result<Result<CallToolResult, ToolError>, JsonObject> {
        let waker = futures_util::task::noop_waker();
        let mut context = std::task::Context::from_waker(&waker);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| first.as_mut().poll(&mut context))) {
            Ok(std::task::Poll::Ready(outcome)) => return Ok(outcome),
            Ok(std::task::Poll::Pending) => {}
            Err(_) => return Ok(Err(ToolError::msg("the tool failed unexpectedly (it panicked)"))),
        }
        if !self.make_room() {
            cancel.cancel();
            return Ok(Err(ToolError::msg(format!(
                "the server is running {MAX_TASKS} tasks already; try again when one has finished"
            ))));
        }
        let now = SystemTime::now();
        let task = Arc::new(Task {
            id: crate::random_id(),
            owner: cx.principal().map(Arc::from),
            created: now,
            state: Mutex::new(State {
                status: Status::Working,
                updated: now,
                message: None,
                result: None,
                error: None,
                pending: BTreeMap::new(),
                answers: JsonObject::new(),
                request_state: None,
            }),
            cancel,
            answered: Notify::new(),
        });
        let created = {
            let state = task.state();
            let mut out = task.envelope(&state);
            out.insert("resultType".into(), json!("task"));
            out
        };
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).insert(task.id.clone(), task.clone());
        tokio::spawn(drive(task, first, rerun, cx));
        Err(created)
    }

    /// The task `id` as `principal` may see it: another principal's task is unknown to it, as
    /// if it did not exist (a task id is not a capability that anyone holding it may use).
    fn get(&self, id: &str, principal: &str) -> Result<Arc<Task>, ErrorObject> {
        self.expire();
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .filter(|task| task.owner.as_deref() == Some(principal))
            .cloned()
            .ok_or_else(|| ErrorObject::invalid_params(format!("unknown task `{id}`")))
    }

    /// `tasks/get`: the task, with its result, error or questions when it has them.
    pub(crate) fn detail(&self, id: &str, principal: &str) -> Result<JsonObject, ErrorObject> {
        let task = self.get(id, principal)?;
        let state = task.state();
        let mut out = task.envelope(&state);
        match state.status {
            Status::Completed => {
                out.insert("result".into(), state.result.clone().unwrap_or_else(|| json!({"content": []})));
            }
            Status::Failed => {
                out.insert("error".into(), serde_json::to_value(&state.error).unwrap_or_default());
            }
            Status::InputRequired => {
                out.insert("inputRequests".into(), serde_json::to_value(&state.pending).unwrap_or_default());
            }
            Status::Working | Status::Cancelled => {}
        }
        Ok(out)
    }

    /// `tasks/update`: answers to some or all of the task's questions. Answers to questions the
    /// task is not asking (any more) are ignored: the state seen on the next `tasks/get` says
    /// what is still pending.
    pub(crate) fn answer(&self, id: &str, principal: &str, answers: JsonObject) -> Result<(), ErrorObject> {
        let task = self.get(id, principal)?;
        let mut state = task.state();
        if state.status != Status::InputRequired {
            tracing::debug!(task = %id, status = state.status.as_str(), "answers for a task that asks nothing; ignored");
            return Ok(());
        }
        for (key, value) in answers {
            if state.pending.remove(&key).is_some() {
                state.answers.insert(key, value);
            } else {
                tracing::debug!(task = %id, %key, "an answer to a question the task did not ask; ignored");
            }
        }
        state.updated = SystemTime::now();
        let complete = state.pending.is_empty();
        drop(state);
        if complete {
            task.answered.notify_one();
        }
        Ok(())
    }

    /// `tasks/cancel`: stops a running task; a finished one stays as it is.
    pub(crate) fn cancel(&self, id: &str, principal: &str) -> Result<(), ErrorObject> {
        let task = self.get(id, principal)?;
        task.set(Status::Cancelled, |s| s.message = Some("cancelled by the client".into()));
        task.cancel.cancel();
        Ok(())
    }

    /// Forgets tasks past their time to live, stopping those still running.
    fn expire(&self) {
        let now = SystemTime::now();
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, t| {
            let live = now.duration_since(t.created).map_or(true, |age| age < TTL);
            if !live {
                t.cancel.cancel();
            }
            live
        });
    }

    /// Expires old tasks and, at the limit, forgets the oldest finished one. False when every
    /// task kept is still running.
    fn make_room(&self) -> bool {
        self.expire();
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while tasks.len() >= MAX_TASKS {
            let oldest_finished = tasks
                .values()
                .filter(|t| !matches!(t.state().status, Status::Working | Status::InputRequired))
                .min_by_key(|t| t.created)
                .map(|t| t.id.clone());
            match oldest_finished {
                Some(id) => {
                    tasks.remove(&id);
                }
                None => return false,
            }
        }
        true
    }
}

/// Runs a task to its end: reruns after answers, records the outcome.
async fn drive(task: Arc<Task>, first: CallFuture, rerun: Rerun, cx: ToolContext) {
    let mut run = first;
    loop {
        let outcome = tokio::select! {
            outcome = std::panic::AssertUnwindSafe(&mut run).catch_unwind() => outcome,
            () = task.cancel.cancelled() => {
                task.set(Status::Cancelled, |s| s.message = Some("cancelled".into()));
                return;
            }
        };
        let input = match outcome {
            Err(_) => {
                let error = ErrorObject::new(codes::INTERNAL_ERROR, "the tool failed unexpectedly (it panicked)");
                task.set(Status::Failed, |s| s.error = Some(error));
                return;
            }
            Ok(Ok(result)) => {
                task.set(Status::Completed, |s| s.result = Some(inline(&result)));
                return;
            }
            Ok(Err(e)) => match (e.input().cloned(), e.protocol_error().cloned()) {
                (Some(input), _) => input,
                (None, Some(error)) => {
                    task.set(Status::Failed, |s| s.error = Some(error));
                    return;
                }
                (None, None) => {
                    // The tool ran and said it failed: a result the model reads, not a failure.
                    task.set(Status::Completed, |s| s.result = Some(inline(&CallToolResult::from(e))));
                    return;
                }
            },
        };
        task.set(Status::InputRequired, |s| {
            s.pending = input.input_requests.clone().unwrap_or_default();
            s.answers = JsonObject::new();
            s.request_state = input.request_state.clone();
        });
        loop {
            if task.state().pending.is_empty() {
                break;
            }
            tokio::select! {
                () = task.answered.notified() => {}
                () = task.cancel.cancelled() => {
                    task.set(Status::Cancelled, |s| s.message = Some("cancelled".into()));
                    return;
                }
            }
        }
        let (answers, state) = {
            let s = task.state();
            (s.answers.clone(), s.request_state.clone())
        };
        task.set(Status::Working, |_| {});
        run = rerun(cx.clone().with_input(Some(answers), state));
    }
}

/// A tool result as `tasks/get` inlines it.
fn inline(result: &CallToolResult) -> Value {
    let mut value = serde_json::to_value(result).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.entry("resultType").or_insert_with(|| json!("complete"));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200 + 3723);
        assert_eq!(crate::rfc3339(t, false), "2026-11-26T01:02:03Z");
        assert_eq!(crate::rfc3339(SystemTime::UNIX_EPOCH, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            crate::rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }
}
