//! The gateway configuration file: one JSON document, every setting optional with a safe default.
//! See `docs/gateway.md` for an annotated example.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use mcp_core::McpConfig;
use mcp_core::config::ServerEntry;
use mcp_security::{PinsConfig, PolicyConfig, RateLimit, RateLimitStoreConfig, RedactionConfig};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct GatewayConfig {
    /// A `mcp_config.json` (the Claude Desktop / Cursor format) to read servers from.
    #[serde(default)]
    pub servers_file: Option<PathBuf>,
    /// Servers given inline, in the same format.
    #[serde(default, rename = "mcpServers")]
    pub mcp_servers: BTreeMap<String, ServerEntry>,
    /// Native servers served by the gateway itself.
    #[serde(default)]
    pub native: NativeConfig,
    /// The principal of stdio callers (default `stdio`).
    #[serde(default)]
    pub principal: Option<String>,
    /// Access policy (absent: everything allowed).
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// The operator's word on tools' behaviour hints, by exposed name (`server__tool`): the
    /// hints given replace what the server declares, for listing and for policy rules alike.
    /// A server's own annotations are its claims; rules on annotations trust them otherwise.
    #[serde(default)]
    pub annotations: BTreeMap<String, mcp_core::protocol::ToolAnnotations>,
    /// Rate limits (absent: none).
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    /// Hold `rate_limits` in Redis, shared by every replica (absent: each process on its own).
    /// The URL is `${VAR}` expanded, so a password stays out of the file.
    #[serde(default)]
    pub rate_limit_store: Option<RateLimitStoreConfig>,
    /// Keep tasks in Redis, so that any replica answers for a task another one runs (absent:
    /// each process answers for its own). The URL is `${VAR}` expanded.
    #[serde(default)]
    pub task_store: Option<crate::task_store::TaskStoreConfig>,
    /// Tool-definition pinning (absent: off).
    #[serde(default)]
    pub pinning: Option<PinsConfig>,
    /// Secret redaction (always on; this adds variables).
    #[serde(default)]
    pub redaction: RedactionConfig,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Retries of read-only and idempotent tools.
    #[serde(default)]
    pub retries: RetryConfig,
    /// Calls in flight at once to each server (default 64): a hung server holds up only its own.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Restarting servers that exit.
    #[serde(default)]
    pub restart: RestartConfig,
    /// What `/readyz` waits for.
    #[serde(default)]
    pub readiness: ReadinessConfig,
    /// What of the servers is relayed besides their tools.
    #[serde(default)]
    pub relay: RelayConfig,
    /// `mcptk agent`: the model and the rules of a run over the gateway's tools.
    #[serde(default)]
    pub agent: AgentConfig,
}

/// The agent run by `mcptk agent`. Command-line options take precedence.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The model (default `OPENAI_MODEL`).
    #[serde(default)]
    pub model: Option<String>,
    /// The OpenAI-compatible endpoint, up to `/v1` (default `OPENAI_BASE_URL`, else OpenAI's).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Usually `${OPENAI_API_KEY}` (the default); expanded, and masked like every secret.
    #[serde(default)]
    pub api_key: Option<String>,
    /// `chat` (Chat Completions, the default) or `responses`.
    #[serde(default)]
    pub api: Option<mcp_openai::Api>,
    /// Stream the model's answers (default true).
    #[serde(default)]
    pub stream: Option<bool>,
    /// System instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Model turns a run may take (default 10).
    #[serde(default)]
    pub max_turns: Option<usize>,
    /// Which calls wait for the operator's approval: `never` (default), `always`, or a list of
    /// tool names.
    #[serde(default)]
    pub approvals: Option<ApprovalsConfig>,
    /// Offer only these tools (exposed names).
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Never offer these tools (exposed names).
    #[serde(default)]
    pub block: Vec<String>,
    /// Seconds one tool call may take (default 60).
    #[serde(default)]
    pub tool_timeout_secs: Option<u64>,
    /// Also show the model tools' `structuredContent` as JSON (default: only when there is no text).
    #[serde(default)]
    pub structured: bool,
    /// Send `parallel_tool_calls` with this value (default: leave it to the endpoint).
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
}

/// Which calls need approval.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ApprovalsConfig {
    /// `never` or `always`.
    Mode(ApprovalMode),
    /// These tools.
    Tools(Vec<String>),
}

/// `never` or `always`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// No call waits.
    Never,
    /// Every call waits.
    Always,
}

/// Native servers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeConfig {
    /// The filesystem server, as `fs`.
    #[serde(default)]
    pub fs: Option<NativeFs>,
    /// The shell server, as `shell`.
    #[serde(default)]
    pub shell: Option<NativeShell>,
    /// The built-in protocol demo tools (`echo`, `add`, `slow`), as `builtin`.
    #[serde(default)]
    pub builtin: bool,
    /// Named read-only database connections, each served under its name.
    #[serde(default)]
    pub sql: BTreeMap<String, NativeSql>,
    /// Perplexity's tools over its API, as `perplexity`.
    #[serde(default)]
    pub perplexity: Option<NativePerplexity>,
    /// GitHub's tools over its API (a drop-in for `github-mcp-server`), as `github`.
    #[serde(default)]
    pub github: Option<NativeGitHub>,
    /// Docker's tools over the Docker Engine API (or Podman's), with safety rules, as `docker`.
    #[serde(default)]
    pub docker: Option<NativeDocker>,
    /// Kubernetes tools over a kubeconfig's clusters (a drop-in for `kubernetes-mcp-server`), as `k8s`.
    #[serde(default)]
    pub k8s: Option<NativeK8s>,
}

