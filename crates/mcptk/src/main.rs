//! `mcptk`: serve MCP tools, list and call the tools of configured MCP servers.

mod admin;
mod agent;
mod builtin;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::sync::Arc;

use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{Registry, Server, ToolContext};
use serde_json::Value;

/// The name under which the tools built into this binary are addressed.
const BUILTIN: &str = "builtin";

#[derive(Parser)]
#[command(name = "mcptk", version, about = "MCP toolkit: serve tools, and list or call the tools of MCP servers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on stdin/stdout (clients of either era): the gateway in front of every configured
    /// server plus the native tools (the default), or one native server alone.
    Serve {
        #[command(subcommand)]
        native: Option<NativeServer>,
        /// The gateway configuration (an `mcp_config.json` is one too). Without it: the native
        /// filesystem rooted here, read-only shell commands, an audit log under `.mcptk/`.
        #[arg(long, env = "MCPTK_CONFIG", global = true)]
        config: Option<PathBuf>,
        /// Items per page of list results.
        #[arg(long, default_value_t = 100, global = true)]
        page_size: usize,
        /// Largest accepted message in bytes; longer lines are refused with -32600.
        #[arg(long, default_value_t = mcp_core::transport::DEFAULT_MAX_MESSAGE_BYTES, global = true)]
        max_message_bytes: usize,
        /// With one native server: append a tamper-evident record of every call to this audit
        /// log (the gateway takes its log from its configuration).
        #[arg(long, global = true)]
        audit: Option<PathBuf>,
        /// With one native server: seconds a call may take before it is cancelled.
        #[arg(long, default_value_t = 300, global = true)]
        call_timeout: u64,
        #[command(flatten)]
        http: HttpArgs,
    },
    /// List the tools of every configured server (and the built-in ones).
    Tools {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only this server.
        #[arg(long)]
        server: Option<String>,
        /// Print the full definitions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a gateway configuration: every server resolves, every rule compiles. Names missing
    /// variables, never prints a value.
    Config {
        #[command(subcommand)]
        action: admin::ConfigAction,
    },
    /// Read, verify and export the audit log.
    Audit {
        #[command(subcommand)]
        action: admin::AuditAction,
    },
    /// Manage the tool-definition pin lock.
    Pin {
        #[command(subcommand)]
        action: admin::PinAction,
    },
    /// Work on a task with a model (any OpenAI-compatible endpoint) and the gateway's tools;
    /// streams the answer, tool calls and progress.
    Agent(agent::AgentArgs),
    /// Call one tool and print its result; progress is shown on stderr while it runs.
    Call {
        #[command(flatten)]
        config: ConfigArgs,
        /// The server's name in the config, or `builtin`.
        server: String,
        /// The tool's name.
        tool: String,
        /// Arguments as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
    },
}

/// Serving over Streamable HTTP instead of stdio.
#[derive(clap::Args)]
struct HttpArgs {
    /// Serve over HTTP on this address (e.g. `127.0.0.1:8080`) instead of stdin/stdout.
    #[arg(long, global = true)]
    http: Option<std::net::SocketAddr>,
    /// The environment variable holding the bearer token clients must present (required to
    /// listen beyond loopback); callers with it are the principal `http`. The token itself never
    /// goes on the command line. For several callers, `MCPTK_HTTP_TOKENS` holds
    /// `principal=token` pairs separated by commas, so policy rules can tell them apart.
    #[arg(long, default_value = "MCPTK_HTTP_TOKEN", global = true)]
    token_env: String,
    /// A browser origin to allow besides loopback ones (repeatable).
    #[arg(long, global = true)]
    allow_origin: Vec<String>,
    /// A host name to accept besides loopback names and addresses (repeatable; needed beyond
    /// loopback; `*` accepts any name). Names in MCPTK_ALLOW_HOSTS (comma-separated) are added.
    #[arg(long, global = true)]
    allow_host: Vec<String>,
    /// Seconds an idle handshake-era session lives (with MCPTK_SESSION_KEY: stays in this
    /// process's memory; its sealed id opens it again until --session-lifetime).
    #[arg(long, default_value_t = 1800, global = true)]
    session_ttl: u64,
    /// Handshake-era sessions kept at once; one more ends the one idle the longest.
    #[arg(long, default_value_t = 10_000, global = true)]
    max_sessions: usize,
    /// Seconds a sealed session id (`MCPTK_SESSION_KEY` set) is accepted after `initialize`.
    #[arg(long, default_value_t = 24 * 60 * 60, global = true)]
    session_lifetime: u64,
    /// On SIGTERM or Ctrl-C, seconds requests in flight get to finish before they are cut.
    #[arg(long, default_value_t = 20, global = true)]
    shutdown_grace: u64,
    /// On SIGTERM, seconds to keep serving while /readyz says "shutting down", so a load
    /// balancer stops sending requests before connections close (its check interval times the
    /// failures it needs). Kubernetes users get the same from a preStop sleep.
    #[arg(long, default_value_t = 0, global = true)]
    drain_delay: u64,
}

