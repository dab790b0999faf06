//! Repositories created, forked, deleted; collaborators; blame; issue fields, dependencies and
//! duplicates. GitHub's API is stood in for by the fixture's stateful fake of the endpoints these
//! tools use (`fixture::repo_and_links`, written to GitHub's documented REST and GraphQL shapes).
//! The Go server 0.12.1 has `create_repository` and `fork_repository` (not the others), so those
//! two are compared against it; the rest run on ours.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mcp_core::protocol::{ClientCapabilities, Era, ErrorObject, JsonObject};
use mcp_core::{ClientOptions, EraPreference, InputHandler};
use mcp_github::native::GitHubConfig;
use mcp_github::{BlameOptions, Dependency, GitHub, ListCollaborators, NewRepository};
use serde_json::{Value, json};

use crate::fixture::{FIRST_REPO_ID, ME, OWNER, REPO, STRANGER, TOKEN};
use crate::support::{both, config, failure_text, held, native_with, ours};

/// The same repository created (in the user's account, public, with a README) and the fake's
/// repository forked through both servers: the same `{id, url}` and the same "in progress"
/// answer to GitHub's 202; ours also creates in an organization (0.12.1 has no `organization`)
/// and reports a taken name as a tool error.
#[tokio::test]
async fn both_create_and_fork_repositories_alike() {
    let (fixture, _guard, backends) = both().await;
    let mut seen = Vec::new();
    for github in &backends {
        fixture.reset();
        let mut scratch = NewRepository::new("scratch");
        scratch.description = Some("For trying things".into());
        scratch.private = Some(false);
        scratch.auto_init = Some(true);
        let created = github.create_repository(&scratch).await.expect("create_repository");
        let forked = github.fork_repository(OWNER, REPO, None).await.expect("fork_repository");
        let posts: Vec<String> =
            fixture.take_seen().into_iter().filter(|s| s.method == "POST").map(|s| s.path).collect();
        seen.push((created, forked, posts, fixture.made_repositories()));
    }
    assert_eq!(seen[0], seen[1]);
    let (created, forked, posts, made) = &seen[1];
    assert_eq!(created.id, (FIRST_REPO_ID + 1).to_string());
    assert_eq!(created.url.as_deref(), Some(format!("https://github.com/{ME}/scratch").as_str()));
    assert_eq!(*forked, None, "GitHub answers 202: the fork is in progress");
    assert_eq!(posts, &["/user/repos".to_owned(), format!("/repos/{OWNER}/{REPO}/forks")]);
    assert_eq!(made, &[format!("{ME}/{REPO}"), format!("{ME}/scratch")]);

    let ours = &backends[1];
    let mut in_org = NewRepository::new("tools");
    in_org.organization = Some(OWNER.into());
    let made = ours.create_repository(&in_org).await.expect("in the organization");
    assert_eq!(made.url.as_deref(), Some(format!("https://github.com/{OWNER}/tools").as_str()));
    let taken = failure_text(ours.create_repository(&NewRepository::new("scratch")).await);
    assert!(taken.contains("422") && taken.contains("name already exists"), "{taken}");
}

/// Answers elicitation with the next of its answers, and keeps what it was asked.
#[derive(Debug, Default)]
struct Person {
    answers: Mutex<Vec<Value>>,
    asked: Mutex<Vec<JsonObject>>,
}

#[async_trait]
impl InputHandler for Person {
    async fn elicit(&self, params: JsonObject) -> Result<Value, ErrorObject> {
        self.asked.lock().expect("not poisoned").push(params);
        let mut answers = self.answers.lock().expect("not poisoned");
        Ok(if answers.is_empty() { json!({"action": "cancel"}) } else { answers.remove(0) })
    }
}

/// Our server seen by a client that can answer elicitation through `user`, in `era`.
async fn with_user(user: &Arc<Person>, era: EraPreference) -> GitHub<Arc<mcp_core::Client>> {
    let fixture = crate::fixture::Fixture::get();
    let options = ClientOptions {
        capabilities: ClientCapabilities::default().with_elicitation(),
        input: Some(user.clone()),
        era,
        ..ClientOptions::default()
    };
    GitHub::new(native_with(config(fixture), options).await)
}

