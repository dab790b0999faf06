//! `mcptk import FILE`: the MCP servers of a client's configuration (Claude Desktop, Cursor,
//! VS Code) as a gateway configuration.
//!
//! What a client's file holds in clear that looks like a secret (a token in `env`, an
//! `Authorization` header, a key in a URL's query or after an option such as `--api-key`) is not
//! copied: the gateway configuration refers to a variable instead (`${GITHUB_TOKEN}`), and the
//! person is told which variables to set. What only the client can resolve (VS Code's
//! `${input:...}` prompts) becomes a variable too, and is said so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mcp_security::secret_name;
use serde_json::{Map, Value, json};

use crate::output::{self, Exit};

/// The clients whose configuration `import` reads and `install` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    /// Claude Desktop: `claude_desktop_config.json`, servers under `mcpServers`.
    Claude,
    /// Cursor: `mcp.json` (`~/.cursor/` or a project's `.cursor/`), servers under `mcpServers`.
    Cursor,
    /// VS Code: `.vscode/mcp.json` or the user profile's `mcp.json`, servers under `servers`.
    Vscode,
}

impl Client {
    /// The key its file keeps servers under.
    pub fn servers_key(self) -> &'static str {
        match self {
            Client::Vscode => "servers",
            Client::Claude | Client::Cursor => "mcpServers",
        }
    }

    /// Its name for people.
    pub fn title(self) -> &'static str {
        match self {
            Client::Claude => "Claude Desktop",
            Client::Cursor => "Cursor",
            Client::Vscode => "VS Code",
        }
    }
}

/// Options of `mcptk import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The client's configuration: Claude Desktop's `claude_desktop_config.json`, Cursor's
    /// `mcp.json`, VS Code's `.vscode/mcp.json` (or a `settings.json` with `mcp.servers`).
    pub file: PathBuf,
    /// Which client wrote it (default: told from its content: `servers` is VS Code's,
    /// `mcpServers` Claude Desktop's or Cursor's).
    #[arg(long, value_enum)]
    pub from: Option<Client>,
    /// Write the gateway configuration to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Replace the --output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print a report as JSON instead: `config`, the `variables` to set, and `notes`.
    #[arg(long)]
    pub json: bool,
}

/// Where a variable's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// Written in the client's file (not copied into the gateway configuration).
    Value(String),
    /// A VS Code input (`${input:ID}`): the client asks for it when it starts a server.
    Input(String),
    /// The environment (`${env:NAME}`): set where the client runs.
    Environment,
}

/// Never shows a value.
impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Value(_) => f.write_str("Value(***)"),
            Source::Input(id) => write!(f, "Input({id})"),
            Source::Environment => f.write_str("Environment"),
        }
    }
}

/// A variable the gateway configuration refers to, which must be set where `mcptk serve` runs.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Its name, as in `${NAME}`.
    pub name: String,
    /// The server whose entry refers to it.
    pub server: String,
    /// Where in that entry: `env.GITHUB_TOKEN`, `headers.Authorization`, `url`, `args[3]`.
    pub field: String,
    /// Where its value comes from.
    pub source: Source,
}

impl Variable {
    fn report(&self) -> Value {
        let from = match &self.source {
            Source::Value(_) => json!({ "kind": "value", "note": "written in the client's file; not copied" }),
            Source::Input(id) => json!({ "kind": "input", "input": id }),
            Source::Environment => json!({ "kind": "environment" }),
        };
        json!({ "name": self.name, "server": self.server, "field": self.field, "from": from })
    }
}

/// A client's servers as gateway entries.
#[derive(Debug)]
pub struct Imported {
    /// Which client's file it was.
    pub client: Client,
    /// Gateway `mcpServers` entries by name.
    pub servers: BTreeMap<String, Value>,
    /// Variables the entries refer to.
    pub variables: Vec<Variable>,
    /// What a person should know: what was not carried over, and why.
    pub notes: Vec<String>,
}

impl Imported {
    /// The gateway configuration.
    pub fn config(&self) -> Value {
        json!({ "mcpServers": self.servers })
    }
}

