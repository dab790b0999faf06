//! `mcptk agent "TASK"`: a model works on a task with the gateway's tools, every call through
//! the gateway's pipeline (policy, audit, redaction, limits, restarts), and what happens is
//! streamed: the answer on stdout, tool activity on stderr (or everything as JSON lines).

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mcp_openai::{Agent, Api, Approvals, Decision, Event, Model, ModelConfig, RunOutcome, Toolbox};
use serde_json::json;

use mcp_gateway::config::{ApprovalMode, ApprovalsConfig};
use mcp_gateway::{Gateway, GatewayConfig};

/// Options of `mcptk agent`.
#[derive(clap::Args)]
pub struct AgentArgs {
    /// What to do.
    pub task: String,
    /// The gateway configuration: servers, policy, audit, and the `agent` section.
    #[arg(long, env = "MCPTK_CONFIG")]
    pub config: Option<PathBuf>,
    /// The model (default: the config's, else `OPENAI_MODEL`).
    #[arg(long)]
    pub model: Option<String>,
    /// The OpenAI-compatible endpoint, up to `/v1` (default: the config's, else `OPENAI_BASE_URL`).
    #[arg(long)]
    pub base_url: Option<String>,
    /// `chat` (Chat Completions) or `responses`.
    #[arg(long, value_parser = ["chat", "responses"])]
    pub api: Option<String>,
    /// Model turns the run may take.
    #[arg(long)]
    pub max_turns: Option<usize>,
    /// Ask for approval of every tool call (answers are read from stdin: `y` approves).
    #[arg(long)]
    pub approve_all: bool,
    /// Wait for the whole answer instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
    /// Print every event as a JSON line on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let config: GatewayConfig = crate::admin::gateway_config(args.config.as_deref())?;
    let settings = config.agent.clone();
    let expand = |text: &str, field: &str| {
        mcp_core::config::expand(text, &|v| std::env::var(v).ok(), "agent", format!("agent.{field}"))
    };
    let model_name = args
        .model
        .clone()
        .or(settings.model.clone())
        .or_else(|| std::env::var("OPENAI_MODEL").ok().filter(|m| !m.is_empty()))
        .context("no model: give --model, `agent.model` in the config, or OPENAI_MODEL")?;
    let mut model = ModelConfig::new(model_name);
    if let Some(url) = args.base_url.clone().or(settings.base_url.clone()) {
        model.base_url = Some(expand(&url, "base_url")?);
    }
    if let Some(key) = &settings.api_key {
        model.api_key = Some(expand(key, "api_key")?);
    }
    model.api = match args.api.as_deref() {
        Some("responses") => Api::Responses,
        Some(_) => Api::Chat,
        None => settings.api.unwrap_or_default(),
    };
    model.stream = !args.no_stream && settings.stream.unwrap_or(true);
    model.parallel_tool_calls = settings.parallel_tool_calls;
    let model = Arc::new(Model::new(model)?);

    let principal = config.principal.clone().unwrap_or_else(|| "agent".to_owned());
    let gateway = Arc::new(Gateway::start(config).await?);
    let visible = gateway.clone();
    let filter_principal = principal.clone();
    let mut toolbox = Toolbox::builder()
        .piped_server("gateway", gateway.server().clone())
        .block(settings.block.clone())
        .filter(move |_, tool| visible.visible(&filter_principal, tool))
        .timeout(Duration::from_secs(settings.tool_timeout_secs.unwrap_or(60)))
        .structured(settings.structured);
    if let Some(allow) = settings.allow.clone() {
        toolbox = toolbox.allow(allow);
    }

