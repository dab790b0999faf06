//! OAuth 2.1 for the HTTP client, as MCP's authorization spec lays it out: a `401` names the
//! protected resource's metadata (RFC 9728; else the well-known locations, path first), that
//! names the authorization server, whose metadata (RFC 8414 or OpenID discovery, path-aware) gives
//! the endpoints; the client registers (a pre-registered id, a Client ID Metadata Document URL,
//! or dynamic registration, RFC 7591), sends the user through the authorization code flow with
//! PKCE (S256) and the resource indicator (RFC 8707), checks the response's `iss` (RFC 9207), and
//! exchanges the code. A `403 insufficient_scope` asks again with the wider scope, a bounded number
//! of times. Tokens never appear in logs or errors; every document is read up to the client's
//! `max_message_bytes`, and what a message says goes through the server's scrubber.
//!
//! This file holds the configuration and `authorize`, which runs one authorization from end to
//! end; `discovery` finds the endpoints, `registration` the client's identity there, `grants`
//! gets the token (authorization code with PKCE, client credentials, JWT bearer, ID-JAG), `dpop`
//! binds it to a key, and `loopback` catches the browser coming back.

mod discovery;
mod dpop;
mod grants;
mod loopback;
mod registration;

use std::sync::Arc;

use reqwest::Url;
use serde_json::Value;

pub(crate) use discovery::{Challenge, parse_challenge};
pub use dpop::DpopKey;
pub use loopback::LoopbackAuthorizer;

use super::http_client::Http;
use registration::Registered;

/// Sends the user to the authorization URL and returns the URL the authorization server
/// redirected back to (with `code`, `state`, maybe `iss`): a browser and a local listener in an
/// interactive program, an HTTP client that stops at the redirect in tests.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Returns the redirect URL, or why the user did not get there.
    async fn authorize(&self, authorization_url: &str) -> Result<String, String>;
}

/// How this client takes part in OAuth.
#[derive(Clone)]
pub struct OAuthConfig {
    /// Where the authorization server sends the user back (registered with it).
    pub redirect_uri: String,
    /// The name shown to the user when registering dynamically.
    pub client_name: String,
    /// A pre-registered client id (and secret), used instead of registering.
    pub client_id: Option<String>,
    /// The secret of a pre-registered confidential client.
    pub client_secret: Option<String>,
    /// A Client ID Metadata Document URL, used as the client id where the server supports it.
    pub client_metadata_url: Option<String>,
    /// Scopes to ask for when the server names none.
    pub scopes: Option<String>,
    /// Machine to machine: the client credentials grant with the configured client, no user.
    pub client_credentials: bool,
    /// A workload identity token: the JWT bearer grant (RFC 7523) with it as the assertion,
    /// no user (workload identity federation). A rejection is reported, not retried.
    pub jwt_bearer_assertion: Option<String>,
    /// Enterprise-managed authorization: the user's identity token is exchanged at the
    /// enterprise's identity provider for an identity assertion grant (ID-JAG, RFC 8693), which
    /// the JWT bearer grant then trades for an access token.
    pub enterprise: Option<EnterpriseIdentity>,
    /// A PKCS#8 PEM P-256 key: authenticate to the token endpoint with a signed JWT
    /// (`private_key_jwt`, ES256) instead of a secret.
    pub private_key_pem: Option<String>,
    /// Brings the user to the authorization server and back.
    pub authorizer: Arc<dyn Authorizer>,
}

/// The enterprise identity provider and the user's token there.
#[derive(Clone)]
pub struct EnterpriseIdentity {
    /// The identity provider's token endpoint.
    pub token_endpoint: String,
    /// This client's id at the identity provider.
    pub client_id: String,
    /// The user's ID token from the identity provider.
    pub id_token: String,
}

