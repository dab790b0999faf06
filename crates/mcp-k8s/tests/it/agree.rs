//! Agreement: the real Go server (client-go) and our native server (kube), each pointed at its
//! own FAKE API server with the same seed, answer the same calls with the same texts. This is
//! the check that the fake follows the API conventions client-go relies on, and that our tools
//! are a drop-in for the Go server's.
//!
//! Normalised: the fake's port (each backend has its own fake), and nothing else. Not compared:
//! `configuration_view` (the Go server prints the kubeconfig's token; ours redacts it, see
//! `safety.rs`), and the list output, which both print as YAML here (`--list-output yaml`; the
//! Go server's default `table` asks the API server for server-side tables, which the native
//! backend does not print).

use serde_json::{Value, json};

use crate::support::{Cluster, call, go, go_server_bin, native, tool_names};

/// The calls both backends answer, in order (the writes change what later reads see).
fn script() -> Vec<(&'static str, Value)> {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: team-a\n  labels:\n    app: api\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: api\n  template:\n    metadata:\n      labels:\n        app: api\n    spec:\n      containers:\n      - name: api\n        image: registry.example/api:2\n";
    let config_maps = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata:\n  a: \"1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n  namespace: team-a\ndata:\n  multi: |\n    line one\n    line two\n";
    vec![
        ("namespaces_list", json!({})),
        ("namespaces_list", json!({"fieldSelector": "metadata.name=team-a"})),
        ("pods_list", json!({})),
        ("pods_list", json!({"labelSelector": "app in (web,api)", "fieldSelector": "status.phase=Running"})),
        ("pods_list", json!({"fieldSelector": "spec.bogus=1"})),
        ("pods_list_in_namespace", json!({"namespace": "team-a"})),
        ("pods_list_in_namespace", json!({"namespace": "nowhere"})),
        ("pods_get", json!({"name": "web-1"})),
        ("pods_get", json!({"name": "api-1", "namespace": "team-a"})),
        ("pods_get", json!({"name": "missing"})),
        ("pods_log", json!({"name": "web-1"})),
        ("pods_log", json!({"name": "web-1", "tail": 3})),
        ("pods_log", json!({"name": "web-1", "previous": true})),
        ("pods_log", json!({"name": "web-2"})),
        ("pods_log", json!({"name": "api-1", "namespace": "team-a"})),
        ("pods_log", json!({"name": "api-1", "namespace": "team-a", "container": "sidecar"})),
        ("pods_log", json!({"name": "missing"})),
        ("resources_list", json!({"apiVersion": "apps/v1", "kind": "Deployment"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default"})),
        (
            "resources_list",
            json!({"apiVersion": "v1", "kind": "Node", "labelSelector": "node-role.kubernetes.io/worker"}),
        ),
        ("resources_list", json!({"apiVersion": "example.com/v1", "kind": "Widget"})),
        ("resources_get", json!({"apiVersion": "v1", "kind": "Node", "name": "node-1"})),
        ("resources_get", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})),
        ("resources_get", json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "nope", "namespace": "team-a"})),
        ("resources_create_or_update", json!({"resource": deployment})),
        ("resources_create_or_update", json!({"resource": config_maps})),
        (
            "resources_create_or_update",
            json!({"resource": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\nspec:\n  containers: []\n"}),
        ),
        (
            "resources_create_or_update",
            json!({"resource": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"}),
        ),
        ("resources_get", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": "team-a"})),
        ("resources_scale", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})),
        ("resources_scale", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scale": 5})),
        ("resources_scale", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scale": -1})),
        ("resources_scale", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost"})),
        ("resources_delete", json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "one"})),
        ("resources_delete", json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "one"})),
        ("pods_run", json!({"image": "registry.example/tool:1", "name": "tool", "namespace": "team-a", "port": 8080})),
        ("pods_delete", json!({"name": "tool", "namespace": "team-a"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "Service", "namespace": "team-a"})),
        ("pods_delete", json!({"name": "web-2"})),
        ("events_list", json!({})),
        ("events_list", json!({"namespace": "team-a"})),
        ("events_list", json!({"namespace": "default", "fieldSelector": "type=Warning"})),
        ("events_list", json!({"namespace": "empty"})),
        ("nodes_log", json!({"name": "node-1", "query": "kubelet"})),
        ("nodes_log", json!({"name": "node-1", "query": "kubelet", "tailLines": 2})),
        ("nodes_log", json!({"name": "node-1", "query": "/var/log/none.log"})),
        ("nodes_log", json!({"name": "node-9", "query": "kubelet"})),
        ("nodes_stats_summary", json!({"name": "node-1"})),
        ("nodes_stats_summary", json!({"name": "node-9"})),
        ("projects_list", json!({})),
        ("pods_exec", json!({"name": "web-1", "command": ["echo", "hello", "world"]})),
        ("pods_exec", json!({"name": "api-1", "namespace": "team-a", "container": "sidecar", "command": ["ls"]})),
        ("pods_exec", json!({"name": "web-1", "command": ["true"]})),
        ("pods_exec", json!({"name": "web-1", "command": ["sh", "-c", "echo only here >&2"]})),
        ("pods_exec", json!({"name": "web-1", "command": ["false"]})),
        ("pods_exec", json!({"name": "web-1", "command": ["nosuch"]})),
        ("pods_exec", json!({"name": "missing", "command": ["ls"]})),
        ("pods_top", json!({})),
        ("pods_top", json!({"all_namespaces": false})),
        ("pods_top", json!({"namespace": "team-a", "all_namespaces": false})),
        ("pods_top", json!({"name": "api-1", "namespace": "team-a"})),
        ("pods_top", json!({"name": "nope", "namespace": "team-a"})),
        ("pods_top", json!({"label_selector": "app=web"})),
        ("nodes_top", json!({})),
        ("nodes_top", json!({"name": "node-1"})),
        ("nodes_top", json!({"name": "node-7"})),
    ]
}

/// The text a backend answered, with what differs by construction normalised.
fn normalise(text: &str, port: u16) -> String {
    text.replace(&port.to_string(), "PORT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_and_native_give_the_same_answers_on_the_fake() {
    let Some(bin) = go_server_bin() else { return };
    let go_cluster = Cluster::start(false).await;
    let native_cluster = Cluster::start(false).await;
    let go_client = go(&go_cluster, &bin, &[]).await;
    let native_client = native(native_cluster.config()).await;
    let mut differences = vec![];
    for (tool, arguments) in script() {
        let theirs = call(&go_client, tool, arguments.clone()).await;
        let ours = call(&native_client, tool, arguments.clone()).await;
        let (t, o) = (
            normalise(&theirs.text_content(), go_cluster.fake.addr.port()),
            normalise(&ours.text_content(), native_cluster.fake.addr.port()),
        );
        if t != o || theirs.is_error() != ours.is_error() || theirs.structured_content != ours.structured_content {
            differences.push(format!(
                "{tool} {arguments}\n--- go (error: {}):\n{t}\n--- native (error: {}):\n{o}",
                theirs.is_error(),
                ours.is_error()
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} calls differ:\n\n{}",
        differences.len(),
        script().len(),
        differences.join("\n\n")
    );
    // The writes left both fakes in the same state.
    for (gv, plural, ns, name) in [
        ("apps/v1", "deployments", "team-a", "api"),
        ("v1", "configmaps", "team-a", "two"),
        ("apps/v1", "deployments", "default", "web"),
    ] {
        assert_eq!(
            go_cluster.fake.object(gv, plural, ns, name),
            native_cluster.fake.object(gv, plural, ns, name),
            "{plural}/{name}"
        );
    }
}

/// Both list the same tools: all twenty of the default toolsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_serve_the_same_default_tools() {
    let Some(bin) = go_server_bin() else { return };
    let cluster = Cluster::start(false).await;
    let theirs = tool_names(&*go(&cluster, &bin, &[]).await).await;
    let ours = tool_names(&*native(cluster.config()).await).await;
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 20, "the default toolsets, core and config: {ours:?}");
}

/// The argument names, the required ones and the annotations of every tool both serve are the
/// same, with one context and with several (where the Go server adds `context`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_take_the_same_arguments() {
    let Some(bin) = go_server_bin() else { return };
    for two_contexts in [false, true] {
        let cluster = Cluster::start(two_contexts).await;
        let theirs = go(&cluster, &bin, &[]).await.list_tools().await.expect("tools/list");
        let ours = native(cluster.config()).await.list_tools().await.expect("tools/list");
        for tool in &ours {
            let their = theirs.iter().find(|t| t.name == tool.name).expect("a tool of the Go server");
            let shape = |t: &mcp_core::protocol::Tool| {
                let schema = Value::Object(t.input_schema.clone());
                let mut properties: Vec<String> =
                    schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
                properties.sort();
                properties.retain(|p| p != "dryRun"); // ours only: validate without persisting
                let mut required: Vec<String> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect();
                required.sort();
                let a = t
                    .annotations
                    .as_ref()
                    .map(|a| (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint));
                (properties, required, a, t.title.clone())
            };
            assert_eq!(shape(tool), shape(their), "{} (two contexts: {two_contexts})", tool.name);
        }
    }
}

/// With several contexts both take `context` and use that context's namespace; with Secrets'
/// data allowed, ours shows a Secret exactly as the Go server does (by default ours redacts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_and_allowed_secrets_agree() {
    let Some(bin) = go_server_bin() else { return };
    let go_cluster = Cluster::start(true).await;
    let native_cluster = Cluster::start(true).await;
    let go_client = go(&go_cluster, &bin, &[]).await;
    let native_client = native(mcp_k8s::native::K8sConfig { allow_secret_data: true, ..native_cluster.config() }).await;
    let calls = [
        ("pods_get", json!({"name": "dns-1", "context": "other"})),
        ("pods_list_in_namespace", json!({"namespace": "team-a", "context": "other"})),
        ("pods_get", json!({"name": "dns-1"})),
        ("resources_get", json!({"apiVersion": "v1", "kind": "Secret", "name": "db-password", "namespace": "default"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "Secret", "namespace": "default", "context": "fake"})),
    ];
    for (tool, arguments) in calls {
        let theirs = call(&go_client, tool, arguments.clone()).await;
        let ours = call(&native_client, tool, arguments.clone()).await;
        assert_eq!(
            (theirs.text_content(), theirs.is_error()),
            (ours.text_content(), ours.is_error()),
            "{tool} {arguments}"
        );
    }
    let redacting = native(native_cluster.config()).await;
    let secret =
        call(&redacting, "resources_get", json!({"apiVersion": "v1", "kind": "Secret", "name": "db-password"})).await;
    assert!(secret.text_content().contains("password: REDACTED"), "{}", secret.text_content());
}

