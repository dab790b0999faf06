//! Typed calls of github-mcp-server's tools, for the current names and for the 0.12.x names.

use mcp_core::protocol::CallToolResult;
use mcp_core::{CallTool, CallToolExt, Client};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{Error, Result, UNTRUSTED_END, tools};

/// Which generation of tool names a server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// Consolidated tools with a `method` (`issue_read`, `issue_write`, `pull_request_read`):
    /// github-mcp-server 0.2x and later, and the native server.
    #[default]
    Current,
    /// One tool per operation (`get_issue`, `create_issue`, `get_pull_request`, ...):
    /// github-mcp-server 0.12.x.
    Legacy,
}

/// Typed wrappers over GitHub's MCP tools on any [`CallTool`].
#[derive(Debug, Clone)]
pub struct GitHub<C> {
    client: C,
    dialect: Dialect,
}

/// `text` without the untrusted-text marks the native server puts around people's text.
pub fn strip_untrusted(text: &str) -> String {
    let Some(rest) = text.strip_prefix("[untrusted text by @") else { return text.to_owned() };
    let Some((_, body)) = rest.split_once('\n') else { return text.to_owned() };
    body.strip_suffix(UNTRUSTED_END).unwrap_or(body).to_owned()
}

fn unmarked<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.map(|t| strip_untrusted(&t)))
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A user as results name one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserRef {
    /// The login.
    pub login: String,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The login.
    pub login: String,
    /// GitHub's numeric id.
    #[serde(default)]
    pub id: u64,
    /// The profile page.
    #[serde(default, alias = "html_url")]
    pub profile_url: Option<String>,
    /// More about the user ([`GitHub::get_me`] only).
    #[serde(default)]
    pub details: Option<UserDetails>,
}

/// More about a user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserDetails {
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The company.
    #[serde(default)]
    pub company: Option<String>,
    /// Public repositories.
    #[serde(default)]
    pub public_repos: Option<u64>,
    /// Followers.
    #[serde(default)]
    pub followers: Option<u64>,
}

/// A label by name, as issues carry them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LabelName {
    /// The label's name.
    pub name: String,
}

/// A label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Label {
    /// The name.
    pub name: String,
    /// The colour, six hex digits.
    #[serde(default)]
    pub color: Option<String>,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An issue (or a pull request seen as an issue).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Issue {
    /// The number in its repository.
    pub number: u64,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// The body, without the native server's untrusted-text marks.
    #[serde(default, deserialize_with = "unmarked")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
    /// Who opened it.
    #[serde(default)]
    pub user: Option<UserRef>,
    /// Its labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<LabelName>,
    /// Its assignees.
    #[serde(default, deserialize_with = "null_as_default")]
    pub assignees: Vec<UserRef>,
    /// How many comments it has.
    #[serde(default)]
    pub comments: Option<u64>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// When it was opened.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssueComment {
    /// GitHub's id.
    #[serde(default)]
    pub id: u64,
    /// The text, without untrusted-text marks.
    #[serde(default, deserialize_with = "unmarked")]
    pub body: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub user: Option<UserRef>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A page of [`GitHub::list_issues`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuePage {
    /// The issues.
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// Where the next page starts.
    #[serde(default, rename = "pageInfo")]
    pub page_info: Option<PageInfo>,
}

/// Cursor pagination.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PageInfo {
    /// Whether there is a next page.
    #[serde(default, rename = "hasNextPage")]
    pub has_next_page: bool,
    /// The cursor to pass as `after` for the next page.
    #[serde(default, rename = "endCursor")]
    pub end_cursor: Option<String>,
}

/// A branch head.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Branch {
    /// The branch's name.
    pub name: String,
    /// Its head commit.
    #[serde(default)]
    pub commit: Option<ShaRef>,
    /// Whether it is protected.
    #[serde(default)]
    pub protected: Option<bool>,
}

