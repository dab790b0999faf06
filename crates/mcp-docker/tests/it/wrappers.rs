//! The typed wrappers against our native server, over MCP (an in-memory pipe) on the real engine.

use std::collections::BTreeMap;

use mcp_docker::{
    BuildImageArgs, ContainerSpec, CreateNetworkArgs, CreateVolumeArgs, Docker, LabelFilters, ListImagesArgs, Tail,
};

use crate::support::{self, unique};

#[tokio::test]
async fn every_wrapper_reaches_its_tool() {
    let Some((host, image)) = support::engine() else { return };
    let (_dir, root) = support::temp_root();
    std::fs::write(root.join("Dockerfile"), format!("FROM {image}\nCMD [\"echo\", \"from the wrapper\"]\n"))
        .expect("write");
    let safety = mcp_docker::native::Safety { allowed_host_paths: vec![root.clone()], ..Default::default() };
    let server = support::server(&host, safety);
    let docker = Docker::new(support::client(&server).await);
    let label = format!("mcptk.wrapper={}", unique("w"));

    // The seed's call: an image and its environment.
    let env = BTreeMap::from([("SEED".to_owned(), "planted".to_owned())]);
    let seeded = docker.run_container_with_env(&image, &env).await.expect("runs");
    let inspected = support::inspect(&host, &seeded.id).await;
    let env_set = inspected.config.and_then(|c| c.env).unwrap_or_default();
    assert!(env_set.contains(&"SEED=planted".to_owned()), "{env_set:?}");
    assert!(seeded.image.as_ref().is_some_and(|i| i.tags.contains(&image)), "{seeded:?}");
    let removed = docker.remove_container(&seeded.id, true).await.expect("removes");
    assert_eq!((removed.id.as_str(), removed.status.as_str()), (seeded.id.as_str(), "removed"));

    let name = unique("wrapped");
    let spec = ContainerSpec {
        name: Some(name.clone()),
        command: Some("sh -c 'echo SEED=$SEED; sleep 60'".into()),
        environment: Some(env.clone()),
        labels: Some(mcp_docker::Labels::List(vec![label.clone()])),
        ..ContainerSpec::new(&image)
    };
    let created = docker.create_container(&spec).await.expect("creates");
    assert_eq!((created.name.as_str(), created.status.as_str()), (name.as_str(), "created"));
    let started = docker.start_container(&name).await.expect("starts");
    assert_eq!(started.status, "running");
    let filters = LabelFilters { label: Some(vec![label.clone()]) };
    let listed = docker.list_containers(false, Some(&filters)).await.expect("lists");
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [created.id.as_str()]);
    let mut seen = false;
    for _ in 0..50 {
        let logs = docker.fetch_container_logs(&name, Tail::Lines(10)).await.expect("logs");
        if logs.logs.iter().any(|l| l == "SEED=planted") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the container printed its environment");
    let recreated = docker
        .recreate_container(&ContainerSpec { container_id: Some(name.clone()), ..spec.clone() })
        .await
        .expect("recreates");
    assert_ne!(recreated.id, created.id);
    let stopped = docker.stop_container(&name).await.expect("stops");
    assert_eq!(stopped.status, "exited");
    docker.remove_container(&name, false).await.expect("removes");
    assert!(!support::container_exists(&host, &name).await);

    let tag = format!("localhost/{}:w", unique("wimg"));
    let args = BuildImageArgs { path: root.display().to_string(), tag: tag.clone(), dockerfile: None };
    let built = docker.build_image(&args).await.expect("builds");
    assert!(built.image.tags.contains(&tag) && !built.logs.is_empty(), "{built:?}");
    let (repo, _) = tag.rsplit_once(':').expect("tag");
    let images =
        docker.list_images(&ListImagesArgs { name: Some(repo.into()), ..Default::default() }).await.expect("lists");
    assert_eq!(images.len(), 1);
    assert!(images[0].tags.contains(&tag) && images[0].short_id.starts_with("sha256:"));
    let err = docker.pull_image("127.0.0.1:9/mcptk/absent", Some("w")).await.expect_err("no registry");
    assert!(err.to_string().contains("Docker engine error"), "{err}");
    let err = docker.push_image("127.0.0.1:9/mcptk/absent", None).await.expect_err("no registry");
    assert!(err.to_string().contains("Docker engine error"), "{err}");
    docker.remove_image(&tag, false).await.expect("removes");

    let network = unique("wnet");
    let made = docker
        .create_network(&CreateNetworkArgs { name: network.clone(), driver: None, internal: true, labels: None })
        .await
        .expect("creates");
    assert_eq!(made.name, network);
    assert!(docker.list_networks(None).await.expect("lists").iter().any(|n| n.name == network));
    assert_eq!(docker.remove_network(&network).await.expect("removes").name, network);

    let volume = unique("wvol");
    let made = docker
        .create_volume(&CreateVolumeArgs { name: volume.clone(), driver: None, labels: None })
        .await
        .expect("creates");
    assert_eq!(made.name, volume);
    assert!(docker.list_volumes().await.expect("lists").iter().any(|v| v.name == volume));
    assert_eq!(docker.remove_volume(&volume, false).await.expect("removes").name, volume);

    let qg = unique("wqg");
    let text = docker
        .create_container_simple(&mcp_docker::SimpleContainerArgs {
            image: image.clone(),
            name: Some(qg.clone()),
            ports: None,
            environment: None,
        })
        .await
        .expect("creates");
    assert!(text.contains(&qg), "{text}");
    assert!(docker.list_containers_text().await.expect("lists").contains(&qg));
    assert!(docker.get_logs(&qg).await.expect("logs").starts_with("Logs for container"));
    support::remove_container(&host, &qg).await;
}

#[tokio::test]
async fn a_refusal_reaches_the_wrapper_as_a_tool_failure_naming_the_rule() {
    let Some((host, image)) = support::engine() else { return };
    let docker = Docker::new(support::client(&support::server(&host, Default::default())).await);
    let name = unique("wrefused");
    let spec = ContainerSpec {
        name: Some(name.clone()),
        cap_add: Some(vec!["SYS_ADMIN".into()]),
        ..ContainerSpec::new(image)
    };
    let err = docker.run_container(&spec).await.expect_err("refused");
    assert!(matches!(&err, mcp_docker::Error::Mcp(mcp_core::Error::ToolFailed { .. })), "{err:?}");
    assert!(err.to_string().contains("`no-added-capabilities`"), "{err}");
    assert!(!support::container_exists(&host, &name).await);
}
