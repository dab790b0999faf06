//! The reference's `projects` toolset (GitHub Projects, the second version): `projects_list`,
//! `projects_get` and `projects_write`, each with a `method`.
//!
//! Projects, their fields and items go through GitHub's REST API (`/orgs/ORG/projectsV2`,
//! `/users/USER/projectsV2/NUMBER/fields`, `.../items`), cursor-paged with `per_page` (at most
//! 50), `after` and `before`, the cursors read from the `Link` header. Status updates, views,
//! new projects, iteration fields and adding items go through GraphQL, which is where GitHub
//! has them. When `owner_type` is absent, the owner's account type is asked of `/users/OWNER`
//! (then each kind of project probed); `list_projects` without it lists both kinds.
//!
//! Field names (`field_names`, `visible_field_names`, `updated_field.name`) are resolved to ids
//! with the project's field list, case-insensitively, and a single-select option named by the
//! caller to its option id. A project's description and a status update's body are people's
//! text: marked as untrusted. Lockdown mode, which is about who may push to a public
//! repository, does not apply to projects.

use http::Method;
use serde_json::{Map, Value, json};

use super::security::cursors;
use super::{Args, Inner, Query, Spec, e, pick, s, segment, strings, user};
use crate::{Error, Result};

const LIST: &[&str] = &[
    "list_projects",
    "list_project_fields",
    "list_project_items",
    "list_project_status_updates",
    "list_project_views",
];
const GET: &[&str] =
    &["get_project", "get_project_field", "get_project_item", "get_project_status_update", "get_project_view"];
const WRITE: &[&str] = &[
    "add_project_item",
    "update_project_item",
    "update_project_items",
    "delete_project_item",
    "create_project_status_update",
    "create_project_view",
    "update_project_view",
    "delete_project_view",
    "create_project",
    "create_iteration_field",
];
const STATUSES: &[&str] = &["INACTIVE", "ON_TRACK", "AT_RISK", "OFF_TRACK", "COMPLETE"];
/// The most results a page holds, and the most items one `update_project_items` call updates.
const MAX_PER_PAGE: u64 = 50;
const MAX_BATCH: usize = 50;

fn number(description: &str) -> Value {
    json!({"type": "number", "description": description})
}
fn owner_type(description: &str) -> Value {
    e(description, &["user", "org"])
}
fn login() -> Value {
    s("The owner (user or organization login); not case sensitive")
}
fn closed(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": properties, "required": required})
}

/// The tools of this module.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        name: "projects_list",
        toolset: "projects",
        read_only: true,
        title: "List GitHub Projects resources",
        description: "Lists GitHub Projects resources. list_projects: a user's or organization's projects (query \
            filters by title and state, e.g. 'roadmap is:open'); list_project_fields, list_project_items (query: \
            GitHub's project filter syntax; fields or field_names: the field values to include, else only titles), \
            list_project_status_updates, list_project_views: of one project (project_number). Pages by cursor: \
            after = the previous page's pageInfo.nextCursor.",
        properties: || {
            json!({"method": e("What to list", LIST),
                   "owner_type": owner_type("user or org; found out when absent (list_projects then lists both)"),
                   "owner": login(),
                   "project_number": number("The project's number (all but list_projects)"),
                   "query": s("Filter: for list_projects title text and state; for list_project_items GitHub's project filter syntax"),
                   "fields": strings("Field ids whose values list_project_items includes (not with field_names)"),
                   "field_names": strings("Field names whose values list_project_items includes (not with fields)"),
                   "per_page": number("Results per page (1-50, 50 when absent)"),
                   "after": s("Cursor: the previous page's pageInfo.nextCursor"),
                   "before": s("Cursor: the page before, pageInfo.prevCursor")})
        },
        required: &["method", "owner"],
    },
    Spec {
        name: "projects_get",
        toolset: "projects",
        read_only: true,
        title: "Get details of GitHub Projects resources",
        description: "Reads one GitHub Projects resource. get_project, get_project_field (field_id), \
            get_project_item (item_id; fields or field_names: the field values to include): by owner and \
            project_number; get_project_status_update (status_update_id) and get_project_view (view_id): by node id.",
        properties: || {
            json!({"method": e("What to read", GET),
                   "owner_type": owner_type("user or org; found out when absent"),
                   "owner": login(),
                   "project_number": number("The project's number"),
                   "field_id": number("The field's id (get_project_field)"),
                   "item_id": number("The item's id (get_project_item)"),
                   "fields": strings("Field ids whose values get_project_item includes (not with field_names)"),
                   "field_names": strings("Field names whose values get_project_item includes (not with fields)"),
                   "status_update_id": s("The status update's node id (get_project_status_update)"),
                   "view_id": s("The view's node id (get_project_view)")})
        },
        required: &["method"],
    },
    Spec {
        name: "projects_write",
        toolset: "projects",
        read_only: false,
        title: "Manage GitHub Projects",
        description: "Changes GitHub Projects. create_project (owner_type, title); of a project (project_number): \
            add_project_item (item_type, item_owner, item_repo, issue_number or pull_request_number), \
            update_project_item (item_id, or item_owner + item_repo + issue_number; updated_field), \
            update_project_items (items, up to 50, each {node_id}, {item_id} or {item_owner, item_repo, \
            issue_number}; one updated_field for all), delete_project_item (item_id), create_project_status_update \
            (body, status, start_date, target_date), create_project_view (name, layout, filter, visible_fields or \
            visible_field_names), update_project_view and delete_project_view (view_id), create_iteration_field \
            (field_name, iteration_duration, start_date, optional iterations).",
        properties: || {
            let value = json!({"description": "The value; null clears the field"});
            let item_ref = json!({"type": "object", "oneOf": [
                closed(json!({"node_id": s("The item's node id")}), &["node_id"]),
                closed(json!({"item_id": {"type": "integer", "description": "The item's id"}}), &["item_id"]),
                closed(json!({"item_owner": s("The issue's repository owner"), "item_repo": s("The issue's repository"),
                              "issue_number": {"type": "integer", "description": "The issue's number"}}),
                       &["item_owner", "item_repo", "issue_number"]),
            ]});
            json!({"method": e("What to do", WRITE),
                   "owner_type": owner_type("user or org; required for create_project, found out otherwise"),
                   "owner": s("The project's owner (user or organization login); not case sensitive"),
                   "project_number": number("The project's number (all but create_project)"),
                   "title": s("The new project's title (create_project)"),
                   "view_id": s("The view's node id (update_project_view, delete_project_view)"),
                   "name": s("The view's name (create_project_view, update_project_view)"),
                   "layout": e("The view's layout", &["table", "board", "roadmap"]),
                   "filter": {"anyOf": [{"type": "string"}, {"type": "null"}],
                              "description": "The view's filter; null clears it on update"},
                   "visible_fields": strings("Field ids the view shows, in order ([] resets; not with visible_field_names)"),
                   "visible_field_names": strings("Field names the view shows, in order ([] resets; not with visible_fields)"),
                   "item_id": number("The item's id (update_project_item, delete_project_item)"),
                   "item_type": e("What add_project_item adds", &["issue", "pull_request"]),
                   "item_owner": s("The owner of the issue's or pull request's repository"),
                   "item_repo": s("The issue's or pull request's repository"),
                   "issue_number": number("The issue's number"),
                   "pull_request_number": number("The pull request's number (add_project_item)"),
                   "updated_field": {"type": "object",
                       "description": "The field and value to set: {\"id\": 123, \"value\": ...} or {\"name\": \"Status\", \"value\": ...}",
                       "oneOf": [
                           closed(json!({"id": {"type": "integer", "description": "The field's id"}, "value": value}), &["id", "value"]),
                           closed(json!({"name": s("The field's name (not case sensitive)"), "value": value}), &["name", "value"]),
                       ]},
                   "items": {"type": "array", "description": "The items update_project_items updates (up to 50)", "items": item_ref},
                   "body": s("The status update's text (markdown)"),
                   "status": e("The status update's status", STATUSES),
                   "start_date": s("Start date, YYYY-MM-DD (status updates, iteration fields)"),
                   "target_date": s("The status update's target date, YYYY-MM-DD"),
                   "field_name": s("The iteration field's name (create_iteration_field)"),
                   "iteration_duration": number("Days in each iteration (create_iteration_field)"),
                   "iterations": {"type": "array", "description": "Iterations to make instead of GitHub's three default ones",
                       "items": closed(json!({"title": s("The iteration's title"), "start_date": s("Its start, YYYY-MM-DD"),
                                              "duration": number("Its length in days")}), &["title", "start_date", "duration"])}})
        },
        required: &["method", "owner"],
    },
];