/// Something that points at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShaRef {
    /// The SHA.
    pub sha: String,
}

/// Who made a commit, as git records it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitPerson {
    /// The name.
    #[serde(default)]
    pub name: Option<String>,
    /// The email.
    #[serde(default)]
    pub email: Option<String>,
    /// When.
    #[serde(default)]
    pub date: Option<String>,
}

/// A commit's git data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitDetail {
    /// The message.
    #[serde(default)]
    pub message: String,
    /// The author.
    #[serde(default)]
    pub author: Option<CommitPerson>,
}

/// A commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitInfo {
    /// The SHA.
    pub sha: String,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Its git data.
    #[serde(default)]
    pub commit: Option<CommitDetail>,
    /// The author's GitHub account, when known.
    #[serde(default)]
    pub author: Option<UserRef>,
    /// Changed files ([`GitHub::get_commit`] only).
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<CommitFile>,
}

/// A file a commit or pull request changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommitFile {
    /// The path.
    pub filename: String,
    /// `added`, `modified`, `removed`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Lines added.
    #[serde(default)]
    pub additions: u64,
    /// Lines removed.
    #[serde(default)]
    pub deletions: u64,
}

/// A file a pull request changed (as [`CommitFile`]).
pub type PullFile = CommitFile;

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Whether it is private.
    #[serde(default)]
    pub private: Option<bool>,
    /// Its stars.
    #[serde(default)]
    pub stargazers_count: Option<u64>,
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchResult<T> {
    /// How many match in all.
    #[serde(default)]
    pub total_count: u64,
    /// Whether GitHub gave up before finding all.
    #[serde(default)]
    pub incomplete_results: bool,
    /// This page's matches.
    #[serde(default = "Vec::new", deserialize_with = "null_as_default", bound(deserialize = "T: Deserialize<'de>"))]
    pub items: Vec<T>,
}

/// A file, or one entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileContent {
    /// `file` or `dir` (and `symlink`, `submodule`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The path.
    #[serde(default)]
    pub path: String,
    /// The blob SHA.
    #[serde(default)]
    pub sha: Option<String>,
    /// The size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// The text of a file.
    #[serde(default)]
    pub content: Option<String>,
}

/// What writing a file made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileCommit {
    /// The file as written.
    #[serde(default)]
    pub content: Option<FileContent>,
    /// The commit that wrote it.
    #[serde(default)]
    pub commit: Option<ShaRef>,
}

/// A git reference.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GitRef {
    /// `refs/heads/NAME`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// What it points at.
    #[serde(default)]
    pub object: Option<ShaRef>,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PullRequest {
    /// The number.
    pub number: u64,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// The description, without untrusted-text marks.
    #[serde(default, deserialize_with = "unmarked")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: Option<bool>,
    /// Who opened it.
    #[serde(default)]
    pub user: Option<UserRef>,
    /// The branch with the changes.
    #[serde(default)]
    pub head: Option<BranchRef>,
    /// The branch to merge into.
    #[serde(default)]
    pub base: Option<BranchRef>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A branch as a pull request names it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BranchRef {
    /// The branch name.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The head SHA.
    #[serde(default)]
    pub sha: Option<String>,
}

/// What merging did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MergeResult {
    /// Whether it merged.
    #[serde(default)]
    pub merged: bool,
    /// The merge commit.
    #[serde(default)]
    pub sha: Option<String>,
    /// GitHub's message.
    #[serde(default)]
    pub message: Option<String>,
}

/// A notification thread.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Notification {
    /// The thread id.
    pub id: String,
    /// Whether it is unread.
    #[serde(default)]
    pub unread: bool,
    /// Why it was sent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A GitHub Actions workflow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Workflow {
    /// GitHub's id.
    pub id: u64,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The file, `.github/workflows/NAME.yml`.
    #[serde(default)]
    pub path: String,
    /// `active`, `disabled_manually`, ...
    #[serde(default)]
    pub state: Option<String>,
}

