//! A FAKE Kubernetes API server for the tests: no real API server can run here.
//!
//! It is not Kubernetes. It follows the API conventions for the parts the tools use, so that
//! client-go (inside the real Go server) and kube-rs (inside ours) both accept it: legacy
//! discovery (`/api`, `/apis`, resource lists), list/get/create/server-side apply/merge patch/
//! update/delete of namespaced and cluster-scoped objects, `resourceVersion` (bumped on every
//! write, checked on update), label and field selectors, lists in pages (`limit`, `continue`,
//! `remainingItemCount` when no selector is given), `Status` objects for errors (400, 401,
//! 404, 409, 422 with their reasons), the pod `log` subresource (`tailLines`, `previous`,
//! `container`), pod `exec` over a websocket (see below), the `scale` subresource of
//! Deployments, the kubelet's `logs` and `stats/summary` through the node proxy,
//! `SelfSubjectAccessReview` (always allowed) and the metrics API for `pods_top`/`nodes_top`.
//! It speaks HTTPS only, with a CA of its own, because client-go sends a kubeconfig's bearer
//! token only over TLS. Objects are kept in memory; every
//! clock value is fixed so that answers are reproducible.
//!
//! The agreement tests run the real Go server and our native one against two fakes with the
//! same seed and compare what they answer: that is the check that this fake is faithful enough.
//!
//! `exec` stands in for a kubelet and a container runtime: it really runs the requested command
//! on this machine, as an argv (never through a shell), in a scratch directory of its own per
//! pod (`FakeApi::scratch_dir`), with a cleared environment (`PATH`, `HOME`, `HOSTNAME` and the
//! container's literal `env`), no stdin, in a process group of its own that is killed after a
//! timeout (`FakeApi::set_exec_timeout`, 10 s by default), after [`EXEC_OUTPUT_CAP`] bytes of
//! output, or when the client goes away. Its stdout and stderr are streamed on channels 1 and 2
//! as they come, and its end on channel 3 as a `Status` (`Success`; `Failure` with reason
//! `NonZeroExitCode` and the code in `details.causes`, 137 for a killed command, as a runtime
//! reports SIGKILL; `InternalError` when it cannot be started). It is only ever started by the
//! tests, on a loopback port, for a client holding the fake's token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The one time every object was created at.
pub const CREATED: &str = "2026-01-01T00:00:00Z";

/// The most bytes of output (stdout and stderr together) one `exec` forwards before the fake
/// kills the command.
pub const EXEC_OUTPUT_CAP: usize = 8 * 1024 * 1024;

/// The websocket subprotocols of `exec`, in the order the fake prefers them (as the API server).
pub const EXEC_PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// One kind the fake serves.
#[derive(Clone, Copy)]
struct Kind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    /// Field labels its field selectors accept, besides `metadata.name` and `metadata.namespace`.
    fields: &'static [&'static str],
}

const KINDS: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
        fields: &["status.phase"],
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        namespaced: false,
        fields: &["spec.unschedulable"],
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        namespaced: true,
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
        ],
    },
    Kind {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        namespaced: true,
        fields: &[
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "source",
            "type",
        ],
    },
    Kind { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, fields: &[] },
    Kind { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true, fields: &["type"] },
    Kind { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, fields: &[] },
    Kind { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true, fields: &[] },
];

/// A request the fake saw: what the tests check credentials and verbs against.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub content_type: String,
    /// For `exec` (method `EXEC`): the subprotocols the client offered, and the one chosen.
    pub protocols: (String, String),
}

/// A container's name, CPU (millicores) and memory (MiB).
type ContainerUsage = (String, u64, u64);

#[derive(Default)]
struct State {
    /// Objects by (apiVersion, plural, namespace, name).
    objects: BTreeMap<(String, String, String, String), Value>,
    /// Pod logs by (namespace, pod, container, previous).
    logs: BTreeMap<(String, String, String, bool), String>,
    /// CPU (millicores) and memory (MiB) per pod container, by (namespace, pod).
    pod_metrics: BTreeMap<(String, String), Vec<ContainerUsage>>,
    resource_version: u64,
    uid: u64,
    seen: Vec<Seen>,
    /// The `exec` subprotocols the fake accepts, preferred first.
    exec_protocols: Vec<&'static str>,
    /// How long an `exec` command may run before it is killed.
    exec_timeout: Duration,
    /// `exec` commands running now.
    running_execs: usize,
}