/// `mcptk import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<Exit> {
    let imported = read(&args.file, args.from)?;
    let config = imported.config();
    for note in &imported.notes {
        output::note("note", note);
    }
    let text = format!("{}\n", serde_json::to_string_pretty(&config)?);
    match &args.output {
        Some(path) => {
            if path.exists() && !args.force {
                return Err(output::usage(format!(
                    "`{}` already exists: pass --force to replace it, or give another --output",
                    path.display()
                )));
            }
            std::fs::write(path, &text).with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        None if !args.json => print!("{text}"),
        None => {}
    }
    if args.json {
        let variables: Vec<Value> = imported.variables.iter().map(Variable::report).collect();
        output::print_json(&json!({
            "client": imported.client,
            "file": args.file,
            "output": args.output,
            "config": config,
            "variables": variables,
            "notes": imported.notes,
        }))?;
    } else {
        explain(&imported, args);
    }
    Ok(Exit::Ok)
}

/// Tells the person (on stderr: stdout may be the configuration) what to do next.
fn explain(imported: &Imported, args: &ImportArgs) {
    let count = imported.servers.len();
    let target = args.output.as_ref().map_or_else(|| "stdout".to_owned(), |p| format!("`{}`", p.display()));
    output::note(
        "imported",
        &format!("{count} server(s) from {} (`{}`) to {target}", imported.client.title(), args.file.display()),
    );
    let mut seen = std::collections::BTreeSet::new();
    for v in &imported.variables {
        if !seen.insert(&v.name) {
            continue;
        }
        let why = match &v.source {
            Source::Value(_) => format!("its value is in `{}` and was not copied", args.file.display()),
            Source::Input(id) => {
                format!("VS Code asks for `${{input:{id}}}` when it starts the server; mcptk cannot ask")
            }
            Source::Environment => "VS Code or Cursor took it from the environment".to_owned(),
        };
        output::note(
            "set",
            &format!("`{}` in the environment of `mcptk serve` (server `{}`, {}): {why}", v.name, v.server, v.field),
        );
    }
    if !imported.variables.is_empty() {
        output::note(
            "hint",
            &format!(
                "`mcptk install {}` passes these to mcptk from the client's configuration",
                format!("{:?}", imported.client).to_lowercase()
            ),
        );
    }
}

/// Reads a client's configuration file (JSON, comments allowed as VS Code allows them).
pub fn read(path: &Path, from: Option<Client>) -> anyhow::Result<Imported> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let exit = if e.kind() == std::io::ErrorKind::NotFound { Exit::Usage } else { Exit::Failure };
        output::classified(exit, anyhow::anyhow!("cannot read the client configuration `{}`: {e}", path.display()))
    })?;
    let value = parse_client_file(&text, path)?;
    convert(&value, path, from)
}

/// Parses a client's file; errors name the file and position, never a value.
pub fn parse_client_file(text: &str, path: &Path) -> anyhow::Result<Value> {
    let plain = mcp_gateway::config::strip_comments(text);
    serde_json::from_str(&plain).map_err(|e| {
        output::classified(
            Exit::Config,
            anyhow::anyhow!(
                "`{}` is not valid JSON at line {}, column {} ({:?} error): fix it, or check that it is the client's MCP configuration",
                path.display(),
                e.line(),
                e.column(),
                e.classify()
            ),
        )
    })
}

