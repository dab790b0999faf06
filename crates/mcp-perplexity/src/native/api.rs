//! Perplexity's HTTP API: one POST per call, the key only in its `Authorization` header, every
//! body read with a cap, the whole call (stream included) under one deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_core::ToolContext;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use serde_json::Value;

use super::PerplexityConfig;
use super::format::{AgentResponse, AgentStream, Outcome, SearchResponse, agent_response_text, search_results_text};
use crate::{Error, Result};

/// The most bytes of an error body read (what is shown of it is shorter still).
const ERROR_BODY_BYTES: usize = 64 * 1024;
/// The most characters of an error body shown.
const ERROR_BODY_CHARS: usize = 2_000;
/// How long a best-effort cancellation of an abandoned run may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of the API. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Api {
    http: Arc<Http>,
    /// `Bearer <key>`, marked sensitive so no `Debug` of a request shows it.
    authorization: HeaderValue,
    /// The key, to mask it in anything the API sends back.
    key: Arc<str>,
    base_url: Arc<str>,
    timeout: Duration,
    limit: usize,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base_url", &mcp_core::config::display_url(&self.base_url))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The HTTP client, built at the first call rather than at start: building one reads every
/// root certificate of the system, which costs more than the rest of a start and which a server
/// that is only listed never needs. What the configuration can get wrong (the URL, the proxy) is
/// checked at start.
struct Http {
    connect_timeout: Duration,
    proxy: Option<reqwest::Proxy>,
    built: std::sync::OnceLock<reqwest::Client>,
}

impl Http {
    fn client(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.built.get() {
            return Ok(client);
        }
        mcp_core::transport::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            // A POST that is redirected loses its body, and its key must not follow it elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false);
        if let Some(proxy) = &self.proxy {
            builder = builder.proxy(proxy.clone());
        }
        let client =
            builder.build().map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", describe(&e))))?;
        Ok(self.built.get_or_init(|| client))
    }
}

