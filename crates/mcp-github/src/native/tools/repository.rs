//! Repositories as wholes: created, forked, deleted (after the user confirms), their
//! collaborators, and a file's blame (through GraphQL, as the reference asks it).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, Method};
use mcp_core::protocol::{CallToolResult, JsonObject};
use mcp_core::{ToolContext, ToolError};
use serde_json::{Map, Value, json};

use super::{Args, Inner, Query, pick, segment};
use crate::{Error, Result};

/// The most blame ranges one call looks at, as the reference caps them.
const MAX_BLAME_RANGES: usize = 1000;
/// What a blame cursor says before its offset (the cursor is this, base64url-encoded).
const BLAME_CURSOR: &str = "blame-range:";
/// The key under which `delete_repository` asks the user to confirm.
const DELETE_CONFIRMATION: &str = "delete_repository_confirmation";
/// The field of that form that must hold `owner/repo`.
const DELETE_FIELD: &str = "repository_name";

/// `create_repository`: in the user's account, or in `organization`; private unless told
/// otherwise. Answers `{id, url}`.
pub(super) async fn create(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let mut body = json!({
        "name": a.str("name")?,
        "private": a.opt_bool("private")?.unwrap_or(true),
        "auto_init": a.opt_bool("autoInit")?.unwrap_or(false),
    });
    if let Some(description) = a.opt_str("description")?.filter(|d| !d.is_empty()) {
        body["description"] = json!(description);
    }
    let path = match a.opt_str("organization")?.filter(|o| !o.is_empty()) {
        Some(org) => format!("/orgs/{}/repos", segment(&org)),
        None => "/user/repos".to_owned(),
    };
    let reply = inner.api.send(Method::POST, &path, Some(&body)).await?.body;
    Ok(id_and_url(&reply))
}

/// `fork_repository`: GitHub makes forks in the background and answers 202, which the
/// reference reports as "Fork is in progress"; any other success is `{id, url}`.
pub(super) async fn fork(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let mut body = json!({});
    if let Some(org) = a.opt_str("organization")?.filter(|o| !o.is_empty()) {
        body["organization"] = json!(org);
    }
    let reply = inner.api.send(Method::POST, &format!("{}/forks", a.repo_path()?), Some(&body)).await?;
    if reply.status.as_u16() == 202 {
        return Ok(json!("Fork is in progress"));
    }
    Ok(id_and_url(&reply.body))
}

/// A repository as `{id, url}` (the id as text, the URL the web one).
fn id_and_url(repository: &Value) -> Value {
    let id = repository.get("id").and_then(Value::as_u64).unwrap_or(0);
    json!({"id": id.to_string(), "url": repository.get("html_url").cloned().unwrap_or(json!(""))})
}

/// `delete_repository`: the repository is looked up first (so a wrong name fails before anyone
/// is asked), then the user must type its `owner/repo` into a form the client shows
/// (elicitation: a request in the handshake era, an input-required result in `2026-07-28`);
/// anything but that exact name, accepted, deletes nothing.
pub(crate) async fn delete(
    inner: &Inner,
    arguments: JsonObject,
    cx: &ToolContext,
) -> Result<CallToolResult, ToolError> {
    let tool = "delete_repository";
    let a = Args { tool, map: arguments };
    let fail = |e: Error| inner.failure(tool, e);
    let full = format!("{}/{}", a.str("owner").map_err(fail)?, a.str("repo").map_err(fail)?);
    let path = a.repo_path().map_err(fail)?;
    inner.api.get(&path).await.map_err(fail)?;
    let form = json!({
        "mode": "form",
        "message": format!("Type {full:?} to confirm permanent deletion of this repository."),
        "requestedSchema": {
            "type": "object",
            "properties": {DELETE_FIELD: {"type": "string", "title": "Repository name", "description": format!("Enter {full} exactly to confirm deletion")}},
            "required": [DELETE_FIELD],
        },
    });
    let form = match form {
        Value::Object(form) => form,
        _ => JsonObject::new(),
    };
    let answer = cx.ask_client(DELETE_CONFIRMATION, "elicitation/create", form, Duration::from_secs(600)).await?;
    if answer.get("action").and_then(Value::as_str) != Some("accept") {
        return Ok(CallToolResult::error("Repository deletion was not confirmed. The repository was not deleted."));
    }
    if answer.pointer(&format!("/content/{DELETE_FIELD}")).and_then(Value::as_str) != Some(full.as_str()) {
        return Ok(CallToolResult::error(format!(
            "Repository name confirmation did not match {full:?}. The repository was not deleted."
        )));
    }
    inner.api.send(Method::DELETE, &path, None).await.map_err(fail)?;
    Ok(inner.finish(json!(format!("Repository {full} was deleted."))))
}