/// Who owns a project.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    User,
    Org,
}

impl Kind {
    fn rest(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Org => "orgs",
        }
    }
    fn graphql(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Org => "organization",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Org => "org",
        }
    }
}

/// `owner_type`, when given.
fn given_kind(a: &Args<'_>) -> Result<Option<Kind>> {
    match a.opt_str("owner_type")?.as_deref() {
        None | Some("") => Ok(None),
        Some("user") => Ok(Some(Kind::User)),
        Some("org") => Ok(Some(Kind::Org)),
        Some(other) => Err(a.bad(format!("`owner_type` must be user or org, not {other:?}"))),
    }
}

/// `owner_type`, or what `owner` turns out to be: its account type, else whichever kind of
/// account has project `number`.
async fn kind_of(inner: &Inner, a: &Args<'_>, owner: &str, number: u64) -> Result<Kind> {
    if let Some(kind) = given_kind(a)? {
        return Ok(kind);
    }
    // A 404 only says "not this kind"; any other failure (a rate limit, GitHub down) is the answer.
    let not_found = |e: Error| match e {
        Error::Api { status: 404, .. } => Ok(()),
        other => Err(other),
    };
    match inner.api.get(&format!("/users/{}", segment(owner))).await {
        Ok(reply) => match reply.body.get("type").and_then(Value::as_str) {
            Some("User") => return Ok(Kind::User),
            Some("Organization") => return Ok(Kind::Org),
            _ => {}
        },
        Err(e) => not_found(e)?,
    }
    for kind in [Kind::User, Kind::Org] {
        match inner.api.get(&base(kind, owner, number)).await {
            Ok(_) => return Ok(kind),
            Err(e) => not_found(e)?,
        }
    }
    Err(Error::Precondition(format!(
        "could not tell whether `{owner}` is a user or an organization with project {number}: give owner_type"
    )))
}

/// The REST path of project `number`.
fn base(kind: Kind, owner: &str, number: u64) -> String {
    format!("/{}/{}/projectsV2/{number}", kind.rest(), segment(owner))
}