impl HttpArgs {
    fn options(&self) -> anyhow::Result<mcp_core::transport::http::HttpOptions> {
        let mut options = mcp_core::transport::http::HttpOptions {
            allowed_origins: self.allow_origin.clone(),
            allowed_hosts: self
                .allow_host
                .iter()
                .cloned()
                .chain(std::env::var("MCPTK_ALLOW_HOSTS").unwrap_or_default().split(',').map(|h| h.trim().to_owned()))
                .filter(|h| !h.is_empty())
                .collect(),
            session_ttl: Duration::from_secs(self.session_ttl),
            max_sessions: self.max_sessions,
            session_keys: mcp_core::transport::http::SessionKeys::from_env()?.map(Arc::new),
            session_lifetime: Duration::from_secs(self.session_lifetime),
            ..Default::default()
        };
        if let Ok(token) = std::env::var(&self.token_env)
            && !token.is_empty()
        {
            options.tokens.insert(token, "http".into());
        }
        for pair in std::env::var("MCPTK_HTTP_TOKENS").unwrap_or_default().split(',') {
            if let Some((principal, token)) = pair.split_once('=')
                && !principal.trim().is_empty()
                && !token.trim().is_empty()
            {
                if token.contains("REPLACE_ME") {
                    bail!(
                        "MCPTK_HTTP_TOKENS holds a placeholder token (`REPLACE_ME`) for `{}`: set a real one",
                        principal.trim()
                    );
                }
                options.tokens.insert(token.trim().to_owned(), principal.trim().to_owned());
            }
        }
        Ok(options)
    }

    /// Serves `server` on stdio, or over HTTP with `extra` routes (e.g. `/metrics`, `/healthz`)
    /// until SIGTERM or Ctrl-C, then drains for up to `--shutdown-grace`.
    async fn serve(&self, server: Server, extra: mcp_core::transport::http::Extra) -> anyhow::Result<()> {
        let Some(addr) = self.http else { return Ok(server.serve_stdio().await?) };
        let grace = Duration::from_secs(self.shutdown_grace);
        let stopped = stopped(Duration::from_secs(self.drain_delay));
        Ok(mcp_core::transport::http::serve_until(server, addr, self.options()?, extra, stopped, grace).await?)
    }
}

