//! The tools: their definitions (names, argument shapes and annotations as github-mcp-server has
//! them) and what each asks of GitHub's REST API, its answer cut down to the fields that matter.

use base64::Engine as _;
use http::Method;
use mcp_core::protocol::{CallToolResult, Content, JsonObject, Tool as ToolDef, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::Inner;
use super::api::Reply;
use crate::{Error, Result, UNTRUSTED_END, untrusted_start};

mod copilot;
mod discussions;
mod git_gists_stars;
mod granular;
mod issue_links;
mod projects;
mod repository;
mod security;

pub(crate) use repository::delete as delete_repository;

/// Every toolset the native server has.
pub const TOOLSETS: &[&str] = &[
    "context",
    "repos",
    "issues",
    "pull_requests",
    "users",
    "copilot",
    "orgs",
    "actions",
    "labels",
    "notifications",
    "copilot_issue_intents",
    "git",
    "stargazers",
    "gists",
    "discussions",
    "code_security",
    "code_quality",
    "dependabot",
    "secret_protection",
    "security_advisories",
    "projects",
];
/// The toolsets served unless configured otherwise (as github-mcp-server's default).
pub const DEFAULT_TOOLSETS: &[&str] = &["context", "repos", "issues", "pull_requests", "users", "copilot"];

/// The tools the reference serves only when a feature flag is on: `(tool, flag)`.
pub const FEATURE_FLAGS: &[(&str, &str)] = &[
    ("get_file_blame", "file_blame"),
    ("issue_dependency_read", "issue_dependencies"),
    ("issue_dependency_write", "issue_dependencies"),
    ("find_duplicate", "duplicate_detection"),
    ("ui_get", copilot::UI_APPS),
    ("set_issue_fields", granular::ISSUES),
    ("create_issue", granular::ISSUES),
    ("update_issue_title", granular::ISSUES),
    ("update_issue_body", granular::ISSUES),
    ("update_issue_assignees", granular::ISSUES),
    ("update_issue_labels", granular::ISSUES),
    ("update_issue_milestone", granular::ISSUES),
    ("update_issue_type", granular::ISSUES),
    ("update_issue_state", granular::ISSUES),
    ("add_sub_issue", granular::ISSUES),
    ("remove_sub_issue", granular::ISSUES),
    ("reprioritize_sub_issue", granular::ISSUES),
    ("add_issue_reaction", granular::ISSUES),
    ("add_issue_comment_reaction", granular::ISSUES),
    ("update_pull_request_title", granular::PULLS),
    ("update_pull_request_body", granular::PULLS),
    ("update_pull_request_state", granular::PULLS),
    ("update_pull_request_draft_state", granular::PULLS),
    ("request_pull_request_reviewers", granular::PULLS),
    ("create_pull_request_review", granular::PULLS),
    ("submit_pending_pull_request_review", granular::PULLS),
    ("delete_pending_pull_request_review", granular::PULLS),
    ("add_pull_request_review_comment", granular::PULLS),
    ("resolve_review_thread", granular::PULLS),
    ("unresolve_review_thread", granular::PULLS),
    ("add_pull_request_review_comment_reaction", granular::PULLS),
];

/// The tools a feature flag hides, because the flag's tools replace them: `(tool, flag)`.
pub const REPLACED_BY_FEATURES: &[(&str, &str)] = granular::REPLACED;

/// The flags the reference's insiders mode turns on (`duplicate_detection` stays an explicit choice).
pub const INSIDERS_FEATURES: &[&str] = &["file_blame", "issue_dependencies", copilot::UI_APPS];

/// One tool's definition.
pub(crate) struct Spec {
    pub name: &'static str,
    pub toolset: &'static str,
    pub read_only: bool,
    title: &'static str,
    description: &'static str,
    properties: fn() -> Value,
    required: &'static [&'static str],
}

impl Spec {
    pub(crate) fn definition(&self) -> ToolDef {
        let mut schema = JsonObject::new();
        schema.insert("type".into(), "object".into());
        schema.insert("properties".into(), (self.properties)());
        schema.insert("required".into(), self.required.iter().map(|r| Value::from(*r)).collect());
        let mut annotations = ToolAnnotations::default();
        annotations.title = Some(self.title.to_owned());
        annotations.read_only_hint = Some(self.read_only);
        annotations.idempotent_hint = Some(IDEMPOTENT.contains(&self.name));
        if DESTRUCTIVE.contains(&self.name) {
            annotations.destructive_hint = Some(true);
        }
        // The single-purpose tools say both hints outright, as the reference does.
        if granular::SPECS.iter().any(|s| s.name == self.name) {
            annotations.destructive_hint = Some(DESTRUCTIVE.contains(&self.name));
            annotations.open_world_hint = Some(true);
        }
        let mut tool = ToolDef::new(self.name, self.description, schema).with_annotations(annotations);
        // Data for MCP Apps views only: kept out of the model's list by hosts that honour it.
        if self.name == "ui_get" {
            let mut meta = JsonObject::new();
            meta.insert("ui".into(), json!({"visibility": ["app"]}));
            tool.meta = Some(meta);
        }
        tool
    }
}

/// The tools the reference annotates as destructive.
const DESTRUCTIVE: &[&str] = &[
    "actions_run_trigger",
    "delete_file",
    "delete_pending_pull_request_review",
    "delete_repository",
    "discussion_comment_write",
    "label_write",
    "manage_notification_subscription",
    "manage_repository_notification_subscription",
    "projects_write",
    "remove_sub_issue",
];

/// The tools the reference annotates as idempotent.
const IDEMPOTENT: &[&str] = &["assign_copilot_to_issue", "assign_copilot_to_issue_with_intent"];

/// The definition of `name`, if the native server has it.
pub(crate) fn spec(name: &str) -> Option<&'static Spec> {
    all_specs().find(|s| s.name == name)
}

/// Every tool the native server has: the consolidated ones, then the single-purpose ones.
pub(crate) fn all_specs() -> impl Iterator<Item = &'static Spec> {
    SPECS
        .iter()
        .chain(granular::SPECS)
        .chain(copilot::SPECS)
        .chain(git_gists_stars::SPECS)
        .chain(discussions::SPECS)
        .chain(security::SPECS)
        .chain(projects::SPECS)
}

fn s(description: &str) -> Value {
    json!({"type": "string", "description": description})
}
fn n(description: &str) -> Value {
    json!({"type": "number", "description": description})
}
fn b(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}
fn e(description: &str, values: &[&str]) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}
fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}
fn fields(values: &[&str]) -> Value {
    json!({"type": "array", "items": {"type": "string", "enum": values}, "description": "Only these fields of each item"})
}
fn page() -> Value {
    json!({"type": "number", "minimum": 1, "description": "Page number, from 1"})
}
fn per_page() -> Value {
    json!({"type": "number", "minimum": 1, "maximum": 100, "description": "Results per page (1-100)"})
}
fn owner() -> Value {
    s("Repository owner (user or organization)")
}
fn repo() -> Value {
    s("Repository name")
}
fn order() -> Value {
    e("Sort order", &["asc", "desc"])
}

const ISSUE_SORT: &[&str] = &[
    "comments",
    "reactions",
    "reactions-+1",
    "reactions--1",
    "reactions-smile",
    "reactions-thinking_face",
    "reactions-heart",
    "reactions-tada",
    "interactions",
    "created",
    "updated",
];

