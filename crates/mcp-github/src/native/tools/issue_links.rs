//! What an issue relates to beyond its own text: the issue fields it can carry (GraphQL, as
//! the reference asks them), the issues that block it or that it blocks, and its likely
//! duplicates.

use http::Method;
use serde_json::{Map, Value, json};

use super::repository::link_pages;
use super::{Args, Inner, Query, pick, segment};
use crate::{Error, Result};

/// The fields of every kind of issue field the reference reads.
const FIELD: &str = "id,fullDatabaseId,name,description,dataType,visibility";

/// `list_issue_fields`: an organization's issue fields, or those a repository inherits.
pub(super) async fn fields(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let owner = a.str("owner")?;
    let nodes = format!(
        "issueFields(first:100){{nodes{{__typename,... on IssueFieldText{{{FIELD}}},... on IssueFieldNumber{{{FIELD}}},\
         ... on IssueFieldDate{{{FIELD}}},... on IssueFieldSingleSelect{{{FIELD},options{{id,name,description,color,priority}}}}}}}}"
    );
    let (query, variables, at) = match a.opt_str("repo")?.filter(|r| !r.is_empty()) {
        Some(repo) => (
            format!("query($owner:String!,$name:String!){{repository(owner:$owner,name:$name){{{nodes}}}}}"),
            json!({"owner": owner, "name": repo}),
            "/repository/issueFields/nodes",
        ),
        None => (
            format!("query($login:String!){{organization(login:$login){{{nodes}}}}}"),
            json!({"login": owner}),
            "/organization/issueFields/nodes",
        ),
    };
    let data =
        inner.api.graphql_with_features(&owner, &query, variables, Some("issue_fields,repo_issue_fields")).await?;
    let fields: Vec<Value> =
        data.pointer(at).and_then(Value::as_array).into_iter().flatten().filter_map(issue_field).collect();
    Ok(Value::Array(fields))
}

/// One issue field as the reference shows it (empty descriptions, a missing database id and
/// an empty option list left out); kinds it does not know are skipped.
fn issue_field(node: &Value) -> Option<Value> {
    let kind = node.get("__typename").and_then(Value::as_str)?;
    if !matches!(kind, "IssueFieldText" | "IssueFieldNumber" | "IssueFieldDate" | "IssueFieldSingleSelect") {
        return None;
    }
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut field = Map::new();
    field.insert("id".into(), json!(text(node, "id")));
    if let Some(id) = text(node, "fullDatabaseId").parse::<i64>().ok().filter(|id| *id != 0) {
        field.insert("full_database_id".into(), json!(id));
    }
    field.insert("name".into(), json!(text(node, "name")));
    if !text(node, "description").is_empty() {
        field.insert("description".into(), json!(text(node, "description")));
    }
    field.insert("data_type".into(), json!(text(node, "dataType")));
    field.insert("visibility".into(), json!(text(node, "visibility")));
    if kind == "IssueFieldSingleSelect" {
        let options: Vec<Value> = node
            .get("options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|o| {
                let mut option = Map::new();
                option.insert("id".into(), json!(text(o, "id")));
                option.insert("name".into(), json!(text(o, "name")));
                if !text(o, "description").is_empty() {
                    option.insert("description".into(), json!(text(o, "description")));
                }
                option.insert("color".into(), json!(text(o, "color")));
                if let Some(priority) = o.get("priority").filter(|p| p.is_number()) {
                    option.insert("priority".into(), priority.clone());
                }
                Value::Object(option)
            })
            .collect();
        if !options.is_empty() {
            field.insert("options".into(), Value::Array(options));
        }
    }
    Some(Value::Object(field))
}

/// An issue as the dependency and duplicate tools name it: number, title, state, web URL, and
/// its `owner/repo` when GitHub says.
fn issue_ref(issue: &Value, upper_state: bool) -> Value {
    let state = issue.get("state").and_then(Value::as_str).unwrap_or("");
    let mut out = pick(issue, &["number", "title"]);
    out.insert("state".into(), json!(if upper_state { state.to_uppercase() } else { state.to_owned() }));
    out.insert("url".into(), issue.get("html_url").cloned().unwrap_or(json!("")));
    let repository = issue.get("repository_url").and_then(Value::as_str).and_then(|u| u.split("/repos/").nth(1));
    if let Some(repository) = repository.filter(|r| r.split('/').count() == 2) {
        out.insert("repository".into(), json!(repository));
    }
    Value::Object(out)
}