#[derive(Subcommand)]
enum NativeServer {
    /// The built-in protocol demo tools: `echo`, `add`, `slow` (progress), a resource, a prompt.
    Builtin,
    /// The filesystem tools, confined to DIRS: a drop-in for `npx @modelcontextprotocol/server-filesystem DIRS...`.
    /// Without DIRS, the client's roots are the allowed directories (a client without roots gets
    /// an error); with DIRS, a client's roots never widen them (see --client-roots).
    Fs {
        /// Allowed directories.
        dirs: Vec<PathBuf>,
        /// Let each client's roots narrow DIRS to where both agree (never widen them).
        #[arg(long)]
        client_roots: bool,
        /// Largest file read whole, in bytes.
        #[arg(long, default_value_t = 10 * 1024 * 1024)]
        max_read_bytes: u64,
    },
    /// Allowlisted commands from argv arrays, never through a shell.
    Shell {
        /// Commands that may run, e.g. `ls,cat,git` (looked up in PATH once, at start).
        #[arg(long, value_delimiter = ',', required = true)]
        allow: Vec<String>,
        /// Shells or interpreters that may run (refused otherwise), e.g. `python3`.
        #[arg(long, value_delimiter = ',')]
        allow_interpreter: Vec<String>,
        /// Directories commands may run in (default: the current directory).
        #[arg(long)]
        root: Vec<PathBuf>,
        /// Default timeout in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Bytes kept of each of stdout and stderr.
        #[arg(long, default_value_t = 1024 * 1024)]
        max_output_bytes: usize,
    },
    /// Read-only SQL over one database: `read_query`, `query`, `list_tables`, `describe_table`.
    Sql {
        /// The database: `sqlite:path.db`, `sqlite::memory:` (the default), `postgres://user@host/db`,
        /// `mysql://user@host/db` (MySQL or MariaDB).
        /// A password is best given as `${VAR}` in a config file or through PGPASSWORD.
        #[arg(default_value = "sqlite::memory:")]
        url: String,
        /// Rows returned at most; the cut is marked.
        #[arg(long, default_value_t = 1000)]
        max_rows: usize,
        /// Bytes of rows returned at most; the cut is marked.
        #[arg(long, default_value_t = 1024 * 1024)]
        max_bytes: usize,
        /// Seconds a statement may run.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Also serve `write_query` (one checked statement per call, in its own transaction).
        #[arg(long)]
        write: bool,
        /// Serve `generate_query` (natural language to checked SQL) with this chat model.
        #[arg(long)]
        generate_model: Option<String>,
        /// The OpenAI-compatible endpoint for `generate_query`; the key is read from OPENAI_API_KEY.
        #[arg(long, env = "OPENAI_BASE_URL", default_value = "https://api.openai.com/v1")]
        generate_base_url: String,
    },
    /// Perplexity's tools over its API: a drop-in for `npx @perplexity-ai/mcp-server`, configured by
    /// the same variables (PERPLEXITY_API_KEY, PERPLEXITY_BASE_URL, PERPLEXITY_TIMEOUT_MS,
    /// PERPLEXITY_PROXY).
    Perplexity,
    /// GitHub's tools over its API: a drop-in for `github-mcp-server stdio`, with its flags and
    /// variables (GITHUB_PERSONAL_ACCESS_TOKEN, GITHUB_HOST, GITHUB_TOOLSETS, GITHUB_TOOLS,
    /// GITHUB_EXCLUDE_TOOLS, GITHUB_READ_ONLY, GITHUB_LOCKDOWN_MODE); flags win over variables.
    Github {
        /// Toolsets to serve, comma-separated: context, repos, issues, pull_requests, users,
        /// actions, labels, notifications, `default` or `all`.
        #[arg(long, value_delimiter = ',')]
        toolsets: Vec<String>,
        /// Single tools to serve besides the toolsets, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tools: Vec<String>,
        /// Tools never to serve, comma-separated (wins over --toolsets and --tools).
        #[arg(long, value_delimiter = ',')]
        exclude_tools: Vec<String>,
        /// Only the tools annotated read-only.
        #[arg(long)]
        read_only: bool,
        /// In public repositories, show people's text only from authors with push access.
        #[arg(long)]
        lockdown_mode: bool,
        /// The GitHub host: github.com, or a GitHub Enterprise URL.
        #[arg(long)]
        gh_host: Option<String>,
    },
    /// Kubernetes tools over the API of a kubeconfig's clusters: a drop-in for
    /// `kubernetes-mcp-server` (toolsets core and config), with its safety flags enforced at call
    /// time, Secrets' data redacted unless allowed, and credentials never shown.
    K8s {
        /// The kubeconfig (default: KUBECONFIG, else ~/.kube/config).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// The context to use by default (default: the kubeconfig's current context).
        #[arg(long)]
        context: Option<String>,
        /// Only the read-only tools; the others are neither listed nor run.
        #[arg(long)]
        read_only: bool,
        /// No destructive tools (deletes, apply, scale); the others stay.
        #[arg(long)]
        disable_destructive: bool,
        /// Kinds no tool may touch: `Kind`, `group/Kind` or `group/version/Kind`, e.g. `Secret`,
        /// `rbac.authorization.k8s.io/Role`.
        #[arg(long = "deny-resource", value_delimiter = ',')]
        deny_resource: Vec<String>,
        /// Show Secrets' data (redacted by default).
        #[arg(long)]
        allow_secret_data: bool,
        /// How lists print: `table` (as `kubectl get -o wide --show-labels`) or `yaml`.
        #[arg(long, default_value = "table", value_parser = ["table", "yaml"])]
        list_output: String,
    },
    /// Docker's tools over the Docker Engine API or Podman's Docker-compatible one: a drop-in for
    /// `mcp-server-docker` (and `docker-mcp`'s tools) with safety rules: no privileged containers,
    /// added capabilities, host network or PID namespace; host paths only under --allow-path;
    /// default CPU, memory and process limits. The engine: --host, else DOCKER_HOST, else
    /// /var/run/docker.sock, else Podman's sockets.
    Docker {
        /// The engine, e.g. `unix:///run/podman/podman.sock` or `tcp://127.0.0.1:2375`.
        #[arg(long)]
        host: Option<String>,
        /// Host folders under which bind mounts and build contexts are allowed (default: none).
        #[arg(long = "allow-path", value_delimiter = ',')]
        allow_path: Vec<PathBuf>,
        /// The only images that may run, be pulled or pushed (`repo`, `repo:tag`, `prefix*`);
        /// building is then refused. Default: any image.
        #[arg(long = "allow-image", value_delimiter = ',')]
        allow_image: Vec<String>,
        /// Memory limit, in MiB, of a container whose caller sets none.
        #[arg(long, default_value_t = 512)]
        memory_mib: i64,
        /// CPU limit, in CPUs, of a container whose caller sets none.
        #[arg(long, default_value_t = 1.0)]
        cpus: f64,
        /// Process limit of a container whose caller sets none.
        #[arg(long, default_value_t = 256)]
        pids_limit: i64,
        /// No networking: containers get network mode `none`, and networks cannot be created.
        #[arg(long)]
        block_network: bool,
    },
}