/// `list_repository_collaborators`: login, id and role of each, and the page numbers GitHub's
/// `Link` header gives (0 where there is none).
pub(super) async fn collaborators(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let mut q = Query::default();
    q.opt("affiliation", a.opt_str("affiliation")?);
    a.paging(&mut q)?;
    let reply = inner.api.get(&q.on(&format!("{}/collaborators", a.repo_path()?))).await?;
    let items: Vec<Value> = reply
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"login": c.get("login").cloned().unwrap_or(json!("")), "id": c.get("id").cloned().unwrap_or(json!(0)),
                   "role_name": c.get("role_name").cloned().unwrap_or(json!(""))})
        })
        .collect();
    let pages = link_pages(&reply.headers);
    let page = |rel: &str| json!(pages.get(rel).copied().unwrap_or(0));
    Ok(
        json!({"items": items, "nextPage": page("next"), "prevPage": page("prev"), "firstPage": page("first"), "lastPage": page("last")}),
    )
}

/// The `page` of each relation in GitHub's `Link` header (`<URL?page=2>; rel="next", ...`).
pub(super) fn link_pages(headers: &HeaderMap) -> BTreeMap<String, u64> {
    let Some(link) = headers.get("link").and_then(|v| v.to_str().ok()) else { return BTreeMap::new() };
    link.split(',')
        .filter_map(|part| {
            let (url, params) = part.split_once(';')?;
            let url = url.trim().trim_start_matches('<').trim_end_matches('>');
            let rel = params.split(';').find_map(|p| p.trim().strip_prefix("rel="))?.trim_matches('"');
            let query = url.split_once('?')?.1;
            let page = query.split('&').find_map(|kv| kv.strip_prefix("page="))?.parse().ok()?;
            Some((rel.to_owned(), page))
        })
        .collect()
}

/// The ranges part of a blame query (on a commit).
const BLAME_RANGES: &str = "blame(path:$path){ranges{startingLine,endingLine,age,commit{oid,message,committedDate,author{name,email,user{login,url}}}}}";