/// Every tool the native server has, by toolset.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "get_me",
        toolset: "context",
        read_only: true,
        title: "Get my user profile",
        description: "Shows the authenticated user's profile: login, name, company, public counts. Use it to learn \
            who 'me' is before other calls.",
        properties: || json!({}),
        required: &[],
    },
    Spec {
        name: "get_teams",
        toolset: "context",
        read_only: true,
        title: "Get teams",
        description: "Lists the teams a user (the authenticated one when absent) belongs to, by organization.",
        properties: || json!({"user": s("Login; the authenticated user when absent")}),
        required: &[],
    },
    Spec {
        name: "get_team_members",
        toolset: "context",
        read_only: true,
        title: "Get team members",
        description: "Lists the logins of a team's members.",
        properties: || json!({"org": s("The organization"), "team_slug": s("The team's slug")}),
        required: &["org", "team_slug"],
    },
    Spec {
        name: "get_file_contents",
        toolset: "repos",
        read_only: true,
        title: "Get file or directory contents",
        description: "Reads a file (its text) or lists a directory of a repository, at a branch, tag or commit.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "path": {"type": "string", "default": "/", "description": "Path of the file or directory (a trailing / for a directory)"},
                "ref": s("Branch, tag or full ref (refs/heads/main); the default branch when absent"),
                "sha": s("Commit SHA; wins over ref"),
                "fields": fields(&["type", "name", "path", "size", "sha", "url", "git_url", "html_url", "download_url"]),
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "list_branches",
        toolset: "repos",
        read_only: true,
        title: "List branches",
        description: "Lists the branches of a repository, with each head commit's SHA.",
        properties: || json!({"owner": owner(), "repo": repo(), "page": page(), "perPage": per_page()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "list_commits",
        toolset: "repos",
        read_only: true,
        title: "List commits",
        description: "Lists the commits of a branch, tag or SHA (the default branch when absent), newest first; \
            optionally only those touching a path, by an author, or in a time range.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "sha": s("Branch, tag or commit SHA to list from"),
                "author": s("Author login or email"),
                "path": s("Only commits touching this path"),
                "since": s("Only commits after this time (ISO 8601)"),
                "until": s("Only commits before this time (ISO 8601)"),
                "page": page(), "perPage": per_page(),
                "fields": fields(&["sha", "html_url", "commit", "author", "committer"]),
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_commit",
        toolset: "repos",
        read_only: true,
        title: "Get commit details",
        description: "Shows one commit: message, author, and its changed files (with stats, or with patches when \
            detail is full_patch).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "sha": s("Commit SHA, branch or tag"),
                "detail": {"type": "string", "enum": ["none", "stats", "full_patch"], "default": "stats", "description": "How much about the changed files: none, stats, or full_patch"},
                "page": page(), "perPage": per_page(),
            })
        },
        required: &["owner", "repo", "sha"],
    },
    Spec {
        name: "search_repositories",
        toolset: "repos",
        read_only: true,
        title: "Search repositories",
        description: "Finds repositories with GitHub's search syntax (e.g. 'machine learning language:rust stars:>100').",
        properties: || {
            json!({
                "query": s("Search query"),
                "sort": e("Sort by", &["stars", "forks", "help-wanted-issues", "updated"]),
                "order": order(), "page": page(), "perPage": per_page(),
                "minimal_output": {"type": "boolean", "default": true, "description": "Only the essential fields of each repository (true by default)"},
            })
        },
        required: &["query"],
    },
    Spec {
        name: "search_code",
        toolset: "repos",
        read_only: true,
        title: "Search code",
        description: "Finds code across repositories with GitHub's code search syntax (e.g. 'fn main repo:o/r language:rust').",
        properties: || {
            json!({
                "query": s("Search query"), "sort": s("Sort field ('indexed' only)"), "order": order(),
                "page": page(), "perPage": per_page(),
                "fields": fields(&["name", "path", "sha", "repository", "text_matches"]),
            })
        },
        required: &["query"],
    },
    Spec {
        name: "create_or_update_file",
        toolset: "repos",
        read_only: false,
        title: "Create or update file",
        description: "Writes one file on a branch as a new commit. Updating an existing file needs its current blob SHA.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "path": s("Path of the file"), "content": s("The file's new content (text)"),
                "message": s("Commit message"), "branch": s("Branch to commit to"),
                "sha": s("The file's current blob SHA, when it exists"),
                "allow_symlink_write": {"type": "boolean", "default": false, "description": "Set true to replace an existing symbolic link itself (refused otherwise)"},
            })
        },
        required: &["owner", "repo", "path", "content", "message", "branch"],
    },
    Spec {
        name: "push_files",
        toolset: "repos",
        read_only: false,
        title: "Push files to repository",
        description: "Writes several files on a branch as one commit (the branch is made from the default branch \
            when it does not exist).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "branch": s("Branch to push to"),
                "files": {
                    "type": "array",
                    "description": "The files: path and text content of each",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {"path": s("Path of the file"), "content": s("The file's content")},
                        "required": ["path", "content"],
                    },
                },
                "message": s("Commit message"),
            })
        },
        required: &["owner", "repo", "branch", "files", "message"],
    },
    Spec {
        name: "delete_file",
        toolset: "repos",
        read_only: false,
        title: "Delete file",
        description: "Deletes one file from a branch as a new commit.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "path": s("Path of the file to delete"),
                "message": s("Commit message"), "branch": s("Branch to delete it from"),
            })
        },
        required: &["owner", "repo", "path", "message", "branch"],
    },
    Spec {
        name: "create_branch",
        toolset: "repos",
        read_only: false,
        title: "Create branch",
        description: "Creates a branch from another branch (the default branch when absent).",
        properties: || json!({"owner": owner(), "repo": repo(), "branch": s("Name of the new branch"), "from_branch": s("Branch to start from")}),
        required: &["owner", "repo", "branch"],
    },
    Spec {
        name: "list_tags",
        toolset: "repos",
        read_only: true,
        title: "List tags",
        description: "Lists the tags of a repository with their commit SHAs.",
        properties: || json!({"owner": owner(), "repo": repo(), "page": page(), "perPage": per_page()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_latest_release",
        toolset: "repos",
        read_only: true,
        title: "Get latest release",
        description: "Shows the latest published release of a repository.",
        properties: || json!({"owner": owner(), "repo": repo()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "search_commits",
        toolset: "repos",
        read_only: true,
        title: "Search commits",
        description: "Finds commits with GitHub's commit search syntax (e.g. 'fix crash repo:o/r author:login').",
        properties: || {
            json!({
                "query": s("Search query"),
                "sort": e("Sort by author or committer date (best match when absent)", &["author-date", "committer-date"]),
                "order": order(), "page": page(), "perPage": per_page(),
            })
        },
        required: &["query"],
    },
    Spec {
        name: "get_tag",
        toolset: "repos",
        read_only: true,
        title: "Get tag details",
        description: "Shows one git tag: the annotated tag's message, tagger and target, or the ref of a lightweight tag.",
        properties: || json!({"owner": owner(), "repo": repo(), "tag": s("Tag name")}),
        required: &["owner", "repo", "tag"],
    },
    Spec {
        name: "list_releases",
        toolset: "repos",
        read_only: true,
        title: "List releases",
        description: "Lists the releases of a repository, newest first.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "page": page(), "perPage": per_page(),
                "fields": fields(&["id", "tag_name", "name", "body", "html_url", "published_at", "prerelease", "draft", "author"]),
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_release_by_tag",
        toolset: "repos",
        read_only: true,
        title: "Get a release by tag name",
        description: "Shows the release of a tag.",
        properties: || json!({"owner": owner(), "repo": repo(), "tag": s("Tag name, e.g. v1.0.0")}),
        required: &["owner", "repo", "tag"],
    },
    Spec {
        name: "get_file_blame",
        toolset: "repos",
        read_only: true,
        title: "Get file blame information",
        description: "Shows which commit last changed each line of a file: line ranges with their commit SHA, and \
            each commit once in a 'commits' map. start_line/end_line keep a window of the file; perPage and after \
            page through the ranges (at most 1000; 'truncated' says when there were more).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "path": s("Path of the file, relative to the repository root"),
                "ref": s("Branch, tag or commit SHA; the default branch when absent"),
                "start_line": {"type": "number", "minimum": 1, "description": "First line of the window (from 1)"},
                "end_line": {"type": "number", "minimum": 1, "description": "Last line of the window (>= start_line)"},
                "perPage": per_page(),
                "after": s("The endCursor of the previous page"),
            })
        },
        required: &["owner", "repo", "path"],
    },
    Spec {
        name: "create_repository",
        toolset: "repos",
        read_only: false,
        title: "Create repository",
        description: "Creates a repository in the authenticated user's account or in an organization.",
        properties: || {
            json!({
                "name": s("Repository name"),
                "description": s("Repository description"),
                "organization": s("Organization to create it in; the user's own account when absent"),
                "private": {"type": "boolean", "default": true, "description": "Private (true when absent)"},
                "autoInit": b("Start it with a README"),
            })
        },
        required: &["name"],
    },
    Spec {
        name: "fork_repository",
        toolset: "repos",
        read_only: false,
        title: "Fork repository",
        description: "Forks a repository into the authenticated user's account or an organization.",
        properties: || json!({"owner": owner(), "repo": repo(), "organization": s("Organization to fork into")}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "delete_repository",
        toolset: "repos",
        read_only: false,
        title: "Delete repository",
        description: "Deletes a repository for good, once the user has confirmed its exact owner/name (asked through \
            the client: elicitation).",
        properties: || json!({"owner": owner(), "repo": repo()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "list_repository_collaborators",
        toolset: "repos",
        read_only: true,
        title: "List repository collaborators",
        description: "Lists a repository's collaborators with their role; nextPage (0 on the last page) is the page \
            to ask for next.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "affiliation": e("outside, direct or all (the default)", &["outside", "direct", "all"]),
                "page": page(), "perPage": per_page(),
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "issue_read",
        toolset: "issues",
        read_only: true,
        title: "Get issue details",
        description: "Reads one issue: method 'get' (the issue), 'get_comments', 'get_sub_issues', 'get_parent' or \
            'get_labels'.",
        properties: || {
            json!({
                "method": e("What to read", &["get", "get_comments", "get_sub_issues", "get_parent", "get_labels"]),
                "owner": owner(), "repo": repo(), "issue_number": n("Issue number"),
                "page": page(), "perPage": per_page(),
            })
        },
        required: &["method", "owner", "repo", "issue_number"],
    },
    Spec {
        name: "list_issue_types",
        toolset: "issues",
        read_only: true,
        title: "List available issue types",
        description: "Lists the issue types an organization defines, or those a repository can use (with repo).",
        properties: || {
            json!({
                "owner": s("The organization (or the repository's owner)"),
                "repo": s("The repository, for the types it can use"),
            })
        },
        required: &["owner"],
    },
    Spec {
        name: "list_issue_fields",
        toolset: "issues",
        read_only: true,
        title: "List issue fields",
        description: "Lists the issue fields (custom fields: text, number, date, single_select with its options) an \
            organization defines, or those a repository inherits (with repo).",
        properties: || {
            json!({
                "owner": s("The organization (or the repository's owner); not case sensitive"),
                "repo": s("The repository, for the fields it inherits; the organization's own when absent"),
            })
        },
        required: &["owner"],
    },
    Spec {
        name: "issue_dependency_read",
        toolset: "issues",
        read_only: true,
        title: "Read issue dependencies",
        description: "Lists the issues that block an issue (method 'get_blocked_by') or that it blocks ('get_blocking').",
        properties: || {
            json!({
                "method": e("get_blocked_by or get_blocking", &["get_blocked_by", "get_blocking"]),
                "owner": owner(), "repo": repo(), "issue_number": n("Issue number"),
                "page": page(), "perPage": per_page(),
            })
        },
        required: &["method", "owner", "repo", "issue_number"],
    },
    Spec {
        name: "issue_dependency_write",
        toolset: "issues",
        read_only: false,
        title: "Change issue dependency",
        description: "Adds or removes a dependency between two issues: type 'blocked_by' records that the issue is \
            blocked by the related one, 'blocking' that it blocks it. The related issue is in the same repository \
            unless related_owner/related_repo say otherwise.",
        properties: || {
            json!({
                "method": e("add or remove", &["add", "remove"]),
                "type": e("blocked_by or blocking, seen from the issue", &["blocked_by", "blocking"]),
                "owner": s("Owner of the issue's repository"), "repo": s("The issue's repository"),
                "issue_number": n("The issue's number"),
                "related_issue_number": n("The related issue's number"),
                "related_owner": s("Owner of the related issue's repository; owner when absent"),
                "related_repo": s("The related issue's repository; repo when absent"),
            })
        },
        required: &["method", "type", "owner", "repo", "issue_number", "related_issue_number"],
    },
    Spec {
        name: "find_duplicate",
        toolset: "issues",
        read_only: true,
        title: "Find duplicate issues",
        description: "Finds likely duplicates of an issue in its repository, ranked by GitHub's semantic similarity \
            with a score and a confidence. Changes nothing.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "issue_number": n("The issue to find duplicates of"),
                "confidence_threshold": n("The least similarity a candidate needs (GitHub's scale; its default when absent)"),
                "page": page(), "perPage": per_page(),
            })
        },
        required: &["owner", "repo", "issue_number"],
    },
    Spec {
        name: "issue_write",
        toolset: "issues",
        read_only: false,
        title: "Create or update issue/pull request",
        description: "Creates an issue (method 'create', needs a title) or updates one (method 'update', needs \
            issue_number): title, body, state, labels, assignees, milestone, type.",
        properties: || {
            json!({
                "method": e("create or update", &["create", "update"]),
                "owner": owner(), "repo": repo(),
                "issue_number": n("Issue number (for update)"),
                "title": s("Title"), "body": s("Body (Markdown)"),
                "assignees": strings("Logins to assign"), "labels": strings("Label names"),
                "milestone": n("Milestone number"),
                "type": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}], "description": "Issue type name (null clears it)"},
                "state": e("New state", &["open", "closed"]),
                "state_reason": e("Why it was closed", &["completed", "not_planned", "duplicate"]),
                "duplicate_of": n("The issue this one duplicates (with state_reason duplicate)"),
                "issue_fields": {
                    "type": "array",
                    "description": "Custom issue field values to set",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "field_name": s("Field name"),
                            "value": {"type": ["string", "number", "boolean"], "description": "Value to set"},
                            "field_option_name": s("Option of a single-select field"),
                            "delete": b("Clear the field"),
                        },
                        "required": ["field_name"],
                    },
                },
            })
        },
        required: &["method", "owner", "repo"],
    },
    Spec {
        name: "list_issues",
        toolset: "issues",
        read_only: true,
        title: "List issues",
        description: "Lists the issues of a repository (pull requests excluded), open by default; page on with \
            pageInfo.endCursor as 'after'.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "state": e("OPEN or CLOSED (both when absent)", &["OPEN", "CLOSED"]),
                "labels": strings("Only issues with these labels"),
                "orderBy": e("Order by", &["CREATED_AT", "UPDATED_AT", "COMMENTS"]),
                "direction": e("Direction", &["ASC", "DESC"]),
                "since": s("Only issues updated after this time (ISO 8601)"),
                "after": s("Cursor from the previous page's pageInfo.endCursor"),
                "perPage": per_page(),
                "fields": fields(&["number", "title", "body", "state", "user", "labels", "assignees", "comments", "created_at", "updated_at", "field_values"]),
                "field_filters": {
                    "type": "array",
                    "description": "Custom field filters",
                    "items": {"type": "object", "properties": {"field_name": s("Field name"), "value": s("Value")}, "required": ["field_name", "value"]},
                },
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "search_issues",
        toolset: "issues",
        read_only: true,
        title: "Search issues",
        description: "Finds issues with GitHub's search syntax ('is:issue' is added), optionally in one repository.",
        properties: || {
            json!({
                "query": s("Search query"), "owner": s("Only in this owner's repositories"), "repo": s("Only in this repository (with owner)"),
                "sort": e("Sort by", ISSUE_SORT), "order": order(), "page": page(), "perPage": per_page(),
                "fields": fields(&["number", "title", "body", "state", "state_reason", "draft", "locked", "html_url", "user", "author_association", "labels", "assignee", "assignees", "milestone", "comments", "reactions", "created_at", "updated_at", "closed_at", "closed_by", "type", "repository_url", "pull_request", "field_values"]),
            })
        },
        required: &["query"],
    },
    Spec {
        name: "add_issue_comment",
        toolset: "issues",
        read_only: false,
        title: "Add comment to issue or pull request",
        description: "Comments on an issue or pull request, and/or reacts to it (or to one of its comments).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "issue_number": n("Issue or pull request number"),
                "body": {"type": "string", "minLength": 1, "description": "Comment text (Markdown)"},
                "comment_id": {"type": "integer", "minimum": 1, "description": "React to this comment instead of the issue"},
                "reaction": e("Reaction to add", &["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]),
            })
        },
        required: &["owner", "repo", "issue_number"],
    },
    Spec {
        name: "sub_issue_write",
        toolset: "issues",
        read_only: false,
        title: "Change sub-issue",
        description: "Changes an issue's sub-issues by the sub-issue's id (not its number): method 'add' \
            (replace_parent moves it from another parent), 'remove', or 'reprioritize' (after_id or before_id).",
        properties: || {
            json!({
                "method": s("add, remove or reprioritize"),
                "owner": owner(), "repo": repo(), "issue_number": n("The parent issue's number"),
                "sub_issue_id": n("The sub-issue's id (not its number)"),
                "replace_parent": b("Move the sub-issue from its current parent (add)"),
                "after_id": n("Place it after this sub-issue's id (reprioritize)"),
                "before_id": n("Place it before this sub-issue's id (reprioritize)"),
            })
        },
        required: &["method", "owner", "repo", "issue_number", "sub_issue_id"],
    },
    Spec {
        name: "pull_request_read",
        toolset: "pull_requests",
        read_only: true,
        title: "Get details for a single pull request",
        description: "Reads one pull request: method 'get', 'get_diff', 'get_status', 'get_files', 'get_commits', \
            'get_review_comments', 'get_reviews', 'get_comments' or 'get_check_runs'.",
        properties: || {
            json!({
                "method": e("What to read", &["get", "get_diff", "get_status", "get_files", "get_commits", "get_review_comments", "get_reviews", "get_comments", "get_check_runs"]),
                "owner": owner(), "repo": repo(), "pullNumber": n("Pull request number"),
                "page": page(), "perPage": per_page(), "after": s("Cursor for review comments"),
            })
        },
        required: &["method", "owner", "repo", "pullNumber"],
    },
    Spec {
        name: "list_pull_requests",
        toolset: "pull_requests",
        read_only: true,
        title: "List pull requests",
        description: "Lists the pull requests of a repository, open by default.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "state": e("State", &["open", "closed", "all"]),
                "head": s("Only from this head (user:branch)"), "base": s("Only into this base branch"),
                "sort": e("Sort by", &["created", "updated", "popularity", "long-running"]),
                "direction": order(), "page": page(), "perPage": per_page(),
                "fields": fields(&["number", "title", "body", "state", "draft", "merged", "mergeable_state", "html_url", "user", "labels", "assignees", "requested_reviewers", "merged_by", "head", "base", "additions", "deletions", "changed_files", "commits", "comments", "created_at", "updated_at", "closed_at", "merged_at", "milestone"]),
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "create_pull_request",
        toolset: "pull_requests",
        read_only: false,
        title: "Open new pull request",
        description: "Opens a pull request from head into base, optionally as a draft and with reviewers.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "title": s("Title"), "body": s("Description (Markdown)"),
                "head": s("Branch with the changes (user:branch across forks)"), "base": s("Branch to merge into"),
                "draft": b("Open as a draft"), "maintainer_can_modify": b("Let maintainers push to the head branch"),
                "reviewers": strings("Logins to request reviews from"),
            })
        },
        required: &["owner", "repo", "title", "head", "base"],
    },
    Spec {
        name: "search_pull_requests",
        toolset: "pull_requests",
        read_only: true,
        title: "Search pull requests",
        description: "Finds pull requests with GitHub's search syntax ('is:pr' is added), optionally in one repository.",
        properties: || {
            json!({
                "query": s("Search query"), "owner": s("Only in this owner's repositories"), "repo": s("Only in this repository (with owner)"),
                "sort": e("Sort by", ISSUE_SORT), "order": order(), "page": page(), "perPage": per_page(),
                "fields": fields(&["number", "title", "body", "state", "state_reason", "draft", "locked", "html_url", "user", "author_association", "labels", "assignee", "assignees", "milestone", "comments", "reactions", "created_at", "updated_at", "closed_at", "closed_by", "pull_request", "repository_url"]),
            })
        },
        required: &["query"],
    },
    Spec {
        name: "merge_pull_request",
        toolset: "pull_requests",
        read_only: false,
        title: "Merge pull request",
        description: "Merges a pull request (merge, squash or rebase).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "pullNumber": n("Pull request number"),
                "commit_title": s("Title of the merge commit"), "commit_message": s("Message of the merge commit"),
                "merge_method": e("How to merge", &["merge", "squash", "rebase"]),
            })
        },
        required: &["owner", "repo", "pullNumber"],
    },
    Spec {
        name: "update_pull_request",
        toolset: "pull_requests",
        read_only: false,
        title: "Edit pull request",
        description: "Edits a pull request: title, body, state, base branch, maintainer edits, draft or ready, and \
            reviewers to request (logins, or ORG/team-slug for teams).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "pullNumber": n("Pull request number"),
                "title": s("New title"), "body": s("New description"),
                "state": e("New state", &["open", "closed"]), "base": s("New base branch"),
                "draft": b("Draft (true) or ready for review (false)"),
                "maintainer_can_modify": b("Let maintainers push to the head branch"),
                "reviewers": strings("Logins or ORG/team-slug teams to request reviews from"),
            })
        },
        required: &["owner", "repo", "pullNumber"],
    },
    Spec {
        name: "update_pull_request_branch",
        toolset: "pull_requests",
        read_only: false,
        title: "Update pull request branch",
        description: "Merges the base branch into a pull request's head branch (GitHub does it in the background).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "pullNumber": n("Pull request number"),
                "expectedHeadSha": s("The head SHA you expect; the update is refused when the head moved"),
            })
        },
        required: &["owner", "repo", "pullNumber"],
    },
    Spec {
        name: "add_reply_to_pull_request_comment",
        toolset: "pull_requests",
        read_only: false,
        title: "Add reply to pull request comment",
        description: "Replies to a pull request review comment (by its numeric id), reacts to it, or both.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "commentId": {"type": "number", "minimum": 1, "description": "The review comment's numeric id"},
                "pullNumber": n("Pull request number (needed with body)"),
                "body": s("The reply's text"),
                "reaction": e("Reaction to add", &["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]),
            })
        },
        required: &["owner", "repo", "commentId"],
    },
    Spec {
        name: "pull_request_review_write",
        toolset: "pull_requests",
        read_only: false,
        title: "Write operations (create, submit, delete) on pull request reviews",
        description: "Reviews a pull request: 'create' (a pending review, or a submitted one when event is given), \
            'submit_pending' or 'delete_pending' (your pending review), 'resolve_thread' or 'unresolve_thread' \
            (threadId).",
        properties: || {
            json!({
                "method": e("What to do", &["create", "submit_pending", "delete_pending", "resolve_thread", "unresolve_thread"]),
                "owner": owner(), "repo": repo(), "pullNumber": n("Pull request number"),
                "body": s("Review text"),
                "event": e("The review's verdict", &["APPROVE", "REQUEST_CHANGES", "COMMENT"]),
                "commitID": s("SHA of the commit to review"),
                "threadId": s("Review thread node id (PRRT_...) for resolve_thread and unresolve_thread"),
            })
        },
        required: &["method", "owner", "repo", "pullNumber"],
    },
    Spec {
        name: "add_comment_to_pending_review",
        toolset: "pull_requests",
        read_only: false,
        title: "Add review comment to the requester's latest pending pull request review",
        description: "Adds a comment on a file or line of the diff to your pending review of a pull request \
            (create one first with pull_request_review_write).",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(), "pullNumber": n("Pull request number"),
                "path": s("Path of the file, relative to the repository"),
                "body": s("Comment text"),
                "subjectType": e("A comment on the whole file or on lines", &["FILE", "LINE"]),
                "line": n("The (last) line of the diff commented on"),
                "side": e("Side of the diff: LEFT (old) or RIGHT (new)", &["LEFT", "RIGHT"]),
                "startLine": n("First line of a multi-line comment"),
                "startSide": e("Side of startLine", &["LEFT", "RIGHT"]),
            })
        },
        required: &["owner", "repo", "pullNumber", "path", "body", "subjectType"],
    },
    Spec {
        name: "search_users",
        toolset: "users",
        read_only: true,
        title: "Search users",
        description: "Finds users with GitHub's search syntax (e.g. 'location:Berlin language:go').",
        properties: || {
            json!({
                "query": s("Search query"), "sort": e("Sort by", &["followers", "repositories", "joined"]),
                "order": order(), "page": page(), "perPage": per_page(),
            })
        },
        required: &["query"],
    },
    Spec {
        name: "search_orgs",
        toolset: "orgs",
        read_only: true,
        title: "Search organizations",
        description: "Finds organizations with GitHub's search syntax (e.g. 'location:Berlin repos:>10').",
        properties: || {
            json!({
                "query": s("Search query"), "sort": e("Sort by", &["followers", "repositories", "joined"]),
                "order": order(), "page": page(), "perPage": per_page(),
            })
        },
        required: &["query"],
    },
    Spec {
        name: "actions_list",
        toolset: "actions",
        read_only: true,
        title: "List GitHub Actions workflows in a repository",
        description: "Lists GitHub Actions resources of a repository: method 'list_workflows', 'list_workflow_runs' \
            (resource_id: a workflow id or file name, or none for all runs), 'list_workflow_jobs' or \
            'list_workflow_run_artifacts' (resource_id: a run id).",
        properties: || {
            json!({
                "method": e("What to list", &["list_workflows", "list_workflow_runs", "list_workflow_jobs", "list_workflow_run_artifacts"]),
                "owner": owner(), "repo": repo(),
                "resource_id": s("Workflow id or file name (list_workflow_runs), run id (list_workflow_jobs, list_workflow_run_artifacts)"),
                "page": page(),
                "per_page": {"type": "number", "minimum": 1, "maximum": 100, "description": "Results per page (1-100)"},
                "workflow_runs_filter": {
                    "type": "object",
                    "description": "Filters for list_workflow_runs",
                    "properties": {
                        "actor": s("Only runs by this user"),
                        "branch": s("Only runs on this branch"),
                        "event": e("Only runs triggered by this event", &["branch_protection_rule", "check_run", "check_suite", "create", "delete", "deployment", "deployment_status", "discussion", "discussion_comment", "fork", "gollum", "issue_comment", "issues", "label", "merge_group", "milestone", "page_build", "public", "pull_request", "pull_request_review", "pull_request_review_comment", "pull_request_target", "push", "registry_package", "release", "repository_dispatch", "schedule", "status", "watch", "workflow_call", "workflow_dispatch", "workflow_run"]),
                        "status": e("Only runs in this state", &["queued", "in_progress", "completed", "requested", "waiting"]),
                    },
                },
                "workflow_jobs_filter": {
                    "type": "object",
                    "description": "Filters for list_workflow_jobs",
                    "properties": {"filter": e("latest: the latest attempt's jobs; all: every attempt's", &["latest", "all"])},
                },
            })
        },
        required: &["method", "owner", "repo"],
    },
    Spec {
        name: "actions_get",
        toolset: "actions",
        read_only: true,
        title: "Get details of GitHub Actions resources (workflows, workflow runs, jobs, and artifacts)",
        description: "Shows one GitHub Actions resource by id: method 'get_workflow', 'get_workflow_run', \
            'get_workflow_job', 'download_workflow_run_artifact' (its download URL), 'get_workflow_run_usage' or \
            'get_workflow_run_logs_url'.",
        properties: || {
            json!({
                "method": e("What to get", &["get_workflow", "get_workflow_run", "get_workflow_job", "download_workflow_run_artifact", "get_workflow_run_usage", "get_workflow_run_logs_url"]),
                "owner": owner(), "repo": repo(),
                "resource_id": s("Workflow id or file name, run id, job id or artifact id, as the method needs"),
            })
        },
        required: &["method", "owner", "repo", "resource_id"],
    },
    Spec {
        name: "actions_run_trigger",
        toolset: "actions",
        read_only: false,
        title: "Trigger GitHub Actions workflow actions",
        description: "Starts a workflow ('run_workflow' with workflow_id and ref), or acts on a run by run_id: \
            'rerun_workflow_run', 'rerun_failed_jobs', 'cancel_workflow_run', 'delete_workflow_run_logs'.",
        properties: || {
            json!({
                "method": e("What to do", &["run_workflow", "rerun_workflow_run", "rerun_failed_jobs", "cancel_workflow_run", "delete_workflow_run_logs"]),
                "owner": owner(), "repo": repo(),
                "workflow_id": s("Workflow id or file name (run_workflow)"),
                "ref": s("Branch or tag to run on (run_workflow)"),
                "inputs": {"type": "object", "properties": {}, "description": "The workflow's inputs (run_workflow)"},
                "run_id": n("The run (every other method)"),
            })
        },
        required: &["method", "owner", "repo"],
    },
    Spec {
        name: "get_job_logs",
        toolset: "actions",
        read_only: true,
        title: "Get job logs",
        description: "Gets a workflow job's logs (job_id), or those of every failed job of a run (run_id with \
            failed_only): download URLs, or the last tail_lines lines of text with return_content.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "job_id": n("The job (for one job's logs)"),
                "run_id": n("The workflow run (with failed_only)"),
                "failed_only": b("Every failed job of run_id"),
                "return_content": b("The log text instead of download URLs"),
                "tail_lines": {"type": "number", "default": 500, "description": "How many lines from the end of each log"},
            })
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "get_label",
        toolset: "labels",
        read_only: true,
        title: "Get a specific label from a repository",
        description: "Shows one label of a repository: name, color, description.",
        properties: || json!({"owner": owner(), "repo": repo(), "name": s("Label name")}),
        required: &["owner", "repo", "name"],
    },
    Spec {
        name: "list_label",
        toolset: "labels",
        read_only: true,
        title: "List labels from a repository",
        description: "Lists the labels of a repository.",
        properties: || json!({"owner": owner(), "repo": repo()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "label_write",
        toolset: "labels",
        read_only: false,
        title: "Write operations on repository labels",
        description: "Creates (needs color), updates (new_name, color, description) or deletes a label of a repository.",
        properties: || {
            json!({
                "method": e("create, update or delete", &["create", "update", "delete"]),
                "owner": owner(), "repo": repo(), "name": s("The label's name"),
                "new_name": s("New name (update)"), "color": s("Six hex digits without '#' (create; update)"),
                "description": s("Description (create; update)"),
            })
        },
        required: &["method", "owner", "repo", "name"],
    },
    Spec {
        name: "list_notifications",
        toolset: "notifications",
        read_only: true,
        title: "List notifications",
        description: "Lists the authenticated user's notifications, optionally of one repository.",
        properties: || {
            json!({
                "filter": e("Which", &["default", "include_read_notifications", "only_participating"]),
                "since": s("Only those updated after this time (ISO 8601)"),
                "before": s("Only those updated before this time (ISO 8601)"),
                "owner": s("Only this owner's repository (with repo)"), "repo": s("Only this repository (with owner)"),
                "page": page(), "perPage": per_page(),
            })
        },
        required: &[],
    },
    Spec {
        name: "get_notification_details",
        toolset: "notifications",
        read_only: true,
        title: "Get notification details",
        description: "Shows one notification thread of the authenticated user.",
        properties: || json!({"notificationID": s("The notification thread's id")}),
        required: &["notificationID"],
    },
    Spec {
        name: "dismiss_notification",
        toolset: "notifications",
        read_only: false,
        title: "Dismiss notification",
        description: "Marks a notification thread as read, or as done (it leaves the inbox).",
        properties: || json!({"threadID": s("The notification thread's id"), "state": e("read or done", &["read", "done"])}),
        required: &["threadID", "state"],
    },
    Spec {
        name: "mark_all_notifications_read",
        toolset: "notifications",
        read_only: false,
        title: "Mark all notifications as read",
        description: "Marks every notification (or one repository's) as read, up to lastReadAt (now when absent).",
        properties: || {
            json!({
                "lastReadAt": s("Mark those updated up to this time (ISO 8601); now when absent"),
                "owner": s("Only this owner's repository (with repo)"), "repo": s("Only this repository (with owner)"),
            })
        },
        required: &[],
    },
    Spec {
        name: "manage_notification_subscription",
        toolset: "notifications",
        read_only: false,
        title: "Manage notification subscription",
        description: "Ignores, watches, or deletes the subscription to one notification thread.",
        properties: || {
            json!({
                "notificationID": s("The notification thread's id"),
                "action": e("ignore, watch or delete", &["ignore", "watch", "delete"]),
            })
        },
        required: &["notificationID", "action"],
    },
    Spec {
        name: "manage_repository_notification_subscription",
        toolset: "notifications",
        read_only: false,
        title: "Manage repository notification subscription",
        description: "Ignores, watches, or deletes the subscription to a repository's notifications.",
        properties: || {
            json!({
                "owner": owner(), "repo": repo(),
                "action": e("ignore, watch or delete", &["ignore", "watch", "delete"]),
            })
        },
        required: &["owner", "repo", "action"],
    },
];

/// Arguments naming an account or a repository: one URL segment each.
const NAME_ARGS: [&str; 3] = ["owner", "repo", "org"];
/// Arguments that are file paths in a repository or git refs (branch, tag, SHA, `user:branch`):
/// several URL segments where a path or ref is put in the URL.
const PATH_ARGS: [&str; 8] = ["path", "ref", "branch", "from_branch", "tag", "sha", "base", "head"];

/// A tool's arguments, read with clear errors.
struct Args<'a> {
    tool: &'a str,
    map: JsonObject,
}