impl NativeServer {
    async fn registry(self) -> anyhow::Result<(Registry, &'static str)> {
        match self {
            NativeServer::Builtin => Ok((Registry::linked(), "mcptk")),
            NativeServer::Perplexity => {
                Ok((mcp_perplexity::native::PerplexityServer::from_env()?.registry(), "mcptk-perplexity"))
            }
            NativeServer::K8s {
                kubeconfig,
                context,
                read_only,
                disable_destructive,
                deny_resource,
                allow_secret_data,
                list_output,
            } => {
                let denied_resources = deny_resource.iter().map(|d| d.parse()).collect::<Result<Vec<_>, _>>()?;
                let config = mcp_k8s::native::K8sConfig {
                    kubeconfig,
                    context,
                    read_only,
                    disable_destructive,
                    denied_resources,
                    allow_secret_data,
                    list_output: list_output.parse()?,
                };
                Ok((mcp_k8s::native::K8sServer::connect(config).await?.registry(), "mcptk-k8s"))
            }
            NativeServer::Docker { host, allow_path, allow_image, memory_mib, cpus, pids_limit, block_network } => {
                let safety = mcp_docker::native::Safety {
                    allowed_host_paths: allow_path,
                    allowed_images: (!allow_image.is_empty()).then_some(allow_image),
                    limits: mcp_docker::native::Limits {
                        memory_bytes: memory_mib * 1024 * 1024,
                        nano_cpus: (cpus * 1e9) as i64,
                        pids: pids_limit,
                    },
                    block_network,
                };
                let mut config = mcp_docker::native::DockerConfig::from_env();
                config.host = host.or(config.host);
                config.safety = safety;
                Ok((mcp_docker::native::DockerServer::new(config)?.registry(), "mcptk-docker"))
            }
            NativeServer::Github { toolsets, tools, exclude_tools, read_only, lockdown_mode, gh_host } => {
                let mut config = mcp_github::native::GitHubConfig::from_env()?;
                if !toolsets.is_empty() {
                    config.toolsets = toolsets;
                }
                config.tools.extend(tools);
                config.exclude_tools.extend(exclude_tools);
                config.read_only |= read_only;
                config.lockdown |= lockdown_mode;
                if gh_host.is_some() {
                    config.host = gh_host;
                }
                Ok((mcp_github::native::GitHubServer::new(config)?.registry(), "mcptk-github"))
            }
            NativeServer::Fs { dirs, client_roots, max_read_bytes } => {
                let limits = mcp_fs::native::Limits { max_read_bytes, ..Default::default() };
                let server = if dirs.is_empty() {
                    mcp_fs::native::FsServer::from_client_roots(limits)
                } else {
                    let client_roots = if client_roots {
                        mcp_fs::native::ClientRoots::Narrow
                    } else {
                        mcp_fs::native::ClientRoots::Ignore
                    };
                    mcp_fs::native::FsServer::open_with(&dirs, client_roots, limits)?
                };
                Ok((server.registry(), "mcptk-fs"))
            }
            NativeServer::Shell { allow, allow_interpreter, root, timeout, max_output_bytes } => {
                let roots = if root.is_empty() { vec![std::env::current_dir()?] } else { root };
                let config = mcp_shell::native::ShellConfig {
                    allow,
                    allow_interpreters: allow_interpreter,
                    roots,
                    timeout: Duration::from_secs(timeout),
                    max_output_bytes,
                    ..Default::default()
                };
                Ok((mcp_shell::native::ShellServer::new(config)?.registry(), "mcptk-shell"))
            }
            NativeServer::Sql { url, max_rows, max_bytes, timeout, write, generate_model, generate_base_url } => {
                let limits = mcp_sql::Limits { max_rows, max_bytes, statement_timeout: Duration::from_secs(timeout) };
                let db = if write {
                    mcp_sql::Database::connect_writable(&url, limits).await?
                } else {
                    mcp_sql::Database::connect(&url, limits).await?
                };
                let mut server = mcp_sql::SqlServer::new(db);
                if let Some(model) = generate_model {
                    let model = mcp_gateway::OpenAiSqlModel::new(
                        &generate_base_url,
                        &model,
                        std::env::var("OPENAI_API_KEY").ok(),
                        Duration::from_secs(60),
                    )?;
                    server = server.with_generator(mcp_sql::Generator::model(Arc::new(model)));
                }
                Ok((server.registry(), "mcptk-sql"))
            }
        }
    }
}

