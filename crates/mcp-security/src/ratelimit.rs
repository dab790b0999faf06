//! Rate limits per principal and per tool (GCRA): in-process, or shared by every gateway replica
//! through Redis (the `redis` feature), falling back to in-process while Redis is away when so
//! configured. A call takes one from every limit that applies, or from none: a call refused by
//! one limit costs the others nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::policy::NamePattern;
use crate::{Error, Result};

#[cfg(feature = "redis")]
mod store;
#[cfg(feature = "redis")]
pub use store::{RateLimitStoreConfig, WhenUnavailable};

/// One limit as configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Named in refusals.
    pub name: String,
    /// Principal globs it applies to (default: all).
    #[serde(default)]
    pub principals: Vec<String>,
    /// Exposed tool name globs it applies to (default: all).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Sustained calls per minute.
    pub per_minute: u32,
    /// Calls allowed at once above the sustained rate (default: a tenth of `per_minute`, at least 1).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Count each tool separately (default) or all of a principal's calls together.
    #[serde(default = "yes")]
    pub per_tool: bool,
}

fn yes() -> bool {
    true
}

struct Compiled {
    limit: RateLimit,
    principals: Vec<NamePattern>,
    tools: Vec<NamePattern>,
    /// The GCRA's emission interval and how far ahead of now its theoretical arrival time (TAT)
    /// may run (burst x interval), in microseconds.
    interval_us: u64,
    capacity_us: u64,
}

impl Compiled {
    fn applies(&self, principal: &str, tool: &str) -> bool {
        NamePattern::any(&self.principals, principal) && NamePattern::any(&self.tools, tool)
    }

    /// The budget's tool: `tool`, or `""` when the limit counts a principal's calls together.
    fn budget_tool<'t>(&self, tool: &'t str) -> &'t str {
        if self.limit.per_tool { tool } else { "" }
    }

    /// The refusal: the limit, the principal, the tool, and when to retry.
    fn refusal(&self, principal: &str, tool: &str, wait: Duration) -> String {
        format!(
            "rate limit `{}` exceeded for `{principal}` on `{tool}` ({} calls per minute); retry in {:.1}s",
            self.limit.name,
            self.limit.per_minute,
            wait.as_secs_f64()
        )
    }

    /// The GCRA step from `tat` (none yet: a full budget) at `now`: the next TAT, or how long
    /// until the call would be allowed.
    fn step(&self, tat: Option<u64>, now: u64) -> Result<u64, Duration> {
        let next = tat.unwrap_or(now).max(now) + self.interval_us;
        let ahead = next - now;
        if ahead > self.capacity_us { Err(Duration::from_micros((ahead - self.capacity_us).max(1))) } else { Ok(next) }
    }
}

/// The in-process budgets: per limit, per principal, per tool, the TAT in microseconds since
/// `epoch`. A TAT in the past is a full budget, the same as none, so such entries are dropped
/// once there are many: what is kept is bounded by the budgets in use, not by all ever seen.
struct Local {
    epoch: Instant,
    state: Mutex<LocalState>,
}

#[derive(Default)]
struct LocalState {
    tats: Vec<HashMap<String, HashMap<String, u64>>>,
    entries: usize,
    prune_at: usize,
}

/// The highest rate a limit may have: budgets keep time in microseconds.
const MAX_PER_MINUTE: u32 = 60_000_000;

/// Entries kept before the first pruning of spent ones.
const PRUNE_FIRST_AT: usize = 4096;

impl Default for Local {
    fn default() -> Self {
        Self { epoch: Instant::now(), state: Mutex::default() }
    }
}

impl Local {
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Takes one call from each of `applying` (limits by index) for `principal` on `tool`, or
    /// from none: the first refusal, with its limit's index and wait.
    fn take(
        &self,
        limits: &[Compiled],
        applying: &[usize],
        principal: &str,
        tool: &str,
    ) -> Result<(), (usize, Duration)> {
        self.take_at(self.now_us(), limits, applying, principal, tool)
    }

