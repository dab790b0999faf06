//! The `copilot` toolset (Copilot assigned to issues, Copilot reviews), `ui_get`, issue field
//! values and intent metadata on the single-purpose issue tools, and the `git`, `stargazers`
//! and `gists` toolsets: ours against the fixture's stateful fake of the REST and GraphQL
//! endpoints they use (`fixture/copilot_gists.rs`, written to GitHub's documented shapes; no
//! recording covers them), and beside GitHub's Go server 0.12.1 where it has the tool
//! (`assign_copilot_to_issue`, `request_copilot_review`, `list_gists`, `create_gist`,
//! `update_gist`).

use mcp_github::{CopilotTask, Dialect, GitHub, IssueChange, IssueFieldValue};
use serde_json::{Value, json};

use crate::fixture::{Fixture, ME, MY_GIST, NO_COPILOT, OWNER, REPO, STRANGER, STRANGER_GIST};
use crate::support::{answer, config, failure_text, go, granular_config, held, native};

fn assignees(fixture: &Fixture, number: u64) -> Vec<String> {
    fixture.issue(number)["assignees"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["login"].as_str().map(str::to_owned))
        .collect()
}

/// Copilot is found among the repository's actors that can be assigned, added to the issue's
/// assignees with the agent assignment (base ref, instructions, target repository), and the pull
/// request it opens is reported; where it is not available the tool says so; the intent variant
/// records a suggestion without starting the agent; a Copilot review is requested by its
/// reviewer login; and read-only mode hides the lot.
#[tokio::test]
async fn copilot_is_assigned_to_issues_and_asked_for_reviews() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let github = GitHub::new(client.clone());

    let task = CopilotTask { base_ref: Some("main".into()), custom_instructions: Some("Keep it small.".into()) };
    let assigned = github.assign_copilot_to_issue(OWNER, REPO, 1, &task).await.expect("assigned");
    assert_eq!(assigned.message, "successfully assigned copilot to issue - pull request created");
    assert_eq!(assigned.issue_number, Some(1));
    let pr = assigned.pull_request.expect("the pull request Copilot opened");
    assert_eq!((pr.number, pr.state.as_str()), (41, "OPEN"));
    assert_eq!(assignees(fixture, 1), ["Copilot"]);
    let sent = fixture.copilot_assignments();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["agentAssignment"],
        json!({"baseRef": "main", "customInstructions": "Keep it small.", "customAgent": "", "targetRepositoryId": "R_4000"})
    );

    let unavailable = failure_text(github.assign_copilot_to_issue(OWNER, NO_COPILOT, 1, &CopilotTask::default()).await);
    assert!(unavailable.contains("copilot isn't available as an assignee"), "{unavailable}");

    let suggested = answer(
        &client,
        "assign_copilot_to_issue_with_intent",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 5, "rationale": "Small, well-scoped fix",
               "confidence": "high", "is_suggestion": true, "base_ref": "ignored"}),
    )
    .await
    .expect("recorded");
    assert_eq!(
        (&suggested["message"], &suggested["is_suggestion"]),
        (&json!("recorded pending copilot assignment suggestion"), &json!(true))
    );
    assert!(assignees(fixture, 5).is_empty(), "a suggestion does not assign");
    let sent = fixture.copilot_assignments();
    assert!(sent[1].get("agentAssignment").is_none(), "{}", sent[1]);
    assert_eq!(
        sent[1]["assignees"],
        json!([{"actorId": crate::fixture::COPILOT_BOT_ID, "rationale": "Small, well-scoped fix", "confidence": "HIGH", "suggest": true}])
    );
    let vague = answer(
        &client,
        "assign_copilot_to_issue_with_intent",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 5, "rationale": "x", "confidence": "SURE", "is_suggestion": false}),
    )
    .await
    .expect_err("refused");
    assert!(vague.contains("LOW, MEDIUM, HIGH"), "{vague}");

    github.request_copilot_review(OWNER, REPO, 3).await.expect("requested");
    assert_eq!(fixture.pull_request()["requested_reviewers"][0]["login"], "copilot-pull-request-reviewer[bot]");
    let missing = failure_text(github.request_copilot_review(OWNER, REPO, 9).await);
    assert!(missing.contains("404"), "{missing}");

    let mut read_only = config(fixture);
    read_only.read_only = true;
    let names = read_only.enabled_tools().expect("valid");
    assert!(!names.contains(&"assign_copilot_to_issue") && !names.contains(&"request_copilot_review"));
    assert!(names.contains(&"ui_get"));
    let defaults = mcp_github::native::GitHubConfig::new("t").enabled_tools().expect("valid");
    assert!(
        defaults.contains(&"assign_copilot_to_issue") && !defaults.contains(&"assign_copilot_to_issue_with_intent")
    );
}

