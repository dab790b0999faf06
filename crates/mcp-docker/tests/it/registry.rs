//! `push_image` and `pull_image` against a real registry: the distribution registry
//! (Debian's `docker-registry`) that `tests/services.sh` starts on 127.0.0.1 over plain HTTP
//! (`MCPTK_TEST_REGISTRY`), and that Podman is configured to accept.

use bollard::query_parameters::TagImageOptions;
use serde_json::json;

use crate::support::{self, call_with_progress, image_exists, ok, refused, registry_tags, unique};

/// Tags the test image as `<registry>/mcptk-it/<unique>:<tag>` on the engine (bollard directly:
/// tagging is not one of the tools); the repository (with the registry) and its name in the registry.
async fn tag_for_registry(host: &str, image: &str, registry: &str, tag: &str) -> (String, String) {
    let name = format!("mcptk-it/{}", unique("pushed"));
    let repository = format!("{registry}/{name}");
    let options = TagImageOptions { repo: Some(repository.clone()), tag: Some(tag.to_owned()) };
    support::direct(host).await.tag_image(image, Some(options)).await.expect("tags the test image");
    (repository, name)
}

#[tokio::test]
async fn an_image_is_pushed_to_the_registry_removed_and_pulled_back() {
    let Some((host, image)) = support::engine() else { return };
    let Some(registry) = support::registry() else { return };
    let tools = support::tools(&host);
    let (repository, name) = tag_for_registry(&host, &image, &registry, "v1").await;
    let reference = format!("{repository}:v1");

    let (result, progress) =
        call_with_progress(&tools, "push_image", json!({"repository": repository, "tag": "v1"})).await;
    assert!(!result.is_error(), "{}", result.text_content());
    let pushed = result.structured_content.expect("structured");
    assert_eq!(
        (&pushed["status"], &pushed["repository"], &pushed["tag"]),
        (&json!("pushed"), &json!(repository), &json!("v1"))
    );
    let digest = pushed["digest"].as_str().expect("the registry's digest").to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{pushed}");
    assert!(!progress.is_empty(), "the push's progress is reported");
    assert!(progress.iter().any(|line| line.contains(&digest)), "the registry's answer is streamed: {progress:?}");
    assert_eq!(registry_tags(&registry, &name).await, ["v1"], "the registry lists the pushed tag");

    let removed = ok(&tools, "remove_image", json!({"image": reference})).await;
    assert_eq!(removed["status"], json!("removed"));
    assert!(!image_exists(&host, &reference).await, "the local copy is gone");

    let (result, progress) =
        call_with_progress(&tools, "pull_image", json!({"repository": repository, "tag": "v1"})).await;
    assert!(!result.is_error(), "{}", result.text_content());
    let pulled = result.structured_content.expect("structured");
    assert!(pulled["tags"].as_array().expect("tags").contains(&json!(reference)), "{pulled}");
    assert!(!progress.is_empty(), "the pull's progress is reported");
    assert!(image_exists(&host, &reference).await, "the engine has the pulled image");
    let local = ok(&tools, "list_images", json!({"name": repository})).await;
    assert_eq!(local["result"].as_array().map(Vec::len), Some(1), "{local}");

    // The pulled image runs.
    let container = unique("pulled-run");
    let run = ok(
        &tools,
        "run_container",
        json!({"image": reference, "name": container, "detach": false, "command": "echo from the registry"}),
    )
    .await;
    assert_eq!(run["logs"], json!(["from the registry", ""]), "{run}");
    ok(&tools, "remove_container", json!({"container_id": container})).await;
    ok(&tools, "remove_image", json!({"image": reference})).await;
}

#[tokio::test]
async fn the_typed_wrappers_push_and_pull_through_an_mcp_client() {
    let Some((host, image)) = support::engine() else { return };
    let Some(registry) = support::registry() else { return };
    let client = support::client(&support::server(&host, Default::default())).await;
    let docker = mcp_docker::Docker::new(client);
    let (repository, name) = tag_for_registry(&host, &image, &registry, "wrapped").await;
    let reference = format!("{repository}:wrapped");

    let pushed = docker.push_image(&repository, Some("wrapped")).await.expect("pushes");
    assert_eq!(pushed.get("status"), Some(&Some("pushed".to_owned())), "{pushed:?}");
    assert_eq!(registry_tags(&registry, &name).await, ["wrapped"]);
    docker.remove_image(&reference, false).await.expect("removes");
    assert!(!image_exists(&host, &reference).await);
    let pulled = docker.pull_image(&repository, Some("wrapped")).await.expect("pulls");
    assert!(pulled.tags.contains(&reference), "{pulled:?}");
    assert!(image_exists(&host, &reference).await);
    docker.remove_image(&reference, false).await.expect("removes");
}

#[tokio::test]
async fn a_missing_tag_or_image_is_a_tool_error_naming_it() {
    let Some((host, _)) = support::engine() else { return };
    let Some(registry) = support::registry() else { return };
    let tools = support::tools(&host);
    let repository = format!("{registry}/mcptk-it/{}", unique("never-pushed"));

    let err = refused(&tools, "pull_image", json!({"repository": repository, "tag": "absent"})).await;
    assert!(err.starts_with("Docker engine error"), "{err}");
    assert!(err.contains(&format!("{repository}:absent")), "the error names the image: {err}");
    assert!(!image_exists(&host, &format!("{repository}:absent")).await);

    // A push of an image the engine does not have.
    let err = refused(&tools, "push_image", json!({"repository": repository, "tag": "absent"})).await;
    assert!(err.contains(&format!("{repository}:absent")), "the error names the image: {err}");
    let name = repository.split_once('/').expect("registry/name").1;
    assert!(registry_tags(&registry, name).await.is_empty(), "nothing reached the registry");
}

#[tokio::test]
async fn the_image_allowlist_refuses_pulls_and_pushes_before_the_engine() {
    let Some((host, image)) = support::engine() else { return };
    let Some(registry) = support::registry() else { return };
    let open = support::tools(&host);
    let (repository, name) = tag_for_registry(&host, &image, &registry, "v1").await;
    let reference = format!("{repository}:v1");
    ok(&open, "push_image", json!({"repository": repository, "tag": "v1"})).await;
    ok(&open, "remove_image", json!({"image": reference})).await;

    let safety = mcp_docker::native::Safety {
        allowed_images: Some(vec!["localhost/mcptk-busybox".to_owned()]),
        ..Default::default()
    };
    let guarded = support::server(&host, safety).tool_set();
    let (result, progress) =
        call_with_progress(&guarded, "pull_image", json!({"repository": repository, "tag": "v1"})).await;
    assert!(result.is_error());
    let err = result.text_content();
    assert!(err.contains("refused by safety rule `image-allowlist`") && err.contains(&reference), "{err}");
    assert!(progress.is_empty(), "the engine was never asked: {progress:?}");
    assert!(!image_exists(&host, &reference).await, "nothing was pulled");

    // A push of a tag not on the list is refused too, and the registry never sees it.
    let options = TagImageOptions { repo: Some(repository.clone()), tag: Some("v2".to_owned()) };
    support::direct(&host).await.tag_image(&image, Some(options)).await.expect("tags");
    let err = refused(&guarded, "push_image", json!({"repository": repository, "tag": "v2"})).await;
    assert!(err.contains("refused by safety rule `image-allowlist`"), "{err}");
    assert_eq!(registry_tags(&registry, &name).await, ["v1"], "v2 never reached the registry");
    ok(&open, "remove_image", json!({"image": format!("{repository}:v2")})).await;
}
