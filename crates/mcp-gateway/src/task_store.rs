//! Tasks shared by every replica through Redis (`task_store` in the configuration): the
//! [`mcp_core::tasks::TaskStore`] that lets any replica answer `tasks/get`, `tasks/update` and
//! `tasks/cancel` for a task another one runs.
//!
//! A task is one string key (its record, expiring with the task) and one list (the signals other
//! replicas leave for the replica running it). Every operation waits at most `timeout_ms`.

use std::time::Duration;

use async_trait::async_trait;
use mcp_core::config::Scrubber;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Deserialize;

/// `task_store` in the gateway configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskStoreConfig {
    /// `redis://[user:password@]host:port/db` (`${VAR}` expanded).
    pub redis: String,
    /// Prefix of every key (default `mcptk:task:`), so that several deployments can share a Redis.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Milliseconds an operation may wait for Redis (default 1000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Milliseconds between saves of a running task when nothing changes (default 5000). A task
    /// not saved for three of these is reported failed: its replica stopped.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
}

fn default_prefix() -> String {
    "mcptk:task:".to_owned()
}

fn default_timeout_ms() -> u64 {
    1000
}

fn default_heartbeat_ms() -> u64 {
    5000
}

/// Never shows the URL's user or password.
impl std::fmt::Debug for TaskStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskStoreConfig")
            .field("redis", &mcp_core::config::display_url(&self.redis))
            .field("prefix", &self.prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .finish()
    }
}

/// The task store on Redis, reconnecting on its own.
pub struct RedisTaskStore {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    heartbeat: Duration,
    /// The URL as messages show it.
    shown: String,
    scrubber: Scrubber,
}

impl std::fmt::Debug for RedisTaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTaskStore")
            .field("redis", &self.shown)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisTaskStore {
    /// Prepares the store (`config.redis` already expanded) without waiting for Redis: the first
    /// operation connects. Needs a Tokio runtime.
    pub fn open(config: &TaskStoreConfig) -> anyhow::Result<Self> {
        let shown = mcp_core::config::display_url(&config.redis);
        let scrubber = Scrubber::new(mcp_core::config::url_credentials(&config.redis));
        if config.timeout_ms == 0 || config.heartbeat_ms < 100 {
            anyhow::bail!("task_store: timeout_ms must be at least 1 and heartbeat_ms at least 100");
        }
        let client = redis::Client::open(config.redis.as_str())
            .map_err(|e| anyhow::anyhow!(scrubber.text(&format!("task_store `{shown}`: {e}"))))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| anyhow::anyhow!(scrubber.text(&format!("task_store `{shown}`: {e}"))))?;
        Ok(Self {
            connection,
            prefix: config.prefix.clone(),
            timeout,
            heartbeat: Duration::from_millis(config.heartbeat_ms),
            shown,
            scrubber,
        })
    }

    fn record_key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    fn signals_key(&self, id: &str) -> String {
        format!("{}{id}:signals", self.prefix)
    }

    /// Runs one operation within the timeout; failures name the store (credentials masked).
    async fn run<T>(&self, op: impl Future<Output = redis::RedisResult<T>>) -> std::io::Result<T> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(std::io::Error::other(self.scrubber.text(&format!("Redis at {}: {e}", self.shown)))),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("Redis at {} did not answer within {} ms", self.shown, self.timeout.as_millis()),
            )),
        }
    }
}

#[async_trait]
impl mcp_core::tasks::TaskStore for RedisTaskStore {
    async fn save(&self, id: &str, record: String, ttl: Duration) -> std::io::Result<()> {
        let mut c = self.connection.clone();
        let ttl = ttl.as_millis().clamp(1, u128::from(u32::MAX)) as u64;
        let key = self.record_key(id);
        self.run(
            async move { redis::cmd("SET").arg(key).arg(record).arg("PX").arg(ttl).query_async::<()>(&mut c).await },
        )
        .await
    }

    async fn load(&self, id: &str) -> std::io::Result<Option<String>> {
        let mut c = self.connection.clone();
        let key = self.record_key(id);
        self.run(async move { c.get::<_, Option<String>>(key).await }).await
    }

    async fn signal(&self, id: &str, signal: String, ttl: Duration) -> std::io::Result<()> {
        let mut c = self.connection.clone();
        let key = self.signals_key(id);
        let ttl = ttl.as_millis().clamp(1, u128::from(u32::MAX)) as u64;
        self.run(async move {
            redis::pipe()
                .atomic()
                .rpush(&key, signal)
                .ignore()
                .pexpire(&key, ttl as i64)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn take_signals(&self, ids: &[&str]) -> std::io::Result<Vec<Vec<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.connection.clone();
        // Read and removed in one transaction: a signal is applied once, by one replica.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in ids {
            let key = self.signals_key(id);
            pipe.lrange(&key, 0, -1).del(&key).ignore();
        }
        self.run(async move { pipe.query_async(&mut c).await }).await
    }

    fn heartbeat(&self) -> Duration {
        self.heartbeat
    }
}
