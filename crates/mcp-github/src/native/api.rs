//! GitHub's REST API through octocrab: one request at a time, the status and headers kept, rate
//! limits waited out when GitHub says how long, failures as [`Error::Api`] the model can act on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde_json::Value;

use super::{GitHubConfig, Token};
use crate::{Error, Result};

/// GitHub's answer to one request: the status, the headers and the body as JSON (or as a string
/// when it is not JSON, as diffs are).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// The REST client: octocrab pointed at the configured host, with the token; and one client
/// per account routed by owner.
pub(crate) struct Api {
    octo: Octocrab,
    /// The same credentials pointed at the GraphQL endpoint (`POST {base}/graphql`).
    gql: Octocrab,
    token: Token,
    /// Owners (lower case) with their own token, and that token's REST and GraphQL clients.
    accounts: Vec<(String, Octocrab, Octocrab)>,
    /// Every token, to mask.
    secrets: Vec<Token>,
    max_rate_limit_wait: Duration,
    retries: u32,
    /// The REST API's base URL (`https://api.github.com`, `HOST/api/v3`), for URLs results name.
    base: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owners: Vec<&str> = self.accounts.iter().map(|(o, _, _)| o.as_str()).collect();
        f.debug_struct("Api").field("token", &self.token).field("accounts", &owners).finish_non_exhaustive()
    }
}

