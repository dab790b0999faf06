//! The reference's `discussions` toolset over GraphQL: discussions listed (by category, in
//! order, by cursor), read with their comments and replies, their categories, and comments
//! added, answered, changed, deleted and marked as the answer. Discussion bodies and comments
//! are people's text: marked as untrusted, and in lockdown mode, in public repositories, shown
//! only from authors with push access (a discussion by anyone else is refused, their comments
//! left out), as for issues.

use serde_json::{Map, Value, json};

use super::{Args, Inner, Spec, e, owner, per_page, repo, s};
use crate::{Error, Result};

fn number(description: &str) -> Value {
    json!({"type": "number", "description": description})
}

/// The tools of this module.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "list_discussions",
        toolset: "discussions",
        read_only: true,
        title: "List discussions",
        description: "Lists a repository's discussions (the organization's, from its .github repository, when repo \
            is absent), optionally of one category (its id, from list_discussion_categories) and in an order; pages \
            by cursor (after = the previous page's pageInfo.endCursor).",
        properties: || {
            json!({"owner": owner(), "repo": s("Repository name; the organization's discussions when absent"),
                   "category": s("A category's node id"),
                   "orderBy": e("Order by creation or last update", &["CREATED_AT", "UPDATED_AT"]),
                   "direction": e("Order direction", &["ASC", "DESC"]),
                   "perPage": per_page(), "after": s("Cursor: the previous page's pageInfo.endCursor")})
        },
        required: &["owner"],
    },
    Spec {
        name: "get_discussion",
        toolset: "discussions",
        read_only: true,
        title: "Get discussion",
        description: "Reads one discussion: title, body, state, whether answered, category.",
        properties: || json!({"owner": owner(), "repo": repo(), "discussionNumber": number("The discussion's number")}),
        required: &["owner", "repo", "discussionNumber"],
    },
    Spec {
        name: "get_discussion_comments",
        toolset: "discussions",
        read_only: true,
        title: "Get discussion comments",
        description: "Reads a discussion's comments (with their replies when includeReplies), with node ids for \
            replying, changing or marking one as the answer; pages by cursor.",
        properties: || {
            json!({"owner": owner(), "repo": repo(), "discussionNumber": number("The discussion's number"),
                   "includeReplies": {"type": "boolean", "description": "Each comment's replies too (up to 100)"},
                   "perPage": per_page(), "after": s("Cursor: the previous page's pageInfo.endCursor")})
        },
        required: &["owner", "repo", "discussionNumber"],
    },
    Spec {
        name: "list_discussion_categories",
        toolset: "discussions",
        read_only: true,
        title: "List discussion categories",
        description: "Lists the discussion categories of a repository (of the organization's .github repository \
            when repo is absent): ids and names.",
        properties: || json!({"owner": owner(), "repo": s("Repository name; the organization's when absent")}),
        required: &["owner"],
    },
    Spec {
        name: "discussion_comment_write",
        toolset: "discussions",
        read_only: false,
        title: "Manage discussion comments",
        description: "Writes discussion comments. add: a comment on the discussion (owner, repo, discussionNumber, \
            body); reply: an answer to a comment (plus commentNodeID); update: a comment's new body (commentNodeID, \
            body); delete: removes a comment (commentNodeID); mark_answer / unmark_answer: the comment as the \
            discussion's answer (commentNodeID).",
        properties: || {
            json!({"method": e("What to do", &["add", "reply", "update", "delete", "mark_answer", "unmark_answer"]),
                   "owner": owner(), "repo": repo(), "discussionNumber": number("The discussion's number (add, reply)"),
                   "body": s("The comment's text (add, reply, update)"),
                   "commentNodeID": s("The comment's node id (reply, update, delete, mark_answer, unmark_answer)")})
        },
        required: &["method"],
    },
];

const PAGE_INFO: &str = "pageInfo{hasNextPage,hasPreviousPage,startCursor,endCursor}";

/// `repo`, or the organization's `.github` repository when absent, as the reference reads it.
fn repo_or_org(a: &Args<'_>) -> Result<String> {
    Ok(a.opt_str("repo")?.filter(|r| !r.is_empty()).unwrap_or_else(|| ".github".into()))
}