/// The fake API server, listening with TLS on a loopback port until dropped. client-go sends a
/// kubeconfig's credentials only over TLS, so the fake speaks HTTPS with a certificate of its own
/// (a fresh CA per fake, a leaf for `127.0.0.1`).
pub struct FakeApi {
    pub addr: SocketAddr,
    ca_pem: String,
    token: String,
    state: Arc<Mutex<State>>,
    /// Where `exec` commands run: one directory per pod.
    scratch: Arc<tempfile::TempDir>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// A fake with the standard seed, accepting only `token` as a bearer token.
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            exec_protocols: EXEC_PROTOCOLS.to_vec(),
            exec_timeout: Duration::from_secs(10),
            ..State::default()
        }));
        seed(&mut lock(&state));
        let scratch = Arc::new(tempfile::tempdir().expect("a scratch directory for exec"));
        let exec_scratch = scratch.clone();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake API server");
        let addr = tcp.local_addr().expect("address");
        let (acceptor, ca_pem) = tls("fake-kubernetes-ca");
        let listener = TlsListener { tcp, acceptor };
        let shared = state.clone();
        let expected = format!("Bearer {token}");
        let exec_state = state.clone();
        let exec_expected = format!("Bearer {token}");
        let app = axum::Router::new()
            .route(
                "/api/v1/namespaces/{namespace}/pods/{name}/exec",
                axum::routing::any(
                    move |path: axum::extract::Path<(String, String)>,
                          uri: Uri,
                          headers: HeaderMap,
                          ws: Result<
                        axum::extract::WebSocketUpgrade,
                        axum::extract::ws::rejection::WebSocketUpgradeRejection,
                    >| {
                        let state = exec_state.clone();
                        let expected = exec_expected.clone();
                        let scratch = exec_scratch.clone();
                        async move { exec(&state, &expected, scratch.path(), path.0, uri, headers, ws) }
                    },
                ),
            )
            .fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                let expected = expected.clone();
                async move { handle(&state, &expected, method, uri, headers, body) }
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, ca_pem, token: token.to_owned(), state, scratch, task }
    }

    /// The directory `exec` runs the commands of `pod` in (created by its first `exec`).
    pub fn scratch_dir(&self, namespace: &str, pod: &str) -> PathBuf {
        self.scratch.path().join(namespace).join(pod)
    }

    /// How long an `exec` command may run before the fake kills it.
    pub fn set_exec_timeout(&self, timeout: Duration) {
        lock(&self.state).exec_timeout = timeout;
    }

    /// The `exec` subprotocols the fake accepts, preferred first (both by default).
    pub fn set_exec_protocols(&self, protocols: &[&'static str]) {
        lock(&self.state).exec_protocols = protocols.to_vec();
    }

    /// How many `exec` commands are running now.
    pub fn running_execs(&self) -> usize {
        lock(&self.state).running_execs
    }

    /// The server URL for a kubeconfig.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig for this fake with the bearer token, `default` as the namespace; `extra`
    /// adds a second context (`other`, namespace `kube-system`) on the same cluster.
    pub fn kubeconfig(&self, two_contexts: bool) -> String {
        let mut contexts =
            "- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: default\n".to_owned();
        if two_contexts {
            contexts.push_str(
                "- name: other\n  context:\n    cluster: fake\n    user: tester\n    namespace: kube-system\n",
            );
        }
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    certificate-authority-data: {}\n    server: {}\nusers:\n- name: tester\n  user:\n    token: {}\ncontexts:\n{contexts}current-context: fake\n",
            base64(self.ca_pem.as_bytes()),
            self.url(),
            self.token
        )
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// Stores `object` as if it had been created (for tests that need many).
    pub fn insert(&self, object: Value) {
        insert(&mut lock(&self.state), object);
    }

    /// The stored object, if any.
    pub fn object(&self, api_version: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        lock(&self.state).objects.get(&(api_version.into(), plural.into(), namespace.into(), name.into())).cloned()
    }
}

/// A CA named `ca_name` and a server certificate for 127.0.0.1 signed by it: the acceptor, and
/// the CA in PEM.
pub fn tls(ca_name: &str) -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("a server key");
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("server parameters");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("the server certificate");
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("a DER key");
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
            .expect("the server configuration");
    (tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)), ca.pem())
}

/// TCP with TLS on each accepted connection, as an axum listener.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else { continue };
            if let Ok(Ok(tls)) =
                tokio::time::timeout(std::time::Duration::from_secs(5), self.acceptor.accept(stream)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The seed: namespaces, a node, pods with logs and metrics, a deployment, a config map, a
/// secret and events.
fn seed(state: &mut State) {
    for ns in ["default", "kube-system", "team-a"] {
        insert(
            state,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
    }
    insert(
        state,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/worker": ""}},
               "spec": {}, "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "3800m", "memory": "7Gi"}, "nodeInfo": {"kubeletVersion": "v1.34.0"}}}),
    );
    let pod = |ns: &str, name: &str, app: &str, phase: &str, containers: &[&str]| {
        let containers: Vec<Value> =
            containers.iter().map(|c| json!({"name": c, "image": format!("registry.example/{c}:1")})).collect();
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "labels": {"app": app, "tier": "web"}},
               "spec": {"containers": containers, "nodeName": "node-1", "restartPolicy": "Always"},
               "status": {"phase": phase, "podIP": "10.0.0.7"}})
    };
    insert(state, pod("default", "web-1", "web", "Running", &["web"]));
    insert(state, pod("default", "web-2", "web", "Pending", &["web"]));
    insert(state, pod("team-a", "api-1", "api", "Running", &["api", "sidecar"]));
    insert(state, pod("kube-system", "dns-1", "dns", "Running", &["dns"]));
    let lines: String = (1..=150).map(|i| format!("web-1 line {i}\n")).collect();
    state.logs.insert(("default".into(), "web-1".into(), "web".into(), false), lines);
    state.logs.insert(("default".into(), "web-1".into(), "web".into(), true), "web-1 crashed: out of memory\n".into());
    state.logs.insert(("team-a".into(), "api-1".into(), "api".into(), false), "api ready\n".into());
    state.logs.insert(("team-a".into(), "api-1".into(), "sidecar".into(), false), "sidecar ready\n".into());
    // 12 MiB: more than one call returns.
    let chatty: String = (1..=120_000).map(|i| format!("dns-1 line {i:06} {}\n", "q".repeat(86))).collect();
    state.logs.insert(("kube-system".into(), "dns-1".into(), "dns".into(), false), chatty);
    state.pod_metrics.insert(("default".into(), "web-1".into()), vec![("web".into(), 12, 64)]);
    state.pod_metrics.insert(("default".into(), "web-2".into()), vec![("web".into(), 3, 20)]);
    state
        .pod_metrics
        .insert(("team-a".into(), "api-1".into()), vec![("api".into(), 250, 300), ("sidecar".into(), 5, 16)]);
    state.pod_metrics.insert(("kube-system".into(), "dns-1".into()), vec![("dns".into(), 7, 30)]);
    insert(
        state,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}}},
               "status": {"replicas": 2}}),
    );
    insert(
        state,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"mode": "fast"}}),
    );
    insert(
        state,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-password", "namespace": "default"}, "type": "Opaque",
               "data": {"password": "c3VwZXItc2VjcmV0LXZhbHVl"}}),
    );
    let event = |name: &str, ns: &str, kind: &str, obj: &str, kind_of: &str, reason: &str, message: &str| {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
               "involvedObject": {"apiVersion": "v1", "kind": kind, "name": obj, "namespace": ns},
               "type": kind_of, "reason": reason, "message": message, "count": 1,
               "firstTimestamp": CREATED, "lastTimestamp": CREATED})
    };
    insert(state, event("web-1.1", "default", "Pod", "web-1", "Normal", "Started", "Started container web"));
    insert(
        state,
        event("web-2.1", "default", "Pod", "web-2", "Warning", "FailedScheduling", "0/1 nodes are available  "),
    );
    insert(
        state,
        event("api-1.1", "team-a", "Pod", "api-1", "Warning", "BackOff", "Back-off restarting failed container"),
    );
}

