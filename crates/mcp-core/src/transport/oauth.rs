//! OAuth 2.1 for the HTTP client, as MCP's authorization spec lays it out: a `401` names the
//! protected resource's metadata (RFC 9728; else the well-known locations, path first), that
//! names the authorization server, whose metadata (RFC 8414 or OpenID discovery, path-aware) gives
//! the endpoints; the client registers (a pre-registered id, a Client ID Metadata Document URL,
//! or dynamic registration, RFC 7591), sends the user through the authorization code flow with
//! PKCE (S256) and the resource indicator (RFC 8707), checks the response's `iss` (RFC 9207), and
//! exchanges the code. A `403 insufficient_scope` asks again with the wider scope, a bounded number
//! of times. Tokens never appear in logs or errors; every document is read up to the client's
//! `max_message_bytes`, and what a message says goes through the server's scrubber.

use std::sync::Arc;

use base64::Engine as _;
use reqwest::Url;
use serde_json::Value;
use sha2::Digest as _;

use super::http_client::Http;

/// Sends the user to the authorization URL and returns the URL the authorization server
/// redirected back to (with `code`, `state`, maybe `iss`): a browser and a local listener in an
/// interactive program, an HTTP client that stops at the redirect in tests.
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Returns the redirect URL, or why the user did not get there.
    async fn authorize(&self, authorization_url: &str) -> Result<String, String>;
}

/// The interactive way: prints the authorization URL for the user to open, and catches the
/// browser coming back on a loopback port (`http://127.0.0.1:PORT/callback`).
#[derive(Debug)]
pub struct LoopbackAuthorizer {
    listener: std::sync::Mutex<Option<std::net::TcpListener>>,
    port: u16,
    /// How long to wait for the user.
    pub patience: std::time::Duration,
}

impl LoopbackAuthorizer {
    /// Listens on `127.0.0.1:port` (0: any free port) for the redirect.
    pub fn bind(port: u16) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener: std::sync::Mutex::new(Some(listener)),
            port,
            patience: std::time::Duration::from_secs(300),
        })
    }

    /// The redirect URI to register and send.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }
}

#[async_trait::async_trait]
impl Authorizer for LoopbackAuthorizer {
    async fn authorize(&self, authorization_url: &str) -> Result<String, String> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let std_listener = {
            let guard = self.listener.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.as_ref().ok_or("the loopback listener is gone")?.try_clone().map_err(|e| e.to_string())?
        };
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
        // The one thing this authorizer must say to the person at the terminal.
        eprintln!("To authorize access, open this URL in a browser:\n  {authorization_url}");
        let wait = async {
            loop {
                let (mut stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
                let mut buffer = vec![0u8; 8192];
                let n = stream.read(&mut buffer).await.map_err(|e| e.to_string())?;
                let request = String::from_utf8_lossy(&buffer[..n]);
                let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                if !target.starts_with("/callback") {
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    continue;
                }
                let page = "<html><body>Authorization received; you can close this window.</body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                return Ok(format!("http://127.0.0.1:{}{target}", self.port));
            }
        };
        tokio::time::timeout(self.patience, wait)
            .await
            .map_err(|_| format!("nobody completed the authorization within {:?}", self.patience))?
    }
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

/// What a `401`/`403` said in `WWW-Authenticate: Bearer ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

/// Parses the Bearer challenge's parameters (quoted or token values).
pub(crate) fn parse_challenge(header: &str) -> Challenge {
    let mut out = Challenge::default();
    let rest = header.trim();
    let rest = ["Bearer", "bearer", "DPoP", "dpop"].iter().find_map(|p| rest.strip_prefix(p)).unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let value: String = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_owned()
        };
        match key.trim() {
            "resource_metadata" => out.resource_metadata = Some(value),
            "scope" => out.scope = Some(value),
            "error" => out.error = Some(value),
            _ => {}
        }
    }
    out
}

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

