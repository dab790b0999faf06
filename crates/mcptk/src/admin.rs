//! `mcptk config`, `mcptk audit` and `mcptk pin`: the operator's commands.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Subcommand;
use mcp_audit::{AuditLog, AuditOptions, NewRecord};

use mcp_gateway::{Gateway, GatewayConfig};
use serde_json::json;

use crate::output::{self, Exit, Style, paint};

/// `mcptk config ...`
#[derive(Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration (the `--config` file, or the embedded defaults).
    Check {
        /// The gateway configuration (an `mcp_config.json` is one too).
        #[arg(long, env = "MCPTK_CONFIG")]
        config: Option<PathBuf>,
        /// Print the findings as JSON: `ok`, `servers`, `policy`, `audit_log`, `tools_listed` (with
        /// `--servers`), `problems`.
        #[arg(long)]
        json: bool,
        /// Start every configured server too, and check the policy and the annotations against
        /// the tools the servers list: a `tools` entry or `annotations` key that names no tool,
        /// and a deny rule on an argument some of its tools do not take (both leave a deny rule
        /// refusing nothing), are problems, and so is a server that does not start.
        #[arg(long)]
        servers: bool,
    },
}

/// `mcptk audit ...`
#[derive(Subcommand)]
pub enum AuditAction {
    /// Print the last records.
    Tail {
        /// The log (default `.mcptk/audit.jsonl`).
        #[arg(long, default_value = ".mcptk/audit.jsonl")]
        log: PathBuf,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Print the records as a JSON array (each as written in the log).
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain across every segment and the manifest; names the first bad record or
    /// file. With `--database`, check every replica's chain in the audit table instead. Exit
    /// status 5 when the log (or any chain) is damaged.
    Verify {
        /// The log.
        #[arg(long, default_value = ".mcptk/audit.jsonl")]
        log: PathBuf,
        /// The audit database (`postgres://...` or `sqlite://...`; `${VAR}` expands from the
        /// environment, keeping a password off the command line). Never printed.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Print the report as JSON (`ok`, `records`, `problem`, ...).
        #[arg(long)]
        json: bool,
    },
    /// Write every record as JSON Lines or CSV to stdout.
    Export {
        /// The log.
        #[arg(long, default_value = ".mcptk/audit.jsonl")]
        log: PathBuf,
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// The same as `--format jsonl`: one JSON record per line, as written.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
    /// Append synthetic records as fast as possible and report records per second.
    Bench {
        /// The log to append to.
        #[arg(long)]
        log: PathBuf,
        /// How many records (0: until killed).
        #[arg(long, default_value_t = 10_000)]
        records: u64,
        /// Appends in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Print `acked SEQ` for every acknowledged record (for crash tests).
        #[arg(long)]
        print_acks: bool,
        /// Print the result as JSON (`records`, `seconds`, `per_second`, `concurrency`).
        #[arg(long)]
        json: bool,
    },
}

/// `mcptk pin ...`
#[derive(Subcommand)]
pub enum PinAction {
    /// Start every server and record its current tool definitions as approved.
    Update {
        /// The gateway configuration.
        #[arg(long, env = "MCPTK_CONFIG")]
        config: Option<PathBuf>,
        /// Print the result as JSON (`{"approved": N}`).
        #[arg(long)]
        json: bool,
    },
}

/// The gateway configuration from `path`, or the embedded defaults. A file that cannot be read
/// or parsed is a configuration error (exit status 3) that says what to do.
pub fn gateway_config(path: Option<&Path>) -> anyhow::Result<GatewayConfig> {
    match path {
        Some(path) if !path.exists() => Err(output::classified(
            Exit::Config,
            anyhow::anyhow!(
                "the gateway configuration `{}` does not exist: create it with `mcptk init {0}` (or `mcptk import` \
                 a client's file), or leave out --config and MCPTK_CONFIG to run on the embedded defaults",
                path.display()
            ),
        )),
        Some(path) => GatewayConfig::load(path).map_err(|e| output::classified(Exit::Config, e)),
        None => Ok(GatewayConfig::embedded(std::env::current_dir()?)),
    }
}

/// What is wrong with a configuration before anything starts: servers that cannot be resolved
/// (a missing variable), rules that do not compile. Each problem names the server or setting.
pub fn problems(gateway: &GatewayConfig) -> anyhow::Result<(Vec<serde_json::Value>, Vec<String>)> {
    let servers = gateway.servers().map_err(|e| output::classified(Exit::Config, e))?;
    let mut problems = Vec::new();
    let mut resolved = Vec::new();
    for (name, entry) in servers.enabled() {
        match entry.resolve(name, &|v| std::env::var(v).ok()) {
            Ok(config) => {
                let transport = match &config {
                    mcp_core::config::ServerConfig::Stdio(s) => json!({ "transport": "stdio", "command": s.command }),
                    mcp_core::config::ServerConfig::Http(h) => {
                        json!({ "transport": "http", "url": h.scrubber().url(&h.url) })
                    }
                };
                // The entry as written (`${VAR}` unexpanded): what the variables expand to may be
                // secrets, in arguments as much as in the environment.
                let mut entry = json!({ "name": name, "ok": true, "detail": as_written(entry) });
                if let (Some(entry), Some(t)) = (entry.as_object_mut(), transport.as_object()) {
                    entry.extend(t.clone());
                }
                // A command not found stops that server only (the gateway serves the others and
                // tries it again): a warning, not a problem of the configuration.
                if let mcp_core::config::ServerConfig::Stdio(s) = &config
                    && !runnable(&s.command, s.cwd.as_deref())
                {
                    entry["warning"] = json!(format!(
                        "the command `{}` is not found (nor in PATH): the gateway will serve without this server until it is",
                        s.command
                    ));
                }
                resolved.push(entry);
            }
            Err(e) => {
                resolved.push(json!({ "name": name, "ok": false, "error": e.to_string() }));
                problems.push(e.to_string());
            }
        }
    }
    if let Some(policy) = gateway.policy.clone()
        && let Err(e) = mcp_security::Policy::new(policy)
    {
        problems.push(format!("policy: {e}"));
    }
    if let Err(e) = mcp_security::RateLimits::new(gateway.rate_limits.clone()) {
        problems.push(format!("rate_limits: {e}"));
    }
    if let Err(e) = gateway.readiness.servers(&servers) {
        problems.push(e.to_string());
    }
    // A mistyped server in a rule or a timeout would never apply.
    match gateway.check_names(&servers, &[]) {
        Ok(warnings) => warnings.iter().for_each(|w| output::note("warning", w)),
        Err(e) => problems.push(e.to_string()),
    }
    problems.extend(unset_references(gateway).iter().map(ToString::to_string));
    // What stops the native shell server at its start: a program not found, a root missing.
    if let Some(shell) = &gateway.native.shell
        && let Err(e) = mcp_shell::native::ShellServer::new(shell.shell_config())
    {
        problems.push(format!("native.shell: {e}"));
    }
    for root in gateway.native.fs.iter().flat_map(|fs| &fs.roots) {
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => problems.push(format!("native.fs.roots: `{}` is not a directory", root.display())),
            Err(e) => problems.push(format!("native.fs.roots: `{}`: {e}", root.display())),
        }
    }
    Ok((resolved, problems))
}

/// The settings outside `mcpServers` whose `${VAR}`s are not all set (see
/// [`GatewayConfig::references`]), each as its error.
fn unset_references(config: &GatewayConfig) -> Vec<mcp_core::config::ConfigError> {
    config
        .references()
        .into_iter()
        .filter_map(|(label, field, text)| {
            mcp_core::config::expand(&text, &|v| std::env::var(v).ok(), label, field).err()
        })
        .collect()
}

/// Whether `command` names a program that exists: a path to a file (relative to `cwd` when
/// given), or a name found in `PATH` (as the gateway starts it).
fn runnable(command: &str, cwd: Option<&Path>) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let executable =
        |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if command.contains('/') {
        return executable(&cwd.map_or_else(|| Path::new(command).to_path_buf(), |cwd| cwd.join(command)));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| executable(&dir.join(command))))
}

