//! Bounds what an answer of the model endpoint may hold in memory while it is read: a whole JSON
//! body, or one event of a stream (each is read whole before it is parsed). The limit follows
//! [`ModelConfig::max_answer_bytes`](crate::ModelConfig::max_answer_bytes): room for that much
//! text escaped as JSON, and the answer's envelope.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use futures_util::StreamExt as _;

/// The most bytes one JSON answer, or one event of a streamed one, may take for answers of at
/// most `max_answer_bytes` of text and tool-call arguments.
pub(crate) fn limit_for(max_answer_bytes: usize) -> usize {
    max_answer_bytes.saturating_mul(2).saturating_add(1024 * 1024)
}

/// An HTTP service for the model's client that cuts every answer's body off once a JSON body, or
/// one event of an event stream, passes `limit` bytes; each cut-off is counted in `cut_off`.
#[derive(Clone)]
pub(crate) struct Bounded {
    inner: ReqwestService,
    limit: usize,
    cut_off: Arc<AtomicUsize>,
}

impl Bounded {
    pub(crate) fn new(http: reqwest::Client, limit: usize, cut_off: Arc<AtomicUsize>) -> Self {
        Self { inner: ReqwestService::new(http), limit, cut_off }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower_service::Service<HttpRequestFactory> for Bounded {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Answer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Answer {
        let mut inner = self.inner.clone();
        let (limit, cut_off) = (self.limit, self.cut_off.clone());
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(bound(response, limit, cut_off))
        })
    }
}

/// The response with its body counted as it is read.
fn bound(response: reqwest::Response, limit: usize, cut_off: Arc<AtomicUsize>) -> reqwest::Response {
    let events = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    let mut builder = http::Response::builder().status(response.status()).version(response.version());
    if let Some(headers) = builder.headers_mut() {
        headers.extend(response.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut count = Count { events, limit, since_boundary: 0, line_empty: true, last: 0 };
    let body = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| -> BoxError { Box::new(e) })?;
        if count.take(&chunk) {
            cut_off.fetch_add(1, Ordering::Relaxed);
            return Err(Box::new(TooLarge) as BoxError);
        }
        Ok(chunk)
    });
    match builder.body(reqwest::Body::wrap_stream(body)) {
        Ok(response) => reqwest::Response::from(response),
        // Unreachable: the parts come from a response that was valid.
        Err(e) => unreachable!("the parts of a valid response: {e}"),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body passed its limit (the message the run shows is [`Model`](crate::Model)'s).
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the answer passed its size limit")
    }
}

impl std::error::Error for TooLarge {}

/// The bytes of a body read so far: of the whole body, or of an event stream's current event
/// (events end with a blank line; lines end with `\n`, `\r` or `\r\n`).
struct Count {
    events: bool,
    limit: usize,
    since_boundary: usize,
    /// No byte but line ends since the last line end.
    line_empty: bool,
    last: u8,
}

impl Count {
    /// Counts `chunk`; true once past the limit.
    fn take(&mut self, chunk: &[u8]) -> bool {
        if !self.events {
            self.since_boundary = self.since_boundary.saturating_add(chunk.len());
            return self.since_boundary > self.limit;
        }
        for &b in chunk {
            match b {
                // The second half of a `\r\n` line end.
                b'\n' if self.last == b'\r' => {}
                b'\n' | b'\r' => {
                    if self.line_empty {
                        self.since_boundary = 0;
                    }
                    self.line_empty = true;
                }
                _ => {
                    self.line_empty = false;
                    self.since_boundary += 1;
                }
            }
            self.last = b;
            if self.since_boundary > self.limit {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::Count;

    fn count(events: bool, limit: usize) -> Count {
        Count { events, limit, since_boundary: 0, line_empty: true, last: 0 }
    }

    #[test]
    fn a_json_body_counts_whole_and_events_one_at_a_time() {
        let mut json = count(false, 10);
        assert!(!json.take(b"{\"a\":1}\n\n"));
        assert!(json.take(b"{\"b\":2}"), "a body counts whole, blank lines or not");

        for end in ["\n", "\r", "\r\n"] {
            let mut events = count(true, 10);
            let event = format!("data: 1234{end}{end}");
            for _ in 0..100 {
                assert!(!events.take(event.as_bytes()), "{end:?}: each event counts from zero");
            }
            // One event of many short lines counts as one.
            let lines = format!("data: 12{end}").repeat(3);
            assert!(events.take(lines.as_bytes()), "{end:?}: an event of many lines counts whole");
        }
        // A `\r\n` split between chunks is still one line end.
        let mut split = count(true, 20);
        assert!(!split.take(b"data: 1\r"));
        assert!(!split.take(b"\ndata: 2\r"));
        assert!(split.take(b"\ndata: 3\r\n"), "three lines of one event");
    }
}