/// The native Kubernetes server: the default tools of `kubernetes-mcp-server` over the API of
/// the kubeconfig's clusters, its safety flags enforced at call time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeK8s {
    /// The kubeconfig (relative to this file; default `KUBECONFIG`, else `~/.kube/config`).
    /// Its credentials are never shown.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The context used by default (default: the kubeconfig's current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Only the read-only tools.
    #[serde(default)]
    pub read_only: bool,
    /// No destructive tools (deletes, apply, scale).
    #[serde(default)]
    pub disable_destructive: bool,
    /// Kinds no tool may touch: `Kind`, `group/Kind` or `group/version/Kind`.
    #[serde(default)]
    pub denied_resources: Vec<String>,
    /// Show Secrets' data (default false: redacted).
    #[serde(default)]
    pub allow_secret_data: bool,
    /// How lists print: `table` (the default) or `yaml`.
    #[serde(default)]
    pub list_output: Option<String>,
}

/// The native Docker server: the tools of `mcp-server-docker` and `docker-mcp` on the engine's
/// API. No privileged containers, added capabilities, host network or PID namespace, ever;
/// what else is allowed, and the default limits, are set here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeDocker {
    /// The engine (`unix:///run/podman/podman.sock`, `tcp://127.0.0.1:2375`), `${VAR}` expanded;
    /// default `DOCKER_HOST`, then `/var/run/docker.sock`, then Podman's sockets.
    #[serde(default)]
    pub host: Option<String>,
    /// Host folders under which bind mounts and build contexts are allowed (relative to this
    /// file; default none).
    #[serde(default)]
    pub allowed_host_paths: Vec<PathBuf>,
    /// When set, the only images that may run, be pulled or pushed (`repo`, `repo:tag`, or a
    /// prefix ending in `*`); building is then refused.
    #[serde(default)]
    pub allowed_images: Option<Vec<String>>,
    /// Memory limit of a container whose caller sets none, in MiB (default 512), and the most a
    /// caller may set (0: no ceiling).
    #[serde(default)]
    pub memory_mib: Option<i64>,
    /// CPU limit of a container whose caller sets none, in CPUs (default 1), and the most a
    /// caller may set (0: no ceiling).
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Process limit of a container whose caller sets none (default 256), and the most a caller
    /// may set (0: no ceiling).
    #[serde(default)]
    pub pids_limit: Option<i64>,
    /// No networking: containers get network mode `none`, networks cannot be created.
    #[serde(default)]
    pub block_network: bool,
}

/// The native Perplexity server: the tools of `@perplexity-ai/mcp-server`, calling the API itself.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativePerplexity {
    /// The API key, `${VAR}` expanded (default `${PERPLEXITY_API_KEY}`); masked like every secret.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The API's base URL (default `PERPLEXITY_BASE_URL`, else `https://api.perplexity.ai`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Seconds one call may take, a streamed answer included (default 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Shows where the key comes from only when it is a `${VAR}` reference, never a written-out key.
impl std::fmt::Debug for NativePerplexity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.api_key.as_deref().map(|k| if k.starts_with("${") && k.ends_with('}') { k } else { "***" });
        f.debug_struct("NativePerplexity")
            .field("api_key", &key)
            .field("base_url", &self.base_url.as_deref().map(mcp_core::config::display_url))
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// The native GitHub server: the tools of `github-mcp-server` over GitHub's API, its switches
/// enforced at call time.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeGitHub {
    /// The token, `${VAR}` expanded (default `${GITHUB_PERSONAL_ACCESS_TOKEN}`); masked like every secret.
    #[serde(default)]
    pub token: Option<String>,
    /// The host: `github.com` (default `GITHUB_HOST`, else github.com), a GitHub Enterprise URL.
    #[serde(default)]
    pub host: Option<String>,
    /// The toolsets served (default `GITHUB_TOOLSETS`, else the default toolsets).
    #[serde(default)]
    pub toolsets: Vec<String>,
    /// Single tools served besides the toolsets.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Tools never served, whatever else says so.
    #[serde(default)]
    pub exclude_tools: Vec<String>,
    /// Only the read-only tools.
    #[serde(default)]
    pub read_only: bool,
    /// In public repositories, show people's text only from authors with push access.
    #[serde(default)]
    pub lockdown_mode: bool,
    /// Feature flags turned on (the reference serves some tools only under one).
    #[serde(default)]
    pub features: Vec<String>,
    /// Every flag the reference counts as an insiders feature.
    #[serde(default)]
    pub insiders: bool,
}

/// Shows where the token comes from only when it is a `${VAR}` reference, never a written-out token.
impl std::fmt::Debug for NativeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = self.token.as_deref().map(|k| if k.starts_with("${") && k.ends_with('}') { k } else { "***" });
        f.debug_struct("NativeGitHub")
            .field("token", &token)
            .field("host", &self.host.as_deref().map(mcp_core::config::display_url))
            .field("toolsets", &self.toolsets)
            .field("tools", &self.tools)
            .field("exclude_tools", &self.exclude_tools)
            .field("read_only", &self.read_only)
            .field("lockdown_mode", &self.lockdown_mode)
            .field("features", &self.features)
            .field("insiders", &self.insiders)
            .finish()
    }
}

/// One read-only database connection of the native SQL server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSql {
    /// `sqlite:path.db` (relative to this file), `sqlite::memory:`, `postgres://...`; `${VAR}` expanded.
    pub url: String,
    /// Rows returned at most (default 1000).
    #[serde(default)]
    pub max_rows: Option<usize>,
    /// Bytes of rows returned at most (default 1 MiB).
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// Seconds a statement may run (default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Also serve `write_query` (default false: read-only).
    #[serde(default)]
    pub write: bool,
    /// Serve `generate_query` through an OpenAI-compatible chat endpoint.
    #[serde(default)]
    pub generate: Option<NativeSqlGenerate>,
}