fn per_page(a: &Args<'_>) -> Result<u64> {
    match a.opt_num("per_page")? {
        None => Ok(MAX_PER_PAGE),
        Some(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(a.bad(format!("`per_page` must be between 1 and {MAX_PER_PAGE}, not {n}"))),
    }
}

/// `after` and `before`, at most one of them.
fn cursor_args(a: &Args<'_>) -> Result<(Option<String>, Option<String>)> {
    let after = a.opt_str("after")?.filter(|c| !c.is_empty());
    let before = a.opt_str("before")?.filter(|c| !c.is_empty());
    if after.is_some() && before.is_some() {
        return Err(a.bad("give `after` or `before`, not both".into()));
    }
    Ok((after, before))
}

/// `per_page`, `after` and `before` as a REST query.
fn paging(a: &Args<'_>, q: &mut Query) -> Result<()> {
    q.push("per_page", per_page(a)?.to_string());
    let (after, before) = cursor_args(a)?;
    q.opt("after", after);
    q.opt("before", before);
    Ok(())
}

/// The page info of a REST reply, from its `Link` header.
fn rest_page_info(reply: &super::Reply) -> Value {
    let (next, prev) = cursors(&reply.headers);
    json!({"hasNextPage": next.is_some(), "hasPreviousPage": prev.is_some(),
           "nextCursor": next.unwrap_or_default(), "prevCursor": prev.unwrap_or_default()})
}

/// The page info of a GraphQL connection, in the same shape.
fn graphql_page_info(connection: &Value) -> Value {
    let info = connection.get("pageInfo").cloned().unwrap_or(Value::Null);
    let flag = |k: &str| json!(info.get(k).and_then(Value::as_bool).unwrap_or(false));
    let text = |k: &str| json!(info.get(k).and_then(Value::as_str).unwrap_or(""));
    json!({"hasNextPage": flag("hasNextPage"), "hasPreviousPage": flag("hasPreviousPage"),
           "nextCursor": text("endCursor"), "prevCursor": text("startCursor")})
}

const PAGE_INFO: &str = "pageInfo{hasNextPage,hasPreviousPage,startCursor,endCursor}";
const STATUS_UPDATE: &str = "id,body,status,createdAt,startDate,targetDate,creator{login}";
const VIEW: &str = "id,number,name,layout,filter,configuration{visibleFields(first:100){nodes{\
    ...on ProjectV2FieldCommon{databaseId}}}}";

/// Runs tool `name` of this module.
pub(super) async fn call(inner: &Inner, name: &str, a: &Args<'_>) -> Result<Value> {
    match name {
        "projects_list" => list(inner, a).await,
        "projects_get" => get(inner, a).await,
        "projects_write" => write(inner, a).await,
        other => Err(Error::Config(format!("the native server has no tool `{other}`"))),
    }
}

async fn list(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    let method = a.method(LIST)?;
    let owner = a.str("owner")?;
    if method == "list_projects" {
        let mut q = Query::default();
        q.opt("q", a.opt_str("query")?);
        paging(a, &mut q)?;
        let listed = |kind: Kind, reply: &super::Reply| -> Vec<Value> {
            reply
                .body
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Value::Object(project(inner, p).with_kind(kind)))
                .collect()
        };
        if let Some(kind) = given_kind(a)? {
            let reply = api.get(&q.on(&format!("/{}/{}/projectsV2", kind.rest(), segment(&owner)))).await?;
            return Ok(json!({"projects": listed(kind, &reply), "pageInfo": rest_page_info(&reply)}));
        }
        let mut projects = Vec::new();
        let mut info = None;
        for kind in [Kind::User, Kind::Org] {
            match api.get(&q.on(&format!("/{}/{}/projectsV2", kind.rest(), segment(&owner)))).await {
                Ok(reply) => {
                    projects.extend(listed(kind, &reply));
                    info = Some(rest_page_info(&reply));
                }
                Err(Error::Api { status: 404 | 403, .. }) => {}
                Err(other) => return Err(other),
            }
        }
        let Some(info) = info else {
            return Err(Error::Precondition(format!(
                "no projects found for `{owner}`: it is neither a user nor an organization whose projects this \
                 token can list"
            )));
        };
        return Ok(json!({"projects": projects, "pageInfo": info,
            "note": "Results include both user and org projects, each with its owner_type; give owner_type to page \
                     through one kind fully."}));
    }
    let number = a.num("project_number")?;
    let kind = kind_of(inner, a, &owner, number).await?;
    let base = base(kind, &owner, number);
    match method.as_str() {
        "list_project_fields" => {
            let mut q = Query::default();
            paging(a, &mut q)?;
            let reply = api.get(&q.on(&format!("{base}/fields"))).await?;
            Ok(json!({"fields": reply.body, "pageInfo": rest_page_info(&reply)}))
        }
        "list_project_items" => {
            let mut q = Query::default();
            q.opt("q", a.opt_str("query")?);
            q.opt("fields", field_ids(inner, a, &base).await?);
            paging(a, &mut q)?;
            let reply = api.get(&q.on(&format!("{base}/items"))).await?;
            let items: Vec<Value> = reply.body.as_array().into_iter().flatten().map(item).collect();
            Ok(json!({"items": items, "pageInfo": rest_page_info(&reply)}))
        }
        "list_project_status_updates" => {
            let query = format!(
                "query($owner:String!,$number:Int!,$first:Int!,$after:String){{{}(login:$owner){{projectV2(number:$number){{\
                 public,statusUpdates(first:$first,after:$after,orderBy:{{field:CREATED_AT,direction:DESC}}){{nodes{{{STATUS_UPDATE}}},\
                 {PAGE_INFO}}}}}}}}}",
                kind.graphql()
            );
            let (after, before) = cursor_args(a)?;
            if before.is_some() {
                return Err(a.bad("status updates page forward only: give `after`, not `before`".into()));
            }
            let vars = json!({"owner": owner, "number": number, "first": per_page(a)?, "after": after});
            let data = api.graphql(&owner, &query, vars).await?;
            let project = found_project(&data, kind, &owner, number)?;
            let connection = project.get("statusUpdates").cloned().unwrap_or(Value::Null);
            let updates = nodes(&connection).map(|n| status_update(inner, n)).collect::<Vec<_>>();
            Ok(json!({"statusUpdates": updates, "pageInfo": graphql_page_info(&connection)}))
        }
        _ => {
            let query = format!(
                "query($owner:String!,$number:Int!,$first:Int,$after:String,$last:Int,$before:String){{{}(login:$owner){{\
                 projectV2(number:$number){{id,public,views(first:$first,after:$after,last:$last,before:$before){{\
                 nodes{{{VIEW}}},{PAGE_INFO}}}}}}}}}",
                kind.graphql()
            );
            let (after, before) = cursor_args(a)?;
            let size = per_page(a)?;
            let vars = if before.is_some() {
                json!({"owner": owner, "number": number, "first": null, "after": null, "last": size, "before": before})
            } else {
                json!({"owner": owner, "number": number, "first": size, "after": after, "last": null, "before": null})
            };
            let data = api.graphql(&owner, &query, vars).await?;
            let project = found_project(&data, kind, &owner, number)?;
            let connection = project.get("views").cloned().unwrap_or(Value::Null);
            let views = nodes(&connection).map(view).collect::<Vec<_>>();
            Ok(json!({"views": views, "pageInfo": graphql_page_info(&connection)}))
        }
    }
}

async fn get(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    let method = a.method(GET)?;
    // The two read by node id need no owner or project number.
    let account = a.opt_str("owner")?.unwrap_or_default();
    if method == "get_project_status_update" {
        let id = a.str("status_update_id")?;
        let query =
            format!("query($id:ID!){{node(id:$id){{__typename,...on ProjectV2StatusUpdate{{{STATUS_UPDATE}}}}}}}");
        let data = api.graphql(&account, &query, json!({"id": id})).await?;
        let Some(node) = of_type(&data, "ProjectV2StatusUpdate") else {
            return Err(Error::Precondition(format!("`{id}` is not a project status update, or it was not found")));
        };
        return Ok(status_update(inner, node));
    }
    if method == "get_project_view" {
        let id = a.str("view_id")?;
        let query = format!("query($id:ID!){{node(id:$id){{__typename,...on ProjectV2View{{{VIEW}}}}}}}");
        let data = api.graphql(&account, &query, json!({"id": id})).await?;
        let Some(node) = of_type(&data, "ProjectV2View") else {
            return Err(Error::Precondition(format!("`{id}` is not a project view, or it was not found")));
        };
        return Ok(view(node));
    }
    let owner = a.str("owner")?;
    let number = a.num("project_number")?;
    let kind = kind_of(inner, a, &owner, number).await?;
    let base = base(kind, &owner, number);
    Ok(match method.as_str() {
        "get_project" => Value::Object(project(inner, &api.get(&base).await?.body)),
        "get_project_field" => api.get(&format!("{base}/fields/{}", a.num("field_id")?)).await?.body,
        _ => {
            let mut q = Query::default();
            q.opt("fields", field_ids(inner, a, &base).await?);
            item(&api.get(&q.on(&format!("{base}/items/{}", a.num("item_id")?))).await?.body)
        }
    })
}