/// The servers of a client's configuration `value` (read from `path`) as gateway entries.
pub fn convert(value: &Value, path: &Path, from: Option<Client>) -> anyhow::Result<Imported> {
    let bad = |what: String| output::classified(Exit::Config, anyhow::anyhow!("`{}`: {what}", path.display()));
    let root = value.as_object().ok_or_else(|| bad("expected a JSON object at the top".into()))?;
    let vscode_servers = root.get("servers").or_else(|| root.get("mcp").and_then(|m| m.get("servers")));
    let (client, servers) = match from {
        Some(Client::Vscode) => (Client::Vscode, vscode_servers),
        Some(client) => (client, root.get("mcpServers")),
        None => match (root.get("mcpServers"), vscode_servers) {
            (Some(servers), _) => (guess_mcp_servers_client(path), Some(servers)),
            (None, Some(servers)) => (Client::Vscode, Some(servers)),
            (None, None) => (guess_mcp_servers_client(path), None),
        },
    };
    let Some(servers) = servers else {
        return Err(bad(format!(
            "no `{}` object: is this {}'s MCP configuration? (Claude Desktop and Cursor keep servers under \
             `mcpServers`, VS Code under `servers`; --from says which client wrote it)",
            client.servers_key(),
            client.title()
        )));
    };
    let servers =
        servers.as_object().ok_or_else(|| bad(format!("`{}` must be an object of servers", client.servers_key())))?;
    let mut importer = Importer {
        client,
        workspace: workspace_folder(path, client),
        variables: Vec::new(),
        notes: Vec::new(),
        file: path.to_owned(),
    };
    let mut out = BTreeMap::new();
    for (name, entry) in servers {
        if let Some(entry) = importer.server(name, entry) {
            out.insert(name.clone(), entry);
        }
    }
    if client == Client::Vscode && root.get("inputs").is_some_and(|i| i.as_array().is_some_and(|a| !a.is_empty())) {
        let used = importer.variables.iter().any(|v| matches!(v.source, Source::Input(_)));
        if !used {
            importer.notes.push("the file's `inputs` are used by no imported server; they were left out".into());
        }
    }
    Ok(Imported { client, servers: out, variables: importer.variables, notes: importer.notes })
}

/// Claude Desktop's file has its own name; `mcp.json` under `.cursor` is Cursor's.
fn guess_mcp_servers_client(path: &Path) -> Client {
    let in_cursor = path.parent().and_then(Path::file_name).is_some_and(|n| n == ".cursor");
    let named_mcp = path.file_name().is_some_and(|n| n == "mcp.json");
    if in_cursor || named_mcp { Client::Cursor } else { Client::Claude }
}

/// `${workspaceFolder}` of a project file (`.vscode/mcp.json`, `.cursor/mcp.json`): the folder
/// that holds `.vscode` or `.cursor`.
fn workspace_folder(path: &Path, client: Client) -> Option<PathBuf> {
    let dir = match client {
        Client::Vscode => ".vscode",
        Client::Cursor => ".cursor",
        Client::Claude => return None,
    };
    let parent = path.parent()?;
    if parent.file_name()? != dir {
        return None;
    }
    let folder = parent.parent()?;
    let folder = if folder.as_os_str().is_empty() { Path::new(".") } else { folder };
    Some(std::path::absolute(folder).unwrap_or_else(|_| folder.to_owned()))
}

struct Importer {
    client: Client,
    workspace: Option<PathBuf>,
    variables: Vec<Variable>,
    notes: Vec<String>,
    file: PathBuf,
}

/// Fields of a client's server entry that are carried over or understood.
const KNOWN_FIELDS: &[&str] = &["type", "command", "args", "env", "cwd", "url", "headers", "disabled", "envFile"];

impl Importer {
    fn server(&mut self, name: &str, entry: &Value) -> Option<Value> {
        let Some(entry) = entry.as_object() else {
            self.notes.push(format!("server `{name}`: not an object; skipped"));
            return None;
        };
        let kind = entry.get("type").and_then(Value::as_str).unwrap_or("");
        let mut out = Map::new();
        let url = entry.get("url").and_then(Value::as_str);
        let command = entry.get("command").and_then(Value::as_str);
        match (command, url) {
            (Some(command), _) if kind != "http" && kind != "sse" => {
                out.insert("command".into(), self.text(name, "command", command).into());
                let args = self.args(name, entry.get("args"));
                if !args.is_empty() {
                    out.insert("args".into(), args.into());
                }
                let env = self.env(name, entry.get("env"));
                if !env.is_empty() {
                    out.insert("env".into(), Value::Object(env));
                }
                if let Some(cwd) = entry.get("cwd").and_then(Value::as_str) {
                    out.insert("cwd".into(), self.text(name, "cwd", cwd).into());
                }
            }
            (_, Some(url)) => {
                let url = self.url(name, url);
                out.insert("url".into(), url.into());
                let headers = self.headers(name, entry.get("headers"));
                if !headers.is_empty() {
                    out.insert("headers".into(), Value::Object(headers));
                }
                if kind == "sse" {
                    self.notes.push(format!(
                        "server `{name}` uses the older HTTP+SSE transport: mcptk finds that out at the URL and speaks it"
                    ));
                }
            }
            _ => {
                self.notes.push(format!(
                    "server `{name}`: neither `command` nor `url` (type `{kind}`); skipped: add it by hand to the gateway configuration"
                ));
                return None;
            }
        }
        if entry.get("disabled").and_then(Value::as_bool) == Some(true) {
            out.insert("disabled".into(), true.into());
        }
        if let Some(file) = entry.get("envFile").and_then(Value::as_str) {
            self.notes.push(format!(
                "server `{name}`: its `envFile` (`{file}`) is not read: put its variables in the environment of `mcptk serve`"
            ));
        }
        let unknown: Vec<&str> =
            entry.keys().map(String::as_str).filter(|k| !KNOWN_FIELDS.contains(k)).collect::<Vec<_>>();
        if !unknown.is_empty() {
            self.notes
                .push(format!("server `{name}`: left out what the gateway has no use for: {}", unknown.join(", ")));
        }
        Some(Value::Object(out))
    }

