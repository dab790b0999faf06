//! `cargo xtask bench [--quick] [--no-build] [--only SECTION]`: every benchmark of the performance targets in one
//! run, side by side with the official Rust SDK (rmcp) and the pipe floor, written into
//! `docs/benchmarks.md` (between its `bench:` markers) and `docs/benchmarks.svg`. `--quick` runs
//! shorter measurements; `--no-build` uses the binaries as built and skips the in-process benches;
//! `--only` runs one section. Partial runs are printed, not written.
//!
//! Out of process, with the same minimal clients for every server: stdio calls (one at a time and
//! 64 in flight), start to first answer, Streamable HTTP under `wrk`, resident memory, and the
//! gateway at scale (10k tools, a 10 MiB result, 1k calls in flight) in front of
//! `cargo xtask bench-upstream`; gateway replicas behind HAProxy and the per-call cost of the
//! state they share (Redis, PostgreSQL from `tests/services.sh`). In process, through `cargo
//! bench`: the gateway pipeline's cost per call and the audit log (their `BENCH key value unit`
//! lines).
//!
//! Peers are built from `benches/` (their own workspace, not part of CI). Numbers from one run on
//! a shared machine: compare the ratios, not the absolute figures across runs.

pub(crate) mod http;
mod replicas;
mod report;
pub(crate) mod stdio;
pub mod upstream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::http::{Load, Target};
use self::report::{Check, Report};
use self::stdio::{Peer, Session};

/// Connection counts of the HTTP load.
const CONNECTIONS: [u32; 3] = [1, 16, 64];
/// Calls in flight in the pipelined stdio runs.
const WINDOW: usize = 64;

/// The benches (built and run unless `--no-build`) whose `BENCH` lines the report reads: the
/// pipeline and the audit log in process, and the drop-in servers beside their reference servers
/// (which need `setup`'s peers and `services`' engine).
const CARGO_BENCHES: &[(&str, &str, &str)] = &[
    ("pipeline", "mcptk-audit", "pipeline"),
    ("pipeline", "mcptk-security", "ratelimit"),
    ("audit", "mcptk-audit", "open"),
    ("dropins", "mcptk-k8s", "k8s_vs_go"),
    ("dropins", "mcptk-github", "github_vs_go"),
    ("dropins", "mcptk-docker", "docker_vs_engine"),
];

