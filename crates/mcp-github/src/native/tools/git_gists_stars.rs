//! The reference's `git` toolset (a repository's tree), `stargazers` (starred repositories,
//! star and unstar) and `gists` (list, read, create, update), over GitHub's REST API. Gist
//! descriptions and file contents are text people wrote: they come marked as untrusted, by the
//! gist's owner. Lockdown mode, which is about who may push to a public repository, has no
//! repository to ask about for a gist; the marks are what guards them.

use http::Method;
use serde_json::{Map, Value, json};

use super::{Args, Inner, Query, Spec, With, e, owner, page, per_page, pick, repo, repository, s, segment};
use crate::Result;

/// The tools of this module.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "get_repository_tree",
        toolset: "git",
        read_only: true,
        title: "Get repository tree",
        description: "Lists the files and directories of a repository at a branch, tag or tree SHA (the default \
            branch when absent): one level, or the whole tree when recursive; path_filter keeps paths under a prefix.",
        properties: || {
            json!({"owner": owner(), "repo": repo(),
                   "tree_sha": s("Tree SHA, branch or tag; the default branch when absent"),
                   "recursive": {"type": "boolean", "default": false, "description": "The whole tree, not just the top level"},
                   "path_filter": s("Only paths starting with this prefix (e.g. src/)")})
        },
        required: &["owner", "repo"],
    },
    Spec {
        name: "list_starred_repositories",
        toolset: "stargazers",
        read_only: true,
        title: "List starred repositories",
        description: "Lists the repositories a user (the authenticated one when absent) has starred.",
        properties: || {
            json!({"username": s("Login; the authenticated user when absent"),
                   "sort": e("created: when starred; updated: when last pushed to", &["created", "updated"]),
                   "direction": e("Sort direction", &["asc", "desc"]),
                   "page": page(), "perPage": per_page()})
        },
        required: &[],
    },
    Spec {
        name: "star_repository",
        toolset: "stargazers",
        read_only: false,
        title: "Star repository",
        description: "Stars a repository as the authenticated user.",
        properties: || json!({"owner": owner(), "repo": repo()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "unstar_repository",
        toolset: "stargazers",
        read_only: false,
        title: "Unstar repository",
        description: "Takes the authenticated user's star off a repository.",
        properties: || json!({"owner": owner(), "repo": repo()}),
        required: &["owner", "repo"],
    },
    Spec {
        name: "list_gists",
        toolset: "gists",
        read_only: true,
        title: "List Gists",
        description: "Lists a user's gists (the authenticated user's when absent), newest first.",
        properties: || {
            json!({"username": s("Login; the authenticated user when absent"),
                   "since": s("Only gists updated after this time (ISO 8601)"),
                   "page": page(), "perPage": per_page()})
        },
        required: &[],
    },
    Spec {
        name: "get_gist",
        toolset: "gists",
        read_only: true,
        title: "Get Gist Content",
        description: "Reads a gist by id: its description and files with their content.",
        properties: || json!({"gist_id": s("The gist's id")}),
        required: &["gist_id"],
    },
    Spec {
        name: "create_gist",
        toolset: "gists",
        read_only: false,
        title: "Create Gist",
        description: "Creates a gist of one file (secret unless public is true).",
        properties: || {
            json!({"description": s("The gist's description"), "filename": s("The file's name"),
                   "content": s("The file's content"),
                   "public": {"type": "boolean", "default": false, "description": "Public rather than secret"}})
        },
        required: &["filename", "content"],
    },
    Spec {
        name: "update_gist",
        toolset: "gists",
        read_only: false,
        title: "Update Gist",
        description: "Writes one file of a gist (adding it when new), and its description when given.",
        properties: || {
            json!({"gist_id": s("The gist's id"), "description": s("The new description"),
                   "filename": s("The file to write"), "content": s("The file's new content")})
        },
        required: &["gist_id", "filename", "content"],
    },
];

/// Runs tool `name` of this module.
pub(super) async fn call(inner: &Inner, name: &str, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    Ok(match name {
        "get_repository_tree" => tree(inner, a).await?,
        "list_starred_repositories" => {
            let mut q = Query::default();
            q.opt("sort", a.opt_str("sort")?);
            q.opt("direction", a.opt_str("direction")?);
            a.paging(&mut q)?;
            let path = match a.opt_str("username")?.filter(|u| !u.is_empty()) {
                Some(login) => format!("/users/{}/starred", segment(&login)),
                None => "/user/starred".to_owned(),
            };
            let reply = api.get(&q.on(&path)).await?.body;
            Value::Array(reply.as_array().into_iter().flatten().map(|r| Value::Object(repository(r))).collect())
        }
        "star_repository" | "unstar_repository" => {
            let (owner, name_) = (a.str("owner")?, a.str("repo")?);
            let path = format!("/user/starred/{}/{}", segment(&owner), segment(&name_));
            if name == "star_repository" {
                api.send(Method::PUT, &path, None).await?;
                json!(format!("Successfully starred repository {owner}/{name_}"))
            } else {
                api.send(Method::DELETE, &path, None).await?;
                json!(format!("Successfully unstarred repository {owner}/{name_}"))
            }
        }
        "list_gists" => {
            let mut q = Query::default();
            q.opt("since", a.opt_str("since")?);
            a.paging(&mut q)?;
            let path = match a.opt_str("username")?.filter(|u| !u.is_empty()) {
                Some(login) => format!("/users/{}/gists", segment(&login)),
                None => "/gists".to_owned(),
            };
            let reply = api.get(&q.on(&path)).await?.body;
            Value::Array(reply.as_array().into_iter().flatten().map(|g| Value::Object(gist(inner, g, false))).collect())
        }
        "get_gist" => {
            let reply = api.get(&format!("/gists/{}", segment(&a.str("gist_id")?))).await?.body;
            Value::Object(gist(inner, &reply, true))
        }
        "create_gist" => {
            let mut body = json!({
                "files": {a.str("filename")?: {"content": a.str("content")?}},
                "public": a.opt_bool("public")?.unwrap_or(false),
            });
            if let Some(description) = a.opt_str("description")? {
                body["description"] = json!(description);
            }
            id_and_page(&api.send(Method::POST, "/gists", Some(&body)).await?.body)
        }
        "update_gist" => {
            let mut body = json!({"files": {a.str("filename")?: {"content": a.str("content")?}}});
            // The description changes only when given, as the reference does.
            if let Some(description) = a.opt_str("description")? {
                body["description"] = json!(description);
            }
            let path = format!("/gists/{}", segment(&a.str("gist_id")?));
            id_and_page(&api.send(Method::PATCH, &path, Some(&body)).await?.body)
        }
        other => return Err(crate::Error::Config(format!("the native server has no tool `{other}`"))),
    })
}

/// `{id, url}` of a gist GitHub answered with (its page).
fn id_and_page(value: &Value) -> Value {
    json!({"id": value.get("id").cloned().unwrap_or(json!("")), "url": value.get("html_url").cloned().unwrap_or(json!(""))})
}

/// A gist's essentials: its description and (with `content`) its files' text marked as
/// untrusted, by its owner.
fn gist(inner: &Inner, value: &Value, content: bool) -> Map<String, Value> {
    let login = value.pointer("/owner/login").cloned().unwrap_or(Value::Null);
    let by_owner = |text: &Value| {
        let probe = json!({"text": text, "user": {"login": login}});
        inner.mark(&probe, "text")
    };
    let files: Map<String, Value> = value
        .get("files")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, file)| {
            let mut out = pick(file, &["filename", "type", "language", "size"]);
            if content {
                out.insert("content".into(), by_owner(file.get("content").unwrap_or(&Value::Null)));
                if let Some(truncated) = file.get("truncated") {
                    out.insert("truncated".into(), truncated.clone());
                }
            }
            (name.clone(), Value::Object(out))
        })
        .collect();
    pick(value, &["id", "html_url", "public", "comments", "created_at", "updated_at"])
        .with("description", by_owner(value.get("description").unwrap_or(&Value::Null)))
        .with("owner", json!({"login": login}))
        .with("files", Value::Object(files))
}