/// A page of workflows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Workflows {
    /// How many in all.
    #[serde(default)]
    pub total_count: u64,
    /// This page's.
    #[serde(default, deserialize_with = "null_as_default")]
    pub workflows: Vec<Workflow>,
}

/// A workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkflowRun {
    /// GitHub's id.
    pub id: u64,
    /// The workflow's name.
    #[serde(default)]
    pub name: Option<String>,
    /// What triggered it.
    #[serde(default)]
    pub event: Option<String>,
    /// `queued`, `in_progress`, `completed`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// `success`, `failure`, ... once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The branch.
    #[serde(default)]
    pub head_branch: Option<String>,
    /// The commit.
    #[serde(default)]
    pub head_sha: Option<String>,
}

/// A page of workflow runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkflowRuns {
    /// How many in all.
    #[serde(default)]
    pub total_count: u64,
    /// This page's.
    #[serde(default, deserialize_with = "null_as_default")]
    pub workflow_runs: Vec<WorkflowRun>,
}

/// A new issue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewIssue {
    /// The title.
    pub title: String,
    /// The body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Logins to assign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignees: Option<Vec<String>>,
    /// Label names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

impl NewIssue {
    /// An issue with `title` and `body`.
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> Self {
        Self { title: title.into(), body: Some(body.into()), ..Self::default() }
    }
}

/// Changes to an issue; what is `None` stays.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IssueUpdate {
    /// A new title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A new body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The labels, all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

/// Filters for [`GitHub::list_issues`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListIssues {
    /// `OPEN` or `CLOSED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Only with these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// The cursor from the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// How many per page.
    #[serde(rename = "perPage", skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

/// Filters for [`GitHub::list_commits`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListCommits {
    /// Branch, tag or SHA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Author login or email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Page, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// How many per page.
    #[serde(rename = "perPage", skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

/// Filters for [`GitHub::list_pull_requests`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListPulls {
    /// `open`, `closed` or `all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Only into this base branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Page, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// How many per page.
    #[serde(rename = "perPage", skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

/// A new pull request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewPullRequest {
    /// The title.
    pub title: String,
    /// The branch with the changes.
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Open as a draft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
}

impl NewPullRequest {
    /// A pull request from `head` into `base`.
    pub fn new(title: impl Into<String>, head: impl Into<String>, base: impl Into<String>) -> Self {
        Self { title: title.into(), head: head.into(), base: base.into(), ..Self::default() }
    }
}

/// Search sorting and paging.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchOptions {
    /// Sort field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// `asc` or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Page, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// How many per page.
    #[serde(rename = "perPage", skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

fn merge(mut base: Value, extra: &impl Serialize) -> Value {
    if let (Value::Object(map), Ok(Value::Object(more))) = (&mut base, serde_json::to_value(extra)) {
        map.extend(more);
    }
    base
}

impl GitHub<Client> {
    /// Wraps `client`, choosing the [`Dialect`] by the tools it lists.
    pub async fn detect(client: Client) -> Result<Self> {
        let names = client.list_tools().await?;
        let dialect =
            if names.iter().any(|t| t.name == tools::ISSUE_READ) { Dialect::Current } else { Dialect::Legacy };
        Ok(Self { client, dialect })
    }
}

impl<C: CallTool> GitHub<C> {
    /// Wraps `client`, a server with the current tool names.
    pub fn new(client: C) -> Self {
        Self { client, dialect: Dialect::Current }
    }

    /// Wraps `client`, a server of `dialect`.
    pub fn with_dialect(client: C, dialect: Dialect) -> Self {
        Self { client, dialect }
    }

    /// The dialect calls are made in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The wrapped client.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// Calls `tool` and decodes its first text block (the rest is a cut note) or its
    /// structured content as `O`.
    async fn call<O: DeserializeOwned>(&self, tool: &str, arguments: Value) -> Result<O> {
        let result = self.client.call_checked(tool, &arguments).await?;
        decode(tool, result)
    }

