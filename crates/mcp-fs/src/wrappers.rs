//! Typed calls to the filesystem tools, by their real names and argument names.

use std::collections::BTreeMap;

use mcp_core::protocol::{CallToolResult, Content, JsonObject};
use mcp_core::{CallTool, CallToolExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Error, Result};

/// Typed access to a filesystem server: the npm reference server through a
/// [`mcp_core::Client`], or the native tools through a [`mcp_core::ToolSet`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_core::{Client, ClientOptions, config::StdioServer};
/// let server = StdioServer::new("npx", ["-y", "@modelcontextprotocol/server-filesystem", "/srv/data"]);
/// let fs = mcp_fs::Filesystem::new(Client::spawn("fs", &server, ClientOptions::default()).await?);
/// fs.write_file("/srv/data/notes.txt", "hello\n").await?;
/// assert_eq!(fs.read_file("/srv/data/notes.txt").await?, "hello\n");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Filesystem<C> {
    caller: C,
}

/// One entry of `list_directory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// The entry's name.
    pub name: String,
    /// True for a directory.
    pub is_dir: bool,
}

/// One node of `directory_tree`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    /// The entry's name.
    pub name: String,
    /// `file` or `directory`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Entries beneath a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<TreeEntry>>,
}

/// One replacement of `edit_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditOperation {
    /// The text to find.
    pub old_text: String,
    /// What to put in its place.
    pub new_text: String,
}

/// What `get_file_info` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes.
    pub size: u64,
    /// A directory.
    pub is_directory: bool,
    /// A regular file.
    pub is_file: bool,
    /// Permission bits in octal, e.g. `644`.
    pub permissions: String,
    /// Every `key: value` line as the server printed it (times included).
    pub fields: BTreeMap<String, String>,
}

/// What `read_media_file` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Base64 data.
    pub data: String,
    /// MIME type.
    pub mime_type: String,
}

impl<C: CallTool> Filesystem<C> {
    /// Wraps a connection to a filesystem server (or the native tools).
    pub fn new(caller: C) -> Self {
        Self { caller }
    }

    /// The wrapped caller.
    pub fn inner(&self) -> &C {
        &self.caller
    }

    async fn call(&self, tool: &str, arguments: Value) -> Result<CallToolResult> {
        Ok(self.caller.call_checked(tool, &arguments).await?)
    }

    async fn text(&self, tool: &str, arguments: Value) -> Result<String> {
        Ok(self.call(tool, arguments).await?.text_content())
    }

    /// The seed's `read_file(path)`: the whole file as text.
    pub async fn read_file(&self, path: &str) -> Result<String> {
        self.read_text_file(path, None, None).await
    }

    /// `read_text_file`: the whole file, or its first `head` / last `tail` lines.
    pub async fn read_text_file(&self, path: &str, head: Option<u64>, tail: Option<u64>) -> Result<String> {
        let mut args = json!({ "path": path });
        if let Some(n) = head {
            args["head"] = json!(n);
        }
        if let Some(n) = tail {
            args["tail"] = json!(n);
        }
        self.text("read_text_file", args).await
    }

    /// `read_file`, the deprecated alias of `read_text_file` kept by the reference server.
    pub async fn read_file_deprecated(&self, path: &str) -> Result<String> {
        self.text("read_file", json!({ "path": path })).await
    }

    /// `read_media_file`: base64 data and MIME type.
    pub async fn read_media_file(&self, path: &str) -> Result<Media> {
        let result = self.call("read_media_file", json!({ "path": path })).await?;
        match result.content.into_iter().next() {
            Some(Content::Image(b) | Content::Audio(b)) => Ok(Media { data: b.data, mime_type: b.mime_type }),
            Some(Content::Resource(r)) => Ok(Media {
                data: r.resource.blob.unwrap_or_default(),
                mime_type: r.resource.mime_type.unwrap_or_else(|| "application/octet-stream".into()),
            }),
            other => Err(unexpected("read_media_file", &format!("no media block: {other:?}"))),
        }
    }

