//! Connecting: a configured server, a child process, any byte stream or an HTTP server (either
//! of its transports); each ends in the same [`Client`] once the era is negotiated.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

#[cfg(feature = "http-client")]
use super::EraPreference;
use super::handler::ClientHandler;
use super::negotiate::{Failed, Unanswered};
use super::{Client, ClientOptions, Masking};
use crate::config::{ConfigError, McpConfig, ServerConfig, ServerEntry};
use crate::error::{Error, Result};
use crate::protocol::{ProtocolVersion, ServerCapabilities};
use crate::transport::connection::{self, CloseReason, Handler, Peer, Role};

/// Resolves the server `name`'s entry with variables from the process environment, as
/// [`Client::from_config`] does: its settings, and every value a `${VAR}` expanded to, wherever
/// in the entry (`command`, `args`, `cwd`, `env`, `url`, `headers`, `oauth`), to be masked as a
/// secret in everything said about the server: `(variable, value)` pairs, sorted.
pub fn resolve(
    name: &str,
    entry: &ServerEntry,
) -> std::result::Result<(ServerConfig, Vec<(String, String)>), ConfigError> {
    let expanded = std::cell::RefCell::new(Vec::new());
    // Expansion asks for each variable once per reference: what it is told is what it puts in.
    let lookup = |var: &str| {
        let value = std::env::var(var).ok();
        expanded.borrow_mut().extend(value.clone().filter(|v| !v.is_empty()).map(|v| (var.to_owned(), v)));
        value
    };
    let server = entry.resolve(name, &lookup)?;
    let mut expanded = expanded.into_inner();
    expanded.sort();
    expanded.dedup();
    Ok((server, expanded))
}

impl Client {
    /// Connects to the server `name` of a configuration file. What its `${VAR}`s expanded to is
    /// masked in what the server says (see [`resolve`]).
    pub async fn from_config(config: &McpConfig, name: &str, options: ClientOptions) -> Result<Client> {
        #[cfg(not(any(feature = "stdio", feature = "http-client")))]
        let _ = options;
        let (server, expanded) = match config.servers.get(name) {
            Some(entry) => resolve(name, entry)
                .map(|(server, expanded)| (server, expanded.into_iter().map(|(_, v)| v).collect()))?,
            // Refused by `McpConfig::server`, which names the servers there are.
            None => (config.server(name)?, Vec::new()),
        };
        #[cfg(not(feature = "stdio"))]
        let _ = expanded;
        match server {
            #[cfg(feature = "stdio")]
            ServerConfig::Stdio(server) => Self::spawn_masking(name, &server, expanded, options).await,
            #[cfg(not(feature = "stdio"))]
            ServerConfig::Stdio(_) => Err(Error::Protocol {
                server: name.to_owned(),
                method: "connect".into(),
                message: "stdio servers need the `stdio` feature of mcp-core".into(),
            }),
            #[cfg(feature = "http-client")]
            ServerConfig::Http(server) => Self::connect_http(name, &server, options).await,
            #[cfg(not(feature = "http-client"))]
            ServerConfig::Http(server) => Err(Error::Protocol {
                server: name.to_owned(),
                method: "connect".into(),
                message: format!(
                    "HTTP servers ({}) need the `http-client` feature of mcp-core",
                    server.scrubber().url(&server.url)
                ),
            }),
        }
    }

    /// Starts a server process and connects to it over its stdin and stdout. Its `env` values are
    /// masked in what it says (its stderr, its log messages).
    #[cfg(feature = "stdio")]
    pub async fn spawn(name: &str, server: &crate::config::StdioServer, options: ClientOptions) -> Result<Client> {
        Self::spawn_masking(name, server, Vec::new(), options).await
    }

