//! OpenTelemetry (feature `otel`): the gateway's traces and metrics over OTLP, configured by the
//! standard `OTEL_*` variables and off unless they name a collector.
//!
//! - Traces: the `tracing` spans of every request (`mcp.request`, a server span named
//!   `tools/call TOOL`), every call through the pipeline (`mcp.tool_call`, `execute_tool TOOL`,
//!   with server, principal, outcome, policy decision and rule), every call to an upstream server
//!   (`mcp.call`, a client span) and the agent loop, exported through [`Telemetry::layer`]. A
//!   request's W3C context (`traceparent` in `_meta` or HTTP headers) becomes its span's parent,
//!   and requests to upstream servers carry the context of the span they are sent from (see
//!   [`mcp_core::trace_context`]).
//! - Metrics: whatever the `metrics` facade records (the Prometheus `/metrics` numbers), fed to
//!   OTLP as well by [`Telemetry::recorder`], with OpenTelemetry names
//!   (`mcp_tool_duration_seconds` is `mcp.tool.duration`, in seconds).
//!
//! Variables: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (any of them turns the matching signal on),
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (and per signal: `grpc` or `http/protobuf`, the default),
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`,
//! `OTEL_METRICS_EXPORTER=none`, and the SDK's batch and interval settings (`OTEL_BSP_*`,
//! `OTEL_METRIC_EXPORT_INTERVAL`).
//!
//! Export runs on a runtime of its own (one thread), so it neither depends on nor slows the
//! runtime that serves requests, and a final flush works after that runtime has stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry::{KeyValue, metrics::MeterProvider as _};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;

use mcp_core::trace_context::{Propagation, TraceContext};

/// Traces and metrics over OTLP while alive; [`Telemetry::shutdown`] flushes what is pending.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    /// Where the exporters run; taken by the first [`Telemetry::shutdown`].
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.traces.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

/// OTLP's two protocols (`http/json` is not offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// What the variables ask for, one signal.
#[derive(Debug)]
struct Signal {
    protocol: Protocol,
}

impl Telemetry {
    /// Reads the standard variables; `Ok(None)` when no endpoint is set (or the SDK is disabled),
    /// an error naming the variable when one is wrong. `service` is the service name unless
    /// `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` give one. Installs the trace-context
    /// propagation of [`mcp_core::trace_context`] when traces are on.
    pub fn from_env(service: &str) -> anyhow::Result<Option<Telemetry>> {
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let traces = signal(&var, "TRACES")?;
        let metrics = signal(&var, "METRICS")?;
        if traces.is_none() && metrics.is_none() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .context("starting the OTLP exporters' runtime")?;
        let resource = resource(&var, service);
        let timeout = var("OTEL_EXPORTER_OTLP_TIMEOUT")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        let http = || -> anyhow::Result<Exporting> {
            mcp_core::transport::install_crypto_provider();
            // No redirects: the configured headers (often a key) go to the configured endpoint only.
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the OTLP HTTP client")?;
            Ok(Exporting { client, runtime: runtime.handle().clone() })
        };
        // The gRPC channel is made inside the exporters' runtime, which then drives it.
        let _entered = runtime.enter();
        let traces = match traces {
            Some(signal) => {
                let exporter = match signal.protocol {
                    Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder().with_tonic().build(),
                    Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_http_client(http()?)
                        .build(),
                }
                .context("configuring the OTLP trace exporter (OTEL_EXPORTER_OTLP_*)")?;
                Some(SdkTracerProvider::builder().with_resource(resource.clone()).with_batch_exporter(exporter).build())
            }
            None => None,
        };
        let metrics = match metrics {
            Some(signal) => {
                let exporter = match signal.protocol {
                    Protocol::Grpc => opentelemetry_otlp::MetricExporter::builder().with_tonic().build(),
                    Protocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_http_client(http()?)
                        .build(),
                }
                .context("configuring the OTLP metric exporter (OTEL_EXPORTER_OTLP_*)")?;
                Some(SdkMeterProvider::builder().with_resource(resource).with_periodic_exporter(exporter).build())
            }
            None => None,
        };
        drop(_entered);
        if traces.is_some() {
            mcp_core::trace_context::install(OtelPropagation);
        }
        Ok(Some(Telemetry { traces, metrics, runtime: Mutex::new(Some(runtime)) }))
    }

    /// Whether traces are exported.
    pub fn traces(&self) -> bool {
        self.traces.is_some()
    }

    /// Whether metrics are exported.
    pub fn metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// The `tracing` layer that exports this workspace's spans (targets `mcp_*` and `mcptk*`:
    /// requests, pipeline calls, upstream calls, the agent loop) and their warnings and errors as
    /// span events, whatever the log filter; `None` when traces are off.
    pub fn layer<S>(&self) -> Option<Box<dyn tracing_subscriber::Layer<S> + Send + Sync>>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        let tracer = self.traces.as_ref()?.tracer("mcptk");
        let ours = tracing_subscriber::filter::filter_fn(|meta| {
            let target = meta.target();
            (target.starts_with("mcp_") || target.starts_with("mcptk"))
                && (meta.is_span() || *meta.level() <= tracing::Level::WARN)
        });
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(ours);
        Some(Box::new(layer))
    }

    /// A `metrics` recorder that feeds OTLP and, when given, `also` (the Prometheus recorder):
    /// one set of numbers for both. `None` when metrics are off.
    pub fn recorder(&self, also: Option<Box<dyn metrics::Recorder + Send + Sync>>) -> Option<MetricsBridge> {
        let meter = self.metrics.as_ref()?.meter("mcptk");
        Some(MetricsBridge { meter, also, instruments: Mutex::default() })
    }

    /// Installs [`Telemetry::recorder`] as the process's `metrics` recorder (before the first
    /// call is measured); `false` when metrics are off or a recorder was installed already.
    pub fn install_recorder<R: metrics::Recorder + Send + Sync + 'static>(&self, also: Option<R>) -> bool {
        let also = also.map(|r| Box::new(r) as Box<dyn metrics::Recorder + Send + Sync>);
        self.recorder(also).is_some_and(|bridge| metrics::set_global_recorder(bridge).is_ok())
    }

    /// Exports what is pending (spans, a last round of metrics) and stops exporting; call once
    /// serving has ended, outside any async context (it waits for the export, up to the
    /// exporters' timeout). Later calls do nothing.
    pub fn shutdown(&self) {
        let Some(runtime) = self.runtime.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
        if let Some(traces) = &self.traces
            && let Err(e) = traces.shutdown()
        {
            tracing::warn!(error = %e, "flushing traces to the OTLP collector failed");
        }
        if let Some(metrics) = &self.metrics
            && let Err(e) = metrics.shutdown()
        {
            tracing::warn!(error = %e, "flushing metrics to the OTLP collector failed");
        }
        runtime.shutdown_background();
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The protocol of one signal (`TRACES` or `METRICS`), or `None` when it is not configured.
fn signal(var: &impl Fn(&str) -> Option<String>, which: &str) -> anyhow::Result<Option<Signal>> {
    let exporter = format!("OTEL_{which}_EXPORTER");
    if var(&exporter).is_some_and(|v| v == "none") {
        return Ok(None);
    }
    let own = format!("OTEL_EXPORTER_OTLP_{which}_ENDPOINT");
    if var(&own).is_none() && var("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        return Ok(None);
    }
    let own_protocol = format!("OTEL_EXPORTER_OTLP_{which}_PROTOCOL");
    let (name, value) = match var(&own_protocol) {
        Some(v) => (own_protocol, v),
        None => ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_default()),
    };
    let protocol = match value.as_str() {
        "grpc" => Protocol::Grpc,
        "" | "http/protobuf" => Protocol::HttpProtobuf,
        other => bail!("{name} is `{other}`: use `grpc` or `http/protobuf`"),
    };
    Ok(Some(Signal { protocol }))
}

/// The resource: the SDK's detectors (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), with
/// `service` as the name and this version when the variables do not say.
fn resource(var: &impl Fn(&str) -> Option<String>, service: &str) -> opentelemetry_sdk::Resource {
    let given = var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let has = |key: &str| given.split(',').any(|pair| pair.split('=').next().is_some_and(|k| k.trim() == key));
    let mut resource = opentelemetry_sdk::Resource::builder();
    if var("OTEL_SERVICE_NAME").is_none() && !has("service.name") {
        resource = resource.with_service_name(service.to_owned());
    }
    if !has("service.version") {
        resource = resource.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    resource.build()
}

/// OTLP over HTTP through a rustls (ring) `reqwest` client, each request run on the exporters'
/// runtime (the SDK's batch thread has none).
#[derive(Debug)]
struct Exporting {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Exporting {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            // Collectors answer with a small status message; nothing larger is read.
            let body = response.bytes().await?;
            let body = if body.len() > 1 << 20 { body.slice(..1 << 20) } else { body };
            Ok::<_, opentelemetry_http::HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}

/// Makes a request's incoming W3C context its span's parent, and gives outgoing requests the
/// context of the span they are sent from.
struct OtelPropagation;

impl Propagation for OtelPropagation {
    fn adopt(&self, span: &tracing::Span, remote: &TraceContext) {
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_owned(), remote.traceparent().to_owned());
        if let Some(state) = remote.tracestate() {
            carrier.insert("tracestate".to_owned(), state.to_owned());
        }
        let parent = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(parent);
    }

    fn current(&self) -> Option<TraceContext> {
        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut carrier: HashMap<String, String> = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        TraceContext::new(carrier.get("traceparent")?, carrier.get("tracestate").map(String::as_str))
    }
}

/// The `metrics` facade's numbers as OpenTelemetry instruments (and passed on to another
/// recorder, Prometheus's): `mcp_tool_calls_total` is the counter `mcp.tool.calls`,
/// `mcp_tool_duration_seconds` the histogram `mcp.tool.duration` (unit `s`), labels become
/// attributes. Install it with `metrics::set_global_recorder` before the first call.
pub struct MetricsBridge {
    meter: opentelemetry::metrics::Meter,
    also: Option<Box<dyn metrics::Recorder + Send + Sync>>,
    instruments: Mutex<Instruments>,
}

impl std::fmt::Debug for MetricsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsBridge").field("also", &self.also.is_some()).finish_non_exhaustive()
    }
}

/// One OpenTelemetry instrument per metric name, shared by all its label sets.
#[derive(Default)]
struct Instruments {
    counters: HashMap<String, opentelemetry::metrics::Counter<u64>>,
    gauges: HashMap<String, opentelemetry::metrics::Gauge<f64>>,
    histograms: HashMap<String, opentelemetry::metrics::Histogram<f64>>,
    described: HashMap<String, String>,
}

/// The OpenTelemetry name and unit of a Prometheus-style name: `_total` dropped, `_seconds`
/// becomes a `duration` in `s`, underscores become dots.
fn otel_name(name: &str) -> (String, Option<&'static str>) {
    let (base, unit) = match name.strip_suffix("_seconds") {
        Some(base) if base.ends_with("_duration") => (base.to_owned(), Some("s")),
        Some(base) => (format!("{base}_duration"), Some("s")),
        None => (name.strip_suffix("_total").unwrap_or(name).to_owned(), None),
    };
    (base.replace('_', "."), unit)
}

fn attributes(key: &metrics::Key) -> Vec<KeyValue> {
    key.labels().map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned())).collect()
}

impl MetricsBridge {
    fn instruments(&self) -> std::sync::MutexGuard<'_, Instruments> {
        self.instruments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn describe(&self, key: &metrics::KeyName, description: &metrics::SharedString) {
        self.instruments().described.insert(key.as_str().to_owned(), description.to_string());
    }
}

impl metrics::Recorder for MetricsBridge {
    fn describe_counter(&self, key: metrics::KeyName, unit: Option<metrics::Unit>, description: metrics::SharedString) {
        self.describe(&key, &description);
        if let Some(also) = &self.also {
            also.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: metrics::KeyName, unit: Option<metrics::Unit>, description: metrics::SharedString) {
        self.describe(&key, &description);
        if let Some(also) = &self.also {
            also.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.describe(&key, &description);
        if let Some(also) = &self.also {
            also.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &metrics::Key, metadata: &metrics::Metadata<'_>) -> metrics::Counter {
        let also = self.also.as_ref().map(|r| r.register_counter(key, metadata));
        let counter = {
            let mut instruments = self.instruments();
            let description = instruments.described.get(key.name()).cloned();
            instruments
                .counters
                .entry(key.name().to_owned())
                .or_insert_with(|| {
                    let (name, unit) = otel_name(key.name());
                    let mut builder = self.meter.u64_counter(name);
                    if let Some(unit) = unit {
                        builder = builder.with_unit(unit);
                    }
                    if let Some(description) = description {
                        builder = builder.with_description(description);
                    }
                    builder.build()
                })
                .clone()
        };
        metrics::Counter::from_arc(Arc::new(BridgedCounter { counter, attributes: attributes(key), also }))
    }

    fn register_gauge(&self, key: &metrics::Key, metadata: &metrics::Metadata<'_>) -> metrics::Gauge {
        let also = self.also.as_ref().map(|r| r.register_gauge(key, metadata));
        let gauge = self
            .instruments()
            .gauges
            .entry(key.name().to_owned())
            .or_insert_with(|| self.meter.f64_gauge(otel_name(key.name()).0).build())
            .clone();
        metrics::Gauge::from_arc(Arc::new(BridgedGauge {
            gauge,
            attributes: attributes(key),
            value: Mutex::new(0.0),
            also,
        }))
    }

    fn register_histogram(&self, key: &metrics::Key, metadata: &metrics::Metadata<'_>) -> metrics::Histogram {
        let also = self.also.as_ref().map(|r| r.register_histogram(key, metadata));
        let histogram = {
            let mut instruments = self.instruments();
            let description = instruments.described.get(key.name()).cloned();
            instruments
                .histograms
                .entry(key.name().to_owned())
                .or_insert_with(|| {
                    let (name, unit) = otel_name(key.name());
                    let mut builder = self.meter.f64_histogram(name);
                    if let Some(unit) = unit {
                        builder = builder.with_unit(unit).with_boundaries(crate::DURATION_BUCKETS.to_vec());
                    }
                    if let Some(description) = description {
                        builder = builder.with_description(description);
                    }
                    builder.build()
                })
                .clone()
        };
        metrics::Histogram::from_arc(Arc::new(BridgedHistogram { histogram, attributes: attributes(key), also }))
    }
}

struct BridgedCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    also: Option<metrics::Counter>,
}

impl metrics::CounterFn for BridgedCounter {
    fn increment(&self, value: u64) {
        self.counter.add(value, &self.attributes);
        if let Some(also) = &self.also {
            also.increment(value);
        }
    }

    fn absolute(&self, value: u64) {
        // An OpenTelemetry counter only adds; the absolute value goes to the other recorder.
        if let Some(also) = &self.also {
            also.absolute(value);
        }
    }
}

struct BridgedGauge {
    gauge: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    value: Mutex<f64>,
    also: Option<metrics::Gauge>,
}

impl BridgedGauge {
    fn update(&self, change: impl FnOnce(f64) -> f64) {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        *value = change(*value);
        self.gauge.record(*value, &self.attributes);
    }
}

impl metrics::GaugeFn for BridgedGauge {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
        if let Some(also) = &self.also {
            also.increment(value);
        }
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
        if let Some(also) = &self.also {
            also.decrement(value);
        }
    }

    fn set(&self, value: f64) {
        self.update(|_| value);
        if let Some(also) = &self.also {
            also.set(value);
        }
    }
}

struct BridgedHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
    also: Option<metrics::Histogram>,
}

impl metrics::HistogramFn for BridgedHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
        if let Some(also) = &self.also {
            also.record(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::otel_name;

    #[test]
    fn prometheus_names_become_opentelemetry_names() {
        assert_eq!(otel_name("mcp_tool_duration_seconds"), ("mcp.tool.duration".into(), Some("s")));
        assert_eq!(otel_name("mcp_tool_calls_total"), ("mcp.tool.calls".into(), None));
        assert_eq!(otel_name("mcp_audit_append_seconds"), ("mcp.audit.append.duration".into(), Some("s")));
        assert_eq!(otel_name("mcp_upstream_restarts_total"), ("mcp.upstream.restarts".into(), None));
    }
}
