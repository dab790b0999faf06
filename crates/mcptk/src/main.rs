//! `mcptk`: serve MCP tools, list and call the tools of configured MCP servers.

mod admin;
mod agent;
mod builtin;
mod import;
mod init;
mod install;
mod manual;
mod output;
#[cfg(target_os = "linux")]
mod start_pages;

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

/// mimalloc: a call costs fewer instructions than with the system allocator. Built in this
/// workspace it commits memory as it is used (`.cargo/config.toml`), so an idle process holds no
/// more than with the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The name under which the tools built into this binary are addressed.
const BUILTIN: &str = "builtin";

#[derive(Parser)]
#[command(
    name = "mcptk",
    version,
    about = "MCP toolkit: serve tools, and list or call the tools of MCP servers",
    after_help = output::EXIT_STATUS_HELP
)]
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
        native: Option<Box<NativeServer>>,
        /// The gateway configuration (an `mcp_config.json` is one too). Without it: the native
        /// filesystem rooted here, read-only shell commands, an audit log under `.mcptk/`.
        #[arg(long, env = "MCPTK_CONFIG", global = true)]
        config: Option<PathBuf>,
        /// Items per page of list results.
        #[arg(long, default_value_t = 100, global = true)]
        page_size: usize,
        /// Largest accepted message in bytes: on stdio a longer line is refused with -32600, over
        /// HTTP a larger request body with 413.
        #[arg(long, default_value_t = mcp_core::transport::DEFAULT_MAX_MESSAGE_BYTES, global = true)]
        max_message_bytes: usize,
        /// With one native server: append a tamper-evident record of every call to this audit
        /// log (the gateway takes its log from its configuration).
        #[arg(long, global = true)]
        audit: Option<PathBuf>,
        /// With one native server: seconds a call may take before it is cancelled [default: 300;
        /// for perplexity, PERPLEXITY_TIMEOUT_MS plus 30 s, so that its own timeout ends a call]
        /// (the gateway takes its timeouts from its configuration).
        #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        call_timeout: Option<u64>,
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
    /// Write a commented starter gateway configuration (default `gateway.json`).
    Init(init::InitArgs),
    /// Turn a client's MCP configuration (Claude Desktop, Cursor, VS Code) into a gateway
    /// configuration; secrets in it become `${VAR}` references, never copied.
    Import(import::ImportArgs),
    /// Point a client (Claude Desktop, Cursor, VS Code) at `mcptk serve`: print its new
    /// configuration, or update it with --write (keeping a backup).
    Install(install::InstallArgs),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish.
    Completions(manual::CompletionsArgs),
    /// Print the manual page (roff), or write one per command with --out.
    Man(manual::ManArgs),
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
        /// Print progress notifications as lines on stderr (`progress 1/2 step 1`) even when it
        /// is not a terminal; on a terminal a progress bar is drawn either way.
        #[arg(long)]
        progress: bool,
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
    /// A host name to accept in `Host` besides `localhost` (repeatable; IP addresses are always
    /// accepted, so clients that reach the server by a name need it; `*` accepts any name, with a
    /// token only). Names in MCPTK_ALLOW_HOSTS (comma-separated) are added.
    #[arg(long, global = true)]
    allow_host: Vec<String>,
    /// Seconds a handshake-era session lives idle: with no request running and no stream open,
    /// counted from when the last ended (with MCPTK_SESSION_KEY: stays in this process's memory;
    /// its sealed id opens it again until --session-lifetime).
    #[arg(long, default_value_t = 1800, global = true)]
    session_ttl: u64,
    /// Handshake-era sessions kept at once; one more ends the one idle the longest.
    #[arg(long, default_value_t = 10_000, global = true)]
    max_sessions: usize,
    /// Threads serving HTTP connections, each keeping the connections it is given (0: one per core).
    #[arg(long, default_value_t = 0, global = true)]
    http_threads: usize,
    /// HTTP connections open at once; the next wait to be accepted until one closes (lowered
    /// at start to three quarters of `ulimit -n` when that is fewer).
    #[arg(long, default_value_t = 1024, global = true)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers, on a new connection or a kept-alive
    /// one waiting for its next request; then it is closed (0: no limit).
    #[arg(long, default_value_t = 10, global = true)]
    header_timeout: u64,
    /// Seconds a POST's body has to arrive once its headers have; then 408 (0: no limit).
    #[arg(long, default_value_t = 60, global = true)]
    body_timeout: u64,
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
    /// Let the gateway's web console at /ui call tools ("try a call"), as the principal of the
    /// caller's token, through the same pipeline; without it the console is read-only.
    #[arg(long, global = true)]
    console_calls: bool,
    /// Serve no web console at /ui (the gateway serves one over HTTP by default).
    #[arg(long, global = true, conflicts_with = "console_calls")]
    no_console: bool,
}

