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
    /// The current tools, but with the single-purpose issue and pull request tools
    /// (`update_issue_title`, `add_sub_issue`, `create_pull_request_review`, ...) in place of
    /// `issue_write`, `sub_issue_write`, `update_pull_request`, `pull_request_review_write` and
    /// `add_comment_to_pending_review`: current servers run with the feature flags
    /// `issues_granular` and `pull_requests_granular`.
    Granular,
}

/// The single-purpose tool that stands for a consolidated tool's method in the
/// [`Dialect::Granular`] servers, where both take the same arguments (but `method`).
const GRANULAR: &[(&str, &str, &str)] = &[
    (tools::SUB_ISSUE_WRITE, "add", "add_sub_issue"),
    (tools::SUB_ISSUE_WRITE, "remove", "remove_sub_issue"),
    (tools::SUB_ISSUE_WRITE, "reprioritize", "reprioritize_sub_issue"),
    (tools::PULL_REQUEST_REVIEW_WRITE, "create", "create_pull_request_review"),
    (tools::PULL_REQUEST_REVIEW_WRITE, "submit_pending", "submit_pending_pull_request_review"),
    (tools::PULL_REQUEST_REVIEW_WRITE, "delete_pending", "delete_pending_pull_request_review"),
];

/// One change of an issue, as the single-purpose tools make it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueChange {
    /// A new title (`update_issue_title`).
    Title(String),
    /// A new body (`update_issue_body`).
    Body(String),
    /// These assignees instead of the current ones (`update_issue_assignees`).
    Assignees(Vec<String>),
    /// These labels instead of the current ones (`update_issue_labels`).
    Labels(Vec<String>),
    /// Into the milestone with this number (`update_issue_milestone`).
    Milestone(u64),
    /// This issue type, or none (`update_issue_type`).
    Type(Option<String>),
    /// `open` or `closed`, with the reason it was closed (`update_issue_state`).
    State(String, Option<String>),
}

impl IssueChange {
    /// The tool and its argument for the change.
    fn tool_and_argument(&self) -> (&'static str, &'static str, Value) {
        match self {
            Self::Title(title) => ("update_issue_title", "title", json!(title)),
            Self::Body(body) => ("update_issue_body", "body", json!(body)),
            Self::Assignees(logins) => ("update_issue_assignees", "assignees", json!(logins)),
            Self::Labels(names) => ("update_issue_labels", "labels", json!(names)),
            Self::Milestone(number) => ("update_issue_milestone", "milestone", json!(number)),
            Self::Type(name) => ("update_issue_type", "issue_type", json!(name)),
            Self::State(state, _) => ("update_issue_state", "state", json!(state)),
        }
    }
}

/// What a reaction is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReactionTarget {
    /// An issue or pull request, by number (`add_issue_reaction`).
    Issue(u64),
    /// A comment on an issue or pull request, by id (`add_issue_comment_reaction`).
    IssueComment(u64),
    /// A pull request review comment, by id (`add_pull_request_review_comment_reaction`).
    ReviewComment(u64),
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

/// A list whose items are names (`"bug"`) or objects with the name in `key` (`{"name": "bug"}`):
/// the current server's minimal shapes name labels and people, GitHub's own give objects.
fn names_or_objects<'de, D: Deserializer<'de>, T: From<String>>(
    deserializer: D,
    key: &'static str,
) -> Result<Vec<T>, D::Error> {
    let items = Option::<Vec<Value>>::deserialize(deserializer)?.unwrap_or_default();
    items
        .into_iter()
        .map(|item| match item {
            Value::String(name) => Ok(T::from(name)),
            Value::Object(mut map) => match map.remove(key) {
                Some(Value::String(name)) => Ok(T::from(name)),
                _ => Err(serde::de::Error::custom(format!("an item without `{key}`"))),
            },
            other => Err(serde::de::Error::custom(format!("expected a name or an object, not {other}"))),
        })
        .collect()
}

fn label_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<LabelName>, D::Error> {
    names_or_objects(deserializer, "name")
}

fn user_refs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<UserRef>, D::Error> {
    names_or_objects(deserializer, "login")
}

impl From<String> for LabelName {
    fn from(name: String) -> Self {
        Self { name }
    }
}

impl From<String> for UserRef {
    fn from(login: String) -> Self {
        Self { login }
    }
}

/// An id given as a number or as text, as text.
fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
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
    /// Its labels (given as names or as label objects).
    #[serde(default, deserialize_with = "label_names")]
    pub labels: Vec<LabelName>,
    /// Its assignees (given as logins or as user objects).
    #[serde(default, deserialize_with = "user_refs")]
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
    /// How many issues match in all.
    #[serde(default, rename = "totalCount")]
    pub total_count: Option<u64>,
}

/// Cursor pagination.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PageInfo {
    /// Whether there is a next page.
    #[serde(default, rename = "hasNextPage")]
    pub has_next_page: bool,
    /// Whether there is a page before this one.
    #[serde(default, rename = "hasPreviousPage")]
    pub has_previous_page: bool,
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

/// A team, as [`GitHub::get_teams`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Team {
    /// The name.
    #[serde(default)]
    pub name: String,
    /// The slug, for [`GitHub::get_team_members`].
    #[serde(default)]
    pub slug: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An organization's teams a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TeamsOfOrg {
    /// The organization's login.
    pub org: String,
    /// Its teams.
    #[serde(default, deserialize_with = "null_as_default")]
    pub teams: Vec<Team>,
}