async fn write(inner: &Inner, a: &Args<'_>) -> Result<Value> {
    let api = &inner.api;
    let method = a.method(WRITE)?;
    let owner = a.str("owner")?;
    if method == "create_project" {
        let kind = given_kind(a)?.ok_or_else(|| a.bad("`owner_type` is required for create_project".into()))?;
        let title = a.str("title")?;
        let query = format!("query($login:String!){{{}(login:$login){{id}}}}", kind.graphql());
        let data = api.graphql(&owner, &query, json!({"login": owner})).await?;
        let Some(owner_id) = data.pointer(&format!("/{}/id", kind.graphql())).and_then(Value::as_str) else {
            return Err(Error::Precondition(format!("{} `{owner}` was not found", kind.graphql())));
        };
        let mutation =
            "mutation($input:CreateProjectV2Input!){createProjectV2(input:$input){projectV2{id,number,title,url}}}";
        let data = api.graphql(&owner, mutation, json!({"input": {"ownerId": owner_id, "title": title}})).await?;
        let created = data.pointer("/createProjectV2/projectV2").cloned().unwrap_or(Value::Null);
        return Ok(Value::Object(pick(&created, &["id", "number", "title", "url"])));
    }
    let number = a.num("project_number")?;
    let kind = kind_of(inner, a, &owner, number).await?;
    let base = base(kind, &owner, number);
    let project = Project { kind, owner: &owner, number };
    Ok(match method.as_str() {
        "add_project_item" => {
            let item_type = a.str("item_type")?;
            let (item_owner, item_repo) = (a.str("item_owner")?, a.str("item_repo")?);
            let (field, key) = match item_type.as_str() {
                "issue" => ("issue", "issue_number"),
                "pull_request" => ("pullRequest", "pull_request_number"),
                other => return Err(a.bad(format!("`item_type` must be issue or pull_request, not {other:?}"))),
            };
            let item_number =
                a.opt_num(key)?.ok_or_else(|| a.bad(format!("`{key}` is required when item_type is {item_type}")))?;
            let query = format!(
                "query($owner:String!,$repo:String!,$number:Int!){{repository(owner:$owner,name:$repo){{{field}(number:$number){{id}}}}}}"
            );
            let vars = json!({"owner": item_owner, "repo": item_repo, "number": item_number});
            let data = api.graphql(&item_owner, &query, vars).await?;
            let Some(content) = data.pointer(&format!("/repository/{field}/id")).and_then(Value::as_str) else {
                return Err(Error::Precondition(format!(
                    "{item_type} {item_owner}/{item_repo}#{item_number} was not found"
                )));
            };
            let project_id = project.id(inner).await?;
            let mutation = "mutation($input:AddProjectV2ItemByIdInput!){addProjectV2ItemById(input:$input){item{id,fullDatabaseId}}}";
            let data = api
                .graphql(&owner, mutation, json!({"input": {"projectId": project_id, "contentId": content}}))
                .await?;
            let added = data.pointer("/addProjectV2ItemById/item").cloned().unwrap_or(Value::Null);
            let mut out = json!({"id": added.get("id").cloned().unwrap_or(Value::Null),
                "message": format!("Added {item_type} {item_owner}/{item_repo}#{item_number} to project {owner}/{number}")});
            if let Some(full) = added.get("fullDatabaseId").and_then(Value::as_str) {
                out["full_database_id"] = json!(full);
                if let Ok(id) = full.parse::<u64>() {
                    out["item_id"] = json!(id);
                }
            }
            out
        }
        "update_project_item" => {
            let item_id = match a.opt_num("item_id")? {
                Some(id) => id,
                None => {
                    let (Some(o), Some(r), Some(n)) =
                        (a.opt_str("item_owner")?, a.opt_str("item_repo")?, a.opt_num("issue_number")?)
                    else {
                        return Err(a.bad("give `item_id`, or `item_owner`, `item_repo` and `issue_number`".into()));
                    };
                    let project_id = project.id(inner).await?;
                    item_of_issue(inner, &project_id, &o, &r, n).await?
                }
            };
            let (field_id, value) = field_update(inner, a, &base).await?;
            let body = json!({"fields": [{"id": field_id, "value": value}]});
            item(&api.send(Method::PATCH, &format!("{base}/items/{item_id}"), Some(&body)).await?.body)
        }
        "update_project_items" => update_items(inner, a, &project, &base).await?,
        "delete_project_item" => {
            api.send(Method::DELETE, &format!("{base}/items/{}", a.num("item_id")?), None).await?;
            json!("project item successfully deleted")
        }
        "create_project_status_update" => {
            let mut input = Map::new();
            if let Some(body) = a.opt_str("body")?.filter(|b| !b.is_empty()) {
                input.insert("body".into(), json!(body));
            }
            if let Some(status) = a.opt_str("status")?.filter(|s| !s.is_empty()) {
                if !STATUSES.contains(&status.as_str()) {
                    return Err(a.bad(format!("`status` must be one of {}, not {status:?}", STATUSES.join(", "))));
                }
                input.insert("status".into(), json!(status));
            }
            for (key, name) in [("start_date", "startDate"), ("target_date", "targetDate")] {
                if let Some(date) = a.opt_str(key)?.filter(|d| !d.is_empty()) {
                    input.insert(name.into(), json!(checked_date(a, key, &date)?));
                }
            }
            input.insert("projectId".into(), json!(project.id(inner).await?));
            let mutation = format!(
                "mutation($input:CreateProjectV2StatusUpdateInput!){{createProjectV2StatusUpdate(input:$input){{\
                 statusUpdate{{{STATUS_UPDATE}}}}}}}"
            );
            let data = api.graphql(&owner, &mutation, json!({"input": input})).await?;
            status_update(inner, data.pointer("/createProjectV2StatusUpdate/statusUpdate").unwrap_or(&Value::Null))
        }
        "create_project_view" => {
            let name = a.str("name")?;
            if name.trim().is_empty() {
                return Err(a.bad("`name` must not be blank".into()));
            }
            let layout = layout(a, &a.str("layout")?)?;
            let filter = a.opt_str("filter")?;
            if layout == "ROADMAP_LAYOUT" && asks_visible_fields(a)? {
                return Err(a.bad("roadmap views take no visible fields (only [])".into()));
            }
            let mut input = json!({"projectId": project.id(inner).await?, "name": name, "layout": layout});
            if let Some(ids) = visible_fields(inner, a, &base).await? {
                input["configuration"] = json!({"visibleFieldIds": ids});
            }
            let mutation = format!(
                "mutation($input:CreateProjectV2ViewInput!){{createProjectV2View(input:$input){{projectV2View{{{VIEW}}}}}}}"
            );
            let data = api.graphql(&owner, &mutation, json!({"input": input})).await?;
            let created = data.pointer("/createProjectV2View/projectV2View").cloned().unwrap_or(Value::Null);
            let Some(id) = created.get("id").and_then(Value::as_str).map(str::to_owned) else {
                return Err(Error::Precondition("GitHub's answer did not include the new view".into()));
            };
            match filter.filter(|f| !f.is_empty()) {
                None => view(&created),
                // A new view's filter is set by changing it; a view left without it is removed.
                Some(filter) => match update_view(inner, &owner, json!({"viewId": id, "filter": filter})).await {
                    Ok(updated) => view(&updated),
                    Err(err) => {
                        let cleanup = match delete_view(inner, &owner, &id).await {
                            Ok(()) => "the new view was removed".to_owned(),
                            Err(e) => format!("removing the new view {id} failed too: {e}"),
                        };
                        return Err(Error::Precondition(format!(
                            "setting the view's filter failed ({err}); {cleanup}"
                        )));
                    }
                },
            }
        }
        "update_project_view" => {
            let id = a.str("view_id")?;
            let mut input = json!({"viewId": id});
            if let Some(name) = a.opt_str("name")? {
                if name.trim().is_empty() {
                    return Err(a.bad("`name` must not be blank".into()));
                }
                input["name"] = json!(name);
            }
            if let Some(layout_name) = a.opt_str("layout")? {
                input["layout"] = json!(layout(a, &layout_name)?);
            }
            // Null clears the filter: GitHub clears it with an empty one.
            if a.map.contains_key("filter") {
                input["filter"] = json!(a.opt_str("filter")?.unwrap_or_default());
            }
            let changes_fields = a.map.contains_key("visible_fields") || a.map.contains_key("visible_field_names");
            if input.as_object().map_or(0, Map::len) == 1 && !changes_fields {
                return Err(a.bad(
                    "update_project_view needs at least one of name, layout, filter, visible_fields or \
                     visible_field_names"
                        .into(),
                ));
            }
            let current = check_view(inner, &project, &id).await?;
            let layout = input.get("layout").and_then(Value::as_str).unwrap_or(&current).to_owned();
            if layout == "ROADMAP_LAYOUT" && asks_visible_fields(a)? {
                return Err(a.bad("roadmap views take no visible fields (only [])".into()));
            }
            if let Some(ids) = visible_fields(inner, a, &base).await? {
                input["configuration"] = json!({"visibleFieldIds": ids});
            }
            view(&update_view(inner, &owner, input).await?)
        }
        "delete_project_view" => {
            let id = a.str("view_id")?;
            check_view(inner, &project, &id).await?;
            delete_view(inner, &owner, &id).await?;
            json!({"deleted_view_id": id})
        }
        _ => iteration_field(inner, a, &project).await?,
    })
}