/// `first` from `perPage` (30 when absent).
fn first(a: &Args<'_>) -> Result<u64> {
    match a.opt_num("perPage")? {
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(n) => Err(a.bad(format!("`perPage` must be between 1 and 100, not {n}"))),
        None => Ok(30),
    }
}

/// GitHub's page info, its cursors as text.
fn page_info(connection: &Value) -> Value {
    let info = connection.get("pageInfo").cloned().unwrap_or(Value::Null);
    let flag = |k: &str| json!(info.get(k).and_then(Value::as_bool).unwrap_or(false));
    let text = |k: &str| json!(info.get(k).and_then(Value::as_str).unwrap_or(""));
    json!({"hasNextPage": flag("hasNextPage"), "hasPreviousPage": flag("hasPreviousPage"),
           "startCursor": text("startCursor"), "endCursor": text("endCursor")})
}

/// An author's login as the lockdown and marking rules read it (`user.login`).
fn as_item(node: &Value, body: &Value) -> Value {
    json!({"body": body, "user": {"login": node.pointer("/author/login").cloned().unwrap_or(json!("ghost"))}})
}

/// Runs tool `name` of this module.
pub(super) async fn call(inner: &Inner, name: &str, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    let owner = if name == "discussion_comment_write" { String::new() } else { a.str("owner")? };
    Ok(match name {
        "list_discussions" => {
            let repo = repo_or_org(a)?;
            let mut vars = json!({"owner": owner, "repo": repo, "first": first(a)?, "after": a.opt_str("after")?});
            let (mut decl, mut args) = (String::new(), String::new());
            if let Some(category) = a.opt_str("category")?.filter(|c| !c.is_empty()) {
                decl.push_str(",$categoryId:ID!");
                args.push_str(",categoryId:$categoryId");
                vars["categoryId"] = json!(category);
            }
            if let Some(field) = a.opt_str("orderBy")?.filter(|o| !o.is_empty()) {
                decl.push_str(",$orderBy:DiscussionOrder!");
                args.push_str(",orderBy:$orderBy");
                let direction = a.opt_str("direction")?.filter(|d| !d.is_empty()).unwrap_or_else(|| "DESC".into());
                vars["orderBy"] = json!({"field": field, "direction": direction});
            }
            let query = format!(
                "query($owner:String!,$repo:String!,$first:Int!,$after:String{decl}){{repository(owner:$owner,name:$repo){{\
                 discussions(first:$first,after:$after{args}){{nodes{{number,title,createdAt,updatedAt,closed,isAnswered,\
                 author{{login}},category{{name}},url}},{PAGE_INFO},totalCount}}}}}}"
            );
            let data = api.graphql(&owner, &query, vars).await?;
            let connection = data.pointer("/repository/discussions").cloned().unwrap_or(Value::Null);
            let discussions: Vec<Value> = connection
                .get("nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|d| {
                    json!({"number": d.get("number"), "title": d.get("title"), "html_url": d.get("url"),
                           "created_at": d.get("createdAt"), "updated_at": d.get("updatedAt"),
                           "user": {"login": d.pointer("/author/login")}, "category": {"name": d.pointer("/category/name")}})
                })
                .collect();
            json!({"discussions": discussions, "pageInfo": page_info(&connection),
                   "totalCount": connection.get("totalCount").cloned().unwrap_or(json!(0))})
        }
        "get_discussion" => {
            let repo = a.str("repo")?;
            let query = "query($owner:String!,$repo:String!,$discussionNumber:Int!){repository(owner:$owner,name:$repo){\
                discussion(number:$discussionNumber){number,title,body,createdAt,closed,isAnswered,url,author{login},\
                category{name}}}}";
            let vars = json!({"owner": owner, "repo": repo, "discussionNumber": a.num("discussionNumber")?});
            let data = api.graphql(&owner, query, vars).await?;
            let d = data.pointer("/repository/discussion").cloned().unwrap_or(Value::Null);
            if d.is_null() {
                return Err(
                    a.bad(format!("discussion #{} was not found in {owner}/{repo}", a.num("discussionNumber")?))
                );
            }
            let item = as_item(&d, d.get("body").unwrap_or(&Value::Null));
            let full = format!("{owner}/{repo}");
            inner.refuse_untrusted(&full, &item).await?;
            json!({"number": d.get("number"), "title": d.get("title"), "body": inner.mark(&item, "body"),
                   "url": d.get("url"), "closed": d.get("closed"), "isAnswered": d.get("isAnswered"),
                   "createdAt": d.get("createdAt"), "category": {"name": d.pointer("/category/name")}})
        }
        "get_discussion_comments" => comments(inner, a, &owner).await?,
        "list_discussion_categories" => {
            let repo = repo_or_org(a)?;
            let query = format!(
                "query($owner:String!,$repo:String!,$first:Int!){{repository(owner:$owner,name:$repo){{\
                 discussionCategories(first:$first){{nodes{{id,name}},{PAGE_INFO},totalCount}}}}}}"
            );
            let data = api.graphql(&owner, &query, json!({"owner": owner, "repo": repo, "first": 25})).await?;
            let connection = data.pointer("/repository/discussionCategories").cloned().unwrap_or(Value::Null);
            let categories: Vec<Value> = connection
                .get("nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| json!({"id": c.get("id"), "name": c.get("name")}))
                .collect();
            json!({"categories": categories, "pageInfo": page_info(&connection),
                   "totalCount": connection.get("totalCount").cloned().unwrap_or(json!(0))})
        }
        "discussion_comment_write" => write(inner, a).await?,
        other => return Err(Error::Config(format!("the native server has no tool `{other}`"))),
    })
}

