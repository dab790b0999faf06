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
    Branch, CommitInfo, FileCommit, FileContent, GitHub, GitRef, Issue, IssueComment, IssuePage, IssueUpdate,
    ListCommits, ListIssues, ListPulls, PullFile, PullRequest, PullRequestUpdate, Repository, ReviewComment,
    SearchOptions, SearchResult, User,
};

use crate::fixture::{MAIN_SHA, ME, OWNER, REPO};
use crate::support::{both, config, failure_text, ours, three};

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
    let (fixture, _guard, [go, native]) = both().await;
    let theirs = run(&go).await;
    fixture.reset();
    let ours = run(&native).await;
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
    let (fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
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
    let (_fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
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
    assert_eq!(notifications.len(), 2);
    assert!(notifications[0].unread);
}

/// Labels: the Go server 0.12.1 has no label tools, so only the native server answers here.
#[tokio::test]
async fn labels_are_read_by_name_and_listed() {
    let (_fixture, _guard, github) = ours().await;
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
    let (_fixture, _guard, github) = ours().await;
    let mut arguments = serde_json::Map::new();
    arguments.insert("owner".into(), json!(OWNER));
    arguments.insert("repo".into(), json!(REPO));
    arguments.insert("issue_number".into(), json!(1));
    let result = github.call_raw("get_issue", arguments).await.expect("issue_read with method get");
    let issue: Issue = serde_json::from_str(&result.text_content()).expect("an issue");
    assert_eq!(issue.title, "Crash on start");
}

/// A page of `list_issues` as [`page_summary`] gives it: the issues with their comment counts,
/// whether a next page follows, the cursor to it, the total.
type PageSummary = (Vec<(Issue, u64)>, bool, Option<String>, Option<u64>);

/// What a page of `list_issues` says, normalised: the current server leaves out zero comment
/// counts, empty bodies and empty cursors, where 0.12.1 writes `0`, `""` and `""`.
fn page_summary(page: &IssuePage) -> PageSummary {
    let issues = page
        .issues
        .iter()
        .map(|i| {
            let mut issue = i.clone();
            let comments = issue.comments.take().unwrap_or(0);
            issue.body = issue.body.filter(|b| !b.is_empty());
            (issue, comments)
        })
        .collect();
    let info = page.page_info.clone().unwrap_or_default();
    (issues, info.has_next_page, info.end_cursor.filter(|c| !c.is_empty()), page.total_count)
}

/// `list_issues` goes through GraphQL on both servers (the Go server 0.12.1 lists issues only
/// that way): the same filters give the same issues, in the same order, with the same cursors.
/// GitHub's GraphQL API is stood in for by the fixture's fake (`fixture::graphql`), which reads
/// each server's query text and variables.
#[tokio::test]
async fn both_list_issues_through_graphql_alike() {
    let (fixture, _guard, backends) = both().await;
    let filters = [
        ListIssues::default(),
        ListIssues { state: Some("OPEN".into()), ..ListIssues::default() },
        ListIssues { state: Some("CLOSED".into()), ..ListIssues::default() },
        ListIssues { labels: Some(vec!["docs".into()]), ..ListIssues::default() },
        ListIssues { order_by: Some("UPDATED_AT".into()), direction: Some("DESC".into()), ..ListIssues::default() },
        ListIssues { order_by: Some("COMMENTS".into()), direction: Some("DESC".into()), ..ListIssues::default() },
        ListIssues { since: Some("2026-11-26T00:00:00Z".into()), ..ListIssues::default() },
        ListIssues { per_page: Some(2), ..ListIssues::default() },
    ];
    let mut seen = Vec::new();
    for github in &backends {
        let mut pages = Vec::new();
        for filter in &filters {
            pages.push(page_summary(&github.list_issues(OWNER, REPO, filter).await.expect("list_issues")));
        }
        // The next page, by the cursor the last one ended on.
        let cursor = pages.last().and_then(|p| p.2.clone()).expect("a cursor to go on from");
        let next = ListIssues { per_page: Some(2), after: Some(cursor), ..ListIssues::default() };
        pages.push(page_summary(&github.list_issues(OWNER, REPO, &next).await.expect("the next page")));
        let requests = fixture.take_seen();
        assert!(requests.iter().any(|r| r.method == "POST" && r.path == "/api/graphql"), "{requests:?}");
        assert!(!requests.iter().any(|r| r.path.contains("/issues")), "no REST listing: {requests:?}");
        seen.push(pages);
    }
    assert_eq!(seen[0], seen[1]);
    let numbers: Vec<Vec<u64>> = seen[1].iter().map(|p| p.0.iter().map(|(i, _)| i.number).collect()).collect();
    assert_eq!(
        numbers,
        [vec![5, 2, 1], vec![2, 1], vec![5], vec![5], vec![1, 2, 5], vec![1, 5, 2], vec![2, 1], vec![5, 2], vec![1]]
    );
    let (first, _, _, total) = &seen[1][0];
    assert_eq!(*total, Some(3));
    let crash = &first.iter().find(|(i, _)| i.number == 1).expect("listed");
    assert_eq!((crash.0.state.as_str(), crash.1, crash.0.labels[0].name.as_str()), ("OPEN", 2, "bug"));
    assert_eq!(crash.0.user.as_ref().map(|u| u.login.as_str()), Some(ME));
    let (_, more, _, _) = &seen[1][7];
    assert!(*more, "a first page of two has a next page");
    assert!(!seen[1][8].1, "the last page has none");

    // Ours refuses page numbers and cursors GitHub does not know, as tool errors.
    let ours = &backends[1];
    let bad = ListIssues { after: Some("bogus".into()), ..ListIssues::default() };
    match ours.list_issues(OWNER, REPO, &bad).await {
        Err(mcp_github::Error::Mcp(mcp_core::Error::ToolFailed { message, .. })) => {
            assert!(message.contains("GraphQL") && message.contains("valid cursor"), "{message}")
        }
        other => panic!("expected a tool failure, got {other:?}"),
    }
    let mut arguments = serde_json::Map::new();
    for (k, v) in [("owner", json!(OWNER)), ("repo", json!(REPO)), ("page", json!(2))] {
        arguments.insert(k.into(), v);
    }
    let refused = ours.client().call_tool("list_issues", arguments).await.expect("answered");
    assert!(refused.is_error() && refused.text_content().contains("cursor-based"), "{}", refused.text_content());
}

/// The pull request review tools on both servers, which both drive through GitHub's GraphQL
/// API (stood in for by the fixture's fake, `fixture::graphql`): a pending review is started,
/// commented on and deleted, then started again, commented on and submitted; the same
/// confirmations, the same refusals, and the same reviews left behind. Ours runs twice: with
/// `pull_request_review_write`, and with the single-purpose tools of `pull_requests_granular`.
#[tokio::test]
async fn both_write_pull_request_reviews_alike() {
    let (fixture, _guard, backends) = three().await;
    let mut seen = Vec::new();
    for github in &backends {
        fixture.reset();
        let comment = ReviewComment::on_line("hello.txt", 1, "Say hello to the world too?");
        let mut said = vec![
            github.create_pending_pull_request_review(OWNER, REPO, 3, None).await.expect("create pending"),
            github.add_comment_to_pending_review(OWNER, REPO, 3, &comment).await.expect("comment"),
            github.delete_pending_pull_request_review(OWNER, REPO, 3).await.expect("delete pending"),
        ];
        let nothing = github.submit_pending_pull_request_review(OWNER, REPO, 3, "COMMENT", None).await;
        said.push(failure_text(nothing));
        said.push(github.create_pending_pull_request_review(OWNER, REPO, 3, None).await.expect("create again"));
        said.push(github.add_comment_to_pending_review(OWNER, REPO, 3, &comment).await.expect("comment again"));
        said.push(
            github
                .submit_pending_pull_request_review(OWNER, REPO, 3, "COMMENT", Some("One question."))
                .await
                .expect("submit"),
        );
        let twice = github.submit_pending_pull_request_review(OWNER, REPO, 3, "APPROVE", None).await;
        said.push(failure_text(twice));
        let missing = github.create_pending_pull_request_review(OWNER, REPO, 99, None).await;
        said.push(missing.is_err().to_string());
        let posts: Vec<String> =
            fixture.take_seen().into_iter().filter(|s| s.method == "POST").map(|s| s.path).collect();
        assert!(posts.iter().all(|p| p == "/api/graphql"), "{posts:?}");
        seen.push((said, fixture.reviews()));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2], "the single-purpose tools");
    let (said, reviews) = &seen[1];
    assert_eq!(said[0], "pending pull request created");
    assert_eq!(said[1], "pull request review comment successfully added to pending review");
    assert_eq!(said[2], "pending pull request review successfully deleted");
    assert!(said[3].contains("No pending review found for the viewer"), "{}", said[3]);
    assert_eq!(said[6], "pending pull request review successfully submitted");
    assert!(said[7].contains("is not pending"), "{}", said[7]);
    assert_eq!(said[8], "true", "an unknown pull request is an error");
    assert_eq!(reviews, &[("COMMENTED".to_owned(), "One question.".to_owned(), vec!["hello.txt".to_owned()])]);
}