/// `delete_repository` (destructive, hidden in read-only mode) deletes nothing until the user
/// types the exact `owner/repo` into the form the client shows: declined, cancelled or a wrong
/// name keep the repository; the right one deletes it. The same in both protocol eras (a
/// request to the client in the handshake era, an input-required result in `2026-07-28`). A
/// repository that is not there fails before anyone is asked; a client that cannot ask its user
/// gets an error naming the capability.
#[tokio::test]
async fn deleting_a_repository_needs_the_user_to_type_its_name() {
    let (fixture, _guard) = held().await;
    let full = format!("{ME}/scratch");
    for (era, spoken) in [(EraPreference::Handshake, Era::Handshake), (EraPreference::Modern, Era::Modern)] {
        fixture.reset();
        let user = Arc::new(Person::default());
        let github = with_user(&user, era).await;
        assert_eq!(github.client().era(), spoken);
        github.create_repository(&NewRepository::new("scratch")).await.expect("created");
        *user.answers.lock().expect("not poisoned") = vec![
            json!({"action": "decline"}),
            json!({"action": "accept", "content": {"repository_name": format!("{ME}/scratch-not")}}),
            json!({"action": "accept", "content": {"repository_name": full}}),
        ];
        let declined = failure_text(github.delete_repository(ME, "scratch").await);
        assert!(declined.contains("not confirmed") && declined.contains("was not deleted"), "{era:?}: {declined}");
        let wrong = failure_text(github.delete_repository(ME, "scratch").await);
        assert!(wrong.contains("did not match") && wrong.contains(&full), "{era:?}: {wrong}");
        assert_eq!(fixture.made_repositories(), std::slice::from_ref(&full), "{era:?}: still there");
        let deleted = github.delete_repository(ME, "scratch").await.expect("confirmed");
        assert_eq!(deleted, format!("Repository {full} was deleted."));
        assert!(fixture.made_repositories().is_empty(), "{era:?}");
        let asked = user.asked.lock().expect("not poisoned").clone();
        assert_eq!(asked.len(), 3, "{era:?}: asked once per call");
        assert_eq!(asked[0]["mode"], "form");
        assert!(asked[0]["message"].as_str().is_some_and(|m| m.contains(&full)), "{:?}", asked[0]);
        assert_eq!(asked[0]["requestedSchema"]["required"], json!(["repository_name"]));

        let missing = failure_text(github.delete_repository(ME, "never-made").await);
        assert!(missing.contains("404"), "{era:?}: {missing}");
        assert_eq!(user.asked.lock().expect("not poisoned").len(), 3, "{era:?}: nobody asked about a missing one");
    }

    // A client without elicitation cannot confirm: nothing is deleted.
    let plain = GitHub::new(crate::support::native(config(fixture)).await);
    plain.create_repository(&NewRepository::new("kept")).await.expect("created");
    let refused = plain.delete_repository(ME, "kept").await.expect_err("refused").to_string();
    assert!(refused.contains("elicitation"), "{refused}");
    assert_eq!(fixture.made_repositories(), [format!("{ME}/kept")]);

    // Destructive, and hidden in read-only mode with the other writers.
    let tools = plain.client().list_tools().await.expect("tools");
    let delete = tools.iter().find(|t| t.name == "delete_repository").expect("served");
    let hints = delete.annotations.as_ref().expect("annotated");
    assert_eq!((hints.destructive_hint, hints.read_only_hint), (Some(true), Some(false)));
    let mut read_only = config(fixture);
    read_only.read_only = true;
    let names = read_only.enabled_tools().expect("valid");
    for writer in ["delete_repository", "create_repository", "fork_repository", "issue_dependency_write"] {
        assert!(!names.contains(&writer), "{writer} is hidden in read-only mode");
    }
    for reader in ["list_repository_collaborators", "get_file_blame", "list_issue_fields", "find_duplicate"] {
        assert!(names.contains(&reader), "{reader} stays in read-only mode");
    }
}