fn kind_by_plural(api_version: &str, plural: &str) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.api_version() == api_version && k.plural == plural)
}

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_owned() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// Stores a seed object, filling in its metadata.
fn insert(state: &mut State, mut object: Value) {
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = KINDS.iter().find(|k| k.api_version() == api_version && k.kind == object["kind"]).copied();
    let Some(kind) = kind else { return };
    stamp(state, &mut object);
    let key = key(&kind, &object);
    state.objects.insert(key, object);
}

fn key(kind: &Kind, object: &Value) -> (String, String, String, String) {
    let meta = &object["metadata"];
    (
        kind.api_version(),
        kind.plural.to_owned(),
        meta["namespace"].as_str().unwrap_or_default().to_owned(),
        meta["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Gives a new object its uid, creation time and resourceVersion.
fn stamp(state: &mut State, object: &mut Value) {
    state.uid += 1;
    state.resource_version += 1;
    let meta = &mut object["metadata"];
    meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", state.uid));
    meta["creationTimestamp"] = json!(CREATED);
    meta["resourceVersion"] = json!(state.resource_version.to_string());
}

/// A `Status` error as the API server sends one.
fn status(code: u16, reason: &str, message: String, details: Value) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                      "reason": reason, "details": details, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn not_found(kind: &Kind, name: &str) -> Response {
    status(404, "NotFound", format!("{} \"{name}\" not found", kind.plural), json!({"name": name, "kind": kind.plural}))
}

fn handle(state: &Mutex<State>, expected: &str, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let path_and_query = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    lock(state).seen.push(Seen {
        method: method.to_string(),
        path_and_query,
        content_type: content_type.clone(),
        protocols: Default::default(),
    });
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected) {
        return status(401, "Unauthorized", "Unauthorized".into(), json!({}));
    }
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| q.split('&').filter_map(|pair| pair.split_once('=').map(|(k, v)| (decode(k), decode(v)))).collect())
        .unwrap_or_default();
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => {
            json_response(json!({"major": "1", "minor": "34", "gitVersion": "v1.34.0-fake", "platform": "linux/amd64"}))
        }
        ["api"] => json_response(json!({"kind": "APIVersions", "versions": ["v1"],
                                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        ["apis"] => json_response(group_list()),
        ["api", "v1"] => json_response(resource_list("v1")),
        ["apis", group, version] => {
            let gv = format!("{group}/{version}");
            if gv == "authorization.k8s.io/v1"
                || gv == "metrics.k8s.io/v1beta1"
                || KINDS.iter().any(|k| k.api_version() == gv)
            {
                json_response(resource_list(&gv))
            } else {
                status(404, "NotFound", "the server could not find the requested resource".into(), json!({}))
            }
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] if method == Method::POST => {
            let mut review: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
            review["status"] = json!({"allowed": true});
            (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], review.to_string()).into_response()
        }
        ["apis", "metrics.k8s.io", "v1beta1", rest @ ..] => metrics(state, rest, &query),
        ["api", "v1", rest @ ..] => resource(state, "v1", rest, method, &query, (&content_type, &accept), &body),
        ["apis", group, version, rest @ ..] => {
            resource(state, &format!("{group}/{version}"), rest, method, &query, (&content_type, &accept), &body)
        }
        _ => status(404, "NotFound", "the server could not find the requested resource".into(), json!({})),
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn group_list() -> Value {
    let mut groups = vec![];
    for (name, version) in [("apps", "v1"), ("authorization.k8s.io", "v1"), ("metrics.k8s.io", "v1beta1")] {
        let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
        groups.push(json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(gv: &str) -> Value {
    let verbs = json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
    let mut resources = vec![];
    for kind in KINDS.iter().filter(|k| k.api_version() == gv) {
        let singular = kind.kind.to_lowercase();
        resources.push(json!({"name": kind.plural, "singularName": singular, "namespaced": kind.namespaced, "kind": kind.kind, "verbs": verbs}));
        if kind.kind == "Pod" {
            resources.push(
                json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}),
            );
        }
        if kind.kind == "Deployment" {
            resources.push(
                json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling",
                                   "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    if gv == "authorization.k8s.io/v1" {
        resources.push(
            json!({"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false,
                              "kind": "SelfSubjectAccessReview", "verbs": ["create"]}),
        );
    }
    if gv == "metrics.k8s.io/v1beta1" {
        resources.push(json!({"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]}));
        resources.push(json!({"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]}));
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// The metrics API: pod metrics from the seeded table, node metrics as their sum.
fn metrics(state: &Mutex<State>, rest: &[&str], query: &BTreeMap<String, String>) -> Response {
    let state = lock(state);
    let window = json!("30s");
    let pod_metrics = |ns: &str, name: &str, containers: &[(String, u64, u64)]| {
        let containers: Vec<Value> = containers
            .iter()
            .map(|(c, cpu, mem)| json!({"name": c, "usage": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi")}}))
            .collect();
        json!({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
               "metadata": {"name": name, "namespace": ns, "creationTimestamp": CREATED},
               "timestamp": CREATED, "window": window, "containers": containers})
    };
    let pods_in = |ns: Option<&str>| -> Vec<Value> {
        let selector = query.get("labelSelector").map(String::as_str).unwrap_or_default();
        state
            .pod_metrics
            .iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .filter(|((n, p), _)| {
                let pod = state.objects.get(&("v1".into(), "pods".into(), n.clone(), p.clone()));
                pod.is_some_and(|pod| labels_match(selector, &pod["metadata"]["labels"]).unwrap_or(false))
            })
            .map(|((n, p), c)| pod_metrics(n, p, c))
            .collect()
    };
    match rest {
        ["pods"] => json_response(
            json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": pods_in(None)}),
        ),
        ["namespaces", ns, "pods"] => json_response(
            json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": pods_in(Some(ns))}),
        ),
        ["namespaces", ns, "pods", name] => match state.pod_metrics.get(&((*ns).to_owned(), (*name).to_owned())) {
            Some(c) => json_response(pod_metrics(ns, name, c)),
            None => status(
                404,
                "NotFound",
                format!("podmetrics.metrics.k8s.io \"{name}\" not found"),
                json!({"name": name, "group": "metrics.k8s.io", "kind": "pods"}),
            ),
        },
        ["nodes", ..] => {
            let (cpu, mem) =
                state.pod_metrics.values().flatten().fold((0, 0), |(c, m), (_, cpu, mem)| (c + cpu, m + mem));
            let node = json!({"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                              "metadata": {"name": "node-1", "creationTimestamp": CREATED, "labels": {"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/worker": ""}},
                              "timestamp": CREATED, "window": window, "usage": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi")}});
            if rest.len() == 2 {
                if rest[1] == "node-1" {
                    json_response(node)
                } else {
                    status(404, "NotFound", format!("nodemetrics.metrics.k8s.io \"{}\" not found", rest[1]), json!({}))
                }
            } else {
                json_response(
                    json!({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [node]}),
                )
            }
        }
        _ => status(404, "NotFound", "the server could not find the requested resource".into(), json!({})),
    }
}

/// Everything under `/api/v1` and `/apis/{group}/{version}` that names a resource.
fn resource(
    state: &Mutex<State>,
    gv: &str,
    rest: &[&str],
    method: Method,
    query: &BTreeMap<String, String>,
    (content_type, accept): (&str, &str),
    body: &[u8],
) -> Response {
    let (namespace, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] => (*ns, *plural, tail.first().copied(), tail.get(1).copied()),
        [plural, tail @ ..] => ("", *plural, tail.first().copied(), tail.get(1).copied()),
        [] => return status(404, "NotFound", "the server could not find the requested resource".into(), json!({})),
    };
    let Some(kind) = kind_by_plural(gv, plural) else {
        return status(404, "NotFound", "the server could not find the requested resource".into(), json!({}));
    };
    let namespace = if kind.namespaced { namespace } else { "" };
    let mut state = lock(state);
    if kind.kind == "Node" && sub == Some("proxy") && method == Method::GET {
        let node = name.unwrap_or_default();
        return node_proxy(&state, node, &rest[3..], query);
    }
    let dry_run = query.get("dryRun").is_some_and(|d| d == "All");
    match (method, name, sub) {
        (Method::GET, None, None) if accept.contains("as=Table") => table(&state, &kind, namespace, query),
        (Method::GET, None, None) => list(&state, &kind, namespace, query),
        (Method::GET, Some(name), None) => {
            match state.objects.get(&(gv.into(), plural.into(), namespace.into(), name.into())) {
                Some(object) => json_response(object.clone()),
                None => not_found(&kind, name),
            }
        }
        (Method::GET, Some(name), Some("log")) if kind.kind == "Pod" => log(&state, namespace, name, query),
        (Method::GET | Method::PUT, Some(name), Some("scale")) if kind.kind == "Deployment" => {
            scale(&mut state, &kind, namespace, name, body)
        }
        (Method::POST, None, None) => {
            let Ok(object) = serde_json::from_slice::<Value>(body) else {
                return status(400, "BadRequest", "the body of the request was not valid JSON".into(), json!({}));
            };
            create(&mut state, &kind, namespace, object, dry_run)
        }
        (Method::PATCH, Some(name), None) if content_type.starts_with("application/apply-patch") => {
            if query.get("fieldManager").is_none_or(String::is_empty) {
                return status(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(), json!({}));
            }
            let object: Value = match serde_yaml::from_slice(body) {
                Ok(object) => object,
                Err(e) => return status(400, "BadRequest", format!("error decoding YAML: {e}"), json!({})),
            };
            apply(&mut state, &kind, namespace, name, object, dry_run)
        }
        (Method::PATCH, Some(name), None) => {
            let Ok(patch) = serde_json::from_slice::<Value>(body) else {
                return status(400, "BadRequest", "the body of the request was not valid JSON".into(), json!({}));
            };
            let key = (gv.to_owned(), plural.to_owned(), namespace.to_owned(), name.to_owned());
            let Some(mut object) = state.objects.get(&key).cloned() else { return not_found(&kind, name) };
            merge(&mut object, &patch);
            if let Err(r) = validate(&kind, &object) {
                return r;
            }
            bump(&mut state, &mut object);
            if !dry_run {
                state.objects.insert(key, object.clone());
            }
            json_response(object)
        }
        (Method::PUT, Some(name), None) => {
            let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
                return status(400, "BadRequest", "the body of the request was not valid JSON".into(), json!({}));
            };
            let key = (gv.to_owned(), plural.to_owned(), namespace.to_owned(), name.to_owned());
            let Some(current) = state.objects.get(&key).cloned() else { return not_found(&kind, name) };
            let sent = object["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_owned();
            if sent != current["metadata"]["resourceVersion"].as_str().unwrap_or_default() {
                return status(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                        kind.plural
                    ),
                    json!({"name": name, "kind": kind.plural}),
                );
            }
            if let Err(r) = validate(&kind, &object) {
                return r;
            }
            object["metadata"]["uid"] = current["metadata"]["uid"].clone();
            object["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"].clone();
            bump(&mut state, &mut object);
            if !dry_run {
                state.objects.insert(key, object.clone());
            }
            json_response(object)
        }
        (Method::DELETE, Some(name), None) => {
            let key = (gv.to_owned(), plural.to_owned(), namespace.to_owned(), name.to_owned());
            if !state.objects.contains_key(&key) {
                return not_found(&kind, name);
            }
            if dry_run {
                return json_response(state.objects[&key].clone());
            }
            let object = state.objects.remove(&key).unwrap_or_default();
            if kind.kind == "Namespace" {
                state.objects.retain(|(_, _, ns, _), _| ns != name);
            }
            json_response(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                 "details": {"name": name, "kind": kind.plural, "uid": object["metadata"]["uid"]}}))
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            json!({}),
        ),
    }
}

/// `exec` over a websocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): each message is a
/// channel byte (1 stdout, 2 stderr, 3 the final `Status`) and data. The pod and the container
/// are checked first, as the API server does, with its `Status` errors (which a client that
/// falls back from websockets to SPDY, as client-go does, gets again on its `POST`); then the
/// command runs for real (see the module's documentation).
fn exec(
    state: &Arc<Mutex<State>>,
    expected: &str,
    scratch: &Path,
    (namespace, name): (String, String),
    uri: Uri,
    headers: HeaderMap,
    ws: Result<axum::extract::WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let path_and_query = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let (chosen, timeout) = {
        let state = lock(state);
        let chosen = state.exec_protocols.iter().copied().find(|p| offered.iter().any(|o| o == p));
        (chosen, state.exec_timeout)
    };
    lock(state).seen.push(Seen {
        method: "EXEC".into(),
        path_and_query,
        content_type: String::new(),
        protocols: (offered.join(", "), chosen.unwrap_or_default().to_owned()),
    });
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected) {
        return status(401, "Unauthorized", "Unauthorized".into(), json!({}));
    }
    let pairs: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(k, v)| (decode(k), decode(v))))
        .collect();
    let argv: Vec<String> = pairs.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
    let container = pairs.iter().find(|(k, _)| k == "container").map(|(_, v)| v.clone());
    let env = {
        let state = lock(state);
        let Some(pod) = state.objects.get(&("v1".into(), "pods".into(), namespace.clone(), name.clone())) else {
            return status(
                404,
                "NotFound",
                format!("pods \"{name}\" not found"),
                json!({"name": name, "kind": "pods"}),
            );
        };
        let containers: Vec<&Value> = pod["spec"]["containers"].as_array().into_iter().flatten().collect();
        let names: Vec<&str> = containers.iter().filter_map(|c| c["name"].as_str()).collect();
        let chosen_container = match &container {
            Some(c) => c.clone(),
            None if names.len() == 1 => names[0].to_owned(),
            None => {
                return status(
                    400,
                    "BadRequest",
                    format!("a container name must be specified for pod {name}, choose one of: [{}]", names.join(" ")),
                    json!({}),
                );
            }
        };
        let Some(spec) = containers.iter().find(|c| c["name"] == chosen_container.as_str()) else {
            return status(
                400,
                "BadRequest",
                format!("container {chosen_container} is not valid for pod {name}"),
                json!({}),
            );
        };
        // The container's literal environment, after the runtime's own variables.
        let mut env = vec![
            ("PATH".to_owned(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
            ("HOSTNAME".to_owned(), name.clone()),
        ];
        for variable in spec["env"].as_array().into_iter().flatten() {
            if let (Some(k), Some(v)) = (variable["name"].as_str(), variable["value"].as_str()) {
                env.push((k.to_owned(), v.to_owned()));
            }
        }
        env
    };
    if argv.is_empty() {
        return status(400, "BadRequest", "you must specify at least one command for the container".into(), json!({}));
    }
    let Ok(ws) = ws else {
        return status(
            400,
            "BadRequest",
            "the fake API server serves exec over websockets only (v5.channel.k8s.io, v4.channel.k8s.io)".into(),
            json!({}),
        );
    };
    // The scratch directory is named after the pod: only names that stay inside it.
    let plain = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    if !plain(&namespace) || !plain(&name) {
        return status(400, "BadRequest", format!("invalid pod name {namespace}/{name}"), json!({}));
    }
    let dir = scratch.join(&namespace).join(&name);
    let run = ExecRun { argv, dir, env, timeout, state: state.clone() };
    let ws = match chosen {
        Some(protocol) => ws.protocols([protocol]),
        None => ws,
    };
    ws.on_upgrade(move |socket| run_exec(socket, run))
}

/// One `exec` command to run.
struct ExecRun {
    argv: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    state: Arc<Mutex<State>>,
}

fn frame(channel: u8, data: &[u8]) -> axum::extract::ws::Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    axum::extract::ws::Message::Binary(bytes.into())
}

/// Runs the command and streams it over `socket`, then sends its `Status` and closes.
async fn run_exec(mut socket: axum::extract::ws::WebSocket, run: ExecRun) {
    use axum::extract::ws::Message;
    let deadline = tokio::time::Instant::now() + run.timeout;
    let _ = std::fs::create_dir_all(&run.dir);
    let mut command = tokio::process::Command::new(&run.argv[0]);
    command
        .args(&run.argv[1..])
        .current_dir(&run.dir)
        .env_clear()
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HOME", &run.dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let code = match command.spawn() {
        Err(e) => Err(match e.kind() {
            std::io::ErrorKind::NotFound => format!("exec: \"{}\": executable file not found in $PATH", run.argv[0]),
            std::io::ErrorKind::PermissionDenied => format!("exec: \"{}\": permission denied", run.argv[0]),
            _ => format!("exec: \"{}\": {e}", run.argv[0]),
        }),
        Ok(mut child) => {
            lock(&run.state).running_execs += 1;
            let code = supervise(&mut socket, &mut child, deadline).await;
            // Whatever the command left behind in its group goes with it.
            if let Some(id) = child.id().and_then(|id| i32::try_from(id).ok()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(id), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait().await;
            lock(&run.state).running_execs -= 1;
            match code {
                Some(code) => Ok(code),
                None => return, // the client went away
            }
        }
    };
    let status = match code {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({"metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", run.argv.join(" ")),
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}}),
        Err(cause) => {
            let cause = format!(
                "error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: {cause}: unknown"
            );
            json!({"metadata": {}, "status": "Failure", "message": format!("Internal error occurred: {cause}"),
                   "reason": "InternalError", "details": {"causes": [{"message": cause}]}, "code": 500})
        }
    };
    let _ = socket.send(frame(3, status.to_string().as_bytes())).await;
    let normal = axum::extract::ws::CloseFrame { code: 1000, reason: "".into() };
    let _ = socket.send(Message::Close(Some(normal))).await;
}

/// Forwards the child's output until it ends, and waits for it: its exit code (128 + the
/// signal when killed; 137 when the fake killed it at the deadline or the output cap), or
/// `None` when the client went away.
async fn supervise(
    socket: &mut axum::extract::ws::WebSocket,
    child: &mut tokio::process::Child,
    deadline: tokio::time::Instant,
) -> Option<i32> {
    use axum::extract::ws::Message;
    use std::os::unix::process::ExitStatusExt as _;
    use tokio::io::AsyncReadExt as _;
    const KILLED: i32 = 128 + 9;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let (mut out_buffer, mut err_buffer) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut forwarded = 0usize;
    async fn read(pipe: &mut Option<impl tokio::io::AsyncRead + Unpin>, buffer: &mut [u8]) -> usize {
        match pipe {
            Some(p) => p.read(buffer).await.unwrap_or(0),
            None => 0,
        }
    }
    while out.is_some() || err.is_some() {
        let (channel, n) = tokio::select! {
            n = read(&mut out, &mut out_buffer), if out.is_some() => (1u8, n),
            n = read(&mut err, &mut err_buffer), if err.is_some() => (2u8, n),
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(_)) => continue,
            },
            () = tokio::time::sleep_until(deadline) => return Some(KILLED),
        };
        if n == 0 {
            if channel == 1 {
                out = None
            } else {
                err = None
            }
            continue;
        }
        forwarded += n;
        if forwarded > EXEC_OUTPUT_CAP {
            return Some(KILLED);
        }
        let data = if channel == 1 { &out_buffer[..n] } else { &err_buffer[..n] };
        match tokio::time::timeout_at(deadline, socket.send(frame(channel, data))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return None,
            Err(_) => return Some(KILLED),
        }
    }
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.ok()?;
                return Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(9)));
            }
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(_)) => {}
            },
            () = tokio::time::sleep_until(deadline) => return Some(KILLED),
        }
    }
}

/// The kubelet's endpoints through the API server's node proxy: `logs` (with `query` and
/// `tailLines`) and `stats/summary`.
fn node_proxy(state: &State, node: &str, path: &[&str], query: &BTreeMap<String, String>) -> Response {
    if !state.objects.contains_key(&("v1".into(), "nodes".into(), String::new(), node.to_owned())) {
        return status(404, "NotFound", format!("nodes \"{node}\" not found"), json!({"name": node, "kind": "nodes"}));
    }
    match path {
        ["logs"] => {
            let lines: Vec<String> = match query.get("query").map(String::as_str) {
                Some("kubelet") => (1..=5).map(|i| format!("kubelet[42]: sync loop iteration {i}")).collect(),
                Some(other) => {
                    return status(
                        404,
                        "NotFound",
                        format!("the server could not find the requested resource ( pods/log {other})"),
                        json!({}),
                    );
                }
                None => return status(400, "BadRequest", "query is required".into(), json!({})),
            };
            let tail = query.get("tailLines").and_then(|t| t.parse::<usize>().ok()).unwrap_or(lines.len());
            let text: String = lines[lines.len().saturating_sub(tail)..].iter().map(|l| format!("{l}\n")).collect();
            ([(header::CONTENT_TYPE, "text/plain")], text).into_response()
        }
        ["stats", "summary"] => json_response(
            json!({"node": {"nodeName": node, "cpu": {"usageNanoCores": 1_500_000_000u64}, "memory": {"workingSetBytes": 2_147_483_648u64}}, "pods": []}),
        ),
        _ => status(404, "NotFound", "the server could not find the requested resource".into(), json!({})),
    }
}

fn bump(state: &mut State, object: &mut Value) {
    state.resource_version += 1;
    object["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
}

/// The objects a list asks for, in the API's order (namespace, then name), and the list's
/// `metadata`: one page of them when `limit` is given, from where `continue` left off, with the
/// token of the next page and, without selectors, the count of the items after this page.
fn selected<'a>(
    state: &'a State,
    kind: &Kind,
    namespace: &str,
    query: &BTreeMap<String, String>,
) -> Result<(Vec<&'a Value>, Value), Box<Response>> {
    let labels = query.get("labelSelector").map(String::as_str).unwrap_or_default();
    let fields = query.get("fieldSelector").map(String::as_str).unwrap_or_default();
    let after = query.get("continue").map(String::as_str).unwrap_or_default();
    let mut items = vec![];
    for ((gv, plural, ns, name), object) in &state.objects {
        if *gv != kind.api_version() || plural != kind.plural || (!namespace.is_empty() && ns != namespace) {
            continue;
        }
        if let Some((after_ns, after_name)) = after.split_once('/')
            && (ns.as_str(), name.as_str()) <= (after_ns, after_name)
        {
            continue;
        }
        match labels_match(labels, &object["metadata"]["labels"]) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(message) => return Err(Box::new(status(400, "BadRequest", message, json!({})))),
        }
        match fields_match(kind, fields, object) {
            Ok(true) => items.push(object),
            Ok(false) => {}
            Err(message) => return Err(Box::new(status(400, "BadRequest", message, json!({})))),
        }
    }
    let mut metadata = json!({"resourceVersion": state.resource_version.to_string()});
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
    if let Some(limit) = limit
        && items.len() > limit
    {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let last = &items[limit - 1]["metadata"];
        let next =
            format!("{}/{}", last["namespace"].as_str().unwrap_or_default(), last["name"].as_str().unwrap_or_default());
        metadata["continue"] = json!(next);
        if labels.is_empty() && fields.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok((items, metadata))
}

fn list(state: &State, kind: &Kind, namespace: &str, query: &BTreeMap<String, String>) -> Response {
    let (items, metadata) = match selected(state, kind, namespace, query) {
        Ok(selected) => selected,
        Err(refused) => return *refused,
    };
    json_response(json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(),
                         "metadata": metadata, "items": items}))
}

/// A list as a server-side `Table` (`Accept: application/json;as=Table;...`), with the API
/// server's default columns for kinds without printers of their own (`Name`, `Created At`) and
/// each row's object as `PartialObjectMetadata`.
fn table(state: &State, kind: &Kind, namespace: &str, query: &BTreeMap<String, String>) -> Response {
    let (items, metadata) = match selected(state, kind, namespace, query) {
        Ok(selected) => selected,
        Err(refused) => return *refused,
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            json!({"cells": [o["metadata"]["name"], o["metadata"]["creationTimestamp"]],
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json_response(json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}
        ],
        "rows": rows}))
}