/// A server's entry as written, for people: its command line or URL (credentials in the URL
/// left out), and the names (never the values) of its variables and headers.
fn as_written(entry: &mcp_core::config::ServerEntry) -> String {
    let mut shown = match (&entry.command, &entry.url) {
        (Some(command), _) => std::iter::once(command).chain(&entry.args).cloned().collect::<Vec<_>>().join(" "),
        (None, Some(url)) => mcp_core::config::display_url(url),
        (None, None) => String::new(),
    };
    for (what, names) in [("env", entry.env.keys().collect::<Vec<_>>()), ("headers", entry.headers.keys().collect())] {
        if !names.is_empty() {
            let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
            shown.push_str(&format!("; {what}: {}", names.join(", ")));
        }
    }
    shown
}

/// Refuses `config` (read from `file`, said as such) when [`problems`] finds anything, before
/// any server starts: the first problem, and how many more there are.
pub fn check_before_start(config: &GatewayConfig, file: &str) -> anyhow::Result<()> {
    // A server that cannot be resolved: its own error, so that the hint names the variable.
    let servers = config.servers().map_err(|e| output::classified(Exit::Config, e))?;
    for (name, entry) in servers.enabled() {
        if let Err(e) = entry.resolve(name, &|v| std::env::var(v).ok()) {
            return Err(output::classified(Exit::Config, anyhow::Error::from(e).context(format!("in {file}"))));
        }
    }
    if let Some(e) = unset_references(config).into_iter().next() {
        return Err(output::classified(Exit::Config, anyhow::Error::from(e).context(format!("in {file}"))));
    }
    let (_, problems) = problems(config)?;
    if let Some(first) = problems.first() {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more: see `mcptk config check`)", n - 1),
        };
        return Err(output::classified(Exit::Config, anyhow::anyhow!("in {file}: {first}{more}")));
    }
    Ok(())
}

