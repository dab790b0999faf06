//! `mcptk install claude|cursor|vscode`: a client's configuration changed so that the client
//! starts `mcptk serve --config GATEWAY` instead of the servers the gateway now serves.
//!
//! Printed by default (secrets written in the file shown as `***`); with `--write` the file is
//! updated in place after a copy of it is kept as `FILE.YYYYMMDDTHHMMSSZ.bak`. Servers the
//! gateway does not serve stay in the client's file, untouched, and so does everything else in it.
//! The variables the gateway configuration refers to (`${GITHUB_TOKEN}`) get their values from
//! what the moved servers had in the client's file (or, in VS Code, from the same `${input:..}`),
//! through the `env` of the `mcptk` entry: the client goes on holding the secrets it held.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::import::{self, Client, Source};
use crate::output::{self, Exit};

/// Options of `mcptk install`.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// The client: `claude` (Claude Desktop), `cursor`, `vscode`.
    #[arg(value_enum)]
    pub client: Client,
    /// The gateway configuration the client's `mcptk serve` is to use (the path is made absolute).
    #[arg(long, env = "MCPTK_CONFIG")]
    pub config: PathBuf,
    /// The client's configuration file (default: where the client keeps it on this system; see
    /// `docs/cli/config.md`).
    #[arg(long, value_name = "FILE")]
    pub config_path: Option<PathBuf>,
    /// Update the file (the old one kept as `FILE.TIMESTAMP.bak`) instead of printing it.
    #[arg(long)]
    pub write: bool,
    /// The name of the client's entry for the gateway.
    #[arg(long, default_value = "mcptk")]
    pub name: String,
    /// The program the client starts (default: this `mcptk`, by its absolute path).
    #[arg(long)]
    pub command: Option<String>,
    /// Print a report as JSON: the file, the backup, the servers moved and kept, and the new content.
    #[arg(long)]
    pub json: bool,
}

