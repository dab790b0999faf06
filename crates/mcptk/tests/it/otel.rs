//! OpenTelemetry export of the gateway (`mcptk serve --http`), over OTLP gRPC and HTTP/protobuf:
//! spans in the client's trace (W3C `traceparent` from `_meta` or an HTTP header) with their
//! attributes, the context passed on to an upstream server, and metrics.
//!
//! No OpenTelemetry Collector can be installed here: it is a Go binary that no crates.io, PyPI,
//! npm or Debian package ships. A small OTLP receiver in this file stands in for it: an
//! HTTP/protobuf endpoint (`/v1/traces`, `/v1/metrics`) and a gRPC server (the `TraceService` and
//! `MetricsService` generated from the official protobuf definitions, crate
//! `opentelemetry-proto`), both decoding what they receive into those official message types.
//! The upstream server is a second real `mcptk` process that exports to the same receiver, so
//! the context it received in `_meta` shows as the parent of its own span.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;
use serde_json::{Value, json};

use crate::http::free_port;
use crate::support::mcptk;

/// The bearer token of the caller `alice`, and the OTLP header value: neither may be exported.
const TOKEN: &str = "alice-bearer-7f3a9c";
const OTLP_KEY: &str = "otlp-key-5d1e8b";

/// W3C contexts the client sends: in `_meta`, as an HTTP header, and for the denied call.
const IN_META: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const IN_HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DENIED: &str = "00-11112222333344445555666677778888-1234567890abcdef-01";

/// What the receiver got, decoded.
#[derive(Default)]
struct Received {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    /// The `x-otlp-key` header of each export.
    keys: Vec<String>,
}

/// The stand-in collector (see the module's doc).
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Received>>);

#[async_trait::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let key = request.metadata().get("x-otlp-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut received = self.lock();
        received.keys.extend(key);
        received.traces.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[async_trait::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let key = request.metadata().get("x-otlp-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut received = self.lock();
        received.keys.extend(key);
        received.metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent: String,
    status: i32,
    attributes: HashMap<String, String>,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter().map(|kv| (kv.key.clone(), text(kv))).collect()
}

impl Receiver {
    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Listens on loopback for `protocol` (`grpc` or `http/protobuf`); returns the endpoint.
    async fn start(&self, protocol: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = if protocol == "grpc" {
            axum::Router::new()
                .route_service(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    TraceServiceServer::new(self.clone()),
                )
                .route_service(
                    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                    MetricsServiceServer::new(self.clone()),
                )
        } else {
            let (traces, metrics) = (self.clone(), self.clone());
            axum::Router::new()
                .route(
                    "/v1/traces",
                    axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace request");
                        let mut received = traces.lock();
                        received.keys.extend(otlp_key(&headers));
                        received.traces.push(request);
                        protobuf(ExportTraceServiceResponse::default().encode_to_vec())
                    }),
                )
                .route(
                    "/v1/metrics",
                    axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                        let request = ExportMetricsServiceRequest::decode(body).expect("an OTLP metrics request");
                        let mut received = metrics.lock();
                        received.keys.extend(otlp_key(&headers));
                        received.metrics.push(request);
                        protobuf(ExportMetricsServiceResponse::default().encode_to_vec())
                    }),
                )
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn spans(&self) -> Vec<Span> {
        let mut out = Vec::new();
        for request in &self.lock().traces {
            for resource in &request.resource_spans {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                    .map(text)
                    .unwrap_or_default();
                for scope in &resource.scope_spans {
                    for span in &scope.spans {
                        out.push(Span {
                            service: service.clone(),
                            name: span.name.clone(),
                            kind: span.kind,
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent: hex(&span.parent_span_id),
                            status: span.status.as_ref().map_or(0, |s| s.code),
                            attributes: attributes(&span.attributes),
                        });
                    }
                }
            }
        }
        out
    }

    /// The largest count and the unit of the histogram `name` of the gateway (service `mcptk`)
    /// at a point with `attrs` (metrics are cumulative: the last export has the most).
    fn histogram(&self, name: &str, attrs: &[(&str, &str)]) -> Option<(u64, String)> {
        let mut best: Option<(u64, String)> = None;
        for (metric, _) in self.metrics_named(name) {
            if let Some(Data::Histogram(h)) = &metric.data {
                for point in &h.data_points {
                    let have = attributes(&point.attributes);
                    if attrs.iter().all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v))
                        && best.as_ref().is_none_or(|(c, _)| point.count > *c)
                    {
                        best = Some((point.count, metric.unit.clone()));
                    }
                }
            }
        }
        best
    }

    /// The largest value of the counter `name` of the gateway at a point with `attrs`.
    fn counter(&self, name: &str, attrs: &[(&str, &str)]) -> Option<i64> {
        let mut best = None;
        for (metric, _) in self.metrics_named(name) {
            if let Some(Data::Sum(sum)) = &metric.data {
                for point in &sum.data_points {
                    let have = attributes(&point.attributes);
                    let value = match point.value {
                        Some(number_data_point::Value::AsInt(i)) => i,
                        Some(number_data_point::Value::AsDouble(d)) => d as i64,
                        None => 0,
                    };
                    if attrs.iter().all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v)) {
                        best = best.max(Some(value));
                    }
                }
            }
        }
        best
    }

    /// Every exported metric called `name` from the gateway (service `mcptk`).
    fn metrics_named(&self, name: &str) -> Vec<(opentelemetry_proto::tonic::metrics::v1::Metric, String)> {
        let mut out = Vec::new();
        for request in &self.lock().metrics {
            for resource in &request.resource_metrics {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                    .map(text)
                    .unwrap_or_default();
                if service != "mcptk" {
                    continue;
                }
                for scope in &resource.scope_metrics {
                    for metric in scope.metrics.iter().filter(|m| m.name == name) {
                        out.push((metric.clone(), service.clone()));
                    }
                }
            }
        }
        out
    }

    /// Everything received, as text (for looking for secrets).
    fn dump(&self) -> String {
        let received = self.lock();
        format!("{:?}{:?}", received.traces, received.metrics)
    }
}