struct Settings {
    /// Seconds of each stdio and HTTP measurement.
    seconds: f64,
    rounds: usize,
    starts: usize,
    growth_calls: u64,
    build: bool,
    /// One section only (`--only NAME`): a partial run, printed, not written.
    only: Option<String>,
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let build = !args.iter().any(|a| a == "--no-build");
    let only = args.iter().position(|a| a == "--only").map(|i| args.get(i + 1).cloned().unwrap_or_default());
    if let Some(section) = only.as_deref().filter(|s| !SECTIONS.contains(s)) {
        bail!("--only takes one of {}, not {section:?}", SECTIONS.join(", "));
    }
    let (seconds, rounds, starts, growth_calls) = if quick { (0.5, 1, 5, 100_000) } else { (2.0, 3, 21, 1_000_000) };
    let settings = Settings { seconds, rounds, starts, growth_calls, build, only };
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    super::install_if_missing("wrk", "wrk")?;
    let mut layout = None;
    if build {
        // Built as `dist` builds it, so that start and memory are measured on the binary shipped.
        layout = crate::layout::build_for_dist(root, &target)?;
        super::run(
            Command::new("cargo")
                .args(["build", "--release", "--locked", "--manifest-path", "benches/Cargo.toml"])
                .env("CARGO_TARGET_DIR", target.join("benches")),
        )?;
    }
    let bins = Bins {
        mcptk: target.join("release/mcptk"),
        rmcp: target.join("benches/release/rmcp-echo"),
        floor: target.join("benches/release/pipe-floor"),
        upstream: std::env::current_exe()?,
        layout,
    };
    let work = std::env::temp_dir().join(format!("mcptk-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let outcome = measure(root, &bins, &work, &settings);
    let _ = std::fs::remove_dir_all(&work);
    let report = outcome?;
    // A run without the in-process benches, or of one section, is partial: printed, not written.
    if build && settings.only.is_none() {
        report.write(root)?;
    }
    print!("{}", report.markdown());
    let unmet = report.checks.iter().filter(|c| !c.met).count();
    eprintln!("xtask bench: {} of {} targets met", report.checks.len() - unmet, report.checks.len());
    Ok(())
}

struct Bins {
    mcptk: PathBuf,
    rmcp: PathBuf,
    floor: PathBuf,
    upstream: PathBuf,
    /// How the release binary was laid out, when this run built it.
    layout: Option<crate::layout::Layout>,
}

/// The measurements, by the names `--only` takes.
const SECTIONS: &[&str] = &["stdio", "start", "http", "pipeline", "audit", "memory", "scale", "replicas", "dropins"];

fn measure(root: &Path, bins: &Bins, work: &Path, settings: &Settings) -> Result<Report> {
    let mut report = Report::new(bins.mcptk.metadata().map(|m| m.len()).unwrap_or(0), bins.layout.as_ref());
    let on = |section: &str| settings.only.as_deref().is_none_or(|only| only == section);
    let figures = if settings.build { cargo_benches(root, &on)? } else { BTreeMap::new() };
    if on("stdio") {
        stdio_calls(&mut report, bins, work, settings)?;
    }
    if on("start") {
        start_times(&mut report, bins, work, settings)?;
    }
    if on("http") {
        http_load(&mut report, root, bins, settings)?;
    }
    if on("pipeline") {
        pipeline_cost(&mut report, &figures);
    }
    if on("audit") {
        audit_scale(&mut report, &figures);
    }
    if on("memory") {
        memory(&mut report, bins, work, settings)?;
    }
    if on("scale") {
        scale(&mut report, bins, work)?;
    }
    if on("replicas") {
        replicas::run(&mut report, root, bins, work, settings)?;
    }
    if on("dropins") {
        report.dropins(&figures);
    }
    Ok(report)
}

/// Runs the benches of the sections wanted and collects their `BENCH key value unit` lines.
fn cargo_benches(root: &Path, on: &dyn Fn(&str) -> bool) -> Result<BTreeMap<String, f64>> {
    let mut figures = BTreeMap::new();
    let mut env = Vec::new();
    if on("dropins") {
        super::setup(root)?;
        env = super::services(root)?;
    }
    for (section, package, bench) in CARGO_BENCHES {
        if !on(section) {
            continue;
        }
        eprintln!("xtask bench: cargo bench -p {package} --bench {bench}");
        let output = Command::new("cargo")
            .current_dir(root)
            .envs(env.iter().cloned())
            .args(["bench", "--locked", "--all-features", "-p", package, "--bench", bench])
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run the {bench} bench"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            // A drop-in bench depends on a reference server and a stand-in: its failure leaves
            // its rows "not measured" (and says why here) rather than losing the whole run.
            if *section == "dropins" {
                eprintln!("xtask bench: the {bench} bench failed; its figures are not measured:\n{text}");
                continue;
            }
            bail!("the {bench} bench failed:\n{text}");
        }
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("BENCH") {
                continue;
            }
            if let (Some(key), Some(Ok(value))) = (words.next(), words.next().map(str::parse::<f64>))
                && value.is_finite()
            {
                figures.insert(key.to_owned(), value);
            }
        }
    }
    Ok(figures)
}

