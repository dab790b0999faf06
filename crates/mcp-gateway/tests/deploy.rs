//! The Kubernetes manifests of `deploy/k8s`: the base and the example overlay, rendered by the real
//! `kubectl kustomize`, every object decoded into its Kubernetes API type (k8s-openapi) and
//! written back out unchanged (so a misspelt or misplaced field, which decoding alone would
//! ignore, fails), then checked for what a working, locked-down deployment of the gateway needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, HTTPGetAction, Namespace, PodSpec, Probe, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mcp_gateway::GatewayConfig;
use serde::Serialize;

#[path = "../../../tests/support/services.rs"]
mod services;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The shutdown grace the gateway uses when `--shutdown-grace` is not given.
const DEFAULT_SHUTDOWN_GRACE_SECS: i64 = 20;
/// The user the image runs as (`USER` in deploy/Dockerfile).
const IMAGE_USER: i64 = 65532;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl`, or `None` (the reason printed) outside CI when it is missing; in CI it must be there.
fn kubectl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("kubectl")).find(|p| p.is_file()))
        .unwrap_or_default();
    found.or_else(|| {
        services::unavailable("kubectl is not installed: the manifests cannot be rendered (`kubectl kustomize`)")
    })
}

/// Every object of one decoded rendering.
#[derive(Default)]
struct Rendered {
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    hpas: Vec<HorizontalPodAutoscaler>,
    pdbs: Vec<PodDisruptionBudget>,
    network_policies: Vec<NetworkPolicy>,
    service_accounts: Vec<ServiceAccount>,
    config_maps: Vec<ConfigMap>,
    secrets: Vec<Secret>,
    namespaces: Vec<Namespace>,
}

/// `kubectl kustomize deploy/k8s/DIR`, every document decoded by its kind.
fn render(kubectl: &Path, dir: &str) -> Rendered {
    let path = root().join("deploy/k8s").join(dir);
    let out = Command::new(kubectl).arg("kustomize").arg(&path).output().expect("kubectl runs");
    assert!(out.status.success(), "kubectl kustomize {dir} failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let mut rendered = Rendered::default();
    let mut count = 0;
    for document in serde_yaml::Deserializer::from_str(&text) {
        let yaml = <serde_yaml::Value as serde::Deserialize>::deserialize(document).expect("a YAML document");
        let doc = serde_json::to_value(yaml).expect("YAML that JSON can hold");
        count += 1;
        let api_version = doc["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        match (api_version.as_str(), kind.as_str()) {
            ("apps/v1", "Deployment") => rendered.deployments.push(decode(&doc)),
            ("v1", "Service") => rendered.services.push(decode(&doc)),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => rendered.hpas.push(decode(&doc)),
            ("policy/v1", "PodDisruptionBudget") => rendered.pdbs.push(decode(&doc)),
            ("networking.k8s.io/v1", "NetworkPolicy") => rendered.network_policies.push(decode(&doc)),
            ("v1", "ServiceAccount") => rendered.service_accounts.push(decode(&doc)),
            ("v1", "ConfigMap") => rendered.config_maps.push(decode(&doc)),
            ("v1", "Secret") => rendered.secrets.push(decode(&doc)),
            ("v1", "Namespace") => rendered.namespaces.push(decode(&doc)),
            other => panic!("{dir}: an object of an unexpected kind {other:?}: {doc}"),
        }
    }
    assert!(count > 0, "{dir} rendered nothing");
    rendered
}

/// Decodes `doc` as `T` and requires that writing it back gives the same document: k8s-openapi
/// skips fields it does not know, so this is what catches a typo.
fn decode<T: DeserializeOwned + Serialize + k8s_openapi::Resource>(doc: &Value) -> T {
    let name = doc["metadata"]["name"].as_str().unwrap_or("?");
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{} {name}: {e}", T::KIND));
    let back = serde_json::to_value(&typed).expect("serializes");
    if let Some(path) = first_difference(doc, &back, String::new()) {
        panic!("{} {name}: `{path}` does not survive decoding (unknown or misplaced field?)", T::KIND);
    }
    typed
}

/// The first path where `a` and `b` differ, if any.
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let (l, r) = (x.get(key).unwrap_or(&Value::Null), y.get(key).unwrap_or(&Value::Null));
                if let Some(path) = first_difference(l, r, format!("{at}.{key}")) {
                    return Some(path);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (l, r))| first_difference(l, r, format!("{at}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(if at.is_empty() { ".".to_owned() } else { at }),
    }
}

fn one<'a, T>(items: &'a [T], what: &str) -> &'a T {
    assert_eq!(items.len(), 1, "exactly one {what}");
    &items[0]
}

fn labels_select(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The value given to `--flag` in `args` (`--flag VALUE` or `--flag=VALUE`), every occurrence.
fn flag_values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    let mut values = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if arg == flag {
            values.push(args.get(i + 1).map(String::as_str).unwrap_or_else(|| panic!("{flag} without a value")));
        } else if let Some(value) = arg.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
            values.push(value);
        }
    }
    values
}

/// The container port a probe's or Service's port designates (a number, or a port's name).
fn container_port(container: &Container, port: &IntOrString) -> i32 {
    let ports = container.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .container_port
        }
    }
}

fn http_get<'a>(probe: Option<&'a Probe>, which: &str) -> &'a HTTPGetAction {
    let probe = probe.unwrap_or_else(|| panic!("the container has a {which} probe"));
    probe.http_get.as_ref().unwrap_or_else(|| panic!("the {which} probe is an HTTP GET"))
}

/// The probe checks the gateway's Host check lets through whatever the pod's IP is: a loopback
/// name in the Host header (a probe carries no bearer token; the gateway answers these paths
/// without one).
fn assert_probe(get: &HTTPGetAction, container: &Container, path: &str, which: &str) {
    assert_eq!(get.path.as_deref(), Some(path), "the {which} probe asks {path}");
    assert_eq!(container_port(container, &get.port), 8080, "the {which} probe asks the gateway's port");
    assert!(get.scheme.as_deref().is_none_or(|s| s == "HTTP"), "the {which} probe speaks plain HTTP");
    let host = get.http_headers.as_deref().unwrap_or_default().iter().find(|h| h.name.eq_ignore_ascii_case("host"));
    assert!(
        host.is_some_and(|h| matches!(h.value.as_str(), "localhost" | "127.0.0.1")),
        "the {which} probe sends a loopback Host"
    );
}

/// What both renderings must get right. Returns the Deployment's pod spec for further checks.
fn check(rendered: &Rendered, dir: &str, namespace: Option<&str>) -> PodSpec {
    let deployment = one(&rendered.deployments, "Deployment");
    let name = deployment.metadata.name.as_deref().expect("named");
    let spec = &deployment.spec;
    let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    assert!(labels_select(&selector, &template_labels), "{dir}: the Deployment's selector matches its pods");
    assert!(spec.replicas.is_some_and(|r| r >= 2), "{dir}: several replicas");
    let pod = spec.template.spec.clone().expect("a pod spec");
    let container = pod.containers.iter().find(|c| c.name == "mcptk").expect("the mcptk container");
    assert_eq!(pod.containers.len(), 1, "{dir}: one container");

    // The gateway serves HTTP on 0.0.0.0 at the container port, with its configuration from the
    // ConfigMap.
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{dir}: the container runs the gateway: {args:?}");
    assert_eq!(flag_values(&args, "--http"), ["0.0.0.0:8080"], "{dir}: serves HTTP on every address");
    let port = container.ports.as_deref().unwrap_or_default();
    assert!(port.iter().any(|p| p.container_port == 8080 && p.name.as_deref() == Some("http")), "{dir}: port 8080");

    // Probes: readiness on /readyz, liveness and startup on /healthz.
    assert_probe(http_get(container.readiness_probe.as_ref(), "readiness"), container, "/readyz", "readiness");
    assert_probe(http_get(container.liveness_probe.as_ref(), "liveness"), container, "/healthz", "liveness");
    assert_probe(http_get(container.startup_probe.as_ref(), "startup"), container, "/healthz", "startup");

    // The Secret references: the session key and the bearer tokens, from one Secret, by key.
    let env = container.env.as_deref().unwrap_or_default();
    let secret_ref = |var: &str| {
        let entry = env.iter().find(|e| e.name == var).unwrap_or_else(|| panic!("{dir}: {var} is set"));
        assert!(entry.value.is_none(), "{dir}: {var} is not written in the manifest");
        let key_ref = entry.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref());
        let key_ref = key_ref.unwrap_or_else(|| panic!("{dir}: {var} comes from a Secret"));
        assert_eq!(key_ref.key, var, "{dir}: {var}'s key in the Secret");
        assert_ne!(key_ref.optional, Some(true), "{dir}: {var} is required");
        key_ref.name.clone()
    };
    let secret = secret_ref("MCPTK_SESSION_KEY");
    assert_eq!(secret_ref("MCPTK_HTTP_TOKENS"), secret, "{dir}: one Secret holds both");
    // The keys of a rotation, when given, come from the same Secret and may be absent.
    if let Some(previous) = env.iter().find(|e| e.name == "MCPTK_SESSION_KEYS_PREVIOUS") {
        let key_ref = previous.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).expect("from a Secret");
        assert_eq!((key_ref.name.as_str(), key_ref.key.as_str()), (secret.as_str(), "MCPTK_SESSION_KEYS_PREVIOUS"));
        assert_eq!(key_ref.optional, Some(true), "{dir}: the previous keys are optional");
    }

    // Locked down: non-root (the image's user), read-only root, no capabilities, seccomp.
    let pod_security = pod.security_context.clone().unwrap_or_default();
    let security = container.security_context.clone().expect("a container securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true), "{dir}: the pod runs as non-root");
    assert_eq!(security.run_as_non_root, Some(true), "{dir}: the container runs as non-root");
    assert_eq!(security.run_as_user.or(pod_security.run_as_user), Some(IMAGE_USER), "{dir}: as the image's user");
    assert_eq!(security.read_only_root_filesystem, Some(true), "{dir}: read-only root filesystem");
    assert_eq!(security.allow_privilege_escalation, Some(false), "{dir}: no privilege escalation");
    assert_ne!(security.privileged, Some(true), "{dir}: not privileged");
    let capabilities = security.capabilities.clone().expect("capabilities");
    assert_eq!(capabilities.drop.as_deref(), Some(&["ALL".to_owned()][..]), "{dir}: every capability dropped");
    assert!(capabilities.add.unwrap_or_default().is_empty(), "{dir}: none added");
    let seccomp = security.seccomp_profile.or(pod_security.seccomp_profile).expect("a seccomp profile");
    assert_eq!(seccomp.type_, "RuntimeDefault", "{dir}: seccomp RuntimeDefault");
    assert!(container.resources.as_ref().is_some_and(|r| {
        let has = |m: &Option<BTreeMap<String, _>>| {
            m.as_ref().is_some_and(|m| m.contains_key("cpu") && m.contains_key("memory"))
        };
        has(&r.requests) && has(&r.limits)
    }));

    // Shutdown: the pod may take longer than the preStop sleep and the gateway's grace together.
    let grace = match flag_values(&args, "--shutdown-grace").as_slice() {
        [] => DEFAULT_SHUTDOWN_GRACE_SECS,
        [secs] => secs.parse().expect("whole seconds"),
        more => panic!("{dir}: --shutdown-grace given {} times", more.len()),
    };
    let pre_stop = container.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()).expect("a preStop hook");
    let sleep = pre_stop.sleep.as_ref().expect("the preStop hook sleeps (no shell in the image)").seconds;
    assert!(sleep > 0, "{dir}: the preStop sleep lets the endpoints drain");
    let termination = pod.termination_grace_period_seconds.expect("terminationGracePeriodSeconds");
    // After the grace: 2 s for cancelled answers, up to 10 s to stop upstream servers and 5 s to
    // drain the audit database (crates/mcp-core/src/transport/http/mod.rs, mcp-gateway's shutdown).
    let after_grace = 2 + 10 + 5;
    assert!(
        termination > sleep + grace + after_grace,
        "{dir}: {termination}s > {sleep}s preStop + {grace}s shutdown grace + {after_grace}s of stopping"
    );

    // The configuration: a file of the generated ConfigMap, valid for the gateway, whose writable
    // paths are on volumes (the root filesystem is read-only).
    let config_path = Path::new(*flag_values(&args, "--config").first().expect("--config"));
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    let mount_of = |path: &Path| {
        mounts
            .iter()
            .filter(|m| path.starts_with(&m.mount_path))
            .max_by_key(|m| m.mount_path.len())
            .unwrap_or_else(|| panic!("{dir}: {} is on no volume", path.display()))
    };
    let config_mount = mount_of(config_path);
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let volume = |name: &str| volumes.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no volume {name}"));
    let config_map_name = volume(&config_mount.name).config_map.as_ref().expect("a ConfigMap volume").name.clone();
    let config_map = rendered
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(config_map_name.as_str()))
        .unwrap_or_else(|| panic!("{dir}: the ConfigMap {config_map_name} is rendered"));
    let key = config_path.strip_prefix(&config_mount.mount_path).expect("below the mount").to_string_lossy();
    let text = config_map.data.as_ref().and_then(|d| d.get(key.as_ref())).expect("the configuration file");
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let file = scratch.path().join("gateway.json");
    std::fs::write(&file, text).expect("written");
    let config = GatewayConfig::load(&file).unwrap_or_else(|e| panic!("{dir}: the configuration is invalid: {e}"));
    let writable = |path: &Path, what: &str| {
        let mount = mount_of(path);
        assert!(volume(&mount.name).empty_dir.is_some() && mount.read_only != Some(true), "{dir}: {what} is writable");
    };
    writable(&config.audit.path, "the audit log");
    for root in config.native.fs.iter().flat_map(|fs| &fs.roots) {
        writable(root, "the filesystem root");
    }

    // The Service selects the pods and reaches the container port; its names are allowed hosts.
    let service = one(&rendered.services, "Service");
    let service_name = service.metadata.name.as_deref().expect("named");
    let service_spec = service.spec.as_ref().expect("a Service spec");
    let service_selector = service_spec.selector.clone().unwrap_or_default();
    assert!(labels_select(&service_selector, &template_labels), "{dir}: the Service selects the pods");
    for p in service_spec.ports.as_deref().unwrap_or_default() {
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        assert_eq!(container_port(container, &target), 8080, "{dir}: the Service reaches the gateway's port");
    }
    let allowed = flag_values(&args, "--allow-host");
    let mut names = vec![service_name.to_owned()];
    if let Some(ns) = namespace {
        names.extend([format!("{service_name}.{ns}"), format!("{service_name}.{ns}.svc")]);
        names.push(format!("{service_name}.{ns}.svc.cluster.local"));
    }
    for host in &names {
        assert!(allowed.contains(&host.as_str()), "{dir}: the Service's name {host} is an allowed host: {allowed:?}");
    }

    // The autoscaler scales this Deployment on CPU; the disruption budget covers its pods.
    let hpa = &one(&rendered.hpas, "HorizontalPodAutoscaler").spec;
    let target = &hpa.scale_target_ref;
    assert_eq!(
        (target.api_version.as_deref(), target.kind.as_str(), target.name.as_str()),
        (Some("apps/v1"), "Deployment", name)
    );
    assert!(hpa.min_replicas.is_some_and(|min| min >= 2 && min <= hpa.max_replicas), "{dir}: replicas 2.. of max");
    let cpu = hpa.metrics.as_deref().unwrap_or_default().iter().any(|m| {
        m.type_ == "Resource"
            && m.resource.as_ref().is_some_and(|r| r.name == "cpu" && r.target.average_utilization.is_some())
    });
    assert!(cpu, "{dir}: the HPA scales on CPU utilization");
    let pdb = one(&rendered.pdbs, "PodDisruptionBudget").spec.as_ref().expect("a PDB spec");
    let pdb_selector = pdb.selector.as_ref().and_then(|s| s.match_labels.clone()).unwrap_or_default();
    assert!(labels_select(&pdb_selector, &template_labels), "{dir}: the PDB selects the pods");
    assert!(pdb.max_unavailable.is_some() || pdb.min_available.is_some(), "{dir}: the PDB limits disruptions");

    // The pods' ServiceAccount exists and mounts no token.
    let account = one(&rendered.service_accounts, "ServiceAccount");
    assert_eq!(pod.service_account_name.as_deref(), account.metadata.name.as_deref(), "{dir}: the pods' account");
    assert_eq!(account.automount_service_account_token, Some(false), "{dir}: the account mounts no token");
    assert_eq!(pod.automount_service_account_token, Some(false), "{dir}: the pods mount no token");

    // The NetworkPolicy covers the pods: ingress to the gateway's port only, egress to DNS.
    let policy = one(&rendered.network_policies, "NetworkPolicy").spec.as_ref().expect("a NetworkPolicy spec");
    let policy_selector = policy.pod_selector.as_ref().and_then(|s| s.match_labels.clone()).unwrap_or_default();
    assert!(labels_select(&policy_selector, &template_labels), "{dir}: the NetworkPolicy selects the pods");
    let types = policy.policy_types.clone().unwrap_or_default();
    assert!(types.iter().any(|t| t == "Ingress") && types.iter().any(|t| t == "Egress"), "{dir}: both directions");
    for rule in policy.ingress.as_deref().unwrap_or_default() {
        let ports = rule.ports.as_deref().unwrap_or_default();
        assert!(!ports.is_empty(), "{dir}: every ingress rule names its ports");
        for p in ports {
            let port = p.port.as_ref().expect("a port");
            assert_eq!(container_port(container, port), 8080, "{dir}: ingress only to the gateway's port");
        }
    }
    let dns = policy.egress.as_deref().unwrap_or_default().iter().any(|rule| {
        rule.ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|p| p.port == Some(IntOrString::Int(53)) && p.protocol.as_deref() == Some("UDP"))
    });
    assert!(dns, "{dir}: egress to DNS is allowed");

    // Everything in one namespace when the overlay names one.
    if let Some(ns) = namespace {
        let namespaced = rendered
            .deployments
            .iter()
            .map(|o| &o.metadata)
            .chain(rendered.services.iter().map(|o| &o.metadata))
            .chain(rendered.hpas.iter().map(|o| &o.metadata))
            .chain(rendered.pdbs.iter().map(|o| &o.metadata))
            .chain(rendered.network_policies.iter().map(|o| &o.metadata))
            .chain(rendered.service_accounts.iter().map(|o| &o.metadata))
            .chain(rendered.config_maps.iter().map(|o| &o.metadata))
            .chain(rendered.secrets.iter().map(|o| &o.metadata));
        for meta in namespaced {
            assert_eq!(meta.namespace.as_deref(), Some(ns), "{dir}: {:?} is in {ns}", meta.name);
        }
    }
    pod
}

fn secret_name(pod: &PodSpec) -> String {
    let env = pod.containers[0].env.as_deref().unwrap_or_default();
    let key_ref = env.iter().find(|e| e.name == "MCPTK_SESSION_KEY").and_then(|e| e.value_from.as_ref());
    key_ref.and_then(|v| v.secret_key_ref.as_ref()).expect("a Secret reference").name.clone()
}

#[test]
fn the_base_renders_to_a_locked_down_deployment_that_references_its_secret() {
    let Some(kubectl) = kubectl() else { return };
    let base = render(&kubectl, "base");
    let pod = check(&base, "base", None);
    assert!(base.secrets.is_empty(), "the base holds no Secret, it only references one");
    assert!(base.namespaces.is_empty(), "the base leaves the namespace to overlays");
    assert_eq!(secret_name(&pod), "mcptk-secrets");
    let deployment = one(&base.deployments, "Deployment");
    assert_eq!(deployment.spec.replicas, Some(3), "three replicas");
}

#[test]
fn the_example_overlay_sets_namespace_image_sizes_and_a_placeholder_secret() {
    let Some(kubectl) = kubectl() else { return };
    let overlay = render(&kubectl, "overlays/example");
    let pod = check(&overlay, "overlays/example", Some("mcptk"));
    let namespace = one(&overlay.namespaces, "Namespace");
    assert_eq!(namespace.metadata.name.as_deref(), Some("mcptk"));

    // The image is pinned to a tag, never the base's bare name.
    let image = pod.containers[0].image.as_deref().expect("an image");
    let (repository, tag) = image.rsplit_once(':').expect("a tagged image");
    assert!(repository.contains('/') && !tag.is_empty() && tag != "latest", "a pinned image: {image}");

    // The generated Secret is the one the pods reference (its name carries the content hash) and
    // holds both keys, as placeholders nobody could mistake for real values.
    let secret = one(&overlay.secrets, "Secret");
    assert_eq!(secret.metadata.name.as_deref(), Some(secret_name(&pod).as_str()), "the pods read the generated Secret");
    let data = secret.data.clone().unwrap_or_default();
    for key in ["MCPTK_SESSION_KEY", "MCPTK_HTTP_TOKENS"] {
        let value = data.get(key).unwrap_or_else(|| panic!("the Secret holds {key}"));
        let value = String::from_utf8_lossy(&value.0);
        assert!(value.contains("REPLACE_ME"), "{key} is a marked placeholder");
    }

    // The overlay's sizes replace the base's.
    let resources = pod.containers[0].resources.clone().expect("resources");
    let limits = resources.limits.unwrap_or_default();
    assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("1Gi"), "the overlay's memory limit");
}