impl Args<'_> {
    fn bad(&self, message: String) -> Error {
        Error::BadArgument { tool: self.tool.to_owned(), message }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(format!("`{key}` must be a string, not {other}"))),
        }
    }

    fn str(&self, key: &str) -> Result<String> {
        self.opt_str(key)?.filter(|s| !s.is_empty()).ok_or_else(|| self.bad(format!("`{key}` is required")))
    }

    fn opt_num(&self, key: &str) -> Result<Option<u64>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e15 => Ok(Some(f as u64)),
                _ => Err(self.bad(format!("`{key}` must be a whole number, not {n}"))),
            },
            Some(other) => Err(self.bad(format!("`{key}` must be a number, not {other}"))),
        }
    }

    fn num(&self, key: &str) -> Result<u64> {
        self.opt_num(key)?.ok_or_else(|| self.bad(format!("`{key}` is required")))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.bad(format!("`{key}` must be true or false, not {other}"))),
        }
    }

    fn opt_strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| self.bad(format!("`{key}` must list strings"))))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.bad(format!("`{key}` must be a list of strings, not {other}"))),
        }
    }

    /// `page` and `perPage` as a query (GitHub's defaults when absent; perPage 30 at most 100).
    fn paging(&self, query: &mut Query) -> Result<()> {
        if let Some(page) = self.opt_num("page")? {
            query.push("page", page.max(1).to_string());
        }
        if let Some(per_page) = self.opt_num("perPage")? {
            if !(1..=100).contains(&per_page) {
                return Err(self.bad(format!("`perPage` must be between 1 and 100, not {per_page}")));
            }
            query.push("per_page", per_page.to_string());
        }
        Ok(())
    }

    /// Refuses the arguments that land in a request's URL path when a segment of theirs is `.`
    /// or `..` (or empty): `encode` keeps dots and, for paths and refs, slashes, so
    /// `path: "../../collaborators/x"` or `repo: ".."` would otherwise address another endpoint
    /// (and `owner` also picks the account whose token is sent). Git allows none of these in a
    /// file path or a ref, nor GitHub in a login or repository name, so nothing valid is refused.
    /// Checked once for every tool, before anything is sent; the API refuses such a URL too.
    fn check_url_args(&self) -> Result<()> {
        let dotted = |segment: &str| segment.is_empty() || segment == "." || segment == "..";
        for key in NAME_ARGS {
            if let Some(name) = self.opt_str(key)?
                && (name == "." || name == "..")
            {
                return Err(self.bad(format!("`{key}` cannot be `{name}`: it must name an account or a repository")));
            }
        }
        for key in PATH_ARGS {
            let Some(value) = self.opt_str(key)?.filter(|v| !v.is_empty()) else { continue };
            // A leading `/` is dropped where a path is used; a trailing one marks a directory
            // (`get_file_contents`).
            let inner = match key {
                "path" => {
                    let path = value.trim_start_matches('/');
                    path.strip_suffix('/').unwrap_or(path)
                }
                _ => value.as_str(),
            };
            // An empty path is the repository's root.
            let Some(bad) = inner.split('/').find(|s| dotted(s)).filter(|_| !inner.is_empty()) else { continue };
            let bad = if bad.is_empty() { "empty".to_owned() } else { format!("'{bad}'") };
            let what = if key == "path" { "path from the repository root" } else { "ref" };
            return Err(self.bad(format!(
                "`{key}` must not contain {bad} segments ({value:?}): give the {what} itself, without relative parts"
            )));
        }
        Ok(())
    }

    /// `owner/repo`, both required, path-encoded.
    fn repo_path(&self) -> Result<String> {
        Ok(format!("/repos/{}/{}", segment(&self.str("owner")?), segment(&self.str("repo")?)))
    }

    fn method(&self, allowed: &[&str]) -> Result<String> {
        let method = self.str("method")?;
        if allowed.contains(&method.as_str()) {
            Ok(method)
        } else {
            Err(self.bad(format!("unknown method `{method}`: one of {}", allowed.join(", "))))
        }
    }
}

/// A query string, encoded.
#[derive(Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn push(&mut self, key: &str, value: impl Into<String>) {
        self.0.push((key.to_owned(), value.into()));
    }

    fn opt(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.push(key, value);
        }
    }

    fn on(&self, path: &str) -> String {
        if self.0.is_empty() {
            return path.to_owned();
        }
        let query: Vec<String> =
            self.0.iter().map(|(k, v)| format!("{}={}", encode(k, false), encode(v, false))).collect();
        format!("{path}?{}", query.join("&"))
    }
}

/// `text` percent-encoded for a URL; `/` kept when `keep_slash`.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// One path segment, encoded (a `/` in it stays inside the segment).
fn segment(text: &str) -> String {
    encode(text, false)
}