/// An issue type (Bug, Feature, Task, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssueType {
    /// GitHub's id.
    pub id: u64,
    /// The name.
    #[serde(default)]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// A release.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Release {
    /// GitHub's id.
    pub id: u64,
    /// Its tag.
    #[serde(default)]
    pub tag_name: String,
    /// Its title.
    #[serde(default)]
    pub name: Option<String>,
    /// Its notes.
    #[serde(default)]
    pub body: Option<String>,
    /// Its page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: bool,
    /// Whether it is a pre-release.
    #[serde(default)]
    pub prerelease: bool,
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
    /// Only with any of these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// `CREATED_AT` (the default), `UPDATED_AT` or `COMMENTS`.
    #[serde(rename = "orderBy", skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// `ASC` or `DESC` (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Only issues updated at or after this time (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
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

/// A comment for [`GitHub::add_comment_to_pending_review`]: on lines of the diff (`LINE`) or on
/// the whole file (`FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReviewComment {
    /// The file, relative to the repository.
    pub path: String,
    /// The text.
    pub body: String,
    /// `LINE` or `FILE`.
    #[serde(rename = "subjectType")]
    pub subject_type: String,
    /// The (last) line commented on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `LEFT` (the old text) or `RIGHT` (the new).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// The first line of a comment on several lines.
    #[serde(rename = "startLine", skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    /// The side of `start_line`.
    #[serde(rename = "startSide", skip_serializing_if = "Option::is_none")]
    pub start_side: Option<String>,
}

impl ReviewComment {
    /// A comment on `line` of the new text of `path`.
    pub fn on_line(path: impl Into<String>, line: u32, body: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            body: body.into(),
            subject_type: "LINE".into(),
            line: Some(line),
            side: Some("RIGHT".into()),
            ..Self::default()
        }
    }
}

/// Changes to a pull request for [`GitHub::update_pull_request`]; what is `None` stays.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PullRequestUpdate {
    /// A new title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A new description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A new base branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Draft (`true`) or ready for review (`false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
    /// Logins (or `ORG/team-slug`) to request reviews from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewers: Option<Vec<String>>,
}

/// What a write answered with: the id and page of what it made or changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Written {
    /// GitHub's id, as text.
    #[serde(default, deserialize_with = "id_text")]
    pub id: String,
    /// Its page.
    #[serde(default)]
    pub url: Option<String>,
}

/// How the Copilot coding agent starts on an issue (`assign_copilot_to_issue`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CopilotTask {
    /// The branch (or other ref) it starts from; the default branch when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// Instructions beyond the issue's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_instructions: Option<String>,
}

/// What assigning Copilot answered: a message, the issue, and the pull request Copilot opened
/// when it was seen in time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CopilotAssignment {
    /// What happened, in a sentence.
    #[serde(default)]
    pub message: String,
    /// The issue's number.
    #[serde(default)]
    pub issue_number: Option<u64>,
    /// The issue's page.
    #[serde(default)]
    pub issue_url: Option<String>,
    /// The pull request Copilot opened.
    #[serde(default)]
    pub pull_request: Option<CopilotPullRequest>,
}

/// A pull request Copilot opened.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CopilotPullRequest {
    /// Its number.
    pub number: u64,
    /// Its page.
    #[serde(default)]
    pub url: String,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// `OPEN`, `CLOSED` or `MERGED`.
    #[serde(default)]
    pub state: String,
}

/// One value to set on an issue's custom field (`set_issue_fields`): the field's node id and
/// exactly one of the values, or `delete`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IssueFieldValue {
    /// The field's node id.
    pub field_id: String,
    /// A text field's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_value: Option<String>,
    /// A number field's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_value: Option<f64>,
    /// A date field's value (ISO 8601 date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_value: Option<String>,
    /// A single select field's option, by node id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single_select_option_id: Option<String>,
    /// Remove the value instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
}

/// A repository to create (`create_repository`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewRepository {
    /// Its name.
    pub name: String,
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The organization to create it in; the user's own account when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Private (servers make it private when `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// Start it with a README.
    #[serde(rename = "autoInit", skip_serializing_if = "Option::is_none")]
    pub auto_init: Option<bool>,
}

impl NewRepository {
    /// A repository called `name`, everything else the server's default.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

/// Which collaborators to list, and which page (`list_repository_collaborators`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListCollaborators {
    /// `outside`, `direct` or `all` (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    /// Page, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// How many per page (1-100).
    #[serde(rename = "perPage", skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

/// A repository's collaborator with their role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collaborator {
    /// The login.
    pub login: String,
    /// GitHub's id.
    #[serde(default)]
    pub id: u64,
    /// The role (`admin`, `write`, `read`, a custom role).
    #[serde(default)]
    pub role_name: String,
}

/// A page of collaborators and the numbers of the pages around it (0: none).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Collaborators {
    /// The collaborators.
    pub items: Vec<Collaborator>,
    /// The next page, 0 on the last one.
    #[serde(default, rename = "nextPage")]
    pub next_page: u32,
    /// The page before, 0 on the first one.
    #[serde(default, rename = "prevPage")]
    pub prev_page: u32,
    /// The first page, 0 when this is it.
    #[serde(default, rename = "firstPage")]
    pub first_page: u32,
    /// The last page, 0 when this is it.
    #[serde(default, rename = "lastPage")]
    pub last_page: u32,
}

/// What part of a file's blame to read (`get_file_blame`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlameOptions {
    /// Branch, tag or commit SHA; the default branch when `None`.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// First line of the window, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    /// Last line of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    /// Ranges per page (1-100, 30 when `None`).
    #[serde(rename = "perPage", skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
    /// The previous page's `endCursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Who wrote a blamed commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlameAuthor {
    /// The git author name.
    #[serde(default)]
    pub name: String,
    /// The git author email.
    #[serde(default)]
    pub email: String,
    /// The GitHub login, when the email belongs to an account.
    #[serde(default)]
    pub login: Option<String>,
    /// That account's URL.
    #[serde(default)]
    pub url: Option<String>,
}