/// A DPoP key (RFC 9449): each request carries a fresh proof signed with it, so a stolen token is
/// useless without the key.
pub struct DpopKey {
    key: ring::signature::EcdsaKeyPair,
    jwk: Value,
    rng: ring::rand::SystemRandom,
    /// The nonce the resource server asked proofs to carry.
    pub(crate) nonce: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").finish_non_exhaustive()
    }
}

impl DpopKey {
    fn generate() -> Result<Self, String> {
        use ring::signature::KeyPair as _;
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 =
            ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| "generating a DPoP key failed")?;
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .map_err(|_| "loading the DPoP key failed".to_owned())?;
        // An uncompressed P-256 point: 0x04, then x and y.
        let point = key.public_key().as_ref();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        Ok(Self { key, jwk, rng, nonce: std::sync::Mutex::default() })
    }

    /// A proof for one request (`htm`, `htu` without query or fragment), bound to the access
    /// token when there is one (`ath`), carrying `nonce` when the server asked for one.
    pub(crate) fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, String> {
        let htu =
            Url::parse(url).map_or_else(|_| url.split(['?', '#']).next().unwrap_or(url).to_owned(), |u| bare_url(&u));
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = serde_json::json!({"jti": crate::random_id(), "htm": method, "htu": htu, "iat": now});
        if let Some(token) = access_token {
            claims["ath"] = Value::String(b64(&sha2::Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce.to_owned());
        }
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let signature =
            self.key.sign(&self.rng, input.as_bytes()).map_err(|_| "signing a DPoP proof failed".to_owned())?;
        Ok(format!("{input}.{}", b64(signature.as_ref())))
    }
}

#[derive(Clone)]
struct Registered {
    id: String,
    secret: Option<String>,
    method: String,
    key_pem: Option<String>,
}

struct Server {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    registration_endpoint: Option<String>,
    metadata: Value,
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
    let (resource, prm) = protected_resource(http, &mcp, challenge).await?;
    let issuer = prm
        .as_ref()
        .and_then(|p| p["authorization_servers"].as_array()?.first()?.as_str().map(str::to_owned))
        .unwrap_or_else(|| origin(&mcp));
    let server = authorization_server(http, &issuer).await?;
    let dpop_algs = server.metadata["dpop_signing_alg_values_supported"].as_array();
    if session.dpop.is_none() && dpop_algs.is_some_and(|a| a.iter().any(|v| v == "ES256")) {
        session.dpop = Some(Arc::new(DpopKey::generate()?));
    }
    let dpop = session.dpop.clone();

    // The scope: what the challenge asks for, else what the resource offers, else ours.
    let scope = challenge
        .scope
        .clone()
        .or_else(|| {
            let offered: Vec<&str> =
                prm.as_ref()?.get("scopes_supported")?.as_array()?.iter().filter_map(Value::as_str).collect();
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

    // Grants without a user: a JWT bearer assertion (workload identity, or an ID-JAG from the
    // enterprise's identity provider), or the client's own credentials.
    let assertion = match (&config.enterprise, &config.jwt_bearer_assertion) {
        (Some(identity), _) => Some(identity_assertion_grant(http, identity, &server.issuer, &resource).await?),
        (None, Some(assertion)) => Some(assertion.clone()),
        (None, None) => None,
    };
    let direct = match assertion {
        Some(assertion) => Some((
            Registered {
                id: config.client_id.clone().unwrap_or_default(),
                secret: config.client_secret.clone(),
                method: if config.client_secret.is_some() { "client_secret_basic" } else { "none" }.into(),
                key_pem: None,
            },
            vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()), ("assertion", assertion)],
        )),
        None if config.client_credentials => {
            let id = config.client_id.clone().ok_or("the client credentials grant needs a configured client id")?;
            let method = if config.private_key_pem.is_some() {
                "private_key_jwt"
            } else if auth_methods(&server).contains(&"client_secret_basic") {
                "client_secret_basic"
            } else {
                "client_secret_post"
            };
            let client = Registered {
                id,
                secret: config.client_secret.clone(),
                method: method.into(),
                key_pem: config.private_key_pem.clone(),
            };
            Some((client, vec![("grant_type", "client_credentials".to_owned())]))
        }
        None => None,
    };
    if let Some((client, mut form)) = direct {
        form.push(("resource", resource));
        if let Some(scope) = &scope {
            form.push(("scope", scope.clone()));
        }
        let token = token_request(http, &server, &client, form, dpop.as_deref()).await?;
        session.access_token = Some(token.0);
        return Ok(());
    }

