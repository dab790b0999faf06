//! `docker-mcp`'s `deploy-compose`, without Compose: each service of the file becomes one
//! container `<project>-<service>-1`, labelled as Compose labels its own. Every service passes
//! the safety rules before the first one is created.

use std::collections::BTreeMap;

use bollard::models::{RestartPolicy, RestartPolicyNameEnum};
use mcp_core::{ToolContext, ToolError};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::engine::Engine;
use super::names::Names;
use crate::{ComposeArgs, ContainerSpec, Labels, PortBinding, Volumes};

/// The part of a Compose file this supports. Top-level keys other than `services` (`version`,
/// `name`, `networks`, `volumes`, ...) are ignored: networks are not created, and a named volume
/// is created by the engine when a service first mounts it.
#[derive(Deserialize)]
struct ComposeFile {
    services: BTreeMap<String, Service>,
}

/// A service's keys that are applied.
const APPLIED: [&str; 21] = [
    "image",
    "build",
    "container_name",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "labels",
    "network_mode",
    "privileged",
    "cap_add",
    "cap_drop",
    "user",
    "read_only",
    "pid",
    "mem_limit",
    "cpus",
    "pids_limit",
    "restart",
    "depends_on",
];

/// A service's keys that are accepted and ignored: none gives the container anything the
/// safety rules look at, and a stack runs without them (it is not waited on until healthy, its
/// containers keep the engine's default host name and the image's working directory and join the
/// engine's default network, or `network_mode`'s). Keys starting with `x-` are ignored too.
const IGNORED: [&str; 14] = [
    "expose",
    "healthcheck",
    "hostname",
    "domainname",
    "working_dir",
    "tty",
    "stdin_open",
    "networks",
    "logging",
    "stop_signal",
    "stop_grace_period",
    "init",
    "extra_hosts",
    "profiles",
];

/// Keys refused because the safety rules cannot check what they give a container, or because
/// leaving them out would weaken what the file asks for.
const REFUSED: [(&str, &str); 19] = [
    ("devices", "it gives the container host devices"),
    ("device_cgroup_rules", "it gives the container host devices"),
    ("security_opt", "it changes the container's confinement"),
    ("ipc", "it can share the host's or another container's IPC namespace"),
    ("userns_mode", "it can share the host's user namespace"),
    ("uts", "it can share the host's UTS namespace"),
    ("cgroup", "it can share the host's cgroup namespace"),
    ("cgroup_parent", "it moves the container out of the engine's cgroup"),
    ("sysctls", "it changes kernel settings"),
    ("volumes_from", "it mounts another container's volumes, which the rules did not check"),
    ("env_file", "it reads files on the server's host"),
    ("secrets", "it reads files on the server's host"),
    ("configs", "it reads files on the server's host"),
    ("extends", "it reads other Compose files"),
    ("runtime", "it picks another OCI runtime"),
    ("tmpfs", "it is not supported"),
    ("shm_size", "it is not supported"),
    ("ulimits", "it is not supported"),
    ("oom_kill_disable", "it would exempt the container from its memory limit"),
];

/// A service's applied keys; `check_keys` has refused every key that is neither applied nor
/// ignored before this is read, so serde may skip the ignored ones.
#[derive(Deserialize)]
struct Service {
    image: Option<String>,
    build: Option<serde_yaml::Value>,
    container_name: Option<String>,
    command: Option<Words>,
    entrypoint: Option<Words>,
    environment: Option<KeyValues>,
    ports: Option<Vec<serde_yaml::Value>>,
    volumes: Option<Vec<serde_yaml::Value>>,
    labels: Option<KeyValues>,
    network_mode: Option<String>,
    privileged: Option<bool>,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    user: Option<UserValue>,
    read_only: Option<bool>,
    pid: Option<String>,
    mem_limit: Option<ByteValue>,
    cpus: Option<Cpus>,
    pids_limit: Option<i64>,
    restart: Option<String>,
    depends_on: Option<DependsOn>,
}

/// A Compose `user`: a name or `uid[:gid]`, which YAML reads as a number when it is one.
#[derive(Deserialize)]
#[serde(untagged)]
enum UserValue {
    Id(u64),
    Text(String),
}

