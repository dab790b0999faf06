//! The native filesystem server: the reference server's tools, names and argument shapes,
//! implemented in Rust and confined by capability.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_fs::native::{FsServer, Limits};
//! let tools = FsServer::open(["/srv/data"], Limits::default())?.registry();
//! mcp_core::Server::builder(mcp_core::protocol::Implementation::new("fs", "1"), tools)
//!     .build()
//!     .serve_stdio()
//!     .await?;
//! # Ok(()) }
//! ```

mod confine;
mod diff;
mod glob;
mod ops;

use std::path::Path;
use std::sync::Arc;

use mcp_core::protocol::{CallToolResult, Content, JsonObject, ResourceContents, ToolAnnotations};
use mcp_core::{Registry, ToolContext, ToolError, tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

pub use confine::Roots;
pub use ops::{Fs, Limits};

/// The native filesystem tools over a set of allowed directories.
#[derive(Debug, Clone)]
pub struct FsServer {
    fs: Arc<Source>,
}

/// What a client's roots (`roots/list`) may do to the allowed directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientRoots {
    /// They are not asked for: the configured directories are the allowed ones (the default).
    #[default]
    Ignore,
    /// They narrow the configured directories (the intersection), never widen them: a client
    /// root inside an allowed directory is kept, an allowed directory inside a client root is
    /// kept, and anything else is dropped.
    Narrow,
}

/// Where the allowed directories come from: the operator, narrowed by the client's roots when
/// enabled, or (with none configured) the client's roots alone.
#[derive(Debug)]
struct Source {
    configured: Option<Arc<Fs>>,
    client_roots: ClientRoots,
    limits: Limits,
    /// The last roots a client gave, and the filesystem opened on them.
    from_client: std::sync::Mutex<Option<(Vec<std::path::PathBuf>, Arc<Fs>)>>,
}

impl Source {
    /// The filesystem for this call.
    async fn resolve(&self, cx: &ToolContext) -> Result<Arc<Fs>, ToolError> {
        let asks = match (&self.configured, self.client_roots) {
            (Some(_), ClientRoots::Ignore) => false,
            _ => cx.client_capabilities().is_some_and(|c| c.roots.is_some()),
        };
        if asks {
            // A client of the stateless era is asked through an input-required result and calls
            // again with its roots; one of the handshake era is sent `roots/list` now.
            let answer =
                cx.ask_client("roots", "roots/list", Default::default(), std::time::Duration::from_secs(10)).await;
            let answer = match answer {
                Err(e) if e.input().is_some() => return Err(e),
                other => other,
            };
            let declared: Vec<std::path::PathBuf> = answer
                .ok()
                .and_then(|v| v.get("roots").and_then(serde_json::Value::as_array).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.get("uri").and_then(serde_json::Value::as_str))
                .filter_map(file_uri_path)
                .collect();
            if !declared.is_empty() {
                let mut cache = self.from_client.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((seen, fs)) = cache.as_ref()
                    && *seen == declared
                {
                    return Ok(fs.clone());
                }
                let allowed = match &self.configured {
                    Some(configured) => narrow(&configured.roots.paths().collect::<Vec<_>>(), &declared)?,
                    None => declared.clone(),
                };
                let fs = Arc::new(Fs { roots: Roots::open(&allowed)?, limits: self.limits.clone() });
                *cache = Some((declared, fs.clone()));
                return Ok(fs);
            }
        }
        self.configured.clone().ok_or_else(|| {
            ToolError::msg(
                "no allowed directories: start the server with directories, or use a client that provides roots",
            )
        })
    }
}

/// The path of a `file://` URI (percent-decoded), or `None` for any other URI.
fn file_uri_path(uri: &str) -> Option<std::path::PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file://localhost/path` and `file:///path` name the same local file.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt as _;
    Some(std::path::PathBuf::from(std::ffi::OsString::from_vec(decoded)))
}

