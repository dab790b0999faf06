//! The reference's single-purpose issue and pull request tools, which replace the consolidated
//! ones (`issue_write`, `sub_issue_write`, `update_pull_request`, `pull_request_review_write`,
//! `add_comment_to_pending_review`) under the feature flags `issues_granular` and
//! `pull_requests_granular`, and `set_issue_fields` (GraphQL), which only the flag serves. Each
//! is a narrow call of what the consolidated tool does. Intent metadata (`rationale`,
//! `confidence`, `is_suggestion`) goes to GitHub as the reference sends it: REST fields in their
//! object form (`{"value": .., "rationale": .., "confidence": .., "suggest": ..}` for a state or
//! type, `{"login"|"name": .., ..}` for list items), plain values when none is given.

use http::Method;
use serde_json::{Map, Value, json};

use super::{
    Args, Inner, Spec, add_comment_to_pending_review, b, e, owner, repo, resolve_thread, review_write, reviewers_body,
    s, segment, strings, sub_issue_write, update_pull_request,
};
use crate::{Error, Result};

/// The flag that turns the granular issue tools on.
pub(crate) const ISSUES: &str = "issues_granular";
/// The flag that turns the granular pull request tools on.
pub(crate) const PULLS: &str = "pull_requests_granular";

/// The consolidated tools each flag hides, as the reference hides them.
pub(crate) const REPLACED: &[(&str, &str)] = &[
    ("issue_write", ISSUES),
    ("sub_issue_write", ISSUES),
    ("update_pull_request", PULLS),
    ("pull_request_review_write", PULLS),
    ("add_comment_to_pending_review", PULLS),
];

/// The reactions GitHub takes.
const REACTIONS: &[&str] = &["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"];

/// A number from 1.
fn positive(description: &str) -> Value {
    json!({"type": "number", "minimum": 1, "description": description})
}

fn issue_number() -> Value {
    positive("The issue's number")
}

fn pull_number() -> Value {
    positive("The pull request's number")
}

/// The intent metadata the reference lets a change carry.
fn intent(properties: &mut Map<String, Value>) {
    properties.insert(
        "rationale".into(),
        json!({"type": "string", "maxLength": 280, "description": "Why, in one sentence (at most 280 characters)"}),
    );
    properties.insert("confidence".into(), e("How sure", &["LOW", "MEDIUM", "HIGH"]));
    properties.insert("is_suggestion".into(), b("Propose the change rather than apply it"));
}

/// A list of names, or of objects naming one under `key` with intent metadata.
fn names_with_intent(key: &str, description: &str) -> Value {
    let mut item = Map::new();
    item.insert(key.into(), s("The name"));
    intent(&mut item);
    json!({
        "type": "array",
        "description": description,
        "items": {"oneOf": [{"type": "string"}, {"type": "object", "properties": item, "required": [key]}]},
    })
}

