//! Rate limits per principal and per tool (GCRA): in-process via `governor`, or shared by every
//! gateway replica through Redis (the `redis` feature), falling back to in-process while Redis is
//! away when so configured.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError, RwLock};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
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
    quota: Quota,
    /// The shared GCRA's emission interval and how far ahead its TAT may run (burst x interval),
    /// in microseconds.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    interval_us: u64,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    capacity_us: u64,
    /// A limiter per principal, then per tool (`""` when the limit counts a principal's calls
    /// together): looked up by the names as borrowed, so a call copies no key.
    limiters: RwLock<HashMap<String, HashMap<String, DefaultDirectRateLimiter>>>,
}

impl Compiled {
    fn applies(&self, principal: &str, tool: &str) -> bool {
        NamePattern::any(&self.principals, principal) && NamePattern::any(&self.tools, tool)
    }

    /// The refusal: the limit, the principal, the tool, and when to retry.
    fn refusal(&self, principal: &str, tool: &str, wait: std::time::Duration) -> String {
        format!(
            "rate limit `{}` exceeded for `{principal}` on `{tool}` ({} calls per minute); retry in {:.1}s",
            self.limit.name,
            self.limit.per_minute,
            wait.as_secs_f64()
        )
    }

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
            let interval_us = (60_000_000 / u64::from(per_minute.get())).max(1);
            compiled.push(Compiled {
                interval_us,
                capacity_us: interval_us * u64::from(burst.get()),
                principals: limit.principals.iter().map(glob).collect::<Result<_>>()?,
                tools: limit.tools.iter().map(glob).collect::<Result<_>>()?,
                quota: Quota::per_minute(per_minute).allow_burst(burst),
                limiters: RwLock::default(),
                limit,
            });
        }
        Ok(RateLimits {
            limits: Arc::new(compiled),
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

    /// Takes one call from every limit that applies, in this process only; `Err` names the limit
    /// and when to retry.
    pub fn check(&self, principal: &str, tool: &str) -> Result<(), String> {
        for c in self.limits.iter() {
            if !c.applies(principal, tool) {
                continue;
            }
            if let Err(not_until) = c.take(principal, tool) {
                return Err(c.refusal(principal, tool, not_until.wait_time_from(DefaultClock::default().now())));
            }
        }
        Ok(())
    }

    /// Takes one call from every limit that applies, in the shared store when one is configured
    /// (one round trip per limit); while it is unreachable, in-process or refused as configured.
    pub async fn check_shared(&self, principal: &str, tool: &str) -> Result<(), Refusal> {
        #[cfg(feature = "redis")]
        if let Some(store) = &self.store {
            for c in self.limits.iter() {
                if !c.applies(principal, tool) {
                    continue;
                }
                let budget_tool = if c.limit.per_tool { tool } else { "" };
                let key = store.key(&c.limit.name, principal, budget_tool);
                match store.take(&key, c.interval_us, c.capacity_us).await {
                    Ok(None) => {}
                    Ok(Some(wait)) => return Err(Refusal::Exceeded(c.refusal(principal, tool, wait))),
                    Err(reason) => match store.when_unavailable {
                        store::WhenUnavailable::Local => {
                            if let Err(not_until) = c.take(principal, tool) {
                                let wait = not_until.wait_time_from(DefaultClock::default().now());
                                return Err(Refusal::Exceeded(c.refusal(principal, tool, wait)));
                            }
                        }
                        store::WhenUnavailable::Refuse => {
                            return Err(Refusal::StoreUnreachable(format!(
                                "rate limit `{}` applies to `{principal}` on `{tool}`, but the shared rate-limit store {} is unreachable ({reason}); the call is refused, retry later",
                                c.limit.name, store.shown
                            )));
                        }
                    },
                }
            }
            return Ok(());
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
}