/// `mcptk install`.
pub fn run(args: &InstallArgs) -> anyhow::Result<Exit> {
    let gateway_path = std::path::absolute(&args.config)
        .with_context(|| format!("cannot make `{}` absolute", args.config.display()))?;
    if !gateway_path.exists() {
        return Err(output::classified(
            Exit::Config,
            anyhow::anyhow!(
                "the gateway configuration `{}` does not exist: create it with `mcptk init {0}` or `mcptk import CLIENT_FILE -o {0}`",
                gateway_path.display()
            ),
        ));
    }
    let gateway = mcp_gateway::GatewayConfig::load(&gateway_path).map_err(|e| output::classified(Exit::Config, e))?;
    let served: BTreeSet<String> =
        gateway.servers().map_err(|e| output::classified(Exit::Config, e))?.servers.keys().cloned().collect();
    // Of the settings only: the commented file `mcptk init` writes names variables in its prose.
    let text = std::fs::read_to_string(&gateway_path)?;
    let referenced = referenced_variables(&mcp_gateway::config::strip_comments(&text));

    let path = match &args.config_path {
        Some(path) => path.clone(),
        None => default_path(args.client, std::env::consts::OS, &|v| std::env::var(v).ok()).ok_or_else(|| {
            output::usage(format!(
                "cannot tell where {} keeps its configuration here (HOME/APPDATA unset): give --config-path",
                args.client.title()
            ))
        })?,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow::anyhow!("cannot read `{}`: {e}", path.display())),
    };
    let mut document = match &existing {
        Some(text) => import::parse_client_file(text, &path)?,
        None => json!({}),
    };
    let found = existing.as_ref().map(|_| document.clone());
    if !document.is_object() {
        return Err(output::classified(
            Exit::Config,
            anyhow::anyhow!("`{}`: expected a JSON object at the top", path.display()),
        ));
    }
    let key = args.client.servers_key();
    let imported = match document.get(key) {
        Some(_) => Some(import::convert(&document, &path, Some(args.client))?),
        None => None,
    };

    let command = match &args.command {
        Some(command) => command.clone(),
        None => {
            std::env::current_exe().context("cannot find this program's path: give --command")?.display().to_string()
        }
    };
    let mut entry = Map::new();
    if args.client == Client::Vscode {
        entry.insert("type".into(), "stdio".into());
    }
    entry.insert("command".into(), command.clone().into());
    entry.insert("args".into(), json!(["serve", "--config", gateway_path.display().to_string()]));

    let servers = document[key].as_object().cloned().unwrap_or_default();
    let mut moved = Vec::new();
    let mut kept = Vec::new();
    let mut new_servers = Map::new();
    for (name, server) in servers {
        if name == args.name {
            continue;
        }
        if served.contains(&name) {
            moved.push(name);
        } else {
            kept.push(name.clone());
            new_servers.insert(name, server);
        }
    }
    // What the gateway configuration refers to, from the moved servers' entries.
    let mut env = Map::new();
    let mut masked = Map::new();
    for variable in imported.iter().flat_map(|i| &i.variables) {
        if !moved.contains(&variable.server) || !referenced.contains(&variable.name) || env.contains_key(&variable.name)
        {
            continue;
        }
        let (value, shown) = match (&variable.source, args.client) {
            (Source::Value(v), _) => (v.clone(), "***".to_owned()),
            (Source::Input(id), Client::Vscode) => (format!("${{input:{id}}}"), format!("${{input:{id}}}")),
            (Source::Environment, Client::Vscode | Client::Cursor) => {
                let v = format!("${{env:{}}}", variable.name);
                (v.clone(), v)
            }
            _ => continue,
        };
        env.insert(variable.name.clone(), value.into());
        masked.insert(variable.name.clone(), shown.into());
    }
    // Installed before: what the old entry passed on stays, unless a moved server gives it anew.
    let old_env = document[key].get(&args.name).and_then(|e| e.get("env")).and_then(Value::as_object).cloned();
    for (name, value) in old_env.into_iter().flatten() {
        if referenced.contains(&name) && !env.contains_key(&name) {
            let shown = match value.as_str() {
                Some(text) if text.contains("${") => value.clone(),
                _ => "***".into(),
            };
            env.insert(name.clone(), value);
            masked.insert(name, shown);
        }
    }
    let missing: Vec<&String> = referenced.iter().filter(|v| !env.contains_key(*v)).collect();

    let mut shown_entry = entry.clone();
    if !env.is_empty() {
        entry.insert("env".into(), Value::Object(env));
        shown_entry.insert("env".into(), Value::Object(masked));
    }
    let mut shown_servers = new_servers.clone();
    for server in shown_servers.values_mut() {
        mask_server(server);
    }
    new_servers.insert(args.name.clone(), Value::Object(entry));
    shown_servers.insert(args.name.clone(), Value::Object(shown_entry));
    let mut shown = document.clone();
    document[key] = Value::Object(new_servers);
    shown[key] = Value::Object(shown_servers);

    // Installed already, as it would be now: nothing is written, and no backup piles up.
    let unchanged = found.as_ref() == Some(&document);
    // Comments (VS Code's file may hold them) do not survive a rewrite; the backup keeps them.
    let comments = existing.as_deref().is_some_and(|text| mcp_gateway::config::strip_comments(text) != text);
    let mut backup = None;
    if args.write && !unchanged {
        backup = write(&path, existing.as_deref(), &document)?;
    }
    if args.json {
        output::print_json(&json!({
            "client": args.client,
            "path": path,
            "written": args.write && !unchanged,
            "unchanged": unchanged,
            "backup": backup,
            "command": command,
            "gateway_config": gateway_path,
            "moved": moved,
            "kept": kept,
            "unset_variables": missing,
            "config": if args.write { Value::Null } else { shown },
        }))?;
    } else if !args.write {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    }
    if !args.json {
        let file = File { path: &path, existed: existing.is_some(), unchanged, comments };
        tell(args, &file, backup.as_deref(), &moved, &kept, &missing);
    }
    Ok(Exit::Ok)
}

/// The client's file as found.
struct File<'a> {
    path: &'a Path,
    existed: bool,
    /// It reads as it would be written.
    unchanged: bool,
    /// It has comments, which a rewrite drops.
    comments: bool,
}