impl HttpArgs {
    /// The transport's options; `max_message_bytes` (`--max-message-bytes`) bounds request bodies.
    fn options(&self, max_message_bytes: usize) -> anyhow::Result<mcp_core::transport::http::HttpOptions> {
        let mut options = mcp_core::transport::http::HttpOptions {
            max_body_bytes: max_message_bytes,
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
            threads: self.http_threads,
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_timeout),
            body_read_timeout: Duration::from_secs(self.body_timeout),
            ..Default::default()
        };
        let single = std::env::var(&self.token_env).ok();
        let list = std::env::var("MCPTK_HTTP_TOKENS").ok();
        options.tokens = http_tokens(&self.token_env, single.as_deref(), list.as_deref())
            .map_err(|e| output::classified(output::Exit::Config, e))?;
        Ok(options)
    }

    /// Serves `server` on stdio (until its input ends), or over HTTP with `extra` routes (e.g.
    /// `/metrics`, `/healthz`) and request bodies up to `max_message_bytes`, until SIGTERM or
    /// Ctrl-C; then drains for up to `--shutdown-grace`.
    async fn serve(
        &self,
        server: Server,
        extra: mcp_core::transport::http::Extra,
        max_message_bytes: usize,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.shutdown_grace);
        // On stdio no probe is watched: the drain begins at once.
        let Some(addr) = self.http else { return Ok(server.serve_stdio_until(stopped(Duration::ZERO), grace).await?) };
        let stopped = stopped(Duration::from_secs(self.drain_delay));
        Ok(mcp_core::transport::http::serve_until(
            server,
            addr,
            self.options(max_message_bytes)?,
            extra,
            stopped,
            grace,
        )
        .await?)
    }
}