/// `issue_dependency_read`: the issues blocking this one (`get_blocked_by`) or blocked by it
/// (`get_blocking`), one page, with the next page's number.
pub(super) async fn dependencies(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let relation = match a.method(&["get_blocked_by", "get_blocking"])?.as_str() {
        "get_blocked_by" => "blocked_by",
        _ => "blocking",
    };
    let mut q = Query::default();
    a.paging(&mut q)?;
    let path = format!("{}/issues/{}/dependencies/{relation}", a.repo_path()?, a.num("issue_number")?);
    let reply = inner.api.get(&q.on(&path)).await?;
    let issues: Vec<Value> = reply.body.as_array().into_iter().flatten().map(|i| issue_ref(i, true)).collect();
    let next = link_pages(&reply.headers).get("next").copied().unwrap_or(0);
    Ok(json!({"issues": issues, "pageInfo": {"hasNextPage": next != 0, "nextPage": next}}))
}

/// An issue by repository and number.
struct IssueAt {
    owner: String,
    repo: String,
    number: u64,
}

impl IssueAt {
    fn path(&self) -> String {
        format!("/repos/{}/{}/issues/{}", segment(&self.owner), segment(&self.repo), self.number)
    }

    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

/// `issue_dependency_write`: records (`add`) or deletes (`remove`) that one issue is blocked by
/// another, seen from the subject issue (`type`), across repositories if need be.
pub(super) async fn depend(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let method = a.method(&["add", "remove"])?;
    let relation = a.str("type")?;
    if relation != "blocked_by" && relation != "blocking" {
        return Err(a.bad(format!("`type` must be blocked_by or blocking, not {relation:?}")));
    }
    let subject = IssueAt { owner: a.str("owner")?, repo: a.str("repo")?, number: a.num("issue_number")? };
    let related = IssueAt {
        owner: a.opt_str("related_owner")?.filter(|o| !o.is_empty()).unwrap_or_else(|| subject.owner.clone()),
        repo: a.opt_str("related_repo")?.filter(|r| !r.is_empty()).unwrap_or_else(|| subject.repo.clone()),
        number: a.num("related_issue_number")?,
    };
    if subject.full_name() == related.full_name() && subject.number == related.number {
        return Err(a.bad("an issue cannot block or depend on itself".into()));
    }
    let (blocked, blocking) = if relation == "blocking" { (related, subject) } else { (subject, related) };
    let api = &inner.api;
    let blocking_issue = api.get(&blocking.path()).await?.body;
    let blocking_id = blocking_issue.get("id").and_then(Value::as_u64).unwrap_or(0);
    let (message, blocked_issue) = if method == "add" {
        let path = format!("{}/dependencies/blocked_by", blocked.path());
        ("dependency added", api.send(Method::POST, &path, Some(&json!({"issue_id": blocking_id}))).await?.body)
    } else {
        let path = format!("{}/dependencies/blocked_by/{blocking_id}", blocked.path());
        ("dependency removed", api.send(Method::DELETE, &path, None).await?.body)
    };
    let named = |issue: &Value, at: &IssueAt| {
        let mut reference = issue_ref(issue, true);
        if reference.get("repository").is_none() {
            reference["repository"] = json!(at.full_name());
        }
        reference
    };
    Ok(json!({
        "message": message,
        "blocked_issue": named(&blocked_issue, &blocked),
        "blocking_issue": named(&blocking_issue, &blocking),
    }))
}

/// `find_duplicate`: GitHub's ranked, semantically similar issues, each with its score,
/// confidence and whether it is likely a duplicate.
pub(super) async fn duplicates(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let mut q = Query::default();
    match a.map.get("confidence_threshold") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => q.push("threshold", n.to_string()),
        Some(other) => return Err(a.bad(format!("`confidence_threshold` must be a number, not {other}"))),
    }
    a.paging(&mut q)?;
    let path = format!("{}/issues/{}/semantically_similar", a.repo_path()?, a.num("issue_number")?);
    let reply = inner.api.get(&q.on(&path)).await?.body;
    let mut candidates = Vec::new();
    for ranked in reply.as_array().into_iter().flatten() {
        let confidence = ranked.get("confidence").and_then(Value::as_str).unwrap_or("");
        let issue = ranked.get("issue").filter(|i| i.is_object());
        let Some(issue) = issue.filter(|_| !confidence.is_empty()) else {
            return Err(Error::Precondition(
                "ranked duplicate detection is unavailable: GitHub answered similar issues without a ranking (its \
                 duplicate ranking is not enabled for this caller or repository)"
                    .into(),
            ));
        };
        let mut reference = issue_ref(issue, false);
        if let Some(map) = reference.as_object_mut() {
            map.remove("repository");
        }
        candidates.push(json!({
            "issue": reference,
            "score": ranked.get("score").cloned().unwrap_or(Value::Null),
            "confidence": confidence,
            "likely_duplicate": ranked.get("likely_duplicate").and_then(Value::as_bool).unwrap_or(false),
        }));
    }
    Ok(Value::Array(candidates))
}
