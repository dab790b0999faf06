//! Named, timed steps: the phases of `ci`, the steps of `release`, the feature sets of `features`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Runs steps one after another, naming each as it starts, saying how long it took when it ends,
/// and naming the step that failed.
#[derive(Debug)]
pub(crate) struct Steps {
    /// What the steps are part of (`ci`, `release`): the prefix of every line.
    task: &'static str,
    timings: Vec<(String, Duration)>,
}

impl Steps {
    pub(crate) fn new(task: &'static str) -> Self {
        Self { task, timings: Vec::new() }
    }

    pub(crate) fn run<T>(&mut self, name: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        let task = self.task;
        eprintln!("xtask {task}: {name}");
        let started = Instant::now();
        let result = step().with_context(|| format!("{task} stopped at the step \"{name}\""));
        let took = started.elapsed();
        let outcome = if result.is_ok() { "done" } else { "FAILED" };
        eprintln!("xtask {task}: {name}: {outcome} in {:.1}s", took.as_secs_f64());
        self.timings.push((name.to_owned(), took));
        result
    }

    /// Each step that ran (the failed one last) with its time, and the total.
    pub(crate) fn report(&self) -> String {
        let total: Duration = self.timings.iter().map(|(_, d)| *d).sum();
        let mut text = String::new();
        for (name, duration) in &self.timings {
            let _ = writeln!(text, "  {:>7.1}s  {name}", duration.as_secs_f64());
        }
        let _ = writeln!(text, "  {:>7.1}s  total", total.as_secs_f64());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_every_step_that_ran_and_the_total() {
        let mut steps = Steps::new("test");
        assert_eq!(steps.run("first", || Ok(1)).ok(), Some(1));
        let failed = steps.run("second", || -> Result<()> { anyhow::bail!("broken") });
        let message = format!("{:#}", failed.expect_err("the step failed"));
        assert_eq!(message, "test stopped at the step \"second\": broken");
        assert!(steps.run("third", || Ok(())).is_ok());
        let report = steps.report();
        let names: Vec<&str> = report.lines().filter_map(|l| l.split("s  ").nth(1)).collect();
        assert_eq!(names, ["first", "second", "third", "total"]);
    }
}