fn otlp_key(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get("x-otlp-key").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn protobuf(body: Vec<u8>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], body)
}

/// A gateway process with the demo tools, the upstream server `up` (another `mcptk`, exporting
/// with `upstream_env`), a policy that denies `alice` the tool `add`, and `env` set.
struct Gateway {
    child: Child,
    url: String,
    stderr: PathBuf,
    audit: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    async fn start(env: &[(&str, &str)], upstream_env: Value) -> Gateway {
        mcp_core::transport::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp");
        let config = dir.path().join("gateway.json");
        let audit = dir.path().join("audit.jsonl");
        let stderr = dir.path().join("stderr.log");
        let policy = json!({"rules": [
            {"name": "no-add-for-alice", "effect": "deny", "principals": ["alice"], "servers": ["builtin"], "tools": ["add"]},
            {"name": "callers", "effect": "allow"}
        ]});
        let upstream = json!({"command": mcptk(), "args": ["serve", "builtin"], "env": upstream_env});
        let document = json!({
            "native": {"builtin": true},
            "audit": {"path": audit},
            "mcpServers": {"up": upstream},
            "policy": policy,
        });
        std::fs::write(&config, document.to_string()).expect("write");
        let addr = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(mcptk());
        command
            .args(["serve", "--config", &config.display().to_string(), "--http", &addr])
            .env_remove("MCPTK_HTTP_TOKEN")
            .env("MCPTK_HTTP_TOKENS", format!("alice={TOKEN}"))
            .env("MCPTK_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for name in OTEL_VARIABLES {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let gateway = Gateway {
            child: command.spawn().expect("starts"),
            url: format!("http://{addr}/mcp"),
            stderr,
            audit,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            assert!(Instant::now() < deadline, "the gateway did not start listening: {}", gateway.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        gateway
    }

    /// A modern `tools/call` of `tool` as alice, with `traceparent` in `_meta` or as a header.
    async fn call(&self, tool: &str, arguments: Value, traceparent: &str, in_header: bool) -> Value {
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        if !in_header {
            meta["traceparent"] = json!(traceparent);
            meta["tracestate"] = json!("mcptk-test=1");
        }
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta}});
        let mut request = crate::http::post_json(&self.url, &body)
            .bearer_auth(TOKEN)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool);
        if in_header {
            request = request.header("traceparent", traceparent);
        }
        request.send().await.expect("answers").json().await.expect("json")
    }

    /// Stops it as an orchestrator does (SIGTERM), which flushes what is batched (the receiver
    /// keeps answering meanwhile: this waits without blocking the runtime).
    async fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "the gateway did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn audit_trace_ids(&self) -> Vec<String> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|r| r["trace_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Variables of the test's own environment that must not leak into the processes under test.