fn with_intent(properties: Value) -> Value {
    let mut map = match properties {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    intent(&mut map);
    Value::Object(map)
}

/// Every granular tool.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "create_issue",
        toolset: "issues",
        read_only: false,
        title: "Create Issue",
        description: "Opens an issue with a title and an optional body.",
        properties: || json!({"owner": owner(), "repo": repo(), "title": s("Issue title"), "body": s("Issue body (Markdown)")}),
        required: &["owner", "repo", "title"],
    },
    Spec {
        name: "update_issue_title",
        toolset: "issues",
        read_only: false,
        title: "Update Issue Title",
        description: "Changes an issue's title.",
        properties: || json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(), "title": s("The new title")}),
        required: &["owner", "repo", "issue_number", "title"],
    },
    Spec {
        name: "update_issue_body",
        toolset: "issues",
        read_only: false,
        title: "Update Issue Body",
        description: "Replaces an issue's body.",
        properties: || json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(), "body": s("The new body (Markdown)")}),
        required: &["owner", "repo", "issue_number", "body"],
    },
    Spec {
        name: "update_issue_assignees",
        toolset: "issues",
        read_only: false,
        title: "Update Issue Assignees",
        description: "Sets an issue's assignees (the list replaces the current one; empty clears it).",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                   "assignees": names_with_intent("login", "Logins to assign")})
        },
        required: &["owner", "repo", "issue_number", "assignees"],
    },
    Spec {
        name: "update_issue_labels",
        toolset: "issues",
        read_only: false,
        title: "Update Issue Labels",
        description: "Sets an issue's labels (the list replaces the current one; empty clears it).",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                   "labels": names_with_intent("name", "Label names")})
        },
        required: &["owner", "repo", "issue_number", "labels"],
    },
    Spec {
        name: "update_issue_milestone",
        toolset: "issues",
        read_only: false,
        title: "Update Issue Milestone",
        description: "Puts an issue in a milestone, by the milestone's number.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                   "milestone": {"type": "integer", "minimum": 1, "description": "The milestone's number"}})
        },
        required: &["owner", "repo", "issue_number", "milestone"],
    },
    Spec {
        name: "update_issue_type",
        toolset: "issues",
        read_only: false,
        title: "Update Issue Type",
        description: "Sets an issue's type by name (null clears it).",
        properties: || {
            with_intent(json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                "issue_type": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}], "description": "The type's name, or null"}}))
        },
        required: &["owner", "repo", "issue_number", "issue_type"],
    },
    Spec {
        name: "update_issue_state",
        toolset: "issues",
        read_only: false,
        title: "Update Issue State",
        description: "Opens or closes an issue, with the reason it was closed.",
        properties: || {
            with_intent(json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                "state": e("open or closed", &["open", "closed"]),
                "state_reason": e("Why it was closed", &["completed", "not_planned", "duplicate"]),
                "duplicate_of": positive("The issue this one duplicates (with state_reason duplicate)")}))
        },
        required: &["owner", "repo", "issue_number", "state"],
    },
    Spec {
        name: "add_sub_issue",
        toolset: "issues",
        read_only: false,
        title: "Add Sub-Issue",
        description: "Makes an issue (by id, not number) a sub-issue of another.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                   "sub_issue_id": {"type": "number", "description": "The sub-issue's id (not its number)"},
                   "replace_parent": b("Move it from the parent it has")})
        },
        required: &["owner", "repo", "issue_number", "sub_issue_id"],
    },
    Spec {
        name: "remove_sub_issue",
        toolset: "issues",
        read_only: false,
        title: "Remove Sub-Issue",
        description: "Takes a sub-issue off its parent.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                   "sub_issue_id": {"type": "number", "description": "The sub-issue's id (not its number)"}})
        },
        required: &["owner", "repo", "issue_number", "sub_issue_id"],
    },
    Spec {
        name: "reprioritize_sub_issue",
        toolset: "issues",
        read_only: false,
        title: "Reprioritize Sub-Issue",
        description: "Moves a sub-issue just after (after_id) or before (before_id) another.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(),
                   "sub_issue_id": {"type": "number", "description": "The sub-issue's id"},
                   "after_id": {"type": "number", "description": "Put it after this sub-issue"},
                   "before_id": {"type": "number", "description": "Put it before this sub-issue"}})
        },
        required: &["owner", "repo", "issue_number", "sub_issue_id"],
    },
    Spec {
        name: "add_issue_reaction",
        toolset: "issues",
        read_only: false,
        title: "Add Reaction to Issue or Pull Request",
        description: "Reacts to an issue or pull request.",
        properties: || json!({"owner": owner(), "repo": repo(), "issue_number": issue_number(), "content": e("The reaction", REACTIONS)}),
        required: &["owner", "repo", "issue_number", "content"],
    },
    Spec {
        name: "add_issue_comment_reaction",
        toolset: "issues",
        read_only: false,
        title: "Add Reaction to Issue or Pull Request Comment",
        description: "Reacts to a comment on an issue or pull request.",
        properties: || json!({"owner": owner(), "repo": repo(), "comment_id": positive("The comment's id"), "content": e("The reaction", REACTIONS)}),
        required: &["owner", "repo", "comment_id", "content"],
    },
    Spec {
        name: "update_pull_request_title",
        toolset: "pull_requests",
        read_only: false,
        title: "Update Pull Request Title",
        description: "Changes a pull request's title.",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "title": s("The new title")}),
        required: &["owner", "repo", "pullNumber", "title"],
    },
    Spec {
        name: "update_pull_request_body",
        toolset: "pull_requests",
        read_only: false,
        title: "Update Pull Request Body",
        description: "Replaces a pull request's description.",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "body": s("The new description")}),
        required: &["owner", "repo", "pullNumber", "body"],
    },
    Spec {
        name: "update_pull_request_state",
        toolset: "pull_requests",
        read_only: false,
        title: "Update Pull Request State",
        description: "Closes or reopens a pull request.",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "state": e("open or closed", &["open", "closed"])}),
        required: &["owner", "repo", "pullNumber", "state"],
    },
    Spec {
        name: "update_pull_request_draft_state",
        toolset: "pull_requests",
        read_only: false,
        title: "Update Pull Request Draft State",
        description: "Turns a pull request into a draft, or marks it ready for review.",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "draft": b("true: a draft; false: ready for review")}),
        required: &["owner", "repo", "pullNumber", "draft"],
    },
    Spec {
        name: "request_pull_request_reviewers",
        toolset: "pull_requests",
        read_only: false,
        title: "Request Pull Request Reviewers",
        description: "Asks people (logins) or teams (ORG/team-slug) to review a pull request.",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "reviewers": strings("Logins, or ORG/team-slug for teams")}),
        required: &["owner", "repo", "pullNumber", "reviewers"],
    },
    Spec {
        name: "create_pull_request_review",
        toolset: "pull_requests",
        read_only: false,
        title: "Create Pull Request Review",
        description: "Starts a pending review (no event), or reviews at once (event and body).",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "body": s("The review's text"),
                   "event": e("Submit at once as this", &["APPROVE", "REQUEST_CHANGES", "COMMENT"]),
                   "commitID": s("SHA of the commit to review")})
        },
        required: &["owner", "repo", "pullNumber"],
    },
    Spec {
        name: "submit_pending_pull_request_review",
        toolset: "pull_requests",
        read_only: false,
        title: "Submit Pending Pull Request Review",
        description: "Submits the user's pending review.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(), "body": s("The review's text"),
                   "event": e("Submit as this", &["APPROVE", "REQUEST_CHANGES", "COMMENT"])})
        },
        required: &["owner", "repo", "pullNumber", "event"],
    },
    Spec {
        name: "delete_pending_pull_request_review",
        toolset: "pull_requests",
        read_only: false,
        title: "Delete Pending Pull Request Review",
        description: "Deletes the user's pending review.",
        properties: || json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number()}),
        required: &["owner", "repo", "pullNumber"],
    },
    Spec {
        name: "add_pull_request_review_comment",
        toolset: "pull_requests",
        read_only: false,
        title: "Add Pull Request Review Comment",
        description: "Comments on a line, a range of lines or a file in the user's pending review.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "pullNumber": pull_number(),
                   "path": s("The file's path"), "body": s("The comment"),
                   "subjectType": e("LINE or FILE", &["FILE", "LINE"]),
                   "line": {"type": "number", "description": "The (last) line"},
                   "side": e("The diff side of line", &["LEFT", "RIGHT"]),
                   "startLine": {"type": "number", "description": "The first line of a range"},
                   "startSide": e("The diff side of startLine", &["LEFT", "RIGHT"])})
        },
        required: &["owner", "repo", "pullNumber", "path", "body", "subjectType"],
    },
    Spec {
        name: "resolve_review_thread",
        toolset: "pull_requests",
        read_only: false,
        title: "Resolve Review Thread",
        description: "Resolves a review thread by its node id (PRRT_...).",
        properties: || json!({"threadID": s("The thread's node id")}),
        required: &["threadID"],
    },
    Spec {
        name: "unresolve_review_thread",
        toolset: "pull_requests",
        read_only: false,
        title: "Unresolve Review Thread",
        description: "Reopens a resolved review thread by its node id (PRRT_...).",
        properties: || json!({"threadID": s("The thread's node id")}),
        required: &["threadID"],
    },
    Spec {
        name: "add_pull_request_review_comment_reaction",
        toolset: "pull_requests",
        read_only: false,
        title: "Add Pull Request Review Comment Reaction",
        description: "Reacts to a pull request review comment.",
        properties: || json!({"owner": owner(), "repo": repo(), "comment_id": positive("The review comment's id"), "content": e("The reaction", REACTIONS)}),
        required: &["owner", "repo", "comment_id", "content"],
    },
    Spec {
        name: "set_issue_fields",
        toolset: "issues",
        read_only: false,
        title: "Set Issue Fields",
        description: "Sets (or deletes) values of an issue's fields, the organization's custom fields: each \
            element names a field by node id and gives one of text_value, number_value, date_value, \
            single_select_option_id, or delete: true.",
        properties: || {
            let mut item = Map::new();
            item.insert("field_id".into(), s("The field's node id"));
            item.insert("text_value".into(), s("A text field's value"));
            item.insert("number_value".into(), json!({"type": "number", "description": "A number field's value"}));
            item.insert("date_value".into(), s("A date field's value (ISO 8601 date)"));
            item.insert("single_select_option_id".into(), s("A single select field's option, by node id"));
            item.insert("delete".into(), b("Remove the field's value"));
            intent(&mut item);
            json!({"owner": owner(), "repo": repo(), "issue_number": positive("The issue's number"),
                   "fields": {"type": "array", "minItems": 1, "description": "The values to set",
                              "items": {"type": "object", "properties": item, "required": ["field_id"]}}})
        },
        required: &["owner", "repo", "issue_number", "fields"],
    },
];

