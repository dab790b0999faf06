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
    /// The body as read for [`Api::get_text`] (its `body` is then `Null`).
    pub text: Option<Text>,
}

/// A body read as text for [`Api::get_text`]: its first bytes, and how far it went.
#[derive(Debug)]
pub(crate) struct Text {
    /// The first bytes of the body, at most the `keep` asked for.
    pub bytes: Vec<u8>,
    /// How many bytes of the body were read: all of them when `complete`.
    pub seen: usize,
    /// Whether the whole body was read (it was not longer than the `stop_at` asked for).
    pub complete: bool,
}

/// How [`Api::request`] treats a redirect (followed when `follow`, see [`Api::redirect`]; else
/// returned as it came) and reads a successful answer's body.
#[derive(Clone, Copy, Debug)]
struct How {
    follow: bool,
    read: Read,
}

impl How {
    /// Redirects followed, the body read whole.
    const FOLLOW: How = How { follow: true, read: Read::Json };
}

/// How [`Api::once`] reads a successful answer's body.
#[derive(Clone, Copy, Debug)]
enum Read {
    /// Whole, as JSON when it is JSON, else as a string.
    Json,
    /// As it streams, never parsed: the first `keep` bytes kept, and reading stopped once more
    /// than `stop_at` came.
    Text { keep: usize, stop_at: usize },
}

/// The REST client: octocrab pointed at the configured host, with the token; and one client
/// per account routed by owner. Each client is built at its first request (see [`Client`]).
pub(crate) struct Api {
    octo: Client,
    /// The same credentials pointed at the GraphQL endpoint (`POST {base}/graphql`).
    gql: Client,
    token: Token,
    /// Owners (lower case) with their own token, and that token's REST and GraphQL clients.
    accounts: Vec<(String, Client, Client)>,
    /// Every token, to mask.
    secrets: Vec<Token>,
    max_rate_limit_wait: Duration,
    /// The configured request timeout, for downloads too.
    timeout: Duration,
    /// The token-less client for downloads from the hosts GitHub redirects to (job logs), each
    /// request to an absolute URL: built once, so downloads share its connections and the root
    /// certificates are read once.
    download: Client,
    retries: u32,
    /// The REST API's base URL (`https://api.github.com`, `HOST/api/v3`), for URLs results name.
    base: String,
    /// The runtime the server was made in: a client built later spawns its worker there.
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owners: Vec<&str> = self.accounts.iter().map(|(o, _, _)| o.as_str()).collect();
        f.debug_struct("Api").field("token", &self.token).field("accounts", &owners).finish_non_exhaustive()
    }
}

/// How a [`Client`] is built.
type Make = Box<dyn Fn() -> Result<Octocrab> + Send + Sync>;

/// An octocrab client built at its first request, not when the server starts: building one
/// reads every root certificate of the system (about 4 ms for 150 roots here, each time), which
/// a server that is only listed, or that talks plain HTTP to a stand-in, never needs. What can
/// be wrong with the configuration (the host, the App key) is checked when the server is made;
/// building fails later only when the system has no root certificates, and that request says so.
struct Client {
    make: Make,
    built: std::sync::OnceLock<Octocrab>,
}

impl Client {
    fn new(make: Make) -> Self {
        Self { make, built: std::sync::OnceLock::new() }
    }

