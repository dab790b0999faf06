//! Bounds what an answer of the model endpoint may hold in memory while it is read: a whole JSON
//! body, or one event of a stream (each is read whole before it is parsed). The limit follows
//! [`ModelConfig::max_answer_bytes`](crate::ModelConfig::max_answer_bytes): room for that much
//! text escaped as JSON, and the answer's envelope.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use futures_util::StreamExt as _;

/// The most bytes one JSON answer, or one event of a streamed one, may take for answers of at
/// most `max_answer_bytes` of text and tool-call arguments.
pub(crate) fn limit_for(max_answer_bytes: usize) -> usize {
    max_answer_bytes.saturating_mul(2).saturating_add(1024 * 1024)
}

/// Why an answer's body was cut off while read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// A JSON body, or one event of a stream, passed the limit.
    TooLarge,
    /// A stream's bytes are not UTF-8 (its parser would hold them, and all after them, unread).
    NotUtf8,
}

tokio::task_local! {
    static ASKING: Asking;
}

/// One request to the model, as the service reads its answer: an event stream when the request
/// asked for one and succeeded (whatever the answer's `Content-Type` says: that is how the client
/// reads it), else a body read whole; and what cut its body off, if anything did.
#[derive(Clone)]
pub(crate) struct Asking {
    streamed: bool,
    cut: Arc<OnceLock<Cut>>,
}

impl Asking {
    pub(crate) fn new(streamed: bool) -> Self {
        Self { streamed, cut: Arc::default() }
    }

    /// Runs `request` (the client's call) as this request.
    pub(crate) async fn run<F: Future>(&self, request: F) -> F::Output {
        ASKING.scope(self.clone(), request).await
    }

    /// What cut the answer's body off, once it has.
    pub(crate) fn cut(&self) -> Option<Cut> {
        self.cut.get().copied()
    }
}

/// An HTTP service for the model's client that cuts every answer's body off once a JSON body, or
/// one event of an event stream, passes `limit` bytes, or a stream is not UTF-8, and notes why in
/// the [`Asking`] the call runs in (outside one, an answer counts as a body read whole).
#[derive(Clone)]
pub(crate) struct Bounded {
    inner: ReqwestService,
    limit: usize,
}

impl Bounded {
    pub(crate) fn new(http: reqwest::Client, limit: usize) -> Self {
        Self { inner: ReqwestService::new(http), limit }
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
        let limit = self.limit;
        let asking = ASKING.try_with(Asking::clone).unwrap_or_else(|_| Asking::new(false));
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(bound(response, limit, asking))
        })
    }
}

/// The response with its body counted as it is read.
fn bound(response: reqwest::Response, limit: usize, asking: Asking) -> reqwest::Response {
    let mut builder = http::Response::builder().status(response.status()).version(response.version());
    if let Some(headers) = builder.headers_mut() {
        headers.extend(response.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(extensions) = builder.extensions_mut() {
        extensions.extend(response.extensions().clone());
    }
    // Kept, so that an error reading the body names the URL it came from.
    let builder = reqwest::ResponseBuilderExt::url(builder, response.url().clone());
    // An error's body is read whole, asked for a stream or not.
    let mut count = Count::new(asking.streamed && response.status().is_success(), limit);
    let body = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| -> BoxError { Box::new(e) })?;
        if let Err(cut) = count.take(&chunk) {
            let _ = asking.cut.set(cut);
            return Err(Box::new(Stopped(cut)) as BoxError);
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

/// The body was cut off (the message the run shows is [`Model`](crate::Model)'s).
#[derive(Debug)]
struct Stopped(Cut);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Cut::TooLarge => "the answer passed its size limit",
            Cut::NotUtf8 => "the answer's stream is not UTF-8",
        })
    }
}

impl std::error::Error for Stopped {}

/// The bytes of a body read so far: of the whole body, or of an event stream's current event
/// (events end with a blank line; lines end with `\n`, `\r` or `\r\n`), whose bytes must be
/// UTF-8.
struct Count {
    events: bool,
    limit: usize,
    since_boundary: usize,
    /// No byte but line ends since the last line end.
    line_empty: bool,
    last: u8,
    /// The start of a character split between chunks, and its length.
    partial: [u8; 4],
    partial_len: usize,
}