/// A project named by its owner and number.
struct Project<'a> {
    kind: Kind,
    owner: &'a str,
    number: u64,
}

impl Project<'_> {
    /// The project's node id.
    async fn id(&self, inner: &Inner) -> Result<String> {
        let query = format!(
            "query($owner:String!,$number:Int!){{{}(login:$owner){{projectV2(number:$number){{id}}}}}}",
            self.kind.graphql()
        );
        let data = inner.api.graphql(self.owner, &query, json!({"owner": self.owner, "number": self.number})).await?;
        let project = found_project(&data, self.kind, self.owner, self.number)?;
        Ok(project.get("id").and_then(Value::as_str).unwrap_or_default().to_owned())
    }
}

/// The project in a GraphQL answer about `owner`, or an error saying it was not found.
fn found_project<'v>(data: &'v Value, kind: Kind, owner: &str, number: u64) -> Result<&'v Value> {
    data.pointer(&format!("/{}/projectV2", kind.graphql()))
        .filter(|p| !p.is_null())
        .ok_or_else(|| Error::Precondition(format!("project {number} of {} `{owner}` was not found", kind.graphql())))
}

/// The `node` of a GraphQL answer, when it is a `typename`.
fn of_type<'v>(data: &'v Value, typename: &str) -> Option<&'v Value> {
    data.get("node").filter(|n| n.get("__typename").and_then(Value::as_str) == Some(typename))
}

fn nodes(connection: &Value) -> impl Iterator<Item = &Value> {
    connection.get("nodes").and_then(Value::as_array).into_iter().flatten().filter(|n| !n.is_null())
}

/// `layout` as GitHub's enum value.
fn layout(a: &Args<'_>, name: &str) -> Result<&'static str> {
    match name.trim().to_ascii_lowercase().as_str() {
        "table" => Ok("TABLE_LAYOUT"),
        "board" => Ok("BOARD_LAYOUT"),
        "roadmap" => Ok("ROADMAP_LAYOUT"),
        _ => Err(a.bad(format!("`layout` must be table, board or roadmap, not {name:?}"))),
    }
}

/// `date` when it is a calendar date written YYYY-MM-DD.
fn checked_date(a: &Args<'_>, key: &str, date: &str) -> Result<String> {
    let parts: Vec<&str> = date.split('-').collect();
    let valid = matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && m.len() == 2 && d.len() == 2
            && [y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
            && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&d.parse::<u32>().unwrap_or(0)));
    if valid {
        Ok(date.to_owned())
    } else {
        Err(a.bad(format!("`{key}` must be a date written YYYY-MM-DD, not {date:?}")))
    }
}