/// The Go server (0.12.1, `replaceActorsForAssignable`) and ours (`updateIssue` with the agent
/// assignment, as current servers) leave the same state: Copilot among issue 1's assignees, and
/// Copilot's reviewer requested on pull request 3.
#[tokio::test]
async fn both_assign_copilot_and_request_its_review_alike() {
    let (fixture, _guard) = held().await;
    let mut seen = Vec::new();
    for (name, github) in [
        ("go", GitHub::with_dialect(go(fixture, &["--toolsets", "all"]).await, Dialect::Legacy)),
        ("native", GitHub::new(native(config(fixture)).await)),
    ] {
        fixture.reset();
        let assigned = github.assign_copilot_to_issue(OWNER, REPO, 1, &CopilotTask::default()).await;
        let assigned = assigned.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(assigned.message.starts_with("successfully assigned copilot to issue"), "{name}: {assigned:?}");
        github.request_copilot_review(OWNER, REPO, 3).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let reviewers = fixture.pull_request()["requested_reviewers"].clone();
        seen.push((assignees(fixture, 1), reviewers));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].0, ["Copilot"]);
}

/// `ui_get` reads each kind of form data in the reference's shapes, is listed only under its
/// feature flag, and carries the MCP Apps visibility in its definition.
#[tokio::test]
async fn ui_get_reads_what_forms_pick_from() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let github = GitHub::new(client.clone());
    let tool = client.list_tools().await.expect("tools").into_iter().find(|t| t.name == "ui_get").expect("listed");
    assert_eq!(tool.meta.as_ref().and_then(|m| m.get("ui")), Some(&json!({"visibility": ["app"]})));

    let labels = github.ui_get("labels", OWNER, Some(REPO)).await.expect("labels");
    assert_eq!(
        (&labels["totalCount"], &labels["has_more"], &labels["labels"][0]["name"]),
        (&json!(2), &json!(false), &json!("bug"))
    );
    assert_eq!(labels["labels"][0]["id"], "LA_bug");
    let people = github.ui_get("assignees", OWNER, Some(REPO)).await.expect("assignees");
    assert_eq!(
        people["assignees"][1],
        json!({"login": "octocat", "avatar_url": "https://avatars.githubusercontent.com/u/5?v=4"})
    );
    let milestones = github.ui_get("milestones", OWNER, Some(REPO)).await.expect("milestones");
    assert_eq!(
        milestones["milestones"],
        json!([{"number": 1, "title": "v1.0", "description": "The first release", "state": "open", "open_issues": 2, "due_on": "2026-12-31"}])
    );
    let branches = github.ui_get("branches", OWNER, Some(REPO)).await.expect("branches");
    assert_eq!(branches["totalCount"], 2);
    assert!(
        branches["branches"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|b| b["name"] == "main" && b["sha"] == crate::fixture::MAIN_SHA)
    );
    let types = github.ui_get("issue_types", OWNER, None).await.expect("issue types");
    assert!(types.as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "Bug")), "{types}");
    let fields = github.ui_get("issue_fields", OWNER, Some(REPO)).await.expect("issue fields");
    assert_eq!(fields["totalCount"], 2);
    assert_eq!(
        fields["fields"][0],
        json!({"id": "IFSS_1", "name": "Priority", "data_type": "single_select", "description": "How urgent it is",
               "options": [{"name": "P0", "description": "Drop everything", "color": "RED"}, {"name": "P1", "description": "", "color": "ORANGE"}]})
    );
    let reviewers = github.ui_get("reviewers", OWNER, Some(REPO)).await.expect("reviewers");
    assert_eq!(reviewers["totalCount"], 5);
    assert_eq!(reviewers["teams"][0], json!({"slug": "core", "name": "Core", "org": OWNER}));
    let no_repo = failure_text(github.ui_get("labels", OWNER, None).await);
    assert!(no_repo.contains("`repo` is required"), "{no_repo}");

    let mut unflagged = config(fixture);
    unflagged.features.retain(|f| f != "remote_mcp_ui_apps");
    assert!(!unflagged.enabled_tools().expect("valid").contains(&"ui_get"));
}

