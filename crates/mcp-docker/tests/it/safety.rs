//! Every safety rule refuses at call time, names itself, and the engine shows nothing was
//! created.

use serde_json::{Value, json};

use mcp_docker::native::Safety;

use crate::support::{self, container_exists, direct, ok, refused, unique};

/// Refuses `args` (with a fresh container name) through every container-creating tool, naming
/// `rule`, with no container of that name on the engine afterwards.
async fn refused_everywhere(tools: &mcp_core::ToolSet, host: &str, rule: &str, args: Value) {
    for tool in ["run_container", "create_container"] {
        let name = unique(rule);
        let mut args = args.clone();
        args["name"] = json!(name);
        let err = refused(tools, tool, args).await;
        assert!(err.contains(&format!("refused by safety rule `{rule}`")), "{tool}: {err}");
        assert!(!container_exists(host, &name).await, "{tool} created {name} despite `{rule}`");
    }
}

#[tokio::test]
async fn each_rule_refuses_and_nothing_is_created() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    let allowed = root.join("allowed");
    std::fs::create_dir(&allowed).expect("mkdir");
    let safety = Safety { allowed_host_paths: vec![allowed.clone()], ..Safety::default() };
    let tools = support::server(&host, safety).tool_set();

    let cases = [
        ("no-privileged", json!({"image": image, "privileged": true})),
        ("no-added-capabilities", json!({"image": image, "cap_add": ["NET_ADMIN"]})),
        ("no-host-network", json!({"image": image, "network": "host"})),
        ("no-host-network", json!({"image": image, "network_mode": "host"})),
        // Podman joins any network namespace on the host by path, and its user-mode networks
        // can reach the host's loopback.
        ("no-host-network", json!({"image": image, "network_mode": "ns:/proc/1/ns/net"})),
        ("no-host-network", json!({"image": image, "network_mode": "slirp4netns:allow_host_loopback=true"})),
        ("no-host-network", json!({"image": image, "network_mode": "pasta"})),
        ("no-host-pid", json!({"image": image, "pid_mode": "host"})),
        ("no-host-pid", json!({"image": image, "pid_mode": "ns:/proc/1/ns/pid"})),
        ("host-path-allowlist", json!({"image": image, "volumes": ["/etc:/host-etc:ro"]})),
        ("host-path-allowlist", json!({"image": image, "volumes": {root.display().to_string(): {"bind": "/x"}}})),
    ];
    for (rule, args) in cases {
        refused_everywhere(&tools, &host, rule, args).await;
    }

    // A symlink inside the allowed root that points out of it is refused too.
    std::os::unix::fs::symlink("/etc", allowed.join("escape")).expect("symlink");
    let escape = allowed.join("escape").display().to_string();
    refused_everywhere(
        &tools,
        &host,
        "host-path-allowlist",
        json!({"image": image, "volumes": [format!("{escape}:/x")]}),
    )
    .await;

    // Under the allowed root, the bind mount works.
    let name = unique("bind");
    std::fs::write(allowed.join("file.txt"), "shared").expect("write");
    let run = ok(
        &tools,
        "run_container",
        json!({"image": image, "name": name, "detach": false, "command": "cat /data/file.txt",
               "volumes": {allowed.display().to_string(): {"bind": "/data", "mode": "ro"}}}),
    )
    .await;
    assert_eq!(run["logs"], json!(["shared"]));
    ok(&tools, "remove_container", json!({"container_id": name})).await;
}

#[tokio::test]
async fn recreate_checks_the_rules_before_touching_the_old_container() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("keep");
    let created = ok(&tools, "run_container", json!({"image": image, "name": name, "command": "sleep 60"})).await;
    let err =
        refused(&tools, "recreate_container", json!({"container_id": name, "image": image, "privileged": true})).await;
    assert!(err.contains("`no-privileged`"), "{err}");
    let still = support::inspect(&host, &name).await;
    assert_eq!(still.id.as_deref(), created["id"].as_str());
    assert_eq!(still.state.and_then(|s| s.running), Some(true));
    support::remove_container(&host, &name).await;
}