const OTEL_VARIABLES: [&str; 8] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
];

/// Waits until `ready` holds for what the receiver got (export is asynchronous).
async fn until(receiver: &Receiver, what: &str, ready: impl Fn(&Receiver) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(receiver) {
        assert!(Instant::now() < deadline, "the receiver never got {what}; spans: {:#?}", receiver.spans());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn parts(traceparent: &str) -> (&str, &str) {
    (&traceparent[3..35], &traceparent[36..52])
}

async fn exports_over(protocol: &str) {
    let receiver = Receiver::default();
    let endpoint = receiver.start(protocol).await;
    let upstream_env = json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": "upstream",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    });
    let headers = format!("x-otlp-key={OTLP_KEY}");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
    ];
    let mut gateway = Gateway::start(&env, upstream_env).await;

    let upstream = gateway.call("up__echo", json!({"text": "hi"}), IN_META, false).await;
    assert_eq!(upstream["result"]["isError"], Value::Null, "{upstream}");
    let local = gateway.call("builtin__echo", json!({"text": "hi"}), IN_HEADER, true).await;
    assert_eq!(local["result"]["isError"], Value::Null, "{local}");
    let denied = gateway.call("builtin__add", json!({"a": 1, "b": 2}), DENIED, false).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    gateway.stop().await;

    let (meta_trace, meta_parent) = parts(IN_META);
    until(&receiver, "the upstream's span of the forwarded call", |r| {
        r.spans()
            .iter()
            .any(|s| s.service == "upstream" && s.trace_id == meta_trace && s.kind == SpanKind::Server as i32)
    })
    .await;
    let spans = receiver.spans();
    let find = |service: &str, name: &str, trace: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.name == name && s.trace_id == trace)
            .unwrap_or_else(|| panic!("no span `{name}` of {service} in trace {trace}: {spans:#?}"))
            .clone()
    };

    // The request: a server span under the client's span, named and attributed as the MCP
    // conventions say.
    let request = find("mcptk", "tools/call up__echo", meta_trace);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(request.parent, meta_parent, "the client's span is the parent");
    assert_eq!(request.attr("mcp.method.name"), "tools/call");
    assert_eq!(request.attr("gen_ai.tool.name"), "up__echo");
    assert_eq!(request.attr("gen_ai.operation.name"), "execute_tool");
    assert_eq!(request.attr("mcptk.outcome"), "ok");

    // The pipeline's call under it: server, tool, principal, outcome, the policy's decision.
    let call = find("mcptk", "execute_tool echo", meta_trace);
    assert_eq!(call.parent, request.span_id);
    assert_eq!(call.attr("mcptk.server"), "up");
    assert_eq!(call.attr("gen_ai.tool.name"), "echo");
    assert_eq!(call.attr("mcptk.principal"), "alice");
    assert_eq!(call.attr("mcptk.outcome"), "ok");
    assert_eq!(call.attr("mcptk.policy.decision"), "allow");
    assert_eq!(call.attr("mcptk.policy.rule"), "callers");
    assert!(call.attr("mcptk.duration_ms").parse::<f64>().is_ok(), "{call:?}");

    // The call to the upstream server, a client span, is the parent of the upstream's own span:
    // the context went along in `_meta`.
    let client = spans
        .iter()
        .find(|s| s.service == "mcptk" && s.kind == SpanKind::Client as i32 && s.trace_id == meta_trace)
        .unwrap_or_else(|| panic!("no client span in {meta_trace}: {spans:#?}"));
    assert_eq!(client.name, "tools/call echo");
    assert_eq!(client.attr("mcptk.server"), "up");
    let served = find("upstream", "tools/call echo", meta_trace);
    assert_eq!(served.kind, SpanKind::Server as i32);
    assert_eq!(served.parent, client.span_id, "the upstream's span is a child of the gateway's call");

    // A context given as an HTTP header counts the same.
    let (header_trace, header_parent) = parts(IN_HEADER);
    let by_header = find("mcptk", "tools/call builtin__echo", header_trace);
    assert_eq!(by_header.parent, header_parent);
    assert_eq!(find("mcptk", "execute_tool echo", header_trace).attr("mcptk.server"), "builtin");

    // A denied call names the rule that refused it, and is an error.
    let (denied_trace, _) = parts(DENIED);
    let refused = find("mcptk", "execute_tool add", denied_trace);
    assert_eq!(refused.attr("mcptk.outcome"), "denied");
    assert_eq!(refused.attr("mcptk.policy.decision"), "deny");
    assert_eq!(refused.attr("mcptk.policy.rule"), "no-add-for-alice");
    assert_eq!(refused.attr("error.type"), "denied");
    assert_eq!(refused.status, StatusCode::Error as i32);

    // The audit records name the traces the operator finds in the tracing backend.
    let audited = gateway.audit_trace_ids();
    for trace in [meta_trace, header_trace, denied_trace] {
        assert!(audited.iter().any(|t| t == trace), "{trace} not in the audit log: {audited:?}");
    }

    // Metrics: the seed's `mcp.tool.duration` histogram (seconds), calls and failures.
    until(&receiver, "the tool metrics", |r| r.histogram("mcp.tool.duration", &[("server", "up")]).is_some()).await;
    let (count, unit) = receiver.histogram("mcp.tool.duration", &[("server", "up"), ("tool", "echo")]).expect("up");
    assert_eq!((count, unit.as_str()), (1, "s"));
    let (count, _) = receiver.histogram("mcp.tool.duration", &[("server", "builtin"), ("tool", "echo")]).expect("b");
    assert_eq!(count, 1);
    let ok = [("server", "builtin"), ("tool", "echo"), ("outcome", "ok")];
    assert_eq!(receiver.counter("mcp.tool.calls", &ok), Some(1));
    let refusals = [("server", "builtin"), ("tool", "add"), ("outcome", "denied")];
    assert_eq!(receiver.counter("mcp.tool.calls", &refusals), Some(1));
    assert_eq!(receiver.counter("mcp.tool.errors", &refusals), Some(1));
    assert!(receiver.histogram("mcp.audit.append.duration", &[]).is_some_and(|(c, _)| c >= 3), "audit latency");

    // The OTLP headers were sent, and no secret is in what was exported or logged.
    assert!(receiver.lock().keys.iter().any(|k| k == OTLP_KEY), "the configured OTLP header reached the receiver");
    let exported = receiver.dump();
    let log = gateway.log();
    for secret in [TOKEN, OTLP_KEY] {
        assert!(!exported.contains(secret), "{secret} was exported");
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}

