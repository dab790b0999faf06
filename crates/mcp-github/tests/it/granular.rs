//! The single-purpose issue and pull request tools (feature flags `issues_granular` and
//! `pull_requests_granular`) on ours, through the wrappers' granular dialect, against the
//! fixture's stateful fake of GitHub's issue, pull request, reaction and review endpoints
//! (written to GitHub's documented shapes). The Go server 0.12.1 has no such flags; where its
//! old tools share the granular names and arguments (sub-issues, reviews), `agree` compares the
//! three.

use serde_json::json;

use mcp_github::{Dialect, GitHub, IssueChange, IssueUpdate, NewIssue, PullRequestUpdate, ReactionTarget};

use crate::fixture::{ME, OWNER, REPO};
use crate::support::{failure_text, granular_config, held, native};

/// Issues opened and changed one field at a time (the typed wrappers' create and update going
/// the same way), reactions on issues and comments, a milestone or type GitHub does not know
/// refused, intent metadata sent in GitHub's object form, and the consolidated tools hidden and
/// refused by name.
#[tokio::test]
async fn issues_are_opened_and_changed_one_field_at_a_time() {
    let (fixture, _guard) = held().await;
    let client = native(granular_config(fixture)).await;
    let github = GitHub::with_dialect(client.clone(), Dialect::Granular);

    let opened = github.open_issue(OWNER, REPO, "Granular bug", Some("Found it.")).await.expect("create_issue");
    let url = opened.url.clone().expect("a page");
    let number: u64 = url.rsplit('/').next().and_then(|n| n.parse().ok()).expect("a number");
    assert_eq!(opened.id, (9000 + number).to_string());
    for change in [
        IssueChange::Title("Granular bug, retitled".into()),
        IssueChange::Body("Found it again.".into()),
        IssueChange::Assignees(vec![ME.into()]),
        IssueChange::Labels(vec!["docs".into()]),
        IssueChange::Milestone(1),
        IssueChange::Type(Some("Bug".into())),
        IssueChange::State("closed".into(), Some("not_planned".into())),
    ] {
        let written = github.change_issue(OWNER, REPO, number, &change).await.expect("changed");
        assert_eq!(written.url.as_deref(), Some(url.as_str()), "{change:?}");
    }
    let issue = fixture.issue(number);
    assert_eq!(
        (&issue["title"], &issue["body"], &issue["state"], &issue["state_reason"]),
        (&json!("Granular bug, retitled"), &json!("Found it again."), &json!("closed"), &json!("not_planned"))
    );
    assert_eq!((&issue["assignees"][0]["login"], &issue["labels"][0]["name"]), (&json!(ME), &json!("docs")));
    assert_eq!((&issue["milestone"]["number"], &issue["type"]["name"]), (&json!(1), &json!("Bug")));
    github.change_issue(OWNER, REPO, number, &IssueChange::Type(None)).await.expect("type cleared");
    assert!(fixture.issue(number)["type"].is_null());
    let unknown = failure_text(github.change_issue(OWNER, REPO, number, &IssueChange::Milestone(7)).await);
    assert!(unknown.contains("422") && unknown.contains("milestone"), "{unknown}");

    // The typed create and update, in the granular dialect, go through the same tools.
    let mut new = NewIssue::new("Through the wrapper", "Body.");
    new.labels = Some(vec!["bug".into()]);
    let made = github.create_issue_with(OWNER, REPO, &new).await.expect("create_issue_with");
    assert_eq!((made.title.as_str(), made.labels[0].name.as_str()), ("Through the wrapper", "bug"));
    let update = IssueUpdate { state: Some("closed".into()), ..IssueUpdate::default() };
    assert_eq!(github.update_issue(OWNER, REPO, made.number, &update).await.expect("update_issue").state, "closed");

    for target in [ReactionTarget::Issue(1), ReactionTarget::IssueComment(11)] {
        let reaction = github.add_reaction(OWNER, REPO, target, "rocket").await.expect("reacted");
        assert!(
            reaction.url.as_deref().is_some_and(|u| u.starts_with("http://127.0.0.1/api/v3/repos/")),
            "{reaction:?}"
        );
    }
    assert_eq!(
        fixture.reactions(),
        [("1".to_owned(), "rocket".to_owned()), ("comments/11".to_owned(), "rocket".to_owned())]
    );

    let with_intent = serde_json::from_value(json!({"owner": OWNER, "repo": REPO, "issue_number": 1,
        "labels": [{"name": "bug", "rationale": "It crashes", "confidence": "HIGH"}]}))
    .expect("arguments");
    let sent = client.call_tool("update_issue_labels", with_intent).await.expect("answered");
    assert!(!sent.is_error(), "{}", sent.text_content());
    assert_eq!(fixture.intents()[0].1, json!({"name": "bug", "rationale": "It crashes", "confidence": "HIGH"}));

    let names = granular_config(fixture).enabled_tools().expect("valid");
    assert!(!names.contains(&"issue_write") && !names.contains(&"sub_issue_write"));
    let server = mcp_github::native::GitHubServer::new(granular_config(fixture)).expect("valid");
    let tool = server.tool("issue_write").expect("a native tool");
    let args = serde_json::from_value(json!({"method": "create", "owner": OWNER, "repo": REPO, "title": "x"}))
        .expect("arguments");
    let refused = mcp_core::Tool::call(&tool, args, mcp_core::ToolContext::detached()).await.expect_err("refused");
    assert!(refused.message().contains("`issues_granular` replaces it"), "{}", refused.message());
}

