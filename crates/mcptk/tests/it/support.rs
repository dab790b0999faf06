//! Where the test peers live, and helpers to start them.

use std::path::PathBuf;
use std::process::Command;

use mcp_core::config::StdioServer;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file installed by `cargo xtask setup`; panics with how to install it when missing.
pub fn installed(relative: &str) -> PathBuf {
    let path = root().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask setup` (or `cargo xtask test`) to install the test peers",
        path.display()
    );
    path
}

/// Python with the `mcp` 2.x SDK and `openai-agents`.
pub fn python_mcp2() -> PathBuf {
    installed(".tools/py-mcp2/bin/python")
}

/// Python with the `mcp` 1.x SDK.
pub fn python_mcp1() -> PathBuf {
    installed(".tools/py-mcp1/bin/python")
}

/// The `mcptk` binary under test.
pub fn mcptk() -> String {
    env!("CARGO_BIN_EXE_mcptk").to_owned()
}

/// npm's reference server with every protocol feature.
pub fn everything() -> StdioServer {
    let bin = installed("tests/node/node_modules/.bin/mcp-server-everything");
    StdioServer::new(bin.display().to_string(), ["stdio"])
}

/// A Python `mcp` 2.x server speaking `2026-07-28`.
pub fn python_modern_server() -> StdioServer {
    let script = root().join("tests/python/server_modern.py");
    StdioServer::new(python_mcp2().display().to_string(), [script.display().to_string()])
}

/// Runs a Python client script against `mcptk serve` and parses the JSON it prints.
pub fn run_python_client(python: PathBuf, script: &str) -> serde_json::Value {
    let output = Command::new(python)
        .arg(root().join("tests/python").join(script))
        .args([mcptk().as_str(), "serve", "builtin"])
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}