#[tokio::test]
async fn the_gateway_exports_traces_and_metrics_over_otlp_http() {
    exports_over("http/protobuf").await;
}

#[tokio::test]
async fn the_gateway_exports_traces_and_metrics_over_otlp_grpc() {
    exports_over("grpc").await;
}

/// With no `OTEL_*` variables nothing is exported and calls work as before; the client's
/// context is still passed on to the upstream server unchanged (the upstream alone exports).
#[tokio::test]
async fn without_otel_variables_nothing_is_exported_and_the_context_is_passed_on() {
    let receiver = Receiver::default();
    let endpoint = receiver.start("http/protobuf").await;
    let upstream_env = json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "upstream",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    });
    let mut gateway = Gateway::start(&[], upstream_env).await;
    let answer = gateway.call("up__echo", json!({"text": "hi"}), IN_META, false).await;
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
    let local = gateway.call("builtin__echo", json!({"text": "hi"}), IN_HEADER, true).await;
    assert_eq!(local["result"]["content"][0]["text"], "hi", "{local}");
    gateway.stop().await;

    let (trace, parent) = parts(IN_META);
    until(&receiver, "the upstream's span", |r| r.spans().iter().any(|s| s.name == "tools/call echo")).await;
    let spans = receiver.spans();
    assert!(spans.iter().all(|s| s.service == "upstream"), "the gateway exported: {spans:#?}");
    assert!(receiver.metrics_named("mcp.tool.calls").is_empty(), "the gateway exported metrics");
    let served = spans
        .iter()
        .find(|s| s.name == "tools/call echo")
        .unwrap_or_else(|| panic!("no span of the upstream's call: {spans:#?}"));
    assert_eq!((served.trace_id.as_str(), served.parent.as_str()), (trace, parent), "passed on unchanged");
    assert!(gateway.audit_trace_ids().iter().any(|t| t == trace), "the audit names the client's trace");
}

