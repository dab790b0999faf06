//! What the tests share: a typical record, and reading and rewriting a file by lines.
#![allow(dead_code)] // each test binary uses part of it

use std::path::Path;

use mcp_audit::NewRecord;

/// The `n`th record of a typical call.
pub fn record(n: u64) -> NewRecord {
    NewRecord {
        kind: "tool_call".into(),
        principal: "alice".into(),
        server: "fs".into(),
        tool: "read_text_file".into(),
        arguments: serde_json::json!({ "path": format!("/data/{n}.txt") }),
        decision: "allow".into(),
        outcome: "ok".into(),
        trace_id: format!("trace-{n}"),
        ..NewRecord::default()
    }
}

pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).expect("readable").lines().map(str::to_owned).collect()
}

pub fn rewrite(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("writes");
}

/// Runs the ignored test `name` of this test binary in a child under the shell's `limits` (such
/// as `ulimit -f 128`), with `MCP_AUDIT_IN_CHILD` set, and checks it printed `child passed`.
/// Signals ignored here (`trap '' XFSZ`) stay ignored across `exec`.
pub fn pass_in_child(name: &str, limits: &str) {
    let me = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{limits}; exec \"$0\" \"$@\""))
        .arg(me)
        .args(["--exact", name, "--nocapture", "--ignored"])
        .env("MCP_AUDIT_IN_CHILD", "1")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True in the child of [`pass_in_child`]: the ignored tests it runs do nothing elsewhere.
pub fn in_child() -> bool {
    std::env::var_os("MCP_AUDIT_IN_CHILD").is_some()
}
