//! The benchmark report: Markdown tables, the targets met or missed, and an SVG plot of calls per
//! second against concurrency.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};

use super::http::Load;
use super::stdio::Memory;

const BEGIN: &str = "<!-- bench:begin (written by `cargo xtask bench`; edit outside these markers) -->";
const END: &str = "<!-- bench:end -->";
const SVG: &str = "benchmarks.svg";

/// One target: what was measured against its bound.
pub struct Check {
    pub what: String,
    pub measured: f64,
    pub bound: f64,
    pub unit: &'static str,
    pub at_least: bool,
    pub met: bool,
    /// Why the bound cannot be met in this run, printed beside the verdict (see [`Check::unreachable`]).
    pub note: Option<String>,
}

impl Check {
    pub fn at_least(what: &str, measured: f64, bound: f64, unit: &'static str) -> Check {
        Check { what: what.to_owned(), measured, bound, unit, at_least: true, met: measured >= bound, note: None }
    }

    pub fn at_most(what: &str, measured: f64, bound: f64, unit: &'static str) -> Check {
        Check { what: what.to_owned(), measured, bound, unit, at_least: false, met: measured <= bound, note: None }
    }

    /// Says plainly, when `reachable` is false, that the bound cannot be met on this machine in this
    /// run for the reason given (e.g. the no-work floor itself misses it); the bound stays as it is.
    pub fn unreachable(mut self, reachable: bool, why: impl FnOnce() -> String) -> Check {
        if !reachable {
            self.note = Some(why());
        }
        self
    }
}

pub struct Report {
    sections: Vec<String>,
    pub checks: Vec<Check>,
    binary_bytes: u64,
    /// The startup functions listed and how many of them the binary has (when this run built it).
    layout: Option<(usize, usize)>,
    /// Calls/s against concurrency: (label, [(concurrency, calls/s)]).
    series: Vec<(String, Vec<(u32, f64)>)>,
}

impl Report {
    pub fn new(binary_bytes: u64, layout: Option<&crate::layout::Layout>) -> Report {
        let layout = layout.map(|l| (l.listed, l.found));
        Report { sections: Vec::new(), checks: Vec::new(), binary_bytes, layout, series: Vec::new() }
    }

