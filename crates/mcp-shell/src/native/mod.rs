//! The native shell server: `shell_execute` (argv array) and the seed's `execute` (a command line
//! split like a shell would, never run by one), for allowlisted programs only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_shell::native::{ShellConfig, ShellServer};
//! let config = ShellConfig { allow: vec!["ls".into(), "git".into()], roots: vec!["/srv/repo".into()], ..Default::default() };
//! let tools = ShellServer::new(config)?.registry();
//! # let _ = tools; Ok(()) }
//! ```

mod policy;
mod run;

use std::sync::Arc;
use std::time::Duration;

use mcp_core::protocol::{CallToolResult, Content, ToolAnnotations};
use mcp_core::{Registry, ToolContext, ToolError, tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

pub use policy::{
    DeniedOption, INTERPRETERS, Policy, READ_ONLY, Risk, Scope, ShellConfig, UNCHECKED_WRITERS, default_denied_options,
    default_denied_subcommands, split_command_line,
};

use crate::ExecOutput;

/// The native shell tools over a checked [`Policy`].
#[derive(Debug, Clone)]
pub struct ShellServer {
    policy: Arc<Policy>,
}

impl ShellServer {
    /// Checks the configuration: every allowed program must be found, every root must exist.
    pub fn new(config: ShellConfig) -> crate::Result<Self> {
        Ok(Self { policy: Arc::new(Policy::new(config)?) })
    }

    /// The checked policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A registry with both tools.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        self.register(&mut registry);
        registry
    }

    /// Adds both tools to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let allowed: Vec<&str> = self.policy.programs.keys().map(String::as_str).collect();
        let allowed = allowed.join(", ");
        // Read-only when every allowed program only reads; otherwise anything may change.
        let read_only = self.policy.read_only();
        let annotations = ToolAnnotations::default()
            .with_read_only(read_only)
            .with_destructive(!read_only)
            .with_idempotent(read_only)
            .with_open_world(true);

        let p = self.policy.clone();
        registry.tool(
            tool(
                "shell_execute",
                format!(
                    "Runs one command given as an argument array (program first), without a shell: no pipes, \
                     redirection, globbing or chaining. Optional stdin, working directory (within the allowed \
                     directories) and timeout in seconds. Returns exit code, stdout and stderr. Allowed commands: {allowed}."
                ),
                move |a: ShellExecuteArgs, cx: ToolContext| {
                    let p = p.clone();
                    async move { execute(&p, a.command, a.stdin, a.directory, a.timeout, cx).await }
                },
            )
            .title("Execute Command")
            .input_schema(object(json!({
                "command": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "The program and its arguments, e.g. [\"git\", \"status\"]"},
                "stdin": {"type": "string", "description": "Text passed to the command's standard input"},
                "directory": {"type": "string", "description": "Working directory, within the allowed directories"},
                "timeout": {"type": "integer", "minimum": 1, "description": "Seconds before the command and everything it started are killed"}
            }), &["command"]))
            .output_schema(output_schema())
            .annotations(annotations.clone()),
        );

        let p = self.policy.clone();
        registry.tool(
            tool(
                "execute",
                format!(
                    "Runs a command line split into words like a shell would (quotes and backslashes work), \
                     but never through a shell: `;`, `&&`, `|`, `$(..)`, backticks, redirection and globs are refused. \
                     Optional working directory (cwd) within the allowed directories. Allowed commands: {allowed}."
                ),
                move |a: ExecuteArgs, cx: ToolContext| {
                    let p = p.clone();
                    async move {
                        let argv = split_command_line(&a.command).map_err(ToolError::from)?;
                        execute(&p, argv, None, a.cwd, None, cx).await
                    }
                },
            )
            .title("Execute Command Line")
            .input_schema(object(
                json!({
                    "command": {"type": "string", "description": "The command line, e.g. \"git log --oneline -5\""},
                    "cwd": {"type": "string", "description": "Working directory, within the allowed directories"}
                }),
                &["command"],
            ))
            .output_schema(output_schema())
            .annotations(annotations),
        );
    }
}

async fn execute(
    policy: &Policy,
    argv: Vec<String>,
    stdin: Option<String>,
    directory: Option<String>,
    timeout: Option<u64>,
    cx: ToolContext,
) -> Result<CallToolResult, ToolError> {
    let program = policy.check(&argv)?;
    let directory = policy.directory(directory.as_deref())?;
    policy.confine_arguments(&argv, &directory)?;
    let timeout = match timeout {
        None => policy.config.timeout,
        Some(0) => return Err(ToolError::msg("`timeout` must be at least 1 second")),
        Some(secs) => Duration::from_secs(secs).min(policy.config.max_timeout),
    };
    tracing::info!(command = %argv[0], args = argv.len() - 1, directory = %directory.display(), "running command");
    let sink = ProgressSink { cx: &cx };
    let job = run::Job { program: &program, argv: &argv, directory: &directory, stdin: stdin.as_deref(), timeout };
    let output = run::run(policy, job, cx.cancelled(), &sink).await?;
    Ok(result(&argv[0], &output, timeout))
}

/// Output chunks as progress notifications (only sent when the caller asked for progress).
struct ProgressSink<'a> {
    cx: &'a ToolContext,
}

impl run::OutputSink for ProgressSink<'_> {
    async fn chunk(&self, is_stderr: bool, text: &str, seen: u64) {
        let message = if is_stderr { format!("stderr: {text}") } else { text.to_owned() };
        self.cx.progress(seen as f64, None, Some(message)).await;
    }
}

/// Text for the model (stdout, stderr, status) and the same as structured content.
fn result(program: &str, output: &ExecOutput, timeout: Duration) -> CallToolResult {
    let mut content = Vec::new();
    if !output.stdout.is_empty() {
        let mark = if output.stdout_truncated { "\n[stdout truncated]" } else { "" };
        content.push(Content::text(format!("{}{mark}", output.stdout)));
    }
    if !output.stderr.is_empty() {
        let mark = if output.stderr_truncated { "\n[stderr truncated]" } else { "" };
        content.push(Content::text(format!("stderr:\n{}{mark}", output.stderr)));
    }
    let status = match (output.timed_out, output.exit_code) {
        (true, _) => format!("`{program}` was killed after the timeout of {}s", timeout.as_secs()),
        (false, Some(code)) => format!("exit status: {code}"),
        (false, None) => format!("`{program}` was killed by a signal"),
    };
    content.push(Content::text(status));
    let result = CallToolResult::new(content).with_structured(serde_json::to_value(output).unwrap_or_default());
    if output.success() { result } else { result.with_error(true) }
}

fn object(properties: Value, required: &[&str]) -> mcp_core::protocol::JsonObject {
    match json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false}) {
        Value::Object(map) => map,
        _ => mcp_core::protocol::JsonObject::new(),
    }
}

fn output_schema() -> mcp_core::protocol::JsonObject {
    object(
        json!({
            "exitCode": {"type": ["integer", "null"]},
            "stdout": {"type": "string"},
            "stderr": {"type": "string"},
            "stdoutTruncated": {"type": "boolean"},
            "stderrTruncated": {"type": "boolean"},
            "timedOut": {"type": "boolean"}
        }),
        &["exitCode", "stdout", "stderr", "stdoutTruncated", "stderrTruncated", "timedOut"],
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ShellExecuteArgs {
    command: Vec<String>,
    stdin: Option<String>,
    directory: Option<String>,
    timeout: Option<u64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecuteArgs {
    command: String,
    cwd: Option<String>,
}