    /// [`Self::take`] at `now`, in microseconds since `epoch`.
    fn take_at(
        &self,
        now: u64,
        limits: &[Compiled],
        applying: &[usize],
        principal: &str,
        tool: &str,
    ) -> Result<(), (usize, Duration)> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        if state.tats.len() < limits.len() {
            state.tats.resize_with(limits.len(), HashMap::new);
        }
        let tat = |state: &LocalState, i: usize| {
            state.tats[i].get(principal).and_then(|t| t.get(limits[i].budget_tool(tool))).copied()
        };
        for &i in applying {
            limits[i].step(tat(state, i), now).map_err(|wait| (i, wait))?;
        }
        for &i in applying {
            let budget = limits[i].budget_tool(tool);
            let Ok(next) = limits[i].step(tat(state, i), now) else { continue };
            let by_principal = &mut state.tats[i];
            if !by_principal.contains_key(principal) {
                by_principal.insert(principal.to_owned(), HashMap::new());
            }
            let Some(by_tool) = by_principal.get_mut(principal) else { continue };
            if let Some(slot) = by_tool.get_mut(budget) {
                *slot = next;
            } else {
                by_tool.insert(budget.to_owned(), next);
                state.entries += 1;
            }
        }
        if state.entries > state.prune_at.max(PRUNE_FIRST_AT) {
            state.prune(now);
        }
        Ok(())
    }
}

impl LocalState {
    /// Drops the budgets that are full again.
    fn prune(&mut self, now: u64) {
        let mut entries = 0;
        for by_principal in &mut self.tats {
            by_principal.retain(|_, by_tool| {
                by_tool.retain(|_, tat| *tat > now);
                entries += by_tool.len();
                !by_tool.is_empty()
            });
        }
        self.entries = entries;
        self.prune_at = entries * 2;
    }
}

/// The checked limits.
#[derive(Clone, Default)]
pub struct RateLimits {
    limits: Arc<Vec<Compiled>>,
    local: Arc<Local>,
    /// The shared store, when configured.
    #[cfg(feature = "redis")]
    store: Option<Arc<store::RedisStore>>,
}

/// Why [`RateLimits::check_shared`] refused a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over a limit: names the limit, principal, tool and when to retry.
    Exceeded(String),
    /// A limit applies, the shared store is unreachable and the configuration says to refuse.
    StoreUnreachable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Exceeded(m) | Refusal::StoreUnreachable(m) => f.write_str(m),
        }
    }
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        list.entries(self.limits.iter().map(|c| &c.limit.name));
        #[cfg(feature = "redis")]
        if let Some(store) = &self.store {
            list.entry(&format_args!("shared in {}", store.shown));
        }
        list.finish()
    }
}

/// What to tell about a limit whose rate the microsecond clock keeps more than 1% below what it
/// says: the rate it runs at, and the nearest rates below and above it kept exactly (those that
/// divide [`MAX_PER_MINUTE`], one call every whole number of microseconds).
fn coarse_rate(name: &str, per_minute: u32, interval_us: u64) -> Option<String> {
    let all = u64::from(MAX_PER_MINUTE);
    let kept = all / interval_us;
    if kept * 100 >= u64::from(per_minute) * 99 {
        return None;
    }
    // More than 1% off means an interval under 100 µs: a few steps at most either way.
    let below = (interval_us..=all).find(|k| all % k == 0).map_or(1, |k| all / k);
    let above = (1..interval_us).rev().find(|k| all % k == 0).map_or(all, |k| all / k);
    Some(format!(
        "rate limit `{name}`: per_minute {per_minute} runs at {kept} (one call every {interval_us} µs: budgets keep \
         time in whole microseconds); the nearest rates kept exactly are {below} and {above}"
    ))
}