/// Issue field values set through GraphQL with intent metadata (behind GitHub's preview), a
/// field with two values refused before GitHub is asked; intent metadata on the single-purpose
/// issue tools sent in GitHub's object forms, plain values without it.
#[tokio::test]
async fn issue_fields_and_intent_metadata_reach_github() {
    let (fixture, _guard) = held().await;
    let client = native(granular_config(fixture)).await;
    let github = GitHub::with_dialect(client.clone(), Dialect::Granular);

    let priority = IssueFieldValue {
        field_id: "IFSS_1".into(),
        single_select_option_id: Some("IFSSO_1".into()),
        ..IssueFieldValue::default()
    };
    let due = IssueFieldValue {
        field_id: "IFD_2".into(),
        date_value: Some("2026-12-24".into()),
        ..IssueFieldValue::default()
    };
    let written = github.set_issue_fields(OWNER, REPO, 1, &[priority, due]).await.expect("set");
    assert_eq!(
        (written.id.as_str(), written.url.as_deref()),
        ("I_9001", Some("https://github.com/mcptk-fixture/demo/issues/1"))
    );
    let with_intent = answer(
        &client,
        "set_issue_fields",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 1, "fields": [
            {"field_id": "IFSS_1", "single_select_option_id": "IFSSO_2", "rationale": "Reported once", "confidence": "medium", "is_suggestion": true}]}),
    )
    .await
    .expect("set with intent");
    assert_eq!(with_intent["id"], "I_9001");
    assert_eq!(
        fixture.field_values(1),
        [
            json!({"fieldId": "IFSS_1", "singleSelectOptionId": "IFSSO_1"}),
            json!({"fieldId": "IFD_2", "dateValue": "2026-12-24"}),
            json!({"fieldId": "IFSS_1", "singleSelectOptionId": "IFSSO_2", "rationale": "Reported once", "confidence": "MEDIUM", "suggest": true}),
        ]
    );
    fixture.take_seen();
    let two = answer(
        &client,
        "set_issue_fields",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 1, "fields": [{"field_id": "IFT_3", "text_value": "a", "number_value": 2}]}),
    )
    .await
    .expect_err("refused");
    assert!(two.contains("more than one value"), "{two}");
    assert!(fixture.take_seen().is_empty(), "GitHub was not asked");
    let unknown = failure_text(
        github
            .set_issue_fields(
                OWNER,
                REPO,
                1,
                &[IssueFieldValue { field_id: "IFX_9".into(), delete: Some(true), ..IssueFieldValue::default() }],
            )
            .await,
    );
    assert!(unknown.contains("IFX_9"), "{unknown}");

    // Intent metadata on labels, assignees, type and state, in GitHub's object forms.
    let labels = answer(
        &client,
        "update_issue_labels",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 1,
               "labels": ["docs", {"name": "bug", "rationale": "It crashes", "confidence": "HIGH"}]}),
    )
    .await
    .expect("labels with intent");
    assert_eq!(labels["url"], "https://github.com/mcptk-fixture/demo/issues/1");
    let issue = fixture.issue(1);
    let names: Vec<&str> =
        issue["labels"].as_array().into_iter().flatten().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["docs", "bug"]);
    answer(
        &client,
        "update_issue_assignees",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 1, "assignees": [{"login": ME, "is_suggestion": true}]}),
    )
    .await
    .expect("assignees with intent");
    answer(
        &client,
        "update_issue_type",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 1, "issue_type": "Bug", "rationale": "A crash", "confidence": "LOW"}),
    )
    .await
    .expect("type with intent");
    answer(
        &client,
        "update_issue_state",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 2, "state": "closed", "state_reason": "duplicate",
               "duplicate_of": 1, "is_suggestion": true}),
    )
    .await
    .expect("state with intent");
    assert_eq!(
        fixture.intents(),
        [
            ("labels".to_owned(), json!({"name": "bug", "rationale": "It crashes", "confidence": "HIGH"})),
            ("assignees".to_owned(), json!({"login": ME, "suggest": true})),
            ("type".to_owned(), json!({"value": "Bug", "rationale": "A crash", "confidence": "LOW"})),
            ("state".to_owned(), json!({"value": "closed", "suggest": true})),
        ]
    );
    assert_eq!(
        (&fixture.issue(1)["type"]["name"], &fixture.issue(2)["state_reason"]),
        (&json!("Bug"), &json!("duplicate"))
    );
    let orphan = answer(
        &client,
        "update_issue_state",
        json!({"owner": OWNER, "repo": REPO, "issue_number": 2, "state": "closed", "state_reason": "duplicate", "is_suggestion": true}),
    )
    .await
    .expect_err("refused");
    assert!(orphan.contains("`duplicate_of` is required"), "{orphan}");
    // Without metadata the plain form, as before.
    github.change_issue(OWNER, REPO, 1, &IssueChange::Labels(vec!["docs".into()])).await.expect("plain labels");
    assert_eq!(fixture.intents().len(), 4);
}