/// The default list output, tables: the Go server asks the (fake) API server for server-side
/// tables and prints them as `kubectl get -o wide --show-labels` does; so does ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_tables_agree() {
    let Some(bin) = go_server_bin() else { return };
    let go_cluster = Cluster::start(false).await;
    let native_cluster = Cluster::start(false).await;
    let go_client = go(&go_cluster, &bin, &["--list-output", "table"]).await;
    let config =
        mcp_k8s::native::K8sConfig { list_output: mcp_k8s::native::ListOutput::Table, ..native_cluster.config() };
    let native_client = native(config).await;
    let calls = [
        ("namespaces_list", json!({})),
        ("pods_list", json!({})),
        ("pods_list", json!({"labelSelector": "app=web"})),
        ("pods_list_in_namespace", json!({"namespace": "team-a"})),
        ("pods_list_in_namespace", json!({"namespace": "nowhere"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "Node"})),
        ("resources_list", json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": "nowhere"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "Pod", "fieldSelector": "spec.bogus=1"})),
    ];
    let mut differences = vec![];
    for (tool, arguments) in calls {
        let theirs = call(&go_client, tool, arguments.clone()).await;
        let ours = call(&native_client, tool, arguments.clone()).await;
        if (theirs.text_content(), theirs.is_error(), &theirs.structured_content)
            != (ours.text_content(), ours.is_error(), &ours.structured_content)
        {
            differences.push(format!(
                "{tool} {arguments}\n--- go:\n{}\n{:?}\n--- native:\n{}\n{:?}",
                theirs.text_content(),
                theirs.structured_content,
                ours.text_content(),
                ours.structured_content
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
    let table = call(&native_client, "pods_list_in_namespace", json!({"namespace": "team-a"})).await.text_content();
    assert_eq!(
        table,
        "NAMESPACE   APIVERSION   KIND   NAME    CREATED AT             LABELS\n\
         team-a      v1           Pod    api-1   2026-01-01T00:00:00Z   app=api,tier=web\n"
    );
}
