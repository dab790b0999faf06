//! `mcptk config`, `mcptk audit` and `mcptk pin`: the operator's commands.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Subcommand;
use mcp_audit::{AuditLog, AuditOptions, NewRecord};

use mcp_gateway::{Gateway, GatewayConfig};

/// `mcptk config ...`
#[derive(Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration (the `--config` file, or the embedded defaults).
    Check {
        /// The gateway configuration (an `mcp_config.json` is one too).
        #[arg(long, env = "MCPTK_CONFIG")]
        config: Option<PathBuf>,
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
    },
    /// Check the hash chain across every segment and the manifest; names the first bad record or
    /// file. With `--database`, check every replica's chain in the audit table instead. Exit
    /// status 1 when the log (or any chain) is damaged.
    Verify {
        /// The log.
        #[arg(long, default_value = ".mcptk/audit.jsonl")]
        log: PathBuf,
        /// The audit database (`postgres://...` or `sqlite://...`; `${VAR}` expands from the
        /// environment, keeping a password off the command line). Never printed.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Write every record as JSON Lines or CSV to stdout.
    Export {
        /// The log.
        #[arg(long, default_value = ".mcptk/audit.jsonl")]
        log: PathBuf,
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
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
    },
}

/// The gateway configuration from `path`, or the embedded defaults.
pub fn gateway_config(path: Option<&Path>) -> anyhow::Result<GatewayConfig> {
    match path {
        Some(path) => Ok(GatewayConfig::load(path)?),
        None => Ok(GatewayConfig::embedded(std::env::current_dir()?)),
    }
}

pub fn config(action: ConfigAction) -> anyhow::Result<ExitCode> {
    let ConfigAction::Check { config } = action;
    let gateway = gateway_config(config.as_deref())?;
    let servers = gateway.servers()?;
    let mut problems = Vec::new();
    let mut out = std::io::stdout().lock();
    for (name, entry) in servers.enabled() {
        match entry.resolve(name, &|v| std::env::var(v).ok()) {
            Ok(resolved) => writeln!(out, "server `{name}`: ok ({resolved:?})")?,
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some(policy) = gateway.policy.clone() {
        let rules = policy.rules.len();
        match mcp_security::Policy::new(policy) {
            Ok(_) => writeln!(out, "policy: ok ({rules} rules)")?,
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Err(e) = mcp_security::RateLimits::new(gateway.rate_limits.clone()) {
        problems.push(e.to_string());
    }
    writeln!(out, "audit log: {}", gateway.audit.path.display())?;
    for problem in &problems {
        writeln!(out, "error: {problem}")?;
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub async fn audit(action: AuditAction) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match action {
        AuditAction::Tail { log, lines } => {
            // Streamed across the segments, keeping only the last `lines`.
            let mut records = std::collections::VecDeque::with_capacity(lines.min(4096) + 1);
            for record in mcp_audit::records(&log)? {
                records.push_back(record?);
                if records.len() > lines {
                    records.pop_front();
                }
            }
            for record in &records {
                let b = &record.body;
                let rule = b.rule.as_deref().map(|r| format!(" rule={r}")).unwrap_or_default();
                writeln!(
                    out,
                    "#{} {} {} {}/{} {} {}{rule} {:.1}ms",
                    record.seq, record.time, b.principal, b.server, b.tool, b.decision, b.outcome, b.duration_ms
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditAction::Verify { database: Some(url), .. } => {
            let url = mcp_core::config::expand(&url, &|v| std::env::var(v).ok(), "audit", "--database".into())?;
            verify_database(&mut out, &url).await
        }
        AuditAction::Verify { log, database: None } => {
            let report = mcp_audit::verify(&log)?;
            match &report.problem {
                None => {
                    let segments = match report.segments {
                        0 => String::new(),
                        n => format!(" in {n} sealed segments and the live file"),
                    };
                    writeln!(out, "ok: {} records{segments}, last hash {}", report.records, report.last_hash)?;
                    if let Some(bytes) = report.torn_tail {
                        writeln!(
                            out,
                            "note: a torn last line of {bytes} bytes follows (a write cut short by a crash, never acknowledged); it is removed when the log is next opened"
                        )?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(p) => {
                    let seq = p.seq.map(|s| format!(" (record {s})")).unwrap_or_default();
                    let line = if p.line == 0 { String::new() } else { format!(" at line {}", p.line) };
                    writeln!(out, "bad `{}`{line}{seq}: {}", p.file, p.reason)?;
                    writeln!(out, "the {} records before it verify", report.records)?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditAction::Export { log, format } => {
            let mut records = mcp_audit::records(&log)?;
            match format.as_str() {
                // The lines as written: a record's hash covers its bytes, so the copy verifies.
                "jsonl" => {
                    while let Some(r) = records.next() {
                        r?;
                        out.write_all(records.line())?;
                    }
                }
                "csv" => {
                    writeln!(
                        out,
                        "seq,time,principal,client,server,tool,decision,rule,outcome,duration_ms,trace_id,arguments_digest,error,hash"
                    )?;
                    for r in records {
                        let r = r?;
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
                other => anyhow::bail!("--format must be `jsonl` or `csv`, not `{other}`"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditAction::Bench { log, records, concurrency, print_acks } => {
            drop(out);
            bench(&log, records, concurrency, print_acks).await
        }
    }
}

/// `mcptk audit verify --database URL`: one line per replica, then the first problem of each
/// chain that has one.
async fn verify_database(out: &mut impl std::io::Write, url: &str) -> anyhow::Result<ExitCode> {
    let report = mcp_audit::verify_database(url).await?;
    if report.replicas.is_empty() {
        writeln!(out, "ok: the audit table holds no records")?;
    }
    for r in &report.replicas {
        match &r.problem {
            None => writeln!(out, "ok: replica `{}`: {} records, last hash {}", r.replica, r.records, r.last_hash)?,
            Some(p) => {
                writeln!(out, "bad: replica `{}`, record {}: {}", p.replica, p.seq, p.reason)?;
                writeln!(out, "  the {} records of replica `{}` before it verify", r.records, r.replica)?;
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
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

async fn bench(log: &Path, records: u64, concurrency: usize, print_acks: bool) -> anyhow::Result<ExitCode> {
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
    println!(
        "{records} records in {:.2}s: {:.0} records/s with {concurrency} appends in flight (fsync per batch)",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn pin(action: PinAction) -> anyhow::Result<ExitCode> {
    let PinAction::Update { config } = action;
    let gateway = Gateway::start(gateway_config(config.as_deref())?).await?;
    let count = gateway.approve_pins();
    gateway.shutdown().await;
    let count = count?;
    println!("approved {count} tool definitions");
    Ok(ExitCode::SUCCESS)
}
