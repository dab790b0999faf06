//! The reference server (`mcp-server-docker` 0.3.0 from PyPI, installed into `.tools/py-docker`
//! by `cargo xtask setup`) and ours, side by side on the same engine: the same calls give answers
//! of the same shape and the same content, and the typed wrappers drive both.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mcp_core::config::StdioServer;
use mcp_core::protocol::JsonObject;
use mcp_core::{Client, ClientOptions};
use mcp_docker::{ContainerSpec, Docker, Tail};
use serde_json::{Value, json};

use crate::support::{self, unique};

/// The reference server on `host`; `None` (the reason printed) outside CI when it is missing.
pub(crate) async fn reference(host: &str) -> Option<Arc<Client>> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py-docker/bin/mcp-server-docker");
    if !bin.exists() {
        return crate::services::unavailable(&format!(
            "{} is missing: run `cargo xtask setup` (it needs Python 3.12)",
            bin.display()
        ));
    }
    let mut server = StdioServer::new(bin.display().to_string(), Vec::<String>::new());
    server.env.insert("DOCKER_HOST".into(), host.into());
    Some(Arc::new(Client::spawn("mcp-server-docker", &server, ClientOptions::default()).await.expect("it starts")))
}

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("an object")
}

/// The shape of a JSON value: objects by key, arrays by their first item, scalars by kind;
/// `null` stands for any kind (the reference sends `null` where bollard leaves a field out).
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::Null => Value::Null,
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
    }
}