/// Pull requests edited one field at a time (the typed update going the same way), the draft
/// state through GraphQL, reviewers requested (teams apart), a review comment reacted to, and
/// the consolidated tools hidden. (Reviews and threads: `agree`.)
#[tokio::test]
async fn pull_requests_are_edited_one_field_at_a_time() {
    let (fixture, _guard) = held().await;
    let github = GitHub::with_dialect(native(granular_config(fixture)).await, Dialect::Granular);
    let update = PullRequestUpdate {
        title: Some("Greet, granularly".into()),
        body: Some("One field at a time.".into()),
        draft: Some(true),
        reviewers: Some(vec!["octocat".into(), "mcptk-fixture/core".into()]),
        ..PullRequestUpdate::default()
    };
    let written = github.update_pull_request(OWNER, REPO, 3, &update).await.expect("update_pull_request");
    assert_eq!(
        (written.id.as_str(), written.url.as_deref()),
        ("9003", Some("https://github.com/mcptk-fixture/demo/pull/3"))
    );
    let pr = fixture.pull_request();
    assert_eq!(
        (&pr["title"], &pr["body"], &pr["draft"]),
        (&json!("Greet, granularly"), &json!("One field at a time."), &json!(true))
    );
    let requested: Vec<_> =
        pr["requested_reviewers"].as_array().into_iter().flatten().map(|u| u["login"].clone()).collect();
    assert_eq!(requested, [json!("octocat"), json!("team:core")]);
    let ready = PullRequestUpdate { draft: Some(false), ..PullRequestUpdate::default() };
    github.update_pull_request(OWNER, REPO, 3, &ready).await.expect("ready for review");
    assert_eq!(fixture.pull_request()["draft"], json!(false));
    let rebased = PullRequestUpdate { base: Some("develop".into()), ..PullRequestUpdate::default() };
    assert!(
        github.update_pull_request(OWNER, REPO, 3, &rebased).await.is_err(),
        "no single-purpose tool moves the base"
    );
    let closed = PullRequestUpdate { state: Some("closed".into()), ..PullRequestUpdate::default() };
    github.update_pull_request(OWNER, REPO, 3, &closed).await.expect("closed");
    assert_eq!(fixture.pull_request()["state"], json!("closed"));

    let reaction =
        github.add_reaction(OWNER, REPO, ReactionTarget::ReviewComment(2001), "heart").await.expect("reacted");
    let at = format!("http://127.0.0.1/api/v3/repos/{OWNER}/{REPO}/pulls/comments/2001/reactions/{}", reaction.id);
    assert!(!reaction.id.is_empty() && reaction.url.as_deref() == Some(at.as_str()), "{reaction:?}");

    let names = granular_config(fixture).enabled_tools().expect("valid");
    for replaced in ["update_pull_request", "pull_request_review_write", "add_comment_to_pending_review"] {
        assert!(!names.contains(&replaced), "{replaced} is replaced");
    }
}

/// The wrappers tell the three kinds of server apart by the tools they list: 0.12.1's old
/// names, the consolidated tools, the single-purpose ones.
#[tokio::test]
async fn dialects_are_detected_from_the_tools_listed() {
    let (fixture, _guard) = held().await;
    let owned = |client: std::sync::Arc<mcp_core::Client>| std::sync::Arc::try_unwrap(client).expect("one owner");
    let go = GitHub::detect(owned(crate::support::go(fixture, &[]).await)).await.expect("listed");
    let current = GitHub::detect(owned(native(crate::support::config(fixture)).await)).await.expect("listed");
    let granular = GitHub::detect(owned(native(granular_config(fixture)).await)).await.expect("listed");
    assert_eq!(
        [go.dialect(), current.dialect(), granular.dialect()],
        [Dialect::Legacy, Dialect::Current, Dialect::Granular]
    );
    // The seed's convenience works on every kind.
    for github in [&go, &current, &granular] {
        let issue = github.create_issue(&format!("{OWNER}/{REPO}"), "Seeded", "From the seed.").await.expect("opened");
        assert_eq!(issue.title, "Seeded", "{:?}", github.dialect());
    }
}