/// Runs tool `name`.
pub(crate) async fn call(inner: &Inner, name: &'static str, arguments: JsonObject) -> Result<CallToolResult> {
    let a = Args { tool: name, map: arguments };
    a.check_url_args()?;
    let api = &inner.api;
    let value = match name {
        "get_me" => me(&api.get("/user").await?.body),
        "get_file_contents" => file_contents(inner, &a).await?,
        "get_teams" => {
            let login = match a.opt_str("user")?.filter(|u| !u.is_empty()) {
                Some(login) => login,
                None => string_at(&api.get("/user").await?.body, "login"),
            };
            let query = "query($login:String!){user(login:$login){organizations(first:100){nodes{login,\
                teams(first:100,userLogins:[$login]){nodes{name,slug,description}}}}}}";
            let data = api.graphql("", query, json!({"login": login})).await?;
            let orgs = data.pointer("/user/organizations/nodes").and_then(Value::as_array).cloned().unwrap_or_default();
            let teams: Vec<Value> = orgs
                .iter()
                .map(|org| {
                    let teams = org.pointer("/teams/nodes").map_or(json!([]), |t| {
                        map_items(t, |team| {
                            let text = |k: &str| json!(team.get(k).and_then(Value::as_str).unwrap_or(""));
                            Map::new()
                                .with("name", text("name"))
                                .with("slug", text("slug"))
                                .with("description", text("description"))
                        })
                    });
                    json!({"org": org.get("login"), "teams": teams})
                })
                .collect();
            Value::Array(teams)
        }
        "get_team_members" => {
            let org = a.str("org")?;
            let query = "query($org:String!,$teamSlug:String!){organization(login:$org){team(slug:$teamSlug){members(first:100){nodes{login}}}}}";
            let data = api.graphql(&org, query, json!({"org": org, "teamSlug": a.str("team_slug")?})).await?;
            let members =
                data.pointer("/organization/team/members/nodes").and_then(Value::as_array).cloned().unwrap_or_default();
            Value::Array(members.iter().filter_map(|m| m.get("login").cloned()).collect())
        }
        "list_branches" => {
            let mut q = Query::default();
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/branches", a.repo_path()?))).await?;
            map_items(&reply.body, |b| pick(b, &["name", "protected"]).with("commit", pick_at(b, "commit", &["sha"])))
        }
        "list_commits" => {
            let mut q = Query::default();
            for key in ["sha", "author", "path", "since", "until"] {
                q.opt(key, a.opt_str(key)?);
            }
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/commits", a.repo_path()?))).await?;
            let commits = map_items(&reply.body, commit);
            only_fields(commits, a.opt_strings("fields")?)
        }
        "get_commit" => {
            let detail = a.opt_str("detail")?.unwrap_or_else(|| "stats".into());
            let mut q = Query::default();
            a.paging(&mut q)?;
            let path = format!("{}/commits/{}", a.repo_path()?, segment(&a.str("sha")?));
            let reply = api.get(&q.on(&path)).await?;
            let mut out = commit(&reply.body);
            if detail != "none" {
                out.insert("stats".into(), reply.body.get("stats").cloned().unwrap_or(Value::Null));
                let mut keys = vec!["filename", "status", "additions", "deletions", "changes"];
                if detail == "full_patch" {
                    keys.push("patch");
                }
                out.insert(
                    "files".into(),
                    map_items(reply.body.get("files").unwrap_or(&Value::Null), |f| pick(f, &keys)),
                );
            }
            Value::Object(out)
        }
        "search_repositories" => {
            let minimal = a.opt_bool("minimal_output")?.unwrap_or(true);
            let reply = search(inner, &a, "/search/repositories", a.str("query")?).await?;
            let reply = reply.body;
            let items = reply.get("items").unwrap_or(&Value::Null);
            let items = if minimal { map_items(items, repository) } else { items.clone() };
            json!({"total_count": reply.get("total_count"), "incomplete_results": reply.get("incomplete_results"), "items": items})
        }
        "search_code" => {
            let reply = search(inner, &a, "/search/code", a.str("query")?).await?.body;
            let items = map_items(reply.get("items").unwrap_or(&Value::Null), |i| {
                pick(i, &["name", "path", "sha", "html_url"])
                    .with("repository", pick_at(i, "repository", &["full_name"]))
            });
            json!({"total_count": reply.get("total_count"), "incomplete_results": reply.get("incomplete_results"), "items": only_fields(items, a.opt_strings("fields")?)})
        }
        "create_or_update_file" => {
            let path = format!("{}/contents/{}", a.repo_path()?, encode(a.str("path")?.trim_start_matches('/'), true));
            let mut body = json!({
                "message": a.str("message")?,
                "content": base64::engine::general_purpose::STANDARD.encode(a.opt_str("content")?.unwrap_or_default()),
                "branch": a.str("branch")?,
            });
            if let Some(sha) = a.opt_str("sha")?.filter(|s| !s.is_empty()) {
                // Only an existing entry (one with a SHA) can be a symlink: as the reference
                // does, refuse to replace one unless asked to, since the model may believe it is
                // writing the file the link points to.
                if !a.opt_bool("allow_symlink_write")?.unwrap_or(false) {
                    refuse_symlink(inner, &a, &path).await?;
                }
                body["sha"] = json!(sha);
            }
            let reply = api.send(Method::PUT, &path, Some(&body)).await?.body;
            json!({
                "content": pick_at(&reply, "content", &["type", "name", "path", "sha", "size", "html_url"]),
                "commit": pick_at(&reply, "commit", &["sha", "message", "html_url"]),
            })
        }
        "push_files" => {
            let mut entries = Vec::new();
            for file in a.map.get("files").and_then(Value::as_array).into_iter().flatten() {
                let (Some(path), Some(content)) =
                    (file.get("path").and_then(Value::as_str), file.get("content").and_then(Value::as_str))
                else {
                    return Err(a.bad("each file must be an object with a `path` and a `content`".into()));
                };
                entries.push(json!({"path": path, "mode": "100644", "type": "blob", "content": content}));
            }
            if entries.is_empty() {
                return Err(a.bad("`files` must list at least one file".into()));
            }
            let (_, reference) = commit_tree(inner, &a, entries, true).await?;
            Value::Object(pick(&reference, &["ref"]).with("object", pick_at(&reference, "object", &["sha", "type"])))
        }
        "delete_file" => {
            let entry =
                json!({"path": a.str("path")?.trim_start_matches('/'), "mode": "100644", "type": "blob", "sha": null});
            let (commit, _) = commit_tree(inner, &a, vec![entry], false).await?;
            json!({"commit": pick(&commit, &["sha", "message", "html_url"]), "content": null})
        }
        "create_branch" => {
            let base = a.repo_path()?;
            let from = match a.opt_str("from_branch")?.filter(|s| !s.is_empty()) {
                Some(from) => from,
                None => string_at(&api.get(&base).await?.body, "default_branch"),
            };
            let reference = api.get(&format!("{base}/git/ref/heads/{}", encode(&from, true))).await?.body;
            let sha = reference.pointer("/object/sha").and_then(Value::as_str).unwrap_or_default().to_owned();
            let body = json!({"ref": format!("refs/heads/{}", a.str("branch")?), "sha": sha});
            let reply = api.send(Method::POST, &format!("{base}/git/refs"), Some(&body)).await?.body;
            Value::Object(pick(&reply, &["ref"]).with("object", pick_at(&reply, "object", &["sha", "type"])))
        }
        "list_tags" => {
            let mut q = Query::default();
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/tags", a.repo_path()?))).await?;
            map_items(&reply.body, |t| pick(t, &["name"]).with("commit", pick_at(t, "commit", &["sha"])))
        }
        "get_latest_release" => {
            let reply = api.get(&format!("{}/releases/latest", a.repo_path()?)).await?.body;
            Value::Object(pick(
                &reply,
                &["id", "tag_name", "name", "body", "draft", "prerelease", "html_url", "created_at", "published_at"],
            ))
        }
        "search_commits" => {
            let reply = search(inner, &a, "/search/commits", a.str("query")?).await?.body;
            let items = map_items(reply.get("items").unwrap_or(&Value::Null), |c| {
                commit(c).with("repository", pick_at(c, "repository", &["full_name", "html_url", "private"]))
            });
            json!({"total_count": reply.get("total_count"), "incomplete_results": reply.get("incomplete_results"), "items": items})
        }
        "get_tag" => {
            let base = a.repo_path()?;
            let reference = api.get(&format!("{base}/git/ref/tags/{}", encode(&a.str("tag")?, true))).await?.body;
            if reference.pointer("/object/type").and_then(Value::as_str) == Some("tag") {
                let sha = reference.pointer("/object/sha").and_then(Value::as_str).unwrap_or_default();
                let tag = api.get(&format!("{base}/git/tags/{}", segment(sha))).await?.body;
                Value::Object(
                    pick(&tag, &["sha", "tag", "message", "url"])
                        .with("tagger", pick_at(&tag, "tagger", &["name", "email", "date"]))
                        .with("object", pick_at(&tag, "object", &["sha", "type"])),
                )
            } else {
                Value::Object(
                    pick(&reference, &["ref", "url"]).with("object", pick_at(&reference, "object", &["sha", "type"])),
                )
            }
        }
        "list_releases" => {
            let mut q = Query::default();
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/releases", a.repo_path()?))).await?.body;
            only_fields(map_items(&reply, release), a.opt_strings("fields")?)
        }
        "get_release_by_tag" => {
            let path = format!("{}/releases/tags/{}", a.repo_path()?, segment(&a.str("tag")?));
            Value::Object(release(&api.get(&path).await?.body))
        }
        "list_issue_types" => {
            let owner = a.str("owner")?;
            let path = match a.opt_str("repo")?.filter(|r| !r.is_empty()) {
                Some(repo) => format!("/repos/{}/{}/issue-types", segment(&owner), segment(&repo)),
                None => format!("/orgs/{}/issue-types", segment(&owner)),
            };
            map_items(&api.get(&path).await?.body, |t| pick(t, &["id", "name", "description", "color", "is_enabled"]))
        }
        "issue_read" => issue_read(inner, &a).await?,
        "issue_write" => issue_write(inner, &a).await?,
        "list_issues" => list_issues(inner, &a).await?,
        "search_issues" | "search_pull_requests" => {
            let kind = if name == "search_issues" { "is:issue" } else { "is:pr" };
            let mut query = a.str("query")?;
            if !query.contains(kind) {
                query = format!("{kind} {query}");
            }
            match (a.opt_str("owner")?.filter(|s| !s.is_empty()), a.opt_str("repo")?.filter(|s| !s.is_empty())) {
                (Some(o), Some(r)) if !query.contains("repo:") => query = format!("repo:{o}/{r} {query}"),
                (Some(o), None) if !query.contains("user:") && !query.contains("org:") => {
                    query = format!("user:{o} {query}")
                }
                _ => {}
            }
            let reply = search(inner, &a, "/search/issues", query).await?.body;
            let mut items = Vec::new();
            for item in reply.get("items").and_then(Value::as_array).into_iter().flatten() {
                let repo = item
                    .get("repository_url")
                    .and_then(Value::as_str)
                    .and_then(|u| u.split("/repos/").nth(1))
                    .unwrap_or("")
                    .to_owned();
                items.push(inner.guard_issue(&repo, issue(item)).await?);
            }
            let items = only_fields(Value::Array(items), a.opt_strings("fields")?);
            json!({"total_count": reply.get("total_count"), "incomplete_results": reply.get("incomplete_results"), "items": items})
        }
        "add_issue_comment" => {
            let base = a.repo_path()?;
            let number = a.num("issue_number")?;
            let body = a.opt_str("body")?.filter(|s| !s.is_empty());
            let reaction = a.opt_str("reaction")?;
            if body.is_none() && reaction.is_none() {
                return Err(a.bad("give `body` to comment, `reaction` to react, or both".into()));
            }
            let mut out = Map::new();
            if let Some(body) = body {
                let path = format!("{base}/issues/{number}/comments");
                let reply = api.send(Method::POST, &path, Some(&json!({"body": body}))).await?.body;
                out = comment(inner, &reply);
            }
            if let Some(reaction) = reaction {
                let path = match a.opt_num("comment_id")? {
                    Some(id) => format!("{base}/issues/comments/{id}/reactions"),
                    None => format!("{base}/issues/{number}/reactions"),
                };
                let reply = api.send(Method::POST, &path, Some(&json!({"content": reaction}))).await?.body;
                out.insert("reaction".into(), Value::Object(pick(&reply, &["id", "content"])));
            }
            Value::Object(out)
        }
        "pull_request_read" => return pull_request_read(inner, &a).await,
        "list_pull_requests" => {
            let mut q = Query::default();
            for key in ["state", "head", "base", "sort", "direction"] {
                q.opt(key, a.opt_str(key)?);
            }
            a.paging(&mut q)?;
            let reply = api.get(&q.on(&format!("{}/pulls", a.repo_path()?))).await?;
            let full = format!("{}/{}", a.str("owner")?, a.str("repo")?);
            let mut items = Vec::new();
            for pr in reply.body.as_array().into_iter().flatten() {
                items.push(inner.guard_issue(&full, pull_request(pr)).await?);
            }
            only_fields(Value::Array(items), a.opt_strings("fields")?)
        }
        "create_pull_request" => {
            let base = a.repo_path()?;
            let mut body = json!({"title": a.str("title")?, "head": a.str("head")?, "base": a.str("base")?});
            if let Some(text) = a.opt_str("body")? {
                body["body"] = json!(text);
            }
            for key in ["draft", "maintainer_can_modify"] {
                if let Some(flag) = a.opt_bool(key)? {
                    body[key] = json!(flag);
                }
            }
            let reply = api.send(Method::POST, &format!("{base}/pulls"), Some(&body)).await?.body;
            if let Some(reviewers) = a.opt_strings("reviewers")?.filter(|r| !r.is_empty()) {
                let number = reply.get("number").and_then(Value::as_u64).unwrap_or(0);
                let path = format!("{base}/pulls/{number}/requested_reviewers");
                api.send(Method::POST, &path, Some(&json!({"reviewers": reviewers}))).await?;
            }
            Value::Object(inner.mark_issue(pull_request(&reply)))
        }
        "sub_issue_write" => sub_issue_write(inner, &a).await?,
        "update_pull_request" => update_pull_request(inner, &a).await?,
        "update_pull_request_branch" => {
            let path = format!("{}/pulls/{}/update-branch", a.repo_path()?, a.num("pullNumber")?);
            let mut body = json!({});
            if let Some(sha) = a.opt_str("expectedHeadSha")?.filter(|s| !s.is_empty()) {
                body["expected_head_sha"] = json!(sha);
            }
            let reply = api.send(Method::PUT, &path, Some(&body)).await?;
            if reply.status.as_u16() == 202 {
                json!("Pull request branch update is in progress")
            } else {
                Value::Object(pick(&reply.body, &["message", "url"]))
            }
        }
        "add_reply_to_pull_request_comment" => {
            let base = a.repo_path()?;
            let id = a.num("commentId")?;
            if id == 0 {
                return Err(a.bad("`commentId` must be greater than 0".into()));
            }
            let body = a.opt_str("body")?.filter(|b| !b.is_empty());
            let reaction = a.opt_str("reaction")?.filter(|r| !r.is_empty());
            let mut out = Map::new();
            if let Some(reaction) = &reaction {
                let path = format!("{base}/pulls/comments/{id}/reactions");
                let reply = api.send(Method::POST, &path, Some(&json!({"content": reaction}))).await?.body;
                let reaction_id = reply.get("id").and_then(Value::as_u64).unwrap_or(0);
                let url = format!("{}/pulls/comments/{id}/reactions/{reaction_id}", base.trim_start_matches('/'));
                out.insert("reaction".into(), json!({"id": reaction_id.to_string(), "url": url}));
            }
            match (body, reaction.is_some()) {
                (Some(body), _) => {
                    let number =
                        a.opt_num("pullNumber")?.ok_or_else(|| a.bad("`pullNumber` is required with `body`".into()))?;
                    let path = format!("{base}/pulls/{number}/comments/{id}/replies");
                    let reply = api.send(Method::POST, &path, Some(&json!({"body": body}))).await?.body;
                    let comment = json!({"id": reply.get("id").and_then(Value::as_u64).unwrap_or(0).to_string(), "url": reply.get("html_url")});
                    if out.is_empty() {
                        comment
                    } else {
                        out.insert("comment".into(), comment);
                        Value::Object(out)
                    }
                }
                (None, true) => out.remove("reaction").unwrap_or(Value::Null),
                (None, false) => return Err(a.bad("give `body` to reply, `reaction` to react, or both".into())),
            }
        }
        "label_write" => {
            let base = format!("{}/labels", a.repo_path()?);
            let name = a.str("name")?;
            let method = a.method(&["create", "update", "delete"])?;
            match method.as_str() {
                "create" => {
                    let color = a.opt_str("color")?.filter(|c| !c.is_empty());
                    let color = color.ok_or_else(|| a.bad("`color` is required for create".into()))?;
                    let mut body = json!({"name": name, "color": color.trim_start_matches('#')});
                    if let Some(text) = a.opt_str("description")? {
                        body["description"] = json!(text);
                    }
                    let reply = api.send(Method::POST, &base, Some(&body)).await?.body;
                    json!(format!("label '{}' created successfully", string_at(&reply, "name")))
                }
                "update" => {
                    let mut body = Map::new();
                    if let Some(v) = a.opt_str("new_name")?.filter(|v| !v.is_empty()) {
                        body.insert("new_name".into(), json!(v));
                    }
                    if let Some(v) = a.opt_str("color")?.filter(|v| !v.is_empty()) {
                        body.insert("color".into(), json!(v.trim_start_matches('#')));
                    }
                    if let Some(v) = a.opt_str("description")? {
                        body.insert("description".into(), json!(v));
                    }
                    if body.is_empty() {
                        return Err(
                            a.bad("at least one of new_name, color or description is required for update".into())
                        );
                    }
                    let path = format!("{base}/{}", segment(&name));
                    let reply = api.send(Method::PATCH, &path, Some(&Value::Object(body))).await?.body;
                    json!(format!("label '{}' updated successfully", string_at(&reply, "name")))
                }
                _ => {
                    api.send(Method::DELETE, &format!("{base}/{}", segment(&name)), None).await?;
                    json!(format!("label '{name}' deleted successfully"))
                }
            }
        }
        "pull_request_review_write" => review_write(inner, &a).await?,
        "add_comment_to_pending_review" => add_comment_to_pending_review(inner, &a).await?,
        "merge_pull_request" => {
            let path = format!("{}/pulls/{}/merge", a.repo_path()?, a.num("pullNumber")?);
            let mut body = Map::new();
            for key in ["commit_title", "commit_message", "merge_method"] {
                if let Some(v) = a.opt_str(key)? {
                    body.insert(key.into(), json!(v));
                }
            }
            let reply = api.send(Method::PUT, &path, Some(&Value::Object(body))).await?.body;
            Value::Object(pick(&reply, &["sha", "merged", "message"]))
        }
        "get_file_blame" => repository::blame(inner, &a).await?,
        "create_repository" => repository::create(inner, &a).await?,
        "fork_repository" => repository::fork(inner, &a).await?,
        "list_repository_collaborators" => repository::collaborators(inner, &a).await?,
        "list_issue_fields" => issue_links::fields(inner, &a).await?,
        "issue_dependency_read" => issue_links::dependencies(inner, &a).await?,
        "issue_dependency_write" => issue_links::depend(inner, &a).await?,
        "find_duplicate" => issue_links::duplicates(inner, &a).await?,
        other if granular::SPECS.iter().any(|s| s.name == other) => granular::call(inner, other, &a).await?,
        other if copilot::SPECS.iter().any(|s| s.name == other) => copilot::call(inner, other, &a).await?,
        other if discussions::SPECS.iter().any(|s| s.name == other) => discussions::call(inner, other, &a).await?,
        other if security::SPECS.iter().any(|s| s.name == other) => security::call(inner, other, &a).await?,
        other if projects::SPECS.iter().any(|s| s.name == other) => projects::call(inner, other, &a).await?,
        other if git_gists_stars::SPECS.iter().any(|s| s.name == other) => {
            git_gists_stars::call(inner, other, &a).await?
        }
        "search_users" | "search_orgs" => {
            let mut query = a.str("query")?;
            if !query.contains("type:") {
                query = format!("type:{} {query}", if name == "search_orgs" { "org" } else { "user" });
            }
            let reply = search(inner, &a, "/search/users", query).await?.body;
            let items = map_items(reply.get("items").unwrap_or(&Value::Null), user);
            json!({"total_count": reply.get("total_count"), "incomplete_results": reply.get("incomplete_results"), "items": items})
        }
        "actions_list" => actions_list(inner, &a).await?,
        "actions_get" => actions_get(inner, &a).await?,
        "actions_run_trigger" => actions_run_trigger(inner, &a).await?,
        "get_job_logs" => job_logs(inner, &a).await?,
        "get_label" => {
            let path = format!("{}/labels/{}", a.repo_path()?, segment(&a.str("name")?));
            Value::Object(label(&api.get(&path).await?.body))
        }
        "list_label" => {
            let reply = api.get(&format!("{}/labels?per_page=100", a.repo_path()?)).await?.body;
            let labels = map_items(&reply, label);
            let count = labels.as_array().map_or(0, Vec::len);
            json!({"labels": labels, "totalCount": count})
        }
        "list_notifications" => {
            let mut q = Query::default();
            match a.opt_str("filter")?.as_deref() {
                Some("include_read_notifications") => q.push("all", "true"),
                Some("only_participating") => q.push("participating", "true"),
                _ => {}
            }
            q.opt("since", a.opt_str("since")?);
            q.opt("before", a.opt_str("before")?);
            a.paging(&mut q)?;
            let path =
                match (a.opt_str("owner")?.filter(|s| !s.is_empty()), a.opt_str("repo")?.filter(|s| !s.is_empty())) {
                    (Some(o), Some(r)) => format!("/repos/{}/{}/notifications", segment(&o), segment(&r)),
                    _ => "/notifications".to_owned(),
                };
            map_items(&api.get(&q.on(&path)).await?.body, notification)
        }
        "get_notification_details" => {
            let path = format!("/notifications/threads/{}", segment(&a.str("notificationID")?));
            Value::Object(notification(&api.get(&path).await?.body))
        }
        "dismiss_notification" => {
            let path = format!("/notifications/threads/{}", segment(&a.str("threadID")?));
            let state = a.str("state")?;
            let verb = match state.as_str() {
                "read" => Method::PATCH,
                "done" => Method::DELETE,
                other => return Err(a.bad(format!("`state` must be read or done, not {other:?}"))),
            };
            api.send(verb, &path, None).await?;
            json!(format!("Notification marked as {state}"))
        }
        "mark_all_notifications_read" => {
            let mut body = json!({});
            if let Some(at) = a.opt_str("lastReadAt")?.filter(|t| !t.is_empty()) {
                let at = iso_time(&at)
                    .ok_or_else(|| a.bad(format!("`lastReadAt` {at:?} is not an ISO 8601 time (RFC 3339)")))?;
                body["last_read_at"] = json!(at);
            }
            let path =
                match (a.opt_str("owner")?.filter(|s| !s.is_empty()), a.opt_str("repo")?.filter(|s| !s.is_empty())) {
                    (Some(o), Some(r)) => format!("/repos/{}/{}/notifications", segment(&o), segment(&r)),
                    _ => "/notifications".to_owned(),
                };
            api.send(Method::PUT, &path, Some(&body)).await?;
            json!("All notifications marked as read")
        }
        "manage_notification_subscription" | "manage_repository_notification_subscription" => {
            let (path, gone) = if name == "manage_notification_subscription" {
                let id = segment(&a.str("notificationID")?);
                (format!("/notifications/threads/{id}/subscription"), "Notification subscription deleted")
            } else {
                (format!("{}/subscription", a.repo_path()?), "Repository subscription deleted")
            };
            let body = match a.str("action")?.as_str() {
                "ignore" => json!({"ignored": true}),
                "watch" => json!({"ignored": false, "subscribed": true}),
                "delete" => {
                    api.send(Method::DELETE, &path, None).await?;
                    return Ok(inner.finish(json!(gone)));
                }
                _ => return Err(a.bad("Invalid action. Must be one of: ignore, watch, delete.".into())),
            };
            let reply = api.send(Method::PUT, &path, Some(&body)).await?.body;
            Value::Object(pick(
                &reply,
                &["subscribed", "ignored", "reason", "created_at", "url", "thread_url", "repository_url"],
            ))
        }
        other => return Err(Error::Config(format!("the native server has no tool `{other}`"))),
    };
    Ok(inner.finish(value))
}