/// The current server's review methods the Go server 0.12.1 does not have, on ours (against the
/// fixture's GraphQL fake), with the consolidated tool and with the single-purpose ones: a
/// review submitted at once, a thread resolved and unresolved, and a comment off the diff
/// refused (0.12.1 reports that one as a success).
#[tokio::test]
async fn reviews_are_submitted_at_once_and_threads_resolved() {
    let (fixture, _guard, [_, current, granular]) = three().await;
    for github in [current, granular] {
        fixture.reset();
        github.create_pending_pull_request_review(OWNER, REPO, 3, Some(MAIN_SHA)).await.expect("pending");
        let off = ReviewComment::on_line("nope.txt", 7, "Where is this?");
        let refused = failure_text(github.add_comment_to_pending_review(OWNER, REPO, 3, &off).await);
        assert!(refused.contains("Failed to add comment"), "{:?}: {refused}", github.dialect());
        let comment = ReviewComment::on_line("hello.txt", 1, "Fine.");
        github.add_comment_to_pending_review(OWNER, REPO, 3, &comment).await.expect("on the diff");
        assert_eq!(
            github.resolve_review_thread(OWNER, REPO, 3, "PRRT_1", true).await.expect("resolved"),
            "review thread resolved successfully"
        );
        assert_eq!(
            github.resolve_review_thread(OWNER, REPO, 3, "PRRT_1", false).await.expect("unresolved"),
            "review thread unresolved successfully"
        );
        assert!(github.resolve_review_thread(OWNER, REPO, 3, "PRRT_404", true).await.is_err());
        github.delete_pending_pull_request_review(OWNER, REPO, 3).await.expect("deleted");
        assert_eq!(
            github.create_pull_request_review(OWNER, REPO, 3, "APPROVE", "Ship it.").await.expect("submitted at once"),
            "pull request review submitted successfully"
        );
        assert_eq!(fixture.reviews(), [("APPROVED".to_owned(), "Ship it.".to_owned(), Vec::<String>::new())]);
    }

    // Writing tools: hidden and refused in read-only mode.
    let mut read_only = config(fixture);
    read_only.read_only = true;
    let names = read_only.enabled_tools().expect("valid");
    assert!(!names.contains(&"pull_request_review_write") && !names.contains(&"add_comment_to_pending_review"));
}

