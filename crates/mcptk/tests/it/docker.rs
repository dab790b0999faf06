//! `mcptk serve docker` and the gateway's `native.docker`, as processes, on the real engine
//! (Podman's Docker-compatible API from `tests/services.sh`: `MCPTK_TEST_DOCKER_HOST`, with the
//! busybox image it imports as `MCPTK_TEST_DOCKER_IMAGE`).

use mcp_core::config::StdioServer;
use mcp_core::protocol::JsonObject;
use mcp_core::{Client, ClientOptions};
use mcp_docker::{ContainerSpec, Docker, Tail};
use serde_json::{Value, json};

use crate::support::mcptk;

/// The engine and the test image, or `None` (the reason printed) outside CI when none runs.
fn engine() -> Option<(String, String)> {
    let host = crate::services::service("MCPTK_TEST_DOCKER_HOST", "Podman's Docker-compatible API")?;
    let image = std::env::var("MCPTK_TEST_DOCKER_IMAGE").unwrap_or_else(|_| "localhost/mcptk-busybox:test".to_owned());
    Some((host, image))
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("mcptk-cli-{what}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("an object")
}

/// `mcptk serve docker` with the engine given by `DOCKER_HOST`, and `extra` flags.
async fn serve_docker(host: &str, extra: &[&str]) -> Client {
    let mut argv = vec!["serve", "docker"];
    argv.extend_from_slice(extra);
    let mut server = StdioServer::new(mcptk(), argv);
    server.env.insert("DOCKER_HOST".into(), host.into());
    Client::spawn("docker", &server, ClientOptions::default()).await.expect("mcptk serve docker starts")
}

#[tokio::test]
async fn serve_docker_runs_containers_on_the_engine_from_docker_host() {
    let Some((host, image)) = engine() else { return };
    let client = serve_docker(&host, &["--memory-mib", "128", "--pids-limit", "64"]).await;
    let mut names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    names.sort();
    assert_eq!(names.len(), 23, "{names:?}");
    for name in ["run_container", "fetch_container_logs", "build_image", "create-container", "deploy-compose"] {
        assert!(names.iter().any(|n| n == name), "{name} is served");
    }

    let docker = Docker::new(client);
    let name = unique("serve");
    let spec = ContainerSpec {
        name: Some(name.clone()),
        command: Some("sh -c 'echo MEM=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null); env'".into()),
        environment: Some([("FROM_CLI".to_owned(), "yes".to_owned())].into()),
        detach: false,
        ..ContainerSpec::new(&image)
    };
    let ran = docker.run_container(&spec).await.expect("runs");
    let logs = docker.fetch_container_logs(&name, Tail::All).await.expect("logs");
    assert!(logs.logs.iter().any(|l| l == "FROM_CLI=yes"), "{:?} {ran:?}", logs.logs);
    assert!(
        logs.logs.iter().any(|l| l == &format!("MEM={}", 128 * 1024 * 1024)),
        "--memory-mib applies: {:?}",
        logs.logs
    );

    let refused = ContainerSpec { name: Some(unique("priv")), privileged: Some(true), ..ContainerSpec::new(&image) };
    let err = docker.run_container(&refused).await.expect_err("refused");
    assert!(err.to_string().contains("refused by safety rule `no-privileged`"), "{err}");
    let all = docker.list_containers(true, None).await.expect("lists");
    assert!(all.iter().any(|c| c.name == name) && !all.iter().any(|c| Some(&c.name) == refused.name.as_ref()));
    docker.remove_container(&name, true).await.expect("removes");
}

#[tokio::test]
async fn serve_docker_serves_the_docker_compose_prompt() {
    let Some((host, _)) = engine() else { return };
    let client = serve_docker(&host, &[]).await;
    let prompts = client.list_prompts().await.expect("prompts");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["docker_compose"]);
    let arguments: Vec<(&str, Option<bool>)> =
        prompts[0].arguments.iter().flatten().map(|a| (a.name.as_str(), a.required)).collect();
    assert_eq!(arguments, [("name", Some(true)), ("containers", Some(true))]);

    let project = unique("proj");
    let rendered = Docker::new(client).docker_compose_prompt(&project, "a web server").await.expect("renders");
    assert_eq!(rendered.messages.len(), 1);
    assert_eq!(serde_json::to_value(rendered.messages[0].role).expect("a role"), json!("user"));
    let text = serde_json::to_string(&rendered.messages[0].content).expect("JSON");
    assert!(text.contains(&format!("mcp-server-docker.project={project}")) && text.contains("a web server"), "{text}");
}

