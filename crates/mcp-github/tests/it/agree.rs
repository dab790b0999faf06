//! GitHub's Go server and the native backend side by side on the same fixture, through the same
//! typed wrappers (the Go server in the old dialect, ours in the current one): the same calls
//! give the same typed results, field by field.
//!
//! Normalisation: none is needed for ids and URLs, since both servers pass through what the
//! fixture answered; the typed results keep the fields both servers return (the Go server
//! returns GitHub's whole objects, ours minimal ones), and the native server's untrusted-text
//! marks are taken off bodies by the wrappers.

use std::sync::Arc;

use serde_json::{Value, json};

use mcp_core::Client;
use mcp_github::{
    Branch, CommitInfo, Dialect, FileCommit, FileContent, GitHub, GitRef, Issue, IssueComment, IssueUpdate,
    ListCommits, ListPulls, PullFile, PullRequest, Repository, SearchOptions, SearchResult, User,
};

use crate::fixture::{Fixture, MAIN_SHA, ME, OWNER, REPO};
use crate::support::{config, go, native};

/// Everything one backend answered.
#[derive(Debug, PartialEq)]
struct Run {
    me: User,
    branches: Vec<Branch>,
    commits: Vec<CommitInfo>,
    commit: CommitInfo,
    repositories: SearchResult<Repository>,
    users: SearchResult<User>,
    issue: Issue,
    comments: Vec<IssueComment>,
    created: Issue,
    updated: Issue,
    commented: IssueComment,
    found: SearchResult<Issue>,
    pull: PullRequest,
    pull_files: Vec<PullFile>,
    pulls: Vec<PullRequest>,
    branch: GitRef,
    readme: FileContent,
    listing: Vec<FileContent>,
    written: FileCommit,
    recorded_issue: Issue,
}

async fn run(github: &GitHub<Arc<Client>>) -> Run {
    let per_page = ListCommits { per_page: Some(1), ..ListCommits::default() };
    Run {
        me: github.get_me().await.expect("get_me"),
        branches: github.list_branches(OWNER, REPO).await.expect("list_branches"),
        commits: github.list_commits(OWNER, REPO, &per_page).await.expect("list_commits"),
        commit: github.get_commit(OWNER, REPO, MAIN_SHA).await.expect("get_commit"),
        repositories: github.search_repositories("demo", &SearchOptions::default()).await.expect("search_repositories"),
        users: github.search_users("bot", &SearchOptions::default()).await.expect("search_users"),
        issue: github.get_issue(OWNER, REPO, 1).await.expect("get_issue"),
        comments: github.get_issue_comments(OWNER, REPO, 1).await.expect("get_issue_comments"),
        created: github.create_issue(&format!("{OWNER}/{REPO}"), "New bug", "It broke.").await.expect("create_issue"),
        updated: github
            .update_issue(
                OWNER,
                REPO,
                1,
                &IssueUpdate {
                    state: Some("closed".into()),
                    labels: Some(vec!["docs".into()]),
                    ..IssueUpdate::default()
                },
            )
            .await
            .expect("update_issue"),
        commented: github.add_issue_comment(OWNER, REPO, 1, "Thanks!").await.expect("add_issue_comment"),
        found: github
            .search_issues("sesame repo:octokit-fixture-org/search-issues", &SearchOptions::default())
            .await
            .expect("search_issues"),
        pull: github.get_pull_request(OWNER, REPO, 3).await.expect("get_pull_request"),
        pull_files: github.get_pull_request_files(OWNER, REPO, 3).await.expect("get_pull_request_files"),
        pulls: github.list_pull_requests(OWNER, REPO, &ListPulls::default()).await.expect("list_pull_requests"),
        branch: github.create_branch(OWNER, REPO, "topic", Some("main")).await.expect("create_branch"),
        readme: github.get_file("octokit-fixture-org", "hello-world", "README.md", None).await.expect("get_file"),
        listing: github.list_directory("octokit-fixture-org", "hello-world", "/").await.expect("list_directory"),
        written: github
            .create_or_update_file(
                "octokit-fixture-org",
                "create-file",
                "test.txt",
                "Test content",
                "create test.txt",
                "main",
                None,
            )
            .await
            .expect("create_or_update_file"),
        recorded_issue: github
            .create_issue("octokit-fixture-org/add-labels-to-issue", "Issue without a label", "")
            .await
            .expect("create_issue (recorded)"),
    }
}

#[tokio::test]
async fn both_give_the_same_typed_results() {
    let fixture = Fixture::get();
    let _guard = fixture.lock().await;
    let theirs = run(&GitHub::with_dialect(go(fixture, &[]).await, Dialect::Legacy)).await;
    fixture.reset();
    let ours = run(&GitHub::new(native(config(fixture)).await)).await;
    assert_eq!(theirs.me, ours.me);
    assert_eq!(theirs.branches, ours.branches);
    assert_eq!(theirs.commits, ours.commits);
    assert_eq!(theirs.commit, ours.commit);
    assert_eq!(theirs.repositories, ours.repositories);
    assert_eq!(theirs.users, ours.users);
    assert_eq!(theirs.issue, ours.issue);
    assert_eq!(theirs.comments, ours.comments);
    assert_eq!(theirs.created, ours.created);
    assert_eq!(theirs.updated, ours.updated);
    assert_eq!(theirs.commented, ours.commented);
    assert_eq!(theirs.found, ours.found);
    assert_eq!(theirs.pull, ours.pull);
    assert_eq!(theirs.pull_files, ours.pull_files);
    assert_eq!(theirs.pulls, ours.pulls);
    assert_eq!(theirs.branch, ours.branch);
    // The Go server reads a file's text raw, without its blob SHA and size: the text is compared.
    assert_eq!(theirs.readme.content, ours.readme.content);
    assert_eq!(theirs.listing, ours.listing);
    assert_eq!(theirs.written, ours.written);
    assert_eq!(theirs.recorded_issue, ours.recorded_issue);

    // What they agree on is what the fixture holds.
    assert_eq!(ours.me.login, ME);
    assert_eq!(ours.me.details.as_ref().and_then(|d| d.name.as_deref()), Some("MCP Toolkit Bot"));
    assert_eq!(ours.issue.title, "Crash on start");
    assert_eq!(ours.comments.len(), 2);
    assert_eq!(ours.created.title, "New bug");
    assert_eq!((ours.updated.state.as_str(), ours.updated.labels[0].name.as_str()), ("closed", "docs"));
    assert_eq!(ours.found.total_count, 2, "the recorded search");
    assert_eq!(ours.readme.content.as_deref(), Some("# hello-world"));
    assert_eq!(ours.branch.object.as_ref().map(|o| o.sha.as_str()), Some(MAIN_SHA));
    assert_eq!(ours.recorded_issue.title, "Issue without a label");
}