/// A search with the usual `sort`, `order`, `page` and `perPage`.
async fn search(inner: &Inner, a: &Args<'_>, path: &str, query: String) -> Result<Reply> {
    let mut q = Query::default();
    q.push("q", query);
    q.opt("sort", a.opt_str("sort")?);
    q.opt("order", a.opt_str("order")?);
    a.paging(&mut q)?;
    inner.api.get(&q.on(path)).await
}

/// What keeps an item's essential fields.
type Shape = fn(&Value) -> Map<String, Value>;

fn workflow(w: &Value) -> Map<String, Value> {
    pick(w, &["id", "name", "path", "state", "html_url", "created_at", "updated_at"])
}

fn workflow_run(r: &Value) -> Map<String, Value> {
    pick(
        r,
        &[
            "id",
            "name",
            "display_title",
            "run_number",
            "run_attempt",
            "event",
            "status",
            "conclusion",
            "head_branch",
            "head_sha",
            "workflow_id",
            "html_url",
            "created_at",
            "updated_at",
        ],
    )
    .with("actor", pick_at(r, "actor", &["login"]))
}

fn job(j: &Value) -> Map<String, Value> {
    pick(j, &["id", "run_id", "name", "status", "conclusion", "html_url", "started_at", "completed_at"]).with(
        "steps",
        map_items(j.get("steps").unwrap_or(&Value::Null), |s| pick(s, &["number", "name", "status", "conclusion"])),
    )
}

fn artifact(x: &Value) -> Map<String, Value> {
    pick(x, &["id", "name", "size_in_bytes", "expired", "archive_download_url", "created_at", "expires_at"])
}

/// `resource_id`, required for `method`.
fn resource(a: &Args<'_>, method: &str) -> Result<String> {
    a.opt_str("resource_id")?
        .filter(|s| !s.is_empty())
        .map(|s| segment(&s))
        .ok_or_else(|| a.bad(format!("`resource_id` is required for method `{method}`")))
}

async fn actions_list(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method =
        a.method(&["list_workflows", "list_workflow_runs", "list_workflow_jobs", "list_workflow_run_artifacts"])?;
    let base = format!("{}/actions", a.repo_path()?);
    let mut q = Query::default();
    if let Some(page) = a.opt_num("page")? {
        q.push("page", page.max(1).to_string());
    }
    if let Some(per_page) = a.opt_num("per_page")? {
        if !(1..=100).contains(&per_page) {
            return Err(a.bad(format!("`per_page` must be between 1 and 100, not {per_page}")));
        }
        q.push("per_page", per_page.to_string());
    }
    let (path, key, shape): (String, &str, Shape) = match method.as_str() {
        "list_workflows" => (format!("{base}/workflows"), "workflows", workflow),
        "list_workflow_runs" => {
            if let Some(filter) = a.map.get("workflow_runs_filter").and_then(Value::as_object) {
                for key in ["actor", "branch", "event", "status"] {
                    q.opt(key, filter.get(key).and_then(Value::as_str).map(str::to_owned));
                }
            }
            let path = match a.opt_str("resource_id")?.filter(|s| !s.is_empty()) {
                Some(id) => format!("{base}/workflows/{}/runs", segment(&id)),
                None => format!("{base}/runs"),
            };
            (path, "workflow_runs", workflow_run)
        }
        "list_workflow_jobs" => {
            let filter = a.map.get("workflow_jobs_filter").and_then(|f| f.get("filter")).and_then(Value::as_str);
            q.opt("filter", filter.map(str::to_owned));
            (format!("{base}/runs/{}/jobs", resource(a, &method)?), "jobs", job)
        }
        _ => (format!("{base}/runs/{}/artifacts", resource(a, &method)?), "artifacts", artifact),
    };
    let reply = inner.api.get(&q.on(&path)).await?.body;
    Ok(json!({"total_count": reply.get("total_count"), key: map_items(reply.get(key).unwrap_or(&Value::Null), shape)}))
}

async fn actions_get(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let methods = [
        "get_workflow",
        "get_workflow_run",
        "get_workflow_job",
        "download_workflow_run_artifact",
        "get_workflow_run_usage",
        "get_workflow_run_logs_url",
    ];
    let method = a.method(&methods)?;
    let base = format!("{}/actions", a.repo_path()?);
    let id = resource(a, &method)?;
    let api = &inner.api;
    Ok(match method.as_str() {
        "get_workflow" => Value::Object(workflow(&api.get(&format!("{base}/workflows/{id}")).await?.body)),
        "get_workflow_run" => Value::Object(workflow_run(&api.get(&format!("{base}/runs/{id}")).await?.body)),
        "get_workflow_job" => Value::Object(job(&api.get(&format!("{base}/jobs/{id}")).await?.body)),
        "download_workflow_run_artifact" => {
            let found = api.get(&format!("{base}/artifacts/{id}")).await?.body;
            let mut out = artifact(&found);
            out.insert("message".into(), json!("Download the artifact from archive_download_url with the same token"));
            Value::Object(out)
        }
        "get_workflow_run_usage" => api.get(&format!("{base}/runs/{id}/timing")).await?.body,
        _ => {
            let url = api.location(&format!("{base}/runs/{id}/logs")).await?;
            json!({"run_id": id, "logs_url": url, "message": "The logs archive (zip) can be downloaded from logs_url for a short time"})
        }
    })
}

