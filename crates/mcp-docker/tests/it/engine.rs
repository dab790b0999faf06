//! Every native tool against the real engine.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{self, call_with_progress, container_exists, direct, ok, refused, unique};

/// The log lines of `container`, once they contain `needle` (a detached container prints
/// shortly after it starts).
async fn logs_containing(tools: &mcp_core::ToolSet, container: &str, needle: &str) -> Vec<String> {
    for _ in 0..50 {
        let logs = ok(tools, "fetch_container_logs", json!({"container_id": container, "tail": "all"})).await;
        let lines: Vec<String> = serde_json::from_value(logs["logs"].clone()).expect("lines");
        if lines.iter().any(|l| l.contains(needle)) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{container} never printed {needle}")
}

#[tokio::test]
async fn a_container_prints_its_environment_is_listed_stopped_and_removed() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("env");
    let label = format!("mcptk.test={name}");
    let run = ok(
        &tools,
        "run_container",
        json!({
            "image": image, "name": name, "command": "sh -c 'env; sleep 60'",
            "environment": {"MCPTK_GREETING": "hello from the tool"}, "labels": [label],
        }),
    )
    .await;
    assert_eq!(run["name"], json!(name));
    assert_eq!(run["status"], json!("running"), "{run}");
    let id = run["id"].as_str().expect("an id").to_owned();
    assert_eq!(run["short_id"], json!(&id[..12]));

    let lines = logs_containing(&tools, &name, "MCPTK_GREETING").await;
    assert!(lines.iter().any(|l| l == "MCPTK_GREETING=hello from the tool"), "{lines:?}");
    let (result, progress) =
        call_with_progress(&tools, "fetch_container_logs", json!({"container_id": name, "tail": 1})).await;
    assert!(!result.is_error());
    let last = result.structured_content.expect("structured")["logs"].clone();
    assert_eq!(last.as_array().map(Vec::len), Some(2), "one line, then what follows its newline: {last}");
    assert_eq!(last[1], json!(""));
    assert!(!progress.is_empty(), "log chunks are reported as progress");

    let listed = ok(&tools, "list_containers", json!({"filters": {"label": [label]}})).await;
    let ids: Vec<&str> = listed["result"].as_array().expect("a list").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()]);

    // The default limits were applied, and the container is not privileged.
    let inspected = support::inspect(&host, &name).await;
    let hc = inspected.host_config.expect("host config");
    assert_eq!((hc.memory, hc.nano_cpus, hc.pids_limit), (Some(512 * 1024 * 1024), Some(1_000_000_000), Some(256)));
    assert_eq!(hc.privileged, Some(false));

    let stopped = ok(&tools, "stop_container", json!({"container_id": name})).await;
    assert_eq!(stopped["status"], json!("exited"), "{stopped}");
    let running = ok(&tools, "list_containers", json!({"filters": {"label": [label]}})).await;
    assert_eq!(running["result"], json!([]), "a stopped container is listed only with all");
    let all = ok(&tools, "list_containers", json!({"all": true, "filters": {"label": [label]}})).await;
    assert_eq!(all["result"].as_array().map(Vec::len), Some(1));

    ok(&tools, "remove_container", json!({"container_id": id})).await;
    assert!(!container_exists(&host, &name).await);
    let err = refused(&tools, "stop_container", json!({"container_id": name})).await;
    assert!(err.contains("404"), "{err}");
}

#[tokio::test]
async fn a_foreground_run_waits_and_returns_the_output() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("fg");
    let run = ok(
        &tools,
        "run_container",
        json!({"image": image, "name": name, "detach": false, "command": "sh -c 'echo $ANSWER'", "environment": {"ANSWER": "42"}}),
    )
    .await;
    assert_eq!((run["exit_code"].clone(), run["logs"].clone()), (json!(0), json!(["42", ""])), "{run}");
    ok(&tools, "remove_container", json!({"container_id": name, "force": true})).await;
    assert!(!container_exists(&host, &name).await);
}