/// Sub-issues on both servers (the Go server 0.12.1 has `add_sub_issue`, `remove_sub_issue`,
/// `reprioritize_sub_issue` and `list_sub_issues`; ours `sub_issue_write` and `issue_read`, and,
/// under the `issues_granular` flag, the single-purpose tools named as 0.12.1's),
/// against the fixture's stateful fake of GitHub's sub-issue endpoints: the same parents
/// answered, the same order after reprioritizing, the same refusal to take a second parent.
#[tokio::test]
async fn both_add_reorder_and_remove_sub_issues_alike() {
    let (fixture, _guard, backends) = three().await;
    let numbers = |issues: Vec<Issue>| issues.into_iter().map(|i| i.number).collect::<Vec<_>>();
    let mut seen = Vec::new();
    for github in &backends {
        fixture.reset();
        // Sub-issues are named by id (the fake's issue n has id 9000 + n), parents by number.
        let parent = github.add_sub_issue(OWNER, REPO, 1, 9002, false).await.expect("add 2 under 1");
        github.add_sub_issue(OWNER, REPO, 1, 9005, false).await.expect("add 5 under 1");
        let listed = numbers(github.list_sub_issues(OWNER, REPO, 1).await.expect("listed"));
        github.reprioritize_sub_issue(OWNER, REPO, 1, 9005, Err(9002)).await.expect("5 before 2");
        let reordered = numbers(github.list_sub_issues(OWNER, REPO, 1).await.expect("listed"));
        let second_parent = github.add_sub_issue(OWNER, REPO, 2, 9005, false).await.is_err();
        github.add_sub_issue(OWNER, REPO, 2, 9005, true).await.expect("moved to 2");
        let removed = github.remove_sub_issue(OWNER, REPO, 1, 9002).await.expect("2 off 1");
        let left = numbers(github.list_sub_issues(OWNER, REPO, 1).await.expect("listed"));
        let under_two = numbers(github.list_sub_issues(OWNER, REPO, 2).await.expect("listed"));
        seen.push((parent, listed, reordered, second_parent, removed, left, under_two));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2], "the single-purpose tools");
    let (parent, listed, reordered, second_parent, removed, left, under_two) = &seen[1];
    assert_eq!((parent.number, removed.number), (1, 1), "the parent is answered");
    assert_eq!((listed.as_slice(), reordered.as_slice()), (&[2, 5][..], &[5, 2][..]));
    assert!(*second_parent, "a sub-issue with a parent needs replace_parent");
    assert_eq!((left.as_slice(), under_two.as_slice()), (&[][..], &[5][..]));
}

