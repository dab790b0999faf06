//! The tools: definitions (names, argument schemas, annotations as the Go server has them) and
//! handlers.

use std::sync::Arc;

use kube::core::params::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::subresource::LogParams;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind, Request, Resource};
use kube::discovery::{Scope, pinned_kind};
use mcp_core::protocol::{CallToolResult, Content, JsonObject, ToolAnnotations};
use mcp_core::{Registry, ToolContext, ToolError, tool};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Cluster, Inner, yaml};
use crate::tools as names;

/// The field manager of server-side apply, as the Go server's.
const FIELD_MANAGER: &str = "kubernetes-mcp-server";
/// Lines of a log returned when no `tail` is given.
const DEFAULT_TAIL: i64 = 100;
/// The most of a log (`pods_log`, `nodes_log`) one call returns, whatever `tail` asks for: its end.
const LOG_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Items asked of the API in a list's first page. Later pages are sized from what the items
/// read so far weigh (at most [`LIST_PAGE`] items), so that the page that crosses
/// [`LIST_MAX_BYTES`] crosses it by about its own share, whatever the kind's objects weigh.
const LIST_FIRST_PAGE: u32 = 50;
/// The most items asked per page (kubectl's default chunk size is 500).
const LIST_PAGE: u32 = 250;
/// A bounded list stops once it has read about this much, saying what it left out: one call on
/// a large cluster (every pod of every namespace) neither holds the whole list nor hands the
/// model more than it can read.
const LIST_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Pages of one bounded list at most: a selective field selector can have the API answer page
/// after page with few items or none.
const LIST_MAX_PAGES: usize = 200;
/// Pages of a whole list at most (2.5 million items): past that the API is answering in a loop.
const WHOLE_MAX_PAGES: usize = 10_000;
const REDACTED: &str = "REDACTED";

/// What a tool does, for the safety rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    Read,
    Write,
    Destroy,
}

impl Inner {
    /// The rule that refuses `effect`, if any.
    fn refusal(&self, tool: &str, effect: Effect) -> Option<String> {
        if self.config.read_only && effect != Effect::Read {
            return Some(format!("tool {tool} is not allowed: the server is read-only (--read-only)"));
        }
        if self.config.disable_destructive && effect == Effect::Destroy {
            return Some(format!("tool {tool} is not allowed: destructive tools are disabled (--disable-destructive)"));
        }
        None
    }

    fn cluster(&self, context: Option<&str>) -> Result<&Cluster, ToolError> {
        let name = context.filter(|c| !c.is_empty()).unwrap_or(&self.default_context);
        if let Some(reason) = self.refused.get(name) {
            return Err(ToolError::msg(reason));
        }
        self.clusters.get(name).ok_or_else(|| ToolError::msg(format!("context {name:?} not found in the kubeconfig")))
    }

    fn check_allowed(&self, gvk: &GroupVersionKind) -> Result<(), String> {
        let denied = self.config.denied_resources.iter().any(|d| d.group == gvk.group && d.kind == gvk.kind);
        if denied {
            return Err(format!("resource not allowed: {}/{}, Kind={}", gvk.group, gvk.version, gvk.kind));
        }
        Ok(())
    }

    /// Hides a Secret's values unless they are allowed, and those of the Secrets in a list (whose
    /// items carry no kind of their own).
    fn redact(&self, object: &mut Value) {
        if self.config.allow_secret_data {
            return;
        }
        let v1 = object["apiVersion"] == "v1";
        let secrets = v1 && object["kind"] == "SecretList";
        if let Some(items) = object.get_mut("items").and_then(Value::as_array_mut) {
            for item in items {
                if secrets || item["kind"] == "Secret" && item["apiVersion"] == "v1" {
                    hide_secret(item);
                }
            }
        }
        if v1 && object["kind"] == "Secret" {
            hide_secret(object);
        }
    }
}

/// Replaces a Secret's values, and the copy of them kubectl keeps in an annotation.
fn hide_secret(secret: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(map) = secret.get_mut(field).and_then(Value::as_object_mut) {
            for value in map.values_mut() {
                *value = json!(REDACTED);
            }
        }
    }
    if let Some(annotations) = secret["metadata"].get_mut("annotations").and_then(Value::as_object_mut)
        && let Some(v) = annotations.get_mut("kubectl.kubernetes.io/last-applied-configuration")
    {
        *v = json!(REDACTED);
    }
}

/// Looks up the resource behind `gvk` in the API's discovery.
async fn resolve(cluster: &Cluster, gvk: &GroupVersionKind) -> Result<(ApiResource, bool), String> {
    match pinned_kind(&cluster.client, gvk).await {
        Ok((resource, caps)) => Ok((resource, caps.scope == Scope::Namespaced)),
        Err(kube::Error::Discovery(_)) | Err(kube::Error::Api(_)) => {
            Err(format!("no matches for kind \"{}\" in version \"{}\"", gvk.kind, gv(gvk)))
        }
        Err(e) => Err(cluster.message(e)),
    }
}

fn gv(gvk: &GroupVersionKind) -> String {
    if gvk.group.is_empty() { gvk.version.clone() } else { format!("{}/{}", gvk.group, gvk.version) }
}

/// What a text answer (a log, a node's stats) may keep: its end, or all of it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// A log: the last [`LOG_MAX_BYTES`], from a whole line, with a first line saying how much
    /// was left out.
    End,
    /// A document: all of it, or an error when it is larger than [`LOG_MAX_BYTES`].
    Whole,
}

/// The text `request` answers with, read as it streams so that a huge answer (`tail: -1` on a
/// chatty pod) never sits in memory whole; as `keep` says when it is too large. An error is
/// the text the model reads.
async fn read_text(cluster: &Cluster, request: http::Request<Vec<u8>>, keep: Keep) -> Result<String, String> {
    use futures_util::AsyncReadExt;
    let body = cluster.client.request_stream(request).await.map_err(|e| cluster.message(e))?;
    let mut body = std::pin::pin!(body);
    let mut tail = mcp_core::tail::Tail::new(LOG_MAX_BYTES);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(&mut chunk).await.map_err(|e| format!("reading the answer failed: {e}"))?;
        if n == 0 {
            break;
        }
        tail.push(&chunk[..n]);
        if keep == Keep::Whole && tail.seen() > LOG_MAX_BYTES as u64 {
            return Err(format!("the answer is larger than {} MiB", LOG_MAX_BYTES / (1024 * 1024)));
        }
    }
    let end = tail.finish();
    if end.left_out == 0 {
        return String::from_utf8(end.bytes).map_err(|e| format!("the answer is not UTF-8: {e}"));
    }
    let note = format!(
        "[{} bytes before this left out: a call returns at most the last {} MiB]\n",
        end.left_out,
        LOG_MAX_BYTES / (1024 * 1024)
    );
    Ok(note + &String::from_utf8_lossy(&end.bytes))
}

impl Cluster {
    /// What the model reads for a failed request: the API's `Status` message, as client-go says
    /// it; for any other failure (the connection, TLS, the answer) the error and its causes,
    /// which say what went wrong where kube's own text does not, with the user info of the
    /// cluster's URLs masked should a cause quote one.
    fn message(&self, error: kube::Error) -> String {
        match error {
            kube::Error::Api(status) => status.message.clone(),
            other => self.scrubber.text(&super::chain(&other)),
        }
    }
}

fn parse_gvk(api_version: &str, kind: &str) -> Result<GroupVersionKind, String> {
    let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [version] => (String::new(), (*version).to_owned()),
        [group, version] => ((*group).to_owned(), (*version).to_owned()),
        _ => return Err("invalid argument apiVersion".into()),
    };
    // Group and version go into discovery paths: a group is a DNS name (or empty), a version and
    // a kind are alphanumeric.
    let dns = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let group_ok = group.chars().all(dns) && !group.split('.').any(|part| part.is_empty()) || group.is_empty();
    if !group_ok || version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("invalid argument apiVersion: {:?} is not a group/version", api_version));
    }
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("invalid argument kind: {kind:?} is not a kind"));
    }
    Ok(GroupVersionKind::gvk(&group, &version, kind))
}

fn url(resource: &ApiResource, namespace: Option<&str>) -> String {
    DynamicObject::url_path(resource, namespace)
}

/// One request to the API, its JSON answer.
async fn send(
    cluster: &Cluster,
    request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
) -> Result<Value, String> {
    let request = request.map_err(|e| e.to_string())?;
    cluster.client.request::<Value>(request).await.map_err(|e| cluster.message(e))
}

/// Drops what the Go server drops before printing (`managedFields`).
fn tidy(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    object
}