/// What writes the SQL behind `generate_query`: a chat model (`model`, `base_url`, `api_key`), or
/// a SQL-generation MCP server of `mcpServers` (`server`, and its `tool`, default `create_query`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSqlGenerate {
    #[serde(default)]
    pub model: Option<String>,
    /// A server of `mcpServers` whose tool writes the SQL from `{description, schema}`.
    #[serde(default)]
    pub server: Option<String>,
    /// That server's tool (default `create_query`).
    #[serde(default)]
    pub tool: Option<String>,
    /// Default `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Usually `${OPENAI_API_KEY}`; expanded, and masked like every referenced secret.
    #[serde(default)]
    pub api_key: Option<String>,
}

/// The native filesystem server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeFs {
    /// Allowed directories.
    pub roots: Vec<PathBuf>,
    /// Let each client's roots narrow `roots` to where both agree (default false: a client's
    /// roots are ignored). They never widen what is configured.
    #[serde(default)]
    pub client_roots: bool,
}

/// The native shell server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeShell {
    /// Allowed commands.
    pub allow: Vec<String>,
    /// Allowed interpreters.
    #[serde(default)]
    pub allow_interpreters: Vec<String>,
    /// Allowed working directories.
    pub roots: Vec<PathBuf>,
}

impl NativeShell {
    /// The shell server's settings: these, and the defaults for the rest.
    pub fn shell_config(&self) -> mcp_shell::native::ShellConfig {
        mcp_shell::native::ShellConfig {
            allow: self.allow.clone(),
            allow_interpreters: self.allow_interpreters.clone(),
            roots: self.roots.clone(),
            ..Default::default()
        }
    }
}

/// The audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The JSON Lines file (default `.mcptk/audit.jsonl`).
    #[serde(default = "default_audit_path")]
    pub path: PathBuf,
    /// `fsync` each batch before answering (default true).
    #[serde(default = "yes")]
    pub fsync: bool,
    /// Also mirror records into this database (`sqlite://file?mode=rwc` or `postgres://...`;
    /// `${VAR}` expands from the environment, so a password stays out of the file).
    #[serde(default)]
    pub sql: Option<String>,
    /// Bytes after which the live file is sealed as a segment (default 64 MiB).
    #[serde(default)]
    pub segment_bytes: Option<u64>,
    /// This writer's id in the audit database, where each replica keeps its own chain (default:
    /// `MCPTK_REPLICA`, else the host name, which in Kubernetes is the pod's name).
    #[serde(default)]
    pub replica: Option<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { path: default_audit_path(), fsync: true, sql: None, segment_bytes: None, replica: None }
    }
}

fn default_audit_path() -> PathBuf {
    PathBuf::from(".mcptk/audit.jsonl")
}

fn yes() -> bool {
    true
}

/// What the gateway relays of its servers besides their tools (each through the pipeline, as
/// their tools' calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Their prompts, as `server__prompt` (default true).
    #[serde(default = "yes")]
    pub prompts: bool,
    /// Their resources and resource templates (default true).
    #[serde(default = "yes")]
    pub resources: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self { prompts: true, resources: true }
    }
}

/// What the readiness probe (`/readyz`) waits for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessConfig {
    /// Servers (of `mcpServers` or `servers_file`) that the gateway is ready without: while one
    /// of them is not running, `/readyz` still answers 200 and calls of its tools fail saying
    /// why. Every other server must be running for the gateway to be ready. For a server that
    /// fails on every replica alike (a third-party endpoint that is down), so that one server
    /// does not take every replica out of the load balancer.
    #[serde(default)]
    pub optional: Vec<String>,
}

impl ReadinessConfig {
    /// The servers of `optional`, each of them one of `servers` (enabled or not).
    pub fn servers(&self, servers: &McpConfig) -> anyhow::Result<std::collections::HashSet<String>> {
        for name in &self.optional {
            if !servers.servers.contains_key(name) {
                let known: Vec<&str> = servers.servers.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "readiness.optional: no server named `{name}` in mcpServers or servers_file (configured: {}; \
                     native servers run in the gateway and are always ready)",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                );
            }
        }
        Ok(self.optional.iter().cloned().collect())
    }
}

/// How much longer than the native Perplexity server's own timeout the gateway lets its calls
/// run when `timeouts.servers` does not name it (see [`GatewayConfig::timeouts`]).
const PERPLEXITY_MARGIN: Duration = Duration::from_secs(30);

/// Timeouts of calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Seconds any call may take (default 60).
    #[serde(default = "default_timeout")]
    pub default_secs: u64,
    /// Per-server overrides, in seconds.
    #[serde(default)]
    pub servers: HashMap<String, u64>,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self { default_secs: default_timeout(), servers: HashMap::new() }
    }
}

fn default_timeout() -> u64 {
    60
}

/// Retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Tries in all for read-only and idempotent tools (default 3; 1 disables retries).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// First wait in milliseconds, doubled each time (default 200).
    #[serde(default = "default_retry_delay")]
    pub base_delay_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self { attempts: default_attempts(), base_delay_ms: default_retry_delay() }
    }
}

fn default_attempts() -> u32 {
    3
}

fn default_retry_delay() -> u64 {
    200
}

/// Restarts: of a server that exited, and of one that stopped answering pings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// First wait before restarting an exited server, in milliseconds (default 500).
    #[serde(default = "default_restart_delay")]
    pub initial_delay_ms: u64,
    /// The longest wait, in milliseconds (default 30000).
    #[serde(default = "default_restart_max")]
    pub max_delay_ms: u64,
    /// How often a running server is pinged, in milliseconds (default 30000; 0: never).
    #[serde(default = "default_ping_interval")]
    pub ping_interval_ms: u64,
    /// How long a ping may take, in milliseconds (default 10000).
    #[serde(default = "default_ping_timeout")]
    pub ping_timeout_ms: u64,
    /// Pings in a row left unanswered before the server is restarted (default 2).
    #[serde(default = "default_ping_misses")]
    pub ping_misses: u32,
}

