//! The `projects` toolset (GitHub Projects, the second version): `projects_list`,
//! `projects_get` and `projects_write`, ours against the fixture's stateful fake of the REST and
//! GraphQL endpoints they use (`fixture/projects.rs`, written to GitHub's documented shapes; no
//! recording covers Projects). GitHub's Go server 0.12.1, the one `agree.rs` runs, has no
//! projects toolset, so there is nothing to agree with.

use serde_json::{Value, json};

use crate::fixture::{Fixture, ME, OWNER, REPO, STATUS_INJECTION, STRANGER, TOKEN};
use crate::support::{answer, args, config, held, native};

/// The paths (with queries) of the REST requests the fixture saw since the last look.
fn rest_paths(fixture: &Fixture) -> Vec<String> {
    fixture
        .take_seen()
        .into_iter()
        .filter(|s| s.path != "/api/graphql")
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

/// The arguments of the GraphQL fields named `name` the fake was asked for.
fn calls(fixture: &Fixture, name: &str) -> Vec<Value> {
    fixture.project_calls().into_iter().filter(|(n, _)| n == name).map(|(_, a)| a).collect()
}

fn titles(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            i.pointer("/content/title").or_else(|| i.get("title")).and_then(Value::as_str).unwrap_or("").to_owned()
        })
        .collect()
}

/// The value of field `name` among an item's `fields`.
fn value_of<'i>(item: &'i Value, name: &str) -> Option<&'i Value> {
    item["fields"].as_array()?.iter().find(|f| f["name"] == name).map(|f| &f["value"])
}

