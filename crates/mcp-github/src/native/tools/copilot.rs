//! The reference's `copilot` toolset (on by default): assigning the Copilot coding agent to an
//! issue over GraphQL, and asking Copilot for a pull request review over REST; the opt-in
//! `copilot_issue_intents` toolset's assignment with intent metadata; and `ui_get`, the data
//! MCP Apps forms pick from (labels, assignees, milestones, issue types, branches, issue
//! fields, reviewers), which the reference serves under the feature flag `remote_mcp_ui_apps`.

use std::time::{Duration, SystemTime};

use http::Method;
use serde_json::{Map, Value, json};

use super::{Args, Inner, Query, Spec, With, b, e, issue_links, owner, pick, repo, s, segment, string_at};
use crate::{Error, Result};

/// The login of the Copilot coding agent among a repository's suggested actors.
const COPILOT_AGENT: &str = "copilot-swe-agent";
/// The reviewer login GitHub takes for a Copilot code review.
const COPILOT_REVIEWER: &str = "copilot-pull-request-reviewer[bot]";
/// The feature flag the reference serves `ui_get` under.
pub(crate) const UI_APPS: &str = "remote_mcp_ui_apps";
/// What the reference says when Copilot cannot be assigned in a repository.
const UNAVAILABLE: &str = "copilot isn't available as an assignee for this issue: the repository does not list the \
    Copilot coding agent among the actors that can be assigned (Copilot coding agent may be off for it, or for the \
    token's user). See https://docs.github.com/en/copilot/concepts/agents/cloud-agent/about-cloud-agent";
/// How many times (a second apart) to look for the pull request Copilot opens.
const POLLS: u32 = 3;
/// The most pages of anything `ui_get` reads, 100 items each.
const UI_MAX_PAGES: u64 = 10;

fn number(description: &str) -> Value {
    json!({"type": "number", "description": description})
}

/// The tools of this module.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "assign_copilot_to_issue",
        toolset: "copilot",
        read_only: false,
        title: "Assign Copilot to issue",
        description: "Assigns the Copilot coding agent to an issue: it starts work on a pull request that resolves \
            it. Optionally from a given branch and with extra instructions.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": number("The issue's number"),
                   "base_ref": s("Branch (or other ref) the agent starts from; the default branch when absent"),
                   "custom_instructions": s("Instructions for the agent beyond the issue's body")})
        },
        required: &["owner", "repo", "issue_number"],
    },
    Spec {
        name: "assign_copilot_to_issue_with_intent",
        toolset: "copilot_issue_intents",
        read_only: false,
        title: "Assign Copilot to issue with intent",
        description: "Assigns the Copilot coding agent to an issue, saying why and how sure; with is_suggestion \
            true, only records the proposal (the agent is not started).",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": number("The issue's number"),
                   "base_ref": s("Branch the agent starts from (ignored for a suggestion)"),
                   "custom_instructions": s("Instructions for the agent (ignored for a suggestion)"),
                   "rationale": {"type": "string", "maxLength": 280, "description": "Why Copilot, in one sentence"},
                   "confidence": e("How sure", &["LOW", "MEDIUM", "HIGH"]),
                   "is_suggestion": b("Record a pending suggestion instead of starting the agent")})
        },
        required: &["owner", "repo", "issue_number", "rationale", "confidence", "is_suggestion"],
    },
    Spec {
        name: "request_copilot_review",
        toolset: "copilot",
        read_only: false,
        title: "Request Copilot review",
        description: "Asks Copilot to review a pull request (automated feedback, usually before a human review).",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": number("The pull request's number")}),
        required: &["owner", "repo", "pullNumber"],
    },
    Spec {
        name: "ui_get",
        toolset: "context",
        read_only: true,
        title: "Get UI data",
        description: "Data for MCP Apps forms: a repository's labels, assignees, open milestones, branches, issue \
            fields or possible reviewers, or an organization's issue types.",
        properties: || {
            json!({
                "method": e("What to read", &["labels", "assignees", "milestones", "issue_types", "branches", "issue_fields", "reviewers"]),
                "owner": s("Repository owner (the organization for issue_types)"),
                "repo": s("Repository name (all methods but issue_types)"),
            })
        },
        required: &["method", "owner"],
    },
];