/// `a` with `method` set, for the consolidated tool it narrows.
fn with_method<'a>(a: &Args<'a>, method: &str) -> Args<'a> {
    let mut map = a.map.clone();
    map.insert("method".into(), json!(method));
    Args { tool: a.tool, map }
}

/// `{id, url}` of what GitHub answered (an issue or pull request: its page).
fn id_and_page(value: &Value) -> Value {
    json!({"id": value.get("id").and_then(Value::as_u64).unwrap_or(0).to_string(), "url": value.get("html_url").cloned().unwrap_or(json!(""))})
}

/// The intent metadata in `map` (the arguments, or one list item) as GitHub takes it
/// (`rationale`, `confidence`, `suggest`), checked; `None` when there is none.
fn intent_of(a: &Args<'_>, map: &Map<String, Value>) -> Result<Option<Map<String, Value>>> {
    let mut out = Map::new();
    match map.get("rationale") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            let text = text.trim();
            if text.chars().count() > 280 {
                return Err(a.bad("`rationale` must be 280 characters or less".into()));
            }
            if !text.is_empty() {
                out.insert("rationale".into(), json!(text));
            }
        }
        Some(other) => return Err(a.bad(format!("`rationale` must be a string, not {other}"))),
    }
    match map.get("confidence") {
        None | Some(Value::Null) => {}
        Some(Value::String(level)) if level.trim().is_empty() => {}
        Some(Value::String(level)) => {
            let level = level.trim().to_ascii_uppercase();
            if !matches!(level.as_str(), "LOW" | "MEDIUM" | "HIGH") {
                return Err(a.bad("`confidence` must be one of LOW, MEDIUM, HIGH".into()));
            }
            out.insert("confidence".into(), json!(level));
        }
        Some(other) => return Err(a.bad(format!("`confidence` must be a string, not {other}"))),
    }
    match map.get("is_suggestion") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            out.insert("suggest".into(), json!(true));
        }
        Some(other) => return Err(a.bad(format!("`is_suggestion` must be true or false, not {other}"))),
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A list of names (`key` in the object form) as GitHub takes it: plain names, or, when any
/// item carries intent metadata, those items as objects with it.
fn names_or_intents(a: &Args<'_>, list: &str, key: &str) -> Result<Value> {
    let items = a.map.get(list).and_then(Value::as_array).ok_or_else(|| a.bad(format!("`{list}` must be a list")))?;
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(name) => out.push(json!(name)),
            Value::Object(map) => {
                let name = map
                    .get(key)
                    .and_then(Value::as_str)
                    .ok_or_else(|| a.bad(format!("each object in `{list}` needs `{key}`")))?;
                match intent_of(a, map)? {
                    Some(mut intent) => {
                        intent.insert(key.into(), json!(name));
                        out.push(Value::Object(intent));
                    }
                    None => out.push(json!(name)),
                }
            }
            other => return Err(a.bad(format!("`{list}` items are names or objects, not {other}"))),
        }
    }
    Ok(Value::Array(out))
}

