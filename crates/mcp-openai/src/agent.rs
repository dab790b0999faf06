//! The agent loop: the model answers, its tool calls run through the toolbox (in parallel when
//! it asks for several), their outputs go back to it, until it gives a final answer or the turn
//! limit is reached. Approvals can pause a run; [`Agent::resume`] continues it with the decisions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all};
use mcp_core::ToolContext;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::Error;
use crate::model::{Conversation, Model, ModelToolCall};
use crate::toolbox::Toolbox;
use crate::tools::{FunctionTool, ToolOutput};

/// What happens during a run, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A turn began (1-based).
    TurnStarted {
        /// The turn.
        turn: usize,
    },
    /// Text from the model as it streams.
    TextDelta(String),
    /// A tool call waits for a decision.
    ApprovalRequested(PendingCall),
    /// A tool call started.
    ToolStarted {
        /// The call's id.
        id: String,
        /// The function name.
        name: String,
        /// The arguments as the model sent them.
        arguments: String,
    },
    /// A running tool reported progress.
    ToolProgress {
        /// The call's id.
        id: String,
        /// Progress so far.
        progress: f64,
        /// The total, when known.
        total: Option<f64>,
        /// What it is doing.
        message: Option<String>,
    },
    /// A tool call ended; this is what the model will read.
    ToolResult {
        /// The call's id.
        id: String,
        /// The function name.
        name: String,
        /// The output.
        output: ToolOutput,
    },
    /// The final answer.
    Final(String),
}

/// A tool call awaiting approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCall {
    /// The call's id.
    pub id: String,
    /// The function name the model used.
    pub name: String,
    /// The server behind it.
    pub server: String,
    /// The tool's name on that server.
    pub tool: String,
    /// The arguments as the model sent them.
    pub arguments: String,
}

/// An answer to an approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Run it.
    Approve,
    /// Do not run it; the model is told why.
    Reject(String),
}

/// Decides on a pending call; `None` pauses the run for someone else to decide.
pub type ApprovalCallback = Arc<dyn Fn(PendingCall) -> BoxFuture<'static, Option<Decision>> + Send + Sync>;

/// Which tool calls need approval before they run.
#[derive(Clone, Default)]
pub enum Approvals {
    /// None.
    #[default]
    Never,
    /// Every call; the run pauses at each turn that calls tools.
    Always,
    /// Calls of these tools (function name, tool name or `server__tool`); the run pauses.
    Tools(HashSet<String>),
    /// The callback decides each call, or pauses the run by answering `None`.
    Callback(ApprovalCallback),
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Approvals::Never => f.write_str("Never"),
            Approvals::Always => f.write_str("Always"),
            Approvals::Tools(t) => f.debug_tuple("Tools").field(t).finish(),
            Approvals::Callback(_) => f.write_str("Callback"),
        }
    }
}

/// A run stopped for approvals: everything needed to go on, serializable to keep across
/// processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    conversation: Conversation,
    /// The calls of the paused turn, all of them (approved ones included), in order.
    calls: Vec<ModelToolCall>,
    /// Decisions already made (by id).
    decided: HashMap<String, Decision>,
    /// The calls that wait for a decision.
    pub pending: Vec<PendingCall>,
    turn: usize,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    /// The model gave its final answer.
    Finished {
        /// The answer.
        output: String,
        /// Turns used.
        turns: usize,
        /// The whole conversation.
        conversation: Conversation,
    },
    /// Tool calls wait for approval; decide them and call [`Agent::resume`].
    Interrupted(RunState),
}

/// A model, its tools and the rules of a run.
pub struct Agent {
    /// The agent's name (in traces).
    pub name: String,
    /// The system instructions.
    pub instructions: Option<String>,
    /// The model.
    pub model: Arc<Model>,
    /// The tools.
    pub toolbox: Arc<Toolbox>,
    /// The most model turns a run may take (default 10).
    pub max_turns: usize,
    /// Which calls need approval.
    pub approvals: Approvals,
    /// Who the calls run as (for policy and audit).
    pub principal: String,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("max_turns", &self.max_turns)
            .field("approvals", &self.approvals)
            .finish_non_exhaustive()
    }
}

/// Where events go; `None` drops them.
pub type Events = Option<mpsc::UnboundedSender<Event>>;

fn emit(events: &Events, event: Event) {
    if let Some(tx) = events {
        let _ = tx.send(event);
    }
}

impl Agent {
    /// An agent named `name` using `model` and `toolbox`, with the defaults.
    pub fn new(name: impl Into<String>, model: Arc<Model>, toolbox: Arc<Toolbox>) -> Self {
        Self {
            name: name.into(),
            instructions: None,
            model,
            toolbox,
            max_turns: 10,
            approvals: Approvals::Never,
            principal: "agent".to_owned(),
        }
    }

    /// Runs the agent on `input`, sending what happens to `events`.
    pub async fn run(&self, input: &str, events: Events) -> Result<RunOutcome, Error> {
        let conversation = Conversation::new(self.model.config().api, self.instructions.as_deref(), input);
        self.drive(conversation, None, 0, events).await
    }

