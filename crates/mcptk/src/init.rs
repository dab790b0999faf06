//! `mcptk init [PATH]`: a commented starter gateway configuration.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::output::{self, Exit};

/// Options of `mcptk init`.
#[derive(clap::Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(default_value = "gateway.json")]
    pub path: PathBuf,
    /// Replace a file that is already there.
    #[arg(long)]
    pub force: bool,
    /// Print what was written as JSON (`{"path": ...}`) instead of the next steps.
    #[arg(long)]
    pub json: bool,
}

/// The starter configuration: JSON with comments, which the gateway's loader reads. Every path
/// in it is relative to the file; nothing in it needs a variable, so it works as written.
pub const STARTER: &str = r#"// mcptk gateway configuration: JSON with comments (`//`, `/* */`) and trailing commas.
// Check it:   mcptk config check --config gateway.json
// Serve it:   mcptk serve --config gateway.json
// Every field is optional; relative paths are relative to this file. The whole format, with
// every field: docs/gateway.md.
{
  // MCP servers the gateway starts and serves as `NAME__TOOL`, in the format of Claude Desktop's
  // and Cursor's `mcpServers` (bring yours in with `mcptk import`). Secrets never go in this
  // file: `${VAR}` (or `${VAR:-default}`) expands from the environment when a server starts.
  "mcpServers": {
    // "github": {
    //   "command": "npx",
    //   "args": ["-y", "@modelcontextprotocol/server-github"],
    //   "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PERSONAL_ACCESS_TOKEN}" }
    // },
    // "remote": { "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${REMOTE_TOKEN}" } },
  },

  // Servers built into mcptk, run in-process (no Node, Python or Docker needed).
  "native": {
    // Files, confined to these folders (symbolic links cannot lead out of them).
    "fs": { "roots": ["."] },
    // Commands from argv arrays, never through a shell: only these programs, run in `roots`.
    "shell": { "allow": ["ls", "cat", "head", "tail", "wc", "grep"], "roots": ["."] },
    // A read-only database, served as `shop__read_query`, `shop__list_tables`, ...
    // "sql": { "shop": { "url": "sqlite:shop.db" } },
  },

  // Who may call what. Rules are tried in order and the first that matches decides; a call no
  // rule allows is refused, audited, and names the rule that decided.
  "policy": {
    "rules": [
      // Tools that declare they only read.
      { "name": "readers", "effect": "allow", "annotations": { "readOnlyHint": true } },
      // The filesystem, writes included, within its roots.
      { "name": "files", "effect": "allow", "servers": ["fs"] },
      // The gateway's own tools: `check_access` (ask before calling) and `log_event`.
      { "name": "gateway", "effect": "allow", "servers": ["gateway"] },
      // Let everything else through while you try it out; remove this to deny what no rule allows.
      { "name": "everything-else", "effect": "allow" },
    ],
  },

  // One tamper-evident record per call, allowed or not: `mcptk audit tail|verify|export`.
  "audit": { "path": ".mcptk/audit.jsonl", "fsync": true },

  // Refuse tool definitions that changed since you approved them (`mcptk pin update`).
  // "pinning": { "lock_file": "mcptk.lock.json", "on_change": "refuse" },

  // Seconds a call may take, overall and per server.
  "timeouts": { "default_secs": 60, "servers": {} },

  // Calls per minute per caller and tool.
  // "rate_limits": [{ "name": "per-tool", "per_minute": 600, "burst": 60 }],
}
"#;

/// Writes the starter configuration to `args.path`, refusing to replace a file without `--force`.
pub fn run(args: &InitArgs) -> anyhow::Result<Exit> {
    let path = &args.path;
    // `symlink_metadata`: a link, even a dangling one, is something that exists here.
    if std::fs::symlink_metadata(path).is_ok() && !args.force {
        return Err(output::usage(format!(
            "`{}` already exists: pass --force to replace it, or give another path (`mcptk init other.json`)",
            path.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create the folder `{}`", parent.display()))?;
    }
    // The file's own name in the comments, so that the commands in them run as written.
    let text = STARTER.replace("gateway.json", &display_name(path));
    write_new(path, &text, args.force).with_context(|| format!("cannot write `{}`", path.display()))?;
    if args.json {
        output::print_json(&serde_json::json!({ "path": path, "written": true }))?;
    } else {
        let colour = output::stdout_colour();
        println!("{} {}", output::paint(colour, output::Style::Green, "wrote"), path.display());
        let quoted = quoted(&path.display().to_string());
        println!("next: mcptk config check --config {quoted}\n      mcptk serve --config {quoted}");
    }
    Ok(Exit::Ok)
}

/// Creates `path` with `text`, never writing through a symlink: without `force` the file must
/// not exist (`O_EXCL`, so a link planted meanwhile fails too); with it, the new file is written
/// beside and renamed over, which replaces a link itself rather than the file it points to.
fn write_new(path: &Path, text: &str, force: bool) -> std::io::Result<()> {
    use std::io::Write;
    let target = if force {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.tmp", std::process::id()));
        path.with_file_name(name)
    } else {
        path.to_path_buf()
    };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&target)?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| if force { std::fs::rename(&target, path) } else { Ok(()) }) {
        let _ = std::fs::remove_file(&target);
        return Err(e);
    }
    Ok(())
}

/// A path as a shell takes it: single-quoted when it holds anything but plain characters.
fn quoted(path: &str) -> String {
    if !path.is_empty() && path.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,".contains(c)) {
        path.to_owned()
    } else {
        format!("'{}'", path.replace('\'', "'\\''"))
    }
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}