/// A commit a blame names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlameCommit {
    /// The SHA.
    pub sha: String,
    /// The first line of its message.
    #[serde(default)]
    pub message_headline: String,
    /// When it was committed.
    #[serde(default)]
    pub committed_date: String,
    /// Its author.
    #[serde(default)]
    pub author: BlameAuthor,
}

/// Lines last changed by one commit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlameRange {
    /// The first line (from 1).
    pub starting_line: u64,
    /// The last line.
    pub ending_line: u64,
    /// How old the change is, relative to the file's others (1 newest .. 10 oldest).
    #[serde(default)]
    pub age: u64,
    /// The commit, a key of [`Blame::commits`].
    pub commit_sha: String,
}

/// A file's blame: which commit last changed each range of lines.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Blame {
    /// `owner/repo`.
    pub repository: String,
    /// The file.
    pub path: String,
    /// The ref blamed at (the default branch's name when none was given).
    #[serde(rename = "ref")]
    pub reference: String,
    /// This page of ranges.
    pub ranges: Vec<BlameRange>,
    /// The commits the ranges name, by SHA.
    #[serde(default)]
    pub commits: std::collections::BTreeMap<String, BlameCommit>,
    /// Where this page is.
    #[serde(default, rename = "pageInfo")]
    pub page_info: PageInfo,
    /// How many ranges matched the window (before the cap of 1000).
    #[serde(default)]
    pub total_ranges: u64,
    /// True when more than 1000 ranges matched.
    #[serde(default)]
    pub truncated: bool,
}

/// One option of a single-select issue field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssueFieldOption {
    /// GraphQL id.
    pub id: String,
    /// The name to set.
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
    /// Its color.
    #[serde(default)]
    pub color: String,
    /// Its rank, when the field orders its options.
    #[serde(default)]
    pub priority: Option<i64>,
}

/// An issue field (a custom field issues can carry).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssueField {
    /// GraphQL id.
    pub id: String,
    /// Database id.
    #[serde(default)]
    pub full_database_id: Option<i64>,
    /// The name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// `TEXT`, `NUMBER`, `DATE` or `SINGLE_SELECT`.
    #[serde(default)]
    pub data_type: String,
    /// Who sees it.
    #[serde(default)]
    pub visibility: String,
    /// A single-select field's options.
    #[serde(default)]
    pub options: Vec<IssueFieldOption>,
}

/// An issue as dependency and duplicate results name one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssueRef {
    /// The number.
    pub number: u64,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// Its state.
    #[serde(default)]
    pub state: String,
    /// Its page.
    #[serde(default)]
    pub url: String,
    /// `owner/repo`, when given.
    #[serde(default)]
    pub repository: Option<String>,
}

/// A dependency between issues, seen from the subject issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dependency {
    /// The subject issue is blocked by the other.
    BlockedBy,
    /// The subject issue blocks the other.
    Blocking,
}

impl Dependency {
    fn name(self) -> &'static str {
        match self {
            Self::BlockedBy => "blocked_by",
            Self::Blocking => "blocking",
        }
    }
}

/// Where a page of dependencies is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DependencyPage {
    /// Whether more follow.
    #[serde(default, rename = "hasNextPage")]
    pub has_next_page: bool,
    /// The next page, 0 when none.
    #[serde(default, rename = "nextPage")]
    pub next_page: u32,
}

/// A page of the issues blocking an issue, or blocked by it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssueDependencies {
    /// The issues.
    pub issues: Vec<IssueRef>,
    /// Where this page is.
    #[serde(default, rename = "pageInfo")]
    pub page_info: DependencyPage,
}

/// What a dependency change did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DependencyChange {
    /// `dependency added` or `dependency removed`.
    pub message: String,
    /// The issue that is (or was) blocked.
    pub blocked_issue: IssueRef,
    /// The issue that blocks (or blocked) it.
    pub blocking_issue: IssueRef,
}

/// A likely duplicate of an issue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DuplicateCandidate {
    /// The candidate.
    pub issue: IssueRef,
    /// GitHub's similarity score, when it gives one.
    #[serde(default)]
    pub score: Option<f64>,
    /// GitHub's confidence (`high`, `medium`, ...).
    #[serde(default)]
    pub confidence: String,
    /// Whether GitHub thinks it is a duplicate.
    #[serde(default)]
    pub likely_duplicate: bool,
}