    // A registration belongs to one authorization server; a resource that moved to another
    // means registering again there.
    let client = match &session.client {
        Some((at, client)) if *at == server.issuer => client.clone(),
        _ => {
            let client = register(http, config, &server).await?;
            session.client = Some((server.issuer.clone(), client.clone()));
            client
        }
    };

    let verifier = format!("{}{}", crate::random_id(), crate::random_id());
    let challenge_s256 =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = crate::random_id();
    let mut url = Url::parse(&server.authorization_endpoint)
        .map_err(|e| format!("the authorization endpoint is not a URL: {e}"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &config.redirect_uri)
            .append_pair("code_challenge", &challenge_s256)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("resource", &resource);
        if let Some(scope) = &scope {
            q.append_pair("scope", scope);
        }
    }
    let back = config.authorizer.authorize(url.as_str()).await?;
    let back = Url::parse(&back).map_err(|e| format!("the authorization redirect is not a URL: {e}"))?;
    let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    if let Some(error) = param("error") {
        let detail = param("error_description").map(|d| format!(": {d}")).unwrap_or_default();
        return Err(format!("the authorization server refused: {error}{detail}"));
    }
    if param("state").as_deref() != Some(state.as_str()) {
        return Err("the authorization response's state does not match the request (possible CSRF)".into());
    }
    // RFC 9207: the response names its issuer; it must be the one we asked.
    let iss_supported = server.metadata["authorization_response_iss_parameter_supported"].as_bool() == Some(true);
    match param("iss") {
        Some(iss) if iss != server.issuer => {
            return Err(format!("the authorization response comes from issuer {iss}, not {}", server.issuer));
        }
        None if iss_supported => {
            return Err("the authorization server promised an `iss` parameter and sent none".into());
        }
        _ => {}
    }
    let code = param("code").ok_or("the authorization response carries no code")?;

    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", config.redirect_uri.clone()),
        ("code_verifier", verifier),
        ("resource", resource.clone()),
    ];
    if let Some(scope) = &scope {
        form.push(("scope", scope.clone()));
    }
    let token = token_request(http, &server, &client, form, dpop.as_deref()).await?;
    session.access_token = Some(token.0);
    session.refresh_token = token.1.or(session.refresh_token.take());
    tracing::debug!(granted = ?token.2.or(scope), "authorized");
    Ok(())
}

/// The resource identifier and metadata: from the challenge's URL, else the well-known
/// locations (the path-based one first); without any, the server's own URL (older servers).
async fn protected_resource(http: &Http, mcp: &Url, challenge: &Challenge) -> Result<(String, Option<Value>), String> {
    let mut candidates = Vec::new();
    if let Some(url) = &challenge.resource_metadata {
        candidates.push(url.clone());
    }
    let path = mcp.path().trim_end_matches('/');
    if !path.is_empty() {
        candidates.push(format!("{}/.well-known/oauth-protected-resource{path}", origin(mcp)));
    }
    candidates.push(format!("{}/.well-known/oauth-protected-resource", origin(mcp)));
    for url in candidates {
        if let Some(prm) = get_json(http, &url, "the protected resource metadata").await? {
            let resource = prm["resource"].as_str().map(str::to_owned).unwrap_or_else(|| bare_url(mcp));
            // The metadata must describe this server (RFC 9728 §3.3), or a token meant for it
            // could be asked for another.
            let covers = Url::parse(&resource).is_ok_and(|r| {
                r.origin() == mcp.origin()
                    && mcp.path().trim_end_matches('/').starts_with(r.path().trim_end_matches('/'))
            });
            if !covers {
                return Err(format!(
                    "the protected resource metadata at {} is for {}, not {}",
                    http.url(&url),
                    http.url(&resource),
                    http.url(mcp.as_str())
                ));
            }
            return Ok((resource, Some(prm)));
        }
    }
    Ok((bare_url(mcp), None))
}