/// Collaborators with their roles, paged by GitHub's `Link` header, filtered by affiliation.
#[tokio::test]
async fn collaborators_are_listed_by_page_and_affiliation() {
    let (_fixture, _guard, github) = ours().await;
    let everyone = github.list_repository_collaborators(OWNER, REPO, &ListCollaborators::default()).await;
    let everyone = everyone.expect("list_repository_collaborators");
    let logins: Vec<(&str, &str)> = everyone.items.iter().map(|c| (c.login.as_str(), c.role_name.as_str())).collect();
    assert_eq!(logins, [(ME, "admin"), ("octocat", "write"), (STRANGER, "read")]);
    assert_eq!((everyone.next_page, everyone.last_page), (0, 0), "one page");

    let second = ListCollaborators { page: Some(2), per_page: Some(1), ..ListCollaborators::default() };
    let page = github.list_repository_collaborators(OWNER, REPO, &second).await.expect("page 2");
    assert_eq!(page.items.iter().map(|c| c.login.as_str()).collect::<Vec<_>>(), ["octocat"]);
    assert_eq!((page.prev_page, page.next_page, page.first_page, page.last_page), (1, 3, 1, 3));

    let outside = ListCollaborators { affiliation: Some("outside".into()), ..ListCollaborators::default() };
    let page = github.list_repository_collaborators(OWNER, REPO, &outside).await.expect("outside");
    assert_eq!(page.items.iter().map(|c| (c.login.as_str(), c.id)).collect::<Vec<_>>(), [(STRANGER, 2)]);
    let missing =
        failure_text(github.list_repository_collaborators(OWNER, "nope", &ListCollaborators::default()).await);
    assert!(missing.contains("404"), "{missing}");
}

/// A file's blame through GitHub's GraphQL API: ranges with their commits (each once), the
/// default branch named, a window of lines clamped, cursor pages, a tag followed to its
/// commit, and refs and paths that cannot be blamed refused as tool errors.
#[tokio::test]
async fn file_blame_is_read_by_window_and_page() {
    let (fixture, _guard, github) = ours().await;
    let all = github.get_file_blame(OWNER, REPO, "README.md", &BlameOptions::default()).await.expect("blame");
    assert_eq!((all.repository.as_str(), all.reference.as_str()), ("mcptk-fixture/demo", "main"));
    let spans: Vec<(u64, u64, &str)> =
        all.ranges.iter().map(|r| (r.starting_line, r.ending_line, &r.commit_sha[39..])).collect();
    assert_eq!(spans, [(1, 2, "1"), (3, 5, "2"), (6, 6, "1")]);
    assert_eq!(all.commits.len(), 2, "each commit once");
    let first = &all.commits[&all.ranges[0].commit_sha];
    assert_eq!(first.message_headline, "Write the README");
    assert_eq!(first.author.login.as_deref(), Some(ME));
    let second = &all.commits[&all.ranges[1].commit_sha];
    assert_eq!((second.message_headline.as_str(), second.author.login.as_deref()), ("Fix typos", None));
    assert_eq!((all.total_ranges, all.truncated, all.page_info.has_next_page), (3, false, false));
    let requests = fixture.take_seen();
    assert!(requests.iter().all(|r| r.method == "POST" && r.path == "/api/graphql"), "{requests:?}");

    let window = BlameOptions { start_line: Some(4), end_line: Some(6), ..BlameOptions::default() };
    let part = github.get_file_blame(OWNER, REPO, "README.md", &window).await.expect("a window");
    let lines: Vec<(u64, u64)> = part.ranges.iter().map(|r| (r.starting_line, r.ending_line)).collect();
    assert_eq!(lines, [(4, 5), (6, 6)]);

    let one = BlameOptions { per_page: Some(1), ..BlameOptions::default() };
    let page1 = github.get_file_blame(OWNER, REPO, "README.md", &one).await.expect("page 1");
    assert!(page1.page_info.has_next_page && page1.ranges.len() == 1 && page1.commits.len() == 1);
    let next = BlameOptions { after: page1.page_info.end_cursor.clone(), ..one.clone() };
    let page2 = github.get_file_blame(OWNER, REPO, "README.md", &next).await.expect("page 2");
    assert_eq!((page2.ranges[0].starting_line, page2.page_info.has_previous_page), (3, true));

    let tagged = BlameOptions { reference: Some("v1.0".into()), ..BlameOptions::default() };
    let at_tag = github.get_file_blame(OWNER, REPO, "README.md", &tagged).await.expect("through the tag");
    assert_eq!((at_tag.reference.as_str(), at_tag.ranges), ("v1.0", all.ranges.clone()));

    for (reference, path, wanted) in [
        ("v0.9", "README.md", "not a commit"),
        ("nope", "README.md", "was not found"),
        ("main", "/README.md", "relative to the repository root"),
        ("main", "a/../b", "'..'"),
    ] {
        let options = BlameOptions { reference: Some(reference.into()), ..BlameOptions::default() };
        let refused = failure_text(github.get_file_blame(OWNER, REPO, path, &options).await);
        assert!(refused.contains(wanted), "{reference} {path}: {refused}");
    }
    let paged = json!({"owner": OWNER, "repo": REPO, "path": "README.md", "page": 2});
    let refused = github.client().call_tool("get_file_blame", serde_json::from_value(paged).expect("args"));
    let refused = refused.await.expect("answered");
    assert!(refused.is_error() && refused.text_content().contains("cursor"), "{}", refused.text_content());
}