impl Default for RestartConfig {
    fn default() -> Self {
        Self {
            initial_delay_ms: default_restart_delay(),
            max_delay_ms: default_restart_max(),
            ping_interval_ms: default_ping_interval(),
            ping_timeout_ms: default_ping_timeout(),
            ping_misses: default_ping_misses(),
        }
    }
}

impl RestartConfig {
    /// Refuses ping settings that would restart every server for no reason.
    fn validate(&self) -> anyhow::Result<()> {
        if self.ping_interval_ms > 0 && self.ping_timeout_ms == 0 {
            anyhow::bail!("restart.ping_timeout_ms must be at least 1 (0 would fail every ping)");
        }
        if self.ping_interval_ms > 0 && self.ping_misses == 0 {
            anyhow::bail!("restart.ping_misses must be at least 1 (set ping_interval_ms to 0 for no pings)");
        }
        Ok(())
    }

    /// The restart policy this describes.
    pub fn restart(&self) -> mcp_core::supervised::Restart {
        let ms = std::time::Duration::from_millis;
        mcp_core::supervised::Restart {
            initial: ms(self.initial_delay_ms),
            max: ms(self.max_delay_ms),
            ping_every: (self.ping_interval_ms > 0).then(|| ms(self.ping_interval_ms)),
            ping_timeout: ms(self.ping_timeout_ms),
            ping_misses: self.ping_misses,
        }
    }
}

fn default_ping_interval() -> u64 {
    30_000
}

fn default_ping_timeout() -> u64 {
    10_000
}

fn default_ping_misses() -> u32 {
    2
}

fn default_restart_delay() -> u64 {
    500
}

fn default_restart_max() -> u64 {
    30_000
}

impl GatewayConfig {
    /// Every setting outside `mcpServers` whose `${VAR}`s the gateway expands as it starts, as
    /// (what its error names it by, the field, the text as written): for finding every variable
    /// that is not set before anything starts (`mcptk config check`). The start expands each
    /// where it uses it.
    pub fn references(&self) -> Vec<(&'static str, String, String)> {
        let mut references = Vec::new();
        if let Some(url) = &self.audit.sql {
            references.push(("audit", "audit.sql".to_owned(), url.clone()));
        }
        for (name, db) in &self.native.sql {
            references.push(("native.sql", format!("native.sql.{name}.url"), db.url.clone()));
            if let Some(key) = db.generate.as_ref().and_then(|g| g.api_key.as_ref()) {
                references.push(("native.sql", format!("native.sql.{name}.generate.api_key"), key.clone()));
            }
        }
        if let Some(p) = &self.native.perplexity {
            let key = p.api_key.as_deref().unwrap_or(crate::PERPLEXITY_KEY);
            references.push((crate::PERPLEXITY, "native.perplexity.api_key".to_owned(), key.to_owned()));
        }
        if let Some(g) = &self.native.github {
            let token = g.token.as_deref().unwrap_or(crate::GITHUB_TOKEN);
            references.push((crate::GITHUB, "native.github.token".to_owned(), token.to_owned()));
        }
        if let Some(host) = self.native.docker.as_ref().and_then(|d| d.host.as_ref()) {
            references.push(("docker", "native.docker.host".to_owned(), host.clone()));
        }
        if let Some(db) = self.pinning.as_ref().and_then(|p| p.database.as_ref()) {
            references.push(("pinning", "pinning.database".to_owned(), db.clone()));
        }
        if let Some(store) = &self.rate_limit_store {
            references.push(("rate_limit_store", "rate_limit_store.redis".to_owned(), store.redis.clone()));
        }
        if let Some(store) = &self.task_store {
            references.push(("task_store", "task_store.redis".to_owned(), store.redis.clone()));
        }
        references
    }

    /// Reads a gateway configuration file. Relative paths in it are relative to its folder.
    /// The names it gives servers in `policy` and `timeouts` are checked when a gateway starts
    /// or reloads it, once the tool sets added in code are known too
    /// ([`GatewayConfig::check_names`]).
    pub fn load(path: &Path) -> crate::Result<GatewayConfig> {
        Ok(Self::read(path)?)
    }