/// `get_discussion_comments`: each comment (and, on request, its replies) with its node id and
/// marked body; in lockdown mode, comments by authors without push access left out.
async fn comments(inner: &Inner, a: &Args<'_>, owner: &str) -> Result<Value> {
    let repo = a.str("repo")?;
    let replies = a.opt_bool("includeReplies")?.unwrap_or(false);
    let reply_part = if replies { ",replies(first:100){nodes{id,body,isAnswer,author{login}},totalCount}" } else { "" };
    let query = format!(
        "query($owner:String!,$repo:String!,$discussionNumber:Int!,$first:Int!,$after:String){{repository(owner:$owner,\
         name:$repo){{discussion(number:$discussionNumber){{comments(first:$first,after:$after){{nodes{{id,body,isAnswer,\
         author{{login}}{reply_part}}},{PAGE_INFO},totalCount}}}}}}}}"
    );
    let vars = json!({"owner": owner, "repo": repo, "discussionNumber": a.num("discussionNumber")?,
                      "first": first(a)?, "after": a.opt_str("after")?});
    let data = inner.api.graphql(owner, &query, vars).await?;
    let discussion = data.pointer("/repository/discussion").cloned().unwrap_or(Value::Null);
    if discussion.is_null() {
        return Err(a.bad(format!("discussion #{} was not found in {owner}/{repo}", a.num("discussionNumber")?)));
    }
    let connection = discussion.get("comments").cloned().unwrap_or(Value::Null);
    let full = format!("{owner}/{repo}");
    let mut out = Vec::new();
    for node in connection.get("nodes").and_then(Value::as_array).into_iter().flatten() {
        let Some(mut comment) = minimal_comment(inner, &full, node).await? else { continue };
        if replies {
            let mut shown = Vec::new();
            for reply in node.pointer("/replies/nodes").and_then(Value::as_array).into_iter().flatten() {
                if let Some(reply) = minimal_comment(inner, &full, reply).await? {
                    shown.push(Value::Object(reply));
                }
            }
            if !shown.is_empty() {
                comment.insert("replies".into(), Value::Array(shown));
            }
            if let Some(total) = node.pointer("/replies/totalCount").and_then(Value::as_u64).filter(|t| *t > 0) {
                comment.insert("replyTotalCount".into(), json!(total));
            }
        }
        out.push(Value::Object(comment));
    }
    Ok(json!({"comments": out, "pageInfo": page_info(&connection),
              "totalCount": connection.get("totalCount").cloned().unwrap_or(json!(0))}))
}

/// A comment as the reference shows one (`id`, `body`, `isAnswer` when it is), its body
/// marked; `None` when lockdown mode withholds its author.
async fn minimal_comment(inner: &Inner, repo: &str, node: &Value) -> Result<Option<Map<String, Value>>> {
    let item = as_item(node, node.get("body").unwrap_or(&Value::Null));
    if !inner.trusted(repo, &item).await? {
        return Ok(None);
    }
    let mut out = Map::new();
    out.insert("id".into(), node.get("id").cloned().unwrap_or(json!("")));
    out.insert("body".into(), inner.mark(&item, "body"));
    if node.get("isAnswer").and_then(Value::as_bool) == Some(true) {
        out.insert("isAnswer".into(), json!(true));
    }
    Ok(Some(out))
}