/// Projects of an organization and of a user are listed (both kinds when owner_type is absent),
/// filtered and paged by cursor; one project, its fields, items (with the field values asked
/// for, by id or by name), status updates and views are read, the owner's kind found out when
/// not given; and the requests carry what GitHub documents.
#[tokio::test]
async fn projects_and_their_parts_are_listed_and_read() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let list = |a: Value| answer(&client, "projects_list", a);
    let get = |a: Value| answer(&client, "projects_get", a);

    let org = list(json!({"method": "list_projects", "owner": OWNER, "owner_type": "org"})).await.expect("listed");
    assert_eq!(titles(&org["projects"]), ["Roadmap", "Old plans"]);
    assert_eq!(org["projects"][0]["owner_type"], "org");
    assert_eq!(org["projects"][0]["owner"]["login"], OWNER);
    assert_eq!(
        org["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": false, "nextCursor": "", "prevCursor": ""})
    );
    assert_eq!(rest_paths(fixture), [format!("GET /orgs/{OWNER}/projectsV2?per_page=50")]);

    // Filtered, and paged by the cursor in GitHub's Link header.
    let open = list(json!({"method": "list_projects", "owner": OWNER, "owner_type": "org", "query": "is:open"}))
        .await
        .expect("listed");
    assert_eq!(titles(&open["projects"]), ["Roadmap"]);
    let first = list(json!({"method": "list_projects", "owner": OWNER, "owner_type": "org", "per_page": 1}))
        .await
        .expect("listed");
    assert_eq!(titles(&first["projects"]), ["Roadmap"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let cursor = first["pageInfo"]["nextCursor"].as_str().expect("a cursor").to_owned();
    let second =
        list(json!({"method": "list_projects", "owner": OWNER, "owner_type": "org", "per_page": 1, "after": cursor}))
            .await
            .expect("listed");
    assert_eq!(titles(&second["projects"]), ["Old plans"]);
    assert_eq!(second["pageInfo"]["hasPreviousPage"], true);
    let seen = rest_paths(fixture);
    assert!(seen[0].ends_with("projectsV2?q=is%3Aopen&per_page=50"), "{seen:?}");
    assert!(seen[2].contains("per_page=1&after="), "{seen:?}");
    let too_many = list(json!({"method": "list_projects", "owner": OWNER, "owner_type": "org", "per_page": 51}))
        .await
        .expect_err("refused");
    assert!(too_many.contains("`per_page` must be between 1 and 50"), "{too_many}");

    // Without owner_type, both kinds are asked; the user's answer, the organization's 404 does not fail it.
    let mine = list(json!({"method": "list_projects", "owner": ME})).await.expect("listed");
    assert_eq!(titles(&mine["projects"]), ["Personal"]);
    assert_eq!(mine["projects"][0]["owner_type"], "user");
    assert!(mine["note"].as_str().is_some_and(|n| n.contains("owner_type")), "{mine}");
    assert_eq!(
        rest_paths(fixture),
        [format!("GET /users/{ME}/projectsV2?per_page=50"), format!("GET /orgs/{ME}/projectsV2?per_page=50")]
    );
    let nobody = list(json!({"method": "list_projects", "owner": "nobody-here"})).await.expect_err("refused");
    assert!(nobody.contains("neither a user nor an organization"), "{nobody}");
    assert_eq!(
        rest_paths(fixture),
        ["GET /users/nobody-here/projectsV2?per_page=50", "GET /orgs/nobody-here/projectsV2?per_page=50"]
    );

    // One project: the owner's kind found out from its account.
    let roadmap = get(json!({"method": "get_project", "owner": OWNER, "project_number": 1})).await.expect("read");
    assert_eq!(
        (roadmap["title"].as_str(), roadmap["number"].as_u64(), roadmap["public"].as_bool()),
        (Some("Roadmap"), Some(1), Some(true))
    );
    assert_eq!(roadmap["node_id"], "PVT_71");
    assert_eq!(rest_paths(fixture), [format!("GET /users/{OWNER}"), format!("GET /orgs/{OWNER}/projectsV2/1")]);
    // A failure other than "not found" while telling the kind of account is the answer, as is.
    let outage =
        get(json!({"method": "get_project", "owner": "flaky-account", "project_number": 1})).await.expect_err("fails");
    assert!(outage.contains("502") && outage.contains("Server Error"), "{outage}");
    assert_eq!(rest_paths(fixture), ["GET /users/flaky-account"], "no probing after an outage");
    let missing = get(json!({"method": "get_project", "owner": OWNER, "owner_type": "org", "project_number": 9}))
        .await
        .expect_err("a tool error");
    assert!(missing.contains("404") && missing.contains("Not Found"), "{missing}");

    // Fields.
    let fields =
        list(json!({"method": "list_project_fields", "owner": OWNER, "owner_type": "org", "project_number": 1}))
            .await
            .expect("listed");
    let names: Vec<&str> =
        fields["fields"].as_array().expect("a list").iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["Title", "Status", "Estimate", "Notes"]);
    let status = get(json!({"method": "get_project_field", "owner": OWNER, "owner_type": "org", "project_number": 1, "field_id": 102}))
        .await
        .expect("read");
    assert_eq!(status["data_type"], "single_select");
    assert_eq!(status["options"][2]["id"], "opt_done");
    rest_paths(fixture);

    // Items: only titles unless field values are asked for, by id or by name.
    let bare = list(json!({"method": "list_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1}))
        .await
        .expect("listed");
    assert_eq!(titles(&bare["items"]), ["Crash on start"]);
    let item = &bare["items"][0];
    assert_eq!((item["id"].as_u64(), item["content_type"].as_str()), (Some(1001), Some("Issue")));
    assert_eq!(item["content"]["repository"], format!("{OWNER}/{REPO}"));
    assert_eq!(item["content"]["number"], 1);
    assert_eq!(value_of(item, "Title"), Some(&json!("Crash on start")));
    assert_eq!(value_of(item, "Status"), None);
    let named = list(json!({"method": "list_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                            "field_names": ["status", "Estimate"], "query": "status:todo"}))
    .await
    .expect("listed");
    assert_eq!(value_of(&named["items"][0], "Status"), Some(&json!("Todo")));
    assert_eq!(value_of(&named["items"][0], "Estimate"), Some(&json!(3)));
    let seen = rest_paths(fixture);
    assert!(
        seen.iter().any(|p| p.ends_with("/projectsV2/1/fields?per_page=50")),
        "names resolved with the field list: {seen:?}"
    );
    assert!(
        seen.last().is_some_and(|p| p.ends_with("/items?q=status%3Atodo&fields=102%2C103&per_page=50")),
        "{seen:?}"
    );
    let done = list(json!({"method": "list_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1, "query": "status:done"}))
        .await
        .expect("listed");
    assert_eq!(done["items"], json!([]));
    let unknown =
        list(json!({"method": "list_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                              "field_names": ["Priority"]}))
        .await
        .expect_err("refused");
    assert!(unknown.contains("no field named \"Priority\"") && unknown.contains("Estimate"), "{unknown}");
    let both = list(json!({"method": "list_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                           "fields": ["102"], "field_names": ["Status"]}))
    .await
    .expect_err("refused");
    assert!(both.contains("not both"), "{both}");
    let one = get(json!({"method": "get_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                         "item_id": 1001, "fields": ["103"]}))
    .await
    .expect("read");
    assert_eq!(value_of(&one, "Estimate"), Some(&json!(3)));
    assert!(rest_paths(fixture).last().is_some_and(|p| p.ends_with("/projectsV2/1/items/1001?fields=103")));

    // Status updates and views, over GraphQL; a stranger's text marked as untrusted.
    let updates = list(
        json!({"method": "list_project_status_updates", "owner": OWNER, "owner_type": "org", "project_number": 1}),
    )
    .await
    .expect("listed");
    let update = &updates["statusUpdates"][0];
    assert_eq!((update["id"].as_str(), update["status"].as_str()), (Some("PVTSU_1"), Some("AT_RISK")));
    let body = update["body"].as_str().expect("a body");
    assert!(body.contains(STATUS_INJECTION) && body.contains(&format!("[untrusted text by @{STRANGER}")), "{body}");
    assert_eq!(update["creator"]["login"], STRANGER);
    let by_id = get(json!({"method": "get_project_status_update", "status_update_id": "PVTSU_1"})).await.expect("read");
    assert_eq!(&by_id, update);
    let views = list(json!({"method": "list_project_views", "owner": OWNER, "project_number": 1, "per_page": 10}))
        .await
        .expect("listed");
    let board = json!({"id": "PVTV_1", "number": 1, "name": "Board", "layout": "board", "filter": "is:open", "visible_fields": [101, 102]});
    assert_eq!(views["views"], json!([board]));
    assert_eq!(views["pageInfo"]["hasNextPage"], false);
    assert_eq!(get(json!({"method": "get_project_view", "view_id": "PVTV_1"})).await.expect("read"), board);
    let not_a_view = get(json!({"method": "get_project_view", "view_id": "PVTSU_1"})).await.expect_err("refused");
    assert!(not_a_view.contains("not a project view"), "{not_a_view}");
    assert!(calls(fixture, "organization").iter().all(|a| a == &json!({"login": OWNER})));
    assert!(calls(fixture, "projectV2").iter().all(|a| a == &json!({"number": 1})));
    assert_eq!(
        calls(fixture, "statusUpdates"),
        [json!({"first": 50, "after": null, "orderBy": {"field": "CREATED_AT", "direction": "DESC"}})]
    );
    assert_eq!(calls(fixture, "views"), [json!({"first": 10, "after": null, "last": null, "before": null})]);
    let nodes = calls(fixture, "node");
    assert!(nodes.contains(&json!({"id": "PVTSU_1"})) && nodes.contains(&json!({"id": "PVTV_1"})), "{nodes:?}");

    // A project that does not exist, over GraphQL.
    let gone = list(json!({"method": "list_project_views", "owner": OWNER, "owner_type": "org", "project_number": 9}))
        .await
        .expect_err("a tool error");
    assert!(gone.contains("Could not resolve to a ProjectV2 with the number 9"), "{gone}");
    assert!(!gone.contains(TOKEN));
}

/// Items are added (issues and pull requests), changed by id or by issue, by field id or name
/// (a single-select option by its name), many at once with each outcome reported, and deleted;
/// every change shows in later reads, and what GitHub refuses comes back as a tool error.
#[tokio::test]
async fn project_items_are_added_changed_and_deleted() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let write = |a: Value| answer(&client, "projects_write", a);
    let items = || async {
        let listed = answer(
            &client,
            "projects_list",
            json!({"method": "list_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                   "field_names": ["Status", "Estimate"]}),
        )
        .await
        .expect("listed");
        listed["items"].as_array().cloned().unwrap_or_default()
    };

    let added = write(json!({"method": "add_project_item", "owner": OWNER, "project_number": 1, "item_type": "issue",
                             "item_owner": OWNER, "item_repo": REPO, "issue_number": 2}))
    .await
    .expect("added");
    let issue_item = added["item_id"].as_u64().expect("the item's id");
    let issue_node = added["id"].as_str().expect("the item's node id").to_owned();
    assert!(added["message"].as_str().is_some_and(|m| m.contains(&format!("{OWNER}/{REPO}#2"))), "{added}");
    let add = calls(fixture, "addProjectV2ItemById");
    assert_eq!(add, [json!({"input": {"projectId": "PVT_71", "contentId": "I_9002"}})]);
    let pr = write(json!({"method": "add_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                          "item_type": "pull_request", "item_owner": OWNER, "item_repo": REPO, "pull_request_number": 3}))
    .await
    .expect("added");
    let pr_item = pr["item_id"].as_u64().expect("the item's id");
    let now = items().await;
    assert_eq!(titles(&Value::Array(now.clone())), ["Crash on start", "Please read", "Add a greeting"]);
    assert_eq!(now[2]["content_type"], "PullRequest");
    let no_number =
        write(json!({"method": "add_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                                 "item_type": "issue", "item_owner": OWNER, "item_repo": REPO}))
        .await
        .expect_err("refused");
    assert!(no_number.contains("`issue_number` is required when item_type is issue"), "{no_number}");

    // One item: a single-select option by name, a number by field id, the item found by its issue.
    fixture.take_seen();
    let changed =
        write(json!({"method": "update_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                               "item_id": issue_item, "updated_field": {"name": "status", "value": "done"}}))
        .await
        .expect("changed");
    assert_eq!(value_of(&changed, "Status"), Some(&json!("Done")));
    let patched: Vec<_> = fixture.take_seen().into_iter().filter(|s| s.method == "PATCH").map(|s| s.path).collect();
    assert_eq!(patched, [format!("/orgs/{OWNER}/projectsV2/1/items/{issue_item}")]);
    write(json!({"method": "update_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                 "item_owner": OWNER, "item_repo": REPO, "issue_number": 2, "updated_field": {"id": 103, "value": 8}}))
    .await
    .expect("changed");
    let now = items().await;
    assert_eq!((value_of(&now[1], "Status"), value_of(&now[1], "Estimate")), (Some(&json!("Done")), Some(&json!(8))));
    let cleared =
        write(json!({"method": "update_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                               "item_id": issue_item, "updated_field": {"id": 103, "value": null}}))
        .await
        .expect("cleared");
    assert_eq!(value_of(&cleared, "Estimate"), Some(&Value::Null));

    // What GitHub refuses, and what is refused before asking it.
    let refused =
        write(json!({"method": "update_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                               "item_id": issue_item, "updated_field": {"id": 102, "value": "Blocked"}}))
        .await
        .expect_err("a tool error");
    assert!(refused.contains("422") && refused.contains("not a valid value"), "{refused}");
    fixture.take_seen();
    let no_option =
        write(json!({"method": "update_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                                 "item_id": issue_item, "updated_field": {"name": "Status", "value": "Blocked"}}))
        .await
        .expect_err("refused");
    assert!(no_option.contains("no option \"Blocked\"") && no_option.contains("In Progress"), "{no_option}");
    assert!(fixture.take_seen().iter().all(|s| s.method == "GET"), "nothing was changed");
    let no_item = write(json!({"method": "update_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1,
                               "item_owner": OWNER, "item_repo": REPO, "issue_number": 5, "updated_field": {"id": 103, "value": 1}}))
    .await
    .expect_err("refused");
    assert!(no_item.contains("is not an item of this project"), "{no_item}");
    let missing = answer(
        &client,
        "projects_get",
        json!({"method": "get_project_item", "owner": OWNER, "owner_type": "org",
                                                         "project_number": 1, "item_id": 999}),
    )
    .await
    .expect_err("a tool error");
    assert!(missing.contains("404"), "{missing}");

    // Many at once, by each way of naming an item; the one not in the project fails alone.
    let batch =
        write(json!({"method": "update_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                             "updated_field": {"name": "Status", "value": "In Progress"},
                             "items": [{"item_id": 1001}, {"node_id": issue_node},
                                       {"item_owner": OWNER, "item_repo": REPO, "issue_number": 5}]}))
        .await
        .expect("updated");
    assert_eq!(
        (batch["total"].as_u64(), batch["succeeded"].as_u64(), batch["failed"].as_u64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(batch["results"][1]["item"]["item_id"].as_u64(), Some(issue_item));
    assert_eq!(batch["results"][2]["status"], "failed");
    assert!(batch["results"][2]["error"]["message"].as_str().is_some_and(|m| m.contains("not an item")), "{batch}");
    let now = items().await;
    assert_eq!(value_of(&now[0], "Status"), Some(&json!("In Progress")));
    assert_eq!(value_of(&now[1], "Status"), Some(&json!("In Progress")));
    let none =
        write(json!({"method": "update_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                            "updated_field": {"id": 103, "value": 2}, "items": [{"node_id": "PVTI_404"}]}))
        .await
        .expect_err("nothing updated");
    assert!(none.contains("no item was updated"), "{none}");
    let mixed =
        write(json!({"method": "update_project_items", "owner": OWNER, "owner_type": "org", "project_number": 1,
                             "updated_field": {"id": 103, "value": 2}, "items": [{"item_id": 1001, "node_id": "x"}]}))
        .await
        .expect_err("refused");
    assert!(mixed.contains("an item is"), "{mixed}");

    // Deleted.
    let deleted = write(json!({"method": "delete_project_item", "owner": OWNER, "owner_type": "org", "project_number": 1, "item_id": pr_item}))
        .await
        .expect("deleted");
    assert_eq!(deleted, "project item successfully deleted");
    assert_eq!(titles(&Value::Array(items().await)), ["Crash on start", "Please read"]);
}

/// Status updates, views (made, changed, refused for another project, deleted), projects and
/// iteration fields are made over GraphQL with the inputs GitHub documents, and show in later
/// reads.
#[tokio::test]
async fn status_updates_views_projects_and_iteration_fields_are_made() {
    let (fixture, _guard) = held().await;
    let client = native(config(fixture)).await;
    let write = |a: Value| answer(&client, "projects_write", a);
    let list = |a: Value| answer(&client, "projects_list", a);
    let get = |a: Value| answer(&client, "projects_get", a);

    let update = write(json!({"method": "create_project_status_update", "owner": OWNER, "project_number": 1,
                              "body": "Back on track.", "status": "ON_TRACK", "target_date": "2026-12-24"}))
    .await
    .expect("made");
    assert_eq!((update["status"].as_str(), update["target_date"].as_str()), (Some("ON_TRACK"), Some("2026-12-24")));
    assert_eq!(
        calls(fixture, "createProjectV2StatusUpdate"),
        [
            json!({"input": {"projectId": "PVT_71", "body": "Back on track.", "status": "ON_TRACK", "targetDate": "2026-12-24"}})
        ]
    );
    let updates = list(json!({"method": "list_project_status_updates", "owner": OWNER, "project_number": 1}))
        .await
        .expect("listed");
    assert_eq!(updates["statusUpdates"][0]["id"], update["id"], "newest first");
    assert_eq!(updates["statusUpdates"].as_array().map(Vec::len), Some(2));
    let bad_date = write(json!({"method": "create_project_status_update", "owner": OWNER, "project_number": 1, "start_date": "24/12/2026"}))
        .await
        .expect_err("refused");
    assert!(bad_date.contains("`start_date` must be a date written YYYY-MM-DD"), "{bad_date}");

    // A view, its fields by name, its filter set by a change after it is made.
    let view = write(json!({"method": "create_project_view", "owner": OWNER, "owner_type": "org", "project_number": 1,
                            "name": "Sizes", "layout": "table", "visible_field_names": ["Title", "estimate"], "filter": "status:Todo"}))
    .await
    .expect("made");
    assert_eq!(
        (view["name"].as_str(), view["layout"].as_str(), view["filter"].as_str()),
        (Some("Sizes"), Some("table"), Some("status:Todo"))
    );
    assert_eq!(view["visible_fields"], json!([101, 103]));
    let id = view["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        calls(fixture, "createProjectV2View"),
        [json!({"input": {"projectId": "PVT_71", "name": "Sizes", "layout": "TABLE_LAYOUT",
                          "configuration": {"visibleFieldIds": ["PVTF_101", "PVTF_103"]}}})]
    );
    assert_eq!(calls(fixture, "updateProjectV2View"), [json!({"input": {"viewId": id, "filter": "status:Todo"}})]);
    assert_eq!(get(json!({"method": "get_project_view", "view_id": id})).await.expect("read"), view);

    let changed = write(json!({"method": "update_project_view", "owner": OWNER, "project_number": 1, "view_id": id,
                               "name": "Sizes (board)", "layout": "board", "filter": null, "visible_fields": ["102", "101"]}))
    .await
    .expect("changed");
    assert_eq!(changed["filter"], "");
    assert_eq!(changed["layout"], "board");
    assert_eq!(changed["visible_fields"], json!([102, 101]));
    let listed =
        list(json!({"method": "list_project_views", "owner": OWNER, "project_number": 1})).await.expect("listed");
    assert_eq!(listed["views"][1], changed);
    let roadmap = write(json!({"method": "update_project_view", "owner": OWNER, "project_number": 1, "view_id": id,
                               "layout": "roadmap", "visible_fields": ["101"]}))
    .await
    .expect_err("refused");
    assert!(roadmap.contains("roadmap views take no visible fields"), "{roadmap}");
    let elsewhere = write(json!({"method": "delete_project_view", "owner": ME, "project_number": 1, "view_id": id}))
        .await
        .expect_err("refused");
    assert!(elsewhere.contains("is not a view of project 1"), "{elsewhere}");
    let nothing = write(json!({"method": "update_project_view", "owner": OWNER, "project_number": 1, "view_id": id}))
        .await
        .expect_err("refused");
    assert!(nothing.contains("needs at least one of"), "{nothing}");
    let deleted = write(json!({"method": "delete_project_view", "owner": OWNER, "project_number": 1, "view_id": id}))
        .await
        .expect("deleted");
    assert_eq!(deleted, json!({"deleted_view_id": id}));
    let gone = get(json!({"method": "get_project_view", "view_id": id})).await.expect_err("gone");
    assert!(gone.contains("not a project view, or it was not found"), "{gone}");

    // A project, for the user, readable afterwards.
    let made = write(json!({"method": "create_project", "owner": ME, "owner_type": "user", "title": "Side project"}))
        .await
        .expect("made");
    assert_eq!((made["number"].as_u64(), made["title"].as_str()), (Some(2), Some("Side project")));
    assert_eq!(calls(fixture, "createProjectV2"), [json!({"input": {"ownerId": "U_1", "title": "Side project"}})]);
    let read = get(json!({"method": "get_project", "owner": ME, "project_number": 2})).await.expect("read");
    assert_eq!(read["title"], "Side project");
    let kindless = write(json!({"method": "create_project", "owner": ME, "title": "x"})).await.expect_err("refused");
    assert!(kindless.contains("`owner_type` is required for create_project"), "{kindless}");

    // An iteration field: GitHub's three default iterations, or the ones given.
    let sprint = write(json!({"method": "create_iteration_field", "owner": OWNER, "project_number": 1,
                              "field_name": "Sprint", "iteration_duration": 14, "start_date": "2026-12-28"}))
    .await
    .expect("made");
    assert_eq!(sprint["name"], "Sprint");
    let starts: Vec<&str> = sprint["configuration"]["iterations"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["start_date"].as_str())
        .collect();
    assert_eq!(starts, ["2026-12-28", "2027-01-11", "2027-01-25"]);
    assert_eq!(
        calls(fixture, "updateProjectV2Field"),
        [
            json!({"input": {"fieldId": sprint["id"], "iterationConfiguration": {"duration": 14, "startDate": "2026-12-28", "iterations": []}}})
        ]
    );
    let custom =
        write(json!({"method": "create_iteration_field", "owner": OWNER, "project_number": 1, "field_name": "Cycle",
                              "iteration_duration": 7, "start_date": "2027-01-04",
                              "iterations": [{"title": "Kick-off", "start_date": "2027-01-04", "duration": 3}]}))
        .await
        .expect("made");
    assert_eq!(custom["configuration"]["iterations"][0]["title"], "Kick-off");
    let fields =
        list(json!({"method": "list_project_fields", "owner": OWNER, "project_number": 1})).await.expect("listed");
    let names: Vec<&str> =
        fields["fields"].as_array().expect("a list").iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["Title", "Status", "Estimate", "Notes", "Sprint", "Cycle"]);
    let twice = write(json!({"method": "create_iteration_field", "owner": OWNER, "project_number": 1,
                             "field_name": "sprint", "iteration_duration": 7, "start_date": "2027-01-04"}))
    .await
    .expect_err("a tool error");
    assert!(twice.contains("Name has already been taken"), "{twice}");
}

/// The toolset is off by default (as in the reference), on when named, and read-only mode keeps
/// the two reading tools and refuses the writing one before GitHub is asked.
#[tokio::test]
async fn the_projects_toolset_is_opt_in_and_read_only_mode_hides_its_writes() {
    let (fixture, _guard) = held().await;
    let defaults = mcp_github::native::GitHubConfig::new(TOKEN).enabled_tools().expect("valid");
    assert!(!defaults.iter().any(|t| t.starts_with("projects_")), "{defaults:?}");
    let mut only = config(fixture);
    only.toolsets = vec!["projects".into()];
    assert_eq!(only.enabled_tools().expect("valid"), ["projects_get", "projects_list", "projects_write"]);
    only.read_only = true;
    assert_eq!(only.enabled_tools().expect("valid"), ["projects_get", "projects_list"]);
    let client = native(only).await;
    let mut listed: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    listed.sort();
    assert_eq!(listed, ["projects_get", "projects_list"]);
    let refused = client
        .call_tool(
            "projects_write",
            args(json!({"method": "delete_project_item", "owner": OWNER, "project_number": 1, "item_id": 1001})),
        )
        .await
        .expect_err("not served");
    assert!(refused.to_string().contains("unknown tool `projects_write`"), "{refused}");
    assert!(fixture.take_seen().is_empty(), "no request reached GitHub");
}