impl UserValue {
    fn text(self) -> String {
        match self {
            UserValue::Id(id) => id.to_string(),
            UserValue::Text(text) => text,
        }
    }
}

/// A Compose byte value: a number of bytes, or a string such as `256m`, `1g`, `1.5GiB`, `512k`
/// (units are powers of 1024, as Docker's own parser has them).
#[derive(Deserialize)]
#[serde(untagged)]
enum ByteValue {
    Bytes(i64),
    Text(String),
}

impl ByteValue {
    fn bytes(&self) -> Result<i64, String> {
        let text = match self {
            Self::Bytes(n) => return Ok(*n),
            Self::Text(text) => text.trim(),
        };
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, unit) = (&text[..split], text[split..].trim_start().to_ascii_lowercase());
        let unit = unit.strip_suffix('b').unwrap_or(&unit);
        let unit = unit.strip_suffix('i').unwrap_or(unit);
        let power = match unit {
            "" => 0,
            "k" => 1,
            "m" => 2,
            "g" => 3,
            "t" => 4,
            _ => return Err(format!("unknown unit in {text:?} (use b, k, m, g or t)")),
        };
        let amount: f64 = number.parse().map_err(|_| format!("{text:?} is not a byte value such as 256m or 1g"))?;
        let bytes = amount * 1024f64.powi(power);
        if !bytes.is_finite() || bytes >= i64::MAX as f64 {
            return Err(format!("{text:?} is too large"));
        }
        Ok(bytes as i64)
    }
}

/// `cpus:`, a number of CPUs (`0.5`), as a number or a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Cpus {
    Number(f64),
    Text(String),
}

impl Cpus {
    fn nano_cpus(&self) -> Result<i64, String> {
        let cpus = match self {
            Self::Number(n) => *n,
            Self::Text(text) => text.trim().parse().map_err(|_| format!("`cpus` {text:?} is not a number"))?,
        };
        if !cpus.is_finite() || cpus * 1e9 >= i64::MAX as f64 {
            return Err(format!("`cpus` {cpus} is not a number of CPUs"));
        }
        Ok((cpus * 1e9).round() as i64)
    }
}

/// `depends_on:` as a list of services, or a mapping of services to conditions (the
/// conditions are not waited for: a dependency is started first, that is all).
#[derive(Deserialize)]
#[serde(untagged)]
enum DependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, IgnoredAny>),
}

impl DependsOn {
    fn services(&self) -> Vec<String> {
        match self {
            Self::List(list) => list.clone(),
            Self::Map(map) => map.keys().cloned().collect(),
        }
    }
}

/// A command as a string or as a list of words.
#[derive(Deserialize)]
#[serde(untagged)]
enum Words {
    Line(String),
    List(Vec<String>),
}

impl Words {
    /// As one command line whose split gives back the words.
    fn line(&self) -> String {
        match self {
            Self::Line(line) => line.clone(),
            Self::List(words) => {
                words.iter().map(|w| format!("'{}'", w.replace('\'', r"'\''"))).collect::<Vec<_>>().join(" ")
            }
        }
    }
}

/// Environment or labels: a mapping, or `KEY=VALUE` strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeyValues {
    Map(BTreeMap<String, Option<serde_yaml::Value>>),
    List(Vec<String>),
}

impl KeyValues {
    fn to_map(&self) -> BTreeMap<String, String> {
        match self {
            Self::Map(map) => map
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        None | Some(serde_yaml::Value::Null) => String::new(),
                        Some(serde_yaml::Value::String(s)) => s.clone(),
                        Some(other) => serde_yaml::to_string(other).unwrap_or_default().trim_end().to_owned(),
                    };
                    (k.clone(), v)
                })
                .collect(),
            Self::List(list) => Labels::List(list.clone()).to_map(),
        }
    }
}

/// One service as a container to run.
#[derive(Debug)]
struct Planned {
    service: String,
    spec: ContainerSpec,
    restart: Option<RestartPolicy>,
}

