//! `mcptk serve k8s` and the gateway's `native.k8s`, against the FAKE Kubernetes API server of
//! `mcp-k8s`'s tests (no real API server can run here; `mcp-k8s`'s own tests compare the native
//! tools with the real Go server call by call on that fake).

use mcp_core::config::StdioServer;
use mcp_core::protocol::JsonObject;
use mcp_core::{Client, ClientOptions};
use serde_json::{Value, json};

use crate::support::{mcptk, root};

#[path = "../../../mcp-k8s/tests/it/fake.rs"]
#[allow(dead_code)]
pub(crate) mod fake;

const TOKEN: &str = "k8s-cli-token-5b2e-never-shown";

fn args(value: Value) -> JsonObject {
    value.as_object().cloned().expect("an object")
}

async fn names(client: &Client) -> Vec<String> {
    let mut names: Vec<String> = client.list_tools().await.expect("lists").into_iter().map(|t| t.name).collect();
    names.sort();
    names
}

/// The fake with a kubeconfig for it in `dir`.
async fn cluster(dir: &std::path::Path) -> (fake::FakeApi, std::path::PathBuf) {
    let api = fake::FakeApi::start(TOKEN).await;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig(false)).expect("kubeconfig");
    (api, kubeconfig)
}

#[tokio::test]
async fn serve_k8s_takes_the_go_servers_flags_and_refuses_at_call_time() {
    let dir = tempfile::tempdir().expect("temp");
    let (api, kubeconfig) = cluster(dir.path()).await;
    let path = kubeconfig.display().to_string();
    let server =
        StdioServer::new(mcptk(), ["serve", "k8s", "--kubeconfig", &path, "--read-only", "--list-output", "yaml"]);
    let client = Client::spawn("k8s", &server, ClientOptions::default()).await.expect("starts");
    let listed = names(&client).await;
    assert!(listed.contains(&"pods_log".to_owned()) && !listed.contains(&"resources_delete".to_owned()), "{listed:?}");
    let k8s = mcp_k8s::Kubernetes::new(client);
    let log = k8s.get_logs("team-a", "api-1").await.expect("get_logs");
    assert_eq!(log, "api ready\n");
    let pod = k8s.pods_get(Some("default"), "web-1").await.expect("pods_get");
    assert!(pod.contains("name: web-1") && !pod.contains(TOKEN), "{pod}");
    let refused = k8s
        .resources_delete(&mcp_k8s::ResourceRef::new("v1", "Pod", Some("default"), "web-1"), None)
        .await
        .expect_err("refused");
    assert!(!refused.to_string().contains(TOKEN), "{refused}");
    assert!(api.object("v1", "pods", "default", "web-1").is_some(), "the pod was deleted");
    let view = k8s.configuration_view(true).await.expect("configuration_view");
    assert!(view.contains("token: REDACTED") && !view.contains(TOKEN), "{view}");
}

/// Through the real binary over stdio: `pods_exec` runs the command in the fake's stand-in for
/// a kubelet and streams its output as `notifications/progress`, and a manifest of several
/// documents reports each one applied.
#[tokio::test]
async fn serve_k8s_streams_exec_output_and_apply_as_progress() {
    use futures_util::StreamExt as _;
    let dir = tempfile::tempdir().expect("temp");
    let (api, kubeconfig) = cluster(dir.path()).await;
    let path = kubeconfig.display().to_string();
    let server = StdioServer::new(mcptk(), ["serve", "k8s", "--kubeconfig", &path]);
    let client = Client::spawn("k8s", &server, ClientOptions::default()).await.expect("starts");
    let streamed = |tool: &'static str, arguments: Value| {
        let mut stream = client.call_tool_stream(tool, args(arguments));
        async move {
            let (mut progress, mut text) = (vec![], String::new());
            while let Some(event) = stream.next().await {
                match event.expect("the call completes") {
                    mcp_core::CallEvent::Progress(p) => progress.push(p.message.unwrap_or_default()),
                    mcp_core::CallEvent::Result(result) => text = result.text_content(),
                    _ => {}
                }
            }
            (progress, text)
        }
    };
    let command = json!({"name": "web-1", "command": ["sh", "-c", "echo first; sleep 0.3; echo 'second line' >&2"]});
    let (progress, text) = streamed("pods_exec", command).await;
    assert_eq!(
        (progress, text),
        (vec!["first\n".to_owned(), "stderr: second line\n".to_owned()], "first\n".to_owned())
    );
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
    let (progress, text) = streamed("resources_create_or_update", json!({"resource": manifest})).await;
    assert_eq!(progress, ["applied ConfigMap default/a (1/2)", "applied ConfigMap default/b (2/2)"]);
    assert!(!text.contains(TOKEN) && api.object("v1", "configmaps", "default", "b").is_some(), "{text}");
}

