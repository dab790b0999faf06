//! The shared store of rate limits: GCRA state in Redis, so that every gateway replica draws on
//! one budget per limit, principal and tool.
//!
//! Each check is one `EVALSHA` of a script that reads Redis's own clock (`TIME`), so replicas'
//! clocks do not matter, and updates the theoretical arrival time (TAT) of every budget the call
//! falls under atomically. Keys
//! expire once their TAT has passed, when they would allow a full burst anyway.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The GCRA step of every limit a call falls under, atomically on the server: all of them take
/// the call, or none does. `KEYS[i]`: a budget's key; `ARGV[2i-1]`, `ARGV[2i]`: its emission
/// interval (microseconds per call) and how far ahead of now its TAT may run (burst x interval).
/// Answers `{0, 0}` when the call is allowed, else `{i, microseconds until it would be}` for the
/// first budget that refuses.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nexts = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local next_tat = tat + interval
  local ahead = next_tat - now
  if ahead > capacity then
    return {i, math.max(1, ahead - capacity)}
  end
  nexts[i] = next_tat
end
for i = 1, #KEYS do
  local ahead = nexts[i] - now
  redis.call('SET', KEYS[i], string.format('%.0f', nexts[i]), 'PX', math.ceil(ahead / 1000) + 1)
end
return {0, 0}
";

/// How long the store is left alone after it failed, before a call tries it again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What calls a limit applies to get while the store cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnavailable {
    /// Each replica enforces every limit on its own (up to replicas x the limit in all).
    #[default]
    Local,
    /// Refused, with an error naming the store.
    Refuse,
}

/// `rate_limit_store` in the gateway configuration.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitStoreConfig {
    /// `redis://[user:password@]host:port/db` (`${VAR}` expanded by the gateway).
    pub redis: String,
    /// Prefix of every key (default `mcptk:rl:`), so that several deployments can share a Redis.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// `local` (default) or `refuse`.
    #[serde(default)]
    pub when_unavailable: WhenUnavailable,
    /// Milliseconds a check may wait for Redis before it counts as unavailable (default 100).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_prefix() -> String {
    "mcptk:rl:".to_owned()
}

fn default_timeout_ms() -> u64 {
    100
}