/// A repository's tree, top level or whole, filtered by prefix; starred repositories listed,
/// starred and unstarred; gists listed, read (their text marked as the owner's), created and
/// updated, another user's gist not writable.
#[tokio::test]
async fn trees_stars_and_gists() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;

    let top = answer(&client, "get_repository_tree", json!({"owner": OWNER, "repo": REPO})).await.expect("tree");
    let paths = |tree: &Value| -> Vec<String> {
        tree["tree"].as_array().into_iter().flatten().filter_map(|e| e["path"].as_str().map(str::to_owned)).collect()
    };
    assert_eq!(paths(&top), ["README.md", "src"]);
    assert_eq!((&top["tree_sha"], &top["recursive"], &top["count"]), (&json!("main"), &json!(false), &json!(2)));
    assert_eq!(
        (&top["tree"][0]["type"], &top["tree"][0]["size"], &top["tree"][1]["type"]),
        (&json!("blob"), &json!(7), &json!("tree"))
    );
    let whole = answer(
        &client,
        "get_repository_tree",
        json!({"owner": OWNER, "repo": REPO, "tree_sha": "feature", "recursive": true, "path_filter": "src/"}),
    )
    .await
    .expect("tree");
    assert_eq!(paths(&whole), ["src/main.rs"]);
    assert_eq!(whole["sha"], "7ee0000000000000000000000000000000000002");
    let missing =
        answer(&client, "get_repository_tree", json!({"owner": OWNER, "repo": REPO, "tree_sha": "nope"})).await;
    assert!(missing.expect_err("a tool error").contains("404"));

    let starred = answer(&client, "list_starred_repositories", json!({})).await.expect("starred");
    assert_eq!(starred[0]["full_name"], format!("{OWNER}/{REPO}"));
    let said =
        answer(&client, "star_repository", json!({"owner": "octocat", "repo": "Hello-World"})).await.expect("starred");
    assert_eq!(said, "Successfully starred repository octocat/Hello-World");
    assert_eq!(fixture.starred(), [format!("{OWNER}/{REPO}"), "octocat/Hello-World".to_owned()]);
    let newest = answer(&client, "list_starred_repositories", json!({"username": ME, "direction": "desc"}))
        .await
        .expect("starred");
    assert_eq!(newest[0]["full_name"], "octocat/Hello-World");
    answer(&client, "unstar_repository", json!({"owner": OWNER, "repo": REPO})).await.expect("unstarred");
    assert_eq!(fixture.starred(), ["octocat/Hello-World"]);
    let unknown = answer(&client, "star_repository", json!({"owner": "nobody", "repo": "nothing"})).await;
    assert!(unknown.expect_err("a tool error").contains("404"));

    let mine = answer(&client, "list_gists", json!({})).await.expect("gists");
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!((&mine[0]["id"], &mine[0]["files"]["hello.rs"]["language"]), (&json!(MY_GIST), &json!("Rust")));
    assert!(mine[0]["files"]["hello.rs"].get("content").is_none(), "lists leave content out");
    let theirs = answer(&client, "list_gists", json!({"username": STRANGER, "since": "2026-11-10T00:00:00Z"}))
        .await
        .expect("gists");
    assert_eq!(theirs[0]["id"], STRANGER_GIST);
    let read = answer(&client, "get_gist", json!({"gist_id": STRANGER_GIST})).await.expect("gist");
    let content = read["files"]["notes.md"]["content"].as_str().unwrap_or("");
    assert!(
        content.starts_with(&format!("[untrusted text by @{STRANGER};")) && content.contains("star every repository"),
        "{content}"
    );
    assert!(read["description"].as_str().is_some_and(|d| d.contains("[untrusted text by @drive-by;")));

    let made = answer(&client, "create_gist", json!({"filename": "a.txt", "content": "first", "description": "Notes"}))
        .await
        .expect("made");
    let id = made["id"].as_str().expect("an id").to_owned();
    assert_eq!(made["url"], format!("https://gist.github.com/{ME}/{id}"));
    assert_eq!(
        (&fixture.gist(&id)["public"], &fixture.gist(&id)["files"]["a.txt"]["content"]),
        (&json!(false), &json!("first"))
    );
    let updated = answer(&client, "update_gist", json!({"gist_id": id, "filename": "b.txt", "content": "second"}))
        .await
        .expect("updated");
    assert_eq!(updated["id"], id.as_str());
    let gist = fixture.gist(&id);
    assert_eq!((&gist["files"]["b.txt"]["content"], &gist["description"]), (&json!("second"), &json!("Notes")));
    let refused =
        answer(&client, "update_gist", json!({"gist_id": STRANGER_GIST, "filename": "x", "content": "y"})).await;
    assert!(refused.expect_err("a tool error").contains("404"));
    let empty = answer(&client, "create_gist", json!({"filename": "a.txt", "content": ""})).await;
    assert!(empty.is_err());
}

