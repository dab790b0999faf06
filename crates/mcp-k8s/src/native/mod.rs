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
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
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
    /// Masks the user info of the URLs this context's requests go to (its server's, its proxy's)
    /// in a failure's causes, which may quote one. Only these: a user name such as `admin` would
    /// otherwise be masked in every error of every context.
    scrubber: mcp_core::config::Scrubber,
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
        let (kubeconfig, source) = load_kubeconfig(config.kubeconfig.as_deref(), std::env::var_os("KUBECONFIG"))?;
        let default_context = config
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
            .or_else(|| kubeconfig.contexts.first().map(|c| c.name.clone()))
            .ok_or_else(|| Error::Config(format!("{source} has no context")))?;
        if !kubeconfig.contexts.iter().any(|c| c.name == default_context) {
            return Err(Error::Config(format!("{source} has no context named {default_context:?}")));
        }
        let env_proxy = EnvProxy::from_env();
        // What a context's error may quote: the user info of a server's or a proxy's URL (the
        // kubeconfig's, and the environment's proxy, which kube picks up too).
        let urls = kubeconfig.clusters.iter().filter_map(|c| c.cluster.as_ref());
        let urls = urls.flat_map(|c| c.server.iter().chain(c.proxy_url.iter()));
        let urls = urls.chain(env_proxy.https_proxy.as_ref().map(|(_, url)| url));
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
                Ok(mut client_config) => {
                    let namespace = client_config.default_namespace.clone();
                    match proxy_refusal(&kubeconfig, &named.name, &mut client_config, &env_proxy) {
                        Some(reason) => Err(reason),
                        None => Client::try_from(client_config)
                            .map(|client| Cluster {
                                client,
                                namespace,
                                scrubber: context_scrubber(&kubeconfig, &named.name, &env_proxy),
                            })
                            .map_err(|e| first_line(&e)),
                    }
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
            return Err(Error::Config(format!("the default context cannot be served: {reason}")));
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

/// The kubeconfig as client-go loads it, and how to name it in an error: the `--kubeconfig` file
/// alone (which must exist), else every file of `KUBECONFIG` merged, else `~/.kube/config`.
///
/// kube's `Kubeconfig::from_env` also merges `KUBECONFIG`, but it fails on the first missing file
/// and on files whose `kind` or `apiVersion` differ, and it lets an empty `current-context` win;
/// client-go (so kubectl and the Go server) skips missing files, ignores those two fields and
/// takes the first non-empty `current-context`. The first file to name a cluster, user or
/// context wins it whole (kube's `merge`, as client-go), and each file's relative paths are
/// resolved from its own directory (kube's `read_from`, as client-go).
fn load_kubeconfig(explicit: Option<&Path>, env: Option<OsString>) -> Result<(Kubeconfig, String)> {
    let read = |path: &Path| {
        Kubeconfig::read_from(path).map(without_empty_current_context).map_err(|e| {
            // Not the causes: a YAML error can quote the file, token and all.
            Error::Config(format!("cannot read the kubeconfig {}: {}", path.display(), first_line(&e)))
        })
    };
    if let Some(path) = explicit {
        return Ok((read(path)?, format!("the kubeconfig {}", path.display())));
    }
    let paths: Vec<PathBuf> = match env.filter(|v| !v.is_empty()) {
        Some(value) => std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()).collect(),
        None => Vec::new(),
    };
    if paths.is_empty() {
        let path = home_kubeconfig()?;
        return Ok((read(&path)?, format!("the kubeconfig {}", path.display())));
    }
    let mut merged: Option<Kubeconfig> = None;
    let mut found = Vec::new();
    for path in &paths {
        if matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            continue;
        }
        let mut next = read(path)?;
        found.push(path.display().to_string());
        merged = Some(match merged {
            None => next,
            Some(first) => {
                // client-go ignores these two fields; kube's merge would refuse a difference.
                (next.kind, next.api_version) = (None, None);
                first
                    .merge(next)
                    .map_err(|e| Error::Config(format!("cannot merge the kubeconfig {}: {e}", path.display())))?
            }
        });
    }
    let listed = || paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let merged = merged.ok_or_else(|| {
        Error::Config(format!("no kubeconfig: none of the files of KUBECONFIG exists ({})", listed()))
    })?;
    let source = match found.as_slice() {
        [one] => format!("the kubeconfig {one}"),
        many => format!("the kubeconfigs {} (merged from KUBECONFIG)", many.join(", ")),
    };
    Ok((merged, source))
}

