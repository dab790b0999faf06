//! The safety rules every container-creating call passes, decided before anything reaches the
//! engine. Each refusal names its rule.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::ContainerSpec;

/// The label every container this server creates carries (its value is [`CREATED_BY`]), set
/// whatever the caller's labels say. [`Safety::check_bind_at_start`] holds such a container's
/// bind sources to the paths checked when it was created.
pub const CREATED_LABEL: &str = "mcptk.created-by";
/// The value of [`CREATED_LABEL`].
pub const CREATED_BY: &str = "mcptk-docker";

/// One safety rule, by the name refusals carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// `no-privileged`: no container runs privileged.
    NoPrivileged,
    /// `no-added-capabilities`: no capability beyond the engine's default set.
    NoAddedCapabilities,
    /// `no-host-network`: no container shares the host's (or another container's) network namespace.
    NoHostNetwork,
    /// `no-host-pid`: no container shares the host's (or another container's) PID namespace.
    NoHostPid,
    /// `host-path-allowlist`: host paths (bind mounts, build contexts) only under the allowed roots.
    HostPathAllowlist,
    /// `image-allowlist`: when an allowlist is set, only images on it.
    ImageAllowlist,
    /// `network-blocked`: when networking is blocked, containers get none and join no network.
    NetworkBlocked,
    /// `resource-limits`: a caller's memory, CPU and process limits are above 0 (to the engine 0
    /// or less means no limit), and memory is no more than the configured limit.
    ResourceLimits,
}

impl Rule {
    /// The rule's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoPrivileged => "no-privileged",
            Self::NoAddedCapabilities => "no-added-capabilities",
            Self::NoHostNetwork => "no-host-network",
            Self::NoHostPid => "no-host-pid",
            Self::HostPathAllowlist => "host-path-allowlist",
            Self::ImageAllowlist => "image-allowlist",
            Self::NetworkBlocked => "network-blocked",
            Self::ResourceLimits => "resource-limits",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A call a rule refused: which rule, and what in the call broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: Rule,
    /// What was refused.
    pub detail: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused by safety rule `{}`: {}; nothing was created", self.rule, self.detail)
    }
}

fn refuse(rule: Rule, detail: impl Into<String>) -> Refusal {
    Refusal { rule, detail: detail.into() }
}

/// The limits a container gets when the caller sets none, and the most it may ask for: a caller
/// may set its own, above 0 and no higher than these (a limit of 0 or less sets no ceiling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory, in bytes (512 MiB by default).
    pub memory_bytes: i64,
    /// CPU, in units of 10^-9 CPUs (one CPU by default).
    pub nano_cpus: i64,
    /// Processes at once (256 by default).
    pub pids: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory_bytes: 512 * 1024 * 1024, nano_cpus: 1_000_000_000, pids: 256 }
    }
}

/// The safety settings: what is allowed beyond the fixed rules, and the default limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Safety {
    /// Roots under which host paths may be bind-mounted or used as a build context; none by
    /// default. Resolved (symlinks followed) when the server starts.
    pub allowed_host_paths: Vec<PathBuf>,
    /// When set, the only images that may run, be pulled, pushed or built: `repo` allows every
    /// tag of it, `repo:tag` that tag alone, and a trailing `*` any name that starts with the rest.
    pub allowed_images: Option<Vec<String>>,
    /// Limits applied where the caller sets none.
    pub limits: Limits,
    /// No networking at all: every container gets network mode `none`.
    pub block_network: bool,
}

impl Safety {
    /// The allowed roots resolved, so that a bind source is compared with real paths component
    /// by component; a root that does not exist is an error naming it.
    pub(crate) fn resolved(mut self) -> Result<Self, String> {
        for root in &mut self.allowed_host_paths {
            *root = std::fs::canonicalize(&*root)
                .map_err(|e| format!("allowed host path {} cannot be resolved: {e}", root.display()))?;
        }
        Ok(self)
    }

