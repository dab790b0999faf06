//! W3C trace context (`traceparent`, `tracestate`) carried across MCP hops, as plain strings.
//!
//! A request's context arrives in its `params._meta` (where the OpenTelemetry conventions for MCP
//! put it) or, over Streamable HTTP, in the `traceparent` and `tracestate` headers, which the
//! server copies into `_meta` when `_meta` has none. A request sent while handling another one
//! carries the context of the work it belongs to in its own `_meta`, and the HTTP client mirrors
//! that in headers.
//!
//! This crate only moves strings. An OpenTelemetry integration (the gateway's `telemetry` module)
//! installs a [`Propagation`]: the incoming context becomes the parent of the request's span, and
//! outgoing requests carry the context of the span they are sent from. Without one, the incoming
//! context is passed on unchanged to the requests made while handling it.

use std::future::Future;
use std::sync::OnceLock;

use serde_json::Value;

use crate::protocol::JsonObject;

/// The `_meta` key (and HTTP header) of the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// The `_meta` key (and HTTP header) of the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

/// The longest `tracestate` passed on (the W3C limit of 32 members fits well inside it).
const MAX_TRACESTATE: usize = 512;

/// A validated W3C trace context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// A context from its header values, or `None` when `traceparent` is not a valid W3C
    /// `traceparent` (a bad `tracestate` is dropped: the spec says to keep the parent then).
    pub fn new(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let traceparent = traceparent.trim();
        if !valid_traceparent(traceparent) {
            return None;
        }
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE && s.bytes().all(|b| (0x20..0x7f).contains(&b)))
            .map(str::to_owned);
        Some(Self { traceparent: traceparent.to_owned(), tracestate })
    }

    /// The `traceparent` value.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The context a request's `params` carry in `_meta`, if any (and valid).
    pub fn from_meta(params: Option<&JsonObject>) -> Option<Self> {
        let meta = params?.get("_meta")?.as_object()?;
        let parent = meta.get(TRACEPARENT)?.as_str()?;
        Self::new(parent, meta.get(TRACESTATE).and_then(Value::as_str))
    }

    /// Writes this context into `params._meta` (created if missing), replacing any there.
    pub fn write_meta(&self, params: &mut JsonObject) {
        let meta = params.entry("_meta").or_insert_with(|| Value::Object(JsonObject::new()));
        if !meta.is_object() {
            *meta = Value::Object(JsonObject::new());
        }
        if let Value::Object(meta) = meta {
            meta.insert(TRACEPARENT.to_owned(), Value::String(self.traceparent.clone()));
            match &self.tracestate {
                Some(state) => meta.insert(TRACESTATE.to_owned(), Value::String(state.clone())),
                None => meta.remove(TRACESTATE),
            };
        }
    }
}

/// `version-traceid-parentid-flags` in lowercase hex, ids not all zeros, version not `ff` (a
/// later version may append fields after a `-`).
fn valid_traceparent(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |range: std::ops::Range<usize>| b[range].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    let zero = |range: std::ops::Range<usize>| b[range].iter().all(|c| *c == b'0');
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return false;
    }
    if !(hex(0..2) && hex(3..35) && hex(36..52) && hex(53..55)) || &b[0..2] == b"ff" {
        return false;
    }
    if zero(3..35) || zero(36..52) {
        return false;
    }
    match &b[0..2] {
        b"00" => b.len() == 55,
        _ => b.len() == 55 || b[55] == b'-',
    }
}

/// What an OpenTelemetry integration does with trace context; installed once per process.
pub trait Propagation: Send + Sync + 'static {
    /// Makes `remote` the parent of `span`, a request's span that has not been entered yet.
    fn adopt(&self, span: &tracing::Span, remote: &TraceContext);
    /// The context of the current span, for a request sent now; `None` outside traced work.
    fn current(&self) -> Option<TraceContext>;
}

static PROPAGATION: OnceLock<Box<dyn Propagation>> = OnceLock::new();

/// Installs the process's [`Propagation`]; `false` if one was installed already.
pub fn install(propagation: impl Propagation) -> bool {
    PROPAGATION.set(Box::new(propagation)).is_ok()
}

tokio::task_local! {
    /// The context of the request being handled, passed on when no propagation is installed.
    static INCOMING: Option<TraceContext>;
}

/// The context a request sent now should carry: the current span's (with a propagation
/// installed), else that of the request being handled, unchanged.
pub fn current() -> Option<TraceContext> {
    PROPAGATION.get().and_then(|p| p.current()).or_else(|| INCOMING.try_with(Clone::clone).ok().flatten())
}

/// Runs `work`, the handling of a request whose span is `span`, under the request's `incoming`
/// context: the span's parent when a propagation is installed, passed on otherwise.
pub(crate) fn handle<F: Future>(
    incoming: Option<TraceContext>,
    span: &tracing::Span,
    work: F,
) -> impl Future<Output = F::Output> {
    if let (Some(remote), Some(propagation)) = (&incoming, PROPAGATION.get()) {
        propagation.adopt(span, remote);
    }
    INCOMING.scope(incoming, work)
}

/// Puts the current context (see [`current`]) into an outgoing request's `_meta`, unless the
/// caller set one there itself.
pub(crate) fn inject(params: &mut Option<JsonObject>) {
    if TraceContext::from_meta(params.as_ref()).is_some() {
        return;
    }
    if let Some(context) = current() {
        context.write_meta(params.get_or_insert_with(JsonObject::new));
    }
}

/// Copies the `traceparent`/`tracestate` of an HTTP request into the JSON-RPC request's `_meta`
/// when `_meta` carries none (the body wins over the headers).
#[cfg(any(feature = "http-server", test))]
pub(crate) fn adopt_headers(params: &mut Option<JsonObject>, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(context) = traceparent.and_then(|p| TraceContext::new(p, tracestate)) else { return };
    if TraceContext::from_meta(params.as_ref()).is_none() {
        context.write_meta(params.get_or_insert_with(JsonObject::new));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_traceparents_are_taken() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::new(good, Some("rojo=00f067aa0ba902b7")).expect("valid");
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.tracestate(), Some("rojo=00f067aa0ba902b7"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\n",
        ] {
            assert_eq!(TraceContext::new(bad, None), None, "{bad:?}");
        }
        // A later version may add fields; a tracestate that is no header value is dropped.
        assert!(TraceContext::new("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab", None).is_some());
        assert_eq!(TraceContext::new(good, Some("a=1\r\nx: y")).expect("valid").tracestate(), None);
    }

    #[test]
    fn headers_fill_meta_only_when_it_has_no_context() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut params = None;
        adopt_headers(&mut params, Some(parent), None);
        assert_eq!(TraceContext::from_meta(params.as_ref()).expect("adopted").traceparent(), parent);
        let other = "00-11111111111111111111111111111111-2222222222222222-01";
        adopt_headers(&mut params, Some(other), None);
        assert_eq!(TraceContext::from_meta(params.as_ref()).expect("kept").traceparent(), parent);
    }

    #[tokio::test]
    async fn without_a_propagation_the_incoming_context_is_passed_on() {
        let incoming = TraceContext::new("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None);
        let sent = handle(incoming.clone(), &tracing::Span::none(), async {
            let mut params = None;
            inject(&mut params);
            params
        })
        .await;
        assert_eq!(TraceContext::from_meta(sent.as_ref()), incoming);
        let mut outside = None;
        inject(&mut outside);
        assert_eq!(outside, None, "no context outside a handled request");
    }
}