impl Count {
    fn new(events: bool, limit: usize) -> Self {
        Self { events, limit, since_boundary: 0, line_empty: true, last: 0, partial: [0; 4], partial_len: 0 }
    }

    /// Counts `chunk`; an error once the body is cut off.
    fn take(&mut self, chunk: &[u8]) -> Result<(), Cut> {
        if !self.events {
            self.since_boundary = self.since_boundary.saturating_add(chunk.len());
            return if self.since_boundary > self.limit { Err(Cut::TooLarge) } else { Ok(()) };
        }
        self.utf8(chunk)?;
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
                return Err(Cut::TooLarge);
            }
        }
        Ok(())
    }

    /// Checks that `chunk` goes on as UTF-8, keeping a character it ends in the middle of.
    fn utf8(&mut self, chunk: &[u8]) -> Result<(), Cut> {
        let mut rest = chunk;
        // First complete the character the last chunk ended in, a byte at a time.
        while self.partial_len > 0 {
            let Some((&b, after)) = rest.split_first() else { return Ok(()) };
            self.partial[self.partial_len] = b;
            self.partial_len += 1;
            rest = after;
            match std::str::from_utf8(&self.partial[..self.partial_len]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(Cut::NotUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Cut::NotUtf8),
            Err(e) => {
                let tail = &rest[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Count, Cut};

    #[test]
    fn a_json_body_counts_whole_and_events_one_at_a_time() {
        let mut json = Count::new(false, 10);
        assert_eq!(json.take(b"{\"a\":1}\n\n"), Ok(()));
        assert_eq!(json.take(b"{\"b\":2}"), Err(Cut::TooLarge), "a body counts whole, blank lines or not");

        for end in ["\n", "\r", "\r\n"] {
            let mut events = Count::new(true, 10);
            let event = format!("data: 1234{end}{end}");
            for _ in 0..100 {
                assert_eq!(events.take(event.as_bytes()), Ok(()), "{end:?}: each event counts from zero");
            }
            // One event of many short lines counts as one.
            let lines = format!("data: 12{end}").repeat(3);
            assert_eq!(
                events.take(lines.as_bytes()),
                Err(Cut::TooLarge),
                "{end:?}: an event of many lines counts whole"
            );
        }
        // A `\r\n` split between chunks is still one line end.
        let mut split = Count::new(true, 20);
        assert_eq!(split.take(b"data: 1\r"), Ok(()));
        assert_eq!(split.take(b"\ndata: 2\r"), Ok(()));
        assert_eq!(split.take(b"\ndata: 3\r\n"), Err(Cut::TooLarge), "three lines of one event");
    }

    #[test]
    fn a_stream_must_be_utf8_and_a_body_need_not() {
        // Characters of two, three and four bytes split at every point between chunks.
        let text = "data: é€😀\n\n".repeat(3);
        for at in 0..=text.len() {
            let mut events = Count::new(true, 1000);
            assert_eq!(events.take(&text.as_bytes()[..at]), Ok(()), "split at {at}");
            assert_eq!(events.take(&text.as_bytes()[at..]), Ok(()), "split at {at}");
        }
        // A character cut in three pieces.
        let mut events = Count::new(true, 1000);
        for piece in [&b"data: \xF0\x9F"[..], b"\x98", b"\x80\n\n"] {
            assert_eq!(events.take(piece), Ok(()));
        }
        // A byte that starts no character, a character that stops short, one that ends too late.
        for bad in [&b"data: \xFF\n\n"[..], b"data: \xC3(\n\n", b"data: \xE2\x82\x82\xAC\n\n"] {
            assert_eq!(Count::new(true, 1000).take(bad), Err(Cut::NotUtf8), "{bad:?}");
            assert_eq!(Count::new(false, 1000).take(bad), Ok(()), "a body read whole is parsed as JSON, which says so");
        }
        // A bad byte after the first piece of a split character.
        let mut split = Count::new(true, 1000);
        assert_eq!(split.take(b"data: \xE2"), Ok(()));
        assert_eq!(split.take(b"\x41\n\n"), Err(Cut::NotUtf8));
    }
}