    /// Calls the consolidated `current` tool with `method`, or `legacy` in the old dialect.
    async fn call_method<O: DeserializeOwned>(
        &self,
        current: &str,
        method: &str,
        legacy: &str,
        arguments: Value,
    ) -> Result<O> {
        match self.dialect {
            Dialect::Current => self.call(current, merge(json!({ "method": method }), &arguments)).await,
            Dialect::Legacy => self.call(legacy, arguments).await,
        }
    }

    /// The authenticated user (`get_me`).
    pub async fn get_me(&self) -> Result<User> {
        self.call(tools::GET_ME, json!({})).await
    }

    /// A file with its text, at `reference` (a branch, tag or SHA; the default branch when
    /// `None`) (`get_file_contents`).
    pub async fn get_file(&self, owner: &str, repo: &str, path: &str, reference: Option<&str>) -> Result<FileContent> {
        let mut args = json!({"owner": owner, "repo": repo, "path": path});
        if let Some(r) = reference {
            args["ref"] = json!(r);
        }
        let result = self.client.call_checked(tools::GET_FILE_CONTENTS, &args).await?;
        // Servers that answer with the file as an embedded resource (0.12.x) put its text there.
        if let Some(text) = embedded_text(&result) {
            let name = path.rsplit('/').next().unwrap_or(path).to_owned();
            return Ok(FileContent {
                kind: "file".into(),
                name,
                path: path.trim_start_matches('/').to_owned(),
                content: Some(text),
                ..FileContent::default()
            });
        }
        decode(tools::GET_FILE_CONTENTS, result)
    }

    /// The entries of a directory (`get_file_contents` on a directory path).
    pub async fn list_directory(&self, owner: &str, repo: &str, path: &str) -> Result<Vec<FileContent>> {
        let path = if path.ends_with('/') { path.to_owned() } else { format!("{path}/") };
        self.call(tools::GET_FILE_CONTENTS, json!({"owner": owner, "repo": repo, "path": path})).await
    }

    /// Branches (`list_branches`).
    pub async fn list_branches(&self, owner: &str, repo: &str) -> Result<Vec<Branch>> {
        self.call(tools::LIST_BRANCHES, json!({"owner": owner, "repo": repo})).await
    }

    /// Commits (`list_commits`).
    pub async fn list_commits(&self, owner: &str, repo: &str, filter: &ListCommits) -> Result<Vec<CommitInfo>> {
        self.call(tools::LIST_COMMITS, merge(json!({"owner": owner, "repo": repo}), filter)).await
    }

    /// One commit with its changed files (`get_commit`).
    pub async fn get_commit(&self, owner: &str, repo: &str, sha: &str) -> Result<CommitInfo> {
        self.call(tools::GET_COMMIT, json!({"owner": owner, "repo": repo, "sha": sha})).await
    }