/// Splits a selector at the commas outside parentheses.
fn requirements(selector: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (vec![], String::new(), 0);
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
}

/// Label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`.
fn labels_match(selector: &str, labels: &Value) -> Result<bool, String> {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    for requirement in requirements(selector) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')'));
            inner
                .map(|i| i.split(',').map(|v| v.trim().to_owned()).collect())
                .ok_or_else(|| format!("unable to parse requirement: found '{rest}', expected: '('"))
        };
        let ok = if let Some((k, rest)) = requirement.split_once(" notin ") {
            !get(k.trim()).is_some_and(|v| set(rest).map(|s| s.iter().any(|x| x == v)).unwrap_or(false))
        } else if let Some((k, rest)) = requirement.split_once(" in ") {
            let values = set(rest)?;
            get(k.trim()).is_some_and(|v| values.iter().any(|x| x == v))
        } else if let Some((k, v)) = requirement.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = requirement.split_once("==").or_else(|| requirement.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some(k) = requirement.strip_prefix('!') {
            get(k.trim()).is_none()
        } else if requirement.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
            get(&requirement).is_some()
        } else {
            return Err(format!("unable to parse requirement: invalid label key \"{requirement}\""));
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Field selectors: `f=v`, `f==v`, `f!=v` on the fields the kind supports.
fn fields_match(kind: &Kind, selector: &str, object: &Value) -> Result<bool, String> {
    for requirement in requirements(selector) {
        let (field, value, equal) = if let Some((f, v)) = requirement.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = requirement.split_once("==").or_else(|| requirement.split_once('=')) {
            (f, v, true)
        } else {
            return Err(format!("invalid selector: '{requirement}'; can't understand '{requirement}'"));
        };
        let field = field.trim();
        if field != "metadata.name" && field != "metadata.namespace" && !kind.fields.contains(&field) {
            return Err(format!("field label not supported: {field}"));
        }
        let mut current = object;
        for part in field.split('.') {
            current = &current[part];
        }
        let actual = match current {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if (actual == value.trim()) != equal {
            return Ok(false);
        }
    }
    Ok(true)
}

fn log(state: &State, namespace: &str, name: &str, query: &BTreeMap<String, String>) -> Response {
    let Some(pod) = state.objects.get(&("v1".into(), "pods".into(), namespace.into(), name.into())) else {
        return status(404, "NotFound", format!("pods \"{name}\" not found"), json!({"name": name, "kind": "pods"}));
    };
    let containers: Vec<&str> =
        pod["spec"]["containers"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
    let container = match query.get("container") {
        Some(c) => c.as_str(),
        None if containers.len() == 1 => containers[0],
        None => {
            return status(
                400,
                "BadRequest",
                format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" ")),
                json!({}),
            );
        }
    };
    if !containers.contains(&container) {
        return status(400, "BadRequest", format!("container {container} is not valid for pod {name}"), json!({}));
    }
    let previous = query.get("previous").is_some_and(|p| p == "true");
    let Some(text) = state.logs.get(&(namespace.into(), name.into(), container.into(), previous)) else {
        if previous {
            return status(
                400,
                "BadRequest",
                format!("previous terminated container \"{container}\" in pod \"{name}\" not found"),
                json!({}),
            );
        }
        return ([(header::CONTENT_TYPE, "text/plain")], String::new()).into_response();
    };
    let text = match query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        Some(tail) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(tail);
            lines[start..].iter().map(|l| format!("{l}\n")).collect()
        }
        None => text.clone(),
    };
    ([(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

fn scale(state: &mut State, kind: &Kind, namespace: &str, name: &str, body: &[u8]) -> Response {
    let key = (kind.api_version(), kind.plural.to_owned(), namespace.to_owned(), name.to_owned());
    let Some(mut object) = state.objects.get(&key).cloned() else { return not_found(kind, name) };
    if !body.is_empty() {
        let Ok(wanted) = serde_json::from_slice::<Value>(body) else {
            return status(400, "BadRequest", "the body of the request was not valid JSON".into(), json!({}));
        };
        let Some(replicas) = wanted["spec"]["replicas"].as_i64() else {
            return status(
                422,
                "Invalid",
                format!("Scale.autoscaling \"{name}\" is invalid: spec.replicas: Required value"),
                json!({}),
            );
        };
        if replicas < 0 {
            return status(
                422,
                "Invalid",
                format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
                ),
                json!({"name": name, "group": "autoscaling", "kind": "Scale"}),
            );
        }
        object["spec"]["replicas"] = json!(replicas);
        bump(state, &mut object);
        state.objects.insert(key, object.clone());
    }
    let meta = &object["metadata"];
    json_response(json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": name, "namespace": namespace, "uid": meta["uid"], "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": object["spec"]["replicas"]},
        "status": {"replicas": object["status"]["replicas"], "selector": "app=web"}}))
}