/// The directories both the operator (`configured`, canonical) and the client (`declared`)
/// allow: the deeper of each overlapping pair, compared by whole components after resolving
/// symlinks. None overlapping is an error: the client asked for less than nothing.
fn narrow(configured: &[&Path], declared: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, ToolError> {
    let mut kept: Vec<std::path::PathBuf> = Vec::new();
    for root in declared {
        // A root that does not exist allows nothing.
        let Ok(root) = root.canonicalize() else { continue };
        for &allowed in configured {
            let deeper = if root.starts_with(allowed) {
                root.clone()
            } else if allowed.starts_with(&root) {
                allowed.to_path_buf()
            } else {
                continue;
            };
            if !kept.contains(&deeper) {
                kept.push(deeper);
            }
        }
    }
    if kept.is_empty() {
        let shown: Vec<String> = declared.iter().map(|p| p.display().to_string()).collect();
        return Err(ToolError::msg(format!(
            "access denied: the client's roots ({}) lie outside the allowed directories",
            shown.join(", ")
        )));
    }
    Ok(kept)
}

impl FsServer {
    /// Allows `dirs` (each must exist and be a directory); a client's roots are not asked for.
    pub fn open<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>, limits: Limits) -> crate::Result<Self> {
        Self::open_with(dirs, ClientRoots::Ignore, limits)
    }

    /// Allows `dirs`, narrowed by each client's roots when `client_roots` says so.
    pub fn open_with<P: AsRef<Path>>(
        dirs: impl IntoIterator<Item = P>,
        client_roots: ClientRoots,
        limits: Limits,
    ) -> crate::Result<Self> {
        let fs = Arc::new(Fs { roots: Roots::open(dirs)?, limits: limits.clone() });
        Ok(Self {
            fs: Arc::new(Source { configured: Some(fs), client_roots, limits, from_client: Default::default() }),
        })
    }

    /// A server whose allowed directories are the roots each client provides (none otherwise):
    /// for an operator who configured no directory and leaves the choice to the client.
    pub fn from_client_roots(limits: Limits) -> Self {
        Self {
            fs: Arc::new(Source {
                configured: None,
                client_roots: ClientRoots::Narrow,
                limits,
                from_client: Default::default(),
            }),
        }
    }

    /// The canonical allowed directories given at start (a client's roots may only narrow them).
    pub fn allowed(&self) -> Vec<std::path::PathBuf> {
        self.fs.configured.iter().flat_map(|fs| fs.roots.paths().map(Path::to_path_buf)).collect()
    }

    /// A registry with every tool, ready to serve.
    pub fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        self.register(&mut registry);
        registry
    }

    /// Adds every tool to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let fs = &self.fs;
        let read_only = || annotations(true, false, false);

        let f = fs.clone();
        let read_text = move |a: ReadTextArgs, cx: ToolContext| {
            let f = f.clone();
            async move {
                let f = f.resolve(&cx).await?;
                let (head, tail) = (count("head", a.head)?, count("tail", a.tail)?);
                blocking(move || f.read_text(&a.path, head, tail)).await.map(text)
            }
        };
        registry.tool(
            tool("read_text_file", "Reads a UTF-8 text file, whole or only its first `head` or last `tail` lines. A whole read and `head` return line ends as stored; `tail` returns CRLF as LF. Only within the allowed directories.", read_text.clone())
                .title("Read Text File")
                .input_schema(read_text_schema())
                .output_schema(text_output())
                .annotations(read_only()),
        );
        registry.tool(
            tool("read_file", "Deprecated alias of read_text_file.", read_text)
                .title("Read File (Deprecated)")
                .input_schema(read_text_schema())
                .output_schema(text_output())
                .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("read_media_file", "Reads an image or audio file as base64 with its MIME type; any other file comes back as an embedded binary resource. Only within the allowed directories.", move |a: PathArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?;
                    let (data, mime, path) = blocking(move || f.read_media(&a.path)).await?;
                    let block = if mime.starts_with("image/") || mime.starts_with("audio/") {
                        if mime.starts_with("image/") { Content::image(data, mime) } else { Content::audio(data, mime) }
                    } else {
                        let uri = format!("file://{}", path.display());
                        Content::resource(ResourceContents::blob(uri, Some(mime), data))
                    };
                    let structured = json!({ "content": [serde_json::to_value(&block).unwrap_or_default()] });
                    Ok::<_, ToolError>(CallToolResult::new(vec![block]).with_structured(structured))
                }
            })
            .title("Read Media File")
            .input_schema(path_schema())
            .output_schema(media_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("read_multiple_files", "Reads several text files at once; each comes back under its path, and a file that cannot be read reports its error without failing the others. Only within the allowed directories.", move |a: MultiArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?;
                    if a.paths.is_empty() {
                        return Err(ToolError::msg("`paths` needs at least one path"));
                    }
                    Ok(text(blocking(move || Ok(f.read_multiple(&a.paths))).await?))
                }
            })
            .title("Read Multiple Files")
            .input_schema(schema(json!({"paths": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Paths of the files to read, each within the allowed directories."}}), &["paths"]))
            .output_schema(text_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("write_file", "Creates a file or replaces its whole content, atomically (a temporary file renamed into place). Only within the allowed directories.", move |a: WriteArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.write(&a.path, &a.content)).await.map(text) }
            })
            .title("Write File")
            .input_schema(schema(json!({"path": {"type": "string"}, "content": {"type": "string"}}), &["path", "content"]))
            .output_schema(text_output())
            .annotations(annotations(false, true, true)),
        );

        let f = fs.clone();
        registry.tool(
            tool("edit_file", "Replaces text in a file, edit by edit (exact text first, then line by line ignoring surrounding whitespace), and returns a unified diff. With dryRun the file is left unchanged. Only within the allowed directories.", move |a: EditArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?;
                    let edits: Vec<(String, String)> = a.edits.into_iter().map(|e| (e.old_text, e.new_text)).collect();
                    blocking(move || f.edit(&a.path, &edits, a.dry_run)).await.map(text)
                }
            })
            .title("Edit File")
            .input_schema(schema(
                json!({
                    "path": {"type": "string"},
                    "edits": {"type": "array", "items": {"type": "object", "properties": {
                        "oldText": {"type": "string", "description": "Text to find; must match exactly (or line by line up to whitespace)"},
                        "newText": {"type": "string", "description": "Text to put in its place"}
                    }, "required": ["oldText", "newText"], "additionalProperties": false}},
                    "dryRun": {"type": "boolean", "default": false, "description": "Only show the diff; do not write"}
                }),
                &["path", "edits"],
            ))
            .output_schema(text_output())
            .annotations(annotations(false, true, false)),
        );

        let f = fs.clone();
        registry.tool(
            tool("create_directory", "Creates a directory and any missing parents; succeeds if it already exists. Only within the allowed directories.", move |a: PathArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.create_dir(&a.path)).await.map(text) }
            })
            .title("Create Directory")
            .input_schema(path_schema())
            .output_schema(text_output())
            .annotations(annotations(false, false, true)),
        );

        let f = fs.clone();
        registry.tool(
            tool("list_directory", "Lists a directory, one entry per line prefixed [DIR] or [FILE], sorted by name. Only within the allowed directories.", move |a: PathArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.list(&a.path)).await.map(text) }
            })
            .title("List Directory")
            .input_schema(path_schema())
            .output_schema(text_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("list_directory_with_sizes", "Lists a directory with file sizes, sorted by name or by size (largest first), followed by totals. Only within the allowed directories.", move |a: SizesArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?;
                    let by_size = match a.sort_by.as_deref() {
                        None | Some("name") => false,
                        Some("size") => true,
                        Some(other) => return Err(ToolError::msg(format!("`sortBy` must be \"name\" or \"size\", not {other:?}"))),
                    };
                    blocking(move || f.list_with_sizes(&a.path, by_size)).await.map(text)
                }
            })
            .title("List Directory with Sizes")
            .input_schema(schema(json!({"path": {"type": "string"}, "sortBy": {"type": "string", "enum": ["name", "size"], "default": "name", "description": "Sort by name or by size"}}), &["path"]))
            .output_schema(text_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("directory_tree", "Returns the tree under a directory as indented JSON: each entry has `name`, `type` (file or directory) and, for directories, `children`. Symlinks are listed, not followed. Only within the allowed directories.", move |a: TreeArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.tree(&a.path, &a.exclude_patterns)).await.map(text) }
            })
            .title("Directory Tree")
            .input_schema(schema(json!({"path": {"type": "string"}, "excludePatterns": {"type": "array", "items": {"type": "string"}, "default": []}}), &["path"]))
            .output_schema(text_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("move_file", "Moves or renames a file or directory; fails if the destination exists. Both paths must be within the allowed directories.", move |a: MoveArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.rename(&a.source, &a.destination)).await.map(text) }
            })
            .title("Move File")
            .input_schema(schema(json!({"source": {"type": "string"}, "destination": {"type": "string"}}), &["source", "destination"]))
            .output_schema(text_output())
            .annotations(annotations(false, true, false)),
        );

        let f = fs.clone();
        registry.tool(
            tool("search_files", "Finds files and directories under a path whose relative path matches a glob (`*.rs` in the directory itself, `**/*.rs` at any depth). Returns full paths, one per line. Only within the allowed directories.", move |a: SearchArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.search(&a.path, &a.pattern, &a.exclude_patterns)).await.map(text) }
            })
            .title("Search Files")
            .input_schema(schema(json!({"path": {"type": "string"}, "pattern": {"type": "string"}, "excludePatterns": {"type": "array", "items": {"type": "string"}, "default": []}}), &["path", "pattern"]))
            .output_schema(text_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool("get_file_info", "Returns size, creation, modification and access times, kind and permissions of a file or directory. Only within the allowed directories.", move |a: PathArgs, cx: ToolContext| {
                let f = f.clone();
                async move {
                    let f = f.resolve(&cx).await?; blocking(move || f.info(&a.path)).await.map(text) }
            })
            .title("Get File Info")
            .input_schema(path_schema())
            .output_schema(text_output())
            .annotations(read_only()),
        );

        let f = fs.clone();
        registry.tool(
            tool(
                "list_allowed_directories",
                "Lists the directories this server may access; everything beneath them is accessible too.",
                move |_: NoArgs, cx: ToolContext| {
                    let f = f.clone();
                    async move {
                        let f = f.resolve(&cx).await?;
                        Ok::<_, ToolError>(text(f.allowed()))
                    }
                },
            )
            .title("List Allowed Directories")
            // As the reference's: any arguments are accepted (and ignored).
            .input_schema(object(
                json!({"type": "object", "properties": {}, "$schema": "http://json-schema.org/draft-07/schema#"}),
            ))
            .output_schema(text_output())
            .annotations(read_only()),
        );
    }
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> crate::Result<T> + Send + 'static) -> Result<T, ToolError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ToolError::from),
        Err(e) => Err(ToolError::msg(format!("filesystem task failed: {e}"))),
    }
}