    /// [`Client::spawn`], masking `secrets` too.
    #[cfg(feature = "stdio")]
    async fn spawn_masking(
        name: &str,
        server: &crate::config::StdioServer,
        secrets: Vec<String>,
        options: ClientOptions,
    ) -> Result<Client> {
        // The values handed to the server in its environment are secrets as often as not.
        let masking = Masking::new(secrets.into_iter().chain(server.env.values().cloned()));
        let start = |options: ClientOptions| {
            let masking = masking.clone();
            async move {
                let spawned = crate::transport::process::spawn(name, server, masking.clone())?;
                let (stdout, stdin, process) = (spawned.stdout, spawned.stdin, spawned.process);
                let close_reason = Some(spawned.close_reason);
                match Self::start(name, stdout, stdin, close_reason, masking, options, Unanswered::FreshProcess).await {
                    Ok(mut client) => {
                        client.process = Some(process);
                        Ok(client)
                    }
                    Err(failed) => {
                        // A server that fails the handshake is killed with its group, and gone
                        // before the next one starts (which may want its port or its locks).
                        process.kill();
                        let _ = process.exited_within(std::time::Duration::from_secs(2)).await;
                        Err(failed)
                    }
                }
            }
        };
        let began = std::time::Instant::now();
        match start(options.clone()).await {
            Ok(client) => Ok(client),
            // An older server stopped or ended by the probe: a fresh one is sent `initialize` first.
            Err(Failed { error, probe_unanswered: true }) => {
                tracing::info!(server = name, %error, "server/discover went unanswered; starting the server again");
                // Quick to answer `initialize` when the probe was what stopped it: one more window.
                let left = options.connect_timeout.saturating_sub(began.elapsed()).max(options.probe_timeout);
                let options =
                    ClientOptions { era: super::EraPreference::HandshakeFirst, connect_timeout: left, ..options };
                start(options).await.map_err(|f| f.error)
            }
            Err(failed) => Err(failed.error),
        }
    }

    /// Connects over any reader and writer (a socket, a pipe, an in-memory duplex).
    pub async fn connect<R, W>(name: &str, reader: R, writer: W, options: ClientOptions) -> Result<Client>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Self::start(name, reader, writer, None, Masking::default(), options, Unanswered::SameConnection)
            .await
            .map_err(|f| f.error)
    }

    /// Connects to an HTTP server, picking the transport and era by itself: Streamable HTTP
    /// (either era, detected as for stdio), or the old HTTP+SSE transport of `2024-11-05` when the
    /// URL ends in `/sse` or the server refuses Streamable HTTP's POST with 404 or 405. Nothing
    /// said about the server shows its [`secrets`](crate::config::HttpServer::secrets), and nothing
    /// read from it may exceed [`ClientOptions::max_message_bytes`].
    #[cfg(feature = "http-client")]
    pub async fn connect_http(
        name: &str,
        server: &crate::config::HttpServer,
        options: ClientOptions,
    ) -> Result<Client> {
        let limit = options.max_message_bytes;
        let masking = Masking::new(server.secrets.iter().cloned());
        // An `oauth` block in the configuration, and no OAuth set up in code: the interactive way.
        let mut options = options;
        if options.oauth.is_none()
            && let Some(entry) = &server.oauth
        {
            let config =
                crate::transport::oauth::OAuthConfig::interactive(entry, &options.info.name).map_err(Error::Io)?;
            options.oauth = Some(Arc::new(config));
        }
        if !crate::transport::http_client::names_legacy_sse(&server.url) {
            let attempt =
                Self::start_with(name, options.clone(), masking.clone(), Unanswered::SameConnection, |handler| {
                    crate::transport::http_client::start(name, server, options.oauth.clone(), limit, handler)
                })
                .await
                .map_err(|f| f.error);
            // A server without Streamable HTTP refuses its POST as a resource it does not have.
            let old_server = |e: &Error| matches!(e.http_status(), Some(404 | 405));
            match attempt {
                Err(e) if old_server(&e) => tracing::debug!(server = name, "no Streamable HTTP; trying HTTP+SSE"),
                other => return other,
            }
        }
        let handler = ClientHandler::new(name, &options, masking);
        let peer = crate::transport::http_client::start_legacy_sse(name, server, limit, handler.clone()).await?;
        let options = ClientOptions { era: EraPreference::Handshake, ..options };
        Self::start_on(name, options, handler, peer, Unanswered::SameConnection).await.map_err(|f| f.error)
    }

    async fn start<R, W>(
        name: &str,
        reader: R,
        writer: W,
        close_reason: Option<CloseReason>,
        masking: Masking,
        options: ClientOptions,
        unanswered: Unanswered,
    ) -> std::result::Result<Client, Failed>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let engine_options = connection::Options {
            name: name.to_owned(),
            role: Role::Client,
            max_message_bytes: options.max_message_bytes,
            max_in_flight: connection::DEFAULT_MAX_IN_FLIGHT,
            max_queued_bytes: connection::DEFAULT_MAX_QUEUED_BYTES,
            close_reason,
            drain_grace: connection::DRAIN_GRACE,
            output_closed: None,
        };
        Self::start_with(name, options, masking, unanswered, move |handler| {
            Ok(connection::start(reader, writer, handler, engine_options).0)
        })
        .await
    }

    /// Builds the client on a transport started by `transport` with the client's handler, which
    /// masks the server's secrets with `masking`.
    async fn start_with(
        name: &str,
        options: ClientOptions,
        masking: Masking,
        unanswered: Unanswered,
        transport: impl FnOnce(Arc<dyn Handler>) -> Result<Peer>,
    ) -> std::result::Result<Client, Failed> {
        let handler = ClientHandler::new(name, &options, masking);
        let peer = transport(handler.clone())?;
        Self::start_on(name, options, handler, peer, unanswered).await
    }

    /// Builds the client on a running transport whose messages go to `handler`.
    async fn start_on(
        name: &str,
        options: ClientOptions,
        handler: Arc<ClientHandler>,
        peer: Peer,
        unanswered: Unanswered,
    ) -> std::result::Result<Client, Failed> {
        let (routes, listens) = (handler.routes.clone(), handler.listens.clone());
        let mut client = Client {
            peer,
            options,
            version: ProtocolVersion::LATEST_HANDSHAKE,
            server_info: None,
            capabilities: ServerCapabilities::default(),
            instructions: None,
            routes,
            listens,
            #[cfg(feature = "stdio")]
            process: None,
        };
        let span = tracing::info_span!("mcp.connect", server = %name);
        let _enter = span.enter();
        client.negotiate(unanswered).await?;
        client.listen_for_changes();
        Ok(client)
    }
}