impl RateLimitStoreConfig {
    /// The store at `url`, with the defaults for the rest.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            redis: url.into(),
            prefix: default_prefix(),
            when_unavailable: WhenUnavailable::default(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// Never shows the URL's user or password.
impl std::fmt::Debug for RateLimitStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitStoreConfig")
            .field("redis", &mcp_core::config::display_url(&self.redis))
            .field("prefix", &self.prefix)
            .field("when_unavailable", &self.when_unavailable)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A connection to the shared store, reconnecting on its own.
pub(crate) struct RedisStore {
    connection: ConnectionManager,
    script: redis::Script,
    pub(crate) prefix: String,
    pub(crate) when_unavailable: WhenUnavailable,
    timeout: Duration,
    /// The URL without credentials: what messages name.
    pub(crate) shown: String,
    /// Masks the URL's user and password (as written and decoded) in every message.
    scrubber: mcp_core::config::Scrubber,
    /// Set while the store is failing (logged once per outage).
    down: AtomicBool,
    /// Milliseconds after `epoch` before which calls do not try the store.
    retry_at: AtomicU64,
    /// Why it last failed (credentials masked), for the calls that do not try it meanwhile.
    last_failure: Mutex<String>,
    epoch: Instant,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("redis", &self.shown).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Prepares the store without connecting (the first call connects); needs a Tokio runtime.
    pub(crate) fn new(config: &RateLimitStoreConfig) -> Result<Self> {
        let shown = mcp_core::config::display_url(&config.redis);
        let scrubber = mcp_core::config::Scrubber::new(mcp_core::config::url_credentials(&config.redis));
        let mask = |text: String| scrubber.text(&text);
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config("rate_limit_store: must be opened within a Tokio runtime".into()));
        }
        if config.timeout_ms == 0 {
            return Err(Error::Config("rate_limit_store: timeout_ms must be at least 1".into()));
        }
        let client = redis::Client::open(config.redis.as_str())
            .map_err(|e| Error::Config(mask(format!("rate_limit_store `{shown}`: {e}"))))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(RETRY_AFTER);
        let connection = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| Error::Config(mask(format!("rate_limit_store `{shown}`: {e}"))))?;
        let script = redis::Script::new(GCRA);
        // Connect and load the script now, in the background, so that a new replica's first
        // calls do not pay for it (nor, with a short `timeout_ms`, fall back to local limits).
        let (mut warm, load) = (connection.clone(), script.clone());
        tokio::spawn(async move {
            let loaded =
                tokio::time::timeout(Duration::from_secs(5), load.prepare_invoke().load_async(&mut warm)).await;
            if !matches!(loaded, Ok(Ok(_))) {
                tracing::debug!("the shared rate-limit store is not reachable yet; the first call tries again");
            }
        });
        Ok(Self {
            connection,
            script,
            prefix: config.prefix.clone(),
            when_unavailable: config.when_unavailable,
            timeout,
            shown,
            scrubber,
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            last_failure: Mutex::default(),
            epoch: Instant::now(),
        })
    }

    /// Takes one call from every budget of `budgets` (key, interval, capacity), or from none:
    /// `Ok(None)` allowed, `Ok(Some((i, wait)))` refused by `budgets[i]` for `wait`, `Err(reason)`
    /// the store could not answer (in time), credentials masked.
    pub(crate) async fn take(&self, budgets: &[(String, u64, u64)]) -> Result<Option<(usize, Duration)>, String> {
        let elapsed = || u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        if elapsed() < self.retry_at.load(Ordering::Relaxed) {
            let last = self.last_failure.lock().unwrap_or_else(PoisonError::into_inner);
            return Err(format!("{last}; tried again at most every {} s", RETRY_AFTER.as_secs()));
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        for (key, interval_us, capacity_us) in budgets {
            invocation.key(key).arg(interval_us).arg(capacity_us);
        }
        let answer = tokio::time::timeout(self.timeout, invocation.invoke_async::<(u64, u64)>(&mut connection)).await;
        let failure = match answer {
            Ok(Ok((refused, wait_us))) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(store = %self.shown, "the shared rate-limit store is reachable again: limits are shared across replicas");
                }
                // The script counts from 1; 0 is "allowed".
                let refused = usize::try_from(refused).ok().and_then(|i| i.checked_sub(1));
                return Ok(refused.filter(|&i| i < budgets.len()).map(|i| (i, Duration::from_micros(wait_us.max(1)))));
            }
            Ok(Err(e)) => self.scrubber.text(&e.to_string()),
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        self.retry_at.store(elapsed().saturating_add(millis(RETRY_AFTER)), Ordering::Relaxed);
        failure.clone_into(&mut self.last_failure.lock().unwrap_or_else(PoisonError::into_inner));
        if !self.down.swap(true, Ordering::Relaxed) {
            let fallback = match self.when_unavailable {
                WhenUnavailable::Local => "each replica now enforces every limit on its own",
                WhenUnavailable::Refuse => "calls under a limit are refused",
            };
            tracing::warn!(store = %self.shown, reason = %failure, "the shared rate-limit store is unreachable: {fallback}");
        }
        Err(failure)
    }

    /// The key of a limit's budget for `principal` (and `tool`, `""` when counted together);
    /// `:` and `%` in the names are escaped so that no two budgets share a key.
    pub(crate) fn key(&self, limit: &str, principal: &str, tool: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + limit.len() + principal.len() + tool.len() + 2);
        key.push_str(&self.prefix);
        for (i, part) in [limit, principal, tool].into_iter().enumerate() {
            if i > 0 {
                key.push(':');
            }
            for c in part.chars() {
                match c {
                    ':' => key.push_str("%3A"),
                    '%' => key.push_str("%25"),
                    c => key.push(c),
                }
            }
        }
        key
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_written_and_decoded_and_masked() {
        let found = mcp_core::config::url_credentials("redis://user:s%40cret-pw@127.0.0.1:6379/0");
        assert_eq!(found, ["user", "s@cret-pw"]);
        let scrubber = mcp_core::config::Scrubber::new(found);
        assert_eq!(scrubber.text("auth s@cret-pw failed"), "auth *** failed");
        assert_eq!(scrubber.text("auth s%40cret-pw failed"), "auth *** failed");
        assert!(mcp_core::config::url_credentials("redis://127.0.0.1:6379/0").is_empty());
    }

    #[test]
    fn debug_of_the_config_shows_no_password() {
        let config = RateLimitStoreConfig::new("redis://:hunter2-pw@127.0.0.1:6379/0");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2-pw") && shown.contains("127.0.0.1:6379"), "{shown}");
    }
}