/// Refuses to write `contents_path` (`/repos/O/R/contents/PATH`) when the entry there on the
/// target branch is a symlink. GitHub answers for a symlink to a file with that file (its own
/// `path`), so an answer for another path counts as a symlink too.
async fn refuse_symlink(inner: &Inner, a: &Args<'_>, contents_path: &str) -> Result<()> {
    let mut q = Query::default();
    q.push("ref", a.str("branch")?);
    let entry = match inner.api.get(&q.on(contents_path)).await {
        Ok(reply) => reply.body,
        // Nothing there yet: GitHub will say what is wrong with the SHA.
        Err(Error::Api { status: 404, .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let wanted = a.str("path")?;
    let wanted = wanted.trim_matches('/');
    let symlink = match &entry {
        Value::Object(_) => {
            entry.get("type").and_then(Value::as_str) == Some("symlink")
                || entry.get("path").and_then(Value::as_str).is_some_and(|p| p != wanted)
        }
        _ => false,
    };
    if symlink {
        return Err(a.bad(format!(
            "`{wanted}` is a symbolic link on that branch; set allow_symlink_write to replace the link itself"
        )));
    }
    Ok(())
}

/// `get_job_logs`: one job's logs, or every failed job's of a run, as download URLs or as the
/// logs' last lines (fetched from where GitHub redirects, without the token).
async fn job_logs(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let base = format!("{}/actions", a.repo_path()?);
    let content = a.opt_bool("return_content")?.unwrap_or(false);
    let tail = a.opt_num("tail_lines")?.filter(|t| *t > 0).unwrap_or(500) as usize;
    let one = |id: u64, name: Option<String>| {
        let path = format!("{base}/jobs/{id}/logs");
        async move {
            let url = inner.api.location(&path).await?;
            let mut out = json!({"job_id": id});
            if let Some(name) = name {
                out["job_name"] = json!(name);
            }
            if content {
                let log = inner.api.download_tail(&url, tail).await?;
                out["logs_content"] = json!(log.lines.join("\n"));
                out["message"] = json!("Job logs content retrieved successfully");
                out["original_length"] = json!(log.total_lines);
            } else {
                out["logs_url"] = json!(url);
                out["message"] = json!("Job logs are available for download");
                out["note"] = json!(
                    "logs_url serves the job's log as plain text for a short time; return_content=true gives the text itself"
                );
            }
            Ok::<Value, Error>(out)
        }
    };
    if a.opt_bool("failed_only")?.unwrap_or(false) {
        let run = a.opt_num("run_id")?.ok_or_else(|| a.bad("`run_id` is required with failed_only".into()))?;
        let jobs = inner.api.get(&format!("{base}/runs/{run}/jobs?filter=latest")).await?.body;
        let all = jobs.get("jobs").and_then(Value::as_array).cloned().unwrap_or_default();
        let failed: Vec<&Value> =
            all.iter().filter(|j| j.get("conclusion").and_then(Value::as_str) == Some("failure")).collect();
        if failed.is_empty() {
            return Ok(
                json!({"message": "No failed jobs found in this workflow run", "run_id": run, "total_jobs": all.len(), "failed_jobs": 0}),
            );
        }
        let mut logs = Vec::new();
        for job in &failed {
            let id = job.get("id").and_then(Value::as_u64).unwrap_or(0);
            let name = job.get("name").and_then(Value::as_str).map(str::to_owned);
            logs.push(match one(id, name.clone()).await {
                Ok(found) => found,
                Err(e) => json!({"job_id": id, "job_name": name, "error": inner.api.mask(e.to_string())}),
            });
        }
        return Ok(json!({
            "message": format!("Retrieved logs for {} failed jobs", failed.len()),
            "run_id": run, "total_jobs": all.len(), "failed_jobs": failed.len(), "logs": logs,
            "return_format": {"content": content, "urls": !content},
        }));
    }
    let job = a.opt_num("job_id")?.ok_or_else(|| a.bad("`job_id` is required (or run_id with failed_only)".into()))?;
    one(job, None).await
}

async fn actions_run_trigger(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let methods =
        ["run_workflow", "rerun_workflow_run", "rerun_failed_jobs", "cancel_workflow_run", "delete_workflow_run_logs"];
    let method = a.method(&methods)?;
    let base = format!("{}/actions", a.repo_path()?);
    let api = &inner.api;
    if method == "run_workflow" {
        let workflow = a.opt_str("workflow_id")?.filter(|s| !s.is_empty());
        let workflow = workflow.ok_or_else(|| a.bad("`workflow_id` is required for run_workflow".into()))?;
        let reference = a.opt_str("ref")?.filter(|s| !s.is_empty());
        let reference = reference.ok_or_else(|| a.bad("`ref` is required for run_workflow".into()))?;
        let mut body = json!({"ref": reference});
        if let Some(inputs) = a.map.get("inputs").filter(|i| i.is_object()) {
            body["inputs"] = inputs.clone();
        }
        let path = format!("{base}/workflows/{}/dispatches", segment(&workflow));
        api.send(Method::POST, &path, Some(&body)).await?;
        return Ok(json!({"message": "Workflow run has been queued", "workflow_id": workflow, "ref": reference}));
    }
    let run = a.opt_num("run_id")?.ok_or_else(|| a.bad(format!("`run_id` is required for {method}")))?;
    let (verb, path, done) = match method.as_str() {
        "rerun_workflow_run" => {
            (Method::POST, format!("{base}/runs/{run}/rerun"), "Workflow run has been queued for re-run")
        }
        "rerun_failed_jobs" => {
            (Method::POST, format!("{base}/runs/{run}/rerun-failed-jobs"), "Failed jobs have been queued for re-run")
        }
        "cancel_workflow_run" => (Method::POST, format!("{base}/runs/{run}/cancel"), "Workflow run has been cancelled"),
        _ => (Method::DELETE, format!("{base}/runs/{run}/logs"), "Workflow run logs have been deleted"),
    };
    api.send(verb, &path, None).await?;
    Ok(json!({"message": done, "run_id": run}))
}

async fn file_contents(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let path = a.opt_str("path")?.unwrap_or_else(|| "/".into());
    let mut q = Query::default();
    q.opt("ref", a.opt_str("sha")?.filter(|s| !s.is_empty()).or(a.opt_str("ref")?));
    let url = format!("{}/contents/{}", a.repo_path()?, encode(path.trim_matches('/'), true));
    let reply = inner.api.get(&q.on(&url)).await?.body;
    if reply.is_array() {
        let default = ["type", "name", "path", "size", "sha"].map(str::to_owned).to_vec();
        let keys = a.opt_strings("fields")?.filter(|f| !f.is_empty()).unwrap_or(default);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        return Ok(map_items(&reply, |entry| pick(entry, &keys)));
    }
    if let Value::String(text) = &reply {
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        return Ok(json!({"type": "file", "name": name, "path": path.trim_matches('/'), "content": text}));
    }
    let mut out = pick(&reply, &["type", "name", "path", "size", "sha", "html_url"]);
    let size = reply.get("size").and_then(Value::as_u64).unwrap_or(0);
    let encoded = string_at(&reply, "content").replace(['\n', '\r'], "");
    // Files over 1 MB come without their content (`"encoding": "none"`): read raw, as the
    // reference does, within the byte cap.
    if string_at(&reply, "type") == "file"
        && (string_at(&reply, "encoding") == "none" || encoded.is_empty() && size > 0)
    {
        let cap = inner.max_response_bytes;
        let too_large = |size: String| {
            let link = string_at(&reply, "download_url");
            // A private repository's download URL carries a short-lived token in its query.
            let link = link.split('?').next().unwrap_or("");
            let from = if link.is_empty() { String::new() } else { format!(" (its download URL: {link})") };
            Error::Precondition(format!(
                "{} is {size} bytes, over this server's {cap}-byte limit for one result, so its content is not \
                 shown{from}; read it from a clone of the repository",
                path.trim_matches('/')
            ))
        };
        if size > cap as u64 {
            return Err(too_large(size.to_string()));
        }
        let raw = inner.api.get_text(&q.on(&url), "application/vnd.github.raw", cap, cap).await?;
        if !raw.complete {
            return Err(too_large(format!("more than {cap}")));
        }
        match String::from_utf8(raw.bytes) {
            Ok(text) => out.insert("content".into(), json!(text)),
            Err(bytes) => {
                out.insert("encoding".into(), json!("base64"));
                out.insert(
                    "content".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes())),
                )
            }
        };
        return Ok(Value::Object(out));
    }
    if string_at(&reply, "encoding") == "base64" {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()).unwrap_or_default();
        match String::from_utf8(bytes) {
            Ok(text) => out.insert("content".into(), json!(text)),
            Err(_) => {
                out.insert("encoding".into(), json!("base64"));
                out.insert("content".into(), json!(encoded))
            }
        };
    } else if let Some(content) = reply.get("content") {
        out.insert("content".into(), content.clone());
    }
    Ok(Value::Object(out))
}

async fn issue_read(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method = a.method(&["get", "get_comments", "get_sub_issues", "get_parent", "get_labels"])?;
    let base = format!("{}/issues/{}", a.repo_path()?, a.num("issue_number")?);
    let full = format!("{}/{}", a.str("owner")?, a.str("repo")?);
    let mut q = Query::default();
    a.paging(&mut q)?;
    let api = &inner.api;
    Ok(match method.as_str() {
        "get" => {
            let reply = api.get(&base).await?.body;
            inner.refuse_untrusted(&full, &reply).await?;
            Value::Object(inner.mark_issue(issue(&reply)))
        }
        "get_comments" => {
            let reply = api.get(&q.on(&format!("{base}/comments"))).await?.body;
            let mut comments = Vec::new();
            for c in reply.as_array().into_iter().flatten() {
                if inner.trusted(&full, c).await? {
                    comments.push(Value::Object(comment(inner, c)));
                }
            }
            Value::Array(comments)
        }
        "get_sub_issues" => {
            let reply = api.get(&q.on(&format!("{base}/sub_issues"))).await?.body;
            let mut items = Vec::new();
            for i in reply.as_array().into_iter().flatten() {
                items.push(inner.guard_issue(&full, issue(i)).await?);
            }
            Value::Array(items)
        }
        "get_parent" => {
            let reply = api.get(&format!("{base}/parent")).await?.body;
            inner.guard_issue(&full, issue(&reply)).await?
        }
        _ => map_items(&api.get(&q.on(&format!("{base}/labels"))).await?.body, label),
    })
}

async fn issue_write(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method = a.method(&["create", "update"])?;
    let base = a.repo_path()?;
    let mut body = Map::new();
    for key in ["title", "body", "state", "state_reason"] {
        if let Some(v) = a.opt_str(key)? {
            body.insert(key.into(), json!(v));
        }
    }
    for key in ["assignees", "labels"] {
        if let Some(v) = a.opt_strings(key)? {
            body.insert(key.into(), json!(v));
        }
    }
    if let Some(m) = a.opt_num("milestone")? {
        body.insert("milestone".into(), json!(m));
    }
    if let Some(t) = a.map.get("type") {
        body.insert("type".into(), t.clone());
    }
    let reply = if method == "create" {
        if !body.contains_key("title") {
            return Err(a.bad("`title` is required to create an issue".into()));
        }
        inner.api.send(Method::POST, &format!("{base}/issues"), Some(&Value::Object(body))).await?
    } else {
        let number = a.opt_num("issue_number")?.ok_or_else(|| a.bad("`issue_number` is required to update".into()))?;
        if let Some(dup) = a.opt_num("duplicate_of")? {
            body.entry("state").or_insert(json!("closed"));
            body.insert("state_reason".into(), json!("duplicate"));
            let note = json!({"body": format!("Duplicate of #{dup}")});
            inner.api.send(Method::POST, &format!("{base}/issues/{number}/comments"), Some(&note)).await?;
        }
        inner.api.send(Method::PATCH, &format!("{base}/issues/{number}"), Some(&Value::Object(body))).await?
    };
    Ok(Value::Object(inner.mark_issue(issue(&reply.body))))
}

/// The issue fields `list_issues` asks GraphQL for, as the Go server does.
const ISSUE_NODE: &str = "number,title,body,state,databaseId,author{login},createdAt,updatedAt,\
    labels(first:100){nodes{name,id,description}},assignees(first:100){nodes{login}},comments{totalCount}";

/// `YYYY-MM-DD` or an RFC 3339 time as a GraphQL DateTime, or `None` when it is neither.
fn iso_time(text: &str) -> Option<String> {
    let t = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date_ok = |d: &str| {
        let p: Vec<&str> = d.split('-').collect();
        p.len() == 3 && p[0].len() == 4 && p[1].len() == 2 && p[2].len() == 2 && p.iter().all(|x| digits(x))
    };
    match t.split_once('T') {
        None if date_ok(t) => Some(format!("{t}T00:00:00Z")),
        Some((date, time)) if date_ok(date) => {
            let zone_ok =
                time.ends_with('Z') || time.len() > 6 && matches!(time.as_bytes()[time.len() - 6], b'+' | b'-');
            let clock = time.get(..8).unwrap_or("");
            let c: Vec<&str> = clock.split(':').collect();
            (zone_ok && c.len() == 3 && c.iter().all(|x| x.len() == 2 && digits(x))).then(|| t.to_owned())
        }
        _ => None,
    }
}

/// `list_issues` over GraphQL, as github-mcp-server lists issues: states, labels (any of),
/// order, `since` and cursor pages; the items in its minimal shape.
async fn list_issues(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let owner = a.str("owner")?;
    let repo = a.str("repo")?;
    if a.map.contains_key("page") {
        return Err(a.bad(
            "this tool uses cursor-based pagination: pass the previous answer's pageInfo.endCursor as `after`, not \
             `page`"
                .into(),
        ));
    }
    if a.map.get("field_filters").is_some_and(|f| f.as_array().is_some_and(|l| !l.is_empty())) {
        return Err(a.bad("`field_filters` (custom issue fields) are not supported by this server".into()));
    }
    let states = match a.opt_str("state")?.map(|s| s.to_ascii_uppercase()).as_deref() {
        Some(state @ ("OPEN" | "CLOSED")) => json!([state]),
        _ => json!(["OPEN", "CLOSED"]),
    };
    let order_by = match a.opt_str("orderBy")?.map(|s| s.to_ascii_uppercase()) {
        Some(o) if ["CREATED_AT", "UPDATED_AT", "COMMENTS"].contains(&o.as_str()) => o,
        _ => "CREATED_AT".into(),
    };
    let direction = match a.opt_str("direction")?.map(|s| s.to_ascii_uppercase()) {
        Some(d) if d == "ASC" || d == "DESC" => d,
        _ => "DESC".into(),
    };
    let per_page = a.opt_num("perPage")?.unwrap_or(30);
    if !(1..=100).contains(&per_page) {
        return Err(a.bad(format!("`perPage` must be between 1 and 100, not {per_page}")));
    }
    let labels = a.opt_strings("labels")?.filter(|l| !l.is_empty());
    let since = match a.opt_str("since")?.filter(|s| !s.is_empty()) {
        Some(text) => Some(iso_time(&text).ok_or_else(|| {
            a.bad(format!("`since` {text:?} is not an ISO 8601 time (YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD)"))
        })?),
        None => None,
    };
    let mut variables = json!({
        "owner": owner, "repo": repo, "states": states, "orderBy": order_by, "direction": direction,
        "first": per_page, "after": a.opt_str("after")?.filter(|s| !s.is_empty()),
    });
    let mut declared = String::from(
        "$owner:String!,$repo:String!,$states:[IssueState!]!,$orderBy:IssueOrderField!,\
         $direction:OrderDirection!,$first:Int!,$after:String",
    );
    let mut arguments = String::from("first:$first,after:$after");
    if let Some(labels) = labels {
        declared.push_str(",$labels:[String!]");
        arguments.push_str(",labels:$labels");
        variables["labels"] = json!(labels);
    }
    arguments.push_str(",states:$states,orderBy:{field:$orderBy,direction:$direction}");
    if let Some(since) = since {
        declared.push_str(",$since:DateTime");
        arguments.push_str(",filterBy:{since:$since}");
        variables["since"] = json!(since);
    }
    let query = format!(
        "query({declared}){{repository(owner:$owner,name:$repo){{isPrivate,issues({arguments}){{nodes{{{ISSUE_NODE}}},\
         pageInfo{{hasNextPage,hasPreviousPage,startCursor,endCursor}},totalCount}}}}}}"
    );
    let data = inner.api.graphql(&owner, &query, variables).await?;
    let repository = data.get("repository").filter(|r| r.is_object()).ok_or_else(|| Error::Graphql {
        message: format!("Could not resolve to a Repository with the name '{owner}/{repo}'."),
    })?;
    let full = format!("{owner}/{repo}");
    if let (Some(private), Ok(mut known)) = (repository.get("isPrivate").and_then(Value::as_bool), inner.private.lock())
    {
        known.insert(full.clone(), private);
    }
    let connection = repository.get("issues").unwrap_or(&Value::Null);
    let mut issues = Vec::new();
    for node in connection.pointer("/nodes").and_then(Value::as_array).into_iter().flatten() {
        issues.push(inner.guard_issue(&full, minimal_issue(node)).await?);
    }
    let issues = only_fields(Value::Array(issues), a.opt_strings("fields")?);
    let info = connection.get("pageInfo").unwrap_or(&Value::Null);
    let mut page_info = Map::new();
    for key in ["hasNextPage", "hasPreviousPage"] {
        page_info.insert(key.into(), json!(info.get(key).and_then(Value::as_bool).unwrap_or(false)));
    }
    for key in ["startCursor", "endCursor"] {
        if let Some(cursor) = info.get(key).and_then(Value::as_str).filter(|c| !c.is_empty()) {
            page_info.insert(key.into(), json!(cursor));
        }
    }
    Ok(json!({
        "issues": issues,
        "totalCount": connection.get("totalCount").and_then(Value::as_u64).unwrap_or(0),
        "pageInfo": page_info,
    }))
}

