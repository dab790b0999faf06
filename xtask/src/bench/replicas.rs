//! Gateway replicas behind a load balancer, and what the state replicas share costs per call.
//!
//! Replicas of `mcptk serve --config C --http ADDR` (the built-in tools, an audit log each, one
//! session key and one token for all) behind Debian's HAProxy (round robin, `/readyz` checked),
//! as `crates/mcptk/tests/it/cluster.rs` runs them; stateless `tools/call` requests under `wrk`
//! with 1, 2 and 3 replicas, beside one replica called directly. Then one replica, directly, with
//! its rate limit held in Redis, its audit mirrored into PostgreSQL, or both: the per-call cost
//! of the shared state. Redis and PostgreSQL come from `tests/services.sh`, like the tests'.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::http::{Load, Target, measure_rounds, medians};
use super::report::Report;
use super::{Bins, Listening, Settings, free_port};

/// Connection counts of the replica runs (where the load is enough to fill the machine).
const REPLICA_CONNECTIONS: [u32; 2] = [16, 64];
/// Connection counts of the shared-state runs: one call at a time (the added latency) and a
/// full machine (the added work).
const SHARED_CONNECTIONS: [u32; 2] = [1, 16];

/// The session key every replica seals session ids with (32 bytes, base64).
const SESSION_KEY: &str = "YmVuY2gtc2Vzc2lvbi1rZXktMzItYnl0ZXMtbG9uZyE=";
const TOKEN: &str = "token-of-the-benchmark";

/// Where the shared state lives, from `tests/services.sh`.
struct Services {
    redis: String,
    /// The PostgreSQL URL with this run's own schema as its search path.
    database: String,
    /// The server's URL as given, to create and drop the schema.
    postgres: String,
    schema: String,
}

impl Services {
    fn start(root: &Path) -> Result<Services> {
        let env = crate::services(root)?;
        let get = |key: &str| {
            env.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(key).ok())
                .with_context(|| format!("tests/services.sh gave no {key}"))
        };
        let (redis, postgres) = (get("MCPTK_TEST_REDIS_URL")?, get("MCPTK_TEST_POSTGRES_URL")?);
        let schema = format!("mcptk_bench_{}", std::process::id());
        psql(&postgres, &format!("CREATE SCHEMA {schema}"))?;
        let separator = if postgres.contains('?') { '&' } else { '?' };
        let database = format!("{postgres}{separator}options=-c%20search_path%3D{schema}");
        Ok(Services { redis, database, postgres, schema })
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Err(e) = psql(&self.postgres, &format!("DROP SCHEMA {} CASCADE", self.schema)) {
            eprintln!("xtask bench: the schema {} is left behind: {e:#}", self.schema);
        }
    }
}