/// What happened, on stderr.
fn tell(
    args: &InstallArgs,
    file: &File<'_>,
    backup: Option<&Path>,
    moved: &[String],
    kept: &[String],
    missing: &[&String],
) {
    let title = args.client.title();
    let path = file.path;
    if file.unchanged {
        let already = "already starts the gateway as it would be installed now: nothing to change";
        output::note("unchanged", &format!("`{}` {already}", path.display()));
    } else if args.write {
        let backup = backup.map(|b| format!(" (the old one is kept as `{}`)", b.display())).unwrap_or_default();
        let verb = if file.existed { "updated" } else { "created" };
        output::note(verb, &format!("`{}`{backup}: restart {title} to use the gateway", path.display()));
        if file.comments {
            output::note("warning", "the comments of the old file are not in the new one; the backup keeps them");
        }
    } else {
        output::note(
            "preview",
            &format!(
                "of `{}` (values from the file shown as ***); nothing was changed: add --write to update it",
                path.display()
            ),
        );
        if file.comments {
            output::note("warning", "the file has comments, which --write does not keep (its backup does)");
        }
    }
    if !moved.is_empty() {
        output::note("moved", &format!("behind the gateway now: {}", moved.join(", ")));
    }
    if !kept.is_empty() {
        output::note(
            "kept",
            &format!(
                "{} still starts these itself (the gateway configuration has no server of that name; `mcptk import` brings them in): {}",
                title,
                kept.join(", ")
            ),
        );
    }
    for var in missing {
        output::note(
            "warning",
            &format!(
                "the gateway configuration refers to `${{{var}}}`, which no moved server of `{}` gives: set it in the `env` of the `{}` entry or where {title} runs",
                path.display(),
                args.name
            ),
        );
    }
}