/// `get_repository_tree`: the tree at `tree_sha` (the default branch when absent), its entries
/// filtered by path prefix, in the reference's shape.
async fn tree(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let (owner, name) = (a.str("owner")?, a.str("repo")?);
    let repo_path = a.repo_path()?;
    let tree_sha = match a.opt_str("tree_sha")?.filter(|t| !t.is_empty()) {
        Some(sha) => sha,
        None => {
            let info = inner.api.get(&repo_path).await?.body;
            info.get("default_branch").and_then(Value::as_str).unwrap_or("main").to_owned()
        }
    };
    let recursive = a.opt_bool("recursive")?.unwrap_or(false);
    let mut path = format!("{repo_path}/git/trees/{}", segment(&tree_sha));
    if recursive {
        path.push_str("?recursive=1");
    }
    let reply = inner.api.get(&path).await?.body;
    let prefix = a.opt_str("path_filter")?.unwrap_or_default();
    let entries: Vec<Value> = reply
        .get("tree")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("path").and_then(Value::as_str).unwrap_or("").starts_with(&prefix))
        .map(|entry| Value::Object(pick(entry, &["path", "type", "size", "mode", "sha", "url"])))
        .collect();
    Ok(json!({
        "sha": reply.get("sha").cloned().unwrap_or(json!("")),
        "truncated": reply.get("truncated").cloned().unwrap_or(json!(false)),
        "count": entries.len(),
        "tree": entries,
        "tree_sha": tree_sha,
        "owner": owner,
        "repo": name,
        "recursive": recursive,
    }))
}