/// Runs tool `name` of this module.
pub(super) async fn call(inner: &Inner, name: &str, a: &Args<'_>) -> Result<Value> {
    match name {
        "assign_copilot_to_issue" => assign(inner, a, None).await,
        "assign_copilot_to_issue_with_intent" => {
            let rationale = a.opt_str("rationale")?.unwrap_or_default().trim().to_owned();
            if rationale.is_empty() {
                return Err(a.bad("`rationale` is required".into()));
            }
            if rationale.chars().count() > 280 {
                return Err(a.bad("`rationale` must be 280 characters or less".into()));
            }
            let confidence = a.str("confidence")?.trim().to_ascii_uppercase();
            if !matches!(confidence.as_str(), "LOW" | "MEDIUM" | "HIGH") {
                return Err(a.bad("`confidence` must be one of LOW, MEDIUM, HIGH".into()));
            }
            let suggestion = a.opt_bool("is_suggestion")?.ok_or_else(|| a.bad("`is_suggestion` is required".into()))?;
            assign(inner, a, Some(Intent { rationale, confidence, suggestion })).await
        }
        "request_copilot_review" => {
            let path = format!("{}/pulls/{}/requested_reviewers", a.repo_path()?, a.num("pullNumber")?);
            inner.api.send(Method::POST, &path, Some(&json!({"reviewers": [COPILOT_REVIEWER]}))).await?;
            Ok(json!(""))
        }
        "ui_get" => ui_get(inner, a).await,
        other => Err(Error::Config(format!("the native server has no tool `{other}`"))),
    }
}

/// Why and how sure an assignment is, and whether it is only proposed.
struct Intent {
    rationale: String,
    confidence: String,
    suggestion: bool,
}

/// The node id of the Copilot coding agent among the repository's actors that can be assigned.
async fn copilot_actor(inner: &Inner, owner: &str, name: &str) -> Result<Option<String>> {
    let query = "query($owner:String!,$name:String!,$endCursor:String){repository(owner:$owner,name:$name){\
        suggestedActors(first:100,after:$endCursor,capabilities:CAN_BE_ASSIGNED){nodes{__typename,...on Bot{id,login}},\
        pageInfo{hasNextPage,endCursor}}}}";
    let mut cursor = Value::Null;
    for _ in 0..20 {
        let vars = json!({"owner": owner, "name": name, "endCursor": cursor});
        let data = inner.api.graphql(owner, query, vars).await?;
        let actors = data.pointer("/repository/suggestedActors").cloned().unwrap_or(Value::Null);
        let bot = actors.pointer("/nodes").and_then(Value::as_array).into_iter().flatten().find(|n| {
            n.get("__typename").and_then(Value::as_str) == Some("Bot")
                && n.get("login").and_then(Value::as_str) == Some(COPILOT_AGENT)
        });
        if let Some(bot) = bot {
            return Ok(Some(string_at(bot, "id")));
        }
        if actors.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool) != Some(true) {
            break;
        }
        cursor = actors.pointer("/pageInfo/endCursor").cloned().unwrap_or(Value::Null);
    }
    Ok(None)
}