    /// Repository search (`search_repositories`).
    pub async fn search_repositories(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<Repository>> {
        self.call(tools::SEARCH_REPOSITORIES, merge(json!({"query": query}), options)).await
    }

    /// Code search (`search_code`); the items as GitHub gives them.
    pub async fn search_code(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<Value>> {
        self.call(tools::SEARCH_CODE, merge(json!({"query": query}), options)).await
    }

    /// Writes `content` to `path` on `branch` (`create_or_update_file`); `sha` is the current
    /// blob's when the file exists.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_or_update_file(
        &self,
        owner: &str,
        repo: &str,
        path: &str,
        content: &str,
        message: &str,
        branch: &str,
        sha: Option<&str>,
    ) -> Result<FileCommit> {
        let mut args = json!({"owner": owner, "repo": repo, "path": path, "content": content, "message": message, "branch": branch});
        if let Some(sha) = sha {
            args["sha"] = json!(sha);
        }
        self.call(tools::CREATE_OR_UPDATE_FILE, args).await
    }

    /// Creates `branch` from `from` (the default branch when `None`) (`create_branch`).
    pub async fn create_branch(&self, owner: &str, repo: &str, branch: &str, from: Option<&str>) -> Result<GitRef> {
        let mut args = json!({"owner": owner, "repo": repo, "branch": branch});
        if let Some(from) = from {
            args["from_branch"] = json!(from);
        }
        self.call(tools::CREATE_BRANCH, args).await
    }

    /// One issue (`issue_read` get; `get_issue` in the old dialect).
    pub async fn get_issue(&self, owner: &str, repo: &str, number: u64) -> Result<Issue> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number});
        self.call_method(tools::ISSUE_READ, "get", "get_issue", args).await
    }

    /// An issue's comments (`issue_read` get_comments; `get_issue_comments`).
    pub async fn get_issue_comments(&self, owner: &str, repo: &str, number: u64) -> Result<Vec<IssueComment>> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number});
        self.call_method(tools::ISSUE_READ, "get_comments", "get_issue_comments", args).await
    }

    /// An issue's labels (`issue_read` get_labels; current servers only).
    pub async fn get_issue_labels(&self, owner: &str, repo: &str, number: u64) -> Result<Vec<Label>> {
        let args = json!({"method": "get_labels", "owner": owner, "repo": repo, "issue_number": number});
        self.call(tools::ISSUE_READ, args).await
    }

    /// Opens an issue (`issue_write` create; `create_issue`).
    pub async fn create_issue_with(&self, owner: &str, repo: &str, issue: &NewIssue) -> Result<Issue> {
        let args = merge(json!({"owner": owner, "repo": repo}), issue);
        self.call_method(tools::ISSUE_WRITE, "create", "create_issue", args).await
    }

    /// Opens an issue in `repo` (`owner/name`) with `title` and `body`: the seed's convenience.
    pub async fn create_issue(&self, repo: &str, title: &str, body: &str) -> Result<Issue> {
        let (owner, name) = repo.split_once('/').filter(|(o, n)| !o.is_empty() && !n.is_empty()).ok_or_else(|| {
            Error::Mcp(mcp_core::Error::Decode {
                tool: tools::ISSUE_WRITE.into(),
                message: format!("the repository must be `owner/name`, not {repo:?}"),
            })
        })?;
        self.create_issue_with(owner, name, &NewIssue::new(title, body)).await
    }

    /// Changes an issue (`issue_write` update; `update_issue`).
    pub async fn update_issue(&self, owner: &str, repo: &str, number: u64, update: &IssueUpdate) -> Result<Issue> {
        let args = merge(json!({"owner": owner, "repo": repo, "issue_number": number}), update);
        self.call_method(tools::ISSUE_WRITE, "update", "update_issue", args).await
    }

    /// A page of a repository's issues (`list_issues`).
    pub async fn list_issues(&self, owner: &str, repo: &str, filter: &ListIssues) -> Result<IssuePage> {
        self.call(tools::LIST_ISSUES, merge(json!({"owner": owner, "repo": repo}), filter)).await
    }

    /// Issue search (`search_issues`).
    pub async fn search_issues(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<Issue>> {
        self.call(tools::SEARCH_ISSUES, merge(json!({"query": query}), options)).await
    }

    /// Pull request search (`search_pull_requests`).
    pub async fn search_pull_requests(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<Issue>> {
        self.call(tools::SEARCH_PULL_REQUESTS, merge(json!({"query": query}), options)).await
    }

    /// Comments on an issue or pull request (`add_issue_comment`).
    pub async fn add_issue_comment(&self, owner: &str, repo: &str, number: u64, body: &str) -> Result<IssueComment> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number, "body": body});
        self.call(tools::ADD_ISSUE_COMMENT, args).await
    }

    /// One pull request (`pull_request_read` get; `get_pull_request`).
    pub async fn get_pull_request(&self, owner: &str, repo: &str, number: u64) -> Result<PullRequest> {
        let args = json!({"owner": owner, "repo": repo, "pullNumber": number});
        self.call_method(tools::PULL_REQUEST_READ, "get", "get_pull_request", args).await
    }

    /// A pull request's changed files (`pull_request_read` get_files; `get_pull_request_files`).
    pub async fn get_pull_request_files(&self, owner: &str, repo: &str, number: u64) -> Result<Vec<PullFile>> {
        let args = json!({"owner": owner, "repo": repo, "pullNumber": number});
        self.call_method(tools::PULL_REQUEST_READ, "get_files", "get_pull_request_files", args).await
    }

    /// Pull requests (`list_pull_requests`).
    pub async fn list_pull_requests(&self, owner: &str, repo: &str, filter: &ListPulls) -> Result<Vec<PullRequest>> {
        self.call(tools::LIST_PULL_REQUESTS, merge(json!({"owner": owner, "repo": repo}), filter)).await
    }

    /// Opens a pull request (`create_pull_request`).
    pub async fn create_pull_request(&self, owner: &str, repo: &str, pr: &NewPullRequest) -> Result<PullRequest> {
        self.call(tools::CREATE_PULL_REQUEST, merge(json!({"owner": owner, "repo": repo}), pr)).await
    }

    /// Merges a pull request (`merge_pull_request`); `method` is merge, squash or rebase.
    pub async fn merge_pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        method: Option<&str>,
    ) -> Result<MergeResult> {
        let mut args = json!({"owner": owner, "repo": repo, "pullNumber": number});
        if let Some(m) = method {
            args["merge_method"] = json!(m);
        }
        self.call(tools::MERGE_PULL_REQUEST, args).await
    }

    /// User search (`search_users`).
    pub async fn search_users(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<User>> {
        self.call(tools::SEARCH_USERS, merge(json!({"query": query}), options)).await
    }

    /// A repository's workflows (`actions_list` list_workflows; `list_workflows`).
    pub async fn list_workflows(&self, owner: &str, repo: &str) -> Result<Workflows> {
        let args = json!({"owner": owner, "repo": repo});
        self.call_method(tools::ACTIONS_LIST, "list_workflows", "list_workflows", args).await
    }

    /// A workflow's runs, by its id or file name (`actions_list` list_workflow_runs;
    /// `list_workflow_runs`).
    pub async fn list_workflow_runs(&self, owner: &str, repo: &str, workflow: &str) -> Result<WorkflowRuns> {
        match self.dialect {
            Dialect::Current => {
                let args =
                    json!({"method": "list_workflow_runs", "owner": owner, "repo": repo, "resource_id": workflow});
                self.call(tools::ACTIONS_LIST, args).await
            }
            Dialect::Legacy => {
                self.call("list_workflow_runs", json!({"owner": owner, "repo": repo, "workflow_id": workflow})).await
            }
        }
    }

    /// One run (`actions_get` get_workflow_run; `get_workflow_run`).
    pub async fn get_workflow_run(&self, owner: &str, repo: &str, run_id: u64) -> Result<WorkflowRun> {
        match self.dialect {
            Dialect::Current => {
                let args = json!({"method": "get_workflow_run", "owner": owner, "repo": repo, "resource_id": run_id.to_string()});
                self.call(tools::ACTIONS_GET, args).await
            }
            Dialect::Legacy => {
                self.call("get_workflow_run", json!({"owner": owner, "repo": repo, "run_id": run_id})).await
            }
        }
    }

    /// Starts a workflow on `reference` with `inputs` (`actions_run_trigger` run_workflow;
    /// `run_workflow`); the server's confirmation as it words it.
    pub async fn run_workflow(
        &self,
        owner: &str,
        repo: &str,
        workflow: &str,
        reference: &str,
        inputs: Option<&Map<String, Value>>,
    ) -> Result<Value> {
        let mut args = json!({"owner": owner, "repo": repo, "workflow_id": workflow, "ref": reference});
        if let Some(inputs) = inputs {
            args["inputs"] = Value::Object(inputs.clone());
        }
        self.call_method(tools::ACTIONS_RUN_TRIGGER, "run_workflow", "run_workflow", args).await
    }

    /// Cancels a run (`actions_run_trigger` cancel_workflow_run; `cancel_workflow_run`).
    pub async fn cancel_workflow_run(&self, owner: &str, repo: &str, run_id: u64) -> Result<Value> {
        let args = json!({"owner": owner, "repo": repo, "run_id": run_id});
        self.call_method(tools::ACTIONS_RUN_TRIGGER, "cancel_workflow_run", "cancel_workflow_run", args).await
    }

    /// One label (`get_label`).
    pub async fn get_label(&self, owner: &str, repo: &str, name: &str) -> Result<Label> {
        self.call(tools::GET_LABEL, json!({"owner": owner, "repo": repo, "name": name})).await
    }

    /// A repository's labels (`list_label`).
    pub async fn list_labels(&self, owner: &str, repo: &str) -> Result<Vec<Label>> {
        #[derive(Deserialize)]
        struct Labels {
            labels: Vec<Label>,
        }
        let labels: Labels = self.call(tools::LIST_LABEL, json!({"owner": owner, "repo": repo})).await?;
        Ok(labels.labels)
    }

    /// Notifications (`list_notifications`).
    pub async fn list_notifications(&self) -> Result<Vec<Notification>> {
        self.call(tools::LIST_NOTIFICATIONS, json!({})).await
    }

    /// Any tool by name, with the [`crate::ALIASES`] applied: in the current dialect an old
    /// name becomes the current tool with its `method`.
    pub async fn call_raw(&self, name: &str, arguments: Map<String, Value>) -> Result<CallToolResult> {
        let (tool, method) = match self.dialect {
            Dialect::Current => crate::resolve_alias(name),
            Dialect::Legacy => (name, None),
        };
        let mut arguments = arguments;
        if let Some(method) = method {
            arguments.entry("method").or_insert_with(|| json!(method));
        }
        Ok(self.client.call_checked(tool, &Value::Object(arguments)).await?)
    }
}