/// The Go server (0.12.1) and ours list the user's gists alike and make and change gists with
/// the same effect on the fake (the same gist page named for a new gist).
#[tokio::test]
async fn both_list_create_and_update_gists_alike() {
    let (fixture, _guard) = held().await;
    let mut seen = Vec::new();
    for client in [go(fixture, &["--toolsets", "all"]).await, native(config(fixture)).await] {
        fixture.reset();
        let listed = answer(&client, "list_gists", json!({})).await.expect("listed");
        let ids: Vec<Value> = listed.as_array().into_iter().flatten().map(|g| g["id"].clone()).collect();
        let made = answer(
            &client,
            "create_gist",
            json!({"filename": "a.txt", "content": "first", "description": "Notes", "public": true}),
        )
        .await
        .expect("made");
        let id = made["id"].as_str().expect("an id").to_owned();
        // With the description: 0.12.1 clears it when absent (current servers keep it).
        let update = json!({"gist_id": id, "filename": "a.txt", "content": "second", "description": "Notes"});
        answer(&client, "update_gist", update).await.expect("updated");
        let gist = fixture.gist(&id);
        // 0.12.1 answers with the whole gist (its page as `html_url`), current servers with `{id, url}`.
        let page = made.get("html_url").unwrap_or(&made["url"]).clone();
        seen.push((
            ids,
            page,
            gist["public"].clone(),
            gist["description"].clone(),
            gist["files"]["a.txt"]["content"].clone(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].4, "second");
}

/// `text` without the native server's untrusted-text marks.
fn unmarked(value: &Value) -> Value {
    match value.as_str() {
        Some(text) => json!(mcp_github::strip_untrusted(text)),
        None => value.clone(),
    }
}

/// Discussions listed (in order, by category, by cursor), read with their comments and replies
/// (people's text marked), their categories listed, and comments added, answered, changed,
/// marked as the answer and deleted; in lockdown mode a stranger's discussion is refused and
/// their comments left out.
#[tokio::test]
async fn discussions_are_read_and_commented() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let numbers = |listed: &Value| -> Vec<u64> {
        listed["discussions"].as_array().into_iter().flatten().filter_map(|d| d["number"].as_u64()).collect()
    };

    let listed = answer(&client, "list_discussions", json!({"owner": OWNER, "repo": REPO})).await.expect("listed");
    assert_eq!((numbers(&listed), &listed["totalCount"]), (vec![2, 3, 1], &json!(3)));
    assert_eq!(listed["discussions"][0]["category"]["name"], "Ideas");
    assert_eq!(listed["discussions"][0]["user"]["login"], STRANGER);
    let oldest = answer(
        &client,
        "list_discussions",
        json!({"owner": OWNER, "repo": REPO, "orderBy": "CREATED_AT", "direction": "ASC", "perPage": 2}),
    )
    .await
    .expect("listed");
    assert_eq!(numbers(&oldest), [1, 3]);
    assert_eq!(oldest["pageInfo"]["hasNextPage"], true);
    let after = oldest["pageInfo"]["endCursor"].as_str().expect("a cursor").to_owned();
    let rest = answer(
        &client,
        "list_discussions",
        json!({"owner": OWNER, "repo": REPO, "orderBy": "CREATED_AT", "direction": "ASC", "after": after}),
    )
    .await
    .expect("listed");
    assert_eq!(numbers(&rest), [2]);
    let categories =
        answer(&client, "list_discussion_categories", json!({"owner": OWNER, "repo": REPO})).await.expect("categories");
    assert_eq!(categories["categories"][2], json!({"id": "DIC_3", "name": "Q&A"}));
    let questions = answer(&client, "list_discussions", json!({"owner": OWNER, "repo": REPO, "category": "DIC_3"}))
        .await
        .expect("listed");
    assert_eq!(numbers(&questions), [1]);

    let one = answer(&client, "get_discussion", json!({"owner": OWNER, "repo": REPO, "discussionNumber": 2}))
        .await
        .expect("read");
    assert!(one["body"].as_str().is_some_and(|b| b.starts_with(&format!("[untrusted text by @{STRANGER};"))), "{one}");
    assert_eq!((&one["category"]["name"], &one["isAnswered"]), (&json!("Ideas"), &json!(false)));
    let comments = answer(
        &client,
        "get_discussion_comments",
        json!({"owner": OWNER, "repo": REPO, "discussionNumber": 1, "includeReplies": true}),
    )
    .await
    .expect("comments");
    assert_eq!(comments["totalCount"], 2);
    assert_eq!(comments["comments"][1]["id"], "DC_2");
    assert_eq!(unmarked(&comments["comments"][1]["replies"][0]["body"]), "Thanks, that works.");
    assert_eq!(comments["comments"][1]["replyTotalCount"], 1);

    let added = answer(
        &client,
        "discussion_comment_write",
        json!({"method": "add", "owner": OWNER, "repo": REPO, "discussionNumber": 3, "body": "Hello!"}),
    )
    .await
    .expect("added");
    let id = added["id"].as_str().expect("an id").to_owned();
    assert!(added["url"].as_str().is_some_and(|u| u.contains("/discussions/3#discussioncomment-")), "{added}");
    let replied = answer(
        &client,
        "discussion_comment_write",
        json!({"method": "reply", "owner": OWNER, "repo": REPO, "discussionNumber": 3, "commentNodeID": id, "body": "Hi back"}),
    )
    .await
    .expect("replied");
    let elsewhere = answer(
        &client,
        "discussion_comment_write",
        json!({"method": "reply", "owner": OWNER, "repo": REPO, "discussionNumber": 3, "commentNodeID": "DC_1", "body": "x"}),
    )
    .await
    .expect_err("refused");
    assert!(elsewhere.contains("not a comment of discussion #3"), "{elsewhere}");
    answer(
        &client,
        "discussion_comment_write",
        json!({"method": "update", "commentNodeID": id, "body": "Hello, all!"}),
    )
    .await
    .expect("updated");
    let marked = answer(&client, "discussion_comment_write", json!({"method": "mark_answer", "commentNodeID": "DC_2"}))
        .await
        .expect("marked");
    assert_eq!(
        marked,
        json!({"discussionID": "D_1", "discussionURL": format!("https://github.com/{OWNER}/{REPO}/discussions/1")})
    );
    answer(&client, "discussion_comment_write", json!({"method": "delete", "commentNodeID": replied["id"]}))
        .await
        .expect("deleted");
    let blank = answer(&client, "discussion_comment_write", json!({"method": "delete"})).await.expect_err("refused");
    assert!(blank.contains("commentNodeID"), "{blank}");
    let held_comments: Vec<(String, u64, String, bool, Option<String>)> =
        fixture.discussion_comments().into_iter().filter(|c| c.1 != 1 || c.0 == "DC_2").collect();
    assert_eq!(
        held_comments,
        [
            ("DC_2".to_owned(), 1, "In ~/.config/demo.toml.".to_owned(), true, None),
            (id.clone(), 3, "Hello, all!".to_owned(), false, None),
        ]
    );
    let answered = answer(&client, "get_discussion", json!({"owner": OWNER, "repo": REPO, "discussionNumber": 1}))
        .await
        .expect("read");
    assert_eq!(answered["isAnswered"], true);

    let mut locked = config(fixture);
    locked.lockdown = true;
    let locked = native(locked).await;
    let refused = answer(&locked, "get_discussion", json!({"owner": OWNER, "repo": REPO, "discussionNumber": 2}))
        .await
        .expect_err("refused");
    assert!(refused.contains(STRANGER), "{refused}");
    let shown =
        answer(&locked, "get_discussion_comments", json!({"owner": OWNER, "repo": REPO, "discussionNumber": 1}))
            .await
            .expect("comments");
    let ids: Vec<&str> = shown["comments"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["DC_2"], "the stranger's comment is left out");
}

/// The Go server (0.12.1) and ours list discussions and categories and read a discussion and
/// its comments' text alike (ours with the untrusted-text marks taken off; 0.12.1 gives no
/// comment node ids).
#[tokio::test]
async fn both_read_discussions_alike() {
    let (fixture, _guard) = held().await;
    let mut seen = Vec::new();
    for client in [go(fixture, &["--toolsets", "all"]).await, native(config(fixture)).await] {
        let listed = answer(
            &client,
            "list_discussions",
            json!({"owner": OWNER, "repo": REPO, "orderBy": "CREATED_AT", "direction": "ASC"}),
        )
        .await
        .expect("listed");
        let items = listed.get("discussions").unwrap_or(&listed).clone();
        let discussions: Vec<(Value, Value, Value)> = items
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["number"].clone(), d["title"].clone(), d["category"]["name"].clone()))
            .collect();
        let categories = answer(&client, "list_discussion_categories", json!({"owner": OWNER, "repo": REPO}))
            .await
            .expect("categories");
        let categories = categories.get("categories").unwrap_or(&categories).clone();
        let one = answer(&client, "get_discussion", json!({"owner": OWNER, "repo": REPO, "discussionNumber": 1}))
            .await
            .expect("read");
        let one =
            (one["number"].clone(), one["title"].clone(), unmarked(&one["body"]), one["category"]["name"].clone());
        let comments =
            answer(&client, "get_discussion_comments", json!({"owner": OWNER, "repo": REPO, "discussionNumber": 1}))
                .await
                .expect("comments");
        let comments: Vec<Value> = comments
            .get("comments")
            .unwrap_or(&comments)
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| unmarked(&c["body"]))
            .collect();
        seen.push((discussions, categories, one, comments));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].0.len(), 3);
}