#[tokio::test]
async fn the_image_allowlist_refuses_runs_pulls_pushes_and_builds() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    std::fs::write(root.join("Dockerfile"), format!("FROM {image}\n")).expect("write");
    let safety = Safety {
        allowed_images: Some(vec!["localhost/only-this".into()]),
        allowed_host_paths: vec![root.clone()],
        ..Safety::default()
    };
    let tools = support::server(&host, safety).tool_set();
    refused_everywhere(&tools, &host, "image-allowlist", json!({"image": image})).await;
    let name = unique("qg-allow");
    let err = refused(&tools, "create-container", json!({"image": image, "name": name})).await;
    assert!(err.contains("`image-allowlist`"), "{err}");
    assert!(!container_exists(&host, &name).await);
    let (repo, tag) = image.rsplit_once(':').expect("repo:tag");
    for tool in ["pull_image", "push_image"] {
        let err = refused(&tools, tool, json!({"repository": repo, "tag": tag})).await;
        assert!(err.contains("`image-allowlist`"), "{tool}: {err}");
    }
    // A digest names the image that runs, whatever the name before it: an allowed name with a
    // digest is refused unless an entry pins that digest.
    let inspected = direct(&host).await.inspect_image(&image).await.expect("the test image");
    let digested = inspected.repo_digests.into_iter().flatten().next().expect("a repository digest");
    let (repo_only, _) = digested.split_once('@').expect("repo@digest");
    let by_name = Safety { allowed_images: Some(vec![repo_only.to_owned()]), ..Safety::default() };
    let by_name = support::server(&host, by_name).tool_set();
    refused_everywhere(&by_name, &host, "image-allowlist", json!({"image": digested})).await;
    let pinned = Safety { allowed_images: Some(vec![digested.clone()]), ..Safety::default() };
    let pinned = support::server(&host, pinned).tool_set();
    let name = unique("pinned");
    let run =
        ok(&pinned, "run_container", json!({"image": digested, "name": name, "detach": false, "command": "true"}))
            .await;
    assert_eq!(run["exit_code"], json!(0), "{run}");
    support::remove_container(&host, &name).await;

    let tag = format!("localhost/only-this:{}", unique("b"));
    let err = refused(&tools, "build_image", json!({"path": root.display().to_string(), "tag": tag})).await;
    assert!(err.contains("`image-allowlist`"), "{err}");
    assert!(direct(&host).await.inspect_image(&tag).await.is_err(), "no image was built");
}

#[tokio::test]
async fn a_blocked_network_refuses_networks_and_ports_and_runs_without_one() {
    let Some((host, image)) = support::engine() else { return };
    let safety = Safety { block_network: true, ..Safety::default() };
    let tools = support::server(&host, safety).tool_set();
    refused_everywhere(&tools, &host, "network-blocked", json!({"image": image, "network": "podman"})).await;
    refused_everywhere(&tools, &host, "network-blocked", json!({"image": image, "ports": {"80/tcp": 8080}})).await;
    let network = unique("blocked-net");
    let err = refused(&tools, "create_network", json!({"name": network})).await;
    assert!(err.contains("`network-blocked`"), "{err}");
    assert!(direct(&host).await.inspect_network(&network, None).await.is_err(), "no network was created");

    let name = unique("nonet");
    let run = ok(
        &tools,
        "run_container",
        json!({"image": image, "name": name, "detach": false, "command": "ls /sys/class/net"}),
    )
    .await;
    assert_eq!(run["logs"], json!(["lo", ""]), "only loopback: {run}");
    let inspected = support::inspect(&host, &name).await;
    assert_eq!(inspected.host_config.and_then(|h| h.network_mode).as_deref(), Some("none"));
    support::remove_container(&host, &name).await;
}

#[tokio::test]
async fn a_compose_stack_with_one_bad_service_creates_nothing() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let project = unique("badstack");
    let compose = format!(
        "services:\n  a:\n    image: {image}\n    command: sleep 60\n  b:\n    image: {image}\n    privileged: true\n"
    );
    let err = refused(&tools, "deploy-compose", json!({"compose_yaml": compose, "project_name": project})).await;
    assert!(err.contains("service `b`") && err.contains("`no-privileged`"), "{err}");
    assert!(!container_exists(&host, &format!("{project}-a-1")).await, "service a was not started");
}

#[tokio::test]
async fn limits_set_by_the_caller_are_kept() {
    let Some((host, image)) = support::engine() else { return };
    let tools = support::tools(&host);
    let name = unique("limits");
    ok(
        &tools,
        "create_container",
        json!({"image": image, "name": name, "mem_limit": 64 * 1024 * 1024, "nano_cpus": 500_000_000, "pids_limit": 32}),
    )
    .await;
    let hc = support::inspect(&host, &name).await.host_config.expect("hc");
    assert_eq!((hc.memory, hc.nano_cpus, hc.pids_limit), (Some(64 * 1024 * 1024), Some(500_000_000), Some(32)));
    support::remove_container(&host, &name).await;
}