/// `result`'s first text block (the rest is a cut note), else its structured content, as `O`.
fn decode<O: DeserializeOwned>(tool: &str, mut result: CallToolResult) -> Result<O> {
    if result.structured_content.is_none() && result.content.len() > 1 {
        result.content.truncate(1);
    }
    Ok(mcp_core::typed::decode_result(tool, &result)?)
}

/// The text of an embedded text resource in `result`, if it has one.
fn embedded_text(result: &CallToolResult) -> Option<String> {
    let value = serde_json::to_value(&result.content).ok()?;
    value.as_array()?.iter().find_map(|c| {
        (c.get("type")?.as_str()? == "resource").then(|| c.pointer("/resource/text")?.as_str().map(str::to_owned))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_marks_come_off() {
        let marked = format!("{}hello\nworld{}", crate::untrusted_start("mallory"), UNTRUSTED_END);
        assert_eq!(strip_untrusted(&marked), "hello\nworld");
        assert_eq!(strip_untrusted("plain"), "plain");
        let issue: Issue =
            serde_json::from_value(json!({"number": 1, "body": marked, "labels": null})).expect("decodes");
        assert_eq!(issue.body.as_deref(), Some("hello\nworld"));
    }

    #[test]
    fn old_names_resolve_to_current_tools_and_methods() {
        assert_eq!(crate::resolve_alias("get_issue"), ("issue_read", Some("get")));
        assert_eq!(crate::resolve_alias("create_issue"), ("issue_write", Some("create")));
        assert_eq!(crate::resolve_alias("get_me"), ("get_me", None));
    }
}