/// An issue node of GraphQL in github-mcp-server's minimal shape: labels and assignees as
/// names, empty fields left out (but `assignees`).
fn minimal_issue(node: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("number".into(), node.get("number").cloned().unwrap_or(Value::Null));
    out.insert("title".into(), json!(string_at(node, "title")));
    if let Some(body) = node.get("body").and_then(Value::as_str).filter(|b| !b.is_empty()) {
        out.insert("body".into(), json!(body));
    }
    out.insert("state".into(), json!(string_at(node, "state")));
    out.insert("user".into(), json!({"login": node.pointer("/author/login").and_then(Value::as_str).unwrap_or("")}));
    let names = |path: &str, key: &str| -> Vec<Value> {
        node.pointer(path).and_then(Value::as_array).into_iter().flatten().filter_map(|n| n.get(key).cloned()).collect()
    };
    let labels = names("/labels/nodes", "name");
    if !labels.is_empty() {
        out.insert("labels".into(), Value::Array(labels));
    }
    out.insert("assignees".into(), Value::Array(names("/assignees/nodes", "login")));
    if let Some(count) = node.pointer("/comments/totalCount").and_then(Value::as_u64).filter(|c| *c > 0) {
        out.insert("comments".into(), json!(count));
    }
    for (from, to) in [("createdAt", "created_at"), ("updatedAt", "updated_at")] {
        if let Some(at) = node.get(from).and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.insert(to.into(), json!(at));
        }
    }
    out
}

/// One commit on `branch` changing the tree by `entries` (git's data API: the branch head, its
/// tree, a new tree, a new commit, the branch moved without force): the new commit and the
/// moved ref. A missing branch is made from the default branch when `create`.
async fn commit_tree(inner: &Inner, a: &Args<'_>, entries: Vec<Value>, create: bool) -> Result<(Value, Value)> {
    let api = &inner.api;
    let base = a.repo_path()?;
    let branch = a.str("branch")?;
    let head = format!("{base}/git/ref/heads/{}", encode(&branch, true));
    let reference = match api.get(&head).await {
        Ok(reply) => reply.body,
        Err(Error::Api { status: 404, .. }) if create => {
            let default = string_at(&api.get(&base).await?.body, "default_branch");
            let from = api.get(&format!("{base}/git/ref/heads/{}", encode(&default, true))).await?.body;
            let sha = from.pointer("/object/sha").and_then(Value::as_str).unwrap_or_default();
            let body = json!({"ref": format!("refs/heads/{branch}"), "sha": sha});
            api.send(Method::POST, &format!("{base}/git/refs"), Some(&body)).await?.body
        }
        Err(other) => return Err(other),
    };
    let head_sha = reference.pointer("/object/sha").and_then(Value::as_str).unwrap_or_default().to_owned();
    let parent = api.get(&format!("{base}/git/commits/{}", segment(&head_sha))).await?.body;
    let base_tree = parent.pointer("/tree/sha").and_then(Value::as_str).unwrap_or_default();
    let tree_body = json!({"base_tree": base_tree, "tree": entries});
    let tree = api.send(Method::POST, &format!("{base}/git/trees"), Some(&tree_body)).await?.body;
    let commit_body = json!({"message": a.str("message")?, "tree": string_at(&tree, "sha"), "parents": [head_sha]});
    let commit = api.send(Method::POST, &format!("{base}/git/commits"), Some(&commit_body)).await?.body;
    let update = json!({"sha": string_at(&commit, "sha"), "force": false});
    let moved =
        api.send(Method::PATCH, &format!("{base}/git/refs/heads/{}", encode(&branch, true)), Some(&update)).await?;
    Ok((commit, moved.body))
}

/// `update_pull_request`: the REST edit, draft state through GraphQL (as GitHub has it), the
/// reviewers requested; `{id, url}` of the pull request as it ends up.
async fn update_pull_request(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    let owner = a.str("owner")?;
    let repo = a.str("repo")?;
    let number = a.num("pullNumber")?;
    let path = format!("{}/pulls/{number}", a.repo_path()?);
    let mut edit = Map::new();
    for key in ["title", "body", "state", "base"] {
        if let Some(v) = a.opt_str(key)? {
            edit.insert(key.into(), json!(v));
        }
    }
    if let Some(v) = a.opt_bool("maintainer_can_modify")? {
        edit.insert("maintainer_can_modify".into(), json!(v));
    }
    let draft = a.opt_bool("draft")?;
    let reviewers = a.opt_strings("reviewers")?.filter(|r| !r.is_empty());
    if edit.is_empty() && draft.is_none() && reviewers.is_none() {
        return Err(a.bad("No update parameters provided.".into()));
    }
    if !edit.is_empty() {
        api.send(Method::PATCH, &path, Some(&Value::Object(edit))).await?;
    }
    if let Some(draft) = draft {
        let query = "query($owner:String!,$repo:String!,$prNum:Int!){repository(owner:$owner,name:$repo){pullRequest(number:$prNum){id,isDraft}}}";
        let data = api.graphql(&owner, query, json!({"owner": owner, "repo": repo, "prNum": number})).await?;
        let pr = data.pointer("/repository/pullRequest").cloned().unwrap_or(Value::Null);
        if pr.get("isDraft").and_then(Value::as_bool) != Some(draft) {
            let (field, input) = if draft {
                ("convertPullRequestToDraft", "ConvertPullRequestToDraftInput")
            } else {
                ("markPullRequestReadyForReview", "MarkPullRequestReadyForReviewInput")
            };
            let mutation = format!("mutation($input:{input}!){{{field}(input:$input){{pullRequest{{id,isDraft}}}}}}");
            api.graphql(&owner, &mutation, json!({"input": {"pullRequestId": string_at(&pr, "id")}})).await?;
        }
    }
    if let Some(reviewers) = reviewers {
        api.send(Method::POST, &format!("{path}/requested_reviewers"), Some(&reviewers_body(reviewers))).await?;
    }
    let pr = api.get(&path).await?.body;
    Ok(json!({"id": pr.get("id").and_then(Value::as_u64).unwrap_or(0).to_string(), "url": pr.get("html_url")}))
}

/// `sub_issue_write`: GitHub's sub-issue endpoints; the parent issue as GitHub answers it.
async fn sub_issue_write(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method = a.str("method")?.to_ascii_lowercase();
    let base = format!("{}/issues/{}", a.repo_path()?, a.num("issue_number")?);
    let sub = a.num("sub_issue_id")?;
    let (verb, path, body) = match method.as_str() {
        "add" => {
            let mut body = json!({"sub_issue_id": sub});
            if let Some(replace) = a.opt_bool("replace_parent")? {
                body["replace_parent"] = json!(replace);
            }
            (Method::POST, format!("{base}/sub_issues"), body)
        }
        "remove" => (Method::DELETE, format!("{base}/sub_issue"), json!({"sub_issue_id": sub})),
        "reprioritize" => {
            let mut body = json!({"sub_issue_id": sub});
            match (a.opt_num("after_id")?.filter(|i| *i != 0), a.opt_num("before_id")?.filter(|i| *i != 0)) {
                (Some(after), None) => body["after_id"] = json!(after),
                (None, Some(before)) => body["before_id"] = json!(before),
                (None, None) => return Err(a.bad("either after_id or before_id must be specified".into())),
                (Some(_), Some(_)) => {
                    return Err(a.bad("only one of after_id or before_id should be specified, not both".into()));
                }
            }
            (Method::PATCH, format!("{base}/sub_issues/priority"), body)
        }
        other => return Err(a.bad(format!("unknown method `{other}`: one of add, remove, reprioritize"))),
    };
    let reply = inner.api.send(verb, &path, Some(&body)).await?.body;
    Ok(Value::Object(inner.mark_issue(issue(&reply))))
}