    /// The client, built in `runtime` on first use (two first requests at once may both build
    /// one; the first kept wins).
    fn get(&self, runtime: &tokio::runtime::Handle) -> Result<&Octocrab> {
        if let Some(octo) = self.built.get() {
            return Ok(octo);
        }
        let octo = {
            let _in = runtime.enter();
            (self.make)()?
        };
        Ok(self.built.get_or_init(|| octo))
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
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(Error::Config("the GitHub client must be built inside a Tokio runtime".into()));
        };
        let timeout = config.timeout;
        let builder = move |base: &str| -> Result<octocrab::OctocrabBuilder<_, _, _, _>> {
            Ok(Octocrab::builder()
                .base_uri(base)
                .map_err(|_| Error::Config("the GitHub host does not make a valid API URL".into()))?
                .set_connect_timeout(Some(timeout))
                .set_read_timeout(Some(timeout)))
        };
        // Downloads from the hosts GitHub redirects to (job logs) carry no token. Their requests
        // name the URL whole (scheme and host), which octocrab keeps over the base; this base
        // has no path to prefix to theirs.
        let download = Client::new(Box::new(move || {
            builder("https://api.github.com")?
                .build()
                .map_err(|e| Error::Network(format!("cannot build a download client: {}", describe(&e))))
        }));
        // Every base is checked now, so that building a client later can fail only for want of
        // root certificates.
        builder(&base)?;
        builder(&gql_base)?;
        let built = |e: octocrab::Error| Error::Config(format!("cannot build the GitHub client: {}", describe(&e)));
        let with_token = |base: &str, token: Token| -> Make {
            let base = base.to_owned();
            Box::new(move || builder(&base)?.personal_token(token.expose().to_owned()).build().map_err(built))
        };
        let accounts = config
            .accounts
            .iter()
            .map(|(owner, token)| {
                let (rest, gql) = (with_token(&base, token.clone()), with_token(&gql_base, token.clone()));
                (owner.to_ascii_lowercase(), Client::new(rest), Client::new(gql))
            })
            .collect();
        #[cfg(feature = "app")]
        if let Some(app) = &config.app {
            let as_app = |base: &str| -> Result<Client> {
                let (base, key, app_id, installation) =
                    (base.to_owned(), app.private_key.clone(), app.app_id, app.installation_id);
                let with_key = move |base: &str| -> Result<_> {
                    builder(base)?
                        .app_from_rsa_pem(octocrab::models::AppId(app_id), key.expose().as_bytes())
                        .map_err(|_| Error::Config("the GitHub App private key is not an RSA key in PEM form".into()))
                };
                // The key is read now too: one that is not a key is a configuration error at start.
                with_key(&base)?;
                Ok(Client::new(Box::new(move || {
                    with_key(&base)?
                        .build()
                        .map_err(built)?
                        .installation(octocrab::models::InstallationId(installation))
                        .map_err(|e| Error::Config(format!("cannot use the GitHub App installation: {}", describe(&e))))
                })))
            };
            return Ok(Self::with(as_app(&base)?, as_app(&gql_base)?, accounts, download, config, &base, runtime));
        }
        let octo = Client::new(with_token(&base, config.token.clone()));
        let gql = Client::new(with_token(&gql_base, config.token.clone()));
        Ok(Self::with(octo, gql, accounts, download, config, &base, runtime))
    }

    /// The API with `octo` and `gql` as its default clients, plus clients per configured account
    /// and the one for downloads.
    fn with(
        octo: Client,
        gql: Client,
        accounts: Vec<(String, Client, Client)>,
        download: Client,
        config: &GitHubConfig,
        base: &str,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let mut secrets = vec![config.token.clone()];
        secrets.extend(config.accounts.values().cloned());
        Self {
            octo,
            gql,
            token: config.token.clone(),
            accounts,
            secrets,
            max_rate_limit_wait: config.max_rate_limit_wait,
            timeout: config.timeout,
            download,
            retries: 2,
            base: base.trim_end_matches('/').to_owned(),
            runtime,
        }
    }

    /// The client for `path`: the account of the owner it names (`/repos/OWNER/..`,
    /// `/orgs/OWNER/..`, `/users/OWNER/..`), else the default one.
    fn client_for(&self, path: &str) -> Result<&Octocrab> {
        let mut parts = path.trim_start_matches('/').split(['/', '?']);
        if let (Some("repos" | "orgs" | "users"), Some(owner)) = (parts.next(), parts.next())
            && let Some((_, client, _)) = self.accounts.iter().find(|(o, _, _)| o.eq_ignore_ascii_case(owner))
        {
            return client.get(&self.runtime);
        }
        self.octo.get(&self.runtime)
    }

    /// The GraphQL client for a query about `owner`'s repositories.
    fn graphql_client_for(&self, owner: &str) -> Result<&Octocrab> {
        match self.accounts.iter().find(|(o, _, _)| !owner.is_empty() && o.eq_ignore_ascii_case(owner)) {
            Some((_, _, gql)) => gql.get(&self.runtime),
            None => self.gql.get(&self.runtime),
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
        let octo = self.graphql_client_for(owner)?;
        let body = serde_json::json!({"query": query, "variables": variables});
        let extra: Vec<(&str, &str)> = features.map(|f| ("GraphQL-Features", f)).into_iter().collect();
        let reply = self.request(octo, Method::POST, "/graphql", Some(&body), &extra, How::FOLLOW).await?;
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

    /// The length of the longest token [`mask`](Self::mask) masks: text read this much past a
    /// cut holds whole any token that begins before it.
    pub(crate) fn longest_secret(&self) -> usize {
        self.secrets.iter().map(|s| s.expose().len()).max().unwrap_or(0)
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

    /// The last `tail` lines of the text at `url`, an absolute URL GitHub redirected to (log
    /// archives live on other hosts): fetched with a client that carries no token, so no
    /// credential leaves for that host. The body is streamed and only the tail kept (at most
    /// [`TAIL_MAX_BYTES`]), and the whole download must finish within the configured timeout:
    /// a job log can be hundreds of megabytes.
    pub(crate) async fn download_tail(&self, url: &str, tail: usize) -> Result<Tail> {
        use hyper::body::Body as _;

        // What errors show of the URL stops at its query: a signed URL's query is a credential.
        let shown = url.split('?').next().unwrap_or_default();
        let uri = url.parse::<http::Uri>().ok().filter(|u| u.authority().is_some());
        let Some(uri) = uri else { return Err(Error::Network(format!("not a URL: {shown}"))) };
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(Error::Network(format!("not an http(s) URL: {shown}")));
        }
        let path = uri.path().to_owned();
        let bare = self.download.get(&self.runtime)?;
        let download = async {
            let response = bare._get(uri).await.map_err(|e| Error::Network(self.mask(describe(&e))))?;
            let status = response.status();
            if !status.is_success() {
                return Err(Error::Network(format!("downloading {} answered HTTP {}", path, status.as_u16())));
            }
            let mut body = response.into_body();
            let mut lines = TailLines::new(tail);
            while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
                let frame = frame.map_err(|e| Error::Network(self.mask(describe(&e))))?;
                if let Ok(bytes) = frame.into_data() {
                    lines.push(&bytes);
                }
            }
            Ok(lines.finish())
        };
        match tokio::time::timeout(self.timeout, download).await {
            Ok(done) => done,
            Err(_) => Err(Error::Network(format!(
                "downloading {} took longer than {} s (the configured timeout)",
                path,
                self.timeout.as_secs_f32()
            ))),
        }
    }

    /// Where GitHub redirects a GET of `path` (its `Location`), not followed: the endpoints that
    /// hand out short-lived download URLs (logs) answer with a redirect to another host.
    pub(crate) async fn location(&self, path: &str) -> Result<String> {
        let reply = self
            .request(self.client_for(path)?, Method::GET, path, None, &[], How { follow: false, read: Read::Json })
            .await?;
        match reply.headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()) {
            Some(url) if reply.status.is_redirection() && !url.is_empty() => Ok(url.to_owned()),
            _ => Err(Error::Api {
                status: reply.status.as_u16(),
                method: "GET".into(),
                path: path.split('?').next().unwrap_or(path).to_owned(),
                message: "GitHub gave no download location".into(),
            }),
        }
    }

    /// A GET of `path` (relative to the API base, query included).
    pub(crate) async fn get(&self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    /// A request with a JSON body.
    pub(crate) async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        self.request(self.client_for(path)?, method, path, body, &[], How::FOLLOW).await
    }

    /// A GET of `path` answered in the media type `accept` (a raw file, a diff), its body read as
    /// it streams and never parsed: the first `keep` bytes kept, reading stopped once more than
    /// `stop_at` came, so an answer of any size costs at most that much. Redirects, rate limits
    /// and errors as for [`get`](Self::get); the whole read within the configured timeout.
    pub(crate) async fn get_text(&self, path: &str, accept: &str, keep: usize, stop_at: usize) -> Result<Text> {
        let octo = self.client_for(path)?;
        let how = How { follow: true, read: Read::Text { keep, stop_at: stop_at.max(keep) } };
        let reply = self.request(octo, Method::GET, path, None, &[("Accept", accept)], how).await?;
        Ok(reply.text.unwrap_or(Text { bytes: Vec::new(), seen: 0, complete: true }))
    }

    /// A request through `octo`, rate limits waited out, failures as errors, redirects and the
    /// body treated as `how` says.
    async fn request(
        &self,
        octo: &Octocrab,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        how: How,
    ) -> Result<Reply> {
        let mut attempt = 0;
        let mut hops = 0;
        let mut target = path.to_owned();
        loop {
            // Whatever built the path, a `.` or `..` segment would be resolved by something on
            // the way (or by GitHub) into another endpoint than the one the tool means.
            if has_dot_segment(&target) {
                return Err(Error::Precondition(format!(
                    "refused to send {method} {}: a `.` or `..` path segment would address another resource",
                    target.split('?').next().unwrap_or(&target)
                )));
            }
            let reply = self.once(octo, &method, &target, body, headers, how.read).await?;
            if reply.status.is_success() {
                return Ok(reply);
            }
            if reply.status.is_redirection() {
                if !how.follow {
                    return Ok(reply);
                }
                let location = reply.headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
                match self.redirect(&method, reply.status, location) {
                    Some(next) if hops < MAX_REDIRECTS => {
                        hops += 1;
                        tracing::debug!(%method, from = %target, to = %next, "github api redirected: following");
                        target = next;
                        continue;
                    }
                    _ => {
                        let message = match location {
                            "" => "redirected without a Location".to_owned(),
                            _ if hops >= MAX_REDIRECTS => format!("too many redirects (last to {location})"),
                            _ => format!("moved to {location}"),
                        };
                        return Err(Error::Api {
                            status: reply.status.as_u16(),
                            method: method.to_string(),
                            path: path.split('?').next().unwrap_or(path).to_owned(),
                            message: self.mask(message),
                        });
                    }
                }
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

    /// Where to follow a `status` redirect to `location`, as a path under the API base: only a
    /// redirect that stays on the API's host and under its base path (GitHub's answer for a
    /// renamed or transferred repository), so the request goes through the same client with the
    /// same token and never carries it elsewhere. A GET follows 301, 302, 303, 307 and 308;
    /// another method only 307 and 308, which keep the method and body (a 301 or 302 would turn
    /// a write into a GET, and reporting that as done would be wrong).
    fn redirect(&self, method: &Method, status: StatusCode, location: &str) -> Option<String> {
        let followed = match status.as_u16() {
            307 | 308 => true,
            301..=303 => *method == Method::GET,
            _ => false,
        };
        if !followed {
            return None;
        }
        // `self.base` is `scheme://authority[/base/path]`.
        let (scheme, rest) = self.base.split_once("://")?;
        let (authority, base_path) = rest.find('/').map_or((rest, ""), |at| (&rest[..at], &rest[at..]));
        let on_host = if location.starts_with('/') && !location.starts_with("//") {
            location
        } else {
            let (their_scheme, their_rest) = location.split_once("://")?;
            let at = their_rest.find('/').unwrap_or(their_rest.len());
            if !their_scheme.eq_ignore_ascii_case(scheme) || !their_rest[..at].eq_ignore_ascii_case(authority) {
                return None;
            }
            &their_rest[at..]
        };
        let under = on_host.strip_prefix(base_path)?;
        under.starts_with('/').then(|| under.to_owned())
    }

    async fn once(
        &self,
        octo: &Octocrab,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        read: Read,
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
        if let (Read::Text { keep, stop_at }, true) = (read, status.is_success()) {
            let text = self.read_text(response.into_body(), keep, stop_at, path).await?;
            tracing::debug!(%method, path, status = status.as_u16(), bytes = text.seen, "github api answered");
            return Ok(Reply { status, headers, body: Value::Null, text: Some(text) });
        }
        let text = octo.body_to_string(response).await.map_err(|e| Error::Network(self.mask(describe(&e))))?;
        tracing::debug!(%method, path, status = status.as_u16(), bytes = text.len(), "github api answered");
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply { status, headers, body, text: None })
    }

    /// `body` read frame by frame: its first `keep` bytes kept, and no more read once over
    /// `stop_at`; within the configured timeout.
    async fn read_text<B>(&self, mut body: B, keep: usize, stop_at: usize, path: &str) -> Result<Text>
    where
        B: hyper::body::Body<Data = hyper::body::Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let read = async {
            let mut text = Text { bytes: Vec::new(), seen: 0, complete: true };
            while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
                let frame = frame.map_err(|e| Error::Network(self.mask(e.to_string())))?;
                let Ok(bytes) = frame.into_data() else { continue };
                let room = keep.saturating_sub(text.bytes.len());
                text.bytes.extend_from_slice(&bytes[..bytes.len().min(room)]);
                text.seen += bytes.len();
                if text.seen > stop_at {
                    text.complete = false;
                    break;
                }
            }
            Ok(text)
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(done) => done,
            Err(_) => Err(Error::Network(format!(
                "reading the answer to GET {} took longer than {} s (the configured timeout)",
                path.split('?').next().unwrap_or(path),
                self.timeout.as_secs_f32()
            ))),
        }
    }
}