/// `docker run --rm`: the output and the exit code come back, and the container is gone after.
#[tokio::test]
async fn a_foreground_run_with_auto_remove_returns_the_output_and_removes_the_container() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("fg-rm");
    let run = ok(
        &tools,
        "run_container",
        json!({"image": image, "name": name, "detach": false, "auto_remove": true, "command": "sh -c 'echo hello; exit 3'"}),
    )
    .await;
    assert_eq!((run["exit_code"].clone(), run["logs"].clone()), (json!(3), json!(["hello", ""])), "{run}");
    assert!(!container_exists(&host, &name).await, "the container was kept despite auto_remove");

    // Cancelled while it waits, a named one still goes once it exits, as the engine would do,
    // and not before. It runs until it is killed, so nothing here depends on how fast it starts.
    let name = unique("fg-rm-cancel");
    let call = ok(
        &tools,
        "run_container",
        json!({"image": image, "name": name, "detach": false, "auto_remove": true, "command": "sleep 600"}),
    );
    // As a client's cancellation does: the call is dropped once the container runs.
    tokio::select! {
        _ = call => panic!("sleep 600 cannot have finished"),
        () = support::until_running(&host, "name", &name) => {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let running = support::is_running(&host, &name).await;
    if !running {
        support::remove_container(&host, &name).await;
    }
    assert!(running, "removed or stopped while it ran");
    let options = bollard::query_parameters::KillContainerOptions { signal: "KILL".into() };
    direct(&host).await.kill_container(&name, Some(options)).await.expect("killed");
    let gone = support::until_gone(&host, &name).await;
    support::remove_container(&host, &name).await;
    assert!(gone, "the auto_remove container of a cancelled run was left behind after it exited");
}

/// A chatty log reaches the client as a few progress notifications with at most about a MiB of
/// text in all, not one notification (with its text) per chunk the engine streams.
#[tokio::test]
async fn log_progress_is_bounded_in_count_and_text() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("chatty");
    // 40 000 lines of 129 bytes: about 5 MiB.
    let command = format!("sh -c 'yes {} | head -n 40000'", "x".repeat(128));
    ok(&tools, "run_container", json!({"image": image, "name": name, "detach": false, "command": command})).await;
    let counted = std::sync::Arc::new(std::sync::Mutex::new((0usize, 0usize)));
    let sink = counted.clone();
    let cx = mcp_core::ToolContext::detached().with_progress_fn(std::sync::Arc::new(move |_, _, message| {
        if let Ok(mut counted) = sink.lock() {
            counted.0 += 1;
            counted.1 += message.map_or(0, |m| m.len());
        }
    }));
    let args = json!({"container_id": name, "tail": "all"}).as_object().cloned().expect("an object");
    let started = std::time::Instant::now();
    let result = tools.call("fetch_container_logs", args, cx).await;
    let elapsed = started.elapsed();
    support::remove_container(&host, &name).await;
    assert!(!result.is_error(), "{}", result.text_content());
    let (notifications, text) = *counted.lock().expect("counted");
    let allowed = (elapsed.as_millis() / 100) as usize + 2;
    assert!(notifications <= allowed, "{notifications} notifications in {elapsed:?}");
    assert!(text <= 1024 * 1024 + 200, "{text} bytes of log text as progress");
    let lines = result.structured_content.expect("structured")["logs"].as_array().map_or(0, Vec::len);
    assert_eq!(lines, 10_001, "the result keeps its own bound: a note, then the last lines");
}

