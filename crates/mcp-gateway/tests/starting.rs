//! A gateway built to serve while its servers start (as `mcptk serve` is): it returns before
//! they are up, answers the handshake at once and holds lists until their first starts end; a
//! reload waits for them; past its hold, a list holds what is up and a server up later joins it;
//! shut down first, it ends what it held with an error. The upstream is
//! the repository's faulty-server fixture, started only once the test creates a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcp_core::{Client, ClientOptions, EraPreference, StartState};
use mcp_gateway::{Gateway, GatewayConfig};
use serde_json::json;

/// A configuration with one server, `late`, that starts once the file `go` exists.
fn config(dir: &Path, go: &Path) -> GatewayConfig {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/misbehaving_server.py");
    serde_json::from_value(json!({
        "mcpServers": {"late": {"command": "python3", "args": [fixture, "normal"], "env": {"START_WHEN": go}}},
        "audit": {"path": dir.join("audit.jsonl"), "fsync": false}
    }))
    .expect("a valid gateway configuration")
}

/// A handshake-era client of the gateway's MCP server over in-memory pipes.
async fn client(gateway: &Gateway) -> Arc<Client> {
    client_with(gateway, ClientOptions::default()).await
}

/// [`client`] with `options`.
async fn client_with(gateway: &Gateway, options: ClientOptions) -> Arc<Client> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    let server = gateway.server().clone();
    tokio::spawn(async move { server.serve(r, w).await });
    let (r, w) = tokio::io::split(client_io);
    let options = ClientOptions { era: EraPreference::Handshake, ..options };
    Arc::new(Client::connect("gateway", r, w, options).await.expect("the handshake is answered while starting"))
}

#[tokio::test]
async fn lists_and_reloads_wait_for_the_servers_first_start() {
    let dir = tempfile::tempdir().expect("temp");
    let go = dir.path().join("go");
    let config = config(dir.path(), &go);
    let gateway = Gateway::builder(config.clone()).serve_while_starting(true).start().await.expect("starts");
    assert_eq!(gateway.server().start_state(), StartState::Starting);
    let readiness = gateway.readiness_probe();
    assert_eq!(readiness().await, Err("not ready: the servers are starting".to_owned()));

    let client = client(&gateway).await;
    let listing = tokio::spawn({
        let client = client.clone();
        async move { client.list_tools().await }
    });
    let reloader = gateway.reloader();
    let reloading = tokio::spawn(async move { reloader.reload(config).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!listing.is_finished() && !reloading.is_finished(), "both wait for the first start");

    std::fs::write(&go, "").expect("let the server start");
    let names: Vec<String> = listing.await.expect("joins").expect("lists").into_iter().map(|t| t.name).collect();
    assert!(names.contains(&"late__work".to_owned()), "the first list holds its tools: {names:?}");
    let reloaded = reloading.await.expect("joins").expect("reloads");
    assert_eq!(reloaded.kept, ["late"], "the reload found it running: {reloaded:?}");
    assert_eq!(gateway.started().await, StartState::Ready);
    assert_eq!(readiness().await, Ok(()));
    gateway.shutdown().await;
}

#[tokio::test]
async fn shut_down_while_starting_it_answers_what_it_held_with_an_error() {
    let dir = tempfile::tempdir().expect("temp");
    let go = dir.path().join("never");
    let gateway = Gateway::builder(config(dir.path(), &go)).serve_while_starting(true).start().await.expect("starts");
    let client = client(&gateway).await;
    let listing = tokio::spawn({
        let client = client.clone();
        async move { client.list_tools().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!listing.is_finished());
    let (server, health, readiness) = (gateway.server().clone(), gateway.health_probe(), gateway.readiness_probe());
    assert_eq!(health(), Ok(()));
    gateway.shutdown().await;
    assert_eq!(server.start_state(), StartState::Abandoned);
    let given_up = "the gateway gave up its start";
    assert_eq!(health(), Err(format!("unhealthy: {given_up}")), "never to serve tools again");
    assert_eq!(readiness().await, Err(format!("not ready: {given_up}")));
    let error = listing.await.expect("joins").expect_err("no list");
    assert!(
        error.to_string().contains("the server gave up its start (it is stopping, or its start failed)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_slower_than_the_hold_joins_the_list_once_up_and_clients_are_told() {
    let dir = tempfile::tempdir().expect("temp");
    let go = dir.path().join("go");
    let gateway = Gateway::builder(config(dir.path(), &go))
        .serve_while_starting(true)
        .starting_hold(Duration::from_millis(300))
        .start()
        .await
        .expect("starts");
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let client =
        client_with(&gateway, ClientOptions { notifications: Some(notes_tx), ..ClientOptions::default() }).await;
    let names = || async { client.list_tools().await.expect("lists").into_iter().map(|t| t.name).collect::<Vec<_>>() };
    // Answered once the hold is over, not when the server's start gives up (30 s and more).
    let first = tokio::time::timeout(Duration::from_secs(10), names()).await.expect("answered after the hold");
    assert!(!first.contains(&"late__work".to_owned()), "past the hold, the list holds what is up: {first:?}");
    assert_eq!(gateway.started().await, StartState::Ready);

    std::fs::write(&go, "").expect("let the server start");
    let told = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(note) = notes.recv().await {
            if note.method == mcp_core::protocol::methods::TOOLS_LIST_CHANGED {
                return true;
            }
        }
        false
    });
    assert!(told.await.expect("told within 30 s"), "clients are told the list changed");
    assert!(names().await.contains(&"late__work".to_owned()));
    gateway.shutdown().await;
}