/// `get_file_blame`: the ranges of a file's blame at a ref (through a tag to its commit), cut to
/// a window of lines, paged by an opaque cursor, with each commit described once.
pub(super) async fn blame(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let (owner, name) = (a.str("owner")?, a.str("repo")?);
    let path = a.str("path")?;
    check_blame_path(&path).map_err(|m| a.bad(m.into()))?;
    let reference = a.opt_str("ref")?.filter(|r| !r.is_empty());
    let (start, end) = (a.opt_num("start_line")?, a.opt_num("end_line")?);
    if start == Some(0) || end == Some(0) {
        return Err(a.bad("`start_line` and `end_line` count from 1".into()));
    }
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        return Err(a.bad("`end_line` must be >= `start_line` when both are given".into()));
    }
    if a.map.contains_key("page") {
        return Err(
            a.bad("this tool pages by cursor: pass the previous page's `endCursor` as `after`, not `page`".into())
        );
    }
    let per_page = a.opt_num("perPage")?.unwrap_or(30);
    if !(1..=100).contains(&per_page) {
        return Err(a.bad(format!("`perPage` must be between 1 and 100, not {per_page}")));
    }
    let per_page = per_page as usize;
    let offset = match a.opt_str("after")?.filter(|c| !c.is_empty()) {
        Some(cursor) => blame_offset(&cursor).ok_or_else(|| a.bad("`after` is not a cursor this tool gave".into()))?,
        None => 0,
    };
    let expression = reference.clone().unwrap_or_else(|| "HEAD".to_owned());
    let query = format!(
        "query($owner:String!,$repo:String!,$ref:String!,$path:String!){{repository(owner:$owner,name:$repo){{\
         defaultBranchRef{{name}},object(expression:$ref){{__typename,... on Commit{{{BLAME_RANGES}}},\
         ... on Tag{{target{{__typename,... on Commit{{{BLAME_RANGES}}}}}}}}}}}}}"
    );
    let variables = json!({"owner": owner, "repo": name, "ref": expression, "path": path});
    let data = inner.api.graphql(&owner, &query, variables).await?;
    let repository = data.get("repository").unwrap_or(&Value::Null);
    let object = repository.get("object").unwrap_or(&Value::Null);
    let kind = object.get("__typename").and_then(Value::as_str).unwrap_or("");
    let commit = match kind {
        "" => return Err(Error::Precondition(format!("ref {expression:?} was not found in {owner}/{name}"))),
        "Commit" => object,
        "Tag" => match object.pointer("/target/__typename").and_then(Value::as_str) {
            Some("Commit") => &object["target"],
            other => {
                return Err(Error::Precondition(format!(
                    "ref {expression:?} is a tag in {owner}/{name} whose target is not a commit (it is a {})",
                    other.unwrap_or("unknown")
                )));
            }
        },
        other => {
            return Err(Error::Precondition(format!(
                "ref {expression:?} did not resolve to a commit in {owner}/{name} (it is a {other})"
            )));
        }
    };
    let shown_ref = reference
        .or_else(|| repository.pointer("/defaultBranchRef/name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or(expression);
    let mut ranges = Vec::new();
    let mut commits = Map::new();
    let mut total = 0usize;
    let mut truncated = false;
    for range in commit.pointer("/blame/ranges").and_then(Value::as_array).into_iter().flatten() {
        let line = |key: &str| range.get(key).and_then(Value::as_u64).unwrap_or(0);
        let (mut first, mut last) = (line("startingLine"), line("endingLine"));
        if start.is_some_and(|s| last < s) || end.is_some_and(|e| first > e) {
            continue;
        }
        first = start.map_or(first, |s| first.max(s));
        last = end.map_or(last, |e| last.min(e));
        let index = total;
        total += 1;
        if index >= MAX_BLAME_RANGES {
            truncated = true;
            continue;
        }
        if index < offset || ranges.len() >= per_page {
            continue;
        }
        let sha = range.pointer("/commit/oid").and_then(Value::as_str).unwrap_or("").to_owned();
        ranges.push(json!({"starting_line": first, "ending_line": last, "age": line("age"), "commit_sha": sha}));
        if !commits.contains_key(&sha) {
            commits.insert(sha.clone(), blame_commit(&sha, &range["commit"]));
        }
    }
    let capped = total.min(MAX_BLAME_RANGES);
    let consumed = (offset + ranges.len()).min(capped);
    let mut page_info = json!({"hasNextPage": consumed < capped, "hasPreviousPage": offset > 0});
    if !ranges.is_empty() {
        page_info["startCursor"] = json!(blame_cursor(offset));
        page_info["endCursor"] = json!(blame_cursor(consumed));
    }
    let mut out = json!({
        "repository": format!("{owner}/{name}"), "path": path, "ref": shown_ref, "ranges": ranges,
        "commits": commits, "pageInfo": page_info, "total_ranges": total,
    });
    if truncated {
        out["truncated"] = json!(true);
    }
    Ok(out)
}

/// One commit of a blame: its SHA, the first line of its message, its date and author.
fn blame_commit(sha: &str, commit: &Value) -> Value {
    let message = commit.get("message").and_then(Value::as_str).unwrap_or("");
    let headline = message.split('\n').next().unwrap_or("").trim_end();
    let author = &commit["author"];
    let mut who = Map::new();
    who.insert("name".into(), author.get("name").cloned().unwrap_or(json!("")));
    who.insert("email".into(), author.get("email").cloned().unwrap_or(json!("")));
    if let Some(user) = author.get("user").filter(|u| u.is_object()) {
        who.extend(pick(user, &["login", "url"]));
    }
    json!({"sha": sha, "message_headline": headline, "committed_date": commit.get("committedDate").cloned().unwrap_or(json!("")), "author": who})
}

/// A path blame accepts: relative, without `..` or control characters.
fn check_blame_path(path: &str) -> std::result::Result<(), &'static str> {
    if path.trim().is_empty() {
        Err("`path` must not be empty")
    } else if path.starts_with('/') {
        Err("`path` must be relative to the repository root (no leading '/')")
    } else if path.split('/').any(|part| part == "..") {
        Err("`path` must not contain '..' segments")
    } else if path.chars().any(char::is_control) {
        Err("`path` must not contain control characters")
    } else {
        Ok(())
    }
}

fn blame_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{BLAME_CURSOR}{offset}"))
}

fn blame_offset(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix(BLAME_CURSOR)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_page_numbers() {
        let mut headers = HeaderMap::new();
        let link = "<https://api.github.com/repositories/1/collaborators?per_page=1&page=2>; rel=\"next\", \
                    <https://api.github.com/repositories/1/collaborators?per_page=1&page=3>; rel=\"last\"";
        headers.insert("link", link.parse().expect("a header value"));
        let pages = link_pages(&headers);
        assert_eq!((pages.get("next"), pages.get("last"), pages.get("prev")), (Some(&2), Some(&3), None));
        assert!(link_pages(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn blame_cursors_round_trip_and_paths_are_checked() {
        assert_eq!(blame_offset(&blame_cursor(42)), Some(42));
        assert_eq!(blame_offset("bm9wZQ"), None);
        assert!(check_blame_path("src/main.rs").is_ok());
        for bad in ["", "/etc/passwd", "a/../b", "a\nb"] {
            assert!(check_blame_path(bad).is_err(), "{bad:?}");
        }
    }
}