impl RateLimits {
    /// Compiles the limits; their names must differ (a shared budget is kept under its name).
    pub fn new(limits: Vec<RateLimit>) -> Result<RateLimits> {
        let mut compiled: Vec<Compiled> = Vec::new();
        for limit in limits {
            if limit.per_minute == 0 {
                return Err(Error::Config(format!("rate limit `{}`: per_minute must be at least 1", limit.name)));
            }
            if limit.per_minute > MAX_PER_MINUTE {
                return Err(Error::Config(format!(
                    "rate limit `{}`: per_minute is {}, more than {MAX_PER_MINUTE} (one call a microsecond, the finest a budget keeps time)",
                    limit.name, limit.per_minute
                )));
            }
            if compiled.iter().any(|c| c.limit.name == limit.name) {
                return Err(Error::Config(format!("rate limit `{}` is defined twice", limit.name)));
            }
            let burst = limit.burst.unwrap_or(limit.per_minute / 10).max(1);
            let glob = |p: &String| {
                NamePattern::new(p)
                    .map_err(|e| Error::Config(format!("rate limit `{}`: invalid pattern `{p}`: {e}", limit.name)))
            };
            // Rounded up, so that a budget never allows more than it says (`burst + per_minute x
            // t / 60` in any `t`); below 600,000 a minute that costs under 1% of the rate.
            let interval_us = u64::from(MAX_PER_MINUTE).div_ceil(u64::from(limit.per_minute));
            if let Some(note) = coarse_rate(&limit.name, limit.per_minute, interval_us) {
                tracing::warn!("{note}");
            }
            compiled.push(Compiled {
                interval_us,
                capacity_us: interval_us * u64::from(burst),
                principals: limit.principals.iter().map(glob).collect::<Result<_>>()?,
                tools: limit.tools.iter().map(glob).collect::<Result<_>>()?,
                limit,
            });
        }
        Ok(RateLimits {
            limits: Arc::new(compiled),
            local: Arc::default(),
            #[cfg(feature = "redis")]
            store: None,
        })
    }

    /// The same limits held in the shared store of `config` (connected on first use), so that
    /// every replica configured alike draws on one budget. Needs a Tokio runtime.
    #[cfg(feature = "redis")]
    pub fn with_store(mut self, config: &RateLimitStoreConfig) -> Result<RateLimits> {
        self.store = Some(Arc::new(store::RedisStore::new(config)?));
        Ok(self)
    }