/// client-go treats an empty `current-context` as unset, so a later file's can win.
fn without_empty_current_context(mut kubeconfig: Kubeconfig) -> Kubeconfig {
    kubeconfig.current_context = kubeconfig.current_context.filter(|c| !c.is_empty());
    kubeconfig
}

/// The proxy settings of the environment, which kube applies to a cluster without `proxy-url`.
#[derive(Default)]
struct EnvProxy {
    /// The variable that set it (`HTTPS_PROXY` or `https_proxy`) and its value.
    https_proxy: Option<(&'static str, String)>,
    /// `NO_PROXY` (or `no_proxy`).
    no_proxy: Option<String>,
}

impl EnvProxy {
    fn from_env() -> Self {
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(|v| (name, v));
        Self {
            https_proxy: var("HTTPS_PROXY").or_else(|| var("https_proxy")),
            no_proxy: var("NO_PROXY").or_else(|| var("no_proxy")).map(|(_, v)| v),
        }
    }
}

/// Masks the user and password of the URLs `context`'s requests go to: its cluster's server, and
/// the proxy of the environment (a proxy-url is refused, see [`proxy_refusal`]).
fn context_scrubber(kubeconfig: &Kubeconfig, context: &str, env: &EnvProxy) -> mcp_core::config::Scrubber {
    let cluster = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|ctx| kubeconfig.clusters.iter().find(|c| c.name == ctx.cluster))
        .and_then(|c| c.cluster.as_ref());
    let urls = cluster.into_iter().flat_map(|c| c.server.iter().chain(c.proxy_url.iter()));
    let urls = urls.chain(env.https_proxy.as_ref().map(|(_, url)| url));
    mcp_core::config::Scrubber::new(urls.flat_map(|url| mcp_core::config::url_credentials(url)))
}

/// Why `context` cannot be served when its cluster is to be reached through a proxy: kube is
/// built without its `http-proxy` feature, so a proxy cannot be used at all, and kube's own
/// error (`configured proxy http://user:password@... requires the disabled feature`) quotes the
/// proxy's password. A proxy that comes from `HTTPS_PROXY` is dropped where Go's
/// `http.ProxyFromEnvironment` (client-go's) would not use it either: for a loopback server and
/// one `NO_PROXY` names; the server is then reached directly.
fn proxy_refusal(kubeconfig: &Kubeconfig, context: &str, config: &mut Config, env: &EnvProxy) -> Option<String> {
    let cluster_name = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let cluster = kubeconfig.clusters.iter().find(|c| c.name == cluster_name).and_then(|c| c.cluster.as_ref());
    if let Some(proxy) = cluster.and_then(|c| c.proxy_url.as_deref()).filter(|p| !p.trim().is_empty()) {
        return Some(format!(
            "its cluster {cluster_name:?} is reached through the proxy {} (its proxy-url), and this server cannot use a proxy (kube is built without its http-proxy feature)",
            mcp_core::config::display_url(proxy)
        ));
    }
    config.proxy_url.as_ref()?;
    let (variable, proxy) = env.https_proxy.as_ref()?;
    let host = config.cluster_url.host().unwrap_or_default();
    let default_port = if config.cluster_url.scheme_str() == Some("http") { 80 } else { 443 };
    let port = config.cluster_url.port_u16().unwrap_or(default_port);
    if bypasses_proxy(host, port, env.no_proxy.as_deref().unwrap_or_default()) {
        config.proxy_url = None;
        return None;
    }
    Some(format!(
        "its server {host} would be reached through the proxy {} ({variable} is set), and this server cannot use a proxy (kube is built without its http-proxy feature): add {host} to NO_PROXY to reach it directly",
        mcp_core::config::display_url(proxy)
    ))
}