    fn args(&mut self, server: &str, args: Option<&Value>) -> Vec<Value> {
        let args: Vec<&str> =
            args.and_then(Value::as_array).map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).collect());
        let mut out = Vec::with_capacity(args.len());
        for (i, arg) in args.iter().enumerate() {
            let field = format!("args[{i}]");
            // `--api-key VALUE`, `--token=VALUE`: the value after a secret-named option.
            let option_before = i.checked_sub(1).map(|p| args[p]).filter(|p| p.starts_with('-') && !p.contains('='));
            let value = if let Some((option, value)) = arg.split_once('=').filter(|(o, _)| o.starts_with('-')) {
                if secret_name(option) && looks_literal(value) {
                    let var = self.variable(server, &field, option, Source::Value(value.to_owned()));
                    format!("{option}=${{{var}}}")
                } else {
                    self.text(server, &field, arg)
                }
            } else if option_before.is_some_and(secret_name) && looks_literal(arg) && !arg.starts_with('-') {
                let option = option_before.unwrap_or_default();
                let var = self.variable(server, &field, option, Source::Value((*arg).to_owned()));
                format!("${{{var}}}")
            } else if looks_secret(arg) {
                let var = self.variable(server, &field, "secret", Source::Value((*arg).to_owned()));
                format!("${{{var}}}")
            } else {
                self.text(server, &field, arg)
            };
            out.push(Value::String(value));
        }
        out
    }

    fn env(&mut self, server: &str, env: Option<&Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in env.and_then(Value::as_object).into_iter().flatten() {
            let field = format!("env.{key}");
            let Some(value) = value.as_str().map(str::to_owned).or_else(|| scalar(value)) else {
                self.notes.push(format!("server `{server}`: {field} is not a string; left out"));
                continue;
            };
            let value = if looks_literal(&value) && (secret_name(key) || looks_secret(&value)) {
                let var = self.variable_named(server, &field, key, Source::Value(value));
                format!("${{{var}}}")
            } else {
                self.text(server, &field, &value)
            };
            out.insert(key.clone(), value.into());
        }
        out
    }

    fn headers(&mut self, server: &str, headers: Option<&Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in headers.and_then(Value::as_object).into_iter().flatten() {
            let field = format!("headers.{key}");
            let Some(value) = value.as_str() else { continue };
            let (scheme, credential) = match value.split_once(' ') {
                Some((scheme, rest))
                    if ["bearer", "basic", "token"].contains(&scheme.to_ascii_lowercase().as_str()) =>
                {
                    (format!("{scheme} "), rest)
                }
                _ => (String::new(), value),
            };
            let value = if looks_literal(credential) && (secret_name(key) || looks_secret(credential)) {
                let hint = if key.eq_ignore_ascii_case("authorization") { "token" } else { key.as_str() };
                let var = self.variable(server, &field, hint, Source::Value(credential.to_owned()));
                format!("{scheme}${{{var}}}")
            } else {
                self.text(server, &field, value)
            };
            out.insert(key.clone(), value.into());
        }
        out
    }

    /// A URL with the values of secret-named query parameters (`?api_key=...`) as variables.
    fn url(&mut self, server: &str, url: &str) -> String {
        let mut url = self.text(server, "url", url);
        // A password in the authority (`https://user:pw@host`) becomes a variable too.
        if let Some((scheme, rest)) = url.split_once("://") {
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            if let Some((userinfo, host)) = authority.rsplit_once('@')
                && let Some((user, password)) = userinfo.split_once(':')
                && looks_literal(password)
            {
                let var = self.variable(server, "url", "password", Source::Value(password.to_owned()));
                let after = &rest[authority.len()..];
                url = format!("{scheme}://{user}:${{{var}}}@{host}{after}");
            }
        }
        let Some((base, query)) = url.split_once('?') else { return url };
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        let mut parts = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((name, value)) if looks_literal(value) && (secret_name(name) || looks_secret(value)) => {
                    let var = self.variable(server, "url", name, Source::Value(value.to_owned()));
                    parts.push(format!("{name}=${{{var}}}"));
                }
                _ => parts.push(pair.to_owned()),
            }
        }
        let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
        format!("{base}?{}{fragment}", parts.join("&"))
    }

    /// A value with the client's own variables turned into the gateway's: `${env:X}` is `${X}`,
    /// `${workspaceFolder}` and `${userHome}` are resolved where they can be, and what only the
    /// client can resolve (`${input:ID}`, anything else) becomes a variable of its own.
    fn text(&mut self, server: &str, field: &str, value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let reference = &after[..end];
            out.push_str(&self.reference(server, field, reference, value));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn reference(&mut self, server: &str, field: &str, reference: &str, whole: &str) -> String {
        if let Some(name) = reference.strip_prefix("env:") {
            self.record(server, field, name, Source::Environment);
            return format!("${{{name}}}");
        }
        if let Some(id) = reference.strip_prefix("input:") {
            // The whole value of `env.KEY` is the input: the variable is named KEY.
            let hint = match field.strip_prefix("env.") {
                Some(key) if whole == format!("${{input:{id}}}") => key.to_owned(),
                _ => id.to_owned(),
            };
            let var = self.variable_named(server, field, &hint, Source::Input(id.to_owned()));
            return format!("${{{var}}}");
        }
        match reference {
            "userHome" => return "${HOME}".to_owned(),
            "pathSeparator" | "/" => return std::path::MAIN_SEPARATOR.to_string(),
            "workspaceFolder" | "workspaceRoot" | "workspaceFolderBasename" => {
                if let Some(folder) = &self.workspace {
                    return if reference == "workspaceFolderBasename" {
                        folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                    } else {
                        folder.display().to_string()
                    };
                }
                self.notes.push(format!(
                    "server `{server}`: `${{{reference}}}` in {field} cannot be resolved from `{}` (not in a project's `.vscode` or `.cursor` folder): it is now `${{WORKSPACE_FOLDER}}`: set that variable",
                    self.file.display()
                ));
                self.record(server, field, "WORKSPACE_FOLDER", Source::Environment);
                return "${WORKSPACE_FOLDER}".to_owned();
            }
            _ => {}
        }
        // Already a variable of the gateway's own form: kept.
        if !reference.is_empty()
            && !reference.starts_with(|c: char| c.is_ascii_digit())
            && reference.split(":-").next().is_some_and(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return format!("${{{reference}}}");
        }
        let var = env_name(&format!("{server}_{reference}"));
        self.notes.push(format!(
            "server `{server}`: `${{{reference}}}` in {field} is {}'s to resolve, not mcptk's: it is now `${{{var}}}`: set that variable",
            self.client.title()
        ));
        self.record(server, field, &var, Source::Environment);
        format!("${{{var}}}")
    }

    /// A variable for a secret named after `hint` and its server (`GITHUB_TOKEN` for the
    /// `Authorization` header of `github`).
    fn variable(&mut self, server: &str, field: &str, hint: &str, source: Source) -> String {
        let hint = hint.trim_start_matches('-');
        let name = env_name(&format!("{server}_{hint}"));
        self.variable_named(server, field, &name, source)
    }

    /// A variable named `name` (as an environment variable name), or, when another value took
    /// that name already, one prefixed with the server's name.
    fn variable_named(&mut self, server: &str, field: &str, name: &str, source: Source) -> String {
        let base = env_name(name);
        let mut candidates = vec![base.clone(), env_name(&format!("{server}_{base}"))];
        candidates.dedup();
        for n in 2.. {
            let name = match candidates.get(n - 2) {
                Some(candidate) => candidate.clone(),
                None => format!("{}_{n}", env_name(&format!("{server}_{base}"))),
            };
            let clash = self.variables.iter().any(|v| v.name == name && v.source != source);
            if !clash {
                self.record(server, field, &name, source);
                return name;
            }
        }
        unreachable!("an unused name is always found")
    }

    fn record(&mut self, server: &str, field: &str, name: &str, source: Source) {
        let variable = Variable { name: name.to_owned(), server: server.to_owned(), field: field.to_owned(), source };
        if !self
            .variables
            .iter()
            .any(|v| v.name == variable.name && v.server == variable.server && v.field == variable.field)
        {
            self.variables.push(variable);
        }
    }
}