/// An engine address with credentials in it (a `tcp://user:password@host` some setups use) never
/// shows in what a caller reads. Needs no engine: nothing listens at the address.
#[tokio::test]
async fn credentials_in_the_engine_address_are_not_shown() {
    let secret = "s3cr3t-engine-password";
    let host = format!("http://operator:{secret}@127.0.0.1:9");
    let tools = support::server(&host, Safety::default()).tool_set();
    let err = refused(&tools, "list_containers", json!({})).await;
    assert!(err.contains("cannot reach the Docker engine at"), "{err}");
    assert!(!err.contains(secret), "the password leaked: {err}");
    let config = mcp_docker::native::DockerConfig { host: Some(host), safety: Safety::default() };
    assert!(!format!("{config:?}").contains(secret), "Debug shows the password");
    let server = mcp_docker::native::DockerServer::new(config).expect("valid");
    let shown = format!("{server:?}");
    assert!(shown.contains("127.0.0.1:9") && !shown.contains(secret), "{shown}");
}

/// The engine resolves a bind source again when it starts a container: a directory checked at
/// create and swapped for a symlink before the start must not give the container what the
/// symlink points at.
#[tokio::test]
async fn a_bind_source_swapped_for_a_symlink_after_create_is_refused_at_start() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    let (allowed, outside) = (root.join("allowed"), root.join("outside"));
    std::fs::create_dir_all(allowed.join("d")).expect("mkdir");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(outside.join("secret.txt"), "not yours").expect("write");
    let safety = Safety { allowed_host_paths: vec![allowed.clone()], ..Safety::default() };
    let tools = support::server(&host, safety).tool_set();
    let name = unique("swap");
    let source = allowed.join("d").display().to_string();
    ok(
        &tools,
        "create_container",
        json!({"image": image, "name": name, "volumes": [format!("{source}:/host:ro")], "command": "ls /host"}),
    )
    .await;
    let labels = support::inspect(&host, &name).await.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get(mcp_docker::native::CREATED_LABEL).map(String::as_str), Some(mcp_docker::native::CREATED_BY));
    // What a container with the allowed root mounted writable can do between the two calls.
    std::fs::remove_dir(allowed.join("d")).expect("rmdir");
    std::os::unix::fs::symlink(&outside, allowed.join("d")).expect("symlink");
    let err = refused(&tools, "start_container", json!({"container_id": name})).await;
    assert!(err.contains("refused by safety rule `host-path-allowlist`"), "{err}");
    assert!(err.contains("a symlink was put in its path") && err.contains("the container was not started"), "{err}");
    let state = support::inspect(&host, &name).await.state.expect("a state");
    assert_eq!(state.running, Some(false), "the container must not have started");

    // With the directory back, the same start passes.
    std::fs::remove_file(allowed.join("d")).expect("rm");
    std::fs::create_dir(allowed.join("d")).expect("mkdir");
    let started = ok(&tools, "start_container", json!({"container_id": name})).await;
    assert!(started["status"] != json!("created"), "{started}");
    support::remove_container(&host, &name).await;
}

