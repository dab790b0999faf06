//! The tasks extension (`io.modelcontextprotocol/tasks`, `2026-07-28`): a tool call that takes a
//! while becomes a task the client polls with `tasks/get`, answers with `tasks/update` when the
//! task needs input, and stops with `tasks/cancel`.
//!
//! The server decides. A tool declares `execution.taskSupport` (`optional` or `required`); when
//! the caller negotiated the extension, its call is polled once in place: a tool that answers at
//! once (a result, or a first round of questions) is answered directly, and one that has to wait
//! becomes a task that runs on in the background. A panicking tool fails its task, not the server.
//!
//! With a [`TaskStore`], tasks outlive the process's view of them: the replica running a task
//! saves its state there on every change and beats a heartbeat, and takes the answers and
//! cancellations other replicas leave for it; any replica answers `tasks/get`, `tasks/update`
//! and `tasks/cancel` from the store. A task whose replica stopped beating fails.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

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

/// How often a replica looks for answers and cancellations other replicas left for the tasks it
/// runs: one round trip to the store for all of them, while any runs.
const SIGNAL_POLL: Duration = Duration::from_millis(250);

/// The most tasks whose signals are asked for in one round trip.
const SIGNAL_BATCH: usize = 256;

/// Shared storage for tasks, so that any replica answers for any task: a small key-value store
/// with expiry and a queue per task. Values are opaque JSON text written by this module.
///
/// Errors are `std::io::Error`s whose messages never carry the store's credentials.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Saves the record of task `id`, replacing the one there, kept for `ttl`.
    async fn save(&self, id: &str, record: String, ttl: Duration) -> std::io::Result<()>;
    /// The record of task `id`, if the store has it.
    async fn load(&self, id: &str) -> std::io::Result<Option<String>>;
    /// Queues `signal` for the replica running task `id` (kept for `ttl`).
    async fn signal(&self, id: &str, signal: String, ttl: Duration) -> std::io::Result<()>;
    /// Takes every signal queued for each task of `ids`, oldest first: one list per id, in
    /// the order of `ids`. Asked for every running task at once, so a store should answer in
    /// one round trip.
    async fn take_signals(&self, ids: &[&str]) -> std::io::Result<Vec<Vec<String>>>;
    /// How often a running task's record is saved even when nothing changed. A record not saved
    /// for three of these is taken for a task whose replica stopped.
    fn heartbeat(&self) -> Duration {
        Duration::from_secs(5)
    }
}

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

/// A call that became a task: its `CreateTaskResult`, and, when tasks are shared, what
/// completes once the store has the task.
pub(crate) type Created = (JsonObject, Option<tokio::sync::oneshot::Receiver<()>>);

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
    /// Wakes the task's publisher (with a [`TaskStore`]) after a change.
    changed: Notify,
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
        drop(state);
        self.changed.notify_one();
    }

    /// `tasks/get`'s answer: the envelope, with the result, error or questions when it has them.
    fn detail(&self) -> JsonObject {
        let state = self.state();
        let mut out = self.envelope(&state);
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
        out
    }

    /// Takes answers to the task's questions; answers to questions it is not asking (any more)
    /// are ignored: the state seen on the next `tasks/get` says what is still pending.
    fn answer(&self, answers: JsonObject) {
        let mut state = self.state();
        if state.status != Status::InputRequired {
            tracing::debug!(task = %self.id, status = state.status.as_str(), "answers for a task that asks nothing; ignored");
            return;
        }
        for (key, value) in answers {
            if state.pending.remove(&key).is_some() {
                state.answers.insert(key, value);
            } else {
                tracing::debug!(task = %self.id, %key, "an answer to a question the task did not ask; ignored");
            }
        }
        state.updated = SystemTime::now();
        let complete = state.pending.is_empty();
        drop(state);
        self.changed.notify_one();
        if complete {
            self.answered.notify_one();
        }
    }

    /// Stops the task if it is still running.
    fn cancel(&self, by: &str) {
        self.set(Status::Cancelled, |s| s.message = Some(format!("cancelled by {by}")));
        self.cancel.cancel();
    }

    /// The task as a [`TaskStore`] keeps it, and whether it is finished.
    fn record(&self) -> (String, bool) {
        let detail = self.detail();
        let terminal = self.state().status.terminal();
        let record = json!({
            "owner": self.owner.as_deref(),
            "heartbeat": unix_millis(SystemTime::now()),
            "task": detail,
        });
        (record.to_string(), terminal)
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
    tasks: Arc<Mutex<HashMap<String, Arc<Task>>>>,
    /// Where every replica finds the tasks, when the server has replicas.
    pub(crate) store: Option<Arc<dyn TaskStore>>,
    /// Publishers still saving to the store (see [`Tasks::finish`]).
    publishing: Arc<std::sync::atomic::AtomicUsize>,
    /// Whether the signal poller runs (see [`Tasks::poll_signals`]).
    polling: Arc<std::sync::atomic::AtomicBool>,
}