    /// The servers this configuration serves, by the names the gateway gives them: those of
    /// `servers` (disabled ones too), the native ones, `gateway` (its own tools), and `added`.
    pub fn server_names<'a>(&'a self, servers: &'a McpConfig, added: &[&'a str]) -> BTreeSet<&'a str> {
        let native = &self.native;
        let mut names: BTreeSet<&str> = servers.servers.keys().map(String::as_str).collect();
        names.extend(added);
        names.insert(crate::GATEWAY);
        let on = [
            ("fs", native.fs.is_some()),
            ("shell", native.shell.is_some()),
            ("builtin", native.builtin),
            (crate::PERPLEXITY, native.perplexity.is_some()),
            (crate::GITHUB, native.github.is_some()),
            ("docker", native.docker.is_some()),
            ("k8s", native.k8s.is_some()),
            (crate::DATABASE, !native.sql.is_empty()),
        ];
        names.extend(on.into_iter().filter(|(_, on)| *on).map(|(name, _)| name));
        names.extend(native.sql.keys().map(String::as_str));
        names
    }

    /// Names that mean a server and name none of [`GatewayConfig::server_names`]. A
    /// written-out `servers` entry of a `policy` rule and a `timeouts.servers` key are errors (a
    /// mistyped deny rule would never apply; a mistyped timeout would silently be the default),
    /// with the name most likely meant; `mcptk config check` refuses them, a start or reload
    /// logs them. A glob that matches no server (a rule shared by machines with other servers)
    /// and, since tool names are known only once the servers run, a `tools` entry of a rule or
    /// an `annotations` key whose server part (before `__`) names no server are warnings.
    pub fn check_names(&self, servers: &McpConfig, added: &[&str]) -> anyhow::Result<Vec<String>> {
        let names = self.server_names(servers, added);
        let configured = names.iter().copied().collect::<Vec<_>>().join(", ");
        let meant = |name: &str| match mcp_core::config::nearest(name, names.iter().copied()) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => String::new(),
        };
        let mut warnings = Vec::new();
        let mut timeouts: Vec<&String> = self.timeouts.servers.keys().collect();
        timeouts.sort_unstable();
        if let Some(name) = timeouts.into_iter().find(|name| !names.contains(name.as_str())) {
            anyhow::bail!("timeouts.servers: no server named `{name}` (configured: {configured}){}", meant(name));
        }
        let tool_part = |tool: &str| tool.split_once(mcp_core::naming::SEPARATOR).map(|(server, _)| server.to_owned());
        // A tool named `server__tool` whose server part is written out and names no server.
        let unknown_server = |tool: &str| {
            tool_part(tool).filter(|server| {
                !server.is_empty()
                    && !server.contains(['*', '?', '[', ']', '{', '}', '\\'])
                    && !names.iter().any(|n| *n == server || mcp_core::naming::sanitize(n) == *server)
            })
        };
        let suggest = |tool: &str, server: &str| match mcp_core::config::nearest(server, names.iter().copied()) {
            Some(near) => format!(" (did you mean `{near}{}`?)", &tool[server.len()..]),
            None => String::new(),
        };
        for rule in self.policy.iter().flat_map(|p| &p.rules) {
            for pattern in &rule.servers {
                // `None`: not a valid glob, which the policy names itself.
                if matches_a_server(pattern, &names) != Some(false) {
                    continue;
                }
                // A glob may be written for servers a machine lacks (a shared deny rule for
                // `github*`): only a written-out name is taken for a typo.
                if pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
                    warnings.push(format!(
                        "policy rule `{}`: the `servers` entry `{pattern}` matches no server (configured: {configured})",
                        rule.name
                    ));
                } else {
                    anyhow::bail!(
                        "policy rule `{}`: the `servers` entry `{pattern}` matches no server (configured: {configured}){}",
                        rule.name,
                        meant(pattern)
                    );
                }
            }
            // With `servers` given, a tool entry is as likely the server's own name for it.
            for tool in rule.tools.iter().filter(|_| rule.servers.is_empty()) {
                if let Some(server) = unknown_server(tool) {
                    warnings.push(format!(
                        "policy rule `{}`: the `tools` entry `{tool}` names no server before `__`{} (configured: \
                         {configured}); it matches only a tool of that very name",
                        rule.name,
                        suggest(tool, &server)
                    ));
                }
            }
        }
        for tool in self.annotations.keys() {
            if let Some(server) = unknown_server(tool) {
                warnings.push(format!(
                    "annotations: `{tool}` names no server before `__`{} (configured: {configured}); it applies to no tool",
                    suggest(tool, &server)
                ));
            } else if tool_part(tool).is_none() {
                warnings
                    .push(format!("annotations: `{tool}` is no exposed name (`server__tool`); it applies to no tool"));
            }
        }
        Ok(warnings)
    }

    fn read(path: &Path) -> anyhow::Result<GatewayConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        // Comments and trailing commas become spaces: positions in errors stay those of the file.
        let text = strip_comments(&text);
        let mut de = serde_json::Deserializer::from_str(&text);
        let parsed = match serde_path_to_error::deserialize::<_, GatewayConfig>(&mut de) {
            // Nothing but blanks may follow the document.
            Ok(config) => de.end().map(|()| config).map_err(|e| (String::new(), e)),
            Err(e) => Err((e.path().to_string(), e.into_inner())),
        };
        let mut config = parsed.map_err(|(field, e)| {
            let at = if field.is_empty() || field == "." { String::new() } else { format!(" (in `{field}`)") };
            anyhow::anyhow!(
                "invalid gateway config `{}` at line {}, column {}{at}: {}",
                path.display(),
                e.line(),
                e.column(),
                describe_parse_error(&e)
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(f) = config.servers_file.as_mut() {
            rebase(f);
        }
        rebase(&mut config.audit.path);
        if let Some(id) = &config.audit.replica {
            mcp_audit::Replica::new(id.as_str()).context("audit.replica")?;
        }
        config.validate_settings()?;
        if let Some(p) = config.pinning.as_mut() {
            p.validate()?;
            if let Some(file) = p.lock_file.as_mut() {
                rebase(file);
            }
        }
        if let Some(fs) = config.native.fs.as_mut() {
            fs.roots.iter_mut().for_each(rebase);
        }
        if let Some(sh) = config.native.shell.as_mut() {
            sh.roots.iter_mut().for_each(rebase);
        }
        if let Some(docker) = config.native.docker.as_mut() {
            docker.allowed_host_paths.iter_mut().for_each(rebase);
        }
        if let Some(kubeconfig) = config.native.k8s.as_mut().and_then(|k| k.kubeconfig.as_mut()) {
            rebase(kubeconfig);
        }
        for db in config.native.sql.values_mut() {
            // A relative SQLite file is relative to this file, like every other path.
            if let Some(path) = db.url.strip_prefix("sqlite:")
                && !path.starts_with(':')
                && !path.starts_with('/')
                && !path.starts_with("//")
            {
                db.url = format!("sqlite:{}", base.join(path).display());
            }
        }
        Ok(config)
    }

    /// The embedded defaults used when no file is given: the native filesystem rooted at the
    /// current directory, read-only shell commands there, and an audit log under `.mcptk/`.
    pub fn embedded(cwd: PathBuf) -> GatewayConfig {
        GatewayConfig {
            native: NativeConfig {
                fs: Some(NativeFs { roots: vec![cwd.clone()], client_roots: false }),
                shell: Some(NativeShell {
                    allow: ["ls", "cat", "head", "tail", "wc", "grep", "stat", "du", "pwd"].map(str::to_owned).to_vec(),
                    allow_interpreters: Vec::new(),
                    roots: vec![cwd.clone()],
                }),
                builtin: false,
                sql: BTreeMap::new(),
                perplexity: None,
                github: None,
                docker: None,
                k8s: None,
            },
            audit: AuditConfig { path: cwd.join(".mcptk/audit.jsonl"), ..AuditConfig::default() },
            ..GatewayConfig::default()
        }
    }

    /// Every remote server: the servers file first, then inline entries (which win on a clash).
    pub fn servers(&self) -> crate::Result<McpConfig> {
        let mut config = match &self.servers_file {
            Some(path) => McpConfig::load(path).map_err(anyhow::Error::from)?,
            None => McpConfig::default(),
        };
        config.servers.extend(self.mcp_servers.clone());
        Ok(config)
    }

    /// Refuses settings that would make the gateway fail every call or restart every server for
    /// no reason (a timeout of 0, a ping that cannot be answered). Checked when a file is read
    /// and again when a gateway starts or reloads, for a configuration made in code.
    pub(crate) fn validate_settings(&self) -> anyhow::Result<()> {
        self.restart.validate()?;
        let zero = |secs: Option<u64>, name: String| match secs {
            Some(0) => Err(anyhow::anyhow!("{name} must be at least 1 (0 would time out every call at once)")),
            _ => Ok(()),
        };
        zero(Some(self.timeouts.default_secs), "timeouts.default_secs".into())?;
        let mut servers: Vec<(&String, &u64)> = self.timeouts.servers.iter().collect();
        servers.sort_unstable();
        for (server, secs) in servers {
            zero(Some(*secs), format!("timeouts.servers.{server}"))?;
        }
        for (db, settings) in &self.native.sql {
            zero(settings.timeout_secs, format!("native.sql.{db}.timeout_secs"))?;
        }
        if let Some(p) = &self.native.perplexity {
            zero(p.timeout_secs, "native.perplexity.timeout_secs".into())?;
        }
        zero(self.agent.tool_timeout_secs, "agent.tool_timeout_secs".into())
    }

    /// The default timeout and the per-server ones: those of `timeouts.servers`, and for the
    /// native Perplexity server when `timeouts.servers` does not name it, 30 s more than its own
    /// timeout (`native.perplexity.timeout_secs`, else `PERPLEXITY_TIMEOUT_MS`, else 300 s) if
    /// that is longer than `timeouts.default_secs`: a research run takes minutes, and
    /// `default_secs` (60) cut it silently. Its own timeout then ends a call first, and its error
    /// says what to raise.
    pub fn timeouts(&self) -> (Duration, HashMap<String, Duration>) {
        self.timeouts_with(|name| std::env::var(name).ok())
    }

    /// [`GatewayConfig::timeouts`], with the environment's variables looked up by `var`.
    fn timeouts_with(&self, var: impl Fn(&str) -> Option<String>) -> (Duration, HashMap<String, Duration>) {
        let default = Duration::from_secs(self.timeouts.default_secs);
        let mut per: HashMap<String, Duration> =
            self.timeouts.servers.iter().map(|(k, v)| (k.clone(), Duration::from_secs(*v))).collect();
        if let Some(perplexity) = &self.native.perplexity
            && !per.contains_key(crate::PERPLEXITY)
        {
            let own = match perplexity.timeout_secs {
                Some(secs) => Duration::from_secs(secs),
                // As the server reads it (a variable that does not read stops the server anyway);
                // the key does not matter here.
                None => mcp_perplexity::native::PerplexityConfig::from_vars(|name| match name {
                    "PERPLEXITY_API_KEY" => Some("-".to_owned()),
                    _ => var(name),
                })
                .map_or(default, |config| config.timeout),
            };
            let wanted = own.saturating_add(PERPLEXITY_MARGIN);
            if wanted > default {
                per.insert(crate::PERPLEXITY.to_owned(), wanted);
            }
        }
        (default, per)
    }
}

/// Whether `pattern`, as a policy rule's `servers` glob, matches one of `names`: `None` when it
/// is no valid glob. Asked of the policy itself, so that it means what the policy will match.
fn matches_a_server(pattern: &str, names: &BTreeSet<&str>) -> Option<bool> {
    let rule = serde_json::json!({"name": "probe", "effect": "deny", "servers": [pattern]});
    let rules = vec![serde_json::from_value(rule).ok()?];
    let policy =
        mcp_security::Policy::new(PolicyConfig { read_only: false, rules, default: Some(mcp_security::Effect::Allow) })
            .ok()?;
    let tool = mcp_core::protocol::Tool::new("probe", "", mcp_core::protocol::JsonObject::new());
    Some(names.iter().any(|server| {
        let subject = mcp_security::Subject {
            principal: "probe",
            server,
            tool: "probe",
            exposed: "probe",
            definition: &tool,
            arguments: None,
        };
        !policy.decide(&subject).allowed
    }))
}

/// A parser message as it may be shown: field names are the schema's and stay (so that an
/// unknown or missing field is named, with the names expected), values are removed (they may be
/// secrets), syntax errors keep the punctuation they expected
/// ([`mcp_core::config::json_error_message`]).
fn describe_parse_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return message.split(" at line ").next().unwrap_or_default().to_owned();
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((_, expected)) = rest.split_once('`')
    {
        return format!("unknown variant <value>{}", expected.split(" at line ").next().unwrap_or_default());
    }
    mcp_core::config::json_error_message(error)
}