/// Issue fields through GitHub's GraphQL API (asked with the `issue_fields` schema preview,
/// which the fake insists on): the organization's three, the repository's two inherited ones,
/// single-select options, empty descriptions and ids left out as the reference leaves them out.
#[tokio::test]
async fn issue_fields_of_organizations_and_repositories() {
    let (_fixture, _guard, github) = ours().await;
    let org = github.list_issue_fields(OWNER, None).await.expect("the organization's");
    assert_eq!(org.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["Priority", "Due", "Notes"]);
    let repo = github.list_issue_fields(OWNER, Some(REPO)).await.expect("the repository's");
    assert_eq!(repo, org[..2]);
    let priority = &repo[0];
    assert_eq!((priority.data_type.as_str(), priority.full_database_id), ("SINGLE_SELECT", Some(101)));
    let options: Vec<(&str, Option<&str>, Option<i64>)> =
        priority.options.iter().map(|o| (o.name.as_str(), o.description.as_deref(), o.priority)).collect();
    assert_eq!(options, [("P0", Some("Drop everything"), Some(1)), ("P1", None, Some(2))]);
    assert_eq!((repo[1].description.as_deref(), repo[1].options.len()), (None, 0));
    assert_eq!((org[2].full_database_id, org[2].visibility.as_str()), (None, "ORG_ONLY"));
    let raw =
        github.client().call_tool("list_issue_fields", serde_json::from_value(json!({"owner": OWNER})).expect("args"));
    let text = raw.await.expect("answered").text_content();
    assert!(!text.contains("\"description\":\"\"") && !text.contains("\"options\":[]"), "{text}");
    let unknown = failure_text(github.list_issue_fields("nobody", None).await);
    assert!(unknown.contains("GraphQL"), "{unknown}");
}

/// Issue dependencies over GitHub's REST endpoints: added from either side (`blocked_by`,
/// `blocking`), read from either side, an issue refused as its own blocker, and removed.
#[tokio::test]
async fn issue_dependencies_are_added_read_and_removed() {
    let (fixture, _guard, github) = ours().await;
    let here = (OWNER, REPO, 1);
    let added = github.issue_dependency_write(true, here, Dependency::BlockedBy, ("", "", 2)).await.expect("1 after 2");
    assert_eq!(added.message, "dependency added");
    assert_eq!((added.blocked_issue.number, added.blocking_issue.number), (1, 2));
    assert_eq!(added.blocked_issue.state, "OPEN");
    assert_eq!(added.blocking_issue.repository.as_deref(), Some("mcptk-fixture/demo"));
    let five_blocks_one = github
        .issue_dependency_write(true, (OWNER, REPO, 5), Dependency::Blocking, (OWNER, REPO, 1))
        .await
        .expect("5 blocks 1");
    assert_eq!((five_blocks_one.blocked_issue.number, five_blocks_one.blocking_issue.number), (1, 5));
    assert_eq!(fixture.blockers_of(1), [2, 5]);

    let blockers = github.list_issue_dependencies(OWNER, REPO, 1, Dependency::BlockedBy).await.expect("read");
    let numbers: Vec<u64> = blockers.issues.iter().map(|i| i.number).collect();
    assert_eq!((numbers.as_slice(), blockers.page_info.has_next_page), (&[2, 5][..], false));
    assert_eq!(blockers.issues[1].state, "CLOSED");
    let blocked = github.list_issue_dependencies(OWNER, REPO, 2, Dependency::Blocking).await.expect("read");
    assert_eq!(blocked.issues.iter().map(|i| i.number).collect::<Vec<_>>(), [1]);

    let itself = failure_text(github.issue_dependency_write(true, here, Dependency::BlockedBy, ("", "", 1)).await);
    assert!(itself.contains("cannot block or depend on itself"), "{itself}");
    let removed =
        github.issue_dependency_write(false, here, Dependency::BlockedBy, ("", "", 2)).await.expect("removed");
    assert_eq!(removed.message, "dependency removed");
    assert_eq!(fixture.blockers_of(1), [5]);
    let again = failure_text(github.issue_dependency_write(false, here, Dependency::BlockedBy, ("", "", 2)).await);
    assert!(again.contains("404"), "{again}");
}