impl Tasks {
    /// Polls `first` once: `Ok` with its outcome when it is already done, else a new task that
    /// drives it (and any reruns after input) in the background, and its `CreateTaskResult`
    /// with, when tasks are shared, what completes once the store has the task: answer only
    /// then, or another replica asked about it next would not know it.
    pub(crate) fn start(
        &self,
        mut first: CallFuture,
        rerun: Rerun,
        cx: ToolContext,
        cancel: CancellationToken,
    ) -> Result<Result<CallToolResult, ToolError>, Created> {
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
            changed: Notify::new(),
        });
        let created = {
            let state = task.state();
            let mut out = task.envelope(&state);
            out.insert("resultType".into(), json!("task"));
            out
        };
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).insert(task.id.clone(), task.clone());
        let mut saved = None;
        if let Some(store) = &self.store {
            let publishing = self.publishing.clone();
            publishing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.poll_signals(store.clone());
            let (task, store) = (task.clone(), store.clone());
            let (first_saved, waiting) = tokio::sync::oneshot::channel();
            saved = Some(waiting);
            tokio::spawn(async move {
                publish(task, store, first_saved).await;
                publishing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        tokio::spawn(drive(task, first, rerun, cx));
        Err((created, saved))
    }

    /// The task `id` as `principal` may see it, if this replica runs it: another principal's
    /// task is unknown to it, as if it did not exist (a task id is not a capability that anyone
    /// holding it may use).
    fn local(&self, id: &str, principal: &str) -> Option<Arc<Task>> {
        self.expire();
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .filter(|task| task.owner.as_deref() == Some(principal))
            .cloned()
    }

    /// The task `id` as the store has it, for `principal` (unknown when another's), with the
    /// state of a task whose replica stopped beating shown as failed.
    async fn remote(&self, id: &str, principal: &str) -> Result<JsonObject, ErrorObject> {
        let unknown = || ErrorObject::invalid_params(format!("unknown task `{id}`"));
        let Some(store) = &self.store else { return Err(unknown()) };
        let record = store.load(id).await.map_err(|e| store_error("read", id, &e))?.ok_or_else(unknown)?;
        let record: Value = serde_json::from_str(&record)
            .map_err(|e| ErrorObject::internal(format!("the task store holds an unreadable record for `{id}`: {e}")))?;
        if record.get("owner").and_then(Value::as_str) != Some(principal) {
            return Err(unknown());
        }
        let mut task = record.get("task").and_then(Value::as_object).cloned().ok_or_else(unknown)?;
        let running = matches!(task.get("status").and_then(Value::as_str), Some("working" | "input_required"));
        let beat = record.get("heartbeat").and_then(Value::as_u64).unwrap_or(0);
        let silent = unix_millis(SystemTime::now()).saturating_sub(beat);
        if running && u128::from(silent) > 3 * store.heartbeat().as_millis() {
            let error = ErrorObject::new(
                codes::INTERNAL_ERROR,
                "the replica running this task stopped before the task finished; call the tool again",
            );
            task.insert("status".into(), json!("failed"));
            task.insert("statusMessage".into(), json!("the replica running it stopped"));
            task.insert("error".into(), serde_json::to_value(error).unwrap_or_default());
            task.remove("inputRequests");
        }
        Ok(task)
    }

    /// Leaves `signal` for the replica running task `id`.
    async fn send(&self, id: &str, signal: Value) -> Result<(), ErrorObject> {
        let Some(store) = &self.store else { return Ok(()) };
        store.signal(id, signal.to_string(), TTL).await.map_err(|e| store_error("signal", id, &e))
    }

    /// `tasks/get`: the task, with its result, error or questions when it has them.
    pub(crate) async fn detail(&self, id: &str, principal: &str) -> Result<JsonObject, ErrorObject> {
        match self.local(id, principal) {
            Some(task) => Ok(task.detail()),
            None => self.remote(id, principal).await,
        }
    }

    /// `tasks/update`: answers to some or all of the task's questions. Answers to questions the
    /// task is not asking (any more) are ignored: the state seen on the next `tasks/get` says
    /// what is still pending.
    pub(crate) async fn answer(&self, id: &str, principal: &str, answers: JsonObject) -> Result<(), ErrorObject> {
        if let Some(task) = self.local(id, principal) {
            task.answer(answers);
            return Ok(());
        }
        let task = self.remote(id, principal).await?;
        if task.get("status").and_then(Value::as_str) != Some("input_required") {
            tracing::debug!(task = %id, "answers for a task that asks nothing; ignored");
            return Ok(());
        }
        self.send(id, json!({"principal": principal, "answers": answers})).await
    }

    /// `tasks/cancel`: stops a running task; a finished one stays as it is.
    pub(crate) async fn cancel(&self, id: &str, principal: &str) -> Result<(), ErrorObject> {
        if let Some(task) = self.local(id, principal) {
            task.cancel("the client");
            return Ok(());
        }
        let task = self.remote(id, principal).await?;
        if matches!(task.get("status").and_then(Value::as_str), Some("working" | "input_required")) {
            self.send(id, json!({"principal": principal, "cancel": true})).await?;
        }
        Ok(())
    }

    /// For a server that stops: waits until no task runs, up to `deadline`, then cancels those
    /// still running (their state says the server stopped) and gives the last states a moment
    /// to reach the store, so that no replica reports them as running on.
    pub(crate) async fn finish(&self, deadline: tokio::time::Instant) {
        let running = || {
            let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            tasks.values().filter(|t| !t.state().status.terminal()).cloned().collect::<Vec<_>>()
        };
        loop {
            let left = running();
            if left.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(tasks = left.len(), "cancelling the tasks still running as the server stops");
                for task in left {
                    task.cancel("the server, which stopped before the task finished");
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let saved = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.publishing.load(std::sync::atomic::Ordering::SeqCst) > 0 && tokio::time::Instant::now() < saved {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts the poller of the signals other replicas leave for the tasks this one runs, unless
    /// it runs: every [`SIGNAL_POLL`], the signals of every running task in one round trip (per
    /// [`SIGNAL_BATCH`] tasks), applied; it stops when no task runs.
    fn poll_signals(&self, store: Arc<dyn TaskStore>) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.polling.swap(true, SeqCst) {
            return;
        }
        let (tasks, polling) = (self.tasks.clone(), self.polling.clone());
        let running = move || {
            let tasks = tasks.lock().unwrap_or_else(PoisonError::into_inner);
            tasks.values().filter(|t| !t.state().status.terminal()).cloned().collect::<Vec<_>>()
        };
        tokio::spawn(async move {
            // A poller dropped with the runtime it ran on (an HTTP serving thread ending) lets
            // the next running task start another.
            let mut dropped = PollerGuard(Some(polling.clone()));
            loop {
                tokio::time::sleep(SIGNAL_POLL).await;
                let mut now = running();
                if now.is_empty() {
                    polling.store(false, SeqCst);
                    dropped.0 = None;
                    // A task started since the look above saw the poller running: look again.
                    now = running();
                    if now.is_empty() || polling.swap(true, SeqCst) {
                        return;
                    }
                    dropped.0 = Some(polling.clone());
                }
                for batch in now.chunks(SIGNAL_BATCH) {
                    let ids: Vec<&str> = batch.iter().map(|t| t.id.as_str()).collect();
                    match store.take_signals(&ids).await {
                        Ok(all) => {
                            for (task, signals) in batch.iter().zip(all) {
                                for signal in signals {
                                    apply(task, &signal);
                                }
                            }
                        }
                        Err(e) => tracing::debug!(tasks = ids.len(), error = %e, "cannot read the tasks' signals"),
                    }
                }
            }
        });
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

/// Keeps the store's record of `task` current until the task ends: saved on every change and
/// at every heartbeat. (Answers and cancellations other replicas leave: [`Tasks::poll_signals`].)
async fn publish(task: Arc<Task>, store: Arc<dyn TaskStore>, first_saved: tokio::sync::oneshot::Sender<()>) {
    let mut first_saved = Some(first_saved);
    let beat = store.heartbeat();
    let mut failing = false;
    loop {
        let (record, terminal) = task.record();
        let ttl = TTL.saturating_sub(task.created.elapsed().unwrap_or_default()).max(Duration::from_secs(1));
        match store.save(&task.id, record, ttl).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                // Said once per outage: the task runs on, and this replica still answers for it.
                tracing::warn!(task = %task.id, error = %e, "cannot save the task to the task store");
                failing = true;
            }
            Err(_) => {}
        }
        // Saved or not (the store's own timeout bounds the wait), the call is answered.
        if let Some(first) = first_saved.take() {
            let _ = first.send(());
        }
        if terminal {
            if !failing {
                return;
            }
            // The end must reach the store, or the other replicas would take the task for one
            // whose replica stopped: tried again, less and less often, while the task lives.
            let mut wait = Duration::from_secs(1);
            loop {
                tokio::time::sleep(wait).await;
                let (record, _) = task.record();
                let Some(ttl) = TTL.checked_sub(task.created.elapsed().unwrap_or_default()) else { return };
                if store.save(&task.id, record, ttl.max(Duration::from_secs(1))).await.is_ok() {
                    tracing::info!(task = %task.id, "the task's end reached the task store");
                    return;
                }
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
        tokio::select! {
            () = task.changed.notified() => {}
            () = tokio::time::sleep(beat) => {}
        }
    }
}

/// Applies a signal another replica left for `task`: answers, or a cancellation.
fn apply(task: &Task, signal: &str) {
    let Ok(Value::Object(mut signal)) = serde_json::from_str::<Value>(signal) else {
        tracing::warn!(task = %task.id, "an unreadable signal in the task store; ignored");
        return;
    };
    // The replica that left it checked the principal; checked again, the store being shared.
    if signal.get("principal").and_then(Value::as_str) != task.owner.as_deref() {
        tracing::warn!(task = %task.id, "a signal from another principal in the task store; ignored");
        return;
    }
    if signal.get("cancel").and_then(Value::as_bool) == Some(true) {
        task.cancel("the client");
    } else if let Some(Value::Object(answers)) = signal.remove("answers") {
        task.answer(answers);
    }
}

/// The error for a task store that failed, naming what was asked and never the store's address.
fn store_error(what: &str, id: &str, e: &std::io::Error) -> ErrorObject {
    // The store's address is for the operator's log, not for the client.
    tracing::warn!(task = %id, error = %e, "cannot {what} the task in the task store");
    ErrorObject::internal(format!("cannot {what} task `{id}`: the task store is unreachable; try again shortly"))
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A tool result as `tasks/get` inlines it.
fn inline(result: &CallToolResult) -> Value {
    let mut value = serde_json::to_value(result).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.entry("resultType").or_insert_with(|| json!("complete"));
    }
    value
}

/// Clears the poller's flag when the poller is dropped while it holds it.
struct PollerGuard(Option<Arc<std::sync::atomic::AtomicBool>>);

impl Drop for PollerGuard {
    fn drop(&mut self) {
        if let Some(polling) = self.0.take() {
            polling.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
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