/// Organization search, tags and releases on both servers, against the fixture's fake of the
/// REST endpoints: the same organizations, the same annotated tag, the same releases; a
/// lightweight tag is read by ours only (0.12.1 fails on it).
#[tokio::test]
async fn both_search_orgs_read_tags_and_list_releases_alike() {
    let (fixture, _guard, backends) = both().await;
    let tag_summary = |tag: &Value| {
        let pointer = |p: &str| tag.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
        [pointer("/tag"), pointer("/sha"), pointer("/message"), pointer("/object/sha"), pointer("/object/type")]
    };
    let mut seen = Vec::new();
    for github in &backends {
        let orgs = github.search_orgs("fixture", &SearchOptions::default()).await.expect("search_orgs");
        let annotated = tag_summary(&github.get_tag(OWNER, REPO, "v1.0").await.expect("annotated tag"));
        // A lightweight tag has no tag object: the current server answers with its ref, 0.12.1
        // fails on it.
        let light = github.get_tag(OWNER, REPO, "v0.9").await.ok();
        let light = light.and_then(|t| t.pointer("/object/sha").and_then(Value::as_str).map(str::to_owned));
        let releases = github.list_releases(OWNER, REPO).await.expect("list_releases");
        let searched: Vec<String> =
            fixture.take_seen().into_iter().filter(|s| s.path.starts_with("/search/users")).map(|s| s.path).collect();
        seen.push((orgs, annotated, light, releases, searched.len()));
    }
    assert_eq!(seen[0].2, None, "0.12.1 reads every tag as an annotated one");
    seen[0].2 = seen[1].2.clone();
    assert_eq!(seen[0], seen[1]);
    let (orgs, annotated, light, releases, searches) = &seen[1];
    assert_eq!((orgs.total_count, orgs.items[0].login.as_str(), *searches), (1, OWNER, 1));
    assert_eq!(annotated[0..3], ["v1.0", "7a9e000000000000000000000000000000000010", "First stable release\n"]);
    assert_eq!((annotated[3].as_str(), light.as_deref()), (MAIN_SHA, Some(MAIN_SHA)));
    assert_eq!(releases.iter().map(|r| r.tag_name.as_str()).collect::<Vec<_>>(), ["v1.0", "v0.9"]);
    assert!(releases[1].prerelease && !releases[0].prerelease);
}

