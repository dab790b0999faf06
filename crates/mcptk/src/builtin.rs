//! Built-in tools, a resource and a prompt that exercise the protocol end to end: plain text,
//! structured results, argument validation, progress and cancellation.

use std::time::Duration;

use mcp_core::protocol::{Content, GetPromptResult, Prompt, PromptArgument, PromptMessage, Role, ToolAnnotations};
use mcp_core::registry::{TextResource, prompt};
use mcp_core::{Json, Registry, ToolContext, ToolError, tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
struct EchoArgs {
    /// Text to send back unchanged.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct AddArgs {
    /// First addend.
    a: i64,
    /// Second addend.
    b: i64,
}

#[derive(Serialize, JsonSchema)]
struct Sum {
    /// `a + b`.
    sum: i64,
}

#[derive(Deserialize, JsonSchema)]
struct SlowArgs {
    /// Number of steps, each reported as progress (1 to 1000; default 5).
    #[serde(default = "default_steps")]
    steps: u32,
    /// Pause per step in milliseconds (at most 10000; default 100).
    #[serde(default = "default_delay")]
    delay_ms: u64,
}

fn default_steps() -> u32 {
    5
}

fn default_delay() -> u64 {
    100
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::default().with_read_only(true).with_destructive(false).with_idempotent(true).with_open_world(false)
}

/// Adds the built-ins to `registry`.
pub fn register(registry: &mut Registry) {
    registry
        .tool(
            tool("echo", "Returns the given text unchanged.", |args: EchoArgs, _cx: ToolContext| async move {
                Ok::<_, ToolError>(args.text)
            })
            .annotations(read_only()),
        )
        .tool(
            tool("add", "Adds two integers and returns their sum as structured content.", |args: AddArgs, _cx: ToolContext| async move {
                let sum = args.a.checked_add(args.b).ok_or_else(|| ToolError::msg("the sum overflows a 64-bit integer"))?;
                Ok(Json(Sum { sum }))
            })
            .annotations(read_only()),
        )
        .tool(
            tool(
                "slow",
                "Counts through a number of steps with a pause between them, reporting progress after each; stops when cancelled.",
                |args: SlowArgs, cx: ToolContext| async move {
                    if !(1..=1000).contains(&args.steps) {
                        return Err(ToolError::msg("`steps` must be between 1 and 1000"));
                    }
                    if args.delay_ms > 10_000 {
                        return Err(ToolError::msg("`delay_ms` must be at most 10000"));
                    }
                    let total = f64::from(args.steps);
                    for step in 1..=args.steps {
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(args.delay_ms)) => {}
                            () = cx.cancelled().cancelled() => return Err(ToolError::msg(format!("cancelled after {} of {} steps", step - 1, args.steps))),
                        }
                        cx.progress(f64::from(step), Some(total), Some(format!("step {step} of {}", args.steps))).await;
                    }
                    Ok(format!("finished {} steps", args.steps))
                },
            )
            .annotations(read_only())
            // A caller with the tasks extension may have it run as a task it polls.
            .execution(serde_json::json!({"taskSupport": "optional"}).as_object().cloned().unwrap_or_default()),
        )
        .resource(TextResource::new(
            "mcptk://about",
            "about",
            "text/plain",
            concat!("mcptk ", env!("CARGO_PKG_VERSION"), ": an MCP gateway and client"),
        ))
        .prompt(prompt(
            Prompt::new("greeting", vec![PromptArgument::new("name", true).with_description("Who to greet.")])
                .with_title("Greeting")
                .with_description("Asks the model to greet someone by name."),
            |args| async move {
                let name = args.get("name").cloned().unwrap_or_default();
                let message = PromptMessage::new(Role::User, Content::text(format!("Please greet {name} warmly.")));
                Ok(GetPromptResult::new(vec![message]).with_description(format!("A greeting for {name}")))
            },
        ));
}

mcp_core::register!(register);
