//! Rate limits per principal and per tool (GCRA, via `governor`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError, RwLock};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::policy::NamePattern;
use crate::{Error, Result};

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
    quota: Quota,
    /// A limiter per principal, then per tool (`""` when the limit counts a principal's calls
    /// together): looked up by the names as borrowed, so a call copies no key.
    limiters: RwLock<HashMap<String, HashMap<String, DefaultDirectRateLimiter>>>,
}

impl Compiled {
    /// Takes one call from the limiter of `principal` and `tool`, made on first use.
    fn take(&self, principal: &str, tool: &str) -> Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>> {
        let tool = if self.limit.per_tool { tool } else { "" };
        if let Some(limiter) =
            self.limiters.read().unwrap_or_else(PoisonError::into_inner).get(principal).and_then(|t| t.get(tool))
        {
            return limiter.check();
        }
        let mut limiters = self.limiters.write().unwrap_or_else(PoisonError::into_inner);
        let by_tool = limiters.entry(principal.to_owned()).or_default();
        by_tool.entry(tool.to_owned()).or_insert_with(|| RateLimiter::direct(self.quota)).check()
    }
}

/// The checked limits.
#[derive(Clone, Default)]
pub struct RateLimits {
    limits: Arc<Vec<Compiled>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.limits.iter().map(|c| &c.limit.name)).finish()
    }
}

impl RateLimits {
    /// Compiles the limits.
    pub fn new(limits: Vec<RateLimit>) -> Result<RateLimits> {
        let mut compiled = Vec::new();
        for limit in limits {
            let per_minute = NonZeroU32::new(limit.per_minute)
                .ok_or_else(|| Error::Config(format!("rate limit `{}`: per_minute must be at least 1", limit.name)))?;
            let burst = limit.burst.unwrap_or(limit.per_minute / 10).max(1);
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            let glob = |p: &String| {
                NamePattern::new(p)
                    .map_err(|e| Error::Config(format!("rate limit `{}`: invalid pattern `{p}`: {e}", limit.name)))
            };
            compiled.push(Compiled {
                principals: limit.principals.iter().map(glob).collect::<Result<_>>()?,
                tools: limit.tools.iter().map(glob).collect::<Result<_>>()?,
                quota: Quota::per_minute(per_minute).allow_burst(burst),
                limiters: RwLock::default(),
                limit,
            });
        }
        Ok(RateLimits { limits: Arc::new(compiled) })
    }

    /// Takes one call from every limit that applies; `Err` names the limit and when to retry.
    pub fn check(&self, principal: &str, tool: &str) -> Result<(), String> {
        for c in self.limits.iter() {
            if !NamePattern::any(&c.principals, principal) || !NamePattern::any(&c.tools, tool) {
                continue;
            }
            if let Err(not_until) = c.take(principal, tool) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(format!(
                    "rate limit `{}` exceeded for `{principal}` on `{tool}` ({} calls per minute); retry in {:.1}s",
                    c.limit.name,
                    c.limit.per_minute,
                    wait.as_secs_f64()
                ));
            }
        }
        Ok(())
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
}