/// JSON with comments (`//` to the end of the line, `/* ... */`) and trailing commas, as
/// VS Code's and this gateway's files may hold, turned into plain JSON: each comment and each
/// trailing comma becomes spaces (line breaks stay), so lines and columns are unchanged.
pub fn strip_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    // Where in `out` the last comma outside a string is, while only blanks followed it.
    let mut pending_comma: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                pending_comma = None;
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            out.push(chars[i + 1]);
                            i += 2;
                        }
                        '"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                out.push_str("  ");
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(if chars[i] == '\n' { '\n' } else { ' ' });
                    i += 1;
                }
                if i < chars.len() {
                    out.push_str("  ");
                    i += 2;
                }
            }
            ',' => {
                pending_comma = Some(out.len());
                out.push(c);
                i += 1;
            }
            '}' | ']' => {
                if let Some(at) = pending_comma.take() {
                    out.replace_range(at..at + 1, " ");
                }
                out.push(c);
                i += 1;
            }
            c if c.is_whitespace() => {
                out.push(c);
                i += 1;
            }
            _ => {
                pending_comma = None;
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod jsonc_tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_become_spaces_in_place() {
        let text = "{\n  // a note\n  \"a\": \"http://x/*not a comment*/\", /* block\n */ \"b\": [1, 2,],\n}\n";
        let plain = strip_comments(text);
        assert_eq!(plain.len(), text.len());
        assert_eq!(plain.lines().count(), text.lines().count());
        let value: serde_json::Value = serde_json::from_str(&plain).expect("plain JSON");
        assert_eq!(value, serde_json::json!({"a": "http://x/*not a comment*/", "b": [1, 2]}));
        assert_eq!(strip_comments(r#"{"q": "a \" // b",}"#), r#"{"q": "a \" // b" }"#);
    }

    #[test]
    fn an_unknown_field_is_named_with_where_it_is_and_a_value_is_not() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("gateway.json");
        std::fs::write(&path, "{\n  \"native\": { \"fs\": { \"rots\": [\".\"] } }\n}\n").expect("writes");
        let e = GatewayConfig::load(&path).expect_err("unknown field").to_string();
        assert!(e.contains("line 2") && e.contains("(in `native.fs.rots`)"), "{e}");
        assert!(e.contains("unknown field `rots`, expected `roots` or `client_roots`"), "{e}");
        std::fs::write(&path, "{ \"timeouts\": { \"default_secs\": \"sk-hidden-value\" } }").expect("writes");
        let e = GatewayConfig::load(&path).expect_err("a string for a number").to_string();
        assert!(!e.contains("sk-hidden-value") && e.contains("(in `timeouts.default_secs`)"), "{e}");
        // A syntax error keeps what serde_json expected: its own punctuation, never a value.
        std::fs::write(&path, "{\"mcpServers\": {\"a\": {\"command\": \"sk-hidden-value\" \"args\": []}}}")
            .expect("writes");
        let e = GatewayConfig::load(&path).expect_err("a comma is missing").to_string();
        assert!(e.ends_with("at line 1, column 52 (in `mcpServers.a.?`): expected `,` or `}`"), "{e}");
        assert!(!e.contains("sk-hidden-value"), "{e}");
        std::fs::write(&path, "{} // done\n{}").expect("writes");
        let e = GatewayConfig::load(&path).expect_err("a second document").to_string();
        assert!(e.contains("line 2, column 1"), "{e}");
    }

    #[test]
    fn names_of_servers_that_are_not_configured_are_refused_with_the_name_meant() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("gateway.json");
        let with = |extra: serde_json::Value| {
            let mut config = serde_json::json!({
                "mcpServers": {"normal": {"command": "true"}, "off": {"command": "true", "disabled": true}},
                "native": {"builtin": true, "sql": {"shop": {"url": "sqlite::memory:"}}},
            });
            config.as_object_mut().expect("an object").extend(extra.as_object().expect("an object").clone());
            std::fs::write(&path, config.to_string()).expect("writes");
            let config = GatewayConfig::load(&path).map_err(|e| e.to_string())?;
            let servers = config.servers().map_err(|e| e.to_string())?;
            config.check_names(&servers, &[]).map(|_| config).map_err(|e| e.to_string())
        };
        let rule = |servers: serde_json::Value| {
            serde_json::json!({"policy": {"rules": [
            {"name": "deny-typo", "effect": "deny", "servers": servers}
        ], "default": "allow"}})
        };
        let e = with(rule(serde_json::json!(["nromal"]))).expect_err("a server that is not configured");
        assert!(
            e.starts_with("policy rule `deny-typo`: the `servers` entry `nromal` matches no server (configured: builtin, database, gateway, normal, off, shop); did you mean `normal`?"),
            "{e}"
        );
        // A glob may be meant for servers this machine lacks: a warning.
        let config = with(rule(serde_json::json!(["normal", "gh-*"]))).expect("a glob that matches nothing");
        let warnings = config.check_names(&config.servers().expect("servers"), &[]).expect("warns");
        assert!(warnings.iter().any(|w| w.contains("the `servers` entry `gh-*` matches no server (")), "{warnings:?}");
        let e = with(serde_json::json!({"timeouts": {"servers": {"normal": 5, "nromal": 5}}})).expect_err("a timeout");
        assert!(e.starts_with("timeouts.servers: no server named `nromal` (configured: "), "{e}");
        assert!(e.ends_with("did you mean `normal`?"), "{e}");
        // Every name the gateway serves counts: native servers, a disabled one, globs, its own.
        for servers in [
            serde_json::json!(["normal", "off", "builtin", "shop", "database", "gateway"]),
            serde_json::json!(["norm*", "*"]),
        ] {
            with(rule(servers)).expect("every name is a server");
        }
        with(serde_json::json!({"timeouts": {"servers": {"builtin": 5, "shop": 9}}})).expect("native servers");
        // Tool names are known once servers run: only a server part that names none is said.
        let config = with(serde_json::json!({
            "annotations": {"nromal__work": {"readOnlyHint": true}, "normal__wrok": {"readOnlyHint": true}},
            "policy": {"rules": [{"name": "deny-tool-typo", "effect": "deny", "tools": ["nromal__work", "read_*"]}]}
        }))
        .expect("tool names only warn");
        let servers = config.servers().expect("servers");
        let warnings = config.check_names(&servers, &[]).expect("no error");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("policy rule `deny-tool-typo`: the `tools` entry `nromal__work` names no server before `__` (did you mean `normal__work`?)"), "{warnings:?}");
        assert!(
            warnings[1]
                .starts_with("annotations: `nromal__work` names no server before `__` (did you mean `normal__work`?)"),
            "{warnings:?}"
        );
        // Tool sets added in code are servers too.
        std::fs::write(&path, rule(serde_json::json!(["inventory"])).to_string()).expect("writes");
        let config = GatewayConfig::load(&path).expect("names are checked at start");
        let servers = config.servers().expect("servers");
        config.check_names(&servers, &[]).expect_err("not configured in the file");
        config.check_names(&servers, &["inventory"]).expect("added in code");
    }

    #[test]
    fn ping_settings_that_would_restart_every_server_are_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("gateway.json");
        for (restart, wrong) in [
            (r#"{"ping_timeout_ms": 0}"#, "restart.ping_timeout_ms must be at least 1"),
            (r#"{"ping_misses": 0}"#, "restart.ping_misses must be at least 1"),
        ] {
            std::fs::write(&path, format!(r#"{{"restart": {restart}}}"#)).expect("writes");
            let e = GatewayConfig::load(&path).expect_err(wrong).to_string();
            assert!(e.contains(wrong), "{e}");
        }
        std::fs::write(&path, r#"{"restart": {"ping_interval_ms": 0, "ping_misses": 0}}"#).expect("writes");
        let off = GatewayConfig::load(&path).expect("no pings: the other settings do not matter");
        assert_eq!(off.restart.restart().ping_every, None);
    }

    #[test]
    fn a_timeout_of_zero_is_refused_and_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("gateway.json");
        for (json, wrong) in [
            (r#"{"timeouts": {"default_secs": 0}}"#, "timeouts.default_secs must be at least 1"),
            (
                r#"{"timeouts": {"servers": {"github": 30, "slowpoke": 0}}}"#,
                "timeouts.servers.slowpoke must be at least 1",
            ),
            (
                r#"{"native": {"sql": {"shop": {"url": "sqlite::memory:", "timeout_secs": 0}}}}"#,
                "native.sql.shop.timeout_secs",
            ),
            (r#"{"native": {"perplexity": {"timeout_secs": 0}}}"#, "native.perplexity.timeout_secs"),
            (r#"{"agent": {"tool_timeout_secs": 0}}"#, "agent.tool_timeout_secs"),
        ] {
            std::fs::write(&path, json).expect("writes");
            let e = GatewayConfig::load(&path).expect_err(wrong).to_string();
            assert!(e.contains(wrong), "{e}");
        }
        let json = r#"{"mcpServers": {"github": {"command": "true"}}, "timeouts": {"default_secs": 1, "servers": {"github": 120}}}"#;
        std::fs::write(&path, json).expect("writes");
        let (default, per) = GatewayConfig::load(&path).expect("valid").timeouts();
        assert_eq!((default, per["github"]), (Duration::from_secs(1), Duration::from_secs(120)));
    }

    #[test]
    fn perplexity_calls_may_take_as_long_as_its_own_timeout_and_a_margin() {
        use serde_json::json;
        let config = |json: serde_json::Value| -> GatewayConfig { serde_json::from_value(json).expect("valid") };
        let no_vars = |_: &str| None;
        let perplexity = |config: &GatewayConfig, var: &dyn Fn(&str) -> Option<String>| {
            config.timeouts_with(var).1.get("perplexity").copied()
        };
        let secs = Duration::from_secs;
        // Its own timeout_secs, 30 s more, where the default (60 s) would have cut it.
        let own = config(json!({"native": {"perplexity": {"timeout_secs": 900}}}));
        assert_eq!(perplexity(&own, &no_vars), Some(secs(930)));
        assert_eq!(own.timeouts_with(no_vars).0, secs(60), "the default stays");
        // Without timeout_secs: PERPLEXITY_TIMEOUT_MS, else the server's 300 s.
        let unset = config(json!({"native": {"perplexity": {}}}));
        assert_eq!(perplexity(&unset, &no_vars), Some(secs(330)));
        let env = |name: &str| (name == "PERPLEXITY_TIMEOUT_MS").then(|| "600000".to_owned());
        assert_eq!(perplexity(&unset, &env), Some(secs(630)));
        // timeouts.servers decides when it names the server.
        let named = config(json!({
            "native": {"perplexity": {"timeout_secs": 900}},
            "timeouts": {"servers": {"perplexity": 45}},
        }));
        assert_eq!(perplexity(&named, &no_vars), Some(secs(45)));
        // A default that is longer already is left to apply.
        let longer =
            config(json!({"native": {"perplexity": {"timeout_secs": 100}}, "timeouts": {"default_secs": 600}}));
        assert_eq!(perplexity(&longer, &no_vars), None);
        // Without the native server, nothing is added.
        assert_eq!(perplexity(&config(json!({})), &no_vars), None);
    }
}