    /// Continues a paused run with `decisions` (by call id) for its pending calls.
    pub async fn resume(
        &self,
        mut state: RunState,
        decisions: HashMap<String, Decision>,
        events: Events,
    ) -> Result<RunOutcome, Error> {
        for pending in &state.pending {
            let decision = decisions.get(&pending.id).ok_or_else(|| {
                Error::Approval(format!("no decision for the call `{}` of `{}`", pending.id, pending.name))
            })?;
            state.decided.insert(pending.id.clone(), decision.clone());
        }
        let paused = (state.calls, state.decided);
        self.drive(state.conversation, Some(paused), state.turn, events).await
    }

    async fn drive(
        &self,
        mut conversation: Conversation,
        mut paused: Option<(Vec<ModelToolCall>, HashMap<String, Decision>)>,
        mut turn: usize,
        events: Events,
    ) -> Result<RunOutcome, Error> {
        let span = tracing::info_span!("agent", agent = %self.name, model = %self.model.config().model);
        async move {
            loop {
                let tools = self.toolbox.function_tools().await;
                let (calls, mut decided) = match paused.take() {
                    Some(paused) => paused,
                    None => {
                        if turn >= self.max_turns {
                            return Err(Error::TurnLimit(self.max_turns));
                        }
                        turn += 1;
                        emit(&events, Event::TurnStarted { turn });
                        let span = tracing::info_span!("turn", turn);
                        let mut answer = {
                            let events = events.clone();
                            let mut on_text = move |text: &str| emit(&events, Event::TextDelta(text.to_owned()));
                            self.model.turn(&conversation, &tools, &mut on_text).instrument(span).await?
                        };
                        answer.give_unique_ids(turn);
                        conversation.push_turn(&answer);
                        if answer.tool_calls.is_empty() {
                            emit(&events, Event::Final(answer.text.clone()));
                            return Ok(RunOutcome::Finished { output: answer.text, turns: turn, conversation });
                        }
                        (answer.tool_calls, HashMap::new())
                    }
                };
                // Decide what needs deciding; pause when someone else must.
                let mut pending = Vec::new();
                for call in &calls {
                    if decided.contains_key(&call.id) {
                        continue;
                    }
                    let tool = tools.get(&call.name);
                    let request = PendingCall {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        server: tool.map(|t| t.server.clone()).unwrap_or_default(),
                        tool: tool.map(|t| t.tool.clone()).unwrap_or_default(),
                        arguments: call.arguments.clone(),
                    };
                    let needs = match &self.approvals {
                        Approvals::Never => false,
                        Approvals::Always | Approvals::Callback(_) => true,
                        Approvals::Tools(names) => {
                            let qualified =
                                format!("{}{}{}", request.server, mcp_core::naming::SEPARATOR, request.tool);
                            names.contains(&call.name) || names.contains(&request.tool) || names.contains(&qualified)
                        }
                    };
                    if !needs || tool.is_none() {
                        continue;
                    }
                    emit(&events, Event::ApprovalRequested(request.clone()));
                    let answer = match &self.approvals {
                        Approvals::Callback(decide) => decide(request.clone()).await,
                        _ => None,
                    };
                    match answer {
                        Some(decision) => {
                            decided.insert(call.id.clone(), decision);
                        }
                        None => pending.push(request),
                    }
                }
                if !pending.is_empty() {
                    return Ok(RunOutcome::Interrupted(RunState { conversation, calls, decided, pending, turn }));
                }
                let outputs =
                    join_all(calls.iter().map(|call| self.execute(&tools, call, decided.get(&call.id), &events))).await;
                let outputs: Vec<(ModelToolCall, ToolOutput)> = calls.into_iter().zip(outputs).collect();
                conversation.push_tool_outputs(&outputs);
            }
        }
        .instrument(span)
        .await
    }

    /// Runs one call (or tells the model why it did not run).
    async fn execute(
        &self,
        tools: &crate::FunctionTools,
        call: &ModelToolCall,
        decision: Option<&Decision>,
        events: &Events,
    ) -> ToolOutput {
        emit(
            events,
            Event::ToolStarted { id: call.id.clone(), name: call.name.clone(), arguments: call.arguments.clone() },
        );
        let output = match (tools.get(&call.name), decision) {
            (None, _) => {
                let known: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                ToolOutput::failed(&call.name, format!("there is no such tool; the tools are: {}", known.join(", ")))
            }
            (Some(_), Some(Decision::Reject(reason))) => {
                ToolOutput::failed(&call.name, format!("the call was not approved: {reason}"))
            }
            (Some(tool), _) => self.call_tool(tool, call, events).await,
        };
        emit(events, Event::ToolResult { id: call.id.clone(), name: call.name.clone(), output: output.clone() });
        output
    }

    async fn call_tool(&self, tool: &FunctionTool, call: &ModelToolCall, events: &Events) -> ToolOutput {
        let span = tracing::info_span!(
            "function",
            name = %call.name,
            server = %tool.server,
            tool = %tool.tool,
            call_id = %call.id,
            error = tracing::field::Empty,
        );
        let progress = events.clone().map(|tx| {
            let id = call.id.clone();
            let report: mcp_core::tool::ProgressFn = Arc::new(move |progress, total, message| {
                let _ = tx.send(Event::ToolProgress { id: id.clone(), progress, total, message });
            });
            report
        });
        let mut cx = ToolContext::detached().with_principal(self.principal.clone());
        if let Some(report) = progress {
            cx = cx.with_progress_fn(report);
        }
        let output = self.toolbox.call(tool, &call.arguments, &self.principal, cx).instrument(span.clone()).await;
        if output.is_error {
            span.record("error", output.text.as_str());
        }
        output
    }
}