/// `start_container` checks a container it did not create as well: one made on the engine
/// directly with a host path outside the allowed roots, or with a restart policy that would
/// have the engine resolve a path below an allowed root again, unchecked, at every restart.
#[tokio::test]
async fn start_refuses_binds_and_restart_policies_the_rules_do_not_allow() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    let allowed = root.join("allowed");
    std::fs::create_dir_all(allowed.join("d")).expect("mkdir");
    let safety = Safety { allowed_host_paths: vec![allowed.clone()], ..Safety::default() };
    let tools = support::server(&host, safety).tool_set();
    let docker = direct(&host).await;
    let cases = [
        (root.display().to_string(), "no", "is not under an allowed host path"),
        (allowed.join("d").display().to_string(), "always", "restart policy `always`"),
    ];
    for (source, policy, expected) in cases {
        let name = unique("direct");
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(vec!["true".into()]),
            host_config: Some(bollard::models::HostConfig {
                binds: Some(vec![format!("{source}:/x")]),
                restart_policy: Some(bollard::models::RestartPolicy {
                    name: Some(policy.parse().expect("a policy")),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options =
            bollard::query_parameters::CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        docker.create_container(Some(options), body).await.expect("created directly");
        let err = refused(&tools, "start_container", json!({"container_id": name})).await;
        support::remove_container(&host, &name).await;
        assert!(err.contains("refused by safety rule `host-path-allowlist`") && err.contains(expected), "{err}");
    }

    // Through Compose: `restart: always` with a directory below the root is refused before
    // anything is created; with the allowed root itself it runs.
    let project = unique("restart").replace('-', "_");
    let below = allowed.join("d").display().to_string();
    let compose = format!(
        "services:\n  web:\n    image: {image}\n    command: sleep 60\n    restart: always\n    volumes: [\"{below}:/data\"]\n"
    );
    let err = refused(&tools, "deploy-compose", json!({"compose_yaml": compose, "project_name": project})).await;
    assert!(err.contains("`host-path-allowlist`") && err.contains("restart policy `always`"), "{err}");
    assert!(!container_exists(&host, &format!("{project}-web-1")).await);
    let compose = compose.replace(&below, &allowed.display().to_string());
    ok(&tools, "deploy-compose", json!({"compose_yaml": compose, "project_name": project})).await;
    support::remove_container(&host, &format!("{project}-web-1")).await;
}

/// A container made on the engine directly (`docker run -v /home/me/pgdata:...`, with `/home`
/// a symlink as on Fedora Atomic) is judged by where its bind sources resolve: under an allowed
/// root it starts; outside every root it is refused, naming the source, where it resolves and
/// the flag that would allow it.
#[tokio::test]
async fn start_judges_a_container_made_elsewhere_by_where_its_binds_resolve() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    let data = root.join("var/home/me/pgdata");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::os::unix::fs::symlink("var/home", root.join("home")).expect("symlink");
    let source = root.join("home/me/pgdata").display().to_string();
    let docker = direct(&host).await;
    let name = unique("elsewhere");
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.clone()),
        cmd: Some(vec!["true".into()]),
        host_config: Some(bollard::models::HostConfig {
            binds: Some(vec![format!("{source}:/data")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = bollard::query_parameters::CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
    docker.create_container(Some(options), body).await.expect("created directly");

    let nowhere = support::tools(&host);
    let err = refused(&nowhere, "start_container", json!({"container_id": name})).await;
    let resolved = data.display().to_string();
    for part in [
        "refused by safety rule `host-path-allowlist`".to_owned(),
        format!("resolves to {resolved:?}"),
        "this server did not create the container".to_owned(),
        format!("`--allow-path {resolved}`"),
        "the container was not started".to_owned(),
    ] {
        if !err.contains(&part) {
            support::remove_container(&host, &name).await;
            panic!("{part} is missing: {err}");
        }
    }
    assert!(!err.contains("symlink was put"), "{err}");

    let safety = Safety { allowed_host_paths: vec![root.join("var/home/me")], ..Safety::default() };
    let allowed = support::server(&host, safety).tool_set();
    let (result, _) = support::call_with_progress(&allowed, "start_container", json!({"container_id": name})).await;
    support::remove_container(&host, &name).await;
    assert!(!result.is_error(), "{}", result.text_content());
}

/// A build's RUN steps run in containers of the engine's: with networking blocked they get no
/// network either.
#[tokio::test]
async fn a_blocked_network_covers_the_run_steps_of_a_build() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    std::fs::write(root.join("Dockerfile"), format!("FROM {image}\nRUN ls /sys/class/net > /interfaces\n"))
        .expect("write");
    let safety = Safety { block_network: true, allowed_host_paths: vec![root.clone()], ..Safety::default() };
    let tools = support::server(&host, safety).tool_set();
    let tag = format!("localhost/{}:v1", unique("nonet-build"));
    ok(&tools, "build_image", json!({"path": root.display().to_string(), "tag": tag})).await;
    let name = unique("nonet-built");
    let run =
        ok(&tools, "run_container", json!({"image": tag, "name": name, "detach": false, "command": "cat /interfaces"}))
            .await;
    support::remove_container(&host, &name).await;
    let options = bollard::query_parameters::RemoveImageOptions { force: true, ..Default::default() };
    let _ = direct(&host).await.remove_image(&tag, Some(options), None).await;
    assert_eq!(run["logs"], json!(["lo", ""]), "the build's RUN step had a network: {run}");
}