#[tokio::test]
async fn a_foreground_run_cancelled_while_it_waits_leaves_no_unnamed_container_behind() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    // Without a name the caller would know the container only by the id the answer gives.
    let label = format!("mcptk.test={}", unique("fg-cancel"));
    let call = ok(
        &tools,
        "run_container",
        json!({"image": image, "labels": [label], "detach": false, "command": "sleep 600"}),
    );
    // As a client's cancellation or the gateway's timeout does: the call is dropped mid-wait,
    // once the container runs. (Had the run failed instead, `ok` would have panicked here.)
    tokio::select! {
        _ = call => panic!("sleep 600 cannot have finished"),
        () = support::until_running(&host, "label", &label) => {}
    }
    let listed = || async {
        let all = ok(&tools, "list_containers", json!({"all": true, "filters": {"label": [label.clone()]}})).await;
        all["result"].as_array().map_or(0, Vec::len)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut left = listed().await;
    while left > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = listed().await;
    }
    assert_eq!(left, 0, "the container of a cancelled run is still there");

    // A named one is the caller's: it keeps running.
    let name = unique("fg-cancel-named");
    let call =
        ok(&tools, "run_container", json!({"image": image, "name": name, "detach": false, "command": "sleep 600"}));
    tokio::select! {
        _ = call => panic!("sleep 600 cannot have finished"),
        () = support::until_running(&host, "name", &name) => {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let running = support::is_running(&host, &name).await;
    support::remove_container(&host, &name).await;
    assert!(running, "a named container was removed or stopped");
}

#[tokio::test]
async fn a_foreground_runs_output_is_cut_to_its_end_with_a_note() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("fg-long");
    let run = ok(&tools, "run_container", json!({"image": image, "name": name, "detach": false, "command": "sh -c 'i=0; while [ $i -lt 25000 ]; do i=$((i+1)); echo $i; done'"}))
        .await;
    let logs: Vec<String> = serde_json::from_value(run["logs"].clone()).expect("lines");
    assert_eq!(logs.len(), 10_001, "a note and the last 10,000 lines");
    assert!(logs[0].starts_with("[15001 earlier lines left out"), "{}", logs[0]);
    assert_eq!((logs[1].as_str(), logs[9_999].as_str(), logs[10_000].as_str()), ("15002", "25000", ""));
    ok(&tools, "remove_container", json!({"container_id": name, "force": true})).await;
}

#[tokio::test]
async fn containers_are_created_started_and_recreated() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("recreate");
    let created = ok(&tools, "create_container", json!({"image": image, "name": name, "command": "sleep 60"})).await;
    assert_eq!(created["status"], json!("created"));
    let started = ok(&tools, "start_container", json!({"container_id": name})).await;
    assert_eq!(started["status"], json!("running"));

    let recreated = ok(
        &tools,
        "recreate_container",
        json!({"container_id": name, "image": image, "command": "sh -c 'echo v=$V; sleep 60'", "environment": {"V": "2"}}),
    )
    .await;
    assert_eq!(recreated["name"], json!(name), "the new container keeps the old name");
    assert_ne!(recreated["id"], created["id"]);
    assert!(!container_exists(&host, created["id"].as_str().expect("id")).await, "the old container is gone");
    logs_containing(&tools, &name, "v=2").await;

    let missing = unique("missing");
    let err = refused(&tools, "recreate_container", json!({"container_id": missing, "image": image})).await;
    assert!(err.contains("404"), "{err}");
    ok(&tools, "remove_container", json!({"container_id": name, "force": true})).await;
}

#[tokio::test]
async fn an_image_is_built_from_a_dockerfile_listed_run_and_removed() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    let context = root.join("context");
    std::fs::create_dir(&context).expect("mkdir");
    std::fs::write(context.join("message.txt"), "built by the tool\n").expect("write");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {image}\nCOPY message.txt /message.txt\nRUN echo ran >> /message.txt\nCMD [\"cat\", \"/message.txt\"]\n"),
    )
    .expect("write");
    let safety = mcp_docker::native::Safety { allowed_host_paths: vec![root.clone()], ..Default::default() };
    let tools = support::server(&host, safety).tool_set();
    let tag = format!("localhost/{}:v1", unique("built"));

    let (result, progress) =
        call_with_progress(&tools, "build_image", json!({"path": context.display().to_string(), "tag": tag})).await;
    assert!(!result.is_error(), "{}", result.text_content());
    let built = result.structured_content.expect("structured");
    assert!(built["image"]["tags"].as_array().expect("tags").contains(&json!(tag)), "{built}");
    assert!(built["logs"].as_array().is_some_and(|l| !l.is_empty()), "{built}");
    assert!(progress.iter().any(|line| line.contains("COPY")), "build output is streamed as progress: {progress:?}");

    let repo = tag.trim_end_matches(":v1");
    let listed = ok(&tools, "list_images", json!({"name": repo})).await;
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(1), "{listed}");

    let name = unique("built-run");
    let run = ok(&tools, "run_container", json!({"image": tag, "name": name, "detach": false})).await;
    assert_eq!(run["logs"], json!(["built by the tool", "ran", ""]));
    ok(&tools, "remove_container", json!({"container_id": name})).await;

    let removed = ok(&tools, "remove_image", json!({"image": tag})).await;
    assert_eq!(removed["status"], json!("removed"));
    let listed = ok(&tools, "list_images", json!({"name": repo})).await;
    assert_eq!(listed["result"], json!([]));

    let err =
        refused(&tools, "build_image", json!({"path": root.join("nowhere").display().to_string(), "tag": tag})).await;
    assert!(err.contains("host-path-allowlist"), "{err}");
}

