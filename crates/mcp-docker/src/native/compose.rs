//! `docker-mcp`'s `deploy-compose`, without Compose: each service of the file becomes one
//! container `<project>-<service>-1`, labelled as Compose labels its own. Every service passes
//! the safety rules before the first one is created.

use std::collections::BTreeMap;

use bollard::models::{RestartPolicy, RestartPolicyNameEnum};
use mcp_core::{ToolContext, ToolError};
use serde::Deserialize;
use serde_json::Value;

use super::engine::Engine;
use super::names::Names;
use crate::{ComposeArgs, ContainerSpec, Labels, PortBinding, Volumes};

/// The part of a Compose file this supports.
#[derive(Deserialize)]
struct ComposeFile {
    services: BTreeMap<String, Service>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    image: Option<String>,
    build: Option<serde_yaml::Value>,
    container_name: Option<String>,
    command: Option<Words>,
    entrypoint: Option<Words>,
    environment: Option<KeyValues>,
    ports: Option<Vec<serde_yaml::Value>>,
    volumes: Option<Vec<String>>,
    labels: Option<KeyValues>,
    network_mode: Option<String>,
    privileged: Option<bool>,
    cap_add: Option<Vec<String>>,
    pid: Option<String>,
    mem_limit: Option<i64>,
    pids_limit: Option<i64>,
    restart: Option<String>,
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

/// The services as container settings, in the file's (sorted) order.
fn plan(args: &ComposeArgs) -> Result<Vec<Planned>, ToolError> {
    let file: ComposeFile =
        serde_yaml::from_str(&args.compose_yaml).map_err(|e| ToolError::msg(format!("invalid Compose file: {e}")))?;
    let project = &args.project_name;
    if project.is_empty() || !project.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ToolError::msg(format!("invalid project name {project:?}: use letters, digits, `-` and `_`")));
    }
    let mut specs = Vec::new();
    for (name, service) in file.services {
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
        let spec = ContainerSpec {
            name: Some(service.container_name.unwrap_or_else(|| format!("{project}-{name}-1"))),
            command: service.command.as_ref().map(Words::line),
            entrypoint: service.entrypoint.as_ref().map(Words::line),
            environment: service.environment.as_ref().map(KeyValues::to_map),
            ports: (!ports.is_empty()).then_some(ports),
            volumes: service.volumes.map(Volumes::List),
            labels: Some(Labels::Map(labels)),
            network_mode: service.network_mode,
            privileged: service.privileged,
            cap_add: service.cap_add,
            pid_mode: service.pid,
            mem_limit: service.mem_limit,
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