/// The reference server's result shape: the text, and the same text as `structuredContent.content`.
fn text(text: String) -> CallToolResult {
    CallToolResult::new(vec![Content::text(text.clone())]).with_structured(json!({ "content": text }))
}

/// A line count given as a JSON number: whole and not negative.
fn count(name: &str, value: Option<f64>) -> Result<Option<usize>, ToolError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 => Ok(Some(v as usize)),
        Some(v) => Err(ToolError::msg(format!("`{name}` must be a whole number of lines, not {v}"))),
    }
}

fn annotations(read_only: bool, destructive: bool, idempotent: bool) -> ToolAnnotations {
    let mut annotations = ToolAnnotations::default().with_read_only(read_only).with_open_world(false);
    if !read_only {
        annotations = annotations.with_destructive(destructive).with_idempotent(idempotent);
    }
    annotations
}

fn schema(properties: Value, required: &[&str]) -> JsonObject {
    let mut schema = json!({"type": "object", "properties": properties, "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    object(schema)
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn path_schema() -> JsonObject {
    schema(json!({"path": {"type": "string"}}), &["path"])
}

fn read_text_schema() -> JsonObject {
    schema(
        json!({
            "path": {"type": "string"},
            "tail": {"type": "number", "description": "If given, only the last N lines"},
            "head": {"type": "number", "description": "If given, only the first N lines"}
        }),
        &["path"],
    )
}

fn text_output() -> JsonObject {
    schema(json!({"content": {"type": "string"}}), &["content"])
}

fn media_output() -> JsonObject {
    schema(
        json!({"content": {"type": "array", "items": {"anyOf": [
            {"type": "object", "properties": {"type": {"type": "string", "enum": ["image", "audio"]}, "data": {"type": "string"}, "mimeType": {"type": "string"}}, "required": ["type", "data", "mimeType"]},
            {"type": "object", "properties": {"type": {"type": "string", "const": "resource"}, "resource": {"type": "object", "properties": {"uri": {"type": "string"}, "mimeType": {"type": "string"}, "blob": {"type": "string"}}, "required": ["uri", "blob"]}}, "required": ["type", "resource"]}
        ]}}}),
        &["content"],
    )
}

/// No arguments; any given are ignored, as the reference server does.
#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    path: String,
}

#[derive(Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
struct ReadTextArgs {
    path: String,
    head: Option<f64>,
    tail: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MultiArgs {
    paths: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Edit {
    old_text: String,
    new_text: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EditArgs {
    path: String,
    edits: Vec<Edit>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SizesArgs {
    path: String,
    sort_by: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TreeArgs {
    path: String,
    #[serde(default)]
    exclude_patterns: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MoveArgs {
    source: String,
    destination: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SearchArgs {
    path: String,
    pattern: String,
    #[serde(default)]
    exclude_patterns: Vec<String>,
}