    /// Checks a container's settings against every rule.
    pub fn check_container(&self, spec: &ContainerSpec) -> Result<(), Refusal> {
        self.check_image(&spec.image)?;
        if spec.privileged == Some(true) {
            return Err(refuse(Rule::NoPrivileged, "privileged containers are not allowed"));
        }
        if let Some(caps) = spec.cap_add.as_ref().filter(|c| !c.is_empty()) {
            return Err(refuse(Rule::NoAddedCapabilities, format!("cannot add capabilities {}", caps.join(", "))));
        }
        for mode in [&spec.network, &spec.network_mode].into_iter().flatten() {
            check_network_mode(mode)?;
            if self.block_network && mode != "none" {
                return Err(refuse(Rule::NetworkBlocked, format!("cannot join network `{mode}`")));
            }
        }
        if let Some(mode) = spec.pid_mode.as_deref().filter(|m| !m.is_empty() && *m != "private") {
            let detail = format!(
                "PID namespace `{mode}` is not allowed: a container gets its own (`private`, or leave `pid_mode` unset)"
            );
            return Err(refuse(Rule::NoHostPid, detail));
        }
        if self.block_network && spec.ports.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(refuse(Rule::NetworkBlocked, "cannot publish ports"));
        }
        self.check_limits(spec)?;
        self.host_binds(spec)?;
        Ok(())
    }

    /// A caller's limits: to the engine a limit of 0 or less means none at all, so each must be
    /// above 0, and none may exceed the configured one (the default is the ceiling too: the
    /// crate cannot tell a configured limit from the default one). A configured limit of 0 or
    /// less sets no ceiling.
    fn check_limits(&self, spec: &ContainerSpec) -> Result<(), Refusal> {
        let limits = self.limits;
        let asked = [
            ("mem_limit", spec.mem_limit, limits.memory_bytes, "memory limit", " bytes"),
            ("nano_cpus", spec.nano_cpus, limits.nano_cpus, "CPU limit", " nano-CPUs"),
            ("pids_limit", spec.pids_limit, limits.pids, "process limit", " processes"),
        ];
        for (field, value, ceiling, what, unit) in asked {
            let Some(value) = value else { continue };
            if value <= 0 {
                let detail = format!("`{field}` {value} would remove the limit: it must be above 0");
                return Err(refuse(Rule::ResourceLimits, detail));
            }
            if ceiling > 0 && value > ceiling {
                let also = match field {
                    "mem_limit" => format!(" ({} MiB)", ceiling / (1024 * 1024)),
                    "nano_cpus" => format!(" ({} CPUs)", ceiling as f64 / 1e9),
                    _ => String::new(),
                };
                let detail = format!("`{field}` {value}{unit} is above the configured {what} of {ceiling}{unit}{also}");
                return Err(refuse(Rule::ResourceLimits, detail));
            }
        }
        Ok(())
    }

    /// Checks a host path (a bind source or a build context) against the allowed roots.
    pub fn check_host_path(&self, path: &str, what: &str) -> Result<PathBuf, Refusal> {
        let requested = Path::new(path);
        if !requested.is_absolute() {
            return Err(refuse(Rule::HostPathAllowlist, format!("{what} source {path:?} is not an absolute path")));
        }
        let resolved = std::fs::canonicalize(requested).map_err(|_| {
            refuse(Rule::HostPathAllowlist, format!("{what} source {path:?} does not exist under an allowed root"))
        })?;
        if self.allowed_host_paths.iter().any(|root| resolved.starts_with(root)) {
            Ok(resolved)
        } else {
            Err(refuse(Rule::HostPathAllowlist, format!("{what} source {path:?} is not under an allowed host path")))
        }
    }

    /// Checks a bind source as the engine holds it, just before the engine starts the container
    /// and resolves the path again (following symlinks). A source that is not a path (a named
    /// volume) is not a host path: `Ok(None)`. Otherwise the path it resolves to now, if the
    /// container may have it:
    ///
    /// - A container this server created (`created_here`: it carries [`CREATED_LABEL`]) holds
    ///   the resolved path that was checked when it was created. The source must still resolve
    ///   to itself (a symlink anywhere in it now was put there since, and may point anywhere)
    ///   and lie under an allowed root.
    /// - Any other container (made with `docker run`, say) is judged by where its source
    ///   resolves now, symlinks followed as the engine will follow them: under an allowed root
    ///   it may start, since the model could bind that path anyway; outside every root it may
    ///   not, since starting it would hand the model host access it cannot get otherwise.
    pub fn check_bind_at_start(&self, source: &str, created_here: bool) -> Result<Option<PathBuf>, Refusal> {
        if !source.starts_with('/') {
            return Ok(None);
        }
        let resolved = std::fs::canonicalize(source).map_err(|e| {
            refuse(Rule::HostPathAllowlist, format!("bind mount source {source:?} cannot be resolved: {e}"))
        })?;
        let shown = resolved.display().to_string();
        let allow = format!(
            "to allow it, start the server with `--allow-path {shown}` (`allowed_host_paths` in the gateway \
             configuration)"
        );
        let under_root = self.allowed_host_paths.iter().any(|root| resolved.starts_with(root));
        if created_here && resolved != Path::new(source) {
            let detail = format!(
                "bind mount source {source:?} now resolves to {shown:?}: this server created the container with \
                 that path resolved, so a symlink was put in its path after it was checked"
            );
            return Err(refuse(Rule::HostPathAllowlist, detail));
        }
        if !under_root {
            let whose = if created_here {
                "the allowed host paths have changed since this server created the container"
            } else {
                "this server did not create the container, and starting it would give it that path"
            };
            let detail = format!(
                "bind mount source {source:?} resolves to {shown:?}, which is not under an allowed host path \
                 ({whose}); {allow}"
            );
            return Err(refuse(Rule::HostPathAllowlist, detail));
        }
        Ok(Some(resolved))
    }

    /// A restart policy other than `no` has the engine start the container again on its own,
    /// resolving its bind sources again each time with no check of ours before it. A source
    /// below an allowed root can be swapped for a symlink by any container that mounts that
    /// root writable, so such a bind is refused with such a policy. An allowed root itself
    /// cannot be swapped (its parent is outside every root), unless it lies inside another
    /// allowed root. `sources` are resolved host paths; `policy` is the policy's name.
    pub fn check_restart(&self, policy: Option<&str>, sources: &[PathBuf]) -> Result<(), Refusal> {
        let Some(policy) = policy.filter(|p| !p.is_empty() && *p != "no") else { return Ok(()) };
        let swappable = sources.iter().find(|source| {
            let below = self.allowed_host_paths.iter().any(|root| source.starts_with(root) && *source != root);
            let is_root = self.allowed_host_paths.iter().any(|root| *source == root);
            below
                || is_root && self.allowed_host_paths.iter().any(|other| source.starts_with(other) && *source != other)
        });
        match swappable {
            None => Ok(()),
            Some(source) => Err(refuse(
                Rule::HostPathAllowlist,
                format!(
                    "restart policy `{policy}` with bind mount source {:?}: the engine would resolve that path again \
                     at every restart, unchecked, and a path below an allowed root can be swapped for a symlink \
                     (mount the allowed root itself, or use restart policy `no`)",
                    source.display().to_string()
                ),
            )),
        }
    }

    /// The host paths `spec` bind-mounts, resolved and checked as [`Self::check_host_path`] does.
    pub(crate) fn host_binds(&self, spec: &ContainerSpec) -> Result<Vec<PathBuf>, Refusal> {
        let mut sources = Vec::new();
        for (source, _, _) in spec.volumes.as_ref().map(crate::Volumes::mounts).unwrap_or_default() {
            if is_host_path(&source) {
                sources.push(self.check_host_path(&source, "bind mount")?);
            }
        }
        Ok(sources)
    }

    /// Checks an image reference against the allowlist, if one is set.
    ///
    /// The engine runs the image a digest (`repo@sha256:...`) names and ignores the name before
    /// it, so a name on the allowlist says nothing about such a reference: it is allowed only by
    /// an entry that pins that same digest. An entry that pins a digest allows only that digest.
    pub fn check_image(&self, image: &str) -> Result<(), Refusal> {
        let Some(allowed) = &self.allowed_images else { return Ok(()) };
        let (repo, tag, digest) = split_reference(image);
        let permitted = allowed.iter().any(|entry| {
            if let Some(prefix) = entry.strip_suffix('*') {
                return digest.is_none() && image.starts_with(prefix);
            }
            let (entry_repo, entry_tag, entry_digest) = split_reference(entry);
            if entry_repo != repo || entry_digest != digest {
                return false;
            }
            // With a digest the tag is not what runs; without one, an entry's tag must match.
            let entry_has_tag = entry_tag != "latest" || entry.ends_with(":latest");
            digest.is_some() || !entry_has_tag || entry_tag == tag
        });
        if permitted {
            Ok(())
        } else if digest.is_some() {
            let detail = format!(
                "image `{image}` names a digest, and no allowlist entry pins it (the engine runs whatever image the \
                 digest names, whatever the name before it)"
            );
            Err(refuse(Rule::ImageAllowlist, detail))
        } else {
            Err(refuse(Rule::ImageAllowlist, format!("image `{image}` is not on the allowlist")))
        }
    }
}