#[cfg(all(test, feature = "http-client"))]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::config::HttpServer;
    use crate::protocol::codes;

    /// A server that answers every request with `status` and no body; returns its port and the
    /// methods of the requests it saw, in order.
    async fn refusing(status: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = listener.local_addr().expect("has an address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head, then as much body as it announces.
                while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request);
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                let method = String::from_utf8_lossy(&request).split(' ').next().unwrap_or_default().to_owned();
                log.lock().unwrap_or_else(PoisonError::into_inner).push(method);
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (port, seen)
    }

    async fn connect(port: u16) -> Result<Client> {
        let options = ClientOptions { connect_timeout: std::time::Duration::from_secs(5), ..ClientOptions::default() };
        Client::connect_http("t", &HttpServer::new(format!("http://127.0.0.1:{port}/mcp")), options).await
    }

    #[tokio::test]
    async fn a_404_to_the_post_means_the_old_transport_is_tried() {
        let (port, seen) = refusing("404 Not Found").await;
        let refused = connect(port).await.expect_err("nothing to connect to");
        // `server/discover`, then `initialize`, then the old transport's GET of its stream.
        assert_eq!(*seen.lock().unwrap_or_else(PoisonError::into_inner), ["POST", "POST", "GET"]);
        assert!(matches!(refused, Error::Protocol { .. }), "{refused:?}");
    }

    #[tokio::test]
    async fn other_refusals_carry_their_status_and_are_not_retried_on_the_old_transport() {
        let (port, seen) = refusing("500 Internal Server Error").await;
        let refused = connect(port).await.expect_err("nothing to connect to");
        assert_eq!(*seen.lock().unwrap_or_else(PoisonError::into_inner), ["POST", "POST"]);
        assert_eq!(refused.http_status(), Some(500), "{refused:?}");
        assert_eq!(refused.rpc_error().map(|e| e.code), Some(codes::INVALID_REQUEST));
        assert!(refused.to_string().starts_with("server `t` rejected initialize: HTTP 500"), "{refused}");
    }

    /// A server nobody listens for never saw the request: it was not reached, not "rejected".
    #[tokio::test]
    async fn a_server_that_cannot_be_reached_is_said_not_to_be_reached() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let failed = connect(port).await.expect_err("nothing listens");
        let said = failed.to_string();
        assert!(failed.is_transport_failure(), "{failed:?}");
        assert!(said.starts_with("server `t` was not reached ("), "{said}");
        assert!(said.contains(&format!("HTTP request to http://127.0.0.1:{port}/mcp failed")), "{said}");
    }
}