/// The items of a list, each with the list's apiVersion and kind (as client-go's unstructured
/// lists give them).
fn items(list: Value, resource: &ApiResource) -> Vec<Value> {
    let Value::Object(mut list) = list else { return vec![] };
    let Some(Value::Array(items)) = list.remove("items") else { return vec![] };
    items
        .into_iter()
        .map(|mut item| {
            if item.get("apiVersion").is_none_or(Value::is_null) {
                item["apiVersion"] = json!(resource.api_version);
            }
            if item.get("kind").is_none_or(Value::is_null) {
                item["kind"] = json!(resource.kind);
            }
            tidy(item)
        })
        .collect()
}

/// The Go server's list printing (`list_output: yaml`): the items as a YAML sequence.
fn list_text(items: &[Value]) -> String {
    yaml::to_string(&Value::Array(items.to_vec()))
}

/// The text, and the object(s) it shows as `structuredContent` (as the Go server's resource tools).
fn with_structured(text: String, structured: Value) -> CallToolResult {
    let mut result = CallToolResult::new(vec![Content::text(text)]);
    result.structured_content = Some(structured);
    result
}

/// `text` with the line that says what a list left out, if any.
fn with_note(text: String, note: Option<String>) -> String {
    match note {
        Some(note) if text.ends_with('\n') || text.is_empty() => format!("{text}{note}\n"),
        Some(note) => format!("{text}\n{note}\n"),
        None => text,
    }
}

fn text(text: String) -> CallToolResult {
    CallToolResult::text(text)
}