impl Api {
    pub fn new(config: &PerplexityConfig) -> Result<Self> {
        let key = config.api_key.expose();
        if key.trim().is_empty() {
            return Err(Error::Config("the Perplexity API key is empty: set PERPLEXITY_API_KEY".into()));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| Error::Config("the Perplexity API key has characters an HTTP header cannot carry".into()))?;
        authorization.set_sensitive(true);
        let base_url = config.base_url.trim_end_matches('/');
        match reqwest::Url::parse(base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(Error::Config(format!(
                    "the Perplexity base URL `{}` is not an http(s) URL",
                    mcp_core::config::display_url(base_url)
                )));
            }
        }
        let proxy = match &config.proxy {
            Some(proxy) => Some(reqwest::Proxy::all(proxy).map_err(|_| {
                Error::Config(format!("the proxy URL `{}` is not valid", mcp_core::config::display_url(proxy)))
            })?),
            None => None,
        };
        Ok(Self {
            http: Arc::new(Http { connect_timeout: config.connect_timeout, proxy, built: std::sync::OnceLock::new() }),
            authorization,
            key: Arc::from(key),
            base_url: Arc::from(base_url),
            timeout: config.timeout,
            limit: config.max_response_bytes,
        })
    }

    /// `text` with every occurrence of the key replaced by `***`. Keys shorter than 8 bytes are
    /// left alone: masking them would mangle ordinary words, and real keys are far longer.
    pub fn mask(&self, text: String) -> String {
        if self.key.len() >= 8 && text.contains(&*self.key) { text.replace(&*self.key, "***") } else { text }
    }

    /// POSTs `body` to `endpoint`; an HTTP error status is [`Error::Api`].
    async fn post(&self, endpoint: &str, body: &Value) -> Result<reqwest::Response> {
        let started = Instant::now();
        let response = self
            .http
            .client()?
            .post(format!("{}/{endpoint}", self.base_url))
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, self.authorization.clone())
            .header(USER_AGENT, concat!("mcp-perplexity/", env!("CARGO_PKG_VERSION")))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Error::Network { action: "calling", message: describe(&e) })?;
        let status = response.status();
        tracing::debug!(endpoint, status = status.as_u16(), elapsed = ?started.elapsed(), "perplexity api answered");
        if status.is_success() {
            return Ok(response);
        }
        let (bytes, _) = read_capped(response, ERROR_BODY_BYTES).await;
        // Masked before it is cut, so no part of the key survives at the cut.
        let text = self.mask(String::from_utf8_lossy(&bytes).into_owned());
        let mut shown: String = text.chars().take(ERROR_BODY_CHARS).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        Err(Error::Api {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or_default().to_owned(),
            body: shown,
        })
    }

    /// Runs an agent request (`body`, which asks for a stream) to its final answer text,
    /// reporting progress to `cx` as the stream's events arrive. The timeout covers the whole
    /// run. A run left before its end is also cancelled at the API: when it times out, is
    /// cancelled, or fails while streaming, and when this future is dropped (an outer timeout,
    /// a caller gone), through [`Unfinished`].
    pub async fn agent(&self, body: &Value, cx: &ToolContext) -> Result<String> {
        let mut run = Unfinished { api: self, stream: AgentStream::default() };
        tokio::select! {
            outcome = tokio::time::timeout(self.timeout, self.run_agent(body, cx, &mut run.stream)) => match outcome {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::Timeout { after: self.timeout }),
            },
            () = cx.cancelled().cancelled() => Err(Error::Cancelled),
        }
    }

    async fn run_agent(&self, body: &Value, cx: &ToolContext, stream: &mut AgentStream) -> Result<String> {
        let mut response = self.post("v1/agent", body).await?;
        let mut line: Vec<u8> = Vec::new();
        let mut read = 0usize;
        let mut progress = 0u32;
        'body: while !stream.finished() {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(Error::Network { action: "streaming from", message: describe(&e) }),
            };
            read += chunk.len();
            if read > self.limit {
                return Err(Error::TooLarge { limit: self.limit });
            }
            for piece in chunk.split_inclusive(|&b| b == b'\n') {
                line.extend_from_slice(piece);
                if line.last() != Some(&b'\n') {
                    continue;
                }
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                line.clear();
                if let Some(message) = stream.line(&text) {
                    progress += 1;
                    cx.progress(f64::from(progress), None, Some(self.mask(message))).await;
                }
                if stream.finished() {
                    break 'body;
                }
            }
        }
        // A last line without its line end still counts.
        if !stream.finished() && !line.is_empty() {
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some(message) = stream.line(&text) {
                cx.progress(f64::from(progress + 1), None, Some(self.mask(message))).await;
            }
        }
        match std::mem::take(stream).outcome() {
            Outcome::Completed(value) => {
                let response: AgentResponse = serde_json::from_value(value)
                    .map_err(|e| Error::InvalidResponse { api: "Agent API", message: e.to_string() })?;
                Ok(agent_response_text(&response))
            }
            Outcome::Failed(message) => Err(Error::Failed(message)),
            Outcome::Incomplete => Err(Error::Incomplete),
        }
    }

    /// Asks the API to stop a run nobody waits for any more, so it stops costing; best effort,
    /// in the background, bounded by [`CANCEL_TIMEOUT`].
    fn cancel_run(&self, id: String) {
        // Called from `Drop`, which may run where no runtime is (a runtime shutting down).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("no runtime to cancel an abandoned perplexity run in");
            return;
        };
        let api = self.clone();
        runtime.spawn(async move {
            let endpoint = format!("v1/agent/{}/cancel", encode_path_segment(&id));
            let cancelled = tokio::time::timeout(CANCEL_TIMEOUT, api.post(&endpoint, &serde_json::json!({}))).await;
            tracing::debug!(ok = matches!(cancelled, Ok(Ok(_))), "asked the perplexity api to cancel an abandoned run");
        });
    }

    /// A search: the results formatted as a model reads them.
    pub async fn search(&self, body: &Value, cx: &ToolContext) -> Result<String> {
        let work = async {
            let response = self.post("search", body).await?;
            let (bytes, complete) = read_capped(response, self.limit).await;
            if !complete {
                return Err(Error::TooLarge { limit: self.limit });
            }
            let found: SearchResponse = serde_json::from_slice(&bytes)
                .map_err(|e| Error::InvalidResponse { api: "Search API", message: e.to_string() })?;
            Ok(search_results_text(&found))
        };
        tokio::select! {
            outcome = tokio::time::timeout(self.timeout, work) => outcome.unwrap_or(Err(Error::Timeout { after: self.timeout })),
            () = cx.cancelled().cancelled() => Err(Error::Cancelled),
        }
    }
}

/// An agent run's stream while it is read. Dropped with a run id and no final event (timed
/// out, cancelled, failed while streaming, or its future dropped by an outer timeout or a
/// caller gone), it asks the API to cancel the run, which would otherwise go on, and cost, to
/// its end. A run read to its end leaves the stream taken, so nothing is cancelled.
struct Unfinished<'a> {
    api: &'a Api,
    stream: AgentStream,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.stream.finished() {
            return;
        }
        if let Some(id) = self.stream.response_id.take() {
            self.api.cancel_run(id);
        }
    }
}

/// Up to `limit` bytes of the body, and whether that was all of it. A connection that breaks
/// ends the body where it broke.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            return (body, false);
        }
        body.extend_from_slice(&chunk);
    }
    (body, true)
}

/// A transport error and its causes. The top error is named by its kind: its own text repeats
/// the URL, which the message names already.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the body broke off"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// `id` as one URL path segment: anything but unreserved characters percent-encoded.
fn encode_path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_one_path_segment() {
        assert_eq!(encode_path_segment("resp_1-a.b~c"), "resp_1-a.b~c");
        assert_eq!(encode_path_segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }
}