/// Whether Go's `http.ProxyFromEnvironment` reaches `host` directly: a loopback host, or one
/// `no_proxy` names (`*`, an IP, a CIDR, a domain and its subdomains, `.domain` for subdomains
/// only, each optionally with `:port`).
fn bypasses_proxy(host: &str, port: u16, no_proxy: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let ip = host.parse::<std::net::IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        if let Some((net, bits)) = entry.split_once('/') {
            return match (net.parse::<std::net::IpAddr>(), bits.parse::<u32>(), ip) {
                (Ok(net), Ok(bits), Some(ip)) => in_cidr(ip, net, bits),
                _ => false,
            };
        }
        let entry = entry.trim_start_matches('[');
        let (name, entry_port) = match entry.rsplit_once(':') {
            Some((name, p)) if entry.parse::<std::net::IpAddr>().is_err() => {
                (name.trim_end_matches(']'), p.parse::<u16>().ok())
            }
            _ => (entry.trim_end_matches(']'), None),
        };
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        match name.parse::<std::net::IpAddr>() {
            Ok(entry_ip) => ip == Some(entry_ip),
            // `*.example.com` is `.example.com`, as Go reads it.
            Err(_) => match name.strip_prefix('*').unwrap_or(name).strip_prefix('.') {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == name || host.ends_with(&format!(".{name}")),
            },
        }
    })
}