/// How much of a list a call reads.
#[derive(Clone, Copy)]
enum Reach {
    /// All of it: what a tool needs whole to answer at all (the nodes of `nodes_top`).
    Whole,
    /// About [`LIST_MAX_BYTES`], then a note naming the tool's arguments that narrow the list.
    Bounded { narrow: &'static str },
}

/// Where a bounded list stopped short of its end.
enum Cut {
    /// At its bound, with how many items remain when the API says (not with a selector).
    Bound(Option<u64>),
    /// After [`LIST_MAX_PAGES`] pages (a selective field selector), the same.
    Pages(Option<u64>),
    /// A page after the first failed (its continue token expired, the server went away).
    Failed(String),
}

/// A list read page by page.
struct Paged {
    /// The answers, in order.
    pages: Vec<Value>,
    cut: Option<Cut>,
}

impl Paged {
    /// The line that says what a list of `shown` items left out, if anything.
    fn note(&self, shown: usize, reach: Reach) -> Option<String> {
        let narrow = match reach {
            Reach::Bounded { narrow } if !narrow.is_empty() => format!(" Narrow the list with {narrow}."),
            _ => String::new(),
        };
        let remaining = |n: &Option<u64>| n.map_or_else(|| "more".to_owned(), |n| format!("{n} more"));
        Some(match self.cut.as_ref()? {
            Cut::Bound(n) => format!(
                "# The first {shown} items are shown and {} were left out: a call reads about {} MiB of a list.{narrow}",
                remaining(n),
                LIST_MAX_BYTES / (1024 * 1024)
            ),
            Cut::Pages(n) => format!(
                "# The first {shown} items are shown and {} were left out: a call reads at most {LIST_MAX_PAGES} pages of a list.{narrow}",
                remaining(n)
            ),
            Cut::Failed(why) => format!("# The first {shown} items are shown; reading the rest failed: {why}"),
        })
    }
}

/// The items (or a table's rows) of one page.
fn page_len(page: &Value) -> usize {
    page["items"].as_array().or(page["rows"].as_array()).map_or(0, Vec::len)
}

/// The list of `resource` in `namespace` (all when `None`) as `accept` asks for it (the API's
/// JSON list by default), read page by page to its end or as far as `reach` goes.
async fn paged(
    cluster: &Cluster,
    resource: &ApiResource,
    namespace: Option<&str>,
    (labels, fields): (&str, &str),
    accept: Option<&'static str>,
    reach: Reach,
) -> Result<Paged, String> {
    let bounded = matches!(reach, Reach::Bounded { .. });
    let mut paged = Paged { pages: Vec::new(), cut: None };
    let (mut read, mut items) = (0usize, 0usize);
    let mut token: Option<String> = None;
    let mut tokens = std::collections::HashSet::new();
    loop {
        let limit = match (bounded, items) {
            (false, _) => LIST_PAGE,
            (true, 0) => LIST_FIRST_PAGE,
            (true, _) => {
                let weight = (read / items).max(1);
                u32::try_from(LIST_MAX_BYTES.saturating_sub(read) / weight).unwrap_or(LIST_PAGE).clamp(1, LIST_PAGE)
            }
        };
        let mut params = ListParams::default().limit(limit);
        if !labels.is_empty() {
            params = params.labels(labels);
        }
        if !fields.is_empty() {
            params = params.fields(fields);
        }
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let mut request = Request::new(url(resource, namespace)).list(&params).map_err(|e| e.to_string())?;
        if let Some(accept) = accept {
            request.headers_mut().insert(http::header::ACCEPT, http::HeaderValue::from_static(accept));
        }
        let page = match cluster.client.request_text(request).await {
            Ok(body) => {
                read += body.len();
                serde_json::from_str::<Value>(&body).map_err(|e| format!("the list answered is not JSON: {e}"))
            }
            Err(e) => Err(cluster.message(e)),
        };
        let page = match page {
            Ok(page) => page,
            // What was read stays worth showing when a later page fails.
            Err(why) if bounded && !paged.pages.is_empty() => {
                paged.cut = Some(Cut::Failed(why));
                return Ok(paged);
            }
            Err(why) => return Err(why),
        };
        items += page_len(&page);
        let next = page["metadata"]["continue"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        let remaining = page["metadata"]["remainingItemCount"].as_u64();
        paged.pages.push(page);
        match next {
            None => return Ok(paged),
            Some(next) if !tokens.insert(next.clone()) => {
                let why = "the API answered a continue token it had answered before (a loop)".to_owned();
                if bounded {
                    paged.cut = Some(Cut::Failed(why));
                    return Ok(paged);
                }
                return Err(why);
            }
            Some(_) if !bounded && paged.pages.len() >= WHOLE_MAX_PAGES => {
                return Err(format!("the list did not end within {WHOLE_MAX_PAGES} pages"));
            }
            Some(_) if bounded && read >= LIST_MAX_BYTES => {
                paged.cut = Some(Cut::Bound(remaining));
                return Ok(paged);
            }
            Some(_) if bounded && paged.pages.len() >= LIST_MAX_PAGES => {
                paged.cut = Some(Cut::Pages(remaining));
                return Ok(paged);
            }
            Some(next) => token = Some(next),
        }
    }
}

impl Inner {
    /// The objects of a list (secrets' data redacted), and the line that says what was left out
    /// of a long one.
    async fn list(
        &self,
        cluster: &Cluster,
        gvk: &GroupVersionKind,
        namespace: &str,
        selectors: (&str, &str),
        reach: Reach,
    ) -> Result<(Vec<Value>, Option<String>), String> {
        self.check_allowed(gvk)?;
        let (resource, namespaced) = resolve(cluster, gvk).await?;
        let ns = (namespaced && !namespace.is_empty()).then_some(namespace);
        let mut paged = paged(cluster, &resource, ns, selectors, None, reach).await?;
        let mut all = Vec::new();
        for page in std::mem::take(&mut paged.pages) {
            all.extend(items(page, &resource));
        }
        all.iter_mut().for_each(|item| self.redact(item));
        let note = paged.note(all.len(), reach);
        Ok((all, note))
    }

    /// A list tool's answer: its text in the configured list output, and the structured items.
    async fn list_printed(
        &self,
        cluster: &Cluster,
        gvk: &GroupVersionKind,
        namespace: &str,
        selectors: (&str, &str),
        narrow: &'static str,
    ) -> Result<(String, Option<Value>), String> {
        let reach = Reach::Bounded { narrow };
        let (text, structured, note) = if self.config.list_output == super::ListOutput::Yaml {
            let (items, note) = self.list(cluster, gvk, namespace, selectors, reach).await?;
            (list_text(&items), Some(json!({"items": items})), note)
        } else {
            self.check_allowed(gvk)?;
            let (resource, namespaced) = resolve(cluster, gvk).await?;
            let ns = (namespaced && !namespace.is_empty()).then_some(namespace);
            let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
            let mut paged = paged(cluster, &resource, ns, selectors, Some(accept), reach).await?;
            // One table: the first page's columns, every page's rows.
            let mut pages = std::mem::take(&mut paged.pages).into_iter();
            let mut table = pages.next().unwrap_or_default();
            if !table["rows"].is_array() && table.is_object() {
                table["rows"] = json!([]);
            }
            for mut page in pages {
                if let (Some(rows), Some(Value::Array(more))) =
                    (table["rows"].as_array_mut(), page.get_mut("rows").map(Value::take))
                {
                    rows.extend(more);
                }
            }
            let shown = table["rows"].as_array().map_or(0, Vec::len);
            let (text, structured) = super::top::table(&table, &gv(gvk), &gvk.kind);
            (text, structured, paged.note(shown, reach))
        };
        Ok((with_note(text, note), structured))
    }

    async fn get(
        &self,
        cluster: &Cluster,
        gvk: &GroupVersionKind,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        self.check_allowed(gvk)?;
        let (resource, namespaced) = resolve(cluster, gvk).await?;
        let ns = namespaced.then_some(if namespace.is_empty() { cluster.namespace.as_str() } else { namespace });
        let mut object = tidy(send(cluster, Request::new(url(&resource, ns)).get(name, &Default::default())).await?);
        self.redact(&mut object);
        Ok(object)
    }

    async fn delete(
        &self,
        cluster: &Cluster,
        gvk: &GroupVersionKind,
        namespace: &str,
        name: &str,
        grace: Option<u32>,
    ) -> Result<(), String> {
        self.check_allowed(gvk)?;
        let (resource, namespaced) = resolve(cluster, gvk).await?;
        let ns = namespaced.then_some(if namespace.is_empty() { cluster.namespace.as_str() } else { namespace });
        let params = DeleteParams { grace_period_seconds: grace, ..Default::default() };
        send(cluster, Request::new(url(&resource, ns)).delete(name, &params)).await.map(drop)
    }

    /// Server-side apply of each object in turn, forced, as the Go server's field manager; with
    /// `cx`, each object applied is reported as progress (`n` of the total).
    async fn apply(
        &self,
        cluster: &Cluster,
        objects: Vec<Value>,
        dry_run: bool,
        cx: Option<&ToolContext>,
    ) -> Result<Vec<Value>, String> {
        let mut applied = vec![];
        let total = objects.len();
        for mut object in objects {
            let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            if api_version.is_empty() || kind.is_empty() {
                return Err(
                    "Object 'Kind' is missing in the resource (every resource needs apiVersion and kind)".into()
                );
            }
            let gvk = parse_gvk(&api_version, &kind)?;
            self.check_allowed(&gvk)?;
            let (resource, namespaced) = resolve(cluster, &gvk).await?;
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            path_segment("metadata.name", &name)?;
            let ns = if namespaced {
                let given = object["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
                path_segment("metadata.namespace", &given)?;
                Some(if given.is_empty() { cluster.namespace.clone() } else { given })
            } else {
                None
            };
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
            let mut params = PatchParams::apply(FIELD_MANAGER).force();
            params.dry_run = dry_run;
            let request = Request::new(url(&resource, ns.as_deref())).patch(&name, &params, &Patch::Apply(&object));
            let mut result = tidy(send(cluster, request).await?);
            self.redact(&mut result);
            applied.push(result);
            if let Some(cx) = cx {
                let verb = if dry_run { "validated (dry run)" } else { "applied" };
                let at = ns.as_deref().map(|ns| format!("{ns}/")).unwrap_or_default();
                let done = applied.len();
                let message = format!("{verb} {kind} {at}{name} ({done}/{total})");
                cx.progress(done as f64, Some(total as f64), Some(message)).await;
            }
        }
        Ok(applied)
    }
}

/// Parses a manifest as the Go server does: documents split at `---` lines, YAML or JSON.
fn parse_manifest(manifest: &str) -> Result<Vec<Value>, String> {
    let mut objects = vec![];
    for document in manifest.split("\n---\n").flat_map(|d| d.split("\r\n---\r\n")) {
        let value: Value = serde_yaml::from_str(document).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}

// ----- arguments -----

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListArgs {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    label_selector: Option<String>,
    #[serde(default)]
    field_selector: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct PodArgs {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct LogArgs {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    previous: Option<bool>,
    #[serde(default)]
    tail: Option<i64>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct RunArgs {
    image: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    port: Option<f64>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceArgs {
    api_version: String,
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    label_selector: Option<String>,
    #[serde(default)]
    field_selector: Option<String>,
    #[serde(default)]
    grace_period_seconds: Option<i64>,
    #[serde(default)]
    scale: Option<i64>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct ApplyArgs {
    #[serde(default)]
    resource: Option<String>,
    /// Not in the Go server: validate on the server without persisting anything.
    #[serde(default, rename = "dryRun")]
    dry_run: Option<bool>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    tail_lines: Option<i64>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct TopArgs {
    #[serde(default)]
    all_namespaces: Option<bool>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    label_selector: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Deserialize)]
struct ExecArgs {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    command: Value,
    #[serde(default)]
    context: Option<String>,
}

/// The most bytes of stdout, and of stderr, `pods_exec` keeps. A command that writes more is
/// cut off there: the stream is closed (the API server ends the command) and the result says so.
pub const MAX_EXEC_OUTPUT: usize = 1024 * 1024;
/// How much of a stream one read (and so one progress notification) takes at most.
const EXEC_CHUNK: usize = 16 * 1024;

/// What `pods_exec` read from a command.
struct ExecOutput {
    stdout: String,
    stderr: String,
    /// Set when a stream passed [`MAX_EXEC_OUTPUT`]: the command was not waited for.
    truncated: bool,
}

/// Reads at most `buffer.len()` bytes from `stream`; 0 at its end (or on an error).
async fn read_some(stream: &mut Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>, buffer: &mut [u8]) -> usize {
    use tokio::io::AsyncReadExt as _;
    match stream {
        Some(s) => s.read(buffer).await.unwrap_or(0),
        None => 0,
    }
}

/// Runs `command` (an argv, never through a shell) in the container over the API server's
/// websocket stream. Its stdout and stderr are reported as progress as they arrive and kept up
/// to [`MAX_EXEC_OUTPUT`] each; a failure is the one its final `Status` reports, worded as
/// client-go words it.
async fn exec(
    cluster: &Cluster,
    (namespace, pod, container): (&str, &str, &str),
    command: Vec<String>,
    cx: &ToolContext,
) -> Result<ExecOutput, String> {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(cluster.client.clone(), namespace);
    let params = kube::api::AttachParams::default().container(container).stdin(false).stdout(true).stderr(true);
    // A refused upgrade (an unknown container, say) is worded as client-go words it.
    let mut process = api.exec(pod, command, &params).await.map_err(|e| match e {
        kube::Error::Api(status) => format!("unable to upgrade connection: {}", status.message),
        other => cluster.message(other),
    })?;
    let status = process.take_status();
    let (mut out, mut err) = (process.stdout(), process.stderr());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let (mut out_buffer, mut err_buffer) = (vec![0u8; EXEC_CHUNK], vec![0u8; EXEC_CHUNK]);
    let mut seen = 0usize;
    let mut truncated = false;
    while out.is_some() || err.is_some() {
        // One stream at a time, so that progress is reported in order.
        let (n, is_stderr) = tokio::select! {
            n = read_some(&mut out, &mut out_buffer), if out.is_some() => (n, false),
            n = read_some(&mut err, &mut err_buffer), if err.is_some() => (n, true),
            () = cx.cancelled().cancelled() => return Err("the call was cancelled".into()),
        };
        let (stream, kept, buffer) =
            if is_stderr { (&mut err, &mut stderr, &err_buffer) } else { (&mut out, &mut stdout, &out_buffer) };
        if n == 0 {
            *stream = None;
            continue;
        }
        let room = MAX_EXEC_OUTPUT.saturating_sub(kept.len());
        let take = room.min(n);
        kept.extend_from_slice(&buffer[..take]);
        if take > 0 {
            seen += take;
            let chunk = String::from_utf8_lossy(&buffer[..take]);
            let message = if is_stderr { format!("stderr: {chunk}") } else { chunk.into_owned() };
            cx.progress(seen as f64, None, Some(message)).await;
        }
        if n > room {
            truncated = true;
            break;
        }
    }
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    if truncated {
        // Closing the stream ends the command; its status is not waited for.
        drop(process);
        return Ok(ExecOutput { stdout: text(stdout), stderr: text(stderr), truncated });
    }
    let status = match status {
        Some(status) => status.await,
        None => None,
    };
    let _ = process.join().await;
    if let Some(status) = status
        && status.status.as_deref() == Some("Failure")
    {
        if status.reason.as_deref() == Some("NonZeroExitCode") {
            let causes = status.details.as_ref().and_then(|d| d.causes.as_ref());
            let code = causes
                .and_then(|causes| causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            return Err(format!("command terminated with exit code {code}"));
        }
        return Err(status.message.unwrap_or_default());
    }
    Ok(ExecOutput { stdout: text(stdout), stderr: text(stderr), truncated })
}

/// A GET of `path`, its JSON answer.
async fn get_json(cluster: &Cluster, path: &str) -> Result<Value, String> {
    let request = http::Request::get(path).body(Vec::new()).map_err(|e| e.to_string());
    cluster.client.request::<Value>(request?).await.map_err(|e| cluster.message(e))
}

/// Whether the cluster serves the metrics API, as the Go server checks before `top`.
async fn metrics_available(cluster: &Cluster) -> Result<(), String> {
    get_json(cluster, "/apis/metrics.k8s.io/v1beta1")
        .await
        .map(drop)
        .map_err(|_| "metrics API is not available".to_owned())
}

/// Percent-encodes a query parameter's value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct ConfigArgs {
    #[serde(default)]
    minified: Option<bool>,
}

// ----- registration -----

struct Def {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    idempotent: bool,
    properties: Value,
    required: &'static [&'static str],
}

fn annotations(def: &Def) -> ToolAnnotations {
    let mut a = ToolAnnotations::default();
    a.title = Some(def.title.to_owned());
    a.read_only_hint = Some(def.effect == Effect::Read);
    a.destructive_hint = Some(def.effect == Effect::Destroy);
    a.idempotent_hint = Some(def.idempotent);
    a.open_world_hint = Some(true);
    a
}

fn schema(properties: &Value, required: &[&str], contexts: bool) -> JsonObject {
    let mut properties = properties.clone();
    if contexts {
        properties["context"] = json!({"type": "string", "description": "The kubeconfig context to use (Optional, the default context when not given)"});
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    match schema {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn s(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

const COMMON_KINDS: &str = "(common apiVersion and kind include: v1 Pod, v1 Service, v1 Node, apps/v1 Deployment, networking.k8s.io/v1 Ingress, route.openshift.io/v1 Route)";

fn defs() -> Vec<Def> {
    let labels = s("Optional Kubernetes label selector (e.g. 'app=myapp,env=prod' or 'app in (myapp,yourapp)')");
    let fields = s("Optional Kubernetes field selector (e.g. 'status.phase=Running', 'metadata.name=myresource')");
    let api_version = s("apiVersion of the resource (e.g. v1, apps/v1, networking.k8s.io/v1)");
    let kind = s("kind of the resource (e.g. Pod, Service, Deployment, Ingress)");
    vec![
        Def {
            name: names::CONFIGURATION_VIEW,
            title: "Configuration: View",
            effect: Effect::Read,
            idempotent: false,
            description: "Get the current Kubernetes configuration content as a kubeconfig YAML (credentials redacted)",
            properties: json!({"minified": {"type": "boolean", "description": "Keep only the current context and what it refers to (Optional, default true)"}}),
            required: &[],
        },
        Def {
            name: names::EVENTS_LIST,
            title: "Events: List",
            effect: Effect::Read,
            idempotent: false,
            description: "List Kubernetes events (warnings, errors, state changes) for debugging and troubleshooting in the current cluster from all namespaces",
            properties: json!({"namespace": s("Optional Namespace to retrieve the events from; all namespaces when not given"), "fieldSelector": s("Optional field selector (e.g. 'type=Warning', 'involvedObject.name=my-pod')")}),
            required: &[],
        },
        Def {
            name: names::NAMESPACES_LIST,
            title: "Namespaces: List",
            effect: Effect::Read,
            idempotent: false,
            description: "List all the Kubernetes namespaces in the current cluster",
            properties: json!({"fieldSelector": s("Optional field selector (e.g. 'metadata.name=default', 'status.phase=Active')")}),
            required: &[],
        },
        Def {
            name: names::NODES_LOG,
            title: "Node: Log",
            effect: Effect::Read,
            idempotent: false,
            description: "Get logs from a Kubernetes node (kubelet, kube-proxy, or other system logs) through the API server's proxy to the kubelet",
            properties: json!({"name": s("Name of the node to get logs from"),
                               "query": s("The service (e.g. \"kubelet\") or the file (e.g. \"/var/log/kubelet.log\") whose log to return (required)"),
                               "tailLines": {"type": "integer", "default": 100, "minimum": 0, "description": "Number of lines to retrieve from the end of the logs (Optional, 0 means all logs)"}}),
            required: &["name", "query"],
        },
        Def {
            name: names::NODES_STATS_SUMMARY,
            title: "Node: Stats Summary",
            effect: Effect::Read,
            idempotent: false,
            description: "Get detailed resource usage statistics (CPU, memory, filesystem, network) from a Kubernetes node through the kubelet's Summary API",
            properties: json!({"name": s("Name of the node to get stats from")}),
            required: &["name"],
        },
        Def {
            name: names::PODS_DELETE,
            title: "Pods: Delete",
            effect: Effect::Destroy,
            idempotent: true,
            description: "Delete a Kubernetes Pod in the current or provided namespace with the provided name",
            properties: json!({"name": s("Name of the Pod to delete"), "namespace": s("Namespace to delete the Pod from")}),
            required: &["name"],
        },
        Def {
            name: names::PODS_EXEC,
            title: "Pods: Exec",
            effect: Effect::Destroy,
            idempotent: false,
            description: "Execute a command in a Kubernetes Pod (shell access, run commands in container) in the current or provided namespace with the provided name and command",
            properties: json!({"name": s("Name of the Pod where the command will be executed"),
                               "namespace": s("Namespace of the Pod where the command will be executed"),
                               "container": s("Name of the Pod container where the command will be executed (Optional)"),
                               "command": {"type": "array", "items": {"type": "string"},
                                           "description": "Command to execute in the Pod container: the program, then its arguments (e.g. [\"ls\", \"-l\", \"/tmp\"])"}}),
            required: &["name", "command"],
        },
        Def {
            name: names::PODS_GET,
            title: "Pods: Get",
            effect: Effect::Read,
            idempotent: false,
            description: "Get a Kubernetes Pod in the current or provided namespace with the provided name",
            properties: json!({"name": s("Name of the Pod"), "namespace": s("Namespace to get the Pod from")}),
            required: &["name"],
        },
        Def {
            name: names::PODS_LIST,
            title: "Pods: List",
            effect: Effect::Read,
            idempotent: false,
            description: "List all the Kubernetes pods in the current cluster from all namespaces",
            properties: json!({"labelSelector": labels, "fieldSelector": fields}),
            required: &[],
        },
        Def {
            name: names::PODS_LIST_IN_NAMESPACE,
            title: "Pods: List in Namespace",
            effect: Effect::Read,
            idempotent: false,
            description: "List all the Kubernetes pods in the specified namespace in the current cluster",
            properties: json!({"namespace": s("Namespace to list pods from"), "labelSelector": labels, "fieldSelector": fields}),
            required: &["namespace"],
        },
        Def {
            name: names::PODS_LOG,
            title: "Pods: Log",
            effect: Effect::Read,
            idempotent: false,
            description: "Get the logs of a Kubernetes Pod in the current or provided namespace with the provided name",
            properties: json!({"name": s("Name of the Pod to get the logs from"), "namespace": s("Namespace to get the Pod logs from"),
                                 "container": s("Name of the Pod container to get the logs from (Optional)"),
                                 "previous": {"type": "boolean", "description": "Return previous terminated container logs (Optional)"},
                                 "tail": {"type": "integer", "default": 100, "minimum": 0, "description": "Number of lines to retrieve from the end of the logs (Optional, default: 100)"}}),
            required: &["name"],
        },
        Def {
            name: names::PODS_RUN,
            title: "Pods: Run",
            effect: Effect::Write,
            idempotent: false,
            description: "Run a Kubernetes Pod in the current or provided namespace with the provided container image and optional name",
            properties: json!({"image": s("Container Image to run in the Pod"), "name": s("Name of the Pod (Optional, random name if not provided)"),
                                 "namespace": s("Namespace to run the Pod in"), "port": {"type": "number", "description": "TCP/IP port to expose from the Pod container (Optional, no port exposed if not provided)"}}),
            required: &["image"],
        },
        Def {
            name: names::NODES_TOP,
            title: "Nodes: Top",
            effect: Effect::Read,
            idempotent: true,
            description: "List the resource consumption (CPU and memory) of the Kubernetes nodes, as the Metrics Server records it",
            properties: json!({"name": s("Name of the Node (Optional, all Nodes if not provided)"),
                               "label_selector": s("Kubernetes label selector to filter nodes by (Optional, only applicable when name is not provided)")}),
            required: &[],
        },
        Def {
            name: names::PODS_TOP,
            title: "Pods: Top",
            effect: Effect::Read,
            idempotent: true,
            description: "List the resource consumption (CPU and memory) of Kubernetes pods, as the Metrics Server records it, in all namespaces, the provided namespace, or the current namespace",
            properties: json!({"all_namespaces": {"type": "boolean", "default": true, "description": "Pods of all namespaces (default true); otherwise those of the provided or the current namespace"},
                               "namespace": s("Namespace of the pods (Optional, the current namespace if not provided and all_namespaces is false)"),
                               "name": s("Name of the Pod (Optional, all Pods if not provided)"),
                               "label_selector": s("Kubernetes label selector to filter pods by (Optional, only applicable when name is not provided)")}),
            required: &[],
        },
        Def {
            name: names::PROJECTS_LIST,
            title: "Projects: List",
            effect: Effect::Read,
            idempotent: false,
            description: "List all the OpenShift projects in the current cluster",
            properties: json!({}),
            required: &[],
        },
        Def {
            name: names::RESOURCES_CREATE_OR_UPDATE,
            title: "Resources: Create or Update",
            effect: Effect::Destroy,
            idempotent: true,
            description: "Create or update a Kubernetes resource via Server-Side Apply. The manifest is the complete desired state: fields this tool set before and the new manifest omits are removed. Set dryRun to have the API server validate it without changing anything.",
            properties: json!({"resource": s("Complete YAML or JSON representation of the Kubernetes resource (full desired state, not a partial patch)"),
                                 "dryRun": {"type": "boolean", "description": "Validate on the API server without persisting (Optional, default false)"}}),
            required: &["resource"],
        },
        Def {
            name: names::RESOURCES_DELETE,
            title: "Resources: Delete",
            effect: Effect::Destroy,
            idempotent: true,
            description: "Delete a Kubernetes resource in the current cluster by providing its apiVersion, kind, optionally the namespace, and its name",
            properties: json!({"apiVersion": api_version, "kind": kind, "namespace": s("Optional Namespace of the namespaced resource; the configured namespace when not given"),
                                 "name": s("Name of the resource"), "gracePeriodSeconds": {"type": "integer", "description": "Optional seconds before the object is deleted; zero deletes immediately"}}),
            required: &["apiVersion", "kind", "name"],
        },
        Def {
            name: names::RESOURCES_GET,
            title: "Resources: Get",
            effect: Effect::Read,
            idempotent: false,
            description: "Get a Kubernetes resource in the current cluster by providing its apiVersion, kind, optionally the namespace, and its name",
            properties: json!({"apiVersion": api_version, "kind": kind, "namespace": s("Optional Namespace of the namespaced resource; the configured namespace when not given"), "name": s("Name of the resource")}),
            required: &["apiVersion", "kind", "name"],
        },
        Def {
            name: names::RESOURCES_LIST,
            title: "Resources: List",
            effect: Effect::Read,
            idempotent: false,
            description: "List Kubernetes resources and objects in the current cluster by providing their apiVersion and kind and optionally the namespace and label selector",
            properties: json!({"apiVersion": api_version, "kind": kind, "namespace": s("Optional Namespace; all namespaces when not given"), "labelSelector": labels, "fieldSelector": fields}),
            required: &["apiVersion", "kind"],
        },
        Def {
            name: names::RESOURCES_SCALE,
            title: "Resources: Scale",
            effect: Effect::Destroy,
            idempotent: true,
            description: "Get or update the scale of a Kubernetes resource in the current cluster by providing its apiVersion, kind, name, and optionally the namespace. Always returns the current scale of the resource",
            properties: json!({"apiVersion": s("apiVersion of the resource (e.g. apps/v1)"), "kind": s("kind of the resource (e.g. StatefulSet, Deployment)"),
                                 "namespace": s("Optional Namespace of the namespaced resource; the configured namespace when not given"), "name": s("Name of the resource"),
                                 "scale": {"type": "integer", "description": "Optional scale to set; the current scale is only read when not given"}}),
            required: &["apiVersion", "kind", "name"],
        },
    ]
}

/// Registers the tools the configuration allows. A tool the rules refuse is left out of the
/// list, and every handler checks the rules again when called.
pub(super) fn register(inner: Arc<Inner>, registry: &mut Registry) {
    let contexts = inner.clusters.len() > 1;
    for def in defs() {
        if inner.refusal(def.name, def.effect).is_some() {
            continue;
        }
        let mut description = def.description.to_owned();
        if def.name.starts_with("resources_")
            && def.name != names::RESOURCES_SCALE
            && def.name != names::RESOURCES_CREATE_OR_UPDATE
        {
            description = format!("{description}\n{COMMON_KINDS}");
        }
        let handler_inner = inner.clone();
        let (name, effect) = (def.name, def.effect);
        let t = tool(def.name, description, move |args: JsonObject, cx: ToolContext| {
            let inner = handler_inner.clone();
            async move {
                if let Some(refusal) = inner.refusal(name, effect) {
                    return Err(ToolError::msg(refusal));
                }
                call(&inner, name, args, &cx).await
            }
        })
        .title(def.title)
        .annotations(annotations(&def))
        .input_schema(schema(
            &def.properties,
            def.required,
            contexts && def.name != names::CONFIGURATION_VIEW,
        ));
        registry.tool(t);
    }
}

/// A tool's arguments, its `name` and `namespace` checked as API path segments first.
fn args<T: for<'de> Deserialize<'de>>(tool: &str, arguments: JsonObject) -> Result<T, ToolError> {
    for argument in ["name", "namespace"] {
        if let Some(Value::String(value)) = arguments.get(argument) {
            path_segment(argument, value).map_err(ToolError::msg)?;
        }
    }
    mcp_core::tool::parse_arguments(tool, arguments)
}

/// A name or namespace goes into the API path as one segment, unescaped (kube builds the path by
/// formatting), so anything that would make it more than one segment is refused:
/// `default/secrets` as a Namespace's name would read the Secrets of `default` past a
/// `--deny-resource Secret`, `n1/proxy/configz?` as a node's name would reach the kubelet. What
/// the API server's own check refuses (`.`, `..`, `/`, `%`), what ends a path (`?`, `#`), and
/// white space and control characters, which no Kubernetes name has. Empty means not given.
fn path_segment(argument: &str, value: &str) -> Result<(), String> {
    let bad = value.chars().find(|c| matches!(c, '/' | '%' | '?' | '#' | '\\') || c.is_whitespace() || c.is_control());
    let why = match bad {
        _ if value == "." || value == ".." => format!("may not be `{value}`"),
        Some(c) => format!("may not contain {c:?}"),
        None => return Ok(()),
    };
    let shown: String = value.chars().take(80).collect();
    let more = if shown.len() < value.len() { "..." } else { "" };
    Err(format!("invalid argument {argument}: {shown:?}{more} is not a Kubernetes name: a name {why}"))
}

fn fail(prefix: impl std::fmt::Display, error: String) -> ToolError {
    ToolError::msg(format!("{prefix}: {error}"))
}

async fn call(inner: &Inner, name: &str, arguments: JsonObject, cx: &ToolContext) -> Result<CallToolResult, ToolError> {
    let pod = GroupVersionKind::gvk("", "v1", "Pod");
    match name {
        names::PODS_LIST | names::PODS_LIST_IN_NAMESPACE | names::NAMESPACES_LIST => {
            let a: ListArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let (gvk, ns, prefix, narrow) = match name {
                names::PODS_LIST => (
                    pod,
                    String::new(),
                    "failed to list pods in all namespaces".to_owned(),
                    "labelSelector or fieldSelector (or pods_list_in_namespace)",
                ),
                names::NAMESPACES_LIST => (
                    GroupVersionKind::gvk("", "v1", "Namespace"),
                    String::new(),
                    "failed to list namespaces".to_owned(),
                    "fieldSelector",
                ),
                _ => {
                    let ns = a.namespace.clone().unwrap_or_default();
                    (
                        pod,
                        ns.clone(),
                        format!("failed to list pods in namespace {ns}"),
                        "labelSelector or fieldSelector",
                    )
                }
            };
            let selectors =
                (a.label_selector.as_deref().unwrap_or_default(), a.field_selector.as_deref().unwrap_or_default());
            let (listed, _) =
                inner.list_printed(cluster, &gvk, &ns, selectors, narrow).await.map_err(|e| fail(prefix, e))?;
            Ok(text(listed))
        }
        names::PODS_GET => {
            let a: PodArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let ns = a.namespace.unwrap_or_default();
            let object = inner
                .get(cluster, &pod, &ns, &a.name)
                .await
                .map_err(|e| fail(format!("failed to get pod {} in namespace {ns}", a.name), e))?;
            Ok(text(yaml::to_string(&object)))
        }
        names::PODS_DELETE => {
            let a: PodArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let ns = a.namespace.unwrap_or_default();
            let prefix = format!("failed to delete pod {} in namespace {ns}", a.name);
            let object = inner.get(cluster, &pod, &ns, &a.name).await.map_err(|e| fail(&prefix, e))?;
            let managed = object["metadata"]["labels"]["app.kubernetes.io/managed-by"] == FIELD_MANAGER;
            let pod_ns = object["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
            if managed {
                // The service pods_run created beside the pod goes with it.
                let app = object["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap_or_default();
                let selector = format!("app.kubernetes.io/managed-by={FIELD_MANAGER},app.kubernetes.io/name={app}");
                let service = GroupVersionKind::gvk("", "v1", "Service");
                if let Ok((services, _)) = inner.list(cluster, &service, &pod_ns, (&selector, ""), Reach::Whole).await {
                    for svc in services {
                        let svc_name = svc["metadata"]["name"].as_str().unwrap_or_default();
                        let _ = inner.delete(cluster, &service, &pod_ns, svc_name, None).await;
                    }
                }
            }
            inner.delete(cluster, &pod, &pod_ns, &a.name, None).await.map_err(|e| fail(&prefix, e))?;
            Ok(text("Pod deleted successfully".into()))
        }
        names::PODS_LOG => {
            let a: LogArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let given_ns = a.namespace.clone().unwrap_or_default();
            let prefix = format!("failed to get pod {} log in namespace {given_ns}", a.name);
            inner.check_allowed(&pod).map_err(|e| fail(&prefix, e))?;
            let ns = if given_ns.is_empty() { cluster.namespace.clone() } else { given_ns.clone() };
            let container = match a.container.filter(|c| !c.is_empty()) {
                Some(c) => c,
                None => {
                    let object = inner.get(cluster, &pod, &ns, &a.name).await.map_err(|e| fail(&prefix, e))?;
                    default_container(&object)
                }
            };
            let tail = a.tail.filter(|t| *t > 0).unwrap_or(DEFAULT_TAIL);
            let params = LogParams {
                container: Some(container),
                previous: a.previous.unwrap_or(false),
                tail_lines: Some(tail),
                ..Default::default()
            };
            let resource = ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
            let request = Request::new(url(&resource, Some(&ns)))
                .logs(&a.name, &params)
                .map_err(|e| fail(&prefix, e.to_string()))?;
            cx.progress(0.0, None, Some(format!("reading the log of pod {}", a.name))).await;
            let log = read_text(cluster, request, Keep::End).await.map_err(|e| fail(&prefix, e))?;
            if log.is_empty() {
                return Ok(text(format!("The pod {} in namespace {given_ns} has not logged any message yet", a.name)));
            }
            Ok(text(log))
        }
        names::PODS_EXEC => {
            let a: ExecArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let given_ns = a.namespace.clone().unwrap_or_default();
            let prefix = format!("failed to exec in pod {} in namespace {given_ns}", a.name);
            let command: Vec<String> = match a.command.as_array() {
                Some(items) if items.iter().all(Value::is_string) => {
                    items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()
                }
                _ => {
                    return Err(ToolError::msg("failed to exec in pod: command parameter must be an array of strings"));
                }
            };
            let ns = if given_ns.is_empty() { cluster.namespace.clone() } else { given_ns.clone() };
            let object = inner.get(cluster, &pod, &ns, &a.name).await.map_err(|e| fail(&prefix, e))?;
            let phase = object["status"]["phase"].as_str().unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                return Err(fail(
                    &prefix,
                    format!("cannot exec into a container in a completed pod; current phase is {phase}"),
                ));
            }
            let container = a.container.filter(|c| !c.is_empty()).unwrap_or_else(|| default_container(&object));
            let output = exec(cluster, (&ns, &a.name, &container), command, cx).await.map_err(|e| fail(&prefix, e))?;
            let mut out = if !output.stdout.is_empty() { output.stdout } else { output.stderr };
            if out.is_empty() {
                return Ok(text(format!(
                    "The executed command in pod {} in namespace {given_ns} has not produced any output",
                    a.name
                )));
            }
            if output.truncated {
                out.push_str(&format!(
                    "\n[output truncated at {MAX_EXEC_OUTPUT} bytes: the stream was closed and the command's exit status not read]\n"
                ));
            }
            Ok(text(out))
        }
        names::PODS_RUN => {
            let a: RunArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let pod_name = a.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(random_name);
            let ns = a.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| cluster.namespace.clone());
            let labels = json!({"app.kubernetes.io/name": pod_name, "app.kubernetes.io/component": pod_name,
                                "app.kubernetes.io/managed-by": FIELD_MANAGER, "app.kubernetes.io/part-of": format!("{FIELD_MANAGER}-run-sandbox")});
            let port = a.port.map(|p| p as i64).filter(|p| *p > 0);
            let mut container =
                json!({"name": pod_name, "image": a.image, "imagePullPolicy": "Always", "resources": {}});
            if let Some(port) = port {
                container["ports"] = json!([{"containerPort": port}]);
            }
            let mut objects = vec![json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns, "labels": labels, "creationTimestamp": null},
                "spec": {"containers": [container]}, "status": {}})];
            if let Some(port) = port {
                objects.push(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": pod_name, "namespace": ns, "labels": labels, "creationTimestamp": null},
                    "spec": {"selector": labels, "type": "ClusterIP", "ports": [{"port": port, "targetPort": port}]},
                    "status": {"loadBalancer": {}}}));
            }
            let given = a.name.unwrap_or_default();
            let applied = inner.apply(cluster, objects, false, None).await.map_err(|e| {
                fail(format!("failed to run pod {given} in namespace {}", a.namespace.unwrap_or_default()), e)
            })?;
            Ok(text(format!(
                "# The following resources (YAML) have been created or updated successfully\n{}",
                yaml::to_string(&Value::Array(applied))
            )))
        }
        names::RESOURCES_LIST => {
            let a: ResourceArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let gvk = parse_gvk(&a.api_version, &a.kind)
                .map_err(|e| ToolError::msg(format!("failed to list resources, {e}")))?;
            let selectors =
                (a.label_selector.as_deref().unwrap_or_default(), a.field_selector.as_deref().unwrap_or_default());
            let namespace = a.namespace.as_deref().unwrap_or_default();
            let narrow = "namespace, labelSelector or fieldSelector";
            let (listed, structured) = inner
                .list_printed(cluster, &gvk, namespace, selectors, narrow)
                .await
                .map_err(|e| fail("failed to list resources", e))?;
            Ok(match structured {
                Some(structured) => with_structured(listed, structured),
                None => text(listed),
            })
        }
        names::RESOURCES_GET => {
            let a: ResourceArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let gvk = parse_gvk(&a.api_version, &a.kind)
                .map_err(|e| ToolError::msg(format!("failed to get resource, {e}")))?;
            let resource_name =
                a.name.ok_or_else(|| ToolError::msg("failed to get resource, missing argument name"))?;
            let object = inner
                .get(cluster, &gvk, a.namespace.as_deref().unwrap_or_default(), &resource_name)
                .await
                .map_err(|e| fail("failed to get resource", e))?;
            Ok(with_structured(yaml::to_string(&object), object))
        }
        names::RESOURCES_CREATE_OR_UPDATE => {
            let a: ApplyArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let manifest = a
                .resource
                .filter(|r| !r.is_empty())
                .ok_or_else(|| ToolError::msg("failed to create or update resources, missing argument resource"))?;
            let objects = parse_manifest(&manifest).map_err(|e| fail("failed to create or update resources", e))?;
            let dry_run = a.dry_run.unwrap_or(false);
            let applied = inner
                .apply(cluster, objects, dry_run, Some(cx))
                .await
                .map_err(|e| fail("failed to create or update resources", e))?;
            let heading = if dry_run {
                "# Dry run: the API server accepted the following resources (YAML); nothing was changed"
            } else {
                "# The following resources (YAML) have been created or updated successfully"
            };
            Ok(text(format!("{heading}\n{}", yaml::to_string(&Value::Array(applied)))))
        }
        names::RESOURCES_DELETE => {
            let a: ResourceArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let gvk = parse_gvk(&a.api_version, &a.kind)
                .map_err(|e| ToolError::msg(format!("failed to delete resource, {e}")))?;
            let resource_name =
                a.name.ok_or_else(|| ToolError::msg("failed to delete resource, missing argument name"))?;
            let grace =
                match a.grace_period_seconds {
                    Some(g) if g < 0 => {
                        return Err(ToolError::msg("failed to delete resource, invalid argument gracePeriodSeconds"));
                    }
                    Some(g) => Some(u32::try_from(g).map_err(|_| {
                        ToolError::msg("failed to delete resource, invalid argument gracePeriodSeconds")
                    })?),
                    None => None,
                };
            inner
                .delete(cluster, &gvk, a.namespace.as_deref().unwrap_or_default(), &resource_name, grace)
                .await
                .map_err(|e| fail("failed to delete resource", e))?;
            Ok(text("Resource deleted successfully".into()))
        }
        names::RESOURCES_SCALE => {
            let a: ResourceArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let gvk = parse_gvk(&a.api_version, &a.kind)
                .map_err(|e| ToolError::msg(format!("failed to get/update resource scale, {e}")))?;
            let resource_name =
                a.name.ok_or_else(|| ToolError::msg("failed to get/update resource scale, missing argument name"))?;
            let prefix = "failed to get/update resource scale";
            inner.check_allowed(&gvk).map_err(|e| fail(prefix, e))?;
            let (resource, namespaced) = resolve(cluster, &gvk).await.map_err(|e| fail(prefix, e))?;
            let ns_arg = a.namespace.unwrap_or_default();
            let ns = namespaced.then(|| if ns_arg.is_empty() { cluster.namespace.clone() } else { ns_arg });
            let request = Request::new(url(&resource, ns.as_deref()));
            let mut scale =
                send(cluster, request.get_subresource("scale", &resource_name)).await.map_err(|e| fail(prefix, e))?;
            if let Some(replicas) = a.scale {
                scale["spec"]["replicas"] = json!(replicas);
                let body = serde_json::to_vec(&scale).map_err(|e| fail(prefix, e.to_string()))?;
                scale = send(cluster, request.replace_subresource("scale", &resource_name, &Default::default(), body))
                    .await
                    .map_err(|e| fail(prefix, format!("failed to update scale: {e}")))?;
            }
            Ok(text(format!("# Current resource scale (YAML) is below\n{}", yaml::to_string(&tidy(scale)))))
        }
        names::EVENTS_LIST => {
            let a: ListArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let prefix = "failed to list events in all namespaces";
            let gvk = GroupVersionKind::gvk("", "v1", "Event");
            let namespace = a.namespace.as_deref().unwrap_or_default();
            let selectors = ("", a.field_selector.as_deref().unwrap_or_default());
            let reach = Reach::Bounded { narrow: "namespace or fieldSelector" };
            let (items, note) =
                inner.list(cluster, &gvk, namespace, selectors, reach).await.map_err(|e| fail(prefix, e))?;
            if items.is_empty() {
                return Ok(text("# No events found".into()));
            }
            let events: Vec<Value> = items.iter().map(event_summary).collect();
            Ok(text(with_note(
                format!("# The following events (YAML format) were found:\n{}", yaml::to_string(&Value::Array(events))),
                note,
            )))
        }
        names::NODES_LOG | names::NODES_STATS_SUMMARY => {
            let a: NodeArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let node = a.name.filter(|n| !n.is_empty());
            let (what, missing) =
                if name == names::NODES_LOG { ("node log", "name") } else { ("node stats summary", "name") };
            let node =
                node.ok_or_else(|| ToolError::msg(format!("failed to get {what}, missing argument {missing}")))?;
            let query = a.query.unwrap_or_default();
            if name == names::NODES_LOG && query.is_empty() {
                return Err(ToolError::msg("failed to get node log, missing argument query"));
            }
            let prefix = format!("failed to get {what} for {node}");
            let gvk = GroupVersionKind::gvk("", "v1", "Node");
            inner
                .get(cluster, &gvk, "", &node)
                .await
                .map_err(|e| fail(&prefix, format!("failed to get node {node}: {e}")))?;
            let mut path = format!("/api/v1/nodes/{node}/proxy/");
            if name == names::NODES_LOG {
                path.push_str(&format!("logs?query={}", encode(&query)));
                // The schema's default: 100 lines, 0 for all of them.
                if let Some(tail) = Some(a.tail_lines.unwrap_or(100)).filter(|t| *t > 0) {
                    path.push_str(&format!("&tailLines={tail}"));
                }
            } else {
                path.push_str("stats/summary");
            }
            let request = http::Request::get(path).body(Vec::new()).map_err(|e| fail(&prefix, e.to_string()))?;
            let failure =
                if name == names::NODES_LOG { "failed to get node logs" } else { "failed to get node stats summary" };
            let keep = if name == names::NODES_LOG { Keep::End } else { Keep::Whole };
            let body = read_text(cluster, request, keep).await.map_err(|e| fail(&prefix, format!("{failure}: {e}")))?;
            if body.is_empty() && name == names::NODES_LOG {
                return Ok(text(format!("The node {node} has not logged any message yet or the log file is empty")));
            }
            Ok(text(body))
        }
        names::PODS_TOP => {
            let a: TopArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let prefix = "failed to get pods top";
            metrics_available(cluster).await.map_err(|e| fail(prefix, e))?;
            let given = a.namespace.unwrap_or_default();
            let namespace = if a.all_namespaces.unwrap_or(true) && given.is_empty() {
                String::new()
            } else if given.is_empty() {
                cluster.namespace.clone()
            } else {
                given
            };
            let base = if namespace.is_empty() {
                "/apis/metrics.k8s.io/v1beta1/pods".to_owned()
            } else {
                format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
            };
            let metrics = match a.name.filter(|n| !n.is_empty()) {
                Some(pod) => vec![
                    get_json(cluster, &format!("{base}/{pod}"))
                        .await
                        .map_err(|e| fail(prefix, format!("failed to get metrics for pod {namespace}/{pod}: {e}")))?,
                ],
                None => {
                    let mut path = base;
                    if let Some(selector) = a.label_selector.filter(|s| !s.is_empty()) {
                        path.push_str(&format!("?labelSelector={}", encode(&selector)));
                    }
                    let list = get_json(cluster, &path).await.map_err(|e| {
                        fail(prefix, format!("failed to list pod metrics in namespace {namespace}: {e}"))
                    })?;
                    list["items"].as_array().cloned().unwrap_or_default()
                }
            };
            Ok(text(super::top::pods(metrics)))
        }
        names::NODES_TOP => {
            let a: TopArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            metrics_available(cluster).await.map_err(|e| fail("failed to get nodes top", e))?;
            let selector = a.label_selector.filter(|s| !s.is_empty());
            let one = a.name.filter(|n| !n.is_empty());
            let metrics = match one.clone() {
                Some(node) => {
                    vec![get_json(cluster, &format!("/apis/metrics.k8s.io/v1beta1/nodes/{node}")).await.map_err(
                        |e| fail("failed to get nodes top", format!("failed to get metrics for node {node}: {e}")),
                    )?]
                }
                None => {
                    let mut path = "/apis/metrics.k8s.io/v1beta1/nodes".to_owned();
                    if let Some(selector) = &selector {
                        path.push_str(&format!("?labelSelector={}", encode(selector)));
                    }
                    let list = get_json(cluster, &path)
                        .await
                        .map_err(|e| fail("failed to get nodes top", format!("failed to list node metrics: {e}")))?;
                    list["items"].as_array().cloned().unwrap_or_default()
                }
            };
            let node = GroupVersionKind::gvk("", "v1", "Node");
            // Every node with metrics needs its allocatable resources: the one asked for, or all.
            let nodes = match one {
                Some(name) => {
                    vec![inner.get(cluster, &node, "", &name).await.map_err(|e| fail("failed to get node", e))?]
                }
                None => {
                    let selectors = (selector.as_deref().unwrap_or_default(), "");
                    let (nodes, _) = inner
                        .list(cluster, &node, "", selectors, Reach::Whole)
                        .await
                        .map_err(|e| fail("failed to list nodes", e))?;
                    nodes
                }
            };
            Ok(text(super::top::nodes(metrics, &nodes)))
        }
        names::PROJECTS_LIST => {
            let a: ListArgs = args(name, arguments)?;
            let cluster = inner.cluster(a.context.as_deref())?;
            let gvk = GroupVersionKind::gvk("project.openshift.io", "v1", "Project");
            let (listed, _) = inner
                .list_printed(cluster, &gvk, "", ("", ""), "")
                .await
                .map_err(|e| fail("failed to list projects", e))?;
            Ok(text(listed))
        }
        names::CONFIGURATION_VIEW => {
            let a: ConfigArgs = args(name, arguments)?;
            let view = configuration_view(inner, a.minified.unwrap_or(true))
                .map_err(|e| fail("failed to get configuration", e))?;
            Ok(text(yaml::to_string(&view)))
        }
        other => Err(ToolError::msg(format!("unknown tool `{other}`"))),
    }
}

/// The container a pod's log comes from when none is named: its only one, the one its
/// `kubectl.kubernetes.io/default-container` annotation names, or its first.
fn default_container(pod: &Value) -> String {
    let containers: Vec<&str> =
        pod["spec"]["containers"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
    if containers.len() == 1 {
        return containers[0].to_owned();
    }
    if let Some(annotated) =
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str().filter(|a| !a.is_empty())
    {
        return annotated.to_owned();
    }
    containers.first().map(|c| (*c).to_owned()).unwrap_or_default()
}

/// A pod name for `pods_run` without one: the Go server's prefix and five random characters.
fn random_name() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let mut state = seed as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let suffix: String = (0..5)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
        })
        .collect();
    format!("{FIELD_MANAGER}-run-{suffix}")
}

/// One event as the Go server summarises it.
fn event_summary(event: &Value) -> Value {
    let stamp = |field: &str| event[field].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let count = event["count"].as_i64().unwrap_or(0);
    let timestamp = stamp("eventTime")
        .or_else(|| event["series"]["lastObservedTime"].as_str().map(str::to_owned))
        .or_else(|| if count > 1 { stamp("lastTimestamp") } else { None })
        .or_else(|| stamp("firstTimestamp"));
    let involved = &event["involvedObject"];
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    json!({
        "Namespace": str_of(&event["metadata"]["namespace"]),
        "Timestamp": go_time(timestamp.as_deref()),
        "Type": str_of(&event["type"]),
        "Reason": str_of(&event["reason"]),
        "InvolvedObject": {"apiVersion": str_of(&involved["apiVersion"]), "Kind": str_of(&involved["kind"]), "Name": str_of(&involved["name"])},
        "Message": str_of(&event["message"]).trim(),
    })
}

/// An RFC 3339 UTC time as Go's `time.Time.String()` prints it in UTC.
fn go_time(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339 else { return "0001-01-01 00:00:00 +0000 UTC".into() };
    let t = t.trim_end_matches('Z');
    match t.split_once('T') {
        Some((date, time)) => format!("{date} {time} +0000 UTC"),
        None => t.to_owned(),
    }
}

/// The kubeconfig as `kubectl config view` shows it, credentials redacted.
fn configuration_view(inner: &Inner, minified: bool) -> Result<Value, String> {
    let mut config = serde_json::to_value(&inner.kubeconfig).map_err(|e| e.to_string())?;
    let current = inner.default_context.clone();
    if minified {
        let context =
            config["contexts"].as_array().into_iter().flatten().find(|c| c["name"] == current.as_str()).cloned();
        let Some(context) = context else { return Err(format!("context {current:?} not found")) };
        let cluster = context["context"]["cluster"].clone();
        let user = context["context"]["user"].clone();
        let keep = |list: &Value, name: &Value| -> Value {
            json!(list.as_array().into_iter().flatten().filter(|e| e["name"] == *name).cloned().collect::<Vec<_>>())
        };
        config["clusters"] = keep(&config["clusters"], &cluster);
        config["users"] = keep(&config["users"], &user);
        config["contexts"] = json!([context]);
        config["current-context"] = json!(current);
    }
    if let Some(users) = config["users"].as_array_mut() {
        for user in users {
            if let Some(fields) = user["user"].as_object_mut() {
                for (key, value) in fields.iter_mut() {
                    let secret = matches!(
                        key.as_str(),
                        "token" | "password" | "client-key-data" | "client-certificate-data" | "tokenFile" | "username"
                    );
                    if secret && !value.is_null() {
                        *value = json!(if key.ends_with("-data") { "DATA+OMITTED" } else { "REDACTED" });
                    }
                    if key == "auth-provider" || key == "exec" {
                        *value = json!(REDACTED);
                    }
                }
            }
        }
    }
    if let Some(clusters) = config["clusters"].as_array_mut() {
        for cluster in clusters {
            if let Some(data) = cluster["cluster"].get_mut("certificate-authority-data").filter(|v| !v.is_null()) {
                *data = json!("DATA+OMITTED");
            }
            // A server's or a proxy's URL can carry a user and password
            // (`https://admin:pw@host:6443`): shown as errors show them, without.
            for field in ["server", "proxy-url"] {
                if let Some(url) = cluster["cluster"].get_mut(field)
                    && let Some(shown) = url.as_str().map(mcp_core::config::display_url)
                {
                    *url = json!(shown);
                }
            }
        }
    }
    strip_nulls(&mut config);
    config["preferences"] = json!({});
    Ok(config)
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_path_segments() {
        for good in ["web-1", "default", "system:controller:x", "a.b.c", "", "Ünïcode"] {
            assert_eq!(path_segment("name", good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("default/secrets", "'/'"),
            ("n1/proxy/configz?", "'/'"),
            ("x?watch=1", "'?'"),
            ("x#", "'#'"),
            ("%2e%2e", "'%'"),
            ("..", "`..`"),
            (".", "`.`"),
            ("a b", "' '"),
            ("a\nb", "'\\n'"),
        ] {
            let error = path_segment("namespace", bad).expect_err(bad);
            assert!(error.starts_with("invalid argument namespace: ") && error.contains(why), "{bad}: {error}");
        }
        let long = "a/".repeat(500);
        assert!(path_segment("name", &long).expect_err("long").len() < 200, "a long value is cut");
        for (api_version, kind) in
            [("../v1", "Pod"), ("apps/v1?x", "Deployment"), ("v1", "Pod/x"), ("a..b/v1", "X"), ("v1", "")]
        {
            assert!(parse_gvk(api_version, kind).is_err(), "{api_version} {kind}");
        }
        assert!(parse_gvk("v1", "Pod").is_ok() && parse_gvk("metrics.k8s.io/v1beta1", "PodMetrics").is_ok());
    }

    #[test]
    fn the_secrets_of_a_list_are_redacted_too() {
        let inner = Inner {
            clusters: Default::default(),
            refused: Default::default(),
            default_context: String::new(),
            kubeconfig: Default::default(),
            config: crate::native::K8sConfig::default(),
        };
        let mut list = json!({"apiVersion": "v1", "kind": "SecretList", "items": [
            {"metadata": {"name": "db"}, "data": {"password": "c2VjcmV0"}},
            {"metadata": {"name": "tls"}, "stringData": {"key": "plain"}}
        ]});
        inner.redact(&mut list);
        assert_eq!(list["items"][0]["data"]["password"], REDACTED);
        assert_eq!(list["items"][1]["stringData"]["key"], REDACTED);
        let mut mixed = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Secret", "data": {"k": "c2VjcmV0"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "shown"}}
        ]});
        inner.redact(&mut mixed);
        assert_eq!(
            (&mixed["items"][0]["data"]["k"], &mixed["items"][1]["data"]["k"]),
            (&json!(REDACTED), &json!("shown"))
        );
    }

    #[tokio::test]
    async fn a_failures_causes_never_show_the_password_of_the_clusters_url() {
        let url = "https://admin:S3cretPass@api.example.com:6443";
        let config = kube::Config::new(url.parse().expect("a URI"));
        let cluster = Cluster {
            client: kube::Client::try_from(config).expect("a client"),
            namespace: "default".into(),
            scrubber: mcp_core::config::Scrubber::new(mcp_core::config::url_credentials(url)),
        };
        let cause = std::io::Error::other(format!("cannot connect to {url}"));
        let text = cluster.message(kube::Error::Service(Box::new(cause)));
        assert_eq!(text, "ServiceError: cannot connect to https://***:***@api.example.com:6443");
    }

    #[test]
    fn event_times_print_as_go_does() {
        assert_eq!(go_time(Some("2026-01-01T00:00:00Z")), "2026-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn manifests_split_at_document_markers() {
        let objects =
            parse_manifest("apiVersion: v1\nkind: ConfigMap\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Secret\"}\n")
                .expect("parses");
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1]["kind"], "Secret");
        assert!(parse_manifest("a: [").is_err());
    }
}