/// One statement through `psql` (PostgreSQL's client, installed with the server); its output.
fn psql(url: &str, statement: &str) -> Result<String> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", statement])
        .stdin(Stdio::null())
        .output()
        .context("cannot run psql")?;
    if !output.status.success() {
        bail!("psql {statement:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The shared state one gateway configuration uses.
#[derive(Clone, Copy)]
struct Shared {
    rate_limit_in_redis: bool,
    audit_in_database: bool,
}

impl Shared {
    const NONE: Shared = Shared { rate_limit_in_redis: false, audit_in_database: false };
}

/// A gateway configuration `work/name.json`: the built-in tools, a rate limit high enough never to
/// refuse (held in Redis, refusing rather than going local if Redis fails, when `shared` says so),
/// and an audit log with fsync off (the disk would hide the figures; its cost is the pipeline
/// table's), mirrored into PostgreSQL when `shared` says so.
fn config(work: &Path, name: &str, services: &Services, shared: Shared) -> Result<PathBuf> {
    let mut config = serde_json::json!({
        "native": {"builtin": true},
        "audit": {"path": work.join(format!("{name}-audit.jsonl")), "fsync": false},
        "rate_limits": [{"name": "everything", "per_minute": 60_000_000, "burst": 1_000_000}]
    });
    if shared.rate_limit_in_redis {
        config["rate_limit_store"] = serde_json::json!({
            "redis": services.redis,
            "prefix": format!("mcptk-bench:{}:", services.schema),
            "when_unavailable": "refuse",
            "timeout_ms": 2000
        });
    }
    if shared.audit_in_database {
        config["audit"]["sql"] = services.database.clone().into();
    }
    let path = work.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(path)
}

/// Replica `name` serving `config` on `address`, its standard error in `work/name.log`.
fn replica(bins: &Bins, work: &Path, name: &str, config: &Path, address: &str) -> Result<Listening> {
    let log = std::fs::File::create(work.join(format!("{name}.log")))?;
    Listening::spawn(
        Command::new(&bins.mcptk)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--http", address])
            .env("MCPTK_HTTP_TOKENS", format!("bench={TOKEN}"))
            .env("MCPTK_SESSION_KEY", SESSION_KEY)
            .env("MCPTK_REPLICA", name)
            .env_remove("MCPTK_HTTP_TOKEN")
            .stderr(log),
        address,
    )
}

/// Calls of `builtin__echo` in a replica's audit log so far.
fn echoes_audited(work: &Path, name: &str) -> usize {
    let log = std::fs::read_to_string(work.join(format!("{name}-audit.jsonl"))).unwrap_or_default();
    log.lines().filter(|l| l.contains("\"tool_call\"") && l.contains("\"echo\"")).count()
}

fn haproxy() -> Result<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("HAProxy is needed (tests/services.sh installs Debian's package)")
}

/// HAProxy on `address` in front of `replicas` (round robin, `/readyz` checked every 500 ms, a
/// replica out after three failed checks: a full machine must not make one look down), once every
/// replica has answered a call through it.
fn balancer(root: &Path, work: &Path, address: &str, replicas: &[(&str, String)]) -> Result<(Listening, Target)> {
    let mut config = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
         timeout check 2s\n\
         frontend mcp\n  bind {address}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n  \
         default-server inter 500ms fall 3 rise 2\n"
    );
    for (name, at) in replicas {
        config.push_str(&format!("  server {name} {at} check\n"));
    }
    let path = work.join(format!("haproxy-{}.cfg", replicas.len()));
    std::fs::write(&path, config)?;
    let balancer =
        Listening::spawn(Command::new(haproxy()?).arg("-db").arg("-f").arg(&path).stderr(Stdio::null()), address)?;
    let target = Target::new(root, address).gateway(TOKEN);
    // HAProxy may count a server up only after two good checks; then each must take its turn.
    let before: Vec<usize> = replicas.iter().map(|(name, _)| echoes_audited(work, name)).collect();
    let mut failed = None;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        match target.check() {
            Ok(()) if replicas.iter().zip(&before).all(|((name, _), n)| echoes_audited(work, name) > *n) => {
                return Ok((balancer, target));
            }
            Ok(()) => failed = None,
            Err(e) => failed = Some(e),
        }
    }
    let what = format!("HAProxy did not send calls to each of {} replicas", replicas.len());
    Err(match failed {
        Some(e) => e.context(what),
        None => anyhow::anyhow!(what),
    })
}

