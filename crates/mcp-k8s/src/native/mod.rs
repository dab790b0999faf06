//! The native Kubernetes server: kubernetes-mcp-server's default tools (toolsets `core` and
//! `config`) on the Kubernetes API through kube, with the same names, argument shapes and
//! result texts (YAML, and tables for lists, as the Go server prints them).
//!
//! Safety is enforced when a tool is called, not only by leaving it out of the list:
//! `read_only` keeps only the read-only tools, `disable_destructive` drops the destructive ones,
//! `denied_resources` refuses every call that touches a denied kind, and a Secret's `data` is
//! redacted unless `allow_secret_data` is set. The kubeconfig's credentials never appear in a
//! result, an error, a log line or `Debug` output (`configuration_view` redacts them).
//!
//! `pods_exec` runs an argv (never through a shell) over the API server's websocket stream
//! (`v5.channel.k8s.io`, else `v4.channel.k8s.io`), keeps at most [`MAX_EXEC_OUTPUT`] bytes of
//! each stream (closing the stream, which ends the command, past that) and reports failures as
//! client-go does (`command terminated with exit code 3`). Long calls report progress
//! (`notifications/progress`) to a caller that sent a progress token: `pods_exec` each piece of
//! output as it arrives (the bytes so far; stderr pieces prefixed `stderr: `),
//! `resources_create_or_update` each document applied (`applied ConfigMap default/one (1/3)`),
//! `pods_log` the read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_k8s::native::{K8sConfig, K8sServer};
//! let server = K8sServer::connect(K8sConfig { read_only: true, ..K8sConfig::default() }).await?;
//! mcp_core::Server::builder(mcp_core::protocol::Implementation::new("kubernetes", "1"), server.registry())
//!     .build()
//!     .serve_stdio()
//!     .await?;
//! # Ok(()) }
//! ```

mod tools;
mod top;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::{Error, Result};

pub use tools::MAX_EXEC_OUTPUT;

/// A kind refused by `denied_resources`: every version of `kind` in `group` (`""` is the core
/// group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedResource {
    /// The API group (`""` for core, `rbac.authorization.k8s.io`, ...).
    pub group: String,
    /// The kind (`Secret`, `Role`, ...).
    pub kind: String,
}

impl std::str::FromStr for DeniedResource {
    type Err = Error;

    /// `Kind` (core group), `group/Kind`, `version/Kind` (core) or `group/version/Kind`.
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let is_version =
            |p: &str| p.strip_prefix('v').is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        let (group, kind) = match parts.as_slice() {
            [kind] => ("", *kind),
            [version, kind] if is_version(version) => ("", *kind),
            [group, kind] => (*group, *kind),
            [group, _version, kind] => (*group, *kind),
            _ => ("", ""),
        };
        if kind.is_empty() || !kind.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(Error::Config(format!(
                "denied resource {s:?} is not `Kind`, `group/Kind` or `group/version/Kind` (a kind starts with a capital)"
            )));
        }
        Ok(Self { group: group.to_owned(), kind: kind.to_owned() })
    }
}

/// How list tools print (the Go server's `--list-output`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListOutput {
    /// A table as `kubectl get -o wide --show-labels` prints it, from the API server's
    /// server-side tables (the Go server's default).
    #[default]
    Table,
    /// The objects as a YAML list.
    Yaml,
}

impl std::str::FromStr for ListOutput {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "table" => Ok(Self::Table),
            "yaml" => Ok(Self::Yaml),
            other => Err(Error::Config(format!("invalid output name: {other}, valid names are: yaml, table"))),
        }
    }
}

/// How the native server reaches the cluster and what it allows.
#[derive(Debug, Clone, Default)]
pub struct K8sConfig {
    /// The kubeconfig file (`--kubeconfig`); `KUBECONFIG` or `~/.kube/config` when unset.
    pub kubeconfig: Option<PathBuf>,
    /// The context to use by default; the kubeconfig's current context when unset.
    pub context: Option<String>,
    /// Only the read-only tools (`--read-only`).
    pub read_only: bool,
    /// No destructive tools (`--disable-destructive`).
    pub disable_destructive: bool,
    /// Kinds no tool may read or write.
    pub denied_resources: Vec<DeniedResource>,
    /// Show Secrets' `data` and `stringData` values (redacted by default).
    pub allow_secret_data: bool,
    /// How list tools print (`--list-output`), a table by default.
    pub list_output: ListOutput,
}

/// The native tools over one kubeconfig.
#[derive(Clone)]
pub struct K8sServer {
    inner: Arc<Inner>,
}

struct Inner {
    clusters: BTreeMap<String, Cluster>,
    /// Contexts not served, and why.
    refused: BTreeMap<String, String>,
    default_context: String,
    kubeconfig: Kubeconfig,
    config: K8sConfig,
}

struct Cluster {
    client: Client,
    namespace: String,
}

