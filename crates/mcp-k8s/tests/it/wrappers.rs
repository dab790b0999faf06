//! The typed wrappers against both backends (the real Go server and our native one), each on its
//! own FAKE API server with the same seed: the same calls give the same texts, and the seed's
//! `apply_manifest` and `get_logs` do what they say.

use std::sync::Arc;

use mcp_core::Client;
use mcp_k8s::{Kubernetes, LogOptions, ResourceRef, Selectors};

use crate::support::{Cluster, go, go_server_bin, native};

/// Every wrapper of a tool both backends have, in an order where the writes come last.
async fn exercise(k8s: &Kubernetes<Arc<Client>>) -> Vec<String> {
    let deployment = ResourceRef::new("apps/v1", "Deployment", Some("default"), "web");
    let web = Selectors { label_selector: Some("app=web".into()), ..Selectors::default() };
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seeded\ndata:\n  k: v\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: fresh\n";
    let mut out = vec![
        k8s.namespaces_list(None).await.expect("namespaces_list"),
        k8s.events_list(Some("team-a"), None).await.expect("events_list"),
        k8s.pods_list(&web).await.expect("pods_list"),
        k8s.pods_list_in_namespace("team-a", &Selectors::default()).await.expect("pods_list_in_namespace"),
        k8s.pods_get(None, "web-1").await.expect("pods_get"),
        k8s.pods_log(
            Some("team-a"),
            "api-1",
            &LogOptions { container: Some("sidecar".into()), ..LogOptions::default() },
        )
        .await
        .expect("pods_log"),
        k8s.get_logs("default", "web-1").await.expect("get_logs"),
        k8s.resources_list("v1", "ConfigMap", Some("default"), &Selectors::default()).await.expect("resources_list"),
        k8s.resources_get(&deployment).await.expect("resources_get"),
        k8s.resources_scale(&deployment, Some(3)).await.expect("resources_scale"),
        k8s.pods_top(None, None, None).await.expect("pods_top"),
        k8s.pods_top(Some("team-a"), Some("api-1"), None).await.expect("pods_top one"),
        k8s.nodes_top(None, None).await.expect("nodes_top"),
        k8s.nodes_log("node-1", "kubelet", Some(2)).await.expect("nodes_log"),
        k8s.nodes_stats_summary("node-1").await.expect("nodes_stats_summary"),
        k8s.pods_exec(Some("team-a"), "api-1", Some("api"), &["echo", "hi"]).await.expect("pods_exec"),
        k8s.apply_manifest("team-a", manifest).await.expect("apply_manifest"),
        k8s.resources_create_or_update("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: direct\n")
            .await
            .expect("create_or_update"),
        k8s.resources_delete(&ResourceRef::new("v1", "ConfigMap", Some("default"), "settings"), Some(0))
            .await
            .expect("resources_delete"),
        k8s.pods_run(Some("team-a"), Some("probe"), "registry.example/probe:1", None).await.expect("pods_run"),
        k8s.pods_delete(Some("team-a"), "probe").await.expect("pods_delete"),
    ];
    let object = k8s.resource(&ResourceRef::new("v1", "ConfigMap", Some("team-a"), "seeded")).await.expect("resource");
    out.push(object["data"]["k"].to_string());
    let missing = k8s.pods_get(None, "missing").await.expect_err("a missing pod is an error").to_string();
    out.push(missing);
    out.push(k8s.projects_list().await.expect_err("no OpenShift here").to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrappers_give_the_same_answers_from_both_backends() {
    let Some(bin) = go_server_bin() else { return };
    let (go_cluster, native_cluster) = (Cluster::start(false).await, Cluster::start(false).await);
    let theirs = exercise(&Kubernetes::new(go(&go_cluster, &bin, &[]).await)).await;
    let ours = exercise(&Kubernetes::new(native(native_cluster.config()).await)).await;
    for (i, (t, o)) in theirs.iter().zip(&ours).enumerate() {
        assert_eq!(t, o, "call {i} differs");
    }
    // The seed's conveniences: the manifest went to the namespace given (not to the Namespace
    // object), the log is the last 100 lines.
    assert!(native_cluster.fake.object("v1", "configmaps", "team-a", "seeded").is_some());
    assert!(native_cluster.fake.object("v1", "namespaces", "", "fresh").is_some());
    assert!(ours[6].starts_with("web-1 line 51\n") && ours[6].ends_with("web-1 line 150\n"), "{}", ours[6]);
    assert_eq!(ours[15], "hi\n");
    assert!(ours[16].contains("namespace: team-a"), "{}", ours[16]);
    assert_eq!(ours[21], "\"v\"");
    assert!(ours[22].contains("pods \"missing\" not found"), "{}", ours[22]);
    assert!(ours[23].contains("no matches for kind \"Project\""), "{}", ours[23]);
    assert_eq!(
        native_cluster.fake.object("apps/v1", "deployments", "default", "web").expect("kept")["spec"]["replicas"],
        3
    );
}