/// Likely duplicates as GitHub ranks them, cut by a threshold; an unranked answer (GitHub's
/// ranking off for the caller) is a tool error that says so.
#[tokio::test]
async fn duplicates_are_ranked_and_cut_by_threshold() {
    let (_fixture, _guard, github) = ours().await;
    let found = github.find_duplicate(OWNER, REPO, 1, None).await.expect("find_duplicate");
    let ranked: Vec<(u64, &str, bool)> =
        found.iter().map(|c| (c.issue.number, c.confidence.as_str(), c.likely_duplicate)).collect();
    assert_eq!(ranked, [(5, "high", true), (2, "low", false)]);
    assert_eq!((found[0].score, found[0].issue.title.as_str()), (Some(0.92), "Old crash, fixed"));
    assert_eq!(found[0].issue.state, "closed");
    let strict = github.find_duplicate(OWNER, REPO, 1, Some(0.5)).await.expect("with a threshold");
    assert_eq!(strict.iter().map(|c| c.issue.number).collect::<Vec<_>>(), [5]);
    let unranked = failure_text(github.find_duplicate(OWNER, REPO, 5, None).await);
    assert!(unranked.contains("ranked duplicate detection is unavailable"), "{unranked}");
}

/// The tools the reference serves only under a feature flag are hidden (and refused by name)
/// until the flag is on, by `GITHUB_FEATURES` or insiders mode (which leaves
/// `duplicate_detection` off, as the reference does); the default toolsets hold the new
/// repository and issue-field tools.
#[tokio::test]
async fn feature_flags_gate_tools_as_the_reference_does() {
    let (fixture, _guard) = held().await;
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| match name {
            "GITHUB_PERSONAL_ACCESS_TOKEN" => Some(TOKEN.to_owned()),
            other => pairs.iter().find(|(n, _)| *n == other).map(|(_, v)| (*v).to_owned()),
        }
    };
    let names = |config: GitHubConfig| config.enabled_tools().expect("valid");
    let plain = names(GitHubConfig::from_vars(vars(&[])).expect("valid"));
    for tool in ["create_repository", "fork_repository", "delete_repository", "list_repository_collaborators"] {
        assert!(plain.contains(&tool), "{tool} is in the default toolsets");
    }
    assert!(plain.contains(&"list_issue_fields"));
    for gated in ["get_file_blame", "issue_dependency_read", "issue_dependency_write", "find_duplicate"] {
        assert!(!plain.contains(&gated), "{gated} needs its flag");
    }
    let flagged = names(GitHubConfig::from_vars(vars(&[("GITHUB_FEATURES", "file_blame,csv_output")])).expect("valid"));
    assert!(flagged.contains(&"get_file_blame") && !flagged.contains(&"find_duplicate"));
    let insiders = names(GitHubConfig::from_vars(vars(&[("GITHUB_INSIDERS", "true")])).expect("valid"));
    assert!(insiders.contains(&"get_file_blame") && insiders.contains(&"issue_dependency_write"));
    assert!(!insiders.contains(&"find_duplicate"), "duplicate detection stays an explicit choice");

    let mut unflagged = config(fixture);
    unflagged.features.clear();
    let server = mcp_github::native::GitHubServer::new(unflagged).expect("valid");
    let tool = server.tool("get_file_blame").expect("a native tool");
    let args = serde_json::from_value(json!({"owner": OWNER, "repo": REPO, "path": "README.md"})).expect("args");
    let refused = mcp_core::Tool::call(&tool, args, mcp_core::ToolContext::detached()).await.expect_err("refused");
    assert!(refused.message().contains("feature flag `file_blame`"), "{}", refused.message());
    assert!(fixture.take_seen().is_empty(), "GitHub was not asked");
}