/// Refuses a service's key that is neither applied nor ignored, saying why.
fn check_keys(yaml: &serde_yaml::Value) -> Result<(), ToolError> {
    let Some(services) = yaml.get("services").and_then(serde_yaml::Value::as_mapping) else { return Ok(()) };
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        for key in service.as_mapping().into_iter().flat_map(|m| m.keys()).filter_map(serde_yaml::Value::as_str) {
            if APPLIED.contains(&key) || IGNORED.contains(&key) || key.starts_with("x-") {
                continue;
            }
            let why = REFUSED.iter().find(|(refused, _)| *refused == key).map_or(
                "deploy-compose does not support it (see docs/docker.md for the keys it applies and ignores)",
                |(_, why)| why,
            );
            return Err(ToolError::msg(format!("service `{name}`: `{key}` is not supported: {why}")));
        }
    }
    Ok(())
}

/// The services as container settings, each after the services it depends on (else in the
/// file's sorted order).
fn plan(args: &ComposeArgs) -> Result<Vec<Planned>, ToolError> {
    let invalid = |e: serde_yaml::Error| ToolError::msg(format!("invalid Compose file: {e}"));
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(&args.compose_yaml).map_err(invalid)?;
    // `<<: *anchor`, as Compose files use to share settings between services.
    yaml.apply_merge().map_err(invalid)?;
    check_keys(&yaml)?;
    let file: ComposeFile = serde_yaml::from_value(yaml).map_err(invalid)?;
    let order = start_order(&file.services)?;
    let project = &args.project_name;
    if project.is_empty() || !project.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ToolError::msg(format!("invalid project name {project:?}: use letters, digits, `-` and `_`")));
    }
    let mut specs = Vec::new();
    let mut services = file.services;
    for name in order {
        let Some(service) = services.remove(&name) else { continue };
        if service.build.is_some() {
            return Err(ToolError::msg(format!("service `{name}`: `build` is not supported; build the image first")));
        }
        let image = service.image.ok_or_else(|| ToolError::msg(format!("service `{name}` has no `image`")))?;
        let mut labels = service.labels.as_ref().map(KeyValues::to_map).unwrap_or_default();
        labels.insert("com.docker.compose.project".into(), project.clone());
        labels.insert("com.docker.compose.service".into(), name.clone());
        let mut ports = BTreeMap::new();
        for port in service.ports.unwrap_or_default() {
            let entry = match port {
                serde_yaml::Value::String(s) => s,
                serde_yaml::Value::Number(n) => n.to_string(),
                other => return Err(ToolError::msg(format!("service `{name}`: unsupported port {other:?}"))),
            };
            let (container, binding) = port_entry(&entry).map_err(|why| {
                ToolError::msg(format!(
                    "service `{name}`: invalid port {entry:?}: {why} (use `[HOST_IP:]HOST_PORT:CONTAINER_PORT` or \
                     `CONTAINER_PORT`)"
                ))
            })?;
            ports.insert(container, binding);
        }
        let restart = service
            .restart
            .as_deref()
            .map(restart_policy)
            .transpose()
            .map_err(|why| ToolError::msg(format!("service `{name}`: {why}")))?;
        let mut volumes = Vec::new();
        for volume in service.volumes.unwrap_or_default() {
            match volume {
                serde_yaml::Value::String(v) => volumes.push(v),
                _ => {
                    return Err(ToolError::msg(format!(
                        "service `{name}`: long-syntax volume entries are not supported; use `SOURCE:TARGET[:MODE]`"
                    )));
                }
            }
        }
        let mem_limit = service
            .mem_limit
            .as_ref()
            .map(ByteValue::bytes)
            .transpose()
            .map_err(|why| ToolError::msg(format!("service `{name}`: invalid `mem_limit`: {why}")))?;
        let nano_cpus = service
            .cpus
            .as_ref()
            .map(Cpus::nano_cpus)
            .transpose()
            .map_err(|why| ToolError::msg(format!("service `{name}`: {why}")))?;
        let spec = ContainerSpec {
            name: Some(service.container_name.unwrap_or_else(|| format!("{project}-{name}-1"))),
            command: service.command.as_ref().map(Words::line),
            entrypoint: service.entrypoint.as_ref().map(Words::line),
            environment: service.environment.as_ref().map(KeyValues::to_map),
            ports: (!ports.is_empty()).then_some(ports),
            volumes: (!volumes.is_empty()).then_some(Volumes::List(volumes)),
            labels: Some(Labels::Map(labels)),
            network_mode: service.network_mode,
            privileged: service.privileged,
            cap_add: service.cap_add,
            cap_drop: service.cap_drop,
            user: service.user.map(UserValue::text),
            read_only: service.read_only,
            pid_mode: service.pid,
            mem_limit,
            nano_cpus,
            pids_limit: service.pids_limit,
            ..ContainerSpec::new(image)
        };
        specs.push(Planned { service: name, spec, restart });
    }
    if specs.is_empty() {
        return Err(ToolError::msg("the Compose file has no services"));
    }
    Ok(specs)
}