impl Api {
    pub(crate) fn new(config: &GitHubConfig) -> Result<Self> {
        let token = config.token.expose();
        #[cfg(feature = "app")]
        let has_app = config.app.is_some();
        #[cfg(not(feature = "app"))]
        let has_app = false;
        if token.is_empty() && !has_app {
            return Err(Error::Config("GITHUB_PERSONAL_ACCESS_TOKEN is not set".into()));
        }
        let sendable = |t: &str| !t.chars().any(|c| c.is_control() || c == ' ');
        if !sendable(token) {
            return Err(Error::Config("the token has characters an Authorization header cannot carry".into()));
        }
        if let Some((owner, _)) = config.accounts.iter().find(|(_, t)| t.is_empty() || !sendable(t.expose())) {
            return Err(Error::Config(format!("the token for account `{owner}` is empty or cannot be sent")));
        }
        let base = config.rest_base()?;
        let gql_url = config.graphql_url()?;
        let gql_base = gql_url.strip_suffix("/graphql").unwrap_or(&gql_url).to_owned();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config("the GitHub client must be built inside a Tokio runtime".into()));
        }
        let builder = |base: &str| -> Result<octocrab::OctocrabBuilder<_, _, _, _>> {
            Ok(Octocrab::builder()
                .base_uri(base)
                .map_err(|_| Error::Config("the GitHub host does not make a valid API URL".into()))?
                .set_connect_timeout(Some(config.timeout))
                .set_read_timeout(Some(config.timeout)))
        };
        macro_rules! built {
            ($builder:expr) => {
                $builder.build().map_err(|e| Error::Config(format!("cannot build the GitHub client: {e}")))
            };
        }
        #[cfg(feature = "app")]
        if let Some(app) = &config.app {
            let as_app = |base: &str| -> Result<Octocrab> {
                let builder = builder(base)?
                    .app_from_rsa_pem(octocrab::models::AppId(app.app_id), app.private_key.expose().as_bytes())
                    .map_err(|_| Error::Config("the GitHub App private key is not an RSA key in PEM form".into()))?;
                built!(builder)?
                    .installation(octocrab::models::InstallationId(app.installation_id))
                    .map_err(|e| Error::Config(format!("cannot use the GitHub App installation: {e}")))
            };
            return Self::with(as_app(&base)?, as_app(&gql_base)?, config, &base, &gql_base);
        }
        let octo = built!(builder(&base)?.personal_token(token.to_owned()))?;
        let gql = built!(builder(&gql_base)?.personal_token(token.to_owned()))?;
        Self::with(octo, gql, config, &base, &gql_base)
    }

    /// The API with `octo` and `gql` as its default clients, plus clients per configured account.
    fn with(octo: Octocrab, gql: Octocrab, config: &GitHubConfig, base: &str, gql_base: &str) -> Result<Self> {
        let mut accounts = Vec::new();
        let mut secrets = vec![config.token.clone()];
        for (owner, token) in &config.accounts {
            let client = |base: &str| {
                Octocrab::builder()
                    .base_uri(base)
                    .map_err(|_| Error::Config("the GitHub host does not make a valid API URL".into()))?
                    .set_connect_timeout(Some(config.timeout))
                    .set_read_timeout(Some(config.timeout))
                    .personal_token(token.expose().to_owned())
                    .build()
                    .map_err(|e| Error::Config(format!("cannot build the GitHub client for `{owner}`: {e}")))
            };
            accounts.push((owner.to_ascii_lowercase(), client(base)?, client(gql_base)?));
            secrets.push(token.clone());
        }
        Ok(Self {
            octo,
            gql,
            token: config.token.clone(),
            accounts,
            secrets,
            max_rate_limit_wait: config.max_rate_limit_wait,
            retries: 2,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The client for `path`: the account of the owner it names (`/repos/OWNER/..`,
    /// `/orgs/OWNER/..`, `/users/OWNER/..`), else the default one.
    fn client_for(&self, path: &str) -> &Octocrab {
        let mut parts = path.trim_start_matches('/').split(['/', '?']);
        if let (Some("repos" | "orgs" | "users"), Some(owner)) = (parts.next(), parts.next())
            && let Some((_, client, _)) = self.accounts.iter().find(|(o, _, _)| o.eq_ignore_ascii_case(owner))
        {
            return client;
        }
        &self.octo
    }

    /// The GraphQL client for a query about `owner`'s repositories.
    fn graphql_client_for(&self, owner: &str) -> &Octocrab {
        match self.accounts.iter().find(|(o, _, _)| !owner.is_empty() && o.eq_ignore_ascii_case(owner)) {
            Some((_, _, gql)) => gql,
            None => &self.gql,
        }
    }

    /// A GraphQL query (or mutation) with `variables`, about `owner`'s repositories (empty when
    /// none): its `data`. GitHub's GraphQL errors become [`Error::Graphql`]; HTTP failures and
    /// rate limits as for REST.
    pub(crate) async fn graphql(&self, owner: &str, query: &str, variables: Value) -> Result<Value> {
        self.graphql_with_features(owner, query, variables, None).await
    }

    /// [`graphql`](Self::graphql) with GitHub's `GraphQL-Features` header, which opts in to
    /// schema previews (`issue_fields`, ...).
    pub(crate) async fn graphql_with_features(
        &self,
        owner: &str,
        query: &str,
        variables: Value,
        features: Option<&str>,
    ) -> Result<Value> {
        let octo = self.graphql_client_for(owner);
        let body = serde_json::json!({"query": query, "variables": variables});
        let extra: Vec<(&str, &str)> = features.map(|f| ("GraphQL-Features", f)).into_iter().collect();
        let reply = self.request(octo, Method::POST, "/graphql", Some(&body), &extra).await?;
        let errors = reply.body.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty());
        if let Some(errors) = errors {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| e.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_owned())
                .collect();
            if errors.iter().any(|e| e.get("type").and_then(Value::as_str) == Some("RATE_LIMITED")) {
                let wait = reset_wait(&reply.headers).unwrap_or(Duration::from_secs(60));
                return Err(Error::RateLimited { wait_secs: wait.as_secs().max(1), message: messages.join("; ") });
            }
            return Err(Error::Graphql { message: self.mask(messages.join("; ")) });
        }
        Ok(reply.body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// The REST API's base URL, without a trailing `/`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// `text` with the token masked, for anything that may echo it.
    pub(crate) fn mask(&self, mut text: String) -> String {
        for secret in &self.secrets {
            let token = secret.expose();
            if token.len() >= 4 && text.contains(token) {
                text = text.replace(token, "***");
            }
        }
        text
    }

    /// The text at `url`, an absolute URL GitHub redirected to (log archives live on other hosts):
    /// fetched with a client that carries no token, so no credential leaves for that host.
    pub(crate) async fn download_text(&self, url: &str) -> Result<String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| Error::Network(format!("not a URL: {url}")))?;
        if scheme != "http" && scheme != "https" {
            return Err(Error::Network(format!("not an http(s) URL: {url}")));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let bare = Octocrab::builder()
            .base_uri(format!("{scheme}://{authority}"))
            .map_err(|_| Error::Network(format!("not a usable URL: {url}")))?
            .build()
            .map_err(|e| Error::Network(format!("cannot build a download client: {e}")))?;
        let response = bare._get(path).await.map_err(|e| Error::Network(self.mask(describe(&e))))?;
        let status = response.status();
        let text = bare.body_to_string(response).await.map_err(|e| Error::Network(self.mask(describe(&e))))?;
        if !status.is_success() {
            return Err(Error::Network(format!("downloading {} answered HTTP {}", path, status.as_u16())));
        }
        Ok(text)
    }

    /// A GET of `path` (relative to the API base, query included).
    pub(crate) async fn get(&self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    /// A request with a JSON body.
    pub(crate) async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        self.request(self.client_for(path), method, path, body, &[]).await
    }

    /// A request through `octo`, rate limits waited out, failures as errors.
    async fn request(
        &self,
        octo: &Octocrab,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut attempt = 0;
        loop {
            let reply = self.once(octo, &method, path, body, headers).await?;
            if reply.status.is_success() || reply.status.is_redirection() {
                return Ok(reply);
            }
            if let Some(wait) = rate_limited(&reply) {
                if attempt < self.retries && wait <= self.max_rate_limit_wait {
                    attempt += 1;
                    tracing::info!(%method, path, wait_ms = wait.as_millis() as u64, "github rate limit: waiting");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(Error::RateLimited { wait_secs: wait.as_secs().max(1), message: message_of(&reply.body) });
            }
            return Err(Error::Api {
                status: reply.status.as_u16(),
                method: method.to_string(),
                path: path.split('?').next().unwrap_or(path).to_owned(),
                message: self.mask(message_of(&reply.body)),
            });
        }
    }

    async fn once(
        &self,
        octo: &Octocrab,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let response = match *method {
            _ if !headers.is_empty() => {
                let builder = headers
                    .iter()
                    .fold(http::Request::builder().method(method.clone()).uri(path), |b, (k, v)| b.header(*k, *v));
                match octo.build_request(builder, body) {
                    Ok(request) => octo.execute(request).await,
                    Err(e) => Err(e),
                }
            }
            Method::GET => octo._get(path).await,
            Method::POST => octo._post(path, body).await,
            Method::PUT => octo._put(path, body).await,
            Method::PATCH => octo._patch(path, body).await,
            Method::DELETE => octo._delete(path, body).await,
            _ => return Err(Error::Network(format!("unsupported method {method}"))),
        };
        let response = response.map_err(|e| Error::Network(self.mask(describe(&e))))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = octo.body_to_string(response).await.map_err(|e| Error::Network(self.mask(describe(&e))))?;
        tracing::debug!(%method, path, status = status.as_u16(), bytes = text.len(), "github api answered");
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply { status, headers, body })
    }
}

/// How long GitHub asks us to wait, when `reply` is a primary or secondary rate limit: the
/// `retry-after` seconds, else the time until `x-ratelimit-reset` when no requests remain.
fn rate_limited(reply: &Reply) -> Option<Duration> {
    let status = reply.status.as_u16();
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        return Some(reset_wait(&reply.headers).unwrap_or(Duration::from_secs(1)));
    }
    // A secondary limit GitHub gives no time for: a minute, as its documentation advises.
    if status == 429 || message_of(&reply.body).to_lowercase().contains("secondary rate limit") {
        return Some(Duration::from_secs(60));
    }
    None
}

/// The time until `x-ratelimit-reset` (at least a second), when GitHub sent it.
fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset = headers.get("x-ratelimit-reset")?.to_str().ok()?.trim().parse::<u64>().ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// GitHub's `message` (and its validation errors) from an error body.
fn message_of(body: &Value) -> String {
    let mut message = match body {
        Value::Object(map) => map.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
        Value::String(s) => s.chars().take(300).collect(),
        _ => String::new(),
    };
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        let details: Vec<String> = errors
            .iter()
            .map(|e| match e {
                Value::Object(m) => {
                    let part = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
                    let text = part("message");
                    if text.is_empty() {
                        format!("{} {} {}", part("resource"), part("field"), part("code")).trim().to_owned()
                    } else {
                        text.to_owned()
                    }
                }
                other => other.to_string(),
            })
            .collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    message
}

/// An octocrab error with its causes, for a message.
fn describe(error: &octocrab::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, headers: &[(&'static str, String)], body: Value) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().expect("a header value"));
        }
        Reply { status: StatusCode::from_u16(status).expect("a status"), headers: map, body }
    }

    #[test]
    fn rate_limits_are_read_from_the_headers() {
        assert_eq!(
            rate_limited(&reply(403, &[("retry-after", "7".into())], Value::Null)),
            Some(Duration::from_secs(7))
        );
        let reset = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() + 30;
        let wait = rate_limited(&reply(
            403,
            &[("x-ratelimit-remaining", "0".into()), ("x-ratelimit-reset", reset.to_string())],
            Value::Null,
        ))
        .expect("limited");
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28), "{wait:?}");
        assert_eq!(
            rate_limited(&reply(403, &[("x-ratelimit-remaining", "10".into())], json!({"message": "no"}))),
            None
        );
        assert_eq!(rate_limited(&reply(404, &[("retry-after", "7".into())], Value::Null)), None);
        let secondary = json!({"message": "You have exceeded a secondary rate limit."});
        assert_eq!(rate_limited(&reply(403, &[], secondary)), Some(Duration::from_secs(60)));
    }

    #[test]
    fn validation_errors_are_spelled_out() {
        let body = json!({"message": "Validation Failed", "errors": [{"resource": "Label", "code": "invalid", "field": "color"}]});
        assert_eq!(message_of(&body), "Validation Failed (Label color invalid)");
    }
}