#[tokio::test]
async fn a_failing_build_is_a_tool_error_with_the_engines_message() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    std::fs::write(root.join("Dockerfile"), format!("FROM {image}\nRUN exit 3\n")).expect("write");
    let safety = mcp_docker::native::Safety { allowed_host_paths: vec![root.clone()], ..Default::default() };
    let tools = support::server(&host, safety).tool_set();
    let tag = format!("localhost/{}:v1", unique("broken"));
    let err = refused(&tools, "build_image", json!({"path": root.display().to_string(), "tag": tag})).await;
    assert!(err.contains("exit") || err.contains("3"), "{err}");
}

#[tokio::test]
async fn networks_and_volumes_are_created_listed_and_removed() {
    let Some((host, _)) = support::engine() else { return };
    let tools = support::tools(&host);
    let network = unique("net");
    let created =
        ok(&tools, "create_network", json!({"name": network, "internal": true, "labels": {"mcptk.test": network}}))
            .await;
    assert_eq!((created["name"].clone(), created["driver"].clone()), (json!(network), json!("bridge")), "{created}");
    let listed = ok(&tools, "list_networks", json!({"filters": {"label": [format!("mcptk.test={network}")]}})).await;
    let names: Vec<&Value> = listed["result"].as_array().expect("list").iter().map(|n| &n["name"]).collect();
    assert_eq!(names, [&json!(network)]);
    ok(&tools, "remove_network", json!({"network_id": network})).await;
    assert!(direct(&host).await.inspect_network(&network, None).await.is_err(), "the network is gone");

    let volume = unique("vol");
    let created = ok(&tools, "create_volume", json!({"name": volume, "labels": {"mcptk.test": volume}})).await;
    assert_eq!((created["name"].clone(), created["driver"].clone()), (json!(volume), json!("local")));
    let listed = ok(&tools, "list_volumes", json!({})).await;
    assert!(listed["result"].as_array().expect("list").iter().any(|v| v["name"] == json!(volume)));
    ok(&tools, "remove_volume", json!({"volume_name": volume})).await;
    assert!(direct(&host).await.inspect_volume(&volume).await.is_err(), "the volume is gone");
}

#[tokio::test]
async fn pull_and_push_report_the_engines_answer() {
    let Some((host, _)) = support::engine() else { return };
    let tools = support::tools(&host);
    // No registry is reachable here: both calls reach the engine and come back as its error.
    let err = refused(&tools, "pull_image", json!({"repository": "127.0.0.1:9/mcptk/absent", "tag": "v1"})).await;
    assert!(err.starts_with("Docker engine error"), "{err}");
    let err = refused(&tools, "push_image", json!({"repository": "127.0.0.1:9/mcptk/absent"})).await;
    assert!(err.starts_with("Docker engine error"), "{err}");
}