/// Every field of the project at `base` (REST objects: id, node_id, name, data_type, options).
async fn all_fields(inner: &Inner, base: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    // Projects have at most a few dozen fields; the pages are bounded all the same.
    for _ in 0..10 {
        let mut q = Query::default();
        q.push("per_page", MAX_PER_PAGE.to_string());
        q.opt("after", after.take());
        let reply = inner.api.get(&q.on(&format!("{base}/fields"))).await?;
        out.extend(reply.body.as_array().cloned().unwrap_or_default());
        match cursors(&reply.headers).0 {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// The text of a REST value that is either a string or `{raw, html}`.
fn text_of(value: &Value) -> Option<&str> {
    value.as_str().or_else(|| value.get("raw").and_then(Value::as_str))
}

/// The fields named `names` (case-insensitively), in order, or an error listing the names there are.
fn named<'f>(a: &Args<'_>, fields: &'f [Value], names: &[String], key: &str) -> Result<Vec<&'f Value>> {
    names
        .iter()
        .map(|name| {
            fields
                .iter()
                .find(|f| f.get("name").and_then(text_of).is_some_and(|n| n.eq_ignore_ascii_case(name.trim())))
                .ok_or_else(|| {
                    let known: Vec<&str> = fields.iter().filter_map(|f| f.get("name").and_then(text_of)).collect();
                    a.bad(format!("`{key}`: the project has no field named {name:?}; it has {}", known.join(", ")))
                })
        })
        .collect()
}

/// Field ids as numbers, from `key`'s strings.
fn ids_of(a: &Args<'_>, key: &str) -> Result<Option<Vec<u64>>> {
    a.opt_strings(key)?
        .map(|ids| {
            ids.iter()
                .map(|id| {
                    id.trim().parse::<u64>().map_err(|_| a.bad(format!("`{key}` must list field ids, not {id:?}")))
                })
                .collect::<Result<Vec<u64>>>()
        })
        .transpose()
}

/// `fields` or `field_names` as the comma-separated ids GitHub's item endpoints take.
async fn field_ids(inner: &Inner, a: &Args<'_>, base: &str) -> Result<Option<String>> {
    let ids = ids_of(a, "fields")?.unwrap_or_default();
    let names = a.opt_strings("field_names")?.unwrap_or_default();
    if !ids.is_empty() && !names.is_empty() {
        return Err(a.bad("give `fields` or `field_names`, not both".into()));
    }
    let ids = if names.is_empty() {
        ids
    } else {
        let fields = all_fields(inner, base).await?;
        named(a, &fields, &names, "field_names")?.iter().filter_map(|f| f.get("id").and_then(Value::as_u64)).collect()
    };
    Ok((!ids.is_empty()).then(|| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")))
}

/// Whether the call asks a view to show some fields.
fn asks_visible_fields(a: &Args<'_>) -> Result<bool> {
    Ok(ids_of(a, "visible_fields")?.is_some_and(|i| !i.is_empty())
        || a.opt_strings("visible_field_names")?.is_some_and(|n| !n.is_empty()))
}

/// The node ids of `visible_fields` or `visible_field_names`, in order; `None` when neither is given.
async fn visible_fields(inner: &Inner, a: &Args<'_>, base: &str) -> Result<Option<Vec<Value>>> {
    let ids = ids_of(a, "visible_fields")?;
    let names = a.opt_strings("visible_field_names")?;
    if ids.is_none() && names.is_none() {
        return Ok(None);
    }
    let (ids, names) = (ids.unwrap_or_default(), names.unwrap_or_default());
    if !ids.is_empty() && !names.is_empty() {
        return Err(a.bad("give `visible_fields` or `visible_field_names`, not both".into()));
    }
    if ids.is_empty() && names.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let fields = all_fields(inner, base).await?;
    let chosen: Vec<&Value> = if names.is_empty() {
        ids.iter()
            .map(|id| {
                fields
                    .iter()
                    .find(|f| f.get("id").and_then(Value::as_u64) == Some(*id))
                    .ok_or_else(|| a.bad(format!("`visible_fields`: the project has no field {id}")))
            })
            .collect::<Result<_>>()?
    } else {
        named(a, &fields, &names, "visible_field_names")?
    };
    let mut out: Vec<Value> = Vec::new();
    for field in chosen {
        let id = field.get("node_id").cloned().unwrap_or(Value::Null);
        if out.contains(&id) {
            let name = field.get("name").and_then(text_of).unwrap_or("?");
            return Err(a.bad(format!("field {name:?} is named more than once")));
        }
        out.push(id);
    }
    Ok(Some(out))
}

/// `updated_field` as a field id and the value to send: a field named by the caller found by
/// name, and a single-select option named by the caller turned into its id.
async fn field_update(inner: &Inner, a: &Args<'_>, base: &str) -> Result<(u64, Value)> {
    let shape = "`updated_field` must be {\"id\": 123, \"value\": ...} or {\"name\": \"Status\", \"value\": ...}";
    let Some(Value::Object(spec)) = a.map.get("updated_field") else { return Err(a.bad(shape.into())) };
    let Some(value) = spec.get("value").cloned() else {
        return Err(a.bad("`updated_field.value` is required (null clears the field)".into()));
    };
    match (spec.get("id"), spec.get("name")) {
        (Some(id), None) => {
            let id = id.as_u64().ok_or_else(|| a.bad(format!("`updated_field.id` must be a field id, not {id}")))?;
            Ok((id, value))
        }
        (None, Some(Value::String(name))) if !name.trim().is_empty() => {
            let fields = all_fields(inner, base).await?;
            let field = named(a, &fields, std::slice::from_ref(name), "updated_field.name")?[0];
            let id = field.get("id").and_then(Value::as_u64).unwrap_or_default();
            let single_select =
                field.get("data_type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("single_select"));
            let (true, Some(wanted)) = (single_select, value.as_str()) else { return Ok((id, value)) };
            let options: Vec<&Value> = field.get("options").and_then(Value::as_array).into_iter().flatten().collect();
            if let Some(option) =
                options.iter().find(|o| o.get("name").and_then(text_of).is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
            {
                return Ok((id, option.get("id").cloned().unwrap_or(Value::Null)));
            }
            if options.iter().any(|o| o.get("id").and_then(Value::as_str) == Some(wanted)) {
                return Ok((id, value));
            }
            let known: Vec<&str> = options.iter().filter_map(|o| o.get("name").and_then(text_of)).collect();
            Err(a.bad(format!("field {name:?} has no option {wanted:?}; its options are {}", known.join(", "))))
        }
        _ => Err(a.bad(shape.into())),
    }
}

/// The id of the item of issue `owner/repo#number` in the project `project_id`.
async fn item_of_issue(inner: &Inner, project_id: &str, owner: &str, repo: &str, number: u64) -> Result<u64> {
    let query = "query($owner:String!,$repo:String!,$number:Int!){repository(owner:$owner,name:$repo){\
        issue(number:$number){projectItems(first:50,includeArchived:true){nodes{id,fullDatabaseId,project{id}}}}}}";
    let data = inner.api.graphql(owner, query, json!({"owner": owner, "repo": repo, "number": number})).await?;
    let items = data.pointer("/repository/issue/projectItems").cloned().unwrap_or(Value::Null);
    nodes(&items)
        .find(|n| n.pointer("/project/id").and_then(Value::as_str) == Some(project_id))
        .and_then(|n| n.get("fullDatabaseId").and_then(Value::as_str)?.parse().ok())
        .ok_or_else(|| Error::Precondition(format!("issue {owner}/{repo}#{number} is not an item of this project")))
}

/// `update_project_items`: one field set on up to 50 items, each reported on its own.
async fn update_items(inner: &Inner, a: &Args<'_>, project: &Project<'_>, base: &str) -> Result<Value> {
    let Some(Value::Array(entries)) = a.map.get("items") else {
        return Err(a.bad(
            "`items` is required: a list of {node_id}, {item_id} or {item_owner, item_repo, issue_number}".into(),
        ));
    };
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Err(a.bad(format!("`items` must list 1 to {MAX_BATCH} items, not {}", entries.len())));
    }
    let (field_id, value) = field_update(inner, a, base).await?;
    let mut project_id = None;
    let mut results = Vec::new();
    let mut succeeded = 0;
    for (index, entry) in entries.iter().enumerate() {
        let outcome = async {
            let item_id = match entry_ref(entry)? {
                ItemRef::Id(id) => id,
                other => {
                    if project_id.is_none() {
                        project_id = Some(project.id(inner).await?);
                    }
                    let project_id = project_id.as_deref().unwrap_or_default();
                    match other {
                        ItemRef::Node(node) => item_of_node(inner, project.owner, project_id, &node).await?,
                        ItemRef::Issue(o, r, n) => item_of_issue(inner, project_id, &o, &r, n).await?,
                        ItemRef::Id(id) => id,
                    }
                }
            };
            let body = json!({"fields": [{"id": field_id, "value": value}]});
            inner.api.send(Method::PATCH, &format!("{base}/items/{item_id}"), Some(&body)).await?;
            Ok::<u64, Error>(item_id)
        }
        .await;
        results.push(match outcome {
            Ok(item_id) => {
                succeeded += 1;
                json!({"index": index, "status": "succeeded", "item": {"item_id": item_id}})
            }
            Err(err) => json!({"index": index, "status": "failed", "ref": entry,
                               "error": {"message": inner.api.mask(err.to_string())}}),
        });
    }
    let out = json!({"total": results.len(), "succeeded": succeeded, "failed": results.len() - succeeded, "results": results});
    if succeeded == 0 {
        return Err(Error::Precondition(format!("no item was updated: {out}")));
    }
    Ok(out)
}

enum ItemRef {
    Node(String),
    Id(u64),
    Issue(String, String, u64),
}

/// One entry of `items`: exactly one of the three ways to name an item.
fn entry_ref(entry: &Value) -> Result<ItemRef> {
    let bad = |message: &str| Error::BadArgument { tool: "projects_write".into(), message: message.to_owned() };
    let Some(map) = entry.as_object() else { return Err(bad("each of `items` must be an object")) };
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    let found = match keys.as_slice() {
        ["node_id"] => map["node_id"].as_str().filter(|s| !s.is_empty()).map(|s| ItemRef::Node(s.to_owned())),
        ["item_id"] => map["item_id"].as_u64().map(ItemRef::Id),
        _ if keys.len() == 3 => match (
            map.get("item_owner").and_then(Value::as_str),
            map.get("item_repo").and_then(Value::as_str),
            map.get("issue_number").and_then(Value::as_u64),
        ) {
            (Some(o), Some(r), Some(n)) => Some(ItemRef::Issue(o.to_owned(), r.to_owned(), n)),
            _ => None,
        },
        _ => None,
    };
    found.ok_or_else(|| {
        bad("an item is {\"node_id\": ...}, {\"item_id\": 123} or {\"item_owner\", \"item_repo\", \"issue_number\"}")
    })
}

/// The id of the item with node id `node`, when it is an item of the project `project_id`.
async fn item_of_node(inner: &Inner, owner: &str, project_id: &str, node: &str) -> Result<u64> {
    let query = "query($id:ID!){node(id:$id){__typename,...on ProjectV2Item{id,fullDatabaseId,project{id}}}}";
    let data = inner.api.graphql(owner, query, json!({"id": node})).await?;
    let item = of_type(&data, "ProjectV2Item").cloned().unwrap_or(Value::Null);
    if item.pointer("/project/id").and_then(Value::as_str) != Some(project_id) {
        return Err(Error::Precondition(format!("`{node}` is not an item of this project")));
    }
    item.get("fullDatabaseId")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Error::Precondition(format!("GitHub gave no item id for `{node}`")))
}

/// The layout of view `id`, when it is a view of `project`.
async fn check_view(inner: &Inner, project: &Project<'_>, id: &str) -> Result<String> {
    let project_id = project.id(inner).await?;
    let query = "query($id:ID!){node(id:$id){__typename,...on ProjectV2View{id,layout,project{id}}}}";
    let data = inner.api.graphql(project.owner, query, json!({"id": id})).await?;
    let Some(node) = of_type(&data, "ProjectV2View") else {
        return Err(Error::Precondition(format!("`{id}` is not a project view, or it was not found")));
    };
    if node.pointer("/project/id").and_then(Value::as_str) != Some(project_id.as_str()) {
        return Err(Error::Precondition(format!(
            "view `{id}` is not a view of project {} of `{}`",
            project.number, project.owner
        )));
    }
    Ok(node.get("layout").and_then(Value::as_str).unwrap_or_default().to_owned())
}

async fn update_view(inner: &Inner, owner: &str, input: Value) -> Result<Value> {
    let mutation = format!(
        "mutation($input:UpdateProjectV2ViewInput!){{updateProjectV2View(input:$input){{projectV2View{{{VIEW}}}}}}}"
    );
    let data = inner.api.graphql(owner, &mutation, json!({"input": input})).await?;
    data.pointer("/updateProjectV2View/projectV2View")
        .filter(|v| v.get("id").is_some_and(|i| !i.is_null()))
        .cloned()
        .ok_or_else(|| Error::Precondition("GitHub's answer did not include the view".into()))
}

async fn delete_view(inner: &Inner, owner: &str, id: &str) -> Result<()> {
    let mutation = "mutation($input:DeleteProjectV2ViewInput!){deleteProjectV2View(input:$input){projectV2View{id}}}";
    let data = inner.api.graphql(owner, mutation, json!({"input": {"viewId": id}})).await?;
    match data.pointer("/deleteProjectV2View/projectV2View/id") {
        Some(Value::String(_)) => Ok(()),
        _ => Err(Error::Precondition("GitHub's answer did not include the deleted view".into())),
    }
}

/// `create_iteration_field`: the field made, then its iterations configured.
async fn iteration_field(inner: &Inner, a: &Args<'_>, project: &Project<'_>) -> Result<Value> {
    let name = a.str("field_name")?;
    let duration = a.num("iteration_duration")?;
    if duration == 0 {
        return Err(a.bad("`iteration_duration` must be at least 1 day".into()));
    }
    let start = checked_date(a, "start_date", &a.str("start_date")?)?;
    let mut iterations = Vec::new();
    for (i, entry) in a.map.get("iterations").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let title = entry.get("title").and_then(Value::as_str).filter(|t| !t.is_empty());
        let start = entry.get("start_date").and_then(Value::as_str);
        let days = entry.get("duration").and_then(Value::as_u64).filter(|d| *d > 0);
        let (Some(title), Some(start), Some(days)) = (title, start, days) else {
            return Err(
                a.bad(format!("`iterations[{i}]` needs a title, a start_date and a duration of at least 1 day"))
            );
        };
        let start = checked_date(a, &format!("iterations[{i}].start_date"), start)?;
        iterations.push(json!({"title": title, "startDate": start, "duration": days}));
    }
    let project_id = project.id(inner).await?;
    let create = "mutation($input:CreateProjectV2FieldInput!){createProjectV2Field(input:$input){projectV2Field{\
        ...on ProjectV2IterationField{id,name}}}}";
    let input = json!({"projectId": project_id, "dataType": "ITERATION", "name": name});
    let data = inner.api.graphql(project.owner, create, json!({"input": input})).await?;
    let Some(field_id) = data.pointer("/createProjectV2Field/projectV2Field/id").and_then(Value::as_str) else {
        return Err(Error::Precondition("GitHub's answer did not include the new field".into()));
    };
    let configure = "mutation($input:UpdateProjectV2FieldInput!){updateProjectV2Field(input:$input){projectV2Field{\
        ...on ProjectV2IterationField{id,name,configuration{iterations{id,title,startDate,duration}}}}}}";
    let input = json!({"fieldId": field_id,
                       "iterationConfiguration": {"duration": duration, "startDate": start, "iterations": iterations}});
    let data = inner.api.graphql(project.owner, configure, json!({"input": input})).await.map_err(|e| {
        Error::Precondition(format!(
            "the iteration field {name:?} ({field_id}) was made, but configuring its iterations failed: {e}"
        ))
    })?;
    let field = data.pointer("/updateProjectV2Field/projectV2Field").cloned().unwrap_or(Value::Null);
    let iterations: Vec<Value> = field
        .pointer("/configuration/iterations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| json!({"id": i.get("id"), "title": i.get("title"), "start_date": i.get("startDate"), "duration": i.get("duration")}))
        .collect();
    Ok(json!({"id": field.get("id"), "name": field.get("name"), "configuration": {"iterations": iterations}}))
}

trait WithKind {
    fn with_kind(self, kind: Kind) -> Self;
}

impl WithKind for Map<String, Value> {
    fn with_kind(mut self, kind: Kind) -> Self {
        self.insert("owner_type".into(), json!(kind.name()));
        self
    }
}

/// A project's essentials; its description marked as its creator's text.
fn project(inner: &Inner, p: &Value) -> Map<String, Value> {
    let mut out = pick(
        p,
        &[
            "id",
            "node_id",
            "number",
            "title",
            "short_description",
            "public",
            "closed_at",
            "created_at",
            "updated_at",
            "deleted_at",
        ],
    );
    for key in ["owner", "creator", "deleted_by"] {
        if let Some(who) = p.get(key).filter(|w| w.is_object()) {
            out.insert(key.into(), Value::Object(user(who)));
        }
    }
    if let Some(text) = p.get("description").filter(|d| !d.is_null()) {
        let probe = json!({"description": text, "user": {"login": p.pointer("/creator/login")}});
        out.insert("description".into(), inner.mark(&probe, "description"));
    }
    out
}

/// A project item's essentials: its content (issue, pull request or draft) and the field
/// values asked for, each value as text where GitHub gives it as `{raw, html}`.
fn item(i: &Value) -> Value {
    let mut out = pick(i, &["id", "node_id", "content_type", "archived_at", "created_at", "updated_at"]);
    if let Some(login) = i.pointer("/creator/login") {
        out.insert("creator".into(), login.clone());
    }
    if let Some(c) = i.get("content").filter(|c| c.is_object()) {
        let mut content = pick(
            c,
            &[
                "id",
                "node_id",
                "number",
                "title",
                "state",
                "state_reason",
                "html_url",
                "comments",
                "draft",
                "merged",
                "created_at",
                "updated_at",
                "closed_at",
                "merged_at",
            ],
        );
        content.retain(|_, v| !v.is_null());
        if let Some(repo) = c.get("repository_url").and_then(Value::as_str).and_then(|u| u.split("/repos/").nth(1)) {
            content.insert("repository".into(), json!(repo));
        }
        if let Some(login) = c.pointer("/user/login") {
            content.insert("author".into(), login.clone());
        }
        let names = |key: &str, field: &str| -> Vec<Value> {
            c.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.get(field).cloned()).collect()
        };
        for (key, field) in [("assignees", "login"), ("labels", "name")] {
            let list = names(key, field);
            if !list.is_empty() {
                content.insert(key.into(), Value::Array(list));
            }
        }
        if let Some(title) = c.pointer("/milestone/title") {
            content.insert("milestone".into(), title.clone());
        }
        out.insert("content".into(), Value::Object(content));
    }
    let fields: Vec<Value> = i
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let mut field = pick(f, &["id", "name", "data_type"]);
            field.insert("value".into(), field_value(f.get("value").unwrap_or(&Value::Null)));
            Value::Object(field)
        })
        .collect();
    if !fields.is_empty() {
        out.insert("fields".into(), Value::Array(fields));
    }
    Value::Object(out)
}

/// A field value as a model reads it: an option's or an iteration's name, text for `{raw, html}`.
fn field_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(name) = map.get("name").and_then(text_of) {
                return json!(name);
            }
            if let Some(title) = map.get("title").and_then(text_of) {
                let mut out = pick(value, &["id", "start_date", "duration"]);
                out.insert("title".into(), json!(title));
                return Value::Object(out);
            }
            if let Some(raw) = map.get("raw").and_then(Value::as_str) {
                return json!(raw);
            }
            value.clone()
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| v.get("login").or_else(|| v.get("name")).cloned().unwrap_or_else(|| field_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A status update's essentials; its body marked as its author's text.
fn status_update(inner: &Inner, n: &Value) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), n.get("id").cloned().unwrap_or(json!("")));
    let login = n.pointer("/creator/login").cloned().unwrap_or(Value::Null);
    if n.get("body").and_then(Value::as_str).is_some_and(|b| !b.is_empty()) {
        let probe = json!({"body": n["body"], "user": {"login": login}});
        out.insert("body".into(), inner.mark(&probe, "body"));
    }
    for (key, name) in
        [("status", "status"), ("created_at", "createdAt"), ("start_date", "startDate"), ("target_date", "targetDate")]
    {
        if let Some(v) = n.get(name).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            out.insert(key.into(), v.clone());
        }
    }
    if login.is_string() {
        out.insert("creator".into(), json!({"login": login}));
    }
    Value::Object(out)
}

/// A view's essentials: its layout as table, board or roadmap, its visible fields' ids.
fn view(v: &Value) -> Value {
    let layout = v.get("layout").and_then(Value::as_str).unwrap_or("");
    let visible: Vec<Value> = v
        .pointer("/configuration/visibleFields")
        .map(nodes)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("databaseId").cloned())
        .collect();
    json!({"id": v.get("id").cloned().unwrap_or(json!("")), "number": v.get("number").cloned().unwrap_or(json!(0)),
           "name": v.get("name").cloned().unwrap_or(json!("")),
           "layout": layout.trim_end_matches("_LAYOUT").to_ascii_lowercase(),
           "filter": v.get("filter").and_then(Value::as_str).unwrap_or(""), "visible_fields": visible})
}