/// The replica table and the shared-state table, into `report`: every setup running at once
/// (idle but for its turn), measured in turn `rounds` times; medians.
pub(super) fn run(report: &mut Report, root: &Path, bins: &Bins, work: &Path, settings: &Settings) -> Result<()> {
    let services = Services::start(root)?;
    let seconds = settings.seconds.ceil().max(1.0) as u32;

    // 1, 2 and 3 replicas behind HAProxy, and one called directly.
    let mut running = Vec::new();
    let mut replicas = Vec::new();
    for name in ["r1", "r2", "r3"] {
        let at = format!("127.0.0.1:{}", free_port()?);
        let path = config(work, name, &services, Shared::NONE)?;
        running.push(replica(bins, work, name, &path, &at)?);
        replicas.push((name, at));
    }
    let direct = Target::new(root, &replicas[0].1).gateway(TOKEN);
    direct.check()?;
    let mut setups = vec![("1 replica, direct (no balancer)".to_owned(), direct)];
    for count in 1..=replicas.len() {
        let address = format!("127.0.0.1:{}", free_port()?);
        let (balancer, target) = balancer(root, work, &address, &replicas[..count])?;
        running.push(balancer);
        let label = if count == 1 { "HAProxy + 1 replica".to_owned() } else { format!("HAProxy + {count} replicas") };
        setups.push((label, target));
    }
    let measured = measure_rounds("replicas", &setups, &REPLICA_CONNECTIONS, seconds, settings.rounds)?;
    drop(running);
    let setups: Vec<(String, [Load; 2])> = setups.into_iter().map(|(label, _)| label).zip(medians(&measured)).collect();

    // One replica, directly, with each kind of shared state.
    let kinds = [
        ("gateway (rate limit in process, audit file)", "plain", Shared::NONE),
        ("+ rate limit in Redis", "redis", Shared { rate_limit_in_redis: true, audit_in_database: false }),
        ("+ audit mirrored to PostgreSQL", "database", Shared { rate_limit_in_redis: false, audit_in_database: true }),
        ("+ both", "both", Shared { rate_limit_in_redis: true, audit_in_database: true }),
    ];
    let mut running = Vec::new();
    let mut targets = Vec::new();
    for (label, name, shared) in kinds {
        let path = config(work, name, &services, shared)?;
        let at = format!("127.0.0.1:{}", free_port()?);
        running.push(replica(bins, work, name, &path, &at)?);
        let target = Target::new(root, &at).gateway(TOKEN);
        target.check()?;
        targets.push((label.to_owned(), target));
    }
    let commands_before = redis_commands(&services.redis)?;
    let measured = measure_rounds("shared state", &targets, &SHARED_CONNECTIONS, seconds, settings.rounds)?;
    let commands = redis_commands(&services.redis)? - commands_before;
    // The shared state was used, not skipped: Redis answered at least a command per call of the
    // configurations using it (its keys expire at once under a limit this high) ...
    let calls: f64 = kinds
        .iter()
        .zip(&measured)
        .filter(|((_, _, shared), _)| shared.rate_limit_in_redis)
        .flat_map(|(_, rounds)| rounds.iter().flatten())
        .map(|load| load.calls_per_s * f64::from(seconds))
        .sum();
    if (commands as f64) < calls * 0.9 {
        bail!("the Redis rate limit was asked {commands} times in about {calls:.0} calls");
    }
    // ... and the records of those mirroring their audit are in the database.
    std::thread::sleep(Duration::from_millis(500));
    for (_, name, _) in kinds.iter().filter(|(_, _, shared)| shared.audit_in_database) {
        let query = format!("SELECT count(*) FROM {}.mcp_audit WHERE replica = '{name}'", services.schema);
        let rows: u64 = psql(&services.postgres, &query)?.parse().unwrap_or(0);
        if rows == 0 {
            bail!("the audit of {name} reached no row of the database");
        }
    }
    drop(running);
    let costs: Vec<(String, [Load; 2])> = targets.into_iter().map(|(label, _)| label).zip(medians(&measured)).collect();
    report.replicas(&REPLICA_CONNECTIONS, &setups, &SHARED_CONNECTIONS, &costs);
    Ok(())
}

/// The commands the Redis at `url` has processed since it started (`redis-cli`, installed with
/// the server).
fn redis_commands(url: &str) -> Result<u64> {
    let output = Command::new("redis-cli")
        .args(["-u", url, "INFO", "stats"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run redis-cli")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("total_commands_processed:"))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no command count in Redis's INFO: {text}{}", String::from_utf8_lossy(&output.stderr)))
}