#[tokio::test]
async fn serve_k8s_names_a_bad_kubeconfig() {
    let output = tokio::process::Command::new(mcptk())
        .args(["serve", "k8s", "--kubeconfig", "/nonexistent/kubeconfig"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/kubeconfig"), "{stderr}");
}

/// The gateway with the native tools as `k8s` and the real Go server (npm
/// `kubernetes-mcp-server` 0.0.67) as `kube`, both on the same fake: names are namespaced,
/// policy applies to both, and every call is audited.
#[tokio::test]
async fn the_gateway_serves_native_k8s_beside_the_go_server() {
    let go =
        root().join("tests/node/node_modules/kubernetes-mcp-server-linux-amd64/bin/kubernetes-mcp-server-linux-amd64");
    if !go.exists() {
        assert!(std::env::var("CI").is_err(), "{} is missing: run `cargo xtask setup`", go.display());
        eprintln!("skipped: {} is missing (run `cargo xtask setup`)", go.display());
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    let (api, kubeconfig) = cluster(dir.path()).await;
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("gateway.json");
    let gateway = json!({
        "native": {"k8s": {"kubeconfig": kubeconfig}},
        "mcpServers": {"kube": {"command": go, "args": ["--kubeconfig", kubeconfig], "env": {"TZ": "UTC"}}},
        "audit": {"path": audit},
        "policy": {"rules": [
            {"name": "no-deletes", "effect": "deny", "tools": ["pods_delete", "resources_delete"]},
            {"name": "rest", "effect": "allow"}
        ]}
    });
    std::fs::write(&config, gateway.to_string()).expect("config");
    let mut server = StdioServer::new(mcptk(), ["serve", "--config", &config.display().to_string()]);
    server.env.insert("MCPTK_LOG".into(), "warn".into());
    let client = Client::spawn("gateway", &server, ClientOptions::default()).await.expect("the gateway starts");
    let listed = names(&client).await;
    for name in ["k8s__pods_list", "kube__pods_list", "k8s__resources_get", "kube__resources_get"] {
        assert!(listed.contains(&name.to_owned()), "{name} missing from {listed:?}");
    }
    let get = args(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "default"}));
    let ours = client.call_tool("k8s__resources_get", get.clone()).await.expect("a result");
    let theirs = client.call_tool("kube__resources_get", get).await.expect("a result");
    assert!(!ours.is_error(), "{}", ours.text_content());
    assert_eq!(ours.text_content(), theirs.text_content());
    // Both list as tables by default, the same table.
    let ours = client.call_tool("k8s__pods_list", args(json!({"labelSelector": "app=web"}))).await.expect("a result");
    let theirs =
        client.call_tool("kube__pods_list", args(json!({"labelSelector": "app=web"}))).await.expect("a result");
    assert!(ours.text_content().starts_with("NAMESPACE   APIVERSION   KIND"), "{}", ours.text_content());
    assert_eq!(ours.text_content(), theirs.text_content());
    for tool in ["k8s__pods_delete", "kube__pods_delete"] {
        let denied = client.call_tool(tool, args(json!({"name": "web-1"}))).await.expect("a result");
        assert!(denied.is_error() && denied.text_content().contains("no-deletes"), "{tool}: {}", denied.text_content());
    }
    assert!(api.object("v1", "pods", "default", "web-1").is_some(), "a denied call ran");
    client.close().await.expect("closes");
    let records = mcp_audit::read_records(&audit).expect("audit");
    let outcomes: Vec<(String, String, String)> =
        records.iter().map(|r| (r.body.server.clone(), r.body.tool.clone(), r.body.outcome.clone())).collect();
    for (server, tool, outcome) in [
        ("k8s", "resources_get", "ok"),
        ("kube", "resources_get", "ok"),
        ("k8s", "pods_delete", "denied"),
        ("kube", "pods_delete", "denied"),
        ("k8s", "pods_list", "ok"),
    ] {
        assert!(
            outcomes.contains(&(server.into(), tool.into(), outcome.into())),
            "{server}/{tool} {outcome} not in {outcomes:?}"
        );
    }
    let log = std::fs::read_to_string(&audit).expect("audit text");
    assert!(!log.contains(TOKEN), "the token reached the audit log");
}