/// A repository a write made, as current servers answer (`{id, url}`, the URL the web page) or
/// as 0.12.x did (GitHub's whole object, whose `url` is the API's and `html_url` the page).
#[derive(Deserialize)]
struct MadeRepository {
    #[serde(default, deserialize_with = "id_text")]
    id: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

impl From<MadeRepository> for Written {
    fn from(made: MadeRepository) -> Self {
        Self { id: made.id, url: made.html_url.or(made.url) }
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
        let has = |name: &str| names.iter().any(|t| t.name == name);
        let dialect = match (has(tools::ISSUE_READ), has("update_issue_title")) {
            (true, true) => Dialect::Granular,
            (true, false) => Dialect::Current,
            _ => Dialect::Legacy,
        };
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

    /// Calls `tool` and gives its text (for tools that answer with a sentence).
    async fn call_text(&self, tool: &str, arguments: Value) -> Result<String> {
        Ok(self.client.call_checked(tool, &arguments).await?.text_content())
    }

    /// [`call_text`](Self::call_text) of the consolidated `current` tool with `method`, or of
    /// `legacy` in the old dialect.
    async fn call_method_text(&self, current: &str, method: &str, legacy: &str, arguments: Value) -> Result<String> {
        match (self.dialect, granular(current, method)) {
            (Dialect::Legacy, _) => self.call_text(legacy, arguments).await,
            (Dialect::Granular, Some(tool)) => self.call_text(tool, arguments).await,
            _ => self.call_text(current, merge(json!({ "method": method }), &arguments)).await,
        }
    }

    /// Calls the consolidated `current` tool with `method`, or `legacy` in the old dialect.
    async fn call_method<O: DeserializeOwned>(
        &self,
        current: &str,
        method: &str,
        legacy: &str,
        arguments: Value,
    ) -> Result<O> {
        match (self.dialect, granular(current, method)) {
            (Dialect::Legacy, _) => self.call(legacy, arguments).await,
            (Dialect::Granular, Some(tool)) => self.call(tool, arguments).await,
            _ => self.call(current, merge(json!({ "method": method }), &arguments)).await,
        }
    }

    /// The authenticated user (`get_me`).
    pub async fn get_me(&self) -> Result<User> {
        self.call(tools::GET_ME, json!({})).await
    }

    /// The teams `user` (the authenticated user when `None`) belongs to, by organization
    /// (`get_teams`).
    pub async fn get_teams(&self, user: Option<&str>) -> Result<Vec<TeamsOfOrg>> {
        let args = match user {
            Some(user) => json!({"user": user}),
            None => json!({}),
        };
        // Servers answer `null` for no teams.
        let teams: Option<Vec<TeamsOfOrg>> = self.call(tools::GET_TEAMS, args).await?;
        Ok(teams.unwrap_or_default())
    }

    /// The logins of team `team_slug`'s members in `org` (`get_team_members`).
    pub async fn get_team_members(&self, org: &str, team_slug: &str) -> Result<Vec<String>> {
        self.call(tools::GET_TEAM_MEMBERS, json!({"org": org, "team_slug": team_slug})).await
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

    /// Writes `files` (`(path, content)`) on `branch` as one commit, made from the default
    /// branch when it does not exist (`push_files`); the branch as moved.
    pub async fn push_files(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<GitRef> {
        let files: Vec<Value> = files.iter().map(|(path, content)| json!({"path": path, "content": content})).collect();
        let args = json!({"owner": owner, "repo": repo, "branch": branch, "files": files, "message": message});
        self.call(tools::PUSH_FILES, args).await
    }

    /// Deletes `path` from `branch` as a new commit (`delete_file`); the commit.
    pub async fn delete_file(
        &self,
        owner: &str,
        repo: &str,
        path: &str,
        message: &str,
        branch: &str,
    ) -> Result<FileCommit> {
        let args = json!({"owner": owner, "repo": repo, "path": path, "message": message, "branch": branch});
        self.call(tools::DELETE_FILE, args).await
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

    /// An issue's sub-issues (`issue_read` get_sub_issues; `list_sub_issues`).
    pub async fn list_sub_issues(&self, owner: &str, repo: &str, number: u64) -> Result<Vec<Issue>> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number});
        self.call_method(tools::ISSUE_READ, "get_sub_issues", "list_sub_issues", args).await
    }

    /// Makes the issue with id `sub_issue_id` (not its number) a sub-issue of issue `number`,
    /// moving it from another parent when `replace_parent` (`sub_issue_write` add;
    /// `add_sub_issue`); the parent issue.
    pub async fn add_sub_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        sub_issue_id: u64,
        replace_parent: bool,
    ) -> Result<Issue> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number, "sub_issue_id": sub_issue_id, "replace_parent": replace_parent});
        self.call_method(tools::SUB_ISSUE_WRITE, "add", "add_sub_issue", args).await
    }

    /// Takes sub-issue `sub_issue_id` off issue `number` (`sub_issue_write` remove;
    /// `remove_sub_issue`); the parent issue.
    pub async fn remove_sub_issue(&self, owner: &str, repo: &str, number: u64, sub_issue_id: u64) -> Result<Issue> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number, "sub_issue_id": sub_issue_id});
        self.call_method(tools::SUB_ISSUE_WRITE, "remove", "remove_sub_issue", args).await
    }

    /// Moves sub-issue `sub_issue_id` of issue `number` just after (`Ok(id)`) or before
    /// (`Err(id)`) another sub-issue (`sub_issue_write` reprioritize; `reprioritize_sub_issue`);
    /// the parent issue.
    pub async fn reprioritize_sub_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        sub_issue_id: u64,
        place: std::result::Result<u64, u64>,
    ) -> Result<Issue> {
        let mut args = json!({"owner": owner, "repo": repo, "issue_number": number, "sub_issue_id": sub_issue_id});
        match place {
            Ok(after) => args["after_id"] = json!(after),
            Err(before) => args["before_id"] = json!(before),
        }
        self.call_method(tools::SUB_ISSUE_WRITE, "reprioritize", "reprioritize_sub_issue", args).await
    }

    /// The issue types of organization `owner`, or those `repo` can use (`list_issue_types`).
    pub async fn list_issue_types(&self, owner: &str, repo: Option<&str>) -> Result<Vec<IssueType>> {
        let mut args = json!({"owner": owner});
        if let Some(repo) = repo {
            args["repo"] = json!(repo);
        }
        self.call(tools::LIST_ISSUE_TYPES, args).await
    }

    /// Opens an issue (`issue_write` create; `create_issue`).
    pub async fn create_issue_with(&self, owner: &str, repo: &str, issue: &NewIssue) -> Result<Issue> {
        if self.dialect == Dialect::Granular {
            let made = self.open_issue(owner, repo, &issue.title, issue.body.as_deref()).await?;
            let number = issue_number_of(&made, tools::CREATE_ISSUE)?;
            let mut changes = Vec::new();
            changes.extend(issue.assignees.clone().map(IssueChange::Assignees));
            changes.extend(issue.labels.clone().map(IssueChange::Labels));
            for change in changes {
                self.change_issue(owner, repo, number, &change).await?;
            }
            return self.get_issue(owner, repo, number).await;
        }
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
        if self.dialect == Dialect::Granular {
            let mut changes = Vec::new();
            changes.extend(update.title.clone().map(IssueChange::Title));
            changes.extend(update.body.clone().map(IssueChange::Body));
            changes.extend(update.state.clone().map(|s| IssueChange::State(s, None)));
            changes.extend(update.labels.clone().map(IssueChange::Labels));
            for change in changes {
                self.change_issue(owner, repo, number, &change).await?;
            }
            return self.get_issue(owner, repo, number).await;
        }
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

    /// Edits pull request `number` (`update_pull_request`); its id and page.
    pub async fn update_pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        update: &PullRequestUpdate,
    ) -> Result<Written> {
        if self.dialect == Dialect::Granular {
            return self.update_pull_request_granular(owner, repo, number, update).await;
        }
        let args = merge(json!({"owner": owner, "repo": repo, "pullNumber": number}), update);
        self.call(tools::UPDATE_PULL_REQUEST, args).await
    }

    /// [`update_pull_request`](Self::update_pull_request) through the single-purpose tools, one
    /// change after another; the pull request's id and page.
    async fn update_pull_request_granular(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        update: &PullRequestUpdate,
    ) -> Result<Written> {
        if update.base.is_some() {
            return Err(Error::BadArgument {
                tool: tools::UPDATE_PULL_REQUEST.into(),
                message: "the single-purpose pull request tools cannot change the base branch".into(),
            });
        }
        let base = json!({"owner": owner, "repo": repo, "pullNumber": number});
        let mut written = None;
        for (tool, key, value) in [
            ("update_pull_request_title", "title", update.title.clone()),
            ("update_pull_request_body", "body", update.body.clone()),
            ("update_pull_request_state", "state", update.state.clone()),
        ] {
            if let Some(value) = value {
                written = Some(self.call(tool, merge(base.clone(), &json!({ key: value }))).await?);
            }
        }
        if let Some(draft) = update.draft {
            self.call_text("update_pull_request_draft_state", merge(base.clone(), &json!({"draft": draft}))).await?;
        }
        if let Some(reviewers) = &update.reviewers {
            let args = merge(base.clone(), &json!({"reviewers": reviewers}));
            written = Some(self.call(tools::REQUEST_PULL_REQUEST_REVIEWERS, args).await?);
        }
        match written {
            Some(written) => Ok(written),
            None if update.draft.is_some() => {
                let pr = self.get_pull_request(owner, repo, number).await?;
                Ok(Written { id: String::new(), url: pr.html_url })
            }
            None => Err(Error::BadArgument {
                tool: tools::UPDATE_PULL_REQUEST.into(),
                message: "No update parameters provided.".into(),
            }),
        }
    }

    /// Opens an issue with `title` and `body` through the single-purpose `create_issue` of
    /// [`Dialect::Granular`] servers; its id and page. (On other servers use
    /// [`create_issue_with`](Self::create_issue_with).)
    pub async fn open_issue(&self, owner: &str, repo: &str, title: &str, body: Option<&str>) -> Result<Written> {
        let mut args = json!({"owner": owner, "repo": repo, "title": title});
        if let Some(body) = body {
            args["body"] = json!(body);
        }
        self.call(tools::CREATE_ISSUE, args).await
    }

    /// Makes one change to issue `number` through its single-purpose tool
    /// ([`Dialect::Granular`] servers); the issue's id and page.
    pub async fn change_issue(&self, owner: &str, repo: &str, number: u64, change: &IssueChange) -> Result<Written> {
        let (tool, key, value) = change.tool_and_argument();
        let mut args = json!({"owner": owner, "repo": repo, "issue_number": number, key: value});
        if let IssueChange::State(_, Some(reason)) = change {
            args["state_reason"] = json!(reason);
        }
        self.call(tool, args).await
    }

    /// Reacts with `content` (`+1`, `heart`, ...) to `target` (the single-purpose reaction
    /// tools of [`Dialect::Granular`] servers); the reaction's id and API URL.
    pub async fn add_reaction(
        &self,
        owner: &str,
        repo: &str,
        target: ReactionTarget,
        content: &str,
    ) -> Result<Written> {
        let (tool, key, id) = match target {
            ReactionTarget::Issue(number) => ("add_issue_reaction", "issue_number", number),
            ReactionTarget::IssueComment(id) => ("add_issue_comment_reaction", "comment_id", id),
            ReactionTarget::ReviewComment(id) => ("add_pull_request_review_comment_reaction", "comment_id", id),
        };
        self.call(tool, json!({"owner": owner, "repo": repo, key: id, "content": content})).await
    }

    /// Asks `reviewers` (logins, or `ORG/team-slug`) to review pull request `number`
    /// (`request_pull_request_reviewers`, [`Dialect::Granular`] servers); its id and page.
    pub async fn request_pull_request_reviewers(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        reviewers: &[&str],
    ) -> Result<Written> {
        let args = json!({"owner": owner, "repo": repo, "pullNumber": number, "reviewers": reviewers});
        self.call(tools::REQUEST_PULL_REQUEST_REVIEWERS, args).await
    }

    /// Merges the base branch into pull request `number`'s head (`update_pull_request_branch`);
    /// the server's answer (GitHub does it in the background: "... in progress").
    pub async fn update_pull_request_branch(&self, owner: &str, repo: &str, number: u64) -> Result<String> {
        self.call_text(tools::UPDATE_PULL_REQUEST_BRANCH, json!({"owner": owner, "repo": repo, "pullNumber": number}))
            .await
    }

    /// Replies `body` to review comment `comment_id` of pull request `number`
    /// (`add_reply_to_pull_request_comment`); the reply's id and page.
    pub async fn reply_to_pull_request_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<Written> {
        let args = json!({"owner": owner, "repo": repo, "pullNumber": number, "commentId": comment_id, "body": body});
        self.call(tools::ADD_REPLY_TO_PULL_REQUEST_COMMENT, args).await
    }

    /// Creates, updates or deletes label `name` (`label_write` with `method` and the other
    /// `arguments`: `new_name`, `color`, `description`); the server's confirmation.
    pub async fn label_write(
        &self,
        method: &str,
        owner: &str,
        repo: &str,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<String> {
        let args = merge(json!({"method": method, "owner": owner, "repo": repo, "name": name}), &arguments);
        self.call_text(tools::LABEL_WRITE, args).await
    }

    /// Starts a pending review of pull request `number`, at `commit` (the head when `None`)
    /// (`pull_request_review_write` create; `create_pending_pull_request_review`); the server's
    /// confirmation.
    pub async fn create_pending_pull_request_review(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        commit: Option<&str>,
    ) -> Result<String> {
        let mut args = json!({"owner": owner, "repo": repo, "pullNumber": number});
        if let Some(commit) = commit {
            args["commitID"] = json!(commit);
        }
        self.call_method_text(tools::PULL_REQUEST_REVIEW_WRITE, "create", "create_pending_pull_request_review", args)
            .await
    }

    /// Reviews pull request `number` at once with `event` (`APPROVE`, `REQUEST_CHANGES` or
    /// `COMMENT`) and `body` (`pull_request_review_write` create with an event;
    /// `create_and_submit_pull_request_review`).
    pub async fn create_pull_request_review(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        event: &str,
        body: &str,
    ) -> Result<String> {
        let args = json!({"owner": owner, "repo": repo, "pullNumber": number, "event": event, "body": body});
        let legacy = "create_and_submit_pull_request_review";
        self.call_method_text(tools::PULL_REQUEST_REVIEW_WRITE, "create", legacy, args).await
    }

    /// Adds `comment` to the authenticated user's pending review of pull request `number`
    /// (`add_comment_to_pending_review`).
    pub async fn add_comment_to_pending_review(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        comment: &ReviewComment,
    ) -> Result<String> {
        let args = merge(json!({"owner": owner, "repo": repo, "pullNumber": number}), comment);
        let tool = match self.dialect {
            Dialect::Granular => tools::ADD_PULL_REQUEST_REVIEW_COMMENT,
            _ => tools::ADD_COMMENT_TO_PENDING_REVIEW,
        };
        self.call_text(tool, args).await
    }

    /// Submits the pending review with `event` and `body` (`pull_request_review_write`
    /// submit_pending; `submit_pending_pull_request_review`).
    pub async fn submit_pending_pull_request_review(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        event: &str,
        body: Option<&str>,
    ) -> Result<String> {
        let mut args = json!({"owner": owner, "repo": repo, "pullNumber": number, "event": event});
        if let Some(body) = body {
            args["body"] = json!(body);
        }
        let legacy = "submit_pending_pull_request_review";
        self.call_method_text(tools::PULL_REQUEST_REVIEW_WRITE, "submit_pending", legacy, args).await
    }

    /// Deletes the pending review (`pull_request_review_write` delete_pending;
    /// `delete_pending_pull_request_review`).
    pub async fn delete_pending_pull_request_review(&self, owner: &str, repo: &str, number: u64) -> Result<String> {
        let args = json!({"owner": owner, "repo": repo, "pullNumber": number});
        let legacy = "delete_pending_pull_request_review";
        self.call_method_text(tools::PULL_REQUEST_REVIEW_WRITE, "delete_pending", legacy, args).await
    }

    /// Resolves (`resolved`) or unresolves review thread `thread_id` (`PRRT_...`) of pull request
    /// `number` (`pull_request_review_write` resolve_thread / unresolve_thread; current servers).
    pub async fn resolve_review_thread(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        thread_id: &str,
        resolved: bool,
    ) -> Result<String> {
        if self.dialect == Dialect::Granular {
            let tool = if resolved { "resolve_review_thread" } else { "unresolve_review_thread" };
            return self.call_text(tool, json!({"threadID": thread_id})).await;
        }
        let method = if resolved { "resolve_thread" } else { "unresolve_thread" };
        let args = json!({"method": method, "owner": owner, "repo": repo, "pullNumber": number, "threadId": thread_id});
        self.call_text(tools::PULL_REQUEST_REVIEW_WRITE, args).await
    }

    /// Organization search (`search_orgs`).
    pub async fn search_orgs(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<User>> {
        self.call(tools::SEARCH_ORGS, merge(json!({"query": query}), options)).await
    }

    /// Commit search (`search_commits`).
    pub async fn search_commits(&self, query: &str, options: &SearchOptions) -> Result<SearchResult<CommitInfo>> {
        self.call(tools::SEARCH_COMMITS, merge(json!({"query": query}), options)).await
    }

    /// A git tag (`get_tag`): the annotated tag object, or a lightweight tag's ref, as the server
    /// gives it.
    pub async fn get_tag(&self, owner: &str, repo: &str, tag: &str) -> Result<Value> {
        self.call(tools::GET_TAG, json!({"owner": owner, "repo": repo, "tag": tag})).await
    }

    /// Releases, newest first (`list_releases`).
    pub async fn list_releases(&self, owner: &str, repo: &str) -> Result<Vec<Release>> {
        self.call(tools::LIST_RELEASES, json!({"owner": owner, "repo": repo})).await
    }

    /// Assigns the Copilot coding agent to issue `number` (`assign_copilot_to_issue`), from
    /// `task.base_ref` and with `task.custom_instructions` when given (0.12.x servers take
    /// neither, and call the number `issueNumber`; they answer with a sentence, given as
    /// [`CopilotAssignment::message`]).
    pub async fn assign_copilot_to_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        task: &CopilotTask,
    ) -> Result<CopilotAssignment> {
        let number_key = if self.dialect == Dialect::Legacy { "issueNumber" } else { "issue_number" };
        let args = merge(json!({"owner": owner, "repo": repo, number_key: number}), task);
        let text = self.call_text(tools::ASSIGN_COPILOT_TO_ISSUE, args).await?;
        Ok(serde_json::from_str(&text).unwrap_or(CopilotAssignment { message: text, ..CopilotAssignment::default() }))
    }

    /// Asks Copilot to review pull request `number` (`request_copilot_review`).
    pub async fn request_copilot_review(&self, owner: &str, repo: &str, number: u64) -> Result<()> {
        self.call_text(tools::REQUEST_COPILOT_REVIEW, json!({"owner": owner, "repo": repo, "pullNumber": number}))
            .await
            .map(drop)
    }

    /// Sets values of issue `number`'s custom fields (`set_issue_fields`, a single-purpose tool
    /// of [`Dialect::Granular`] servers); the issue's node id and page.
    pub async fn set_issue_fields(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        fields: &[IssueFieldValue],
    ) -> Result<Written> {
        let args = json!({"owner": owner, "repo": repo, "issue_number": number, "fields": fields});
        self.call(tools::SET_ISSUE_FIELDS, args).await
    }

    /// What MCP Apps forms pick from (`ui_get`): `method` is `labels`, `assignees`,
    /// `milestones`, `branches`, `issue_fields` or `reviewers` of `owner/repo`, or
    /// `issue_types` of the organization `owner` (no `repo`). The server's JSON as it is.
    pub async fn ui_get(&self, method: &str, owner: &str, repo: Option<&str>) -> Result<Value> {
        let mut args = json!({"method": method, "owner": owner});
        if let Some(repo) = repo {
            args["repo"] = json!(repo);
        }
        self.call(tools::UI_GET, args).await
    }

    /// The release of `tag` (`get_release_by_tag`).
    pub async fn get_release_by_tag(&self, owner: &str, repo: &str, tag: &str) -> Result<Release> {
        self.call(tools::GET_RELEASE_BY_TAG, json!({"owner": owner, "repo": repo, "tag": tag})).await
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
            Dialect::Current | Dialect::Granular => {
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
            Dialect::Current | Dialect::Granular => {
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

    /// The logs of every failed job of run `run_id`: their last `tail_lines` lines when
    /// `content`, else download URLs (`get_job_logs` with `failed_only`); the server's summary.
    pub async fn get_failed_job_logs(
        &self,
        owner: &str,
        repo: &str,
        run_id: u64,
        content: bool,
        tail_lines: u32,
    ) -> Result<Value> {
        let args = json!({"owner": owner, "repo": repo, "run_id": run_id, "failed_only": true, "return_content": content, "tail_lines": tail_lines});
        self.call(tools::GET_JOB_LOGS, args).await
    }

    /// Job `job_id`'s logs: the last `tail_lines` lines when `content`, else a download URL
    /// (`get_job_logs`).
    pub async fn get_job_logs(
        &self,
        owner: &str,
        repo: &str,
        job_id: u64,
        content: bool,
        tail_lines: u32,
    ) -> Result<Value> {
        let args = json!({"owner": owner, "repo": repo, "job_id": job_id, "return_content": content, "tail_lines": tail_lines});
        self.call(tools::GET_JOB_LOGS, args).await
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

    /// One notification thread (`get_notification_details`).
    pub async fn get_notification_details(&self, thread_id: &str) -> Result<Notification> {
        self.call(tools::GET_NOTIFICATION_DETAILS, json!({"notificationID": thread_id})).await
    }

    /// Marks notification thread `thread_id` as `read` or `done` (`dismiss_notification`); the
    /// server's confirmation.
    pub async fn dismiss_notification(&self, thread_id: &str, state: &str) -> Result<String> {
        self.call_text(tools::DISMISS_NOTIFICATION, json!({"threadID": thread_id, "state": state})).await
    }

    /// Marks all notifications (or `repo`'s, `(owner, name)`) as read
    /// (`mark_all_notifications_read`); the server's confirmation.
    pub async fn mark_all_notifications_read(&self, repo: Option<(&str, &str)>) -> Result<String> {
        let args = match repo {
            Some((owner, name)) => json!({"owner": owner, "repo": name}),
            None => json!({}),
        };
        self.call_text(tools::MARK_ALL_NOTIFICATIONS_READ, args).await
    }

    /// Ignores, watches or deletes (`action`) the subscription to notification thread
    /// `thread_id` (`manage_notification_subscription`); the subscription as the server shows
    /// it, or its confirmation of a deletion.
    pub async fn manage_notification_subscription(&self, thread_id: &str, action: &str) -> Result<String> {
        let args = json!({"notificationID": thread_id, "action": action});
        self.call_text(tools::MANAGE_NOTIFICATION_SUBSCRIPTION, args).await
    }

    /// Ignores, watches or deletes (`action`) the subscription to a repository
    /// (`manage_repository_notification_subscription`); as
    /// [`manage_notification_subscription`](Self::manage_notification_subscription).
    pub async fn manage_repository_notification_subscription(
        &self,
        owner: &str,
        repo: &str,
        action: &str,
    ) -> Result<String> {
        let args = json!({"owner": owner, "repo": repo, "action": action});
        self.call_text(tools::MANAGE_REPOSITORY_NOTIFICATION_SUBSCRIPTION, args).await
    }

    /// Creates a repository (`create_repository`); its id and page.
    pub async fn create_repository(&self, repository: &NewRepository) -> Result<Written> {
        let made: MadeRepository =
            self.call(tools::CREATE_REPOSITORY, serde_json::to_value(repository).unwrap_or_default()).await?;
        Ok(made.into())
    }

    /// Forks `owner/repo` into the user's account or `organization` (`fork_repository`): the
    /// fork's id and page, or `None` while GitHub is still making it (its usual answer).
    pub async fn fork_repository(
        &self,
        owner: &str,
        repo: &str,
        organization: Option<&str>,
    ) -> Result<Option<Written>> {
        let mut args = json!({"owner": owner, "repo": repo});
        if let Some(org) = organization {
            args["organization"] = json!(org);
        }
        let text = self.call_text(tools::FORK_REPOSITORY, args).await?;
        if text.trim() == "Fork is in progress" {
            return Ok(None);
        }
        let made: MadeRepository = serde_json::from_str(&text)
            .map_err(|e| Error::UnexpectedResult { tool: tools::FORK_REPOSITORY.into(), message: e.to_string() })?;
        Ok(Some(made.into()))
    }

    /// Deletes `owner/repo` (`delete_repository`) once the user has confirmed it through the
    /// client's elicitation; the server's confirmation. A refusal is a tool failure.
    pub async fn delete_repository(&self, owner: &str, repo: &str) -> Result<String> {
        self.call_text(tools::DELETE_REPOSITORY, json!({"owner": owner, "repo": repo})).await
    }

    /// A page of a repository's collaborators (`list_repository_collaborators`).
    pub async fn list_repository_collaborators(
        &self,
        owner: &str,
        repo: &str,
        filter: &ListCollaborators,
    ) -> Result<Collaborators> {
        self.call(tools::LIST_REPOSITORY_COLLABORATORS, merge(json!({"owner": owner, "repo": repo}), filter)).await
    }

    /// Which commit last changed each line of `path` (`get_file_blame`).
    pub async fn get_file_blame(&self, owner: &str, repo: &str, path: &str, options: &BlameOptions) -> Result<Blame> {
        self.call(tools::GET_FILE_BLAME, merge(json!({"owner": owner, "repo": repo, "path": path}), options)).await
    }

    /// The issue fields of organization `owner`, or those `repo` inherits (`list_issue_fields`).
    pub async fn list_issue_fields(&self, owner: &str, repo: Option<&str>) -> Result<Vec<IssueField>> {
        let mut args = json!({"owner": owner});
        if let Some(repo) = repo {
            args["repo"] = json!(repo);
        }
        self.call(tools::LIST_ISSUE_FIELDS, args).await
    }

    /// The issues blocking issue `number` ([`Dependency::BlockedBy`]) or blocked by it
    /// ([`Dependency::Blocking`]) (`issue_dependency_read`).
    pub async fn list_issue_dependencies(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        relation: Dependency,
    ) -> Result<IssueDependencies> {
        let method = format!("get_{}", relation.name());
        let args = json!({"method": method, "owner": owner, "repo": repo, "issue_number": number});
        self.call(tools::ISSUE_DEPENDENCY_READ, args).await
    }

    /// Records (`add`) or deletes (`!add`) that issue `number` is blocked by, or blocks
    /// (`relation`), issue `related` (`(owner, repo, number)`; the same repository when the
    /// owner and repo are empty) (`issue_dependency_write`).
    pub async fn issue_dependency_write(
        &self,
        add: bool,
        (owner, repo, number): (&str, &str, u64),
        relation: Dependency,
        related: (&str, &str, u64),
    ) -> Result<DependencyChange> {
        let mut args = json!({
            "method": if add { "add" } else { "remove" }, "type": relation.name(),
            "owner": owner, "repo": repo, "issue_number": number, "related_issue_number": related.2,
        });
        if !related.0.is_empty() {
            args["related_owner"] = json!(related.0);
        }
        if !related.1.is_empty() {
            args["related_repo"] = json!(related.1);
        }
        self.call(tools::ISSUE_DEPENDENCY_WRITE, args).await
    }

    /// Likely duplicates of issue `number`, ranked, at least `threshold` similar when given
    /// (`find_duplicate`).
    pub async fn find_duplicate(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        threshold: Option<f64>,
    ) -> Result<Vec<DuplicateCandidate>> {
        let mut args = json!({"owner": owner, "repo": repo, "issue_number": number});
        if let Some(threshold) = threshold {
            args["confidence_threshold"] = json!(threshold);
        }
        self.call(tools::FIND_DUPLICATE, args).await
    }

    /// Any tool by name, with the [`crate::ALIASES`] applied: in the current dialect an old
    /// name becomes the current tool with its `method` (in the granular one, but for the old
    /// names that are single-purpose tools again).
    pub async fn call_raw(&self, name: &str, arguments: Map<String, Value>) -> Result<CallToolResult> {
        let single_purpose = name == tools::CREATE_ISSUE || GRANULAR.iter().any(|(_, _, g)| *g == name);
        let (tool, method) = match self.dialect {
            Dialect::Granular if single_purpose => (name, None),
            Dialect::Current | Dialect::Granular => crate::resolve_alias(name),
            Dialect::Legacy => (name, None),
        };
        let mut arguments = arguments;
        if let Some(method) = method {
            arguments.entry("method").or_insert_with(|| json!(method));
        }
        Ok(self.client.call_checked(tool, &Value::Object(arguments)).await?)
    }
}

/// The single-purpose tool for `current`'s `method`, if it has one.
fn granular(current: &str, method: &str) -> Option<&'static str> {
    GRANULAR.iter().find(|(tool, m, _)| *tool == current && *m == method).map(|(_, _, granular)| *granular)
}

/// The issue number at the end of an issue's page URL.
fn issue_number_of(written: &Written, tool: &str) -> Result<u64> {
    written.url.as_deref().and_then(|u| u.rsplit('/').next()).and_then(|n| n.parse().ok()).ok_or_else(|| {
        Error::UnexpectedResult { tool: tool.into(), message: format!("no issue number in {:?}", written.url) }
    })
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