/// The services in the order to start them: each after those it `depends_on`, otherwise in
/// sorted order. A dependency the file does not define, or a cycle, is an error naming it.
fn start_order(services: &BTreeMap<String, Service>) -> Result<Vec<String>, ToolError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        services: &BTreeMap<String, Service>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        order: &mut Vec<String>,
    ) -> Result<(), ToolError> {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let start = path.iter().position(|n| n == name).unwrap_or(0);
                let cycle: Vec<&str> = path[start..].iter().map(String::as_str).chain([name]).collect();
                return Err(ToolError::msg(format!(
                    "the services' `depends_on` form a cycle: {}; no service was started",
                    cycle.join(" -> ")
                )));
            }
            None => {}
        }
        marks.insert(name.to_owned(), Mark::Visiting);
        path.push(name.to_owned());
        let mut dependencies = services[name].depends_on.as_ref().map(DependsOn::services).unwrap_or_default();
        dependencies.sort();
        for dependency in &dependencies {
            if !services.contains_key(dependency) {
                return Err(ToolError::msg(format!(
                    "service `{name}` depends on `{dependency}`, which the Compose file does not define"
                )));
            }
            visit(dependency, services, marks, path, order)?;
        }
        path.pop();
        marks.insert(name.to_owned(), Mark::Done);
        order.push(name.to_owned());
        Ok(())
    }
    let (mut marks, mut order) = (BTreeMap::new(), Vec::new());
    for name in services.keys() {
        visit(name, services, &mut marks, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// A short-syntax port: `CONTAINER_PORT[/PROTO]`, `HOST_PORT:CONTAINER_PORT[/PROTO]` or
/// `HOST_IP:HOST_PORT:CONTAINER_PORT[/PROTO]` (an IPv6 address in brackets), as the container
/// port and its binding. The host IP is kept: `127.0.0.1:5432:5432` publishes on loopback only.
fn port_entry(entry: &str) -> Result<(String, Option<PortBinding>), String> {
    let Some((host, container)) = entry.rsplit_once(':') else { return Ok((entry.to_owned(), None)) };
    let (ip, host_port) = match host.rsplit_once(':') {
        Some((ip, port)) => (Some(ip.trim_start_matches('[').trim_end_matches(']')), port),
        None => (None, host),
    };
    let port: u16 = host_port.parse().map_err(|_| format!("host port {host_port:?} is not a port number"))?;
    let binding = match ip {
        Some(ip) => {
            ip.parse::<std::net::IpAddr>().map_err(|_| format!("host IP {ip:?} is not an IP address"))?;
            PortBinding::Address(ip.to_owned(), port)
        }
        None => PortBinding::Port(port),
    };
    Ok((container.to_owned(), Some(binding)))
}

/// A service's `restart:` as the engine's restart policy: `no`, `always`, `on-failure[:N]`
/// (at most N restarts), `unless-stopped`.
fn restart_policy(restart: &str) -> Result<RestartPolicy, String> {
    let policy = |name, maximum_retry_count| RestartPolicy { name: Some(name), maximum_retry_count };
    match restart.split_once(':') {
        None if restart == "no" => Ok(policy(RestartPolicyNameEnum::NO, None)),
        None if restart == "always" => Ok(policy(RestartPolicyNameEnum::ALWAYS, None)),
        None if restart == "unless-stopped" => Ok(policy(RestartPolicyNameEnum::UNLESS_STOPPED, None)),
        None if restart == "on-failure" => Ok(policy(RestartPolicyNameEnum::ON_FAILURE, None)),
        Some(("on-failure", count)) => match count.parse::<i64>() {
            Ok(count) if count >= 0 => Ok(policy(RestartPolicyNameEnum::ON_FAILURE, Some(count))),
            _ => Err(format!("invalid restart policy {restart:?}: after `on-failure:` comes a count (0 or more)")),
        },
        _ => Err(format!(
            "unsupported restart policy {restart:?}: use `no`, `always`, `on-failure[:N]` or `unless-stopped`"
        )),
    }
}

/// Checks every service, then runs them one by one; a failure removes what this call started.
pub(crate) async fn deploy(engine: &Engine, args: &ComposeArgs, cx: &ToolContext) -> Result<String, ToolError> {
    let specs = plan(args)?;
    for Planned { service, spec, restart } in &specs {
        // Names and images go into the engine's paths, as a tool's arguments do.
        spec.check_names().map_err(|e| ToolError::msg(format!("service `{service}`: {}", e.message())))?;
        let refused = |r| ToolError::msg(format!("service `{service}`: {r}"));
        engine.safety.check_container(spec).map_err(refused)?;
        let policy = restart.as_ref().and_then(|r| r.name).map(|name| name.to_string());
        engine
            .safety
            .check_restart(policy.as_deref(), &engine.safety.host_binds(spec).map_err(refused)?)
            .map_err(refused)?;
    }
    let mut started: Vec<(String, Value)> = Vec::new();
    for Planned { service: name, spec, restart } in &specs {
        match engine.run_restarting(spec, restart.clone(), cx).await {
            Ok(dict) => started.push((name.clone(), dict)),
            Err(e) => {
                for (_, dict) in &started {
                    if let Some(id) = dict["id"].as_str() {
                        let _ = engine.remove_container(id, true).await;
                    }
                }
                return Err(ToolError::msg(format!("service `{name}` did not start: {}", e.message())));
            }
        }
    }
    let lines: Vec<String> = started
        .iter()
        .map(|(service, dict)| {
            format!(
                "- {service}: {} ({})",
                dict["name"].as_str().unwrap_or_default(),
                dict["short_id"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Ok(format!("Successfully deployed compose stack '{}':\n{}", args.project_name, lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_become_named_labelled_containers() {
        let args = ComposeArgs {
            compose_yaml: "services:\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo it's up\"]\n    environment:\n      A: 1\n    ports: [\"8080:80\"]\n".into(),
            project_name: "demo".into(),
        };
        let specs = plan(&args).expect("valid");
        let Planned { service, spec, restart } = &specs[0];
        assert_eq!(restart, &None);
        assert_eq!((service.as_str(), spec.name.as_deref()), ("web", Some("demo-web-1")));
        let words = crate::split_command(spec.command.as_deref().unwrap_or_default()).expect("splits");
        assert_eq!(words, ["sh", "-c", "echo it's up"]);
        assert_eq!(spec.environment.as_ref().map(|e| e["A"].clone()), Some("1".into()));
        assert_eq!(spec.ports.as_ref().map(|p| p["80"].clone()), Some(Some(PortBinding::Port(8080))));
        let bad = ComposeArgs { compose_yaml: "services:\n  x:\n    build: .\n".into(), project_name: "p".into() };
        assert!(plan(&bad).expect_err("refused").message().contains("`build` is not supported"));
    }

    fn compose(yaml: &str) -> ComposeArgs {
        ComposeArgs { compose_yaml: yaml.into(), project_name: "demo".into() }
    }

    #[test]
    fn ports_keep_their_host_ip() {
        let yaml = "services:\n  db:\n    image: postgres\n    ports: [\"127.0.0.1:5432:5432\", \"[::1]:8080:80/udp\", \"9000:90\", 7000]\n";
        let specs = plan(&compose(yaml)).expect("valid");
        let ports = specs[0].spec.ports.clone().expect("ports");
        assert_eq!(ports["5432"], Some(PortBinding::Address("127.0.0.1".into(), 5432)));
        assert_eq!(ports["80/udp"], Some(PortBinding::Address("::1".into(), 8080)));
        assert_eq!(ports["90"], Some(PortBinding::Port(9000)));
        assert_eq!(ports["7000"], None);
        for bad in ["localhost:5432:5432", "127.0.0.1::5432", "8000-8001:80"] {
            let yaml = format!("services:\n  db:\n    image: postgres\n    ports: [\"{bad}\"]\n");
            let message = plan(&compose(&yaml)).err().map(|e| e.message().to_owned()).unwrap_or_default();
            assert!(message.starts_with(&format!("service `db`: invalid port \"{bad}\"")), "{bad}: {message}");
        }
    }

    #[test]
    fn restart_becomes_the_restart_policy_or_is_refused() {
        let restart = |policy: &str| {
            let yaml = format!("services:\n  web:\n    image: busybox\n    restart: \"{policy}\"\n");
            plan(&compose(&yaml)).map(|mut specs| specs.remove(0).restart.expect("a policy"))
        };
        let expected = |name, count| RestartPolicy { name: Some(name), maximum_retry_count: count };
        assert_eq!(restart("no").ok(), Some(expected(RestartPolicyNameEnum::NO, None)));
        assert_eq!(restart("always").ok(), Some(expected(RestartPolicyNameEnum::ALWAYS, None)));
        assert_eq!(restart("unless-stopped").ok(), Some(expected(RestartPolicyNameEnum::UNLESS_STOPPED, None)));
        assert_eq!(restart("on-failure").ok(), Some(expected(RestartPolicyNameEnum::ON_FAILURE, None)));
        assert_eq!(restart("on-failure:3").ok(), Some(expected(RestartPolicyNameEnum::ON_FAILURE, Some(3))));
        for bad in ["sometimes", "on-failure:x", "on-failure:-1", "always:2", ""] {
            let message = restart(bad).err().map(|e| e.message().to_owned()).unwrap_or_default();
            assert!(message.starts_with("service `web`: ") && message.contains("restart policy"), "{bad}: {message}");
        }
    }

    #[test]
    fn an_ordinary_compose_file_is_accepted_and_started_in_dependency_order() {
        let yaml = r#"
version: "3.8"
x-common: &common
  restart: "no"
services:
  web:
    <<: *common
    image: nginx
    depends_on: [api]
    expose: ["80"]
    hostname: web
    working_dir: /srv
    tty: true
    stdin_open: true
    container_name: shop-web
    labels: {tier: front}
    networks: [default]
    healthcheck: {test: ["CMD", "true"], interval: 10s}
    mem_limit: 256m
    cpus: 0.5
    x-note: ignored
  api:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
    mem_limit: "1.5GiB"
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
  db:
    image: postgres
    mem_limit: 1024
    user: 999
networks:
  default: {}
volumes:
  data: {}
"#;
        let specs = plan(&compose(yaml)).expect("an ordinary file is accepted");
        let order: Vec<&str> = specs.iter().map(|p| p.service.as_str()).collect();
        assert_eq!(order, ["db", "api", "web"]);
        let mib = 1024 * 1024;
        assert_eq!(specs[2].spec.mem_limit, Some(256 * mib));
        assert_eq!(specs[2].spec.nano_cpus, Some(500_000_000));
        assert_eq!(specs[2].spec.name.as_deref(), Some("shop-web"));
        assert_eq!(specs[1].spec.mem_limit, Some(1536 * mib));
        assert_eq!(specs[0].spec.mem_limit, Some(1024));
        // What hardens a container is applied, not refused or dropped.
        assert_eq!(specs[1].spec.user.as_deref(), Some("1000:1000"));
        assert_eq!(specs[1].spec.read_only, Some(true));
        assert_eq!(specs[1].spec.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(specs[0].spec.user.as_deref(), Some("999"));
        assert_eq!((specs[2].spec.user.as_deref(), specs[2].spec.read_only), (None, None));
    }

    #[test]
    fn byte_values_read_as_compose_reads_them() {
        let bytes = |text: &str| ByteValue::Text(text.into()).bytes();
        let mib = 1024 * 1024;
        for (text, expected) in [
            ("256m", 256 * mib),
            ("256M", 256 * mib),
            ("256mb", 256 * mib),
            ("256 MiB", 256 * mib),
            ("1g", 1024 * mib),
            ("512k", 512 * 1024),
            ("100", 100),
            ("100b", 100),
            ("0.5g", 512 * mib),
        ] {
            assert_eq!(bytes(text), Ok(expected), "{text}");
        }
        for bad in ["", "m", "12q", "1.2.3m", "-1m", "99999999999t"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
        let yaml = "services:\n  web:\n    image: busybox\n    mem_limit: 12q\n";
        let message = plan(&compose(yaml)).err().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.starts_with("service `web`: invalid `mem_limit`: unknown unit"), "{message}");
    }

    #[test]
    fn dependency_cycles_and_unknown_dependencies_are_named() {
        let yaml = "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n";
        let message = plan(&compose(yaml)).err().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.contains("form a cycle: a -> b -> c -> a"), "{message}");
        let yaml = "services:\n  a:\n    image: x\n    depends_on: [a]\n";
        let message = plan(&compose(yaml)).err().map(|e| e.message().to_owned()).unwrap_or_default();
        assert!(message.contains("form a cycle: a -> a"), "{message}");
        let yaml = "services:\n  a:\n    image: x\n    depends_on: [db]\n";
        let message = plan(&compose(yaml)).err().map(|e| e.message().to_owned()).unwrap_or_default();
        assert_eq!(message, "service `a` depends on `db`, which the Compose file does not define");
    }

    #[test]
    fn what_the_rules_cannot_check_is_refused_by_name() {
        for (key, value, expected) in [
            ("devices", "[\"/dev/sda:/dev/sda\"]", "`devices` is not supported: it gives the container host devices"),
            ("security_opt", "[\"seccomp=unconfined\"]", "`security_opt` is not supported"),
            ("ipc", "host", "`ipc` is not supported"),
            ("userns_mode", "host", "`userns_mode` is not supported"),
            ("env_file", ".env", "`env_file` is not supported: it reads files on the server's host"),
            ("tmpfs", "[/run]", "`tmpfs` is not supported"),
            ("frobnicate", "1", "`frobnicate` is not supported: deploy-compose does not support it"),
            ("volumes", "[{type: bind, source: /, target: /x}]", "long-syntax volume entries are not supported"),
        ] {
            let yaml = format!("services:\n  web:\n    image: busybox\n    {key}: {value}\n");
            let message = plan(&compose(&yaml)).err().map(|e| e.message().to_owned()).unwrap_or_default();
            assert!(message.starts_with("service `web`: ") && message.contains(expected), "{key}: {message}");
        }
    }

    #[tokio::test]
    async fn services_are_refused_before_the_engine_is_reached() {
        // No engine at this address: a refusal must come before the first request would fail.
        let engine =
            Engine::new(Some("unix:///nonexistent/mcptk-docker.sock".into()), crate::native::Safety::default());
        let cx = ToolContext::detached();
        for (yaml, expected) in [
            ("services:\n  web:\n    image: busybox\n    container_name: ../x\n", "invalid argument `name`"),
            ("services:\n  web:\n    image: ../../containers/x/kill\n", "invalid argument `image`"),
            ("services:\n  web:\n    image: busybox\n    mem_limit: 0\n", "`resource-limits`"),
            ("services:\n  web:\n    image: busybox\n    pids_limit: -1\n", "`resource-limits`"),
        ] {
            let message = deploy(&engine, &compose(yaml), &cx).await.expect_err(expected).message().to_owned();
            assert!(message.starts_with("service `web`: ") && message.contains(expected), "{yaml}: {message}");
        }
    }
}