fn in_cidr(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u32) -> bool {
    use std::net::IpAddr;
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// An error and its causes joined as `error: cause: cause` (anyhow's `{:#}`). kube's errors say
/// only their own layer (`ServiceError: client error (Connect)` for any connection failure); the
/// causes say what went wrong: the certificate is not trusted, the host is unknown, the
/// connection was refused. A cause whose text is already in the message is left out.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(current: &str, contexts: &[(&str, &str)], clusters: &[(&str, &str)]) -> String {
        let mut text = format!("apiVersion: v1\nkind: Config\ncurrent-context: \"{current}\"\nclusters:\n");
        for (name, server) in clusters {
            text.push_str(&format!("- name: {name}\n  cluster:\n    server: {server}\n"));
        }
        text.push_str("contexts:\n");
        for (name, cluster) in contexts {
            text.push_str(&format!("- name: {name}\n  context:\n    cluster: {cluster}\n    user: u\n"));
        }
        text + "users:\n- name: u\n  user:\n    token: t\n"
    }

    #[test]
    fn kubeconfig_files_merge_as_client_go_merges_them() {
        let dir = tempfile::tempdir().expect("a directory");
        let (missing, first, second, third) =
            (dir.path().join("missing"), dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        // An empty current-context is unset; the first file to name a context or cluster wins it.
        std::fs::write(&first, kubeconfig("", &[("shared", "one")], &[("one", "https://one.example")])).expect("a");
        std::fs::write(
            &second,
            kubeconfig(
                "from-b",
                &[("shared", "two"), ("only-b", "two")],
                &[("one", "https://overridden.example"), ("two", "https://two.example")],
            ),
        )
        .expect("b");
        // Another apiVersion is not refused (client-go ignores it), nor is its current-context used.
        std::fs::write(
            &third,
            kubeconfig("from-c", &[("only-c", "one")], &[]).replace("apiVersion: v1", "apiVersion: v2"),
        )
        .expect("c");
        let env = std::env::join_paths([&missing, &first, &second, &third]).expect("paths");
        let (merged, source) = load_kubeconfig(None, Some(env)).expect("merged, the missing file skipped");
        assert_eq!(merged.current_context.as_deref(), Some("from-b"));
        let names: Vec<&str> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["shared", "only-b", "only-c"]);
        let shared = merged.contexts[0].context.as_ref().expect("a context");
        assert_eq!(shared.cluster, "one", "the first file's context wins whole");
        let servers: Vec<_> = merged
            .clusters
            .iter()
            .map(|c| c.cluster.as_ref().and_then(|c| c.server.clone()).unwrap_or_default())
            .collect();
        assert_eq!(servers, ["https://one.example", "https://two.example"]);
        assert!(source.contains(&first.display().to_string()) && !source.contains("missing"), "{source}");

        // A missing first file alone is skipped too.
        let env = std::env::join_paths([&missing, &second]).expect("paths");
        let (one, source) = load_kubeconfig(None, Some(env)).expect("the second file");
        assert_eq!((one.contexts.len(), source), (2, format!("the kubeconfig {}", second.display())));

        // All missing: an error naming them.
        let other = dir.path().join("also-missing");
        let env = std::env::join_paths([&missing, &other]).expect("paths");
        let error = load_kubeconfig(None, Some(env)).expect_err("nothing to read").to_string();
        assert!(error.contains(&missing.display().to_string()) && error.contains("also-missing"), "{error}");

        // `--kubeconfig` is one file, which must exist, whatever KUBECONFIG says.
        let env = std::env::join_paths([&first]).expect("paths");
        let error = load_kubeconfig(Some(&missing), Some(env)).expect_err("missing").to_string();
        assert!(
            error.contains("cannot read the kubeconfig") && error.contains(&missing.display().to_string()),
            "{error}"
        );
        // A file that exists but does not parse stops the merge, named.
        std::fs::write(&other, "clusters: [").expect("written");
        let env = std::env::join_paths([&first, &other]).expect("paths");
        let error = load_kubeconfig(None, Some(env)).expect_err("unparsable").to_string();
        assert!(error.contains("also-missing"), "{error}");
    }

    #[test]
    fn an_environment_proxy_is_skipped_where_go_skips_it() {
        for (host, port, no_proxy) in [
            ("127.0.0.1", 6443, ""),
            ("[::1]", 6443, ""),
            ("localhost", 443, ""),
            ("api.example.com", 443, "*"),
            ("api.example.com", 443, "example.com"),
            ("example.com", 443, "other.org, example.com"),
            ("api.example.com", 443, ".example.com"),
            ("api.example.com", 443, "*.example.com"),
            ("api.example.com", 6443, "api.example.com:6443"),
            ("10.1.2.3", 6443, "10.0.0.0/8"),
            ("10.1.2.3", 6443, "10.1.2.3"),
            ("[fd00::1]", 6443, "fd00::/8"),
        ] {
            assert!(bypasses_proxy(host, port, no_proxy), "{host}:{port} with NO_PROXY={no_proxy}");
        }
        for (host, port, no_proxy) in [
            ("api.example.com", 443, ""),
            ("example.com", 443, ".example.com"),
            ("notexample.com", 443, "example.com"),
            ("api.example.com", 443, "api.example.com:6443"),
            ("11.1.2.3", 6443, "10.0.0.0/8"),
            ("10.1.2.3", 6443, "10.0.0.0/x"),
        ] {
            assert!(!bypasses_proxy(host, port, no_proxy), "{host}:{port} with NO_PROXY={no_proxy}");
        }
    }

    #[tokio::test]
    async fn an_environment_proxy_is_refused_by_name_and_without_its_password() {
        let text = kubeconfig(
            "remote",
            &[("remote", "r"), ("local", "l")],
            &[("r", "https://api.example.com:6443"), ("l", "https://127.0.0.1:6443")],
        );
        let kubeconfig = Kubeconfig::from_yaml(&text).expect("a kubeconfig");
        let env =
            EnvProxy { https_proxy: Some(("HTTPS_PROXY", "http://me:Pr0xyPw@proxy.corp:3128".into())), no_proxy: None };
        for (context, refused) in [("remote", true), ("local", false)] {
            let options = KubeConfigOptions { context: Some(context.into()), ..Default::default() };
            let mut config = Config::from_custom_kubeconfig(kubeconfig.clone(), &options).await.expect("a config");
            // As kube sets it from HTTPS_PROXY (the test does not touch the environment).
            config.proxy_url = Some("http://me:Pr0xyPw@proxy.corp:3128".parse().expect("a URI"));
            let reason = proxy_refusal(&kubeconfig, context, &mut config, &env);
            assert_eq!(reason.is_some(), refused, "{context}: {reason:?}");
            match reason {
                Some(reason) => {
                    assert!(reason.contains("HTTPS_PROXY") && reason.contains("NO_PROXY"), "{reason}");
                    assert!(reason.contains("http://proxy.corp:3128") && !reason.contains("Pr0xyPw"), "{reason}");
                }
                None => assert!(config.proxy_url.is_none(), "a loopback server is reached directly"),
            }
        }
    }

    #[test]
    fn an_error_says_its_causes_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = kube::Error::Service(Box::new(io));
        assert_eq!(chain(&error), "ServiceError: connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&error), "outer: inner");
    }
}