/// `assign_copilot_to_issue` (and, with `intent`, its variant with intent metadata): Copilot
/// added to the issue's assignees by `updateIssue` with an agent assignment (GitHub's
/// `issues_copilot_assignment_api_support` schema preview), then a short wait for the pull
/// request it opens.
async fn assign(inner: &Inner, a: &Args<'_>, intent: Option<Intent>) -> Result<Value> {
    let (owner, name, number) = (a.str("owner")?, a.str("repo")?, a.num("issue_number")?);
    let api = &inner.api;
    let Some(bot) = copilot_actor(inner, &owner, &name).await? else {
        return Err(Error::BadArgument { tool: a.tool.to_owned(), message: UNAVAILABLE.into() });
    };
    let query = "query($owner:String!,$name:String!,$number:Int!){repository(owner:$owner,name:$name){id,\
        issue(number:$number){id,assignees(first:100){nodes{id}}}}}";
    let data = api.graphql(&owner, query, json!({"owner": owner, "name": name, "number": number})).await?;
    let repository_id = data.pointer("/repository/id").cloned().unwrap_or(Value::Null);
    let issue_id = data.pointer("/repository/issue/id").cloned().unwrap_or(Value::Null);
    if issue_id.is_null() {
        return Err(a.bad(format!("issue #{number} was not found in {owner}/{name}")));
    }
    let others: Vec<Value> = data
        .pointer("/repository/issue/assignees/nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("id").cloned())
        .filter(|id| id.as_str() != Some(bot.as_str()))
        .collect();
    let suggestion = intent.as_ref().is_some_and(|i| i.suggestion);
    let mut input = json!({"id": issue_id});
    match &intent {
        None => {
            let mut ids = others;
            ids.push(json!(bot));
            input["assigneeIds"] = Value::Array(ids);
        }
        Some(intent) => {
            let mut entries: Vec<Value> = others.into_iter().map(|id| json!({"actorId": id})).collect();
            entries.push(json!({"actorId": bot, "rationale": intent.rationale, "confidence": intent.confidence,
                                "suggest": intent.suggestion}));
            input["assignees"] = Value::Array(entries);
        }
    }
    if !suggestion {
        let text = |key: &str| a.opt_str(key).map(|v| v.unwrap_or_default());
        let mut assignment = json!({"customAgent": "", "customInstructions": text("custom_instructions")?, "targetRepositoryId": repository_id});
        if let Some(base) = a.opt_str("base_ref")?.filter(|r| !r.is_empty()) {
            assignment["baseRef"] = json!(base);
        }
        input["agentAssignment"] = assignment;
    }
    let assigned_at = SystemTime::now();
    let mutation = "mutation($input:UpdateIssueInput!){updateIssue(input:$input){issue{id,number,url}}}";
    let features = if intent.is_some() {
        "issues_copilot_assignment_api_support,update_issue_suggestions"
    } else {
        "issues_copilot_assignment_api_support"
    };
    let done = api.graphql_with_features(&owner, mutation, json!({"input": input}), Some(features)).await?;
    let issue = done.pointer("/updateIssue/issue").cloned().unwrap_or(Value::Null);
    let mut result = Map::new()
        .with("issue_number", issue.get("number").cloned().unwrap_or(json!(number)))
        .with("issue_url", issue.get("url").cloned().unwrap_or(json!("")))
        .with("owner", json!(owner))
        .with("repo", json!(name));
    if intent.is_some() {
        result.insert("is_suggestion".into(), json!(suggestion));
    }
    if suggestion {
        result.insert("message".into(), json!("recorded pending copilot assignment suggestion"));
        return Ok(Value::Object(result));
    }
    match copilot_pull_request(inner, &owner, &name, number, &mcp_core::rfc3339(assigned_at, false)).await {
        Some(pr) => {
            result.insert("pull_request".into(), pr);
            result.insert("message".into(), json!("successfully assigned copilot to issue - pull request created"));
        }
        None => {
            result.insert("message".into(), json!("successfully assigned copilot to issue - pull request pending"));
            result.insert(
                "note".into(),
                json!(
                    "The pull request may still be in progress. Once created, the PR number can be used to check \
                       job status, or check the issue timeline for updates."
                ),
            );
        }
    }
    Ok(Value::Object(result))
}

/// The pull request Copilot opened for the issue at or after `since` (ISO 8601), looked for in
/// the issue's cross references a few times, a second apart.
async fn copilot_pull_request(inner: &Inner, owner: &str, name: &str, number: u64, since: &str) -> Option<Value> {
    let query = "query($owner:String!,$name:String!,$number:Int!){repository(owner:$owner,name:$name){\
        issue(number:$number){timelineItems(first:20,itemTypes:[CROSS_REFERENCED_EVENT]){nodes{__typename,\
        ...on CrossReferencedEvent{source{__typename,...on PullRequest{number,url,title,state,createdAt,author{login}}}}}}}}}";
    for attempt in 0..POLLS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let vars = json!({"owner": owner, "name": name, "number": number});
        let Ok(data) = inner.api.graphql(owner, query, vars).await else { continue };
        let nodes = data.pointer("/repository/issue/timelineItems/nodes").and_then(Value::as_array).cloned();
        let found = nodes.into_iter().flatten().find_map(|node| {
            let pr = node.get("source")?;
            let by_copilot = pr.pointer("/author/login").and_then(Value::as_str) == Some(COPILOT_AGENT);
            let created = pr.get("createdAt").and_then(Value::as_str).unwrap_or("");
            (by_copilot && pr.get("number").is_some_and(Value::is_number) && created >= since)
                .then(|| Value::Object(pick(pr, &["number", "url", "title", "state"])))
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Every item of a REST list, 100 a page, [`UI_MAX_PAGES`] pages at most: the items and whether
/// more were left.
async fn all_pages(inner: &Inner, path: &str, query: &[(&str, &str)]) -> Result<(Vec<Value>, bool)> {
    let mut items = Vec::new();
    for page in 1..=UI_MAX_PAGES {
        let mut q = Query::default();
        for (k, v) in query {
            q.push(k, *v);
        }
        q.push("per_page", "100");
        q.push("page", page.to_string());
        let reply = inner.api.get(&q.on(path)).await?;
        let got = reply.body.as_array().cloned().unwrap_or_default();
        let full = got.len() == 100;
        items.extend(got);
        if !full {
            return Ok((items, false));
        }
    }
    Ok((items, true))
}

/// `ui_get`: what MCP Apps forms offer to pick from, in the reference's shapes.
async fn ui_get(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method =
        a.method(&["labels", "assignees", "milestones", "issue_types", "branches", "issue_fields", "reviewers"])?;
    let owner = a.str("owner")?;
    if method == "issue_types" {
        let types = inner.api.get(&format!("/orgs/{}/issue-types", segment(&owner))).await?.body;
        let types: Vec<Value> = types
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Value::Object(pick(t, &["id", "node_id", "name", "description", "color", "is_enabled"])))
            .collect();
        return Ok(Value::Array(types));
    }
    let repo_path = a.repo_path()?;
    let text = |v: &Value, k: &str| json!(v.get(k).and_then(Value::as_str).unwrap_or(""));
    Ok(match method.as_str() {
        "labels" => {
            let query = "query($owner:String!,$repo:String!,$cursor:String){repository(owner:$owner,name:$repo){\
                labels(first:100,after:$cursor){nodes{id,name,color,description},totalCount,pageInfo{hasNextPage,endCursor}}}}";
            let (mut labels, mut total, mut more, mut cursor) = (Vec::new(), json!(0), false, Value::Null);
            let name = a.str("repo")?;
            for page in 1..=UI_MAX_PAGES {
                let vars = json!({"owner": owner, "repo": name, "cursor": cursor});
                let data = inner.api.graphql(&owner, query, vars).await?;
                let connection = data.pointer("/repository/labels").cloned().unwrap_or(Value::Null);
                for l in connection.pointer("/nodes").and_then(Value::as_array).into_iter().flatten() {
                    labels.push(json!({"id": text(l, "id"), "name": text(l, "name"), "color": text(l, "color"),
                                       "description": text(l, "description")}));
                }
                total = connection.get("totalCount").cloned().unwrap_or(json!(labels.len()));
                if connection.pointer("/pageInfo/hasNextPage").and_then(Value::as_bool) != Some(true) {
                    break;
                }
                if page == UI_MAX_PAGES {
                    more = true;
                    break;
                }
                cursor = connection.pointer("/pageInfo/endCursor").cloned().unwrap_or(Value::Null);
            }
            json!({"labels": labels, "totalCount": total, "has_more": more})
        }
        "assignees" => {
            let (users, more) = all_pages(inner, &format!("{repo_path}/assignees"), &[]).await?;
            let users: Vec<Value> =
                users.iter().map(|u| json!({"login": text(u, "login"), "avatar_url": text(u, "avatar_url")})).collect();
            json!({"assignees": users, "totalCount": users.len(), "has_more": more})
        }
        "milestones" => {
            let (items, more) = all_pages(inner, &format!("{repo_path}/milestones"), &[("state", "open")]).await?;
            let items: Vec<Value> = items
                .iter()
                .map(|m| {
                    let due = m.get("due_on").and_then(Value::as_str).map_or("", |d| d.get(..10).unwrap_or(d));
                    json!({"number": m.get("number"), "title": text(m, "title"), "description": text(m, "description"),
                           "state": text(m, "state"), "open_issues": m.get("open_issues").cloned().unwrap_or(json!(0)),
                           "due_on": due})
                })
                .collect();
            json!({"milestones": items, "totalCount": items.len(), "has_more": more})
        }
        "branches" => {
            let (items, more) = all_pages(inner, &format!("{repo_path}/branches"), &[]).await?;
            let items: Vec<Value> = items
                .iter()
                .map(|br| {
                    json!({"name": text(br, "name"), "sha": br.pointer("/commit/sha").cloned().unwrap_or(json!("")),
                           "protected": br.get("protected").cloned().unwrap_or(json!(false))})
                })
                .collect();
            json!({"branches": items, "totalCount": items.len(), "has_more": more})
        }
        "issue_fields" => {
            let fields = issue_links::fields(inner, a).await?;
            let fields: Vec<Value> = fields
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    let kind = f.get("data_type").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
                    if !matches!(kind.as_str(), "text" | "number" | "date" | "single_select") {
                        return None;
                    }
                    let mut out = json!({"id": text(f, "id"), "name": text(f, "name"), "data_type": kind,
                                         "description": text(f, "description")});
                    if kind == "single_select" {
                        let mut options = f.get("options").and_then(Value::as_array).cloned().unwrap_or_default();
                        // By priority, those without one last, as the reference sorts them.
                        options.sort_by_key(|o| o.get("priority").and_then(Value::as_i64).unwrap_or(i64::MAX));
                        let options: Vec<Value> = options
                            .iter()
                            .map(|o| json!({"name": text(o, "name"), "description": text(o, "description"), "color": text(o, "color")}))
                            .collect();
                        out["options"] = Value::Array(options);
                    }
                    Some(out)
                })
                .collect();
            json!({"fields": fields, "totalCount": fields.len()})
        }
        _ => {
            let (people, more) =
                all_pages(inner, &format!("{repo_path}/collaborators"), &[("affiliation", "all")]).await?;
            let (teams, more_teams) = all_pages(inner, &format!("{repo_path}/teams"), &[]).await?;
            let users: Vec<Value> = people
                .iter()
                .filter(|u| {
                    u.get("type").and_then(Value::as_str) != Some("Bot")
                        && !u.get("login").and_then(Value::as_str).unwrap_or("").ends_with("[bot]")
                })
                .map(|u| json!({"login": text(u, "login"), "avatar_url": text(u, "avatar_url")}))
                .collect();
            let teams: Vec<Value> =
                teams.iter().map(|t| json!({"slug": text(t, "slug"), "name": text(t, "name"), "org": owner})).collect();
            json!({"totalCount": users.len() + teams.len(), "users": users, "teams": teams, "has_more": more || more_teams})
        }
    })
}