    pub fn check(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn stdio(&mut self, labels: &[&str], sequential: &[f64], pipelined: &[f64]) {
        let mut s = String::from(
            "### stdio: `tools/call` of an echo tool, one client\n\n\
             | server | one at a time | µs per call | 64 in flight | vs rmcp (one / 64) |\n|---|---|---|---|---|\n",
        );
        for (i, label) in labels.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {label} | {} calls/s | {:.1} | {} calls/s | {:.2}x / {:.2}x |",
                thousands(sequential[i]),
                1e6 / sequential[i],
                thousands(pipelined[i]),
                sequential[i] / sequential[1],
                pipelined[i] / pipelined[1],
            );
        }
        s.push_str(
            "\nThe same client for every row: request lines written straight to the pipe, answers read \
             line by line and checked. The pipe floor answers every line with a canned answer of the same \
             size and does no JSON work. The gateway rows call `builtin__echo` through the whole pipeline \
             (policy rule with an argument constraint, rate limit, schema validation, audit).\n",
        );
        self.sections.push(s);
    }

    pub fn plot_stdio(&mut self, ours_one: f64, ours_64: f64, rmcp_one: f64, rmcp_64: f64) {
        self.series.push(("mcptk, stdio".into(), vec![(1, ours_one), (64, ours_64)]));
        self.series.push(("rmcp, stdio".into(), vec![(1, rmcp_one), (64, rmcp_64)]));
    }

    pub fn starts(&mut self, labels: &[&str], millis: &[f64]) {
        let mut s = String::from(
            "### Start to first answer (spawn, `initialize`, its answer; median)\n\n| server | ms | vs rmcp |\n|---|---|---|\n",
        );
        for (label, ms) in labels.iter().zip(millis) {
            let _ = writeln!(s, "| {label} | {ms:.2} | {:.2}x |", ms / millis[1]);
        }
        self.sections.push(s);
    }

    pub fn http(&mut self, connections: &[u32], loads: &[[Load; 2]], floor: Load, rounds: usize) {
        let mut s = String::from(
            "### Streamable HTTP under `wrk` (stateless, JSON answers)\n\n\
             | connections | mcptk calls/s | rmcp calls/s | ratio | mcptk p50 / p99 | rmcp p50 / p99 |\n|---|---|---|---|---|---|\n",
        );
        for (c, [ours, rmcp]) in connections.iter().zip(loads) {
            let _ = writeln!(
                s,
                "| {c} | {} | {} | {:.2}x | {:.0} / {:.0} µs | {:.0} / {:.0} µs |",
                thousands(ours.calls_per_s),
                thousands(rmcp.calls_per_s),
                ours.calls_per_s / rmcp.calls_per_s,
                ours.p50_us,
                ours.p99_us,
                rmcp.p50_us,
                rmcp.p99_us
            );
        }
        let runs = if rounds > 1 {
            format!("Each figure is the median of {rounds} runs, the servers and the floor taking turns.")
        } else {
            "Each figure is one run.".to_owned()
        };
        let _ = writeln!(s, "\n`wrk` runs on the same two cores as the server it loads. {runs}");
        if let Some([ours, rmcp]) = loads.first() {
            let _ = writeln!(
                s,
                "The HTTP floor (`pipe-floor --http`: the bytes of mcptk's answer, fixed, written by a blocking \
                 thread per connection that reads no more of a request than where it ends), at 1 connection: \
                 {} calls/s, p50 / p99 {:.0} / {:.0} µs. mcptk answers at {:.2} of its rate, rmcp at {:.2}.",
                thousands(floor.calls_per_s),
                floor.p50_us,
                floor.p99_us,
                ours.calls_per_s / floor.calls_per_s,
                rmcp.calls_per_s / floor.calls_per_s
            );
        }
        self.sections.push(s);
        self.series
            .push(("mcptk, HTTP".into(), connections.iter().zip(loads).map(|(c, l)| (*c, l[0].calls_per_s)).collect()));
        self.series
            .push(("rmcp, HTTP".into(), connections.iter().zip(loads).map(|(c, l)| (*c, l[1].calls_per_s)).collect()));
    }

    pub fn pipeline(&mut self, figures: &BTreeMap<String, f64>) {
        let get = |k: &str| figures.get(k).map_or("not measured".to_owned(), |v| thousands(*v));
        let us = |k: &str| figures.get(k).map_or("not measured".to_owned(), |v| format!("{v:.1} µs"));
        let mut s = String::from(
            "### The gateway pipeline in process (`crates/mcp-audit/benches/pipeline.rs`)\n\n\
             | | bare tool | pipeline, audit fsync off | pipeline, durable audit |\n|---|---|---|---|\n",
        );
        let _ = writeln!(
            s,
            "| one call at a time (calls/s) | {} | {} | {} |",
            get("pipeline.bare.seq"),
            get("pipeline.full_nofsync.seq"),
            get("pipeline.full.seq")
        );
        let _ = writeln!(
            s,
            "| 64 in flight (calls/s) | {} | {} | {} |",
            get("pipeline.bare.inflight64"),
            get("pipeline.full_nofsync.inflight64"),
            get("pipeline.full.inflight64")
        );
        let _ = writeln!(
            s,
            "| added per call, one at a time | | {} | {} |",
            us("pipeline.added_nofsync.seq"),
            us("pipeline.added.seq")
        );
        let _ = writeln!(
            s,
            "\nOne durable write (`O_DSYNC`, as the log writes) of what a call appends, in rounds between the \
             durable calls: mean {}, median {}. The bound compares the means.",
            us("pipeline.fsync.mean"),
            us("pipeline.fsync.median")
        );
        let ns = |k: &str| figures.get(k).map_or("not measured".to_owned(), |v| format!("{v:.0} ns"));
        let _ = writeln!(
            s,
            "A rate-limit check (`crates/mcp-security/benches/ratelimit.rs`): {} in process, {} with the \
             budget shared between replicas in Redis (one round trip on loopback).",
            ns("ratelimit.local.check"),
            us("ratelimit.redis.check")
        );
        self.sections.push(s);
    }

    pub fn audit(&mut self, figures: &BTreeMap<String, f64>) {
        let get = |k: &str| figures.get(k).map_or("not measured".to_owned(), |v| thousands(*v));
        let ms = |k: &str| figures.get(k).map_or("not measured".to_owned(), |v| format!("{v:.2} ms"));
        let mut s = String::from("### The audit log (`crates/mcp-audit/benches/open.rs`)\n\n| | |\n|---|---|\n");
        let _ = writeln!(s, "| open a log of 10k records | {} |", ms("audit.open.10k"));
        let _ = writeln!(s, "| open a log of 1M records | {} |", ms("audit.open.1m"));
        let _ = writeln!(s, "| append, one at a time, durable | {} records/s |", get("audit.append.seq"));
        let _ = writeln!(s, "| append, 64 in flight, durable | {} records/s |", get("audit.append.inflight64"));
        let _ =
            writeln!(s, "| append, 64 in flight, fsync off | {} records/s |", get("audit.append.inflight64.nofsync"));
        let _ = writeln!(s, "| verify | {} records/s |", get("audit.verify"));
        self.sections.push(s);
    }

    pub fn memory(
        &mut self,
        labels: &[&str],
        idle: &[Memory],
        called: &[Memory],
        after_10k: f64,
        after_all: f64,
        calls: u64,
    ) {
        let mut s = String::from("### Memory and size\n\n| | |\n|---|---|\n");
        for ((label, m), c) in labels.iter().zip(idle).zip(called) {
            let _ = writeln!(
                s,
                "| idle RSS, {label} (after `tools/list`; after a call too) | {:.1} MiB, of which {:.1} MiB \
                 anonymous (heap, stacks); {:.1} MiB, of which {:.1} anonymous |",
                m.rss / super::MIB,
                m.anon / super::MIB,
                c.rss / super::MIB,
                c.anon / super::MIB
            );
        }
        let _ = writeln!(s, "| gateway RSS after 10k calls | {:.1} MiB |", after_10k / super::MIB);
        let _ =
            writeln!(s, "| gateway RSS after {} calls | {:.1} MiB |", thousands(calls as f64), after_all / super::MIB);
        let _ = writeln!(s, "| release `mcptk` binary | {:.1} MiB |", self.binary_bytes as f64 / super::MIB);
        let placed = match self.layout {
            Some((listed, found)) => format!("{found} of the {listed} listed are in the binary"),
            None => "not this run (no list, a linker that takes none, or `--no-build`)".to_owned(),
        };
        let _ =
            writeln!(s, "| functions a start and a call run, placed together (`{}`) | {placed} |", crate::layout::LIST);
        s.push_str(
            "\nRSS counts the pages of the binary a process has touched; the kernel maps them 64 KiB at a \
             time around each fault, so a large binary costs resident pages even where little of its code runs. \
             The release build places the functions a start runs together, then those a call runs (`cargo \
             xtask startup-symbols` lists them), so that a start touches few of those pages, and a server gives \
             back every page of its binary's code and constants 20 ms after its start (`crates/mcptk/src/\
             start_pages.rs`): what its calls run comes back at their first faults, from the page cache. Each \
             idle figure is taken after a `tools/list` made once that is done, then after one call (`echo`; the \
             default gateway's `fs__list_allowed_directories`).\n",
        );
        self.sections.push(s);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn scale(
        &mut self,
        listed: usize,
        list_ms: f64,
        (big_ms, direct_ms): (f64, f64),
        thousand_ms: f64,
        idle: f64,
        big: f64,
        thousand: f64,
    ) {
        let mut s = String::from(
            "### The gateway at scale (in front of `cargo xtask bench-upstream`)\n\n| | time | gateway RSS after |\n|---|---|---|\n",
        );
        let _ = writeln!(s, "| idle | | {:.1} MiB |", idle / super::MIB);
        let _ = writeln!(s, "| `tools/list` of {listed} tools, every page | {list_ms:.1} ms | |");
        let _ = writeln!(
            s,
            "| one 10 MiB tool result (from the upstream directly: {direct_ms:.1} ms) | {big_ms:.1} ms | {:.1} MiB |",
            big / super::MIB
        );
        let _ = writeln!(s, "| 1k calls in flight | {thousand_ms:.1} ms | {:.1} MiB |", thousand / super::MIB);
        self.sections.push(s);
    }

    /// Gateway replicas behind HAProxy beside one called directly (`setups`, at `at` connections),
    /// and one replica with each kind of shared state (`costs`, at `cost_at` connections, the first
    /// row the one without).
    pub fn replicas(
        &mut self,
        at: &[u32; 2],
        setups: &[(String, [Load; 2])],
        cost_at: &[u32; 2],
        costs: &[(String, [Load; 2])],
    ) {
        let mut s = format!(
            "### Gateway replicas behind HAProxy (stateless `tools/call` under `wrk`)\n\n\
             | setup | {0} connections | p50 / p99 | {1} connections | p50 / p99 | vs direct ({0} / {1}) |\n\
             |---|---|---|---|---|---|\n",
            at[0], at[1]
        );
        let direct = setups.first().map_or([Load::default(); 2], |(_, l)| *l);
        for (label, [a, b]) in setups {
            let _ = writeln!(
                s,
                "| {label} | {} calls/s | {:.0} / {:.0} µs | {} calls/s | {:.0} / {:.0} µs | {:.2}x / {:.2}x |",
                thousands(a.calls_per_s),
                a.p50_us,
                a.p99_us,
                thousands(b.calls_per_s),
                b.p50_us,
                b.p99_us,
                a.calls_per_s / direct[0].calls_per_s,
                b.calls_per_s / direct[1].calls_per_s,
            );
        }
        s.push_str(
            "\nEach replica is `mcptk serve --config C --http` with the built-in tools, a rate limit and an \
             audit log of its own (fsync off), all with one session key and one bearer token; HAProxy \
             balances round robin and checks `/readyz`. **This machine has two cores, shared by `wrk`, \
             HAProxy and every replica: more replicas cannot raise the throughput here.** The figures show \
             what the balancer and the extra processes cost, not how the gateway scales. The replicas share \
             no state in these runs; the next table is what sharing costs.\n\n",
        );
        let _ = write!(
            s,
            "### What shared state costs per call (one replica, called directly)\n\n\
             | gateway | {0} connection | p50 / p99 | added per call | {1} connections | p50 / p99 | added per call |\n\
             |---|---|---|---|---|---|---|\n",
            cost_at[0], cost_at[1]
        );
        let base = costs.first().map_or([Load::default(); 2], |(_, l)| *l);
        let added = |load: &Load, base: &Load| {
            let micros = 1e6 / load.calls_per_s - 1e6 / base.calls_per_s;
            format!("{micros:+.1} µs")
        };
        for (i, (label, [a, b])) in costs.iter().enumerate() {
            let (added_a, added_b) =
                if i == 0 { (String::new(), String::new()) } else { (added(a, &base[0]), added(b, &base[1])) };
            let _ = writeln!(
                s,
                "| {label} | {} calls/s | {:.0} / {:.0} µs | {added_a} | {} calls/s | {:.0} / {:.0} µs | {added_b} |",
                thousands(a.calls_per_s),
                a.p50_us,
                a.p99_us,
                thousands(b.calls_per_s),
                b.p50_us,
                b.p99_us,
            );
        }
        let _ = writeln!(
            s,
            "\n\"Added per call\" is the difference in time per call (1 / calls per second) from the first row: \
             at {} connection the latency a call gains, at {} connections (the machine full) the work it \
             adds. The Redis rate limit is one round trip to Redis on loopback in every call (a limit high \
             enough never to refuse); the PostgreSQL mirror copies the audit log's batches to the \
             database after they are written, off the call's path. Same machine caveat as above: Redis \
             and PostgreSQL run on the same two cores.",
            cost_at[0], cost_at[1]
        );
        self.sections.push(s);
    }

    /// The native drop-in servers beside the reference servers they replace.
    pub fn dropins(&mut self, figures: &BTreeMap<String, f64>) {
        let mut s = String::from(
            "### The drop-in servers beside the servers they replace (`crates/mcp-{k8s,github,docker}/benches`)\n\n\
             | | mcptk (native) | reference | ratio |\n|---|---|---|---|\n",
        );
        let rows: [(&str, &str, &str, bool); 8] = [
            ("Kubernetes: start to `tools/list` (ms)", "k8s.start.native", "k8s.start.go", false),
            ("Kubernetes: `pods_list` calls/s", "k8s.pods_list.native", "k8s.pods_list.go", true),
            ("Kubernetes: `resources_get` calls/s", "k8s.resources_get.native", "k8s.resources_get.go", true),
            ("GitHub: start to `tools/list` (ms)", "github.start.native", "github.start.go", false),
            ("GitHub: `get_me` calls/s", "github.get_me.native", "github.get_me.go", true),
            ("GitHub: `list_issues` calls/s", "github.list_issues.native", "github.list_issues.go", true),
            ("Docker: start to `tools/list` (ms)", "docker.start.native", "docker.start.python", false),
            (
                "Docker: `list_containers` calls/s",
                "docker.list_containers.native",
                "docker.list_containers.python",
                true,
            ),
        ];
        for (what, ours, theirs, higher_is_better) in rows {
            let (a, b) = (figures.get(ours), figures.get(theirs));
            let show = |v: Option<&f64>| v.map_or("not measured".to_owned(), |v| number(*v));
            // How many times faster ours is; below 1, said the other way round.
            let speedup = match (a, b) {
                (Some(a), Some(b)) if higher_is_better => Some(a / b),
                (Some(a), Some(b)) => Some(b / a),
                _ => None,
            };
            let ratio = match speedup {
                Some(x) if x >= 1.0 => format!("{x:.2}x faster"),
                Some(x) => format!("{:.2}x slower", 1.0 / x),
                None => String::new(),
            };
            let _ = writeln!(s, "| {what} | {} | {} | {ratio} |", show(a), show(b));
        }
        if let Some(engine) = figures.get("docker.list_containers.engine") {
            let _ =
                writeln!(s, "| Docker: the engine's `GET /containers/json` alone, calls/s | | {} | |", number(*engine));
        }
        s.push_str(
            "\nThe reference servers: `kubernetes-mcp-server` (Go, from npm) and `github-mcp-server` (Go, from \
             PyPI) against the same stand-ins our tests use (a fake Kubernetes API server, recorded GitHub \
             responses), and `mcp-server-docker` (Python) on the same Podman engine.\n",
        );
        self.sections.push(s);
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## The performance targets (`cargo xtask bench`)\n");
        let _ = writeln!(s, "{}, on {}.\n", today(), machine());
        s.push_str("| target | measured | bound | met |\n|---|---|---|---|\n");
        for c in &self.checks {
            let sign = if c.at_least { ">=" } else { "<=" };
            let _ = writeln!(
                s,
                "| {} | {} {} | {sign} {} | {}{} |",
                c.what,
                number(c.measured),
                c.unit,
                number(c.bound),
                if c.met { "yes" } else { "**no**" },
                c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            );
        }
        let _ = writeln!(s, "\n![calls per second against concurrency]({SVG})\n");
        for section in &self.sections {
            s.push_str(section);
            s.push('\n');
        }
        s
    }

    /// Replaces the part of `docs/benchmarks.md` between the markers (or puts it after the title)
    /// and writes the plot beside it.
    pub fn write(&self, root: &Path) -> Result<()> {
        let path = root.join("docs/benchmarks.md");
        let old = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let generated = format!("{BEGIN}\n{}{END}", self.markdown());
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(begin), Some(end)) if begin < end => {
                format!("{}{generated}{}", &old[..begin], &old[end + END.len()..])
            }
            _ => match old.split_once('\n') {
                Some((title, rest)) => format!("{title}\n\n{generated}\n{rest}"),
                None => format!("{old}\n\n{generated}\n"),
            },
        };
        std::fs::write(&path, new)?;
        std::fs::write(root.join("docs").join(SVG), self.svg())?;
        Ok(())
    }

    /// Calls per second (logarithmic) against concurrency 1, 16, 64, one line per series.
    fn svg(&self) -> String {
        let (width, height, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 30.0, 170.0);
        let xs = [1u32, 16, 64];
        let x_of = |c: u32| left + (width - left - right) * (f64::from(c).log2() / 6.0);
        let max = self.series.iter().flat_map(|(_, p)| p.iter().map(|(_, v)| *v)).fold(1.0, f64::max);
        let (low, high) = (3.0_f64, max.log10().ceil().max(4.0));
        let y_of = |v: f64| top + (height - top - bottom) * (1.0 - (v.max(1.0).log10() - low) / (high - low));
        let mut s = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
        );
        s.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = write!(s, r#"<text x="{left}" y="18">calls/s against concurrency (echo tool), {}</text>"#, today());
        for decade in (low as i32)..=(high as i32) {
            let y = y_of(10f64.powi(decade));
            let _ = write!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                width - right,
                left - 6.0,
                y + 4.0,
                thousands(10f64.powi(decade))
            );
        }
        for c in xs {
            let x = x_of(c);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{c}</text>"##,
                height - bottom,
                height - bottom + 16.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">calls in flight (stdio) / connections (HTTP)</text>"#,
            (left + width - right) / 2.0,
            height - 12.0
        );
        let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
        for (i, (label, points)) in self.series.iter().enumerate() {
            let colour = colours[i % colours.len()];
            let dash = if label.starts_with("rmcp") { r#" stroke-dasharray="6 4""# } else { "" };
            let path: Vec<String> = points.iter().map(|(c, v)| format!("{:.1},{:.1}", x_of(*c), y_of(*v))).collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            for (c, v) in points {
                let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#, x_of(*c), y_of(*v));
            }
            let y = top + 20.0 * i as f64;
            let _ = write!(
                s,
                r#"<line x1="{}" x2="{}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{label}</text>"#,
                width - right + 10.0,
                width - right + 34.0,
                width - right + 40.0,
                y + 4.0
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn thousands(value: f64) -> String {
    let whole = value.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn number(value: f64) -> String {
    if !value.is_finite() {
        "not measured".to_owned()
    } else if value >= 1000.0 {
        thousands(value)
    } else {
        format!("{value:.2}")
    }
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The processor's model, its core count and the kernel.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "an unknown processor".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores of {cpu}, Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_bound_is_said_plainly_beside_its_verdict() {
        let mut report = Report::new(0, None);
        let reason =
            || "the bound cannot be met on this machine in this run because the pipe floor itself is 1.91 x rmcp";
        report.check(Check::at_least("stdio: >= 2x rmcp", 1.47, 2.0, "x rmcp").unreachable(false, || reason().into()));
        report.check(Check::at_least("http: >= 2x rmcp", 2.1, 2.0, "x rmcp").unreachable(true, || reason().into()));
        let table = report.markdown();
        assert!(table.contains(&format!("| >= 2.00 | **no** ({}) |", reason())), "{table}");
        assert!(table.contains("| 2.10 x rmcp | >= 2.00 | yes |"), "{table}");
    }
}