/// `url` without user info, query or fragment: the MCP server's resource indicator (RFC 8707) and
/// a DPoP proof's `htu`, so that no credential written into the URL travels with either.
fn bare_url(url: &Url) -> String {
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    bare.set_query(None);
    bare.set_fragment(None);
    bare.to_string()
}

/// The authorization server's metadata, tried at RFC 8414's and OpenID's locations (path-aware),
/// with its issuer checked; without any, the endpoints at its root (older servers).
async fn authorization_server(http: &Http, issuer: &str) -> Result<Server, String> {
    let url = Url::parse(issuer).map_err(|e| format!("the authorization server {issuer} is not a URL: {e}"))?;
    let base = origin(&url);
    let path = url.path().trim_end_matches('/');
    let candidates = if path.is_empty() {
        vec![
            format!("{base}/.well-known/oauth-authorization-server"),
            format!("{base}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{base}/.well-known/oauth-authorization-server{path}"),
            format!("{base}/.well-known/openid-configuration{path}"),
            format!("{base}{path}/.well-known/openid-configuration"),
        ]
    };
    for candidate in candidates {
        let Some(metadata) = get_json(http, &candidate, "the authorization server metadata").await? else { continue };
        let named = metadata["issuer"].as_str().unwrap_or_default();
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!("the authorization server metadata at {candidate} names issuer {named}, not {issuer}"));
        }
        let endpoint = |key: &str| metadata[key].as_str().map(str::to_owned);
        return Ok(Server {
            issuer: named.to_owned(),
            authorization_endpoint: endpoint("authorization_endpoint")
                .ok_or("the authorization server metadata has no authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")
                .ok_or("the authorization server metadata has no token_endpoint")?,
            registration_endpoint: endpoint("registration_endpoint"),
            metadata,
        });
    }
    Ok(Server {
        issuer: issuer.to_owned(),
        authorization_endpoint: format!("{base}/authorize"),
        token_endpoint: format!("{base}/token"),
        registration_endpoint: Some(format!("{base}/register")),
        metadata: Value::Null,
    })
}

/// Who we are to the authorization server.
fn auth_methods(server: &Server) -> Vec<&str> {
    server.metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["client_secret_basic"])
}

async fn register(http: &Http, config: &OAuthConfig, server: &Server) -> Result<Registered, String> {
    let methods = auth_methods(server);
    if let Some(id) = &config.client_id {
        let method = match &config.client_secret {
            None => "none",
            Some(_) if methods.contains(&"client_secret_basic") => "client_secret_basic",
            Some(_) => "client_secret_post",
        };
        return Ok(Registered {
            id: id.clone(),
            secret: config.client_secret.clone(),
            method: method.into(),
            key_pem: None,
        });
    }
    if server.metadata["client_id_metadata_document_supported"].as_bool() == Some(true)
        && let Some(url) = &config.client_metadata_url
    {
        return Ok(Registered { id: url.clone(), secret: None, method: "none".into(), key_pem: None });
    }
    let endpoint = server
        .registration_endpoint
        .as_ref()
        .ok_or("the authorization server offers no registration and no client id is configured")?;
    let method =
        if methods.contains(&"none") { "none" } else { methods.first().copied().unwrap_or("client_secret_basic") };
    let body = serde_json::json!({
        "client_name": config.client_name,
        "redirect_uris": [config.redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "application_type": "native",
    });
    let shown = http.url(endpoint);
    let response = http
        .client
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("registering with {shown}: {}", http.error(e)))?;
    let status = response.status();
    let answer = json_body(http, response, &format!("the registration answer of {shown}")).await?;
    if !status.is_success() {
        return Err(format!("registration at {shown} was refused ({status}): {}", answer["error"]));
    }
    Ok(Registered {
        id: answer["client_id"].as_str().ok_or("the registration answer has no client_id")?.to_owned(),
        secret: answer["client_secret"].as_str().map(str::to_owned),
        method: answer["token_endpoint_auth_method"].as_str().unwrap_or(method).to_owned(),
        key_pem: None,
    })
}