/// A gateway configuration in `work` serving the built-in tools through the whole pipeline: a
/// policy rule with an argument constraint, a rate limit, schema validation and the audit log.
fn gateway_config(work: &Path, name: &str, fsync: bool) -> Result<PathBuf> {
    let path = work.join(format!("{name}.json"));
    let config = serde_json::json!({
        "native": {"builtin": true},
        "audit": {"path": work.join(format!("{name}-audit.jsonl")), "fsync": fsync},
        "policy": {
            "rules": [{"name": "short-echo", "effect": "allow", "servers": ["builtin"], "tools": ["echo"],
                       "arguments": {"text": {"glob": "*"}}}],
            "default": "deny"
        },
        "rate_limits": [{"name": "per-tool", "per_minute": 60_000_000, "burst": 1_000_000}]
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(path)
}

fn stdio_peers(bins: &Bins, work: &Path) -> Result<Vec<Peer>> {
    let durable = gateway_config(work, "gateway-durable", true)?;
    let fast = gateway_config(work, "gateway-nofsync", false)?;
    let durable = durable.display().to_string();
    let fast = fast.display().to_string();
    Ok(vec![
        Peer::new("mcptk serve builtin", &bins.mcptk, &["serve", "builtin"]),
        Peer::new("rmcp", &bins.rmcp, &[]),
        Peer::new("pipe floor", &bins.floor, &[]),
        Peer::new("gateway, audit fsync off", &bins.mcptk, &["serve", "--config", &fast]).tool("builtin__echo"),
        Peer::new("gateway, durable audit", &bins.mcptk, &["serve", "--config", &durable]).tool("builtin__echo"),
    ])
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// One call at a time and 64 in flight, every peer in turn, `rounds` times; medians.
fn stdio_calls(report: &mut Report, bins: &Bins, work: &Path, settings: &Settings) -> Result<()> {
    let peers = stdio_peers(bins, work)?;
    let mut sequential = vec![Vec::new(); peers.len()];
    let mut pipelined = vec![Vec::new(); peers.len()];
    let duration = Duration::from_secs_f64(settings.seconds);
    for _ in 0..settings.rounds {
        for (i, peer) in peers.iter().enumerate() {
            eprintln!("xtask bench: stdio calls, {}", peer.label);
            let (mut session, _) = Session::start(peer)?;
            session.sequential(duration / 4)?;
            sequential[i].push(session.sequential(duration)?);
            let started = Instant::now();
            let (mut calls, mut spent) = (0.0, 0.0);
            while started.elapsed() < duration {
                let rate = session.pipelined(20_000, WINDOW)?;
                calls += 20_000.0;
                spent += 20_000.0 / rate;
            }
            pipelined[i].push(calls / spent);
            session.stop();
        }
    }
    let sequential: Vec<f64> = sequential.into_iter().map(median).collect();
    let pipelined: Vec<f64> = pipelined.into_iter().map(median).collect();
    let labels: Vec<&str> = peers.iter().map(|p| p.label).collect();
    report.stdio(&labels, &sequential, &pipelined);
    let (ours, rmcp, floor) = (0, 1, 2);
    // The pipe floor does no MCP work over the same pipe: a server cannot answer faster than it.
    let floor_vs_rmcp = sequential[floor] / sequential[rmcp];
    report.check(
        Check::at_least("stdio, one call at a time: >= 2x rmcp", sequential[ours] / sequential[rmcp], 2.0, "x rmcp")
            .unreachable(floor_vs_rmcp >= 2.0, || {
                format!(
                    "the bound cannot be met on this machine in this run because the pipe floor itself is \
                     {floor_vs_rmcp:.2} x rmcp"
                )
            }),
    );
    report.check(Check::at_most(
        "stdio, one call at a time: latency <= 1.5x the pipe floor's",
        sequential[floor] / sequential[ours],
        1.5,
        "x the floor",
    ));
    report.check(Check::at_least("stdio, 64 in flight: >= 8x rmcp", pipelined[ours] / pipelined[rmcp], 8.0, "x rmcp"));
    report.plot_stdio(sequential[ours], pipelined[ours], sequential[rmcp], pipelined[rmcp]);
    Ok(())
}

/// Spawn to the `initialize` answer, each peer in turn, `starts` times; medians.
fn start_times(report: &mut Report, bins: &Bins, work: &Path, settings: &Settings) -> Result<()> {
    let home = work.join("default-gateway");
    std::fs::create_dir_all(&home)?;
    let peers = [
        Peer::new("mcptk serve builtin", &bins.mcptk, &["serve", "builtin"]),
        Peer::new("rmcp", &bins.rmcp, &[]),
        Peer::new("pipe floor", &bins.floor, &[]),
        Peer::new("default gateway (mcptk serve)", &bins.mcptk, &["serve"]).dir(&home),
    ];
    let mut times = vec![Vec::new(); peers.len()];
    for _ in 0..settings.starts {
        for (i, peer) in peers.iter().enumerate() {
            let (session, took) = Session::start(peer)?;
            times[i].push(took.as_secs_f64() * 1e3);
            session.stop();
        }
    }
    let times: Vec<f64> = times.into_iter().map(median).collect();
    report.starts(&peers.iter().map(|p| p.label).collect::<Vec<_>>(), &times);
    report.check(Check::at_most(
        "start to first answer, mcptk serve builtin: <= rmcp",
        times[0] / times[1],
        1.0,
        "x rmcp",
    ));
    report.check(Check::at_most(
        "start to first answer, default gateway: <= 2x serve builtin",
        times[3] / times[0],
        2.0,
        "x serve builtin",
    ));
    Ok(())
}

/// A free loopback port.
pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server process listening on `address`, killed when dropped.
struct Listening(Child);

impl Listening {
    fn start(program: &Path, args: &[&str], address: &str) -> Result<Listening> {
        Listening::spawn(Command::new(program).args(args).stderr(Stdio::null()), address)
    }

    /// `command` (its standard error as the caller set it), once it listens on `address`.
    fn spawn(command: &mut Command, address: &str) -> Result<Listening> {
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let mut listening = Listening(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(address).is_err() {
            if started.elapsed() > Duration::from_secs(10) || listening.0.try_wait()?.is_some() {
                bail!("{program} does not listen on {address}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(listening)
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_load(report: &mut Report, root: &Path, bins: &Bins, settings: &Settings) -> Result<()> {
    let ours_at = format!("127.0.0.1:{}", free_port()?);
    let rmcp_at = format!("127.0.0.1:{}", free_port()?);
    let _ours = Listening::start(&bins.mcptk, &["serve", "--http", &ours_at, "builtin"], &ours_at)?;
    let _rmcp = Listening::start(&bins.rmcp, &["--http", &rmcp_at], &rmcp_at)?;
    // The HTTP floor: a fixed answer of the same bytes from a blocking thread per connection.
    // With one connection nothing can answer sooner; with many, threads are not the fastest way
    // to serve, so it is measured at one connection only.
    let floor_at = format!("127.0.0.1:{}", free_port()?);
    let _floor = Listening::start(&bins.floor, &["--http", &floor_at], &floor_at)?;
    let targets = [("mcptk".to_owned(), Target::new(root, &ours_at)), ("rmcp".to_owned(), Target::new(root, &rmcp_at))];
    let floor = [("HTTP floor".to_owned(), Target::new(root, &floor_at))];
    for (_, target) in targets.iter().chain(&floor) {
        target.check()?;
    }
    let seconds = settings.seconds.ceil().max(1.0) as u32 + 1;
    // The floor takes its turn in every round too, at one connection.
    let (mut measured, mut floors) = (vec![Vec::new(); targets.len()], vec![Vec::new(); floor.len()]);
    for round in (1..=settings.rounds).map(|round| (round, settings.rounds)) {
        http::measure_round("HTTP", round, &targets, &CONNECTIONS, seconds, &mut measured)?;
        http::measure_round("HTTP", round, &floor, &[1], seconds, &mut floors)?;
    }
    let medians = http::medians(&measured);
    let (ours, rmcp) = (medians[0], medians[1]);
    let [floor] = http::medians(&floors)[0];
    let mut loads: Vec<[Load; 2]> = Vec::new();
    for (i, connections) in CONNECTIONS.into_iter().enumerate() {
        let (ours, rmcp) = (ours[i], rmcp[i]);
        let mut calls = Check::at_least(
            &format!("HTTP, {connections} connections: >= 2x rmcp's calls/s"),
            ours.calls_per_s / rmcp.calls_per_s,
            2.0,
            "x rmcp",
        );
        if connections == 1 {
            let floor_vs_rmcp = floor.calls_per_s / rmcp.calls_per_s;
            calls = calls.unreachable(floor_vs_rmcp >= 2.0, || {
                format!(
                    "the bound cannot be met on this machine in this run because the HTTP floor itself is \
                     {floor_vs_rmcp:.2} x rmcp"
                )
            });
        }
        report.check(calls);
        report.check(Check::at_most(
            &format!("HTTP, {connections} connections: p99 below rmcp's"),
            ours.p99_us / rmcp.p99_us,
            1.0,
            "x rmcp's p99",
        ));
        loads.push([ours, rmcp]);
    }
    report.http(&CONNECTIONS, &loads, floor, settings.rounds);
    Ok(())
}

fn pipeline_cost(report: &mut Report, figures: &BTreeMap<String, f64>) {
    report.pipeline(figures);
    let added = |key: &str| figures.get(key).copied().unwrap_or(f64::INFINITY);
    // The durable write as the bench measured it between its durable calls, averaged as the
    // calls are (a median would leave out the long tail that the calls pay).
    let fsync = figures.get("pipeline.fsync.mean").copied().unwrap_or(f64::NAN);
    report.check(Check::at_most(
        "gateway pipeline added per call, audit fsync off: <= 25 µs",
        added("pipeline.added_nofsync.seq"),
        25.0,
        "µs",
    ));
    report.check(Check::at_most(
        "gateway pipeline added per call, durable audit: <= one fsync + 25 µs",
        added("pipeline.added.seq"),
        fsync + 25.0,
        "µs",
    ));
}

fn audit_scale(report: &mut Report, figures: &BTreeMap<String, f64>) {
    report.audit(figures);
    let get = |key: &str| figures.get(key).copied();
    let open_ratio = match (get("audit.open.1m"), get("audit.open.10k")) {
        (Some(big), Some(small)) => big / small.max(0.05),
        _ => f64::INFINITY,
    };
    report.check(Check::at_most("audit open: O(1) in the log's length (1M vs 10k records)", open_ratio, 2.0, "x"));
    report.check(Check::at_least(
        "audit append, 64 in flight, durable: >= 200k records/s",
        get("audit.append.inflight64").unwrap_or(0.0),
        200_000.0,
        "records/s",
    ));
    report.check(Check::at_least(
        "audit verify: >= 500k records/s",
        get("audit.verify").unwrap_or(0.0),
        500_000.0,
        "records/s",
    ));
}

/// Idle resident memory, and whether the gateway's grows with calls.
fn memory(report: &mut Report, bins: &Bins, work: &Path, settings: &Settings) -> Result<()> {
    let (home, kept) = (work.join("idle-gateway"), work.join("idle-gateway-kept"));
    std::fs::create_dir_all(&home)?;
    std::fs::create_dir_all(&kept)?;
    let peers = [
        Peer::new("default gateway (mcptk serve)", &bins.mcptk, &["serve"])
            .dir(&home)
            .tool("fs__list_allowed_directories"),
        Peer::new("mcptk serve builtin", &bins.mcptk, &["serve", "builtin"]),
        Peer::new("rmcp", &bins.rmcp, &[]),
        // Side by side: the same gateway keeping the pages only its start needed.
        Peer::new("default gateway, start's pages kept (`MCPTK_KEEP_START_PAGES=1`)", &bins.mcptk, &["serve"])
            .dir(&kept)
            .tool("fs__list_allowed_directories")
            .env("MCPTK_KEEP_START_PAGES", "1"),
    ];
    let (mut idle, mut called) = (Vec::new(), Vec::new());
    for peer in &peers {
        let (mut session, _) = Session::start(peer)?;
        // Once the start is over (20 ms in, a server gives back the pages only the start
        // needed), a list, then a call: what a server holds idle, and once it has served.
        std::thread::sleep(Duration::from_millis(100));
        session.request("tools/list", "{}")?;
        std::thread::sleep(Duration::from_millis(300));
        idle.push(session.memory()?);
        // The echo servers echo; the default gateway (no echo tool) lists the folders it serves.
        let (arguments, expected) = match peer.tool {
            "echo" => (r#"{"text":"hello"}"#, "hello"),
            _ => ("{}", "Allowed directories"),
        };
        let call = format!(r#"{{"name":"{}","arguments":{arguments}}}"#, peer.tool);
        let answer = session.request("tools/call", &call)?;
        anyhow::ensure!(
            answer.contains(expected) && !answer.contains(r#""error""#) && !answer.contains(r#""isError":true"#),
            "{}: {answer}",
            peer.label
        );
        std::thread::sleep(Duration::from_millis(300));
        called.push(session.memory()?);
        session.stop();
    }
    report.check(Check::at_most("idle RSS, default gateway: <= 8 MiB", idle[0].rss / MIB, 8.0, "MiB"));

    let config = gateway_config(work, "gateway-growth", false)?;
    let config = config.display().to_string();
    let peer = Peer::new("gateway", &bins.mcptk, &["serve", "--config", &config]).tool("builtin__echo");
    let (mut session, _) = Session::start(&peer)?;
    session.pipelined(10_000, WINDOW)?;
    let after_10k = session.rss()?;
    let mut done = 10_000;
    while done < settings.growth_calls {
        let batch = 50_000.min(settings.growth_calls - done);
        session.pipelined(batch, WINDOW)?;
        done += batch;
    }
    let after_all = session.rss()?;
    session.stop();
    report.memory(&peers.iter().map(|p| p.label).collect::<Vec<_>>(), &idle, &called, after_10k, after_all, done);
    report.check(Check::at_most(
        &format!("gateway RSS after {done} calls vs after 10k: no growth (<= +1 MiB)"),
        (after_all - after_10k) / MIB,
        1.0,
        "MiB",
    ));
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// The gateway in front of `cargo xtask bench-upstream`: 10k tools listed through pagination, a
/// 10 MiB result, 1k calls in flight; each against a stated bound.
fn scale(report: &mut Report, bins: &Bins, work: &Path) -> Result<()> {
    let config = work.join("gateway-scale.json");
    let upstream = bins.upstream.display().to_string();
    std::fs::write(
        &config,
        serde_json::to_vec(&serde_json::json!({
            "mcpServers": {"up": {"command": upstream, "args": ["bench-upstream"]}},
            "audit": {"path": work.join("scale-audit.jsonl"), "fsync": false}
        }))?,
    )?;
    let config = config.display().to_string();
    let peer = Peer::new("gateway", &bins.mcptk, &["serve", "--config", &config]).tool("up__echo");
    let (mut session, _) = Session::start(&peer)?;
    // The gateway answers the handshake while its server starts; a list waits until it has.
    session.request("tools/list", "{}")?;
    let idle = session.rss()?;
    report.check(Check::at_most(
        &format!("gateway RSS with {} upstream tools, idle", upstream::TOOLS),
        idle / MIB,
        64.0,
        "MiB",
    ));

    let started = Instant::now();
    let (mut listed, mut cursor) = (0usize, None::<String>);
    loop {
        let params = match &cursor {
            Some(c) => serde_json::json!({ "cursor": c }).to_string(),
            None => "{}".to_owned(),
        };
        let page: serde_json::Value = serde_json::from_str(&session.request("tools/list", &params)?)?;
        listed += page["result"]["tools"].as_array().map_or(0, Vec::len);
        match page["result"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let list_ms = started.elapsed().as_secs_f64() * 1e3;
    let wanted = upstream::TOOLS + 2;
    if listed < wanted {
        bail!("the gateway listed {listed} tools of the upstream's {wanted}");
    }
    report.check(Check::at_most(&format!("tools/list of {listed} tools through the gateway"), list_ms, 1000.0, "ms"));

    let big_ms = big_result(&mut session, "up__big")?;
    let after_big = session.rss()?;
    let (mut direct, _) = Session::start(&Peer::new("upstream", &bins.upstream, &["bench-upstream"]))?;
    let direct_ms = big_result(&mut direct, "big")?;
    direct.stop();
    report.check(Check::at_most(
        "a 10 MiB tool result: the gateway's time over the upstream's own",
        big_ms - direct_ms,
        250.0,
        "ms",
    ));

    let started = Instant::now();
    session.pipelined(1_000, 1_000)?;
    let thousand_ms = started.elapsed().as_secs_f64() * 1e3;
    let after_thousand = session.rss()?;
    session.stop();
    report.check(Check::at_most("1k calls in flight through the gateway, all answered", thousand_ms, 1000.0, "ms"));
    report.check(Check::at_most(
        "gateway RSS after the 10 MiB result and 1k calls in flight, above idle",
        (after_big.max(after_thousand) - idle) / MIB,
        64.0,
        "MiB",
    ));
    report.scale(listed, list_ms, (big_ms, direct_ms), thousand_ms, idle, after_big, after_thousand);
    Ok(())
}

/// The time of one call of the tool returning 10 MiB, after checking it all arrived.
fn big_result(session: &mut Session, tool: &str) -> Result<f64> {
    let started = Instant::now();
    let bytes = session.call(tool, "")?;
    let took = started.elapsed().as_secs_f64() * 1e3;
    if bytes < upstream::BIG_BYTES {
        bail!("the 10 MiB result of {tool} arrived with {bytes} bytes");
    }
    Ok(took)
}