#[tokio::test]
async fn the_gateway_namespaces_docker_applies_policy_on_annotations_and_audits() {
    let Some((host, image)) = engine() else { return };
    let dir = tempfile::tempdir().expect("temp");
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("gateway.json");
    let gateway = json!({
        "native": {"docker": {"host": host, "pids_limit": 32}},
        "audit": {"path": audit},
        "policy": {"rules": [
            {"name": "no-destructive-docker", "effect": "deny", "servers": ["docker"], "annotations": {"destructiveHint": true}},
            {"name": "docker", "effect": "allow", "servers": ["docker"]}
        ]}
    });
    std::fs::write(&config, gateway.to_string()).expect("config");
    let server = StdioServer::new(mcptk(), ["serve".to_owned(), "--config".to_owned(), config.display().to_string()]);
    let client = Client::spawn("gateway", &server, ClientOptions::default()).await.expect("the gateway starts");
    let names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    assert!(names.iter().any(|n| n == "docker__run_container"), "{names:?}");
    assert!(!names.iter().any(|n| n == "docker__remove_container"), "destructive tools are hidden: {names:?}");

    let name = unique("gw");
    let ran = client
        .call_tool(
            "docker__run_container",
            args(json!({"image": image, "name": name, "detach": false, "command": "sh -c 'echo through the gateway'"})),
        )
        .await
        .expect("a result");
    assert!(!ran.is_error(), "{}", ran.text_content());
    assert_eq!(ran.structured_content.as_ref().map(|s| s["logs"].clone()), Some(json!(["through the gateway", ""])));
    let denied = client
        .call_tool("docker__remove_container", args(json!({"container_id": name, "force": true})))
        .await
        .expect("a result");
    assert!(denied.is_error());
    assert!(denied.text_content().contains("rule `no-destructive-docker`"), "{}", denied.text_content());
    let listed = client.call_tool("docker__list_containers", args(json!({"all": true}))).await.expect("a result");
    assert!(!listed.is_error(), "{}", listed.text_content());
    let still: Vec<Value> =
        listed.structured_content.expect("structured")["result"].as_array().cloned().unwrap_or_default();
    assert!(still.iter().any(|c| c["name"] == json!(name)), "the denied removal removed nothing");
    // Its prompt and resources are relayed too, through the same policy and audit.
    let prompts: Vec<String> = client.list_prompts().await.expect("prompts").into_iter().map(|p| p.name).collect();
    assert_eq!(prompts, ["docker__docker_compose"]);
    let templates: Vec<String> =
        client.list_resource_templates().await.expect("templates").into_iter().map(|t| t.uri_template).collect();
    assert!(templates.contains(&"docker://containers/{id}/logs".to_owned()), "{templates:?}");
    let logs = client.read_resource(&format!("docker://containers/{name}/logs")).await.expect("reads the logs");
    assert!(logs.contents[0].text.as_deref().is_some_and(|t| t.contains("through the gateway")), "{logs:?}");
    client.close().await.expect("closes");

    let records: Vec<Value> =
        std::fs::read_to_string(&audit).expect("audit").lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let find = |tool: &str| records.iter().find(|r| r["tool"] == tool && r["server"] == "docker").cloned();
    let run = find("run_container").expect("the run is audited");
    assert_eq!(run["outcome"], "ok");
    let removal = find("remove_container").expect("the denial is audited");
    assert_eq!(
        (removal["outcome"].as_str(), removal["rule"].as_str()),
        (Some("denied"), Some("no-destructive-docker"))
    );
    let read = records.iter().find(|r| r["kind"] == "resource_read").expect("the read is audited");
    assert_eq!((read["server"].as_str(), read["outcome"].as_str()), (Some("docker"), Some("ok")), "{read}");
    assert!(mcp_audit::verify(&audit).expect("reads").ok());

    // Cleanup outside the gateway's policy.
    let docker = Docker::new(serve_docker(&host, &[]).await);
    docker.remove_container(&name, true).await.expect("removes");
}