/// The bearer tokens by token, each with its principal: `single` (the `--token-env` variable,
/// `token_env`, whose callers are `http`) and `list` (`MCPTK_HTTP_TOKENS`: `principal=token`
/// entries separated by commas; one trailing comma, as templated secrets often have, is
/// ignored). A principal may be given more than once, with one token each (so that its token can
/// be rotated). An entry that does not read as `principal=token` (an empty one in the middle
/// included) and a token given twice are refused (rather than skipped, which could leave the
/// endpoint without authentication, or silently hand a caller another principal). Errors name
/// an entry by its position and a principal by its name, never a token.
fn http_tokens(
    token_env: &str,
    single: Option<&str>,
    list: Option<&str>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    const LIST: &str = "MCPTK_HTTP_TOKENS";
    // By token: (principal, where it was given). A principal may have several tokens (the old
    // and the new while one is rotated); a token stands for one principal only.
    let mut tokens: std::collections::BTreeMap<String, (String, String)> = std::collections::BTreeMap::new();
    if let Some(token) = single.map(str::trim).filter(|t| !t.is_empty()) {
        tokens.insert(token.to_owned(), ("http".to_owned(), token_env.to_owned()));
    }
    let list = list.unwrap_or_default();
    let mut entries: Vec<&str> = if list.trim().is_empty() { Vec::new() } else { list.split(',').collect() };
    // `alice=x,`: one trailing empty entry is a template's leftover, not a missing token.
    if entries.len() > 1 && entries.last().is_some_and(|e| e.trim().is_empty()) {
        entries.pop();
    }
    let count = entries.len();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("{LIST} entry {} (of {count})", i + 1);
        let expected = "expected `principal=token`, entries separated by commas";
        let Some((principal, token)) = entry.split_once('=') else {
            let what = if entry.trim().is_empty() { "is empty" } else { "has no `=`" };
            bail!("{at} {what}: {expected}");
        };
        let (principal, token) = (principal.trim(), token.trim());
        if principal.is_empty() {
            bail!("{at} has an empty principal (nothing before `=`): {expected}");
        }
        if token.is_empty() {
            bail!("{at} (principal `{principal}`) has an empty token (nothing after `=`): {expected}");
        }
        if token.contains("REPLACE_ME") {
            bail!("{LIST} holds a placeholder token (`REPLACE_ME`) for `{principal}`: set a real one");
        }
        if let Some((other, first)) = tokens.get(token) {
            bail!(
                "{at} (principal `{principal}`) gives the same token as {first} (principal `{other}`): each caller needs a token of its own"
            );
        }
        tokens.insert(token.to_owned(), (principal.to_owned(), at));
    }
    Ok(tokens.into_iter().map(|(token, (principal, _))| (token, principal)).collect())
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
        /// Let each client's roots narrow DIRS to where both agree (never widen them). A client
        /// that declares no roots, or whose `roots/list` fails, works in DIRS, as with the
        /// reference server.
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
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
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
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
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
        /// Toolsets to serve, comma-separated: `default` (context, repos, issues, pull_requests,
        /// users, copilot), `all`, or any of context, repos, issues, pull_requests, users,
        /// copilot, orgs, actions, labels, notifications, copilot_issue_intents, git, stargazers,
        /// gists, discussions, code_security, code_quality, dependabot, secret_protection,
        /// security_advisories, projects.
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
        /// Feature flags to turn on, comma-separated (e.g. `file_blame,issues_granular`): tools
        /// the reference serves only under a flag.
        #[arg(long, value_delimiter = ',')]
        features: Vec<String>,
        /// Every flag the reference counts as an insiders feature.
        #[arg(long)]
        insiders: bool,
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
        /// Memory limit, in MiB, of a container whose caller sets none, and the most a caller may
        /// set (0: no ceiling).
        #[arg(long, default_value_t = 512)]
        memory_mib: i64,
        /// CPU limit, in CPUs, of a container whose caller sets none, and the most a caller may
        /// set (0: no ceiling).
        #[arg(long, default_value_t = 1.0)]
        cpus: f64,
        /// Process limit of a container whose caller sets none, and the most a caller may set
        /// (0: no ceiling).
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
            NativeServer::Github {
                toolsets,
                tools,
                exclude_tools,
                read_only,
                lockdown_mode,
                gh_host,
                features,
                insiders,
            } => {
                let mut config = mcp_github::native::GitHubConfig::from_env()?;
                if !toolsets.is_empty() {
                    config.toolsets = toolsets;
                }
                config.tools.extend(tools);
                config.exclude_tools.extend(exclude_tools);
                config.read_only |= read_only;
                config.lockdown |= lockdown_mode;
                config.features.extend(features);
                config.insiders |= insiders;
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
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
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
        admin::start_gateway(config, self.config.as_deref()).await
    }
}