/// Keeps the file's old content as `FILE.TIMESTAMP.bak` (never over an earlier backup), then
/// replaces the file: a temporary file, readable by its owner only unless the old file allowed
/// more, renamed over it. A symbolic link is followed: its target is replaced, the link kept.
/// Returns the backup's path.
fn write(path: &Path, existing: Option<&str>, document: &Value) -> anyhow::Result<Option<PathBuf>> {
    let path = &match path.is_symlink() {
        true => std::fs::canonicalize(path).with_context(|| format!("cannot follow the link `{}`", path.display()))?,
        false => path.to_path_buf(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create the folder `{}`", parent.display()))?;
    }
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let backup = match existing {
        Some(old) => {
            let stamp = timestamp(std::time::SystemTime::now());
            let mut attempt = 0;
            loop {
                let mut name = path.file_name().unwrap_or_default().to_os_string();
                match attempt {
                    0 => name.push(format!(".{stamp}.bak")),
                    n => name.push(format!(".{stamp}.{n}.bak")),
                }
                let backup = path.with_file_name(name);
                match create_private(&backup, true) {
                    Ok(mut file) => {
                        file.write_all(old.as_bytes()).with_context(|| {
                            format!("cannot keep a copy of `{}` as `{}`", path.display(), backup.display())
                        })?;
                        if let Some(permissions) = &permissions {
                            let _ = std::fs::set_permissions(&backup, permissions.clone());
                        }
                        break Some(backup);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot keep a copy of `{}`", path.display()));
                    }
                }
            }
        }
        None => None,
    };
    let mut temporary = path.file_name().unwrap_or_default().to_os_string();
    temporary.push(".mcptk-tmp");
    let temporary = path.with_file_name(temporary);
    let mut file =
        create_private(&temporary, false).with_context(|| format!("cannot write `{}`", temporary.display()))?;
    file.write_all(format!("{}\n", serde_json::to_string_pretty(document)?).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", temporary.display()))?;
    if let Some(permissions) = permissions {
        let _ = std::fs::set_permissions(&temporary, permissions);
    }
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace `{}`", path.display()))?;
    Ok(backup)
}

/// A file created for writing, readable and writable by its owner only (it may hold the secret
/// values of the servers' environment); `new` refuses one that exists, else it is emptied.
fn create_private(path: &Path, new: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A server entry as it may be shown: secret-looking `env` and header values as `***`.
fn mask_server(server: &mut Value) {
    for field in ["env", "headers"] {
        if let Some(map) = server.get_mut(field).and_then(Value::as_object_mut) {
            for (name, value) in map.iter_mut() {
                if let Some(text) = value.as_str()
                    && !text.contains("${")
                    && (mcp_security::secret_name(name) || import::looks_secret(text))
                {
                    *value = "***".into();
                }
            }
        }
    }
}

/// The `${NAME}` references of a gateway configuration's text.
fn referenced_variables(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').unwrap_or(after.len());
        let name = after[..end].split(":-").next().unwrap_or_default();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(name.to_owned());
        }
        rest = &after[end.min(after.len())..];
    }
    out
}

/// Where `client` keeps its MCP configuration on `os` (`linux`, `macos`, `windows`), from the
/// variables `var` gives (`HOME`, `XDG_CONFIG_HOME`, `APPDATA`, `USERPROFILE`).
pub fn default_path(client: Client, os: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = || if os == "windows" { set("USERPROFILE").or_else(|| set("HOME")) } else { set("HOME") };
    // The per-user settings folder: Application Support, %APPDATA%, or XDG's config folder.
    let settings = || match os {
        "macos" => home().map(|h| h.join("Library").join("Application Support")),
        "windows" => set("APPDATA"),
        _ => set("XDG_CONFIG_HOME").or_else(|| home().map(|h| h.join(".config"))),
    };
    match client {
        Client::Claude => settings().map(|s| s.join("Claude").join("claude_desktop_config.json")),
        Client::Cursor => home().map(|h| h.join(".cursor").join("mcp.json")),
        Client::Vscode => settings().map(|s| s.join("Code").join("User").join("mcp.json")),
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
fn timestamp(at: std::time::SystemTime) -> String {
    mcp_core::rfc3339(at, false).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_per_system() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/ann".to_owned()),
            "APPDATA" => Some(r"C:\Users\ann\AppData\Roaming".to_owned()),
            "USERPROFILE" => Some(r"C:\Users\ann".to_owned()),
            _ => None,
        };
        let path = |client, os| default_path(client, os, &env).expect("a path").display().to_string();
        assert_eq!(path(Client::Claude, "linux"), "/home/ann/.config/Claude/claude_desktop_config.json");
        assert_eq!(
            path(Client::Claude, "macos"),
            "/home/ann/Library/Application Support/Claude/claude_desktop_config.json"
        );
        assert!(path(Client::Claude, "windows").starts_with(r"C:\Users\ann\AppData\Roaming"));
        assert!(path(Client::Claude, "windows").ends_with("claude_desktop_config.json"));
        assert_eq!(path(Client::Cursor, "linux"), "/home/ann/.cursor/mcp.json");
        assert!(path(Client::Cursor, "windows").starts_with(r"C:\Users\ann"));
        assert_eq!(path(Client::Vscode, "linux"), "/home/ann/.config/Code/User/mcp.json");
        assert_eq!(path(Client::Vscode, "macos"), "/home/ann/Library/Application Support/Code/User/mcp.json");
        let xdg = |name: &str| (name == "XDG_CONFIG_HOME").then(|| "/xdg".to_owned());
        assert_eq!(default_path(Client::Vscode, "linux", &xdg), Some(PathBuf::from("/xdg/Code/User/mcp.json")));
        assert_eq!(default_path(Client::Cursor, "linux", &|_| None), None);
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs| timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "19700101T000000Z");
        assert_eq!(at(951_782_400), "20000229T000000Z");
        assert_eq!(at(1_796_000_000 + 3661), "20261130T015421Z");
    }

    #[test]
    fn references_are_found_with_and_without_defaults() {
        let found = referenced_variables(r#"{"a": "${A}", "b": "x ${B:-d} y", "c": "${input:z}", "d": "${"}"#);
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["A", "B"]);
    }
}