/// What the fake validates, worded as the API server words it (422 `Invalid`).
#[allow(clippy::result_large_err)] // the error is the response itself, built once per request
fn validate(kind: &Kind, object: &Value) -> Result<(), Response> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let invalid = |causes: Vec<(&str, String)>| {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let message = if text.len() == 1 { text[0].clone() } else { format!("[{}]", text.join(", ")) };
        let group = if kind.group.is_empty() { String::new() } else { format!(".{}", kind.group) };
        let causes: Vec<Value> =
            causes.iter().map(|(f, m)| json!({"reason": "FieldValueRequired", "message": m, "field": f})).collect();
        status(
            422,
            "Invalid",
            format!("{}{group} \"{name}\" is invalid: {message}", kind.kind),
            json!({"name": name, "group": kind.group, "kind": kind.kind, "causes": causes}),
        )
    };
    if name.is_empty() {
        return Err(invalid(vec![("metadata.name", "Required value: name or generateName is required".into())]));
    }
    let valid_name = name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid_name {
        return Err(invalid(vec![(
            "metadata.name",
            format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        )]));
    }
    let containers = match kind.kind {
        "Pod" => Some(&object["spec"]["containers"]),
        "Deployment" => Some(&object["spec"]["template"]["spec"]["containers"]),
        _ => None,
    };
    let prefix = if kind.kind == "Pod" { "spec" } else { "spec.template.spec" };
    if let Some(containers) = containers {
        match containers.as_array() {
            None => return Err(invalid(vec![(&format!("{prefix}.containers"), "Required value".into())])),
            Some(list) if list.is_empty() => {
                return Err(invalid(vec![(&format!("{prefix}.containers"), "Required value".into())]));
            }
            Some(list) => {
                for (i, c) in list.iter().enumerate() {
                    if c["image"].as_str().is_none_or(str::is_empty) {
                        return Err(invalid(vec![(
                            &format!("{prefix}.containers[{i}].image"),
                            "Required value".into(),
                        )]));
                    }
                }
            }
        }
    }
    if kind.kind == "Deployment" && object["spec"]["selector"].is_null() {
        return Err(invalid(vec![("spec.selector", "Required value".into())]));
    }
    Ok(())
}

