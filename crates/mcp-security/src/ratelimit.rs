//! Rate limits per principal and per tool (GCRA, via `governor`).

use std::num::NonZeroU32;
use std::sync::Arc;

use globset::{Glob, GlobMatcher};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};

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
    principals: Vec<GlobMatcher>,
    tools: Vec<GlobMatcher>,
    limiter: DefaultKeyedRateLimiter<(String, String)>,
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
                Glob::new(p)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| Error::Config(format!("rate limit `{}`: invalid pattern `{p}`: {e}", limit.name)))
            };
            compiled.push(Compiled {
                principals: limit.principals.iter().map(glob).collect::<Result<_>>()?,
                tools: limit.tools.iter().map(glob).collect::<Result<_>>()?,
                limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
                limit,
            });
        }
        Ok(RateLimits { limits: Arc::new(compiled) })
    }

    /// Takes one call from every limit that applies; `Err` names the limit and when to retry.
    pub fn check(&self, principal: &str, tool: &str) -> Result<(), String> {
        for c in self.limits.iter() {
            let applies = |set: &[GlobMatcher], v: &str| set.is_empty() || set.iter().any(|g| g.is_match(v));
            if !applies(&c.principals, principal) || !applies(&c.tools, tool) {
                continue;
            }
            let key = (principal.to_owned(), if c.limit.per_tool { tool.to_owned() } else { String::new() });
            if let Err(not_until) = c.limiter.check_key(&key) {
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