/// A number or boolean written where a string belongs (`"PORT": 8080`), as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A literal value (not already a reference of either kind).
fn looks_literal(value: &str) -> bool {
    !value.is_empty() && !value.contains("${")
}

/// Whether a value looks like a credential whatever its name: a known token shape, a URL with a
/// password, or a long random-looking string.
pub fn looks_secret(value: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "glpat-",
        "sk-",
        "sk_live_",
        "rk_live_",
        "xoxb-",
        "xoxp-",
        "xapp-",
        "AKIA",
        "ASIA",
        "AIza",
        "pplx-",
        "hf_",
        "npm_",
    ];
    let value = value.trim();
    if PREFIXES.iter().any(|p| value.starts_with(p) && value.len() >= p.len() + 8) {
        return true;
    }
    if value.starts_with("eyJ") && value.matches('.').count() == 2 {
        return true;
    }
    if let Some((_, rest)) = value.split_once("://")
        && let Some((userinfo, _)) = rest.split_once('@')
        && userinfo.contains(':')
    {
        return true;
    }
    value.len() >= 24
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "_-+=".contains(c))
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic())
}

/// `name` as an environment variable name: upper case, `_` for anything else.
fn env_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) { format!("_{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_told_by_their_shape() {
        for value in [
            "ghp_0123456789abcdefABCDEF",
            "sk-proj-abcdefgh12345678",
            "postgres://u:pw@db/x",
            "a1B2c3D4e5F6g7H8i9J0k1L2",
        ] {
            assert!(looks_secret(value), "{value}");
        }
        for value in ["/home/me/projects", "production", "info", "https://api.example.com/v1", "8080"] {
            assert!(!looks_secret(value), "{value}");
        }
    }

    #[test]
    fn variable_names_are_valid_and_distinct_per_value() {
        assert_eq!(env_name("github-token"), "GITHUB_TOKEN");
        assert_eq!(env_name("1st"), "_1ST");
        let value = json!({"mcpServers": {
            "a": {"command": "x", "env": {"TOKEN": "ghp_aaaaaaaaaaaaaaaaaaaa1"}},
            "b": {"command": "x", "env": {"TOKEN": "ghp_bbbbbbbbbbbbbbbbbbbb2"}},
            "c": {"command": "x", "env": {"TOKEN": "ghp_aaaaaaaaaaaaaaaaaaaa1"}},
        }});
        let imported = convert(&value, Path::new("claude_desktop_config.json"), None).expect("converts");
        assert_eq!(imported.servers["a"]["env"]["TOKEN"], "${TOKEN}");
        assert_eq!(imported.servers["b"]["env"]["TOKEN"], "${B_TOKEN}");
        assert_eq!(imported.servers["c"]["env"]["TOKEN"], "${TOKEN}", "the same value shares its variable");
        assert!(!imported.config().to_string().contains("ghp_"), "{}", imported.config());
    }

    #[test]
    fn a_password_in_a_url_becomes_a_variable() {
        let value = json!({"mcpServers": {
            "remote": {"url": "https://me:s3cret-Passw0rd@mcp.example.com/mcp?mode=x"},
        }});
        let imported = convert(&value, Path::new("mcp.json"), Some(Client::Cursor)).expect("converts");
        let url = imported.servers["remote"]["url"].as_str().expect("a url");
        assert_eq!(url, "https://me:${REMOTE_PASSWORD}@mcp.example.com/mcp?mode=x");
        assert!(!imported.config().to_string().contains("s3cret"), "{}", imported.config());
    }
}