/// OpenTelemetry export, when the `OTEL_EXPORTER_OTLP_*` variables configure it (set in `main`).
#[cfg(feature = "otel")]
static TELEMETRY: std::sync::OnceLock<mcp_gateway::telemetry::Telemetry> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    #[cfg(feature = "otel")]
    match mcp_gateway::telemetry::Telemetry::from_env("mcptk") {
        Ok(Some(telemetry)) => {
            let _ = TELEMETRY.set(telemetry);
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    // As `Cli::parse()`, but the command tree is kept rather than dropped: it lives as long as
    // the process, and freeing its thousands of small parts costs a start more than building it.
    // (A server that drops it once started holds no less: the allocator keeps the memory, and
    // the drop runs code from all over the binary, whose pages then stay resident.)
    let mut command = <Cli as clap::CommandFactory>::command();
    let cli = command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|mut matches| <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches))
        .unwrap_or_else(|e| {
            // Clap reads an empty `MCPTK_CONFIG` as `--config` given no value, and says so in
            // terms of the flag. Running on the embedded defaults instead could drop the policy
            // an operator meant to set, so it is an error that names the variable.
            let help = matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
            if !help && std::env::var_os("MCPTK_CONFIG").is_some_and(|v| v.is_empty()) {
                eprintln!(
                    "error: MCPTK_CONFIG is set but empty\nhint: set it to a gateway configuration file, or unset it \
                     to run on the embedded defaults"
                );
                std::process::exit(output::Exit::Usage as i32);
            }
            e.format(&mut command).exit()
        });
    std::mem::forget(command);
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Logs go to stderr: stdout is the protocol channel when serving. `config check --servers`
    // reports what the servers' tool lists show as its problems, which the gateway's warnings
    // would only repeat (unless MCPTK_LOG asks for them).
    let checking = matches!(&cli.command, Command::Config { action: admin::ConfigAction::Check { servers: true, .. } });
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(output::stderr_colour());
    let filter = log_filter(std::env::var("MCPTK_LOG").ok().as_deref(), if checking { "error" } else { "warn" });
    let subscriber = tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(logs, filter));
    // Spans go to OTLP whatever the log filter says.
    #[cfg(feature = "otel")]
    let subscriber = subscriber.with(TELEMETRY.get().and_then(|t| t.layer()));
    subscriber.init();
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
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            output::report_error(&e);
            output::exit_of(&e).into()
        }
    };
    // Everything the command started has been awaited. What may be left is a read of a terminal
    // on a blocking thread (a stop while serving a terminal's stdin), which no one waits for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    // What is still batched goes out before the process ends.
    #[cfg(feature = "otel")]
    if let Some(telemetry) = TELEMETRY.get() {
        telemetry.shutdown();
    }
    code
}

/// The log filter: `MCPTK_LOG`'s directives, else `default` (`warn`, for most commands). The
/// model client's own lines are off unless named (`MCPTK_LOG=warn,async_openai=warn`): they repeat
/// what the run's error says, with an endpoint's answer or error page whole where the error shows
/// its start.
fn log_filter(directives: Option<&str>, default: &str) -> tracing_subscriber::EnvFilter {
    let directives = directives.filter(|d| !d.trim().is_empty()).unwrap_or(default);
    let filter = tracing_subscriber::EnvFilter::try_new(directives).unwrap_or_else(|e| {
        output::note("warning", &format!("MCPTK_LOG is not a log filter ({e}); logging warnings"));
        tracing_subscriber::EnvFilter::new("warn")
    });
    if directives.contains("async_openai") {
        return filter;
    }
    filter.add_directive("async_openai=off".parse().expect("a valid directive"))
}

/// Installs the process's metrics recorder: Prometheus's when `prometheus` (its handle is
/// returned, for `/metrics`), and the OTLP bridge when the `OTEL_*` variables configure metrics.
/// Both are fed the same numbers.
fn install_metrics(prometheus: bool) -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    // Durations as histograms (`_bucket` series), which `histogram_quantile` reads and which add
    // up across replicas, rather than the exporter's default summaries of each process alone.
    let builder = || {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&mcp_gateway::DURATION_BUCKETS)
            .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new())
    };
    #[cfg(feature = "otel")]
    if let Some(telemetry) = TELEMETRY.get().filter(|t| t.metrics()) {
        let recorder = prometheus.then(|| builder().build_recorder());
        let handle = recorder.as_ref().map(|r| r.handle());
        return telemetry.install_recorder(recorder).then_some(handle).flatten();
    }
    prometheus.then(|| builder().install_recorder().ok()).flatten()
}