/// `discussion_comment_write`.
async fn write(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    let method = a.method(&["add", "reply", "update", "delete", "mark_answer", "unmark_answer"])?;
    let node_id = || -> Result<String> {
        let id = a.opt_str("commentNodeID")?.unwrap_or_default();
        if id.trim().is_empty() {
            return Err(
                a.bad("`commentNodeID` is required (the comment's node id, from get_discussion_comments)".into())
            );
        }
        Ok(id)
    };
    // The account to act as, when several are configured: the owner's, if the caller gave it
    // (optional for the methods that name a comment by its node id), else the default one.
    let account = a.opt_str("owner")?.unwrap_or_default();
    let comment_out = |data: &Value, at: &str| {
        let c = data.pointer(at).cloned().unwrap_or(Value::Null);
        json!({"id": c.get("id").cloned().unwrap_or(json!("")), "url": c.get("url").cloned().unwrap_or(json!(""))})
    };
    Ok(match method.as_str() {
        "add" | "reply" => {
            let (owner, repo, number) = (a.str("owner")?, a.str("repo")?, a.num("discussionNumber")?);
            let body = a.str("body")?;
            let query = "query($owner:String!,$repo:String!,$discussionNumber:Int!){repository(owner:$owner,name:$repo){\
                discussion(number:$discussionNumber){id}}}";
            let data =
                api.graphql(&owner, query, json!({"owner": owner, "repo": repo, "discussionNumber": number})).await?;
            let discussion = data.pointer("/repository/discussion/id").cloned().unwrap_or(Value::Null);
            if discussion.is_null() {
                return Err(a.bad(format!("discussion #{number} was not found in {owner}/{repo}")));
            }
            let mut input = json!({"discussionId": discussion, "body": body});
            if method == "reply" {
                let reply_to = node_id()?;
                let query = "query($id:ID!){node(id:$id){__typename,...on DiscussionComment{discussion{id}}}}";
                let data = api.graphql(&owner, query, json!({"id": reply_to})).await?;
                if data.pointer("/node/discussion/id") != Some(&discussion) {
                    return Err(a.bad(format!(
                        "comment `{reply_to}` is not a comment of discussion #{number} in {owner}/{repo}"
                    )));
                }
                input["replyToId"] = json!(reply_to);
            }
            let mutation =
                "mutation($input:AddDiscussionCommentInput!){addDiscussionComment(input:$input){comment{id,url}}}";
            comment_out(&api.graphql(&owner, mutation, json!({"input": input})).await?, "/addDiscussionComment/comment")
        }
        "update" => {
            let input = json!({"commentId": node_id()?, "body": a.str("body")?});
            let mutation = "mutation($input:UpdateDiscussionCommentInput!){updateDiscussionComment(input:$input){comment{id,url}}}";
            comment_out(
                &api.graphql(&account, mutation, json!({"input": input})).await?,
                "/updateDiscussionComment/comment",
            )
        }
        "delete" => {
            let mutation = "mutation($input:DeleteDiscussionCommentInput!){deleteDiscussionComment(input:$input){comment{id,url}}}";
            let data = api.graphql(&account, mutation, json!({"input": {"id": node_id()?}})).await?;
            comment_out(&data, "/deleteDiscussionComment/comment")
        }
        _ => {
            let field = if method == "mark_answer" {
                "markDiscussionCommentAsAnswer"
            } else {
                "unmarkDiscussionCommentAsAnswer"
            };
            let input_type = if method == "mark_answer" {
                "MarkDiscussionCommentAsAnswerInput"
            } else {
                "UnmarkDiscussionCommentAsAnswerInput"
            };
            let mutation = format!("mutation($input:{input_type}!){{{field}(input:$input){{discussion{{id,url}}}}}}");
            let data = api.graphql(&account, &mutation, json!({"input": {"id": node_id()?}})).await?;
            let d = data.pointer(&format!("/{field}/discussion")).cloned().unwrap_or(Value::Null);
            json!({"discussionID": d.get("id").cloned().unwrap_or(json!("")), "discussionURL": d.get("url").cloned().unwrap_or(json!(""))})
        }
    })
}