/// How a configuration is named in messages: its file, or the embedded defaults.
pub fn config_file(path: Option<&Path>) -> String {
    path.map_or_else(|| "the embedded defaults".to_owned(), |p| format!("`{}`", p.display()))
}

/// Starts the gateway of `config` (read from `path`, if from a file) after checking it: a
/// configuration problem is reported before any server starts, naming the file. While servers
/// start, a progress bar counts them on a terminal.
pub async fn start_gateway(config: GatewayConfig, path: Option<&Path>) -> anyhow::Result<Gateway> {
    check_before_start(&config, &config_file(path))?;
    launch(config).await
}

/// Starts the gateway of `config`, checked already, showing its servers' starts on a terminal.
async fn launch(config: GatewayConfig) -> anyhow::Result<Gateway> {
    let total = config.servers().map(|s| s.enabled().count()).unwrap_or(0);
    let bar = output::Progress::new("starting servers", Some(total as f64), output::Unit::Count);
    if total < 2 {
        // One server: a spinner says the wait is for it.
        bar.spin();
    }
    let shown = bar.clone();
    let gateway = Gateway::builder(config)
        .on_started(move |name, done, total| shown.set(done as f64, Some(total as f64), Some(name)))
        .start()
        .await;
    bar.finish();
    gateway.map_err(|e| {
        let e = anyhow::Error::from(e);
        if output::exit_of(&e) == Exit::Config { e } else { e.context("starting the gateway") }
    })
}