/// Where two shapes differ (a `null` on either side matches anything, an absent `Log` of an
/// empty health check too), as paths.
fn differences(reference: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    match (reference, ours) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let here = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differences(x, y, &here, out),
                    (Some(Value::Null), None) | (None, Some(Value::Null)) => {}
                    (Some(_), None) => out.push(format!("{here}: only the reference has it")),
                    (None, Some(_)) => out.push(format!("{here}: only ours has it")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                differences(x, y, &format!("{path}[0]"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// `value` without the label our server puts on every container it creates (the reference
/// server puts none), wherever a `labels` mapping has it.
fn without_our_label(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let mut item = without_our_label(item);
                    if let (true, Some(labels)) = (key == "labels", item.as_object_mut()) {
                        labels.remove(mcp_docker::native::CREATED_LABEL);
                    }
                    (key.clone(), item)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_our_label).collect()),
        other => other.clone(),
    }
}

fn assert_same_shape(what: &str, reference: &Value, ours: &Value) {
    let mut found = Vec::new();
    differences(&shape(reference), &shape(&without_our_label(ours)), "", &mut found);
    assert!(found.is_empty(), "{what}: the answers differ in shape:\n{}", found.join("\n"));
}

/// Calls `tool` on `client`: (is error, structured content, text).
async fn call(client: &Client, tool: &str, arguments: Value) -> (bool, Value, String) {
    let result = client.call_tool(tool, args(arguments)).await.expect("a result");
    (result.is_error(), result.structured_content.clone().unwrap_or(Value::Null), result.text_content())
}

#[tokio::test]
async fn both_servers_list_the_same_tools_with_the_same_arguments() {
    let Some((host, _)) = support::engine() else { return };
    let Some(reference) = reference(&host).await else { return };
    let ours = support::client(&support::server(&host, Default::default())).await;
    let ours_tools = ours.list_tools().await.expect("lists");
    for tool in reference.list_tools().await.expect("lists") {
        let mine =
            ours_tools.iter().find(|t| t.name == tool.name).unwrap_or_else(|| panic!("{} is missing", tool.name));
        let names = |schema: &JsonObject| -> Vec<String> {
            schema.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default()
        };
        let theirs = names(&tool.input_schema);
        let mine_names = names(&mine.input_schema);
        for name in &theirs {
            assert!(mine_names.contains(name), "{}: argument `{name}` is missing", tool.name);
        }
        let required = |schema: &JsonObject| schema.get("required").cloned().unwrap_or(json!([]));
        assert_eq!(required(&tool.input_schema), required(&mine.input_schema), "{}: required arguments", tool.name);
        let hints = |t: &mcp_core::protocol::Tool| {
            t.annotations.as_ref().map(|a| (a.read_only_hint == Some(true), a.open_world_hint))
        };
        assert_eq!(hints(&tool), hints(mine), "{}: annotations", tool.name);
    }
}

#[tokio::test]
async fn the_same_calls_give_the_same_answers() {
    let Some((host, image)) = support::engine() else { return };
    let Some(reference) = reference(&host).await else { return };
    let ours = support::client(&support::server(&host, Default::default())).await;
    let mut answers: Vec<BTreeMap<&str, (bool, Value, String)>> = Vec::new();
    for (side, client) in [("reference", &reference), ("ours", &ours)] {
        let name = unique(&format!("agree-{side}"));
        let volume = unique(&format!("agree-vol-{side}"));
        let label = format!("mcptk.agree={name}");
        let mut seen = BTreeMap::new();
        let run = json!({"image": image, "name": name, "command": "sh -c 'echo one; echo two >&2; echo $GREETING'",
                         "environment": {"GREETING": "hello"}, "labels": [label]});
        seen.insert("run", call(client, "run_container", run).await);
        // The output is complete once the container has exited.
        for _ in 0..50 {
            let (_, listed, _) =
                call(client, "list_containers", json!({"all": true, "filters": {"label": [label]}})).await;
            if listed["result"][0]["status"] == json!("exited") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        seen.insert("list", call(client, "list_containers", json!({"all": true, "filters": {"label": [label]}})).await);
        seen.insert("logs", call(client, "fetch_container_logs", json!({"container_id": name, "tail": "all"})).await);
        seen.insert("tail", call(client, "fetch_container_logs", json!({"container_id": name, "tail": 2})).await);
        seen.insert("stop", call(client, "stop_container", json!({"container_id": name})).await);
        seen.insert("remove", call(client, "remove_container", json!({"container_id": name})).await);
        seen.insert("gone", call(client, "start_container", json!({"container_id": name})).await);
        seen.insert("volume", call(client, "create_volume", json!({"name": volume, "labels": {"side": side}})).await);
        seen.insert("unvolume", call(client, "remove_volume", json!({"volume_name": volume})).await);
        let (repo, _) = image.rsplit_once(':').expect("repo:tag");
        seen.insert("images", call(client, "list_images", json!({"name": repo})).await);
        answers.push(seen);
    }
    let (theirs, mine) = (&answers[0], &answers[1]);
    for (call, (their_error, their_value, their_text)) in theirs {
        let (my_error, my_value, my_text) = &mine[call];
        assert_eq!(their_error, my_error, "{call}: {their_text} / {my_text}");
        if !their_error {
            assert_same_shape(call, their_value, my_value);
        }
    }
    // The engine decides how stdout and stderr interleave, and each side ran a container of its
    // own: the same lines, in whatever order; the tail, as many of them, the end of its own log.
    let lines = |answers: &BTreeMap<&str, (bool, Value, String)>, call: &str| -> Vec<String> {
        serde_json::from_value(answers[call].1["logs"].clone()).expect("lines")
    };
    let sorted = |mut lines: Vec<String>| {
        lines.sort();
        lines
    };
    assert_eq!(sorted(lines(theirs, "logs")), sorted(lines(mine, "logs")), "logs: the same lines");
    assert_eq!(sorted(lines(mine, "logs")), ["", "hello", "one", "two"], "both streams are there");
    assert_eq!(lines(theirs, "tail").len(), lines(mine, "tail").len(), "tail: as many lines");
    for answers in [theirs, mine] {
        let (all, tail) = (lines(answers, "logs"), lines(answers, "tail"));
        assert_eq!(tail, all[all.len() - tail.len()..], "tail: the end of the log");
    }
    for call in ["stop", "remove"] {
        assert_eq!(theirs[call].1["status"], mine[call].1["status"], "{call}");
    }
    assert_eq!(mine["remove"].1["status"], json!("removed"));
    assert_eq!(theirs["images"].1["result"][0]["id"], mine["images"].1["result"][0]["id"]);
    assert_eq!(theirs["images"].1["result"][0]["short_id"], mine["images"].1["result"][0]["short_id"]);
}

#[tokio::test]
async fn the_wrappers_drive_the_reference_server_too() {
    let Some((host, image)) = support::engine() else { return };
    let Some(reference) = reference(&host).await else { return };
    let docker = Docker::new(reference);
    let env = BTreeMap::from([("SEED".to_owned(), "from the wrapper".to_owned())]);
    let name = unique("agree-wrap");
    let spec = ContainerSpec {
        name: Some(name.clone()),
        command: Some("sh -c 'echo $SEED'".into()),
        environment: Some(env.clone()),
        ..ContainerSpec::new(&image)
    };
    let ran = docker.run_container(&spec).await.expect("runs");
    assert_eq!(ran.name, name);
    assert!(ran.image.as_ref().is_some_and(|i| i.tags.contains(&image)), "{ran:?}");
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = docker.fetch_container_logs(&name, Tail::All).await.expect("logs").logs;
        if lines.first().is_some_and(|l| l == "from the wrapper") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(lines, ["from the wrapper", ""]);
    let listed = docker.list_containers(true, None).await.expect("lists");
    assert!(listed.iter().any(|c| c.name == name));
    let removed = docker.remove_container(&name, true).await.expect("removes");
    assert_eq!(removed.status, "removed");
    let seeded = docker.run_container_with_env(&image, &env).await.expect("the seed's call runs");
    docker.remove_container(&seeded.id, true).await.expect("removes");
    assert!(!support::container_exists(&host, &name).await && !support::container_exists(&host, &seeded.id).await);
}