/// Commit search and a release by tag (tools the Go server 0.12.1 does not have) on ours,
/// against the fixture's fake of the REST endpoints.
#[tokio::test]
async fn commits_are_searched_and_releases_read_by_tag() {
    let (fixture, _guard, github) = ours().await;
    let found =
        github.search_commits("second repo:mcptk-fixture/demo", &SearchOptions::default()).await.expect("found");
    assert_eq!((found.total_count, found.items[0].sha.as_str()), (1, MAIN_SHA));
    assert_eq!(found.items[0].commit.as_ref().map(|c| c.message.as_str()), Some("Second commit"));
    let release = github.get_release_by_tag(OWNER, REPO, "v1.0").await.expect("the release");
    assert_eq!((release.name.as_deref(), release.body.as_deref()), (Some("Release v1.0"), Some("Notes for v1.0.")));
    let missing = github.get_release_by_tag(OWNER, REPO, "v9").await.expect_err("no such release");
    assert!(missing.to_string().contains("404"), "{missing}");
    let seen = fixture.take_seen();
    let search = seen.iter().find(|s| s.path.starts_with("/search/commits")).expect("searched");
    assert!(search.path.contains("q=second"), "{}", search.path);
}

/// Several files pushed as one commit and a file deleted, on both servers, through the fixture's
/// stateful fake of git's data API (refs, commits, trees): the same moved branch, the same
/// commit, the same files left. Pushing to a branch that does not exist makes it from the default
/// branch on ours, as the current server does; 0.12.1 refuses.
#[tokio::test]
async fn both_push_files_and_delete_a_file_alike() {
    let (fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
    for github in &backends {
        fixture.reset();
        let files = [("docs/guide.md", "# Guide\n"), ("README.md", "# demo, now with a guide\n")];
        let pushed = github.push_files(OWNER, REPO, "main", &files, "Add a guide").await.expect("push_files");
        let after_push = fixture.files_at("main").expect("main");
        let deleted =
            github.delete_file(OWNER, REPO, "src/main.rs", "Drop main.rs", "main").await.expect("delete_file");
        let after_delete = fixture.files_at("main").expect("main");
        let new_branch = github.push_files(OWNER, REPO, "topic", &files[..1], "On a new branch").await;
        seen.push((pushed, after_push, deleted, after_delete, new_branch.is_ok(), fixture.files_at("topic")));
    }
    let (go_new_branch, go_topic) = (seen[0].4, seen[0].5.clone());
    let agreed = |i: usize| (seen[i].0.clone(), seen[i].1.clone(), seen[i].2.clone(), seen[i].3.clone());
    assert_eq!(agreed(0), agreed(1));
    let (pushed, (files, message), deleted, (left, _), made, topic) = &seen[1];
    assert_eq!(pushed.reference, "refs/heads/main");
    assert_eq!(message, "Add a guide");
    assert_eq!(files.get("docs/guide.md").map(String::as_str), Some("# Guide\n"));
    assert_eq!(files.get("README.md").map(String::as_str), Some("# demo, now with a guide\n"));
    assert!(deleted.commit.as_ref().is_some_and(|c| c.sha.len() == 40) && deleted.content.is_none());
    assert_eq!(left.keys().map(String::as_str).collect::<Vec<_>>(), ["README.md", "docs/guide.md"]);
    assert!(*made && topic.as_ref().is_some_and(|(f, m)| f.contains_key("docs/guide.md") && m == "On a new branch"));
    assert!(!go_new_branch && go_topic.is_none(), "0.12.1 does not make the branch");
}

/// Editing a pull request and updating its branch on both servers (the edit through REST, the
/// draft state through GraphQL, as both servers do), against the fixture's fakes: the same pull
/// request left behind, the same answers.
#[tokio::test]
async fn both_edit_pull_requests_alike() {
    let (fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
    for github in &backends {
        fixture.reset();
        let update = PullRequestUpdate {
            title: Some("Add a friendlier greeting".into()),
            body: Some("Now with feeling.".into()),
            draft: Some(true),
            reviewers: Some(vec!["octocat".into()]),
            ..PullRequestUpdate::default()
        };
        let written = github.update_pull_request(OWNER, REPO, 3, &update).await.expect("update_pull_request");
        let pr = fixture.pull_request();
        let state = (
            pr["title"].clone(),
            pr["body"].clone(),
            pr["draft"].clone(),
            pr["requested_reviewers"][0]["login"].clone(),
        );
        let ready = PullRequestUpdate { draft: Some(false), ..PullRequestUpdate::default() };
        github.update_pull_request(OWNER, REPO, 3, &ready).await.expect("ready for review");
        let branch = github.update_pull_request_branch(OWNER, REPO, 3).await.expect("update_pull_request_branch");
        let nothing = github.update_pull_request(OWNER, REPO, 3, &PullRequestUpdate::default()).await.is_err();
        seen.push((written.id, state, fixture.pull_request()["draft"].clone(), branch, nothing));
    }
    assert_eq!(seen[0], seen[1]);
    let (id, (title, body, draft, reviewer), ready, branch, nothing) = &seen[1];
    assert_eq!(id, "9003");
    assert_eq!(
        (title, body, draft, reviewer),
        (&json!("Add a friendlier greeting"), &json!("Now with feeling."), &json!(true), &json!("octocat"))
    );
    assert_eq!(ready, &json!(false));
    assert_eq!(branch, "Pull request branch update is in progress");
    assert!(*nothing, "an update with nothing to change is refused");
}

/// Replies and reactions to review comments, team reviewers, and label writes (tools the Go
/// server 0.12.1 does not have) on ours, against the fixture's fake of the REST endpoints.
#[tokio::test]
async fn review_comments_are_answered_and_labels_written() {
    let (fixture, _guard, github) = ours().await;
    let reply = github.reply_to_pull_request_comment(OWNER, REPO, 3, 2001, "Done.").await.expect("replied");
    assert_eq!(reply.id, "2100");
    assert!(reply.url.as_deref().is_some_and(|u| u.ends_with("#discussion_r2100")), "{reply:?}");
    let both = github
        .client()
        .call_tool(
            "add_reply_to_pull_request_comment",
            serde_json::from_value(json!({"owner": OWNER, "repo": REPO, "pullNumber": 3, "commentId": 2001, "body": "Thanks", "reaction": "heart"}))
                .expect("arguments"),
        )
        .await
        .expect("answered");
    let both: Value = serde_json::from_str(&both.text_content()).expect("JSON");
    assert_eq!((both["reaction"]["id"].as_str(), both["comment"]["id"].as_str()), (Some("3101"), Some("2102")));

    let teams = PullRequestUpdate {
        reviewers: Some(vec!["octocat".into(), "mcptk-fixture/core".into()]),
        ..PullRequestUpdate::default()
    };
    github.update_pull_request(OWNER, REPO, 3, &teams).await.expect("reviewers requested");
    let requested: Vec<Value> = fixture.pull_request()["requested_reviewers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["login"].clone())
        .collect();
    assert_eq!(requested, [json!("octocat"), json!("team:core")], "ORG/team-slug goes to team_reviewers");

    let no_args = serde_json::Map::new();
    let mut color = serde_json::Map::new();
    color.insert("color".into(), json!("#fbca04"));
    color.insert("description".into(), json!("Needs a look"));
    assert_eq!(
        github.label_write("create", OWNER, REPO, "triage", color).await.expect("created"),
        "label 'triage' created successfully"
    );
    let mut rename = serde_json::Map::new();
    rename.insert("new_name".into(), json!("needs-triage"));
    assert_eq!(
        github.label_write("update", OWNER, REPO, "triage", rename).await.expect("updated"),
        "label 'needs-triage' updated successfully"
    );
    assert_eq!(
        github.label_write("delete", OWNER, REPO, "bug", no_args.clone()).await.expect("deleted"),
        "label 'bug' deleted successfully"
    );
    let refused = github.label_write("create", OWNER, REPO, "nocolor", no_args).await.expect_err("color is needed");
    assert!(refused.to_string().contains("`color` is required"), "{refused}");
    assert_eq!(
        fixture.labels(),
        [
            ("docs".to_owned(), "0075ca".to_owned(), "docs things".to_owned()),
            ("needs-triage".to_owned(), "fbca04".to_owned(), "Needs a look".to_owned())
        ]
    );
    let mut read_only = config(fixture);
    read_only.read_only = true;
    let names = read_only.enabled_tools().expect("valid");
    assert!(
        names.contains(&"list_label")
            && !names.contains(&"label_write")
            && !names.contains(&"add_reply_to_pull_request_comment")
    );
}

/// The notification tools on both servers, against the fixture's stateful fake of GitHub's
/// notification endpoints: a thread read by id, marked read, its subscription ignored, watched
/// and deleted, the repository's watched and deleted, everything marked read; the same answers
/// and the same inbox left. (0.12.1 takes GitHub's 204 to "mark as done" for a failure, so
/// `done` is tried on ours only.)
#[tokio::test]
async fn both_manage_notifications_alike() {
    let (fixture, _guard, backends) = both().await;
    let subscription = |text: String| -> (Option<bool>, Option<bool>) {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (v["subscribed"].as_bool(), v["ignored"].as_bool())
    };
    let mut seen = Vec::new();
    for github in &backends {
        fixture.reset();
        let thread = github.get_notification_details("2").await.expect("get_notification_details");
        let read = github.dismiss_notification("1", "read").await.expect("dismiss_notification read");
        let ignored = subscription(github.manage_notification_subscription("2", "ignore").await.expect("ignore"));
        let watched = subscription(github.manage_notification_subscription("2", "watch").await.expect("watch"));
        let after_watch = fixture.notifications();
        let deleted = github.manage_notification_subscription("2", "delete").await.expect("delete");
        let repo_watched = subscription(
            github.manage_repository_notification_subscription(OWNER, REPO, "watch").await.expect("watch the repo"),
        );
        let repo_deleted =
            github.manage_repository_notification_subscription(OWNER, REPO, "delete").await.expect("delete the repo's");
        let all = github.mark_all_notifications_read(Some((OWNER, REPO))).await.expect("mark all read");
        let unread = github.list_notifications().await.expect("list_notifications").len();
        seen.push((
            thread,
            read,
            ignored,
            watched,
            after_watch,
            deleted,
            repo_watched,
            repo_deleted,
            all,
            unread,
            fixture.notifications(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    let (thread, read, ignored, watched, after_watch, deleted, repo_watched, repo_deleted, all, unread, end) = &seen[1];
    assert_eq!((thread.id.as_str(), thread.unread), ("2", true));
    assert_eq!(read, "Notification marked as read");
    assert_eq!((*ignored, *watched), ((Some(false), Some(true)), (Some(true), Some(false))));
    assert_eq!(after_watch.0[1].3, Some(true));
    assert_eq!(
        (deleted.as_str(), repo_deleted.as_str()),
        ("Notification subscription deleted", "Repository subscription deleted")
    );
    assert_eq!(*repo_watched, (Some(true), Some(false)));
    assert_eq!((all.as_str(), *unread), ("All notifications marked as read", 0));
    assert!(end.0.iter().all(|(_, unread, done, sub)| !unread && !done && sub.is_none()) && end.1.is_none(), "{end:?}");

    // Marking as done takes the thread out of the inbox (ours).
    let ours = &backends[1];
    assert_eq!(ours.dismiss_notification("1", "done").await.expect("done"), "Notification marked as done");
    assert!(fixture.notifications().0[0].2);
}

/// Job logs on both servers, against the fixture's fake of the Actions endpoints and of the host
/// GitHub redirects log downloads to: one job's download URL, and the failed jobs of a run with
/// their last lines; the same answers (but for the wording of the URL note and what
/// `original_length` counts), and no token sent to the download host.
#[tokio::test]
async fn both_get_job_logs_alike() {
    let (fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
    for github in &backends {
        let mut one = github.get_job_logs(OWNER, REPO, 399444496, false, 500).await.expect("one job's URL");
        one.as_object_mut().expect("an object").remove("note");
        let mut failed =
            github.get_failed_job_logs(OWNER, REPO, 30433642, true, 3).await.expect("the failed jobs' logs");
        // 0.12.1 counts the lines it kept, the current server (and ours) the lines the log had.
        let total = failed["logs"][0].as_object_mut().and_then(|l| l.remove("original_length"));
        assert_eq!(total, Some(json!(if seen.is_empty() { 3 } else { 20 })));
        let downloads: Vec<Option<String>> = fixture
            .take_seen()
            .into_iter()
            .filter(|s| s.path.starts_with("/job-logs/"))
            .map(|s| s.authorization)
            .collect();
        seen.push((one, failed, downloads));
    }
    assert_eq!(seen[0], seen[1]);
    let (one, failed, downloads) = &seen[1];
    assert_eq!(one["logs_url"], "http://127.0.0.1/job-logs/399444496.txt");
    assert_eq!((failed["total_jobs"].as_u64(), failed["failed_jobs"].as_u64()), (Some(2), Some(1)));
    let log = &failed["logs"][0];
    assert_eq!(log["job_name"].as_str(), Some("test"));
    assert_eq!(log["logs_content"], "399444497 step line 18\n399444497 step line 19\n399444497 step line 20");
    assert_eq!(downloads, &[None], "the download host gets no token");
}

/// Issue types on both servers (an organization's), and a repository's on ours (0.12.1 has no
/// `repo` argument), against the fixture's fake of the REST endpoints.
#[tokio::test]
async fn both_list_issue_types_alike() {
    let (_fixture, _guard, [theirs, ours]) = both().await;
    let org = ours.list_issue_types(OWNER, None).await.expect("the organization's");
    assert_eq!(theirs.list_issue_types(OWNER, None).await.expect("the organization's"), org);
    assert_eq!(org.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Bug", "Feature"]);
    let repo = ours.list_issue_types(OWNER, Some(REPO)).await.expect("the repository's");
    assert_eq!((repo.len(), repo[0].description.as_deref()), (1, Some("Something is broken")));
}

/// Teams on both servers, which both ask GitHub's GraphQL API (stood in for by the fixture's
/// fake, `fixture::graphql`): the authenticated user's teams, another user's (none), a team's
/// members.
#[tokio::test]
async fn both_read_teams_alike() {
    let (_fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
    for github in &backends {
        let mine = github.get_teams(None).await.expect("get_teams");
        let theirs = github.get_teams(Some("drive-by")).await.expect("get_teams of another");
        let members = github.get_team_members(OWNER, "core").await.expect("get_team_members");
        let missing = github.get_team_members("nobody", "core").await.is_err();
        seen.push((mine, theirs, members, missing));
    }
    assert_eq!(seen[0], seen[1]);
    let (mine, theirs, members, missing) = &seen[1];
    assert_eq!((mine.len(), mine[0].org.as_str()), (1, OWNER));
    assert_eq!(mine[0].teams.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), ["core", "docs"]);
    assert!(theirs.is_empty());
    assert_eq!(members, &[ME.to_owned(), "octocat".to_owned()]);
    assert!(*missing, "an unknown organization is an error");
}