/// Names the engines give a network mode of their own (besides `none`, `bridge` and
/// `default`): each shares or reaches a namespace of the host or of another container, or
/// Podman's user-mode networking, which can reach the host's loopback.
const RESERVED_NETWORK_MODES: [&str; 6] = ["host", "container", "ns", "slirp4netns", "pasta", "private"];

/// A network mode from the allowlist: `none`, `bridge`, `default`, or a user-defined network's
/// name (Docker's object-name grammar, `[A-Za-z0-9][A-Za-z0-9_.-]*`). Anything else is refused,
/// whatever an engine makes of it: `host`, `container:<id>`, and Podman's `ns:<path>` (any
/// network namespace on the host), `slirp4netns:...` and `pasta:...`.
fn check_network_mode(mode: &str) -> Result<(), Refusal> {
    let is_name = mode.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && mode.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if matches!(mode, "none" | "bridge" | "default") || is_name && !RESERVED_NETWORK_MODES.contains(&mode) {
        return Ok(());
    }
    let detail = format!(
        "network mode `{mode}` is not allowed: use `none`, `bridge`, `default` or a network's name (modes such as \
         `host`, `container:<id>`, `ns:<path>`, `slirp4netns` and `pasta` share or reach another namespace)"
    );
    Err(refuse(Rule::NoHostNetwork, detail))
}

