//! The engine under test, our server on it, and an independent client to check what the
//! engine holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_core::protocol::{CallToolResult, Implementation};
use mcp_core::{Client, ClientOptions, ToolContext, ToolSet};
use mcp_docker::native::{DockerConfig, DockerServer, Safety};
use serde_json::Value;

/// The engine's address and the test image, or `None` (with the reason printed) outside CI when
/// no engine was started. In CI a missing engine fails the test.
pub fn engine() -> Option<(String, String)> {
    let host = crate::services::service("MCPTK_TEST_DOCKER_HOST", "Podman's Docker-compatible API")?;
    let image = std::env::var("MCPTK_TEST_DOCKER_IMAGE").unwrap_or_else(|_| "localhost/mcptk-busybox:test".to_owned());
    Some((host, image))
}

/// A name no other test (or run) uses.
pub fn unique(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("mcptk-it-{what}-{}-{}-{}", std::process::id(), nanos % 1_000_000_000, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Our native server on `host` with `safety`.
pub fn server(host: &str, safety: Safety) -> DockerServer {
    DockerServer::new(DockerConfig { host: Some(host.to_owned()), safety }).expect("a valid configuration")
}

/// Our native tools on `host` with the default safety settings.
pub fn tools(host: &str) -> ToolSet {
    server(host, Safety::default()).tool_set()
}

/// Calls `tool` with `args`, collecting progress messages.
pub async fn call_with_progress(tools: &ToolSet, tool: &str, args: Value) -> (CallToolResult, Vec<String>) {
    let messages = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = messages.clone();
    let cx = ToolContext::detached().with_progress_fn(Arc::new(move |_, _, message| {
        if let (Some(m), Ok(mut all)) = (message, sink.lock()) {
            all.push(m);
        }
    }));
    let args = args.as_object().cloned().expect("arguments are an object");
    let result = tools.call(tool, args, cx).await;
    let messages = messages.lock().map(|m| m.clone()).unwrap_or_default();
    (result, messages)
}

/// Calls `tool` and returns its structured result; panics with the tool's text on an error.
pub async fn ok(tools: &ToolSet, tool: &str, args: Value) -> Value {
    let (result, _) = call_with_progress(tools, tool, args).await;
    assert!(!result.is_error(), "{tool} failed: {}", result.text_content());
    let text = result.text_content();
    result.structured_content.unwrap_or(Value::String(text))
}

/// Calls `tool` expecting a tool error; its text.
pub async fn refused(tools: &ToolSet, tool: &str, args: Value) -> String {
    let (result, _) = call_with_progress(tools, tool, args).await;
    assert!(result.is_error(), "{tool} should have failed: {}", result.text_content());
    result.text_content()
}

/// An independent view of the engine (bollard directly, not our tools).
pub async fn direct(host: &str) -> bollard::Docker {
    bollard::Docker::connect_with_host(host).expect("connects").negotiate_version().await.expect("negotiates")
}

/// True when the engine holds a container named (or with ID) `name`. Listed, not inspected:
/// Podman may report a state (`stopped`) that bollard's typed inspection refuses.
pub async fn container_exists(host: &str, name: &str) -> bool {
    let options = bollard::query_parameters::ListContainersOptions { all: true, ..Default::default() };
    let docker = direct(host).await;
    let mut listed = docker.list_containers(Some(options.clone())).await;
    // Podman's momentary `stopped` state (a container's exit being cleaned up) does not decode.
    for _ in 0..40 {
        if !matches!(listed, Err(bollard::errors::Error::JsonDataError { .. })) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        listed = docker.list_containers(Some(options.clone())).await;
    }
    let listed = listed.expect("lists containers");
    listed.iter().any(|c| {
        c.id.as_deref().is_some_and(|id| id.starts_with(name))
            || c.names.iter().flatten().any(|n| n.trim_start_matches('/') == name)
    })
}

/// Waits until a running container matches `filter` (`name` or `label`, as the engine filters
/// them) for up to three minutes (a create and start on a loaded machine with vfs storage can
/// take a while); panics after that.
pub async fn until_running(host: &str, filter: &str, value: &str) {
    let docker = direct(host).await;
    let filters = std::collections::HashMap::from([(filter.to_owned(), vec![value.to_owned()])]);
    let options = bollard::query_parameters::ListContainersOptions { filters: Some(filters), ..Default::default() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while std::time::Instant::now() < deadline {
        // Podman's momentary `stopped` state does not decode: that is no running container.
        if let Ok(listed) = docker.list_containers(Some(options.clone())).await
            && !listed.is_empty()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no container with {filter} {value} ran within 180 s")
}

/// Waits until the engine holds no container `name`, for up to three minutes; whether it went.
pub async fn until_gone(host: &str, name: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while container_exists(host, name).await {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    true
}

/// True when container `name` is running.
pub async fn is_running(host: &str, name: &str) -> bool {
    inspect(host, name).await.state.and_then(|s| s.running) == Some(true)
}

/// Removes a container if it is there (cleanup after a failed assertion too).
pub async fn remove_container(host: &str, name: &str) {
    let options = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
    let _ = direct(host).await.remove_container(name, Some(options)).await;
}

/// A temporary directory, resolved (so it compares with what the server resolves).
pub fn temp_root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::fs::canonicalize(dir.path()).expect("resolves");
    (dir, path)
}

/// Our native server served over an in-memory pipe, as an MCP client sees it.
pub async fn client(server: &DockerServer) -> Arc<Client> {
    let mcp = mcp_core::Server::builder(Implementation::new("native-docker", "0.1.0"), server.registry())
        .instructions(DockerServer::INSTRUCTIONS)
        .build();
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_end);
    tokio::spawn(async move {
        let _ = mcp.serve(server_read, server_write).await;
    });
    let (client_read, client_write) = tokio::io::split(client_end);
    Arc::new(
        Client::connect("native-docker", client_read, client_write, ClientOptions::default())
            .await
            .expect("the native server answers"),
    )
}

/// The engine's inspection of a container (waiting out Podman's momentary `stopped` state).
pub async fn inspect(host: &str, name: &str) -> bollard::models::ContainerInspectResponse {
    let docker = direct(host).await;
    for _ in 0..40 {
        match docker.inspect_container(name, None).await {
            Err(bollard::errors::Error::JsonDataError { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            outcome => return outcome.unwrap_or_else(|e| panic!("inspecting {name}: {e}")),
        }
    }
    panic!("{name} never settled into a state Docker's API has")
}

/// The test registry's address (`127.0.0.1:PORT`, plain HTTP), or `None` (the reason printed)
/// outside CI when none was started. In CI a missing registry fails the test.
pub fn registry() -> Option<String> {
    crate::services::service("MCPTK_TEST_REGISTRY", "the test registry")
}

/// A GET of `path` on the plain-HTTP server at `address`: (status, body).
pub async fn http_get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap_or_else(|e| panic!("{address}: {e}"));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("reads");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

/// The tags the registry at `address` lists for repository `name` (none when it has no such repository).
pub async fn registry_tags(address: &str, name: &str) -> Vec<String> {
    let (status, body) = http_get(address, &format!("/v2/{name}/tags/list")).await;
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("JSON");
    serde_json::from_value(listed["tags"].clone()).unwrap_or_default()
}

/// True when the engine holds image `reference`.
pub async fn image_exists(host: &str, reference: &str) -> bool {
    direct(host).await.inspect_image(reference).await.is_ok()
}