#[tokio::test]
async fn the_docker_mcp_tools_create_list_log_and_deploy() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("qg");
    let text =
        ok(&tools, "create-container", json!({"image": image, "name": name, "environment": {"QG": "yes"}})).await;
    assert!(text.as_str().expect("text").starts_with(&format!("Created container '{name}' (ID: ")), "{text}");
    let listing = ok(&tools, "list-containers", json!({})).await;
    assert!(listing.as_str().expect("text").contains(&name), "{listing}");
    let logs = ok(&tools, "get-logs", json!({"container_name": name})).await;
    assert!(logs.as_str().expect("text").starts_with(&format!("Logs for container '{name}':")), "{logs}");
    support::remove_container(&host, &name).await;

    let project = unique("stack").replace('-', "_");
    let compose = format!(
        "services:\n  web:\n    image: {image}\n    command: [\"sh\", \"-c\", \"echo web up; sleep 60\"]\n  worker:\n    image: {image}\n    command: sleep 60\n    environment:\n      ROLE: worker\n"
    );
    let text = ok(&tools, "deploy-compose", json!({"compose_yaml": compose, "project_name": project})).await;
    assert!(text.as_str().expect("text").contains(&format!("{project}-web-1")), "{text}");
    let listed =
        ok(&tools, "list_containers", json!({"filters": {"label": [format!("com.docker.compose.project={project}")]}}))
            .await;
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(2), "{listed}");
    logs_containing(&tools, &format!("{project}-web-1"), "web up").await;
    for service in ["web", "worker"] {
        support::remove_container(&host, &format!("{project}-{service}-1")).await;
    }
}

#[tokio::test]
async fn logs_and_stats_are_resources() {
    let Some((host, image)) = support::engine() else { return };
    let server = support::server(&host, Default::default());
    let client = support::client(&server).await;
    let name = unique("res");
    let docker = mcp_docker::Docker::new(client.clone());
    let spec = mcp_docker::ContainerSpec {
        name: Some(name.clone()),
        command: Some("sh -c 'echo resource line; sleep 60'".into()),
        ..mcp_docker::ContainerSpec::new(image)
    };
    docker.run_container(&spec).await.expect("runs");
    let templates = client.list_resource_templates().await.expect("templates");
    let uris: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(uris, ["docker://containers/{id}/logs", "docker://containers/{id}/stats"]);
    let mut text = String::new();
    for _ in 0..50 {
        let read = client.read_resource(&format!("docker://containers/{name}/logs")).await.expect("reads");
        text = serde_json::to_string(&read).expect("json");
        if text.contains("resource line") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("resource line"), "{text}");
    let stats = client.read_resource(&format!("docker://containers/{name}/stats")).await.expect("reads");
    let stats = serde_json::to_string(&stats).expect("json");
    assert!(stats.contains("memory_stats") || stats.contains("cpu_stats"), "{stats}");
    support::remove_container(&host, &name).await;
}

/// An ordinary Compose file: keys without safety meaning are accepted, byte strings are read,
/// and a service starts after the ones it depends on.
#[tokio::test]
async fn deploy_compose_takes_an_ordinary_file_in_dependency_order() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let project = unique("ordinary").replace('-', "_");
    let compose = format!(
        "services:\n  a_web:\n    image: {image}\n    command: sleep 60\n    depends_on: [b_db]\n    expose: [\"80\"]\n    hostname: web\n    working_dir: /\n    tty: true\n    healthcheck: {{test: [\"CMD\", \"true\"]}}\n    mem_limit: 64m\n  b_db:\n    image: {image}\n    command: sleep 60\n"
    );
    let text = ok(&tools, "deploy-compose", json!({"compose_yaml": compose, "project_name": project})).await;
    let text = text.as_str().expect("text").to_owned();
    let memory = support::inspect(&host, &format!("{project}-a_web-1")).await.host_config.and_then(|h| h.memory);
    for service in ["a_web", "b_db"] {
        support::remove_container(&host, &format!("{project}-{service}-1")).await;
    }
    let (db, web) = (text.find("- b_db:"), text.find("- a_web:"));
    assert!(db.is_some() && web.is_some() && db < web, "b_db starts before a_web, which depends on it: {text}");
    assert_eq!(memory, Some(64 * 1024 * 1024), "mem_limit: 64m");
}