pub async fn config(action: ConfigAction) -> anyhow::Result<ExitCode> {
    let ConfigAction::Check { config, json, servers: start } = action;
    let gateway = gateway_config(config.as_deref())?;
    let (mut servers, mut problems) = problems(&gateway)?;
    let policy = gateway.policy.as_ref().map(|p| p.rules.len());
    // What only the servers' tool lists tell, once what the file says holds.
    let mut listed = None;
    if start && !problems.is_empty() {
        output::note("note", "--servers: no server was started, the file's problems come first");
    } else if start {
        // Started as `serve` starts them, without what a check must not touch: the audit log (a
        // gateway running beside may hold it), its database, the shared task and rate-limit
        // stores, and the pin table (which a first use writes).
        let scratch = std::env::temp_dir().join(format!("mcptk-check-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| anyhow::anyhow!("creating {}: {e}", scratch.display()))?;
        let mut checked = gateway.clone();
        checked.audit.path = scratch.join("audit.jsonl");
        checked.audit.sql = None;
        checked.task_store = None;
        checked.rate_limit_store = None;
        checked.pinning = None;
        match launch(checked).await {
            Ok(running) => {
                let catalog = running.catalog(running.principal()).await;
                for (name, tools) in &catalog {
                    let Err(why) = tools else { continue };
                    if let Some(entry) = servers.iter_mut().find(|s| s["name"] == name.as_str()) {
                        entry["ok"] = false.into();
                        entry["error"] = why.as_str().into();
                    }
                    // Most reasons name the server already.
                    let named = why.starts_with(&format!("server `{name}`"));
                    problems.push(if named { why.clone() } else { format!("server `{name}` did not start: {why}") });
                }
                problems.extend(running.tool_findings().await);
                running.shutdown().await;
                listed = Some(catalog.iter().filter_map(|(_, tools)| tools.as_ref().ok().map(Vec::len)).sum::<usize>());
            }
            Err(e) => problems.push(format!("the gateway did not start: {e:#}")),
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
    if json {
        output::print_json(&json!({
            "ok": problems.is_empty(),
            "config": config,
            "servers": servers,
            "policy": policy.map(|rules| json!({ "rules": rules })),
            "audit_log": gateway.audit.path,
            "tools_listed": listed,
            "problems": problems,
        }))?;
    } else {
        let colour = output::stdout_colour();
        let mut out = std::io::stdout().lock();
        for server in &servers {
            if server["ok"] == true {
                let detail = server["detail"].as_str().unwrap_or_default();
                let name = server["name"].as_str().unwrap_or_default();
                match server["warning"].as_str() {
                    Some(warning) => output::note("warning", &format!("server `{name}`: {warning} ({detail})")),
                    None => writeln!(out, "server `{name}`: {} ({detail})", paint(colour, Style::Green, "ok"))?,
                }
            }
        }
        if let Some(rules) = policy
            && !problems.iter().any(|p| p.starts_with("policy:"))
        {
            writeln!(out, "policy: {} ({rules} rules)", paint(colour, Style::Green, "ok"))?;
        }
        writeln!(out, "audit log: {}", gateway.audit.path.display())?;
        if let Some(tools) = listed
            && problems.is_empty()
        {
            let checked = "the policy and the annotations name tools that exist";
            writeln!(out, "tools: {} ({tools} listed; {checked})", paint(colour, Style::Green, "ok"))?;
        }
        drop(out);
        // The problems are errors: on stderr, as every command writes its errors.
        let colour = output::stderr_colour();
        let mut err = std::io::stderr().lock();
        for problem in &problems {
            writeln!(err, "{} {problem}", paint(colour, Style::Red, "error:"))?;
        }
        if problems.iter().any(|p| p.contains("environment variable")) {
            let hint = "set each missing variable where mcptk runs, or write `${VAR:-default}`; see docs/cli/config.md";
            writeln!(err, "{} {hint}", paint(colour, Style::Yellow, "hint:"))?;
        }
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { Exit::Config.into() })
}

/// What verifies before a bad record (`of` says whose records, e.g. " of replica `a`").
fn verified_before(count: u64, of: &str) -> String {
    match count {
        0 => format!("no record{of} comes before it"),
        1 => format!("the one record{of} before it verifies"),
        n => format!("the {n} records{of} before it verify"),
    }
}

pub async fn audit(action: AuditAction) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match action {
        AuditAction::Tail { log, lines, json } => {
            // Streamed across the segments, keeping only the last `lines`.
            let mut records = std::collections::VecDeque::with_capacity(lines.min(4096) + 1);
            let mut all = open_records(&log)?;
            let mut bad = BadLines::default();
            while let Some(record) = all.next() {
                let Some(record) = bad.take(record)? else { continue };
                let line = String::from_utf8_lossy(all.line()).trim_end().to_owned();
                records.push_back((record, line));
                if records.len() > lines {
                    records.pop_front();
                }
            }
            if json {
                // Each record as written (its hash covers those bytes), parsed back into JSON.
                let values: Vec<serde_json::Value> =
                    records.iter().map(|(_, line)| serde_json::from_str(line)).collect::<Result<_, _>>()?;
                output::print_json(&values)?;
                return Ok(bad.status());
            }
            let colour = output::stdout_colour();
            for (record, _) in &records {
                let b = &record.body;
                let rule = b.rule.as_deref().map(|r| format!(" rule={r}")).unwrap_or_default();
                let style = match b.outcome.as_str() {
                    "ok" => Style::Green,
                    "denied" | "rate_limited" => Style::Yellow,
                    _ => Style::Red,
                };
                writeln!(
                    out,
                    "#{} {} {} {}/{} {} {}{rule} {:.1}ms",
                    record.seq,
                    record.time,
                    b.principal,
                    b.server,
                    b.tool,
                    b.decision,
                    paint(colour, style, &b.outcome),
                    b.duration_ms
                )?;
            }
            Ok(bad.status())
        }
        AuditAction::Verify { database: Some(url), json, .. } => {
            let url = mcp_core::config::expand(&url, &|v| std::env::var(v).ok(), "audit", "--database".into())?;
            verify_database(&mut out, &url, json).await
        }
        AuditAction::Verify { log, database: None, json } => {
            if !log.exists() {
                return Err(missing_log(&log));
            }
            // A bar over the bytes of every segment and the live file.
            let total = mcp_audit::log_bytes(&log).ok().map(|bytes| bytes as f64);
            let bar = output::Progress::new(format!("verifying {}", log.display()), total, output::Unit::Bytes);
            match total {
                Some(_) => bar.set(0.0, None, None),
                None => bar.spin(),
            }
            let report = mcp_audit::verify_with_progress(&log, &mut |read| bar.set(read as f64, None, None));
            bar.finish();
            let report = report?;
            if json {
                output::print_json(&json!({
                    "ok": report.ok(),
                    "log": log,
                    "records": report.records,
                    "segments": report.segments,
                    "last_hash": report.last_hash,
                    "problem": report.problem,
                    "torn_tail": report.torn_tail,
                    "end_unchecked": report.end_unchecked,
                }))?;
                return Ok(if report.ok() { ExitCode::SUCCESS } else { Exit::Audit.into() });
            }
            let colour = output::stdout_colour();
            match &report.problem {
                None => {
                    let segments = match report.segments {
                        0 => String::new(),
                        n => format!(" in {n} sealed segments and the live file"),
                    };
                    let ok = paint(colour, Style::Green, "ok:");
                    writeln!(out, "{ok} {} records{segments}, last hash {}", report.records, report.last_hash)?;
                    if let Some(bytes) = report.torn_tail {
                        writeln!(
                            out,
                            "note: a torn last line of {bytes} bytes follows (a write cut short by a crash, never acknowledged); it is removed when the log is next opened"
                        )?;
                    }
                    if let Some(why) = &report.end_unchecked {
                        writeln!(out, "{} {why}", paint(colour, Style::Yellow, "note:"))?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(p) => {
                    let seq = p.seq.map(|s| format!(" (record {s})")).unwrap_or_default();
                    let line = if p.line == 0 { String::new() } else { format!(" at line {}", p.line) };
                    writeln!(out, "{} `{}`{line}{seq}: {}", paint(colour, Style::Red, "bad"), p.file, p.reason)?;
                    writeln!(out, "{}", verified_before(report.records, ""))?;
                    Ok(Exit::Audit.into())
                }
            }
        }
        AuditAction::Export { log, format, json } => {
            let format = if json { "jsonl".to_owned() } else { format };
            if format != "jsonl" && format != "csv" {
                return Err(output::usage(format!("--format must be `jsonl` or `csv`, not `{format}`")));
            }
            let mut records = open_records(&log)?;
            let mut bad = BadLines::default();
            // A bar by bytes over every file of the log (the segments and the live file).
            let bar = output::Progress::new("exporting", Some(log_bytes(&log) as f64), output::Unit::Bytes);
            match format.as_str() {
                // The lines as written: a record's hash covers its bytes, so the copy verifies.
                "jsonl" => {
                    while let Some(r) = records.next() {
                        if bad.take(r)?.is_none() {
                            continue;
                        }
                        out.write_all(records.line())?;
                        bar.advance(records.line().len() as f64);
                    }
                }
                "csv" => {
                    writeln!(
                        out,
                        "seq,time,principal,client,server,tool,decision,rule,outcome,duration_ms,trace_id,arguments_digest,error,hash"
                    )?;
                    while let Some(r) = records.next() {
                        let Some(r) = bad.take(r)? else { continue };
                        bar.advance(records.line().len() as f64);
                        let b = &r.body;
                        let fields = [
                            r.seq.to_string(),
                            r.time.clone(),
                            b.principal.clone(),
                            b.client.clone().unwrap_or_default(),
                            b.server.clone(),
                            b.tool.clone(),
                            b.decision.clone(),
                            b.rule.clone().unwrap_or_default(),
                            b.outcome.clone(),
                            format!("{:.3}", b.duration_ms),
                            b.trace_id.clone(),
                            b.arguments_digest.clone(),
                            b.error.clone().unwrap_or_default(),
                            r.hash.clone(),
                        ];
                        let escaped: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                        writeln!(out, "{}", escaped.join(","))?;
                    }
                }
                _ => unreachable!("checked above"),
            }
            bar.finish();
            Ok(bad.status())
        }
        AuditAction::Bench { log, records, concurrency, print_acks, json } => {
            drop(out);
            bench(&log, records, concurrency, print_acks, json).await
        }
    }
}

/// `mcptk audit verify --database URL`: one line per replica, then the first problem of each
/// chain that has one.
async fn verify_database(out: &mut impl std::io::Write, url: &str, json: bool) -> anyhow::Result<ExitCode> {
    let report = mcp_audit::verify_database(url).await?;
    let status = if report.ok() { ExitCode::SUCCESS } else { Exit::Audit.into() };
    if json {
        output::print_json(&json!({ "ok": report.ok(), "replicas": report.replicas }))?;
        return Ok(status);
    }
    if report.replicas.is_empty() {
        writeln!(out, "ok: the audit table holds no records")?;
    }
    for r in &report.replicas {
        match &r.problem {
            None => writeln!(out, "ok: replica `{}`: {} records, last hash {}", r.replica, r.records, r.last_hash)?,
            Some(p) => {
                writeln!(out, "bad: replica `{}`, record {}: {}", p.replica, p.seq, p.reason)?;
                writeln!(out, "  {}", verified_before(r.records, &format!(" of replica `{}`", r.replica)))?;
            }
        }
        if r.not_verifiable > 0 {
            writeln!(
                out,
                "note: replica `{}`: {} records not verifiable (mirrored before lines were kept); their order and links were checked",
                r.replica, r.not_verifiable
            )?;
        }
    }
    Ok(status)
}

/// Lines of a log that are not records, met while reading it for `tail` or `export`: each is
/// named on stderr as it is met, the records around it still go out, and the command then ends
/// with the status of a log that does not verify.
#[derive(Default)]
struct BadLines(usize);

impl BadLines {
    /// The record, or `None` after reporting a line that is not one; other errors end the command.
    fn take(
        &mut self,
        read: mcp_audit::Result<mcp_audit::AuditRecord>,
    ) -> anyhow::Result<Option<mcp_audit::AuditRecord>> {
        match read {
            Ok(record) => Ok(Some(record)),
            Err(e @ mcp_audit::Error::BadLine { .. }) => {
                self.0 += 1;
                eprintln!("{} {e}", paint(output::stderr_colour(), Style::Red, "bad:"));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn status(&self) -> ExitCode {
        if self.0 == 0 {
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "{} line(s) of the log are not records and were left out; `mcptk audit verify` says what follows",
            self.0
        );
        Exit::Audit.into()
    }
}

/// The records of the log at `log`, or an error that says where the log is looked for.
fn open_records(log: &Path) -> anyhow::Result<mcp_audit::Records> {
    if !log.exists() {
        return Err(missing_log(log));
    }
    Ok(mcp_audit::records(log)?)
}

fn missing_log(log: &Path) -> anyhow::Error {
    output::usage(format!(
        "no audit log at `{}`: give its path with --log (it is `audit.path` in the gateway configuration, relative \
         to that file; without a configuration, `.mcptk/audit.jsonl` where `mcptk serve` ran)",
        log.display()
    ))
}

/// Bytes in every file of the log whose live file is `log` (`audit.jsonl`, `audit.jsonl.000001`, ...).
fn log_bytes(log: &Path) -> u64 {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else { return 0 };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let name = name.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n == name || n.strip_prefix(&format!("{name}.")).is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()))
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

async fn bench(log: &Path, records: u64, concurrency: usize, print_acks: bool, json: bool) -> anyhow::Result<ExitCode> {
    let log = AuditLog::open(log, AuditOptions::default())?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let workers = (0..concurrency.max(1)).map(|_| {
        let (log, next) = (log.clone(), next.clone());
        tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if records != 0 && n >= records {
                    return Ok::<_, anyhow::Error>(());
                }
                let record = NewRecord {
                    kind: "tool_call".into(),
                    principal: "bench".into(),
                    server: "bench".into(),
                    tool: "echo".into(),
                    arguments: serde_json::json!({ "n": n }),
                    arguments_digest: mcp_audit::arguments_digest(&serde_json::json!({ "n": n })),
                    decision: "allow".into(),
                    outcome: "ok".into(),
                    trace_id: format!("{n:032x}"),
                    ..NewRecord::default()
                };
                let seq = log.append(record).await?;
                if print_acks {
                    // One write per line, so a reader sees only whole lines even if we are killed.
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "acked {seq}")?;
                    stdout.flush()?;
                }
            }
        })
    });
    for worker in futures_util::future::join_all(workers).await {
        worker??;
    }
    let elapsed = started.elapsed();
    if json {
        output::print_json(&json!({
            "records": records,
            "seconds": elapsed.as_secs_f64(),
            "per_second": records as f64 / elapsed.as_secs_f64(),
            "concurrency": concurrency,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{records} records in {:.2}s: {:.0} records/s with {concurrency} appends in flight (fsync per batch)",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn pin(action: PinAction) -> anyhow::Result<ExitCode> {
    let PinAction::Update { config, json } = action;
    let settings = gateway_config(config.as_deref())?;
    if settings.pinning.is_none() {
        let file =
            config.as_deref().map_or_else(|| "the gateway configuration".to_owned(), |p| format!("`{}`", p.display()));
        return Err(output::classified(
            Exit::Config,
            anyhow::anyhow!(
                "pinning is not configured: add `\"pinning\": {{\"lock_file\": \"mcptk.lock.json\"}}` to {file}, then run this again"
            ),
        ));
    }
    let gateway = start_gateway(settings, config.as_deref()).await?;
    let count = gateway.approve_pins().await;
    gateway.shutdown().await;
    let count = count?;
    if json {
        output::print_json(&json!({ "approved": count }))?;
    } else {
        println!("approved {count} tool definitions");
    }
    Ok(ExitCode::SUCCESS)
}