impl fmt::Debug for K8sServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("K8sServer")
            .field("contexts", &self.inner.clusters.keys().collect::<Vec<_>>())
            .field("default_context", &self.inner.default_context)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl K8sServer {
    /// What a client is told about the tools.
    pub const INSTRUCTIONS: &'static str = "Kubernetes: list, read, create or update, scale and delete resources, \
        read pod logs, run pods and read events in the clusters of the configured kubeconfig. Results are YAML.";

    /// Reads the kubeconfig and prepares a client per context (nothing is contacted yet).
    pub async fn connect(config: K8sConfig) -> Result<Self> {
        let path = match &config.kubeconfig {
            Some(path) => path.clone(),
            None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                Some(v) => std::env::split_paths(&v).next().unwrap_or_default(),
                None => home_kubeconfig()?,
            },
        };
        let kubeconfig = Kubeconfig::read_from(&path)
            .map_err(|e| Error::Config(format!("cannot read the kubeconfig {}: {}", path.display(), first_line(&e))))?;
        let default_context = config
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .or_else(|| kubeconfig.contexts.first().map(|c| c.name.clone()))
            .ok_or_else(|| Error::Config(format!("the kubeconfig {} has no context", path.display())))?;
        if !kubeconfig.contexts.iter().any(|c| c.name == default_context) {
            return Err(Error::Config(format!(
                "the kubeconfig {} has no context named {default_context:?}",
                path.display()
            )));
        }
        // What a context's error may quote: the user info of a server's or a proxy's URL.
        let urls = kubeconfig.clusters.iter().filter_map(|c| c.cluster.as_ref());
        let urls = urls.flat_map(|c| c.server.iter().chain(c.proxy_url.iter()));
        let scrubber = mcp_core::config::Scrubber::new(urls.flat_map(|url| mcp_core::config::url_credentials(url)));
        let mut clusters = BTreeMap::new();
        let mut refused = BTreeMap::new();
        for named in &kubeconfig.contexts {
            // client-go sends a kubeconfig's credentials only over TLS; so does this server:
            // a context whose server is plain http and whose user has credentials is refused.
            if let Some(reason) = cleartext_credentials(&kubeconfig, &named.name) {
                refused.insert(named.name.clone(), reason);
                continue;
            }
            // A context that cannot be served is refused, and says why when it is asked for; the
            // others are served (only the default context's failure stops the server, below).
            let options = KubeConfigOptions { context: Some(named.name.clone()), ..Default::default() };
            let built = match Config::from_custom_kubeconfig(kubeconfig.clone(), &options).await {
                Ok(client_config) => {
                    let namespace = client_config.default_namespace.clone();
                    Client::try_from(client_config)
                        .map(|client| Cluster { client, namespace })
                        .map_err(|e| first_line(&e))
                }
                Err(e) => Err(first_line(&e)),
            };
            match built {
                Ok(cluster) => {
                    clusters.insert(named.name.clone(), cluster);
                }
                Err(e) => {
                    refused.insert(named.name.clone(), format!("context {:?}: {}", named.name, scrubber.text(&e)));
                }
            }
        }
        if let Some(reason) = refused.get(&default_context) {
            return Err(Error::Config(reason.clone()));
        }
        Ok(Self { inner: Arc::new(Inner { clusters, refused, default_context, kubeconfig, config }) })
    }

    /// A registry with every tool this configuration allows, ready to serve.
    pub fn registry(&self) -> mcp_core::Registry {
        let mut registry = mcp_core::Registry::new();
        self.register(&mut registry);
        registry
    }

    /// Adds every tool this configuration allows to `registry`.
    pub fn register(&self, registry: &mut mcp_core::Registry) {
        tools::register(self.inner.clone(), registry);
    }
}

/// Why `context` is not served when its cluster is reached over plain http with credentials.
fn cleartext_credentials(kubeconfig: &Kubeconfig, context: &str) -> Option<String> {
    let named = kubeconfig.contexts.iter().find(|c| c.name == context)?;
    let ctx = named.context.as_ref()?;
    let server = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())?;
    if !server.to_ascii_lowercase().starts_with("http://") {
        return None;
    }
    let user = ctx.user.as_deref()?;
    let auth = kubeconfig.auth_infos.iter().find(|a| a.name == user).and_then(|a| a.auth_info.as_ref())?;
    let has_credentials = auth.token.is_some()
        || auth.token_file.is_some()
        || auth.password.is_some()
        || auth.exec.is_some()
        || auth.auth_provider.is_some();
    has_credentials.then(|| {
        format!(
            "context {context:?}: its server {} is plain http, and credentials are sent only over https",
            mcp_core::config::display_url(&server)
        )
    })
}

fn home_kubeconfig() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".kube").join("config"))
        .ok_or_else(|| Error::Config("no kubeconfig: pass --kubeconfig, or set KUBECONFIG or HOME".into()))
}

/// An error's first line: kube's configuration errors can quote a file, never more.
fn first_line(error: &dyn fmt::Display) -> String {
    error.to_string().lines().next().unwrap_or_default().to_owned()
}
