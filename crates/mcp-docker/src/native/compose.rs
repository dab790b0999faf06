//! `docker-mcp`'s `deploy-compose`, without Compose: each service of the file becomes one
//! container `<project>-<service>-1`, labelled as Compose labels its own. Every service passes
//! the safety rules before the first one is created.

use std::collections::BTreeMap;

use mcp_core::{ToolContext, ToolError};
use serde::Deserialize;
use serde_json::Value;

use super::engine::Engine;
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

/// The services as container settings, in the file's (sorted) order.
fn plan(args: &ComposeArgs) -> Result<Vec<(String, ContainerSpec)>, ToolError> {
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
            let (host, container) = match entry.rsplit_once(':') {
                Some((host, container)) => (host.rsplit(':').next().map(str::to_owned), container.to_owned()),
                None => (None, entry.clone()),
            };
            let binding = match host {
                Some(h) => Some(PortBinding::Port(
                    h.parse().map_err(|_| ToolError::msg(format!("service `{name}`: invalid port {entry:?}")))?,
                )),
                None => None,
            };
            ports.insert(container, binding);
        }
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
        let _ = service.restart;
        specs.push((name, spec));
    }
    if specs.is_empty() {
        return Err(ToolError::msg("the Compose file has no services"));
    }
    Ok(specs)
}

/// Checks every service, then runs them one by one; a failure removes what this call started.
pub(crate) async fn deploy(engine: &Engine, args: &ComposeArgs, cx: &ToolContext) -> Result<String, ToolError> {
    let specs = plan(args)?;
    for (name, spec) in &specs {
        engine.safety.check_container(spec).map_err(|r| ToolError::msg(format!("service `{name}`: {r}")))?;
    }
    let mut started: Vec<(String, Value)> = Vec::new();
    for (name, spec) in &specs {
        match engine.run_container(spec, cx).await {
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
        let (service, spec) = &specs[0];
        assert_eq!((service.as_str(), spec.name.as_deref()), ("web", Some("demo-web-1")));
        let words = crate::split_command(spec.command.as_deref().unwrap_or_default()).expect("splits");
        assert_eq!(words, ["sh", "-c", "echo it's up"]);
        assert_eq!(spec.environment.as_ref().map(|e| e["A"].clone()), Some("1".into()));
        assert_eq!(spec.ports.as_ref().map(|p| p["80"].clone()), Some(Some(PortBinding::Port(8080))));
        let bad = ComposeArgs { compose_yaml: "services:\n  x:\n    build: .\n".into(), project_name: "p".into() };
        assert!(plan(&bad).expect_err("refused").message().contains("`build` is not supported"));
    }
}