/// How many redirects one request follows.
const MAX_REDIRECTS: u32 = 3;

/// The most bytes of a downloaded log's tail kept in memory (and one line at most).
pub(crate) const TAIL_MAX_BYTES: usize = 1 << 20;

/// True when `path` (a query after `?` aside) has a `.` or `..` segment, percent-encoded or not.
fn has_dot_segment(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/').any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

/// The tail of a downloaded text: its last lines, and how many lines it had, both as
/// `text.trim().lines()` would give them.
#[derive(Debug, PartialEq)]
pub(crate) struct Tail {
    pub lines: Vec<String>,
    pub total_lines: usize,
}

/// Text read chunk by chunk, keeping only its last lines: at most `tail` of them and
/// [`TAIL_MAX_BYTES`] in all (a longer line is cut). Not a [`mcp_core::tail::Tail`] of bytes, as
/// the container logs are: the reference server answers with the last lines of the text trimmed
/// and their count, so each line is looked at (blank ones after the last text are held apart).
struct TailLines {
    tail: usize,
    kept: std::collections::VecDeque<String>,
    kept_bytes: usize,
    /// Whitespace-only lines after the last line with text (dropped if the text ends with them):
    /// how many, and the last `tail` of them (at most [`TAIL_MAX_BYTES`] of them, as for the
    /// kept lines: a log may print long runs of spaces).
    blank_run: usize,
    blanks: std::collections::VecDeque<String>,
    blanks_bytes: usize,
    /// The line being read (cut at [`TAIL_MAX_BYTES`]).
    current: Vec<u8>,
    /// Lines up to the last one with text, leading blank lines not counted.
    total: usize,
    started: bool,
}

impl TailLines {
    fn new(tail: usize) -> Self {
        TailLines {
            tail,
            kept: Default::default(),
            kept_bytes: 0,
            blank_run: 0,
            blanks: Default::default(),
            blanks_bytes: 0,
            current: Vec::new(),
            total: 0,
            started: false,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(at) = bytes.iter().position(|b| *b == b'\n') {
            self.extend(&bytes[..at]);
            self.end_line();
            bytes = &bytes[at + 1..];
        }
        self.extend(bytes);
    }

    fn extend(&mut self, bytes: &[u8]) {
        let room = TAIL_MAX_BYTES.saturating_sub(self.current.len());
        self.current.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self) {
        let raw = std::mem::take(&mut self.current);
        let line = String::from_utf8_lossy(raw.strip_suffix(b"\r").unwrap_or(&raw)).into_owned();
        if line.trim().is_empty() {
            if self.started {
                self.blank_run += 1;
                self.blanks_bytes += line.len();
                self.blanks.push_back(line);
                while self.blanks.len() > self.tail || self.blanks_bytes > TAIL_MAX_BYTES {
                    let dropped = self.blanks.pop_front().map_or(0, |l| l.len());
                    self.blanks_bytes -= dropped;
                }
            }
            return;
        }
        let line = if self.started { line } else { line.trim_start().to_owned() };
        self.started = true;
        self.total += std::mem::take(&mut self.blank_run) + 1;
        let blanks = std::mem::take(&mut self.blanks);
        self.blanks_bytes = 0;
        for kept in blanks.into_iter().chain([line]) {
            self.kept_bytes += kept.len();
            self.kept.push_back(kept);
        }
        while self.kept.len() > self.tail || (self.kept_bytes > TAIL_MAX_BYTES && self.kept.len() > 1) {
            let dropped = self.kept.pop_front().map_or(0, |l| l.len());
            self.kept_bytes -= dropped;
        }
    }

    fn finish(mut self) -> Tail {
        if !self.current.is_empty() {
            self.end_line();
        }
        let mut lines: Vec<String> = self.kept.into_iter().collect();
        if let Some(last) = lines.last_mut() {
            *last = last.trim_end().to_owned();
        }
        Tail { lines, total_lines: self.total }
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use serde_json::json;

    fn reply(status: u16, headers: &[(&'static str, String)], body: Value) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().expect("a header value"));
        }
        Reply { status: StatusCode::from_u16(status).expect("a status"), headers: map, body, text: None }
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

    fn tail_of(chunks: &[&str], tail: usize) -> Tail {
        let mut lines = TailLines::new(tail);
        for chunk in chunks {
            lines.push(chunk.as_bytes());
        }
        lines.finish()
    }

    #[test]
    fn a_streamed_tail_is_what_trimming_the_whole_text_gives() {
        let texts = ["\n\n  first\nsecond\r\n\n  \nthird  \n\n\n", "one", "", "\n \n", "a\n\n\n\n\nb\n"];
        for text in texts {
            let whole: Vec<&str> = text.trim().lines().collect();
            for tail in [1, 2, 3, 10] {
                let want = Tail {
                    lines: whole[whole.len().saturating_sub(tail)..].iter().map(|l| (*l).to_owned()).collect(),
                    total_lines: whole.len(),
                };
                // Whole, and cut into every pair of chunks.
                assert_eq!(tail_of(&[text], tail), want, "{text:?} tail {tail}");
                for at in (0..=text.len()).filter(|at| text.is_char_boundary(*at)) {
                    assert_eq!(tail_of(&[&text[..at], &text[at..]], tail), want, "{text:?} cut at {at}");
                }
            }
        }
    }

    #[test]
    fn a_streamed_tail_keeps_a_bounded_amount() {
        let mut lines = TailLines::new(1000);
        let long = "x".repeat(TAIL_MAX_BYTES / 2);
        for _ in 0..10 {
            lines.push(long.as_bytes());
            lines.push(b"\n");
        }
        // One line longer than the cap is cut to it.
        lines.push(&vec![b'y'; TAIL_MAX_BYTES * 3]);
        let tail = lines.finish();
        assert_eq!(tail.total_lines, 11);
        assert!(tail.lines.iter().map(String::len).sum::<usize>() <= TAIL_MAX_BYTES + long.len());
        assert_eq!(tail.lines.last().map(String::len), Some(TAIL_MAX_BYTES));
    }

    #[test]
    fn blank_lines_after_the_text_are_bounded_too() {
        // A log that ends in long runs of spaces: held only as far as the cap allows.
        let mut lines = TailLines::new(5000);
        lines.push(b"text\n");
        let spaces = vec![b' '; TAIL_MAX_BYTES - 1];
        for _ in 0..20 {
            lines.push(&spaces);
            lines.push(b"\n");
            assert!(lines.blanks_bytes <= TAIL_MAX_BYTES, "{} bytes of blank lines held", lines.blanks_bytes);
            assert_eq!(lines.blanks_bytes, lines.blanks.iter().map(String::len).sum::<usize>());
        }
        lines.push(b"end\n");
        let tail = lines.finish();
        assert_eq!(tail.total_lines, 22, "every line is counted, held or not");
        assert!(tail.lines.iter().map(String::len).sum::<usize>() <= 2 * TAIL_MAX_BYTES);
    }

    #[test]
    fn dot_segments_are_found_encoded_or_not() {
        for path in ["/repos/o/r/contents/../x", "/repos/../..", "/a/./b", "/a/%2e%2E/b", "/a/%2E"] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/repos/o/r/contents/v1.2/.github/x", "/repos/o/r?q=../..", "/a/...b", "/a/%2e%2e%2e"] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[tokio::test]
    async fn redirects_are_followed_only_on_the_api_host_under_its_base() {
        let mut config = GitHubConfig::new("ghp_test");
        config.host = Some("http://127.0.0.1".into());
        let api = Api::new(&config).expect("an API");
        let (get, post) = (Method::GET, Method::POST);
        let moved = StatusCode::MOVED_PERMANENTLY;
        let temporary = StatusCode::TEMPORARY_REDIRECT;
        let to = |method: &Method, status, location| api.redirect(method, status, location);
        assert_eq!(
            to(&get, moved, "http://127.0.0.1/api/v3/repositories/1/x?a=b"),
            Some("/repositories/1/x?a=b".into())
        );
        assert_eq!(to(&get, moved, "/api/v3/repos/o/r"), Some("/repos/o/r".into()));
        assert_eq!(to(&post, temporary, "HTTP://127.0.0.1/api/v3/repos/o/r"), Some("/repos/o/r".into()));
        assert_eq!(to(&post, moved, "http://127.0.0.1/api/v3/repos/o/r"), None, "a 301 would turn a POST into a GET");
        assert_eq!(to(&get, moved, "http://127.0.0.2/api/v3/repos/o/r"), None, "another host");
        assert_eq!(to(&get, moved, "https://127.0.0.1/api/v3/repos/o/r"), None, "another scheme");
        assert_eq!(to(&get, moved, "http://127.0.0.1:8080/api/v3/repos/o/r"), None, "another port");
        assert_eq!(to(&get, moved, "http://127.0.0.1/job-logs/1.txt"), None, "outside the API");
        assert_eq!(to(&get, moved, "//127.0.0.2/api/v3/repos"), None, "scheme-relative");
        assert_eq!(to(&get, moved, "/api/v3x/repos"), None);
        assert_eq!(to(&get, StatusCode::NOT_MODIFIED, "/api/v3/repos/o/r"), None);
    }

    /// A host GitHub redirects log downloads to, on loopback: answers each request on a
    /// kept-alive connection with the log (or 403 for `/denied`), and records what came.
    async fn log_host() -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let (seen, connections): (Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) = Default::default();
        let (seen_by, connections_by) = (Arc::clone(&seen), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                connections_by.fetch_add(1, Ordering::SeqCst);
                let seen = Arc::clone(&seen_by);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut chunk).await {
                        if n == 0 {
                            break;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                            buffer.drain(..end + 4);
                            let denied = head.starts_with("GET /denied");
                            seen.lock().expect("the record").push(head);
                            let (status, body) =
                                if denied { ("403 Forbidden", "") } else { ("200 OK", "one\ntwo\nthree\n") };
                            let answer = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (base, seen, connections)
    }

    #[tokio::test]
    async fn downloads_carry_no_token_share_one_client_and_name_no_signature() {
        let (host, seen, connections) = log_host().await;
        let mut config = GitHubConfig::new("ghp_download_test_token");
        config.host = Some("http://127.0.0.1:9".into());
        let api = Api::new(&config).expect("an API");
        for job in 1..=2 {
            let tail = api.download_tail(&format!("{host}/job-logs/{job}.txt?sig=s3cr3t"), 2).await.expect("the log");
            assert_eq!(tail.lines, ["two", "three"]);
        }
        let refused = api.download_tail(&format!("{host}/denied?sig=s3cr3t"), 2).await.expect_err("a 403");
        let refused = refused.to_string();
        assert!(refused.contains("/denied") && refused.contains("403"), "{refused}");
        assert!(!refused.contains("s3cr3t"), "the signed query is a credential: {refused}");
        let seen = seen.lock().expect("the record").clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[0].starts_with("GET /job-logs/1.txt?sig=s3cr3t HTTP/1.1"), "{seen:?}");
        for head in &seen {
            let lower = head.to_ascii_lowercase();
            assert!(
                !lower.contains("authorization") && !lower.contains("ghp_"),
                "a token went to the log host: {head}"
            );
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "downloads share one client's connection");
        for bad in
            ["ftp://host/x?sig=s3cr3t", "/relative/path?sig=s3cr3t", "not a url?sig=s3cr3t", "http://h/a b?sig=s3cr3t"]
        {
            let error = api.download_tail(bad, 2).await.expect_err(bad).to_string();
            assert!(error.contains("URL") && !error.contains("s3cr3t"), "{bad}: {error}");
        }
    }

    #[test]
    fn validation_errors_are_spelled_out() {
        let body = json!({"message": "Validation Failed", "errors": [{"resource": "Label", "code": "invalid", "field": "color"}]});
        assert_eq!(message_of(&body), "Validation Failed (Label color invalid)");
    }
}