/// `value` with the arguments' intent metadata, in GitHub's object form when there is some.
fn value_with_intent(a: &Args<'_>, value: Value) -> Result<Value> {
    Ok(match intent_of(a, &a.map)? {
        Some(mut intent) => {
            intent.insert("value".into(), value);
            Value::Object(intent)
        }
        None => value,
    })
}

/// Text that must be given but may be empty (an empty body clears it).
fn required_text(a: &Args<'_>, key: &str) -> Result<String> {
    a.opt_str(key)?.ok_or_else(|| a.bad(format!("`{key}` is required")))
}

/// Runs granular tool `name`.
pub(super) async fn call(inner: &Inner, name: &str, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    Ok(match name {
        "create_issue" => {
            let mut body = json!({"title": a.str("title")?});
            if let Some(text) = a.opt_str("body")?.filter(|b| !b.is_empty()) {
                body["body"] = json!(text);
            }
            id_and_page(&api.send(Method::POST, &format!("{}/issues", a.repo_path()?), Some(&body)).await?.body)
        }
        "update_issue_title"
        | "update_issue_body"
        | "update_issue_assignees"
        | "update_issue_labels"
        | "update_issue_milestone"
        | "update_issue_type"
        | "update_issue_state" => {
            let change = match name {
                "update_issue_title" => json!({"title": a.str("title")?}),
                "update_issue_body" => json!({"body": required_text(a, "body")?}),
                "update_issue_assignees" => json!({"assignees": names_or_intents(a, "assignees", "login")?}),
                "update_issue_labels" => json!({"labels": names_or_intents(a, "labels", "name")?}),
                "update_issue_milestone" => json!({"milestone": a.num("milestone")?}),
                "update_issue_type" => match a.map.get("issue_type") {
                    Some(Value::Null) => {
                        if intent_of(a, &a.map)?.is_some() {
                            return Err(a.bad(
                                "intent metadata (rationale, confidence, is_suggestion) cannot go with removing \
                                 the type; leave it out"
                                    .into(),
                            ));
                        }
                        json!({"type": null})
                    }
                    _ => json!({"type": value_with_intent(a, json!(a.str("issue_type")?))?}),
                },
                _ => {
                    let state = a.str("state")?;
                    let reason = a.opt_str("state_reason")?.filter(|r| !r.is_empty());
                    let duplicate_of = a.opt_num("duplicate_of")?.filter(|n| *n != 0);
                    if reason.is_some() && state != "closed" {
                        return Err(a.bad("`state_reason` can only be used when `state` is closed".into()));
                    }
                    if duplicate_of.is_some() && reason.as_deref() != Some("duplicate") {
                        return Err(a.bad("`duplicate_of` can only be used when `state_reason` is duplicate".into()));
                    }
                    let suggestion = a.opt_bool("is_suggestion")?.unwrap_or(false);
                    if suggestion && reason.as_deref() == Some("duplicate") && duplicate_of.is_none() {
                        return Err(a.bad("`duplicate_of` is required to suggest closing as a duplicate".into()));
                    }
                    let mut change = json!({"state": value_with_intent(a, json!(state))?});
                    if let Some(reason) = reason {
                        change["state_reason"] = json!(reason);
                    }
                    if let Some(original) = duplicate_of {
                        let path = format!("{}/issues/{original}", a.repo_path()?);
                        let found = api.get(&path).await?.body;
                        change["duplicate_issue_id"] = found.get("id").cloned().unwrap_or(Value::Null);
                    }
                    // The object form only when intent metadata or a duplicate goes with it.
                    if let Some(plain) = change["state"].as_str().map(str::to_owned)
                        && duplicate_of.is_some()
                    {
                        change["state"] = json!({"value": plain});
                    }
                    change
                }
            };
            let path = format!("{}/issues/{}", a.repo_path()?, a.num("issue_number")?);
            id_and_page(&api.send(Method::PATCH, &path, Some(&change)).await?.body)
        }
        "add_sub_issue" => sub_issue_write(inner, &with_method(a, "add")).await?,
        "remove_sub_issue" => sub_issue_write(inner, &with_method(a, "remove")).await?,
        "reprioritize_sub_issue" => sub_issue_write(inner, &with_method(a, "reprioritize")).await?,
        "add_issue_reaction" | "add_issue_comment_reaction" | "add_pull_request_review_comment_reaction" => {
            let (owner, repo) = (segment(&a.str("owner")?), segment(&a.str("repo")?));
            let on = match name {
                "add_issue_reaction" => format!("issues/{}", a.num("issue_number")?),
                "add_issue_comment_reaction" => format!("issues/comments/{}", a.num("comment_id")?),
                _ => format!("pulls/comments/{}", a.num("comment_id")?),
            };
            let path = format!("/repos/{owner}/{repo}/{on}/reactions");
            let reaction = api.send(Method::POST, &path, Some(&json!({"content": a.str("content")?}))).await?.body;
            let id = reaction.get("id").and_then(Value::as_u64).unwrap_or(0);
            json!({"id": id.to_string(), "url": format!("{}{path}/{id}", api.base_url())})
        }
        "update_pull_request_title" | "update_pull_request_body" | "update_pull_request_state" => {
            let key = name.trim_start_matches("update_pull_request_");
            let value = if key == "body" { required_text(a, "body")? } else { a.str(key)? };
            let path = format!("{}/pulls/{}", a.repo_path()?, a.num("pullNumber")?);
            id_and_page(&api.send(Method::PATCH, &path, Some(&json!({key: value}))).await?.body)
        }
        "update_pull_request_draft_state" => {
            let draft = a.opt_bool("draft")?.ok_or_else(|| a.bad("`draft` is required".into()))?;
            let mut narrowed = Args { tool: a.tool, map: a.map.clone() };
            narrowed.map.retain(|k, _| matches!(k.as_str(), "owner" | "repo" | "pullNumber" | "draft"));
            update_pull_request(inner, &narrowed).await?;
            json!(if draft { "pull request converted to draft" } else { "pull request marked as ready for review" })
        }
        "request_pull_request_reviewers" => {
            let reviewers = a.opt_strings("reviewers")?.unwrap_or_default();
            if reviewers.is_empty() {
                return Err(a.bad("`reviewers` must name at least one login or ORG/team-slug".into()));
            }
            let path = format!("{}/pulls/{}/requested_reviewers", a.repo_path()?, a.num("pullNumber")?);
            id_and_page(&api.send(Method::POST, &path, Some(&reviewers_body(reviewers))).await?.body)
        }
        "create_pull_request_review" => review_write(inner, &with_method(a, "create")).await?,
        "submit_pending_pull_request_review" => review_write(inner, &with_method(a, "submit_pending")).await?,
        "delete_pending_pull_request_review" => review_write(inner, &with_method(a, "delete_pending")).await?,
        "add_pull_request_review_comment" => add_comment_to_pending_review(inner, a).await?,
        "resolve_review_thread" | "unresolve_review_thread" => {
            resolve_thread(inner, "", &a.str("threadID")?, name == "resolve_review_thread").await?
        }
        "set_issue_fields" => set_issue_fields(inner, a).await?,
        other => return Err(Error::Config(format!("the native server has no tool `{other}`"))),
    })
}