    let mut agent = Agent::new("mcptk", model, Arc::new(toolbox.build()));
    agent.instructions = settings.instructions.clone();
    agent.max_turns = args.max_turns.or(settings.max_turns).unwrap_or(10);
    agent.principal = principal;
    let asks = match (args.approve_all, &settings.approvals) {
        (true, _) | (false, Some(ApprovalsConfig::Mode(ApprovalMode::Always))) => Some(None),
        (false, Some(ApprovalsConfig::Tools(tools))) => Some(Some(tools.clone())),
        _ => None,
    };
    if let Some(only) = asks {
        // The operator answers on stdin, one line per call.
        let lines = Arc::new(tokio::sync::Mutex::new(()));
        agent.approvals = Approvals::Callback(Arc::new(move |call| {
            let lines = lines.clone();
            let only = only.clone();
            Box::pin(async move {
                let needed = only.as_ref().is_none_or(|tools| tools.contains(&call.name) || tools.contains(&call.tool));
                if !needed {
                    return Some(Decision::Approve);
                }
                let _one_at_a_time = lines.lock().await;
                eprint!("approve {}({})? [y/N] ", call.name, call.arguments);
                let _ = std::io::stderr().flush();
                let answer = tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).map(|_| line)
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
                Some(match answer.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => Decision::Approve,
                    "" => Decision::Reject("the operator did not approve it".into()),
                    _ => Decision::Reject(format!("the operator declined ({})", answer.trim())),
                })
            })
        }));
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let json = args.json;
    let printer = tokio::spawn(async move {
        let mut streamed_text = false;
        while let Some(event) = rx.recv().await {
            if json {
                println!("{}", event_json(&event));
                continue;
            }
            match event {
                Event::TextDelta(text) => {
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                    streamed_text = true;
                }
                Event::ToolStarted { name, arguments, .. } => eprintln!("→ {name} {arguments}"),
                Event::ToolProgress { progress, total, message, .. } => {
                    let total = total.map(|t| format!("/{t}")).unwrap_or_default();
                    eprintln!("  … {progress}{total} {}", message.unwrap_or_default());
                }
                Event::ToolResult { name, output, .. } => {
                    let first = output.text.lines().next().unwrap_or_default();
                    let mark = if output.is_error { "✗" } else { "←" };
                    eprintln!("{mark} {name}: {first}");
                }
                Event::Final(text) => {
                    if !streamed_text {
                        print!("{text}");
                    }
                    println!();
                }
                Event::TurnStarted { .. } | Event::ApprovalRequested(_) => {}
            }
        }
    });
    let outcome = agent.run(&args.task, Some(tx)).await;
    drop(agent);
    let _ = printer.await;
    // The agent (and the tool filter holding the gateway) is gone: stop the gateway's servers.
    match Arc::try_unwrap(gateway) {
        Ok(gateway) => gateway.shutdown().await,
        // Still shared: dropping the last handle stops the servers, without waiting for them.
        Err(_) => tracing::warn!("the gateway is still in use; its servers are stopped without waiting"),
    }
    match outcome {
        Ok(RunOutcome::Finished { .. }) => Ok(ExitCode::SUCCESS),
        Ok(RunOutcome::Interrupted(state)) => {
            anyhow::bail!("the run stopped with {} call(s) awaiting approval", state.pending.len())
        }
        Err(e) => Err(e.into()),
    }
}

/// One event as a JSON line.
fn event_json(event: &Event) -> serde_json::Value {
    match event {
        Event::TurnStarted { turn } => json!({"type": "turn_started", "turn": turn}),
        Event::TextDelta(text) => json!({"type": "text_delta", "text": text}),
        Event::ApprovalRequested(call) => json!({"type": "approval_requested", "call": call}),
        Event::ToolStarted { id, name, arguments } => {
            json!({"type": "tool_started", "id": id, "name": name, "arguments": arguments})
        }
        Event::ToolProgress { id, progress, total, message } => {
            json!({"type": "tool_progress", "id": id, "progress": progress, "total": total, "message": message})
        }
        Event::ToolResult { id, name, output } => json!({
            "type": "tool_result", "id": id, "name": name, "text": output.text,
            "images": output.images.len(), "is_error": output.is_error,
        }),
        Event::Final(text) => json!({"type": "final", "output": text}),
    }
}
