//! Typed wrappers: one method per tool of the Go server's default toolsets, by its real name
//! and argument names. The Go server answers in text (YAML for objects); the methods return that
//! text, and [`Kubernetes::resource`] parses an object's YAML into JSON.

use mcp_core::{CallTool, CallToolExt};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Result, tools};

/// Typed calls to the Kubernetes tools over `C`: a client of the Go server, or the native tools.
#[derive(Debug, Clone)]
pub struct Kubernetes<C> {
    inner: C,
}

/// Which object a resource tool acts on.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// `v1`, `apps/v1`, ...
    pub api_version: String,
    /// `Pod`, `Deployment`, ...
    pub kind: String,
    /// The namespace; the configured one (namespaced kinds) when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl ResourceRef {
    /// `kind` `name` of `api_version`, in `namespace` (or none).
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }
}

/// Label and field selectors for the list tools.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Selectors {
    /// `app=web,tier in (a,b)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// `status.phase=Running`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
}

/// Options of `pods_log`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LogOptions {
    /// The container; the pod's only or default one when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The previous (terminated) container's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<bool>,
    /// Lines from the end (100 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<i64>,
}

fn merge(base: Value, extra: impl Serialize) -> Value {
    let mut base = base;
    if let (Some(map), Ok(Value::Object(extra))) = (base.as_object_mut(), serde_json::to_value(extra)) {
        map.extend(extra);
    }
    base
}

impl<C: CallTool> Kubernetes<C> {
    /// Wraps anything tools can be called on.
    pub fn new(inner: C) -> Self {
        Self { inner }
    }