impl std::fmt::Debug for EnterpriseIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterpriseIdentity")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuthConfig {
    /// The interactive configuration for a server entry's `oauth` block: a loopback redirect
    /// and the URL printed for the user.
    pub fn interactive(entry: &crate::config::OAuthEntry, client_name: &str) -> std::io::Result<Self> {
        let authorizer = LoopbackAuthorizer::bind(entry.redirect_port.unwrap_or(0))?;
        Ok(Self {
            redirect_uri: authorizer.redirect_uri(),
            client_name: client_name.to_owned(),
            client_id: entry.client_id.clone(),
            client_secret: entry.client_secret.clone(),
            client_metadata_url: entry.client_metadata_url.clone(),
            scopes: entry.scopes.clone(),
            client_credentials: false,
            jwt_bearer_assertion: None,
            enterprise: None,
            private_key_pem: None,
            authorizer: Arc::new(authorizer),
        })
    }

    /// The secrets this configuration holds, to be masked in every message.
    pub(crate) fn secrets(&self) -> Vec<String> {
        [
            self.client_secret.clone(),
            self.jwt_bearer_assertion.clone(),
            self.enterprise.as_ref().map(|e| e.id_token.clone()),
            self.private_key_pem.clone(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("redirect_uri", &self.redirect_uri)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("client_credentials", &self.client_credentials)
            .finish_non_exhaustive()
    }
}

/// The most authorizations in a row for one request (scope step-ups included).
pub(crate) const MAX_ATTEMPTS: usize = 3;

/// The token and what was learned on the way to it.
#[derive(Default)]
pub(crate) struct Session {
    pub access_token: Option<String>,
    refresh_token: Option<String>,
    /// The registration, with the authorization server it is valid at.
    client: Option<(String, Registered)>,
    /// The scope asked for last: a step-up asks for it and the new one together (SEP-2350).
    requested_scope: Option<String>,
    /// The key the token is bound to, when the authorization server does DPoP.
    pub dpop: Option<Arc<DpopKey>>,
}

/// One authorization for the MCP server at `mcp_url` after `challenge`; the new access token
/// is left in `session`.
pub(crate) async fn authorize(
    http: &Http,
    config: &OAuthConfig,
    mcp_url: &str,
    challenge: &Challenge,
    session: &mut Session,
) -> Result<(), String> {
    let mcp = Url::parse(mcp_url).map_err(|e| format!("the server URL {} is invalid: {e}", http.url(mcp_url)))?;
    let (resource, prm) = discovery::protected_resource(http, &mcp, challenge).await?;
    let issuer = prm
        .as_ref()
        .and_then(|p| p["authorization_servers"].as_array()?.first()?.as_str().map(str::to_owned))
        .unwrap_or_else(|| discovery::origin(&mcp));
    let server = discovery::authorization_server(http, &issuer).await?;
    let dpop_algs = server.metadata["dpop_signing_alg_values_supported"].as_array();
    if session.dpop.is_none() && dpop_algs.is_some_and(|a| a.iter().any(|v| v == "ES256")) {
        session.dpop = Some(Arc::new(DpopKey::generate()?));
    }
    let dpop = session.dpop.clone();
    let scope = step_up_scope(challenge, prm.as_ref(), config, session);

    // Grants without a user: a JWT bearer assertion (workload identity, or an ID-JAG from the
    // enterprise's identity provider), or the client's own credentials.
    if let Some(token) =
        grants::without_user(http, config, &server, resource.clone(), scope.as_deref(), dpop.as_deref()).await?
    {
        session.access_token = Some(token.access);
        return Ok(());
    }

    // A registration belongs to one authorization server; a resource that moved to another
    // means registering again there.
    let client = match &session.client {
        Some((at, client)) if *at == server.issuer => client.clone(),
        _ => {
            let client = registration::register(http, config, &server).await?;
            session.client = Some((server.issuer.clone(), client.clone()));
            client
        }
    };
    let token =
        grants::authorization_code(http, config, &server, &client, resource, scope.as_deref(), dpop.as_deref()).await?;
    session.access_token = Some(token.access);
    session.refresh_token = token.refresh.or(session.refresh_token.take());
    tracing::debug!(granted = ?token.scope.or(scope), "authorized");
    Ok(())
}

/// The scope to ask for: what the challenge asks for, else what the resource offers, else ours;
/// after an earlier request, that one and the new one together. Remembered in `session`.
fn step_up_scope(
    challenge: &Challenge,
    prm: Option<&Value>,
    config: &OAuthConfig,
    session: &mut Session,
) -> Option<String> {
    let scope = challenge
        .scope
        .clone()
        .or_else(|| {
            let offered: Vec<&str> =
                prm?.get("scopes_supported")?.as_array()?.iter().filter_map(Value::as_str).collect();
            (!offered.is_empty()).then(|| offered.join(" "))
        })
        .or_else(|| config.scopes.clone());
    let scope = match (session.requested_scope.take(), scope) {
        (Some(before), Some(now)) => {
            let mut all: Vec<&str> = before.split_whitespace().collect();
            for s in now.split_whitespace() {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
            Some(all.join(" "))
        }
        (before, now) => now.or(before),
    };
    session.requested_scope = scope.clone();
    scope
}