/// `(access, refresh, scope)` from the token endpoint.
async fn token_request(
    http: &Http,
    server: &Server,
    client: &Registered,
    mut form: Vec<(&str, String)>,
    dpop: Option<&DpopKey>,
) -> Result<(String, Option<String>, Option<String>), String> {
    let mut request = http.client.post(&server.token_endpoint);
    let shown = http.url(&server.token_endpoint);
    match (client.method.as_str(), &client.secret) {
        ("client_secret_basic", Some(secret)) => {
            let encode = |s: &str| url_form_encode(s);
            let pair = format!("{}:{}", encode(&client.id), encode(secret));
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", client.id.clone()));
            form.push(("client_secret", secret.clone()));
        }
        ("private_key_jwt", _) => {
            let pem = client.key_pem.as_deref().ok_or("private_key_jwt needs a private key")?;
            form.push(("client_id", client.id.clone()));
            form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
            form.push(("client_assertion", es256_assertion(pem, &client.id, &server.issuer)?));
        }
        _ if !client.id.is_empty() => form.push(("client_id", client.id.clone())),
        _ => {}
    }
    let body = form_body(form.iter().map(|(k, v)| (*k, v.as_str())));
    let request = request.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    // With DPoP, a proof rides along; a `use_dpop_nonce` answer is retried once with the nonce.
    let mut nonce: Option<String> = None;
    let answer = loop {
        let mut attempt = request.try_clone().ok_or("the token request cannot be repeated")?;
        if let Some(key) = dpop {
            attempt = attempt.header("DPoP", key.proof("POST", &server.token_endpoint, None, nonce.as_deref())?);
        }
        let response = attempt.send().await.map_err(|e| format!("asking {shown} for a token: {}", http.error(e)))?;
        let status = response.status();
        let offered = response.headers().get("DPoP-Nonce").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let answer = json_body(http, response, &format!("the token answer of {shown}")).await?;
        if status.is_success() {
            break answer;
        }
        if dpop.is_some() && nonce.is_none() && answer["error"] == "use_dpop_nonce" && offered.is_some() {
            nonce = offered;
            continue;
        }
        let description = answer["error_description"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
        return Err(format!("the token endpoint refused ({status}): {}{description}", answer["error"]));
    };
    let access = answer["access_token"].as_str().ok_or("the token answer has no access_token")?.to_owned();
    Ok((access, answer["refresh_token"].as_str().map(str::to_owned), answer["scope"].as_str().map(str::to_owned)))
}

/// Trades the user's ID token for an identity assertion grant for `audience` (RFC 8693).
async fn identity_assertion_grant(
    http: &Http,
    identity: &EnterpriseIdentity,
    audience: &str,
    resource: &str,
) -> Result<String, String> {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", identity.id_token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:id-jag"),
        ("audience", audience),
        ("resource", resource),
        ("client_id", identity.client_id.as_str()),
    ];
    let body = form_body(form.iter().copied());
    let shown = http.url(&identity.token_endpoint);
    let response = http
        .client
        .post(&identity.token_endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("exchanging the identity token at {shown}: {}", http.error(e)))?;
    let status = response.status();
    let answer = json_body(http, response, &format!("the identity provider's answer at {shown}")).await?;
    if !status.is_success() {
        return Err(format!("the identity provider refused the exchange ({status}): {}", answer["error"]));
    }
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the identity provider returned no assertion".into())
}

