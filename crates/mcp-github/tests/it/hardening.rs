//! What a model's arguments and GitHub's answers must not be able to make our server do:
//! relative path segments that would address another endpoint, redirects taken for success or
//! followed off the API's host, symlinks overwritten unasked. Against the fixture's fake.

use serde_json::json;

use crate::fixture::{AWAY_REPO, OWNER, RENAMED_REPO, REPO, SYMLINK};
use crate::support::{answer, config, held, native};

/// `.` and `..` in owner, repo, path or ref arguments are refused, naming the argument, before
/// anything is sent; so is a `..` reaching the URL through any other argument; names and paths
/// with dots inside a segment, and a directory's trailing `/`, still pass.
#[tokio::test]
async fn relative_path_segments_are_refused_before_anything_is_sent() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let write = |owner: &str, repo: &str, path: &str, branch: &str| json!({"owner": owner, "repo": repo, "path": path, "content": "x", "message": "m", "branch": branch});
    let refused = [
        ("create_or_update_file", write(OWNER, REPO, "../../collaborators/attacker", "main"), "`path`"),
        ("create_or_update_file", write(OWNER, REPO, "docs/./a.md", "main"), "`path`"),
        ("create_or_update_file", write(OWNER, REPO, "docs//a.md", "main"), "`path`"),
        ("create_or_update_file", write(OWNER, REPO, "a.md", "main/../x"), "`branch`"),
        ("get_file_contents", json!({"owner": "..", "repo": "..", "path": "a"}), "`owner`"),
        ("get_file_contents", json!({"owner": OWNER, "repo": ".", "path": "a"}), "`repo`"),
        ("get_file_contents", json!({"owner": OWNER, "repo": REPO, "path": "a", "ref": "refs/heads/.."}), "`ref`"),
        (
            "create_branch",
            json!({"owner": OWNER, "repo": REPO, "branch": "b", "from_branch": "../main"}),
            "`from_branch`",
        ),
        ("get_tag", json!({"owner": OWNER, "repo": REPO, "tag": ".."}), "`tag`"),
        // Not a checked argument: the API refuses the URL itself.
        ("get_label", json!({"owner": OWNER, "repo": REPO, "name": ".."}), "`..` path segment"),
    ];
    for (tool, arguments, named) in refused {
        let failure = answer(&client, tool, arguments.clone()).await.expect_err("refused");
        assert!(failure.contains(named), "{tool} {arguments}: {failure}");
    }
    assert!(fixture.take_seen().is_empty(), "nothing reached the API");
    // Dots within names and a directory's trailing slash are fine.
    let listing =
        answer(&client, "get_file_contents", json!({"owner": OWNER, "repo": REPO, "path": "docs/v1.2/"})).await;
    assert!(!listing.as_ref().is_err_and(|e| e.contains("segment")), "{listing:?}");
    assert_eq!(fixture.take_seen().len(), 1, "the listing was asked for");
}

/// A renamed repository: GitHub's 301 to a read and 307 to a write are followed to the new
/// name on the same host, with the token; a redirect to another host, or a 302 to a write, is a
/// tool error naming where the repository went, and nothing is sent there.
#[tokio::test]
async fn redirects_of_renamed_repositories_are_followed_only_on_the_api_host() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let read = json!({"method": "get", "owner": OWNER, "repo": RENAMED_REPO, "issue_number": 1});
    let issue = answer(&client, "issue_read", read.clone()).await.expect("the issue, at its new name");
    let direct =
        answer(&client, "issue_read", json!({"method": "get", "owner": OWNER, "repo": REPO, "issue_number": 1})).await;
    assert_eq!(Ok(issue), direct);
    let comment = json!({"owner": OWNER, "repo": RENAMED_REPO, "issue_number": 1, "body": "moved?"});
    let made = answer(&client, "add_issue_comment", comment).await.expect("the comment, at the new name");
    assert!(made["id"].is_number() || made["url"].is_string(), "{made}");
    let seen = fixture.take_seen();
    let posts: Vec<(&str, Option<&str>)> =
        seen.iter().filter(|s| s.method == "POST").map(|s| (s.path.as_str(), s.authorization.as_deref())).collect();
    assert_eq!(posts.len(), 2, "the 307 repeated the POST: {seen:?}");
    assert_eq!(posts[1].0, format!("/repos/{OWNER}/{REPO}/issues/1/comments"));
    assert!(posts[1].1.is_some(), "the token stays on the API host");

    for (tool, arguments) in [
        ("issue_read", json!({"method": "get", "owner": OWNER, "repo": AWAY_REPO, "issue_number": 1})),
        ("add_issue_comment", json!({"owner": OWNER, "repo": AWAY_REPO, "issue_number": 1, "body": "x"})),
    ] {
        let failure = answer(&client, tool, arguments).await.expect_err("not followed");
        assert!(failure.contains("moved to http://127.0.0.2/"), "{tool}: {failure}");
        assert!(failure.contains("renamed or transferred"), "{tool}: {failure}");
    }
    assert!(fixture.take_seen().iter().all(|s| !s.path.contains(REPO) || s.path.contains(AWAY_REPO)));
}

/// Replacing a symlink needs `allow_symlink_write`; with it, the write goes through.
#[tokio::test]
async fn symlinks_are_overwritten_only_when_allowed() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let mut write = json!({"owner": OWNER, "repo": REPO, "path": SYMLINK, "content": "new", "message": "m",
                           "branch": "main", "sha": "3f5b2a3c7d1e0a9b8c7d6e5f4a3b2c1d0e9f8a7b"});
    let failure = answer(&client, "create_or_update_file", write.clone()).await.expect_err("refused");
    assert!(failure.contains("symbolic link") && failure.contains("allow_symlink_write"), "{failure}");
    assert!(fixture.take_seen().iter().all(|s| s.method == "GET"), "nothing written");
    write["allow_symlink_write"] = json!(true);
    let written = answer(&client, "create_or_update_file", write).await.expect("written when allowed");
    assert_eq!(written["content"]["path"], SYMLINK);
    assert!(fixture.take_seen().iter().any(|s| s.method == "PUT"));
}