    /// `read_multiple_files`: each file's content under its path; failures reported inline.
    pub async fn read_multiple_files(&self, paths: &[&str]) -> Result<String> {
        self.text("read_multiple_files", json!({ "paths": paths })).await
    }

    /// `write_file` (also the seed's `write_file(path, content)`).
    pub async fn write_file(&self, path: &str, content: &str) -> Result<String> {
        self.text("write_file", json!({ "path": path, "content": content })).await
    }

    /// `edit_file`: applies the edits (or only previews them with `dry_run`); returns the diff.
    pub async fn edit_file(&self, path: &str, edits: &[EditOperation], dry_run: bool) -> Result<String> {
        self.text("edit_file", json!({ "path": path, "edits": edits, "dryRun": dry_run })).await
    }

    /// `create_directory`, parents included.
    pub async fn create_directory(&self, path: &str) -> Result<String> {
        self.text("create_directory", json!({ "path": path })).await
    }

    /// `list_directory`, parsed.
    pub async fn list_directory(&self, path: &str) -> Result<Vec<DirEntry>> {
        let text = self.text("list_directory", json!({ "path": path })).await?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|line| {
                if let Some(name) = line.strip_prefix("[DIR] ") {
                    Ok(DirEntry { name: name.to_owned(), is_dir: true })
                } else if let Some(name) = line.strip_prefix("[FILE] ") {
                    Ok(DirEntry { name: name.to_owned(), is_dir: false })
                } else {
                    Err(unexpected("list_directory", &format!("unrecognised line {line:?}")))
                }
            })
            .collect()
    }

    /// `list_directory_with_sizes`, as printed (sorted by size when `by_size`).
    pub async fn list_directory_with_sizes(&self, path: &str, by_size: bool) -> Result<String> {
        let sort_by = if by_size { "size" } else { "name" };
        self.text("list_directory_with_sizes", json!({ "path": path, "sortBy": sort_by })).await
    }

    /// `directory_tree`, parsed.
    pub async fn directory_tree(&self, path: &str, exclude_patterns: &[&str]) -> Result<Vec<TreeEntry>> {
        let args = json!({ "path": path, "excludePatterns": exclude_patterns });
        Ok(self.caller.call_typed("directory_tree", &args).await?)
    }

    /// `move_file`.
    pub async fn move_file(&self, source: &str, destination: &str) -> Result<String> {
        self.text("move_file", json!({ "source": source, "destination": destination })).await
    }

    /// `search_files`: full paths of the matches (empty when there are none).
    pub async fn search_files(&self, path: &str, pattern: &str, exclude_patterns: &[&str]) -> Result<Vec<String>> {
        let text = self
            .text("search_files", json!({ "path": path, "pattern": pattern, "excludePatterns": exclude_patterns }))
            .await?;
        if text.trim() == "No matches found" {
            return Ok(Vec::new());
        }
        Ok(text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// `get_file_info`, parsed.
    pub async fn get_file_info(&self, path: &str) -> Result<FileInfo> {
        let text = self.text("get_file_info", json!({ "path": path })).await?;
        let fields: BTreeMap<String, String> =
            text.lines().filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned()))).collect();
        let get =
            |k: &str| fields.get(k).cloned().ok_or_else(|| unexpected("get_file_info", &format!("no `{k}` line")));
        Ok(FileInfo {
            size: get("size")?.parse().map_err(|_| unexpected("get_file_info", "size is not a number"))?,
            is_directory: get("isDirectory")? == "true",
            is_file: get("isFile")? == "true",
            permissions: get("permissions")?,
            fields,
        })
    }

    /// `list_allowed_directories`.
    pub async fn list_allowed_directories(&self) -> Result<Vec<String>> {
        let text = self.text("list_allowed_directories", Value::Object(JsonObject::new())).await?;
        Ok(text.lines().skip(1).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }
}

fn unexpected(tool: &str, message: &str) -> Error {
    Error::UnexpectedResult { tool: tool.to_owned(), message: message.to_owned() }
}