/// Seconds a call to one native server may take (`--call-timeout`).
const NATIVE_CALL_TIMEOUT_SECS: u64 = 300;

/// How long a call to `native` may take without `--call-timeout`: [`NATIVE_CALL_TIMEOUT_SECS`];
/// for Perplexity, 30 s more than `PERPLEXITY_TIMEOUT_MS` (read by `var`), so that its own
/// timeout, which says which variable to raise, ends a call rather than this one.
fn native_call_timeout(native: &NativeServer, var: impl Fn(&str) -> Option<String>) -> Duration {
    let default = Duration::from_secs(NATIVE_CALL_TIMEOUT_SECS);
    match native {
        NativeServer::Perplexity => mcp_perplexity::native::PerplexityConfig::from_vars(var)
            .map_or(default, |config| config.timeout.saturating_add(Duration::from_secs(30))),
        _ => default,
    }
}

/// How long after its start a server gives back what only the start needed (see [`after_start`]).
const STARTED_AFTER: Duration = Duration::from_millis(20);

/// A server, once started, gives back the pages of the binary that only its start needed (see
/// `start_pages`): a task of its runtime, [`STARTED_AFTER`] from now, off the path of a quick
/// start and its first answers (a longer start runs it in between, for about a millisecond).
/// `MCPTK_KEEP_START_PAGES=1` keeps them (to compare, or should a kernel ever mind).
fn after_start() {
    if std::env::var_os("MCPTK_KEEP_START_PAGES").is_some_and(|v| v == "1") {
        return;
    }
    #[cfg(target_os = "linux")]
    tokio::spawn(async move {
        tokio::time::sleep(STARTED_AFTER).await;
        match start_pages::release() {
            Ok(released) => tracing::debug!(?released, "gave back the pages only the start needed"),
            Err(why) => tracing::debug!(%why, "the pages the start needed stay"),
        }
    });
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Over HTTP, the gateway's metrics are served for Prometheus at /metrics (on stdio nothing
    // could read them); with OTLP configured, every command's metrics are exported too.
    let gateway_http =
        matches!(&cli.command, Command::Serve { native: None, http: HttpArgs { http: Some(_), .. }, .. });
    let prometheus = install_metrics(gateway_http);
    if matches!(cli.command, Command::Serve { .. }) {
        after_start();
    }
    match cli.command {
        Command::Serve { native: Some(native), config: _, page_size, max_message_bytes, audit, call_timeout, http } => {
            let default_call_timeout = native_call_timeout(&native, |name| std::env::var(name).ok());
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
            let call_timeout = call_timeout.map_or(default_call_timeout, Duration::from_secs);
            let registry = mcp_gateway::serve_alone(registry, server_name, audit, call_timeout);
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
            let extra = mcp_core::transport::http::Extra { admitted: None, open: Some(open) };
            http.serve(server, extra, max_message_bytes).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { native: None, config, page_size, max_message_bytes, audit, call_timeout, http } => {
            if audit.is_some() {
                return Err(output::usage(
                    "--audit is for one native server; the gateway's audit log is `audit.path` in its configuration",
                ));
            }
            if call_timeout.is_some() {
                return Err(output::usage(
                    "--call-timeout is for one native server; the gateway's are `timeouts.default_secs` and \
                     `timeouts.servers` in its configuration",
                ));
            }
            let config_path = config.clone();
            let config = admin::gateway_config(config.as_deref())?;
            admin::check_before_start(&config, &admin::config_file(config_path.as_deref()))?;
            // The HTTP settings (the tokens above all) are read before any server starts: one
            // that is wrong stops the start, with nothing started to stop.
            if http.http.is_some() {
                http.options(max_message_bytes)?;
            }
            // Over HTTP, metrics are served for Prometheus at /metrics (see `install_metrics`), with
            // their histograms drained every few seconds whether or not anyone scrapes.
            let metrics = prometheus;
            if let Some(handle) = metrics.clone() {
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        every.tick().await;
                        handle.run_upkeep();
                    }
                });
            }
            // Starting many servers takes a while: a bar on stderr when it is a terminal.
            let servers = config.servers().map(|s| s.enabled().count()).unwrap_or(0);
            let bar = output::Progress::new("starting servers", Some(servers as f64), output::Unit::Count);
            let shown = bar.clone();
            let gateway = mcp_gateway::Gateway::builder(config)
                .server(move |b| b.page_size(page_size).max_message_bytes(max_message_bytes))
                // Serving on: an optional server that hangs does not hold the start up, and a
                // client's handshake is answered while the others start (its lists wait for them).
                .wait_for_optional(false)
                .serve_while_starting(true)
                .on_started(move |name, done, total| shown.set(done as f64, Some(total as f64), Some(name)))
                .start()
                .await;
            let gateway = match gateway {
                Ok(gateway) => gateway,
                Err(e) => {
                    bar.finish();
                    return Err(e.into());
                }
            };
            let server = gateway.server().clone();
            tokio::spawn(async move {
                server.started().await;
                bar.finish();
            });
            // Probes open to whoever reaches the port (a kubelet carries no token), saying only
            // what state the gateway is in: /healthz is 503 while the audit log cannot make records
            // durable (every call is refused then) or once the start has failed, /readyz also
            // while the servers are starting or an upstream server is down.
            let open = probes(gateway.health_probe(), gateway.readiness_probe());
            // Behind the same checks as /mcp: /metrics for Prometheus.
            let admitted = metrics.map(|handle| {
                axum::Router::new().route("/metrics", axum::routing::get(move || std::future::ready(handle.render())))
            });
            let mut extra = mcp_core::transport::http::Extra { admitted, open: Some(open) };
            // The web console: its page open like the probes (it holds no data), its API behind
            // the same checks as /mcp.
            if http.http.is_some() && !http.no_console {
                let principals = http.options(max_message_bytes)?.tokens.into_values().collect();
                let stopping: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(|| draining().is_err());
                let options = mcp_gateway::console::ConsoleOptions {
                    calls: http.console_calls,
                    principals,
                    stopping: Some(stopping),
                };
                let console = gateway.console(options);
                extra.admitted = Some(match extra.admitted.take() {
                    Some(routes) => routes.merge(console.api),
                    None => console.api,
                });
                extra.open = extra.open.map(|routes| routes.merge(console.page));
            }
            let reloads = tokio::spawn(reload_on_hangup(gateway.reloader(), config_path));
            let served = http.serve(gateway.server().clone(), extra, max_message_bytes).await;
            reloads.abort();
            gateway.shutdown().await;
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent(args) => agent::run(args).await,
        Command::Config { action } => admin::config(action).await,
        Command::Audit { action } => admin::audit(action).await,
        Command::Pin { action } => admin::pin(action).await,
        Command::Tools { config, server, json } => list_tools(&config, server.as_deref(), json).await,
        Command::Call { config, server, tool, args, progress } => call(&config, &server, &tool, &args, progress).await,
        Command::Init(args) => init::run(&args).map(ExitCode::from),
        Command::Import(args) => import::run(&args).map(ExitCode::from),
        Command::Install(args) => install::run(&args).map(ExitCode::from),
        Command::Completions(args) => {
            manual::completions(&args, <Cli as clap::CommandFactory>::command()).map(ExitCode::from)
        }
        Command::Man(args) => manual::man(&args, <Cli as clap::CommandFactory>::command()).map(ExitCode::from),
    }
}

