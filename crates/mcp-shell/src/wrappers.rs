//! Typed calls to the shell tools.

use mcp_core::CallTool;
use mcp_core::protocol::CallToolResult;
use mcp_core::typed::{decode_result, to_arguments};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecOutput {
    /// Exit code; `None` when killed by a signal or timed out (or not reported by the server).
    pub exit_code: Option<i32>,
    /// Standard output (up to the server's cap).
    pub stdout: String,
    /// Standard error (up to the server's cap).
    pub stderr: String,
    /// Standard output was cut at the cap.
    #[serde(default)]
    pub stdout_truncated: bool,
    /// Standard error was cut at the cap.
    #[serde(default)]
    pub stderr_truncated: bool,
    /// The command was killed at its timeout.
    #[serde(default)]
    pub timed_out: bool,
}

impl ExecOutput {
    /// Exited with status 0 and was not killed.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Typed access to a shell server (native, or another server with the same tools).
#[derive(Debug, Clone)]
pub struct Shell<C> {
    caller: C,
}

impl<C: CallTool> Shell<C> {
    /// Wraps a connection to a shell server (or the native tools).
    pub fn new(caller: C) -> Self {
        Self { caller }
    }

    /// `shell_execute`: runs `argv` (program first) with optional stdin, working directory and
    /// timeout in seconds. A command that fails still returns `Ok` with its exit code.
    pub async fn shell_execute(
        &self,
        argv: &[&str],
        stdin: Option<&str>,
        directory: Option<&str>,
        timeout_secs: Option<u64>,
    ) -> Result<ExecOutput> {
        let mut args = json!({ "command": argv });
        if let Some(s) = stdin {
            args["stdin"] = json!(s);
        }
        if let Some(d) = directory {
            args["directory"] = json!(d);
        }
        if let Some(t) = timeout_secs {
            args["timeout"] = json!(t);
        }
        self.run("shell_execute", args).await
    }

    /// The seed's `execute(command, cwd)`: a command line split into arguments like a shell
    /// would (quotes and backslashes), but never run by one.
    pub async fn execute(&self, command: &str, cwd: Option<&str>) -> Result<ExecOutput> {
        let mut args = json!({ "command": command });
        if let Some(d) = cwd {
            args["cwd"] = json!(d);
        }
        self.run("execute", args).await
    }

    async fn run(&self, tool: &str, args: Value) -> Result<ExecOutput> {
        let result = self.caller.call_tool(tool, to_arguments(tool, &args)?).await?;
        parse(tool, result)
    }
}

/// Reads our structured result, or the plain text blocks other shell servers return.
fn parse(tool: &str, result: CallToolResult) -> Result<ExecOutput> {
    // Our result, also under `isError`: a command that failed is still a command result.
    if let Some(structured) = &result.structured_content
        && let Ok(output) = serde_json::from_value::<ExecOutput>(structured.clone())
    {
        return Ok(output);
    }
    if result.is_error() {
        // `Error::ToolFailed` with the tool's words.
        return Ok(decode_result(tool, &result)?);
    }
    // Other servers: the first text block is stdout, a second one stderr.
    let texts: Vec<String> = result
        .content
        .iter()
        .filter_map(|c| match c {
            mcp_core::protocol::Content::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect();
    Ok(ExecOutput {
        exit_code: Some(0),
        stdout: texts.first().cloned().unwrap_or_default(),
        stderr: texts.get(1).cloned().unwrap_or_default(),
        ..ExecOutput::default()
    })
}