fn create(state: &mut State, kind: &Kind, namespace: &str, mut object: Value, dry_run: bool) -> Response {
    if kind.namespaced {
        object["metadata"]["namespace"] = json!(namespace);
    }
    if let Err(r) = validate(kind, &object) {
        return r;
    }
    let key = key(kind, &object);
    if state.objects.contains_key(&key) {
        let name = &key.3;
        return status(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", kind.plural),
            json!({"name": name, "kind": kind.plural}),
        );
    }
    stamp(state, &mut object);
    if !dry_run {
        state.objects.insert(key, object.clone());
    }
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], object.to_string()).into_response()
}

/// Server-side apply, simplified: the manifest becomes the object's desired state (as if this
/// manager owned every field), the server-owned metadata and the status are kept.
fn apply(state: &mut State, kind: &Kind, namespace: &str, name: &str, mut object: Value, dry_run: bool) -> Response {
    if object["apiVersion"].as_str() != Some(&kind.api_version()) || object["kind"].as_str() != Some(kind.kind) {
        return status(
            400,
            "BadRequest",
            format!(
                "the API version in the data ({}) does not match the expected API version ({})",
                object["apiVersion"].as_str().unwrap_or_default(),
                kind.api_version()
            ),
            json!({}),
        );
    }
    if object["metadata"]["name"].as_str() != Some(name) {
        return status(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL".into(),
            json!({}),
        );
    }
    if kind.namespaced {
        let given = object["metadata"]["namespace"].as_str().unwrap_or(namespace);
        if given != namespace {
            return status(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request".into(),
                json!({}),
            );
        }
        object["metadata"]["namespace"] = json!(namespace);
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Err(r) = validate(kind, &object) {
        return r;
    }
    let key = key(kind, &object);
    match state.objects.get(&key).cloned() {
        None => {
            stamp(state, &mut object);
            if !dry_run {
                state.objects.insert(key, object.clone());
            }
            (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], object.to_string()).into_response()
        }
        Some(current) => {
            for field in ["uid", "creationTimestamp"] {
                object["metadata"][field] = current["metadata"][field].clone();
            }
            if !current["status"].is_null() {
                object["status"] = current["status"].clone();
            }
            object["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
            if object != current {
                bump(state, &mut object);
            }
            if !dry_run {
                state.objects.insert(key, object.clone());
            }
            json_response(object)
        }
    }
}

/// JSON merge patch (RFC 7386).
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(target), Some(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    target.remove(k);
                } else {
                    merge(target.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}