/// A client assertion (RFC 7523): a JWT about `client_id`, for `audience`, signed with ES256.
fn es256_assertion(pem: &str, client_id: &str, audience: &str) -> Result<String, String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the private key is not PEM: {e}"))?;
    let rng = ring::rand::SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        .map_err(|e| format!("the private key is not a PKCS#8 P-256 key: {e}"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"alg":"ES256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + 300, "jti": crate::random_id(),
    });
    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let signature = key.sign(&rng, input.as_bytes()).map_err(|_| "signing the client assertion failed".to_owned())?;
    Ok(format!("{input}.{}", b64(signature.as_ref())))
}

/// A JSON object at `url` (`what` names it), or `None` when there is none to read there; a
/// document over the size limit is an error.
async fn get_json(http: &Http, url: &str, what: &str) -> Result<Option<Value>, String> {
    let Ok(response) = http.client.get(url).header(reqwest::header::ACCEPT, "application/json").send().await else {
        return Ok(None);
    };
    if !response.status().is_success() {
        return Ok(None);
    }
    let body = http.body(response, &format!("{what} at {}", http.url(url))).await?;
    Ok(serde_json::from_slice(&body).ok().filter(Value::is_object))
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A response body (`what` names it) as JSON (`null` when it is not JSON: the status then says
/// what happened), read up to the size limit.
async fn json_body(http: &Http, response: reqwest::Response, what: &str) -> Result<Value, String> {
    let bytes = http.body(response, what).await?;
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

/// A form body from its fields.
fn form_body<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    fields.map(|(k, v)| format!("{k}={}", url_form_encode(v))).collect::<Vec<_>>().join("&")
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn url_form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_loopback_authorizer_catches_the_browser_coming_back() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let authorizer = Arc::new(LoopbackAuthorizer::bind(0).expect("binds"));
        let uri = authorizer.redirect_uri();
        let waiting = {
            let authorizer = authorizer.clone();
            tokio::spawn(async move { authorizer.authorize("https://as.test/authorize?x=1").await })
        };
        let port: u16 =
            uri.trim_start_matches("http://127.0.0.1:").trim_end_matches("/callback").parse().expect("port");
        // A stray request first (a favicon), then the redirect.
        for path in ["/favicon.ico", "/callback?code=abc&state=s1"] {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
            stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.expect("writes");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.expect("reads");
            assert!(
                answer.starts_with(if path.starts_with("/callback") { "HTTP/1.1 200" } else { "HTTP/1.1 404" }),
                "{answer}"
            );
        }
        let back = waiting.await.expect("joins").expect("authorized");
        assert_eq!(back, format!("http://127.0.0.1:{port}/callback?code=abc&state=s1"));
    }

    #[test]
    fn no_credential_of_the_url_travels_in_the_resource_or_a_dpop_proof() {
        let url = "https://user:pw@mcp.example.com/mcp?key=k3y#frag";
        assert_eq!(bare_url(&Url::parse(url).expect("a URL")), "https://mcp.example.com/mcp");
        let proof = DpopKey::generate().expect("a key").proof("POST", url, None, None).expect("a proof");
        let claims = proof.split('.').nth(1).expect("claims");
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).expect("base64");
        let claims: Value = serde_json::from_slice(&claims).expect("JSON");
        assert_eq!(claims["htu"], "https://mcp.example.com/mcp");
    }

    #[test]
    fn challenges_parse_quoted_and_bare_values() {
        let c = parse_challenge(
            r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://x.test/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(c.resource_metadata.as_deref(), Some("https://x.test/.well-known/oauth-protected-resource/mcp"));
        let bare = parse_challenge("Bearer realm=mcp, scope=read");
        assert_eq!(bare.scope.as_deref(), Some("read"));
        assert_eq!(parse_challenge("Bearer"), Challenge::default());
        assert_eq!(url_form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