/// A wrong protocol is refused at start, naming the variable.
#[test]
fn a_wrong_protocol_is_named() {
    let out = Command::new(mcptk())
        .args(["serve", "builtin"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && stderr.contains("grpc"), "{stderr}");
}

/// `mcptk agent`: the loop's spans and the tool calls it makes through the gateway's pipeline are
/// one trace. The model is a local endpoint that answers like the OpenAI API (the scripted fake
/// of `mcp-openai`: no live model can run here).
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_loop_and_its_tool_calls_are_one_trace() {
    use mcp_openai::fake::{FakeModel, Reply};
    let receiver = Receiver::default();
    let endpoint = receiver.start("http/protobuf").await;
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("gateway.json");
    let document = json!({
        "native": {"builtin": true},
        "audit": {"path": dir.path().join("audit.jsonl")},
        "agent": {"model": "fake-model", "api_key": "${OPENAI_API_KEY}", "max_turns": 3},
    });
    std::fs::write(&config, document.to_string()).expect("write");
    let fake = FakeModel::start([Reply::calls([("builtin__add", json!({"a": 40, "b": 2}))]), Reply::text("42.")])
        .await
        .expect("fake");
    let mut command = tokio::process::Command::new(mcptk());
    command
        .args(["agent", "--config", &config.display().to_string(), "--base-url", &fake.base_url, "--json", "Add"])
        .env("OPENAI_API_KEY", "sk-otel-agent-test")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in OTEL_VARIABLES.iter().skip(1) {
        command.env_remove(name);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("mcptk agent finishes")
        .expect("output");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    until(&receiver, "the tool call's span", |r| r.spans().iter().any(|s| s.name == "execute_tool add")).await;
    let spans = receiver.spans();
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let agent = spans.iter().find(|s| s.name == "agent").unwrap_or_else(|| panic!("no agent span: {spans:#?}"));
    let call = spans.iter().find(|s| s.name == "execute_tool add").expect("the call");
    assert_eq!(call.trace_id, agent.trace_id, "one trace");
    assert_eq!(call.attr("mcptk.outcome"), "ok");
    // From the tool call up to the agent: the loop's `function` span, whose call it is.
    let mut ancestors = Vec::new();
    let mut at = call;
    while let Some(parent) = by_id.get(at.parent.as_str()) {
        ancestors.push(parent.name.as_str());
        at = parent;
    }
    assert_eq!(ancestors, ["function", "agent"]);
    assert_eq!(by_id[call.parent.as_str()].attr("name"), "builtin__add");
    for name in ["turn", "generation"] {
        assert!(spans.iter().any(|s| s.name == name && s.trace_id == agent.trace_id), "no {name} span: {spans:#?}");
    }
}