/// `set_issue_fields`: the values checked (one value, or `delete`, per field), the issue's node
/// id looked up, then GraphQL's `setIssueFieldValue` (intent metadata behind GitHub's
/// `update_issue_suggestions` schema preview): the issue's node id and page.
async fn set_issue_fields(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let (owner, name, number) = (a.str("owner")?, a.str("repo")?, a.num("issue_number")?);
    let items = a.map.get("fields").and_then(Value::as_array).ok_or_else(|| a.bad("`fields` must be a list".into()))?;
    if items.is_empty() {
        return Err(a.bad("`fields` must not be empty".into()));
    }
    let mut inputs = Vec::new();
    for item in items {
        let map =
            item.as_object().ok_or_else(|| a.bad("each field must be an object with `field_id` and a value".into()))?;
        let id = map
            .get("field_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| a.bad("`field_id` is required and must be a string".into()))?;
        let mut input = Map::new();
        input.insert("fieldId".into(), json!(id));
        let text = |key: &str| map.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
        if let Some(v) = text("text_value") {
            input.insert("textValue".into(), json!(v));
        }
        match map.get("number_value") {
            None | Some(Value::Null) => {}
            Some(v @ Value::Number(_)) => {
                input.insert("numberValue".into(), v.clone());
            }
            Some(other) => return Err(a.bad(format!("`number_value` must be a number, not {other}"))),
        }
        if let Some(v) = text("date_value") {
            input.insert("dateValue".into(), json!(v));
        }
        if let Some(v) = text("single_select_option_id") {
            input.insert("singleSelectOptionId".into(), json!(v));
        }
        if map.get("delete") == Some(&json!(true)) {
            input.insert("delete".into(), json!(true));
        }
        match input.len() - 1 {
            0 => {
                return Err(a.bad(format!(
                    "field `{id}` needs a value (text_value, number_value, date_value, single_select_option_id) or \
                     delete: true"
                )));
            }
            1 => {}
            _ => return Err(a.bad(format!("field `{id}` has more than one value: give exactly one, or delete: true"))),
        }
        if let Some(intent) = intent_of(a, map)? {
            input.extend(intent);
        }
        inputs.push(Value::Object(input));
    }
    let query = "query($owner:String!,$name:String!,$number:Int!){repository(owner:$owner,name:$name){issue(number:$number){id}}}";
    let data = inner.api.graphql(&owner, query, json!({"owner": owner, "name": name, "number": number})).await?;
    let issue_id = data.pointer("/repository/issue/id").cloned().unwrap_or(Value::Null);
    if issue_id.is_null() {
        return Err(a.bad(format!("issue #{number} was not found in {owner}/{name}")));
    }
    let mutation = "mutation($input:SetIssueFieldValueInput!){setIssueFieldValue(input:$input){issue{id,url}}}";
    let input = json!({"input": {"issueId": issue_id, "issueFields": inputs}});
    let done =
        inner.api.graphql_with_features(&owner, mutation, input, Some("issue_fields,update_issue_suggestions")).await?;
    let issue = done.pointer("/setIssueFieldValue/issue").cloned().unwrap_or(Value::Null);
    Ok(
        json!({"id": issue.get("id").cloned().unwrap_or(json!("")), "url": issue.get("url").cloned().unwrap_or(json!(""))}),
    )
}