    /// The wrapped caller.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    async fn text(&self, tool: &str, arguments: Value) -> Result<String> {
        Ok(self.inner.call_checked(tool, &arguments).await?.text_content())
    }

    /// `configuration_view`: the kubeconfig as YAML (`minified`: only the current context).
    pub async fn configuration_view(&self, minified: bool) -> Result<String> {
        self.text(tools::CONFIGURATION_VIEW, json!({"minified": minified})).await
    }

    /// `events_list`: events of `namespace`, or of all namespaces.
    pub async fn events_list(&self, namespace: Option<&str>, field_selector: Option<&str>) -> Result<String> {
        let mut args = json!({});
        if let Some(ns) = namespace {
            args["namespace"] = json!(ns);
        }
        if let Some(f) = field_selector {
            args["fieldSelector"] = json!(f);
        }
        self.text(tools::EVENTS_LIST, args).await
    }

    /// `namespaces_list`.
    pub async fn namespaces_list(&self, field_selector: Option<&str>) -> Result<String> {
        let args = field_selector.map_or_else(|| json!({}), |f| json!({"fieldSelector": f}));
        self.text(tools::NAMESPACES_LIST, args).await
    }

    /// `pods_list`: pods of all namespaces.
    pub async fn pods_list(&self, selectors: &Selectors) -> Result<String> {
        self.text(tools::PODS_LIST, merge(json!({}), selectors)).await
    }

    /// `pods_list_in_namespace`.
    pub async fn pods_list_in_namespace(&self, namespace: &str, selectors: &Selectors) -> Result<String> {
        self.text(tools::PODS_LIST_IN_NAMESPACE, merge(json!({"namespace": namespace}), selectors)).await
    }

    /// `pods_get`: one pod as YAML.
    pub async fn pods_get(&self, namespace: Option<&str>, name: &str) -> Result<String> {
        self.text(tools::PODS_GET, with_namespace(json!({"name": name}), namespace)).await
    }

    /// `pods_delete`.
    pub async fn pods_delete(&self, namespace: Option<&str>, name: &str) -> Result<String> {
        self.text(tools::PODS_DELETE, with_namespace(json!({"name": name}), namespace)).await
    }

    /// `pods_log`.
    pub async fn pods_log(&self, namespace: Option<&str>, name: &str, options: &LogOptions) -> Result<String> {
        self.text(tools::PODS_LOG, merge(with_namespace(json!({"name": name}), namespace), options)).await
    }

    /// `pods_run`: runs `image` as a pod (and a service when `port` is given).
    pub async fn pods_run(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        image: &str,
        port: Option<u16>,
    ) -> Result<String> {
        let mut args = with_namespace(json!({"image": image}), namespace);
        if let Some(name) = name {
            args["name"] = json!(name);
        }
        if let Some(port) = port {
            args["port"] = json!(port);
        }
        self.text(tools::PODS_RUN, args).await
    }

    /// `pods_exec`: runs `command` (argv) in the pod's container.
    pub async fn pods_exec(
        &self,
        namespace: Option<&str>,
        name: &str,
        container: Option<&str>,
        command: &[&str],
    ) -> Result<String> {
        let mut args = with_namespace(json!({"name": name, "command": command}), namespace);
        if let Some(c) = container {
            args["container"] = json!(c);
        }
        self.text(tools::PODS_EXEC, args).await
    }

    /// `pods_top`: CPU and memory of pods (all namespaces when `namespace` is `None`).
    pub async fn pods_top(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<String> {
        let mut args = json!({"all_namespaces": namespace.is_none()});
        for (key, value) in [("namespace", namespace), ("name", name), ("label_selector", label_selector)] {
            if let Some(v) = value {
                args[key] = json!(v);
            }
        }
        self.text(tools::PODS_TOP, args).await
    }

    /// `nodes_top`.
    pub async fn nodes_top(&self, name: Option<&str>, label_selector: Option<&str>) -> Result<String> {
        let mut args = json!({});
        for (key, value) in [("name", name), ("label_selector", label_selector)] {
            if let Some(v) = value {
                args[key] = json!(v);
            }
        }
        self.text(tools::NODES_TOP, args).await
    }

    /// `nodes_log`: a node's `query` log (`kubelet`, `/var/log/...`).
    pub async fn nodes_log(&self, name: &str, query: &str, tail_lines: Option<i64>) -> Result<String> {
        let mut args = json!({"name": name, "query": query});
        if let Some(t) = tail_lines {
            args["tailLines"] = json!(t);
        }
        self.text(tools::NODES_LOG, args).await
    }

    /// `nodes_stats_summary`.
    pub async fn nodes_stats_summary(&self, name: &str) -> Result<String> {
        self.text(tools::NODES_STATS_SUMMARY, json!({"name": name})).await
    }

    /// `projects_list` (OpenShift only).
    pub async fn projects_list(&self) -> Result<String> {
        self.text(tools::PROJECTS_LIST, json!({})).await
    }

    /// `resources_list`: objects of `api_version`/`kind`, in `namespace` or all.
    pub async fn resources_list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selectors: &Selectors,
    ) -> Result<String> {
        let args = with_namespace(json!({"apiVersion": api_version, "kind": kind}), namespace);
        self.text(tools::RESOURCES_LIST, merge(args, selectors)).await
    }

    /// `resources_get`: the object as YAML.
    pub async fn resources_get(&self, resource: &ResourceRef) -> Result<String> {
        self.text(tools::RESOURCES_GET, merge(json!({}), resource)).await
    }

    /// `resources_get`, the YAML parsed into JSON.
    pub async fn resource(&self, resource: &ResourceRef) -> Result<Value> {
        let text = self.resources_get(resource).await?;
        serde_yaml::from_str(&text).map_err(|e| {
            mcp_core::Error::Decode {
                tool: tools::RESOURCES_GET.into(),
                message: format!("the YAML does not parse: {e}"),
            }
            .into()
        })
    }

    /// `resources_create_or_update`: server-side apply of `manifest` (YAML or JSON, documents
    /// separated by `---`).
    pub async fn resources_create_or_update(&self, manifest: &str) -> Result<String> {
        self.text(tools::RESOURCES_CREATE_OR_UPDATE, json!({"resource": manifest})).await
    }

    /// `resources_delete`.
    pub async fn resources_delete(&self, resource: &ResourceRef, grace_period_seconds: Option<i64>) -> Result<String> {
        let mut args = merge(json!({}), resource);
        if let Some(g) = grace_period_seconds {
            args["gracePeriodSeconds"] = json!(g);
        }
        self.text(tools::RESOURCES_DELETE, args).await
    }

    /// `resources_scale`: reads the scale, or sets it to `scale`.
    pub async fn resources_scale(&self, resource: &ResourceRef, scale: Option<i64>) -> Result<String> {
        let mut args = merge(json!({}), resource);
        if let Some(s) = scale {
            args["scale"] = json!(s);
        }
        self.text(tools::RESOURCES_SCALE, args).await
    }

    /// The seed's `apply_manifest(namespace, manifest)`: each document of `manifest` applied in
    /// `namespace` (set where a document names none) through `resources_create_or_update`.
    pub async fn apply_manifest(&self, namespace: &str, manifest: &str) -> Result<String> {
        let mut documents = vec![];
        for document in manifest.split("\n---\n") {
            let mut value: Value = serde_yaml::from_str(document).map_err(|e| mcp_core::Error::Decode {
                tool: tools::RESOURCES_CREATE_OR_UPDATE.into(),
                message: format!("the manifest does not parse: {e}"),
            })?;
            if value.is_null() {
                continue;
            }
            let cluster_scoped = CLUSTER_SCOPED.contains(&value["kind"].as_str().unwrap_or_default());
            if !cluster_scoped
                && value["metadata"].is_object()
                && value["metadata"].get("namespace").is_none_or(Value::is_null)
            {
                value["metadata"]["namespace"] = json!(namespace);
            }
            documents.push(value.to_string());
        }
        self.resources_create_or_update(&documents.join("\n---\n")).await
    }

    /// The seed's `get_logs(namespace, pod)`: the pod's log (last 100 lines) through `pods_log`.
    pub async fn get_logs(&self, namespace: &str, pod: &str) -> Result<String> {
        self.pods_log(Some(namespace), pod, &LogOptions::default()).await
    }
}

/// Kinds that have no namespace, which `apply_manifest` leaves as they are.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

fn with_namespace(mut args: Value, namespace: Option<&str>) -> Value {
    if let Some(ns) = namespace {
        args["namespace"] = json!(ns);
    }
    args
}