/// Reloads the gateway's configuration file on every SIGHUP, without dropping a client. A file
/// that does not load, or changes what is fixed at start, leaves the running configuration in
/// force (the log says why).
async fn reload_on_hangup(reloader: mcp_gateway::Reloader, path: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the configuration is not reloaded");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            let Some(path) = &path else {
                tracing::warn!("SIGHUP: nothing to reload: the gateway runs on its embedded defaults (no --config)");
                continue;
            };
            let reloaded = match admin::gateway_config(Some(path)) {
                Ok(config) => reloader.reload(config).await.map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            match reloaded {
                Ok(done) => tracing::info!(
                    config = %path.display(),
                    added = ?done.added,
                    restarted = ?done.restarted,
                    removed = ?done.removed,
                    kept = ?done.kept,
                    "SIGHUP: configuration reloaded"
                ),
                Err(e) => tracing::error!(
                    config = %path.display(),
                    error = %format!("{e:#}"),
                    "SIGHUP: the configuration was not reloaded; the running one stays in force"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (reloader, path);
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
        // Server processes lead groups of their own: the terminal's Ctrl-C did not reach them.
        mcp_core::client::kill_server_processes();
        std::process::exit(130);
    });
    tokio::time::sleep(delay).await;
}

async fn list_tools(args: &ConfigArgs, only: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let gateway = args.gateway(only == Some(BUILTIN)).await?;
    let mut listing = gateway.catalog(gateway.principal()).await;
    gateway.shutdown().await;
    if let Some(only) = only {
        let known: Vec<&str> = listing.iter().map(|(name, _)| name.as_str()).collect();
        let known = known.join(", ");
        listing.retain(|(name, _)| name == only);
        if listing.is_empty() {
            return Err(output::usage(format!(
                "no server named `{only}` (servers: {known}; `builtin` adds the demo tools)"
            )));
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
        let colour = output::stdout_colour();
        for (name, result) in &listing {
            match result {
                Ok(tools) => {
                    writeln!(out, "{} ({} tools)", output::paint(colour, output::Style::Bold, name), tools.len())?;
                    for t in tools {
                        let description = t.description.as_deref().unwrap_or("").lines().next().unwrap_or("");
                        writeln!(out, "  {:<32} {description}", t.name)?;
                    }
                }
                Err(e) => writeln!(out, "{name}: {} {e}", output::paint(colour, output::Style::Red, "error:"))?,
            }
        }
    }
    Ok(if failed { output::Exit::Tool.into() } else { ExitCode::SUCCESS })
}

async fn call(args: &ConfigArgs, server: &str, tool: &str, arguments: &str, lines: bool) -> anyhow::Result<ExitCode> {
    let arguments: JsonObject = match serde_json::from_str(arguments) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(output::usage(r#"--args must be a JSON object, e.g. --args '{"path": "note.txt"}'"#)),
        Err(e) => {
            return Err(output::usage(format!(
                r#"--args is not valid JSON ({e}); give an object, e.g. --args '{{"path": "note.txt"}}'"#
            )));
        }
    };
    let gateway = args.gateway(server == BUILTIN).await?;
    let catalog = gateway.catalog(gateway.principal()).await;
    let refusal = match catalog.iter().find(|(name, _)| name == server) {
        None => {
            let servers: Vec<&str> = catalog.iter().map(|(name, _)| name.as_str()).collect();
            Some(output::usage(format!(
                "no server named `{server}` (servers: {}; `builtin` adds the demo tools)",
                servers.join(", ")
            )))
        }
        Some((_, Err(down))) => Some(anyhow::anyhow!("the server `{server}` is not running: {down}")),
        Some(_) => None,
    };
    // A tool not listed for the caller may still be one the policy refuses (audited, status 4):
    // the pipeline decides; a name it does not know is then a usage error.
    let listed = catalog.iter().any(|(name, tools)| name == server && tools.iter().flatten().any(|t| t.name == tool));
    if let Some(refusal) = refusal {
        gateway.shutdown().await;
        return Err(refusal);
    }
    // Progress goes to stderr while the call runs: a bar on a terminal, lines with --progress;
    // the call goes through the gateway's pipeline (policy, audit, limits) as the local
    // principal, like a call from a stdio client.
    let bar = output::Progress::new(format!("{server}/{tool}"), None, output::Unit::Count);
    bar.spin();
    let shown = bar.clone();
    let progress: mcp_core::tool::ProgressFn = Arc::new(move |value, total, message| {
        shown.set(value, total, message.as_deref());
        if lines && !shown.visible() {
            let total = total.map(|t| format!("/{t}")).unwrap_or_default();
            let message = message.map(|m| format!(" {m}")).unwrap_or_default();
            eprintln!("progress {value}{total}{message}");
        }
    });
    let cx = ToolContext::detached().with_principal(gateway.principal().to_owned()).with_progress_fn(progress);
    let result = gateway.call(server, tool, arguments, cx).await;
    bar.finish();
    gateway.shutdown().await;
    let result =
        result.map_err(|e| if listed { anyhow::Error::from(e) } else { output::classified(output::Exit::Usage, e) })?;
    output::print_json(&result)?;
    Ok(if result.is_error() { output::Exit::Tool.into() } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexitys_own_timeout_ends_a_call_before_serves() {
        let vars = |timeout: &'static str| {
            move |name: &str| match name {
                "PERPLEXITY_API_KEY" => Some("k".to_owned()),
                "PERPLEXITY_TIMEOUT_MS" => Some(timeout.to_owned()),
                _ => None,
            }
        };
        let perplexity = NativeServer::Perplexity;
        assert_eq!(native_call_timeout(&perplexity, vars("900000")), Duration::from_secs(930));
        assert_eq!(native_call_timeout(&perplexity, vars("")), Duration::from_secs(330));
        // Unusable settings stop the server anyway; the usual default until then.
        assert_eq!(native_call_timeout(&perplexity, |_| None), Duration::from_secs(NATIVE_CALL_TIMEOUT_SECS));
        assert_eq!(native_call_timeout(&NativeServer::Builtin, vars("900000")), Duration::from_secs(300));
    }

    #[test]
    fn a_token_list_may_end_with_one_comma() {
        let principals = |list: &str| -> anyhow::Result<Vec<(String, String)>> {
            Ok(http_tokens("MCPTK_HTTP_TOKEN", None, Some(list))?.into_iter().collect())
        };
        let pair = |t: &str, p: &str| (t.to_owned(), p.to_owned());
        assert_eq!(principals("alice=a1,").expect("reads"), [pair("a1", "alice")]);
        assert_eq!(principals("alice=a1,bob=b1, \n").expect("reads"), [pair("a1", "alice"), pair("b1", "bob")]);
        // Only one: an empty entry elsewhere is still refused, and so is a list of nothing but commas.
        let refused = |list: &str| principals(list).expect_err("refused").to_string();
        assert!(refused("alice=a1,,").contains("entry 2 (of 2) is empty"), "{}", refused("alice=a1,,"));
        assert!(refused("alice=a1,,bob=b1").contains("entry 2 (of 3) is empty"));
        assert!(refused(",").contains("entry 1 (of 1) is empty"), "{}", refused(","));
    }

    #[test]
    fn serve_github_help_names_every_toolset_and_the_defaults() {
        use clap::CommandFactory as _;
        let mut cli = Cli::command();
        let github =
            cli.find_subcommand_mut("serve").and_then(|s| s.find_subcommand_mut("github")).expect("serve github");
        let toolsets = github.get_arguments().find(|a| a.get_id() == "toolsets").expect("--toolsets");
        let help = toolsets.get_help().map(ToString::to_string).unwrap_or_default();
        let words: Vec<&str> = help.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
        for name in mcp_github::native::TOOLSETS {
            assert!(words.contains(name), "`serve github --help` does not name toolset {name}: {help}");
        }
        let defaults = format!("`default` ({})", mcp_github::native::DEFAULT_TOOLSETS.join(", "));
        assert!(help.contains(&defaults), "{help}");
    }
}