/// A bind source is a path (it has a `/`, or is `.`/`~`-relative); anything else names a volume.
pub(crate) fn is_host_path(source: &str) -> bool {
    source.contains('/') || source.starts_with('.') || source.starts_with('~')
}

/// `repo[:tag][@digest]` as (repo, tag, digest), `latest` when no tag is given (a registry's
/// port is not a tag).
fn split_reference(image: &str) -> (&str, &str, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag, digest),
        _ => (name, "latest", digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> ContainerSpec {
        serde_json::from_value(value).expect("valid spec")
    }

    fn rule(safety: &Safety, value: serde_json::Value) -> Option<&'static str> {
        safety.check_container(&spec(value)).err().map(|r| r.rule.name())
    }

    #[test]
    fn each_rule_refuses_by_name() {
        let root = tempfile::tempdir().expect("tempdir");
        let safety = Safety { allowed_host_paths: vec![root.path().to_owned()], ..Safety::default() }
            .resolved()
            .expect("resolves");
        let inside = root.path().join("data");
        std::fs::create_dir(&inside).expect("mkdir");
        assert_eq!(rule(&safety, json!({"image": "a"})), None);
        assert_eq!(rule(&safety, json!({"image": "a", "privileged": true})), Some("no-privileged"));
        assert_eq!(rule(&safety, json!({"image": "a", "privileged": false})), None);
        assert_eq!(rule(&safety, json!({"image": "a", "cap_add": ["SYS_ADMIN"]})), Some("no-added-capabilities"));
        assert_eq!(rule(&safety, json!({"image": "a", "network": "host"})), Some("no-host-network"));
        assert_eq!(rule(&safety, json!({"image": "a", "network_mode": "container:x"})), Some("no-host-network"));
        assert_eq!(rule(&safety, json!({"image": "a", "pid_mode": "host"})), Some("no-host-pid"));
        assert_eq!(rule(&safety, json!({"image": "a", "volumes": ["/etc:/x"]})), Some("host-path-allowlist"));
        assert_eq!(rule(&safety, json!({"image": "a", "volumes": ["rel/dir:/x"]})), Some("host-path-allowlist"));
        let escape = format!("{}/../../etc", inside.display());
        assert_eq!(
            rule(&safety, json!({"image": "a", "volumes": {escape: {"bind": "/x"}}})),
            Some("host-path-allowlist")
        );
        let ok = inside.display().to_string();
        assert_eq!(rule(&safety, json!({"image": "a", "volumes": {ok: {"bind": "/x", "mode": "ro"}}})), None);
        assert_eq!(rule(&safety, json!({"image": "a", "volumes": ["named:/x"]})), None);
        let blocked = Safety { block_network: true, ..Safety::default() };
        assert_eq!(rule(&blocked, json!({"image": "a", "network": "mine"})), Some("network-blocked"));
        assert_eq!(rule(&blocked, json!({"image": "a", "ports": {"80/tcp": 80}})), Some("network-blocked"));
    }

    #[test]
    fn a_restart_policy_is_refused_only_for_bind_sources_that_can_be_swapped() {
        let root = PathBuf::from("/srv/allowed");
        let inner = root.join("inner");
        let safety = Safety { allowed_host_paths: vec![root.clone()], ..Safety::default() };
        let below = [root.join("d")];
        for policy in [None, Some(""), Some("no")] {
            assert_eq!(safety.check_restart(policy, &below), Ok(()), "{policy:?}");
        }
        for policy in ["always", "unless-stopped", "on-failure"] {
            let refusal = safety.check_restart(Some(policy), &below).expect_err(policy);
            assert_eq!(refusal.rule, Rule::HostPathAllowlist);
            assert!(refusal.detail.contains(&format!("restart policy `{policy}`")), "{refusal}");
        }
        assert_eq!(safety.check_restart(Some("always"), std::slice::from_ref(&root)), Ok(()), "the root itself");
        assert_eq!(safety.check_restart(Some("always"), &[]), Ok(()), "no bind at all");
        // A root inside another root can be swapped by a container that mounts the outer one.
        let nested = Safety { allowed_host_paths: vec![root.clone(), inner.clone()], ..Safety::default() };
        assert!(nested.check_restart(Some("always"), &[inner]).is_err());
        assert_eq!(nested.check_restart(Some("always"), &[root]), Ok(()));
    }

    #[test]
    fn a_bind_source_of_a_container_created_here_must_still_resolve_to_itself_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("resolves");
        let (allowed, outside) = (root.join("allowed"), root.join("outside"));
        std::fs::create_dir_all(allowed.join("d")).expect("mkdir");
        std::fs::create_dir(&outside).expect("mkdir");
        let safety = Safety { allowed_host_paths: vec![allowed.clone()], ..Safety::default() };
        let source = allowed.join("d").display().to_string();
        assert_eq!(safety.check_bind_at_start(&source, true), Ok(Some(allowed.join("d"))));
        assert_eq!(safety.check_bind_at_start("named-volume", true), Ok(None), "a volume is not a host path");
        std::fs::remove_dir(allowed.join("d")).expect("rmdir");
        std::os::unix::fs::symlink(&outside, allowed.join("d")).expect("symlink");
        let refusal = safety.check_bind_at_start(&source, true).expect_err("swapped");
        assert!(refusal.detail.contains("a symlink was put in its path after it was checked"), "{refusal}");
        // Inside the root but no longer what was checked: refused as well.
        std::fs::remove_file(allowed.join("d")).expect("rm");
        std::fs::create_dir(allowed.join("real")).expect("mkdir");
        std::os::unix::fs::symlink(allowed.join("real"), allowed.join("d")).expect("symlink");
        assert!(safety.check_bind_at_start(&source, true).is_err());
        // Resolving to itself outside every root: the roots have changed since it was created.
        let refusal = safety.check_bind_at_start(&outside.display().to_string(), true).expect_err("outside");
        assert!(refusal.detail.contains("the allowed host paths have changed"), "{refusal}");
        assert!(refusal.detail.contains(&format!("`--allow-path {}`", outside.display())), "{refusal}");
        let refusal = safety.check_bind_at_start(&root.join("gone").display().to_string(), true).expect_err("gone");
        assert!(refusal.detail.contains("cannot be resolved"), "{refusal}");
    }

    /// A container made elsewhere (`docker run -v ...`) is judged by where its sources resolve:
    /// a symlink that was always there (Fedora Atomic's `/home -> var/home`) is no swap, and a
    /// source outside every root is refused with what would allow it.
    #[test]
    fn a_bind_source_of_a_container_made_elsewhere_is_judged_by_where_it_resolves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("resolves");
        let (var_home, outside) = (root.join("var/home"), root.join("outside"));
        std::fs::create_dir_all(var_home.join("me/pgdata")).expect("mkdir");
        std::fs::create_dir(&outside).expect("mkdir");
        std::os::unix::fs::symlink("var/home", root.join("home")).expect("symlink");
        let allowed = Safety { allowed_host_paths: vec![var_home.join("me")], ..Safety::default() };
        let source = root.join("home/me/pgdata").display().to_string();
        assert_eq!(allowed.check_bind_at_start(&source, false), Ok(Some(var_home.join("me/pgdata"))));
        let refusal = allowed.check_bind_at_start(&source, true).expect_err("created here, so canonical once");
        assert!(refusal.detail.contains("a symlink was put in its path"), "{refusal}");

        let none = Safety::default();
        let refusal = none.check_bind_at_start(&source, false).expect_err("no root allows it");
        let resolved = var_home.join("me/pgdata").display().to_string();
        assert_eq!(refusal.rule, Rule::HostPathAllowlist);
        for part in [
            format!("bind mount source {source:?} resolves to {resolved:?}"),
            "this server did not create the container".to_owned(),
            format!("`--allow-path {resolved}`"),
        ] {
            assert!(refusal.detail.contains(&part), "{part} is missing: {refusal}");
        }
        assert!(!refusal.detail.contains("symlink was put"), "{refusal}");
        // A symlink inside an allowed root that leads out of it is refused by where it leads.
        std::os::unix::fs::symlink(&outside, var_home.join("me/escape")).expect("symlink");
        let escape = var_home.join("me/escape").display().to_string();
        let refusal = allowed.check_bind_at_start(&escape, false).expect_err("leads out");
        assert!(refusal.detail.contains(&format!("resolves to {:?}", outside.display().to_string())), "{refusal}");
    }

    #[test]
    fn limits_cannot_be_removed_or_raised_above_the_configured_memory() {
        let safety = Safety::default();
        let mib = 1024 * 1024;
        let within = json!({"image": "a", "mem_limit": 64 * mib, "nano_cpus": 500_000_000, "pids_limit": 32});
        assert_eq!(rule(&safety, within), None);
        assert_eq!(rule(&safety, json!({"image": "a", "mem_limit": 512 * mib})), None, "the ceiling itself is allowed");
        for (field, value) in [("mem_limit", 0), ("nano_cpus", 0), ("pids_limit", -1), ("mem_limit", -1)] {
            let refusal = safety.check_container(&spec(json!({"image": "a", field: value}))).expect_err(field);
            assert_eq!(refusal.rule, Rule::ResourceLimits);
            assert!(refusal.to_string().contains(&format!("`{field}` {value} would remove the limit")), "{refusal}");
        }
        let refusal =
            safety.check_container(&spec(json!({"image": "a", "mem_limit": 512 * mib + 1}))).expect_err("above");
        assert_eq!(refusal.rule, Rule::ResourceLimits);
        assert!(refusal.to_string().contains("configured memory limit of 536870912 bytes (512 MiB)"), "{refusal}");
        let configured =
            Safety { limits: Limits { memory_bytes: 128 * mib, ..Limits::default() }, ..Safety::default() };
        assert_eq!(rule(&configured, json!({"image": "a", "mem_limit": 256 * mib})), Some("resource-limits"));
        assert_eq!(rule(&configured, json!({"image": "a", "mem_limit": 128 * mib})), None);
        let unlimited = Safety { limits: Limits { memory_bytes: 0, ..Limits::default() }, ..Safety::default() };
        assert_eq!(rule(&unlimited, json!({"image": "a", "mem_limit": 4096 * mib})), None);
    }

    #[test]
    fn cpu_and_process_limits_cannot_be_raised_above_the_configured_ones_either() {
        let safety = Safety::default();
        let cpus = safety.check_container(&spec(json!({"image": "a", "nano_cpus": 8_000_000_000_i64}))).expect_err("8");
        assert_eq!(cpus.rule, Rule::ResourceLimits);
        assert!(
            cpus.to_string().contains(
                "`nano_cpus` 8000000000 nano-CPUs is above the configured CPU limit of 1000000000 nano-CPUs (1 CPUs)"
            ),
            "{cpus}"
        );
        let bomb = safety.check_container(&spec(json!({"image": "a", "pids_limit": 100_000}))).expect_err("fork bomb");
        assert!(
            bomb.to_string()
                .contains("`pids_limit` 100000 processes is above the configured process limit of 256 processes"),
            "{bomb}"
        );
        assert_eq!(rule(&safety, json!({"image": "a", "nano_cpus": 1_000_000_000, "pids_limit": 256})), None);
        let configured = Limits { nano_cpus: 4_000_000_000, pids: 0, ..Limits::default() };
        let configured = Safety { limits: configured, ..Safety::default() };
        assert_eq!(rule(&configured, json!({"image": "a", "nano_cpus": 2_000_000_000})), None);
        assert_eq!(rule(&configured, json!({"image": "a", "pids_limit": 100_000})), None, "0: no ceiling");
        assert_eq!(rule(&configured, json!({"image": "a", "nano_cpus": 5_000_000_000_i64})), Some("resource-limits"));
    }

    #[test]
    fn the_image_allowlist_matches_repositories_tags_and_prefixes() {
        let safety = Safety {
            allowed_images: Some(vec!["busybox".into(), "alpine:3.20".into(), "localhost/mcptk-*".into()]),
            ..Safety::default()
        };
        for ok in ["busybox", "busybox:1.36", "alpine:3.20", "localhost/mcptk-x:test"] {
            assert_eq!(safety.check_image(ok), Ok(()), "{ok}");
        }
        for refused in ["alpine", "alpine:latest", "evil/busybox", "registry:5000/busybox"] {
            let err = safety.check_image(refused).expect_err(refused);
            assert_eq!(err.rule, Rule::ImageAllowlist);
            assert!(err.to_string().contains("`image-allowlist`"), "{err}");
        }
        assert_eq!(split_reference("registry:5000/a"), ("registry:5000/a", "latest", None));
    }

    #[test]
    fn a_digest_is_allowed_only_by_an_entry_that_pins_it() {
        let (pinned, other) = ("sha256:".to_owned() + &"a".repeat(64), "sha256:".to_owned() + &"b".repeat(64));
        let safety = Safety {
            allowed_images: Some(vec![
                "busybox".into(),
                "alpine:3.20".into(),
                "localhost/mcptk-*".into(),
                format!("postgres@{pinned}"),
            ]),
            ..Safety::default()
        };
        for ok in [format!("postgres@{pinned}"), format!("postgres:16@{pinned}"), "busybox:1.36".into()] {
            assert_eq!(safety.check_image(&ok), Ok(()), "{ok}");
        }
        for refused in [
            format!("busybox@{other}"),
            format!("busybox:latest@{other}"),
            format!("alpine:3.20@{other}"),
            format!("localhost/mcptk-x@{other}"),
            format!("postgres@{other}"),
            "postgres".into(),
            "postgres:16".into(),
        ] {
            let err = safety.check_image(&refused).expect_err(&refused);
            assert_eq!(err.rule, Rule::ImageAllowlist, "{refused}");
        }
        let err = safety.check_image(&format!("busybox@{other}")).expect_err("digest");
        assert!(err.detail.contains("no allowlist entry pins it"), "{err}");
    }

    #[test]
    fn only_ordinary_network_modes_and_the_containers_own_pid_namespace_pass() {
        let safety = Safety::default();
        for ok in ["none", "bridge", "default", "my-net", "net_2.a"] {
            assert_eq!(rule(&safety, json!({"image": "a", "network_mode": ok})), None, "{ok}");
            assert_eq!(rule(&safety, json!({"image": "a", "network": ok})), None, "{ok}");
        }
        for refused in [
            "host",
            "container:x",
            "ns:/proc/1/ns/net",
            "ns:/run/netns/x",
            "slirp4netns",
            "slirp4netns:allow_host_loopback=true",
            "pasta",
            "pasta:--map-gw",
            "private",
            "",
            "-x",
            "a,b",
        ] {
            assert_eq!(
                rule(&safety, json!({"image": "a", "network_mode": refused})),
                Some("no-host-network"),
                "{refused}"
            );
        }
        for ok in ["", "private"] {
            assert_eq!(rule(&safety, json!({"image": "a", "pid_mode": ok})), None, "{ok}");
        }
        for refused in ["host", "container:x", "ns:/proc/1/ns/pid", "shareable"] {
            assert_eq!(rule(&safety, json!({"image": "a", "pid_mode": refused})), Some("no-host-pid"), "{refused}");
        }
    }
}