#[tokio::test]
async fn both_list_get_trigger_and_cancel_workflows_alike() {
    let fixture = Fixture::get();
    let _guard = fixture.lock().await;
    let mut seen = Vec::new();
    let backends =
        [GitHub::with_dialect(go(fixture, &[]).await, Dialect::Legacy), GitHub::new(native(config(fixture)).await)];
    for github in &backends {
        let workflows = github.list_workflows(OWNER, REPO).await.expect("list_workflows");
        let runs = github.list_workflow_runs(OWNER, REPO, "ci.yml").await.expect("list_workflow_runs");
        let run = github.get_workflow_run(OWNER, REPO, 30433642).await.expect("get_workflow_run");
        github.run_workflow(OWNER, REPO, "ci.yml", "main", None).await.expect("run_workflow");
        github.cancel_workflow_run(OWNER, REPO, 30433642).await.expect("cancel_workflow_run");
        let posts: Vec<String> =
            fixture.take_seen().into_iter().filter(|s| s.method == "POST").map(|s| s.path).collect();
        seen.push((workflows, runs, run, posts));
    }
    assert_eq!(seen[0], seen[1]);
    let (workflows, runs, run, posts) = &seen[1];
    assert_eq!(workflows.workflows[0].path, ".github/workflows/ci.yml");
    assert_eq!(runs.workflow_runs, std::slice::from_ref(run));
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(
        posts,
        &[
            format!("/repos/{OWNER}/{REPO}/actions/workflows/ci.yml/dispatches"),
            format!("/repos/{OWNER}/{REPO}/actions/runs/30433642/cancel"),
        ]
    );
}

#[tokio::test]
async fn both_search_code_and_pull_requests_and_list_notifications_alike() {
    let fixture = Fixture::get();
    let _guard = fixture.lock().await;
    let mut seen = Vec::new();
    let backends =
        [GitHub::with_dialect(go(fixture, &[]).await, Dialect::Legacy), GitHub::new(native(config(fixture)).await)];
    for github in &backends {
        let code =
            github.search_code("fn main repo:mcptk-fixture/demo", &SearchOptions::default()).await.expect("code");
        let paths: Vec<Value> = code.items.iter().map(|i| i["path"].clone()).collect();
        let pulls = github
            .search_pull_requests("greeting", &SearchOptions { per_page: Some(5), ..SearchOptions::default() })
            .await
            .expect("search_pull_requests");
        let notifications = github.list_notifications().await.expect("list_notifications");
        seen.push((code.total_count, paths, pulls, notifications));
    }
    assert_eq!(seen[0], seen[1]);
    let (count, paths, pulls, notifications) = &seen[1];
    assert_eq!((*count, paths.as_slice()), (1, &[json!("src/main.rs")][..]));
    assert_eq!(pulls.items.iter().map(|p| p.number).collect::<Vec<_>>(), [3]);
    assert_eq!(notifications.len(), 1);
    assert!(notifications[0].unread);
}

/// Labels: the Go server 0.12.1 has no label tools, so only the native server answers here.
#[tokio::test]
async fn labels_are_read_by_name_and_listed() {
    let fixture = Fixture::get();
    let _guard = fixture.lock().await;
    let github = GitHub::new(native(config(fixture)).await);
    let bug = github.get_label(OWNER, REPO, "bug").await.expect("get_label");
    assert_eq!((bug.name.as_str(), bug.color.as_deref()), ("bug", Some("d73a4a")));
    let labels = github.list_labels(OWNER, REPO).await.expect("list_label");
    assert_eq!(labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["bug", "docs"]);
    let on_issue = github.get_issue_labels(OWNER, REPO, 1).await.expect("issue_read get_labels");
    assert_eq!(on_issue, [bug]);
}

/// An old tool name called on a current server goes to the current tool and method.
#[tokio::test]
async fn old_names_reach_the_current_tools_through_the_alias_table() {
    let fixture = Fixture::get();
    let _guard = fixture.lock().await;
    let github = GitHub::new(native(config(fixture)).await);
    let mut arguments = serde_json::Map::new();
    arguments.insert("owner".into(), json!(OWNER));
    arguments.insert("repo".into(), json!(REPO));
    arguments.insert("issue_number".into(), json!(1));
    let result = github.call_raw("get_issue", arguments).await.expect("issue_read with method get");
    let issue: Issue = serde_json::from_str(&result.text_content()).expect("an issue");
    assert_eq!(issue.title, "Crash on start");
}