/// The GraphQL id of pull request `number`.
async fn pull_request_id(inner: &Inner, owner: &str, repo: &str, number: u64) -> Result<String> {
    let query = "query($owner:String!,$repo:String!,$prNum:Int!){repository(owner:$owner,name:$repo){pullRequest(number:$prNum){id}}}";
    let data = inner.api.graphql(owner, query, json!({"owner": owner, "repo": repo, "prNum": number})).await?;
    data.pointer("/repository/pullRequest/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Graphql { message: format!("pull request {owner}/{repo}#{number} was not found") })
}

/// The authenticated user's latest review of pull request `number`, which must be pending: its id.
async fn pending_review(inner: &Inner, owner: &str, repo: &str, number: u64) -> Result<String> {
    let viewer = inner.api.graphql(owner, "query{viewer{login}}", json!({})).await?;
    let login = viewer.pointer("/viewer/login").and_then(Value::as_str).unwrap_or_default().to_owned();
    let query = "query($author:String!,$name:String!,$owner:String!,$prNum:Int!){repository(owner:$owner,name:$name)\
        {pullRequest(number:$prNum){reviews(first:1,author:$author){nodes{id,state,url}}}}}";
    let variables = json!({"author": login, "owner": owner, "name": repo, "prNum": number});
    let data = inner.api.graphql(owner, query, variables).await?;
    let review = data.pointer("/repository/pullRequest/reviews/nodes/0");
    let Some(review) = review else {
        return Err(Error::Precondition("No pending review found for the viewer".into()));
    };
    if review.get("state").and_then(Value::as_str) != Some("PENDING") {
        let url = string_at(review, "url");
        return Err(Error::Precondition(format!("The latest review, found at {url} is not pending")));
    }
    Ok(string_at(review, "id"))
}

/// `pull_request_review_write`: GitHub's GraphQL review mutations, answered with the Go server's
/// confirmations.
/// The body of a review request: logins as `reviewers`, `ORG/team-slug` as `team_reviewers`.
fn reviewers_body(reviewers: Vec<String>) -> Value {
    let (teams, users): (Vec<String>, Vec<String>) = reviewers.into_iter().partition(|r| r.contains('/'));
    let teams: Vec<String> = teams.iter().map(|t| t.rsplit('/').next().unwrap_or(t).to_owned()).collect();
    json!({"reviewers": users, "team_reviewers": teams})
}

/// Resolves (or, `!resolve`, reopens) review thread `thread`, asking as `owner`'s account.
async fn resolve_thread(inner: &Inner, owner: &str, thread: &str, resolve: bool) -> Result<Value> {
    let (field, input, done) = if resolve {
        ("resolveReviewThread", "ResolveReviewThreadInput", "review thread resolved successfully")
    } else {
        ("unresolveReviewThread", "UnresolveReviewThreadInput", "review thread unresolved successfully")
    };
    let mutation = format!("mutation($input:{input}!){{{field}(input:$input){{thread{{id,isResolved}}}}}}");
    inner.api.graphql(owner, &mutation, json!({"input": {"threadId": thread}})).await?;
    Ok(json!(done))
}

async fn review_write(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method = a.method(&["create", "submit_pending", "delete_pending", "resolve_thread", "unresolve_thread"])?;
    let api = &inner.api;
    let owner = a.str("owner")?;
    if method == "resolve_thread" || method == "unresolve_thread" {
        let thread = a.opt_str("threadId")?.filter(|t| !t.is_empty());
        let thread = thread.ok_or_else(|| a.bad(format!("`threadId` is required for {method}")))?;
        return resolve_thread(inner, &owner, &thread, method == "resolve_thread").await;
    }
    let repo = a.str("repo")?;
    let number = a.num("pullNumber")?;
    let event = a.opt_str("event")?.filter(|e| !e.is_empty());
    let body = a.opt_str("body")?;
    match method.as_str() {
        "create" => {
            let id = pull_request_id(inner, &owner, &repo, number).await?;
            let mut input = json!({"pullRequestId": id});
            if let Some(commit) = a.opt_str("commitID")?.filter(|c| !c.is_empty()) {
                input["commitOID"] = json!(commit);
            }
            if let Some(event) = &event {
                input["event"] = json!(event);
                input["body"] = json!(body.unwrap_or_default());
            }
            let mutation = "mutation($input:AddPullRequestReviewInput!){addPullRequestReview(input:$input){pullRequestReview{id}}}";
            api.graphql(&owner, mutation, json!({"input": input})).await?;
            Ok(json!(if event.is_some() {
                "pull request review submitted successfully"
            } else {
                "pending pull request created"
            }))
        }
        "submit_pending" => {
            let event = event.ok_or_else(|| a.bad("`event` is required for submit_pending".into()))?;
            let id = pending_review(inner, &owner, &repo, number).await?;
            let mut input = json!({"pullRequestReviewId": id, "event": event});
            if let Some(body) = body {
                input["body"] = json!(body);
            }
            let mutation = "mutation($input:SubmitPullRequestReviewInput!){submitPullRequestReview(input:$input){pullRequestReview{id}}}";
            api.graphql(&owner, mutation, json!({"input": input})).await?;
            Ok(json!("pending pull request review successfully submitted"))
        }
        _ => {
            let id = pending_review(inner, &owner, &repo, number).await?;
            let mutation = "mutation($input:DeletePullRequestReviewInput!){deletePullRequestReview(input:$input){pullRequestReview{id}}}";
            api.graphql(&owner, mutation, json!({"input": {"pullRequestReviewId": id}})).await?;
            Ok(json!("pending pull request review successfully deleted"))
        }
    }
}

/// `add_comment_to_pending_review`: a review thread on the authenticated user's pending review.
async fn add_comment_to_pending_review(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let owner = a.str("owner")?;
    let repo = a.str("repo")?;
    let number = a.num("pullNumber")?;
    let mut input = json!({"path": a.str("path")?, "body": a.str("body")?, "subjectType": a.str("subjectType")?});
    for key in ["line", "startLine"] {
        if let Some(line) = a.opt_num(key)? {
            input[key] = json!(line);
        }
    }
    for key in ["side", "startSide"] {
        if let Some(side) = a.opt_str(key)?.filter(|s| !s.is_empty()) {
            input[key] = json!(side);
        }
    }
    input["pullRequestReviewId"] = json!(pending_review(inner, &owner, &repo, number).await?);
    let mutation =
        "mutation($input:AddPullRequestReviewThreadInput!){addPullRequestReviewThread(input:$input){thread{id}}}";
    let data = inner.api.graphql(&owner, mutation, json!({"input": input})).await?;
    if data.pointer("/addPullRequestReviewThread/thread/id").is_none_or(Value::is_null) {
        return Err(Error::Precondition(
            "Failed to add comment to pending review: the line may not be in the pull request's diff, the path may \
             be wrong, or the side (LEFT/RIGHT) may not fit the line"
                .into(),
        ));
    }
    Ok(json!("pull request review comment successfully added to pending review"))
}

/// The most bytes of a pull request's diff read (the first [`Inner::max_response_bytes`] of
/// them kept), to say how long it is; GitHub refuses much larger diffs itself.
const MAX_DIFF_BYTES: usize = 16 << 20;

/// `pull_request_read` `get_diff`: the pull request's diff as GitHub makes it (every file,
/// renames and binary files as git shows them), its first bytes up to the byte cap, the cut
/// marked with where to read the rest.
async fn pull_request_diff(inner: &Inner, path: &str) -> Result<CallToolResult> {
    let limit = inner.max_response_bytes;
    // Read a token's length past the cap and masked before the cut, so that no cut leaves the
    // start of a token that crosses it.
    let keep = limit + 1 + inner.api.longest_secret();
    let diff = inner.api.get_text(path, "application/vnd.github.v3.diff", keep, MAX_DIFF_BYTES).await?;
    let text = inner.api.mask(String::from_utf8_lossy(&diff.bytes).into_owned());
    let hint = "each file's patch can be read with method get_files (page, perPage)";
    let (shown, note) = super::cut::fit_text(text, diff.seen, diff.complete, limit, Some(hint));
    Ok(match note {
        None => CallToolResult::text(shown),
        Some(note) => CallToolResult::new(vec![Content::text(shown), Content::text(note)]),
    })
}

async fn pull_request_read(inner: &Inner, a: &Args<'_>) -> Result<CallToolResult> {
    let methods = [
        "get",
        "get_diff",
        "get_status",
        "get_files",
        "get_commits",
        "get_review_comments",
        "get_reviews",
        "get_comments",
        "get_check_runs",
    ];
    let method = a.method(&methods)?;
    let repo = a.repo_path()?;
    let number = a.num("pullNumber")?;
    let base = format!("{repo}/pulls/{number}");
    let full = format!("{}/{}", a.str("owner")?, a.str("repo")?);
    let mut q = Query::default();
    a.paging(&mut q)?;
    let api = &inner.api;
    Ok(inner.finish(match method.as_str() {
        "get" => {
            let reply = api.get(&base).await?.body;
            inner.refuse_untrusted(&full, &reply).await?;
            Value::Object(inner.mark_issue(pull_request(&reply)))
        }
        "get_diff" => return pull_request_diff(inner, &base).await,
        "get_files" => map_items(&api.get(&q.on(&format!("{base}/files"))).await?.body, |f| {
            pick(f, &["filename", "status", "additions", "deletions", "changes", "patch"])
        }),
        "get_commits" => map_items(&api.get(&q.on(&format!("{base}/commits"))).await?.body, commit),
        "get_reviews" => {
            let reply = api.get(&q.on(&format!("{base}/reviews"))).await?.body;
            let mut reviews = Vec::new();
            for r in reply.as_array().into_iter().flatten() {
                if inner.trusted(&full, r).await? {
                    let mut out = pick(r, &["id", "state", "submitted_at", "html_url"]).with("user", login_of(r));
                    out.insert("body".into(), inner.mark(r, "body"));
                    reviews.push(Value::Object(out));
                }
            }
            Value::Array(reviews)
        }
        "get_review_comments" | "get_comments" => {
            let path = if method == "get_comments" {
                format!("{repo}/issues/{number}/comments")
            } else {
                format!("{base}/comments")
            };
            let reply = api.get(&q.on(&path)).await?.body;
            let mut comments = Vec::new();
            for c in reply.as_array().into_iter().flatten() {
                if inner.trusted(&full, c).await? {
                    let mut out = comment(inner, c);
                    if let Some(p) = c.get("path") {
                        out.insert("path".into(), p.clone());
                        out.insert("line".into(), c.get("line").cloned().unwrap_or(Value::Null));
                    }
                    comments.push(Value::Object(out));
                }
            }
            Value::Array(comments)
        }
        _ => {
            let pr = api.get(&base).await?.body;
            let sha = pr.pointer("/head/sha").and_then(Value::as_str).unwrap_or_default().to_owned();
            if method == "get_status" {
                let status = api.get(&format!("{repo}/commits/{}/status", segment(&sha))).await?.body;
                let statuses = map_items(status.get("statuses").unwrap_or(&Value::Null), |s| {
                    pick(s, &["context", "state", "description", "target_url"])
                });
                json!({"state": status.get("state"), "sha": sha, "total_count": status.get("total_count"), "statuses": statuses})
            } else {
                let runs = api.get(&q.on(&format!("{repo}/commits/{}/check-runs", segment(&sha)))).await?.body;
                let items = map_items(runs.get("check_runs").unwrap_or(&Value::Null), |r| {
                    pick(r, &["id", "name", "status", "conclusion", "html_url", "started_at", "completed_at"])
                });
                json!({"total_count": runs.get("total_count"), "check_runs": items})
            }
        }
    }))
}

trait With {
    fn with(self, key: &str, value: Value) -> Self;
}

impl With for Map<String, Value> {
    fn with(mut self, key: &str, value: Value) -> Self {
        self.insert(key.to_owned(), value);
        self
    }
}

/// The `keys` of `value` that it has.
fn pick(value: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|k| value.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect()
}

/// The `keys` of `value[at]`, or null.
fn pick_at(value: &Value, at: &str, keys: &[&str]) -> Value {
    match value.get(at) {
        Some(inner @ Value::Object(_)) => Value::Object(pick(inner, keys)),
        _ => Value::Null,
    }
}

fn string_at(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// `f` of each item of an array (an empty array for anything else).
fn map_items(value: &Value, f: impl Fn(&Value) -> Map<String, Value>) -> Value {
    Value::Array(value.as_array().into_iter().flatten().map(|v| Value::Object(f(v))).collect())
}

/// Only `fields` of each item, when given.
fn only_fields(items: Value, fields: Option<Vec<String>>) -> Value {
    let Some(fields) = fields.filter(|f| !f.is_empty()) else { return items };
    let keys: Vec<&str> = fields.iter().map(String::as_str).collect();
    match items {
        Value::Array(list) => Value::Array(list.iter().map(|i| Value::Object(pick(i, &keys))).collect()),
        other => other,
    }
}

/// `{login}` of `value.user`, or null.
fn login_of(value: &Value) -> Value {
    pick_at(value, "user", &["login"])
}

/// A user as github-mcp-server shows one: login, id, profile and avatar URLs.
fn user(value: &Value) -> Map<String, Value> {
    let mut out = pick(value, &["login", "id"]);
    out.insert("profile_url".into(), value.get("html_url").cloned().unwrap_or(Value::Null));
    out.insert("avatar_url".into(), value.get("avatar_url").cloned().unwrap_or(Value::Null));
    out
}

/// The authenticated user: [`user`] with its `details`.
fn me(value: &Value) -> Value {
    let details = pick(
        value,
        &[
            "name",
            "company",
            "blog",
            "location",
            "email",
            "bio",
            "twitter_username",
            "public_repos",
            "public_gists",
            "followers",
            "following",
            "created_at",
            "updated_at",
        ],
    );
    let details: Map<String, Value> = details.into_iter().filter(|(_, v)| !v.is_null()).collect();
    Value::Object(user(value).with("details", Value::Object(details)))
}

fn repository(value: &Value) -> Map<String, Value> {
    pick(
        value,
        &[
            "id",
            "name",
            "full_name",
            "description",
            "html_url",
            "private",
            "fork",
            "archived",
            "language",
            "default_branch",
            "stargazers_count",
            "forks_count",
            "open_issues_count",
            "topics",
            "created_at",
            "updated_at",
        ],
    )
}

fn commit(value: &Value) -> Map<String, Value> {
    let mut out = pick(value, &["sha", "html_url"]);
    if let Some(c) = value.get("commit") {
        out.insert(
            "commit".into(),
            Value::Object(
                pick(c, &["message"])
                    .with("author", pick_at(c, "author", &["name", "email", "date"]))
                    .with("committer", pick_at(c, "committer", &["name", "email", "date"])),
            ),
        );
    }
    out.insert("author".into(), pick_at(value, "author", &["login", "id", "html_url"]));
    out.insert("committer".into(), pick_at(value, "committer", &["login", "id", "html_url"]));
    out
}

/// A notification thread's essentials.
fn notification(n: &Value) -> Map<String, Value> {
    pick(n, &["id", "unread", "reason", "updated_at"])
        .with("subject", pick_at(n, "subject", &["title", "type", "url"]))
        .with("repository", pick_at(n, "repository", &["full_name"]))
}

/// A release in github-mcp-server's minimal shape.
fn release(value: &Value) -> Map<String, Value> {
    let mut out = pick(value, &["id", "tag_name", "html_url", "prerelease", "draft"]);
    for key in ["name", "body", "published_at"] {
        if let Some(text) = value.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.insert(key.into(), json!(text));
        }
    }
    if let Some(author) = value.get("author").filter(|a| a.is_object()) {
        out.insert("author".into(), Value::Object(user(author)));
    }
    out
}

fn label(value: &Value) -> Map<String, Value> {
    pick(value, &["id", "name", "color", "description"])
}

/// An issue's essential fields; the body unmarked (see [`Inner::mark_issue`]).
fn issue(value: &Value) -> Map<String, Value> {
    let mut out = pick(
        value,
        &[
            "number",
            "title",
            "body",
            "state",
            "state_reason",
            "locked",
            "comments",
            "author_association",
            "html_url",
            "created_at",
            "updated_at",
            "closed_at",
            "draft",
        ],
    );
    out.insert("user".into(), login_of(value));
    let names = |key: &str, field: &str| -> Value {
        Value::Array(
            value
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.get(field).cloned())
                .map(|name| json!({ field: name }))
                .collect(),
        )
    };
    out.insert("labels".into(), names("labels", "name"));
    out.insert("assignees".into(), names("assignees", "login"));
    if let Some(m) = value.get("milestone").filter(|m| m.is_object()) {
        out.insert("milestone".into(), Value::Object(pick(m, &["number", "title"])));
    }
    if value.get("pull_request").is_some_and(|p| !p.is_null()) {
        out.insert("pull_request".into(), json!(true));
    }
    out
}

fn pull_request(value: &Value) -> Map<String, Value> {
    let mut out = issue(value);
    for key in
        ["merged", "mergeable", "mergeable_state", "merged_at", "additions", "deletions", "changed_files", "commits"]
    {
        if let Some(v) = value.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("head".into(), pick_at(value, "head", &["ref", "sha", "label"]));
    out.insert("base".into(), pick_at(value, "base", &["ref", "sha", "label"]));
    if let Some(by) = value.get("merged_by").filter(|v| v.is_object()) {
        out.insert("merged_by".into(), Value::Object(pick(by, &["login"])));
    }
    out.remove("pull_request");
    out
}

fn comment(inner: &Inner, value: &Value) -> Map<String, Value> {
    let mut out = pick(value, &["id", "html_url", "author_association", "created_at", "updated_at"])
        .with("user", login_of(value));
    out.insert("body".into(), inner.mark(value, "body"));
    out
}

/// The note that replaces text withheld in lockdown mode.
pub(crate) const WITHHELD: &str =
    "[withheld by lockdown mode: its author has no push access to this public repository]";

impl Inner {
    /// `value[key]` marked as untrusted text from its author (when marking is on).
    fn mark(&self, value: &Value, key: &str) -> Value {
        match value.get(key) {
            Some(Value::String(text)) if self.mark_untrusted && !text.is_empty() => {
                let login = value.pointer("/user/login").and_then(Value::as_str).unwrap_or("unknown");
                Value::String(format!(
                    "{}{}{}",
                    untrusted_start(login),
                    text.replace(UNTRUSTED_END, "[end of untrusted text (quoted)]"),
                    UNTRUSTED_END
                ))
            }
            Some(other) => other.clone(),
            None => Value::Null,
        }
    }

    /// `issue` with its body marked.
    fn mark_issue(&self, mut issue: Map<String, Value>) -> Map<String, Value> {
        if let Some(Value::String(text)) = issue.get("body").cloned()
            && self.mark_untrusted
            && !text.is_empty()
        {
            let probe = json!({"body": text, "user": issue.get("user").cloned().unwrap_or(Value::Null)});
            issue.insert("body".into(), self.mark(&probe, "body"));
        }
        issue
    }

    /// `issue`, marked, its body withheld when lockdown mode distrusts its author.
    async fn guard_issue(&self, repo: &str, issue: Map<String, Value>) -> Result<Value> {
        let author = Value::Object(issue.clone());
        let mut issue = self.mark_issue(issue);
        if !self.trusted(repo, &author).await? {
            issue.insert("body".into(), json!(WITHHELD));
        }
        Ok(Value::Object(issue))
    }

    /// In lockdown mode, an error when `item`'s author may not be shown.
    async fn refuse_untrusted(&self, repo: &str, item: &Value) -> Result<()> {
        if self.trusted(repo, item).await? {
            return Ok(());
        }
        let login = item.pointer("/user/login").and_then(Value::as_str).unwrap_or("unknown").to_owned();
        Err(Error::Lockdown { repo: repo.to_owned(), login })
    }

    /// Whether `item`'s author (`user.login`) may be shown: always outside lockdown mode and in
    /// private repositories; in public ones, only authors with push access.
    async fn trusted(&self, repo: &str, item: &Value) -> Result<bool> {
        if !self.lockdown || repo.is_empty() {
            return Ok(true);
        }
        let known = self.private.lock().ok().and_then(|m| m.get(repo).copied());
        let private = match known {
            Some(p) => p,
            None => {
                let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
                let reply = self.api.get(&format!("/repos/{}/{}", segment(owner), segment(name))).await?.body;
                let p = reply.get("private").and_then(Value::as_bool).unwrap_or(false);
                if let Ok(mut m) = self.private.lock() {
                    m.insert(repo.to_owned(), p);
                }
                p
            }
        };
        if private {
            return Ok(true);
        }
        let Some(login) = item.pointer("/user/login").and_then(Value::as_str) else { return Ok(false) };
        let key = (repo.to_owned(), login.to_owned());
        if let Some(known) = self.pushers.lock().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(known);
        }
        let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
        let path = format!("/repos/{}/{}/collaborators/{}/permission", segment(owner), segment(name), segment(login));
        let push = match self.api.get(&path).await {
            Ok(reply) => {
                let permission = string_at(&reply.body, "permission");
                let role = string_at(&reply.body, "role_name");
                matches!(permission.as_str(), "admin" | "write" | "maintain")
                    || matches!(role.as_str(), "admin" | "write" | "maintain")
            }
            Err(Error::Api { status: 404 | 403, .. }) => false,
            Err(other) => return Err(other),
        };
        if let Ok(mut m) = self.pushers.lock() {
            m.insert(key, push);
        }
        Ok(push)
    }

    /// The result for `value`: its JSON as text, cut to the byte limit with the cut marked.
    pub(super) fn finish(&self, value: Value) -> CallToolResult {
        self.finish_hinted(value, None)
    }

    /// [`finish`](Self::finish), the cut's note saying where else the whole text can be read
    /// (`hint`). The cut keeps the result whole JSON (see [`super::cut`]); tokens are masked
    /// before it, so no cut leaves part of one.
    pub(super) fn finish_hinted(&self, mut value: Value, hint: Option<&str>) -> CallToolResult {
        self.mask_strings(&mut value);
        match super::cut::fit(value, self.max_response_bytes, hint) {
            (shown, None) => CallToolResult::text(self.api.mask(shown)),
            (shown, Some(note)) => CallToolResult::new(vec![Content::text(self.api.mask(shown)), Content::text(note)]),
        }
    }

    /// Every string in `value` with the tokens masked.
    fn mask_strings(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.api.mask(std::mem::take(s)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_strings(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_strings(v)),
            _ => {}
        }
    }
}
