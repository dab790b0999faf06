//! Streamable HTTP under load from `wrk` (Debian's package) with `benches/wrk/echo.lua`: one
//! JSON-RPC `tools/call` POST of the stateless era per request, which every peer serves.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One server's HTTP endpoint.
pub struct Target {
    pub url: String,
    pub script: PathBuf,
    /// The tool called and the bearer token sent (the script's `WRK_TOOL` and `WRK_TOKEN`).
    tool: Option<String>,
    token: Option<String>,
}

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    pub calls_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Target {
    pub fn new(root: &Path, address: &str) -> Target {
        Target {
            url: format!("http://{address}/mcp"),
            script: root.join("benches/wrk/echo.lua"),
            tool: None,
            token: None,
        }
    }

    /// The same load through a gateway: its `builtin__echo`, with a bearer token.
    pub fn gateway(mut self, token: &str) -> Target {
        self.tool = Some("builtin__echo".to_owned());
        self.token = Some(token.to_owned());
        self
    }

    /// One second of load with every answer checked for the echoed text (the script's
    /// `WRK_CHECK`): the server answers this request correctly before it is timed.
    pub fn check(&self) -> Result<()> {
        let report = self.wrk(1, 1, true)?;
        if !report.contains("wrong answers: 0") {
            bail!("{} gave wrong answers to the echo call:\n{report}", self.url);
        }
        parse(&report).map(|_| ())
    }

    /// `wrk` with `connections` connections for `seconds`.
    pub fn load(&self, connections: u32, seconds: u32) -> Result<Load> {
        let report = self.wrk(connections, seconds, false)?;
        parse(&report).with_context(|| format!("reading wrk's report:\n{report}"))
    }

    fn wrk(&self, connections: u32, seconds: u32, check: bool) -> Result<String> {
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{}", connections.min(2)))
            .arg(format!("-c{connections}"))
            .arg(format!("-d{seconds}s"))
            .arg("--latency")
            .arg("-s")
            .arg(&self.script)
            .arg(&self.url);
        for (variable, value) in [
            ("WRK_CHECK", check.then_some("1")),
            ("WRK_TOOL", self.tool.as_deref()),
            ("WRK_TOKEN", self.token.as_deref()),
        ] {
            match value {
                Some(value) => command.env(variable, value),
                None => command.env_remove(variable),
            };
        }
        let output = command.output().context("cannot run wrk (Debian's package `wrk`)")?;
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!("wrk failed: {report}{}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(report)
    }
}

/// `wrk` against every target at each connection count, in turn, `rounds` times: per target, the
/// loads of each round. Taking turns spreads a noisy moment of a shared machine over every target.
pub fn measure_rounds<const N: usize>(
    what: &str,
    targets: &[(String, Target)],
    connections: &[u32; N],
    seconds: u32,
    rounds: usize,
) -> Result<Vec<Vec<[Load; N]>>> {
    let mut measured = vec![Vec::new(); targets.len()];
    for round in 1..=rounds {
        measure_round(what, (round, rounds), targets, connections, seconds, &mut measured)?;
    }
    Ok(measured)
}

/// Round `round.0` of `round.1` of [`measure_rounds`]: each target's loads, appended to its list
/// in `measured` (one list per target, in order).
pub fn measure_round<const N: usize>(
    what: &str,
    (round, rounds): (usize, usize),
    targets: &[(String, Target)],
    connections: &[u32; N],
    seconds: u32,
    measured: &mut [Vec<[Load; N]>],
) -> Result<()> {
    for ((label, target), all) in targets.iter().zip(measured) {
        eprintln!("xtask bench: {what}, {label} (round {round} of {rounds})");
        let mut loads = [Load::default(); N];
        for (load, &connections) in loads.iter_mut().zip(connections) {
            *load = target.load(connections, seconds)?;
        }
        all.push(loads);
    }
    Ok(())
}

/// Each figure's median over the rounds, per target and connection count.
pub fn medians<const N: usize>(measured: &[Vec<[Load; N]>]) -> Vec<[Load; N]> {
    measured
        .iter()
        .map(|rounds| {
            std::array::from_fn(|i| {
                let field = |f: fn(&Load) -> f64| super::median(rounds.iter().map(|r| f(&r[i])).collect());
                Load { calls_per_s: field(|l| l.calls_per_s), p50_us: field(|l| l.p50_us), p99_us: field(|l| l.p99_us) }
            })
        })
        .collect()
}

/// Reads requests per second and the 50th and 99th latency percentiles from wrk's report, and
/// refuses a run with failed requests.
fn parse(report: &str) -> Result<Load> {
    let mut load = Load::default();
    for line in report.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            load.calls_per_s = rest.trim().parse()?;
        } else if let Some(rest) = line.strip_prefix("50%") {
            load.p50_us = micros(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            load.p99_us = micros(rest.trim())?;
        } else if line.starts_with("Non-2xx or 3xx responses") || line.starts_with("Socket errors") {
            bail!("failed requests: {line}");
        }
    }
    if load.calls_per_s == 0.0 || load.p99_us == 0.0 {
        bail!("no rate or latency in the report");
    }
    Ok(load)
}

/// `45.00us`, `1.20ms`, `2.00s` in microseconds.
fn micros(value: &str) -> Result<f64> {
    let (number, scale) = if let Some(n) = value.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1e6)
    } else {
        bail!("unknown latency unit in {value:?}")
    };
    Ok(number.parse::<f64>()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let report = "Running 1s test @ http://127.0.0.1:1/mcp\n  Latency Distribution\n     50%   45.00us\n     75%  60.00us\n     90%  1.20ms\n     99%    2.50ms\n  1000 requests in 1.00s, 1MB read\nRequests/sec:   1000.50\n";
        let load = parse(report).expect("a complete report");
        assert_eq!(load.calls_per_s, 1000.5);
        assert_eq!(load.p50_us, 45.0);
        assert_eq!(load.p99_us, 2500.0);
        let failed = format!("{report}  Non-2xx or 3xx responses: 3\n");
        assert!(parse(&failed).expect_err("failed requests").to_string().contains("Non-2xx"));
    }
}