/// Which gateway `tools` and `call` look at: the same as `mcptk serve` with the same options.
#[derive(clap::Args)]
struct ConfigArgs {
    /// The gateway configuration (an `mcp_config.json` is one too). Without it: the embedded
    /// defaults `mcptk serve` uses (the native filesystem rooted here, read-only shell commands).
    #[arg(long, env = "MCPTK_CONFIG")]
    config: Option<PathBuf>,
    /// Seconds a call may take (default: the configuration's, else 60).
    #[arg(long)]
    timeout: Option<u64>,
}

impl ConfigArgs {
    /// Starts the gateway `mcptk serve` would start; `builtin` named by the caller is added.
    async fn gateway(&self, wants_builtin: bool) -> anyhow::Result<mcp_gateway::Gateway> {
        let mut config = admin::gateway_config(self.config.as_deref())?;
        config.native.builtin |= wants_builtin;
        if let Some(secs) = self.timeout {
            config.timeouts.default_secs = secs;
        }
        Ok(mcp_gateway::Gateway::start(config).await?)
    }
}

fn main() -> ExitCode {
    // Logs go to stderr: stdout is the protocol channel when serving.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCPTK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    // Serving stdio is one connection: a runtime on the main thread answers it with no thread
    // hand-offs and starts without spawning workers. Everything else gets worker threads.
    let stdio = matches!(&cli.command, Command::Serve { http: HttpArgs { http: None, .. }, .. });
    let mut builder =
        if stdio { tokio::runtime::Builder::new_current_thread() } else { tokio::runtime::Builder::new_multi_thread() };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { native: Some(native), config: _, page_size, max_message_bytes, audit, call_timeout, http } => {
            let (registry, name) = native.registry().await?;
            let audit = audit
                .map(|path| {
                    mcp_audit::AuditLog::open(&path, Default::default())
                        .with_context(|| format!("opening the audit log `{}`", path.display()))
                })
                .transpose()?;
            let server_name = name.trim_start_matches("mcptk-").trim_start_matches("mcptk");
            let server_name = if server_name.is_empty() { BUILTIN } else { server_name };
            let log = audit.clone();
            let registry = mcp_gateway::serve_alone(registry, server_name, audit, Duration::from_secs(call_timeout));
            let server = Server::builder(Implementation::new(name, env!("CARGO_PKG_VERSION")), registry)
                .page_size(page_size)
                .max_message_bytes(max_message_bytes)
                .build();
            // The same open probes as the gateway's: the audit log (with --audit), then shutdown.
            let healthy = move || match &log {
                Some(log) => log.health().map_err(|e| {
                    tracing::debug!(error = %e, "health probe: the audit log is not durable");
                    "unhealthy: the audit log cannot make records durable".to_owned()
                }),
                None => Ok(()),
            };
            let ready = healthy.clone();
            let ready = move || std::future::ready(ready().map_err(|why| why.replacen("unhealthy", "not ready", 1)));
            let open = probes(healthy, ready);
            http.serve(server, mcp_core::transport::http::Extra { admitted: None, open: Some(open) }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { native: None, config, page_size, max_message_bytes, audit, call_timeout: _, http } => {
            if audit.is_some() {
                bail!("--audit is for one native server; the gateway's audit log is `audit.path` in its configuration");
            }
            let config = admin::gateway_config(config.as_deref())?;
            // Over HTTP, metrics are recorded and served for Prometheus at /metrics, with their
            // histograms drained every few seconds whether or not anyone scrapes. On stdio nothing
            // could read them, so nothing records them.
            let metrics = http
                .http
                .is_some()
                .then(|| metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().ok())
                .flatten();
            if let Some(handle) = metrics.clone() {
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        every.tick().await;
                        handle.run_upkeep();
                    }
                });
            }
            let gateway = mcp_gateway::Gateway::builder(config)
                .server(move |b| b.page_size(page_size).max_message_bytes(max_message_bytes))
                .start()
                .await?;
            // Probes open to whoever reaches the port (a kubelet carries no token), saying only
            // what state the gateway is in: /healthz is 503 while the audit log cannot make records
            // durable (every call is refused then), /readyz also while an upstream server is down.
            let open = probes(gateway.health_probe(), gateway.readiness_probe());
            // Behind the same checks as /mcp: /metrics for Prometheus.
            let admitted = metrics.map(|handle| {
                axum::Router::new().route("/metrics", axum::routing::get(move || std::future::ready(handle.render())))
            });
            let extra = mcp_core::transport::http::Extra { admitted, open: Some(open) };
            let served = http.serve(gateway.server().clone(), extra).await;
            gateway.shutdown().await;
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent(args) => agent::run(args).await,
        Command::Config { action } => admin::config(action),
        Command::Audit { action } => admin::audit(action).await,
        Command::Pin { action } => admin::pin(action).await,
        Command::Tools { config, server, json } => list_tools(&config, server.as_deref(), json).await,
        Command::Call { config, server, tool, args } => call(&config, &server, &tool, &args).await,
    }
}