    /// Whether checks go to a shared store ([`check_shared`](Self::check_shared)) rather than
    /// only in-process ([`check`](Self::check)).
    pub fn is_shared(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.store.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    /// Whether any limit applies to `principal` calling `tool`.
    pub fn applies(&self, principal: &str, tool: &str) -> bool {
        self.limits.iter().any(|c| c.applies(principal, tool))
    }

    /// The limits that apply to `principal` calling `tool`, by index.
    fn applying(&self, principal: &str, tool: &str) -> Vec<usize> {
        (0..self.limits.len()).filter(|&i| self.limits[i].applies(principal, tool)).collect()
    }

    /// Takes one call from every limit that applies, or from none, in this process only; `Err`
    /// names the first limit that refused and when to retry.
    pub fn check(&self, principal: &str, tool: &str) -> Result<(), String> {
        let applying = self.applying(principal, tool);
        if applying.is_empty() {
            return Ok(());
        }
        self.local
            .take(&self.limits, &applying, principal, tool)
            .map_err(|(i, wait)| self.limits[i].refusal(principal, tool, wait))
    }

    /// Takes one call from every limit that applies, or from none, in the shared store when one
    /// is configured (one round trip for all of them); while it is unreachable, in-process or
    /// refused as configured.
    pub async fn check_shared(&self, principal: &str, tool: &str) -> Result<(), Refusal> {
        #[cfg(feature = "redis")]
        if let Some(store) = &self.store {
            let applying = self.applying(principal, tool);
            let Some(&first) = applying.first() else { return Ok(()) };
            let budgets: Vec<(String, u64, u64)> = applying
                .iter()
                .map(|&i| {
                    let c = &self.limits[i];
                    (store.key(&c.limit.name, principal, c.budget_tool(tool)), c.interval_us, c.capacity_us)
                })
                .collect();
            return match store.take(&budgets).await {
                Ok(None) => Ok(()),
                Ok(Some((refused, wait))) => {
                    let c = &self.limits[applying[refused]];
                    Err(Refusal::Exceeded(c.refusal(principal, tool, wait)))
                }
                Err(reason) => match store.when_unavailable {
                    store::WhenUnavailable::Local => self.check(principal, tool).map_err(Refusal::Exceeded),
                    store::WhenUnavailable::Refuse => Err(Refusal::StoreUnreachable(format!(
                        "rate limit `{}` applies to `{principal}` on `{tool}`, but the shared rate-limit store {} is unreachable ({reason}); the call is refused, retry later",
                        self.limits[first].limit.name, store.shown
                    ))),
                },
            };
        }
        self.check(principal, tool).map_err(Refusal::Exceeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(config: serde_json::Value) -> RateLimits {
        RateLimits::new(vec![serde_json::from_value(config).expect("limit")]).expect("compiles")
    }

    #[test]
    fn each_principal_and_tool_has_its_own_budget_unless_counted_together() {
        let per_tool = limits(serde_json::json!({"name": "slow", "per_minute": 1, "burst": 2, "tools": ["fs__*"]}));
        for _ in 0..2 {
            assert!(per_tool.check("alice", "fs__read").is_ok());
        }
        let refusal = per_tool.check("alice", "fs__read").expect_err("over the burst");
        assert!(
            refusal.starts_with("rate limit `slow` exceeded for `alice` on `fs__read` (1 calls per minute); retry in"),
            "{refusal}"
        );
        assert!(per_tool.check("alice", "fs__write").is_ok(), "another tool");
        assert!(per_tool.check("bob", "fs__read").is_ok(), "another principal");
        assert!(per_tool.check("alice", "sh__run").is_ok(), "a tool the limit does not name");

        let together = limits(serde_json::json!({"name": "all", "per_minute": 1, "burst": 2, "per_tool": false}));
        assert!(together.check("alice", "a").is_ok());
        assert!(together.check("alice", "b").is_ok());
        assert!(together.check("alice", "c").is_err(), "every tool draws on one budget");
        assert!(together.check("bob", "a").is_ok());
    }

    fn several(config: serde_json::Value) -> RateLimits {
        RateLimits::new(serde_json::from_value(config).expect("limits")).expect("compiles")
    }

    #[test]
    fn a_call_one_limit_refuses_costs_the_others_nothing() {
        // `tight` refuses the third call in a row; `roomy` (a budget of 3) must still have its
        // third call left after the refusals.
        let limits = several(serde_json::json!([
            {"name": "roomy", "per_minute": 1, "burst": 3, "per_tool": false},
            {"name": "tight", "per_minute": 1, "burst": 2, "tools": ["slow"]},
        ]));
        assert!(limits.check("alice", "slow").is_ok());
        assert!(limits.check("alice", "slow").is_ok());
        for _ in 0..5 {
            let refusal = limits.check("alice", "slow").expect_err("over `tight`");
            assert!(refusal.starts_with("rate limit `tight` exceeded"), "{refusal}");
        }
        assert!(limits.check("alice", "fast").is_ok(), "`roomy` lost nothing to the refused calls");
        let refusal = limits.check("alice", "fast").expect_err("`roomy` is spent now");
        assert!(refusal.starts_with("rate limit `roomy` exceeded"), "{refusal}");
    }

    #[test]
    fn a_budget_refills_at_its_rate() {
        // One call a second, two at once; the clock is given, not read.
        let limits = several(serde_json::json!([{"name": "slow", "per_minute": 60, "burst": 2}]));
        let take = |now: u64| limits.local.take_at(now, &limits.limits, &[0], "alice", "t");
        assert!(take(0).is_ok());
        assert!(take(0).is_ok());
        assert_eq!(take(0), Err((0, Duration::from_secs(1))), "the burst is spent: one more in a second");
        assert_eq!(take(400_000), Err((0, Duration::from_millis(600))));
        assert!(take(1_000_000).is_ok(), "a second later there is one again");
        assert!(take(1_000_000).is_err(), "and only one");
        assert!(take(10_000_000).is_ok());
        assert!(take(10_000_000).is_ok(), "idle long enough, the whole burst is back");
        assert!(take(10_000_000).is_err());
    }

    #[test]
    fn full_budgets_are_forgotten_so_memory_stays_bounded() {
        // One call a second: a principal's budget is full again a second after its call.
        let limits = several(serde_json::json!([{"name": "slow", "per_minute": 60, "burst": 1}]));
        for i in 0..50_000u64 {
            let principal = format!("principal-{i}");
            let now = i * 2_000_000;
            limits.local.take_at(now, &limits.limits, &[0], &principal, "t").expect("a budget of its own");
        }
        let state = limits.local.state.lock().expect("not poisoned");
        assert!(state.entries <= 2 * PRUNE_FIRST_AT, "{} budgets kept", state.entries);
    }

    #[test]
    fn a_budget_never_allows_more_than_its_rate_and_a_rate_finer_than_its_clock_is_refused() {
        // 7,000,000 a minute is one call every 8.57 µs: what 6 s allow stays within 700,000 and
        // the burst of 100 (it took 7.5% more when the interval was rounded down to 8 µs).
        // (Calls come every 4 µs: the burst keeps them from falling on the clock's ticks only.)
        let limits = several(serde_json::json!([{"name": "fast", "per_minute": 7_000_000, "burst": 100}]));
        let allowed = (0..6_000_000u64)
            .step_by(4)
            .filter(|&now| limits.local.take_at(now, &limits.limits, &[0], "alice", "t").is_ok())
            .count();
        assert!((630_000..=700_100).contains(&allowed), "{allowed} calls in 6 s");

        let finer = serde_json::json!([{"name": "finer", "per_minute": 60_000_001u32}]);
        let err = RateLimits::new(serde_json::from_value(finer).expect("limits")).expect_err("too fine");
        assert!(err.to_string().contains("rate limit `finer`: per_minute is 60000001, more than 60000000"), "{err}");
    }

    #[test]
    fn a_rate_the_clock_keeps_more_than_one_percent_lower_is_named_with_what_it_runs_at() {
        let note = |per_minute: u32| {
            let interval = u64::from(MAX_PER_MINUTE).div_ceil(u64::from(per_minute));
            coarse_rate("fast", per_minute, interval)
        };
        // Exact, or under 1% off: nothing to say.
        for per_minute in [60, 599_999, 600_000, 900_000, 3_000_000, 60_000_000] {
            assert_eq!(note(per_minute), None, "{per_minute}");
        }
        // 59,999,999 a minute is one call every 2 µs: half of what it says.
        let half = note(59_999_999).expect("half the rate");
        assert!(
            half.contains("rate limit `fast`: per_minute 59999999 runs at 30000000 (one call every 2 µs")
                && half.ends_with("the nearest rates kept exactly are 30000000 and 60000000"),
            "{half}"
        );
        // One call every 21 µs; 2,857,142 itself would run at one every 22 µs: only the divisors
        // of 60,000,000 are kept exactly.
        let off = note(2_900_000).expect("1.5% off");
        assert!(off.contains("runs at 2857142") && off.ends_with("are 2500000 and 3000000"), "{off}");
        for suggested in [2_500_000, 3_000_000, 30_000_000, 60_000_000] {
            assert_eq!(note(suggested), None, "{suggested} is kept exactly");
            assert_eq!(60_000_000 % suggested, 0);
        }
    }

    #[test]
    fn limits_with_one_name_are_refused() {
        let twice = serde_json::json!([{"name": "a", "per_minute": 1}, {"name": "a", "per_minute": 2}]);
        let err = RateLimits::new(serde_json::from_value(twice).expect("limits")).expect_err("one name twice");
        assert!(err.to_string().contains("rate limit `a` is defined twice"), "{err}");
    }
}
