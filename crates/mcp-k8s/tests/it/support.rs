//! The two backends under test, each as an MCP client: the Go server (npm
//! `kubernetes-mcp-server` 0.0.67 from `tests/node`, installed by `cargo xtask setup`) as a child
//! process, and our native server served over an in-memory pipe. Both read a kubeconfig that
//! points at a fake API server with a bearer token.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_core::config::StdioServer;
use mcp_core::protocol::{CallToolResult, Implementation};
use mcp_core::{Client, ClientOptions};
use mcp_k8s::native::{K8sConfig, K8sServer, ListOutput};
use serde_json::Value;

use crate::fake::FakeApi;

/// The bearer token of every kubeconfig here; no result, error or log may ever contain it.
pub const TOKEN: &str = "fake-token-7d1f3c9a-never-show-me";

/// The Go server's binary, or `None` (with the reason printed) outside CI when it is missing.
pub fn go_server_bin() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/node/node_modules/kubernetes-mcp-server-linux-amd64/bin/kubernetes-mcp-server-linux-amd64");
    if bin.exists() {
        return Some(bin);
    }
    assert!(std::env::var("CI").is_err(), "{} is missing: run `cargo xtask setup`", bin.display());
    eprintln!("skipped: {} is missing (run `cargo xtask setup`)", bin.display());
    None
}

/// A fake API server and a kubeconfig file for it.
pub struct Cluster {
    pub fake: FakeApi,
    pub kubeconfig: tempfile::NamedTempFile,
}

impl Cluster {
    pub async fn start(two_contexts: bool) -> Self {
        let fake = FakeApi::start(TOKEN).await;
        let kubeconfig = tempfile::NamedTempFile::new().expect("a temporary file");
        std::fs::write(kubeconfig.path(), fake.kubeconfig(two_contexts)).expect("the kubeconfig is written");
        Self { fake, kubeconfig }
    }

    pub fn config(&self) -> K8sConfig {
        // YAML lists, as the Go server's `--list-output yaml` in [`go`]; `agree.rs` also compares
        // the default, tables.
        K8sConfig {
            kubeconfig: Some(self.kubeconfig.path().to_owned()),
            list_output: ListOutput::Yaml,
            ..K8sConfig::default()
        }
    }
}

/// The Go server on `cluster` with `flags` (besides `--kubeconfig` and YAML list output).
pub async fn go(cluster: &Cluster, bin: &Path, flags: &[&str]) -> Arc<Client> {
    let mut args = vec![
        "--kubeconfig".to_owned(),
        cluster.kubeconfig.path().display().to_string(),
        "--list-output".into(),
        "yaml".into(),
    ];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let mut server = StdioServer::new(bin.display().to_string(), args);
    server.env.insert("TZ".into(), "UTC".into());
    server.env.insert("HOME".into(), std::env::temp_dir().display().to_string());
    Arc::new(Client::spawn("go-kubernetes", &server, ClientOptions::default()).await.expect("the Go server starts"))
}

/// Our native server on `config`, served by `mcp_core::Server` over a pipe, as a client sees it.
pub async fn native(config: K8sConfig) -> Arc<Client> {
    let server = K8sServer::connect(config).await.expect("a valid configuration");
    let mcp = mcp_core::Server::builder(Implementation::new("native-kubernetes", "0.1.0"), server.registry())
        .instructions(K8sServer::INSTRUCTIONS)
        .build();
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_end);
    tokio::spawn(async move {
        let _ = mcp.serve(server_read, server_write).await;
    });
    let (client_read, client_write) = tokio::io::split(client_end);
    Arc::new(
        Client::connect("native-kubernetes", client_read, client_write, ClientOptions::default())
            .await
            .expect("the native server answers"),
    )
}

/// Calls `tool` with `arguments`; a protocol error becomes an error result with its message.
pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let arguments = arguments.as_object().cloned().expect("arguments are an object");
    match client.call_tool(tool, arguments).await {
        Ok(result) => result,
        Err(e) => CallToolResult::error(format!("protocol error: {e}")),
    }
}

/// The names `client` lists.
pub async fn tool_names(client: &Client) -> Vec<String> {
    let mut names: Vec<String> = client.list_tools().await.expect("tools/list").into_iter().map(|t| t.name).collect();
    names.sort();
    names
}