/// The open probes: `/healthz` answers `alive`, `/readyz` answers 503 once a stop was asked
/// for, else `ready`.
fn probes<A, R, F>(alive: A, ready: R) -> axum::Router
where
    A: Fn() -> Result<(), String> + Clone + Send + Sync + 'static,
    R: Fn() -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    axum::Router::new().route("/healthz", axum::routing::get(move || std::future::ready(probe_answer(alive())))).route(
        "/readyz",
        axum::routing::get(move || {
            let ready = ready.clone();
            async move {
                probe_answer(match draining() {
                    Ok(()) => ready().await,
                    Err(why) => Err(why),
                })
            }
        }),
    )
}

/// A probe's answer: 200 `ok`, or 503 with what is wrong.
fn probe_answer(state: Result<(), String>) -> (axum::http::StatusCode, String) {
    match state {
        Ok(()) => (axum::http::StatusCode::OK, "ok\n".to_owned()),
        Err(why) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// Set once a stop was asked for: `/readyz` answers 503 from then on.
static DRAINING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a stop was asked for, as a probe's reason.
fn draining() -> Result<(), String> {
    match DRAINING.load(std::sync::atomic::Ordering::Relaxed) {
        true => Err("not ready: shutting down".to_owned()),
        false => Ok(()),
    }
}

/// Completes on SIGTERM (how orchestrators stop a process), `drain_delay` after it while
/// `/readyz` already says the server is shutting down; or at once on Ctrl-C.
async fn stopped(drain_delay: Duration) {
    let terminated = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops serving"),
        }
        std::future::pending::<()>().await;
    };
    let delay = tokio::select! {
        () = terminated => {
            tracing::info!(?drain_delay, "SIGTERM: shutting down");
            drain_delay
        }
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted: shutting down");
            Duration::ZERO
        }
    };
    DRAINING.store(true, std::sync::atomic::Ordering::Relaxed);
    // A second request to stop does not wait for the drain: the operator means it.
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!("asked again to stop: exiting without draining");
        std::process::exit(130);
    });
    tokio::time::sleep(delay).await;
}

async fn list_tools(args: &ConfigArgs, only: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let gateway = args.gateway(only == Some(BUILTIN)).await?;
    let mut listing = gateway.catalog(gateway.principal()).await;
    gateway.shutdown().await;
    if let Some(only) = only {
        listing.retain(|(name, _)| name == only);
        if listing.is_empty() {
            bail!("no server named `{only}` (see `mcptk tools`)");
        }
    }

    let failed = listing.iter().any(|(_, result)| result.is_err());
    let mut out = std::io::stdout().lock();
    if json {
        let mut doc = serde_json::Map::new();
        for (name, result) in &listing {
            let value = match result {
                Ok(tools) => serde_json::to_value(tools)?,
                Err(e) => serde_json::json!({ "error": e }),
            };
            doc.insert(name.clone(), value);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for (name, result) in &listing {
            match result {
                Ok(tools) => {
                    writeln!(out, "{name} ({} tools)", tools.len())?;
                    for t in tools {
                        let description = t.description.as_deref().unwrap_or("").lines().next().unwrap_or("");
                        writeln!(out, "  {:<32} {description}", t.name)?;
                    }
                }
                Err(e) => writeln!(out, "{name}: error: {e}")?,
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn call(args: &ConfigArgs, server: &str, tool: &str, arguments: &str) -> anyhow::Result<ExitCode> {
    let arguments: JsonObject = match serde_json::from_str(arguments) {
        Ok(Value::Object(map)) => map,
        Ok(_) => bail!("--args must be a JSON object"),
        Err(e) => bail!("--args is not valid JSON: {e}"),
    };
    let gateway = args.gateway(server == BUILTIN).await?;
    // Progress goes to stderr while the call runs; the call goes through the gateway's pipeline
    // (policy, audit, limits) as the local principal, like a call from a stdio client.
    let progress: mcp_core::tool::ProgressFn = Arc::new(|value, total, message| {
        let total = total.map(|t| format!("/{t}")).unwrap_or_default();
        let message = message.map(|m| format!(" {m}")).unwrap_or_default();
        eprintln!("progress {value}{total}{message}");
    });
    let cx = ToolContext::detached().with_principal(gateway.principal().to_owned()).with_progress_fn(progress);
    let result = gateway.call(server, tool, arguments, cx).await;
    gateway.shutdown().await;
    let result = result?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(if result.is_error() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
